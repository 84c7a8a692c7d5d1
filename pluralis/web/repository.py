"""Database access of the collection app, through the Pluralis store (SQLite by default, PostgreSQL by URL).

Every participant action is saved in ONE transaction that (1) bumps the participant's revision in
``collect_sessions`` only if it is still the revision the action started from (so two requests can never
both apply), (2) writes what the action produced: new ratings (``collect_ratings``), generated responses,
failed model calls, events, the participant's survey row (``participants``) and, when a conversation is
finished, its ``conversations`` / ``interactions`` / ``utterances`` rows. The page that follows is served
only after that commit.

Participant tokens are 256-bit random strings; only their SHA-256 is stored.

Example
-------
>>> import tempfile, os
>>> from pluralis.collect.config import StudyConfig
>>> from pluralis.store import Store
>>> store = Store.open(os.path.join(tempfile.mkdtemp(), "s.sqlite"))
>>> repo = CollectRepository(store, StudyConfig())
>>> token, session = repo.create_session()
>>> before = Snapshot.of(session.state)
>>> session.consent()
>>> repo.save(session, before, events=[("consent", None)])
>>> repo.load(token).step.value, repo.status_counts()
('survey', {'survey': 1})
"""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

import pandas as pd
from sqlalchemy import (
    Connection,
    Integer,
    Text,
    bindparam,
    cast,
    event,
    func,
    insert,
    select,
    text,
    type_coerce,
    update,
)
from sqlalchemy.exc import DBAPIError

from pluralis.collect.config import StudyConfig
from pluralis.collect.protocol import ProtocolSession, ProtocolState, Step, utterances_for
from pluralis.data.model import Conversation, Participant
from pluralis.data.study import Study
from pluralis.errors import PluralisError
from pluralis.store import Store
from pluralis.store import schema as s
from pluralis.store.db import MAX_SEQ, TABLES, _rows_for, next_seq
from pluralis.store.schema_collect import (
    collect_events,
    collect_failures,
    collect_ratings,
    collect_responses,
    collect_sessions,
)

_USER_BY_EXTERNAL_ID = select(collect_sessions.c.user_id).where(collect_sessions.c.external_id_hash == bindparam("h"))
_INSERT_EVENTS = insert(collect_events)
_INSERT_RATINGS = insert(collect_ratings)
_INSERT_RESPONSES = insert(collect_responses)
_INSERT_FAILURES = insert(collect_failures)
#: The PRISM tables a finished survey or conversation is written to, in foreign-key order.
_PRISM_INSERTS = {name: insert(table) for name, table in TABLES if name not in ("metadata", "comparisons")}
#: The next ``seq`` of every PRISM table in one statement (one round trip instead of one per table).
#: A participant's survey row rewritten (its ``num_completed_conversations`` after each finished conversation).
_UPDATE_PARTICIPANT = (
    update(s.participants)
    .where(s.participants.c.user_id == bindparam("uid"))
    .values(
        record=bindparam("record", type_=s.participants.c.record.type),
        survey_only=bindparam("survey_only", type_=s.participants.c.survey_only.type),
    )
)


#: The columns :meth:`CollectRepository.create_session` writes besides the state.
_NEW_SESSION_COLUMNS = (
    "user_id",
    "token_hash",
    "study_id",
    "source",
    "status",
    "quota_cell",
    "external_id_hash",
    "revision",
    "conversations_done",
    "created_at",
    "updated_at",
    "completed_at",
)


class _StateStatements:
    """The per-request statements, built once per repository: building and cache-keying a statement costs more
    than running it on SQLite (0.08 vs 0.23 ms per load, measured).

    The protocol state travels as JSON text both ways: pydantic parses and writes it directly
    (``model_validate_json`` / ``model_dump_json``, 3-4x faster than through a dict and ``json``). The column
    keeps its JSON type and content, so earlier rows and every other reader are unaffected: on SQLite the text is
    read and written as stored, on PostgreSQL it is cast to and from ``json``.
    """

    def __init__(self, sqlite: bool):
        c = collect_sessions.c
        if sqlite:
            state: Any = type_coerce(c.state, Text)
            new_state: Any = bindparam("new_state", type_=Text)
        else:
            state = cast(c.state, Text)
            new_state = cast(bindparam("new_state", type_=Text), c.state.type)
        self.by_token = select(state.label("state")).where(c.token_hash == bindparam("h"))
        self.by_user = select(state.label("state")).where(c.user_id == bindparam("uid"))
        self.insert = insert(collect_sessions).values(
            {name: bindparam("v_" + name) for name in _NEW_SESSION_COLUMNS} | {"state": new_state}
        )
        self.save = (
            update(collect_sessions)
            .where(c.user_id == bindparam("uid"), c.revision == bindparam("expected"))
            .values(
                state=new_state,
                revision=bindparam("new_revision"),
                status=bindparam("new_status"),
                quota_cell=bindparam("new_quota_cell"),
                conversations_done=bindparam("new_done"),
                updated_at=bindparam("now"),
                completed_at=bindparam("new_completed_at"),
            )
        )


