"""The participant's views: landing, start, resume, the study page and its forms (consent, survey, conversations,
ratings, feedback, completion).

A participant's path::

    GET /  (landing, ?PROLIFIC_PID=...)  -> POST /start -> GET /study (always shows the current step)
    POST /study/consent | /study/survey | /study/start | /study/rate | /study/followup | /study/finish
         | /study/feedback  -> 303 -> GET /study
    GET /resume/{token}  (the resume link shown on every page; a closed tab also resumes from the cookie)

Every POST applies one protocol action (:mod:`pluralis.collect.protocol`) and commits it
(:class:`pluralis.web.repository.CollectRepository`) before redirecting (:func:`act`), so a rating is in the
database before the next page is served. Opening turns and follow-ups call the models concurrently and wait
for them; a generation interrupted by a crash is restarted when the participant's page is next loaded.

Example
-------
>>> import os, tempfile
>>> from fastapi.testclient import TestClient
>>> from pluralis.collect.config import StudyConfig
>>> from pluralis.web.app import create_app
>>> client = TestClient(create_app(StudyConfig(), os.path.join(tempfile.mkdtemp(), "s.sqlite")))
>>> csrf = client.get("/").text.split('name="csrf" value="')[1].split('"')[0]
>>> client.post("/start", data={"csrf": csrf}, follow_redirects=False).headers["location"]
'/study'
>>> "Consent" in client.get("/study").text
True
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse, Response

from pluralis.collect.config import StudyConfig
from pluralis.collect.protocol import ProtocolError, ProtocolSession, Step, ratings_from_form
from pluralis.collect.recruitment import entry_params, external_id, os_family
from pluralis.store.participants import record_entry
from pluralis.web.availability import annotate_record, finish_early, locked_model_problem
from pluralis.web.common import (
    PARTICIPANT_COOKIE,
    RESUME_COOKIE,
    FormData,
    check_double_submit,
    client_ip,
    double_submit_csrf,
    error_page,
    public_base,
    read_form,
    redirect,
    resume_nonce,
    set_csrf_cookie,
    set_participant_cookie,
    set_resume_cookie,
    state_of,
)
from pluralis.web.repository import ConcurrentUpdate, Snapshot

log = logging.getLogger("pluralis.web")

#: An action applies one protocol step to a session from a submitted form and returns the audit events.
Action = Callable[[ProtocolSession, FormData], list[tuple[str, dict | None]]]

#: The template of each protocol step (the study page shows the participant's current step).
STEP_TEMPLATES = {
    Step.CONSENT: "consent.html",
    Step.SURVEY: "survey.html",
    Step.START: "start.html",
    Step.GENERATING: "generating.html",
    Step.RATE: "rate.html",
    Step.CONTINUE: "continue.html",
    Step.FEEDBACK: "feedback.html",
    Step.SCREENED_OUT: "screened_out.html",
    Step.COMPLETE: "complete.html",
}


#: Notes a redirect may ask the study page to show (``/study?note=KEY``): fixed texts, never from the URL.
NOTES = {
    "already-sent": "That page had already been sent, so we have taken you to where you are now in the study.",
}
#: The title of the error summary when a form comes back with problems in its fields.
CHECK_FIELDS = "There is a problem: please check the answers marked below."
#: What a participant is told about a problem that is not theirs to fix (the details go to the log).
TRY_AGAIN = "Something went wrong on our side. Please try again in a moment."


def participant_message(error: ProtocolError) -> str:
    """What a participant may be told about a refused action (never the developer's wording).

    The protocol's own participant-facing text when it has one (``participant_message``), else a plain
    sentence: "check the answers marked below" when fields have errors, else "try again".

    Parameters
    ----------
    error
        The protocol's error (its ``str`` is for developers and the log).

    Returns
    -------
    str

    Example
    -------
    >>> participant_message(ProtocolError("cannot do that now: the participant is at step 'rate'"))
    'Something went wrong on our side. Please try again in a moment.'
    >>> participant_message(ProtocolError("bad answers", errors={"age": "choose an answer"}))
    'Please check the answers marked below.'
    """
    own = getattr(error, "participant_message", None)
    if isinstance(own, str) and own:
        return own
    return CHECK_FIELDS if error.errors else TRY_AGAIN


def error_summary(
    config: StudyConfig, view: Any, errors: Mapping[str, str], section: Any = None
) -> list[dict[str, str | None]]:
    """The list at the top of a page with errors: each field's problem, named, linked to the field's message.

    Parameters
    ----------
    config
        The study (question texts, attribute statements).
    view
        The participant's :class:`~pluralis.collect.protocol.StepView`.
    errors
        Messages by field (``"_"``: the whole form; shown by the summary's title, not listed).
    section
        The survey page shown, if any.

    Returns
    -------
    list of dict
        ``text`` (what and where) and ``href`` (``#err-FIELD``, the message next to the field; ``None`` for a
        problem no field shows).

    Example
    -------
    >>> from pluralis.collect.protocol import ProtocolSession
    >>> view = ProtocolSession(StudyConfig(), seed=0).view()
    >>> error_summary(StudyConfig(), view, {"consent_age": "you must be 18", "_": "check"})
    [{'text': 'Age confirmation: you must be 18', 'href': '#err-consent_age'}]
    """
    labels: dict[str, str] = {
        "consent": "Consent",
        "consent_age": "Age confirmation",
        "conversation_type": "Conversation type",
        "opening_prompt": "Your message",
        "prompt": "Your next message",
        "finish": "Finish conversation",
        "open_feedback": "Open feedback",
    }
    if section is not None:
        for q in section.questions:
            text = " ".join(str(q.text).split())
            labels[q.id] = text if len(text) <= 80 else text[:77] + "…"
    letters = "ABCDEFGH"
    for r in getattr(view, "responses", []) or []:
        labels[f"score_{r.id}"] = f"Response {letters[r.position]}" if r.position < len(letters) else "A response"
    attrs = config.attributes
    for prefix, statements in (("performance", attrs.performance), ("choice", attrs.choice)):
        for key, text in statements.items():
            labels[f"{prefix}_{key}"] = "…" + str(text)
    out: list[dict[str, str | None]] = []
    for key, message in errors.items():
        if key == "_":
            continue
        label = labels.get(key)
        if label is None and "__" in key:
            label = labels.get(key.split("__", 1)[0])
            key = key.split("__", 1)[0] if label is not None else key
        out.append({"text": f"{label}: {message}" if label else str(message), "href": f"#err-{key}" if label else None})
    return out


# --- form parsing ----------------------------------------------------------------------------------


def survey_answers_from_form(
    config: StudyConfig, section_id: str, form: Mapping[str, Any], getlist: Callable[[str], list[str]]
) -> dict[str, Any]:
    """Turn a submitted survey page into protocol answers (see :meth:`ProtocolSession.submit_survey_section`).

    Parameters
    ----------
    config
        The study.
    section_id
        The survey page submitted.
    form
        The submitted fields (first value per name).
    getlist
        Every value of a field (multiple-choice questions).

    Returns
    -------
    dict
        Answers by question id, in the shapes the protocol validates.

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

    Parameters
    ----------
    prefix
        ``"performance"`` or ``"choice"``.
    keys
        The attributes.
    form
        The submitted fields.

    Returns
    -------
    dict
        The slider value per attribute, ``None`` where N/A was ticked.

    Example
    -------
    >>> attributes_from_form("performance", ["values", "safety"], {"performance__values": "70",
    ...                      "performance__safety": "50", "performance__safety__na": "on"})
    {'values': '70', 'safety': None}
    """
    return {k: (None if form.get(f"{prefix}__{k}__na") else form.get(f"{prefix}__{k}")) for k in keys}


# --- the study page --------------------------------------------------------------------------------


async def current(request: Request) -> tuple[str, ProtocolSession] | None:
    """The participant of a request (their cookie's token and session), or ``None`` for a newcomer.

    Parameters
    ----------
    request
        The request being served.

    Returns
    -------
    (str, ProtocolSession) or None

    Example
    -------
    >>> import asyncio, os, tempfile
    >>> from types import SimpleNamespace
    >>> from pluralis.web.app import create_app
    >>> app = create_app(StudyConfig(), os.path.join(tempfile.mkdtemp(), "s.sqlite"))
    >>> asyncio.run(current(SimpleNamespace(app=app, cookies={}))) is None
    True
    """
    token = request.cookies.get(PARTICIPANT_COOKIE)
    if not token:
        return None
    state = state_of(request)
    session = await state.db(state.repo.load, token, **state.session_kwargs())
    return None if session is None else (token, session)


def study_page(
    request: Request,
    token: str,
    session: ProtocolSession,
    *,
    errors: dict[str, str] | None = None,
    form: Mapping[str, Any] | None = None,
    status_code: int = 200,
    message: str | None = None,
    problem: str | None = None,
) -> HTMLResponse:
    """The page of the participant's current step (consent, a survey page, a turn to rate, ...).

    Parameters
    ----------
    request
        The request being served.
    token
        The participant's token (for the CSRF token and the resume link).
    session
        The participant's session.
    errors
        Messages by field name (``"_"``: the whole form) of a form that comes back.
    form
        The submitted fields, so that answers survive a page that comes back with errors.
    status_code
        HTTP status (422 for a form with errors).
    message
        A note shown at the top of the page (a fixed text, e.g. from :data:`NOTES`).
    problem
        The title of the error summary (default: :data:`CHECK_FIELDS` when ``errors`` has fields).

    Returns
    -------
    HTMLResponse

    Example
    -------
    >>> import os, tempfile
    >>> from types import SimpleNamespace
    >>> from pluralis.web.app import create_app
    >>> app = create_app(StudyConfig(), os.path.join(tempfile.mkdtemp(), "s.sqlite"))
    >>> token, session = app.state.collect.repo.create_session()
    >>> request = SimpleNamespace(app=app, base_url="http://testserver/")
    >>> page = study_page(request, token, session)
    >>> page.status_code, f"/resume/{token}" in page.body.decode()
    (200, True)
    """
    state = state_of(request)
    view = session.view()
    errors = dict(errors or {})
    section = None
    if view.step == Step.SURVEY:
        section = next(s for s in state.config.survey.sections if s.id == view.section)
    summary = error_summary(state.config, view, errors, section)
    if errors and problem is None:
        problem = CHECK_FIELDS if summary else errors.get("_") or TRY_AGAIN
    ctx: dict[str, Any] = dict(
        view=view,
        csrf=state.secrets.csrf_for(token),
        errors=errors,
        error_summary=summary,
        problem=problem,
        form=form if isinstance(form, FormData) else FormData(list((form or {}).items())),
        resume_url=f"{public_base(request)}/resume/{token}",
        notice=message,
        session=session,
        section=section,
    )
    if view.step == Step.CONTINUE:
        ctx["model_problem"] = locked_model_problem(session, list(state.models))
    if view.step == Step.GENERATING:
        started = state.inflight_started.get(view.user_id)
        ctx["elapsed"] = max(0, int(time.time() - started)) if started else 0
        ctx["expected"] = state.expected_wait()
        ctx["timeout"] = state.config.sampling.timeout
    return state.render(STEP_TEMPLATES.get(view.step, "complete.html"), status_code, **ctx)


async def act(request: Request, action: Action, *, llm: bool = False, steps: tuple[Step, ...] = ()) -> Response:
    """Apply one protocol action from a submitted form, commit it, and redirect to the study page.

    Checks the participant's cookie, the form's CSRF token and (for actions that call the models, ``llm``)
    the participant's rate limit; applies ``action`` under the participant's lock; commits the new state and
    every row it produced in one transaction; then, when the action started a model call, waits for it.

    Parameters
    ----------
    request
        The POST request.
    action
        The protocol step (it raises :class:`~pluralis.collect.protocol.ProtocolError` for invalid input,
        answered with the same page, its errors and the submitted answers, status 422).
    llm
        Whether the action asks the models (rate-limited per participant).
    steps
        The steps the action belongs to: a form sent from another step (sent twice, the back button, a second
        tab) changes nothing and leads to the current step with a note.

    Returns
    -------
    Response
        303 to ``/study``; 303 to ``/`` without a participant; 403 for a bad CSRF token; 429 when rate-limited;
        422 with the page for invalid input (participant-facing messages only: the protocol's developer wording
        goes to the log).

    Example
    -------
    >>> import os, tempfile
    >>> from fastapi.testclient import TestClient
    >>> from pluralis.web.app import create_app
    >>> client = TestClient(create_app(StudyConfig(), os.path.join(tempfile.mkdtemp(), "s.sqlite")))
    >>> client.post("/study/consent", data={"consent": "yes"}, follow_redirects=False).headers["location"]
    '/'
    """
    state = state_of(request)
    token = request.cookies.get(PARTICIPANT_COOKIE)
    if not token:
        return redirect(request, "/")
    form = await read_form(request)
    if not state.secrets.check_csrf(form.get("csrf"), token):
        return error_page(
            request, "This form has expired or was not sent by this page. Please reload and try again.", 403
        )
    if llm and not state.llm_limiter.allow(token):
        return error_page(request, "You are sending messages too quickly. Please wait a minute and try again.", 429)
    async with state.lock_for(token):
        session = await state.db(state.repo.load, token, **state.session_kwargs())
        if session is None:
            return redirect(request, "/")
        if steps and session.step not in steps:
            return redirect(request, "/study?note=already-sent")
        before = Snapshot.of(session.state)
        try:
            events = action(session, form)
        except ProtocolError as e:
            log.info("participant %s: %s refused: %s", session.user_id, request.url.path, e)
            if getattr(e, "expected", None) is not None and not e.errors:  # the protocol's WrongStep
                return redirect(request, "/study?note=already-sent")
            session = await state.db(state.repo.load, token, **state.session_kwargs()) or session
            return study_page(
                request, token, session, errors=e.errors, form=form, status_code=422, problem=participant_message(e)
            )
        try:
            await state.db(state.repo.save, session, before, events)
        except ConcurrentUpdate:
            return redirect(request, "/study?note=already-sent")
    if session.step == Step.GENERATING:
        task = state.ensure_generation(token, session.user_id)
        request.scope.setdefault("state", {})["model_time"] = await asyncio.shield(task)
    return redirect(request, "/study")


# --- the protocol actions --------------------------------------------------------------------------


class StalePage(ProtocolError):
    """A form from a page the participant already left (sent twice, the back button, another tab).

    Like the protocol's own wrong-step error, :func:`act` answers it with the current step and a note.

    Example
    -------
    >>> StalePage("survey page 'a' is not the current page").expected
    ()
    """

    expected: tuple[Step, ...] = ()


def _current_conversation_id(session: ProtocolSession) -> str:
    conv = session.state.current
    assert conv is not None, "the action leaves a conversation open"
    return conv.conversation_id


def _consent(session: ProtocolSession, form: FormData) -> list[tuple[str, dict | None]]:
    session.consent(bool(form.get("consent")), bool(form.get("consent_age")))
    return [("consent", None)]


def _survey(session: ProtocolSession, form: FormData) -> list[tuple[str, dict | None]]:
    section = form.get("section") or ""
    if section != session.view().section:
        raise StalePage(f"survey page {section!r} is not the current page ({session.view().section!r})")
    answers = survey_answers_from_form(session.config, section, form, form.getlist)
    session.submit_survey_section(section, answers)
    events: list[tuple[str, dict | None]] = [("survey_page", {"section": section})]
    if session.step == Step.SCREENED_OUT:
        events.append(("screened_out", {"cell": session.state.quota_cell}))
    elif session.step == Step.START:
        events.append(("survey_done", {"cell": session.state.quota_cell}))
    return events


def _start_conversation(session: ProtocolSession, form: FormData) -> list[tuple[str, dict | None]]:
    session.start_conversation(form.get("conversation_type") or "", form.get("opening_prompt") or "")
    conv = session.state.current
    assert conv is not None, "start_conversation opens a conversation"
    return [("conversation_started", {"conversation_id": conv.conversation_id, "type": conv.conversation_type})]


def _rate(session: ProtocolSession, form: FormData) -> list[tuple[str, dict | None]]:
    view = session.view()
    # submitted as text (or missing) with the sliders' touched markers: the protocol validates and converts them
    scores, touched = ratings_from_form(view, form)
    session.rate(scores, touched=touched)
    return [("rated", {"conversation_id": view.conversation_id, "turn": view.turn})]


def _follow_up(session: ProtocolSession, form: FormData) -> list[tuple[str, dict | None]]:
    session.add_prompt(form.get("prompt") or "")
    return [("follow_up", {"conversation_id": _current_conversation_id(session)})]


def _finish(session: ProtocolSession, form: FormData) -> list[tuple[str, dict | None]]:
    conv_id = _current_conversation_id(session)
    if form.get("early") and session.view().turns_done < session.config.conversations.min_turns:
        # ``early`` reaches here only when the locked model is gone (the view checks, it knows the models)
        events = finish_early(session)
    else:
        session.end_conversation()
        events = []
    return [("conversation_ended", {"conversation_id": conv_id}), *events]


def _feedback(session: ProtocolSession, form: FormData) -> list[tuple[str, dict | None]]:
    attrs = session.config.attributes
    conv = session.submit_feedback(
        attributes_from_form("performance", list(attrs.performance), form),
        attributes_from_form("choice", list(attrs.choice), form),
        form.get("open_feedback") or "",
    )
    record = session.state.completed[-1]
    conv_state_turns = record.get("conversation_turns", 0)
    annotate_record(record, ended_early=conv_state_turns < session.config.conversations.min_turns)
    events: list[tuple[str, dict | None]] = [("conversation_done", {"conversation_id": conv.conversation_id})]
    if record.get("model_replaced") or record.get("ended_early"):
        events.append(
            (
                "conversation_flagged",
                {
                    "conversation_id": conv.conversation_id,
                    "model_replaced": record.get("model_replaced"),
                    "ended_early": bool(record.get("ended_early")),
                },
            )
        )
    if session.step == Step.COMPLETE:
        events.append(("completed", None))
    return events


# --- views -----------------------------------------------------------------------------------------


async def landing(request: Request) -> Response:
    """``GET /``: the landing page (``?PROLIFIC_PID=`` or ``?participant=`` prefill the recruitment id).

    The study's recruitment URL parameters (``[recruitment] url_params``, e.g. Prolific's ``PROLIFIC_PID``,
    ``STUDY_ID``, ``SESSION_ID``; :func:`pluralis.collect.recruitment.entry_params`) ride on in the start form
    as hidden ``entry__NAME`` fields, so that :func:`start` can keep them for payment matching.

    A participant who already started is sent to ``/study``.

    Parameters
    ----------
    request
        The request.

    Returns
    -------
    Response
        The landing page with its double-submit CSRF cookie, or 303 to ``/study``.

    Example
    -------
    >>> import os, tempfile
    >>> from fastapi.testclient import TestClient
    >>> from pluralis.collect.config import StudyConfig
    >>> from pluralis.web.app import create_app
    >>> client = TestClient(create_app(StudyConfig(), os.path.join(tempfile.mkdtemp(), "s.sqlite")))
    >>> r = client.get("/?PROLIFIC_PID=abc123")
    >>> r.status_code, 'value="abc123"' in r.text, "pluralis_csrf" in r.cookies
    (200, True, True)
    """
    if await current(request) is not None:
        return redirect(request, "/study")
    state = state_of(request)
    csrf = double_submit_csrf(request)
    params = entry_params(state.config, request.query_params)  # the study's recruitment parameters only
    external = external_id(state.config, params) or request.query_params.get("participant") or ""
    resp = state.render("landing.html", csrf=csrf, external_id=external[:128], entry_params=params)
    set_csrf_cookie(request, resp, csrf)
    return resp


async def start(request: Request) -> Response:
    """``POST /start``: create a participant (checks CSRF, joins per address, study size, duplicate ids).

    The landing page's ``entry__NAME`` fields (the recruitment parameters) and the browser's coarse OS are
    kept in ``collect_entry_params`` (:func:`pluralis.store.participants.record_entry`): ``pluralis
    participants payments`` matches participants to their Prolific submissions with them.

    Parameters
    ----------
    request
        The landing page's form.

    Returns
    -------
    Response
        303 to ``/study`` with the participant cookie; 403 (bad CSRF, study full), 409 (the recruitment id
        already joined) or 429 (too many joins from one address) with an error page.

    Example
    -------
    >>> import os, tempfile
    >>> from fastapi.testclient import TestClient
    >>> from pluralis.collect.config import StudyConfig
    >>> from pluralis.web.app import create_app
    >>> client = TestClient(create_app(StudyConfig(), os.path.join(tempfile.mkdtemp(), "s.sqlite")))
    >>> client.post("/start", data={"csrf": "forged"}).status_code
    403
    """
    state = state_of(request)
    form = await read_form(request)
    if not check_double_submit(request, form.get("csrf")):
        return error_page(request, "This form has expired. Please go back to the start page and try again.", 403)
    if not state.join_limiter.allow(client_ip(request)):
        return error_page(request, "Too many new participants from your address. Please wait a minute.", 429)
    repo = state.repo
    params = entry_params(state.config, {k[7:]: v for k, v in form.items() if k.startswith("entry__")})
    external = (external_id(state.config, params) or form.get("external_id") or "").strip()[:128] or None
    # a participant who already joined (e.g. their cookie is gone) is told so before "the study is full": they
    # hold a place, and telling them the study is full would send them away from the session they can resume
    if external and await state.db(repo.external_id_exists, external):
        return error_page(
            request,
            "This participant id has already started the study. Please continue in the browser "
            "where you started, or use the resume link you were given.",
            409,
            back=False,
        )
    if state.config.limits.max_participants is not None:
        # a participant a full quota cell screened out holds no place: counting them would close the study
        # before it has its sample
        counts = await state.db(repo.status_counts)
        total = sum(n for status, n in counts.items() if status != Step.SCREENED_OUT)
        if total >= state.config.limits.max_participants:
            return error_page(request, "This study is full. Thank you for your interest.", 403, back=False)
    token, session = await state.db(lambda: repo.create_session(external_id=external))
    await state.db(
        record_entry,
        repo.store,
        session.user_id,
        state.config.study.id,
        params,
        client_os=os_family(request.headers.get("user-agent")),
    )
    resp = redirect(request, "/study")
    set_participant_cookie(request, resp, token)
    return resp


async def resume(request: Request, token: str) -> Response:
    """``GET /resume/{token}``: ask before switching this browser into the session of a resume link.

    A resume link is a bearer secret: following one asks first, so that a link someone else sent cannot
    silently put a participant into a session its sender can read. The confirmation form is bound to this
    browser: its token is an HMAC of the participant token and a nonce kept in a SameSite=Strict cookie set
    here, so a form another site submits (login CSRF) cannot be confirmed.

    Parameters
    ----------
    request
        The request.
    token
        The participant token in the link.

    Returns
    -------
    Response
        The confirmation page (with the resume nonce cookie); 303 to ``/study`` when this browser is already in
        that session; 404 for an unknown token.

    Example
    -------
    >>> import os, tempfile
    >>> from fastapi.testclient import TestClient
    >>> from pluralis.collect.config import StudyConfig
    >>> from pluralis.web.app import create_app
    >>> app = create_app(StudyConfig(), os.path.join(tempfile.mkdtemp(), "s.sqlite"))
    >>> token, _ = app.state.collect.repo.create_session()
    >>> client = TestClient(app)
    >>> client.get("/resume/not-a-token").status_code, client.get(f"/resume/{token}").status_code
    (404, 200)
    >>> "pluralis_resume" in client.cookies
    True
    """
    state = state_of(request)
    session = await state.db(state.repo.load, token)
    if session is None:
        return error_page(request, "This resume link is not valid.", 404)
    current_token = request.cookies.get(PARTICIPANT_COOKIE)
    if current_token == token:
        return redirect(request, "/study")
    st = session.state
    started = time.strftime("%d %B %Y, %H:%M UTC", time.gmtime(st.started_at))
    other = current_token is not None and await state.db(state.repo.load, current_token) is not None
    nonce = resume_nonce(request)
    resp = state.render(
        "resume.html",
        started=started,
        done=len(st.completed),
        total=state.config.conversations.total_quota,
        other_session=other,
        csrf=state.secrets.resume_csrf(token, nonce),
        action=f"{state.prefix}/resume/{token}",
    )
    set_resume_cookie(request, resp, nonce)
    return resp


async def resume_confirmed(request: Request, token: str) -> Response:
    """``POST /resume/{token}``: switch this browser into the session (records a ``resumed`` event).

    Accepted only with the confirmation page's token AND the resume nonce cookie that page set in this
    browser (SameSite=Strict: never sent with another site's form), and not from another site
    (:class:`pluralis.web.app.SameOriginPosts`).

    Parameters
    ----------
    request
        The confirmation form.
    token
        The participant token in the link.

    Returns
    -------
    Response
        303 to ``/study`` with the participant cookie; 403 for a form that is not this browser's confirmation;
        404 for an unknown token.

    Example
    -------
    >>> import os, tempfile
    >>> from fastapi.testclient import TestClient
    >>> from pluralis.collect.config import StudyConfig
    >>> from pluralis.web.app import create_app
    >>> app = create_app(StudyConfig(), os.path.join(tempfile.mkdtemp(), "s.sqlite"))
    >>> token, _ = app.state.collect.repo.create_session()
    >>> client = TestClient(app)
    >>> client.post(f"/resume/{token}", data={"csrf": "forged"}).status_code
    403
    >>> page = client.get(f"/resume/{token}").text
    >>> csrf = page.split('name="csrf" value="')[1].split('"')[0]
    >>> client.post(f"/resume/{token}", data={"csrf": csrf}, follow_redirects=False).headers["location"]
    '/study'
    """
    state = state_of(request)
    form = await read_form(request)
    if not state.secrets.check_resume_csrf(form.get("csrf"), token, request.cookies.get(RESUME_COOKIE)):
        return error_page(
            request, "This form has expired or was not sent from this browser. Please open your resume link again.", 403
        )
    session = await state.db(state.repo.load, token)
    if session is None:
        return error_page(request, "This resume link is not valid.", 404)
    await state.db(state.repo.add_event, session.user_id, "resumed", None)
    resp = redirect(request, "/study")
    set_participant_cookie(request, resp, token)
    return resp


async def study(request: Request) -> Response:
    """``GET /study``: the participant's current step (restarts a model call a crash interrupted).

    Parameters
    ----------
    request
        The request.

    Returns
    -------
    Response
        The page of the current step (:func:`study_page`), or 303 to ``/`` without a participant.

    Example
    -------
    >>> import os, tempfile
    >>> from fastapi.testclient import TestClient
    >>> from pluralis.collect.config import StudyConfig
    >>> from pluralis.web.app import create_app
    >>> client = TestClient(create_app(StudyConfig(), os.path.join(tempfile.mkdtemp(), "s.sqlite")))
    >>> client.get("/study", follow_redirects=False).headers["location"]
    '/'
    """
    found = await current(request)
    if found is None:
        return redirect(request, "/")
    token, session = found
    if session.step == Step.GENERATING:
        state_of(request).ensure_generation(token, session.user_id)
    return study_page(request, token, session, message=NOTES.get(request.query_params.get("note") or ""))


async def consent(request: Request) -> Response:
    """``POST /study/consent``: give (or refuse) consent; see :func:`act` for the checks and answers.

    Parameters
    ----------
    request
        The consent form (``consent``, ``consent_age`` checkboxes, ``csrf``).

    Returns
    -------
    Response

    Example
    -------
    >>> import os, tempfile
    >>> from fastapi.testclient import TestClient
    >>> from pluralis.collect.config import StudyConfig
    >>> from pluralis.web.app import create_app
    >>> app = create_app(StudyConfig(), os.path.join(tempfile.mkdtemp(), "s.sqlite"))
    >>> token, _ = app.state.collect.repo.create_session()
    >>> client = TestClient(app, cookies={"pluralis_p": token})
    >>> form = {"consent": "yes", "consent_age": "yes", "csrf": app.state.collect.secrets.csrf_for(token)}
    >>> client.post("/study/consent", data=form, follow_redirects=False).status_code
    303
    >>> app.state.collect.repo.load(token).step.value
    'survey'
    """
    return await act(request, _consent, steps=(Step.CONSENT,))


async def survey(request: Request) -> Response:
    """``POST /study/survey``: answer one survey page (``section`` names it); see :func:`act`.

    Parameters
    ----------
    request
        The survey page's form.

    Returns
    -------
    Response

    Example
    -------
    >>> import os, tempfile
    >>> from fastapi.testclient import TestClient
    >>> from pluralis.collect.config import StudyConfig
    >>> from pluralis.web.app import create_app
    >>> app = create_app(StudyConfig(), os.path.join(tempfile.mkdtemp(), "s.sqlite"))
    >>> token, _ = app.state.collect.repo.create_session()
    >>> client = TestClient(app, cookies={"pluralis_p": token})
    >>> client.post("/study/survey", data={"section": "lm_use", "csrf": "forged"}).status_code
    403
    """
    return await act(request, _survey, steps=(Step.SURVEY,))


async def start_conversation(request: Request) -> Response:
    """``POST /study/start``: open a conversation and wait for the models' opening responses; see :func:`act`.

    Parameters
    ----------
    request
        The form with ``conversation_type`` and ``opening_prompt``.

    Returns
    -------
    Response

    Example
    -------
    >>> import os, tempfile
    >>> from fastapi.testclient import TestClient
    >>> from pluralis.collect.config import StudyConfig
    >>> from pluralis.web.app import create_app
    >>> client = TestClient(create_app(StudyConfig(), os.path.join(tempfile.mkdtemp(), "s.sqlite")))
    >>> client.post("/study/start", data={"opening_prompt": "Hi"}, follow_redirects=False).headers["location"]
    '/'
    """
    return await act(request, _start_conversation, llm=True, steps=(Step.START,))


async def rate(request: Request) -> Response:
    """``POST /study/rate``: rate the turn's responses (``score_{id}``, 1-100); see :func:`act`.

    Opening and follow-up turns alike are rated here. Each slider must have been moved
    (``score_{id}__touched``, set by app.js or the no-JS checkbox): an untouched one is refused with a message
    next to it and nothing is stored (:func:`pluralis.collect.protocol.ratings_from_form`).

    Parameters
    ----------
    request
        The rating form.

    Returns
    -------
    Response

    Example
    -------
    >>> import os, tempfile
    >>> from fastapi.testclient import TestClient
    >>> from pluralis.collect.config import StudyConfig
    >>> from pluralis.web.app import create_app
    >>> client = TestClient(create_app(StudyConfig(), os.path.join(tempfile.mkdtemp(), "s.sqlite")))
    >>> client.post("/study/rate", data={"score_0": "50"}, follow_redirects=False).headers["location"]
    '/'
    """
    return await act(request, _rate, steps=(Step.RATE,))


async def follow_up(request: Request) -> Response:
    """``POST /study/followup``: send the next prompt and wait for the two new responses; see :func:`act`.

    Parameters
    ----------
    request
        The form with ``prompt``.

    Returns
    -------
    Response

    Example
    -------
    >>> import os, tempfile
    >>> from fastapi.testclient import TestClient
    >>> from pluralis.collect.config import StudyConfig
    >>> from pluralis.web.app import create_app
    >>> client = TestClient(create_app(StudyConfig(), os.path.join(tempfile.mkdtemp(), "s.sqlite")))
    >>> client.post("/study/followup", data={"prompt": "Why?"}, follow_redirects=False).headers["location"]
    '/'
    """
    return await act(request, _follow_up, llm=True, steps=(Step.CONTINUE,))


async def finish(request: Request) -> Response:
    """``POST /study/finish``: end the conversation (feedback comes next); see :func:`act`.

    With ``early`` and a locked model that is gone (:func:`pluralis.web.availability.locked_model_problem`),
    the conversation may end before the turn minimum (flagged ``ended_early`` in its record).

    Parameters
    ----------
    request
        The form (only ``csrf``).

    Returns
    -------
    Response

    Example
    -------
    >>> import os, tempfile
    >>> from fastapi.testclient import TestClient
    >>> from pluralis.collect.config import StudyConfig
    >>> from pluralis.web.app import create_app
    >>> client = TestClient(create_app(StudyConfig(), os.path.join(tempfile.mkdtemp(), "s.sqlite")))
    >>> client.post("/study/finish", data={}, follow_redirects=False).headers["location"]
    '/'
    """
    models = list(state_of(request).models)

    def action(session: ProtocolSession, form: FormData) -> list[tuple[str, dict | None]]:
        if form.get("early") and locked_model_problem(session, models) is None:
            form = FormData([(k, v) for k, v in form.items() if k != "early"])  # only when the model is gone
        return _finish(session, form)

    return await act(request, action, steps=(Step.CONTINUE,))


async def feedback(request: Request) -> Response:
    """``POST /study/feedback``: rate the conversation's attributes and give open feedback; see :func:`act`.

    Parameters
    ----------
    request
        The feedback form (``performance__*``, ``choice__*`` sliders with ``__na`` boxes, ``open_feedback``).

    Returns
    -------
    Response

    Example
    -------
    >>> import os, tempfile
    >>> from fastapi.testclient import TestClient
    >>> from pluralis.collect.config import StudyConfig
    >>> from pluralis.web.app import create_app
    >>> client = TestClient(create_app(StudyConfig(), os.path.join(tempfile.mkdtemp(), "s.sqlite")))
    >>> client.post("/study/feedback", data={}, follow_redirects=False).headers["location"]
    '/'
    """
    return await act(request, _feedback, steps=(Step.FEEDBACK,))


__all__ = [
    "CHECK_FIELDS",
    "NOTES",
    "STEP_TEMPLATES",
    "TRY_AGAIN",
    "StalePage",
    "Action",
    "act",
    "attributes_from_form",
    "consent",
    "current",
    "error_summary",
    "feedback",
    "finish",
    "follow_up",
    "landing",
    "participant_message",
    "rate",
    "resume",
    "resume_confirmed",
    "start",
    "start_conversation",
    "study",
    "study_page",
    "survey",
    "survey_answers_from_form",
]
