"""Every study-file setting is documented (as Datasette tests that its docs cover every setting): named in its
section's docstring, which `pluralis study settings` prints, or described in README.md."""

from __future__ import annotations

import typing
from pathlib import Path

from pydantic import BaseModel
from typer.testing import CliRunner

from pluralis.cli import app as cli
from pluralis.collect.config import StudyConfig

README = (Path(__file__).parents[2] / "README.md").read_text()


def settings(model: type[BaseModel] = StudyConfig, prefix: str = ""):
    for name, field in model.model_fields.items():
        ann = field.annotation
        section = next(
            (t for t in (ann, *typing.get_args(ann)) if isinstance(t, type) and issubclass(t, BaseModel)), None
        )
        if section is not None and not typing.get_args(ann):
            yield from settings(section, f"{prefix}{name}.")
        else:
            yield model, f"{prefix}{name}", name


def test_every_setting_is_documented():
    undocumented = [
        path
        for model, path, name in settings()
        if f"``{name}``" not in (model.__doc__ or "") and f"`{name}`" not in README and f"{name} =" not in README
    ]
    assert undocumented == []


def test_study_settings_command_lists_every_setting_with_its_default():
    out = CliRunner().invoke(cli, ["study", "settings"], terminal_width=200)
    assert out.exit_code == 0, out.output
    for _, path, _ in settings():
        assert path in out.output, path
    assert "limits.llm_requests_per_minute" in out.output and "12" in out.output
