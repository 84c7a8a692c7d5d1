"""Bad input gives a PluralisError naming file, line and field, and nothing is written."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from pluralis.cli import app
from pluralis.data import load_prism
from pluralis.data.io.arena import read_arena
from pluralis.data.io.community_alignment import read_community_alignment
from pluralis.errors import DataValidationError, PluralisError
from pluralis.store import Store


def rewrite_line(path, line_no: int, change) -> None:
    lines = path.read_text("utf-8").split("\n")
    lines[line_no - 1] = change(lines[line_no - 1])
    path.write_text("\n".join(lines), "utf-8")


def edit_json(path, line_no: int, mutate) -> None:
    def change(line):
        obj = json.loads(line)
        mutate(obj)
        return json.dumps(obj)

    rewrite_line(path, line_no, change)


def expect_problem(folder, file: str, line: int | None, field: str | None, words: str) -> DataValidationError:
    with pytest.raises(DataValidationError) as info:
        load_prism(folder)
    problem = info.value.first
    assert problem.file.endswith(file), problem
    assert problem.line == line, problem
    assert problem.field == field, problem
    assert words in problem.message, problem
    assert f"{file}:{line}" in str(info.value) if line else True
    return info.value


def test_bad_json(prism_folder):
    rewrite_line(prism_folder / "utterances.jsonl", 7, lambda line: line[:-5])
    expect_problem(prism_folder, "utterances.jsonl", 7, None, "invalid JSON")


def test_missing_field(prism_folder):
    edit_json(prism_folder / "survey.jsonl", 3, lambda o: o.pop("age"))
    expect_problem(prism_folder, "survey.jsonl", 3, "age", "required field is missing")


@pytest.mark.parametrize("score", [0, 101, -5, 50.5])
def test_score_out_of_range(prism_folder, score):
    edit_json(prism_folder / "utterances.jsonl", 12, lambda o: o.update(score=score))
    expect_problem(prism_folder, "utterances.jsonl", 12, "score", str(score))


def test_score_in_conversation_history(prism_folder):
    edit_json(prism_folder / "conversations.jsonl", 2, lambda o: o["conversation_history"][1].update(score=250))
    expect_problem(prism_folder, "conversations.jsonl", 2, "conversation_history.1.score", "100")


def test_unknown_conversation_type(prism_folder):
    edit_json(prism_folder / "conversations.jsonl", 4, lambda o: o.update(conversation_type="small talk"))
    expect_problem(
        prism_folder, "conversations.jsonl", 4, "conversation_type", "unknown conversation type 'small talk'"
    )


def test_unknown_attribute_key_is_rejected(prism_folder):
    edit_json(prism_folder / "conversations.jsonl", 1, lambda o: o["performance_attributes"].update(fluncy=3))
    expect_problem(prism_folder, "conversations.jsonl", 1, "performance_attributes.fluncy", "Extra inputs")


def test_dangling_user_id(prism_folder):
    edit_json(prism_folder / "conversations.jsonl", 5, lambda o: o.update(user_id="ghost"))
    expect_problem(prism_folder, "conversations.jsonl", 5, "user_id", "unknown participant 'ghost'")


def test_duplicate_ids(prism_folder):
    first = json.loads((prism_folder / "survey.jsonl").read_text().split("\n")[0])
    edit_json(prism_folder / "survey.jsonl", 6, lambda o: o.update(user_id=first["user_id"]))
    err = expect_problem(prism_folder, "survey.jsonl", 6, "user_id", "duplicate id")
    assert "first on line 1" in str(err)


def test_duplicate_utterance_ids(prism_folder):
    edit_json(prism_folder / "utterances.jsonl", 9, lambda o: o.update(utterance_id="ut0"))
    expect_problem(prism_folder, "utterances.jsonl", 9, "utterance_id", "duplicate id 'ut0'")


def test_all_problems_are_collected(prism_folder):
    for line in (2, 4, 6):
        edit_json(prism_folder / "survey.jsonl", line, lambda o: o.update(gender="Robot"))
    with pytest.raises(DataValidationError) as info:
        load_prism(prism_folder)
    assert [p.line for p in info.value.problems] == [2, 4, 6]
    assert all(p.field == "gender" for p in info.value.problems)


def test_failed_import_writes_nothing(prism_folder, tmp_path, small_study, monkeypatch):
    db = tmp_path / "s.sqlite"
    with Store.open(db) as store:
        import pluralis.store.db as db_module

        original = db_module._batched
        calls = {"n": 0}

        def crash_midway(conn, table, rows, progress):
            calls["n"] += 1
            if calls["n"] == 4:  # after participants, conversations, interactions were inserted
                raise db_module.SQLAlchemyError("disk on fire")
            original(conn, table, rows, progress)

        monkeypatch.setattr(db_module, "_batched", crash_midway)
        with pytest.raises(PluralisError, match="nothing was written"):
            store.import_study(small_study)
        assert set(store.counts().values()) == {0}


def test_invalid_study_is_rejected_before_touching_store(prism_folder, tmp_path, small_study):
    db = tmp_path / "s.sqlite"
    with Store.open(db) as store:
        small = load_prism(prism_folder)
        small.utterances[3].conversation_id = "nope"
        with pytest.raises(DataValidationError, match="unknown conversation 'nope'"):
            store.import_study(small)
        assert set(store.counts().values()) == {0}


def test_arena_errors_name_line_and_field(tmp_path):
    path = tmp_path / "battles.jsonl"
    path.write_text(
        '{"model_a": "a", "model_b": "b", "winner": "model_a"}\n'
        '{"model_a": "a", "winner": "tie"}\n'
        '{"model_a": "a", "model_b": "b", "winner": "draw"}\n'
    )
    with pytest.raises(DataValidationError) as info:
        read_arena(path)
    assert [(p.line, p.field) for p in info.value.problems] == [(2, "model_b"), (3, "winner")]


def test_arena_csv_line_numbers_count_the_header(tmp_path):
    path = tmp_path / "battles.csv"
    path.write_text("model_a,model_b,winner\na,b,model_a\na,b,\n")
    with pytest.raises(DataValidationError) as info:
        read_arena(path)
    assert (info.value.first.line, info.value.first.field) == (3, "winner")


@pytest.mark.parametrize(
    ("name", "text"),
    [("battles.csv", "model_a,model_b,winner\n"), ("battles.jsonl", ""), ("battles.jsonl", "\n\n"), ("b.json", "[]")],
)
def test_a_battle_file_without_battles_is_an_error_not_zero_rows(tmp_path, name, text):
    # QA: a header-only battle file imported 0 rows and said so as if it had worked
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(DataValidationError, match="no comparisons: the file has no rows") as info:
        read_arena(path)
    assert info.value.first.file == str(path)
    store = tmp_path / "s.sqlite"
    r = CliRunner().invoke(app, ["import", str(path), "--format", "arena", "--store", str(store)])
    assert r.exit_code != 0 and "no comparisons" in r.output
    with Store.open(store) as st:
        assert st.counts().get("comparisons", 0) == 0


def test_community_alignment_bad_choice(tmp_path):
    path = tmp_path / "ca.jsonl"
    row = {
        "conversation_id": "x",
        "annotator_id": "a",
        "first_turn_prompt": "p",
        "first_turn_response_a": "A",
        "first_turn_response_b": "B",
        "first_turn_preferred_response": "z",
    }
    path.write_text(json.dumps(row) + "\n")
    with pytest.raises(DataValidationError) as info:
        read_community_alignment(path)
    assert (info.value.first.line, info.value.first.field) == (1, "first_turn_preferred_response")


def test_cli_validate_reports_location_and_exit_code(prism_folder):
    edit_json(prism_folder / "utterances.jsonl", 5, lambda o: o.update(score=0))
    result = CliRunner().invoke(app, ["validate", str(prism_folder)])
    assert result.exit_code == 2
    assert "utterances.jsonl:5" in result.output and "score" in result.output


def test_cli_import_of_bad_data_leaves_store_empty(prism_folder, tmp_path):
    edit_json(prism_folder / "conversations.jsonl", 3, lambda o: o.update(user_id="ghost"))
    db = tmp_path / "s.sqlite"
    result = CliRunner().invoke(app, ["import", str(prism_folder), "--store", str(db)])
    assert result.exit_code == 2
    assert "conversations.jsonl:3" in result.output
    assert not db.exists() or set(Store.open(db).counts().values()) == {0}


def test_problems_of_every_file_are_reported_together(prism_folder):
    edit_json(prism_folder / "survey.jsonl", 3, lambda o: o.pop("gender"))
    edit_json(prism_folder / "conversations.jsonl", 4, lambda o: o.update(conversation_type="chit chat"))
    edit_json(prism_folder / "utterances.jsonl", 12, lambda o: o.update(score=101))
    rewrite_line(prism_folder / "metadata.jsonl", 2, lambda line: line[:-3])
    with pytest.raises(DataValidationError) as info:
        load_prism(prism_folder)
    where = [(p.file.rsplit("/", 1)[-1], p.line, p.field) for p in info.value.problems]
    assert where == [
        ("survey.jsonl", 3, "gender"),
        ("conversations.jsonl", 4, "conversation_type"),
        ("utterances.jsonl", 12, "score"),
        ("metadata.jsonl", 2, None),
    ]


def test_cross_file_problems_name_the_real_line_after_blank_lines(prism_folder):
    lines = (prism_folder / "conversations.jsonl").read_text("utf-8").split("\n")
    lines[4:4] = ["", "   "]  # two blank lines before conversation 5
    (prism_folder / "conversations.jsonl").write_text("\n".join(lines), "utf-8")
    edit_json(prism_folder / "conversations.jsonl", 7, lambda o: o.update(user_id="ghost"))
    expect_problem(prism_folder, "conversations.jsonl", 7, "user_id", "unknown participant 'ghost'")


def test_non_utf8_line_and_bom(prism_folder):
    raw = (prism_folder / "survey.jsonl").read_bytes()
    (prism_folder / "survey.jsonl").write_bytes(b"\xef\xbb\xbf" + raw)  # a BOM is tolerated
    assert len(load_prism(prism_folder).survey) == raw.count(b"\n")
    lines = raw.split(b"\n")
    lines[4] = lines[4].replace(b'"user4"', b'"user\xe94"')  # Latin-1 byte
    (prism_folder / "survey.jsonl").write_bytes(b"\n".join(lines))
    expect_problem(prism_folder, "survey.jsonl", 5, None, "not UTF-8")


def test_reimport_names_file_line_and_field(prism_folder, tmp_path):
    study = load_prism(prism_folder)
    with Store.open(tmp_path / "s.sqlite") as store:
        store.import_study(study)
        with pytest.raises(DataValidationError) as info:
            store.import_study(load_prism(prism_folder))
        first = info.value.first
        assert (first.file, first.line, first.field) == (str(prism_folder / "survey.jsonl"), 1, "user_id")
        assert "already exists in the store" in first.message
        assert store.counts()["participants"] == len(study.survey)


def test_corrupt_parquet_is_a_clear_error(tmp_path, small_study):
    from pluralis.data.io.parquet import read_parquet, write_parquet

    write_parquet(small_study, tmp_path)
    (tmp_path / "utterances.parquet").write_bytes(b"not parquet at all")
    with pytest.raises(DataValidationError) as info:
        read_parquet(tmp_path)
    assert info.value.first.file.endswith("utterances.parquet") and "parquet" in info.value.first.message


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"responses": ["only one"]}, "responses has 1 entries for 2 models"),
        ({"ratings": [1, 2, 3]}, "ratings has 3 entries"),
        ({"ranking": [0, 0]}, "distinct model indices"),
        ({"winner": 0, "tie": True}, "both a winner and tie"),
        ({"both_bad": True}, "set tie=True"),
        ({"winner": 2}, "out of range"),
    ],
)
def test_inconsistent_comparisons_are_rejected(change, words):
    from pydantic import ValidationError

    from pluralis.data.model import Comparison

    with pytest.raises(ValidationError, match=words):
        Comparison(comparison_id="c1", source="test", models=["x", "y"], **change)


def test_comparison_file_errors_name_line_and_field(tmp_path):
    path = tmp_path / "ca.jsonl"
    good = {
        "conversation_id": "x",
        "annotator_id": "a",
        "first_turn_prompt": "p",
        "first_turn_response_a": "A",
        "first_turn_response_b": "B",
        "first_turn_preferred_response": "a",
    }
    path.write_text(
        json.dumps(good)
        + "\n"
        + json.dumps({**good, "conversation_id": "y", "first_turn_preferred_response": "c"})
        + "\n"
    )
    with pytest.raises(DataValidationError) as info:
        read_community_alignment(path)
    assert (info.value.first.line, info.value.first.field) == (2, "first_turn_preferred_response")
    assert "missing response" in info.value.first.message
