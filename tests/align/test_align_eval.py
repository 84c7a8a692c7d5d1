"""Whose gain: reward models, best-of-n selection, judges, registry, experiment files (no language model)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pluralis.align.pairs import PreferenceData
from pluralis.align.planted import HELDOUT_TOPICS, QUESTION_ENDINGS, STATEMENT_ENDINGS, TIPS, heldout_prompts
from pluralis.errors import ConfigError


def split_data(planted) -> PreferenceData:
    pairs, split = planted
    return PreferenceData(pairs[split == "train"], pairs[split == "eval"], {})


def test_group_reward_models_learn_the_planted_preference(planted, tmp_path):
    from pluralis.align.rewards import GroupRewardModel, fit_reward_model

    d = split_data(planted)
    a = fit_reward_model(d.train[d.train["group"] == "A"])
    b = fit_reward_model(d.train[d.train["group"] == "B"])
    assert a.coefficients()["if_question_marks"] > 1 > -1 > b.coefficients()["if_question_marks"]
    assert abs(a.coefficients()["log_length"]) < 0.5  # equal-length endings: length carries no signal
    back = GroupRewardModel.load(a.save(tmp_path / "rm.json"))
    texts = ["Start small. Want another tip?", "Start small. Good luck to you."]
    assert np.allclose(back.reward(texts), a.reward(texts))
    (tmp_path / "bad.json").write_text('{"format": "other"}')
    with pytest.raises(ConfigError, match="not a Pluralis reward model"):
        GroupRewardModel.load(tmp_path / "bad.json")


def candidate_sets(n_prompts: int = 6, seed: int = 0) -> list[list[str]]:
    """Four candidates per prompt: two tips, each ending with a question or a statement."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n_prompts):
        tips = rng.choice(TIPS, 2, replace=False)
        out.append([f"{tips[0]} {rng.choice(QUESTION_ENDINGS)}", f"{tips[0]} {rng.choice(STATEMENT_ENDINGS)}",
                    f"{tips[1]} {rng.choice(STATEMENT_ENDINGS)}", f"{tips[1]} {rng.choice(QUESTION_ENDINGS)}"])  # fmt: skip
    return out


def test_best_of_n_raises_the_groups_behaviour_and_its_win_rate_not_the_others(planted, tmp_path):
    """Best-of-n with A's reward model picks question endings, B's statements; held-out judges of A see a gain,
    judges of B a loss (and the reverse for B's model)."""
    from pluralis.align.aligners.best_of_n import BestOfNAligner
    from pluralis.align.evaluate import judge_with_reward_models
    from pluralis.align.serving import BestOfNBackend

    d = split_data(planted)
    base_dir = tmp_path / "base"
    base_dir.mkdir()
    (base_dir / "config.json").write_text("{}")
    sets = candidate_sets()
    picked = {}
    for g in ("A", "B"):
        model = BestOfNAligner(base_model=str(base_dir), n=4).fit(d.train[d.train["group"] == g], tmp_path / g)
        bon = BestOfNBackend(model.spec(), model)
        picked[g] = [c[bon.choose(c)[0]] for c in sets]
    share = {g: np.mean([t.endswith("?") for t in picked[g]]) for g in picked}
    base = [c[i] for c, i in zip(sets, [0, 1, 2, 3, 1, 2])]  # the base model's answer: one of its samples
    base_share = np.mean([t.endswith("?") for t in base])
    assert share["A"] == 1.0 and share["B"] == 0.0 and 0 < base_share < 1
    answers = {"base": base, "bon-A": picked["A"], "bon-B": picked["B"]}
    prompts = heldout_prompts(HELDOUT_TOPICS)
    res = judge_with_reward_models(answers, prompts, d, by="group", n_boot=200, trained_on={"bon-A": "A", "bon-B": "B"})
    m = res.matrix()
    assert m.loc["bon-A", "A"] > 15 and m.loc["bon-A", "B"] < -15  # A's gain; B's judges see a loss
    assert m.loc["bon-B", "B"] > 10 and m.loc["bon-B", "A"] < -10
    t = res.table.set_index(["model", "eval_group"])
    assert t.loc[("bon-A", "A"), "gain_low"] > 0  # the interval excludes no gain
    assert (t["n_judges"] == 6).all() and (t["n_prompts"] == 6).all()
    files = res.write(tmp_path / "eval")
    assert {"gains", "matrix_reward", "plot_reward", "answers", "judgements"} <= set(files)
    assert files["plot_reward"].stat().st_size > 1000


