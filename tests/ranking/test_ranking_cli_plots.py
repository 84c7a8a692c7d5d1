"""The ``pluralis rank`` command and the ranking plots."""

from __future__ import annotations

import pandas as pd
import pytest
import typer
from typer.testing import CliRunner

from pluralis.errors import ConfigError
from pluralis.ranking.battles import extract_battles
from pluralis.ranking.plots import plot_score_distribution, plot_scores, plot_sensitivity, plot_subgroup_ranks
from pluralis.ranking.sensitivity import tie_threshold_sensitivity
from pluralis.ranking.subgroups import subgroup_rankings
from pluralis.ranking.uncertainty import bootstrap, random_participants


@pytest.fixture(scope="module")
def app():
    from pluralis.cli import rank

    a = typer.Typer()
    rank.register(a)

    @a.callback()
    def _main():  # keep "rank" as a sub-command
        pass

    return a


runner = CliRunner()


def test_rank_by_subgroup_writes_csv_and_png(app, prism_folder, tmp_path):
    out = tmp_path / "ranks.csv"
    png = tmp_path / "ranks.png"
    r = runner.invoke(
        app,
        [
            "rank",
            str(prism_folder),
            "--by",
            "gender",
            "--method",
            "prc",
            "--bootstrap",
            "50",
            "--min-participants",
            "5",
            "--out",
            str(out),
            "--plot",
            str(png),
        ],
    )
    assert r.exit_code == 0, r.output
    assert "Pairwise Rank Centrality by gender" in r.output
    table = pd.read_csv(out)
    assert {"by", "group", "model", "rank", "shift", "significant"} <= set(table.columns)
    assert "(all)" in set(table["group"])
    assert png.stat().st_size > 1000


def test_rank_overall_parquet_svg_and_bt_anchor(app, prism_folder, tmp_path):
    out = tmp_path / "ranks.parquet"
    svg = tmp_path / "ranks.svg"
    r = runner.invoke(
        app,
        [
            "rank",
            str(prism_folder),
            "--method",
            "bt",
            "--anchor",
            "flan-t5-xxl=800",
            "--bootstrap",
            "30",
            "--unit",
            "battles",
            "--out",
            str(out),
            "--plot",
            str(svg),
        ],
    )
    assert r.exit_code == 0, r.output
    table = pd.read_parquet(out)
    assert table.set_index("model").loc["flan-t5-xxl", "score"] == pytest.approx(800)
    assert svg.read_text().lstrip().startswith("<?xml")


def test_rank_point_estimates_and_friendly_alias(app, prism_folder):
    r = runner.invoke(
        app, ["rank", str(prism_folder), "--by", "birth_region", "--bootstrap", "0", "--min-participants", "1"]
    )
    assert r.exit_code == 0, r.output
    assert "location_birth_region" in r.output
    r = runner.invoke(app, ["rank", str(prism_folder), "--method", "mean_within_turn_rank", "--bootstrap", "0"])
    assert r.exit_code == 0 and "lower scores are better" in r.output


@pytest.mark.parametrize(
    "args, message",
    [
        (["--method", "borda"], "unknown ranking method"),
        (["--by", "shoe_size"], "unknown field"),
        (["--unit", "people"], "--unit"),
        (["--out", "x.xlsx", "--bootstrap", "0"], ".csv or .parquet"),
        (["--out", "x.txt"], ".csv or .parquet"),  # refused before the (1,000-round) bootstrap runs
        (["--plot", "x.jpg"], ".png, .svg or .pdf"),
        (["--anchor", "flan-t5-xxl=800"], "--method bt"),
        (["--method", "bt", "--anchor", "flan"], "MODEL=RATING"),
        (["--by", "gender", "--method", "elo"], "Elo"),
    ],
)
def test_rank_errors_are_clear(app, prism_folder, args, message):
    r = runner.invoke(app, ["rank", str(prism_folder), *args])
    assert r.exit_code == 2
    assert message in r.output


