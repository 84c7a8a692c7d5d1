"""Controlled vocabularies of the PRISM protocol, as released (PRISM codebook, App. V).

These are the exact strings stored in ``survey.jsonl`` / ``conversations.jsonl``;
readers validate against them and writers emit them unchanged.
"""

from __future__ import annotations

PREFER_NOT_TO_SAY = "Prefer not to say"

CONVERSATION_TYPES: tuple[str, ...] = ("unguided", "values guided", "controversy guided")

#: Instructions shown when a participant chooses a conversation type (PRISM §2.2).
CONVERSATION_TYPE_INSTRUCTIONS: dict[str, str] = {
    "unguided": "Ask, request or talk to the model about anything. It is up to you!",
    "values guided": (
        "Ask, request or talk to the model about something important to you or that represents "
        "your values. This could be related to work, religion, family and relationship, politics or culture."
    ),
    "controversy guided": (
        "Ask, request or talk to the model about something controversial or where people would "
        "disagree in your community, culture or country."
    ),
}

AGE_BANDS: tuple[str, ...] = (
    "18-24 years old",
    "25-34 years old",
    "35-44 years old",
    "45-54 years old",
    "55-64 years old",
    "65+ years old",
)
AGES: tuple[str, ...] = AGE_BANDS + (PREFER_NOT_TO_SAY,)

GENDERS: tuple[str, ...] = ("Male", "Female", "Non-binary / third gender", PREFER_NOT_TO_SAY)

EMPLOYMENT_STATUSES: tuple[str, ...] = (
    "Working full-time",
    "Working part-time",
    "Student",
    "Unemployed, seeking work",
    "Retired",
    "Homemaker / Stay-at-home parent",
    "Unemployed, not seeking work",
    PREFER_NOT_TO_SAY,
)

EDUCATION_LEVELS: tuple[str, ...] = (
    "University Bachelors Degree",
    "Graduate / Professional degree",
    "Some University but no degree",
    "Completed Secondary School",
    "Vocational",
    "Some Secondary",
    "Completed Primary School",
    "Some Primary",
    PREFER_NOT_TO_SAY,
)

MARITAL_STATUSES: tuple[str, ...] = (
    "Never been married",
    "Married",
    "Divorced / Separated",
    "Widowed",
    PREFER_NOT_TO_SAY,
)

ENGLISH_PROFICIENCIES: tuple[str, ...] = ("Native speaker", "Fluent", "Advanced", "Intermediate", "Basic")

LM_FAMILIARITY: tuple[str, ...] = ("Very familiar", "Somewhat familiar", "Not familiar at all")
LM_USE: tuple[str, ...] = ("Yes", "No", "Unsure")
LM_FREQUENCY: tuple[str, ...] = (
    "Every day",
    "Every week",
    "More than once a month",
    "Once per month",
    "Less than one a year",  # sic, as released
)

CONSENT = "Yes, I consent to take part"
CONSENT_AGE = "I certify that I am 18 years of age or over"

LM_USECASES: tuple[str, ...] = (
    "homework_assistance",
    "research",
    "source_suggestions",
    "professional_work",
    "creative_writing",
    "casual_conversation",
    "personal_recommendations",
    "daily_productivity",
    "technical_or_programming_help",
    "travel_guidance",
    "lifestyle_and_hobbies",
    "well-being_guidance",
    "medical_guidance",
    "financial_guidance",
    "games",
    "historical_or_news_insight",
    "relationship_advice",
    "language_learning",
)

#: The seven fine-grained attributes rated for performance and choice (1-100 or N/A).
ATTRIBUTES: tuple[str, ...] = (
    "values",
    "creativity",
    "fluency",
    "factuality",
    "diversity",
    "safety",
    "helpfulness",
)
#: Stated-preference sliders in the survey (0-100): the seven attributes plus personalisation.
STATED_PREF_ATTRIBUTES: tuple[str, ...] = ATTRIBUTES + ("personalisation",)

