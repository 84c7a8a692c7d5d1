"""Read and write the released PRISM files (``survey``, ``conversations``, ``utterances``, ``metadata``).

The readers validate every row against :mod:`pluralis.data.model` and every reference across
files; the writers emit the released schema. Reading then writing is lossless: the canonical
JSON of each line is unchanged (see :func:`pluralis.data.jsonio.canonical_json`).
"""

from __future__ import annotations

import csv
import os
from pathlib import Path

import numpy as np
import pandas as pd
from pydantic import ValidationError

from pluralis.data.jsonio import collect_records, write_jsonl
from pluralis.data.model import Conversation, Participant, TextMetadata, Utterance
from pluralis.data.study import (
    CONVERSATIONS_FILE,
    METADATA_FILE,
    SURVEY_FILE,
    UTTERANCES_FILE,
    Study,
    utterances_from_conversations,
)
from pluralis.errors import DataValidationError, Problem

HF_DATASET = "HannahRoseKirk/prism-alignment"


def _find(folder: Path, name: str) -> Path | None:
    for candidate in (folder / name, folder / "metadata" / name, folder / "data" / name):
        if candidate.exists():
            return candidate
    return None


def load_prism(folder: str | Path, *, validate: bool = True) -> Study:
    """Load a PRISM release folder into a validated :class:`Study`.

    ``survey.jsonl`` is required; ``utterances.jsonl`` is derived from the conversation
    histories when absent; ``conversations.jsonl`` and ``metadata.jsonl`` (each also looked for
    under ``metadata/`` and ``data/``) are optional.

    Bad input raises one :class:`~pluralis.errors.DataValidationError` listing the problems of
    *all* files (file, line, field); cross-file checks (duplicate ids, dangling references) run
    once every row parses.

    Example
    -------
    >>> import tempfile
    >>> from pluralis.data.synthetic import generate_study
    >>> folder = tempfile.mkdtemp()
    >>> _ = write_prism(generate_study(n_participants=3, seed=0), folder)
    >>> load_prism(folder).counts()["survey"]
    3
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise DataValidationError(Problem(str(folder), None, None, "not a folder of PRISM files"))
    survey_path = _find(folder, SURVEY_FILE)
    conv_path = _find(folder, CONVERSATIONS_FILE)
    if survey_path is None:
        raise DataValidationError(Problem(str(folder / SURVEY_FILE), None, None, "file not found"))
    utt_path = _find(folder, UTTERANCES_FILE)
    meta_path = _find(folder, METADATA_FILE)
    # every file is read before anything is raised, so one run reports the problems of all four
    problems: list[Problem] = []
    lines: dict[str, list[int]] = {}

    def read(name: str, path: Path | None, model):
        if path is None:
            return []
        records, lines[name], found = collect_records(path, model)
        problems.extend(found)
        return records

    survey = read("survey", survey_path, Participant)
    conversations = read("conversations", conv_path, Conversation)
    utterances = read("utterances", utt_path, Utterance) if utt_path else None
    metadata = read("metadata", meta_path, TextMetadata)
    if problems:
        raise DataValidationError(problems)
    if utterances is None:
        utterances = utterances_from_conversations(conversations)
    origin = {
        "survey": str(survey_path),
        "conversations": str(conv_path or folder / CONVERSATIONS_FILE),
        "utterances": str(utt_path or folder / UTTERANCES_FILE),
        "metadata": str(meta_path or folder / METADATA_FILE),
    }
    study = Study(
        survey=survey, conversations=conversations, utterances=utterances, metadata=metadata, origin=origin, lines=lines
    )
    if validate:
        study.validate()
    return study


def write_prism(study: Study, folder: str | Path, *, metadata: bool = True) -> dict[str, Path]:
    """Write a study as PRISM release files; returns the paths written.

    Each file is written to a temporary name and moved into place, so a failure never leaves
    a half-written file.

    Example
    -------
    >>> import tempfile
    >>> from pluralis.data.synthetic import generate_study
    >>> paths = write_prism(generate_study(n_participants=2, seed=0), tempfile.mkdtemp())
    >>> sorted(paths)
    ['conversations', 'metadata', 'survey', 'utterances']
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = {
        "survey": folder / SURVEY_FILE,
        "conversations": folder / CONVERSATIONS_FILE,
        "utterances": folder / UTTERANCES_FILE,
    }
    write_jsonl(paths["survey"], study.survey)
    write_jsonl(paths["conversations"], study.conversations)
    write_jsonl(paths["utterances"], study.utterances)
    if metadata:
        paths["metadata"] = folder / METADATA_FILE
        write_jsonl(paths["metadata"], study.metadata)
    return paths


