"""Read and write the released PRISM files (``survey``, ``conversations``, ``utterances``, ``metadata``).

The readers validate every row against :mod:`pluralis.data.model` and every reference across
files; the writers emit the released schema. Reading then writing is lossless: the canonical
JSON of each line is unchanged (see :func:`pluralis.data.jsonio.canonical_json`).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from pluralis.data.jsonio import read_records, write_jsonl
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

    ``survey.jsonl`` and ``conversations.jsonl`` are required; ``utterances.jsonl`` is derived
    from the conversation histories when absent; ``metadata.jsonl`` (also looked for under
    ``metadata/``) is optional.

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
    survey = read_records(survey_path, Participant)
    conversations = read_records(conv_path, Conversation) if conv_path else []
    utt_path = _find(folder, UTTERANCES_FILE)
    utterances = read_records(utt_path, Utterance) if utt_path else utterances_from_conversations(conversations)
    meta_path = _find(folder, METADATA_FILE)
    metadata = read_records(meta_path, TextMetadata) if meta_path else []
    study = Study(survey=survey, conversations=conversations, utterances=utterances, metadata=metadata)
    if validate:
        study.validate(
            files={
                "survey": str(survey_path),
                "conversations": str(conv_path or folder / CONVERSATIONS_FILE),
                "utterances": str(utt_path or folder / UTTERANCES_FILE),
                "metadata": str(meta_path or folder / METADATA_FILE),
            }
        )
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


def hf_cache_snapshot(cache_dir: str | Path | None = None, dataset: str = HF_DATASET) -> Path | None:
    """Locate the newest local snapshot of the PRISM dataset in a Hugging Face hub cache.

    Looks in ``cache_dir``, else ``$HF_HUB_CACHE``, ``$HF_HOME/hub`` or ``~/.cache/huggingface/hub``.
    Never touches the network.

    Example
    -------
    >>> hf_cache_snapshot("/nonexistent") is None
    True
    """
    if cache_dir is None:
        home = os.environ.get("HF_HOME", os.path.join(os.path.expanduser("~"), ".cache", "huggingface"))
        cache_dir = os.environ.get("HF_HUB_CACHE", os.path.join(home, "hub"))
    repo = Path(cache_dir) / ("datasets--" + dataset.replace("/", "--"))
    snapshots = repo / "snapshots"
    if not snapshots.is_dir():
        return None
    ref = repo / "refs" / "main"
    if ref.exists():
        pinned = snapshots / ref.read_text().strip()
        if pinned.is_dir():
            return pinned
    candidates = sorted((p for p in snapshots.iterdir() if p.is_dir()), key=lambda p: p.stat().st_mtime)
    return candidates[-1] if candidates else None


def load_prism_from_hf_cache(cache_dir: str | Path | None = None) -> Study:
    """Load PRISM from a Hugging Face cache the user already has (offline; nothing is downloaded)."""
    snap = hf_cache_snapshot(cache_dir)
    if snap is None:
        raise DataValidationError(
            Problem(str(cache_dir or "~/.cache/huggingface/hub"), None, None, f"no cached copy of {HF_DATASET} found")
        )
    return load_prism(snap)


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


def from_wide(wide: pd.DataFrame) -> pd.DataFrame:
    """Undo :func:`to_wide`: back to one row per utterance, in the original order.

    Example
    -------
    >>> from pluralis.data.synthetic import generate_study
    >>> u = generate_study(n_participants=2, seed=0).frames().utterances
    >>> back = from_wide(to_wide(u))
    >>> back["utterance_id"].tolist() == u["utterance_id"].tolist()
    True
    """
    value_cols = sorted({c.rsplit("_", 1)[0] for c in wide.columns if c.rsplit("_", 1)[-1] in SUFFIXES and "_" in c})
    index = [c for c in WIDE_INDEX if c in wide.columns]
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
    long = long.drop(columns=["_row", "_pos"]).reset_index(drop=True)
    for col in ("score", "within_turn_id", "turn"):
        if col in long.columns:
            long[col] = long[col].astype("int64")
    for col in ("if_chosen", "included_in_balanced_subset"):
        if col in long.columns:
            long[col] = long[col].astype(bool)
    ordered = [c for c in Utterance.model_fields if c in long.columns]
    return long[ordered + [c for c in long.columns if c not in ordered]]


def read_wide(path: str | Path) -> pd.DataFrame:
    """Read a wide-format table (CSV, JSONL or parquet) into validated long utterances."""
    path = Path(path)
    if path.suffix == ".parquet":
        wide = pd.read_parquet(path)
    elif path.suffix in {".jsonl", ".json"}:
        wide = pd.read_json(path, lines=path.suffix == ".jsonl")
    else:
        wide = pd.read_csv(path)
    long = from_wide(wide)
    problems = []
    for i, row in enumerate(long.to_dict("records"), start=1):
        try:
            Utterance.model_validate(row)
        except Exception as exc:  # pydantic.ValidationError
            from pluralis.data.jsonio import problems_from_validation

            problems.extend(problems_from_validation(exc, str(path), i))
            if len(problems) > 20:
                break
    if problems:
        raise DataValidationError(problems)
    return long
