"""The fast cross-group path (integer participant codes, one BLAS thread per skinny solve) gives the same
estimates as the plain reference loop (object ids with ``np.isin``, default threads)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone

import pluralis.learn.models as models_module
from pluralis.learn.cv import participant_folds
from pluralis.learn.groups import POOLED, _member, _subsample_users, cross_group_accuracy
from pluralis.learn.models import PersonalisedRewardModel, RewardModel, featurize_pairs
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


# --- the solver: one objective per design, preconditioned L-BFGS -----------------------------------------


def _explicit_objective(D, y, s, Z, users, theta, alpha, alpha_z, alpha_u):
    """The penalised loss on the explicit design ``[D, z ⊗ D, one-hot(user) ⊗ D]`` (no shortcuts)."""
    n, d = D.shape
    k, nu = Z.shape[1], int(users.max()) + 1
    X = np.hstack([D, (D[:, :, None] * Z[:, None, :]).reshape(n, -1), np.zeros((n, nu * d))])
    X[np.arange(n)[:, None], d + d * k + users[:, None] * d + np.arange(d)] = D
    m = X @ theta
    w, A, B = theta[:d], theta[d : d + d * k], theta[d + d * k :]
    loss = s @ (np.logaddexp(0.0, m) - y * m) + 0.5 * (alpha * w @ w + alpha_z * A @ A + alpha_u * B @ B)
    p = 1.0 / (1.0 + np.exp(-m))
    grad = X.T @ (s * (p - y)) + np.r_[alpha * w, alpha_z * A, alpha_u * B]
    return loss / s.sum(), grad / s.sum()


def test_objective_matches_the_explicit_design():
    rng = np.random.default_rng(0)
    n, d, k, people = 400, 3, 4, 25
    person = rng.integers(0, people, n)
    Zp = rng.normal(size=(people, k))
    D, y = rng.normal(size=(n, d)), rng.choice([0.0, 0.5, 1.0], n)
    s = rng.uniform(0.5, 2.0, n)
    users = pd.factorize(person)[0]
    nu = int(users.max()) + 1
    theta = rng.normal(size=d + d * k + nu * d)
    ref_f, ref_g = _explicit_objective(D, y, s, Zp[person], users, theta, 0.7, 3.0, 10.0)
    for obj in (
        models_module._Objective(D, y, s, Z=Zp[person], users=users, n_users=nu, zgroups=person),  # block design
        models_module._Objective(D, y, s, Z=Zp, users=users, n_users=nu, zgroups=person, per_group=True),
        models_module._Objective(D, y, s, Z=Zp[person], users=users, n_users=nu),  # per-row covariates
    ):
        f, g = obj.value_and_grad(theta, 0.7, 3.0, 10.0)
        assert abs(f - ref_f) < 1e-12
        np.testing.assert_allclose(g, ref_g, rtol=1e-10, atol=1e-13)


@pytest.mark.parametrize("full_rotation", [True, False])
def test_preconditioner_is_a_change_of_variables(monkeypatch, full_rotation):
    """``θ = T φ``, ``T⁻¹`` inverts it and ``to_phi`` is ``Tᵀ`` (so ∇φ = Tᵀ ∇θ: the same problem); with the
    features' eigenvectors (narrow designs) or only their scales (wide ones)."""
    if not full_rotation:
        monkeypatch.setattr(models_module, "FULL_FEATURE_PRECONDITIONER_MAX_COLUMNS", 0)
    rng = np.random.default_rng(1)
    n, d, k, people = 300, 4, 3, 20
    person = rng.integers(0, people, n)
    D, y, s = rng.normal(size=(n, d)), rng.integers(0, 2, n).astype(float), np.ones(n)
    users = pd.factorize(person)[0]
    obj = models_module._Objective(
        D,
        y,
        s,
        Z=rng.normal(size=(people, k)),
        users=users,
        n_users=int(users.max()) + 1,
        zgroups=person,
        per_group=True,
    )
    to_theta, to_phi, from_theta = obj._transform(1.0, 30.0, 10.0)
    size = sum(obj.sizes)
    T = np.column_stack([to_theta(e) for e in np.eye(size)])
    Tt = np.column_stack([to_phi(e) for e in np.eye(size)])
    np.testing.assert_allclose(Tt, T.T, atol=1e-12)
    v = rng.normal(size=size)
    np.testing.assert_allclose(from_theta(to_theta(v)), v, atol=1e-10)
    ref = models_module._Objective(D, y, s, Z=obj.Zu[obj.zc], users=users, n_users=obj.nu, zgroups=person)
    monkeypatch.setattr(models_module, "PRECONDITION", False)
    plain = ref.solve(1.0, 30.0, 10.0)[3]
    monkeypatch.setattr(models_module, "PRECONDITION", True)
    fast = obj.solve(1.0, 30.0, 10.0)[3]
    assert abs(fast.fun - plain.fun) < 1e-12 and np.abs(fast.x - plain.x).max() < 1e-5


