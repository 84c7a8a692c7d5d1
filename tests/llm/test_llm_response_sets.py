"""Response sets (PRISM opening turn) and later-turn samples."""

from __future__ import annotations

import asyncio
import random
import uuid

import httpx
import numpy as np
import pytest

from pluralis.errors import ConfigError
from pluralis.llm import (
    DecodingParams,
    MessageError,
    ModelSpec,
    choose_models,
    close_backends,
    generate_response_set,
    generate_samples,
)

USER = [{"role": "user", "content": "Should I take the train or fly?"}]


def run(coro):
    async def wrapped():
        try:
            return await coro
        finally:
            await close_backends()

    return asyncio.run(wrapped())


def slow(double_server: str, seconds: float) -> ModelSpec:
    return ModelSpec(name=f"slow-{seconds}-{uuid.uuid4().hex[:6]}", base_url=double_server)


def test_concurrent_latency_is_max_not_sum(double_server):
    group = uuid.uuid4().hex[:8]
    models = [
        ModelSpec(name=f"slow-{s}-{group}-{k}", base_url=double_server) for k, s in enumerate((0.6, 0.8, 1.0, 1.0))
    ]
    rs = run(generate_response_set(models, USER, timeout=10))
    assert len(rs.responses) == 4 and not rs.failures
    assert rs.requested == [m.name for m in models] == rs.models
    # all four calls were in flight together at the model server (latency = the slowest, not the sum)
    assert httpx.get(f"{double_server.rsplit('/v1', 1)[0]}/overlap/{group}").json()["max_in_flight"] == 4


def test_failures_are_dropped_and_recorded(double_server):
    ok = slow(double_server, 0.2)
    models = [
        ok,
        slow(double_server, 5),
        ModelSpec(name="http500", base_url=double_server, max_retries=0),
        ModelSpec(name="malformed", base_url=double_server),
    ]
    rs = run(generate_response_set(models, USER, timeout=1.0))
    assert rs.models == [ok.name]
    kinds = {f.model.split("-")[0]: f for f in rs.failures}
    assert kinds["slow"].kind == "timeout" and kinds["slow"].latency_s >= 0.9  # recorded after the whole 1 s timeout
    assert kinds["http500"].kind == "http_error" and kinds["http500"].status_code == 500
    assert "internal boom" in kinds["http500"].message
    assert kinds["malformed"].kind == "malformed"  # and the set came back without the 5 s model's answer


def test_response_set_against_real_server(tiny_server):
    names = ["tiny-a", "tiny-b", "tiny-c"]
    models = [ModelSpec(name=n, model="tiny", base_url=tiny_server, params=DecodingParams(max_tokens=8)) for n in names]
    rs = run(generate_response_set(models, USER, timeout=30))
    assert rs.models == names and not rs.failures
    assert all(r.served_model == "tiny" and r.usage.completion_tokens <= 8 for r in rs.responses)


def test_random_mode_chooses_k_and_does_not_resample(double_server):
    pool = [ModelSpec(name=f"ok-{i}", base_url=double_server) for i in range(5)]
    pool += [
        ModelSpec(name="http500", base_url=double_server, max_retries=0),
        ModelSpec(name="malformed", base_url=double_server),
    ]
    chosen_sets = []
    for seed in range(6):
        rs = run(generate_response_set(pool, USER, k=4, rng=random.Random(seed), timeout=5))
        assert len(rs.requested) == 4 and len(set(rs.requested)) == 4
        assert len(rs.responses) + len(rs.failures) == 4  # failed models are not replaced
        assert set(rs.failed_models) == set(rs.requested) & {"http500", "malformed"}
        chosen_sets.append(tuple(rs.requested))
    assert len(set(chosen_sets)) > 1
    again = run(generate_response_set(pool, USER, k=4, rng=random.Random(3), timeout=5))
    assert tuple(again.requested) == chosen_sets[3]


def test_choose_models_rngs():
    pool = list("abcdefghij")
    assert choose_models(pool, 4, rng=5) == choose_models(pool, 4, rng=random.Random(5))
    picked = choose_models(pool, 4, rng=np.random.default_rng(1))
    assert len(set(picked)) == 4 and set(picked) <= set(pool)
    assert sorted(choose_models(pool[:3], 4, rng=0)) == pool[:3]
    counts = dict.fromkeys(pool, 0)
    rng = random.Random(0)
    for _ in range(2000):
        for m in choose_models(pool, 4, rng):
            counts[m] += 1
    assert all(abs(c / 2000 - 0.4) < 0.05 for c in counts.values())  # uniform: each model in 4/10 of turns
    with pytest.raises(ConfigError):
        choose_models(pool, 0)
    with pytest.raises(ConfigError):
        choose_models(pool, 2, rng="seed")


def test_bad_inputs():
    spec = ModelSpec(name="m", base_url="http://127.0.0.1:9/v1")
    with pytest.raises(ConfigError, match="duplicate"):
        run(generate_response_set([spec, spec], USER))
    with pytest.raises(ConfigError):
        run(generate_response_set([], USER))
    with pytest.raises(MessageError):
        run(generate_response_set([spec], [{"role": "robot", "content": "x"}]))


def test_samples_from_real_server_differ(tiny_server):
    spec = ModelSpec(name="tiny", base_url=tiny_server, params=DecodingParams(max_tokens=12, temperature=1.0, seed=11))
    rs = run(generate_samples(spec, USER, n=2))
    assert rs.requested == ["tiny", "tiny"] and len(rs.responses) == 2
    assert [r.seed for r in rs.responses] == [11, 12]  # seed + i, so a fixed seed still gives two samples
    assert rs.responses[0].text != rs.responses[1].text


def test_samples_need_positive_temperature(double_server):
    spec = ModelSpec(name="m", base_url=double_server, params=DecodingParams(temperature=0.0))
    with pytest.raises(ConfigError, match="temperature > 0"):
        run(generate_samples(spec, USER))
    rs = run(generate_samples(spec, USER, n=3, temperature=1.0))
    assert len(rs.responses) == 3


def test_samples_concurrent_and_failures_recorded(double_server):
    spec = slow(double_server, 0.8)
    rs = run(generate_samples(spec, USER, n=2, timeout=5))
    assert len(rs.responses) == 2
    group = spec.name.split("-")[2]  # both samples were in flight together at the model server
    assert httpx.get(f"{double_server.rsplit('/v1', 1)[0]}/overlap/{group}").json()["max_in_flight"] == 2
    rs = run(generate_samples(slow(double_server, 3), USER, n=2, timeout=0.5))
    assert not rs.responses and [f.kind for f in rs.failures] == ["timeout", "timeout"]
