"""The docstring examples of the persona and report modules run (every public function has one)."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = [
    "pluralis.personas", "pluralis.personas.tables", "pluralis.personas.executors", "pluralis.personas.generator",
    "pluralis.personas.features", "pluralis.personas.preference", "pluralis.personas.responders",
    "pluralis.personas.texts", "pluralis.personas.agents", "pluralis.personas.simulate",
    "pluralis.personas.roleplay", "pluralis.personas.fidelity", "pluralis.personas.pipeline",
    "pluralis.report.html", "pluralis.report.plots", "pluralis.report.study", "pluralis.cli.personas",
]


@pytest.mark.parametrize("name", MODULES)
def test_doctests(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0, f"{result.failed} doctest(s) failed in {name}"
