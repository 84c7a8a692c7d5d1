"""The architecture holds: import-linter's layer contracts (pyproject.toml) and no import cycles anywhere in pluralis.

The cycle check builds the module import graph with grimp (what import-linter uses), counting
function-local imports too, so a cycle cannot hide in a function body; only imports under
``if TYPE_CHECKING:`` are left out (they never run).
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections import deque
from pathlib import Path

import grimp
import pytest

import pluralis

ROOT = Path(__file__).resolve().parent.parent
PACKAGE_ROOT = Path(pluralis.__file__).resolve().parent.parent


def test_tested_checkout_is_this_one():
    assert PACKAGE_ROOT == ROOT, f"pluralis is imported from {PACKAGE_ROOT}, not this checkout {ROOT}"


def test_import_linter_contracts_are_kept():
    """``lint-imports`` with the contracts of pyproject.toml, run on this checkout."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)}
    code = "import sys; from importlinter.cli import lint_imports; sys.exit(lint_imports(no_cache=True))"
    run = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, f"import-linter contracts broken:\n{run.stdout}\n{run.stderr}"


def strongly_connected_components(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's algorithm, iteratively; only components that contain a cycle are returned."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    found: list[list[str]] = []
    counter = 0
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1 or node in graph[node]:
                    found.append(sorted(component))
    return found


def shortest_cycle(graph: dict[str, set[str]], start: str, within: set[str]) -> list[str]:
    """The shortest import path from ``start`` back to itself inside one component."""
    previous: dict[str, str] = {}
    queue = deque([start])
    while queue:
        node = queue.popleft()
        for child in sorted(graph[node] & within):
            if child == start:
                path = [node]
                while path[-1] != start:
                    path.append(previous[path[-1]])
                return [start, *reversed(path[:-1]), start]
            if child not in previous:
                previous[child] = node
                queue.append(child)
    raise AssertionError(f"no cycle through {start}")


def describe(graph: grimp.ImportGraph, cycle: list[str]) -> str:
    steps = []
    for importer, imported in zip(cycle, cycle[1:]):
        lines = sorted({d["line_number"] for d in graph.get_import_details(importer=importer, imported=imported)})
        steps.append(f"{importer} -> {imported} (l.{', l.'.join(map(str, lines))})")
    return "\n    ".join(steps)


def test_strongly_connected_components_finds_cycles():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"d"}, "e": {"a"}}
    assert sorted(strongly_connected_components(graph)) == [["a", "b", "c"], ["d"]]
    assert shortest_cycle(graph, "a", {"a", "b", "c"}) == ["a", "b", "c", "a"]


@pytest.fixture(scope="module")
def import_graph() -> grimp.ImportGraph:
    return grimp.build_graph("pluralis", cache_dir=None, exclude_type_checking_imports=True)


def test_no_import_cycles(import_graph):
    graph = {m: set(import_graph.find_modules_directly_imported_by(m)) for m in import_graph.modules}
    assert len(graph) > 50  # the whole package was scanned
    cycles = [
        describe(import_graph, shortest_cycle(graph, component[0], set(component)))
        for component in strongly_connected_components(graph)
    ]
    assert not cycles, f"{len(cycles)} import cycle(s):\n  " + "\n  ".join(cycles)


def test_data_never_imports_the_store(import_graph):
    """The store's data format is found by name (a plugin), not imported by pluralis.data."""
    chains = import_graph.find_shortest_chains(importer="pluralis.data", imported="pluralis.store", as_packages=True)
    assert not chains, chains
