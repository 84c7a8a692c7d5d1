"""Fixtures for the learner tests: simulated studies and planted-reward pairs with known answers (seeded)."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


@pytest.fixture(scope="session")
def persona_study():
    """200 census-grounded personas through the PRISM protocol, rated by the preference model
    (ratings depend on response length, refusals, hedging, lists and stance, with trait-dependent weights)."""
    from pluralis.simulate.generator import generate_personas
    from pluralis.simulate.study import rep_frame, simulate_study

    res = simulate_study(generate_personas(200, seed=0), seed=0)
    return res, rep_frame(res.study)


@pytest.fixture(scope="session")
def persona_pairs(persona_study):
    """Featurised pairs of the persona study with the simulation's own features (well specified)."""
    from pluralis.learn.featurizers import TextFeaturizer
    from pluralis.learn.models import featurize_pairs
    from pluralis.learn.pairs import preference_pairs

    res, survey = persona_study
    pairs = preference_pairs(res.study.frames().utterances, survey, survey_columns="all")
    return featurize_pairs(pairs, TextFeaturizer(features="style"))


def _covariate_pairs(
    kind: str = "none",
    n_users: int = 200,
    pairs_per_user: int = 30,
    *,
    n_noise: int = 0,
    noise_levels: int = 5,
    seed: int = 0,
):
    """Planted pairs over 4 binary response features with participant covariates ``z1``, ``z2`` (numeric)
    and ``n_noise`` unrelated categorical ones (``noise0``, ...), as PairFeatures with ``p_true``.

    kind: ``"none"`` (everyone shares w = [1, -1.5, 0.5, 0]); ``"linear"`` (the first weight is 1.5 z1);
    ``"xor"`` (two latent groups with opposite weights ±2 on the first feature; membership is
    ``z1 · z2 > 0``, an interaction no linear function of z1 and z2 expresses).
    """
    import numpy as np
    import pandas as pd

    from pluralis.learn.models import PairFeatures

    rng = np.random.default_rng(seed)
    z1, z2 = rng.normal(size=(2, n_users))
    user = np.repeat(np.arange(n_users), pairs_per_user)
    n = len(user)
    pa, pb = rng.integers(0, 2, (2, n, 4)).astype(float)
    base = np.array([1.0, -1.5, 0.5, 0.0])
    if kind == "none":
        w = np.tile(base, (n, 1))
    elif kind == "linear":
        w = np.tile(base * [0, 1, 1, 1], (n, 1)) + np.outer(1.5 * z1[user], [1.0, 0, 0, 0])
    elif kind == "xor":
        sign = np.where(z1 * z2 > 0, 1.0, -1.0)[user]
        w = np.tile(base * [0, 1, 1, 1], (n, 1)) + np.outer(2.0 * sign, [1.0, 0, 0, 0])
    else:
        raise ValueError(kind)
    p = 1.0 / (1.0 + np.exp(-np.sum(w * (pa - pb), axis=1)))
    y = (rng.random(n) < p).astype(float)
    frame = pd.DataFrame({"user_id": np.char.add("u", user.astype(str)), "z1": z1[user], "z2": z2[user], "p_true": p})
    for j in range(n_noise):
        frame[f"noise{j}"] = np.char.add("level", rng.integers(0, noise_levels, n_users).astype(str))[user]
    return PairFeatures.from_arrays(pa, pb, y, frame, feature_names=["list", "refusal", "question", "length"])


@pytest.fixture(scope="session")
def covariate_pairs():
    """A factory of planted pairs with covariates (see ``_covariate_pairs``)."""
    return _covariate_pairs
