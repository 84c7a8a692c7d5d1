"""The aggregator registry: a new ranking method is one registered object in one file.

The toy Borda count below is defined and registered *here only*; it then works with
rank_models, the bootstrap, subgroup rankings, the sensitivity comparison, the plots and
``pluralis rank --method borda`` without any other change.
"""

from __future__ import annotations

import pkgutil
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import pluralis.ranking.methods as methods_pkg
from pluralis.errors import ConfigError
from pluralis.ranking.battles import encode_battles
from pluralis.ranking.engine import rank_models
from pluralis.ranking.registry import (
    Aggregator,
    Option,
    aggregators,
    get_aggregator,
    register_aggregator,
    unregister_aggregator,
)
from pluralis.ranking.subgroups import OVERALL, subgroup_rankings
from pluralis.ranking.uncertainty import Tournament, bootstrap, random_participants

# --- the whole new method: ~20 lines -------------------------------------------------------------


def borda_from_counts(wins: np.ndarray, ties: np.ndarray, /, *, tie_points: float = 0.5) -> np.ndarray:
    """Borda count per battle: 1 point per win, ``tie_points`` per tie, divided by battles played."""
    played = wins.sum(-1) + wins.sum(-2) + ties.sum(-1)
    points = wins.sum(-1) + tie_points * ties.sum(-1)
    return np.divide(points, played, out=np.full(points.shape, np.nan), where=played > 0)


BORDA = Aggregator(
    name="borda",
    label="Borda count",
    kind="pairs",
    from_counts=borda_from_counts,
    aliases=("borda_count",),
    options=(Option("tie_points", 0.5, "points for a tie"),),
    axis_label="Borda points per battle",
    digits=3,
)


@pytest.fixture
def borda():
    agg = register_aggregator(BORDA)
    yield agg
    unregister_aggregator("borda")


# --- data -----------------------------------------------------------------------------------------

# x beats y 3x, y beats x 1x, x-z tie 2x, z beats y 2x; u1..u4 rate, groups p/q
BATTLES = pd.DataFrame(
    {
        "model_a": ["x", "x", "x", "y", "x", "z", "z", "y"],
        "model_b": ["y", "y", "y", "x", "z", "x", "y", "z"],
        "winner": ["model_a", "model_a", "model_a", "model_a", "tie", "tie", "model_a", "model_b"],
        "user_id": ["u1", "u1", "u2", "u3", "u3", "u4", "u4", "u2"],
        "g": ["p", "p", "p", "q", "q", "q", "q", "p"],
    }
)
# points / battles: x = (3 + 1) / 6, y = 1 / 6, z = (1 + 2) / 4
EXPECTED = {"x": 4 / 6, "y": 1 / 6, "z": 3 / 4}


def test_toy_aggregator_works_with_rank_models(borda):
    assert get_aggregator("Borda-Count") is borda
    assert "borda" in [a.name for a in aggregators("pairs")]
    r = rank_models(BATTLES, "borda").set_index("model")
    assert r["score"].to_dict() == pytest.approx(EXPECTED)
    assert r["rank"].to_dict() == {"z": 1.0, "x": 2.0, "y": 3.0}
    assert r.attrs["method"] == "borda"
    # its option is passed through; other methods' options are ignored as for the built-ins
    r2 = rank_models(BATTLES, "borda", tie_points=0.0, alpha=3).set_index("model")["score"]
    assert r2.to_dict() == pytest.approx({"x": 3 / 6, "y": 1 / 6, "z": 2 / 4})
    # weighted ranking: u4's two battles (x-z tie, z beats y) count 10x
    w = pd.Series({"u1": 1.0, "u2": 1.0, "u3": 1.0, "u4": 10.0})
    rw = rank_models(BATTLES, "borda", weights=w).set_index("model")["score"]
    # x: (3 wins + 0.5 * 1 + 0.5 * 10) / (5 + 10); y: 1 win / (5 + 10)
    assert rw[["x", "y"]].tolist() == pytest.approx([8.5 / 15, 1 / 15])


def test_toy_aggregator_works_with_the_bootstrap(borda):
    for unit in ("battles", "participants"):
        res = bootstrap(BATTLES, "borda", rounds=300, unit=unit, seed=3)
        assert res.method == "borda" and res.samples.shape == (300, 3)
        assert dict(zip(res.models, res.estimate)) == pytest.approx(EXPECTED)
        s = res.summary().set_index("model")
        assert s["score_lo"].le(s["score_hi"]).all() and s["rank_lo"].le(s["rank_hi"]).all()
    # the batched participant resampling equals ranking the resampled battles directly
    arrays = encode_battles(BATTLES)
    t = Tournament(arrays)
    mult = {"u1": 2, "u2": 0, "u3": 1, "u4": 3}
    fast = t.score_counts(t.cluster_counts(np.array([[mult[u] for u in arrays.clusters]])), "borda", {})[0]
    resampled = pd.concat([BATTLES[BATTLES["user_id"] == u] for u, k in mult.items() for _ in range(k)])
    slow = rank_models(resampled, "borda", models=arrays.models).set_index("model")["score"]
    assert fast.tolist() == pytest.approx(slow.loc[list(arrays.models)].tolist())
    assert random_participants(BATTLES, 2, "borda", rounds=20).samples.shape == (20, 3)


def test_toy_aggregator_works_with_subgroups(borda):
    res = subgroup_rankings(BATTLES, "g", method="borda", rounds=50, min_participants=1)
    t = res.table
    assert set(t["group"]) == {OVERALL, "p", "q"}
    for group in ("p", "q"):
        sub = BATTLES[BATTLES["g"] == group]
        expected = rank_models(sub, "borda").set_index("model")["score"]
        got = t[t["group"] == group].set_index("model")["score"]
        assert got.to_dict() == pytest.approx(expected.to_dict())
    assert t[["score_lo", "score_hi", "rank_lo", "rank_hi"]].notna().all().all()


