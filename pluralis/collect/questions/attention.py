"""``attention``: an attention or comprehension check, one of ``options`` with one ``expected`` answer.

PRISM had no attention checks (spec §8.1); a study may add them. The participant sees an ordinary
single-choice question (radio buttons) and is never told whether the answer passed: any option is a valid
answer and is stored as given (under ``custom_survey``). Failing is a quality-control signal, read by
:func:`pluralis.collect.quality.quality_control` (``[quality] attention_signal``). Simulated participants
pass with probability ``simulated_pass_rate`` (0.95 by default).

Study file::

    [[survey.sections.questions]]
    id = "attention_colour"
    kind = "attention"
    text = "To show that you read the questions, choose 'Blue'."
    options = ["Red", "Blue", "Green"]
    expected = "Blue"
    simulated_pass_rate = 0.9
"""

from __future__ import annotations

import random
from typing import TYPE_CHECKING, Any

from pluralis.collect.questions.base import CountryList
from pluralis.collect.questions.registry import register_question_kind
from pluralis.collect.questions.single import SingleChoice

if TYPE_CHECKING:
    from pluralis.collect.config import Question


class AttentionCheck(SingleChoice):
    """One of ``options``; passing means answering ``expected`` (see the module docs).

    Example
    -------
    >>> import random
    >>> from pluralis.collect.config import Question
    >>> q = Question(id="att", text="Choose 'Blue'.", kind="attention", options=["Red", "Blue"], expected="Blue")
    >>> kind = AttentionCheck()
    >>> kind.clean(q, "Red", None), kind.passed(q, "Red"), kind.passed(q, "Blue")
    (('Red', None), False, True)
    >>> answers = [kind.simulate_answer(q, random.Random(i)) for i in range(1000)]
    >>> 0.92 < sum(kind.passed(q, a) for a in answers) / 1000 < 0.98
    True
    """

    name = "attention"
    macro = "radio_question"
    needs_options = True

    def check(self, question: Question) -> None:
        """Refuse an attention check without ``expected`` among its ``options``.

        Example
        -------
        >>> from pluralis.collect.config import Question
        >>> try:
        ...     Question(id="att", text="?", kind="attention", options=["a", "b"])
        ... except ValueError as e:
        ...     print(e.errors()[0]["msg"])
        Value error, question 'att': an attention check needs expected = one of its options ['a', 'b']
        """
        super().check(question)
        if question.expected is None or question.expected not in question.options:
            raise ValueError(
                f"question {question.id!r}: an attention check needs expected = one of its options {question.options}"
            )

    def passed(self, question: Question, answer: Any) -> bool:
        """Whether ``answer`` passes the check (an unanswered check fails).

        Example
        -------
        >>> from pluralis.collect.config import Question
        >>> q = Question(id="att", text="?", kind="attention", options=["a", "b"], expected="b", required=False)
        >>> AttentionCheck().passed(q, None)
        False
        """
        return answer is not None and answer == question.expected

    def simulate_answer(self, question: Question, rng: random.Random, survey: CountryList | None = None) -> Any:
        if rng.random() < question.simulated_pass_rate:
            return question.expected
        wrong = [o for o in question.options if o != question.expected]
        return rng.choice(wrong) if wrong else question.expected


ATTENTION = register_question_kind(AttentionCheck())
