"""An OpenAI-compatible HTTP server for local models (``pluralis llm serve``).

Endpoints: ``GET /v1/models``, ``POST /v1/chat/completions`` (``stream`` is accepted: the
response is generated in full and then sent as server-sent-event chunks), ``GET /health``.
Errors use OpenAI's ``{"error": {"message", "type", "code"}}`` shape: 400 bad request,
401 bad key, 404 unknown model, 504 generation timeout, 500 other backend failure.

Messages are passed to the model as given (no system prompt is added server-side).
Models are loaded before the port is announced, so "listening" means "ready".
"""

from __future__ import annotations

import json
import os
import socket
import sys
import time
import uuid
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from pluralis.errors import ConfigError
from pluralis.llm.errors import BackendError, BackendTimeout, MessageError
from pluralis.llm.types import DecodingParams, ModelSpec

#: Printed to stdout (then flushed) once the server is ready; the port follows.
READY_LINE = "pluralis llm serve: listening on"


class ChatCompletionRequest(BaseModel):
    """The subset of OpenAI's chat-completions request the server understands (unknown fields are ignored).

    Example
    -------
    >>> r = ChatCompletionRequest(model="tiny", messages=[{"role": "user", "content": "Hi"}], stop="\\n")
    >>> r.decoding().stop
    ['\\n']
    """

    model_config = ConfigDict(extra="ignore")

    model: str
    messages: list[dict[str, Any]]
    temperature: float | None = Field(default=None, ge=0.0, le=2.0)
    top_p: float | None = Field(default=None, ge=0.0, le=1.0)
    top_k: int | None = Field(default=None, ge=0)
    max_tokens: int | None = Field(default=None, ge=1)
    max_completion_tokens: int | None = Field(default=None, ge=1)
    min_tokens: int | None = Field(default=None, ge=0)
    presence_penalty: float | None = Field(default=None, ge=-2.0, le=2.0)
    frequency_penalty: float | None = Field(default=None, ge=-2.0, le=2.0)
    seed: int | None = None
    stop: str | list[str] | None = None
    n: int = Field(default=1, ge=1, le=8)
    stream: bool = False

    def decoding(self) -> DecodingParams:
        """The request's decoding parameters (only those it set).

        Returns
        -------
        DecodingParams

        Example
        -------
        >>> ChatCompletionRequest(model="m", messages=[], max_completion_tokens=9).decoding().max_tokens
        9
        """
        fields: dict[str, Any] = {
            k: getattr(self, k)
            for k in ("temperature", "top_p", "top_k", "min_tokens", "presence_penalty", "frequency_penalty", "seed")
            if getattr(self, k) is not None
        }
        max_tokens = self.max_completion_tokens or self.max_tokens
        if max_tokens is not None:
            fields["max_tokens"] = max_tokens
        if self.stop is not None:
            fields["stop"] = [self.stop] if isinstance(self.stop, str) else list(self.stop)
        return DecodingParams(**fields)

    def chat(self) -> list[dict[str, Any]]:
        """Messages with list-of-parts contents joined to plain text.

        Returns
        -------
        list of dict

        Example
        -------
        >>> parts = [{"type": "text", "text": "Hi "}, {"type": "text", "text": "there"}]
        >>> ChatCompletionRequest(model="m", messages=[{"role": "user", "content": parts}]).chat()[0]["content"]
        'Hi there'
        """
        out = []
        for m in self.messages:
            content = m.get("content")
            if isinstance(content, list):
                content = "".join(p.get("text", "") for p in content if isinstance(p, dict))
            out.append({"role": m.get("role"), "content": content})
        return out


def _error(status: int, message: str, type_: str, code: str | None = None) -> Any:
    from fastapi.responses import JSONResponse

    return JSONResponse(status_code=status, content={"error": {"message": message, "type": type_, "code": code}})


