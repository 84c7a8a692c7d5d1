"""Texts rendered from persona traits: self-description, "constitution", survey answers, prompts.

Everything is template-based and deterministic given the persona and a seed, so simulated text
is reproducible and its link to the traits is inspectable:

* :func:`self_description` — 3–5 sentences (PRISM's ``self_description`` question): life context,
  the persona's top Schwartz values, faith or secular outlook, personality adjectives (Big Five
  extremes), interests.
* :func:`constitution` — 3–5 sentences (PRISM's ``system_string``: what the AI should be like),
  derived from the persona's preference weights (:mod:`pluralis.simulate.preference`), so the
  stated constitution and the simulated ratings agree.
* :func:`opening_prompt` — unguided prompts from the persona's interests, values-guided prompts
  from its values and faith, controversy-guided prompts on contested topics framed by its
  political lean and country; :func:`follow_up` by communication style.
* :func:`survey_answers` — the full answer set the collection protocol's survey expects.

Example
-------
>>> from pluralis.simulate.generator import generate_personas
>>> p = generate_personas(1, seed=0)
>>> row = p.data.iloc[0].to_dict()
>>> len(self_description(row).split(". ")) >= 3
True
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from typing import Any, cast

import numpy as np
import pandas as pd

from pluralis.census import tables
from pluralis.data import vocab
from pluralis.simulate.traits import BIG_FIVE, GENERATOR_VERSION, INTEREST_NAMES

Row = Mapping[str, Any]

AGE_PHRASE = {
    "18-24 years old": "in my early twenties",
    "25-34 years old": "in my late twenties or early thirties",
    "35-44 years old": "in my late thirties",
    "45-54 years old": "in my late forties",
    "55-64 years old": "in my late fifties",
    "65+ years old": "over 65",
}
EMPLOYMENT_PHRASE = {
    "Working full-time": "I work full-time",
    "Working part-time": "I work part-time",
    "Student": "I'm a student",
    "Unemployed, seeking work": "I'm looking for work at the moment",
    "Retired": "I'm retired",
    "Homemaker / Stay-at-home parent": "I look after our home and family",
    "Unemployed, not seeking work": "I'm not working at the moment",
}
VALUE_SENTENCE = {
    "self-direction": "I value thinking for myself and making my own choices.",
    "stimulation": "I love new experiences and a bit of adventure.",
    "hedonism": "Enjoying life and good times with friends is a big part of who I am.",
    "achievement": "Doing well at work and reaching my goals matters a lot to me.",
    "power": "I want to be in control of my own life and to earn people's respect.",
    "security": "Stability and a safe home for the people I love come first for me.",
    "conformity": "Good manners and respecting the rules keep a community working.",
    "tradition": "Traditions and the customs I grew up with guide how I live.",
    "benevolence": "Being there for my family and friends is what matters most to me.",
    "universalism": "I believe everyone deserves fairness and respect, and I care about the planet.",
}
TRAIT_WORDS = {  # (high, low) adjectives per Big Five trait
    "openness": ("curious", "practical"),
    "conscientiousness": ("organised", "easy-going"),
    "extraversion": ("outgoing", "quiet"),
    "agreeableness": ("kind", "blunt"),
    "neuroticism": ("a worrier", "calm"),
}
RELIGIOUS = {"Christian", "Jewish", "Muslim", "Hindu", "Sikh", "Buddhist", "Folk religion", "Other"}
FAITH_NOUN = {
    "Christian": "Christian",
    "Jewish": "Jew",
    "Muslim": "Muslim",
    "Hindu": "Hindu",
    "Sikh": "Sikh",
    "Buddhist": "Buddhist",
    "Folk religion": "follower of my people's traditional religion",
    "Other": "person of faith",
}


def records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """The rows of a frame with string column names (a panel's ``data``, its weights) as dicts.

    Parameters
    ----------
    frame
        any DataFrame.

    Returns
    -------
    list of dict

    Example
    -------
    >>> records(pd.DataFrame({"a": [1, 2]}))
    [{'a': 1}, {'a': 2}]
    """
    return cast(list[dict[str, Any]], frame.to_dict("records"))


def _interest_list(mask: int) -> list[str]:
    return [name for k, name in enumerate(INTEREST_NAMES) if int(mask) >> k & 1]


def _join(items: list[str]) -> str:
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def _place(row: Row) -> str:
    country = str(row["country"])
    region = str(row.get("region") or "")
    if country == "US":
        return f"the {region} of the United States" if region else "the United States"
    return f"{region}, in the UK" if region and region != "Wales" else ("Wales" if region == "Wales" else "the UK")


def self_description(row: Row, rng: random.Random | None = None) -> str:
    """PRISM-style self-description (values, beliefs, what matters) rendered from a persona row.

    Parameters
    ----------
    row
        a persona's row of a panel.
    rng
        draws the wording (default: seeded by the persona id).

    Returns
    -------
    str

    Example
    -------
    >>> from pluralis.simulate.generator import generate_personas
    >>> "I" in self_description(generate_personas(1, seed=2).data.iloc[0].to_dict())
    True
    """
    rng = rng or random.Random(str(row.get("persona_id")))
    gender = "man" if row["gender"] == "Male" else "woman"
    parts = [
        f"I'm a {gender} {AGE_PHRASE.get(str(row['age']), '')} living in {_place(row)}; "
        f"{EMPLOYMENT_PHRASE.get(str(row['employment_status']), 'I keep busy')}."
    ]
    parts.append(VALUE_SENTENCE[str(row["value_1"])])
    rel = str(row["religion"])
    if rel in RELIGIOUS and float(row["secular"]) < 0.2:
        parts.append(f"As a {FAITH_NOUN[rel]}, my faith shapes how I treat other people.")
    elif rel in ("Non-religious", "Agnostic") and float(row["secular"]) > 0.3:
        parts.append("I'm not religious; I try to base my views on evidence and my own conscience.")
    elif str(row["value_2"]) in VALUE_SENTENCE:
        parts.append(VALUE_SENTENCE[str(row["value_2"])])
    strong: list[tuple[float, str]] = []
    for trait, (hi, lo) in TRAIT_WORDS.items():
        v = float(row[trait])
        if v > 0.7:
            strong.append((v, hi))
        elif v < -0.7:
            strong.append((-v, lo))
    adjectives = [a for _, a in sorted(strong, reverse=True)[:2]]
    if adjectives:
        parts.append(f"People who know me would say I'm {_join(adjectives)}.")
    interests = _interest_list(row["interests"])
    if interests:
        picked = rng.sample(interests, min(3, len(interests)))
        parts.append(f"In my free time I enjoy {_join(picked)}.")
    return " ".join(parts)


def constitution(row: Row, weights: Mapping[str, float]) -> str:
    """What this persona wants from an AI (PRISM's ``system_string``), from its preference weights.

    Parameters
    ----------
    row
        a persona's row of a panel.
    weights
        its :meth:`~pluralis.simulate.preference.PreferenceModel.person_weights` row.

    Returns
    -------
    str

    Example
    -------
    >>> w = {"theta_len": -0.2, "theta_ref": -1.2, "theta_hedge": -0.8, "theta_enum": 0.8, "lambda_stance": 0.0}
    >>> row = {"communication_style": "direct", "political": 0.0, "conscientiousness": 0.5}
    >>> print(constitution(row, w))
    Keep your answers short and to the point. Use lists or steps when you explain something. Don't sit on the fence: give me a straight answer. Don't refuse reasonable questions or lecture me. Be honest and admit when you don't know something.
    """
    out = []
    if weights["theta_len"] < 0.1:
        out.append("Keep your answers short and to the point.")
    elif weights["theta_len"] > 0.6:
        out.append("Give thorough, detailed answers and explain your reasoning.")
    if weights["theta_enum"] > 0.55:
        out.append("Use lists or steps when you explain something.")
    if weights["theta_hedge"] < -0.4:
        out.append("Don't sit on the fence: give me a straight answer.")
    elif weights["theta_hedge"] > 0.15:
        out.append("On difficult topics, present several viewpoints fairly.")
    if weights["theta_ref"] < -1.0:
        out.append("Don't refuse reasonable questions or lecture me.")
    elif weights["theta_ref"] > -0.6:
        out.append("Be careful with risky or harmful topics; it is fine to decline.")
    pol = float(row.get("political", 0.0))
    if pol < -0.8:
        out.append("Treat every group fairly and respect diversity.")
    elif pol > 0.8:
        out.append("Respect traditional values, free speech and people of faith.")
    style = str(row.get("communication_style", ""))
    style_line = {
        "warm": "Be warm and friendly.",
        "formal": "Stay polite and professional.",
        "casual": "Talk to me casually, like a friend would.",
        "direct": "",
        "concise": "",
        "detailed": "",
    }.get(style, "")
    if style_line:
        out.append(style_line)
    out.append(
        "Be honest and admit when you don't know something."
        if float(row.get("conscientiousness", 0)) > -0.5
        else "Be honest with me."
    )
    return " ".join(out[:5])


def render_texts(panel) -> pd.DataFrame:
    """``persona_id``, ``self_description``, ``constitution`` for every persona of a panel.

    Parameters
    ----------
    panel
        a :class:`~pluralis.simulate.generator.PersonaPanel`.

    Returns
    -------
    pandas.DataFrame

    Example
    -------
    >>> from pluralis.simulate.generator import generate_personas
    >>> render_texts(generate_personas(3, seed=0)).shape
    (3, 3)
    """
    from pluralis.simulate.preference import PreferenceModel

    weights = records(PreferenceModel().person_weights(panel.data))
    rows = records(panel.data)
    return pd.DataFrame(
        {
            "persona_id": [r["persona_id"] for r in rows],
            "self_description": [self_description(r) for r in rows],
            "constitution": [constitution(r, w) for r, w in zip(rows, weights)],
        }
    )


# --- survey answers -------------------------------------------------------------------------------


def persona_summary(row: Row, weights: Mapping[str, float] | None = None) -> dict[str, Any]:
    """The persona dict stored in ``Participant.persona`` (plain JSON types).

    Parameters
    ----------
    row
        a persona's row of a panel.
    weights
        its preference weights (adds the texts that depend on them).

    Returns
    -------
    dict

    Example
    -------
    >>> from pluralis.simulate.generator import generate_personas
    >>> sorted(persona_summary(generate_personas(1, seed=0).data.iloc[0].to_dict()))[:3]
    ['big_five', 'census_group', 'communication_style']
    """
    out: dict[str, Any] = {
        "persona_id": str(row["persona_id"]),
        "generator": GENERATOR_VERSION,
        "country": str(row["country"]),
        "region": str(row["region"]),
        "census_group": str(row["census_group"]),
        "ethnicity_census": str(row["ethnicity"]),
        "big_five": {t: round(float(row[t]), 3) for t in BIG_FIVE},
        "inglehart_welzel": {
            "secular": round(float(row["secular"]), 3),
            "self_expression": round(float(row["self_expression"]), 3),
        },
        "political_lean": round(float(row["political"]), 3),
        "schwartz_values": [str(row["value_1"]), str(row["value_2"])],
        "interests": _interest_list(row["interests"]),
        "communication_style": str(row["communication_style"]),
        "scale_use": {"center": round(float(row["rating_center"]), 2), "spread": round(float(row["rating_spread"]), 3)},
    }
    if weights is not None:
        out["preference_weights"] = {k: round(float(v), 4) for k, v in weights.items() if k not in ("center", "spread")}
    return out


def survey_answers(row: Row, weights: Mapping[str, float]) -> dict[str, Any]:
    """Answers to the collection protocol's PRISM survey (shapes of ``pluralis.collect.protocol``).

    Parameters
    ----------
    row : Row
        The persona (a row of :func:`pluralis.simulate.generator.generate_personas`'s data).
    weights : mapping of str to float
        The persona's preference weights (from :meth:`PreferenceModel.person_weights`).

    Returns
    -------
    dict of str to Any
        Question id -> answer, in the protocol's shapes.

    Example
    -------
    >>> from pluralis.simulate.generator import generate_personas
    >>> from pluralis.simulate.preference import PreferenceModel
    >>> p = generate_personas(1, seed=0)
    >>> w = PreferenceModel().person_weights(p.data).iloc[0].to_dict()
    >>> a = survey_answers(p.data.iloc[0].to_dict(), w)
    >>> a["reside_country"], a["age"] == str(p.data["age"].iloc[0])
    ('United States', True)
    """
    rng = random.Random(f"survey:{row['persona_id']}")
    country = tables.COUNTRY_INFO[str(row["country"])][0]
    uses = [k for i, k in enumerate(vocab.LM_USECASES) if int(row["usecases"]) >> i & 1]
    group = str(row["census_group"])
    eth_cat, phrasings = tables.CENSUS_GROUP_ETHNICITY[group]
    rel = str(row["religion"])
    freq = row.get("lm_frequency_use")
    answers: dict[str, Any] = {
        "lm_familiarity": str(row["lm_familiarity"]),
        "lm_indirect_use": str(row["lm_indirect_use"]),
        "lm_direct_use": str(row["lm_direct_use"]),
        "lm_frequency_use": None if freq is None or (isinstance(freq, float) and np.isnan(freq)) else str(freq),
        "lm_usecases": {"selected": uses, "other_text": None},
        "stated_prefs": {a: int(row[f"stated_prefs_{a}"]) for a in vocab.STATED_PREF_ATTRIBUTES},
        "system_string": constitution(row, weights),
        "self_description": self_description(row),
        "age": str(row["age"]),
        "gender": str(row["gender"]),
        "employment_status": str(row["employment_status"]),
        "education": str(row["education"]),
        "marital_status": str(row["marital_status"]),
        "english_proficiency": str(row["english_proficiency"]),
        "birth_country": country,
        "reside_country": country,
        "ethnicity": {"category": eth_cat, "self_described": rng.choice(phrasings)},
        "religion": {"category": rel, "self_described": None if rel == "Non-religious" else rel.lower()},
    }
    return answers


def participants_from_panel(panel, *, study_id: str = "pluralis-sim", survey_only: bool = False) -> list:
    """PRISM survey records for every persona of a panel (no conversations; see the module docs).

    Parameters
    ----------
    panel
        a :class:`~pluralis.simulate.generator.PersonaPanel`.
    study_id
        prefix of the study ids.
    survey_only
        mark everyone as survey-only.

    Returns
    -------
    list of pluralis.data.Participant

    Example
    -------
    >>> from pluralis.simulate.generator import generate_personas
    >>> ps = participants_from_panel(generate_personas(2, country="UK", seed=0))
    >>> ps[0].location.special_region, ps[0].study_locale
    ('UK', 'uk')
    """
    from pluralis.data.model import Participant
    from pluralis.simulate.preference import PreferenceModel

    weights = records(PreferenceModel().person_weights(panel.data))
    out = []
    for row, w in zip(records(panel.data), weights):
        a = survey_answers(row, w)
        name, iso, region, subregion, special, locale = tables.COUNTRY_INFO[str(row["country"])]
        eth = a["ethnicity"]["category"]
        rel = a["religion"]["category"]
        usage = a["lm_frequency_use"] is not None
        data = {
            "user_id": str(row["persona_id"]),
            "survey_only": survey_only,
            "num_completed_conversations": 0,
            "consent": vocab.CONSENT,
            "consent_age": vocab.CONSENT_AGE,
            "lm_familiarity": a["lm_familiarity"],
            "lm_indirect_use": a["lm_indirect_use"],
            "lm_direct_use": a["lm_direct_use"],
            "lm_frequency_use": a["lm_frequency_use"],
            "lm_usecases": (
                {
                    **{k: k in a["lm_usecases"]["selected"] for k in vocab.LM_USECASES},
                    "other": False,
                    "other_text": None,
                }
                if usage
                else None
            ),
            "order_lm_usecases": (
                {**{k: i + 1 for i, k in enumerate(vocab.LM_USECASES)}, "other": 19} if usage else None
            ),
            "stated_prefs": {**{k: float(v) for k, v in a["stated_prefs"].items()}, "other": None, "other_text": None},
            "order_stated_prefs": {**{k: i + 1 for i, k in enumerate(vocab.STATED_PREF_ATTRIBUTES)}, "other": 9},
            "self_description": a["self_description"],
            "system_string": a["system_string"],
            "age": a["age"],
            "gender": a["gender"],
            "employment_status": a["employment_status"],
            "education": a["education"],
            "marital_status": a["marital_status"],
            "english_proficiency": a["english_proficiency"],
            "religion": {
                "self_described": (a["religion"]["self_described"] or rel).lower(),
                "categorised": rel,
                "simplified": vocab.RELIGION_SIMPLIFY[rel],
            },
            "ethnicity": {
                "self_described": a["ethnicity"]["self_described"],
                "categorised": eth,
                "simplified": vocab.ETHNICITY_SIMPLIFY[eth],
            },
            "location": {
                "birth_country": name,
                "birth_countryISO": iso,
                "birth_region": region,
                "birth_subregion": subregion,
                "reside_country": name,
                "reside_countryISO": iso,
                "reside_region": region,
                "reside_subregion": subregion,
                "same_birth_reside_country": "Yes",
                "special_region": special,
            },
            "study_id": f"{study_id}-{locale}",
            "study_locale": locale,
            "generated_datetime": "2024-01-01 00:00:00",
            "timing_duration_s": None,
            "timing_duration_mins": None,
            "included_in_UK_REP": False,
            "included_in_US_REP": False,
            "included_in_balanced_subset": False,
            "source": "simulated",
            "persona": persona_summary(row, w),
        }
        out.append(Participant.model_validate(data))
    return out


# --- conversation texts ---------------------------------------------------------------------------

UNGUIDED: dict[str, tuple[str, ...]] = {
    "cooking": (
        "Can you give me a quick recipe for {dish}?",
        "What can I cook tonight with chicken, rice and spinach?",
    ),
    "gardening": ("When is the best time to plant {plant}?", "How do I stop slugs eating my vegetables?"),
    "sports": ("Who are the favourites to win the next {league}?", "How can I improve my stamina for {sport}?"),
    "video games": ("Can you recommend a game like {game}?", "Is it worth buying a new console this year?"),
    "travel": ("What are some good places to visit in {place}?", "How do I plan a cheap weekend trip to {place}?"),
    "reading": ("Recommend a few books like {book}.", "How can I read more books this year?"),
    "music": ("What are some albums similar to {album}?", "How do I start learning the guitar as an adult?"),
    "film and TV": ("Can you suggest a series like {show}?", "What are the best films of the last few years?"),
    "technology": ("Should I switch from Android to an iPhone?", "How do I keep my home wifi secure?"),
    "fitness": ("Can you make me a simple three-day workout plan?", "How do I start running without getting injured?"),
    "fashion": ("What should I wear to a summer wedding?", "How do I build a capsule wardrobe on a budget?"),
    "politics": ("Can you explain how {institution} works?", "What happened in the news this week?"),
    "history": ("Why did the Roman Empire fall?", "Tell me something surprising about {era}."),
    "science": ("How do black holes form?", "Why is the sky blue?"),
    "faith and spirituality": (
        "Can you suggest a short daily reflection practice?",
        "What does {text} say about forgiveness?",
    ),
    "personal finance": ("How much of my income should I save each month?", "Is it better to pay off debt or invest?"),
    "parenting": (
        "How do I get my toddler to sleep through the night?",
        "How much screen time is okay for a ten-year-old?",
    ),
    "pets": ("How do I stop my dog pulling on the lead?", "What should I know before adopting a cat?"),
    "arts and crafts": (
        "Can you suggest an easy knitting project for a beginner?",
        "How do I start painting with watercolours?",
    ),
    "the outdoors": ("What should I pack for a day hike?", "Where can I go wild swimming safely?"),
    "cars": ("Should my next car be electric?", "How often should I service my car?"),
    "volunteering": (
        "How can I find volunteering opportunities near me?",
        "What skills are useful for volunteering at a food bank?",
    ),
    "board games": ("Can you recommend a board game for four adults?", "Explain the rules of chess castling."),
    "food and restaurants": (
        "What makes a good neighbourhood restaurant?",
        "How do I make restaurant-style pizza at home?",
    ),
}
GENERIC_UNGUIDED = (
    "Tell me a fun fact about octopuses.",
    "Help me write a birthday message for my {relative}.",
    "What's a good way to start the morning?",
)
FILL = {
    "dish": ("banana bread", "vegetable curry", "lasagne", "pad thai"),
    "plant": ("tomatoes", "tulip bulbs", "potatoes"),
    "league": ("Premier League", "Super Bowl", "World Cup"),
    "sport": ("football", "cycling", "tennis"),
    "game": ("Zelda", "Stardew Valley", "FIFA"),
    "place": ("Scotland", "Japan", "Mexico", "Italy", "New England"),
    "book": ("The Hobbit", "Pride and Prejudice", "Project Hail Mary"),
    "album": ("Rumours", "Abbey Road", "Thriller"),
    "show": ("The Office", "Line of Duty", "Breaking Bad"),
    "institution": ("the Supreme Court", "Parliament", "the Fed"),
    "era": ("the Victorian era", "ancient Egypt", "the Cold War"),
    "text": ("the Bible", "the Quran", "the Gita"),
    "relative": ("mother", "brother", "best friend", "grandson"),
}
VALUES_GUIDED: dict[str, tuple[str, ...]] = {
    "self-direction": (
        "How do I decide whether to change career at my age?",
        "Is it selfish to put my own goals first?",
    ),
    "stimulation": ("How can I add more adventure to my life without taking silly risks?",),
    "hedonism": ("Is it wrong to spend money on treats instead of saving?",),
    "achievement": ("How do I ask for a promotion?", "How do I stay motivated when work feels pointless?"),
    "power": ("How do I earn respect as a new manager?",),
    "security": ("How much should I keep in an emergency fund?", "How can I make my family feel safer at home?"),
    "conformity": ("Is it rude to disagree with older relatives at dinner?",),
    "tradition": ("How can I keep our family traditions alive with my children?", "Why do traditions matter?"),
    "benevolence": (
        "How can I support a friend who is grieving?",
        "How do I balance caring for my parents with my own family?",
    ),
    "universalism": (
        "What can one person do about climate change?",
        "How can I treat people fairly when I disagree with them?",
    ),
}
FAITH_PROMPTS = (
    "How can I stay true to my faith at work?",
    "How do I explain my faith to friends who are not religious?",
)
CONTROVERSIES: dict[str, dict[str, str]] = {
    "abortion": {
        "left": "Why are some states restricting abortion rights?",
        "right": "Why do people think abortion is acceptable?",
        "neutral": "What are the main arguments for and against abortion?",
    },
    "guns": {
        "left": "Why is it so hard to pass stricter gun laws?",
        "right": "Why do people want to take away the right to own a gun?",
        "neutral": "Should gun ownership be restricted?",
    },
    "immigration": {
        "left": "How can we make immigration fairer for refugees?",
        "right": "Is immigration too high in this country?",
        "neutral": "Is immigration good for the economy?",
    },
    "climate": {
        "left": "Why aren't governments doing more about climate change?",
        "right": "Is climate change exaggerated by the media?",
        "neutral": "How serious is climate change really?",
    },
    "death penalty": {
        "left": "Should the death penalty be abolished everywhere?",
        "right": "Should the death penalty be used for the worst crimes?",
        "neutral": "Does the death penalty deter crime?",
    },
    "taxes": {
        "left": "Should the rich pay much more tax?",
        "right": "Are taxes too high for working families?",
        "neutral": "What is a fair tax system?",
    },
    "gender": {
        "left": "How can we better support trans people?",
        "right": "Are there only two genders?",
        "neutral": "What do people disagree about when it comes to gender identity?",
    },
    "religion in schools": {
        "left": "Should religion be kept out of schools?",
        "right": "Should schools teach traditional religious values?",
        "neutral": "What role should religion play in schools?",
    },
}
UK_CONTROVERSIES = {
    "monarchy": {
        "left": "Should the UK abolish the monarchy?",
        "right": "Why is the monarchy still important?",
        "neutral": "Is the monarchy good for the UK?",
    },
    "brexit": {
        "left": "Was Brexit a mistake?",
        "right": "What are the benefits of Brexit?",
        "neutral": "What has Brexit changed for ordinary people?",
    },
}
FOLLOW_UPS: dict[str, tuple[str, ...]] = {
    "concise": ("Can you make that shorter?", "Just the key point, please.", "OK. Anything else I should know?"),
    "detailed": ("Can you go into more detail?", "Why is that?", "Can you give me an example?"),
    "casual": ("Cool, what else?", "Haha ok, and what would you do?", "Nice. Any other ideas?"),
    "formal": (
        "Could you elaborate on that point?",
        "What are the main considerations?",
        "Thank you. What would you recommend?",
    ),
    "warm": ("Thank you, that's helpful. What else should I think about?", "That's kind. How would I start?"),
    "direct": ("What is your actual opinion?", "Which option is best?", "Skip the caveats: what should I do?"),
}


def _fill(template: str, rng: random.Random) -> str:
    out = template
    for key, options in FILL.items():
        token = "{" + key + "}"
        if token in out:
            out = out.replace(token, rng.choice(options))
    return out


def lean(row: Row) -> str:
    """``"left"``, ``"right"`` or ``"neutral"`` from the persona's political lean (|lean| > 0.6 SD).

    Parameters
    ----------
    row
        a persona's row (``political``).

    Returns
    -------
    str

    Example
    -------
    >>> lean({"political": 1.2}), lean({"political": 0.1})
    ('right', 'neutral')
    """
    p = float(row.get("political", 0.0))
    return "right" if p > 0.6 else ("left" if p < -0.6 else "neutral")


def opening_prompt(row: Row, conversation_type: str, rng: random.Random) -> str:
    """An opening prompt for a conversation of ``conversation_type`` (see the module docstring).

    Parameters
    ----------
    row
        a persona's row of a panel.
    conversation_type
        one of PRISM's three types.
    rng
        draws the prompt.

    Returns
    -------
    str

    Example
    -------
    >>> opening_prompt({"interests": 1, "value_1": "security", "religion": "Christian", "secular": -1.0,
    ...                 "political": 1.5, "country": "US"}, "controversy guided", random.Random(0)).endswith("?")
    True
    """
    if conversation_type == "unguided":
        interests = _interest_list(row.get("interests", 0))
        if interests and rng.random() < 0.85:
            return _fill(rng.choice(UNGUIDED[rng.choice(interests)]), rng)
        return _fill(rng.choice(GENERIC_UNGUIDED), rng)
    if conversation_type == "values guided":
        if str(row.get("religion")) in RELIGIOUS and float(row.get("secular", 0.0)) < -0.3 and rng.random() < 0.4:
            return rng.choice(FAITH_PROMPTS)
        value = str(row.get("value_1")) if rng.random() < 0.7 else str(row.get("value_2"))
        return rng.choice(VALUES_GUIDED.get(value, VALUES_GUIDED["benevolence"]))
    topics = dict(CONTROVERSIES)
    if str(row.get("country")) == "UK":
        topics.update(UK_CONTROVERSIES)
    topic = rng.choice(sorted(topics))
    side = lean(row)
    if side != "neutral" and rng.random() < 0.3:
        side = "neutral"
    return topics[topic][side]


def follow_up(row: Row, rng: random.Random) -> str:
    """A follow-up message in the persona's communication style.

    Parameters
    ----------
    row
        a persona's row (``communication_style``).
    rng
        draws the message.

    Returns
    -------
    str

    Example
    -------
    >>> follow_up({"communication_style": "direct"}, random.Random(1)) in FOLLOW_UPS["direct"]
    True
    """
    return rng.choice(FOLLOW_UPS.get(str(row.get("communication_style")), FOLLOW_UPS["casual"]))


def open_feedback(
    row: Row, weights: Mapping[str, float], best: np.ndarray, worst: np.ndarray | None, rng: random.Random
) -> str:
    """2–3 sentences of open feedback comparing the best and worst opening responses' features
    (``best``/``worst``: raw style feature vectors of :func:`pluralis.features.response.style_array`).

    Parameters
    ----------
    row
        a persona's row.
    weights
        its preference weights (what it notices).
    best, worst
        style features of the best and worst opening responses (``worst`` may be ``None``).
    rng
        draws the wording.

    Returns
    -------
    str

    Example
    -------
    >>> w = {"theta_len": -0.3, "theta_ref": -1.0, "theta_hedge": -0.5, "theta_enum": 0.5, "lambda_stance": 0.0}
    >>> t = open_feedback({}, w, np.array([1.0, 0, 0, 1, 0]), np.array([1.0, 1, 0, 0, 0]), random.Random(0))
    >>> "refused" in t
    True
    """
    liked, disliked = [], []
    if best[3] > 0 and weights["theta_enum"] > 0.3:
        liked.append("the answer was laid out as a clear list")
    if best[0] < 2.0 and weights["theta_len"] < 0.2:
        liked.append("it was short and to the point")
    if best[0] > 4.0 and weights["theta_len"] > 0.5:
        liked.append("it went into detail")
    if best[2] > 0.3 and weights["theta_hedge"] > 0.1:
        liked.append("it gave more than one point of view")
    if best[4] * weights["lambda_stance"] > 0.2:
        liked.append("it respected where I stand")
    if worst is not None:
        if worst[1] > 0:
            disliked.append("one model refused to answer, which was frustrating")
        if worst[2] > 0.4 and weights["theta_hedge"] < 0:
            disliked.append("some answers sat on the fence")
        if worst[0] > 4.0 and weights["theta_len"] < 0.2:
            disliked.append("some answers were far too long")
        if worst[4] * weights["lambda_stance"] < -0.2:
            disliked.append("one answer pushed a view I don't share")
    first = (
        f"I liked that {rng.choice(liked)}."
        if liked
        else rng.choice(
            ["The answers were fine overall.", "The best answer was helpful enough.", "It was an okay conversation."]
        )
    )
    second = (
        f"But {rng.choice(disliked)}."
        if disliked
        else rng.choice(
            ["I would not change much.", "It could have been a bit more personal.", "Nothing really stood out as bad."]
        )
    )
    return f"{first} {second}"


# --- a shared bank of prompts (real models: responses generated once per prompt) ----------------------------


def _all_fills(template: str) -> list[str]:
    """Every filled version of a template (each ``{key}`` over its :data:`FILL` options)."""
    out = [template]
    for key, options in FILL.items():
        token = "{" + key + "}"
        out = [t.replace(token, o) for t in out for o in options] if token in template else out
    return out


#: Follow-ups that fit any opening (a bank's follow-ups are drawn from these).
BANK_FOLLOW_UPS: tuple[str, ...] = (
    "Can you go into more detail?",
    "Can you give me an example?",
    "Can you make that shorter?",
    "Just the key point, please.",
    "Could you elaborate on that point?",
    "What are the main considerations?",
    "What is your actual opinion?",
    "Thank you. What would you recommend?",
)


class PromptBank:
    """A bank of opening prompts shared across personas, with the follow-up asked after each.

    With real models every response costs generation time, so a study on a bank asks a small, fixed set
    of prompts: the responses to each (model, prompt, sample) are generated once and reused by every
    persona who asks it (``pluralis demo``). A persona still picks its own kind of prompt: it draws its
    opening as without a bank (:func:`opening_prompt`, from its interests, values, faith and lean) up to
    ``tries`` times and keeps the first that is in the bank, else takes a bank prompt of that conversation
    type at random. Its follow-up is the bank's follow-up for that opening.

    Parameters
    ----------
    openings
        ``{conversation_type: (prompt, ...)}``.
    follow_ups
        ``{opening: (follow-up, ...)}`` (an opening missing here gets no bank follow-up).
    tries
        draws of the persona's own prompt before falling back to a random bank prompt.

    Example
    -------
    >>> bank = PromptBank.default(per_type=3, seed=0)
    >>> sorted(bank.openings), len(bank.prompts())
    (['controversy guided', 'unguided', 'values guided'], 9)
    >>> p = bank.opening({"interests": 1, "political": 0.0}, "unguided", random.Random(0))
    >>> p in bank.openings["unguided"], bank.follow_up({}, p, random.Random(0)) in bank.follow_ups[p]
    (True, True)
    """

    def __init__(
        self,
        openings: Mapping[str, tuple[str, ...]],
        follow_ups: Mapping[str, tuple[str, ...]] | None = None,
        *,
        tries: int = 12,
    ):
        self.openings = {str(k): tuple(v) for k, v in openings.items() if len(v)}
        self.follow_ups = {str(k): tuple(v) for k, v in (follow_ups or {}).items() if len(v)}
        self.tries = int(tries)

    @classmethod
    def default(cls, per_type: int = 6, *, follow_ups: int = 1, seed: int = 0) -> PromptBank:
        """A bank of ``per_type`` prompts per PRISM conversation type, drawn (seeded) from the prompts
        personas write, with ``follow_ups`` follow-up messages per opening.

        Unguided prompts come from distinct interests; controversy-guided ones cover whole topics (the left,
        right and neutral framing of each, so personas of every lean find theirs).

        Parameters
        ----------
        per_type
            prompts per conversation type.
        follow_ups
            follow-up messages per opening (each adds generations).
        seed
            random seed of the draw.

        Returns
        -------
        PromptBank

        Example
        -------
        >>> b = PromptBank.default(per_type=6, seed=1)
        >>> {k: len(v) for k, v in b.openings.items()}
        {'unguided': 6, 'values guided': 6, 'controversy guided': 6}
        """
        if per_type < 1 or follow_ups < 1:
            raise ValueError(f"per_type and follow_ups must be >= 1, got {per_type}, {follow_ups}")
        rng = random.Random(f"prompt-bank:{seed}")
        interests = sorted(UNGUIDED)
        rng.shuffle(interests)
        unguided = [rng.choice(_all_fills(rng.choice(UNGUIDED[i]))) for i in interests[:per_type]]
        values = sorted({p for ps in VALUES_GUIDED.values() for p in ps} | set(FAITH_PROMPTS))
        rng.shuffle(values)
        topics = sorted(CONTROVERSIES)
        rng.shuffle(topics)
        controversy: list[str] = []
        for t in topics:
            sides = CONTROVERSIES[t]
            controversy += [sides["left"], sides["right"], sides["neutral"]]
        openings = {
            vocab.CONVERSATION_TYPES[0]: tuple(unguided),
            vocab.CONVERSATION_TYPES[1]: tuple(values[:per_type]),
            vocab.CONVERSATION_TYPES[2]: tuple(controversy[:per_type]),
        }
        pool = sorted(BANK_FOLLOW_UPS)
        fups = {p: tuple(rng.sample(pool, min(follow_ups, len(pool)))) for ps in openings.values() for p in ps}
        return cls(openings, fups)

    def prompts(self) -> list[str]:
        """Every opening prompt of the bank, type by type (see the class example)."""
        return [p for ps in self.openings.values() for p in ps]

    def opening(self, row: Row, conversation_type: str, rng: random.Random) -> str:
        """The persona's opening prompt from the bank (see the class docstring).

        Parameters
        ----------
        row
            the persona's row.
        conversation_type
            one of PRISM's three types.
        rng
            draws the prompt.

        Returns
        -------
        str
        """
        bank = self.openings.get(conversation_type) or tuple(p for ps in self.openings.values() for p in ps)
        for _ in range(self.tries):
            own = opening_prompt(row, conversation_type, rng)
            if own in bank:
                return own
        return rng.choice(bank)

    def follow_up(self, row: Row, opening: str | None, rng: random.Random) -> str:
        """The follow-up for ``opening`` from the bank (the persona's own style when it has none).

        Parameters
        ----------
        row
            the persona's row.
        opening
            the conversation's opening prompt.
        rng
            draws among the opening's follow-ups.

        Returns
        -------
        str
        """
        options = self.follow_ups.get(str(opening))
        return rng.choice(options) if options else follow_up(row, rng)
