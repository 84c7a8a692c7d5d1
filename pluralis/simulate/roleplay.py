"""LLM role-play of personas (PERSONA-style): an LLM plays the participant through the protocol.

:class:`RolePlayAgent` shows the LLM a persona card (demographics, values, personality, interests,
self-description and what the persona wants from an AI) and asks, at each protocol step, for one
JSON action:

=====================  ==========================================================================
step                   reply the LLM must give
=====================  ==========================================================================
open a conversation    ``{"conversation_type": "...", "opening_prompt": "..."}``
rate responses         ``{"ratings": [n1, n2, ...]}`` (1-100, one per response, in the order shown)
continue or stop       ``{"action": "continue" | "finish", "message": "..."}``
feedback               ``{"performance": {attr: 1-100 | null}, "choice": {...}, "open_feedback": "..."}``
=====================  ==========================================================================

Replies are parsed robustly (:func:`parse_json_object`: code fences, prose around the object,
single quotes, trailing commas, Python literals) and validated; an invalid reply is sent back
with the error and retried (``max_retries``). When every try fails, the action comes from the
persona's :class:`~pluralis.simulate.agents.PreferenceAgent` instead — a *fallback* that is
counted (``stats["fallbacks"]``) and flagged in ``Participant.persona["simulation"]``.

Calls are concurrent (``asyncio``; ``max_concurrency`` LLM calls in flight across participants)
and every attempt is logged by :class:`CostLog` (JSONL: step, tokens, latency, outcome, cost).
The survey itself is answered from the persona's census draw and rendered texts (the persona
*is* the sampled person; the LLM acts it out in the conversations).

Example
-------
>>> parse_json_object('Sure! ```json\\n{"ratings": [70, 40,],}\\n```')
{'ratings': [70, 40]}
"""

from __future__ import annotations

import ast
import asyncio
import json
import re
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pluralis.data import vocab
from pluralis.errors import ConfigError
from pluralis.simulate import texts
from pluralis.simulate.agents import PreferenceAgent


class ActionError(ValueError):
    """An LLM reply that is not a valid action (the message says why; it is sent back to the LLM)."""


# --- parsing ---------------------------------------------------------------------------------------


def _first_object(text: str) -> str | None:
    start = text.find("{")
    while start != -1:
        depth, in_str, esc, quote = 0, False, False, ""
        for i in range(start, len(text)):
            ch = text[i]
            if in_str:
                if esc:
                    esc = False
                elif ch == "\\":
                    esc = True
                elif ch == quote:
                    in_str = False
            elif ch in "\"'":
                in_str, quote = True, ch
            elif ch == "{":
                depth += 1
            elif ch == "}":
                depth -= 1
                if depth == 0:
                    return text[start : i + 1]
        start = text.find("{", start + 1)
    return None


def parse_json_object(text: str) -> dict[str, Any]:
    """The first JSON object in an LLM reply, repaired where that is unambiguous; :class:`ActionError` otherwise.

    Parameters
    ----------
    text
        the reply.

    Returns
    -------
    dict

    Example
    -------
    >>> parse_json_object("{'action': 'finish', 'message': None}")
    {'action': 'finish', 'message': None}
    """
    if not isinstance(text, str) or not text.strip():
        raise ActionError("the reply was empty; answer with one JSON object")
    t = re.sub(r"```(?:json|JSON)?", "", text).replace("\u201c", '"').replace("\u201d", '"')
    t = t.replace("\u2018", "'").replace("\u2019", "'")
    candidate = _first_object(t)
    if candidate is None:
        raise ActionError("no JSON object found in the reply; answer with one JSON object and nothing else")
    attempts = [candidate, re.sub(r",\s*([}\]])", r"\1", candidate)]
    for a in attempts:
        try:
            out = json.loads(a)
            if isinstance(out, dict):
                return out
        except json.JSONDecodeError:
            pass
    py = re.sub(r",\s*([}\]])", r"\1", candidate)
    py = re.sub(r"\btrue\b", "True", re.sub(r"\bfalse\b", "False", re.sub(r"\bnull\b", "None", py)))
    try:
        out = ast.literal_eval(py)
        if isinstance(out, dict):
            return out
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        pass
    raise ActionError("the reply is not valid JSON; use double quotes and no comments")


