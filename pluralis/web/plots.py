"""The admin dashboard's plots, drawn with matplotlib as SVG documents (served at ``/admin/plot/NAME.svg``).

Pages show them with ``<img src=...>`` (the strict Content-Security-Policy allows images from the app itself,
and an SVG shown as an image runs no script); matplotlib writes text as escaped SVG text, and math text is
off, so model names and group values appear as written. Every plot has a table with the same numbers on the
dashboard, and the numbers come from the JSON API (:mod:`pluralis.web.dashboard`).

- ``ranking``: every model's PRC score with its 95 % bootstrap interval, best first, with rank intervals;
- ``groups-FIELD``: each group's rank of every model with its interval (filled: differs from everyone's);
- ``raked``: the ranking raked to the census margins beside the raw one;
- ``representativeness``: participants minus census, percentage points, per age band, gender, ethnicity;
- ``quota``: quota fill per cell; ``failures``: failed model calls per model over time.

Example
-------
>>> svg = draw("quota", [{"cell": "women", "target": 4, "filled": 3, "share": 0.75, "full": False}])
>>> svg.startswith("<?xml") and "women" in svg and "<script" not in svg
True
"""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime
from typing import Any

from pluralis.errors import ConfigError

#: Plot names of the dashboard (``groups-FIELD`` and ``contrasts-FIELD`` for each group field).
NAMES = ("ranking", "raked", "representativeness", "quota", "failures")
_NAME_RE = re.compile(r"^(ranking|raked|representativeness|quota|failures|(groups|contrasts)-[A-Za-z_]{1,40})$")
_RC: dict[Any, Any] = {"svg.hashsalt": "pluralis", "svg.fonttype": "none", "text.parse_math": False, "font.size": 9}
_COLORS = ("#2553a8", "#c4431d", "#2a8a4a", "#8a4fb8", "#b88a00", "#1f8f9a", "#a8326e", "#5b6676")


def valid_name(name: str) -> bool:
    """Whether ``name`` is a dashboard plot's name.

    Parameters
    ----------
    name
        The name in ``/admin/plot/NAME.svg``.

    Returns
    -------
    bool

    Example
    -------
    >>> valid_name("groups-age"), valid_name("ranking"), valid_name("../etc/passwd")
    (True, True, False)
    """
    return bool(_NAME_RE.match(name))


def data_for(name: str, data: dict[str, Any]) -> Any:
    """The part of the dashboard's data a plot draws (``None``: nothing to draw).

    Parameters
    ----------
    name
        The plot.
    data
        :meth:`pluralis.web.dashboard.Dashboard.summary`.

    Returns
    -------
    Any
        JSON-able data, or ``None``.

    Example
    -------
    >>> data_for("quota", {"quota": []}) is None, data_for("quota", {"quota": [{"cell": "a"}]})
    (True, [{'cell': 'a'}])
    """
    if not valid_name(name):
        return None
    wp = data.get("whose_preferences") or {}
    rep = data.get("representativeness") or {}
    if name == "ranking":
        return (
            {"rows": wp.get("overall"), "battles": wp.get("battles"), "intervals": wp.get("intervals")}
            if wp.get("overall")
            else None
        )
    if name.startswith("groups-"):
        groups = (wp.get("groups") or {}).get(name[len("groups-") :])
        if not groups or not wp.get("overall"):
            return None
        return {
            "field": name[len("groups-") :],
            "groups": groups,
            "order": [r["model"] for r in wp["overall"]],
            "min_group_size": wp.get("min_group_size"),
        }
    if name.startswith("contrasts-"):
        found = (wp.get("contrasts") or {}).get(name[len("contrasts-") :]) or {}
        return {"field": name[len("contrasts-") :], **found} if found.get("contrasts") else None
    if name == "raked":
        return (
            {"raw": rep.get("raw"), "raked": rep.get("raked"), "country": rep.get("country")}
            if rep.get("raw")
            else None
        )
    if name == "representativeness":
        return (
            {"margins": rep.get("margins"), "tvd": rep.get("tvd"), "country": rep.get("country")}
            if rep.get("margins")
            else None
        )
    if name == "quota":
        return data.get("quota") or None
    if name == "failures":
        fr = data.get("failure_rates") or {}
        return fr if fr.get("series") else None
    return None