def create_app(backends: dict[str, Any], *, api_key: str | None = None, timeout: float = 120.0) -> Any:
    """A FastAPI app serving ``backends`` (name -> backend with ``chat``) the OpenAI way.

    ``api_key``: when set, requests must send ``Authorization: Bearer <api_key>``.
    ``timeout``: seconds allowed for one generation.

    Parameters
    ----------
    backends
        served name -> backend.
    api_key
        the key clients must send (``None``: no key).
    timeout
        seconds allowed for one generation.

    Returns
    -------
    fastapi.FastAPI

    Example
    -------
    >>> from fastapi.testclient import TestClient
    >>> app = create_app({})
    >>> TestClient(app).get("/v1/models").json()
    {'object': 'list', 'data': []}
    """
    from fastapi import FastAPI, Request
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import JSONResponse, StreamingResponse

    app = FastAPI(title="pluralis llm serve", docs_url=None, redoc_url=None)
    created = int(time.time())

    @app.exception_handler(RequestValidationError)
    async def _bad_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = "; ".join(f"{'.'.join(str(x) for x in e['loc'][1:])}: {e['msg']}" for e in exc.errors())
        return _error(400, f"invalid request: {errors}", "invalid_request_error")

    @app.middleware("http")
    async def _auth(request: Request, call_next: Any) -> Any:
        if (
            api_key
            and request.url.path.startswith("/v1/")
            and request.headers.get("authorization", "") != f"Bearer {api_key}"
        ):
            return _error(401, "invalid or missing API key", "authentication_error", "invalid_api_key")
        return await call_next(request)

    @app.get("/health")
    async def health() -> dict[str, Any]:
        return {"status": "ok", "models": list(backends)}

    @app.get("/v1/models")
    async def models() -> dict[str, Any]:
        return {
            "object": "list",
            "data": [{"id": name, "object": "model", "created": created, "owned_by": "pluralis"} for name in backends],
        }

    @app.post("/v1/chat/completions")
    async def chat_completions(req: ChatCompletionRequest) -> Any:
        backend = backends.get(req.model)
        if backend is None:
            return _error(
                404,
                f"model {req.model!r} not found; served: {', '.join(backends)}",
                "invalid_request_error",
                "model_not_found",
            )
        try:
            params = req.decoding()
        except ValidationError as e:
            return _error(400, f"invalid decoding parameters: {e}", "invalid_request_error")
        choices: list[dict[str, Any]] = []
        prompt_tokens, completion_tokens = 0, 0
        for i in range(req.n):
            p = params if params.seed is None or i == 0 else params.merged({"seed": params.seed + i})
            try:
                result = await backend.chat(req.chat(), params=p, timeout=timeout)
            except MessageError as e:
                return _error(400, str(e), "invalid_request_error")
            except BackendTimeout as e:
                return _error(504, str(e), "timeout_error")
            except (BackendError, ConfigError) as e:
                return _error(500, str(e), "server_error")
            choices.append(
                {
                    "index": i,
                    "message": {"role": "assistant", "content": result.text},
                    "finish_reason": result.finish_reason or "stop",
                    "logprobs": None,
                }
            )
            prompt_tokens = result.usage.prompt_tokens or 0
            completion_tokens += result.usage.completion_tokens or 0
        body = {
            "id": f"chatcmpl-{uuid.uuid4().hex}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": req.model,
            "choices": choices,
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
            },
        }
        if not req.stream:
            return body

        def events() -> Any:
            base = {"id": body["id"], "object": "chat.completion.chunk", "created": body["created"], "model": req.model}
            for c in choices:
                for delta, finish in (
                    ({"role": "assistant", "content": ""}, None),
                    ({"content": c["message"]["content"]}, None),
                    ({}, c["finish_reason"]),
                ):
                    chunk = {**base, "choices": [{"index": c["index"], "delta": delta, "finish_reason": finish}]}
                    yield f"data: {json.dumps(chunk)}\n\n"
            yield "data: [DONE]\n\n"

        return StreamingResponse(events(), media_type="text/event-stream")

    return app


def spec_for_path(
    path: str,
    *,
    name: str | None = None,
    backend: str = "auto",
    gguf_file: str | None = None,
    device: str | None = None,
    dtype: str | None = None,
) -> ModelSpec:
    """The spec ``pluralis llm serve`` uses for a model folder or ``.gguf`` file.

    ``backend="auto"``: a ``.gguf`` file runs on ``llama_cpp`` when it is installed, else on
    ``transformers`` (``gguf_file=``); a folder runs on ``transformers``. The served name
    defaults to the folder name or the file stem. No system prompt is added server-side.

    Parameters
    ----------
    path
        a model folder or ``.gguf`` file.
    name
        the served model name.
    backend
        ``"auto"``, ``"transformers"`` or ``"llama_cpp"``.
    gguf_file
        a GGUF file inside the folder (transformers).
    device
        torch device (transformers).
    dtype
        torch dtype (transformers).

    Returns
    -------
    ModelSpec

    Example
    -------
    >>> s = spec_for_path("/models/tiny-llama", backend="transformers")
    >>> s.name, s.backend, s.system_prompt
    ('tiny-llama', 'transformers', None)
    """
    p = Path(path)
    is_gguf = p.suffix.lower() == ".gguf" or (gguf_file is not None)
    if backend == "auto":
        if is_gguf:
            try:
                import llama_cpp  # noqa: F401

                backend = "llama_cpp"
            except ImportError:
                backend = "transformers"
        else:
            backend = "transformers"
    if backend not in ("transformers", "llama_cpp"):
        raise ConfigError(f"unknown backend {backend!r}; use auto, transformers or llama_cpp")
    fields: dict[str, Any] = {
        "backend": backend,
        "device": device,
        "dtype": dtype,
        "system_prompt": None,
        "params": DecodingParams(),
        "provider": "local",
    }
    if backend == "transformers" and p.suffix.lower() == ".gguf":
        fields.update(path=str(p.parent), gguf_file=p.name)
    else:
        fields.update(path=str(p), gguf_file=gguf_file)
    fields["name"] = name or (p.stem if p.suffix.lower() == ".gguf" else p.name)
    return ModelSpec(**fields)