def hf_hub_cache_dir() -> Path:
    """The Hugging Face hub cache folder, resolved as ``huggingface_hub`` does (no import needed).

    ``$HF_HUB_CACHE``, else ``$HUGGINGFACE_HUB_CACHE``, else ``$HF_HOME/hub``, else
    ``$XDG_CACHE_HOME/huggingface/hub``, else ``~/.cache/huggingface/hub``.

    Example
    -------
    >>> hf_hub_cache_dir().name   # e.g. ~/.cache/huggingface/hub
    'hub'
    """
    env = os.environ
    default_home = os.path.join(os.path.expanduser("~"), ".cache")
    hf_home = env.get("HF_HOME") or os.path.join(env.get("XDG_CACHE_HOME") or default_home, "huggingface")
    legacy = env.get("HUGGINGFACE_HUB_CACHE") or os.path.join(hf_home, "hub")
    return Path(os.path.expandvars(os.path.expanduser(env.get("HF_HUB_CACHE") or legacy)))


def hf_cache_snapshot(
    cache_dir: str | Path | None = None, dataset: str = HF_DATASET, revision: str = "main"
) -> Path | None:
    """Locate a local snapshot of a Hugging Face *dataset* repo in a hub cache; never goes online.

    The hub cache layout is ``datasets--{owner}--{name}/refs/{revision}`` (a file holding a
    commit hash) and ``snapshots/{commit}/`` (files, usually symlinks into ``blobs/``).
    ``revision`` is a ref name (``main``) or a commit hash (or its prefix). Without a matching
    ref, the most recently written snapshot is used. ``cache_dir`` defaults to
    :func:`hf_hub_cache_dir`. Returns ``None`` when nothing is cached.

    Example
    -------
    >>> hf_cache_snapshot("/nonexistent") is None
    True
    """
    cache = Path(cache_dir) if cache_dir is not None else hf_hub_cache_dir()
    repo = cache / ("datasets--" + dataset.replace("/", "--"))
    snapshots = repo / "snapshots"
    if not snapshots.is_dir():
        return None
    ref = repo / "refs" / revision
    if ref.is_file():
        pinned = snapshots / ref.read_text().strip()
        if pinned.is_dir():
            return pinned
    exact = snapshots / revision
    if exact.is_dir():
        return exact
    dirs = [p for p in snapshots.iterdir() if p.is_dir()]
    if revision != "main":
        matches = [p for p in dirs if p.name.startswith(revision)]
        return matches[0] if len(matches) == 1 else None
    dirs.sort(key=lambda p: p.stat().st_mtime)
    return dirs[-1] if dirs else None


def parse_hf_source(source: str) -> tuple[str, str]:
    """Split ``hf://owner/name[@revision]`` into the dataset id and revision (default ``main``).

    Example
    -------
    >>> parse_hf_source("hf://HannahRoseKirk/prism-alignment@abc123")
    ('HannahRoseKirk/prism-alignment', 'abc123')
    >>> parse_hf_source("hf://HannahRoseKirk/prism-alignment")
    ('HannahRoseKirk/prism-alignment', 'main')
    """
    rest = str(source).removeprefix("hf://").removeprefix("datasets/").strip("/")
    name, _, revision = rest.partition("@")
    if name.count("/") != 1 or not all(name.split("/")):
        raise DataValidationError(
            Problem(
                str(source), None, None, "expected hf://OWNER/NAME[@REVISION], e.g. hf://HannahRoseKirk/prism-alignment"
            )
        )
    return name, revision or "main"


