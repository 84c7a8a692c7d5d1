"""A recorded-response double of an OpenAI-compatible server, for latency and failure injection ONLY.

It stands in for no model: the real-model tests use ``pluralis llm serve`` and llama.cpp.
Behaviour is picked by the requested model name:

- ``slow-<seconds>[-group[-name]]``: sleep, then answer (latency / timeout tests); ``GET /overlap/<group>``
  is the most calls of that group that were in flight at once (concurrency without timing anything)
- ``http500``, ``http400``: that status with an OpenAI-style error body
- ``ratelimited``: always 429 (``Retry-After: 0``)
- ``flaky-<n>-<tag>``: 503 for the first ``n`` calls (per model name), then answer
- ``malformed``: 200 with a non-JSON body; ``badshape``: 200 JSON without choices
- anything else: answer at once

``GET /calls/<model>`` returns how often a model was called, ``GET /last/<model>`` the last
request body it got (with its Authorization header as ``_authorization``).
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse


def _answer(model: str, body: dict) -> dict:
    last = body["messages"][-1]["content"]
    return {
        "id": "chatcmpl-double",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": f"[{model}] {last[:40]}"}, "finish_reason": "stop"}
        ],
        "usage": {"prompt_tokens": 7, "completion_tokens": 5, "total_tokens": 12},
    }


def make_double_app() -> FastAPI:
    app = FastAPI()
    calls: Counter[str] = Counter()
    last: dict[str, dict] = {}
    in_flight: Counter[str] = Counter()
    overlap: Counter[str] = Counter()

    @app.post("/v1/chat/completions")
    async def chat(request: Request):
        body = await request.json()
        model = body["model"]
        calls[model] += 1
        last[model] = {**body, "_authorization": request.headers.get("authorization")}
        if model.startswith("slow-"):
            group = model.split("-")[2] if model.count("-") >= 2 else ""
            in_flight[group] += 1
            overlap[group] = max(overlap[group], in_flight[group])
            try:
                await asyncio.sleep(float(model.split("-")[1]))
            finally:
                in_flight[group] -= 1
        elif model == "http500":
            return JSONResponse({"error": {"message": "internal boom", "type": "server_error"}}, status_code=500)
        elif model == "http400":
            return JSONResponse({"error": {"message": "bad things", "type": "invalid_request_error"}}, status_code=400)
        elif model == "ratelimited":
            return JSONResponse({"error": {"message": "slow down"}}, status_code=429, headers={"Retry-After": "0"})
        elif model.startswith("flaky-"):
            if calls[model] <= int(model.split("-")[1]):
                return JSONResponse({"error": {"message": "try again"}}, status_code=503)
        elif model == "malformed":
            return PlainTextResponse("<html>upstream exploded</html>", status_code=200)
        elif model == "badshape":
            return JSONResponse({"object": "chat.completion", "choices": []})
        return _answer(model, body)

    @app.get("/calls/{model}")
    async def get_calls(model: str):
        return {"calls": calls[model]}

    @app.get("/overlap/{group}")
    async def get_overlap(group: str):
        return {"max_in_flight": overlap[group]}

    @app.get("/last/{model}")
    async def get_last(model: str):
        return last.get(model, {})

    return app
