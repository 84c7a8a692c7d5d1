"""Study operations on the store: recruitment ids for payment matching, withdrawal, failures, the audit log.

- :func:`record_entry`: the recruitment platform's URL parameters of a participant (Prolific's
  ``PROLIFIC_PID``, ``STUDY_ID``, ``SESSION_ID``), kept in ``collect_entry_params``, a table no PRISM export
  reads; :func:`payments` / :func:`write_payments_csv` join them with each participant's status and
  completion code for payment matching (``pluralis participants payments``).
- :func:`delete_participant`: withdrawal. Every row of the participant, in every table of the store (PRISM
  records, live-study sessions, ratings, responses, failures, events, recruitment ids, and rows of any other
  table keyed by their user, conversation, interaction or utterance ids), goes in ONE transaction, and
  ``collect_audit`` gets a row saying what was deleted and when, never whose data it was.
- :func:`failures` / :func:`write_failures`: every model call that failed or timed out, as a table written
  beside the PRISM files (``failures.jsonl``).
- :func:`sessions_overview`: one row per participant of the live study (status, times, code, recruitment
  ids, operating system), what quality control (:mod:`pluralis.collect.quality`) starts from.

Example
-------
>>> import tempfile, os, time
>>> from pluralis.store import Store
>>> store = Store.open(os.path.join(tempfile.mkdtemp(), "s.sqlite"))
>>> add_session(store, "u1", "study-a")
>>> record_entry(store, "u1", "study-a", {"PROLIFIC_PID": "5f0c0ffee", "STUDY_ID": "s1"}, client_os="Windows")
>>> [(r["user_id"], r["PROLIFIC_PID"]) for r in payments(store)]
[('u1', '5f0c0ffee')]
>>> delete_participant(store, "u1").rows
{'collect_entry_params': 1, 'collect_sessions': 1}
>>> payments(store), audit_log(store)[0]["action"]
([], 'participant_deleted')
"""

from __future__ import annotations

import csv
import json
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, MetaData, delete, insert, or_, select
from sqlalchemy.exc import SQLAlchemyError

from pluralis.errors import ConfigError, StoreError
from pluralis.store.db import Store
from pluralis.store.schema_collect import collect_audit, collect_entry_params, collect_failures, collect_sessions

#: Name of the failures table written beside the PRISM files.
FAILURES_FILE = "failures.jsonl"
#: Reasons a deletion may give in the audit log (a fixed vocabulary: no free text, so no personal data).
DELETION_REASONS = ("withdrawal", "duplicate", "test", "quality", "other")
#: Columns that tie a row to a participant, in any table of the store.
_LINK_COLUMNS = ("user_id", "annotator_id", "conversation_id", "interaction_id", "utterance_id")
_PAYMENT_COLUMNS = (
    "user_id",
    "study_id",
    "status",
    "screened_out",
    "completion_code",
    "conversations_done",
    "joined_at",
    "completed_at",
)


def _iso(ts: float | None) -> str | None:
    return None if ts is None else datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def add_session(store: Store, user_id: str, study_id: str, *, status: str = "consent") -> None:
    """Insert a minimal live-study session row (tests and examples; the web app creates real ones).

    Parameters
    ----------
    store : Store
        The open store.
    user_id : str
        The participant's id (also used to make the session's token hash).
    study_id : str
        The study the session belongs to.
    status : str
        The session's protocol status (default ``"consent"``).

    Example
    -------
    >>> import tempfile, os
    >>> store = Store.open(os.path.join(tempfile.mkdtemp(), "s.sqlite"))
    >>> add_session(store, "u9", "s"); [r["user_id"] for r in sessions_overview(store)]
    ['u9']
    """
    now = time.time()
    with store.engine.begin() as conn:
        conn.execute(
            insert(collect_sessions),
            [
                {
                    "user_id": user_id,
                    "token_hash": f"test-{user_id}",
                    "study_id": study_id,
                    "status": status,
                    "revision": 0,
                    "state": {"user_id": user_id, "study_id": study_id},
                    "created_at": now,
                    "updated_at": now,
                }
            ],
        )


