"""Welfare of populations under seat-of-power sampling schemes (PRISM §3.3, App. U; spec §7)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pluralis.errors import ConfigError
from pluralis.welfare.draws import draw_indices, impute_matrix, welfare_matrices
from pluralis.welfare.engine import reproduce_prism_welfare, run_welfare
from pluralis.welfare.schemes import PRISM_POPULATIONS, PRISM_SCHEMES, Group, Scheme, country_sample
from pluralis.welfare.summaries import fosd, fosd_matrix, population_welfare

# --- hand-built frames ---------------------------------------------------------------------------


def _utt(rows):
    df = pd.DataFrame(
        rows, columns=["user_id", "model_name", "score", "if_chosen", "turn", "included_in_balanced_subset"]
    )
    return df


def _toy():
    """Men love m1, women love m2; everyone rates m3 in the middle."""
    rows, survey = [], []
    for k in range(20):
        male = k < 10
        uid = f"u{k}"
        survey.append(
            {
                "user_id": uid,
                "gender": "Male" if male else "Female",
                "age": "25-34 years old",
                "ethnicity_simplified": "White",
                "included_in_US_REP": True,
            }
        )
        r1, r2, r3 = (90, 20, 50) if male else (20, 90, 50)
        best = "m1" if male else "m2"
        for m, sc in (("m1", r1), ("m2", r2), ("m3", r3)):
            rows.append((uid, m, sc, m == best, 0, True))
        rows.append((uid, "m1", 1, False, 1, True))  # later turn: ignored
        rows.append((uid, "m3", 100, True, 0, False))  # unbalanced conversation: ignored
    return _utt(rows), pd.DataFrame(survey)


def test_welfare_matrices_from_balanced_openers():
    u, _ = _toy()
    m = welfare_matrices(u)
    assert list(m.rating.columns) == ["m1", "m2", "m3"]  # order of first appearance
    assert m.rating.loc["u0", "m1"] == 90 and m.rating.loc["u15", "m3"] == 50
    assert m.choice.loc["u0", "m1"] == 1.0 and m.choice.loc["u0", "m3"] == 0.0
    u2 = _utt(
        [
            ("a", "x", 80, True, 0, True),
            ("a", "x", 40, False, 0, True),
            ("a", "org/y", 60, False, 0, True),
            ("b", "org/y", 70, True, 0, True),
        ]
    )
    m2 = welfare_matrices(u2)
    assert m2.rating.loc["a", "x"] == 60 and m2.choice.loc["a", "x"] == 0.5
    assert np.isnan(m2.rating.loc["b", "x"])  # never shown -> NA
    assert list(m2.rating.columns) == ["x", "y"]  # short names drop the organisation prefix
    assert list(welfare_matrices(u2, model_names="raw").rating.columns) == ["x", "org/y"]
    with pytest.raises(ConfigError, match="no utterances at turn 0"):
        welfare_matrices(u2.assign(turn=3))


def test_population_welfare_skips_na_and_weights():
    W = pd.DataFrame({"m1": [80.0, np.nan, 20.0], "m2": [40.0, 60.0, np.nan]}, index=["a", "b", "c"])
    assert population_welfare(W, ["a", "b", "c"]).tolist() == [50.0, 50.0]
    assert population_welfare(W, ["a", "c"], pd.Series({"a": 3.0, "c": 1.0}))["m1"] == pytest.approx(65.0)


def test_fosd():
    assert fosd([2, 3, 4], [1, 2, 3]) and not fosd([1, 2, 3], [2, 3, 4])
    assert fosd([1, 2], [1, 2])  # weak, as PRISM's sorted comparison
    assert not fosd([0, 5], [1, 2]) and not fosd([1, 2], [0, 5])  # crossing CDFs: neither
    assert fosd([2, 2, 3], [1, 2])  # unequal sizes: compare empirical CDFs
    assert not fosd([np.nan, 3], [1, 2])
    m = fosd_matrix({"a": [2, 3], "b": [1, 2]})
    assert m.loc["a", "b"] and not m.loc["b", "a"]
    rng = np.random.default_rng(0)
    x = rng.normal(size=1000)
    assert fosd(x + 0.5, x) and not fosd(x, x + 0.5)


def test_winner_is_the_draws_favourite():
    u, s = _toy()
    men = Scheme("Men (5)", Group("Men", {"gender": "Male"}), 5)
    women = Scheme("Women (5)", Group("Women", {"gender": "Female"}), 5)
    res = run_welfare(u, s, schemes=[men, women], populations=[Group("All")], n_draws=200, reference=None)
    top = res.summary.set_index(["measure", "scheme"])["top_model_share"]
    models = res.summary.set_index(["measure", "scheme"])["top_model"]
    assert models[("rating", "Men (5)")] == "m1" and top[("rating", "Men (5)")] == 1.0
    assert models[("choice", "Women (5)")] == "m2" and top[("choice", "Women (5)")] == 1.0
    # Everyone's welfare under m1 is the mean rating of m1 over the 20 participants.
    assert res.summary.set_index(["measure", "scheme"]).loc[("rating", "Men (5)"), "mean"] == pytest.approx(55.0)


def test_tie_break_is_uniform():
    u = _utt([("a", "m1", 50, True, 0, True), ("a", "m2", 50, False, 0, True)])
    s = pd.DataFrame({"user_id": ["a"], "gender": ["Male"]})
    for engine in ("fast", "reference"):
        res = run_welfare(
            u,
            s,
            country=None,
            schemes=[Scheme("one", Group("all"), 1)],
            populations=[Group("all")],
            measures=["rating"],
            n_draws=2000,
            engine=engine,
            reference=None,
        )
        share = (res.draws["model"] == "m1").mean()
        assert 0.45 < share < 0.55, engine


def test_fast_and_reference_engines_agree():
    u, s = _toy()
    rng = np.random.default_rng(3)
    s["gender"] = np.where(rng.random(len(s)) < 0.5, "Male", "Female")  # mix pools
    kw = dict(
        schemes=[Scheme("Rep (3)", Group("Rep"), 3), Scheme("Rep (15)", Group("Rep"), 15)],
        populations=[Group("Rep")],
        n_draws=500,
        reference=None,
    )
    fast = run_welfare(u, s, engine="fast", seed=1, **kw).summary.set_index(["measure", "scheme"])
    ref = run_welfare(u, s, engine="reference", seed=1, **kw).summary.set_index(["measure", "scheme"])
    for key in fast.index:
        assert fast.loc[key, "mean"] == pytest.approx(ref.loc[key, "mean"], abs=1.5 if key[0] == "rating" else 0.03)


def test_same_seed_same_result_and_seed_matters():
    u, s = _toy()
    a = run_welfare(u, s, n_draws=50, seed=7, schemes=[Scheme("x", Group("Rep"), 3)], populations=[Group("Rep")])
    b = run_welfare(u, s, n_draws=50, seed=7, schemes=[Scheme("x", Group("Rep"), 3)], populations=[Group("Rep")])
    assert a.draws.equals(b.draws)


def test_draw_indices_without_replacement_are_distinct():
    rng = np.random.default_rng(0)
    idx = draw_indices(rng, 30, 10, 500, replace=False, p=None)
    assert idx.shape == (500, 10)
    assert all(len(set(r)) == 10 for r in idx.tolist())
    p = np.r_[np.zeros(20), np.full(10, 0.1)]
    idx = draw_indices(rng, 30, 10, 50, replace=False, p=p)
    assert (np.sort(idx, axis=1) == np.arange(20, 30)).all()  # only positive-weight members, all of them
    full = draw_indices(rng, 5, 5, 3, replace=False, p=None)
    assert (np.sort(full, axis=1) == np.arange(5)).all()


# --- bad inputs ----------------------------------------------------------------------------------


def test_bad_inputs_give_clear_errors():
    u, s = _toy()
    with pytest.raises(ConfigError, match="scheme '45\\+ \\(100\\)': pool '45\\+' has no members in the US sample"):
        run_welfare(u, s, n_draws=5, allow_oversample=True)  # the toy study has nobody aged 45+
    one = [Scheme("Rep (5)", Group("Rep"), 5)]
    with pytest.raises(ConfigError, match="population 'Martians' has no members"):
        run_welfare(u, s, schemes=one, populations=[Group("Martians", {"gender": "Martian"})], n_draws=5)
    with pytest.raises(ConfigError, match=r"scheme 'Big' draws n=50 without replacement but pool 'Rep' has only 20"):
        run_welfare(u, s, schemes=[Scheme("Big", Group("Rep"), 50)], replace=False, n_draws=5)
    with pytest.raises(ConfigError, match="unknown field 'colour'"):
        run_welfare(u, s, populations=[Group("Red", {"colour": "red"})], n_draws=5, schemes=one)
    with pytest.raises(
        ConfigError,
        match="cannot evaluate filter \"colour == 'red'\": unknown field 'colour'; survey columns include .*gender",
    ):
        run_welfare(u, s, populations=[Group("Q", "colour == 'red'")], n_draws=5, schemes=one)
    with pytest.raises(ConfigError, match="cannot evaluate filter"):
        run_welfare(u, s, populations=[Group("Q", "gender ==")], n_draws=5, schemes=one)
    with pytest.raises(ConfigError, match="pool 'Nobody' has no members"):
        run_welfare(u, s, schemes=[Scheme("x", Group("Nobody", {"gender": "Martian"}), 3)], n_draws=5)
    with pytest.raises(ConfigError, match="unknown welfare measure"):
        run_welfare(u, s, measures=["happiness"], n_draws=5, schemes=one)
    with pytest.raises(ConfigError, match="positive integer"):
        Scheme("zero", Group("Rep"), 0)
    with pytest.raises(ConfigError, match="n_draws"):
        run_welfare(u, s, n_draws=0, schemes=one)
    with pytest.raises(ConfigError, match="names must be unique"):
        run_welfare(u, s, populations=[Group("A"), Group("A")], n_draws=5, schemes=one)
    with pytest.raises(ConfigError, match="unknown country 'Narnia'"):
        run_welfare(u, s, country="Narnia", n_draws=5, schemes=one)
    with pytest.raises(ConfigError, match="weights lack"):
        run_welfare(u, s, weights=pd.Series({"u0": 1.0}), n_draws=5, schemes=one)
    with pytest.raises(ConfigError, match="reference scheme 'Nope' is not one of the schemes"):
        run_welfare(u, s, n_draws=5, schemes=one, reference="Nope")
    with pytest.raises(
        ConfigError,
        match=r"scheme 'Big' draws n=50 but pool 'Rep' has only 20 members in the US "
        r"sample; lower n, or allow .*allow_oversample=True",
    ):
        run_welfare(u, s, schemes=[Scheme("Big", Group("Rep"), 50)], populations=[Group("Rep")], n_draws=5)
    # Asked for explicitly, with replacement (PRISM's code) a pool smaller than n is drawn from, and noted.
    res = run_welfare(
        u, s, schemes=[Scheme("Big", Group("Rep"), 50)], populations=[Group("Rep")], n_draws=5, allow_oversample=True
    )
    assert any("exceeds its pool" in n for n in res.notes)


def test_query_string_and_callable_filters():
    u, s = _toy()
    pops = [Group("Women", "gender == 'Female'"), Group("Men", lambda d: (d["gender"] == "Male").to_numpy())]
    res = run_welfare(u, s, populations=pops, schemes=[Scheme("Rep (5)", Group("Rep"), 5)], n_draws=20)
    assert set(res.summary["population"]) == {"Women", "Men"}
    assert (
        res.model_welfare.query("population == 'Women' and measure == 'rating'").set_index("model")["welfare"]["m2"]
        == 90
    )


# --- simulated studies with known group preferences ----------------------------------------------


@pytest.fixture(scope="module")
def planted():
    """US sample where men strongly prefer command-light and women (more strongly) claude-2."""
    from pluralis.data.synthetic import generate_study

    study = generate_study(
        n_participants=700,
        seed=21,
        with_metadata=False,
        group_shifts={("gender", "Male"): {"command-light": 2.0}, ("gender", "Female"): {"claude-2": 2.6}},
    )
    return study.frames()


def test_sampling_only_group_lowers_out_group_welfare(planted):
    res = run_welfare(
        planted.utterances,
        planted.survey,
        country="US",
        n_draws=400,
        measures=["rating", "choice"],
        allow_oversample=True,
    )
    s = res.summary.set_index(["measure", "population", "scheme"])
    for measure in ("rating", "choice"):
        rep, male = s.loc[(measure, "Non-male", "Rep (100)")], s.loc[(measure, "Non-male", "Male (100)")]
        assert male["mean"] < rep["mean"]  # out-group (non-male) is worse off when only men choose
        assert male["fosd_by_reference"]  # ... and Rep (100) FOSDs Male (100) for them
        assert male["top_model"] == "command-light"
    # The in-group is not harmed by choosing for itself.
    in_group = run_welfare(
        planted.utterances,
        planted.survey,
        country="US",
        n_draws=200,
        measures=["rating"],
        allow_oversample=True,
        populations=[Group("Men", {"gender": "Male"})],
        schemes=PRISM_SCHEMES[3:5],
    )
    t = in_group.summary.set_index("scheme")["mean"]
    assert t["Male (100)"] >= t["Rep (100)"]


def test_larger_representative_samples_fosd_smaller_ones(planted):
    res = run_welfare(
        planted.utterances,
        planted.survey,
        country="US",
        n_draws=1000,
        measures=["rating"],
        populations=[PRISM_POPULATIONS[0]],
        schemes=PRISM_SCHEMES[:4],
    )
    d = {k: g["welfare"].to_numpy() for k, g in res.draws.groupby("scheme", observed=True)}
    assert fosd(d["Rep (100)"], d["Rep (10)"]) and fosd(d["Rep (50)"], d["Rep (10)"])
    assert not fosd(d["Rep (10)"], d["Rep (100)"])
    means = res.summary.set_index("scheme")["mean"]
    assert means["Rep (10)"] < means["Rep (20)"] < means["Rep (100)"] + 1e-9
    s = res.summary.set_index("scheme")
    assert s.loc["Rep (10)", "fosd_by_reference"] and not s.loc["Rep (100)", "fosd_by_reference"]
    assert res.table("rating").loc["Rep", "Rep (10)"].endswith(" D")


def test_share_preferring_another_model(planted):
    res = run_welfare(
        planted.utterances, planted.survey, country="US", n_draws=50, measures=["choice"], allow_oversample=True
    )
    best = res.best.set_index("population")
    mw = res.model_welfare.query("population == 'Rep'")
    assert best.loc["Rep", "best_welfare"] == pytest.approx(mw["welfare"].max())
    assert best.loc["Rep", "prefer_other"] == pytest.approx(1 - mw["welfare"].max())
    assert 0 < best.loc["Rep", "prefer_other"] < 1
    s = res.summary
    np.testing.assert_allclose(s["prefer_other"], 1 - s["mean"])


def test_weighted_welfare(planted):
    """All weight on men: a representative draw becomes a draw of men, and welfare is men's."""
    s = planted.survey
    w = pd.Series(np.where(s["gender"] == "Male", 1.0, 0.0), index=s["user_id"])
    res = run_welfare(
        planted.utterances,
        s,
        country="US",
        weights=w,
        n_draws=200,
        measures=["rating"],
        allow_oversample=True,
        schemes=[PRISM_SCHEMES[3], PRISM_SCHEMES[4]],
        populations=[PRISM_POPULATIONS[0]],
    )
    top = res.summary.set_index("scheme")["top_model"]
    assert top["Rep (100)"] == top["Male (100)"] == "command-light"
    men = run_welfare(
        planted.utterances,
        s,
        country="US",
        n_draws=20,
        measures=["rating"],
        allow_oversample=True,
        schemes=[PRISM_SCHEMES[3]],
        populations=[Group("Men", {"gender": "Male"})],
    )
    mw_w = res.model_welfare.set_index("model")["welfare"]
    mw_men = men.model_welfare.set_index("model")["welfare"]
    np.testing.assert_allclose(mw_w.to_numpy(), mw_men.reindex(mw_w.index).to_numpy())
    census = run_welfare(
        planted.utterances, s, country="US", weights="census", n_draws=20, measures=["choice"], allow_oversample=True
    )
    assert census.config["weighted"] and any("census raking" in n for n in census.notes)


