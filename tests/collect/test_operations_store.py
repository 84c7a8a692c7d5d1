"""Issue 16 items 6, 7 and 9 on a real store (SQLite and PostgreSQL): recruitment ids and payment matching,
withdrawal that leaves no trace (one transaction, audited), the failures table beside the PRISM files, QC."""

from __future__ import annotations

import asyncio
import csv
import json

import pytest
from sqlalchemy import MetaData, func, select, text
from typer.testing import CliRunner

from pluralis.cli import app as cli
from pluralis.collect.config import StudyConfig, study_to_toml
from pluralis.collect.protocol import ProtocolSession, Step, example_survey_answers
from pluralis.collect.recruitment import entry_params
from pluralis.data import load_prism, write_prism
from pluralis.errors import ConfigError, StoreError
from pluralis.llm import ModelSpec
from pluralis.store import Store
from pluralis.store.participants import (
    FAILURES_FILE,
    audit_log,
    delete_participant,
    failures,
    payments,
    record_entry,
    write_failures,
    write_payments_csv,
)
from pluralis.web.repository import CollectRepository, Snapshot

DEAD = "http://127.0.0.1:9/v1"


def study_config(names) -> StudyConfig:
    data = StudyConfig().model_dump(mode="json")
    data["study"]["id"] = "ops-study"
    data["models"] = [{"name": n, "endpoint": DEAD} for n in names]
    data["sampling"] = {"mode": "all", "timeout": 30}
    data["conversations"]["types"] = [
        {"name": "unguided", "label": "Unguided", "instruction": "Anything.", "quota": 1},
        {"name": "values guided", "label": "Values guided", "instruction": "Values.", "quota": 1},
    ]
    data["conversations"]["min_turns"] = 1
    data["completion"] = {"code": "DONE1234", "redirect_url": "https://app.prolific.com/submissions/complete?cc={code}"}
    return StudyConfig.model_validate(data)


def run(coro):
    return asyncio.run(coro)


def participant(repo: CollectRepository, store, cfg, backends, pid: str, *, finish_second: bool) -> ProtocolSession:
    """A participant through the web app's repository: every action committed as the app commits it."""
    query = {"PROLIFIC_PID": pid, "STUDY_ID": "prolific-study-1", "SESSION_ID": f"sess-{pid}", "utm": "x"}
    params = entry_params(cfg, query)
    _token, s = repo.create_session(external_id=params["PROLIFIC_PID"], models=backends, seed=len(pid))
    record_entry(store, s.user_id, cfg.study.id, params, client_os="Windows")

    def act(fn, *args, **kwargs):
        before = Snapshot.of(s.state)
        out = fn(*args, **kwargs)
        if asyncio.iscoroutine(out):
            run(out)
        repo.save(s, before, [("test", {"conversation": s.state.conversation_counter})])

    act(s.consent)
    act(s.submit_survey, example_survey_answers())
    for k, ctype in enumerate(("unguided", "values guided")):
        act(s.opening_turn, ctype, f"Conversation {k}: what should I cook tonight?")
        act(s.rate, {r.id: 30 + 10 * r.id for r in s.view().responses})
        if k == 0 or finish_second:
            act(s.finish, {"values": 70}, {"values": 60}, "Helpful answers, thank you.")
    return s


@pytest.fixture(params=["sqlite", "postgres"])
def ops_store(request, tmp_path, tiny_backends):
    url = tmp_path / "ops.sqlite" if request.param == "sqlite" else request.getfixturevalue("postgres_url")
    names = [*tiny_backends, "dead"]
    cfg = study_config(names)
    backends = {**tiny_backends, "dead": ModelSpec(name="dead", base_url=DEAD, max_retries=0)}
    store = Store.open(url)
    repo = CollectRepository(store, cfg)
    a = participant(repo, store, cfg, backends, "pidAAAA", finish_second=True)
    b = participant(repo, store, cfg, backends, "pidBBBB", finish_second=False)
    assert a.step == Step.COMPLETE and b.step == Step.CONTINUE
    # a table added later (e.g. a cache of utterance embeddings) keyed only by utterance ids
    with store.engine.begin() as conn:
        conn.execute(text("CREATE TABLE derived_cache (utterance_id VARCHAR(64) PRIMARY KEY, value TEXT)"))
        ids = conn.execute(text("SELECT utterance_id FROM utterances")).scalars().all()
        conn.execute(text("INSERT INTO derived_cache VALUES (:u, 'x')"), [{"u": u} for u in ids])
    yield store, cfg, a, b, str(url)
    store.close()


