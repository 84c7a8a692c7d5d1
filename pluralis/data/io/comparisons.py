"""Comparison data, whatever its source: reading rows of comparison files, and battles tables.

Every comparison format (:mod:`~pluralis.data.io.arena`, :mod:`~pluralis.data.io.community_alignment`,
PRISM's own ratings) becomes :class:`pluralis.data.model.Comparison` records, so the same analyses run
on every source; :func:`comparisons_frame` turns them into one pairwise battles table.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pluralis.data.jsonio import iter_jsonl
from pluralis.data.model import SCORE_TIE_THRESHOLD, Comparison
from pluralis.errors import DataValidationError, Problem

#: File types :func:`iter_rows` reads.
ROW_SUFFIXES = (".json", ".jsonl", ".csv", ".parquet")


def iter_rows(path: str | Path, *, text_columns: Iterable[str] = ()) -> Iterator[tuple[int, dict]]:
    """Yield ``(line or row number, row)`` from a JSON array, JSONL, CSV or parquet file.

    Numbers are file lines for JSONL and CSV (the header is line 1; a CSV record whose quoted cells
    span several lines is numbered by its first line), positions for JSON arrays and parquet;
    empty CSV cells and NaN are ``None``.

    Parameters
    ----------
    path
        a ``.json``, ``.jsonl``, ``.csv`` or ``.parquet`` file.
    text_columns
        CSV columns read as text, not as numbers (ids: ``007`` stays ``"007"``, ``12`` is ``"12"``).

    Returns
    -------
    iterator of (int, dict)

    Raises
    ------
    DataValidationError
        a missing file, an unsupported suffix, invalid JSON, a row that is not an object, an empty
        CSV file, a CSV record with more cells than the header, or text that is not UTF-8 (file and
        line named).

    Example
    -------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "b.csv"
    >>> _ = p.write_text("model_a,model_b,winner\\nx,,tie\\n")
    >>> list(iter_rows(p))
    [(2, {'model_a': 'x', 'model_b': None, 'winner': 'tie'})]
    >>> _ = p.write_text("judge,age\\n007,30\\n")
    >>> list(iter_rows(p, text_columns=["judge"]))
    [(2, {'judge': '007', 'age': 30})]
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if not path.exists():
        raise DataValidationError(Problem(str(path), None, None, "file not found"))
    if suffix == ".jsonl":
        yield from _objects(path, iter_jsonl(path))
    elif suffix == ".json":
        try:
            data = json.loads(_utf8_text(path))
        except json.JSONDecodeError as exc:
            raise DataValidationError(Problem(str(path), exc.lineno, None, f"invalid JSON: {exc.msg}")) from None
        if isinstance(data, dict):
            data = data.get("data") or list(data.values())
        if not isinstance(data, list):
            raise DataValidationError(Problem(str(path), 1, None, "expected a JSON array of rows (objects)"))
        yield from _objects(path, enumerate(data, start=1))
    elif suffix == ".parquet":
        for i, row in enumerate(pd.read_parquet(path).to_dict("records"), start=2):
            yield i, row
    elif suffix == ".csv":
        frame, lines = _read_csv(path, text_columns)
        for i, row in zip(lines, frame.to_dict("records"), strict=True):
            yield i, {k: (None if isinstance(v, float) and pd.isna(v) else v) for k, v in row.items()}
    else:
        raise DataValidationError(Problem(str(path), None, None, f"unsupported file type {suffix!r}"))


def _objects(path: Path, rows: Iterable[tuple[int, Any]]) -> Iterator[tuple[int, dict]]:
    """The rows of a JSON or JSONL file, each checked to be an object (one record per row)."""
    for i, row in rows:
        if not isinstance(row, dict):
            raise DataValidationError(
                Problem(str(path), i, None, f"expected a JSON object per row, got {type(row).__name__} {row!r:.40}")
            )
        yield i, row


def _utf8_text(path: Path) -> str:
    """A file's text (a leading BOM dropped); text that is not UTF-8 is an error naming its line."""
    data = path.read_bytes()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise DataValidationError(
            Problem(str(path), line, None, f"not UTF-8 text ({exc.reason} at byte {exc.start}); save the file as UTF-8")
        ) from None


