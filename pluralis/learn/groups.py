"""Whose feedback? Preference models trained on one group's pairs, evaluated on every group's.

:func:`cross_group_accuracy`
    for each group *g* (values of a survey field such as ``gender``, or a pair field such as
    ``conversation_type``) a reward model is trained on *g*'s pairs and scored on held-out pairs
    of every group *h*: a train × eval matrix of pairwise accuracy and log-loss. A model that
    serves its own group better than others (the diagonal beats its column) is evidence that
    groups reward different things.
:func:`composition_curve`
    the "demographic composition of feedback" experiment: train on mixes with a share *p* of
    group A's participants (the rest from B, total fixed), evaluate on each group.
:func:`group_weights`
    each group's reward weights (interpretable features), with participant-bootstrap intervals.
:func:`compare_models`
    several models (global, personalised, neural, pointwise) on the same participant-disjoint folds,
    with paired intervals of their differences — nested when a model selects itself, so "does
    personalisation hurt anyone?" has a held-out answer.

Evaluation is always on **participants not seen in training**: participants (not pairs) are
split into folds (scikit-learn ``StratifiedGroupKFold`` on ``user_id``, stratified by group),
each fold's pairs are predicted by models trained on the other folds, and every held-out pair
gets a prediction from every training group. With ``equalize=True`` (default) each training
set is subsampled to the same number of participants, so differences reflect *whose* feedback,
not *how much*. Intervals are percentile intervals of a cluster bootstrap over evaluation
participants; the same draws are shared across training groups, so differences between two
training groups are paired (:meth:`CrossGroupResult.compare`).

Example
-------
>>> from pluralis.simulate.planted import planted_pairs
>>> pairs = planted_pairs(n_users=120, pairs_per_user=30, seed=0)     # "A" likes lists, "B" does not
>>> res = cross_group_accuracy(pairs, "group", n_splits=3, n_boot=50)
>>> m = res.matrix("accuracy")
>>> bool(m.loc["A", "A"] > m.loc["B", "A"] and m.loc["B", "B"] > m.loc["A", "B"])
True
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sklearn.base import clone

from pluralis.errors import ConfigError
from pluralis.learn.cv import participant_folds
from pluralis.learn.models import PairFeatures, RewardModel, check_tie_share, featurize_pairs
from pluralis.threads import available_cores

POOLED = "(all)"
METRICS = ("accuracy", "log_loss")


# --- splits -------------------------------------------------------------------------------------


def _member(codes: np.ndarray, keep: np.ndarray) -> np.ndarray:
    """``np.isin(codes, keep)`` for integer participant codes (``0 .. n-1``): one table look-up per row
    instead of comparing object ids."""
    table = np.zeros(int(codes.max(initial=-1)) + 1, dtype=bool)
    table[np.asarray(keep, dtype=np.intp)] = True
    return table[codes]


def _subsample_users(rows: np.ndarray, users: np.ndarray, m: int, rng: np.random.Generator) -> np.ndarray:
    """Rows of ``m`` participants drawn at random (without replacement) among those of ``rows``
    (``users``: integer participant codes, see :func:`_member`)."""
    uniq = pd.unique(users[rows])
    if len(uniq) <= m:
        return rows
    keep = rng.choice(uniq, size=m, replace=False)
    if not np.issubdtype(np.asarray(users).dtype, np.integer):  # ids rather than codes: the slow, general way
        return rows[np.isin(users[rows], keep)]
    return rows[_member(users[rows], keep)]


# --- helpers ------------------------------------------------------------------------------------


def _as_features(pairs, featurizer, model) -> PairFeatures:
    if isinstance(pairs, PairFeatures):
        check_tie_share(pairs)
        return pairs
    if not isinstance(pairs, pd.DataFrame):
        raise ConfigError(f"expected a pairs DataFrame or PairFeatures, got {type(pairs).__name__}")
    if featurizer is None and model is not None:
        featurizer = getattr(model, "featurizer", None)
    return featurize_pairs(pairs, featurizer)


def _labels(frame: pd.DataFrame, by: str) -> np.ndarray:
    if by not in frame.columns:
        skip = {
            "pair_id",
            "response_a",
            "response_b",
            "y",
            "score_a",
            "score_b",
            "prompt",
            "utterance_id_a",
            "utterance_id_b",
            "interaction_id",
            "conversation_id",
            "comparison_id",
        }
        avail = [c for c in frame.columns if c not in skip]
        raise ConfigError(
            f"unknown field {by!r}: not a column of the pairs (attach the survey to group by "
            f"participant fields); available: {', '.join(map(str, avail))}"
        )
    v = frame[by].astype(object)
    out = v.astype(str).to_numpy(dtype=object)
    out[v.isna().to_numpy()] = None
    return out


def _check_pairs(frame: pd.DataFrame, y: np.ndarray | None) -> np.ndarray:
    """The outcomes ``y``, after checking the pairs can be evaluated by participant."""
    if len(frame) == 0:
        raise ConfigError("no preference pairs")
    if "user_id" not in frame.columns:
        raise ConfigError("pairs need a user_id column (participant-disjoint evaluation)")
    if y is None:
        raise ConfigError("pairs need outcomes (a 'y' column)")
    return y


def _select_groups(labels, users, groups, min_participants, by) -> tuple[list[str], dict[str, int]]:
    present = labels != None  # noqa: E711  (object array)
    counts = pd.Series(users[present]).groupby(labels[present]).nunique()
    if groups is None:
        keep = [g for g in counts.index if counts[g] >= min_participants]
        dropped = {str(g): int(counts[g]) for g in counts.index if counts[g] < min_participants}
        if dropped:
            warnings.warn(
                f"{by}: dropping group(s) with fewer than {min_participants} participants: "
                + ", ".join(f"{g!r} ({n})" for g, n in dropped.items()),
                stacklevel=3,
            )
    else:
        keep = [str(g) for g in groups]
        unknown = [g for g in keep if g not in counts.index]
        if unknown:
            raise ConfigError(
                f"{by}: no pairs for group(s) {unknown}; groups present: {', '.join(map(str, counts.index))}"
            )
        small = {g: int(counts[g]) for g in keep if counts[g] < min_participants}
        if small:
            g, n = next(iter(small.items()))
            raise ConfigError(
                f"{by}: group {g!r} has {n} participant(s); need at least {min_participants} "
                "(lower min_participants / --min-participants, or leave the group out)"
            )
        dropped = {}
    return [str(g) for g in keep], dropped


def _hits(y: np.ndarray, p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    hit = np.where(p == 0.5, 0.5, ((p > 0.5) == (y > 0.5)).astype(float))
    pc = np.clip(p, 1e-12, 1 - 1e-12)
    ll = -(y * np.log(pc) + (1 - y) * np.log1p(-pc))
    return hit, ll


def _boot_weights(n_units: int, n_boot: int, rng: np.random.Generator) -> np.ndarray:
    """Cluster-bootstrap multiplicities ``(n_boot, n_units)``: each row resamples the units with replacement."""
    if n_boot <= 0 or n_units == 0:
        return np.zeros((0, n_units))
    return rng.multinomial(n_units, np.full(n_units, 1.0 / n_units), size=n_boot).astype(float)


def _metric_draws(values: np.ndarray, codes: np.ndarray, n_units: int, W: np.ndarray) -> tuple[float, np.ndarray]:
    """Point estimate (mean over pairs) and its bootstrap draws: resampled participants' pairs pooled."""
    sums = np.bincount(codes, weights=values, minlength=n_units)
    counts = np.bincount(codes, minlength=n_units).astype(float)
    point = float(sums.sum() / counts.sum())
    if len(W) == 0:
        return point, np.zeros(0)
    with np.errstate(invalid="ignore", divide="ignore"):
        draws = (W @ sums) / (W @ counts)
    return point, draws


