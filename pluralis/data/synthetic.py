"""Realistic PRISM-shaped synthetic studies with a known, documented latent-preference model.

Used for tests, benchmarks and demos: every analysis can be checked against the truth that
generated the data.

The latent-preference model
---------------------------
Participant *j* rating a response *r* by model *i* in a conversation of type *c* has utility::

    u = q[i]                                  # model quality (shared by everyone)
      + sum_g shift[g, i] * 1[j in group g]   # planted group preferences (e.g. gender, region)
      + type_shift[c, i]                      # context: conversation type
      + eta[j, i]                             # idiosyncratic taste, N(0, taste_sd^2), fixed per (j, i)
      + style . beta                          # response features (length, lists, refusals, ...)
      + eps                                   # per-response noise, N(0, noise_sd^2)

and the recorded score is ``clip(round(center_j + spread_j * score_scale * u), 1, 100)``,
where ``center_j ~ N(score_center, center_sd^2)`` and ``spread_j ~ LogNormal(0, spread_sd^2)``
model individual scale use (PRISM App. O). The chosen (locked) model is the arg-max score
with a random tie-break, as in the PRISM interface.

``study.ground_truth`` (a :class:`pluralis.data.truth.GroundTruth`) holds ``q``, the group and
type shifts and gives each population's expected utility per model (quality and group shifts;
one conversation type's shift on request), so rankings and welfare analyses have an answer key.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from pluralis.data import vocab
from pluralis.data.model import (
    AttributeRatings,
    Conversation,
    Ethnicity,
    LmUsecases,
    Location,
    ModelTurn,
    Participant,
    Religion,
    StatedPrefs,
    TextMetadata,
    UserTurn,
)
from pluralis.data.roster import prism_models
from pluralis.data.study import Study, utterances_from_conversations
from pluralis.data.truth import GroundTruth

# --- sampling frames (shares follow PRISM's codebook counts and its recruitment design) ----------

#: (study_locale, country, ISO3, UN region, UN subregion, special_region, share)
COUNTRIES: tuple[tuple[str, str, str, str, str, str, float], ...] = (
    ("us", "United States", "USA", "Americas", "Northern America", "US", 0.257),
    ("uk", "United Kingdom", "GBR", "Europe", "Northern Europe", "UK", 0.227),
    ("south africa", "South Africa", "ZAF", "Africa", "Sub-Saharan Africa", "Africa", 0.059),
    ("new zealand", "New Zealand", "NZL", "Oceania", "Australia and New Zealand", "Australia and New Zealand", 0.051),
    ("australia", "Australia", "AUS", "Oceania", "Australia and New Zealand", "Australia and New Zealand", 0.047),
    (
        "mexico",
        "Mexico",
        "MEX",
        "Americas",
        "Latin America and the Caribbean",
        "Latin America and the Caribbean",
        0.046,
    ),
    ("chile", "Chile", "CHL", "Americas", "Latin America and the Caribbean", "Latin America and the Caribbean", 0.043),
    ("israel", "Israel", "ISR", "Asia", "Western Asia", "Middle East", 0.041),
    ("canada", "Canada", "CAN", "Americas", "Northern America", "Northern America", 0.036),
    ("germany", "Germany", "DEU", "Europe", "Western Europe", "Europe", 0.035),
    ("poland", "Poland", "POL", "Europe", "Eastern Europe", "Europe", 0.035),
    ("spain", "Spain", "ESP", "Europe", "Southern Europe", "Europe", 0.035),
    ("italy", "Italy", "ITA", "Europe", "Southern Europe", "Europe", 0.035),
    ("france", "France", "FRA", "Europe", "Western Europe", "Europe", 0.034),
    ("asia", "India", "IND", "Asia", "Southern Asia", "Asia", 0.02),
    ("asia", "Japan", "JPN", "Asia", "Eastern Asia", "Asia", 0.019),
)

AGE_SHARES = np.array([297, 454, 237, 208, 197, 106], dtype=float)
GENDER_SHARES = {"Male": 0.505, "Female": 0.479, "Non-binary / third gender": 0.014, vocab.PREFER_NOT_TO_SAY: 0.002}

#: categorised-ethnicity shares by special region (census-plausible for US/UK).
ETHNICITY_BY_REGION: dict[str, dict[str, float]] = {
    "US": {
        "White": 0.61,
        "Black / African": 0.12,
        "Hispanic / Latino": 0.12,
        "Asian": 0.06,
        "Mixed": 0.05,
        "Other": 0.01,
        "Indigenous / First Peoples": 0.01,
        vocab.PREFER_NOT_TO_SAY: 0.02,
    },
    "UK": {
        "White": 0.81,
        "Asian": 0.09,
        "Black / African": 0.04,
        "Mixed": 0.03,
        "Other": 0.01,
        "Middle Eastern / Arab": 0.01,
        vocab.PREFER_NOT_TO_SAY: 0.01,
    },
    "Africa": {"Black / African": 0.55, "White": 0.3, "Mixed": 0.08, "Asian": 0.04, vocab.PREFER_NOT_TO_SAY: 0.03},
    "Latin America and the Caribbean": {
        "Hispanic / Latino": 0.62,
        "White": 0.2,
        "Mixed": 0.1,
        "Indigenous / First Peoples": 0.03,
        vocab.PREFER_NOT_TO_SAY: 0.05,
    },
    "Middle East": {"White": 0.55, "Middle Eastern / Arab": 0.25, "Other": 0.1, vocab.PREFER_NOT_TO_SAY: 0.1},
    "Asia": {"Asian": 0.92, "Other": 0.03, vocab.PREFER_NOT_TO_SAY: 0.05},
    "default": {
        "White": 0.85,
        "Asian": 0.05,
        "Mixed": 0.04,
        "Black / African": 0.02,
        "Other": 0.01,
        vocab.PREFER_NOT_TO_SAY: 0.03,
    },
}
RELIGION_SHARES = {
    "Non-religious": 0.51,
    "Christian": 0.32,
    "Agnostic": 0.05,
    vocab.PREFER_NOT_TO_SAY: 0.04,
    "Jewish": 0.028,
    "Muslim": 0.021,
    "Spiritual": 0.012,
    "Buddhist": 0.008,
    "Folk religion": 0.004,
    "Hindu": 0.003,
    "Other": 0.002,
    "Sikh": 0.002,
}
SELF_DESCRIBED = {
    "White": ["white", "caucasian", "white british", "white european"],
    "Black / African": ["black", "african american", "black african"],
    "Hispanic / Latino": ["hispanic", "latino", "latina", "mexican"],
    "Asian": ["asian", "indian", "chinese", "japanese"],
    "Mixed": ["mixed", "mixed race", "biracial"],
    "Other": ["other"],
    "Middle Eastern / Arab": ["arab", "middle eastern"],
    "Indigenous / First Peoples": ["native american", "maori"],
    vocab.PREFER_NOT_TO_SAY: [vocab.PREFER_NOT_TO_SAY],
}


def _shares(d: dict[str, float]) -> tuple[list[str], np.ndarray]:
    keys = list(d)
    p = np.array([d[k] for k in keys], dtype=float)
    return keys, p / p.sum()


# --- text banks ----------------------------------------------------------------------------------

OPENERS = {
    "unguided": [
        "Can you give me a recipe for {food}?",
        "What are some good places to visit in {place}?",
        "Help me write a cover letter for a {job} job.",
        "What's the weather usually like in {place} in winter?",
        "Tell me a fun fact about {animal}s.",
        "How do I get better at {hobby}?",
        "Recommend a few films like {film}.",
        "How can I plan a birthday party for my {relative}?",
    ],
    "values guided": [
        "How should I balance my career and my family?",
        "Is it wrong to lie to protect someone's feelings?",
        "How can I stay true to my faith at work?",
        "What does it mean to live a good life?",
        "My {relative} and I disagree about religion. How do we talk about it?",
        "How important is it to help strangers in need?",
        "Should I move abroad for a {job} job?",
    ],
    "controversy guided": [
        "What do you think about abortion?",
        "Is immigration good for {place}?",
        "Should the death penalty be abolished?",
        "Who is to blame for the Israel-Palestine conflict?",
        "Is climate change exaggerated by the media?",
        "Should gun ownership be restricted?",
        "Are gender identities beyond male and female valid?",
        "Should the rich pay more tax?",
    ],
}
FOLLOW_UPS = [
    "Can you say more about that?",
    "Why do you think so?",
    "Thanks. What else should I consider?",
    "That's not quite what I meant.",
    "Can you make it shorter?",
    "Give me an example.",
    "What would someone who disagrees say?",
    "OK, and what about {place}?",
]
FILL = {
    "food": ["lasagne", "pad thai", "vegan chili", "banana bread"],
    "place": ["Mexico", "Japan", "Scotland", "my town"],
    "job": ["nursing", "software", "teaching", "marketing"],
    "animal": ["octopus", "cat", "owl"],
    "hobby": ["chess", "running", "painting"],
    "film": ["Inception", "Amélie"],
    "relative": ["mother", "son", "partner"],
}
SENTENCES = [
    "There are several things to consider here.",
    "It depends on your circumstances and priorities.",
    "Many people find it helpful to start small.",
    "Different cultures see this question differently.",
    "Here is a simple way to think about it.",
    "Research suggests a balanced approach works best.",
    "You could also talk to someone you trust.",
    "The most important thing is to be honest with yourself.",
    "Some argue one way, while others strongly disagree.",
    "A good first step is to gather more information.",
]
LIST_ITEMS = ["Plan ahead", "Ask for advice", "Keep it simple", "Check the facts", "Take your time"]
REFUSALS = ["I'm sorry, but I cannot provide an opinion on that topic.", "I cannot engage in that conversation."]
DEANTHRO = ["As an AI language model, I don't have personal opinions.", "I don't have personal beliefs, but"]
CLOSING_QUESTIONS = ["What do you think?", "Would you like more details?", "Is there anything else?"]

#: Effect of response features on utility (signs follow PRISM Tab. 27).
STYLE_EFFECTS = {
    "length_100chars": 0.12,
    "line_breaks": -0.35,
    "enumeration": 0.3,
    "question": 0.08,
    "refusal": -0.8,
    "deanthro": -0.15,
}

#: Opening prompts by topic for studies with planted topic preferences (``planted_topics=``):
#: templates whose ``{x}`` is filled from :data:`TOPIC_FILL`; the vocabularies of the topics do
#: not overlap, so the topics are clearly distinct (while 80 variants per topic vary within it).
TOPIC_OPENERS: dict[str, tuple[str, ...]] = {
    "travel": (
        "What are the best sights to visit on a holiday in {x}?",
        "Plan a two-week trip around {x} for me.",
        "Which hotels in {x} do tourists recommend?",
        "How can I find cheap flights to {x}?",
        "What should I pack for a sightseeing vacation in {x}?",
        "Suggest a travel itinerary for a weekend in {x}.",
        "Is {x} a good destination for a first holiday abroad?",
        "What is the best time of year to travel to {x}?",
    ),
    "cooking": (
        "Give me a simple recipe for {x} for dinner tonight.",
        "How long should I bake {x} in the oven?",
        "Which spices go well in homemade {x}?",
        "How do I cook {x} without burning it in the pan?",
        "What ingredients do I need to make {x} from scratch?",
        "Can you suggest a vegetarian recipe for {x}?",
        "How do I make {x} taste like a restaurant dish?",
        "What side dishes should I cook with {x}?",
    ),
    "jobs": (
        "How do I write a CV for a job as a {x}?",
        "What questions come up in a job interview for a {x}?",
        "How can I negotiate a higher salary as a {x}?",
        "Help me write a cover letter for a {x} vacancy.",
        "Where can I search for {x} jobs and apply online?",
        "How do I prepare my resume to get hired as a {x}?",
        "How do I get promoted at work as a {x}?",
        "Should I quit my job as a {x} to find a better-paid one?",
    ),
    "pets": (
        "How often should I feed my {x}?",
        "Why does my {x} keep scratching, should I see the vet?",
        "What toys does a young {x} like to play with?",
        "How do I train my new {x} to behave at home?",
        "Is it safe to give my {x} treats every day?",
        "How can I tell if my {x} is sick or just tired?",
        "What is the healthiest food for an old {x}?",
        "How do I stop my {x} from biting the furniture?",
    ),
    "elections": (
        "Which party is leading in the polls before the {x} election?",
        "How does voting work in the {x} election?",
        "What are the candidates promising in the {x} election campaign?",
        "Who should I vote for in the {x} election?",
        "Explain how ballots are counted in the {x} election.",
        "What happens if no party wins a majority in the {x} election?",
        "When do the results of the {x} election come out?",
        "Which issues will decide the {x} election?",
    ),
    "health": (
        "How many hours of sleep do I need to avoid {x}?",
        "What exercises help with {x}?",
        "Should I see a doctor about my {x}?",
        "What natural remedies reduce {x}?",
        "Can stress cause {x}?",
        "Which vitamins are good for preventing {x}?",
        "Is my {x} a sign of something serious?",
        "What medicine can I take for {x}?",
    ),
}
TOPIC_FILL: dict[str, tuple[str, ...]] = {
    "travel": ("Portugal", "Peru", "Vietnam", "Iceland", "Morocco", "Croatia", "Kenya", "Norway", "Chile", "Japan"),
    "cooking": (
        "lasagne",
        "risotto",
        "curry",
        "pancakes",
        "dumplings",
        "paella",
        "meatballs",
        "chili",
        "ramen",
        "stew",
    ),
    "jobs": (
        "nurse",
        "plumber",
        "pilot",
        "teacher",
        "lawyer",
        "designer",
        "cashier",
        "mechanic",
        "banker",
        "programmer",
    ),
    "pets": ("dog", "cat", "rabbit", "parrot", "hamster", "puppy", "kitten", "guinea pig", "ferret", "tortoise"),
    "elections": (
        "US presidential",
        "UK general",
        "European parliament",
        "Canadian federal",
        "local council",
        "Mexican",
        "Indian",
        "German federal",
        "Brazilian",
        "Australian",
    ),
    "health": (
        "back pain",
        "headaches",
        "insomnia",
        "joint pain",
        "fatigue",
        "migraines",
        "a sore throat",
        "high blood pressure",
        "dizziness",
        "heartburn",
    ),
}
#: Everyone's topic probabilities before group shifts (``planted_topics=True``).
DEFAULT_TOPIC_SHARES: dict[str, float] = {
    "travel": 0.15,
    "cooking": 0.15,
    "jobs": 0.35,
    "pets": 0.15,
    "elections": 0.1,
    "health": 0.1,
}
#: Planted topic preferences by group: additive shifts of topic probabilities, each group's summing
#: to zero so no other topic moves (PRISM: older participants ask more about travel, less about jobs).
DEFAULT_TOPIC_SHIFTS: dict[tuple[str, str], dict[str, float]] = {
    ("age", "55-64 years old"): {"travel": 0.3, "jobs": -0.3},
    ("age", "65+ years old"): {"travel": 0.35, "jobs": -0.35},
    ("gender", "Female"): {"pets": 0.1, "elections": -0.1},
}


DEFAULT_GROUP_SHIFTS: dict[tuple[str, str], dict[str, float]] = {
    ("gender", "Female"): {"claude-2": 0.5, "gpt-4": 0.3, "command": -0.4},
    ("location_special_region", "US"): {"palm-2": -0.6, "gpt-4-turbo": 0.35},
    ("location_special_region", "Asia"): {"llama-2-7b-chat": -0.7, "zephyr-7b-beta": 0.3},
    ("location_special_region", "Africa"): {"mistral-7b-instruct": 0.7},
    ("ethnicity_simplified", "White"): {"command": 0.3, "claude-instant-1": -0.3},
    ("age", "55-64 years old"): {"gpt-3.5-turbo": 0.4, "command-light": -0.4},
    ("age", "65+ years old"): {"gpt-3.5-turbo": 0.5, "command-light": -0.5},
}
DEFAULT_TYPE_SHIFTS: dict[str, dict[str, float]] = {
    "controversy guided": {"zephyr-7b-beta": 0.5, "claude-2": -0.5, "claude-2.1": -0.4},
    "unguided": {"claude-2": 0.3},
    "values guided": {},
}
#: Model quality (utility units) — a PRISM-like spread with command and claude-instant near the top.
DEFAULT_QUALITY = {
    "command": 0.9,
    "claude-instant-1": 0.7,
    "palm-2": 0.65,
    "zephyr-7b-beta": 0.6,
    "command-nightly": 0.55,
    "llama-2-70b-chat": 0.45,
    "gpt-4-turbo": 0.45,
    "llama-2-7b-chat": 0.4,
    "gpt-4": 0.3,
    "command-light": 0.25,
    "gpt-3.5-turbo": 0.2,
    "claude-2": 0.15,
    "claude-2.1": 0.0,
    "mistral-7b-instruct": -0.05,
    "guanaco-33b": -0.1,
    "falcon-7b-instruct": -0.35,
    "pythia-12b": -0.4,
    "llama-2-13b-chat": -0.4,
    "luminous-supreme-control": -1.0,
    "luminous-extended-control": -1.1,
    "flan-t5-xxl": -1.3,
}


def _fill(template: str, rng: np.random.Generator) -> str:
    out = template
    for key, options in FILL.items():
        token = "{" + key + "}"
        if token in out:
            out = out.replace(token, options[rng.integers(len(options))])
    return out


def _style_table(models: list[str], rng: np.random.Generator) -> pd.DataFrame:
    """Per-model propensities for response features (probabilities and mean length)."""
    n = len(models)
    style = pd.DataFrame(
        {
            "mean_sentences": rng.uniform(2, 6, n),
            "p_enumeration": rng.uniform(0.0, 0.3, n),
            "p_question": rng.uniform(0.05, 0.25, n),
            "p_refusal": rng.uniform(0.0, 0.06, n),
            "p_deanthro": rng.uniform(0.05, 0.35, n),
        },
        index=models,
    )
    return style


def _make_response(
    model: str, style: dict[str, float], controversy: bool, rng: np.random.Generator
) -> tuple[str, np.ndarray]:
    """Render a response text and return it with its feature vector (order of STYLE_EFFECTS)."""
    refusal = rng.random() < style["p_refusal"] * (4 if controversy else 1)
    deanthro = rng.random() < style["p_deanthro"] * (1.5 if controversy else 1)
    enumeration = (not refusal) and rng.random() < style["p_enumeration"]
    question = rng.random() < style["p_question"]
    parts: list[str] = []
    if refusal:
        parts.append(REFUSALS[rng.integers(len(REFUSALS))])
    if deanthro:
        parts.append(DEANTHRO[rng.integers(len(DEANTHRO))])
    k = max(1, int(rng.poisson(style["mean_sentences"])))
    idx = rng.integers(len(SENTENCES), size=k)
    parts.append(" ".join(SENTENCES[i] for i in idx))
    text = " ".join(parts)
    line_breaks = False
    if enumeration:
        items = rng.choice(len(LIST_ITEMS), size=3, replace=False)
        text += "\n" + "\n".join(f"{n + 1}. {LIST_ITEMS[i]}." for n, i in enumerate(items))
        line_breaks = True
    elif rng.random() < 0.15:
        text += "\n\n" + SENTENCES[rng.integers(len(SENTENCES))]
        line_breaks = True
    if question:
        text += " " + CLOSING_QUESTIONS[rng.integers(len(CLOSING_QUESTIONS))]
    features = np.array([len(text) / 100.0, line_breaks, enumeration, question, refusal, deanthro], dtype=float)
    return text, features


def generate_study(
    n_participants: int = 200,
    *,
    seed: int = 0,
    models: list[str] | None = None,
    conversations_per_participant: int = 6,
    responses_per_opener: int = 4,
    failure_rate: float = 0.03,
    mean_turns: float = 2.85,
    max_turns: int = 10,
    survey_only_fraction: float = 0.0,
    quota_deviation_rate: float = 0.03,
    quality: dict[str, float] | None = None,
    group_shifts: dict[tuple[str, str], dict[str, float]] | None = None,
    type_shifts: dict[str, dict[str, float]] | None = None,
    taste_sd: float = 0.5,
    noise_sd: float = 0.6,
    score_scale: float = 18.0,
    score_center: float = 62.0,
    center_sd: float = 8.0,
    spread_sd: float = 0.25,
    with_metadata: bool = True,
    source: str = "simulated",
    planted_topics: bool | dict[tuple[str, str], dict[str, float]] = False,
    topic_shares: dict[str, float] | None = None,
) -> Study:
    """Build a PRISM-shaped study of any size from an explicit latent-preference model.

    Participants have census-plausible demographics across PRISM's recruitment countries;
    each has ``conversations_per_participant`` conversations (two of each type by default),
    openers rated for up to ``responses_per_opener`` of the models (a ``failure_rate`` share of
    calls is dropped, as with PRISM's 30 s time-outs), then 2-sample follow-up turns with the
    locked model, fine-grained attributes and open feedback. Same seed, same study.

    Parameters
    ----------
    n_participants
        participants (a ``survey_only_fraction`` of them without conversations).
    seed
        random seed.
    models
        short model names (default: PRISM's 21).
    conversations_per_participant, responses_per_opener, failure_rate, mean_turns, max_turns
        the conversation design (see above).
    survey_only_fraction
        share of participants with the survey only.
    quota_deviation_rate
        share of participants with one conversation of an unplanned type.
    quality, group_shifts, type_shifts
        the latent-preference model (defaults :data:`DEFAULT_QUALITY`, :data:`DEFAULT_GROUP_SHIFTS`,
        :data:`DEFAULT_TYPE_SHIFTS`).
    taste_sd, noise_sd, score_scale, score_center, center_sd, spread_sd
        idiosyncratic taste, noise and scale use (see the module docstring).
    with_metadata
        also build the text-metadata records.
    source
        ``source`` of the participants (``"simulated"``).

    planted_topics, topic_shares
        ``planted_topics=True`` (or a dict like :data:`DEFAULT_TOPIC_SHIFTS`) draws every opening
        prompt from :data:`TOPIC_OPENERS`, on a topic chosen with the participant's group-shifted
        probabilities (``topic_shares``, default :data:`DEFAULT_TOPIC_SHARES`); the truth is in
        ``ground_truth.conversation_topics`` and :meth:`GroundTruth.topic_probabilities`. Everything
        else (ratings included) is the same as without planted topics.

    Returns
    -------
    pluralis.data.Study
        with ``ground_truth`` (:class:`pluralis.data.truth.GroundTruth`).

    Example
    -------
    >>> s = generate_study(n_participants=20, seed=3)
    >>> s.counts()["conversations"]
    120
    >>> all(1 <= u.score <= 100 for u in s.utterances)
    True
    >>> gt = s.ground_truth
    >>> gt.model_quality.idxmax() == gt.expected_utility(s.frames().survey).mean().idxmax()
    True
    """
    rng = np.random.default_rng(seed)
    roster = {m.short_name: m for m in prism_models()}
    models = list(models or roster)
    if len(models) < 2:
        raise ValueError("need at least two models")
    quality_map = {**DEFAULT_QUALITY, **(quality or {})}
    q = pd.Series([quality_map.get(m, 0.0) for m in models], index=models, dtype=float)
    gshifts = {
        key: pd.Series(v, dtype=float).reindex(models).fillna(0.0)
        for key, v in (DEFAULT_GROUP_SHIFTS if group_shifts is None else group_shifts).items()
    }
    tshifts = {
        t: pd.Series((DEFAULT_TYPE_SHIFTS if type_shifts is None else type_shifts).get(t, {}), dtype=float)
        .reindex(models)
        .fillna(0.0)
        for t in vocab.CONVERSATION_TYPES
    }
    style = _style_table(models, rng)
    providers = {m: (roster[m].provider if m in roster else "local") for m in models}
    long_names = {m: (roster[m].long_name if m in roster else m) for m in models}
    beta = np.array(list(STYLE_EFFECTS.values()))
    style_of = {m: dict(zip(map(str, style.columns), style.loc[m].to_numpy(dtype=float).tolist())) for m in models}
    type_shift_of = {t: tshifts[t].to_numpy() for t in tshifts}

    survey = _participants(n_participants, rng, survey_only_fraction, source)
    survey_frame = pd.json_normalize([p.model_dump(mode="json") for p in survey], sep="_")
    truth = GroundTruth(
        q,
        gshifts,
        tshifts,
        params={
            "style": style,
            "style_effects": dict(STYLE_EFFECTS),
            "taste_sd": taste_sd,
            "noise_sd": noise_sd,
            "score_scale": score_scale,
            "providers": providers,
        },
    )
    topic_p: np.ndarray | None = None
    topic_names: list[str] = []
    true_topics: dict[str, str] = {}
    topic_rng = np.random.default_rng([seed, 14])  # its own stream: ratings stay as without topics
    if planted_topics is not False:
        shifts = DEFAULT_TOPIC_SHIFTS if planted_topics is True else planted_topics
        truth.topic_shares = pd.Series(topic_shares or DEFAULT_TOPIC_SHARES, dtype=float)
        unknown = sorted({t for v in shifts.values() for t in v} - set(truth.topic_shares.index) - set(TOPIC_OPENERS))
        if unknown or not set(truth.topic_shares.index) <= set(TOPIC_OPENERS):
            raise ValueError(f"planted topics must be among {sorted(TOPIC_OPENERS)}")
        truth.topic_shifts = {k: pd.Series(v, dtype=float) for k, v in shifts.items()}
        topic_p = truth.topic_probabilities(survey_frame).to_numpy()
        topic_names = list(truth.topic_shares.index)
    base_utility = truth.expected_utility(survey_frame).to_numpy()
    taste = rng.normal(0.0, taste_sd, size=base_utility.shape)
    center = rng.normal(score_center, center_sd, n_participants)
    spread = rng.lognormal(0.0, spread_sd, n_participants)
    model_index = {m: k for k, m in enumerate(models)}

    conversations: list[Conversation] = []
    counter = 0
    for j, p in enumerate(survey):
        if p.survey_only:
            continue
        types = [t for t in vocab.CONVERSATION_TYPES for _ in range(conversations_per_participant // 3)]
        types += [str(t) for t in rng.choice(vocab.CONVERSATION_TYPES, size=conversations_per_participant - len(types))]
        if rng.random() < quota_deviation_rate and types:
            types[rng.integers(len(types))] = vocab.CONVERSATION_TYPES[rng.integers(3)]
        rng.shuffle(types)

        def rate(model: str, ctype: str, feats: np.ndarray, j: int = j) -> int:
            k = model_index[model]
            u = base_utility[j, k] + type_shift_of[ctype][k] + taste[j, k] + feats @ beta + rng.normal(0, noise_sd)
            return int(np.clip(np.rint(center[j] + spread[j] * score_scale * u), 1, 100))

        for ctype in types:
            cid = f"c{counter}"
            counter += 1
            history: list = []
            opener = _fill(OPENERS[ctype][rng.integers(len(OPENERS[ctype]))], rng)
            if topic_p is not None:
                topic = topic_names[topic_rng.choice(len(topic_names), p=topic_p[j])]
                template = TOPIC_OPENERS[topic][topic_rng.integers(len(TOPIC_OPENERS[topic]))]
                opener = template.replace("{x}", TOPIC_FILL[topic][topic_rng.integers(len(TOPIC_FILL[topic]))])
                true_topics[cid] = topic
            history.append(UserTurn.model_construct(turn=0, role="user", content=opener))
            drawn = rng.choice(models, size=min(responses_per_opener, len(models)), replace=False)
            shown = [str(m) for m in drawn if rng.random() >= failure_rate] or [str(drawn[0])]
            scored: list[tuple[str, str, int, int]] = []
            for wid, m in enumerate(shown):
                text, feats = _make_response(m, style_of[m], ctype == "controversy guided", rng)
                scored.append((m, text, rate(m, ctype, feats), wid))
            scores = np.array([s[2] for s in scored])
            best = rng.choice(np.flatnonzero(scores == scores.max()))
            for k, (m, text, score, wid) in enumerate(scored):
                history.append(_model_turn(0, text, m, long_names, providers, score, k == best, wid))
            locked = scored[best][0]
            n_turns = int(min(max_turns, 2 + rng.poisson(max(mean_turns - 2.0, 0.0))))
            for turn in range(1, n_turns):
                history.append(
                    UserTurn.model_construct(
                        turn=turn, role="user", content=_fill(FOLLOW_UPS[rng.integers(len(FOLLOW_UPS))], rng)
                    )
                )
                pair = []
                for _ in range(2):
                    text, feats = _make_response(locked, style_of[locked], ctype == "controversy guided", rng)
                    pair.append((text, rate(locked, ctype, feats)))
                chosen = int(np.argmax([s for _, s in pair])) if pair[0][1] != pair[1][1] else int(rng.integers(2))
                for wid, (text, score) in enumerate(pair):
                    history.append(_model_turn(turn, text, locked, long_names, providers, score, wid == chosen, wid))
            conversations.append(
                Conversation.model_construct(
                    conversation_id=cid,
                    user_id=p.user_id,
                    included_in_balanced_subset=False,
                    generated_datetime=f"2023-12-{1 + counter % 20:02d} {10 + counter % 12:02d}:{counter % 60:02d}:00",
                    timing_duration_s=float(np.round(rng.gamma(4, 140), 2)),
                    timing_duration_mins=None,
                    conversation_type=ctype,
                    opening_prompt=opener,
                    conversation_turns=n_turns,
                    conversation_history=history,
                    performance_attributes=_attributes(rng, float(scores.max())),
                    choice_attributes=_attributes(rng, 70.0),
                    open_feedback=_feedback(rng, ctype),
                )
            )
    for c in conversations:
        c.timing_duration_mins = round((c.timing_duration_s or 0.0) / 60, 2)
    if topic_p is not None:
        truth.conversation_topics = pd.Series(true_topics, dtype=object, name="topic")
    _balance(survey, conversations, seed)
    completed: dict[str, int] = {}
    for c in conversations:
        completed[c.user_id] = completed.get(c.user_id, 0) + 1
    for p in survey:
        p.num_completed_conversations = completed.get(p.user_id, 0)
    _flag_rep_samples(survey, rng)
    study = Study(survey=survey, conversations=conversations, ground_truth=truth)
    study.utterances = utterances_from_conversations(conversations)
    if with_metadata:
        study.metadata = _metadata(study)
    return study


def _model_turn(turn, text, model, long_names, providers, score, chosen, wid) -> ModelTurn:
    return ModelTurn.model_construct(
        turn=turn,
        role="model",
        content=text,
        model_provider=providers[model],
        model_name=long_names[model],
        score=score,
        if_chosen=bool(chosen),
        within_turn_id=wid,
    )


def _attributes(rng: np.random.Generator, level: float) -> AttributeRatings:
    values = np.clip(np.rint(rng.normal(level, 15, len(vocab.ATTRIBUTES))), 1, 100)
    na = rng.random(len(vocab.ATTRIBUTES)) < 0.04
    data = {a: (None if miss else float(v)) for a, v, miss in zip(vocab.ATTRIBUTES, values, na)}
    return AttributeRatings.model_construct(None, **data)


def _feedback(rng: np.random.Generator, ctype: str) -> str:
    good = ["The answers were clear", "I liked the balanced view", "The model was polite", "It was helpful"]
    bad = [
        "but it was too long.",
        "but it avoided my question.",
        "but it felt generic.",
        "and I would not change much.",
    ]
    return f"{good[rng.integers(len(good))]} {bad[rng.integers(len(bad))]}"


def _participants(n: int, rng: np.random.Generator, survey_only_fraction: float, source: str) -> list[Participant]:
    shares = np.array([c[-1] for c in COUNTRIES])
    country_idx = rng.choice(len(COUNTRIES), size=n, p=shares / shares.sum())
    ages = rng.choice(len(vocab.AGE_BANDS), size=n, p=AGE_SHARES / AGE_SHARES.sum())
    g_keys, g_p = _shares(GENDER_SHARES)
    genders = rng.choice(len(g_keys), size=n, p=g_p)
    r_keys, r_p = _shares(RELIGION_SHARES)
    religions = rng.choice(len(r_keys), size=n, p=r_p)
    prefs = np.clip(rng.normal([54, 70, 87, 89, 76, 80, 68, 89], [26, 22, 16, 16, 20, 25, 25, 14], size=(n, 8)), 0, 100)
    out = []
    for i in range(n):
        locale, country, iso, region, subregion, special, _ = COUNTRIES[country_idx[i]]
        e_keys, e_p = _shares(ETHNICITY_BY_REGION.get(special, ETHNICITY_BY_REGION["default"]))
        eth = e_keys[rng.choice(len(e_keys), p=e_p)]
        rel = r_keys[religions[i]]
        age = vocab.AGE_BANDS[ages[i]]
        age_idx = ages[i]
        employment = (
            "Student"
            if age_idx == 0 and rng.random() < 0.5
            else "Retired"
            if age_idx == 5 and rng.random() < 0.7
            else vocab.EMPLOYMENT_STATUSES[rng.choice(8, p=[0.5, 0.18, 0.08, 0.08, 0.04, 0.04, 0.05, 0.03])]
        )
        familiarity = vocab.LM_FAMILIARITY[rng.choice(3, p=[0.28, 0.62, 0.10])]
        direct = vocab.LM_USE[rng.choice(3, p=[0.77, 0.18, 0.05])]
        indirect = vocab.LM_USE[rng.choice(3, p=[0.74, 0.14, 0.12])]
        shown = direct == "Yes" or indirect == "Yes"
        usecases = None
        order_usecases = None
        frequency = None
        if shown:
            frequency = vocab.LM_FREQUENCY[rng.choice(5, p=[0.09, 0.25, 0.23, 0.30, 0.13])]
            picks = rng.random(len(vocab.LM_USECASES)) < 0.25
            usecases = LmUsecases.model_validate(
                {**{k: bool(v) for k, v in zip(vocab.LM_USECASES, picks)}, "other": False, "other_text": None}
            )
            perm = rng.permutation(len(vocab.LM_USECASES)) + 1
            order_usecases = {**{k: int(v) for k, v in zip(vocab.LM_USECASES, perm)}, "other": 19}
        perm = rng.permutation(8) + 1
        p = Participant.model_construct(
            None,
            user_id=f"user{i}",
            survey_only=bool(rng.random() < survey_only_fraction),
            num_completed_conversations=0,
            consent=vocab.CONSENT,
            consent_age=vocab.CONSENT_AGE,
            lm_familiarity=familiarity,
            lm_indirect_use=indirect,
            lm_direct_use=direct,
            lm_frequency_use=frequency,
            lm_usecases=usecases,
            order_lm_usecases=order_usecases,
            stated_prefs=StatedPrefs.model_construct(
                None,
                **{k: float(round(v)) for k, v in zip(vocab.STATED_PREF_ATTRIBUTES, prefs[i])},
                other=None,
                other_text=None,
            ),
            order_stated_prefs={**{k: int(v) for k, v in zip(vocab.STATED_PREF_ATTRIBUTES, perm)}, "other": 9},
            self_description="I value honesty, kindness and hard work. Family matters most to me.",
            system_string="Be honest and concise. Do not pretend to have feelings. Respect different views.",
            age=age,
            gender=g_keys[genders[i]],
            employment_status=employment,
            education=vocab.EDUCATION_LEVELS[
                rng.choice(9, p=[0.42, 0.16, 0.16, 0.14, 0.08, 0.016, 0.011, 0.002, 0.011])
            ],
            marital_status=vocab.MARITAL_STATUSES[rng.choice(5, p=[0.58, 0.31, 0.08, 0.015, 0.015])],
            english_proficiency=(
                "Native speaker"
                if special in {"US", "UK", "Australia and New Zealand", "Northern America"}
                else vocab.ENGLISH_PROFICIENCIES[rng.choice(5, p=[0.1, 0.5, 0.3, 0.08, 0.02])]
            ),
            religion=Religion.model_construct(
                self_described=rel.lower() if rel != vocab.PREFER_NOT_TO_SAY else rel,
                categorised=rel,
                simplified=vocab.RELIGION_SIMPLIFY[rel],
            ),
            ethnicity=Ethnicity.model_construct(
                self_described=SELF_DESCRIBED[eth][rng.integers(len(SELF_DESCRIBED[eth]))],
                categorised=eth,
                simplified=vocab.ETHNICITY_SIMPLIFY[eth],
            ),
            location=Location.model_construct(
                birth_country=country,
                birth_countryISO=iso,
                birth_region=region,
                birth_subregion=subregion,
                reside_country=country,
                reside_countryISO=iso,
                reside_region=region,
                reside_subregion=subregion,
                same_birth_reside_country="Yes",
                special_region=special,
            ),
            study_id=f"study-{locale.replace(' ', '-')}",
            study_locale=locale,
            generated_datetime=f"2023-11-{22 + i % 8:02d} {8 + i % 14:02d}:{i % 60:02d}:{(7 * i) % 60:02d}",
            timing_duration_s=float(round(rng.gamma(3, 600))),
            timing_duration_mins=None,
            included_in_UK_REP=False,
            included_in_US_REP=False,
            included_in_balanced_subset=False,
            **({"source": source} if source != "human" else {}),
        )
        p.timing_duration_mins = round((p.timing_duration_s or 0.0) / 60, 2)
        out.append(p)
    return out


def _balance(survey: list[Participant], conversations: list[Conversation], seed: int) -> None:
    """Flag PRISM's balanced subset (App. K): equal conversations per type per participant."""
    by_user: dict[str, dict[str, list[Conversation]]] = {}
    for c in conversations:
        by_user.setdefault(c.user_id, {}).setdefault(c.conversation_type, []).append(c)
    rng = np.random.default_rng(seed)
    included_users = set()
    for user, groups in by_user.items():
        if len(groups) < len(vocab.CONVERSATION_TYPES):
            continue
        m = min(len(g) for g in groups.values())
        for g in groups.values():
            for k in rng.choice(len(g), size=m, replace=False):
                g[k].included_in_balanced_subset = True
        included_users.add(user)
    for p in survey:
        p.included_in_balanced_subset = p.user_id in included_users


def _flag_rep_samples(survey: list[Participant], rng: np.random.Generator) -> None:
    """Mark US/UK participants with binary gender and known age/ethnicity as the REP samples."""
    for p in survey:
        eligible = (
            p.included_in_balanced_subset
            and p.gender in {"Male", "Female"}
            and p.ethnicity.categorised != vocab.PREFER_NOT_TO_SAY
        )
        p.included_in_US_REP = bool(eligible and p.study_locale == "us")
        p.included_in_UK_REP = bool(eligible and p.study_locale == "uk")


def _metadata(study: Study) -> list[TextMetadata]:
    def meta(column_id, user_id, conversation_id=None, interaction_id=None, utterance_id=None) -> TextMetadata:
        return TextMetadata.model_construct(
            column_id=column_id,
            user_id=user_id,
            conversation_id=conversation_id,
            interaction_id=interaction_id,
            utterance_id=utterance_id,
            pii_flag=False,
            pii_manual_flag=None,
            language_flag="en",
            en_flag=True,
            moderation_flag=None,
        )

    out = [
        meta("model_response", u.user_id, u.conversation_id, u.interaction_id, u.utterance_id) for u in study.utterances
    ]
    seen = set()
    for u in study.utterances:
        if u.interaction_id not in seen:
            seen.add(u.interaction_id)
            out.append(meta("user_prompt", u.user_id, u.conversation_id, u.interaction_id))
    out += [meta("open_feedback", c.user_id, c.conversation_id) for c in study.conversations]
    out += [meta("self_description", p.user_id) for p in study.survey]
    out += [meta("system_string", p.user_id) for p in study.survey]
    return out
