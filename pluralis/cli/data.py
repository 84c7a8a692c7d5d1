"""Data commands: import, export, validate, info, generate."""

from __future__ import annotations

from pathlib import Path

import typer

from pluralis.cli._common import breakdown_table, console, counts_table, handle_errors, progress_bar
from pluralis.data import load_study
from pluralis.data.comparisons import write_arena
from pluralis.data.sources import save_study
from pluralis.data.study import Study


def _import(study: Study, store_target: str) -> dict[str, int]:
    from pluralis.store import Store

    total = sum(v for k, v in study.counts().items())
    with Store.open(store_target) as store, progress_bar("importing", total) as advance:
        report = store.import_study(study, progress=advance)
    return report.counts


def register(app: typer.Typer) -> None:
    @app.command("import")
    @handle_errors
    def import_(
        source: str = typer.Argument(..., help="PRISM folder, parquet folder, Arena/Community-Alignment file, or hf://…"),
        store: str = typer.Option("pluralis.sqlite", "--store", "-s", help="SQLite file or database URL"),
        format: str = typer.Option(None, "--format", "-f", help="prism | parquet | arena | community_alignment | hf"),
    ):
        """Validate SOURCE and import it into the store in one transaction."""
        study = load_study(source, format=format)
        counts = _import(study, store)
        console.print(counts_table(f"imported into {store}", counts))

    @app.command("export")
    @handle_errors
    def export(
        out: Path = typer.Argument(..., help="output folder (or .jsonl file for --format arena)"),
        store: str = typer.Option("pluralis.sqlite", "--store", "-s", help="SQLite file or database URL"),
        format: str = typer.Option("prism", "--format", "-f", help="prism | parquet | arena"),
    ):
        """Export the store as PRISM files, parquet tables or Arena battles."""
        study = load_study(store, format="store")
        if format == "arena":
            n = write_arena(study.comparisons, out)
            console.print(f"wrote {n:,} battles to {out}")
            return
        paths = save_study(study, out, format=format)
        console.print(counts_table(f"exported to {out}", {k: str(v) for k, v in paths.items()}))

    @app.command("validate")
    @handle_errors
    def validate(
        source: str = typer.Argument(..., help="folder, file or store to check"),
        format: str = typer.Option(None, "--format", "-f"),
    ):
        """Check a source thoroughly; prints every problem with file, line and field."""
        study = load_study(source, format=format)
        console.print(f"[green]valid[/]: {source}")
        console.print(counts_table("records", study.counts()))

    @app.command("info")
    @handle_errors
    def info(
        source: str = typer.Argument("pluralis.sqlite", help="folder, file or store"),
        format: str = typer.Option(None, "--format", "-f"),
    ):
        """Counts by table and a demographics summary."""
        study = load_study(source, format=format)
        summary = study.summary()
        console.print(counts_table(f"{source}", summary.pop("counts")))
        for name, values in summary.items():
            if values:
                console.print(breakdown_table(name, values))

    @app.command("generate")
    @handle_errors
    def generate(
        out: str = typer.Argument(..., help="output folder (PRISM files) or store (.sqlite / URL)"),
        participants: int = typer.Option(200, "--participants", "-n", min=1),
        seed: int = typer.Option(0, "--seed"),
        format: str = typer.Option("prism", "--format", "-f", help="prism | parquet | store"),
    ):
        """Generate a synthetic PRISM-shaped study with a known latent-preference model."""
        from pluralis.data.synthetic import generate_study

        with console.status(f"generating {participants} synthetic participants"):
            study = generate_study(participants, seed=seed)
        if format == "store" or out.endswith((".sqlite", ".db")) or "://" in out:
            counts = _import(study, out)
        else:
            save_study(study, out, format=format)
            counts = study.counts()
        console.print(counts_table(f"synthetic study -> {out}", counts))
