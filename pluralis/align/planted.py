"""A planted group preference (SIMULATION — not human data): a known answer for the aligners.

Group ``A`` prefers responses that end with a question ("... Want another tip?"), group ``B``
prefers the same answer ending with a statement ("... Good luck to you."). Each simulated
participant judges pairs of the two versions of a short answer to a short request; with
probability ``noise`` they pick against their group. Endings are of equal length, so the only
signal is the closing question (PRISM's ``if_question_marks`` feature: the last character is ``?``).

:func:`planted_question_pairs` returns chosen/rejected pairs in the shape of
:func:`pluralis.align.pairs.study_pairs` (``group`` = "A"/"B"), ready for
:func:`pluralis.align.pairs.split_participants`, the aligners and the evaluation;
:func:`heldout_prompts` gives requests on topics never used in the pairs.

Example
-------
>>> p = planted_question_pairs(n_participants=4, pairs_per_participant=3, seed=0)
>>> len(p), sorted(p["group"].unique())
(12, ['A', 'B'])
>>> bool(p.loc[p["group"] == "A", "chosen_text"].str.endswith("?").all())
True
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from pluralis.errors import ConfigError

TOPICS: tuple[str, ...] = (
    "sleeping better",
    "saving money",
    "learning a language",
    "growing tomatoes",
    "running a first 5k",
    "cooking rice",
    "writing an email",
    "staying focused",
    "making friends in a new city",
    "keeping a plant alive",
    "drinking more water",
    "reading more books",
)
HELDOUT_TOPICS: tuple[str, ...] = (
    "packing for a trip",
    "cleaning a kitchen",
    "starting to meditate",
    "walking a dog",
    "baking bread",
    "waking up early",
)
#: Situations a request may add, so that participants rarely ask the very same thing (held-out prompts exist).
CONTEXTS: tuple[str, ...] = (
    "",
    " this week",
    " on a busy day",
    " on a small budget",
    " as a beginner",
    " with little time",
    " when I feel tired",
    " before winter",
)
TIPS: tuple[str, ...] = (
    "Start small and do a little every day.",
    "Pick one simple habit and keep it for a week.",
    "Write down a plan and check it each evening.",
    "Ask a friend to join you so you stay on track.",
)
#: Endings of one length (17 characters), so length says nothing about the preference.
QUESTION_ENDINGS: tuple[str, ...] = ("Want another tip?", "Shall I say more?", "Need more advice?")
STATEMENT_ENDINGS: tuple[str, ...] = ("Good luck to you.", "Have a great day.", "Try it out today.")


def request(topic: str, context: str = "") -> list[dict[str, str]]:
    """The chat asking for one short tip on ``topic`` (``context``: a situation such as " this week").

    Parameters
    ----------
    topic : str
        What the tip is about (e.g. ``"sleeping better"``).
    context : str
        Appended to the request (default ``""``).

    Returns
    -------
    list of dict of str to str
        A one-message chat (the user's request).

    Example
    -------
    >>> request("baking bread")[-1]["content"], request("baking bread", " this week")[-1]["content"]
    ('Give me one short tip for baking bread.', 'Give me one short tip for baking bread this week.')
    """
    return [{"role": "user", "content": f"Give me one short tip for {topic}{context}."}]


def planted_question_pairs(
    n_participants: int = 40,
    pairs_per_participant: int = 6,
    *,
    noise: float = 0.05,
    topics: tuple[str, ...] = TOPICS,
    seed: int = 0,
) -> pd.DataFrame:
    """Chosen/rejected pairs of participants in groups ``A`` (likes a closing question) and ``B`` (does not).

    Participants alternate between the groups; each judges ``pairs_per_participant`` pairs (a random topic,
    situation, tip and pair of endings). Columns as :func:`pluralis.align.pairs.study_pairs` plus ``group`` and
    ``question_chosen`` (whether the chosen response ends with a question).

    Parameters
    ----------
    n_participants : int
        Number of participants (default 40).
    pairs_per_participant : int
        Pairs each participant judges (default 6).
    noise : float
        Probability that a judgement goes against the participant's group preference (default 0.05).
    topics : tuple of str
        The request topics drawn from.
    seed : int
        Random seed.

    Returns
    -------
    pandas.DataFrame
        One oriented pair per judgement.

    Example
    -------
    >>> p = planted_question_pairs(n_participants=20, pairs_per_participant=10, noise=0.1, seed=1)
    >>> float(p.groupby("group")["question_chosen"].mean().round(1)["A"]) >= 0.8
    True
    """
    if n_participants < 1 or pairs_per_participant < 1:
        raise ConfigError("need at least one participant and one pair each")
    if not 0 <= noise < 0.5:
        raise ConfigError(f"noise must be in [0, 0.5), got {noise}")
    rng = np.random.default_rng(seed)
    n = n_participants * pairs_per_participant
    user = np.repeat(np.arange(n_participants), pairs_per_participant)
    group = np.where(user % 2 == 0, "A", "B")
    topic = np.asarray(topics, dtype=object)[rng.integers(0, len(topics), n)]
    context = np.asarray(CONTEXTS, dtype=object)[rng.integers(0, len(CONTEXTS), n)]
    tip = np.asarray(TIPS, dtype=object)[rng.integers(0, len(TIPS), n)]
    q = np.asarray(QUESTION_ENDINGS, dtype=object)[rng.integers(0, len(QUESTION_ENDINGS), n)]
    s = np.asarray(STATEMENT_ENDINGS, dtype=object)[rng.integers(0, len(STATEMENT_ENDINGS), n)]
    with_q = tip + " " + q
    with_s = tip + " " + s
    likes_q = (group == "A") ^ (rng.random(n) < noise)
    prompts = [request(t, c) for t, c in zip(topic, context)]
    return pd.DataFrame(
        {
            "pair_id": np.arange(n),
            "user_id": np.array([f"sim{u:03d}" for u in user], dtype=object),
            "group": group,
            "prompt": prompts,
            "prompt_text": [p[-1]["content"] for p in prompts],
            "chosen_text": np.where(likes_q, with_q, with_s),
            "rejected_text": np.where(likes_q, with_s, with_q),
            "margin": np.nan,
            "source": "planted",
            "question_chosen": likes_q,
        }
    )


def heldout_prompts(topics: tuple[str, ...] = HELDOUT_TOPICS) -> list[list[dict[str, str]]]:
    """Requests on topics that :func:`planted_question_pairs` never uses.

    Parameters
    ----------
    topics : tuple of str
        The topics (default: six not used for training).

    Returns
    -------
    list of list of dict of str to str
        One request chat per topic.

    Example
    -------
    >>> len(heldout_prompts()), set(HELDOUT_TOPICS) & set(TOPICS)
    (6, set())
    """
    return [request(t) for t in topics]
