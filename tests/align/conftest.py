"""Fixtures for the alignment tests: planted group preferences and the real SmolLM2 (dequantised once, cached)."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


@pytest.fixture(scope="session")
def planted():
    """Group A prefers answers ending with a question, B the same answers ending with a statement (no noise)."""
    from pluralis.align.pairs import split_participants
    from pluralis.align.planted import planted_question_pairs

    pairs = planted_question_pairs(24, 4, noise=0.0, seed=0)
    split = split_participants(pairs, 0.5, strata="group", seed=0)
    return pairs, split


@pytest.fixture(scope="session")
def smollm2_base():
    """The float folder of SmolLM2-135M-Instruct (converted from the wheel's GGUF on first use)."""
    pytest.importorskip("trl", reason="the [align] extra is not installed", exc_type=ImportError)
    from pluralis.align.models import resolve_base_model

    try:
        return resolve_base_model("smollm2")
    except Exception as e:  # the wheel is missing: CI must fail, a developer machine skips
        if os.environ.get("CI") == "true":
            pytest.fail(f"SmolLM2 unavailable: {e}")
        pytest.skip(f"SmolLM2 unavailable: {e}")


@pytest.fixture(scope="session")
def quiet_transformers():
    import transformers

    transformers.logging.set_verbosity_error()
