"""The async OpenAI-compatible client against a real server (``pluralis llm serve``) and the failure double."""

from __future__ import annotations

import asyncio
import uuid

import httpx
import pytest

from pluralis.data.vocab import BASE_HEADER
from pluralis.llm import (
    BackendHTTPError,
    BackendTimeout,
    DecodingParams,
    MalformedResponse,
    ModelSpec,
    OpenAIBackend,
    list_models,
)

USER = [{"role": "user", "content": "What is the capital of France?"}]


def root(base_url: str) -> str:
    return base_url.rsplit("/v1", 1)[0]


async def _chat(spec: ModelSpec, messages=USER, **kw):
    async with OpenAIBackend(spec, backoff_base=0.05) as backend:
        return await backend.chat(messages, **kw)


def chat(spec: ModelSpec, messages=USER, **kw):
    return asyncio.run(_chat(spec, messages, **kw))


# --- real server: pluralis llm serve with a tiny random-weight model -------------------------------------------


def test_chat_against_pluralis_serve(tiny_server):
    spec = ModelSpec(name="tiny", base_url=tiny_server, params=DecodingParams(max_tokens=12, temperature=1.0))
    result = chat(spec)
    assert result.model == "tiny" and result.served_model == "tiny"
    assert isinstance(result.text, str)
    assert result.usage.prompt_tokens > 0 and 0 < result.usage.completion_tokens <= 12
    assert result.usage.total == result.usage.prompt_tokens + result.usage.completion_tokens
    assert result.finish_reason in ("stop", "length")
    assert result.latency_s > 0 and result.attempts == 1


def test_seeded_calls_are_reproducible(tiny_server):
    spec = ModelSpec(name="tiny", base_url=tiny_server, params=DecodingParams(max_tokens=16, temperature=1.0))
    a = chat(spec, params={"seed": 7})
    b = chat(spec, params={"seed": 7})
    c = chat(spec, params={"seed": 8})
    assert a.text == b.text and a.seed == 7
    assert (a.text, a.usage.completion_tokens) != (c.text, c.usage.completion_tokens) or a.text != c.text


def test_greedy_decoding_is_deterministic(tiny_server):
    spec = ModelSpec(name="tiny", base_url=tiny_server, params=DecodingParams(max_tokens=10, temperature=0.0))
    assert chat(spec).text == chat(spec).text


def test_max_tokens_gives_length_finish(tiny_server):
    spec = ModelSpec(
        name="tiny", base_url=tiny_server, params=DecodingParams(max_tokens=3, temperature=1.0, min_tokens=3)
    )
    result = chat(spec)
    assert result.usage.completion_tokens == 3 and result.finish_reason == "length"


def test_unknown_model_is_http_error_not_retried(tiny_server):
    with pytest.raises(BackendHTTPError) as info:
        chat(ModelSpec(name="no-such-model", base_url=tiny_server))
    assert info.value.status_code == 404 and "not found" in str(info.value)


def test_list_models(tiny_server):
    assert asyncio.run(list_models(tiny_server)) == ["tiny"]


def test_client_reused_across_calls_and_loops(tiny_server):
    backend = OpenAIBackend(ModelSpec(name="tiny", base_url=tiny_server, params=DecodingParams(max_tokens=4)))

    async def two():
        a = await backend.chat(USER)
        client = backend._client
        b = await backend.chat(USER)
        assert backend._client is client
        return a, b

    asyncio.run(two())
    asyncio.run(two())  # a new event loop gets a new client instead of a broken one
    asyncio.run(backend.aclose())


# --- failure injection double ---------------------------------------------------------------------------------