@pytest.mark.parametrize(
    "method, message",
    [("mean_score", "winners only (no scores)"), ("within_turn_rank", "winners only"), ("style_bt", "texts of both")],
)
def test_rank_method_needing_scores_or_texts_on_winner_only_battles(app, tmp_path, method, message):
    # Arena battles with winners only: a score-based method was a KeyError traceback, style control
    # silently returned plain Bradley-Terry
    path = tmp_path / "battles.csv"
    path.write_text("model_a,model_b,winner,judge\nx,y,model_a,u1\ny,z,tie,u2\nx,z,model_b,u3\n")
    r = runner.invoke(app, ["rank", str(path), "--method", method, "--bootstrap", "0"])
    assert r.exit_code == 2, r.output
    assert f"{path}: --method" in r.output and message in r.output
    assert "Traceback" not in r.output
    ok = runner.invoke(app, ["rank", str(path), "--method", "bt", "--bootstrap", "0"])
    assert ok.exit_code == 0, ok.output


def test_rank_skipped_numeric_group_is_named_plainly(app, tmp_path):
    path = tmp_path / "battles.csv"
    rows = [f"x,y,model_a,u{i},{30 if i < 3 else 41}" for i in range(6)]
    path.write_text("model_a,model_b,winner,judge,age\n" + "\n".join(rows) + "\n")
    r = runner.invoke(app, ["rank", str(path), "--by", "age", "--bootstrap", "0", "--min-participants", "4"])
    assert "skipped age = 30: 3 participants" in r.output, r.output
    assert "np." not in r.output
    # no group kept: say so, and show the overall ranking (the screen was empty)
    assert "--by age: every group has fewer than --min-participants 4" in " ".join(r.output.split())
    assert "(overall)" in r.output and r.exit_code == 0


def test_rank_says_when_the_tie_threshold_does_not_apply(app, tmp_path, prism_folder):
    # Arena battles carry their winners: -t changed nothing, silently
    decided = tmp_path / "decided.csv"
    decided.write_text("model_a,model_b,winner,score_a,score_b\nx,y,model_a,80,78\ny,x,model_a,60,50\n")
    r = runner.invoke(app, ["rank", str(decided), "-t", "5", "--bootstrap", "0", "--method", "win_rate"])
    assert r.exit_code == 0 and "--tie-threshold is not used" in r.output, r.output
    r = runner.invoke(app, ["rank", str(prism_folder), "-t", "5", "--bootstrap", "0"])
    assert r.exit_code == 0 and "not used" not in r.output, r.output


def test_bad_output_paths_fail_before_any_ranking(app, prism_folder):
    for args in (["--out", "ranks.txt"], ["--plot", "ranks.jpg"]):
        r = runner.invoke(app, ["rank", str(prism_folder), "--bootstrap", "50", *args])
        assert r.exit_code == 2 and "battles" not in r.output and "rank range" not in r.output, r.output


def test_rank_missing_data_is_a_clear_error(app, tmp_path):
    r = runner.invoke(app, ["rank", str(tmp_path / "nope")])
    assert r.exit_code == 2 and "error" in r.output


def test_plots_write_files(small_study, tmp_path):
    frames = small_study.frames()
    battles = extract_battles(frames.utterances)
    res = subgroup_rankings(battles, "conversation_type", rounds=30, min_participants=5)
    plot_subgroup_ranks(res, tmp_path / "sub.png")
    plot_scores(bootstrap(battles, "prc", rounds=30), tmp_path / "scores.svg")
    plot_score_distribution(random_participants(battles, 10, rounds=30), tmp_path / "dist.pdf")
    plot_sensitivity(tie_threshold_sensitivity(battles, thresholds=[0, 5, 10]), tmp_path / "ties.png", xlabel="t")
    for name in ("sub.png", "scores.svg", "dist.pdf", "ties.png"):
        assert (tmp_path / name).stat().st_size > 1000
    with pytest.raises(ConfigError, match="png"):
        plot_scores(bootstrap(battles, "prc", rounds=5), tmp_path / "x.jpg")


def test_rank_intersection_of_fields(app, prism_folder):
    r = runner.invoke(
        app, ["rank", str(prism_folder), "--by", "gender+age", "--bootstrap", "0", "--min-participants", "1"]
    )
    assert r.exit_code == 0, r.output
    assert "gender × age" in r.output


def test_rank_is_registered_on_the_pluralis_app(prism_folder):
    from pluralis.cli import app as pluralis_app

    r = runner.invoke(pluralis_app, ["rank", str(prism_folder), "--bootstrap", "20", "--method", "win_rate"])
    assert r.exit_code == 0, r.output
    assert "Average win rate" in r.output
