"""Saving figures: one place that decides which files a plot may be written to.

Example
-------
>>> import tempfile, os
>>> from matplotlib.figure import Figure
>>> path = os.path.join(tempfile.mkdtemp(), "plots", "x.png")
>>> _ = save_figure(Figure(), path)
>>> os.path.exists(path)
True
"""

from __future__ import annotations

from pathlib import Path

from pluralis.errors import ConfigError

#: File types every plot can be written as.
PLOT_SUFFIXES: tuple[str, ...] = (".png", ".svg", ".pdf")


def check_plot_path(path: str | Path, what: str = "plot file") -> Path:
    """Return ``path`` as a Path, or raise :class:`ConfigError` if its suffix is not a plot format.

    Checking before the work that makes a plot spares a long analysis whose result cannot be saved.

    Parameters
    ----------
    path
        where the plot will be written.
    what
        how to name the path in the error (e.g. the option it came from).

    Returns
    -------
    pathlib.Path

    Raises
    ------
    ConfigError
        a suffix other than ``.png``, ``.svg`` or ``.pdf``.

    Example
    -------
    >>> check_plot_path("ranks.svg").name
    'ranks.svg'
    >>> check_plot_path("ranks.txt", "--plot")
    Traceback (most recent call last):
    ...
    pluralis.errors.ConfigError: --plot must end in .png, .svg or .pdf, got 'ranks.txt'
    """
    path = Path(path)
    if path.suffix.lower() not in PLOT_SUFFIXES:
        raise ConfigError(f"{what} must end in .png, .svg or .pdf, got {path.name!r}")
    return path


def save_figure(fig, path: str | Path | None, *, dpi: int = 150):
    """Write ``fig`` to ``path`` (parent folders created) when a path is given; return ``fig``.

    Parameters
    ----------
    fig
        a matplotlib figure.
    path
        where to write it (``None``: do not write).
    dpi
        resolution of raster formats.

    Returns
    -------
    matplotlib.figure.Figure
        ``fig``.

    Example
    -------
    >>> from matplotlib.figure import Figure
    >>> save_figure(Figure(), None) is not None
    True
    """
    if path is not None:
        path = check_plot_path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=dpi, bbox_inches="tight")
    return fig
