"""Hugging Face ``datasets`` folders: one parquet file per table, a dataset card and ``dataset_info.json``.

The folder loads with ``datasets.load_dataset(folder, "comparisons")`` (one config per table,
declared in the ``README.md`` card) or with pandas / DuckDB from the parquet files, and reads
back into Pluralis losslessly. A study without a PRISM survey whose comparisons carry participant
fields also gets a ``participants`` table (one row per annotator; informational, rebuilt on read)::

    folder/
      README.md                 dataset card: configs -> data files
      dataset_info.json         tables, rows and columns
      survey/train-00000-of-00001.parquet
      comparisons/train-00000-of-00001.parquet
      ...

Example
-------
>>> import tempfile
>>> from pluralis.data.synthetic import generate_study
>>> folder = tempfile.mkdtemp()
>>> written = write_hf_folder(generate_study(n_participants=2, seed=0), folder)
>>> sorted(written)[:3], read_hf_folder(folder).counts()["survey"]
(['README.md', 'comparisons', 'conversations'], 2)
"""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from pluralis.data.io.parquet import TABLES, _table, read_parquet_tables
from pluralis.data.io.registry import DataFormat
from pluralis.data.jsonio import atomic_write
from pluralis.data.study import Study

SHARD = "train-00000-of-00001.parquet"
INFO_FILE = "dataset_info.json"


def write_hf_folder(study: Study, folder: str | Path) -> dict[str, Path]:
    """Write a study as a Hugging Face ``datasets`` folder (see the module docstring).

    Parameters
    ----------
    study
        the study to write.
    folder
        the folder (created as needed); each file is replaced atomically.

    Returns
    -------
    dict
        table name (and ``README.md``, ``dataset_info.json``) -> path written.

    Example
    -------
    >>> import tempfile, json, pathlib
    >>> from pluralis.data.synthetic import generate_study
    >>> out = write_hf_folder(generate_study(n_participants=3, seed=0), tempfile.mkdtemp())
    >>> json.loads(out["dataset_info.json"].read_text())["tables"]["survey"]["num_rows"]
    3
    """
    folder = Path(folder)
    tables: dict[str, pa.Table] = {name: _table(getattr(study, name)) for name in TABLES}
    if not study.survey and study.comparisons:
        people = study.frames().survey
        if len(people.columns) > 1:
            tables["participants"] = pa.Table.from_pandas(
                people.astype(str).where(people.notna()), preserve_index=False
            )
    out: dict[str, Path] = {}
    for name, table in tables.items():
        path = folder / name / SHARD
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_write(path, "wb") as fh:
            pq.write_table(table, fh)
        out[name] = path
    info = {
        "format": "pluralis hf_folder",
        "tables": {n: {"num_rows": t.num_rows, "columns": t.column_names} for n, t in tables.items()},
    }
    with atomic_write(folder / INFO_FILE, "w") as fh:
        fh.write(json.dumps(info, indent=2))
    configs = "".join(f"- config_name: {n}\n  data_files: {n}/{SHARD}\n" for n in tables)
    card = f"---\nconfigs:\n{configs}---\n\n# Pluralis study\n\nOne config per table: {', '.join(tables)}.\n"
    with atomic_write(folder / "README.md", "w") as fh:
        fh.write(card)
    out[INFO_FILE], out["README.md"] = folder / INFO_FILE, folder / "README.md"
    return out


def read_hf_folder(folder: str | Path, *, validate: bool = True) -> Study:
    """Read a folder written by :func:`write_hf_folder` back into a validated study.

    Parameters
    ----------
    folder
        the folder.
    validate
        run the cross-table checks.

    Returns
    -------
    Study

    Example
    -------
    >>> import tempfile
    >>> from pluralis.data.synthetic import generate_study
    >>> folder = tempfile.mkdtemp()
    >>> _ = write_hf_folder(generate_study(n_participants=2, seed=0), folder)
    >>> read_hf_folder(folder).counts()["utterances"] > 0
    True
    """
    folder = Path(folder)
    paths = {n: folder / n / SHARD for n in TABLES if (folder / n / SHARD).exists() or n == "survey"}
    return read_parquet_tables(paths, validate=validate)


def sniff_hf_folder(source: str) -> float:
    """0.95 for a folder holding ``dataset_info.json`` and ``survey/`` (as written here), else 0.

    Parameters
    ----------
    source
        a path, as text.

    Returns
    -------
    float

    Example
    -------
    >>> sniff_hf_folder("/nonexistent")
    0.0
    """
    path = Path(source)
    return 0.95 if (path / INFO_FILE).is_file() and (path / "survey" / SHARD).is_file() else 0.0


FORMAT = DataFormat(
    name="hf_folder",
    description="Hugging Face datasets folder: <table>/train-*.parquet per table, README.md card, dataset_info.json",
    sniff=sniff_hf_folder,
    read=read_hf_folder,
    write=write_hf_folder,
)
