"""Issue 16 item 5: no silent acceptance in study files, and `pluralis study check` against real endpoints."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from pluralis.cli import app as cli
from pluralis.collect.check import check_study, consent_placeholders, placeholder_models
from pluralis.collect.config import StudyConfig, default_study_path, load_study_config, study_to_toml
from pluralis.errors import ConfigError

CONSENT = '[consent]\ntext = "Questions? Write to the study team at team@example.org."\n'


def line_of(path, text: str) -> int:
    return next(i for i, t in enumerate(path.read_text().splitlines(), 1) if t.strip() == text)


def test_a_study_file_without_models_is_an_error(tmp_path):
    p = tmp_path / "s.toml"
    p.write_text('[study]\nid = "x"\n[sampling]\nmode = "sometimes"\n')
    with pytest.raises(ConfigError) as e:
        load_study_config(p)
    msg = str(e.value)
    assert f"{p}: models: the study lists no models" in msg
    assert f"{p}:4: sampling.mode" in msg  # every problem at once
    # simulated studies take their models from the simulation
    p.write_text('[study]\nid = "x"\nsource = "simulated"\n')
    assert load_study_config(p).study.source == "simulated"


def test_a_model_without_endpoint_never_goes_to_openai_silently(tmp_path):
    p = tmp_path / "s.toml"
    p.write_text(
        '[[models]]\nname = "a"\nendpoint = "http://127.0.0.1:9/v1"\n\n'
        '[[models]]\nname = "gpt-4"\nroster = "gpt-4"\n\n'
        '[[models]]\nname = "claude"\nmodel = "claude-2"\nprovider = "anthropic"\n'
    )
    with pytest.raises(ConfigError) as e:
        load_study_config(p)
    msg = str(e.value)
    assert f"{p}:5: models.1.endpoint: model 'gpt-4' has no endpoint" in msg  # a roster model: not explicit
    assert f"{p}:9: models.2.endpoint: model 'claude' has no endpoint" in msg
    assert "models.0" not in msg
    p.write_text('[[models]]\nname = "gpt-4o"\nprovider = "openai"\napi_key_env = "OPENAI_API_KEY"\n')
    m = load_study_config(p).models[0]
    assert m.base_url is None and m.spec().resolved_base_url().startswith("https://api.openai.com")
    p.write_text('[[models]]\nname = "local"\nbackend = "transformers"\npath = "/models/x"\n')
    assert load_study_config(p).models[0].backend == "transformers"  # no endpoint needed
    with pytest.raises(ValueError, match="'no-endpoint' has no endpoint"):
        StudyConfig().with_models([{"name": "no-endpoint"}])


def test_opening_models_above_the_pool_is_an_error_and_unset_takes_what_there_is(tmp_path):
    p = tmp_path / "s.toml"
    models = "".join(f'[[models]]\nname = "m{i}"\nendpoint = "http://127.0.0.1:9/v1"\n' for i in range(4))
    p.write_text(models + "[sampling]\nmode = 'random'\nopening_models = 5\n")
    with pytest.raises(ConfigError) as e:
        load_study_config(p)
    line = line_of(p, "opening_models = 5")
    assert f"{p}:{line}: sampling.opening_models: 5 opening models asked for, but the study has 4 model(s)" in str(
        e.value
    )
    p.write_text(models + "[sampling]\nopening_models = 4\n")
    assert load_study_config(p).opening_count == 4
    p.write_text(models + "[sampling]\nmode = 'nc'\nopening_models = 6\n")  # 6 NC candidates from ONE model
    assert load_study_config(p).opening_count == 6
    two = StudyConfig().with_models([{"name": n, "endpoint": "http://127.0.0.1:9/v1"} for n in "ab"])
    assert two.sampling.opening_models is None and two.opening_count == 2
    # round trip: an unset opening_models stays unset, so writing and reading a study never invents an error
    p.write_text(study_to_toml(two))
    assert load_study_config(p) == two


def test_redirects_must_be_web_addresses_and_codes_plain(tmp_path):
    p = tmp_path / "s.toml"
    base = '[[models]]\nname = "a"\nendpoint = "http://127.0.0.1:9/v1"\n'
    p.write_text(base + '[completion]\nredirect_url = "javascript:alert(1)"\n')
    with pytest.raises(ConfigError, match=rf"{p}:5: completion.redirect_url: .*http:// or https://"):
        load_study_config(p)
    p.write_text(base + '[completion]\ncode = "<b>x</b>"\n')
    with pytest.raises(ConfigError, match="completion.code"):
        load_study_config(p)


def test_an_unedited_init_file_is_refused_by_the_check_unless_placeholders_are_allowed(tmp_path):
    target = tmp_path / "study.toml"
    result = CliRunner().invoke(cli, ["serve", "--init", str(target)])
    assert result.exit_code == 0, result.output
    cfg = load_study_config(target)  # loading is fine: the file is a valid template
    assert placeholder_models(cfg) == [0, 1, 2, 3] and len(consent_placeholders(cfg.consent.text)) == 5
    report = check_study(target, call_endpoints=False)
    assert not report.ok
    got = {(p.where, p.field) for p in report.problems}
    lines = [line_of(target, f'name = "local-model-{c}"') - 1 for c in "abcd"]  # the [[models]] header lines
    consent_line = line_of(target, 'text = """')
    assert got == {(f"{target}:{n}", f"models.{i}") for i, n in enumerate(lines)} | {
        (f"{target}:{consent_line}", "consent.text")
    }
    with pytest.raises(ConfigError, match="cannot be served"):
        report.raise_for_problems()
    assert check_study(target, call_endpoints=False, allow_placeholders=True).ok
    # editing both away makes it servable
    text = target.read_text().replace('name = "local-model-', 'name = "our-model-')
    for placeholder in consent_placeholders(text):
        text = text.replace(placeholder, "the study team (team@example.org)")
    target.write_text(text)
    assert check_study(target, call_endpoints=False).ok
    assert default_study_path().read_text() != text


