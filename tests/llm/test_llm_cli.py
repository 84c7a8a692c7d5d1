"""``pluralis llm`` commands (serve is exercised as a subprocess by the tiny_server fixture)."""

from __future__ import annotations

import json

import typer
from typer.testing import CliRunner

from pluralis.cli.llm import build_llm_app, register

runner = CliRunner()


def test_register_adds_llm_group():
    app = typer.Typer()

    @app.command()
    def version() -> None:  # a second command so Typer keeps sub-command names
        pass

    register(app)
    out = runner.invoke(app, ["llm", "--help"])
    assert out.exit_code == 0
    for cmd in ("serve", "chat", "models"):
        assert cmd in out.output


def test_chat_json(tiny_server):
    out = runner.invoke(
        build_llm_app(), ["chat", "Hello", "--model", "tiny", "--base-url", tiny_server, "--max-tokens", "5", "--json"]
    )
    assert out.exit_code == 0, out.output
    data = json.loads(out.output)
    assert [r["model"] for r in data["responses"]] == ["tiny"] and data["failures"] == []


def test_chat_text_with_failure(tiny_server):
    out = runner.invoke(
        build_llm_app(),
        ["chat", "Hello", "-m", "tiny", "-m", "missing", "--base-url", tiny_server, "--max-tokens", "4"],
    )
    assert out.exit_code == 0, out.output
    assert "--- tiny (" in out.output and "missing FAILED [http_error]" in out.output


def test_chat_samples_and_nc(tiny_server):
    app = build_llm_app()
    out = runner.invoke(
        app, ["chat", "Hi", "-m", "tiny", "--base-url", tiny_server, "--max-tokens", "4", "--samples", "2", "--json"]
    )
    assert out.exit_code == 0 and len(json.loads(out.output)["responses"]) == 2
    out = runner.invoke(
        app,
        [
            "chat",
            "Hi",
            "-m",
            "tiny",
            "--base-url",
            tiny_server,
            "--max-tokens",
            "4",
            "--nc",
            "2",
            "--nc-method",
            "sequential",
            "--json",
        ],
    )
    assert out.exit_code == 0 and json.loads(out.output)["method_used"] == "sequential"


def test_chat_from_config(tiny_server, tmp_path):
    cfg = tmp_path / "models.toml"
    cfg.write_text(
        f'[[models]]\nname = "a"\nmodel = "tiny"\nbase_url = "{tiny_server}"\n'
        f'[[models]]\nname = "b"\nmodel = "tiny"\nbase_url = "{tiny_server}"\n'
        f'[[models]]\nname = "c"\nmodel = "tiny"\nbase_url = "{tiny_server}"\n'
    )
    out = runner.invoke(
        build_llm_app(), ["chat", "Hi", "--config", str(cfg), "--k", "2", "--seed", "1", "--max-tokens", "3", "--json"]
    )
    assert out.exit_code == 0, out.output
    assert len(json.loads(out.output)["requested"]) == 2


def test_models_command(tiny_server):
    out = runner.invoke(build_llm_app(), ["models", "--base-url", tiny_server])
    assert out.exit_code == 0 and out.output.split() == ["tiny"]


def test_errors_exit_2(tmp_path):
    app = build_llm_app()
    out = runner.invoke(app, ["chat", "Hi"])
    assert out.exit_code == 2 and "--model" in out.output
    out = runner.invoke(app, ["serve", "--model", str(tmp_path / "nope"), "--backend", "transformers"])
    assert out.exit_code == 2 and "not a folder" in out.output
    out = runner.invoke(app, ["serve", "--model", str(tmp_path), "--backend", "vllm"])
    assert out.exit_code == 2 and "unknown backend" in out.output
