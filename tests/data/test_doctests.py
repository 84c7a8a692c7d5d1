"""The docstring examples of the data, store and data-CLI modules run (every public function has one)."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = [
    "pluralis.errors", "pluralis.data.comparisons", "pluralis.data.jsonio", "pluralis.data.model",
    "pluralis.data.parquet", "pluralis.data.prism", "pluralis.data.roster", "pluralis.data.sources",
    "pluralis.data.study", "pluralis.data.synthetic", "pluralis.store", "pluralis.store.db",
    "pluralis.cli.data", "pluralis.cli._common",
]


@pytest.mark.parametrize("name", MODULES)
def test_doctests(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0, f"{result.failed} doctest(s) failed in {name}"
    assert result.attempted > 0, f"no examples in {name}"
