"""Data commands: import, export, validate, info, generate.

Every ``--format`` choice comes from the data-format registry (:mod:`pluralis.data.io.registry`),
so a newly registered format is importable, exportable and checkable without touching this file.
"""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from pluralis.cli._common import breakdown_table, console, counts_table, format_option, handle_errors, progress_bar
from pluralis.data import formats, get_format, load_study, save_study
from pluralis.data.io.participants import attach_participants, mapping_from_options, read_participants
from pluralis.data.study import Study
from pluralis.errors import ConfigError

HF_CACHE_HELP = "Hugging Face hub cache for hf:// sources (default: $HF_HUB_CACHE or ~/.cache/huggingface/hub)"
FORMAT_HELP = "data format (default: detected from SOURCE)"


def import_into_store(study: Study, target: str) -> dict[str, int]:
    """Write ``study`` into the store at ``target`` in one transaction, with a progress bar.

    Parameters
    ----------
    study
        the study to import.
    target
        a SQLite file or database URL (created and migrated as needed).

    Returns
    -------
    dict
        rows written per table.

    Example
    -------
    >>> import tempfile, os
    >>> from pluralis.data.synthetic import generate_study
    >>> import_into_store(generate_study(n_participants=2, seed=0), os.path.join(tempfile.mkdtemp(), "s.db"))["participants"]
    2
    """
    total = sum(study.counts().values())
    with progress_bar("importing", total) as advance:
        return save_study(study, target, format="store", progress=advance)


RATINGS_ROLES = ("participant", "item", "response", "score")


def parse_columns(pairs: list[str] | None) -> dict[str, str]:
    """``--column ROLE=COLUMN`` values as reader options (ratings tables).

    Parameters
    ----------
    pairs
        ``ROLE=COLUMN`` strings; ROLE is one of :data:`RATINGS_ROLES`.

    Returns
    -------
    dict
        role -> column name.

    Raises
    ------
    ConfigError
        a malformed pair or an unknown role (the known ones listed).

    Example
    -------
    >>> parse_columns(["participant=rater", "score=offensiveness"])
    {'participant': 'rater', 'score': 'offensiveness'}
    """
    out: dict[str, str] = {}
    for pair in pairs or ():
        role, sep, col = pair.partition("=")
        if not sep or not col.strip() or role.strip() not in RATINGS_ROLES:
            raise ConfigError(f"--column {pair!r}: expected ROLE=COLUMN with ROLE one of {', '.join(RATINGS_ROLES)}")
        out[role.strip()] = col.strip()
    return out


def load_with_participants(
    source: str,
    format: str | None,
    hf_cache: Path | None,
    participants: Path | None,
    id: str | None,
    fields: str | None,
    **options: object,
) -> Study:
    """Load SOURCE and join a participants table onto its comparisons (``--participants``).

    Parameters
    ----------
    source, format, hf_cache
        as in :func:`pluralis.data.load_study`.
    participants, id, fields
        the ``--participants`` table or mapping file, ``--id`` and ``--fields``
        (see :func:`pluralis.data.io.participants.mapping_from_options`).
    **options
        passed to the format's reader (``None`` values are dropped).

    Returns
    -------
    Study

    Raises
    ------
    ConfigError
        ``--id``/``--fields`` without ``--participants``, or participants for a source without comparisons.
    DataValidationError
        a bad participants table or mapping (file, line and field named).

    Example
    -------
    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (d / "b.csv").write_text("model_a,model_b,winner,judge\\nx,y,model_a,u1\\n")
    >>> _ = (d / "p.csv").write_text("judge,gender\\nu1,Female\\n")
    >>> s = load_with_participants(str(d / "b.csv"), None, None, d / "p.csv", "judge", "gender")
    >>> s.frames().survey.values.tolist()
    [['u1', 'Female']]
    """
    if participants is None:
        if id or fields:
            raise ConfigError("--id and --fields describe a --participants table; give --participants too")
        return load_study(source, format=format, hf_cache=hf_cache, **options)
    mapping = mapping_from_options(participants, id=id, fields=fields)
    assert mapping is not None
    people = read_participants(mapping)  # checked before the (possibly large) source is read
    study = load_study(source, format=format, hf_cache=hf_cache, **options)
    if not study.comparisons:
        raise ConfigError(
            f"{source}: --participants joins people to comparisons (annotators), but this source has none; "
            "PRISM sources carry their participants in survey.jsonl"
        )
    return attach_participants(study, people)


