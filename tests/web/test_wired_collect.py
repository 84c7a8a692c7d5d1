"""The collect layer's issue-16 features as the web app uses them: sliders must be touched, Prolific entry
parameters are kept, failures are in the admin export, and an admin can delete a participant."""

from __future__ import annotations

import io
import json
import zipfile
from urllib.parse import urlencode

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from pluralis.collect.config import StudyConfig
from pluralis.collect.protocol import example_survey_answers
from pluralis.llm import ChatResult, ModelSpec
from pluralis.store import Store
from pluralis.store.participants import audit_log, failures, payments, sessions_overview
from pluralis.store.schema_collect import collect_ratings, collect_responses
from pluralis.web.app import create_app
from tests.collect_helpers import FORM_HEADERS, SCORE_RE, SECTION_RE, csrf_of, survey_form

ADMIN = "admin-token-for-tests-123"
NAMES = ["m-a", "m-b", "m-c", "m-d"]


class Instant:
    """A model backend that answers at once (or fails, ``fail=True``)."""

    def __init__(self, name: str, fail: bool = False):
        self.spec = ModelSpec(name=name)
        self.fail = fail

    async def chat(self, messages, *, params=None, timeout=None):
        if self.fail:
            raise RuntimeError("the model server is down")
        return ChatResult(text=f"An answer from {self.spec.name}.", model=self.spec.name, latency_s=0.0)

    async def aclose(self):
        pass


def make_app(tmp_path, *, failing: str | None = None):
    cfg = StudyConfig().with_models([{"name": n, "endpoint": "http://127.0.0.1:9/v1", "max_retries": 0} for n in NAMES])
    store = Store.open(tmp_path / "s.sqlite")
    models = {n: Instant(n, fail=n == failing) for n in NAMES}
    return cfg, store, create_app(cfg, store, admin_token=ADMIN, models=models)


def through_survey(c: TestClient, cfg: StudyConfig, landing: str = "/") -> str:
    """Join (from ``landing``), consent and answer the survey: the page that follows it."""
    c.post("/start", data={"csrf": csrf_of(page := c.get(landing).text), **entry_fields(page)})
    page = c.get("/study").text
    c.post("/study/consent", data={"consent": "yes", "consent_age": "yes", "csrf": csrf_of(page)})
    page = c.get("/study").text
    while (m := SECTION_RE.search(page)) is not None:
        body = [*survey_form(cfg, m.group(1), example_survey_answers()), ("csrf", csrf_of(page))]
        c.post("/study/survey", content=urlencode(body), headers=FORM_HEADERS)
        page = c.get("/study").text
    return page


def to_rating(c: TestClient, cfg: StudyConfig, landing: str = "/") -> str:
    """Join (from ``landing``), consent, answer the survey and open a conversation: the rating page."""
    page = through_survey(c, cfg, landing)
    c.post("/study/start", data={"conversation_type": "unguided", "opening_prompt": "Hello", "csrf": csrf_of(page)})
    return c.get("/study").text


def entry_fields(page: str) -> dict[str, str]:
    import re

    return dict(re.findall(r'name="(entry__[^"]+)" value="([^"]*)"', page))


def test_an_untouched_slider_is_refused_with_a_message_and_nothing_is_stored(tmp_path):
    cfg, store, app = make_app(tmp_path)
    with TestClient(app) as c:
        page = to_rating(c, cfg)
        ids = SCORE_RE.findall(page)
        assert len(ids) == 4 and f'name="score_{ids[0]}__touched"' in page
        scores = {f"score_{i}": 50 for i in ids}
        touched = {f"score_{i}__touched": "1" for i in ids[1:]}  # the first slider was never moved
        r = c.post("/study/rate", data={**scores, **touched, "csrf": csrf_of(page)})
        assert r.status_code == 422
        assert "Please move every slider to give your rating." in r.text
        assert r.text.count(cfg.conversations.untouched_text) >= 1 and f'id="err-score_{ids[0]}"' in r.text
        with store.engine.connect() as conn:
            assert conn.execute(select(func.count()).select_from(collect_ratings)).scalar() == 0
        r = c.post("/study/rate", data={**scores, **touched, f"score_{ids[0]}__touched": "1", "csrf": csrf_of(page)})
        assert r.status_code in (200, 303)
        with store.engine.connect() as conn:
            assert conn.execute(select(func.count()).select_from(collect_ratings)).scalar() == 4


