"""The live "whose preferences?" dashboard through its JSON API, with known data: bootstrap intervals equal the
engine's on the original records, a planted group preference is recovered and flagged against everyone, groups
below the minimum size are "too few", representativeness and the raked ranking match the census functions,
failure rates over time and quota fill are exact counts, and the SVG plots are served safely."""

from __future__ import annotations

import pandas as pd
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import insert, update

from pluralis.census import targets as census
from pluralis.census.representativeness import representativeness
from pluralis.census.weights import census_weights
from pluralis.collect.config import StudyConfig
from pluralis.collect.quotas import QuotaPlan
from pluralis.data.synthetic import generate_study
from pluralis.ranking.battles import extract_battles
from pluralis.ranking.uncertainty import bootstrap
from pluralis.store import Store
from pluralis.store.schema_collect import collect_failures, collect_responses, collect_sessions
from pluralis.web import plots
from pluralis.web.app import create_app

ADMIN = "admin-token-for-tests-123"
AUTH = {"Authorization": "Bearer " + ADMIN}
MODELS = ["alpha", "beta", "gamma", "delta"]
ROUNDS = 100


@pytest.fixture(scope="module")
def planted():
    """120 synthetic participants; women like ``delta`` much more than everyone else does."""
    return generate_study(
        n_participants=120,
        seed=11,
        models=MODELS,
        quality={"alpha": 1.0, "beta": 0.5, "gamma": 0.0, "delta": -0.5},
        group_shifts={("gender", "Female"): {"delta": 3.0}},
        with_metadata=False,
    )


def served(tmp_path, study, **config):
    store = Store.open(tmp_path / "s.sqlite")
    store.import_study(study)
    cfg = StudyConfig.model_validate(
        {"admin": {"min_group_size": 10, "bootstrap_rounds": ROUNDS, "group_fields": ["gender", "age"]}, **config}
    )
    app = create_app(cfg, store, admin_token=ADMIN, models={})
    return app, TestClient(app)


def openers(study) -> pd.DataFrame:
    u = study.frames().utterances
    return u[u["turn"] == 0]


def test_intervals_groups_and_contrasts_match_the_engine_and_recover_the_planted_preference(tmp_path, planted):
    app, client = served(tmp_path, planted)
    api = client.get("/admin/api/rankings", headers=AUTH).json()
    assert api == client.get("/admin/api/summary", headers=AUTH).json()["whose_preferences"]
    # overall: the engine's participant bootstrap on the original records, same rounds and seed
    battles = extract_battles(openers(planted), short_names=False)
    direct = bootstrap(battles, "prc", rounds=ROUNDS, unit="participants", seed=0).summary()
    assert [r["model"] for r in api["overall"]] == list(direct["model"])
    for row, (_, d) in zip(api["overall"], direct.iterrows()):
        assert row["score"] == pytest.approx(d["score"], abs=1e-4)
        assert (row["score_lo"], row["score_hi"]) == pytest.approx((d["score_lo"], d["score_hi"]), abs=1e-4)
        assert (row["rank_lo"], row["rank_hi"]) == (int(d["rank_lo"]), int(d["rank_hi"]))
        assert row["p_top"] == pytest.approx(d["p_top"], abs=1e-3)
        assert row["score_lo"] <= row["score"] <= row["score_hi"]
    assert api["intervals"] == {"rounds": ROUNDS, "level": 0.95, "reason": None}
    assert [r["model"] for r in api["overall"]][0] == "alpha"  # the planted best overall
    # the planted group preference: women put delta first, significantly above its overall rank
    women, men = api["groups"]["gender"]["Female"], api["groups"]["gender"]["Male"]
    top = women["ranking"][0]
    assert top["model"] == "delta" and top["shift"] > 0 and top["significant"] is True
    assert next(r for r in men["ranking"] if r["model"] == "delta")["rank"] == 4
    # groups below the minimum size: named, counted, not ranked
    survey = planted.frames().survey
    small = {g: n for g, n in survey["age"].value_counts().items() if n < 10}
    assert small == {"65+ years old": 4}  # this sample's one small group
    for g, n in small.items():
        entry = api["groups"]["age"][g]
        assert entry["too_few"] is True and entry["ranking"] == [] and entry["participants"] == n
        assert entry["reason"] == f"too few participants ({n}; groups need at least 10)"
    assert api["min_group_size"] == 10
    # group against group, from the same joint bootstrap: women score delta higher than men do, and only the
    # engine's own group_contrasts gives these numbers (same rounds, seed, Holm over the field's family)
    from pluralis.ranking.contrasts import group_contrasts

    gender = api["contrasts"]["gender"]
    assert gender["reason"] is None and gender["rounds"] == ROUNDS and gender["correction"] == "holm"
    delta = next(c for c in gender["contrasts"] if c["model"] == "delta")
    sign = 1 if delta["group"] == "Female" else -1
    assert sign * delta["difference"] > 0 and sign * delta["lo"] > 0 and delta["significant"] is True
    assert gender["contrasts"][0]["model"] == "delta"  # the planted difference is the most certain one
    assert gender["summary"]["lrt_p"] < 1e-3 and gender["summary"]["permutation_p"] < 0.05
    survey = planted.frames().survey
    direct = group_contrasts(
        battles,
        "gender",
        survey=survey[["user_id", "gender"]],
        method="prc",
        rounds=ROUNDS,
        seed=0,
        min_participants=10,
        permutations=ROUNDS,
    ).contrasts.set_index("model")
    assert delta["difference"] == pytest.approx(float(direct.loc["delta", "difference"]), abs=1e-4)
    assert (delta["lo"], delta["hi"]) == pytest.approx(
        (float(direct.loc["delta", "lo"]), float(direct.loc["delta", "hi"])), abs=1e-4
    )
    # age has no planted difference: nothing there survives Holm's correction
    age = api["contrasts"]["age"]
    assert age["reason"] is None and age["summary"]["n_significant"] == 0
    assert all(c["n_group"] >= 10 and c["n_other"] >= 10 for c in age["contrasts"])  # 65+ (4) is left out
    page = client.get("/admin", headers=AUTH).text
    assert "Too few: too few participants" in page and 'id="plot-groups-gender"' in page
    assert 'id="plot-contrasts-gender"' in page and "differences between gender groups are significant" in page
    svg = client.get("/admin/plot/contrasts-gender.svg", headers=AUTH)
    assert svg.status_code == 200 and "Female" in svg.text and "joint participant resamples" in svg.text


