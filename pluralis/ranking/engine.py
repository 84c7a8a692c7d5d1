"""Preference aggregators: from battles (or ratings) to one score per model.

Plain functions over integer arrays (``choix`` style), each with a batched core that takes win/tie
count matrices with any leading batch shape (used by the bootstrap), plus a tidy DataFrame API
(:func:`rank_models`).

Aggregators (``method=`` names; aliases in parentheses)
-------------------------------------------------------
``prc`` (``rank_centrality``)
    Pairwise Rank Centrality, PRISM App. T.1 / spec §6.2. With ``W[w, l]`` the number of
    comparisons *w* won against *l* (a tie counts one win each way) plus ``alpha`` prior wins for
    every ordered pair, ``P[w, l] = W[w, l] / (W[w, l] + W[l, w])`` is the share of the pair's
    battles won by *w*. The walk moves from loser *l* to winner *w* with probability
    ``P[w, l] / d_max`` (``d_max = n - 1``), self-loops take the residual, and the score is the
    stationary distribution (sums to 1; ``1/n`` is "uniform"), solved exactly from
    ``(I - A + 1 1^T) pi = 1``. ``variant="as_coded"`` reproduces the public code instead
    (spec §6.3: win-count item order, the triu/tril normalisation mismatch, ``+1e-6``,
    ``A^iterations @ uniform``).
``bt`` (``elo_mle``, ``bradley_terry``)
    Bradley–Terry maximum likelihood on the Elo scale (400 / base 10 / init 1000) as in Chatbot
    Arena (FastChat ``compute_mle_elo``): battles duplicated, a tie = one win each way, L2 penalty
    ``C = 1`` by default (``penalty=None`` for the plain MLE). Fitted by damped Newton on the
    aggregated pair counts, not on per-battle rows.
``elo`` (``elo_online``)
    Online Elo, K = 4, processing battles in order — deliberately order-sensitive.
``win_rate`` (``average_win_rate``)
    Mean over opponents of the pairwise win fraction (ties in the denominator, ``ties="exclude"``
    drops them).
``mean_score``, ``mean_normalized_score``, ``mean_within_turn_rank``
    Means over the rated responses behind the battles (raw score, per-participant z-score,
    within-turn rank — lower is better for the last).
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd

from pluralis.errors import ConfigError, DataValidationError
from pluralis.ranking.battles import A_WINS, B_WINS, TIE, BattleArrays, encode_battles, ratings_from_battles

# --- method registry ----------------------------------------------------------------------------


@dataclass(frozen=True)
class MethodInfo:
    """What an aggregator is called, what it consumes and which direction is better.

    Example
    -------
    >>> METHODS["mean_within_turn_rank"].higher_is_better, METHODS["prc"].kind
    (False, 'pairs')
    """

    name: str
    label: str
    kind: Literal["pairs", "sequence", "ratings"]
    higher_is_better: bool = True
    rating_column: str | None = None


METHODS: dict[str, MethodInfo] = {
    "prc": MethodInfo("prc", "Pairwise Rank Centrality", "pairs"),
    "bt": MethodInfo("bt", "Elo (MLE / Bradley-Terry)", "pairs"),
    "elo": MethodInfo("elo", "Elo (online, K=4)", "sequence"),
    "win_rate": MethodInfo("win_rate", "Average win rate", "pairs"),
    "mean_score": MethodInfo("mean_score", "Mean score", "ratings", True, "score"),
    "mean_normalized_score": MethodInfo(
        "mean_normalized_score", "Mean normalised score", "ratings", True, "normalized_score"
    ),
    "mean_within_turn_rank": MethodInfo(
        "mean_within_turn_rank", "Mean within-turn rank", "ratings", False, "within_turn_rank"
    ),
}
ALIASES: dict[str, str] = {
    "rank_centrality": "prc",
    "pairwise_rank_centrality": "prc",
    "elo_mle": "bt",
    "mle": "bt",
    "bradley_terry": "bt",
    "elo_online": "elo",
    "online_elo": "elo",
    "average_win_rate": "win_rate",
    "winrate": "win_rate",
    "mean_normalised_score": "mean_normalized_score",
    "normalized_score": "mean_normalized_score",
    "within_turn_rank": "mean_within_turn_rank",
}


def resolve_method(method: str) -> MethodInfo:
    """Look up an aggregator by name or alias (case-insensitive).

    Example
    -------
    >>> resolve_method("Elo_MLE").name
    'bt'
    """
    key = str(method).strip().lower().replace("-", "_")
    key = ALIASES.get(key, key)
    if key not in METHODS:
        names = ", ".join(sorted(METHODS))
        raise ConfigError(f"unknown ranking method {method!r}; choose one of: {names}")
    return METHODS[key]


# --- compressed pair counts ---------------------------------------------------------------------


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
        return len(self.i)

    @classmethod
    def from_battles(
        cls, a: np.ndarray, b: np.ndarray, outcome: np.ndarray, n_models: int, weights: np.ndarray | None = None
    ) -> tuple[PairTable, np.ndarray]:
        """Compress battles; returns the table and each battle's category index.

        Example
        -------
        >>> t, cat = PairTable.from_battles(np.array([0, 0]), np.array([1, 1]), np.array([0, 0]), 2)
        >>> t.counts.tolist(), cat.tolist()
        ([2], [0, 0])
        """
        a = np.asarray(a, dtype=np.int64)
        b = np.asarray(b, dtype=np.int64)
        o = np.asarray(outcome, dtype=np.int64)
        swap = a > b
        i = np.where(swap, b, a)
        j = np.where(swap, a, b)
        kind = np.where(swap & (o != TIE), 1 - o, o)
        code = (i * n_models + j) * 3 + kind
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


def count_matrices(a, b, outcome, n_models: int, weights: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Win and tie count matrices (``wins[w, l]``, symmetric ``ties``) of integer-coded battles.

    ``weights`` (one per battle) gives weighted counts: each battle counts with its weight.

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


# --- stationary distribution --------------------------------------------------------------------


def stationary_distribution(A: np.ndarray, *, tol: float = 1e-9) -> np.ndarray:
    """Stationary distribution of column-stochastic matrices ``A`` (shape ``(..., n, n)``).

    Solves ``(I - A + 1 1^T) pi = 1`` exactly (batched LU). If a chain has no unique stationary
    distribution (reducible, e.g. ``alpha = 0`` with disconnected models), that chain falls back to
    the limit of ``A^k @ uniform`` by repeated squaring — what PRISM's code computes.

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
        if np.max(np.abs(P2 - P)) < 1e-13:
            P = P2
            break
        P = P2
    return P @ np.full(n, 1.0 / n)


