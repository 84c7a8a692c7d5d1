"""What participants are told: a form sent twice leads to the current step with a plain note; refused actions
and errors of the app never show developer wording (that goes to the log); a page with errors starts with a
summary linked to the fields; the waiting page shows progress without JavaScript; the resume box is gone
once the study is over."""

from __future__ import annotations

import asyncio
import logging
import re
from urllib.parse import urlencode

import pytest
from fastapi.testclient import TestClient

from pluralis.collect.config import StudyConfig
from pluralis.collect.protocol import ProtocolError, example_survey_answers
from pluralis.llm import ChatResult, ModelSpec
from pluralis.store import Store
from pluralis.web import participant
from pluralis.web.app import INTERNAL_ERROR, create_app
from pluralis.web.repository import Snapshot
from tests.collect_helpers import FORM_HEADERS, csrf_of, survey_form

DEVELOPER_WORDS = ("cannot do that now", "participant is at step", "Traceback", "ProtocolError", "boom")


class Waiting:
    """A model backend that answers only when told (latency injection for the waiting page)."""

    def __init__(self, name: str):
        self.spec = ModelSpec(name=name)
        self.go = asyncio.Event()

    async def chat(self, messages, *, params=None, timeout=None):
        await self.go.wait()
        return ChatResult(text="An answer.", model=self.spec.name, latency_s=0.0)

    async def aclose(self):
        pass


@pytest.fixture()
def app(tmp_path):
    return create_app(StudyConfig(), Store.open(tmp_path / "s.sqlite"), admin_token="a" * 24, models={})


def joined(client: TestClient) -> str:
    client.post("/start", data={"csrf": csrf_of(client.get("/").text)})
    return client.get("/study").text


def assert_plain(html: str) -> None:
    for word in DEVELOPER_WORDS:
        assert word not in html, word


def test_a_form_sent_twice_leads_to_the_current_step_with_a_note(app):
    with TestClient(app) as c:
        page = joined(c)
        consent = {"csrf": csrf_of(page), "consent": "yes", "consent_age": "yes"}
        assert c.post("/study/consent", data=consent, follow_redirects=False).status_code == 303
        again = c.post("/study/consent", data=consent, follow_redirects=False)  # a double click
        assert again.status_code == 303 and again.headers["location"] == "/study?note=already-sent"
        page = c.get(again.headers["location"]).text
        assert "That page had already been sent" in page and "Survey page 1 of" in page
        assert_plain(page)
        # a survey page sent twice (the back button) changes nothing either
        fields = survey_form(app.state.collect.config, "lm_use", example_survey_answers())
        body = urlencode([*fields, ("csrf", csrf_of(page))])
        first = c.post("/study/survey", content=body, headers=FORM_HEADERS, follow_redirects=False)
        assert first.status_code == 303
        second = c.post("/study/survey", content=body, headers=FORM_HEADERS, follow_redirects=False)
        assert second.headers["location"] == "/study?note=already-sent"
        assert "Survey page 2 of" in c.get("/study").text
        # notes are fixed texts: the URL cannot put words on the page
        assert "<b>hi</b>" not in c.get("/study?note=<b>hi</b>").text


def test_a_page_with_errors_starts_with_a_linked_summary(app):
    with TestClient(app) as c:
        page = joined(c)
        c.post("/study/consent", data={"csrf": csrf_of(page), "consent": "yes", "consent_age": "yes"})
        page = c.get("/study").text
        r = c.post(
            "/study/survey", data={"csrf": csrf_of(page), "section": "lm_use", "lm_familiarity": "Very familiar"}
        )
        assert r.status_code == 422
        summary = re.search(r'<div class="error-summary".*?</div>', r.text, re.S).group(0)
        assert 'role="alert"' in summary and 'tabindex="-1"' in summary
        links = re.findall(r'<a href="#(err-[^"]+)">([^<]+)</a>', summary)
        assert [target for target, _ in links] == ["err-lm_indirect_use", "err-lm_direct_use"]
        for target, text in links:
            assert f'id="{target}"' in r.text  # the message next to the field
            assert text.endswith("choose an answer") or ":" in text
        assert r.text.index("error-summary") < r.text.index("<form")  # at the top, before the form
        assert "checked" in r.text  # the answer given survives
        assert_plain(r.text)


def test_refused_actions_and_app_errors_never_show_developer_wording(app, monkeypatch, caplog):
    def broken(session, form):
        raise ProtocolError("cannot do that now: the participant is at step 'consent', not rate")

    with TestClient(app, raise_server_exceptions=False) as c:
        page = joined(c)
        monkeypatch.setattr(participant, "_consent", broken)
        with caplog.at_level(logging.INFO, logger="pluralis.web"):
            r = c.post("/study/consent", data={"csrf": csrf_of(page), "consent": "yes", "consent_age": "yes"})
        assert r.status_code == 422 and participant.TRY_AGAIN in r.text
        assert_plain(r.text)
        assert "participant is at step 'consent'" in caplog.text  # the developer text is in the log
        monkeypatch.undo()

        def crash(*args, **kwargs):
            raise RuntimeError("boom: SELECT * FROM collect_sessions")

        monkeypatch.setattr(app.state.collect.repo, "load", crash)
        with caplog.at_level(logging.ERROR, logger="pluralis.web"):
            r = c.get("/study")
        assert r.status_code == 500 and INTERNAL_ERROR in r.text
        assert_plain(r.text)
        assert "boom: SELECT" in caplog.text


def test_the_waiting_page_shows_progress_without_javascript(tmp_path):
    cfg = StudyConfig().with_models([{"name": "slow", "endpoint": "http://127.0.0.1:9/v1"}])
    backend = Waiting("slow")
    app = create_app(cfg, Store.open(tmp_path / "s.sqlite"), models={"slow": backend})
    state = app.state.collect
    token, s = state.repo.create_session()
    before = Snapshot.of(s.state)
    s.consent()
    s.submit_survey(example_survey_answers())
    s.start_conversation("unguided", "Hello")
    state.repo.save(s, before)
    with TestClient(app, cookies={"pluralis_p": token}) as c:
        page = c.get("/study").text  # starts the model call; it waits
        assert '<meta http-equiv="refresh" content="2">' in page
        assert re.search(r'<progress id="wait-progress" max="30" value="\d+"', page)
        assert re.search(r'role="status"[^>]*><span class="wait-elapsed">\d+</span> seconds? so far', page)
        assert "It usually takes a few seconds" in page and "(at most 30 seconds)" in page
        state.recent_latencies.extend([3.2, 4.1, 3.9])
        assert "It usually takes about 4 seconds" in c.get("/study").text
        assert state.inflight_started  # the call in flight is timed from its start
        backend.go.set()


def test_the_resume_box_is_gone_once_the_study_is_over(app):
    from types import SimpleNamespace

    state = app.state.collect
    token, s = state.repo.create_session()
    request = SimpleNamespace(app=app, base_url="http://testserver/")
    assert "Need a break?" in participant.study_page(request, token, s).body.decode()
    for step in (s.state.step.COMPLETE, s.state.step.SCREENED_OUT):
        s.state.step = step
        s.state.completion_code = "ABC123"
        html = participant.study_page(request, token, s).body.decode()
        assert "Need a break?" not in html and f"/resume/{token}" not in html
