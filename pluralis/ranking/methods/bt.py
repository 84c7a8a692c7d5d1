"""Bradley–Terry maximum likelihood on the Elo scale (``bt``; aliases ``elo_mle``, ``mle``, ``bradley_terry``).

As in Chatbot Arena (FastChat ``compute_mle_elo``): 400 / base 10 / init 1000, battles
duplicated, a tie = one win each way, L2 penalty ``C = 1`` by default (``penalty=None`` for the
plain MLE). Fitted by damped Newton on the aggregated pair counts, not on per-battle rows.

Options: ``penalty`` (``"l2"`` | None), ``C``, ``anchor`` (``{"flan-t5-xxl": 800}``: shift the
ratings so that model sits at that value, as PRISM does), ``scale``, ``base``, ``init``, ``tol``,
``max_iter``.

Example
-------
>>> from pluralis.ranking.engine import rank_models
>>> import pandas as pd
>>> b = pd.DataFrame({"model_a": ["x"] * 4, "model_b": ["y"] * 4, "winner": ["model_a"] * 3 + ["model_b"]})
>>> r = rank_models(b, "bt", penalty=None, anchor={"y": 800}).set_index("model")["score"]
>>> round(float(r["x"]), 3), float(r["y"])
(990.849, 800.0)
"""

from __future__ import annotations

import warnings
from typing import Any, Literal

import numpy as np

from pluralis.errors import ConfigError
from pluralis.ranking.encode import anchor_index, count_matrices
from pluralis.ranking.newton import damped_newton
from pluralis.ranking.registry import Aggregator, Option, PairContext, register_aggregator


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
    base^(-(r_i - r_j)/scale))``.

    Parameters
    ----------
    wins, ties
        ``wins[..., w, l]`` battles *w* won against *l*; symmetric tie counts.
    penalty, C
        ``"l2"`` adds ``||beta||^2 / (2 C)`` exactly like scikit-learn's default
        ``LogisticRegression(C=1)`` (what PRISM/FastChat used in early 2024); ``None`` is the
        plain MLE (modern FastChat), centred at mean ``init``.
    scale, base, init
        the Elo scale.
    anchor
        ``(k, value)`` shifts the ratings so model ``k`` sits at ``value`` (PRISM: flan-t5-xxl = 800).
    tol, max_iter
        Newton convergence settings.

    Returns
    -------
    numpy.ndarray
        ``(..., n)`` ratings.

    See Also
    --------
    bradley_terry : the same from integer-coded battles.

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
    eye = np.eye(n)
    extra = eye * lam if lam > 0 else (np.ones((n, n)) + 1e-9 * eye)

    beta = _logit_start(Y, s)
    if B > 1:
        # Bootstrap resamples scatter around their pooled counts: start every fit from the pooled fit, a
        # few Newton steps from each optimum instead of ~5 from the logits (the optimum is unique: same answer).
        pooled = Y.mean(axis=0)[None]
        start, _ = _newton(pooled, _logit_start(pooled, s), s, lam, extra, tol, max_iter)
        if np.isfinite(start).all() and np.abs(start).max() < 50.0:  # else (a pooled MLE that runs off)
            beta = np.repeat(start, B, axis=0)
    beta, converged = _newton(Y, beta, s, lam, extra, tol, max_iter)
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


def _logit_start(Y: np.ndarray, s: float) -> np.ndarray:
    """Starting ratings: each model's smoothed log-odds of winning, centred (``(B, n)`` from ``Y`` ``(B, n, n)``).

    Exact for one pair and close wherever opponents are mixed evenly: one or two Newton steps
    fewer than from zero on PRISM- and Arena-shaped tournaments (any start reaches the same optimum).
    """
    won = Y.sum(axis=-1)
    p = (won + 1.0) / (won + Y.sum(axis=-2) + 2.0)
    start = np.log(p / (1.0 - p)) / s
    return start - start.mean(axis=-1, keepdims=True)


def _newton(Y, beta, s, lam, extra, tol, max_iter):
    """Damped Newton on a batch of Bradley–Terry problems from ``beta``: ``(beta, converged)``.

    Works on the ``n (n - 1) / 2`` unordered pairs: ``log σ(-d) = log σ(d) - d`` gives both directions
    of a pair from one exponential.
    """
    n = Y.shape[-1]
    iu, ju = np.triu_indices(n, 1)
    y_up = Y[:, iu, ju]  # weighted wins of the lower-indexed model of each pair
    y_low = Y[:, ju, iu]
    total = y_up + y_low
    incidence = np.zeros((len(iu), n))
    incidence[np.arange(len(iu)), iu] = 1.0
    incidence[np.arange(len(iu)), ju] = -1.0
    degree = np.abs(incidence)
    diag = np.arange(n)

    def value(b, rows):
        # one exp per pair gives log σ(d) (stable; faster than logaddexp) and σ(d) for the derivatives
        d = s * (b[:, iu] - b[:, ju])
        e = np.exp(-np.abs(d))
        log_sig = -(np.maximum(-d, 0.0) + np.log1p(e))
        p = np.where(d >= 0, 1.0, e) / (1.0 + e)
        return -(total[rows] * log_sig - y_low[rows] * d).sum(axis=1) + 0.5 * lam * (b * b).sum(axis=1), p

    def derivatives(b, p, rows):
        tot = total[rows]
        grad = -s * ((y_up[rows] - tot * p) @ incidence) + lam * b
        w = (s * s) * tot * p * (1.0 - p)
        H = np.zeros((len(b), n, n))
        H[:, iu, ju] = -w
        H[:, ju, iu] = -w
        H[:, diag, diag] = w @ degree
        return grad, H + extra

    beta, converged = damped_newton(beta, value, derivatives, tol=tol, max_iter=max_iter)
    return beta, bool(converged.all())