_PLACEHOLDER = re.compile(r"^\s*<[^<>]*>\s*$|<your [^<>]*>|^\s*(?:\.\.\.|…)\s*$", re.IGNORECASE)


def _own_words(text: str, what: str) -> str:
    """Reject a placeholder echoed from the instructions (small models copy ``<your message>``)."""
    if _PLACEHOLDER.search(text):
        raise ActionError(
            f"{what} {text!r} is a placeholder, not a message; write the actual message in your own words"
        )
    return text


def _score(v: Any, what: str) -> int:
    if isinstance(v, bool):
        raise ActionError(f"{what} must be a number from 1 to 100")
    try:
        x = float(str(v).strip().rstrip("%"))
    except (TypeError, ValueError):
        raise ActionError(f"{what} must be a number from 1 to 100, got {v!r}") from None
    if not 0 <= x <= 100:
        raise ActionError(f"{what} must be between 1 and 100, got {v!r}")
    return int(min(100, max(1, round(x))))


def validate_open(obj: dict, available: list[str], max_chars: int = 2000) -> tuple[str, str]:
    """Check an opening action; returns (conversation type, prompt).

    Parameters
    ----------
    obj
        the parsed action.
    available
        conversation types with quota left.
    max_chars
        longest prompt accepted.

    Returns
    -------
    tuple of (str, str)

    Example
    -------
    >>> validate_open({"conversation_type": "Values", "opening_prompt": "How do I stay kind?"}, ["unguided", "values guided"])
    ('values guided', 'How do I stay kind?')
    """
    raw = str(obj.get("conversation_type", "")).strip().lower()
    match = [t for t in available if t == raw] or [t for t in available if raw and t.startswith(raw.split()[0])]
    if not match:
        raise ActionError(f"conversation_type must be one of {available}, got {raw!r}")
    prompt = str(obj.get("opening_prompt") or "").strip()
    if len(prompt) < 3:
        raise ActionError("opening_prompt must be a message of at least a few words")
    return match[0], _own_words(prompt, "opening_prompt")[:max_chars]


def validate_ratings(obj: dict, n: int) -> list[int]:
    """Check a rating action: ``n`` scores 1-100.

    Parameters
    ----------
    obj
        the parsed action.
    n
        number of responses rated.

    Returns
    -------
    list of int

    Example
    -------
    >>> validate_ratings({"ratings": ["70", 40.4]}, 2)
    [70, 40]
    """
    r = obj.get("ratings", obj.get("scores"))
    if isinstance(r, dict):
        r = [r[k] for k in sorted(r, key=lambda k: str(k))]
    if not isinstance(r, list) or len(r) != n:
        raise ActionError(f"ratings must be a list of exactly {n} numbers (one per response)")
    return [_score(v, f"rating {i + 1}") for i, v in enumerate(r)]


def validate_next(obj: dict, can_finish: bool, can_follow_up: bool) -> str | None:
    """Check a continue/finish action; returns the follow-up message or ``None`` to finish.

    Parameters
    ----------
    obj
        the parsed action.
    can_finish, can_follow_up
        what the protocol allows now.

    Returns
    -------
    str or None

    Example
    -------
    >>> validate_next({"action": "continue", "message": "Why?"}, True, True)
    'Why?'
    """
    action = str(obj.get("action", "")).strip().lower()
    if action not in ("continue", "finish"):
        raise ActionError('action must be "continue" or "finish"')
    if action == "finish":
        if not can_finish:
            raise ActionError("the conversation is too short to finish; continue it")
        return None
    if not can_follow_up:
        return None
    msg = str(obj.get("message") or "").strip()
    if len(msg) < 2:
        raise ActionError("message must be your next message to the AI")
    return _own_words(msg, "message")[:2000]