# --- recruitment ids ----------------------------------------------------------------------------------


def record_entry(
    store: Store | Connection,
    user_id: str,
    study_id: str,
    params: Mapping[str, str],
    *,
    client_os: str | None = None,
) -> None:
    """Keep a participant's recruitment URL parameters (and browser OS) in ``collect_entry_params``.

    Parameters
    ----------
    store
        The store, or an open connection (to write in the same transaction that creates the session).
    user_id, study_id
        The participant (their ``collect_sessions`` row must exist) and the study.
    params
        Parameter name -> value, as :func:`pluralis.collect.recruitment.entry_params` selects them.
    client_os
        Coarse operating system (:func:`pluralis.collect.recruitment.os_family`), for quality control.

    Example
    -------
    >>> import tempfile, os
    >>> store = Store.open(os.path.join(tempfile.mkdtemp(), "s.sqlite"))
    >>> add_session(store, "u1", "s"); record_entry(store, "u1", "s", {"PROLIFIC_PID": "abc"})
    >>> entry_params(store, "u1")
    {'PROLIFIC_PID': 'abc'}
    """
    row = {
        "user_id": user_id,
        "study_id": study_id,
        "params": {str(k): str(v) for k, v in params.items()},
        "client_os": client_os,
        "created_at": time.time(),
    }
    if isinstance(store, Connection):
        store.execute(insert(collect_entry_params), [row])
        return
    with store.engine.begin() as conn:
        conn.execute(insert(collect_entry_params), [row])


def entry_params(store: Store, user_id: str) -> dict[str, str] | None:
    """The recruitment URL parameters kept for a participant (``None`` when none were).

    Parameters
    ----------
    store : Store
        The open store.
    user_id : str
        The participant's id.

    Returns
    -------
    dict of str to str or None
        The URL parameters recorded at entry.

    Example
    -------
    >>> import tempfile, os
    >>> entry_params(Store.open(os.path.join(tempfile.mkdtemp(), "s.sqlite")), "nobody") is None
    True
    """
    with store.engine.connect() as conn:
        row = conn.execute(select(collect_entry_params.c.params).where(collect_entry_params.c.user_id == user_id))
        found = row.first()
    return None if found is None else dict(found[0])


def sessions_overview(store: Store, *, study_id: str | None = None) -> list[dict[str, Any]]:
    """One row per live-study participant: ids, status, times (epoch seconds), completion code, number of
    finished conversations, recruitment parameters and browser OS.

    Parameters
    ----------
    store : Store
        The open store.
    study_id : str, optional
        Only this study's sessions; ``None`` (default) for all studies.

    Returns
    -------
    list of dict
        One dict per session, ordered by creation time then user id.

    Example
    -------
    >>> import tempfile, os
    >>> store = Store.open(os.path.join(tempfile.mkdtemp(), "s.sqlite"))
    >>> add_session(store, "u1", "s", status="complete")
    >>> row = sessions_overview(store)[0]
    >>> row["status"], row["params"], row["completion_code"]
    ('complete', {}, None)
    """
    s, e = collect_sessions, collect_entry_params
    query = (
        select(
            s.c.user_id,
            s.c.study_id,
            s.c.source,
            s.c.status,
            s.c.conversations_done,
            s.c.created_at,
            s.c.completed_at,
            s.c.state,
            e.c.params,
            e.c.client_os,
        )
        .select_from(s.outerjoin(e, e.c.user_id == s.c.user_id))
        .order_by(s.c.created_at, s.c.user_id)
    )
    if study_id is not None:
        query = query.where(s.c.study_id == study_id)
    with store.engine.connect() as conn:
        rows = conn.execute(query).mappings().all()
    out = []
    for r in rows:
        state = r["state"] if isinstance(r["state"], dict) else json.loads(r["state"] or "{}")
        out.append(
            {
                "user_id": r["user_id"],
                "study_id": r["study_id"],
                "source": r["source"],
                "status": r["status"],
                "conversations_done": int(r["conversations_done"] or 0),
                "created_at": r["created_at"],
                "completed_at": r["completed_at"],
                "completion_code": state.get("completion_code"),
                "params": dict(r["params"] or {}),
                "client_os": r["client_os"],
            }
        )
    return out


