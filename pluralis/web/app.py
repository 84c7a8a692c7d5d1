"""The collection web app (FastAPI, server-rendered Jinja2, plain forms; no JavaScript framework or build step).

``pluralis serve STUDY.toml`` runs :func:`create_app` under uvicorn. A participant's path::

    GET /  (landing, ?PROLIFIC_PID=...)  -> POST /start -> GET /study (always shows the current step)
    POST /study/consent | /study/survey | /study/start | /study/rate | /study/followup | /study/finish
         | /study/feedback  -> 303 -> GET /study
    GET /resume/{token}  (the resume link shown on every page; a closed tab also resumes from the cookie)

Every POST applies one protocol action (:mod:`pluralis.collect.protocol`) and commits it
(:class:`pluralis.web.repository.CollectRepository`) before redirecting, so a rating is in the database
before the next page is served. Opening turns and follow-ups call the models concurrently and wait for them;
a generation interrupted by a crash is restarted when the participant's page is next loaded.

Admin (token from ``$PLURALIS_ADMIN_TOKEN`` or the study's ``admin.token_env``): ``GET /admin`` dashboard,
``GET /admin/export.zip`` PRISM files, ``GET /admin/api/summary`` JSON (cookie or ``Authorization: Bearer``).

Every response carries ``Server-Timing: app;dur=..., model;dur=...`` (milliseconds; ``app`` excludes model time).
"""

from __future__ import annotations

import asyncio
import io
import json
import os
import tempfile
import threading
import time
import weakref
import zipfile
from collections.abc import Callable, Mapping
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.concurrency import run_in_threadpool

from pluralis.collect.config import StudyConfig
from pluralis.collect.protocol import (
    ProtocolError,
    ProtocolSession,
    StaleResult,
    Step,
    run_model_call,
)
from pluralis.collect.quotas import QuotaPlan
from pluralis.store import Store
from pluralis.web.repository import CollectRepository, ConcurrentUpdate, Snapshot
from pluralis.web.security import SECURITY_HEADERS, RateLimiter, Secrets, new_csrf

PARTICIPANT_COOKIE = "pluralis_p"
CSRF_COOKIE = "pluralis_csrf"
ADMIN_COOKIE = "pluralis_admin"
COOKIE_MAX_AGE = 60 * 60 * 24 * 30
MAX_FORM_BYTES = 256 * 1024
#: Seconds between two recomputations of the dashboard's "whose preferences?" ranking.
WHOSE_PREFERENCES_MIN_INTERVAL = 30.0


def _package_dir(name: str) -> str:
    return str(resources.files("pluralis.web").joinpath(name))


def consent_blocks(text: str) -> list[tuple[str, str]]:
    """Split consent text into ``("h", heading)`` / ``("p", paragraph)`` blocks (``## `` marks a heading).

    Example
    -------
    >>> consent_blocks("## Title\\n\\nFirst para\\nstill first.\\n\\nSecond.")
    [('h', 'Title'), ('p', 'First para still first.'), ('p', 'Second.')]
    """
    out: list[tuple[str, str]] = []
    for block in text.replace("\r\n", "\n").split("\n\n"):
        block = block.strip()
        if not block:
            continue
        if block.startswith("## "):
            head, _, rest = block.partition("\n")
            out.append(("h", head[3:].strip()))
            if rest.strip():
                out.append(("p", " ".join(rest.split())))
        else:
            out.append(("p", " ".join(block.split())))
    return out