def test_prolific_entry_parameters_are_kept_for_payment_matching(tmp_path):
    cfg, store, app = make_app(tmp_path)
    with TestClient(app, headers={"user-agent": "Mozilla/5.0 (Windows NT 10.0; Win64; x64)"}) as c:
        landing = c.get("/?PROLIFIC_PID=abc&STUDY_ID=st1&SESSION_ID=se1&evil=1").text
        assert entry_fields(landing) == {
            "entry__PROLIFIC_PID": "abc",
            "entry__STUDY_ID": "st1",
            "entry__SESSION_ID": "se1",
        }
        assert "evil" not in landing
        to_rating(c, cfg, "/?PROLIFIC_PID=abc&STUDY_ID=st1&SESSION_ID=se1")
    (row,) = payments(store, study_id=cfg.study.id)
    assert (row["PROLIFIC_PID"], row["STUDY_ID"], row["SESSION_ID"]) == ("abc", "st1", "se1")
    assert row["status"] == "rate"
    (overview,) = sessions_overview(store)
    assert overview["client_os"] == "Windows"


def test_the_screened_out_and_complete_pages_show_the_code_and_the_filled_redirect(tmp_path):
    from types import SimpleNamespace

    from pluralis.collect.config import CompletionConfig
    from pluralis.collect.protocol import Step
    from pluralis.web.participant import study_page

    completion = CompletionConfig(
        redirect_url="https://app.prolific.com/submissions/complete?cc={code}",
        screened_out_code="SCR1",
        screened_out_redirect_url="https://app.prolific.com/submissions/complete?cc={code}&s=1",
        screened_out_message="Sorry, this study is full for people like you.",
    )
    cfg = StudyConfig().model_copy(update={"completion": completion})
    app = create_app(cfg, Store.open(tmp_path / "s.sqlite"), models={})
    token, session = app.state.collect.repo.create_session()
    req = SimpleNamespace(app=app, base_url="http://testserver/")
    session.state.step, session.state.completion_code = Step.SCREENED_OUT, "SCR1"
    html = study_page(req, token, session).body.decode()
    assert "Sorry, this study is full for people like you." in html and ">SCR1</strong>" in html
    assert 'href="https://app.prolific.com/submissions/complete?cc=SCR1&amp;s=1"' in html
    session.state.step, session.state.completion_code = Step.COMPLETE, "C0DE"
    html = study_page(req, token, session).body.decode()
    assert 'href="https://app.prolific.com/submissions/complete?cc=C0DE"' in html and "{code}" not in html


def test_the_admin_export_has_the_failed_model_calls(tmp_path):
    cfg, store, app = make_app(tmp_path, failing="m-d")
    with TestClient(app) as c:
        page = to_rating(c, cfg)
        assert SCORE_RE.findall(page)  # the other models answered
        r = c.get("/admin/export.zip", headers={"Authorization": "Bearer " + ADMIN})
    assert r.status_code == 200
    zf = zipfile.ZipFile(io.BytesIO(r.content))
    assert "failures.jsonl" in zf.namelist() and "survey.jsonl" in zf.namelist()
    rows = [json.loads(line) for line in zf.read("failures.jsonl").decode().splitlines()]
    assert rows and {row["model_name"] for row in rows} == {"m-d"}
    assert rows[0]["user_id"] == failures(store)[0]["user_id"] and rows[0]["turn"] == 0
    assert "the model server is down" in (rows[0]["message"] or "")


