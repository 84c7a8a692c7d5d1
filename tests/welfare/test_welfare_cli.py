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
    r = runner.invoke(app, ["weights", str(folder), "--country", "US", "--method", "poststratify"])
    out = " ".join(r.output.split())
    assert r.exit_code == 2 and "have no participants" in out and "--renormalise" in out
