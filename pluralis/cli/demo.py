"""``pluralis demo``: the main job on embedded defaults."""

from __future__ import annotations

from pathlib import Path

import typer

from pluralis.cli._common import breakdown_table, console, counts_table, handle_errors, progress_bar


def register(app: typer.Typer) -> None:
    @app.command("demo")
    @handle_errors
    def demo(
        out: Path = typer.Option(Path("pluralis-demo"), "--out", "-o", help="folder for the store and outputs"),
        participants: int = typer.Option(300, "--participants", "-n", min=3),
        seed: int = typer.Option(0, "--seed"),
    ):
        """Generate a synthetic PRISM-protocol study, store it in SQLite and summarise it."""
        from pluralis.data.synthetic import generate_study
        from pluralis.store import Store

        out.mkdir(parents=True, exist_ok=True)
        db = out / "study.sqlite"
        if db.exists():
            for suffix in ("", "-wal", "-shm"):
                Path(str(db) + suffix).unlink(missing_ok=True)
        with console.status(f"simulating {participants} participants"):
            study = generate_study(participants, seed=seed)
        with Store.open(db) as store, progress_bar("storing", sum(study.counts().values())) as advance:
            store.import_study(study, progress=advance)
        summary = study.summary()
        console.print(counts_table(f"synthetic study in {db}", summary.pop("counts")))
        for name in ("gender", "age", "region", "conversation_type"):
            console.print(breakdown_table(name, summary[name]))
        console.print(f"[bold green]done[/]: {db}")