def _svg(fig) -> str:
    buf = io.StringIO()
    fig.savefig(buf, format="svg", metadata={"Date": None}, bbox_inches="tight")
    return buf.getvalue()


def _figure(width: float, height: float):
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), layout="constrained")


def _interval_rows(ax, labels: list[str], center, lo, hi, *, color: str, offset: float = 0.0, filled=None, label=None):
    import numpy as np

    y = np.arange(len(labels)) + offset
    center, lo, hi = (np.asarray(v, dtype=float) for v in (center, lo, hi))
    err = np.vstack([np.clip(center - lo, 0, None), np.clip(hi - center, 0, None)])
    ok = ~np.isnan(err).any(axis=0)
    ax.errorbar(center[ok], y[ok], xerr=err[:, ok], fmt="none", ecolor=color, elinewidth=1.4, capsize=2)
    faces = [color if (filled is None or f) else "white" for f in (filled if filled is not None else [True] * len(y))]
    ax.scatter(center, y, s=26, c=faces, edgecolors=color, linewidths=1.2, zorder=3, label=label)


def _nan(v: Any) -> float:
    return float("nan") if v is None else float(v)


def _forest(labels, rows, keys, *, color, filled=None, row_height, fontsize=None):
    """A figure with one interval row per label (center, lo, hi read from ``rows`` under ``keys``), top first."""
    center, lo, hi = keys
    fig = _figure(7.5, row_height * len(rows) + 1.4)
    ax = fig.add_subplot()
    _interval_rows(
        ax,
        labels,
        [_nan(r.get(center)) for r in rows],
        [_nan(r.get(lo)) for r in rows],
        [_nan(r.get(hi)) for r in rows],
        color=color,
        filled=filled,
    )
    ax.set_yticks(range(len(labels)), labels, fontsize=fontsize)
    ax.invert_yaxis()
    return fig, ax


def draw_ranking(part: dict[str, Any]) -> str:
    """Everyone's ranking: PRC scores with their intervals, best on top.

    Parameters
    ----------
    part
        ``rows`` (the panel's ``overall``), ``battles``, ``intervals``.

    Returns
    -------
    str
        SVG.

    Example
    -------
    >>> rows = [{"model": "x", "score": .6, "score_lo": .5, "score_hi": .7, "rank": 1, "rank_lo": 1, "rank_hi": 1},
    ...         {"model": "y", "score": .4, "score_lo": .3, "score_hi": .5, "rank": 2, "rank_lo": 2, "rank_hi": 2}]
    >>> "rank 1" in draw_ranking({"rows": rows, "battles": 10, "intervals": {"rounds": 100, "level": .95}})
    True
    """
    import matplotlib

    rows = part["rows"]
    labels = [r["model"] for r in rows]
    with matplotlib.rc_context(_RC):
        fig, ax = _forest(labels, rows, ("score", "score_lo", "score_hi"), color=_COLORS[0], row_height=0.45)
        for i, r in enumerate(rows):
            rank = f"rank {r['rank']}"
            if r.get("rank_lo") is not None:
                rank += f" ({r['rank_lo']}–{r['rank_hi']})"
            ax.annotate(
                rank,
                (1.0, i),
                xycoords=("axes fraction", "data"),
                xytext=(6, 0),
                textcoords="offset points",
                va="center",
                fontsize=8,
            )
        iv = part.get("intervals") or {}
        note = f"{round(100 * iv.get('level', 0.95))}% intervals from {iv.get('rounds')} participant resamples"
        if iv.get("reason"):
            note = f"no intervals ({iv['reason']})"
        ax.set_xlabel(f"PRC score (share of the stationary distribution); {part.get('battles')} battles; {note}")
        ax.grid(axis="x", alpha=0.3)
        return _svg(fig)


