"""Value types of the LLM layer: decoding parameters, model specs, results, failures.

Everything here is a pydantic model, so specs can be loaded from TOML/JSON config
files and results can be stored as JSON without extra code.
"""

from __future__ import annotations

import json
import os
import tomllib
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from pluralis.data.vocab import BASE_HEADER
from pluralis.errors import ConfigError
from pluralis.llm.errors import FailureKind, MessageError

#: PRISM's per-call timeout in seconds (P App P, "Random Strategy and Time-Outs").
DEFAULT_TIMEOUT = 30.0
#: PRISM queried up to this many models in the opening turn.
OPENING_TURN_MODELS = 4
#: Base URL used when a spec has none and neither ``PLURALIS_LLM_BASE_URL`` nor ``OPENAI_BASE_URL`` is set.
DEFAULT_BASE_URL = "https://api.openai.com/v1"

BackendKind = Literal["openai", "transformers", "llama_cpp"]
ROLES = ("system", "user", "assistant")


class DecodingParams(BaseModel):
    """Sampling settings for one call. ``None`` means "the backend's default".

    PRISM's API models used ``max_tokens=256``; its HF-API models ``min_tokens=10`` and
    ``max_tokens=200`` new tokens, temperature raised to 1.0 where the default was lower.
    ``top_k`` and ``min_tokens`` are not part of OpenAI's API; the OpenAI client sends them
    only to servers that accept them (vLLM, llama.cpp, Ollama), see :class:`ModelSpec`.

    Example
    -------
    >>> p = DecodingParams(temperature=1.0, top_p=0.9, max_tokens=256)
    >>> p.merged(DecodingParams(temperature=0.7)).temperature, p.merged(None).top_p
    (0.7, 0.9)
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    temperature: float | None = Field(default=None, ge=0.0, le=2.0)
    top_p: float | None = Field(default=None, ge=0.0, le=1.0)
    top_k: int | None = Field(default=None, ge=0)
    max_tokens: int | None = Field(default=256, ge=1)
    min_tokens: int | None = Field(default=None, ge=0)
    presence_penalty: float | None = Field(default=None, ge=-2.0, le=2.0)
    frequency_penalty: float | None = Field(default=None, ge=-2.0, le=2.0)
    seed: int | None = None
    stop: list[str] | None = None

    def merged(self, override: DecodingParams | dict | None) -> DecodingParams:
        """This object with every field that ``override`` sets explicitly replaced.

        Parameters
        ----------
        override
            parameters (or a dict of them) to apply on top; ``None`` changes nothing.

        Returns
        -------
        DecodingParams

        Example
        -------
        >>> DecodingParams(temperature=0.2).merged({"seed": 3}).model_dump(exclude_none=True)
        {'temperature': 0.2, 'max_tokens': 256, 'seed': 3}
        """
        if override is None:
            return self
        if isinstance(override, dict):
            override = DecodingParams(**override)
        return self.model_copy(update={k: getattr(override, k) for k in override.model_fields_set})


class ModelSpec(BaseModel):
    """How to reach one model and how to decode from it.

    ``name`` is what gets recorded as ``model_name``; ``model`` is the id sent to the
    server (defaults to ``name``). ``backend`` picks the implementation:

    - ``"openai"``: any OpenAI-compatible ``/v1/chat/completions`` server (OpenAI, vLLM,
      Ollama, llama.cpp server, ``pluralis llm serve``). ``base_url`` defaults to
      ``$PLURALIS_LLM_BASE_URL``, then ``$OPENAI_BASE_URL``, then OpenAI. The API key is read
      from the environment variable named by ``api_key_env`` (never stored in the spec).
    - ``"transformers"``: a local model folder (``path``), optionally a GGUF file in it (``gguf_file``).
    - ``"llama_cpp"``: a local GGUF file (``path``) run in-process by ``llama-cpp-python``.

    ``system_prompt`` defaults to PRISM's ``BASE_HEADER``; it is prepended to a chat that has
    no system message. Set it to ``None`` to send chats unchanged.

    Example
    -------
    >>> spec = ModelSpec(name="llama-3-8b", base_url="http://127.0.0.1:8000/v1")
    >>> spec.chat_completions_url(), spec.model_id, spec.system_prompt[:35]
    ('http://127.0.0.1:8000/v1/chat/completions', 'llama-3-8b', 'You are a conversational assistant.')
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1)
    model: str | None = None
    provider: str = "local"
    backend: BackendKind = "openai"
    base_url: str | None = None
    api_key_env: str | None = None
    path: str | None = None
    gguf_file: str | None = None
    device: str | None = None
    dtype: str | None = None
    params: DecodingParams = Field(default_factory=DecodingParams)
    system_prompt: str | None = BASE_HEADER
    #: Send ``top_k``/``min_tokens`` (not OpenAI API fields). ``None``: yes unless the host is api.openai.com.
    send_nonstandard_params: bool | None = None
    extra_body: dict[str, Any] = Field(default_factory=dict)
    extra_headers: dict[str, str] = Field(default_factory=dict)
    max_retries: int = Field(default=2, ge=0)
    timeout: float = Field(default=DEFAULT_TIMEOUT, gt=0)

    @field_validator("base_url")
    @classmethod
    def _check_url(cls, v: str | None) -> str | None:
        if v is not None and urlsplit(v).scheme not in ("http", "https"):
            raise ValueError(f"base_url must start with http:// or https://, got {v!r}")
        return v

    @property
    def model_id(self) -> str:
        """The model id sent to the server.

        Example
        -------
        >>> ModelSpec(name="gpt-4-turbo", model="gpt-4-1106-preview").model_id
        'gpt-4-1106-preview'
        """
        return self.model or self.name

    def resolved_base_url(self) -> str:
        """The base URL, falling back to ``$PLURALIS_LLM_BASE_URL``, ``$OPENAI_BASE_URL``, then OpenAI.

        Returns
        -------
        str

        Example
        -------
        >>> ModelSpec(name="m", base_url="http://localhost:11434/v1").resolved_base_url()
        'http://localhost:11434/v1'
        """
        url = self.base_url or os.environ.get("PLURALIS_LLM_BASE_URL") or os.environ.get("OPENAI_BASE_URL")
        return url or DEFAULT_BASE_URL

    def chat_completions_url(self) -> str:
        """Full URL of the chat-completions endpoint.

        A base URL with a path (``.../v1``, ``.../v1beta/openai/``) gets ``/chat/completions``
        appended, as the OpenAI SDK does; a bare host (``http://localhost:8000``) gets
        ``/v1/chat/completions``.

        Returns
        -------
        str

        Example
        -------
        >>> ModelSpec(name="m", base_url="http://localhost:8000").chat_completions_url()
        'http://localhost:8000/v1/chat/completions'
        """
        url = self.resolved_base_url().rstrip("/")
        if urlsplit(url).path in ("", "/"):
            url += "/v1"
        return url + "/chat/completions"

    def api_key(self) -> str | None:
        """The API key from the environment variable ``api_key_env`` (``None`` if no variable is named).

        Raises :class:`ConfigError` when the variable is named but not set.

        Returns
        -------
        str or None

        Raises
        ------
        ConfigError
            the variable is named but not set.

        Example
        -------
        >>> ModelSpec(name="m").api_key() is None
        True
        """
        if not self.api_key_env:
            return None
        key = os.environ.get(self.api_key_env)
        if not key:
            raise ConfigError(f"model {self.name!r}: environment variable {self.api_key_env} (API key) is not set")
        return key

    def sends_nonstandard_params(self) -> bool:
        """Whether ``top_k``/``min_tokens`` go into the request body.

        Returns
        -------
        bool

        Example
        -------
        >>> ModelSpec(name="m", base_url="https://api.openai.com/v1").sends_nonstandard_params()
        False
        """
        if self.send_nonstandard_params is not None:
            return self.send_nonstandard_params
        return urlsplit(self.resolved_base_url()).hostname != "api.openai.com"

    @classmethod
    def from_roster(cls, roster_model: Any, /, **overrides: Any) -> ModelSpec:
        """A spec with PRISM's decoding parameters and system prompt for a roster model.

        ``roster_model`` is a short name ("gpt-4", "llama-2-7b-chat"), a long name or a
        :class:`pluralis.data.roster.RosterModel`. Overrides (``base_url``, ``model`` to
        substitute a different served model, ...) are applied on top. HF-API models get
        ``min_tokens=10, max_tokens=200`` as in PRISM.

        Parameters
        ----------
        roster_model
            a PRISM short name, long name or roster entry.
        **overrides
            spec fields set on top.

        Returns
        -------
        ModelSpec

        Example
        -------
        >>> s = ModelSpec.from_roster("claude-2", base_url="http://localhost:8000/v1", model="my-local-model")
        >>> s.name, s.provider, s.params.top_k, s.params.max_tokens
        ('claude-2', 'anthropic', 5, 256)
        """
        from pluralis.data.roster import prism_models

        model = roster_model
        if isinstance(model, str):
            found = [m for m in prism_models() if model in (m.short_name, m.long_name)]
            if not found:
                names = ", ".join(m.short_name for m in prism_models())
                raise ConfigError(f"unknown PRISM model {model!r}; known: {names}")
            model = found[0]
        raw = dict(model.params or {})
        params: dict[str, Any] = {}
        for key, conv in (
            ("temperature", float),
            ("top_p", float),
            ("top_k", int),
            ("max_tokens", int),
            ("presence_penalty", float),
            ("frequency_penalty", float),
            ("min_tokens", int),
        ):
            if raw.get(key) not in (None, ""):
                params[key] = conv(float(raw[key]))
        if model.provider == "huggingface_api":
            params.setdefault("min_tokens", 10)
            params["max_tokens"] = 200
        params.setdefault("max_tokens", 256)
        if params.get("top_p") == 0.0:  # aleph's "0.0" means "off"
            params.pop("top_p")
        if params.get("top_k") == 0:
            params.pop("top_k")
        data: dict[str, Any] = {
            "name": model.long_name,
            "provider": model.provider,
            "params": DecodingParams(**params),
            "system_prompt": model.system_prompt,
        }
        data.update(overrides)
        return cls(**data)


