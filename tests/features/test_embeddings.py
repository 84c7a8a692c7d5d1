"""The sentence encoder's precisions and backends against the float32 reference (sentence-transformers on torch).

bf16 is the default where the CPU has native bf16; OpenVINO is the default backend on a CPU where it is
installed (``tests/features/test_openvino_encoder.py`` covers it on its own)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pluralis.errors import ConfigError
from pluralis.features import embeddings
from pluralis.features.embeddings import embed_texts, load_sentence_model, resolve_precision

pytest.importorskip("sentence_transformers")


@pytest.fixture(scope="module")
def responses() -> list[str]:
    """PRISM-shaped responses of a generated study: the shortest, the longest and a spread between."""
    from pluralis.data.synthetic import generate_study

    frames = generate_study(40, with_metadata=False, seed=3).frames()
    texts = pd.Series(frames.utterances["model_response"]).dropna().astype(str).drop_duplicates()
    texts = texts.iloc[np.argsort(texts.str.len().to_numpy(), kind="stable")]
    picked = np.unique(
        np.r_[np.linspace(0, len(texts) - 1, 150).round().astype(int), np.arange(len(texts) - 10, len(texts))]
    )
    return texts.iloc[picked].tolist()


@pytest.mark.parametrize("backend", ["torch", "auto"])
def test_bf16_embeddings_match_fp32_on_real_shaped_texts(responses, backend):
    ref = embed_texts(responses, precision="fp32", backend="torch", cache=False)
    fast = embed_texts(responses, precision="bf16", backend=backend, cache=False)
    assert fast.shape == ref.shape == (len(responses), 384) and fast.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(fast, axis=1), 1.0, atol=1e-5)  # normalised in float32
    cos = (fast * ref).sum(axis=1)
    assert cos.min() >= 0.999, cos.min()
    # the geometry analyses read (pairwise similarities) moves by little
    assert np.abs(fast @ fast.T - ref @ ref.T).max() < 0.01
    # nearest neighbours agree
    s32, s16 = ref @ ref.T, fast @ fast.T
    np.fill_diagonal(s32, -2), np.fill_diagonal(s16, -2)
    assert (s32.argmax(1) == s16.argmax(1)).mean() > 0.95


def test_bf16_model_is_a_bf16_copy_and_fp32_the_shipped_weights():
    import torch

    m32, m16 = (
        load_sentence_model(precision="fp32", backend="torch"),
        load_sentence_model(precision="bf16", backend="torch"),
    )
    assert m16 is not m32 and m16 is load_sentence_model(precision="bf16", backend="torch")
    assert next(m32.parameters()).dtype == torch.float32
    assert next(m16.parameters()).dtype == torch.bfloat16
    # pooling sees float32 token embeddings
    out = m16.encode(["hello there"], convert_to_tensor=True, show_progress_bar=False)
    assert out.dtype == torch.float32


def test_auto_falls_back_to_fp32_without_native_bf16(monkeypatch):
    monkeypatch.setattr(embeddings, "cpu_bf16_supported", lambda: False)
    assert resolve_precision("auto") == "fp32"
    for backend in ("torch", "auto"):
        assert load_sentence_model(backend=backend) is load_sentence_model(precision="fp32", backend=backend)
        texts = ["A fallback probe.", "Another fallback probe, a little longer than the first one."]
        np.testing.assert_array_equal(
            embed_texts(texts, cache=False, backend=backend),
            embed_texts(texts, precision="fp32", cache=False, backend=backend),
        )
    monkeypatch.setattr(embeddings, "cpu_bf16_supported", lambda: True)
    assert resolve_precision("auto") == "bf16" and resolve_precision("auto", "cuda") == "fp32"
    assert load_sentence_model() is load_sentence_model(precision="bf16")


def test_precisions_share_one_cache_key():
    """Documented decision: bf16 and fp32 vectors (either backend) agree within cosine 0.999, so they share
    cache entries."""
    text = ["shared cache key probe"]
    first = embed_texts(text, precision="fp32", backend="torch")
    np.testing.assert_array_equal(embed_texts(text, precision="bf16"), first)
    np.testing.assert_array_equal(embed_texts(text, precision="bf16", backend="torch"), first)


def test_unknown_precision_is_a_clear_error():
    with pytest.raises(ConfigError, match="precision must be one of auto, fp32, bf16"):
        embed_texts(["x"], precision="int8")


def test_batches_group_texts_by_token_count_and_keep_input_order(responses, monkeypatch):
    """Texts whose character length and token count disagree: the batches follow the tokens, and the
    vectors come back in input order, equal to sentence-transformers' own ``encode`` (float32)."""
    model = load_sentence_model(precision="fp32", backend="torch")
    # long in characters, few tokens (long whole words) / short in characters, many tokens
    tricky = ["understanding responsibilities internationally", ". , ; : ! ?", "1 2 3 4 5 6 7 8", "x", "hello world"]
    texts = tricky + responses[:40]
    rng = np.random.default_rng(0)
    texts = [texts[i] for i in rng.permutation(len(texts))]
    counts = embeddings.token_counts(model, texts)
    long_few, short_many = texts.index(tricky[0]), texts.index("1 2 3 4 5 6 7 8")
    assert len(texts[long_few]) > 2 * len(texts[short_many]) and counts[long_few] < counts[short_many]

    seen: list[list[str]] = []
    original = type(model).encode

    def spy(self, sentences, *args, **kwargs):
        seen.append(list(sentences))
        return original(self, sentences, *args, **kwargs)

    monkeypatch.setattr(type(model), "encode", spy)
    got = embed_texts(texts, precision="fp32", backend="torch", cache=False, batch_size=8)
    monkeypatch.undo()

    assert sorted(t for batch in seen for t in batch) == sorted(texts) and all(len(b) <= 8 for b in seen)
    per_batch = [embeddings.token_counts(model, b) for b in seen]
    # batches are contiguous runs of the token counts, longest first: no batch's range overlaps the next one's
    assert all(a.min() >= b.max() for a, b in zip(per_batch, per_batch[1:]))
    reference = model.encode(texts, batch_size=8, normalize_embeddings=True, show_progress_bar=False)
    np.testing.assert_allclose(got, reference, atol=2e-5)


@pytest.mark.parametrize("backend", ["torch", "auto"])
def test_token_counts_include_special_tokens_and_truncate(backend):
    model = load_sentence_model(precision="fp32", backend=backend)
    assert embeddings.token_counts(model, []).shape == (0,)
    assert embeddings.token_counts(model, ["hello"]).tolist() == [3]  # [CLS] hello [SEP]
    assert embeddings.token_counts(model, ["word " * 1000]).tolist() == [model.max_seq_length]


def test_batch_size_must_be_positive():
    with pytest.raises(ConfigError, match="batch_size"):
        embed_texts(["a text never embedded before: batch size probe"], batch_size=0, cache=False)
