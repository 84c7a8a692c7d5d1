"""Check a study before it is served: the file, its placeholders, and every model endpoint, called once.

:func:`check_study` is what ``pluralis study check STUDY`` runs (and what ``pluralis serve`` runs at start):

1. the study file loads and validates (:func:`pluralis.collect.config.load_study_config` reports every
   problem with ``file:line: field``);
2. nothing of the shipped template is left in it (``pluralis serve --init`` writes placeholder models at
   ``http://127.0.0.1:8000/v1`` and a consent text with ``[...]`` placeholders for the team's contacts
   and ethics reference): an error unless ``allow_placeholders`` (local testing only);
3. every model answers a short prompt (through :mod:`pluralis.llm`, one call each, concurrently, no
   retries), so a wrong address, model id or API key shows before the first participant arrives.

Problems make the study unservable; warnings are printed (e.g. fewer than PRISM's 4 opening responses).

Example
-------
>>> import tempfile, pathlib
>>> path = pathlib.Path(tempfile.mkdtemp()) / "study.toml"
>>> _ = path.write_text('[consent]\\ntext = "Questions? Write to ada@example.org."\\n'
...                     '[[models]]\\nname = "a"\\nendpoint = "http://127.0.0.1:9/v1"\\n')
>>> report = check_study(path, call_endpoints=False)
>>> report.ok, [str(w) for w in report.warnings][:1]
(True, ['...study.toml: sampling: opening turns show 1 response(s) (PRISM showed 4): the study has 1 model(s)'])
>>> _ = path.write_text('[[models]]\\nname = "a"\\n')
>>> print(check_study(path, call_endpoints=False).problems[0])
/...study.toml:1: models.0.endpoint: model 'a' has no endpoint; ...
"""

from __future__ import annotations

import asyncio
import re
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pluralis.collect.config import (
    CONSENT_TEXT,
    ConversationsConfig,
    StudyConfig,
    _shipped_study,
    load_study_config,
    study_key_lines,
    where_in_file,
)
from pluralis.errors import ConfigError
from pluralis.llm.types import OPENING_TURN_MODELS

#: The prompt each model is asked once.
CHECK_PROMPT = "Reply with one short friendly sentence."
#: Tokens asked for in the check call.
CHECK_MAX_TOKENS = 24

_LOADER_LINE = re.compile(r"^(?P<where>.+?:\d+|[^:]+): (?P<field>[\w.]+|\(top level\)): (?P<msg>.*)$")


@dataclass(frozen=True)
class Finding:
    """One problem or warning about a study, located like the loader's messages (``file:line: field: ...``).

    Example
    -------
    >>> str(Finding("study.toml:12", "models.0.endpoint", "no answer within 5 s"))
    'study.toml:12: models.0.endpoint: no answer within 5 s'
    """

    where: str
    field: str | None
    message: str
    severity: Literal["problem", "warning"] = "problem"

    def __str__(self) -> str:
        return f"{self.where}: {self.field}: {self.message}" if self.field else f"{self.where}: {self.message}"


@dataclass(frozen=True)
class EndpointResult:
    """The answer of one model to the check prompt.

    Example
    -------
    >>> EndpointResult("a", "http://127.0.0.1:9/v1", False, 0.01, "http_error", "connection refused").ok
    False
    """

    model: str
    address: str
    ok: bool
    latency_s: float
    kind: str | None
    message: str