def test_census_style_weights_move_welfare_in_the_predicted_direction(planted):
    """Women are under-sampled (1 in 5 kept) and prefer claude-2; men prefer command-light. Raking
    gender back to 50/50 makes representative draws pick claude-2 more often and raises its
    population welfare, as the planted preferences predict."""
    from pluralis.census.weights import rake

    s = planted.survey[planted.survey["gender"].isin(["Male", "Female"])]
    rng = np.random.default_rng(0)
    s = s[(s["gender"] == "Male").to_numpy() | (rng.random(len(s)) < 0.2)]
    w = rake(s, {"gender": {"Male": 0.5, "Female": 0.5}}).weights
    kw = dict(country=None, schemes=[PRISM_SCHEMES[3]], populations=[PRISM_POPULATIONS[0]], n_draws=300, reference=None)
    plain = run_welfare(planted.utterances, s, **kw)
    weighted = run_welfare(planted.utterances, s, weights=w, **kw)
    for measure in ("rating", "choice"):

        def claude_share(res, measure=measure):
            d = res.draws[res.draws["measure"] == measure]
            return float((d["model"] == "claude-2").mean())

        def welfare(res, model, measure=measure):
            mw = res.model_welfare[res.model_welfare["measure"] == measure].set_index("model")["welfare"]
            return float(mw[model])

        assert claude_share(weighted) > claude_share(plain) + 0.2, measure
        assert welfare(weighted, "claude-2") > welfare(plain, "claude-2"), measure
        assert welfare(weighted, "command-light") < welfare(plain, "command-light"), measure