def _interval(draws: np.ndarray, level: float) -> tuple[float, float]:
    draws = draws[np.isfinite(draws)]
    if not len(draws):
        return np.nan, np.nan
    a = (1 - level) / 2
    lo, hi = np.quantile(draws, [a, 1 - a])
    return float(lo), float(hi)


# --- cross-group accuracy -----------------------------------------------------------------------


@dataclass
class CrossGroupResult:
    """Train-group × eval-group accuracy and log-loss (see :func:`cross_group_accuracy`).

    ``table``: one row per (train_group, eval_group) with ``accuracy``, ``accuracy_low/high``,
    ``log_loss``, ``log_loss_low/high``, ``n_eval_pairs``, ``n_eval_participants``,
    ``n_train_participants`` (mean over folds); ``folds``: each participant's fold; ``dropped``:
    groups left out for having too few participants; ``draws``: bootstrap draws per cell.

    Example
    -------
    >>> from pluralis.simulate.planted import planted_pairs
    >>> res = cross_group_accuracy(planted_pairs(n_users=60, pairs_per_user=20, seed=1), "group",
    ...                            n_splits=3, n_boot=20)
    >>> res.matrix().shape, list(res.matrix().index)
    ((3, 2), ['A', 'B', '(all)'])
    """

    table: pd.DataFrame
    by: str
    groups: list[str]
    folds: pd.Series
    dropped: dict[str, int] = field(default_factory=dict)
    draws: dict[tuple[str, str, str], np.ndarray] = field(default_factory=dict, repr=False)
    settings: dict = field(default_factory=dict)

    def matrix(self, metric: str = "accuracy") -> pd.DataFrame:
        """``metric`` as a train × eval DataFrame (rows: trained on; columns: evaluated on).

        Parameters
        ----------
        metric
            a metric column of :attr:`table`.

        Returns
        -------
        pandas.DataFrame

        Example
        -------
        >>> from pluralis.simulate.planted import planted_pairs
        >>> res = cross_group_accuracy(planted_pairs(n_users=60, pairs_per_user=20, seed=1), "group", n_splits=3,
        ...                            n_boot=0, include_pooled=False)
        >>> res.matrix().shape
        (2, 2)
        """
        if metric not in METRICS:
            raise ConfigError(f"metric must be one of {METRICS}, got {metric!r}")
        m = self.table.pivot(index="train_group", columns="eval_group", values=metric)
        rows = [g for g in [*self.groups, POOLED] if g in m.index]
        return m.reindex(index=rows, columns=self.groups)

    def compare(self, train_a: str, train_b: str, metric: str = "accuracy", level: float | None = None) -> pd.DataFrame:
        """Difference ``metric(train_a) − metric(train_b)`` on each eval group, with a paired
        participant-bootstrap interval (same evaluation participants in both).

        Parameters
        ----------
        train_a, train_b
            two training groups (rows of :meth:`matrix`).
        metric
            a metric column.
        level
            interval level (default: the result's).

        Returns
        -------
        pandas.DataFrame

        Example
        -------
        >>> from pluralis.simulate.planted import planted_pairs
        >>> res = cross_group_accuracy(planted_pairs(n_users=90, pairs_per_user=30, seed=2), "group",
        ...                            n_splits=3, n_boot=100)
        >>> d = res.compare("A", "B").set_index("eval_group")
        >>> bool(d.loc["A", "low"] > 0 and d.loc["B", "high"] < 0)
        True
        """
        level = self.settings.get("level", 0.95) if level is None else level
        trains = set(self.table["train_group"])
        for t in (train_a, train_b):
            if t not in trains:
                raise ConfigError(f"no model trained on {t!r}; trained on: {', '.join(sorted(trains))}")
        rows = []
        for h in self.groups:
            a = self.table[(self.table.train_group == train_a) & (self.table.eval_group == h)][metric].iloc[0]
            b = self.table[(self.table.train_group == train_b) & (self.table.eval_group == h)][metric].iloc[0]
            d = self.draws.get((train_a, h, metric), np.zeros(0)) - self.draws.get((train_b, h, metric), np.zeros(0))
            lo, hi = _interval(d, level)
            rows.append(
                {
                    "eval_group": h,
                    "train_a": train_a,
                    "train_b": train_b,
                    "metric": metric,
                    "difference": float(a - b),
                    "low": lo,
                    "high": hi,
                }
            )
        return pd.DataFrame(rows)

    def plot(self, metric: str = "accuracy", path=None, *, title: str | None = None):
        """Heatmap of :meth:`matrix` with intervals (see :func:`pluralis.learn.plots.plot_cross_group`).

        Parameters
        ----------
        metric, path, title
            see :func:`~pluralis.learn.plots.plot_cross_group`.

        Returns
        -------
        matplotlib.figure.Figure

        Example
        -------
        >>> from pluralis.simulate.planted import planted_pairs
        >>> res = cross_group_accuracy(planted_pairs(n_users=60, pairs_per_user=20, seed=1), "group", n_splits=3,
        ...                            n_boot=0)
        >>> len(res.plot().axes) >= 1
        True
        """
        from pluralis.learn.plots import plot_cross_group

        return plot_cross_group(self, metric, path, title=title)


