"""Chatbot-Arena and Community-Alignment comparisons: reading, writing, battle tables."""

from __future__ import annotations

import csv
import json

import pandas as pd
import pytest

from pluralis.data.io.arena import read_arena, write_arena
from pluralis.data.io.community_alignment import read_community_alignment
from pluralis.data.io.comparisons import comparisons_frame
from pluralis.errors import DataValidationError

BATTLES = [
    {
        "question_id": "q1",
        "model_a": "gpt-4",
        "model_b": "claude-2",
        "winner": "model_a",
        "judge": "u1",
        "turn": 1,
        "language": "English",
        "tstamp": 1700000000.5,
    },
    {"question_id": "q2", "model_a": "vicuna", "model_b": "gpt-4", "winner": "tie (bothbad)", "judge": "u2", "turn": 1},
    {
        "question_id": "q3",
        "model_a": "claude-2",
        "model_b": "vicuna",
        "winner": "tie",
        "judge": "u1",
        "turn": 2,
        "conversation_a": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello A"}],
        "conversation_b": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello B"}],
    },
]


def test_arena_formats_read_identically(tmp_path):
    (tmp_path / "b.json").write_text(json.dumps(BATTLES))
    with open(tmp_path / "b.jsonl", "w") as fh:
        for b in BATTLES:
            fh.write(json.dumps(b) + "\n")
    flat = [{k: v for k, v in b.items() if not k.startswith("conversation")} for b in BATTLES]
    pd.DataFrame(flat).to_parquet(tmp_path / "b.parquet")
    pd.DataFrame(flat).to_csv(tmp_path / "b.csv", index=False)
    from_json = read_arena(tmp_path / "b.json")
    assert [c.winner_model for c in from_json] == ["gpt-4", None, None]
    assert [(c.tie, c.both_bad) for c in from_json] == [(False, False), (True, True), (True, False)]
    assert from_json[2].prompt == "hi" and from_json[2].responses == ["hello A", "hello B"]
    for name in ("b.jsonl", "b.parquet", "b.csv"):
        got = read_arena(tmp_path / name)
        assert [(c.models, c.winner, c.tie, c.both_bad, c.annotator_id) for c in got] == [
            (c.models, c.winner, c.tie, c.both_bad, c.annotator_id) for c in from_json
        ], name


def test_arena_write_read_round_trip(tmp_path):
    (tmp_path / "b.json").write_text(json.dumps(BATTLES))
    comps = read_arena(tmp_path / "b.json")
    write_arena(comps, tmp_path / "out.jsonl")
    again = read_arena(tmp_path / "out.jsonl")
    assert [(c.models, c.winner, c.tie, c.both_bad, c.annotator_id, c.turn) for c in again] == [
        (c.models, c.winner, c.tie, c.both_bad, c.annotator_id, c.turn) for c in comps
    ]


def test_community_alignment_multi_turn_and_battles(tmp_path):
    row = {
        "conversation_id": "conv1",
        "annotator_id": "ann9",
        "assigned_lang": "fr",
        "first_turn_prompt": "Bonjour",
        "first_turn_response_a": "A",
        "first_turn_response_b": "B",
        "first_turn_response_c": "C",
        "first_turn_response_d": "D",
        "first_turn_preferred_response": "response_b",
        "first_turn_feedback": "plus chaleureux",
        "second_turn_prompt": "Et ensuite ?",
        "second_turn_response_a": "A2",
        "second_turn_response_b": "B2",
        "second_turn_response_c": None,
        "second_turn_response_d": None,
        "second_turn_preferred_response": "a",
    }
    path = tmp_path / "ca.jsonl"
    path.write_text(json.dumps(row) + "\n")
    comps = read_community_alignment(path)
    assert [(c.turn, len(c.models), c.winner, c.language) for c in comps] == [(0, 4, 1, "fr"), (1, 2, 0, "fr")]
    assert comps[0].explanation == "plus chaleureux"
    battles = comparisons_frame(comps)
    assert len(battles) == 3 + 1
    assert (battles["winner"] == "model_a").all()
    assert set(battles.loc[battles.turn == 0, "model_a"]) == {"candidate_b"}


def test_k_wise_rankings_and_ratings_become_battles():
    from pluralis.data.model import Comparison

    ranked = Comparison(comparison_id="r", source="x", models=["a", "b", "c"], ranking=[2, 0])  # c > a > b(unranked)
    rated = Comparison(comparison_id="s", source="x", models=["a", "b"], ratings=[3.0, 3.0])
    silent = Comparison(comparison_id="t", source="x", models=["a", "b"])
    df = comparisons_frame([ranked, rated, silent])
    assert df[["model_a", "model_b", "winner"]].values.tolist() == [
        ["a", "b", "model_a"],
        ["a", "c", "model_b"],
        ["b", "c", "model_b"],
        ["a", "b", "tie"],
    ]


