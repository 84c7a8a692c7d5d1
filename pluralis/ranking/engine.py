"""Rank models with any registered aggregator: from battles (or ratings) to one score per model.

:func:`rank_models` (a battle frame in, a tidy ranking out) and :func:`scores_for_arrays`
(integer-coded battles in, one score per model out) work for every aggregator of
:mod:`pluralis.ranking.registry`. The aggregators themselves — Pairwise Rank Centrality
(``prc``), Bradley–Terry / Elo MLE (``bt``), online Elo (``elo``), average win rate
(``win_rate``), score means (``mean_score``, ``mean_normalized_score``,
``mean_within_turn_rank``) — live one per file in :mod:`pluralis.ranking.methods`; what this
module does with one depends only on its ``kind``:

* ``pairs``: win/tie count matrices (weighted counts for weighted rankings) -> ``from_counts``;
* ``sequence``: the battles in data order (or shuffled with ``seed``/``shuffle=True``) ->
  ``from_sequence``;
* ``ratings``: the rated responses behind the battles -> mean of ``rating_column`` per model;
* ``battles``: the individual battles with per-battle covariates (computed from the battle
  frame by the aggregator's ``covariates`` hook; style control) -> ``from_battles``.

Example
-------
>>> b = pd.DataFrame({"model_a": ["x", "x", "y"], "model_b": ["y", "z", "z"],
...                   "winner": ["model_a", "model_a", "tie"]})
>>> [rank_models(b, m)["model"].iloc[0] for m in ("prc", "bt", "win_rate")]
['x', 'x', 'x']
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from pluralis.census.weights import row_weights
from pluralis.errors import ConfigError, DataValidationError
from pluralis.ranking.battles import BattleArrays, encode_battles, ratings_from_battles
from pluralis.ranking.encode import matrices_of_arrays, mean_by_model, normalise_battle_weights
from pluralis.ranking.registry import Aggregator, PairContext, aggregators, get_aggregator
from pluralis.threads import blas_threads

__all__ = [
    "battle_covariates",
    "no_weighted_form",
    "rank_models",
    "ranks_from_scores",
    "resolve_method",
    "score_from_counts",
    "scores_for_arrays",
]

#: The former name of :func:`~pluralis.ranking.registry.get_aggregator` (callers of the old API:
#: ``resolve_method(name).name``, ``.higher_is_better``, ``.kind`` and ``.label`` still work).
resolve_method = get_aggregator


def ranks_from_scores(scores: np.ndarray, *, higher_is_better: bool = True) -> np.ndarray:
    """Competition ranks (1 = best; equal scores share the best rank; NaN scores -> NaN).

    Parameters
    ----------
    scores
        scores with any leading batch shape (ranks run over the last axis).
    higher_is_better
        ``False`` ranks the lowest score first.

    Returns
    -------
    numpy.ndarray
        ranks of the same shape (floats).

    Example
    -------
    >>> ranks_from_scores(np.array([0.2, 0.5, 0.2, np.nan])).tolist()
    [2.0, 1.0, 2.0, nan]
    """
    s = np.asarray(scores, dtype=float)
    if not higher_is_better:
        s = -s
    nan = np.isnan(s)
    filled = np.where(nan, -np.inf, s)
    better = (filled[..., None, :] > filled[..., :, None]).sum(axis=-1)
    r = 1.0 + better
    return np.where(nan, np.nan, r)


def score_from_counts(method: str | Aggregator, wins: np.ndarray, ties: np.ndarray, /, **options: Any) -> np.ndarray:
    """Scores of a pair-based aggregator from count matrices of shape ``(..., n, n)``.

    Parameters
    ----------
    method
        a pair aggregator's name (or the :class:`~pluralis.ranking.registry.Aggregator`).
    wins, ties
        ``wins[..., w, l]`` battles *w* won against *l*; symmetric tie counts.
    options
        the aggregator's options (others are ignored).

    Returns
    -------
    numpy.ndarray
        ``(..., n)`` scores.

    Example
    -------
    >>> w = np.array([[0, 3], [1, 0]]); t = np.zeros((2, 2))
    >>> score_from_counts("win_rate", w, t).tolist()
    [0.75, 0.25]
    >>> score_from_counts("win_rate", w, np.ones((2, 2)), ties="exclude").tolist()   # ``ties`` is the option
    [0.75, 0.25]
    """
    with blas_threads(size=np.shape(wins)[-1]):  # batched small solves: one BLAS thread (pluralis.threads)
        return get_aggregator(method).scores_from_counts(wins, ties, **options)


def no_weighted_form(method: str | Aggregator) -> ConfigError:
    """The error raised when weights are given to an aggregator without a weighted form (online Elo).

    Parameters
    ----------
    method
        the aggregator (or its name).

    Returns
    -------
    ConfigError
        the error (to raise), naming the methods that do take weights.

    Example
    -------
    >>> str(no_weighted_form("elo"))[:45]
    "method 'elo' processes battles in order and h"
    """
    agg = get_aggregator(method)
    why = "processes battles in order and has" if agg.kind == "sequence" else "has"
    ok = ", ".join(a.name for a in aggregators() if a.supports_weights)
    return ConfigError(f"method {agg.name!r} {why} no weighted form; use one of: {ok}")


def battle_covariates(method: str | Aggregator, battles: pd.DataFrame | None) -> np.ndarray | None:
    """Per-battle covariates a ``battles`` aggregator needs, from the battle frame (None for other kinds).

    Parameters
    ----------
    method
        the aggregator (or its name).
    battles
        the battle frame (None: an error for a ``battles`` aggregator).

    Returns
    -------
    numpy.ndarray or None
        ``(m, p)`` covariates, row ``i`` for battle ``i`` of the frame.

    Example
    -------
    >>> battle_covariates("prc", None) is None
    True
    >>> b = pd.DataFrame({"response_a": ["a b c", "a"], "response_b": ["a", "a b"]})
    >>> battle_covariates("style_bt", b).shape
    (2, 4)
    """
    agg = get_aggregator(method)
    if agg.kind != "battles":
        return None
    if battles is None:
        raise ConfigError(f"method {agg.name!r} needs the battle frame (its covariates), not integer-coded battles")
    return agg.battle_covariates(battles)


def scores_for_arrays(
    arrays: BattleArrays,
    method: str | Aggregator = "prc",
    *,
    ratings: pd.DataFrame | None = None,
    seed: int | None = None,
    weights: np.ndarray | None = None,
    rating_weights: np.ndarray | None = None,
    covariates: np.ndarray | None = None,
    **options: Any,
) -> np.ndarray:
    """Scores of one aggregator on integer-coded battles (``ratings`` needed for score means).

    Parameters
    ----------
    arrays
        encoded battles (:func:`~pluralis.ranking.battles.encode_battles`).
    method
        aggregator name or alias (:func:`~pluralis.ranking.registry.get_aggregator`).
    ratings
        the rated responses (:func:`~pluralis.ranking.battles.ratings_from_battles`), for
        ``ratings`` aggregators.
    seed
        sequence aggregators: shuffle the battle order with this seed (also ``shuffle=True``).
    weights
        one per battle (pair aggregators); rescaled with
        :func:`~pluralis.ranking.encode.normalise_battle_weights` into weighted win/tie counts.
    rating_weights
        one per row of ``ratings`` (score means): weighted means.
    covariates
        ``battles`` aggregators: one row of covariates per battle (:func:`battle_covariates`).
    options
        the aggregator's options (others are ignored).

    Returns
    -------
    numpy.ndarray
        one score per model of ``arrays``.

    Example
    -------
    >>> arr = BattleArrays.from_lists(["x", "y"], [0, 0, 1], [1, 1, 0], [0, 0, 0])
    >>> scores_for_arrays(arr, "win_rate").round(3).tolist()
    [0.667, 0.333]
    >>> scores_for_arrays(arr, "win_rate", weights=np.array([1.0, 1.0, 4.0])).round(3).tolist()
    [0.333, 0.667]
    """
    agg = get_aggregator(method)
    n = arrays.n_models
    if not agg.supports_weights and (weights is not None or rating_weights is not None):
        raise no_weighted_form(agg)
    if agg.kind == "pairs":
        opts = agg.prepare_options(options, PairContext.of(arrays))
        if weights is not None:
            weights = normalise_battle_weights(weights)
            if len(weights) != arrays.n_battles:
                raise ConfigError(f"got {len(weights)} battle weights for {arrays.n_battles} battles")
        wins, ties = matrices_of_arrays(arrays, weights)
        with blas_threads(size=n):
            return agg.scores_from_counts(wins, ties, **opts)
    if agg.kind == "battles":
        opts = agg.prepare_options(options, PairContext.of(arrays))
        if weights is not None:
            weights = normalise_battle_weights(weights)
            if len(weights) != arrays.n_battles:
                raise ConfigError(f"got {len(weights)} battle weights for {arrays.n_battles} battles")
        if covariates is None:
            raise ConfigError(f"method {agg.name!r} needs its per-battle covariates (pass a battle frame)")
        return agg.scores_from_battles(
            arrays.a, arrays.b, arrays.outcome, n, weights=weights, covariates=covariates, **opts
        )
    if agg.kind == "sequence":
        assert agg.from_sequence is not None  # checked by Aggregator
        kw = agg.select_options(options)
        a, b, o = arrays.a, arrays.b, arrays.outcome
        if options.get("shuffle", False) or seed is not None:
            perm = np.random.default_rng(seed).permutation(arrays.n_battles)
            a, b, o = a[perm], b[perm], o[perm]
        return agg.from_sequence(a, b, o, n, **kw)
    if ratings is None:
        raise ConfigError(f"method {agg.name!r} needs the rated responses (pass a battle frame)")
    col = str(agg.rating_column)
    if col not in ratings.columns:
        raise DataValidationError(f"ratings lack the column {col!r} needed by {agg.name!r}")
    idx = pd.Index(arrays.models).get_indexer(pd.Index(ratings["model_name"]))
    keep = idx >= 0
    rw = None
    if rating_weights is not None:
        rw = np.asarray(rating_weights, dtype=float)
        if len(rw) != len(ratings):
            raise ConfigError(f"got {len(rw)} rating weights for {len(ratings)} rated responses")
        rw = normalise_battle_weights(rw[keep], "rated responses")
    return mean_by_model(idx[keep], ratings[col].to_numpy(dtype=float)[keep], n, weights=rw)


def rank_models(
    battles: pd.DataFrame,
    method: str | Aggregator = "prc",
    *,
    models: Sequence[str] | None = None,
    seed: int | None = None,
    weights: pd.Series | None = None,
    weight_key: str = "user_id",
    missing_weights: str = "raise",
    **options: Any,
) -> pd.DataFrame:
    """Rank models from a battle frame with one aggregator, optionally with participant weights.

    Parameters
    ----------
    battles
        battle frame (:func:`~pluralis.ranking.battles.extract_battles` or
        :func:`~pluralis.ranking.battles.battles_from_comparisons`).
    method
        aggregator name or alias (``prc``, ``bt``, ``elo``, ``win_rate``, ``mean_score``, ...;
        :func:`~pluralis.ranking.registry.aggregators` lists them).
    models
        the models to rank (default: those with at least one battle).
    seed
        sequence aggregators (online Elo): shuffle the battle order with this seed.
    weights
        participant weights (Series indexed by the ``weight_key`` column's values, e.g.
        :func:`pluralis.census.weights.census_weights`). Every battle (or rated response, for
        the score means) counts with its rater's weight: pair aggregators use weighted win/tie
        counts, rescaled to sum to the number of battles so priors and penalties keep their
        unweighted strength; score means use weighted means; order-based aggregators have no
        weighted form (:class:`~pluralis.errors.ConfigError`). Unit weights reproduce the
        unweighted ranking exactly.
    weight_key, missing_weights
        the rater column; raters without a weight raise, or count 0 with ``"zero"``.
    options
        the aggregator's options, e.g. ``alpha``, ``variant`` (PRC); ``penalty``, ``C``,
        ``anchor`` (``{"flan-t5-xxl": 800}``) (BT); ``k``, ``shuffle`` (online Elo); ``ties``
        (win rate). Each method's file in :mod:`pluralis.ranking.methods` documents its own.

    Returns
    -------
    pandas.DataFrame
        ``model, score, rank, n_battles`` sorted best first; ``attrs["method"]``,
        ``attrs["higher_is_better"]`` and ``attrs["weighted"]`` are set.

    See Also
    --------
    pluralis.ranking.uncertainty.bootstrap : the same with bootstrap intervals.

    Example
    -------
    >>> b = pd.DataFrame({"model_a": ["x", "x", "y"], "model_b": ["y", "z", "z"],
    ...                   "winner": ["model_a", "model_a", "model_a"]})
    >>> rank_models(b, "prc")[["model", "rank"]].values.tolist()
    [['x', 1.0], ['y', 2.0], ['z', 3.0]]
    >>> b = pd.DataFrame({"model_a": ["x", "x", "y"], "model_b": ["y", "y", "x"],
    ...                   "winner": ["model_a"] * 3, "user_id": ["u1", "u1", "u2"]})
    >>> rank_models(b, "win_rate", weights=pd.Series({"u1": 1.0, "u2": 5.0}))["model"].tolist()
    ['y', 'x']
    """
    agg = get_aggregator(method)
    if weights is not None and not agg.supports_weights:
        raise no_weighted_form(agg)
    arrays = encode_battles(battles, models=models, cluster=None)
    ratings = None
    if agg.kind == "ratings":
        ratings = ratings_from_battles(battles, carry=() if weights is None else (weight_key,))
    battle_w = rating_w = None
    if weights is not None:
        if ratings is not None:
            rating_w = row_weights(ratings, weights, weight_key, missing_weights)
        else:
            battle_w = row_weights(battles, weights, weight_key, missing_weights)
    scores = scores_for_arrays(
        arrays,
        agg,
        ratings=ratings,
        seed=seed,
        weights=battle_w,
        rating_weights=rating_w,
        covariates=battle_covariates(agg, battles),
        **options,
    )
    n_battles = arrays.battles_per_model()
    ranks = ranks_from_scores(scores, higher_is_better=agg.higher_is_better)
    names = np.array(arrays.models, dtype=object)
    order = np.lexsort((names, ranks))  # sort by rank, then model name (names are unique)
    out = pd.DataFrame(
        {"model": names[order].tolist(), "score": scores[order], "rank": ranks[order], "n_battles": n_battles[order]}
    )
    out.attrs["method"] = agg.name
    out.attrs["higher_is_better"] = agg.higher_is_better
    out.attrs["weighted"] = weights is not None
    return out
