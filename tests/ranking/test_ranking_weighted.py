"""Weighted rankings: participant weights in the ranking engine, its bootstrap and subgroups, and ``rank --weights``."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import typer
from typer.testing import CliRunner

from pluralis.errors import ConfigError, PluralisError
from pluralis.ranking.battles import BattleArrays, extract_battles
from pluralis.ranking.encode import participant_weight_vector
from pluralis.ranking.engine import rank_models, scores_for_arrays
from pluralis.ranking.registry import get_aggregator
from pluralis.ranking.resample import cluster_weights
from pluralis.ranking.subgroups import OVERALL, subgroup_rankings
from pluralis.ranking.uncertainty import Tournament, bootstrap

PAIR_CASES = [
    ("prc", {}),
    ("prc", {"alpha": 0.0}),
    ("prc", {"variant": "as_coded"}),
    ("bt", {}),
    ("bt", {"penalty": None}),
    ("win_rate", {}),
    ("win_rate", {"ties": "exclude"}),
]
RATING_METHODS = ["mean_score", "mean_normalized_score", "mean_within_turn_rank"]


@pytest.fixture(scope="module")
def study():
    from pluralis.data.synthetic import generate_study

    s = generate_study(n_participants=120, seed=5, with_metadata=False)
    f = s.frames()
    battles = extract_battles(f.utterances)
    users = np.sort(battles["user_id"].astype(str).unique())
    rng = np.random.default_rng(0)
    w = pd.Series(rng.integers(1, 4, len(users)).astype(float), index=users)
    return battles, f.survey, w


def _unit(battles):
    return pd.Series(1.0, index=battles["user_id"].astype(str).unique())


# --- rank_models ---------------------------------------------------------------------------------


@pytest.mark.parametrize("method,options", PAIR_CASES + [(m, {}) for m in RATING_METHODS])
def test_unit_weights_reproduce_unweighted_exactly(study, method, options):
    battles, _, _ = study
    plain = rank_models(battles, method, **options)
    unit = rank_models(battles, method, weights=_unit(battles), **options)
    assert unit["model"].tolist() == plain["model"].tolist()
    assert np.array_equal(unit["score"].to_numpy(), plain["score"].to_numpy(), equal_nan=True)
    assert np.array_equal(unit["rank"].to_numpy(), plain["rank"].to_numpy(), equal_nan=True)
    assert unit.attrs["weighted"] and not plain.attrs["weighted"]


@pytest.mark.parametrize("method,options", [("prc", {"alpha": 0.0}), ("bt", {"penalty": None}), ("win_rate", {})])
def test_integer_weights_equal_duplicating_each_raters_battles(study, method, options):
    """For scale-free pair aggregators a weight of k is the same as rating k times."""
    battles, _, w = study
    reps = battles["user_id"].astype(str).map(w).astype(int).to_numpy()
    dup = battles.loc[battles.index.repeat(reps)].reset_index(drop=True)
    weighted = rank_models(battles, method, weights=w, **options).set_index("model")["score"]
    explicit = rank_models(dup, method, **options).set_index("model")["score"]
    assert np.allclose(weighted.sort_index(), explicit.sort_index(), rtol=1e-8, atol=1e-8)


def test_weighted_score_means_are_rater_weighted_means_of_the_responses(study):
    from pluralis.ranking.battles import ratings_from_battles

    battles, _, w = study
    r = ratings_from_battles(battles)
    rw = r["user_id"].astype(str).map(w)
    expected = (r["score"] * rw).groupby(r["model_name"]).sum() / rw.groupby(r["model_name"]).sum()
    got = rank_models(battles, "mean_score", weights=w).set_index("model")["score"]
    assert np.allclose(got.sort_index(), expected.sort_index(), rtol=1e-12)


def test_weights_rescale_to_the_number_of_battles(study):
    """Multiplying every weight by a constant changes nothing (priors keep their strength)."""
    battles, _, w = study
    for method in ("prc", "bt"):
        a = rank_models(battles, method, weights=w)["score"].to_numpy()
        b = rank_models(battles, method, weights=w * 1000.0)["score"].to_numpy()
        assert np.allclose(a, b, rtol=1e-10)


def test_online_elo_and_bad_weights_are_clear_errors(study):
    battles, survey, w = study
    with pytest.raises(PluralisError, match="no weighted form"):
        rank_models(battles, "elo", weights=w)
    with pytest.raises(PluralisError, match="no weighted form"):
        bootstrap(battles, "elo", rounds=5, weights=w)
    with pytest.raises(PluralisError, match="no weighted form"):
        subgroup_rankings(battles, "conversation_type", method="elo", rounds=0, weights=w, min_participants=1)
    with pytest.raises(ConfigError, match="without a weight"):
        rank_models(battles, "prc", weights=w.iloc[:5])
    with pytest.raises(ConfigError, match="weight 0"):
        rank_models(battles, "prc", weights=w * 0.0)
    with pytest.raises(ConfigError, match="non-negative"):
        rank_models(battles, "bt", weights=-w)
    with pytest.raises(ConfigError, match="no 'user_id' column"):
        rank_models(battles.drop(columns="user_id"), "prc", weights=w)
    # missing="zero": raters without a weight drop out, like removing their battles
    keep = w.index[:60]
    part = rank_models(battles, "win_rate", weights=w[keep], missing_weights="zero").set_index("model")["score"]
    sub = battles[battles["user_id"].astype(str).isin(keep)]
    alone = rank_models(sub, "win_rate", weights=w[keep]).set_index("model")["score"]
    assert np.allclose(part.reindex(alone.index), alone)


# --- bootstrap ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("unit", ["participants", "battles"])
@pytest.mark.parametrize("method", ["prc", "bt", "win_rate", "mean_score"])
def test_unit_weights_reproduce_unweighted_bootstrap_exactly(study, unit, method):
    battles, _, _ = study
    plain = bootstrap(battles, method, rounds=40, unit=unit, seed=3)
    unit_w = bootstrap(battles, method, rounds=40, unit=unit, seed=3, weights=_unit(battles))
    assert np.array_equal(plain.samples, unit_w.samples, equal_nan=True)
    assert np.array_equal(plain.estimate, unit_w.estimate, equal_nan=True)
    assert unit_w.weighted and unit_w.summary().attrs["weighted"]


@pytest.mark.parametrize("method", ["prc", "bt", "mean_score"])
def test_weighted_bootstrap_estimate_is_the_weighted_ranking(study, method):
    battles, _, w = study
    res = bootstrap(battles, method, rounds=20, weights=w)
    direct = rank_models(battles, method, weights=w).set_index("model")["score"]
    assert np.allclose(res.estimate, direct.reindex(list(res.models)).to_numpy(), rtol=1e-9, atol=1e-9)


def _toy(seed=0, n=5, m=400, G=30):
    rng = np.random.default_rng(seed)
    a = rng.integers(0, n, m)
    b = (a + rng.integers(1, n, m)) % n
    return BattleArrays.from_lists([f"m{i}" for i in range(n)], a, b, rng.integers(0, 3, m), rng.integers(0, G, m))


def test_weighted_cluster_bootstrap_equals_explicit_resampling():
    """A round = the drawn participants' battles, each carrying its rater's weight."""
    arr = _toy()
    pw = np.random.default_rng(5).uniform(0.2, 3.0, arr.n_clusters)
    t = Tournament(arr, weights=pw[arr.cluster])
    mult = cluster_weights(np.random.default_rng(1), 5, arr.n_clusters)
    for method, opts in (("prc", {"alpha": 1.0}), ("bt", {})):
        fast = t.score_counts(t.cluster_counts(mult), get_aggregator(method), opts)
        for r in range(5):
            idx = np.concatenate(
                [np.repeat(np.flatnonzero(arr.cluster == g), int(mult[r, g])) for g in range(arr.n_clusters)]
            )
            slow = scores_for_arrays(arr.take(idx), method, weights=pw[arr.cluster[idx]], **opts)
            assert np.allclose(fast[r], slow, atol=1e-9)


def test_weighted_battle_bootstrap_matches_index_resampling_in_distribution():
    arr = _toy(m=300)
    pw = np.random.default_rng(6).uniform(0.2, 3.0, arr.n_clusters)
    weights = pd.Series(pw, index=[str(c) for c in arr.clusters])
    assert np.array_equal(participant_weight_vector(arr, weights), pw)
    res = bootstrap(arr, "prc", rounds=3000, unit="battles", seed=3, weights=weights)
    rng = np.random.default_rng(4)
    bw = pw[arr.cluster]
    slow = np.array(
        [
            scores_for_arrays(arr.take(i), "prc", weights=bw[i])
            for i in (rng.integers(0, arr.n_battles, arr.n_battles) for _ in range(600))
        ]
    )
    assert np.allclose(res.samples.mean(axis=0), slow.mean(axis=0), atol=0.003)
    assert np.allclose(res.samples.std(axis=0), slow.std(axis=0), rtol=0.15)


def test_weights_that_upweight_one_camp_move_the_ranking():
    """Camp A (few people) prefers y, camp B (many) prefers x: upweighting A flips the winner and
    the participant bootstrap's interval follows."""
    rows = [("x", "y", "model_b", f"a{k}") for k in range(40)] + [("x", "y", "model_a", f"b{k}") for k in range(120)]
    b = pd.DataFrame(rows, columns=["model_a", "model_b", "winner", "user_id"])
    w = pd.Series({**{f"a{k}": 6.0 for k in range(40)}, **{f"b{k}": 1.0 for k in range(120)}})
    assert rank_models(b, "prc")["model"].iloc[0] == "x"
    assert rank_models(b, "prc", weights=w)["model"].iloc[0] == "y"
    plain = bootstrap(b, "win_rate", rounds=300, seed=0).summary().set_index("model")
    weighted = bootstrap(b, "win_rate", rounds=300, seed=0, weights=w).summary().set_index("model")
    assert plain.loc["y", "score_hi"] < 0.5 < weighted.loc["y", "score_lo"]


