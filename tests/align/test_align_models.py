"""Aligners on the real SmolLM2-135M-Instruct (CPU, a few steps on tiny batches): DPO, GRPO, serving."""

from __future__ import annotations

import numpy as np
import pytest

pytestmark = pytest.mark.slow


def q_vs_s_margins(model, tok, prompts) -> np.ndarray:
    """log p(answer ending with a question) − log p(same answer ending with a statement), per prompt."""
    from pluralis.align.models import completion_logprobs
    from pluralis.align.planted import QUESTION_ENDINGS, STATEMENT_ENDINGS, TIPS

    q = completion_logprobs(model, tok, prompts, [f"{TIPS[1]} {QUESTION_ENDINGS[0]}"] * len(prompts))
    s = completion_logprobs(model, tok, prompts, [f"{TIPS[1]} {STATEMENT_ENDINGS[0]}"] * len(prompts))
    return np.array(q) - np.array(s)


@pytest.fixture(scope="module")
def dpo_a(planted, smollm2_base, quiet_transformers, tmp_path_factory):
    """DPO for two steps on group A's pairs; the base model's margins on held-out prompts, measured first."""
    from pluralis.align.aligners.dpo import DPOAligner
    from pluralis.align.models import load_model
    from pluralis.align.planted import heldout_prompts

    pairs, split = planted
    prompts = heldout_prompts()[:3]
    model, tok = load_model(smollm2_base)
    before = q_vs_s_margins(model, tok, prompts)
    del model
    train = pairs[(split == "train") & (pairs["group"] == "A")]
    aligner = DPOAligner(device="cpu", steps=2, batch_size=2, learning_rate=2e-3, max_length=64)
    out = aligner.fit(train, tmp_path_factory.mktemp("dpo") / "dpo-A", data_settings={"group": "group=A"})
    return out, prompts, before


def test_dpo_raises_the_groups_behaviour_on_heldout_prompts(dpo_a):
    """After two DPO steps on A's pairs (question endings preferred), the model prefers question endings on
    prompts it never saw — what A wants and B does not."""
    from pluralis.align.models import load_model

    out, prompts, before = dpo_a
    model, tok = load_model(out.model_path)
    after = q_vs_s_margins(model, tok, prompts)
    assert (after > before).all() and (after - before).mean() > 1.0, (before, after)
    m = out.manifest["metrics"]
    assert m["steps"] == 2 and m["tokens"] > 0 and m["tokens_per_s"] > 0 and m["peak_memory_mb"] > 100
    assert (out.path / "adapter" / "adapter_config.json").is_file()
    assert (out.path / "merged" / "config.json").is_file()
    assert out.manifest["options"]["lora_layers"] == "auto" and out.manifest["data"]["group"] == "group=A"


def test_aligned_models_are_served_like_any_model(dpo_a, planted, tmp_path):
    """`pluralis llm serve --model NAME=FOLDER` path (spec_for_path -> folder hook) for DPO and best-of-n."""
    from fastapi.testclient import TestClient

    from pluralis.align.aligners.best_of_n import BestOfNAligner
    from pluralis.llm.backend import folder_backend
    from pluralis.llm.server import create_app, spec_for_path

    out, prompts, _ = dpo_a
    pairs, split = planted
    bon = BestOfNAligner(device="cpu", n=2, max_tokens=8).fit(
        pairs[(split == "train") & (pairs["group"] == "A")], tmp_path / "bon-A"
    )
    backends = {}
    for name, folder in (("dpo-A", out.path), ("bon-A", bon.path)):
        b = folder_backend(spec_for_path(str(folder), name=name))
        b.load()
        backends[name] = b
    assert type(backends["bon-A"]).__name__ == "BestOfNBackend"
    client = TestClient(create_app(backends))
    assert sorted(m["id"] for m in client.get("/v1/models").json()["data"]) == ["bon-A", "dpo-A"]
    for name in backends:
        r = client.post("/v1/chat/completions", json={"model": name, "messages": prompts[0], "max_tokens": 8})
        assert r.status_code == 200, r.text
        assert r.json()["choices"][0]["message"]["content"].strip()
    # best-of-n returns the candidate its reward model scores highest
    got = backends["bon-A"].generate_batch([prompts[1]], seed=3)[0]
    assert got["text"] == got["candidates"][int(np.argmax(got["rewards"]))] and len(got["candidates"]) == 2


def test_grpo_runs_a_step_with_the_group_reward(planted, smollm2_base, quiet_transformers, tmp_path):
    from pluralis.align.base import AlignedModel
    from pluralis.align.registry import get_aligner

    pairs, split = planted
    train = pairs[(split == "train") & (pairs["group"] == "A")].head(4)
    aligner = get_aligner(
        "grpo", device="cpu", steps=1, batch_size=2, num_generations=2, max_completion_length=8, learning_rate=1e-3
    )
    out = aligner.fit(train, tmp_path / "grpo-A")
    m = AlignedModel.load(out.path).manifest["metrics"]
    assert m["steps"] == 1 and len(m["mean_reward_by_step"]) == 1 and np.isfinite(m["mean_reward_by_step"][0])
    assert (out.path / "merged" / "config.json").is_file() and (out.path / "reward_model.json").is_file()
