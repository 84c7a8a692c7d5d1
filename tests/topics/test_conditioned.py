"""Topic-conditioned model rankings and census-reweighted topic prevalence."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pluralis.census.weights import census_weights
from pluralis.data.roster import short_name
from pluralis.errors import ConfigError
from pluralis.topics import census_prevalence, topic_rankings
from pluralis.topics.conditioned import attach_topics


@pytest.fixture(scope="module")
def typed_study():
    """A study whose conversation types shift model utilities (falcon-7b up, command down under controversy)."""
    from pluralis.data.synthetic import generate_study

    study = generate_study(
        n_participants=240,
        seed=4,
        with_metadata=False,
        type_shifts={"controversy guided": {"falcon-7b-instruct": 1.5, "command": -1.0}},
    )
    return study.frames()


def test_rankings_within_a_topic_recover_its_planted_model_shift(typed_study):
    f = typed_study
    conv = f.conversations
    # "topics" that are the conversation types: the controversy topic has a known winner shift
    names = {"controversy guided": 0, "unguided": 1, "values guided": 2}
    assign = conv[["conversation_id", "user_id"]].assign(
        topic=conv["conversation_type"].map(names), topic_name=conv["conversation_type"]
    )
    res = topic_rankings(f.utterances, assign, rounds=100, min_participants=10, seed=0)
    t = res.table
    contro = t[(t["by"] == "topic") & (t["group"] == "controversy guided")].set_index("model")
    up, down = short_name("falcon-7b-instruct"), short_name("command")
    assert contro.loc[up, "shift"] > 0 and bool(contro.loc[up, "significant"])
    assert contro.loc[down, "shift"] < 0 and bool(contro.loc[down, "significant"])
    assert (contro["rank_lo"] <= contro["rank"]).all() and (contro["rank"] <= contro["rank_hi"]).all()
    # topic x group cells: which model wins for which topic, for which group
    res2 = topic_rankings(f.utterances, assign, by="gender", survey=f.survey, rounds=0, min_participants=10)
    assert "topic × gender" in set(res2.table["by"])
    assert {"controversy guided / Female", "controversy guided / Male"} <= set(res2.table["group"])


def test_topics_attach_on_the_finest_shared_key():
    b = pd.DataFrame(
        {"model_a": ["x", "y"], "model_b": ["y", "x"], "winner": ["model_a"] * 2, "conversation_id": ["c1", "c2"]}
    )
    a = pd.DataFrame({"conversation_id": ["c1", "c2"], "user_id": ["u", "u"], "topic": [0, -1]})
    out = attach_topics(b, a)
    assert out["topic"].tolist() == ["0"] and len(attach_topics(b, a, include_outliers=True)) == 2
    with pytest.raises(ConfigError, match="unique"):
        attach_topics(b, a.drop(columns="conversation_id").assign(user_id=["u", "u"]))


def test_census_prevalence_is_the_weighted_share_of_texts(planted, planted_fit):
    _, _, survey, _ = planted
    _, assign, _ = planted_fit
    t = census_prevalence(assign, survey, "US", n_boot=100, seed=0)
    us = survey[survey["study_locale"] == "us"]
    w = census_weights(us, "US", on_unclassified="drop", on_empty="renormalise").weights
    a = assign[assign["user_id"].isin(w.index[w > 0])]
    weight = a["user_id"].map(w).to_numpy()
    for r in t.itertuples():
        hit = (a["topic"] == r.topic).to_numpy()
        assert r.prevalence == pytest.approx(hit.mean())
        assert r.weighted_prevalence == pytest.approx((weight * hit).sum() / weight.sum())
        assert r.ci_low <= r.prevalence <= r.ci_high
        assert r.weighted_ci_low <= r.weighted_prevalence + 1e-12 <= r.weighted_ci_high + 2e-12
    assert t["prevalence"].sum() == pytest.approx(1.0) and t["weighted_prevalence"].sum() == pytest.approx(1.0)
    assert 0 < t.attrs["ess"] <= t.attrs["n_participants"]


def test_reweighting_moves_prevalence_towards_the_census_age_mix(planted, planted_fit):
    """Older people ask about travel: weighting up the older share must raise travel's prevalence."""
    _, _, survey, _ = planted
    _, assign, mapping = planted_fit
    travel = next(t for t, name in mapping.items() if name == "travel")
    older = survey["age"].isin(["55-64 years old", "65+ years old"])
    w = pd.Series(np.where(older, 3.0, 1.0), index=survey["user_id"])
    t = census_prevalence(assign, weights=w, n_boot=0).set_index("topic")
    assert t.loc[travel, "weighted_prevalence"] > t.loc[travel, "prevalence"]
    with pytest.raises(ConfigError, match="survey and country"):
        census_prevalence(assign)


def test_arena_prompts_which_model_wins_for_which_topic(embedder):
    """Comparisons (Arena-style): topics of their prompts, then a ranking per topic with its planted winner."""
    from pluralis.data import Study
    from pluralis.data.model import Comparison
    from pluralis.data.synthetic import TOPIC_FILL, TOPIC_OPENERS
    from pluralis.topics import analyse_topics

    rng = np.random.default_rng(0)
    best = {"travel": "model-x", "cooking": "model-y", "jobs": "model-z"}
    models = list(best.values())
    comps = []
    for i in range(600):
        topic = list(best)[i % 3]
        prompt = TOPIC_OPENERS[topic][rng.integers(8)].replace("{x}", TOPIC_FILL[topic][rng.integers(10)])
        pair = list(rng.choice(models, 2, replace=False))
        winner = pair.index(best[topic]) if best[topic] in pair and rng.random() < 0.9 else int(rng.integers(2))
        comps.append(
            Comparison(
                comparison_id=f"b{i}",
                source="arena",
                models=pair,
                prompt=prompt,
                winner=winner,
                annotator_id=f"a{i % 150}",
            )
        )
    frames = Study(comparisons=comps).frames()
    res = analyse_topics(
        frames,
        by=[],
        embedder=embedder,
        deduplicate=True,
        n_neighbors=15,
        min_cluster_size=20,
        taus=None,
        rank_rounds=50,
    )
    assert res.field == "prompt" and res.model.n_topics_ == 3
    t = res.rankings.table
    winners = t[(t["by"] == "topic") & (t["rank"] == 1)]
    a = res.assignments
    true = a["comparison_id"].str[1:].astype(int).map(lambda i: list(best)[i % 3])
    topic_of_name = pd.crosstab(a["topic_name"], true).idxmax(axis=1)
    assert {topic_of_name[row["group"]]: row["model"] for row in winners.to_dict("records")} == best
