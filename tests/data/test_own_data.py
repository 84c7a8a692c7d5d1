"""Your own data end to end: a paired-comparison CSV with a participants file, through the CLI."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from pluralis.cli import app
from pluralis.data import load_study

runner = CliRunner()
ITEMS = [f"item{i}" for i in range(6)]


def make_files(folder, n_people: int = 192, seed: int = 0):
    """192 respondents judge pairs of 6 items; women and men disagree on item0 vs item5."""
    rng = np.random.default_rng(seed)
    people = pd.DataFrame(
        {
            "judge": [f"r{i:03d}" for i in range(n_people)],
            "gender": np.where(np.arange(n_people) % 2 == 0, "Female", "Male"),
            "age": rng.integers(18, 80, n_people),
            "shoe_size": rng.integers(35, 46, n_people),  # not mapped: must not come along
        }
    )
    merit = {"Female": np.linspace(2, 0, 6), "Male": np.linspace(0, 2, 6)}
    rows = []
    for _, p in people.iterrows():
        for _ in range(5):
            a, b = rng.choice(6, 2, replace=False)
            m = merit[p["gender"]]
            p_a = 1 / (1 + np.exp(-(m[a] - m[b])))
            rows.append(
                {
                    "model_a": ITEMS[a],
                    "model_b": ITEMS[b],
                    "winner": "model_a" if rng.random() < p_a else "model_b",
                    "judge": p["judge"],
                    "language": "English",
                    "category": str(rng.choice(["work", "fun"])),
                }
            )
    battles = pd.DataFrame(rows)
    battles.to_csv(folder / "battles.csv", index=False)
    people.to_csv(folder / "people.csv", index=False)
    return battles, people


def rank(source, out, *extra):
    r = runner.invoke(
        app,
        ["rank", str(source), "--by", "gender", "--method", "bt", "-n", "20", "--seed", "1", "-o", str(out), *extra],
    )
    assert r.exit_code == 0, r.output
    return pd.read_csv(out)


def test_import_rank_by_gender_export_import_round_trip(tmp_path):
    battles, people = make_files(tmp_path)
    db = tmp_path / "s.sqlite"
    r = runner.invoke(
        app,
        [
            "import",
            str(tmp_path / "battles.csv"),
            "--store",
            str(db),
            "--participants",
            str(tmp_path / "people.csv"),
            "--id",
            "judge",
            "--fields",
            "gender,age",
        ],
    )
    assert r.exit_code == 0, r.output
    study = load_study(db)
    frames = study.frames()
    survey = frames.survey.set_index("user_id")
    assert len(survey) == 192 and list(survey.columns) == ["gender", "age"]
    assert survey.loc["r007", "age"] == people.set_index("judge").loc["r007", "age"]
    assert {"language", "category", "gender", "age"} <= set(frames.comparisons.columns)
    first = rank(db, tmp_path / "r1.csv")
    women = first[(first["by"] == "gender") & (first["group"] == "Female")].set_index("model")["rank"]
    men = first[(first["by"] == "gender") & (first["group"] == "Male")].set_index("model")["rank"]
    assert women["item0"] == 1 and men["item5"] == 1  # the planted disagreement is recovered

    out = tmp_path / "export.jsonl"
    r = runner.invoke(app, ["export", str(out), "--store", str(db), "-f", "arena"])
    assert r.exit_code == 0, r.output
    row = json.loads(out.read_text().splitlines()[0])
    assert {"gender", "age", "category", "language", "judge"} <= set(row)
    db2 = tmp_path / "again.sqlite"
    r = runner.invoke(app, ["import", str(out), "--store", str(db2)])
    assert r.exit_code == 0, r.output
    again = load_study(db2).frames()
    pd.testing.assert_frame_equal(again.survey, frames.survey)
    second = rank(db2, tmp_path / "r2.csv")
    pd.testing.assert_frame_equal(first, second)


@pytest.mark.parametrize("suffix", [".csv", ".jsonl"])
def test_rank_by_inline_participant_columns(tmp_path, suffix):
    battles, people = make_files(tmp_path)
    inline = battles.merge(people[["judge", "gender", "age"]], on="judge")
    path = tmp_path / f"inline{suffix}"
    if suffix == ".csv":
        inline.to_csv(path, index=False)
    else:
        inline.to_json(path, orient="records", lines=True)
    table = rank(path, tmp_path / "r.csv")
    assert set(table.loc[table["by"] == "gender", "group"]) == {"Female", "Male"}
    by_category = runner.invoke(app, ["rank", str(path), "--by", "category", "--method", "bt", "-n", "0"])
    assert by_category.exit_code == 0, by_category.output


def test_bad_participants_mapping_names_file_line_and_field_and_writes_nothing(tmp_path):
    make_files(tmp_path)
    db = tmp_path / "s.sqlite"
    base = ["import", str(tmp_path / "battles.csv"), "--store", str(db), "--participants", str(tmp_path / "people.csv")]
    r = runner.invoke(app, [*base, "--id", "rater"])
    assert r.exit_code != 0 and "people.csv:1" in r.output and "'rater'" in r.output
    r = runner.invoke(app, [*base, "--id", "judge", "--fields", "gender,income"])
    assert r.exit_code != 0 and "people.csv:1" in r.output and "'income'" in r.output
    pd.read_csv(tmp_path / "people.csv").iloc[1:].to_csv(tmp_path / "people.csv", index=False)  # r000 missing
    r = runner.invoke(app, [*base, "--id", "judge"])
    assert r.exit_code != 0 and "battles.csv:2" in r.output and "'r000'" in r.output and "annotator_id" in r.output
    assert not db.exists()


@pytest.mark.parametrize("suffix", [".csv", ".jsonl"])
def test_numeric_judge_ids_join_their_participants(tmp_path, suffix):
    # judges 7, 8, 007 were "annotator_id: Input should be a valid string (got 7)"; 007 became 7
    judges = ["7", "8", "007", "8"]
    battles = pd.DataFrame(
        {"model_a": ["x", "y", "x", "y"], "model_b": ["y", "x", "y", "x"], "winner": ["model_a"] * 4, "judge": judges}
    )
    path = tmp_path / f"battles{suffix}"
    if suffix == ".csv":
        battles.to_csv(path, index=False)
    else:  # JSON numbers where they are numbers (007 cannot be one)
        rows = [{**r, "judge": int(r["judge"]) if r["judge"] != "007" else "007"} for r in battles.to_dict("records")]
        path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    people = tmp_path / "people.csv"
    people.write_text("judge,gender\n7,Female\n8,Male\n007,Male\n")
    db = tmp_path / "s.sqlite"
    r = runner.invoke(app, ["import", str(path), "--participants", str(people), "--id", "judge", "--store", str(db)])
    assert r.exit_code == 0, r.output
    survey = load_study(db).frames().survey.set_index("user_id")
    assert survey["gender"].to_dict() == {"7": "Female", "8": "Male", "007": "Male"}


def test_prism_study_exports_its_battles_to_arena(tmp_path):
    src, out = tmp_path / "gen", tmp_path / "b.jsonl"
    assert runner.invoke(app, ["generate", str(src), "-n", "6", "--seed", "2"]).exit_code == 0
    db = tmp_path / "s.sqlite"
    assert runner.invoke(app, ["import", str(src), "--store", str(db)]).exit_code == 0
    r = runner.invoke(app, ["export", str(out), "--store", str(db), "-f", "arena"])
    assert r.exit_code == 0, r.output
    study = load_study(src)
    frames = study.frames().utterances
    openers = frames[frames["turn"] == 0].groupby("interaction_id").size()
    expected = int((openers * (openers - 1) // 2).sum())
    back = load_study(out, format="arena").comparisons
    assert len(back) == expected > 0
    # scores within 5 points tie, as `pluralis rank` decides them
    assert all(c.ratings is not None and (c.winner is None) == (abs(c.ratings[0] - c.ratings[1]) <= 5) for c in back)
    assert {c.annotator_id for c in back} <= {p.user_id for p in study.survey}


def test_exporting_an_empty_study_to_arena_is_an_error(tmp_path):
    from pluralis.data import save_study
    from pluralis.data.study import Study
    from pluralis.errors import DataValidationError

    with pytest.raises(DataValidationError, match="nothing to write"):
        save_study(Study(), tmp_path / "b.jsonl", format="arena")
    assert not (tmp_path / "b.jsonl").exists()


def test_validate_accepts_a_zip_of_prism_files_and_names_files_inside_it(tmp_path):
    import zipfile

    src = tmp_path / "gen"
    assert runner.invoke(app, ["generate", str(src), "-n", "4"]).exit_code == 0
    archive = tmp_path / "export.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for p in src.iterdir():
            zf.write(p, arcname=p.name)
        zf.writestr("study.json", "{}")
    r = runner.invoke(app, ["validate", str(archive)])
    assert r.exit_code == 0 and "valid" in r.output, r.output
    lines = (src / "survey.jsonl").read_text().splitlines()
    lines[2] = lines[2].replace('"gender": "', '"gender": "x')
    with zipfile.ZipFile(tmp_path / "bad.zip", "w") as zf:
        zf.writestr("survey.jsonl", "\n".join(lines) + "\n")
        for p in src.iterdir():
            if p.name != "survey.jsonl":
                zf.write(p, arcname=p.name)
    r = runner.invoke(app, ["validate", str(tmp_path / "bad.zip")])
    assert r.exit_code != 0 and "bad.zip/survey.jsonl:3" in r.output and "gender" in r.output, r.output


def test_hf_datasets_folder_round_trip_with_participants_table(tmp_path):
    make_files(tmp_path)
    db = tmp_path / "s.sqlite"
    args = ["--participants", str(tmp_path / "people.csv"), "--id", "judge", "--fields", "gender,age"]
    assert runner.invoke(app, ["import", str(tmp_path / "battles.csv"), "--store", str(db), *args]).exit_code == 0
    out = tmp_path / "hf"
    r = runner.invoke(app, ["export", str(out), "--store", str(db), "-f", "hf_folder"])
    assert r.exit_code == 0, r.output
    assert (out / "comparisons" / "train-00000-of-00001.parquet").exists()
    assert "config_name: participants" in (out / "README.md").read_text()
    people = pd.read_parquet(out / "participants")
    assert len(people) == 192 and list(people.columns) == ["user_id", "gender", "age"]
    before, after = load_study(db), load_study(out)
    assert [c.model_dump(mode="json") for c in after.comparisons] == [
        c.model_dump(mode="json") for c in before.comparisons
    ]


@pytest.mark.parametrize("kind", ["toml", "yaml"])
def test_mapping_file_renames_and_selects_fields(tmp_path, kind):
    from pluralis.data.io.participants import mapping_from_options, read_participants

    (tmp_path / "p.csv").write_text("judge,sex,age\nu1,F,30\nu2,M,41\n")
    if kind == "toml":
        text = '[participants]\nfile = "p.csv"\nid = "judge"\nfields = ["sex"]\nrename = {sex = "gender"}\n'
    else:
        text = "participants:\n  file: p.csv\n  id: judge\n  fields: [sex]\n  rename: {sex: gender}\n"
    (tmp_path / f"m.{kind}").write_text(text)
    people = read_participants(mapping_from_options(tmp_path / f"m.{kind}"))
    assert people.to_dict() == {"gender": {"u1": "F", "u2": "M"}}
    (tmp_path / f"m.{kind}").write_text(text.replace("id", "key"))
    with pytest.raises(Exception, match=r"m\.(toml|yaml): field 'participants.key': unknown key"):
        mapping_from_options(tmp_path / f"m.{kind}")


def test_two_battle_files_without_ids_share_a_store(tmp_path):
    # both files' battles were 'arena0', 'arena1', ...: the second import was refused as duplicates
    week1, week2 = tmp_path / "week1.csv", tmp_path / "week2.csv"
    week1.write_text("model_a,model_b,winner,judge\nx,y,model_a,r1\ny,z,tie,r2\n")
    week2.write_text("model_a,model_b,winner,judge\nx,z,model_b,r3\n")
    db = tmp_path / "s.sqlite"
    for path in (week1, week2):
        r = runner.invoke(app, ["import", str(path), "--store", str(db)])
        assert r.exit_code == 0, r.output
    assert len(load_study(db).comparisons) == 3
    again = runner.invoke(app, ["import", str(week1), "--store", str(db)])  # the same file twice: refused
    assert again.exit_code != 0 and "already exists in the store" in again.output
    assert len(load_study(db).comparisons) == 3
    ids = [c.comparison_id for c in load_study(week1).comparisons]
    assert ids == [c.comparison_id for c in load_study(week1).comparisons] and len(set(ids)) == 2  # stable


@pytest.mark.parametrize("fmt, target", [("prism", "prism"), ("wide", "w.csv")])
def test_battles_cannot_be_exported_to_formats_without_comparisons(tmp_path, fmt, target):
    # exit 0 with four empty PRISM files (or an empty wide table): every battle silently dropped
    battles = tmp_path / "battles.csv"
    battles.write_text("model_a,model_b,winner,judge\nx,y,model_a,r1\ny,z,tie,r2\n")
    db = tmp_path / "s.sqlite"
    assert runner.invoke(app, ["import", str(battles), "--store", str(db)]).exit_code == 0
    r = runner.invoke(app, ["export", str(tmp_path / target), "--store", str(db), "-f", fmt])
    assert r.exit_code == 2 and "only its 2 comparisons" in " ".join(r.output.split()), r.output
    assert not (tmp_path / target).exists()
