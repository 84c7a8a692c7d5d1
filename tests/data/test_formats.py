"""The data-format registry: one object per format, and every way in (load_study, save_study, the CLI) uses it.

The toy format below is a complete new format: defining and registering it in this one file is
all it takes for ``load_study``, ``detect_format``, ``pluralis import`` and ``pluralis export -f toy``
to read and write it.
"""

from __future__ import annotations

import importlib.metadata
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pluralis.cli import app
from pluralis.data import Comparison, Study
from pluralis.data.io import registry
from pluralis.data.io.registry import (
    DataFormat,
    UnknownFormatError,
    detect_format,
    formats,
    get_format,
    load_study,
    register_format,
    save_study,
    unregister_format,
)
from pluralis.data.jsonio import atomic_write
from pluralis.errors import ConfigError, DataValidationError, Problem
from pluralis.store import Store

runner = CliRunner()

# --- the toy format: a tiny TSV of battles --------------------------------------------------------

TOY_COLUMNS = ["battle_id", "model_a", "model_b", "winner"]
TOY_WINNERS = {"a": 0, "b": 1, "tie": None}


def read_toy(path: str | Path) -> Study:
    lines = Path(path).read_text("utf-8").splitlines()
    if not lines or lines[0].split("\t") != TOY_COLUMNS:
        raise DataValidationError(Problem(str(path), 1, None, f"header must be {TOY_COLUMNS}"))
    comparisons = []
    for number, line in enumerate(lines[1:], start=2):
        battle_id, a, b, winner = line.split("\t")
        if winner not in TOY_WINNERS:
            raise DataValidationError(Problem(str(path), number, "winner", f"expected a, b or tie, got {winner!r}"))
        comparisons.append(
            Comparison(
                comparison_id=battle_id, source="toy", models=[a, b], winner=TOY_WINNERS[winner], tie=winner == "tie"
            )
        )
    return Study(comparisons=comparisons)


def write_toy(study: Study, path: str | Path) -> dict[str, Path]:
    letter = {0: "a", 1: "b", None: "tie"}
    rows = ["\t".join(TOY_COLUMNS)]
    rows += ["\t".join([c.comparison_id, *c.models, letter[c.winner]]) for c in study.comparisons]
    with atomic_write(path) as fh:
        fh.write("\n".join(rows) + "\n")
    return {"battles": Path(path)}


TOY = DataFormat(
    name="toy",
    description="tiny TSV of battles (*.toy.tsv)",
    sniff=lambda source: 1.0 if source.endswith(".toy.tsv") else 0.0,
    read=read_toy,
    write=write_toy,
)

TOY_TEXT = "battle_id\tmodel_a\tmodel_b\twinner\nb1\tx\ty\ta\nb2\ty\tz\ttie\nb3\tz\tx\tb\n"


@pytest.fixture()
def toy():
    register_format(TOY)
    yield TOY
    unregister_format("toy")


# --- a new format, end to end ---------------------------------------------------------------------


def test_a_registered_format_is_read_and_written_everywhere(toy, tmp_path):
    source = tmp_path / "battles.toy.tsv"
    source.write_text(TOY_TEXT)
    assert detect_format(source) == "toy"
    study = load_study(source)
    assert [(c.models, c.winner, c.tie) for c in study.comparisons] == [
        (["x", "y"], 0, False),
        (["y", "z"], None, True),
        (["z", "x"], 1, False),
    ]

    db = tmp_path / "s.sqlite"
    r = runner.invoke(app, ["import", str(source), "--store", str(db)])
    assert r.exit_code == 0, r.output
    with Store.open(db) as store:
        assert store.counts()["comparisons"] == 3

    out = tmp_path / "out.toy.tsv"
    r = runner.invoke(app, ["export", str(out), "--store", str(db), "-f", "toy"])
    assert r.exit_code == 0, r.output
    assert out.read_text() == TOY_TEXT

    r = runner.invoke(app, ["validate", str(out), "--format", "toy"])
    assert r.exit_code == 0 and "valid" in r.output
    r = runner.invoke(app, ["formats"])
    assert r.exit_code == 0 and "toy" in r.output and "tiny TSV of battles" in r.output
    assert save_study(study, tmp_path / "again.toy.tsv", format="toy")["battles"].read_text() == TOY_TEXT


def test_bad_rows_of_a_registered_format_are_reported_with_line_and_field(toy, tmp_path):
    source = tmp_path / "bad.toy.tsv"
    source.write_text(TOY_TEXT.replace("\ttie\n", "\tdraw\n"))
    r = runner.invoke(app, ["import", str(source), "--store", str(tmp_path / "s.sqlite")])
    assert r.exit_code == 2
    assert f"{source}:3: field 'winner': expected a, b or tie, got 'draw'" in r.output
    assert not (tmp_path / "s.sqlite").exists()  # nothing written


def test_an_unregistered_format_is_refused_with_the_known_ones(tmp_path):
    source = tmp_path / "battles.toy.tsv"
    source.write_text(TOY_TEXT)
    with pytest.raises(DataValidationError, match=r"cannot tell what this is.*arena, community_alignment, hf"):
        detect_format(source)
    with pytest.raises(UnknownFormatError, match=r"unknown data format 'toy'; known formats: arena, .*prism.*store"):
        load_study(source, format="toy")
    r = runner.invoke(app, ["export", str(tmp_path / "o.toy.tsv"), "--store", str(tmp_path / "s.db"), "-f", "toy"])
    assert r.exit_code == 2 and "unknown data format 'toy'" in r.output and "parquet, prism" in r.output
    r = runner.invoke(app, ["import", str(source), "--store", str(tmp_path / "s.db")])
    assert r.exit_code == 2 and "cannot tell what this is" in r.output