def _predict(model, pf: PairFeatures) -> np.ndarray:
    return model.predict_proba(pf)[:, 1]


def _fit_predict(template, train: PairFeatures, test: PairFeatures) -> np.ndarray:
    """One fit of a clone of ``template`` on ``train``, its ``P(a ≻ b)`` on ``test`` (a process-pool task)."""
    return _predict(clone(template).fit(train), test)


def _n_workers(n_jobs: int | None, n_tasks: int) -> int:
    """Worker processes for ``n_tasks`` independent fits: ``n_jobs`` (None or 0: one per CPU core), at most
    one per task; 1 means in this process."""
    if n_jobs is None or n_jobs == 0:
        n_jobs = available_cores()
    if n_jobs < 0:
        raise ConfigError(f"n_jobs must be a positive number of processes (or 0/None for one per core), got {n_jobs}")
    return max(1, min(int(n_jobs), n_tasks))


def _run_fits(template, tasks, n_jobs, progress):
    """``_fit_predict`` over ``tasks`` (``(train, test)`` pairs), in order, serially or in a process pool.

    Every fit is deterministic given its data (the folds and subsamples are drawn before, in this
    process; estimators carry their own seeds), so the results are the same with any number of
    workers. Each worker runs one BLAS thread, so the workers do not oversubscribe the cores."""
    workers = _n_workers(n_jobs, len(tasks))
    if workers == 1:
        results = (_fit_predict(template, tr, te) for tr, te in tasks)
    else:
        from joblib import Parallel, delayed

        results = Parallel(n_jobs=workers, backend="loky", inner_max_num_threads=1, return_as="generator")(
            delayed(_fit_predict)(template, tr, te) for tr, te in tasks
        )
    for i, p in enumerate(results):
        if progress is not None:
            progress(i + 1, len(tasks))
        yield p


