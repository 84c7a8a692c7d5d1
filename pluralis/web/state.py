"""The collection app's state: ONE object (``app.state.collect``) that every view reads.

:class:`CollectState` holds the study, the store and its repository, the model backends, the signing keys,
the rate limits, the template environment, the dashboard and the per-participant locks and model calls in
flight. Views reach it with :func:`pluralis.web.common.state_of`; nothing is captured in closures.

Example
-------
>>> import os, tempfile
>>> from pluralis.collect.config import StudyConfig
>>> from pluralis.store import Store
>>> from pluralis.web.security import Secrets
>>> config = StudyConfig()
>>> state = CollectState(config, Store.open(os.path.join(tempfile.mkdtemp(), "s.sqlite")), Secrets(), models={})
>>> state.repo.status_counts(), state.models
({}, {})
"""

from __future__ import annotations

import asyncio
import functools
import importlib.util
import logging
import statistics
import sys
import time
import weakref
from collections import deque
from collections.abc import Callable, Mapping
from typing import Any

from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.concurrency import run_in_threadpool

from pluralis.collect.config import StudyConfig
from pluralis.collect.protocol import CallResult, StaleResult, Step, run_model_call
from pluralis.collect.quotas import QuotaPlan
from pluralis.store import Store
from pluralis.web.availability import check_sessions, repair_pending, unavailable_models
from pluralis.web.common import consent_blocks, country_options, http_url, package_dir
from pluralis.web.dashboard import Dashboard
from pluralis.web.proxy import TrustedProxies, url_prefix
from pluralis.web.repository import CollectRepository, ConcurrentUpdate, Snapshot
from pluralis.web.security import AuthThrottle, RateLimiter, Secrets
from pluralis.web.transport import StreamTransport

# httpcore runs ``import sniffio`` on every request it sends (each model call) and falls back to asyncio when
# the import fails; without sniffio installed, every call searched the whole import path again (~0.5 ms of
# file-system look-ups per model call under load). A ``None`` entry makes the import fail at once, as before.
if importlib.util.find_spec("sniffio") is None:
    sys.modules.setdefault("sniffio", None)  # type: ignore[arg-type]

log = logging.getLogger("pluralis.web")

#: Model calls per HTTP client of an OpenAI-compatible backend (see :class:`PooledBackend`). httpcore scans
#: every connection of a pool (a readability poll each) whenever a request starts or ends, so small pools cost
#: much less CPU per call than big ones: 1.5 ms of CPU per call with 32 connections per client, 1.0 with 8,
#: 0.8 with 4 (and no less below), 256 calls in flight to a local double.
CALLS_PER_CLIENT = 4


@functools.cache
def _ssl_context() -> Any:
    """The process's one TLS context for model clients (httpx's default verification, built once)."""
    import httpx

    return httpx.create_ssl_context()