def register(app: typer.Typer) -> None:
    """Add this module's commands to the ``pluralis`` Typer app.

    Parameters
    ----------
    app
        the ``pluralis`` Typer app.

    Example
    -------
    >>> app = typer.Typer()
    >>> register(app)
    >>> [c.name for c in app.registered_commands]
    ['formats', 'import', 'export', 'validate', 'info', 'generate']
    """

    @app.command("formats")
    def formats_() -> None:
        """List the data formats Pluralis reads and writes (the choices of every --format)."""
        table = Table(title="data formats", show_header=True, header_style="bold")
        table.add_column("format")
        table.add_column("read / write")
        table.add_column("description")
        for fmt in formats():
            table.add_row(fmt.name, "read, write" if fmt.writable else "read", fmt.description)
        console.print(table)

    @app.command("import")
    @handle_errors
    def import_(
        source: str = typer.Argument(
            ...,
            help="PRISM folder, parquet folder, wide table, Arena/Community-Alignment file, store, or "
            "hf://HannahRoseKirk/prism-alignment (any registered format)",
        ),
        store: str = typer.Option("pluralis.sqlite", "--store", "-s", help="SQLite file or database URL"),
        format: str | None = format_option(help=FORMAT_HELP),
        hf_cache: Path | None = typer.Option(None, "--hf-cache", help=HF_CACHE_HELP),
        participants: Path | None = typer.Option(
            None,
            "--participants",
            "-P",
            help="participants table (.csv/.jsonl/.parquet) joined to the comparisons' annotators, "
            "or a .toml/.yaml mapping with a [participants] table (file, id, fields, rename)",
        ),
        id: str | None = typer.Option(
            None, "--id", help="participant-id column of the participants table (default user_id)"
        ),
        fields: str | None = typer.Option(
            None, "--fields", help="participant columns to keep, comma-separated (default: all)"
        ),
        column: list[str] | None = typer.Option(
            None,
            "--column",
            help="ratings tables (--format ratings): ROLE=COLUMN, ROLE one of participant, item, response, score "
            "(repeatable), e.g. --column participant=rater --column score=offensiveness",
        ),
        score_range: str | None = typer.Option(
            None, "--score-range", help="ratings tables: the scale as LOW,HIGH (default: inferred from the data)"
        ),
    ):
        """Validate SOURCE (and its participants) and import it into the store in one transaction.

        Example: pluralis import battles.csv --participants people.csv --id judge --fields gender,age
        """
        options = {"score_range": score_range, **parse_columns(column)}
        study = load_with_participants(source, format, hf_cache, participants, id, fields, **options)
        counts = import_into_store(study, store)
        console.print(counts_table(f"imported into {store}", counts))

    @app.command("export")
    @handle_errors
    def export(
        out: Path = typer.Argument(
            ..., help="output: a folder (prism, parquet), a file (wide: .parquet/.csv/.jsonl; arena: .jsonl), ..."
        ),
        store: str = typer.Option("pluralis.sqlite", "--store", "-s", help="SQLite file or database URL"),
        format: str = format_option("prism", writable=True, help="output format"),
    ):
        """Export the store in any writable format (PRISM files, parquet tables, a wide table, Arena battles, ...)."""
        study = load_study(store, format="store")
        written = save_study(study, out, format=format)
        console.print(counts_table(f"exported to {out}", {k: str(v) for k, v in written.items()}, "written"))

    @app.command("validate")
    @handle_errors
    def validate(
        source: str = typer.Argument(..., help="folder, file, store or hf://… to check"),
        format: str | None = format_option(help=FORMAT_HELP),
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
        format: str | None = format_option(help=FORMAT_HELP),
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
        format: str | None = format_option(
            writable=True, help="output format (default: store for a .sqlite/.db file or database URL, else prism)"
        ),
    ):
        """Generate a synthetic PRISM-shaped study with a known latent-preference model."""
        from pluralis.data.synthetic import generate_study

        with console.status(f"generating {participants} synthetic participants"):
            study = generate_study(participants, seed=seed)
        fmt = format or ("store" if get_format("store").sniff(out) else "prism")
        if fmt == "store":
            counts = import_into_store(study, out)
        else:
            save_study(study, out, format=fmt)
            counts = study.counts()
        console.print(counts_table(f"synthetic study -> {out}", counts))
