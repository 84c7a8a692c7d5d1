"""Ratings tables: a long table of (participant, item, response or model, score) rows.

Toxicity or offensiveness ratings of texts, Likert ratings of model answers, any cardinal
scores: each row is one participant's score of one response (or one item). Rows become
:class:`~pluralis.data.model.Comparison` records carrying ``ratings`` -- one per participant and
item (the responses to that item they rated), or one per participant when there is no response
column (the items themselves are what is rated) -- so ranking (``mean_score`` and every pairwise
method, through the pairs the ratings imply) and the learning analyses accept them. The score
range is declared (``score_range=(1, 5)``, ``--score-range 1,5``) or inferred from the data, and
recorded on every comparison (``score_range``). Participant columns may ride along inline (any
column not mapped), or come from a participants file (``--participants``).

Example
-------
>>> import tempfile, pathlib
>>> p = pathlib.Path(tempfile.mkdtemp()) / "ratings.csv"
>>> _ = p.write_text("rater,text,score\\nu1,t1,1\\nu1,t2,4\\nu2,t1,2\\nu2,t2,5\\n")
>>> s = read_ratings_study(p, participant="rater", item="text", score_range="1,5")
>>> s.comparisons[0].models, s.comparisons[0].ratings, s.comparisons[0].to_json_dict()["score_range"]
(['t1', 't2'], [1.0, 4.0], [1.0, 5.0])
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from pluralis.data.io.comparisons import ROW_SUFFIXES, iter_rows
from pluralis.data.io.registry import DataFormat, peek
from pluralis.data.model import Comparison
from pluralis.data.study import Study
from pluralis.errors import DataValidationError, Problem


def parse_score_range(
    value: str | Sequence[float] | None, *, where: str = "--score-range"
) -> tuple[float, float] | None:
    """``"1,5"`` or ``(1, 5)`` as ``(1.0, 5.0)``; ``None`` stays ``None`` (inferred from the data).

    Parameters
    ----------
    value
        two numbers, low then high.
    where
        named in the error.

    Returns
    -------
    tuple of float or None

    Raises
    ------
    DataValidationError
        not two numbers, or low >= high.

    Example
    -------
    >>> parse_score_range("1,5"), parse_score_range(None)
    ((1.0, 5.0), None)
    """
    if value is None:
        return None
    parts = value.split(",") if isinstance(value, str) else list(value)
    try:
        lo, hi = (float(x) for x in parts)
    except (TypeError, ValueError):
        raise DataValidationError(Problem(where, None, "score_range", f"expected LOW,HIGH, got {value!r}")) from None
    if not lo < hi:
        raise DataValidationError(Problem(where, None, "score_range", f"LOW must be below HIGH, got {value!r}"))
    return lo, hi


def read_ratings_study(
    path: str | Path,
    *,
    participant: str = "user_id",
    item: str = "item",
    response: str | None = None,
    score: str = "score",
    score_range: str | Sequence[float] | None = None,
    source: str = "ratings",
) -> Study:
    """Read a long ratings table as a study of rated comparisons (see the module docstring).

    Parameters
    ----------
    path
        a ``.csv``, ``.jsonl``, ``.json`` or ``.parquet`` file, one rating per row.
    participant, item, response, score
        the columns holding the rater, the item (prompt, text), the rated response or model
        (``None``: the items themselves are rated) and the score.
    score_range
        the declared scale (``"1,5"``); default: the smallest and largest score seen.
    source
        the ``source`` recorded on each comparison.

    Returns
    -------
    Study
        comparisons with ``ratings``, ``annotator_id`` and a ``score_range`` extra field; other
        columns (participant fields, say) are kept as extra fields when they are constant within
        a comparison.

    Raises
    ------
    DataValidationError
        a missing column (line 1), an empty id, a score that is not a number or falls outside
        the declared range, a repeated rating, or a comparison with a single rating (each
        named with file, line and column). Every problem is listed.

    Example
    -------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "r.csv"
    >>> _ = p.write_text("user_id,item,score\\nu1,a,3\\nu1,b,nine\\n")
    >>> read_ratings_study(p)
    Traceback (most recent call last):
    ...
    pluralis.errors.DataValidationError: 1 problem found:
      ...r.csv:3: field 'score': not a number: 'nine'
    """
    path = Path(path)
    where = str(path)
    declared = parse_score_range(score_range)
    ids = [c for c in (participant, item, response) if c is not None]  # text, even when they look like numbers
    rows = list(iter_rows(path, text_columns=ids))
    columns = list(dict.fromkeys(k for _, r in rows for k in r))
    mapped = [c for c in (participant, item, response, score) if c is not None]
    problems = [
        Problem(where, 1, c, f"no such column (columns: {', '.join(columns)})") for c in mapped if c not in columns
    ]
    if problems:
        raise DataValidationError(problems)
    extra_cols = [c for c in columns if c not in mapped]
    groups: dict[tuple[str, str], list[tuple[int, str, float, dict]]] = {}
    seen: dict[tuple[str, str, str], int] = {}
    for line, row in rows:
        who, what = row.get(participant), row.get(item)
        rated = row.get(response) if response is not None else what
        bad = False
        for col, v in ((participant, who), (item, what), (response, rated)):
            if col is not None and (v is None or str(v).strip() == ""):
                problems.append(Problem(where, line, col, "required value is missing"))
                bad = True
        raw = row.get(score)
        try:
            value = float(raw)  # type: ignore[arg-type]
            if value != value:
                raise ValueError
        except (TypeError, ValueError):
            problems.append(Problem(where, line, score, f"not a number: {raw!r}"))
            bad = True
        else:
            if declared is not None and not declared[0] <= value <= declared[1]:
                problems.append(Problem(where, line, score, f"{value:g} is outside the score range {declared}"))
                bad = True
        if len(problems) >= 50:
            break
        if bad:
            continue
        key = (str(who), str(what) if response is not None else "")
        triple = (*key, str(rated))
        if triple in seen:
            problems.append(Problem(where, line, score, f"repeated rating (first on line {seen[triple]})"))
            continue
        seen[triple] = line
        groups.setdefault(key, []).append((line, str(rated), value, {c: row.get(c) for c in extra_cols}))
    if problems:
        raise DataValidationError(problems)
    scores = [v for g in groups.values() for _, _, v, _ in g]
    low, high = declared or ((min(scores), max(scores)) if scores else (0.0, 0.0))
    out, lines = [], []
    for (who, what), entries in groups.items():
        if len(entries) < 2:
            problems.append(
                Problem(
                    where,
                    entries[0][0],
                    response or item,
                    f"only one rating by {who!r}{f' of item {what!r}' if response else ''}: nothing to compare it with",
                )
            )
            continue
        extras = {c: entries[0][3][c] for c in extra_cols if all(e[3][c] == entries[0][3][c] for e in entries[1:])}
        out.append(
            Comparison.model_validate(
                {
                    "comparison_id": f"{who}|{what}" if response else who,
                    "source": source,
                    "models": [e[1] for e in entries],
                    # the rated texts themselves (the items, or the responses): what learning featurises
                    "responses": [e[1] for e in entries],
                    "ratings": [e[2] for e in entries],
                    "prompt": what or None,
                    "annotator_id": who,
                    **{k: v for k, v in extras.items() if k not in Comparison.model_fields},
                    "score_range": [low, high],
                }
            )
        )
        lines.append(entries[0][0])
    if problems:
        raise DataValidationError(problems[:50])
    return Study(comparisons=out, origin={"comparisons": where}, lines={"comparisons": lines})


def sniff_ratings(source: str) -> float:
    """0.4 for a data file with a ``score`` column and an ``item`` or ``rating``-like layout, else 0.

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
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "r.csv"
    >>> _ = p.write_text("user_id,item,score\\n")
    >>> sniff_ratings(str(p)), sniff_ratings("missing.csv")
    (0.4, 0.0)
    """
    path = Path(source)
    if path.suffix.lower() not in ROW_SUFFIXES or not path.is_file():
        return 0.0
    head = peek(path, 2000)
    if path.suffix.lower() == ".csv":
        names = {c.strip() for c in head.splitlines()[0].split(",")} if head else set()
    else:
        names = set(pd.Series(head.replace('"', " ").replace(",", " ").replace(":", " ").split()))
    return 0.4 if {"score", "item"} <= names and "model_a" not in names else 0.0


FORMAT = DataFormat(
    name="ratings",
    description="long ratings table, one score per row: participant, item, [response or model], score "
    "(.csv, .jsonl, .json or .parquet; columns mapped by --column)",
    sniff=sniff_ratings,
    read=read_ratings_study,
)
