"""``pluralis llm serve``: the OpenAI-compatible server (subprocess on loopback, and in-process)."""

from __future__ import annotations

import json

import httpx
import pytest
from fastapi.testclient import TestClient

from pluralis.llm import DecodingParams
from pluralis.llm.server import create_app, spec_for_path
from pluralis.llm.transformers_backend import TransformersBackend

USER = [{"role": "user", "content": "Hi"}]


def post(url, body, **kw):
    return httpx.post(f"{url}/chat/completions", json=body, timeout=30, **kw)


def test_models_and_health(tiny_server):
    data = httpx.get(f"{tiny_server}/models").json()
    assert data["object"] == "list" and [m["id"] for m in data["data"]] == ["tiny"]
    assert httpx.get(tiny_server.rsplit("/v1", 1)[0] + "/health").json() == {"status": "ok", "models": ["tiny"]}


def test_completion_shape(tiny_server):
    r = post(tiny_server, {"model": "tiny", "messages": USER, "max_tokens": 5, "seed": 1})
    assert r.status_code == 200
    body = r.json()
    assert body["object"] == "chat.completion" and body["id"].startswith("chatcmpl-") and body["model"] == "tiny"
    (choice,) = body["choices"]
    assert choice["message"]["role"] == "assistant" and isinstance(choice["message"]["content"], str)
    assert choice["finish_reason"] in ("stop", "length")
    assert body["usage"]["total_tokens"] == body["usage"]["prompt_tokens"] + body["usage"]["completion_tokens"]


def test_n_and_content_parts(tiny_server):
    msgs = [{"role": "user", "content": [{"type": "text", "text": "Hello "}, {"type": "text", "text": "there"}]}]
    body = post(
        tiny_server, {"model": "tiny", "messages": msgs, "max_tokens": 6, "n": 2, "seed": 4, "temperature": 1.0}
    ).json()
    assert [c["index"] for c in body["choices"]] == [0, 1]


def test_streaming(tiny_server):
    with httpx.stream(
        "POST",
        f"{tiny_server}/chat/completions",
        timeout=30,
        json={"model": "tiny", "messages": USER, "max_tokens": 6, "stream": True, "seed": 2},
    ) as r:
        assert r.headers["content-type"].startswith("text/event-stream")
        events = [line[6:] for line in r.iter_lines() if line.startswith("data: ")]
    assert events[-1] == "[DONE]"
    chunks = [json.loads(e) for e in events[:-1]]
    assert all(c["object"] == "chat.completion.chunk" for c in chunks)
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks)
    plain = post(tiny_server, {"model": "tiny", "messages": USER, "max_tokens": 6, "seed": 2}).json()
    assert text == plain["choices"][0]["message"]["content"]
    assert chunks[-1]["choices"][0]["finish_reason"] in ("stop", "length")


@pytest.mark.parametrize(
    "body, status, needle",
    [
        ({"model": "nope", "messages": USER}, 404, "not found"),
        ({"model": "tiny", "messages": [{"role": "robot", "content": "x"}]}, 400, "role"),
        ({"model": "tiny", "messages": USER, "temperature": 5}, 400, "temperature"),
        ({"model": "tiny"}, 400, "messages"),
    ],
)
def test_errors_are_openai_shaped(tiny_server, body, status, needle):
    r = post(tiny_server, body)
    assert r.status_code == status
    assert needle in r.json()["error"]["message"]


@pytest.fixture(scope="module")
def local_backend(tiny_model_dir):
    spec = spec_for_path(str(tiny_model_dir), name="tiny", backend="transformers")
    b = TransformersBackend(spec)
    b.load()
    return b


