"""Opening, migrating, importing into and exporting from the store."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, create_engine, event, func, insert, select
from sqlalchemy.exc import IntegrityError, OperationalError, SQLAlchemyError

from pluralis.data.model import Comparison, Conversation, Participant, TextMetadata, Utterance
from pluralis.data.study import CONVERSATIONS_FILE, SURVEY_FILE, UTTERANCES_FILE, Study
from pluralis.errors import DataValidationError, Problem, StoreError
from pluralis.store import schema as s

#: Rows per INSERT batch: large enough to amortise round trips, small enough for PostgreSQL's parameter limit.
BATCH = 5000


def store_url(target: str | os.PathLike) -> str:
    """Turn a file path into a SQLite URL; URLs pass through.

    Parameters
    ----------
    target
        a SQLite file path or a database URL.

    Returns
    -------
    str
        a SQLAlchemy URL.

    Example
    -------
    >>> store_url("postgresql+psycopg://u@localhost/db")
    'postgresql+psycopg://u@localhost/db'
    >>> store_url("/tmp/x.sqlite")
    'sqlite:////tmp/x.sqlite'
    """
    text = str(target)
    if "://" in text:
        return text
    return "sqlite:///" + str(Path(text).expanduser().resolve())


def _sqlite_pragmas(dbapi_conn, _record) -> None:
    cur = dbapi_conn.cursor()
    # WAL lets the web app's readers proceed while a writer commits; NORMAL sync is durable in WAL mode.
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.close()


def make_engine(url: str) -> Engine:
    """Create an engine with the settings Pluralis relies on (WAL and foreign keys on SQLite).

    Parameters
    ----------
    url
        a SQLAlchemy URL (see :func:`store_url`).

    Returns
    -------
    sqlalchemy.Engine

    Example
    -------
    >>> import tempfile, os
    >>> from sqlalchemy import text
    >>> engine = make_engine(store_url(os.path.join(tempfile.mkdtemp(), "x.sqlite")))
    >>> with engine.connect() as conn:
    ...     conn.execute(text("PRAGMA journal_mode")).scalar(), conn.execute(text("PRAGMA foreign_keys")).scalar()
    ('wal', 1)
    """
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas)
    else:
        engine = create_engine(url, pool_pre_ping=True)
    return engine


def alembic_config(url: str | None = None) -> Config:
    """An Alembic config pointing at the packaged migrations.

    Parameters
    ----------
    url
        the database the migrations run against (optional: :meth:`Store.upgrade` passes a connection).

    Returns
    -------
    alembic.config.Config

    Example
    -------
    >>> alembic_config().get_main_option("script_location").endswith("migrations")
    True
    """
    cfg = Config()
    cfg.set_main_option("script_location", str(resources.files("pluralis.store").joinpath("migrations")))
    if url:
        cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def head_revision() -> str:
    """The newest Alembic revision shipped with Pluralis (what :meth:`Store.open` migrates to).

    Returns
    -------
    str

    Example
    -------
    >>> head_revision() >= "0001"
    True
    """
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:
        raise StoreError("no Alembic migrations are packaged with pluralis.store")
    return head


@dataclass
class ImportReport:
    """What an import wrote, per table.

    Example
    -------
    >>> ImportReport({"participants": 3}).counts["participants"]
    3
    """

    counts: dict[str, int]
    history_overrides: int = 0


def _batched(conn, table, rows: list[dict], progress: Callable[[int], None] | None) -> None:
    for start in range(0, len(rows), BATCH):
        chunk = rows[start : start + BATCH]
        conn.execute(insert(table), chunk)
        if progress:
            progress(len(chunk))


class Store:
    """A Pluralis database. Use :meth:`open`; it creates the file and runs migrations as needed.

    Example
    -------
    >>> import tempfile, os
    >>> from pluralis.data.synthetic import generate_study
    >>> with Store.open(os.path.join(tempfile.mkdtemp(), "s.sqlite")) as store:
    ...     _ = store.import_study(generate_study(n_participants=2, seed=0))
    ...     store.export_study().counts()["survey"]
    2
    """

    def __init__(self, engine: Engine, url: str):
        self.engine = engine
        self.url = url

    # -- lifecycle ------------------------------------------------------------------------------

    @classmethod
    def open(cls, target: str | os.PathLike, *, create: bool = True, migrate: bool = True) -> Store:
        """Open (and by default create and migrate) the store at a path or URL.

        Parameters
        ----------
        target
            a SQLite file path or a database URL.
        create
            create a missing SQLite file; with ``False`` a missing file is an error.
        migrate
            upgrade the schema to :func:`head_revision`.

        Returns
        -------
        Store

        Raises
        ------
        StoreError
            no such store (``create=False``), or it cannot be opened or migrated.

        Example
        -------
        >>> import tempfile, os
        >>> with Store.open(os.path.join(tempfile.mkdtemp(), "s.sqlite")) as st:
        ...     st.revision() == head_revision()   # migrated to the newest schema
        True
        """
        url = store_url(target)
        if url.startswith("sqlite:///") and not create:
            path = Path(url.removeprefix("sqlite:///"))
            if not path.exists():
                raise StoreError(f"{path}: no such store")
        engine = make_engine(url)
        store = cls(engine, url)
        if migrate:
            store.upgrade()
        return store

    def upgrade(self, revision: str = "head") -> None:
        """Apply Alembic migrations up to ``revision`` (:meth:`open` does this by default).

        Parameters
        ----------
        revision
            the Alembic revision to reach.

        Raises
        ------
        StoreError
            the database cannot be opened or migrated.

        Example
        -------
        >>> import tempfile, os
        >>> st = Store.open(os.path.join(tempfile.mkdtemp(), "s.sqlite"), migrate=False)
        >>> st.revision() is None
        True
        >>> st.upgrade(); st.revision() == head_revision()
        True
        >>> st.close()
        """
        cfg = alembic_config(self.url)
        try:
            with self.engine.begin() as conn:
                cfg.attributes["connection"] = conn
                command.upgrade(cfg, revision)
        except OperationalError as exc:
            raise StoreError(f"cannot open or migrate store {self.url}: {exc.orig}") from None

    def revision(self) -> str | None:
        """The store's current Alembic revision (``None`` before any migration); see :meth:`upgrade`.

        Returns
        -------
        str or None

        Example
        -------
        >>> import tempfile, os
        >>> with Store.open(os.path.join(tempfile.mkdtemp(), "s.sqlite")) as st:
        ...     st.revision() == head_revision()
        True
        """
        with self.engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()

    def close(self) -> None:
        """Release the database connections (``with Store.open(...)`` does this on exit).

        Example
        -------
        >>> import tempfile, os
        >>> Store.open(os.path.join(tempfile.mkdtemp(), "s.sqlite")).close()
        """
        self.engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- reading --------------------------------------------------------------------------------

    def counts(self) -> dict[str, int]:
        """Number of rows per table.

        Returns
        -------
        dict
            table name -> rows.

        Example
        -------
        >>> import tempfile, os
        >>> with Store.open(os.path.join(tempfile.mkdtemp(), "s.sqlite")) as st:
        ...     st.counts()["utterances"]
        0
        """
        tables = {
            "participants": s.participants,
            "conversations": s.conversations,
            "interactions": s.interactions,
            "utterances": s.utterances,
            "metadata": s.text_metadata,
            "comparisons": s.comparisons,
        }
        with self.engine.connect() as conn:
            return {name: conn.execute(select(func.count()).select_from(t)).scalar_one() for name, t in tables.items()}

    # -- import ---------------------------------------------------------------------------------

    def import_study(self, study: Study, *, progress: Callable[[int], None] | None = None) -> ImportReport:
        """Write every record of ``study`` in ONE transaction (all or nothing).

        The study is validated first; ids that already exist in the store are reported as
        :class:`DataValidationError` (naming file, line and field) before anything is written.

        Parameters
        ----------
        study
            the study to import.
        progress
            called with the number of rows written after each batch.

        Returns
        -------
        ImportReport
            rows written per table.

        Raises
        ------
        DataValidationError
            an invalid study, or records whose ids are already in the store (nothing is written).
        StoreError
            the database refused the write.

        Example
        -------
        >>> import tempfile, os
        >>> from pluralis.data.synthetic import generate_study
        >>> study = generate_study(n_participants=2, seed=0)
        >>> with Store.open(os.path.join(tempfile.mkdtemp(), "s.sqlite")) as st:
        ...     report = st.import_study(study)
        ...     try:
        ...         st.import_study(study)
        ...     except DataValidationError as err:
        ...         print(err.first)
        survey.jsonl:1: field 'user_id': id 'user0' already exists in the store
        """
        study.validate()
        self._check_collisions(study)
        rows = _rows_for(study, self._next_seq())
        try:
            with self.engine.begin() as conn:
                for table, name in (
                    (s.participants, "participants"),
                    (s.conversations, "conversations"),
                    (s.interactions, "interactions"),
                    (s.utterances, "utterances"),
                    (s.text_metadata, "metadata"),
                    (s.comparisons, "comparisons"),
                ):
                    _batched(conn, table, rows[name], progress)
        except IntegrityError as exc:
            raise StoreError(f"import rolled back, nothing was written: {exc.orig}") from None
        except SQLAlchemyError as exc:
            raise StoreError(f"import rolled back, nothing was written: {exc}") from None
        counts = {k: len(v) for k, v in rows.items()}
        overrides = sum(1 for r in rows["conversations"] if r["history_override"] is not None)
        return ImportReport(counts, overrides)

    def _next_seq(self) -> dict[str, int]:
        out = {}
        with self.engine.connect() as conn:
            for name, table in (
                ("participants", s.participants),
                ("conversations", s.conversations),
                ("interactions", s.interactions),
                ("utterances", s.utterances),
                ("metadata", s.text_metadata),
                ("comparisons", s.comparisons),
            ):
                out[name] = (conn.execute(select(func.max(table.c.seq))).scalar() or -1) + 1
        return out

    def _check_collisions(self, study: Study) -> None:
        """Refuse ids that the store already holds, naming the table file, record line and field."""

        def line_numbers(table: str, n: int) -> list[int]:
            given = study.lines.get(table)
            return list(given) if given is not None and len(given) == n else list(range(1, n + 1))

        def file_of(table: str, default: str) -> str:
            return study.origin.get(table, default)

        utt_lines = line_numbers("utterances", len(study.utterances))
        interaction_first: dict[str, int] = {}
        for line, u in zip(utt_lines, study.utterances):
            interaction_first.setdefault(u.interaction_id, line)
        checks = [
            (s.participants.c.user_id, [p.user_id for p in study.survey], "survey", SURVEY_FILE, "user_id"),
            (
                s.conversations.c.conversation_id,
                [c.conversation_id for c in study.conversations],
                "conversations",
                CONVERSATIONS_FILE,
                "conversation_id",
            ),
            (
                s.utterances.c.utterance_id,
                [u.utterance_id for u in study.utterances],
                "utterances",
                UTTERANCES_FILE,
                "utterance_id",
            ),
            (s.interactions.c.interaction_id, list(interaction_first), None, UTTERANCES_FILE, "interaction_id"),
            (
                s.comparisons.c.comparison_id,
                [c.comparison_id for c in study.comparisons],
                "comparisons",
                "comparisons",
                "comparison_id",
            ),
        ]
        problems = []
        with self.engine.connect() as conn:
            for column, ids, table, default_file, field in checks:
                if not ids:
                    continue
                existing: set[str] = set()
                for start in range(0, len(ids), BATCH):
                    existing.update(
                        conn.execute(select(column).where(column.in_(ids[start : start + BATCH]))).scalars()
                    )
                if not existing:
                    continue
                file = file_of(table or "utterances", default_file)
                if table is None:  # interactions: report the first utterance of each
                    clashes = [(interaction_first[key], key) for key in ids if key in existing]
                else:
                    clashes = [(line, key) for line, key in zip(line_numbers(table, len(ids)), ids) if key in existing]
                for line, key in clashes[:20]:
                    problems.append(Problem(file, line, field, f"id {key!r} already exists in the store"))
                if len(clashes) > 20:
                    problems.append(
                        Problem(file, None, field, f"... {len(clashes) - 20} more ids already in the store")
                    )
        if problems:
            raise DataValidationError(problems)

    # -- export ---------------------------------------------------------------------------------

    def export_study(self, *, metadata: bool = True) -> Study:
        """Read the whole store back as a validated :class:`Study` (original order preserved).

        Parameters
        ----------
        metadata
            also read the text metadata table.

        Returns
        -------
        Study

        Example
        -------
        >>> import tempfile, os
        >>> from pluralis.data.synthetic import generate_study
        >>> study = generate_study(n_participants=2, seed=0)
        >>> with Store.open(os.path.join(tempfile.mkdtemp(), "s.sqlite")) as st:
        ...     _ = st.import_study(study)
        ...     [u.utterance_id for u in st.export_study().utterances] == [u.utterance_id for u in study.utterances]
        True
        """
        with self.engine.connect() as conn:
            survey = [
                Participant.model_validate(r.record)
                for r in conn.execute(select(s.participants).order_by(s.participants.c.seq))
            ]
            utt_rows = (
                conn.execute(
                    select(s.utterances, s.interactions.c.user_prompt)
                    .join(s.interactions, s.interactions.c.interaction_id == s.utterances.c.interaction_id)
                    .order_by(s.utterances.c.seq)
                )
                .mappings()
                .all()
            )
            inter_rows = conn.execute(select(s.interactions).order_by(s.interactions.c.seq)).mappings().all()
            conv_rows = conn.execute(select(s.conversations).order_by(s.conversations.c.seq)).mappings().all()
            meta_rows = (
                conn.execute(select(s.text_metadata).order_by(s.text_metadata.c.seq)).mappings().all()
                if metadata
                else []
            )
            comp_rows = conn.execute(select(s.comparisons).order_by(s.comparisons.c.seq)).mappings().all()
        utterances = [_utterance_from_row(r) for r in utt_rows]
        histories = _rebuild_histories(inter_rows, utt_rows)
        conversations = []
        for r in conv_rows:
            record = dict(r["record"])
            record["conversation_history"] = (
                r["history_override"] if r["history_override"] is not None else histories.get(r["conversation_id"], [])
            )
            conversations.append(Conversation.model_validate(_ordered_conversation(record)))
        meta = [_metadata_from_row(r) for r in meta_rows]
        comps = [Comparison.model_validate(r["record"]) for r in comp_rows]
        return Study(
            survey=survey, conversations=conversations, utterances=utterances, metadata=meta, comparisons=comps
        )


# --- row conversion --------------------------------------------------------------------------------

UTTERANCE_COLUMNS = [c for c in Utterance.model_fields]
METADATA_COLUMNS = [c for c in TextMetadata.model_fields]
CONVERSATION_ORDER = list(Conversation.model_fields)


def _ordered_conversation(record: dict) -> dict:
    ordered = {k: record[k] for k in CONVERSATION_ORDER if k in record}
    ordered.update({k: v for k, v in record.items() if k not in ordered})
    return ordered


def _history_items(prompts: dict[int, str], utts: list[dict]) -> list[dict]:
    """The PRISM ``conversation_history`` implied by a conversation's interactions and utterances."""
    by_turn: dict[int, list[dict]] = {}
    for u in utts:
        by_turn.setdefault(u["turn"], []).append(u)
    items: list[dict] = []
    for turn in sorted(set(prompts) | set(by_turn)):
        if turn in prompts:
            items.append({"turn": turn, "role": "user", "content": prompts[turn]})
        for u in by_turn.get(turn, []):
            items.append(
                {
                    "turn": turn,
                    "role": "model",
                    "content": u["model_response"],
                    "model_provider": u["model_provider"],
                    "model_name": u["model_name"],
                    "score": u["score"],
                    "if_chosen": u["if_chosen"],
                    "within_turn_id": u["within_turn_id"],
                }
            )
    return items


