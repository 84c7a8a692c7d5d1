"""The web app's security: escaping, CSRF, unguessable tokens, isolation, admin auth, rate limits; failures."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import select

from pluralis.store import Store
from pluralis.store.schema_collect import collect_failures, collect_ratings, collect_sessions
from pluralis.web.app import create_app
from tests.collect_helpers import (
    CSRF_RE,
    FORM_HEADERS,
    HttpParticipant,
    ThreadServer,
    csrf_of,
    participant_run,
    study_config,
)

ADMIN = "admin-token-for-tests-123"
XSS = "<script>window.__x=1</script>"


@pytest.fixture()
def echo_models(double_server):
    # The double echoes "[model] <first 40 chars of the prompt>", so a <script> prompt makes a model return <script>.
    return [{"name": n, "endpoint": double_server, "max_retries": 0} for n in ("echo-a", "echo-b", "echo-c", "echo-d")]


@pytest.fixture()
def served(tmp_path, echo_models):
    def make(models=None, **sections):
        cfg = study_config(models or echo_models, **sections)
        store = Store.open(tmp_path / "s.sqlite")
        return cfg, store, ThreadServer(create_app(cfg, store, admin_token=ADMIN))

    return make


def test_model_output_and_participant_text_are_escaped(served):
    cfg, store, server = served()
    with server:

        async def script(p: HttpParticipant):
            await p.join()
            p.answers["self_description"] = XSS + " and I value honesty."
            await p.consent_and_survey()
            await p.opening("unguided", XSS)
            assert "<script>window" not in p.html and "&lt;script&gt;window.__x=1&lt;/script&gt;" in p.html
            assert "[echo-" in p.html
            await p.rate()
            await p.follow_up(XSS)
            assert "<script>window" not in p.html
            await p.rate()
            await p.finish(feedback=XSS + " was a weird answer.")

        p = participant_run(server.url, cfg, script)
        assert "Thank you" in p.html
        admin = httpx.get(server.url + "/admin", headers={"Authorization": "Bearer " + ADMIN})
        assert admin.status_code == 200 and "<script>window" not in admin.text
        csp = admin.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp
        assert admin.headers["x-frame-options"] == "DENY" and admin.headers["referrer-policy"] == "no-referrer"
    # the text itself is stored verbatim (escaping is the renderer's job)
    study = store.export_study()
    assert study.conversations[0].opening_prompt == XSS


def test_csrf_tokens_are_required(served):
    cfg, store, server = served()
    with server, httpx.Client(base_url=server.url) as c:
        c.post("/start", content="csrf=x", headers=FORM_HEADERS)
        r = c.get("/")
        assert c.post("/start", content="csrf=wrong", headers=FORM_HEADERS).status_code == 403
        r = c.post("/start", content=f"csrf={csrf_of(r.text)}", headers=FORM_HEADERS)
        assert r.status_code == 303
        page = c.get("/study").text
        assert c.post("/study/consent", content="consent=yes&consent_age=yes", headers=FORM_HEADERS).status_code == 403
        assert (
            c.post(
                "/study/consent", content="consent=yes&consent_age=yes&csrf=" + "0" * 64, headers=FORM_HEADERS
            ).status_code
            == 403
        )
        assert "Consent" in c.get("/study").text  # nothing changed
        ok = c.post("/study/consent", content=f"consent=yes&consent_age=yes&csrf={csrf_of(page)}", headers=FORM_HEADERS)
        assert ok.status_code == 303


def test_tokens_are_unguessable_hashed_and_participants_isolated(served):
    cfg, store, server = served()
    with server:
        secrets_seen = {}

        def run_one(name):
            async def script(p: HttpParticipant):
                await p.join()
                await p.consent_and_survey()
                await p.opening("unguided", f"secret prompt of {name}")
                token = p.client.cookies.get("pluralis_p")
                secrets_seen[name] = token

            return participant_run(server.url, cfg, script)

        run_one("alice")
        run_one("bob")
        a, b = secrets_seen["alice"], secrets_seen["bob"]
        assert a != b and len(a) >= 43
        with httpx.Client(base_url=server.url, cookies={"pluralis_p": b}) as c:
            page = c.get("/study").text
            assert "secret prompt of bob" in page and "secret prompt of alice" not in page
        with httpx.Client(base_url=server.url) as c:
            assert c.get("/resume/" + "A" * 43).status_code == 404
            assert c.get("/study", follow_redirects=False).headers["location"] == "/"
            # a resume link asks before it switches the browser into that session
            ask = c.get("/resume/" + a)
            assert ask.status_code == 200 and "Only continue if you started this session yourself" in ask.text
            assert "secret prompt of alice" not in ask.text and "pluralis_p" not in c.cookies
            assert c.post("/resume/" + a, data={"csrf": "forged"}).status_code == 403
            assert "pluralis_p" not in c.cookies
            r = c.post("/resume/" + a, data={"csrf": csrf_of(ask.text)}, follow_redirects=True)
            assert "secret prompt of alice" in r.text and "secret prompt of bob" not in r.text
            assert c.get("/resume/" + a, follow_redirects=False).headers["location"] == "/study"  # already hers
        with httpx.Client(base_url=server.url, cookies={"pluralis_p": b}) as c:
            ask = c.get("/resume/" + a)
            assert "This browser is in another study session now" in ask.text
            assert "secret prompt of bob" not in ask.text and "secret prompt of alice" not in ask.text
    with store.engine.connect() as conn:
        stored = conn.execute(select(collect_sessions.c.token_hash)).scalars().all()
        dump = str(conn.execute(select(collect_sessions)).all())
    assert len(stored) == 2 and a not in dump and b not in dump


def test_admin_pages_need_the_token(served):
    cfg, store, server = served()
    with server, httpx.Client(base_url=server.url) as c:
        assert c.get("/admin/api/summary").status_code == 401
        assert c.get("/admin/api/summary", headers={"Authorization": "Bearer nope"}).status_code == 401
        assert c.get("/admin/export.zip").status_code == 401
        login = c.get("/admin")
        assert "Admin token" in login.text and "Participants by status" not in login.text
        csrf = CSRF_RE.search(login.text).group(1)
        assert c.post("/admin/login", content=f"csrf={csrf}&token=wrong", headers=FORM_HEADERS).status_code == 401
        assert c.post("/admin/login", content=f"csrf=bad&token={ADMIN}", headers=FORM_HEADERS).status_code == 403
        r = c.post("/admin/login", content=f"csrf={csrf}&token={ADMIN}", headers=FORM_HEADERS)
        assert r.status_code == 303 and ADMIN not in str(c.cookies)
        assert "Participants by status" in c.get("/admin").text
        assert c.get("/admin/api/summary").json()["participants"] == 0


def test_llm_endpoints_are_rate_limited(served, echo_models):
    cfg, store, server = served(limits={"llm_requests_per_minute": 2})
    with server:

        async def script(p: HttpParticipant):
            await p.join()
            await p.consent_and_survey()
            await p.opening("unguided", "one")
            await p.rate()
            await p.follow_up("two")
            await p.rate()
            await p.post("/study/followup", {"prompt": "three"}, expect=429)

        participant_run(server.url, cfg, script)


def test_failed_and_slow_models_are_dropped_and_recorded_in_the_store(served, double_server):
    models = [
        {"name": n, "endpoint": double_server, "max_retries": 0}
        for n in ("echo-ok", "http500", "malformed", "slow-6-x")
    ]
    cfg, store, server = served(models=models, sampling={"timeout": 1.0})
    with server:

        async def script(p: HttpParticipant):
            await p.join()
            await p.consent_and_survey()
            await p.opening("unguided", "Hello")  # the 6 s model timed out (1 s): recorded below, not waited for
            assert len(p.score_ids()) == 1 and "[echo-ok] Hello" in p.html
            await p.rate()

        participant_run(server.url, cfg, script)
    with store.engine.connect() as conn:
        fails = {r.model_name: r.kind for r in conn.execute(select(collect_failures))}
        ratings = conn.execute(select(collect_ratings)).all()
    assert fails == {"http500": "http_error", "malformed": "malformed", "slow-6-x": "timeout"}
    assert len(ratings) == 1 and ratings[0].model_name == "echo-ok"


def test_join_rate_limit(served):
    cfg, store, server = served(limits={"joins_per_minute_per_ip": 2})
    with server, httpx.Client(base_url=server.url) as c:
        codes = []
        for _ in range(3):
            c.cookies.clear()
            r = c.get("/")
            codes.append(c.post("/start", content=f"csrf={csrf_of(r.text)}", headers=FORM_HEADERS).status_code)
        assert codes == [303, 303, 429]