class PooledBackend:
    """Spread one OpenAI-compatible model's calls over several HTTP clients.

    A model served over plain ``http://`` gets ONE client on a :class:`pluralis.web.transport.StreamTransport`
    (0.3 instead of 0.8 ms of CPU per call). Over ``https://``, httpx's transport: small connection pools
    scale better under hundreds of concurrent calls than one big pool, so calls go round the ``shards``.

    Parameters
    ----------
    spec
        The model's :class:`pluralis.llm.ModelSpec` (``backend="openai"``).
    shards
        Number of HTTP clients (``https://`` only).
    per_shard
        Connections per client (``https://``); ``shards * per_shard`` connections are kept open over ``http://``.

    Example
    -------
    >>> import asyncio
    >>> from pluralis.llm import ModelSpec
    >>> pool = PooledBackend(ModelSpec(name="m", base_url="https://127.0.0.1:9/v1", max_retries=0), 2, 4)
    >>> len(pool._backends), pool.spec.name
    (2, 'm')
    >>> asyncio.run(pool.aclose())
    >>> len(PooledBackend(ModelSpec(name="m", base_url="http://127.0.0.1:9/v1"), 2, 4)._backends)
    1
    """

    def __init__(self, spec: Any, shards: int, per_shard: int):
        import httpx

        from pluralis.llm.openai_client import OpenAIBackend

        self.spec = spec
        self._next = 0
        if spec.chat_completions_url().startswith("http://"):
            # keep as many connections open as calls may be in flight (as httpx's pools did): no reconnecting
            self._backends = [OpenAIBackend(spec, transport=StreamTransport(max_idle=max(1, shards * per_shard)))]
            return
        verify = _ssl_context()  # one for all clients: loading the CA store costs ~65 ms each
        self._backends = [
            OpenAIBackend(
                spec,
                transport=httpx.AsyncHTTPTransport(
                    verify=verify, limits=httpx.Limits(max_connections=per_shard, max_keepalive_connections=per_shard)
                ),
            )
            for _ in range(max(1, shards))
        ]

    async def chat(self, messages: list[dict], *, params: Any = None, timeout: float | None = None) -> Any:
        """Send one chat to the next client in turn.

        Parameters
        ----------
        messages
            The chat so far.
        params
            Decoding parameters overriding the spec's.
        timeout
            Seconds to wait.

        Returns
        -------
        pluralis.llm.ChatResult

        See Also
        --------
        pluralis.llm.openai_client.OpenAIBackend.chat : what each client does.

        Example
        -------
        >>> import asyncio
        >>> from pluralis.llm import ModelSpec
        >>> pool = PooledBackend(ModelSpec(name="m", base_url="http://127.0.0.1:9/v1", max_retries=0), 2, 1)
        >>> try:
        ...     asyncio.run(pool.chat([{"role": "user", "content": "Hi"}], timeout=2))
        ... except Exception as e:
        ...     type(e).__name__
        'BackendHTTPError'
        """
        backend = self._backends[self._next % len(self._backends)]
        self._next += 1
        return await backend.chat(messages, params=params, timeout=timeout)

    async def aclose(self) -> None:
        """Close every client.

        Example
        -------
        >>> import asyncio
        >>> from pluralis.llm import ModelSpec
        >>> asyncio.run(PooledBackend(ModelSpec(name="m", base_url="http://127.0.0.1:9/v1"), 1, 1).aclose())
        """
        for b in self._backends:
            await b.aclose()


