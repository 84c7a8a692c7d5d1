"""Whose feedback? Cross-group accuracy, composition curves and per-group weights on data with known answers."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from pluralis.errors import ConfigError
from pluralis.learn.featurizers import TextFeaturizer
from pluralis.learn.groups import (
    POOLED,
    composition_curve,
    cross_group_accuracy,
    group_weights,
    participant_folds,
)
from pluralis.learn.models import PersonalisedRewardModel, RewardModel, featurize_pairs
from pluralis.simulate.planted import planted_pairs

OPPOSITE = {"A": {"if_enumeration": 2.0, "if_refusal": -1.0}, "B": {"if_enumeration": -2.0, "if_refusal": -1.0}}


@pytest.fixture(scope="module")
def opposite():
    """Groups A and B with opposite planted preferences for lists (both dislike refusals)."""
    return featurize_pairs(planted_pairs(n_users=160, pairs_per_user=30, groups=OPPOSITE, seed=0), TextFeaturizer())


def test_a_model_trained_on_a_serves_a_better_than_one_trained_on_b(opposite):
    res = cross_group_accuracy(opposite, "group", n_splits=4, n_boot=200, seed=0)
    acc = res.matrix("accuracy")
    loss = res.matrix("log_loss")
    assert list(acc.index) == ["A", "B", POOLED] and list(acc.columns) == ["A", "B"]
    for own, other in (("A", "B"), ("B", "A")):
        assert acc.loc[own, own] > acc.loc[other, own] + 0.1
        assert loss.loc[own, own] < loss.loc[other, own]
        assert acc.loc[own, own] > 0.6
        # the pooled model learns that lists do not matter on average: between the two
        assert acc.loc[other, own] < acc.loc[POOLED, own] < acc.loc[own, own]
    # paired bootstrap: the difference is significant on both groups, in opposite directions
    d = res.compare("A", "B").set_index("eval_group")
    assert d.loc["A", "low"] > 0.05 and d.loc["B", "high"] < -0.05
    # intervals bracket the estimates
    t = res.table
    assert ((t.accuracy_low <= t.accuracy) & (t.accuracy <= t.accuracy_high)).all()
    assert ((t.log_loss_low <= t.log_loss) & (t.log_loss <= t.log_loss_high)).all()
    assert (t.n_eval_participants == 80).all() and (t.n_eval_pairs == 80 * 30).all()


def test_groups_with_different_traits_in_the_persona_simulation(persona_pairs):
    # left- and right-leaning personas reward opposite stances on controversial topics
    contro = persona_pairs.take(persona_pairs.frame["conversation_type"].eq("controversy guided").to_numpy())
    res = cross_group_accuracy(contro, "persona_lean", groups=["left", "right"], n_splits=5, n_boot=200, seed=1)
    acc = res.matrix()
    assert acc.loc["left", "left"] > acc.loc["right", "left"] + 0.1
    assert acc.loc["right", "right"] > acc.loc["left", "right"] + 0.1
    # stance weights have opposite signs in the two groups
    w = group_weights(contro, "persona_lean", groups=["left", "right"], n_boot=30, seed=1)
    stance = w[w.feature == "stance"].set_index("group")
    assert stance.loc["left", "low"] > 0 > stance.loc["right", "high"]
    # concise personas dislike length, detailed ones like it (whole study)
    w = group_weights(persona_pairs, "persona_communication_style", groups=["concise", "detailed"])
    length = w[w.feature == "log_length"].set_index("group")["coef"]
    assert length["concise"] < 0 < length["detailed"]


def test_evaluation_is_participant_disjoint(opposite):
    users = opposite.frame["user_id"].to_numpy()
    labels = opposite.frame["group"].to_numpy()
    folds = participant_folds(users, 4, strata=labels, seed=0)
    per_user = pd.Series(folds).groupby(users).nunique()
    assert (per_user == 1).all()  # a participant sits in one fold
    spread = pd.crosstab(pd.Series(folds).groupby(users).first(), pd.Series(labels).groupby(users).first())
    assert (spread.max() - spread.min() <= 1).all()  # each group spread evenly over folds
    res = cross_group_accuracy(opposite, "group", n_splits=4, n_boot=0, seed=0)
    assert res.folds.index.is_unique and set(res.folds) == {0, 1, 2, 3}


def test_idiosyncratic_tastes_cannot_leak_into_held_out_scores():
    # no shared preference at all: every participant has their own random weights
    pairs = planted_pairs(n_users=80, pairs_per_user=40, groups={"A": {}, "B": {}}, individual_sd=2.5, seed=2)
    pf = featurize_pairs(pairs, TextFeaturizer())
    memoriser = PersonalisedRewardModel(covariates=["stated_prefs_fluency"], user_offsets=True, alpha_users=1.0)
    res = cross_group_accuracy(pf, "group", model=memoriser, n_splits=4, n_boot=200, seed=0)
    t = res.table
    # nothing carries over to new people: every cell is a coin flip up to evaluation noise
    assert t.accuracy.between(0.42, 0.58).all() and abs(t.accuracy.mean() - 0.5) < 0.03
    # the same model scored on *seen* participants (a leaky split) looks good: the check has teeth
    rng = np.random.default_rng(0)
    seen = rng.random(len(pf)) < 0.75
    leaky = memoriser.fit(pf.take(seen)).score(pf.take(~seen))
    assert leaky > 0.7


def test_equalize_trains_every_group_on_the_same_number_of_participants():
    pairs = planted_pairs(n_users=90, pairs_per_user=10, groups={"A": {}, "B": {}, "C": {}}, seed=3)
    pairs = pairs[~((pairs.group == "C") & (pairs.user_id.str[-2:].astype(int) % 2 == 0))]  # C: half the people
    pf = featurize_pairs(pairs, TextFeaturizer())
    eq = cross_group_accuracy(pf, "group", n_splits=3, n_boot=0)
    sizes = eq.table.groupby("train_group")["n_train_participants"].first()
    assert sizes.nunique() == 1 and sizes.iloc[0] == pytest.approx(10, abs=1)
    free = cross_group_accuracy(pf, "group", n_splits=3, n_boot=0, equalize=False)
    sizes = free.table.groupby("train_group")["n_train_participants"].first()
    assert sizes["A"] == pytest.approx(20, abs=1) and sizes["C"] == pytest.approx(10, abs=1) and sizes[POOLED] > 45


def test_composition_of_feedback_moves_accuracy_towards_the_majority(opposite):
    r = composition_curve(opposite, "group", "A", "B", shares=[0, 0.25, 0.5, 0.75, 1], n_splits=4, n_boot=100, seed=0)
    acc = r.table.pivot(index="share_a", columns="eval_group", values="accuracy")
    loss = r.table.pivot(index="share_a", columns="eval_group", values="log_loss")
    assert list(acc.index) == [0, 0.25, 0.5, 0.75, 1]
    # more of A's feedback: better calibrated for A, worse for B, step by step
    assert loss["A"].is_monotonic_decreasing and loss["B"].is_monotonic_increasing
    assert acc.loc[1.0, "A"] - acc.loc[0.0, "A"] > 0.25 and acc.loc[0.0, "B"] - acc.loc[1.0, "B"] > 0.25
    assert r.table["n_train_participants"].nunique() == 1
    # evaluated on everyone, the balanced mix is best
    assert loss[POOLED].idxmin() == 0.5


def test_group_weights_recover_planted_signs_with_intervals(opposite):
    w = group_weights(opposite, "group", n_boot=40, seed=0).set_index(["group", "feature"])
    assert w.loc[("A", "if_enumeration"), "low"] > 0.5 and w.loc[("B", "if_enumeration"), "high"] < -0.5
    assert w.loc[("A", "if_refusal"), "high"] < 0 and w.loc[("B", "if_refusal"), "high"] < 0
    overall = group_weights(opposite, None)
    assert set(overall.group) == {POOLED} and overall.n_participants.iloc[0] == 160


def test_results_plot_and_embed_in_a_figure(opposite, tmp_path):
    res = cross_group_accuracy(opposite, "group", n_splits=3, n_boot=20, seed=0)
    fig = res.plot("log_loss", tmp_path / "m.png")
    assert (tmp_path / "m.png").stat().st_size > 5000 and len(fig.axes) == 2
    comp = composition_curve(opposite, "group", "A", "B", shares=[0, 1], n_splits=3, n_boot=20)
    comp.plot(path=tmp_path / "c.svg")
    assert (tmp_path / "c.svg").read_text().startswith("<?xml")
    with pytest.raises(ConfigError, match="must end in"):
        res.plot(path=tmp_path / "m.txt")


def test_clear_errors(opposite):
    pairs = planted_pairs(n_users=40, pairs_per_user=5, groups={"A": {}, "B": {}}, seed=4)
    with pytest.raises(ConfigError, match="no preference pairs"):
        cross_group_accuracy(pairs.iloc[:0], "group")
    with pytest.raises(ConfigError, match="unknown field 'colour'.*available: user_id, group"):
        cross_group_accuracy(pairs, "colour")
    small = pairs[~(pairs.group.eq("B") & ~pairs.user_id.isin(["p0001", "p0003", "p0005"]))]
    with pytest.raises(ConfigError, match="group 'B' has 3 participant.*at least 10"):
        cross_group_accuracy(small, "group", groups=["A", "B"])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(ConfigError, match="at least two groups"):
            cross_group_accuracy(small, "group")  # B dropped (with a warning), one group left
    assert any("dropping group" in str(w.message) for w in caught)
    with pytest.raises(ConfigError, match="no pairs for group.*'Z'"):
        cross_group_accuracy(pairs, "group", groups=["A", "Z"])
    with pytest.raises(ConfigError, match="must be at least the number of folds"):
        cross_group_accuracy(pairs, "group", min_participants=3, n_splits=5)
    with pytest.raises(ConfigError, match="user_id"):
        cross_group_accuracy(pairs.drop(columns="user_id"), "group")
    with pytest.raises(ConfigError, match="shares"):
        composition_curve(pairs, "group", "A", "B", shares=[0, 1.5])
    with pytest.raises(ConfigError, match="n_train_participants"):
        composition_curve(pairs, "group", "A", "B", n_train_participants=500, n_splits=2, min_participants=2)
    with pytest.raises(ConfigError, match="no model trained on 'C'"):
        cross_group_accuracy(opposite, "group", n_splits=3, n_boot=0).compare("A", "C")
    with pytest.raises(ConfigError, match="participants cannot be split"):
        participant_folds(["u", "v"], 3)
    assert isinstance(RewardModel(), RewardModel)
