"""Planted-reward preference pairs (SIMULATION — not human data): a known answer for the learners.

:func:`planted_pairs` writes response texts whose interpretable features are chosen at random —
a numbered list, a refusal, a closing question, an "As an AI" disclaimer, a length — and lets
simulated participants judge pairs of them with a Bradley–Terry model on those features::

    u_j(x) = (w_group(j) + gamma * c_j + delta_j) · x          P(a ≻ b) = σ(u_j(a) − u_j(b))

``w_group`` are the planted weights of the participant's group, ``c_j`` a standardised covariate
(reported as a 0–100 slider, ``stated_prefs_fluency`` by default) that shifts the weights by
``gamma``, and ``delta_j ~ N(0, individual_sd²)`` idiosyncratic taste. ``x`` is computed from the
text by :func:`pluralis.features.response.response_features` (the features a
:class:`pluralis.learn.featurizers.TextFeaturizer` gives), so a reward model on those features is
well specified and ``p_true`` (the true ``P(a ≻ b)``, a column) gives the Bayes rate
``E[max(p, 1 − p)]``. The learners' tests and examples use these pairs.

Example
-------
>>> p = planted_pairs(n_users=4, pairs_per_user=3, seed=0)
>>> sorted(p["group"].unique()), len(p), {"response_a", "response_b", "y", "p_true"} <= set(p.columns)
(['A', 'B'], 12, True)
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from pluralis.errors import ConfigError
from pluralis.features.response import response_features

#: Features the planted reward may weight (names as :class:`~pluralis.learn.featurizers.TextFeaturizer` outputs).
PLANTED_FEATURES: tuple[str, ...] = ("log_length", "if_enumeration", "if_refusal", "if_question_marks", "if_deanthro")

#: Default planted weights: both groups dislike refusals; A rewards lists, B penalises them.
DEFAULT_GROUP_WEIGHTS: dict[str, dict[str, float]] = {
    "A": {"if_enumeration": 1.5, "if_refusal": -2.0, "log_length": 0.3},
    "B": {"if_enumeration": -1.5, "if_refusal": -2.0, "log_length": 0.3},
}

_SENTENCES = np.array(
    [
        "The main thing is to start with a clear goal.",
        "Many people find a short daily routine helps.",
        "It is worth checking the details before you decide.",
        "A small first step usually works best.",
        "Timing matters more than most people expect.",
        "Try to write down what you want to achieve.",
        "Talking to someone you trust can make this easier.",
        "Costs vary a lot, so compare a few options.",
    ],
    dtype=object,
)


def random_responses(n: int, *, seed: int | np.random.Generator = 0) -> np.ndarray:
    """``n`` response texts (1–6 sentences) with randomly placed lists (40%), paragraph breaks (30% of
    multi-sentence texts), refusals (20%), closing questions (30%) and "As an AI" disclaimers (25%) —
    vectorised, for simulations and benchmarks.

    Parameters
    ----------
    n
        number of texts.
    seed
        a seed or a numpy Generator (drawn from).

    Returns
    -------
    numpy.ndarray
        ``n`` texts (object array).

    Example
    -------
    >>> t = random_responses(1000, seed=0)
    >>> len(t), 0.3 < float(np.mean(["\\n1. " in x for x in t])) < 0.5
    (1000, True)
    """
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    return _texts(rng, int(n))[0]


def _texts(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """``n`` response texts with random features; returns (texts, planted indicator matrix)."""
    k = rng.integers(1, 7, n)
    picks = rng.integers(0, len(_SENTENCES), (n, 6))
    body = pd.Series(_SENTENCES[picks[:, 0]], dtype=object)
    for j in range(1, 6):  # sentence slots (columns), not rows
        body = body + pd.Series(np.where(j < k, " " + _SENTENCES[picks[:, j]], ""), dtype=object)
    enum = rng.random(n) < 0.4
    refusal = rng.random(n) < 0.2
    question = rng.random(n) < 0.3
    deanthro = rng.random(n) < 0.25
    paragraph = (rng.random(n) < 0.3) & (k > 1)  # a paragraph break that is not a list
    text = body.where(~paragraph, body.str.replace(". ", ".\n\n", n=1, regex=False)).to_numpy(dtype=object)
    text = np.where(deanthro, "As an AI, I can only offer general guidance. " + text, text)
    text = np.where(refusal, "I'm sorry, but I cannot provide specific advice here. " + text, text)
    s = pd.Series(text, dtype=object)
    s = s.where(~enum, s + "\n1. Set a goal.\n2. Make a plan.\n3. Review it weekly.")
    s = s.where(~question, s + " Would you like more detail?")
    return s.to_numpy(dtype=object), np.column_stack([enum, refusal, question, deanthro])


def planted_pairs(
    n_users: int = 200,
    pairs_per_user: int = 30,
    *,
    groups: Mapping[str, Mapping[str, float]] | None = None,
    covariate: str = "stated_prefs_fluency",
    gamma: Mapping[str, float] | None = None,
    individual_sd: float = 0.0,
    seed: int = 0,
) -> pd.DataFrame:
    """Preference pairs from a planted linear reward on text features (see the module docstring).

    ``groups``: planted weights per group (participants split evenly); ``gamma``: weight change per
    SD of the covariate; ``individual_sd``: idiosyncratic taste. Returns a pairs frame (``user_id``,
    ``group``, the covariate, ``response_a/b``, ``y``, ``p_true``) and the rater's true weights
    (``w_<feature>`` columns).

    Parameters
    ----------
    n_users
        simulated participants (split evenly over the groups).
    pairs_per_user
        pairs each participant judges.
    groups
        planted weights ``{group: {feature: weight}}`` on :data:`PLANTED_FEATURES` (default
        :data:`DEFAULT_GROUP_WEIGHTS`).
    covariate
        name of the covariate column (a 0–100 slider).
    gamma
        weight change per SD of the covariate ``{feature: change}``.
    individual_sd
        SD of each participant's idiosyncratic weights.
    seed
        random seed.

    Returns
    -------
    pandas.DataFrame

    Example
    -------
    >>> p = planted_pairs(n_users=200, pairs_per_user=20, groups={"all": {"if_refusal": -3.0}}, seed=1)
    >>> refused_a = p["response_a"].str.contains("I'm sorry") & ~p["response_b"].str.contains("I'm sorry")
    >>> bool(p.loc[refused_a, "y"].mean() < 0.2)
    True
    """
    groups = dict(DEFAULT_GROUP_WEIGHTS if groups is None else groups)
    gamma = dict(gamma or {})
    for spec in [*groups.values(), gamma]:
        unknown = [f for f in spec if f not in PLANTED_FEATURES]
        if unknown:
            raise ConfigError(f"unknown planted feature(s) {unknown}; use {', '.join(PLANTED_FEATURES)}")
    if not groups or n_users < 1 or pairs_per_user < 1:
        raise ConfigError("need at least one group, one participant and one pair per participant")
    rng = np.random.default_rng(seed)
    names = list(groups)
    user_group = np.array(names, dtype=object)[np.arange(n_users) % len(names)]
    c = rng.normal(size=n_users)
    base = np.array([[float(groups[g].get(f, 0.0)) for f in PLANTED_FEATURES] for g in user_group])
    W = base + c[:, None] * np.array([float(gamma.get(f, 0.0)) for f in PLANTED_FEATURES])[None, :]
    W = W + rng.normal(0.0, float(individual_sd), W.shape)
    n = n_users * pairs_per_user
    texts, _ = _texts(rng, 2 * n)
    X = response_features(texts, features=PLANTED_FEATURES).to_numpy(dtype=float)
    user = np.repeat(np.arange(n_users), pairs_per_user)
    margin = np.einsum("ij,ij->i", X[:n] - X[n:], W[user])
    p_true = 1.0 / (1.0 + np.exp(-margin))
    y = (rng.random(n) < p_true).astype(float)
    ids = np.array([f"p{i:04d}" for i in range(n_users)], dtype=object)
    out = pd.DataFrame(
        {
            "pair_id": np.arange(n),
            "user_id": ids[user],
            "group": user_group[user],
            covariate: np.clip(np.rint(50 + 20 * c), 0, 100)[user],
            "response_a": texts[:n],
            "response_b": texts[n:],
            "y": y,
            "p_true": p_true,
        }
    )
    for j, f in enumerate(PLANTED_FEATURES):
        out[f"w_{f}"] = W[user, j]
    return out