def cross_group_accuracy(
    pairs: pd.DataFrame | PairFeatures,
    by: str,
    *,
    model=None,
    featurizer=None,
    groups: Sequence[str] | None = None,
    min_participants: int = 10,
    n_splits: int = 5,
    equalize: bool = True,
    include_pooled: bool = True,
    n_boot: int = 200,
    level: float = 0.95,
    seed: int = 0,
    progress: Callable[[int, int], None] | None = None,
    n_jobs: int | None = 1,
) -> CrossGroupResult:
    """Train a preference model on each group's pairs; evaluate on every group's held-out participants.

    Parameters
    ----------
    pairs
        a pairs frame (:func:`~pluralis.learn.pairs.preference_pairs` with the survey attached) or
        :class:`~pluralis.learn.models.PairFeatures`; needs ``user_id``, ``y`` and the ``by`` column.
    by
        the grouping column (a participant field such as ``gender``, or a pair field).
    model
        an unfitted estimator (cloned per fit); default :class:`~pluralis.learn.models.RewardModel`.
    featurizer
        featuriser for a pairs frame (default: the model's, else interpretable text features).
    groups
        the groups to compare (default: every value with at least ``min_participants`` participants;
        smaller ones are dropped with a warning). A named group below the minimum is an error.
    n_splits
        participant-disjoint folds; each held-out pair is predicted by models that never saw its rater.
    equalize
        subsample every training set (per fold) to the smallest group's number of participants.
    include_pooled
        also train on all selected groups together (row ``"(all)"``, same size when ``equalize``).
    n_boot, level, seed
        participant-bootstrap draws, interval level, random seed (folds, subsampling, bootstrap).
    progress
        called as ``progress(done, total)`` after each model fit (``total`` = folds × training groups),
        e.g. to advance a progress bar.
    n_jobs
        processes for the folds × training groups fits (independent of each other): 1 (default) fits
        them here, one after the other; None or 0 uses one per CPU core. The results are the same
        (the folds and subsamples are drawn first, here; each fit is deterministic).

    Ties (``y = 0.5``) are used for training and left out of the metrics.

    Returns
    -------
    CrossGroupResult

    Example
    -------
    >>> from pluralis.simulate.planted import planted_pairs
    >>> res = cross_group_accuracy(planted_pairs(n_users=60, pairs_per_user=20, seed=3), "group",
    ...                            n_splits=3, n_boot=0, include_pooled=False)
    >>> res.table[["train_group", "eval_group"]].values.tolist()
    [['A', 'A'], ['A', 'B'], ['B', 'A'], ['B', 'B']]
    """
    if not 0 < level < 1:
        raise ConfigError(f"level must be between 0 and 1, got {level}")
    if min_participants < n_splits:
        raise ConfigError(f"min_participants ({min_participants}) must be at least the number of folds ({n_splits})")
    pf = _as_features(pairs, featurizer, model)
    _check_pairs(pf.frame, pf.y)
    labels = _labels(pf.frame, by)
    users = pf.frame["user_id"].astype(str).to_numpy()
    chosen, dropped = _select_groups(labels, users, groups, min_participants, by)
    if len(chosen) < 2:
        raise ConfigError(
            f"{by}: comparing groups needs at least two groups with {min_participants}+ participants; "
            f"found {len(chosen)} ({', '.join(chosen) or 'none'})"
        )
    sel = np.flatnonzero(pd.Series(labels).isin(chosen).to_numpy())
    pf, labels, users = pf.take(sel), labels[sel], users[sel]
    ucodes = pd.factorize(users)[0]  # integer participant codes for the subsampling below
    y = _check_pairs(pf.frame, pf.y)
    folds = participant_folds(users, n_splits, strata=labels, seed=seed)
    template = model if model is not None else RewardModel()
    trains = [*chosen, *([POOLED] if include_pooled else [])]
    rng = np.random.default_rng(seed)
    P = np.full((len(trains), len(pf)), np.nan)
    n_train = np.zeros((len(trains), n_splits))
    tasks, cells = [], []
    for k in range(n_splits):
        ev = np.flatnonzero(folds == k)
        pools = {g: np.flatnonzero((labels == g) & (folds != k)) for g in chosen}
        pools[POOLED] = np.flatnonzero(folds != k)
        m = min(len(pd.unique(ucodes[pools[g]])) for g in chosen)
        pf_ev = pf.take(ev)
        for t, g in enumerate(trains):
            rows = _subsample_users(pools[g], ucodes, m, rng) if equalize else pools[g]
            n_train[t, k] = len(pd.unique(ucodes[rows]))
            tasks.append((pf.take(rows), pf_ev))
            cells.append((t, ev))
    for (t, ev), p in zip(cells, _run_fits(template, tasks, n_jobs, progress), strict=True):
        P[t, ev] = p
    table, draws = _score_cells(P, y, labels, users, trains, chosen, n_boot, level, rng)
    table.insert(2, "n_train_participants", np.repeat(n_train.mean(axis=1), len(chosen)))
    fold_of = pd.Series(folds, index=users).groupby(level=0).first().rename("fold")
    settings = {
        "n_splits": n_splits,
        "equalize": equalize,
        "n_boot": n_boot,
        "level": level,
        "seed": seed,
        "min_participants": min_participants,
        "model": repr(template),
        "features": list(map(str, pf.feature_names[:20])),
    }
    return CrossGroupResult(table, by, chosen, fold_of, dropped, draws, settings)


