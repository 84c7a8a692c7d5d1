"""``pluralis demo --align dpo``: the DPO stage trains one LoRA adapter per group on the real SmolLM2 and
re-measures every adapter for every group (tiny settings: one step, one prompt, a few tokens)."""

from __future__ import annotations

import numpy as np

from pluralis.pipelines import demo_stages as st
from pluralis.pipelines.demo import DemoConfig, run_demo


def test_dpo_stage_trains_an_adapter_per_group_and_measures_every_group(tmp_path, smollm2_gguf):
    import pytest

    pytest.importorskip("trl", reason="the [align] extra is not installed", exc_type=ImportError)
    res = run_demo(
        DemoConfig(out=tmp_path / "demo", n_us=60, n_uk=60, bootstrap=10, draws=10, models="simulated", stages=())
    )
    frames, survey = res.analyses["frames"], res.analyses["survey"]  # the survey carries persona_lean
    assert "persona_lean" in survey.columns
    out = st.dpo_stage(frames, survey, tmp_path / "align", steps=1, n_prompts=1, max_tokens=4, n_boot=10)
    table = out.evaluation.table
    models = sorted(set(table["model"]))
    groups = sorted(str(g) for g in survey["persona_lean"].dropna().unique())
    assert len(models) >= 2 and all(m.startswith("dpo (") for m in models)  # one adapter per group
    for m in models:
        assert (tmp_path / "align" / f"dpo-{m[len('dpo (') : -1]}").exists()
    # every adapter is measured by every group's judge: a full trained-on x evaluated-by matrix
    matrix = out.evaluation.matrix("reward")
    assert sorted(matrix.index) == models and set(matrix.columns) <= set(groups) and matrix.shape[1] >= 2
    assert np.isfinite(matrix.to_numpy(dtype=float)).all()
