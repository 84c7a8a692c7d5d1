"""Average pairwise win rate (``win_rate``; aliases ``average_win_rate``, ``winrate``).

The mean over met opponents of the share of battles won against each. Ties stay in the
denominator (PRISM's notebook 07); ``ties="exclude"`` drops them (FastChat's
``battles_no_ties``).

Options: ``ties`` (``"count"`` | ``"exclude"``).

Example
-------
>>> from pluralis.ranking.engine import rank_models
>>> import pandas as pd
>>> b = pd.DataFrame({"model_a": ["x", "x", "x"], "model_b": ["y", "y", "y"], "winner": ["model_a", "model_a", "tie"]})
>>> rank_models(b, "win_rate")["score"].round(3).tolist(), rank_models(b, "win_rate", ties="exclude")["score"].tolist()
([0.667, 0.0], [1.0, 0.0])
"""

from __future__ import annotations

import warnings
from typing import Any, Literal

import numpy as np

from pluralis.errors import ConfigError
from pluralis.ranking.encode import count_matrices
from pluralis.ranking.registry import Aggregator, Option, register_aggregator

TiesMode = Literal["count", "exclude"]


def win_rate_from_counts(wins: np.ndarray, ties: np.ndarray, *, ties_mode: TiesMode = "count") -> np.ndarray:
    """Batched average pairwise win rate: row mean of ``wins / battles`` over met opponents.

    Parameters
    ----------
    wins, ties
        ``wins[..., w, l]`` battles *w* won against *l*; symmetric tie counts.
    ties_mode
        ``"count"`` keeps ties in the denominator (PRISM's notebook 07); ``"exclude"`` drops
        tied battles (FastChat's ``battles_no_ties``).

    Returns
    -------
    numpy.ndarray
        ``(..., n)`` win rates (NaN for a model without decisive battles when excluding ties).

    See Also
    --------
    average_win_rate : the same from integer-coded battles.

    Example
    -------
    >>> win_rate_from_counts(np.array([[0, 3], [1, 0]]), np.array([[0, 1], [1, 0]])).tolist()
    [0.6, 0.2]
    """
    wins = np.asarray(wins, dtype=float)
    ties = np.asarray(ties, dtype=float)
    n = wins.shape[-1]
    total = wins + np.swapaxes(wins, -1, -2)
    if ties_mode == "count":
        total = total + ties
    elif ties_mode != "exclude":
        raise ConfigError(f"ties must be 'count' or 'exclude', got {ties_mode!r}")
    frac = np.divide(wins, total, out=np.full_like(total, np.nan), where=total > 0)
    frac[..., np.arange(n), np.arange(n)] = np.nan
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmean(frac, axis=-1)


def average_win_rate(a: Any, b: Any, outcome: Any, n_models: int, *, ties: TiesMode = "count") -> np.ndarray:
    """Average pairwise win rate of integer-coded battles.

    Parameters
    ----------
    a, b, outcome
        integer-coded battles (``outcome``: 0 = ``a`` won, 1 = ``b`` won, 2 = tie).
    n_models
        number of models.
    ties
        ``"count"`` or ``"exclude"`` (see :func:`win_rate_from_counts`).

    Returns
    -------
    numpy.ndarray
        one win rate per model.

    Example
    -------
    >>> average_win_rate([0, 0, 0], [1, 1, 1], [0, 1, 2], 2).round(3).tolist()
    [0.333, 0.333]
    """
    w, t = count_matrices(a, b, outcome, n_models)
    return win_rate_from_counts(w, t, ties_mode=ties)


def _from_counts(wins: np.ndarray, tie_counts: np.ndarray, /, *, ties: TiesMode = "count") -> np.ndarray:
    return win_rate_from_counts(wins, tie_counts, ties_mode=ties)


AGGREGATOR = register_aggregator(
    Aggregator(
        name="win_rate",
        label="Average win rate",
        kind="pairs",
        from_counts=_from_counts,
        aliases=("average_win_rate", "winrate"),
        options=(Option("ties", "count", "'count' (ties in the denominator) or 'exclude'", ("count", "exclude")),),
        axis_label="average pairwise win rate",
        digits=4,
        order=40,
        description="mean over opponents of the share of battles won",
    )
)
