"""The fast cross-group path (integer participant codes, one BLAS thread per skinny solve) gives the same
estimates as the plain reference loop (object ids with ``np.isin``, default threads)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.base import clone

import pluralis.learn.models as models_module
from pluralis.learn.cv import participant_folds
from pluralis.learn.groups import POOLED, _member, _subsample_users, cross_group_accuracy
from pluralis.learn.models import PersonalisedRewardModel, featurize_pairs
from pluralis.simulate.planted import planted_pairs


def test_member_and_subsample_match_isin_on_object_ids():
    rng = np.random.default_rng(0)
    users = np.array([f"u{i}" for i in rng.integers(0, 300, 5000)], dtype=object)
    codes = pd.factorize(users)[0]
    rows = np.flatnonzero(rng.random(len(users)) < 0.6)
    keep = rng.choice(pd.unique(codes), 40, replace=False)
    assert np.array_equal(_member(codes, keep), np.isin(codes, keep))
    for m in (1, 25, 10_000):
        fast = _subsample_users(rows, codes, m, np.random.default_rng(7))
        uniq = pd.unique(users[rows])
        ref = (
            rows
            if len(uniq) <= m
            else rows[np.isin(users[rows], np.random.default_rng(7).choice(uniq, m, replace=False))]
        )
        assert np.array_equal(fast, ref)


def reference_cross_group(pf, by, model, n_splits, seed):
    """cross_group_accuracy's predictions, the plain way: object ids, np.isin, default BLAS threads."""
    labels = pf.frame[by].astype(str).to_numpy(dtype=object)
    users = pf.frame["user_id"].astype(str).to_numpy()
    chosen = sorted(set(labels))
    folds = participant_folds(users, n_splits, strata=labels, seed=seed)
    rng = np.random.default_rng(seed)
    trains = [*chosen, POOLED]
    P = np.full((len(trains), len(pf)), np.nan)
    for k in range(n_splits):
        ev = np.flatnonzero(folds == k)
        pools = {g: np.flatnonzero((labels == g) & (folds != k)) for g in chosen}
        pools[POOLED] = np.flatnonzero(folds != k)
        m = min(len(pd.unique(users[pools[g]])) for g in chosen)
        for t, g in enumerate(trains):
            rows = pools[g]
            uniq = pd.unique(users[rows])
            if len(uniq) > m:
                rows = rows[np.isin(users[rows], rng.choice(uniq, size=m, replace=False))]
            fitted = clone(model).fit(pf.take(rows))
            P[t, ev] = fitted.predict_proba(pf.take(ev))[:, 1]
    return P, labels


def test_personalised_cross_group_matches_the_reference_loop(monkeypatch):
    pairs = planted_pairs(n_users=90, pairs_per_user=24, gamma={"if_enumeration": 1.5}, seed=3)
    pf = featurize_pairs(pairs)
    model = PersonalisedRewardModel(covariates=["stated_prefs_fluency"], cv=3)
    res = cross_group_accuracy(pf, "group", model=model, n_splits=3, n_boot=0, min_participants=5)
    monkeypatch.setattr(models_module, "SINGLE_THREAD_MAX_COLUMNS", 0)  # the reference: default BLAS threads
    P, labels = reference_cross_group(pf, "group", model, 3, 0)
    y = pf.y
    for (g, h), cell in res.table.set_index(["train_group", "eval_group"]).iterrows():
        t = [*res.groups, POOLED].index(g)
        idx = (labels == h) & (y != 0.5)
        p = P[t, idx]
        acc = np.where(p == 0.5, 0.5, ((p > 0.5) == (y[idx] > 0.5)).astype(float)).mean()
        assert abs(cell["accuracy"] - acc) < 1e-12
        pc = np.clip(p, 1e-12, 1 - 1e-12)
        ll = -(y[idx] * np.log(pc) + (1 - y[idx]) * np.log1p(-pc)).mean()
        assert abs(cell["log_loss"] - ll) < 1e-6


def test_single_thread_solve_matches_default_threads(monkeypatch):
    pairs = planted_pairs(n_users=80, pairs_per_user=30, gamma={"if_enumeration": 2.0}, seed=1)
    pf = featurize_pairs(pairs)
    fast = PersonalisedRewardModel(covariates=["stated_prefs_fluency"], cv=3).fit(pf)
    monkeypatch.setattr(models_module, "SINGLE_THREAD_MAX_COLUMNS", 0)
    ref = PersonalisedRewardModel(covariates=["stated_prefs_fluency"], cv=3).fit(pf)
    assert fast.chosen_ == ref.chosen_ and fast.alpha_covariates_ == ref.alpha_covariates_
    np.testing.assert_allclose(fast.coef_, ref.coef_, atol=1e-6)
    np.testing.assert_allclose(fast.interaction_coef_, ref.interaction_coef_, atol=1e-6)