@dataclass
class CheckReport:
    """What :func:`check_study` found: ``problems`` (the study must not be served), ``warnings`` and the
    endpoint calls.

    Example
    -------
    >>> r = CheckReport("study.toml", problems=[Finding("study.toml:3", "models.0", "placeholder")])
    >>> r.ok, r.lines()[-1]
    (False, 'study.toml: 1 problem, 0 warnings')
    """

    source: str
    problems: list[Finding] = field(default_factory=list)
    warnings: list[Finding] = field(default_factory=list)
    endpoints: list[EndpointResult] = field(default_factory=list)
    config: StudyConfig | None = None

    @property
    def ok(self) -> bool:
        """No problems (warnings allowed)."""
        return not self.problems

    def lines(self) -> list[str]:
        """The report as lines of text: endpoint results, problems, warnings, then a summary line.

        Example
        -------
        >>> CheckReport("s.toml").lines()
        ['s.toml: OK (0 problems, 0 warnings)']
        """
        out = []
        for e in self.endpoints:
            state = "ok" if e.ok else f"FAILED ({e.kind})"
            out.append(f"model {e.model!r} at {e.address}: {state} in {e.latency_s:.2f} s: {e.message}")
        out += [f"error: {p}" for p in self.problems]
        out += [f"warning: {w}" for w in self.warnings]
        n, m = len(self.problems), len(self.warnings)
        counts = f"{n} problem{'s' if n != 1 else ''}, {m} warning{'s' if m != 1 else ''}"
        out.append(f"{self.source}: OK ({counts})" if self.ok else f"{self.source}: {counts}")
        return out

    def __str__(self) -> str:
        return "\n".join(self.lines())

    def raise_for_problems(self) -> None:
        """Raise :class:`ConfigError` listing every problem (what ``pluralis serve`` does before it listens).

        Example
        -------
        >>> CheckReport("s.toml").raise_for_problems()
        """
        if self.problems:
            shown = "\n".join(str(p) for p in self.problems)
            raise ConfigError(f"{self.source}: the study cannot be served:\n{shown}")


def consent_placeholders(text: str) -> list[str]:
    """The shipped consent text's ``[...]`` placeholders (the team's contacts, data storage, ethics
    reference) still present in ``text``.

    Parameters
    ----------
    text : str
        A consent text (the study's ``consent.text``).

    Returns
    -------
    list of str
        The shipped template's placeholders found in ``text``, in the template's order.

    Example
    -------
    >>> len(consent_placeholders(CONSENT_TEXT)) >= 4, consent_placeholders("Contact ada@example.org.")
    (True, [])
    """
    found = dict.fromkeys(re.findall(r"\[[^\]\n]{10,}\]", CONSENT_TEXT))
    return [m for m in found if m in text]


def _template_models() -> set[tuple[str, str | None, str | None]]:
    return {(m.get("name"), m.get("endpoint"), m.get("model")) for m in _shipped_study().get("models", [])}


def placeholder_models(config: StudyConfig) -> list[int]:
    """Indexes of the study's models that are the shipped template's placeholders (same name, endpoint and
    model id as in ``pluralis serve --init``'s file).

    Parameters
    ----------
    config : StudyConfig
        The study definition.

    Returns
    -------
    list of int
        Positions in ``config.models`` of the template's placeholder models.

    Example
    -------
    >>> placeholder_models(StudyConfig())
    [0, 1, 2, 3]
    >>> placeholder_models(StudyConfig().with_models([{"name": "mine", "endpoint": "http://127.0.0.1:8000/v1"}]))
    []
    """
    template = _template_models()
    return [i for i, m in enumerate(config.models) if (m.name, m.base_url, m.model) in template]


def _findings_from_config_error(source: str, exc: ConfigError) -> list[Finding]:
    out = []
    for line in str(exc).splitlines():
        line = line.strip()
        if not line or line == "invalid study definition:":
            continue
        m = _LOADER_LINE.match(line)
        located = re.match(rf"^({re.escape(source)}(?::\d+)*): (.*)$", line)
        if m:
            out.append(Finding(m["where"], m["field"], m["msg"]))
        elif located:  # the file (and line:column) already leads the message: not named twice
            out.append(Finding(located[1], None, located[2]))
        else:
            out.append(Finding(source, None, line))
    return out