def test_the_admin_deletes_a_withdrawn_participant_and_the_dashboard_shows_the_audit_log(tmp_path):
    cfg, store, app = make_app(tmp_path)
    with TestClient(app) as c:
        to_rating(c, cfg, "/?PROLIFIC_PID=gone1")
        (first,) = sessions_overview(store)
    with TestClient(app) as c:  # a second participant, who stays
        to_rating(c, cfg, "/?PROLIFIC_PID=stays")
    gone = first["user_id"]
    auth = {"Authorization": "Bearer " + ADMIN}
    with TestClient(app) as admin, TestClient(app) as anyone:
        page = admin.get("/admin", headers=auth).text
        assert 'id="audit"' in page and "No deletions yet." in page
        csrf = csrf_of(page)
        path = f"/admin/participants/{gone}/delete"
        assert anyone.post(path, data={"csrf": csrf, "reason": "withdrawal"}).status_code in (401, 403)
        assert admin.post(path, data={"csrf": "forged", "reason": "withdrawal"}, headers=auth).status_code == 403
        assert admin.post(path, data={"csrf": csrf, "reason": "bored"}, headers=auth).status_code == 422
        with store.engine.connect() as conn:
            before = conn.execute(select(func.count()).select_from(collect_responses)).scalar()
        assert len(sessions_overview(store)) == 2 and before > 0
        r = admin.post(path, data={"csrf": csrf, "reason": "withdrawal"}, headers=auth, follow_redirects=False)
        assert (r.status_code, r.headers["location"]) == (303, "/admin#audit")
        assert [row["PROLIFIC_PID"] for row in payments(store)] == ["stays"]
        with store.engine.connect() as conn:
            left = conn.execute(select(collect_responses.c.user_id).distinct()).scalars().all()
        assert gone not in left and len(left) == 1
        (entry,) = audit_log(store)
        assert entry["detail"]["reason"] == "withdrawal" and gone not in json.dumps(entry)
        page = admin.get("/admin", headers=auth).text
        assert 'id="audit-log"' in page and "<td>withdrawal</td>" in page
        assert f'<td class="num">{sum(entry["detail"]["rows"].values())}</td>' in page
        assert admin.post(path, data={"csrf": csrf, "reason": "withdrawal"}, headers=auth).status_code == 404


def test_a_returning_prolific_participant_in_a_full_study_is_told_they_already_started(tmp_path):
    # QA: with limits.max_participants reached, a participant who had joined (cookie gone, same PROLIFIC_PID)
    # was told "This study is full" (403) instead of being sent back to the session they hold
    cfg = StudyConfig().with_models([{"name": n, "endpoint": "http://127.0.0.1:9/v1", "max_retries": 0} for n in NAMES])
    cfg = cfg.model_copy(update={"limits": cfg.limits.model_copy(update={"max_participants": 1})})
    store = Store.open(tmp_path / "s.sqlite")
    app = create_app(cfg, store, admin_token=ADMIN, models={n: Instant(n) for n in NAMES})
    landing = "/?PROLIFIC_PID=pid-1&STUDY_ID=st1&SESSION_ID=se1"
    with TestClient(app) as first:
        page = first.get(landing).text
        assert first.post("/start", data={"csrf": csrf_of(page), **entry_fields(page)}).status_code == 200
    with TestClient(app) as again:  # a new browser: the same Prolific participant, then someone new
        page = again.get(landing).text
        r = again.post("/start", data={"csrf": csrf_of(page), **entry_fields(page)})
        assert r.status_code == 409 and "already started the study" in r.text and "resume link" in r.text
        # QA: "Back to the study" led to the landing page and the same refusal again: no link on either page
        assert 'href="/study"' not in r.text
        page = again.get("/?PROLIFIC_PID=pid-2").text
        r = again.post("/start", data={"csrf": csrf_of(page), **entry_fields(page)})
        assert r.status_code == 403 and "This study is full" in r.text and 'href="/study"' not in r.text
    assert [row["PROLIFIC_PID"] for row in payments(store)] == ["pid-1"]