class CollectApp:
    """Everything the routes share: the study, the repository, keys, limits, model backends, locks."""

    def __init__(
        self, config: StudyConfig, repo: CollectRepository, secrets_: Secrets, models: Mapping[str, Any] | None = None
    ):
        self.config = config
        self.repo = repo
        self.secrets = secrets_
        self._given_models = models
        self.models: Mapping[str, Any] = models or {}
        self.limits = config.limits
        self.llm_limiter = RateLimiter(self.limits.llm_requests_per_minute, 60.0)
        self.join_limiter = RateLimiter(self.limits.joins_per_minute_per_ip, 60.0)
        self.login_limiter = RateLimiter(10, 60.0)
        self.call_limiter: asyncio.Semaphore | None = None
        self.inflight: dict[str, asyncio.Task] = {}
        self._locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()
        self.quota_plan = QuotaPlan(config.quotas)
        self.env = Environment(
            loader=FileSystemLoader(_package_dir("templates")),
            autoescape=select_autoescape(default=True, default_for_string=True),
            trim_blocks=True,
            lstrip_blocks=True,
            auto_reload=False,
        )
        self.env.globals.update(config=config, consent_blocks=consent_blocks)

    async def startup(self) -> None:
        """Build model backends inside the serving event loop (HTTP pools sized for the study)."""
        self.call_limiter = asyncio.Semaphore(self.limits.max_concurrent_model_calls)
        self.repo.start_checkpointer()
        if self._given_models is None:
            self._build_backends()

    def _build_backends(self) -> None:
        from pluralis.llm.backend import make_backend

        backends: dict[str, Any] = {}
        n = self.limits.max_concurrent_model_calls
        per_shard = 32
        for name, spec in self.config.model_specs().items():
            if spec.backend == "openai":
                backends[name] = PooledBackend(spec, shards=-(-n // per_shard), per_shard=per_shard)
            else:
                backends[name] = make_backend(spec)
        self.models = backends

    async def shutdown(self) -> None:
        for task in list(self.inflight.values()):
            task.cancel()
        await run_in_threadpool(self.repo.stop_checkpointer)
        if self._given_models is None:
            for b in self.models.values():
                try:
                    await b.aclose()
                except Exception:  # pragma: no cover - closing is best effort
                    pass

    async def db(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Run a repository call: inline on SQLite (sub-millisecond, one writer anyway; no thread hop),
        in the thread pool on a networked database."""
        if self.repo.sqlite:
            return fn(*args, **kwargs)
        return await run_in_threadpool(fn, *args, **kwargs)

    def lock_for(self, user_id: str) -> asyncio.Lock:
        lock = self._locks.get(user_id)
        if lock is None:
            lock = asyncio.Lock()
            self._locks[user_id] = lock
        return lock

    def session_kwargs(self) -> dict[str, Any]:
        return {"models": self.models, "quota_gate": self._quota_gate, "limiter": self.call_limiter}

    def _quota_gate(self, cell: str | None) -> bool:
        if not self.quota_plan.active:
            return True
        return self.quota_plan.has_room(cell, self.repo.cell_counts())

    def render(self, name: str, status_code: int = 200, **ctx: Any) -> HTMLResponse:
        html = self.env.get_template(name).render(**ctx)
        return HTMLResponse(html, status_code=status_code)

    # -- generation -----------------------------------------------------------------------------

    async def generate(self, token: str, user_id: str) -> float:
        """Run the pending model call of a participant and commit its responses; returns model seconds."""
        session = await self.db(self.repo.load, token, **self.session_kwargs())
        if session is None or session.step != Step.GENERATING:
            return 0.0
        call = session.pending_call()
        result = await run_model_call(call, self.models, limiter=self.call_limiter)
        async with self.lock_for(token):
            session = await self.db(self.repo.load, token, **self.session_kwargs())
            if session is None or session.step != Step.GENERATING:
                return result.latency_s
            before = Snapshot.of(session.state)
            try:
                session.apply_result(result)
            except StaleResult:
                return result.latency_s
            detail = {
                "conversation_id": call.conversation_id,
                "turn": call.turn,
                "responses": len(result.responses),
                "failures": len(result.failures),
                "latency_s": round(result.latency_s, 3),
            }
            try:
                await self.db(self.repo.save, session, before, [("responses", detail)])
            except ConcurrentUpdate:
                pass
        return result.latency_s

    def ensure_generation(self, token: str, user_id: str) -> asyncio.Task:
        task = self.inflight.get(user_id)
        if task is None or task.done():
            task = asyncio.get_running_loop().create_task(self.generate(token, user_id))
            self.inflight[user_id] = task
            task.add_done_callback(
                lambda t, u=user_id: self.inflight.pop(u, None) if self.inflight.get(u) is t else None
            )
        return task


class TimingHeaders:
    """ASGI middleware: ``Server-Timing`` (app time without model time), security headers, no-store, size limit.

    Handlers put the seconds they waited for models in ``scope["state"]["model_time"]``.
    """

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
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

        async def send_wrapper(message):
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


class FormData(dict):
    """A parsed ``application/x-www-form-urlencoded`` body: first value per key, ``getlist`` for all."""

    def __init__(self, pairs: list[tuple[str, str]]):
        super().__init__()
        self._lists: dict[str, list[str]] = {}
        for k, v in pairs:
            self._lists.setdefault(k, []).append(v)
            self.setdefault(k, v)

    def getlist(self, key: str) -> list[str]:
        return list(self._lists.get(key, []))


class FormError(Exception):
    """A submitted body that is not a form this app accepts (answered with ``status_code`` and a plain page)."""

    def __init__(self, status_code: int, message: str):
        super().__init__(message)
        self.status_code = status_code
        self.message = message


MAX_FORM_FIELDS = 2000


async def read_form(request: Request) -> FormData:
    """Parse a submitted form: ``application/x-www-form-urlencoded`` (what the pages send; fast path) or
    ``multipart/form-data`` without files. Raises :class:`FormError` for other content types (415), bodies over
    ``MAX_FORM_BYTES`` even when sent without a Content-Length (413) and malformed bodies (400).

    Example
    -------
    >>> import asyncio
    >>> from starlette.requests import Request
    >>> async def receive():
    ...     return {"type": "http.request", "body": b"a=1&b=x&b=y", "more_body": False}
    >>> req = Request({"type": "http", "method": "POST", "headers": [
    ...     (b"content-type", b"application/x-www-form-urlencoded")]}, receive)
    >>> form = asyncio.run(read_form(req))
    >>> form["a"], form.getlist("b")
    ('1', ['x', 'y'])
    """
    ctype = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if ctype in ("application/x-www-form-urlencoded", ""):
        chunks: list[bytes] = []
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > MAX_FORM_BYTES:
                raise FormError(413, "This form is too large.")
            chunks.append(chunk)
        try:
            pairs = parse_qsl(
                b"".join(chunks).decode("utf-8", "replace"), keep_blank_values=True, max_num_fields=MAX_FORM_FIELDS
            )
        except ValueError:
            raise FormError(400, "This form has too many fields.") from None
        return FormData(pairs)
    if ctype == "multipart/form-data":
        try:
            form = await request.form(max_files=0, max_fields=MAX_FORM_FIELDS, max_part_size=MAX_FORM_BYTES)
        except Exception:  # starlette: MultiPartException / HTTPException for files, too many parts, bad syntax
            raise FormError(400, "This form could not be read (file uploads are not accepted).") from None
        return FormData([(k, v) for k, v in form.multi_items() if isinstance(v, str)])
    raise FormError(415, "Please submit the form from the study page.")


class PooledBackend:
    """Spread one OpenAI-compatible model's calls over several HTTP clients (small connection pools scale
    better under hundreds of concurrent calls than one big pool)."""

    def __init__(self, spec, shards: int, per_shard: int):
        import httpx

        from pluralis.llm.openai_client import OpenAIBackend

        self.spec = spec
        self._backends = [
            OpenAIBackend(
                spec,
                transport=httpx.AsyncHTTPTransport(
                    limits=httpx.Limits(max_connections=per_shard, max_keepalive_connections=per_shard)
                ),
            )
            for _ in range(max(1, shards))
        ]
        self._next = 0

    async def chat(self, messages, *, params=None, timeout=None):
        backend = self._backends[self._next % len(self._backends)]
        self._next += 1
        return await backend.chat(messages, params=params, timeout=timeout)

    async def aclose(self) -> None:
        for b in self._backends:
            await b.aclose()


# --- form parsing ------------------------------------------------------------------------------------


def survey_answers_from_form(
    config: StudyConfig, section_id: str, form: Mapping[str, Any], getlist: Callable[[str], list[str]]
) -> dict[str, Any]:
    """Turn a submitted survey page into protocol answers (see :meth:`ProtocolSession.submit_survey_section`).

    Example
    -------
    >>> cfg = StudyConfig()
    >>> survey_answers_from_form(cfg, "lm_use", {"lm_familiarity": "Very familiar"}, lambda k: [])["lm_familiarity"]
    'Very familiar'
    """
    section = next(s for s in config.survey.sections if s.id == section_id)
    return {q.id: q.question_kind.from_form(q, form, getlist) for q in section.questions}  # each kind reads its fields


def attributes_from_form(prefix: str, keys: list[str], form: Mapping[str, Any]) -> dict[str, Any]:
    """Attribute ratings from sliders ``{prefix}__{key}`` with N/A boxes ``{prefix}__{key}__na``.

    Example
    -------
    >>> attributes_from_form("performance", ["values", "safety"], {"performance__values": "70",
    ...                      "performance__safety": "50", "performance__safety__na": "on"})
    {'values': '70', 'safety': None}
    """
    return {k: (None if form.get(f"{prefix}__{k}__na") else form.get(f"{prefix}__{k}")) for k in keys}


# --- the app ---------------------------------------------------------------------------------------


def create_app(
    config: StudyConfig,
    store: Store | str | os.PathLike,
    *,
    admin_token: str | None = None,
    secret_key: bytes | None = None,
    models: Mapping[str, Any] | None = None,
) -> FastAPI:
    """The FastAPI app of a study.

    ``store``: a :class:`pluralis.store.Store` or a path/URL (opened and migrated). ``admin_token``: default
    ``$`` + ``config.admin.token_env``; without one the admin pages are disabled. ``models``: backends by model
    name (default: built from the study's model specs at startup).

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
    repo = CollectRepository(store, config)
    ctx = CollectApp(config, repo, Secrets(secret_key, admin_token), models)

    from contextlib import asynccontextmanager

    @asynccontextmanager
    async def lifespan(_app: FastAPI):
        await ctx.startup()
        try:
            yield
        finally:
            await ctx.shutdown()

    app = FastAPI(title=config.study.title, docs_url=None, redoc_url=None, openapi_url=None, lifespan=lifespan)
    app.state.collect = ctx
    app.mount("/static", StaticFiles(directory=_package_dir("static")), name="static")

    app.add_middleware(TimingHeaders)

    @app.exception_handler(FormError)
    async def bad_form(_request: Request, exc: FormError):
        return ctx.render("error.html", exc.status_code, message=exc.message)

    # -- helpers ------------------------------------------------------------------------------------

    def secure(request: Request) -> bool:
        return request.url.scheme == "https" or request.headers.get("x-forwarded-proto") == "https"

    def set_participant_cookie(request: Request, response: Response, token: str) -> None:
        response.set_cookie(
            PARTICIPANT_COOKIE,
            token,
            max_age=COOKIE_MAX_AGE,
            httponly=True,
            samesite="lax",
            secure=secure(request),
            path="/",
        )

    def client_ip(request: Request) -> str:
        return request.client.host if request.client else "unknown"

    async def current(request: Request) -> tuple[str | None, ProtocolSession | None]:
        token = request.cookies.get(PARTICIPANT_COOKIE)
        if not token:
            return None, None
        session = await ctx.db(repo.load, token, **ctx.session_kwargs())
        return (token, session) if session is not None else (None, None)

    def page(
        request: Request,
        token: str,
        session: ProtocolSession,
        *,
        errors: dict[str, str] | None = None,
        form: Mapping[str, Any] | None = None,
        status_code: int = 200,
        message: str | None = None,
    ) -> HTMLResponse:
        view = session.view()
        base = str(request.base_url).rstrip("/")
        common = dict(
            view=view,
            csrf=ctx.secrets.csrf_for(token),
            errors=errors or {},
            form=form if isinstance(form, FormData) else FormData(list((form or {}).items())),
            resume_url=f"{base}/resume/{token}",
            message=message,
            session=session,
        )
        step = view.step
        if step == Step.CONSENT:
            return ctx.render("consent.html", status_code, **common)
        if step == Step.SURVEY:
            section = next(s for s in config.survey.sections if s.id == view.section)
            return ctx.render("survey.html", status_code, section=section, **common)
        if step == Step.START:
            return ctx.render("start.html", status_code, **common)
        if step == Step.GENERATING:
            return ctx.render("generating.html", status_code, **common)
        if step == Step.RATE:
            return ctx.render("rate.html", status_code, **common)
        if step == Step.CONTINUE:
            return ctx.render("continue.html", status_code, **common)
        if step == Step.FEEDBACK:
            return ctx.render("feedback.html", status_code, **common)
        if step == Step.SCREENED_OUT:
            return ctx.render("screened_out.html", status_code, **common)
        return ctx.render("complete.html", status_code, **common)

    def error_page(message: str, status_code: int) -> HTMLResponse:
        return ctx.render("error.html", status_code, message=message)

    async def act(
        request: Request, action: Callable[[ProtocolSession, Any], list[tuple[str, dict | None]]], *, llm: bool = False
    ) -> Response:
        token = request.cookies.get(PARTICIPANT_COOKIE)
        if not token:
            return RedirectResponse("/", status_code=303)
        form = await read_form(request)
        if not ctx.secrets.check_csrf(form.get("csrf"), token):
            return error_page("This form has expired or was not sent by this page. Please reload and try again.", 403)
        if llm and not ctx.llm_limiter.allow(token):
            return error_page("You are sending messages too quickly. Please wait a minute and try again.", 429)
        async with ctx.lock_for(token):
            session = await ctx.db(repo.load, token, **ctx.session_kwargs())
            if session is None:
                return RedirectResponse("/", status_code=303)
            before = Snapshot.of(session.state)
            try:
                events = action(session, form)
            except ProtocolError as e:
                return page(request, token, session, errors=e.errors or {"_": str(e)}, form=form, status_code=422)
            try:
                await ctx.db(repo.save, session, before, events)
            except ConcurrentUpdate:
                return RedirectResponse("/study", status_code=303)
        if session.step == Step.GENERATING:
            task = ctx.ensure_generation(token, session.user_id)
            request.scope.setdefault("state", {})["model_time"] = await asyncio.shield(task)
        return RedirectResponse("/study", status_code=303)

    # -- participant routes ---------------------------------------------------------------------------

    @app.get("/", response_class=HTMLResponse)
    async def landing(request: Request):
        token, session = await current(request)
        if session is not None:
            return RedirectResponse("/study", status_code=303)
        csrf = request.cookies.get(CSRF_COOKIE) or new_csrf()
        external = request.query_params.get("PROLIFIC_PID") or request.query_params.get("participant") or ""
        resp = ctx.render("landing.html", csrf=csrf, external_id=external[:128])
        resp.set_cookie(CSRF_COOKIE, csrf, httponly=True, samesite="strict", secure=secure(request), path="/")
        return resp

    @app.post("/start")
    async def start(request: Request):
        form = await read_form(request)
        cookie = request.cookies.get(CSRF_COOKIE)
        if not cookie or form.get("csrf") != cookie:
            return error_page("This form has expired. Please go back to the start page and try again.", 403)
        if not ctx.join_limiter.allow(client_ip(request)):
            return error_page("Too many new participants from your address. Please wait a minute.", 429)
        if config.limits.max_participants is not None:
            total = sum((await ctx.db(repo.status_counts)).values())
            if total >= config.limits.max_participants:
                return error_page("This study is full. Thank you for your interest.", 403)
        external = (form.get("external_id") or "").strip()[:128] or None
        if external and await ctx.db(repo.external_id_exists, external):
            return error_page(
                "This participant id has already started the study. Please continue in the browser "
                "where you started, or use the resume link you were given.",
                409,
            )
        token, session = await ctx.db(lambda: repo.create_session(external_id=external))
        resp = RedirectResponse("/study", status_code=303)
        set_participant_cookie(request, resp, token)
        return resp

    @app.get("/resume/{token}")
    async def resume(request: Request, token: str):
        # A resume link is a bearer secret: following one asks first, so that a link someone else sent
        # cannot silently put a participant into a session its sender can read.
        session = await ctx.db(repo.load, token)
        if session is None:
            return error_page("This resume link is not valid.", 404)
        current_token = request.cookies.get(PARTICIPANT_COOKIE)
        if current_token == token:
            return RedirectResponse("/study", status_code=303)
        state = session.state
        started = time.strftime("%d %B %Y, %H:%M UTC", time.gmtime(state.started_at))
        other = current_token is not None and await ctx.db(repo.load, current_token) is not None
        return ctx.render(
            "resume.html",
            started=started,
            done=len(state.completed),
            total=config.conversations.total_quota,
            other_session=other,
            csrf=ctx.secrets.csrf_for(token),
            action=str(request.url.path),
        )

    @app.post("/resume/{token}")
    async def resume_confirmed(request: Request, token: str):
        form = await read_form(request)
        if not ctx.secrets.check_csrf(form.get("csrf"), token):
            return error_page("This form has expired. Please open your resume link again.", 403)
        session = await ctx.db(repo.load, token)
        if session is None:
            return error_page("This resume link is not valid.", 404)
        await ctx.db(repo.add_event, session.user_id, "resumed", None)
        resp = RedirectResponse("/study", status_code=303)
        set_participant_cookie(request, resp, token)
        return resp

    @app.get("/study", response_class=HTMLResponse)
    async def study(request: Request):
        token, session = await current(request)
        if session is None:
            return RedirectResponse("/", status_code=303)
        if session.step == Step.GENERATING:
            ctx.ensure_generation(token, session.user_id)
        return page(request, token, session)

    def _consent(session: ProtocolSession, form) -> list:
        session.consent(bool(form.get("consent")), bool(form.get("consent_age")))
        return [("consent", None)]

    def _survey(session: ProtocolSession, form) -> list:
        section = form.get("section") or ""
        if section != session.view().section:
            raise ProtocolError("this survey page was already submitted", errors={"_": "please answer this page"})
        answers = survey_answers_from_form(config, section, form, form.getlist)
        session.submit_survey_section(section, answers)
        events: list = [("survey_page", {"section": section})]
        if session.step == Step.SCREENED_OUT:
            events.append(("screened_out", {"cell": session.state.quota_cell}))
        elif session.step == Step.START:
            events.append(("survey_done", {"cell": session.state.quota_cell}))
        return events

    def _start_conv(session: ProtocolSession, form) -> list:
        session.start_conversation(form.get("conversation_type") or "", form.get("opening_prompt") or "")
        conv = session.state.current
        return [("conversation_started", {"conversation_id": conv.conversation_id, "type": conv.conversation_type})]

    def _rate(session: ProtocolSession, form) -> list:
        view = session.view()
        scores = {r.id: form.get(f"score_{r.id}") for r in view.responses}
        session.rate(scores)
        return [("rated", {"conversation_id": view.conversation_id, "turn": view.turn})]

    def _followup(session: ProtocolSession, form) -> list:
        session.add_prompt(form.get("prompt") or "")
        return [("follow_up", {"conversation_id": session.state.current.conversation_id})]

    def _finish(session: ProtocolSession, form) -> list:
        session.end_conversation()
        return [("conversation_ended", {"conversation_id": session.state.current.conversation_id})]

    def _feedback(session: ProtocolSession, form) -> list:
        attrs = config.attributes
        conv = session.submit_feedback(
            attributes_from_form("performance", list(attrs.performance), form),
            attributes_from_form("choice", list(attrs.choice), form),
            form.get("open_feedback") or "",
        )
        events: list = [("conversation_done", {"conversation_id": conv.conversation_id})]
        if session.step == Step.COMPLETE:
            events.append(("completed", None))
        return events

    @app.post("/study/consent")
    async def post_consent(request: Request):
        return await act(request, _consent)

    @app.post("/study/survey")
    async def post_survey(request: Request):
        return await act(request, _survey)

    @app.post("/study/start")
    async def post_start(request: Request):
        return await act(request, _start_conv, llm=True)

    @app.post("/study/rate")
    async def post_rate(request: Request):
        return await act(request, _rate)

    @app.post("/study/followup")
    async def post_followup(request: Request):
        return await act(request, _followup, llm=True)

    @app.post("/study/finish")
    async def post_finish(request: Request):
        return await act(request, _finish)

    @app.post("/study/feedback")
    async def post_feedback(request: Request):
        return await act(request, _feedback)

    @app.get("/healthz")
    async def healthz():
        return {"status": "ok", "study": config.study.id}

    # -- admin ------------------------------------------------------------------------------------------

    def admin_ok(request: Request) -> bool:
        auth = request.headers.get("authorization", "")
        if auth.startswith("Bearer ") and ctx.secrets.check_admin(auth[7:].strip()):
            return True
        return ctx.secrets.check_admin_cookie(request.cookies.get(ADMIN_COOKIE))

    panel_lock = threading.Lock()
    panel_cache: dict[str, Any] = {"key": None, "at": float("-inf"), "value": None}

    def whose_preferences(finished: int) -> dict[str, Any]:
        """The ranking panel, recomputed only when conversations were finished since the last one and at
        most every ``WHOSE_PREFERENCES_MIN_INTERVAL`` seconds (about a second of CPU at PRISM's size, and
        the dashboard refreshes itself)."""
        with panel_lock:
            now = time.monotonic()
            fresh = panel_cache["key"] == finished or now - panel_cache["at"] < WHOSE_PREFERENCES_MIN_INTERVAL
            if panel_cache["value"] is None or not fresh:
                panel_cache.update(key=finished, at=now, value=repo.whose_preferences())
            return panel_cache["value"]

    async def dashboard_data() -> dict[str, Any]:
        def collect() -> dict[str, Any]:
            statuses = repo.status_counts()
            counts = repo.counts()
            return {
                "study": config.study.id,
                "participants": sum(statuses.values()),
                "status": statuses,
                "quota": ctx.quota_plan.fill(repo.cell_counts()) if ctx.quota_plan.active else [],
                "ratings": repo.rating_summary(),
                "failures": repo.failure_summary(),
                "counts": counts,
                "whose_preferences": whose_preferences(counts.get("conversations", 0)),
            }

        return await run_in_threadpool(collect)

    @app.get("/admin", response_class=HTMLResponse)
    async def admin(request: Request):
        if ctx.secrets.admin_token is None:
            return error_page(f"The admin dashboard is disabled: set {config.admin.token_env}.", 403)
        if not admin_ok(request):
            csrf = request.cookies.get(CSRF_COOKIE) or new_csrf()
            resp = ctx.render("admin_login.html", csrf=csrf, error=None)
            resp.set_cookie(CSRF_COOKIE, csrf, httponly=True, samesite="strict", secure=secure(request), path="/")
            return resp
        data = await dashboard_data()
        return ctx.render("admin.html", data=data, csrf=ctx.secrets.csrf_for("admin"))

    @app.post("/admin/login")
    async def admin_login(request: Request):
        form = await read_form(request)
        cookie = request.cookies.get(CSRF_COOKIE)
        if not cookie or form.get("csrf") != cookie:
            return error_page("This form has expired. Please reload the page.", 403)
        if not ctx.login_limiter.allow(client_ip(request)):
            return error_page("Too many attempts. Please wait a minute.", 429)
        if not ctx.secrets.check_admin(form.get("token")):
            return ctx.render("admin_login.html", status_code=401, csrf=cookie, error="Wrong token.")
        resp = RedirectResponse("/admin", status_code=303)
        resp.set_cookie(
            ADMIN_COOKIE,
            ctx.secrets.admin_cookie(),
            httponly=True,
            samesite="strict",
            secure=secure(request),
            path="/admin",
            max_age=60 * 60 * 12,
        )
        return resp

    @app.post("/admin/logout")
    async def admin_logout(request: Request):
        form = await read_form(request)
        if not admin_ok(request) or not ctx.secrets.check_csrf(form.get("csrf"), "admin"):
            return error_page("Not allowed.", 403)
        resp = RedirectResponse("/admin", status_code=303)
        resp.delete_cookie(ADMIN_COOKIE, path="/admin")
        return resp

    @app.get("/admin/api/summary")
    async def admin_summary(request: Request):
        if not admin_ok(request):
            return JSONResponse({"error": "admin token required"}, status_code=401)
        return JSONResponse(await dashboard_data())

    @app.get("/admin/export.zip")
    async def admin_export(request: Request, completed_only: bool = False):
        if not admin_ok(request):
            return JSONResponse({"error": "admin token required"}, status_code=401)

        def build() -> bytes:
            from pluralis.data import write_prism

            study = repo.export_study(completed_only=completed_only)
            buf = io.BytesIO()
            with tempfile.TemporaryDirectory() as tmp:
                paths = write_prism(study, Path(tmp), metadata=False)
                with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
                    for path in paths.values():
                        zf.write(path, arcname=Path(path).name)
                    zf.writestr(
                        "study.json",
                        json.dumps(
                            {"study_id": config.study.id, "exported_at": time.time(), "counts": study.counts()},
                            indent=2,
                        ),
                    )
            return buf.getvalue()

        data = await run_in_threadpool(build)
        return Response(
            data,
            media_type="application/zip",
            headers={"Content-Disposition": f'attachment; filename="{config.study.id}-prism.zip"'},
        )

    return app


__all__ = [
    "CollectApp",
    "FormError",
    "attributes_from_form",
    "consent_blocks",
    "create_app",
    "read_form",
    "survey_answers_from_form",
]
