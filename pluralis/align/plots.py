"""Plots of alignment evaluations (matplotlib, no display needed; saved with :func:`pluralis.figures.save_figure`).

* :func:`plot_gain_matrix` — heatmap: rows = models (what they were trained on), columns = evaluation
  groups, cells = gain over the base in percentage points with its bootstrap interval.
* :func:`plot_grid` — the design grid: one panel per evaluation group, each cell's gain with its
  interval (aligner × labels × disagreement × candidate sampling on the rows).

Example
-------
>>> t = pd.DataFrame({"model": ["m"], "trained_on": ["A"], "eval_group": ["A"], "judge": ["reward"],
...                   "gain_pp": [4.0], "gain_low": [1.0], "gain_high": [7.0]})
>>> from pluralis.align.evaluate import EvalResult
>>> len(plot_gain_matrix(EvalResult(t, by="group")).axes)
2
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from pluralis.figures import save_figure


def plot_gain_matrix(result, path=None, *, judge: str = "reward", title: str | None = None) -> Figure:
    """Heatmap of ``result.matrix(judge)`` (gain in pp), annotated with intervals; diverging colours around 0.

    Parameters
    ----------
    result : EvalResult
        The evaluation result.
    path : str or pathlib.Path, optional
        Where to save the figure; ``None`` (default) does not save.
    judge : str
        Which judge's gains to show (default ``"reward"``).
    title : str, optional
        Figure title.

    Returns
    -------
    matplotlib.figure.Figure
        The figure.

    Example
    -------
    >>> from pluralis.align.evaluate import EvalResult
    >>> t = pd.DataFrame({"model": ["a", "b"], "trained_on": ["A", "B"], "eval_group": ["A", "A"],
    ...                   "judge": ["reward"] * 2, "gain_pp": [3.0, -2.0], "gain_low": [1.0, -4.0], "gain_high": [5.0, 0.0]})
    >>> fig = plot_gain_matrix(EvalResult(t, by="group"))
    >>> fig.axes[0].get_ylabel()
    'model (trained on)'
    """
    m = result.matrix(judge)
    t = result.table[result.table["judge"] == judge].set_index(["model", "eval_group"])
    vals = m.to_numpy(dtype=float)
    fig = Figure(figsize=(3.0 + 1.6 * m.shape[1], 1.4 + 0.8 * m.shape[0]), layout="constrained")
    ax = fig.subplots()
    lim = float(np.nanmax(np.abs(vals))) if np.isfinite(vals).any() else 1.0
    im = ax.imshow(vals, cmap="RdBu", vmin=-max(lim, 1e-9), vmax=max(lim, 1e-9), aspect="auto")
    fig.colorbar(im, ax=ax, label="gain over base (percentage points)")
    trained = t["trained_on"].groupby(level=0).first() if "trained_on" in t.columns else pd.Series(dtype=object)
    for i, model in enumerate(m.index):
        for j, g in enumerate(m.columns):
            v = vals[i, j]
            if not np.isfinite(v):
                continue
            text = f"{v:+.1f}"
            if "gain_low" in t.columns and (model, g) in t.index:
                lo, hi = t.loc[(model, g), "gain_low"], t.loc[(model, g), "gain_high"]
                if np.isfinite(lo):
                    text += f"\n[{lo:+.1f}, {hi:+.1f}]"
            ax.text(j, i, text, ha="center", va="center", fontsize=8, color="black" if abs(v) < 0.6 * lim else "white")
    ax.set_xticks(range(m.shape[1]), [str(c) for c in m.columns], rotation=30, ha="right")
    ax.set_yticks(range(m.shape[0]), [f"{r} ({trained.get(r, '?')})" for r in m.index])
    ax.set_xlabel(f"evaluated by ({result.by}, held-out judges)")
    ax.set_ylabel("model (trained on)")
    ax.set_title(title or f"Whose gain? win rate over the base − 50 % ({judge} judges)", fontsize=10)
    return save_figure(fig, path)


def plot_grid(grid: pd.DataFrame, path=None, *, judge: str = "reward", title: str | None = None) -> Figure:
    """Gains with intervals for every design cell, one panel per evaluation group.

    ``grid``: rows with ``cell`` (a label), ``eval_group``, ``judge``, ``gain_pp``, ``gain_low``, ``gain_high``.

    Parameters
    ----------
    grid : pandas.DataFrame
        The grid table.
    path : str or pathlib.Path, optional
        Where to save the figure; ``None`` (default) does not save.
    judge : str
        Which judge's gains to show (default ``"reward"``).
    title : str, optional
        Figure title.

    Returns
    -------
    matplotlib.figure.Figure
        The figure.

    Example
    -------
    >>> g = pd.DataFrame({"cell": ["dpo/binary", "dpo/graded"] * 2, "eval_group": ["A", "A", "B", "B"],
    ...                   "judge": "reward", "gain_pp": [3.0, 4.0, -1.0, 0.5], "gain_low": [1.0, 2, -3, -1],
    ...                   "gain_high": [5.0, 6, 1, 2]})
    >>> len(plot_grid(g).axes)
    2
    """
    g = grid[grid["judge"] == judge] if "judge" in grid.columns else grid
    groups = list(dict.fromkeys(g["eval_group"].astype(str)))
    cells = list(dict.fromkeys(g["cell"].astype(str)))
    fig = Figure(figsize=(1.5 + 3.0 * max(len(groups), 1), 1.8 + 0.35 * max(len(cells), 1)), layout="constrained")
    axes = fig.subplots(1, max(len(groups), 1), sharey=True, squeeze=False)[0]
    for ax, grp in zip(axes, groups):
        part = g[g["eval_group"].astype(str) == grp].set_index("cell").reindex(cells)
        y = np.arange(len(cells))
        v = part["gain_pp"].to_numpy(dtype=float)
        lo = part["gain_low"].to_numpy(dtype=float) if "gain_low" in part else v
        hi = part["gain_high"].to_numpy(dtype=float) if "gain_high" in part else v
        err = np.vstack([np.where(np.isfinite(lo), v - lo, 0), np.where(np.isfinite(hi), hi - v, 0)])
        ax.errorbar(v, y, xerr=err, fmt="o", color="tab:blue", ecolor="tab:gray", capsize=2)
        ax.axvline(0, color="black", lw=0.8)
        ax.set_title(f"evaluated by {grp}")
        ax.set_xlabel("gain over base (pp)")
        ax.set_yticks(y, cells)
    axes[0].invert_yaxis()  # shared y: the first cell on top in every panel
    fig.suptitle(title or f"Design grid: gains by evaluation group ({judge} judges)")
    return save_figure(fig, path)