def test_check_calls_every_endpoint_once_real_server_and_dead_port(tmp_path, tiny_server):
    p = tmp_path / "s.toml"
    p.write_text(
        CONSENT + f'[[models]]\nname = "tiny-a"\nendpoint = "{tiny_server}"\nmodel = "tiny"\n\n'
        '[[models]]\nname = "gone"\nendpoint = "http://127.0.0.1:9/v1"\n\n'
        f'[[models]]\nname = "tiny-b"\nendpoint = "{tiny_server}"\nmodel = "tiny"\n'
    )
    report = check_study(p, timeout=60)
    by_model = {e.model: e for e in report.endpoints}
    assert [e.model for e in report.endpoints] == ["tiny-a", "gone", "tiny-b"]
    assert by_model["tiny-a"].ok and by_model["tiny-b"].ok and by_model["tiny-a"].message.startswith("replied ")
    assert not by_model["gone"].ok and by_model["gone"].kind == "http_error"
    [problem] = report.problems
    dead_line = line_of(p, 'endpoint = "http://127.0.0.1:9/v1"')
    assert problem.where == f"{p}:{dead_line}" and problem.field == "models.1"
    assert "did not answer (http_error)" in problem.message
    # the CLI: exit 1 with the problem, 0 once the dead model is gone
    out = CliRunner().invoke(cli, ["study", "check", str(p), "--timeout", "60"])
    assert out.exit_code == 1 and "models.1" in out.output and "1 problem" in out.output
    # `serve --check` is the same check; `serve` runs it first and refuses to listen, writing nothing
    out = CliRunner().invoke(cli, ["serve", str(p), "--check"])
    assert out.exit_code == 1 and f"{p}:{dead_line}: models.1" in out.output and "1 problem" in out.output
    db = tmp_path / "never.sqlite"
    out = CliRunner().invoke(cli, ["serve", str(p), "--db", str(db), "--port", "0"])
    assert out.exit_code == 2 and "cannot be served" in out.output and "models.1" in out.output
    assert "'tiny-a' at" in out.output and "FAILED (http_error)" in out.output
    assert not db.exists()
    p.write_text(CONSENT + f'[[models]]\nname = "tiny-a"\nendpoint = "{tiny_server}"\nmodel = "tiny"\n')
    out = CliRunner().invoke(cli, ["study", "check", str(p), "--timeout", "60"])
    assert out.exit_code == 0, out.output
    assert CliRunner().invoke(cli, ["serve", str(p), "--check"]).exit_code == 0
    assert "ok" in out.output and "OK (0 problems" in out.output