def test_a_mistyped_path_is_not_found_rather_than_an_unknown_format(tmp_path):
    # "battles.cvs" / a missing folder said "cannot tell what this is ... pass --format"
    for name in ("battles.cvs", "battles.csv", "prism-release/"):
        missing = str(tmp_path / name)
        for args in (["validate", missing], ["import", missing, "--store", str(tmp_path / "s.db")]):
            r = runner.invoke(app, args)
            assert r.exit_code == 2 and f"{missing}: no such file or folder" in r.output, r.output
    assert not (tmp_path / "s.db").exists()


# --- the registry -----------------------------------------------------------------------------------


def test_builtins_and_the_store_are_registered_without_data_importing_the_store():
    names = [f.name for f in formats()]
    assert names == [
        "arena",
        "community_alignment",
        "hf",
        "hf_folder",
        "parquet",
        "prism",
        "ratings",
        "wide",
        "zip",
        "store",
    ]
    assert [f.name for f in formats(writable=True)] == ["arena", "hf_folder", "parquet", "prism", "wide", "store"]
    assert get_format("store").read.__module__ == "pluralis.store.format"
    for path in Path(registry.__file__).parent.glob("*.py"):
        assert "pluralis.store" not in path.read_text().replace('"pluralis.store.format"', ""), path


def test_every_builtin_format_is_detected_and_round_trips(tmp_path, small_study):
    small_study.comparisons = [
        Comparison(comparison_id="c1", source="arena", models=["x", "y"], winner=1, annotator_id="j1"),
        Comparison(comparison_id="c2", source="arena", models=["y", "z"], tie=True),
    ]
    try:
        targets = {
            "prism": tmp_path / "prism",
            "parquet": tmp_path / "parquet",
            "wide": tmp_path / "wide.csv",
            "arena": tmp_path / "battles.jsonl",
            "store": tmp_path / "study.sqlite",
        }
        for name, target in targets.items():
            save_study(small_study, target, format=name)
            assert detect_format(target) == name, name
            back = load_study(target)
            if name in ("parquet", "store"):
                assert back.counts() == small_study.counts(), name
            elif name == "prism":  # PRISM's files have no comparisons
                assert back.counts() == {**small_study.counts(), "comparisons": 0}
            elif name == "wide":
                assert [u.utterance_id for u in back.utterances] == [u.utterance_id for u in small_study.utterances]
            else:
                assert [(c.models, c.winner, c.tie) for c in back.comparisons] == [
                    (c.models, c.winner, c.tie) for c in small_study.comparisons
                ]
    finally:
        small_study.comparisons = []
    # a renamed SQLite file is still a store; a URL of a known database is one too
    (tmp_path / "study.sqlite").rename(tmp_path / "renamed.bin")
    assert detect_format(tmp_path / "renamed.bin") == "store"
    assert detect_format("postgresql+psycopg://u@localhost/db") == "store"
    assert detect_format("hf://HannahRoseKirk/prism-alignment@abc") == "hf"
    ca = tmp_path / "ca.jsonl"
    ca.write_text(json.dumps({"first_turn_prompt": "Hi", "first_turn_response_a": "A"}) + "\n")
    assert detect_format(ca) == "community_alignment"


def test_a_hub_cache_folder_is_detected_as_hf(tmp_path, small_study):
    save_study(small_study, tmp_path / "hub" / "datasets--HannahRoseKirk--prism-alignment" / "snapshots" / "abc")
    assert detect_format(tmp_path / "hub") == "hf"
    assert load_study(tmp_path / "hub").counts() == small_study.counts()


def test_registration_rules(toy, tmp_path, prism_folder):
    other = DataFormat("toy", "another toy", sniff=lambda s: 0.0, read=read_toy)
    with pytest.raises(ConfigError, match="already registered"):
        register_format(other)
    assert register_format(TOY) is TOY  # the same object again is fine
    register_format(other, replace=True)
    assert get_format("toy") is other and not other.writable
    with pytest.raises(ConfigError, match="'toy' cannot be written; writable formats: arena"):
        save_study(Study(), tmp_path / "x.toy.tsv", format="toy")
    with pytest.raises(ConfigError, match=r"format 'prism' has no option 'hf_cache' \(its options: validate\)"):
        load_study(prism_folder, hf_cache=tmp_path)
    assert load_study(prism_folder, hf_cache=None).counts()["survey"] == 40  # None means "not given"
    with pytest.raises(ConfigError, match="expected a DataFormat"):
        register_format("toy")  # type: ignore[arg-type]


def test_installed_packages_add_formats_through_entry_points(monkeypatch, tmp_path):
    entry = importlib.metadata.EntryPoint(name="toy", value=f"{__name__}:TOY", group=registry.ENTRY_POINT_GROUP)
    real = importlib.metadata.entry_points

    def entry_points(**kw):
        return [entry] if kw.get("group") == registry.ENTRY_POINT_GROUP else real(**kw)

    saved = dict(registry._registry)
    monkeypatch.setattr(registry.importlib.metadata, "entry_points", entry_points)
    monkeypatch.setattr(registry, "_loaded", False)
    registry._registry.clear()
    try:
        assert [f.name for f in formats()][-2:] == ["store", "toy"]
        source = tmp_path / "b.toy.tsv"
        source.write_text(TOY_TEXT)
        assert len(load_study(source).comparisons) == 3
    finally:
        registry._registry.clear()
        registry._registry.update(saved)
