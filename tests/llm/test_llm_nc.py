"""Negatively-correlated sampling: output parsing, the one-call method, the sequential fallback."""

from __future__ import annotations

import asyncio
import uuid

import httpx
import pytest

from pluralis.errors import ConfigError
from pluralis.llm import DecodingParams, ModelSpec, close_backends, nc_sample, parse_candidates
from pluralis.llm.nc import NC_SINGLE_CALL_INSTRUCTION, nc_json_schema

USER = [{"role": "user", "content": "Is it OK to eat meat?"}]


def run(coro):
    async def wrapped():
        try:
            return await coro
        finally:
            await close_backends()

    return asyncio.run(wrapped())


@pytest.mark.parametrize(
    "text, expected",
    [
        ('{"responses": ["A.", "B.", "C."]}', ["A.", "B.", "C."]),
        ('["A.", "B."]', ["A.", "B."]),
        ('Here you go:\n```json\n{"responses": ["A.", "B."]}\n```\nHope it helps', ["A.", "B."]),
        ('Sure! {"answers": [{"response": "A."}, {"text": "B."}]} done', ["A.", "B."]),
        ('{"Responses": ["A.", " ", "A.", "B."]}', ["A.", "B."]),
        ('{"1": "A.", "2": "B."}', ["A.", "B."]),
        (
            "1. Eat less meat.\n2. Meat is fine in moderation.\n3) Go vegan.",
            ["Eat less meat.", "Meat is fine in moderation.", "Go vegan."],
        ),
        ("Response 1: Yes, it is.\nResponse 2: No, it is not.", ["Yes, it is.", "No, it is not."]),
        ("**1.** First view\n\n**2.** Second view", ["First view", "Second view"]),
        ("Just one plain answer with no structure.", []),
        ("", []),
        ('{"responses": "not a list"}', []),
    ],
)
def test_parse_candidates(text, expected):
    assert parse_candidates(text) == expected


def test_parse_candidates_caps_at_k():
    assert parse_candidates('["a", "b", "c", "d"]', k=2) == ["a", "b"]
    assert parse_candidates('prefix [1, 2] {"responses": ["x", "y"]}') == ["x", "y"]


def test_instruction_mentions_k_and_format():
    text = NC_SINGLE_CALL_INSTRUCTION.format(k=3)
    assert "3 different responses" in text and '{"responses": [' in text


def test_sequential_against_real_server(tiny_server):
    spec = ModelSpec(name="tiny", base_url=tiny_server, params=DecodingParams(max_tokens=10, temperature=1.0, seed=3))
    res = run(nc_sample(spec, USER, k=3, method="sequential"))
    assert res.method_used == "sequential" and len(res.calls) == 3
    assert [c.call_index for c in res.candidates] == list(range(len(res.candidates)))
    assert all(c.method == "nc_sequential" and c.model == "tiny" for c in res.candidates)
    assert res.candidates[0].instruction is None
    assert all("Other responses have already been written" in c.instruction for c in res.candidates[1:])
    assert res.k == 3 and len(res.candidates) >= 2


def test_auto_falls_back_when_output_does_not_parse(tiny_server):
    # a random-weight model never writes JSON: auto mode records the malformed single call and tops up
    spec = ModelSpec(name="tiny", base_url=tiny_server, params=DecodingParams(max_tokens=8, temperature=1.0, seed=1))
    res = run(nc_sample(spec, USER, k=2, method="auto"))
    assert res.method_used in ("sequential", "single_call+sequential")
    assert res.failures and res.failures[0].kind == "malformed"
    assert len(res.calls) >= 2
    assert res.calls[0].usage.completion_tokens <= 16  # max_tokens x k for the single call


def test_single_call_only_records_shortfall(tiny_server):
    spec = ModelSpec(name="tiny", base_url=tiny_server, params=DecodingParams(max_tokens=4, temperature=1.0))
    res = run(nc_sample(spec, USER, k=2, method="single_call"))
    assert res.method_used == "single_call" and len(res.calls) == 1
    assert len(res.candidates) < 2 and res.failures[-1].kind == "malformed"


def test_prompts_sent(double_server):
    name = f"nc-{uuid.uuid4().hex[:6]}"
    spec = ModelSpec(name=name, base_url=double_server, params=DecodingParams(max_tokens=50))
    run(nc_sample(spec, USER, k=3, method="single_call", response_format="json_schema"))
    body = httpx.get(f"{double_server.rsplit('/v1', 1)[0]}/last/{name}").json()
    assert body["max_tokens"] == 150 and body["response_format"]["type"] == "json_schema"
    assert body["response_format"]["json_schema"]["schema"] == nc_json_schema(3)
    run(nc_sample(spec, USER, k=3, method="single_call", response_format="json_object"))
    body = httpx.get(f"{double_server.rsplit('/v1', 1)[0]}/last/{name}").json()
    assert body["response_format"] == {"type": "json_object"}
    assert body["messages"][0]["role"] == "system" and "3 different responses" in body["messages"][0]["content"]
    assert body["messages"][0]["content"].startswith(spec.system_prompt)
    res = run(nc_sample(spec, USER, k=2, method="sequential"))
    body = httpx.get(f"{double_server.rsplit('/v1', 1)[0]}/last/{name}").json()
    assert "response_format" not in body and body["max_tokens"] == 50
    assert res.candidates[0].text in body["messages"][0]["content"]  # the second call sees the first answer


def test_failed_calls_recorded(double_server):
    spec = ModelSpec(name="http500", base_url=double_server, max_retries=0)
    res = run(nc_sample(spec, USER, k=2, method="auto"))
    assert not res.candidates and [f.kind for f in res.failures] == ["http_error"]
    res = run(nc_sample(spec, USER, k=2, method="sequential"))
    assert [f.kind for f in res.failures] == ["http_error", "http_error"]


def test_bad_arguments():
    spec = ModelSpec(name="m", base_url="http://127.0.0.1:9/v1")
    with pytest.raises(ConfigError):
        run(nc_sample(spec, USER, k=0))
    with pytest.raises(ConfigError):
        run(nc_sample(spec, USER, method="magic"))
    with pytest.raises(ConfigError, match="response_format"):
        run(nc_sample(spec, USER, response_format="yaml"))