class CollectState:
    """Everything the views share: the study, store, repository, model backends, keys, limits, locks.

    Parameters
    ----------
    config
        The study.
    store
        The store (migrated).
    secrets
        Signing key and admin token.
    models
        Model backends by name; ``None`` builds them from the study's model specs at :meth:`startup`
        (inside the serving event loop, HTTP pools sized for the study) and closes them at :meth:`shutdown`.
    public_url
        The address participants use (default: the study's ``[server] public_url``).
    trusted_proxies
        Reverse proxies whose ``X-Forwarded-*`` headers are believed (default: ``[server] trusted_proxies``).

    Example
    -------
    >>> import asyncio, os, tempfile
    >>> from pluralis.collect.config import StudyConfig
    >>> from pluralis.collect.protocol import example_survey_answers
    >>> from pluralis.llm import ChatResult, ModelSpec
    >>> from pluralis.store import Store
    >>> from pluralis.web.repository import Snapshot
    >>> class Echo:                                   # any pluralis.llm ChatBackend works
    ...     def __init__(self, name): self.spec = ModelSpec(name=name)
    ...     async def chat(self, messages, *, params=None, timeout=None):
    ...         return ChatResult(text="You said: " + messages[-1]["content"], model=self.spec.name, latency_s=0.0)
    ...     async def aclose(self): pass
    >>> config = StudyConfig()
    >>> store = Store.open(os.path.join(tempfile.mkdtemp(), "s.sqlite"))
    >>> state = CollectState(config, store, Secrets(), models={n: Echo(n) for n in config.model_names()})
    >>> token, session = state.repo.create_session()
    >>> async def opening_turn():
    ...     await state.startup()
    ...     session = state.repo.load(token, **state.session_kwargs())
    ...     session.consent()
    ...     session.submit_survey(example_survey_answers())
    ...     session.start_conversation("unguided", "Hello there")
    ...     state.repo.save(session, before)
    ...     await state.ensure_generation(token, session.user_id)   # the models answer; committed
    ...     await state.shutdown()
    ...     return state.repo.load(token)
    >>> before = Snapshot.of(session.state)
    >>> after = asyncio.run(opening_turn())
    >>> after.step.value, len(after.view().responses), state.repo.counts()["responses"]
    ('rate', 4, 4)
    """

    def __init__(
        self,
        config: StudyConfig,
        store: Store,
        secrets: Secrets,
        models: Mapping[str, Any] | None = None,
        *,
        public_url: str | None = None,
        trusted_proxies: list[str] | str | None = None,
    ):
        self.config = config
        self.public_url = (public_url or config.server.public_url or "").rstrip("/") or None
        self.prefix = url_prefix(self.public_url)
        self.trusted = TrustedProxies(config.server.trusted_proxies if trusted_proxies is None else trusted_proxies)
        self.store = store
        self.repo = CollectRepository(store, config)
        self.secrets = secrets
        self._given_models = models
        self.models: Mapping[str, Any] = models or {}
        self.limits = config.limits
        self.llm_limiter = RateLimiter(self.limits.llm_requests_per_minute, 60.0)
        self.join_limiter = RateLimiter(self.limits.joins_per_minute_per_ip, 60.0)
        self.admin_throttle = AuthThrottle(per_ip=10, overall=100)
        self.call_limiter: asyncio.Semaphore | None = None
        self.inflight: dict[str, asyncio.Task] = {}
        #: When each participant's model call in flight started (epoch seconds), for the waiting page.
        self.inflight_started: dict[str, float] = {}
        #: Seconds the last model calls took (the waiting page's "usually about ...").
        self.recent_latencies: deque[float] = deque(maxlen=50)
        #: Participants in a conversation with a model that is gone, found at start-up (:meth:`startup`).
        self.model_check: dict[str, Any] = {"checked": 0, "affected": 0, "models": {}}
        self._locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()
        self.quota_plan = QuotaPlan(config.quotas)
        self.dashboard = Dashboard(config, self.repo, self.quota_plan)
        self.env = Environment(
            loader=FileSystemLoader(package_dir("templates")),
            autoescape=select_autoescape(default=True, default_for_string=True),
            trim_blocks=True,
            lstrip_blocks=True,
            auto_reload=False,
        )
        self.env.globals.update(
            config=config,
            consent_blocks=consent_blocks,
            country_options=country_options,
            root=self.prefix,
            http_url=http_url,
        )

    # -- lifespan -------------------------------------------------------------------------------

    async def startup(self) -> None:
        """Start serving: the model-call limit, the SQLite checkpointer, and the backends unless given.

        Runs in the serving event loop (the app's lifespan); :meth:`shutdown` undoes it.

        Example
        -------
        >>> import asyncio, os, tempfile
        >>> from pluralis.collect.config import StudyConfig
        >>> from pluralis.store import Store
        >>> state = CollectState(StudyConfig(), Store.open(os.path.join(tempfile.mkdtemp(), "s.sqlite")), Secrets())
        >>> async def serve():
        ...     await state.startup()
        ...     built = sorted(state.models) == sorted(state.config.model_names())
        ...     await state.shutdown()
        ...     return built
        >>> asyncio.run(serve())
        True
        """
        self.call_limiter = asyncio.Semaphore(self.limits.max_concurrent_model_calls)
        self.repo.start_checkpointer()
        if self._given_models is None:
            self.models = self._build_backends()
        self.check_running_sessions()

    def check_running_sessions(self) -> dict[str, Any]:
        """Find the participants in a conversation with a model the app no longer has, and log a summary.

        Run at start-up (after the study file changed, a model may be gone); such participants are given a
        replacement or may finish early (:mod:`pluralis.web.availability`). The summary is kept in
        ``model_check`` (the dashboard shows it).

        Returns
        -------
        dict
            ``checked``, ``affected``, ``models`` (:func:`pluralis.web.availability.check_sessions`).

        Example
        -------
        >>> import os, tempfile
        >>> from pluralis.collect.config import StudyConfig
        >>> from pluralis.store import Store
        >>> state = CollectState(StudyConfig(), Store.open(os.path.join(tempfile.mkdtemp(), "s.sqlite")), Secrets(),
        ...                      models={})
        >>> state.check_running_sessions()
        {'checked': 0, 'affected': 0, 'models': {}}
        """
        self.model_check = check_sessions(self.repo.active_states(), list(self.models))
        if self.model_check["affected"]:
            gone = ", ".join(f"{m} ({n})" for m, n in sorted(self.model_check["models"].items()))
            log.warning(
                "%d of %d participants in a conversation need a model the study no longer has: %s; they will be "
                "offered a replacement model or to finish the conversation",
                self.model_check["affected"],
                self.model_check["checked"],
                gone,
            )
        else:
            log.info("%d participants in a conversation; all their models are available", self.model_check["checked"])
        return self.model_check

    def _build_backends(self) -> dict[str, Any]:
        from pluralis.llm.backend import make_backend

        backends: dict[str, Any] = {}
        n = self.limits.max_concurrent_model_calls
        for name, spec in self.config.model_specs().items():
            if spec.backend == "openai":
                backends[name] = PooledBackend(spec, shards=-(-n // CALLS_PER_CLIENT), per_shard=CALLS_PER_CLIENT)
            else:
                backends[name] = make_backend(spec)
        return backends

    async def shutdown(self) -> None:
        """Stop serving: cancel model calls in flight, stop the checkpointer, close the backends it built.

        Example
        -------
        >>> import asyncio, os, tempfile
        >>> from pluralis.collect.config import StudyConfig
        >>> from pluralis.store import Store
        >>> state = CollectState(StudyConfig(), Store.open(os.path.join(tempfile.mkdtemp(), "s.sqlite")), Secrets(),
        ...                      models={})
        >>> asyncio.run(state.shutdown())
        """
        for task in list(self.inflight.values()):
            task.cancel()
        await run_in_threadpool(self.repo.stop_checkpointer)
        if self._given_models is None:
            for b in self.models.values():
                try:
                    await b.aclose()
                except Exception:  # pragma: no cover - closing is best effort
                    pass

    # -- helpers of the views -------------------------------------------------------------------

    async def db(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Run a repository call.

        Inline on SQLite (sub-millisecond, one writer anyway; no thread hop), in the thread pool on a networked
        database.

        Parameters
        ----------
        fn
            A repository method.
        *args, **kwargs
            Its arguments.

        Returns
        -------
        Any
            What ``fn`` returns.

        Example
        -------
        >>> import asyncio, os, tempfile
        >>> from pluralis.collect.config import StudyConfig
        >>> from pluralis.store import Store
        >>> state = CollectState(StudyConfig(), Store.open(os.path.join(tempfile.mkdtemp(), "s.sqlite")), Secrets())
        >>> asyncio.run(state.db(state.repo.status_counts))
        {}
        """
        if self.repo.sqlite:
            return fn(*args, **kwargs)
        return await run_in_threadpool(fn, *args, **kwargs)

    def lock_for(self, token: str) -> asyncio.Lock:
        """The lock serialising one participant's actions in this process (kept while anyone holds it).

        Parameters
        ----------
        token
            The participant token.

        Returns
        -------
        asyncio.Lock

        Example
        -------
        >>> import os, tempfile
        >>> from pluralis.collect.config import StudyConfig
        >>> from pluralis.store import Store
        >>> state = CollectState(StudyConfig(), Store.open(os.path.join(tempfile.mkdtemp(), "s.sqlite")), Secrets())
        >>> lock = state.lock_for("t1")
        >>> state.lock_for("t1") is lock, state.lock_for("t2") is lock
        (True, False)
        """
        lock = self._locks.get(token)
        if lock is None:
            lock = asyncio.Lock()
            self._locks[token] = lock
        return lock

    def session_kwargs(self) -> dict[str, Any]:
        """What a loaded :class:`~pluralis.collect.protocol.ProtocolSession` needs: models, quota gate, limiter.

        Returns
        -------
        dict
            Keyword arguments of :meth:`pluralis.web.repository.CollectRepository.load`.

        Example
        -------
        >>> import os, tempfile
        >>> from pluralis.collect.config import StudyConfig
        >>> from pluralis.store import Store
        >>> state = CollectState(StudyConfig(), Store.open(os.path.join(tempfile.mkdtemp(), "s.sqlite")), Secrets())
        >>> sorted(state.session_kwargs())
        ['limiter', 'models', 'quota_gate']
        """
        return {"models": self.models, "quota_gate": self._quota_gate, "limiter": self.call_limiter}

    def _quota_gate(self, cell: str | None) -> bool:
        if not self.quota_plan.active:
            return True
        return self.quota_plan.has_room(cell, self.repo.cell_counts())

    def render(self, name: str, status_code: int = 200, **ctx: Any) -> HTMLResponse:
        """Render template ``name`` with ``ctx`` (plus the study ``config`` and ``consent_blocks``).

        Parameters
        ----------
        name
            Template file name.
        status_code
            HTTP status.
        **ctx
            Template variables.

        Returns
        -------
        HTMLResponse

        Example
        -------
        >>> import os, tempfile
        >>> from pluralis.collect.config import StudyConfig
        >>> from pluralis.store import Store
        >>> state = CollectState(StudyConfig(), Store.open(os.path.join(tempfile.mkdtemp(), "s.sqlite")), Secrets())
        >>> state.render("error.html", 404, message="Not here").status_code
        404
        """
        html = self.env.get_template(name).render(**ctx)
        return HTMLResponse(html, status_code=status_code)

    # -- generation -----------------------------------------------------------------------------

    async def generate(self, token: str) -> float:
        """Run the pending model call of a participant and commit its responses.

        A result that arrives after the participant moved on (another request already applied one) is dropped.

        Parameters
        ----------
        token
            The participant token.

        Returns
        -------
        float
            Seconds the models took (0 when nothing was pending).

        See Also
        --------
        ensure_generation : one call per participant at a time (what the views use).

        Example
        -------
        >>> import asyncio, os, tempfile
        >>> from pluralis.collect.config import StudyConfig
        >>> from pluralis.store import Store
        >>> state = CollectState(StudyConfig(), Store.open(os.path.join(tempfile.mkdtemp(), "s.sqlite")), Secrets())
        >>> token, _ = state.repo.create_session()
        >>> asyncio.run(state.generate(token))            # at consent: no model call pending
        0.0
        """
        session = await self.db(self.repo.load, token, **self.session_kwargs())
        if session is None or session.step != Step.GENERATING:
            return 0.0
        call = session.pending_call()
        if unavailable_models(session, list(self.models)):
            session = await self._repair(token)
            if session is None:
                return 0.0
            call = session.pending_call()
        try:
            result = await run_model_call(call, self.models, limiter=self.call_limiter)
        except asyncio.CancelledError:
            raise
        except Exception as e:  # a backend that raised instead of reporting a failure: never an endless wait
            log.exception("model call of participant %s failed", session.user_id)
            result = CallResult(
                conversation_id=call.conversation_id,
                turn=call.turn,
                failures=[
                    {"model": m, "kind": "unavailable", "message": f"{type(e).__name__}: {e}"[:2000]}
                    for m in dict.fromkeys(call.models)
                ],
            )
        else:
            self.recent_latencies.append(result.latency_s)
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

    async def _repair(self, token: str) -> Any:
        """Replace the models of a participant's pending call that are gone (saved with ``model_replaced`` events)."""
        async with self.lock_for(token):
            session = await self.db(self.repo.load, token, **self.session_kwargs())
            if session is None or session.step != Step.GENERATING:
                return None
            before = Snapshot.of(session.state)
            events = repair_pending(session, list(self.models))
            if events:
                for _, detail in events:
                    log.warning("participant %s: model replaced %s", session.user_id, detail)
                try:
                    await self.db(self.repo.save, session, before, events)
                except ConcurrentUpdate:
                    return await self.db(self.repo.load, token, **self.session_kwargs())
            return session

    def expected_wait(self) -> float | None:
        """Seconds a model call usually takes here (median of the recent ones), or ``None`` before the first.

        Returns
        -------
        float or None

        Example
        -------
        >>> import os, tempfile
        >>> from pluralis.collect.config import StudyConfig
        >>> from pluralis.store import Store
        >>> state = CollectState(StudyConfig(), Store.open(os.path.join(tempfile.mkdtemp(), "s.sqlite")), Secrets())
        >>> state.expected_wait() is None
        True
        >>> state.recent_latencies.extend([2.0, 4.0, 30.0]); state.expected_wait()
        4.0
        """
        return float(statistics.median(self.recent_latencies)) if self.recent_latencies else None

    def ensure_generation(self, token: str, user_id: str) -> asyncio.Task:
        """The participant's model call in flight (:meth:`generate`), started if there is none.

        Parameters
        ----------
        token
            The participant token.
        user_id
            The participant id (one call in flight per participant).

        Returns
        -------
        asyncio.Task
            Its result is the models' seconds.

        Example
        -------
        >>> import asyncio, os, tempfile
        >>> from pluralis.collect.config import StudyConfig
        >>> from pluralis.store import Store
        >>> state = CollectState(StudyConfig(), Store.open(os.path.join(tempfile.mkdtemp(), "s.sqlite")), Secrets())
        >>> token, session = state.repo.create_session()
        >>> async def generation():                    # at consent: nothing to generate (the class example has a turn)
        ...     return await state.ensure_generation(token, session.user_id)
        >>> asyncio.run(generation()), state.inflight
        (0.0, {})
        """
        task = self.inflight.get(user_id)
        if task is None or task.done():
            task = asyncio.get_running_loop().create_task(self.generate(token))
            self.inflight[user_id] = task
            self.inflight_started[user_id] = time.time()

            def forget(done: asyncio.Task, user_id: str = user_id) -> None:
                if self.inflight.get(user_id) is done:
                    self.inflight.pop(user_id, None)
                    self.inflight_started.pop(user_id, None)

            task.add_done_callback(forget)
        return task


__all__ = ["CALLS_PER_CLIENT", "CollectState", "PooledBackend"]
