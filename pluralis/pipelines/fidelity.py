"""Fidelity of simulated feedback: how close are simulated ratings to human ones, per group?

PERSONA and PRISM-style analyses need to know whether simulated participants can stand in for
people. :func:`fidelity` compares two studies (simulated vs human) on the same groups:

* **Rating distributions per group** — for every group (``by`` fields, plus everyone): mean
  scores, their difference, the Wasserstein-1 distance and Kolmogorov–Smirnov statistic of the
  1–100 scores, and the total variation distance of 10-point histograms.
* **Per-group model rankings** — models ranked in each group by both studies (mean score, or any
  :mod:`pluralis.ranking.engine` method such as ``"prc"`` or ``"bt"``), compared with Kendall's tau
  (and its p-value) over the models both saw; plus whether both agree on the top model.
* **Same prompts** — with ``same_prompts=True`` both studies are first restricted to the prompts
  they share (when they share any), so the comparison is on the same requests.
  :func:`pluralis.simulate.replay.replay_ratings` produces such data: personas matched to each
  human participant's demographic cell re-rate the humans' own opening responses.

This composes the simulation (whose data it reads) with the rankings, so it lives in pipelines.

Example
-------
>>> from pluralis.data.synthetic import generate_study
>>> a, b = generate_study(120, seed=1), generate_study(120, seed=2)
>>> rep = fidelity(a, b, by=["gender"], min_ratings=10)
>>> sorted(rep.rankings.columns)[:3]
['by', 'group', 'kendall_tau']
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from pluralis.errors import ConfigError
from pluralis.ranking.battles import extract_battles
from pluralis.ranking.engine import rank_models
from pluralis.ranking.registry import get_aggregator
from pluralis.simulate.replay import study_frames

#: The "everyone" group of the tables.
ALL = "(all)"
#: Short names of survey fields accepted in ``by``.
FIELD_ALIASES = {
    "region": "location_special_region",
    "special_region": "location_special_region",
    "ethnicity": "ethnicity_simplified",
    "religion": "religion_simplified",
    "locale": "study_locale",
    "country": "study_locale",
    "sex": "gender",
}


def _tvd_hist(a: np.ndarray, b: np.ndarray, bins: int = 10) -> float:
    edges = np.linspace(0.5, 100.5, bins + 1)
    pa = np.histogram(a, edges)[0] / max(len(a), 1)
    pb = np.histogram(b, edges)[0] / max(len(b), 1)
    return float(0.5 * np.abs(pa - pb).sum())


@dataclass
class FidelityReport:
    """Outcome of :func:`fidelity`: ``distributions`` and ``rankings`` (one row per (by, group)),
    ``summary`` (headline numbers) and ``notes``."""

    distributions: pd.DataFrame
    rankings: pd.DataFrame
    summary: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def table(self) -> pd.DataFrame:
        """Distributions and rankings side by side, one row per (by, group).

        Returns
        -------
        pandas.DataFrame

        Example
        -------
        >>> from pluralis.data.synthetic import generate_study
        >>> fidelity(generate_study(60, seed=1), generate_study(60, seed=2), by=[], min_ratings=5).table().shape[0]
        1
        """
        return self.distributions.merge(self.rankings, on=["by", "group"], how="outer")


def _rank_scores(u: pd.DataFrame, method: str) -> pd.Series:
    if method == "mean_score":
        return u.groupby("model_name")["score"].mean()
    agg = get_aggregator(method)
    battles = extract_battles(u, turns="all")
    if battles.empty:
        return pd.Series(dtype=float)
    table = rank_models(battles, agg)
    s = pd.Series(table["score"].to_numpy(dtype=float), index=table["model"].to_numpy())
    return s if agg.higher_is_better else -s


def fidelity(
    simulated,
    human,
    *,
    by: Sequence[str] = ("gender", "age", "location_special_region"),
    method: str = "mean_score",
    turns: str = "openers",
    same_prompts: bool = True,
    min_ratings: int = 30,
) -> FidelityReport:
    """Compare simulated with human feedback per group (see the module docstring).

    ``simulated``/``human``: Study, StudyFrames, store or folder path, or ``(utterances, survey)``
    (:func:`pluralis.simulate.replay.study_frames`).
    ``by``: survey fields (aliases: region, ethnicity, religion, country, sex). ``method``:
    ``"mean_score"`` or a ranking method of :mod:`pluralis.ranking.engine`. Groups with fewer
    than ``min_ratings`` ratings on either side are skipped (noted).

    Parameters
    ----------
    simulated, human
        the two studies.
    by
        survey fields to group by.
    method
        how models are ranked within a group.
    turns
        ``"openers"`` (turn 0) or ``"all"``.
    same_prompts
        restrict both studies to the prompts they share (when they share any).
    min_ratings
        smallest group (ratings on each side) to compare.

    Returns
    -------
    FidelityReport

    Example
    -------
    >>> from pluralis.data.synthetic import generate_study
    >>> s = generate_study(150, seed=5)
    >>> rep = fidelity(s, s, by=["gender"], min_ratings=10)
    >>> float(rep.summary["mean_kendall_tau"]), float(rep.summary["mean_wasserstein"])
    (1.0, 0.0)
    """
    if turns not in ("openers", "all"):
        raise ConfigError(f"turns must be 'openers' or 'all', got {turns!r}")
    su, ss = study_frames(simulated)
    hu, hs = study_frames(human)
    notes: list[str] = []
    for name, u in (("simulated", su), ("human", hu)):
        if u is None or len(u) == 0:
            raise ConfigError(f"the {name} study has no rated responses")
    if turns == "openers":
        su, hu = su[su["turn"] == 0], hu[hu["turn"] == 0]
    if same_prompts:
        shared = set(su["user_prompt"]) & set(hu["user_prompt"])
        if shared:
            su, hu = su[su["user_prompt"].isin(shared)], hu[hu["user_prompt"].isin(shared)]
            notes.append(f"restricted to {len(shared)} prompts both studies share")
        else:
            notes.append("the studies share no prompts; comparing all prompts")
    fields = [FIELD_ALIASES.get(b, b) for b in by]
    for f in fields:
        for name, s in (("simulated", ss), ("human", hs)):
            if f not in s.columns:
                raise ConfigError(f"the {name} survey has no field {f!r}")
    su = su.merge(ss[["user_id", *fields]], on="user_id", how="left") if fields else su
    hu = hu.merge(hs[["user_id", *fields]], on="user_id", how="left") if fields else hu
    slots: list[tuple[str, Any, np.ndarray, np.ndarray]] = [(ALL, ALL, np.ones(len(su), bool), np.ones(len(hu), bool))]
    for f in fields:
        values = sorted(set(su[f].dropna()) & set(hu[f].dropna()), key=str)
        for v in values:
            slots.append((f, v, (su[f] == v).to_numpy(), (hu[f] == v).to_numpy()))
    drows, rrows = [], []
    for f, v, ms, mh in slots:
        a = su.loc[ms, "score"].to_numpy(dtype=float)
        b = hu.loc[mh, "score"].to_numpy(dtype=float)
        if len(a) < min_ratings or len(b) < min_ratings:
            notes.append(f"skipped {f} = {v!r}: {len(a)} simulated / {len(b)} human ratings (< {min_ratings})")
            continue
        drows.append(
            {
                "by": f,
                "group": v,
                "n_simulated": len(a),
                "n_human": len(b),
                "mean_simulated": a.mean(),
                "mean_human": b.mean(),
                "mean_diff": a.mean() - b.mean(),
                "sd_simulated": a.std(ddof=1),
                "sd_human": b.std(ddof=1),
                "wasserstein": float(stats.wasserstein_distance(a, b)),
                "ks": float(stats.ks_2samp(a, b).statistic),
                "tvd_hist": _tvd_hist(a, b),
            }
        )
        rs = _rank_scores(su.loc[ms], method)
        rh = _rank_scores(hu.loc[mh], method)
        common = sorted(set(rs.index) & set(rh.index))
        tau, p = (np.nan, np.nan)
        if len(common) >= 3:
            res = stats.kendalltau(rs.reindex(common).to_numpy(), rh.reindex(common).to_numpy())
            tau, p = float(res.statistic), float(res.pvalue)
        rrows.append(
            {
                "by": f,
                "group": v,
                "method": method,
                "n_models": len(common),
                "kendall_tau": tau,
                "p_value": p,
                "top_simulated": rs.idxmax() if len(rs) else None,
                "top_human": rh.idxmax() if len(rh) else None,
                "same_top": bool(len(rs) and len(rh) and rs.idxmax() == rh.idxmax()),
            }
        )
    dist = pd.DataFrame(
        drows,
        columns=[
            "by",
            "group",
            "n_simulated",
            "n_human",
            "mean_simulated",
            "mean_human",
            "mean_diff",
            "sd_simulated",
            "sd_human",
            "wasserstein",
            "ks",
            "tvd_hist",
        ],
    )
    ranks = pd.DataFrame(
        rrows,
        columns=[
            "by",
            "group",
            "method",
            "n_models",
            "kendall_tau",
            "p_value",
            "top_simulated",
            "top_human",
            "same_top",
        ],
    )
    groups = ranks[ranks["by"] != ALL]
    summary = {
        "groups": int(len(groups)),
        "overall_kendall_tau": float(ranks.loc[ranks["by"] == ALL, "kendall_tau"].iloc[0])
        if (ranks["by"] == ALL).any()
        else np.nan,
        "mean_kendall_tau": float(ranks["kendall_tau"].mean()) if len(ranks) else np.nan,
        "mean_wasserstein": float(dist["wasserstein"].mean()) if len(dist) else np.nan,
        "mean_abs_mean_diff": float(dist["mean_diff"].abs().mean()) if len(dist) else np.nan,
        "same_top_share": float(ranks["same_top"].mean()) if len(ranks) else np.nan,
        "method": method,
    }
    return FidelityReport(dist, ranks, summary, notes)