def test_imputation_option(planted):
    m = welfare_matrices(planted.utterances)
    sub = m.rating.iloc[:150]
    imp = impute_matrix(sub, "rating")
    assert imp.notna().all().all() and imp.to_numpy().min() >= 1 and imp.to_numpy().max() <= 100
    seen = sub.notna().to_numpy()
    np.testing.assert_allclose(imp.to_numpy()[seen], sub.to_numpy()[seen])
    u, s = _toy()
    u = u[~((u["user_id"].isin(["u1", "u12"])) & (u["model_name"] == "m3"))]  # two unseen cells
    res = run_welfare(
        u, s, impute=True, n_draws=30, schemes=[Scheme("Rep (5)", Group("Rep"), 5)], populations=[Group("Rep")]
    )
    assert res.config["impute"] and res.summary.query("measure == 'choice'")["mean"].between(0, 1).all()
    assert (res.model_welfare["n_raters"] == 20).all()  # imputed: everyone has a value for every model


def test_country_sample_fallbacks(planted):
    s = planted.survey
    mask, how = country_sample(s, "US")
    assert how == "included_in_US_REP" and mask.sum() == s["included_in_US_REP"].sum()
    no_flags = s.assign(included_in_US_REP=False)
    mask, how = country_sample(no_flags, "US")
    assert "rebalancing" in how and 0 < mask.sum() <= (s["study_locale"] == "us").sum()
    mask, how = country_sample(s, "uk", sample="locale")
    assert mask.sum() == (s["study_locale"] == "uk").sum()
    with pytest.raises(ConfigError, match="no participant flagged included_in_UK_REP"):
        country_sample(s.assign(included_in_UK_REP=False), "UK", sample="rep")