def test_write_arena_uses_ratings_and_refuses_empty_judgements(tmp_path):
    import pytest

    from pluralis.data.model import Comparison
    from pluralis.errors import DataValidationError

    rated = Comparison(comparison_id="r", source="x", models=["a", "b"], ratings=[20.0, 70.0])
    write_arena([rated], tmp_path / "b.jsonl")
    assert read_arena(tmp_path / "b.jsonl")[0].winner_model == "b"
    with pytest.raises(DataValidationError, match="no winner, tie or ratings"):
        write_arena([Comparison(comparison_id="t", source="x", models=["a", "b"])], tmp_path / "c.jsonl")


def test_community_alignment_survives_parquet_and_the_store(tmp_path):
    from pluralis.data.io.parquet import read_parquet, write_parquet
    from pluralis.data.study import Study
    from pluralis.store import Store

    rows = [
        {
            "conversation_id": f"conv{i}",
            "annotator_id": f"ann{i % 3}",
            "assigned_lang": "en",
            "first_turn_prompt": f"prompt {i}",
            "first_turn_response_a": "A",
            "first_turn_response_b": "B",
            "first_turn_response_c": "C",
            "first_turn_response_d": None,
            "first_turn_preferred_response": "abc"[i % 3],
            "first_turn_feedback": "because" if i % 2 else None,
        }
        for i in range(6)
    ]
    path = tmp_path / "ca.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    study = Study(comparisons=read_community_alignment(path))
    write_parquet(study, tmp_path / "pq")
    back = read_parquet(tmp_path / "pq")
    assert [c.to_json_dict() for c in back.comparisons] == [c.to_json_dict() for c in study.comparisons]
    with Store.open(tmp_path / "s.sqlite") as store:
        store.import_study(study)
        again = store.export_study()
    assert [c.to_json_dict() for c in again.comparisons] == [c.to_json_dict() for c in study.comparisons]
    assert [len(c.models) for c in again.comparisons] == [3] * 6


def _problem(path, error_type=DataValidationError):
    with pytest.raises(error_type) as info:
        read_arena(path)
    return info.value.first


def test_csv_lines_count_quoted_cells_spanning_lines(tmp_path):
    # Arena responses hold newlines: the bad row's FILE line is named, not its record number
    path = tmp_path / "battles.csv"
    rows = [["model_a", "model_b", "winner", "response_a"]]
    rows += [["x", "y", "model_a", "one\ntwo\n- three"] for _ in range(5)] + [["x", "y", "model_c", "ok"]]
    with path.open("w", newline="") as fh:
        csv.writer(fh).writerows(rows)
    bad_line = next(i for i, line in enumerate(path.read_text().splitlines(), 1) if "model_c" in line)
    assert bad_line == 17
    p = _problem(path)
    assert (p.line, p.field) == (17, "winner")
    assert "model_c" in p.message


def test_csv_and_json_bad_files_are_one_line_errors(tmp_path):
    cases = {
        "empty.csv": (b"", 1, "empty file"),
        "ragged.csv": (b"model_a,model_b,winner\nx,y,tie\nx,y,tie,extra\n", 3, "header (line 1) has 3"),
        "latin1.csv": ("model_a,model_b,winner\nx,y,tie\nx,caf\u00e9,tie\n".encode("latin-1"), 3, "not UTF-8"),
        "rows.jsonl": (b'{"model_a": "x", "model_b": "y", "winner": "tie"}\n[1, 2]\n', 2, "JSON object"),
        "numbers.json": (b"[1, 2]", 1, "JSON object"),
        "scalar.json": (b"3", 1, "JSON array"),
        # the quote opens on line 5, after a quoted cell that rightly spans lines 3-4
        "unclosed.csv": (b'model_a,model_b,winner\nx,y,tie\nx,y,"multi\nline"\nx,"y,tie\nx,y,tie\n', 5, "never closed"),
    }
    for name, (data, line, text) in cases.items():
        path = tmp_path / name
        path.write_bytes(data)
        p = _problem(path)
        assert (p.file, p.line) == (str(path), line), name
        assert text in p.message, (name, p.message)


