"""A lean HTTP/1.1 transport for model servers reached over plain ``http://`` (local vLLM, llama.cpp, ``pluralis
llm serve``), used by the collection app's model clients.

httpx's default transport (httpcore on anyio) spends ~0.8 ms of CPU per chat call: an h11 state machine, two
socket writes per request, cancel scopes around every read, and a scan of the whole pool on every request.
:class:`StreamTransport` is an ``httpx.AsyncBaseTransport`` on asyncio streams: the request head and body in
one write, the response read by ``Content-Length`` (or chunked, or to the end), idle keep-alive connections
reused. Everything above the transport — the client, redirects, timeouts (``asyncio.timeout`` of the backend),
retries, error handling — stays httpx's and :class:`pluralis.llm.openai_client.OpenAIBackend`'s. Connection
failures raise httpx's own errors (``ConnectError``, ``ReadError``, ``RemoteProtocolError``), so they are
retried and reported exactly as before. ``https://`` requests go to httpx's default transport.

Example
-------
>>> import asyncio
>>> import httpx
>>> async def call():                      # nothing listens on port 9: httpx's ConnectError, as with httpx
...     async with httpx.AsyncClient(transport=StreamTransport()) as client:
...         try:
...             await client.post("http://127.0.0.1:9/v1/chat/completions", json={})
...         except httpx.ConnectError:
...             return "connect error"
>>> asyncio.run(call())
'connect error'
"""

from __future__ import annotations

import asyncio

import httpx

#: Idle connections kept per (host, port); more are closed when they are handed back.
MAX_IDLE = 64
#: The most a response head may take (bytes).
MAX_HEAD = 65536


class _Conn:
    __slots__ = ("reader", "writer")

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        self.reader, self.writer = reader, writer

    def close(self) -> None:
        try:
            self.writer.close()
        except Exception:  # pragma: no cover - closing is best effort
            pass


