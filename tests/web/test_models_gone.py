"""A model removed or renamed in the study file mid-study, or down for good: the app starts, says who is
affected, and every participant can go on (a replacement model, or finishing the conversation early), with the
change recorded in the events and in the conversation's record. Models answer through the recorded-response
double (its answers name the model: "[echo-a] ..."), which can also be stopped to take a model down."""

from __future__ import annotations

import asyncio
import re
import time

import httpx
import pytest
from sqlalchemy import select

from pluralis.collect.protocol import example_survey_answers
from pluralis.store import Store
from pluralis.store.schema_collect import collect_events
from pluralis.web.app import create_app
from pluralis.web.repository import Snapshot
from tests.collect_helpers import HttpParticipant, ThreadServer, study_config

ADMIN = "admin-token-for-tests-123"
RESP_RE = re.compile(r'id="resp-(\d+)-text">(.*?)</div>', re.S)


def echo(names, endpoint):
    return [{"name": n, "endpoint": endpoint, "max_retries": 0} for n in names]


def by_model(html: str) -> dict[str, str]:
    """Response id per model on a rating page (the double's answers start with "[model]")."""
    out = {}
    for rid, text in RESP_RE.findall(html):
        m = re.match(r"\[([^\]]+)\]", text.strip())
        assert m, text
        out[m.group(1)] = rid
    return out


def events(store, kind):
    with store.engine.connect() as conn:
        rows = conn.execute(select(collect_events).where(collect_events.c.kind == kind).order_by(collect_events.c.id))
        return [r.detail for r in rows]


def run(coro):
    return asyncio.run(coro)


async def locked_participant(url, cfg, prefer: dict[str, int]) -> tuple[HttpParticipant, httpx.Cookies]:
    """A participant who rated the opening turn (``prefer``: score per model) and is at the continue step."""
    async with httpx.AsyncClient(base_url=url, timeout=60) as client:
        p = HttpParticipant(client, cfg)
        await p.join()
        await p.consent_and_survey()
        await p.opening("unguided", "Hello there")
        ids = by_model(p.html)
        await p.rate({rid: prefer.get(m, 10 + k) for k, (m, rid) in enumerate(ids.items())})
        assert "Your next message" in p.html
        return p, client.cookies


async def again(url, cfg, cookies, script):
    async with httpx.AsyncClient(base_url=url, timeout=60, cookies=cookies) as client:
        p = HttpParticipant(client, cfg)
        await p.get()
        return await script(p)


def test_a_removed_locked_model_is_replaced_by_the_participants_next_best_and_recorded(tmp_path, double_server):
    cfg1 = study_config(echo(["echo-a", "echo-b", "echo-c", "echo-d"], double_server), sampling={"mode": "all"})
    store = Store.open(tmp_path / "s.sqlite")
    prefer = {"echo-a": 90, "echo-c": 70, "echo-b": 40, "echo-d": 20}
    with ThreadServer(create_app(cfg1, store, admin_token=ADMIN)) as server:
        _, cookies = run(locked_participant(server.url, cfg1, prefer))
        _, cookies_early = run(locked_participant(server.url, cfg1, prefer))
    # the study file changes: echo-a is renamed echo-e
    cfg2 = study_config(echo(["echo-b", "echo-c", "echo-d", "echo-e"], double_server), sampling={"mode": "all"})
    app2 = create_app(cfg2, store, admin_token=ADMIN)
    with ThreadServer(app2) as server:
        assert app2.state.collect.model_check == {"checked": 2, "affected": 2, "models": {"echo-a": 2}}

        async def go_on(p: HttpParticipant):
            assert "no longer part of the study" in p.html and "Finish this conversation now" in p.html
            await p.follow_up("And what else?")
            ids = by_model(p.html)
            assert list(ids) == ["echo-c"] and len(p.score_ids()) == 2  # two samples of the next-best model
            await p.rate()
            assert "no longer part of the study" not in p.html  # echo-c is the locked model now
            await p.finish()
            assert "completion code" in p.html

        run(again(server.url, cfg2, cookies, go_on))

        async def finish_early(p: HttpParticipant):
            await p.post("/study/finish", {"early": "1"})
            await p.get()
            assert "Submit feedback" in p.html
            await p.post("/study/feedback", {"open_feedback": "The model went away, but it was fine."})
            await p.get()
            assert "completion code" in p.html

        run(again(server.url, cfg2, cookies_early, finish_early))
    replaced = events(store, "model_replaced")
    assert replaced == [
        {
            "conversation_id": replaced[0]["conversation_id"],
            "turn": 1,
            "from": "echo-a",
            "to": "echo-c",
            "reason": "removed",
        }
    ]
    assert [e["turns"] for e in events(store, "conversation_ended_early")] == [1]
    study = store.export_study()
    replaced_conv, early_conv = sorted(study.conversations, key=lambda c: -c.conversation_turns)
    assert replaced_conv.model_replaced == {"from": "echo-a", "to": "echo-c", "turn": 1}
    assert not hasattr(replaced_conv, "ended_early")  # only what happened is flagged
    assert early_conv.ended_early is True and early_conv.conversation_turns == 1
    assert not hasattr(early_conv, "model_replaced")
    later = {u.model_name for u in study.utterances if u.turn == 1}
    assert later == {"echo-c"}
    flagged = events(store, "conversation_flagged")
    assert [(f["model_replaced"] or {}).get("to") for f in flagged] == ["echo-c", None]
    assert [f["ended_early"] for f in flagged] == [False, True]


