"""Preference pairs from PRISM ratings and Community-Alignment comparisons."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from pluralis.data.study import Study
from pluralis.errors import ConfigError, DataValidationError
from pluralis.learn.pairs import attach_survey, pairs_from_comparisons, pairs_from_study, preference_pairs


def _utterances():
    # one opener with four responses, then a follow-up turn with two samples of the locked model
    return pd.DataFrame(
        {
            "utterance_id": [f"u{i}" for i in range(6)],
            "interaction_id": ["c1#0"] * 4 + ["c1#1"] * 2,
            "conversation_id": ["c1"] * 6,
            "user_id": ["p1"] * 6,
            "turn": [0, 0, 0, 0, 1, 1],
            "conversation_type": ["values guided"] * 6,
            "user_prompt": ["Is it fair?"] * 4 + ["Why?"] * 2,
            "model_name": ["m1", "m2", "m3", "m4", "m1", "m1"],
            "score": [80, 40, 77, 40, 90, 20],
            "model_response": ["A", "B", "C", "D", "E", "F"],
        }
    )


def test_every_pair_within_an_interaction_with_texts_and_labels():
    p = preference_pairs(_utterances(), ties="half")
    got = p[["response_a", "response_b", "y"]].values.tolist()
    assert got == [
        ["A", "B", 1.0],
        ["A", "C", 0.5],
        ["A", "D", 1.0],
        ["B", "C", 0.0],
        ["B", "D", 0.5],
        ["C", "D", 1.0],
        ["E", "F", 1.0],  # two samples of the same model: kept (they compare responses, not models)
    ]
    assert p["prompt"].tolist() == ["Is it fair?"] * 6 + ["Why?"]
    assert p["turn"].tolist() == [0] * 6 + [1]
    assert p["utterance_id_a"].tolist()[:3] == ["u0", "u0", "u0"]
    assert p["pair_id"].tolist() == list(range(7))
    assert p.attrs["n_ties"] == 2


def test_ties_dropped_by_default_and_threshold_zero_keeps_close_scores():
    assert preference_pairs(_utterances())["y"].tolist() == [1.0, 1.0, 0.0, 1.0, 1.0]
    strict = preference_pairs(_utterances(), tie_threshold=0)
    assert len(strict) == 6 and 0.5 not in strict["y"].tolist()  # only B=D (40 vs 40) is a tie
    assert preference_pairs(_utterances(), turns="openers")["turn"].eq(0).all()


def test_matches_extract_battles_on_a_synthetic_study(small_study):
    from pluralis.ranking.battles import extract_battles

    f = small_study.frames()
    p = preference_pairs(f.utterances, f.survey, tie_threshold=0, ties="half")
    b = extract_battles(f.utterances, tie_threshold=0, turns="all", drop_self_battles=False)
    assert len(p) == len(b)
    # texts are those of the rated utterances, and the winner has the higher score
    text = f.utterances.set_index("utterance_id")["model_response"]
    assert (p["response_a"].to_numpy() == text.reindex(p["utterance_id_a"]).to_numpy()).all()
    assert (p["response_b"].to_numpy() == text.reindex(p["utterance_id_b"]).to_numpy()).all()
    expected = np.where(p["score_a"] > p["score_b"], 1.0, np.where(p["score_a"] < p["score_b"], 0.0, 0.5))
    assert (p["y"].to_numpy() == expected).all()
    # survey fields are the rater's
    gender = f.survey.set_index("user_id")["gender"]
    assert (p["gender"].to_numpy() == gender.reindex(p["user_id"]).to_numpy()).all()
    assert p["stated_prefs_safety"].notna().all()


def test_attach_survey_columns_all_and_unknown():
    p = pd.DataFrame({"user_id": ["u", "w"], "y": [1.0, 0.0]})
    s = pd.DataFrame({"user_id": ["u"], "gender": ["Female"], "hobby": ["chess"], "tags": [["a"]]})
    out = attach_survey(p, s, "all")
    assert out["hobby"].tolist()[0] == "chess" and pd.isna(out["hobby"].iloc[1])
    assert "tags" not in out.columns  # nested values are not per-pair fields
    with pytest.raises(ConfigError, match="survey field.*'colour'"):
        attach_survey(p, s, ["colour"])
    with pytest.raises(DataValidationError, match="survey:2: field 'user_id': duplicate participant 'u'"):
        attach_survey(p, pd.concat([s, s]), None)


def test_bad_input_is_a_clear_error():
    u = _utterances().drop(columns=["model_response"])
    with pytest.raises(DataValidationError, match="field 'model_response'"):
        preference_pairs(u)
    with pytest.raises(ConfigError, match="ties must be"):
        preference_pairs(_utterances(), ties="sometimes")
    with pytest.raises(ConfigError, match="tie_threshold"):
        preference_pairs(_utterances(), tie_threshold=-1)


def test_missing_response_texts_are_dropped_and_counted():
    u = _utterances()
    u.loc[1, "model_response"] = None
    p = preference_pairs(u, ties="half")
    assert "B" not in set(p["response_a"]) | set(p["response_b"])
    assert p.attrs["n_missing_text"] == 3 and len(p) == 4


def _ca_study(tmp_path):
    from pluralis.data.io.community_alignment import read_community_alignment

    rows = [
        {
            "conversation_id": "x1",
            "annotator_id": "a1",
            "first_turn_prompt": "Advice?",
            "first_turn_response_a": "Short.",
            "first_turn_response_b": "A longer, kinder answer.",
            "first_turn_response_c": "I'm sorry, but no.",
            "first_turn_response_d": "Maybe.",
            "first_turn_preferred_response": "b",
        },
        {
            "conversation_id": "x2",
            "annotator_id": "a2",
            "first_turn_prompt": "Hi",
            "first_turn_response_a": "Hello!",
            "first_turn_response_b": "Hey.",
            "first_turn_preferred_response": "a",
        },
    ]
    path = tmp_path / "ca.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    return Study(comparisons=read_community_alignment(path))


def test_pairs_from_community_alignment_comparisons(tmp_path):
    study = _ca_study(tmp_path)
    p = pairs_from_comparisons(study.frames().comparisons)
    assert p[["response_a", "response_b", "y", "user_id"]].values.tolist() == [
        ["A longer, kinder answer.", "Short.", 1.0, "a1"],
        ["A longer, kinder answer.", "I'm sorry, but no.", 1.0, "a1"],
        ["A longer, kinder answer.", "Maybe.", 1.0, "a1"],
        ["Hello!", "Hey.", 1.0, "a2"],
    ]
    assert p["prompt"].tolist() == ["Advice?"] * 3 + ["Hi"]
    # the same through pairs_from_study (a study without ratings)
    assert len(pairs_from_study(study)) == 4


def test_pairs_from_study_without_pairs_is_an_error():
    with pytest.raises(ConfigError, match="nothing to learn from"):
        pairs_from_study(Study())
    u = _utterances().iloc[[0, 4]]  # one response per interaction: no pairs
    from pluralis.data.study import StudyFrames

    frames = StudyFrames(pd.DataFrame(), pd.DataFrame(), u, pd.DataFrame(), pd.DataFrame())
    with pytest.raises(ConfigError, match="no preference pairs"):
        pairs_from_study(frames)
