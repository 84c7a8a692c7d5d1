"""Plots for model rankings (matplotlib, no display needed: figures render with Agg).

* :func:`plot_subgroup_ranks` — each model's rank with its bootstrap CI in every subgroup, next
  to the overall rank (PRISM Fig. 4B/C); significant shifts are filled, others hollow.
* :func:`plot_scores` — point estimates with percentile intervals (forest plot, Fig. 37c).
* :func:`plot_score_distribution` — box plots of bootstrap / random-n draws (Fig. 4A).
* :func:`plot_sensitivity` — rank of each model across settings (Fig. 32/33).
* :func:`plot_contrasts` — group-vs-group differences of each model's score with their intervals.

Every function returns the :class:`~matplotlib.figure.Figure` and, given ``path``, saves it;
the format follows the extension (``.png``, ``.svg``, ``.pdf``). Score axes are labelled, and a
reference score (PRC's uniform ``1/n``) is drawn, from the method's
:class:`~pluralis.ranking.registry.Aggregator`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd  # noqa: F401  (used by the examples)
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from pluralis.errors import ConfigError
from pluralis.figures import save_figure
from pluralis.ranking.contrasts import most_certain_first
from pluralis.ranking.registry import Aggregator, get_aggregator


def _aggregator(method: str) -> Aggregator | None:
    """The registered aggregator called ``method`` (None for an empty or unknown name)."""
    if not method:
        return None
    try:
        return get_aggregator(method)
    except ConfigError:
        return None


def _score_label(method: str, extra: str = "") -> str:
    agg = _aggregator(method)
    label = agg.axis_label if agg is not None else "score" + (f" ({method})" if method else "")
    return label + extra


def _err(center, lo, hi) -> np.ndarray:
    """Error-bar lengths; a point estimate can fall outside its percentile interval, so clip at 0."""
    c = np.asarray(center, dtype=float)
    return np.vstack(
        [np.clip(c - np.asarray(lo, dtype=float), 0, None), np.clip(np.asarray(hi, dtype=float) - c, 0, None)]
    )


def plot_subgroup_ranks(
    result, path: str | Path | None = None, *, title: str | None = None, by: str | None = None
) -> Figure:
    """Ranks with CIs per subgroup, one row per model (best overall at the top).

    ``result`` is a :class:`~pluralis.ranking.subgroups.SubgroupResult` or its ``table``.
    ``by`` restricts to one grouping field.

    Parameters
    ----------
    result
        subgroup result or table.
    path
        file to save (``.png``, ``.svg``, ``.pdf``), or None.
    title, by
        the title; one grouping field only.

    Returns
    -------
    matplotlib.figure.Figure

    Example
    -------
    >>> t = pd.DataFrame({"by": ["(all)", "(all)", "g", "g"], "group": ["(all)", "(all)", "a", "a"],
    ...     "model": ["x", "y", "x", "y"], "rank": [1, 2, 2, 1], "rank_lo": [1, 1, 1, 1], "rank_hi": [2, 2, 2, 2],
    ...     "overall_rank": [1, 2, 1, 2], "significant": [None, None, False, False]})
    >>> fig = plot_subgroup_ranks(t)
    >>> len(fig.axes)
    1
    """
    table = result.table if hasattr(result, "table") else result
    overall = table[table["by"] == "(all)"].sort_values("rank")
    groups = table[table["by"] != "(all)"]
    if by is not None:
        groups = groups[groups["by"] == by]
    models = overall["model"].tolist()
    keys = list(dict.fromkeys(zip(groups["by"], groups["group"])))
    n_models = len(models)
    fig = Figure(figsize=(7.5, 0.32 * n_models + 1.6))
    ax = fig.add_subplot(1, 1, 1)
    ypos = {m: i for i, m in enumerate(models)}
    k = len(keys)
    offsets = np.linspace(-0.3, 0.3, k) if k > 1 else np.zeros(1)
    colors = [f"C{i % 10}" for i in range(k)]
    if "rank_lo" in overall.columns and overall["rank_lo"].notna().any():
        ax.errorbar(
            overall["rank"],
            [ypos[m] for m in overall["model"]],
            xerr=_err(overall["rank"], overall["rank_lo"], overall["rank_hi"]),
            fmt="none",
            ecolor="black",
            elinewidth=1.5,
            alpha=0.5,
        )
    ax.scatter(overall["rank"], [ypos[m] for m in overall["model"]], s=70, color="black", zorder=3, label="overall")
    for (field, group), off, color in zip(keys, offsets, colors):
        g = groups[(groups["by"] == field) & (groups["group"] == group)]
        g = g[g["model"].isin(ypos)]
        y = np.array([ypos[m] for m in g["model"]]) + off
        if "rank_lo" in g.columns and g["rank_lo"].notna().any():
            ax.errorbar(
                g["rank"],
                y,
                xerr=_err(g["rank"], g["rank_lo"], g["rank_hi"]),
                fmt="none",
                ecolor=color,
                elinewidth=0.8,
                alpha=0.7,
            )
        sig = (
            g["significant"].fillna(False).astype(bool).to_numpy()
            if "significant" in g.columns
            else np.zeros(len(g), bool)
        )
        ax.scatter(g["rank"].to_numpy()[sig], y[sig], s=28, color=color, zorder=4)
        ax.scatter(
            g["rank"].to_numpy()[~sig],
            y[~sig],
            s=28,
            facecolors="white",
            edgecolors=color,
            zorder=4,
            label=f"{group}" if k <= 12 or field == keys[0][0] else None,
        )
    ax.set_yticks(range(n_models))
    ax.set_yticklabels(models)
    ax.invert_yaxis()
    ax.set_xlabel("rank (1 = most preferred); filled = shift significant vs overall")
    ax.set_xlim(0.5, n_models + 0.5)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(axis="x", alpha=0.3)
    ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), fontsize=8, frameon=False)
    method = table.attrs.get("method", "")
    ax.set_title(title or f"Model ranks by subgroup{f' ({method})' if method else ''}")
    return save_figure(fig, path)


def plot_scores(
    result, path: str | Path | None = None, *, title: str | None = None, reference: float | None = None
) -> Figure:
    """Forest plot: each model's score with its percentile interval, best at the top.

    ``result`` is a :class:`~pluralis.ranking.uncertainty.BootstrapResult` or its ``summary()``.
    ``reference`` draws a vertical line (default: the method's reference score, e.g. PRC's
    ``1/n``, "uniform").

    Parameters
    ----------
    result
        bootstrap result, its summary, or a :func:`~pluralis.ranking.engine.rank_models` table.
    path
        file to save, or None.
    title, reference
        the title; a reference score to draw (default: the method's).

    Returns
    -------
    matplotlib.figure.Figure

    Example
    -------
    >>> s = pd.DataFrame({"model": ["x", "y"], "score": [.6, .4], "score_lo": [.5, .3], "score_hi": [.7, .5], "rank": [1, 2]})
    >>> len(plot_scores(s).axes)
    1
    """
    summary = result.summary() if hasattr(result, "summary") else result
    method = getattr(result, "method", summary.attrs.get("method", ""))
    s = summary.sort_values("rank")
    fig = Figure(figsize=(6.5, 0.3 * len(s) + 1.4))
    ax = fig.add_subplot(1, 1, 1)
    y = np.arange(len(s))
    if "score_lo" in s.columns:
        ax.errorbar(
            s["score"],
            y,
            xerr=_err(s["score"], s["score_lo"], s["score_hi"]),
            fmt="o",
            color="C0",
            ecolor="C0",
            capsize=2,
        )
    else:
        ax.plot(s["score"], y, "o", color="C0")
    agg = _aggregator(method)
    if reference is None and agg is not None:
        reference = agg.reference_score(len(s))
    if reference is not None:
        ax.axvline(reference, color="grey", ls="--", lw=1)
    ax.set_yticks(y)
    ax.set_yticklabels(s["model"])
    ax.invert_yaxis()
    ax.set_xlabel(_score_label(method))
    ax.grid(axis="x", alpha=0.3)
    ax.set_title(title or "Model scores with bootstrap intervals")
    return save_figure(fig, path)


def plot_contrasts(
    result,
    path: str | Path | None = None,
    *,
    by: str | None = None,
    method: str | None = None,
    max_rows: int = 30,
    title: str | None = None,
) -> Figure:
    """Forest plot of group-vs-group contrasts: each difference with its interval, around a line at 0.

    Rows are the contrasts with the smallest p-values (at most ``max_rows``, the count left out is
    said in the title), labelled ``group (n) − other (n): model``; filled markers are significant
    after the multiple-testing correction, hollow ones are not.

    Parameters
    ----------
    result
        a :class:`~pluralis.ranking.contrasts.ContrastResult` or its ``contrasts`` table.
    path
        file to save, or None.
    by
        one grouping field (default: every field, the field named in each label).
    method
        the aggregator, for the axis label (default: the table's ``method`` attribute).
    max_rows
        most contrasts drawn.
    title
        the title.

    Returns
    -------
    matplotlib.figure.Figure

    See Also
    --------
    pluralis.ranking.contrasts.group_contrasts : the contrasts and their tests.

    Example
    -------
    >>> c = pd.DataFrame({"by": ["g", "g"], "group": ["F", "F"], "other": ["M", "M"], "model": ["x", "y"],
    ...     "difference": [0.2, -0.05], "lo": [0.1, -0.2], "hi": [0.3, 0.1], "p_value": [0.01, 0.5],
    ...     "significant": [True, False], "n_participants_group": [30, 30], "n_participants_other": [28, 28]})
    >>> fig = plot_contrasts(c, method="win_rate")
    >>> [t.get_text() for t in fig.axes[0].get_yticklabels()]
    ['F (30) − M (28): x', 'F (30) − M (28): y']
    """
    table = result.contrasts if hasattr(result, "contrasts") else result
    if by is not None:
        table = table[table["by"] == by]
    if not len(table):
        raise ConfigError("no contrasts to plot" + (f" for {by!r}" if by is not None else ""))
    method = method or table.attrs.get("method", "")
    shown = most_certain_first(table).head(max_rows)
    field = "" if by is not None or table["by"].nunique() == 1 else "{by}: "
    labels = [
        (field.format(by=r.by) if field else "")
        + f"{r.group} ({r.n_participants_group}) − {r.other} ({r.n_participants_other}): {r.model}"
        for r in shown.itertuples(index=False)
    ]
    fig = Figure(figsize=(7.0, 0.28 * len(shown) + 1.5), layout="constrained")
    ax = fig.add_subplot(1, 1, 1)
    y = np.arange(len(shown))
    sig = shown["significant"].fillna(False).astype(bool).to_numpy()
    ax.axvline(0.0, color="grey", lw=1)
    ax.errorbar(
        shown["difference"],
        y,
        xerr=_err(shown["difference"], shown["lo"], shown["hi"]),
        fmt="none",
        ecolor="C3",
        capsize=2,
    )
    ax.scatter(shown["difference"], y, s=28, c=np.where(sig, "C3", "white"), edgecolors="C3", zorder=3)
    ax.set_yticks(y)
    ax.set_yticklabels(labels, fontsize=7)
    ax.invert_yaxis()
    ax.set_xlabel("difference, group − other: " + _score_label(method) + " (filled: significant after correction)")
    ax.grid(axis="x", alpha=0.3)
    left = len(table) - len(shown)
    ax.set_title(
        (title or "Group against group, with bootstrap intervals")
        + (f" ({left} more contrast{'s' if left != 1 else ''} with larger p not shown)" if left else ""),
        fontsize=9,
    )
    return save_figure(fig, path)


def plot_score_distribution(result, path: str | Path | None = None, *, title: str | None = None) -> Figure:
    """Box plots of the bootstrap (or random-n-people) draws per model, ordered by median.

    Parameters
    ----------
    result
        a :class:`~pluralis.ranking.uncertainty.BootstrapResult`.
    path
        file to save, or None.
    title
        the title.

    Returns
    -------
    matplotlib.figure.Figure

    Example
    -------
    >>> from pluralis.ranking.uncertainty import BootstrapResult
    >>> r = BootstrapResult(("x", "y"), "prc", "random_10", np.array([.6, .4]), np.array([[.6, .4], [.5, .5]]))
    >>> len(plot_score_distribution(r).axes)
    1
    """
    samples = np.asarray(result.samples, dtype=float)
    med = np.nanmedian(samples, axis=0)
    order = np.argsort(-med if result.higher_is_better else med)
    fig = Figure(figsize=(6.5, 0.3 * len(order) + 1.4))
    ax = fig.add_subplot(1, 1, 1)
    data = [samples[:, i][~np.isnan(samples[:, i])] for i in order]
    ax.boxplot(data, orientation="horizontal", showfliers=False, widths=0.6)
    ax.set_yticks(np.arange(1, len(order) + 1))
    ax.set_yticklabels([result.models[i] for i in order])
    ax.invert_yaxis()
    agg = _aggregator(result.method)
    reference = None if agg is None else agg.reference_score(len(order))
    if reference is not None:
        ax.axvline(reference, color="grey", ls="--", lw=1)
    ax.set_xlabel(_score_label(result.method, f"; {result.rounds} draws, unit {result.unit}"))
    ax.grid(axis="x", alpha=0.3)
    ax.set_title(title or "Distribution of scores over resamples")
    return save_figure(fig, path)


def plot_sensitivity(
    sens, path: str | Path | None = None, *, title: str | None = None, xlabel: str = "setting"
) -> Figure:
    """Rank of every model (lines) across settings (x), e.g. tie thresholds or α values.

    Parameters
    ----------
    sens
        a :class:`~pluralis.ranking.sensitivity.Sensitivity` or its ranks table.
    path
        file to save, or None.
    title, xlabel
        the title and the settings' axis label.

    Returns
    -------
    matplotlib.figure.Figure

    Example
    -------
    >>> from pluralis.ranking.sensitivity import Sensitivity
    >>> r = pd.DataFrame({0: [1, 2], 5: [2, 1]}, index=["x", "y"])
    >>> len(plot_sensitivity(Sensitivity(r, r, pd.DataFrame())).axes)
    1
    """
    ranks = sens.ranks if hasattr(sens, "ranks") else sens
    fig = Figure(figsize=(7.5, 0.3 * len(ranks) + 1.6))
    ax = fig.add_subplot(1, 1, 1)
    x = np.arange(len(ranks.columns))
    for i, (model, row) in enumerate(ranks.iterrows()):
        ax.plot(x, row.to_numpy(dtype=float), "-o", ms=3, lw=1, color=f"C{i % 10}")
        ax.annotate(
            str(model), (x[-1], float(row.iloc[-1])), xytext=(4, 0), textcoords="offset points", va="center", fontsize=7
        )
    ax.set_xticks(x)
    ax.set_xticklabels([str(c) for c in ranks.columns])
    ax.invert_yaxis()
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylabel("rank")
    ax.set_xlabel(xlabel)
    ax.grid(alpha=0.3)
    ax.set_title(title or "Rank sensitivity")
    return save_figure(fig, path)
