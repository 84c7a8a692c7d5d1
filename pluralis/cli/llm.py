"""``pluralis llm``: serve local models over an OpenAI-compatible API, and chat with any such server."""

from __future__ import annotations

import asyncio
import json

import typer

from pluralis.errors import PluralisError
from pluralis.llm import (
    ModelSpec,
    close_backends,
    generate_response_set,
    generate_samples,
    list_models,
    load_model_specs,
    nc_sample,
)
from pluralis.llm.nc import NCMethod


def _fail(e: Exception) -> None:
    typer.echo(f"error: {e}", err=True)
    raise typer.Exit(code=2)


def build_llm_app() -> typer.Typer:
    """The ``llm`` command group (``pluralis llm ...``, also ``python -m pluralis llm ...``).

    Returns
    -------
    typer.Typer
        the ``serve``, ``chat`` and ``models`` commands.

    Example
    -------
    >>> from typer.testing import CliRunner
    >>> "serve" in CliRunner().invoke(build_llm_app(), ["--help"]).output
    True
    """
    llm_app = typer.Typer(
        help="LLM backends: serve local models; chat with OpenAI-compatible servers.", no_args_is_help=True
    )

    @llm_app.command("serve")
    def serve_cmd(
        model: list[str] = typer.Option(
            ..., "--model", "-m", help="Model folder or .gguf file, optionally NAME=PATH. Repeatable."
        ),
        host: str = typer.Option("127.0.0.1", help="Address to listen on."),
        port: int = typer.Option(8000, help="Port (0 = pick a free one; the ready line shows it)."),
        backend: str = typer.Option("auto", help="auto | transformers | llama_cpp."),
        gguf_file: str | None = typer.Option(None, help="GGUF file inside a model folder (transformers)."),
        device: str | None = typer.Option(None, help="torch device (default: cuda if available, else cpu)."),
        dtype: str | None = typer.Option(None, help="float32 | float16 | bfloat16 | auto."),
        n_ctx: int = typer.Option(2048, help="Context size for llama_cpp models."),
        timeout: float = typer.Option(120.0, help="Seconds allowed for one generation."),
        api_key_env: str | None = typer.Option(None, help="Env var holding the API key clients must send."),
        log_level: str = typer.Option("warning", help="uvicorn log level."),
        max_batch: int = typer.Option(
            8, help="Most concurrent chats of a transformers model answered in one batched generate (1: none)."
        ),
        threads: int | None = typer.Option(
            None, help="CPU threads of each llama_cpp model (default: cores / number of llama_cpp models)."
        ),
        torch_threads: int | None = typer.Option(
            None, help="torch intra-op CPU threads (default: torch's; 1 is often faster on a busy, shared CPU)."
        ),
    ) -> None:
        """Serve local models at /v1/chat/completions and /v1/models (OpenAI-compatible)."""
        from pluralis.llm.server import api_key_from_env, serve, spec_for_path  # FastAPI + uvicorn: only to serve

        try:
            specs = []
            for item in model:
                label, sep, path = item.partition("=")
                name = label if sep else None
                path = path if sep else item
                specs.append(
                    spec_for_path(path, name=name, backend=backend, gguf_file=gguf_file, device=device, dtype=dtype)
                )
            serve(
                specs,
                host=host,
                port=port,
                api_key=api_key_from_env(api_key_env),
                timeout=timeout,
                n_ctx=n_ctx,
                log_level=log_level,
                max_batch=max_batch,
                n_threads=threads,
                torch_threads=torch_threads,
            )
        except PluralisError as e:
            _fail(e)

    @llm_app.command("chat")
    def chat_cmd(
        prompt: str = typer.Argument(..., help="The user message."),
        model: list[str] = typer.Option([], "--model", "-m", help="Model name on the server. Repeatable."),
        config: str | None = typer.Option(None, help="TOML/JSON file of model specs ([[models]])."),
        base_url: str | None = typer.Option(None, help="Server base URL, e.g. http://127.0.0.1:8000/v1."),
        api_key_env: str | None = typer.Option(None, help="Env var holding the API key."),
        system: str | None = typer.Option(None, help="System prompt (default: PRISM's BASE_HEADER)."),
        k: int | None = typer.Option(None, help="Query K models chosen at random (PRISM used 4)."),
        seed: int | None = typer.Option(None, help="Seed for choosing models."),
        samples: int = typer.Option(1, help="Samples per model (>1: PRISM later-turn style, one model)."),
        nc: int = typer.Option(0, help="Negatively-correlated sampling: K diverse candidates from one model."),
        nc_method: NCMethod = typer.Option("auto", help="How to draw the NC candidates."),
        temperature: float | None = typer.Option(None),
        max_tokens: int | None = typer.Option(None),
        timeout: float = typer.Option(30.0, help="Per-call timeout in seconds."),
        as_json: bool = typer.Option(False, "--json", help="Print the full result as JSON."),
    ) -> None:
        """Send one prompt to one or more models and print the responses (and failures)."""
        try:
            specs = load_model_specs(config) if config else []
            if model:
                known = {s.name: s for s in specs}
                specs = [known.get(m) or ModelSpec(name=m, base_url=base_url, api_key_env=api_key_env) for m in model]
            if not specs:
                raise PluralisError("give --model NAME (with --base-url) or --config FILE")
            update: dict = {}
            if system is not None:
                update["system_prompt"] = system or None
            if base_url:
                update["base_url"] = base_url
            specs = [s.model_copy(update=update) for s in specs]
            params = {k_: v for k_, v in (("temperature", temperature), ("max_tokens", max_tokens)) if v is not None}
            messages = [{"role": "user", "content": prompt}]

            async def run() -> dict:
                try:
                    if nc:
                        return (
                            await nc_sample(
                                specs[0], messages, k=nc, method=nc_method, params=params or None, timeout=timeout
                            )
                        ).model_dump()
                    if samples > 1:
                        return (
                            await generate_samples(
                                specs[0], messages, n=samples, params=params or None, timeout=timeout
                            )
                        ).model_dump()
                    return (
                        await generate_response_set(
                            specs, messages, k=k, rng=seed, params=params or None, timeout=timeout
                        )
                    ).model_dump()
                finally:
                    await close_backends()

            out = asyncio.run(run())
        except PluralisError as e:
            _fail(e)
            return
        if as_json:
            typer.echo(json.dumps(out, indent=2))
            return
        items = out.get("candidates") or out.get("responses") or []
        for r in items:
            typer.echo(f"--- {r['model']} ({r['latency_s']:.2f} s)")
            typer.echo(r["text"])
        for f in out.get("failures", []):
            typer.echo(f"--- {f['model']} FAILED [{f['kind']}] after {f['latency_s']:.2f} s: {f['message']}")

    @llm_app.command("models")
    def models_cmd(
        base_url: str = typer.Option(..., help="Server base URL, e.g. http://127.0.0.1:8000/v1."),
        api_key_env: str | None = typer.Option(None, help="Env var holding the API key."),
    ) -> None:
        """List the models an OpenAI-compatible server offers."""
        try:
            key = ModelSpec(name="_", api_key_env=api_key_env).api_key()
            for name in asyncio.run(list_models(base_url, api_key=key)):
                typer.echo(name)
        except PluralisError as e:
            _fail(e)

    return llm_app


def register(app: typer.Typer) -> None:
    """Add the ``llm`` sub-command group to the ``pluralis`` app.

    Parameters
    ----------
    app
        the ``pluralis`` Typer app.

    Example
    -------
    >>> root = typer.Typer()
    >>> register(root)
    >>> [g.name for g in root.registered_groups]
    ['llm']
    """
    app.add_typer(build_llm_app(), name="llm")
