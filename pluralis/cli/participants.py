"""``pluralis participants ...``: operations on a study's participants (payments, withdrawal, QC, failures)."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.markup import escape
from rich.table import Table

from pluralis.cli._common import console, handle_errors

STORE_HELP = "SQLite file or database URL of the study (what `pluralis serve --db` used)."


def _open(store: str):
    from pluralis.store import Store

    return Store.open(store, create=False)


def build_participants_app() -> typer.Typer:
    """The ``pluralis participants`` command group.

    Example
    -------
    >>> from typer.testing import CliRunner
    >>> out = CliRunner().invoke(build_participants_app(), ["--help"]).output
    >>> all(c in out for c in ("delete", "payments", "qc", "failures"))
    True
    """
    app = typer.Typer(
        help="A study's participants: payment matching, withdrawal, quality control, model failures.",
        no_args_is_help=True,
    )

    @app.command("payments")
    @handle_errors
    def payments_cmd(
        store: str = typer.Option(..., "--store", "-s", help=STORE_HELP),
        out: Path = typer.Option(..., "--out", "-o", help="CSV file to write."),
        study_id: str | None = typer.Option(None, "--study-id", help="Only this study's participants."),
        param: list[str] | None = typer.Option(
            None, "--param", help="URL parameter columns, in order (default: every one captured). Repeatable."
        ),
    ) -> None:
        """Export recruitment ids (PROLIFIC_PID, ...) with status and completion code, for payment matching."""
        from pluralis.store.participants import write_payments_csv

        with _open(store) as st:
            n = write_payments_csv(st, out, study_id=study_id, params=param or None)
        console.print(f"wrote {n:,} participants to {escape(str(out))}")

    @app.command("delete")
    @handle_errors
    def delete_cmd(
        user_id: str = typer.Argument(..., help="The participant's user_id."),
        store: str = typer.Option(..., "--store", "-s", help=STORE_HELP),
        reason: str = typer.Option("withdrawal", help="withdrawal | duplicate | test | quality | other (audited)."),
        yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation."),
    ) -> None:
        """Delete a participant's data everywhere in the store (one transaction) and log it in collect_audit."""
        from pluralis.store.participants import delete_participant

        if not yes and not typer.confirm(f"Delete every record of participant {user_id!r}? This cannot be undone"):
            raise typer.Exit(code=1)
        with _open(store) as st:
            report = delete_participant(st, user_id, reason=reason)
        table = Table(title=f"deleted participant {escape(user_id)}", header_style="bold")
        table.add_column("table")
        table.add_column("rows", justify="right")
        for name, n in report.rows.items():
            table.add_row(name, f"{n:,}")
        console.print(table)

    @app.command("qc")
    @handle_errors
    def qc_cmd(
        store: str = typer.Option(..., "--store", "-s", help=STORE_HELP),
        study: str | None = typer.Option(
            None, "--study", help="Study definition: its completion code, quota, [quality] and attention checks."
        ),
        prolific: Path | None = typer.Option(None, "--prolific", help="Prolific's submissions export (CSV)."),
        out: Path | None = typer.Option(None, "--out", "-o", help="Write the full table (CSV)."),
        study_id: str | None = typer.Option(None, "--study-id", help="Only this study's participants."),
        prism: bool = typer.Option(False, "--prism", help="PRISM's parameters as coded (its code, bonus windows)."),
    ) -> None:
        """Quality control as PRISM did it (spec §8.1): signals, actions and inclusion per participant."""
        from pluralis.collect.quality import QCParams, quality_control, submissions_from_sessions
        from pluralis.collect.recruitment import read_prolific_export
        from pluralis.store.participants import sessions_overview

        config = None
        if study is not None:
            from pluralis.collect.config import load_study_config

            config = load_study_config(study)
            study_id = study_id or config.study.id
        params = QCParams.prism() if prism else (QCParams.for_study(config) if config is not None else QCParams())
        with _open(store) as st:
            records = st.export_study(metadata=False)
            sessions = sessions_overview(st, study_id=study_id)
        if study_id is not None:
            users = {p.user_id for p in records.survey if p.study_id == study_id} | {s["user_id"] for s in sessions}
            records.survey = [p for p in records.survey if p.user_id in users]
            records.conversations = [c for c in records.conversations if c.user_id in users]
            records.utterances = [u for u in records.utterances if u.user_id in users]
        id_param = config.recruitment.external_id_param if config is not None else "PROLIFIC_PID"
        submissions = None
        if sessions or prolific is not None:
            submissions = submissions_from_sessions(
                sessions, read_prolific_export(prolific) if prolific else None, id_param=id_param
            )
        table = quality_control(records, submissions, params=params, config=config)
        if out is not None:
            out.parent.mkdir(parents=True, exist_ok=True)
            table.to_csv(out, index=False)
        shown = Table(title=f"quality control ({len(table):,} submissions)", header_style="bold")
        for col in ("submission", "user_id", "status", "action", "include", "Q", "R", "T", "I", "reasons"):
            shown.add_column(col, justify="right" if col in ("Q", "R", "T", "I", "include") else "left")
        for r in table.to_dict("records"):
            shown.add_row(
                escape(str(r["submission"])),
                escape(str(r["user_id"] or "")),
                r["status"],
                r["action"],
                str(r["include_flag"]),
                str(r["n_conversations"]),
                str(r["reject"]),
                str(r["return"]),
                str(r["investigate"]),
                escape(r["reasons"]),
            )
        console.print(shown)
        counts = table["action"].value_counts().to_dict()
        console.print("actions: " + ", ".join(f"{k} {v}" for k, v in counts.items()))
        if out is not None:
            console.print(f"wrote {escape(str(out))}")

    @app.command("failures")
    @handle_errors
    def failures_cmd(
        store: str = typer.Option(..., "--store", "-s", help=STORE_HELP),
        out: Path = typer.Option(
            ..., "--out", "-o", help="A .jsonl file, or a folder (e.g. a PRISM export) to write failures.jsonl in."
        ),
    ) -> None:
        """Export every failed or timed-out model call (model, time, error kind, participant, conversation)."""
        from pluralis.store.participants import failures, write_failures

        with _open(store) as st:
            path = write_failures(st, out)
            n = len(failures(st))
        console.print(f"wrote {n:,} model failures to {escape(str(path))}")

    @app.command("audit")
    @handle_errors
    def audit_cmd(store: str = typer.Option(..., "--store", "-s", help=STORE_HELP)) -> None:
        """Show the audit log (deletions: what and when, never whose)."""
        from pluralis.store.participants import audit_log

        with _open(store) as st:
            rows = audit_log(st)
        if not rows:
            console.print("the audit log is empty")
            return
        table = Table(title="audit log", header_style="bold")
        for col in ("at", "action", "study", "detail"):
            table.add_column(col)
        for r in rows:
            table.add_row(r["at"], r["action"], escape(str(r["study_id"] or "")), escape(str(r["detail"])))
        console.print(table)

    return app


def register(app: typer.Typer) -> None:
    """Add the ``participants`` sub-command group to the ``pluralis`` app.

    Example
    -------
    >>> root = typer.Typer()
    >>> register(root)
    >>> [g.name for g in root.registered_groups]
    ['participants']
    """
    app.add_typer(build_participants_app(), name="participants")


__all__ = ["build_participants_app", "register"]
