"""The synthetic study generator: PRISM shape, determinism, and a recoverable ground truth."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import kendalltau

from pluralis.data import vocab
from pluralis.data.roster import short_name
from pluralis.data.synthetic import generate_study


def test_same_seed_same_study_different_seed_different_study():
    a, b, c = (generate_study(8, seed=s) for s in (5, 5, 6))
    dump = lambda s: [u.model_dump() for u in s.utterances]
    assert dump(a) == dump(b)
    assert dump(a) != dump(c)


def test_prism_shape(small_study):
    f = small_study.frames()
    conv = f.conversations
    assert (conv.groupby("user_id").size() == 6).all()
    openers = f.utterances[f.utterances.turn == 0]
    per_opener = openers.groupby("interaction_id").size()
    assert per_opener.max() == 4 and per_opener.min() >= 1
    later = f.utterances[f.utterances.turn > 0].groupby("interaction_id")
    assert (later.size() == 2).all()
    assert (later["model_name"].nunique() == 1).all()  # the locked model answers later turns
    # exactly one chosen response per interaction, and it has the top score
    chosen = f.utterances[f.utterances.if_chosen]
    assert chosen.interaction_id.is_unique and len(chosen) == f.utterances.interaction_id.nunique()
    top = f.utterances.groupby("interaction_id").score.max()
    assert (chosen.set_index("interaction_id").score == top.loc[chosen.interaction_id]).all()
    # the locked model is the opener's chosen one
    locked = chosen[chosen.turn == 0].set_index("conversation_id").model_name
    follow = f.utterances[f.utterances.turn > 0].groupby("conversation_id").model_name.first()
    assert (locked.loc[follow.index] == follow).all()
    assert set(conv.conversation_type) == set(vocab.CONVERSATION_TYPES)
    assert (conv.conversation_turns.between(2, 10)).all()


def test_balanced_subset_flags(small_study):
    f = small_study.frames()
    kept = f.conversations[f.conversations.included_in_balanced_subset]
    counts = kept.groupby(["user_id", "conversation_type"]).size().unstack(fill_value=0)
    assert (counts.nunique(axis=1) == 1).all()  # equal numbers of each type per participant
    flagged = set(f.survey.loc[f.survey.included_in_balanced_subset, "user_id"])
    assert flagged == set(kept.user_id)


def test_mean_scores_recover_true_quality_and_group_shift():
    study = generate_study(600, seed=2, taste_sd=0.3)
    f = study.frames()
    u = f.utterances[f.utterances.turn == 0].copy()
    u["model"] = u.model_name.map(short_name)
    truth = study.ground_truth
    mean = u.groupby("model").score.mean()
    tau, _ = kendalltau(mean.loc[truth.models], truth.model_quality.loc[truth.models])
    assert tau > 0.75
    # planted shift: women like claude-2 more (+0.5) and command less (-0.4) than others do
    u = u.merge(f.survey[["user_id", "gender"]], on="user_id")
    gap = u[u.gender == "Female"].groupby("model").score.mean() - u[u.gender != "Female"].groupby("model").score.mean()
    assert gap["claude-2"] > 3 and gap["command"] < -3
    assert gap["claude-2"] - gap["command"] > 10


def test_true_ranking_for_a_population():
    study = generate_study(50, seed=0)
    survey = study.frames().survey
    ranking = study.ground_truth.true_ranking(survey, survey.location_special_region == "US")
    assert isinstance(ranking, pd.Series) and len(ranking) == 21
    assert np.all(np.diff(ranking.to_numpy()) <= 0)
