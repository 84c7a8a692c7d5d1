"""The admin dashboard's "whose preferences?" panel: PRC on the stored opening turns, cross-checked against the
aggregation engine on the original records; and when PRC cannot rank, the panel says so and why (never a
silently substituted method)."""

from __future__ import annotations

import httpx
import pandas as pd
import pytest

from pluralis.collect.config import StudyConfig
from pluralis.collect.quotas import QuotaPlan
from pluralis.data.roster import short_name
from pluralis.data.synthetic import generate_study
from pluralis.errors import ConfigError
from pluralis.ranking.battles import extract_battles
from pluralis.ranking.engine import rank_models
from pluralis.store import Store
from pluralis.web import dashboard as dash
from pluralis.web.app import create_app
from pluralis.web.repository import CollectRepository
from tests.collect_helpers import HttpParticipant, ThreadServer, participant_run, study_config

ADMIN = "admin-token-for-tests-123"


def ratings(rows: list[tuple[str, str, str, int, str]]) -> pd.DataFrame:
    """Opening-turn ratings from ``(user, interaction, model, score, gender)`` rows."""
    return pd.DataFrame(rows, columns=["user_id", "interaction_id", "model_name", "score", "gender"]).assign(turn=0)


def test_panel_ranks_the_stored_openers_like_the_engine_on_the_original_records(tmp_path):
    study = generate_study(n_participants=120, seed=4)
    with Store.open(tmp_path / "s.sqlite") as store:
        store.import_study(study)
        repo = CollectRepository(store, StudyConfig())
        panel = dash.Dashboard(repo.config, repo, QuotaPlan(repo.config.quotas)).summary()["whose_preferences"]
    assert panel["method"] == "prc" and panel["reason"] is None
    # cross-check: the engine on the generated records (not the store) gives the same ranking and scores
    utterances = study.frames().utterances
    direct = rank_models(extract_battles(utterances, short_names=False), "prc")
    assert [(r["model"], r["rank"]) for r in panel["overall"]] == list(zip(direct["model"], direct["rank"].astype(int)))
    assert [r["score"] for r in panel["overall"]] == [round(float(x), 4) for x in direct["score"]]
    assert panel["battles"] == len(extract_battles(utterances, short_names=False))
    # the planted best model is near the top
    truth = study.ground_truth.model_quality.sort_values(ascending=False)
    ranked = [short_name(r["model"]) for r in panel["overall"]]
    assert set(ranked) == set(truth.index) and ranked[0] in list(truth.index[:5])
    # groups: the same engine on each group's participants
    women = set(study.frames().survey.query("gender == 'Female'")["user_id"])
    direct_women = rank_models(extract_battles(utterances[utterances["user_id"].isin(women)], short_names=False), "prc")
    group = panel["groups"]["gender"]["Female"]
    assert group["participants"] == len(women) and group["method"] == "prc"
    assert [r["model"] for r in group["ranking"]] == list(direct_women["model"])
    assert all(g["ranking"] for g in panel["groups"]["age"].values())


def test_without_battles_the_panel_says_so_and_shows_no_substitute_ranking():
    # every interaction has one response: participants rated, but no two models ever met
    one_each = ratings([("u1", "i1", "x", 90, "Female"), ("u2", "i2", "y", 10, "Male")])
    panel = dash.whose_preferences(one_each, ["gender"])
    assert panel["method"] is None and panel["overall"] == [] and panel["battles"] == 0
    assert panel["reason"].startswith("not enough battles")
    assert all(g["method"] is None and g["ranking"] == [] for g in panel["groups"]["gender"].values())
    assert dash.whose_preferences(one_each.iloc[:0])["reason"] == "no finished conversations yet"


