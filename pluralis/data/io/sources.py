"""Open any supported source as a :class:`~pluralis.data.study.Study`, and save one.

Sources: a PRISM release folder, a parquet folder written by Pluralis, a Hugging Face cache
(``hf://HannahRoseKirk/prism-alignment``), a wide-format table (one row per interaction), a
Chatbot-Arena or Community-Alignment file, or a Pluralis store (a SQLite file or a database URL).
"""

from __future__ import annotations

from pathlib import Path

from pluralis.data.io.comparisons import read_arena, read_community_alignment
from pluralis.data.io.parquet import read_parquet, write_parquet
from pluralis.data.io.prism import (
    load_prism,
    load_prism_from_hf_cache,
    parse_hf_source,
    read_wide,
    write_prism,
    write_wide,
)
from pluralis.data.model import Utterance
from pluralis.data.study import Study
from pluralis.errors import DataValidationError, Problem

STORE_SUFFIXES = {".sqlite", ".sqlite3", ".db"}


def detect_format(source: str | Path) -> str:
    """Guess the format of a source: ``prism``, ``parquet``, ``store``, ``hf``, ``wide``, ``arena`` or
    ``community_alignment``.

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
        if path.suffix.lower() == ".parquet":
            import pyarrow.parquet as pq

            try:
                head = " ".join(pq.read_schema(path).names)
            except Exception:  # not readable as parquet: the reader will say so with the file name
                head = ""
        else:
            with path.open("r", encoding="utf-8", errors="replace") as fh:
                head = fh.read(4000)
        if "turn_preferred_response" in head or "first_turn_prompt" in head:
            return "community_alignment"
        if "model_name_a" in head and "score_a" in head:
            return "wide"
        return "arena"
    raise DataValidationError(Problem(s, None, None, "cannot tell what this is: not a folder, store or data file"))


def load_study(source: str | Path, *, format: str | None = None, hf_cache: str | Path | None = None) -> Study:
    """Load a study from any supported source (see module docstring).

    ``hf://OWNER/NAME[@REVISION]`` reads a Hugging Face dataset from the local hub cache
    (``hf_cache``, else ``$HF_HUB_CACHE`` / ``$HF_HOME/hub`` / ``~/.cache/huggingface/hub``);
    with ``format="hf"`` a plain path is taken as the hub cache folder holding PRISM.

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
        if str(source).startswith("hf://"):
            dataset, revision = parse_hf_source(str(source))
            return load_prism_from_hf_cache(hf_cache, dataset=dataset, revision=revision)
        return load_prism_from_hf_cache(hf_cache if hf_cache is not None else source)
    if fmt == "wide":
        # a wide table holds the rated responses only (no survey): enough for rankings, not for a store
        long = read_wide(source)
        rows = [{k: v for k, v in r.items() if not (isinstance(v, float) and v != v)} for r in long.to_dict("records")]
        return Study(utterances=[Utterance.model_validate(r) for r in rows])
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
    """Write a study as PRISM files (default) or parquet tables into a folder, or as one wide table.

    ``format="wide"`` writes the utterances in PRISM's wide format (one row per interaction) to
    the file ``target`` (``.parquet``, ``.csv`` or ``.jsonl``).

    Example
    -------
    >>> import tempfile, pathlib
    >>> from pluralis.data.synthetic import generate_study
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> sorted(save_study(generate_study(n_participants=2, seed=0), folder, format="parquet"))
    ['comparisons', 'conversations', 'metadata', 'survey', 'utterances']
    >>> save_study(generate_study(n_participants=2, seed=0), folder / "wide.csv", format="wide")["interactions"].name
    'wide.csv'
    """
    if format == "prism":
        return write_prism(study, target)
    if format == "parquet":
        return write_parquet(study, target)
    if format == "wide":
        return {"interactions": write_wide(study, target)}
    raise DataValidationError(Problem(str(target), None, None, f"unknown output format {format!r}"))