def _score_cells(P, y, labels, users, trains, evals, n_boot, level, rng, *, train_key="train_group"):
    rows, draws = [], {}
    for h in evals:
        idx = np.flatnonzero((labels == h) & (y != 0.5))
        codes, uniq = pd.factorize(users[idx])
        W = _boot_weights(len(uniq), n_boot, rng)
        for t, g in enumerate(trains):
            if not len(idx):
                rows.append(
                    {
                        train_key: g,
                        "eval_group": h,
                        "n_eval_pairs": 0,
                        "n_eval_participants": 0,
                        "accuracy": np.nan,
                        "accuracy_low": np.nan,
                        "accuracy_high": np.nan,
                        "log_loss": np.nan,
                        "log_loss_low": np.nan,
                        "log_loss_high": np.nan,
                    }
                )
                continue
            hit, ll = _hits(y[idx], P[t, idx])
            acc, acc_d = _metric_draws(hit, codes, len(uniq), W)
            los, los_d = _metric_draws(ll, codes, len(uniq), W)
            draws[(g, h, "accuracy")], draws[(g, h, "log_loss")] = acc_d, los_d
            a_lo, a_hi = _interval(acc_d, level)
            l_lo, l_hi = _interval(los_d, level)
            rows.append(
                {
                    train_key: g,
                    "eval_group": h,
                    "n_eval_pairs": len(idx),
                    "n_eval_participants": len(uniq),
                    "accuracy": acc,
                    "accuracy_low": a_lo,
                    "accuracy_high": a_hi,
                    "log_loss": los,
                    "log_loss_low": l_lo,
                    "log_loss_high": l_hi,
                }
            )
    table = pd.DataFrame(rows)
    order = {g: i for i, g in enumerate(trains)}
    table = table.sort_values(
        [train_key, "eval_group"],
        key=lambda s: s.map(order) if s.name == train_key else s.map({g: i for i, g in enumerate(evals)}),
        kind="stable",
    ).reset_index(drop=True)
    return table, draws


# --- composition of feedback ------------------------------------------------------------------------


@dataclass
class CompositionResult:
    """Accuracy / log-loss on each eval group against the share of group A in the training feedback.

    ``table``: one row per (share_a, eval_group) with metrics and intervals, ``n_train_participants``.

    Example
    -------
    >>> from pluralis.simulate.planted import planted_pairs
    >>> r = composition_curve(planted_pairs(n_users=60, pairs_per_user=20, seed=4), "group", "A", "B",
    ...                       shares=[0, 1], n_splits=3, n_boot=0)
    >>> r.table["share_a"].unique().tolist()
    [0.0, 1.0]
    """

    table: pd.DataFrame
    by: str
    group_a: str
    group_b: str
    settings: dict = field(default_factory=dict)

    def plot(self, metric: str = "accuracy", path=None, *, title: str | None = None):
        """Curves of ``metric`` against the share of A (see :func:`pluralis.learn.plots.plot_composition`).

        Parameters
        ----------
        metric, path, title
            see :func:`~pluralis.learn.plots.plot_composition`.

        Returns
        -------
        matplotlib.figure.Figure

        Example
        -------
        >>> from pluralis.simulate.planted import planted_pairs
        >>> r = composition_curve(planted_pairs(n_users=60, pairs_per_user=20, seed=4), "group", "A", "B",
        ...                       shares=[0, 1], n_splits=3, n_boot=0)
        >>> len(r.plot().axes)
        1
        """
        from pluralis.learn.plots import plot_composition

        return plot_composition(self, metric, path, title=title)


