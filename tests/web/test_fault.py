"""Crash safety: kill -9 the server mid-study, restart it on the same SQLite file, nothing committed is lost."""

from __future__ import annotations

import re
import sqlite3
import threading
import time

import httpx

from pluralis.collect.protocol import example_survey_answers
from pluralis.data import load_prism, write_prism
from pluralis.store import Store
from tests.collect_helpers import FORM_HEADERS, SECTION_RE, Server, csrf_of, study_config, survey_form, write_study

RESP_RE = re.compile(r'id="resp-(\d+)-text">(.*?)</div>', re.S)


def post(c: httpx.Client, path: str, page: str, fields: dict | list) -> httpx.Response:
    from urllib.parse import urlencode

    items = list(fields.items()) if isinstance(fields, dict) else list(fields)
    r = c.post(path, content=urlencode([*items, ("csrf", csrf_of(page))]), headers=FORM_HEADERS)
    assert r.status_code == 303, (path, r.status_code, r.text[:800])
    return r


def ratings_in(db) -> list[tuple]:
    con = sqlite3.connect(db)
    try:
        return con.execute("SELECT conversation_id, turn, within_turn_id, score FROM collect_ratings").fetchall()
    finally:
        con.close()


def step_of(db) -> str:
    con = sqlite3.connect(db)
    try:
        return con.execute("SELECT status FROM collect_sessions").fetchone()[0]
    finally:
        con.close()


def rate_page(c: httpx.Client, page: str, prefer: str) -> tuple[str, list]:
    """Rate the responses on ``page``, the one whose text contains ``prefer`` highest."""
    responses = RESP_RE.findall(page)
    assert responses, page[:1500]
    scores = {rid: (95 if prefer in text else 30 + 10 * k) for k, (rid, text) in enumerate(responses)}
    form = {f"score_{rid}": s for rid, s in scores.items()} | {f"score_{rid}__touched": "1" for rid in scores}
    post(c, "/study/rate", page, form)
    return c.get("/study").text, sorted(scores.values())


def test_kill_9_mid_study_loses_no_committed_rating_and_the_participant_resumes(tmp_path, tiny_models, double_server):
    models = tiny_models[:3] + [{"name": "slow-2-z", "endpoint": double_server, "max_retries": 0}]
    cfg = study_config(models, quotas={"unguided": 1}, sampling={"mode": "all"})
    study = write_study(tmp_path / "study.toml", cfg)
    db = tmp_path / "study.sqlite"
    server = Server(study, db)
    try:
        c = httpx.Client(base_url=server.url, timeout=60, follow_redirects=False)
        page = c.get("/").text
        post(c, "/start", page, {})
        page = c.get("/study").text
        post(c, "/study/consent", page, {"consent": "yes", "consent_age": "yes"})
        page = c.get("/study").text
        while (m := SECTION_RE.search(page)) is not None:
            post(c, "/study/survey", page, survey_form(cfg, m.group(1), example_survey_answers()))
            page = c.get("/study").text
        post(c, "/study/start", page, {"conversation_type": "unguided", "opening_prompt": "Should I learn to cook?"})
        page = c.get("/study").text
        page, _ = rate_page(c, page, prefer="[slow-2-z]")  # lock the slow model in
        committed = ratings_in(db)
        assert len(committed) == 4 and step_of(db) == "continue"

        # 1) crash while the participant reads the continue page
        server.kill9()
        server = Server(study, db)
        c.base_url = server.url
        page = c.get("/study").text
        assert "Your next message" in page and "Should I learn to cook?" in page  # resumes at the right step
        assert sorted(ratings_in(db)) == sorted(committed)
        post(c, "/study/followup", page, {"prompt": "What should I cook first?"})
        page = c.get("/study").text
        page, _ = rate_page(c, page, prefer="")
        committed = ratings_in(db)
        assert len(committed) == 6

        # 2) crash while the locked (slow) model is generating the next turn
        worker = threading.Thread(target=lambda: _quiet_post(c, "/study/followup", page, {"prompt": "And then?"}))
        worker.start()
        deadline = time.monotonic() + 10
        while step_of(db) != "generating" and time.monotonic() < deadline:
            time.sleep(0.05)
        assert step_of(db) == "generating"
        server.kill9()
        worker.join(timeout=30)
        assert sorted(ratings_in(db)) == sorted(committed)

        server = Server(study, db)
        c2 = httpx.Client(base_url=server.url, cookies=c.cookies, timeout=60)
        page = c2.get("/study").text
        deadline = time.monotonic() + 20
        while "Submit ratings" not in page and time.monotonic() < deadline:  # generation restarts by itself
            assert "writing their responses" in page
            time.sleep(0.5)
            page = c2.get("/study").text
        assert "Submit ratings" in page and "And then?" in page
        page, _ = rate_page(c2, page, prefer="")
        assert len(ratings_in(db)) == 8
        post(c2, "/study/finish", page, {})
        page = c2.get("/study").text
        post(
            c2,
            "/study/feedback",
            page,
            {"open_feedback": "Good suggestions, thank you so much.", "performance__values": 70, "choice__values": 60},
        )
        page = c2.get("/study").text
        assert "completion code" in page
    finally:
        server.stop()
    ratings = ratings_in(db)
    assert len(ratings) == len(set((r[0], r[1], r[2]) for r in ratings)) == 8
    with Store.open(db) as store:
        exported = store.export_study()
    write_prism(exported, tmp_path / "prism")
    back = load_prism(tmp_path / "prism")
    assert back.counts()["utterances"] == 8 and back.conversations[0].conversation_turns == 3
    scores = sorted(u.score for u in back.utterances)
    assert scores == sorted(r[3] for r in ratings)


def _quiet_post(c: httpx.Client, path: str, page: str, fields: dict) -> None:
    try:
        from urllib.parse import urlencode

        c.post(path, content=urlencode([*fields.items(), ("csrf", csrf_of(page))]), headers=FORM_HEADERS)
    except httpx.HTTPError:
        pass  # the server was killed under this request
