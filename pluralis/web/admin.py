"""The admin's views: login, dashboard, PRISM export, JSON API (and the health check for operators).

The admin token comes from ``$PLURALIS_ADMIN_TOKEN`` or the study's ``admin.token_env``; without one the admin
pages are disabled. ``GET /admin`` shows the dashboard (:mod:`pluralis.web.dashboard`) or the login form,
``GET /admin/export.zip`` the PRISM files, ``GET /admin/api/summary`` the dashboard as JSON. The admin is
recognised by the admin cookie (set by ``POST /admin/login``) or an ``Authorization: Bearer`` header.

Example
-------
>>> import os, tempfile
>>> from fastapi.testclient import TestClient
>>> from pluralis.collect.config import StudyConfig
>>> from pluralis.web.app import create_app
>>> app = create_app(StudyConfig(), os.path.join(tempfile.mkdtemp(), "s.sqlite"), admin_token="t" * 24)
>>> client = TestClient(app)
>>> client.get("/admin/api/summary").status_code
401
>>> client.get("/admin/api/summary", headers={"Authorization": "Bearer " + "t" * 24}).json()["participants"]
0
"""

from __future__ import annotations

import io
import json
import logging
import math
import tempfile
import time
import zipfile
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from pluralis.data import write_prism
from pluralis.errors import StoreError
from pluralis.store.participants import DELETION_REASONS, audit_log, delete_participant, write_failures
from pluralis.web.common import (
    ADMIN_COOKIE,
    ADMIN_COOKIE_MAX_AGE,
    check_double_submit,
    client_ip,
    double_submit_csrf,
    error_page,
    is_secure,
    read_form,
    redirect,
    set_csrf_cookie,
    state_of,
)
from pluralis.web.dashboard import METHOD_LABELS
from pluralis.web.plots import data_for
from pluralis.web.state import CollectState

log = logging.getLogger("pluralis.web")


def is_admin(request: Request) -> bool:
    """Whether a request comes from the admin (``Authorization: Bearer TOKEN`` or the admin cookie).

    Checks only; :func:`admin_denied` also counts failed attempts against the rate limit.

    Parameters
    ----------
    request
        The request.

    Returns
    -------
    bool

    Example
    -------
    >>> import os, tempfile
    >>> from types import SimpleNamespace
    >>> from pluralis.collect.config import StudyConfig
    >>> from pluralis.web.app import create_app
    >>> app = create_app(StudyConfig(), os.path.join(tempfile.mkdtemp(), "s.sqlite"), admin_token="t" * 24)
    >>> def request(auth):
    ...     return SimpleNamespace(app=app, headers={"authorization": auth}, cookies={})
    >>> is_admin(request("Bearer " + "t" * 24)), is_admin(request("Bearer nope")), is_admin(request(""))
    (True, False, False)
    """
    secrets = state_of(request).secrets
    if secrets.check_admin_cookie(request.cookies.get(ADMIN_COOKIE)):
        return True
    auth = request.headers.get("authorization", "")
    return auth.startswith("Bearer ") and secrets.check_admin(auth[7:].strip())


def _presented_credentials(request: Request) -> bool:
    return bool(request.headers.get("authorization") or request.cookies.get(ADMIN_COOKIE))


def too_many_attempts(request: Request, retry_after: float, *, json: bool) -> Response:
    """429 for an address (or everyone) after too many failed admin attempts, with ``Retry-After``.

    Parameters
    ----------
    request
        The request.
    retry_after
        Seconds until the next attempt is allowed.
    json
        A JSON body (the API) instead of a page.

    Returns
    -------
    Response

    Example
    -------
    >>> import os, tempfile
    >>> from types import SimpleNamespace
    >>> from pluralis.collect.config import StudyConfig
    >>> from pluralis.web.app import create_app
    >>> app = create_app(StudyConfig(), os.path.join(tempfile.mkdtemp(), "s.sqlite"))
    >>> r = too_many_attempts(SimpleNamespace(app=app), 12.2, json=True)
    >>> r.status_code, r.headers["retry-after"]
    (429, '13')
    """
    wait = str(max(1, math.ceil(retry_after)))
    if json:
        return JSONResponse(
            {"error": "too many failed attempts; try again later", "retry_after": int(wait)},
            status_code=429,
            headers={"Retry-After": wait},
        )
    resp = error_page(request, "Too many failed attempts. Please wait a minute and try again.", 429, admin=True)
    resp.headers["Retry-After"] = wait
    return resp


