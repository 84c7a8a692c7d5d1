"""Shared CLI plumbing: consistent error output, progress bars, tables."""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from contextlib import contextmanager
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from pluralis.data.io.registry import formats, known_formats
from pluralis.errors import PluralisError

console = Console()
err_console = Console(stderr=True, soft_wrap=True)


def handle_errors(func: Callable) -> Callable:
    """Print a :class:`PluralisError` as a clear message and exit with status 2 (no traceback).

    Parameters
    ----------
    func
        a command function.

    Returns
    -------
    callable
        the command, printing Pluralis errors instead of raising them.

    Example
    -------
    >>> @handle_errors
    ... def cmd():
    ...     raise PluralisError("bad [value]")
    >>> try:
    ...     cmd()
    ... except typer.Exit as exit_:
    ...     exit_.exit_code
    2
    """

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except PluralisError as exc:
            # the message is data (file names, values): never let Rich read "[...]" in it as markup
            err_console.print(f"[bold red]error:[/] {escape(str(exc))}", markup=True, highlight=False)
            raise typer.Exit(code=2) from None

    return wrapper


@contextmanager
def progress_bar(description: str, total: int | None):
    """A Rich progress bar (on stderr); yields an ``advance(n)`` callback.

    Parameters
    ----------
    description
        the label shown before the bar.
    total
        the number of steps (``None``: unknown).

    Yields
    ------
    callable
        ``advance(n=1, total=None)``: move the bar ``n`` steps (and set its total, once known).

    Example
    -------
    >>> with progress_bar("importing", 3) as advance:
    ...     advance(3)
    """
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err_console,
        transient=False,
    ) as progress:
        task = progress.add_task(description, total=total)
        yield lambda n=1, total=None: progress.update(task, advance=n, total=total)


def counts_table(title: str, counts: Mapping[str, object], value_header: str = "rows") -> Table:
    """A two-column Rich table: table name and its row count (or another value).

    Parameters
    ----------
    title
        the table's title.
    counts
        name -> count (shown with thousands separators) or any other value.
    value_header
        the header of the second column.

    Returns
    -------
    rich.table.Table

    Example
    -------
    >>> counts_table("study", {"survey": 1500}).row_count
    1
    """
    table = Table(title=title, show_header=True, header_style="bold")
    table.add_column("table")
    table.add_column(value_header, justify="right")
    for name, n in counts.items():
        table.add_row(name, f"{n:,}" if isinstance(n, int) else str(n))
    return table


def breakdown_table(title: str, counts: dict[str, int]) -> Table:
    """A Rich table of value counts with shares (used by ``pluralis info``).

    Parameters
    ----------
    title
        the table's title (the field counted).
    counts
        value -> count.

    Returns
    -------
    rich.table.Table

    Example
    -------
    >>> breakdown_table("gender", {"Female": 3, "Male": 1}).row_count
    2
    """
    total = sum(counts.values()) or 1
    table = Table(title=title, show_header=True, header_style="bold")
    table.add_column("value")
    table.add_column("n", justify="right")
    table.add_column("share", justify="right")
    for value, n in counts.items():
        table.add_row(str(value), f"{n:,}", f"{100 * n / total:.1f}%")
    return table


def format_option(default: str | None = None, *, writable: bool | None = None, help: str = "data format") -> Any:
    """A ``--format/-f`` option whose choices are the registered data formats, checked when parsed.

    The registry (:mod:`pluralis.data.io.registry`) is consulted when the option is used, not
    when the command line is built, so formats registered later are accepted and offered for
    completion, and ``pluralis --help`` stays fast. A name that no format has is refused with
    the list of known formats (exit status 2).

    Parameters
    ----------
    default
        the default format name (``None``: detect it).
    writable
        ``True`` to accept only formats that can be written (``export``, ``generate``).
    help
        the option's help text; the pointer to ``pluralis formats`` is added.

    Returns
    -------
    typer.models.OptionInfo
        to use as a command parameter's default.

    Example
    -------
    >>> app = typer.Typer()
    >>> @app.command()
    ... def show(format: str = format_option("prism", writable=True)):
    ...     print(format)
    >>> from typer.testing import CliRunner
    >>> CliRunner().invoke(app, ["-f", "parquet"]).output
    'parquet\\n'
    >>> result = CliRunner().invoke(app, ["-f", "hf"])
    >>> result.exit_code, "cannot be written" in result.output
    (2, True)
    """

    def check(value: str | None) -> str | None:
        if value is None:
            return None
        names = [f.name for f in formats(writable=writable)]
        if value not in names:
            known = known_formats(writable=writable)
            if writable and value in [f.name for f in formats()]:
                raise typer.BadParameter(f"format {value!r} cannot be written; writable formats: {known}")
            raise typer.BadParameter(f"unknown data format {value!r}; known formats: {known}")
        return value

    def complete(incomplete: str) -> list[str]:
        return [f.name for f in formats(writable=writable) if f.name.startswith(incomplete)]

    return typer.Option(
        default,
        "--format",
        "-f",
        callback=check,
        autocompletion=complete,
        metavar="FORMAT",
        help=f"{help} (`pluralis formats` lists them)",
    )
