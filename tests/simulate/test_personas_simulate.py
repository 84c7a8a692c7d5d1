"""Simulated participants through the collection protocol engine; planted preferences recovered by rankings."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from pluralis.errors import ConfigError
from pluralis.simulate.generator import generate_personas
from pluralis.simulate.preference import PreferenceModel
from pluralis.simulate.responders import DEFAULT_STYLES
from pluralis.simulate.study import simulate_study


def test_simulated_study_is_prism_shaped(sim):
    study = sim.study
    study.validate()
    counts = study.counts()
    assert counts["survey"] == 30 and counts["conversations"] == 90
    assert all(p.source == "simulated" for p in study.survey)
    assert all(p.persona and p.persona["simulation"]["actor"] == "preference-model" for p in study.survey)
    assert all(c.simulation["source"] == "simulated" for c in study.conversations)
    f = study.frames()
    assert f.utterances["score"].between(1, 100).all()
    assert set(f.utterances["model_provider"]) == {"simulated"}
    # PRISM protocol: up to 4 models in the opening turn, one chosen per turn, 2 samples later
    opening = f.utterances[f.utterances["turn"] == 0].groupby("interaction_id")
    assert opening.size().max() == 4 and (opening["if_chosen"].sum() == 1).all()
    later = f.utterances[f.utterances["turn"] > 0].groupby("interaction_id")
    assert (later.size() == 2).all() and (later["model_name"].nunique() == 1).all()
    assert f.conversations["open_feedback"].str.len().gt(10).all()
    assert set(f.conversations["conversation_type"]) == {"unguided", "values guided", "controversy guided"}
    assert f.survey["included_in_balanced_subset"].all()
    assert (f.survey["included_in_US_REP"] == (f.survey["study_locale"] == "us")).all()


def test_same_seed_same_study(panel):
    sub = panel.subset(slice(0, 8))
    a = simulate_study(sub, seed=1, conversations_per_type=1).study
    b = simulate_study(sub, seed=1, conversations_per_type=1, executor="process", workers=2, chunk_size=3).study
    dump = lambda s: ([p.to_json_dict() for p in s.survey], [c.to_json_dict() for c in s.conversations])
    assert dump(a) == dump(b)
    c = simulate_study(sub, seed=2, conversations_per_type=1).study
    assert dump(a) != dump(c)


def test_store_roundtrip_keeps_simulated_source(tmp_path, sim):
    from pluralis.store import Store

    with Store.open(tmp_path / "s.sqlite") as store:
        store.import_study(sim.study)
        back = store.export_study()
    assert {p.source for p in back.survey} == {"simulated"}
    assert back.survey[0].persona["big_five"] == sim.study.survey[0].persona["big_five"]


def test_rating_model_reacts_to_text_features():
    from pluralis.simulate.agents import PreferenceAgent

    w = {
        "theta_len": -0.6,
        "theta_ref": -1.5,
        "theta_hedge": -0.5,
        "theta_enum": 0.8,
        "lambda_stance": 1.0,
        "center": 60.0,
        "spread": 1.0,
    }
    model = PreferenceModel(noise_sd=0.0, taste_sd=0.0)
    agent = PreferenceAgent({"persona_id": "t"}, w, model=model, models=["a", "b", "c", "d"], seed=0)
    texts = [
        "I'm sorry, but I cannot help with that.",
        "Here you go:\n1. Plan\n2. Act",
        "It depends; some people disagree, however it might vary. " * 6,
        "Protecting equality and rights matters.",
    ]
    scores = agent.scores_for(texts, ["a", "b", "c", "d"], "controversy guided")
    assert scores[0] < scores[1] and scores[2] < scores[1] and scores[3] > scores[0]


def test_planted_group_preferences_are_recovered_by_subgroup_rankings():
    """Plant: UK participants love sim-cautious, US participants dislike sim-listmaker. The per-group rankings
    (ranking engine, bootstrap CIs) must find both, and agree with the simulation's ground truth."""
    subgroups = pytest.importorskip("pluralis.ranking.subgroups")
    from pluralis.ranking.battles import extract_battles

    quality = {s.name: s.quality for s in DEFAULT_STYLES}
    pref = PreferenceModel(
        quality=quality,
        group_shifts={
            ("study_locale", "uk"): {"sim-cautious": 2.5},
            ("study_locale", "us"): {"sim-listmaker": -2.0},
        },
    )
    panel = generate_personas({"US": 80, "UK": 80}, seed=21)
    res = simulate_study(panel, seed=21, preference=pref, conversations_per_type=2)
    f = res.study.frames()
    battles = extract_battles(f.utterances)
    out = subgroups.subgroup_rankings(battles, "study_locale", survey=f.survey, method="bt", rounds=100, seed=0)
    t = out.table.set_index(["group", "model"])
    assert t.loc[("uk", "sim-cautious"), "rank"] <= 2
    assert t.loc[("us", "sim-cautious"), "rank"] >= 7
    assert t.loc[("us", "sim-listmaker"), "rank"] > t.loc[("uk", "sim-listmaker"), "rank"] + 2
    # both planted differences show up as significant shifts against the overall ranking
    assert bool(t.loc[("us", "sim-cautious"), "significant"]) and t.loc[("us", "sim-cautious"), "shift"] < 0
    assert bool(t.loc[("uk", "sim-listmaker"), "significant"]) and t.loc[("uk", "sim-listmaker"), "shift"] > 0
    # the answer key agrees with the estimate, group by group
    from scipy.stats import kendalltau

    for loc in ("us", "uk"):
        truth = res.truth.true_ranking(f.survey, mask=(f.survey["study_locale"] == loc).to_numpy())
        est = t.loc[loc]["rank"].reindex(truth.index)
        tau = kendalltau(est.to_numpy(), np.arange(len(truth))).statistic
        assert tau > 0.7, (loc, tau)


