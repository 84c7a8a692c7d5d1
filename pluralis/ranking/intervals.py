"""Bootstrap confidence intervals: percentile, bias-corrected (BC) and BCa.

Every analysis in :mod:`pluralis.ranking` that resamples (model scores, group contrasts,
agreement coefficients) turns its draws into intervals here, so the three methods mean the same
thing everywhere:

``"percentile"``
    the ``(1 - level) / 2`` and ``(1 + level) / 2`` quantiles of the draws.
``"bc"``
    bias-corrected percentile interval (Efron & Tibshirani 1993, §14.3): the quantile levels are
    shifted by ``z0 = Φ⁻¹(share of draws below the estimate)``, counting draws equal to the
    estimate half (as :func:`scipy.stats.bootstrap` does). Corrects the median bias of the
    estimator — e.g. PRC's prior pulling extreme scores towards ``1/n``.
``"bca"``
    bias-corrected and accelerated (§14.3, Eq. 14.15): BC plus an acceleration ``a`` from a
    jackknife over the resampling units (participants, or battles),
    ``a = Σ (θ̄ - θ_(i))³ / (6 (Σ (θ̄ - θ_(i))²)^{3/2})``. Equal to scipy's ``method="BCa"``
    for the same draws and jackknife values.

Quantiles are linear interpolations (:func:`numpy.quantile`, scipy's default); NaN draws are
ignored per column.

Example
-------
>>> rng = np.random.default_rng(0)
>>> draws = rng.normal(1.0, 0.1, size=(2000, 1))
>>> lo, hi = bootstrap_interval(draws, np.array([1.0]), level=0.9, method="bc")
>>> round(float(lo[0]), 2), round(float(hi[0]), 2)
(0.85, 1.17)
"""

from __future__ import annotations

import warnings
from typing import Literal

import numpy as np
from scipy.special import ndtr, ndtri

from pluralis.errors import ConfigError

__all__ = ["INTERVALS", "Interval", "acceleration", "bias_correction", "bootstrap_interval", "check_interval"]

Interval = Literal["percentile", "bc", "bca"]
INTERVALS: tuple[str, ...] = ("percentile", "bc", "bca")


def check_interval(interval: str, *, flag: str = "interval") -> Interval:
    """Check an interval method name; returns it (lower-cased).

    Parameters
    ----------
    interval
        ``"percentile"``, ``"bc"`` or ``"bca"`` (any case).
    flag
        how the value was given, for the error message.

    Returns
    -------
    str
        the method.

    Example
    -------
    >>> check_interval("BCa")
    'bca'
    >>> check_interval("basic")
    Traceback (most recent call last):
    ...
    pluralis.errors.ConfigError: interval must be one of percentile, bc, bca; got 'basic'
    """
    value = str(interval).strip().lower()
    if value not in INTERVALS:
        raise ConfigError(f"{flag} must be one of {', '.join(INTERVALS)}; got {interval!r}")
    return value  # type: ignore[return-value]


def bias_correction(samples: np.ndarray, estimate: np.ndarray) -> np.ndarray:
    """The BC bias-correction ``z0`` per column: ``Φ⁻¹`` of the share of draws below the estimate.

    Draws equal to the estimate count half (scipy's ``percentileofscore(kind="mean")``); NaN
    draws are ignored. Shares of 0 or 1 give ``∓inf`` (the interval then collapses on the most
    extreme draw).

    Parameters
    ----------
    samples
        ``(R, ...)`` bootstrap draws.
    estimate
        the full-data estimate, shape ``samples.shape[1:]``.

    Returns
    -------
    numpy.ndarray
        ``z0``, shape ``samples.shape[1:]``.

    Example
    -------
    >>> float(bias_correction(np.array([[1.0], [2.0], [3.0], [4.0]]), np.array([2.5]))[0])
    0.0
    """
    x = np.asarray(samples, dtype=float)
    est = np.asarray(estimate, dtype=float)
    ok = ~np.isnan(x)
    n = ok.sum(axis=0)
    with np.errstate(invalid="ignore"):
        below = ((x < est) & ok).sum(axis=0) + 0.5 * ((x == est) & ok).sum(axis=0)
        share = np.divide(below, n, out=np.full(np.shape(n), np.nan), where=n > 0)
    with np.errstate(divide="ignore"):
        return ndtri(share)


