"""Shared CLI plumbing: consistent error output, progress bars, tables."""

from __future__ import annotations

import functools
from collections.abc import Callable
from contextlib import contextmanager

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from pluralis.errors import PluralisError

console = Console()
err_console = Console(stderr=True, soft_wrap=True)


def handle_errors(func: Callable) -> Callable:
    """Print a :class:`PluralisError` as a clear message and exit with status 2 (no traceback)."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except PluralisError as exc:
            err_console.print(f"[bold red]error:[/] {exc}", markup=True, highlight=False)
            raise typer.Exit(code=2) from None

    return wrapper


@contextmanager
def progress_bar(description: str, total: int | None):
    """A Rich progress bar; yields an ``advance(n)`` callback."""
    with Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        console=err_console, transient=False,
    ) as progress:
        task = progress.add_task(description, total=total)
        yield lambda n=1: progress.advance(task, n)


def counts_table(title: str, counts: dict[str, object]) -> Table:
    table = Table(title=title, show_header=True, header_style="bold")
    table.add_column("table")
    table.add_column("rows", justify="right")
    for name, n in counts.items():
        table.add_row(name, f"{n:,}" if isinstance(n, int) else str(n))
    return table


def breakdown_table(title: str, counts: dict[str, int]) -> Table:
    total = sum(counts.values()) or 1
    table = Table(title=title, show_header=True, header_style="bold")
    table.add_column("value")
    table.add_column("n", justify="right")
    table.add_column("share", justify="right")
    for value, n in counts.items():
        table.add_row(str(value), f"{n:,}", f"{100 * n / total:.1f}%")
    return table