def test_representativeness_and_the_raked_ranking_match_the_census_functions(tmp_path, planted):
    app, client = served(tmp_path, planted, quotas={"kind": "census", "country": "US"})
    rep = client.get("/admin/api/representativeness", headers=AUTH).json()
    survey = planted.frames().survey[["user_id", "age", "gender", "ethnicity_simplified"]]
    direct = representativeness(survey, "US")
    assert rep["country"] == "US" and rep["participants"] == len(survey) and rep["classified"] == direct.n
    assert rep["tvd"] == pytest.approx(direct.tvd, abs=1e-4)
    female = next(r for r in rep["margins"] if (r["variable"], r["category"]) == ("gender", "Female"))
    cats = survey[survey["age"].isin(census.margins("US")["age"].index)]
    classified = cats[cats["gender"].isin(["Female", "Male"])]
    assert female["census"] == pytest.approx(census.margins("US")["gender"]["Female"], abs=1e-4)
    assert 0 < female["observed"] < 1 and female["difference_pp"] == pytest.approx(
        100 * (female["observed"] - female["census"]), abs=0.01
    )
    assert len(classified) >= rep["classified"]
    # the raked ranking: the engine's weighted bootstrap with the census weights
    weights = census_weights(survey, "US", on_empty="renormalise", on_unclassified="drop").weights
    battles = extract_battles(openers(planted), short_names=False)
    raked = bootstrap(battles, "prc", rounds=ROUNDS, seed=0, weights=weights, missing_weights="zero").summary()
    for _, d in raked.iterrows():
        assert rep["raked"][d["model"]]["score"] == pytest.approx(d["score"], abs=1e-4)
        assert rep["raked"][d["model"]]["rank"] == int(d["rank"])
    raw = bootstrap(battles, "prc", rounds=ROUNDS, seed=0).summary()
    assert {m: r["rank"] for m, r in rep["raw"].items()} == dict(zip(raw["model"], raw["rank"].astype(int)))
    assert rep["weights"]["converged"] is True and 0 < rep["weights"]["ess"] <= rep["classified"]
    for name in ("raked", "representativeness"):
        r = client.get(f"/admin/plot/{name}.svg", headers=AUTH)
        assert r.status_code == 200 and r.headers["content-type"].startswith("image/svg+xml")
    assert client.get("/admin/api/representativeness", headers=AUTH).json() == rep  # cached, same numbers


