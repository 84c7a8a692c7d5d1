"""PRISM's wide format (one row per interaction): lossless round trips, PRISM's own pivot, errors, CLI."""

from __future__ import annotations

import json
import random

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from typer.testing import CliRunner

from pluralis.cli import app
from pluralis.data import load_prism, to_wide
from pluralis.data.io.registry import detect_format, load_study
from pluralis.data.io.wide import from_wide, read_wide, write_wide
from pluralis.errors import DataValidationError
from tests.data.strategies import prism_release
from tests.data.test_roundtrip import flatten_like_prism, write_raw

FORMATS = ["parquet", "csv", "jsonl"]


def prism_pivot_to_wide_format(df: pd.DataFrame) -> pd.DataFrame:
    """Literal port of PRISM's ``data_loader.pivot_to_wide_format`` (spec §2.5)."""
    df = df.copy()
    df["suffix"] = df.groupby("interaction_id").cumcount().map({0: "a", 1: "b", 2: "c", 3: "d"})
    wide = df.set_index(["interaction_id", "conversation_id", "turn", "user_prompt", "user_id", "suffix"]).unstack(
        "suffix"
    )
    wide.columns = [f"{col}_{suffix}" for col, suffix in wide.columns]
    return wide.reset_index()


def test_to_wide_matches_prisms_pivot(small_study):
    u = small_study.frames().utterances
    ours = to_wide(u).sort_values("interaction_id").reset_index(drop=True)
    theirs = prism_pivot_to_wide_format(u).sort_values("interaction_id").reset_index(drop=True)
    assert set(ours.columns) == set(theirs.columns)
    pd.testing.assert_frame_equal(ours[theirs.columns].astype(object), theirs.astype(object), check_dtype=False)
    # one row per interaction; later turns have no c/d responses
    assert len(ours) == u["interaction_id"].nunique()
    later = to_wide(u)
    assert later.loc[later["turn"] > 0, ["model_name_c", "model_name_d"]].isna().all().all()


@pytest.mark.parametrize("fmt", FORMATS)
def test_wide_file_round_trip_is_exact(small_study, tmp_path, fmt):
    u = small_study.frames().utterances
    # text that trips naive CSV/JSON handling: empty, NUL, lone CR, CRLF, quotes, "NA", numbers, U+2028
    tricky = ["", "x\x00y", "lone\rcr", "a\r\nb", '"quoted", comma', "NA", "None", "123", "\u2028", "True", "nan "]
    for i, text in enumerate(tricky):
        u.loc[i, "model_response"] = text
        u.loc[len(tricky) + i, "model_name"] = text or "m"
    path = write_wide(u, tmp_path / f"interactions.{fmt}")
    back = read_wide(path)
    pd.testing.assert_frame_equal(back, u)  # values and dtypes
    assert detect_format(path) == "wide"


def test_wide_csv_saved_by_excel_with_a_bom_reads_the_same(small_study, tmp_path):
    # Excel's "CSV UTF-8" starts with a BOM: every row was "interaction_id: required field is missing"
    u = small_study.frames().utterances
    path = write_wide(u, tmp_path / "interactions.csv")
    bom = tmp_path / "bom.csv"
    bom.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())
    pd.testing.assert_frame_equal(read_wide(bom), u)


def test_wide_slot_without_its_model_names_is_an_error_not_lost_rows(small_study, tmp_path):
    # without model_name_a every slot-a response was dropped and the table read as valid
    path = write_wide(small_study.frames().utterances, tmp_path / "interactions.csv")
    pd.read_csv(path, dtype=str).drop(columns=["model_name_a"]).to_csv(path, index=False)
    with pytest.raises(DataValidationError) as info:
        read_wide(path)
    p = info.value.first
    assert (p.file, p.line, p.field) == (str(path), 1, "model_name_a")
    assert detect_format(path) == "wide"  # not Arena's last resort ("model_a: required field is missing")


FAST = settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)


@FAST
@given(release=prism_release())
def test_wide_round_trip_on_generated_studies(tmp_path_factory, release):
    survey, conversations, metadata = release
    if not conversations:
        return
    src = tmp_path_factory.mktemp("src")
    write_raw(
        src,
        {
            "survey": survey,
            "conversations": conversations,
            "utterances": flatten_like_prism(conversations),
            "metadata": metadata,
        },
        random.Random(len(survey)),
    )
    study = load_prism(src)
    u = study.frames().utterances
    out = tmp_path_factory.mktemp("wide")
    for fmt in FORMATS:
        back = read_wide(write_wide(study, out / f"w.{fmt}"))
        pd.testing.assert_frame_equal(back, u, obj=fmt)
        # records rebuilt from the wide table are the released utterances, field for field
        records = [{k: v for k, v in r.items()} for r in back.to_dict("records")]
        assert records == [x.to_json_dict() for x in study.utterances], fmt


def test_from_wide_reads_csv_style_text_cells():
    wide = pd.DataFrame(
        {
            "interaction_id": ["int0"],
            "conversation_id": ["c0"],
            "turn": ["0"],
            "user_prompt": ["hi"],
            "user_id": ["u"],
            "model_name_a": ["x"],
            "model_name_b": ["y"],
            "score_a": ["55.0"],
            "score_b": ["7"],
            "if_chosen_a": ["True"],
            "if_chosen_b": ["false"],
        }
    )
    long = from_wide(wide)
    assert long["score"].tolist() == [55, 7] and long["if_chosen"].tolist() == [True, False]
    assert long["turn"].dtype == np.int64


