"""Pairwise and k-wise comparison data: Chatbot Arena battles, Community Alignment, PRISM battles.

All formats become :class:`pluralis.data.model.Comparison` records, so the same analyses run
on every source.

Chatbot Arena (``clean_battle_*.json`` / lmsys ``arena-human-preference`` style): one battle per
row with ``model_a``, ``model_b``, ``winner`` in {``model_a``, ``model_b``, ``tie``,
``tie (bothbad)``}, optional ``question_id``, ``judge``, ``turn``, ``language``, ``tstamp``,
``conversation_a``/``conversation_b``.

Community Alignment: one annotation per row with a prompt, up to four candidate responses
(``first_turn_response_a`` .. ``_d``), the preferred one (``first_turn_preferred_response``,
a letter or index), an optional free-text explanation (``first_turn_feedback``) and the
annotator id. Later turns use the same pattern with ``second_turn_``, ``third_turn_`` ...
Column names can be remapped with ``columns=``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pandas as pd
from pydantic import ValidationError

from pluralis.data.jsonio import iter_jsonl, problems_from_validation, write_jsonl
from pluralis.data.model import Comparison
from pluralis.errors import DataValidationError, Problem

ARENA_WINNERS = {"model_a", "model_b", "tie", "tie (bothbad)"}
TURN_WORDS = ["first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth"]
LETTERS = "abcd"


def _rows(path: Path) -> Iterable[tuple[int, dict]]:
    """Yield (line or row number, row dict) from JSON array, JSONL, CSV or parquet files."""
    suffix = path.suffix.lower()
    if not path.exists():
        raise DataValidationError(Problem(str(path), None, None, "file not found"))
    if suffix == ".jsonl":
        yield from iter_jsonl(path)
    elif suffix == ".json":
        try:
            data = json.loads(path.read_text("utf-8"))
        except json.JSONDecodeError as exc:
            raise DataValidationError(Problem(str(path), exc.lineno, None, f"invalid JSON: {exc.msg}")) from None
        if isinstance(data, dict):
            data = data.get("data") or list(data.values())
        for i, row in enumerate(data, start=1):
            yield i, row
    elif suffix == ".parquet":
        for i, row in enumerate(pd.read_parquet(path).to_dict("records"), start=2):
            yield i, row
    elif suffix == ".csv":
        frame = pd.read_csv(path, keep_default_na=False, na_values=[""])
        for i, row in enumerate(frame.to_dict("records"), start=2):  # line 1 is the header
            yield i, {k: (None if isinstance(v, float) and pd.isna(v) else v) for k, v in row.items()}
    else:
        raise DataValidationError(Problem(str(path), None, None, f"unsupported file type {suffix!r}"))


def _clean(value: Any) -> Any:
    if isinstance(value, float) and pd.isna(value):
        return None
    return value


def arena_row_to_comparison(row: dict, *, source: str = "arena", index: int = 0) -> Comparison:
    """Convert one Chatbot-Arena battle row to a :class:`Comparison`.

    Example
    -------
    >>> c = arena_row_to_comparison({"model_a": "x", "model_b": "y", "winner": "tie (bothbad)"})
    >>> (c.tie, c.both_bad, c.winner)
    (True, True, None)
    """
    winner = row.get("winner")
    if winner not in ARENA_WINNERS:
        raise ValueError(f"winner must be one of {sorted(ARENA_WINNERS)}, got {winner!r}")
    known = {
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
    }
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
    return Comparison(
        comparison_id=str(row.get("battle_id") or row.get("question_id") or f"arena{index}")
        if row.get("battle_id") or not row.get("question_id")
        else f"{row['question_id']}-{index}",
        source=source,
        models=[row.get("model_a"), row.get("model_b")],
        prompt=prompt,
        responses=responses,
        winner={"model_a": 0, "model_b": 1}.get(winner),
        tie=winner.startswith("tie"),
        both_bad=winner == "tie (bothbad)",
        annotator_id=_clean(row.get("judge")),
        turn=_clean(row.get("turn")),
        language=_clean(row.get("language")),
        timestamp=_clean(row.get("tstamp")),
        **{k: _clean(v) for k, v in row.items() if k not in known and not k.startswith("_")},
    )


def read_arena(path: str | Path, *, source: str = "arena") -> list[Comparison]:
    """Read Chatbot-Arena battles (JSON, JSONL, CSV or parquet) into validated comparisons.

    Raises :class:`DataValidationError` naming file, line and field for every bad row.

    Example
    -------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "battles.jsonl"
    >>> _ = p.write_text('{"model_a": "a", "model_b": "b", "winner": "model_b"}\\n')
    >>> read_arena(p)[0].winner_model
    'b'
    """
    path = Path(path)
    out, problems = [], []
    for line, row in _rows(path):
        for fld in ("model_a", "model_b", "winner"):
            if row.get(fld) in (None, ""):
                problems.append(Problem(str(path), line, fld, "required field is missing"))
                break
        else:
            try:
                out.append(arena_row_to_comparison(row, source=source, index=len(out)))
            except ValidationError as exc:
                problems.extend(problems_from_validation(exc, str(path), line))
            except ValueError as exc:
                problems.append(Problem(str(path), line, "winner", str(exc)))
        if len(problems) >= 50:
            break
    return _finish(out, problems, path)


def _finish(comparisons: list[Comparison], problems: list[Problem], path: Path) -> list[Comparison]:
    """Raise every problem found while reading, then any duplicate ids; else return the comparisons."""
    if problems:
        raise DataValidationError(problems)
    seen: dict[str, int] = {}
    for i, c in enumerate(comparisons, start=1):
        if c.comparison_id in seen:
            problems.append(Problem(str(path), i, "comparison_id", f"duplicate id {c.comparison_id!r}"))
        seen.setdefault(c.comparison_id, i)
    if problems:
        raise DataValidationError(problems)
    return comparisons


def write_arena(comparisons: Iterable[Comparison], path: str | Path) -> int:
    """Write pairwise comparisons as Arena battle rows (JSONL); k-wise ones are rejected.

    A comparison without ``winner`` or ``tie`` takes its outcome from its two ``ratings``
    (equal ratings tie); one with no judgement at all is an error.

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
        row = {"battle_id": c.comparison_id, "model_a": c.models[0], "model_b": c.models[1], "winner": winner}
        for key, value in (
            ("judge", c.annotator_id),
            ("turn", c.turn),
            ("language", c.language),
            ("tstamp", c.timestamp),
            ("prompt", c.prompt),
        ):
            if value is not None:
                row[key] = value
        rows.append(row)
    return write_jsonl(path, rows)


