"""A minimal OpenAI-compatible chat endpoint that only adds latency (for the load test; no model behind it).

Recorded-response double, used ONLY for latency injection: model ``slow-<seconds>-<tag>`` answers after
sleeping ``<seconds>``. Plain asyncio (no web framework), so 800 concurrent calls cost the test machine
almost nothing and the measured latency is the injected one. Run: ``python latency_double.py`` (prints PORT).
"""

from __future__ import annotations

import asyncio
import json
import socket
import time


async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n")[1:]:
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":", 1)[1])
            body = json.loads(await reader.readexactly(length)) if length else {}
            model = body.get("model", "m")
            if model.startswith("slow-"):
                await asyncio.sleep(float(model.split("-")[1]))
            last = (body.get("messages") or [{}])[-1].get("content", "")
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
            writer.write(
                b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: "
                + str(len(payload)).encode()
                + b"\r\n\r\n"
                + payload
            )
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
