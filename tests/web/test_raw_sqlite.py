"""The raw-DBAPI path of the collection repository on SQLite (``CollectRepository(raw_sqlite=True)``, the default)
against SQLAlchemy Core (``raw_sqlite=False``): the same participants saved through both write the very same
rows, byte for byte, in every table; a save that fails half-way writes nothing; the hot path really bypasses
Core; statements the raw path could not reproduce are refused."""

from __future__ import annotations

import asyncio
import time

import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, event, insert, select
from sqlalchemy.exc import IntegrityError, StatementError

from pluralis.collect.config import StudyConfig
from pluralis.collect.protocol import ProtocolSession, Step, example_survey_answers
from pluralis.llm import ChatResult, ModelSpec
from pluralis.store import Store
from pluralis.store.schema import metadata
from pluralis.web import repository
from pluralis.web.repository import CollectRepository, ConcurrentUpdate, Snapshot, _Compiled, _RawStatements


class Echo:
    def __init__(self, name: str, fail: bool = False):
        self.spec, self.fail = ModelSpec(name=name), fail

    async def chat(self, messages, *, params=None, timeout=None):
        if self.fail:
            raise RuntimeError(f"{self.spec.name} is down")
        return ChatResult(text=f"{self.spec.name}: {messages[-1]['content']} é ✓", model=self.spec.name, latency_s=0.25)

    async def aclose(self):
        pass


class Pair:
    """Two repositories on two SQLite files, one per path; every action is saved to both with the same inputs
    (same session objects, same clock, same token)."""

    def __init__(self, tmp_path, monkeypatch, core_url=None):
        self.config = StudyConfig()
        self.raw = CollectRepository(Store.open(tmp_path / "raw.sqlite"), self.config)
        self.core = CollectRepository(Store.open(core_url or tmp_path / "core.sqlite"), self.config, raw_sqlite=False)
        assert self.raw._raw is not None and self.core._raw is None
        self.now = 1_700_000_000.0
        self.monkeypatch = monkeypatch
        monkeypatch.setattr(time, "time", lambda: self.now)
        names = self.config.model_names()
        self.models = {n: Echo(n, fail=(i == 0)) for i, n in enumerate(names)}

    def tick(self) -> None:
        self.now += 1.5

    def create(self, user_id: str, **kwargs) -> tuple[str, ProtocolSession]:
        self.tick()
        token = f"token-of-{user_id}-" + "x" * 40
        self.monkeypatch.setattr(repository, "new_token", lambda: token)
        out = []
        for repo in (self.raw, self.core):
            t, session = repo.create_session(user_id=user_id, seed=7, clock=lambda: self.now, **kwargs)
            assert t == token
            out.append(session)
        assert out[0].state == out[1].state
        session = self.raw.load(token, models=self.models, seed=7, clock=lambda: self.now)
        assert session is not None and session.state == self.core.load(token).state
        return token, session

    def save(self, session: ProtocolSession, before: Snapshot, events=()) -> None:
        self.tick()
        for repo in (self.raw, self.core):
            repo.save(session, before, list(events))

    def act(self, session: ProtocolSession, action, events=()) -> None:
        before = Snapshot.of(session.state)
        action()
        self.save(session, before, events)


def _play(pair: Pair, user_id: str, *, conversations: int, **kwargs) -> str:
    token, s = pair.create(user_id, **kwargs)
    pair.act(s, s.consent, [("consent", None)])
    answers = example_survey_answers()
    while s.step == Step.SURVEY:  # page by page, as the web app saves it
        section = s.state.survey_section
        pair.act(s, lambda sec=section: s.submit_survey_section(sec, answers), [("survey", {"section": section})])
    for i in range(conversations):
        before = Snapshot.of(s.state)
        shown = asyncio.run(s.opening_turn("unguided", f"{user_id} asks question {i}"))  # one model fails
        pair.save(s, before, [("responses", {"n": len(shown), "detail": [1, 2.5, None, "é"]})])
        pair.act(s, lambda sh=shown: s.rate({r.id: 10 + 7 * k for k, r in enumerate(sh)}), [("rated", None)])
        before = Snapshot.of(s.state)
        asyncio.run(s.follow_up("Why that one?"))
        pair.save(s, before)
        pair.act(s, lambda: s.rate([70, 70]))  # a tie: the session's seeded choice decides
        pair.act(
            s,
            lambda: s.finish({"helpfulness": 80}, {"helpfulness": 90}, "Good answers, a bit short."),
            [("finished", {"conversation": i})],
        )
    for repo in (pair.raw, pair.core):
        repo.add_event(user_id, "note", {"text": "checked", "ok": True})
    return token


