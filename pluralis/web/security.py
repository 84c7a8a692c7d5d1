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
        """The CSRF token of a participant's forms."""
        return self._mac("csrf:" + participant_token)

    def check_csrf(self, submitted: str | None, participant_token: str | None) -> bool:
        """Whether a submitted CSRF token belongs to this participant."""
        if not submitted or not participant_token:
            return False
        return hmac.compare_digest(submitted, self.csrf_for(participant_token))

    def check_admin(self, token: str | None) -> bool:
        """Constant-time comparison with the admin token (always false when none is configured)."""
        if not self.admin_token or not token:
            return False
        return hmac.compare_digest(token.encode("utf-8"), self.admin_token.encode("utf-8"))

    def admin_cookie(self) -> str:
        """Value of the admin session cookie (an HMAC of the admin token)."""
        return self._mac("admin:" + (self.admin_token or ""))

    def check_admin_cookie(self, value: str | None) -> bool:
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
    ``rate=0`` disables the limit.

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
        """Take one token for ``key``; ``False`` when the bucket is empty."""
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
