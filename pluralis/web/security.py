"""Security helpers of the collection app: CSRF tokens, admin authentication, rate limits, headers.

- **Participant tokens** are 256-bit random strings (:func:`pluralis.web.repository.new_token`), kept in
  an HttpOnly, SameSite=Lax cookie and in the participant's resume link; the database stores only their hash.
- **CSRF**: every form carries a token; participant forms use ``HMAC(secret, "csrf:" + participant token)``,
  forms without a participant (start, admin login) use a double-submit cookie. Checked on every POST.
  POSTs a browser marks as cross-site (``Sec-Fetch-Site``, or an ``Origin`` that is not the study's) are
  refused before any view runs (:func:`cross_site_reason`).
- **Resume links** switch a browser into a session only through the confirmation page: its form's token is
  ``HMAC(secret, "resume:" + token + ":" + nonce)`` with the nonce in a SameSite=Strict cookie that the
  confirmation page sets, so another site cannot submit the form for the participant (login CSRF).
- **Admin**: a token from an environment variable; compared in constant time; the admin cookie holds an
  HMAC of it, never the token itself. Failed attempts are rate-limited per client address and overall
  (:class:`AuthThrottle`: 429 with ``Retry-After``).
- **Rate limits**: a token bucket per key (participant, client address), in memory (one server process).
- **Headers**: a strict Content-Security-Policy (no inline script), no framing, no referrer (the resume link
  carries the token), no caching of participant pages.

Example
-------
>>> keys = Secrets(b"k" * 32)
>>> t = keys.csrf_for("participant-token")
>>> keys.check_csrf(t, "participant-token"), keys.check_csrf("forged", "participant-token")
(True, False)
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from collections.abc import Iterable, Mapping

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
)

SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
}


class Secrets:
    """The server's signing key (random per process unless given) and the admin token.

    Parameters
    ----------
    key
        The signing key of CSRF tokens and the admin cookie (default: 32 random bytes).
    admin_token
        The admin token (``None``: admin pages disabled).

    Example
    -------
    >>> s = Secrets(admin_token="a-long-admin-token")
    >>> s.check_admin("a-long-admin-token"), s.check_admin("nope"), s.check_admin(None)
    (True, False, False)
    >>> s.check_admin_cookie(s.admin_cookie())
    True
    """

    def __init__(self, key: bytes | None = None, admin_token: str | None = None):
        self.key = key or secrets.token_bytes(32)
        self.admin_token = admin_token

    def _mac(self, message: str) -> str:
        return hmac.new(self.key, message.encode("utf-8"), hashlib.sha256).hexdigest()

    def csrf_for(self, participant_token: str) -> str:
        """The CSRF token of a participant's forms (an HMAC of their token).

        Parameters
        ----------
        participant_token
            The participant token (``"admin"`` for the admin's forms).

        Returns
        -------
        str
            64 hex digits.

        Example
        -------
        >>> keys = Secrets(b"k" * 32)
        >>> keys.csrf_for("p1") == keys.csrf_for("p1") != keys.csrf_for("p2")
        True
        """
        return self._mac("csrf:" + participant_token)

    def resume_csrf(self, participant_token: str, nonce: str) -> str:
        """The token of a resume confirmation form, bound to the browser's resume nonce cookie.

        Parameters
        ----------
        participant_token
            The participant token in the resume link.
        nonce
            The value of the browser's SameSite=Strict resume cookie.

        Returns
        -------
        str
            64 hex digits.

        Example
        -------
        >>> keys = Secrets(b"k" * 32)
        >>> keys.resume_csrf("p1", "n1") == keys.resume_csrf("p1", "n1") != keys.resume_csrf("p1", "n2")
        True
        >>> keys.resume_csrf("p1", "n1") != keys.csrf_for("p1")
        True
        """
        return self._mac("resume:" + participant_token + ":" + nonce)

    def check_resume_csrf(self, submitted: str | None, participant_token: str, nonce: str | None) -> bool:
        """Whether a resume confirmation came from the page this browser was shown (constant time).

        Parameters
        ----------
        submitted
            The form's ``csrf`` field.
        participant_token
            The participant token in the resume link.
        nonce
            The browser's resume cookie (``None`` when the browser did not send it, e.g. a cross-site POST).

        Returns
        -------
        bool

        Example
        -------
        >>> keys = Secrets(b"k" * 32)
        >>> t = keys.resume_csrf("p1", "n1")
        >>> keys.check_resume_csrf(t, "p1", "n1"), keys.check_resume_csrf(t, "p1", None), keys.check_resume_csrf(t, "p2", "n1")
        (True, False, False)
        """
        if not submitted or not nonce:
            return False
        return hmac.compare_digest(submitted, self.resume_csrf(participant_token, nonce))

    def check_csrf(self, submitted: str | None, participant_token: str | None) -> bool:
        """Whether a submitted CSRF token belongs to this participant (constant-time comparison).

        Parameters
        ----------
        submitted
            The form's ``csrf`` field.
        participant_token
            The participant token.

        Returns
        -------
        bool

        Example
        -------
        >>> keys = Secrets(b"k" * 32)
        >>> keys.check_csrf(keys.csrf_for("p1"), "p1"), keys.check_csrf(keys.csrf_for("p1"), "p2")
        (True, False)
        >>> keys.check_csrf(None, "p1"), keys.check_csrf("x", None)
        (False, False)
        """
        if not submitted or not participant_token:
            return False
        return hmac.compare_digest(submitted, self.csrf_for(participant_token))

    def check_admin(self, token: str | None) -> bool:
        """Constant-time comparison with the admin token (always false when none is configured).

        Parameters
        ----------
        token
            The token presented.

        Returns
        -------
        bool

        Example
        -------
        >>> Secrets(admin_token="a-long-admin-token").check_admin("a-long-admin-token")
        True
        >>> Secrets().check_admin("anything")
        False
        """
        if not self.admin_token or not token:
            return False
        return hmac.compare_digest(token.encode("utf-8"), self.admin_token.encode("utf-8"))

    def admin_cookie(self) -> str:
        """Value of the admin session cookie (an HMAC of the admin token, never the token itself).

        Returns
        -------
        str

        Example
        -------
        >>> s = Secrets(b"k" * 32, admin_token="a-long-admin-token")
        >>> "a-long-admin-token" in s.admin_cookie(), len(s.admin_cookie())
        (False, 64)
        """
        return self._mac("admin:" + (self.admin_token or ""))

    def check_admin_cookie(self, value: str | None) -> bool:
        """Whether an admin cookie is valid (always false when no admin token is configured).

        Parameters
        ----------
        value
            The cookie's value.

        Returns
        -------
        bool

        Example
        -------
        >>> s = Secrets(admin_token="a-long-admin-token")
        >>> s.check_admin_cookie(s.admin_cookie()), s.check_admin_cookie("forged"), s.check_admin_cookie(None)
        (True, False, False)
        """
        if not self.admin_token or not value:
            return False
        return hmac.compare_digest(value, self.admin_cookie())


class AuthThrottle:
    """Rate limit on failed admin authentication: per client address and across all addresses.

    Every failed attempt (wrong token at the login form, wrong ``Authorization: Bearer`` token, forged admin
    cookie) takes a token from the address's bucket and from the global one; while either is empty, every
    attempt from that address is refused (429 with ``Retry-After``) without checking the token.

    Parameters
    ----------
    per_ip
        Failed attempts allowed per address per minute.
    overall
        Failed attempts allowed per minute across all addresses (guessing from many addresses).

    Example
    -------
    >>> t = AuthThrottle(per_ip=2, overall=100)
    >>> t.retry_after("1.2.3.4"), t.failed("1.2.3.4"), t.failed("1.2.3.4")
    (0.0, None, None)
    >>> t.retry_after("1.2.3.4") > 0, t.retry_after("5.6.7.8")
    (True, 0.0)
    """

    def __init__(self, per_ip: int = 10, overall: int = 100):
        self.per_ip = RateLimiter(per_ip, 60.0)
        self.overall = RateLimiter(overall, 60.0)

    def retry_after(self, ip: str) -> float:
        """Seconds until ``ip`` may try again (0: now).

        Parameters
        ----------
        ip
            The client address.

        Returns
        -------
        float

        Example
        -------
        >>> AuthThrottle().retry_after("1.2.3.4")
        0.0
        """
        return max(self.per_ip.retry_after(ip), self.overall.retry_after("*"))

    def failed(self, ip: str) -> None:
        """Count a failed attempt from ``ip``.

        Parameters
        ----------
        ip
            The client address.

        Example
        -------
        >>> t = AuthThrottle(per_ip=1)
        >>> t.failed("1.2.3.4"); t.retry_after("1.2.3.4") > 0
        True
        """
        self.per_ip.allow(ip)
        self.overall.allow("*")


#: ``Sec-Fetch-Site`` values of requests that another site started.
CROSS_SITE = ("cross-site", "same-site")


def cross_site_reason(headers: Mapping[str, str], allowed_origins: Iterable[str]) -> str | None:
    """Why a state-changing request must be refused as cross-site, or ``None`` when it may go on.

    Browsers say where a request comes from in ``Sec-Fetch-Site`` (all current ones) and ``Origin``: a form
    that another site submits (``cross-site``, or ``same-site`` from a neighbouring sub-domain) is refused.
    Without ``Sec-Fetch-Site`` (older browsers) an ``Origin`` that is not one of ``allowed_origins`` (or is
    ``null``) is refused. Requests with neither header (scripts, tests) go on: they cannot carry a victim's
    cookies from another site.

    Parameters
    ----------
    headers
        The request's headers (lower-case names).
    allowed_origins
        The study's origins (``scheme://host[:port]``).

    Returns
    -------
    str or None
        The reason, for the log.

    Example
    -------
    >>> cross_site_reason({"sec-fetch-site": "cross-site"}, ["http://127.0.0.1:8080"])
    'Sec-Fetch-Site: cross-site'
    >>> cross_site_reason({"sec-fetch-site": "same-origin", "origin": "http://127.0.0.1:8080"}, ["http://127.0.0.1:8080"])
    >>> cross_site_reason({"origin": "https://evil.example"}, ["http://127.0.0.1:8080"])
    'Origin: https://evil.example'
    >>> cross_site_reason({}, ["http://127.0.0.1:8080"]) is None
    True
    """
    site = (headers.get("sec-fetch-site") or "").strip().lower()
    if site in CROSS_SITE:
        return f"Sec-Fetch-Site: {site}"
    if site:
        return None
    origin = (headers.get("origin") or "").strip()
    if not origin:
        return None
    if origin == "null" or origin.lower().rstrip("/") not in {o.lower() for o in allowed_origins}:
        return f"Origin: {origin}"
    return None


def new_csrf() -> str:
    """A random double-submit CSRF value.

    Example
    -------
    >>> len(new_csrf())
    32
    """
    return secrets.token_hex(16)


class RateLimiter:
    """Token buckets: ``rate`` events per ``per`` seconds per key, bursts up to ``burst`` (default ``rate``).

    Parameters
    ----------
    rate
        Events allowed per ``per`` seconds (0 disables the limit).
    per
        The period, seconds.
    burst
        Largest burst (default ``rate``).
    max_keys
        Keys kept in memory; beyond it the oldest half is forgotten.

    Example
    -------
    >>> rl = RateLimiter(rate=2, per=60)
    >>> [rl.allow("p1") for _ in range(3)], rl.allow("p2")
    ([True, True, False], True)
    """

    def __init__(self, rate: int, per: float = 60.0, burst: int | None = None, max_keys: int = 100_000):
        self.rate = rate
        self.per = per
        self.burst = burst if burst is not None else rate
        self.max_keys = max_keys
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def retry_after(self, key: str) -> float:
        """Seconds until ``key`` may act again (0 when it may now); takes nothing.

        Parameters
        ----------
        key
            Whose bucket.

        Returns
        -------
        float

        Example
        -------
        >>> rl = RateLimiter(rate=1, per=60)
        >>> rl.retry_after("k"), rl.allow("k"), 59 < rl.retry_after("k") <= 60
        (0.0, True, True)
        """
        if self.rate <= 0:
            return 0.0
        now = time.monotonic()
        with self._lock:
            tokens, last = self._buckets.get(key, (float(self.burst), now))
        tokens = min(float(self.burst), tokens + (now - last) * self.rate / self.per)
        if tokens >= 1.0:
            return 0.0
        return (1.0 - tokens) * self.per / self.rate

    def allow(self, key: str) -> bool:
        """Take one token for ``key``.

        Parameters
        ----------
        key
            Whose bucket (a participant token, a client address).

        Returns
        -------
        bool
            ``False`` when the bucket is empty (the event is refused).

        Example
        -------
        >>> RateLimiter(rate=1).allow("k"), RateLimiter(rate=0).allow("k")
        (True, True)
        """
        if self.rate <= 0:
            return True
        now = time.monotonic()
        with self._lock:
            tokens, last = self._buckets.get(key, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + (now - last) * self.rate / self.per)
            if tokens < 1.0:
                self._buckets[key] = (tokens, now)
                return False
            self._buckets[key] = (tokens - 1.0, now)
            if len(self._buckets) > self.max_keys:  # forget the oldest keys; bounded memory
                for k in list(self._buckets)[: len(self._buckets) // 2]:
                    del self._buckets[k]
            return True


__all__ = [
    "CROSS_SITE",
    "CSP",
    "SECURITY_HEADERS",
    "AuthThrottle",
    "RateLimiter",
    "Secrets",
    "cross_site_reason",
    "new_csrf",
]