def payments(store: Store, *, study_id: str | None = None, params: Sequence[str] | None = None) -> list[dict[str, Any]]:
    """The payment-matching table: one row per participant with their status, completion code and the
    recruitment parameters (one column each).

    Parameters
    ----------
    store
        The store.
    study_id
        Only this study's participants.
    params
        Parameter columns, in order (default: every parameter name seen, sorted).

    Returns
    -------
    list of dict
        Keys ``user_id, study_id, status, screened_out, completion_code, conversations_done, joined_at,
        completed_at`` (times as ISO UTC) and one per parameter (``None`` when not given).

    Example
    -------
    >>> import tempfile, os
    >>> store = Store.open(os.path.join(tempfile.mkdtemp(), "s.sqlite"))
    >>> add_session(store, "u1", "s", status="screened_out")
    >>> record_entry(store, "u1", "s", {"PROLIFIC_PID": "p1", "SESSION_ID": "x"})
    >>> row = payments(store)[0]
    >>> row["screened_out"], row["PROLIFIC_PID"], row["SESSION_ID"]
    (True, 'p1', 'x')
    """
    rows = sessions_overview(store, study_id=study_id)
    names = list(params) if params is not None else sorted({k for r in rows for k in r["params"]})
    out = []
    for r in rows:
        row: dict[str, Any] = {
            "user_id": r["user_id"],
            "study_id": r["study_id"],
            "status": r["status"],
            "screened_out": r["status"] == "screened_out",
            "completion_code": r["completion_code"],
            "conversations_done": r["conversations_done"],
            "joined_at": _iso(r["created_at"]),
            "completed_at": _iso(r["completed_at"]),
        }
        row.update({n: r["params"].get(n) for n in names})
        out.append(row)
    return out


def write_payments_csv(
    store: Store, path: str | Path, *, study_id: str | None = None, params: Sequence[str] | None = None
) -> int:
    """Write :func:`payments` as CSV (header row first); returns the number of participants.

    Parameters
    ----------
    store : Store
        The open store.
    path : str or pathlib.Path
        The CSV file to write (its folder is created; written atomically).
    study_id : str, optional
        Only this study's participants; ``None`` (default) for all.
    params : sequence of str, optional
        Recruitment URL parameters to add as columns, in this order; ``None`` (default) adds every
        parameter seen, sorted.

    Returns
    -------
    int
        The number of participant rows written.

    Example
    -------
    >>> import tempfile, os, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> store = Store.open(d / "s.sqlite"); add_session(store, "u1", "s")
    >>> write_payments_csv(store, d / "pay.csv", params=["PROLIFIC_PID"])
    1
    >>> (d / "pay.csv").read_text().splitlines()[0]
    'user_id,study_id,status,screened_out,completion_code,conversations_done,joined_at,completed_at,PROLIFIC_PID'
    """
    rows = payments(store, study_id=study_id, params=params)
    names = list(params) if params is not None else sorted({k for r in rows for k in r} - set(_PAYMENT_COLUMNS))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=[*_PAYMENT_COLUMNS, *names], extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    tmp.replace(path)
    return len(rows)


# --- withdrawal -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DeletionReport:
    """What :func:`delete_participant` removed: rows per table (tables with none are left out).

    Example
    -------
    >>> DeletionReport({"participants": 1, "utterances": 12}).total
    13
    """

    rows: dict[str, int]

    @property
    def total(self) -> int:
        """Rows deleted in all tables."""
        return sum(self.rows.values())


def _ids(conn: Connection, tables: Iterable[Any], column: str, where: Any) -> set[str]:
    out: set[str] = set()
    for t in tables:
        out.update(v for v in conn.execute(select(t.c[column]).where(where(t))).scalars() if v is not None)
    return out


