"""Arbitrary extra columns survive Arena import, the store, every frame and the Arena export."""

from __future__ import annotations

import string
import tempfile
from pathlib import Path

import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pluralis.data import load_study, save_study
from pluralis.data.io.arena import ARENA_COLUMNS
from pluralis.data.model import Comparison
from pluralis.data.study import Study

RESERVED = set(ARENA_COLUMNS) | set(Comparison.model_fields) | {"user_id"}
names = st.text(string.ascii_lowercase + "_", min_size=1, max_size=12).filter(
    lambda s: s not in RESERVED and not s.startswith("_")
)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**9), 10**9),
    st.floats(allow_nan=False, allow_infinity=False, width=32),
    st.text(string.printable, max_size=15),
)


@st.composite
def studies(draw):
    extra_names = draw(st.lists(names, unique=True, max_size=4))
    n = draw(st.integers(1, 6))
    out = []
    for i in range(n):
        extras = {k: draw(scalars) for k in extra_names}
        out.append(
            Comparison(
                comparison_id=f"c{i}",
                source="arena",
                models=["a", "b"],
                winner=draw(st.sampled_from([0, 1, None])),
                annotator_id=draw(st.sampled_from(["u1", "u2", None])),
                language=draw(st.sampled_from(["English", None])),
                **extras,
            )
        )
    for c in out:
        if c.winner is None:
            c.tie = True
    return Study(comparisons=out)


def _records(study: Study) -> list[dict]:
    return [c.model_dump(mode="json") for c in study.comparisons]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(studies())
def test_extra_columns_round_trip_through_arena_and_store(study):
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        save_study(study, folder / "b.jsonl", format="arena")
        back = load_study(folder / "b.jsonl", format="arena")
        assert _records(back) == _records(study)
        save_study(back, folder / "s.sqlite", format="store")
        stored = load_study(folder / "s.sqlite")
        assert _records(stored) == _records(study)
        frames = stored.frames().comparisons
        for c in study.comparisons:
            row = frames.set_index("comparison_id").loc[c.comparison_id]
            for k, v in (c.model_extra or {}).items():
                assert (pd.isna(row[k]) and v is None) or row[k] == v


def test_participant_fields_become_a_survey_frame_and_battle_level_fields_do_not():
    cs = [
        Comparison(
            comparison_id=str(i),
            source="x",
            models=["a", "b"],
            winner=0,
            annotator_id=f"u{i % 2}",
            gender=["F", "M"][i % 2],
            category=f"cat{i}",
        )
        for i in range(4)
    ]
    survey = Study(comparisons=cs).frames().survey
    assert survey.values.tolist() == [["u0", "F"], ["u1", "M"]]
