"""Reverse proxies: whose ``X-Forwarded-*`` headers to believe, and the address participants use.

Behind nginx or Caddy the app sees the proxy's address as the client and the proxy's ``Host``. It believes the
proxy's ``X-Forwarded-For`` / ``-Proto`` / ``-Host`` only when the connection comes from a **trusted proxy**
(``[server] trusted_proxies`` or ``pluralis serve --forwarded-allow-ips``); from anyone else the headers are
ignored (a participant could otherwise claim any address and dodge the per-address join limit).
:class:`ProxyHeaders` rewrites the request's client address, scheme and host accordingly, before any view runs.

Links participants follow (the resume link) use ``public_url`` when it is set (:func:`public_base`), else the
address of the request as the (trusted) proxy reports it.

Example
-------
>>> trusted = TrustedProxies(["127.0.0.1", "10.0.0.0/8"])
>>> trusted.trusts("10.1.2.3"), trusted.trusts("192.0.2.1"), TrustedProxies(["*"]).trusts("192.0.2.1")
(True, False, True)
>>> forwarded_client("203.0.113.9, 10.0.0.5", trusted)
'203.0.113.9'
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from urllib.parse import urlsplit

from starlette.types import ASGIApp, Receive, Scope, Send

_HOST_RE = re.compile(r"^[A-Za-z0-9.\-]+(:\d{1,5})?$|^\[[0-9A-Fa-f:.]+\](:\d{1,5})?$")


class TrustedProxies:
    """The addresses and networks whose forwarding headers are believed (``"*"``: every peer).

    Parameters
    ----------
    spec
        IP addresses, CIDR networks or ``"*"``; a comma-separated string is split (as on the command line).

    Example
    -------
    >>> t = TrustedProxies("127.0.0.1, ::1")
    >>> t.trusts("127.0.0.1"), t.trusts("::1"), t.trusts("testclient"), bool(TrustedProxies(None))
    (True, True, False, False)
    """

    def __init__(self, spec: Iterable[str] | str | None):
        items = spec.split(",") if isinstance(spec, str) else list(spec or [])
        items = [i.strip() for i in items if i and i.strip()]
        self.any = "*" in items
        self.networks = [ipaddress.ip_network(i, strict=False) for i in items if i != "*"]

    def __bool__(self) -> bool:
        return self.any or bool(self.networks)

    def trusts(self, host: str | None) -> bool:
        """Whether a peer address is a trusted proxy.

        Parameters
        ----------
        host
            The peer's address (anything that is not an IP address is not trusted, unless ``"*"``).

        Returns
        -------
        bool

        Example
        -------
        >>> TrustedProxies(["10.0.0.0/8"]).trusts("10.9.9.9"), TrustedProxies(["10.0.0.0/8"]).trusts(None)
        (True, False)
        """
        if self.any:
            return True
        if not host or not self.networks:
            return False
        try:
            ip = ipaddress.ip_address(host)
        except ValueError:
            return False
        return any(ip in net for net in self.networks)


def forwarded_client(header: str, trusted: TrustedProxies) -> str | None:
    """The client's address from an ``X-Forwarded-For`` list: the right-most hop that is not a trusted proxy.

    Each proxy appends the address it got the request from, so the right-most entries are the trusted chain and
    the first untrusted one from the right is the real client; entries further left are the client's own claims.

    Parameters
    ----------
    header
        The header's value (``"client, proxy1, proxy2"``).
    trusted
        The trusted proxies.

    Returns
    -------
    str or None
        The client's address (``None`` for an empty header); the left-most entry when every hop is trusted.

    Example
    -------
    >>> t = TrustedProxies(["10.0.0.0/8"])
    >>> forwarded_client("1.2.3.4, 198.51.100.7, 10.0.0.2", t)   # 1.2.3.4 is what the client claimed
    '198.51.100.7'
    >>> forwarded_client("", t) is None
    True
    """
    hops = [h.strip() for h in header.split(",") if h.strip()]
    for hop in reversed(hops):
        if not trusted.trusts(hop):
            return hop
    return hops[0] if hops else None


class ProxyHeaders:
    """ASGI middleware: believe ``X-Forwarded-For`` / ``-Proto`` / ``-Host`` from trusted proxies only.

    From a trusted proxy, the request's client address becomes :func:`forwarded_client`'s, its scheme the
    forwarded protocol (``http``/``https``) and its ``Host`` the forwarded host; from anyone else nothing
    changes (the headers are ignored by the app, which reads only what this middleware sets).

    Parameters
    ----------
    app
        The ASGI app to wrap.
    trusted
        The trusted proxies (none: the middleware changes nothing).

    Example
    -------
    >>> from fastapi.testclient import TestClient
    >>> async def who(scope, receive, send):
    ...     host = dict(scope["headers"]).get(b"host", b"").decode()
    ...     body = f"{scope['client'][0]} {scope['scheme']} {host}".encode()
    ...     await send({"type": "http.response.start", "status": 200, "headers": []})
    ...     await send({"type": "http.response.body", "body": body})
    >>> fwd = {"X-Forwarded-For": "203.0.113.9", "X-Forwarded-Proto": "https", "X-Forwarded-Host": "study.example.org"}
    >>> TestClient(ProxyHeaders(who, TrustedProxies(["10.0.0.1"])), client=("10.0.0.1", 1)).get("/", headers=fwd).text
    '203.0.113.9 https study.example.org'
    >>> TestClient(ProxyHeaders(who, TrustedProxies(["10.0.0.1"])), client=("192.0.2.1", 1)).get("/", headers=fwd).text
    '192.0.2.1 http testserver'
    """

    def __init__(self, app: ASGIApp, trusted: TrustedProxies):
        self.app = app
        self.trusted = trusted

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket") and self.trusted:
            peer = scope.get("client")
            if self.trusted.trusts(peer[0] if peer else None):
                scope = self._rewrite(scope)
        await self.app(scope, receive, send)

    def _rewrite(self, scope: Scope) -> Scope:
        headers = list(scope.get("headers") or [])
        values: dict[bytes, str] = {}
        for k, v in headers:
            if k in (b"x-forwarded-for", b"x-forwarded-proto", b"x-forwarded-host"):
                # several headers of one name: one comma-separated list, in order
                prev = values.get(k)
                text = v.decode("latin-1")
                values[k] = text if prev is None else prev + "," + text
        scope = dict(scope)
        xff = values.get(b"x-forwarded-for")
        if xff:
            client = forwarded_client(xff, self.trusted)
            if client:
                scope["client"] = (client, 0)
        proto = values.get(b"x-forwarded-proto")
        if proto:
            first = proto.split(",")[0].strip().lower()
            if first in ("http", "https"):
                scope["scheme"] = first if scope["type"] == "http" else {"http": "ws", "https": "wss"}[first]
        host = values.get(b"x-forwarded-host")
        if host:
            first = host.split(",")[0].strip()
            if _HOST_RE.match(first):
                scope["headers"] = [(k, v) for k, v in headers if k != b"host"] + [(b"host", first.encode("latin-1"))]
        return scope


def url_prefix(public_url: str | None) -> str:
    """The path prefix of a public URL (``""`` when the app is served at the root).

    Parameters
    ----------
    public_url
        The study's public address, or ``None``.

    Returns
    -------
    str
        ``"/study1"`` for ``https://example.org/study1/``; ``""`` for ``https://study.example.org``.

    Example
    -------
    >>> url_prefix("https://example.org/study1/"), url_prefix("https://study.example.org"), url_prefix(None)
    ('/study1', '', '')
    """
    if not public_url:
        return ""
    return urlsplit(public_url).path.rstrip("/")


def origin_of(url: str) -> str:
    """``scheme://host[:port]`` of an address (lower case; default ports dropped).

    Parameters
    ----------
    url
        An absolute http(s) address.

    Returns
    -------
    str

    Example
    -------
    >>> origin_of("HTTPS://Study.Example.org:443/x"), origin_of("http://127.0.0.1:8080/")
    ('https://study.example.org', 'http://127.0.0.1:8080')
    """
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if ":" in host:
        host = f"[{host}]"
    port = parts.port
    if port is None or (scheme, port) in (("http", 80), ("https", 443)):
        return f"{scheme}://{host}"
    return f"{scheme}://{host}:{port}"


__all__ = ["ProxyHeaders", "TrustedProxies", "forwarded_client", "origin_of", "url_prefix"]
