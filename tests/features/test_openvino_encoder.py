"""The OpenVINO sentence encoder (the default on a CPU) against sentence-transformers on torch, the reference."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from pluralis.errors import ConfigError
from pluralis.features import embeddings, openvino_encoder
from pluralis.features.embeddings import embed_texts, load_sentence_model, resolve_backend
from pluralis.features.openvino_encoder import OpenVinoSentenceEncoder

pytest.importorskip("sentence_transformers")
pytest.importorskip("openvino")


@pytest.fixture(scope="module")
def responses() -> list[str]:
    """PRISM-shaped responses: every length from one word to the model's 256-token limit and beyond."""
    from pluralis.data.synthetic import generate_study

    frames = generate_study(40, with_metadata=False, seed=5).frames()
    texts = pd.Series(frames.utterances["model_response"]).dropna().astype(str).drop_duplicates()
    picked = texts.iloc[np.linspace(0, len(texts) - 1, 120).round().astype(int)].tolist()
    return picked + ["Yes.", "word " * 400, "Émigré naïveté: 数据, ünïcödé and emoji 🙂."]


@pytest.fixture(scope="module")
def reference(responses) -> np.ndarray:
    return embed_texts(responses, precision="fp32", backend="torch", cache=False)


def test_auto_backend_is_openvino_on_cpu_and_torch_elsewhere():
    assert resolve_backend("auto") == "openvino" and resolve_backend("auto", "cuda") == "torch"
    assert isinstance(load_sentence_model(), OpenVinoSentenceEncoder)
    assert load_sentence_model() is load_sentence_model(backend="openvino")
    assert load_sentence_model(backend="torch") is not load_sentence_model()
    with pytest.raises(ConfigError, match="runs on the CPU"):
        resolve_backend("openvino", "cuda")
    with pytest.raises(ConfigError, match="backend must be one of auto, openvino, torch"):
        embed_texts(["x"], backend="onnx")


def test_without_openvino_auto_is_torch_and_openvino_names_the_install(monkeypatch):
    monkeypatch.setattr(openvino_encoder, "openvino_available", lambda: False)
    assert resolve_backend("auto") == "torch"
    with pytest.raises(ConfigError, match=r"pip install 'pluralis\[embed\]'"):
        resolve_backend("openvino")


@pytest.mark.parametrize(("precision", "min_cosine", "max_abs"), [("fp32", 0.999999, 1e-5), ("bf16", 0.9995, 0.01)])
def test_vectors_match_the_torch_float32_reference(responses, reference, precision, min_cosine, max_abs):
    got = embed_texts(responses, precision=precision, backend="openvino", cache=False)
    assert got.shape == reference.shape and got.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)
    cosine = (got * reference).sum(axis=1)
    assert cosine.min() >= min_cosine, cosine.min()
    assert np.abs(got - reference).max() <= max_abs
    # the neighbours an analysis reads are the same
    s_ref, s_got = reference @ reference.T, got @ got.T
    np.fill_diagonal(s_ref, -2), np.fill_diagonal(s_got, -2)
    assert (s_ref.argmax(1) == s_got.argmax(1)).mean() >= 0.97


def test_encode_keeps_input_order_for_any_batch_size(responses, reference):
    encoder = load_sentence_model(precision="fp32", backend="openvino")
    rng = np.random.default_rng(0)
    order = rng.permutation(len(responses))
    shuffled = [responses[i] for i in order]
    for batch_size in (1, 7, 64, 500):
        got = encoder.encode(shuffled, batch_size=batch_size, normalize_embeddings=True)
        np.testing.assert_allclose(got, reference[order], atol=1e-5)


def test_batches_come_in_order_and_cover_every_text_once(responses):
    encoder = load_sentence_model(backend="openvino")
    assert encoder.streams >= 1
    seen = [(rows, vectors) for rows, vectors in encoder.encoded_batches(responses, batch_size=16)]
    positions = np.concatenate([rows for rows, _ in seen])
    np.testing.assert_array_equal(positions, np.arange(len(responses)))
    assert all(len(rows) == len(v) <= 16 for rows, v in seen)
    with pytest.raises(ConfigError, match="batch_size"):
        next(encoder.encoded_batches(responses, batch_size=0))


def test_on_batch_sees_each_new_distinct_text_once_with_its_vector(responses):
    texts = responses[:50] + responses[:10]  # repeats are embedded once
    calls: list[tuple[list[str], np.ndarray]] = []
    got = embed_texts(texts, cache=False, batch_size=8, on_batch=lambda b, v: calls.append((list(b), v.copy())))
    passed = [t for b, _ in calls for t in b]
    assert sorted(passed) == sorted(set(texts)) and all(len(b) <= 8 for b, _ in calls)
    where = {t: i for i, t in enumerate(texts)}
    for batch, vectors in calls:
        np.testing.assert_array_equal(vectors, got[[where[t] for t in batch]])
    # with the process cache, texts already embedded are not passed again
    embed_texts(texts[:5], batch_size=8)
    again: list[str] = []
    embed_texts(texts[:5] + ["one text not embedded before: on_batch probe"], on_batch=lambda b, v: again.extend(b))
    assert again == ["one text not embedded before: on_batch probe"]


def test_conversion_sends_no_telemetry(monkeypatch):
    """ovc's telemetry is opt-out; the encoder converts with ovc's own no-op stub."""
    telemetry = pytest.importorskip("openvino_telemetry")

    def refuse(*args, **kwargs):
        raise AssertionError("OpenVINO telemetry was started")

    monkeypatch.setattr(telemetry.Telemetry, "__init__", refuse)
    monkeypatch.delenv("CI", raising=False)  # ovc turns it off by itself only in CI
    encoder = OpenVinoSentenceEncoder(load_sentence_model(precision="fp32", backend="torch"), precision="fp32")
    assert encoder.encode(["a telemetry probe"]).shape == (1, 384)
    from openvino.tools.ovc import convert_impl, telemetry_stub, telemetry_utils

    assert convert_impl.tm is telemetry_stub and telemetry_utils.tm is telemetry_stub


def test_models_it_cannot_run_as_the_model_would_are_refused(monkeypatch):
    base = load_sentence_model(precision="fp32", backend="torch")
    monkeypatch.setattr(base, "default_prompt_name", "query", raising=False)
    with pytest.raises(ConfigError, match="does not add prompts"):
        OpenVinoSentenceEncoder(base)
    monkeypatch.undo()
    with pytest.raises(ConfigError, match="precision must be one of bf16, fp32"):
        OpenVinoSentenceEncoder(base, precision="int8")


def test_auto_falls_back_to_torch_with_a_warning_where_conversion_fails(monkeypatch):
    def broken(model, precision="bf16"):
        raise RuntimeError("unsupported operation")

    monkeypatch.setattr(openvino_encoder, "OpenVinoSentenceEncoder", broken)
    monkeypatch.setattr(embeddings, "_MODELS", {})  # a fresh process's model cache
    with pytest.warns(UserWarning, match="embeddings run on torch: OpenVINO could not take this model"):
        model = load_sentence_model(precision="fp32")
    assert model is load_sentence_model(precision="fp32", backend="torch")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # remembered: no second attempt, no second warning
        assert load_sentence_model(precision="fp32") is model
    with pytest.raises(RuntimeError, match="unsupported operation"):
        load_sentence_model(precision="bf16", backend="openvino")
