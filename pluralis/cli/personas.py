"""``pluralis personas generate|show``, ``pluralis simulate`` and ``pluralis fidelity``: synthetic participants."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import typer

from pluralis.cli._common import console, err_console, handle_errors, progress_bar
from pluralis.errors import ConfigError

QUOTA_HELP = (
    "target margin, VARIABLE=CATEGORY:SHARE,... with VARIABLE age, gender or ethnicity (repeatable), "
    "e.g. --quota 'gender=Female:0.5,Male:0.5'; the census joint table is raked to it"
)


def _panel(
    personas: Path | None,
    n: int,
    country: list[str],
    seed: int,
    executor: str,
    workers: int | None,
    quota: list[str] | None = None,
):
    from pluralis.simulate.generator import DEFAULT_CHUNK_SIZE, PersonaPanel, generate_personas, parse_quotas

    if personas is not None:
        if quota:
            raise ConfigError("--quota applies to generated personas; it cannot be combined with --personas")
        return PersonaPanel.read_parquet(personas)
    quotas = parse_quotas(quota or [])
    chunks = -(-n // DEFAULT_CHUNK_SIZE) * max(1, len(country))
    with progress_bar("generating personas", chunks) as advance:
        return generate_personas(
            n, country=country, seed=seed, executor=executor, workers=workers, progress=advance, quotas=quotas or None
        )


def _tvd_table(panel):
    from rich.table import Table

    t = Table(title="panel vs census: total variation distance (percentage points)", header_style="bold")
    for c in ("country", "n", "joint", "age", "gender", "ethnicity"):
        t.add_column(c, justify="right" if c != "country" else "left")
    sizes = panel.data["country"].value_counts()
    for country, d in panel.census_tvd().items():
        t.add_row(
            country,
            f"{int(sizes.get(country, 0)):,}",
            *(f"{100 * d[k]:.3f}" for k in ("joint", "age", "gender", "ethnicity")),
        )
    return t


def build_personas_app() -> typer.Typer:
    """The ``personas`` command group.

    Returns
    -------
    typer.Typer

    Example
    -------
    >>> from typer.testing import CliRunner
    >>> "generate" in CliRunner().invoke(build_personas_app(), ["--help"]).output
    True
    """
    personas_app = typer.Typer(
        help="Census-grounded synthetic personas (PERSONA): generate, inspect, export.", no_args_is_help=True
    )

    @personas_app.command("generate")
    @handle_errors
    def generate(
        n: int = typer.Option(1000, "-n", "--n", min=1, help="number of personas (split evenly over countries)"),
        country: list[str] = typer.Option(["US"], "--country", "-c", help="US or UK (repeatable)"),
        seed: int = typer.Option(0, "--seed", min=0),
        sampling: str = typer.Option("quota", "--sampling", help="quota (census margins met up to rounding) | random"),
        executor: str = typer.Option("auto", "--executor", help="auto | serial | process (local pool) | ray"),
        workers: int | None = typer.Option(None, "--workers", min=1, help="local worker processes"),
        ray_address: str | None = typer.Option(None, "--ray-address", help="Ray cluster address (default: local Ray)"),
        quota: list[str] | None = typer.Option(None, "--quota", "-q", help=QUOTA_HELP),
        out: Path | None = typer.Option(
            None, "--out", "-o", help=".parquet (panel), .jsonl (PRISM survey records) or .csv (survey frame)"
        ),
    ):
        """Generate census-grounded personas; print their fit to the census and optionally write them."""
        from pluralis.simulate.generator import DEFAULT_CHUNK_SIZE, generate_personas, parse_quotas

        if out is not None and out.suffix.lower() not in (".parquet", ".pq", ".jsonl", ".csv"):
            raise ConfigError(f"--out must end in .parquet, .jsonl or .csv, got {out.name!r}")
        quotas = parse_quotas(quota or [])
        start = time.perf_counter()
        chunks = sum(-(-k // DEFAULT_CHUNK_SIZE) for k in [n // max(1, len(country)) + 1] * max(1, len(country)))
        with progress_bar("generating personas", chunks) as advance:
            panel = generate_personas(
                n,
                country=country,
                seed=seed,
                sampling=sampling,
                executor=executor,
                workers=workers,
                progress=advance,
                ray_address=ray_address,
                quotas=quotas or None,
            )
        took = time.perf_counter() - start
        console.print(_tvd_table(panel))
        if quotas:
            err_console.print("margins raked to the --quota targets; the distances above are to the census itself")
        err_console.print(f"{len(panel):,} personas in {took:.2f} s ({executor} executor)")
        if out is not None:
            suffix = out.suffix.lower()
            if suffix in (".parquet", ".pq"):
                panel.to_parquet(out)
            elif suffix == ".jsonl":
                if len(panel) > 200_000:
                    raise ConfigError("write at most 200,000 personas as JSONL records; use .parquet for more")
                from pluralis.data.jsonio import canonical_json

                out.parent.mkdir(parents=True, exist_ok=True)
                tmp = out.with_name(out.name + ".tmp")
                with tmp.open("w", encoding="utf-8") as f:
                    for p in panel.to_participants():
                        f.write(canonical_json(p.to_json_dict()) + "\n")
                tmp.replace(out)
            elif suffix == ".csv":
                out.parent.mkdir(parents=True, exist_ok=True)
                panel.survey_frame().to_csv(out, index=False)
            else:
                raise ConfigError(f"--out must end in .parquet, .jsonl or .csv, got {out.name!r}")
            console.print(f"wrote {out}")

    @personas_app.command("show")
    @handle_errors
    def show(
        personas: Path = typer.Argument(..., help="a panel written by `pluralis personas generate --out X.parquet`"),
        k: int = typer.Option(3, "-k", min=1, help="how many personas to show"),
        start: int = typer.Option(0, "--start", min=0),
    ):
        """Show personas with their rendered self-description and constitution."""
        from pluralis.simulate.generator import PersonaPanel

        panel = PersonaPanel.read_parquet(personas)
        sub = panel.subset(slice(start, start + k))
        texts = sub.texts()
        for row, t in zip(sub.data.to_dict("records"), texts.to_dict("records")):
            console.rule(f"{row['persona_id']} ({row['country']})")
            console.print(
                f"{row['age']}, {row['gender']}, {row['census_group']}; {row['education']}; "
                f"{row['employment_status']}; {row['religion']}; {row['region']}"
            )
            console.print(f"[bold]self-description:[/] {t['self_description']}")
            console.print(f"[bold]constitution:[/] {t['constitution']}")

    return personas_app


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
    >>> [c.name for c in app.registered_commands], [g.name for g in app.registered_groups]
    (['simulate', 'fidelity'], ['personas'])
    """
    app.add_typer(build_personas_app(), name="personas")

    @app.command("simulate")
    @handle_errors
    def simulate(
        out: Path | None = typer.Option(
            None, "--out", "-o", help="write PRISM files (survey/conversations/utterances) here"
        ),
        store: str | None = typer.Option(None, "--store", "-s", help="import into this store (SQLite file or URL)"),
        personas: Path | None = typer.Option(None, "--personas", "-p", help="panel parquet (default: generate one)"),
        n: int = typer.Option(200, "-n", "--n", min=1, help="personas to generate (without --personas)"),
        country: list[str] = typer.Option(["US", "UK"], "--country", "-c", help="US or UK (repeatable)"),
        quota: list[str] | None = typer.Option(None, "--quota", "-q", help=QUOTA_HELP),
        seed: int = typer.Option(0, "--seed", min=0),
        study: Path | None = typer.Option(
            None, "--study", help="study file (protocol settings; `pluralis serve` format)"
        ),
        models: Path | None = typer.Option(
            None, "--models", help="TOML/JSON model specs: real LLMs answer (default: simulated models)"
        ),
        conversations_per_type: int | None = typer.Option(None, "--conversations-per-type", min=0),
        roleplay_base_url: str | None = typer.Option(
            None, "--roleplay-base-url", help="LLM endpoint that role-plays the personas"
        ),
        roleplay_model: str | None = typer.Option(None, "--roleplay-model", help="model id at the role-play endpoint"),
        roleplay_log: Path | None = typer.Option(
            None, "--roleplay-log", help="JSONL log of role-play calls (tokens, cost)"
        ),
        roleplay_format: str = typer.Option(
            "auto",
            "--roleplay-format",
            help="auto (probe the endpoint) | json_schema | json_object_schema (llama-cpp-python) | json_object | none",
        ),
        max_concurrency: int = typer.Option(8, "--max-concurrency", min=1, help="LLM calls in flight"),
        executor: str = typer.Option("auto", "--executor", help="auto | serial | process | ray"),
        workers: int | None = typer.Option(None, "--workers", min=1),
    ):
        """Simulate a PRISM-protocol study: personas take the collection protocol (source = simulated)."""
        from pluralis.simulate.study import simulate_study

        if out is None and store is None:
            raise ConfigError("give --out (PRISM files) and/or --store (database) for the simulated study")
        kwargs: dict = {}  # the input files first: a bad one fails before the panel is generated
        if study is not None:
            from pluralis.collect.config import load_study_config

            kwargs["study"] = load_study_config(study)
        if models is not None:
            from pluralis.llm import load_model_specs

            kwargs["models"] = load_model_specs(models)
        if roleplay_base_url:
            from pluralis.llm import ModelSpec
            from pluralis.simulate.roleplay import CostLog, RolePlayConfig

            if not roleplay_model:
                raise ConfigError("--roleplay-base-url needs --roleplay-model")
            kwargs["roleplay"] = RolePlayConfig(
                ModelSpec(name=roleplay_model, base_url=roleplay_base_url, system_prompt=None),
                max_concurrency=max_concurrency,
                response_format=None if roleplay_format == "none" else roleplay_format,
            )
            kwargs["cost_log"] = CostLog(roleplay_log)
        panel = _panel(personas, n, country, seed, executor, workers, quota)
        with progress_bar("simulating participants", len(panel)) as advance:
            res = simulate_study(
                panel,
                seed=seed,
                conversations_per_type=conversations_per_type,
                executor=executor,
                workers=workers,
                progress=advance,
                max_concurrency=max_concurrency,
                **kwargs,
            )
        counts = res.study.counts()
        console.print(
            f"simulated {counts['survey']:,} participants, {counts['conversations']:,} conversations, "
            f"{counts['utterances']:,} ratings ({res.config['actor']}; {res.stats['fallbacks']} fallback actions)"
        )
        if "cost_log" in kwargs:
            console.print(f"role-play calls: {kwargs['cost_log'].summary()}")
        if out is not None:
            from pluralis.data import save_study

            save_study(res.study, out)
            console.print(f"wrote PRISM files to {out}")
        if store is not None:
            from pluralis.store import Store

            with progress_bar("storing", sum(counts.values())) as advance, Store.open(store) as st:
                st.import_study(res.study, progress=advance)
            console.print(f"stored in {store}")

    @app.command("fidelity")
    @handle_errors
    def fidelity_cmd(
        simulated: str = typer.Argument(
            ..., help="simulated study (store, PRISM folder ...); with --replay: the human study"
        ),
        human: str | None = typer.Argument(None, help="human study to compare with"),
        by: list[str] | None = typer.Option(
            None, "--by", "-b", help="group field (repeatable; default gender, age, region)"
        ),
        method: str = typer.Option(
            "mean_score", "--method", "-m", help="mean_score, or a ranking method (prc, bt, ...)"
        ),
        replay: bool = typer.Option(False, "--replay", help="personas re-rate the human study's own responses"),
        seed: int = typer.Option(0, "--seed", min=0),
        min_ratings: int = typer.Option(30, "--min-ratings", min=1),
        all_prompts: bool = typer.Option(False, "--all-prompts", help="do not restrict to shared prompts"),
        out: Path | None = typer.Option(None, "--out", "-o", help="write the per-group table (.csv)"),
    ):
        """Compare simulated with human feedback per group: rating distributions and model rankings (Kendall's tau)."""
        from rich.table import Table

        from pluralis.pipelines.fidelity import fidelity
        from pluralis.simulate.replay import replay_ratings

        sim_data: Any
        if replay:
            human_data = simulated
            sim_data = replay_ratings(human_data, seed=seed)
        else:
            if human is None:
                raise ConfigError("give a simulated and a human study (or --replay with the human study)")
            sim_data, human_data = simulated, human
        fields = by or ["gender", "age", "location_special_region"]
        rep = fidelity(
            sim_data, human_data, by=fields, method=method, min_ratings=min_ratings, same_prompts=not all_prompts
        )
        t = Table(title=f"fidelity: simulated vs human ({method})", header_style="bold")
        for c in ("by", "group", "n sim", "n human", "mean sim", "mean human", "W1", "KS", "tau", "same top"):
            t.add_column(c, justify="left" if c in ("by", "group") else "right")
        table = rep.table()
        for r, tau in zip(table.itertuples(), table["kendall_tau"].to_numpy(dtype=float)):
            t.add_row(
                str(r.by),
                str(r.group),
                f"{r.n_simulated:,}",
                f"{r.n_human:,}",
                f"{r.mean_simulated:.1f}",
                f"{r.mean_human:.1f}",
                f"{r.wasserstein:.2f}",
                f"{r.ks:.3f}",
                "–" if tau != tau else f"{tau:.2f}",
                "yes" if r.same_top else "no",
            )
        console.print(t)
        for note in rep.notes[:10]:
            err_console.print(f"[dim]{note}[/]")
        console.print(
            f"mean Kendall's tau {rep.summary['mean_kendall_tau']:.2f}; mean W1 {rep.summary['mean_wasserstein']:.2f}"
        )
        if out is not None:
            out.parent.mkdir(parents=True, exist_ok=True)
            table.to_csv(out, index=False)
            console.print(f"wrote {out}")