def csv_records(path: str | Path, text: str | None = None) -> tuple[list[str], Iterator[tuple[int, list[str]]]]:
    """The header of a CSV file and its records with the line each starts on (the header is line 1).

    The one home of a CSV's true line numbers: a quoted cell spanning several lines (a response with
    newlines) does not shift the records after it. Blank lines are skipped; the cells are text.

    Parameters
    ----------
    path
        the file (named in errors).
    text
        its text when already read (else it is read as UTF-8, a leading BOM dropped).

    Returns
    -------
    tuple
        the header cells and an iterator of ``(first line, cells)``.

    Raises
    ------
    DataValidationError
        text that is not UTF-8, a file without a header row, or a record the :mod:`csv` module cannot
        parse (file and line named, when the records are read).

    Example
    -------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "b.csv"
    >>> _ = p.write_text('model_a,response\\nx,"two\\nlines"\\n\\ny,one\\n')
    >>> header, records = csv_records(p)
    >>> header, list(records)
    (['model_a', 'response'], [(2, ['x', 'two\\nlines']), (5, ['y', 'one'])])
    """
    path = Path(path)
    reader = csv.reader(io.StringIO(_utf8_text(path) if text is None else text, newline=""))
    header = next(reader, None)
    if header is None:
        raise DataValidationError(Problem(str(path), 1, None, "empty file: no header row"))

    def records() -> Iterator[tuple[int, list[str]]]:
        start = reader.line_num + 1
        try:
            for rec in reader:
                if rec:
                    yield start, rec
                start = reader.line_num + 1
        except csv.Error as exc:
            raise DataValidationError(Problem(str(path), start, None, f"malformed CSV: {exc}")) from None

    return header, records()


def _read_csv(path: Path, text_columns: Iterable[str] = ()) -> tuple[pd.DataFrame, list[int]]:
    """A CSV file as pandas reads it (types inferred, ``""`` missing) and the line each record starts on.

    The line numbers come from :func:`csv_records` over the same text (pandas numbers rows, not lines).
    """
    text = _utf8_text(path)
    header, records = csv_records(path, text)
    if not any(c.strip() for c in header):
        raise DataValidationError(Problem(str(path), 1, None, "empty file: no header row"))
    lines: list[int] = []
    for start, rec in records:
        if len(rec) > len(header):
            raise DataValidationError(
                Problem(str(path), start, None, f"{len(rec)} cells, but the header (line 1) has {len(header)}")
            )
        if any(c.strip() for c in rec) or len(rec) > 1:  # pandas skips blank lines
            lines.append(start)
    try:
        text_dtypes = {c: str for c in text_columns if c in header}
        frame = pd.read_csv(io.StringIO(text), keep_default_na=False, na_values=[""], dtype=text_dtypes or None)
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        # an unclosed quote: the csv module (lenient) read the rest of the file as the last record, so
        # that record's first line is where the quote opens
        line = lines[-1] if lines and "EOF inside string" in str(exc) else None
        what = "a quoted cell is never closed" if line is not None else str(exc)
        raise DataValidationError(Problem(str(path), line, None, f"malformed CSV: {what}")) from None
    if len(lines) != len(frame):  # the two parsers disagree on an odd file: positions, as before
        lines = list(range(2, len(frame) + 2))
    return frame, lines


def text_id(value: Any) -> Any:
    """An integer id (a JSON number such as judge ``12``) as text; anything else as :func:`clean_value` gives it.

    Parameters
    ----------
    value
        a cell holding an id.

    Returns
    -------
    object

    Example
    -------
    >>> text_id(12), text_id("u7"), text_id(float("nan")) is None, text_id(True)
    ('12', 'u7', True, True)
    """
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else clean_value(value)


def clean_value(value: Any) -> Any:
    """``None`` for a missing value (NaN), else the value unchanged.

    Parameters
    ----------
    value
        a cell of a table.

    Returns
    -------
    object

    Example
    -------
    >>> clean_value(float("nan")) is None, clean_value("x")
    (True, 'x')
    """
    if isinstance(value, float) and pd.isna(value):
        return None
    return value