def composition_curve(
    pairs: pd.DataFrame | PairFeatures,
    by: str,
    group_a: str,
    group_b: str,
    *,
    shares: Sequence[float] = (0.0, 0.25, 0.5, 0.75, 1.0),
    model=None,
    featurizer=None,
    n_train_participants: int | None = None,
    min_participants: int = 10,
    n_splits: int = 5,
    n_boot: int = 200,
    level: float = 0.95,
    seed: int = 0,
    progress: Callable[[int, int], None] | None = None,
) -> CompositionResult:
    """Train on mixes of two groups' feedback (share ``p`` of A's participants, ``1 − p`` of B's, a fixed
    total) and evaluate on held-out participants of A, B and both (``"(all)"``).

    Per fold, the training size is ``n_train_participants`` (default: as many as the smaller group
    has outside the fold); A's and B's participants are drawn in a fixed random order, so the mixes are
    nested (``p = 0.5`` uses the first half of ``p = 1``'s A participants).

    Parameters
    ----------
    pairs
        a pairs frame or :class:`~pluralis.learn.models.PairFeatures` with ``user_id``, ``y`` and ``by``.
    by
        the grouping column.
    group_a, group_b
        the two groups mixed in training.
    shares
        shares of A's participants in the training set.
    model, featurizer
        as in :func:`cross_group_accuracy`.
    n_train_participants
        participants per training set (see above).
    min_participants
        smallest group to use.
    n_splits, n_boot, level, seed
        folds, participant-bootstrap draws, interval level, random seed.
    progress
        called as ``progress(done, total)`` after each model fit (``total`` = folds × shares).

    Returns
    -------
    CompositionResult

    Example
    -------
    >>> from pluralis.simulate.planted import planted_pairs
    >>> r = composition_curve(planted_pairs(n_users=90, pairs_per_user=30, seed=5), "group", "A", "B",
    ...                       shares=[0, 0.5, 1], n_splits=3, n_boot=0)
    >>> acc = r.table.pivot(index="share_a", columns="eval_group", values="accuracy")
    >>> bool(acc.loc[1.0, "A"] > acc.loc[0.0, "A"] and acc.loc[0.0, "B"] > acc.loc[1.0, "B"])
    True
    """
    share_arr = np.asarray(shares, dtype=float)
    if share_arr.ndim != 1 or not len(share_arr) or ((share_arr < 0) | (share_arr > 1)).any():
        raise ConfigError(f"shares must be numbers in [0, 1], got {list(np.atleast_1d(share_arr))}")
    shares = list(share_arr)
    if min_participants < n_splits:
        raise ConfigError(f"min_participants ({min_participants}) must be at least the number of folds ({n_splits})")
    if str(group_a) == str(group_b):
        raise ConfigError("group_a and group_b must differ")
    pf = _as_features(pairs, featurizer, model)
    _check_pairs(pf.frame, pf.y)
    labels = _labels(pf.frame, by)
    users = pf.frame["user_id"].astype(str).to_numpy()
    chosen, _ = _select_groups(labels, users, [group_a, group_b], min_participants, by)
    sel = np.flatnonzero(pd.Series(labels).isin(chosen).to_numpy())
    pf, labels, users = pf.take(sel), labels[sel], users[sel]
    ucodes = pd.factorize(users)[0]
    y = _check_pairs(pf.frame, pf.y)
    folds = participant_folds(users, n_splits, strata=labels, seed=seed)
    template = model if model is not None else RewardModel()
    rng = np.random.default_rng(seed)
    a, b = str(group_a), str(group_b)
    P = np.full((len(shares), len(pf)), np.nan)
    sizes = np.zeros(n_splits)
    for k in range(n_splits):
        ev = np.flatnonzero(folds == k)
        ua = rng.permutation(pd.unique(ucodes[(labels == a) & (folds != k)]))
        ub = rng.permutation(pd.unique(ucodes[(labels == b) & (folds != k)]))
        n = min(len(ua), len(ub)) if n_train_participants is None else int(n_train_participants)
        if n > min(len(ua), len(ub)) or n < 1:
            raise ConfigError(
                f"n_train_participants={n} but fold {k} has {len(ua)} participants of {a!r} "
                f"and {len(ub)} of {b!r} outside it"
            )
        sizes[k] = n
        pf_ev = pf.take(ev)
        for i, p in enumerate(shares):
            na = int(round(p * n))
            rows = np.flatnonzero(
                ((labels == a) & _member(ucodes, ua[:na])) | ((labels == b) & _member(ucodes, ub[: n - na]))
            )
            fitted = clone(template).fit(pf.take(rows))
            P[i, ev] = _predict(fitted, pf_ev)
            if progress is not None:
                progress(k * len(shares) + i + 1, n_splits * len(shares))
    keys = [float(p) for p in shares]
    evals = [a, b, POOLED]
    t1, _ = _score_cells(P, y, labels, users, keys, [a, b], n_boot, level, rng, train_key="share_a")
    # "(all)" evaluates on every held-out pair of both groups
    t2, _ = _score_cells(
        P, y, np.full(len(pf), POOLED, dtype=object), users, keys, [POOLED], n_boot, level, rng, train_key="share_a"
    )
    table = pd.concat([t1, t2], ignore_index=True)
    table["eval_group"] = pd.Categorical(table["eval_group"], categories=evals)
    table = table.sort_values(["share_a", "eval_group"], kind="stable").reset_index(drop=True)
    table["eval_group"] = table["eval_group"].astype(str)
    table.insert(1, "n_train_participants", float(sizes.mean()))
    settings = {"n_splits": n_splits, "n_boot": n_boot, "level": level, "seed": seed, "model": repr(template)}
    return CompositionResult(table, by, a, b, settings)


# --- per-group reward weights ---------------------------------------------------------------------


