"""The PRISM protocol as a UI-independent engine: one participant's way through a study.

A :class:`ProtocolSession` is a state machine over :class:`Step`::

    consent -> survey (one step per page) -> [screened_out]
            -> start_conversation -> generating -> rate -> continue -> (follow-up: generating -> rate -> continue)*
            -> feedback -> start_conversation ... -> complete

Everything a participant has done lives in :attr:`ProtocolSession.state` (a pydantic
:class:`ProtocolState`, plain JSON), so a session can be saved after every action and resumed
later, by the web app (state in the store) or by a script (``session.state.model_dump_json()``).
The engine never touches a database or a web framework; it calls models through
:mod:`pluralis.llm` and produces PRISM records (:meth:`ProtocolSession.records`).

The protocol follows PRISM (spec §1): the opening turn queries ``opening_models`` models (4 of the pool,
at random), concurrently, with a per-call timeout; a model that fails or times out is dropped, not
resampled, and the failure is recorded. Responses are rated on a 1-100 visual analogue scale; the
highest-rated opening response's model is locked in (random tie-break). Later turns ask the locked model
for ``later_samples`` (2) samples at a non-zero temperature; the higher-rated one (random tie-break) is
``if_chosen`` and continues the conversation history. With ``sampling.mode = "nc"`` the candidates
are negatively-correlated samples from one model (Community Alignment).

Simulated participants (personas) use the same engine with ``source="simulated"``.

Example
-------
>>> import asyncio
>>> from pluralis.collect.config import StudyConfig
>>> from pluralis.llm import ChatResult, ModelSpec
>>> class Echo:                                   # any pluralis.llm ChatBackend works
...     def __init__(self, name): self.spec = ModelSpec(name=name)
...     async def chat(self, messages, *, params=None, timeout=None):
...         return ChatResult(text="You said: " + messages[-1]["content"], model=self.spec.name, latency_s=0.0)
...     async def aclose(self): pass
>>> cfg = StudyConfig()
>>> s = ProtocolSession(cfg, models={n: Echo(n) for n in cfg.model_names()}, seed=1)
>>> s.consent()
>>> s.submit_survey(example_survey_answers())
>>> responses = asyncio.run(s.opening_turn("unguided", "Hello there"))
>>> len(responses), s.step
(4, <Step.RATE: 'rate'>)
>>> s.rate({r.id: 10 * (i + 1) for i, r in enumerate(responses)})
>>> samples = asyncio.run(s.follow_up("Tell me more"))
>>> s.rate([70, 40])
>>> conv = s.finish({"helpfulness": 80}, {"helpfulness": 90}, "Good answers, a bit short.")
>>> conv.conversation_turns, s.step
(2, <Step.START: 'start_conversation'>)
>>> study = s.records()
>>> study.validate(); study.counts()["utterances"]
6
"""

from __future__ import annotations

import asyncio
import hashlib
import random
import secrets
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, Field

from pluralis.collect.config import StudyConfig, SurveySection
from pluralis.collect.questions import BUILTIN_QUESTIONS, clean_text
from pluralis.collect.quotas import QuotaPlan
from pluralis.data import vocab
from pluralis.data.model import Conversation, Participant, Utterance
from pluralis.data.study import Study
from pluralis.errors import PluralisError

DATETIME_FORMAT = "%Y-%m-%d %H:%M:%S"


#: What a participant is told when a form has problems (the fields say which).
CHECK_FIELDS = "Please check the answers marked below."
#: What a participant is told about a problem that is not theirs to fix.
TRY_AGAIN = "Something went wrong on our side. Please try again in a moment."


class ProtocolError(PluralisError):
    """An action that the protocol does not allow now, or answers that are invalid.

    Two audiences: ``str(error)`` is for developers and logs (it names steps, ids and fields);
    :attr:`participant_message` is what a participant may be shown (plain words, no internals), and
    ``errors`` maps a form field (question id, ``"score_3"``, ``"opening_prompt"``, ...) to a message for the
    participant, shown next to that field.

    Parameters
    ----------
    message
        The developer message.
    errors
        Participant-facing messages by form field.
    participant_message
        The participant-facing summary (default: :data:`CHECK_FIELDS` when ``errors`` are given, else
        :data:`TRY_AGAIN`).

    Example
    -------
    >>> e = ProtocolError("invalid answers", errors={"age": "choose an answer"})
    >>> e.errors, e.participant_message
    ({'age': 'choose an answer'}, 'Please check the answers marked below.')
    >>> str(e)
    'invalid answers (age: choose an answer)'
    """

    def __init__(self, message: str, *, errors: dict[str, str] | None = None, participant_message: str | None = None):
        self.errors = dict(errors or {})
        self.participant_message = participant_message or (CHECK_FIELDS if self.errors else TRY_AGAIN)
        detail = "; ".join(f"{k}: {v}" for k, v in self.errors.items())
        super().__init__(f"{message} ({detail})" if detail else message)


class WrongStep(ProtocolError):
    """An action for another step than the participant's (a form sent twice, the back button, two tabs).

    Nothing is wrong with the participant's answers: show the current step again, with
    :attr:`participant_message` as a notice. ``step`` is where the participant is, ``expected`` the steps the
    action needs.

    Example
    -------
    >>> e = WrongStep(Step.CONTINUE, (Step.RATE,))
    >>> str(e)
    "cannot do that now: the participant is at step 'continue', not rate"
    >>> e.participant_message
    'That page had already been sent, so we have taken you to where you are now in the study.'
    """

    def __init__(self, step: Step, expected: Sequence[Step], detail: str | None = None):
        self.step = step
        self.expected = tuple(expected)
        want = " or ".join(s.value for s in self.expected)
        super().__init__(
            detail or f"cannot do that now: the participant is at step {step.value!r}, not {want}",
            participant_message=ALREADY_SENT,
        )


#: What a participant is told when a page was sent twice or is out of date.
ALREADY_SENT = "That page had already been sent, so we have taken you to where you are now in the study."


class StaleResult(ProtocolError):
    """Model results arrived for a turn that is no longer pending (another request applied them first)."""


class Step(StrEnum):
    """Where a participant is in the study."""

    CONSENT = "consent"
    SURVEY = "survey"
    START = "start_conversation"
    GENERATING = "generating"
    RATE = "rate"
    CONTINUE = "continue"
    FEEDBACK = "feedback"
    COMPLETE = "complete"
    SCREENED_OUT = "screened_out"


# --- state ---------------------------------------------------------------------------------------


class CandidateResponse(BaseModel):
    """A model response shown for rating. ``id`` is its ``within_turn_id``."""

    id: int
    model_name: str
    model_provider: str
    text: str
    latency_s: float = 0.0
    score: int | None = None
    if_chosen: bool = False
    method: str | None = None
    usage: dict[str, Any] | None = None


class TurnState(BaseModel):
    """One turn: the participant's message, the models asked, the responses and their ratings."""

    turn: int
    prompt: str
    requested: list[str]
    responses: list[CandidateResponse] = Field(default_factory=list)
    display_order: list[int] = Field(default_factory=list)
    generated: bool = False
    rated: bool = False
    rated_at: str | None = None
    latency_s: float | None = None
    model_time_s: float | None = None


class ConversationState(BaseModel):
    """The conversation in progress."""

    conversation_id: str
    conversation_type: str
    started_at: float
    ended_at: float | None = None
    generated_datetime: str | None = None
    locked_model: str | None = None
    locked_provider: str | None = None
    nc_model: str | None = None
    turns: list[TurnState] = Field(default_factory=list)

    @property
    def opening_prompt(self) -> str:
        return self.turns[0].prompt if self.turns else ""


