"""Acceptance: ``pluralis demo --models simulated`` (the canned-sentence responders, for speed; the default
real-model run is tests/pipelines/test_demo_real.py) runs end-to-end on the embedded defaults otherwise
(< 5 minutes on 2 cores), every stage included, and its report opens in headless Chromium (screenshot). Playwright drives the system Chromium; it never downloads one."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def _need(condition: bool, reason: str) -> None:
    if not condition:
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    exe = Path(sys.executable).parent / "pluralis"
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-c", "from pluralis.cli import app; app()"]
    env = {k: v for k, v in os.environ.items() if k not in ("PLURALIS_LLM_BASE_URL",)}  # offline: preference model
    env["MPLBACKEND"] = "Agg"
    start = time.monotonic()
    proc = subprocess.run(
        [*cmd, "demo", "--models", "simulated", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        cwd=str(out),
    )
    took = time.monotonic() - start
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return out, proc.stdout + proc.stderr, took


def test_demo_finishes_and_prints_report_path(demo_run):
    out, output, took = demo_run  # the run's own 300 s timeout bounds it; its time is only printed
    print(f"pluralis demo --models simulated took {took:.0f} s")
    report = out / "report.html"
    assert report.exists() and report.stat().st_size > 100_000
    assert str(report) in output.replace("\n", "")
    assert (out / "study.sqlite").exists()
    from pluralis.store import Store

    with Store.open(out / "study.sqlite", migrate=False) as store:
        counts = store.counts()
    assert counts["participants"] == 600
    for bar in (
        "generating personas",
        "simulating participants",
        "storing in SQLite",
        "analysing",
        "group contrasts",
        "topics",
        "whose feedback",
        "alignment",
        "writing report",
    ):
        assert bar in output, bar
    assert "note:" not in output, output[-2000:]  # every analysis ran


def test_report_opens_in_headless_chromium(demo_run, tmp_path):
    out, _, _ = demo_run
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _need(False, "playwright is not installed (pip install playwright; never `playwright install`)")
    executable = os.environ.get("PLAYWRIGHT_CHROMIUM_EXECUTABLE", "/usr/bin/chromium")
    _need(Path(executable).exists(), f"no Chromium at {executable} (apt-get install chromium)")
    shot = tmp_path / "report.png"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.goto((out / "report.html").resolve().as_uri())
            page.wait_for_load_state("load")
            assert page.title() == "Pluralis demo: a simulated PRISM-protocol study"
            assert "SIMULATED STUDY" in page.inner_text(".banner")
            images = page.evaluate("Array.from(document.images).map(i => [i.complete, i.naturalWidth])")
            assert len(images) >= 10 and all(ok and w > 100 for ok, w in images)
            headings = page.eval_on_selector_all("section h2", "els => els.map(e => e.textContent)")
            for h in (
                "Rankings by group",
                "Recovering the simulated truth",
                "Welfare of populations",
                "Representativeness",
            ):
                assert h in headings
            key = page.inner_text(".highlights")
            assert "Key results" in key and "Overall ranking" in key and "Kendall's tau" in key
            assert page.evaluate("Array.from(document.images).every(i => i.alt && i.alt.length > 10)")
            # readable at 1280 px: no table needs sideways scrolling, the page itself does not overflow
            wide = page.evaluate(
                "Array.from(document.querySelectorAll('.tblwrap'))"
                ".filter(e => e.scrollWidth > e.clientWidth + 1).length"
            )
            assert wide == 0
            assert page.evaluate("document.documentElement.scrollWidth") <= 1280
            page.screenshot(path=str(shot), full_page=False)
            page.screenshot(path=str(tmp_path / "full.png"), full_page=True)
        finally:
            browser.close()
    assert shot.stat().st_size > 20_000
    from PIL import Image

    with Image.open(shot) as im:
        assert im.size == (1280, 900)
        colours = im.convert("RGB").resize((64, 45)).getcolors(64 * 45)
        assert colours is not None and len(colours) > 20  # a rendered page, not a blank one
    with Image.open(tmp_path / "full.png") as im:
        assert im.size[0] == 1280 and im.size[1] > 8000  # every section rendered, top to bottom