def test_each_group_is_ranked_or_says_why_not():
    # women compared x, y, z; the man saw one model only
    panel = dash.whose_preferences(
        ratings(
            [
                ("u1", "i1", "x", 90, "Female"),
                ("u1", "i1", "y", 50, "Female"),
                ("u1", "i1", "z", 10, "Female"),
                ("u2", "i2", "z", 80, "Male"),
            ]
        ),
        ["gender", "not-a-column"],
    )
    assert panel["method"] == "prc" and [r["model"] for r in panel["overall"]] == ["x", "y", "z"]
    assert list(panel["groups"]) == ["gender"]
    women, men = panel["groups"]["gender"]["Female"], panel["groups"]["gender"]["Male"]
    assert women["method"] == "prc" and [r["model"] for r in women["ranking"]] == ["x", "y", "z"]
    assert men["method"] is None and men["ranking"] == [] and men["reason"].startswith("not enough battles")
    assert men["participants"] == 1


def test_too_few_battles_an_engine_refusal_and_disconnected_models_are_reported(monkeypatch):
    b = pd.DataFrame({"model_a": ["x", "z"], "model_b": ["y", "w"], "winner": ["model_a", "model_b"]})
    assert (
        dash.rank_battles(b, min_battles=3)["reason"] == "not enough battles (2 so far; the ranking needs at least 3)"
    )
    # x-y and z-w never meet, even indirectly: ranked, with a note that ranks across the two sets mean nothing
    split = dash.rank_battles(b)
    assert split["method"] == "prc" and len(split["ranking"]) == 4 and "2 separate sets" in split["note"]
    assert dash.rank_battles(pd.concat([b, b.assign(model_b=["z", "x"])]))["note"] is None

    def refuse(*args, **kwargs):
        raise ConfigError("the battles do not fit the method")

    monkeypatch.setattr(dash, "rank_models", refuse)
    out = dash.rank_battles(b)
    assert out["method"] is None and out["ranking"] == []
    assert out["reason"] == "the PRC ranking could not be computed: the battles do not fit the method"


def test_panel_is_recomputed_only_when_conversations_finished_and_the_interval_passed():
    class Repo:
        calls = 0

        def opening_ratings(self, fields):
            Repo.calls += 1
            return ratings([("u1", "i1", "x", 90, "Female"), ("u1", "i1", "y", 50, "Female")])

    now = [0.0]
    board = dash.Dashboard(
        StudyConfig(), Repo(), QuotaPlan(StudyConfig().quotas), min_interval=30, clock=lambda: now[0]
    )
    first = board.whose_preferences(1)
    assert Repo.calls == 1 and first["method"] == "prc"
    assert board.whose_preferences(2) is first and Repo.calls == 1  # new conversations, within the interval
    now[0] = 31.0
    board.whose_preferences(2)  # new conversations, interval passed
    assert Repo.calls == 2
    now[0] = 62.0
    board.whose_preferences(2)  # nothing finished since: cached however old
    assert Repo.calls == 2
    board.whose_preferences(3)
    assert Repo.calls == 3


@pytest.mark.slow
def test_dashboard_page_and_api_say_why_there_is_no_ranking(tmp_path, tiny_models):
    # one model: every opening turn has a single response, so there is nothing to compare
    cfg = study_config(tiny_models[:1], quotas={"unguided": 1}, sampling={"mode": "all"})
    store = Store.open(tmp_path / "s.sqlite")
    with ThreadServer(create_app(cfg, store, admin_token=ADMIN)) as server:

        async def script(p: HttpParticipant):
            await p.join()
            await p.consent_and_survey()
            await p.opening("unguided", "Which book should I read next?")
            await p.rate()
            await p.follow_up("Why that one?")
            await p.rate()
            await p.finish()
            assert "completion code" in p.html

        participant_run(server.url, cfg, script)
        auth = {"Authorization": "Bearer " + ADMIN}
        summary = httpx.get(server.url + "/admin/api/summary", headers=auth).json()
        page = httpx.get(server.url + "/admin", headers=auth).text
    store.close()
    assert summary["counts"]["conversations"] == 1 and summary["ratings"][0]["ratings"] >= 1
    wp = summary["whose_preferences"]
    assert wp["method"] is None and wp["overall"] == [] and wp["reason"].startswith("not enough battles")
    assert "No ranking yet: not enough battles" in page and "aggregated with" not in page