class FailureRecord(BaseModel):
    """A model call that failed or timed out and was dropped (kept for the store's failure table)."""

    conversation_id: str
    turn: int
    model_name: str
    model_provider: str = "local"
    kind: str
    message: str
    latency_s: float
    status_code: int | None = None
    at: float


class ProtocolState(BaseModel):
    """Everything about one participant's progress; JSON-serialisable, versioned by ``revision``."""

    format: int = 1
    study_id: str
    user_id: str
    source: Literal["human", "simulated"] = "human"
    persona: dict[str, Any] | None = None
    seed: int
    rng_counter: int = 0
    step: Step = Step.CONSENT
    revision: int = 0
    started_at: float
    consented_at: float | None = None
    survey_section: str | None = None
    survey: dict[str, Any] = Field(default_factory=dict)
    sections_done: list[str] = Field(default_factory=list)
    item_orders: dict[str, list[str]] = Field(default_factory=dict)
    survey_done_at: float | None = None
    quota_cell: str | None = None
    participant: dict[str, Any] | None = None
    conversation_counter: int = 0
    current: ConversationState | None = None
    completed: list[dict[str, Any]] = Field(default_factory=list)
    failures: list[FailureRecord] = Field(default_factory=list)
    last_error: str | None = None
    completion_code: str | None = None
    completed_at: float | None = None


# --- views (what to show now) --------------------------------------------------------------------


class ResponseView(BaseModel):
    """A response as shown to a participant: no model name (ratings are blind)."""

    id: int
    position: int
    text: str
    score: int | None = None
    chosen: bool = False


class HistoryTurn(BaseModel):
    """A finished turn of the conversation in progress: the message and the response that continued it."""

    turn: int
    prompt: str
    response: str


class TypeOption(BaseModel):
    """A conversation type the participant may choose, with how many of it remain."""

    name: str
    label: str
    instruction: str
    remaining: int
    available: bool


class StepView(BaseModel):
    """What the participant should see now (templates and simulated participants both read this)."""

    step: Step
    user_id: str
    conversation_number: int
    conversations_total: int
    conversations_done: int
    section: str | None = None
    section_index: int | None = None
    sections_total: int | None = None
    item_orders: dict[str, list[str]] = Field(default_factory=dict)
    types: list[TypeOption] = Field(default_factory=list)
    conversation_id: str | None = None
    conversation_type: str | None = None
    turn: int | None = None
    turns_done: int = 0
    prompt: str | None = None
    history: list[HistoryTurn] = Field(default_factory=list)
    responses: list[ResponseView] = Field(default_factory=list)
    can_follow_up: bool = False
    can_finish: bool = False
    min_turns: int = 2
    max_turns: int = 10
    completion_code: str | None = None
    #: ``complete`` / ``screened_out``: where to send the participant (the study's redirect, ``{code}`` filled in).
    redirect_url: str | None = None
    error: str | None = None


# --- model calls ---------------------------------------------------------------------------------


class ModelCall(BaseModel):
    """The model call a pending turn needs (computed from the state; run it with :func:`run_model_call`)."""

    kind: Literal["set", "samples", "nc"]
    conversation_id: str
    turn: int
    models: list[str]
    messages: list[dict[str, str]]
    n: int = 1
    temperature: float | None = None
    timeout: float
    nc_method: Literal["auto", "single_call", "sequential"] = "auto"
    nc_response_format: str | None = None


class GeneratedResponse(BaseModel):
    """One response that came back from a model call."""

    model_name: str
    model_provider: str
    text: str
    latency_s: float
    method: str | None = None
    usage: dict[str, Any] | None = None


class CallResult(BaseModel):
    """What :func:`run_model_call` returns: responses in request order, failures, and timing.

    ``latency_s`` is the wall time of the whole (concurrent) call; the app reports it as model time.
    """

    conversation_id: str
    turn: int
    responses: list[GeneratedResponse] = Field(default_factory=list)
    failures: list[dict[str, Any]] = Field(default_factory=list)
    latency_s: float = 0.0


def _normalise_text(text: str | None) -> str:
    """PRISM's text rule: empty / "None" becomes ``EMPTY STRING``, otherwise stripped."""
    if text is None:
        return vocab.EMPTY_STRING
    t = clean_text(text).strip()
    return vocab.EMPTY_STRING if not t or t == "None" else t


async def run_model_call(
    call: ModelCall, models: Mapping[str, Any], *, limiter: asyncio.Semaphore | None = None
) -> CallResult:
    """Run a :class:`ModelCall` against ``models`` (name -> :class:`pluralis.llm.ModelSpec` or ChatBackend).

    ``set`` calls every model concurrently (:func:`pluralis.llm.generate_response_set`, so the turn
    takes as long as the slowest model, not the sum), ``samples`` asks one model for ``n`` samples
    (:func:`pluralis.llm.generate_samples`), ``nc`` draws ``n`` negatively-correlated candidates
    (:func:`pluralis.llm.nc_sample`). Failures never raise: they come back in ``failures``.
    ``limiter`` bounds model calls in flight across participants.

    Parameters
    ----------
    call : ModelCall
        The call the protocol asks for (kind, models, messages, ``n``, timeout).
    models : mapping of str to ModelSpec or ChatBackend
        The study's models by name; every model named in ``call`` must be there.
    limiter : asyncio.Semaphore, optional
        Shared bound on concurrent model calls; ``None`` for no bound.

    Returns
    -------
    CallResult
        The responses, failures and latency of the call.

    Example
    -------
    >>> import asyncio
    >>> from pluralis.llm import ModelSpec
    >>> call = ModelCall(kind="set", conversation_id="c", turn=0, models=["m"], timeout=2,
    ...                  messages=[{"role": "user", "content": "Hi"}])
    >>> res = asyncio.run(run_model_call(call, {"m": ModelSpec(name="m", base_url="http://127.0.0.1:9/v1", max_retries=0)}))
    >>> len(res.responses), res.failures[0]["kind"]
    (0, 'http_error')
    """
    from pluralis.llm import generate_response_set, generate_samples, nc_sample

    missing = [m for m in call.models if m not in models]
    if missing:
        raise ProtocolError(
            f"no backend for model(s) {', '.join(sorted(set(missing)))}",
            participant_message="The study is having a technical problem. Please try again in a few minutes.",
        )

    async def go() -> CallResult:
        start = time.perf_counter()
        out = CallResult(conversation_id=call.conversation_id, turn=call.turn)
        if call.kind == "nc":
            res = await nc_sample(
                models[call.models[0]],
                call.messages,
                k=call.n,
                method=call.nc_method,
                params={"temperature": call.temperature} if call.temperature else None,
                timeout=call.timeout,
                response_format=call.nc_response_format,
            )
            for c in res.candidates:
                out.responses.append(
                    GeneratedResponse(
                        model_name=c.model,
                        model_provider=c.provider,
                        text=c.text,
                        latency_s=c.latency_s,
                        method=c.method,
                        usage=c.usage.model_dump(),
                    )
                )
            out.failures = [f.model_dump() for f in res.failures]
        else:
            if call.kind == "set":
                rs = await generate_response_set([models[m] for m in call.models], call.messages, timeout=call.timeout)
            else:
                rs = await generate_samples(
                    models[call.models[0]], call.messages, n=call.n, temperature=call.temperature, timeout=call.timeout
                )
            for r in rs.responses:
                out.responses.append(
                    GeneratedResponse(
                        model_name=r.model,
                        model_provider=r.provider,
                        text=r.text,
                        latency_s=r.latency_s,
                        usage=r.usage.model_dump(),
                    )
                )
            out.failures = [f.model_dump() for f in rs.failures]
        out.latency_s = time.perf_counter() - start
        return out

    if limiter is None:
        return await go()
    async with limiter:
        return await go()


# --- helpers ---------------------------------------------------------------------------------------


