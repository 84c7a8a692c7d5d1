"""The whole path for a user's own paired comparisons (issue "Any data in", done-when 1): a battles CSV with a
participants file (gender, numeric age) goes through import -> rank --by gender -> welfare -> learn -> export
-> import, with the covariates intact and identical results after the round trip; a planted group taste is
found by every analysis."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from pluralis.cli import app as cli

MODELS = ["a", "b", "c", "d", "e", "f"]


@pytest.fixture(scope="module")
def battles_files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("own")
    rng = np.random.default_rng(7)
    quality = np.array([0.0, 0.3, 0.6, 0.9, 1.2, 1.5])
    rows, people = [], []
    for u in range(192):
        gender = "woman" if u % 2 else "man"
        people.append({"judge": f"j{u}", "gender": gender, "age": int(rng.integers(18, 85))})
        q = quality + (np.array([2.5, 0, 0, 0, 0, 0]) if gender == "woman" else 0)  # women love model a
        for _ in range(10):
            i, j = rng.choice(6, 2, replace=False)
            win = rng.random() < 1 / (1 + np.exp(-(q[i] - q[j])))
            rows.append(
                {
                    "model_a": MODELS[i],
                    "model_b": MODELS[j],
                    "winner": "model_a" if win else "model_b",
                    "judge": f"j{u}",
                }
            )
    pd.DataFrame(rows).to_csv(folder / "battles.csv", index=False)
    pd.DataFrame(people).to_csv(folder / "people.csv", index=False)
    return folder


def run(*args):
    r = CliRunner().invoke(cli, [str(a) for a in args])
    assert r.exit_code == 0, r.output
    return r.output


def test_import_rank_welfare_learn_export_import(battles_files, tmp_path):
    f = battles_files
    store = tmp_path / "s.sqlite"
    run(
        "import",
        f / "battles.csv",
        "--participants",
        f / "people.csv",
        "--id",
        "judge",
        "--fields",
        "gender,age",
        "--store",
        store,
    )
    # rank by gender: women put a first, men put it last
    run("rank", store, "--by", "gender", "--method", "bt", "--bootstrap", "50", "--out", tmp_path / "r1.csv")
    ranks = pd.read_csv(tmp_path / "r1.csv")
    by_group = ranks[ranks["by"] == "gender"].set_index(["group", "model"])["rank"]
    assert by_group[("woman", "a")] == 1 and by_group[("man", "a")] == 6
    # welfare (choices): women lose when men hold every seat
    out = run("welfare", store, "--by", "gender", "--draws", "100", "--out", tmp_path / "w")
    assert "no scores recorded: the choice measure only" in out
    w = pd.read_csv(tmp_path / "w" / "welfare_summary.csv")
    assert set(w["measure"]) == {"choice"}
    women = w[w["population"] == "gender = woman"].set_index("scheme")["mean"]
    assert women[next(s for s in women.index if s.startswith("gender = man"))] < women["Rep (100)"]
    r = CliRunner().invoke(cli, ["welfare", str(store), "--by", "gender", "--measure", "rating"])
    assert r.exit_code != 0 and "records no score; paired comparisons give choices" in r.output
    # learn from the models themselves (no texts): Bradley–Terry per group, cross-group accuracy
    run("learn", store, "--by", "gender", "--features", "model", "--out", tmp_path / "l", "--folds", "3")
    weights = pd.read_csv(tmp_path / "l" / "reward_weights.csv").set_index(["feature", "group"])["coef"]
    assert weights[("model=a", "woman")] > weights[("model=a", "man")] + 1.0
    acc = pd.read_csv(tmp_path / "l" / "cross_group_accuracy.csv", index_col=0)
    assert acc.loc["woman", "woman"] > acc.loc["man", "woman"]  # women's model predicts women better
    # export and re-import: covariates intact, the same ranking
    run("export", tmp_path / "battles.jsonl", "--store", store, "--format", "arena")
    exported = pd.read_json(tmp_path / "battles.jsonl", lines=True)
    assert {"gender", "age"} <= set(exported.columns)
    store2 = tmp_path / "s2.sqlite"
    run("import", tmp_path / "battles.jsonl", "--store", store2)
    run("rank", store2, "--by", "gender", "--method", "bt", "--bootstrap", "50", "--out", tmp_path / "r2.csv")
    again = pd.read_csv(tmp_path / "r2.csv")
    cols = ["by", "group", "model", "rank", "score"]
    pd.testing.assert_frame_equal(
        ranks[cols].sort_values(cols[:3]).reset_index(drop=True),
        again[cols].sort_values(cols[:3]).reset_index(drop=True),
    )


def test_model_features_are_bradley_terry_per_group(battles_files):
    """The reward model on one indicator per model is an L2 Bradley–Terry fit: its order is BT's."""
    from pluralis.data import load_study
    from pluralis.learn.featurizers import ModelFeaturizer
    from pluralis.learn.models import RewardModel, featurize_pairs
    from pluralis.learn.pairs import pairs_from_study
    from pluralis.ranking.engine import rank_models

    f = battles_files
    study = load_study(str(f / "battles.csv"), format="arena")
    frames = study.frames()
    pairs = pairs_from_study(frames, require_texts=False)
    pf = featurize_pairs(pairs, ModelFeaturizer(categories=MODELS))
    coef = pd.Series(RewardModel().fit(pf).coef_, index=MODELS)
    bt = rank_models(
        pd.DataFrame(
            {
                "model_a": pairs["model_a"],
                "model_b": pairs["model_b"],
                "winner": np.where(pairs["y"] == 1.0, "model_a", "model_b"),
            }
        ),
        "bt",
    )
    assert list(coef.sort_values(ascending=False).index) == list(bt.sort_values("rank")["model"])


def test_a_prism_study_exported_as_arena_battles_gives_the_battles_rank_uses():
    # QA: the Arena export decided winners by exact equality while `pluralis rank` ties scores within 5 points,
    # so the exported battles ranked differently from the study they came from
    import tempfile
    from pathlib import Path

    from pluralis.data import Study
    from pluralis.data.io.arena import read_arena, write_arena_study
    from pluralis.data.synthetic import generate_study
    from pluralis.ranking.battles import battles_from_comparisons, extract_battles

    study = generate_study(n_participants=30, seed=8, with_metadata=False)
    utterances = study.frames().utterances

    def canonical(b: pd.DataFrame) -> list[tuple]:
        winner = np.where(
            b["winner"] == "model_a", b["model_a"], np.where(b["winner"] == "model_b", b["model_b"], "tie")
        )
        pair = np.sort(b[["model_a", "model_b"]].to_numpy(dtype=str), axis=1)
        return sorted(zip(pair[:, 0], pair[:, 1], winner, b["user_id"].astype(str)))

    direct = extract_battles(utterances, short_names=False)  # the export keeps the full names
    with tempfile.TemporaryDirectory() as tmp:
        path = write_arena_study(study, Path(tmp) / "battles.jsonl")["battles"]
        exported = pd.read_json(path, lines=True)
        via_arena = battles_from_comparisons(Study(comparisons=read_arena(path)).frames().comparisons)
    close = (exported["score_a"] - exported["score_b"]).abs().between(1, 5)
    assert close.any() and (exported.loc[close, "winner"] == "tie").all()  # within 5 points: a tie
    assert canonical(via_arena) == canonical(direct)
