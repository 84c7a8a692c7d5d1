"""A minimal OpenAI-compatible chat endpoint that only adds latency (for the load test; no model behind it).

Recorded-response double, used ONLY for latency injection: model ``slow-<seconds>-<tag>`` answers after
sleeping ``<seconds>``. An opening prompt (a user message starting ``Participant``) is also held at a
barrier until ``OPENING_MODELS`` calls with that prompt have arrived (at most ``BARRIER_TIMEOUT`` s): a server
that called the models one after another would leave each call waiting there, and ``GET /stats`` counts such
late openings, so the test proves concurrency by counting, not by timing. Plain asyncio (no web framework), so 800 concurrent calls cost the test machine
almost nothing and the measured latency is the injected one. Run: ``python latency_double.py`` (prints PORT).
"""

from __future__ import annotations

import asyncio
import json
import socket
import time

OPENING_MODELS = 4
BARRIER_TIMEOUT = 60.0
barriers: dict[str, tuple[list[int], asyncio.Event]] = {}
stats = {"openings": 0, "late": 0}


async def opening_barrier(prompt: str) -> None:
    arrived, event = barriers.setdefault(prompt, ([0], asyncio.Event()))
    arrived[0] += 1
    if arrived[0] == OPENING_MODELS:
        stats["openings"] += 1
        event.set()
        return
    try:
        await asyncio.wait_for(event.wait(), BARRIER_TIMEOUT)
    except TimeoutError:
        stats["late"] += 1


def respond(writer: asyncio.StreamWriter, payload: bytes) -> None:
    writer.write(
        b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: "
        + str(len(payload)).encode()
        + b"\r\n\r\n"
        + payload
    )


async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            if head.startswith(b"GET /stats"):
                respond(writer, json.dumps(stats).encode())
                await writer.drain()
                continue
            length = 0
            for line in head.split(b"\r\n")[1:]:
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":", 1)[1])
            body = json.loads(await reader.readexactly(length)) if length else {}
            model = body.get("model", "m")
            last = (body.get("messages") or [{}])[-1].get("content", "")
            if last.startswith("Participant "):
                await opening_barrier(last)
            if model.startswith("slow-"):
                await asyncio.sleep(float(model.split("-")[1]))
            payload = json.dumps(
                {
                    "id": "chatcmpl-latency",
                    "object": "chat.completion",
                    "created": int(time.time()),
                    "model": model,
                    "choices": [
                        {
                            "index": 0,
                            "message": {"role": "assistant", "content": f"[{model}] {last[:40]}"},
                            "finish_reason": "stop",
                        }
                    ],
                    "usage": {"prompt_tokens": 7, "completion_tokens": 5, "total_tokens": 12},
                }
            ).encode()
            respond(writer, payload)
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError, ValueError):
        pass
    finally:
        writer.close()


async def main() -> None:
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind(("127.0.0.1", 0))
    server = await asyncio.start_server(handle, sock=sock, backlog=4096)
    print("PORT", sock.getsockname()[1], flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main())
