"""Preference data for alignment: pairs from studies, groups, mixtures, disagreement rules, splits, TRL files."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from pluralis.align.pairs import (
    PreferenceData,
    build_preference_data,
    label_pairs,
    largest_remainder,
    mix_groups,
    parse_group,
    read_pairs_jsonl,
    resolve_disagreement,
    study_pairs,
    to_trl,
)
from pluralis.errors import ConfigError

# --- disagreement: the hand-made example of the module docstring -------------------------------------------------

HAND = [
    ("K1", "A", "B", "u1"),
    ("K1", "A", "B", "u2"),
    ("K1", "B", "A", "u3"),
    ("K2", "C", "D", "u4"),
    ("K2", "D", "C", "u5"),
    ("K3", "E", "F", "u6"),
    ("K4", "G", "H", "u7"),
    ("K4", "G", "H", "u8"),
]


def hand_pairs() -> pd.DataFrame:
    p = pd.DataFrame(HAND, columns=["key", "chosen_text", "rejected_text", "user_id"])
    p["prompt"] = [[{"role": "user", "content": k}] for k in p["key"]]
    return p


def test_disagreement_rules_give_the_documented_pair_counts():
    p = hand_pairs()
    keep = resolve_disagreement(p, "keep")
    majority = resolve_disagreement(p, "majority")
    contested = resolve_disagreement(p, "drop-contested")
    assert (len(keep), len(majority), len(contested)) == (8, 3, 3)
    # majority: K1 in the majority's direction (A over B), K2 (1:1) gone, K3 and K4 once
    assert sorted(zip(majority["key"], majority["chosen_text"])) == [("K1", "A"), ("K3", "E"), ("K4", "G")]
    assert majority.set_index("key").loc["K1", ["votes", "n_annotators"]].tolist() == [2, 3]
    # drop-contested keeps every judgement of unanimous prompts/pairs
    assert sorted(contested["key"]) == ["K3", "K4", "K4"]
    assert keep.set_index("user_id").loc["u3", "agreement"] == pytest.approx(1 / 3)


def test_disagreement_pools_pairs_whatever_their_order():
    p = pd.DataFrame(
        {"prompt": ["q", "q"], "chosen_text": ["x", "y"], "rejected_text": ["y", "x"], "user_id": ["a", "b"]}
    )
    assert len(resolve_disagreement(p, "majority")) == 0  # 1:1 on the same pair, presented both ways
    with pytest.raises(ConfigError, match="disagreement must be one of"):
        resolve_disagreement(p, "vote")


def test_graded_labels_are_levels_of_the_margin_or_net_votes():
    p = pd.DataFrame({"margin": [6.0, 20.0, 20.5, 41.0, np.nan, np.nan], "votes": [1, 1, 1, 1, 3, 1],
                      "n_annotators": [1, 1, 1, 1, 3, 1]})  # fmt: skip
    assert label_pairs(p, "graded")["weight"].tolist() == [1.0, 1.0, 2.0, 3.0, 3.0, 1.0]
    assert label_pairs(p, "binary")["weight"].tolist() == [1.0] * 6
    assert label_pairs(p, "graded", grades=(10,))["weight"].tolist()[:2] == [1.0, 2.0]
    rows = to_trl(label_pairs(p.assign(prompt=[[]] * 6, chosen_text="a", rejected_text="b"), "graded"),
                  repeat_by_weight=True)  # fmt: skip
    assert len(rows) == 11


# --- mixtures: exact shares at a fixed size ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "shares,total",
    [((0.7, 0.3), 100), ((0.7, 0.3), 37), ((0.5, 0.5), 51), ((0.2, 0.3, 0.5), 97), ((1 / 3, 1 / 3, 1 / 3), 10)],
)
def test_mixer_hits_target_shares_exactly_at_fixed_size(shares, total):
    rng = np.random.default_rng(0)
    groups = ["Female", "Male", "Non-binary"][: len(shares)]
    p = pd.DataFrame({"user_id": rng.integers(0, 300, 600).astype(str), "gender": rng.choice(groups, 600)})
    p["pair_id"] = np.arange(len(p))
    mixture = {f"gender={g}": s for g, s in zip(groups, shares)}
    m = mix_groups(p, mixture, total, seed=1)
    counts = m["component"].value_counts().reindex([f"gender={g}" for g in groups]).to_numpy()
    assert len(m) == total and counts.sum() == total
    assert counts.tolist() == largest_remainder(total, shares).tolist()
    assert np.all(np.abs(counts - np.asarray(shares) * total) < 1.0)  # within one pair of the exact target
    assert (m["gender"] == m["component"].str.split("=").str[1]).all()
    assert m["pair_id"].is_unique  # drawn without replacement


def test_mixer_refuses_what_a_group_cannot_fill():
    p = pd.DataFrame({"user_id": list("abcd"), "gender": ["Female"] * 3 + ["Male"]})
    with pytest.raises(ConfigError, match="needs 2 pairs of 'gender=Male'"):
        mix_groups(p, ["gender=Female:0.5", "gender=Male:0.5"], 4)
    assert len(mix_groups(p, ["gender=Female:0.5", "gender=Male:0.5"])) == 2  # default: the largest feasible
    with pytest.raises(ConfigError, match="sum to 1"):
        mix_groups(p, ["gender=Female:0.5", "gender=Male:0.6"], 4)


def test_group_specs():
    assert parse_group("gender=Female|Male").values == ("Female", "Male")
    with pytest.raises(ConfigError, match="column=value"):
        parse_group("=Female")


# --- splits -------------------------------------------------------------------------------------------------------------


def test_splits_are_participant_disjoint_and_stratified(planted):
    pairs, split = planted
    users = pairs.groupby("user_id")
    assert (split.groupby(pairs["user_id"]).nunique() == 1).all()
    held = pairs.loc[split == "eval"].groupby("group")["user_id"].nunique()
    assert held.to_dict() == {"A": 6, "B": 6}
    assert users.ngroups == 24


def test_build_from_a_generated_study_with_group_and_margins():
    from pluralis.data.synthetic import generate_study

    study = generate_study(n_participants=30, seed=4)
    d = build_preference_data(study, group="gender=Female", eval_fraction=0.3, labels="graded")
    assert set(d.train["gender"]) == {"Female"} and set(d.train["component"]) == {"gender=Female"}
    assert set(d.train["user_id"]).isdisjoint(d.eval["user_id"])
    assert {"Female", "Male"} <= set(d.eval["gender"])  # the eval split judges every group
    assert (d.train["margin"] > 5).all()  # ties (|difference| <= 5) dropped, chosen = higher score
    assert (d.train["score_chosen"] > d.train["score_rejected"]).all()
    assert set(d.train["weight"]) <= {1.0, 2.0, 3.0}
    # later turns carry the conversation so far: user, continued response, ..., this turn's user message
    later = d.train[d.train["turn"] > 0]
    assert len(later) and all(len(p) == 2 * t + 1 for p, t in zip(later["prompt"], later["turn"]))
    assert all(p[1]["role"] == "assistant" for p in later["prompt"])
    with pytest.raises(ConfigError, match="location_birth_region"):
        build_preference_data(study, group="birth_region=Europe")


def test_pairs_from_comparisons():
    from pluralis.data import Comparison, Study

    comps = [
        Comparison(comparison_id=f"c{i}", source="community_alignment", models=["a", "b", "c"], prompt="Q?",
                   responses=["one", "two", "three"], winner=i % 3, annotator_id=f"ann{i % 4}")
        for i in range(8)
    ]  # fmt: skip
    p = study_pairs(Study(comparisons=comps))
    assert len(p) == 16  # the chosen one of three beats both others
    assert set(p["user_id"]) == {"ann0", "ann1", "ann2", "ann3"}
    assert p["margin"].isna().all() and (p["source"] == "community_alignment").all()


def test_write_and_read_trl_files(tmp_path, planted):
    pairs, split = planted
    d = PreferenceData(pairs[split == "train"].assign(weight=1.0), pairs[split == "eval"].assign(weight=1.0),
                       {"group": None})  # fmt: skip
    files = d.write(tmp_path / "pd")
    row = json.loads(files["train"].read_text().splitlines()[0])
    assert row["prompt"][-1]["role"] == "user" and row["chosen"][0]["role"] == "assistant"
    assert row["chosen"][0]["content"] == row["chosen_text"]
    back = PreferenceData.read(tmp_path / "pd")
    assert len(back.train) == len(d.train) and len(back.eval) == len(d.eval)
    assert back.train["prompt"].iloc[0] == d.train["prompt"].iloc[0]
    import datasets

    ds = datasets.load_from_disk(str(files["hf"]))
    assert set(ds) == {"train", "eval"} and ds["train"].num_rows == len(d.train)
    assert set(ds["train"].column_names) >= {"prompt", "chosen", "rejected"}
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"prompt": "hi", "chosen": "x"}\n')
    with pytest.raises(Exception, match="bad.jsonl:1: field 'rejected'"):
        read_pairs_jsonl(bad)


def test_pairs_cli_groups_and_mixture(tmp_path):
    from typer.testing import CliRunner

    from pluralis.cli import app
    from pluralis.data import write_prism
    from pluralis.data.synthetic import generate_study

    folder = tmp_path / "prism"
    write_prism(generate_study(n_participants=40, seed=5, with_metadata=False), folder)
    r = CliRunner().invoke(
        app, ["align", "pairs", str(folder), "-o", str(tmp_path / "g"), "-g", "gender=Female", "-g", "gender=Male",
              "--turns", "openers", "--no-hf"],
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    f, m = PreferenceData.read(tmp_path / "g" / "gender-Female"), PreferenceData.read(tmp_path / "g" / "gender-Male")
    assert set(f.train["gender"]) == {"Female"} and set(m.train["gender"]) == {"Male"}
    # one split for every group: the held-out participants are the same
    assert set(f.eval["user_id"]) == set(m.eval["user_id"])
    r = CliRunner().invoke(
        app, ["align", "pairs", str(folder), "-o", str(tmp_path / "mix"), "--mix", "gender=Female:0.7",
              "--mix", "gender=Male:0.3", "--size", "40", "--labels", "graded", "--disagreement", "majority"],
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    mix = PreferenceData.read(tmp_path / "mix")
    assert mix.train["component"].value_counts().to_dict() == {"gender=Female": 28, "gender=Male": 12}
    assert json.loads((tmp_path / "mix" / "meta.json").read_text())["mixture"] == {
        "gender=Female": 0.7,
        "gender=Male": 0.3,
    }
    r = CliRunner().invoke(app, ["align", "pairs", str(folder), "-o", str(tmp_path / "x"), "-g", "sex=Female"])
    assert r.exit_code == 2 and "sex" in r.output
