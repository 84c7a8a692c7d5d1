"""Scale-out on Ray: the same panel as in-process generation (Ray started locally with one CPU)."""

from __future__ import annotations

import pandas as pd
import pytest

from pluralis.personas.generator import generate_personas


def test_ray_executor_matches_serial():
    ray = pytest.importorskip("ray", reason="ray is not installed (pip install 'ray>=2.9')")
    try:
        serial = generate_personas(2000, country=["US", "UK"], seed=6, chunk_size=600, executor="serial")
        on_ray = generate_personas(2000, country=["US", "UK"], seed=6, chunk_size=600, executor="ray",
                                   ray_init={"num_cpus": 1, "include_dashboard": False})
    finally:
        if ray.is_initialized():
            ray.shutdown()
    pd.testing.assert_frame_equal(serial.data, on_ray.data)


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
