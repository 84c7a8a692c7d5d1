"""``country``: one of the study's countries (``[survey] countries``) or "Prefer not to say" (a dropdown)."""

from __future__ import annotations

import random
from typing import TYPE_CHECKING, Any

from pluralis.collect.countries import COUNTRIES
from pluralis.collect.questions.base import Cleaned, CountryList, QuestionKind, is_empty
from pluralis.collect.questions.registry import register_question_kind
from pluralis.data import vocab

if TYPE_CHECKING:
    from pluralis.collect.config import Question


class Country(QuestionKind):
    """A country by its name in the study's country list, or "Prefer not to say".

    Example
    -------
    >>> import random
    >>> from pluralis.collect.config import Question, SurveyConfig
    >>> q, survey = Question(id="q", text="Where?", kind="country"), SurveyConfig()
    >>> Country().clean(q, "Jamaica", survey), Country().clean(q, "Atlantis", survey)
    (('Jamaica', None), (None, "unknown country 'Atlantis'"))
    >>> survey.country(Country().simulate_answer(q, random.Random(0), survey)) is not None
    True
    """

    name = "country"
    macro = "country_question"

    def clean(self, question: Question, value: Any, survey: CountryList | None) -> Cleaned:
        if is_empty(value):
            return None, ("choose a country" if question.required else None)
        known = survey.country(value) is not None if survey is not None else any(c[0] == value for c in COUNTRIES)
        if value != vocab.PREFER_NOT_TO_SAY and not known:
            return None, f"unknown country {value!r}"
        return value, None

    def simulate_answer(self, question: Question, rng: random.Random, survey: CountryList | None = None) -> Any:
        countries = survey.countries if survey is not None and survey.countries else COUNTRIES
        return rng.choice(list(countries))[0]


COUNTRY = register_question_kind(Country())
