"""Resampling primitives shared by the bootstrap (:mod:`~pluralis.ranking.uncertainty`) and the
joint subgroup bootstrap (:mod:`~pluralis.ranking.subgroups`).

* :func:`cluster_weights` — participant multiplicities per round (with replacement, or ``n``
  of ``G`` without: PRISM's "random n people");
* :func:`rescale_rounds` — weighted category counts of a round rescaled to its number of battles;
* :func:`rating_means_clusters` / :func:`rating_means_iid` — per-model means of rated responses
  under participant or response resampling, all rounds at once;
* :func:`checked_participant_weights` — participant weights of a tournament, refusing
  aggregators without a weighted form.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp

from pluralis.errors import ConfigError
from pluralis.ranking.battles import BattleArrays
from pluralis.ranking.encode import mean_by_model, participant_weight_vector
from pluralis.ranking.engine import no_weighted_form
from pluralis.ranking.registry import Aggregator, get_aggregator

__all__ = [
    "checked_participant_weights",
    "cluster_weights",
    "rating_means_clusters",
    "rating_means_iid",
    "rescale_rounds",
]


def cluster_weights(
    rng: np.random.Generator, rounds: int, G: int, *, n: int | None = None, replace: bool = True
) -> np.ndarray:
    """Participant multiplicities ``(rounds, G)`` of a cluster bootstrap or of random-``n`` draws.

    Parameters
    ----------
    rng
        random generator.
    rounds
        number of rounds.
    G
        number of participants.
    n
        participants per round (default ``G``: the bootstrap).
    replace
        draw with replacement (multinomial) or, with ``n``, without (0/1 weights).

    Returns
    -------
    numpy.ndarray
        ``(rounds, G)`` float multiplicities; each row sums to ``n`` (or ``G``).

    Example
    -------
    >>> w = cluster_weights(np.random.default_rng(0), 3, 5, n=2, replace=False)
    >>> w.sum(axis=1).tolist(), sorted(set(w.ravel().tolist()))
    ([2.0, 2.0, 2.0], [0.0, 1.0])
    """
    if n is None:
        return _with_replacement(rng, rounds, G, G)
    if not replace:
        if n > G:
            raise ConfigError(f"cannot draw {n} of {G} participants without replacement")
        keys = rng.random((rounds, G))
        chosen = np.argpartition(keys, n - 1, axis=1)[:, :n] if n < G else np.tile(np.arange(G), (rounds, 1))
        w = np.zeros((rounds, G))
        np.put_along_axis(w, chosen, 1.0, axis=1)
        return w
    return _with_replacement(rng, rounds, G, n)


def _with_replacement(rng: np.random.Generator, rounds: int, G: int, n: int) -> np.ndarray:
    """Counts of ``n`` uniform draws of ``G`` participants, per round: the multinomial, drawn as indices.

    Why not ``rng.multinomial(n, [1/G] * G)``: that draws ``G`` binomials per round (61 ms for 1,000
    rounds of 1,500 participants); ``n`` random indices and one ``bincount`` give the same
    distribution in a tenth of the time. Rounds go in blocks of at most ~4 M indices.
    """
    out = np.empty((rounds, G))
    block = max(1, 4_000_000 // max(1, n))
    for start in range(0, rounds, block):
        r = min(block, rounds - start)
        idx = rng.integers(0, G, size=(r, n)) + (np.arange(r) * G)[:, None]
        out[start : start + r] = np.bincount(idx.ravel(), minlength=r * G).reshape(r, G)
    return out


def rescale_rounds(weighted: np.ndarray, n_battles: np.ndarray) -> np.ndarray:
    """Scale each round's weighted category counts to sum to its number of battles (0 stays 0).

    Parameters
    ----------
    weighted
        ``(R, K)`` weighted counts.
    n_battles
        ``(R,)`` battles per round.

    Returns
    -------
    numpy.ndarray
        ``(R, K)`` rescaled counts.

    Example
    -------
    >>> rescale_rounds(np.array([[1.0, 3.0], [0.0, 0.0]]), np.array([2.0, 5.0])).tolist()
    [[0.5, 1.5], [0.0, 0.0]]
    """
    total = weighted.sum(axis=1)
    factor = np.divide(n_battles, total, out=np.zeros_like(total), where=total > 0)
    return weighted * factor[:, None]


def rating_means_clusters(
    model: np.ndarray, vals: np.ndarray, cl: np.ndarray, n: int, weights: np.ndarray, n_clusters: int
) -> np.ndarray:
    """Per-model means of rated responses for cluster multiplicities ``weights`` ``(R, G)``.

    Parameters
    ----------
    model, vals, cl
        model code, value and cluster (participant, or row for a response bootstrap) of each
        rated response; ``cl < 0`` and NaN values are skipped.
    n
        number of models.
    weights
        ``(R, n_clusters)`` multiplicities (times participant weights, when weighted).
    n_clusters
        number of clusters.

    Returns
    -------
    numpy.ndarray
        ``(R, n)`` means (NaN for a model without data in a round).

    Example
    -------
    >>> rating_means_clusters(np.array([0, 0, 1]), np.array([1.0, 3.0, 5.0]), np.array([0, 1, 1]), 2,
    ...                       np.array([[1.0, 1.0], [2.0, 0.0]]), 2).tolist()
    [[2.0, 5.0], [1.0, nan]]
    """
    ok = ~np.isnan(vals) & (cl >= 0)
    S = sp.csr_matrix((vals[ok], (cl[ok], model[ok])), shape=(n_clusters, n))
    N = sp.csr_matrix((np.ones(ok.sum()), (cl[ok], model[ok])), shape=(n_clusters, n))
    w = np.asarray(weights, dtype=float)
    num = np.asarray((S.T @ w.T).T)
    den = np.asarray((N.T @ w.T).T)
    with np.errstate(invalid="ignore", divide="ignore"):
        return num / den


def rating_means_iid(
    model: np.ndarray,
    vals: np.ndarray,
    n: int,
    rng: np.random.Generator,
    rounds: int,
    weights: np.ndarray | None = None,
) -> np.ndarray:
    """Means of ``rounds`` i.i.d. resamples of the rated responses (each carrying its weight).

    Responses with the same model, value (and weight) are exchangeable, so each round is one
    multinomial draw over those cells.

    Parameters
    ----------
    model, vals
        model code and value of each rated response (NaN values skipped).
    n
        number of models.
    rng, rounds
        random generator and number of rounds.
    weights
        one weight per response, or None.

    Returns
    -------
    numpy.ndarray
        ``(rounds, n)`` means.

    Example
    -------
    >>> rating_means_iid(np.array([0, 1]), np.array([2.0, 4.0]), 2, np.random.default_rng(0), 3).shape
    (3, 2)
    """
    ok = ~np.isnan(vals)
    model, vals = model[ok], vals[ok]
    levels = [model, vals] if weights is None else [model, vals, np.asarray(weights, dtype=float)[ok]]
    codes, uniq = pd.factorize(pd.MultiIndex.from_arrays(levels))
    cnt = np.bincount(codes).astype(float)
    um = np.asarray(uniq.get_level_values(0), dtype=np.int64)
    uv = np.asarray(uniq.get_level_values(1), dtype=float)
    uw = None if weights is None else np.asarray(uniq.get_level_values(2), dtype=float)
    m = len(vals)
    out = np.empty((rounds, n))
    step = max(1, 2_000_000 // max(1, len(cnt)))
    for s in range(0, rounds, step):
        r = min(step, rounds - s)
        w = rng.multinomial(m, cnt / cnt.sum(), size=r).astype(float)
        out[s : s + r] = mean_by_model(um, uv, n, weights=w if uw is None else w * uw)
    return out


def checked_participant_weights(
    method: str | Aggregator, arrays: BattleArrays, weights: pd.Series | None, missing: str = "raise"
) -> np.ndarray | None:
    """Per-participant weights of ``arrays`` (or None), refusing aggregators without a weighted form.

    Parameters
    ----------
    method
        the aggregator (or its name).
    arrays
        encoded battles with participant clusters.
    weights
        weights by participant id, or None.
    missing
        ``"raise"`` or ``"zero"`` for participants without a weight.

    Returns
    -------
    numpy.ndarray or None
        one weight per cluster of ``arrays``.

    Example
    -------
    >>> arr = BattleArrays.from_lists(["x", "y"], [0], [1], [0], cluster=[0], clusters=["u1"])
    >>> checked_participant_weights("prc", arr, pd.Series({"u1": 2.0})).tolist()
    [2.0]
    """
    if weights is None:
        return None
    agg = get_aggregator(method)
    if not agg.supports_weights:
        raise no_weighted_form(agg)
    return participant_weight_vector(arrays, weights, missing)