def bradley_terry(
    a: Any,
    b: Any,
    outcome: Any,
    n_models: int,
    *,
    penalty: Literal["l2"] | None = "l2",
    C: float = 1.0,
    scale: float = 400.0,
    base: float = 10.0,
    init: float = 1000.0,
    anchor: tuple[int, float] | None = None,
) -> np.ndarray:
    """Bradley–Terry / Elo-MLE ratings of integer-coded battles.

    Parameters
    ----------
    a, b, outcome
        integer-coded battles (``outcome``: 0 = ``a`` won, 1 = ``b`` won, 2 = tie).
    n_models
        number of models.
    penalty, C, scale, base, init, anchor
        see :func:`bt_from_counts`.

    Returns
    -------
    numpy.ndarray
        one rating per model.

    Example
    -------
    >>> r = bradley_terry([0, 0, 0, 1], [1, 1, 1, 0], [0, 0, 0, 0], 2, penalty=None)
    >>> round(float(r[0] - r[1]), 3)
    190.849
    """
    wins, ties = count_matrices(a, b, outcome, n_models)
    return bt_from_counts(wins, ties, penalty=penalty, C=C, scale=scale, base=base, init=init, anchor=anchor)


def parse_anchor(text: str) -> dict[str, float] | None:
    """Parse an anchor given as text, ``MODEL=RATING`` (the command line's ``--anchor``).

    Parameters
    ----------
    text
        e.g. ``"flan-t5-xxl=800"``; empty text gives None.

    Returns
    -------
    dict or None
        ``{model: rating}``.

    Example
    -------
    >>> parse_anchor("flan-t5-xxl=800")
    {'flan-t5-xxl': 800.0}
    """
    if not text:
        return None
    if "=" not in text:
        raise ValueError(f"must look like MODEL=RATING (e.g. flan-t5-xxl=800), got {text!r}")
    name, rating = text.rsplit("=", 1)
    try:
        return {name: float(rating)}
    except ValueError:
        raise ValueError(f"rating must be a number, got {rating!r}") from None


def parse_penalty(text: str) -> str | None:
    """Parse ``--penalty`` / ``-O penalty=`` text: ``"none"`` is None, else lower-cased.

    Parameters
    ----------
    text : str
        The option's text (``"none"``, ``"l2"``, ... in any case).

    Returns
    -------
    str or None
        The lower-cased penalty, or ``None`` for no penalty.

    Example
    -------
    >>> parse_penalty("None"), parse_penalty("L2")
    (None, 'l2')
    """
    return None if text.lower() == "none" else text.lower()


def prepare_anchor(options: dict, context: PairContext) -> dict:
    """The anchor model's name becomes its index; a subgroup without that model is centred instead.

    Parameters
    ----------
    options
        the fit's options (``anchor`` as ``{name: value}`` or None).
    context
        the tournament scored (its models, and whether it is a subgroup's).

    Returns
    -------
    dict
        ``options`` with ``anchor`` as ``(index, value)`` or None.

    Example
    -------
    >>> from pluralis.ranking.battles import BattleArrays
    >>> prepare_anchor({"anchor": {"y": 800}}, PairContext.of(BattleArrays.from_lists(["x", "y"], [0], [1], [0])))
    {'anchor': (1, 800.0)}
    """
    anchor = options.get("anchor")
    if context.is_subset and anchor is not None:
        name = next(iter(anchor)) if isinstance(anchor, dict) else anchor[0]
        if name not in context.models:
            warnings.warn(
                f"anchor model {name!r} is absent from a group; its ratings are centred instead", stacklevel=4
            )
            anchor = None
    options["anchor"] = anchor_index(context.models, anchor)
    return options


AGGREGATOR = register_aggregator(
    Aggregator(
        name="bt",
        label="Elo (MLE / Bradley-Terry)",
        kind="pairs",
        from_counts=bt_from_counts,
        aliases=("elo_mle", "mle", "bradley_terry"),
        options=(
            Option("penalty", "l2", "'l2' (C=1, as PRISM/FastChat early 2024) or 'none'", ("l2", None), parse_penalty),
            Option("C", 1.0, "inverse strength of the L2 penalty"),
            Option("anchor", None, "pin one model's rating, e.g. flan-t5-xxl=800", parse=parse_anchor),
            Option("scale", 400.0, "Elo scale"),
            Option("base", 10.0, "Elo base"),
            Option("init", 1000.0, "mean rating (no anchor)"),
            Option("tol", 1e-10, "Newton tolerance"),
            Option("max_iter", 100, "Newton iterations"),
        ),
        prepare=prepare_anchor,
        axis_label="Elo rating (Bradley-Terry MLE)",
        digits=1,
        order=20,
        description="Bradley-Terry maximum likelihood on the Elo scale (FastChat compute_mle_elo)",
    )
)