def draw_groups(part: dict[str, Any]) -> str:
    """Each group's rank of every model with its interval; filled markers: a rank that differs from everyone's.

    Parameters
    ----------
    part
        ``field``, ``groups`` (the panel's groups of that field), ``order`` (models, best first overall),
        ``min_group_size``.

    Returns
    -------
    str
        SVG.

    Example
    -------
    >>> g = {"A": {"participants": 6, "too_few": False, "ranking": [{"model": "x", "rank": 1, "rank_lo": 1,
    ...      "rank_hi": 2, "significant": False}]}, "B": {"participants": 1, "too_few": True, "ranking": []}}
    >>> svg = draw_groups({"field": "age", "groups": g, "order": ["x"], "min_group_size": 5})
    >>> "A (6)" in svg and "too few" in svg
    True
    """
    import matplotlib

    order = part["order"]
    ranked = [(v, g) for v, g in part["groups"].items() if g.get("ranking")]
    few = [(v, g) for v, g in part["groups"].items() if not g.get("ranking")]
    with matplotlib.rc_context(_RC):
        fig = _figure(7.5, 0.5 * len(order) + 1.6)
        ax = fig.add_subplot()
        width = 0.8 / max(len(ranked), 1)
        for k, (value, g) in enumerate(ranked):
            by = {r["model"]: r for r in g["ranking"]}
            rows = [by.get(m, {}) for m in order]
            _interval_rows(
                ax,
                order,
                [_nan(r.get("rank")) for r in rows],
                [_nan(r.get("rank_lo", r.get("rank"))) for r in rows],
                [_nan(r.get("rank_hi", r.get("rank"))) for r in rows],
                color=_COLORS[k % len(_COLORS)],
                offset=-0.4 + width * (k + 0.5),
                filled=[bool(r.get("significant")) for r in rows],
                label=f"{value} ({g['participants']})",
            )
        ax.set_yticks(range(len(order)), order)
        ax.invert_yaxis()
        ax.set_xlim(len(order) + 0.5, 0.5)
        ax.set_xlabel("rank in the group (1 = best), 95% interval; filled: differs from everyone's rank")
        if ranked:
            ax.legend(title=part["field"], fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
        if few:
            names = ", ".join(f"{v} ({g['participants']})" for v, g in few)
            ax.set_title(f"not ranked (too few participants or battles): {names}", fontsize=8, loc="left")
        ax.grid(axis="x", alpha=0.3)
        return _svg(fig)


def draw_contrasts(part: dict[str, Any]) -> str:
    """Group-vs-group differences of each model's PRC score with their intervals, around a line at 0.

    Parameters
    ----------
    part
        ``field``, ``contrasts`` (rows of :func:`pluralis.web.dashboard.contrasts_of`), ``rounds``, ``level``,
        ``summary``.

    Returns
    -------
    str
        SVG.

    Example
    -------
    >>> rows = [{"group": "F", "other": "M", "model": "x", "difference": 0.2, "lo": 0.1, "hi": 0.3,
    ...          "significant": True, "n_group": 30, "n_other": 28}]
    >>> svg = draw_contrasts({"field": "gender", "contrasts": rows, "rounds": 100, "level": 0.95})
    >>> "F (30) − M (28): x" in svg
    True
    """
    import matplotlib

    rows = part["contrasts"]
    labels = [f"{r['group']} ({r['n_group']}) − {r['other']} ({r['n_other']}): {r['model']}" for r in rows]
    with matplotlib.rc_context(_RC):
        fig, ax = _forest(
            labels,
            rows,
            ("difference", "lo", "hi"),
            color=_COLORS[1],
            filled=[bool(r.get("significant")) for r in rows],
            row_height=0.3,
            fontsize=7,
        )
        ax.axvline(0.0, color="#555555", linewidth=0.8, zorder=0)
        level = round(100 * part.get("level", 0.95))
        ax.set_xlabel(
            f"difference of PRC scores (group − other; n participants), {level}% intervals from "
            f"{part.get('rounds')} joint participant resamples; filled: significant after Holm"
        )
        ax.grid(axis="x", alpha=0.3)
        return _svg(fig)


def draw_raked(part: dict[str, Any]) -> str:
    """The raw ranking and the one raked to the census margins, side by side per model.

    Parameters
    ----------
    part
        ``raw`` and ``raked`` (``{model: {score, score_lo, score_hi, rank, ...}}``), ``country``.

    Returns
    -------
    str
        SVG.

    Example
    -------
    >>> r = {"x": {"score": .6, "score_lo": .5, "score_hi": .7, "rank": 1}}
    >>> "raked to the UK census" in draw_raked({"raw": r, "raked": r, "country": "UK"})
    True
    """
    import matplotlib

    raw, raked = part["raw"], part.get("raked") or {}
    order = sorted(raw, key=lambda m: raw[m]["rank"])
    with matplotlib.rc_context(_RC):
        fig = _figure(7.5, 0.5 * len(order) + 1.3)
        ax = fig.add_subplot()
        for k, (rows, label) in enumerate(
            ((raw, "participants as they are"), (raked, f"raked to the {part.get('country')} census"))
        ):
            sel = [rows.get(m, {}) for m in order]
            _interval_rows(
                ax,
                order,
                [_nan(r.get("score")) for r in sel],
                [_nan(r.get("score_lo")) for r in sel],
                [_nan(r.get("score_hi")) for r in sel],
                color=_COLORS[k],
                offset=-0.15 + 0.3 * k,
                label=label,
            )
        ax.set_yticks(range(len(order)), order)
        ax.invert_yaxis()
        ax.set_xlabel("PRC score with 95% interval")
        ax.legend(fontsize=7, loc="lower right")
        ax.grid(axis="x", alpha=0.3)
        return _svg(fig)


def draw_representativeness(part: dict[str, Any]) -> str:
    """Participants minus census, percentage points, per category of age band, gender and ethnicity.

    Parameters
    ----------
    part
        ``margins`` (rows ``variable``, ``category``, ``difference_pp``), ``tvd``, ``country``.

    Returns
    -------
    str
        SVG.

    Example
    -------
    >>> m = [{"variable": "gender", "category": "Female", "difference_pp": 4.0},
    ...      {"variable": "gender", "category": "Male", "difference_pp": -4.0}]
    >>> "Female" in draw_representativeness({"margins": m, "tvd": {"gender": .04}, "country": "US"})
    True
    """
    import matplotlib

    margins = part["margins"]
    variables = list(dict.fromkeys(r["variable"] for r in margins))
    with matplotlib.rc_context(_RC):
        sizes = [max(2, sum(r["variable"] == v for r in margins)) for v in variables]
        fig = _figure(7.5, 0.28 * sum(sizes) + 1.0 * len(variables))
        axes = fig.subplots(len(variables), 1, gridspec_kw={"height_ratios": sizes}, squeeze=False)[:, 0]
        for ax, v in zip(axes, variables):
            rows = [r for r in margins if r["variable"] == v]
            diffs = [r["difference_pp"] or 0.0 for r in rows]
            ax.barh(range(len(rows)), diffs, color=[_COLORS[0] if d >= 0 else _COLORS[1] for d in diffs])
            ax.set_yticks(range(len(rows)), [r["category"] for r in rows])
            ax.invert_yaxis()
            ax.axvline(0, color="#1d2430", linewidth=0.8)
            tvd = (part.get("tvd") or {}).get(v)
            ax.set_title(f"{v}: total variation distance {tvd:.3f}" if tvd is not None else v, fontsize=8, loc="left")
            ax.grid(axis="x", alpha=0.3)
        axes[-1].set_xlabel(f"participants minus the {part.get('country')} census, percentage points")
        return _svg(fig)


def draw_quota(rows: list[dict[str, Any]]) -> str:
    """Quota fill per cell (filled / target; the line is the target).

    Parameters
    ----------
    rows
        ``cell``, ``target``, ``filled``, ``share``, ``full`` per cell.

    Returns
    -------
    str
        SVG.

    Example
    -------
    >>> "3/4" in draw_quota([{"cell": "a", "target": 4, "filled": 3, "share": .75, "full": False}])
    True
    """
    import matplotlib

    with matplotlib.rc_context(_RC):
        fig = _figure(7.5, 0.22 * len(rows) + 1.0)
        ax = fig.add_subplot()
        shares = [min(r["share"], 1.5) for r in rows]
        ax.barh(range(len(rows)), shares, color=[_COLORS[2] if r["full"] else _COLORS[0] for r in rows])
        ax.set_yticks(range(len(rows)), [r["cell"] for r in rows], fontsize=7)
        ax.invert_yaxis()
        ax.axvline(1.0, color="#1d2430", linewidth=0.8)
        for i, r in enumerate(rows):
            ax.annotate(
                f"{r['filled']}/{r['target']}",
                (shares[i], i),
                xytext=(3, 0),
                textcoords="offset points",
                va="center",
                fontsize=6,
            )
        ax.set_xlim(0, max(1.15, max(shares, default=1) + 0.15))
        ax.set_xlabel("share of the cell's target filled (green: full)")
        return _svg(fig)


def draw_failures(part: dict[str, Any]) -> str:
    """Failed model calls per model over time: failures / calls in each time bucket.

    Parameters
    ----------
    part
        ``bucket_s`` and ``series`` (``{model: [{"t", "calls", "failures", "rate"}]}``).

    Returns
    -------
    str
        SVG.

    Example
    -------
    >>> s = {"m": [{"t": 0, "calls": 4, "failures": 1, "rate": .25}, {"t": 60, "calls": 2, "failures": 0, "rate": 0.}]}
    >>> "m" in draw_failures({"bucket_s": 60, "series": s})
    True
    """
    import matplotlib

    with matplotlib.rc_context(_RC):
        fig = _figure(7.5, 3.2)
        ax = fig.add_subplot()
        for k, (model, points) in enumerate(part["series"].items()):
            t = [datetime.fromtimestamp(p["t"], UTC) for p in points]
            ax.plot(
                t, [p["rate"] for p in points], marker="o", markersize=3, color=_COLORS[k % len(_COLORS)], label=model
            )
        ax.set_ylim(-0.03, 1.03)
        ax.set_ylabel("failed calls / calls")
        minutes = part["bucket_s"] // 60
        ax.set_xlabel(
            f"time (UTC), {minutes}-minute buckets" if minutes < 60 else f"time (UTC), {minutes // 60}-hour buckets"
        )
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
        ax.grid(alpha=0.3)
        fig.autofmt_xdate()
        return _svg(fig)


def draw(name: str, part: Any) -> str:
    """Draw a dashboard plot from its data (:func:`data_for`).

    Parameters
    ----------
    name
        The plot.
    part
        Its data.

    Returns
    -------
    str
        The SVG document.

    Example
    -------
    >>> draw("quota", [{"cell": "a", "target": 1, "filled": 1, "share": 1.0, "full": True}]).count("<svg")
    1
    """
    if name == "ranking":
        return draw_ranking(part)
    if name.startswith("groups-"):
        return draw_groups(part)
    if name.startswith("contrasts-"):
        return draw_contrasts(part)
    if name == "raked":
        return draw_raked(part)
    if name == "representativeness":
        return draw_representativeness(part)
    if name == "quota":
        return draw_quota(part)
    if name == "failures":
        return draw_failures(part)
    raise ConfigError(f"unknown dashboard plot {name!r}")


__all__ = [
    "NAMES",
    "data_for",
    "draw",
    "draw_failures",
    "draw_groups",
    "draw_quota",
    "draw_ranking",
    "draw_raked",
    "draw_representativeness",
    "valid_name",
]