def group_weights(
    pairs: pd.DataFrame | PairFeatures,
    by: str | None = None,
    *,
    model=None,
    featurizer=None,
    groups: Sequence[str] | None = None,
    min_participants: int = 10,
    n_boot: int = 0,
    level: float = 0.95,
    seed: int = 0,
) -> pd.DataFrame:
    """Each group's reward weights (``model.coefficients()``), with participant-bootstrap intervals.

    ``by=None`` fits everyone together (group ``"(all)"``). Bootstrap refits reweight pairs by
    participant multiplicities (a cluster bootstrap without copying data). Returns a tidy frame
    ``group, feature, coef, low, high, n_pairs, n_participants``.

    Parameters
    ----------
    pairs
        a pairs frame or :class:`~pluralis.learn.models.PairFeatures`.
    by
        the grouping column (``None``: everyone together).
    model, featurizer
        as in :func:`cross_group_accuracy` (the model must have ``coefficients()``).
    groups, min_participants
        which groups (default: every group with at least ``min_participants`` participants).
    n_boot, level, seed
        participant-bootstrap draws (0: no intervals), interval level, random seed.

    Returns
    -------
    pandas.DataFrame

    Example
    -------
    >>> from pluralis.simulate.planted import planted_pairs
    >>> w = group_weights(planted_pairs(n_users=60, pairs_per_user=30, seed=6), "group", n_boot=20)
    >>> w.pivot(index="feature", columns="group", values="coef").loc["if_enumeration"].gt(0).tolist()
    [True, False]
    """
    pf = _as_features(pairs, featurizer, model)
    _check_pairs(pf.frame, pf.y)
    users = pf.frame["user_id"].astype(str).to_numpy()
    if by is None:
        labels = np.full(len(pf), POOLED, dtype=object)
        chosen = [POOLED]
    else:
        labels = _labels(pf.frame, by)
        chosen, _ = _select_groups(labels, users, groups, min_participants, by)
        if not chosen:
            raise ConfigError(f"{by}: no group has {min_participants}+ participants")
    template = model if model is not None else RewardModel()
    rng = np.random.default_rng(seed)
    out = []
    for g in chosen:
        rows = np.flatnonzero(labels == g)
        sub = pf.take(rows)
        fitted = clone(template).fit(sub)
        if not hasattr(fitted, "coefficients"):
            raise ConfigError(f"{type(fitted).__name__} has no coefficients() to report")
        coef = fitted.coefficients()
        codes, uniq = pd.factorize(users[rows])
        W = _boot_weights(len(uniq), n_boot, rng)
        boots = np.array([clone(template).fit(sub, sample_weight=wb[codes]).coefficients().to_numpy() for wb in W])
        for j, name in enumerate(coef.index):
            lo, hi = _interval(boots[:, j], level) if len(boots) else (np.nan, np.nan)
            out.append(
                {
                    "group": g,
                    "feature": name,
                    "coef": float(coef.iloc[j]),
                    "low": lo,
                    "high": hi,
                    "n_pairs": len(rows),
                    "n_participants": len(uniq),
                }
            )
    return pd.DataFrame(out)


# --- held-out comparison of models ----------------------------------------------------------------


@dataclass
class ModelComparison:
    """Held-out-participant accuracy and log-loss of several models on the same folds (:func:`compare_models`).

    ``table``: one row per (model, eval_group) with metrics, intervals and counts; ``differences``: each
    model minus the reference on each eval group, with paired participant-bootstrap intervals (the same
    resampled participants for every model); ``choices``: what a self-selecting model chose in each
    outer fold (its ``chosen_``), when it has one.

    Example
    -------
    >>> from pluralis.simulate.planted import planted_pairs
    >>> c = compare_models(planted_pairs(n_users=40, pairs_per_user=20, seed=0), {"global": RewardModel()},
    ...                    n_splits=2, n_boot=0)
    >>> c.table[["model", "eval_group"]].values.tolist()
    [['global', '(all)']]
    """

    table: pd.DataFrame
    differences: pd.DataFrame
    reference: str
    choices: pd.DataFrame = field(default_factory=pd.DataFrame)
    settings: dict = field(default_factory=dict)

    def summary(self, metric: str = "accuracy") -> pd.DataFrame:
        """``metric`` per model (rows) and eval group (columns)."""
        if metric not in METRICS:
            raise ConfigError(f"metric must be one of {METRICS}, got {metric!r}")
        m = self.table.pivot(index="model", columns="eval_group", values=metric)
        order = list(dict.fromkeys(self.table["model"]))
        return m.reindex(index=order, columns=list(dict.fromkeys(self.table["eval_group"])))


