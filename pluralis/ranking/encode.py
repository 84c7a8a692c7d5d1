"""Battle encodings shared by the aggregators, the engine, the bootstrap and the subgroup analyses.

Integer-coded battles (:class:`~pluralis.ranking.battles.BattleArrays`: ``a``, ``b``, ``outcome``
with 0 = ``a`` won, 1 = ``b`` won, 2 = tie) become

* win/tie count matrices (:func:`count_matrices`; ``wins[w, l]``, symmetric ``ties``) — what every
  order-invariant pair aggregator is a function of;
* a :class:`PairTable` of (model pair, outcome) categories with counts — a bootstrap over battles
  is a multinomial draw over them, a participant bootstrap a sparse product;
* per-model means of rated responses (:func:`mean_by_model`) for the score-mean aggregators.

Battle and participant weights (census weights, ...) enter as row weights rescaled to mean 1
(:func:`normalise_battle_weights`), so priors and penalties keep their unweighted strength.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from pluralis.census.weights import row_weights
from pluralis.errors import ConfigError
from pluralis.ranking.battles import A_WINS, B_WINS, TIE, BattleArrays, pair_outcome_counts

__all__ = [
    "PairTable",
    "anchor_index",
    "count_matrices",
    "first_winner_order",
    "fold_pair_counts",
    "matrices_of_arrays",
    "mean_by_model",
    "normalise_battle_weights",
    "participant_weight_vector",
]


@dataclass(frozen=True)
class PairTable:
    """Battles compressed into categories (unordered pair i<j, kind), with counts.

    ``kind`` is 0 (i beat j), 1 (j beat i) or 2 (tie). Every order-invariant aggregator is a
    function of these counts, and a bootstrap over battles is a multinomial draw over them.

    Example
    -------
    >>> t, cat = PairTable.from_battles(np.array([1, 0, 0]), np.array([0, 1, 1]), np.array([0, 0, 2]), 2)
    >>> t.i.tolist(), t.j.tolist(), t.kind.tolist(), t.counts.tolist(), cat.tolist()
    ([0, 0, 0], [1, 1, 1], [0, 1, 2], [1, 1, 1], [1, 0, 2])
    """

    n_models: int
    i: np.ndarray
    j: np.ndarray
    kind: np.ndarray
    counts: np.ndarray

    @property
    def n_categories(self) -> int:
        """Number of (pair, outcome) categories that occur."""
        return len(self.i)

    @classmethod
    def from_battles(
        cls, a: np.ndarray, b: np.ndarray, outcome: np.ndarray, n_models: int, weights: np.ndarray | None = None
    ) -> tuple[PairTable, np.ndarray]:
        """Compress battles; returns the table and each battle's category index.

        Parameters
        ----------
        a, b, outcome
            integer-coded battles (``outcome``: 0 = ``a`` won, 1 = ``b`` won, 2 = tie).
        n_models
            number of models (codes are ``0 .. n_models - 1``).
        weights
            optional weight per battle: the counts become weighted counts.

        Returns
        -------
        tuple
            the :class:`PairTable` and, per battle, its category's index in the table.

        Example
        -------
        >>> t, cat = PairTable.from_battles(np.array([0, 0]), np.array([1, 1]), np.array([0, 0]), 2)
        >>> t.counts.tolist(), cat.tolist()
        ([2], [0, 0])
        """
        a = np.asarray(a, dtype=np.int64)
        b = np.asarray(b, dtype=np.int64)
        o = np.asarray(outcome, dtype=np.int8)
        # code = (min(a, b) * n + max(a, b)) * 3 + kind, in place (few full-length temporaries);
        # kind flips a decisive outcome (0 <-> 1) when the pair is stored swapped
        flip = a > b
        flip &= o != TIE
        code = np.minimum(a, b)
        code *= n_models
        code += np.maximum(a, b)
        code *= 3
        code += np.bitwise_xor(o, flip.view(np.int8))
        del flip
        counts = np.bincount(code, weights=weights, minlength=n_models * n_models * 3)
        present = (
            np.flatnonzero(counts) if weights is None else np.flatnonzero(np.bincount(code, minlength=len(counts)))
        )
        lookup = np.full(len(counts), -1, dtype=np.int64)
        lookup[present] = np.arange(len(present))
        pair, k = np.divmod(present, 3)
        ti, tj = np.divmod(pair, n_models)
        c = counts[present]
        if weights is None:
            c = c.astype(np.int64)
        return cls(n_models, ti, tj, k, c), lookup[code]

    def matrices(self, counts: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Win and tie matrices from category counts of shape ``(..., K)``.

        ``wins[..., w, l]`` = battles *w* won against *l*; ``ties`` is symmetric.

        Example
        -------
        >>> t, _ = PairTable.from_battles(np.array([0, 0]), np.array([1, 1]), np.array([0, 2]), 2)
        >>> w, ti = t.matrices()
        >>> w.tolist(), ti.tolist()
        ([[0.0, 1.0], [0.0, 0.0]], [[0.0, 1.0], [1.0, 0.0]])
        """
        c = self.counts if counts is None else np.asarray(counts)
        n = self.n_models
        lead = c.shape[:-1]
        wins = np.zeros(lead + (n * n,))
        ties = np.zeros(lead + (n * n,))
        k0 = self.kind == 0
        k1 = self.kind == 1
        k2 = self.kind == 2
        wins[..., self.i[k0] * n + self.j[k0]] = c[..., k0]
        wins[..., self.j[k1] * n + self.i[k1]] = c[..., k1]
        ties[..., self.i[k2] * n + self.j[k2]] = c[..., k2]
        ties[..., self.j[k2] * n + self.i[k2]] = c[..., k2]
        return wins.reshape(lead + (n, n)), ties.reshape(lead + (n, n))