def _driver_rows(repo: CollectRepository) -> dict[str, list[tuple]]:
    """Every table, read through the DBAPI (the stored values themselves: JSON text, booleans as 0/1)."""
    out = {}
    with repo.engine.connect() as conn:
        for table in metadata.sorted_tables:
            out[table.name] = [tuple(r) for r in conn.exec_driver_sql(f"SELECT * FROM {table.name} ORDER BY rowid")]
    return out


def test_both_paths_write_the_same_rows_in_every_table(tmp_path, monkeypatch):
    pair = Pair(tmp_path, monkeypatch)
    tokens = [
        _play(pair, "u-1", conversations=2, external_id="prolific-1"),
        _play(pair, "u-2", conversations=1, source="simulated"),
        _play(pair, "u-3", conversations=0),
    ]
    raw, core = _driver_rows(pair.raw), _driver_rows(pair.core)
    assert set(raw) == {t.name for t in metadata.sorted_tables}
    for name in raw:
        assert raw[name] == core[name], name
    # the scenario reached every table the save path writes, with more than one row
    counts = pair.raw.counts()
    for name in ("participants", "conversations", "interactions", "utterances", "ratings", "responses", "failures"):
        assert counts[name] >= 2, name
    assert counts["sessions"] == 3 and counts["events"] > 10
    # what each path reads back is the same, and the same through the other path's reader
    for token in tokens:
        a, b = pair.raw.load(token), pair.core.load(token)
        assert a is not None and b is not None and a.state == b.state
        assert pair.raw.load_user(a.user_id).state == a.state
    assert pair.raw.external_id_exists("prolific-1") and not pair.raw.external_id_exists("prolific-2")
    assert pair.raw.all_ratings() == pair.core.all_ratings()
    assert pair.raw.export_study() == pair.core.export_study()
    # the participant's survey row was rewritten after each conversation (the UPDATE path), identically
    record = pair.raw.export_study().survey[0]
    assert record.user_id == "u-1" and record.num_completed_conversations == 2


def test_postgresql_keeps_core_and_stores_the_same_records(tmp_path, monkeypatch, postgres_url):
    """The raw SQLite path and PostgreSQL's Core path: the same sessions give the same records, ratings, counts
    and states (compared as values: the two databases encode JSON and booleans each their own way)."""
    pair = Pair(tmp_path, monkeypatch, core_url=postgres_url)
    assert not pair.core.sqlite
    tokens = [_play(pair, "u-1", conversations=2, external_id="prolific-1"), _play(pair, "u-2", conversations=1)]
    assert pair.raw.counts() == pair.core.counts()
    assert pair.raw.export_study() == pair.core.export_study()
    assert pair.raw.all_ratings() == pair.core.all_ratings()
    for token in tokens:
        assert pair.raw.load(token).state == pair.core.load(token).state
    assert pair.raw.export_study().survey[0].num_completed_conversations == 2
    pair.core.store.close()


def test_a_stale_save_is_refused_on_both_paths_and_writes_nothing(tmp_path, monkeypatch):
    pair = Pair(tmp_path, monkeypatch)
    token, s = pair.create("u-1")
    stale = Snapshot.of(s.state)
    pair.act(s, s.consent)
    rows = {id(r): _driver_rows(r) for r in (pair.raw, pair.core)}
    s.submit_survey(example_survey_answers())
    for repo in (pair.raw, pair.core):
        with pytest.raises(ConcurrentUpdate):
            repo.save(s, stale, [("survey", None)])
        assert _driver_rows(repo) == rows[id(repo)]