def validate_feedback(obj: dict, min_chars: int = 10) -> tuple[dict, dict, str]:
    """Check a feedback action; attributes outside PRISM's seven are an error, missing ones are N/A.

    Parameters
    ----------
    obj
        the parsed action.
    min_chars
        shortest open feedback accepted.

    Returns
    -------
    tuple of (dict, dict, str)
        performance attributes, choice attributes, open feedback.

    Example
    -------
    >>> validate_feedback({"performance": {"helpfulness": 80}, "choice": {}, "open_feedback": "Clear and useful."})[0]["helpfulness"]
    80
    """
    out = []
    for key in ("performance", "choice"):
        part = obj.get(key) or {}
        if not isinstance(part, dict):
            raise ActionError(f"{key} must be an object of attribute -> rating")
        clean = {}
        for a, v in part.items():
            name = str(a).strip().lower()
            if name not in vocab.ATTRIBUTES:
                raise ActionError(f"unknown attribute {a!r} in {key}; use {list(vocab.ATTRIBUTES)}")
            clean[name] = None if v in (None, "", "N/A", "n/a", "NA") else _score(v, f"{key}.{name}")
        out.append(clean)
    text = str(obj.get("open_feedback") or "").strip()
    if len(text) < min_chars:
        raise ActionError(f"open_feedback must be at least {min_chars} characters")
    return out[0], out[1], _own_words(text, "open_feedback")[:5000]


# --- cost log ---------------------------------------------------------------------------------------


class CostLog:
    """Every LLM call of a role-play run: JSONL lines (when ``path`` is given) and running totals.

    ``price_prompt`` / ``price_completion`` are currency units per 1,000 tokens (0 = not priced).

    Example
    -------
    >>> log = CostLog(price_prompt=0.5)
    >>> log.record(persona_id="p", step="rate", model="m", ok=True, prompt_tokens=1000, completion_tokens=10,
    ...            latency_s=0.1, attempt=1)
    >>> log.summary()["cost"], log.summary()["calls"]
    (0.5, 1)
    """

    def __init__(self, path: str | Path | None = None, *, price_prompt: float = 0.0, price_completion: float = 0.0):
        self.path = Path(path) if path else None
        self.price_prompt = float(price_prompt)
        self.price_completion = float(price_completion)
        self._lock = threading.Lock()
        self.totals = {
            "calls": 0,
            "ok": 0,
            "invalid": 0,
            "errors": 0,
            "prompt_tokens": 0,
            "completion_tokens": 0,
            "cost": 0.0,
            "latency_s": 0.0,
        }
        if self.path:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.path.write_text("")

    def __getstate__(self):  # picklable (process pools): the lock is recreated
        d = dict(self.__dict__)
        d.pop("_lock", None)
        return d

    def __setstate__(self, d):
        self.__dict__.update(d)
        self._lock = threading.Lock()

    def record(
        self,
        *,
        persona_id: str,
        step: str,
        model: str,
        ok: bool,
        prompt_tokens: int | None,
        completion_tokens: int | None,
        latency_s: float,
        attempt: int,
        error: str | None = None,
        kind: str = "llm",
    ) -> None:
        """Count one call (and append it to the JSONL file when there is one).

        Parameters
        ----------
        persona_id, step, model
            who, at which protocol step, with which model.
        ok
            whether a valid action came back.
        prompt_tokens, completion_tokens
            token counts (``None``: unknown, counted as 0).
        latency_s
            seconds the call took.
        attempt
            1 for the first try, 2 for the first retry, ...
        error
            what went wrong.
        kind
            ``"llm"`` (a call) or ``"invalid"`` (an answer that was not a valid action).

        Example
        -------
        >>> log = CostLog(price_completion=2.0)
        >>> log.record(persona_id="p", step="open", model="m", ok=False, prompt_tokens=None, completion_tokens=500,
        ...            latency_s=0.2, attempt=1, error="no JSON", kind="invalid")
        >>> log.summary()["invalid"], log.summary()["cost"]
        (1, 1.0)
        """
        pt, ct = int(prompt_tokens or 0), int(completion_tokens or 0)
        cost = pt / 1000 * self.price_prompt + ct / 1000 * self.price_completion
        line = {
            "time": round(time.time(), 3),
            "persona_id": persona_id,
            "step": step,
            "model": model,
            "attempt": attempt,
            "ok": ok,
            "kind": kind,
            "error": error,
            "prompt_tokens": pt,
            "completion_tokens": ct,
            "latency_s": round(latency_s, 4),
            "cost": round(cost, 6),
        }
        with self._lock:
            t = self.totals
            t["calls"] += 1
            t["ok"] += ok
            t["invalid"] += not ok and kind == "invalid"
            t["errors"] += not ok and kind != "invalid"
            t["prompt_tokens"] += pt
            t["completion_tokens"] += ct
            t["cost"] += cost
            t["latency_s"] += latency_s
            if self.path:
                with self.path.open("a", encoding="utf-8") as f:
                    f.write(json.dumps(line) + "\n")

    def summary(self) -> dict[str, Any]:
        """Totals: calls, ok, invalid replies, errors, tokens, cost, summed latency.

        Returns
        -------
        dict

        Example
        -------
        >>> log = CostLog(price_completion=2.0)
        >>> sorted(log.summary())[:3]
        ['calls', 'completion_tokens', 'cost']
        """
        with self._lock:
            out = dict(self.totals)
        out["cost"] = round(out["cost"], 6)
        out["latency_s"] = round(out["latency_s"], 3)
        return out


