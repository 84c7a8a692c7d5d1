"""Opening, migrating, importing into and exporting from the store."""

from __future__ import annotations

import gc
import json
import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import resources
from operator import itemgetter
from pathlib import Path
from typing import Any, TypeVar

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from pydantic_core import to_jsonable_python
from sqlalchemy import JSON, Engine, Table, create_engine, event, func, insert, select
from sqlalchemy.exc import IntegrityError, OperationalError, SQLAlchemyError

from pluralis.data.model import Comparison, Conversation, Participant, Record, TextMetadata, Utterance
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


@contextmanager
def _gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while building many acyclic row/record objects.

    Creating 100,000s of dicts and records otherwise triggers collections that rescan the whole
    heap (the study being imported or exported) again and again; reference counting still frees
    everything, and the collector is re-enabled (if it was on) however the block exits.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


#: JSON columns whose values come straight from record attributes (not from ``to_json_dict``):
#: NaN inside them is written as null, as pydantic's JSON mode does.
_RAW_JSON_COLUMNS = {("text_metadata", "moderation_flag")}


def _dumps(value: Any) -> str | None:
    """JSON text of a value as SQLAlchemy's JSON type writes it (None -> SQL NULL)."""
    return None if value is None else json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _dumps_json_mode(value: Any) -> str | None:
    """JSON text of a raw attribute value; NaN and non-JSON types as pydantic's JSON mode writes them."""
    if value is None:
        return None
    try:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError):
        return _dumps(to_jsonable_python(value, inf_nan_mode="null"))


def _insert_params(conn, table: Table, rows: list[dict] | Columns) -> tuple[str, list]:
    """The DBAPI INSERT statement and its parameter rows (JSON columns serialised once, in bulk).

    ``rows`` is one dict per row, or the rows column by column (:data:`Columns`).
    """
    columns = rows if isinstance(rows, dict) else _as_columns(rows)
    names = [c.name for c in table.columns if c.name in columns]
    compiled = insert(table).compile(dialect=conn.dialect, column_keys=names)
    values: dict[str, list] = {}
    for c in table.columns:
        if c.name in columns:
            column = columns[c.name]
            if isinstance(c.type, JSON):
                dump = _dumps_json_mode if (table.name, c.name) in _RAW_JSON_COLUMNS else _dumps
                column = list(map(dump, column))
            values[c.name] = column
    if compiled.positiontup is not None:  # qmark / format / numeric styles (SQLite: ?)
        return compiled.string, list(zip(*(values[k] for k in compiled.positiontup)))
    keys = list(values)
    return compiled.string, [dict(zip(keys, row)) for row in zip(*values.values())]


def _batched(conn, table, rows: list[dict] | Columns, progress: Callable[[int], None] | None) -> None:
    """Insert rows (dicts keyed by column, or :data:`Columns`) with the driver's ``executemany``.

    Within the caller's SQLAlchemy transaction, in ``BATCH`` chunks, but without SQLAlchemy's
    per-row parameter processing: JSON columns are serialised here in one pass, every other
    value is already of its column's Python type.
    """
    if not rows or (isinstance(rows, dict) and not _n_rows(rows)):
        return
    sql, params = _insert_params(conn, table, rows)
    for start in range(0, len(params), BATCH):
        chunk = params[start : start + BATCH]
        conn.exec_driver_sql(sql, chunk)
        if progress:
            progress(len(chunk))


#: SQLite bulk loads of at least this many rows (and more than the table holds) drop the table's
#: secondary indexes and rebuild them afterwards, in the same transaction (a sorted build is
#: cheaper than updating five B-trees row by row).
BULK_INDEX_ROWS = 20_000


def _drop_indexes_for_bulk_load(conn, table: str, n_new: int, n_existing: int) -> list[str]:
    """Drop ``table``'s secondary indexes before a large SQLite load; returns the SQL that rebuilds them.

    Only inside an open transaction (the rebuild then commits or rolls back with the rows), and
    only when the load is large and at least as large as what the table already holds.
    """
    if conn.dialect.name != "sqlite" or n_new < max(BULK_INDEX_ROWS, n_existing):
        return []
    if not getattr(conn.connection.driver_connection, "in_transaction", False):
        return []
    found = conn.exec_driver_sql(
        "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = ? AND sql IS NOT NULL", (table,)
    ).all()
    for name, _ in found:
        conn.exec_driver_sql(f'DROP INDEX "{name}"')
    return [sql for _, sql in found]


