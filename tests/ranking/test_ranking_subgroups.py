"""Subgroup rankings, rank shifts and their significance."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pluralis.errors import ConfigError
from pluralis.ranking.battles import extract_battles
from pluralis.ranking.subgroups import OVERALL, attach_fields, resolve_field, subgroup_rankings
from pluralis.ranking.uncertainty import bootstrap


@pytest.fixture(scope="module")
def planted():
    """A study where US participants dislike palm-2 and unguided conversations favour claude-2."""
    from pluralis.data.synthetic import generate_study

    study = generate_study(
        n_participants=500,
        seed=21,
        with_metadata=False,
        group_shifts={("location_special_region", "US"): {"palm-2": -1.5}},
        type_shifts={"unguided": {"claude-2": 1.2}},
    )
    frames = study.frames()
    return extract_battles(frames.utterances), frames.survey


def test_planted_shifts_are_found_and_significant(planted):
    battles, survey = planted
    res = subgroup_rankings(battles, ["special_region", "conversation_type"], survey=survey, rounds=400, seed=1)
    t = res.table.set_index(["by", "group", "model"])
    palm = t.loc[("location_special_region", "US", "palm-2")]
    assert palm["shift"] <= -3 and bool(palm["significant"]) and palm["direction"] == "▽"
    claude = t.loc[("conversation_type", "unguided", "claude-2")]
    assert claude["shift"] >= 3 and bool(claude["significant"]) and claude["direction"] == "▲"
    # few false alarms elsewhere in the large US group (expected ~5% at the 95% level)
    us = res.table[(res.table["group"] == "US") & (res.table["model"] != "palm-2")]
    assert us["significant"].mean() <= 0.25


def test_overall_rows_and_joint_bootstrap_agree_with_plain_bootstrap(planted):
    battles, survey = planted
    res = subgroup_rankings(battles, "conversation_type", rounds=100, seed=3)
    plain = bootstrap(battles, "prc", rounds=100, seed=3)
    assert np.allclose(res.overall.samples, plain.samples)
    overall = res.table[res.table["by"] == OVERALL]
    assert (overall["shift"] == 0).all() and len(overall) == 21
    assert set(res.table["group"]) == {OVERALL, "unguided", "values guided", "controversy guided"}
    assert res.ranks_wide().shape == (21, 4)


def test_shift_sign_convention_and_absent_models():
    # overall x > y > z (from group "a"); group "b" reverses y and z and never sees w
    rows = []
    for k in range(30):
        rows += [
            ("x", "y", "model_a", f"a{k}", "a"),
            ("y", "z", "model_a", f"a{k}", "a"),
            ("x", "z", "model_a", f"a{k}", "a"),
            ("w", "x", "model_b", f"a{k}", "a"),
        ]
    for k in range(10):
        rows += [
            ("x", "y", "model_a", f"b{k}", "b"),
            ("z", "y", "model_a", f"b{k}", "b"),
            ("x", "z", "model_a", f"b{k}", "b"),
        ]
    b = pd.DataFrame(rows, columns=["model_a", "model_b", "winner", "user_id", "g"])
    res = subgroup_rankings(b, "g", rounds=200, min_participants=5, seed=0)
    t = res.table[res.table["group"] == "b"].set_index("model")
    assert "w" not in t.index  # not part of group b's tournament
    assert t.loc["x", "rank"] == 1 and t.loc["x", "overall_rank"] == 1 and t.loc["x", "shift"] == 0
    assert t.loc["z", "shift"] == 1 and t.loc["z", "direction"] == "▲"
    assert t.loc["y", "shift"] == -1 and t.loc["y", "direction"] == "▽"
    assert bool(t.loc["z", "significant"])
    assert len(res.shifts()) == 2


def test_small_groups_skipped_and_values_excluded():
    b = pd.DataFrame(
        {
            "model_a": ["x"] * 30,
            "model_b": ["y"] * 30,
            "winner": ["model_a"] * 30,
            "user_id": [f"u{i}" for i in range(30)],
            "g": ["big"] * 25 + ["small"] * 3 + ["Prefer not to say"] * 2,
        }
    )
    res = subgroup_rankings(b, "g", rounds=10, min_participants=5, exclude=["Prefer not to say"])
    assert set(res.table["group"]) == {OVERALL, "big"}
    assert ("g", "small") in res.skipped and ("g", "Prefer not to say") not in res.skipped


def test_battle_unit_and_point_estimates_only(planted):
    battles, survey = planted
    a = subgroup_rankings(battles, "conversation_type", rounds=50, unit="battles", seed=0)
    b = subgroup_rankings(battles, "conversation_type", rounds=0)
    assert np.allclose(a.table["score"], b.table["score"])
    assert b.table["significant"].isna().all()
    assert a.table["shift_lo"].notna().any()


def test_ratings_methods_and_elo_rules(planted):
    battles, survey = planted
    res = subgroup_rankings(battles, "gender", survey=survey, method="mean_normalized_score", rounds=50)
    assert {"Male", "Female"} <= set(res.table["group"])
    assert res.table["score_lo"].notna().any()
    with pytest.raises(ConfigError, match="Elo"):
        subgroup_rankings(battles, "gender", survey=survey, method="elo", rounds=10)
    pts = subgroup_rankings(battles, "gender", survey=survey, method="elo", rounds=0)
    assert len(pts.table) > 21


def test_bt_subgroups_with_anchor(planted):
    battles, survey = planted
    res = subgroup_rankings(battles, "conversation_type", method="bt", rounds=30, anchor={"flan-t5-xxl": 800})
    flan = res.table[res.table["model"] == "flan-t5-xxl"]
    assert np.allclose(flan["score"], 800)


def test_field_aliases_and_errors():
    survey = pd.DataFrame(
        columns=[
            "user_id",
            "location_birth_region",
            "ethnicity_simplified",
            "religion_simplified",
            "location_special_region",
            "age",
        ]
    )
    assert resolve_field("birth_region", survey) == "location_birth_region"
    assert resolve_field("ethnicity", survey) == "ethnicity_simplified"
    assert resolve_field("religion", survey) == "religion_simplified"
    assert resolve_field("special_region", survey) == "location_special_region"
    assert resolve_field("age_band", survey) == "age"
    with pytest.raises(ConfigError, match="unknown field 'shoe_size'"):
        resolve_field("shoe_size", survey)
    b = pd.DataFrame(
        {"model_a": ["x"], "model_b": ["y"], "winner": ["tie"], "user_id": ["u"], "conversation_id": ["c"]}
    )
    conv = pd.DataFrame({"conversation_id": ["c"], "topic": ["aliens"]})
    out, names = attach_fields(b, ["topic"], conversations=conv)
    assert out["topic"].tolist() == ["aliens"] and names == ["topic"]
    with pytest.raises(ConfigError, match="unit"):
        subgroup_rankings(b, "topic", conversations=conv, unit="people")


def test_intersectional_grouping(planted):
    battles, survey = planted
    res = subgroup_rankings(battles, [("gender", "special_region")], survey=survey, rounds=20, min_participants=30)
    assert set(res.table["by"]) == {OVERALL, "gender × location_special_region"}
    assert (
        "Female / US" in set(res.table["group"]) or ("gender × location_special_region", "Female / US") in res.skipped
    )


def test_subgroup_intervals_follow_the_bootstrap_interval_options(planted):
    battles, survey = planted
    res = subgroup_rankings(battles, "special_region", survey=survey, rounds=120, seed=4, interval="bca")
    plain = bootstrap(battles, "prc", rounds=120, seed=4, interval="bca")
    overall = res.table[res.table["by"] == OVERALL].set_index("model")
    s = plain.summary().set_index("model")
    assert np.allclose(overall.loc[s.index, "score_lo"], s["score_lo"])
    assert np.allclose(overall.loc[s.index, "score_hi"], s["score_hi"])
    us = res.groups[("location_special_region", "US")]
    assert us.interval == "bca" and us.interval_samples is not None and us.jackknife is not None
    est = subgroup_rankings(battles, "special_region", survey=survey, rounds=120, seed=4, target="estimator")
    e = est.table[est.table["group"] == "US"].set_index("model")
    q = np.quantile(est.groups[("location_special_region", "US")].samples, 0.025, axis=0)
    assert np.allclose(e.loc[list(est.groups[("location_special_region", "US")].models), "score_lo"], q)
    assert res.table.attrs["interval"] == "bca" and est.table.attrs["target"] == "estimator"


@settings(max_examples=100, deadline=None)
@given(st.lists(st.one_of(st.integers(0, 90), st.none()), min_size=1, max_size=60))
def test_quantile_groups_are_pandas_qcut_labelled_by_their_ranges(values):
    from pluralis.ranking.subgroups import quantile_groups

    s = pd.Series(values, dtype=float)
    got = quantile_groups(s)
    assert got.isna().equals(s.isna())
    if s.isna().all():
        return
    ranges = []
    for label, members in s.groupby(got):
        lo, hi = members.min(), members.max()
        assert label == (f"{lo:g}" if lo == hi else f"{lo:g}–{hi:g}")
        ranges.append((lo, hi))
    ranges.sort()
    # at most four groups, each a run of values that no other group's range overlaps
    assert len(ranges) <= 4 and all(a[1] < b[0] for a, b in zip(ranges, ranges[1:]))
    if len(np.unique(np.quantile(s.dropna(), [0, 0.25, 0.5, 0.75, 1]))) == 5:
        # distinct quantiles: the same partition as pandas' quantile cut (tied ones: pandas merges the lowest
        # group into the next, this keeps it)
        pairs = pd.DataFrame({"got": got, "ref": pd.qcut(s, 4, labels=False)}).dropna()
        assert pairs.groupby("got")["ref"].nunique().eq(1).all() and pairs.groupby("ref")["got"].nunique().eq(1).all()


def test_a_numeric_field_is_ranked_by_quantile_groups_not_one_group_per_value():
    # QA: --by on a numeric field (age in years) gave one group per value: dozens of groups, all too small
    rng = np.random.default_rng(3)
    users = [f"u{i}" for i in range(200)]
    survey = pd.DataFrame({"user_id": users, "age_years": rng.integers(18, 80, len(users))})
    n = 4000
    battles = pd.DataFrame(
        {
            "model_a": rng.choice(["x", "y", "z"], n),
            "model_b": "w",
            "winner": rng.choice(["model_a", "model_b", "tie"], n),
            "user_id": rng.choice(users, n),
        }
    )
    with pytest.warns(UserWarning, match=r"age_years: \d+ distinct numeric values, grouped by quantile"):
        res = subgroup_rankings(battles, "age_years", survey=survey, rounds=20, min_participants=20)
    groups = res.table.loc[res.table["by"] == "age_years", "group"].unique()
    assert len(groups) == 4 and all("–" in g for g in groups)
    # a numeric field of few values keeps them as they are
    survey["wave"] = rng.integers(1, 4, len(users))
    res = subgroup_rankings(battles, "wave", survey=survey, rounds=20, min_participants=20)
    assert sorted(res.table.loc[res.table["by"] == "wave", "group"].unique()) == [1, 2, 3]