# --- the agent ----------------------------------------------------------------------------------------


@dataclass
class RolePlayConfig:
    """How to role-play personas with an LLM.

    ``model``: a :class:`pluralis.llm.ModelSpec` (any OpenAI-compatible server, local transformers or
    llama.cpp) or a ChatBackend. ``max_concurrency``: LLM calls in flight at once; ``max_retries``:
    re-asks after an invalid reply before falling back to the preference model. ``response_format``: see
    :meth:`target`; ``"auto"`` asks the endpoint which one it accepts (:func:`probe_response_format`, done
    once by :meth:`resolved` before a run). The LLM decides when to stop a conversation, but at most
    ``extra_turns`` turns after the persona's own target length (2 + Poisson, as the preference agent draws
    it) and never past ``max_turns`` once the protocol allows finishing, which bounds cost.

    Example
    -------
    >>> from pluralis.llm import ModelSpec
    >>> RolePlayConfig(ModelSpec(name="smollm2", base_url="http://127.0.0.1:8080/v1")).max_retries
    2
    """

    model: Any
    max_concurrency: int = 8
    max_retries: int = 2
    temperature: float = 0.7
    max_tokens: int = 300
    timeout: float = 60.0
    price_prompt: float = 0.0
    price_completion: float = 0.0
    log_path: str | Path | None = None
    response_format: str | None = "json_object"
    extra_turns: int = 1
    max_turns: int | None = None
    _sems: dict = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.max_concurrency < 1:
            raise ConfigError(f"max_concurrency must be >= 1, got {self.max_concurrency}")
        if self.max_retries < 0:
            raise ConfigError(f"max_retries must be >= 0, got {self.max_retries}")
        if self.response_format not in (None, "auto", *RESPONSE_FORMATS):
            raise ConfigError(
                f"response_format must be auto, json_object, json_schema, json_object_schema or None, "
                f"got {self.response_format!r}"
            )
        if self.max_turns is not None and self.max_turns < 1:
            raise ConfigError(f"max_turns must be >= 1 (or None), got {self.max_turns}")

    def target(self, schema: dict | None = None) -> Any:
        """The model to call, with ``response_format`` added to the request body of OpenAI-compatible specs
        (other backends as given). Formats: ``"json_object"`` (JSON mode: OpenAI, vLLM, Ollama, llama.cpp),
        ``"json_schema"`` (OpenAI-style structured output with the step's schema: OpenAI, vLLM, Ollama),
        ``"json_object_schema"`` (``{"type": "json_object", "schema": ...}``: llama-cpp-python's server,
        grammar-constrained), ``None`` (plain text; the parser copes).

        Parameters
        ----------
        schema
            the JSON schema of the step's action (used by the schema formats).

        Returns
        -------
        pluralis.llm.ModelSpec or the backend

        Example
        -------
        >>> from pluralis.llm import ModelSpec
        >>> RolePlayConfig(ModelSpec(name="m", base_url="http://127.0.0.1:9/v1")).target().extra_body
        {'response_format': {'type': 'json_object'}}
        """
        from pluralis.llm.types import ModelSpec

        m = self.model
        fmt = "json_object" if self.response_format == "auto" else self.response_format  # unresolved auto
        if not fmt or not isinstance(m, ModelSpec) or m.backend != "openai":
            return m
        body: dict[str, Any]
        if fmt == "json_object" or schema is None:
            body = {"type": "json_object"}
        elif fmt == "json_schema":
            body = {"type": "json_schema", "json_schema": {"name": "participant_action", "schema": schema}}
        else:
            body = {"type": "json_object", "schema": schema}
        return m.model_copy(update={"extra_body": {**m.extra_body, "response_format": body}})

    def resolved(self) -> RolePlayConfig:
        """This config with ``response_format="auto"`` replaced by what the endpoint accepts (a copy;
        other configs are returned as they are). Raises :class:`ConfigError` when the endpoint does not answer.

        Returns
        -------
        RolePlayConfig

        Example
        -------
        >>> from pluralis.llm import ModelSpec
        >>> cfg = RolePlayConfig(ModelSpec(name="m", base_url="http://127.0.0.1:9/v1"), response_format="json_schema")
        >>> cfg.resolved() is cfg
        True
        """
        if self.response_format != "auto":
            return self
        import dataclasses

        fmt = asyncio.run(probe_response_format(self.model, timeout=self.timeout))
        return dataclasses.replace(self, response_format=fmt, _sems={})

    def describe(self) -> dict[str, Any]:
        """The settings as plain data (stored with the simulation and shown in reports).

        Returns
        -------
        dict

        Example
        -------
        >>> from pluralis.llm import ModelSpec
        >>> RolePlayConfig(ModelSpec(name="m", base_url="http://127.0.0.1:9/v1")).describe()["model"]
        'm'
        """
        spec = getattr(self.model, "spec", self.model)
        return {
            "model": self.model_name,
            "base_url": getattr(spec, "base_url", None),
            "response_format": self.response_format,
            "max_concurrency": self.max_concurrency,
            "max_retries": self.max_retries,
            "temperature": self.temperature,
            "max_tokens": self.max_tokens,
            "timeout": self.timeout,
            "extra_turns": self.extra_turns,
            "max_turns": self.max_turns,
        }

    @property
    def model_name(self) -> str:
        """The name of the role-playing model.

        Returns
        -------
        str

        Example
        -------
        >>> from pluralis.llm import ModelSpec
        >>> RolePlayConfig(ModelSpec(name="m", base_url="http://127.0.0.1:9/v1")).model_name
        'm'
        """
        spec = getattr(self.model, "spec", self.model)
        return getattr(spec, "name", str(spec))

    def semaphore(self) -> asyncio.Semaphore:
        """The semaphore bounding LLM calls in flight, one per event loop.

        Returns
        -------
        asyncio.Semaphore

        Example
        -------
        >>> import asyncio
        >>> from pluralis.llm import ModelSpec
        >>> cfg = RolePlayConfig(ModelSpec(name="m", base_url="http://127.0.0.1:9/v1"), max_concurrency=3)
        >>> async def same():
        ...     return cfg.semaphore() is cfg.semaphore()
        >>> asyncio.run(same())
        True
        """
        loop = asyncio.get_running_loop()
        sem = self._sems.get(id(loop))
        if sem is None:
            sem = self._sems[id(loop)] = asyncio.Semaphore(self.max_concurrency)
        return sem

    def __getstate__(self):
        d = dict(self.__dict__)
        d["_sems"] = {}
        return d


