"""CLI: ``pluralis welfare``, ``pluralis represent``, ``pluralis weights``."""

from __future__ import annotations

import pandas as pd
import pytest
import typer
from typer.testing import CliRunner

from pluralis.cli.welfare import register


@pytest.fixture(scope="module")
def app():
    a = typer.Typer()
    register(a)
    return a


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    from pluralis.data import write_prism
    from pluralis.data.synthetic import generate_study

    path = tmp_path_factory.mktemp("study") / "prism"
    write_prism(generate_study(n_participants=240, seed=2, with_metadata=False), path)
    return path


runner = CliRunner()


def test_welfare_command_writes_tables_and_plot(app, folder, tmp_path):
    out = tmp_path / "out"
    r = runner.invoke(
        app, ["welfare", str(folder), "--country", "US", "--draws", "60", "--allow-oversample", "--out", str(out)]
    )
    assert r.exit_code == 0, r.output
    assert "prefer a different model" in r.output
    summary = pd.read_csv(out / "welfare_summary.csv")
    assert len(summary) == 7 * 4 * 2
    for name in (
        "welfare_draws.csv",
        "model_welfare.csv",
        "welfare_fosd.csv",
        "welfare_table_rating.csv",
        "welfare.png",
    ):
        assert (out / name).exists(), name


def test_welfare_reports_scale_unseen_and_monte_carlo_error(app, folder, tmp_path):
    out = tmp_path / "mc"
    r = runner.invoke(
        app,
        ["welfare", str(folder), "--draws", "80", "--allow-oversample", "--measure", "rating", "--out", str(out)],
    )
    assert r.exit_code == 0, r.output
    text = " ".join(r.output.split())
    assert "rating scale 1-100 (inferred: the 1-100 scale holds every observed score" in text
    assert "scores 1 (scale_min)" in text and "balanced subset only" in text
    assert "±Monte-Carlo s.e. over 80 draws" in text and " ±" in text
    summary = pd.read_csv(out / "welfare_summary.csv")
    assert {"mean_se", "mean_ci_low", "mean_ci_high", "median_ci_low", "median_ci_high", "top_model_share_se"} <= set(
        summary.columns
    )
    assert (summary["mean_se"] > 0).any()
    r = runner.invoke(
        app,
        [
            "welfare",
            str(folder),
            "--draws",
            "10",
            "--allow-oversample",
            "--measure",
            "rating",
            "--scale",
            "0,100",
            "--unseen",
            "min_observed",
            "--all-conversations",
        ],
    )
    assert r.exit_code == 0, r.output
    text = " ".join(r.output.split())
    assert "rating scale 0-100 (declared)" in text and "(min_observed)" in text and "all conversations" in text
    for args, message in (
        (["--unseen", "lowest"], "unseen must be 'scale_min', 'min_observed', 'prism' or a number"),
        (["--scale", "1,10"], "rating(s) fall outside it"),
        (["--scale", "one"], "expected LO,HI"),
    ):
        r = runner.invoke(app, ["welfare", str(folder), "--draws", "5", "--allow-oversample", *args])
        assert r.exit_code == 2 and message in " ".join(r.output.split()), (args, r.output)


def test_welfare_custom_schemes_and_populations(app, folder):
    r = runner.invoke(
        app,
        [
            "welfare",
            str(folder),
            "--country",
            "UK",
            "--draws",
            "20",
            "--measure",
            "choice",
            "--allow-oversample",
            "--scheme",
            "Women (30):30:gender == 'Female'",
            "--scheme",
            "Rep (30):30",
            "--population",
            "Everyone:",
            "--population",
            "Young:age == '18-24 years old'",
            "--reference",
            "Rep (30)",
        ],
    )
    assert r.exit_code == 0, r.output
    assert "Women (30)" in r.output.replace("\n", " ") or "Women" in r.output


@pytest.mark.parametrize(
    "args, message",
    [
        (["--country", "France"], "unknown country 'France': the package has census targets"),
        (["--population", "Red:colour == 'red'", "--allow-oversample"], "unknown field 'colour'"),
        (
            ["--population", "Martians:gender == 'Martian'", "--allow-oversample"],
            "population 'Martians' has no members in the US sample",
        ),
        ([], "scheme 'Rep (100)' draws n=100 but pool 'Rep' has only"),
        (["--scheme", "Big:5000", "--no-replace"], "without replacement"),
        (["--scheme", "Bad:many"], "is not an integer"),
        # a query without NAME: was a population of everyone named "gender = Female"
        (["--population", "gender = Female"], "population 'gender = Female' has no NAME:"),
    ],
)
def test_welfare_bad_inputs_exit_2(app, folder, args, message):
    r = runner.invoke(app, ["welfare", str(folder), "--draws", "5", *args])
    assert r.exit_code == 2
    assert message in " ".join(r.output.split())


def test_represent_and_weights_commands(app, folder, tmp_path):
    r = runner.invoke(
        app,
        [
            "represent",
            str(folder),
            "--country",
            "US",
            "--plot",
            str(tmp_path / "rep.png"),
            "--out",
            str(tmp_path / "rep.csv"),
        ],
    )
    assert r.exit_code == 0, r.output
    assert (tmp_path / "rep.png").exists() and len(pd.read_csv(tmp_path / "rep.csv")) > 60
    r = runner.invoke(
        app, ["weights", str(folder), "--country", "US", "--renormalise", "--out", str(tmp_path / "w.csv")]
    )
    assert r.exit_code == 0, r.output
    w = pd.read_csv(tmp_path / "w.csv")
    assert list(w.columns) == ["user_id", "weight"] and w["weight"].ge(0).all()
    r = runner.invoke(app, ["represent", str(folder), "--country", "US", "--weights", str(tmp_path / "w.csv")])
    assert r.exit_code == 0, r.output
    r = runner.invoke(
        app, ["weights", str(folder), "--country", "UK", "--method", "rebalance", "--out", str(tmp_path / "r.csv")]
    )
    assert r.exit_code == 0, r.output
    assert pd.read_csv(tmp_path / "r.csv")["included"].dtype == bool
    r = runner.invoke(app, ["represent", str(folder), "--country", "US", "--construction", "prism"])
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["represent", str(folder), "--country", "US", "--construction", "acs"])
    assert r.exit_code == 2 and "unknown census construction 'acs'" in " ".join(r.output.split())
    r = runner.invoke(app, ["weights", str(folder), "--country", "US", "--method", "poststratify"])
    out = " ".join(r.output.split())
    assert r.exit_code == 2 and "have no participants" in out and "--renormalise" in out


def test_choice_welfare_of_battles_says_ties_are_left_out(tmp_path):
    # "chosen 75.0% of the time it is shown": x is shown 4 times and chosen 2; per participant,
    # without the tie, u1 chose x 1 of 1 and u2 1 of 2, so 75%
    from pluralis.cli import app as full_app

    path = tmp_path / "battles.csv"
    path.write_text(
        "model_a,model_b,winner,judge,gender\nx,y,model_a,u1,F\nx,y,tie,u1,F\nx,y,model_b,u2,M\ny,x,model_b,u2,M\n"
    )
    r = runner.invoke(full_app, ["welfare", str(path), "--by", "gender", "--draws", "20"])
    assert r.exit_code == 0, r.output
    text = " ".join(r.output.split())
    assert "choice / Rep: best model x is chosen 75.0% of the time it is shown in a decided comparison" in text
    assert "(ties, which choose no model, are left out)" in text