def _rebuild_histories(inter_rows, utt_rows) -> dict[str, list[dict]]:
    prompts: dict[str, dict[int, str]] = {}
    for r in inter_rows:
        prompts.setdefault(r["conversation_id"], {})[r["turn"]] = r["user_prompt"]
    utts: dict[str, list[dict]] = {}
    for r in utt_rows:
        utts.setdefault(r["conversation_id"], []).append(r)
    return {cid: _history_items(prompts.get(cid, {}), utts.get(cid, [])) for cid in set(prompts) | set(utts)}


def _utterance_from_row(r) -> Utterance:
    data = {c: r[c] for c in UTTERANCE_COLUMNS}
    if r["extra"]:
        data.update(r["extra"])
    return Utterance.model_validate(data)


def _metadata_from_row(r) -> TextMetadata:
    data = {c: r[c] for c in METADATA_COLUMNS}
    if r["extra"]:
        data.update(r["extra"])
    return TextMetadata.model_validate(data)


def _rows_for(study: Study, seq: dict[str, int]) -> dict[str, list[dict[str, Any]]]:
    """Table rows for a study; conversation histories that don't rebuild exactly are kept verbatim."""
    participants = []
    for i, p in enumerate(study.survey):
        participants.append(
            {
                "user_id": p.user_id,
                "seq": seq["participants"] + i,
                "source": p.source,
                "survey_only": p.survey_only,
                "age": p.age,
                "gender": p.gender,
                "ethnicity": p.ethnicity.simplified,
                "religion": p.religion.simplified,
                "special_region": p.location.special_region,
                "birth_country": p.location.birth_country,
                "reside_country": p.location.reside_country,
                "study_id": p.study_id,
                "study_locale": p.study_locale,
                "included_in_UK_REP": p.included_in_UK_REP,
                "included_in_US_REP": p.included_in_US_REP,
                "included_in_balanced_subset": p.included_in_balanced_subset,
                "record": p.to_json_dict(),
            }
        )
    utterances: list[dict[str, Any]] = []
    interactions: list[dict[str, Any]] = []
    seen_inter: dict[str, bool] = {}
    utts_by_conv: dict[str, list[dict]] = {}
    for i, u in enumerate(study.utterances):
        d = u.to_json_dict()
        row = {c: d.get(c) for c in UTTERANCE_COLUMNS if c != "user_prompt"}
        extra = {k: v for k, v in d.items() if k not in UTTERANCE_COLUMNS}
        row.update(seq=seq["utterances"] + i, extra=extra or None)
        utterances.append(row)
        utts_by_conv.setdefault(u.conversation_id, []).append(row)
        if u.interaction_id not in seen_inter:
            seen_inter[u.interaction_id] = True
            interactions.append(
                {
                    "interaction_id": u.interaction_id,
                    "seq": seq["interactions"] + len(interactions),
                    "conversation_id": u.conversation_id,
                    "turn": u.turn,
                    "user_prompt": u.user_prompt,
                }
            )
    prompts_by_conv: dict[str, dict[int, str]] = {}
    for row in interactions:
        prompts_by_conv.setdefault(row["conversation_id"], {})[row["turn"]] = row["user_prompt"]
    conversations = []
    for i, c in enumerate(study.conversations):
        record = c.to_json_dict()
        history = record.pop("conversation_history")
        rebuilt = _history_items(prompts_by_conv.get(c.conversation_id, {}), utts_by_conv.get(c.conversation_id, []))
        same = history == rebuilt  # dict equality ignores key order; 1 == 1.0 as in canonical JSON
        conversations.append(
            {
                "conversation_id": c.conversation_id,
                "seq": seq["conversations"] + i,
                "user_id": c.user_id,
                "conversation_type": c.conversation_type,
                "included_in_balanced_subset": c.included_in_balanced_subset,
                "conversation_turns": c.conversation_turns,
                "opening_prompt": c.opening_prompt,
                "record": record,
                "history_override": None if same else history,
            }
        )
    metadata = []
    for i, m in enumerate(study.metadata):
        d = m.to_json_dict()
        row = {c: d.get(c) for c in METADATA_COLUMNS}
        extra = {k: v for k, v in d.items() if k not in row}
        row.update(seq=seq["metadata"] + i, extra=extra or None)
        metadata.append(row)
    comparisons = [
        {
            "comparison_id": c.comparison_id,
            "seq": seq["comparisons"] + i,
            "source": c.source,
            "annotator_id": c.annotator_id,
            "conversation_id": c.conversation_id,
            "record": c.to_json_dict(),
        }
        for i, c in enumerate(study.comparisons)
    ]
    return {
        "participants": participants,
        "conversations": conversations,
        "interactions": interactions,
        "utterances": utterances,
        "metadata": metadata,
        "comparisons": comparisons,
    }
