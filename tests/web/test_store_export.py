"""Collected data in the store (SQLite and PostgreSQL): committed ratings, PRISM export that validates."""

from __future__ import annotations

import io
import zipfile

import httpx
import pytest
from sqlalchemy import func, select

from pluralis.data import load_prism
from pluralis.store import Store
from pluralis.store.schema_collect import collect_events, collect_ratings, collect_responses
from pluralis.web.app import create_app
from tests.collect_helpers import HttpParticipant, ThreadServer, participant_run, study_config

ADMIN = "admin-token-for-tests-123"


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_study_on_real_models_exports_valid_prism_files(backend, tmp_path, request, tiny_models):
    url = tmp_path / "s.sqlite" if backend == "sqlite" else request.getfixturevalue("postgres_url")
    cfg = study_config(tiny_models, quotas={"unguided": 1, "values guided": 1})
    store = Store.open(url)
    with ThreadServer(create_app(cfg, store, admin_token=ADMIN)) as server:

        async def script(p: HttpParticipant):
            await p.join()
            await p.consent_and_survey()
            for ctype in ("values guided", "unguided"):
                await p.opening(ctype, f"A {ctype} opening prompt")
                assert len(p.score_ids()) == 4
                await p.rate()
                await p.follow_up("Please say more.")
                assert len(p.score_ids()) == 2
                await p.rate()
                await p.finish()
            assert "completion code" in p.html

        for _ in range(2):
            participant_run(server.url, cfg, script)
        auth = {"Authorization": "Bearer " + ADMIN}
        summary = httpx.get(server.url + "/admin/api/summary", headers=auth).json()
        assert summary["status"] == {"complete": 2}
        assert summary["counts"]["ratings"] == 2 * 2 * (4 + 2) and summary["counts"]["utterances"] == 24
        wp = summary["whose_preferences"]
        assert wp["overall"] and {r["model"] for r in wp["overall"]} <= set(cfg.model_names())
        assert "gender" in wp["groups"]
        z = httpx.get(server.url + "/admin/export.zip", headers=auth)
        assert z.status_code == 200
    out = tmp_path / "export"
    zipfile.ZipFile(io.BytesIO(z.content)).extractall(out)
    study = load_prism(out)  # the foundation's validator
    assert study.counts()["survey"] == 2 and study.counts()["conversations"] == 4
    assert {p.source for p in study.survey} == {"human"}
    assert all(p.num_completed_conversations == 2 for p in study.survey)
    with store.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(collect_responses)).scalar_one() == 24
        kinds = set(conn.execute(select(collect_events.c.kind)).scalars())
        dupes = conn.execute(
            select(
                collect_ratings.c.conversation_id,
                collect_ratings.c.turn,
                collect_ratings.c.within_turn_id,
                func.count(),
            )
            .group_by(collect_ratings.c.conversation_id, collect_ratings.c.turn, collect_ratings.c.within_turn_id)
            .having(func.count() > 1)
        ).all()
    assert dupes == [] and {"joined", "consent", "rated", "completed"} <= kinds
    store.close()