def table_rows(store) -> dict[str, list[str]]:
    """Every row of every table, as text (JSON columns included)."""
    md = MetaData()
    with store.engine.connect() as conn:
        md.reflect(conn)
        return {
            t.name: [json.dumps([str(v) for v in row]) for row in conn.execute(select(t)).all()]
            for t in md.sorted_tables
        }


def test_withdrawal_removes_a_participant_everywhere_in_one_transaction(ops_store):
    store, cfg, a, b, url = ops_store
    before = table_rows(store)
    assert any(b.user_id in r for r in before["collect_ratings"])
    counts_before = {k: len(v) for k, v in before.items()}
    report = delete_participant(store, b.user_id)
    after = table_rows(store)
    # nothing of B is left anywhere, not its id, not its Prolific ids
    for name, rows in after.items():
        for r in rows:
            assert b.user_id not in r and "pidBBBB" not in r and "sess-pidBBBB" not in r, (name, r)
    # exactly B's rows went, in every kind of table
    assert {k: counts_before[k] - len(after[k]) for k in after if counts_before[k] != len(after[k])} == {
        **report.rows,
        "collect_audit": -1,
    }
    expected_tables = {
        "participants",
        "conversations",
        "interactions",
        "utterances",
        "collect_sessions",
        "collect_ratings",
        "collect_responses",
        "collect_failures",
        "collect_events",
        "collect_entry_params",
        "derived_cache",
    }
    assert set(report.rows) == expected_tables
    assert report.rows["participants"] == 1 and report.rows["conversations"] == 1  # the finished one
    n_ratings_b = sum(1 for r in before["collect_ratings"] if b.user_id in r)
    assert report.rows["collect_ratings"] == n_ratings_b == 2 * 4  # incl. the unfinished conversation's
    # A is untouched and the store still exports valid PRISM records
    study = store.export_study()
    assert [p.user_id for p in study.survey] == [a.user_id] and len(study.conversations) == 2
    # the audit log says what and when, never whose
    [entry] = audit_log(store)
    assert entry["action"] == "participant_deleted" and entry["study_id"] == "ops-study"
    assert entry["detail"] == {"reason": "withdrawal", "rows": report.rows}
    assert b.user_id not in json.dumps(entry) and "pidBBBB" not in json.dumps(entry)
    # deleting again: nothing there, nothing written
    with pytest.raises(StoreError, match="nothing was deleted"):
        delete_participant(store, b.user_id)
    assert len(audit_log(store)) == 1
    with pytest.raises(ConfigError, match="reason must be one of"):
        delete_participant(store, a.user_id, reason="because I said so")


def test_a_failed_deletion_changes_nothing(tmp_path, tiny_backends):
    cfg = study_config([*tiny_backends])
    store = Store.open(tmp_path / "s.sqlite")
    repo = CollectRepository(store, cfg)
    s = participant(repo, store, cfg, dict(tiny_backends), "pidCCCC", finish_second=True)
    with store.engine.begin() as conn:  # the last table deleted from refuses
        conn.execute(
            text("CREATE TRIGGER keep BEFORE DELETE ON collect_sessions BEGIN SELECT RAISE(ABORT, 'kept'); END")
        )
    before = table_rows(store)
    with pytest.raises(StoreError, match="rolled back, nothing was deleted"):
        delete_participant(store, s.user_id)
    assert table_rows(store) == before and audit_log(store) == []


