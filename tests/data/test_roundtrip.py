"""Lossless round trips: PRISM files -> records -> PRISM files (and via the store and parquet)."""

from __future__ import annotations

import json
import random

from hypothesis import HealthCheck, given, settings

from pluralis.data import canonical_json, load_prism, write_prism
from pluralis.data.io.parquet import read_parquet, write_parquet
from pluralis.store import Store
from tests.data.strategies import prism_release

FILES = ["survey", "conversations", "utterances", "metadata"]


def flatten_like_prism(conversations: list[dict]) -> list[dict]:
    """Independent re-implementation of PRISM's utterance flattening (prepare_conversations.py)."""
    rows = []
    for conv in sorted(conversations, key=lambda c: c["conversation_id"]):
        prompts = {h["turn"]: h["content"] for h in conv["conversation_history"] if h["role"] == "user"}
        for h in conv["conversation_history"]:
            if h["role"] == "model":
                rows.append((conv, h, prompts[h["turn"]]))
    rows.sort(key=lambda r: (r[0]["conversation_id"], r[1]["turn"]))
    out, groups = [], {}
    for conv, h, prompt in rows:
        k = groups.setdefault((conv["conversation_id"], h["turn"]), len(groups))
        out.append(
            {
                "utterance_id": f"ut{len(out)}",
                "interaction_id": f"int{k}",
                "conversation_id": conv["conversation_id"],
                "user_id": conv["user_id"],
                "turn": h["turn"],
                "within_turn_id": h["within_turn_id"],
                "included_in_balanced_subset": conv["included_in_balanced_subset"],
                "conversation_type": conv["conversation_type"],
                "user_prompt": prompt,
                "model_response": h["content"],
                "model_name": h["model_name"],
                "model_provider": h["model_provider"],
                "score": h["score"],
                "if_chosen": h["if_chosen"],
            }
        )
    return out


def write_raw(folder, tables: dict[str, list[dict]], shuffle_keys: random.Random) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name, rows in tables.items():
        with open(folder / f"{name}.jsonl", "w", encoding="utf-8") as fh:
            for row in rows:
                items = list(row.items())
                shuffle_keys.shuffle(items)  # key order on disk must not matter
                fh.write(json.dumps(dict(items), ensure_ascii=shuffle_keys.random() < 0.5) + "\n")


def canonical_lines(path) -> list[str]:
    return [canonical_json(json.loads(line)) for line in path.read_text("utf-8").split("\n") if line.strip()]


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
@given(release=prism_release())
def test_prism_files_round_trip_canonically(tmp_path_factory, release):
    survey, conversations, metadata = release
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
    out = tmp_path_factory.mktemp("out")
    write_prism(study, out)
    for name in FILES:
        assert canonical_lines(out / f"{name}.jsonl") == canonical_lines(src / f"{name}.jsonl"), name

    # ... and through the store (one more hop) and parquet
    db = tmp_path_factory.mktemp("db") / "s.sqlite"
    with Store.open(db) as store:
        store.import_study(study)
        via_store = store.export_study()
    out2 = tmp_path_factory.mktemp("out2")
    write_prism(via_store, out2)
    pq_folder = tmp_path_factory.mktemp("pq")
    write_parquet(study, pq_folder)
    out3 = tmp_path_factory.mktemp("out3")
    write_prism(read_parquet(pq_folder), out3)
    for name in FILES:
        assert canonical_lines(out2 / f"{name}.jsonl") == canonical_lines(src / f"{name}.jsonl"), f"store: {name}"
        assert canonical_lines(out3 / f"{name}.jsonl") == canonical_lines(src / f"{name}.jsonl"), f"parquet: {name}"


def test_synthetic_study_round_trips_byte_for_byte(tmp_path, small_study):
    write_prism(small_study, tmp_path / "a")
    reread = load_prism(tmp_path / "a")
    write_prism(reread, tmp_path / "b")
    for name in FILES:
        assert (tmp_path / "a" / f"{name}.jsonl").read_bytes() == (tmp_path / "b" / f"{name}.jsonl").read_bytes()


def test_missing_utterances_file_is_derived_from_histories(tmp_path, small_study):
    write_prism(small_study, tmp_path)
    (tmp_path / "utterances.jsonl").unlink()
    study = load_prism(tmp_path)
    assert [u.model_dump() for u in study.utterances] == [u.model_dump() for u in small_study.utterances]


def test_hf_cache_layout_is_found_offline(tmp_path, small_study):
    from pluralis.data.io.hf import hf_cache_snapshot, load_prism_from_hf_cache

    repo = tmp_path / "hub" / "datasets--HannahRoseKirk--prism-alignment"
    snap = repo / "snapshots" / "abc123"
    write_prism(small_study, snap)
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text("abc123")
    assert hf_cache_snapshot(tmp_path / "hub") == snap
    assert load_prism_from_hf_cache(tmp_path / "hub").counts() == small_study.counts()