#: The study's tables in insertion order (parents first), by the names reports use.
TABLES: tuple[tuple[str, Table], ...] = (
    ("participants", s.participants),
    ("conversations", s.conversations),
    ("interactions", s.interactions),
    ("utterances", s.utterances),
    ("metadata", s.text_metadata),
    ("comparisons", s.comparisons),
)
TABLE_NAMES: tuple[str, ...] = tuple(name for name, _ in TABLES)
#: ``MAX(seq)`` of every table in :data:`TABLES` order, in one statement (``NULL`` for an empty table); each
#: table's ``seq`` is indexed, so this is one index probe per table.
MAX_SEQ = select(*(select(func.max(table.c.seq)).scalar_subquery().label(name) for name, table in TABLES))


def next_seq(max_seq_row: Sequence[int | None]) -> dict[str, int]:
    """The next ``seq`` of every study table (``0`` for an empty one), from the row :data:`MAX_SEQ` reads.

    Parameters
    ----------
    max_seq_row
        the one row of :data:`MAX_SEQ`, in :data:`TABLES` order.

    Returns
    -------
    dict
        ``{table name: next seq}``.

    Example
    -------
    >>> next_seq([None, 8, None, 41, None, 3])["utterances"]
    42
    """
    return {name: (v if v is not None else -1) + 1 for name, v in zip(TABLE_NAMES, max_seq_row, strict=True)}


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
        with _gc_paused():
            first_seq = self._next_seq()
            columns = _table_columns(study, first_seq)
            try:
                with self.engine.begin() as conn:
                    for name, table in TABLES:
                        n = _n_rows(columns[name])
                        rebuild = _drop_indexes_for_bulk_load(conn, table.name, n, first_seq[name])
                        _batched(conn, table, columns[name], progress)
                        for sql in rebuild:
                            conn.exec_driver_sql(sql)
            except IntegrityError as exc:
                raise StoreError(f"import rolled back, nothing was written: {exc.orig}") from None
            except SQLAlchemyError as exc:
                raise StoreError(f"import rolled back, nothing was written: {exc}") from None
        counts = {name: _n_rows(columns[name]) for name in TABLE_NAMES}
        overrides = sum(1 for h in columns["conversations"].get("history_override", []) if h is not None)
        return ImportReport(counts, overrides)

    def _next_seq(self) -> dict[str, int]:
        with self.engine.connect() as conn:
            return next_seq(conn.execute(MAX_SEQ).one())

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
                if not ids or conn.execute(select(column).limit(1)).first() is None:
                    continue  # nothing to collide with (an empty table: a fresh import)
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
        # Stored rows were validated where they entered (import, collection): records are
        # rebuilt without re-validating; flat ones (utterances, text metadata) without pydantic.
        with _gc_paused():  # many small row and record objects
            with self.engine.connect() as conn:
                part_rows = _in_seq_order(conn.execute(select(s.participants.c.seq, s.participants.c.record)))
                utt_result = conn.execute(
                    select(s.utterances, s.interactions.c.user_prompt).join(
                        s.interactions, s.interactions.c.interaction_id == s.utterances.c.interaction_id
                    )
                )
                utt_keys = list(utt_result.keys())
                utt_rows = _in_seq_order(utt_result, utt_keys.index("seq"))
                inter_rows = _in_seq_order(
                    conn.execute(
                        select(
                            s.interactions.c.seq,
                            s.interactions.c.conversation_id,
                            s.interactions.c.turn,
                            s.interactions.c.user_prompt,
                        )
                    )
                )
                conv_rows = _in_seq_order(
                    conn.execute(
                        select(
                            s.conversations.c.seq,
                            s.conversations.c.conversation_id,
                            s.conversations.c.record,
                            s.conversations.c.history_override,
                        )
                    )
                )
                meta_result = conn.execute(select(s.text_metadata)) if metadata else None
                meta_keys = list(meta_result.keys()) if meta_result is not None else []
                meta_rows = _in_seq_order(meta_result, meta_keys.index("seq")) if meta_result is not None else []
                comp_rows = _in_seq_order(conn.execute(select(s.comparisons.c.seq, s.comparisons.c.record)))
            return self._records(part_rows, utt_rows, utt_keys, inter_rows, conv_rows, meta_rows, meta_keys, comp_rows)

    @staticmethod
    def _records(part_rows, utt_rows, utt_keys, inter_rows, conv_rows, meta_rows, meta_keys, comp_rows) -> Study:
        """The study from stored rows (see :meth:`export_study`)."""
        survey = [Participant.model_validate(r[1]) for r in part_rows]
        utt_fields = _flat_records(utt_rows, utt_keys, UTTERANCE_COLUMNS)
        utterances = [_construct(Utterance, fields, extra) for fields, extra in utt_fields]
        histories = _rebuild_histories(inter_rows, [fields for fields, _ in utt_fields])
        conversations = []
        for _, cid, record, override in conv_rows:
            record = dict(record)
            record["conversation_history"] = override if override is not None else histories.get(cid, [])
            conversations.append(Conversation.model_validate(_ordered_conversation(record)))
        meta = [_construct(TextMetadata, f, x) for f, x in _flat_records(meta_rows, meta_keys, METADATA_COLUMNS)]
        comps = [Comparison.model_validate(r[1]) for r in comp_rows]
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


