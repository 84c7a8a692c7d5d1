"""Scale-out on Ray: the same panel and the same simulated study as in-process runs (a local Ray started with
one CPU, shared by the tests of this module; tasks run in Ray worker processes, so everything shipped must pickle)."""

from __future__ import annotations

import pandas as pd
import pytest

from pluralis.simulate.generator import generate_personas


@pytest.fixture(scope="module")
def local_ray():
    ray = pytest.importorskip("ray", reason="ray is not installed (pip install 'ray>=2.9')")
    ray.init(num_cpus=1, include_dashboard=False, log_to_driver=False, ignore_reinit_error=True)
    try:
        yield ray
    finally:
        ray.shutdown()


def test_ray_executor_matches_serial(local_ray):
    serial = generate_personas(2000, country=["US", "UK"], seed=6, chunk_size=600, executor="serial")
    on_ray = generate_personas(2000, country=["US", "UK"], seed=6, chunk_size=600, executor="ray")
    pd.testing.assert_frame_equal(serial.data, on_ray.data)
    assert local_ray.is_initialized()  # a cluster the caller started is left running


def test_simulated_study_on_ray_matches_serial(local_ray):
    from pluralis.simulate.study import simulate_study

    panel = generate_personas({"US": 4, "UK": 3}, seed=2)
    serial = simulate_study(panel, seed=3, conversations_per_type=1, executor="serial")
    on_ray = simulate_study(panel, seed=3, conversations_per_type=1, executor="ray", chunk_size=3)
    dump = lambda s: ([p.to_json_dict() for p in s.survey], [c.to_json_dict() for c in s.conversations])
    assert dump(serial.study) == dump(on_ray.study)
    assert on_ray.stats["completed"] == 7


def test_cli_executor_ray(local_ray, tmp_path):
    from typer.testing import CliRunner

    from pluralis.cli import app
    from pluralis.simulate.generator import PersonaPanel

    out = tmp_path / "p.parquet"
    r = CliRunner().invoke(
        app,
        [
            "personas",
            "generate",
            "-n",
            "600",
            "-c",
            "US",
            "-c",
            "UK",
            "--seed",
            "6",
            "--executor",
            "ray",
            "--out",
            str(out),
        ],
    )
    assert r.exit_code == 0, r.output
    assert "ray executor" in r.output
    pd.testing.assert_frame_equal(
        PersonaPanel.read_parquet(out).data,
        generate_personas(600, country=["US", "UK"], seed=6, executor="serial").data,
    )


def test_ray_missing_is_a_clear_error(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def fake_import(name, *args, **kwargs):
        if name == "ray":
            raise ImportError("No module named 'ray'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", fake_import)
    from pluralis.errors import ConfigError

    with pytest.raises(ConfigError, match="pip install 'ray>=2.9'"):
        generate_personas(10, seed=0, executor="ray")
