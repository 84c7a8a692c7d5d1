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

from pluralis.collect.config import StudyConfig
from pluralis.collect.protocol import ProtocolSession, ProtocolState, Step, utterances_for
from pluralis.data.model import Conversation, Participant
from pluralis.data.study import Study
from pluralis.errors import PluralisError
from pluralis.store import Store
from pluralis.store import schema as s
from pluralis.store.db import TABLES, _rows_for
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
_MAX_SEQ = select(*(select(func.max(table.c.seq)).scalar_subquery().label(name) for name, table in TABLES))


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
    handler); PostgreSQL handles concurrent writers itself.

    Parameters
    ----------
    store
        A :class:`pluralis.store.Store` (migrated to include the collection tables).
    config
        The study.

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

    def __init__(self, store: Store, config: StudyConfig):
        self.store = store
        self.engine = store.engine
        self.config = config
        self.sqlite = store.url.startswith("sqlite")
        self._write_lock = threading.Lock() if self.sqlite else None
        self._sql = _StateStatements(self.sqlite)
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
        with self._write() as conn:
            conn.execute(self._sql.insert, row)
            conn.execute(
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
        with self.engine.connect() as conn:
            row = conn.execute(self._sql.by_token, {"h": hash_token(token)}).first()
        if row is None:
            return None
        return self.session_for(ProtocolState.model_validate_json(row.state), **kwargs)

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
        with self.engine.connect() as conn:
            row = conn.execute(self._sql.by_user, {"uid": user_id}).first()
        return None if row is None else self.session_for(ProtocolState.model_validate_json(row.state), **kwargs)

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
        with self.engine.connect() as conn:
            return conn.execute(_USER_BY_EXTERNAL_ID, {"h": hash_token(external_id)}).first() is not None

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
        with self._write() as conn:
            res = conn.execute(
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
            if res.rowcount != 1:
                raise ConcurrentUpdate(f"participant {st.user_id}: state changed since it was loaded")
            self._write_rows(conn, session, before, now)
            rows = [
                {"user_id": st.user_id, "kind": kind, "detail": detail, "created_at": now} for kind, detail in events
            ]
            if rows:
                conn.execute(_INSERT_EVENTS, rows)

    def _write_rows(self, conn, session: ProtocolSession, before: Snapshot, now: float) -> None:
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
            conn.execute(_INSERT_RATINGS, rating_rows)
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
            conn.execute(_INSERT_RESPONSES, resp_rows)
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
            conn.execute(_INSERT_FAILURES, fail_rows)
        new_convs = st.completed[before.n_completed :]
        participant_changed = st.participant is not None and st.participant != before.participant
        if not new_convs and not participant_changed:
            return
        if not self.sqlite:
            conn.execute(text("SELECT pg_advisory_xact_lock(727271)"))  # serialise seq allocation
        seq = self._next_seq(conn)
        participant = Participant.model_validate(st.participant) if st.participant is not None else None
        study = Study(
            survey=[participant] if (participant is not None and before.participant is None) else [],
            conversations=[Conversation.model_validate(c) for c in new_convs],
        )
        study.utterances = utterances_for(study.conversations)
        rows = _rows_for(study, seq)
        for name, statement in _PRISM_INSERTS.items():
            if rows[name]:
                conn.execute(statement, rows[name])
        if participant is not None and before.participant is not None:
            conn.execute(
                update(s.participants)
                .where(s.participants.c.user_id == st.user_id)
                .values(record=participant.to_json_dict(), survey_only=participant.survey_only)
            )

    def _next_seq(self, conn) -> dict[str, int]:
        row = conn.execute(_MAX_SEQ).one()
        return {name: (v if v is not None else -1) + 1 for name, v in zip(row._fields, row)}

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
        with self._write() as conn:
            conn.execute(
                _INSERT_EVENTS,
                [{"user_id": user_id, "kind": kind, "detail": detail, "created_at": time.time()}],
            )

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