def test_bootstrap_is_over_participants_and_prompts(planted):
    from pluralis.align.evaluate import judge_with_reward_models

    d = split_data(planted)
    answers = {"base": ["Try it. Good luck to you.", "Fine. Have a great day."],
               "m": ["Try it. Want another tip?", "Fine. Have a great day."]}  # fmt: skip
    res = judge_with_reward_models(answers, heldout_prompts()[:2], d, by="group", n_boot=300, seed=1)
    t = res.table.set_index("eval_group")
    # one prompt identical (p = 1/2), one decisive: the point estimate is halfway, prompts resampled widen it
    assert 0.5 < t.loc["A", "win_rate"] < 1.0 and t.loc["A", "win_low"] <= 0.55 and t.loc["A", "win_high"] > 0.9
    assert t.loc["B", "gain_pp"] < 0 and t.loc["A", "gain_pp"] == pytest.approx(-t.loc["B", "gain_pp"], abs=15)
    with pytest.raises(ConfigError, match="lack the base"):
        judge_with_reward_models({"m": ["x"]}, [[]], d, by="group")
    with pytest.raises(ConfigError, match="no column 'gender'"):
        judge_with_reward_models(answers, [[], []], d, by="gender")


def test_persona_judges_through_role_play(planted):
    from pluralis.align.evaluate import judge_with_personas, parse_preference
    from pluralis.llm.types import ChatResult
    from pluralis.simulate.generator import generate_personas
    from pluralis.simulate.roleplay import RolePlayConfig

    class Judge:
        """A stand-in judge LLM: right-leaning personas prefer answers with questions; one reply in five is junk."""

        spec = None
        calls = 0

        async def chat(self, messages, **kw):
            Judge.calls += 1
            card, ask = messages[0]["content"], messages[-1]["content"]
            a = ask.split("Response A:")[1].split("Response B:")[0]
            likes_q = "right-leaning" in card
            pick = "A" if (("?" in a) == likes_q) else "B"
            text = "no idea" if Judge.calls % 5 == 0 else f'{{"preferred": "{pick}"}}'
            return ChatResult(text=text, model="judge", latency_s=0.0)

        async def aclose(self):
            return None

    people = generate_personas(40, seed=1).data
    from pluralis.simulate.texts import lean

    people = people.assign(lean=[lean(r) for r in people.to_dict("records")])
    answers = {"base": ["Sure. Good luck to you."] * 3, "asks": ["Sure. Want another tip?"] * 3}
    res = judge_with_personas(answers, heldout_prompts()[:3], people, RolePlayConfig(Judge(), max_retries=1),
                              by="lean", n_boot=100)  # fmt: skip
    t = res.table.set_index("eval_group")
    assert t.loc["right", "win_rate"] == 1.0 and t.loc["left", "win_rate"] == 0.0 == t.loc["neutral", "win_rate"]
    assert (t["judge"] == "persona").all() and t["n_invalid"].sum() < 10
    assert parse_preference('```json\n{"preferred": "A"}\n```') == "A"


def test_registry_and_aligner_options():
    from pluralis.align.registry import aligner_options, available_aligners, get_aligner, register_aligner

    assert set(available_aligners()) == {"dpo", "best_of_n", "grpo"}
    assert get_aligner("best-of-n", n=2).n == 2
    assert aligner_options("grpo")["beta"] == 0.0
    with pytest.raises(ConfigError, match="unknown aligner 'ppo'"):
        get_aligner("ppo")
    with pytest.raises(ConfigError, match="unknown option"):
        get_aligner("grpo", lr=1)

    class Other:
        name = "dpo"

    with pytest.raises(ConfigError, match="two aligners named 'dpo'"):
        register_aligner(Other)
    with pytest.raises(ConfigError, match="multiple of num_generations"):
        get_aligner("grpo", batch_size=5, num_generations=2).check()


