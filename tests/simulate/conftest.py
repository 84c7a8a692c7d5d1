"""Fixtures for the persona tests: small panels and simulated studies (seeded). Model servers: tests/model_servers.py."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("MPLBACKEND", "Agg")


@pytest.fixture(scope="session")
def panel():
    from pluralis.simulate.generator import generate_personas

    return generate_personas({"US": 60, "UK": 60}, seed=3)


@pytest.fixture(scope="session")
def sim(panel):
    from pluralis.simulate.study import simulate_study

    return simulate_study(panel.subset(slice(0, 30)), seed=5, conversations_per_type=1)
