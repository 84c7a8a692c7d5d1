"""Local neighbourhoods (as coded and as described) and the intersectional-entropy test (spec §5.4-5.5, §9 rows 4-6)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy.cluster.hierarchy import fcluster, linkage

from pluralis.errors import ConfigError
from pluralis.topics import entropy_test, local_neighbourhoods, neighbourhood_summary
from pluralis.topics.neighbourhoods import chain_labels, entropy_summary, nearest_earlier


def temporal_cluster_reference(E, tau):
    """The spec's pseudo-code, literally: a loop over rows, nearest earlier row by cosine distance."""
    n = len(E)
    cluster = list(range(n))
    for a in range(1, n):
        d = [1 - E[a] @ E[j] / np.sqrt((E[a] @ E[a]) * (E[j] @ E[j])) for j in range(a)]
        b = int(np.argmin(d))
        if d[b] <= tau:
            cluster[a] = cluster[b]
    first: dict[int, int] = {}
    return np.array([first.setdefault(c, len(first)) for c in cluster])


def clustered_embeddings(seed=0, n=160):
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(12, 16))
    E = centers[rng.integers(12, size=n)] + rng.normal(scale=0.12, size=(n, 16))
    E[::7] = E[1::7][: len(E[::7])]  # exact duplicates, as PRISM's "Hello" x 60
    return E.astype(np.float64)


@pytest.mark.parametrize("tau", [0.01, 0.05, 0.125])
def test_as_coded_chaining_equals_the_sequential_algorithm(tau):
    E = clustered_embeddings()
    best, dist = nearest_earlier(E, block=37)
    assert (chain_labels(best, dist, tau) == temporal_cluster_reference(E, tau)).all()


def test_as_coded_processes_texts_in_alphabetical_order():
    E = clustered_embeddings(seed=1, n=60)
    texts = [f"t{(i * 37) % 60:03d}" for i in range(60)]
    order = np.argsort(texts, kind="stable")
    got = local_neighbourhoods(E, texts, taus=[0.1])["tau=0.1"].to_numpy()
    expected = np.empty(60, dtype=int)
    expected[order] = temporal_cluster_reference(E[order], 0.1)
    assert (got == expected).all()


@pytest.mark.parametrize("tau", [0.02, 0.1, 0.3])
def test_single_link_equals_scipys_hierarchical_single_linkage(tau):
    E = clustered_embeddings(seed=2)
    E = E + np.random.default_rng(9).normal(scale=1e-6, size=E.shape)  # no exact ties at the threshold
    got = local_neighbourhoods(E, taus=[tau], method="single_link")[f"tau={tau:g}"].to_numpy()
    ref = fcluster(linkage(E, method="single", metric="cosine"), t=tau, criterion="distance")
    assert pd.crosstab(got, ref).astype(bool).sum(axis=1).eq(1).all()  # same partition
    assert pd.crosstab(got, ref).astype(bool).sum(axis=0).eq(1).all()


def test_chaining_is_order_dependent_single_link_is_not():
    # a - b - c on a line, each step 0.6 * tau; chaining from the middle splits what single-link joins
    angles = np.array([0.0, 0.3, 0.62])
    E = np.column_stack([np.cos(angles), np.sin(angles)])
    tau = 1 - np.cos(0.35)
    chained = local_neighbourhoods(E[[0, 2, 1]], taus=[tau])[f"tau={tau:g}"].tolist()
    linked = local_neighbourhoods(E[[0, 2, 1]], taus=[tau], method="single_link")[f"tau={tau:g}"].tolist()
    assert chained == [0, 1, 0]  # c's nearest earlier is a (too far); b joins a; c stays alone
    assert linked == [0, 0, 0]


def test_approximate_neighbours_agree_with_exact_on_a_small_set():
    E = clustered_embeddings(seed=3, n=200)
    for method in ("as_coded", "single_link"):
        exact = local_neighbourhoods(E, taus=[0.05], method=method)
        approx = local_neighbourhoods(E, taus=[0.05], method=method, neighbors="approximate", n_neighbors=60)
        assert (exact.to_numpy() == approx.to_numpy()).mean() > 0.97


