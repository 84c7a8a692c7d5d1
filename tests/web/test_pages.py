"""The participant pages as HTML: every control has an accessible name, answers survive a page that comes back
with an error, and bodies the app does not accept get a clear 4xx (never a 500). Real models (`pluralis llm
serve` with the tiny transformers model) answer the turns."""

from __future__ import annotations

from html.parser import HTMLParser
from urllib.parse import urlencode

import httpx
import pytest

from pluralis.collect.protocol import example_survey_answers
from pluralis.store import Store
from pluralis.web.app import create_app
from pluralis.web.common import MAX_FORM_BYTES
from tests.collect_helpers import (
    FORM_HEADERS,
    SECTION_RE,
    HttpParticipant,
    ThreadServer,
    csrf_of,
    participant_run,
    study_config,
    survey_form,
)

ADMIN = "admin-token-for-tests-123"
NAMELESS_TYPES = {"hidden", "submit", "button", "reset"}


class Page(HTMLParser):
    """Form controls of a page with what names them (label for=, wrapping label, aria-label(ledby))."""

    def __init__(self, html: str):
        super().__init__()
        self.ids: set[str] = set()
        self.label_for: set[str] = set()
        self.controls: list[dict] = []
        self._label_depth = 0
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        a = {k: (v if v is not None else "") for k, v in attrs}
        if "id" in a:
            self.ids.add(a["id"])
        if tag == "label":
            self._label_depth += 1
            if a.get("for"):
                self.label_for.add(a["for"])
        if tag in ("input", "textarea", "select") and a.get("type", "") not in NAMELESS_TYPES:
            self.controls.append({"tag": tag, "in_label": self._label_depth > 0, **a})

    def handle_endtag(self, tag):
        if tag == "label":
            self._label_depth -= 1

    def unnamed(self) -> list[dict]:
        out = []
        for c in self.controls:
            named = (
                c["in_label"]
                or c.get("aria-label", "").strip()
                or c.get("id") in self.label_for
                or (c.get("aria-labelledby") and all(i in self.ids for i in c["aria-labelledby"].split()))
            )
            if not named:
                out.append(c)
        return out

    def control(self, name: str, value: str | None = None) -> dict:
        found = [c for c in self.controls if c.get("name") == name and (value is None or c.get("value") == value)]
        assert len(found) == 1, (name, value, found)
        return found[0]


def check_page(html: str, seen: dict[str, int], key: str) -> Page:
    page = Page(html)
    assert page.unnamed() == [], f"{key}: controls without an accessible name: {page.unnamed()}"
    for c in page.controls:  # hidden-number sliders: the page never prints a slider's number
        if c.get("type") == "range":
            assert "aria-valuetext" not in c and "aria-valuenow" not in c, c
    seen[key] = seen.get(key, 0) + len(page.controls)
    return page


@pytest.fixture()
def served(tmp_path, tiny_models):
    cfg = study_config(tiny_models[:2], quotas={"unguided": 1}, sampling={"mode": "all"})
    store = Store.open(tmp_path / "s.sqlite")
    return cfg, store, ThreadServer(create_app(cfg, store, admin_token=ADMIN))


