"""``pluralis align``: fine-tune and steer models on a group's feedback, then measure whose preferences they learned."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer

from pluralis.cli._common import console, err_console, handle_errors
from pluralis.errors import ConfigError


def _value(text: str) -> Any:
    """``--set`` values: JSON when it parses (numbers, true/false, null, lists), else the string."""
    try:
        return json.loads(text)
    except ValueError:
        return text


def parse_settings(items: list[str] | None) -> dict[str, Any]:
    """``["steps=4", "bf16=false"]`` → ``{"steps": 4, "bf16": False}``.

    Example
    -------
    >>> parse_settings(["steps=4", "bf16=false", "base_model=smollm2"])
    {'steps': 4, 'bf16': False, 'base_model': 'smollm2'}
    """
    out: dict[str, Any] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--set {item!r}: expected KEY=VALUE")
        out[key.strip().replace("-", "_")] = _value(value.strip())
    return out


def _split(value: str | None) -> list[str] | None:
    return [v.strip() for v in value.split(",") if v.strip()] if value else None


def build_align_app() -> typer.Typer:
    """The ``align`` command group.

    Example
    -------
    >>> from typer.testing import CliRunner
    >>> out = CliRunner().invoke(build_align_app(), ["--help"]).output
    >>> all(c in out for c in ("pairs", "train", "eval", "run"))
    True
    """
    app = typer.Typer(
        help="Align models on a group's feedback (DPO, best-of-n, GRPO) and measure whose gain.",
        no_args_is_help=True,
    )

    @app.command("pairs")
    @handle_errors
    def pairs_cmd(
        data: str = typer.Argument(
            ..., help="A study: PRISM folder, parquet, store, Arena / Community-Alignment file."
        ),
        out: Path = typer.Option(..., "--out", "-o", help="Output folder (one subfolder per --group when several)."),
        group: list[str] = typer.Option([], "--group", "-g", help="A group, e.g. gender=Female. Repeatable."),
        mix: list[str] = typer.Option(
            [], "--mix", help="Mixture component GROUP:SHARE, e.g. gender=Female:0.7. Repeatable."
        ),
        size: int | None = typer.Option(None, "--size", help="Training pairs of a mixture (fixed total)."),
        labels: str = typer.Option("binary", help="binary | graded (margin levels)."),
        disagreement: str = typer.Option("keep", help="keep | majority | drop-contested."),
        eval_fraction: float = typer.Option(0.2, help="Share of participants held out (participant-disjoint)."),
        source: str = typer.Option("auto", help="auto | ratings | comparisons."),
        turns: str = typer.Option("all", help="all | openers."),
        context: str = typer.Option("conversation", help="conversation (earlier turns in the prompt) | turn."),
        tie_threshold: float | None = typer.Option(None, help="Score difference counted as a tie (default 5)."),
        seed: int = typer.Option(0, help="Seed of the split and the mixture draw."),
        hf: bool = typer.Option(True, "--hf/--no-hf", help="Also write a Hugging Face datasets folder."),
    ) -> None:
        """Preference pairs (TRL prompt/chosen/rejected) for one group, several, or a fixed-composition mixture."""
        from pluralis.align.pairs import build_preference_data, parse_group, study_pairs
        from pluralis.data import load_study
        from pluralis.learn.pairs import DEFAULT_SURVEY_COLUMNS

        if group and mix:
            raise ConfigError("give --group or --mix, not both")
        if size is not None and not mix:
            raise ConfigError("--size sets the total of a --mix mixture")
        specs = [parse_group(g) for g in group]
        study = load_study(data)
        frames = study.frames()
        cols = None
        wanted = [g.column for g in specs] + [m.partition("=")[0] for m in mix]
        if len(frames.survey):
            cols = [c for c in dict.fromkeys([*DEFAULT_SURVEY_COLUMNS, *wanted]) if c in frames.survey.columns]
            from pluralis.ranking.subgroups import resolve_field

            for c in wanted:
                if c not in frames.survey.columns:
                    real = resolve_field(c, frames.survey)
                    raise ConfigError(f"--group/--mix field {c!r}: the survey calls it {real!r}")
        pairs = study_pairs(
            frames,
            source=source,  # type: ignore[arg-type]
            tie_threshold=tie_threshold,
            turns=turns,  # type: ignore[arg-type]
            context=context,  # type: ignore[arg-type]
            survey_columns=cols,
        )
        jobs: list[tuple[Path, dict]] = []
        common = {"labels": labels, "disagreement": disagreement, "eval_fraction": eval_fraction, "seed": seed}
        strata = specs[0].column if specs else (mix[0].partition("=")[0] if mix else None)
        if mix:
            jobs.append((out, {"mixture": mix, "total": size}))
        elif len(specs) > 1:
            jobs += [(out / g.slug, {"group": g}) for g in specs]
        else:
            jobs.append((out, {"group": specs[0] if specs else None}))
        for folder, kw in jobs:
            d = build_preference_data(None, pairs=pairs, strata=strata, **common, **kw)  # type: ignore[arg-type]
            d.settings["study"] = str(data)
            d.write(folder, hf=hf)
            n = d.counts()
            console.print(
                f"{folder}: {n['train_pairs']:,} train pairs ({n['train_participants']:,} participants), "
                f"{n['eval_pairs']:,} eval pairs ({n['eval_participants']:,} held-out participants)"
            )
            comp = d.composition()
            if len(comp) and mix:
                console.print(comp[comp["split"] == "train"].to_string(index=False))

    @app.command("train")
    @handle_errors
    def train_cmd(
        pairs: Path = typer.Argument(..., help="A folder written by `pluralis align pairs` (or a TRL JSONL file)."),
        aligner: str = typer.Option("dpo", "--aligner", "-a", help="dpo | best_of_n | grpo."),
        out: Path = typer.Option(..., "--out", "-o", help="Output folder of the aligned model."),
        base: str = typer.Option("smollm2", help="Base model: smollm2, a model folder or a .gguf file."),
        device: str = typer.Option("auto", help="auto | cpu | cuda (bf16 on GPUs that support it)."),
        steps: int | None = typer.Option(None, help="Optimizer steps (DPO/GRPO; default: one epoch)."),
        setting: list[str] = typer.Option([], "--set", help="Aligner option KEY=VALUE (see `align aligners`)."),
    ) -> None:
        """Train (or prepare) an aligned model; the folder is servable with `pluralis llm serve --model NAME=OUT`."""
        from pluralis.align.pairs import PreferenceData
        from pluralis.align.registry import aligner_options, get_aligner

        opts = {"base_model": base, "device": device, **parse_settings(setting)}
        if steps is not None:
            if "steps" not in aligner_options(aligner):
                raise ConfigError(f"--steps does not apply to {aligner}")
            opts["steps"] = steps
        data = PreferenceData.read(pairs)
        err_console.print(f"{aligner}: {len(data.train):,} training pairs from {pairs}")
        model = get_aligner(aligner, **opts).fit(data.train, out, data_settings=data.settings)
        m = model.manifest.get("metrics", {})
        if m.get("steps"):
            console.print(
                f"{out}: {m['steps']} steps, mean {m.get('mean_step_s') or 0:.1f} s/step, "
                f"{m.get('tokens_per_s') or 0:.0f} tokens/s, loss {m.get('train_loss', float('nan')):.4f}"
            )
        console.print(f"serve it: pluralis llm serve --model {out.name}={out}")

    @app.command("aligners")
    def aligners_cmd() -> None:
        """List the aligners and their options (defaults)."""
        from pluralis.align.registry import aligner_options, available_aligners

        for name in sorted(available_aligners()):
            opts = ", ".join(f"{k}={v!r}" for k, v in aligner_options(name).items())
            console.print(f"[bold]{name}[/]: {opts}", highlight=False)

    @app.command("eval")
    @handle_errors
    def eval_cmd(
        pairs: Path = typer.Option(..., "--pairs", "-p", help="Preference data folder (its eval split judges)."),
        model: list[str] = typer.Option(
            ..., "--model", "-m", help="NAME=REF: aligned folder, model folder, or URL#served-name. Repeatable."
        ),
        by: str = typer.Option(..., "--by", help="Participant field of the evaluation groups (e.g. gender)."),
        out: Path = typer.Option(Path("align-eval"), "--out", "-o", help="Output folder (CSV, plots)."),
        base: str = typer.Option(
            "smollm2", help="Base model reference (the comparison every model is judged against)."
        ),
        groups: str | None = typer.Option(None, help="Evaluation groups, comma-separated (default: all)."),
        n_prompts: int = typer.Option(20, help="Held-out prompts."),
        max_tokens: int = typer.Option(64, help="New tokens per answer."),
        temperature: float = typer.Option(0.0, help="Answer sampling temperature (0 = greedy)."),
        judge: list[str] = typer.Option(["reward"], "--judge", help="reward | persona. Repeatable."),
        judge_model: str | None = typer.Option(None, help="Persona judges' LLM: URL#model (OpenAI-compatible)."),
        personas: int = typer.Option(20, help="Persona judges (personas generated with --seed)."),
        persona_by: str | None = typer.Option(None, help="Persona field matching --by (default: the same name)."),
        boot: int = typer.Option(200, "--bootstrap", help="Bootstrap draws (participants × prompts)."),
        device: str = typer.Option("auto", help="auto | cpu | cuda."),
        seed: int = typer.Option(0, help="Seed (prompt draw, bootstrap, personas)."),
    ) -> None:
        """Win rate of each model against the base on held-out prompts, per evaluation group, with bootstrap CIs."""
        from pluralis.align.evaluate import evaluate_models, parse_model_ref
        from pluralis.align.pairs import PreferenceData
        from pluralis.cli._common import progress_bar

        models = dict(parse_model_ref(m) for m in model)
        data = PreferenceData.read(pairs)
        people, cfg = None, None
        if "persona" in judge:
            if not judge_model:
                raise ConfigError("--judge persona needs --judge-model URL#model")
            from pluralis.llm.types import ModelSpec
            from pluralis.simulate.generator import generate_personas
            from pluralis.simulate.roleplay import RolePlayConfig

            url, _, name = judge_model.partition("#")
            cfg = RolePlayConfig(ModelSpec(name=name or "judge", base_url=url, system_prompt=None), max_retries=1)
            people = generate_personas(personas, seed=seed).data
            if persona_by and persona_by != by:
                people = people.assign(**{by: people[persona_by]})
        with progress_bar("generating answers", len(models) + 1) as advance:
            res = evaluate_models(
                models,
                data,
                base=base,
                by=by,
                groups=_split(groups),
                n_prompts=n_prompts,
                judges=judge,
                personas=people,
                persona_config=cfg,
                max_tokens=max_tokens,
                temperature=temperature,
                device=device,
                n_boot=boot,
                seed=seed,
                progress=lambda name: advance(1),
            )
        files = res.write(out)
        for j in sorted(set(res.table["judge"])):
            console.print(f"[bold]gain over base (pp), {j} judges[/]")
            console.print(res.matrix(j).round(1).to_string())
        console.print(f"wrote {', '.join(sorted(p.name for p in files.values()))} to {out}")

    @app.command("run")
    @handle_errors
    def run_cmd(
        experiment: Path = typer.Argument(..., help="Experiment TOML (see pluralis.align.experiments)."),
        out: Path | None = typer.Option(None, "--out", "-o", help="Output folder (default: the file's `out`)."),
        device: str | None = typer.Option(None, help="cpu | cuda | auto (overrides the file)."),
        resume: bool = typer.Option(True, "--resume/--restart", help="Skip cells finished by an earlier run."),
    ) -> None:
        """Run a whole design grid: data → align → evaluate for every cell; resumable; writes a report section."""
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        from pluralis.align.experiments import experiment_cells, grid_summary, load_experiment, run_experiment

        exp = load_experiment(experiment)
        n = len(experiment_cells(exp))
        with Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=err_console,
        ) as bar:
            task = bar.add_task(exp.name, total=n)

            def report(message: str, done: int, total: int) -> None:
                bar.update(task, completed=done, description=message[:70])

            res = run_experiment(exp, out, device=device, resume=resume, progress=report)
        if res.skipped:
            console.print(f"{len(res.skipped)} cell(s) finished earlier were kept")
        if len(res.table):
            console.print(grid_summary(res.table).round(1).to_string(index=False))
        for name, path in sorted(res.files.items()):
            if name in ("grid", "report"):
                console.print(f"{name}: {path}")

    @app.command("candidates")
    @handle_errors
    def candidates_cmd(
        model: str = typer.Option("simulated", help="simulated (offline stand-in) or URL#model of a chat server."),
        personas: int = typer.Option(200, help="Persona raters."),
        prompts: int = typer.Option(16, help="Value-laden prompts (of pluralis.align.candidates.VALUE_PROMPTS)."),
        k: int = typer.Option(4, help="Candidates per prompt."),
        out: Path | None = typer.Option(None, "--out", "-o", help="CSV file for the table."),
        seed: int = typer.Option(0, help="Seed."),
    ) -> None:
        """Standard vs NC candidate sampling: how well each lets a model recover persona raters' preferences."""
        from pluralis.align.candidates import SimulatedCandidateModel, candidate_experiment
        from pluralis.llm.types import ModelSpec
        from pluralis.simulate.generator import generate_personas

        if model == "simulated":
            m: Any = SimulatedCandidateModel(seed=seed)
        else:
            url, _, name = model.partition("#")
            m = ModelSpec(name=name or "model", base_url=url, system_prompt=None)
        table = candidate_experiment(m, generate_personas(personas, seed=seed), k=k, n_prompts=prompts, seed=seed)
        console.print(table.round(3).to_string(index=False))
        if out is not None:
            out.parent.mkdir(parents=True, exist_ok=True)
            table.to_csv(out, index=False)

    return app


def register(app: typer.Typer) -> None:
    """Add the ``align`` sub-command group to the ``pluralis`` app.

    Example
    -------
    >>> root = typer.Typer()
    >>> register(root)
    >>> [g.name for g in root.registered_groups]
    ['align']
    """
    app.add_typer(build_align_app(), name="align")
