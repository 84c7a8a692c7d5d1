"""Bad input gives a PluralisError naming file, line and field, and nothing is written."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from pluralis.cli import app
from pluralis.data import load_prism
from pluralis.data.comparisons import read_arena, read_community_alignment
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
    expect_problem(prism_folder, "conversations.jsonl", 4, "conversation_type", "unknown conversation type 'small talk'")


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


def test_community_alignment_bad_choice(tmp_path):
    path = tmp_path / "ca.jsonl"
    row = {"conversation_id": "x", "annotator_id": "a", "first_turn_prompt": "p", "first_turn_response_a": "A",
           "first_turn_response_b": "B", "first_turn_preferred_response": "z"}
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