def fold_pair_counts(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Win and tie matrices from battles per (model a, model b, outcome) (:meth:`BattleArrays.pair_counts`).

    Parameters
    ----------
    counts
        ``(n, n, 3)`` counts ``[a, b, outcome]``.

    Returns
    -------
    tuple of numpy.ndarray
        ``(wins, ties)`` as :func:`count_matrices`: ``wins[w, l]``, symmetric ``ties``, floats.

    Example
    -------
    >>> c = np.zeros((2, 2, 3)); c[0, 1] = [2, 1, 1]   # x vs y: x won 2, y won 1, one tie
    >>> w, t = fold_pair_counts(c)
    >>> w.tolist(), t.tolist()
    ([[0.0, 2.0], [1.0, 0.0]], [[0.0, 1.0], [1.0, 0.0]])
    """
    c = np.asarray(counts, dtype=float)
    return c[:, :, A_WINS] + c[:, :, B_WINS].T, c[:, :, TIE] + c[:, :, TIE].T


def matrices_of_arrays(arrays: BattleArrays, weights: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Win and tie matrices of encoded battles, optionally weighted (:func:`count_matrices`).

    Unweighted, they come from :meth:`BattleArrays.pair_counts` (cached; no per-battle rows needed).

    Parameters
    ----------
    arrays
        encoded battles.
    weights
        one weight per battle, or None.

    Returns
    -------
    tuple of numpy.ndarray
        ``(wins, ties)``.

    Example
    -------
    >>> arr = BattleArrays.from_lists(["x", "y"], [0, 1], [1, 0], [0, 2])
    >>> [m.tolist() for m in matrices_of_arrays(arr)]
    [[[0.0, 1.0], [0.0, 0.0]], [[0.0, 1.0], [1.0, 0.0]]]
    """
    if weights is None:
        return fold_pair_counts(arrays.pair_counts())
    return count_matrices(arrays.a, arrays.b, arrays.outcome, arrays.n_models, weights=weights)


def count_matrices(
    a: Any, b: Any, outcome: Any, n_models: int, weights: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Win and tie count matrices (``wins[w, l]``, symmetric ``ties``) of integer-coded battles.

    Parameters
    ----------
    a, b, outcome
        integer-coded battles (``outcome``: 0 = ``a`` won, 1 = ``b`` won, 2 = tie).
    n_models
        number of models.
    weights
        one weight per battle: each battle counts with its weight.

    Returns
    -------
    tuple of numpy.ndarray
        ``(wins, ties)``, both ``n_models x n_models`` floats.

    See Also
    --------
    PairTable.matrices : the same from category counts, batched.

    Example
    -------
    >>> w, t = count_matrices([0, 1], [1, 0], [0, 0], 2)
    >>> w.tolist()
    [[0.0, 1.0], [1.0, 0.0]]
    >>> count_matrices([0, 1], [1, 0], [0, 0], 2, weights=np.array([2.0, 0.5]))[0].tolist()
    [[0.0, 2.0], [0.5, 0.0]]
    """
    a = np.asarray(a, dtype=np.int64)
    b = np.asarray(b, dtype=np.int64)
    o = np.asarray(outcome)
    n = n_models
    if weights is None:  # one pass: counts per (a, b, outcome), then fold b-wins and ties (exact integers)
        return fold_pair_counts(pair_outcome_counts(a, b, o, n))
    winner = np.where(o == B_WINS, b, a)
    loser = np.where(o == B_WINS, a, b)
    dec = o != TIE
    wd = wt = None
    if weights is not None:
        w = np.asarray(weights, dtype=float)
        wd, wt = w[dec], w[~dec]
    wins = np.bincount(winner[dec] * n + loser[dec], weights=wd, minlength=n * n).reshape(n, n).astype(float)
    tie = np.bincount(a[~dec] * n + b[~dec], weights=wt, minlength=n * n).reshape(n, n).astype(float)
    return wins, tie + tie.T


def first_winner_order(a: Any, b: Any, outcome: Any, n_models: int) -> np.ndarray:
    """Rank of each model by first appearance as a winner in PRISM's comparison list.

    PRISM lists (winner, loser) comparisons as: ties (a, b), ties (b, a), a-wins, b-wins; pandas
    ``value_counts`` then orders equal win counts by first appearance. Never-winners get ``n``
    plus their index (alphabetical when models are sorted). Used by PRC's ``as_coded`` variant.

    Parameters
    ----------
    a, b, outcome
        integer-coded battles.
    n_models
        number of models.

    Returns
    -------
    numpy.ndarray
        one integer per model (lower = earlier).

    Example
    -------
    >>> first_winner_order([0, 1], [1, 2], [1, 0], 3).tolist()   # only model 1 ever wins
    [3, 0, 5]
    """
    a = np.asarray(a)
    b = np.asarray(b)
    o = np.asarray(outcome)
    seq = np.concatenate([a[o == TIE], b[o == TIE], a[o == A_WINS], b[o == B_WINS]])
    first = np.full(n_models, np.iinfo(np.int64).max, dtype=np.int64)
    np.minimum.at(first, seq, np.arange(len(seq)))
    rank = np.empty(n_models, dtype=np.int64)
    order = np.lexsort((np.arange(n_models), first))
    rank[order] = np.arange(n_models)
    never = first == np.iinfo(np.int64).max
    rank[never] = n_models + np.flatnonzero(never)
    return rank


def mean_by_model(model: Any, values: Any, n_models: int, weights: np.ndarray | None = None) -> np.ndarray:
    """Mean of ``values`` per model (NaN values skipped; NaN for models without data).

    Parameters
    ----------
    model
        model code of every value.
    values
        the rated responses' values (scores, normalised scores, within-turn ranks, ...).
    n_models
        number of models.
    weights
        shape ``(len(values),)`` gives weighted means; shape ``(R, len(values))``, ``R``
        weighted means at once (one per row).

    Returns
    -------
    numpy.ndarray
        ``(n_models,)`` or ``(R, n_models)`` means.

    Example
    -------
    >>> mean_by_model([0, 0, 1], [10.0, 20.0, 5.0], 2).tolist()
    [15.0, 5.0]
    >>> mean_by_model([0, 0, 1], [10.0, 20.0, 5.0], 2, weights=np.array([3.0, 1.0, 2.0])).tolist()
    [12.5, 5.0]
    """
    model = np.asarray(model, dtype=np.int64)
    v = np.asarray(values, dtype=float)
    ok = ~np.isnan(v)
    model, v = model[ok], v[ok]
    if weights is None:
        s = np.bincount(model, weights=v, minlength=n_models)
        c = np.bincount(model, minlength=n_models).astype(float)
    elif np.ndim(weights) == 1:
        w = np.asarray(weights, dtype=float)[ok]
        s = np.bincount(model, weights=w * v, minlength=n_models)
        c = np.bincount(model, weights=w, minlength=n_models)
    else:
        w = np.asarray(weights, dtype=float)[..., ok]
        onehot = np.zeros((len(model), n_models))
        onehot[np.arange(len(model)), model] = 1.0
        s = (w * v) @ onehot
        c = w @ onehot
    with np.errstate(invalid="ignore", divide="ignore"):
        return s / c


def normalise_battle_weights(weights: Any, what: str = "battles") -> np.ndarray:
    """Rescale row weights to sum to the number of rows (mean 1).

    Priors and penalties (PRC ``alpha``, BT ``C``) then keep their unweighted strength. Unit
    weights stay exactly 1.

    Parameters
    ----------
    weights
        one non-negative weight per row.
    what
        what the rows are, for the error message.

    Returns
    -------
    numpy.ndarray
        the rescaled weights.

    Example
    -------
    >>> normalise_battle_weights([2.0, 0.0, 1.0]).tolist()
    [2.0, 0.0, 1.0]
    >>> normalise_battle_weights([4.0, 4.0]).tolist()
    [1.0, 1.0]
    """
    w = np.asarray(weights, dtype=float)
    if np.any(w < 0) or not np.all(np.isfinite(w)):
        raise ConfigError("weights must be finite and non-negative")
    total = w.sum()
    if not total > 0:
        raise ConfigError(f"all {what} have weight 0")
    return w * len(w) / total


def participant_weight_vector(
    arrays: BattleArrays, weights: pd.Series | None, missing: str = "raise"
) -> np.ndarray | None:
    """Participant weights (Series by participant id) as one weight per cluster of ``arrays``.

    Parameters
    ----------
    arrays
        encoded battles with participant clusters.
    weights
        weights indexed by participant id (None: unweighted).
    missing
        ``"raise"`` on participants without a weight, or ``"zero"``.

    Returns
    -------
    numpy.ndarray or None
        one weight per cluster of ``arrays`` (None when ``weights`` is None).

    Example
    -------
    >>> arr = BattleArrays.from_lists(["x", "y"], [0, 1], [1, 0], [0, 0], cluster=[0, 1], clusters=["u1", "u2"])
    >>> participant_weight_vector(arr, pd.Series({"u2": 3.0, "u1": 0.5})).tolist()
    [0.5, 3.0]
    """
    if weights is None:
        return None
    if arrays.clusters is None:
        raise ConfigError("participant weights need a participant (user_id) column in the battles")
    return row_weights(pd.DataFrame({"participant": list(arrays.clusters)}), weights, "participant", missing)


def anchor_index(models: Sequence[str], anchor: Any) -> tuple[int, float] | None:
    """Turn an anchor given by model name into ``(model index, value)``.

    Parameters
    ----------
    models
        the scored models, in code order.
    anchor
        ``{"model": value}``, ``("model", value)`` or None.

    Returns
    -------
    tuple or None
        ``(index, value)``, or None without an anchor.

    Example
    -------
    >>> anchor_index(["x", "y"], {"y": 800})
    (1, 800.0)
    """
    if anchor is None:
        return None
    if isinstance(anchor, Mapping):
        if len(anchor) != 1:
            raise ConfigError("anchor must name exactly one model, e.g. {'flan-t5-xxl': 800}")
        ((name, value),) = anchor.items()
    else:
        name, value = anchor
    if name not in models:
        raise ConfigError(f"anchor model {name!r} has no battles")
    return list(models).index(name), float(value)
