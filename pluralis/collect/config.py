"""Study definitions for the PRISM-protocol collection platform (TOML or YAML, validated).

A study definition says everything a research team decides before launch: which models answer
(and how they are reached and decoded), which conversation types exist with which instructions
and quotas, turn limits, the survey, the fine-grained attribute statements, sample quotas
(e.g. census cells), the consent text and the completion code. :func:`load_study_config` reads
one file; every field has PRISM's value as its default, so ``StudyConfig()`` *is* the PRISM
protocol (with local placeholder models) and the shipped ``defaults/prism_study.toml`` spells it out.
PRISM's survey (its pages, questions and texts) is written only there: the default ``survey.sections``
are read from that file. Question kinds are registered in :mod:`pluralis.collect.questions`, which also
holds the one table of built-in question ids (:data:`~pluralis.collect.questions.BUILTIN_QUESTIONS`).

Layout of a study file (every table is optional)::

    [study]            id, title, locale ("us", "uk", ...), source ("human" | "simulated")
    [consent]          title, text, primer, consent_label, age_label
    [[models]]         name, endpoint (base URL), model, backend, provider, system_prompt, timeout,
                       api_key_env, roster (take PRISM's params for a roster model), [models.params]
    [sampling]         mode = "random" (PRISM: k of the pool at random) | "all" | "nc"
                       (negatively-correlated candidates from one model, Community Alignment),
                       opening_models (4; at most the number of models), later_samples (2),
                       later_temperature (1.0), timeout (30 s), seed
    [conversations]    min_turns (2), max_turns (10), prompt_max_chars, require_slider_touch (true),
                       [[conversations.types]] name, label, instruction, quota
    [[survey.sections]] id, title, show_if_any, [[survey.sections.questions]] id, text, kind (a registered
                       question kind: single, multi, category, country, text, vas, ...), options, items, ...
    [attributes]       performance / choice statements, anchors
    [quotas]           kind = "none" | "census" | "cells", country, total, over_quota = "allow" | "screen_out"
    [completion]       code, redirect_url, message, screened_out_code, screened_out_redirect_url,
                       screened_out_message ("{code}" in a redirect is the participant's code)
    [recruitment]      url_params (PROLIFIC_PID, STUDY_ID, SESSION_ID: kept apart from the PRISM files),
                       external_id_param
    [quality]          quality-control thresholds (spec §8.1): fast_sd, min_conversations, attention checks
    [limits]           LLM-call and join rate limits, concurrent model calls
    [admin]            token_env (the admin token is read from this environment variable, never the file),
                       group_fields, min_group_size, bootstrap_rounds (the dashboard)
    [server]           public_url, trusted_proxies (reverse proxies whose X-Forwarded-* headers count)

Example
-------
>>> cfg = StudyConfig()
>>> [t.name for t in cfg.conversations.types], cfg.conversations.total_quota
(['unguided', 'values guided', 'controversy guided'], 6)
>>> cfg.opening_count, cfg.sampling.timeout, cfg.models[0].system_prompt == vocab.BASE_HEADER
(4, 30.0, True)
"""

from __future__ import annotations

import copy
import functools
import ipaddress
import json
import re
import tomllib
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import Any, Literal, get_args
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic_core import PydanticCustomError

from pluralis.collect.countries import COUNTRIES as _ALL_COUNTRIES
from pluralis.collect.questions import BUILTIN_QUESTIONS, QuestionKind, get_question_kind
from pluralis.collect.questions.builtin import check_builtin_question, missing_builtin_questions
from pluralis.data import vocab
from pluralis.errors import ConfigError
from pluralis.llm.types import DEFAULT_TIMEOUT, OPENING_TURN_MODELS, DecodingParams, ModelSpec

DEFAULT_STUDY_FILE = "prism_study.toml"

# --- texts of the PRISM protocol (spec §1, App. D, App. I) ---------------------------------------

PRIMER = (
    "This research is about Artificial Intelligence (AI) Language Models. These models are also sometimes "
    "referred to as Generative AI, Large Language Models (LLMs), Conversational Agents, AI Chat Bots or Virtual "
    "Assistants. They are advanced computer programs that can understand and generate human-like text. These "
    "models learn from large amounts of text data on the internet to generate their responses. One example you "
    "might have heard is ChatGPT, where people can have a conversation with an AI language model via an "
    "internet website."
)

CONSENT_TEXT = """\
We appreciate your interest in participating in this study. The aim of this research is to understand people's \
preferences and perceptions regarding AI Language Model behaviours, also referred to as Large Language Models \
(LLMs), Generative AI Language Models, AI ChatBots or Virtual Assistants. AI language models are computer \
programs designed to generate text. They can respond to questions or prompts by producing written responses. \
We want to learn more about how people like you use and perceive these AI language models.

Please first make sure you are using a laptop or desktop computer, and you are not using a mobile device. Our \
task is NOT compatible with mobile devices.

Please then read through this information before agreeing to participate (if you wish to).

You may ask any questions before deciding to take part by contacting the research team. [Name the principal \
researcher and investigator of your study and their institution.]

## What does the task involve?

If you decide to participate, there are two stages.

In this stage, you will be asked to fill in a short survey about yourself and your thoughts on AI language \
models.

In the next stage, you will have conversations with AI language models by providing prompts and rating their \
responses using a user-friendly interface. The prompts can be on various topics, and you don't need any \
specific knowledge to participate. Your input will help us understand your preferences and opinions about how \
these AI language models work.

Both stages should take between 55-65 minutes. No background knowledge is required.

Please note that you will be interacting with an AI language model. The research team cannot directly control \
and are not responsible for the text generated by these models. There is a possibility that the models produce \
biased, inaccurate or harmful language. The risks to you as an individual are equivalent to those you would be \
exposed to if you use AI language models via interfaces like ChatGPT.

## Do I have to take part?

No, participation is voluntary. If you do decide to take part, you may stop at any point for any reason before \
submitting your answers by closing the browser. However, we are only able to pay participants who complete the \
task. For demographic information, we have included a 'Prefer not to say' option for each set of questions \
should you prefer not to answer a particular question.

## Can I withdraw my participation and data?

Yes, you may stop the study at any time. Please note that if you withdraw within a stage of the study you will \
not be paid for that stage or any subsequent incomplete stages, but you will be paid for any stages that you \
have already completed. You can withdraw your data from the study. The cut-off date for withdrawing your data \
is 14 days after you submitted the data. Please email members of the research team (see contact details below) \
within this 14-day window to withdraw your data from the study.

## How will my data be used?

The data collected from your participation will be pseudo-anonymized (stored with a unique numeric ID) and \
stored securely. It will be used for research purposes, and your personal information will remain \
confidential. The data will be analysed to gain insights into diverse preferences and perceptions regarding AI \
language model behaviours. At the end of the study, the pseudo-anonymised data collected will be released \
publicly for future research. The findings of this study may be published in academic journals or presented at \
conferences. Your individual identity will not be disclosed at any point in data release or publication. We do \
not collect any personal, private identifying information, IP addresses or contact details. The data we will \
collect that could identify you will be some demographic information (gender, age, nationality, religion, \
etc.), and short self-written survey answers.

[Say where and for how long the responses are stored, who they may be shared with, and whether they may be \
transferred outside your jurisdiction.]

## Who has reviewed this research?

This research has been reviewed by, and received ethics clearance through, [your ethics committee and the \
study's reference number].

## Who do I contact if I have a concern or I wish to complain?

If you have a concern about any aspect of this research, please speak to [the research team's contact \
details], and we will do our best to answer your query. We will acknowledge your concern within 10 working \
days and give you an indication of how it will be dealt with. If you remain unhappy or wish to make a formal \
complaint, please contact [the chair of your ethics committee and how to reach them].

Please note that you may only participate in this survey if you are 18 years of age or over.

If you have read the information above and agree to participate with the understanding that the data \
(including any personal data) you submit will be processed accordingly, please tick the boxes below to start.
"""

