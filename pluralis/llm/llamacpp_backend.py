"""Local backend: a GGUF model run in-process by ``llama-cpp-python``.

``llama_cpp`` is imported only when the model is loaded. Build it from source with
``CMAKE_ARGS="-DGGML_NATIVE=OFF" pip install 'llama-cpp-python[server]'`` (4-6 minutes on
2 cores). The chat template comes from the GGUF metadata.

Generation runs in a worker thread; one lock per model serialises calls (a ``Llama``
object is not thread-safe). On timeout a logits processor forces end-of-sequence at the
next token, so the worker thread finishes promptly.
"""

from __future__ import annotations

import os
import threading
import time
from typing import Any

from pluralis.errors import ConfigError
from pluralis.llm.errors import BackendError
from pluralis.llm.local import generate_in_thread, local_chat_result
from pluralis.llm.types import (
    ChatResult,
    DecodingParams,
    ModelSpec,
    validate_messages,
    with_system_prompt,
)


def require_llama_cpp() -> Any:
    """Import ``llama_cpp`` or raise a :class:`BackendError` saying how to install it.

    Returns
    -------
    module
        ``llama_cpp``.

    Raises
    ------
    BackendError
        ``llama-cpp-python`` is not installed.

    Example
    -------
    >>> llama_cpp = require_llama_cpp()  # doctest: +SKIP
    """
    try:
        import llama_cpp
    except ImportError as e:
        raise BackendError(
            f"the llama_cpp backend needs llama-cpp-python ({e}); install it with "
            "`CMAKE_ARGS=\"-DGGML_NATIVE=OFF\" pip install 'llama-cpp-python[server]'`"
        ) from None
    return llama_cpp


def gguf_path(spec: ModelSpec) -> str:
    """The GGUF file of a spec: ``path`` itself, or ``path/gguf_file``.

    Parameters
    ----------
    spec
        a ``llama_cpp`` spec.

    Returns
    -------
    str

    Example
    -------
    >>> gguf_path(ModelSpec(name="m", backend="llama_cpp", path="/models", gguf_file="x.gguf"))
    '/models/x.gguf'
    """
    if not spec.path:
        raise ConfigError(f"model {spec.name!r}: the llama_cpp backend needs `path` (a .gguf file)")
    return os.path.join(spec.path, spec.gguf_file) if spec.gguf_file else spec.path


class LlamaCppBackend:
    """A :class:`~pluralis.llm.backend.ChatBackend` over an in-process ``llama_cpp.Llama``.

    Example
    -------
    >>> spec = ModelSpec(name="smollm2", backend="llama_cpp", path="/models/SmolLM2-135M-Instruct.Q4_1.gguf")
    >>> backend = LlamaCppBackend(spec)
    >>> # result = asyncio.run(backend.chat([{"role": "user", "content": "Hello"}]))
    """

    def __init__(self, spec: ModelSpec, *, n_ctx: int = 2048, n_threads: int | None = None):
        self.spec = spec
        self.n_ctx = n_ctx
        self.n_threads = n_threads
        self._llama: Any = None
        self._load_lock = threading.Lock()
        self._gen_lock = threading.Lock()

    @property
    def loaded(self) -> bool:
        """Whether the model is in memory.

        Example
        -------
        >>> LlamaCppBackend(ModelSpec(name="m", backend="llama_cpp", path="/models/m.gguf")).loaded
        False
        """
        return self._llama is not None

    def load(self) -> Any:
        """Load (once) and return the ``llama_cpp.Llama`` object. Blocking; thread-safe.

        Returns
        -------
        llama_cpp.Llama

        Raises
        ------
        BackendError
            ``llama_cpp`` missing, or the file cannot be loaded.

        Example
        -------
        >>> # llm = LlamaCppBackend(ModelSpec(name="smol", backend="llama_cpp", path="smol.gguf")).load()
        """
        with self._load_lock:
            if self._llama is None:
                llama_cpp = require_llama_cpp()
                path = gguf_path(self.spec)
                if not os.path.isfile(path):
                    raise ConfigError(f"model {self.spec.name!r}: GGUF file {path} not found")
                try:
                    self._llama = llama_cpp.Llama(
                        model_path=path, n_ctx=self.n_ctx, n_threads=self.n_threads, verbose=False
                    )
                except (ValueError, RuntimeError) as e:
                    raise BackendError(f"cannot load {path}: {e}", model=self.spec.name) from e
            return self._llama

    def generate_sync(
        self,
        messages: list[dict[str, str]],
        params: DecodingParams,
        cancel: threading.Event | None = None,
        deadline: float | None = None,
    ) -> dict[str, Any]:
        """Blocking generation; returns ``text``, ``finish_reason``, ``prompt_tokens``, ``completion_tokens``.

        Parameters
        ----------
        messages
            the chat, system prompt included.
        params
            decoding parameters.
        cancel
            set it to stop generating at the next token.
        deadline
            ``time.monotonic()`` value after which generation stops.

        Returns
        -------
        dict

        Example
        -------
        >>> # LlamaCppBackend(spec).generate_sync([{"role": "user", "content": "Hi"}], DecodingParams())["text"]
        """
        import numpy as np

        llama = self.load()
        cancel = cancel or threading.Event()
        eos = llama.token_eos()
        fired = [False]

        def force_eos(input_ids: Any, scores: Any) -> Any:
            if cancel.is_set() or (deadline is not None and time.perf_counter() > deadline):
                fired[0] = True
                scores = np.full_like(scores, -np.inf)
                scores[eos] = 0.0
            return scores

        kwargs: dict[str, Any] = {
            "temperature": 1.0 if params.temperature is None else params.temperature,
            "top_p": 1.0 if params.top_p is None else params.top_p,
            "top_k": params.top_k or 0,
            "min_p": 0.0,
            "max_tokens": params.max_tokens,
            "presence_penalty": params.presence_penalty or 0.0,
            "frequency_penalty": params.frequency_penalty or 0.0,
            "stop": params.stop or [],
            "seed": params.seed,
            "logits_processor": [force_eos],
        }
        with self._gen_lock:
            out = llama.create_chat_completion(messages=messages, **kwargs)
        choice = out["choices"][0]
        usage = out.get("usage") or {}
        return {
            "text": choice["message"].get("content") or "",
            "finish_reason": choice.get("finish_reason"),
            "prompt_tokens": usage.get("prompt_tokens"),
            "completion_tokens": usage.get("completion_tokens"),
            "cancelled": fired[0],
        }

    async def chat(
        self, messages: list[dict], *, params: DecodingParams | dict | None = None, timeout: float | None = None
    ) -> ChatResult:
        """Generate one response in a worker thread (see :class:`~pluralis.llm.backend.ChatBackend`).

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
        BackendTimeout
            no answer within ``timeout``.
        BackendError
            the model could not be loaded or run.

        Example
        -------
        >>> # result = asyncio.run(LlamaCppBackend(spec).chat([{"role": "user", "content": "Hello"}], timeout=30))
        """
        msgs = with_system_prompt(validate_messages(messages), self.spec.system_prompt)
        p = self.spec.params.merged(params)
        timeout = float(timeout if timeout is not None else self.spec.timeout)
        out, latency = await generate_in_thread(
            self.spec, lambda cancel, deadline: self.generate_sync(msgs, p, cancel, deadline), timeout
        )
        return local_chat_result(self.spec, out, p, latency)

    async def aclose(self) -> None:
        """Nothing to close.

        Example
        -------
        >>> import asyncio
        >>> asyncio.run(LlamaCppBackend(ModelSpec(name="m", backend="llama_cpp", path="/models/m.gguf")).aclose())
        """
