"""Post-stratification, raking (IPF), trimming, census rebalancing and weighted rankings."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pluralis.census import targets as census
from pluralis.census.representativeness import (
    census_categories,
    effective_sample_size,
    representativeness,
    total_variation_distance,
)
from pluralis.census.weights import (
    EmptyCellError,
    census_rebalance,
    census_weights,
    poststratify,
    prism_rebalance_pool,
    rake,
    row_weights,
    trim_weights,
)
from pluralis.errors import ConfigError


@pytest.fixture(scope="module")
def survey():
    from pluralis.data.synthetic import generate_study

    return generate_study(n_participants=700, seed=5, with_metadata=False).frames().survey


@pytest.fixture(scope="module")
def us(survey):
    return survey[survey["study_locale"] == "us"].reset_index(drop=True)


def _weighted_shares(cats, weights, var):
    w = pd.Series(weights.to_numpy(), index=cats.index)
    return w.groupby(cats[var].to_numpy()).sum() / w.sum()


# --- representativeness --------------------------------------------------------------------------


def test_census_categories_remap_as_prism():
    s = pd.DataFrame(
        {
            "user_id": ["a", "b", "c", "d", "e"],
            "age": ["18-24 years old", "Prefer not to say", "65+ years old", "45-54 years old", "25-34 years old"],
            "gender": ["Male", "Female", "Non-binary / third gender", "Female", "Male"],
            "ethnicity_categorised": [
                "Hispanic / Latino",
                "White",
                "Asian",
                "Indigenous / First Peoples",
                "Prefer not to say",
            ],
        }
    )
    cats = census_categories(s, "US")
    assert cats.loc["a"].tolist() == ["18-24 years old", "Male", "Other"]
    assert pd.isna(cats.loc["b", "age"]) and pd.isna(cats.loc["c", "gender"]) and pd.isna(cats.loc["e", "ethnicity"])
    assert cats.loc["d", "ethnicity"] == "Other"
    detailed = census_categories(s, "US", ethnicity="detailed")
    assert detailed.loc["a", "ethnicity"] == "Hispanic"
    # UK has no Hispanic census category: the detailed scheme stays coarse there.
    assert census_categories(s, "UK", ethnicity="detailed").loc["a", "ethnicity"] == "Other"


def test_representativeness_report(us):
    rep = representativeness(us, "US")
    joint = rep.table[rep.table["level"] == "joint"]
    assert len(joint) == 60
    assert joint["observed_share"].sum() == pytest.approx(1.0)
    assert joint["n_observed"].sum() == rep.n
    assert rep.n + rep.n_unclassified == len(us)
    assert rep.ess == rep.n  # unweighted
    assert set(rep.tvd) == {"joint", "age", "gender", "ethnicity"}
    assert rep.tvd["joint"] >= rep.tvd["age"] - 1e-12  # a margin can't be further than the joint
    age = rep.table[rep.table["level"] == "age"].set_index("category")
    assert age["difference_pp"].sum() == pytest.approx(0.0, abs=1e-9)


def test_raking_reproduces_census_margins_to_1e6(us):
    res = census_weights(us, "US", on_empty="renormalise")
    assert res.converged and res.max_margin_error < 1e-6
    cats = census_categories(us, "US")
    targets = census.margins("US")
    for var in ("age", "gender", "ethnicity"):
        got = _weighted_shares(cats, res.weights, var).reindex(targets[var].index, fill_value=0.0)
        np.testing.assert_allclose(got.to_numpy(), targets[var].to_numpy(), atol=1e-6)
    rep = representativeness(us, "US", weights=res.weights)
    assert rep.tvd["age"] < 1e-6 and rep.tvd["gender"] < 1e-6 and rep.tvd["ethnicity"] < 1e-6
    assert rep.ess < rep.n  # weighting costs effective sample size
    assert res.weights[res.excluded].eq(0).all()
    assert res.weights[res.weights > 0].mean() == pytest.approx(1.0)


def test_raking_matches_ipfn(us):
    ipfn = pytest.importorskip("ipfn.ipfn")
    cats = census_categories(us, "US").dropna()
    targets = census.margins("US")
    res = rake(cats.reset_index(), {v: targets[v] for v in ("age", "gender", "ethnicity")}, tol=1e-12)
    levels = [list(targets[v].index) for v in ("age", "gender", "ethnicity")]
    codes = [pd.Index(levels[k]).get_indexer(cats[v]) for k, v in enumerate(("age", "gender", "ethnicity"))]
    seed = np.zeros([len(x) for x in levels])
    np.add.at(seed, tuple(codes), 1.0)
    n = len(cats)
    aggregates = [targets[v].to_numpy() * n for v in ("age", "gender", "ethnicity")]
    fitted = ipfn.ipfn(seed.copy(), aggregates, [[0], [1], [2]], convergence_rate=1e-14, max_iteration=5000).iteration()
    ours = np.zeros_like(seed)
    np.add.at(ours, tuple(codes), res.weights.reindex(cats.index).to_numpy())
    np.testing.assert_allclose(ours / ours.sum(), fitted / fitted.sum(), atol=1e-6)


def test_trimming_caps_weights_and_reports(us):
    free = census_weights(us, "US", on_empty="renormalise")
    # 0.9: with the corrected US table the sample's 15 people aged 65+ must carry 21 % of the weight,
    # which bounds below 0.85 x the free maximum cannot give (PRISM's table allowed 0.8).
    cap = 0.9 * float(free.weights.max())
    capped = census_weights(us, "US", on_empty="renormalise", trim=cap)
    r = capped.report()
    assert capped.converged and capped.max_margin_error < 1e-6  # feasible bounds: margins still exact
    assert capped.weights.max() <= cap * (1 + 1e-6)
    assert r["n_trimmed"] > 0 and r["trim_rounds"] == 1
    assert capped.ess >= free.ess - 1e-9
    assert {"converged", "iterations", "max_margin_error", "ess", "design_effect"} <= set(r)
    # Bounds that cannot be met together with the margins are reported, not hidden.
    tight = census_weights(us, "US", on_empty="renormalise", trim=(0.9, 1.1), max_iter=50)
    assert not tight.converged and tight.max_margin_error > 1e-3


def test_poststratify_matches_cells_and_names_empty_cells():
    df = pd.DataFrame({"user_id": list("abcdef"), "g": list("xxyyyz"), "h": list("pqpqpp")})
    targets = pd.DataFrame(
        {"g": ["x", "x", "y", "y", "z", "z"], "h": ["p", "q"] * 3, "share": [0.1, 0.1, 0.2, 0.2, 0.2, 0.2]}
    )
    with pytest.raises(EmptyCellError, match=r"\(g='z', h='q'\) target 20.00%"):
        poststratify(df, targets)
    res = poststratify(df, targets, on_empty="renormalise")
    assert res.dropped_cells and res.max_margin_error < 1e-12
    w = res.weights / res.weights.sum()
    assert w["a"] == pytest.approx(0.125) and w["f"] == pytest.approx(0.25)
    ok = poststratify(df, targets[targets.index != 5].assign(share=lambda d: d.share / d.share.sum()))
    assert ok.converged


def test_census_poststratify_error_names_cells(us):
    with pytest.raises(EmptyCellError) as err:
        census_weights(us.head(40), "US", method="poststratify")
    assert "age='" in str(err.value) and "ethnicity='" in str(err.value)


def test_rake_errors():
    df = pd.DataFrame({"user_id": list("abc"), "g": ["x", "x", "w"]})
    with pytest.raises(ConfigError, match="unknown field"):
        rake(df, {"colour": {"red": 1.0}})
    with pytest.raises(ConfigError, match="outside the target categories"):
        rake(df, {"g": {"x": 0.5, "y": 0.5}})
    with pytest.raises(EmptyCellError, match="g='y'"):
        rake(df, {"g": {"x": 0.5, "y": 0.5}}, on_unclassified="drop")
    res = rake(df, {"g": {"x": 0.5, "y": 0.5}}, on_unclassified="drop", on_empty="renormalise")
    assert res.weights["c"] == 0 and list(res.excluded) == ["c"]
    with pytest.raises(ConfigError, match="negative"):
        rake(df, {"g": {"x": -1.0, "w": 2.0}})
    with pytest.raises(ConfigError, match="trim"):
        rake(df, {"g": {"x": 0.5, "w": 0.5}}, trim=0.5)


def test_trim_weights_helper():
    w, k = trim_weights([1.0, 1.0, 1.0, 9.0], upper=2.0)
    assert w.max() == pytest.approx(2.0) and w.mean() == pytest.approx(1.0) and k == 1
    assert effective_sample_size([1, 1, 1, 1]) == 4.0
    assert total_variation_distance(pd.Series({"a": 1.0}), pd.Series({"b": 1.0})) == 1.0


# --- PRISM census rebalancing (App. L) -----------------------------------------------------------


def test_census_rebalance_follows_prism_algorithm(survey):
    res = census_rebalance(survey, "US")
    pool = survey[prism_rebalance_pool(survey, "US")]
    assert res.n_pool == len(pool)
    assert len(res.user_ids) == res.table["taken"].sum() and not res.user_ids.has_duplicates
    assert set(res.user_ids) <= set(pool["user_id"])
    t = res.table
    assert len(t) == 60
    np.testing.assert_array_equal(t["needed"], (t["census_pct"] * 300 / 100).astype(int) + 1)
    np.testing.assert_array_equal(t["taken"], np.minimum(t["needed"], t["available"]))
    # A filled cell is sampled exactly as pandas' DataFrame.sample(n, random_state=42).
    cats = census_categories(pool, "US").reset_index()
    row = t[t["filled"]].iloc[0]
    sub = cats[(cats.age == row.age) & (cats.gender == row.gender) & (cats.ethnicity == row.ethnicity)]
    expected = sub.sample(int(row.needed), random_state=42)["user_id"]
    assert set(expected) <= set(res.user_ids)
    assert census_rebalance(survey, "US").user_ids.equals(res.user_ids)  # deterministic
    # Rebalancing moves the sample towards the census.
    before = representativeness(pool, "US").tvd["joint"]
    after = representativeness(survey[survey.user_id.isin(res.user_ids)], "US").tvd["joint"]
    assert after < before


def test_census_rebalance_quotas_follow_the_construction(survey):
    """PRISM's quotas (and so its REP flags) come from PRISM's table; the default from the corrected one."""
    for construction in census.CONSTRUCTIONS:
        t = census_rebalance(survey, "US", construction=construction).table.set_index(["age", "ethnicity", "gender"])
        pct = census.cell_percentages("US", construction=construction)
        for (age, eth, gender), row in t.head(12).iterrows():
            assert row["census_pct"] == pytest.approx(pct.loc[age, f"{eth}_{gender}"])
    prism = census_rebalance(survey, "US", construction="prism").table
    fixed = census_rebalance(survey, "US").table
    white = (fixed["ethnicity"] == "White").to_numpy()
    assert fixed.loc[white, "needed"].sum() > prism.loc[white, "needed"].sum()  # 60 % White, not 53 %


def test_rebalance_pool_rules():
    s = pd.DataFrame(
        {
            "user_id": list("abcd"),
            "survey_only": [False, True, False, False],
            "included_in_balanced_subset": [True, True, False, True],
            "study_locale": ["uk"] * 4,
            "gender": ["Female", "Female", "Male", "Non-binary / third gender"],
        }
    )
    assert prism_rebalance_pool(s, "UK").tolist() == [True, False, False, False]


# --- hooks for weighted analyses -----------------------------------------------------------------


def test_row_weights():
    b = pd.DataFrame({"user_id": ["a", "b", "zz"]})
    with pytest.raises(ConfigError, match="without a weight"):
        row_weights(b, pd.Series({"a": 1.0, "b": 2.0}))
    assert row_weights(b, pd.Series({"a": 1.0, "b": 2.0}), missing="zero").tolist() == [1.0, 2.0, 0.0]


def test_weights_move_rankings_in_the_predicted_direction():
    """Women strongly prefer claude-2 (planted). Under-sample women, then rake gender back to
    50/50: the weighted ranking moves claude-2 up, towards its full-sample position."""
    pytest.importorskip("pluralis.ranking.engine")
    from pluralis.data.synthetic import generate_study
    from pluralis.ranking.battles import extract_battles
    from pluralis.ranking.engine import rank_models

    study = generate_study(
        n_participants=500,
        seed=9,
        with_metadata=False,
        group_shifts={("gender", "Female"): {"claude-2": 1.6, "command": -0.8}},
    )
    f = study.frames()
    s = f.survey
    rng = np.random.default_rng(0)
    is_f = (s["gender"] == "Female").to_numpy()
    keep = ~is_f | (rng.random(len(s)) < 0.2)
    kept = s[keep & s["gender"].isin(["Male", "Female"]).to_numpy()]
    battles = extract_battles(f.utterances[f.utterances.user_id.isin(kept.user_id)])
    w = rake(kept, {"gender": {"Male": 0.5, "Female": 0.5}}).weights

    def rank_of(table, model):
        return float(table.set_index("model").loc[model, "rank"])

    for method in ("win_rate", "bt", "mean_score"):
        plain = rank_models(battles, method, weights=None)
        weighted = rank_models(battles, method, weights=w)
        if method != "mean_score":
            assert np.allclose(plain["score"], rank_models(battles, method)["score"])
        assert rank_of(weighted, "claude-2") < rank_of(plain, "claude-2"), method
        assert rank_of(weighted, "command") >= rank_of(plain, "command"), method
    with pytest.raises(ConfigError, match="no weighted form"):
        rank_models(battles, "elo", weights=w)
