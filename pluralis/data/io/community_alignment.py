"""Community Alignment: one annotation per row, a prompt and up to four candidate responses per turn.

Each row has a prompt, candidate responses (``first_turn_response_a`` .. ``_d``), the preferred
one (``first_turn_preferred_response``, a letter or index), an optional free-text explanation
(``first_turn_feedback``) and the annotator id. Later turns use the same pattern with
``second_turn_``, ``third_turn_`` ... Column names can be remapped with ``columns=``. Any other
column (an annotator's ``gender``, ``age``, ...) is kept on each of the row's comparisons, as the
Arena reader keeps its extra columns, so ``--by gender`` works straight from the file.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import ValidationError

from pluralis.data.io.comparisons import ROW_SUFFIXES, clean_value, finish_comparisons, iter_rows, text_id
from pluralis.data.io.registry import DataFormat, peek
from pluralis.data.jsonio import problems_from_validation
from pluralis.data.model import Comparison
from pluralis.data.study import Study
from pluralis.errors import Problem

TURN_WORDS = ["first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth"]
LETTERS = "abcd"
#: Columns that are text even when they look like numbers (annotator ``12``, model ``7``).
TEXT_COLUMNS = (
    "conversation_id",
    "annotator_id",
    *(f"{w}_turn_{k}_{x}" for w in TURN_WORDS for k in ("model", "response") for x in LETTERS),
    *(f"{w}_turn_{k}" for w in TURN_WORDS for k in ("prompt", "feedback")),
)


#: Columns with a meaning besides the per-turn ones; the row's other columns are kept as extra fields.
KNOWN_COLUMNS = frozenset({"conversation_id", "annotator_id", "language", "assigned_lang"})


def _extra_fields(row: dict) -> dict:
    """The row's columns that are neither per-turn nor known: participant fields and the like."""
    return {
        k: clean_value(v)
        for k, v in row.items()
        if isinstance(k, str)
        and k not in KNOWN_COLUMNS
        and not k.startswith("_")
        and not any(k.startswith(f"{w}_turn_") for w in TURN_WORDS)
        and k not in Comparison.model_fields
    }


def read_community_alignment(
    path: str | Path, *, columns: dict[str, str] | None = None, source: str = "community_alignment"
) -> list[Comparison]:
    """Read Community-Alignment-style k-wise annotations (one comparison per annotated turn).

    Parameters
    ----------
    path
        a ``.json``, ``.jsonl``, ``.csv`` or ``.parquet`` file.
    columns
        renames applied to the file's columns first (file name -> expected name).
    source
        the ``source`` recorded on each comparison.

    Returns
    -------
    list of Comparison
        one per annotated turn; a turn without a preferred response is a tie.

    Raises
    ------
    DataValidationError
        naming file, line and field of every bad row.

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
    out, problems, lines = [], [], []
    raw_names = {v: k for k, v in columns.items()}  # canonical -> the file's column
    for line, raw in iter_rows(path, text_columns=[raw_names.get(c, c) for c in TEXT_COLUMNS]):
        row = {columns.get(k, k): v for k, v in raw.items()}
        conv = str(row.get("conversation_id") or f"ca{line}")
        extra = _extra_fields(row)
        for t, word in enumerate(TURN_WORDS):
            prompt = row.get(f"{word}_turn_prompt")
            responses = [row.get(f"{word}_turn_response_{x}") for x in LETTERS]
            present = [i for i, r in enumerate(responses) if clean_value(r) is not None]
            if prompt is None and not present:
                if t == 0:
                    problems.append(Problem(str(path), line, f"{word}_turn_prompt", "required field is missing"))
                break
            preferred = clean_value(row.get(f"{word}_turn_preferred_response"))
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
            labels = [clean_value(row.get(f"{word}_turn_model_{x}")) or f"candidate_{x}" for x in LETTERS]
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
                        annotator_id=text_id(row.get("annotator_id")),
                        conversation_id=conv,
                        turn=t,
                        language=clean_value(row.get("language") or row.get("assigned_lang")),
                        explanation=clean_value(row.get(f"{word}_turn_feedback")),
                        **extra,
                    )
                )
                lines.append(line)
            except ValidationError as exc:
                problems.extend(problems_from_validation(exc, str(path), line))
        if len(problems) >= 50:
            break
    return finish_comparisons(out, problems, path, lines=lines)


def read_community_alignment_study(
    path: str | Path, *, columns: dict[str, str] | None = None, source: str = "community_alignment"
) -> Study:
    """Read Community-Alignment annotations (see :func:`read_community_alignment`) as a study of comparisons.

    Parameters
    ----------
    path
        a JSON, JSONL, CSV or parquet file.
    columns
        renames applied to the file's columns first (file name -> expected name).
    source
        the ``source`` recorded on each comparison.

    Returns
    -------
    Study

    Example
    -------
    >>> import tempfile, pathlib, json
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "ca.jsonl"
    >>> row = {"first_turn_prompt": "Hi", "first_turn_response_a": "A", "first_turn_response_b": "B",
    ...        "first_turn_preferred_response": "b"}
    >>> _ = p.write_text(json.dumps(row) + "\\n")
    >>> read_community_alignment_study(p).comparisons[0].winner
    1
    """
    return Study(comparisons=read_community_alignment(path, columns=columns, source=source))


def sniff_community_alignment(source: str) -> float:
    """0.9 for a data file with Community-Alignment columns (``first_turn_prompt``, ``*_turn_preferred_response``), else 0.

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
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "ca.csv"
    >>> _ = p.write_text("first_turn_prompt,first_turn_response_a\\nHi,A\\n")
    >>> sniff_community_alignment(str(p)), sniff_community_alignment("battles.csv")
    (0.9, 0.0)
    """
    path = Path(source)
    if path.suffix.lower() not in ROW_SUFFIXES:
        return 0.0
    head = peek(path)
    return 0.9 if "turn_preferred_response" in head or "first_turn_prompt" in head else 0.0


FORMAT = DataFormat(
    name="community_alignment",
    description="Community Alignment annotations: a prompt, up to 4 responses and the preferred one per turn",
    sniff=sniff_community_alignment,
    read=read_community_alignment_study,
)