def _object(properties: dict) -> dict:
    return {"type": "object", "properties": properties, "required": list(properties)}


#: Structured-output request formats, in the order :func:`probe_response_format` tries them.
RESPONSE_FORMATS: tuple[str, ...] = ("json_schema", "json_object_schema", "json_object")


async def probe_response_format(model: Any, *, timeout: float = 60.0) -> str | None:
    """The first of :data:`RESPONSE_FORMATS` that ``model``'s endpoint accepts and answers with a JSON object.

    One tiny request per format: a server that rejects a format (any HTTP error status, e.g. 400 from
    OpenAI for an unknown field, 422/500 from llama-cpp-python for ``json_schema``) moves the probe on to
    the next. ``None`` when none works (plain text; :func:`parse_json_object` copes) and for non-HTTP
    backends. An endpoint that does not answer at all (refused connection, timeout) is a
    :class:`ConfigError` naming it.

    Parameters
    ----------
    model
        a :class:`pluralis.llm.ModelSpec` or a chat backend.
    timeout
        per request, seconds.

    Returns
    -------
    str or None

    Example
    -------
    >>> import asyncio
    >>> from pluralis.llm import ModelSpec
    >>> try:
    ...     asyncio.run(probe_response_format(ModelSpec(name="m", base_url="http://127.0.0.1:9/v1"), timeout=2))
    ... except ConfigError as e:
    ...     print(str(e)[:45])
    role-play LLM 'm' at http://127.0.0.1:9/v1 di
    """
    from pluralis.llm.response_sets import call_model
    from pluralis.llm.types import Failure, ModelSpec

    if not isinstance(model, ModelSpec) or model.backend != "openai":
        return None
    schema = _object({"ok": {"type": "boolean"}})
    messages = [{"role": "user", "content": 'Reply with exactly this JSON object: {"ok": true}'}]
    for fmt in RESPONSE_FORMATS:
        target = RolePlayConfig(model.model_copy(update={"max_retries": 0}), response_format=fmt).target(schema)
        out = await call_model(target, messages, params={"temperature": 0.0, "max_tokens": 16}, timeout=timeout)
        if isinstance(out, Failure):
            if out.status_code is None:
                raise ConfigError(
                    f"role-play LLM {model.name!r} at {model.base_url} did not answer ({out.kind}: {out.message})"
                )
            continue  # the server answered with an error: this format is not supported there
        try:
            parse_json_object(out.text)
        except ActionError:
            continue
        return fmt
    return None


