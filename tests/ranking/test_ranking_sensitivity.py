"""Sensitivity of rankings to the aggregator, tie threshold and regularisation (App. T.3-T.6)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pluralis.errors import ConfigError
from pluralis.ranking.battles import extract_battles
from pluralis.ranking.sensitivity import (
    alpha_sensitivity,
    compare_aggregators,
    kendall_table,
    tie_threshold_sensitivity,
)


@pytest.fixture(scope="module")
def battles():
    from pluralis.data.synthetic import generate_study

    return extract_battles(generate_study(n_participants=150, seed=8, with_metadata=False).frames().utterances)


def test_kendall_table_known_values():
    s = pd.DataFrame({"a": [1.0, 2, 3, 4], "b": [10.0, 20, 30, 40], "c": [4.0, 3, 2, 1]})
    k = kendall_table(s).set_index(["a", "b"])
    assert k.loc[("a", "b"), "tau"] == pytest.approx(1.0)
    assert k.loc[("a", "c"), "tau"] == pytest.approx(-1.0)
    assert k.loc[("a", "b"), "p_value"] < 0.1
    # a lower-is-better column is flipped before comparing
    k2 = kendall_table(s, higher_is_better={"c": False}, against="a").set_index("a")
    assert k2.loc["c", "tau"] == pytest.approx(1.0)


def test_compare_aggregators_agree_broadly_and_elo_depends_on_order(battles):
    res = compare_aggregators(battles, seed=1)
    assert {
        "prc",
        "bt",
        "elo",
        "elo_shuffle1",
        "elo_shuffle2",
        "win_rate",
        "mean_score",
        "mean_normalized_score",
        "mean_within_turn_rank",
    } <= set(res.scores.columns)
    k = res.kendall.set_index(["a", "b"])
    assert k.loc[("prc", "bt"), "tau"] > 0.8 and k.loc[("prc", "bt"), "p_value"] < 0.001
    assert k.loc[("prc", "mean_within_turn_rank"), "tau"] > 0.7  # flipped: lower rank = better
    assert not np.allclose(res.scores["elo_shuffle1"], res.scores["elo_shuffle2"])
    assert list(res.ranks["prc"]) == sorted(res.ranks["prc"])


def test_tie_threshold_sweep(battles):
    res = tie_threshold_sensitivity(battles, thresholds=range(0, 21, 5))
    assert list(res.ranks.columns) == [0, 5, 10, 15, 20]
    k = res.kendall.set_index("a")["tau"]
    assert sorted(k.index) == [0, 10, 15, 20] and (k > 0.6).all()  # each threshold vs the reference t=5
    with pytest.raises(ConfigError):
        tie_threshold_sensitivity(battles, method="mean_score")


def test_alpha_sweep_shrinks_towards_uniform(battles):
    res = alpha_sensitivity(battles, alphas=[0, 1, 10, 100])
    spread = res.scores.max() - res.scores.min()
    assert list(spread.index) == [0, 1, 10, 100]
    assert np.all(np.diff(spread.to_numpy()) < 0)
    assert res.kendall.set_index("a").loc[0, "tau"] > 0.9
    coded = alpha_sensitivity(battles, alphas=[1], variant="as_coded")
    assert coded.scores.shape == (21, 1)
    with pytest.raises(ConfigError):
        alpha_sensitivity(battles, alphas=[-1])