@pytest.mark.parametrize("raw_sqlite", [True, False])
@pytest.mark.parametrize("failure", ["constraint", "python"])
def test_an_error_mid_save_rolls_back_everything(tmp_path, raw_sqlite, failure):
    """The state UPDATE and some inserts succeed, then one fails: nothing of the save is stored, and the
    repository goes on working (the connection went back to the pool clean, no transaction left open)."""
    config = StudyConfig()
    repo = CollectRepository(Store.open(tmp_path / "s.sqlite"), config, raw_sqlite=raw_sqlite)
    models = {n: Echo(n) for n in config.model_names()}
    token, s = repo.create_session(models=models, seed=3)
    before = Snapshot.of(s.state)
    s.consent()
    s.submit_survey(example_survey_answers())
    repo.save(s, before)
    before = Snapshot.of(s.state)
    shown = asyncio.run(s.opening_turn("unguided", "Hello"))
    repo.save(s, before)
    before = Snapshot.of(s.state)
    s.rate({r.id: 20 + r.id for r in shown})
    repo.save(s, before)
    stored = _driver_rows(repo)

    before = Snapshot.of(s.state)
    asyncio.run(s.follow_up("And then?"))
    s.rate([30, 60])
    if failure == "constraint":
        # claims the earlier ratings are new: after the UPDATE, the INSERT of the ratings violates their
        # unique key (the new responses would come next)
        before.ratings = set()
        with pytest.raises(IntegrityError, match="UNIQUE"):
            repo.save(s, before, [("rated", None)])
    else:
        # the events come last: every other row of the save is already written when this one fails
        with pytest.raises(StatementError, match="not JSON serializable"):
            repo.save(s, before, [("rated", {"not json": object()})])
    assert _driver_rows(repo) == stored
    loaded = repo.load(token)
    assert loaded is not None and loaded.state.revision == before.revision
    # and the repository still works: the same save, corrected, goes through in full
    before = Snapshot.of(loaded.state)
    loaded.models = models
    asyncio.run(loaded.follow_up("And then?"))
    loaded.rate([30, 60])
    repo.save(loaded, before, [("rated", None)])
    after = _driver_rows(repo)
    assert len(after["collect_ratings"]) == len(stored["collect_ratings"]) + 2
    assert len(after["collect_responses"]) == len(stored["collect_responses"]) + 2
    assert repo.load(token).state.revision == loaded.state.revision


def test_a_raw_save_is_atomic_even_on_an_autocommit_connection(tmp_path):
    """The raw path opens its transaction itself: with the driver in autocommit mode, a save that fails after its
    state UPDATE still leaves nothing behind."""
    config = StudyConfig()
    repo = CollectRepository(Store.open(tmp_path / "s.sqlite"), config)
    event.listen(repo.engine, "connect", lambda dbapi_conn, _record: setattr(dbapi_conn, "isolation_level", None))
    repo.engine.dispose()
    token, s = repo.create_session(seed=3)
    before = Snapshot.of(s.state)
    s.consent()
    stored = _driver_rows(repo)
    with pytest.raises(StatementError):
        repo.save(s, before, [("consent", {"not json": object()})])
    assert _driver_rows(repo) == stored and repo.load(token).state.revision == before.revision
    repo.save(s, before, [("consent", None)])
    assert repo.load(token).step == s.step


def test_the_hot_path_bypasses_sqlalchemy_core_only_when_raw(tmp_path):
    for raw_sqlite in (True, False):
        repo = CollectRepository(Store.open(tmp_path / f"{raw_sqlite}.sqlite"), StudyConfig(), raw_sqlite=raw_sqlite)
        seen: list[str] = []
        event.listen(repo.engine, "before_cursor_execute", lambda *a, seen=seen: seen.append(a[2]))
        token, s = repo.create_session()
        before = Snapshot.of(s.state)
        s.consent()
        repo.save(s, before, [("consent", None)])
        assert repo.load(token) is not None
        assert (seen == []) is raw_sqlite, seen


def test_the_raw_path_only_on_sqlite3_with_positional_parameters(tmp_path):
    from sqlalchemy import create_engine

    assert _RawStatements.fits(create_engine(f"sqlite:///{tmp_path / 'a.sqlite'}"))
    assert not _RawStatements.fits(create_engine(f"sqlite:///{tmp_path / 'b.sqlite'}", paramstyle="named"))
    assert not _RawStatements.fits(create_engine("postgresql+psycopg://u@127.0.0.1:1/none"))


def test_statements_the_raw_path_cannot_reproduce_are_refused():
    from sqlalchemy.dialects import sqlite

    t = Table("t", MetaData(), Column("id", Integer, primary_key=True), Column("x", String, default="python-side"))
    with pytest.raises(TypeError, match="defaults"):
        _Compiled(insert(t), sqlite.dialect(), ("id",))
    with pytest.raises(TypeError, match="RETURNING"):
        _Compiled(insert(t).returning(t.c.id), sqlite.dialect(), ("id", "x"))
    compiled = _Compiled(select(t.c.x).where(t.c.id == 1), sqlite.dialect())
    assert compiled.sql.startswith("SELECT t.x") and compiled.names == ("id_1",)