class _Compiled:
    """One Core statement compiled for SQLite's DBAPI: its SQL text, its bind names in the order of the ``?``
    placeholders, and the bind processor of each (JSON encoding, float coercion, ...), as SQLAlchemy would apply.
    """

    __slots__ = ("sql", "names", "procs")

    def __init__(self, statement: Any, dialect: Any, column_keys: tuple[str, ...] | None = None):
        compiled = statement.compile(dialect=dialect, column_keys=list(column_keys) if column_keys else None)
        if getattr(compiled, "insert_prefetch", None) or getattr(compiled, "update_prefetch", None):
            raise TypeError(f"{statement}: Python-side column defaults need SQLAlchemy's execution path")
        if getattr(compiled, "effective_returning", None):
            raise TypeError(f"{statement}: RETURNING needs SQLAlchemy's execution path")
        if hasattr(statement, "selected_columns"):
            for col in statement.selected_columns:
                if col.type.dialect_impl(dialect).result_processor(dialect, None) is not None:
                    raise TypeError(f"{statement}: column {col.key} needs SQLAlchemy's result processing")
        self.sql: str = compiled.string
        self.names: tuple[str, ...] = tuple(compiled.positiontup or ())
        self.procs = tuple(compiled.binds[n].type.dialect_impl(dialect).bind_processor(dialect) for n in self.names)

    def params(self, values: Any) -> tuple:
        """The DBAPI parameters (a tuple in placeholder order) for a dict of bind values."""
        return tuple(values[n] if p is None else p(values[n]) for n, p in zip(self.names, self.procs))


def _as_sqlalchemy_error(exc: Exception, sql: str, params: Any, dialect: Any) -> Exception:
    """``exc`` as SQLAlchemy would raise it (``IntegrityError``, ``OperationalError``, ``StatementError`` for an
    error binding the parameters, ...), so callers see the same exceptions on both paths."""
    return DBAPIError.instance(sql, params, exc, dialect.loaded_dbapi.Error, dialect=dialect)


class _RawStatements:
    """The hot statements (load a state, save it with its new rows, the next ``seq``) compiled once for the
    SQLite dialect and run on the pooled ``sqlite3`` connection itself: SQLAlchemy Core's execution machinery
    (connection wrapper, parameter processing, result objects) was about a fifth of the server's CPU per
    request (loading a state by token: 29 us through Core, 9 us this way, both with the pool checkout; a whole
    save 35-45% less, measured in-process).

    The SQL text is GENERATED from the very Core statements the PostgreSQL path executes (and so from the table
    definitions in :mod:`pluralis.store.schema_collect` / :mod:`pluralis.store.schema`), with their bind
    processors taken from the engine's dialect, never typed by hand: a column added, renamed or retyped
    changes both paths at once, and the raw path cannot drift from the schema. Statements this path cannot
    reproduce exactly (Python-side defaults, RETURNING, result processing) are refused when compiled.
    ``tests/web/test_raw_sqlite.py`` writes the same sessions through both paths and compares every table.

    Connections come from the engine's pool (``engine.raw_connection()``), so the store's ``connect`` hooks
    (WAL, ``synchronous``, foreign keys, the checkpointer's ``wal_autocheckpoint=0``) apply unchanged.
    """

    #: Compiled statements kept; the hot path uses a dozen, all built once (a safety bound, never reached).
    MAX_CACHED = 256

    def __init__(self, dialect: Any):
        self.dialect = dialect
        self._cache: dict[tuple[Any, tuple[str, ...] | None], _Compiled] = {}

    @staticmethod
    def fits(engine: Any) -> bool:
        """Whether ``engine`` is what this path is written for: SQLite through the standard ``sqlite3`` driver
        (pysqlite) with positional parameters; any other engine keeps SQLAlchemy Core."""
        d = engine.dialect
        return d.name == "sqlite" and d.driver == "pysqlite" and bool(d.positional)

    def get(self, statement: Any, column_keys: tuple[str, ...] | None = None) -> _Compiled:
        """``statement`` compiled (once) for these ``column_keys`` (an INSERT's columns; ``None`` otherwise)."""
        key = (statement, column_keys)
        out = self._cache.get(key)
        if out is None:
            if len(self._cache) >= self.MAX_CACHED:
                self._cache.clear()
            out = self._cache[key] = _Compiled(statement, self.dialect, column_keys)
        return out


class _CoreTx:
    """One write transaction through SQLAlchemy Core (PostgreSQL; SQLite with ``raw_sqlite=False``)."""

    __slots__ = ("conn", "sqlite")

    def __init__(self, conn: Connection, sqlite: bool):
        self.conn, self.sqlite = conn, sqlite

    def execute(self, statement: Any, params: dict[str, Any]) -> int:
        return self.conn.execute(statement, params).rowcount

    def insert(self, statement: Any, rows: list[dict[str, Any]]) -> None:
        self.conn.execute(statement, rows)

    def one(self, statement: Any) -> tuple:
        return tuple(self.conn.execute(statement).one())

    def lock_seq(self) -> None:
        if not self.sqlite:
            self.conn.execute(text("SELECT pg_advisory_xact_lock(727271)"))  # serialise seq allocation


class _RawTx:
    """One write transaction on a ``sqlite3`` cursor, with the statements of :class:`_RawStatements`."""

    __slots__ = ("cur", "sql")

    def __init__(self, cur: Any, sql: _RawStatements):
        self.cur, self.sql = cur, sql

    def execute(self, statement: Any, params: dict[str, Any]) -> int:
        c = self.sql.get(statement)
        try:
            self.cur.execute(c.sql, c.params(params))
        except Exception as e:
            raise _as_sqlalchemy_error(e, c.sql, params, self.sql.dialect) from e
        return self.cur.rowcount

    def insert(self, statement: Any, rows: list[dict[str, Any]]) -> None:
        c = self.sql.get(statement, tuple(rows[0]))
        try:
            if len(rows) == 1:
                self.cur.execute(c.sql, c.params(rows[0]))
            else:
                self.cur.executemany(c.sql, [c.params(r) for r in rows])
        except Exception as e:
            raise _as_sqlalchemy_error(e, c.sql, rows, self.sql.dialect) from e

    def one(self, statement: Any) -> tuple:
        c = self.sql.get(statement)
        try:
            self.cur.execute(c.sql, c.params({}))
            (row,) = self.cur.fetchall()
        except Exception as e:
            raise _as_sqlalchemy_error(e, c.sql, {}, self.sql.dialect) from e
        return tuple(row)

    def lock_seq(self) -> None:
        """Nothing to do: on SQLite the writer lock already serialises ``seq`` allocation."""