def test_failure_rates_over_time_and_quota_fill_are_exact_counts(tmp_path):
    cfg = StudyConfig.model_validate(
        {
            "quotas": {
                "kind": "cells",
                "cells": [
                    {"name": "women", "match": {"gender": "Female"}, "target": 2},
                    {"name": "men", "match": {"gender": "Male"}, "target": 3},
                ],
            }
        }
    )
    store = Store.open(tmp_path / "s.sqlite")
    app = create_app(cfg, store, admin_token=ADMIN, models={})
    repo = app.state.collect.repo
    repo.create_session(user_id="u1")
    repo.create_session(user_id="u2")
    t0 = 1_700_000_040  # a minute boundary: 1_700_000_040 // 60 == 28_333_334
    rows_r = [
        ("a", t0 + 1),
        ("a", t0 + 20),
        ("a", t0 + 59),
        ("b", t0 + 5),
        ("b", t0 + 70),
        ("b", t0 + 71),
        ("b", t0 + 80),
    ]
    rows_f = [("a", t0 + 30), ("a", t0 + 61), ("a", t0 + 119)]
    with store.engine.begin() as conn:
        conn.execute(
            insert(collect_responses),
            [
                {
                    "user_id": "u1",
                    "conversation_id": "c",
                    "turn": 0,
                    "within_turn_id": i,
                    "model_name": m,
                    "model_provider": "local",
                    "text": "x",
                    "created_at": t,
                }
                for i, (m, t) in enumerate(rows_r)
            ],
        )
        conn.execute(
            insert(collect_failures),
            [
                {
                    "user_id": "u1",
                    "conversation_id": "c",
                    "turn": 0,
                    "model_name": m,
                    "model_provider": "local",
                    "kind": "timeout",
                    "message": "late",
                    "latency_s": 30.0,
                    "created_at": t,
                }
                for m, t in rows_f
            ],
        )
        conn.execute(update(collect_sessions).where(collect_sessions.c.user_id == "u1").values(quota_cell="women"))
        conn.execute(update(collect_sessions).where(collect_sessions.c.user_id == "u2").values(quota_cell="men"))
    client = TestClient(app)
    fr = client.get("/admin/api/failures", headers=AUTH).json()
    b = t0 // 60 * 60
    assert fr == {
        "bucket_s": 60,
        "series": {
            "a": [
                {"t": b, "calls": 4, "failures": 1, "rate": 0.25},
                {"t": b + 60, "calls": 2, "failures": 2, "rate": 1.0},
            ],
            "b": [
                {"t": b, "calls": 1, "failures": 0, "rate": 0.0},
                {"t": b + 60, "calls": 3, "failures": 0, "rate": 0.0},
            ],
        },
        "totals": {"a": {"calls": 6, "failures": 3, "rate": 0.5}, "b": {"calls": 4, "failures": 0, "rate": 0.0}},
    }
    quota = client.get("/admin/api/quota", headers=AUTH).json()
    assert quota == QuotaPlan(cfg.quotas).fill({"women": 1, "men": 1})
    svg = client.get("/admin/plot/quota.svg", headers=AUTH).text
    assert "1/2" in svg and "1/3" in svg and "women" in svg
    svg = client.get("/admin/plot/failures.svg", headers=AUTH)
    assert svg.status_code == 200 and "1-minute buckets" in svg.text
    page = client.get("/admin", headers=AUTH).text
    assert 'id="plot-quota"' in page and 'id="plot-failures"' in page and "50%" in page


def test_plots_need_the_admin_escape_their_text_and_say_when_there_is_nothing(tmp_path):
    app = create_app(StudyConfig(), Store.open(tmp_path / "s.sqlite"), admin_token=ADMIN, models={})
    with TestClient(app) as c:
        assert c.get("/admin/plot/ranking.svg").status_code == 401
        assert c.get("/admin/api/rankings").status_code == 401
        assert c.get("/admin/plot/ranking.svg", headers=AUTH).status_code == 404  # no ranking yet
        assert c.get("/admin/plot/nope.svg", headers=AUTH).status_code == 404
        assert c.get("/admin/plot/groups-..%2F..%2Fetc.svg", headers=AUTH).status_code == 404
    evil = '<script>alert("x")</script> $\\frac{1}{2}$ & co'
    rows = [{"model": evil, "score": 0.6, "score_lo": 0.5, "score_hi": 0.7, "rank": 1, "rank_lo": 1, "rank_hi": 2}]
    groups = {
        evil: {"participants": 12, "too_few": False, "ranking": [{**rows[0], "significant": True}]},
        "tiny": {"participants": 2, "too_few": True, "ranking": []},
    }
    for svg in (
        plots.draw_ranking({"rows": rows, "battles": 3, "intervals": {"rounds": 10, "level": 0.95, "reason": None}}),
        plots.draw_groups({"field": "gender", "groups": groups, "order": [evil], "min_group_size": 5}),
    ):
        assert "<script" not in svg and "&lt;script&gt;" in svg and "&amp; co" in svg
        assert "$\\frac{1}{2}$" in svg  # shown as written, not as math
