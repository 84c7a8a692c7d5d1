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
