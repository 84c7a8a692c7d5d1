"""Style-controlled Bradley–Terry (``style_bt``; aliases ``style_control``, ``bt_style``).

Chatbot Arena's style control (2024): the Bradley–Terry logit of "``a`` beats ``b``" gets, next
to the model strengths, the battle's *style differences* as covariates,

    logit P(a beats b) = ln(base) (β_a - β_b) + γ · x_ab,

with ``x_ab`` the standardised normalised differences of the responses' length (words), markdown
headers, list items and bold spans (:func:`pluralis.features.markdown.style_differences`). The
ratings ``scale β + init`` are then the models' strengths *at equal style*; ``γ`` (logit per SD)
says how much raters reward each style element. The likelihood, the Elo scale, the L2 penalty
and the anchor are exactly those of :mod:`~pluralis.ranking.methods.bt` (a decisive battle counts
twice, a tie one win each way), with the penalty also on ``γ``; with no style differences the
ratings equal ``bt``'s.

Response texts come from the battle frame's ``model_response_a`` / ``model_response_b`` columns
(``extract_battles(..., keep=["model_response"])``; ``battles_from_comparisons`` carries them
when the comparisons have ``responses``) or ``response_a`` / ``response_b``.

Example
-------
>>> import pandas as pd
>>> from pluralis.ranking.engine import rank_models
>>> b = pd.DataFrame({"model_a": ["x", "x", "y"], "model_b": ["y", "y", "x"], "winner": ["model_a"] * 3,
...     "model_response_a": ["**Sure.** Here", "ok", "# Hi\\n- a"], "model_response_b": ["no", "- b", "fine"]})
>>> rank_models(b, "style_bt")["model"].tolist()
['x', 'y']
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd

from pluralis.errors import ConfigError, DataValidationError, Problem
from pluralis.features.markdown import STYLE_ELEMENTS, style_differences
from pluralis.ranking.methods.bt import parse_anchor, parse_penalty, prepare_anchor
from pluralis.ranking.newton import damped_newton
from pluralis.ranking.registry import Aggregator, Option, register_aggregator

__all__ = ["TEXT_COLUMNS", "StyleBTFit", "style_bt_fit", "style_covariates"]

#: Column pairs holding the two responses' texts, tried in order.
TEXT_COLUMNS: tuple[tuple[str, str], ...] = (
    ("model_response_a", "model_response_b"),
    ("response_a", "response_b"),
)

#: Battles per chunk of rounds x battles (bounds memory of the batched fit).
_CHUNK_ELEMENTS = 2_000_000


def style_covariates(battles: pd.DataFrame) -> np.ndarray:
    """The style covariates of every battle (``m x 4``; :data:`~pluralis.features.markdown.STYLE_ELEMENTS`).

    Parameters
    ----------
    battles
        battle frame with the responses' texts (see :data:`TEXT_COLUMNS`).

    Returns
    -------
    numpy.ndarray
        standardised normalised differences, one row per battle.

    Raises
    ------
    DataValidationError
        when the frame has no response texts.

    Example
    -------
    >>> b = pd.DataFrame({"response_a": ["a b", "x"], "response_b": ["a", "x y"]})
    >>> style_covariates(b)[:, 0].tolist()
    [1.0, -1.0]
    """
    for ca, cb in TEXT_COLUMNS:
        if ca in battles.columns and cb in battles.columns:
            return style_differences(battles[ca], battles[cb]).to_numpy(dtype=float)
    raise DataValidationError(
        Problem(
            "battles",
            None,
            "model_response_a/model_response_b",
            "style-controlled Bradley-Terry needs the response texts; build the battles with "
            "extract_battles(..., keep=['model_response']) or from comparisons with responses",
        )
    )


@dataclass(frozen=True)
class StyleBTFit:
    """A style-controlled Bradley–Terry fit: ratings (Elo scale) and style coefficients.

    Example
    -------
    >>> f = style_bt_fit([0, 0, 1], [1, 1, 0], [0, 0, 0], 2, covariates=np.zeros((3, 1)), penalty=None)
    >>> f.style.tolist(), f.converged
    ([0.0], True)
    """

    ratings: np.ndarray
    style: np.ndarray
    converged: bool


def _fit(
    a: np.ndarray,
    b: np.ndarray,
    y: np.ndarray,
    n: int,
    W: np.ndarray,
    X: np.ndarray,
    lam: float,
    s: float,
    tol: float,
    max_iter: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Batched damped Newton for ``R`` weight vectors ``W`` ``(R, m)``; returns β, γ, converged."""
    R, m = W.shape
    p = X.shape[1]
    d = n + p
    D = np.zeros((m, n))
    D[np.arange(m), a] = s
    D[np.arange(m), b] -= s
    Z = np.concatenate([D, X], axis=1)  # (m, d): logit = Z @ theta
    theta = np.zeros((R, d))
    pen = np.full(d, lam)
    ridge = np.zeros((d, d))
    if lam == 0:  # identify beta by its sum (as bt), keep the style block invertible
        ridge[:n, :n] = 1.0
        ridge[np.arange(d), np.arange(d)] += 1e-9
    W2 = 2.0 * W

    def value(th: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        eta = th @ Z.T
        ll = y * -np.logaddexp(0.0, -eta) + (1.0 - y) * -np.logaddexp(0.0, eta)
        return -(W2[rows] * ll).sum(axis=1) + 0.5 * (pen * th * th).sum(axis=1), eta

    def derivatives(th: np.ndarray, eta: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        prob = 1.0 / (1.0 + np.exp(-eta))
        w2 = W2[rows]
        grad = -((w2 * (y - prob)) @ Z) + pen * th
        h = w2 * prob * (1.0 - prob)  # (R, m)
        H = np.einsum("rm,mi,mj->rij", h, Z, Z, optimize=True)
        H[:, np.arange(d), np.arange(d)] += pen
        return grad, H + ridge

    theta, done = damped_newton(np.zeros((R, d)), value, derivatives, tol=tol, max_iter=max_iter)
    return theta[:, :n], theta[:, n:], done


def style_bt_fit(
    a: Any,
    b: Any,
    outcome: Any,
    n_models: int,
    *,
    covariates: np.ndarray,
    weights: np.ndarray | None = None,
    penalty: Literal["l2"] | None = "l2",
    C: float = 1.0,
    scale: float = 400.0,
    base: float = 10.0,
    init: float = 1000.0,
    anchor: tuple[int, float] | None = None,
    tol: float = 1e-8,
    max_iter: int = 100,
    label: str | None = None,
) -> StyleBTFit:
    """Fit style-controlled Bradley–Terry; batched over rows of ``weights`` ``(R, m)``.

    Parameters
    ----------
    a, b, outcome
        integer-coded battles (``outcome``: 0 = ``a`` won, 1 = ``b`` won, 2 = tie).
    n_models
        number of models.
    covariates
        ``(m, p)`` style covariates (:func:`style_covariates`); positive = ``a`` has more.
    weights
        None, one weight per battle, or ``(R, m)`` for ``R`` fits at once.
    penalty, C, scale, base, init, anchor
        as :func:`~pluralis.ranking.methods.bt.bt_from_counts` (the L2 penalty also applies to
        the style coefficients).
    tol, max_iter
        Newton convergence settings.
    label
        names the fit in the "did not converge" warning (a subgroup, ...).

    Returns
    -------
    StyleBTFit
        ratings ``(n,)`` or ``(R, n)``, style coefficients (logit per SD of each covariate) and
        whether every fit converged.

    Example
    -------
    >>> x = np.array([[1.0], [1.0], [-1.0], [-1.0]])   # the longer answer won every time
    >>> f = style_bt_fit([0, 1, 0, 1], [1, 0, 1, 0], [0, 0, 1, 1], 2, covariates=x, penalty="l2")
    >>> round(float(f.ratings[0] - f.ratings[1]), 6), bool(f.style[0] > 0)
    (0.0, True)
    """
    a = np.asarray(a, dtype=np.int64)
    b = np.asarray(b, dtype=np.int64)
    o = np.asarray(outcome, dtype=np.int64)
    m = len(a)
    X = np.asarray(covariates, dtype=float).reshape(m, -1)
    if penalty in ("l2", "L2"):
        if not C > 0:
            raise ConfigError("C must be > 0")
        lam = 1.0 / C
    elif penalty is None or str(penalty).lower() == "none":
        lam = 0.0
    else:
        raise ConfigError(f"penalty must be 'l2' or None, got {penalty!r}")
    y = np.where(o == 0, 1.0, np.where(o == 1, 0.0, 0.5))
    single = weights is None or np.ndim(weights) == 1
    W = np.ones((1, m)) if weights is None else np.atleast_2d(np.asarray(weights, dtype=float))
    if W.shape[1] != m:
        raise ConfigError(f"got {W.shape[1]} battle weights for {m} battles")
    s = np.log(base)
    R = W.shape[0]
    d = n_models + X.shape[1]
    step = max(1, _CHUNK_ELEMENTS // max(1, m * max(d, 4)))
    betas = np.empty((R, n_models))
    gammas = np.empty((R, X.shape[1]))
    ok = np.empty(R, dtype=bool)
    for k in range(0, R, step):
        bt_, g_, done = _fit(a, b, y, n_models, W[k : k + step], X, lam, s, tol, max_iter)
        betas[k : k + step], gammas[k : k + step], ok[k : k + step] = bt_, g_, done
    if not ok.all():
        where = f" for {label}" if label else ""
        rounds = f" in {int((~ok).sum())} of {R} fits" if R > 1 else ""
        warnings.warn(
            f"style-controlled Bradley-Terry fit{where} did not converge{rounds} "
            "(a model may have won or lost every battle; use penalty='l2')",
            RuntimeWarning,
            stacklevel=2,
        )
    if lam == 0:
        betas -= betas.mean(axis=1, keepdims=True)
    ratings = scale * betas + init
    if anchor is not None:
        k_, value = anchor
        ratings += value - ratings[:, [int(k_)]]
    if single:
        return StyleBTFit(ratings[0], gammas[0], bool(ok.all()))
    return StyleBTFit(ratings, gammas, bool(ok.all()))


def _from_battles(
    a: np.ndarray,
    b: np.ndarray,
    outcome: np.ndarray,
    n_models: int,
    /,
    *,
    weights: np.ndarray | None = None,
    covariates: np.ndarray | None = None,
    **options: Any,
) -> np.ndarray:
    if covariates is None:
        raise ConfigError("style_bt needs the battles' style covariates (pass a battle frame with response texts)")
    return style_bt_fit(a, b, outcome, n_models, covariates=covariates, weights=weights, **options).ratings


AGGREGATOR = register_aggregator(
    Aggregator(
        name="style_bt",
        label="Style-controlled Bradley-Terry",
        kind="battles",
        from_battles=_from_battles,
        covariates=style_covariates,
        aliases=("style_control", "bt_style", "style_controlled_bt"),
        options=(
            Option("penalty", "l2", "'l2' (C=1, as bt) or 'none'", ("l2", None), parse_penalty),
            Option("C", 1.0, "inverse strength of the L2 penalty"),
            Option("anchor", None, "pin one model's rating, e.g. flan-t5-xxl=800", parse=parse_anchor),
            Option("scale", 400.0, "Elo scale"),
            Option("base", 10.0, "Elo base"),
            Option("init", 1000.0, "mean rating (no anchor)"),
            Option("tol", 1e-8, "Newton tolerance"),
            Option("max_iter", 100, "Newton iterations"),
        ),
        prepare=prepare_anchor,
        axis_label="Elo rating at equal style (style-controlled Bradley-Terry)",
        digits=1,
        order=25,
        description="Bradley-Terry with response length and markdown as covariates (Chatbot Arena style control): "
        + ", ".join(STYLE_ELEMENTS),
    )
)
