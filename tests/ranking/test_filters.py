"""Rater-quality filters: planted adversarial and random raters are found; honest raters are kept."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pluralis.errors import ConfigError, DataValidationError
from pluralis.ranking.engine import rank_models
from pluralis.ranking.filters import filter_raters, rater_quality

MODELS = ["a", "b", "c", "d", "e"]
WORTH = np.array([1.5, 0.75, 0.0, -0.75, -1.5])


def crowd(seed: int = 0, honest: int = 80, reversed_: int = 8, random: int = 8, votes: int = 25) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    kinds = ["honest"] * honest + ["reversed"] * reversed_ + ["random"] * random
    for k, kind in enumerate(kinds):
        n = votes if k % 10 else 3  # every tenth rater votes only 3 times
        x = rng.integers(0, 5, n)
        y = (x + rng.integers(1, 5, n)) % 5
        d = WORTH[x] - WORTH[y]
        d = {"honest": d, "reversed": -d, "random": 0 * d}[kind]
        win = rng.random(n) < 1 / (1 + np.exp(-d))
        for i, j, w in zip(x, y, win):
            rows.append((MODELS[i], MODELS[j], "model_a" if w else "model_b", f"{kind}{k}"))
    return pd.DataFrame(rows, columns=["model_a", "model_b", "winner", "user_id"])


def test_leave_one_out_agreement_separates_planted_raters():
    q = rater_quality(crowd()).set_index("user_id")
    kind = q.index.str.extract(r"^([a-z]+)")[0].to_numpy()
    many = (q["votes"] >= 10).to_numpy()
    med = {k: q.loc[(kind == k) & many, "agreement"].median() for k in ("honest", "reversed", "random")}
    assert med["honest"] > 0.6 and 0.4 < med["random"] < 0.6 and med["reversed"] < 0.4


def test_outlier_filter_drops_adversaries_and_keeps_honest_raters():
    b = crowd(1)
    kept, report = filter_raters(b, min_votes=5, outliers=True)
    r = report.set_index("user_id")
    adversaries = [u for u in r.index if u.startswith("reversed") and r.loc[u, "votes"] >= 5]
    honest = [u for u in r.index if u.startswith("honest") and r.loc[u, "votes"] >= 5]
    assert r.loc[adversaries, "dropped"].mean() >= 0.85
    assert r.loc[honest, "dropped"].mean() <= 0.05
    assert r.loc[r["votes"] < 5, "dropped"].all()
    assert r.loc[r["votes"] < 5, "reason"].str.startswith("fewer than 5 votes").all()
    assert set(kept["user_id"]) == set(r.index[~r["dropped"]])
    # the filtered ranking is closer to the truth than the unfiltered one (sharper top-bottom gap)
    gap = {name: rank_models(d, "bt").set_index("model")["score"] for name, d in (("all", b), ("kept", kept))}
    assert gap["kept"]["a"] - gap["kept"]["e"] > gap["all"]["a"] - gap["all"]["e"]


def test_min_agreement_threshold_and_bad_options():
    b = crowd(2, reversed_=5, random=0)
    kept, report = filter_raters(b, min_agreement=0.5)
    dropped = report.loc[report["dropped"], "user_id"]
    assert len(dropped) and dropped.str.startswith(("reversed", "honest")).all()
    assert (report.loc[report["dropped"], "agreement"] < 0.5).all()
    with pytest.raises(ConfigError):
        filter_raters(b, min_votes=-1)
    with pytest.raises(ConfigError):
        filter_raters(b, min_agreement=1.5)
    with pytest.raises(DataValidationError, match="user_id"):
        filter_raters(b.drop(columns="user_id"), min_votes=2)


def test_no_filters_keep_everything():
    b = crowd(3, reversed_=0, random=0, honest=10)
    kept, report = filter_raters(b)
    assert len(kept) == len(b) and not report["dropped"].any()
