"""In headless Chromium: the login-CSRF attack through the resume link (another site auto-submits the
attacker's own resume form) now fails while the participant's own click works; a participant whose locked model
was removed sees why and can finish early; every participant page fits phones 360-414 px wide; the error
summary, the waiting page's progress, notes and the resume box behave as participants need.

Real models answer (``pluralis llm serve`` with the tiny transformers model); the recorded-response double
adds latency (a slow model, so that the waiting page can be seen) and stands in for a model that is removed."""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from pluralis.collect.config import QuotaCell, QuotasConfig, StudyConfig
from pluralis.collect.protocol import ProtocolSession, example_survey_answers
from pluralis.store import Store
from pluralis.web.app import create_app
from pluralis.web.repository import Snapshot
from tests.collect_helpers import HttpParticipant, ThreadServer, csrf_of, participant_run, study_config

pytestmark = pytest.mark.slow

ADMIN = "admin-token-for-tests-123"
WIDTHS = (360, 390, 414)
RESP_RE = re.compile(r'id="resp-(\d+)-text">\s*(.*?)</div>', re.S)
LONG_WORD = "Pneumonoultramicroscopicsilicovolcanoconiosis" * 3


def in_thread(fn, *args, **kwargs):
    """Run ``fn`` in a worker thread (Playwright's sync API owns this thread's event loop)."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(fn, *args, **kwargs).result()


class AttackerSite:
    """A second web site (``http://localhost:PORT``: another site than the study's ``127.0.0.1``) serving one
    page that submits a form to the study as soon as it loads."""

    def __init__(self, html: str):
        async def app(scope, receive, send):
            if scope["type"] != "http":
                return
            await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/html")]})
            await send({"type": "http.response.body", "body": html.encode()})

        self.server = ThreadServer(app)
        self.url = self.server.url.replace("127.0.0.1", "localhost")

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.server.__exit__(*exc)


def test_login_csrf_through_the_resume_link_fails_and_the_participants_own_click_works(chromium, tmp_path):
    store = Store.open(tmp_path / "s.sqlite")
    app = create_app(StudyConfig(), store, admin_token=ADMIN, models={})
    repo = app.state.collect.repo
    # the attacker's own session, a step ahead of the victim's (so the two are told apart)
    attacker_token, s = repo.create_session()
    before = Snapshot.of(s.state)
    s.consent()
    repo.save(s, before)
    with ThreadServer(app) as server:
        # the attacker opens his own resume link and copies the confirmation form
        with httpx.Client(base_url=server.url) as attacker:
            form_token = csrf_of(attacker.get(f"/resume/{attacker_token}").text)
        attack = f"""<!doctype html><html><body><h1>Win a prize!</h1>
<form method="post" action="{server.url}/resume/{attacker_token}">
<input type="hidden" name="csrf" value="{form_token}"></form>
<script>document.forms[0].submit();</script></body></html>"""
        link = (
            f'<!doctype html><html><body><a id="go" href="{server.url}/resume/{attacker_token}">prize</a></body></html>'
        )
        context = chromium.new_context()
        page = context.new_page()
        page.set_default_timeout(30_000)
        page.goto(server.url + "/")
        page.click("text=Start")
        page.wait_for_selector("text=Consent")
        victim_token = next(c["value"] for c in context.cookies() if c["name"] == "pluralis_p")
        with AttackerSite(attack) as evil:
            page.goto(evil.url + "/")  # the victim visits the attacker's page; it submits the form at once
            page.wait_for_url(f"{server.url}/resume/{attacker_token}")
            page.wait_for_selector("text=another website")
        cookies = {c["name"]: c["value"] for c in context.cookies()}
        assert cookies["pluralis_p"] == victim_token  # not switched into the attacker's session
        page.goto(server.url + "/study")
        assert page.locator('input[name="consent"]').count() == 1  # her own page (the attacker's is the survey)
        # a plain link from another site only shows the question; nothing changes without her click
        with AttackerSite(link) as evil:
            page.goto(evil.url + "/")
            page.click("#go")
            page.wait_for_selector("text=Only continue if you started this session yourself")
        assert {c["name"]: c["value"] for c in context.cookies()}["pluralis_p"] == victim_token
        context.close()

        # the participant's own resume link, in another browser: her click switches it into her session
        other = chromium.new_context()
        page = other.new_page()
        page.set_default_timeout(30_000)
        page.goto(f"{server.url}/resume/{victim_token}")
        page.click("text=Continue my study")
        page.wait_for_selector('input[name="consent"]')
        assert {c["name"]: c["value"] for c in other.cookies()}["pluralis_p"] == victim_token
        other.close()
    with store.engine.connect() as conn:
        resumed = conn.exec_driver_sql("SELECT user_id FROM collect_events WHERE kind = 'resumed'").fetchall()
    assert [r[0] for r in resumed] == [repo.load(victim_token).user_id]


def test_a_participant_whose_model_was_removed_sees_why_and_can_finish_early(chromium, tmp_path, double_server):
    models = [{"name": n, "endpoint": double_server, "max_retries": 0} for n in ("echo-a", "echo-b", "echo-c")]
    cfg1 = study_config(models, sampling={"mode": "all"})
    store = Store.open(tmp_path / "s.sqlite")
    token = {}
    with ThreadServer(create_app(cfg1, store, admin_token=ADMIN)) as server:

        async def script(p: HttpParticipant):
            await p.join()
            await p.consent_and_survey()
            await p.opening("unguided", "Suggest a name for my cat.")
            ids = {text.split("]")[0].lstrip("["): rid for rid, text in RESP_RE.findall(p.html)}
            await p.rate({ids["echo-a"]: 95, ids["echo-b"]: 40, ids["echo-c"]: 20})
            token["t"] = p.client.cookies.get("pluralis_p")

        in_thread(participant_run, server.url, cfg1, script)
    cfg2 = study_config(models[1:], sampling={"mode": "all"})  # echo-a is taken out of the study
    with ThreadServer(create_app(cfg2, store, admin_token=ADMIN)) as server:
        context = chromium.new_context(viewport={"width": 390, "height": 844})
        page = context.new_page()
        page.set_default_timeout(30_000)
        page.goto(f"{server.url}/resume/{token['t']}")
        page.click("text=Continue my study")
        notice = page.locator("#model-gone")
        notice.wait_for()
        assert "no longer part of the study" in notice.inner_text() and notice.get_attribute("role") == "status"
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
        page.click("button:has-text('Finish this conversation now')")
        page.wait_for_selector("text=Submit feedback")
        context.close()
    with store.engine.connect() as conn:
        kinds = [r[0] for r in conn.exec_driver_sql("SELECT kind FROM collect_events ORDER BY id")]
    assert kinds[-2:] == ["conversation_ended", "conversation_ended_early"]


# --- phones: every participant page at 360, 390 and 414 px ---------------------------------------------

FITS = """() => {
  const iw = window.innerWidth;
  const controls = Array.from(document.querySelectorAll('input:not([type=hidden]),textarea,select,button,progress'))
    .filter(e => e.getClientRects().length);
  const right = Math.max(0, ...controls.map(e => e.getBoundingClientRect().right));
  return {scroll: document.documentElement.scrollWidth, inner: iw, right: right};
}"""


def fits(page, label: str, seen: list[str]) -> None:
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 800})
        m = page.evaluate(FITS)
        assert m["scroll"] <= m["inner"] == width, f"{label} at {width}px is {m['scroll']}px wide"
        assert m["right"] <= width + 0.5, f"{label} at {width}px: a control ends at {m['right']}px"
    page.set_viewport_size({"width": 390, "height": 800})
    seen.append(label)


def test_every_participant_page_fits_a_phone(chromium, tmp_path, tiny_models, double_server):
    models = tiny_models[:3] + [{"name": "slow-3-x", "endpoint": double_server, "max_retries": 0}]
    cfg = study_config(models, sampling={"mode": "all", "timeout": 30})
    store = Store.open(tmp_path / "s.sqlite")
    app = create_app(cfg, store, admin_token=ADMIN)
    seen: list[str] = []
    with ThreadServer(app) as server:
        context = chromium.new_context(viewport={"width": 390, "height": 800}, is_mobile=True, has_touch=True)
        page = context.new_page()
        page.set_default_timeout(60_000)
        page.goto(server.url + "/")
        fits(page, "landing", seen)
        page.click("text=Start")
        page.wait_for_selector('input[name="consent"]')
        fits(page, "consent", seen)
        page.click("text=Continue")  # nothing ticked: the browser's own required check stops it
        page.check('input[name="consent_age"]')
        page.check('input[name="consent"]')
        page.click("text=Continue")

        # survey page 1, first sent incomplete (the browser's checks are off, as in old browsers)
        page.wait_for_selector("text=Survey page 1")
        fits(page, "survey page 1", seen)
        page.evaluate("document.querySelectorAll('form').forEach(f => f.noValidate = true)")
        page.click("text=Next")
        summary = page.locator("#error-summary")
        summary.wait_for()
        assert page.evaluate("document.activeElement.id") == "error-summary"  # focus moves to the summary
        assert summary.get_attribute("role") == "alert"
        links = summary.locator("a")
        assert links.count() == 3
        for i in range(links.count()):
            target = links.nth(i).get_attribute("href")
            assert page.locator(target).count() == 1, target  # every link leads to its field's message
        fits(page, "survey page 1 (errors)", seen)
        links.nth(1).click()
        assert page.evaluate("location.hash") == links.nth(1).get_attribute("href")
        page.check('input[name="lm_familiarity"][value="Somewhat familiar"]')
        page.check('input[name="lm_indirect_use"][value="Yes"]')
        page.check('input[name="lm_direct_use"][value="Yes"]')
        page.click("text=Next")
        page.wait_for_selector("text=Survey page 2")
        fits(page, "survey page 2", seen)
        page.check('input[name="lm_frequency_use"][value="Every week"]')
        page.check('input[name="lm_usecases"][value="research"]')
        page.click("text=Next")
        page.wait_for_selector("text=Survey page 3")
        fits(page, "survey page 3 (preferences)", seen)
        page.fill('textarea[name="system_string"]', "Be honest and kind.")
        page.fill('textarea[name="self_description"]', "I value curiosity and fairness. " + LONG_WORD)
        page.click("text=Next")
        page.wait_for_selector("text=Survey page 4")
        fits(page, "survey page 4 (about you)", seen)
        for name, value in [
            ("age", "35-44 years old"),
            ("gender", "Female"),
            ("employment_status", "Working part-time"),
            ("education", "Graduate / Professional degree"),
            ("marital_status", "Married"),
            ("english_proficiency", "Fluent"),
            ("ethnicity", "White"),
            ("religion", "Non-religious"),
        ]:
            page.check(f'input[name="{name}"][value="{value}"]')
        page.select_option('select[name="birth_country"]', "United Kingdom")
        page.select_option('select[name="reside_country"]', "United Kingdom")
        page.click("text=Next")

        page.wait_for_selector("#opening_prompt")
        fits(page, "start", seen)
        page.check('input[name="conversation_type"][value="unguided"]')
        page.fill("#opening_prompt", "What should I read next? " + LONG_WORD)
        page.click("button:has-text('Send')", no_wait_after=True)
        # meanwhile, in a second tab: the waiting page, with its progress
        wait = context.new_page()
        progress = wait.locator("progress#wait-progress")
        for _ in range(50):  # the click returns before the server has taken the Send: reload until it has
            wait.goto(server.url + "/study")
            if progress.count():
                break
            wait.wait_for_timeout(100)
        progress.wait_for()
        status = wait.locator("#wait-status")
        assert status.get_attribute("role") == "status" and "seconds so far" in status.inner_text()
        assert wait.locator('meta[http-equiv="refresh"]').count() == 1  # without JavaScript it refreshes itself
        assert progress.get_attribute("max") == "30" and progress.get_attribute("aria-labelledby") == "wait-status"
        first = float(wait.evaluate("document.getElementById('wait-progress').value"))
        for _ in range(40):  # the script counts the seconds between the page's own refreshes
            wait.wait_for_timeout(250)
            if float(wait.evaluate("document.getElementById('wait-progress').value")) > first:
                break
        else:
            raise AssertionError("the progress bar did not move")
        fits(wait, "waiting", seen)
        wait.close()

        page.wait_for_selector("text=Submit ratings")
        fits(page, "rate (4 responses)", seen)
        sliders = page.locator('input[type="range"][name^="score_"]')
        for i in range(sliders.count()):
            sliders.nth(i).fill(str(20 + 20 * i))
        page.click("text=Submit ratings")
        page.wait_for_selector("#prompt")
        fits(page, "continue", seen)
        page.fill("#prompt", "Something shorter, please.")
        page.click("button:has-text('Send')")
        page.wait_for_selector("text=Submit ratings")
        sliders = page.locator('input[type="range"][name^="score_"]')
        for i in range(sliders.count()):  # a rating counts only once its slider was moved
            sliders.nth(i).fill("55")
        page.click("text=Submit ratings")
        page.wait_for_selector("text=Finish conversation")
        page.click("text=Finish conversation")
        page.wait_for_selector("text=Submit feedback")
        fits(page, "feedback", seen)
        page.check('input[name="performance__safety__na"]')
        page.fill("#open_feedback", "short")
        page.click("text=Submit feedback")
        page.wait_for_selector("#error-summary")
        fits(page, "feedback (errors)", seen)
        page.fill("#open_feedback", "Helpful, but the second answer was vague.")
        page.click("text=Submit feedback")
        page.wait_for_selector("#completion-code")
        fits(page, "complete", seen)
        assert page.locator("code.resume").count() == 0 and "Need a break?" not in page.content()
        token = next(c["value"] for c in context.cookies() if c["name"] == "pluralis_p")
        context.close()

        # pages a participant may also meet: the resume question, an error page, the screened-out page
        phone = chromium.new_context(viewport={"width": 390, "height": 800}, is_mobile=True)
        page = phone.new_page()
        page.goto(f"{server.url}/resume/{token}")
        fits(page, "resume", seen)
        page.goto(f"{server.url}/resume/not-a-token")
        fits(page, "error", seen)
        screened_cfg = cfg.model_copy(
            update={
                "quotas": QuotasConfig(
                    kind="cells",
                    over_quota="screen_out",
                    cells=[QuotaCell(name="x", match={"gender": "Female"}, target=0)],
                )
            }
        )
        s = ProtocolSession(screened_cfg, seed=3, quota_gate=lambda cell: cell is None)
        s.consent()
        s.submit_survey(example_survey_answers())
        assert s.step.value == "screened_out"
        screened_token, fresh = app.state.collect.repo.create_session()
        s.state.user_id = fresh.state.user_id
        s.state.revision = fresh.state.revision + 1
        app.state.collect.repo.save(s, Snapshot.of(fresh.state))
        phone.add_cookies([{"name": "pluralis_p", "value": screened_token, "url": server.url}])
        page.goto(server.url + "/study")
        page.wait_for_selector("text=enough participants")
        assert page.locator("code.resume").count() == 0
        fits(page, "screened out", seen)
        phone.close()
    assert len(seen) == 17, seen


# --- the live "whose preferences?" dashboard ------------------------------------------------------------

ROWS = (
    "sel => Array.from(document.querySelectorAll(sel)).map(tr => Array.from(tr.cells).map(c => c.textContent.trim()))"
)


def table(page, selector: str) -> list[list[str]]:
    return page.evaluate(f"({ROWS})({selector!r})")


def images_loaded(page) -> dict[str, bool]:
    for _ in range(120):
        state = page.evaluate("Array.from(document.images).map(i => [i.id, i.complete, i.naturalWidth])")
        if all(done for _, done, _ in state):
            return {i: w > 0 for i, _, w in state}
        page.wait_for_timeout(250)
    raise AssertionError(f"plots still loading: {state}")


def test_the_live_dashboard_renders_its_plots_and_its_numbers_are_the_apis(chromium, tmp_path, double_server):
    from pluralis.collect.config import QuotasConfig as Quotas
    from pluralis.data.synthetic import generate_study

    study = generate_study(n_participants=60, seed=11, models=["alpha", "beta", "gamma", "delta"], with_metadata=False)
    store = Store.open(tmp_path / "s.sqlite")
    store.import_study(study)
    models = [
        {"name": n, "endpoint": double_server, "max_retries": 0} for n in ("echo-a", "echo-b", "echo-c", "http500")
    ]
    cfg = study_config(
        models,
        sampling={"mode": "all"},
        admin={"min_group_size": 8, "bootstrap_rounds": 100, "group_fields": ["gender", "age"]},
    ).model_copy(update={"quotas": Quotas(kind="census", country="US")})
    app = create_app(cfg, store, admin_token=ADMIN)
    app.state.collect.dashboard.min_interval = 0  # recompute as soon as a conversation is finished
    auth = {"Authorization": "Bearer " + ADMIN}
    with ThreadServer(app) as server:
        context = chromium.new_context(viewport={"width": 1280, "height": 1000})
        page = context.new_page()
        page.set_default_timeout(60_000)
        page.goto(server.url + "/admin")
        page.fill("#token", ADMIN)
        page.click("text=Sign in")
        page.wait_for_selector("#ranking-table")
        loaded = images_loaded(page)
        assert loaded == {
            "plot-ranking": True,
            "plot-groups-gender": True,
            "plot-groups-age": True,
            "plot-contrasts-gender": True,
            "plot-contrasts-age": True,
            "plot-representativeness": True,
            "plot-raked": True,
            "plot-quota": True,
        }
        api = httpx.get(server.url + "/admin/api/rankings", headers=auth, timeout=60).json()
        rows = table(page, "#ranking-table tbody tr")
        assert [r[:3] for r in rows] == [[str(a["rank"]), a["model"], f"{a['score']:.4f}"] for a in api["overall"]]
        assert [r[3:5] for r in rows] == [
            [f"{a['score_lo']:.4f}–{a['score_hi']:.4f}", f"{a['rank_lo']}–{a['rank_hi']}"] for a in api["overall"]
        ]
        assert [r[6] for r in rows] == [str(a["n"]) for a in api["overall"]]
        for field, groups in api["groups"].items():
            for value, g in groups.items():
                sel = f'table.group-table[data-field="{field}"][data-group="{value}"] tbody tr'
                got = table(page, sel)
                if g["too_few"]:
                    assert got == [[f"Too few: {g['reason']}"]]
                else:
                    assert [r[:3] for r in got] == [
                        [str(x["rank"]), x["model"], f"{x['rank_lo']}–{x['rank_hi']}"] for x in g["ranking"]
                    ]
        assert any(g["too_few"] for g in api["groups"]["age"].values())  # 65+ has too few people here
        for field, con in api["contrasts"].items():  # group against group: the table is the API's
            got = table(page, f'table.contrast-table[data-field="{field}"] tbody tr')
            assert [r[:3] for r in got] == [
                [f"{c['group']} ({c['n_group']})", f"{c['other']} ({c['n_other']})", c["model"]]
                for c in con["contrasts"][:10]
            ]
            assert [r[3].split()[0] for r in got] == [f"{c['difference']:+.4f}" for c in con["contrasts"][:10]]
        rep = httpx.get(server.url + "/admin/api/representativeness", headers=auth, timeout=60).json()
        raked = {r[0]: r for r in table(page, "#raked-table tbody tr")}
        assert {m: (v[1], v[3]) for m, v in raked.items()} == {
            m: (str(rep["raw"][m]["rank"]), str(rep["raked"][m]["rank"])) for m in rep["raw"]
        }
        before = api["battles"]

        # ratings arrive: a participant finishes a conversation (one of the models fails every call)
        async def script(p: HttpParticipant):
            await p.join()
            await p.consent_and_survey()
            await p.opening("unguided", "What is a good name for a boat?")
            await p.rate()
            await p.follow_up("Something shorter?")
            await p.rate()
            await p.finish()

        in_thread(participant_run, server.url, cfg, script)
        page.reload()
        page.wait_for_selector("#ranking-table")
        loaded = images_loaded(page)
        assert loaded["plot-failures"] and all(loaded.values())
        api = httpx.get(server.url + "/admin/api/rankings", headers=auth, timeout=60).json()
        assert api["battles"] == before + 3  # three models answered the opening turn: three more pairs
        assert {"echo-a", "echo-b", "echo-c"} <= {r[1] for r in table(page, "#ranking-table tbody tr")}
        fails = httpx.get(server.url + "/admin/api/failures", headers=auth, timeout=60).json()
        shown = {r[0]: r[1:] for r in table(page, "#failure-table tbody tr")}
        assert shown == {
            m: [str(t["calls"]), str(t["failures"]), f"{100 * t['rate']:.0f}%"] for m, t in fails["totals"].items()
        }
        assert shown["http500"][2] == "100%" and shown["echo-a"][2] == "0%"
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
        context.close()
