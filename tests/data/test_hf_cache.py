"""Loading PRISM from a local Hugging Face hub cache (offline; the cache layout is built here)."""

from __future__ import annotations

import hashlib
import os
import time

import pytest
from typer.testing import CliRunner

from pluralis.cli import app
from pluralis.data import load_prism_from_hf_cache, write_prism
from pluralis.data.io.hf import hf_cache_snapshot, hf_hub_cache_dir, parse_hf_source
from pluralis.data.io.registry import load_study
from pluralis.errors import DataValidationError
from pluralis.store import Store

REPO = "datasets--HannahRoseKirk--prism-alignment"
FILES = ["survey.jsonl", "conversations.jsonl", "utterances.jsonl", "metadata.jsonl"]


def build_hub_cache(hub, study, commit: str, *, ref: str | None = "main", files=FILES):
    """Lay files out exactly as ``huggingface_hub`` does: content in ``blobs/<sha256>``, the
    snapshot ``snapshots/<commit>/<file>`` as a relative symlink to the blob, ``refs/<ref>`` = commit."""
    repo = hub / REPO
    staging = hub / f".staging-{commit}"
    write_prism(study, staging)
    snap = repo / "snapshots" / commit
    snap.mkdir(parents=True)
    (repo / "blobs").mkdir(exist_ok=True)
    for name in files:
        data = (staging / name).read_bytes()
        digest = hashlib.sha256(data).hexdigest()
        (repo / "blobs" / digest).write_bytes(data)
        os.symlink(os.path.join("..", "..", "blobs", digest), snap / name)
    if ref:
        (repo / "refs").mkdir(exist_ok=True)
        (repo / "refs" / ref).write_text(commit)
    return snap


@pytest.fixture()
def hub(tmp_path, small_study):
    from pluralis.data.synthetic import generate_study

    hub = tmp_path / "hub"
    old = build_hub_cache(hub, generate_study(n_participants=3, seed=99), "1111111111aaaa", ref=None)
    past = time.time() - 3600
    os.utime(old, (past, past))
    build_hub_cache(hub, small_study, "2222222222bbbb")
    return hub


def test_snapshot_follows_refs_main_through_symlinked_blobs(hub, small_study):
    snap = hf_cache_snapshot(hub)
    assert snap.name == "2222222222bbbb" and (snap / "survey.jsonl").is_symlink()
    study = load_prism_from_hf_cache(hub)
    assert study.counts() == small_study.counts()
    assert [u.to_json_dict() for u in study.utterances] == [u.to_json_dict() for u in small_study.utterances]


def test_layout_is_the_one_huggingface_hub_reads(hub):
    hf = pytest.importorskip("huggingface_hub")
    found = hf.try_to_load_from_cache(
        "HannahRoseKirk/prism-alignment", "survey.jsonl", cache_dir=hub, repo_type="dataset"
    )
    assert os.path.realpath(found) == os.path.realpath(hf_cache_snapshot(hub) / "survey.jsonl")


def test_revisions_and_missing_caches(hub, tmp_path):
    assert hf_cache_snapshot(hub, revision="1111111111aaaa").name == "1111111111aaaa"
    assert hf_cache_snapshot(hub, revision="1111").name == "1111111111aaaa"  # unique prefix
    assert load_prism_from_hf_cache(hub, revision="1111").counts()["survey"] == 3
    assert hf_cache_snapshot(hub, revision="nope") is None
    with pytest.raises(DataValidationError, match="no cached copy of HannahRoseKirk/prism-alignment"):
        load_prism_from_hf_cache(tmp_path / "empty")
    # without refs/main the newest snapshot wins
    (hub / REPO / "refs" / "main").unlink()
    assert hf_cache_snapshot(hub).name == "2222222222bbbb"


def test_partial_download_is_still_a_clear_error(tmp_path, small_study):
    hub = tmp_path / "hub"
    build_hub_cache(hub, small_study, "3333", files=["conversations.jsonl"])
    with pytest.raises(DataValidationError, match="survey.jsonl: file not found"):
        load_prism_from_hf_cache(hub)


def test_cache_dir_follows_hf_environment(monkeypatch, tmp_path):
    for var in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE", "HF_HOME", "XDG_CACHE_HOME"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert hf_hub_cache_dir() == tmp_path / "xdg" / "huggingface" / "hub"
    monkeypatch.setenv("HF_HOME", str(tmp_path / "home"))
    assert hf_hub_cache_dir() == tmp_path / "home" / "hub"
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "direct"))
    assert hf_hub_cache_dir() == tmp_path / "direct"


def test_hf_urls():
    assert parse_hf_source("hf://HannahRoseKirk/prism-alignment") == ("HannahRoseKirk/prism-alignment", "main")
    assert parse_hf_source("hf://datasets/HannahRoseKirk/prism-alignment@v1") == (
        "HannahRoseKirk/prism-alignment",
        "v1",
    )
    with pytest.raises(DataValidationError, match="OWNER/NAME"):
        parse_hf_source("hf://prism-alignment")


def test_load_study_and_cli_import_from_the_cache(hub, tmp_path, monkeypatch, small_study):
    assert load_study("hf://HannahRoseKirk/prism-alignment", hf_cache=hub).counts() == small_study.counts()
    assert load_study(hub, format="hf").counts() == small_study.counts()
    runner = CliRunner()
    monkeypatch.setenv("HF_HUB_CACHE", str(hub))
    db = tmp_path / "s.sqlite"
    r = runner.invoke(app, ["import", "hf://HannahRoseKirk/prism-alignment", "--store", str(db)])
    assert r.exit_code == 0, r.output
    with Store.open(db) as store:
        assert store.counts()["utterances"] == len(small_study.utterances)
    monkeypatch.delenv("HF_HUB_CACHE")
    r = runner.invoke(app, ["info", "hf://HannahRoseKirk/prism-alignment@1111", "--hf-cache", str(hub)])
    assert r.exit_code == 0 and "survey" in r.output
    r = runner.invoke(app, ["validate", "hf://HannahRoseKirk/prism-alignment", "--hf-cache", str(tmp_path / "none")])
    assert r.exit_code == 2 and "no cached copy" in r.output