def test_check_reports_http_errors_of_a_model_server(tmp_path, double_server):
    p = tmp_path / "s.toml"
    p.write_text(
        CONSENT + f'[[models]]\nname = "boom"\nmodel = "http500"\nendpoint = "{double_server}"\n\n'
        f'[[models]]\nname = "fine"\nmodel = "echo"\nendpoint = "{double_server}"\n'
    )
    report = check_study(p, timeout=10)
    assert [(e.model, e.ok, e.kind) for e in report.endpoints] == [("boom", False, "http_error"), ("fine", True, None)]
    assert [p.field for p in report.problems] == ["models.0"]


def test_check_reports_an_unreadable_study_with_lines(tmp_path):
    p = tmp_path / "s.toml"
    p.write_text('[[models]]\nname = "a"\nendpoint = "http://127.0.0.1:9/v1"\ntimeout = -1\n')
    report = check_study(p)
    assert not report.ok and not report.endpoints  # nothing is called when the file does not validate
    assert [(x.where, x.field) for x in report.problems] == [(f"{p}:4", "models.0.timeout")]
    out = CliRunner().invoke(cli, ["study", "check", str(p)])
    assert out.exit_code == 1 and "models.0.timeout" in out.output


def test_quota_cells_must_match_survey_answers_and_targets_fit_the_total(tmp_path):
    # QA: a cell matching a misspelt question ('agee') or an answer the survey never gives ('65 plus') loaded
    # without a word and never filled; cells' targets above [quotas] total passed unnoticed
    p = tmp_path / "s.toml"
    head = (
        CONSENT + '[[models]]\nname = "a"\nendpoint = "http://127.0.0.1:9/v1"\n[quotas]\nkind = "cells"\ntotal = 10\n'
    )
    cell = '[[quotas.cells]]\nname = "{name}"\nmatch = {{{key} = "{value}"}}\ntarget = {target}\n'
    p.write_text(head + cell.format(name="young", key="agee", value="18-24 years old", target=5))
    with pytest.raises(ConfigError) as e:
        load_study_config(p)
    where = line_of(p, 'match = {agee = "18-24 years old"}')
    assert f"{p}:{where}: quotas.cells.0.match.agee: quota cell 'young' matches 'agee', which is not a survey" in str(
        e.value
    )
    p.write_text(
        head
        + cell.format(name="young", key="age", value="18-24 years old", target=5)
        + cell.format(name="old", key="age", value="65 plus", target=5)
    )
    with pytest.raises(ConfigError) as e:
        load_study_config(p)
    where = line_of(p, 'match = {age = "65 plus"}')
    assert f"{p}:{where}: quotas.cells.1.match.age: quota cell 'old' matches age = '65 plus', which is not" in str(
        e.value
    )
    assert "'65+ years old'" in str(e.value)  # the answers it could match
    p.write_text(head + cell.format(name="here", key="reside_country", value="Atlantis", target=5))
    with pytest.raises(ConfigError, match="quotas.cells.0.match.reside_country: .*'Atlantis'"):
        load_study_config(p)
    # valid cells load; targets adding up to more than the total are a warning of the check, at quotas.total
    p.write_text(
        head
        + cell.format(name="women", key="gender", value="Female", target=8)
        + cell.format(name="here", key="reside_country", value="United States", target=4)
    )
    assert [c.name for c in load_study_config(p).quotas.cells] == ["women", "here"]
    twice = head + cell.format(name="w", key="gender", value="Female", target=2)
    p.write_text(twice + cell.format(name="w", key="gender", value="Male", target=3))
    with pytest.raises(ConfigError) as e:  # one target per name: the second used to replace the first silently
        load_study_config(p)
    assert f"{p}:{len(twice.splitlines()) + 2}: quotas.cells.1.name: quota cell 'w' is listed twice" in str(e.value)
    p.write_text(
        head
        + cell.format(name="women", key="gender", value="Female", target=8)
        + cell.format(name="here", key="reside_country", value="United States", target=4)
    )
    report = check_study(p, call_endpoints=False)
    (w,) = [w for w in report.warnings if w.field == "quotas.total"]
    assert w.where == f"{p}:{line_of(p, 'total = 10')}" and "add up to 12, more than the study's total of 10" in str(w)