#: Countries offered in the birth/residence questions: (name, ISO3, UN region, UN subregion); every UN
#: member and observer state plus commonly named territories (:mod:`pluralis.collect.countries`).
#: A study file may list its own ``[survey] countries`` instead.
COUNTRIES: tuple[tuple[str, str, str, str], ...] = _ALL_COUNTRIES

#: What ``[recruitment] url_params`` captures by default: Prolific's three URL parameters.
PROLIFIC_URL_PARAMS = ("PROLIFIC_PID", "STUDY_ID", "SESSION_ID")


def field_error(field: str, message: str) -> PydanticCustomError:
    """A validation error about ``field`` (a dotted path below the object being validated), so that
    :func:`load_study_config` names the field's own line, even when it is missing from the file.

    Parameters
    ----------
    field
        Dotted path of the field, relative to the model whose validator raises (``"endpoint"``,
        ``"sampling.opening_models"``).
    message
        What is wrong, for the study's author.

    Example
    -------
    >>> err = field_error("endpoint", "model 'a' has no endpoint")
    >>> err.context["field"], err.message()
    ('endpoint', "model 'a' has no endpoint")
    """
    return PydanticCustomError("study_field", message.replace("{", "{{").replace("}", "}}"), {"field": field})


def first_repeat(names: Sequence[str]) -> tuple[int, int] | None:
    """``(index, index of its first occurrence)`` of the first name listed twice, else ``None``.

    The one check behind every "listed twice" error of a study file (models, conversation types,
    quota cells), so each names the repeat's own line.

    Parameters
    ----------
    names
        the names, in file order.

    Returns
    -------
    tuple of int or None

    Example
    -------
    >>> first_repeat(["a", "b", "a"]), first_repeat(["a", "b"])
    ((2, 0), None)
    """
    seen: dict[str, int] = {}
    for i, name in enumerate(names):
        if name in seen:
            return i, seen[name]
        seen[name] = i
    return None


def _http_url(v: str | None, what: str) -> str | None:
    if v is None:
        return v
    from urllib.parse import urlsplit

    parts = urlsplit(v.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"{what} must be an http:// or https:// address, got {v!r}")
    return v.strip()


# --- building blocks ---------------------------------------------------------------------------


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class StudyInfo(_Strict):
    """Identity of the study: ``id`` becomes ``study_id`` and ``locale`` ``study_locale`` of every participant.

    ``title`` heads every page; ``description`` is the landing page's paragraph; ``source`` is ``"human"``
    (participants) or ``"simulated"`` (personas run through the protocol, recorded on every record).
    """

    id: str = Field(default="pluralis-prism", min_length=1, max_length=128)
    title: str = "Your Feedback on AI Language Models"
    locale: str = Field(default="global", min_length=1, max_length=64)
    source: Literal["human", "simulated"] = "human"
    description: str = (
        "You will answer a short survey about yourself and AI language models, then have conversations "
        "with AI language models and rate their responses."
    )


class ConsentConfig(_Strict):
    """Consent page (PRISM App. D) and the LLM primer shown before the survey (App. I).

    ``title`` heads the consent page, ``text`` is the consent text (replace its ``[...]`` placeholders),
    ``primer`` the short explanation of language models, ``consent_label`` and ``age_label`` the two
    statements a participant must agree to (consent, and being 18 or over).
    """

    title: str = "Your Feedback on AI Language Models"
    text: str = CONSENT_TEXT
    primer: str = PRIMER
    consent_label: str = vocab.CONSENT
    age_label: str = vocab.CONSENT_AGE


