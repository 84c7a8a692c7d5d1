"""The local transformers backend, in-process, on a tiny random-weight model built offline."""

from __future__ import annotations

import asyncio

import pytest

from pluralis.errors import ConfigError
from pluralis.llm import BackendTimeout, DecodingParams, ModelSpec, get_backend
from pluralis.llm.transformers_backend import TransformersBackend, render_chat, transcript

USER = [{"role": "user", "content": "Hello there, assistant"}]


@pytest.fixture(scope="module")
def backend(tiny_model_dir):
    spec = ModelSpec(
        name="tiny-local",
        backend="transformers",
        path=str(tiny_model_dir),
        device="cpu",
        params=DecodingParams(max_tokens=12, temperature=1.0),
    )
    b = TransformersBackend(spec)
    b.load()
    return b


def chat(backend, messages=USER, **kw):
    return asyncio.run(backend.chat(messages, **kw))


def test_chat(backend):
    r = chat(backend)
    assert r.model == "tiny-local" and r.provider == "local" and r.finish_reason in ("stop", "length")
    assert 0 < r.usage.completion_tokens <= 12 and r.usage.total == r.usage.prompt_tokens + r.usage.completion_tokens


def test_system_prompt_is_rendered_with_chat_template(backend):
    _, tok = backend.load()
    prompt, is_transcript = render_chat(tok, [{"role": "system", "content": "SYS"}, *USER])
    assert not is_transcript and prompt.startswith("<|im_start|>system\nSYS<|im_end|>")
    with_sys = chat(backend).usage.prompt_tokens
    plain = TransformersBackend(
        backend.spec.model_copy(update={"system_prompt": None}), model=backend._model, tokenizer=tok
    )
    plain.device = backend.device
    assert asyncio.run(plain.chat(USER)).usage.prompt_tokens < with_sys


def test_seed_and_greedy_reproducible(backend):
    assert chat(backend, params={"seed": 5}).text == chat(backend, params={"seed": 5}).text
    greedy = {"temperature": 0.0, "max_tokens": 20}
    assert chat(backend, params=greedy).text == chat(backend, params=greedy).text


def test_frequency_penalty_changes_greedy_output(backend):
    base = {"temperature": 0.0, "max_tokens": 24, "min_tokens": 24}
    plain = chat(backend, params=base).text
    penalised = chat(backend, params={**base, "frequency_penalty": 2.0, "presence_penalty": 2.0}).text
    assert plain != penalised


def test_min_and_max_tokens(backend):
    r = chat(backend, params={"max_tokens": 5, "min_tokens": 5})
    assert r.usage.completion_tokens == 5 and r.finish_reason == "length"


def test_stop_strings(backend):
    full = chat(backend, params={"temperature": 0.0, "max_tokens": 30, "min_tokens": 30}).text
    assert len(full) > 4
    stop = full[2:4]
    cut = chat(backend, params={"temperature": 0.0, "max_tokens": 30, "min_tokens": 30, "stop": [stop]})
    assert cut.text == full[: full.find(stop)] and cut.finish_reason == "stop"


def test_timeout_stops_generation(backend, monkeypatch):
    outputs = []
    generate = backend.generate_sync

    def recording(*args, **kwargs):
        outputs.append(generate(*args, **kwargs))
        return outputs[-1]

    monkeypatch.setattr(backend, "generate_sync", recording)
    with pytest.raises(BackendTimeout):
        chat(backend, params={"max_tokens": 900, "min_tokens": 900}, timeout=0.05)
    # asyncio.run waited for the worker thread: the generation it ran was cut short, not run to 900 tokens
    assert len(outputs) == 1 and outputs[0]["cancelled"] and outputs[0]["completion_tokens"] < 900
    r = chat(backend, params={"max_tokens": 3}, timeout=10)  # the generation lock was released
    assert r.usage.completion_tokens <= 3


def test_transcript_fallback_without_chat_template(backend):
    _, tok = backend.load()
    saved = tok.chat_template
    try:
        tok.chat_template = None
        prompt, is_transcript = render_chat(tok, [{"role": "system", "content": "S"}, *USER])
        assert is_transcript and prompt == transcript([{"role": "system", "content": "S"}, *USER])
        assert prompt.endswith("Human: Hello there, assistant\n\nAssistant:")
        r = chat(backend)
        assert isinstance(r.text, str) and "Human:" not in r.text
    finally:
        tok.chat_template = saved


def test_concurrent_calls_do_not_block_event_loop(backend):
    async def main():
        ticks = 0

        async def ticker():
            nonlocal ticks
            while True:
                await asyncio.sleep(0.005)
                ticks += 1

        t = asyncio.create_task(ticker())
        results = await asyncio.gather(
            *(backend.chat(USER, params={"max_tokens": 30, "min_tokens": 30}) for _ in range(3))
        )
        t.cancel()
        return results, ticks

    results, ticks = asyncio.run(main())
    assert len(results) == 3 and ticks > 3


def test_config_errors(tmp_path, tiny_model_dir):
    with pytest.raises(ConfigError, match="needs `path`"):
        TransformersBackend(ModelSpec(name="x", backend="transformers"))
    missing = TransformersBackend(ModelSpec(name="x", backend="transformers", path=str(tmp_path / "nope")))
    with pytest.raises(ConfigError, match="not a folder"):
        missing.load()
    bad_gguf = TransformersBackend(
        ModelSpec(name="x", backend="transformers", path=str(tiny_model_dir), gguf_file="missing.gguf")
    )
    with pytest.raises(ConfigError, match="GGUF file"):
        bad_gguf.load()


def test_get_backend_caches_local_models(tiny_model_dir):
    spec = ModelSpec(name="cached", backend="transformers", path=str(tiny_model_dir))
    assert get_backend(spec) is get_backend(spec)
    assert isinstance(get_backend(spec), TransformersBackend)


@pytest.mark.slow
def test_gguf_through_transformers(smollm2_gguf):
    """SmolLM2's GGUF loaded by transformers (gguf_file=), de-quantised: ~25 s, so opt-in."""
    import os

    if os.environ.get("PLURALIS_TEST_TRANSFORMERS_GGUF") != "1":
        pytest.skip("set PLURALIS_TEST_TRANSFORMERS_GGUF=1 to load the GGUF through transformers (~25 s)")
    pytest.importorskip("gguf", reason="transformers needs the gguf package to read GGUF files")
    pytest.importorskip("accelerate", reason="transformers needs accelerate to load GGUF files")
    spec = ModelSpec(
        name="smollm2-hf",
        backend="transformers",
        path=str(smollm2_gguf.parent),
        gguf_file=smollm2_gguf.name,
        params=DecodingParams(max_tokens=20, temperature=0.0),
    )
    r = asyncio.run(TransformersBackend(spec).chat([{"role": "user", "content": "What is the capital of France?"}]))
    assert "Paris" in r.text
