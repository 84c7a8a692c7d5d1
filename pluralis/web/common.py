"""What every view of the collection app shares: the app state of a request, rendering, forms, cookies, CSRF.

Participant views live in :mod:`pluralis.web.participant`, admin views in :mod:`pluralis.web.admin`, the route
table in :mod:`pluralis.web.routes`; this module holds the helpers both audiences use.

Example
-------
>>> consent_blocks("## Consent\\n\\nYou may stop at any time.")
[('h', 'Consent'), ('p', 'You may stop at any time.')]
"""

from __future__ import annotations

from importlib import resources
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlsplit

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from markupsafe import Markup, escape

from pluralis.web.security import new_csrf

if TYPE_CHECKING:
    from pluralis.web.state import CollectState

#: Cookie holding the participant token (HttpOnly, SameSite=Lax: the resume link is followed from elsewhere).
PARTICIPANT_COOKIE = "pluralis_p"
#: Double-submit CSRF cookie of the forms shown before there is a participant (start, admin login).
CSRF_COOKIE = "pluralis_csrf"
#: Nonce cookie of the resume confirmation page (HttpOnly, SameSite=Strict: never sent with another site's form).
RESUME_COOKIE = "pluralis_resume"
#: Lifetime of the resume nonce cookie, seconds (1 hour).
RESUME_COOKIE_MAX_AGE = 60 * 60
#: Admin session cookie (an HMAC of the admin token, never the token).
ADMIN_COOKIE = "pluralis_admin"
#: Lifetime of the participant cookie, seconds (30 days).
COOKIE_MAX_AGE = 60 * 60 * 24 * 30
#: Lifetime of the admin cookie, seconds (12 hours).
ADMIN_COOKIE_MAX_AGE = 60 * 60 * 12
#: Largest request body accepted, bytes.
MAX_FORM_BYTES = 256 * 1024
#: Most fields a form may have.
MAX_FORM_FIELDS = 2000


def package_dir(name: str) -> str:
    """Path of a folder shipped inside :mod:`pluralis.web` (``templates``, ``static``).

    Parameters
    ----------
    name
        Folder name inside the package.

    Returns
    -------
    str
        The folder's path on disk.

    Example
    -------
    >>> package_dir("templates").endswith("templates")
    True
    """
    return str(resources.files("pluralis.web").joinpath(name))


