"""Open any supported source as a :class:`~pluralis.data.study.Study`, and save one.

Sources: a PRISM release folder, a parquet folder written by Pluralis, a Hugging Face cache
(``hf://HannahRoseKirk/prism-alignment``), a Chatbot-Arena or Community-Alignment file, or a
Pluralis store (a SQLite file or a database URL).
"""

from __future__ import annotations

from pathlib import Path

from pluralis.data.comparisons import read_arena, read_community_alignment
from pluralis.data.parquet import read_parquet, write_parquet
from pluralis.data.prism import load_prism, load_prism_from_hf_cache, write_prism
from pluralis.data.study import Study
from pluralis.errors import DataValidationError, Problem

STORE_SUFFIXES = {".sqlite", ".sqlite3", ".db"}


def detect_format(source: str | Path) -> str:
    """Guess the format of a source: ``prism``, ``parquet``, ``store``, ``hf``, ``arena`` or ``community_alignment``.

    Example
    -------
    >>> detect_format("sqlite:///x.db"), detect_format("hf://HannahRoseKirk/prism-alignment")
    ('store', 'hf')
    """
    s = str(source)
    if s.startswith("hf://"):
        return "hf"
    if "://" in s:
        return "store"
    path = Path(s)
    if path.suffix.lower() in STORE_SUFFIXES:
        return "store"
    if path.is_dir():
        if (path / "survey.parquet").exists():
            return "parquet"
        return "prism"
    if path.suffix.lower() in {".json", ".jsonl", ".csv", ".parquet"}:
        head = path.read_text("utf-8", errors="replace")[:4000] if path.suffix.lower() != ".parquet" else ""
        if "turn_preferred_response" in head or "first_turn_prompt" in head:
            return "community_alignment"
        return "arena"
    raise DataValidationError(Problem(s, None, None, "cannot tell what this is: not a folder, store or data file"))


def load_study(source: str | Path, *, format: str | None = None) -> Study:
    """Load a study from any supported source (see module docstring).

    Example
    -------
    >>> import tempfile
    >>> from pluralis.data.synthetic import generate_study
    >>> folder = tempfile.mkdtemp()
    >>> _ = save_study(generate_study(n_participants=3, seed=0), folder)
    >>> load_study(folder).counts()["survey"]
    3
    """
    fmt = format or detect_format(source)
    if fmt == "prism":
        return load_prism(source)
    if fmt == "parquet":
        return read_parquet(source)
    if fmt == "hf":
        cache = None
        return load_prism_from_hf_cache(cache)
    if fmt == "arena":
        return Study(comparisons=read_arena(source))
    if fmt == "community_alignment":
        return Study(comparisons=read_community_alignment(source))
    if fmt == "store":
        from pluralis.store import Store  # the store is a source like any other; imported lazily

        with Store.open(source, create=False) as store:
            return store.export_study()
    raise DataValidationError(Problem(str(source), None, None, f"unknown format {fmt!r}"))


def save_study(study: Study, target: str | Path, *, format: str = "prism") -> dict[str, Path]:
    """Write a study as PRISM files (default) or parquet tables into a folder."""
    if format == "prism":
        return write_prism(study, target)
    if format == "parquet":
        return write_parquet(study, target)
    raise DataValidationError(Problem(str(target), None, None, f"unknown output format {format!r}"))
