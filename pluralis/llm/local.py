"""What the in-process backends (llama.cpp, transformers) share: a generation under a deadline, and its result.

Example
-------
>>> spec = ModelSpec(name="m", backend="transformers", path="/models/m")
>>> out = {"text": "Hi", "finish_reason": "stop", "prompt_tokens": 3, "completion_tokens": 2}
>>> local_chat_result(spec, out, DecodingParams(), 0.1).text
'Hi'
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from typing import Any

from pluralis.errors import ConfigError
from pluralis.llm.errors import BackendError, BackendTimeout
from pluralis.llm.types import ChatResult, DecodingParams, ModelSpec, TokenUsage

__all__ = ["generate_in_thread", "local_chat_result"]


async def generate_in_thread(
    spec: ModelSpec, generate: Callable[[threading.Event, float], dict[str, Any]], timeout: float
) -> tuple[dict[str, Any], float]:
    """Run an in-process backend's blocking generation in a worker thread under the call's deadline.

    The one home of the local backends' (llama.cpp, transformers) error contract: past ``timeout``
    the generation is told to stop (``cancel`` is set; it also sees the absolute ``deadline``) and
    :class:`~pluralis.llm.errors.BackendTimeout` is raised, as it is when the generation itself
    reports ``"cancelled"``; :class:`~pluralis.llm.errors.BackendError` and
    :class:`~pluralis.errors.ConfigError` pass through, and anything else (a torch or llama.cpp
    error) becomes a ``BackendError`` naming the model.

    Parameters
    ----------
    spec
        the model, for error messages.
    generate
        ``generate(cancel, deadline)``: the blocking call, returning a dict with ``"cancelled"``
        and the output fields of :func:`local_chat_result`.
    timeout
        seconds allowed.

    Returns
    -------
    tuple
        ``(output, latency in seconds)``.

    Example
    -------
    >>> spec = ModelSpec(name="m", backend="llama_cpp", path="/models/m.gguf")
    >>> out, _ = asyncio.run(generate_in_thread(spec, lambda cancel, deadline: {"cancelled": False}, 5))
    >>> out
    {'cancelled': False}
    """
    cancel = threading.Event()
    start = time.perf_counter()
    try:
        async with asyncio.timeout(timeout):
            out = await asyncio.to_thread(generate, cancel, start + timeout)
    except TimeoutError:
        cancel.set()
        raise BackendTimeout(f"no answer within {timeout:g} s", model=spec.name) from None
    except (BackendError, ConfigError):
        raise
    except Exception as e:  # torch / llama.cpp errors (out of memory, a bad chat template, ...)
        raise BackendError(f"generation failed: {type(e).__name__}: {e}", model=spec.name) from e
    if out["cancelled"]:
        raise BackendTimeout(f"no answer within {timeout:g} s", model=spec.name)
    return out, time.perf_counter() - start


def local_chat_result(spec: ModelSpec, out: dict[str, Any], params: DecodingParams, latency_s: float) -> ChatResult:
    """A :class:`ChatResult` from an in-process generation's output.

    Parameters
    ----------
    spec
        the model.
    out
        ``text``, ``finish_reason``, ``prompt_tokens`` and ``completion_tokens``.
    params
        the decoding parameters it ran with.
    latency_s
        seconds from request to answer.

    Returns
    -------
    ChatResult

    Example
    -------
    >>> spec = ModelSpec(name="m", backend="transformers", path="/models/m")
    >>> out = {"text": "Hi", "finish_reason": "stop", "prompt_tokens": 3, "completion_tokens": 2}
    >>> local_chat_result(spec, out, DecodingParams(), 0.1).usage.total_tokens
    5
    """
    usage = TokenUsage(
        prompt_tokens=out["prompt_tokens"],
        completion_tokens=out["completion_tokens"],
        total_tokens=out["prompt_tokens"] + out["completion_tokens"],
    )
    return ChatResult(
        text=out["text"],
        model=spec.name,
        provider=spec.provider,
        served_model=spec.model_id,
        latency_s=latency_s,
        usage=usage,
        finish_reason=out["finish_reason"],
        seed=params.seed,
    )