def test_duplicate_models_unreadable_files_and_no_quota_name_their_line(tmp_path):
    # QA: these were reported as "s.toml: (top level): ..." (no line, no field), and an unreadable TOML file
    # as "s.toml: s.toml: not valid TOML: ... (at line 3, column 18)"
    p = tmp_path / "s.toml"
    models = '[[models]]\nname = "a"\nendpoint = "http://127.0.0.1:9/v1"\n'
    p.write_text(models + models)
    with pytest.raises(ConfigError) as e:
        load_study_config(p)
    assert f"{p}:5: models.1.name: duplicate model name 'a' (also models.0)" in str(e.value)
    p.write_text(models + '[[conversations.types]]\nname = "unguided"\nlabel = "U"\ninstruction = "Go"\nquota = 0\n')
    with pytest.raises(ConfigError) as e:
        load_study_config(p)
    assert f"{p}:8: conversations.types.0.quota: every conversation type has quota 0" in str(e.value)
    conv = '[[conversations.types]]\nname = "unguided"\nlabel = "U"\ninstruction = "Go"\n'
    p.write_text(models + conv + conv)
    with pytest.raises(ConfigError) as e:  # was "s.toml:4: conversations: ... listed twice: [...]"
        load_study_config(p)
    assert f"{p}:9: conversations.types.1.name: conversation type 'unguided' is listed twice" in str(e.value)
    p.write_text(models + '[quotas]\nkind = "census"\ncountry = "FR"\n')
    report = check_study(p, call_endpoints=False)  # was "s.toml: unknown country 'FR' ...": no line, no field
    assert [(x.where, x.field) for x in report.problems] == [(f"{p}:6", "quotas.country")]
    assert "unknown country 'FR'" in report.problems[0].message
    p.write_text('[study]\nid = "x"\ntitle = "unclosed\n')
    report = check_study(p, call_endpoints=False)
    assert [str(x) for x in report.problems] == [f"{p}:3:18: not valid TOML: Illegal character '\\n'"]
    y = tmp_path / "s.yaml"
    y.write_text("study:\n  id: [unclosed\n")
    report = check_study(y, call_endpoints=False)  # was 7 "problems", one per line of the parser's message
    assert [str(x) for x in report.problems] == [
        f"{y}:3:1: not valid YAML: expected ',' or ']', but got '<stream end>'"
    ]
    j = tmp_path / "s.json"
    j.write_text('{"study": {"id": "x",}}')
    with pytest.raises(ConfigError, match=r"s\.json:1:22: not valid JSON: Expecting property name"):
        load_study_config(j)


def test_prism_instruction_texts_that_contradict_the_study_are_warned_about(tmp_path):
    # QA: a study with quota 1 per type and 1-3 turns told participants "you need to do two of each type" and
    # "Conversations can be between 2 and 10 turns" (PRISM's default texts), next to "(1–3 turns.)"
    p = tmp_path / "s.toml"
    models = CONSENT + '[[models]]\nname = "a"\nendpoint = "http://127.0.0.1:9/v1"\n'
    p.write_text(
        models + "[conversations]\nmin_turns = 1\nmax_turns = 3\n"
        '[[conversations.types]]\nname = "unguided"\nlabel = "U"\ninstruction = "Go"\nquota = 1\n'
    )
    found = {w.field: str(w) for w in check_study(p, call_endpoints=False).warnings}
    at = f"{p}:{line_of(p, '[conversations]')}"
    assert found["conversations.quota_text"].startswith(f"{at}: conversations.quota_text: participants are told")
    assert "the study's quotas are unguided 1" in found["conversations.quota_text"]
    assert "the study's are 1 to 3" in found["conversations.continue_text"]
    # the study's own texts, or PRISM's numbers: no warning
    p.write_text(
        models + '[conversations]\nmin_turns = 1\nmax_turns = 3\nquota_text = "Do one."\ncontinue_text = "Go on."\n'
        '[[conversations.types]]\nname = "unguided"\nlabel = "U"\ninstruction = "Go"\nquota = 1\n'
    )
    assert not {"conversations.quota_text", "conversations.continue_text"} & {
        w.field for w in check_study(p, call_endpoints=False).warnings
    }
    prism = check_study(default_study_path(), call_endpoints=False, allow_placeholders=True)
    assert not [w for w in prism.warnings if (w.field or "").startswith("conversations")]
