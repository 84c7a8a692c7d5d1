"""Over-representation factor: formula cross-check, planted effects flagged exactly, bootstrap behaviour."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pluralis.data.vocab import PREFER_NOT_TO_SAY
from pluralis.errors import ConfigError
from pluralis.topics import over_representation
from pluralis.topics.overrep import adjust_pvalues


def reference_factor(texts: pd.DataFrame, survey: pd.DataFrame, field: str, base: str) -> dict:
    """OR[g,t] = (N[g,t] / N[t]) / b[g], b[g] the group's share of participants (or of texts)."""
    out = {}
    authors = set(texts["user_id"])
    people = survey[survey["user_id"].isin(authors)]
    group_of = dict(zip(survey["user_id"], survey[field]))
    for g in people[field].dropna().unique():
        if base == "participants":
            b = (people[field] == g).sum() / len(people)
        else:
            b = sum(group_of[u] == g for u in texts["user_id"]) / len(texts)
        for t in texts["topic"].unique():
            in_t = texts[texts["topic"] == t]
            n_gt = sum(group_of[u] == g for u in in_t["user_id"])
            out[(g, t)] = (n_gt / len(in_t)) / b
    return out


@pytest.mark.parametrize("base", ["participants", "prompts"])
def test_factor_matches_the_formula(base):
    rng = np.random.default_rng(3)
    survey = pd.DataFrame({"user_id": [f"u{i}" for i in range(50)], "g": rng.choice(["a", "b", "c"], 50)})
    n_texts = rng.integers(1, 8, 50)  # unequal numbers of texts: the two bases differ
    texts = pd.DataFrame({"user_id": np.repeat(survey["user_id"], n_texts)})
    texts["topic"] = rng.choice([-1, 0, 1, 2], len(texts))
    table = over_representation(
        texts, "g", survey=survey, base=base, min_participants=1, n_boot=0, include_outliers=True, exclude=()
    )
    ref = reference_factor(texts, survey, "g", base)
    got = {(r.group, r.topic): r.factor for r in table.itertuples()}
    assert set(got) == set(ref)
    for key, value in ref.items():
        assert got[key] == pytest.approx(value, rel=1e-12)
    assert (table["base"] == base).all()


def test_fields_that_vary_within_a_participant_use_the_prompt_base():
    texts = pd.DataFrame(
        {"user_id": ["a", "a", "b", "b"], "topic": [0, 1, 0, 1], "conversation_type": ["x", "y", "x", "y"]}
    )
    t = over_representation(texts, "conversation_type", min_participants=1, n_boot=0)
    assert (t["base"] == "prompts").all()
    assert t.set_index(["group", "topic"])["factor"].to_dict() == {
        ("x", 0): 2.0,
        ("x", 1): 0.0,
        ("y", 0): 0.0,
        ("y", 1): 2.0,
    }


def test_exactly_the_planted_over_representations_are_significant(planted, planted_fit):
    """Truth from the generator: OR_true = mean P(topic | member) / mean P(topic) over the sample's participants."""
    study, _, survey, _ = planted
    _, assign, mapping = planted_fit
    table = over_representation(assign, ["gender", "older"], survey=survey, n_boot=1000, alpha=0.01, seed=1)
    probs = study.ground_truth.topic_probabilities(survey).reset_index(drop=True)
    flagged, planted_cells = set(), set()
    for r in table.itertuples():
        members = (survey[r.field] == r.group).to_numpy()
        true_topic = mapping[r.topic]
        or_true = probs.loc[members, true_topic].mean() / probs[true_topic].mean()
        assert abs(or_true - 1) > 0.2 or abs(or_true - 1) < 0.1, "the design leaves no borderline cells"
        if abs(or_true - 1) > 0.2:
            planted_cells.add((r.group, true_topic))
            assert r.ci_low <= r.factor <= r.ci_high
            assert np.sign(r.factor - 1) == np.sign(or_true - 1)
        if r.significant:
            flagged.add((r.group, true_topic))
    assert planted_cells == {
        ("Female", "pets"),
        ("Female", "elections"),
        ("Male", "pets"),
        ("Male", "elections"),
        ("55+", "travel"),
        ("55+", "jobs"),
        ("under 55", "travel"),
        ("under 55", "jobs"),
    }
    assert flagged == planted_cells
    # small groups are left out and said so; "Prefer not to say" is never reported
    assert ("gender", "Non-binary / third gender") in table.attrs["skipped"]
    assert PREFER_NOT_TO_SAY not in set(table["group"])


def test_bootstrap_is_seeded_and_covers_the_estimate(planted_fit, planted):
    _, _, survey, _ = planted
    _, assign, _ = planted_fit
    a = over_representation(assign, "gender", survey=survey, n_boot=200, seed=5)
    b = over_representation(assign, "gender", survey=survey, n_boot=200, seed=5)
    pd.testing.assert_frame_equal(a, b)
    assert ((a["ci_low"] <= a["factor"] + 1e-12) & (a["factor"] <= a["ci_high"] + 1e-12)).all()
    none = over_representation(assign, "gender", survey=survey, n_boot=0)
    assert none["ci_low"].isna().all() and none["significant"].isna().all()


def test_no_effect_means_nothing_significant():
    rng = np.random.default_rng(0)
    survey = pd.DataFrame({"user_id": range(300), "g": rng.choice(["a", "b", "c"], 300)})
    texts = pd.DataFrame({"user_id": np.repeat(np.arange(300), 5), "topic": rng.integers(0, 6, 1500)})
    t = over_representation(texts, "g", survey=survey, n_boot=500, alpha=0.05)
    assert not t["significant"].any()


def test_corrections_and_errors():
    p = np.array([0.001, 0.01, 0.02, np.nan])
    assert adjust_pvalues(p, "bonferroni")[:3] == pytest.approx([0.003, 0.03, 0.06])
    assert np.isnan(adjust_pvalues(p, "bh")[3])
    with pytest.raises(ConfigError, match="correction"):
        adjust_pvalues(p, "sidak-ish")
    with pytest.raises(ConfigError, match="base"):
        over_representation(pd.DataFrame({"user_id": [1], "topic": [0], "g": ["a"]}), "g", base="texts")
    with pytest.raises(ConfigError, match="unknown field"):
        over_representation(pd.DataFrame({"user_id": [1], "topic": [0]}), "nope")
