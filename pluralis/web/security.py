"""Security helpers of the collection app: CSRF tokens, admin authentication, rate limits, headers.

- **Participant tokens** are 256-bit random strings (:func:`pluralis.web.repository.new_token`), kept in
  an HttpOnly, SameSite=Lax cookie and in the participant's resume link; the database stores only their hash.
- **CSRF**: every form carries a token; participant forms use ``HMAC(secret, "csrf:" + participant token)``,
  forms without a participant (start, admin login) use a double-submit cookie. Checked on every POST.
- **Admin**: a token from an environment variable; compared in constant time; the admin cookie holds an
  HMAC of it, never the token itself.
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


__all__ = ["CSP", "SECURITY_HEADERS", "RateLimiter", "Secrets", "new_csrf"]
