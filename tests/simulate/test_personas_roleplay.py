"""LLM role-play: robust parsing, retries, fallbacks, cost log; and a real llama.cpp server with SmolLM2."""

from __future__ import annotations

import json
import random
import re

import pytest

from pluralis.llm import ChatResult, ModelSpec, TokenUsage
from pluralis.simulate.roleplay import (
    ActionError,
    CostLog,
    RolePlayConfig,
    parse_json_object,
    validate_feedback,
    validate_next,
    validate_open,
    validate_ratings,
)
from pluralis.simulate.study import simulate_study


@pytest.mark.parametrize(
    "text, expected",
    [
        ('{"ratings": [1, 2]}', {"ratings": [1, 2]}),
        ('Sure!\n```json\n{"ratings": [70, 40,],}\n```\nHope that helps', {"ratings": [70, 40]}),
        ("{'action': 'finish', 'message': None}", {"action": "finish", "message": None}),
        (
            'I pick {"action": "continue", "message": "what about {x}?"} ok',
            {"action": "continue", "message": "what about {x}?"},
        ),
        ("{\u201caction\u201d: \u201cfinish\u201d}", {"action": "finish"}),
        ('{"flag": true, "none": null}', {"flag": True, "none": None}),
    ],
)
def test_parse_json_object_repairs(text, expected):
    assert parse_json_object(text) == expected


@pytest.mark.parametrize("text", ["", "no json here", "{broken: [1, 2", "[1, 2, 3]"])
def test_parse_json_object_rejects(text):
    with pytest.raises(ActionError):
        parse_json_object(text)


def test_validators():
    assert validate_open(
        {"conversation_type": "controversy", "opening_prompt": "Is tax fair?"}, ["controversy guided"]
    ) == ("controversy guided", "Is tax fair?")
    with pytest.raises(ActionError, match="conversation_type"):
        validate_open({"conversation_type": "random", "opening_prompt": "Hi there"}, ["unguided"])
    assert validate_ratings({"ratings": [0, "100", 55.6]}, 3) == [1, 100, 56]
    with pytest.raises(ActionError, match="exactly 2"):
        validate_ratings({"ratings": [1]}, 2)
    with pytest.raises(ActionError):
        validate_ratings({"ratings": [500, 1]}, 2)
    assert validate_next({"action": "finish"}, True, True) is None
    with pytest.raises(ActionError, match="too short"):
        validate_next({"action": "finish"}, False, True)
    perf, choice, text = validate_feedback(
        {
            "performance": {"Safety": "N/A", "helpfulness": 90},
            "choice": None,
            "open_feedback": "Helpful and polite answers.",
        }
    )
    assert perf == {"safety": None, "helpfulness": 90} and choice == {}
    with pytest.raises(ActionError, match="unknown attribute"):
        validate_feedback({"performance": {"charm": 5}, "open_feedback": "fine fine fine"})
    # small models echo the instructions' placeholders: that is not the persona's message
    for bad in ("<your message>", "Hi! <your next message, if you continue>", "..."):
        with pytest.raises(ActionError, match="placeholder"):
            validate_open({"conversation_type": "unguided", "opening_prompt": bad}, ["unguided"])
        with pytest.raises(ActionError, match="placeholder"):
            validate_next({"action": "continue", "message": bad}, True, True)
    assert validate_next({"action": "continue", "message": "Is 2 < 3 > 1 true?"}, True, True) == "Is 2 < 3 > 1 true?"


class ScriptedLLM:
    """An in-process ChatBackend that answers like a (sometimes sloppy) LLM; ``bad_every`` replies are junk."""

    def __init__(self, bad_every: int = 0):
        self.spec = ModelSpec(name="scripted")
        self.calls = 0
        self.bad_every = bad_every
        self.rng = random.Random(0)

    async def chat(self, messages, *, params=None, timeout=None):
        self.calls += 1
        m = messages[-1]["content"]
        if self.bad_every and self.calls % self.bad_every == 0:
            text = "As this person I really liked it!"
        elif "conversation_type" in m:
            t = re.findall(r'- "([^"]+)"', m)[0]
            text = f'```json\n{{"conversation_type": "{t}", "opening_prompt": "How do I fix a bike puncture?"}}\n```'
        elif '"ratings"' in m:
            n = int(re.search(r"Here are (\d+)", m).group(1))
            text = json.dumps({"ratings": [self.rng.randint(1, 100) for _ in range(n)]})
        elif '"action"' in m:
            text = '{"action": "continue", "message": "And then?"}' if "too short" in m else "{'action': 'finish'}"
        elif "not valid" in m:
            text = '{"ratings": []}'
        else:
            text = '{"performance": {"helpfulness": 80}, "choice": {"helpfulness": 70}, "open_feedback": "Clear."}'
        return ChatResult(
            text=text, model="scripted", latency_s=0.001, usage=TokenUsage(prompt_tokens=200, completion_tokens=30)
        )

    async def aclose(self):
        pass


