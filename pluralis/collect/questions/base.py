"""The base class of a survey question kind, and small helpers the kinds share.

A question kind is one object that knows everything about one ``kind`` of survey question: how a study
file's :class:`~pluralis.collect.config.Question` of that kind must look (:meth:`QuestionKind.check`), how a
submitted web form becomes an answer (:meth:`QuestionKind.from_form`), how an answer is validated and
normalised before it is stored (:meth:`QuestionKind.clean`), which macro of ``web/templates/macros.html``
renders it (:attr:`QuestionKind.macro`), and how a simulated participant answers it
(:meth:`QuestionKind.simulate_answer`). Kinds are registered in :mod:`pluralis.collect.questions.registry`.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from pluralis.data import vocab

if TYPE_CHECKING:  # the config imports this package: the types only, never at run time
    from pluralis.collect.config import Question

#: The answer of one question after :meth:`QuestionKind.clean`, or ``None`` with an error message.
Cleaned = tuple[Any, str | None]

_CONTROL = {c: None for c in range(32) if chr(c) not in "\n\t\r"}


class CountryList(Protocol):
    """What a kind may ask of the study's survey (:class:`pluralis.collect.config.SurveyConfig`)."""

    countries: list[tuple[str, str, str, str]]

    def country(self, name: str) -> tuple[str, str, str, str] | None: ...


def clean_text(text: Any) -> str:
    """Remove NUL and other control characters (not newlines/tabs) that databases and browsers reject.

    Parameters
    ----------
    text
        Any value; it is converted with ``str`` first.

    Returns
    -------
    str
        The text without control characters.

    Example
    -------
    >>> clean_text("a" + chr(0) + "b" + chr(10) + "c") == "ab" + chr(10) + "c"
    True
    """
    return str(text).translate(_CONTROL)


def is_empty(value: Any) -> bool:
    """Whether a submitted value counts as "not answered" (``None`` or a blank string).

    Parameters
    ----------
    value : Any
        A submitted value.

    Returns
    -------
    bool
        True for ``None`` and strings that are blank after stripping.

    Example
    -------
    >>> is_empty(None), is_empty("  "), is_empty("x"), is_empty(0)
    (True, True, False, False)
    """
    return value is None or (isinstance(value, str) and not value.strip())


def optional_text(value: Any, max_chars: int) -> str | None:
    """A typed free-text addition ("Other [Please type]", a self-description): cleaned, stripped, cut to
    ``max_chars``; ``None`` when blank.

    Parameters
    ----------
    value : Any
        The submitted text (or ``None``).
    max_chars : int
        Longest text kept.

    Returns
    -------
    str or None
        The cleaned text, or ``None`` when blank.

    Example
    -------
    >>> optional_text("  my words ", 5), optional_text("   ", 5), optional_text(None, 5)
    ('my wo', None, None)
    """
    if not value or not str(value).strip():
        return None
    return clean_text(value).strip()[:max_chars]


def substantive_options(options: list[str]) -> list[str]:
    """The options a simulated participant picks from: every option but "Prefer not to say" (unless it is
    the only one).

    Parameters
    ----------
    options : list of str
        A question's options.

    Returns
    -------
    list of str
        The options without "Prefer not to say" (all of them when that is the only one).

    Example
    -------
    >>> substantive_options(["Yes", "No", "Prefer not to say"]), substantive_options(["Prefer not to say"])
    (['Yes', 'No'], ['Prefer not to say'])
    """
    picked = [o for o in options if o != vocab.PREFER_NOT_TO_SAY]
    return picked or list(options)