class TokenUsage(BaseModel):
    """Token counts reported by the backend (``None`` where it reported none).

    Example
    -------
    >>> TokenUsage(prompt_tokens=12, completion_tokens=30).total
    42
    """

    model_config = ConfigDict(frozen=True)

    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    total_tokens: int | None = None

    @property
    def total(self) -> int | None:
        """``total_tokens`` or the sum of the two parts.

        Example
        -------
        >>> TokenUsage(prompt_tokens=3, completion_tokens=1).total
        4
        """
        if self.total_tokens is not None:
            return self.total_tokens
        if self.prompt_tokens is None or self.completion_tokens is None:
            return None
        return self.prompt_tokens + self.completion_tokens


class ChatResult(BaseModel):
    """One model response.

    ``model`` is the spec's ``name`` (what PRISM stores as ``model_name``), ``served_model``
    what the server said it ran. ``latency_s`` is wall time of the whole call including
    retries, ``attempts`` the number of HTTP tries.

    Example
    -------
    >>> r = ChatResult(text="Hi!", model="m", provider="local", latency_s=0.5, finish_reason="stop")
    >>> r.text, r.usage.total
    ('Hi!', None)
    """

    text: str
    model: str
    provider: str = "local"
    served_model: str | None = None
    latency_s: float
    usage: TokenUsage = Field(default_factory=TokenUsage)
    finish_reason: str | None = None
    attempts: int = 1
    seed: int | None = None


