"""`pluralis serve` CLI, and quota cells through the web app (screen-out, admin quota table)."""

from __future__ import annotations

import httpx
from typer.testing import CliRunner

from pluralis.cli import app as cli
from pluralis.collect.config import StudyConfig, load_study_config
from pluralis.collect.protocol import example_survey_answers
from pluralis.store import Store
from pluralis.web.app import create_app
from tests.collect_helpers import HttpParticipant, Server, ThreadServer, participant_run, study_config

ADMIN = "admin-token-for-tests-123"


def test_serve_init_writes_the_prism_study_and_serve_starts_it(tmp_path):
    runner = CliRunner()
    assert "STUDY" in runner.invoke(cli, ["serve", "--help"]).output
    target = tmp_path / "my_study.toml"
    result = runner.invoke(cli, ["serve", "--init", str(target)])
    assert result.exit_code == 0, result.output
    assert load_study_config(target) == StudyConfig()
    assert runner.invoke(cli, ["serve", "--init", str(target)]).exit_code == 2  # never overwrites
    bad = tmp_path / "bad.toml"
    bad.write_text("[sampling]\nmode = 'sometimes'\n")
    out = runner.invoke(cli, ["serve", str(bad)])
    assert out.exit_code == 2 and "sampling.mode" in out.output
    # an unedited template is refused before it listens, each placeholder named with its line
    out = runner.invoke(cli, ["serve", str(target), "--db", str(tmp_path / "refused.sqlite")])
    assert out.exit_code == 2 and "cannot be served" in out.output, out.output
    assert f"{target}:" in out.output and "models.0" in out.output and "consent.text" in out.output
    assert not (tmp_path / "refused.sqlite").exists()  # nothing opened or written
    server = Server(target, tmp_path / "my_study.sqlite")  # local testing: placeholders allowed, and warned
    try:
        assert httpx.get(server.url + "/healthz").json() == {"status": "ok", "study": "pluralis-prism"}
        # the shipped consent text has placeholders for the team's contacts and ethics reference
        assert any("consent text still has 5 placeholder(s)" in line for line in server.lines), server.lines
        assert "Start" in httpx.get(server.url + "/").text
    finally:
        server.stop()
    assert (tmp_path / "my_study.sqlite").exists() and (tmp_path / "my_study.secret").exists()


def test_census_cells_screen_out_full_cells_and_show_on_the_dashboard(tmp_path, double_server):
    models = [{"name": "echo-a", "endpoint": double_server}]
    cfg = study_config(models, quotas={"unguided": 1})
    data = cfg.model_dump(mode="json")
    data["quotas"] = {"kind": "census", "country": "UK", "total": 10, "over_quota": "screen_out"}
    cfg = StudyConfig.model_validate(data)
    cell = "65+ years old | Asian | Male"
    store = Store.open(tmp_path / "s.sqlite")
    answers = example_survey_answers() | {
        "age": "65+ years old",
        "gender": "Male",
        "ethnicity": {"category": "Asian", "self_described": None},
    }
    with ThreadServer(create_app(cfg, store, admin_token=ADMIN)) as server:

        async def script(p: HttpParticipant):
            await p.join()
            await p.consent_and_survey()

        first = participant_run(server.url, cfg, script, answers=answers)
        assert "Conversation 1 of 1" in first.html
        second = participant_run(server.url, cfg, script, answers=answers)
        assert "enough participants with a profile like yours" in second.html
        summary = httpx.get(server.url + "/admin/api/summary", headers={"Authorization": "Bearer " + ADMIN}).json()
        row = next(r for r in summary["quota"] if r["cell"] == cell)
        assert row == {"cell": cell, "target": 1, "filled": 1, "share": 1.0, "full": True}
        assert summary["status"] == {"start_conversation": 1, "screened_out": 1}
        page = httpx.get(server.url + "/admin", headers={"Authorization": "Bearer " + ADMIN}).text
        assert "Quota fill per cell" in page and cell in page
    study = store.export_study()
    assert sorted(p.survey_only for p in study.survey) == [False, True]
