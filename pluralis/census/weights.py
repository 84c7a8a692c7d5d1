"""Survey weights to census targets: post-stratification, raking (IPF), trimming, and PRISM's
census rebalancing by subsampling (App. L).

All weighting functions return a :class:`WeightingResult` whose ``weights`` is a Series indexed
by ``user_id`` (mean 1 over the weighted participants, 0 for participants that could not be
placed in a census category), together with a convergence report.

Weighted variants of the other analyses take such a Series: the welfare analysis
(:func:`pluralis.welfare.engine.run_welfare`, ``weights=``) and the ranking engine
(:func:`pluralis.ranking.engine.rank_models`, :func:`pluralis.ranking.uncertainty.bootstrap`
and :func:`pluralis.ranking.subgroups.subgroup_rankings`, ``weights=``). :func:`row_weights`
spreads participant weights onto battle/utterance rows; it is defined here, with the weights,
and the analyses import it (census never imports an analysis).

Example
-------
>>> import pandas as pd
>>> df = pd.DataFrame({"user_id": list("abcd"), "sex": ["M", "M", "M", "F"]})
>>> res = rake(df, {"sex": pd.Series({"M": 0.5, "F": 0.5})})
>>> res.weights.round(3).tolist()
[0.667, 0.667, 0.667, 2.0]
>>> res.converged, res.max_margin_error < 1e-9
(True, True)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from pluralis.census import targets as census
from pluralis.census.representativeness import (
    CENSUS_VARIABLES,
    _align_weights,
    _user_index,
    census_categories,
    effective_sample_size,
)
from pluralis.errors import ConfigError

__all__ = [
    "EmptyCellError",
    "RebalanceResult",
    "WeightingResult",
    "census_rebalance",
    "census_weights",
    "poststratify",
    "prism_rebalance_pool",
    "rake",
    "row_weights",
    "trim_weights",
]


class EmptyCellError(ConfigError):
    """A census cell (or margin category) with a positive target has no participants.

    ``cells`` lists ``({variable: category}, target_share)`` pairs.

    Example
    -------
    >>> str(EmptyCellError([({"age": "65+ years old"}, 0.2)], "Collapse cells."))
    "1 cell(s) with a positive target have no participants: (age='65+ years old') target 20.00%. Collapse cells."
    """

    def __init__(self, cells: list[tuple[dict[str, str], float]], hint: str):
        self.cells = cells
        shown = "; ".join(
            "(" + ", ".join(f"{k}={v!r}" for k, v in cell.items()) + f") target {100 * share:.2f}%"
            for cell, share in cells[:8]
        )
        more = f"; ... and {len(cells) - 8} more" if len(cells) > 8 else ""
        super().__init__(f"{len(cells)} cell(s) with a positive target have no participants: {shown}{more}. {hint}")


@dataclass
class WeightingResult:
    """Weights and their diagnostics.

    ``weights``: Series by ``user_id`` (mean 1 over included participants, 0 for excluded ones).
    ``converged``/``iterations``/``max_margin_error``: the convergence report (max absolute
    difference between a weighted share and its target over all margins or cells).
    ``history``: the max margin error after each IPF sweep. ``excluded``: user ids that could
    not be placed in the target categories. ``dropped_cells``: target cells dropped (renormalised).

    Example
    -------
    >>> import pandas as pd
    >>> r = rake(pd.DataFrame({"user_id": ["a", "b", "c"], "g": ["x", "x", "y"]}), {"g": {"x": .5, "y": .5}})
    >>> r.weights.tolist(), round(r.ess, 3), r.method
    ([0.75, 0.75, 1.5], 2.667, 'rake')
    """

    weights: pd.Series
    method: str
    converged: bool
    iterations: int
    max_margin_error: float
    n_trimmed: int = 0
    trim_rounds: int = 0
    excluded: pd.Index = field(default_factory=lambda: pd.Index([], name="user_id"))
    dropped_cells: list = field(default_factory=list)
    history: list[float] = field(default_factory=list)

    @property
    def ess(self) -> float:
        """Kish effective sample size of the weights (see the class example)."""
        return effective_sample_size(self.weights.to_numpy())

    @property
    def design_effect(self) -> float:
        """Kish design effect ``n / ESS`` over the included participants (1 = no loss)."""
        n = int((self.weights > 0).sum())
        return n / self.ess if self.ess > 0 else float("inf")

    def report(self) -> dict:
        """Convergence and weight diagnostics as a plain dict.

        Returns
        -------
        dict
            ``method, converged, iterations, max_margin_error, n, n_excluded, n_trimmed,
            trim_rounds, ess, design_effect, min_weight, max_weight, dropped_cells``.

        Example
        -------
        >>> import pandas as pd
        >>> r = rake(pd.DataFrame({"user_id": ["a", "b"], "g": ["x", "y"]}), {"g": pd.Series({"x": .25, "y": .75})})
        >>> r.report()["max_weight"]
        1.5
        """
        w = self.weights[self.weights > 0]
        return {
            "method": self.method,
            "converged": self.converged,
            "iterations": self.iterations,
            "max_margin_error": self.max_margin_error,
            "n": int(len(w)),
            "n_excluded": int(len(self.excluded)),
            "n_trimmed": self.n_trimmed,
            "trim_rounds": self.trim_rounds,
            "ess": self.ess,
            "design_effect": self.design_effect,
            "min_weight": float(w.min()) if len(w) else float("nan"),
            "max_weight": float(w.max()) if len(w) else float("nan"),
            "dropped_cells": len(self.dropped_cells),
        }


# --- helpers -------------------------------------------------------------------------------------


def _normalise_target(target, name: str) -> pd.Series:
    t = pd.Series(target, dtype=float)
    if t.isna().any() or (t < 0).any():
        raise ConfigError(f"target for {name!r} has negative or missing values")
    if t.sum() <= 0:
        raise ConfigError(f"target for {name!r} sums to zero")
    if t.index.has_duplicates:
        raise ConfigError(f"target for {name!r} lists a category twice: {list(t.index[t.index.duplicated()])}")
    return t / t.sum()


def _base(base_weights, index: pd.Index) -> np.ndarray:
    b = _align_weights(base_weights, index, name="base_weights")
    if np.any(b < 0) or not np.all(np.isfinite(b)):
        raise ConfigError("base_weights must be finite and non-negative")
    return b


def _unclassified(data: pd.DataFrame, variables: list[str], targets: Mapping[str, pd.Series], on_unclassified: str):
    """Boolean mask of rows whose value in some variable is not a target category."""
    if on_unclassified not in ("raise", "drop"):
        raise ConfigError(f"on_unclassified must be 'raise' or 'drop', got {on_unclassified!r}")
    bad = np.zeros(len(data), dtype=bool)
    problems = []
    for v in variables:
        col = data[v]
        miss = ~col.isin(targets[v].index).to_numpy() | col.isna().to_numpy()
        if miss.any():
            vals = col[miss].astype(object).where(col[miss].notna(), "<missing>").value_counts()
            problems.append(f"{v}: " + ", ".join(f"{k!r} x{n}" for k, n in vals.items()))
        bad |= miss
    if bad.any() and on_unclassified == "raise":
        raise ConfigError(
            f"{int(bad.sum())} participant(s) have values outside the target categories ("
            + "; ".join(problems)
            + "); pass on_unclassified='drop' to give them weight 0"
        )
    return bad


def _check_columns(data: pd.DataFrame, variables) -> None:
    missing = [v for v in variables if v not in data.columns]
    if missing:
        raise ConfigError(f"unknown field(s) {missing}; available columns: {sorted(map(str, data.columns))[:30]}")


def trim_weights(weights, lower: float | None = None, upper: float | None = None) -> tuple[np.ndarray, int]:
    """Clip positive weights to ``[lower, upper] x`` their mean, repeating until the bounds hold
    after renormalising to mean 1; return (weights with mean 1, number of weights at a bound).

    Parameters
    ----------
    weights : array-like of float
        Non-negative weights; zeros stay zero.
    lower, upper : float, optional
        Bounds as multiples of the mean positive weight.

    Returns
    -------
    tuple of (numpy.ndarray, int)
        The trimmed weights (mean 1 over the positive ones) and how many sit at a bound.

    Example
    -------
    >>> w, k = trim_weights([1.0, 1.0, 1.0, 9.0], upper=2.0)
    >>> w.round(3).tolist(), k
    ([0.667, 0.667, 0.667, 2.0], 1)
    """
    w = np.asarray(weights, dtype=float).copy()
    if lower is not None and upper is not None and lower > upper:
        raise ConfigError(f"trim lower bound {lower} exceeds upper bound {upper}")
    pos = w > 0
    if not pos.any():
        return w, 0
    v = w[pos] / w[pos].mean()
    lo = -np.inf if lower is None else lower
    hi = np.inf if upper is None else upper
    for _ in range(200):
        v = np.clip(v, lo, hi)
        v = v / v.mean()
        if v.max() <= hi * (1 + 1e-12) and v.min() >= lo * (1 - 1e-12):
            break
    w[pos] = v
    at_bound = np.isclose(v, hi, rtol=1e-9) | np.isclose(v, lo, rtol=1e-9)
    return w, int(at_bound.sum())


def _parse_trim(trim) -> tuple[float | None, float | None] | None:
    if trim is None:
        return None
    if isinstance(trim, (int, float)):
        lo, hi = None, float(trim)
    else:
        try:
            lo, hi = trim
        except (TypeError, ValueError):
            raise ConfigError(f"trim must be an upper bound or a (lower, upper) pair, got {trim!r}") from None
    if (hi is not None and hi <= 0) or (lo is not None and lo < 0):
        raise ConfigError(f"trim bounds must be positive multiples of the mean weight, got {trim!r}")
    if hi is not None and hi < 1:
        raise ConfigError(f"trim upper bound {hi} is below the mean weight (1)")
    return lo, hi


# --- raking --------------------------------------------------------------------------------------


def _ipf(
    codes: list[np.ndarray],
    targets: list[np.ndarray],
    w: np.ndarray,
    max_iter: int,
    tol: float,
    bounds: tuple[float | None, float | None] | None = None,
):
    """Vectorised IPF over unit weights: each sweep rescales every margin with one bincount.

    With ``bounds`` (multiples of the mean weight) every sweep ends by clipping the weights into
    the bounds, so a converged result meets both the margins and the bounds (bounded raking).
    """
    history: list[float] = []
    total = w.sum()
    err = np.inf
    it = 0
    lo = hi = None
    if bounds is not None:
        lo = -np.inf if bounds[0] is None else bounds[0]
        hi = np.inf if bounds[1] is None else bounds[1]
    for it in range(1, max_iter + 1):  # noqa: B007 (the sweep count is returned)
        for c, t in zip(codes, targets):
            cur = np.bincount(c, weights=w, minlength=len(t))
            factor = np.divide(t * total, cur, out=np.zeros_like(t), where=cur > 0)
            w = w * factor[c]
        if bounds is not None:
            mean = w.mean()
            w = np.clip(w, lo * mean, hi * mean)
        s = w.sum()
        err = max(
            float(np.abs(np.bincount(c, weights=w, minlength=len(t)) / s - t).max()) for c, t in zip(codes, targets)
        )
        history.append(err)
        if err <= tol:
            break
    return w, it, err, history


def rake(
    data: pd.DataFrame,
    margins: Mapping[str, pd.Series | Mapping[str, float]],
    *,
    base_weights=None,
    max_iter: int = 1000,
    tol: float = 1e-10,
    trim=None,
    max_trim_rounds: int = 50,
    on_unclassified: str = "raise",
    on_empty: str = "raise",
) -> WeightingResult:
    """Rake (iterative proportional fitting) unit weights to one-way target margins.

    ``data``: one row per participant with a ``user_id`` column (or index) and one column per
    margin. ``margins``: ``{column: Series(category -> share or count)}``. Rows whose value is not
    a target category raise (``on_unclassified="raise"``) or get weight 0 (``"drop"``). A target
    category with positive share but no participants raises :class:`EmptyCellError`
    (``on_empty="raise"``) or is dropped and the margin renormalised (``"renormalise"``).

    ``trim``: an upper bound, or ``(lower, upper)`` bounds, as multiples of the mean weight:
    bounded raking, clipping the weights into the bounds after every IPF sweep until margins and
    bounds both hold (up to ``max_iter x max_trim_rounds / 10`` more sweeps); the report says how
    many weights sit at a bound. Infeasible bounds end with ``converged=False``. Convergence: max |weighted share - target| <= ``tol``.

    Parameters
    ----------
    data : pandas.DataFrame
        One row per participant, ``user_id`` column (or index) and one column per margin.
    margins : mapping of str to pandas.Series or mapping
        Target shares (or counts) per category, per column.
    base_weights : array-like or pandas.Series, optional
        Design weights to start from (default 1).
    max_iter : int
        IPF sweeps at most.
    tol : float
        Convergence tolerance on the largest margin error.
    trim : float or tuple of float, optional
        An upper bound, or ``(lower, upper)`` bounds, as multiples of the mean weight.
    max_trim_rounds : int
        Extra rounds of bounded sweeps when ``trim`` is given.
    on_unclassified : {"raise", "drop"}
        Participants outside the target categories raise, or get weight 0.
    on_empty : {"raise", "renormalise"}
        Target categories with a positive target and no participants raise
        :class:`EmptyCellError`, or are dropped and the rest renormalised.

    Returns
    -------
    WeightingResult
        Weights by ``user_id`` (mean 1 over the weighted participants) and the convergence report.

    See Also
    --------
    poststratify : weights matching joint cells instead of margins.
    census_weights : raking to the census margins of a country.

    Example
    -------
    >>> import pandas as pd
    >>> df = pd.DataFrame({"user_id": list("abcdef"), "sex": list("MMMMFF"), "age": list("yoyoyo")})
    >>> r = rake(df, {"sex": {"M": .5, "F": .5}, "age": {"y": .6, "o": .4}})
    >>> bool(r.converged), round(float(r.weights[df.age.eq("o").to_numpy()].sum() / r.weights.sum()), 6)
    (True, 0.4)
    """
    variables = list(margins)
    if not variables:
        raise ConfigError("rake needs at least one margin")
    _check_columns(data, variables)
    if on_empty not in ("raise", "renormalise"):
        raise ConfigError(f"on_empty must be 'raise' or 'renormalise', got {on_empty!r}")
    index = _user_index(data)
    targets = {v: _normalise_target(margins[v], v) for v in variables}
    base = _base(base_weights, index)
    bad = _unclassified(data, variables, targets, on_unclassified)
    keep = ~bad & (base > 0)
    if not keep.any():
        raise ConfigError("no participant can be weighted (all are outside the target categories or have weight 0)")
    codes, tvecs, dropped, empty = [], [], [], []
    for v in variables:
        t = targets[v]
        col = data[v].to_numpy(dtype=object)[keep]
        present = pd.Index(pd.unique(col))
        lacking = [c for c in t.index if t[c] > 0 and c not in present]
        if lacking:
            if on_empty == "raise":
                empty += [({v: c}, float(t[c])) for c in lacking]
            else:
                dropped += [({v: c}, float(t[c])) for c in lacking]
                t = t.drop(lacking)
                t = t / t.sum()
        codes.append(pd.Index(t.index).get_indexer(col))
        tvecs.append(t.to_numpy(dtype=float))
    if empty:
        raise EmptyCellError(empty, "Collapse categories, or pass on_empty='renormalise' to drop them.")
    w0 = base[keep] / base[keep].mean()
    w, iterations, err, history = _ipf(codes, tvecs, w0, max_iter, tol)
    bounds = _parse_trim(trim)
    n_trimmed = rounds = 0
    if bounds is not None:
        w_norm = w / w.mean()
        lo, hi = bounds
        if (hi is not None and w_norm.max() > hi) or (lo is not None and w_norm.min() < lo):
            rounds = 1
            w, more, err, h = _ipf(codes, tvecs, w, max_iter * max(1, max_trim_rounds // 10), tol, bounds)
            iterations += more
            history += h
            w_norm = w / w.mean()
            at = np.zeros(len(w), dtype=bool)
            if hi is not None:
                at |= w_norm >= hi * (1 - 1e-9)
            if lo is not None:
                at |= w_norm <= lo * (1 + 1e-9)
            n_trimmed = int(at.sum())
    w = w / w.mean()
    out = np.zeros(len(index))
    out[keep] = w
    return WeightingResult(
        weights=pd.Series(out, index=index, name="weight"),
        method="rake",
        converged=bool(err <= tol),
        iterations=iterations,
        max_margin_error=float(err),
        n_trimmed=n_trimmed,
        trim_rounds=rounds,
        excluded=index[bad],
        dropped_cells=dropped,
        history=history,
    )


# --- post-stratification -------------------------------------------------------------------------


def poststratify(
    data: pd.DataFrame,
    targets: pd.DataFrame | pd.Series,
    *,
    by: list[str] | tuple[str, ...] | None = None,
    base_weights=None,
    on_unclassified: str = "raise",
    on_empty: str = "raise",
    trim=None,
) -> WeightingResult:
    """Post-stratify: weight each cell so its weighted share equals its target share.

    ``targets``: a DataFrame with the ``by`` columns and a ``share`` (or ``count``) column, such as
    :func:`pluralis.census.targets.joint_distribution`, or a Series indexed by a (Multi)Index
    over ``by``. Cells with a positive target and no participants raise :class:`EmptyCellError`
    naming them (or are dropped and the rest renormalised with ``on_empty="renormalise"``).
    ``trim`` clips the final weights (multiples of the mean; margins are then no longer exact).

    Parameters
    ----------
    data : pandas.DataFrame
        One row per participant, ``user_id`` column (or index) and the ``by`` columns.
    targets : pandas.DataFrame or pandas.Series
        Target shares (or counts) per cell.
    by : sequence of str, optional
        The cell variables (default: the targets' columns or index levels).
    base_weights : array-like or pandas.Series, optional
        Design weights to start from (default 1).
    on_unclassified : {"raise", "drop"}
        Participants outside the target categories raise, or get weight 0.
    on_empty : {"raise", "renormalise"}
        Target categories with a positive target and no participants raise
        :class:`EmptyCellError`, or are dropped and the rest renormalised.
    trim : float or tuple of float, optional
        An upper bound, or ``(lower, upper)`` bounds, as multiples of the mean weight.

    Returns
    -------
    WeightingResult
        Weights by ``user_id`` and the report (exact cell shares unless trimmed).

    See Also
    --------
    rake : weights matching one-way margins (works when cells are empty).

    Example
    -------
    >>> import pandas as pd
    >>> df = pd.DataFrame({"user_id": list("abc"), "g": ["x", "x", "y"]})
    >>> poststratify(df, pd.DataFrame({"g": ["x", "y"], "share": [.5, .5]}), by=["g"]).weights.tolist()
    [0.75, 0.75, 1.5]
    """
    if on_empty not in ("raise", "renormalise"):
        raise ConfigError(f"on_empty must be 'raise' or 'renormalise', got {on_empty!r}")
    if isinstance(targets, pd.DataFrame):
        value = "share" if "share" in targets.columns else "count" if "count" in targets.columns else None
        if value is None:
            raise ConfigError("targets DataFrame needs a 'share' or 'count' column")
        by = list(by) if by is not None else [c for c in targets.columns if c not in ("share", "count")]
        _check_columns(targets, by)
        t = targets.groupby(by, sort=False)[value].sum()
    else:
        t = pd.Series(targets)
        levels = list(by) if by is not None else list(t.index.names)
        if any(n is None for n in levels):
            raise ConfigError("pass by=[...] naming the levels of the targets index")
        by = [str(n) for n in levels]
    _check_columns(data, by)
    t = _normalise_target(t, "+".join(by))
    index = _user_index(data)
    base = _base(base_weights, index)
    if len(by) == 1:
        keys = pd.Index(data[by[0]].to_numpy(dtype=object))
        t.index = pd.Index(t.index.get_level_values(0) if isinstance(t.index, pd.MultiIndex) else t.index)
    else:
        keys = pd.MultiIndex.from_frame(data[by].astype(object))
    cell = t.index.get_indexer(keys)
    bad = cell < 0
    if bad.any():
        if on_unclassified not in ("raise", "drop"):
            raise ConfigError(f"on_unclassified must be 'raise' or 'drop', got {on_unclassified!r}")
        if on_unclassified == "raise":
            examples = pd.Series([str(k) for k in keys[bad]]).value_counts().head(5)
            raise ConfigError(
                f"{int(bad.sum())} participant(s) fall outside the target cells, e.g. "
                + ", ".join(f"{k} x{n}" for k, n in examples.items())
                + "; pass on_unclassified='drop' to give them weight 0"
            )
    keep = ~bad & (base > 0)
    if not keep.any():
        raise ConfigError("no participant falls in a target cell")
    w_cell = np.bincount(cell[keep], weights=base[keep], minlength=len(t))
    tv = t.to_numpy(dtype=float)
    lacking = np.flatnonzero((tv > 0) & (w_cell <= 0))
    dropped = []
    if len(lacking):
        labels: list[Any] = t.index.tolist()
        names: list[tuple[Any, ...]] = [labels[i] if isinstance(labels[i], tuple) else (labels[i],) for i in lacking]
        cells = [(dict(zip(by, n)), float(tv[i])) for n, i in zip(names, lacking)]
        if on_empty == "raise":
            raise EmptyCellError(
                cells, "Use fewer/coarser cells, rake() to the margins, or on_empty='renormalise' to drop them."
            )
        dropped = cells
        tv = tv.copy()
        tv[lacking] = 0.0
        tv = tv / tv.sum()
    factor = np.divide(tv * base[keep].sum(), w_cell, out=np.zeros_like(tv), where=w_cell > 0)
    w = base[keep] * factor[cell[keep]]
    n_trimmed = 0
    bounds = _parse_trim(trim)
    if bounds is not None:
        w, n_trimmed = trim_weights(w / w.mean(), *bounds)
    w = w / w.mean()
    err = float(np.abs(np.bincount(cell[keep], weights=w, minlength=len(tv)) / w.sum() - tv).max())
    out = np.zeros(len(index))
    out[keep] = w
    return WeightingResult(
        weights=pd.Series(out, index=index, name="weight"),
        method="poststratify",
        converged=err <= 1e-9,
        iterations=1,
        max_margin_error=err,
        n_trimmed=n_trimmed,
        excluded=index[bad],
        dropped_cells=dropped,
        history=[err],
    )


# --- census convenience --------------------------------------------------------------------------


def census_weights(
    survey: pd.DataFrame,
    country: str,
    *,
    method: str = "rake",
    variables: tuple[str, ...] | list[str] = CENSUS_VARIABLES,
    ethnicity: str = "census",
    on_unclassified: str = "drop",
    on_empty: str = "raise",
    trim=None,
    max_iter: int = 1000,
    tol: float = 1e-10,
    construction: str = "disjoint",
) -> WeightingResult:
    """Weights that match ``survey`` to the census of ``country`` (``"US"``/``"UK"``).

    ``method="rake"`` rakes to the one-way census margins of ``variables``; ``"poststratify"``
    matches the joint age x gender x ethnicity cells (fails, naming them, when cells are empty:
    PRISM-sized country samples usually have some). Participants whose answers are not census
    categories (prefer not to say, non-binary) get weight 0 by default (``on_unclassified``).
    Answers that are no answer category at all (numeric ages, unknown labels) are errors naming
    the variable and the expected categories: map them with
    :func:`pluralis.census.targets.map_categories` first.

    Parameters
    ----------
    survey : pandas.DataFrame
        One row per participant (``user_id``, ``age``, ``gender``, ``ethnicity_categorised``).
    country : str
        ``"US"`` or ``"UK"``.
    method : {"rake", "poststratify"}
        Match the one-way margins, or the joint cells.
    variables : sequence of str
        Census variables to weight on (subset of ``age``, ``gender``, ``ethnicity``).
    ethnicity : {"census", "detailed"}
        Ethnicity scheme of the targets.
    on_unclassified : {"raise", "drop"}
        Participants outside the target categories raise, or get weight 0.
    on_empty : {"raise", "renormalise"}
        Target categories with a positive target and no participants raise
        :class:`EmptyCellError`, or are dropped and the rest renormalised.
    trim : float or tuple of float, optional
        An upper bound, or ``(lower, upper)`` bounds, as multiples of the mean weight.
    max_iter : int
        IPF sweeps at most (raking).
    tol : float
        Convergence tolerance (raking).
    construction : {"disjoint", "prism"}
        The US census table (:func:`pluralis.census.targets.census_table`): race x Hispanic
        origin disjoint (default), or PRISM's, which counts Hispanic adults of a non-White race twice.

    Returns
    -------
    WeightingResult
        Weights by ``user_id`` and their diagnostics.

    See Also
    --------
    pluralis.census.representativeness.representativeness : the sample vs the census, weighted or not.

    Example
    -------
    >>> from pluralis.data.synthetic import generate_study
    >>> s = generate_study(n_participants=300, seed=1).frames().survey
    >>> r = census_weights(s[s.study_locale == "us"], "US")
    >>> r.converged, r.max_margin_error < 1e-9
    (True, True)
    >>> census_weights(s.assign(age=30), "US")
    Traceback (most recent call last):
    ...
    pluralis.errors.ConfigError: age: 300 of 300 values not in the census categories ('18-24 years old', '25-34 years old', '35-44 years old', '45-54 years old', '55-64 years old', '65+ years old', 'Prefer not to say'), e.g. 30; map them first (see pluralis.census.targets.map_categories)
    """
    variables = list(variables)
    bad = [v for v in variables if v not in CENSUS_VARIABLES]
    if bad:
        raise ConfigError(f"unknown census variable(s) {bad}; expected a subset of {list(CENSUS_VARIABLES)}")
    cats = census_categories(survey, country, ethnicity).reset_index()
    if method == "rake":
        margins = census.margins(country, ethnicity, construction)
        res = rake(
            cats,
            {v: margins[v] for v in variables},
            on_unclassified=on_unclassified,
            on_empty=on_empty,
            trim=trim,
            max_iter=max_iter,
            tol=tol,
        )
    elif method == "poststratify":
        targets = census.joint_distribution(country, ethnicity, by=variables, construction=construction)
        res = poststratify(cats, targets, by=variables, on_unclassified=on_unclassified, on_empty=on_empty, trim=trim)
    else:
        raise ConfigError(f"unknown weighting method {method!r}; expected 'rake' or 'poststratify'")
    return res


@dataclass
class RebalanceResult:
    """Outcome of PRISM's census rebalancing: the kept ``user_ids`` and the per-cell ``table``
    (``age, ethnicity, gender, census_pct, needed_raw, needed, available, taken, filled``).

    Example
    -------
    >>> import pandas as pd
    >>> r = RebalanceResult(pd.Index(["a"], name="user_id"), pd.DataFrame(), n_pool=2)
    >>> r.mask(pd.DataFrame({"user_id": ["a", "b"]})).tolist()
    [True, False]
    """

    user_ids: pd.Index
    table: pd.DataFrame
    n_pool: int

    def mask(self, survey: pd.DataFrame) -> np.ndarray:
        """Boolean array over ``survey`` rows: True for kept participants.

        Parameters
        ----------
        survey : pandas.DataFrame
            Any survey frame (``user_id`` column or index).

        Returns
        -------
        numpy.ndarray
            One boolean per row.

        Example
        -------
        >>> r = RebalanceResult(pd.Index(["b"], name="user_id"), pd.DataFrame(), n_pool=2)
        >>> r.mask(pd.DataFrame({"user_id": ["a", "b"]})).tolist()
        [False, True]
        """
        return np.asarray(_user_index(survey).isin(self.user_ids))


def prism_rebalance_pool(survey: pd.DataFrame, country: str) -> np.ndarray:
    """PRISM's eligible pool for census rebalancing (spec §3.3): not survey-only, in the balanced
    subset, recruited by the ``country`` study (``study_locale``), gender Male/Female. Columns that
    are absent are not filtered on.

    Parameters
    ----------
    survey : pandas.DataFrame
        The survey frame.
    country : str
        ``"US"`` or ``"UK"``.

    Returns
    -------
    numpy.ndarray
        Boolean mask over the survey rows.

    Example
    -------
    >>> import pandas as pd
    >>> s = pd.DataFrame({"study_locale": ["us", "uk", "us"], "gender": ["Male", "Male", "Non-binary / third gender"]})
    >>> prism_rebalance_pool(s, "US").tolist()
    [True, False, False]
    """
    country = census.normalise_country(country)
    ok = np.ones(len(survey), dtype=bool)
    if "survey_only" in survey.columns:
        ok &= ~survey["survey_only"].fillna(False).astype(bool).to_numpy()
    if "included_in_balanced_subset" in survey.columns:
        ok &= survey["included_in_balanced_subset"].fillna(False).astype(bool).to_numpy()
    if "study_locale" in survey.columns:
        ok &= (survey["study_locale"].astype(str).str.lower() == country.lower()).to_numpy()
    elif "location_reside_countryISO" in survey.columns:
        ok &= (survey["location_reside_countryISO"] == census.ISO3[country]).to_numpy()
    else:
        raise ConfigError("survey has neither study_locale nor location_reside_countryISO to find the country sample")
    ok &= survey["gender"].isin(census.GENDERS).to_numpy()
    return ok


def census_rebalance(
    survey: pd.DataFrame,
    country: str,
    *,
    n_total: int = 300,
    random_state: int = 42,
    pool: np.ndarray | pd.Series | None = None,
    ethnicity: str = "census",
    construction: str = "disjoint",
) -> RebalanceResult:
    """PRISM's census rebalancing by subsampling (App. L; spec §3.3): keep at most
    ``int(pct * n_total / 100) + 1`` participants per age x ethnicity x gender census cell,
    sampled with ``DataFrame.sample(n, random_state=42)``, or all of them when the cell has fewer.

    ``pool``: boolean mask of eligible rows (default :func:`prism_rebalance_pool`). Nothing is
    reweighted: the result lists who is kept. Applied to PRISM's survey with
    ``construction="prism"`` (PRISM's census table, which counts Hispanic adults of a non-White
    race twice) it reproduces the ``included_in_{US,UK}_REP`` flags (230 / 243 participants); the
    default US quotas come from the corrected, race x Hispanic origin disjoint table.

    Parameters
    ----------
    survey : pandas.DataFrame
        The survey frame.
    country : str
        ``"US"`` or ``"UK"``.
    n_total : int
        The target sample size the quotas are computed for (PRISM: 300).
    random_state : int
        Seed of ``DataFrame.sample`` (PRISM: 42).
    pool : array-like of bool, optional
        Eligible rows (default :func:`prism_rebalance_pool`).
    ethnicity : {"census", "detailed"}
        Ethnicity scheme of the cells.
    construction : {"disjoint", "prism"}
        The US census table the quotas come from (:func:`pluralis.census.targets.census_table`).

    Returns
    -------
    RebalanceResult
        The kept ``user_ids`` and the per-cell table.

    See Also
    --------
    pluralis.census.targets.cell_percentages : the census cells the quotas come from.

    Example
    -------
    >>> from pluralis.data.synthetic import generate_study
    >>> s = generate_study(n_participants=120, seed=2).frames().survey
    >>> r = census_rebalance(s, "US")
    >>> len(r.user_ids) <= r.n_pool
    True
    """
    country = census.normalise_country(country)
    if n_total <= 0:
        raise ConfigError(f"n_total must be positive, got {n_total}")
    mask = prism_rebalance_pool(survey, country) if pool is None else np.asarray(pool, dtype=bool)
    if mask.shape != (len(survey),):
        raise ConfigError(f"pool mask has shape {mask.shape}; expected ({len(survey)},)")
    study = survey[mask]
    cats = census_categories(study, country, ethnicity)
    cells = census.cell_percentages(country, ethnicity, construction)
    ids: list[str] = []
    rows = []
    uid = cats.index.to_numpy()
    frame = pd.DataFrame(
        {
            "user_id": uid,
            "age": cats["age"].to_numpy(),
            "gender": cats["gender"].to_numpy(),
            "ethnicity": cats["ethnicity"].to_numpy(),
        },
        index=study.index,
    )
    for age in cells.index:
        for col in [c for c in cells.columns if not c.startswith("All")]:
            eth, gender = col.split("_")
            sub = frame[(frame["age"] == age) & (frame["gender"] == gender) & (frame["ethnicity"] == eth)]
            pct = float(cells.loc[age, col])
            need = int(pct * n_total / 100) + 1
            if len(sub) >= need:
                taken = sub.sample(need, random_state=random_state)
            else:
                taken = sub
            ids += taken["user_id"].tolist()
            rows.append(
                {
                    "age": age,
                    "ethnicity": eth,
                    "gender": gender,
                    "census_pct": pct,
                    "needed_raw": pct * n_total / 100,
                    "needed": need,
                    "available": len(sub),
                    "taken": len(taken),
                    "filled": len(sub) >= need,
                }
            )
    return RebalanceResult(user_ids=pd.Index(ids, name="user_id"), table=pd.DataFrame(rows), n_pool=int(mask.sum()))


# --- hooks for weighted analyses -----------------------------------------------------------------


def row_weights(
    frame: pd.DataFrame, weights: pd.Series | None, key: str = "user_id", missing: str = "raise"
) -> np.ndarray:
    """Spread participant weights onto the rows of a table (utterances, battles, ...) by ``key``.

    The hook weighted analyses use: each battle/utterance counts with its rater's weight
    (:func:`pluralis.ranking.engine.rank_models` with ``weights=``).

    Parameters
    ----------
    frame : pandas.DataFrame
        The rows to weight; must have the ``key`` column when ``weights`` is given.
    weights : pandas.Series or None
        Participant weights indexed by participant id (e.g. :attr:`WeightingResult.weights`);
        ``None`` gives every row weight 1.
    key : str
        Column of ``frame`` holding the participant id.
    missing : {"raise", "zero"}
        What to do with rows whose participant has no weight: raise :class:`ConfigError`, or give
        them weight 0.

    Returns
    -------
    numpy.ndarray
        One finite, non-negative weight per row of ``frame``.

    See Also
    --------
    census_weights : participant weights raked or post-stratified to the census.

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