def test_a_pending_call_with_a_removed_model_is_repaired_not_an_error(tmp_path, double_server):
    """The reported bug: HTTP 500 ('no backend for model(s)') and then an endless waiting page."""
    cfg1 = study_config(echo(["echo-a", "echo-b", "echo-c", "echo-d"], double_server), sampling={"mode": "all"})
    store = Store.open(tmp_path / "s.sqlite")
    app1 = create_app(cfg1, store, admin_token=ADMIN)
    repo = app1.state.collect.repo
    # one participant waits for the opening turn, one for a follow-up of the removed model
    token_open, s = repo.create_session()
    before = Snapshot.of(s.state)
    s.consent()
    s.submit_survey(example_survey_answers())
    s.start_conversation("unguided", "Hi")
    repo.save(s, before)
    cfg2 = study_config(echo(["echo-b", "echo-c", "echo-d", "echo-e"], double_server), sampling={"mode": "all"})
    app2 = create_app(cfg2, store, admin_token=ADMIN)
    with ThreadServer(app2) as server, httpx.Client(base_url=server.url, cookies={"pluralis_p": token_open}) as c:
        assert app2.state.collect.model_check["models"] == {"echo-a": 1}
        deadline = time.monotonic() + 20
        page = c.get("/study")
        while "Submit ratings" not in page.text and time.monotonic() < deadline:
            assert page.status_code == 200 and "writing their responses" in page.text
            time.sleep(0.2)
            page = c.get("/study")
        assert page.status_code == 200 and "Submit ratings" in page.text
        assert set(by_model(page.text)) == {"echo-b", "echo-c", "echo-d", "echo-e"}
    (ev,) = events(store, "model_replaced")
    assert (ev["turn"], ev["from"], ev["to"], ev["reason"]) == (0, "echo-a", "echo-e", "removed")


def test_a_locked_model_down_for_good_is_replaced_after_two_failed_tries(tmp_path, double_server):
    from llm_double_app import make_double_app  # tests/llm is on sys.path (tests/model_servers.py)

    own = ThreadServer(make_double_app())
    down = own.url + "/v1"
    models = echo(["down-a"], down) + echo(["echo-b", "echo-c", "echo-d"], double_server)
    cfg = study_config(models, sampling={"mode": "all", "timeout": 5})
    store = Store.open(tmp_path / "s.sqlite")
    with ThreadServer(create_app(cfg, store, admin_token=ADMIN)) as server:
        try:
            _, cookies = run(
                locked_participant(server.url, cfg, {"down-a": 95, "echo-d": 80, "echo-b": 30, "echo-c": 10})
            )
        finally:
            own.__exit__(None, None, None)  # the locked model's server goes away for good

        async def tries(p: HttpParticipant):
            for attempt in (1, 2):
                await p.follow_up(f"Are you there? ({attempt})")
                assert "None of the models answered" in p.html and "Your next message" in p.html
                assert ("not answering at the moment" in p.html) is (attempt == 2)
            await p.follow_up("Let us go on then.")
            assert list(by_model(p.html)) == ["echo-d"]

        run(again(server.url, cfg, cookies, tries))
    (ev,) = events(store, "model_replaced")
    assert (ev["from"], ev["to"], ev["reason"]) == ("down-a", "echo-d", "failing")


def test_finishing_early_is_only_for_a_participant_whose_model_is_gone(tmp_path, double_server):
    cfg = study_config(echo(["echo-a", "echo-b", "echo-c", "echo-d"], double_server), sampling={"mode": "all"})
    store = Store.open(tmp_path / "s.sqlite")
    with ThreadServer(create_app(cfg, store, admin_token=ADMIN)) as server:
        _, cookies = run(locked_participant(server.url, cfg, {"echo-a": 90}))

        async def try_early(p: HttpParticipant):
            assert "Finish this conversation now" not in p.html
            r = await p.post("/study/finish", {"early": "1"}, expect=422)
            assert "conversations need at least 2 turns" in r.text and 'href="#err-finish"' in r.text
            assert "Your next message" in r.text

        run(again(server.url, cfg, cookies, try_early))
    assert events(store, "conversation_ended_early") == []


@pytest.mark.parametrize("gone", [["echo-a", "echo-b", "echo-c", "echo-d"]])
def test_no_model_left_gives_a_message_not_an_endless_wait(tmp_path, double_server, gone):
    cfg1 = study_config(echo(gone, double_server), sampling={"mode": "all"})
    store = Store.open(tmp_path / "s.sqlite")
    repo = create_app(cfg1, store, admin_token=ADMIN).state.collect.repo
    token, s = repo.create_session()
    before = Snapshot.of(s.state)
    s.consent()
    s.submit_survey(example_survey_answers())
    s.start_conversation("unguided", "Hi")
    repo.save(s, before)
    # every model of the pending call is gone and the new study has none of them; its only model is down too
    cfg2 = study_config(echo(["http500"], double_server), sampling={"mode": "all"})
    with (
        ThreadServer(create_app(cfg2, store, admin_token=ADMIN)) as server,
        httpx.Client(base_url=server.url, cookies={"pluralis_p": token}) as c,
    ):
        deadline = time.monotonic() + 20
        page = c.get("/study")
        while "writing their responses" in page.text and time.monotonic() < deadline:
            time.sleep(0.2)
            page = c.get("/study")
        assert page.status_code == 200 and "None of the models answered" in page.text
        assert 'name="opening_prompt"' in page.text  # back at the start of the conversation, free to retry
