"""The data CLI end to end: generate -> import -> info -> export -> validate."""

from __future__ import annotations

from typer.testing import CliRunner

from pluralis.cli import app
from pluralis.data import canonical_json, load_prism
from pluralis.data.io.parquet import read_parquet

runner = CliRunner()


def test_generate_import_info_export(tmp_path):
    src, db = tmp_path / "gen", tmp_path / "s.sqlite"
    r = runner.invoke(app, ["generate", str(src), "-n", "12", "--seed", "4"])
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["import", str(src), "--store", str(db)])
    assert r.exit_code == 0, r.output
    assert "utterances" in r.output
    r = runner.invoke(app, ["info", str(db)])
    assert r.exit_code == 0 and "gender" in r.output and "conversation_type" in r.output
    r = runner.invoke(app, ["export", str(tmp_path / "out"), "--store", str(db)])
    assert r.exit_code == 0, r.output
    a, b = load_prism(src), load_prism(tmp_path / "out")
    assert [canonical_json(u.to_json_dict()) for u in a.utterances] == [
        canonical_json(u.to_json_dict()) for u in b.utterances
    ]
    r = runner.invoke(app, ["export", str(tmp_path / "pq"), "--store", str(db), "-f", "parquet"])
    assert r.exit_code == 0, r.output
    assert read_parquet(tmp_path / "pq").counts() == a.counts()
    r = runner.invoke(app, ["validate", str(tmp_path / "out")])
    assert r.exit_code == 0 and "valid" in r.output


def test_generate_straight_into_store(tmp_path):
    db = tmp_path / "direct.sqlite"
    r = runner.invoke(app, ["generate", str(db), "-n", "5"])
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["info", str(db)])
    assert "survey" in r.output


def test_missing_source_is_a_clear_error(tmp_path):
    r = runner.invoke(app, ["info", str(tmp_path / "nope.sqlite")])
    assert r.exit_code == 2 and "no such store" in r.output
