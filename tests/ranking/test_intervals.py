"""Bootstrap intervals: BCa equals scipy's, BC corrects median bias, the bootstrap's interval options."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from pluralis.errors import ConfigError
from pluralis.ranking.intervals import acceleration, bias_correction, bootstrap_interval
from pluralis.ranking.uncertainty import bootstrap, jackknife_scores


@pytest.mark.parametrize("statistic", [np.mean, np.std])
def test_bca_matches_scipy_on_the_same_draws(statistic):
    rng = np.random.default_rng(0)
    x = rng.lognormal(0.0, 1.0, 60)  # skewed: BCa differs clearly from the percentile interval
    res = stats.bootstrap(
        (x,), statistic, method="BCa", n_resamples=2000, rng=np.random.default_rng(1), confidence_level=0.9
    )
    draws = res.bootstrap_distribution[:, None]
    jack = np.array([statistic(np.delete(x, i)) for i in range(len(x))])[:, None]
    lo, hi = bootstrap_interval(draws, np.array([statistic(x)]), level=0.9, method="bca", jackknife=jack)
    assert lo[0] == pytest.approx(res.confidence_interval.low, rel=1e-10)
    assert hi[0] == pytest.approx(res.confidence_interval.high, rel=1e-10)
    pct = stats.bootstrap(
        (x,), statistic, method="percentile", n_resamples=2000, rng=np.random.default_rng(1), confidence_level=0.9
    )
    plo, phi = bootstrap_interval(draws, level=0.9)
    assert (plo[0], phi[0]) == pytest.approx((pct.confidence_interval.low, pct.confidence_interval.high), rel=1e-10)
    assert lo[0] != pytest.approx(plo[0], rel=1e-3)


def test_frequency_weighted_acceleration_equals_repeated_rows():
    rng = np.random.default_rng(2)
    jack = rng.normal(size=(5, 3))
    counts = np.array([1, 3, 2, 1, 4])
    assert np.allclose(acceleration(jack, counts), acceleration(np.repeat(jack, counts, axis=0)))


def test_bias_correction_and_degenerate_draws():
    draws = np.array([[1.0, 5.0], [2.0, 5.0], [3.0, 5.0], [4.0, 5.0]])
    z0 = bias_correction(draws, np.array([2.0, 5.0]))
    assert z0[0] == pytest.approx(stats.norm.ppf(0.375)) and z0[1] == 0.0
    lo, hi = bootstrap_interval(draws, np.array([9.0, 5.0]), method="bc")  # estimate above every draw
    assert lo[0] == hi[0] == 4.0 and lo[1] == hi[1] == 5.0
    with pytest.raises(ConfigError):
        bootstrap_interval(draws, method="studentized")
    with pytest.raises(ConfigError, match="estimate"):
        bootstrap_interval(draws, method="bc")


BATTLES = pd.DataFrame(
    {
        "model_a": ["x", "x", "y", "x", "y", "z"] * 10,
        "model_b": ["y", "z", "z", "y", "x", "x"] * 10,
        "winner": ["model_a", "model_a", "tie", "model_b", "model_b", "model_b"] * 10,
        "user_id": [f"u{k % 12}" for k in range(60)],
    }
)


@pytest.mark.parametrize("method", ["prc", "bt", "win_rate"])
def test_participant_jackknife_is_leave_one_participant_out(method):
    from pluralis.ranking.battles import encode_battles
    from pluralis.ranking.engine import rank_models

    arr = encode_battles(BATTLES)
    jack, counts = jackknife_scores(arr, BATTLES, method)
    assert counts is None and jack.shape == (12, 3)
    for k, who in enumerate(arr.clusters[:3]):
        direct = rank_models(BATTLES[BATTLES["user_id"] != who], method).set_index("model")["score"]
        assert np.allclose(jack[k], direct.loc[list(arr.models)].to_numpy())


def test_battle_jackknife_groups_identical_battles():
    from pluralis.ranking.battles import encode_battles
    from pluralis.ranking.engine import rank_models

    arr = encode_battles(BATTLES)
    jack, counts = jackknife_scores(arr, BATTLES, "win_rate", unit="battles")
    assert counts.sum() == len(BATTLES)
    first = rank_models(BATTLES.iloc[1:], "win_rate").set_index("model")["score"]
    assert any(np.allclose(row, first.loc[list(arr.models)].to_numpy()) for row in jack)


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("method", ["prc", "bt"])
def test_blocked_battle_jackknife_equals_the_exact_one(monkeypatch, method, weighted):
    """Beyond JACKKNIFE_MAX_UNITS categories the battle jackknife leaves out blocks of battles;
    with one battle per block it is the exact one, row for row (each category's row repeated)."""
    import pluralis.ranking.uncertainty as unc
    from pluralis.ranking.battles import encode_battles

    arr = encode_battles(BATTLES)
    pw = np.linspace(0.5, 2.0, arr.n_clusters) if weighted else None
    exact, counts = jackknife_scores(arr, BATTLES, method, unit="battles", pw=pw)
    monkeypatch.setattr(unc, "JACKKNIFE_MAX_UNITS", 2)  # fewer than the categories: blocked path
    blocked, none = jackknife_scores(arr, BATTLES, method, unit="battles", pw=pw)
    assert none is None and blocked.shape == (len(BATTLES), 3)  # 60 battles <= 200 blocks: one each
    assert len(exact) > 2 and counts.sum() == len(BATTLES)
    rows = {tuple(np.round(r, 9)) for r in blocked}
    assert rows == {tuple(np.round(r, 9)) for r in exact}
    # every exact row appears as often as its category has battles
    for row, n in zip(exact, counts):
        assert np.isclose(blocked, row, atol=1e-9).all(axis=1).sum() >= n


def test_bootstrap_interval_options_and_population_target():
    res = bootstrap(BATTLES, "prc", rounds=300, seed=0)
    assert res.interval == "bca" and res.jackknife.shape == (12, 3)
    assert res.interval_samples is not None  # PRC: intervals from the prior-free refit
    est = bootstrap(BATTLES, "prc", rounds=300, seed=0, target="estimator")
    assert est.interval_samples is None and np.allclose(est.samples, res.samples)
    s = res.summary()
    assert s.attrs["interval"] == "bca" and (s["score_lo"] <= s["score_hi"]).all()
    pct = bootstrap(BATTLES, "prc", rounds=300, seed=0, interval="percentile", target="estimator").summary()
    q = np.quantile(est.samples, [0.025, 0.975], axis=0)
    order = [list(est.models).index(m) for m in pct["model"]]
    assert np.allclose(pct["score_lo"], q[0, order]) and np.allclose(pct["score_hi"], q[1, order])
    bt = bootstrap(BATTLES, "bt", rounds=100, seed=0)
    assert bt.interval_samples is None  # BT keeps its (weak) penalty
    with pytest.raises(ConfigError):
        bootstrap(BATTLES, "prc", rounds=10, interval="basic")
    with pytest.raises(ConfigError):
        bootstrap(BATTLES, "prc", rounds=10, target="truth")


def test_prc_population_intervals_cover_better_at_the_extremes():
    """A small version of benchmarks/coverage_ranking.py: the prior biases the bottom model's estimate."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
    from coverage_ranking import QUALITY, simulate, truth

    tr = truth("prc")
    bottom = int(np.argmin(QUALITY))
    rng = np.random.default_rng(5)
    hit = {"estimator": 0, "population": 0}
    for s in range(30):
        arr = simulate(150, rng)
        for target in hit:
            lo, hi = bootstrap(arr, "prc", rounds=200, seed=s, target=target).score_interval()
            hit[target] += int(lo[bottom] <= tr[bottom] <= hi[bottom])
    assert hit["population"] >= 26 and hit["population"] > hit["estimator"]