#: Participant groups the dashboard can break rankings down by, and their columns in ``participants``.
GROUP_COLUMNS = {
    "age": "age",
    "gender": "gender",
    "ethnicity": "ethnicity",
    "religion": "religion",
    "special_region": "special_region",
    "source": "source",
    "study_locale": "study_locale",
}


class ConcurrentUpdate(PluralisError):
    """The participant's state changed since it was loaded (another request applied an action first).

    Example
    -------
    >>> issubclass(ConcurrentUpdate, PluralisError)
    True
    """


def hash_token(token: str) -> str:
    """SHA-256 hex digest of a participant token (what the database keeps).

    Parameters
    ----------
    token
        A participant token.

    Returns
    -------
    str
        64 hex digits.

    Example
    -------
    >>> len(hash_token("abc"))
    64
    """
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def new_token() -> str:
    """A fresh unguessable participant token (256 bits, URL-safe).

    Returns
    -------
    str

    Example
    -------
    >>> len(new_token()) >= 43
    True
    """
    return secrets.token_urlsafe(32)


def _ratings(state: ProtocolState) -> dict[tuple[str, int, int], dict[str, Any]]:
    out: dict[tuple[str, int, int], dict[str, Any]] = {}
    for c in state.completed:
        for item in c["conversation_history"]:
            if item["role"] == "model":
                out[(c["conversation_id"], item["turn"], item["within_turn_id"])] = {
                    "model_name": item["model_name"],
                    "score": item["score"],
                    "if_chosen": item["if_chosen"],
                }
    cur = state.current
    if cur is not None:
        for t in cur.turns:
            if t.rated:
                for r in t.responses:
                    out[(cur.conversation_id, t.turn, r.id)] = {
                        "model_name": r.model_name,
                        "score": r.score,
                        "if_chosen": r.if_chosen,
                    }
    return out


def _responses(state: ProtocolState) -> dict[tuple[str, int, int], Any]:
    out: dict[tuple[str, int, int], Any] = {}
    cur = state.current
    if cur is not None:
        for t in cur.turns:
            for r in t.responses:
                out[(cur.conversation_id, t.turn, r.id)] = r
    return out


class Snapshot:
    """What :meth:`CollectRepository.save` needs to know about the state an action started from
    (cheaper than a deep copy of the whole state).

    Example
    -------
    >>> from pluralis.collect.config import StudyConfig
    >>> from pluralis.collect.protocol import ProtocolSession
    >>> Snapshot.of(ProtocolSession(StudyConfig(), seed=0).state).revision
    0
    """

    __slots__ = ("revision", "ratings", "responses", "n_failures", "n_completed", "participant")

    revision: int
    ratings: set[tuple[str, int, int]]
    responses: set[tuple[str, int, int]]
    n_failures: int
    n_completed: int
    participant: dict[str, Any] | None

    @classmethod
    def of(cls, state: ProtocolState) -> Snapshot:
        """The snapshot of ``state`` (revision, keys of its ratings and responses, counts, survey row).

        Parameters
        ----------
        state
            A participant's protocol state.

        Returns
        -------
        Snapshot

        Example
        -------
        >>> from pluralis.collect.config import StudyConfig
        >>> from pluralis.collect.protocol import ProtocolSession
        >>> snap = Snapshot.of(ProtocolSession(StudyConfig(), seed=0).state)
        >>> snap.ratings, snap.n_completed, snap.participant
        (set(), 0, None)
        """
        snap = cls()
        snap.revision = state.revision
        snap.ratings = set(_ratings(state))
        snap.responses = set(_responses(state))
        snap.n_failures = len(state.failures)
        snap.n_completed = len(state.completed)
        snap.participant = dict(state.participant) if state.participant is not None else None
        return snap