class ModelConfig(ModelSpec):
    """A model in the study: a :class:`pluralis.llm.ModelSpec` (same fields) with two conveniences
    in the study file: ``endpoint`` is accepted for ``base_url``, and ``roster = "gpt-4"`` takes PRISM's
    decoding parameters, provider and system prompt for that roster model (fields given override them).

    Example
    -------
    >>> m = ModelConfig.model_validate({"name": "m", "endpoint": "http://127.0.0.1:8000/v1"})
    >>> m.base_url, m.spec().name
    ('http://127.0.0.1:8000/v1', 'm')
    """

    @model_validator(mode="before")
    @classmethod
    def _sugar(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        data = dict(data)
        if "endpoint" in data:
            if data.get("base_url") not in (None, data["endpoint"]):
                raise ValueError("give either 'endpoint' or 'base_url', not both")
            data["base_url"] = data.pop("endpoint")
        if data.get("backend", "openai") == "openai" and not data.get("base_url") and data.get("provider") != "openai":
            # without an endpoint the OpenAI client falls back to api.openai.com: participants' prompts would
            # go to a third party nobody chose. Only an explicit provider = "openai" may do that.
            raise field_error(
                "endpoint",
                f'model {data.get("name")!r} has no endpoint; give endpoint = "http://HOST:PORT/v1" (its '
                'OpenAI-compatible server), or provider = "openai" to send participants\' prompts to OpenAI',
            )
        roster = data.pop("roster", None)
        if roster:
            base = ModelSpec.from_roster(roster).model_dump(exclude_unset=False)
            params = dict(base.pop("params"))
            params.update({k: v for k, v in (data.pop("params", None) or {}).items()})
            base.update(data)
            base["params"] = params
            data = base
        return data

    def spec(self) -> ModelSpec:
        """The plain :class:`ModelSpec` handed to :mod:`pluralis.llm`."""
        return ModelSpec(**self.model_dump())


def _default_models() -> list[ModelConfig]:
    return [
        ModelConfig(
            name=f"local-model-{c}",
            model="local-model",
            base_url="http://127.0.0.1:8000/v1",
            params=DecodingParams(temperature=1.0, max_tokens=256),
        )
        for c in "abcd"
    ]


class SamplingConfig(_Strict):
    """How the candidate responses of a turn are produced.

    ``mode``: ``"random"`` (PRISM: ``opening_models`` models chosen uniformly without replacement from the
    pool; a model that fails or times out is dropped, not resampled), ``"all"`` (every model in the pool),
    ``"nc"`` (Community Alignment: ``opening_models`` negatively-correlated candidates from ONE model, chosen at
    random from the pool or fixed by ``nc_model``). Later turns: ``later_samples`` samples of the locked model
    at ``later_temperature`` (> 0), or NC candidates when ``nc_later_turns``. ``opening_models`` left out is
    PRISM's 4 (fewer when the study has fewer models). ``timeout``: seconds a model may take (PRISM's 30).
    ``nc_method``: how NC candidates are asked for (``"single_call"``: all in one answer, the paper's method;
    ``"sequential"``: one call each, seeing the earlier ones; ``"auto"``: single call, topped up sequentially);
    ``nc_response_format``: the structured-output format sent with the single call (``None``: detected).
    ``seed``: the sampling's random seed (``None``: a fresh one per turn).
    """

    mode: Literal["random", "all", "nc"] = "random"
    #: ``None``: PRISM's 4, or every model when the study has fewer. A number given must not exceed the
    #: number of models in ``"random"`` mode (:attr:`StudyConfig.opening_count`).
    opening_models: int | None = Field(default=None, ge=1, le=8)
    later_samples: int = Field(default=2, ge=1, le=4)
    later_temperature: float = Field(default=1.0, gt=0.0, le=2.0)
    timeout: float = Field(default=DEFAULT_TIMEOUT, gt=0)
    nc_method: Literal["auto", "single_call", "sequential"] = "auto"
    nc_model: str | None = None
    nc_response_format: str | None = None
    nc_later_turns: bool = False
    seed: int | None = None


class ConversationType(_Strict):
    """A conversation type with its radio label, instruction and per-participant quota."""

    name: str
    label: str
    instruction: str
    quota: int = Field(default=2, ge=0, le=20)

    @field_validator("name")
    @classmethod
    def _known(cls, v: str) -> str:
        if v not in vocab.CONVERSATION_TYPES:
            raise ValueError(f"unknown conversation type {v!r}; expected one of {', '.join(vocab.CONVERSATION_TYPES)}")
        return v


def _default_types() -> list[ConversationType]:
    labels = {"unguided": "Unguided", "values guided": "Values guided", "controversy guided": "Controversy guided"}
    return [
        ConversationType(name=t, label=labels[t], instruction=vocab.CONVERSATION_TYPE_INSTRUCTIONS[t], quota=2)
        for t in vocab.CONVERSATION_TYPES
    ]


class ConversationsConfig(_Strict):
    """Conversation types, quotas, turn limits and the instructions shown (spec §1.3).

    ``types`` (name, label, instruction, quota each), ``min_turns``/``max_turns`` per conversation and
    ``prompt_max_chars`` per message. The texts participants read: ``choose_text`` (choosing a type),
    ``quota_text`` (the per-type quota), ``opening_text`` (the first message), ``inspiration_text`` (ideas
    for one), ``rate_text`` and ``rate_anchors`` (the rating sliders' question and end labels),
    ``untouched_text`` (a slider not moved, with ``require_slider_touch``) and ``continue_text`` (the next
    message or finish).
    """

    types: list[ConversationType] = Field(default_factory=_default_types)
    min_turns: int = Field(default=2, ge=1, le=50)
    max_turns: int = Field(default=10, ge=1, le=50)
    prompt_max_chars: int = Field(default=2000, ge=10, le=20000)
    choose_text: str = "Choose what type of conversation you want to have."
    quota_text: str = (
        "Remember if you are here as a paid study participant, you need to do two of each type. "
        "If you are here as a volunteer, then take your pick!"
    )
    opening_text: str = "Now start the conversation with your question, request or statement."
    inspiration_text: str = (
        "Need some inspiration? You can request help with a task (like writing a recipe, organising an activity "
        "or event, completing an assignment)... You can chitchat, have casual conversation or seek personal advice. "
        "You can ask questions about the world, current events or your viewpoints."
    )
    rate_text: str = "Rate the model responses. There are no right or wrong answers. Use your subjective judgement."
    rate_anchors: tuple[str, str] = ("Terrible", "Perfect")
    #: A rating counts only once its slider was moved (the page sends ``score_{id}__touched``): an untouched
    #: slider submitted at its default 50 is PRISM's spike at 50 (spec §1.3 step 4, App. O). On by default.
    require_slider_touch: bool = True
    untouched_text: str = "Please move this slider to give your rating (you can move it back to the middle)."
    continue_text: str = (
        "Now continue the conversation. Conversations can be between 2 and 10 turns. Try to vary the length. "
        "When you're done, click Finish."
    )

    @model_validator(mode="after")
    def _check(self) -> ConversationsConfig:
        if self.min_turns > self.max_turns:
            raise ValueError(f"min_turns ({self.min_turns}) is larger than max_turns ({self.max_turns})")
        repeat = first_repeat([t.name for t in self.types])
        if repeat is not None:
            i = repeat[0]
            raise field_error(f"types.{i}.name", f"conversation type {self.types[i].name!r} is listed twice")
        return self

    @property
    def total_quota(self) -> int:
        """Conversations each participant completes (sum of the type quotas).

        Example
        -------
        >>> ConversationsConfig().total_quota
        6
        """
        return sum(t.quota for t in self.types)

    def type(self, name: str) -> ConversationType:
        """The conversation type called ``name`` (:class:`ConfigError` when the study has none).

        Example
        -------
        >>> ConversationsConfig().type("values guided").quota
        2
        """
        for t in self.types:
            if t.name == name:
                return t
        raise ConfigError(f"unknown conversation type {name!r}; this study has {', '.join(t.name for t in self.types)}")


class Question(_Strict):
    """One survey question.

    ``kind`` is a registered question kind (:mod:`pluralis.collect.questions`): ``single`` (radio, one of
    ``options``), ``multi`` (checkboxes over ``items``, with an optional typed "Other"), ``vas`` (a group of
    hidden-number sliders, one per ``items`` entry, recorded ``scale_min``-``scale_max``, optional "other"
    slider + text), ``text`` (free text), ``country`` (one of the study's countries or "Prefer not to say"),
    ``category`` (one of ``options`` plus an optional self-description, used for ethnicity and religion), or
    any kind registered with :func:`~pluralis.collect.questions.register_question_kind`. ``id`` names the
    PRISM survey field it fills (:data:`~pluralis.collect.questions.BUILTIN_QUESTIONS`); other ids are kept
    under ``custom_survey`` in the participant record.

    Example
    -------
    >>> q = Question(id="pets", text="Which pets do you have?", kind="multi", items={"cat": "Cat", "dog": "Dog"})
    >>> q.question_kind.name, q.question_kind.macro
    ('multi', 'multi_question')
    """

    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    text: str
    kind: str
    options: list[str] = Field(default_factory=list)
    items: dict[str, str] = Field(default_factory=dict)
    other: bool = False
    other_text: str = "Other [Please type]"
    randomise: bool = False
    anchors: tuple[str, str] = ("Strongly disagree", "Strongly agree")
    scale_min: int = 0
    scale_max: int = 100
    required: bool = True
    min_chars: int = 0
    max_chars: int = 5000
    help: str | None = None
    #: ``attention`` questions: the answer that passes the check (one of ``options``).
    expected: str | None = None
    #: ``attention`` questions: how often a simulated participant passes the check.
    simulated_pass_rate: float = Field(default=0.95, ge=0.0, le=1.0)

    @field_validator("kind")
    @classmethod
    def _registered(cls, v: str) -> str:
        try:
            get_question_kind(v)
        except ConfigError as e:
            raise ValueError(str(e)) from None
        return v

    @model_validator(mode="after")
    def _check(self) -> Question:
        self.question_kind.check(self)
        if self.scale_min >= self.scale_max:
            raise ValueError(f"question {self.id!r}: scale_min must be below scale_max")
        return self

    @property
    def question_kind(self) -> QuestionKind:
        """The registered :class:`~pluralis.collect.questions.QuestionKind` of this question.

        Example
        -------
        >>> Question(id="why", text="Why?", kind="text").question_kind.macro
        'text_question'
        """
        return get_question_kind(self.kind)


class SurveySection(_Strict):
    """A page of the survey; ``show_if_any`` shows it only if some earlier answer is one of the listed values."""

    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    title: str
    intro: str | None = None
    questions: list[Question]
    show_if_any: dict[str, list[str]] = Field(default_factory=dict)


@functools.cache
def _shipped_study() -> dict[str, Any]:
    """The shipped PRISM study file, parsed (the one home of PRISM's survey texts)."""
    text = resources.files("pluralis.collect.defaults").joinpath(DEFAULT_STUDY_FILE).read_text("utf-8")
    return tomllib.loads(text)


@functools.cache
def _prism_sections() -> tuple[SurveySection, ...]:
    return tuple(SurveySection.model_validate(s) for s in _shipped_study()["survey"]["sections"])


def _default_sections() -> list[SurveySection]:
    """PRISM's survey (spec §1.2), as the shipped study file defines it."""
    return list(_prism_sections())


class SurveyConfig(_Strict):
    """The survey: ``sections`` (pages) of questions, PRISM's by default (spec §1.2).

    ``countries``: the country lists' entries ``(name, ISO3, UN M49 region, subregion)``, every UN member
    and observer state by default.
    """

    sections: list[SurveySection] = Field(default_factory=_default_sections)
    countries: list[tuple[str, str, str, str]] = Field(default_factory=lambda: list(COUNTRIES))

    @model_validator(mode="after")
    def _check(self) -> SurveyConfig:
        seen: dict[str, str] = {}
        for s in self.sections:
            for q in s.questions:
                if q.id in seen:
                    raise ValueError(f"survey question {q.id!r} appears twice (sections {seen[q.id]!r}, {s.id!r})")
                seen[q.id] = s.id
                rule = BUILTIN_QUESTIONS.get(q.id)
                if rule is not None and q.kind not in rule.kinds:
                    raise ValueError(f"survey question {q.id!r} must have kind {rule.kind!r}, not {q.kind!r}")
            for dep in s.show_if_any:
                if dep not in seen or seen[dep] == s.id:
                    raise ValueError(f"section {s.id!r}: show_if_any refers to {dep!r}, not asked on an earlier page")
        for s in self.sections:
            for q in s.questions:
                check_builtin_question(q.id, q.kind, q.required, list(q.items))
        missing = missing_builtin_questions(set(seen))
        if missing:
            raise ValueError(f"the survey must ask {', '.join(missing)} (PRISM survey fields)")
        if len({s.id for s in self.sections}) != len(self.sections):
            raise ValueError("survey section ids must be unique")
        return self

    def question(self, qid: str) -> Question:
        """The question with id ``qid`` (:class:`ConfigError` when the survey has none).

        Example
        -------
        >>> SurveyConfig().question("age").kind
        'single'
        """
        for s in self.sections:
            for q in s.questions:
                if q.id == qid:
                    return q
        raise ConfigError(f"no survey question {qid!r}")

    def country(self, name: str) -> tuple[str, str, str, str] | None:
        """``(name, ISO3, region, subregion)`` of a country of the study's list, by name (else ``None``).

        Example
        -------
        >>> SurveyConfig().country("Jamaica")
        ('Jamaica', 'JAM', 'Americas', 'Latin America and the Caribbean')
        """
        for c in self.countries:
            if c[0] == name:
                return (c[0], c[1], c[2], c[3])
        return None


class AttributesConfig(_Strict):
    """Fine-grained feedback statements after each conversation (performance and choice; 1-100 or N/A).

    ``performance`` and ``choice`` map each attribute to its statement (PRISM's by default);
    ``performance_text`` / ``choice_text`` introduce the statements, ``performance_anchors`` /
    ``choice_anchors`` label the sliders' ends; ``open_feedback_text`` asks for written feedback, with
    ``open_feedback_placeholder`` in the box and at least ``open_feedback_min_chars`` characters.
    """

    performance_text: str = (
        "Tell us how the model performed. Consider your first message and the top-rated response. Rate the "
        "following statements about the performance across different attributes. This response..."
    )
    performance: dict[str, str] = Field(default_factory=lambda: dict(vocab.PERFORMANCE_TEXT))
    performance_anchors: tuple[str, str] = ("Performed very poorly", "Performed very well")
    choice_text: str = (
        "Tell us why you chose this response over others. Consider your first message and top-rated response "
        "compared to other responses. Rate the following statements about the importance of different attributes "
        "in your decision. I chose this response..."
    )
    choice: dict[str, str] = Field(default_factory=lambda: dict(vocab.CHOICE_TEXT))
    choice_anchors: tuple[str, str] = ("Very unimportant", "Very important")
    open_feedback_text: str = (
        "Give the model some feedback on the conversation as whole. Hypothetically, what would an ideal "
        "interaction for you look like here? What was good and what was bad? What (if anything) was missing? What "
        "would you change to make the conversation better? Please write 2-5 sentences in your own words."
    )
    open_feedback_placeholder: str = "Enter text here. Do not copy and paste."
    open_feedback_min_chars: int = Field(default=10, ge=0)

    @field_validator("performance", "choice")
    @classmethod
    def _known(cls, v: dict[str, str]) -> dict[str, str]:
        unknown = [k for k in v if k not in vocab.ATTRIBUTES]
        if unknown:
            raise ValueError(f"unknown attribute(s) {unknown}; expected a subset of {list(vocab.ATTRIBUTES)}")
        return v


class QuotaCell(_Strict):
    """An explicit sample quota: participants whose answers match every ``match`` entry, at most ``target``."""

    name: str
    match: dict[str, str]
    target: int = Field(ge=0)


class QuotasConfig(_Strict):
    """Sample quotas of ``kind`` ``none``, ``census`` or ``cells``, for a sample of ``total`` participants.
    ``census``: PRISM App. L cells (age x census ethnicity x gender) of ``country``'s census,
    target ``int(share% * total / 100) + 1`` each; ``cells``: the listed ``cells``. ``over_quota``: ``allow``
    (track only) or ``screen_out`` (a participant in a full cell keeps their survey, flagged ``survey_only``,
    and is not given conversations)."""

    kind: Literal["none", "census", "cells"] = "none"
    country: str = "US"
    total: int = Field(default=300, ge=1)
    over_quota: Literal["allow", "screen_out"] = "allow"
    cells: list[QuotaCell] = Field(default_factory=list)

    @model_validator(mode="after")
    def _check(self) -> QuotasConfig:
        if self.kind == "cells" and not self.cells:
            raise ValueError("quotas.kind = 'cells' needs [[quotas.cells]]")
        if self.kind == "census":
            from pluralis.census.targets import normalise_country

            try:
                normalise_country(self.country)
            except ConfigError as e:  # located at quotas.country, like every other field's problem
                raise field_error("country", str(e)) from None
        return self


class CompletionConfig(_Strict):
    """End of the study: a completion code (fixed, e.g. Prolific's, or generated per participant) and a redirect.

    Participants screened out after the survey (``[quotas] over_quota = "screen_out"``) get their own code and
    redirect (``screened_out_code``, e.g. Prolific's code for a partial payment; generated per participant when
    not given) so that they can be paid for the survey. ``{code}`` in a redirect URL is replaced by the
    participant's code. Redirects must be ``http(s)://`` addresses. ``message`` and ``screened_out_message``
    are the texts of the two end pages.

    Example
    -------
    >>> c = CompletionConfig(code="C1", redirect_url="https://app.prolific.com/submissions/complete?cc={code}")
    >>> c.redirect_for("C1")
    'https://app.prolific.com/submissions/complete?cc=C1'
    >>> CompletionConfig(screened_out_redirect_url="https://example.org/?cc={code}").redirect_for("X9", screened_out=True)
    'https://example.org/?cc=X9'
    """

    code: str | None = None
    redirect_url: str | None = None
    message: str = "Thank you for taking part! Your answers have been saved."
    screened_out_code: str | None = None
    screened_out_redirect_url: str | None = None
    screened_out_message: str = (
        "Thank you for completing the survey. We already have enough participants with a profile like yours, so "
        "the study ends here for you. Your survey answers have been saved."
    )

    @field_validator("redirect_url", "screened_out_redirect_url")
    @classmethod
    def _web_address(cls, v: str | None, info: Any) -> str | None:
        return _http_url(v, info.field_name)

    @field_validator("code", "screened_out_code")
    @classmethod
    def _code(cls, v: str | None) -> str | None:
        if v is not None and not re.fullmatch(r"[A-Za-z0-9_-]{1,64}", v):
            raise ValueError(f"completion codes are 1-64 letters, digits, '-' or '_', got {v!r}")
        return v

    def redirect_for(self, code: str | None, *, screened_out: bool = False) -> str | None:
        """The redirect URL for a participant with ``code`` (``{code}`` filled in), or ``None``.

        Example
        -------
        >>> CompletionConfig().redirect_for("ABC") is None
        True
        """
        from urllib.parse import quote

        url = self.screened_out_redirect_url if screened_out else self.redirect_url
        if url is None:
            return None
        return url.replace("{code}", quote(code or "", safe=""))


class RecruitmentConfig(_Strict):
    """What the study takes from its entry URL (a recruitment platform's parameters, e.g. Prolific's).

    ``url_params`` are captured when a participant joins and kept in a separate table
    (``collect_entry_params``), never in the PRISM files; ``pluralis participants payments`` exports them
    for payment matching. ``external_id_param`` is the one that identifies a participant on the platform
    (one study place per value). Values longer than ``max_chars`` are cut; parameters not listed are ignored.

    Example
    -------
    >>> RecruitmentConfig().url_params, RecruitmentConfig().external_id_param
    (['PROLIFIC_PID', 'STUDY_ID', 'SESSION_ID'], 'PROLIFIC_PID')
    """

    url_params: list[str] = Field(default_factory=lambda: list(PROLIFIC_URL_PARAMS))
    external_id_param: str | None = "PROLIFIC_PID"
    max_chars: int = Field(default=128, ge=8, le=1024)

    @field_validator("url_params")
    @classmethod
    def _names(cls, v: list[str]) -> list[str]:
        bad = [n for n in v if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]{0,63}", n)]
        if bad:
            raise ValueError(f"URL parameter names are letters, digits and '_': {bad}")
        if len(set(v)) != len(v):
            raise ValueError(f"URL parameters listed twice: {v}")
        return v

    @model_validator(mode="after")
    def _listed(self) -> RecruitmentConfig:
        if self.external_id_param is not None and self.external_id_param not in self.url_params:
            raise ValueError(f"external_id_param {self.external_id_param!r} must be one of url_params")
        return self


class QualityConfig(_Strict):
    """Quality control (spec §8.1; :mod:`pluralis.collect.quality`): the thresholds of the scripted checks.

    ``fast_sd``: a duration below mean - ``fast_sd`` * sd is "very fast" (reject); ``min_conversations``: fewer
    is "quota not filled" (``None``: the study's conversation quota, 6 in PRISM); ``slider_default``: the value
    counted as "left at the default"; ``attention_signal``: what failing more than
    ``attention_allowed_failures`` attention checks (questions of kind ``attention``) signals; ``mobile_markers``:
    operating systems that signal "return" (PRISM: iPhone, Android).

    Example
    -------
    >>> QualityConfig().fast_sd, QualityConfig().attention_signal
    (3.0, 'reject')
    """

    fast_sd: float = Field(default=3.0, gt=0)
    min_conversations: int | None = Field(default=None, ge=0)
    slider_default: int = 50
    attention_signal: Literal["reject", "return", "investigate"] = "reject"
    attention_allowed_failures: int = Field(default=0, ge=0)
    mobile_markers: list[str] = Field(default_factory=lambda: ["iPhone", "Android"])


class LimitsConfig(_Strict):
    """Rate limits: ``llm_requests_per_minute`` (LLM-triggering requests per participant per minute),
    ``joins_per_minute_per_ip`` (joins per client address per minute; 0 = unlimited),
    ``max_concurrent_model_calls`` (model calls in flight across all participants) and ``max_participants``
    (participants per study who hold a place: everyone who joined, except those a full quota cell screened
    out; ``None``: no limit)."""

    llm_requests_per_minute: int = Field(default=12, ge=0)
    joins_per_minute_per_ip: int = Field(default=30, ge=0)
    max_concurrent_model_calls: int = Field(default=256, ge=1)
    max_participants: int | None = Field(default=None, ge=1)


class AdminConfig(_Strict):
    """The admin token comes from the environment variable ``token_env`` (never from the study file).

    The dashboard ranks models per group of ``group_fields``; groups with fewer than ``min_group_size``
    participants are shown as "too few"; intervals come from ``bootstrap_rounds`` participant resamples.
    """

    token_env: str = "PLURALIS_ADMIN_TOKEN"
    group_fields: list[str] = Field(default_factory=lambda: ["age", "gender", "ethnicity", "special_region"])
    min_group_size: int = Field(default=5, ge=1)
    bootstrap_rounds: int = Field(default=200, ge=10, le=5000)


class ServerConfig(_Strict):
    """How participants reach the app (``pluralis serve --public-url`` / ``--forwarded-allow-ips`` override these).

    ``public_url``: the address participants use (``https://study.example.org``, or with a sub-path
    ``https://example.org/study1``), used in resume links and page links. ``trusted_proxies``: addresses or
    networks (``"10.0.0.0/8"``; ``"*"`` for any) of the reverse proxies whose ``X-Forwarded-For``/``-Proto``/
    ``-Host`` headers are believed; from anyone else those headers are ignored.

    Example
    -------
    >>> ServerConfig(public_url="https://study.example.org/", trusted_proxies=["127.0.0.1"]).public_url
    'https://study.example.org'
    """

    public_url: str | None = None
    trusted_proxies: list[str] = Field(default_factory=list)

    @field_validator("public_url")
    @classmethod
    def _public(cls, v: str | None) -> str | None:
        if v is None:
            return v
        parts = urlsplit(v.strip())
        if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
            raise ValueError(
                f"public_url must be an http:// or https:// address without ?query or #fragment, got {v!r}"
            )
        return v.strip().rstrip("/")

    @field_validator("trusted_proxies")
    @classmethod
    def _networks(cls, v: list[str]) -> list[str]:
        for item in v:
            if item != "*":
                try:
                    ipaddress.ip_network(item, strict=False)
                except ValueError:
                    raise ValueError(f"trusted_proxies: {item!r} is not an IP address, a network or '*'") from None
        return v


# --- the study ---------------------------------------------------------------------------------


class StudyConfig(_Strict):
    """A whole study definition (see the module docs for the file layout).

    Example
    -------
    >>> cfg = StudyConfig.model_validate({"models": [{"name": "a", "endpoint": "http://127.0.0.1:9/v1"}],
    ...                                   "conversations": {"types": [{"name": "unguided", "label": "Unguided",
    ...                                                                "instruction": "Anything!", "quota": 1}]}})
    >>> cfg.conversations.total_quota, cfg.model_names()
    (1, ['a'])
    """

    study: StudyInfo = Field(default_factory=StudyInfo)
    consent: ConsentConfig = Field(default_factory=ConsentConfig)
    models: list[ModelConfig] = Field(default_factory=_default_models)
    sampling: SamplingConfig = Field(default_factory=SamplingConfig)
    conversations: ConversationsConfig = Field(default_factory=ConversationsConfig)
    survey: SurveyConfig = Field(default_factory=SurveyConfig)
    attributes: AttributesConfig = Field(default_factory=AttributesConfig)
    quotas: QuotasConfig = Field(default_factory=QuotasConfig)
    completion: CompletionConfig = Field(default_factory=CompletionConfig)
    recruitment: RecruitmentConfig = Field(default_factory=RecruitmentConfig)
    quality: QualityConfig = Field(default_factory=QualityConfig)
    limits: LimitsConfig = Field(default_factory=LimitsConfig)
    admin: AdminConfig = Field(default_factory=AdminConfig)
    server: ServerConfig = Field(default_factory=ServerConfig)

    @model_validator(mode="after")
    def _check(self) -> StudyConfig:
        if not self.models:
            raise field_error("models", "a study needs at least one model ([[models]] with name and endpoint)")
        names = self.model_names()
        repeat = first_repeat(names)
        if repeat is not None:
            i, first = repeat
            raise field_error(
                f"models.{i}.name",
                f"duplicate model name {names[i]!r} (also models.{first}); each model needs its own name",
            )
        if self.sampling.nc_model is not None and self.sampling.nc_model not in names:
            raise field_error("sampling.nc_model", f"{self.sampling.nc_model!r} is not one of the models")
        k = self.sampling.opening_models
        if self.sampling.mode == "random" and k is not None and k > len(names):
            raise field_error(
                "sampling.opening_models",
                f"{k} opening models asked for, but the study has {len(names)} model(s); "
                f"use at most {len(names)} (or leave it out: PRISM's 4, or every model when there are fewer)",
            )
        if self.conversations.total_quota == 0:
            raise field_error(  # the first type's quota: a line in the file even without a [conversations] table
                "conversations.types.0.quota" if self.conversations.types else "conversations.types",
                "every conversation type has quota 0: a participant would have nothing to do",
            )
        self._check_quota_cells()
        return self

    def _check_quota_cells(self) -> None:
        """Each ``[[quotas.cells]]`` match names a survey question and an answer it can have (a cell that
        matches nothing would never fill, silently)."""
        if self.quotas.kind != "cells":
            return
        questions = {q.id: q for s in self.survey.sections for q in s.questions}
        # one target per name: a second cell of that name would replace the first
        repeat = first_repeat([c.name for c in self.quotas.cells])
        if repeat is not None:
            i = repeat[0]
            raise field_error(f"quotas.cells.{i}.name", f"quota cell {self.quotas.cells[i].name!r} is listed twice")
        for i, cell in enumerate(self.quotas.cells):
            for key, value in cell.match.items():
                where = f"quotas.cells.{i}.match.{key}"
                q = questions.get(key)
                if q is None:
                    raise field_error(
                        where, f"quota cell {cell.name!r} matches {key!r}, which is not a survey question id"
                    )
                answers = [v for v, _label in q.question_kind.choices(q)]
                if q.kind == "country":
                    known = value == vocab.PREFER_NOT_TO_SAY or self.survey.country(value) is not None
                else:
                    known = not answers or value in answers
                if not known:
                    shown = f"; its answers are {', '.join(map(repr, answers))}" if answers else ""
                    raise field_error(
                        where,
                        f"quota cell {cell.name!r} matches {key} = {value!r}, which is not an answer of "
                        f"question {key!r}{shown}",
                    )

    @property
    def opening_count(self) -> int:
        """Responses in an opening turn: ``sampling.opening_models``, else PRISM's 4 (``"random"`` mode: at
        most the number of models; ``"all"`` mode: every model).

        Example
        -------
        >>> StudyConfig().opening_count, StudyConfig().with_models([{"name": "a", "endpoint": "http://h:1/v1"}]).opening_count
        (4, 1)
        """
        n = len(self.models)
        if self.sampling.mode == "all":
            return n
        k = self.sampling.opening_models or OPENING_TURN_MODELS
        return k if self.sampling.mode == "nc" else min(k, n)

    def model_names(self) -> list[str]:
        """Names of the study's models, as recorded in ``model_name``.

        Example
        -------
        >>> StudyConfig().model_names()
        ['local-model-a', 'local-model-b', 'local-model-c', 'local-model-d']
        """
        return [m.name for m in self.models]

    def model_specs(self) -> dict[str, ModelSpec]:
        """``{name: ModelSpec}`` for :mod:`pluralis.llm`.

        Example
        -------
        >>> StudyConfig().model_specs()["local-model-a"].params.max_tokens
        256
        """
        return {m.name: m.spec() for m in self.models}

    def with_models(self, models: list[dict | ModelConfig]) -> StudyConfig:
        """A copy with a different model list (e.g. to point a study at test servers).

        Example
        -------
        >>> StudyConfig().with_models([{"name": "x", "endpoint": "http://127.0.0.1:1/v1"}]).model_names()
        ['x']
        """
        data = self.model_dump(mode="json")
        data["models"] = [m.model_dump(mode="json") if isinstance(m, BaseModel) else m for m in models]
        return StudyConfig.model_validate(data)


def _read(path: Path) -> dict:
    try:
        text = path.read_text("utf-8")
    except OSError as e:
        raise ConfigError(f"{path}: cannot read study definition: {e}") from e
    suffix = path.suffix.lower()
    try:
        if suffix == ".toml":
            return tomllib.loads(text)
        if suffix in (".yaml", ".yml"):
            try:
                import yaml
            except ImportError as e:
                raise ConfigError(f"{path}: reading YAML needs PyYAML (pip install pyyaml), or use TOML") from e
            data = yaml.safe_load(text)
            return data or {}
        if suffix == ".json":
            return json.loads(text)
    except tomllib.TOMLDecodeError as e:
        at = re.search(r" \(at line (\d+), column (\d+)\)$", str(e))  # file:line:column, like every other error
        where, msg = (f"{path}:{at[1]}:{at[2]}", str(e)[: at.start()]) if at else (f"{path}", str(e))
        raise ConfigError(f"{where}: not valid TOML: {msg}") from e
    except json.JSONDecodeError as e:
        raise ConfigError(f"{path}:{e.lineno}:{e.colno}: not valid JSON: {e.msg}") from e
    except ConfigError:
        raise
    except Exception as e:  # yaml errors: one line, at the problem's line and column (not the parser's dump)
        mark = getattr(e, "problem_mark", None)
        if mark is not None:
            what = " ".join(str(getattr(e, "problem", None) or "cannot be parsed").split())
            raise ConfigError(f"{path}:{mark.line + 1}:{mark.column + 1}: not valid YAML: {what}") from e
        raise ConfigError(f"{path}: not valid YAML: {' '.join(str(e).split())}") from e
    raise ConfigError(f"{path}: unknown study file type {suffix!r}; use .toml, .yaml or .json")


_TOML_HEADER = re.compile(r"^\s*(\[\[?)\s*([^\]]+?)\s*\]\]?\s*(?:#.*)?$")
_TOML_KEY = re.compile(
    r"^\s*((?:[A-Za-z0-9_-]+|\"[^\"]*\"|'[^']*')(?:\s*\.\s*(?:[A-Za-z0-9_-]+|\"[^\"]*\"|'[^']*'))*)\s*="
)


def _toml_keys(dotted: str) -> list[str]:
    parts = re.findall(r'"[^"]*"|\'[^\']*\'|[A-Za-z0-9_-]+', dotted)
    return [x[1:-1] if x[:1] in "\"'" else x for x in parts]


def toml_key_lines(text: str) -> dict[tuple, int]:
    """Line number (1-based) of every table header and key in a TOML text, by its path in the parsed data
    (array-of-tables elements by index). Best effort, for error messages.

    Parameters
    ----------
    text : str
        The TOML text.

    Returns
    -------
    dict of tuple to int
        Key path -> 1-based line number of its first occurrence.

    Example
    -------
    >>> lines = toml_key_lines('[sampling]\\nmode = "x"\\n[[models]]\\nname = "a"\\n[[models]]\\nname = "b"\\n')
    >>> lines[("sampling", "mode")], lines[("models", 1, "name")]
    (2, 6)
    """
    out: dict[tuple, int] = {}
    arrays: dict[tuple, int] = {}
    prefix: tuple = ()
    quote: str | None = None
    for no, line in enumerate(text.splitlines(), start=1):
        if quote is not None:  # inside a multi-line string
            if line.count(quote) % 2 == 1:
                quote = None
            continue
        header = _TOML_HEADER.match(line)
        if header:
            keys = _toml_keys(header.group(2))
            path: tuple = ()
            for i, k in enumerate(keys):
                path += (k,)
                last = i == len(keys) - 1
                if last and header.group(1) == "[[":
                    arrays[path] = arrays.get(path, 0) + 1
                    path += (arrays[path] - 1,)
                elif path in arrays:
                    path += (arrays[path] - 1,)
            prefix = path
            out.setdefault(prefix, no)
            continue
        key = _TOML_KEY.match(line)
        if key:
            out.setdefault(prefix + tuple(_toml_keys(key.group(1))), no)
            rest = line[key.end() :]
            for q in ('"""', "'''"):
                if rest.count(q) % 2 == 1:
                    quote = q
                    break
    return out


def yaml_key_lines(text: str) -> dict[tuple, int]:
    """Line number (1-based) of every mapping key and sequence item in a YAML text, by its path.

    Parameters
    ----------
    text : str
        The YAML text.

    Returns
    -------
    dict of tuple to int
        Key path -> 1-based line number (``{}`` when the text does not parse).

    Example
    -------
    >>> yaml_key_lines("models:\\n  - name: a\\n    timeout: -1\\n")[("models", 0, "timeout")]
    3
    """
    import yaml

    out: dict[tuple, int] = {}

    def walk(node, path: tuple) -> None:
        out.setdefault(path, node.start_mark.line + 1)
        if isinstance(node, yaml.MappingNode):
            for k, v in node.value:
                key = k.value if isinstance(k, yaml.ScalarNode) else str(k.value)
                out.setdefault(path + (key,), k.start_mark.line + 1)
                walk(v, path + (key,))
        elif isinstance(node, yaml.SequenceNode):
            for i, v in enumerate(node.value):
                walk(v, path + (i,))

    try:
        root = yaml.compose(text)
    except Exception:
        return out
    if root is not None:
        walk(root, ())
    return out


def where_in_file(path: Path | str, loc: tuple, lines: dict[tuple, int] | None) -> str:
    """``file:line`` of a field (by its path in the parsed data), else of the nearest table that holds it,
    else just ``file``.

    Parameters
    ----------
    path : str or pathlib.Path
        The file, as shown in the message.
    loc : tuple
        The field's path in the parsed data (keys and list indexes).
    lines : dict of tuple to int or None
        Line numbers by key path (from :func:`study_key_lines`); ``None`` or empty gives just the file.

    Returns
    -------
    str
        ``"file:line"`` or ``"file"``.

    Example
    -------
    >>> where_in_file("s.toml", ("models", 0, "endpoint"), {("models", 0): 7})
    's.toml:7'
    """
    if lines:
        for n in range(len(loc), 0, -1):  # the field itself, else the nearest table that holds it
            if loc[:n] in lines:
                return f"{path}:{lines[loc[:n]]}"
    return f"{path}"


def _error_loc(err: Any) -> tuple:
    loc = tuple(err["loc"])
    field = (err.get("ctx") or {}).get("field") if err.get("type") == "study_field" else None
    if field:
        loc += tuple(int(x) if x.isdigit() else x for x in str(field).split("."))
    return loc


def _format_errors(path: Path | str, exc: ValidationError, lines: dict[tuple, int] | None = None) -> str:
    out = []
    for err in exc.errors():
        loc = _error_loc(err)
        shown = ".".join(str(x) for x in loc) or "(top level)"
        out.append(f"{where_in_file(path, loc, lines)}: {shown}: {err['msg']}")
    return "\n".join(out)


def study_key_lines(path: str | Path) -> dict[tuple, int]:
    """Line numbers of the keys and tables of a TOML or YAML study file, by their path in the parsed data
    (``{}`` for other files or when the file cannot be read; line numbers are a courtesy in messages).

    Parameters
    ----------
    path : str or pathlib.Path
        The study file (``.toml``, ``.yaml`` or ``.yml``; other suffixes give ``{}``).

    Returns
    -------
    dict of tuple to int
        Key path -> 1-based line number.

    Example
    -------
    >>> study_key_lines(default_study_path())[("sampling", "timeout")] > 1
    True
    """
    path = Path(path)
    try:
        text = path.read_text("utf-8")
        suffix = path.suffix.lower()
        if suffix == ".toml":
            return toml_key_lines(text)
        if suffix in (".yaml", ".yml"):
            return yaml_key_lines(text)
    except Exception:  # line numbers are a courtesy; never hide the real error
        pass
    return {}


_key_lines = study_key_lines


def load_study_config(path: str | Path | None = None) -> StudyConfig:
    """Read and validate a study definition (TOML, YAML or JSON); ``None`` loads the shipped PRISM study.

    Errors are :class:`ConfigError` naming the file, the line and the field
    (``study.toml:97: sampling.timeout: Input should be greater than 0``), every problem at once. Nothing
    is silently filled in where a study must decide: a file without ``[[models]]`` is an error (unless
    ``[study] source = "simulated"``, whose models come from the simulation), as is a model without
    ``endpoint`` (unless ``provider = "openai"``) and ``opening_models`` above the number of models.
    Placeholders of the shipped template are allowed here; :func:`pluralis.collect.check.check_study`
    refuses them before a study is served.

    Parameters
    ----------
    path : str or pathlib.Path, optional
        The study file (``.toml``, ``.yaml``/``.yml`` or ``.json``); ``None`` (default) loads the shipped
        PRISM study.

    Returns
    -------
    StudyConfig
        The validated study definition.

    Example
    -------
    >>> cfg = load_study_config()
    >>> cfg.conversations.min_turns, cfg.conversations.max_turns, len(cfg.survey.sections)
    (2, 10, 4)
    """
    if path is None:
        data, shown = copy.deepcopy(_shipped_study()), f"<package>/{DEFAULT_STUDY_FILE}"
    else:
        p = Path(path)
        data, shown = _read(p), str(p)
    if not isinstance(data, dict):
        raise ConfigError(f"{shown}: a study definition must be a table/mapping at the top level")
    problems: list[str] = []
    simulated = isinstance(data.get("study"), dict) and data["study"].get("source") == "simulated"
    if "models" not in data and not simulated:
        problems.append(
            f"{shown}: models: the study lists no models; add a [[models]] table per model with name and "
            'endpoint (e.g. endpoint = "http://127.0.0.1:8000/v1"), as in `pluralis serve --init`'
        )
    try:
        config = StudyConfig.model_validate(data)
    except ValidationError as e:
        lines = _key_lines(Path(path)) if path is not None else {}
        problems.append(_format_errors(shown, e, lines))
    if problems:
        raise ConfigError("invalid study definition:\n" + "\n".join(problems))
    return config


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, str):
        if "\n" in v and '"""' not in v and "\\" not in v:
            return '"""\n' + v + '"""'
        return json.dumps(v, ensure_ascii=False)
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{ " + ", ".join(f"{_toml_key(k)} = {_toml_value(x)}" for k, x in v.items()) + " }"
    raise TypeError(f"cannot write {type(v).__name__} as TOML")