# --- subgroups -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("unit", ["participants", "battles"])
@pytest.mark.parametrize("method", ["prc", "mean_score"])
def test_unit_weights_reproduce_unweighted_subgroups_exactly(study, unit, method):
    battles, _, _ = study
    kw = dict(method=method, rounds=30, unit=unit, seed=2, min_participants=5)
    plain = subgroup_rankings(battles, "conversation_type", **kw).table
    unit_w = subgroup_rankings(battles, "conversation_type", weights=_unit(battles), **kw).table
    pd.testing.assert_frame_equal(plain, unit_w, check_exact=True)
    assert unit_w.attrs["weighted"] and not plain.attrs["weighted"]


@pytest.mark.parametrize("unit", ["participants", "battles"])
def test_weighted_subgroups_estimates_and_overall_draws(study, unit):
    battles, _, w = study
    res = subgroup_rankings(
        battles, "conversation_type", method="prc", rounds=30, unit=unit, seed=4, min_participants=5, weights=w
    )
    t = res.table
    overall = t[t["by"] == OVERALL].set_index("model")["score"]
    direct = rank_models(battles, "prc", weights=w).set_index("model")["score"]
    assert np.allclose(overall.sort_index(), direct.sort_index(), rtol=1e-9)
    g = "unguided"
    group = t[t["group"] == g].set_index("model")["score"]
    direct_g = rank_models(battles[battles["conversation_type"] == g], "prc", weights=w).set_index("model")["score"]
    assert np.allclose(group.sort_index(), direct_g.sort_index(), rtol=1e-9)
    plain = bootstrap(battles, "prc", rounds=30, unit=unit, seed=4, weights=w)
    if unit == "participants":  # the joint bootstrap's overall draws are the plain bootstrap's
        assert np.allclose(res.overall.samples, plain.samples)
    assert t[["score_lo", "score_hi"]].notna().all().all()


