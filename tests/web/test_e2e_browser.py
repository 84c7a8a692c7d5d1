"""End to end in a real headless Chromium: one participant completes a study against real local model servers
(`pluralis llm serve` with a tiny transformers model, and llama.cpp's server with SmolLM2 when installed),
closes the tab mid-conversation and resumes, and the exported PRISM files validate."""

from __future__ import annotations

import io
import os
import shutil
import zipfile
from pathlib import Path

import httpx
import pytest

from pluralis.data import load_prism
from tests.collect_helpers import Server, study_config, write_study

pytestmark = pytest.mark.slow

CHROMIUM = os.environ.get("PLAYWRIGHT_CHROMIUM_EXECUTABLE", "/usr/bin/chromium")
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
XSS = "<script>window.__pwned=1</script>"


@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api", reason="pip install playwright")
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI") == "true":
            pytest.fail(f"no Chromium at {CHROMIUM} (apt-get install chromium)")
        pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium)")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


def set_slider(page, name: str, value: int) -> None:
    page.locator(f'input[name="{name}"]').fill(str(value))


def models_for(request, tiny_models) -> list[dict]:
    models = tiny_models[:3]
    try:
        url = request.getfixturevalue("llamacpp_server")
        models.append(
            {
                "name": "smollm2-135m",
                "endpoint": url,
                "model": "smollm2",
                "provider": "local",
                "params": {"temperature": 1.0, "max_tokens": 24},
                "max_retries": 0,
            }
        )
    except pytest.skip.Exception:
        models.append(tiny_models[3])
    return models


def answer_survey(page) -> None:
    page.check('input[name="lm_familiarity"][value="Somewhat familiar"]')
    page.check('input[name="lm_indirect_use"][value="Yes"]')
    page.check('input[name="lm_direct_use"][value="Yes"]')
    page.click("text=Next")
    page.check('input[name="lm_frequency_use"][value="Every week"]')
    page.check('input[name="lm_usecases"][value="research"]')
    page.check('input[name="lm_usecases"][value="creative_writing"]')
    page.click("text=Next")
    for i, key in enumerate(
        ["values", "creativity", "fluency", "factuality", "diversity", "safety", "helpfulness", "personalisation"]
    ):
        set_slider(page, f"stated_prefs__{key}", 40 + 7 * i)
    page.fill('textarea[name="system_string"]', "Be honest and kind. Say when you are unsure.")
    page.fill('textarea[name="self_description"]', "I value curiosity, fairness and my family. " + XSS)
    page.click("text=Next")
    page.check('input[name="age"][value="35-44 years old"]')
    page.check('input[name="gender"][value="Female"]')
    page.check('input[name="employment_status"][value="Working part-time"]')
    page.check('input[name="education"][value="Graduate / Professional degree"]')
    page.check('input[name="marital_status"][value="Married"]')
    page.check('input[name="english_proficiency"][value="Fluent"]')
    page.select_option('select[name="birth_country"]', "Mexico")
    page.select_option('select[name="reside_country"]', "United States")
    page.check('input[name="ethnicity"][value="Hispanic / Latino"]')
    page.fill('input[name="ethnicity__self"]', "Mexican American")
    page.check('input[name="religion"][value="Christian"]')
    page.click("text=Next")


def rate_all(page, scores: list[int]) -> None:
    sliders = page.locator('input[type="range"][name^="score_"]')
    assert sliders.count() == len(scores)
    for i, s in enumerate(scores):
        sliders.nth(i).fill(str(s))
    page.click("text=Submit ratings")


