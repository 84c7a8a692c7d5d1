"""Shared CLI plumbing: consistent error output, progress bars, tables."""

from __future__ import annotations

import functools
from collections.abc import Callable
from contextlib import contextmanager

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from pluralis.errors import PluralisError

console = Console()
err_console = Console(stderr=True, soft_wrap=True)


def handle_errors(func: Callable) -> Callable:
    """Print a :class:`PluralisError` as a clear message and exit with status 2 (no traceback).

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
        yield lambda n=1: progress.advance(task, n)


def counts_table(title: str, counts: dict[str, object], value_header: str = "rows") -> Table:
    """A two-column Rich table: table name and its row count (or another value).

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