def _toml_key(k: str) -> str:
    return k if k.replace("_", "").replace("-", "").isalnum() else json.dumps(k)


def _toml_table(prefix: str, data: dict, out: list[str], array: bool = False) -> None:
    scalars = {k: v for k, v in data.items() if v is not None and not _is_table(v) and not _is_table_array(v)}
    out.append(f"\n[[{prefix}]]" if array else f"\n[{prefix}]")
    for k, v in scalars.items():
        out.append(f"{_toml_key(k)} = {_toml_value(v)}")
    for k, v in data.items():
        if _is_table(v):
            _toml_table(f"{prefix}.{_toml_key(k)}", v, out)
        elif _is_table_array(v):
            for item in v:
                _toml_table(f"{prefix}.{_toml_key(k)}", item, out, array=True)


def _is_table(v: Any) -> bool:
    return (
        isinstance(v, dict)
        and any(isinstance(x, (dict, list)) for x in v.values())
        or (isinstance(v, dict) and len(v) > 4)
    )


def _is_table_array(v: Any) -> bool:
    return isinstance(v, list) and bool(v) and all(isinstance(x, dict) for x in v)


def study_to_toml(config: StudyConfig, *, sections: tuple[str, ...] | None = None) -> str:
    """Write a study definition as TOML (what ``pluralis serve --init`` writes; reads back equal).

    Parameters
    ----------
    config : StudyConfig
        The study definition.
    sections : tuple of str, optional
        Top-level sections to write (e.g. ``("study", "models")``); ``None`` (default) writes all.

    Returns
    -------
    str
        The TOML text (the built-in country list is left out, being the default).

    Example
    -------
    >>> cfg = StudyConfig()
    >>> StudyConfig.model_validate(tomllib.loads(study_to_toml(cfg))) == cfg
    True
    """
    data = config.model_dump(mode="json", exclude_none=True)
    if [tuple(c) for c in data.get("survey", {}).get("countries", [])] == list(COUNTRIES):
        del data["survey"]["countries"]  # the built-in list (200+ rows) is the default; keep the file readable
    out: list[str] = []
    for key, value in data.items():
        if sections is not None and key not in sections:
            continue
        if _is_table_array(value):
            for item in value:
                _toml_table(key, item, out, array=True)
        else:
            _toml_table(key, value, out)
    return "\n".join(out).lstrip("\n") + "\n"


