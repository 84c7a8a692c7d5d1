"""The built-in survey questions: question ids that fill PRISM survey fields, with their rules (one table).

The questions' texts and options live in the shipped study (``pluralis/collect/defaults/prism_study.toml``);
this table says what a study must respect for the PRISM record to be built: each id's kind(s), whether a
study must ask it (``required``), whether it must stay required for participants (``must_answer``: no
"Prefer not to say" fallback in the record) and the item keys it may use. Every other question id is a
custom question, stored under ``custom_survey`` in the participant record.
"""

from __future__ import annotations

from dataclasses import dataclass

from pluralis.data import vocab


@dataclass(frozen=True)
class BuiltinQuestion:
    """The rules of one built-in question.

    Attributes
    ----------
    kinds
        The kinds it may have; the first is PRISM's.
    required
        A study must ask it (the PRISM record cannot be built without it).
    must_answer
        It must be ``required = true`` (the record has no "Prefer not to say" for it).
    items
        The item keys it may use (``None``: any).

    Example
    -------
    >>> BUILTIN_QUESTIONS["gender"].kinds, BUILTIN_QUESTIONS["gender"].kind
    (('single', 'category'), 'single')
    """

    kinds: tuple[str, ...]
    required: bool = True
    must_answer: bool = False
    items: tuple[str, ...] | None = None

    @property
    def kind(self) -> str:
        """PRISM's kind for the question.

        Example
        -------
        >>> BUILTIN_QUESTIONS["stated_prefs"].kind
        'vas'
        """
        return self.kinds[0]


_SINGLE = ("single",)

#: Survey question ids that fill PRISM survey fields. ``gender`` may be ``single`` or ``category``: PRISM
#: offered "Prefer to self-describe"; the self-description is kept in ``custom_survey["gender_self_described"]``
#: and the record's ``gender`` is the chosen category.
BUILTIN_QUESTIONS: dict[str, BuiltinQuestion] = {
    "lm_familiarity": BuiltinQuestion(_SINGLE, must_answer=True),
    "lm_indirect_use": BuiltinQuestion(_SINGLE, must_answer=True),
    "lm_direct_use": BuiltinQuestion(_SINGLE, must_answer=True),
    "lm_frequency_use": BuiltinQuestion(_SINGLE, required=False),
    "lm_usecases": BuiltinQuestion(("multi",), required=False, items=vocab.LM_USECASES),
    "stated_prefs": BuiltinQuestion(("vas",), must_answer=True, items=vocab.STATED_PREF_ATTRIBUTES),
    "system_string": BuiltinQuestion(("text",), must_answer=True),
    "self_description": BuiltinQuestion(("text",), must_answer=True),
    "age": BuiltinQuestion(_SINGLE),
    "gender": BuiltinQuestion(("single", "category")),
    "employment_status": BuiltinQuestion(_SINGLE),
    "education": BuiltinQuestion(_SINGLE),
    "marital_status": BuiltinQuestion(_SINGLE),
    "english_proficiency": BuiltinQuestion(_SINGLE, must_answer=True),
    "birth_country": BuiltinQuestion(("country",), required=False),
    "reside_country": BuiltinQuestion(("country",), required=False),
    "ethnicity": BuiltinQuestion(("category",)),
    "religion": BuiltinQuestion(("category",)),
}


def check_builtin_question(qid: str, kind: str, required: bool, items: list[str]) -> None:
    """Refuse a built-in question that breaks its rules (``ValueError`` naming it); custom ids pass.

    Parameters
    ----------
    qid, kind, required, items
        The question's id, kind, ``required`` flag and item keys.

    Example
    -------
    >>> check_builtin_question("my_question", "text", False, [])
    >>> check_builtin_question("age", "text", True, [])
    Traceback (most recent call last):
    ...
    ValueError: survey question 'age' must have kind 'single', not 'text'
    """
    rule = BUILTIN_QUESTIONS.get(qid)
    if rule is None:
        return
    if kind not in rule.kinds:
        raise ValueError(f"survey question {qid!r} must have kind {rule.kind!r}, not {kind!r}")
    unknown = [k for k in items if rule.items is not None and k not in rule.items]
    if unknown:
        raise ValueError(f"survey question {qid!r}: unknown item(s) {unknown}; PRISM's are {list(rule.items or ())}")
    if rule.must_answer and not required:
        raise ValueError(f"survey question {qid!r} must be required (the PRISM record needs an answer)")


def missing_builtin_questions(asked: set[str] | list[str]) -> list[str]:
    """The built-in questions a study must ask that ``asked`` lacks (in the table's order).

    Parameters
    ----------
    asked : set or list of str
        Ids of the questions the study asks.

    Returns
    -------
    list of str
        Ids of required built-in questions not in ``asked``.

    Example
    -------
    >>> missing_builtin_questions(set(BUILTIN_QUESTIONS) - {"age", "lm_usecases"})
    ['age']
    """
    return [qid for qid, rule in BUILTIN_QUESTIONS.items() if rule.required and qid not in asked]


__all__ = ["BUILTIN_QUESTIONS", "BuiltinQuestion", "check_builtin_question", "missing_builtin_questions"]