class QuestionKind:
    """One kind of survey question (subclass it, then :func:`~pluralis.collect.questions.register_question_kind`).

    Class attributes
    ----------------
    name
        The ``kind`` written in the study file.
    macro
        Name of the macro in ``pluralis/web/templates/macros.html`` that renders the question's controls;
        the survey page calls it as ``macro(q, form, view, config)``. Generic macros exist for kinds that
        only differ in their answers: ``radio_question`` (one of :meth:`choices`), ``text_question``.
    needs_options, needs_items
        :meth:`check` refuses a question of this kind without ``options`` / ``items``.

    Example
    -------
    >>> class YesNo(QuestionKind):
    ...     name, macro = "yes_no", "radio_question"
    ...     def choices(self, question): return [("Yes", "Yes"), ("No", "No")]
    ...     def clean(self, question, value, survey):
    ...         if is_empty(value): return None, ("choose an answer" if question.required else None)
    ...         return (value, None) if value in ("Yes", "No") else (None, f"{value!r} is not Yes or No")
    ...     def simulate_answer(self, question, rng, survey=None): return rng.choice(["Yes", "No"])
    >>> YesNo().clean(None, "Maybe", None)
    (None, "'Maybe' is not Yes or No")
    """

    name: ClassVar[str] = ""
    macro: ClassVar[str] = ""
    needs_options: ClassVar[bool] = False
    needs_items: ClassVar[bool] = False

    def check(self, question: Question) -> None:
        """Refuse a question definition this kind cannot ask (raise ``ValueError`` naming the question).

        Example
        -------
        >>> from pluralis.collect.questions import get_question_kind
        >>> from pluralis.collect.config import Question
        >>> get_question_kind("text").check(Question(id="q", text="Why?", kind="text"))
        """
        if self.needs_options and not question.options:
            raise ValueError(f"question {question.id!r}: kind {self.name!r} needs options")
        if self.needs_items and not question.items:
            raise ValueError(f"question {question.id!r}: kind {self.name!r} needs items")

    def choices(self, question: Question) -> list[tuple[str, str]]:
        """``(value, label)`` pairs a choice macro (``radio_question``) offers; default: the options.

        Example
        -------
        >>> from pluralis.collect.questions import get_question_kind
        >>> from pluralis.collect.config import Question
        >>> get_question_kind("single").choices(Question(id="q", text="?", kind="single", options=["a", "b"]))
        [('a', 'a'), ('b', 'b')]
        """
        return [(o, o) for o in question.options]

    def from_form(self, question: Question, form: Mapping[str, Any], getlist: Callable[[str], list[str]]) -> Any:
        """The answer in a submitted survey page (``form.get(name)``, ``getlist(name)`` for repeated fields);
        default: the field named like the question.

        Example
        -------
        >>> from pluralis.collect.questions import get_question_kind
        >>> from pluralis.collect.config import Question
        >>> q = Question(id="q", text="?", kind="single", options=["a"])
        >>> get_question_kind("single").from_form(q, {"q": "a"}, lambda k: [])
        'a'
        """
        return form.get(question.id)

    def clean(self, question: Question, value: Any, survey: CountryList | None) -> Cleaned:
        """Validate and normalise one submitted answer.

        Parameters
        ----------
        question
            The question answered.
        value
            The answer as submitted (shapes by kind: see
            :meth:`pluralis.collect.protocol.ProtocolSession.submit_survey_section`).
        survey
            The study's survey config (for study-wide lists such as the countries).

        Returns
        -------
        tuple
            ``(normalised answer, None)``, or ``(None, error message)``; ``(None, None)`` is a skipped
            optional question.

        Example
        -------
        >>> from pluralis.collect.questions import get_question_kind
        >>> from pluralis.collect.config import Question
        >>> get_question_kind("single").clean(Question(id="q", text="?", kind="single", options=["a"]), "b", None)
        (None, "'b' is not one of the options")
        """
        raise NotImplementedError(f"question kind {self.name!r} does not define clean()")

    def simulate_answer(self, question: Question, rng: random.Random, survey: CountryList | None = None) -> Any:
        """A plausible valid answer for a simulated participant (drawn with ``rng``).

        Example
        -------
        >>> import random
        >>> from pluralis.collect.questions import get_question_kind
        >>> from pluralis.collect.config import Question
        >>> q = Question(id="q", text="?", kind="single", options=["a", "b"])
        >>> get_question_kind("single").simulate_answer(q, random.Random(0)) in ("a", "b")
        True
        """
        raise NotImplementedError(f"question kind {self.name!r} does not define simulate_answer()")

    def __repr__(self) -> str:
        return f"<question kind {self.name!r}>"


__all__ = ["Cleaned", "CountryList", "QuestionKind", "clean_text", "is_empty", "optional_text", "substantive_options"]
