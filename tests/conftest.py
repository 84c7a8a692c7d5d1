"""Shared fixtures: small synthetic studies (seeded, so every run sees the same data)."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


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