def listen(host: str, port: int, *, backlog: int = 128) -> tuple[socket.socket, str]:
    """Bind and listen on ``host:port`` (``port=0``: a free one); returns the socket and its ``http://`` URL.

    Binding before uvicorn starts lets a server announce the port it really got. Accepted
    connections inherit TCP_NODELAY, so a response's headers and body go out at once (no 40 ms
    Nagle / delayed-ACK stall between them).

    Parameters
    ----------
    host
        the address to bind.
    port
        the port (0: any free one).
    backlog
        the listen queue length.

    Returns
    -------
    tuple of (socket.socket, str)

    Raises
    ------
    ConfigError
        the address cannot be bound (the socket is closed).

    Example
    -------
    >>> sock, url = listen("127.0.0.1", 0)
    >>> url.startswith("http://127.0.0.1:")
    True
    >>> sock.close()
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        sock.bind((host, port))
    except OSError as e:
        sock.close()
        raise ConfigError(f"cannot listen on {host}:{port}: {e}") from e
    sock.listen(backlog)
    shown = f"[{host}]" if family == socket.AF_INET6 else host
    return sock, f"http://{shown}:{sock.getsockname()[1]}"


def serve(
    specs: list[ModelSpec],
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    api_key: str | None = None,
    timeout: float = 120.0,
    n_ctx: int = 2048,
    log_level: str = "warning",
) -> None:
    """Load every model, then serve them until interrupted. ``port=0`` picks a free port.

    Prints ``READY_LINE http://HOST:PORT/v1`` to stdout once listening.

    Parameters
    ----------
    specs
        the models to serve.
    host
        the address to listen on.
    port
        the port (0: any free one).
    api_key
        the key clients must send.
    timeout
        seconds allowed for one generation.
    n_ctx
        context size of ``llama_cpp`` models.
    log_level
        uvicorn's log level.

    Example
    -------
    >>> # serve([spec_for_path("/models/tiny")], port=0)
    """
    import uvicorn

    from pluralis.llm.backend import folder_backend
    from pluralis.llm.llamacpp_backend import LlamaCppBackend
    from pluralis.llm.transformers_backend import TransformersBackend

    if not specs:
        raise ConfigError("nothing to serve: give at least one --model")
    names = [s.name for s in specs]
    if len(set(names)) != len(names):
        raise ConfigError(f"duplicate served model names: {names}; use NAME=PATH to rename")
    backends: dict[str, Any] = {}
    for spec in specs:
        b: Any
        if spec.backend == "llama_cpp":
            b = LlamaCppBackend(spec, n_ctx=n_ctx)
        else:  # a folder may name its own backend (aligned models: pluralis_backend.json)
            b = folder_backend(spec) or TransformersBackend(spec)
        b.load()
        backends[spec.name] = b
    app = create_app(backends, api_key=api_key, timeout=timeout)
    sock, url = listen(host, port)
    print(f"{READY_LINE} {url}/v1 (models: {', '.join(backends)})", flush=True)
    server = uvicorn.Server(uvicorn.Config(app, log_level=log_level, access_log=False))
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()
        sys.stdout.flush()


def api_key_from_env(var: str | None) -> str | None:
    """The key the server requires, read from environment variable ``var`` (``None``: no key).

    Parameters
    ----------
    var
        the environment variable's name.

    Returns
    -------
    str or None

    Raises
    ------
    ConfigError
        the variable is named but not set.

    Example
    -------
    >>> api_key_from_env(None) is None
    True
    """
    if not var:
        return None
    key = os.environ.get(var)
    if not key:
        raise ConfigError(f"environment variable {var} (server API key) is not set")
    return key