# --- CLI -----------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def app():
    from pluralis.cli import rank

    a = typer.Typer()
    rank.register(a)

    @a.callback()
    def _main():
        pass

    return a


runner = CliRunner()


def test_rank_cli_weights_file_and_census(app, prism_folder, tmp_path):
    from pluralis.data import load_study

    survey = load_study(str(prism_folder)).frames().survey
    users = survey["user_id"].astype(str)
    wfile = tmp_path / "w.csv"
    pd.DataFrame({"user_id": users, "weight": np.linspace(0.5, 2.0, len(users))}).to_csv(wfile, index=False)
    out = tmp_path / "ranks.csv"
    r = runner.invoke(app, ["rank", str(prism_folder), "--weights", str(wfile), "--bootstrap", "20", "--out", str(out)])
    assert r.exit_code == 0, r.output
    assert "(weighted)" in r.output
    assert {"score_lo", "score_hi"} <= set(pd.read_csv(out).columns)

    r = runner.invoke(
        app,
        [
            "rank",
            str(prism_folder),
            "--weights",
            "census",
            "--country",
            "US",
            "--bootstrap",
            "0",
            "--by",
            "gender",
            "--min-participants",
            "1",
        ],
    )
    assert r.exit_code == 0, r.output
    assert "census weights for US" in r.output and "count 0" in r.output

    r = runner.invoke(app, ["rank", str(prism_folder), "--weights", "census"])
    assert r.exit_code == 2 and "--country" in r.output
    r = runner.invoke(app, ["rank", str(prism_folder), "--country", "US"])
    assert r.exit_code == 2 and "--weights census" in r.output
    r = runner.invoke(app, ["rank", str(prism_folder), "--weights", str(wfile), "--method", "elo"])
    assert r.exit_code == 2 and "no weighted form" in r.output


def test_rank_cli_bad_weights_file_names_file_line_and_field(app, tmp_path):
    # a bad weight was a "could not convert string to float" traceback; ids like 007 became 7
    battles = tmp_path / "battles.csv"
    battles.write_text("model_a,model_b,winner,judge\nx,y,model_a,007\ny,x,model_a,008\nx,y,tie,009\n")
    bad = tmp_path / "w.csv"
    bad.write_bytes(b"\xef\xbb\xbfuser_id,weight\r\n007,1\r\n008,abc\r\n\r\n009,\r\n007,2\r\n010,-1\r\n")
    r = runner.invoke(app, ["rank", str(battles), "--weights", str(bad), "--bootstrap", "0"])
    assert r.exit_code == 2, r.output
    text = " ".join(r.output.split())
    for expected in (
        "w.csv:3: field 'weight': 'abc' is not a finite non-negative number",
        "w.csv:5: field 'weight': missing weight",
        "w.csv:6: field 'user_id': duplicate participant '007' (first on line 2)",
        "w.csv:7: field 'weight': '-1' is not",
    ):
        assert expected in text, r.output
    assert "Traceback" not in r.output
    good = tmp_path / "good.csv"
    good.write_text("user_id,weight\n007,1\n008,0\n009,2\n")
    r = runner.invoke(app, ["rank", str(battles), "--weights", str(good), "--bootstrap", "0", "--method", "bt"])
    assert r.exit_code == 0 and "have no (or zero) weight" in r.output, r.output  # 008 only: 007 matched
    assert "1 of 3 participants" in r.output
