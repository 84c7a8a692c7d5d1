"""The topic pipeline: planted topics recovered, keywords, typical texts, names, neighbours, estimator API."""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.metrics import adjusted_rand_score
from sklearn.neighbors import NearestNeighbors

from pluralis.data.synthetic import TOPIC_FILL, TOPIC_OPENERS
from pluralis.errors import ConfigError
from pluralis.topics import TopicModel
from pluralis.topics.model import knn_cosine
from pluralis.topics.naming import PRISM_NAMING_PROMPT, chat_namer, naming_messages


def test_planted_topics_are_recovered(planted, planted_fit):
    _, _, _, truth = planted
    tm, _, mapping = planted_fit
    assert adjusted_rand_score(truth, tm.labels_) >= 0.8
    assert tm.n_topics_ == 6
    assert sorted(mapping.values()) == sorted(TOPIC_OPENERS)  # one fitted topic per planted topic


def test_keywords_and_typical_texts_describe_their_topic(planted_fit):
    tm, _, mapping = planted_fit
    for topic, true in mapping.items():
        if topic < 0:
            continue
        vocabulary = " ".join(TOPIC_OPENERS[true] + TOPIC_FILL[true]).lower()
        assert all(word in vocabulary for kw in tm.keywords_[topic] for word in kw.split())
        assert len(tm.keywords_[topic]) == 10
        assert len(tm.typical_texts_[topic]) == 5 and len(set(tm.typical_texts_[topic])) == 5  # distinct (dedup)
        stems = [t.split("{x}")[0] for t in TOPIC_OPENERS[true]]
        assert all(any(text.startswith(s) for s in stems) for text in tm.typical_texts_[topic])
    # typical texts are the closest to the centroid, furthest the furthest
    a = tm.assignments()
    for topic in tm.typical_texts_:
        d = a[a["topic"] == topic].drop_duplicates("text").set_index("text")["distance"]
        assert d.loc[tm.typical_texts_[topic]].max() <= d.loc[tm.furthest_texts_[topic]].min()
    topics = tm.topics_
    assert topics["size"].sum() == len(tm.labels_)
    assert topics["topic"].iloc[-1] == -1 or (tm.labels_ >= 0).all()


def test_names_come_from_the_namer_with_prisms_prompt(planted_fit):
    tm, _, _ = planted_fit
    seen = []

    def chat(messages):
        seen.append(messages)
        return f'Title: "Topic {len(seen)}".'

    tm2 = copy.copy(tm)
    tm2.topics_ = tm.topics_.copy()
    tm2.rename(chat_namer(chat))
    assert sorted(v for k, v in tm2.names_.items() if k >= 0) == sorted(f"Topic {i}" for i in range(1, 7))
    first = seen[0]
    assert first[0] == {"role": "system", "content": ""}
    texts, words = tm.typical_texts_[0], tm.keywords_[0]
    assert naming_messages(texts, words)[1]["content"] == PRISM_NAMING_PROMPT.format(top_texts=texts, top_words=words)
    assert "\n\n    Typical texts in the cluster are: [" in first[1]["content"]


def test_exact_neighbours_match_scikit_learn():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 8)).astype(np.float32)
    idx, dist = knn_cosine(X, 6, block=64)
    nn = NearestNeighbors(n_neighbors=6, metric="cosine", algorithm="brute").fit(X)
    d_ref, i_ref = nn.kneighbors(X)
    assert (idx[:, 0] == np.arange(300)).all()
    np.testing.assert_allclose(dist, d_ref, atol=1e-5)
    assert (np.sort(idx, axis=1) == np.sort(i_ref, axis=1)).mean() > 0.99


def blobs(n_per=60, k=3, seed=0, dim=5):
    rng = np.random.default_rng(seed)
    centers = rng.normal(scale=5, size=(k, dim))
    E = np.vstack([c + rng.normal(scale=0.2, size=(n_per, dim)) for c in centers])
    words = ["alpha beta", "gamma delta", "epsilon zeta", "eta theta"]
    texts = [f"{words[i]} text {j}" for i in range(k) for j in range(n_per)]
    return texts, E, np.repeat(np.arange(k), n_per)


def test_sampled_fit_places_the_rest_by_nearest_neighbours():
    texts, E, truth = blobs(n_per=200)
    tm = TopicModel(reducer="none", min_cluster_size=20, max_fit_texts=150).fit(texts, embeddings=E)
    assert len(tm.fit_index_) == 150
    assert adjusted_rand_score(truth, tm.labels_) == 1.0


def test_deduplicate_gives_every_copy_its_texts_topic():
    texts, E, truth = blobs(n_per=40)
    texts2, E2 = texts + texts[:40], np.vstack([E, E[:40]])
    tm = TopicModel(reducer="none", min_cluster_size=10, deduplicate=True).fit(texts2, embeddings=E2)
    assert (tm.labels_[:40] == tm.labels_[-40:]).all()
    assert tm.min_cluster_size_ == 10 and tm.topics_["size"].sum() == len(texts2)


def test_estimator_api_and_umap_path():
    texts, E, truth = blobs(n_per=50, dim=12)
    tm = TopicModel(n_neighbors=10, min_cluster_size=15, n_components=5)
    labels = tm.fit_predict(texts, embeddings=E)
    assert adjusted_rand_score(truth, labels) == 1.0
    assert tm.embedding_.shape == (150, 5)
    assert tm.coordinates_2d().shape == (150, 2) and np.isfinite(tm.coordinates_2d()).all()
    assert clone(tm).get_params()["n_neighbors"] == 10
    assert tm.min_cluster_size_ == 15
    assert TopicModel().fit(texts, embeddings=E).min_cluster_size_ == 2  # 1 % of 150 texts, at least 2


def test_bad_settings_are_config_errors():
    texts, E, _ = blobs(n_per=10)
    with pytest.raises(ConfigError, match="reducer"):
        TopicModel(reducer="pca").fit(texts, embeddings=E)
    with pytest.raises(ConfigError, match="too few"):
        TopicModel().fit(texts[:5], embeddings=E[:5])
    with pytest.raises(ConfigError, match="shape"):
        TopicModel(reducer="none").fit(texts, embeddings=E[:3])
    with pytest.raises(ConfigError, match="not fitted"):
        TopicModel().coordinates_2d()


def test_assignment_frame_lines_up_with_ids(planted, planted_fit):
    _, frames, _, _ = planted
    tm, assign, _ = planted_fit
    a = tm.assignments(conversation_id=frames.conversations["conversation_id"])
    assert (a["conversation_id"].to_numpy() == assign["conversation_id"].to_numpy()).all()
    assert (a["topic_name"] == pd.Series(tm.labels_).map(tm.names_)).all()


@pytest.mark.parametrize("placement", ["neighbours", pytest.param("umap", marks=pytest.mark.slow)])
def test_sampled_umap_fit_places_the_rest(placement):
    """``placement="umap"`` compiles UMAP's transform (numba, about a minute): marked slow."""
    texts, E, truth = blobs(n_per=100, dim=12)
    tm = TopicModel(n_neighbors=10, n_components=5, min_cluster_size=15, max_fit_texts=120, placement=placement)
    tm.fit(texts, embeddings=E)
    assert adjusted_rand_score(truth, tm.labels_) == 1.0
    assert np.isfinite(tm.embedding_).all()
    coords = tm.coordinates_2d()
    assert np.isfinite(coords[tm.fit_index_]).all() and np.isnan(coords).any(axis=1).sum() == 300 - 120