def test_prism_default_grid_and_outputs(planted, tmp_path):
    res = run_welfare(planted, country="UK", n_draws=100, allow_oversample=True)  # StudyFrames accepted directly
    assert len(res.summary) == 7 * 4 * 2 and len(res.draws) == 7 * 4 * 2 * 100
    assert set(res.draws.columns) == {"measure", "population", "scheme", "draw", "model", "welfare"}
    assert res.fosd["dominates"].dtype == bool
    t = res.table("choice", marks=False)
    assert list(t.index) == ["Rep", "Non-male", "Non-white", "<45"] and t.shape == (4, 8)
    fig = res.plot(tmp_path / "welfare.png")
    assert (tmp_path / "welfare.png").stat().st_size > 10_000 and len(fig.axes) == 8
    # Panels of one measure share the welfare axis (Fig. 5), spanning every draw of that measure.
    for row, measure in enumerate(("rating", "choice")):
        limits = {fig.axes[4 * row + k].get_xlim() for k in range(4)}
        assert len(limits) == 1
        lo, hi = limits.pop()
        w = res.draws.loc[res.draws["measure"] == measure, "welfare"]
        assert lo < w.min() and hi > w.max()
    fig = res.plot(shape="percentiles", measures=["choice"])  # notebook 11a: density of 5 percentiles
    assert len(fig.axes) == 4
    with pytest.raises(ConfigError, match="shape must be"):
        res.plot(shape="boxes")
    from pluralis.census.representativeness import representativeness
    from pluralis.welfare.plots import plot_representativeness, plot_weights

    rep = representativeness(planted.survey[planted.survey.included_in_UK_REP], "UK")
    plot_representativeness(rep, tmp_path / "rep.png", level="margins")
    plot_weights(pd.Series([0.5, 1.0, 2.0]), tmp_path / "w.png")
    assert (tmp_path / "rep.png").exists() and (tmp_path / "w.png").exists()


