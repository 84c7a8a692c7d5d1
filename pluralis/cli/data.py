"""Data commands: import, export, validate, info, generate."""

from __future__ import annotations

from pathlib import Path

import typer

from pluralis.cli._common import breakdown_table, console, counts_table, handle_errors, progress_bar
from pluralis.data import load_study
from pluralis.data.io.comparisons import write_arena
from pluralis.data.io.sources import save_study
from pluralis.data.study import Study
from pluralis.errors import ConfigError

HF_CACHE_HELP = "Hugging Face hub cache for hf:// sources (default: $HF_HUB_CACHE or ~/.cache/huggingface/hub)"


def _import(study: Study, store_target: str) -> dict[str, int]:
    from pluralis.store import Store

    total = sum(v for k, v in study.counts().items())
    with Store.open(store_target) as store, progress_bar("importing", total) as advance:
        report = store.import_study(study, progress=advance)
    return report.counts


def register(app: typer.Typer) -> None:
    """Add this module's commands to the ``pluralis`` Typer app.

    Example
    -------
    >>> app = typer.Typer()
    >>> register(app)
    >>> [c.name for c in app.registered_commands]
    ['import', 'export', 'validate', 'info', 'generate']
    """

    @app.command("import")
    @handle_errors
    def import_(
        source: str = typer.Argument(
            ...,
            help="PRISM folder, parquet folder, Arena/Community-Alignment file, or hf://HannahRoseKirk/prism-alignment",
        ),
        store: str = typer.Option("pluralis.sqlite", "--store", "-s", help="SQLite file or database URL"),
        format: str = typer.Option(None, "--format", "-f", help="prism | parquet | arena | community_alignment | hf"),
        hf_cache: Path | None = typer.Option(None, "--hf-cache", help=HF_CACHE_HELP),
    ):
        """Validate SOURCE and import it into the store in one transaction."""
        study = load_study(source, format=format, hf_cache=hf_cache)
        if study.utterances and not study.survey:
            raise ConfigError(
                f"{source}: rated responses without a survey (e.g. a wide table) cannot go into the store; "
                "import the PRISM folder it came from"
            )
        counts = _import(study, store)
        console.print(counts_table(f"imported into {store}", counts))

    @app.command("export")
    @handle_errors
    def export(
        out: Path = typer.Argument(
            ..., help="output folder; a file for --format arena (.jsonl) or wide (.parquet, .csv or .jsonl)"
        ),
        store: str = typer.Option("pluralis.sqlite", "--store", "-s", help="SQLite file or database URL"),
        format: str = typer.Option(
            "prism", "--format", "-f", help="prism | parquet | wide (one row per interaction) | arena"
        ),
    ):
        """Export the store as PRISM files, parquet tables, a wide table or Arena battles."""
        if format not in ("prism", "parquet", "wide", "arena"):
            raise ConfigError(f"--format must be prism, parquet, wide or arena, got {format!r}")
        study = load_study(store, format="store")
        if format == "arena":
            n = write_arena(study.comparisons, out)
            console.print(f"wrote {n:,} battles to {out}")
            return
        paths = save_study(study, out, format=format)
        console.print(counts_table(f"exported to {out}", {k: str(v) for k, v in paths.items()}, "file"))

    @app.command("validate")
    @handle_errors
    def validate(
        source: str = typer.Argument(..., help="folder, file, store or hf://… to check"),
        format: str = typer.Option(None, "--format", "-f"),
        hf_cache: Path | None = typer.Option(None, "--hf-cache", help=HF_CACHE_HELP),
    ):
        """Check a source thoroughly; prints every problem with file, line and field."""
        study = load_study(source, format=format, hf_cache=hf_cache)
        console.print(f"[green]valid[/]: {source}")
        console.print(counts_table("records", study.counts()))

    @app.command("info")
    @handle_errors
    def info(
        source: str = typer.Argument("pluralis.sqlite", help="folder, file, store or hf://…"),
        format: str = typer.Option(None, "--format", "-f"),
        hf_cache: Path | None = typer.Option(None, "--hf-cache", help=HF_CACHE_HELP),
    ):
        """Counts by table and a demographics summary."""
        study = load_study(source, format=format, hf_cache=hf_cache)
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
