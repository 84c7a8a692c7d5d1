"""CLI: pluralis personas generate|show, simulate, fidelity (clear errors for bad configs)."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from pluralis.cli import app

runner = CliRunner()


def test_generate_writes_parquet_jsonl_and_csv(tmp_path):
    pq = tmp_path / "p.parquet"
    r = runner.invoke(app, ["personas", "generate", "-n", "400", "-c", "US", "-c", "UK", "--out", str(pq)])
    assert r.exit_code == 0, r.output
    assert "US" in r.output and "UK" in r.output and pq.exists()
    r = runner.invoke(app, ["personas", "show", str(pq), "-k", "2"])
    assert r.exit_code == 0 and "constitution" in r.output
    js = tmp_path / "s.jsonl"
    r = runner.invoke(app, ["personas", "generate", "-n", "5", "-c", "UK", "--out", str(js)])
    assert r.exit_code == 0, r.output
    rows = [json.loads(x) for x in js.read_text().splitlines()]
    assert len(rows) == 5 and rows[0]["source"] == "simulated" and rows[0]["study_locale"] == "uk"
    csv = tmp_path / "s.csv"
    assert runner.invoke(app, ["personas", "generate", "-n", "5", "--out", str(csv)]).exit_code == 0
    assert csv.read_text().startswith("user_id,")


def test_generate_bad_configs_fail_with_clear_messages(tmp_path):
    r = runner.invoke(app, ["personas", "generate", "-n", "10", "-c", "France"])
    assert r.exit_code == 2 and "unknown country 'France'" in r.output
    r = runner.invoke(app, ["personas", "generate", "-n", "10", "--out", str(tmp_path / "x.txt")])
    assert r.exit_code == 2 and ".parquet, .jsonl or .csv" in r.output
    r = runner.invoke(app, ["personas", "generate", "-n", "10", "--executor", "spark"])
    assert r.exit_code == 2 and "unknown executor" in r.output


def test_simulate_then_fidelity(tmp_path):
    out, db = tmp_path / "prism", tmp_path / "sim.sqlite"
    r = runner.invoke(
        app, ["simulate", "-n", "12", "--conversations-per-type", "1", "--out", str(out), "--store", str(db)]
    )
    assert r.exit_code == 0, r.output
    assert (out / "survey.jsonl").exists() and db.exists()
    r = runner.invoke(
        app, ["fidelity", str(db), str(out), "--by", "gender", "--min-ratings", "5", "--out", str(tmp_path / "f.csv")]
    )
    assert r.exit_code == 0, r.output
    assert "1.00" in r.output and (tmp_path / "f.csv").exists()
    r = runner.invoke(app, ["fidelity", str(out), "--replay", "--by", "gender", "--min-ratings", "5"])
    assert r.exit_code == 0, r.output


def test_simulate_needs_an_output():
    r = runner.invoke(app, ["simulate", "-n", "3"])
    assert r.exit_code == 2 and "--out" in r.output


def test_quota_option_rakes_margins_and_impossible_quotas_fail_clearly(tmp_path):
    csv = tmp_path / "q.csv"
    r = runner.invoke(
        app,
        ["personas", "generate", "-n", "400", "-c", "UK", "--quota", "gender=Female:0.75,Male:0.25", "--out", str(csv)],
    )
    assert r.exit_code == 0, r.output
    import pandas as pd

    assert (pd.read_csv(csv)["gender"] == "Female").mean() == 0.75
    for quota, message in [
        ("gender=Female:0.8,Male:0.5", "impossible quota for gender: shares must sum to 1"),
        ("gender=Female:-0.2,Male:1.2", "impossible quota for gender: shares must be >= 0"),
        ("ethnicity=Martian:1", "unknown category ['Martian']"),
        ("religion=Christian:1", "quota on unknown variable 'religion'"),
        ("gender=Female", "needs a share"),
        ("gender=Female:lots", "is not a number"),
    ]:
        r = runner.invoke(app, ["personas", "generate", "-n", "10", "--quota", quota])
        assert r.exit_code == 2 and message in r.output, (quota, r.output)
    r = runner.invoke(app, ["simulate", "-n", "4", "-c", "Mars", "--out", str(tmp_path / "x")])
    assert r.exit_code == 2 and "unknown country 'Mars'" in r.output
    r = runner.invoke(app, ["simulate", "-n", "4", "--quota", "age=17 years old:1", "--out", str(tmp_path / "x")])
    assert r.exit_code == 2 and "unknown category ['17 years old']" in r.output
    assert not (tmp_path / "x").exists()  # nothing half-written


def test_demo_bad_llm_endpoint_fails_clearly_without_writing(tmp_path):
    out = tmp_path / "demo"
    r = runner.invoke(app, ["demo", "--llm-base-url", "http://127.0.0.1:9/v1", "--out", str(out)])
    assert r.exit_code == 2 and "LLM endpoint http://127.0.0.1:9/v1 did not list its models" in r.output, r.output
    r = runner.invoke(app, ["demo", "--llm-base-url", "http://127.0.0.1:9/v1", "--llm-model", "m", "--out", str(out)])
    assert r.exit_code == 2 and "role-play LLM 'm' at http://127.0.0.1:9/v1 did not answer" in r.output, r.output
    r = runner.invoke(app, ["demo", "--us", "1", "--uk", "0", "--out", str(out)])
    assert r.exit_code == 2 and "at least 2 personas" in r.output, r.output
    assert not out.exists()  # nothing written for a config that cannot run


def test_simulate_checks_its_study_file_before_generating_personas(tmp_path, monkeypatch):
    import pluralis.cli.personas as personas_cli

    def no_panel(*args, **kwargs):
        raise AssertionError("personas were generated before the study file was checked")

    monkeypatch.setattr(personas_cli, "_panel", no_panel)
    bad = tmp_path / "study.toml"
    bad.write_text('[conversations]\nmin_turns = "two"\n', encoding="utf-8")
    r = runner.invoke(app, ["simulate", "-n", "4", "--study", str(bad), "--out", str(tmp_path / "x")])
    assert r.exit_code == 2 and "study.toml" in r.output and "min_turns" in r.output, r.output
    assert not (tmp_path / "x").exists()