def test_reproduce_prism_welfare_runs_both_countries(planted):
    out = reproduce_prism_welfare(planted.utterances, planted.survey, n_draws=3)
    assert sorted(out) == ["UK", "US"]
    assert set(out["US"].summary["measure"]) == {"rating", "choice"}
    assert out["UK"].config["sample"] == "included_in_UK_REP"
    # PRISM's as-coded unseen scores, on PRISM's declared 1-100 scale.
    assert out["US"].config["unseen"] == "prism" and out["US"].config["scale"] == (1.0, 100.0)
    assert out["US"].config["unseen_score"] == {"rating": 1.0, "choice": 0.0}


def test_common_draws_pair_populations(planted):
    res = run_welfare(
        planted.utterances, planted.survey, n_draws=50, common_draws=True, measures=["rating"], allow_oversample=True
    )
    d = res.draws
    a = d[(d.population == "Rep") & (d.scheme == "Rep (10)")]["model"].to_numpy()
    b = d[(d.population == "<45") & (d.scheme == "Rep (10)")]["model"].to_numpy()
    assert (a == b).all()


# --- the three steps and the config --------------------------------------------------------------


def test_run_welfare_is_resolve_draw_summarise():
    """run_welfare composes the public steps: the same config gives the same tables either way."""
    from pluralis.welfare.draws import draw
    from pluralis.welfare.engine import WelfareConfig
    from pluralis.welfare.schemes import resolve
    from pluralis.welfare.summaries import summarise

    u, s = _toy()
    cfg = WelfareConfig(
        schemes=[Scheme("Rep (5)", Group("Rep"), 5), Scheme("Men (3)", Group("Men", {"gender": "Male"}), 3)],
        populations=[Group("Rep"), Group("Women", "gender == 'Female'")],
        n_draws=40,
        seed=5,
        reference="Rep (5)",
    )
    whole = run_welfare(u, s, config=cfg)
    design = resolve(s, cfg.schemes, cfg.populations, country=cfg.country)
    m = welfare_matrices(u)
    steps = summarise(m, design, draw(m, design, n_draws=40, seed=5), reference="Rep (5)")
    pd.testing.assert_frame_equal(whole.summary, steps.summary)
    pd.testing.assert_frame_equal(whole.draws, steps.draws)
    # Keyword options and a config are the same thing; options refine a config.
    pd.testing.assert_frame_equal(run_welfare(u, s, config=cfg).draws, run_welfare(u, s, **vars(cfg)).draws)
    assert run_welfare(u, s, config=cfg, n_draws=7).config["n_draws"] == 7