def test_payment_matching_export(ops_store, tmp_path):
    store, cfg, a, b, url = ops_store
    rows = {r["user_id"]: r for r in payments(store)}
    assert rows[a.user_id]["PROLIFIC_PID"] == "pidAAAA" and rows[a.user_id]["completion_code"] == "DONE1234"
    assert rows[a.user_id]["status"] == "complete" and rows[b.user_id]["status"] == "continue"
    assert rows[b.user_id]["completion_code"] is None and rows[b.user_id]["SESSION_ID"] == "sess-pidBBBB"
    assert "utm" not in rows[a.user_id]  # only the parameters the study names
    out = tmp_path / "payments.csv"
    result = CliRunner().invoke(cli, ["participants", "payments", "--store", url, "--out", str(out)])
    assert result.exit_code == 0, result.output
    table = list(csv.DictReader(out.open()))
    assert [r["PROLIFIC_PID"] for r in table] == ["pidAAAA", "pidBBBB"]
    assert list(table[0])[-3:] == ["PROLIFIC_PID", "SESSION_ID", "STUDY_ID"]
    assert table[0]["completion_code"] == "DONE1234" and table[1]["completed_at"] == ""
    # the PRISM files never carry them
    prism = tmp_path / "prism"
    write_prism(store.export_study(), prism)
    for f in prism.iterdir():
        assert "pidAAAA" not in f.read_text() and "prolific-study-1" not in f.read_text()


def test_model_failures_are_exported_beside_the_prism_files(ops_store, tmp_path):
    store, cfg, a, b, url = ops_store
    rows = failures(store)
    assert len(rows) == 4  # the dead model in each of 4 opening turns
    assert {r["model_name"] for r in rows} == {"dead"} and {r["kind"] for r in rows} == {"http_error"}
    assert {r["user_id"] for r in rows} == {a.user_id, b.user_id} and all(r["study_id"] == "ops-study" for r in rows)
    assert {r["conversation_id"] for r in rows if r["user_id"] == a.user_id} == {f"{a.user_id}-c0", f"{a.user_id}-c1"}
    assert all(r["turn"] == 0 and r["at"].endswith("Z") for r in rows)
    folder = tmp_path / "export"
    write_prism(store.export_study(), folder)
    path = write_failures(store, folder)
    assert path == folder / FAILURES_FILE
    lines = [json.loads(x) for x in path.read_text().splitlines()]
    assert lines == rows
    assert load_prism(folder).counts()["survey"] == 2  # the extra file does not disturb the PRISM reader
    only_a = write_failures(store, tmp_path / "a.jsonl", user_ids=[a.user_id])
    assert len(only_a.read_text().splitlines()) == 2
    result = CliRunner().invoke(cli, ["participants", "failures", "--store", url, "--out", str(tmp_path / "f")])
    assert result.exit_code == 0 and "4 model failures" in result.output
    assert (tmp_path / "f" / FAILURES_FILE).read_text() == path.read_text()


def test_cli_withdrawal_and_quality_control(ops_store, tmp_path):
    store, cfg, a, b, url = ops_store
    study_file = tmp_path / "study.toml"
    study_file.write_text(study_to_toml(cfg))
    out = tmp_path / "qc.csv"
    result = CliRunner().invoke(
        cli, ["participants", "qc", "--store", url, "--study", str(study_file), "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    qc = {r["user_id"]: r for r in csv.DictReader(out.open())}
    assert qc[a.user_id]["submission"] == "pidAAAA"
    assert (qc[a.user_id]["action"], qc[a.user_id]["include_flag"], qc[a.user_id]["n_conversations"]) == (
        "APPROVE",
        "1",
        "2",
    )
    # B finished 1 of 2 conversations and has no completion code
    assert qc[b.user_id]["quota_not_filled"] == "True" and qc[b.user_id]["no_completion_code"] == "True"
    assert (qc[b.user_id]["action"], qc[b.user_id]["include_flag"]) == ("REJECT", "1")
    assert "APPROVE 1" in result.output and "REJECT 1" in result.output
    # withdrawal from the command line, then the audit log
    assert CliRunner().invoke(cli, ["participants", "delete", b.user_id, "--store", url], input="n\n").exit_code == 1
    with store.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(text("collect_sessions"))).scalar_one() == 2
    result = CliRunner().invoke(cli, ["participants", "delete", b.user_id, "--store", url, "--yes"])
    assert result.exit_code == 0 and "collect_ratings" in result.output, result.output
    result = CliRunner().invoke(cli, ["participants", "delete", b.user_id, "--store", url, "--yes"])
    assert result.exit_code == 2 and "nothing was deleted" in result.output
    audit = CliRunner().invoke(cli, ["participants", "audit", "--store", url])
    assert audit.exit_code == 0 and "participant_deleted" in audit.output and b.user_id not in audit.output
    remaining = write_payments_csv(store, tmp_path / "after.csv")
    assert remaining == 1