def _fmt_time(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime(DATETIME_FORMAT)


def new_user_id() -> str:
    """A fresh pseudonymous participant id (``"u"`` + 16 hex digits).

    Example
    -------
    >>> len(new_user_id()), new_user_id()[0]
    (17, 'u')
    """
    return "u" + secrets.token_hex(8)


def example_survey_answers() -> dict[str, Any]:
    """A complete, valid set of answers to the default PRISM survey (for tests, demos and personas).

    Example
    -------
    >>> example_survey_answers()["age"]
    '25-34 years old'
    """
    return {
        "lm_familiarity": "Somewhat familiar",
        "lm_indirect_use": "Yes",
        "lm_direct_use": "Yes",
        "lm_frequency_use": "Every week",
        "lm_usecases": {"selected": ["research", "creative_writing"], "other_text": None},
        "stated_prefs": {
            "values": 60,
            "creativity": 70,
            "fluency": 85,
            "factuality": 90,
            "diversity": 75,
            "safety": 80,
            "helpfulness": 90,
            "personalisation": 60,
        },
        "system_string": "Be honest, kind and concise. Admit when you do not know something.",
        "self_description": "I value honesty, family and learning new things every day.",
        "age": "25-34 years old",
        "gender": "Female",
        "employment_status": "Working full-time",
        "education": "University Bachelors Degree",
        "marital_status": "Never been married",
        "english_proficiency": "Native speaker",
        "birth_country": "United Kingdom",
        "reside_country": "United Kingdom",
        "ethnicity": {"category": "White", "self_described": "white british"},
        "religion": {"category": "Non-religious", "self_described": None},
    }


def special_region(iso: str | None, subregion: str | None, region: str | None) -> str | None:
    """PRISM's ``special_region`` from the birth country (spec §2.1 rule, applied in order).

    Parameters
    ----------
    iso : str or None
        ISO 3166-1 alpha-3 code of the birth country.
    subregion : str or None
        The country's UN subregion.
    region : str or None
        The country's UN region.

    Returns
    -------
    str or None
        One of PRISM's special regions, or ``None`` when none applies or the country is unknown.

    Example
    -------
    >>> special_region("USA", "Northern America", "Americas"), special_region("ISR", "Western Asia", "Asia")
    ('US', 'Middle East')
    """
    if iso is None:
        return None
    if iso == "USA":
        return "US"
    if iso == "GBR":
        return "UK"
    if iso == "MEX" or subregion == "Latin America and the Caribbean":
        return "Latin America and the Caribbean"
    if subregion == "Northern America":
        return "Northern America"
    if subregion == "Western Asia":
        return "Middle East"
    if subregion == "Australia and New Zealand":
        return "Australia and New Zealand"
    return region if region in vocab.SPECIAL_REGIONS else None


# --- the session ------------------------------------------------------------------------------------

_PLANS: dict[str, QuotaPlan] = {}


def _quota_plan(config: StudyConfig) -> QuotaPlan:
    key = config.quotas.model_dump_json()
    plan = _PLANS.get(key)
    if plan is None:
        plan = _PLANS[key] = QuotaPlan(config.quotas)
    return plan


class ProtocolSession:
    """One participant going through a study (see the module docs for the steps).

    ``models`` maps model name -> :class:`pluralis.llm.ModelSpec` or a ChatBackend (default: the study's
    specs). ``quota_gate(cell) -> bool`` admits a participant to conversations (default: always);
    the web app counts cells in the store, :class:`pluralis.collect.quotas.QuotaTracker` counts in memory.
    ``clock`` returns epoch seconds (inject one for deterministic tests).

    Example
    -------
    >>> from pluralis.collect.config import StudyConfig
    >>> s = ProtocolSession(StudyConfig(), user_id="user0", seed=0)
    >>> s.step, s.view().step
    (<Step.CONSENT: 'consent'>, <Step.CONSENT: 'consent'>)
    """

    def __init__(
        self,
        config: StudyConfig,
        *,
        state: ProtocolState | None = None,
        user_id: str | None = None,
        source: Literal["human", "simulated"] | None = None,
        persona: dict[str, Any] | None = None,
        seed: int | None = None,
        models: Mapping[str, Any] | None = None,
        quota_gate: Callable[[str | None], bool] | None = None,
        clock: Callable[[], float] = time.time,
        limiter: asyncio.Semaphore | None = None,
    ):
        self.config = config
        self.clock = clock
        self.models: Mapping[str, Any] = models if models is not None else config.model_specs()
        self.quota_gate = quota_gate
        self.quota_plan = _quota_plan(config)
        self.limiter = limiter
        if state is None:
            if seed is None:
                seed = config.sampling.seed if config.sampling.seed is not None else secrets.randbits(48)
                if config.sampling.seed is not None:
                    digest = hashlib.sha256(f"{seed}:{user_id}".encode()).digest()
                    seed = int.from_bytes(digest[:6], "big")
            state = ProtocolState(
                study_id=config.study.id,
                user_id=user_id or new_user_id(),
                source=source or config.study.source,
                persona=persona,
                seed=seed,
                started_at=clock(),
            )
        self.state = state

    # -- persistence -----------------------------------------------------------------------------

    @classmethod
    def from_json(cls, config: StudyConfig, data: str | bytes | dict, **kwargs: Any) -> ProtocolSession:
        """Resume a session saved with :meth:`to_json`.

        Example
        -------
        >>> from pluralis.collect.config import StudyConfig
        >>> cfg = StudyConfig()
        >>> s = ProtocolSession(cfg, seed=3); s.consent()
        >>> ProtocolSession.from_json(cfg, s.to_json()).step
        <Step.SURVEY: 'survey'>
        """
        state = (
            ProtocolState.model_validate(data) if isinstance(data, dict) else ProtocolState.model_validate_json(data)
        )
        return cls(config, state=state, **kwargs)

    def to_json(self) -> str:
        """The state as JSON (store it; :meth:`from_json` resumes)."""
        return self.state.model_dump_json()

    # -- basics ----------------------------------------------------------------------------------

    @property
    def step(self) -> Step:
        """The current :class:`Step`."""
        return self.state.step

    @property
    def user_id(self) -> str:
        return self.state.user_id

    def _rng(self) -> random.Random:
        self.state.rng_counter += 1
        return random.Random(f"{self.state.seed}:{self.state.rng_counter}")

    def _expect(self, *steps: Step) -> None:
        if self.state.step not in steps:
            raise WrongStep(self.state.step, steps)

    def _changed(self) -> None:
        self.state.revision += 1

    # -- consent ---------------------------------------------------------------------------------

    def consent(self, agree: bool = True, age_confirmed: bool = True) -> None:
        """Record consent (both boxes of PRISM App. D). Refusing raises :class:`ProtocolError`.

        Example
        -------
        >>> from pluralis.collect.config import StudyConfig
        >>> s = ProtocolSession(StudyConfig(), seed=0)
        >>> s.consent(); s.step, s.view().section
        (<Step.SURVEY: 'survey'>, 'lm_use')
        """
        self._expect(Step.CONSENT)
        errors = {}  # in the order the consent page asks: age first
        if not age_confirmed:
            errors["consent_age"] = "you must be 18 years of age or over"
        if not agree:
            errors["consent"] = "you must consent to take part"
        if errors:
            raise ProtocolError(
                "consent is required to take part",
                errors=errors,
                participant_message="To take part, please tick both boxes.",
            )
        self.state.consented_at = self.clock()
        self.state.step = Step.SURVEY
        self._prepare_orders()
        self.state.survey_section = self._next_section()
        self._changed()

    def _prepare_orders(self) -> None:
        rng = self._rng()
        for section in self.config.survey.sections:
            for q in section.questions:
                if q.items:
                    keys = list(q.items)
                    if q.randomise:
                        rng.shuffle(keys)
                    self.state.item_orders[q.id] = keys

    # -- survey ----------------------------------------------------------------------------------

    def _section_shown(self, section: SurveySection) -> bool:
        if not section.show_if_any:
            return True
        return any(self.state.survey.get(qid) in values for qid, values in section.show_if_any.items())

    def _next_section(self) -> str | None:
        for section in self.config.survey.sections:
            if section.id in self.state.sections_done:
                continue
            if self._section_shown(section):
                return section.id
        return None

    def survey_sections(self) -> list[str]:
        """Ids of the survey pages this participant sees, given the answers so far (branching).

        Example
        -------
        >>> from pluralis.collect.config import StudyConfig
        >>> s = ProtocolSession(StudyConfig(), seed=0); s.consent()
        >>> s.submit_survey_section("lm_use", example_survey_answers() | {"lm_direct_use": "No",
        ...                                                              "lm_indirect_use": "Unsure"})
        >>> s.survey_sections()
        ['lm_use', 'preferences', 'demographics']
        """
        return [s.id for s in self.config.survey.sections if s.id in self.state.sections_done or self._section_shown(s)]

    def submit_survey_section(self, section_id: str, answers: Mapping[str, Any]) -> None:
        """Answer one survey page. Answers by question id; each question's kind
        (:mod:`pluralis.collect.questions`) validates its answer. Shapes of the built-in kinds:

        ``single``/``country``/``text``: a string; ``category``: ``{"category", "self_described"}`` (or a
        string); ``multi``: ``{"selected": [item keys], "other_text"}`` (or a list); ``vas``:
        ``{item: number, ..., "other": number, "other_text": str}``. Invalid answers raise
        :class:`ProtocolError` with one message per question in ``errors`` and change nothing.

        Example
        -------
        >>> from pluralis.collect.config import StudyConfig
        >>> s = ProtocolSession(StudyConfig(), seed=0); s.consent()
        >>> try:
        ...     s.submit_survey_section("lm_use", {"lm_familiarity": "Very familiar"})
        ... except ProtocolError as e:
        ...     print(e.errors)
        {'lm_indirect_use': 'choose an answer', 'lm_direct_use': 'choose an answer'}
        """
        self._expect(Step.SURVEY)
        if section_id != self.state.survey_section:
            raise WrongStep(
                self.state.step,
                (Step.SURVEY,),
                f"survey page {section_id!r} is not the current page ({self.state.survey_section!r})",
            )
        section = next(s for s in self.config.survey.sections if s.id == section_id)
        cleaned: dict[str, Any] = {}
        errors: dict[str, str] = {}
        for q in section.questions:
            value, err = q.question_kind.clean(q, answers.get(q.id), self.config.survey)
            if err:
                errors[q.id] = err
            else:
                cleaned[q.id] = value
        if errors:
            raise ProtocolError(
                "some answers are missing or invalid",
                errors=errors,
                participant_message="Some answers are missing or need a change. Please check the questions marked below.",
            )
        self.state.survey.update(cleaned)
        self.state.sections_done.append(section_id)
        self.state.last_error = None
        nxt = self._next_section()
        self.state.survey_section = nxt
        if nxt is None:
            self._finish_survey()
        self._changed()

    def submit_survey(self, answers: Mapping[str, Any]) -> None:
        """Answer every remaining survey page at once (answers for hidden pages are ignored).

        Example
        -------
        >>> from pluralis.collect.config import StudyConfig
        >>> s = ProtocolSession(StudyConfig(), seed=0); s.consent()
        >>> s.submit_survey(example_survey_answers()); s.step
        <Step.START: 'start_conversation'>
        """
        self._expect(Step.SURVEY)
        while self.state.step == Step.SURVEY and self.state.survey_section is not None:
            self.submit_survey_section(self.state.survey_section, answers)

    def _finish_survey(self) -> None:
        now = self.clock()
        self.state.survey_done_at = now
        self.state.quota_cell = self.quota_plan.cell_for(self.state.survey) if self.quota_plan.active else None
        admitted = True
        if self.quota_plan.active and self.quota_gate is not None:
            admitted = bool(self.quota_gate(self.state.quota_cell))
        screened = not admitted and self.config.quotas.over_quota == "screen_out"
        self.state.participant = self._build_participant(survey_only=screened).to_json_dict()
        if screened:
            self.state.step = Step.SCREENED_OUT
            self.state.completed_at = now
            # paid for the survey: the study's screen-out code (e.g. Prolific's partial-payment code) or a fresh one
            self.state.completion_code = self.config.completion.screened_out_code or secrets.token_hex(4).upper()
        else:
            self.state.step = Step.START

    def _location(self) -> dict[str, Any]:
        s = self.state.survey
        loc: dict[str, Any] = {}
        asked = {q.id for sec in self.config.survey.sections for q in sec.questions}
        for which in ("birth", "reside"):
            qid = f"{which}_country"
            if qid not in asked:
                continue
            name = s.get(qid)
            if name == vocab.PREFER_NOT_TO_SAY:
                loc.update(
                    {
                        f"{which}_country": name,
                        f"{which}_countryISO": name,
                        f"{which}_region": name,
                        f"{which}_subregion": name,
                    }
                )
            elif name:
                c = self.config.survey.country(name)
                if c is None:  # the study's country list changed after the participant answered
                    raise ProtocolError(
                        f"unknown country {name!r} (the study's country list changed?)",
                        errors={qid: "please choose your country again"},
                    )
                loc.update(
                    {
                        f"{which}_country": c[0],
                        f"{which}_countryISO": c[1],
                        f"{which}_region": c[2],
                        f"{which}_subregion": c[3],
                    }
                )
        if "birth_country" in s or "reside_country" in s:
            b, r = s.get("birth_country"), s.get("reside_country")
            if vocab.PREFER_NOT_TO_SAY in (b, r) or b is None or r is None:
                loc["same_birth_reside_country"] = vocab.PREFER_NOT_TO_SAY
            else:
                loc["same_birth_reside_country"] = "Yes" if b == r else "No"
            if b == vocab.PREFER_NOT_TO_SAY:
                loc["special_region"] = vocab.PREFER_NOT_TO_SAY
            elif b:
                loc["special_region"] = special_region(
                    loc.get("birth_countryISO"), loc.get("birth_subregion"), loc.get("birth_region")
                )
        return loc

    def _build_participant(self, *, survey_only: bool = False) -> Participant:
        s = self.state.survey
        pns = vocab.PREFER_NOT_TO_SAY
        usage_shown = "lm_usecases" in s
        usecases: dict[str, Any] | None = None
        orders_usecases: dict[str, int] | None = None
        if usage_shown:
            q = self.config.survey.question("lm_usecases")
            sel = set((s.get("lm_usecases") or {}).get("selected") or [])
            usecases = {k: (k in sel) for k in vocab.LM_USECASES if k in q.items}
            if q.other:
                usecases["other"] = "other" in sel
                usecases["other_text"] = (s.get("lm_usecases") or {}).get("other_text")
            order = self.state.item_orders.get("lm_usecases", list(q.items))
            orders_usecases = {k: i + 1 for i, k in enumerate(order)}
            if q.other:
                orders_usecases["other"] = len(order) + 1
        sp_q = self.config.survey.question("stated_prefs")
        stated = dict(s.get("stated_prefs") or {})
        sp_order = self.state.item_orders.get("stated_prefs", list(sp_q.items))
        order_stated = {k: i + 1 for i, k in enumerate(sp_order)}
        if sp_q.other:
            order_stated["other"] = len(sp_order) + 1

        def cat(qid: str, simplify: dict[str, str]) -> dict[str, Any]:
            v = s.get(qid) or {"category": pns}
            own = v.get("self_described")
            return {
                "self_described": (own or v["category"]).lower(),
                "categorised": v["category"],
                "simplified": simplify.get(v["category"], "Other"),
            }

        def single(qid: str) -> str:
            v = s.get(qid)
            if isinstance(v, Mapping):  # a category question (gender with a self-description)
                v = v.get("category")
            return v if v is not None else pns

        custom = {k: v for k, v in s.items() if k not in BUILTIN_QUESTIONS}
        gender = s.get("gender")
        if isinstance(gender, Mapping) and gender.get("self_described"):
            custom["gender_self_described"] = str(gender["self_described"]).lower()  # lower-cased, as PRISM
        now = self.state.survey_done_at or self.clock()
        duration = now - (self.state.consented_at or self.state.started_at)
        data: dict[str, Any] = {
            "user_id": self.state.user_id,
            "survey_only": survey_only,
            "num_completed_conversations": len(self.state.completed),
            "consent": vocab.CONSENT,
            "consent_age": vocab.CONSENT_AGE,
            "lm_familiarity": s["lm_familiarity"],
            "lm_indirect_use": s["lm_indirect_use"],
            "lm_direct_use": s["lm_direct_use"],
            "lm_frequency_use": s.get("lm_frequency_use"),
            "lm_usecases": usecases,
            "order_lm_usecases": orders_usecases,
            "stated_prefs": stated,
            "order_stated_prefs": order_stated,
            "self_description": s["self_description"],
            "system_string": s["system_string"],
            "age": single("age"),
            "gender": single("gender"),
            "employment_status": single("employment_status"),
            "education": single("education"),
            "marital_status": single("marital_status"),
            "english_proficiency": s["english_proficiency"],
            "religion": cat("religion", vocab.RELIGION_SIMPLIFY),
            "ethnicity": cat("ethnicity", vocab.ETHNICITY_SIMPLIFY),
            "location": self._location(),
            "study_id": self.config.study.id,
            "study_locale": self.config.study.locale,
            "generated_datetime": _fmt_time(now),
            "timing_duration_s": round(duration, 2),
            "timing_duration_mins": round(duration / 60, 2),
            "included_in_UK_REP": False,
            "included_in_US_REP": False,
            "included_in_balanced_subset": False,
            "source": self.state.source,
        }
        if self.state.persona is not None:
            data["persona"] = self.state.persona
        if custom:
            data["custom_survey"] = custom
        return Participant.model_validate(data)

    # -- conversations -----------------------------------------------------------------------------

    def type_counts(self) -> dict[str, int]:
        """Completed conversations per type.

        Example
        -------
        >>> from pluralis.collect.config import StudyConfig
        >>> ProtocolSession(StudyConfig(), seed=0).type_counts()
        {'unguided': 0, 'values guided': 0, 'controversy guided': 0}
        """
        counts = {t.name: 0 for t in self.config.conversations.types}
        for c in self.state.completed:
            counts[c["conversation_type"]] = counts.get(c["conversation_type"], 0) + 1
        return counts

    def remaining_types(self) -> dict[str, int]:
        """Conversations still to do, per type (types with quota left only).

        Example
        -------
        >>> from pluralis.collect.config import StudyConfig
        >>> ProtocolSession(StudyConfig(), seed=0).remaining_types()["unguided"]
        2
        """
        done = self.type_counts()
        return {
            t.name: t.quota - done.get(t.name, 0)
            for t in self.config.conversations.types
            if t.quota - done.get(t.name, 0) > 0
        }

    def _clean_prompt(self, prompt: str, field: str) -> str:
        text = clean_text(prompt or "").strip()
        if not text:
            raise ProtocolError(
                "the message is empty",
                errors={field: "write a message first"},
                participant_message="Please write a message first.",
            )
        limit = self.config.conversations.prompt_max_chars
        if len(text) > limit:
            raise ProtocolError(
                "the message is too long",
                errors={field: f"please write at most {limit} characters"},
                participant_message=f"Your message is too long: please shorten it to at most {limit} characters.",
            )
        return text

    def start_conversation(self, conversation_type: str, opening_prompt: str) -> ModelCall:
        """Choose a conversation type and send the opening prompt; the models to ask are chosen now
        (and saved), so the step becomes ``generating``. Returns the pending :class:`ModelCall`."""
        self._expect(Step.START)
        remaining = self.remaining_types()
        if conversation_type not in remaining:
            if conversation_type not in {t.name for t in self.config.conversations.types}:
                raise ProtocolError(
                    f"unknown conversation type {conversation_type!r}",
                    errors={"conversation_type": "choose one of the conversation types"},
                    participant_message="Please choose one of the conversation types.",
                )
            label = self.config.conversations.type(conversation_type).label
            raise ProtocolError(
                f"conversation type {conversation_type!r} is done",
                errors={"conversation_type": f"you have done all {label} conversations; please choose another type"},
                participant_message=f"You have done all {label} conversations. Please choose another type.",
            )
        prompt = self._clean_prompt(opening_prompt, "opening_prompt")
        sampling = self.config.sampling
        names = self.config.model_names()
        rng = self._rng()
        conv_id = f"{self.state.user_id}-c{self.state.conversation_counter}"
        self.state.conversation_counter += 1
        conv = ConversationState(conversation_id=conv_id, conversation_type=conversation_type, started_at=self.clock())
        if sampling.mode == "nc":
            model = sampling.nc_model or rng.choice(names)
            conv.nc_model = model
            requested = [model] * self.config.opening_count
        elif sampling.mode == "all":
            requested = list(names)
        else:
            requested = rng.sample(names, self.config.opening_count)
        conv.turns.append(TurnState(turn=0, prompt=prompt, requested=requested))
        self.state.current = conv
        self.state.step = Step.GENERATING
        self.state.last_error = None
        self._changed()
        return self.pending_call()

    def _messages(self, conv: ConversationState, upto: int) -> list[dict[str, str]]:
        msgs: list[dict[str, str]] = []
        for t in conv.turns[:upto]:
            chosen = next((r for r in t.responses if r.if_chosen), None)
            msgs.append({"role": "user", "content": t.prompt})
            if chosen is not None:
                msgs.append({"role": "assistant", "content": chosen.text})
        msgs.append({"role": "user", "content": conv.turns[upto].prompt})
        return msgs

    def pending_call(self) -> ModelCall:
        """The model call the current ``generating`` step needs (same answer until results are applied)."""
        self._expect(Step.GENERATING)
        conv = self.state.current
        assert conv is not None
        t = conv.turns[-1]
        sampling = self.config.sampling
        messages = self._messages(conv, len(conv.turns) - 1)
        kind: Literal["set", "samples", "nc"]
        temperature: float | None = None
        if t.turn == 0:
            kind = "nc" if sampling.mode == "nc" else "set"
        else:
            kind = "nc" if (sampling.mode == "nc" and sampling.nc_later_turns) else "samples"
            temperature = sampling.later_temperature
        return ModelCall(
            kind=kind,
            conversation_id=conv.conversation_id,
            turn=t.turn,
            models=list(t.requested) if kind == "set" else [t.requested[0]],
            messages=messages,
            n=1 if kind == "set" else len(t.requested),
            temperature=temperature,
            timeout=sampling.timeout,
            nc_method=sampling.nc_method,
            nc_response_format=sampling.nc_response_format,
        )

    def apply_result(self, result: CallResult) -> list[ResponseView]:
        """Store the responses of the pending turn; failures are recorded. With no response at all the
        turn is dropped and the participant is asked to try again (``view().error``)."""
        self._expect(Step.GENERATING)
        conv = self.state.current
        assert conv is not None
        t = conv.turns[-1]
        if result.conversation_id != conv.conversation_id or result.turn != t.turn:
            raise StaleResult("these model results are for a turn that is no longer pending")
        now = self.clock()
        for f in result.failures:
            self.state.failures.append(
                FailureRecord(
                    conversation_id=conv.conversation_id,
                    turn=t.turn,
                    model_name=f.get("model", "?"),
                    model_provider=f.get("provider", "local"),
                    kind=f.get("kind", "other"),
                    message=str(f.get("message", ""))[:2000],
                    latency_s=float(f.get("latency_s", 0.0)),
                    status_code=f.get("status_code"),
                    at=now,
                )
            )
        if not result.responses:
            conv.turns.pop()
            if not conv.turns:
                self.state.current = None
                self.state.step = Step.START
            else:
                self.state.step = Step.CONTINUE
            self.state.last_error = (
                "None of the models answered this time. Please try again (you can send the same message)."
            )
            self._changed()
            return []
        t.responses = [
            CandidateResponse(
                id=i,
                model_name=r.model_name,
                model_provider=r.model_provider,
                text=_normalise_text(r.text),
                latency_s=round(r.latency_s, 4),
                method=r.method,
                usage=r.usage,
            )
            for i, r in enumerate(result.responses)
        ]
        order = [r.id for r in t.responses]
        if t.turn == 0:
            self._rng().shuffle(order)  # screen position is unrelated to within_turn_id (PRISM)
        t.display_order = order
        t.generated = True
        t.latency_s = round(result.latency_s, 4)
        self.state.step = Step.RATE
        self.state.last_error = None
        self._changed()
        return self.view().responses

    async def generate(self) -> list[ResponseView]:
        """Run the pending model call and apply it (``generating`` -> ``rate``)."""
        call = self.pending_call()
        result = await run_model_call(call, self.models, limiter=self.limiter)
        return self.apply_result(result)

    async def opening_turn(
        self, conversation_type: str | None = None, opening_prompt: str | None = None
    ) -> list[ResponseView]:
        """Start a conversation (if a type and prompt are given) and get the opening responses.

        Up to ``opening_models`` models answer concurrently; returns the responses in display order.
        """
        if conversation_type is not None or opening_prompt is not None:
            self.start_conversation(conversation_type or "", opening_prompt or "")
        return await self.generate()

    def rate(self, scores: Mapping[int, Any] | Sequence[Any], *, touched: Collection[int] | None = None) -> None:
        """Rate every response of the current turn, 1-100 (a list is in display order, a dict by response id).

        In the opening turn the highest-rated response's model is locked in (random tie-break); in later
        turns the higher-rated sample continues the conversation. Step becomes ``continue``.

        Parameters
        ----------
        scores
            The ratings, by response id (a dict) or in display order (a list).
        touched
            Ids of the responses whose slider the participant moved (the web page's
            ``score_{id}__touched`` markers, :func:`ratings_from_form`). With the study's
            ``conversations.require_slider_touch`` (on by default) a response missing here is refused with a
            message asking the participant to move its slider, so an untouched slider never stores its default
            50 (PRISM's spike at 50). ``None``: the caller does not track touches (scripts, simulated
            participants): nothing is checked.

        Example
        -------
        >>> import asyncio
        >>> from pluralis.collect.config import StudyConfig
        >>> from pluralis.llm import ChatResult, ModelSpec
        >>> class Echo:
        ...     def __init__(self, name): self.spec = ModelSpec(name=name)
        ...     async def chat(self, messages, *, params=None, timeout=None):
        ...         return ChatResult(text="Hi", model=self.spec.name, latency_s=0.0)
        ...     async def aclose(self): pass
        >>> cfg = StudyConfig()
        >>> s = ProtocolSession(cfg, models={n: Echo(n) for n in cfg.model_names()}, seed=1)
        >>> s.consent(); s.submit_survey(example_survey_answers())
        >>> shown = asyncio.run(s.opening_turn("unguided", "Hello"))
        >>> try:
        ...     s.rate({r.id: 50 for r in shown}, touched={shown[0].id})
        ... except ProtocolError as e:
        ...     print(len(e.errors), e.participant_message)
        3 Please move every slider to give your rating.
        >>> s.rate({r.id: 50 + r.id for r in shown}, touched={r.id for r in shown}); s.step.value
        'continue'
        """
        self._expect(Step.RATE)
        conv = self.state.current
        assert conv is not None
        t = conv.turns[-1]
        if isinstance(scores, Mapping):
            try:
                by_id = {int(k): v for k, v in scores.items()}
            except (TypeError, ValueError):
                raise ProtocolError(
                    f"unknown response ids {list(scores)}",
                    errors={"scores": "please rate the responses on this page"},
                    participant_message=ALREADY_SENT,
                ) from None
        else:
            scores = list(scores)
            if len(scores) != len(t.display_order):
                raise ProtocolError(
                    f"rate every response: expected {len(t.display_order)} scores, got {len(scores)}",
                    errors={"scores": "please rate every response"},
                )
            by_id = dict(zip(t.display_order, scores))
        errors = {}
        clean: dict[int, int] = {}
        shown = {rid: i for i, rid in enumerate(t.display_order)}
        on_page = sorted(t.responses, key=lambda r: shown.get(r.id, len(shown)))  # problems listed as the page shows
        for r in on_page:
            v = by_id.get(r.id)
            try:
                iv = int(v) if v is not None and float(v) == int(float(v)) else None
            except (TypeError, ValueError, OverflowError):
                iv = None
            if iv is None or not 1 <= iv <= 100:
                errors[f"score_{r.id}"] = "please rate this response"
            else:
                clean[r.id] = iv
        extra = set(by_id) - {r.id for r in t.responses}
        if extra:
            errors["scores"] = "please rate the responses on this page"
        if errors:
            raise ProtocolError(
                f"every response needs a rating 1-100 (unknown ids: {sorted(extra)})",
                errors=errors,
                participant_message="Please rate every response.",
            )
        if touched is not None and self.config.conversations.require_slider_touch:
            moved = {int(i) for i in touched}
            untouched = [r.id for r in on_page if r.id not in moved]
            if untouched:
                text = self.config.conversations.untouched_text
                raise ProtocolError(
                    f"slider(s) of response(s) {untouched} were not moved (require_slider_touch)",
                    errors={f"score_{i}": text for i in untouched},
                    participant_message="Please move every slider to give your rating.",
                )
        best = max(clean.values())
        tied = [r.id for r in t.responses if clean[r.id] == best]
        chosen = tied[0] if len(tied) == 1 else self._rng().choice(tied)
        for r in t.responses:
            r.score = clean[r.id]
            r.if_chosen = r.id == chosen
        t.rated = True
        t.rated_at = _fmt_time(self.clock())
        if t.turn == 0:
            locked = next(r for r in t.responses if r.id == chosen)
            conv.locked_model, conv.locked_provider = locked.model_name, locked.model_provider
        self.state.step = Step.CONTINUE
        self.state.last_error = None
        self._changed()

    def add_prompt(self, prompt: str) -> ModelCall:
        """Send a follow-up message (``continue`` -> ``generating``); returns the pending call."""
        self._expect(Step.CONTINUE)
        conv = self.state.current
        assert conv is not None
        if len(conv.turns) >= self.config.conversations.max_turns:
            raise ProtocolError(
                "this conversation has reached its maximum length",
                errors={
                    "prompt": f"conversations have at most {self.config.conversations.max_turns} turns; click Finish"
                },
                participant_message="This conversation has reached its maximum length. Please click Finish.",
            )
        text = self._clean_prompt(prompt, "prompt")
        model = conv.locked_model
        assert model is not None
        n = self.config.sampling.later_samples
        conv.turns.append(TurnState(turn=len(conv.turns), prompt=text, requested=[model] * n))
        self.state.step = Step.GENERATING
        self.state.last_error = None
        self._changed()
        return self.pending_call()

    async def follow_up(self, prompt: str) -> list[ResponseView]:
        """Send a follow-up message and get ``later_samples`` (2) samples from the locked model."""
        self.add_prompt(prompt)
        return await self.generate()

    def end_conversation(self) -> None:
        """Finish the conversation (``continue`` -> ``feedback``); needs at least ``min_turns`` turns.
        The conversation's ``generated_datetime`` is taken now, before the feedback page (as in PRISM)."""
        self._expect(Step.CONTINUE)
        conv = self.state.current
        assert conv is not None
        need = self.config.conversations.min_turns
        if len(conv.turns) < need:
            raise ProtocolError(
                f"the conversation is too short ({len(conv.turns)} of at least {need} turns)",
                errors={"finish": f"conversations need at least {need} turns; please send another message first"},
                participant_message=f"Conversations need at least {need} turns. Please send another message first.",
            )
        conv.ended_at = self.clock()
        conv.generated_datetime = _fmt_time(conv.ended_at)
        self.state.step = Step.FEEDBACK
        self.state.last_error = None
        self._changed()

    def _attributes(
        self, values: Mapping[str, Any] | None, allowed: Mapping[str, str], field: str, errors: dict[str, str]
    ) -> dict[str, Any]:
        values = dict(values or {})
        out: dict[str, Any] = {}
        for key in values:
            if key not in allowed:
                errors[f"{field}_{key}"] = "this rating is not part of the page"
        for key in allowed:
            v = values.get(key)
            if v is None or v == "" or v == "N/A":
                out[key] = None
                continue
            try:
                num = float(v)
            except (TypeError, ValueError):
                errors[f"{field}_{key}"] = "please use the slider, or tick N/A"
                continue
            if not 1 <= num <= 100:
                errors[f"{field}_{key}"] = "please use the slider, or tick N/A"
                continue
            out[key] = int(round(num))
        return out

    def submit_feedback(
        self, performance: Mapping[str, Any] | None, choice: Mapping[str, Any] | None, open_feedback: str
    ) -> Conversation:
        """Fine-grained feedback after a conversation: attribute ratings 1-100 (``None``/missing = N/A)
        and open feedback. Completes the conversation and returns its PRISM record."""
        self._expect(Step.FEEDBACK)
        conv = self.state.current
        assert conv is not None
        attrs = self.config.attributes
        errors: dict[str, str] = {}
        perf = self._attributes(performance, attrs.performance, "performance", errors)
        cho = self._attributes(choice, attrs.choice, "choice", errors)
        text = clean_text(open_feedback or "").strip()
        if len(text) < attrs.open_feedback_min_chars:
            errors["open_feedback"] = f"please write at least {attrs.open_feedback_min_chars} characters"
        if len(text) > 10000:
            errors["open_feedback"] = "please write at most 10000 characters"
        if errors:
            raise ProtocolError(
                "some feedback is missing or invalid",
                errors=errors,
                participant_message="Some feedback is missing or needs a change. Please check the fields marked below.",
            )
        record = self._conversation_record(conv, perf, cho, text)
        self.state.completed.append(record.to_json_dict())
        self.state.current = None
        if self.state.participant is not None:
            self.state.participant["num_completed_conversations"] = len(self.state.completed)
        if self.remaining_types():
            self.state.step = Step.START
        else:
            self.state.step = Step.COMPLETE
            self.state.completed_at = self.clock()
            self.state.completion_code = self.config.completion.code or secrets.token_hex(4).upper()
        self.state.last_error = None
        self._changed()
        return record

    def finish(
        self, performance: Mapping[str, Any] | None, choice: Mapping[str, Any] | None, open_feedback: str
    ) -> Conversation:
        """End the conversation (if still in ``continue``) and submit its feedback in one call."""
        if self.state.step == Step.CONTINUE:
            self.end_conversation()
        return self.submit_feedback(performance, choice, open_feedback)

    def _conversation_record(self, conv: ConversationState, perf: dict, cho: dict, feedback: str) -> Conversation:
        history: list[dict[str, Any]] = []
        for t in conv.turns:
            history.append({"turn": t.turn, "role": "user", "content": t.prompt})
            for r in t.responses:
                history.append(
                    {
                        "turn": t.turn,
                        "role": "model",
                        "content": r.text,
                        "model_provider": r.model_provider,
                        "model_name": r.model_name,
                        "score": r.score,
                        "if_chosen": r.if_chosen,
                        "within_turn_id": r.id,
                    }
                )
        ended = conv.ended_at or self.clock()
        duration = ended - conv.started_at
        return Conversation.model_validate(
            {
                "conversation_id": conv.conversation_id,
                "user_id": self.state.user_id,
                "included_in_balanced_subset": False,
                "generated_datetime": conv.generated_datetime or _fmt_time(ended),
                "timing_duration_s": round(duration, 2),
                "timing_duration_mins": round(duration / 60, 2),
                "conversation_type": conv.conversation_type,
                "opening_prompt": conv.opening_prompt,
                "conversation_turns": len(conv.turns),
                "conversation_history": history,
                "performance_attributes": perf,
                "choice_attributes": cho,
                "open_feedback": feedback,
            }
        )

    # -- reading ------------------------------------------------------------------------------------

    def view(self) -> StepView:
        """What to show the participant now.

        Example
        -------
        >>> from pluralis.collect.config import StudyConfig
        >>> v = ProtocolSession(StudyConfig(), seed=0).view()
        >>> v.step, v.conversations_total
        (<Step.CONSENT: 'consent'>, 6)
        """
        st = self.state
        cfg = self.config.conversations
        done = len(st.completed)
        v = StepView(
            step=st.step,
            user_id=st.user_id,
            conversations_total=cfg.total_quota,
            conversations_done=done,
            conversation_number=min(done + 1, cfg.total_quota),
            min_turns=cfg.min_turns,
            max_turns=cfg.max_turns,
            error=st.last_error,
            completion_code=st.completion_code,
        )
        if st.step in (Step.COMPLETE, Step.SCREENED_OUT):
            v.redirect_url = self.config.completion.redirect_for(
                st.completion_code, screened_out=st.step == Step.SCREENED_OUT
            )
        if st.step == Step.SURVEY:
            # "page i of n" over every page of the survey: the total never changes while the participant
            # answers (a page skipped by branching is passed over, as if answered), so the counter only moves on.
            ids = [s.id for s in self.config.survey.sections]
            v.section = st.survey_section
            v.section_index = ids.index(st.survey_section) if st.survey_section in ids else None
            v.sections_total = len(ids)
            v.item_orders = dict(st.item_orders)
        if st.step == Step.START:
            remaining = self.remaining_types()
            v.types = [
                TypeOption(
                    name=t.name,
                    label=t.label,
                    instruction=t.instruction,
                    remaining=remaining.get(t.name, 0),
                    available=t.name in remaining,
                )
                for t in cfg.types
                if t.quota > 0
            ]
        conv = st.current
        if conv is not None:
            v.conversation_id = conv.conversation_id
            v.conversation_type = conv.conversation_type
            rated = [t for t in conv.turns if t.rated]
            v.turns_done = len(rated)
            v.history = [
                HistoryTurn(
                    turn=t.turn, prompt=t.prompt, response=next((r.text for r in t.responses if r.if_chosen), "")
                )
                for t in rated
            ]
            last = conv.turns[-1] if conv.turns else None
            if last is not None and not last.rated:
                v.turn = last.turn
                v.prompt = last.prompt
                by_id = {r.id: r for r in last.responses}
                v.responses = [
                    ResponseView(id=i, position=p, text=by_id[i].text, score=by_id[i].score)
                    for p, i in enumerate(last.display_order)
                ]
            v.can_follow_up = st.step == Step.CONTINUE and len(conv.turns) < cfg.max_turns
            v.can_finish = st.step == Step.CONTINUE and len(conv.turns) >= cfg.min_turns
        return v

    def participant(self) -> Participant | None:
        """The participant's survey record (``None`` before the survey is done).

        Example
        -------
        >>> from pluralis.collect.config import StudyConfig
        >>> s = ProtocolSession(StudyConfig(), seed=0); s.consent(); s.submit_survey(example_survey_answers())
        >>> s.participant().location.special_region
        'UK'
        """
        if self.state.participant is None:
            return None
        return Participant.model_validate(self.state.participant)

    def conversations(self) -> list[Conversation]:
        """The completed conversations' PRISM records."""
        return [Conversation.model_validate(c) for c in self.state.completed]

    def records(self) -> Study:
        """This participant's PRISM records: the survey row, completed conversations and their utterances.

        Ids are unique across participants: ``{conversation_id}-t{turn}`` for interactions and
        ``{conversation_id}-t{turn}-r{within_turn_id}`` for utterances. Use :func:`combine_records`
        to put many sessions in one :class:`Study`.
        """
        p = self.participant()
        convs = self.conversations()
        return Study(survey=[p] if p is not None else [], conversations=convs, utterances=utterances_for(convs))

    def ratings(self) -> list[dict[str, Any]]:
        """Every rating given so far (completed and in-progress conversations), one dict per rated response."""
        out = []
        convs = [
            (
                c["conversation_id"],
                c["conversation_type"],
                [(item["turn"], item) for item in c["conversation_history"] if item["role"] == "model"],
            )
            for c in self.state.completed
        ]
        for conv_id, _ctype, items in convs:
            for turn, item in items:
                out.append(
                    {
                        "conversation_id": conv_id,
                        "turn": turn,
                        "within_turn_id": item["within_turn_id"],
                        "model_name": item["model_name"],
                        "score": item["score"],
                        "if_chosen": item["if_chosen"],
                    }
                )
        cur = self.state.current
        if cur is not None:
            for t in cur.turns:
                if t.rated:
                    for r in t.responses:
                        out.append(
                            {
                                "conversation_id": cur.conversation_id,
                                "turn": t.turn,
                                "within_turn_id": r.id,
                                "model_name": r.model_name,
                                "score": r.score,
                                "if_chosen": r.if_chosen,
                            }
                        )
        return out


#: The rating page's form contract: one slider per response, named ``score_{id}`` (1-100), and a marker
#: ``score_{id}__touched`` (any non-empty value, e.g. "1") that the page's script sets when that slider is
#: moved (``input``/``change`` event, keyboard included). Pages without the script cannot submit an
#: untouched rating while ``conversations.require_slider_touch`` is on.
SCORE_FIELD = "score_{id}"
TOUCHED_FIELD = "score_{id}__touched"


def ratings_from_form(view: StepView, form: Mapping[str, Any]) -> tuple[dict[int, Any], set[int]]:
    """Scores and touched markers of a submitted rating page, for :meth:`ProtocolSession.rate`.

    Parameters
    ----------
    view
        The participant's current :class:`StepView` (step ``rate``): which responses are on the page.
    form
        The submitted form (``form.get(name)``), fields :data:`SCORE_FIELD` and :data:`TOUCHED_FIELD`.

    Returns
    -------
    tuple
        ``(scores by response id, ids of the responses whose slider was moved)``; call
        ``session.rate(scores, touched=touched)``.

    Example
    -------
    >>> view = StepView(step=Step.RATE, user_id="u", conversation_number=1, conversations_total=1,
    ...                 conversations_done=0, responses=[ResponseView(id=0, position=0, text="a"),
    ...                                                  ResponseView(id=1, position=1, text="b")])
    >>> ratings_from_form(view, {"score_0": "70", "score_0__touched": "1", "score_1": "50"})
    ({0: '70', 1: '50'}, {0})

    Without the script, the empty hidden marker and the ticked no-JS box arrive together; the box counts:

    >>> from starlette.datastructures import FormData
    >>> ratings_from_form(view, FormData([("score_1", "9"), ("score_1__touched", ""), ("score_1__touched", "1")]))[1]
    {1}
    """
    scores = {r.id: form.get(SCORE_FIELD.format(id=r.id)) for r in view.responses}
    touched = {r.id for r in view.responses if any(_all_values(form, TOUCHED_FIELD.format(id=r.id)))}
    return scores, touched


def _all_values(form: Mapping[str, Any], name: str) -> list[Any]:
    # The page sends a marker twice without JavaScript: the script's empty hidden field, then the ticked box.
    getlist = getattr(form, "getlist", None)
    return list(getlist(name)) if callable(getlist) else [form.get(name)]


def utterances_for(conversations: Sequence[Conversation]) -> list[Utterance]:
    """PRISM utterance rows of conversations, with ids that stay unique across participants.

    Parameters
    ----------
    conversations : sequence of Conversation
        Conversation records with their ``conversation_history``.

    Returns
    -------
    list of Utterance
        One row per model response, in conversation and history order.

    Example
    -------
    >>> utterances_for([])
    []
    """
    out: list[Utterance] = []
    for c in conversations:
        prompts = {i.turn: i.content for i in c.conversation_history if i.role == "user"}
        for item in c.conversation_history:
            if item.role != "model":
                continue
            out.append(
                Utterance(
                    utterance_id=f"{c.conversation_id}-t{item.turn}-r{item.within_turn_id}",
                    interaction_id=f"{c.conversation_id}-t{item.turn}",
                    conversation_id=c.conversation_id,
                    user_id=c.user_id,
                    turn=item.turn,
                    within_turn_id=item.within_turn_id,
                    included_in_balanced_subset=c.included_in_balanced_subset,
                    conversation_type=c.conversation_type,
                    user_prompt=prompts.get(item.turn, ""),
                    model_response=item.content,
                    model_name=item.model_name,
                    model_provider=item.model_provider,
                    score=item.score,
                    if_chosen=item.if_chosen,
                )
            )
    return out


def combine_records(sessions: Sequence[ProtocolSession | Study]) -> Study:
    """One validated :class:`Study` from many sessions (or their :meth:`ProtocolSession.records`).

    Parameters
    ----------
    sessions : sequence of ProtocolSession or Study
        Protocol sessions, or their already extracted records.

    Returns
    -------
    Study
        Survey, conversations, utterances and metadata of all sessions, validated together.

    Example
    -------
    >>> combine_records([]).counts()["survey"]
    0
    """
    study = Study()
    for s in sessions:
        part = s.records() if isinstance(s, ProtocolSession) else s
        study.survey.extend(part.survey)
        study.conversations.extend(part.conversations)
        study.utterances.extend(part.utterances)
        study.metadata.extend(part.metadata)
    study.validate()
    return study


__all__ = [
    "ALREADY_SENT",
    "CHECK_FIELDS",
    "SCORE_FIELD",
    "TOUCHED_FIELD",
    "TRY_AGAIN",
    "CallResult",
    "CandidateResponse",
    "ConversationState",
    "FailureRecord",
    "GeneratedResponse",
    "HistoryTurn",
    "ModelCall",
    "ProtocolError",
    "ProtocolSession",
    "ProtocolState",
    "ResponseView",
    "StaleResult",
    "Step",
    "StepView",
    "TurnState",
    "TypeOption",
    "WrongStep",
    "combine_records",
    "example_survey_answers",
    "new_user_id",
    "clean_text",
    "ratings_from_form",
    "run_model_call",
    "special_region",
    "utterances_for",
]