def admin_denied(request: Request, *, json: bool = True) -> Response | None:
    """``None`` when the request is the admin's, else the answer: 401, or 429 after too many failed attempts.

    A valid admin cookie always passes. Otherwise, while the client's address (or all addresses together) has
    used up its failed attempts (:class:`pluralis.web.security.AuthThrottle`), the request is refused with 429
    and ``Retry-After`` *without* checking its token, so guesses cannot go faster than the limit; a wrong
    bearer token or cookie counts as a failed attempt.

    Parameters
    ----------
    request
        The request.
    json
        Answer with JSON (the API) or a page.

    Returns
    -------
    Response or None

    Example
    -------
    >>> import os, tempfile
    >>> from fastapi.testclient import TestClient
    >>> from pluralis.collect.config import StudyConfig
    >>> from pluralis.web.app import create_app
    >>> app = create_app(StudyConfig(), os.path.join(tempfile.mkdtemp(), "s.sqlite"), admin_token="t" * 24)
    >>> client = TestClient(app)
    >>> [client.get("/admin/api/summary", headers={"Authorization": "Bearer guess"}).status_code
    ...  for _ in range(11)][-2:]
    [401, 429]
    """
    state = state_of(request)
    if state.secrets.check_admin_cookie(request.cookies.get(ADMIN_COOKIE)):
        return None
    ip = client_ip(request)
    wait = state.admin_throttle.retry_after(ip)
    if wait > 0:
        return too_many_attempts(request, wait, json=json)
    if is_admin(request):
        return None
    if _presented_credentials(request):
        state.admin_throttle.failed(ip)
    return _admin_required() if json else None


def _admin_required() -> JSONResponse:
    return JSONResponse({"error": "admin token required"}, status_code=401)


async def dashboard(request: Request) -> Response:
    """``GET /admin``: the dashboard for the admin, the login form for anyone else.

    Parameters
    ----------
    request
        The request.

    Returns
    -------
    Response
        The dashboard; the login form (with its double-submit CSRF cookie); 403 when no admin token is set.

    Example
    -------
    >>> import os, tempfile
    >>> from fastapi.testclient import TestClient
    >>> from pluralis.collect.config import StudyConfig
    >>> from pluralis.web.app import create_app
    >>> app = create_app(StudyConfig(), os.path.join(tempfile.mkdtemp(), "s.sqlite"), admin_token="t" * 24)
    >>> client = TestClient(app)
    >>> "Admin token" in client.get("/admin").text
    True
    >>> "Participants by status" in client.get("/admin", headers={"Authorization": "Bearer " + "t" * 24}).text
    True
    """
    state = state_of(request)
    if state.secrets.admin_token is None:
        return error_page(
            request, f"The admin dashboard is disabled: set {state.config.admin.token_env}.", 403, admin=True
        )
    denied = admin_denied(request, json=False)
    if denied is not None:
        return denied
    if not is_admin(request):
        csrf = double_submit_csrf(request)
        resp = state.render("admin_login.html", csrf=csrf, error=None)
        set_csrf_cookie(request, resp, csrf)
        return resp
    data = await run_in_threadpool(state.dashboard.summary)
    audit = await run_in_threadpool(audit_log, state.repo.store)
    return state.render(
        "admin.html",
        data=data,
        audit=audit,
        deletion_reasons=DELETION_REASONS,
        csrf=state.secrets.csrf_for("admin"),
        method_labels=METHOD_LABELS,
        model_check=state.model_check,
        plot_names=[n for n in plot_names(data)],
    )