def default_study_path() -> Path:
    """Path of the shipped PRISM study definition (copy it to start a new study).

    Example
    -------
    >>> default_study_path().name
    'prism_study.toml'
    """
    return Path(str(resources.files("pluralis.collect.defaults").joinpath(DEFAULT_STUDY_FILE)))


def iter_settings(model: type[BaseModel] | None = None, prefix: str = "") -> list[tuple[str, str, Any, str]]:
    """Every setting of the study file: ``(section, path, default, section docstring)``, in file order.

    What ``pluralis study settings`` prints; nested sections (``[sampling]``, ``[limits]``, ...) are
    walked, lists of records (``[[models]]``, survey sections) are one setting each.

    Parameters
    ----------
    model
        The section to walk (default: the whole :class:`StudyConfig`).
    prefix
        The section's path (``"limits."``).

    Returns
    -------
    list of tuple

    Example
    -------
    >>> rows = iter_settings()
    >>> ("limits", "limits.llm_requests_per_minute", 12) in [r[:3] for r in rows]
    True
    """
    model = model or StudyConfig
    out: list[tuple[str, str, Any, str]] = []
    for name, field in model.model_fields.items():
        ann = field.annotation
        section = next((t for t in (ann, *get_args(ann)) if isinstance(t, type) and issubclass(t, BaseModel)), None)
        if section is not None and not get_args(ann):
            out += iter_settings(section, f"{prefix}{name}.")
        else:
            default = field.get_default(call_default_factory=True)
            out.append((prefix.rstrip(".") or "(top)", f"{prefix}{name}", default, inspect_doc(model)))
    return out