class StreamTransport(httpx.AsyncBaseTransport):
    """An ``httpx`` transport for ``http://`` on asyncio streams, with keep-alive (see the module docs).

    Parameters
    ----------
    fallback
        The transport for anything but ``http://`` (default: ``httpx.AsyncHTTPTransport()``, made when first needed).
    max_idle
        Idle connections kept per host and port.

    Example
    -------
    >>> import asyncio, httpx
    >>> t = StreamTransport()
    >>> asyncio.run(t.aclose()); t.idle_connections()
    0
    """

    def __init__(self, fallback: httpx.AsyncBaseTransport | None = None, max_idle: int = MAX_IDLE):
        self._fallback = fallback
        self._max_idle = max_idle
        self._idle: dict[tuple[str, int], list[_Conn]] = {}

    def idle_connections(self) -> int:
        """Connections kept open for the next request.

        Returns
        -------
        int

        Example
        -------
        >>> StreamTransport().idle_connections()
        0
        """
        return sum(len(v) for v in self._idle.values())

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Send ``request`` and read the whole response.

        Parameters
        ----------
        request
            An httpx request.

        Returns
        -------
        httpx.Response
            With its body read.

        Raises
        ------
        httpx.ConnectError, httpx.ReadError, httpx.WriteError, httpx.RemoteProtocolError
            As httpx's own transport would.

        Example
        -------
        >>> import asyncio, httpx
        >>> request = httpx.Request("POST", "http://127.0.0.1:9/v1/chat/completions", json={"model": "m"})
        >>> try:
        ...     asyncio.run(StreamTransport().handle_async_request(request))
        ... except httpx.ConnectError as e:
        ...     type(e).__name__
        'ConnectError'
        """
        url = request.url
        if url.scheme != "http":
            if self._fallback is None:
                self._fallback = httpx.AsyncHTTPTransport()
            return await self._fallback.handle_async_request(request)
        host, port = url.host, url.port or 80
        body = await request.aread()
        head = [f"{request.method} ".encode() + (url.raw_path or b"/") + b" HTTP/1.1"]
        for name, value in request.headers.raw:
            if name.lower() not in (b"content-length", b"transfer-encoding"):  # the body goes whole, by length
                head.append(name + b": " + value)
        if body or request.method in ("POST", "PUT", "PATCH"):
            head.append(b"Content-Length: " + str(len(body)).encode())
        data = b"\r\n".join(head) + b"\r\n\r\n" + body
        key = (host, port)
        while True:
            conn, reused = self._checkout(key), True
            if conn is None:
                conn, reused = await self._connect(host, port, request), False
            try:
                conn.writer.write(data)
                status, headers, content, keep = await self._read_response(conn, request)
            except _NothingReceived as e:
                conn.close()
                if reused:  # the server closed an idle connection: try again on a new one
                    continue
                raise httpx.RemoteProtocolError(
                    "server disconnected without sending a response", request=request
                ) from e
            except BaseException:
                conn.close()
                raise
            break
        if keep:
            self._checkin(key, conn)
        else:
            conn.close()
        return httpx.Response(status, headers=headers, content=content, request=request)

    def _checkout(self, key: tuple[str, int]) -> _Conn | None:
        idle = self._idle.get(key)
        while idle:
            conn = idle.pop()
            if not conn.reader.at_eof() and not conn.writer.is_closing():
                return conn
            conn.close()
        return None

    def _checkin(self, key: tuple[str, int], conn: _Conn) -> None:
        idle = self._idle.setdefault(key, [])
        if len(idle) < self._max_idle:
            idle.append(conn)
        else:
            conn.close()

    async def _connect(self, host: str, port: int, request: httpx.Request) -> _Conn:
        try:
            reader, writer = await asyncio.open_connection(host, port, limit=MAX_HEAD)
        except OSError as e:
            raise httpx.ConnectError(f"{type(e).__name__}: {e}", request=request) from e
        return _Conn(reader, writer)

    async def _read_response(
        self, conn: _Conn, request: httpx.Request
    ) -> tuple[int, list[tuple[bytes, bytes]], bytes, bool]:
        reader = conn.reader
        try:
            raw = await reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError as e:
            if not e.partial:
                raise _NothingReceived from e
            raise httpx.RemoteProtocolError("incomplete response head", request=request) from e
        except asyncio.LimitOverrunError as e:
            raise httpx.RemoteProtocolError("response head too long", request=request) from e
        except OSError as e:
            raise _NothingReceived from e
        lines = raw[:-4].split(b"\r\n")
        try:
            version, code = lines[0].split(b" ", 2)[:2]
            status = int(code)
        except ValueError:
            raise httpx.RemoteProtocolError(f"bad status line {lines[0][:100]!r}", request=request) from None
        headers: list[tuple[bytes, bytes]] = []
        length: int | None = None
        chunked = False
        keep = version == b"HTTP/1.1"
        for line in lines[1:]:
            name, sep, value = line.partition(b":")
            if not sep:
                raise httpx.RemoteProtocolError(f"bad header line {line[:100]!r}", request=request)
            name, value = name.strip(), value.strip()
            lower = name.lower()
            if lower == b"content-length":
                try:
                    length = int(value)
                except ValueError:
                    raise httpx.RemoteProtocolError("bad Content-Length", request=request) from None
            elif lower == b"transfer-encoding":
                chunked = b"chunked" in value.lower()
            elif lower == b"connection":
                v = value.lower()
                keep = b"keep-alive" in v if version != b"HTTP/1.1" else b"close" not in v
            headers.append((name, value))
        try:
            if chunked:
                content = await self._read_chunked(reader)
                headers = [(n, v) for n, v in headers if n.lower() != b"transfer-encoding"]
            elif status in (204, 304) or 100 <= status < 200 or request.method == "HEAD":
                content = b""
            elif length is not None:
                content = await reader.readexactly(length)
            else:
                content, keep = await reader.read(), False
        except (asyncio.IncompleteReadError, OSError) as e:
            raise httpx.ReadError(f"connection lost while reading the response: {e!r}", request=request) from e
        except (ValueError, asyncio.LimitOverrunError) as e:
            raise httpx.RemoteProtocolError(f"bad chunked body: {e}", request=request) from e
        return status, headers, content, keep

    @staticmethod
    async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
        parts: list[bytes] = []
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";", 1)[0].strip(), 16)
            if size == 0:
                while (await reader.readuntil(b"\r\n")) != b"\r\n":  # trailers
                    pass
                return b"".join(parts)
            parts.append(await reader.readexactly(size))
            await reader.readexactly(2)

    async def aclose(self) -> None:
        """Close the idle connections (and the fallback transport).

        Example
        -------
        >>> import asyncio
        >>> asyncio.run(StreamTransport().aclose())
        """
        for conns in self._idle.values():
            for conn in conns:
                conn.close()
        self._idle.clear()
        if self._fallback is not None:
            await self._fallback.aclose()


class _NothingReceived(Exception):
    """The connection ended before the first byte of a response."""


__all__ = ["MAX_HEAD", "MAX_IDLE", "StreamTransport"]
