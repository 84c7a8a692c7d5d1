"""Participant-grouped cross-validation helpers shared by the learners and their evaluations.

Every split here keeps all pairs (or ratings) of one participant on the same side, so a score is
always a score on **people not seen in training** — the question a personalised model must answer
for a new user. The helpers are plain numpy / scikit-learn (no model classes), so both the models
(:mod:`pluralis.learn.models`, :mod:`pluralis.learn.neural`, :mod:`pluralis.learn.pointwise`) and the
evaluations (:mod:`pluralis.learn.groups`) use them.

:func:`participant_folds`
    fold number per row, participant-disjoint (``GroupKFold`` / ``StratifiedGroupKFold``).
:func:`participant_holdout`
    a participant-disjoint train / validation split (early stopping).
:func:`cluster_mean_se`
    mean of per-pair values and its cluster (participant) standard error.
:func:`one_se_choice`
    the one-standard-error rule: the simplest candidate whose cross-validated loss is within
    ``se_rule`` paired standard errors of the best — "never more complex than the data support".

Example
-------
>>> folds = participant_folds(["u", "u", "v", "w", "w", "x"], n_splits=2, seed=0)
>>> bool(folds[0] == folds[1] and folds[3] == folds[4])
True
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from pluralis.errors import ConfigError


def participant_folds(users, n_splits: int = 5, *, strata=None, seed: int = 0) -> np.ndarray:
    """Fold number (0 .. n_splits-1) of each row such that all rows of a participant share a fold.

    ``strata`` (one label per row, e.g. the group) spreads each stratum's participants evenly
    over the folds (scikit-learn ``StratifiedGroupKFold``); otherwise ``GroupKFold`` with shuffling.

    Parameters
    ----------
    users
        participant id of each row.
    n_splits
        number of folds (at least 2, at most the number of participants).
    strata
        optional label per row to stratify on.
    seed
        random seed of the shuffling.

    Returns
    -------
    numpy.ndarray
        integer fold of each row.

    Example
    -------
    >>> f = participant_folds(["u", "u", "v", "w", "w", "x"], n_splits=2, seed=0)
    >>> bool(f[0] == f[1] and f[3] == f[4]), sorted(set(f.tolist()))
    (True, [0, 1])
    """
    from sklearn.model_selection import GroupKFold, StratifiedGroupKFold

    users = pd.Series(np.asarray(users, dtype=object)).astype(str).to_numpy()
    n_users = len(pd.unique(users))
    if n_splits < 2:
        raise ConfigError(f"need at least 2 folds, got {n_splits}")
    if n_users < n_splits:
        raise ConfigError(f"{n_users} participants cannot be split into {n_splits} participant-disjoint folds")
    folds = np.full(len(users), -1)
    X = np.zeros((len(users), 1))
    # integer ranks of the ids in sorted order: scikit-learn's splitters depend on the groups only through
    # np.unique (order and equality), so the folds are the same, without comparing strings in np.isin
    users = np.unique(users, return_inverse=True)[1].ravel()
    if strata is not None:
        codes = pd.factorize(pd.Series(np.asarray(strata, dtype=object)).astype(str))[0]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # "least populated class": pair-level strata
            splitter = StratifiedGroupKFold(n_splits=n_splits, shuffle=True, random_state=seed)
            parts = list(splitter.split(X, codes, groups=users))
    else:
        parts = list(GroupKFold(n_splits=n_splits, shuffle=True, random_state=seed).split(X, groups=users))
    for k, (_, test) in enumerate(parts):
        folds[test] = k
    return folds


def participant_holdout(users, fraction: float = 0.2, *, seed: int = 0) -> np.ndarray:
    """Boolean mask of validation rows: a random ``fraction`` of the participants (at least one,
    never all), all of their rows.

    Parameters
    ----------
    users
        participant id of each row.
    fraction
        share of participants held out, in (0, 1).
    seed
        random seed.

    Returns
    -------
    numpy.ndarray
        ``True`` for rows of held-out participants.

    Example
    -------
    >>> m = participant_holdout(["u", "u", "v", "w", "w", "x"], 0.5, seed=0)
    >>> bool(m[0] == m[1] and m[3] == m[4]), int(m.sum()) in (2, 3, 4)
    (True, True)
    """
    if not 0 < fraction < 1:
        raise ConfigError(f"validation fraction must be between 0 and 1, got {fraction!r}")
    codes, uniq = pd.factorize(pd.Series(np.asarray(users, dtype=object)).astype(str), use_na_sentinel=False)
    n = len(uniq)
    if n < 2:
        raise ConfigError(f"a participant-disjoint validation split needs 2+ participants, got {n}")
    k = min(max(1, int(round(fraction * n))), n - 1)
    held = np.random.default_rng(seed).permutation(n)[:k]
    return np.isin(codes, held)


def cluster_mean_se(values, clusters, weights=None) -> tuple[float, float]:
    """Weighted mean of per-row ``values`` and its cluster-robust standard error (clusters = participants).

    The ratio estimator ``Σ w v / Σ w`` with the linearised (sandwich) variance over clusters,
    scaled by ``G / (G − 1)``. Rows with non-finite values are left out.

    Parameters
    ----------
    values
        one number per row (e.g. a per-pair loss difference).
    clusters
        cluster id of each row.
    weights
        optional non-negative row weights.

    Returns
    -------
    (mean, se)

    Example
    -------
    >>> m, se = cluster_mean_se([1.0, 1.0, 0.0, 0.0], ["a", "a", "b", "b"])
    >>> m, round(se, 3)
    (0.5, 0.5)
    """
    v = np.asarray(values, dtype=float)
    w = np.ones_like(v) if weights is None else np.asarray(weights, dtype=float)
    ok = np.isfinite(v) & (w > 0)
    v, w = v[ok], w[ok]
    clusters = np.asarray(clusters)
    if np.issubdtype(clusters.dtype, np.integer):  # integer codes: the same grouping, without string copies
        codes, uniq = pd.factorize(clusters[ok])
    else:
        codes, uniq = pd.factorize(pd.Series(np.asarray(clusters, dtype=object)[ok]).astype(str))
    W = float(w.sum())
    if W <= 0:
        return float("nan"), float("nan")
    mean = float(w @ v / W)
    g = len(uniq)
    if g < 2:
        return mean, float("nan")
    resid = np.bincount(codes, weights=w * (v - mean), minlength=g)
    se = float(np.sqrt(g / (g - 1) * np.sum(resid**2)) / W)
    return mean, se


def one_se_choice(losses, clusters, *, weights=None, se_rule: float = 1.0) -> tuple[int, pd.DataFrame]:
    """Pick a candidate by the one-standard-error rule on held-out per-row losses.

    Candidates are ordered **simplest first** (e.g. the global model, then personalised models from the
    strongest to the weakest penalty). The best candidate has the lowest mean loss; the choice is the
    first (simplest) candidate whose mean loss exceeds the best by at most ``se_rule`` standard errors
    of the *paired* difference (cluster SE over participants, :func:`cluster_mean_se`). ``se_rule=0``
    picks the best.

    Parameters
    ----------
    losses
        ``(n_candidates, n_rows)`` out-of-fold losses (lower is better).
    clusters
        participant of each row.
    weights
        optional row weights.
    se_rule
        how many standard errors of slack a simpler candidate gets.

    Returns
    -------
    (index, table)
        the chosen candidate and a table with ``loss``, ``loss_se``, ``diff_vs_best``, ``diff_se``
        per candidate.

    Example
    -------
    >>> rng = np.random.default_rng(0)
    >>> users = np.repeat(np.arange(50), 10)
    >>> simple = rng.normal(1.0, 0.3, 500)
    >>> complex_ = simple + rng.normal(0.0, 0.05, 500)      # as good as the simple one, up to noise
    >>> better = simple - 0.2                               # clearly better
    >>> one_se_choice([simple, simple + 0.01], users)[0], one_se_choice([simple, complex_, better], users)[0]
    (0, 2)
    """
    L = np.atleast_2d(np.asarray(losses, dtype=float))
    if L.shape[0] == 0:
        raise ConfigError("no candidates to choose from")
    if se_rule < 0 or not np.isfinite(se_rule):
        raise ConfigError(f"se_rule must be a non-negative number, got {se_rule!r}")
    clusters = np.asarray(clusters)
    if not np.issubdtype(clusters.dtype, np.integer):  # one conversion of the ids for all the candidates
        clusters = pd.factorize(pd.Series(np.asarray(clusters, dtype=object)).astype(str))[0]
    stats = [cluster_mean_se(row, clusters, weights) for row in L]
    means = np.array([m for m, _ in stats])
    best = int(np.nanargmin(means))
    diffs = [cluster_mean_se(row - L[best], clusters, weights) for row in L]
    diff_mean = np.array([m for m, _ in diffs])
    diff_se = np.nan_to_num(np.array([s for _, s in diffs]), nan=0.0)
    ok = diff_mean <= se_rule * diff_se + 1e-12
    chosen = int(np.flatnonzero(ok)[0])
    table = pd.DataFrame(
        {
            "loss": means,
            "loss_se": [s for _, s in stats],
            "diff_vs_best": diff_mean,
            "diff_se": diff_se,
        }
    )
    return chosen, table