def inspect_doc(model: type) -> str:
    """A class's docstring without its Example section (for reference listings).

    Parameters
    ----------
    model
        A settings section.

    Returns
    -------
    str

    Example
    -------
    >>> inspect_doc(LimitsConfig).split(":")[0]
    'Rate limits'
    """
    import inspect

    doc = inspect.getdoc(model) or ""
    return doc.split("\nExample\n")[0].strip()


__all__ = [
    "iter_settings",
    "inspect_doc",
    "AdminConfig",
    "AttributesConfig",
    "BUILTIN_QUESTIONS",
    "COUNTRIES",
    "CompletionConfig",
    "ConsentConfig",
    "ConversationType",
    "ConversationsConfig",
    "LimitsConfig",
    "ModelConfig",
    "Question",
    "QuotaCell",
    "PROLIFIC_URL_PARAMS",
    "QualityConfig",
    "QuotasConfig",
    "RecruitmentConfig",
    "SamplingConfig",
    "ServerConfig",
    "StudyConfig",
    "StudyInfo",
    "SurveyConfig",
    "SurveySection",
    "default_study_path",
    "field_error",
    "load_study_config",
    "study_key_lines",
    "study_to_toml",
    "toml_key_lines",
    "where_in_file",
    "yaml_key_lines",
]