def test_the_rating_page_lists_its_problems_in_the_order_the_responses_are_shown(tmp_path):
    # QA: the summary of a refused rating page read "Response A, Response C, Response B" (response ids, not
    # the shuffled display order), for both unrated and untouched sliders
    import re

    cfg, _store, app = make_app(tmp_path)
    for _ in range(20):  # a participant whose responses are shown in another order than their ids
        c = TestClient(app)
        page = to_rating(c, cfg)
        ids = SCORE_RE.findall(page)  # in display order (Response A, B, ...)
        if ids != sorted(ids, key=int):
            break
    assert len(ids) == 4 and ids != sorted(ids, key=int)
    with c:
        for data in (
            {f"score_{i}": "0" for i in ids} | {f"score_{i}__touched": "1" for i in ids},  # out of range
            {f"score_{i}": "50" for i in ids},  # never moved
        ):
            r = c.post("/study/rate", data={**data, "csrf": csrf_of(page)})
            assert r.status_code == 422
            summary = r.text.split('id="error-summary"', 1)[1].split("</ul>", 1)[0]
            assert re.findall(r'href="#err-score_(\d+)"', summary) == ids
            assert re.findall(r">Response ([A-D]):", summary) == ["A", "B", "C", "D"]


def test_every_participant_page_has_one_main_heading(tmp_path):
    # QA: the page after a rating (continue or finish) had no heading at all, so screen-reader users who move by
    # headings could not find where the page starts (every other page has one <h1>)
    import re

    cfg, _store, app = make_app(tmp_path)

    def h1s(html: str) -> list[str]:
        return re.findall(r"<h1[^>]*>(.*?)</h1>", html, flags=re.S)

    with TestClient(app) as c:
        assert len(h1s(c.get("/").text)) == 1
        page = to_rating(c, cfg)
        assert len(h1s(page)) == 1
        ids = SCORE_RE.findall(page)
        data = {f"score_{i}": str(40 + n) for n, i in enumerate(ids)} | {f"score_{i}__touched": "1" for i in ids}
        page = c.post("/study/rate", data={**data, "csrf": csrf_of(page)}).text
        assert "/study/followup" in page  # the continue page
        assert h1s(page) == ["Conversation 1 of 6: continue or finish"]


def test_an_admin_error_page_links_back_to_the_dashboard_not_the_study(tmp_path):
    # QA: a mistyped participant id on the dashboard's delete form ended on "Sorry ... Back to the study", a link
    # to the participants' pages; participants' error pages keep their link to the study
    cfg, _store, app = make_app(tmp_path)
    auth = {"Authorization": "Bearer " + ADMIN}
    with TestClient(app) as admin:
        csrf = csrf_of(admin.get("/admin", headers=auth).text)
        for reason, status in (("withdrawal", 404), ("bored", 422)):
            r = admin.post("/admin/participants/u-typo/delete", data={"csrf": csrf, "reason": reason}, headers=auth)
            assert r.status_code == status
            assert '<a href="/admin">Back to the dashboard</a>' in r.text and "Back to the study" not in r.text
    with TestClient(app) as participant:
        r = participant.get("/resume/not-a-token")
        assert r.status_code == 404 and '<a href="/study">Back to the study</a>' in r.text