class CollectRepository:
    """The collection app's view of the store for one study: it reads and writes the store, nothing else.

    On SQLite, writes are serialised in-process (one writer at a time never waits on SQLite's busy
    handler); PostgreSQL handles concurrent writers itself. On SQLite the hot statements (loading a state,
    saving it with the rows its action produced) run on the ``sqlite3`` connection itself, compiled once from
    the same Core statements (see :class:`_RawStatements`); everything else, and PostgreSQL, goes through
    SQLAlchemy Core.

    Parameters
    ----------
    store
        A :class:`pluralis.store.Store` (migrated to include the collection tables).
    config
        The study.
    raw_sqlite
        On SQLite, run the hot statements on the DBAPI connection (default). ``False``: SQLAlchemy Core
        throughout (what the raw path is tested against). Ignored on other databases.

    Example
    -------
    >>> import os, tempfile
    >>> from pluralis.collect.config import StudyConfig
    >>> repo = CollectRepository(Store.open(os.path.join(tempfile.mkdtemp(), "s.sqlite")), StudyConfig())
    >>> token, session = repo.create_session(external_id="prolific-1")
    >>> repo.load(token).user_id == session.user_id, repo.load("unknown"), repo.external_id_exists("prolific-1")
    (True, None, True)
    >>> repo.status_counts(), repo.counts()["events"], repo.rating_summary(), repo.failure_summary()
    ({'consent': 1}, 1, [], [])
    """

    def __init__(self, store: Store, config: StudyConfig, *, raw_sqlite: bool = True):
        self.store = store
        self.engine = store.engine
        self.config = config
        self.sqlite = store.url.startswith("sqlite")
        self._write_lock = threading.Lock() if self.sqlite else None
        self._sql = _StateStatements(self.sqlite)
        self._raw = _RawStatements(self.engine.dialect) if (raw_sqlite and _RawStatements.fits(self.engine)) else None
        self._checkpointer: threading.Thread | None = None
        self._stop = threading.Event()

    # -- SQLite housekeeping ----------------------------------------------------------------------

    def start_checkpointer(self, interval: float = 1.0) -> None:
        """SQLite only: move WAL checkpoints off the request path.

        Commits stop checkpointing by themselves (``wal_autocheckpoint=0``) and a background thread checkpoints
        every ``interval`` seconds, so no request ever waits for a checkpoint's disk writes. No-op on other
        databases and when already started; :meth:`stop_checkpointer` stops it.

        Parameters
        ----------
        interval
            Seconds between two checkpoints.

        Example
        -------
        >>> import os, tempfile
        >>> from pluralis.collect.config import StudyConfig
        >>> repo = CollectRepository(Store.open(os.path.join(tempfile.mkdtemp(), "s.sqlite")), StudyConfig())
        >>> repo.start_checkpointer(interval=0.05); repo.create_session()[0] != ""
        True
        >>> repo.stop_checkpointer()
        """
        if not self.sqlite or self._checkpointer is not None:
            return

        def no_autocheckpoint(dbapi_conn, _record) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA wal_autocheckpoint=0")
            cur.close()

        event.listen(self.engine, "connect", no_autocheckpoint)
        self.engine.dispose()  # connections opened before now keep autocheckpointing otherwise

        def run() -> None:
            while not self._stop.wait(interval):
                try:
                    with self.engine.connect() as conn:
                        conn.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)")
                except Exception:  # pragma: no cover - best effort; the next round retries
                    pass

        self._checkpointer = threading.Thread(target=run, name="pluralis-wal-checkpoint", daemon=True)
        self._checkpointer.start()

    def stop_checkpointer(self) -> None:
        """Stop the checkpoint thread (after a final checkpoint); no-op when none runs.

        Example
        -------
        >>> import os, tempfile
        >>> from pluralis.collect.config import StudyConfig
        >>> CollectRepository(Store.open(os.path.join(tempfile.mkdtemp(), "s.sqlite")), StudyConfig()).stop_checkpointer()
        """
        if self._checkpointer is None:
            return
        self._stop.set()
        self._checkpointer.join(timeout=10)
        self._checkpointer = None
        try:
            with self.engine.connect() as conn:
                conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        except Exception:  # pragma: no cover
            pass

    # -- transactions -----------------------------------------------------------------------------

    @contextmanager
    def _write(self) -> Iterator[Connection]:
        """One write transaction (under the in-process writer lock on SQLite; released after the commit)."""
        if self._write_lock is None:
            with self.engine.begin() as conn:
                yield conn
            return
        with self._write_lock, self.engine.begin() as conn:
            yield conn

    @contextmanager
    def _transaction(self) -> Iterator[_CoreTx | _RawTx]:
        """One write transaction of the hot path: committed at the end, rolled back entirely on any error.

        On SQLite with the raw path, a pooled ``sqlite3`` connection under the writer lock, in an explicit
        ``BEGIN`` (deferred: what ``sqlite3`` itself issues before the first ``UPDATE`` / ``INSERT`` under
        SQLAlchemy, but independent of the driver's transaction mode, so a save stays atomic even on a
        connection set to autocommit); ``commit`` / ``rollback`` end it before the connection goes back to the
        pool.
        """
        if self._raw is None:
            with self._write() as conn:
                yield _CoreTx(conn, self.sqlite)
            return
        assert self._write_lock is not None
        with self._write_lock, self._raw_cursor() as (dbapi, cur):
            try:
                cur.execute("BEGIN")
                yield _RawTx(cur, self._raw)
                try:
                    dbapi.commit()
                except Exception as e:
                    raise _as_sqlalchemy_error(e, "COMMIT", None, self._raw.dialect) from e
            except BaseException:
                dbapi.rollback()
                raise

    def _first_value(self, statement: Any, params: dict[str, Any]) -> Any:
        """The first column of the first row of a one-row read (``None`` when there is no row)."""
        if self._raw is None:
            with self.engine.connect() as conn:
                row = conn.execute(statement, params).first()
            return None if row is None else row[0]
        c = self._raw.get(statement)
        with self._raw_cursor() as (_, cur):
            try:
                cur.execute(c.sql, c.params(params))
                rows = cur.fetchall()  # to the end: the statement is reset, no read snapshot stays open
            except Exception as e:
                raise _as_sqlalchemy_error(e, c.sql, params, self._raw.dialect) from e
        return rows[0][0] if rows else None

    @contextmanager
    def _raw_cursor(self) -> Iterator[tuple[Any, Any]]:
        """``(sqlite3 connection, cursor)`` of a pooled connection, both handed back at the end.

        From the engine's pool, so the store's ``connect`` hooks (WAL, foreign keys, busy timeout) hold.
        """
        fairy = self.engine.raw_connection()
        try:
            dbapi: Any = fairy.driver_connection
            cur = dbapi.cursor()
            try:
                yield dbapi, cur
            finally:
                cur.close()
        finally:
            fairy.close()

    # -- sessions ---------------------------------------------------------------------------------

    def session_for(self, state: ProtocolState, **kwargs: Any) -> ProtocolSession:
        """A :class:`ProtocolSession` around a stored state.

        Parameters
        ----------
        state
            The stored state.
        **kwargs
            Passed to the session (``models``, ``quota_gate``, ``limiter``).

        Returns
        -------
        ProtocolSession

        Example
        -------
        >>> import os, tempfile
        >>> from pluralis.collect.config import StudyConfig
        >>> repo = CollectRepository(Store.open(os.path.join(tempfile.mkdtemp(), "s.sqlite")), StudyConfig())
        >>> state = ProtocolSession(StudyConfig(), user_id="u1", seed=0).state
        >>> repo.session_for(state).user_id
        'u1'
        """
        return ProtocolSession(self.config, state=state, **kwargs)

    def create_session(
        self, *, source: str | None = None, external_id: str | None = None, user_id: str | None = None, **kwargs: Any
    ) -> tuple[str, ProtocolSession]:
        """Create a participant (and a ``joined`` event).

        Parameters
        ----------
        source
            ``"human"`` (default) or ``"simulated"``.
        external_id
            Recruitment-platform id (e.g. Prolific PID); only its hash is stored.
        user_id
            The participant id (default: a new random one).
        **kwargs
            Passed to the session.

        Returns
        -------
        (str, ProtocolSession)
            The token (shown to the participant only; the database keeps its hash) and the new session.

        Example
        -------
        >>> import os, tempfile
        >>> from pluralis.collect.config import StudyConfig
        >>> repo = CollectRepository(Store.open(os.path.join(tempfile.mkdtemp(), "s.sqlite")), StudyConfig())
        >>> token, session = repo.create_session(user_id="u7")
        >>> session.user_id, session.step.value, repo.load_user("u7").user_id
        ('u7', 'consent', 'u7')
        """
        token = new_token()
        session = ProtocolSession(self.config, user_id=user_id, source=source, **kwargs)  # type: ignore[arg-type]
        now = time.time()
        values = {
            "user_id": session.user_id,
            "token_hash": hash_token(token),
            "study_id": self.config.study.id,
            "source": session.state.source,
            "status": session.step.value,
            "quota_cell": None,
            "external_id_hash": hash_token(external_id) if external_id else None,
            "revision": session.state.revision,
            "conversations_done": 0,
            "created_at": now,
            "updated_at": now,
            "completed_at": None,
        }
        row = {f"v_{k}": values[k] for k in _NEW_SESSION_COLUMNS} | {"new_state": session.state.model_dump_json()}
        with self._transaction() as tx:
            tx.execute(self._sql.insert, row)
            tx.insert(
                _INSERT_EVENTS,
                [
                    {
                        "user_id": session.user_id,
                        "kind": "joined",
                        "detail": {"source": session.state.source},
                        "created_at": now,
                    }
                ],
            )
        return token, session

    def load(self, token: str, **kwargs: Any) -> ProtocolSession | None:
        """The session of a participant token.

        Parameters
        ----------
        token
            The participant token (from the cookie or the resume link).
        **kwargs
            Passed to the session.

        Returns
        -------
        ProtocolSession or None
            ``None`` for an unknown token.

        Example
        -------
        >>> import os, tempfile
        >>> from pluralis.collect.config import StudyConfig
        >>> repo = CollectRepository(Store.open(os.path.join(tempfile.mkdtemp(), "s.sqlite")), StudyConfig())
        >>> token, session = repo.create_session()
        >>> repo.load(token).user_id == session.user_id, repo.load("not-a-token")
        (True, None)
        """
        if not token or len(token) > 200:
            return None
        state = self._first_value(self._sql.by_token, {"h": hash_token(token)})
        if state is None:
            return None
        return self.session_for(ProtocolState.model_validate_json(state), **kwargs)

    def load_user(self, user_id: str, **kwargs: Any) -> ProtocolSession | None:
        """The session of a participant id (admin use; participants are looked up by token).

        Parameters
        ----------
        user_id
            The participant id.
        **kwargs
            Passed to the session.

        Returns
        -------
        ProtocolSession or None
            ``None`` for an unknown id.

        Example
        -------
        >>> import os, tempfile
        >>> from pluralis.collect.config import StudyConfig
        >>> repo = CollectRepository(Store.open(os.path.join(tempfile.mkdtemp(), "s.sqlite")), StudyConfig())
        >>> repo.load_user("nobody") is None
        True
        """
        state = self._first_value(self._sql.by_user, {"uid": user_id})
        return None if state is None else self.session_for(ProtocolState.model_validate_json(state), **kwargs)

    def external_id_exists(self, external_id: str) -> bool:
        """Whether a recruitment-platform id (e.g. Prolific PID) already joined.

        Parameters
        ----------
        external_id
            The id.

        Returns
        -------
        bool

        Example
        -------
        >>> import os, tempfile
        >>> from pluralis.collect.config import StudyConfig
        >>> repo = CollectRepository(Store.open(os.path.join(tempfile.mkdtemp(), "s.sqlite")), StudyConfig())
        >>> _ = repo.create_session(external_id="p-1")
        >>> repo.external_id_exists("p-1"), repo.external_id_exists("p-2")
        (True, False)
        """
        return self._first_value(_USER_BY_EXTERNAL_ID, {"h": hash_token(external_id)}) is not None

    # -- saving -----------------------------------------------------------------------------------

    def save(
        self, session: ProtocolSession, before: ProtocolState | Snapshot, events: Iterable[tuple[str, dict | None]] = ()
    ) -> None:
        """Commit ``session``'s state and every row its last action produced, in one transaction.

        Parameters
        ----------
        session
            The session after the action.
        before
            The state the action started from (or its :class:`Snapshot`).
        events
            ``(kind, detail)`` audit events to append.

        Raises
        ------
        ConcurrentUpdate
            The stored revision is no longer ``before.revision`` (another request applied an action first);
            nothing is written.

        Example
        -------
        >>> import os, tempfile
        >>> from pluralis.collect.config import StudyConfig
        >>> repo = CollectRepository(Store.open(os.path.join(tempfile.mkdtemp(), "s.sqlite")), StudyConfig())
        >>> token, session = repo.create_session()
        >>> before = Snapshot.of(session.state)
        >>> session.consent()
        >>> repo.save(session, before, [("consent", None)])
        >>> repo.save(session, before)
        Traceback (most recent call last):
        ...
        pluralis.web.repository.ConcurrentUpdate: participant ...: state changed since it was loaded
        """
        st = session.state
        if not isinstance(before, Snapshot):
            before = Snapshot.of(before)
        now = time.time()
        with self._transaction() as tx:
            changed = tx.execute(
                self._sql.save,
                {
                    "uid": st.user_id,
                    "expected": before.revision,
                    "new_state": st.model_dump_json(),
                    "new_revision": st.revision,
                    "new_status": st.step.value,
                    "new_quota_cell": st.quota_cell,
                    "new_done": len(st.completed),
                    "now": now,
                    "new_completed_at": st.completed_at,
                },
            )
            if changed != 1:
                raise ConcurrentUpdate(f"participant {st.user_id}: state changed since it was loaded")
            self._write_rows(tx, session, before, now)
            rows = [
                {"user_id": st.user_id, "kind": kind, "detail": detail, "created_at": now} for kind, detail in events
            ]
            if rows:
                tx.insert(_INSERT_EVENTS, rows)

    def _write_rows(self, tx: _CoreTx | _RawTx, session: ProtocolSession, before: Snapshot, now: float) -> None:
        st = session.state
        old_ratings, new_ratings = before.ratings, _ratings(st)
        rating_rows = [
            {
                "user_id": st.user_id,
                "conversation_id": k[0],
                "turn": k[1],
                "within_turn_id": k[2],
                "model_name": v["model_name"],
                "score": v["score"],
                "if_chosen": v["if_chosen"],
                "created_at": now,
            }
            for k, v in new_ratings.items()
            if k not in old_ratings
        ]
        if rating_rows:
            tx.insert(_INSERT_RATINGS, rating_rows)
        old_resp, new_resp = before.responses, _responses(st)
        resp_rows = [
            {
                "user_id": st.user_id,
                "conversation_id": k[0],
                "turn": k[1],
                "within_turn_id": k[2],
                "model_name": r.model_name,
                "model_provider": r.model_provider,
                "text": r.text,
                "latency_s": r.latency_s,
                "method": r.method,
                "usage": r.usage,
                "created_at": now,
            }
            for k, r in new_resp.items()
            if k not in old_resp
        ]
        if resp_rows:
            tx.insert(_INSERT_RESPONSES, resp_rows)
        fail_rows = [
            {
                "user_id": st.user_id,
                "conversation_id": f.conversation_id,
                "turn": f.turn,
                "model_name": f.model_name,
                "model_provider": f.model_provider,
                "kind": f.kind,
                "message": f.message,
                "status_code": f.status_code,
                "latency_s": f.latency_s,
                "created_at": f.at,
            }
            for f in st.failures[before.n_failures :]
        ]
        if fail_rows:
            tx.insert(_INSERT_FAILURES, fail_rows)
        new_convs = st.completed[before.n_completed :]
        participant_changed = st.participant is not None and st.participant != before.participant
        if not new_convs and not participant_changed:
            return
        tx.lock_seq()
        seq = self._next_seq(tx)
        participant = Participant.model_validate(st.participant) if st.participant is not None else None
        study = Study(
            survey=[participant] if (participant is not None and before.participant is None) else [],
            conversations=[Conversation.model_validate(c) for c in new_convs],
        )
        study.utterances = utterances_for(study.conversations)
        rows = _rows_for(study, seq)
        for name, statement in _PRISM_INSERTS.items():
            if rows[name]:
                tx.insert(statement, rows[name])
        if participant is not None and before.participant is not None:
            tx.execute(
                _UPDATE_PARTICIPANT,
                {"uid": st.user_id, "record": participant.to_json_dict(), "survey_only": participant.survey_only},
            )

    @staticmethod
    def _next_seq(tx: _CoreTx | _RawTx | Connection) -> dict[str, int]:
        """The next ``seq`` of every PRISM table (``-1 + 1 = 0`` for an empty one)."""
        if isinstance(tx, Connection):
            tx = _CoreTx(tx, sqlite=True)
        return next_seq(tx.one(MAX_SEQ))

    def add_event(self, user_id: str | None, kind: str, detail: dict | None = None) -> None:
        """Append one audit event.

        Parameters
        ----------
        user_id
            The participant (``None`` for app-wide events).
        kind
            What happened (``"resumed"``, ...).
        detail
            JSON details.

        Example
        -------
        >>> import os, tempfile
        >>> from pluralis.collect.config import StudyConfig
        >>> repo = CollectRepository(Store.open(os.path.join(tempfile.mkdtemp(), "s.sqlite")), StudyConfig())
        >>> repo.add_event(None, "note", {"text": "pilot starts"}); repo.counts()["events"]
        1
        """
        with self._transaction() as tx:
            tx.insert(_INSERT_EVENTS, [{"user_id": user_id, "kind": kind, "detail": detail, "created_at": time.time()}])

    def active_states(self) -> list[dict[str, Any]]:
        """The stored states of participants in a conversation (generating, rating, continuing, feedback).

        Returns
        -------
        list of dict
            Protocol states as JSON dicts.

        Example
        -------
        >>> import os, tempfile
        >>> from pluralis.collect.config import StudyConfig
        >>> repo = CollectRepository(Store.open(os.path.join(tempfile.mkdtemp(), "s.sqlite")), StudyConfig())
        >>> _ = repo.create_session(); repo.active_states()
        []
        """
        steps = [s.value for s in (Step.GENERATING, Step.RATE, Step.CONTINUE, Step.FEEDBACK)]
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(collect_sessions.c.state).where(
                    collect_sessions.c.status.in_(steps), collect_sessions.c.study_id == self.config.study.id
                )
            ).all()
        return [dict(r.state) for r in rows]

    # -- quotas -----------------------------------------------------------------------------------

    def cell_counts(self) -> dict[str, int]:
        """Participants admitted per quota cell (screened-out participants are not counted).

        Returns
        -------
        dict
            Participants by cell label.

        Example
        -------
        >>> import os, tempfile
        >>> from pluralis.collect.config import StudyConfig
        >>> CollectRepository(Store.open(os.path.join(tempfile.mkdtemp(), "s.sqlite")), StudyConfig()).cell_counts()
        {}
        """
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(collect_sessions.c.quota_cell, func.count())
                .where(
                    collect_sessions.c.quota_cell.is_not(None),
                    collect_sessions.c.status != Step.SCREENED_OUT.value,
                    collect_sessions.c.study_id == self.config.study.id,
                )
                .group_by(collect_sessions.c.quota_cell)
            ).all()
        return {r[0]: int(r[1]) for r in rows}

    # -- dashboard --------------------------------------------------------------------------------

    def status_counts(self) -> dict[str, int]:
        """Participants per protocol step.

        Returns
        -------
        dict
            Participants by step (``"consent"``, ``"survey"``, ..., ``"complete"``).

        Example
        -------
        >>> import os, tempfile
        >>> from pluralis.collect.config import StudyConfig
        >>> repo = CollectRepository(Store.open(os.path.join(tempfile.mkdtemp(), "s.sqlite")), StudyConfig())
        >>> _ = repo.create_session(); repo.status_counts()
        {'consent': 1}
        """
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(collect_sessions.c.status, func.count())
                .where(collect_sessions.c.study_id == self.config.study.id)
                .group_by(collect_sessions.c.status)
            ).all()
        return {r[0]: int(r[1]) for r in rows}

    def rating_summary(self) -> list[dict[str, Any]]:
        """Ratings so far per model: count, mean score, times chosen (best mean first).

        Returns
        -------
        list of dict
            ``model``, ``ratings``, ``mean_score``, ``chosen``.

        Example
        -------
        >>> import os, tempfile
        >>> from pluralis.collect.config import StudyConfig
        >>> CollectRepository(Store.open(os.path.join(tempfile.mkdtemp(), "s.sqlite")), StudyConfig()).rating_summary()
        []
        """
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(
                    collect_ratings.c.model_name,
                    func.count(),
                    func.avg(collect_ratings.c.score),
                    func.sum(collect_ratings.c.if_chosen.cast(Integer)),
                )
                .group_by(collect_ratings.c.model_name)
                .order_by(func.avg(collect_ratings.c.score).desc())
            ).all()
        return [
            {"model": r[0], "ratings": int(r[1]), "mean_score": round(float(r[2]), 1), "chosen": int(r[3] or 0)}
            for r in rows
        ]

    def failure_summary(self) -> list[dict[str, Any]]:
        """Failed model calls per model and kind (most frequent first).

        Returns
        -------
        list of dict
            ``model``, ``kind``, ``count``.

        Example
        -------
        >>> import os, tempfile
        >>> from pluralis.collect.config import StudyConfig
        >>> CollectRepository(Store.open(os.path.join(tempfile.mkdtemp(), "s.sqlite")), StudyConfig()).failure_summary()
        []
        """
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(collect_failures.c.model_name, collect_failures.c.kind, func.count())
                .group_by(collect_failures.c.model_name, collect_failures.c.kind)
                .order_by(func.count().desc())
            ).all()
        return [{"model": r[0], "kind": r[1], "count": int(r[2])} for r in rows]

    def model_call_span(self) -> tuple[float | None, float | None]:
        """The times of the first and the last model call (responses and failures), epoch seconds.

        Returns
        -------
        (float or None, float or None)
            ``(None, None)`` before the first call.

        Example
        -------
        >>> import os, tempfile
        >>> from pluralis.collect.config import StudyConfig
        >>> CollectRepository(Store.open(os.path.join(tempfile.mkdtemp(), "s.sqlite")), StudyConfig()).model_call_span()
        (None, None)
        """
        with self.engine.connect() as conn:
            spans = [
                conn.execute(select(func.min(t.c.created_at), func.max(t.c.created_at))).one()
                for t in (collect_responses, collect_failures)
            ]
        firsts = [a for a, _ in spans if a is not None]
        lasts = [b for _, b in spans if b is not None]
        return (min(firsts) if firsts else None, max(lasts) if lasts else None)

    def model_call_counts(self, bucket_s: int) -> pd.DataFrame:
        """Responses and failed calls per model per time bucket (counted in the database).

        Parameters
        ----------
        bucket_s
            Seconds per bucket.

        Returns
        -------
        pandas.DataFrame
            ``model``, ``bucket`` (epoch seconds // ``bucket_s``), ``responses``, ``failures``.

        Example
        -------
        >>> import os, tempfile
        >>> from pluralis.collect.config import StudyConfig
        >>> repo = CollectRepository(Store.open(os.path.join(tempfile.mkdtemp(), "s.sqlite")), StudyConfig())
        >>> list(repo.model_call_counts(60).columns)
        ['model', 'bucket', 'responses', 'failures']
        """
        parts = []
        with self.engine.connect() as conn:
            for table, what in ((collect_responses, "responses"), (collect_failures, "failures")):
                bucket = (table.c.created_at.cast(Integer) // int(bucket_s)).label("bucket")
                rows = conn.execute(
                    select(table.c.model_name, bucket, func.count()).group_by(table.c.model_name, bucket)
                ).all()
                frame = pd.DataFrame([tuple(r) for r in rows], columns=["model", "bucket", what])
                parts.append(frame.set_index(["model", "bucket"]))
        out = pd.concat(parts, axis=1).fillna(0).astype(int).reset_index()
        return out[["model", "bucket", "responses", "failures"]]

    def survey_frame(self) -> pd.DataFrame:
        """One row per participant who finished the survey: ``user_id``, ``age``, ``gender``,
        ``ethnicity_simplified`` (what the census comparison needs; screened-out participants included).

        Returns
        -------
        pandas.DataFrame

        Example
        -------
        >>> import os, tempfile
        >>> from pluralis.collect.config import StudyConfig
        >>> from pluralis.data.synthetic import generate_study
        >>> store = Store.open(os.path.join(tempfile.mkdtemp(), "s.sqlite"))
        >>> _ = store.import_study(generate_study(n_participants=5, seed=1))
        >>> CollectRepository(store, StudyConfig()).survey_frame().shape
        (5, 4)
        """
        p = s.participants
        with self.engine.connect() as conn:
            rows = conn.execute(select(p.c.user_id, p.c.age, p.c.gender, p.c.ethnicity).order_by(p.c.seq)).all()
        return pd.DataFrame.from_records(
            [tuple(r) for r in rows], columns=["user_id", "age", "gender", "ethnicity_simplified"]
        )

    def counts(self) -> dict[str, int]:
        """Row counts of the collection tables and the PRISM tables.

        Returns
        -------
        dict
            Rows by table (``participants``, ``conversations``, ..., ``sessions``, ``ratings``, ``events``).

        Example
        -------
        >>> import os, tempfile
        >>> from pluralis.collect.config import StudyConfig
        >>> counts = CollectRepository(Store.open(os.path.join(tempfile.mkdtemp(), "s.sqlite")), StudyConfig()).counts()
        >>> counts["sessions"], counts["utterances"]
        (0, 0)
        """
        out = dict(self.store.counts())
        with self.engine.connect() as conn:
            for name, table in (
                ("sessions", collect_sessions),
                ("ratings", collect_ratings),
                ("responses", collect_responses),
                ("failures", collect_failures),
                ("events", collect_events),
            ):
                out[name] = int(conn.execute(select(func.count()).select_from(table)).scalar_one())
        return out

    def all_ratings(self) -> list[dict[str, Any]]:
        """Every stored rating (for checks and exports), in storage order.

        Returns
        -------
        list of dict
            Rows of ``collect_ratings``.

        Example
        -------
        >>> import os, tempfile
        >>> from pluralis.collect.config import StudyConfig
        >>> CollectRepository(Store.open(os.path.join(tempfile.mkdtemp(), "s.sqlite")), StudyConfig()).all_ratings()
        []
        """
        with self.engine.connect() as conn:
            rows = conn.execute(select(collect_ratings).order_by(collect_ratings.c.id)).mappings().all()
        return [dict(r) for r in rows]

    def export_study(self, *, completed_only: bool = False) -> Study:
        """The study's PRISM records from the store.

        Parameters
        ----------
        completed_only
            Only participants who finished.

        Returns
        -------
        Study

        Example
        -------
        >>> import os, tempfile
        >>> from pluralis.collect.config import StudyConfig
        >>> repo = CollectRepository(Store.open(os.path.join(tempfile.mkdtemp(), "s.sqlite")), StudyConfig())
        >>> repo.export_study(completed_only=True).counts()["survey"]
        0
        """
        study = self.store.export_study()
        if completed_only:
            with self.engine.connect() as conn:
                done = set(
                    conn.execute(
                        select(collect_sessions.c.user_id).where(collect_sessions.c.status == Step.COMPLETE.value)
                    ).scalars()
                )
            study.survey = [p for p in study.survey if p.user_id in done]
            study.conversations = [c for c in study.conversations if c.user_id in done]
            study.utterances = [u for u in study.utterances if u.user_id in done]
            study.metadata = [m for m in study.metadata if m.user_id in done]
        return study

    def opening_ratings(self, group_fields: Iterable[str] = ()) -> pd.DataFrame:
        """Rated opening-turn responses of finished conversations, with their participants' group columns.

        Read straight from the ``utterances`` and ``participants`` tables (what the dashboard's
        "whose preferences?" panel ranks, :func:`pluralis.web.dashboard.whose_preferences`).

        Parameters
        ----------
        group_fields
            Participant columns to add (those of :data:`GROUP_COLUMNS`; others are left out).

        Returns
        -------
        pandas.DataFrame
            One row per rated response, in storage order: ``user_id``, ``interaction_id``, ``conversation_id``,
            ``turn``, ``within_turn_id``, ``model_name``, ``score`` and one column per known group field.

        Example
        -------
        >>> import os, tempfile
        >>> from pluralis.collect.config import StudyConfig
        >>> from pluralis.data.synthetic import generate_study
        >>> store = Store.open(os.path.join(tempfile.mkdtemp(), "s.sqlite"))
        >>> _ = store.import_study(generate_study(n_participants=5, seed=1))
        >>> ratings = CollectRepository(store, StudyConfig()).opening_ratings(["gender", "not-a-field"])
        >>> list(ratings.columns)[-3:], set(ratings["turn"])
        (['model_name', 'score', 'gender'], {0})
        """
        fields = [f for f in group_fields if f in GROUP_COLUMNS]
        u, p = s.utterances, s.participants
        cols = [
            u.c.user_id,
            u.c.interaction_id,
            u.c.conversation_id,
            u.c.turn,
            u.c.within_turn_id,
            u.c.model_name,
            u.c.score,
        ] + [p.c[GROUP_COLUMNS[f]].label(f) for f in fields]
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(*cols).join(p, p.c.user_id == u.c.user_id).where(u.c.turn == 0).order_by(u.c.seq)
            ).all()
        # plain tuples: pandas probes Row objects attribute by attribute (slow at PRISM's 30k+ openers)
        return pd.DataFrame.from_records([tuple(r) for r in rows], columns=[c.name for c in cols])


__all__ = ["GROUP_COLUMNS", "CollectRepository", "ConcurrentUpdate", "Snapshot", "hash_token", "new_token"]
