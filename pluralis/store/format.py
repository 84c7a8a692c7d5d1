"""The store as a data format: a SQLite file or a database URL is read and written like any other source.

:mod:`pluralis.data` must not import the store (the store is a layer above it), so this format
registers itself from here: the data-format registry loads this module by name
(:data:`pluralis.data.io.registry.PLUGIN_MODULES`), as Datasette loads its default plugins.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError

from pluralis.data.io.registry import DataFormat
from pluralis.data.study import Study
from pluralis.errors import ConfigError
from pluralis.store.db import Store

#: File suffixes taken for SQLite stores.
STORE_SUFFIXES = (".sqlite", ".sqlite3", ".db")
_SQLITE_MAGIC = b"SQLite format 3\x00"


def sniff_store(source: str) -> float:
    """How sure we are that ``source`` is a store.

    A URL of a database SQLAlchemy knows (``sqlite:///``, ``postgresql+psycopg://``, ...): 1;
    an existing SQLite file whatever its name: 1; a path ending in ``.sqlite``, ``.sqlite3`` or
    ``.db`` (it need not exist yet): 0.9; anything else: 0.

    Parameters
    ----------
    source
        a path or URL, as text.

    Returns
    -------
    float

    Example
    -------
    >>> sniff_store("postgresql+psycopg://u@localhost/db"), sniff_store("new.sqlite")
    (1.0, 0.9)
    >>> sniff_store("hf://HannahRoseKirk/prism-alignment"), sniff_store("survey.jsonl")
    (0.0, 0.0)
    """
    if "://" in source:
        try:
            make_url(source).get_dialect()
        except (ArgumentError, NoSuchModuleError, ValueError):
            return 0.0
        return 1.0
    path = Path(source)
    if path.is_file():
        with path.open("rb") as fh:
            if fh.read(len(_SQLITE_MAGIC)) == _SQLITE_MAGIC:
                return 1.0
    return 0.9 if path.suffix.lower() in STORE_SUFFIXES else 0.0


def read_store(source: str | Path, *, metadata: bool = True) -> Study:
    """Read every record of an existing store (see :meth:`Store.export_study`).

    Parameters
    ----------
    source
        a SQLite file or a database URL.
    metadata
        also read the text metadata table.

    Returns
    -------
    Study

    Raises
    ------
    StoreError
        no store at ``source``, or it cannot be opened.

    Example
    -------
    >>> import tempfile, os
    >>> from pluralis.data.synthetic import generate_study
    >>> path = os.path.join(tempfile.mkdtemp(), "s.sqlite")
    >>> _ = write_store(generate_study(n_participants=3, seed=0), path)
    >>> read_store(path).counts()["survey"]
    3
    """
    with Store.open(source, create=False) as store:
        return store.export_study(metadata=metadata)


def write_store(study: Study, target: str | Path, *, progress: Callable[[int], None] | None = None) -> dict[str, int]:
    """Import a study into a store (created and migrated as needed) in ONE transaction.

    Parameters
    ----------
    study
        the study to import; it must have a survey when it has rated responses.
    target
        a SQLite file or a database URL.
    progress
        called with the number of rows written after each batch (e.g. a progress bar).

    Returns
    -------
    dict
        rows written per table.

    Raises
    ------
    ConfigError
        rated responses without a survey (e.g. a wide table): they cannot go into the store.
    DataValidationError
        records that collide with the store's (nothing is written).

    Example
    -------
    >>> import tempfile, os
    >>> from pluralis.data.synthetic import generate_study
    >>> write_store(generate_study(n_participants=3, seed=0), os.path.join(tempfile.mkdtemp(), "s.sqlite"))["participants"]
    3
    """
    if study.utterances and not study.survey:
        raise ConfigError(
            f"{target}: rated responses without a survey (e.g. a wide table) cannot go into the store; "
            "import the PRISM folder they came from"
        )
    with Store.open(target) as store:
        return store.import_study(study, progress=progress).counts


FORMAT = DataFormat(
    name="store",
    description="Pluralis store: a SQLite file (.sqlite, .db) or a database URL (postgresql+psycopg://...)",
    sniff=sniff_store,
    read=read_store,
    write=write_store,
)
