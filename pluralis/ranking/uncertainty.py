"""Uncertainty of model rankings: bootstrap over battles or over participants, and "random n people".

Why it is fast
--------------
Every order-invariant aggregator (PRC, Bradley–Terry, win rate) is a function of the counts of
(model pair, outcome) *categories* (:class:`~pluralis.ranking.encode.PairTable`). So

* a bootstrap over battles is one multinomial draw over the categories per round
  (``rng.multinomial(m, counts / m, size=R)``) — exactly the distribution of resampling the
  battle rows with replacement, without touching them;
* a cluster bootstrap over participants draws participant multiplicities ``w`` (``R x G``) and
  gets every round's counts from one sparse product ``w @ C`` with ``C`` the participant x
  category count matrix;
* "random n people" (PRISM Fig. 4A) uses 0/1 participant weights drawn without replacement.

The counts become ``R`` win/tie matrices and the aggregator runs batched: one
``numpy.linalg.solve`` over ``R`` stacked ``n x n`` systems for PRC, a batched Newton solve for
Bradley–Terry. Online Elo is sequential; it is batched across rounds instead (one loop over
positions). Score means resample rated responses (or participants).

Weighted rankings (participant ``weights=``, as :func:`~pluralis.ranking.engine.rank_models`)
resample the same units, each carrying its weight: a round's category counts are the weighted
counts of the resampled battles, rescaled to sum to that round's number of battles — exactly
``rank_models(resampled battles, weights=...)``. Unit weights reproduce the unweighted draws.

Intervals of scores are BCa intervals by default for :func:`bootstrap` (``interval="bca"``;
``"bc"`` and ``"percentile"`` on request; see :mod:`~pluralis.ranking.intervals`): the acceleration
comes from a jackknife over the same units the bootstrap resamples (participants, or battles).
Percentile intervals of PRC scores with the ``alpha`` prior under-cover the most extreme models
(the prior pulls every estimate, and every draw again, towards ``1/n``); BCa corrects this
(coverage study: ``benchmarks/coverage_ranking.py``, results in ``benchmarks/README.md``).
Ranks are competition ranks (1 = best) per round; rank ranges are percentile ranges.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
import scipy.sparse as sp

from pluralis.errors import ConfigError, DataValidationError
from pluralis.ranking.battles import BattleArrays, encode_battles, ratings_from_battles
from pluralis.ranking.encode import PairTable, mean_by_model, normalise_battle_weights
from pluralis.ranking.engine import battle_covariates, ranks_from_scores, scores_for_arrays
from pluralis.ranking.intervals import bootstrap_interval, check_interval
from pluralis.ranking.registry import Aggregator, PairContext, aggregators, get_aggregator
from pluralis.ranking.resample import (
    checked_participant_weights,
    cluster_weights,
    rating_means_clusters,
    rating_means_iid,
    rescale_rounds,
)
from pluralis.threads import blas_threads, map_in_workers

Unit = Literal["battles", "participants"]

#: Elements per batch of stacked n x n matrices (bounds memory at Arena scale).
_BATCH_ELEMENTS = 4_000_000


# --- results ------------------------------------------------------------------------------------


@dataclass
class BootstrapResult:
    """Point estimates and bootstrap draws of one aggregator.

    ``samples`` has one row per round (``rounds x n_models``); rows may hold NaN for models
    absent from a resample (score means only). ``interval`` is how :meth:`summary` turns the
    draws into score intervals (``"percentile"``, ``"bc"`` or ``"bca"``; BCa uses the
    leave-one-unit-out estimates ``jackknife``, rows weighted by ``jackknife_counts``).
    ``interval_samples`` / ``interval_estimate``, when set, are the draws and estimate the
    intervals come from instead (the same resamples refitted without the aggregator's prior:
    ``target="population"`` of :func:`bootstrap`).

    Example
    -------
    >>> r = BootstrapResult(("x", "y"), "prc", "battles", np.array([.6, .4]),
    ...                     np.array([[.6, .4], [.55, .45], [.4, .6]]), True, 0.9)
    >>> r.summary()[["model", "rank", "rank_lo", "rank_hi"]].values.tolist()
    [['x', 1.0, 1.0, 2.0], ['y', 2.0, 1.0, 2.0]]
    """

    models: tuple[str, ...]
    method: str
    unit: str
    estimate: np.ndarray
    samples: np.ndarray
    higher_is_better: bool = True
    level: float = 0.95
    options: dict = field(default_factory=dict)
    weighted: bool = False
    interval: str = "percentile"
    jackknife: np.ndarray | None = field(default=None, repr=False)
    jackknife_counts: np.ndarray | None = field(default=None, repr=False)
    interval_samples: np.ndarray | None = field(default=None, repr=False)
    interval_estimate: np.ndarray | None = field(default=None, repr=False)

    @property
    def rounds(self) -> int:
        return self.samples.shape[0]

    def score_interval(self, method: str | None = None, level: float | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Score interval bounds per model (``method`` default :attr:`interval`; level default :attr:`level`).

        Example
        -------
        >>> r = BootstrapResult(("x",), "prc", "battles", np.array([30.0]), np.arange(1.0, 101.0)[:, None], level=0.9)
        >>> [round(float(v[0]), 2) for v in r.score_interval("percentile")]
        [5.95, 95.05]
        """
        return bootstrap_interval(
            self.samples if self.interval_samples is None else self.interval_samples,
            self.estimate if self.interval_estimate is None else self.interval_estimate,
            level=self.level if level is None else level,
            method=self.interval if method is None else method,
            jackknife=self.jackknife,
            jackknife_counts=self.jackknife_counts,
        )

    def ranks(self) -> np.ndarray:
        """Rank of every model in every round (``rounds x n_models``; 1 = best).

        Example
        -------
        >>> BootstrapResult(("x", "y"), "prc", "battles", np.array([.6, .4]), np.array([[.3, .7]])).ranks().tolist()
        [[2.0, 1.0]]
        """
        return ranks_from_scores(self.samples, higher_is_better=self.higher_is_better)

    def estimate_ranks(self) -> np.ndarray:
        """Ranks of the point estimates.

        Example
        -------
        >>> BootstrapResult(("x", "y"), "prc", "battles", np.array([.4, .6]), np.zeros((1, 2))).estimate_ranks().tolist()
        [2.0, 1.0]
        """
        return ranks_from_scores(self.estimate, higher_is_better=self.higher_is_better)

    def _quantiles(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        q = (1.0 - self.level) / 2.0
        with np.errstate(invalid="ignore"):
            if np.isnan(x).any():
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", RuntimeWarning)
                    return np.nanquantile(x, q, axis=0), np.nanquantile(x, 1 - q, axis=0)
            return np.quantile(x, q, axis=0), np.quantile(x, 1 - q, axis=0)

    def summary(self) -> pd.DataFrame:
        """One row per model, best first: estimate, CI, bootstrap SE, rank and rank range.

        Columns: ``model, score, score_lo, score_hi, score_median, se, rank, rank_lo, rank_hi,
        p_top`` (share of rounds ranked first). The score interval is of kind :attr:`interval`
        (``attrs["interval"]``); the rank range is the percentile range of the ranks.

        Example
        -------
        >>> r = BootstrapResult(("x", "y"), "prc", "battles", np.array([.6, .4]),
        ...                     np.array([[.6, .4], [.7, .3], [.4, .6], [.8, .2]]))
        >>> s = r.summary()
        >>> s.loc[0, "model"], float(s.loc[0, "p_top"])
        ('x', 0.75)
        """
        lo, hi = self.score_interval()
        ranks = self.ranks()
        rlo, rhi = self._quantiles(ranks)
        with np.errstate(invalid="ignore"):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                med = np.nanmedian(self.samples, axis=0)
                se = np.nanstd(self.samples, axis=0, ddof=1) if self.rounds > 1 else np.full(len(self.models), np.nan)
        out = pd.DataFrame(
            {
                "model": list(self.models),
                "score": self.estimate,
                "score_lo": lo,
                "score_hi": hi,
                "score_median": med,
                "se": se,
                "rank": self.estimate_ranks(),
                "rank_lo": np.floor(rlo),
                "rank_hi": np.ceil(rhi),
                "p_top": (ranks == 1).mean(axis=0),
            }
        )
        out = out.sort_values(["rank", "model"], kind="stable").reset_index(drop=True)
        out.attrs.update(
            {
                "method": self.method,
                "unit": self.unit,
                "rounds": self.rounds,
                "level": self.level,
                "weighted": self.weighted,
                "interval": self.interval,
            }
        )
        return out

    def rank_distribution(self) -> pd.DataFrame:
        """Share of rounds in which each model (rows) took each rank (columns 1..n).

        Example
        -------
        >>> r = BootstrapResult(("x", "y"), "prc", "battles", np.array([.6, .4]),
        ...                     np.array([[.6, .4], [.4, .6]]))
        >>> r.rank_distribution().values.tolist()
        [[0.5, 0.5], [0.5, 0.5]]
        """
        ranks = self.ranks()
        n = len(self.models)
        dist = np.zeros((n, n))
        for k in range(n):
            dist[:, k] = np.nanmean(np.where(np.isnan(ranks), np.nan, ranks == k + 1), axis=0)
        return pd.DataFrame(
            dist, index=pd.Index(self.models, name="model"), columns=pd.RangeIndex(1, n + 1, name="rank")
        )

    def prob_better(self) -> pd.DataFrame:
        """Share of rounds in which the row model beats the column model.

        Example
        -------
        >>> r = BootstrapResult(("x", "y"), "prc", "battles", np.array([.6, .4]),
        ...                     np.array([[.6, .4], [.7, .3], [.4, .6], [.8, .2]]))
        >>> r.prob_better().loc["x", "y"]
        np.float64(0.75)
        """
        s = self.samples if self.higher_is_better else -self.samples
        p = (s[:, :, None] > s[:, None, :]).mean(axis=0)
        return pd.DataFrame(p, index=list(self.models), columns=list(self.models))

    def long(self) -> pd.DataFrame:
        """Tidy draws: ``round, model, score, rank``.

        Example
        -------
        >>> r = BootstrapResult(("x", "y"), "prc", "battles", np.array([.6, .4]), np.array([[.7, .3], [.4, .6]]))
        >>> r.long()["rank"].tolist()
        [1.0, 2.0, 2.0, 1.0]
        """
        R, n = self.samples.shape
        return pd.DataFrame(
            {
                "round": np.repeat(np.arange(R), n),
                "model": np.tile(np.asarray(self.models, dtype=object), R),
                "score": self.samples.ravel(),
                "rank": self.ranks().ravel(),
            }
        )


# --- the engine ---------------------------------------------------------------------------------


class Tournament:
    """One battle set, precompiled for fast repeated aggregation under resampling.

    ``weights`` (one per battle, optional) makes every count a weighted count, rescaled to the
    number of battles it stands for (see the module docstring).

    Example
    -------
    >>> arr = BattleArrays.from_lists(["x", "y"], [0, 0, 1], [1, 1, 0], [0, 0, 2], cluster=[0, 1, 1])
    >>> t = Tournament(arr)
    >>> t.table.n_categories, t.cluster_counts(np.array([[2, 0]])).tolist()
    (2, [[2.0, 0.0]])
    >>> Tournament(arr, weights=np.array([3.0, 1.0, 1.0])).full_counts().tolist()
    [[2.4, 0.6]]
    """

    def __init__(self, arrays: BattleArrays, ratings: pd.DataFrame | None = None, weights: np.ndarray | None = None):
        self.arrays = arrays
        self.n_models = arrays.n_models
        self.table, self.category = PairTable.from_battles(arrays.a, arrays.b, arrays.outcome, arrays.n_models)
        self.ratings = ratings
        self.weights = None if weights is None else normalise_battle_weights(weights)
        if self.weights is not None and len(self.weights) != arrays.n_battles:
            raise ConfigError(f"got {len(self.weights)} battle weights for {arrays.n_battles} battles")
        self._cm: sp.csr_matrix | None = None
        self.context = PairContext.of(arrays)

    # counts ---------------------------------------------------------------------------------
    def full_counts(self, mask: np.ndarray | None = None) -> np.ndarray:
        """Category counts ``(1, K)`` of all battles (or those in ``mask``), weighted if weights are set.

        Example
        -------
        >>> t = Tournament(BattleArrays.from_lists(["x", "y"], [0, 0, 1], [1, 1, 0], [0, 0, 2]))
        >>> t.full_counts().tolist(), t.full_counts(np.array([True, False, False])).tolist()
        ([[2.0, 1.0]], [[1.0, 0.0]])
        """
        K = self.table.n_categories
        if self.weights is None and mask is None:
            return self.table.counts[None, :].astype(float)
        cat = self.category if mask is None else self.category[mask]
        if self.weights is None:
            return np.bincount(cat, minlength=K).astype(float)[None, :]
        w = self.weights if mask is None else normalise_battle_weights(self.weights[mask])
        return np.bincount(cat, weights=w, minlength=K)[None, :]

    def cluster_matrix(self, mask: np.ndarray | None = None, weighted: bool = False) -> sp.csr_matrix:
        """Participants x categories count matrix (sparse), of the battles in ``mask`` (default all);
        ``weighted`` sums battle weights instead of counting.

        Example
        -------
        >>> t = Tournament(BattleArrays.from_lists(["x", "y"], [0, 0, 1], [1, 1, 0], [0, 0, 2], cluster=[0, 1, 1]))
        >>> t.cluster_matrix().toarray().tolist()
        [[1.0, 0.0], [1.0, 1.0]]
        """
        if self.arrays.cluster is None:
            raise ConfigError("a participant (cluster) bootstrap needs a 'user_id' column in the battles")
        if mask is None and not weighted and self._cm is not None:
            return self._cm
        G = self.arrays.n_clusters
        K = self.table.n_categories
        sel = slice(None) if mask is None else mask
        cl, cat = self.arrays.cluster[sel], self.category[sel]
        data = self.weights[sel] if weighted and self.weights is not None else np.ones(len(cat))
        cm = sp.csr_matrix((data, (cl, cat)), shape=(G, K))
        if mask is None and not weighted:
            self._cm = cm
        return cm

    def cluster_counts(self, weights: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
        """Category counts for participant multiplicities of shape ``(R, G)`` (battles in ``mask``).

        With battle weights: each resampled battle counts with its weight, and every round is
        rescaled to its number of battles.

        Example
        -------
        >>> t = Tournament(BattleArrays.from_lists(["x", "y"], [0, 0, 1], [1, 1, 0], [0, 0, 2], cluster=[0, 1, 1]))
        >>> t.cluster_counts(np.array([[1, 1], [0, 2]])).tolist()   # participant 1 drawn twice in round 2
        [[2.0, 1.0], [2.0, 2.0]]
        """
        mult = np.asarray(weights, dtype=float)
        counts = np.asarray((self.cluster_matrix(mask).T @ mult.T).T)
        if self.weights is None:
            return counts
        weighted = np.asarray((self.cluster_matrix(mask, weighted=True).T @ mult.T).T)
        return rescale_rounds(weighted, counts.sum(axis=1))

    def battle_counts(self, rng: np.random.Generator, rounds: int) -> np.ndarray:
        """Category counts of ``rounds`` battle-level bootstrap resamples (multinomial).

        Example
        -------
        >>> t = Tournament(BattleArrays.from_lists(["x", "y"], [0, 0, 1], [1, 1, 0], [0, 0, 2]))
        >>> t.battle_counts(np.random.default_rng(0), 4).sum(axis=1).tolist()   # 3 battles per round
        [3.0, 3.0, 3.0, 3.0]
        """
        if self.weights is None:
            c = self.table.counts.astype(float)
        else:  # cells of battles sharing a category and a weight are exchangeable
            wid = pd.factorize(self.weights)[0]
            cells, cell_of = np.unique(self.category * (int(wid.max()) + 1) + wid, return_inverse=True)
            c = np.bincount(cell_of.reshape(-1)).astype(float)
        m = int(round(c.sum()))
        if m == 0:
            return np.zeros((rounds, self.table.n_categories))
        draws = rng.multinomial(m, c / c.sum(), size=rounds).astype(float)
        if self.weights is None:
            return draws
        rep = np.zeros(len(cells), dtype=np.int64)
        rep[cell_of.reshape(-1)] = np.arange(len(cell_of))
        to_cat = sp.csr_matrix(
            (self.weights[rep], (np.arange(len(cells)), self.category[rep])),
            shape=(len(cells), self.table.n_categories),
        )
        return rescale_rounds(np.asarray((to_cat.T @ draws.T).T), np.full(rounds, float(m)))

    # scoring --------------------------------------------------------------------------------
    def score_counts(
        self,
        counts: np.ndarray,
        method: str | Aggregator,
        options: dict,
        present: np.ndarray | None = None,
    ) -> np.ndarray:
        """Batched pair-based scores for category counts ``(R, K)``, in memory-bounded batches.

        ``present`` (boolean mask over models) scores only those models' tournament (a
        subgroup's); the aggregator's ``prepare`` hook sees that (e.g. a BT ``anchor`` absent
        from it is dropped with a warning: ratings centred).

        Example
        -------
        >>> t = Tournament(BattleArrays.from_lists(["x", "y"], [0, 0, 0], [1, 1, 1], [0, 0, 1]))
        >>> t.score_counts(t.full_counts(), "prc", {"alpha": 0.0}).round(4).tolist()
        [[0.6667, 0.3333]]
        """
        agg = get_aggregator(method)
        ix = None if present is None else np.flatnonzero(present)
        context = self.context if ix is None else self.context.restrict(ix)
        opts = agg.prepare_options(options, context)
        k = len(context.models)
        counts = np.atleast_2d(counts)
        step = max(1, _BATCH_ELEMENTS // max(1, k * k))
        out = np.empty((counts.shape[0], k))
        with blas_threads():  # many small solves: one BLAS thread (pluralis.threads)
            for s in range(0, counts.shape[0], step):
                wins, ties = self.table.matrices(counts[s : s + step])
                if ix is not None:
                    wins = wins[..., ix, :][..., :, ix]
                    ties = ties[..., ix, :][..., :, ix]
                out[s : s + step] = agg.scores_from_counts(wins, ties, **opts)
        return out


def _clusters(arrays: BattleArrays) -> np.ndarray:
    """The battles' participant codes (an error when the battles have none)."""
    if arrays.cluster is None:
        raise ConfigError("participant weights need a participant (user_id) column in the battles")
    return arrays.cluster


def _as_arrays(
    battles: pd.DataFrame | BattleArrays, models: Sequence[str] | None, cluster: str | None
) -> tuple[BattleArrays, pd.DataFrame | None]:
    if isinstance(battles, BattleArrays):
        arrays, frame = battles, None
    else:
        arrays, frame = encode_battles(battles, models=models, cluster=cluster), battles
    if arrays.n_battles == 0:
        raise DataValidationError("no battles to rank (need at least two rated responses to the same prompt)")
    return arrays, frame


def _rating_arrays(
    frame: pd.DataFrame | None, arrays: BattleArrays, agg: Aggregator, ratings: pd.DataFrame | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    if ratings is None:
        if frame is None:
            raise ConfigError(f"method {agg.name!r} needs a battle DataFrame (rated responses), not arrays")
        ratings = ratings_from_battles(frame)
    col = str(agg.rating_column)
    if col not in ratings.columns:
        raise ConfigError(f"ratings lack the column {col!r} needed by {agg.name!r}")
    idx = pd.Index(arrays.models).get_indexer(pd.Index(ratings["model_name"]))
    keep = idx >= 0
    vals = ratings[col].to_numpy(dtype=float)[keep]
    cl = None
    if "user_id" in ratings.columns:
        if arrays.clusters is not None:
            cl = pd.Index(arrays.clusters).get_indexer(ratings["user_id"].to_numpy()[keep])
        else:
            cl = pd.factorize(ratings["user_id"].to_numpy()[keep])[0]
    return idx[keep], vals, cl


def _sequence_bootstrap(
    agg: Aggregator,
    arrays: BattleArrays,
    rng: np.random.Generator,
    rounds: int,
    weights: np.ndarray | None,
    options: dict,
) -> np.ndarray:
    """Bootstrap draws of an order-based aggregator: resampled battle sequences, all rounds at once.

    ``weights`` (participant multiplicities ``(rounds, G)``): each round's battles are the drawn
    participants' battles, shuffled; None: ``m`` i.i.d. battle draws in draw order.
    """
    n, m = arrays.n_models, arrays.n_battles
    a, b, o = arrays.a, arrays.b, arrays.outcome.astype(np.int64)
    out = np.empty((rounds, n))
    step = max(1, 10_000_000 // max(1, m))
    if weights is None:
        # FastChat: battles.sample(frac=1, replace=True) = m i.i.d. draws, in draw order
        for s in range(0, rounds, step):
            r = min(step, rounds - s)
            steps = rng.integers(0, m, size=(m, r), dtype=np.int64)
            out[s : s + r] = agg.scores_from_sequences(a, b, o, n, steps, None, **options)
        return out
    # cluster bootstrap: each round's battles = the drawn participants' battles, shuffled
    cluster = arrays.cluster
    if cluster is None:
        raise ConfigError("a participant bootstrap needs a 'user_id' column in the battles")
    order = np.argsort(cluster, kind="stable")
    sizes = np.bincount(cluster, minlength=arrays.n_clusters)
    starts = np.r_[0, np.cumsum(sizes)[:-1]]
    W = weights.astype(np.int64)
    for s in range(0, rounds, step):
        chunk = W[s : s + step]
        seqs = []
        for w in chunk:  # one index list per round
            reps = np.repeat(np.arange(len(w)), w)
            lens = sizes[reps]
            total = int(lens.sum())
            if total == 0:
                seqs.append(np.array([], dtype=np.int64))
                continue
            offs = np.repeat(starts[reps] - np.r_[0, np.cumsum(lens)[:-1]], lens) + np.arange(total)
            seq = order[offs]
            seqs.append(seq[rng.permutation(total)])
        L = max(1, max(len(q) for q in seqs))
        steps = np.zeros((L, len(seqs)), dtype=np.int64)
        valid = np.zeros((L, len(seqs)), dtype=bool)
        for k, q in enumerate(seqs):
            steps[: len(q), k] = q
            valid[: len(q), k] = True
        out[s : s + len(seqs)] = agg.scores_from_sequences(a, b, o, n, steps, valid, **options)
    return out


# --- public API ---------------------------------------------------------------------------------


def bootstrap(
    battles: pd.DataFrame | BattleArrays,
    method: str | Aggregator = "prc",
    *,
    rounds: int = 1000,
    unit: Unit = "participants",
    level: float = 0.95,
    seed: int | None = 0,
    models: Sequence[str] | None = None,
    cluster: str = "user_id",
    ratings: pd.DataFrame | None = None,
    weights: pd.Series | None = None,
    missing_weights: str = "raise",
    interval: str = "bca",
    target: Literal["population", "estimator"] = "population",
    **options: Any,
) -> BootstrapResult:
    """Bootstrap one aggregator's scores and ranks.

    Parameters
    ----------
    battles
        battle frame (:func:`~pluralis.ranking.battles.extract_battles`) or
        :class:`~pluralis.ranking.battles.BattleArrays`.
    method
        any aggregator name or alias (:func:`~pluralis.ranking.registry.aggregators`).
    unit
        ``"participants"`` (cluster bootstrap: resample people with replacement, each bringing
        all their battles — the unit that matters for "which people") or ``"battles"``
        (resample battles with replacement, as Chatbot Arena does; score means resample rated
        responses).
    rounds, level, seed
        number of resamples, interval level, RNG seed.
    weights, missing_weights
        participant weights (Series indexed by the ``cluster`` column's values) for a weighted
        ranking (see :func:`~pluralis.ranking.engine.rank_models`): resampled participants
        (or battles) carry their weights. Participants without a weight raise, or count 0 with
        ``missing_weights="zero"``. Not for online Elo.
    interval
        the score intervals of :meth:`BootstrapResult.summary`: ``"bca"`` (default; the
        acceleration from a jackknife over participants — or over battles / rated responses
        for ``unit="battles"`` — one extra fit per unit, in blocks of units beyond
        :data:`JACKKNIFE_MAX_UNITS`), ``"bc"`` or ``"percentile"``. For PRC with its ``alpha``
        prior, percentile intervals of the most extreme models under-cover (73 % for a nominal
        95 % at 300 participants in our simulation): the prior pulls the estimate towards
        ``1/n`` and every bootstrap draw once more, so the draws sit on the wrong side of the
        truth. BC/BCa re-centre the interval; see ``benchmarks/README.md`` ("Coverage"). Online
        Elo (order-dependent) gets no jackknife: its ``"bca"`` is ``"bc"``.
    target
        ``"population"`` (default): for an aggregator with a prior that biases its estimates
        (PRC's ``alpha``; :attr:`~pluralis.ranking.registry.Aggregator.unregularised`), the
        intervals come from the same resamples refitted *without* it, so they cover the
        population score; the point estimate, the ranks and the SE keep the prior. (BT's weak
        L2 penalty keeps its intervals: their coverage is nominal in the simulation.)
        ``"estimator"``: intervals of the estimator's own draws (they inherit its shrinkage).
    options
        aggregator options (``alpha``, ``variant``, ``penalty``, ``C``, ``anchor``, ``k``, ...).
        PRC's ``alpha`` (prior wins per ordered pair) shrinks every score towards ``1/n`` by an
        amount that fades as battles per pair grow; it keeps sparse tournaments solvable but
        biases the extremes, which the BC/BCa intervals account for (the point estimates keep
        the bias).

    Returns
    -------
    BootstrapResult
        point estimates and one row of scores per round (and the jackknife for BCa).

    See Also
    --------
    random_participants, pluralis.ranking.subgroups.subgroup_rankings,
    pluralis.ranking.intervals.bootstrap_interval

    Example
    -------
    >>> b = pd.DataFrame({"model_a": ["x", "x", "y", "x"], "model_b": ["y", "z", "z", "y"],
    ...     "winner": ["model_a", "model_a", "tie", "model_b"], "user_id": ["u1", "u1", "u2", "u3"]})
    >>> res = bootstrap(b, "prc", rounds=200, seed=1)
    >>> res.samples.shape, res.summary()["model"].iloc[0], res.jackknife.shape
    ((200, 3), 'x', (3, 3))
    >>> w = pd.Series({"u1": 0.5, "u2": 1.0, "u3": 2.0})
    >>> bootstrap(b, "prc", rounds=200, seed=1, weights=w, interval="percentile").summary().attrs["weighted"]
    True
    """
    agg = get_aggregator(method)
    interval = check_interval(interval)
    if unit not in ("battles", "participants"):
        raise ConfigError(f"unit must be 'battles' or 'participants', got {unit!r}")
    if not 0 < level < 1:
        raise ConfigError(f"level must be in (0, 1), got {level!r}")
    if rounds < 1:
        raise ConfigError("rounds must be >= 1")
    arrays, frame = _as_arrays(battles, models, cluster)
    pw = checked_participant_weights(agg, arrays, weights, missing_weights)
    rng = np.random.default_rng(seed)
    mult = None
    if unit == "participants":
        if arrays.cluster is None:
            raise ConfigError(f"unit='participants' needs a {cluster!r} column in the battles")
        if arrays.n_clusters < 2:
            raise ConfigError("a participant bootstrap needs at least 2 participants; use unit='battles'")
        mult = cluster_weights(rng, rounds, arrays.n_clusters)
    if target not in ("population", "estimator"):
        raise ConfigError(f"target must be 'population' or 'estimator', got {target!r}")
    state = rng.bit_generator.state
    samples, estimate = _resample_scores(arrays, frame, agg, rng, rounds, mult, ratings, options, pw)
    free = agg.unregularised_options(options) if target == "population" else None
    iv_samples = iv_estimate = None
    iv_options = options
    if free is not None:
        rng.bit_generator.state = state  # the very same resamples, refitted without the prior
        iv_samples, iv_estimate = _resample_scores(arrays, frame, agg, rng, rounds, mult, ratings, free, pw)
        iv_options = free
    jack = counts = None
    if interval == "bca" and agg.kind != "sequence":
        jack, counts = jackknife_scores(arrays, frame, agg, unit, ratings=ratings, options=iv_options, pw=pw, seed=seed)
    return BootstrapResult(
        arrays.models,
        agg.name,
        unit,
        estimate,
        samples,
        agg.higher_is_better,
        level,
        dict(options),
        weighted=pw is not None,
        interval=interval,
        jackknife=jack,
        jackknife_counts=counts,
        interval_samples=iv_samples,
        interval_estimate=iv_estimate,
    )


#: Most leave-one-out fits of a jackknife; beyond, units are left out in this many random blocks.
JACKKNIFE_MAX_UNITS = 2000
#: Blocks of a battle jackknife beyond :data:`JACKKNIFE_MAX_UNITS` distinct battles (categories).
JACKKNIFE_BATTLE_BLOCKS = 200


def jackknife_blocks(n_units: int, seed: int | None = 0, max_units: int | None = None) -> np.ndarray:
    """Block of each unit for a (grouped) jackknife: every unit its own block up to ``max_units``.

    Parameters
    ----------
    n_units
        number of resampling units (participants, battles).
    seed
        seed of the random assignment to blocks beyond ``max_units``.
    max_units
        most blocks (default :data:`JACKKNIFE_MAX_UNITS`).

    Returns
    -------
    numpy.ndarray
        ``(n_units,)`` block index per unit (``0 .. blocks - 1``).

    Example
    -------
    >>> jackknife_blocks(3).tolist(), int(jackknife_blocks(10, max_units=4).max())
    ([0, 1, 2], 3)
    """
    cap = JACKKNIFE_MAX_UNITS if max_units is None else int(max_units)
    if n_units <= cap:
        return np.arange(n_units)
    rng = np.random.default_rng(seed)
    return rng.permutation(np.arange(n_units) % cap)


def jackknife_scores(
    arrays: BattleArrays,
    frame: pd.DataFrame | None,
    method: str | Aggregator,
    unit: str = "participants",
    *,
    ratings: pd.DataFrame | None = None,
    options: dict | None = None,
    pw: np.ndarray | None = None,
    seed: int | None = 0,
) -> tuple[np.ndarray, np.ndarray | None]:
    """Leave-one-unit-out scores (for BCa's acceleration): one row per left-out unit (or cell of them).

    ``unit="participants"`` leaves out each participant (in random blocks beyond
    :data:`JACKKNIFE_MAX_UNITS`). ``unit="battles"`` leaves out one battle (one rated response
    for score means): battles of the same category (pair, outcome, weight) give the same fit,
    so one row per category with its count as frequency weight; beyond
    :data:`JACKKNIFE_MAX_UNITS` categories (Arena scale), random blocks of battles are left
    out instead (:data:`JACKKNIFE_BATTLE_BLOCKS`, memory ``blocks x categories``).

    Parameters
    ----------
    arrays, frame
        encoded battles and the battle frame (for score means and covariates).
    method, options
        aggregator and its options.
    unit
        ``"participants"`` or ``"battles"``.
    ratings
        rated responses (score means; default from the frame).
    pw
        one weight per participant (weighted rankings), or None.
    seed
        seed of the block assignment.

    Returns
    -------
    tuple
        ``(J, n)`` leave-one-out scores and the rows' frequency weights (None: one each).

    Example
    -------
    >>> arr = BattleArrays.from_lists(["x", "y"], [0, 0, 1], [1, 1, 0], [0, 0, 2], cluster=[0, 1, 2])
    >>> jack, counts = jackknife_scores(arr, None, "win_rate")
    >>> jack.round(3).tolist(), counts
    ([[0.5, 0.0], [0.5, 0.0], [1.0, 0.0]], None)
    >>> jackknife_scores(arr, None, "win_rate", "battles")[1].tolist()
    [2.0, 1.0]
    """
    agg = get_aggregator(method)
    options = dict(options or {})
    rng = np.random.default_rng(seed)
    n = arrays.n_models
    if unit == "participants":
        if arrays.cluster is None:
            raise ConfigError("a participant jackknife needs a 'user_id' column in the battles")
        block = jackknife_blocks(arrays.n_clusters, seed)
        B = int(block.max()) + 1
        mult = np.ones((B, arrays.n_clusters))
        mult[block, np.arange(arrays.n_clusters)] = 0.0
        jack, _ = _resample_scores(arrays, frame, agg, rng, B, mult, ratings, options, pw)
        return jack, None
    if agg.kind == "pairs":
        t = Tournament(arrays, weights=None if pw is None else pw[_clusters(arrays)])
        cat = t.category
        wid = np.zeros(arrays.n_battles, dtype=np.int64) if t.weights is None else pd.factorize(t.weights)[0]
        cells, first, cell_n = np.unique(cat * (int(wid.max()) + 1) + wid, return_index=True, return_counts=True)
        full = t.full_counts()[0]
        if len(cells) > JACKKNIFE_MAX_UNITS:  # Arena scale: one row per category would need cells x categories
            return _blocked_pair_jackknife(t, full, agg, options, seed), None
        counts = np.repeat(full[None, :], len(cells), axis=0)
        w_cell = np.ones(len(cells)) if t.weights is None else t.weights[first]
        counts[np.arange(len(cells)), cat[first]] -= w_cell
        if t.weights is not None:
            counts = rescale_rounds(counts, np.full(len(cells), arrays.n_battles - 1.0))
        return t.score_counts(np.clip(counts, 0.0, None), agg, options), cell_n.astype(float)
    if agg.kind == "ratings":
        model, vals, cl = _rating_arrays(frame, arrays, agg, ratings)
        rw = np.ones(len(vals)) if pw is None or cl is None else pw[cl]
        ok = ~np.isnan(vals)
        model, vals, rw = model[ok], vals[ok], rw[ok]
        codes, uniq = pd.factorize(pd.MultiIndex.from_arrays([model, vals, rw]))
        cell_n = np.bincount(codes).astype(float)
        um = np.asarray(uniq.get_level_values(0), dtype=np.int64)
        uv = np.asarray(uniq.get_level_values(1), dtype=float)
        uw = np.asarray(uniq.get_level_values(2), dtype=float)
        S = np.bincount(model, weights=rw * vals, minlength=n)
        N = np.bincount(model, weights=rw, minlength=n)
        Sj = np.repeat(S[None, :], len(um), axis=0)
        Nj = np.repeat(N[None, :], len(um), axis=0)
        Sj[np.arange(len(um)), um] -= uw * uv
        Nj[np.arange(len(um)), um] -= uw
        with np.errstate(invalid="ignore", divide="ignore"):
            jack = np.where(Nj > 0, Sj / np.where(Nj > 0, Nj, 1.0), np.nan)
        return jack, cell_n
    if agg.kind == "battles":
        block = jackknife_blocks(arrays.n_battles, seed, max_units=min(JACKKNIFE_MAX_UNITS, 200))
        B = int(block.max()) + 1
        W = np.ones((B, arrays.n_battles))
        W[block, np.arange(arrays.n_battles)] = 0.0
        return battle_scores(arrays, frame, agg, W, options, pw), None
    raise ConfigError(f"method {agg.name!r} ({agg.kind}) has no jackknife; use interval='bc'")


def _blocked_pair_jackknife(
    t: Tournament, full: np.ndarray, agg: Aggregator, options: dict, seed: int | None
) -> np.ndarray:
    """Battle jackknife of a pairs aggregator in random blocks of battles (beyond :data:`JACKKNIFE_MAX_UNITS` cells).

    Leaving a block out subtracts its category counts from the full counts, so memory is
    ``blocks x categories`` (at most :data:`JACKKNIFE_BATTLE_BLOCKS` blocks) however many
    categories there are.
    """
    n_battles = t.arrays.n_battles
    block = jackknife_blocks(n_battles, seed, max_units=JACKKNIFE_BATTLE_BLOCKS)
    B, K = int(block.max()) + 1, len(full)
    left = np.bincount(block * K + t.category, weights=t.weights, minlength=B * K).reshape(B, K)
    counts = full[None, :] - left
    if t.weights is not None:
        counts = rescale_rounds(counts, n_battles - np.bincount(block, minlength=B).astype(float))
    return t.score_counts(np.clip(counts, 0.0, None), agg, options)


def battle_scores(
    arrays: BattleArrays,
    frame: pd.DataFrame | None,
    agg: Aggregator,
    W: np.ndarray | None,
    options: dict,
    pw: np.ndarray | None,
    present: np.ndarray | None = None,
    covariates: np.ndarray | None = None,
) -> np.ndarray:
    """Scores of a ``battles`` aggregator for battle multiplicities ``W`` ``(R, m)`` (None: all once).

    Participant weights multiply the multiplicities, rescaled per round to the round's number of
    battles (as pair counts). ``present``: score only those models (a subgroup's tournament).

    Parameters
    ----------
    arrays, frame
        encoded battles and their frame (for the covariates, unless given).
    agg, options
        the aggregator and its options.
    W
        ``(R, m)`` battle multiplicities (0 leaves a battle out), or None.
    pw
        one weight per participant, or None.
    present
        boolean mask of the models to score (default all).
    covariates
        precomputed covariates (default from ``frame``).

    Returns
    -------
    numpy.ndarray
        ``(R, n_present)`` scores.

    Example
    -------
    >>> arr = BattleArrays.from_lists(["x", "y"], [0, 0, 1], [1, 1, 0], [0, 0, 0])
    >>> s = battle_scores(arr, None, get_aggregator("style_bt"), None, {"penalty": None}, None,
    ...                   covariates=np.zeros((3, 1)))
    >>> round(float(s[0, 0] - s[0, 1]), 1)
    120.4
    """
    X = battle_covariates(agg, frame) if covariates is None else covariates
    ix = np.arange(arrays.n_models) if present is None else np.flatnonzero(present)
    ctx = PairContext.of(arrays)
    opts = agg.prepare_options(options, ctx if present is None else ctx.restrict(ix))
    Wm = np.ones((1, arrays.n_battles)) if W is None else np.atleast_2d(np.asarray(W, dtype=float))
    if pw is not None:
        raw = Wm.sum(axis=1)
        Wm = rescale_rounds(Wm * pw[_clusters(arrays)], raw)
    remap = np.full(arrays.n_models, -1, dtype=np.int64)
    remap[ix] = np.arange(len(ix))
    a, b = remap[arrays.a], remap[arrays.b]
    keep = (a >= 0) & (b >= 0)
    if not keep.all():
        a, b, Wm = a[keep], b[keep], Wm[:, keep]
        X = None if X is None else X[keep]
    out = agg.scores_from_battles(
        a, b, arrays.outcome[keep] if not keep.all() else arrays.outcome, len(ix), weights=Wm, covariates=X, **opts
    )
    return np.atleast_2d(out)


#: Bootstrap rounds per parallel task. Fixed, so the chunks (and the random streams spawned for
#: them) and hence the results do not depend on how many threads run them.
ROUNDS_PER_CHUNK = 250


def in_parallel_chunks(
    chunk_scores: Callable[[slice, np.random.Generator | None], np.ndarray],
    rounds: int,
    rng: np.random.Generator | None,
) -> np.ndarray:
    """Stack ``chunk_scores`` over chunks of :data:`ROUNDS_PER_CHUNK` rounds, run on worker threads.

    Each chunk gets its own random stream (``rng.spawn``) when ``rng`` is given, so the result is
    the same for any number of threads (:func:`pluralis.threads.worker_threads`). The
    resampling and the batched solves are numpy calls that release the GIL, so on a machine with
    two or more cores the chunks run in parallel; one BLAS thread is pinned around all of them.

    Parameters
    ----------
    chunk_scores
        ``(rounds slice, random stream or None) -> (chunk rounds, n)`` scores.
    rounds
        total rounds.
    rng
        the bootstrap's generator (None when the resamples are already drawn).

    Returns
    -------
    numpy.ndarray
        ``(rounds, n)``.

    Example
    -------
    >>> f = lambda chunk, g: g.random((chunk.stop - chunk.start, 2))
    >>> a = in_parallel_chunks(f, 600, np.random.default_rng(0))
    >>> a.shape, bool((a == in_parallel_chunks(f, 600, np.random.default_rng(0))).all())
    ((600, 2), True)
    """
    starts = list(range(0, rounds, ROUNDS_PER_CHUNK))
    chunks = [slice(s, min(rounds, s + ROUNDS_PER_CHUNK)) for s in starts]
    streams: list[np.random.Generator | None] = (
        list(rng.spawn(len(chunks))) if rng is not None else [None] * len(chunks)
    )
    with blas_threads():
        parts = map_in_workers(lambda job: chunk_scores(*job), zip(chunks, streams))
    return np.concatenate(parts, axis=0) if parts else np.empty((0, 0))


def _resample_scores(
    arrays: BattleArrays,
    frame: pd.DataFrame | None,
    agg: Aggregator,
    rng: np.random.Generator,
    rounds: int,
    mult: np.ndarray | None,
    ratings: pd.DataFrame | None,
    options: dict,
    participant_weights: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Draws (rounds x n) and the full-data estimate.

    ``mult``: participant multiplicities ``(rounds, G)`` (None: resample battles);
    ``participant_weights``: one weight per participant for a weighted ranking (None: unweighted).
    """
    n = arrays.n_models
    pw = participant_weights
    if agg.kind == "pairs":
        t = Tournament(arrays, weights=None if pw is None else pw[_clusters(arrays)])

        def chunk_scores(chunk: slice, chunk_rng: np.random.Generator | None) -> np.ndarray:
            if mult is None:
                assert chunk_rng is not None
                counts = t.battle_counts(chunk_rng, chunk.stop - chunk.start)
            else:
                counts = t.cluster_counts(mult[chunk])
            return t.score_counts(counts, agg, options)

        samples = in_parallel_chunks(chunk_scores, rounds, rng if mult is None else None)
        estimate = t.score_counts(t.full_counts(), agg, options)[0]
        return samples, estimate
    if agg.kind == "battles":
        X = battle_covariates(agg, frame)
        m = arrays.n_battles
        estimate = battle_scores(arrays, frame, agg, None, options, pw, covariates=X)[0]
        samples = np.empty((rounds, n))
        step = max(1, _BATCH_ELEMENTS // max(1, m))
        for s in range(0, rounds, step):
            r = min(step, rounds - s)
            if mult is None:
                W = rng.multinomial(m, np.full(m, 1.0 / m), size=r).astype(float)
            else:
                W = mult[s : s + r][:, _clusters(arrays)]
            samples[s : s + r] = battle_scores(arrays, frame, agg, W, options, pw, covariates=X)
        return samples, estimate
    if agg.kind == "sequence":
        samples = _sequence_bootstrap(agg, arrays, rng, rounds, mult, options)
        estimate = scores_for_arrays(arrays, agg, **{k: v for k, v in options.items() if k != "shuffle"})
        return samples, estimate
    model, vals, cl = _rating_arrays(frame, arrays, agg, ratings)
    rw = None
    if pw is not None:
        if cl is None or (cl < 0).any():
            raise ConfigError("weighted score means need the rated responses' 'user_id' (the weighted participants)")
        rw = pw[cl]
    estimate = mean_by_model(model, vals, n, weights=rw)
    if mult is None:
        samples = rating_means_iid(model, vals, n, rng, rounds, rw)
    else:
        if cl is None:
            raise ConfigError("a participant bootstrap of score means needs 'user_id' in the ratings")
        samples = rating_means_clusters(model, vals, cl, n, mult if pw is None else mult * pw, mult.shape[1])
    return samples, estimate


def random_participants(
    battles: pd.DataFrame | BattleArrays,
    n_participants: int,
    method: str | Aggregator = "prc",
    *,
    rounds: int = 1000,
    replace: bool = False,
    level: float = 0.95,
    seed: int | None = 0,
    models: Sequence[str] | None = None,
    cluster: str = "user_id",
    weights: pd.Series | None = None,
    missing_weights: str = "raise",
    **options: Any,
) -> BootstrapResult:
    """Scores from ``rounds`` random draws of ``n_participants`` people (PRISM Fig. 4A, Tab. 26).

    Each draw keeps all battles of the drawn participants (without replacement by default, as
    PRISM's ±0 for "all" implies) and recomputes the aggregator: the spread shows *idiosyncratic
    variance* — how much the leaderboard depends on which people happen to be asked.
    ``weights``: participant weights the drawn people carry (as :func:`bootstrap`).

    Parameters
    ----------
    battles
        battle frame or :class:`~pluralis.ranking.battles.BattleArrays` with participants.
    n_participants
        people per draw.
    method, options
        aggregator and its options.
    rounds, replace, level, seed
        number of draws, with or without replacement, interval level, RNG seed.
    models, cluster
        model order; the participant column.
    weights, missing_weights
        participant weights the drawn people carry (as :func:`bootstrap`).

    Returns
    -------
    BootstrapResult
        one row of scores per draw (``unit = "random_<n>"``).

    Example
    -------
    >>> b = pd.DataFrame({"model_a": ["x", "x", "y", "x"], "model_b": ["y", "z", "z", "y"],
    ...     "winner": ["model_a", "model_a", "tie", "model_b"], "user_id": ["u1", "u1", "u2", "u3"]})
    >>> random_participants(b, 2, rounds=50, seed=0).samples.shape
    (50, 3)
    """
    agg = get_aggregator(method)
    arrays, frame = _as_arrays(battles, models, cluster)
    if arrays.cluster is None:
        raise ConfigError(f"random-participant draws need a {cluster!r} column in the battles")
    if n_participants < 1:
        raise ConfigError("n_participants must be >= 1")
    pw = checked_participant_weights(agg, arrays, weights, missing_weights)
    rng = np.random.default_rng(seed)
    mult = cluster_weights(rng, rounds, arrays.n_clusters, n=n_participants, replace=replace)
    samples, estimate = _resample_scores(arrays, frame, agg, rng, rounds, mult, None, options, pw)
    return BootstrapResult(
        arrays.models,
        agg.name,
        f"random_{n_participants}",
        estimate,
        samples,
        agg.higher_is_better,
        level,
        dict(options),
        weighted=pw is not None,
    )


def even_pairs(
    battles: pd.DataFrame | BattleArrays,
    per_pair: int = 80,
    method: str | Aggregator = "prc",
    *,
    rounds: int = 1000,
    level: float = 0.90,
    seed: int | None = 42,
    pairs: Sequence[tuple[str, str]] | None = None,
    models: Sequence[str] | None = None,
    **options: Any,
) -> BootstrapResult:
    """Even sampling per model pair (PRISM App. T.9, Fig. 37c): ``per_pair`` battles per pair per round.

    Each round draws ``per_pair`` battles with replacement from every model pair (restricted to
    ``pairs`` when given, e.g. the pairs two datasets share) and recomputes the aggregator, so
    datasets with very different pair frequencies can be compared. PRISM used 80 battles, 1,000
    rounds and the 5th-95th percentiles (a 90% interval, hence ``level=0.90``).

    Parameters
    ----------
    battles
        battle frame or :class:`~pluralis.ranking.battles.BattleArrays`.
    per_pair
        battles drawn per model pair per round.
    method, options
        a pair aggregator and its options.
    rounds, level, seed
        rounds, interval level, RNG seed.
    pairs, models
        restrict to these model pairs; model order.

    Returns
    -------
    BootstrapResult
        one row of scores per round.

    Example
    -------
    >>> b = pd.DataFrame({"model_a": ["x", "x", "y", "x"], "model_b": ["y", "z", "z", "y"],
    ...     "winner": ["model_a", "model_a", "tie", "model_b"]})
    >>> even_pairs(b, per_pair=10, rounds=50).samples.shape
    (50, 3)
    """
    agg = get_aggregator(method)
    if agg.kind != "pairs":
        pairs_methods = ", ".join(a.name for a in aggregators("pairs"))
        raise ConfigError(f"even per-pair sampling needs a pair-based method ({pairs_methods})")
    arrays, _ = _as_arrays(battles, models, "user_id")
    t = Tournament(arrays)
    tab = t.table
    n = arrays.n_models
    pair_code = tab.i * n + tab.j
    if pairs is not None:
        idx = pd.Index(arrays.models)
        wanted: set[int] = set()
        for x, y in pairs:
            i, j = (int(k) for k in idx.get_indexer(pd.Index([x, y])))
            if i < 0 or j < 0:
                raise ConfigError(f"pair ({x!r}, {y!r}) names a model without battles")
            wanted.add(min(i, j) * n + max(i, j))
        keep = np.isin(pair_code, np.fromiter(wanted, dtype=np.int64, count=len(wanted)))
    else:
        keep = np.ones(len(pair_code), dtype=bool)
    uniq, pair_of = np.unique(pair_code[keep], return_inverse=True)
    cats = np.flatnonzero(keep)
    probs = np.zeros((len(uniq), 3))
    np.add.at(probs, (pair_of, tab.kind[cats]), tab.counts[cats].astype(float))
    probs /= probs.sum(axis=1, keepdims=True)
    rng = np.random.default_rng(seed)
    draws = rng.multinomial(per_pair, probs, size=(rounds, len(uniq)))  # (R, pairs, 3)
    counts = np.zeros((rounds, tab.n_categories))
    counts[:, cats] = draws[:, pair_of, tab.kind[cats]]
    full = np.zeros((1, tab.n_categories))
    full[0, cats] = tab.counts[cats]
    samples = t.score_counts(counts, agg, options)
    estimate = t.score_counts(full, agg, options)[0]
    return BootstrapResult(
        arrays.models,
        agg.name,
        f"even_{per_pair}_per_pair",
        estimate,
        samples,
        agg.higher_is_better,
        level,
        dict(options),
    )


def idiosyncratic_variance(
    battles: pd.DataFrame,
    sizes: Sequence[int] = (500, 100, 50, 10),
    method: str | Aggregator = "prc",
    *,
    rounds: int = 1000,
    seed: int | None = 0,
    **options: Any,
) -> pd.DataFrame:
    """Fig. 4A / Tab. 26 in one table: score distribution per model for each sample size.

    Returns ``n_participants, model, score_median, score_lo, score_hi, rank_median, p_top``
    (percentiles 2.5/97.5). Sizes larger than the number of participants are skipped.

    Parameters
    ----------
    battles
        battle frame with participants.
    sizes
        numbers of participants to draw.
    method, options
        aggregator and its options.
    rounds, seed
        draws per size, RNG seed.

    Returns
    -------
    pandas.DataFrame
        one row per (size, model).

    Example
    -------
    >>> b = pd.DataFrame({"model_a": ["x", "x", "y", "x"], "model_b": ["y", "z", "z", "y"],
    ...     "winner": ["model_a", "model_a", "tie", "model_b"], "user_id": ["u1", "u1", "u2", "u3"]})
    >>> idiosyncratic_variance(b, sizes=(2,), rounds=20)["n_participants"].unique().tolist()
    [2]
    """
    frames = []
    arrays = encode_battles(battles)
    for k, n in enumerate(sizes):
        if n > arrays.n_clusters:
            continue
        res = random_participants(arrays, n, method, rounds=rounds, seed=None if seed is None else seed + k, **options)
        s = res.summary()
        ranks = res.ranks()
        frames.append(
            pd.DataFrame(
                {
                    "n_participants": n,
                    "model": list(res.models),
                    "score_median": np.nanmedian(res.samples, axis=0),
                    "score_lo": np.nanquantile(res.samples, 0.025, axis=0),
                    "score_hi": np.nanquantile(res.samples, 0.975, axis=0),
                    "rank_median": np.nanmedian(ranks, axis=0),
                    "p_top": (ranks == 1).mean(axis=0),
                }
            ).merge(s[["model"]], on="model")
        )
    if not frames:
        return pd.DataFrame(
            columns=["n_participants", "model", "score_median", "score_lo", "score_hi", "rank_median", "p_top"]
        )
    return pd.concat(frames, ignore_index=True)
