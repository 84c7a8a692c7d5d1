"""``pluralis serve STUDY.toml``: run a PRISM-protocol feedback study in the browser."""

from __future__ import annotations

import gc
import os
import secrets
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from pluralis.errors import ConfigError, PluralisError

if TYPE_CHECKING:
    from pluralis.collect.check import CheckReport
    from pluralis.collect.config import StudyConfig

#: Printed (and flushed) once the server accepts connections; the URL follows.
READY_LINE = "pluralis serve: listening on"


def _secret_key(path: Path) -> bytes:
    """The signing key kept next to the study (so forms stay valid across restarts); created on first use."""
    env = os.environ.get("PLURALIS_SECRET_KEY")
    if env:
        return env.encode("utf-8")
    if path.exists():
        return bytes.fromhex(path.read_text().strip())
    key = secrets.token_bytes(32)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(key.hex())
    return key


def run_check(
    study: str | None,
    config: StudyConfig | None = None,
    *,
    allow_placeholders: bool = False,
    call_endpoints: bool = True,
) -> CheckReport:
    """Check a study as ``pluralis serve`` does at start, printing endpoint results and warnings.

    Parameters
    ----------
    study
        The study file (its problems name lines), or ``None`` for the shipped PRISM study.
    config
        The loaded study, when ``study`` is ``None`` or command-line overrides changed it.
    allow_placeholders
        Accept the template's placeholder models and consent text (reported as warnings).
    call_endpoints
        Call every model once.

    Returns
    -------
    pluralis.collect.check.CheckReport

    Example
    -------
    >>> from pluralis.collect.config import StudyConfig
    >>> run_check(None, StudyConfig(), call_endpoints=False).ok
    False
    """
    from pluralis.collect.check import check_study
    from pluralis.collect.config import StudyConfig

    target: StudyConfig | str = study if study is not None else (config or StudyConfig())
    report = check_study(target, call_endpoints=call_endpoints, allow_placeholders=allow_placeholders)
    for e in report.endpoints:
        state = "ok" if e.ok else f"FAILED ({e.kind})"
        print(f"model {e.model!r} at {e.address}: {state} in {e.latency_s:.2f} s", flush=True)
    for w in report.warnings:
        print(f"warning: {w}", file=sys.stderr, flush=True)
    return report


def serve_study(
    study: str | None,
    *,
    db: str | None = None,
    host: str = "127.0.0.1",
    port: int = 8080,
    admin_token_env: str | None = None,
    log_level: str = "warning",
    root_path: str = "",
    public_url: str | None = None,
    forwarded_allow_ips: str | None = None,
    allow_placeholders: bool = False,
    check_models: bool = True,
) -> None:
    """Check the study, open the store, build the app and serve it until interrupted.

    First runs :func:`pluralis.collect.check.check_study` (the file, the template's placeholders, one call
    to every model): any problem stops it before it listens. Then prints the study, the admin dashboard's
    URL (and a generated admin token when none is set), then ``READY_LINE`` and the URL once the server
    accepts connections.

    Parameters
    ----------
    study
        Study definition (TOML/YAML); ``None``: the PRISM study.
    db
        Store path or URL (default: ``STUDY.sqlite`` next to the study file).
    host
        Address to listen on.
    port
        Port (0 picks a free one).
    admin_token_env
        Environment variable holding the admin token (default: the study's ``admin.token_env``).
    log_level
        uvicorn's log level.
    root_path
        URL prefix when a proxy serves the app under a sub-path (prefer ``public_url`` with that path).
    public_url
        The address participants use behind a reverse proxy (default: the study's ``[server] public_url``).
    forwarded_allow_ips
        Comma-separated addresses/networks of trusted reverse proxies, ``"*"`` for any (default: the study's
        ``[server] trusted_proxies``; none: ``X-Forwarded-*`` headers are ignored).
    allow_placeholders
        Serve the ``--init`` template's placeholder models and consent text (local testing only; warned).
    check_models
        Call every model once before listening (``False``: only the file is checked, e.g. when the models
        start after the study server).

    Raises
    ------
    pluralis.errors.ConfigError
        A bad study file, a study the start-up check refuses, or an admin token shorter than 16 characters.

    Example
    -------
    >>> # serve_study("study.toml", port=0)   # prints "pluralis serve: listening on http://127.0.0.1:PORT"
    """
    import uvicorn

    from pluralis.collect.config import load_study_config
    from pluralis.llm.server import listen
    from pluralis.store import Store
    from pluralis.web.app import create_app

    config = load_study_config(study)
    if public_url is not None or forwarded_allow_ips is not None:
        from pydantic import ValidationError

        from pluralis.collect.config import ServerConfig

        try:
            server_cfg = ServerConfig(
                public_url=public_url if public_url is not None else config.server.public_url,
                trusted_proxies=(
                    [i.strip() for i in forwarded_allow_ips.split(",") if i.strip()]
                    if forwarded_allow_ips is not None
                    else config.server.trusted_proxies
                ),
            )
        except ValidationError as e:
            problems = "; ".join(err["msg"].removeprefix("Value error, ") for err in e.errors())
            raise ConfigError(f"--public-url / --forwarded-allow-ips: {problems}") from None
        config = config.model_copy(update={"server": server_cfg})
    report = run_check(study, config, allow_placeholders=allow_placeholders, call_endpoints=check_models)
    report.raise_for_problems()
    base = Path(study).with_suffix("") if study else Path("pluralis-study")
    target = db or str(base) + ".sqlite"
    store = Store.open(target)
    token_env = admin_token_env or config.admin.token_env
    token = os.environ.get(token_env)
    generated = False
    if not token:
        token, generated = secrets.token_urlsafe(24), True
    elif len(token) < 16:
        raise ConfigError(f"{token_env} is too short: use at least 16 characters")
    key = _secret_key(Path(str(base) + ".secret"))
    app = create_app(config, store, admin_token=token, secret_key=key)
    sock, url = listen(host, port, backlog=2048)
    print(f"study {config.study.id!r}: {len(config.models)} models, store {store.url.split('@')[-1]}", flush=True)
    if generated:
        print(f"admin token (set {token_env} to choose one): {token}", flush=True)
    public = config.server.public_url
    if public:
        trusted = ", ".join(config.server.trusted_proxies) or "none: X-Forwarded-* headers are ignored"
        print(f"public address: {public} (trusted proxies: {trusted})", flush=True)
    print(f"admin dashboard: {public or url}/admin", flush=True)
    print(f"{READY_LINE} {url}", flush=True)
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            log_level=log_level,
            access_log=False,
            root_path=root_path,
            timeout_keep_alive=30,
            backlog=2048,
            proxy_headers=False,  # the app believes X-Forwarded-* from the study's trusted proxies only
        )
    )
    # Everything imported so far lives as long as the server: keep it out of the garbage collector's full
    # passes, which otherwise stall the event loop for ~100 ms at a time under load.
    gc.collect()
    gc.freeze()
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()
        store.close()
        sys.stdout.flush()