class Failure(BaseModel):
    """A model that failed or timed out and was dropped from a response set.

    Example
    -------
    >>> Failure(model="m", kind="timeout", message="no answer within 30 s", latency_s=30.0).kind
    'timeout'
    """

    model: str
    provider: str = "local"
    kind: FailureKind
    message: str
    latency_s: float
    status_code: int | None = None


def validate_messages(messages: Any) -> list[dict[str, str]]:
    """Check a chat (list of ``{"role", "content"}``) and return a clean copy.

    Roles must be system/user/assistant, contents strings, and the chat must not be empty.

    Parameters
    ----------
    messages
        the chat to check.

    Returns
    -------
    list of dict

    Raises
    ------
    MessageError
        an empty chat, an unknown role or a content that is not text.

    Example
    -------
    >>> validate_messages([{"role": "user", "content": "Hello"}])
    [{'role': 'user', 'content': 'Hello'}]
    """
    if not isinstance(messages, (list, tuple)) or not messages:
        raise MessageError("messages must be a non-empty list of {'role', 'content'} dicts")
    out = []
    for i, m in enumerate(messages):
        if not isinstance(m, dict):
            raise MessageError(f"message {i}: expected a dict with 'role' and 'content', got {type(m).__name__}")
        role, content = m.get("role"), m.get("content")
        if role not in ROLES:
            raise MessageError(f"message {i}: role must be one of system/user/assistant, got {role!r}")
        if not isinstance(content, str):
            raise MessageError(f"message {i}: content must be a string, got {type(content).__name__}")
        out.append({"role": role, "content": content})
    return out