async def login(request: Request) -> Response:
    """``POST /admin/login``: check the admin token and set the admin cookie (12 hours, path ``/admin``).

    Parameters
    ----------
    request
        The login form (``token``, ``csrf``).

    Returns
    -------
    Response
        303 to ``/admin``; 401 with the form for a wrong token; 403 for a bad CSRF token; 429 (with
        ``Retry-After``) after too many failed attempts from one address or from all together.

    Example
    -------
    >>> import os, tempfile
    >>> from fastapi.testclient import TestClient
    >>> from pluralis.collect.config import StudyConfig
    >>> from pluralis.web.app import create_app
    >>> app = create_app(StudyConfig(), os.path.join(tempfile.mkdtemp(), "s.sqlite"), admin_token="t" * 24)
    >>> client = TestClient(app)
    >>> csrf = client.get("/admin").cookies["pluralis_csrf"]
    >>> client.post("/admin/login", data={"csrf": csrf, "token": "wrong"}).status_code
    401
    >>> r = client.post("/admin/login", data={"csrf": csrf, "token": "t" * 24}, follow_redirects=False)
    >>> r.status_code, "pluralis_admin" in r.cookies
    (303, True)
    """
    state = state_of(request)
    form = await read_form(request)
    if not check_double_submit(request, form.get("csrf")):
        return error_page(request, "This form has expired. Please reload the page.", 403, admin=True)
    ip = client_ip(request)
    wait = state.admin_throttle.retry_after(ip)
    if wait > 0:
        return too_many_attempts(request, wait, json=False)
    if not state.secrets.check_admin(form.get("token")):
        state.admin_throttle.failed(ip)
        return state.render("admin_login.html", status_code=401, csrf=form.get("csrf"), error="Wrong token.")
    resp = redirect(request, "/admin")
    resp.set_cookie(
        ADMIN_COOKIE,
        state.secrets.admin_cookie(),
        httponly=True,
        samesite="strict",
        secure=is_secure(request),
        path=state.prefix + "/admin",  # the path the browser sees (under a public URL prefix)
        max_age=ADMIN_COOKIE_MAX_AGE,
    )
    return resp


async def logout(request: Request) -> Response:
    """``POST /admin/logout``: drop the admin cookie (admin only, CSRF-checked).

    Parameters
    ----------
    request
        The dashboard's sign-out form.

    Returns
    -------
    Response
        303 to ``/admin``; 403 for anyone else or a bad CSRF token.

    Example
    -------
    >>> import os, tempfile
    >>> from fastapi.testclient import TestClient
    >>> from pluralis.collect.config import StudyConfig
    >>> from pluralis.web.app import create_app
    >>> app = create_app(StudyConfig(), os.path.join(tempfile.mkdtemp(), "s.sqlite"), admin_token="t" * 24)
    >>> TestClient(app).post("/admin/logout", data={"csrf": "x"}).status_code
    403
    """
    state = state_of(request)
    form = await read_form(request)
    if not is_admin(request) or not state.secrets.check_csrf(form.get("csrf"), "admin"):
        return error_page(request, "Not allowed.", 403, admin=True)
    resp = redirect(request, "/admin")
    resp.delete_cookie(ADMIN_COOKIE, path=state.prefix + "/admin")
    return resp


async def delete(request: Request, user_id: str) -> Response:
    """``POST /admin/participants/{user_id}/delete``: delete every row of one participant (a withdrawal).

    Admin only (cookie or bearer token) and CSRF-checked (the dashboard's ``csrf``). Runs
    :func:`pluralis.store.participants.delete_participant` in the thread pool: one transaction over every
    table, with a row in the audit log (shown on the dashboard) that records the reason and the rows deleted,
    not the participant's id.

    Parameters
    ----------
    request
        The form: ``csrf`` and ``reason`` (one of :data:`pluralis.store.participants.DELETION_REASONS`,
        default ``withdrawal``).
    user_id
        The participant.

    Returns
    -------
    Response
        303 to ``/admin#audit``; 403 for anyone but the admin or a bad CSRF token; 404 when the store holds
        nothing of this participant; 422 for an unknown reason.

    Example
    -------
    >>> import os, tempfile
    >>> from fastapi.testclient import TestClient
    >>> from pluralis.collect.config import StudyConfig
    >>> from pluralis.web.app import create_app
    >>> app = create_app(StudyConfig(), os.path.join(tempfile.mkdtemp(), "s.sqlite"), admin_token="t" * 24)
    >>> _, session = app.state.collect.repo.create_session()
    >>> client = TestClient(app, headers={"Authorization": "Bearer " + "t" * 24})
    >>> client.post(f"/admin/participants/{session.user_id}/delete", data={"csrf": "forged"}).status_code
    403
    >>> form = {"csrf": app.state.collect.secrets.csrf_for("admin"), "reason": "withdrawal"}
    >>> r = client.post(f"/admin/participants/{session.user_id}/delete", data=form, follow_redirects=False)
    >>> r.status_code, r.headers["location"]
    (303, '/admin#audit')
    >>> client.post(f"/admin/participants/{session.user_id}/delete", data=form).status_code
    404
    """
    denied = admin_denied(request, json=False)
    if denied is not None:
        return denied
    state = state_of(request)
    form = await read_form(request)
    if not is_admin(request) or not state.secrets.check_csrf(form.get("csrf"), "admin"):
        return error_page(request, "Not allowed.", 403, admin=True)
    reason = form.get("reason") or "withdrawal"
    if reason not in DELETION_REASONS:
        return error_page(request, f"The reason must be one of: {', '.join(DELETION_REASONS)}.", 422, admin=True)
    try:
        report = await run_in_threadpool(delete_participant, state.repo.store, user_id, reason=reason)
    except StoreError:
        return error_page(request, "There is no such participant (nothing was deleted).", 404, admin=True)
    log.info("admin deleted a participant (%s): %d rows", reason, report.total)
    return redirect(request, "/admin#audit")


