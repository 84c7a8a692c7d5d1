"""``pluralis report STUDY --out DIR``: the HTML report of any study, with only the sections its data supports.

STUDY is anything the data-format registry reads (a PRISM-shaped folder, an Arena battles file, a
parquet folder, a collected study's store ``.sqlite``, ...). The report lists the sections it left
out and why; figures are also written as PNG and SVG, tables as CSV, next to ``report.html``.
"""

from __future__ import annotations

from pathlib import Path

import typer

from pluralis.cli._common import console, format_option, handle_errors


def register(app: typer.Typer) -> None:
    """Add ``pluralis report`` to the ``pluralis`` Typer app.

    Parameters
    ----------
    app
        the ``pluralis`` Typer app.

    Example
    -------
    >>> app = typer.Typer()
    >>> register(app)
    >>> [c.name for c in app.registered_commands]
    ['report']
    """

    @app.command("report")
    @handle_errors
    def report(
        study: str = typer.Argument(..., help="the study: a folder, file or store the data formats read"),
        out: Path = typer.Option(Path("pluralis-report"), "--out", "-o", help="folder for report.html and its files"),
        format: str | None = format_option(None, help="data format of STUDY (default: detected)"),
        method: str = typer.Option("bt", "--method", help="ranking method"),
        bootstrap: int = typer.Option(200, "--bootstrap", min=1, help="bootstrap rounds of the rankings"),
        draws: int = typer.Option(300, "--draws", min=1, help="welfare draws"),
        min_participants: int = typer.Option(10, "--min-participants", min=1, help="smallest group ranked"),
        seed: int = typer.Option(0, "--seed", help="random seed"),
    ) -> None:
        """Write the HTML report of any study (sections only where its data supports them)."""
        from pluralis.report.any_study import write_any_report

        with console.status("writing the report"):
            res = write_any_report(
                study,
                out,
                format=format,
                method=method,
                bootstrap=bootstrap,
                draws=draws,
                seed=seed,
                min_participants=min_participants,
            )
        console.print(f"sections: {', '.join(res.sections)}", highlight=False)
        for title, why in res.skipped.items():
            console.print(f"skipped {title}: {why}", highlight=False)
        console.print(f"report: {res.path}", highlight=False)
