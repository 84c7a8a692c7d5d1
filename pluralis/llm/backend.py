"""The backend protocol and a factory that builds (and caches) backends from specs."""

from __future__ import annotations

import importlib
import json
import threading
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from pluralis.errors import ConfigError
from pluralis.llm.types import ChatResult, DecodingParams, ModelSpec


@runtime_checkable
class ChatBackend(Protocol):
    """What every backend implements.

    ``chat`` validates ``messages``, prepends ``spec.system_prompt`` when the chat has no
    system message, decodes with ``spec.params`` merged with ``params`` and gives up after
    ``timeout`` seconds (default ``spec.timeout``, 30 s) with :class:`BackendTimeout`. Errors
    are :class:`pluralis.llm.errors.BackendError` subclasses.

    Example
    -------
    >>> from pluralis.llm.openai_client import OpenAIBackend
    >>> isinstance(OpenAIBackend(ModelSpec(name="m", base_url="http://127.0.0.1:9/v1")), ChatBackend)
    True
    """

    spec: ModelSpec

    async def chat(
        self, messages: list[dict], *, params: DecodingParams | dict | None = None, timeout: float | None = None
    ) -> ChatResult:
        """Generate one response to ``messages``.

        Parameters
        ----------
        messages
            the chat (the spec's system prompt is added unless it starts with one).
        params
            decoding parameters, over the spec's.
        timeout
            seconds allowed (default: the spec's).

        Returns
        -------
        ChatResult

        Raises
        ------
        BackendError
            any failure (:class:`~pluralis.llm.errors.BackendTimeout`, ...).

        Example
        -------
        >>> # result = await get_backend(spec).chat([{"role": "user", "content": "Hi"}], timeout=30)
        """
        ...

    async def aclose(self) -> None:
        """Release what the backend holds (HTTP connections); it may be used again afterwards.

        Example
        -------
        >>> # await get_backend(spec).aclose()
        """
        ...


#: A model folder holding this file is served by the factory it names (the serving hook of aligned models).
BACKEND_FILE = "pluralis_backend.json"


def folder_backend(spec: ModelSpec) -> Any:
    """The backend a model folder asks for in its ``pluralis_backend.json``, or ``None``.

    The file names a factory ``{"factory": "pluralis.<module>:<function>"}`` (a module of Pluralis
    only), called as ``factory(spec, info)`` with the file's contents; it returns a backend with
    ``load()`` and ``chat()``. This lets a layer above ``llm`` (aligned models:
    :mod:`pluralis.align.serving`) be served by ``pluralis llm serve`` without ``llm`` importing it.

    Parameters
    ----------
    spec : ModelSpec
        The model's spec (only ``transformers`` backends with a ``path`` and no ``gguf_file`` are looked at).

    Returns
    -------
    Any
        The factory's backend, or ``None`` when the folder has no backend file.

    Example
    -------
    >>> folder_backend(ModelSpec(name="m", backend="transformers", path="/no/such/folder")) is None
    True
    """
    if spec.backend != "transformers" or not spec.path or spec.gguf_file:
        return None
    f = Path(spec.path) / BACKEND_FILE
    if not f.is_file():
        return None
    try:
        info = json.loads(f.read_text())
        target = str(info["factory"])
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise ConfigError(f"{f}: not a valid backend file ({e})") from None
    module, _, func = target.partition(":")
    if not module.startswith("pluralis.") or not func.isidentifier():
        raise ConfigError(f"{f}: factory must be 'pluralis.<module>:<function>', got {target!r}")
    try:
        factory = getattr(importlib.import_module(module), func)
    except (ImportError, AttributeError) as e:
        raise ConfigError(f"{f}: cannot load factory {target!r} ({e})") from None
    return factory(spec, info)


_cache: dict[str, ChatBackend] = {}
_cache_lock = threading.Lock()


def make_backend(spec: ModelSpec) -> ChatBackend:
    """A new backend for ``spec`` (no caching; see :func:`get_backend`).

    Parameters
    ----------
    spec
        the model: its ``backend`` picks the class (``openai``, ``transformers``, ``llama_cpp``).

    Returns
    -------
    ChatBackend

    Example
    -------
    >>> type(make_backend(ModelSpec(name="m", base_url="http://127.0.0.1:9/v1"))).__name__
    'OpenAIBackend'
    """
    if spec.backend == "openai":
        from pluralis.llm.openai_client import OpenAIBackend

        return OpenAIBackend(spec)
    if spec.backend == "transformers":
        from pluralis.llm.transformers_backend import TransformersBackend

        return folder_backend(spec) or TransformersBackend(spec)
    if spec.backend == "llama_cpp":
        from pluralis.llm.llamacpp_backend import LlamaCppBackend

        return LlamaCppBackend(spec)
    raise ConfigError(f"model {spec.name!r}: unknown backend {spec.backend!r}")  # pragma: no cover


def get_backend(model: ModelSpec | ChatBackend) -> ChatBackend:
    """The backend for a spec, built once per distinct spec and reused (weights load once,
    HTTP connections are pooled). A backend passed in is returned as is.

    Parameters
    ----------
    model
        a spec, or a backend (returned unchanged).

    Returns
    -------
    ChatBackend

    Example
    -------
    >>> s = ModelSpec(name="m", base_url="http://127.0.0.1:9/v1")
    >>> get_backend(s) is get_backend(s)
    True
    """
    if not isinstance(model, ModelSpec):
        if not isinstance(model, ChatBackend):
            raise ConfigError(f"expected a ModelSpec or a chat backend, got {type(model).__name__}")
        return model
    key = model.model_dump_json()
    with _cache_lock:
        backend = _cache.get(key)
        if backend is None:
            backend = _cache[key] = make_backend(model)
        return backend


async def close_backends() -> None:
    """Close every cached backend (HTTP clients) and empty the cache.

    Example
    -------
    >>> import asyncio
    >>> asyncio.run(close_backends())
    """
    with _cache_lock:
        backends = list(_cache.values())
        _cache.clear()
    for b in backends:
        await b.aclose()