async def summary(request: Request) -> Response:
    """``GET /admin/api/summary``: the dashboard as JSON (:meth:`pluralis.web.dashboard.Dashboard.summary`).

    Parameters
    ----------
    request
        The request (admin cookie or bearer token).

    Returns
    -------
    Response
        JSON; 401 for anyone but the admin.

    Example
    -------
    >>> import os, tempfile
    >>> from fastapi.testclient import TestClient
    >>> from pluralis.collect.config import StudyConfig
    >>> from pluralis.web.app import create_app
    >>> app = create_app(StudyConfig(), os.path.join(tempfile.mkdtemp(), "s.sqlite"), admin_token="t" * 24)
    >>> data = TestClient(app).get("/admin/api/summary", headers={"Authorization": "Bearer " + "t" * 24}).json()
    >>> data["participants"], data["whose_preferences"]["reason"]
    (0, 'no finished conversations yet')
    """
    denied = admin_denied(request)
    if denied is not None:
        return denied
    return JSONResponse(await run_in_threadpool(state_of(request).dashboard.summary))


#: The parts of the dashboard the JSON API serves on their own: ``/admin/api/PART`` -> key of the summary.
API_PARTS = {
    "rankings": "whose_preferences",
    "representativeness": "representativeness",
    "quota": "quota",
    "failures": "failure_rates",
}


async def api_part(request: Request, part: str) -> Response:
    """``GET /admin/api/{rankings,representativeness,quota,failures}``: one part of the dashboard as JSON.

    ``rankings``: the "whose preferences?" panel (overall and per-group PRC rankings with bootstrap intervals,
    group contrasts, "too few" groups); ``representativeness``: the participants against the census of the
    study's quotas with the raw and raked rankings (``null`` without census quotas); ``quota``: the fill per
    cell; ``failures``: model failure rates over time.

    Parameters
    ----------
    request
        The request (admin cookie or bearer token).
    part
        Which part.

    Returns
    -------
    Response
        JSON; 401 for anyone but the admin; 404 for an unknown part.

    Example
    -------
    >>> import os, tempfile
    >>> from fastapi.testclient import TestClient
    >>> from pluralis.collect.config import StudyConfig
    >>> from pluralis.web.app import create_app
    >>> app = create_app(StudyConfig(), os.path.join(tempfile.mkdtemp(), "s.sqlite"), admin_token="t" * 24)
    >>> auth = {"Authorization": "Bearer " + "t" * 24}
    >>> TestClient(app).get("/admin/api/failures", headers=auth).json()
    {'bucket_s': 60, 'series': {}, 'totals': {}}
    >>> TestClient(app).get("/admin/api/nothing", headers=auth).status_code
    404
    """
    denied = admin_denied(request)
    if denied is not None:
        return denied
    key = API_PARTS.get(part)
    if key is None:
        return JSONResponse({"error": f"no such part; one of {sorted(API_PARTS)}"}, status_code=404)
    data = await run_in_threadpool(state_of(request).dashboard.summary)
    return JSONResponse(data[key])


async def rankings(request: Request) -> Response:
    """``GET /admin/api/rankings``: see :func:`api_part`.

    Parameters
    ----------
    request
        The request.

    Returns
    -------
    Response

    Example
    -------
    >>> import os, tempfile
    >>> from fastapi.testclient import TestClient
    >>> from pluralis.collect.config import StudyConfig
    >>> from pluralis.web.app import create_app
    >>> app = create_app(StudyConfig(), os.path.join(tempfile.mkdtemp(), "s.sqlite"), admin_token="t" * 24)
    >>> TestClient(app).get("/admin/api/rankings", headers={"Authorization": "Bearer " + "t" * 24}).json()["reason"]
    'no finished conversations yet'
    """
    return await api_part(request, "rankings")


