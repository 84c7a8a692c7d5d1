"""``category``: one of ``options`` plus an optional self-description in the participant's own words
(PRISM's ethnicity, religion and "Prefer to self-describe" gender)."""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from pluralis.collect.questions.base import (
    Cleaned,
    CountryList,
    QuestionKind,
    is_empty,
    optional_text,
    substantive_options,
)
from pluralis.collect.questions.registry import register_question_kind

if TYPE_CHECKING:
    from pluralis.collect.config import Question


class Category(QuestionKind):
    """``{"category": option, "self_described": text or None}`` (a plain string is the category).

    Example
    -------
    >>> import random
    >>> from pluralis.collect.config import Question
    >>> q = Question(id="q", text="Religion?", kind="category", options=["Christian", "Other"])
    >>> Category().clean(q, {"category": "Other", "self_described": " Quaker "}, None)
    ({'category': 'Other', 'self_described': 'Quaker'}, None)
    >>> Category().clean(q, "Christian", None)
    ({'category': 'Christian', 'self_described': None}, None)
    >>> Category().simulate_answer(q, random.Random(0))["category"] in q.options
    True
    """

    name = "category"
    macro = "category_question"
    needs_options = True

    def from_form(self, question: Question, form: Mapping[str, Any], getlist: Callable[[str], list[str]]) -> Any:
        return {"category": form.get(question.id), "self_described": form.get(f"{question.id}__self")}

    def clean(self, question: Question, value: Any, survey: CountryList | None) -> Cleaned:
        if isinstance(value, str) or value is None:
            value = {"category": value}
        if not isinstance(value, Mapping):
            return None, "choose an answer"
        cat = value.get("category")
        if is_empty(cat):
            return None, ("choose an answer" if question.required else None)
        if cat not in question.options:
            return None, f"{cat!r} is not one of the options"
        own = optional_text(value.get("self_described"), question.max_chars)
        return {"category": cat, "self_described": own}, None

    def simulate_answer(self, question: Question, rng: random.Random, survey: CountryList | None = None) -> Any:
        return {"category": rng.choice(substantive_options(question.options)), "self_described": None}


CATEGORY = register_question_kind(Category())
