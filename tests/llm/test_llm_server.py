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
