"""``text``: free text between ``min_chars`` and ``max_chars`` characters."""

from __future__ import annotations

import random
from typing import TYPE_CHECKING, Any

from pluralis.collect.questions.base import Cleaned, CountryList, QuestionKind, clean_text, is_empty
from pluralis.collect.questions.registry import register_question_kind

if TYPE_CHECKING:
    from pluralis.collect.config import Question

#: Sentences a simulated participant writes (in random order, as many as ``min_chars`` needs).
SENTENCES = (
    "I think it depends on the situation.",
    "Honesty matters a lot to me.",
    "I would like clear and practical answers.",
    "My family and friends are important to me.",
    "I try to keep an open mind about new things.",
    "It should be respectful and easy to understand.",
    "I enjoy learning something new every day.",
    "Being fair to everyone is what I care about most.",
)


class FreeText(QuestionKind):
    """Free text; control characters are removed and the text is stripped.

    Example
    -------
    >>> import random
    >>> from pluralis.collect.config import Question
    >>> q = Question(id="q", text="Why?", kind="text", min_chars=10, max_chars=60)
    >>> kind = FreeText()
    >>> kind.clean(q, "  Because I like it.  ", None), kind.clean(q, "Short", None)
    (('Because I like it.', None), (None, 'please write at least 10 characters'))
    >>> kind.clean(q, kind.simulate_answer(q, random.Random(0)), None)[1] is None
    True
    """

    name = "text"
    macro = "text_question"

    def clean(self, question: Question, value: Any, survey: CountryList | None) -> Cleaned:
        text = "" if is_empty(value) else clean_text(value).strip()
        if not text:
            return None, ("please write an answer" if question.required else None)
        if len(text) < question.min_chars:
            return None, f"please write at least {question.min_chars} characters"
        if len(text) > question.max_chars:
            return None, f"please write at most {question.max_chars} characters"
        return text, None

    def simulate_answer(self, question: Question, rng: random.Random, survey: CountryList | None = None) -> Any:
        pool = list(SENTENCES)
        rng.shuffle(pool)
        words = [pool[0]]
        while len(" ".join(words)) < max(question.min_chars, 1):
            words.append(pool[len(words) % len(pool)])
        return " ".join(words)[: question.max_chars].strip()


TEXT = register_question_kind(FreeText())