def _rebuild_histories(inter_rows: Sequence, utt_fields: Sequence[dict]) -> dict[str, list[dict]]:
    """Conversation histories from interaction rows ``(seq, conversation_id, turn, user_prompt)`` and utterances."""
    prompts: dict[str, dict[int, str]] = {}
    for _, conversation_id, turn, prompt in inter_rows:
        prompts.setdefault(conversation_id, {})[turn] = prompt
    utts: dict[str, list[dict]] = {}
    for u in utt_fields:
        utts.setdefault(u["conversation_id"], []).append(u)
    return {cid: _history_items(prompts.get(cid, {}), utts.get(cid, [])) for cid in set(prompts) | set(utts)}


def _in_seq_order(result: Any, seq_index: int = 0) -> list:
    """A result's rows as tuples sorted by their ``seq`` column (faster than ORDER BY on the unindexed ``seq``)."""
    rows = result.all()
    rows.sort(key=itemgetter(seq_index))
    return rows


def _flat_records(rows: Sequence, keys: list[str], fields: list[str]) -> list[tuple[dict, dict | None]]:
    """``(field values, extra keys)`` of each stored row of a flat record table."""
    if not rows:
        return []
    pick = itemgetter(*[keys.index(f) for f in fields])
    extra_at = keys.index("extra")
    return [(dict(zip(fields, pick(r))), r[extra_at]) for r in rows]


R = TypeVar("R", bound=Record)


def _construct(cls: type[R], fields: dict[str, Any], extra: dict[str, Any] | None) -> R:
    """A flat record from trusted stored values, without validation.

    What :meth:`pydantic.BaseModel.model_construct` does for a record whose every field is given,
    minus its per-field Python loop: the values were validated when they entered the store.

    Parameters
    ----------
    cls
        a flat record class (every field a plain value: :class:`Utterance`, :class:`TextMetadata`).
    fields
        a value for every field.
    extra
        the record's extra keys (or None).

    Returns
    -------
    Record
        the record; equal to ``cls.model_validate({**fields, **extra})``.

    Example
    -------
    >>> m = TextMetadata(column_id="self_description", user_id="u", conversation_id=None, interaction_id=None,
    ...                  utterance_id=None, pii_flag=False, pii_manual_flag=None, language_flag="en", en_flag=True,
    ...                  moderation_flag=None)
    >>> _construct(TextMetadata, dict(m.__dict__), {"note": 1}) == TextMetadata.model_validate({**m.__dict__, "note": 1})
    True
    """
    if cls.__pydantic_post_init__ is not None or len(fields) != len(cls.__pydantic_fields__):
        return cls.model_validate({**fields, **(extra or {})})
    obj = cls.__new__(cls)
    object.__setattr__(obj, "__dict__", fields)
    object.__setattr__(obj, "__pydantic_fields_set__", set(fields))
    object.__setattr__(obj, "__pydantic_extra__", dict(extra) if extra else {})
    object.__setattr__(obj, "__pydantic_private__", None)
    return obj


