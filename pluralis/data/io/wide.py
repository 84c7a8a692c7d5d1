"""PRISM's wide format: one row per interaction, ``model_name_a`` .. ``score_d`` columns.

The same table as PRISM's ``data_loader.pivot_to_wide_format``, as parquet (typed, lossless),
JSONL (lossless) or CSV (text; :func:`read_wide` restores the types). A wide table holds the
rated responses only (no survey): enough for rankings, not for a store.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pandas as pd
from pydantic import ValidationError

from pluralis.data.io.comparisons import csv_records
from pluralis.data.io.registry import DataFormat, peek
from pluralis.data.jsonio import atomic_write, dumps_record, iter_jsonl, problems_from_validation
from pluralis.data.model import Utterance
from pluralis.data.study import Study
from pluralis.errors import DataValidationError, Problem

WIDE_INDEX = ["interaction_id", "conversation_id", "turn", "user_prompt", "user_id"]
SUFFIXES = ["a", "b", "c", "d"]


def to_wide(utterances: pd.DataFrame) -> pd.DataFrame:
    """Pivot utterances to one row per interaction with ``model_name_a``..``score_d`` columns.

    Suffixes follow row order within an interaction, as PRISM's ``pivot_to_wide_format``.

    Parameters
    ----------
    utterances
        the utterances table (:meth:`Study.frames`), or one with the same columns.

    Returns
    -------
    pandas.DataFrame
        one row per interaction.

    Raises
    ------
    DataValidationError
        a missing index column, an interaction with conflicting prompts or users, or more than
        four responses.

    Example
    -------
    >>> from pluralis.data.synthetic import generate_study
    >>> wide = to_wide(generate_study(n_participants=2, seed=0).frames().utterances)
    >>> {"score_a", "model_name_d"} <= set(wide.columns)
    True
    """
    df = utterances.copy()
    missing = [c for c in WIDE_INDEX if c not in df.columns]
    if missing:
        raise DataValidationError([Problem(None, None, c, "required column is missing") for c in missing])
    varying = df.groupby("interaction_id", sort=False)[WIDE_INDEX[1:]].nunique(dropna=False)
    for col in WIDE_INDEX[1:]:
        bad = varying.index[varying[col].to_numpy() > 1]
        if len(bad):
            raise DataValidationError(
                Problem(
                    None,
                    None,
                    col,
                    f"interaction {bad[0]!r} has more than one {col}; it must be the same for all its responses",
                )
            )
    position = df.groupby("interaction_id", sort=False).cumcount()
    if (position > 3).any():
        bad = df.loc[position > 3, "interaction_id"].iloc[0]
        raise DataValidationError(Problem(None, None, "interaction_id", f"{bad!r} has more than 4 responses"))
    df["suffix"] = position.map(dict(enumerate(SUFFIXES)))
    value_cols = [c for c in df.columns if c not in WIDE_INDEX + ["suffix"]]
    wide = df.set_index(WIDE_INDEX + ["suffix"])[value_cols].unstack("suffix")
    assert isinstance(wide, pd.DataFrame)  # a frame on a MultiIndex unstacks to a frame (for the type checker)
    names, suffixes = wide.columns.get_level_values(0), wide.columns.get_level_values(1)
    wide.columns = pd.Index([f"{col}_{suffix}" for col, suffix in zip(names, suffixes)])
    ordered = [f"{c}_{s}" for c in value_cols for s in SUFFIXES if f"{c}_{s}" in wide.columns]
    wide = wide[ordered].reset_index()
    order = pd.Index(df["interaction_id"].drop_duplicates())
    return wide.set_index("interaction_id").loc[order].reset_index()


INT_COLUMNS = ("turn", "score", "within_turn_id")
BOOL_COLUMNS = ("if_chosen", "included_in_balanced_subset")
TEXT_COLUMNS = ("user_prompt", "model_response")
_BOOL_TEXT = {"true": True, "false": False, "1": True, "0": False}


def _as_bool(values: pd.Series, column: str, rows: np.ndarray | None = None) -> pd.Series:
    """Booleans from bools, 0/1 or 'True'/'False' text (CSV); anything else is a clear error."""

    def one(v):
        if isinstance(v, (bool, np.bool_)):
            return bool(v)
        if isinstance(v, (int, np.integer)) and v in (0, 1):
            return bool(v)
        if isinstance(v, float) and v in (0.0, 1.0):
            return bool(v)
        key = str(v).strip().lower()
        if key in _BOOL_TEXT:
            return _BOOL_TEXT[key]
        raise ValueError(v)

    out = []
    for k, v in enumerate(values.to_numpy()):
        try:
            out.append(one(v))
        except ValueError:
            line = None if rows is None else int(rows[k])
            raise DataValidationError(Problem(None, line, column, f"expected true/false, got {v!r}")) from None
    return pd.Series(out, index=values.index, dtype=bool)


def _as_int(values: pd.Series, column: str, rows: np.ndarray | None = None) -> pd.Series:
    """Integers from ints, integral floats or digit text; anything else is a clear error."""
    num = pd.to_numeric(values, errors="coerce")
    bad = num.isna().to_numpy() | (num.to_numpy(dtype=float) % 1 != 0)
    if bad.any():
        k = int(np.flatnonzero(bad)[0])
        line = None if rows is None else int(rows[k])
        raise DataValidationError(Problem(None, line, column, f"expected an integer, got {values.iloc[k]!r}"))
    return num.astype("int64")


def from_wide(wide: pd.DataFrame, *, row_numbers: np.ndarray | None = None) -> pd.DataFrame:
    """Undo :func:`to_wide`: back to one row per utterance, in the original order.

    Accepts the typed frame :func:`to_wide` returns or the same table read back from CSV
    (text ``"True"``/``"False"``, numbers as text). ``row_numbers`` (one per wide row, e.g. file
    lines) are used in error messages and kept as ``_wide_row`` when given.

    Parameters
    ----------
    wide
        a wide table.
    row_numbers
        the file line of each wide row, for messages.

    Returns
    -------
    pandas.DataFrame
        one row per utterance.

    Raises
    ------
    DataValidationError
        a table with no ``*_a`` .. ``*_d`` columns, a slot with values but no ``model_name_<slot>``
        column (its responses would be lost), or a cell of the wrong type (line and field named).

    Example
    -------
    >>> from pluralis.data.synthetic import generate_study
    >>> u = generate_study(n_participants=2, seed=0).frames().utterances
    >>> back = from_wide(to_wide(u))
    >>> back["utterance_id"].tolist() == u["utterance_id"].tolist()
    True
    """
    value_cols = sorted({c.rsplit("_", 1)[0] for c in wide.columns if "_" in c and c.rsplit("_", 1)[-1] in SUFFIXES})
    value_cols = [c for c in value_cols if c not in WIDE_INDEX]
    if len(wide) == 0:  # an empty study's table
        empty = pd.DataFrame({c: pd.Series(dtype=object) for c in Utterance.model_fields})
        if row_numbers is not None:
            empty["_wide_row"] = pd.Series(dtype=np.int64)
        return empty
    if not value_cols:
        raise DataValidationError(Problem(None, None, "model_name_a", "not a wide table: no *_a .. *_d columns"))
    if "model_name" in value_cols:  # a slot without its model names would be dropped, silently
        lost = [
            (s, c) for s in SUFFIXES for c in value_cols if f"{c}_{s}" in wide.columns and f"model_name_{s}" not in wide
        ]
        if lost:
            s, c = lost[0]
            raise DataValidationError(
                Problem(
                    None, 1, f"model_name_{s}", f"no such column, but {c}_{s} is there: slot {s}'s responses need it"
                )
            )
    index = [c for c in WIDE_INDEX if c in wide.columns]
    rows = np.arange(1, len(wide) + 1) if row_numbers is None else np.asarray(row_numbers)
    parts = []
    for pos, s in enumerate(SUFFIXES):
        cols = {f"{c}_{s}": c for c in value_cols if f"{c}_{s}" in wide.columns}
        if not cols:
            continue
        part = wide[index + list(cols)].rename(columns=cols)
        part["_row"] = np.arange(len(wide))
        part["_pos"] = pos
        parts.append(part)
    long = pd.concat(parts, ignore_index=True)
    key = "model_name" if "model_name" in long.columns else value_cols[0]
    long = long[long[key].notna()].sort_values(["_row", "_pos"], kind="stable")
    file_rows = rows[long["_row"].to_numpy()]
    long = long.drop(columns=["_pos"]).reset_index(drop=True)
    for col in INT_COLUMNS:
        if col in long.columns:
            long[col] = _as_int(long[col], col, file_rows)
    for col in BOOL_COLUMNS:
        if col in long.columns:
            long[col] = _as_bool(long[col], col, file_rows)
    for col in TEXT_COLUMNS:
        if col in long.columns:  # an empty text cell reads back as missing from CSV
            filled = long[col].where(long[col].notna(), "")
            if all(isinstance(v, str) for v in filled):
                filled = filled.astype(str)
            long[col] = filled
    if row_numbers is not None:
        long["_wide_row"] = file_rows
    long = long.drop(columns=["_row"])
    ordered = [c for c in Utterance.model_fields if c in long.columns]
    return long[ordered + [c for c in long.columns if c not in ordered]]


WIDE_FORMATS = {".parquet": "parquet", ".pq": "parquet", ".csv": "csv", ".jsonl": "jsonl", ".json": "jsonl"}


def _wide_format(path: Path) -> str:
    fmt = WIDE_FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise DataValidationError(
            Problem(
                str(path), None, None, f"wide tables are .parquet, .csv or .jsonl, not {path.suffix or 'no suffix'!r}"
            )
        )
    return fmt


def write_wide(data: Study | pd.DataFrame, path: str | Path) -> Path:
    """Write utterances (or a study's) in PRISM's wide format: one row per interaction.

    The format follows the file suffix: ``.parquet`` (typed, lossless), ``.jsonl`` (lossless)
    or ``.csv`` (text; :func:`read_wide` restores the types). Written atomically.

    Parameters
    ----------
    data
        a study, or an utterances table.
    path
        the file to write (``.parquet``, ``.csv`` or ``.jsonl``).

    Returns
    -------
    pathlib.Path
        ``path``.

    Raises
    ------
    DataValidationError
        an unsupported suffix, or utterances that do not pivot (see :func:`to_wide`).

    Example
    -------
    >>> import tempfile, pathlib
    >>> from pluralis.data.synthetic import generate_study
    >>> study = generate_study(n_participants=2, seed=0)
    >>> path = write_wide(study, pathlib.Path(tempfile.mkdtemp()) / "interactions.parquet")
    >>> back = read_wide(path)
    >>> back["utterance_id"].tolist() == [u.utterance_id for u in study.utterances]
    True
    """
    path = Path(path)
    fmt = _wide_format(path)
    utterances = data.frames().utterances if isinstance(data, Study) else data
    wide = to_wide(utterances)
    if fmt == "parquet":
        with atomic_write(path, "wb") as fh:
            wide.to_parquet(fh, index=False)
    elif fmt == "csv":
        with atomic_write(path) as fh:
            # quote every text cell: pandas leaves a lone "\r" unquoted otherwise, which splits the row
            wide.to_csv(fh, index=False, quoting=csv.QUOTE_NONNUMERIC)
    else:
        with atomic_write(path) as fh:
            for row in wide.to_dict("records"):
                fh.write(dumps_record(row))
                fh.write("\n")
    return path


def _read_csv_text(path: Path) -> tuple[pd.DataFrame, np.ndarray]:
    """A CSV as text cells (empty = missing) and the line each record starts on (header = line 1).

    Every cell stays text, so ``"NA"``, ``"None"`` or digit-only names are not reinterpreted; a
    leading byte-order mark (Excel's "CSV UTF-8") is dropped (:func:`csv_records`).
    """
    header, rows = csv_records(path)
    records, lines = [], []
    for start, rec in rows:
        if len(rec) != len(header):
            if not any(rec):  # a line of empty cells only
                continue
            raise DataValidationError(
                Problem(str(path), start, None, f"expected {len(header)} cells, found {len(rec)}")
            )
        records.append([v if v != "" else None for v in rec])
        lines.append(start)
    return pd.DataFrame(records, columns=header), np.asarray(lines, dtype=np.int64)


def read_wide(path: str | Path) -> pd.DataFrame:
    """Read a wide-format table (parquet, JSONL or CSV) into validated long utterances.

    Every utterance is validated like a row of ``utterances.jsonl``; problems name the file,
    the line (the row for parquet; the header is line 1 of a CSV) and the field.

    Parameters
    ----------
    path
        a ``.parquet``, ``.csv`` or ``.jsonl`` wide table.

    Returns
    -------
    pandas.DataFrame
        the long utterances, in file order.

    Raises
    ------
    DataValidationError
        naming file, line and field of every bad cell.

    Example
    -------
    >>> import tempfile, pathlib
    >>> from pluralis.data.synthetic import generate_study
    >>> u = generate_study(n_participants=2, seed=0).frames().utterances
    >>> path = write_wide(u, pathlib.Path(tempfile.mkdtemp()) / "wide.csv")
    >>> read_wide(path)["score"].tolist() == u["score"].tolist()
    True
    """
    path = Path(path)
    fmt = _wide_format(path)
    if not path.exists():
        raise DataValidationError(Problem(str(path), None, None, "file not found"))
    try:
        if fmt == "parquet":
            wide = pd.read_parquet(path)
            rows = np.arange(1, len(wide) + 1)
        elif fmt == "jsonl":
            numbered = list(iter_jsonl(path))
            bad = next((n for n, obj in numbered if not isinstance(obj, dict)), None)
            if bad is not None:
                raise DataValidationError(Problem(str(path), bad, None, "expected a JSON object"))
            wide = pd.DataFrame.from_records([obj for _, obj in numbered])
            rows = np.array([n for n, _ in numbered], dtype=np.int64)
        else:
            wide, rows = _read_csv_text(path)
    except DataValidationError:
        raise
    except (ValueError, OSError) as exc:  # UnicodeDecodeError is a ValueError
        raise DataValidationError(Problem(str(path), None, None, f"cannot read wide table: {exc}")) from None
    try:
        if "turn" in wide.columns and fmt == "csv":
            wide["turn"] = _as_int(wide["turn"], "turn", rows)
        long = from_wide(wide, row_numbers=rows)
    except DataValidationError as exc:
        raise DataValidationError([Problem(str(path), p.line, p.field, p.message) for p in exc.problems]) from None
    lines = long.pop("_wide_row").to_numpy()
    problems: list[Problem] = []
    records = long.to_dict("records")
    for line, row in zip(lines, records):
        try:
            Utterance.model_validate({k: v for k, v in row.items() if not (isinstance(v, float) and np.isnan(v))})
        except ValidationError as exc:
            problems.extend(problems_from_validation(exc, str(path), int(line)))
            if len(problems) >= 50:
                break
    if problems:
        raise DataValidationError(problems)
    return long


def read_wide_study(path: str | Path) -> Study:
    """Read a wide table (see :func:`read_wide`) as a study holding its utterances only.

    Parameters
    ----------
    path
        a ``.parquet``, ``.csv`` or ``.jsonl`` wide table.

    Returns
    -------
    Study
        with ``utterances`` set and every other table empty.

    Example
    -------
    >>> import tempfile, pathlib
    >>> from pluralis.data.synthetic import generate_study
    >>> study = generate_study(n_participants=2, seed=0)
    >>> path = write_wide(study, pathlib.Path(tempfile.mkdtemp()) / "wide.jsonl")
    >>> back = read_wide_study(path)
    >>> (len(back.utterances) == len(study.utterances), back.survey)
    (True, [])
    """
    long = read_wide(path)
    rows = [{k: v for k, v in r.items() if not (isinstance(v, float) and v != v)} for r in long.to_dict("records")]
    return Study(utterances=[Utterance.model_validate(r) for r in rows])


def write_wide_study(study: Study, path: str | Path) -> dict[str, Path]:
    """Write a study's utterances as one wide table (see :func:`write_wide`).

    Parameters
    ----------
    study
        the study; only its utterances are written.
    path
        the file to write (``.parquet``, ``.csv`` or ``.jsonl``).

    Returns
    -------
    dict
        ``{"interactions": path}``.

    Example
    -------
    >>> import tempfile, pathlib
    >>> from pluralis.data.synthetic import generate_study
    >>> out = write_wide_study(generate_study(n_participants=2, seed=0), pathlib.Path(tempfile.mkdtemp()) / "w.csv")
    >>> out["interactions"].name
    'w.csv'
    """
    if study.comparisons and not study.utterances:  # an empty table would drop every comparison
        raise DataValidationError(
            Problem(
                str(path),
                None,
                "comparisons",
                f"a wide table holds rated responses; this study has only its {len(study.comparisons):,} "
                "comparisons: export them with --format arena, parquet or hf_folder",
            )
        )
    return {"interactions": write_wide(study, path)}


def sniff_wide(source: str) -> float:
    """0.8 for a data file whose columns include ``model_name_a`` and ``score_a``; 0.5 with
    ``interaction_id`` and ``score_a`` but no ``model_name_a`` (a wide table missing a column,
    which reading as wide then names); else 0.

    Parameters
    ----------
    source
        a path, as text.

    Returns
    -------
    float

    Example
    -------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "w.csv"
    >>> _ = p.write_text("interaction_id,model_name_a,score_a\\n")
    >>> sniff_wide(str(p)), sniff_wide("battles.csv")
    (0.8, 0.0)
    """
    path = Path(source)
    if path.suffix.lower() not in WIDE_FORMATS:
        return 0.0
    head = peek(path)
    if "model_name_a" in head and "score_a" in head:
        return 0.8
    # a wide table missing a column: read as wide, so the error names it (not Arena's model_a)
    return 0.5 if "interaction_id" in head and "score_a" in head and "model_a" not in head else 0.0


FORMAT = DataFormat(
    name="wide",
    description="PRISM wide table, one row per interaction (.parquet, .csv or .jsonl; rated responses only)",
    sniff=sniff_wide,
    read=read_wide_study,
    write=write_wide_study,
)
