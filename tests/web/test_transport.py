"""The model clients' HTTP/1.1 transport (pluralis.web.transport) against a scripted asyncio server: bodies by
length, chunked and to the end, gzip, keep-alive reuse, a server that drops idle connections, a connection lost
mid-body, and the same answers through OpenAIBackend as with httpx's own transport."""

from __future__ import annotations

import asyncio
import gzip
import json

import httpx
import pytest

from pluralis.llm import ModelSpec
from pluralis.llm.errors import BackendHTTPError
from pluralis.llm.openai_client import OpenAIBackend
from pluralis.web.transport import StreamTransport

COMPLETION = {
    "id": "x",
    "object": "chat.completion",
    "model": "m",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hello there"}, "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5},
}


class Scripted:
    """An HTTP server answering each request with the next scripted reply (bytes, or a callable of the request)."""

    def __init__(self, replies):
        self.replies = list(replies)
        self.connections = 0
        self.requests: list[bytes] = []

    async def handle(self, reader, writer):
        self.connections += 1
        try:
            while self.replies:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":", 1)[1])
                body = await reader.readexactly(length)
                self.requests.append(head + body)
                reply = self.replies.pop(0)
                if reply == "drop":  # close without answering
                    break
                writer.write(reply)
                await writer.drain()
                if reply.endswith(b"<close>"):
                    break
        except asyncio.IncompleteReadError:
            pass
        finally:
            writer.close()

    async def __aenter__(self):
        self.server = await asyncio.start_server(self.handle, "127.0.0.1", 0)
        self.url = f"http://127.0.0.1:{self.server.sockets[0].getsockname()[1]}"
        return self

    async def __aexit__(self, *exc):
        self.server.close()


def ok(body: bytes, extra: bytes = b"") -> bytes:
    return b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n%s\r\n%s" % (
        len(body),
        extra,
        body,
    )


def run(coro):
    return asyncio.run(coro)


def test_bodies_by_length_chunked_to_the_end_and_gzip():
    chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nHello\r\n6;x=1\r\n world\r\n0\r\n\r\n"
    zipped = gzip.compress(b"squeezed")
    to_end = b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil the end<close>"

    async def main():
        async with Scripted([ok(b'{"a": 1}'), chunked, ok(zipped, b"Content-Encoding: gzip\r\n"), to_end]) as srv:
            async with httpx.AsyncClient(transport=StreamTransport()) as client:
                r1 = await client.post(srv.url + "/v1/x", json={"q": 1})
                r2 = await client.get(srv.url + "/chunked")
                r3 = await client.get(srv.url + "/gz")
                r4 = await client.get(srv.url + "/end")
            return srv, [r1, r2, r3, r4]

    srv, (r1, r2, r3, r4) = run(main())
    assert r1.status_code == 200 and r1.json() == {"a": 1}
    assert r2.text == "Hello world"
    assert r3.content == b"squeezed"
    assert r4.text == "until the end<close>"
    assert srv.connections == 1  # kept alive over the first three; the HTTP/1.0 answer ended it
    first = srv.requests[0]
    assert first.startswith(b"POST /v1/x HTTP/1.1\r\n") and b'{"q":1}' in first.replace(b" ", b"")
    assert b"host: 127.0.0.1" in first.lower()


def test_an_idle_connection_dropped_by_the_server_is_replaced():
    async def main():
        async with Scripted([ok(b"1"), "drop", ok(b"2")]) as srv:
            t = StreamTransport()
            async with httpx.AsyncClient(transport=t) as client:
                a = await client.get(srv.url + "/a")
                b = await client.get(srv.url + "/b")  # the kept connection is dropped: sent again on a new one
            return srv, a, b

    srv, a, b = run(main())
    assert (a.text, b.text) == ("1", "2")
    assert srv.connections == 2


def test_a_connection_lost_mid_body_is_a_read_error_and_refused_connections_connect_errors():
    cut = b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly a part<close>"

    async def main():
        async with Scripted([cut]) as srv:
            async with httpx.AsyncClient(transport=StreamTransport()) as client:
                with pytest.raises(httpx.ReadError):
                    await client.get(srv.url + "/cut")
                port = srv.url.rsplit(":", 1)[1]
        srv.server.close()
        await srv.server.wait_closed()
        async with httpx.AsyncClient(transport=StreamTransport()) as client:
            with pytest.raises(httpx.ConnectError):
                await client.get(f"http://127.0.0.1:{port}/gone")

    run(main())


def test_openai_backend_gets_the_same_result_and_errors_as_with_httpx():
    body = json.dumps(COMPLETION).encode()
    error = b'{"error": {"message": "overloaded"}}'
    replies = [ok(body), b"HTTP/1.1 503 Busy\r\nContent-Length: %d\r\n\r\n%s" % (len(error), error)]

    async def main(transport):
        async with Scripted(list(replies)) as srv:
            spec = ModelSpec(name="m", base_url=srv.url + "/v1", max_retries=0)
            backend = OpenAIBackend(spec, transport=transport)
            result = await backend.chat([{"role": "user", "content": "Hi"}], timeout=10)
            try:
                await backend.chat([{"role": "user", "content": "Hi"}], timeout=10)
            except BackendHTTPError as e:
                err = (e.status_code, "overloaded" in str(e))
            await backend.aclose()
            return (result.text, result.usage.completion_tokens, result.finish_reason), err

    ours = run(main(StreamTransport()))
    theirs = run(main(httpx.AsyncHTTPTransport()))
    assert ours == theirs == (("Hello there", 2, "stop"), (503, True))


def test_a_streamed_request_body_is_sent_whole_with_its_length():
    async def parts():
        yield b'{"a": '
        yield b"1}"

    async def main():
        async with Scripted([ok(b"{}")]) as srv:
            async with httpx.AsyncClient(transport=StreamTransport()) as client:
                r = await client.post(srv.url + "/v1/x", content=parts())
            return srv, r

    srv, r = run(main())
    sent = srv.requests[0].lower()
    assert r.status_code == 200 and b"transfer-encoding" not in sent
    assert b"content-length: 8\r\n" in sent and sent.endswith(b'{"a": 1}')


def test_https_goes_to_the_fallback_transport():
    seen = []

    class Fallback(httpx.AsyncBaseTransport):
        async def handle_async_request(self, request):
            seen.append(str(request.url))
            return httpx.Response(200, text="via fallback", request=request)

    async def main():
        async with httpx.AsyncClient(transport=StreamTransport(fallback=Fallback())) as client:
            return (await client.get("https://models.example/v1/models")).text

    assert run(main()) == "via fallback"
    assert seen == ["https://models.example/v1/models"]