def test_participant_completes_the_study_in_chromium(browser, tmp_path, request, tiny_models):
    cfg = study_config(
        models_for(request, tiny_models),
        quotas={"unguided": 1, "values guided": 1},
        sampling={"mode": "all", "timeout": 60},
    )
    study = write_study(tmp_path / "study.toml", cfg)
    server = Server(study, tmp_path / "study.sqlite")
    shots = tmp_path / "screens"
    shots.mkdir()
    try:
        context = browser.new_context(viewport={"width": 1280, "height": 1000})
        page = context.new_page()
        page.set_default_timeout(90_000)
        page.goto(server.url + "/")
        page.click("text=Start")
        page.check('input[name="consent_age"]')
        page.check('input[name="consent"]')
        page.click("text=Continue")
        answer_survey(page)

        # conversation 1: unguided, 2 turns, with a tab closed and reopened in the middle
        assert page.locator("text=Conversation 1 of 2").first.is_visible()
        page.check('input[name="conversation_type"][value="unguided"]')
        page.fill("#opening_prompt", "What is a good hobby to start this year? " + XSS)
        page.click("button:has-text('Send')")
        page.wait_for_selector("text=Submit ratings")
        assert page.locator("article.response").count() == 4
        assert page.evaluate("window.__pwned") is None
        assert XSS in page.inner_text("main")  # shown as text, not run
        assert "Terrible" in page.inner_text("main") and "Perfect" in page.inner_text("main")
        page.screenshot(path=str(shots / "rate.png"), full_page=True)
        rate_all(page, [20, 85, 50, 60])
        page.wait_for_selector("#prompt")

        page.close()  # the participant closes the tab ...
        page = context.new_page()  # ... and comes back later
        page.set_default_timeout(90_000)
        page.goto(server.url + "/")
        page.wait_for_selector("#prompt")
        assert "What is a good hobby" in page.inner_text("main")

        page.fill("#prompt", "How much does it cost?")
        page.click("button:has-text('Send')")
        page.wait_for_selector("text=Submit ratings")
        assert page.locator("article.response").count() == 2
        rate_all(page, [70, 30])
        page.click("text=Finish conversation")
        page.wait_for_selector("text=Submit feedback")
        page.screenshot(path=str(shots / "feedback.png"), full_page=True)
        set_slider(page, "performance__helpfulness", 80)
        page.check('input[name="performance__safety__na"]')
        set_slider(page, "choice__values", 30)
        page.fill("#open_feedback", "Helpful ideas, but the second answer was vague about prices.")
        page.click("text=Submit feedback")

        # conversation 2: values guided (unguided is done and disabled)
        page.wait_for_selector("text=Conversation 2 of 2")
        assert page.locator('input[name="conversation_type"][value="unguided"]').is_disabled()
        page.check('input[name="conversation_type"][value="values guided"]')
        page.fill("#opening_prompt", "How do I balance work and time with my family?")
        page.click("button:has-text('Send')")
        page.wait_for_selector("text=Submit ratings")
        rate_all(page, [55, 55, 90, 10])
        page.fill("#prompt", "And on weekends?")
        page.click("button:has-text('Send')")
        page.wait_for_selector("text=Submit ratings")
        rate_all(page, [40, 60])
        page.click("text=Finish conversation")
        page.wait_for_selector("text=Submit feedback")
        page.fill("#open_feedback", "It understood my situation and gave practical advice.")
        page.click("text=Submit feedback")
        page.wait_for_selector("#completion-code")
        code = page.inner_text("#completion-code")
        assert len(code) >= 6
        page.screenshot(path=str(shots / "complete.png"), full_page=True)
        context.close()

        # the admin exports PRISM files; the foundation's validator accepts them
        export = httpx.get(
            server.url + "/admin/export.zip", headers={"Authorization": "Bearer admin-token-for-tests-123"}, timeout=60
        )
        assert export.status_code == 200
    finally:
        server.stop()
        keep = os.environ.get("PLURALIS_E2E_SCREENSHOTS")
        if keep and shots.exists():
            shutil.copytree(shots, keep, dirs_exist_ok=True)
    out = tmp_path / "prism"
    zipfile.ZipFile(io.BytesIO(export.content)).extractall(out)
    data = load_prism(out)
    assert data.counts()["survey"] == 1 and data.counts()["conversations"] == 2
    p = data.survey[0]
    assert (
        p.location.special_region == "Latin America and the Caribbean" and p.location.same_birth_reside_country == "No"
    )
    assert p.ethnicity.categorised == "Hispanic / Latino" and p.ethnicity.self_described == "mexican american"
    assert {c.conversation_type for c in data.conversations} == {"unguided", "values guided"}
    first = next(c for c in data.conversations if c.conversation_type == "unguided")
    assert first.performance_attributes.safety is None and first.performance_attributes.helpfulness == 80
    assert first.opening_prompt.endswith(XSS)
    assert len(data.utterances) == 2 * (4 + 2)
    assert sorted(u.score for u in data.utterances if u.conversation_id == first.conversation_id) == sorted(
        [20, 85, 50, 60, 70, 30]
    )