def static_findings(
    config: StudyConfig, *, source: str = "<study>", lines: dict[tuple, int] | None = None, allow_placeholders: bool
) -> list[Finding]:
    """Problems and warnings that need no model call: template placeholders, API keys, choices that differ
    from PRISM or that a paid study usually needs (completion code, screen-out code).

    Parameters
    ----------
    config : StudyConfig
        The study definition to check.
    source : str
        The study file's name, used in each finding's location.
    lines : dict of tuple to int, optional
        Line numbers of the file's keys by their path (from :func:`pluralis.collect.config.study_key_lines`);
        ``None`` locates findings by file only.
    allow_placeholders : bool
        Whether the shipped template's placeholder models and consent text are accepted.

    Returns
    -------
    list of Finding
        The problems (``severity="problem"``) and warnings found.

    Example
    -------
    >>> found = static_findings(StudyConfig(), allow_placeholders=False)
    >>> sorted({f.field for f in found if f.severity == "problem"})
    ['consent.text', 'models.0', 'models.1', 'models.2', 'models.3']
    """
    out: list[Finding] = []

    def at(loc: tuple, message: str, severity: Literal["problem", "warning"] = "problem") -> None:
        out.append(Finding(where_in_file(source, loc, lines), ".".join(map(str, loc)), message, severity))

    # Allowed placeholders are still reported (as warnings), so a test run never looks ready to recruit.
    placeholder: Literal["problem", "warning"] = "warning" if allow_placeholders else "problem"
    for i in placeholder_models(config):
        at(
            ("models", i),
            f"model {config.models[i].name!r} is the template's placeholder "
            f"({config.models[i].base_url}); replace it with the study's model",
            placeholder,
        )
    found = consent_placeholders(config.consent.text)
    if found:
        at(
            ("consent", "text"),
            f"the consent text still has {len(found)} placeholder(s), e.g. {found[0]}; "
            "write the study's contacts, data storage and ethics reference there",
            placeholder,
        )
    for i, m in enumerate(config.models):
        if m.api_key_env:
            try:
                m.api_key()
            except ConfigError as e:
                at(("models", i, "api_key_env"), str(e))
    s = config.sampling
    if s.mode == "random" and config.opening_count < OPENING_TURN_MODELS:
        at(
            ("sampling",),
            f"opening turns show {config.opening_count} response(s) (PRISM showed {OPENING_TURN_MODELS}): "
            f"the study has {len(config.models)} model(s)",
            "warning",
        )
    if config.completion.code is None and config.study.source == "human":
        at(
            ("completion",),
            "no [completion] code: each participant gets a generated code (a recruitment platform such as "
            "Prolific needs the study's fixed code, and redirect_url)",
            "warning",
        )
    conv, prism_texts = config.conversations, ConversationsConfig()
    if conv.quota_text == prism_texts.quota_text and any(t.quota != 2 for t in conv.types):
        at(
            ("conversations", "quota_text"),
            "participants are told to do 'two of each type' (PRISM's text), but the study's quotas are "
            + ", ".join(f"{t.name} {t.quota}" for t in conv.types)
            + "; write the study's own quota_text",
            "warning",
        )
    if conv.continue_text == prism_texts.continue_text and (conv.min_turns, conv.max_turns) != (2, 10):
        at(
            ("conversations", "continue_text"),
            f"participants are told conversations are 'between 2 and 10 turns' (PRISM's text), but the study's "
            f"are {conv.min_turns} to {conv.max_turns}; write the study's own continue_text",
            "warning",
        )
    q = config.quotas
    if q.kind == "cells" and sum(c.target for c in q.cells) > q.total:
        at(
            ("quotas", "total"),
            f"the quota cells' targets add up to {sum(c.target for c in q.cells)}, more than the study's "
            f"total of {q.total} participants: not every cell can fill",
            "warning",
        )
    if config.quotas.over_quota == "screen_out" and config.completion.screened_out_code is None:
        at(
            ("completion",),
            "quotas screen participants out but there is no [completion] screened_out_code: "
            "each screened-out participant gets a generated code",
            "warning",
        )
    return out


