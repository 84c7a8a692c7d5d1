"""Krippendorff's alpha: cross-checked against the krippendorff package; planted group agreement recovered."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pluralis.errors import ConfigError, DataValidationError
from pluralis.ranking.agreement import (
    AgreementData,
    agreement,
    choice_agreement,
    choice_judgements,
    krippendorff_alpha,
    rating_agreement,
)


def long_form(matrix: np.ndarray) -> pd.DataFrame:
    """Raters x units matrix (NaN = missing) as one row per judgement."""
    r, u = np.nonzero(~np.isnan(matrix))
    return pd.DataFrame({"rater": r, "unit": u, "value": matrix[r, u]})


@pytest.mark.parametrize("level", ["nominal", "ordinal", "interval"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_alpha_matches_krippendorff_package(level, seed):
    krippendorff = pytest.importorskip("krippendorff")
    rng = np.random.default_rng(seed)
    truth = rng.integers(1, 6, size=40)
    m = truth[None, :] + rng.integers(-1, 2, size=(7, 40)) * (rng.random((7, 40)) < 0.4)
    m = np.clip(m, 1, 5).astype(float)
    m[rng.random(m.shape) < 0.3] = np.nan  # missing judgements
    expected = krippendorff.alpha(reliability_data=m, level_of_measurement=level)
    ours = krippendorff_alpha(long_form(m), unit="unit", rater="rater", value="value", level=level)
    assert ours == pytest.approx(expected, abs=1e-12)


def test_nominal_labels_and_text_values():
    krippendorff = pytest.importorskip("krippendorff")
    m = np.array(
        [[1, 2, 3, 3, 2, 1, 4, 1, 2, np.nan], [1, 2, 3, 3, 2, 2, 4, 1, 2, 5], [np.nan, 3, 3, 3, 2, 3, 4, 2, 2, 5]]
    )
    d = long_form(m)
    d["value"] = d["value"].map({1: "a", 2: "b", 3: "c", 4: "d", 5: "e"})
    expected = krippendorff.alpha(reliability_data=m, level_of_measurement="nominal")
    assert krippendorff_alpha(d, unit="unit", rater="rater", value="value", level="nominal") == pytest.approx(expected)
    with pytest.raises(DataValidationError, match="numbers"):
        krippendorff_alpha(d, unit="unit", rater="rater", value="value", level="interval")
    with pytest.raises(ConfigError):
        krippendorff_alpha(d, unit="unit", rater="rater", value="value", level="ratio-ish")


def test_resampled_rater_is_never_paired_with_itself():
    d = pd.DataFrame({"u": [1, 1, 2, 2], "r": ["a", "b", "a", "b"], "v": [1.0, 5.0, 2.0, 4.0]})
    ad = AgreementData(d, unit="u", rater="r", value="v", level="interval")
    # rater a drawn twice, b not at all: no pairable values (a copy of a is not a second rater)
    assert np.isnan(ad.alpha(np.array([[2.0, 0.0]]))[0])
    # every rater drawn twice: the same pairs, each counted four times -> (almost) the same alpha
    big = long_form(np.random.default_rng(0).integers(1, 6, size=(6, 30)).astype(float))
    adb = AgreementData(big, unit="unit", rater="rater", value="value", level="interval")
    once, twice = adb.alpha(np.ones((1, 6)))[0], adb.alpha(np.full((1, 6), 2.0))[0]
    assert twice == pytest.approx(once, abs=0.01) and twice != once


def test_several_values_of_one_rater_form_one_soft_value():
    d = pd.DataFrame({"u": [1, 1, 1, 2, 2, 2], "r": ["a", "a", "b", "a", "b", "b"], "v": list("xyxyyy")})
    ad = AgreementData(d, unit="u", rater="r", value="v", level="nominal")
    assert ad.n_obs == 4  # (unit, rater) pairs
    # unit 1: a = {x: .5, y: .5}, b = x; unit 2: a = y, b = y -> one soft disagreement of 1/2
    alpha = ad.alpha(np.ones((1, 2)))[0]
    # coincidences: unit 1 o_xx = 1, o_xy = o_yx = .5; unit 2 o_yy = 2 -> value counts n = (1.5, 2.5)
    n = np.array([1.5, 2.5])
    De = (4.0**2 - (n**2).sum()) / (4.0 * 3.0)
    Do = 1.0 / 4.0  # mass .5 + .5 of disagreeing coincidences over 4 values
    assert alpha == pytest.approx(1.0 - Do / De) == pytest.approx(0.6)


def planted_ratings(seed: int = 0, items: int = 40, per_group: int = 15) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    truth = rng.normal(0.0, 1.0, items)
    rows = []
    for g, sd in (("calm", 0.5), ("noisy", 1.5)):
        for k in range(per_group):
            for i in range(items):
                rows.append((i, f"{g}{k}", truth[i] + rng.normal(0.0, sd), g))
    return pd.DataFrame(rows, columns=["item", "user_id", "v", "temper"])


def test_within_group_alpha_recovers_planted_reliability():
    d = planted_ratings()
    res = agreement(d, unit="item", value="v", by="temper", rounds=200, seed=1)
    w = res.within().set_index("group")
    # alpha = var(truth) / (var(truth) + noise var), with the items' realised spread of truths
    s2 = np.var(np.random.default_rng(0).normal(0.0, 1.0, 40), ddof=1)
    for g, expected in (("calm", s2 / (s2 + 0.25)), ("noisy", s2 / (s2 + 2.25))):
        assert w.loc[g, "lo"] - 0.03 <= expected <= w.loc[g, "hi"] + 0.03
        assert w.loc[g, "alpha"] == pytest.approx(expected, abs=0.08)
    assert w.loc["calm", "lo"] > w.loc["noisy", "hi"]
    between = res.between().iloc[0]
    assert w.loc["noisy", "alpha"] < between["alpha"] < w.loc["calm", "alpha"]


def test_between_groups_exposes_systematic_disagreement():
    rng = np.random.default_rng(3)
    truth = rng.normal(0.0, 1.0, 30)
    rows = [
        (i, f"{g}{k}", (truth[i] if g == "a" else -truth[i]) + rng.normal(0, 0.3), g)
        for g in ("a", "b")
        for k in range(10)
        for i in range(30)
    ]
    d = pd.DataFrame(rows, columns=["item", "user_id", "v", "g"])
    res = agreement(d, unit="item", value="v", by="g", rounds=100, interval="bca")
    t = res.table.set_index(["kind", "group"])
    assert t.loc[("within", "a"), "alpha"] > 0.8 and t.loc[("within", "b"), "alpha"] > 0.8
    assert t.loc[("between", "a"), "hi"] < 0  # the groups contradict each other
    assert t.loc[("all", "(all)"), "alpha"] < 0.2


def test_choice_agreement_on_battles_with_sides_swapped():
    rows = []
    rng = np.random.default_rng(0)
    for k in range(40):
        g = "young" if k < 20 else "old"
        for pair in (("x", "y"), ("y", "z"), ("x", "z")):
            a, b = pair if rng.random() < 0.5 else pair[::-1]
            # young: y > z > x; old: the reverse (labels vary across pairs within a group)
            pref = {"y": 2, "z": 1, "x": 0} if g == "young" else {"y": 0, "z": 1, "x": 2}
            noisy = rng.random() < 0.05
            a_wins = (pref[a] > pref[b]) != noisy
            rows.append((a, b, "model_a" if a_wins else "model_b", f"u{k}", g))
    b = pd.DataFrame(rows, columns=["model_a", "model_b", "winner", "user_id", "age"])
    j = choice_judgements(b)
    assert set(j["pair"]) == {"x | y", "y | z", "x | z"}
    res = choice_agreement(b, by="age", rounds=100)
    t = res.table.set_index(["kind", "group"])["alpha"]
    assert t[("within", "old")] > 0.5 and t[("within", "young")] > 0.5
    assert t[("between", "old")] < 0


def test_rating_agreement_from_a_study_and_group_checks(small_study):
    from pluralis.ranking.battles import extract_battles

    frames = small_study.frames()
    battles = extract_battles(frames.utterances)
    res = rating_agreement(battles, by="gender", survey=frames.survey, rounds=50, min_raters=3)
    assert {"all", "within"} <= set(res.table["kind"])
    assert res.table["alpha"].between(-1, 1).all()
    b = battles.assign(mood=np.where(np.arange(len(battles)) % 2, "a", "b"))
    with pytest.raises(ConfigError, match="rater attributes"):
        choice_agreement(b, by="mood", rounds=0)
