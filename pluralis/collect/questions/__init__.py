"""Survey question kinds: one registered object per kind, one file per kind.

A kind (:class:`~pluralis.collect.questions.base.QuestionKind`) checks a study's question of that kind,
turns a submitted form into an answer, validates and normalises the answer, names the macro of
``pluralis/web/templates/macros.html`` that renders it, and answers it for a simulated participant.
The protocol engine, the web app, the survey page and the simulated participants all go through the
kind, so a new kind is one file:

==============  ===========================================================================
``single``      one of ``options`` (radio buttons)                       (:mod:`.single`)
``multi``       any of ``items`` (checkboxes) with an optional typed "Other" (:mod:`.multi`)
``category``    one of ``options`` plus an optional self-description     (:mod:`.category`)
``country``     one of the study's countries or "Prefer not to say"      (:mod:`.country`)
``text``        free text, ``min_chars``-``max_chars``                   (:mod:`.text`)
``vas``         hidden-number sliders, one per ``items`` entry           (:mod:`.vas`)
``attention``   an attention check: one of ``options``, ``expected`` passes (:mod:`.attention`)
==============  ===========================================================================

:data:`~pluralis.collect.questions.builtin.BUILTIN_QUESTIONS` is the one table of the question ids that
fill PRISM survey fields (their kinds and rules); the texts of PRISM's survey live in the shipped study,
``pluralis/collect/defaults/prism_study.toml``.

Example
-------
>>> import random
>>> from pluralis.collect.config import Question
>>> class Likert5(QuestionKind):
...     name, macro = "likert5_example", "radio_question"
...     def choices(self, question):
...         return [(str(i), str(i)) for i in range(1, 6)]
...     def clean(self, question, value, survey):
...         if is_empty(value):
...             return None, ("choose an answer" if question.required else None)
...         return (int(value), None) if str(value) in "12345" else (None, "choose 1-5")
...     def simulate_answer(self, question, rng, survey=None):
...         return rng.randint(1, 5)
>>> _ = register_question_kind(Likert5())
>>> q = Question(id="mood", text="How do you feel?", kind="likert5_example")
>>> q.question_kind.clean(q, "4", None), 1 <= simulate_answer(q, random.Random(0)) <= 5
((4, None), True)
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from pluralis.collect.questions.base import QuestionKind, clean_text, is_empty, optional_text
from pluralis.collect.questions.builtin import BUILTIN_QUESTIONS, BuiltinQuestion
from pluralis.collect.questions.registry import get_question_kind, question_kinds, register_question_kind

if TYPE_CHECKING:
    from pluralis.collect.config import Question, SurveyConfig, SurveySection


def simulate_answer(question: Question, rng: random.Random, survey: SurveyConfig | None = None) -> Any:
    """A plausible valid answer to ``question`` for a simulated participant (by its kind).

    Parameters
    ----------
    question
        The question.
    rng
        Where the randomness comes from (a seeded :class:`random.Random` gives the same answer again).
    survey
        The study's survey (its country list, for ``country`` questions).

    Example
    -------
    >>> import random
    >>> from pluralis.collect.config import Question
    >>> q = Question(id="pets", text="Which pets?", kind="multi", items={"cat": "Cat", "dog": "Dog"})
    >>> set(simulate_answer(q, random.Random(3))["selected"]) <= {"cat", "dog"}
    True
    """
    return question.question_kind.simulate_answer(question, rng, survey)


def fill_survey_answers(
    survey: SurveyConfig, answers: Mapping[str, Any], rng: random.Random, *, only: Iterable[str] | None = None
) -> dict[str, Any]:
    """``answers`` completed with a simulated answer to every question they do not answer.

    Simulated participants know how to answer PRISM's built-in questions from their persona; any other
    question of a study (a custom question of any kind) is answered by its kind. Answers already given
    are kept as they are.

    Parameters
    ----------
    survey
        The study's survey.
    answers
        Answers by question id (a missing key is "not answered"; a ``None`` value is kept).
    rng
        Where the simulated answers' randomness comes from.
    only
        Answer only these question ids (default: every question of the survey).

    Returns
    -------
    dict
        A new dict of answers.

    Example
    -------
    >>> import random
    >>> from pluralis.collect.config import StudyConfig
    >>> from pluralis.collect.protocol import example_survey_answers
    >>> cfg = StudyConfig()
    >>> given = example_survey_answers(); del given["age"]
    >>> full = fill_survey_answers(cfg.survey, given, random.Random(0))
    >>> full["age"] in cfg.survey.question("age").options, full["gender"] == given["gender"]
    (True, True)
    """
    out = dict(answers)
    wanted = set(only) if only is not None else None
    for section in survey.sections:
        for q in section.questions:
            if q.id not in out and (wanted is None or q.id in wanted):
                out[q.id] = simulate_answer(q, rng, survey)
    return out


def answers_from_form(
    section: SurveySection, form: Mapping[str, Any], getlist: Callable[[str], list[str]]
) -> dict[str, Any]:
    """Answers to a survey page from its submitted form (each question's kind reads its own fields).

    Parameters
    ----------
    section : SurveySection
        The survey page.
    form : mapping of str to Any
        The submitted form's fields.
    getlist : callable
        Returns every value of a multi-valued field by name (for checkbox questions).

    Returns
    -------
    dict of str to Any
        Question id -> the parsed answer.

    Example
    -------
    >>> from pluralis.collect.config import StudyConfig
    >>> section = StudyConfig().survey.sections[0]
    >>> answers_from_form(section, {"lm_familiarity": "Very familiar"}, lambda k: [])["lm_familiarity"]
    'Very familiar'
    """
    return {q.id: q.question_kind.from_form(q, form, getlist) for q in section.questions}


__all__ = [
    "BUILTIN_QUESTIONS",
    "BuiltinQuestion",
    "QuestionKind",
    "answers_from_form",
    "clean_text",
    "fill_survey_answers",
    "get_question_kind",
    "is_empty",
    "optional_text",
    "question_kinds",
    "register_question_kind",
    "simulate_answer",
]