def finish_comparisons(
    comparisons: list[Comparison], problems: list[Problem], path: str | Path, lines: Sequence[int] | None = None
) -> list[Comparison]:
    """Raise every problem found while reading, then any duplicate ids; else return the comparisons.

    Parameters
    ----------
    comparisons
        the comparisons read.
    problems
        the problems found while reading them.
    path
        the file they came from (named in duplicate-id problems).
    lines
        the line (or position) of each comparison in the file; without it, duplicates are named
        by their position among the comparisons.

    Returns
    -------
    list of Comparison
        ``comparisons``, unchanged.

    Raises
    ------
    DataValidationError
        listing ``problems``, or else every duplicate ``comparison_id`` (file and position); or, for a file
        without a single comparison (empty, or a header only), saying so.

    Example
    -------
    >>> c = Comparison(comparison_id="1", source="x", models=["a", "b"], winner=0)
    >>> len(finish_comparisons([c], [], "b.jsonl"))
    1
    >>> finish_comparisons([c, c], [], "b.jsonl")
    Traceback (most recent call last):
    ...
    pluralis.errors.DataValidationError: 1 problem found:
      b.jsonl:2: field 'comparison_id': duplicate id '1' (first on line 1)
    >>> finish_comparisons([c, c], [], "b.csv", lines=[2, 5]) and None
    Traceback (most recent call last):
    ...
    pluralis.errors.DataValidationError: 1 problem found:
      b.csv:5: field 'comparison_id': duplicate id '1' (first on line 2)
    """
    if problems:
        raise DataValidationError(problems)
    if not comparisons:  # importing nothing and saying "0 rows imported" hides a wrong or truncated file
        raise DataValidationError(Problem(str(path), None, None, "no comparisons: the file has no rows"))
    if lines is None or len(lines) != len(comparisons):
        lines = range(1, len(comparisons) + 1)
    seen: dict[str, int] = {}
    for i, c in zip(lines, comparisons, strict=True):
        if c.comparison_id in seen:
            problems.append(
                Problem(
                    str(path),
                    i,
                    "comparison_id",
                    f"duplicate id {c.comparison_id!r} (first on line {seen[c.comparison_id]})",
                )
            )
        seen.setdefault(c.comparison_id, i)
    if problems:
        raise DataValidationError(problems)
    return comparisons


def comparisons_frame(comparisons: Iterable[Comparison]) -> pd.DataFrame:
    """Pairwise battles table (``model_a``, ``model_b``, ``winner`` in Arena vocabulary, annotator).

    k-wise comparisons with a winner expand into k-1 battles of the winner against each other
    candidate; k-wise ties expand to all-pairs ties; without either, a ``ranking`` (or complete
    ``ratings``) gives every pair; comparisons with no judgement give no battles.

    Parameters
    ----------
    comparisons
        comparisons of any source.

    Returns
    -------
    pandas.DataFrame
        columns ``comparison_id``, ``source``, ``model_a``, ``model_b``, ``winner``,
        ``annotator_id``, ``turn``.

    Example
    -------
    >>> df = comparisons_frame([Comparison(comparison_id="1", source="x", models=["a", "b", "c"], winner=1)])
    >>> df[["model_a", "model_b", "winner"]].values.tolist()
    [['b', 'a', 'model_a'], ['b', 'c', 'model_a']]
    """
    rows = []
    for c in comparisons:
        k = len(c.models)
        if c.winner is not None:
            pairs = [(c.winner, o, "model_a") for o in range(k) if o != c.winner]
        elif c.tie:
            tie = "tie (bothbad)" if c.both_bad else "tie"
            pairs = [(i, j, tie) for i in range(k) for j in range(i + 1, k)]
        elif c.ranking or (c.ratings is not None and all(r is not None for r in c.ratings)):
            if c.ranking:  # earlier = better; unranked candidates tie below the ranked ones
                merit = [-float(c.ranking.index(i)) if i in c.ranking else -float(k) for i in range(k)]
            else:
                merit = [float(r) for r in c.ratings]  # type: ignore[arg-type, union-attr]
            pairs = [
                (i, j, "tie" if merit[i] == merit[j] else "model_a" if merit[i] > merit[j] else "model_b")
                for i in range(k)
                for j in range(i + 1, k)
            ]
        else:
            pairs = []  # no judgement recorded
        for i, j, w in pairs:
            rows.append(
                {
                    "comparison_id": c.comparison_id,
                    "source": c.source,
                    "model_a": c.models[i],
                    "model_b": c.models[j],
                    "winner": w,
                    "annotator_id": c.annotator_id,
                    "turn": c.turn,
                }
            )
    return pd.DataFrame(
        rows, columns=["comparison_id", "source", "model_a", "model_b", "winner", "annotator_id", "turn"]
    )


