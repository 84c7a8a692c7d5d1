"""Fixtures for Case Study I: a generated study with planted topic preferences, embedded once per session."""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pytest

os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

OLDER = ("55-64 years old", "65+ years old")


@pytest.fixture(scope="session")
def embedder():
    """all-MiniLM-L6-v2 (bundled) behind an in-memory cache: each distinct text is embedded once per session."""
    from pluralis.topics.embed import CachingEmbedder, DictCache, SentenceEmbedder

    return CachingEmbedder(SentenceEmbedder(), DictCache())


@pytest.fixture(scope="session")
def planted():
    """400 participants, 6 conversations each, opening prompts on 6 planted topics.

    Planted (``DEFAULT_TOPIC_SHIFTS``): 55-64 and 65+ year olds ask +0.30 / +0.35 more about travel and
    as much less about jobs; women ask +0.10 more about pets and 0.10 less about elections.
    """
    from pluralis.data.synthetic import generate_study

    study = generate_study(n_participants=400, seed=0, planted_topics=True, with_metadata=False)
    frames = study.frames()
    survey = frames.survey.assign(older=np.where(frames.survey["age"].isin(OLDER), "55+", "under 55"))
    truth = study.ground_truth.conversation_topics.loc[frames.conversations["conversation_id"]].to_numpy()
    return study, frames, survey, truth


@pytest.fixture(scope="session")
def planted_fit(planted, embedder):
    """The topic pipeline on the planted study's opening prompts, and each fitted topic's true topic."""
    from pluralis.topics import TopicModel

    study, frames, survey, truth = planted
    conv = frames.conversations
    tm = TopicModel(embedder, n_neighbors=30, min_cluster_size=40, deduplicate=True).fit(
        conv["opening_prompt"].tolist()
    )
    mapping = pd.crosstab(tm.labels_, truth).idxmax(axis=1).to_dict()
    assign = conv[["conversation_id", "user_id", "conversation_type"]].assign(
        topic=tm.labels_, topic_name=pd.Series(tm.labels_).map(tm.names_).to_numpy()
    )
    return tm, assign, mapping
