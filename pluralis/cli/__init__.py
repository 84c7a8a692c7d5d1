"""The ``pluralis`` command line.

Each module in this package that defines ``register(app)`` adds its commands, so every part
of Pluralis (data, ranking, welfare, collection, personas, ...) owns its own CLI module.
"""

from __future__ import annotations

import importlib
import pkgutil

import typer

app = typer.Typer(
    name="pluralis",
    help="Pluralis: find out whose preferences a language model serves.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _register_all() -> None:
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        register = getattr(module, "register", None)
        if callable(register):
            register(app)


_register_all()


def main() -> None:  # pragma: no cover - console entry point
    """Run the ``pluralis`` command line (what the console script calls).

    Example
    -------
    >>> import sys, subprocess
    >>> out = subprocess.run([sys.executable, "-m", "pluralis", "--help"], capture_output=True, text=True).stdout
    >>> "demo" in out and "serve" in out
    True
    """
    app()
