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


def test_info_of_comparisons_counts_annotators_their_fields_and_models(tmp_path):
    # Arena battles with participant fields: info printed only empty tables (survey 0, no models)
    battles, people = tmp_path / "battles.csv", tmp_path / "people.csv"
    battles.write_text("model_a,model_b,winner,judge\nx,y,model_a,r1\ny,z,tie,r1\nx,z,model_b,r2\nz,y,model_a,r3\n")
    people.write_text("judge,gender,age\nr1,Female,34\nr2,Male,51\nr3,Female,29\n")
    db = tmp_path / "s.sqlite"
    r = runner.invoke(app, ["import", str(battles), "--participants", str(people), "--id", "judge", "--store", str(db)])
    assert r.exit_code == 0, r.output
    for source in (db, battles):
        r = runner.invoke(app, ["info", str(source)], env={"COLUMNS": "160"})
        assert r.exit_code == 0, r.output
        text = " ".join(r.output.split())
        if source == db:
            assert "annotators │ 3" in text and "Female │ 2 │ 66.7%" in text, r.output
        else:
            assert "annotators │ 3" in text  # inline file: no participant fields
        assert "models" in text and "y │ 3 │ 37.5%" in text, r.output


def test_exports_get_the_umask_permissions_not_mkstemps_0600(tmp_path):
    # every atomically written file was -rw------- (unreadable to collaborators and web servers)
    import os
    import stat

    old = os.umask(0o022)
    try:
        db = tmp_path / "s.sqlite"
        assert runner.invoke(app, ["generate", str(db), "-n", "5"]).exit_code == 0
        for fmt, target in (("prism", "prism"), ("arena", "b.jsonl"), ("parquet", "pq"), ("wide", "w.csv")):
            r = runner.invoke(app, ["export", str(tmp_path / target), "--store", str(db), "-f", fmt])
            assert r.exit_code == 0, r.output
        r = runner.invoke(app, ["rank", str(db), "-n", "0", "--out", str(tmp_path / "ranks.csv")])
        assert r.exit_code == 0, r.output
        files = [p for p in tmp_path.rglob("*") if p.is_file() and p.name != "s.sqlite" and not p.name.startswith(".")]
        assert len(files) >= 8
        assert {p.name: oct(stat.S_IMODE(p.stat().st_mode)) for p in files} == {p.name: "0o644" for p in files}
        (tmp_path / "ranks.csv").chmod(0o640)  # a file being replaced keeps its own mode
        runner.invoke(app, ["rank", str(db), "-n", "0", "--out", str(tmp_path / "ranks.csv")])
        assert stat.S_IMODE((tmp_path / "ranks.csv").stat().st_mode) == 0o640
    finally:
        os.umask(old)
