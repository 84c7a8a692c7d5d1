"""Specs, decoding parameters, message handling, config files (no servers)."""

from __future__ import annotations

import json

import pytest

from pluralis.data.vocab import BASE_HEADER, BASE_HEADER_INSTRUCT
from pluralis.errors import ConfigError, PluralisError
from pluralis.llm import DecodingParams, MessageError, ModelSpec, load_model_specs, validate_messages
from pluralis.llm.errors import BackendError, BackendHTTPError, BackendTimeout, MalformedResponse
from pluralis.llm.openai_client import build_request_body, parse_chat_completion

USER = [{"role": "user", "content": "Hi"}]


def test_spec_defaults_follow_prism():
    spec = ModelSpec(name="m")
    assert spec.system_prompt == BASE_HEADER
    assert spec.timeout == 30.0
    assert spec.params.max_tokens == 256
    assert spec.backend == "openai"


@pytest.mark.parametrize(
    "base, url",
    [
        ("http://127.0.0.1:8000/v1", "http://127.0.0.1:8000/v1/chat/completions"),
        ("http://127.0.0.1:8000/v1/", "http://127.0.0.1:8000/v1/chat/completions"),
        ("http://localhost:11434", "http://localhost:11434/v1/chat/completions"),
        (
            "https://generativelanguage.googleapis.com/v1beta/openai/",
            "https://generativelanguage.googleapis.com/v1beta/openai/chat/completions",
        ),
    ],
)
def test_chat_completions_url(base, url):
    assert ModelSpec(name="m", base_url=base).chat_completions_url() == url


