"""Every docstring example in the package runs, and every public function has one.

Modules are discovered, not listed, so a new module's examples are checked from the day it lands.
"""

from __future__ import annotations

import doctest
import importlib
import inspect
import pkgutil

import pytest

import pluralis

MODULES = sorted(
    m.name
    for m in pkgutil.walk_packages(pluralis.__path__, "pluralis.")
    if ".migrations" not in m.name and not m.name.endswith("__main__")
)


def _public_functions(module) -> list[str]:
    return [
        name
        for name, obj in vars(module).items()
        if not name.startswith("_") and inspect.isfunction(obj) and obj.__module__ == module.__name__
    ]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE, report=True)
    assert result.failed == 0, f"{result.failed} docstring example(s) failed in {name} (see the output above)"


@pytest.mark.parametrize("name", MODULES)
def test_public_functions_have_examples(name):
    module = importlib.import_module(name)
    missing = [f for f in _public_functions(module) if ">>>" not in (inspect.getdoc(getattr(module, f)) or "")]
    assert not missing, f"{name}: public functions without a docstring example: {missing}"


@pytest.mark.parametrize("name", [m for m in MODULES if not m.startswith("pluralis.cli")])
def test_public_functions_have_numpydoc_parameters(name):
    """Every public function with arguments documents them in a numpydoc ``Parameters`` section."""
    module = importlib.import_module(name)
    missing = []
    for f in _public_functions(module):
        obj = getattr(module, f)
        if not [p for p in inspect.signature(obj).parameters if p not in ("self", "cls")]:
            continue
        if "Parameters\n----" not in (inspect.getdoc(obj) or ""):
            missing.append(f)
    assert not missing, f"{name}: public functions without a numpydoc Parameters section: {missing}"


def test_discovery_sees_every_part_of_the_package():
    parts = {name.split(".")[1] for name in MODULES}
    assert {
        "data",
        "store",
        "census",
        "features",
        "ranking",
        "welfare",
        "learn",
        "collect",
        "simulate",
        "web",
        "llm",
        "pipelines",
        "report",
        "cli",
    } <= parts
