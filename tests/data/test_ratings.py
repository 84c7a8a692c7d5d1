"""Ratings tables (participant x text x score with rater demographics) as studies."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from pluralis.cli import app
from pluralis.data import load_study
from pluralis.data.io.ratings import read_ratings_study
from pluralis.errors import DataValidationError

runner = CliRunner()
TEXTS = [f"text{i}" for i in range(5)]


def make_ratings(path, n_raters: int = 60, seed: int = 0) -> pd.DataFrame:
    """Raters score 5 texts on 1-5; women rate text4 highest, men text0 highest."""
    rng = np.random.default_rng(seed)
    rows = []
    for r in range(n_raters):
        gender = "Female" if r % 2 else "Male"
        base = np.arange(5) if gender == "Female" else np.arange(5)[::-1]
        for t, b in zip(TEXTS, base, strict=True):
            score = int(np.clip(1 + b + rng.integers(-1, 2) * (rng.random() < 0.2), 1, 5))
            rows.append({"rater": f"p{r}", "text_id": t, "offensiveness": score, "gender": gender, "age": 20 + r})
    frame = pd.DataFrame(rows)
    frame.to_csv(path, index=False)
    return frame


def test_ratings_table_imports_and_ranks_by_mean_score_per_group(tmp_path):
    make_ratings(tmp_path / "ratings.csv")
    db = tmp_path / "r.sqlite"
    cols = ["--column", "participant=rater", "--column", "item=text_id", "--column", "score=offensiveness"]
    r = runner.invoke(
        app,
        ["import", str(tmp_path / "ratings.csv"), "-f", "ratings", *cols, "--score-range", "1,5", "--store", str(db)],
    )
    assert r.exit_code == 0, r.output
    study = load_study(db)
    assert len(study.comparisons) == 60
    assert study.comparisons[0].to_json_dict()["score_range"] == [1.0, 5.0]
    survey = study.frames().survey.set_index("user_id")
    assert survey.loc["p3", "gender"] == "Female" and survey.loc["p3", "age"] == 23
    out = tmp_path / "ranks.csv"
    r = runner.invoke(app, ["rank", str(db), "--by", "gender", "-m", "mean_score", "-n", "0", "-o", str(out)])
    assert r.exit_code == 0, r.output
    table = pd.read_csv(out)
    top = table[table["rank"] == 1].set_index("group")["model"]
    assert top["Female"] == "text4" and top["Male"] == "text0"


def test_score_range_inferred_and_bad_scores_named(tmp_path):
    path = tmp_path / "r.csv"
    path.write_text("user_id,item,score,gender\nu1,a,2,F\nu1,b,7,F\nu2,a,3,M\nu2,b,4,M\n")
    study = read_ratings_study(path)
    assert study.comparisons[0].to_json_dict()["score_range"] == [2.0, 7.0]
    with pytest.raises(DataValidationError) as err:
        read_ratings_study(path, score_range="1,5")
    assert str(err.value.first) == f"{path}:3: field 'score': 7 is outside the score range (1.0, 5.0)"
    with pytest.raises(DataValidationError) as err:
        read_ratings_study(path, participant="rater")
    assert str(err.value.first).startswith(f"{path}:1: field 'rater': no such column")
    path.write_text("user_id,item,score\nu1,a,2\nu1,a,3\n")
    with pytest.raises(DataValidationError, match=r"r.csv:3: field 'score': repeated rating \(first on line 2\)"):
        read_ratings_study(path)


def test_bad_ratings_import_writes_nothing(tmp_path):
    path = tmp_path / "r.csv"
    path.write_text("user_id,item,score\nu1,a,2\nu1,b,x\n")
    db = tmp_path / "r.sqlite"
    r = runner.invoke(app, ["import", str(path), "-f", "ratings", "--store", str(db)])
    assert r.exit_code != 0 and "r.csv:3" in r.output and "'score'" in r.output
    assert not db.exists()


def test_pairwise_ratings_with_numeric_ids_import_and_rank(tmp_path):
    # two items per rater: a tie (equal scores) crashed rank ("assignment destination is
    # read-only"); rater 007 became 7
    path = tmp_path / "r.csv"
    path.write_text("rater,item,score\n101,5,3\n101,6,4\n102,5,2\n102,6,5\n007,5,1\n007,6,1\n")
    db = tmp_path / "r.sqlite"
    cols = ["--column", "participant=rater", "--column", "item=item", "--column", "score=score"]
    r = runner.invoke(app, ["import", str(path), "--format", "ratings", *cols, "--store", str(db)])
    assert r.exit_code == 0, r.output
    assert set(load_study(db).frames().survey["user_id"]) == {"101", "102", "007"}
    out = tmp_path / "ranks.csv"
    r = runner.invoke(app, ["rank", str(db), "--method", "win_rate", "-n", "0", "--out", str(out)])
    assert r.exit_code == 0, r.output
    # item 6 beats 5 twice, one tie: win rates 2/3 and 0
    assert pd.read_csv(out, dtype={"model": str}).set_index("model")["score"].round(4).to_dict() == {
        "6": 0.6667,
        "5": 0.0,
    }