def test_api_key_required(local_backend):
    client = TestClient(create_app({"tiny": local_backend}, api_key="sk-local"))
    assert client.get("/v1/models").status_code == 401
    assert client.get("/v1/models", headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert client.get("/v1/models", headers={"Authorization": "Bearer sk-local"}).status_code == 200
    assert client.get("/health").status_code == 200


def test_server_timeout_is_504(local_backend):
    client = TestClient(create_app({"tiny": local_backend}, timeout=0.02))
    r = client.post(
        "/v1/chat/completions", json={"model": "tiny", "messages": USER, "max_tokens": 900, "min_tokens": 900}
    )
    assert r.status_code == 504 and r.json()["error"]["type"] == "timeout_error"


def test_server_sends_messages_unchanged(local_backend):
    assert local_backend.spec.system_prompt is None and local_backend.spec.params == DecodingParams()


def test_spec_for_path(tmp_path):
    folder = spec_for_path(str(tmp_path / "my-model"))
    assert (folder.name, folder.backend, folder.path) == ("my-model", "transformers", str(tmp_path / "my-model"))
    gguf = spec_for_path(str(tmp_path / "m.Q4.gguf"), backend="transformers", name="x")
    assert (gguf.name, gguf.path, gguf.gguf_file) == ("x", str(tmp_path), "m.Q4.gguf")
    llama = spec_for_path("/models/small.gguf", backend="llama_cpp")
    assert (llama.name, llama.path, llama.gguf_file) == ("small", "/models/small.gguf", None)
    with pytest.raises(Exception, match="unknown backend"):
        spec_for_path("/m", backend="vllm")


# --- concurrency: batching one transformers model, several models at once ---------------------------


def gather_posts(app, bodies):
    """POST every body concurrently to the in-process app; returns the responses in order."""
    import asyncio

    async def run():
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
            return await asyncio.gather(*(client.post("/v1/chat/completions", json=b, timeout=120) for b in bodies))

    return asyncio.run(run())


def counting_generate(monkeypatch, model):
    calls = []
    original = model.generate

    def generate(*args, **kwargs):
        ids = kwargs.get("input_ids", args[0] if args else None)
        calls.append(int(ids.shape[0]))
        return original(*args, **kwargs)

    monkeypatch.setattr(model, "generate", generate)
    return calls


PROMPTS = ["Hi", "What is the capital of France?", "Trains or planes?", "Hello there", "Values", "Help me"]


def test_concurrent_requests_are_batched(local_backend, monkeypatch):
    from pluralis.llm.server import BatchingBackend

    bodies = [
        {"model": "tiny", "messages": [{"role": "user", "content": p}], "max_tokens": 4 + k, "temperature": 0}
        for k, p in enumerate(PROMPTS)
    ]
    alone = [post_one(local_backend, b) for b in bodies]  # one generate call each, unbatched
    batching = BatchingBackend(local_backend, max_batch=8)
    calls = counting_generate(monkeypatch, local_backend._model)
    responses = gather_posts(create_app({"tiny": batching}), bodies)
    assert [r.status_code for r in responses] == [200] * len(bodies)
    assert sum(calls) == len(bodies) and len(calls) < len(bodies)  # answered in fewer generate calls
    assert max(calls) > 1 and batching.batch_sizes == calls
    for r, single, body in zip(responses, alone, bodies):
        (choice,) = r.json()["choices"]
        assert choice["message"]["content"] == single.text  # greedy: the same answer as alone
        assert r.json()["usage"]["completion_tokens"] <= body["max_tokens"]  # each keeps its own limit


def post_one(backend, body):
    import asyncio

    req_params = DecodingParams(max_tokens=body["max_tokens"], temperature=body.get("temperature"))
    return asyncio.run(backend.chat(body["messages"], params=req_params, timeout=60))


def test_n_choices_share_one_batch(local_backend, monkeypatch):
    from pluralis.llm.server import BatchingBackend

    calls = counting_generate(monkeypatch, local_backend._model)
    app = create_app({"tiny": BatchingBackend(local_backend)})
    (r,) = gather_posts(app, [{"model": "tiny", "messages": USER, "max_tokens": 5, "temperature": 0, "n": 3}])
    texts = [c["message"]["content"] for c in r.json()["choices"]]
    assert calls == [3] and len(set(texts)) == 1


def test_seeded_sampling_runs_alone_and_stays_reproducible(local_backend, monkeypatch):
    from pluralis.llm.server import BatchingBackend

    bodies = [{"model": "tiny", "messages": USER, "max_tokens": 6, "temperature": 1.0, "seed": s} for s in (1, 2, 3, 1)]
    batching = BatchingBackend(local_backend)
    calls = counting_generate(monkeypatch, local_backend._model)
    texts = [r.json()["choices"][0]["message"]["content"] for r in gather_posts(create_app({"tiny": batching}), bodies)]
    assert calls == [1, 1, 1, 1] and batching.batch_sizes == []
    assert texts[0] == texts[3]  # same seed, same sample, whatever ran alongside


def test_batched_timeout_is_504(local_backend):
    from pluralis.llm.server import BatchingBackend

    app = create_app({"tiny": BatchingBackend(local_backend)}, timeout=0.05)
    body = {"model": "tiny", "messages": USER, "max_tokens": 900, "min_tokens": 900, "temperature": 0}
    responses = gather_posts(app, [body, body])
    assert [r.status_code for r in responses] == [504, 504]
    assert all(r.json()["error"]["type"] == "timeout_error" for r in responses)


def test_models_generate_at_the_same_time(local_backend, monkeypatch):
    """Two models on one server: both generations are in flight together (a barrier both must reach)."""
    import threading

    barrier = threading.Barrier(2, timeout=60)
    original = local_backend._model.generate

    def generate(*args, **kwargs):
        barrier.wait()  # raises BrokenBarrierError (-> HTTP 500) if the other model's call never starts
        return original(*args, **kwargs)

    monkeypatch.setattr(local_backend._model, "generate", generate)
    other = TransformersBackend(
        spec_for_path("/unused", name="tiny2", backend="transformers"),
        model=local_backend._model,
        tokenizer=local_backend._tokenizer,
    )
    other.device = local_backend.device
    app = create_app({"tiny": local_backend, "tiny2": other})
    bodies = [{"model": m, "messages": USER, "max_tokens": 3, "temperature": 0} for m in ("tiny", "tiny2")]
    assert [r.status_code for r in gather_posts(app, bodies)] == [200, 200]


def test_llamacpp_models_generate_at_the_same_time(llama_cpp_module, smollm2_gguf, monkeypatch):
    """The README's GGUF recipe: several llama.cpp models in ONE `pluralis llm serve` answer concurrently.

    (llama-cpp-python's own server holds one global lock and keeps one model loaded at a time.)
    """
    import threading

    from pluralis.llm.llamacpp_backend import LlamaCppBackend

    backends = {
        name: LlamaCppBackend(spec_for_path(str(smollm2_gguf), name=name, backend="llama_cpp"), n_threads=1)
        for name in ("smol-a", "smol-b")
    }
    barrier = threading.Barrier(2, timeout=120)
    for b in backends.values():
        b.load()
        original = b.generate_sync

        def generate_sync(*args, _original=original, **kwargs):
            barrier.wait()
            return _original(*args, **kwargs)

        monkeypatch.setattr(b, "generate_sync", generate_sync)
    bodies = [
        {"model": m, "messages": [{"role": "user", "content": "What is the capital of France?"}], "max_tokens": 12}
        for m in backends
    ]
    responses = gather_posts(create_app(backends), bodies)
    assert [r.status_code for r in responses] == [200, 200]
    assert all("Paris" in r.json()["choices"][0]["message"]["content"] for r in responses)


def test_llamacpp_server_serialises_requests_globally():
    """Why the recipe runs one llama.cpp server per model: its app holds one global lock and one loaded model."""
    pytest.importorskip("llama_cpp.server.app", exc_type=ImportError)
    import llama_cpp.server.app as llama_app
    import llama_cpp.server.model as llama_model

    assert hasattr(llama_app, "llama_outer_lock") and hasattr(llama_app, "llama_inner_lock")
    assert "_current_model" in llama_model.LlamaProxy.__init__.__code__.co_names  # one model in memory at a time


def test_serve_checks_its_thread_options_before_loading(tmp_path):
    from pluralis.errors import ConfigError
    from pluralis.llm.server import serve

    spec = spec_for_path(str(tmp_path / "no-such-model"), name="m", backend="transformers")
    with pytest.raises(ConfigError, match="torch_threads"):
        serve([spec], torch_threads=0)
    with pytest.raises(ConfigError, match="nothing to serve"):
        serve([], torch_threads=1)