def test_toy_aggregator_in_sensitivity_and_plots(borda, small_study, tmp_path):
    from pluralis.ranking.battles import extract_battles
    from pluralis.ranking.plots import plot_scores
    from pluralis.ranking.sensitivity import compare_aggregators

    res = compare_aggregators(extract_battles(small_study.frames().utterances))  # default: every registered method
    assert "borda" in res.scores.columns and "prc" in res.scores.columns
    tau = res.kendall.set_index(["a", "b"]).loc[("win_rate", "borda"), "tau"]
    assert tau > 0.6  # points per battle and the average win rate agree broadly
    fig = plot_scores(bootstrap(BATTLES, "borda", rounds=20, unit="battles"), tmp_path / "b.png")
    assert fig.axes[0].get_xlabel() == "Borda points per battle"
    assert (tmp_path / "b.png").stat().st_size > 1000


def test_toy_aggregator_in_the_cli(borda, prism_folder, tmp_path):
    from pluralis.cli import app
    from pluralis.cli.rank import load_battles

    runner = CliRunner()
    out = tmp_path / "ranks.csv"
    r = runner.invoke(app, ["rank", str(prism_folder), "--method", "borda", "--bootstrap", "0", "--out", str(out)])
    assert r.exit_code == 0, r.output
    assert "Borda count" in r.output
    battles, _, _ = load_battles(str(prism_folder), tie_threshold=None, turns="openers", balanced=False, score="raw")
    expected = rank_models(battles, "borda").set_index("model")["score"]
    got = pd.read_csv(out).set_index("model")["score"]
    assert got.to_dict() == pytest.approx(expected.to_dict())
    # its option from the command line, a bootstrap and subgroups
    r = runner.invoke(
        app, ["rank", str(prism_folder), "-m", "borda_count", "-O", "tie_points=0", "-n", "30", "--by", "gender",
              "--min-participants", "1"]
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    assert "Borda count by gender" in r.output
    r = runner.invoke(app, ["rank", "--methods"])
    assert r.exit_code == 0 and "borda" in r.output and "tie_points" in r.output
    # a built-in's option is refused for the toy method, naming the method that takes it
    r = runner.invoke(app, ["rank", str(prism_folder), "-m", "borda", "--anchor", "flan-t5-xxl=800"])
    assert r.exit_code == 2 and "--method bt" in r.output


def test_unknown_method_lists_the_registered_ones(borda, prism_folder):
    from pluralis.cli import app

    with pytest.raises(ConfigError, match="unknown ranking method 'nope'") as err:
        get_aggregator("nope")
    for agg in aggregators():
        assert agg.name in str(err.value)
    assert "borda" in str(err.value)
    with pytest.raises(ConfigError, match="unknown ranking method"):
        rank_models(BATTLES, "nope")
    r = CliRunner().invoke(app, ["rank", str(prism_folder), "--method", "nope"])
    assert r.exit_code == 2
    assert "unknown ranking method" in r.output and "borda" in r.output and "win_rate" in r.output


def test_unregistered_toy_method_is_gone():
    assert "borda" not in [a.name for a in aggregators()]
    with pytest.raises(ConfigError, match="unknown ranking method"):
        get_aggregator("borda")


def test_registration_is_checked(borda):
    with pytest.raises(ConfigError, match="already registered"):
        register_aggregator(Aggregator(name="borda", label="other", kind="ratings", rating_column="score"))
    with pytest.raises(ConfigError, match="alias 'bt'"):
        register_aggregator(Aggregator(name="bt2", label="B", kind="ratings", rating_column="score", aliases=("bt",)))
    with pytest.raises(ConfigError, match="needs from_counts"):
        Aggregator(name="half", label="Half", kind="pairs")
    with pytest.raises(ConfigError, match="kind"):
        Aggregator(name="odd", label="Odd", kind="triples", rating_column="score")  # type: ignore[arg-type]
    assert register_aggregator(BORDA) is borda  # registering the same object again is a no-op


def test_builtins_are_one_file_each_and_discovered():
    modules = {m.name for m in pkgutil.iter_modules(methods_pkg.__path__) if not m.name.startswith("_")}
    builtin = {a.name for a in aggregators()}
    assert (
        modules
        == builtin
        == {
            "prc",
            "bt",
            "style_bt",
            "elo",
            "win_rate",
            "mean_score",
            "mean_normalized_score",
            "mean_within_turn_rank",
        }
    )
    for name in modules:
        agg = get_aggregator(name)
        assert agg.from_counts is not None or agg.from_sequence is not None or agg.rating_column or agg.from_battles
        assert agg.label and agg.axis_label


def test_no_method_names_in_the_shared_ranking_code():
    """Outside its own file, no code compares against (or lists) a built-in method's name (examples aside)."""
    root = Path(methods_pkg.__file__).parents[3]
    names = "|".join(a.name for a in aggregators())
    compare = re.compile(rf"""(==|!=)\s*["']({names})["']|\bin\s*[(\[{{][^)\]}}]*["']({names})["']""")
    files = [
        *(root / "pluralis" / "ranking").glob("*.py"),
        root / "pluralis" / "cli" / "rank.py",
        root / "pluralis" / "pipelines" / "demo.py",
    ]
    offenders = [
        f"{f.name}:{i}: {line.strip()}"
        for f in files
        for i, line in enumerate(f.read_text(encoding="utf-8").splitlines(), 1)
        if compare.search(line) and not line.strip().startswith((">>>", "..."))
    ]
    assert not offenders, offenders
