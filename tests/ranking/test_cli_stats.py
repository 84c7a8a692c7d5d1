"""``pluralis rank``: --contrasts, --agreement, rater filters, --interval and style control from the command line."""

from __future__ import annotations

import pandas as pd
import pytest
import typer
from typer.testing import CliRunner

runner = CliRunner()


@pytest.fixture(scope="module")
def app():
    from pluralis.cli import rank

    a = typer.Typer()
    rank.register(a)

    @a.callback()
    def _main():
        pass

    return a


def test_contrasts_and_agreement_are_printed_and_written(app, prism_folder, tmp_path):
    out = tmp_path / "ranks.csv"
    r = runner.invoke(
        app,
        [
            "rank",
            str(prism_folder),
            "--by",
            "gender",
            "--method",
            "bt",
            "--contrasts",
            "--agreement",
            "--bootstrap",
            "40",
            "--permutations",
            "19",
            "--min-participants",
            "5",
            "--out",
            str(out),
        ],
        terminal_width=200,
    )
    assert r.exit_code == 0, r.output
    assert "group contrasts by gender" in r.output and "likelihood-ratio (BT)" in r.output
    assert "Krippendorff" in r.output
    contrasts = pd.read_csv(tmp_path / "ranks.contrasts.csv")
    assert {"group", "other", "model", "difference", "lo", "hi", "p_value", "p_holm", "p_bh", "significant"} <= set(
        contrasts.columns
    )
    omnibus = pd.read_csv(tmp_path / "ranks.omnibus.csv")
    assert set(omnibus["test"]) == {"bt_lrt", "permutation"}
    agreement = pd.read_csv(tmp_path / "ranks.agreement.csv")
    assert {"all", "within"} <= set(agreement["kind"])


def test_rater_filters_and_interval_flag(app, prism_folder, tmp_path):
    out = tmp_path / "overall.csv"
    r = runner.invoke(
        app,
        [
            "rank",
            str(prism_folder),
            "--bootstrap",
            "30",
            "--interval",
            "percentile",
            "--min-votes",
            "30",
            "--drop-outlier-raters",
            "--out",
            str(out),
        ],
    )
    assert r.exit_code == 0, r.output
    assert "rater filters: dropped" in r.output
    raters = pd.read_csv(tmp_path / "overall.raters.csv")
    assert {"user_id", "votes", "dropped", "reason"} <= set(raters.columns)
    assert raters.loc[raters["votes"] < 30, "dropped"].all()


def test_style_controlled_bt_from_the_command_line(app, prism_folder):
    r = runner.invoke(app, ["rank", str(prism_folder), "--method", "style_bt", "--bootstrap", "10"])
    assert r.exit_code == 0, r.output
    assert "Style-controlled Bradley-Terry" in r.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--contrasts"], "give --by"),
        (["--by", "gender", "--contrasts", "--method", "elo"], "battle order"),
        (["--by", "gender", "--contrasts", "--bootstrap", "0"], "bootstrap rounds"),
        (["--interval", "studentized"], "--interval must be one of"),
        (["--by", "gender", "--contrasts", "--correction", "sidak"], "--correction"),
    ],
)
def test_bad_flags_fail_before_reading_data(app, tmp_path, args, message):
    r = runner.invoke(app, ["rank", str(tmp_path / "missing"), *args])
    assert r.exit_code != 0
    assert message in r.output
