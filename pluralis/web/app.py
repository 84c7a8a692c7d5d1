"""The collection web app (FastAPI, server-rendered Jinja2, plain forms; no JavaScript framework or build step).

``pluralis serve STUDY.toml`` runs :func:`create_app` under uvicorn. The app is assembled from:

- :mod:`pluralis.web.routes`: the route table (every URL, its methods and its view);
- :mod:`pluralis.web.participant` and :mod:`pluralis.web.admin`: the views, by audience;
- :mod:`pluralis.web.state`: the one object the views share, at ``app.state.collect`` (study, store,
  repository, model backends, keys, limits);
- :mod:`pluralis.web.common`: rendering, forms, cookies and CSRF; :mod:`pluralis.web.security`: keys,
  rate limits and security headers; :mod:`pluralis.web.dashboard`: the admin dashboard's figures.

Every response carries ``Server-Timing: app;dur=..., model;dur=...`` (milliseconds; ``app`` excludes model time),
the security headers and, except static files, ``Cache-Control: no-store`` (:class:`TimingHeaders`). Behind a
trusted reverse proxy the forwarded client address, scheme and host are believed
(:class:`pluralis.web.proxy.ProxyHeaders`); form submissions another site starts are refused
(:class:`SameOriginPosts`); an unexpected error shows participants a plain apology and goes to the log.

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

import logging
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
from pluralis.web.proxy import ProxyHeaders, origin_of
from pluralis.web.routes import ROUTES
from pluralis.web.security import SECURITY_HEADERS, Secrets, cross_site_reason
from pluralis.web.state import CollectState

log = logging.getLogger("pluralis.web")

#: What a participant is told about an error of the app itself (the details go to the log).
INTERNAL_ERROR = "Something went wrong on our side. Your answers so far are saved; please try again in a moment."
#: What a browser is told when another website submitted one of the study's forms.
CROSS_SITE_MESSAGE = (
    "This form was sent from another website, so it was not accepted. If you were taking part in the study, "
    "please open the study page again."
)


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


class SameOriginPosts:
    """ASGI middleware: refuse state-changing requests (POST, ...) that another site started (403).

    Uses :func:`pluralis.web.security.cross_site_reason` with the study's origin: the public URL's when one is
    set, else the request's own (scheme and host, as a trusted proxy reports them). Login CSRF through the
    resume link and every other cross-site form submission stop here, before any view.

    Parameters
    ----------
    app
        The ASGI app to wrap.

    Example
    -------
    >>> import os, tempfile
    >>> from fastapi.testclient import TestClient
    >>> app = create_app(StudyConfig(), os.path.join(tempfile.mkdtemp(), "s.sqlite"))
    >>> TestClient(app).post("/start", headers={"Sec-Fetch-Site": "cross-site"}).status_code
    403
    """

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("method", "GET") in ("GET", "HEAD", "OPTIONS"):
            return await self.app(scope, receive, send)
        request = Request(scope)
        state: CollectState = request.app.state.collect
        if state.public_url:
            origins = [origin_of(state.public_url)]
        else:
            origins = [origin_of(f"{request.url.scheme}://{request.headers.get('host', '')}/")]
        reason = cross_site_reason(request.headers, origins)
        if reason is None:
            return await self.app(scope, receive, send)
        log.warning("refused a cross-site %s %s (%s)", scope.get("method"), scope.get("path"), reason)
        return await error_page(request, CROSS_SITE_MESSAGE, 403)(scope, receive, send)


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


async def _internal_error(request: Request, exc: Exception) -> Response:
    log.error("%s %s failed", request.method, request.url.path, exc_info=exc)
    if request.url.path.startswith("/admin/api"):
        return Response('{"error": "internal error (see the server log)"}', 500, media_type="application/json")
    return error_page(request, INTERNAL_ERROR, 500)


def create_app(
    config: StudyConfig,
    store: Store | str | os.PathLike,
    *,
    admin_token: str | None = None,
    secret_key: bytes | None = None,
    models: Mapping[str, Any] | None = None,
    public_url: str | None = None,
    trusted_proxies: list[str] | str | None = None,
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
    public_url
        The address participants use, e.g. ``https://study.example.org`` (default: ``[server] public_url``):
        resume links point there, and forms must come from its origin.
    trusted_proxies
        Addresses/networks of reverse proxies whose ``X-Forwarded-For``/``-Proto``/``-Host`` are believed
        (default: ``[server] trusted_proxies``; none: the headers are ignored).

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
    state = CollectState(
        config,
        store,
        Secrets(secret_key, admin_token),
        models,
        public_url=public_url,
        trusted_proxies=trusted_proxies,
    )
    app.state.collect = state
    app.mount("/static", StaticFiles(directory=package_dir("static")), name="static")
    # outermost last: timing and headers see every response; the proxy's view is set before the origin check
    app.add_middleware(SameOriginPosts)
    app.add_middleware(ProxyHeaders, trusted=state.trusted)
    app.add_middleware(TimingHeaders)
    app.add_exception_handler(FormError, _bad_form)
    app.add_exception_handler(Exception, _internal_error)
    for route in ROUTES:
        app.add_api_route(route.path, route.view, methods=list(route.methods))
    return app


__all__ = ["CROSS_SITE_MESSAGE", "INTERNAL_ERROR", "SameOriginPosts", "TimingHeaders", "create_app"]
