"""Bootstrap machinery: exactness of the fast resampling, and CI coverage on simulated studies."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import norm

from pluralis.errors import ConfigError
from pluralis.ranking.battles import BattleArrays, encode_battles
from pluralis.ranking.encode import mean_by_model
from pluralis.ranking.methods.prc import pairwise_rank_centrality, prc_from_counts
from pluralis.ranking.registry import get_aggregator
from pluralis.ranking.resample import cluster_weights
from pluralis.ranking.uncertainty import (
    BootstrapResult,
    Tournament,
    bootstrap,
    idiosyncratic_variance,
    random_participants,
)

# --- a simulated study with participant-level taste (clustered battles) and a known truth ----------

MU = np.array([0.6, 0.35, 0.15, 0.0, -0.2, -0.5])  # true utilities of 6 models
SD_TASTE, SD_NOISE, TIE = 0.5, 0.6, 0.25  # taste is fixed per (participant, model)


def true_prc(mu=MU, sd_taste=SD_TASTE, sd_noise=SD_NOISE, t=TIE):
    """Population PRC: per-pair win shares from the model's exact win/tie probabilities."""
    d = mu[:, None] - mu[None, :]
    s = np.sqrt(2 * sd_taste**2 + 2 * sd_noise**2)
    p_win = 1 - norm.cdf((t - d) / s)
    p_tie = norm.cdf((t - d) / s) - norm.cdf((-t - d) / s)
    comparisons = p_win + p_tie  # a tie counts one win each way
    np.fill_diagonal(comparisons, 0)
    return prc_from_counts(comparisons, np.zeros_like(comparisons), alpha=0.0)


def simulate(rng, n_participants, openers=6, shown=4):
    n = len(MU)
    taste = rng.normal(0, SD_TASTE, (n_participants, n))
    P = n_participants * openers
    models = np.argsort(rng.random((P, n)), axis=1)[:, :shown]
    user = np.repeat(np.arange(n_participants), openers)
    u = MU[models] + taste[user[:, None], models] + rng.normal(0, SD_NOISE, (P, shown))
    ia, ib = np.triu_indices(shown, 1)
    d = u[:, ia] - u[:, ib]
    outcome = np.where(np.abs(d) <= TIE, 2, np.where(d > 0, 0, 1))
    cluster = np.repeat(user[:, None], len(ia), axis=1)
    return BattleArrays.from_lists(
        [f"m{i}" for i in range(n)], models[:, ia].ravel(), models[:, ib].ravel(), outcome.ravel(), cluster.ravel()
    )


def coverage(unit, studies, rounds, n_participants, seed):
    truth = true_prc()
    rng = np.random.default_rng(seed)
    hits = []
    for s in range(studies):
        arr = simulate(rng, n_participants)
        res = bootstrap(arr, "prc", rounds=rounds, unit=unit, seed=s)
        summ = res.summary().set_index("model").loc[list(arr.models)]
        hits.append((summ["score_lo"].to_numpy() <= truth) & (truth <= summ["score_hi"].to_numpy()))
    return np.mean(hits)


def test_participant_bootstrap_ci_coverage_at_least_93_percent():
    """300 simulated studies x 6 models, 95% percentile intervals, 1,000 rounds (default)."""
    cov = coverage("participants", studies=300, rounds=1000, n_participants=100, seed=2024)
    assert cov >= 0.93, cov
    assert cov <= 0.99, cov  # and not trivially wide


def test_battle_bootstrap_undercovers_when_people_differ():
    """Why the cluster bootstrap matters: resampling battles ignores that a person's battles correlate."""
    cov = coverage("battles", studies=40, rounds=300, n_participants=100, seed=7)
    assert cov < 0.85, cov


def test_true_ranking_is_the_utility_order():
    assert np.all(np.diff(true_prc()) < 0)


# --- exactness of the fast resampling ----------------------------------------------------------------


def _toy(seed=0, n=5, m=400, G=30):
    rng = np.random.default_rng(seed)
    a = rng.integers(0, n, m)
    b = (a + rng.integers(1, n, m)) % n
    return BattleArrays.from_lists([f"m{i}" for i in range(n)], a, b, rng.integers(0, 3, m), rng.integers(0, G, m))