def test_trait_driven_differences_without_planting():
    """No planted shifts: left- and right-leaning personas still rank the stance models oppositely."""
    from pluralis.simulate.study import rep_frame

    panel = generate_personas({"US": 70, "UK": 70}, seed=8)
    res = simulate_study(panel, seed=8, conversations_per_type=2)
    survey = rep_frame(res.study)
    u = res.study.frames().utterances.merge(survey[["user_id", "persona_lean"]], on="user_id")
    u = u[(u["turn"] == 0) & (u["conversation_type"] == "controversy guided")]
    m = u.groupby(["persona_lean", "model_name"])["score"].mean()
    gap = lambda lean: m[(lean, "sim-progressive")] - m[(lean, "sim-traditional")]
    assert gap("left") > gap("right") + 5


def test_bad_simulation_configs(panel):
    with pytest.raises(ConfigError, match="at least two models"):
        simulate_study(panel.subset(slice(0, 2)), styles=DEFAULT_STYLES[:1])
    with pytest.raises(ConfigError, match="empty"):
        simulate_study(panel.subset(np.zeros(len(panel), bool)))
    with pytest.raises(ConfigError, match="conversations per type"):
        simulate_study(panel.subset(slice(0, 2)), conversations_per_type=-1)
    with pytest.raises(ConfigError, match="every conversation type has quota 0"):
        simulate_study(panel.subset(slice(0, 2)), conversations_per_type=0)


def test_run_session_drives_the_collection_engine(panel):
    """The agent uses the engine's own API; the engine enforces the protocol (quotas, turn limits)."""
    from pluralis.collect.config import StudyConfig
    from pluralis.collect.protocol import ProtocolSession, Step
    from pluralis.simulate.agents import PreferenceAgent, run_session
    from pluralis.simulate.responders import simulated_backends

    backends = simulated_backends(seed=0)
    cfg = StudyConfig.model_validate(
        {
            "models": [{"name": n, "endpoint": "http://127.0.0.1:9/v1"} for n in backends],
            "conversations": {
                "types": [{"name": "controversy guided", "label": "C", "instruction": "Disagree!", "quota": 2}],
                "min_turns": 3,
                "max_turns": 3,
            },
        }
    )
    row = panel.data.iloc[0].to_dict()
    w = PreferenceModel().person_weights(panel.data.iloc[:1]).iloc[0].to_dict()
    agent = PreferenceAgent(row, w, models=list(backends), seed=0)
    s = asyncio.run(run_session(ProtocolSession(cfg, models=backends, seed=1, source="simulated"), agent))
    assert s.step == Step.COMPLETE
    convs = s.conversations()
    assert len(convs) == 2 and all(c.conversation_turns == 3 for c in convs)
    assert all(c.conversation_type == "controversy guided" for c in convs)


def test_study_sample_quotas_screen_out_like_the_web_app(panel):
    """A study with sample quotas: the engine screens out personas whose cell is full (survey kept, no
    conversations), the same on every executor."""
    from pluralis.collect.config import StudyConfig

    study = StudyConfig.model_validate(
        {
            "quotas": {
                "kind": "cells",
                "over_quota": "screen_out",
                "cells": [
                    {"name": "women", "match": {"gender": "Female"}, "target": 3},
                    {"name": "older men", "match": {"gender": "Male", "age": "65+ years old"}, "target": 1},
                ],
            }
        }
    )
    sub = panel.subset(slice(0, 20))
    res = simulate_study(sub, seed=0, study=study, conversations_per_type=1)
    f = res.study.frames()
    survey = f.survey.set_index("user_id")
    women = sub.data["gender"] == "Female"
    older_men = (sub.data["gender"] == "Male") & (sub.data["age"] == "65+ years old")
    expected_out = max(0, int(women.sum()) - 3) + max(0, int(older_men.sum()) - 1)
    assert expected_out > 0
    assert res.stats["screened_out"] == expected_out == int(survey["survey_only"].sum())
    # the first 3 women in panel order were admitted, the rest screened out
    first3 = sub.data.loc[women, "persona_id"].iloc[:3]
    assert not survey.loc[first3, "survey_only"].any()
    screened = survey.index[survey["survey_only"]]
    assert not f.conversations["user_id"].isin(screened).any()
    assert {r["cell"]: r["filled"] for r in res.config["quota_fill"]} == {
        "women": min(3, int(women.sum())),
        "older men": min(1, int(older_men.sum())),
    }
    pool = simulate_study(
        sub, seed=0, study=study, conversations_per_type=1, executor="process", workers=2, chunk_size=7
    )
    assert pool.study.frames().survey["survey_only"].tolist() == f.survey["survey_only"].tolist()
