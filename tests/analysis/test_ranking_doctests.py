"""The docstring examples of the ranking engine's modules run (every public function has one)."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = [
    "pluralis.analysis.battles", "pluralis.analysis.ranking", "pluralis.analysis.uncertainty",
    "pluralis.analysis.subgroups", "pluralis.analysis.sensitivity", "pluralis.analysis.features",
    "pluralis.analysis.plots_ranking", "pluralis.cli.rank",
]


@pytest.mark.parametrize("name", MODULES)
def test_doctests(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0, f"{result.failed} doctest(s) failed in {name}"
    assert result.attempted > 0, f"no examples in {name}"