def persona_card(row: dict, weights: dict) -> str:
    """The system prompt that sets up the role-play of one persona.

    Parameters
    ----------
    row
        a persona's row of a panel.
    weights
        its preference weights.

    Returns
    -------
    str

    Example
    -------
    >>> from pluralis.simulate.generator import generate_personas
    >>> from pluralis.simulate.preference import PreferenceModel
    >>> p = generate_personas(1, seed=0)
    >>> card = persona_card(p.data.iloc[0].to_dict(), PreferenceModel().person_weights(p.data).iloc[0].to_dict())
    >>> "JSON" in card and "years old" in card
    True
    """
    lean = {"left": "left-leaning", "right": "right-leaning", "neutral": "politically moderate"}[texts.lean(row)]
    interests = ", ".join(texts._interest_list(row.get("interests", 0))) or "various things"
    traits = []
    for t, (hi, lo) in texts.TRAIT_WORDS.items():
        v = float(row.get(t, 0.0))
        traits.append(hi if v > 0.5 else lo if v < -0.5 else f"average in {t}")
    return (
        "You are role-playing one participant in a research study where people talk to AI assistants and rate "
        "their answers. Stay in character as this person at all times; think and judge as they would, not as an "
        "AI.\n\n"
        f"Who you are: {row['gender'].lower() if isinstance(row.get('gender'), str) else 'person'}, "
        f"{row['age']}, living in {texts._place(row)}; education: {row['education']}; "
        f"{row['employment_status'].lower()}; {row['marital_status'].lower()}; religion: {row['religion']}; "
        f"ethnicity: {row['census_group']}; {lean}.\n"
        f"Personality: {', '.join(traits)}. Communication style: {row['communication_style']}. "
        f"Core values: {row['value_1']}, {row['value_2']}. Interests: {interests}.\n"
        f"In your own words: {texts.self_description(row)}\n"
        f"What you want from an AI: {texts.constitution(row, weights)}\n\n"
        "Always reply with exactly one JSON object and nothing else."
    )