def load_prism_from_hf_cache(
    cache_dir: str | Path | None = None, *, dataset: str = HF_DATASET, revision: str = "main", validate: bool = True
) -> Study:
    """Load PRISM from a Hugging Face hub cache the user already has (offline; nothing is downloaded).

    Reads the files of the cached snapshot (see :func:`hf_cache_snapshot`) with
    :func:`load_prism`, so the same validation applies.

    Example
    -------
    >>> import tempfile, pathlib
    >>> from pluralis.data.synthetic import generate_study
    >>> hub = pathlib.Path(tempfile.mkdtemp())
    >>> snap = hub / "datasets--HannahRoseKirk--prism-alignment" / "snapshots" / "0123abc"
    >>> _ = write_prism(generate_study(n_participants=2, seed=0), snap)
    >>> load_prism_from_hf_cache(hub).counts()["survey"]
    2
    """
    snap = hf_cache_snapshot(cache_dir, dataset, revision)
    if snap is None:
        where = cache_dir if cache_dir is not None else hf_hub_cache_dir()
        raise DataValidationError(
            Problem(
                str(where),
                None,
                None,
                f"no cached copy of {dataset} (revision {revision!r}) found; "
                f"download it once with huggingface_hub, or pass the folder of the PRISM files",
            )
        )
    return load_prism(snap, validate=validate)


# --- wide format ---------------------------------------------------------------------------------

WIDE_INDEX = ["interaction_id", "conversation_id", "turn", "user_prompt", "user_id"]
SUFFIXES = ["a", "b", "c", "d"]


def to_wide(utterances: pd.DataFrame) -> pd.DataFrame:
    """Pivot utterances to one row per interaction with ``model_name_a``..``score_d`` columns.

    Suffixes follow row order within an interaction, as PRISM's ``pivot_to_wide_format``.

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
    wide.columns = [f"{col}_{suffix}" for col, suffix in wide.columns]
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
    from pluralis.data.jsonio import atomic_write, dumps_record

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

    Every cell stays text, so ``"NA"``, ``"None"`` or digit-only names are not reinterpreted.
    """
    with path.open("r", encoding="utf-8", newline="") as fh:
        reader = csv.reader(fh)
        header = next(reader, None)
        if header is None:
            raise DataValidationError(Problem(str(path), 1, None, "empty file: no header row"))
        start = reader.line_num + 1
        records, lines = [], []
        for rec in reader:
            if len(rec) != len(header):
                if not any(rec):  # a blank line
                    start = reader.line_num + 1
                    continue
                raise DataValidationError(
                    Problem(str(path), start, None, f"expected {len(header)} cells, found {len(rec)}")
                )
            records.append([v if v != "" else None for v in rec])
            lines.append(start)
            start = reader.line_num + 1
    return pd.DataFrame(records, columns=header), np.asarray(lines, dtype=np.int64)


def read_wide(path: str | Path) -> pd.DataFrame:
    """Read a wide-format table (parquet, JSONL or CSV) into validated long utterances.

    Every utterance is validated like a row of ``utterances.jsonl``; problems name the file,
    the line (the row for parquet; the header is line 1 of a CSV) and the field.

    Example
    -------
    >>> import tempfile, pathlib
    >>> from pluralis.data.synthetic import generate_study
    >>> u = generate_study(n_participants=2, seed=0).frames().utterances
    >>> path = write_wide(u, pathlib.Path(tempfile.mkdtemp()) / "wide.csv")
    >>> read_wide(path)["score"].tolist() == u["score"].tolist()
    True
    """
    from pluralis.data.jsonio import iter_jsonl, problems_from_validation

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
    except (ValueError, OSError, UnicodeDecodeError, csv.Error) as exc:
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