def test_base_url_from_env(monkeypatch):
    monkeypatch.delenv("PLURALIS_LLM_BASE_URL", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    assert ModelSpec(name="m").resolved_base_url() == "https://api.openai.com/v1"
    monkeypatch.setenv("OPENAI_BASE_URL", "http://a:1/v1")
    assert ModelSpec(name="m").resolved_base_url() == "http://a:1/v1"
    monkeypatch.setenv("PLURALIS_LLM_BASE_URL", "http://b:2/v1")
    assert ModelSpec(name="m").resolved_base_url() == "http://b:2/v1"
    assert ModelSpec(name="m", base_url="http://c:3/v1").resolved_base_url() == "http://c:3/v1"


def test_bad_base_url_rejected():
    with pytest.raises(ValueError, match="http"):
        ModelSpec(name="m", base_url="localhost:8000")


def test_api_key_from_env(monkeypatch):
    spec = ModelSpec(name="m", api_key_env="PLURALIS_TEST_KEY")
    monkeypatch.delenv("PLURALIS_TEST_KEY", raising=False)
    with pytest.raises(ConfigError, match="PLURALIS_TEST_KEY"):
        spec.api_key()
    monkeypatch.setenv("PLURALIS_TEST_KEY", "sk-123")
    assert spec.api_key() == "sk-123"
    assert "sk-123" not in spec.model_dump_json()


def test_params_merge_only_explicit_fields():
    base = DecodingParams(temperature=1.0, top_p=0.9, top_k=50, max_tokens=200)
    merged = base.merged({"temperature": 0.5})
    assert (merged.temperature, merged.top_p, merged.top_k, merged.max_tokens) == (0.5, 0.9, 50, 200)
    assert base.merged(DecodingParams(max_tokens=10)).max_tokens == 10
    with pytest.raises(ValueError):
        DecodingParams(temperature=3.0)
    with pytest.raises(ValueError):
        DecodingParams(unknown=1)


def test_request_body_nonstandard_params():
    params = DecodingParams(temperature=1.0, top_k=5, min_tokens=10, seed=3, stop=["\n\n"])
    local = ModelSpec(name="m", base_url="http://127.0.0.1:1/v1", params=params, extra_body={"repetition_penalty": 1.1})
    body = build_request_body(local, USER, params)
    assert body["top_k"] == 5 and body["min_tokens"] == 10 and body["seed"] == 3 and body["stop"] == ["\n\n"]
    assert body["repetition_penalty"] == 1.1 and body["stream"] is False
    openai = ModelSpec(name="gpt-4o-mini", base_url="https://api.openai.com/v1", params=params)
    body = build_request_body(openai, USER, params)
    assert "top_k" not in body and "min_tokens" not in body
    forced = openai.model_copy(update={"send_nonstandard_params": True})
    assert build_request_body(forced, USER, params)["top_k"] == 5


def test_validate_messages():
    assert validate_messages(USER) == USER
    for bad, match in [
        ([], "non-empty"),
        ([{"role": "bot", "content": "x"}], "role"),
        ([{"role": "user", "content": None}], "content"),
        (["hi"], "dict"),
    ]:
        with pytest.raises(MessageError, match=match):
            validate_messages(bad)
    assert issubclass(MessageError, PluralisError)


def test_error_hierarchy():
    for cls in (BackendTimeout, BackendHTTPError, MalformedResponse):
        assert issubclass(cls, BackendError) and issubclass(cls, PluralisError)
    assert BackendHTTPError("x", status_code=404).retryable is False
    assert BackendHTTPError("x", status_code=429).retryable is True
    assert BackendHTTPError("x").retryable is True  # connection failure


def test_parse_chat_completion_shapes():
    ok = {
        "choices": [
            {
                "message": {"content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]},
                "finish_reason": "length",
            }
        ]
    }
    assert parse_chat_completion(ok, model="m")[:2] == ("ab", "length")
    assert parse_chat_completion({"choices": [{"message": {"content": None}}]}, model="m")[0] == ""
    for bad in (
        [],
        {"choices": []},
        {"choices": [{"text": "x"}]},
        {"error": {"message": "x"}},
        {"choices": [{"message": {"content": 3}}]},
    ):
        with pytest.raises(MalformedResponse):
            parse_chat_completion(bad, model="m")


def test_from_roster_uses_prism_params():
    llama = ModelSpec.from_roster("llama-2-7b-chat", base_url="http://127.0.0.1:1/v1", model="tiny")
    assert llama.name == "meta-llama/Llama-2-7b-chat-hf" and llama.model_id == "tiny"
    assert (llama.params.min_tokens, llama.params.max_tokens, llama.params.temperature) == (10, 200, 1.0)
    assert llama.provider == "huggingface_api"
    assert ModelSpec.from_roster("zephyr-7b-beta").system_prompt == BASE_HEADER_INSTRUCT
    assert ModelSpec.from_roster("gpt-4-turbo").name == "gpt-4-1106-preview"
    with pytest.raises(ConfigError, match="unknown PRISM model"):
        ModelSpec.from_roster("gpt-5")


def test_load_model_specs(tmp_path):
    toml = tmp_path / "models.toml"
    toml.write_text(
        '[[models]]\nname = "a"\nbase_url = "http://127.0.0.1:8000/v1"\n[models.params]\ntemperature = 1.0\n'
        '[[models]]\nname = "b"\nbackend = "transformers"\npath = "/m"\nsystem_prompt = "Be brief."\n'
    )
    a, b = load_model_specs(toml)
    assert a.params.temperature == 1.0 and b.backend == "transformers" and b.system_prompt == "Be brief."
    js = tmp_path / "models.json"
    js.write_text(json.dumps({"models": [{"name": "a"}, {"name": "a"}]}))
    with pytest.raises(ConfigError, match="duplicate"):
        load_model_specs(js)
    js.write_text(json.dumps([{"name": "a", "backend": "nope"}]))
    with pytest.raises(ConfigError, match="model 0"):
        load_model_specs(js)
    (tmp_path / "bad.toml").write_text("[[models]\n")
    with pytest.raises(ConfigError, match="TOML"):
        load_model_specs(tmp_path / "bad.toml")
    with pytest.raises(ConfigError, match="cannot read"):
        load_model_specs(tmp_path / "missing.toml")


def test_core_import_is_light():
    import subprocess
    import sys

    code = (
        "import sys, pluralis.llm, pluralis.llm.server; "
        "print(sorted(m for m in ('torch', 'transformers', 'llama_cpp') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
