"""Shared fixtures: small synthetic studies (seeded, so every run sees the same data)."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

# real model servers (tiny transformers model over `pluralis llm serve`, llama.cpp with SmolLM2, failure double)
pytest_plugins = ["tests.model_servers"]


@pytest.fixture(scope="session")
def small_study():
    from pluralis.data.synthetic import generate_study

    return generate_study(n_participants=40, seed=11)


@pytest.fixture()
def prism_folder(tmp_path, small_study):
    from pluralis.data import write_prism

    folder = tmp_path / "prism"
    write_prism(small_study, folder)
    return folder


@pytest.fixture()
def postgres_url():
    """A fresh, empty PostgreSQL database (dropped afterwards).

    Needs ``PLURALIS_TEST_POSTGRES_URL`` (``scripts/start_postgres.sh`` prints it). Skipped when
    absent on a developer machine; in CI (``CI=true``) a missing server is a failure, not a skip.
    """
    import uuid

    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    base = os.environ.get("PLURALIS_TEST_POSTGRES_URL")
    if not base:
        if os.environ.get("CI") == "true":
            pytest.fail("PLURALIS_TEST_POSTGRES_URL is not set in CI")
        pytest.skip("no PostgreSQL server (set PLURALIS_TEST_POSTGRES_URL; see scripts/start_postgres.sh)")
    name = f"pluralis_t_{uuid.uuid4().hex[:10]}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(base).set(database=name).render_as_string(hide_password=False)
    try:
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