def compare_models(
    pairs: pd.DataFrame | PairFeatures,
    models: Mapping[str, object],
    *,
    by: str | None = None,
    reference: str | None = None,
    featurizer=None,
    n_splits: int = 5,
    n_boot: int = 200,
    level: float = 0.95,
    seed: int = 0,
) -> ModelComparison:
    """Score several preference models on the same participant-disjoint folds, with paired intervals.

    Each model (an unfitted estimator, cloned per fold) is fit on the pairs of the other folds and predicts
    the held-out fold's pairs; a model that selects itself (such as
    :class:`~pluralis.learn.models.PersonalisedRewardModel`, whose inner cross-validation sees only the
    training folds) is thereby evaluated **nested**. Differences to ``reference`` (default: the first
    model) carry paired participant-bootstrap intervals — "does personalisation hurt anyone?" is
    ``differences`` per group of ``by``.

    Parameters
    ----------
    pairs
        a pairs frame or :class:`~pluralis.learn.models.PairFeatures` with ``user_id`` and ``y``.
    models
        name -> unfitted estimator (``fit`` / ``predict_proba`` on pairs).
    by
        also break the scores down by this column (``None``: all pairs together, ``"(all)"``).
    reference
        the model the others are compared with.
    featurizer
        featuriser for a pairs frame (default: the first model's, else interpretable text features).
    n_splits, n_boot, level, seed
        outer folds, bootstrap draws, interval level, seed.

    Returns
    -------
    ModelComparison

    Example
    -------
    >>> from pluralis.simulate.planted import planted_pairs
    >>> from pluralis.learn.models import PersonalisedRewardModel
    >>> pairs = planted_pairs(n_users=80, pairs_per_user=20, gamma={"if_enumeration": 2.0}, seed=1)
    >>> c = compare_models(pairs, {"global": RewardModel(),
    ...     "personalised": PersonalisedRewardModel(covariates=["stated_prefs_fluency"])}, n_splits=3, n_boot=100)
    >>> d = c.differences.set_index("model").loc["personalised"]
    >>> bool(d["accuracy"] > 0 and d["accuracy_low"] > 0), c.choices["chosen"].unique().tolist()
    (True, ['personalised'])
    """
    if not models:
        raise ConfigError("no models to compare")
    names = [str(k) for k in models]
    estimators = list(models.values())
    ref = names[0] if reference is None else str(reference)
    if ref not in names:
        raise ConfigError(f"reference {ref!r} is not one of the models: {', '.join(names)}")
    if not 0 < level < 1:
        raise ConfigError(f"level must be between 0 and 1, got {level}")
    pf = _as_features(pairs, featurizer, estimators[0])
    _check_pairs(pf.frame, pf.y)
    y = pf.y
    assert y is not None  # checked above
    users = pf.frame["user_id"].astype(str).to_numpy()
    if by is None:
        labels = np.full(len(pf), POOLED, dtype=object)
        evals = [POOLED]
    else:
        labels = _labels(pf.frame, by)
        present = labels != None  # noqa: E711  (object array)
        evals = [str(g) for g in pd.unique(labels[present])]
        evals = sorted(evals)
    folds = participant_folds(users, n_splits, seed=seed)
    P = np.full((len(names), len(pf)), np.nan)
    choices = []
    for k in range(n_splits):
        train, test = pf.take(folds != k), pf.take(folds == k)
        for t, (name, est) in enumerate(zip(names, estimators)):
            fitted = clone(est).fit(train)
            P[t, folds == k] = _predict(fitted, test)
            if hasattr(fitted, "chosen_"):
                choices.append({"fold": k, "model": name, "chosen": fitted.chosen_})
    rng = np.random.default_rng(seed)
    table, draws = _score_cells(P, y, labels, users, names, evals, n_boot, level, rng, train_key="model")
    if by is not None:
        pooled = np.full(len(pf), POOLED, dtype=object)
        t2, d2 = _score_cells(P, y, pooled, users, names, [POOLED], n_boot, level, rng, train_key="model")
        table = pd.concat([table, t2], ignore_index=True)
        draws.update(d2)
        evals = [*evals, POOLED]
    rows = []
    cell = table.set_index(["model", "eval_group"])
    for name in names:
        if name == ref:
            continue
        for h in evals:
            row: dict = {"model": name, "reference": ref, "eval_group": h}
            for metric in METRICS:
                row[metric] = float(cell.loc[(name, h), metric] - cell.loc[(ref, h), metric])
                d = draws.get((name, h, metric), np.zeros(0)) - draws.get((ref, h, metric), np.zeros(0))
                row[f"{metric}_low"], row[f"{metric}_high"] = _interval(d, level) if len(d) else (np.nan, np.nan)
            rows.append(row)
    differences = pd.DataFrame(
        rows,
        columns=[
            "model",
            "reference",
            "eval_group",
            "accuracy",
            "accuracy_low",
            "accuracy_high",
            "log_loss",
            "log_loss_low",
            "log_loss_high",
        ],
    )
    settings = {"n_splits": n_splits, "n_boot": n_boot, "level": level, "seed": seed, "by": by}
    return ModelComparison(
        table, differences, ref, pd.DataFrame(choices, columns=["fold", "model", "chosen"]), settings
    )