async def representativeness(request: Request) -> Response:
    """``GET /admin/api/representativeness``: see :func:`api_part`.

    Parameters
    ----------
    request
        The request.

    Returns
    -------
    Response

    Example
    -------
    >>> import os, tempfile
    >>> from fastapi.testclient import TestClient
    >>> from pluralis.collect.config import StudyConfig
    >>> from pluralis.web.app import create_app
    >>> app = create_app(StudyConfig(), os.path.join(tempfile.mkdtemp(), "s.sqlite"), admin_token="t" * 24)
    >>> TestClient(app).get("/admin/api/representativeness", headers={"Authorization": "Bearer " + "t" * 24}).json()
    """
    return await api_part(request, "representativeness")


async def quota(request: Request) -> Response:
    """``GET /admin/api/quota``: see :func:`api_part`.

    Parameters
    ----------
    request
        The request.

    Returns
    -------
    Response

    Example
    -------
    >>> import os, tempfile
    >>> from fastapi.testclient import TestClient
    >>> from pluralis.collect.config import StudyConfig
    >>> from pluralis.web.app import create_app
    >>> app = create_app(StudyConfig(), os.path.join(tempfile.mkdtemp(), "s.sqlite"), admin_token="t" * 24)
    >>> TestClient(app).get("/admin/api/quota", headers={"Authorization": "Bearer " + "t" * 24}).json()
    []
    """
    return await api_part(request, "quota")


async def failures(request: Request) -> Response:
    """``GET /admin/api/failures``: see :func:`api_part`.

    Parameters
    ----------
    request
        The request.

    Returns
    -------
    Response

    Example
    -------
    >>> import os, tempfile
    >>> from fastapi.testclient import TestClient
    >>> from pluralis.collect.config import StudyConfig
    >>> from pluralis.web.app import create_app
    >>> app = create_app(StudyConfig(), os.path.join(tempfile.mkdtemp(), "s.sqlite"), admin_token="t" * 24)
    >>> TestClient(app).get("/admin/api/failures", headers={"Authorization": "Bearer " + "t" * 24}).status_code
    200
    """
    return await api_part(request, "failures")


async def plot(request: Request, name: str) -> Response:
    """``GET /admin/plot/{name}.svg``: a dashboard plot as SVG (:mod:`pluralis.web.plots`), for the admin.

    Parameters
    ----------
    request
        The request (admin cookie or bearer token).
    name
        ``ranking``, ``groups-FIELD``, ``raked``, ``representativeness``, ``quota`` or ``failures``.

    Returns
    -------
    Response
        ``image/svg+xml``; 401 for anyone but the admin; 404 for an unknown plot or one without data yet.

    Example
    -------
    >>> import os, tempfile
    >>> from fastapi.testclient import TestClient
    >>> from pluralis.collect.config import StudyConfig
    >>> from pluralis.web.app import create_app
    >>> app = create_app(StudyConfig(), os.path.join(tempfile.mkdtemp(), "s.sqlite"), admin_token="t" * 24)
    >>> TestClient(app).get("/admin/plot/ranking.svg", headers={"Authorization": "Bearer " + "t" * 24}).status_code
    404
    """
    denied = admin_denied(request)
    if denied is not None:
        return denied
    board = state_of(request).dashboard

    def draw() -> str | None:
        return board.plot(name, board.summary(max_age=10.0))

    svg = await run_in_threadpool(draw)
    if svg is None:
        return JSONResponse({"error": "no such plot, or no data for it yet"}, status_code=404)
    return Response(svg, media_type="image/svg+xml")