class RolePlayAgent:
    """An LLM playing one persona through the protocol; see the module docstring.

    Example
    -------
    >>> from pluralis.llm import ModelSpec
    >>> from pluralis.simulate.generator import generate_personas
    >>> from pluralis.simulate.preference import PreferenceModel
    >>> p = generate_personas(1, seed=0)
    >>> fb = PreferenceAgent(p.data.iloc[0].to_dict(), PreferenceModel().person_weights(p.data).iloc[0].to_dict())
    >>> a = RolePlayAgent(RolePlayConfig(ModelSpec(name="m", base_url="http://127.0.0.1:9/v1")), fb)
    >>> a.actor, a.stats["fallbacks"]
    ('llm-roleplay', 0)
    """

    actor = "llm-roleplay"

    def __init__(self, config: RolePlayConfig, fallback: PreferenceAgent, *, cost_log: CostLog | None = None):
        self.config = config
        self.fallback = fallback
        self.log = cost_log
        self.pid = str(fallback.row.get("persona_id"))
        self.system = persona_card(fallback.row, fallback.weights)
        self.stats: dict[str, int] = {"actions": 0, "fallbacks": 0, "llm_calls": 0, "llm_failures": 0}
        self._context: list[dict[str, str]] = []

    def survey_answers(self) -> dict[str, Any]:
        return self.fallback.survey_answers()

    async def _ask(self, step: str, instruction: str, validate, schema: dict | None = None) -> Any:
        """Ask for one action; ``validate(obj)`` returns the action or raises :class:`ActionError`."""
        from pluralis.llm.response_sets import call_model
        from pluralis.llm.types import Failure

        self.stats["actions"] += 1
        messages = [
            {"role": "system", "content": self.system},
            *self._context[-6:],
            {"role": "user", "content": instruction},
        ]
        params = {"temperature": self.config.temperature, "max_tokens": self.config.max_tokens}
        for attempt in range(1, self.config.max_retries + 2):
            start = time.perf_counter()
            async with self.config.semaphore():
                out = await call_model(self.config.target(schema), messages, params=params, timeout=self.config.timeout)
            latency = time.perf_counter() - start
            self.stats["llm_calls"] += 1
            if isinstance(out, Failure):
                self.stats["llm_failures"] += 1
                self._log(step, attempt, False, None, latency, f"{out.kind}: {out.message}", "error")
                continue
            try:
                action = validate(parse_json_object(out.text))
            except ActionError as e:
                self.stats["llm_failures"] += 1
                self._log(step, attempt, False, out.usage, latency, str(e), "invalid")
                messages = [
                    *messages,
                    {"role": "assistant", "content": out.text[:2000]},
                    {
                        "role": "user",
                        "content": f"That reply was not valid: {e}. Reply again with only the JSON object.",
                    },
                ]
                continue
            self._log(step, attempt, True, out.usage, latency, None, "llm")
            return action
        self.stats["fallbacks"] += 1
        return None

    def _log(self, step, attempt, ok, usage, latency, error, kind) -> None:
        if self.log is None:
            return
        self.log.record(
            persona_id=self.pid,
            step=step,
            model=self.config.model_name,
            ok=ok,
            prompt_tokens=getattr(usage, "prompt_tokens", None),
            completion_tokens=getattr(usage, "completion_tokens", None),
            latency_s=latency,
            attempt=attempt,
            error=error,
            kind=kind,
        )

    async def choose_and_open(self, view) -> tuple[str, str]:
        fb_type, fb_prompt = await self.fallback.choose_and_open(view)
        available = [t.name for t in view.types if t.available]
        options = "\n".join(f'- "{t.name}": {t.instruction} ({t.remaining} left)' for t in view.types if t.available)
        instruction = (
            f"Conversation {view.conversation_number} of {view.conversations_total}. Choose a conversation type "
            f"and write your first message to the AI, as yourself.\nTypes:\n{options}\n"
            'Reply as a JSON object with "conversation_type" (one of the types above) and "opening_prompt" (your '
            "first message to the AI, in your own words)."
        )
        schema = _object(
            {
                "conversation_type": {"type": "string", "enum": available},
                "opening_prompt": {"type": "string", "minLength": 5, "maxLength": 400},
            }
        )
        got = await self._ask("open", instruction, lambda o: validate_open(o, available), schema)
        ctype, prompt = got if got is not None else (fb_type, fb_prompt)
        self.fallback._conv["type"] = ctype
        self._context = [
            {"role": "user", "content": f"(You chose a {ctype} conversation.)"},
            {"role": "assistant", "content": json.dumps({"opening_prompt": prompt})},
        ]
        return ctype, prompt

    async def rate(self, view, hidden: list) -> list[int]:
        shown = "\n\n".join(f"Response {i + 1}:\n{r.text}" for i, r in enumerate(view.responses))
        n = len(view.responses)
        instruction = (
            f"Your message was: {view.prompt!r}\nHere are {n} AI responses.\n\n{shown}\n\n"
            f"Rate each response from 1 (terrible) to 100 (perfect) as you personally would. "
            f'Reply as a JSON object with "ratings": a list of {n} whole numbers from 1 to 100, one per response, '
            f"in the order shown."
        )
        fb_scores = self.fallback.scores_for(
            [r.text for r in view.responses],
            [h.model_name for h in hidden],
            self.fallback._conv.get("type") or "unguided",
        )
        schema = _object(
            {
                "ratings": {
                    "type": "array",
                    "items": {"type": "integer", "minimum": 1, "maximum": 100},
                    "minItems": n,
                    "maxItems": n,
                }
            }
        )
        got = await self._ask("rate", instruction, lambda o: validate_ratings(o, n), schema)
        scores = got if got is not None else fb_scores
        if view.turn == 0 and n > 1:
            from pluralis.features.response import style_array

            feats = style_array([r.text for r in view.responses])
            best = max(range(n), key=lambda i: scores[i])
            worst = min(range(n), key=lambda i: scores[i])
            self.fallback._conv["opening"] = (feats[best], feats[worst], int(scores[best]))
        return scores

    async def next_message(self, view) -> str | None:
        if not view.can_follow_up:
            return None
        fb = await self.fallback.next_message(view)
        budget = self.fallback._conv.get("target_turns", 2) + self.config.extra_turns
        if self.config.max_turns is not None:
            budget = min(budget, self.config.max_turns)
        if view.turns_done >= budget and view.can_finish:
            return None  # length budget reached: finish without asking (bounds cost; see RolePlayConfig)
        last = view.history[-1] if view.history else None
        instruction = (
            f"So far {view.turns_done} turn(s). The AI's last answer was: {last.response if last else ''!r}\n"
            f"Do you want to continue the conversation (it may have {view.min_turns}-{view.max_turns} turns)"
            f"{'' if view.can_finish else ' — it is too short to stop yet'}? "
            'Reply as a JSON object with "action" ("continue" or "finish") and "message" (if you continue: your '
            "next message to the AI, in your own words)."
        )
        sentinel = object()
        actions = ["continue", "finish"] if view.can_finish else ["continue"]
        schema = _object(
            {"action": {"type": "string", "enum": actions}, "message": {"type": "string", "maxLength": 400}}
        )
        got = await self._ask(
            "next", instruction, lambda o: validate_next(o, view.can_finish, view.can_follow_up) or sentinel, schema
        )
        if got is None:  # fallback
            return fb
        return None if got is sentinel else got

    async def feedback(self, view) -> tuple[dict, dict, str]:
        fb = await self.fallback.feedback(view)
        attrs = ", ".join(vocab.ATTRIBUTES)
        instruction = (
            "The conversation is over. Think about your first message and the response you rated highest.\n"
            f"Rate, 1-100 (or null for not applicable), how well it did on: {attrs} ('performance'), and how much "
            "each was a reason you chose it ('choice'). Then write 2-3 sentences of honest feedback.\n"
            'Reply as JSON: {"performance": {"helpfulness": 80, ...}, "choice": {"helpfulness": 90, ...}, '
            '"open_feedback": "..."}'
        )
        attrs_schema = {
            "type": "object",
            "properties": {a: {"type": "integer", "minimum": 1, "maximum": 100} for a in vocab.ATTRIBUTES},
        }
        schema = _object(
            {
                "performance": attrs_schema,
                "choice": attrs_schema,
                "open_feedback": {"type": "string", "minLength": 20, "maxLength": 600},
            }
        )
        got = await self._ask("feedback", instruction, validate_feedback, schema)
        return got if got is not None else fb
