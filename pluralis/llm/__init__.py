"""LLM backends for collecting feedback: OpenAI-compatible HTTP, local transformers, llama.cpp.

Quick start::

    import asyncio
    from pluralis.llm import ModelSpec, generate_response_set

    specs = [ModelSpec(name="llama3.1", base_url="http://localhost:11434/v1"),          # Ollama
             ModelSpec(name="gpt-4o-mini", api_key_env="OPENAI_API_KEY", provider="openai")]
    rs = asyncio.run(generate_response_set(specs, [{"role": "user", "content": "Hi!"}], timeout=30))
    rs.responses, rs.failures

Pieces:

- :mod:`pluralis.llm.types`: :class:`DecodingParams`, :class:`ModelSpec`, :class:`ChatResult`,
  :class:`Failure`, :func:`load_model_specs` (TOML/JSON).
- :mod:`pluralis.llm.backend`: the :class:`ChatBackend` protocol, :func:`get_backend` (cached).
- :mod:`pluralis.llm.openai_client`: :class:`OpenAIBackend` (httpx, retries, per-call timeout).
- :mod:`pluralis.llm.transformers_backend`: :class:`TransformersBackend` (local folder / GGUF).
- :mod:`pluralis.llm.llamacpp_backend`: :class:`LlamaCppBackend` (in-process GGUF).
- :mod:`pluralis.llm.response_sets`: :func:`generate_response_set` (PRISM opening turn),
  :func:`generate_samples` (later turns), :func:`choose_models`.
- :mod:`pluralis.llm.nc`: :func:`nc_sample`, negatively-correlated sampling (Community Alignment).
- :mod:`pluralis.llm.server`: the app behind ``pluralis llm serve``.

torch, transformers and llama_cpp are imported only when a local model is loaded.
"""

from pluralis.llm.backend import ChatBackend, close_backends, get_backend, make_backend
from pluralis.llm.errors import BackendError, BackendHTTPError, BackendTimeout, MalformedResponse, MessageError
from pluralis.llm.nc import Candidate, NCResult, nc_json_schema, nc_sample, parse_candidates
from pluralis.llm.openai_client import OpenAIBackend, list_models
from pluralis.llm.response_sets import ResponseSet, call_model, choose_models, generate_response_set, generate_samples
from pluralis.llm.types import (
    DEFAULT_TIMEOUT,
    OPENING_TURN_MODELS,
    ChatResult,
    DecodingParams,
    Failure,
    ModelSpec,
    TokenUsage,
    load_model_specs,
    validate_messages,
    with_system_prompt,
)

__all__ = [
    "DEFAULT_TIMEOUT",
    "OPENING_TURN_MODELS",
    "BackendError",
    "BackendHTTPError",
    "BackendTimeout",
    "Candidate",
    "ChatBackend",
    "ChatResult",
    "DecodingParams",
    "Failure",
    "MalformedResponse",
    "MessageError",
    "ModelSpec",
    "NCResult",
    "OpenAIBackend",
    "ResponseSet",
    "TokenUsage",
    "call_model",
    "choose_models",
    "close_backends",
    "generate_response_set",
    "generate_samples",
    "get_backend",
    "list_models",
    "load_model_specs",
    "make_backend",
    "nc_json_schema",
    "nc_sample",
    "parse_candidates",
    "validate_messages",
    "with_system_prompt",
]