def delete_participant(store: Store, user_id: str, *, reason: str = "withdrawal") -> DeletionReport:
    """Delete every row of one participant, in every table of the store, in ONE transaction, and append an
    audit row (``collect_audit``: action, study, reason, rows per table, time; not the participant's id).

    Rows are found by the participant's ``user_id`` (or ``annotator_id``) and by the ids of their
    conversations, interactions and utterances, in every table the database has (found by reflection, so
    tables added later are covered when they carry one of those columns). Dependent rows go first.

    Parameters
    ----------
    store
        The store.
    user_id
        The participant (``user_id`` of the PRISM records and of the live study).
    reason
        One of :data:`DELETION_REASONS` (recorded in the audit log).

    Returns
    -------
    DeletionReport
        Rows deleted per table.

    Raises
    ------
    StoreError
        The store holds nothing of this participant (nothing is written, not even an audit row).

    Example
    -------
    >>> import tempfile, os
    >>> from pluralis.data.synthetic import generate_study
    >>> store = Store.open(os.path.join(tempfile.mkdtemp(), "s.sqlite"))
    >>> _ = store.import_study(generate_study(n_participants=3, seed=0))
    >>> report = delete_participant(store, "user1")
    >>> report.rows["participants"], store.counts()["participants"]
    (1, 2)
    >>> audit_log(store)[-1]["detail"]["rows"] == report.rows
    True
    """
    if reason not in DELETION_REASONS:
        raise ConfigError(f"reason must be one of {', '.join(DELETION_REASONS)}, got {reason!r}")
    if not user_id:
        raise ConfigError("give the participant's user_id")
    try:
        return _delete_participant(store, user_id, reason)
    except SQLAlchemyError as e:
        raise StoreError(
            f"deleting participant {user_id!r} failed and was rolled back, nothing was deleted: {e}"
        ) from None


def _delete_participant(store: Store, user_id: str, reason: str) -> DeletionReport:
    counts: dict[str, int] = {}
    with store.engine.begin() as conn:
        reflected = MetaData()
        reflected.reflect(conn)
        tables = [t for t in reflected.sorted_tables if t.name != "alembic_version" and t.name != "collect_audit"]
        with_user = [t for t in tables if "user_id" in t.c]
        study_ids = _ids(
            conn, [t for t in with_user if "study_id" in t.c], "study_id", lambda t: t.c.user_id == user_id
        )
        conv_ids = _ids(
            conn,
            [t for t in with_user if "conversation_id" in t.c],
            "conversation_id",
            lambda t: t.c.user_id == user_id,
        )
        inter_ids = (
            _ids(
                conn,
                [t for t in tables if "interaction_id" in t.c and "conversation_id" in t.c],
                "interaction_id",
                lambda t: t.c.conversation_id.in_(sorted(conv_ids)),
            )
            if conv_ids
            else set()
        )
        utt_ids = _ids(
            conn, [t for t in with_user if "utterance_id" in t.c], "utterance_id", lambda t: t.c.user_id == user_id
        )
        keys = {
            "user_id": {user_id},
            "annotator_id": {user_id},
            "conversation_id": conv_ids,
            "interaction_id": inter_ids,
            "utterance_id": utt_ids,
        }
        for t in reversed(tables):  # children before the tables they reference
            conds = [t.c[col].in_(sorted(keys[col])) for col in _LINK_COLUMNS if col in t.c and keys[col]]
            if not conds:
                continue
            n = conn.execute(delete(t).where(or_(*conds))).rowcount or 0
            if n:
                counts[t.name] = int(n)
        if not counts:
            raise StoreError(f"no participant {user_id!r} in the store; nothing was deleted")
        conn.execute(
            insert(collect_audit),
            [
                {
                    "action": "participant_deleted",
                    "study_id": ",".join(sorted(study_ids)) or None,
                    "detail": {"reason": reason, "rows": dict(sorted(counts.items()))},
                    "created_at": time.time(),
                }
            ],
        )
    return DeletionReport(dict(sorted(counts.items())))


