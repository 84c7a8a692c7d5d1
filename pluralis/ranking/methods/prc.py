"""Pairwise Rank Centrality (``prc``; aliases ``rank_centrality``, ``pairwise_rank_centrality``).

PRISM App. T.1 / spec §6.2. With ``W[w, l]`` the number of comparisons *w* won against *l* (a tie
counts one win each way) plus ``alpha`` prior wins for every ordered pair,
``P[w, l] = W[w, l] / (W[w, l] + W[l, w])`` is the share of the pair's battles won by *w*. The
walk moves from loser *l* to winner *w* with probability ``P[w, l] / d_max`` (``d_max = n - 1``),
self-loops take the residual, and the score is the stationary distribution (sums to 1; ``1/n``
is "uniform"), solved exactly from ``(I - A + 1 1^T) pi = 1``. ``variant="as_coded"`` reproduces
the public code instead (spec §6.3: win-count item order, the triu/tril normalisation mismatch,
``+1e-6``, ``A^iterations @ uniform``).

Options: ``alpha`` (prior wins per ordered pair, default 1), ``variant`` (``"paper"`` |
``"as_coded"``), ``iterations`` (as_coded's matrix power).

What ``alpha`` does: it adds ``alpha`` wins to both sides of every pair, so every pair's share
moves towards 1/2 and every score towards ``1/n``, by an amount that fades as the pair's battles
grow (``alpha / (battles + 2 alpha)``). It keeps the walk irreducible when some pairs never met
(a sparse study, a small group) — and biases the extremes: at 300 PRISM-like participants
(about 50 battles per pair) the bottom model's score sits more than one standard error above its
population value. Bootstrap intervals therefore come from the resamples refitted with
``alpha = 0`` (``bootstrap(..., target="population")``, the default), and group contrasts compare
prior-free scores (a small group would otherwise be shrunk more than a large one).

Example
-------
>>> from pluralis.ranking.engine import rank_models
>>> import pandas as pd
>>> b = pd.DataFrame({"model_a": ["x", "x"], "model_b": ["y", "y"], "winner": ["model_a", "tie"]})
>>> rank_models(b, "prc", alpha=0)["score"].round(4).tolist()
[0.6667, 0.3333]
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np

from pluralis.errors import ConfigError
from pluralis.ranking.encode import count_matrices, first_winner_order
from pluralis.ranking.registry import Aggregator, Option, PairContext, register_aggregator

Variant = Literal["paper", "as_coded"]


def stationary_distribution(A: np.ndarray, *, tol: float = 1e-9) -> np.ndarray:
    """Stationary distribution of column-stochastic matrices ``A`` (shape ``(..., n, n)``).

    Solves ``(I - A + 1 1^T) pi = 1`` exactly (batched LU). If a chain has no unique stationary
    distribution (reducible, e.g. ``alpha = 0`` with disconnected models), that chain falls back to
    the limit of ``A^k @ uniform`` by repeated squaring — what PRISM's code computes.

    Parameters
    ----------
    A
        column-stochastic matrices, any leading batch shape.
    tol
        residual above which a solve counts as failed (then the power limit is used).

    Returns
    -------
    numpy.ndarray
        ``(..., n)`` distributions (non-negative, summing to 1).

    Example
    -------
    >>> A = np.array([[0.5, 0.25], [0.5, 0.75]])
    >>> stationary_distribution(A).round(6).tolist()
    [0.333333, 0.666667]
    """
    A = np.asarray(A, dtype=float)
    n = A.shape[-1]
    M = np.eye(n) - A + 1.0
    rhs = np.ones(A.shape[:-1] + (1,))
    try:
        pi = np.linalg.solve(M, rhs)[..., 0]
        ok = np.ones(A.shape[:-2], dtype=bool)
    except np.linalg.LinAlgError:
        flat = M.reshape(-1, n, n)
        out = np.full((flat.shape[0], n), np.nan)
        okf = np.zeros(flat.shape[0], dtype=bool)
        for k in range(flat.shape[0]):  # only on the rare singular batch
            try:
                out[k] = np.linalg.solve(flat[k], np.ones(n))
                okf[k] = True
            except np.linalg.LinAlgError:
                pass
        pi = out.reshape(A.shape[:-1])
        ok = okf.reshape(A.shape[:-2])
    with np.errstate(invalid="ignore"):
        resid = np.abs(np.einsum("...ij,...j->...i", A, pi) - pi).max(axis=-1)
        ok = ok & (resid < tol) & (pi.min(axis=-1) > -tol) & np.isfinite(pi).all(axis=-1)
    if not np.all(ok):
        bad = ~ok
        pi = np.array(pi, copy=True)
        pi[bad] = _power_limit(A[bad])
    pi = np.clip(pi, 0.0, None)
    return pi / pi.sum(axis=-1, keepdims=True)


def _power_limit(A: np.ndarray, max_squarings: int = 64) -> np.ndarray:
    P = A.copy()
    n = A.shape[-1]
    for _ in range(max_squarings):
        P2 = P @ P
        # Renormalise the columns: each squaring doubles the power, so an unchecked rounding error of
        # 1e-16 in a column sum grows to overflow within ~60 squarings on a slowly mixing chain.
        sums = P2.sum(axis=-2, keepdims=True)
        P2 = np.divide(P2, sums, out=P2, where=sums > 0)
        if np.max(np.abs(P2 - P)) < 1e-13:
            P = P2
            break
        P = P2
    return P @ np.full(n, 1.0 / n)


def prc_from_counts(
    wins: np.ndarray,
    ties: np.ndarray,
    *,
    alpha: float | np.ndarray = 1.0,
    variant: Variant = "paper",
    iterations: int = 1000,
    item_order: np.ndarray | None = None,
) -> np.ndarray:
    """Batched Pairwise Rank Centrality from win/tie matrices of shape ``(..., n, n)``.

    Parameters
    ----------
    wins, ties
        ``wins[..., w, l]`` battles *w* won against *l*; symmetric tie counts.
    alpha
        prior wins per ordered pair; an array broadcasting against the batch shape solves
        several priors at once.
    variant
        ``"paper"`` (the definition) or ``"as_coded"`` (PRISM's public code).
    iterations
        as_coded: power of the transition matrix.
    item_order
        as_coded: breaks win-count ties in the item ordering (lower first); default model index.

    Returns
    -------
    numpy.ndarray
        ``(..., n)`` scores summing to 1.

    See Also
    --------
    pairwise_rank_centrality : the same from integer-coded battles.

    Example
    -------
    >>> wins = np.array([[0, 3], [1, 0]]); ties = np.zeros((2, 2))
    >>> prc_from_counts(wins, ties, alpha=0).round(4).tolist()   # P = [[., .75], [.25, .]]
    [0.75, 0.25]
    """
    wins = np.asarray(wins, dtype=float)
    ties = np.asarray(ties, dtype=float)
    n = wins.shape[-1]
    if n < 2:
        return np.ones(wins.shape[:-1])
    alpha = np.asarray(alpha, dtype=float)
    if np.any(alpha < 0):
        raise ConfigError("alpha (regularisation) must be >= 0")
    a = alpha[..., None, None] if alpha.ndim else alpha
    off = 1.0 - np.eye(n)
    C = (wins + ties) * off
    W = C + a * off
    if variant == "paper":
        denom = W + np.swapaxes(W, -1, -2)
        P = np.divide(W, denom, out=np.zeros_like(W), where=denom > 0)
        A = P / (n - 1)
        A[..., np.arange(n), np.arange(n)] = 1.0 - A.sum(axis=-2)
        return stationary_distribution(A)
    if variant == "as_coded":
        return _prc_as_coded(W, np.broadcast_to(C, W.shape), iterations, item_order)
    raise ConfigError(f"variant must be 'paper' or 'as_coded', got {variant!r}")


def _prc_as_coded(W: np.ndarray, C: np.ndarray, iterations: int, item_order: np.ndarray | None) -> np.ndarray:
    """PRISM's ``compute_rank_centrality`` on alpha-augmented counts ``W`` (raw comparisons ``C``).

    Items are ordered by descending win count (equal counts by ``item_order``), never-winners
    last by index; then the upper and lower triangles are normalised pairwise *in row-major
    order* (the triu/tril mismatch), divided by ``n - 1``, diagonals take the residual and the
    score is ``A^iterations @ uniform``.
    """
    n = W.shape[-1]
    lead = W.shape[:-2]
    Wf = W.reshape((-1, n, n))
    Cf = C.reshape((-1, n, n))
    B = Wf.shape[0]
    off = 1.0 - np.eye(n)
    raw_wins = Cf.sum(axis=-1)
    idx = np.broadcast_to(np.arange(n), (B, n))
    tie_break = idx if item_order is None else np.broadcast_to(np.asarray(item_order), (B, n))
    winner = raw_wins > 0
    keys = (np.where(winner, tie_break, idx), np.where(winner, -raw_wins, 0.0), (~winner).astype(np.int64))
    order = np.lexsort(keys, axis=-1)
    rows = np.arange(B)[:, None, None]
    A = Wf[rows, order[:, :, None], order[:, None, :]].copy()
    iu = np.triu_indices(n, 1)
    il = np.tril_indices(n, -1)
    s = A[:, iu[0], iu[1]] + A[:, il[0], il[1]] + 1e-6
    A[:, iu[0], iu[1]] /= s
    A[:, il[0], il[1]] /= s
    A /= n - 1
    A[:, np.arange(n), np.arange(n)] = 1.0 - (A * off).sum(axis=1)
    scores_perm = np.linalg.matrix_power(A, int(iterations)) @ np.full(n, 1.0 / n)
    out = np.empty((B, n))
    np.put_along_axis(out, order, scores_perm, axis=1)
    return out.reshape(lead + (n,))


def pairwise_rank_centrality(
    a: Any,
    b: Any,
    outcome: Any,
    n_models: int,
    *,
    alpha: float = 1.0,
    variant: Variant = "paper",
    iterations: int = 1000,
) -> np.ndarray:
    """Pairwise Rank Centrality scores (sum to 1) of integer-coded battles.

    Parameters
    ----------
    a, b, outcome
        integer-coded battles; ``outcome``: 0 = ``a`` won, 1 = ``b`` won, 2 = tie (counted as a
        win both ways).
    n_models
        number of models.
    alpha, variant, iterations
        see :func:`prc_from_counts`; ``variant="as_coded"`` reproduces PRISM's public code
        (spec §6.3), including its item ordering by win count.

    Returns
    -------
    numpy.ndarray
        one score per model.

    Example
    -------
    >>> # x beats y twice, y beats z twice, x and z tie once
    >>> s = pairwise_rank_centrality([0, 0, 1, 1, 0], [1, 1, 2, 2, 2], [0, 0, 0, 0, 2], 3)
    >>> s.argmax(), round(float(s.sum()), 12)
    (np.int64(0), 1.0)
    """
    wins, ties = count_matrices(a, b, outcome, n_models)
    order = None
    if variant == "as_coded":
        order = first_winner_order(a, b, outcome, n_models)
    return prc_from_counts(wins, ties, alpha=alpha, variant=variant, iterations=iterations, item_order=order)


def _prepare(options: dict, context: PairContext) -> dict:
    """as_coded orders equal win counts by first appearance as a winner in the whole tournament."""
    if options.get("variant") == "as_coded":
        options["item_order"] = context.item_order()
    return options


def _alpha(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"must be a number, got {text!r}") from None
    if value < 0:
        raise ValueError(f"must be >= 0, got {text!r}")
    return value


AGGREGATOR = register_aggregator(
    Aggregator(
        name="prc",
        label="Pairwise Rank Centrality",
        kind="pairs",
        from_counts=prc_from_counts,
        aliases=("rank_centrality", "pairwise_rank_centrality"),
        options=(
            Option("alpha", 1.0, "PRC regularisation: prior wins per ordered pair", parse=_alpha),
            Option("variant", "paper", "'paper' (the definition) or 'as_coded' (PRISM's code)", ("paper", "as_coded")),
            Option("iterations", 1000, "as_coded: power of the transition matrix"),
            Option("item_order", None, "as_coded: tie-break of the item order (computed)", public=False),
        ),
        prepare=_prepare,
        axis_label="PRC score (stationary probability; 1/n = uniform)",
        reference=lambda n: 1.0 / n,
        digits=4,
        order=10,
        unregularised=(("alpha", 0.0),),
        description="random walk from losers to winners; its stationary distribution (PRISM App. T.1)",
    )
)