def test_preconditioned_fits_match_plain_lbfgs(monkeypatch):
    """The same optimum with and without the preconditioner (up to the solver tolerance): the same chosen
    penalty, cross-validated losses and coefficients; the global model too."""
    pairs = planted_pairs(n_users=120, pairs_per_user=25, gamma={"if_enumeration": 1.5}, seed=4)
    pairs["colour"] = np.where(pairs["user_id"].str[-1].isin(list("0123")), "red", "blue")
    pf = featurize_pairs(pairs)
    covs = ["stated_prefs_fluency", "colour"]
    fits = {}
    for pre in (True, False):
        monkeypatch.setattr(models_module, "PRECONDITION", pre)
        fits[pre] = (
            PersonalisedRewardModel(covariates=covs, cv=3).fit(pf),
            PersonalisedRewardModel(covariates=covs, alpha_covariates=1.0, user_offsets=True).fit(pf),
            RewardModel().fit(pf),
            PersonalisedRewardModel(covariates=covs, alpha_covariates=0.0).fit(pf),  # collinear one-hot levels
        )
    (cv_fast, off_fast, glob_fast, free_fast), (cv_ref, off_ref, glob_ref, free_ref) = fits[True], fits[False]
    assert np.isfinite(free_fast.interaction_coef_).all()
    assert abs(free_fast.objective_ - free_ref.objective_) < 1e-9
    np.testing.assert_allclose(free_fast.predict_proba(pf), free_ref.predict_proba(pf), atol=1e-5)
    assert cv_fast.chosen_ == cv_ref.chosen_ == "personalised"
    assert cv_fast.alpha_covariates_ == cv_ref.alpha_covariates_
    np.testing.assert_allclose(cv_fast.cv_results_["log_loss"], cv_ref.cv_results_["log_loss"], atol=1e-7)
    for a, b in ((cv_fast, cv_ref), (off_fast, off_ref)):
        np.testing.assert_allclose(a.coef_, b.coef_, atol=1e-4)
        np.testing.assert_allclose(a.interaction_coef_, b.interaction_coef_, atol=1e-4)
        assert abs(a.objective_ - b.objective_) < 1e-9
    np.testing.assert_allclose(off_fast.user_coef_.to_numpy(), off_ref.user_coef_.to_numpy(), atol=1e-4)
    np.testing.assert_allclose(glob_fast.coef_, glob_ref.coef_, atol=1e-5)
    assert cv_fast.n_iter_ < cv_ref.n_iter_


def test_cross_group_in_parallel_processes_matches_serial():
    pairs = planted_pairs(n_users=90, pairs_per_user=20, gamma={"if_enumeration": 1.5}, seed=5)
    pf = featurize_pairs(pairs)
    model = PersonalisedRewardModel(covariates=["stated_prefs_fluency"], cv=3)
    done = []
    kw = {"model": model, "n_splits": 3, "n_boot": 50, "min_participants": 5}
    serial = cross_group_accuracy(pf, "group", **kw)
    parallel = cross_group_accuracy(pf, "group", n_jobs=2, progress=lambda i, n: done.append((i, n)), **kw)
    pd.testing.assert_frame_equal(serial.table, parallel.table, check_exact=True)
    assert done == [(i, 9) for i in range(1, 10)]


def test_participant_folds_and_cluster_codes_match_the_string_ids():
    """Folds from integer ranks of the ids are scikit-learn's folds on the string ids; cluster SEs on
    integer codes equal those on the ids."""
    import warnings

    from sklearn.model_selection import GroupKFold, StratifiedGroupKFold

    from pluralis.learn.cv import cluster_mean_se, one_se_choice

    rng = np.random.default_rng(2)
    users = np.array([f"u{i}" for i in rng.integers(0, 200, 3000)], dtype=object)
    strata = rng.choice(["a", "b", "c"], 3000)
    X = np.zeros((3000, 1))
    for seed in (0, 3):
        for st in (None, strata):
            if st is None:
                parts = GroupKFold(5, shuffle=True, random_state=seed).split(X, groups=users)
            else:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", UserWarning)
                    parts = list(
                        StratifiedGroupKFold(5, shuffle=True, random_state=seed).split(
                            X, pd.factorize(st)[0], groups=users
                        )
                    )
            ref = np.full(3000, -1)
            for k, (_, test) in enumerate(parts):
                ref[test] = k
            assert np.array_equal(participant_folds(users, 5, strata=st, seed=seed), ref)
    values, weights = rng.normal(size=3000), (rng.random(3000) < 0.8).astype(float)
    codes = pd.factorize(users)[0]
    assert cluster_mean_se(values, codes, weights) == cluster_mean_se(values, users, weights)
    L = rng.normal(size=(4, 3000))
    a, b = one_se_choice(L, users, weights=weights), one_se_choice(L, codes, weights=weights)
    assert a[0] == b[0]
    pd.testing.assert_frame_equal(a[1], b[1], check_exact=True)


def test_covariate_encoding_in_numpy_matches_scikit_learn():
    from pluralis.learn.models import CovariateEncoder

    rng = np.random.default_rng(3)
    n = 300
    frame = pd.DataFrame(
        {
            "slider": np.where(rng.random(n) < 0.1, np.nan, rng.integers(0, 101, n).astype(float)),
            "count": rng.integers(0, 5, n),
            "gender": rng.choice(["Female", "Male", None], n),
            "age": rng.choice(["18-24", "25-34", "65+"], n),
        }
    )
    enc = CovariateEncoder(["slider", "count", "gender", "age"]).fit(frame.iloc[:200])
    other = frame.iloc[150:].copy()
    other.loc[other.index[:7], "age"] = "unseen level"
    prepared = enc._prepare(other)
    ref = np.asarray(enc.transformer_.transform(prepared), dtype=float)
    assert np.array_equal(enc._encode(prepared), ref)
    assert np.abs(enc.transform(other)[:7, -3:]).max() == 0.0  # an unseen level is the average participant