# --- Pairwise Rank Centrality -------------------------------------------------------------------


def prc_from_counts(
    wins: np.ndarray,
    ties: np.ndarray,
    *,
    alpha: float | np.ndarray = 1.0,
    variant: Literal["paper", "as_coded"] = "paper",
    iterations: int = 1000,
    item_order: np.ndarray | None = None,
) -> np.ndarray:
    """Batched Pairwise Rank Centrality from win/tie matrices of shape ``(..., n, n)``.

    ``alpha`` may be an array broadcasting against the batch shape (e.g. several priors at once).
    ``item_order`` (as_coded only) breaks win-count ties in the item ordering (lower first);
    default: model index.

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
    a,
    b,
    outcome,
    n_models: int,
    *,
    alpha: float = 1.0,
    variant: Literal["paper", "as_coded"] = "paper",
    iterations: int = 1000,
) -> np.ndarray:
    """Pairwise Rank Centrality scores (sum to 1) of integer-coded battles.

    ``outcome``: 0 = ``a`` won, 1 = ``b`` won, 2 = tie (counted as a win both ways). See the
    module docstring for the definition; ``variant="as_coded"`` reproduces PRISM's public code
    (spec §6.3), including its item ordering by win count.

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


def first_winner_order(a, b, outcome, n_models: int) -> np.ndarray:
    """Rank of each model by first appearance as a winner in PRISM's comparison list.

    PRISM lists (winner, loser) comparisons as: ties (a, b), ties (b, a), a-wins, b-wins; pandas
    ``value_counts`` then orders equal win counts by first appearance. Never-winners get ``n``
    plus their index (alphabetical when models are sorted).

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


# --- Bradley-Terry / Elo MLE --------------------------------------------------------------------


def _log_sigmoid(x: np.ndarray) -> np.ndarray:
    return -np.logaddexp(0.0, -x)


def bt_from_counts(
    wins: np.ndarray,
    ties: np.ndarray,
    *,
    penalty: Literal["l2"] | None = "l2",
    C: float = 1.0,
    scale: float = 400.0,
    base: float = 10.0,
    init: float = 1000.0,
    anchor: tuple[int, float] | None = None,
    tol: float = 1e-10,
    max_iter: int = 100,
) -> np.ndarray:
    """Batched Bradley–Terry (Elo-MLE) ratings from win/tie matrices of shape ``(..., n, n)``.

    Likelihood as FastChat's ``compute_mle_elo``: every battle appears twice, decisive battles
    give the winner two wins, a tie gives one win each way; ``P(i beats j) = 1 / (1 +
    base^(-(r_i - r_j)/scale))``. ``penalty="l2"`` adds ``||beta||^2 / (2 C)`` exactly like
    scikit-learn's default ``LogisticRegression(C=1)`` (what PRISM/FastChat used in early 2024);
    ``penalty=None`` is the plain MLE (modern FastChat), centred at mean ``init``. ``anchor=(k,
    value)`` shifts the ratings so model ``k`` sits at ``value`` (PRISM: flan-t5-xxl = 800).

    Example
    -------
    >>> wins = np.array([[0, 3], [1, 0]]); ties = np.zeros((2, 2))
    >>> r = bt_from_counts(wins, ties, penalty=None)
    >>> round(float(r[0] - r[1]), 3)   # 400*log10(3): x wins 3 of 4
    190.849
    """
    wins = np.asarray(wins, dtype=float)
    ties = np.asarray(ties, dtype=float)
    n = wins.shape[-1]
    lead = wins.shape[:-2]
    Y = (2.0 * wins + ties).reshape((-1, n, n))
    N2 = Y + np.swapaxes(Y, -1, -2)
    if penalty in ("l2", "L2"):
        if not C > 0:
            raise ConfigError("C must be > 0")
        lam = 1.0 / C
    elif penalty is None or str(penalty).lower() == "none":
        lam = 0.0
    else:
        raise ConfigError(f"penalty must be 'l2' or None, got {penalty!r}")
    s = np.log(base)
    B = Y.shape[0]
    beta = np.zeros((B, n))
    eye = np.eye(n)
    extra = eye * lam if lam > 0 else (np.ones((n, n)) + 1e-9 * eye)

    def objective(bt: np.ndarray) -> np.ndarray:
        d = s * (bt[:, :, None] - bt[:, None, :])
        return -(Y * _log_sigmoid(d)).sum(axis=(1, 2)) + 0.5 * lam * (bt * bt).sum(axis=1)

    f = objective(beta)
    converged = False
    for _ in range(max_iter):
        d = s * (beta[:, :, None] - beta[:, None, :])
        p = 1.0 / (1.0 + np.exp(-d))
        grad = -s * (Y - N2 * p).sum(axis=2) + lam * beta
        w = (s * s) * N2 * p * (1.0 - p)
        H = -w
        H[:, np.arange(n), np.arange(n)] = w.sum(axis=2)
        H += extra
        step = np.linalg.solve(H, grad[..., None])[..., 0]
        t = np.ones((B, 1))
        cand = beta - step
        f_new = objective(cand)
        for _ls in range(40):
            bad = ~(f_new <= f + 1e-12 * np.abs(f))
            if not bad.any():
                break
            t[bad] *= 0.5
            cand = beta - t * step
            f_new = objective(cand)
        delta = np.abs(cand - beta).max()
        beta, f = cand, f_new
        if delta < tol:
            converged = True
            break
    if not converged:
        warnings.warn(
            "Bradley-Terry fit did not converge (a model may have won or lost every battle; use penalty='l2')",
            RuntimeWarning,
            stacklevel=2,
        )
    if lam == 0:
        beta -= beta.mean(axis=1, keepdims=True)
    ratings = scale * beta + init
    if anchor is not None:
        k, value = anchor
        ratings += value - ratings[:, [int(k)]]
    return ratings.reshape(lead + (n,))


def bradley_terry(
    a,
    b,
    outcome,
    n_models: int,
    *,
    penalty: Literal["l2"] | None = "l2",
    C: float = 1.0,
    scale: float = 400.0,
    base: float = 10.0,
    init: float = 1000.0,
    anchor: tuple[int, float] | None = None,
) -> np.ndarray:
    """Bradley–Terry / Elo-MLE ratings of integer-coded battles (see :func:`bt_from_counts`).

    Example
    -------
    >>> r = bradley_terry([0, 0, 0, 1], [1, 1, 1, 0], [0, 0, 0, 0], 2, penalty=None)
    >>> round(float(r[0] - r[1]), 3)
    190.849
    """
    wins, ties = count_matrices(a, b, outcome, n_models)
    return bt_from_counts(wins, ties, penalty=penalty, C=C, scale=scale, base=base, init=init, anchor=anchor)


# --- online Elo ---------------------------------------------------------------------------------


def elo_online(
    a,
    b,
    outcome,
    n_models: int,
    *,
    k: float = 4.0,
    scale: float = 400.0,
    base: float = 10.0,
    init: float = 1000.0,
) -> np.ndarray:
    """Online Elo (FastChat ``compute_elo``): battles processed in the given order.

    Inherently sequential, hence order-sensitive (PRISM App. T.3); use
    :func:`elo_online_batch` for many orders or resamples at once.

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
    a,
    b,
    outcome,
    n_models: int,
    index: np.ndarray,
    *,
    k: float = 4.0,
    scale: float = 400.0,
    base: float = 10.0,
    init: float = 1000.0,
) -> np.ndarray:
    """Online Elo for many battle sequences at once: row ``r`` processes battles ``index[r]``.

    ``index`` has shape ``(R, L)`` (a permutation per row for shuffles, or bootstrap draws).
    The loop runs over positions; each step updates all ``R`` sequences together.

    Example
    -------
    >>> idx = np.array([[0, 1], [1, 0]])
    >>> elo_online_batch([0, 0], [1, 1], [0, 1], 2, idx).round(3).tolist()
    [[999.977, 1000.023], [1000.023, 999.977]]
    """
    index = np.atleast_2d(np.asarray(index))
    return _elo_steps(
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


def _elo_steps(
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

    ``valid`` (same shape, optional) marks padding steps that must not update anything.
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


# --- average win rate ---------------------------------------------------------------------------


def win_rate_from_counts(
    wins: np.ndarray, ties: np.ndarray, *, ties_mode: Literal["count", "exclude"] = "count"
) -> np.ndarray:
    """Batched average pairwise win rate: row mean of ``wins / battles`` over met opponents.

    ``ties_mode="count"`` keeps ties in the denominator (PRISM's notebook 07); ``"exclude"``
    drops tied battles (FastChat's ``battles_no_ties``).

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


def average_win_rate(a, b, outcome, n_models: int, *, ties: Literal["count", "exclude"] = "count") -> np.ndarray:
    """Average pairwise win rate of integer-coded battles (see :func:`win_rate_from_counts`).

    Example
    -------
    >>> average_win_rate([0, 0, 0], [1, 1, 1], [0, 1, 2], 2).round(3).tolist()
    [0.333, 0.333]
    """
    w, t = count_matrices(a, b, outcome, n_models)
    return win_rate_from_counts(w, t, ties_mode=ties)


# --- ratings-based aggregators ------------------------------------------------------------------


def mean_by_model(model, values, n_models: int, weights: np.ndarray | None = None) -> np.ndarray:
    """Mean of ``values`` per model (NaN values skipped; NaN for models without data).

    ``weights`` of shape ``(len(values),)`` gives weighted means; of shape ``(R, len(values))``,
    ``R`` weighted means at once.

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


# --- scores -> ranks ----------------------------------------------------------------------------


def ranks_from_scores(scores: np.ndarray, *, higher_is_better: bool = True) -> np.ndarray:
    """Competition ranks (1 = best; equal scores share the best rank; NaN scores -> NaN).

    Works on any leading batch shape.

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


# --- one entry point for batched pair-based aggregation -----------------------------------------


def score_from_counts(method: str, wins: np.ndarray, ties: np.ndarray, /, **options: Any) -> np.ndarray:
    """Dispatch a pair-based aggregator (``prc``, ``bt``, ``win_rate``) on count matrices.

    Example
    -------
    >>> w = np.array([[0, 3], [1, 0]]); t = np.zeros((2, 2))
    >>> score_from_counts("win_rate", w, t).tolist()
    [0.75, 0.25]
    >>> score_from_counts("win_rate", w, np.ones((2, 2)), ties="exclude").tolist()   # ``ties`` is the option
    [0.75, 0.25]
    """
    info = resolve_method(method)
    if info.name == "prc":
        opts = {k: options[k] for k in ("alpha", "variant", "iterations", "item_order") if k in options}
        return prc_from_counts(wins, ties, **opts)
    if info.name == "bt":
        opts = {
            k: options[k]
            for k in ("penalty", "C", "scale", "base", "init", "anchor", "tol", "max_iter")
            if k in options
        }
        return bt_from_counts(wins, ties, **opts)
    if info.name == "win_rate":
        return win_rate_from_counts(wins, ties, ties_mode=options.get("ties", "count"))
    raise ConfigError(f"method {info.name!r} is not computed from pair counts")


# --- participant weights ------------------------------------------------------------------------


def row_weights(
    frame: pd.DataFrame, weights: pd.Series | None, key: str = "user_id", missing: str = "raise"
) -> np.ndarray:
    """Spread participant weights onto the rows of a table (utterances, battles, ...) by ``key``.

    The hook the ranking engine uses for weighted rankings: each battle/utterance counts with
    its rater's weight. ``missing="raise"`` errors on raters without a weight; ``"zero"`` gives
    them weight 0. ``weights=None`` gives ones.

    Example
    -------
    >>> battles = pd.DataFrame({"user_id": ["a", "b", "a"], "winner": ["m1", "m2", "m2"]})
    >>> row_weights(battles, pd.Series({"a": 2.0, "b": 0.5})).tolist()
    [2.0, 0.5, 2.0]
    """
    if weights is None:
        return np.ones(len(frame))
    if key not in frame.columns:
        raise ConfigError(f"cannot apply participant weights: table has no {key!r} column")
    w = pd.Series(weights, dtype=float)
    w.index = w.index.astype(str)
    out = np.array(frame[key].astype(str).map(w).to_numpy(dtype=float))
    nan = np.isnan(out)
    if nan.any():
        if missing == "raise":
            ex = pd.unique(frame[key].astype(str).to_numpy()[nan])[:3]
            raise ConfigError(f"{int(nan.sum())} row(s) have raters without a weight, e.g. {list(ex)}")
        if missing != "zero":
            raise ConfigError(f"missing must be 'raise' or 'zero', got {missing!r}")
        out[nan] = 0.0
    if np.any(out < 0) or not np.all(np.isfinite(out)):
        raise ConfigError("weights must be finite and non-negative")
    return out


def normalise_battle_weights(weights, what: str = "battles") -> np.ndarray:
    """Rescale row weights to sum to the number of rows (mean 1), so that priors and penalties
    (PRC ``alpha``, BT ``C``) keep their unweighted strength. Unit weights stay exactly 1.

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


def no_weighted_form(info: MethodInfo) -> ConfigError:
    """The error raised when weights are given to an order-based aggregator (online Elo).

    Example
    -------
    >>> str(no_weighted_form(METHODS["elo"]))[:45]
    "method 'elo' processes battles in order and h"
    """
    return ConfigError(
        f"method {info.name!r} processes battles in order and has no weighted form; use prc, bt or win_rate"
    )


# --- DataFrame API ------------------------------------------------------------------------------


def _anchor_index(models: Sequence[str], anchor: Any) -> tuple[int, float] | None:
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


def scores_for_arrays(
    arrays: BattleArrays,
    method: str = "prc",
    *,
    ratings: pd.DataFrame | None = None,
    seed: int | None = None,
    weights: np.ndarray | None = None,
    rating_weights: np.ndarray | None = None,
    **options: Any,
) -> np.ndarray:
    """Scores of one aggregator on integer-coded battles (``ratings`` needed for score means).

    ``weights`` (one per battle; pair methods) are rescaled with
    :func:`normalise_battle_weights` and give weighted win/tie counts; ``rating_weights`` (one
    per row of ``ratings``; score means) give weighted means. Online Elo has no weighted form.

    Example
    -------
    >>> arr = BattleArrays.from_lists(["x", "y"], [0, 0, 1], [1, 1, 0], [0, 0, 0])
    >>> scores_for_arrays(arr, "win_rate").round(3).tolist()
    [0.667, 0.333]
    >>> scores_for_arrays(arr, "win_rate", weights=np.array([1.0, 1.0, 4.0])).round(3).tolist()
    [0.333, 0.667]
    """
    info = resolve_method(method)
    n = arrays.n_models
    if info.kind == "sequence" and (weights is not None or rating_weights is not None):
        raise no_weighted_form(info)
    if info.kind == "pairs":
        opts = dict(options)
        if info.name == "bt":
            opts["anchor"] = _anchor_index(arrays.models, options.get("anchor"))
        if info.name == "prc" and options.get("variant") == "as_coded":
            opts["item_order"] = first_winner_order(arrays.a, arrays.b, arrays.outcome, n)
        if weights is not None:
            weights = normalise_battle_weights(weights)
            if len(weights) != arrays.n_battles:
                raise ConfigError(f"got {len(weights)} battle weights for {arrays.n_battles} battles")
        wins, ties = count_matrices(arrays.a, arrays.b, arrays.outcome, n, weights=weights)
        return score_from_counts(info.name, wins, ties, **opts)
    if info.kind == "sequence":
        kw = {k: options[k] for k in ("k", "scale", "base", "init") if k in options}
        if options.get("shuffle", False) or seed is not None:
            rng = np.random.default_rng(seed)
            perm = rng.permutation(arrays.n_battles)
            return elo_online(arrays.a[perm], arrays.b[perm], arrays.outcome[perm], n, **kw)
        return elo_online(arrays.a, arrays.b, arrays.outcome, n, **kw)
    if ratings is None:
        raise ConfigError(f"method {info.name!r} needs the rated responses (pass a battle frame)")
    col = info.rating_column
    if col not in ratings.columns:
        raise DataValidationError(f"ratings lack the column {col!r} needed by {info.name!r}")
    idx = pd.Index(arrays.models).get_indexer(ratings["model_name"].to_numpy())
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
    method: str = "prc",
    *,
    models: Sequence[str] | None = None,
    seed: int | None = None,
    weights: pd.Series | None = None,
    weight_key: str = "user_id",
    missing_weights: str = "raise",
    **options: Any,
) -> pd.DataFrame:
    """Rank models from a battle frame with one aggregator, optionally with participant weights.

    ``options`` go to the aggregator: ``alpha``, ``variant``, ``iterations`` (PRC); ``penalty``,
    ``C``, ``anchor`` (e.g. ``{"flan-t5-xxl": 800}``), ``scale``, ``base``, ``init`` (BT);
    ``k``/``shuffle`` (online Elo; ``seed`` shuffles the order); ``ties`` (win rate).
    Models are those with at least one battle unless ``models`` is given.

    ``weights``: participant weights (Series indexed by the ``weight_key`` column's values, e.g.
    :func:`pluralis.census.weights.census_weights`). Every battle (or rated response, for the
    score means) counts with its rater's weight: pair aggregators (``prc``, ``bt``, ``win_rate``)
    use weighted win/tie counts, rescaled to sum to the number of battles so priors and
    penalties keep their unweighted strength; ``mean_*`` use weighted means; online Elo is
    order-based and has no weighted form (:class:`~pluralis.errors.ConfigError`). Raters without
    a weight raise, or count 0 with ``missing_weights="zero"``. Unit weights reproduce the
    unweighted ranking exactly.

    Returns ``model, score, rank, n_battles`` sorted best first; ``attrs["method"]`` and
    ``attrs["weighted"]`` are set.

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
    info = resolve_method(method)
    if weights is not None and info.kind == "sequence":
        raise no_weighted_form(info)
    arrays = encode_battles(battles, models=models, cluster=None)
    ratings = None
    if info.kind == "ratings":
        ratings = ratings_from_battles(battles, carry=() if weights is None else (weight_key,))
    battle_w = rating_w = None
    if weights is not None:
        if info.kind == "pairs":
            battle_w = row_weights(battles, weights, weight_key, missing_weights)
        else:
            rating_w = row_weights(ratings, weights, weight_key, missing_weights)
    scores = scores_for_arrays(
        arrays, info.name, ratings=ratings, seed=seed, weights=battle_w, rating_weights=rating_w, **options
    )
    n_battles = np.bincount(np.concatenate([arrays.a, arrays.b]), minlength=arrays.n_models)
    out = pd.DataFrame(
        {
            "model": list(arrays.models),
            "score": scores,
            "rank": ranks_from_scores(scores, higher_is_better=info.higher_is_better),
            "n_battles": n_battles,
        }
    )
    out = out.sort_values(["rank", "model"], kind="stable").reset_index(drop=True)
    out.attrs["method"] = info.name
    out.attrs["higher_is_better"] = info.higher_is_better
    out.attrs["weighted"] = weights is not None
    return out
