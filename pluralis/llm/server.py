"""An OpenAI-compatible HTTP server for local models (``pluralis llm serve``).

Endpoints: ``GET /v1/models``, ``POST /v1/chat/completions`` (``stream`` is accepted: the
response is generated in full and then sent as server-sent-event chunks), ``GET /health``.
Errors use OpenAI's ``{"error": {"message", "type", "code"}}`` shape: 400 bad request,
401 bad key, 404 unknown model, 504 generation timeout, 500 other backend failure.

Messages are passed to the model as given (no system prompt is added server-side).
Models are loaded before the port is announced, so "listening" means "ready".
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from pluralis.errors import ConfigError
from pluralis.llm.errors import BackendError, BackendTimeout, MessageError
from pluralis.llm.local import local_chat_result
from pluralis.llm.transformers_backend import batch_key, require_transformers
from pluralis.llm.types import ChatResult, DecodingParams, ModelSpec, validate_messages, with_system_prompt

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


class _Pending:
    """One queued chat of a :class:`BatchingBackend`."""

    __slots__ = ("cancel", "deadline", "future", "loop", "messages", "params", "start")

    def __init__(self, messages: list[dict[str, str]], params: DecodingParams, timeout: float):
        self.loop = asyncio.get_running_loop()
        self.messages, self.params = messages, params
        self.future: asyncio.Future = self.loop.create_future()
        self.cancel = threading.Event()
        self.start = time.perf_counter()
        self.deadline = self.start + timeout


class BatchingBackend:
    """Answers concurrent chats for one local ``transformers`` model with batched ``generate`` calls.

    A chat joins a queue; a worker waits ``window_s`` for simultaneous chats to arrive, then
    answers the oldest chat together with up to ``max_batch - 1`` queued chats that share its
    sampling settings (:func:`~pluralis.llm.transformers_backend.batch_key`) in ONE padded
    ``generate`` call, in a worker thread (the event loop stays free). Chats arriving while the
    model is busy queue up and form the next batch, so under load every call is a batch.
    Seeded sampled chats run alone (a seeded sample is reproducible only on its own); each
    chat keeps its own timeout, ``max_tokens`` and ``stop``.

    Parameters
    ----------
    backend
        a :class:`~pluralis.llm.transformers_backend.TransformersBackend`.
    max_batch
        most chats per ``generate`` call.
    window_s
        seconds to wait for simultaneous chats before a batch starts.

    Example
    -------
    >>> from pluralis.llm.transformers_backend import TransformersBackend
    >>> b = BatchingBackend(TransformersBackend(ModelSpec(name="m", backend="transformers", path="/models/m")))
    >>> b.spec.name, b.batch_sizes
    ('m', [])
    """

    def __init__(self, backend: Any, *, max_batch: int = 8, window_s: float = 0.005):
        if max_batch < 1:
            raise ConfigError("max_batch must be >= 1")
        self.backend = backend
        self.spec: ModelSpec = backend.spec
        self.max_batch, self.window_s = max_batch, window_s
        self._queue: list[_Pending] = []
        self._worker: asyncio.Task | None = None
        #: size of every batched ``generate`` call so far (monitoring and tests)
        self.batch_sizes: list[int] = []

    def load(self) -> Any:
        """Load the model's weights (see the wrapped backend's ``load``).

        Example
        -------
        >>> # BatchingBackend(TransformersBackend(spec)).load()
        """
        return self.backend.load()

    async def chat(
        self, messages: list[dict], *, params: DecodingParams | dict | None = None, timeout: float | None = None
    ) -> ChatResult:
        """One answer, generated in a batch with the chats that arrive alongside it.

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
        >>> # result = await BatchingBackend(TransformersBackend(spec)).chat([{"role": "user", "content": "Hi"}])
        """
        msgs = with_system_prompt(validate_messages(messages), self.spec.system_prompt)
        p = self.spec.params.merged(params)
        timeout = float(timeout if timeout is not None else self.spec.timeout)
        if batch_key(p) is None:
            return await self.backend.chat(messages, params=params, timeout=timeout)
        if not self.backend.loaded:
            await asyncio.to_thread(self.backend.load)
        item = _Pending(msgs, p, timeout)
        self._queue.append(item)
        if self._worker is None or self._worker.done():
            self._worker = asyncio.create_task(self._work())
        try:
            async with asyncio.timeout(timeout):
                out = await item.future
        except TimeoutError:
            item.cancel.set()
            raise BackendTimeout(f"no answer within {timeout:g} s", model=self.spec.name) from None
        if out["cancelled"]:
            raise BackendTimeout(f"no answer within {timeout:g} s", model=self.spec.name)
        return local_chat_result(self.backend.spec, out, p, time.perf_counter() - item.start)

    def _take(self) -> list[_Pending]:
        """The next batch: the oldest live chat and the queued chats that can share its ``generate`` call."""
        loop = asyncio.get_running_loop()
        self._queue = [i for i in self._queue if not i.future.done() and i.loop is loop]
        if not self._queue:
            return []
        key = batch_key(self._queue[0].params)
        batch = [i for i in self._queue if batch_key(i.params) == key][: self.max_batch]
        taken = {id(i) for i in batch}
        self._queue = [i for i in self._queue if id(i) not in taken]
        return batch

    async def _work(self) -> None:
        while self._queue:
            await asyncio.sleep(self.window_s)  # let simultaneous chats arrive
            batch = self._take()
            if not batch:
                continue
            try:
                outs = await asyncio.to_thread(
                    self.backend.generate_batch_sync,
                    [(i.messages, i.params) for i in batch],
                    [i.cancel for i in batch],
                    max(i.deadline for i in batch),
                )
            except Exception as e:  # torch/transformers errors (OOM, bad template, ...)
                err = e if isinstance(e, (BackendError, ConfigError)) else None
                for i in batch:
                    if not i.future.done():
                        i.future.set_exception(
                            err or BackendError(f"generation failed: {type(e).__name__}: {e}", model=self.spec.name)
                        )
                continue
            self.batch_sizes.append(len(batch))
            for i, out in zip(batch, outs):
                if not i.future.done():
                    i.future.set_result(out)

    @property
    def loaded(self) -> bool:
        """Whether the weights are in memory.

        Example
        -------
        >>> from pluralis.llm.transformers_backend import TransformersBackend
        >>> BatchingBackend(TransformersBackend(ModelSpec(name="m", backend="transformers", path="/m"))).loaded
        False
        """
        return bool(self.backend.loaded)

    async def aclose(self) -> None:
        """Stop the batching worker (the wrapped backend keeps its weights).

        Example
        -------
        >>> from pluralis.llm.transformers_backend import TransformersBackend
        >>> import asyncio
        >>> asyncio.run(BatchingBackend(TransformersBackend(ModelSpec(name="m", backend="transformers", path="/m"))).aclose())
        """
        if self._worker is not None and not self._worker.done():
            self._worker.cancel()


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
        # the n choices run concurrently: a batching backend answers them in one generate call
        outcomes = await asyncio.gather(
            *(
                backend.chat(
                    req.chat(),
                    params=params if params.seed is None or i == 0 else params.merged({"seed": params.seed + i}),
                    timeout=timeout,
                )
                for i in range(req.n)
            ),
            return_exceptions=True,
        )
        for i, result in enumerate(outcomes):
            if isinstance(result, MessageError):
                return _error(400, str(result), "invalid_request_error")
            if isinstance(result, BackendTimeout):
                return _error(504, str(result), "timeout_error")
            if isinstance(result, (BackendError, ConfigError)):
                return _error(500, str(result), "server_error")
            if isinstance(result, BaseException):
                raise result
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
    max_batch: int = 8,
    n_threads: int | None = None,
    torch_threads: int | None = None,
) -> None:
    """Load every model, then serve them until interrupted. ``port=0`` picks a free port.

    Prints ``READY_LINE http://HOST:PORT/v1`` to stdout once listening. Every model answers
    concurrently with the others (each generates in its own worker thread). Concurrent chats
    for one ``transformers`` model are answered in batched ``generate`` calls
    (:class:`BatchingBackend`); a ``llama_cpp`` model answers one chat at a time, and the
    models share the CPU cores (``n_threads`` each, default: cores / number of llama.cpp models).

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
    max_batch
        most chats per batched ``generate`` call of a ``transformers`` model (1: no batching).
    n_threads
        CPU threads of each ``llama_cpp`` model.
    torch_threads
        torch's intra-op CPU threads for ``transformers`` models (``None``: torch's default, one
        per core). On a busy shared CPU one thread can be several times faster
        (``benchmarks/bench_llm_serve.py --torch-threads``).

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
    if torch_threads is not None:
        if torch_threads < 1:
            raise ConfigError("torch_threads must be >= 1")
        torch, _ = require_transformers()  # torch: imported only when asked
        torch.set_num_threads(torch_threads)
    n_llama = sum(1 for s in specs if s.backend == "llama_cpp")
    threads = n_threads or (max(1, (os.cpu_count() or 1) // n_llama) if n_llama > 1 else None)
    backends: dict[str, Any] = {}
    for spec in specs:
        b: Any
        if spec.backend == "llama_cpp":
            b = LlamaCppBackend(spec, n_ctx=n_ctx, n_threads=threads)
        else:  # a folder may name its own backend (aligned models: pluralis_backend.json)
            b = folder_backend(spec) or TransformersBackend(spec)
            if max_batch > 1 and isinstance(b, TransformersBackend):
                b = BatchingBackend(b, max_batch=max_batch)
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