def acceleration(jackknife: np.ndarray, counts: np.ndarray | None = None) -> np.ndarray:
    """The BCa acceleration from jackknife values ``θ_(i)`` (one row per left-out unit).

    ``a = Σ c_i (θ̄ - θ_(i))³ / (6 (Σ c_i (θ̄ - θ_(i))²)^{3/2})`` with ``θ̄`` the (weighted)
    mean; ``counts`` are frequency weights for rows that stand for several identical units (a
    pair category's battles). NaN rows are ignored; a constant column gives 0.

    Parameters
    ----------
    jackknife
        ``(J, ...)`` leave-one-unit-out estimates.
    counts
        ``(J,)`` how many units each row stands for (default 1 each).

    Returns
    -------
    numpy.ndarray
        ``a``, shape ``jackknife.shape[1:]``.

    Example
    -------
    >>> x = np.array([1.0, 2.0, 4.0, 9.0])
    >>> jack = np.array([np.delete(x, i).mean() for i in range(4)])[:, None]
    >>> round(float(acceleration(jack)[0]), 4)
    0.064
    """
    j = np.asarray(jackknife, dtype=float)
    c = np.ones(j.shape[0]) if counts is None else np.asarray(counts, dtype=float)
    c = c.reshape((-1,) + (1,) * (j.ndim - 1))
    ok = ~np.isnan(j)
    cw = np.where(ok, c, 0.0)
    jz = np.where(ok, j, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = (cw * jz).sum(axis=0) / cw.sum(axis=0)
        d = np.where(ok, mean - jz, 0.0)
        num = (cw * d**3).sum(axis=0)
        den = 6.0 * (cw * d**2).sum(axis=0) ** 1.5
        a = np.divide(num, den, out=np.zeros(np.shape(num)), where=den > 0)
    return np.nan_to_num(a)


def _nanquantile_levels(x: np.ndarray, levels: np.ndarray) -> np.ndarray:
    """Quantile ``levels[k]`` of column ``k`` of ``x`` (linear interpolation, NaNs ignored)."""
    flat = x.reshape(x.shape[0], -1)
    lv = np.broadcast_to(levels, flat.shape[1:]).ravel()
    out = np.full(flat.shape[1], np.nan)
    srt = np.sort(flat, axis=0)  # NaNs last
    n = (~np.isnan(flat)).sum(axis=0)
    good = (n > 0) & ~np.isnan(lv)
    if good.any():
        cols = np.flatnonzero(good)
        pos = np.clip(lv[cols], 0.0, 1.0) * (n[cols] - 1)
        lo = np.floor(pos).astype(np.int64)
        hi = np.minimum(lo + 1, n[cols] - 1)
        frac = pos - lo
        vlo = srt[lo, cols]
        vhi = srt[hi, cols]
        out[cols] = vlo + frac * (vhi - vlo)
    return out.reshape(x.shape[1:])


def bootstrap_interval(
    samples: np.ndarray,
    estimate: np.ndarray | None = None,
    *,
    level: float = 0.95,
    method: str = "percentile",
    jackknife: np.ndarray | None = None,
    jackknife_counts: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Lower and upper interval bounds per column of bootstrap draws.

    Parameters
    ----------
    samples
        ``(R, ...)`` draws (NaN ignored per column).
    estimate
        the full-data estimate (needed by ``"bc"`` and ``"bca"``), shape ``samples.shape[1:]``.
    level
        coverage, e.g. 0.95.
    method
        ``"percentile"``, ``"bc"`` or ``"bca"`` (see the module docstring).
    jackknife, jackknife_counts
        ``"bca"``: leave-one-unit-out estimates ``(J, ...)`` and their frequency weights (see
        :func:`acceleration`). Without them ``"bca"`` is ``"bc"``.

    Returns
    -------
    tuple of numpy.ndarray
        ``(lo, hi)``, each of shape ``samples.shape[1:]``.

    See Also
    --------
    scipy.stats.bootstrap : the same BCa interval for statistics of plain samples.

    Example
    -------
    >>> draws = np.arange(1, 101, dtype=float)[:, None]
    >>> [round(float(v[0]), 2) for v in bootstrap_interval(draws, level=0.9)]
    [5.95, 95.05]
    >>> [round(float(v[0]), 2) for v in bootstrap_interval(draws, np.array([30.0]), level=0.9, method="bc")]
    [1.32, 71.76]
    """
    method = check_interval(method)
    if not 0 < level < 1:
        raise ConfigError(f"level must be in (0, 1), got {level!r}")
    x = np.asarray(samples, dtype=float)
    q = (1.0 - level) / 2.0
    shape = x.shape[1:]
    if x.shape[0] == 0:
        return np.full(shape, np.nan), np.full(shape, np.nan)
    if method == "percentile":
        lo_lv = np.full(shape, q)
        hi_lv = np.full(shape, 1.0 - q)
    else:
        if estimate is None:
            raise ConfigError(f"a {method!r} interval needs the full-data estimate")
        z0 = bias_correction(x, estimate)
        a = np.zeros(shape)
        if method == "bca" and jackknife is not None:
            a = acceleration(jackknife, jackknife_counts)
        za, zb = ndtri(q), ndtri(1.0 - q)
        with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
            n1 = z0 + za
            n2 = z0 + zb
            lo_lv = ndtr(z0 + n1 / (1.0 - a * n1))
            hi_lv = ndtr(z0 + n2 / (1.0 - a * n2))
        # an infinite z0 (every draw on one side) gives nan levels: use the extreme draw
        lo_lv = np.where(np.isnan(lo_lv), np.where(z0 > 0, 1.0, 0.0), lo_lv)
        hi_lv = np.where(np.isnan(hi_lv), np.where(z0 > 0, 1.0, 0.0), hi_lv)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return _nanquantile_levels(x, lo_lv), _nanquantile_levels(x, hi_lv)
