"""Figures of Case Study I (matplotlib, rendered with Agg; saved through :func:`pluralis.figures.save_figure`).

* :func:`plot_topic_map` — the 2-D map of texts (PRISM Fig. 24): left coloured by topic with the
  names at the centroids, right coloured by the authors' group (outliers in light grey).
* :func:`plot_over_representation` — heatmap of the over-representation factor, groups x topics
  (PRISM Fig. 3 / 26), on a log colour scale centred at 1, each cell annotated with the factor
  and its CI; significant cells (after multiple-testing adjustment) are starred.

Example
-------
>>> xy = np.random.default_rng(0).normal(size=(40, 2))
>>> fig = plot_topic_map(xy, np.repeat([0, 1, -1, 0], 10), names={0: "A", 1: "B"}, groups=["x", "y"] * 20)
>>> len(fig.axes)
2
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.colors import LogNorm
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, NullFormatter

from pluralis.figures import save_figure


def _palette(n: int) -> list:
    from matplotlib import colormaps

    cmap = colormaps["tab20" if n > 10 else "tab10"]
    return [cmap(i % cmap.N) for i in range(n)]


def plot_topic_map(
    coords: np.ndarray,
    labels: Sequence[int] | np.ndarray,
    path: str | Path | None = None,
    *,
    names: Mapping[int, str] | None = None,
    groups: Sequence | None = None,
    group_name: str = "group",
    title: str | None = None,
    max_points: int = 50_000,
    seed: int = 0,
) -> Figure:
    """2-D map of topics (and of groups, when ``groups`` is given); see the module docstring.

    ``coords`` (n x 2) may hold NaN rows (texts without map coordinates); at most ``max_points``
    texts are drawn (a random sample).

    Parameters
    ----------
    coords : numpy.ndarray
        2-D map coordinates of each text ``(n, 2)``.
    labels : sequence of int or numpy.ndarray
        Topic label of each text (``-1`` for outliers).
    path : str or pathlib.Path, optional
        Where to save the figure; ``None`` (default) does not save.
    names : mapping of int to str, optional
        Topic names for the legend; ``None`` uses the labels.
    groups : sequence, optional
        A group of each text; when given, a second panel colours texts by group.
    group_name : str
        Title of the groups' legend (default ``"group"``).
    title : str, optional
        Figure title.
    max_points : int
        Most texts drawn (default 50,000).
    seed : int
        Seed of the sample drawn when there are more texts (default 0).

    Returns
    -------
    matplotlib.figure.Figure
        The figure.

    Example
    -------
    >>> fig = plot_topic_map(np.random.default_rng(1).normal(size=(20, 2)), [0] * 10 + [1] * 10)
    >>> len(fig.axes)
    1
    """
    coords = np.asarray(coords, dtype=float)
    labels = np.asarray(labels)
    ok = np.isfinite(coords).all(axis=1)
    idx = np.flatnonzero(ok)
    if len(idx) > max_points:
        idx = np.sort(np.random.default_rng(seed).choice(idx, max_points, replace=False))
    xy, lab = coords[idx], labels[idx]
    names = dict(names or {})
    panels = 2 if groups is not None else 1
    fig = Figure(figsize=(7.0 * panels, 6.2))
    ax = fig.add_subplot(1, panels, 1)
    size = max(2.0, min(12.0, 4000.0 / max(len(idx), 1)))
    out = lab < 0
    ax.scatter(xy[out, 0], xy[out, 1], s=size * 0.6, color="0.85", label="outliers", rasterized=True)
    topics = [t for t in pd.unique(lab) if t >= 0]
    topics.sort()
    for t, color in zip(topics, _palette(len(topics))):
        m = lab == t
        ax.scatter(xy[m, 0], xy[m, 1], s=size, color=color, alpha=0.8, rasterized=True)
        cx, cy = np.median(xy[m, 0]), np.median(xy[m, 1])
        ax.annotate(
            names.get(int(t), str(t)),
            (cx, cy),
            ha="center",
            va="center",
            fontsize=7,
            bbox={"boxstyle": "round,pad=0.2", "fc": "white", "alpha": 0.75, "lw": 0},
        )
    ax.set_title("topics")
    ax.set_xticks([])
    ax.set_yticks([])
    if groups is not None:
        g = pd.Series(np.asarray(list(groups), dtype=object)[idx]).fillna("(missing)").astype(str)
        ax2 = fig.add_subplot(1, 2, 2, sharex=ax, sharey=ax)
        levels = g.value_counts().index.tolist()
        for level, color in zip(levels, _palette(len(levels))):
            m = (g == level).to_numpy()
            ax2.scatter(xy[m, 0], xy[m, 1], s=size, color=color, alpha=0.6, label=level, rasterized=True)
        ax2.set_title(f"by {group_name}")
        ax2.set_xticks([])
        ax2.set_yticks([])
        ax2.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), fontsize=8, frameon=False, markerscale=2)
    fig.suptitle(title or "Topics of the texts (2-D UMAP)")
    return save_figure(fig, path)


def plot_over_representation(
    table: pd.DataFrame,
    path: str | Path | None = None,
    *,
    names: Mapping[int, str] | None = None,
    title: str | None = None,
    annotate: bool | None = None,
) -> Figure:
    """Heatmap of over-representation factors (rows: field / group, columns: topics) with CIs.

    ``table`` is :func:`~pluralis.topics.overrep.over_representation`'s output. Colours: log
    scale, red above 1 (over-represented), blue below; ``*`` marks significant cells.

    Parameters
    ----------
    table : pandas.DataFrame
        Over-representation table (``field``, ``group``, ``topic``, ``factor``, ``ci_low``, ``ci_high``,
        ``significant``).
    path : str or pathlib.Path, optional
        Where to save the figure; ``None`` (default) does not save.
    names : mapping of int to str, optional
        Topic names for the columns; ``None`` uses the labels.
    title : str, optional
        Figure title.
    annotate : bool, optional
        Write the factor in each cell; ``None`` (default) decides by the table's size.

    Returns
    -------
    matplotlib.figure.Figure
        The figure.

    Example
    -------
    >>> t = pd.DataFrame({"field": ["g"] * 4, "group": ["a", "a", "b", "b"], "topic": [0, 1, 0, 1],
    ...     "factor": [1.5, 0.5, 0.6, 1.4], "ci_low": [1.2, 0.3, 0.4, 1.1], "ci_high": [1.9, 0.8, 0.9, 1.8],
    ...     "significant": [True, True, False, True]})
    >>> fig = plot_over_representation(t, names={0: "Travel", 1: "Jobs"})
    >>> [tick.get_text() for tick in fig.axes[0].get_xticklabels()]
    ['Travel', 'Jobs']
    """
    names = dict(names or {})
    t = table.copy()
    t["row"] = t["field"].astype(str) + ": " + t["group"].astype(str)
    rows = list(dict.fromkeys(t["row"]))
    cols = list(dict.fromkeys(t["topic"]))
    F = t.pivot_table(index="row", columns="topic", values="factor", aggfunc="first").reindex(index=rows, columns=cols)
    lo = t.pivot_table(index="row", columns="topic", values="ci_low", aggfunc="first").reindex(index=rows, columns=cols)
    hi = t.pivot_table(index="row", columns="topic", values="ci_high", aggfunc="first").reindex(
        index=rows, columns=cols
    )
    sig = (
        t.assign(s=t["significant"].fillna(False).astype(bool))
        .pivot_table(index="row", columns="topic", values="s", aggfunc="first")
        .reindex(index=rows, columns=cols)
        .fillna(False)
        .astype(bool)
    )
    values = F.to_numpy(dtype=float)
    lo_v, hi_v, sig_v = lo.to_numpy(dtype=float), hi.to_numpy(dtype=float), sig.to_numpy(dtype=bool)
    finite = values[np.isfinite(values) & (values > 0)]
    span = float(np.nanmax(np.abs(np.log(finite)))) if len(finite) else 1.0
    span = max(span, np.log(1.5))
    shown = np.clip(np.where(values > 0, values, np.exp(-span)), np.exp(-span), np.exp(span))
    fig = Figure(figsize=(1.0 + 0.9 * max(len(cols), 2), 1.2 + 0.42 * max(len(rows), 2)))
    ax = fig.add_subplot(1, 1, 1)
    im = ax.imshow(
        np.ma.masked_invalid(shown), cmap="RdBu_r", norm=LogNorm(vmin=np.exp(-span), vmax=np.exp(span)), aspect="auto"
    )
    annotate = annotate if annotate is not None else len(rows) * len(cols) <= 400
    if annotate:
        for i in range(len(rows)):
            for j in range(len(cols)):
                v = values[i, j]
                if not np.isfinite(v):
                    continue
                ci = ""
                if np.isfinite(lo_v[i, j]) and np.isfinite(hi_v[i, j]):
                    ci = f"\n[{lo_v[i, j]:.2f}, {hi_v[i, j]:.2f}]"
                star = "*" if sig_v[i, j] else ""
                ax.text(j, i, f"{v:.2f}{star}{ci}", ha="center", va="center", fontsize=6)
    ax.set_xticks(range(len(cols)))
    ax.set_xticklabels([names.get(int(c), str(c)) for c in cols], rotation=45, ha="right", fontsize=8)
    ax.set_yticks(range(len(rows)))
    ax.set_yticklabels(rows, fontsize=8)
    cb = fig.colorbar(im, ax=ax, shrink=0.8)
    ticks = [
        t for t in (0.1, 0.2, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 4.0, 5.0, 10.0) if np.exp(-span) <= t <= np.exp(span)
    ]
    cb.set_ticks(ticks)
    cb.ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    cb.ax.yaxis.set_minor_formatter(NullFormatter())
    cb.set_label("over-representation factor (log scale; 1 = as expected)")
    level = table.attrs.get("level")
    note = f" [{int(round(100 * level))}% CI]" if level else ""
    ax.set_title(title or f"Who talks about what: over-representation{note}; * significant")
    return save_figure(fig, path)
