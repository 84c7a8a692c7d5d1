"""Chatbot Arena battles: one pairwise battle per row.

``clean_battle_*.json`` / lmsys ``arena-human-preference`` style rows with ``model_a``,
``model_b``, ``winner`` in {``model_a``, ``model_b``, ``tie``, ``tie (bothbad)``}, optional
``question_id``, ``judge``, ``turn``, ``language``, ``tstamp``, ``conversation_a`` /
``conversation_b``; as JSON, JSONL, CSV or parquet.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from pathlib import Path

from pydantic import ValidationError

from pluralis.data.io.comparisons import (
    ROW_SUFFIXES,
    clean_value,
    comparisons_from_utterances,
    finish_comparisons,
    iter_rows,
    text_id,
)
from pluralis.data.io.registry import DataFormat, peek
from pluralis.data.jsonio import problems_from_validation, write_jsonl
from pluralis.data.model import Comparison
from pluralis.data.study import Study
from pluralis.errors import DataValidationError, Problem

ARENA_WINNERS = {"model_a", "model_b", "tie", "tie (bothbad)"}
#: Arena columns with a meaning; every other column is kept as an extra field of the comparison.
ARENA_COLUMNS = frozenset(
    {
        "model_a",
        "model_b",
        "winner",
        "question_id",
        "judge",
        "turn",
        "language",
        "tstamp",
        "conversation_a",
        "conversation_b",
        "battle_id",
        "prompt",
        "score_a",
        "score_b",
        "response_a",
        "response_b",
    }
)

#: Arena columns that are text even when they look like numbers (judge ``12``, battle ``007``).
ARENA_TEXT_COLUMNS = ("model_a", "model_b", "winner", "judge", "question_id", "battle_id", "conversation_id")


def arena_row_to_comparison(
    row: dict, *, source: str = "arena", index: int = 0, id_prefix: str = "arena"
) -> Comparison:
    """Convert one Chatbot-Arena battle row to a :class:`Comparison`.

    Parameters
    ----------
    row
        one battle (``model_a``, ``model_b``, ``winner``, optional fields; unknown fields are kept).
    source
        the ``source`` recorded on the comparison.
    index
        the row's position, used in the id when the row has none.
    id_prefix
        the id of a row without ``battle_id`` or ``question_id`` is ``f"{id_prefix}{index}"``.

    Returns
    -------
    Comparison

    Raises
    ------
    ValueError
        an unknown ``winner``.
    pydantic.ValidationError
        a field of the wrong type.

    Example
    -------
    >>> c = arena_row_to_comparison({"model_a": "x", "model_b": "y", "winner": "tie (bothbad)"})
    >>> (c.tie, c.both_bad, c.winner)
    (True, True, None)
    """
    winner = row.get("winner")
    if winner not in ARENA_WINNERS:
        raise ValueError(f"winner must be one of {sorted(ARENA_WINNERS)}, got {winner!r}")
    known = ARENA_COLUMNS
    prompt = row.get("prompt")
    responses = None
    conv_a, conv_b = row.get("conversation_a"), row.get("conversation_b")
    if isinstance(conv_a, list) and isinstance(conv_b, list):
        if prompt is None:
            prompt = next((m.get("content") for m in conv_a if m.get("role") == "user"), None)
        last = [
            next((m.get("content") for m in reversed(c) if m.get("role") == "assistant"), None)
            for c in (conv_a, conv_b)
        ]
        responses = last
    elif row.get("response_a") is not None or row.get("response_b") is not None:
        responses = [clean_value(row.get("response_a")), clean_value(row.get("response_b"))]
    scores = [clean_value(row.get("score_a")), clean_value(row.get("score_b"))]
    # raw values, validated (and reported field by field) by the model
    return Comparison.model_validate(
        {
            "comparison_id": str(row.get("battle_id") or row.get("question_id") or f"{id_prefix}{index}")
            if row.get("battle_id") or not row.get("question_id")
            else f"{row['question_id']}-{index}",
            "source": source,
            "models": [row.get("model_a"), row.get("model_b")],
            "prompt": prompt,
            "responses": responses,
            "ratings": None if scores == [None, None] else scores,
            "winner": {"model_a": 0, "model_b": 1}.get(winner),
            "tie": winner.startswith("tie"),
            "both_bad": winner == "tie (bothbad)",
            "annotator_id": text_id(row.get("judge")),
            "turn": clean_value(row.get("turn")),
            "language": clean_value(row.get("language")),
            "timestamp": clean_value(row.get("tstamp")),
            **{k: clean_value(v) for k, v in row.items() if k not in known and not k.startswith("_")},
        }
    )


def read_arena(path: str | Path, *, source: str = "arena", lines: list[int] | None = None) -> list[Comparison]:
    """Read Chatbot-Arena battles (JSON, JSONL, CSV or parquet) into validated comparisons.

    Raises :class:`DataValidationError` naming file, line and field for every bad row. A battle
    without ``battle_id`` or ``question_id`` gets the id ``arena-<digest>-<index>``, the digest
    that of the file's bytes: the same file always gives the same ids (importing it twice is
    refused as a duplicate), and two different files can share a store.

    Parameters
    ----------
    path
        a ``.json``, ``.jsonl``, ``.csv`` or ``.parquet`` file of battles.
    source
        the ``source`` recorded on each comparison.
    lines
        a list to which each row's line (or position) in the file is appended.

    Returns
    -------
    list of Comparison

    Example
    -------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "battles.jsonl"
    >>> _ = p.write_text('{"model_a": "a", "model_b": "b", "winner": "model_b"}\\n')
    >>> read_arena(p)[0].winner_model
    'b'
    """
    path = Path(path)
    out: list[Comparison] = []
    problems: list[Problem] = []
    if lines is None:
        lines = []
    start = len(lines)
    prefix = f"arena-{hashlib.sha1(path.read_bytes()).hexdigest()[:10]}-" if path.is_file() else "arena"
    tabular = path.suffix.lower() in (".csv", ".parquet")  # every row has the header's columns
    for line, row in iter_rows(path, text_columns=ARENA_TEXT_COLUMNS):
        if tabular and not out and not problems:  # a missing column: once, at the header
            absent = [f for f in ("model_a", "model_b", "winner") if f not in row]
            if absent:
                raise DataValidationError(
                    [Problem(str(path), 1, f, f"no such column (columns: {', '.join(map(str, row))})") for f in absent]
                )
        lines.append(line)
        for fld in ("model_a", "model_b", "winner"):
            if row.get(fld) in (None, ""):
                problems.append(Problem(str(path), line, fld, "required field is missing"))
                break
        else:
            try:
                out.append(arena_row_to_comparison(row, source=source, index=len(out), id_prefix=prefix))
            except ValidationError as exc:
                problems.extend(problems_from_validation(exc, str(path), line))
            except ValueError as exc:
                problems.append(Problem(str(path), line, "winner", str(exc)))
        if len(problems) >= 50:
            break
    return finish_comparisons(out, problems, path, lines=lines[start:])


def write_arena(comparisons: Iterable[Comparison], path: str | Path) -> int:
    """Write pairwise comparisons as Arena battle rows (JSONL); k-wise ones are rejected.

    A comparison without ``winner`` or ``tie`` takes its outcome from its two ``ratings``
    (equal ratings tie); one with no judgement at all is an error.

    Parameters
    ----------
    comparisons
        pairwise comparisons.
    path
        the ``.jsonl`` file to write (replaced atomically).

    Returns
    -------
    int
        the number of battles written.

    Raises
    ------
    DataValidationError
        a k-wise comparison, or one without a winner, tie or ratings.

    Example
    -------
    >>> import tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "battles.jsonl"
    >>> c = Comparison(comparison_id="b1", source="arena", models=["x", "y"], tie=True, both_bad=True)
    >>> write_arena([c], path), read_arena(path)[0].both_bad
    (1, True)
    """
    rows = []
    for c in comparisons:
        if len(c.models) != 2:
            raise DataValidationError(Problem(str(path), None, "models", f"{c.comparison_id}: Arena rows are pairwise"))
        winner_index = c.winner
        if winner_index is None and not c.tie:
            if c.ratings is None or None in c.ratings:
                raise DataValidationError(
                    Problem(str(path), None, "winner", f"{c.comparison_id}: no winner, tie or ratings to write")
                )
            ra, rb = c.ratings
            winner_index = None if ra == rb else (0 if ra > rb else 1)  # type: ignore[operator]
        winner = (
            "tie (bothbad)" if c.both_bad else "tie" if winner_index is None else ("model_a", "model_b")[winner_index]
        )
        row: dict[str, object] = {
            "battle_id": c.comparison_id,
            "model_a": c.models[0],
            "model_b": c.models[1],
            "winner": winner,
        }
        for key, value in (
            ("judge", c.annotator_id),
            ("conversation_id", c.conversation_id),
            ("turn", c.turn),
            ("language", c.language),
            ("tstamp", c.timestamp),
            ("prompt", c.prompt),
            ("explanation", c.explanation),
        ):
            if value is not None:
                row[key] = value
        for name, values in (("score", c.ratings), ("response", c.responses)):
            if values is not None:
                row[f"{name}_a"], row[f"{name}_b"] = values
        for key, value in (c.model_extra or {}).items():  # covariates and unknown columns survive
            if key not in row and key not in ARENA_COLUMNS:
                row[key] = value
        rows.append(row)
    return write_jsonl(path, rows)


def read_arena_study(path: str | Path, *, source: str = "arena") -> Study:
    """Read Arena battles (see :func:`read_arena`) as a study holding its comparisons only.

    Parameters
    ----------
    path
        a JSON, JSONL, CSV or parquet file of battles.
    source
        the ``source`` recorded on each comparison.

    Returns
    -------
    Study

    Example
    -------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "battles.jsonl"
    >>> _ = p.write_text('{"model_a": "a", "model_b": "b", "winner": "tie"}\\n')
    >>> read_arena_study(p).counts()["comparisons"]
    1
    """
    lines: list[int] = []
    comparisons = read_arena(path, source=source, lines=lines)
    return Study(comparisons=comparisons, origin={"comparisons": str(path)}, lines={"comparisons": lines})


def write_arena_study(study: Study, path: str | Path) -> dict[str, Path]:
    """Write a study's pairwise comparisons as Arena battles (JSONL; see :func:`write_arena`).

    A study without comparisons but with rated responses (PRISM) writes every pair of responses
    to each opening prompt (:func:`~pluralis.data.io.comparisons.comparisons_from_utterances`; scores
    within 5 points tie, as ``pluralis rank`` decides them, and both scores are kept as ``score_a`` /
    ``score_b``); a study with neither is an error (nothing is written).

    Parameters
    ----------
    study
        the study; only its comparisons are written.
    path
        the ``.jsonl`` file to write.

    Returns
    -------
    dict
        ``{"battles": path}``.

    Example
    -------
    >>> import tempfile, pathlib
    >>> c = Comparison(comparison_id="b1", source="arena", models=["x", "y"], winner=1)
    >>> out = write_arena_study(Study(comparisons=[c]), pathlib.Path(tempfile.mkdtemp()) / "b.jsonl")
    >>> read_arena(out["battles"])[0].winner_model
    'y'
    """
    comparisons = study.comparisons
    if not comparisons and study.utterances:  # a PRISM study: the pairs of its rated opening-turn responses
        comparisons = comparisons_from_utterances(study.frames().utterances)
    if not comparisons:
        raise DataValidationError(
            Problem(str(path), None, "comparisons", "nothing to write: the study has no comparisons or rated responses")
        )
    write_arena(comparisons, path)
    return {"battles": Path(path)}


def sniff_arena(source: str) -> float:
    """0.7 for a data file with ``model_a`` and ``winner`` columns, 0.1 for any other JSON, JSONL, CSV or parquet file.

    Arena is the last resort for such files, so that reading one says which field is missing.

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
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "b.jsonl"
    >>> _ = p.write_text('{"model_a": "a", "model_b": "b", "winner": "tie"}\\n')
    >>> sniff_arena(str(p)), sniff_arena("missing.csv"), sniff_arena("notes.txt")
    (0.7, 0.0, 0.0)
    """
    path = Path(source)
    if path.suffix.lower() not in ROW_SUFFIXES or not path.is_file():
        return 0.0
    head = peek(path)
    return 0.7 if "model_a" in head and "winner" in head else 0.1


FORMAT = DataFormat(
    name="arena",
    description="Chatbot Arena battles, one per row: model_a, model_b, winner (.json, .jsonl, .csv or .parquet)",
    sniff=sniff_arena,
    read=read_arena_study,
    write=write_arena_study,
)