def test_roleplay_runs_the_protocol_with_retries_fallbacks_and_cost_log(tmp_path, panel):
    log = CostLog(tmp_path / "calls.jsonl", price_prompt=0.5, price_completion=1.5)
    llm = ScriptedLLM(bad_every=4)
    res = simulate_study(
        panel.subset(slice(0, 3)),
        seed=0,
        conversations_per_type=1,
        roleplay=RolePlayConfig(llm, max_retries=1, max_concurrency=2),
        cost_log=log,
    )
    study = res.study
    study.validate()
    assert res.config["actor"] == "llm-roleplay"
    assert res.stats["completed"] == 3
    assert res.stats["llm_calls"] == llm.calls > 0
    # the feedback reply is too short ("Clear.") -> retried, then the preference model's feedback is used
    assert res.stats["fallbacks"] >= 3
    convs = study.frames().conversations
    assert (convs["opening_prompt"] == "How do I fix a bike puncture?").mean() > 0.5
    sim = study.survey[0].persona["simulation"]
    assert sim["actor"] == "llm-roleplay" and sim["fallbacks"] >= 1
    lines = [json.loads(x) for x in (tmp_path / "calls.jsonl").read_text().splitlines()]
    assert len(lines) == llm.calls
    assert {"persona_id", "step", "prompt_tokens", "completion_tokens", "latency_s", "cost", "ok"} <= set(lines[0])
    summary = log.summary()
    assert summary["calls"] == llm.calls and summary["invalid"] > 0
    assert summary["cost"] == pytest.approx(llm.calls * (0.2 * 0.5 + 0.03 * 1.5))


def test_roleplay_with_unreachable_llm_falls_back_everywhere(panel):
    spec = ModelSpec(name="down", base_url="http://127.0.0.1:9/v1", max_retries=0)
    log = CostLog()
    res = simulate_study(
        panel.subset(slice(0, 1)),
        seed=0,
        conversations_per_type=1,
        roleplay=RolePlayConfig(spec, max_retries=0, timeout=2),
        cost_log=log,
    )
    assert res.stats["completed"] == 1
    assert res.stats["fallbacks"] == res.stats["actions"] > 0
    assert log.summary()["errors"] == log.summary()["calls"] > 0


def test_json_modes():
    spec = ModelSpec(name="m", base_url="http://127.0.0.1:9/v1")
    schema = {"type": "object"}
    assert RolePlayConfig(spec, response_format=None).target(schema).extra_body == {}
    assert (
        RolePlayConfig(spec, response_format="json_schema")
        .target(schema)
        .extra_body["response_format"]["json_schema"]["schema"]
        == schema
    )
    assert RolePlayConfig(spec, response_format="json_object_schema").target(schema).extra_body["response_format"] == {
        "type": "json_object",
        "schema": schema,
    }
    from pluralis.errors import ConfigError

    with pytest.raises(ConfigError):
        RolePlayConfig(spec, response_format="yaml")


@pytest.mark.slow
def test_roleplay_against_real_llama_cpp_server(llamacpp_server, panel, tmp_path):
    """SmolLM2-135M role-plays one persona through one short conversation; the structured-output format is
    probed ("auto": llama-cpp-python rejects json_schema and takes a grammar-constrained json_object schema);
    whatever it replies, the run completes, every call is logged and every failure is counted."""
    from pluralis.collect.config import StudyConfig

    study = StudyConfig.model_validate(
        {
            "conversations": {
                "types": [{"name": "unguided", "label": "Unguided", "instruction": "Ask anything.", "quota": 1}],
                "min_turns": 1,
                "max_turns": 1,
            }
        }
    )
    log = CostLog(tmp_path / "calls.jsonl")
    rp = RolePlayConfig(
        ModelSpec(name="smollm2", base_url=llamacpp_server, system_prompt=None),
        max_retries=0,
        max_tokens=120,
        timeout=300,
        response_format="auto",
    )
    res = simulate_study(panel.subset(slice(0, 1)), seed=0, study=study, roleplay=rp, cost_log=log)
    res.study.validate()
    assert res.config["roleplay"]["response_format"] == "json_object_schema"
    assert res.stats["completed"] == 1 and res.stats["conversations"] == 1
    s = log.summary()
    assert s["calls"] == res.stats["llm_calls"] >= 3
    assert s["ok"] + s["invalid"] + s["errors"] == s["calls"]
    assert res.stats["fallbacks"] == s["calls"] - s["ok"]  # max_retries=0: each failed call is one fallback
    assert s["prompt_tokens"] > 0
    conv = res.study.conversations[0]
    assert conv.opening_prompt and conv.open_feedback
    lines = [json.loads(x) for x in (tmp_path / "calls.jsonl").read_text().splitlines()]
    # the schema's enum constrains the choice of conversation type: the opening action is the LLM's own
    assert any(x["step"] == "open" and x["ok"] for x in lines), lines[:3]


def test_probe_response_format_on_unreachable_endpoint_is_a_clear_error():
    import asyncio

    from pluralis.errors import ConfigError
    from pluralis.simulate.roleplay import probe_response_format

    with pytest.raises(ConfigError, match=r"role-play LLM 'down' at http://127.0.0.1:9/v1 did not answer"):
        asyncio.run(probe_response_format(ModelSpec(name="down", base_url="http://127.0.0.1:9/v1"), timeout=2))
    assert RolePlayConfig(ScriptedLLM(), response_format="auto").resolved().response_format is None  # not HTTP