#: A table's rows column by column: column name -> one value per row.
Columns = dict[str, list]


def _flat_columns(records: Sequence[Record], columns: list[str], first_seq: int) -> tuple[Columns, list[dict]]:
    """Column values (plus ``seq`` and ``extra``) of flat records, and each record's values as a dict.

    Utterances and text metadata hold JSON-ready values (str, int, bool, float, None; text
    metadata's ``moderation_flag`` dict is serialised in JSON mode when written), so their values
    are read straight from the attributes, exactly what ``to_json_dict`` gives. Records with
    unset fields or extra keys go through ``to_json_dict``.
    """
    n_fields = len(columns)
    dicts: list = [
        r.__dict__ if not r.__pydantic_extra__ and len(r.__pydantic_fields_set__) == n_fields else None for r in records
    ]
    extras: list = [None] * len(records)
    for k in [k for k, d in enumerate(dicts) if d is None]:
        d = records[k].to_json_dict()
        dicts[k] = {c: d.get(c) for c in columns}
        extras[k] = {key: v for key, v in d.items() if key not in columns} or None
    out: Columns = {c: list(map(itemgetter(c), dicts)) for c in columns}
    out["seq"] = list(range(first_seq, first_seq + len(records)))
    out["extra"] = extras
    return out, dicts


def _as_rows(columns: Columns) -> list[dict[str, Any]]:
    """Columns -> one dict per row."""
    keys = list(columns)
    return [dict(zip(keys, values)) for values in zip(*columns.values())]


def _as_columns(rows: list[dict[str, Any]]) -> Columns:
    """One dict per row (all with the same keys) -> columns."""
    return {key: list(map(itemgetter(key), rows)) for key in rows[0]} if rows else {}


def _n_rows(columns: Columns) -> int:
    return len(next(iter(columns.values()))) if columns else 0


def _rows_for(study: Study, seq: dict[str, int]) -> dict[str, list[dict[str, Any]]]:
    """Table rows for a study, one dict per row (see :func:`_table_columns`).

    Example
    -------
    >>> from pluralis.data.synthetic import generate_study
    >>> rows = _rows_for(generate_study(n_participants=2, seed=0), dict.fromkeys(TABLE_NAMES, 0))
    >>> rows["participants"][1]["seq"], rows["participants"][1]["user_id"]
    (1, 'user1')
    """
    return {name: _as_rows(columns) for name, columns in _table_columns(study, seq).items()}


def _table_columns(study: Study, seq: dict[str, int]) -> dict[str, Columns]:
    """Table rows for a study, column by column; conversation histories that don't rebuild exactly are kept verbatim."""
    participants = [
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
        for i, p in enumerate(study.survey)
    ]
    utterances, utt_values = _flat_columns(study.utterances, UTTERANCE_COLUMNS, seq["utterances"])
    prompts = utterances.pop("user_prompt")  # stored once per interaction
    first: dict[str, int] = {}  # each interaction's first utterance
    for k, interaction_id in enumerate(utterances["interaction_id"]):
        first.setdefault(interaction_id, k)
    at = list(first.values())
    interactions: Columns = {
        "interaction_id": list(first),
        "seq": list(range(seq["interactions"], seq["interactions"] + len(at))),
        "conversation_id": [utterances["conversation_id"][k] for k in at],
        "turn": [utterances["turn"][k] for k in at],
        "user_prompt": [prompts[k] for k in at],
    }
    prompts_by_conv: dict[str, dict[int, str]] = {}
    for conversation_id, turn, prompt in zip(
        interactions["conversation_id"], interactions["turn"], interactions["user_prompt"]
    ):
        prompts_by_conv.setdefault(conversation_id, {})[turn] = prompt
    utts_by_conv: dict[str, list[dict]] = {}
    for conversation_id, values in zip(utterances["conversation_id"], utt_values):
        utts_by_conv.setdefault(conversation_id, []).append(values)
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
    metadata, _ = _flat_columns(study.metadata, METADATA_COLUMNS, seq["metadata"])
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
        "participants": _as_columns(participants),
        "conversations": _as_columns(conversations),
        "interactions": interactions if at else {},
        "utterances": utterances if study.utterances else {},
        "metadata": metadata if study.metadata else {},
        "comparisons": _as_columns(comparisons),
    }
