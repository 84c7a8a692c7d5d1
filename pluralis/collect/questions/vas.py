"""``vas``: a group of visual analogue scales (hidden-number sliders), one per ``items`` entry, recorded
``scale_min``-``scale_max``, with an optional "other" statement the participant types and rates."""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from pluralis.collect.questions.base import Cleaned, CountryList, QuestionKind, optional_text
from pluralis.collect.questions.registry import register_question_kind

if TYPE_CHECKING:
    from pluralis.collect.config import Question


def _number(v: Any) -> float | None:
    try:
        return float(v)
    except (TypeError, ValueError):
        return None


class VisualAnalogueScales(QuestionKind):
    """``{item: number, ..., "other": number, "other_text": text}``; numbers are rounded to integers.

    Example
    -------
    >>> import random
    >>> from pluralis.collect.config import Question
    >>> q = Question(id="q", text="Rate", kind="vas", items={"a": "A", "b": "B"})
    >>> VisualAnalogueScales().clean(q, {"a": "70.4", "b": 3}, None)
    ({'a': 70, 'b': 3}, None)
    >>> VisualAnalogueScales().clean(q, {"a": 170, "b": 3}, None)
    (None, "'a': 170 is outside 0-100")
    >>> answer = VisualAnalogueScales().simulate_answer(q, random.Random(0))
    >>> VisualAnalogueScales().clean(q, answer, None)[1] is None
    True
    """

    name = "vas"
    macro = "vas_question"
    needs_items = True

    def from_form(self, question: Question, form: Mapping[str, Any], getlist: Callable[[str], list[str]]) -> Any:
        v: dict[str, Any] = {k: form.get(f"{question.id}__{k}") for k in question.items}
        if question.other:
            v["other"] = form.get(f"{question.id}__other")
            v["other_text"] = form.get(f"{question.id}__other_text")
        return v

    def clean(self, question: Question, value: Any, survey: CountryList | None) -> Cleaned:
        if value is not None and not isinstance(value, Mapping):
            return None, "expected one rating per statement"
        value = dict(value or {})
        lo, hi = question.scale_min, question.scale_max
        out: dict[str, Any] = {}
        for key in question.items:
            v = value.get(key)
            if v is None or v == "":
                if question.required:
                    return None, f"rate the statement {key!r}"
                out[key] = None
                continue
            num = _number(v)
            if num is None:
                return None, f"{key!r}: {v!r} is not a number"
            if not lo <= num <= hi:
                return None, f"{key!r}: {num:g} is outside {lo}-{hi}"
            out[key] = int(round(num))
        if question.other:
            other_text = optional_text(value.get("other_text"), question.max_chars)
            ov = value.get("other")
            other: int | None = None
            if other_text and ov not in (None, ""):
                num = _number(ov)
                if num is None or math.isnan(num):
                    return None, f"'other': {ov!r} is not a number"
                other = int(round(num)) if math.isfinite(num) else None
                if other is None or not lo <= other <= hi:
                    return None, f"'other' is outside {lo}-{hi}"
            out["other"] = other
            out["other_text"] = other_text
        return out, None

    def simulate_answer(self, question: Question, rng: random.Random, survey: CountryList | None = None) -> Any:
        lo, hi = question.scale_min, question.scale_max
        return {k: rng.randint(lo, hi) for k in question.items}


VAS = register_question_kind(VisualAnalogueScales())