def test_without_javascript_a_refused_rating_page_keeps_the_ticks_and_says_what_to_tick(tmp_path):
    # QA (browser without JavaScript): a rating page refused because one box was not ticked came back with every
    # "I have set this rating" box unticked, so the next submit was refused for the others; the message only
    # said "move this slider" to someone who had moved it (without JavaScript the box is what counts)
    import re

    cfg, _store, app = make_app(tmp_path)
    with TestClient(app) as c:
        page = to_rating(c, cfg)
        ids = SCORE_RE.findall(page)
        body = [(f"score_{i}", str(20 + 10 * n)) for n, i in enumerate(ids)]
        for i in ids[:-1]:  # what a browser without JavaScript sends: the empty hidden marker, then the ticked box
            body += [(f"score_{i}__touched", ""), (f"score_{i}__touched", "1")]
        body += [(f"score_{ids[-1]}__touched", ""), ("csrf", csrf_of(page))]
        r = c.post("/study/rate", content=urlencode(body), headers=FORM_HEADERS)
        assert r.status_code == 422
        boxes = dict(re.findall(r'<input type="checkbox" name="score_(\d+)__touched" value="1"( checked)?>', r.text))
        assert boxes == {i: (" checked" if i != ids[-1] else "") for i in ids}
        noscript = re.findall(r"<noscript>(.*?)</noscript>", r.text, flags=re.S)
        hints = ["tick “I have set this rating”" in n for n in noscript]
        assert hints == [i == ids[-1] for i in ids]
        body = [(k, v) for k, v in body if k != "csrf"] + [
            (f"score_{ids[-1]}__touched", "1"),
            ("csrf", csrf_of(r.text)),
        ]
        assert c.post("/study/rate", content=urlencode(body), headers=FORM_HEADERS).status_code in (200, 303)


def test_the_consent_page_lists_its_problems_in_page_order(tmp_path):
    # QA: the summary listed "Consent" before "Age confirmation", the page asks for the age first
    import re

    _cfg, _store, app = make_app(tmp_path)
    with TestClient(app) as c:
        page = c.get("/").text
        c.post("/start", data={"csrf": csrf_of(page), **entry_fields(page)})
        page = c.get("/study").text
        on_page = re.findall(r'name="(consent(?:_age)?)" value="yes"', page)
        r = c.post("/study/consent", data={"csrf": csrf_of(page)})
        assert r.status_code == 422 and on_page == ["consent_age", "consent"]
        summary = r.text.split('id="error-summary"', 1)[1].split("</ul>", 1)[0]
        assert re.findall(r'href="#err-([a-z_]+)"', summary) == on_page


def test_screened_out_participants_do_not_hold_a_place_in_a_full_study(tmp_path):
    # QA: every started session counted toward limits.max_participants, screened-out ones included, so a
    # study with over_quota = "screen_out" closed before it had its sample
    from pluralis.collect.config import QuotaCell, QuotasConfig

    gender = dict(example_survey_answers())["gender"]
    cfg = StudyConfig().with_models([{"name": n, "endpoint": "http://127.0.0.1:9/v1", "max_retries": 0} for n in NAMES])
    full_cell = QuotaCell(name="full", match={"gender": gender}, target=0)  # everyone answering as below
    cfg = cfg.model_copy(
        update={
            "limits": cfg.limits.model_copy(update={"max_participants": 1}),
            "quotas": QuotasConfig(kind="cells", over_quota="screen_out", cells=[full_cell]),
        }
    )
    store = Store.open(tmp_path / "s.sqlite")
    app = create_app(cfg, store, admin_token=ADMIN, models={n: Instant(n) for n in NAMES})
    with TestClient(app) as first:
        assert "enough participants" in through_survey(first, cfg, "/?PROLIFIC_PID=screened")  # screened out
    with TestClient(app) as second:  # the place is still free
        page = second.get("/?PROLIFIC_PID=holds-the-place").text
        assert second.post("/start", data={"csrf": csrf_of(page), **entry_fields(page)}).status_code == 200
    with TestClient(app) as third:  # now it is taken: the second participant is at the consent page
        page = third.get("/?PROLIFIC_PID=too-late").text
        r = third.post("/start", data={"csrf": csrf_of(page), **entry_fields(page)})
        assert r.status_code == 403 and "This study is full" in r.text
    assert sorted(row["PROLIFIC_PID"] for row in payments(store)) == ["holds-the-place", "screened"]