async def check_endpoints(
    config: StudyConfig, *, prompt: str = CHECK_PROMPT, timeout: float | None = None
) -> list[EndpointResult]:
    """Ask every model of the study ``prompt`` once, concurrently and without retries.

    Parameters
    ----------
    config
        The study.
    prompt
        The user message sent.
    timeout
        Seconds per call (default: the smaller of the model's and the study's ``sampling.timeout``).

    Returns
    -------
    list of EndpointResult
        One per model, in the study's order.

    Example
    -------
    >>> cfg = StudyConfig().with_models([{"name": "a", "endpoint": "http://127.0.0.1:9/v1"}])
    >>> [(r.model, r.ok, r.kind) for r in asyncio.run(check_endpoints(cfg, timeout=5))]
    [('a', False, 'http_error')]
    """
    from pluralis.llm import ChatResult, call_model, make_backend

    async def one(spec: Any) -> EndpointResult:
        address = spec.chat_completions_url() if spec.backend == "openai" else f"{spec.backend}:{spec.path}"
        limit = timeout or min(spec.timeout, config.sampling.timeout)
        start = time.perf_counter()
        try:
            backend = make_backend(spec.model_copy(update={"max_retries": 0}))
        except Exception as e:  # a local backend that cannot be built (missing package, bad path)
            return EndpointResult(spec.name, address, False, 0.0, "other", str(e))
        try:
            out = await call_model(
                backend,
                [{"role": "user", "content": prompt}],
                params={"max_tokens": CHECK_MAX_TOKENS},
                timeout=limit,
            )
        finally:
            try:
                await backend.aclose()
            except Exception:  # pragma: no cover - closing is best effort
                pass
        latency = time.perf_counter() - start
        if isinstance(out, ChatResult):
            text = " ".join(out.text.split())
            shown = repr(text[:80] + ("..." if len(text) > 80 else ""))
            return EndpointResult(spec.name, address, True, latency, None, f"replied {shown}")
        return EndpointResult(spec.name, address, False, latency, out.kind, out.message)

    return list(await asyncio.gather(*(one(m.spec()) for m in config.models)))


def _run(coro: Any) -> Any:
    """Run a coroutine to completion, also when called from inside a running event loop (in a thread)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = asyncio.run(coro)
        except BaseException as e:  # pragma: no cover - re-raised below
            box["error"] = e

    t = threading.Thread(target=target, name="pluralis-study-check")
    t.start()
    t.join()
    if "error" in box:
        raise box["error"]
    return box["value"]


def check_study(
    study: StudyConfig | str | Path,
    *,
    call_endpoints: bool = True,
    allow_placeholders: bool = False,
    prompt: str = CHECK_PROMPT,
    timeout: float | None = None,
) -> CheckReport:
    """Check a study before it is served (see the module docs): the file, its placeholders, every endpoint.

    Parameters
    ----------
    study
        A study file (problems name its lines) or a loaded :class:`StudyConfig`.
    call_endpoints
        Call every model once with ``prompt`` (a model that fails is a problem).
    allow_placeholders
        Accept the shipped template's placeholder models and consent text (local testing only).
    prompt, timeout
        The check prompt and the per-call timeout (see :func:`check_endpoints`).

    Returns
    -------
    CheckReport
        ``report.ok`` is False when the study must not be served; ``report.raise_for_problems()`` raises.

    Example
    -------
    >>> report = check_study(StudyConfig(), call_endpoints=False)
    >>> report.ok, len(report.problems)
    (False, 5)
    >>> check_study(StudyConfig(), call_endpoints=False, allow_placeholders=True).ok
    True
    """
    if isinstance(study, StudyConfig):
        source, lines, config = "<study>", None, study
        report = CheckReport(source, config=config)
    else:
        source = str(study)
        report = CheckReport(source)
        try:
            config = load_study_config(study)
        except ConfigError as e:
            report.problems = _findings_from_config_error(source, e)
            return report
        report.config = config
        lines = study_key_lines(study)
    for f in static_findings(config, source=source, lines=lines, allow_placeholders=allow_placeholders):
        (report.problems if f.severity == "problem" else report.warnings).append(f)
    if call_endpoints:
        report.endpoints = _run(check_endpoints(config, prompt=prompt, timeout=timeout))
        for i, res in enumerate(report.endpoints):
            if not res.ok:
                report.problems.append(
                    Finding(
                        where_in_file(source, ("models", i, "endpoint"), lines),
                        f"models.{i}",
                        f"model {res.model!r} did not answer ({res.kind}): {res.message}"
                        + ("" if res.address in res.message else f" [{res.address}]"),
                    )
                )
    return report


__all__ = [
    "CHECK_PROMPT",
    "CheckReport",
    "EndpointResult",
    "Finding",
    "check_endpoints",
    "check_study",
    "consent_placeholders",
    "placeholder_models",
    "static_findings",
]
