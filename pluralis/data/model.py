"""The Pluralis data model: validated records for PRISM-style studies and generic comparisons.

Records follow the released PRISM schema (codebook, App. V of the paper) field for field,
so a PRISM file reads into records and writes back unchanged. Fields that are not part of
PRISM (``source``, ``persona``) are optional extensions: they are only written when set.

Unknown extra keys are kept (``extra="allow"``) so newer or richer files survive a round trip;
keys inside the closed dictionaries (attribute ratings) are checked, so a typo is an error.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, field_validator, model_validator

from pluralis.data import vocab

# --- building blocks -----------------------------------------------------------------------------

Score = Annotated[StrictInt, Field(ge=1, le=100, description="Cardinal rating, 1-100 (VAS, number hidden)")]
#: Two :data:`Score` ratings at most this far apart are a tie (PRISM's ranking default, spec §6.3: t = 5).
SCORE_TIE_THRESHOLD = 5.0
AttributeScore = Annotated[float, Field(ge=1, le=100)]
StatedScore = Annotated[float, Field(ge=0, le=100)]
Flag = StrictBool | StrictInt | None


def _one_of(allowed: tuple[str, ...], name: str):
    def check(value: Any) -> Any:
        if value is not None and value not in allowed:
            shown = ", ".join(repr(a) for a in allowed)
            raise ValueError(f"unknown {name} {value!r}; expected one of {shown}")
        return value

    return check


class Record(BaseModel):
    """Base of every record: keeps unknown keys, validates on assignment.

    Example
    -------
    >>> UserTurn(turn=0, role="user", content="Hi", lang="en").to_json_dict()["lang"]   # unknown keys survive
    'en'
    """

    model_config = ConfigDict(extra="allow", validate_assignment=True, populate_by_name=True)

    def to_json_dict(self) -> dict[str, Any]:
        """Return the record as plain JSON types, omitting optional fields that were never set.

        Returns
        -------
        dict

        Example
        -------
        >>> UserTurn(turn=0, role="user", content="Hi").to_json_dict()
        {'turn': 0, 'role': 'user', 'content': 'Hi'}
        """
        return self.model_dump(mode="json", exclude_unset=True, by_alias=True)


# --- survey --------------------------------------------------------------------------------------


class LmUsecases(Record):
    """Which LLM use cases a participant selected (True/1 selected, False/0 seen, None not shown).

    Example
    -------
    >>> LmUsecases.model_validate({"research": 1, "well-being_guidance": False}).well_being_guidance
    False
    """

    homework_assistance: Flag = None
    research: Flag = None
    source_suggestions: Flag = None
    professional_work: Flag = None
    creative_writing: Flag = None
    casual_conversation: Flag = None
    personal_recommendations: Flag = None
    daily_productivity: Flag = None
    technical_or_programming_help: Flag = None
    travel_guidance: Flag = None
    lifestyle_and_hobbies: Flag = None
    well_being_guidance: Flag = Field(None, alias="well-being_guidance")
    medical_guidance: Flag = None
    financial_guidance: Flag = None
    games: Flag = None
    historical_or_news_insight: Flag = None
    relationship_advice: Flag = None
    language_learning: Flag = None
    other: Flag = None
    other_text: str | None = None


class StatedPrefs(Record):
    """Stated importance of model behaviours, 0-100 visual analogue scales (Qualtrics).

    Example
    -------
    >>> StatedPrefs(values=54, safety=80.5).safety
    80.5
    """

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    values: StatedScore | None = None
    creativity: StatedScore | None = None
    fluency: StatedScore | None = None
    factuality: StatedScore | None = None
    diversity: StatedScore | None = None
    safety: StatedScore | None = None
    personalisation: StatedScore | None = None
    helpfulness: StatedScore | None = None
    other: StatedScore | None = None
    other_text: str | None = None


class SelfDescribed(Record):
    """A self-described demographic with its coarse categories (ethnicity or religion).

    Example
    -------
    >>> Ethnicity(self_described="white british", categorised="White", simplified="White").simplified
    'White'
    """

    self_described: str | None = None
    categorised: str | None = None
    simplified: str | None = None


class Ethnicity(SelfDescribed):
    """Ethnicity with PRISM's categories (``categorised``, ``simplified`` checked against the codebook).

    Example
    -------
    >>> Ethnicity(categorised="White", simplified="White", self_described="white").simplified
    'White'
    """

    _check_cat = field_validator("categorised")(_one_of(vocab.ETHNICITY_CATEGORISED, "ethnicity category"))
    _check_simple = field_validator("simplified")(_one_of(vocab.ETHNICITY_SIMPLIFIED, "simplified ethnicity"))


class Religion(SelfDescribed):
    """Religion with PRISM's categories (``categorised``, ``simplified`` checked against the codebook).

    Example
    -------
    >>> Religion(categorised="Agnostic", simplified="No Affiliation").categorised
    'Agnostic'
    """

    _check_cat = field_validator("categorised")(_one_of(vocab.RELIGION_CATEGORISED, "religion category"))
    _check_simple = field_validator("simplified")(_one_of(vocab.RELIGION_SIMPLIFIED, "simplified religion"))


class Location(Record):
    """Country of birth and residence with UN regions and PRISM's ``special_region``.

    Example
    -------
    >>> Location(birth_countryISO="GBR", special_region="UK").special_region
    'UK'
    """

    birth_country: str | None = None
    birth_countryISO: str | None = None
    birth_region: str | None = None
    birth_subregion: str | None = None
    reside_country: str | None = None
    reside_countryISO: str | None = None
    reside_region: str | None = None
    reside_subregion: str | None = None
    same_birth_reside_country: str | None = None
    special_region: str | None = None

    _check_same = field_validator("same_birth_reside_country")(_one_of(vocab.SAME_COUNTRY, "answer"))
    _check_region = field_validator("special_region")(_one_of(vocab.SPECIAL_REGIONS, "special region"))


class Participant(Record):
    """One row of ``survey.jsonl``: a participant's profile, stated preferences and sample flags.

    ``source`` and ``persona`` are Pluralis extensions: ``source="simulated"`` marks synthetic
    participants, ``persona`` holds their generating traits.

    Example
    -------
    >>> from pluralis.data.synthetic import generate_study
    >>> p = generate_study(n_participants=2, seed=0).survey[0]
    >>> p.age in vocab.AGES
    True
    """

    user_id: str
    survey_only: StrictBool
    num_completed_conversations: StrictInt
    consent: str
    consent_age: str
    lm_familiarity: str
    lm_indirect_use: str
    lm_direct_use: str
    lm_frequency_use: str | None
    lm_usecases: LmUsecases | None
    order_lm_usecases: dict[str, int | float | None] | None
    stated_prefs: StatedPrefs
    order_stated_prefs: dict[str, int | float | None] | None
    self_description: str
    system_string: str
    age: str
    gender: str
    employment_status: str
    education: str
    marital_status: str
    english_proficiency: str
    religion: Religion
    ethnicity: Ethnicity
    location: Location
    study_id: str
    study_locale: str
    generated_datetime: str
    timing_duration_s: float | None
    timing_duration_mins: float | None
    included_in_UK_REP: StrictBool
    included_in_US_REP: StrictBool
    included_in_balanced_subset: StrictBool
    # Pluralis extensions (written only when set)
    source: Literal["human", "simulated"] = "human"
    persona: dict[str, Any] | None = None

    _c1 = field_validator("consent")(_one_of((vocab.CONSENT,), "consent answer"))
    _c2 = field_validator("consent_age")(_one_of((vocab.CONSENT_AGE,), "age consent answer"))
    _c3 = field_validator("lm_familiarity")(_one_of(vocab.LM_FAMILIARITY, "familiarity"))
    _c4 = field_validator("lm_indirect_use", "lm_direct_use")(_one_of(vocab.LM_USE, "answer"))
    _c5 = field_validator("lm_frequency_use")(_one_of(vocab.LM_FREQUENCY, "frequency"))
    _c6 = field_validator("age")(_one_of(vocab.AGES, "age band"))
    _c7 = field_validator("gender")(_one_of(vocab.GENDERS, "gender"))
    _c8 = field_validator("employment_status")(_one_of(vocab.EMPLOYMENT_STATUSES, "employment status"))
    _c9 = field_validator("education")(_one_of(vocab.EDUCATION_LEVELS, "education level"))
    _c10 = field_validator("marital_status")(_one_of(vocab.MARITAL_STATUSES, "marital status"))
    _c11 = field_validator("english_proficiency")(_one_of(vocab.ENGLISH_PROFICIENCIES, "English proficiency"))


# --- conversations -------------------------------------------------------------------------------


class AttributeRatings(Record):
    """Fine-grained ratings of the chosen response, 1-100, ``None`` = N/A (Dynabench).

    Example
    -------
    >>> AttributeRatings(values=74, safety=None).values
    74.0
    """

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    values: AttributeScore | None = None
    creativity: AttributeScore | None = None
    fluency: AttributeScore | None = None
    factuality: AttributeScore | None = None
    diversity: AttributeScore | None = None
    safety: AttributeScore | None = None
    helpfulness: AttributeScore | None = None


class UserTurn(Record):
    """A participant message in ``conversation_history``.

    Example
    -------
    >>> UserTurn(turn=0, role="user", content="Is it ethical to eat meat?").turn
    0
    """

    turn: Annotated[StrictInt, Field(ge=0)]
    role: Literal["user"]
    content: str


class ModelTurn(Record):
    """A model response in ``conversation_history`` with its rating.

    Example
    -------
    >>> ModelTurn(turn=0, role="model", content="It depends.", model_provider="openai", model_name="gpt-4",
    ...           score=72, if_chosen=True, within_turn_id=0).score
    72
    """

    turn: Annotated[StrictInt, Field(ge=0)]
    role: Literal["model"]
    content: str
    model_provider: str
    model_name: str
    score: Score
    if_chosen: StrictBool
    within_turn_id: StrictInt


HistoryItem = Annotated[UserTurn | ModelTurn, Field(discriminator="role")]


class Conversation(Record):
    """One row of ``conversations.jsonl``: a multi-turn conversation with its ratings and feedback.

    Example
    -------
    >>> from pluralis.data.synthetic import generate_study
    >>> c = generate_study(n_participants=1, seed=0).conversations[0]
    >>> c.conversation_type in vocab.CONVERSATION_TYPES, c.conversation_history[0].role
    (True, 'user')
    """

    conversation_id: str
    user_id: str
    included_in_balanced_subset: StrictBool
    generated_datetime: str | None
    timing_duration_s: float | None
    timing_duration_mins: float | None
    conversation_type: str
    opening_prompt: str
    conversation_turns: Annotated[StrictInt, Field(ge=1)]
    conversation_history: list[HistoryItem]
    performance_attributes: AttributeRatings | None
    choice_attributes: AttributeRatings | None
    open_feedback: str | None

    _ct = field_validator("conversation_type")(_one_of(vocab.CONVERSATION_TYPES, "conversation type"))


class Utterance(Record):
    """One row of ``utterances.jsonl``: a (prompt, response, score) triple.

    Example
    -------
    >>> from pluralis.data.synthetic import generate_study
    >>> u = generate_study(n_participants=1, seed=0).utterances[0]
    >>> 1 <= u.score <= 100, u.turn
    (True, 0)
    """

    utterance_id: str
    interaction_id: str
    conversation_id: str
    user_id: str
    turn: Annotated[StrictInt, Field(ge=0)]
    within_turn_id: StrictInt
    included_in_balanced_subset: StrictBool
    conversation_type: str
    user_prompt: str
    model_response: str
    model_name: str
    model_provider: str
    score: Score
    if_chosen: StrictBool

    _ct = field_validator("conversation_type")(_one_of(vocab.CONVERSATION_TYPES, "conversation type"))


class Interaction(Record):
    """One participant message and the set of model responses it received (a turn of a conversation).

    Not a released PRISM file: it groups ``utterances.jsonl`` rows by ``interaction_id``
    (see :meth:`pluralis.data.study.Study.interactions`).

    Example
    -------
    >>> from pluralis.data.synthetic import generate_study
    >>> first = generate_study(n_participants=1, seed=0).interactions()[0]
    >>> first.turn, 1 <= len(first.responses) <= 4
    (0, True)
    """

    interaction_id: str
    conversation_id: str
    user_id: str
    turn: Annotated[StrictInt, Field(ge=0)]
    user_prompt: str
    responses: list[Utterance]

    @property
    def chosen(self) -> Utterance | None:
        """The response the participant chose (highest rated); the first if PRISM flagged several.

        Example
        -------
        >>> from pluralis.data.synthetic import generate_study
        >>> interaction = generate_study(n_participants=2, seed=0).interactions()[0]
        >>> interaction.chosen.score == max(u.score for u in interaction.responses)
        True
        """
        return next((u for u in self.responses if u.if_chosen), None)


TEXT_COLUMNS: tuple[str, ...] = ("model_response", "user_prompt", "open_feedback", "self_description", "system_string")


class TextMetadata(Record):
    """One row of ``metadata.jsonl``: language, PII and moderation flags of one text.

    Example
    -------
    >>> m = TextMetadata(column_id="self_description", user_id="user0", conversation_id=None, interaction_id=None,
    ...                  utterance_id=None, pii_flag=False, pii_manual_flag=None, language_flag="en", en_flag=True,
    ...                  moderation_flag={"flagged": False})
    >>> m.en_flag
    True
    """

    column_id: str
    user_id: str
    conversation_id: str | None
    interaction_id: str | None
    utterance_id: str | None
    pii_flag: StrictBool
    pii_manual_flag: float | None
    language_flag: str | None
    en_flag: StrictBool
    moderation_flag: dict[str, Any] | None

    _col = field_validator("column_id")(_one_of(TEXT_COLUMNS, "text column"))


# --- generic comparisons -------------------------------------------------------------------------


class Comparison(Record):
    """A pairwise or k-wise preference judgement from any source (PRISM, Chatbot Arena, Community Alignment).

    ``models`` names the k candidates (model names or candidate labels), ``responses`` their texts.
    The judgement is given by ``winner`` (index into ``models``; ``None`` with ``tie=True`` for a tie,
    ``both_bad=True`` too for Arena's "tie (bothbad)"), and/or ``ranking`` (indices best first), and/or
    cardinal ``ratings`` (one per model). Lengths and indices are checked against ``models``.

    Example
    -------
    >>> c = Comparison(comparison_id="b1", source="arena", models=["gpt-4", "claude-2"], winner=0)
    >>> c.winner_model
    'gpt-4'
    """

    comparison_id: str
    source: str
    models: Annotated[list[str], Field(min_length=2)]
    prompt: str | None = None
    responses: list[str | None] | None = None
    winner: int | None = None
    tie: bool = False
    both_bad: bool = False
    ranking: list[int] | None = None
    ratings: list[float | None] | None = None
    annotator_id: str | None = None
    conversation_id: str | None = None
    turn: int | None = None
    language: str | None = None
    explanation: str | None = None
    timestamp: float | None = None

    @field_validator("winner")
    @classmethod
    def _winner_in_range(cls, v: int | None, info) -> int | None:
        models = info.data.get("models") or []
        if v is not None and not 0 <= v < len(models):
            raise ValueError(f"winner index {v} out of range for {len(models)} models")
        return v

    @model_validator(mode="after")
    def _consistent(self) -> Comparison:
        k = len(self.models)
        for name in ("responses", "ratings"):
            values = getattr(self, name)
            if values is not None and len(values) != k:
                raise ValueError(f"{name} has {len(values)} entries for {k} models")
        if self.ranking is not None:
            if len(set(self.ranking)) != len(self.ranking) or any(not 0 <= r < k for r in self.ranking):
                raise ValueError(f"ranking must list distinct model indices 0..{k - 1}, got {self.ranking}")
        if self.tie and self.winner is not None:
            raise ValueError("a comparison cannot have both a winner and tie=True")
        if self.both_bad and not self.tie:
            raise ValueError("both_bad marks a tie ('tie (bothbad)'); set tie=True")
        return self

    @property
    def winner_model(self) -> str | None:
        """The winning model's name, or ``None`` (tie or no single winner).

        Example
        -------
        >>> Comparison(comparison_id="1", source="x", models=["a", "b"], winner=1).winner_model
        'b'
        """
        return None if self.winner is None else self.models[self.winner]
