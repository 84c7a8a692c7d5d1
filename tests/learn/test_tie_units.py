"""One tie-threshold default, in the units of the score used: a threshold in the wrong units (5 rating
points on per-participant z-scores) made every pair a tie; the learners now refuse such pairs with a
message that names the threshold, the score basis and its default."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pluralis.errors import ConfigError
from pluralis.learn.featurizers import TextFeaturizer
from pluralis.learn.groups import cross_group_accuracy
from pluralis.learn.models import (
    MAX_TIE_SHARE,
    PairFeatures,
    RewardModel,
    check_tie_share,
    default_tie_threshold,
    featurize_pairs,
    tie_share,
)
from pluralis.learn.pairs import preference_pairs
from pluralis.ranking.battles import DEFAULT_TIE_THRESHOLDS


def _utterances(n_users=40, seed=0):
    rng = np.random.default_rng(seed)
    n = n_users * 3 * 4
    user = np.repeat(np.arange(n_users), 12)
    inter = np.repeat(np.arange(n // 4), 4)
    listed = rng.random(n) < 0.5
    text = pd.Series([f"Reply {i}." for i in range(n)], dtype=object)
    text = text.where(~listed, text + "\n1. One.\n2. Two.")
    return pd.DataFrame(
        {
            "user_id": np.char.add("p", user.astype(str)),
            "interaction_id": np.char.add("i", inter.astype(str)),
            "conversation_id": np.char.add("c", inter.astype(str)),
            "turn": 0,
            "model_name": np.tile(["a", "b", "c", "d"], n // 4),
            "model_response": text.to_numpy(),
            "score": np.clip(np.rint(50 + 25 * listed + rng.normal(0, 15, n)), 1, 100),
            "group": np.where(user % 2 == 0, "x", "y"),
        }
    )


def test_one_default_per_score_basis_from_the_battles():
    for basis, value in DEFAULT_TIE_THRESHOLDS.items():
        assert default_tie_threshold(basis) == value
    with pytest.raises(ConfigError, match="score must be one of"):
        default_tie_threshold("percent")


@pytest.mark.parametrize("ties", ["drop", "half"])
def test_raw_point_threshold_on_z_scores_is_refused_with_a_clear_message(ties):
    u = _utterances()
    wrong = preference_pairs(u, tie_threshold=5.0, score="normalized", ties=ties)
    assert tie_share(wrong) == 1.0
    msg = (
        r"tie_threshold=5 made 100% of .* pairs ties \(score='normalized': .*standard deviations.*default there is 0.25"
    )
    with pytest.raises(ConfigError, match=msg):
        featurize_pairs(wrong)
    with pytest.raises(ConfigError, match=msg):
        RewardModel().fit(wrong)
    survey = u.drop_duplicates("user_id")[["user_id", "group"]]
    with pytest.raises(ConfigError, match=msg):
        cross_group_accuracy(preference_pairs(u, survey, tie_threshold=5.0, score="normalized", ties=ties), "group")


def test_thresholds_in_the_units_of_the_score_keep_the_winners():
    u = _utterances()
    for basis in ("raw", "normalized"):
        pairs = preference_pairs(u, tie_threshold=default_tie_threshold(basis), score=basis)
        assert tie_share(pairs) < 0.5
        pf = featurize_pairs(pairs, TextFeaturizer(features=["if_enumeration"]))
        assert pf.attrs["score"] == basis and pf.take([0, 1]).attrs == pf.attrs  # settings travel with subsets
        assert RewardModel().fit(pf).coefficients()["if_enumeration"] > 0


def test_the_check_counts_ties_kept_or_dropped_and_can_be_switched_off():
    p = pd.DataFrame({"y": [1.0, 0.0, 0.5, 0.5]})
    p.attrs.update({"n_ties": 2, "ties": "half", "tie_threshold": 0.0, "score": "raw"})
    assert tie_share(p) == 0.5 and check_tie_share(p) == 0.5
    p.attrs.update({"n_ties": 96, "ties": "drop"})
    assert tie_share(p) == pytest.approx(96 / 98)
    with pytest.raises(ConfigError, match="rating points"):
        check_tie_share(p)
    assert check_tie_share(p, None) == pytest.approx(96 / 98)
    assert MAX_TIE_SHARE == 0.95
    pf = PairFeatures.from_arrays(np.ones((20, 1)), np.zeros((20, 1)), np.r_[np.full(19, 0.5), 1.0])
    with pytest.raises(ConfigError, match="95% of 20 pairs"):
        RewardModel().fit(pf)
