"""Online Elo (``elo``; aliases ``elo_online``, ``online_elo``): K = 4, battles processed in order.

FastChat's ``compute_elo``. Inherently sequential, hence order-sensitive (PRISM App. T.3) —
deliberately so: :func:`~pluralis.ranking.sensitivity.compare_aggregators` runs it on shuffles to
show the order dependence. Order-based, it has no weighted form and no joint subgroup bootstrap;
its bootstrap resamples battle sequences, all rounds at once (:func:`elo_steps`).

Options: ``k``, ``scale``, ``base``, ``init``.

Example
-------
>>> from pluralis.ranking.engine import rank_models
>>> import pandas as pd
>>> b = pd.DataFrame({"model_a": ["x", "x"], "model_b": ["y", "y"], "winner": ["model_a", "tie"]})
>>> rank_models(b, "elo")["score"].round(3).tolist()
[1001.977, 998.023]
"""

from __future__ import annotations

from typing import Any

import numpy as np

from pluralis.ranking.registry import Aggregator, Option, register_aggregator


def elo_online(
    a: Any,
    b: Any,
    outcome: Any,
    n_models: int,
    *,
    k: float = 4.0,
    scale: float = 400.0,
    base: float = 10.0,
    init: float = 1000.0,
) -> np.ndarray:
    """Online Elo (FastChat ``compute_elo``): battles processed in the given order.

    Parameters
    ----------
    a, b, outcome
        integer-coded battles, in processing order (``outcome``: 0 = ``a`` won, 1 = ``b`` won,
        2 = tie).
    n_models
        number of models.
    k, scale, base, init
        update size and Elo scale.

    Returns
    -------
    numpy.ndarray
        one rating per model.

    See Also
    --------
    elo_online_batch : many orders or resamples at once.

    Example
    -------
    >>> elo_online([0, 0], [1, 1], [0, 2], 2).round(3).tolist()
    [1001.977, 998.023]
    """
    a = np.asarray(a, dtype=np.int64).tolist()
    b = np.asarray(b, dtype=np.int64).tolist()
    o = np.asarray(outcome).tolist()
    sa_of = (1.0, 0.0, 0.5)
    r = [float(init)] * n_models
    for ia, ib, oc in zip(a, b, o):  # sequential by definition
        ra, rb = r[ia], r[ib]
        ea = 1.0 / (1.0 + base ** ((rb - ra) / scale))
        eb = 1.0 / (1.0 + base ** ((ra - rb) / scale))
        sa = sa_of[oc]
        r[ia] = ra + k * (sa - ea)
        r[ib] = rb + k * (1.0 - sa - eb)
    return np.asarray(r)


def elo_online_batch(
    a: Any,
    b: Any,
    outcome: Any,
    n_models: int,
    index: np.ndarray,
    *,
    k: float = 4.0,
    scale: float = 400.0,
    base: float = 10.0,
    init: float = 1000.0,
) -> np.ndarray:
    """Online Elo for many battle sequences at once: row ``r`` processes battles ``index[r]``.

    Parameters
    ----------
    a, b, outcome, n_models
        integer-coded battles, as :func:`elo_online`.
    index
        shape ``(R, L)``: a permutation per row for shuffles, or bootstrap draws.
    k, scale, base, init
        as :func:`elo_online`.

    Returns
    -------
    numpy.ndarray
        ``(R, n_models)`` ratings. The loop runs over positions; each step updates all ``R``
        sequences together.

    Example
    -------
    >>> idx = np.array([[0, 1], [1, 0]])
    >>> elo_online_batch([0, 0], [1, 1], [0, 1], 2, idx).round(3).tolist()
    [[999.977, 1000.023], [1000.023, 999.977]]
    """
    index = np.atleast_2d(np.asarray(index))
    return elo_steps(
        np.asarray(a, dtype=np.int64),
        np.asarray(b, dtype=np.int64),
        np.asarray(outcome, dtype=np.int64),
        n_models,
        np.ascontiguousarray(index.T),
        None,
        k=k,
        scale=scale,
        base=base,
        init=init,
    )


def elo_steps(
    a: np.ndarray,
    b: np.ndarray,
    outcome: np.ndarray,
    n_models: int,
    steps: np.ndarray,
    valid: np.ndarray | None,
    *,
    k: float = 4.0,
    scale: float = 400.0,
    base: float = 10.0,
    init: float = 1000.0,
) -> np.ndarray:
    """Online Elo over ``steps`` (shape ``(L, R)``: battle index of round r at step t).

    Parameters
    ----------
    a, b, outcome, n_models
        integer-coded battles.
    steps
        ``(L, R)`` battle indices: column ``r`` is one sequence.
    valid
        same shape, optional: ``False`` marks padding steps that must not update anything.
    k, scale, base, init
        as :func:`elo_online`.

    Returns
    -------
    numpy.ndarray
        ``(R, n_models)`` ratings.

    Example
    -------
    >>> steps = np.array([[0, 1], [1, 1]])   # sequence 0: battles 0, 1; sequence 1: battle 1 (padded)
    >>> valid = np.array([[True, True], [True, False]])
    >>> elo_steps(np.array([0, 0]), np.array([1, 1]), np.array([0, 1]), 2, steps, valid).round(3).tolist()
    [[999.977, 1000.023], [998.0, 1002.0]]
    """
    sa_all = np.array([1.0, 0.0, 0.5])[outcome]
    L, R = steps.shape
    r = np.full((R, n_models), float(init))
    rows = np.arange(R)
    ln_base = np.log(base) / scale
    for t in range(L):  # sequential by definition; vectorised across the R sequences
        ii = steps[t]
        ia, ib, sa = a[ii], b[ii], sa_all[ii]
        ra, rb = r[rows, ia], r[rows, ib]
        ea = 1.0 / (1.0 + np.exp((rb - ra) * ln_base))
        upd = k * (sa - ea)
        if valid is not None:
            upd = np.where(valid[t], upd, 0.0)
        r[rows, ia] = ra + upd
        r[rows, ib] = rb - upd  # K * (1 - sa - eb) with eb = 1 - ea
    return r


AGGREGATOR = register_aggregator(
    Aggregator(
        name="elo",
        label="Elo (online, K=4)",
        kind="sequence",
        from_sequence=elo_online,
        from_sequences=elo_steps,
        aliases=("elo_online", "online_elo"),
        supports_weights=False,
        options=(
            Option("k", 4.0, "update size K"),
            Option("scale", 400.0, "Elo scale"),
            Option("base", 10.0, "Elo base"),
            Option("init", 1000.0, "starting rating"),
        ),
        axis_label="Elo rating (online, in battle order)",
        digits=1,
        order=30,
        description="online Elo updates in battle order (FastChat compute_elo); order-dependent",
    )
)
