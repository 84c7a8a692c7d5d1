"""``single``: one of the question's ``options`` (radio buttons)."""

from __future__ import annotations

import random
from typing import TYPE_CHECKING, Any

from pluralis.collect.questions.base import Cleaned, CountryList, QuestionKind, is_empty, substantive_options
from pluralis.collect.questions.registry import register_question_kind

if TYPE_CHECKING:
    from pluralis.collect.config import Question


class SingleChoice(QuestionKind):
    """One of ``options``; the answer is the option's text.

    Example
    -------
    >>> import random
    >>> from pluralis.collect.config import Question
    >>> q = Question(id="q", text="Tea or coffee?", kind="single", options=["Tea", "Coffee"])
    >>> kind = SingleChoice()
    >>> kind.clean(q, "Tea", None), kind.clean(q, "", None), kind.clean(q, "Milk", None)
    (('Tea', None), (None, 'choose an answer'), (None, "'Milk' is not one of the options"))
    >>> kind.simulate_answer(q, random.Random(1)) in q.options
    True
    """

    name = "single"
    macro = "radio_question"
    needs_options = True

    def clean(self, question: Question, value: Any, survey: CountryList | None) -> Cleaned:
        if is_empty(value):
            return None, ("choose an answer" if question.required else None)
        allowed = [v for v, _label in self.choices(question)]
        if value not in allowed:
            return None, f"{value!r} is not one of the options"
        return value, None

    def simulate_answer(self, question: Question, rng: random.Random, survey: CountryList | None = None) -> Any:
        return rng.choice(substantive_options([v for v, _label in self.choices(question)]))


SINGLE = register_question_kind(SingleChoice())
