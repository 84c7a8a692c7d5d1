"""The store's bulk paths: driver executemany, index rebuild on large SQLite loads, export without re-validation."""

from __future__ import annotations

import math
import sqlite3
from copy import deepcopy

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from pluralis.data import canonical_json
from pluralis.data.model import TextMetadata, Utterance
from pluralis.errors import PluralisError
from pluralis.store import Store
from pluralis.store import db as store_db
from pluralis.store.schema import metadata


def same_study(a, b) -> None:
    for table in ("survey", "conversations", "utterances", "metadata", "comparisons"):
        left = [canonical_json(r.to_json_dict()) for r in getattr(a, table)]
        right = [canonical_json(r.to_json_dict()) for r in getattr(b, table)]
        assert left == right, table


def index_sql(path) -> dict[str, str]:
    con = sqlite3.connect(path)
    try:
        rows = con.execute("SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL").fetchall()
    finally:
        con.close()
    return dict(rows)


def test_large_sqlite_load_rebuilds_the_same_indexes(tmp_path, small_study, monkeypatch):
    monkeypatch.setattr(store_db, "BULK_INDEX_ROWS", 10)  # every table of the small study counts as large
    path = tmp_path / "s.sqlite"
    with Store.open(path) as store:
        before = index_sql(path)
        dropped: list[str] = []
        original = store_db._drop_indexes_for_bulk_load

        def spy(conn, table, n_new, n_existing):
            sql = original(conn, table, n_new, n_existing)
            dropped.extend(sql)
            return sql

        monkeypatch.setattr(store_db, "_drop_indexes_for_bulk_load", spy)
        store.import_study(small_study)
        back = store.export_study()
        with store.engine.connect() as conn:
            assert compare_metadata(MigrationContext.configure(conn), metadata) == []
    assert {"ix_utterances_turn_model", "ix_utterances_model_name"} <= {s.split()[2] for s in dropped}
    assert index_sql(path) == before
    same_study(small_study, back)


def test_failed_bulk_load_keeps_indexes_and_writes_nothing(tmp_path, small_study, monkeypatch):
    monkeypatch.setattr(store_db, "BULK_INDEX_ROWS", 10)
    path = tmp_path / "s.sqlite"
    original = store_db._batched

    def crash_on_metadata(conn, table, rows, progress):
        if table.name == "text_metadata":  # utterance indexes already dropped and rebuilt, metadata's dropped
            raise store_db.SQLAlchemyError("disk on fire")
        original(conn, table, rows, progress)

    with Store.open(path) as store:
        before = index_sql(path)
        monkeypatch.setattr(store_db, "_batched", crash_on_metadata)
        with pytest.raises(PluralisError, match="nothing was written"):
            store.import_study(small_study)
        assert set(store.counts().values()) == {0}
    assert index_sql(path) == before


def test_small_or_relatively_small_loads_keep_indexes_in_place(tmp_path, small_study):
    path = tmp_path / "s.sqlite"
    with Store.open(path) as store:
        before = index_sql(path)
        store.import_study(small_study)
        with store.engine.begin() as conn:
            conn.exec_driver_sql("DELETE FROM text_metadata WHERE seq < 0")  # opens the transaction
            assert store_db._drop_indexes_for_bulk_load(conn, "utterances", 10**6, 10**7) == []  # table larger
            assert store_db._drop_indexes_for_bulk_load(conn, "utterances", 5, 0) == []  # load too small
            assert (
                len(store_db._drop_indexes_for_bulk_load(conn, "utterances", 10**6, 0)) == 6
            )  # interaction, conversation, user, model, (turn, model), seq
            conn.rollback()
        with store.engine.connect() as conn:  # outside a transaction: never (the drop would be autocommitted)
            assert store_db._drop_indexes_for_bulk_load(conn, "utterances", 10**6, 0) == []
    assert index_sql(path) == before


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_extras_nan_and_unset_fields_round_trip(backend, tmp_path, small_study, request):
    """Records off the fast path (extra keys, NaN inside JSON) are written as pydantic's JSON mode writes them."""
    study = deepcopy(small_study)
    study.utterances[0] = Utterance.model_validate({**study.utterances[0].to_json_dict(), "judge": {"id": 7}})
    m = study.metadata[0].to_json_dict()
    m["moderation_flag"] = {"flagged": False, "score": math.nan}
    study.metadata[0] = TextMetadata.model_validate({**m, "note": "kept"})
    url = tmp_path / "s.sqlite" if backend == "sqlite" else request.getfixturevalue("postgres_url")
    with Store.open(url) as store:
        store.import_study(study)
        back = store.export_study()
    assert back.utterances[0].to_json_dict()["judge"] == {"id": 7}
    assert back.metadata[0].moderation_flag == {"flagged": False, "score": None}  # NaN -> null, as to_json_dict
    assert back.metadata[0].to_json_dict()["note"] == "kept"
    same_study(study, back)


def test_exported_flat_records_equal_validated_ones(tmp_path, small_study):
    with Store.open(tmp_path / "s.sqlite") as store:
        store.import_study(small_study)
        back = store.export_study()
    for record in back.utterances[:50] + back.metadata[:50]:
        again = type(record).model_validate(record.to_json_dict())
        assert record == again
        assert record.model_fields_set == again.model_fields_set
        record.model_validate(record.model_dump())  # a constructed record is a normal model
    first = back.utterances[0]
    first.score = 42  # validate_assignment still works on constructed records
    with pytest.raises(ValueError):
        first.score = 1000


def test_rows_for_keeps_one_dict_per_row(small_study):
    rows = store_db._rows_for(small_study, dict.fromkeys(store_db.TABLE_NAMES, 5))
    assert len(rows["utterances"]) == len(small_study.utterances)
    assert rows["utterances"][0]["seq"] == 5
    assert "user_prompt" not in rows["utterances"][0]
    assert rows["interactions"][0]["user_prompt"] == small_study.utterances[0].user_prompt
    assert rows["metadata"][-1]["seq"] == 5 + len(small_study.metadata) - 1