def test_system_prompt_and_params_sent(double_server):
    name = f"echo-{uuid.uuid4().hex[:6]}"
    spec = ModelSpec(
        name=name,
        base_url=double_server,
        params=DecodingParams(temperature=1.0, top_p=0.7, top_k=5, max_tokens=256, seed=1),
    )
    result = chat(spec)
    assert result.text.startswith(f"[{name}]") and result.usage.total == 12
    body = httpx.get(f"{root(double_server)}/last/{name}").json()
    assert body["messages"][0] == {"role": "system", "content": BASE_HEADER}
    assert (body["temperature"], body["top_p"], body["top_k"], body["max_tokens"], body["seed"]) == (
        1.0,
        0.7,
        5,
        256,
        1,
    )
    # an explicit system message is kept, not doubled
    chat(spec, [{"role": "system", "content": "Custom."}, *USER])
    body = httpx.get(f"{root(double_server)}/last/{name}").json()
    assert [m["role"] for m in body["messages"]] == ["system", "user"] and body["messages"][0]["content"] == "Custom."
    # system_prompt=None sends the chat unchanged
    chat(spec.model_copy(update={"system_prompt": None}))
    assert httpx.get(f"{root(double_server)}/last/{name}").json()["messages"] == USER


def test_api_key_header(double_server, monkeypatch):
    monkeypatch.setenv("PLURALIS_TEST_KEY", "sk-test")
    name = f"key-{uuid.uuid4().hex[:6]}"
    chat(ModelSpec(name=name, base_url=double_server, api_key_env="PLURALIS_TEST_KEY"))
    assert httpx.get(f"{root(double_server)}/last/{name}").json()["_authorization"] == "Bearer sk-test"
    chat(ModelSpec(name=name, base_url=double_server))
    assert httpx.get(f"{root(double_server)}/last/{name}").json()["_authorization"] is None


def test_timeout(double_server):
    with pytest.raises(BackendTimeout) as info:  # the double answers after 5 s: an answer would mean no timeout
        chat(ModelSpec(name="slow-5", base_url=double_server), timeout=0.5)
    assert info.value.kind == "timeout" and info.value.model == "slow-5"


def test_http_500_retried_then_raised(double_server):
    calls_before = httpx.get(f"{root(double_server)}/calls/http500").json()["calls"]
    with pytest.raises(BackendHTTPError) as info:
        chat(ModelSpec(name="http500", base_url=double_server, max_retries=2))
    assert info.value.status_code == 500 and "internal boom" in str(info.value)
    assert httpx.get(f"{root(double_server)}/calls/http500").json()["calls"] - calls_before == 3


def test_http_400_not_retried(double_server):
    before = httpx.get(f"{root(double_server)}/calls/http400").json()["calls"]
    with pytest.raises(BackendHTTPError, match="bad things"):
        chat(ModelSpec(name="http400", base_url=double_server, max_retries=3))
    assert httpx.get(f"{root(double_server)}/calls/http400").json()["calls"] - before == 1


def test_503_then_success_after_retries(double_server):
    name = f"flaky-2-{uuid.uuid4().hex[:6]}"
    result = chat(ModelSpec(name=name, base_url=double_server, max_retries=3))
    assert result.attempts == 3 and result.text.startswith(f"[{name}]")


def test_429_respects_retry_limit(double_server):
    with pytest.raises(BackendHTTPError) as info:
        chat(ModelSpec(name="ratelimited", base_url=double_server, max_retries=1))
    assert info.value.status_code == 429


def test_retries_stop_at_deadline(double_server):
    spec = ModelSpec(name="http500", base_url=double_server, max_retries=50)
    before = httpx.get(f"{root(double_server)}/calls/http500").json()["calls"]

    async def run():
        async with OpenAIBackend(spec, backoff_base=0.4) as b:
            return await b.chat(USER, timeout=1.0)

    with pytest.raises((BackendHTTPError, BackendTimeout)):
        asyncio.run(run())
    # back-off 0.4, 0.8, 1.6 s ... within a 1 s deadline leaves room for 2-3 attempts, not the 51 allowed
    assert 1 <= httpx.get(f"{root(double_server)}/calls/http500").json()["calls"] - before <= 4


def test_malformed_json(double_server):
    with pytest.raises(MalformedResponse, match="not JSON"):
        chat(ModelSpec(name="malformed", base_url=double_server))
    with pytest.raises(MalformedResponse, match="choices"):
        chat(ModelSpec(name="badshape", base_url=double_server))


def test_connection_refused():
    from tests.model_servers import free_port

    with pytest.raises(BackendHTTPError) as info:
        chat(ModelSpec(name="m", base_url=f"http://127.0.0.1:{free_port()}/v1", max_retries=1), timeout=5)
    assert info.value.status_code is None and "connection" in str(info.value)