def _write_csv_with(tmp_path, small_study, column, row, value):
    path = write_wide(small_study, tmp_path / "w.csv")
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    frame = frame.apply(lambda c: c.str.replace("\n", " ", regex=False))  # one physical line per record
    frame.loc[row, column] = value
    frame.to_csv(path, index=False)
    return path


@pytest.mark.parametrize(
    ("column", "value", "field", "words"),
    [
        ("score_b", "101", "score", "less than or equal to 100"),
        ("score_a", "0", "score", "greater than or equal to 1"),
        ("score_a", "great", "score", "expected an integer"),
        ("if_chosen_a", "maybe", "if_chosen", "expected true/false"),
        ("conversation_type_a", "small talk", "conversation_type", "unknown conversation type"),
    ],
)
def test_bad_wide_cells_name_file_line_and_field(tmp_path, small_study, column, value, field, words):
    path = _write_csv_with(tmp_path, small_study, column, 6, value)
    with pytest.raises(DataValidationError) as info:
        read_wide(path)
    p = info.value.first
    assert (p.file, p.line, p.field) == (str(path), 8, field), p  # header is line 1, data row 6 is line 8
    assert words in p.message


def test_wide_jsonl_errors_and_line_numbers(tmp_path, small_study):
    path = write_wide(small_study, tmp_path / "w.jsonl")
    lines = path.read_text("utf-8").split("\n")
    row = json.loads(lines[3])
    row["score_a"] = 250
    lines[3] = json.dumps(row)
    lines.insert(1, "")  # a blank line: later line numbers shift by one
    path.write_text("\n".join(lines), "utf-8")
    with pytest.raises(DataValidationError) as info:
        read_wide(path)
    assert (info.value.first.line, info.value.first.field) == (5, "score")
    path.write_text('{"model_name_a": "x"\n', "utf-8")
    with pytest.raises(DataValidationError, match="invalid JSON"):
        read_wide(path)


def test_csv_line_numbers_count_physical_lines_of_multiline_cells(tmp_path, small_study):
    frame = pd.read_csv(write_wide(small_study, tmp_path / "w.csv"), dtype=str, keep_default_na=False).head(2)
    frame.loc[0, "user_prompt"] = "two\nlines"
    frame.loc[1, "score_b"] = "0"
    path = tmp_path / "two.csv"
    frame.to_csv(path, index=False)
    expected = 3 + sum(str(v).count("\n") for v in frame.iloc[0])  # header + record 1 (1 + its newlines) + 1
    with pytest.raises(DataValidationError) as info:
        read_wide(path)
    assert (info.value.first.line, info.value.first.field) == (expected, "score")


def test_wide_csv_with_a_short_row_and_bad_suffix(tmp_path, small_study):
    path = _write_csv_with(tmp_path, small_study, "user_id", 0, "user0")
    text = path.read_text("utf-8").split("\n")
    text[2] = "int1,c0"
    path.write_text("\n".join(text), "utf-8")
    with pytest.raises(DataValidationError) as info:
        read_wide(path)
    assert info.value.first.line == 3 and "cells" in info.value.first.message
    with pytest.raises(DataValidationError, match="parquet, .csv or .jsonl"):
        write_wide(small_study, tmp_path / "w.xlsx")


def test_inconsistent_interaction_is_refused(small_study):
    u = small_study.frames().utterances
    u.loc[1, "user_prompt"] = u.loc[1, "user_prompt"] + " (edited)"
    with pytest.raises(DataValidationError, match="more than one user_prompt"):
        to_wide(u)


def test_cli_exports_wide_and_ranks_it(tmp_path, prism_folder):
    runner = CliRunner()
    db = tmp_path / "s.sqlite"
    assert runner.invoke(app, ["import", str(prism_folder), "--store", str(db)]).exit_code == 0
    out = tmp_path / "interactions.parquet"
    r = runner.invoke(app, ["export", str(out), "--store", str(db), "-f", "wide"])
    assert r.exit_code == 0, r.output
    study = load_study(prism_folder)
    pd.testing.assert_frame_equal(read_wide(out), study.frames().utterances)
    wide_study = load_study(out)
    assert len(wide_study.utterances) == len(study.utterances) and not wide_study.survey
    r = runner.invoke(app, ["rank", str(out), "--bootstrap", "0"])
    assert r.exit_code == 0 and "Pairwise Rank Centrality" in r.output
    r = runner.invoke(app, ["import", str(out), "--store", str(tmp_path / "other.sqlite")])
    assert r.exit_code == 2 and "without a survey" in r.output
    r = runner.invoke(app, ["export", str(tmp_path / "x"), "--store", str(db), "-f", "xlsx"])
    assert r.exit_code == 2 and "--format" in r.output


def test_wide_csv_that_is_not_utf8_or_unparsable_names_its_line(tmp_path):
    """The wide reader shares the comparison files' CSV records: true lines, UTF-8 checked."""
    latin = tmp_path / "latin.csv"
    latin.write_bytes("interaction_id,model_name_a,score_a\ni1,m,50\ni2,caf\u00e9,50\n".encode("latin-1"))
    with pytest.raises(DataValidationError) as err:
        read_wide(latin)
    (p,) = err.value.problems
    assert (p.file, p.line) == (str(latin), 3) and "not UTF-8" in p.message
    ragged = tmp_path / "ragged.csv"
    ragged.write_text('interaction_id,model_name_a,score_a\ni1,"two\nlines",50\ni2,m\n', encoding="utf-8")
    with pytest.raises(DataValidationError) as err:
        read_wide(ragged)
    (p,) = err.value.problems
    assert p.line == 4 and "expected 3 cells, found 2" in p.message