def test_cluster_bootstrap_equals_explicit_resampling():
    arr = _toy()
    t = Tournament(arr)
    rng = np.random.default_rng(1)
    w = cluster_weights(rng, 5, arr.n_clusters)
    fast = t.score_counts(t.cluster_counts(w), get_aggregator("prc"), {"alpha": 1.0})
    for r in range(5):
        idx = np.concatenate([np.repeat(np.flatnonzero(arr.cluster == g), int(w[r, g])) for g in range(arr.n_clusters)])
        slow = pairwise_rank_centrality(arr.a[idx], arr.b[idx], arr.outcome[idx], arr.n_models, alpha=1.0)
        assert np.allclose(fast[r], slow, atol=1e-12)


def test_battle_bootstrap_multinomial_matches_index_resampling_in_distribution():
    arr = _toy(m=300)
    res = bootstrap(arr, "prc", rounds=3000, unit="battles", seed=3)
    rng = np.random.default_rng(4)
    slow = np.array(
        [
            pairwise_rank_centrality(arr.a[i], arr.b[i], arr.outcome[i], arr.n_models)
            for i in (rng.integers(0, arr.n_battles, arr.n_battles) for _ in range(600))
        ]
    )
    assert np.allclose(res.samples.mean(axis=0), slow.mean(axis=0), atol=0.003)
    assert np.allclose(res.samples.std(axis=0), slow.std(axis=0), rtol=0.12)


def test_random_participants_draws_without_replacement():
    rng = np.random.default_rng(0)
    w = cluster_weights(rng, 50, 20, n=7, replace=False)
    assert (w.sum(axis=1) == 7).all() and w.max() == 1
    with pytest.raises(ConfigError):
        cluster_weights(rng, 2, 5, n=6, replace=False)
    arr = _toy()
    res = random_participants(arr, arr.n_clusters, rounds=5, seed=0)
    # drawing everyone without replacement reproduces the full-data estimate every round
    assert np.allclose(res.samples, res.estimate, atol=1e-12)
    assert res.unit == f"random_{arr.n_clusters}"


def test_score_mean_cluster_bootstrap_equals_explicit():
    b = pd.DataFrame(
        {
            "model_a": ["x", "x", "y", "x"],
            "model_b": ["y", "z", "z", "z"],
            "winner": ["model_a"] * 4,
            "score_a": [90.0, 80, 70, 60],
            "score_b": [10.0, 20, 30, 40],
            "user_id": ["u1", "u1", "u2", "u3"],
            "interaction_id": ["i1", "i2", "i3", "i4"],
        }
    )
    res = bootstrap(b, "mean_score", rounds=50, seed=2)
    # recompute round 0 by hand from its participant weights
    w = cluster_weights(np.random.default_rng(2), 50, 3)[0]
    ratings = pd.DataFrame(
        {"m": [0, 1, 0, 2, 1, 2, 0, 2], "v": [90, 10, 80, 20, 70, 30, 60, 40], "u": [0, 0, 0, 0, 1, 1, 2, 2]}
    )
    expected = mean_by_model(ratings["m"], ratings["v"], 3, weights=w[ratings["u"]][None, :])[0]
    assert np.allclose(res.samples[0], expected, equal_nan=True)
    assert np.allclose(res.estimate, [76.6666667, 40, 30])


def test_bootstrap_is_seeded_and_summaries_are_consistent():
    arr = _toy()
    r1 = bootstrap(arr, "prc", rounds=200, seed=5)
    r2 = bootstrap(arr, "prc", rounds=200, seed=5)
    r3 = bootstrap(arr, "prc", rounds=200, seed=6)
    assert np.array_equal(r1.samples, r2.samples) and not np.array_equal(r1.samples, r3.samples)
    s = r1.summary()
    assert (s["score_lo"] <= s["score_median"]).all() and (s["score_median"] <= s["score_hi"]).all()
    assert (s["rank_lo"] <= s["rank"]).all() and (s["rank"] <= s["rank_hi"]).all()
    assert list(s["rank"]) == sorted(s["rank"])
    dist = r1.rank_distribution()
    assert np.allclose(dist.sum(axis=1), 1) and np.allclose(dist.sum(axis=0), 1)
    pb = r1.prob_better()
    assert np.allclose(pb.to_numpy() + pb.to_numpy().T + np.eye(arr.n_models), 1)
    assert len(r1.long()) == 200 * arr.n_models


