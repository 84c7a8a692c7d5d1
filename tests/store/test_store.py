"""The store: migrations, WAL, lossless import/export on SQLite and PostgreSQL, transactions."""

from __future__ import annotations

import sqlite3

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import text

from pluralis.data import canonical_json, write_prism
from pluralis.errors import DataValidationError, StoreError
from pluralis.store import Store
from pluralis.store.db import head_revision
from pluralis.store.schema import metadata


def same_study(a, b) -> None:
    for table in ("survey", "conversations", "utterances", "metadata", "comparisons"):
        left = [canonical_json(r.to_json_dict()) for r in getattr(a, table)]
        right = [canonical_json(r.to_json_dict()) for r in getattr(b, table)]
        assert left == right, table


def test_sqlite_store_is_migrated_and_in_wal_mode(tmp_path):
    path = tmp_path / "s.sqlite"
    with Store.open(path) as store:
        assert store.revision() == head_revision()
    con = sqlite3.connect(path)
    assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_migrations_match_the_schema(backend, tmp_path, request):
    url = tmp_path / "s.sqlite" if backend == "sqlite" else request.getfixturevalue("postgres_url")
    with Store.open(url) as store, store.engine.connect() as conn:
        diffs = compare_metadata(MigrationContext.configure(conn), metadata)
    assert diffs == []


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_import_export_is_lossless(backend, tmp_path, small_study, request):
    from pluralis.data.io.arena import read_arena

    arena = tmp_path / "battles.jsonl"
    arena.write_text('{"model_a": "x", "model_b": "y", "winner": "tie (bothbad)", "judge": "j1"}\n')
    small_study.comparisons = read_arena(arena)
    url = tmp_path / "s.sqlite" if backend == "sqlite" else request.getfixturevalue("postgres_url")
    try:
        with Store.open(url) as store:
            report = store.import_study(small_study)
            assert report.counts["utterances"] == len(small_study.utterances)
            assert report.history_overrides == 0
            back = store.export_study()
        same_study(small_study, back)
        assert back.counts() == small_study.counts()
    finally:
        small_study.comparisons = []


def test_history_that_utterances_cannot_rebuild_is_kept_verbatim(tmp_path, small_study):
    from pluralis.data import load_prism

    folder = tmp_path / "p"
    write_prism(small_study, folder)
    study = load_prism(folder)
    # a trailing user message that got no model response (e.g. the participant left mid-turn)
    conv = study.conversations[0]
    from pluralis.data.model import UserTurn

    conv.conversation_history = [*conv.conversation_history, UserTurn(turn=99, role="user", content="bye")]
    with Store.open(tmp_path / "s.sqlite") as store:
        assert store.import_study(study).history_overrides == 1
        back = store.export_study()
    same_study(study, back)


def test_second_import_appends_and_keeps_order(tmp_path):
    from pluralis.data.synthetic import generate_study

    a = generate_study(n_participants=3, seed=1)
    b = generate_study(n_participants=3, seed=2)
    for p in b.survey:
        p.user_id = "b-" + p.user_id
    for c in b.conversations:
        c.user_id = "b-" + c.user_id
        c.conversation_id = "b-" + c.conversation_id
    for u in b.utterances:
        u.user_id, u.conversation_id = "b-" + u.user_id, "b-" + u.conversation_id
        u.utterance_id, u.interaction_id = "b-" + u.utterance_id, "b-" + u.interaction_id
    for m in b.metadata:
        m.user_id = "b-" + m.user_id
        m.conversation_id = m.conversation_id and "b-" + m.conversation_id
        m.interaction_id = m.interaction_id and "b-" + m.interaction_id
        m.utterance_id = m.utterance_id and "b-" + m.utterance_id
    with Store.open(tmp_path / "s.sqlite") as store:
        store.import_study(a)
        store.import_study(b)
        back = store.export_study()
    assert [p.user_id for p in back.survey] == [p.user_id for p in a.survey + b.survey]
    assert len(back.utterances) == len(a.utterances) + len(b.utterances)


def test_reimport_names_existing_ids(tmp_path, small_study):
    with Store.open(tmp_path / "s.sqlite") as store:
        store.import_study(small_study)
        with pytest.raises(DataValidationError, match="already exists in the store"):
            store.import_study(small_study)
        assert store.counts()["participants"] == len(small_study.survey)


def test_opening_missing_store_without_create_fails_clearly(tmp_path):
    with pytest.raises(StoreError, match="no such store"):
        Store.open(tmp_path / "missing.sqlite", create=False)


def test_bad_url_fails_clearly():
    with pytest.raises(StoreError, match="cannot open or migrate"):
        Store.open("postgresql+psycopg://nobody@127.0.0.1:1/none")


def test_foreign_keys_are_enforced_in_sqlite(tmp_path):
    with Store.open(tmp_path / "s.sqlite") as store, pytest.raises(Exception):
        with store.engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO conversations (conversation_id, seq, user_id, conversation_type, included_in_balanced_subset,"
                    " conversation_turns, opening_prompt, record) VALUES ('c', 0, 'ghost', 'unguided', 0, 2, 'hi', '{}')"
                )
            )