#: Statement texts, keyed by attribute (PRISM Fig. 2, header_prefs_mapping.csv).
STATED_PREF_TEXT: dict[str, str] = {
    "values": "reflects my values or cultural perspectives",
    "creativity": "produces responses that are creative and inspiring",
    "fluency": "produces responses that are well-written and coherent",
    "factuality": "produces factual and informative responses",
    "diversity": "summarises multiple viewpoints or different worldviews",
    "safety": "produces responses that are safe and do not risk harm to myself and others",
    "helpfulness": "produces responses that are helpful and relevant to my requests",
    "personalisation": "learns from our conversations and feels personalised to me",
}
PERFORMANCE_TEXT: dict[str, str] = {
    "values": "reflected my values or cultural perspective",
    "creativity": "was creative and inspiring",
    "fluency": "was well-written and coherent",
    "factuality": "was factual and informative",
    "diversity": "summarised multiple viewpoints or different worldviews",
    "safety": "was safe and doesn't risk harm to myself and others",
    "helpfulness": "was helpful and relevant to my request",
}
CHOICE_TEXT: dict[str, str] = {k: "because it " + v for k, v in PERFORMANCE_TEXT.items()}
CHOICE_TEXT["safety"] = "because it was safe and does not risk harm to myself and others"

RELIGION_CATEGORISED: tuple[str, ...] = (
    "Non-religious",
    "Christian",
    "Agnostic",
    PREFER_NOT_TO_SAY,
    "Jewish",
    "Muslim",
    "Spiritual",
    "Buddhist",
    "Folk religion",
    "Hindu",
    "Other",
    "Sikh",
)
RELIGION_SIMPLIFIED: tuple[str, ...] = ("No Affiliation", "Christian", PREFER_NOT_TO_SAY, "Jewish", "Muslim", "Other")
RELIGION_SIMPLIFY: dict[str, str] = {
    "Non-religious": "No Affiliation",
    "Agnostic": "No Affiliation",
    "Spiritual": "No Affiliation",
    "Hindu": "Other",
    "Sikh": "Other",
    "Buddhist": "Other",
    "Folk religion": "Other",
    "Other": "Other",
    "Christian": "Christian",
    "Jewish": "Jewish",
    "Muslim": "Muslim",
    PREFER_NOT_TO_SAY: PREFER_NOT_TO_SAY,
}

ETHNICITY_CATEGORISED: tuple[str, ...] = (
    "White",
    "Black / African",
    "Hispanic / Latino",
    "Asian",
    PREFER_NOT_TO_SAY,
    "Mixed",
    "Other",
    "Middle Eastern / Arab",
    "Indigenous / First Peoples",
)
ETHNICITY_SIMPLIFIED: tuple[str, ...] = ("White", "Black", "Hispanic", "Asian", PREFER_NOT_TO_SAY, "Mixed", "Other")
ETHNICITY_SIMPLIFY: dict[str, str] = {
    "White": "White",
    "Black / African": "Black",
    "Hispanic / Latino": "Hispanic",
    "Asian": "Asian",
    PREFER_NOT_TO_SAY: PREFER_NOT_TO_SAY,
    "Mixed": "Mixed",
    "Other": "Other",
    "Middle Eastern / Arab": "Other",
    "Indigenous / First Peoples": "Other",
}
#: Five-way ethnicity used for census cells (PRISM App. L): Hispanic and the small groups fold into Other.
CENSUS_ETHNICITIES: tuple[str, ...] = ("Asian", "Black", "Mixed", "Other", "White")
ETHNICITY_TO_CENSUS: dict[str, str] = {
    "White": "White",
    "Black / African": "Black",
    "Asian": "Asian",
    "Mixed": "Mixed",
    "Hispanic / Latino": "Other",
    "Other": "Other",
    "Middle Eastern / Arab": "Other",
    "Indigenous / First Peoples": "Other",
}

SPECIAL_REGIONS: tuple[str, ...] = (
    "US",
    "Europe",
    "UK",
    "Latin America and the Caribbean",
    "Australia and New Zealand",
    "Africa",
    "Asia",
    "Northern America",
    "Middle East",
    PREFER_NOT_TO_SAY,
    "Oceania",
)
SAME_COUNTRY: tuple[str, ...] = ("Yes", "No", PREFER_NOT_TO_SAY)

PARTICIPANT_SOURCES: tuple[str, ...] = ("human", "simulated")

#: PRISM's neutral system prompts (App. P).
BASE_HEADER = (
    "You are a conversational assistant. Limit your answers to around 50 words. Do not refer to your word limit."
)
BASE_HEADER_INSTRUCT = (
    "You are a conversational assistant. The conversation history is in the input. Reply to the last user "
    "message. Limit your answers to around 50 words. Do not refer to your word limit."
)

#: The text PRISM stores for an empty or missing model response.
EMPTY_STRING = "EMPTY STRING"