@pytest.mark.parametrize("method", ["prc", "bt", "win_rate", "elo"])
@pytest.mark.parametrize("unit", ["battles", "participants"])
def test_every_pair_method_bootstraps(method, unit):
    arr = _toy(m=200)
    res = bootstrap(arr, method, rounds=20, unit=unit, seed=0)
    assert res.samples.shape == (20, arr.n_models)
    assert np.isfinite(res.samples).all()
    if method == "elo":
        assert np.allclose(res.samples.mean(axis=1), 1000)  # zero-sum updates


def test_prc_as_coded_bootstrap_runs():
    arr = _toy()
    res = bootstrap(arr, "prc", rounds=10, variant="as_coded")
    assert np.allclose(res.samples.sum(axis=1), 1, atol=1e-6)


def test_bootstrap_errors():
    b = pd.DataFrame({"model_a": ["x"], "model_b": ["y"], "winner": ["tie"]})
    with pytest.raises(ConfigError, match="user_id"):
        bootstrap(b, "prc", rounds=5)
    with pytest.raises(ConfigError, match="unit"):
        bootstrap(b, "prc", unit="people")
    with pytest.raises(ConfigError, match="level"):
        bootstrap(b, "prc", unit="battles", level=95)
    with pytest.raises(ConfigError, match="battle DataFrame"):
        bootstrap(encode_battles(b, cluster=None), "mean_score", unit="battles")


def test_idiosyncratic_variance_spreads_shrink_with_more_people():
    arr = simulate(np.random.default_rng(1), 200)
    frame = pd.DataFrame(
        {
            "model_a": np.array(arr.models)[arr.a],
            "model_b": np.array(arr.models)[arr.b],
            "winner": np.array(["model_a", "model_b", "tie"])[arr.outcome],
            "user_id": arr.cluster,
        }
    )
    tab = idiosyncratic_variance(frame, sizes=(10, 100), rounds=200)
    width = (tab["score_hi"] - tab["score_lo"]).groupby(tab["n_participants"]).mean()
    assert width[10] > 2 * width[100]
    assert set(tab["n_participants"]) == {10, 100}


def test_bootstrap_result_summary_with_missing_models():
    r = BootstrapResult(
        ("x", "y"),
        "mean_score",
        "participants",
        np.array([1.0, 2.0]),
        np.array([[1.0, np.nan], [2.0, 3.0], [1.5, 2.5]]),
        True,
        0.9,
    )
    s = r.summary().set_index("model")
    assert s.loc["y", "score_lo"] >= 2.5


def test_even_pairs_sampling_is_per_pair_and_restrictable():
    from pluralis.ranking.uncertainty import even_pairs

    # x-y played 1,000 times, y-z 10 times, x-z 10 times: even sampling weighs pairs equally
    rows = (
        [("x", "y", "model_a")] * 700
        + [("x", "y", "model_b")] * 300
        + [("y", "z", "model_a")] * 7
        + [("y", "z", "model_b")] * 3
        + [("x", "z", "model_a")] * 6
        + [("x", "z", "tie")] * 4
    )
    b = pd.DataFrame(rows, columns=["model_a", "model_b", "winner"])
    res = even_pairs(b, per_pair=80, rounds=400, seed=0)
    assert res.samples.shape == (400, 3) and res.level == 0.90
    assert np.allclose(np.median(res.samples, axis=0), res.estimate, atol=0.03)
    only = even_pairs(b, per_pair=80, rounds=50, pairs=[("x", "y")])
    assert np.allclose(only.samples[:, 2], only.samples[0, 2])  # z has no sampled battles: prior only
    with pytest.raises(ConfigError):
        even_pairs(b, method="mean_score")


def test_no_battles_is_a_clear_error():
    from pluralis.errors import DataValidationError
    from pluralis.ranking.subgroups import subgroup_rankings

    empty = pd.DataFrame({"model_a": [], "model_b": [], "winner": [], "user_id": [], "g": []})
    with pytest.raises(DataValidationError, match="no battles"):
        bootstrap(empty, "prc", rounds=5)
    with pytest.raises(DataValidationError, match="no battles"):
        subgroup_rankings(empty, "g", rounds=5)