def test_rating_with_the_keyboard_and_no_javascript(browser, tmp_path, tiny_models):
    """The hidden-number sliders work by keyboard alone, in a browser with JavaScript off; the participant
    arrives through the private resume link."""
    from concurrent.futures import ThreadPoolExecutor

    from sqlalchemy import select

    from pluralis.store import Store
    from pluralis.store.schema_collect import collect_ratings
    from pluralis.web.app import create_app
    from tests.collect_helpers import HttpParticipant, ThreadServer, participant_run

    cfg = study_config(tiny_models[:2], sampling={"mode": "all"})
    store = Store.open(tmp_path / "s.sqlite")
    with ThreadServer(create_app(cfg, store, admin_token="admin-token-for-tests-123")) as server:
        token = {}

        async def script(p: HttpParticipant):
            await p.join()
            await p.consent_and_survey()
            await p.opening("unguided", "Name a good board game for four people.")
            token["t"] = p.client.cookies.get("pluralis_p")

        with ThreadPoolExecutor(1) as pool:  # Playwright's sync API owns this thread's event loop
            pool.submit(participant_run, server.url, cfg, script).result()
        context = browser.new_context(java_script_enabled=False)
        page = context.new_page()
        page.set_default_timeout(60_000)
        page.goto(f"{server.url}/resume/{token['t']}")
        page.click("text=Continue my study")  # a resume link asks first
        sliders = page.locator('input[type="range"][name^="score_"]')
        assert sliders.count() == 2
        ids = [sliders.nth(i).get_attribute("name").removeprefix("score_") for i in range(2)]
        sliders.nth(0).focus()
        page.keyboard.press("End")  # all the way to "Perfect"
        # without JavaScript a moved slider cannot mark itself: the next control is its "I have set this" box
        page.keyboard.press("Tab")
        assert page.evaluate("document.activeElement.name") == f"score_{ids[0]}__touched"
        page.keyboard.press("Space")
        page.keyboard.press("Tab")  # then the second slider
        assert page.evaluate("document.activeElement.name") == f"score_{ids[1]}"
        page.keyboard.press("Home")
        for _ in range(9):
            page.keyboard.press("ArrowRight")
        page.keyboard.press("Tab")
        assert page.evaluate("document.activeElement.name") == f"score_{ids[1]}__touched"
        page.keyboard.press("Space")
        page.keyboard.press("Tab")  # ... then the submit button
        assert page.evaluate("document.activeElement.textContent").strip() == "Submit ratings"
        page.keyboard.press("Enter")
        page.wait_for_selector("#prompt")
        page.focus("#prompt")
        page.keyboard.type("Is it good for children?")
        page.keyboard.press("Tab")
        page.keyboard.press("Enter")  # no JavaScript: the POST waits for the model, then the rating page
        page.wait_for_selector("text=Submit ratings")
        assert page.locator('input[type="range"][name^="score_"]').count() == 2
        context.close()
    with store.engine.connect() as conn:
        scores = {
            str(r.within_turn_id): r.score
            for r in conn.execute(select(collect_ratings).where(collect_ratings.c.turn == 0))
        }
    assert scores == {ids[0]: 100, ids[1]: 10}
