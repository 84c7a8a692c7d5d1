"""The protocol state in ``collect_sessions.state`` (SQLite and PostgreSQL): written and read as JSON text by the
repository, still the same JSON document for every other reader, and rows written the earlier way (a dict
through the JSON column) load unchanged."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import insert, select

from pluralis.collect.config import StudyConfig
from pluralis.collect.protocol import ProtocolSession, example_survey_answers
from pluralis.store import Store
from pluralis.store import schema as s
from pluralis.store.participants import sessions_overview
from pluralis.store.schema_collect import collect_sessions
from pluralis.web.repository import CollectRepository, Snapshot, hash_token


@pytest.fixture(params=["sqlite", "postgres"])
def repo(request, tmp_path):
    url = tmp_path / "s.sqlite" if request.param == "sqlite" else request.getfixturevalue("postgres_url")
    store = Store.open(url)
    yield CollectRepository(store, StudyConfig())
    store.close()


def _through_survey(repo: CollectRepository) -> tuple[str, ProtocolSession]:
    token, session = repo.create_session(external_id="p-1")
    before = Snapshot.of(session.state)
    session.consent()
    session.submit_survey(example_survey_answers())
    repo.save(session, before, [("survey", None)])
    return token, session


def test_state_round_trips_and_other_readers_see_the_same_json(repo):
    token, session = _through_survey(repo)
    loaded = repo.load(token)
    assert loaded is not None
    assert loaded.state == session.state
    assert repo.load_user(session.user_id).state == session.state
    # read through the JSON column (what the dashboard, exports and sessions_overview do): the same document
    with repo.engine.connect() as conn:
        stored = conn.execute(select(collect_sessions.c.state)).scalar_one()
    assert stored == session.state.model_dump(mode="json")
    assert repo.active_states() == []  # at the start of a conversation: not yet "in" one
    (row,) = sessions_overview(repo.store)
    assert row["user_id"] == session.user_id and row["status"] == session.step.value


def test_rows_written_the_earlier_way_load_and_save(repo):
    """A state stored as a dict through the JSON column (before the text path) loads, and saves over it."""
    session = ProtocolSession(repo.config, user_id="old-1", seed=7)
    session.consent()
    token = "an-earlier-participant-token"
    now = time.time()
    with repo.engine.begin() as conn:
        conn.execute(
            insert(collect_sessions),
            [
                {
                    "user_id": "old-1",
                    "token_hash": hash_token(token),
                    "study_id": repo.config.study.id,
                    "source": "human",
                    "status": session.step.value,
                    "revision": session.state.revision,
                    "conversations_done": 0,
                    "state": session.state.model_dump(mode="json"),
                    "created_at": now,
                    "updated_at": now,
                }
            ],
        )
    loaded = repo.load(token)
    assert loaded is not None and loaded.state == session.state
    before = Snapshot.of(loaded.state)
    loaded.submit_survey(example_survey_answers())
    repo.save(loaded, before)
    again = repo.load(token)
    assert again.step == loaded.step and again.state == loaded.state
    assert repo.counts()["participants"] == 1  # the survey row, written once


def test_next_seq_of_every_prism_table_in_one_statement(repo):
    """The seq allocation reads all tables at once: after two participants finish the survey, their rows are 0, 1."""
    for _ in range(2):
        _through_survey(repo)
    with repo.engine.connect() as conn:
        seqs = sorted(conn.execute(select(s.participants.c.seq)).scalars())
        nxt = repo._next_seq(conn)
    assert seqs == [0, 1]
    assert nxt["participants"] == 2 and nxt["utterances"] == 0 and set(nxt) >= {"conversations", "metadata"}