def consent_blocks(text: str) -> list[tuple[str, str]]:
    """Split consent text into ``("h", heading)`` / ``("p", paragraph)`` blocks (``## `` marks a heading).

    Parameters
    ----------
    text
        The study's consent text: paragraphs separated by blank lines.

    Returns
    -------
    list of (str, str)
        ``("h", heading)`` or ``("p", paragraph)`` in order; line breaks inside a paragraph become spaces.

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


def http_url(url: str | None) -> str | None:
    """``url`` when it is an ``http(s)://`` address, else ``None`` (a link participants may be sent to).

    The study file's redirect addresses are checked when it is loaded; pages check again before they link,
    so a ``javascript:`` address can never become a link.

    Parameters
    ----------
    url
        An address from the study file.

    Returns
    -------
    str or None

    Example
    -------
    >>> http_url("https://app.prolific.com/submissions/complete?cc=C1"), http_url("javascript:alert(1)")
    ('https://app.prolific.com/submissions/complete?cc=C1', None)
    >>> http_url(" JAVASCRIPT:alert(1)"), http_url(None), http_url("//evil.example")
    (None, None, None)
    """
    if not url:
        return None
    parts = urlsplit(url.strip())
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        return None
    return url.strip()


_COUNTRY_OPTIONS: dict[int, tuple[Any, list[tuple[str, str, str]]]] = {}


def country_options(countries: Any, selected: Any) -> Markup:
    """The ``<option>`` elements of a country question, ``selected`` marked (what ``country_question`` in
    ``macros.html`` shows).

    The escaped options of a country list are built once: the demographics page has two questions of 224
    countries each, which cost ~0.5 ms each as a template loop.

    Parameters
    ----------
    countries
        The study's ``survey.countries`` (rows whose first item is the name).
    selected
        The submitted value (``None`` when none).

    Returns
    -------
    markupsafe.Markup

    Example
    -------
    >>> str(country_options([("Chad", "TCD"), ("Côte d'Ivoire", "CIV")], "Chad"))
    '<option value="Chad" selected>Chad</option><option value="Côte d&#39;Ivoire" >Côte d&#39;Ivoire</option>'
    """
    cached = _COUNTRY_OPTIONS.get(id(countries))
    if cached is None or cached[0] is not countries:
        options = []
        for c in countries:
            name = str(escape(c[0]))
            options.append(
                (c[0], f'<option value="{name}" >{name}</option>', f'<option value="{name}" selected>{name}</option>')
            )
        cached = _COUNTRY_OPTIONS[id(countries)] = (countries, options)  # holds the list: its id stays unique
    if selected is None:
        return Markup("".join(off for _, off, _ in cached[1]))
    return Markup("".join(on if name == selected else off for name, off, on in cached[1]))


# --- the app state of a request -------------------------------------------------------------------


def state_of(request: Request) -> CollectState:
    """The app's :class:`~pluralis.web.state.CollectState` (``app.state.collect``), from any request.

    Parameters
    ----------
    request
        The request being served.

    Returns
    -------
    CollectState
        The one object holding the study, store, repository, model backends, keys and limits.

    Example
    -------
    >>> from types import SimpleNamespace
    >>> request = SimpleNamespace(app=SimpleNamespace(state=SimpleNamespace(collect="the state")))
    >>> state_of(request)
    'the state'
    """
    return request.app.state.collect


def render(request: Request, name: str, status_code: int = 200, **ctx: Any) -> HTMLResponse:
    """Render a template of the app with ``ctx`` (the study ``config`` and ``consent_blocks`` are always there).

    Parameters
    ----------
    request
        The request being served (its app holds the template environment).
    name
        Template file name, e.g. ``"error.html"``.
    status_code
        HTTP status of the response.
    **ctx
        Template variables.

    Returns
    -------
    HTMLResponse

    See Also
    --------
    error_page : the plain page with one message.

    Example
    -------
    >>> import os, tempfile
    >>> from types import SimpleNamespace
    >>> from pluralis.collect.config import StudyConfig
    >>> from pluralis.web.app import create_app
    >>> app = create_app(StudyConfig(), os.path.join(tempfile.mkdtemp(), "s.sqlite"), admin_token="t" * 24)
    >>> r = render(SimpleNamespace(app=app), "error.html", 404, message="Gone <now>")
    >>> r.status_code, "Gone &lt;now&gt;" in r.body.decode()
    (404, True)
    """
    return state_of(request).render(name, status_code, **ctx)


def public_base(request: Request) -> str:
    """The address participants reach the app at, without a trailing slash (for links they keep or follow).

    The study's ``public_url`` when set (``[server] public_url`` / ``pluralis serve --public-url``), else the
    request's own address (its host and scheme as a trusted proxy reports them, :mod:`pluralis.web.proxy`).

    Parameters
    ----------
    request
        The request being served.

    Returns
    -------
    str

    Example
    -------
    >>> import os, tempfile
    >>> from fastapi.testclient import TestClient
    >>> from pluralis.collect.config import StudyConfig
    >>> from pluralis.web.app import create_app
    >>> path = os.path.join(tempfile.mkdtemp(), "s.sqlite")
    >>> app = create_app(StudyConfig(), path, public_url="https://study.example.org/s1")
    >>> from types import SimpleNamespace
    >>> public_base(SimpleNamespace(app=app, base_url="http://10.0.0.5:8080/"))
    'https://study.example.org/s1'
    """
    public = state_of(request).public_url
    return public if public else str(request.base_url).rstrip("/")


def redirect(request: Request, path: str) -> RedirectResponse:
    """A 303 redirect to a path of the app (under the public URL's path prefix, if any).

    Parameters
    ----------
    request
        The request being served.
    path
        The app's path, e.g. ``"/study"``.

    Returns
    -------
    RedirectResponse

    Example
    -------
    >>> import os, tempfile
    >>> from types import SimpleNamespace
    >>> from pluralis.collect.config import StudyConfig
    >>> from pluralis.web.app import create_app
    >>> app = create_app(StudyConfig(), os.path.join(tempfile.mkdtemp(), "s.sqlite"), public_url="https://x.org/s1")
    >>> redirect(SimpleNamespace(app=app), "/study").headers["location"]
    '/s1/study'
    """
    return RedirectResponse(state_of(request).prefix + path, status_code=303)


def error_page(
    request: Request, message: str, status_code: int, *, admin: bool = False, back: bool = True
) -> HTMLResponse:
    """The plain error page with one ``message``.

    Parameters
    ----------
    request
        The request being served.
    message
        What went wrong, in the participant's words (escaped).
    status_code
        HTTP status (403, 404, 409, 429, ...).
    admin
        An admin page's error: the page links back to the dashboard, not to the participants' study.
    back
        Offer the link back at all. ``False`` where going back leads to the same page (a full study, a
        participant id that has already started): the link would loop.

    Returns
    -------
    HTMLResponse

    Example
    -------
    >>> import os, tempfile
    >>> from types import SimpleNamespace
    >>> from pluralis.collect.config import StudyConfig
    >>> from pluralis.web.app import create_app
    >>> app = create_app(StudyConfig(), os.path.join(tempfile.mkdtemp(), "s.sqlite"), admin_token="t" * 24)
    >>> error_page(SimpleNamespace(app=app), "This study is full.", 403).status_code
    403
    >>> 'href="/admin"' in error_page(SimpleNamespace(app=app), "No such participant.", 404, admin=True).body.decode()
    True
    >>> 'href="/study"' in error_page(SimpleNamespace(app=app), "This study is full.", 403, back=False).body.decode()
    False
    """
    return render(request, "error.html", status_code, message=message, admin=admin, back=back)


# --- cookies and CSRF ------------------------------------------------------------------------------


def is_secure(request: Request) -> bool:
    """Whether the participant reaches the app over HTTPS: cookies must then carry the ``Secure`` flag.

    True for an ``https`` request (directly, or as a trusted proxy reports it through ``X-Forwarded-Proto``,
    :class:`pluralis.web.proxy.ProxyHeaders`) and for a study whose ``public_url`` is ``https://``; an
    ``X-Forwarded-Proto`` header from anyone else is ignored.

    Parameters
    ----------
    request
        The request being served.

    Returns
    -------
    bool

    Example
    -------
    >>> from starlette.requests import Request
    >>> scope = {"type": "http", "scheme": "https", "server": ("h", 443), "path": "/", "headers": []}
    >>> is_secure(Request(scope)), is_secure(Request({**scope, "scheme": "http", "headers": [
    ...     (b"x-forwarded-proto", b"https")]}))
    (True, False)
    """
    if request.url.scheme == "https":
        return True
    app = request.scope.get("app")
    public = getattr(getattr(getattr(app, "state", None), "collect", None), "public_url", None)
    return bool(public and public.startswith("https://"))


def client_ip(request: Request) -> str:
    """The client's address (the key of the per-address rate limits).

    Behind a trusted proxy this is the address it reports (:class:`pluralis.web.proxy.ProxyHeaders` rewrites
    the request before any view runs); ``X-Forwarded-For`` from anyone else is ignored.

    Parameters
    ----------
    request
        The request being served.

    Returns
    -------
    str
        The peer address, or ``"unknown"``.

    Example
    -------
    >>> from starlette.requests import Request
    >>> client_ip(Request({"type": "http", "client": ("10.0.0.7", 5000)})), client_ip(Request({"type": "http"}))
    ('10.0.0.7', 'unknown')
    """
    return request.client.host if request.client else "unknown"


def set_participant_cookie(request: Request, response: Response, token: str) -> None:
    """Put the participant's token in their cookie (HttpOnly, SameSite=Lax, 30 days).

    Parameters
    ----------
    request
        The request being served (decides the ``Secure`` flag).
    response
        The response that sets the cookie.
    token
        The participant token.

    Example
    -------
    >>> from starlette.requests import Request
    >>> resp = Response()
    >>> set_participant_cookie(Request({"type": "http", "scheme": "http", "server": ("h", 80), "path": "/",
    ...                                 "headers": []}), resp, "tok")
    >>> resp.headers["set-cookie"].split(";")[0]
    'pluralis_p=tok'
    """
    response.set_cookie(
        PARTICIPANT_COOKIE,
        token,
        max_age=COOKIE_MAX_AGE,
        httponly=True,
        samesite="lax",
        secure=is_secure(request),
        path="/",
    )


def resume_nonce(request: Request) -> str:
    """The browser's resume nonce (its cookie's, or a new one): what a resume confirmation form is bound to.

    Parameters
    ----------
    request
        The request being served.

    Returns
    -------
    str

    Example
    -------
    >>> from starlette.requests import Request
    >>> resume_nonce(Request({"type": "http", "headers": [(b"cookie", b"pluralis_resume=n1")]}))
    'n1'
    """
    return request.cookies.get(RESUME_COOKIE) or new_csrf()


def set_resume_cookie(request: Request, response: Response, nonce: str) -> None:
    """Set the resume nonce cookie (HttpOnly, SameSite=Strict, 1 hour).

    SameSite=Strict: a browser never sends it with a request another site starts, so a form that another site
    submits to ``POST /resume/{token}`` cannot carry it (login CSRF).

    Parameters
    ----------
    request
        The request being served (decides the ``Secure`` flag).
    response
        The confirmation page.
    nonce
        The value from :func:`resume_nonce`.

    Example
    -------
    >>> from starlette.requests import Request
    >>> resp = Response()
    >>> set_resume_cookie(Request({"type": "http", "scheme": "http", "server": ("h", 80), "path": "/",
    ...                            "headers": []}), resp, "n1")
    >>> "SameSite=strict" in resp.headers["set-cookie"], "HttpOnly" in resp.headers["set-cookie"]
    (True, True)
    """
    response.set_cookie(
        RESUME_COOKIE,
        nonce,
        max_age=RESUME_COOKIE_MAX_AGE,
        httponly=True,
        samesite="strict",
        secure=is_secure(request),
        path="/",
    )


def double_submit_csrf(request: Request) -> str:
    """The double-submit CSRF value of a form shown before there is a participant (the cookie's, or a new one).

    Pair with :func:`set_csrf_cookie` on the response and check with :func:`check_double_submit`.

    Parameters
    ----------
    request
        The request being served.

    Returns
    -------
    str
        The value to put in the form's hidden ``csrf`` field.

    Example
    -------
    >>> from starlette.requests import Request
    >>> double_submit_csrf(Request({"type": "http", "headers": [(b"cookie", b"pluralis_csrf=abc")]}))
    'abc'
    """
    return request.cookies.get(CSRF_COOKIE) or new_csrf()


def set_csrf_cookie(request: Request, response: Response, value: str) -> None:
    """Set the double-submit CSRF cookie (HttpOnly, SameSite=Strict).

    Parameters
    ----------
    request
        The request being served (decides the ``Secure`` flag).
    response
        The response that sets the cookie.
    value
        The value from :func:`double_submit_csrf`.

    Example
    -------
    >>> from starlette.requests import Request
    >>> resp = Response()
    >>> set_csrf_cookie(Request({"type": "http", "scheme": "http", "server": ("h", 80), "path": "/",
    ...                          "headers": []}), resp, "abc")
    >>> "SameSite=strict" in resp.headers["set-cookie"]
    True
    """
    response.set_cookie(CSRF_COOKIE, value, httponly=True, samesite="strict", secure=is_secure(request), path="/")


def check_double_submit(request: Request, submitted: str | None) -> bool:
    """Whether a form's ``csrf`` field matches the double-submit cookie.

    Parameters
    ----------
    request
        The request carrying the cookie.
    submitted
        The form's ``csrf`` value.

    Returns
    -------
    bool

    Example
    -------
    >>> from starlette.requests import Request
    >>> req = Request({"type": "http", "headers": [(b"cookie", b"pluralis_csrf=abc")]})
    >>> check_double_submit(req, "abc"), check_double_submit(req, "xyz"), check_double_submit(req, None)
    (True, False, False)
    """
    cookie = request.cookies.get(CSRF_COOKIE)
    return bool(cookie) and submitted == cookie


# --- forms -----------------------------------------------------------------------------------------


class FormData(dict):
    """A parsed ``application/x-www-form-urlencoded`` body: first value per key, ``getlist`` for all.

    Example
    -------
    >>> form = FormData([("a", "1"), ("b", "x"), ("b", "y")])
    >>> form["b"], form.getlist("b"), form.getlist("c")
    ('x', ['x', 'y'], [])
    """

    def __init__(self, pairs: list[tuple[str, str]]):
        super().__init__()
        self._lists: dict[str, list[str]] = {}
        for k, v in pairs:
            self._lists.setdefault(k, []).append(v)
            self.setdefault(k, v)

    def getlist(self, key: str) -> list[str]:
        """Every value submitted under ``key`` (checkboxes), in order.

        Parameters
        ----------
        key
            The field name.

        Returns
        -------
        list of str

        Example
        -------
        >>> FormData([("k", "1"), ("k", "2")]).getlist("k")
        ['1', '2']
        """
        return list(self._lists.get(key, []))


class FormError(Exception):
    """A submitted body that is not a form this app accepts (answered with ``status_code`` and a plain page).

    Example
    -------
    >>> e = FormError(415, "Please submit the form from the study page.")
    >>> e.status_code, str(e)
    (415, 'Please submit the form from the study page.')
    """

    def __init__(self, status_code: int, message: str):
        super().__init__(message)
        self.status_code = status_code
        self.message = message


async def read_form(request: Request) -> FormData:
    """Parse a submitted form.

    ``application/x-www-form-urlencoded`` (what the pages send; fast path) or ``multipart/form-data`` without
    files.

    Parameters
    ----------
    request
        The POST request.

    Returns
    -------
    FormData

    Raises
    ------
    FormError
        415 for other content types, 413 for bodies over ``MAX_FORM_BYTES`` (even when sent without a
        Content-Length), 400 for malformed bodies or more than ``MAX_FORM_FIELDS`` fields.

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


__all__ = [
    "country_options",
    "ADMIN_COOKIE",
    "COOKIE_MAX_AGE",
    "CSRF_COOKIE",
    "MAX_FORM_BYTES",
    "MAX_FORM_FIELDS",
    "PARTICIPANT_COOKIE",
    "RESUME_COOKIE",
    "RESUME_COOKIE_MAX_AGE",
    "FormData",
    "FormError",
    "check_double_submit",
    "client_ip",
    "consent_blocks",
    "double_submit_csrf",
    "error_page",
    "http_url",
    "is_secure",
    "package_dir",
    "public_base",
    "read_form",
    "redirect",
    "render",
    "resume_nonce",
    "set_csrf_cookie",
    "set_participant_cookie",
    "set_resume_cookie",
    "state_of",
]