def with_system_prompt(messages: list[dict[str, str]], system_prompt: str | None) -> list[dict[str, str]]:
    """Prepend ``system_prompt`` unless the chat already starts with a system message.

    Parameters
    ----------
    messages
        the chat.
    system_prompt
        the system prompt (``None``: none added).

    Returns
    -------
    list of dict

    Example
    -------
    >>> with_system_prompt([{"role": "user", "content": "Hi"}], "Be brief.")[0]
    {'role': 'system', 'content': 'Be brief.'}
    """
    if not system_prompt or (messages and messages[0]["role"] == "system"):
        return list(messages)
    return [{"role": "system", "content": system_prompt}, *messages]


def load_model_specs(path: str | Path) -> list[ModelSpec]:
    """Read model specs from a TOML or JSON file.

    TOML: one ``[[models]]`` table per model (``[models.params]`` for decoding).
    JSON: a list of objects, or ``{"models": [...]}``.

    Parameters
    ----------
    path
        a ``.toml`` or ``.json`` file.

    Returns
    -------
    list of ModelSpec

    Raises
    ------
    ConfigError
        a missing or malformed file, or an invalid spec.

    Example
    -------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "models.toml"
    >>> _ = p.write_text('[[models]]\\nname = "m"\\nbase_url = "http://127.0.0.1:8000/v1"\\n'
    ...                  '[models.params]\\ntemperature = 1.0\\n')
    >>> [(s.name, s.params.temperature) for s in load_model_specs(p)]
    [('m', 1.0)]
    """
    path = Path(path)
    try:
        text = path.read_text("utf-8")
    except OSError as e:
        raise ConfigError(f"{path}: cannot read model specs: {e}") from e
    try:
        data = tomllib.loads(text) if path.suffix == ".toml" else json.loads(text)
    except (tomllib.TOMLDecodeError, json.JSONDecodeError) as e:
        raise ConfigError(f"{path}: not valid {'TOML' if path.suffix == '.toml' else 'JSON'}: {e}") from e
    items = data.get("models") if isinstance(data, dict) else data
    if not isinstance(items, list):
        raise ConfigError(f"{path}: expected a list of models (TOML: [[models]] tables)")
    specs = []
    for i, item in enumerate(items):
        try:
            specs.append(ModelSpec(**item))
        except (ValidationError, TypeError) as e:
            raise ConfigError(f"{path}: model {i}: {e}") from e
    names = [s.name for s in specs]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ConfigError(f"{path}: duplicate model names: {', '.join(dupes)}")
    return specs