def test_summary_labels_prisms_table_23_figure_for_what_it_is():
    nb = pd.DataFrame({"tau=0.125": [0, 0, 0, 1, 1, 2, 3, 3, 4, 5]})
    users = ["a", "b", "c", "d", "d", "e", "f", "g", "h", "i"]
    s = neighbourhood_summary(nb, users).iloc[0]
    # kept: {0: 3 texts, 3: 2 texts}; ego: {1}; singletons {2, 4, 5}
    assert (s["kept"], s["ego"], s["singletons"], s["texts_in_kept"]) == (2, 1, 3, 5)
    assert s["pct_texts_in_neighbourhoods"] == pytest.approx(50.0)  # the real share of texts
    assert s["neighbourhoods_per_100_texts"] == pytest.approx(20.0)  # what Tab. 23 calls "% total prompts"
    assert (s["min_k"], s["max_k"], s["mean_k"]) == (2, 3, 2.5)


def test_entropy_statistics_follow_the_formulas():
    rng = np.random.default_rng(0)
    n = 400
    frame = pd.DataFrame(
        {"user_id": [f"u{i}" for i in range(n)], "g": rng.choice(["x", "y"], n), "h": rng.choice(list("pqrs"), n)}
    )
    labels = np.arange(n)
    labels[:4] = 0  # one neighbourhood of 4 distinct users
    frame.loc[:3, "g"] = ["x", "x", "x", "y"]
    frame.loc[:3, "h"] = ["p", "p", "p", "p"]  # homogeneous on h
    t = entropy_test(frame, labels, attributes=["g", "h"], m=4000, seed=1)
    row = t.iloc[0]
    h_g = -(0.75 * np.log2(0.75) + 0.25 * np.log2(0.25))
    assert row["H_g"] == pytest.approx(h_g) and row["H_h"] == 0.0
    assert bool(row["single_h"]) and not bool(row["single_g"])
    # expected entropy of a uniform binary attribute at k = 4: E[H] = sum_j C(4,j)/16 * H(j/4)
    p_g = (frame["g"] == "x").mean()
    exp_g = sum(math.comb(4, j) * p_g**j * (1 - p_g) ** (4 - j) * _h(j / 4) for j in range(5))
    assert row["H_g"] / (row["H_adj_g"] + 1) == pytest.approx(exp_g, rel=0.03)
    assert row["intersectional"] == pytest.approx(row["H_adj_g"] + row["H_adj_h"])
    assert row["band_high"] == -row["band_low"] > 0
    assert row["position"] == "below"  # homogeneous on h: far less diverse than chance
    s = entropy_summary(t)
    assert s["pct_below"] == 100.0 and s["pct_texts_single_h"] == 100.0 and s["pct_texts_homogeneous_all"] == 0.0


def _h(p):
    return 0.0 if p in (0, 1) else -(p * np.log2(p) + (1 - p) * np.log2(1 - p))


def test_random_neighbourhoods_are_mostly_within_the_band():
    rng = np.random.default_rng(4)
    n = 3000
    frame = pd.DataFrame({"user_id": np.arange(n), "a": rng.choice(list("abc"), n), "b": rng.choice(list("xy"), n)})
    labels = np.repeat(np.arange(n // 6), 6)  # random neighbourhoods of 6
    for band in ("as_coded", "simulated"):
        t = entropy_test(frame, labels, attributes=["a", "b"], band=band, seed=0)
        assert len(t) == n // 6
        assert (t["position"] == "within").mean() > 0.85


def test_entropy_test_needs_its_columns():
    with pytest.raises(ConfigError, match="needs column"):
        entropy_test(pd.DataFrame({"user_id": [1, 2]}), np.array([0, 0]), attributes=["gender"])
    with pytest.raises(ConfigError, match="method"):
        local_neighbourhoods(np.eye(3), method="complete")
