"""One answer-key class: synthetic studies and persona simulations both use pluralis.data.truth.GroundTruth."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pluralis.data.synthetic import generate_study
from pluralis.data.truth import GroundTruth
from pluralis.errors import ConfigError
from pluralis.simulate.preference import TERMS, PreferenceModel, SimulationTruth, model_feature_table


def _features():
    u = pd.DataFrame(
        {
            "turn": 0,
            "conversation_type": ["unguided", "unguided", "controversy guided", "controversy guided"],
            "model_name": ["a", "b", "a", "b"],
            "model_response": ["Sure.", "I'm sorry, but no.", "Equality and rights.", "Tradition and faith."],
        }
    )
    return model_feature_table(u)


def test_simulation_truth_is_the_ground_truth_class_with_known_answers():
    feats = _features()
    w = pd.DataFrame(
        {"theta_len": [0.0, 0.3], "theta_ref": [-1.0, -2.0], "theta_hedge": 0.0, "theta_enum": 0.0},
        index=pd.Index(["u1", "u2"], name="user_id"),
    )
    w["lambda_stance"] = [0.7, -0.7]  # u1 likes progressive, u2 conservative answers
    model = PreferenceModel(quality={"a": 0.2}, group_shifts={("gender", "Female"): {"b": 0.5}})
    shares = pd.Series({"unguided": 0.75, "controversy guided": 0.25})
    t = SimulationTruth.from_model(model, w, feats, shares, ["a", "b"])
    assert isinstance(t, GroundTruth) and t.preference is model
    survey = pd.DataFrame({"user_id": ["u1", "u2"], "gender": ["Female", "Male"]})
    eu = t.expected_utility(survey)
    # by hand: sum over types of share * (w . (x * scale)) + quality + group shift
    x = {c: feats.loc[c].reindex(["a", "b"])[list(TERMS)].to_numpy() for c in shares.index}
    expected = np.zeros((2, 2))
    for c, share in shares.items():
        scale = np.array([1, 1, 1, 1, model.kappa[c]])
        W = w[["theta_len", "theta_ref", "theta_hedge", "theta_enum", "lambda_stance"]].to_numpy()
        expected += share * W @ (x[c] * scale).T
    expected += np.array([0.2, 0.0]) + np.array([[0.0, 0.5], [0.0, 0.0]])
    np.testing.assert_allclose(eu.to_numpy(), expected)
    # one conversation type: its features alone, scaled by its kappa
    cg = t.expected_utility(survey, "controversy guided").to_numpy()
    assert cg[0, 0] > cg[0, 1] and cg[1, 0] < cg[1, 1]  # stance: each persona prefers its side
    assert t.true_ranking(survey, survey["gender"] == "Female").index[0] == "a"
    with pytest.raises(ConfigError, match="unknown conversation type"):
        t.expected_utility(survey, "smalltalk")
    with pytest.raises(ConfigError, match="no simulated weights"):
        t.expected_utility(pd.DataFrame({"user_id": ["nobody"]}))


def test_synthetic_truth_adds_type_shifts_only_when_asked():
    s = generate_study(20, seed=0, with_metadata=False)
    gt, survey = s.ground_truth, s.frames().survey
    assert type(gt) is GroundTruth and gt.person_weights is None
    base = gt.expected_utility(survey)
    shifted = gt.expected_utility(survey, "controversy guided")
    diff = (shifted - base).iloc[0]
    assert diff["zephyr-7b-beta"] == pytest.approx(0.5) and diff["claude-2"] == pytest.approx(-0.5)
    assert set(gt.params) >= {"taste_sd", "noise_sd", "score_scale", "style"}
    with pytest.raises(ConfigError, match="empty"):
        gt.true_ranking(survey, np.zeros(len(survey), bool))
