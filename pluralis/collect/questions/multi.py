"""``multi``: any of the question's ``items`` (checkboxes), with an optional typed "Other"."""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from pluralis.collect.questions.base import Cleaned, CountryList, QuestionKind, optional_text
from pluralis.collect.questions.registry import register_question_kind

if TYPE_CHECKING:
    from pluralis.collect.config import Question


class MultiChoice(QuestionKind):
    """``{"selected": [item keys], "other_text": text or None}`` (a list is the selection). Typing an
    "Other" text ticks "other" (when the question has one).

    Example
    -------
    >>> import random
    >>> from pluralis.collect.config import Question
    >>> q = Question(id="q", text="Which?", kind="multi", items={"a": "A", "b": "B"}, other=True)
    >>> MultiChoice().clean(q, {"selected": ["b", "b"], "other_text": "Gardening"}, None)
    ({'selected': ['b', 'other'], 'other_text': 'Gardening'}, None)
    >>> MultiChoice().clean(q, ["c"], None)
    (None, "unknown option(s) ['c']")
    >>> set(MultiChoice().simulate_answer(q, random.Random(0))["selected"]) <= {"a", "b"}
    True
    """

    name = "multi"
    macro = "multi_question"
    needs_items = True

    def from_form(self, question: Question, form: Mapping[str, Any], getlist: Callable[[str], list[str]]) -> Any:
        return {"selected": getlist(question.id), "other_text": form.get(f"{question.id}__other_text")}

    def clean(self, question: Question, value: Any, survey: CountryList | None) -> Cleaned:
        if value is None:
            value = {"selected": []}
        if isinstance(value, (list, tuple, set)):
            value = {"selected": list(value)}
        if not isinstance(value, Mapping):
            return None, "expected a list of options"
        selected = list(dict.fromkeys(value.get("selected") or []))
        allowed = set(question.items) | ({"other"} if question.other else set())
        bad = [k for k in selected if k not in allowed]
        if bad:
            return None, f"unknown option(s) {bad}"
        other_text = optional_text(value.get("other_text"), question.max_chars)
        if other_text and question.other and "other" not in selected:
            selected.append("other")
        if question.required and not selected:
            return None, "select at least one option"
        return {"selected": selected, "other_text": other_text}, None

    def simulate_answer(self, question: Question, rng: random.Random, survey: CountryList | None = None) -> Any:
        keys = list(question.items)
        k = rng.randint(1, min(3, len(keys))) if keys else 0
        return {"selected": rng.sample(keys, k), "other_text": None}


MULTI = register_question_kind(MultiChoice())
