"""What the draws mean for each population: welfare distributions, tables and FOSD (PRISM App. U).

The welfare of a stakeholder population p under the chosen model i is ``MEANRATING(p, i)`` (or
``MEANCHOICE``): the mean individual welfare over members who saw i (:func:`population_welfare`).
The draws of a scheme thus give a welfare distribution per population; :func:`summarise` tabulates
them, and schemes are compared by first-order stochastic dominance (:func:`fosd`, PRISM's
sorted-draw comparison) into a :class:`WelfareResult`.

Every figure estimated from the draws carries its Monte-Carlo error (:func:`monte_carlo_error`):
the standard error of the mean welfare over the ``n_draws`` independent draws and its 95 % CI,
a distribution-free 95 % CI of the median, and the standard error of the top model's share. It
measures how far a figure could move with another seed (shrinking as ``1/sqrt(n_draws)``), not the
sampling uncertainty of the study's participants.

Example
-------
>>> fosd([3, 2, 5], [1, 2, 3])
True
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from pluralis.errors import ConfigError
from pluralis.welfare.draws import TIE_TOLERANCE, Draws, WelfareMatrices
from pluralis.welfare.plots import plot_welfare
from pluralis.welfare.schemes import Design

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["WelfareResult", "fosd", "fosd_matrix", "monte_carlo_error", "population_welfare", "summarise"]

_PERCENTILES = (5, 25, 50, 75, 95)
_Z95 = 1.959963984540054  # standard normal 97.5 % quantile


# --- FOSD ----------------------------------------------------------------------------------------


def fosd(a: Sequence[float] | np.ndarray, b: Sequence[float] | np.ndarray, atol: float = 0.0) -> bool:
    """Whether the draws ``a`` first-order stochastically dominate the draws ``b``.

    Weak dominance: F_a(t) <= F_b(t) for all t. For equal sizes this is PRISM's sorted-draw test
    ``all(sorted(a) >= sorted(b))``; otherwise the empirical CDFs are compared on the pooled
    support. NaN draws make the test fail (the definition needs finite means). Values within
    ``atol`` count as equal (the welfare summaries pass a tiny fraction of the scale's width, so
    float rounding of equal welfare cannot flip the test when the scores are rescaled).

    Parameters
    ----------
    a, b : array-like of float
        Two non-empty samples of welfare draws.
    atol : float
        Absolute tolerance of the comparisons.

    Returns
    -------
    bool
        True when ``a`` weakly FOSDs ``b``.

    See Also
    --------
    fosd_matrix : the test for every ordered pair of samples.

    Example
    -------
    >>> fosd([3, 2, 5], [1, 2, 3]), fosd([1, 2, 3], [3, 2, 5]), fosd([1, 2], [1, 2])
    (True, False, True)
    """
    x = np.asarray(a, dtype=float)
    y = np.asarray(b, dtype=float)
    if x.size == 0 or y.size == 0:
        raise ConfigError("fosd needs two non-empty samples")
    if np.isnan(x).any() or np.isnan(y).any():
        return False
    x = np.sort(x)
    y = np.sort(y)
    if x.size == y.size:
        return bool(np.all(x >= y - atol))
    grid = np.union1d(x, y)
    fx = np.searchsorted(x, grid, side="right") / x.size
    fy = np.searchsorted(y, grid + atol, side="right") / y.size
    return bool(np.all(fx <= fy + 1e-12))


def fosd_matrix(samples: Mapping[str, Sequence[float] | np.ndarray], atol: float = 0.0) -> pd.DataFrame:
    """Pairwise FOSD of named samples.

    Parameters
    ----------
    samples : mapping of str to array-like
        Welfare draws by name (e.g. scheme).
    atol : float
        Absolute tolerance of the comparisons (:func:`fosd`).

    Returns
    -------
    pandas.DataFrame
        Boolean; cell (row a, column b) is True when a FOSDs b (the diagonal is True).

    See Also
    --------
    fosd : the test of one pair.

    Example
    -------
    >>> bool(fosd_matrix({"big": [2, 3], "small": [1, 3]}).loc["big", "small"])
    True
    """
    names = list(samples)
    srt = {k: np.sort(np.asarray(v, dtype=float)) for k, v in samples.items()}
    cells = [[fosd(srt[a], srt[b], atol) for b in names] for a in names]
    return pd.DataFrame(
        np.array(cells, dtype=bool).reshape(len(names), len(names)),
        index=pd.Index(names, name="dominates"),
        columns=pd.Index(names, name="dominated"),
    )


# --- Monte-Carlo error ---------------------------------------------------------------------------


def monte_carlo_error(draws: Sequence[float] | np.ndarray, level: float = 0.95) -> dict[str, float]:
    """Monte-Carlo error of the figures summarising independent welfare draws.

    The draws of a scheme are independent given the data, so the mean's standard error is
    ``sd / sqrt(R)`` (normal CI), and the median's CI comes from order statistics (the binomial
    ranks around R/2: exact coverage of at least ``level``, whatever the distribution).

    Parameters
    ----------
    draws : array-like of float
        The welfare of each draw (NaN draws are left out).
    level : float
        Coverage of the intervals.

    Returns
    -------
    dict
        ``mean_se, mean_ci_low, mean_ci_high, median_ci_low, median_ci_high`` (NaN when there are
        fewer than two finite draws).

    Example
    -------
    >>> err = monte_carlo_error(np.arange(100.0))
    >>> round(err["mean_se"], 3), round(err["mean_ci_low"], 2), round(err["mean_ci_high"], 2)
    (2.901, 43.81, 55.19)
    >>> err["median_ci_low"], err["median_ci_high"]
    (39.0, 60.0)
    """
    from scipy.stats import binom, norm

    x = np.sort(np.asarray(draws, dtype=float))
    x = x[np.isfinite(x)]
    n = x.size
    if n < 2:
        return dict.fromkeys(("mean_se", "mean_ci_low", "mean_ci_high", "median_ci_low", "median_ci_high"), np.nan)
    z = _Z95 if level == 0.95 else float(norm.ppf(0.5 + level / 2))
    mean = float(x.mean())
    se = float(x.std(ddof=1) / np.sqrt(n))
    lo_rank = int(binom.ppf((1 - level) / 2, n, 0.5))  # x[lo_rank - 1] <= median < x[n - lo_rank], 1-based
    lo_rank = max(lo_rank, 1)
    return {
        "mean_se": se,
        "mean_ci_low": mean - z * se,
        "mean_ci_high": mean + z * se,
        "median_ci_low": float(x[lo_rank - 1]),
        "median_ci_high": float(x[n - lo_rank]),
    }


# --- population welfare --------------------------------------------------------------------------


def population_welfare(
    matrix: pd.DataFrame, members: Sequence[str] | np.ndarray | pd.Index, weights: pd.Series | None = None
) -> pd.Series:
    """MEANRATING / MEANCHOICE of a population for every model (PRISM ``W.reindex(pop).mean()``).

    Parameters
    ----------
    matrix : pandas.DataFrame
        Individual welfare, participants x models (NaN = unseen).
    members : sequence of str
        The population's participant ids (ids not in ``matrix`` saw nothing).
    weights : pandas.Series, optional
        Participant weights by id; members without one count with weight 0.

    Returns
    -------
    pandas.Series
        Per model, the (weighted) mean individual welfare over members who saw it; NaN if none did.

    Example
    -------
    >>> import numpy as np, pandas as pd
    >>> W = pd.DataFrame({"m1": [80.0, np.nan], "m2": [40.0, 60.0]}, index=["a", "b"])
    >>> population_welfare(W, ["a", "b", "zz"]).tolist()
    [80.0, 50.0]
    """
    sub = matrix.reindex(pd.Index(members).astype(str))
    vals = sub.to_numpy(dtype=float)
    seen = ~np.isnan(vals)
    w = (
        np.ones(len(sub))
        if weights is None
        else pd.Series(weights, dtype=float).reindex(sub.index).fillna(0).to_numpy()
    )
    num = (np.where(seen, vals, 0.0) * w[:, None]).sum(0)
    den = (seen * w[:, None]).sum(0)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.where(den > 0, num / np.where(den > 0, den, 1), np.nan)
    return pd.Series(out, index=matrix.columns, name="welfare")


def _rank_desc(values: np.ndarray, atol: float) -> np.ndarray:
    """Ranks from the top (``method="min"``) where values within ``atol`` tie; NaN stays NaN.

    Float rounding must not split or join ties: ranks then do not depend on the scores' units.
    """
    v = np.asarray(values, dtype=float)
    ok = ~np.isnan(v)
    above = (v[None, ok] > v[:, None] + atol).sum(axis=1)
    return np.where(ok, 1.0 + above, np.nan)


# --- results -------------------------------------------------------------------------------------


@dataclass
class WelfareResult:
    """Outcome of :func:`pluralis.welfare.engine.run_welfare`.

    - ``draws``: one row per draw: ``measure, population, scheme, draw, model, welfare``.
    - ``summary``: per (measure, population, scheme): ``n, pool_size, mean, sd, p05, p25, median,
      p75, p95, min, max, top_model, top_model_share, fosd_by_reference`` (the reference scheme
      FOSDs this one: red in Fig. 5), ``fosds_reference`` (this one FOSDs the reference),
      ``prefer_other`` (choice only: 1 - mean welfare, the share who would pick another model),
      and the Monte-Carlo error of those figures (:func:`monte_carlo_error`): ``mean_se``,
      ``mean_ci_low``, ``mean_ci_high``, ``median_ci_low``, ``median_ci_high``,
      ``top_model_share_se``, ``prefer_other_se``.
    - ``model_welfare``: the population welfare vector w(p) per model with its rank.
    - ``best``: per (measure, population): the model with the highest welfare, its welfare and,
      for MEANCHOICE, ``prefer_other = 1 - best`` (PRISM: 0.46 is the best US MEANCHOICE, so a
      majority prefers another model whichever is chosen).
    - ``fosd``: all ordered scheme pairs with ``dominates`` (weak FOSD).

    Example
    -------
    >>> from pluralis.data.synthetic import generate_study
    >>> from pluralis.welfare.engine import run_welfare
    >>> f = generate_study(n_participants=200, seed=0).frames()
    >>> r = run_welfare(f.utterances, f.survey, n_draws=20, measures=["rating"], allow_oversample=True)
    >>> len(r.draws) == 7 * 4 * 20, list(r.best.columns)[:3]
    (True, ['measure', 'population', 'best_model'])
    >>> bool((r.summary["mean_se"] > 0).any()), bool((r.summary["mean_ci_low"] <= r.summary["mean"]).all())
    (True, True)
    """

    draws: pd.DataFrame
    summary: pd.DataFrame
    model_welfare: pd.DataFrame
    best: pd.DataFrame
    fosd: pd.DataFrame
    config: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def table(
        self,
        measure: str = "rating",
        marks: bool = True,
        digits: int | None = None,
        error: bool = True,
        value: str = "mean",
    ) -> pd.DataFrame:
        """PRISM-style table (spec §7.8): populations x schemes of mean welfare.

        With ``marks``, each cell reads ``mean ±se`` (the Monte-Carlo standard error over the
        draws, with ``error``), then ``D`` when the reference scheme FOSDs the scheme and ``d``
        when the scheme FOSDs the reference; ``max`` is the best achievable welfare of the
        population (a property of the data, without Monte-Carlo error).

        Parameters
        ----------
        measure : {"rating", "choice"}
            The measure to tabulate.
        marks : bool
            Format the means as text with the FOSD marks; ``False`` gives plain numbers.
        digits : int, optional
            Decimals (default 2 for ratings, 3 for choices; ``max`` gets one more for choices).
        error : bool
            With ``marks``, show the Monte-Carlo standard error of each mean.
        value : str
            Without ``marks``, the summary column to tabulate (``"mean"``, ``"mean_se"``,
            ``"mean_ci_low"``, ``"median"``, ...).

        Returns
        -------
        pandas.DataFrame
            Populations x (schemes + ``max``).

        Example
        -------
        >>> from pluralis.data.synthetic import generate_study
        >>> from pluralis.welfare.engine import run_welfare
        >>> f = generate_study(n_participants=200, seed=0).frames()
        >>> r = run_welfare(f.utterances, f.survey, n_draws=50, measures=["choice"], allow_oversample=True)
        >>> t = r.table("choice")
        >>> list(t.columns)[-1], " ±" in t.iloc[0, 0]
        ('max', True)
        >>> r.table("choice", marks=False, value="mean_se").shape
        (4, 8)
        """
        if measure not in set(self.summary["measure"]):
            raise ConfigError(f"no results for measure {measure!r}")
        if not marks and value not in self.summary.columns:
            raise ConfigError(f"no summary column {value!r}; columns: {', '.join(map(str, self.summary.columns))}")
        s = self.summary[self.summary["measure"] == measure]
        digits = digits if digits is not None else (2 if measure == "rating" else 3)
        best_digits = digits if measure == "rating" else digits + 1
        best = self.best[self.best["measure"] == measure].set_index("population")["best_welfare"]
        rows: dict[str, dict[str, Any]] = {}
        for r in s.itertuples(index=False):  # one row per (population, scheme): a handful
            row = rows.setdefault(str(r.population), {})
            if marks:
                mark = " D" if r.fosd_by_reference else (" d" if r.fosds_reference else "")
                mean_se = float(r.mean_se)  # type: ignore[arg-type]
                se = f" ±{mean_se:.{digits}f}" if error and np.isfinite(mean_se) else ""
                row[str(r.scheme)] = f"{r.mean:.{digits}f}{se}{mark}"
            else:
                row[str(r.scheme)] = getattr(r, value)
        for pop, row in rows.items():
            row["max"] = f"{best[pop]:.{best_digits}f}" if marks else best[pop]
        out = pd.DataFrame.from_dict(rows, orient="index")
        out.index.name = "population"
        return out

    def plot(self, path: str | Path | None = None, **kwargs: Any) -> Figure:
        """Violin plots like PRISM Fig. 5 (see :func:`pluralis.welfare.plots.plot_welfare`).

        Parameters
        ----------
        path : str or pathlib.Path, optional
            Where to save the figure.
        **kwargs
            Options of :func:`~pluralis.welfare.plots.plot_welfare`.

        Returns
        -------
        matplotlib.figure.Figure
            The figure.

        Example
        -------
        >>> from pluralis.data.synthetic import generate_study
        >>> from pluralis.welfare.engine import run_welfare
        >>> f = generate_study(n_participants=150, seed=0).frames()
        >>> len(run_welfare(f.utterances, f.survey, n_draws=20, measures=["choice"], allow_oversample=True).plot().axes)
        4
        """
        return plot_welfare(self, path=path, **kwargs)


def _draws_frame(draws: Draws, welfare: dict[tuple[str, str, str], np.ndarray], design: Design) -> pd.DataFrame:
    """One tidy frame of all draws (categorical labels), built in one go."""
    keys = list(draws.winners)
    n = draws.n_draws

    def labels(position: int, categories: list[str]) -> pd.Categorical[str]:
        codes = np.repeat([categories.index(k[position]) for k in keys], n)
        return pd.Categorical.from_codes(codes, categories=pd.Index(categories))

    return pd.DataFrame(
        {
            "measure": labels(0, list(draws.measures)),
            "population": labels(1, list(design.populations)),
            "scheme": labels(2, [p.scheme.name for p in design.pools]),
            "draw": np.tile(np.arange(n), len(keys)),
            "model": pd.Categorical.from_codes(
                np.concatenate([draws.winners[k] for k in keys]), categories=pd.Index(draws.models)
            ),
            "welfare": np.concatenate([welfare[k] for k in keys]),
        }
    )


def _scheme_row(
    d: np.ndarray, winners: np.ndarray, ref: np.ndarray | None, models: list[str], atol: float = 0.0
) -> dict[str, Any]:
    """Summary statistics of one scheme's welfare draws ``d`` for one population."""
    top = np.bincount(winners, minlength=len(models))
    fin = d[np.isfinite(d)]
    q = np.percentile(fin, _PERCENTILES) if fin.size else [np.nan] * len(_PERCENTILES)
    share = float(top.max() / len(d))
    return {
        "mean": float(fin.mean()) if fin.size else np.nan,
        "sd": float(fin.std(ddof=1)) if fin.size > 1 else np.nan,
        "p05": q[0],
        "p25": q[1],
        "median": q[2],
        "p75": q[3],
        "p95": q[4],
        "min": float(fin.min()) if fin.size else np.nan,
        "max": float(fin.max()) if fin.size else np.nan,
        "top_model": models[int(top.argmax())],
        "top_model_share": share,
        "fosd_by_reference": bool(ref is not None and fosd(ref, d, atol)),
        "fosds_reference": bool(ref is not None and fosd(d, ref, atol)),
        **monte_carlo_error(fin),
        "top_model_share_se": float(np.sqrt(share * (1 - share) / len(d))),
    }


