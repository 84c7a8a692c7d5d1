"""The collection web app (FastAPI, server-rendered Jinja2, plain forms; no JavaScript framework or build step).

``pluralis serve STUDY.toml`` runs :func:`create_app` under uvicorn. The app is assembled from:

- :mod:`pluralis.web.routes`: the route table (every URL, its methods and its view);
- :mod:`pluralis.web.participant` and :mod:`pluralis.web.admin`: the views, by audience;
- :mod:`pluralis.web.state`: the one object the views share, at ``app.state.collect`` (study, store,
  repository, model backends, keys, limits);
- :mod:`pluralis.web.common`: rendering, forms, cookies and CSRF; :mod:`pluralis.web.security`: keys,
  rate limits and security headers; :mod:`pluralis.web.dashboard`: the admin dashboard's figures.

Every response carries ``Server-Timing: app;dur=..., model;dur=...`` (milliseconds; ``app`` excludes model time),
the security headers and, except static files, ``Cache-Control: no-store`` (:class:`TimingHeaders`).

Example
-------
>>> import os, tempfile
>>> from fastapi.testclient import TestClient
>>> from pluralis.collect.config import StudyConfig
>>> app = create_app(StudyConfig(), os.path.join(tempfile.mkdtemp(), "s.sqlite"))
>>> r = TestClient(app).get("/")
>>> r.status_code, r.headers["x-frame-options"], r.headers["server-timing"].startswith("app;dur=")
(200, 'DENY', True)
"""

from __future__ import annotations

import os
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from pluralis.collect.config import StudyConfig
from pluralis.store import Store
from pluralis.web.common import MAX_FORM_BYTES, FormError, error_page, package_dir
from pluralis.web.routes import ROUTES
from pluralis.web.security import SECURITY_HEADERS, Secrets
from pluralis.web.state import CollectState


class TimingHeaders:
    """ASGI middleware: ``Server-Timing`` (app time without model time), security headers, no-store, size limit.

    Handlers put the seconds they waited for models in ``scope["state"]["model_time"]``. Bodies announced
    larger than ``MAX_FORM_BYTES`` are refused (413) before the app sees them.

    Parameters
    ----------
    app
        The ASGI app to wrap.

    Example
    -------
    >>> from fastapi.testclient import TestClient
    >>> async def hello(scope, receive, send):
    ...     await send({"type": "http.response.start", "status": 200, "headers": []})
    ...     await send({"type": "http.response.body", "body": b"hi"})
    >>> r = TestClient(TimingHeaders(hello)).get("/")
    >>> r.text, r.headers["cache-control"], r.headers["referrer-policy"]
    ('hi', 'no-store', 'no-referrer')
    """

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        start = time.perf_counter()
        state = scope.setdefault("state", {})
        state["model_time"] = 0.0
        headers = dict(scope.get("headers") or [])
        length = headers.get(b"content-length", b"")
        if length.isdigit() and int(length) > MAX_FORM_BYTES:
            return await HTMLResponse("Request too large", status_code=413)(scope, receive, send)
        static = scope.get("path", "").startswith("/static")

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                total = (time.perf_counter() - start) * 1000
                model = float(state.get("model_time") or 0.0) * 1000
                extra = [(b"server-timing", f"app;dur={max(total - model, 0.0):.2f}, model;dur={model:.2f}".encode())]
                present = {k.lower() for k, _ in message.get("headers", [])}
                for k, v in SECURITY_HEADERS.items():
                    if k.lower().encode() not in present:
                        extra.append((k.lower().encode(), v.encode()))
                if not static:
                    extra.append((b"cache-control", b"no-store"))
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        await self.app(scope, receive, send_wrapper)


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    state: CollectState = app.state.collect
    await state.startup()
    try:
        yield
    finally:
        await state.shutdown()


async def _bad_form(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, FormError)
    return error_page(request, exc.message, exc.status_code)


def create_app(
    config: StudyConfig,
    store: Store | str | os.PathLike,
    *,
    admin_token: str | None = None,
    secret_key: bytes | None = None,
    models: Mapping[str, Any] | None = None,
) -> FastAPI:
    """The FastAPI app of a study.

    Parameters
    ----------
    config
        The study.
    store
        A :class:`pluralis.store.Store`, or a path/URL (opened and migrated).
    admin_token
        Default: ``$`` + ``config.admin.token_env``; without one the admin pages are disabled.
    secret_key
        The signing key of CSRF tokens and the admin cookie (default: random per process).
    models
        Model backends by name (default: built from the study's model specs at startup).

    Returns
    -------
    FastAPI
        The app; its state is :class:`pluralis.web.state.CollectState` at ``app.state.collect``.

    See Also
    --------
    pluralis.web.routes.ROUTES : every URL and its view.

    Example
    -------
    >>> import tempfile, os
    >>> from fastapi.testclient import TestClient
    >>> app = create_app(StudyConfig(), os.path.join(tempfile.mkdtemp(), "s.sqlite"), admin_token="t" * 24)
    >>> with TestClient(app) as client:
    ...     client.get("/").status_code
    200
    """
    if not isinstance(store, Store):
        store = Store.open(store)
    if admin_token is None:
        admin_token = os.environ.get(config.admin.token_env) or None
    app = FastAPI(title=config.study.title, docs_url=None, redoc_url=None, openapi_url=None, lifespan=_lifespan)
    app.state.collect = CollectState(config, store, Secrets(secret_key, admin_token), models)
    app.mount("/static", StaticFiles(directory=package_dir("static")), name="static")
    app.add_middleware(TimingHeaders)
    app.add_exception_handler(FormError, _bad_form)
    for route in ROUTES:
        app.add_api_route(route.path, route.view, methods=list(route.methods))
    return app


__all__ = ["TimingHeaders", "create_app"]