def register(app: typer.Typer) -> None:
    """Add ``pluralis serve``.

    Parameters
    ----------
    app
        The ``pluralis`` command.

    Example
    -------
    >>> root = typer.Typer()
    >>> register(root)
    >>> [c.name for c in root.registered_commands]
    ['serve']
    """

    @app.command("serve")
    def serve_cmd(
        study: str | None = typer.Argument(None, help="Study definition (TOML/YAML). Default: the PRISM study."),
        db: str | None = typer.Option(
            None,
            "--db",
            help="Store path or URL (default: STUDY.sqlite next to "
            "the study file; postgresql+psycopg://... for PostgreSQL).",
        ),
        host: str = typer.Option("127.0.0.1", help="Address to listen on (0.0.0.0 behind a reverse proxy)."),
        port: int = typer.Option(8080, help="Port (0 = pick a free one; the ready line shows it)."),
        admin_token_env: str | None = typer.Option(
            None, help="Env var holding the admin token (default: the study's admin.token_env, PLURALIS_ADMIN_TOKEN)."
        ),
        init: str | None = typer.Option(
            None, "--init", help="Write the PRISM study definition to this file and exit (a starting point to edit)."
        ),
        log_level: str = typer.Option("warning", help="uvicorn log level."),
        root_path: str = typer.Option("", help="URL prefix when served under a sub-path by a proxy."),
        public_url: str | None = typer.Option(
            None,
            "--public-url",
            help="The address participants use behind a reverse proxy, e.g. https://study.example.org "
            "(resume links point there). Default: the study's [server] public_url.",
        ),
        forwarded_allow_ips: str | None = typer.Option(
            None,
            "--forwarded-allow-ips",
            help="Comma-separated addresses/networks of trusted reverse proxies ('*': any) whose "
            "X-Forwarded-For/-Proto/-Host are believed. Default: the study's [server] trusted_proxies (none).",
        ),
        check: bool = typer.Option(
            False,
            "--check",
            help="Only check STUDY (the file, placeholders, one call to every model) and exit: 0 when it can be "
            "served, 1 otherwise. Serving runs the same check first.",
        ),
        allow_placeholders: bool = typer.Option(
            False,
            "--allow-placeholders",
            help="Accept the --init template's placeholder models and consent text (local testing only).",
        ),
        check_models: bool = typer.Option(
            True,
            "--check-models/--skip-model-check",
            help="Call every model once before listening (skip when the models start after the study).",
        ),
    ) -> None:
        """Run a PRISM-protocol feedback study in the browser (consent, survey, rated conversations, admin)."""
        try:
            if check:
                report = run_check(study, allow_placeholders=allow_placeholders, call_endpoints=True)
                for p in report.problems:
                    typer.echo(f"error: {p}", err=True)
                typer.echo(report.lines()[-1], err=not report.ok)
                raise typer.Exit(code=0 if report.ok else 1)
            if init:
                from pluralis.collect.config import default_study_path

                target = Path(init)
                if target.exists():
                    raise ConfigError(f"{target} exists; not overwriting it")
                target.write_text(default_study_path().read_text("utf-8"), "utf-8")
                typer.echo(f"wrote {target}; edit the [[models]] and run: pluralis serve {target}")
                return
            serve_study(
                study,
                db=db,
                host=host,
                port=port,
                admin_token_env=admin_token_env,
                log_level=log_level,
                root_path=root_path,
                public_url=public_url,
                forwarded_allow_ips=forwarded_allow_ips,
                allow_placeholders=allow_placeholders,
                check_models=check_models,
            )
        except PluralisError as e:
            typer.echo(f"error: {e}", err=True)
            raise typer.Exit(code=2) from None