def test_training_settings_are_cpu_practical():
    pytest.importorskip("trl", exc_type=ImportError)
    from pluralis.align.aligners.dpo import DPOAligner

    c = DPOAligner(steps=2, epochs=3).dpo_config("/tmp/pluralis-test-dpo", "cpu", 100)
    assert not c.gradient_checkpointing and c.max_length == 256 and c.max_steps == 2
    assert c.precompute_ref_log_probs is False  # 2 steps of 4 pairs: one pass at most, nothing to reuse
    assert DPOAligner(epochs=3).dpo_config("/tmp/pluralis-test-dpo", "cpu", 100).precompute_ref_log_probs
    assert DPOAligner().lora_layer_count("cpu") == 8 and DPOAligner().lora_layer_count("cuda") is None


def test_serving_hook_only_loads_pluralis_factories(tmp_path):
    from pluralis.llm.backend import folder_backend, make_backend
    from pluralis.llm.types import ModelSpec

    (tmp_path / "pluralis_backend.json").write_text('{"factory": "os:system"}')
    spec = ModelSpec(name="x", backend="transformers", path=str(tmp_path))
    with pytest.raises(ConfigError, match="pluralis.<module>:<function>"):
        folder_backend(spec)
    from pluralis.align.base import AlignedModel

    m = AlignedModel.create(tmp_path / "bon", aligner="best_of_n", base_model="/b", options={"n": 3})
    b = make_backend(m.spec())
    assert type(b).__name__ == "BestOfNBackend" and b.n == 3


def test_experiment_files_are_checked():
    from pluralis.align.experiments import EXAMPLE, experiment_cells, experiment_text, parse_experiment

    exp = parse_experiment(EXAMPLE)
    cells = experiment_cells(exp)
    assert len(cells) == 4 and len({c.slug for c in cells}) == 4
    assert parse_experiment(experiment_text({"name": "y", "data": {"planted": {"participants": 4}, "by": "group"},
                                              "grid": {"train": ["group=A"]}})).grid["aligner"] == ["dpo"]  # fmt: skip
    for bad, message in (
        (EXAMPLE.replace("[eval]", "[eval]\nbogus = 1"), "unknown field"),
        (EXAMPLE.replace('labels = ["binary"]', 'labels = ["five"]'), "grid.labels"),
        (EXAMPLE.replace('train = ["group=A", "group=B"]', 'train = ["groupA"]'), "grid.train"),
        (EXAMPLE.replace("steps = 2", "stepz = 2"), "aligners.dpo"),
        (EXAMPLE.replace('by = "group"', ""), "data.by"),
        ("seed = 1\n" + EXAMPLE, "invalid TOML"),
    ):
        with pytest.raises(ConfigError, match=message):
            parse_experiment(bad, source="e.toml")


def test_grid_files(tmp_path):
    from pluralis.align.experiments import grid_summary, write_grid

    rows = []
    for train, gains in (("group=A", (12.0, -9.0)), ("group=B", (-7.0, 10.0))):
        for g, v in zip(("A", "B"), gains):
            rows.append({"model": train, "trained_on": train, "eval_group": g, "judge": "reward", "gain_pp": v,
                         "gain_low": v - 3, "gain_high": v + 3, "cell": f"dpo-{train}", "design": "dpo/binary",
                         "train": train})  # fmt: skip
    t = pd.DataFrame(rows)
    files = write_grid(t, tmp_path)
    assert (tmp_path / "report_section.md").read_text().count("| group=A | +12.0 | -9.0 |") == 1
    assert files["grid_plot"].stat().st_size > 1000
    s = grid_summary(t).set_index("design")
    assert s.loc["dpo/binary", "own"] == 11.0 and s.loc["dpo/binary", "other"] == -8.0


@pytest.mark.slow
def test_nc_candidates_help_recover_heterogeneous_preferences():
    """With persona raters whose stance preference follows their Inglehart–Welzel values, NC candidate sets are
    more diverse and the learned model orders held-out personas' contested pairs better (mean of three seeds)."""
    from pluralis.align.candidates import SimulatedCandidateModel, candidate_experiment
    from pluralis.simulate.generator import generate_personas

    runs = [
        candidate_experiment(SimulatedCandidateModel(seed=s), generate_personas(80, seed=s), k=4, n_prompts=8, seed=s)
        for s in (0, 2, 3)
    ]
    t = pd.concat(runs).groupby("sampling")[["stance_sd", "contested_accuracy"]].mean()
    assert t.loc["nc", "stance_sd"] > 2 * t.loc["standard", "stance_sd"]
    assert t.loc["nc", "contested_accuracy"] > t.loc["standard", "contested_accuracy"] + 0.02
