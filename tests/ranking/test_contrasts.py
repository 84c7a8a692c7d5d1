"""Group contrasts, omnibus tests and multiple-testing control on data with known answers."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from pluralis.errors import ConfigError
from pluralis.ranking.battles import encode_battles
from pluralis.ranking.contrasts import GroupCells, adjust_pvalues, bt_lrt, group_contrasts, permutation_test
from pluralis.ranking.subgroups import subgroup_rankings

MODELS = ("m0", "m1", "m2", "m3", "m4")
ELO = np.log(10.0) / 400.0  # natural log-odds per Elo point


def simulate(
    seed: int,
    *,
    per_group: int = 60,
    battles_each: int = 10,
    planted: dict[str, dict[str, float]] | None = None,
    taste_sd: float = 0.3,
    groups: tuple[str, ...] = ("Female", "Male"),
) -> pd.DataFrame:
    """Bradley-Terry battles of participants in ``groups``; ``planted[group][model]`` adds Elo points."""
    rng = np.random.default_rng(seed)
    worth = np.array([200.0, 100.0, 0.0, -100.0, -200.0]) * ELO
    rows = []
    for g in groups:
        shift = np.array([(planted or {}).get(g, {}).get(m, 0.0) for m in MODELS]) * ELO
        for k in range(per_group):
            taste = rng.normal(0.0, taste_sd, len(MODELS))
            theta = worth + shift + taste
            a = rng.integers(0, len(MODELS), battles_each)
            b = (a + rng.integers(1, len(MODELS), battles_each)) % len(MODELS)
            p = 1.0 / (1.0 + np.exp(-(theta[a] - theta[b])))
            win = rng.random(battles_each) < p
            for x, y, w in zip(a, b, win):
                rows.append((MODELS[x], MODELS[y], "model_a" if w else "model_b", f"{g}-{k}", g))
    return pd.DataFrame(rows, columns=["model_a", "model_b", "winner", "user_id", "gender"])


# --- the likelihood-ratio test against a direct logistic regression ---------------------------------


def test_lrt_matches_statsmodels_logit():
    import statsmodels.api as sm

    b = simulate(3, per_group=30, planted={"Female": {"m1": 300.0}}, groups=("Female", "Male", "Other"))
    arr = encode_battles(b)
    g = pd.factorize(b["gender"])[0]
    ours = bt_lrt(arr, g)
    n = arr.n_models
    X = np.zeros((arr.n_battles, n))
    X[np.arange(arr.n_battles), arr.a] = 1.0
    X[np.arange(arr.n_battles), arr.b] = -1.0
    X = X[:, 1:]  # reference model: worth 0
    y = (arr.outcome == 0).astype(float)
    pooled = sm.Logit(y, X).fit(disp=0)
    Xg = np.concatenate([X * (g == k)[:, None] for k in range(3)], axis=1)
    full = sm.Logit(y, Xg).fit(disp=0)
    lr = 2.0 * (full.llf - pooled.llf)
    assert ours["df"] == (3 - 1) * (n - 1) == Xg.shape[1] - X.shape[1]
    assert ours["loglik_pooled"] == pytest.approx(pooled.llf, abs=1e-7)
    assert ours["loglik_groups"] == pytest.approx(full.llf, abs=1e-7)
    assert ours["statistic"] == pytest.approx(lr, abs=1e-6)
    from scipy.stats import chi2

    assert ours["p_value"] == pytest.approx(chi2.sf(lr, ours["df"]), rel=1e-6)
    assert ours["p_value"] < 0.01  # the planted difference


def test_lrt_ties_are_left_out_or_halved():
    b = simulate(4, per_group=20)
    b.loc[b.index[::7], "winner"] = "tie"
    arr = encode_battles(b)
    g = pd.factorize(b["gender"])[0]
    excl = bt_lrt(arr, g)
    assert excl["n_battles"] == int((b["winner"] != "tie").sum())
    half = bt_lrt(arr, g, ties="half")
    assert half["n_battles"] == len(b) and half["df"] == excl["df"]
    with pytest.raises(ConfigError):
        bt_lrt(arr, g, ties="count")


# --- multiple testing ---------------------------------------------------------------------------------


def test_holm_and_bh_columns_match_statsmodels():
    from statsmodels.stats.multitest import multipletests

    b = simulate(5, per_group=25, groups=("a", "b", "c"), planted={"a": {"m2": 200.0}})
    res = group_contrasts(b, "gender", rounds=200, permutations=0, min_participants=5, seed=1)
    c = res.contrasts
    assert len(c) == 3 * len(MODELS)  # 3 pairs of groups x 5 models: one family
    assert np.allclose(c["p_holm"], multipletests(c["p_value"], method="holm")[1])
    assert np.allclose(c["p_bh"], multipletests(c["p_value"], method="fdr_bh")[1])
    assert (c["significant"] == (c["p_holm"] < 0.05)).all()
    assert adjust_pvalues([0.2, np.nan, 0.01], "holm")[1] != adjust_pvalues([0.2, np.nan, 0.01], "holm")[1]
    with pytest.raises(ConfigError):
        adjust_pvalues([0.1], "bonferroni-ish")


# --- error rates --------------------------------------------------------------------------------------


def test_null_data_family_wise_error_at_most_ten_percent():
    """20 studies without group differences: Holm-controlled false positives in at most 2 of them."""
    false_positive = 0
    lrt_rejections = 0
    for seed in range(20):
        b = simulate(100 + seed, per_group=40)
        res = group_contrasts(b, "gender", rounds=200, permutations=0, min_participants=5, seed=seed)
        false_positive += bool(res.contrasts["significant"].any())
        lrt_rejections += bool(res.omnibus.set_index("test").loc["bt_lrt", "p_value"] < 0.05)
    assert false_positive <= 2
    assert lrt_rejections <= 3


def test_planted_difference_is_found_at_least_eighty_percent():
    """Women rate m3 250 Elo higher: found (Holm-significant, right sign, CI covering it) in >= 16 of 20."""
    found = covered = 0
    for seed in range(20):
        b = simulate(200 + seed, per_group=60, planted={"Female": {"m3": 250.0}})
        res = group_contrasts(b, "gender", method="bt", penalty=None, rounds=200, permutations=0, min_participants=5)
        c = res.contrasts.set_index("model")
        row = c.loc["m3"]
        assert (row["group"], row["other"]) == ("Female", "Male")
        found += bool(row["significant"]) and row["difference"] > 0
        # centred worths: m3's planted +250 shows as +250 * 4/5 relative to the group's mean model
        covered += row["lo"] <= 200.0 <= row["hi"]
        others = c.drop(index="m3")
        assert not others["significant"].all()
    assert found >= 16
    assert covered >= 16


def test_contrast_finds_what_rank_shifts_miss():
    """The issue's case: a real group difference that moves no model's rank significantly."""
    b = simulate(7, per_group=80, planted={"Female": {"m0": 200.0}})  # the top model, even more so for women
    shifts = subgroup_rankings(b, "gender", method="bt", rounds=200, min_participants=5)
    assert not shifts.table["significant"].fillna(False).any()
    res = group_contrasts(b, "gender", method="bt", rounds=200, permutations=200, min_participants=5)
    top = res.contrasts.set_index("model").loc["m0"]
    assert bool(top["significant"]) and top["difference"] > 0
    omni = res.omnibus.set_index("test")
    assert omni.loc["bt_lrt", "p_value"] < 0.001
    assert omni.loc["permutation", "p_value"] < 0.01


# --- the permutation test and the joint bootstrap ---------------------------------------------------------


def test_permutation_test_is_calibrated_and_powerful():
    null_p = [
        permutation_test(
            GroupCells(simulate(300 + s, per_group=25), "gender", ["Female", "Male"], "win_rate"),
            permutations=99,
            seed=s,
        )["p_value"]
        for s in range(10)
    ]
    assert sum(p < 0.05 for p in null_p) <= 2
    planted = simulate(9, per_group=25, planted={"Male": {"m4": 400.0}})
    out = permutation_test(GroupCells(planted, "gender", ["Female", "Male"], "win_rate"), permutations=199)
    assert out["p_value"] <= 0.01 and out["scheme"] == "participants"


def test_field_varying_within_participants_keeps_pairing():
    b = simulate(11, per_group=40)
    rng = np.random.default_rng(0)
    b["conversation_type"] = rng.choice(["unguided", "values guided"], len(b))
    # plant: in values-guided conversations m4 wins every battle
    vg = (b["conversation_type"] == "values guided") & ((b["model_a"] == "m4") | (b["model_b"] == "m4"))
    b.loc[vg, "winner"] = np.where(b.loc[vg, "model_a"] == "m4", "model_a", "model_b")
    res = group_contrasts(b, "conversation_type", method="win_rate", rounds=200, permutations=99, min_participants=5)
    m4 = res.contrasts.set_index("model").loc["m4"]
    assert m4["group"] == "unguided" and m4["difference"] < -0.3 and bool(m4["significant"])
    perm = res.omnibus.set_index("test").loc["permutation"]
    assert "within participants" in perm["note"] and perm["p_value"] <= 0.02


def test_contrast_draws_are_differences_of_joint_draws_and_groups_table():
    b = simulate(12, per_group=20)
    res = group_contrasts(
        b, "gender", method="prc", rounds=150, interval="percentile", permutations=0, min_participants=5, seed=3
    )
    f, m = res.draws[("gender", "Female")], res.draws[("gender", "Male")]
    diff = f - m
    c = res.contrasts.set_index("model")
    lo = np.quantile(diff, 0.025, axis=0)
    assert np.allclose(c.loc[list(MODELS), "lo"], lo)
    g = res.groups.set_index(["group", "model"])
    assert np.allclose(c["score_group"], g.loc["Female"].loc[c.index, "score"])
    assert set(res.groups.columns) >= {"score", "lo", "hi", "n_participants"}
    # PRC scores of each group sum to 1 in every round
    assert np.allclose(f.sum(axis=1), 1.0) and np.allclose(m.sum(axis=1), 1.0)


@pytest.mark.parametrize("method", ["prc", "win_rate", "mean_score", "style_bt"])
def test_contrasts_for_other_aggregators(method):
    rng = np.random.default_rng(1)
    rows = []
    for k in range(60):
        g = "A" if k < 30 else "B"
        for i in range(6):
            sx = rng.normal(62 if g == "A" else 50, 10)
            sy = rng.normal(50 if g == "A" else 62, 10)
            rows.append(
                (
                    "x",
                    "y",
                    sx,
                    sy,
                    "model_a" if sx > sy else "model_b",
                    f"u{k}",
                    f"i{k}-{i}",
                    g,
                    "word " * int(rng.integers(5, 50)),
                    "word " * int(rng.integers(5, 50)),
                )
            )
    b = pd.DataFrame(
        rows,
        columns=[
            "model_a",
            "model_b",
            "score_a",
            "score_b",
            "winner",
            "user_id",
            "interaction_id",
            "g",
            "model_response_a",
            "model_response_b",
        ],
    )
    res = group_contrasts(b, "g", method=method, rounds=100, permutations=49, min_participants=5)
    x = res.contrasts.set_index("model").loc["x"]
    assert x["difference"] > 0 and bool(x["significant"])
    assert res.omnibus.set_index("test").loc["permutation", "p_value"] <= 0.05


def test_order_based_methods_and_missing_participants_are_refused():
    b = simulate(1, per_group=10)
    with pytest.raises(ConfigError, match="order"):
        group_contrasts(b, "gender", method="elo", rounds=10, min_participants=2)
    with pytest.raises(ConfigError, match="user_id"):
        group_contrasts(b.drop(columns="user_id"), "gender", rounds=10, min_participants=0)


def test_convergence_warning_names_the_group():
    b = simulate(2, per_group=15)
    sel = (b["gender"] == "Female") & ((b["model_a"] == "m4") | (b["model_b"] == "m4"))
    b.loc[sel, "winner"] = np.where(b.loc[sel, "model_a"] == "m4", "model_a", "model_b")  # m4 never loses
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        subgroup_rankings(b, "gender", method="bt", penalty=None, rounds=5, min_participants=5)
    msgs = [str(w.message) for w in seen if "did not converge" in str(w.message)]
    assert msgs and all("group gender = Female" in m for m in msgs)


def test_summary_and_json_panel():
    import json

    b = simulate(13, per_group=40, planted={"Male": {"m2": 300.0}})
    res = group_contrasts(b, "gender", rounds=150, permutations=49, min_participants=5)
    s = res.summary().iloc[0]
    assert s["by"] == "gender" and s["n_groups"] == 2 and s["n_contrasts"] == len(MODELS)
    assert s["top_model"] == "m2" and s["lrt_p"] < 0.01 and s["n_significant"] >= 1
    panel = json.loads(json.dumps(res.to_dict()))
    assert panel["summary"][0]["top_model"] == "m2" and panel["settings"]["method"] == "bt"
    assert any(r["model"] == "m2" for r in panel["significant"])


def test_prc_prior_would_bias_contrasts_of_unequal_groups():
    """PRC's alpha shrinks a small group more: the default (prior-free) contrasts stay unbiased under the null."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
    from coverage_ranking import MODELS as M21
    from coverage_ranking import QUALITY
    from coverage_ranking import simulate as prism_like

    rng = np.random.default_rng(3)
    bottom = M21[int(np.argmin(QUALITY))]
    flagged = {"estimator": 0, "population": 0}
    for _ in range(4):
        arr = prism_like(240, rng)
        b = pd.DataFrame(
            {
                "model_a": np.array(M21)[arr.a],
                "model_b": np.array(M21)[arr.b],
                "winner": np.array(["model_a", "model_b", "tie"])[arr.outcome],
                "user_id": arr.cluster,
            }
        ).assign(g=lambda d: np.where(d["user_id"] < 40, "small", "large"))
        for target in flagged:
            res = group_contrasts(
                b,
                "g",
                method="prc",
                target=target,
                rounds=150,
                interval="percentile",
                permutations=0,
                lrt=False,
                min_participants=5,
            )
            flagged[target] += bool(res.contrasts.set_index("model").loc[bottom, "p_value"] < 0.05)
    assert flagged["estimator"] >= 3 and flagged["population"] <= 1


def test_reference_group_orders_every_contrast_and_an_unknown_one_fails_before_the_bootstrap(monkeypatch):
    b = simulate(5, per_group=15, groups=("Female", "Male", "Other"))
    res = group_contrasts(
        b, "gender", method="win_rate", rounds=60, permutations=0, min_participants=5, reference="Male"
    )
    assert set(res.contrasts["other"]) == {"Male"} and set(res.contrasts["group"]) == {"Female", "Other"}

    def no_bootstrap(*args, **kwargs):
        raise AssertionError("the bootstrap ran before the reference group was checked")

    monkeypatch.setattr(GroupCells, "scores", no_bootstrap)
    with pytest.raises(ConfigError, match="reference group 'Nobody' is not among the groups of gender"):
        group_contrasts(
            b, "gender", method="win_rate", rounds=60, permutations=0, min_participants=5, reference="Nobody"
        )