def test_every_control_is_labelled_and_answers_survive_errors(served):
    cfg, store, server = served
    seen: dict[str, int] = {}
    with server:

        async def script(p: HttpParticipant):
            await p.join()
            check_page(p.html, seen, "consent")
            await p.post("/study/consent", {"consent": "yes", "consent_age": "yes"})
            await p.get()
            answers = example_survey_answers()
            while (m := SECTION_RE.search(p.html)) is not None:
                section = m.group(1)
                check_page(p.html, seen, section)
                if section == "lm_usage":  # frequency missing: the page comes back with the boxes still ticked
                    bad = [
                        ("section", section),
                        ("lm_usecases", "games"),
                        ("lm_usecases", "research"),
                        ("lm_usecases", "other"),
                        ("lm_usecases__other_text", "Planning my garden"),
                    ]
                    r = await p.post("/study/survey", bad, expect=422)
                    again = check_page(r.text, seen, "lm_usage (error)")
                    assert 'id="err-lm_frequency_use"' in r.text
                    for key in ("games", "research", "other"):
                        assert "checked" in again.control("lm_usecases", key)
                    assert "checked" not in again.control("lm_usecases", "medical_guidance")
                    assert again.control("lm_usecases__other_text")["value"] == "Planning my garden"
                    p.html = r.text
                if section == "preferences":  # the constitution is missing: sliders keep their positions
                    moved = {
                        "values": 13,
                        "creativity": 87,
                        "fluency": 0,
                        "factuality": 100,
                        "diversity": 42,
                        "safety": 66,
                        "helpfulness": 91,
                        "personalisation": 5,
                    }
                    bad = [
                        ("section", section),
                        *((f"stated_prefs__{k}", v) for k, v in moved.items()),
                        ("stated_prefs__other_text", "Humour"),
                        ("stated_prefs__other", 71),
                        ("self_description", "I value honesty and my family."),
                    ]
                    r = await p.post("/study/survey", bad, expect=422)
                    again = check_page(r.text, seen, "preferences (error)")
                    assert 'id="err-system_string"' in r.text
                    for k, v in moved.items():
                        assert again.control(f"stated_prefs__{k}")["value"] == str(v), k
                    assert again.control("stated_prefs__other")["value"] == "71"
                    assert again.control("stated_prefs__other_text")["value"] == "Humour"
                    assert "I value honesty and my family." in r.text
                    p.html = r.text
                await p.post("/study/survey", survey_form(cfg, section, answers))
                await p.get()
            check_page(p.html, seen, "start")
            await p.opening("unguided", "What should I cook tonight?")
            check_page(p.html, seen, "rate")
            await p.rate()
            check_page(p.html, seen, "continue")
            await p.follow_up("Something vegetarian, please.")
            await p.rate()
            await p.post("/study/finish", {})
            await p.get()
            check_page(p.html, seen, "feedback")
            bad = {
                "performance__values": 83,
                "performance__safety": 50,
                "performance__safety__na": "on",
                "choice__fluency": 7,
                "open_feedback": "short",
            }
            r = await p.post("/study/feedback", bad, expect=422)
            again = check_page(r.text, seen, "feedback (error)")
            assert 'id="err-open_feedback"' in r.text
            assert again.control("performance__values")["value"] == "83"
            assert again.control("choice__fluency")["value"] == "7"
            assert "checked" in again.control("performance__safety__na")
            assert "checked" not in again.control("performance__values__na")
            assert "(not applicable): …was safe" in r.text  # the N/A box says which statement it is for
            p.html = r.text
            await p.post("/study/feedback", {**bad, "open_feedback": "Tasty ideas, but too short on detail."})
            await p.get()
            assert "completion code" in p.html

        participant_run(server.url, cfg, script)
    assert seen["consent"] == 2 and seen["start"] == 2 and seen["rate"] == 4 and seen["feedback"] == 29
    # rate: each slider comes with its no-JS "I have set this rating" box (score_{id}__touched)
    study = store.export_study()
    conv = study.conversations[0]
    assert conv.performance_attributes.values == 83 and conv.performance_attributes.safety is None
    assert study.survey[0].lm_usecases.research is True  # the second submission was stored


def test_bodies_the_app_does_not_accept_are_4xx_not_500(served):
    cfg, store, server = served
    with server, httpx.Client(base_url=server.url) as c:
        csrf = csrf_of(c.get("/").text)
        assert c.post("/start", json={"csrf": csrf}).status_code == 415
        # multipart forms work like urlencoded ones (and a file upload is refused, not stored)
        r = c.post("/start", files={"csrf": (None, csrf)})
        assert r.status_code == 303, r.text[:500]
        page = c.get("/study").text
        bad = c.post(
            "/study/consent",
            data={"csrf": csrf_of(page), "consent": "yes", "consent_age": "yes"},
            files={"upload": ("a.txt", b"hello", "text/plain")},
        )
        assert bad.status_code == 400 and "Consent" in c.get("/study").text
        ok = c.post(
            "/study/consent",
            files={"csrf": (None, csrf_of(page)), "consent": (None, "yes"), "consent_age": (None, "yes")},
        )
        assert ok.status_code == 303
        page = c.get("/study").text
        assert "Survey page 1" in page

        def chunks():  # no Content-Length: the size limit must still hold
            for _ in range(MAX_FORM_BYTES // 4096 + 2):
                yield b"x" * 4096

        r = c.post("/study/survey", content=chunks(), headers=FORM_HEADERS)
        assert r.status_code == 413
        many = urlencode([("f", "1")] * 2500 + [("csrf", csrf_of(page))])
        assert c.post("/study/survey", content=many, headers=FORM_HEADERS).status_code == 400
        assert "Survey page 1" in c.get("/study").text  # nothing changed