def summarise(
    matrices: WelfareMatrices,
    design: Design,
    draws: Draws,
    *,
    reference: str | None = None,
    config: Mapping[str, Any] | None = None,
) -> WelfareResult:
    """Welfare tables of a design's draws: distributions, model welfare, best model and FOSD.

    Parameters
    ----------
    matrices : WelfareMatrices
        The individual welfare the draws were scored on.
    design : Design
        The pools and populations (:func:`pluralis.welfare.schemes.resolve`).
    draws : Draws
        The chosen models (:func:`pluralis.welfare.draws.draw`).
    reference : str, optional
        The scheme the ``fosd_by_reference`` / ``fosds_reference`` flags compare with
        (PRISM: ``"Rep (100)"``); ``None`` leaves the flags False.
    config : mapping, optional
        What produced the result, kept as :attr:`WelfareResult.config`.

    Returns
    -------
    WelfareResult
        Draws, summary, model welfare, best model and pairwise FOSD per (measure, population).

    See Also
    --------
    pluralis.welfare.engine.run_welfare : resolve, draw and summarise in one call.

    Example
    -------
    >>> from pluralis.data.synthetic import generate_study
    >>> from pluralis.welfare.draws import draw, welfare_matrices
    >>> from pluralis.welfare.schemes import resolve
    >>> f = generate_study(n_participants=200, seed=0).frames()
    >>> m, design = welfare_matrices(f.utterances), resolve(f.survey, allow_oversample=True)
    >>> res = summarise(m, design, draw(m, design, measures=["choice"], n_draws=20), reference="Rep (100)")
    >>> res.summary.shape[0], res.table("choice").shape
    (28, (4, 8))
    """
    models = draws.models
    pool_size = {p.scheme.name: p.size for p in design.pools}
    scheme_n = {p.scheme.name: p.scheme.n for p in design.pools}
    welfare: dict[tuple[str, str, str], np.ndarray] = {}
    summary_rows, mw_rows, best_rows, fosd_rows = [], [], [], []
    for measure in draws.measures:
        W = matrices[measure]
        lo, hi = matrices.scale_of(measure)
        atol = TIE_TOLERANCE * (hi - lo)
        for population, members in design.populations.items():
            wp = population_welfare(W, members, design.weights)
            if wp.isna().all():
                raise ConfigError(f"population {population!r} has no {measure} data (no member rated any model)")
            mw_rows.append(
                pd.DataFrame(
                    {
                        "measure": measure,
                        "population": population,
                        "model": models,
                        "welfare": wp.to_numpy(),
                        "rank": _rank_desc(wp.to_numpy(), atol),
                        "n_members": len(members),
                        "n_raters": W.reindex(pd.Index(members)).notna().sum().to_numpy(),
                    }
                )
            )
            best_welfare = float(wp.max())
            top = int(np.flatnonzero(wp.to_numpy() >= best_welfare - atol)[0])  # first of the tied best
            best_rows.append(
                {
                    "measure": measure,
                    "population": population,
                    "best_model": models[top],
                    "best_welfare": best_welfare,
                    "prefer_other": (1 - best_welfare) if measure == "choice" else np.nan,
                }
            )
            wvec = wp.to_numpy()
            per_scheme = {s: wvec[draws.winners[(measure, population, s)]] for s in pool_size}
            ref = per_scheme.get(reference) if reference else None
            for scheme, d in per_scheme.items():
                key = (measure, population, scheme)
                welfare[key] = d
                stats = _scheme_row(d, draws.winners[key], None if scheme == reference else ref, models, atol)
                summary_rows.append(
                    {
                        "measure": measure,
                        "population": population,
                        "scheme": scheme,
                        "n": scheme_n[scheme],
                        "pool_size": pool_size[scheme],
                        "draws": draws.n_draws,
                        **stats,
                        "prefer_other": (1 - stats["mean"]) if measure == "choice" else np.nan,
                        "prefer_other_se": stats["mean_se"] if measure == "choice" else np.nan,
                        "n_nan": int(np.isnan(d).sum()),
                    }
                )
            dominates = fosd_matrix(per_scheme, atol)
            fosd_rows += [
                {
                    "measure": measure,
                    "population": population,
                    "scheme": a,
                    "other": b,
                    "dominates": bool(dominates.loc[a, b]),
                }
                for a in per_scheme
                for b in per_scheme
                if a != b
            ]
    summary = pd.DataFrame(summary_rows)
    notes = list(design.notes)
    if summary["n_nan"].sum():
        notes.append(
            f"{int(summary['n_nan'].sum())} draws chose a model no member of the population rated (welfare NaN)"
        )
    return WelfareResult(
        draws=_draws_frame(draws, welfare, design),
        summary=summary,
        model_welfare=pd.concat(mw_rows, ignore_index=True),
        best=pd.DataFrame(best_rows),
        fosd=pd.DataFrame(fosd_rows, columns=["measure", "population", "scheme", "other", "dominates"]).astype(
            {"dominates": bool}
        ),
        config=dict(config or {}),
        notes=notes,
    )
