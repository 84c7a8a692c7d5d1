"""``pluralis study check STUDY``: validate a study file and call every model once before serving it."""

from __future__ import annotations

import typer
from rich.markup import escape

from pluralis.cli._common import console, err_console, handle_errors
from pluralis.errors import ConfigError


def build_study_app() -> typer.Typer:
    """The ``pluralis study`` command group.

    Example
    -------
    >>> from typer.testing import CliRunner
    >>> "check" in CliRunner().invoke(build_study_app(), ["--help"]).output
    True
    """
    study_app = typer.Typer(help="Study definitions: check a study before it is served.", no_args_is_help=True)

    @study_app.command("check")
    @handle_errors
    def check_cmd(
        study: str = typer.Argument(..., help="Study definition (TOML, YAML or JSON)."),
        call: bool = typer.Option(True, "--call/--no-call", help="Call every model once (a short prompt)."),
        allow_placeholders: bool = typer.Option(
            False,
            "--allow-placeholders",
            help="Accept the --init template's placeholder models and consent text (local testing only).",
        ),
        timeout: float | None = typer.Option(
            None, "--timeout", min=0.1, help="Seconds per model call (default: the study's sampling.timeout)."
        ),
    ) -> None:
        """Validate STUDY (every problem with file:line: field) and call each model once; exit 1 on any problem."""
        from pluralis.collect.check import check_study

        report = check_study(study, call_endpoints=call, allow_placeholders=allow_placeholders, timeout=timeout)
        for e in report.endpoints:
            mark = "[green]ok[/]" if e.ok else f"[bold red]FAILED[/] ({escape(str(e.kind))})"
            where = escape(f"model {e.model!r} at {e.address}")
            console.print(
                f"{where}: {mark} in {e.latency_s:.2f} s: {escape(e.message)}",
                highlight=False,
                emoji=False,
                soft_wrap=True,
            )
        for p in report.problems:
            err_console.print(f"[bold red]error:[/] {escape(str(p))}", highlight=False, emoji=False, soft_wrap=True)
        for w in report.warnings:
            err_console.print(f"[yellow]warning:[/] {escape(str(w))}", highlight=False, emoji=False, soft_wrap=True)
        summary = report.lines()[-1]
        if not report.ok:
            err_console.print(summary, markup=False, highlight=False, emoji=False, soft_wrap=True)
            raise typer.Exit(code=1)
        console.print(summary, markup=False, highlight=False, emoji=False, soft_wrap=True)

    @study_app.command("settings")
    @handle_errors
    def settings_cmd(
        section: str | None = typer.Argument(None, help="Only this section (e.g. limits, sampling)."),
    ) -> None:
        """Every setting of a study file, section by section, with its default and what it does."""
        from rich.table import Table

        from pluralis.collect.config import iter_settings

        rows = [r for r in iter_settings() if section is None or r[0] == section]
        if not rows:
            raise ConfigError(
                f"no section {section!r}; sections: {', '.join(dict.fromkeys(r[0] for r in iter_settings()))}"
            )
        for name in dict.fromkeys(r[0] for r in rows):
            part = [r for r in rows if r[0] == name]
            table = Table(title=escape(f"[{name}]"), show_header=True, header_style="bold", title_justify="left")
            table.add_column("setting", no_wrap=True)
            table.add_column("default", overflow="fold", max_width=60)
            for _, path, default, _ in part:
                shown = repr(default)
                table.add_row(escape(path), escape(shown if len(shown) <= 120 else shown[:117] + "..."))
            console.print(table)
            console.print(escape(part[0][3]), highlight=False, soft_wrap=True)
            console.print()

    return study_app


def register(app: typer.Typer) -> None:
    """Add the ``study`` sub-command group to the ``pluralis`` app.

    Example
    -------
    >>> root = typer.Typer()
    >>> register(root)
    >>> [g.name for g in root.registered_groups]
    ['study']
    """
    app.add_typer(build_study_app(), name="study")
