"""End to end with the real SmolLM2: pairs -> train -> serve -> eval on a generated study; a resumable grid."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from typer.testing import CliRunner

from pluralis.cli import app

pytestmark = pytest.mark.slow


def invoke(*args: str):
    r = CliRunner().invoke(app, ["align", *args])
    assert r.exit_code == 0, r.output
    return r


def test_pairs_train_serve_eval(tmp_path, smollm2_base, quiet_transformers):
    from pluralis.data import write_prism
    from pluralis.data.synthetic import generate_study
    from tests.model_servers import READY_TIMEOUT, Proc, serve_command, wait_http

    study = tmp_path / "study"
    write_prism(generate_study(n_participants=24, seed=7, with_metadata=False), study)
    invoke("pairs", str(study), "-o", str(tmp_path / "pairs"), "-g", "gender=Female", "--turns", "openers",
           "--eval-fraction", "0.4")  # fmt: skip
    invoke("train", str(tmp_path / "pairs"), "-a", "dpo", "-o", str(tmp_path / "dpo-f"), "--device", "cpu",
           "--steps", "1", "--set", "batch_size=2", "--set", "max_length=96")  # fmt: skip
    manifest = json.loads((tmp_path / "dpo-f" / "pluralis_aligned.json").read_text())
    assert manifest["aligner"] == "dpo" and manifest["data"]["group"] == "gender=Female"
    assert manifest["metrics"]["steps"] == 1

    # serve the aligned folder exactly as a collection study would reach it
    proc = Proc([*serve_command(), "--model", f"dpo-f={tmp_path / 'dpo-f'}", "--port", "0", "--timeout", "300"])
    try:
        from pluralis.llm.server import READY_LINE

        line = proc.wait_for_line(READY_LINE, READY_TIMEOUT)
        url = line.split(READY_LINE, 1)[1].split()[0]
        wait_http(url.rsplit("/v1", 1)[0] + "/health", 30, proc)
        r = invoke("eval", "--pairs", str(tmp_path / "pairs"), "-m", f"served={url}#dpo-f",
                   "-m", f"local={tmp_path / 'dpo-f'}", "--by", "gender", "--n-prompts", "2", "--max-tokens", "12",
                   "--bootstrap", "50", "--device", "cpu", "-o", str(tmp_path / "eval"))  # fmt: skip
    finally:
        proc.stop()
    gains = pd.read_csv(tmp_path / "eval" / "gains.csv")
    assert set(gains["model"]) == {"served", "local"} and set(gains["eval_group"]) == {"Female", "Male"}
    trained = gains.groupby("model")["trained_on"].first()
    assert trained["local"] == "gender=Female" and trained["served"] == "?"  # a URL has no manifest to read
    assert gains["gain_pp"].between(-50, 50).all() and (gains["gain_low"] <= gains["gain_high"]).all()
    answers = pd.read_csv(tmp_path / "eval" / "answers.csv")
    # greedy decoding: the served model and the same folder loaded locally answer alike
    served = answers[answers["model"] == "served"]["answer"].fillna("").tolist()
    local = answers[answers["model"] == "local"]["answer"].fillna("").tolist()
    assert [s[:20] for s in served] == [t[:20] for t in local]
    assert (tmp_path / "eval" / "gains_reward.png").stat().st_size > 1000
    assert "gain over base" in r.output


def test_experiment_grid_resumes(tmp_path, smollm2_base, quiet_transformers):
    from pluralis.align.experiments import EXAMPLE

    text = (
        EXAMPLE.replace('aligner = ["best_of_n", "dpo"]', 'aligner = ["best_of_n"]')
        .replace("n = 4\nmax_tokens = 32", "n = 2\nmax_tokens = 8")
        .replace("n_prompts = 4\nmax_tokens = 32", "n_prompts = 2\nmax_tokens = 8")
    )
    f = tmp_path / "exp.toml"
    f.write_text(text)
    out = tmp_path / "run"
    r = CliRunner().invoke(app, ["align", "run", str(f), "-o", str(out), "--device", "cpu"])
    assert r.exit_code == 0, r.output
    grid = pd.read_csv(out / "grid.csv")
    assert sorted(set(grid["train"])) == ["group=A", "group=B"] and set(grid["eval_group"]) == {"A", "B"}
    assert (out / "report_section.md").read_text().startswith("## Alignment experiment")
    assert (out / "grid.png").is_file() and (out / "matrix_best_of_n-binary-keep-dataset.png").is_file()
    # an interruption: one cell lost its result; the rerun redoes only that one
    done = sorted(out.glob("cells/*/done.json"))
    assert len(done) == 2
    done[1].unlink()
    stamp = done[0].stat().st_mtime
    r = CliRunner().invoke(app, ["align", "run", str(f), "-o", str(out), "--device", "cpu"])
    assert r.exit_code == 0, r.output
    assert "1 cell(s) finished earlier were kept" in r.output
    assert done[0].stat().st_mtime == stamp and done[1].is_file()
    assert len(pd.read_csv(out / "grid.csv")) == len(grid)
