"""Battle extraction (PRISM spec §2.6, §6.1) and the integer-coded form."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pluralis.errors import ConfigError, DataValidationError
from pluralis.ranking.battles import (
    A_WINS,
    B_WINS,
    TIE,
    BattleArrays,
    balanced_subset,
    battles_from_comparisons,
    decided_by_ratings,
    encode_battles,
    extract_battles,
    normalized_scores,
    prepare_ratings,
    ratings_from_battles,
    rescore_battles,
    within_turn_ranks,
)


def utterances(rows):
    """rows: (interaction, user, turn, model, score[, conversation_type])"""
    df = pd.DataFrame(
        rows, columns=["interaction_id", "user_id", "turn", "model_name", "score", "conversation_type"][: len(rows[0])]
    )
    df["conversation_id"] = "c-" + df["interaction_id"].str.split("-").str[0]
    df["utterance_id"] = [f"ut{i}" for i in range(len(df))]
    if "conversation_type" not in df:
        df["conversation_type"] = "unguided"
    return df


def test_pairs_follow_combinations_order_and_tie_rule():
    u = utterances(
        [
            ("1-0", "u1", 0, "a", 80),
            ("1-0", "u1", 0, "b", 75),  # |80-75| = 5 -> tie (inclusive)
            ("1-0", "u1", 0, "c", 20),
            ("1-0", "u1", 0, "d", 95),
            ("2-0", "u2", 0, "b", 10),
            ("2-0", "u2", 0, "c", 16),  # 6 > 5 -> c wins (model_b)
        ]
    )
    b = extract_battles(u, short_names=False)
    pairs = list(itertools.combinations("abcd", 2)) + [("b", "c")]
    assert list(zip(b["model_a"], b["model_b"])) == pairs
    assert b["winner"].tolist() == ["tie", "model_a", "model_b", "model_a", "model_b", "model_b", "model_b"]
    assert b["user_id"].tolist() == ["u1"] * 6 + ["u2"]
    assert b["score_a"].tolist()[:3] == [80, 80, 80]
    assert b.attrs["tie_threshold"] == 5.0


@pytest.mark.parametrize("t, expected", [(0, "model_a"), (4.9, "model_a"), (5, "tie"), (20, "tie")])
def test_tie_threshold_is_inclusive(t, expected):
    u = utterances([("1-0", "u", 0, "x", 60), ("1-0", "u", 0, "y", 55)])
    assert extract_battles(u, tie_threshold=t, short_names=False)["winner"].tolist() == [expected]


def test_equal_scores_with_zero_threshold_tie():
    u = utterances([("1-0", "u", 0, "x", 60), ("1-0", "u", 0, "y", 60)])
    assert extract_battles(u, tie_threshold=0, short_names=False)["winner"].tolist() == ["tie"]


def test_openers_only_by_default_and_self_battles_dropped():
    u = utterances(
        [
            ("1-0", "u", 0, "x", 60),
            ("1-0", "u", 0, "y", 40),
            ("1-1", "u", 1, "x", 70),  # later turn: the locked model twice
            ("1-1", "u", 1, "x", 30),
        ]
    )
    assert len(extract_battles(u, short_names=False)) == 1
    allturns = extract_battles(u, turns="all", short_names=False)
    assert len(allturns) == 1  # the x-vs-x battle carries no ranking information
    kept = extract_battles(u, turns="all", drop_self_battles=False, short_names=False)
    assert len(kept) == 2 and kept["turn"].tolist() == [0, 1]


def test_balanced_subset_flag_used():
    u = utterances(
        [("1-0", "u", 0, "x", 60), ("1-0", "u", 0, "y", 40), ("2-0", "v", 0, "x", 10), ("2-0", "v", 0, "y", 90)]
    )
    u["included_in_balanced_subset"] = [True, True, False, False]
    b = extract_battles(u, balanced=True, short_names=False)
    assert b["user_id"].tolist() == ["u"]


def test_balanced_subset_recomputed_when_flag_missing():
    conv = pd.DataFrame(
        {
            "user_id": ["u"] * 5 + ["v"] * 2,
            "conversation_type": [
                "unguided",
                "unguided",
                "values guided",
                "controversy guided",
                "controversy guided",
                "unguided",
                "values guided",
            ],
        }
    )
    keep = balanced_subset(conv, seed=1)
    assert keep[:5].sum() == 3 and not keep[5:].any()
    # exactly one of each type kept for u
    assert sorted(conv.loc[keep, "conversation_type"]) == ["controversy guided", "unguided", "values guided"]


def test_normalized_scores_follow_spec():
    z = normalized_scores(np.array([10.0, 20, 30, 50, 50, 7]), np.array(["u", "u", "u", "v", "v", "w"]))
    assert np.allclose(z[:3], [-1, 0, 1])  # ddof=1: sd = 10
    assert z[3] == 0 and z[4] == 0  # sd 0 -> 0
    assert np.isnan(z[5])  # single score -> NaN


def test_within_turn_rank_breaks_ties_randomly_but_reproducibly():
    s = np.array([50, 50, 10, 70, 70])
    g = np.array(["i", "i", "i", "j", "j"])
    r1 = within_turn_ranks(s, g, seed=3)
    assert sorted(r1[:2]) == [1, 2] and r1[2] == 3 and sorted(r1[3:]) == [1, 2]
    assert np.array_equal(r1, within_turn_ranks(s, g, seed=3))
    seen = {tuple(within_turn_ranks(s, g, seed=k)[:2]) for k in range(20)}
    assert seen == {(1.0, 2.0), (2.0, 1.0)}


def test_normalized_and_rank_bases():
    u = utterances(
        [("1-0", "u", 0, "x", 90), ("1-0", "u", 0, "y", 80), ("2-0", "u", 0, "x", 30), ("2-0", "u", 0, "y", 20)]
    )
    raw = extract_battles(u, short_names=False)
    norm = extract_battles(u, score="normalized", short_names=False)
    rank = extract_battles(u, score="rank", short_names=False)
    assert raw["winner"].tolist() == ["model_a", "model_a"]
    # z-scale threshold 0.25: 10 points / sd 36.5 = 0.27 > 0.25 -> decisive
    assert norm["winner"].tolist() == ["model_a", "model_a"]
    assert rank["winner"].tolist() == ["model_a", "model_a"]
    assert rank["score_a"].tolist() == [1.0, 1.0]
    assert extract_battles(u, score="normalized", tie_threshold=0.5, short_names=False)["winner"].tolist() == [
        "tie",
        "tie",
    ]


def test_rescore_changes_ties_only():
    u = utterances([("1-0", "u", 0, "x", 60), ("1-0", "u", 0, "y", 52), ("1-0", "u", 0, "z", 20)])
    b = extract_battles(u, short_names=False)
    assert rescore_battles(b, 10)["winner"].tolist() == ["tie", "model_a", "model_a"]
    assert rescore_battles(b, 0)["winner"].tolist() == b["winner"].tolist()


def test_interaction_id_derived_from_conversation_and_turn():
    u = utterances([("1-0", "u", 0, "x", 60), ("1-0", "u", 0, "y", 40)]).drop(columns="interaction_id")
    assert len(extract_battles(u, short_names=False)) == 1


def test_long_model_names_mapped_to_short_names():
    u = utterances([("1-0", "u", 0, "models/chat-bison-001", 60), ("1-0", "u", 0, "claude-2", 40)])
    assert extract_battles(u)["model_a"].tolist() == ["palm-2"]


def test_missing_columns_raise_clear_error():
    with pytest.raises(DataValidationError, match="score"):
        extract_battles(pd.DataFrame({"model_name": ["x"], "user_id": ["u"], "interaction_id": ["i"]}))
    with pytest.raises(ConfigError, match="score must be one of"):
        extract_battles(utterances([("1-0", "u", 0, "x", 60)]), score="zscore")
    with pytest.raises(ConfigError, match="tie_threshold"):
        extract_battles(utterances([("1-0", "u", 0, "x", 60)]), tie_threshold=-1)


def test_encode_battles_round_trip_and_errors():
    b = pd.DataFrame(
        {"model_a": ["y", "x"], "model_b": ["x", "z"], "winner": ["model_b", "tie (bothbad)"], "user_id": ["u", "v"]}
    )
    arr = encode_battles(b)
    assert arr.models == ("x", "y", "z")
    assert arr.a.tolist() == [1, 0] and arr.b.tolist() == [0, 2]
    assert arr.outcome.tolist() == [B_WINS, TIE]
    assert arr.n_clusters == 2
    with pytest.raises(DataValidationError, match="line 1|winner"):
        encode_battles(b.assign(winner=["bad", "tie"]))
    with pytest.raises(DataValidationError, match="not in the model list"):
        encode_battles(b, models=["x", "y"])
    with pytest.raises(DataValidationError):
        BattleArrays.from_lists(["x"], [0], [1], [0])
    assert A_WINS == 0


def test_ratings_from_battles_deduplicates_responses():
    u = utterances([("1-0", "u", 0, "x", 60), ("1-0", "u", 0, "y", 40), ("1-0", "u", 0, "z", 50)])
    r = ratings_from_battles(extract_battles(u, short_names=False))
    assert sorted(r["model_name"]) == ["x", "y", "z"]
    assert set(r.columns) >= {"score", "normalized_score", "within_turn_rank", "user_id"}


def test_prepare_ratings_on_synthetic_study(small_study):
    u = small_study.frames().utterances
    r = prepare_ratings(u)
    assert (r["turn"] == 0).all()
    b = extract_battles(u)
    n_pairs = r.groupby("interaction_id").size().map(lambda k: k * (k - 1) // 2).sum()
    assert len(b) == n_pairs
    assert set(b["winner"]) <= {"model_a", "model_b", "tie"}
    bal = extract_battles(u, balanced=True)
    assert 0 < len(bal) <= len(b)


def test_battles_from_comparisons_two_and_k_way():
    c = pd.DataFrame(
        {
            "models": [["x", "y"], ["x", "y"], ["x", "y", "z"], ["x", "y", "z"]],
            "winner": [1, None, None, 2],
            "tie": [False, True, False, False],
            "ratings": [None, None, [5.0, 9.0, 5.0], None],
            "ranking": [None, None, None, None],
            "annotator_id": ["a1", "a2", "a3", "a4"],
        }
    )
    b = battles_from_comparisons(c)
    assert b["winner"].tolist() == ["model_b", "tie", "model_b", "tie", "model_a", "model_a", "model_a"]
    assert b["model_a"].tolist()[-2:] == ["z", "z"]  # the k-way winner beats every other candidate
    assert b["user_id"].tolist() == ["a1", "a2", "a3", "a3", "a3", "a4", "a4"]


def test_battles_from_rated_pairs_decide_by_ratings_and_threshold():
    # a pairwise ratings table (two items per rater): a tie or a win decided by the ratings was a
    # "ValueError: assignment destination is read-only" crash (pandas' copy-on-write arrays)
    c = pd.DataFrame(
        {
            "models": [["t0", "t1"], ["t0", "t1"], ["t0", "t1"]],
            "winner": [None, None, 1],
            "tie": [False, False, False],
            "ratings": [[5.0, 4.0], [3.0, 3.0], [5.0, 4.0]],
            "annotator_id": ["p0", "p1", "p2"],
        }
    )
    assert battles_from_comparisons(c)["winner"].tolist() == ["model_a", "tie", "model_b"]  # p2's winner is kept
    assert battles_from_comparisons(c, tie_threshold=1)["winner"].tolist() == ["tie", "tie", "model_b"]


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_decided_by_ratings_is_exactly_where_the_ratings_set_the_battles(data):
    """The rule's one home agrees with what ``battles_from_comparisons`` does: reversing a comparison's ratings
    changes its battles exactly where ``decided_by_ratings`` says the ratings decide it."""
    rows = []
    for _ in range(data.draw(st.integers(1, 6))):
        k = data.draw(st.sampled_from([2, 2, 3, 4]))
        rated = data.draw(st.sampled_from(["all", "none", "missing one"]))
        ratings = {"all": [float(v) for v in data.draw(st.permutations(range(1, k + 1)))], "none": None}.get(
            rated, [None] + [float(v) for v in range(2, k + 1)]
        )
        judgement = data.draw(st.sampled_from(["winner", "tie", "none"]))
        rows.append(
            {
                "models": [f"m{j}" for j in range(k)],
                "winner": data.draw(st.integers(0, k - 1)) if judgement == "winner" else None,
                "tie": judgement == "tie",
                "ratings": ratings,
                "annotator_id": f"u{len(rows)}",
            }
        )
    comparisons = pd.DataFrame(rows)
    decided = decided_by_ratings(comparisons)
    reversed_ratings = comparisons.assign(
        ratings=[None if r is None else [None if x is None else -x for x in r] for r in comparisons["ratings"]]
    )
    before, after = battles_from_comparisons(comparisons), battles_from_comparisons(reversed_ratings)
    for i, row in enumerate(rows):
        b, a = (f[f["user_id"] == row["annotator_id"]]["winner"].tolist() for f in (before, after))
        assert (b != a) == bool(decided[i]), (row, b, a)
    assert not decided_by_ratings(comparisons.drop(columns="ratings")).any()
