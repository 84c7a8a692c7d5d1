"""Parquet copies of every table: scalar fields as typed columns, nested fields as JSON text.

Nested values are stored as JSON strings so that reading back is exact (lossless) while the
flat columns stay directly usable from pandas, DuckDB or Spark.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from pydantic import ValidationError

from pluralis.data.io.registry import DataFormat
from pluralis.data.jsonio import atomic_write, problems_from_validation
from pluralis.data.model import Comparison, Conversation, Participant, Record, TextMetadata, Utterance
from pluralis.data.study import Study
from pluralis.errors import DataValidationError, Problem

TABLES: dict[str, type[Record]] = {
    "survey": Participant,
    "conversations": Conversation,
    "utterances": Utterance,
    "metadata": TextMetadata,
    "comparisons": Comparison,
}
_UNSET = "__pluralis_unset__"


def _table(records: list[Record]) -> pa.Table:
    rows = [r.to_json_dict() for r in records]
    columns: dict[str, None] = {}
    for row in rows:
        columns.update(dict.fromkeys(row))
    nested = set()
    for c in columns:
        kinds = {type(row[c]) for row in rows if row.get(c) is not None}
        # nested values, and columns whose values mix types (e.g. int and str), are kept as JSON text
        if kinds & {dict, list} or len(kinds - {bool}) > 1 or (bool in kinds and len(kinds) > 1):
            nested.add(c)
        elif int in kinds and any(not -(2**63) <= row[c] < 2**63 for row in rows if isinstance(row.get(c), int)):
            nested.add(c)  # beyond int64: keep exact as JSON text
    data: dict[str, list[Any]] = {}
    for c in columns:
        if c in nested:
            data[c] = [json.dumps(row[c], ensure_ascii=False) if c in row else _UNSET for row in rows]
        else:
            data[c] = [row.get(c) for row in rows]
    table = pa.table(data) if rows else pa.table({})
    meta = {b"pluralis.nested": json.dumps(sorted(nested)).encode()}
    missing = {c: [i for i, row in enumerate(rows) if c not in row] for c in columns}
    meta[b"pluralis.unset"] = json.dumps({c: v for c, v in missing.items() if v}).encode()
    return table.replace_schema_metadata(meta)


def write_parquet(study: Study, folder: str | Path) -> dict[str, Path]:
    """Write each table of a study to ``folder/<table>.parquet`` (atomic per file).

    Parameters
    ----------
    study
        the study to write.
    folder
        the folder to write into (created as needed).

    Returns
    -------
    dict
        table name -> path written.

    Example
    -------
    >>> import tempfile
    >>> from pluralis.data.synthetic import generate_study
    >>> paths = write_parquet(generate_study(n_participants=2, seed=0), tempfile.mkdtemp())
    >>> sorted(paths)
    ['comparisons', 'conversations', 'metadata', 'survey', 'utterances']
    """
    folder = Path(folder)
    out = {}
    for name in TABLES:
        path = folder / f"{name}.parquet"
        with atomic_write(path, "wb") as fh:
            pq.write_table(_table(getattr(study, name)), fh)
        out[name] = path
    return out


def read_parquet(folder: str | Path, *, validate: bool = True) -> Study:
    """Read a folder written by :func:`write_parquet` back into a validated study.

    Problems of every table are collected and raised together (file, row as ``line``, field).

    Parameters
    ----------
    folder
        a folder written by :func:`write_parquet`.
    validate
        run the cross-table checks.

    Returns
    -------
    Study

    Raises
    ------
    DataValidationError
        naming file, row and field of every problem.

    Example
    -------
    >>> import tempfile
    >>> from pluralis.data.synthetic import generate_study
    >>> folder = tempfile.mkdtemp()
    >>> _ = write_parquet(generate_study(n_participants=2, seed=0), folder)
    >>> read_parquet(folder).counts()["survey"]
    2
    """
    folder = Path(folder)
    return read_parquet_tables({name: folder / f"{name}.parquet" for name in TABLES}, validate=validate)


def read_parquet_tables(paths: dict[str, Path], *, validate: bool = True) -> Study:
    """Read tables written by :func:`_table` (``survey`` required, others optional) into a study.

    Parameters
    ----------
    paths
        table name (a key of :data:`TABLES`) -> parquet file.
    validate
        run the cross-table checks.

    Returns
    -------
    Study

    Raises
    ------
    DataValidationError
        naming file, row and field of every problem.

    Example
    -------
    >>> import tempfile, pathlib
    >>> from pluralis.data.synthetic import generate_study
    >>> written = write_parquet(generate_study(n_participants=2, seed=0), tempfile.mkdtemp())
    >>> read_parquet_tables(written).counts()["survey"]
    2
    """
    study = Study()
    all_problems: list[Problem] = []
    for name, model in TABLES.items():
        path = paths.get(name)
        if path is None:
            continue
        if not path.exists():
            if name in {"survey"}:
                raise DataValidationError(Problem(str(path), None, None, "file not found"))
            continue
        try:
            table = pq.read_table(path)
        except (pa.ArrowException, OSError) as exc:
            all_problems.append(Problem(str(path), None, None, f"not a readable parquet file: {exc}"))
            continue
        meta = table.schema.metadata or {}
        nested = set(json.loads(meta.get(b"pluralis.nested", b"[]")))
        unset = {c: set(v) for c, v in json.loads(meta.get(b"pluralis.unset", b"{}")).items()}
        records = []
        problems = []
        for i, row in enumerate(table.to_pylist()):
            obj = {}
            for c, v in row.items():
                if i in unset.get(c, ()):
                    continue
                obj[c] = json.loads(v) if c in nested and v is not None else v
            try:
                records.append(model.model_validate(obj))
            except ValidationError as exc:
                problems.extend(problems_from_validation(exc, str(path), i + 1))
                if len(problems) > 50:
                    break
        all_problems.extend(problems)
        setattr(study, name, records)
    if all_problems:
        raise DataValidationError(all_problems)
    study.origin = {n: str(p) for n, p in paths.items()}
    if validate:
        study.validate()
    return study


def sniff_parquet(source: str) -> float:
    """0.95 for a folder holding ``survey.parquet`` (as :func:`write_parquet` writes), else 0.

    Parameters
    ----------
    source
        a path, as text.

    Returns
    -------
    float

    Example
    -------
    >>> import tempfile
    >>> from pluralis.data.synthetic import generate_study
    >>> folder = tempfile.mkdtemp()
    >>> _ = write_parquet(generate_study(n_participants=2, seed=0), folder)
    >>> sniff_parquet(folder), sniff_parquet(tempfile.mkdtemp())
    (0.95, 0.0)
    """
    return 0.95 if (Path(source) / "survey.parquet").is_file() else 0.0


FORMAT = DataFormat(
    name="parquet",
    description="folder of parquet tables written by Pluralis (survey.parquet, utterances.parquet, ...)",
    sniff=sniff_parquet,
    read=read_parquet,
    write=write_parquet,
)