def export_zip(state: CollectState, *, completed_only: bool = False) -> bytes:
    """The study's PRISM files, ``failures.jsonl`` (every failed or timed-out model call,
    :func:`pluralis.store.participants.write_failures`) and a ``study.json`` (id, export time, counts) in one zip
    archive.

    Parameters
    ----------
    state
        The app's state.
    completed_only
        Only participants who finished.

    Returns
    -------
    bytes
        The zip archive.

    Example
    -------
    >>> import io, os, tempfile, zipfile
    >>> from pluralis.collect.config import StudyConfig
    >>> from pluralis.web.app import create_app
    >>> app = create_app(StudyConfig(), os.path.join(tempfile.mkdtemp(), "s.sqlite"))
    >>> names = zipfile.ZipFile(io.BytesIO(export_zip(app.state.collect))).namelist()
    >>> "study.json" in names and "survey.jsonl" in names and "failures.jsonl" in names
    True
    """
    study = state.repo.export_study(completed_only=completed_only)
    buf = io.BytesIO()
    with tempfile.TemporaryDirectory() as tmp:
        paths = write_prism(study, Path(tmp), metadata=False)
        # the exported participants' failed model calls (all of the store's when not completed_only)
        user_ids = {p.user_id for p in study.survey} | {c.user_id for c in study.conversations}
        failed = write_failures(state.repo.store, Path(tmp), user_ids=user_ids if completed_only else None)
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
            for path in [*paths.values(), failed]:
                zf.write(path, arcname=Path(path).name)
            zf.writestr(
                "study.json",
                json.dumps(
                    {"study_id": state.config.study.id, "exported_at": time.time(), "counts": study.counts()},
                    indent=2,
                ),
            )
    return buf.getvalue()


async def export(request: Request, completed_only: bool = False) -> Response:
    """``GET /admin/export.zip[?completed_only=true]``: download the PRISM files (:func:`export_zip`).

    Parameters
    ----------
    request
        The request (admin cookie or bearer token).
    completed_only
        Only participants who finished.

    Returns
    -------
    Response
        The zip archive as an attachment; 401 for anyone but the admin.

    Example
    -------
    >>> import os, tempfile
    >>> from fastapi.testclient import TestClient
    >>> from pluralis.collect.config import StudyConfig
    >>> from pluralis.web.app import create_app
    >>> app = create_app(StudyConfig(), os.path.join(tempfile.mkdtemp(), "s.sqlite"), admin_token="t" * 24)
    >>> r = TestClient(app).get("/admin/export.zip", headers={"Authorization": "Bearer " + "t" * 24})
    >>> r.status_code, r.headers["content-type"], r.headers["content-disposition"]
    (200, 'application/zip', 'attachment; filename="pluralis-prism-prism.zip"')
    """
    denied = admin_denied(request)
    if denied is not None:
        return denied
    state = state_of(request)
    data = await run_in_threadpool(export_zip, state, completed_only=completed_only)
    return Response(
        data,
        media_type="application/zip",
        headers={"Content-Disposition": f'attachment; filename="{state.config.study.id}-prism.zip"'},
    )


async def healthz(request: Request) -> dict[str, Any]:
    """``GET /healthz``: liveness for a load balancer or process monitor (no authentication, no database).

    Parameters
    ----------
    request
        The request.

    Returns
    -------
    dict
        ``{"status": "ok", "study": STUDY_ID}`` (served as JSON).

    Example
    -------
    >>> import os, tempfile
    >>> from fastapi.testclient import TestClient
    >>> from pluralis.collect.config import StudyConfig
    >>> from pluralis.web.app import create_app
    >>> TestClient(create_app(StudyConfig(), os.path.join(tempfile.mkdtemp(), "s.sqlite"))).get("/healthz").json()
    {'status': 'ok', 'study': 'pluralis-prism'}
    """
    return {"status": "ok", "study": state_of(request).config.study.id}


def plot_names(data: dict[str, Any]) -> list[str]:
    """The plots the dashboard can show with its data now.

    Parameters
    ----------
    data
        The dashboard's data.

    Returns
    -------
    list of str

    Example
    -------
    >>> plot_names({"quota": [{"cell": "a"}]})
    ['quota']
    """
    fields = list((data.get("whose_preferences") or {}).get("groups") or {})
    names = ["ranking", *(f"groups-{f}" for f in fields), *(f"contrasts-{f}" for f in fields)]
    names += ["raked", "representativeness", "quota", "failures"]
    return [n for n in names if data_for(n, data) is not None]


__all__ = [
    "API_PARTS",
    "admin_denied",
    "api_part",
    "failures",
    "plot",
    "plot_names",
    "quota",
    "rankings",
    "representativeness",
    "dashboard",
    "export",
    "delete",
    "export_zip",
    "healthz",
    "is_admin",
    "login",
    "logout",
    "summary",
    "too_many_attempts",
]