def comparisons_from_utterances(
    utterances: pd.DataFrame, *, turns: str = "openers", tie_threshold: float = SCORE_TIE_THRESHOLD
) -> list[Comparison]:
    """Pairwise comparisons from rated responses (PRISM): every pair of responses to one prompt.

    Scores at most ``tie_threshold`` apart tie, else the higher wins: by default the rule ``pluralis rank``
    applies to the same ratings, so a study ranked from its exported comparisons ranks as the study does.
    Both scores are kept as ``ratings`` and the interaction, conversation and its type ride along.

    Parameters
    ----------
    utterances
        ``Study.frames().utterances`` (PRISM's ``utterances.jsonl`` columns).
    turns
        ``"openers"``: opening turns only (turn 0, as PRISM's rankings); ``"all"``: every turn.
    tie_threshold
        ``|score_a - score_b| <= tie_threshold`` is a tie (:data:`pluralis.data.model.SCORE_TIE_THRESHOLD`,
        5 points; 0: only equal scores tie).

    Returns
    -------
    list of Comparison
        ids ``{interaction_id}-{within_turn_id a}-{within_turn_id b}``, annotator = ``user_id``.

    Example
    -------
    >>> u = pd.DataFrame({"interaction_id": ["i"] * 3, "conversation_id": "c", "user_id": "u", "turn": 0,
    ...     "within_turn_id": [0, 1, 2], "model_name": ["x", "y", "z"], "score": [80, 40, 77], "user_prompt": "hi",
    ...     "model_response": ["a", "b", "c"], "conversation_type": "unguided"})
    >>> [(c.models, c.winner, c.tie) for c in comparisons_from_utterances(u)]
    [(['x', 'y'], 0, False), (['x', 'z'], None, True), (['y', 'z'], 1, False)]
    >>> [c.tie for c in comparisons_from_utterances(u, tie_threshold=0)]
    [False, False, False]
    """
    if turns not in {"openers", "all"}:
        raise ValueError(f"turns must be 'openers' or 'all', got {turns!r}")
    u = utterances if turns == "all" else utterances[utterances["turn"] == 0]
    keep = ["interaction_id", "within_turn_id", "model_name", "score", "model_response"]
    pairs = u[keep].merge(u, on="interaction_id", suffixes=("_a", "_b"))
    pairs = pairs[pairs["within_turn_id_a"] < pairs["within_turn_id_b"]]
    sa, sb = pairs["score_a"].to_numpy(dtype=float), pairs["score_b"].to_numpy(dtype=float)
    out = []
    tied = np.abs(sa - sb) <= tie_threshold
    for row, a, b, tie in zip(pairs.to_dict("records"), sa, sb, tied, strict=True):
        out.append(
            Comparison.model_validate(
                {
                    "comparison_id": f"{row['interaction_id']}-{row['within_turn_id_a']}-{row['within_turn_id_b']}",
                    "source": "prism",
                    "models": [row["model_name_a"], row["model_name_b"]],
                    "prompt": row.get("user_prompt"),
                    "responses": [row["model_response_a"], row["model_response_b"]],
                    "winner": None if tie else (0 if a > b else 1),
                    "tie": bool(tie),
                    "ratings": [float(a), float(b)],
                    "annotator_id": str(row["user_id"]),
                    "conversation_id": str(row["conversation_id"]),
                    "turn": int(row["turn"]),
                    "interaction_id": str(row["interaction_id"]),
                    "conversation_type": row.get("conversation_type"),
                }
            )
        )
    return out