def read_community_alignment(
    path: str | Path, *, columns: dict[str, str] | None = None, source: str = "community_alignment"
) -> list[Comparison]:
    """Read Community-Alignment-style k-wise annotations (one comparison per annotated turn).

    Example
    -------
    >>> import tempfile, pathlib, json
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "ca.jsonl"
    >>> row = {"conversation_id": "x1", "annotator_id": "a7", "first_turn_prompt": "Hi",
    ...        "first_turn_response_a": "A", "first_turn_response_b": "B", "first_turn_response_c": "C",
    ...        "first_turn_response_d": "D", "first_turn_preferred_response": "c", "first_turn_feedback": "warmer"}
    >>> _ = p.write_text(json.dumps(row) + "\\n")
    >>> c = read_community_alignment(p)[0]
    >>> (c.winner, c.explanation, len(c.models))
    (2, 'warmer', 4)
    """
    path = Path(path)
    columns = columns or {}
    out, problems = [], []
    for line, raw in _rows(path):
        row = {columns.get(k, k): v for k, v in raw.items()}
        conv = str(row.get("conversation_id") or f"ca{line}")
        for t, word in enumerate(TURN_WORDS):
            prompt = row.get(f"{word}_turn_prompt")
            responses = [row.get(f"{word}_turn_response_{x}") for x in LETTERS]
            present = [i for i, r in enumerate(responses) if _clean(r) is not None]
            if prompt is None and not present:
                if t == 0:
                    problems.append(Problem(str(path), line, f"{word}_turn_prompt", "required field is missing"))
                break
            preferred = _clean(row.get(f"{word}_turn_preferred_response"))
            winner = None
            if preferred is not None:
                key = str(preferred).strip().lower().removeprefix("response_").removeprefix("response ")
                if key in LETTERS:
                    winner = LETTERS.index(key)
                elif key.isdigit():
                    winner = int(key)
                else:
                    problems.append(
                        Problem(str(path), line, f"{word}_turn_preferred_response", f"unknown choice {preferred!r}")
                    )
                    break
            if winner is not None and winner not in present:
                problems.append(
                    Problem(
                        str(path), line, f"{word}_turn_preferred_response", f"points at missing response {preferred!r}"
                    )
                )
                break
            labels = [_clean(row.get(f"{word}_turn_model_{x}")) or f"candidate_{x}" for x in LETTERS]
            try:
                out.append(
                    Comparison(
                        comparison_id=f"{conv}-t{t}-{row.get('annotator_id', '')}",
                        source=source,
                        models=[labels[i] for i in present],
                        responses=[responses[i] for i in present],
                        prompt=prompt,
                        winner=present.index(winner) if winner is not None else None,
                        tie=winner is None,
                        annotator_id=_clean(row.get("annotator_id")),
                        conversation_id=conv,
                        turn=t,
                        language=_clean(row.get("language") or row.get("assigned_lang")),
                        explanation=_clean(row.get(f"{word}_turn_feedback")),
                    )
                )
            except ValidationError as exc:
                problems.extend(problems_from_validation(exc, str(path), line))
        if len(problems) >= 50:
            break
    return _finish(out, problems, path)


def comparisons_frame(comparisons: Iterable[Comparison]) -> pd.DataFrame:
    """Pairwise battles table (``model_a``, ``model_b``, ``winner`` in Arena vocabulary, annotator).

    k-wise comparisons with a winner expand into k-1 battles of the winner against each other
    candidate; k-wise ties expand to all-pairs ties; without either, a ``ranking`` (or complete
    ``ratings``) gives every pair; comparisons with no judgement give no battles.

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