def test_config_declares_and_checks_every_option():
    from pluralis.welfare.engine import WelfareConfig

    assert set(WelfareConfig.constraints) == {f for f in vars(WelfareConfig()) if not f.startswith("_")}
    for bad, message in (
        ({"engine": "slow"}, "engine must be 'fast' or 'reference', got 'slow'"),
        ({"sample": "everyone"}, "sample must be 'auto', 'rep', 'rebalance' or 'locale'"),
        ({"replace": "yes"}, "replace must be True or False"),
        ({"n_draws": 2.5}, "n_draws must be a positive integer"),
        ({"seed": "one"}, "seed must be an integer or None"),
        ({"weights": "uniform"}, "weights must be a Series by user_id or 'census'"),
        ({"weights": "census", "country": None}, "weights='census' needs a country"),
        ({"model_names": "long"}, "model_names must be 'short', 'prism', 'raw' or a function"),
        ({"schemes": [Group("Rep")]}, "schemes must be Scheme objects"),
        ({"measures": []}, "need at least one scheme, one population and one measure"),
        ({"draws": 10}, r"unknown welfare option\(s\) \['draws'\]"),
        ({"unseen": "top"}, "unseen must be 'scale_min', 'min_observed', 'prism' or a number"),
        ({"scale": (1, 1)}, "scale must be"),
    ):
        with pytest.raises(ConfigError, match=message):
            WelfareConfig.build(**bad)
    assert "_pyrng" not in run_welfare.__code__.co_varnames


def test_reference_engine_continues_an_explicit_stream():
    """The reference draw takes its random stream explicitly: two runs on one stream are the
    first and second halves of one longer run (how the notebook's shared stream is reproduced)."""
    import random

    from pluralis.welfare.draws import reference_winners

    u, _ = _toy()
    W = welfare_matrices(u).choice
    pool = list(W.index)
    one = reference_winners(W, pool, 3, 20, 0.0, random.Random(4))
    rng = random.Random(4)
    halves = np.r_[reference_winners(W, pool, 3, 10, 0.0, rng), reference_winners(W, pool, 3, 10, 0.0, rng)]
    assert (one == halves).all()
