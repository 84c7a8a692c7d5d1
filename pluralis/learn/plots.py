"""Plots for preference-model evaluations (matplotlib, no display needed).

* :func:`plot_cross_group` — heatmap of a train-group × eval-group matrix (accuracy or log-loss),
  each cell annotated with its estimate and participant-bootstrap interval.
* :func:`plot_composition` — accuracy (or log-loss) on each group against the share of group A
  in the training feedback, with interval bands.

Each returns the :class:`~matplotlib.figure.Figure` and, given ``path``, saves it (``.png``,
``.svg`` or ``.pdf``).
"""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from pluralis.errors import ConfigError
from pluralis.figures import save_figure

_LABELS = {"accuracy": "pairwise accuracy", "log_loss": "log-loss (nats)"}


def plot_cross_group(result, metric: str = "accuracy", path=None, *, title: str | None = None) -> Figure:
    """Heatmap of ``result.matrix(metric)``: rows = trained on, columns = evaluated on.

    Parameters
    ----------
    result
        a :class:`~pluralis.learn.groups.CrossGroupResult`.
    metric
        a column of its table (``"accuracy"``, ``"log_loss"``, ...).
    path
        also save the figure there (:func:`pluralis.figures.save_figure`).
    title
        figure title (default: from the metric).

    Returns
    -------
    matplotlib.figure.Figure

    Example
    -------
    >>> from pluralis.learn.groups import cross_group_accuracy
    >>> from pluralis.simulate.planted import planted_pairs
    >>> res = cross_group_accuracy(planted_pairs(n_users=60, pairs_per_user=20, seed=0), "group",
    ...                            n_splits=3, n_boot=20)
    >>> fig = plot_cross_group(res)
    >>> len(fig.axes)   # the heatmap and its colour bar
    2
    >>> lo, hi = fig.axes[0].images[0].get_clim()   # the colour scale spans at least the widest CI
    >>> bool(hi - lo >= (res.table["accuracy_high"] - res.table["accuracy_low"]).max() - 1e-12)
    True
    """
    m = result.matrix(metric)
    t = result.table.set_index(["train_group", "eval_group"])
    values = m.to_numpy(dtype=float)
    fig = Figure(figsize=(1.6 + 1.5 * m.shape[1], 1.2 + 0.9 * m.shape[0]))
    ax = fig.subplots()
    cmap = "viridis" if metric == "accuracy" else "viridis_r"
    # colour range at least as wide as the widest CI: differences within the noise stay one colour
    lo_, hi_ = np.nanmin(values), np.nanmax(values)
    mid = (lo_ + hi_) / 2
    widths = (t[f"{metric}_high"] - t[f"{metric}_low"]).to_numpy(dtype=float)
    ci = float(np.nanmax(widths)) if np.isfinite(widths).any() else 0.0
    half = max((hi_ - lo_) / 2, ci, 1e-9)
    im = ax.imshow(values, cmap=cmap, aspect="auto", vmin=mid - half, vmax=mid + half)
    fig.colorbar(im, ax=ax, label=_LABELS.get(metric, metric) + "\n(colour range ≥ widest 95% CI)")
    for i, g in enumerate(m.index):
        for j, h in enumerate(m.columns):
            v = values[i, j]
            if not np.isfinite(v):
                continue
            lo, hi = t.loc[(g, h), f"{metric}_low"], t.loc[(g, h), f"{metric}_high"]
            text = f"{v:.3f}" + (f"\n[{lo:.3f}, {hi:.3f}]" if np.isfinite(lo) else "")
            good = v > mid if metric == "accuracy" else v < mid
            ax.text(j, i, text, ha="center", va="center", fontsize=8, color="black" if good else "white")
    ax.set_xticks(range(m.shape[1]), [str(c) for c in m.columns], rotation=30, ha="right")
    ax.set_yticks(range(m.shape[0]), [str(r) for r in m.index])
    ax.set_xlabel(f"evaluated on ({result.by}, held-out participants)")
    ax.set_ylabel("trained on")
    ax.set_title(title or f"Whose feedback? {_LABELS.get(metric, metric)} by {result.by}")
    return save_figure(fig, path)


def plot_composition(result, metric: str = "accuracy", path=None, *, title: str | None = None) -> Figure:
    """``metric`` on each eval group against the share of group A in training, with interval bands.

    Parameters
    ----------
    result
        a :class:`~pluralis.learn.groups.CompositionResult`.
    metric
        a column of its table.
    path
        also save the figure there (:func:`pluralis.figures.save_figure`).
    title
        figure title (default: from the groups).

    Returns
    -------
    matplotlib.figure.Figure

    Example
    -------
    >>> from pluralis.learn.groups import composition_curve
    >>> from pluralis.simulate.planted import planted_pairs
    >>> r = composition_curve(planted_pairs(n_users=60, pairs_per_user=20, seed=0), "group", "A", "B",
    ...                       shares=[0, 0.5, 1], n_splits=3, n_boot=20)
    >>> len(plot_composition(r).axes[0].lines)
    3
    """
    if metric not in _LABELS:
        raise ConfigError(f"metric must be one of {sorted(_LABELS)}, got {metric!r}")
    t = result.table
    fig = Figure(figsize=(6, 4))
    ax = fig.subplots()
    for h, sub in t.groupby("eval_group", sort=False):
        sub = sub.sort_values("share_a")
        (line,) = ax.plot(sub["share_a"], sub[metric], marker="o", label=f"evaluated on {h}")
        if sub[f"{metric}_low"].notna().any():
            ax.fill_between(
                sub["share_a"], sub[f"{metric}_low"], sub[f"{metric}_high"], alpha=0.2, color=line.get_color()
            )
    ax.set_xlabel(f"share of {result.group_a!r} in the training feedback (rest {result.group_b!r})")
    ax.set_ylabel(_LABELS[metric])
    ax.set_title(title or f"Composition of feedback ({result.by})")
    ax.legend(fontsize=8)
    return save_figure(fig, path)