def audit_log(store: Store) -> list[dict[str, Any]]:
    """The audit log, oldest first (``action``, ``study_id``, ``detail``, ``at`` as ISO UTC).

    Parameters
    ----------
    store : Store
        The open store.

    Returns
    -------
    list of dict
        One dict per entry with ``id``, ``action``, ``study_id``, ``detail`` and ``at``.

    Example
    -------
    >>> import tempfile, os
    >>> audit_log(Store.open(os.path.join(tempfile.mkdtemp(), "s.sqlite")))
    []
    """
    with store.engine.connect() as conn:
        rows = conn.execute(select(collect_audit).order_by(collect_audit.c.id)).mappings().all()
    return [
        {
            "id": r["id"],
            "action": r["action"],
            "study_id": r["study_id"],
            "detail": r["detail"],
            "at": _iso(r["created_at"]),
        }
        for r in rows
    ]


# --- model failures ---------------------------------------------------------------------------------------


def failures(store: Store, *, user_ids: Iterable[str] | None = None) -> list[dict[str, Any]]:
    """Every model call that failed or timed out (and was dropped from a response set), oldest first.

    Parameters
    ----------
    store
        The store.
    user_ids
        Only these participants' failures (e.g. the participants of a completed-only export).

    Returns
    -------
    list of dict
        ``at`` (ISO UTC), ``model_name``, ``model_provider``, ``kind`` (timeout, http_error, malformed, other),
        ``status_code``, ``latency_s``, ``message``, ``study_id``, ``user_id``, ``conversation_id``, ``turn``.

    Example
    -------
    >>> import tempfile, os
    >>> failures(Store.open(os.path.join(tempfile.mkdtemp(), "s.sqlite")))
    []
    """
    f, s = collect_failures, collect_sessions
    query = (
        select(f, s.c.study_id).select_from(f.outerjoin(s, s.c.user_id == f.c.user_id)).order_by(f.c.created_at, f.c.id)
    )
    wanted = None if user_ids is None else set(user_ids)
    with store.engine.connect() as conn:
        rows = conn.execute(query).mappings().all()
    return [
        {
            "at": _iso(r["created_at"]),
            "model_name": r["model_name"],
            "model_provider": r["model_provider"],
            "kind": r["kind"],
            "status_code": r["status_code"],
            "latency_s": round(float(r["latency_s"]), 4),
            "message": r["message"],
            "study_id": r["study_id"],
            "user_id": r["user_id"],
            "conversation_id": r["conversation_id"],
            "turn": r["turn"],
        }
        for r in rows
        if wanted is None or r["user_id"] in wanted
    ]


def write_failures(store: Store, out: str | Path, *, user_ids: Iterable[str] | None = None) -> Path:
    """Write :func:`failures` as JSON lines: to ``out`` if it ends in ``.jsonl``, else to
    ``out/failures.jsonl`` (beside the PRISM files of an export folder). Returns the path written.

    Parameters
    ----------
    store : Store
        The open store.
    out : str or pathlib.Path
        A ``.jsonl`` file, or a folder to write ``failures.jsonl`` in (created if missing).
    user_ids : iterable of str, optional
        Only these participants' failures; ``None`` (default) for all.

    Returns
    -------
    pathlib.Path
        The file written.

    Example
    -------
    >>> import tempfile, os, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> write_failures(Store.open(d / "s.sqlite"), d).name
    'failures.jsonl'
    """
    out = Path(out)
    path = out if out.suffix == ".jsonl" else out / FAILURES_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("w", encoding="utf-8") as fh:
        for row in failures(store, user_ids=user_ids):
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
    tmp.replace(path)
    return path


__all__ = [
    "DELETION_REASONS",
    "FAILURES_FILE",
    "DeletionReport",
    "add_session",
    "audit_log",
    "delete_participant",
    "entry_params",
    "failures",
    "payments",
    "record_entry",
    "sessions_overview",
    "write_failures",
    "write_payments_csv",
]
