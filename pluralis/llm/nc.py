"""Negatively-correlated (NC) sampling of candidate responses (Community Alignment).

The Community Alignment paper finds that candidate sets sampled independently from one or
many LLMs are homogeneous ("algorithmic monoculture"), which starves preference learning of
the variation people actually have; asking the model for candidates that differ from each
other on purpose (negatively-correlated sampling) fixes much of this with prompting alone.
Two prompt-based ways are offered here:

``single_call`` (the NC method of the paper)
    One call whose system prompt asks for ``k`` responses that differ as much as possible
    (viewpoint, values, assumptions, recommendation, tone) while each remains a complete
    reply, returned as ``{"responses": [...]}``. The output is parsed robustly
    (:func:`parse_candidates`: JSON object or list anywhere in the text, code fences,
    objects with ``response``/``text`` fields, else a numbered list). ``max_tokens`` is
    multiplied by ``k`` for this call. Cheap (one call) and the model sees all candidates at
    once, but small models often break the format.
``sequential`` (fallback)
    ``k`` calls one after the other. The first is a plain reply; each later call carries the
    previous candidates and an instruction to write a new response substantially different
    from all of them. Works with any chat model; costs ``k`` calls and ``k`` x latency.
``auto`` (default)
    ``single_call``; if fewer than ``k`` candidates could be parsed, the rest are produced
    with ``sequential`` calls that see the parsed candidates as "previous answers".

Each :class:`Candidate` records its provenance: method, which call produced it, the
instruction used, the raw output of that call, its latency and token usage.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from typing import Any, Literal

from pydantic import BaseModel, Field

from pluralis.errors import ConfigError
from pluralis.llm.response_sets import ModelLike, call_model
from pluralis.llm.types import (
    DEFAULT_TIMEOUT,
    ChatResult,
    DecodingParams,
    Failure,
    ModelSpec,
    TokenUsage,
    validate_messages,
)

NCMethod = Literal["auto", "single_call", "sequential"]

#: System-prompt addition for the one-call method; ``{k}`` is the number of responses.
NC_SINGLE_CALL_INSTRUCTION = (
    "Write {k} different responses to the user's last message. Make them as different from each other as "
    "possible: in the viewpoint, values and assumptions they reflect, in what they recommend, and in tone, so "
    "that people with different preferences would each find one they prefer. Each response must still be a "
    "complete, sensible reply on its own and follow the length guidance above. Return only a JSON object of "
    'the form {{"responses": ["first response", "second response", ...]}} with exactly {k} strings, '
    "and nothing else."
)

#: System-prompt addition for each later call of the sequential method; ``{previous}`` lists earlier answers.
NC_SEQUENTIAL_INSTRUCTION = (
    "Other responses have already been written to the user's last message:\n\n{previous}\n\n"
    "Write one new response that is substantially different from all of them: take a different viewpoint, "
    "reflect different values or assumptions, or recommend something else, while still being a complete, "
    "sensible reply. Do not repeat, paraphrase or mention the other responses. Reply with the new response only."
)

_LIST_KEYS = ("responses", "answers", "candidates", "replies", "options", "items")
_ITEM_KEYS = ("response", "text", "answer", "content", "reply", "candidate")
_FENCE = re.compile(r"```(?:json|JSON)?\s*(.*?)```", re.DOTALL)
_NUMBERED = re.compile(
    r"^\s*(?:[-*]\s*)?(?:\*\*|__)?\s*(?:(?:response|answer|option|candidate)\s*#?\s*)?(\d{1,2})\s*(?:[.):\]]|\s-)"
    r"\s*(?:\*\*|__)?\s*:?\s*",
    re.IGNORECASE | re.MULTILINE,
)


class Candidate(BaseModel):
    """One NC candidate with its provenance.

    Example
    -------
    >>> c = Candidate(text="Yes.", model="m", method="nc_sequential", index=0, call_index=0, latency_s=0.4)
    >>> c.method, c.call_index
    ('nc_sequential', 0)
    """

    text: str
    model: str
    provider: str = "local"
    method: Literal["nc_single_call", "nc_sequential"]
    index: int
    call_index: int
    instruction: str | None = None
    raw_output: str | None = None
    latency_s: float
    usage: TokenUsage = Field(default_factory=TokenUsage)
    finish_reason: str | None = None


class NCResult(BaseModel):
    """Candidates from :func:`nc_sample`, the calls that failed, and what was done.

    ``method_used`` is ``"single_call"``, ``"sequential"`` or ``"single_call+sequential"``
    (auto mode topped up); ``calls`` are the raw results in call order.

    Example
    -------
    >>> NCResult(k=2, method_used="sequential", latency_s=1.0).texts
    []
    """

    k: int
    method_used: str
    candidates: list[Candidate] = Field(default_factory=list)
    failures: list[Failure] = Field(default_factory=list)
    calls: list[ChatResult] = Field(default_factory=list)
    latency_s: float

    @property
    def texts(self) -> list[str]:
        """Candidate texts, in order.

        Example
        -------
        >>> c = Candidate(text="Yes.", model="m", method="nc_single_call", index=0, call_index=0, latency_s=0.4)
        >>> NCResult(k=1, method_used="single_call", latency_s=0.4, candidates=[c]).texts
        ['Yes.']
        """
        return [c.text for c in self.candidates]


def _clean(items: list[Any]) -> list[str]:
    out: list[str] = []
    for item in items:
        if isinstance(item, dict):
            value = next((item[k] for k in _ITEM_KEYS if isinstance(item.get(k), str)), None)
            if value is None:
                value = next((v for v in item.values() if isinstance(v, str)), None)
            item = value
        if not isinstance(item, str):
            continue
        text = item.strip().strip('"').strip()
        if text and text not in out:
            out.append(text)
    return out


def _from_json(data: Any) -> list[str] | None:
    if isinstance(data, list):
        return _clean(data)
    if isinstance(data, dict):
        lowered = {str(k).lower(): v for k, v in data.items()}
        for key in _LIST_KEYS:
            if isinstance(lowered.get(key), list):
                return _clean(lowered[key])
        lists = [v for v in data.values() if isinstance(v, list)]
        if lists:
            return _clean(lists[0])
        if all(isinstance(v, str) for v in data.values()) and len(data) > 1:  # {"1": "...", "2": "..."}
            return _clean(list(data.values()))
    return None


def _json_values(text: str) -> Iterator[Any]:
    """Every JSON value that starts at a ``[`` or ``{`` in ``text``, outermost first."""
    decoder = json.JSONDecoder()
    for m in re.finditer(r"[\[{]", text):
        try:
            value, _ = decoder.raw_decode(text, m.start())
        except json.JSONDecodeError:
            continue
        yield value


def parse_candidates(text: str, k: int | None = None) -> list[str]:
    """Pull the responses out of a single-call NC output; at most ``k`` when ``k`` is given.

    Accepts a JSON object (``{"responses": [...]}`` or similar keys) or list anywhere in the
    text, inside code fences or not, items as strings or objects with a ``response``/``text``
    field; otherwise a numbered list (``1.``, ``2)``, ``Response 3:``, ``**1.**``).
    Empty and duplicate items are dropped. Returns ``[]`` when nothing parses.

    Parameters
    ----------
    text
        the model's output.
    k
        the most candidates to return.

    Returns
    -------
    list of str

    Example
    -------
    >>> parse_candidates('Sure! ```json\\n{"responses": ["Yes.", "No.", "Maybe."]}\\n```', k=2)
    ['Yes.', 'No.']
    >>> parse_candidates("1. Go by train.\\n2. Fly.\\n3) Stay home.")
    ['Go by train.', 'Fly.', 'Stay home.']
    """
    if not text or not text.strip():
        return []
    candidates: list[str] = []
    blocks = [m.group(1) for m in _FENCE.finditer(text)] + [text]
    for block in blocks:
        try:
            parsed = _from_json(json.loads(block))
        except json.JSONDecodeError:
            parsed = None
        if not parsed:
            for value in _json_values(block):
                parsed = _from_json(value)
                if parsed:
                    break
        if parsed:
            candidates = parsed
            break
    if not candidates:
        marks = list(_NUMBERED.finditer(text))
        if len(marks) >= 2:
            pieces = [text[m.end() : nxt.start() if nxt else len(text)] for m, nxt in zip(marks, marks[1:] + [None])]
            candidates = _clean(pieces)
    return candidates[:k] if k is not None else candidates


def nc_json_schema(k: int) -> dict[str, Any]:
    """JSON schema of the single-call NC output: ``{"responses": [k non-empty strings]}``.

    Parameters
    ----------
    k
        the number of responses.

    Returns
    -------
    dict

    Example
    -------
    >>> nc_json_schema(3)["properties"]["responses"]["minItems"]
    3
    """
    return {
        "type": "object",
        "properties": {
            "responses": {"type": "array", "items": {"type": "string", "minLength": 1}, "minItems": k, "maxItems": k}
        },
        "required": ["responses"],
        "additionalProperties": False,
    }


def _response_format(fmt: str | dict, k: int) -> dict[str, Any]:
    if isinstance(fmt, dict):
        return fmt
    if fmt == "json_object":
        return {"type": "json_object"}
    if fmt == "json_schema":
        return {
            "type": "json_schema",
            "json_schema": {"name": "nc_responses", "schema": nc_json_schema(k), "strict": True},
        }
    raise ConfigError(f"unknown response_format {fmt!r}; use 'json_object', 'json_schema' or a dict")


def _with_instruction(spec: ModelSpec, messages: list[dict[str, str]], instruction: str) -> list[dict[str, str]]:
    if messages[0]["role"] == "system":
        system = messages[0]["content"]
        rest = messages[1:]
    else:
        system = spec.system_prompt or ""
        rest = messages
    system = (system + "\n\n" + instruction) if system else instruction
    return [{"role": "system", "content": system}, *rest]


def _spec_of(model: ModelLike) -> ModelSpec:
    return model if isinstance(model, ModelSpec) else model.spec


async def nc_sample(
    model: ModelLike,
    messages: list[dict],
    *,
    k: int = 4,
    method: NCMethod = "auto",
    params: DecodingParams | dict | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    response_format: str | dict | None = None,
) -> NCResult:
    """``k`` negatively-correlated candidate responses from one model (see the module docs).

    ``timeout`` applies to each call. ``response_format`` constrains the single call's output
    on servers that support it (``openai`` backend only): ``"json_object"`` (JSON mode),
    ``"json_schema"`` (OpenAI-style structured output with :func:`nc_json_schema`; OpenAI,
    vLLM, Ollama, llama.cpp's ``llama-server``), or a dict sent as is, e.g.
    ``{"type": "json_object", "schema": nc_json_schema(k)}`` for ``llama-cpp-python``'s
    server. Small models rarely follow the format unconstrained. Failed calls are recorded
    in ``failures``; a single call whose output yields fewer than ``k`` candidates is
    recorded as a ``malformed`` failure (and, in ``auto`` mode, topped up with sequential
    calls).

    Parameters
    ----------
    model
        a spec or a backend.
    messages
        the chat so far.
    k
        how many candidates.
    method
        ``"single_call"`` (one call asked for ``k`` different answers), ``"sequential"`` (``k``
        calls, each shown the previous answers) or ``"auto"`` (single call, topped up sequentially).
    params
        decoding parameters, over the spec's.
    timeout
        seconds allowed per call.
    response_format
        constrains the single call's output (see above).

    Returns
    -------
    NCResult
        the candidates, the calls made and the failures.

    Example
    -------
    >>> import asyncio
    >>> spec = ModelSpec(name="m", base_url="http://127.0.0.1:9/v1", max_retries=0)
    >>> res = asyncio.run(nc_sample(spec, [{"role": "user", "content": "Is coffee healthy?"}], k=2,
    ...                             method="sequential", timeout=2))
    >>> res.method_used, len(res.candidates), [f.kind for f in res.failures]
    ('sequential', 0, ['http_error', 'http_error'])
    """
    if k < 1:
        raise ConfigError(f"k must be at least 1, got {k}")
    if method not in ("auto", "single_call", "sequential"):
        raise ConfigError(f"unknown NC method {method!r}; use auto, single_call or sequential")
    messages = validate_messages(messages)
    spec = _spec_of(model)
    base = spec.params.merged(params)
    start = time.perf_counter()
    result = NCResult(k=k, method_used=method if method != "auto" else "single_call", latency_s=0.0)
    texts: list[str] = []

    instruction: str | None
    if method in ("auto", "single_call"):
        instruction = NC_SINGLE_CALL_INSTRUCTION.format(k=k)
        p = base.merged({"max_tokens": (base.max_tokens or 256) * k})
        target = model
        if response_format is not None and spec.backend == "openai":
            fmt = _response_format(response_format, k)
            target = spec.model_copy(update={"extra_body": {**spec.extra_body, "response_format": fmt}})
        out = await call_model(target, _with_instruction(spec, messages, instruction), params=p, timeout=timeout)
        if isinstance(out, Failure):
            result.failures.append(out)
        else:
            result.calls.append(out)
            parsed = parse_candidates(out.text, k)
            for t in parsed:
                texts.append(t)
                result.candidates.append(
                    Candidate(
                        text=t,
                        model=spec.name,
                        provider=spec.provider,
                        method="nc_single_call",
                        index=len(result.candidates),
                        call_index=0,
                        instruction=instruction,
                        raw_output=out.text,
                        latency_s=out.latency_s,
                        usage=out.usage,
                        finish_reason=out.finish_reason,
                    )
                )
            if len(parsed) < k:
                result.failures.append(
                    Failure(
                        model=spec.name,
                        provider=spec.provider,
                        kind="malformed",
                        latency_s=out.latency_s,
                        message=f"single-call NC output gave {len(parsed)} of {k} responses: {out.text[:200]!r}",
                    )
                )
        if method == "single_call" or len(texts) >= k or isinstance(out, Failure):
            result.latency_s = time.perf_counter() - start
            return result
        result.method_used = "single_call+sequential" if texts else "sequential"

    call_index = len(result.calls)
    attempts = k - len(texts)
    for _ in range(attempts):
        if texts:
            previous = "\n\n".join(f"{i + 1}. {t}" for i, t in enumerate(texts))
            instruction = NC_SEQUENTIAL_INSTRUCTION.format(previous=previous)
            chat = _with_instruction(spec, messages, instruction)
        else:
            instruction, chat = None, messages
        out = await call_model(model, chat, params=base, timeout=timeout)
        if isinstance(out, Failure):
            result.failures.append(out)
            call_index += 1
            continue
        result.calls.append(out)
        text = out.text.strip()
        if text:
            texts.append(text)
            result.candidates.append(
                Candidate(
                    text=text,
                    model=spec.name,
                    provider=spec.provider,
                    method="nc_sequential",
                    index=len(result.candidates),
                    call_index=call_index,
                    instruction=instruction,
                    raw_output=out.text,
                    latency_s=out.latency_s,
                    usage=out.usage,
                    finish_reason=out.finish_reason,
                )
            )
        call_index += 1
    result.latency_s = time.perf_counter() - start
    return result


__all__ = [
    "NC_SEQUENTIAL_INSTRUCTION",
    "NC_SINGLE_CALL_INSTRUCTION",
    "Candidate",
    "NCResult",
    "nc_json_schema",
    "nc_sample",
    "parse_candidates",
]