def test_csv_with_bom_and_crlf_reads_like_plain_csv(tmp_path):
    text = "model_a,model_b,winner,judge\nx,y,model_a,u1\n\ny,x,tie,u2\n"
    plain, odd = tmp_path / "plain.csv", tmp_path / "odd.csv"
    plain.write_text(text)
    odd.write_bytes(b"\xef\xbb\xbf" + text.replace("\n", "\r\n").encode())
    same = {"exclude": {"comparison_id"}}  # ids are derived from the file's bytes
    assert [c.model_dump(**same) for c in read_arena(odd)] == [c.model_dump(**same) for c in read_arena(plain)]
    lines: list[int] = []
    read_arena(odd, lines=lines)
    assert lines == [2, 4]  # the blank line 3 is skipped, and counted


def test_duplicate_battle_id_names_its_file_line_and_the_first(tmp_path):
    # the duplicate was named by its position among the battles (line 3 here), not its line
    path = tmp_path / "battles.csv"
    path.write_text("battle_id,model_a,model_b,winner\nb1,x,y,model_a\nb2,x,y,tie\nb1,y,x,model_b\n")
    p = _problem(path)
    assert (p.line, p.field) == (4, "comparison_id")
    assert "first on line 2" in p.message


@pytest.mark.parametrize("suffix", [".csv", ".jsonl"])
def test_community_alignment_numeric_ids_and_texts_stay_text(tmp_path, suffix):
    # annotator 7 failed every row ("Input should be a valid string"); a response "42" became 42
    rows = pd.DataFrame(
        {
            "conversation_id": [1, 2],
            "annotator_id": [7, 7],
            "first_turn_prompt": ["Pick a number", "Another"],
            "first_turn_response_a": ["42", "one\nline two"],
            "first_turn_response_b": ["7", "b"],
            "first_turn_model_a": ["m1", "m1"],
            "first_turn_model_b": ["m2", "m2"],
            "first_turn_preferred_response": ["b", "a"],
        }
    )
    path = tmp_path / f"ca{suffix}"
    if suffix == ".csv":
        rows.to_csv(path, index=False)
    else:
        rows.to_json(path, orient="records", lines=True)
    comps = read_community_alignment(path)
    assert [c.annotator_id for c in comps] == ["7", "7"]
    assert [c.conversation_id for c in comps] == ["1", "2"]
    assert comps[0].responses == ["42", "7"] and comps[0].winner_model == "m2"


def test_cut_off_jsonl_line_names_the_column_where_it_ends(tmp_path):
    path = tmp_path / "battles.jsonl"
    cut = '{"model_a": "x", "model_b": "y", "winner": "tie"'
    path.write_text('{"model_a": "x", "model_b": "y", "winner": "tie"}\n' + cut + "\n")
    p = _problem(path)
    assert p.line == 2 and p.message.endswith(f"at column {len(cut) + 1}"), p.message  # was "at column 1"


def test_missing_arena_column_is_named_once_at_the_header(tmp_path):
    # was "field 'winner': required field is missing" on every row
    path = tmp_path / "battles.csv"
    path.write_text("model_a,model_b,judge\n" + "x,y,u1\n" * 30)
    with pytest.raises(DataValidationError) as info:
        read_arena(path)
    assert [(p.line, p.field) for p in info.value.problems] == [(1, "winner")]
    assert "columns: model_a, model_b, judge" in info.value.first.message


def test_community_alignment_keeps_participant_columns_for_by(tmp_path):
    # a CA file's gender/age columns were dropped: `rank ca.csv --by gender` said "unknown field"
    from pluralis.data.study import Study

    rows = pd.DataFrame(
        {
            "annotator_id": ["a1", "a2"],
            "first_turn_prompt": ["Hi", "Hello"],
            "first_turn_response_a": ["A", "A2"],
            "first_turn_response_b": ["B", "B2"],
            "first_turn_preferred_response": ["a", "b"],
            "second_turn_prompt": ["More", None],
            "second_turn_response_a": ["C", None],
            "second_turn_response_b": ["D", None],
            "gender": ["Female", "Male"],
            "age": [34, 51],
        }
    )
    path = tmp_path / "ca.csv"
    rows.to_csv(path, index=False)
    comps = read_community_alignment(path)
    assert [(c.turn, c.model_extra) for c in comps] == [
        (0, {"gender": "Female", "age": 34}),
        (1, {"gender": "Female", "age": 34}),
        (0, {"gender": "Male", "age": 51}),
    ]
    survey = Study(comparisons=comps).frames().survey
    assert survey.set_index("user_id")["gender"].to_dict() == {"a1": "Female", "a2": "Male"}
