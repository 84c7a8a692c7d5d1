"""Plots for representativeness, weights and welfare (PRISM Fig. 5, 8, 38, 39). Matplotlib, Agg backend.

Example
-------
>>> from pluralis.data.synthetic import generate_study
>>> from pluralis.welfare.engine import run_welfare
>>> f = generate_study(n_participants=200, seed=0).frames()
>>> fig = plot_welfare(run_welfare(f.utterances, f.survey, n_draws=50, allow_oversample=True))
>>> len(fig.axes)
8
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from pluralis.census.representativeness import RepresentativenessReport, effective_sample_size
from pluralis.errors import ConfigError
from pluralis.figures import save_figure

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from pluralis.welfare.summaries import WelfareResult

PathArg = str | Path | None

__all__ = ["COLOURS", "plot_representativeness", "plot_weights", "plot_welfare"]

#: Fig. 5 colours: the reference scheme, schemes it FOSDs, others.
COLOURS = {"reference": "#1f77b4", "dominated": "#d62728", "other": "#9e9e9e", "dominates": "#2ca02c"}
_MEASURE_TITLE = {"rating": "Rating (MEANRATING)", "choice": "Choice (MEANCHOICE)"}
#: x-axis labels with units, in plain language.
_MEASURE_AXIS = {
    "rating": "population's mean rating of the picked model (rating scale)",
    "choice": "share of the population's choices won by the picked model (0-1)",
}


def _pyplot() -> Any:
    import matplotlib

    if matplotlib.get_backend().lower() not in (
        "agg",
        "pdf",
        "svg",
        "cairo",
        "module://matplotlib_inline.backend_inline",
    ):
        matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def _scheme_colour(scheme: str, reference: str | None, flags: pd.DataFrame) -> str:
    """Fig. 5 colour of a scheme given its FOSD flags against the reference."""
    if scheme == reference:
        return COLOURS["reference"]
    if scheme in flags.index and flags.loc[scheme, "fosd_by_reference"]:
        return COLOURS["dominated"]
    if scheme in flags.index and flags.loc[scheme, "fosds_reference"]:
        return COLOURS["dominates"]
    return COLOURS["other"]


def _violin(ax: Any, d: np.ndarray, y: int, colour: str, *, shape: str, bw_method: float) -> None:
    """One horizontal violin of the finite draws ``d`` at height ``y``, with its IQR bar and mean dot."""
    body_data = np.percentile(d, [5, 25, 50, 75, 95]) if shape == "percentiles" else d
    if np.ptp(body_data) > 0:
        parts = ax.violinplot(
            [body_data], positions=[y], orientation="horizontal", widths=0.85, showextrema=False, bw_method=bw_method
        )
        for body in parts["bodies"]:
            body.set_facecolor(colour)
            body.set_edgecolor(colour)
            body.set_alpha(0.55)
    else:
        ax.plot([d[0]], [y], marker="|", markersize=18, color=colour)
    q1, q3 = np.percentile(d, [25, 75])
    ax.plot([q1, q3], [y, y], color="black", linewidth=2.5, solid_capstyle="butt")
    ax.plot([d.mean()], [y], "o", color="white", markeredgecolor="black", markersize=4)


def plot_welfare(
    result: WelfareResult,
    path: PathArg = None,
    *,
    measures: Sequence[str] | None = None,
    populations: Sequence[str] | None = None,
    reference: str | None = None,
    bw_method: float = 0.5,
    panel_size: tuple[float, float] = (3.4, 2.6),
    shape: str = "draws",
    share_x: bool = True,
) -> Figure:
    """Violin plots of welfare distributions (PRISM Fig. 5).

    One panel per (measure, population), one violin per scheme: the reference scheme in blue,
    schemes it FOSDs in red, schemes that FOSD it in green, others grey; a dot marks the mean and
    a bar the inter-quartile range.

    Parameters
    ----------
    result : WelfareResult
        The outcome of :func:`pluralis.welfare.engine.run_welfare`.
    path : str or path-like, optional
        Where to save the figure.
    measures, populations : sequence of str, optional
        Panels to draw (default: all of the result's).
    reference : str, optional
        The reference scheme (default: the result's).
    bw_method : float
        Kernel bandwidth of the violins.
    panel_size : tuple of float
        Width and height of one panel, in inches.
    shape : {"draws", "percentiles"}
        ``"draws"`` draws each violin as a kernel density of all draws; ``"percentiles"``, as
        PRISM's notebook 11a does, a density of the 5/25/50/75/95th percentiles only.
    share_x : bool
        Panels of one measure share the welfare axis (as Fig. 5), so populations compare.

    Returns
    -------
    matplotlib.figure.Figure
        The figure (also saved when ``path`` is given).

    See Also
    --------
    pluralis.welfare.summaries.WelfareResult.plot : the same, as a method.

    Example
    -------
    >>> from pluralis.data.synthetic import generate_study
    >>> from pluralis.welfare.engine import run_welfare
    >>> f = generate_study(n_participants=150, seed=1).frames()
    >>> r = run_welfare(f.utterances, f.survey, n_draws=30, measures=["choice"], allow_oversample=True)
    >>> plot_welfare(r).axes[0].get_title()
    'Choice (MEANCHOICE): Rep'
    """
    if shape not in ("draws", "percentiles"):
        raise ConfigError(f"shape must be 'draws' or 'percentiles', got {shape!r}")
    plt = _pyplot()
    s = result.summary
    draws = result.draws
    measures = list(measures or dict.fromkeys(s["measure"]))
    populations = list(populations or dict.fromkeys(s["population"]))
    schemes = list(dict.fromkeys(s["scheme"]))
    reference = reference or result.config.get("reference")
    fig, axes = plt.subplots(
        len(measures),
        len(populations),
        figsize=(panel_size[0] * len(populations), panel_size[1] * len(measures)),
        squeeze=False,
        sharey=True,
    )
    grouped = {
        k: g["welfare"].to_numpy(dtype=float)
        for k, g in draws.groupby(["measure", "population", "scheme"], observed=True)
    }
    for i, measure in enumerate(measures):
        for j, pop in enumerate(populations):
            ax = axes[i, j]
            flags = s[(s["measure"] == measure) & (s["population"] == pop)].set_index("scheme")
            for k, sch in enumerate(schemes):
                d = grouped.get((measure, pop, sch), np.array([]))
                d = d[np.isfinite(d)]
                if d.size:
                    colour = _scheme_colour(sch, reference, flags)
                    _violin(ax, d, len(schemes) - 1 - k, colour, shape=shape, bw_method=bw_method)
            ax.set_title(f"{_MEASURE_TITLE.get(measure, measure)}: {pop}", fontsize=9)
            ax.set_yticks(range(len(schemes)))
            ax.set_yticklabels(list(reversed(schemes)), fontsize=8)
            ax.tick_params(axis="x", labelsize=8)
            ax.grid(axis="x", alpha=0.3)
        axes[i, 0].set_ylabel("seat of power", fontsize=8)
        axes[i, len(populations) // 2].set_xlabel(_MEASURE_AXIS.get(measure, "welfare"), fontsize=8, loc="left")
        if share_x:
            parts_x = [v[np.isfinite(v)] for (m, p, _), v in grouped.items() if m == measure and p in populations]
            row = np.concatenate(parts_x) if parts_x else np.array([])
            if row.size and np.ptp(row) > 0:
                pad = 0.04 * np.ptp(row)
                for ax in axes[i]:
                    ax.set_xlim(row.min() - pad, row.max() + pad)
    from matplotlib.patches import Patch

    handles = [
        Patch(color=COLOURS["reference"], label=f"reference sample: {reference}"),
        Patch(color=COLOURS["dominated"], label=f"worse than {reference} (dominated)"),
        Patch(color=COLOURS["dominates"], label=f"better than {reference} (dominates it)"),
        Patch(color=COLOURS["other"], label="no clear difference"),
    ]
    fig.legend(handles=handles, loc="lower center", ncol=2, fontsize=8, frameon=False)
    country = result.config.get("country")
    fig.suptitle(
        f"Welfare of populations by who sits in the seat of power{f' ({country})' if country else ''}", fontsize=11
    )
    fig.tight_layout(rect=(0, 0.08, 1, 0.96))
    return save_figure(fig, path)


def plot_representativeness(
    report: RepresentativenessReport, path: PathArg = None, *, level: str = "joint", top: int | None = None
) -> Figure:
    """Observed minus census share (percentage points) per census cell or margin (PRISM Fig. 8).

    Bars to the right are over-represented groups.

    Parameters
    ----------
    report : RepresentativenessReport
        From :func:`pluralis.census.representativeness.representativeness`.
    path : str or path-like, optional
        Where to save the figure.
    level : str
        ``"joint"``, ``"margins"`` (all one-way margins) or one margin name.
    top : int, optional
        Keep only the ``top`` largest absolute differences.

    Returns
    -------
    matplotlib.figure.Figure
        The figure (also saved when ``path`` is given).

    Example
    -------
    >>> import pandas as pd
    >>> from pluralis.census.representativeness import representativeness
    >>> s = pd.DataFrame({"user_id": ["a", "b"], "age": ["18-24 years old"] * 2,
    ...                   "gender": ["Male", "Female"], "ethnicity_categorised": ["White", "Asian"]})
    >>> fig = plot_representativeness(representativeness(s, "UK"), level="margins")
    >>> fig.axes[0].get_xlabel()
    'observed - census (pp)'
    """
    plt = _pyplot()
    t = report.table
    if level == "margins":
        t = t[t["level"] != "joint"]
        labels = t["level"] + ": " + t["category"]
    else:
        if level not in set(t["level"]):
            raise ConfigError(
                f"unknown level {level!r}; expected 'joint', 'margins' or one of {sorted(set(t['level']))}"
            )
        t = t[t["level"] == level]
        labels = t["category"]
    t = t.assign(label=labels.to_numpy())
    if top is not None:
        t = t.reindex(t["difference_pp"].abs().sort_values(ascending=False).index[:top])
    fig, ax = plt.subplots(figsize=(7, max(2.5, 0.22 * len(t) + 1)))
    y = np.arange(len(t))[::-1]
    colours = np.where(t["difference_pp"].to_numpy() >= 0, COLOURS["reference"], COLOURS["dominated"])
    ax.barh(y, t["difference_pp"].to_numpy(), color=colours)
    ax.set_yticks(y)
    ax.set_yticklabels(t["label"].tolist(), fontsize=7)
    ax.axvline(0, color="black", linewidth=0.8)
    ax.set_xlabel("observed - census (pp)")
    tvd = report.tvd.get(level if level != "margins" else "age", np.nan)
    ax.set_title(
        f"{report.country}: sample vs census (n={report.n}"
        + (f", ESS={report.ess:.0f}" if report.weighted else "")
        + (f", TVD={tvd:.3f}" if level != "margins" else "")
        + ")",
        fontsize=10,
    )
    fig.tight_layout()
    return save_figure(fig, path)


def plot_weights(weights: pd.Series, path: PathArg = None, *, bins: int = 30) -> Figure:
    """Histogram of positive weights with the Kish effective sample size in the title.

    Parameters
    ----------
    weights : pandas.Series
        Participant weights (zeros are left out).
    path : str or path-like, optional
        Where to save the figure.
    bins : int
        Histogram bins.

    Returns
    -------
    matplotlib.figure.Figure
        The figure (also saved when ``path`` is given).

    Example
    -------
    >>> import pandas as pd
    >>> plot_weights(pd.Series([0.5, 1.0, 1.5])).axes[0].get_xlabel()
    'weight'
    """
    plt = _pyplot()
    w = pd.Series(weights, dtype=float)
    w = w[w > 0]
    fig, ax = plt.subplots(figsize=(5, 3))
    ax.hist(w.to_numpy(), bins=bins, color=COLOURS["reference"], alpha=0.8)
    ax.set_xlabel("weight")
    ax.set_ylabel("participants")
    ax.set_title(f"n={len(w)}, ESS={effective_sample_size(w.to_numpy()):.1f}, max={w.max():.2f}", fontsize=10)
    fig.tight_layout()
    return save_figure(fig, path)
