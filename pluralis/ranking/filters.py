"""Rater-quality filters: too few votes, and raters who disagree with everyone else.

Two filters, both optional and both reported (who was dropped and why):

``min_votes``
    drop raters with fewer than this many battles (votes).
outlier raters
    every rater's choices are scored against the *leave-one-out consensus*: a Bradley–Terry
    model fitted to everyone else's battles (L2 penalty as ``bt``; all raters' fits in one
    batched solve). A rater's ``agreement`` is the mean probability that consensus gives to the
    side the rater chose, over their decisive battles (0.5 = no better than a coin; a rater who
    always picks the consensus loser scores below 0.5). Outliers are raters whose agreement lies
    more than ``outlier_z`` robust standard deviations (``1.4826 × MAD``, at least
    :data:`MIN_SCALE`) below the median, or
    below ``min_agreement`` when given.

A rater can disagree because they are careless or adversarial — or because they belong to a
group with different preferences. Pluralistic analyses should look at *who* the filter drops
(the report carries each rater's id, so it can be joined to the survey) before trusting it.

Example
-------
>>> rows = [("x", "y", "model_a", f"u{k}") for k in range(20) for _ in range(3)]
>>> rows += [("x", "y", "model_b", "troll")] * 3
>>> b = pd.DataFrame(rows, columns=["model_a", "model_b", "winner", "user_id"])
>>> kept, report = filter_raters(b, outliers=True)
>>> report.loc[report["dropped"], "user_id"].tolist(), len(kept)
(['troll'], 60)
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from pluralis.errors import ConfigError, DataValidationError, Problem
from pluralis.ranking.battles import TIE, encode_battles
from pluralis.ranking.methods.bt import bt_from_counts

__all__ = ["MIN_SCALE", "filter_raters", "rater_quality"]

#: Floor of the robust SD of agreement (raters who all agree perfectly have a MAD of 0).
MIN_SCALE = 0.02

#: Raters per batched leave-one-out fit (bounds memory: raters x models x models).
_CHUNK = 2000


def rater_quality(battles: pd.DataFrame, *, rater: str = "user_id", C: float = 1.0) -> pd.DataFrame:
    """Per rater: votes, decisive votes and agreement with the leave-one-out consensus.

    Parameters
    ----------
    battles
        battle frame with the rater column.
    rater
        the rater column.
    C
        inverse L2 penalty of the consensus Bradley–Terry fits.

    Returns
    -------
    pandas.DataFrame
        ``user_id`` (the rater), ``votes``, ``decisive``, ``agreement`` (NaN without decisive
        votes), ``z`` (robust z-score of ``agreement``: ``(a - median) / (1.4826 MAD)``, the
        scale floored at :data:`MIN_SCALE`).

    Example
    -------
    >>> b = pd.DataFrame({"model_a": ["x"] * 8, "model_b": ["y"] * 8, "user_id": list("aabbccdd"),
    ...                   "winner": ["model_a"] * 6 + ["model_b"] * 2})
    >>> q = rater_quality(b).set_index("user_id")
    >>> q["votes"].tolist(), bool(q.loc["a", "agreement"] > 0.5 > q.loc["d", "agreement"])
    ([2, 2, 2, 2], True)
    """
    if rater not in battles.columns:
        raise DataValidationError(Problem("battles", None, rater, "required column is missing"))
    arr = encode_battles(battles, cluster=rater)
    assert arr.cluster is not None
    n, G = arr.n_models, arr.n_clusters
    dec = arr.outcome != TIE
    winner = np.where(arr.outcome == 1, arr.b, arr.a)
    loser = np.where(arr.outcome == 1, arr.a, arr.b)
    cell = winner * n + loser
    total_w = np.bincount(cell[dec], minlength=n * n).astype(float)
    tie_cell = arr.a * n + arr.b
    total_t = np.bincount(tie_cell[~dec], minlength=n * n).astype(float)
    votes = np.bincount(arr.cluster, minlength=G)
    decisive = np.bincount(arr.cluster[dec], minlength=G)
    agreement = np.full(G, np.nan)
    for s in range(0, G, _CHUNK):
        ids = np.arange(s, min(G, s + _CHUNK))
        own = np.isin(arr.cluster, ids)
        local = arr.cluster[own] - s
        W = np.repeat(total_w[None, :], len(ids), axis=0)
        T = np.repeat(total_t[None, :], len(ids), axis=0)
        dk = dec[own]
        np.subtract.at(W, (local[dk], cell[own][dk]), 1.0)
        np.subtract.at(T, (local[~dk], tie_cell[own][~dk]), 1.0)
        Wm = W.reshape(-1, n, n)
        Tm = T.reshape(-1, n, n)
        beta = (bt_from_counts(Wm, Tm + np.swapaxes(Tm, -1, -2), C=C) - 1000.0) / 400.0 * np.log(10.0)
        rw, rl, rc = winner[own][dk], loser[own][dk], local[dk]
        p = 1.0 / (1.0 + np.exp(-(beta[rc, rw] - beta[rc, rl])))
        sums = np.bincount(rc, weights=p, minlength=len(ids))
        cnt = np.bincount(rc, minlength=len(ids))
        agreement[ids] = np.divide(sums, cnt, out=np.full(len(ids), np.nan), where=cnt > 0)
    med = np.nanmedian(agreement) if np.isfinite(agreement).any() else np.nan
    mad = 1.4826 * np.nanmedian(np.abs(agreement - med)) if np.isfinite(agreement).any() else np.nan
    scale = max(float(mad), MIN_SCALE) if np.isfinite(mad) else np.nan
    with np.errstate(invalid="ignore", divide="ignore"):
        z = (agreement - med) / scale
    return pd.DataFrame(
        {"user_id": list(arr.clusters or ()), "votes": votes, "decisive": decisive, "agreement": agreement, "z": z}
    )


def filter_raters(
    battles: pd.DataFrame,
    *,
    min_votes: int = 0,
    outliers: bool = False,
    outlier_z: float = 3.0,
    min_agreement: float | None = None,
    rater: str = "user_id",
    **options: Any,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Drop raters with too few votes and/or who disagree with the leave-one-out consensus.

    Parameters
    ----------
    battles
        battle frame with the rater column.
    min_votes
        keep raters with at least this many battles (0: no minimum).
    outliers
        drop outlier raters (see the module docstring).
    outlier_z
        robust z-score below which a rater is an outlier.
    min_agreement
        also (or instead) drop raters whose agreement is below this (e.g. 0.5: worse than a coin).
    rater
        the rater column.
    options
        passed to :func:`rater_quality` (``C``).

    Returns
    -------
    tuple
        the kept battles and the report: :func:`rater_quality`'s columns plus ``dropped`` and
        ``reason``. The outlier scores are computed on the raters left after ``min_votes``.

    Example
    -------
    >>> b = pd.DataFrame({"model_a": ["x"] * 5, "model_b": ["y"] * 5, "winner": ["model_a"] * 5,
    ...                   "user_id": ["a", "a", "a", "b", "c"]})
    >>> kept, report = filter_raters(b, min_votes=2)
    >>> sorted(kept["user_id"].unique()), report.set_index("user_id").loc["b", "reason"]
    (['a'], 'fewer than 2 votes (1)')
    """
    if min_votes < 0:
        raise ConfigError(f"min_votes must be >= 0, got {min_votes}")
    if not outlier_z > 0:
        raise ConfigError(f"outlier_z must be > 0, got {outlier_z}")
    if min_agreement is not None and not 0 <= min_agreement <= 1:
        raise ConfigError(f"min_agreement must be between 0 and 1, got {min_agreement}")
    if rater not in battles.columns:
        raise DataValidationError(Problem("battles", None, rater, "required column is missing"))
    votes = battles[rater].value_counts()
    few = votes[votes < min_votes]
    reasons: dict[Any, str] = {r: f"fewer than {min_votes} votes ({int(v)})" for r, v in few.items()}
    kept = battles[~battles[rater].isin(few.index)]
    if (outliers or min_agreement is not None) and len(kept):
        q = rater_quality(kept, rater=rater, **options)
        bad = np.zeros(len(q), dtype=bool)
        if outliers:
            bad |= (q["z"] < -outlier_z).to_numpy()
        if min_agreement is not None:
            bad |= (q["agreement"] < min_agreement).to_numpy()
        for r, a, z in q.loc[bad, ["user_id", "agreement", "z"]].itertuples(index=False):
            reasons[r] = f"agreement {a:.2f} with the others' consensus (robust z {z:.1f})"
        kept = kept[~kept[rater].isin(q.loc[bad, "user_id"])]
        report = q
    else:
        report = pd.DataFrame({"user_id": votes.index, "votes": votes.to_numpy()})
    allr = pd.DataFrame({"user_id": votes.index, "votes_all": votes.to_numpy()})
    report = allr.merge(report.drop(columns=["votes"], errors="ignore"), on="user_id", how="left")
    report = report.rename(columns={"votes_all": "votes"})
    report["dropped"] = report["user_id"].isin(reasons.keys())
    report["reason"] = report["user_id"].map(reasons)
    report.attrs.update({"min_votes": min_votes, "outliers": outliers, "outlier_z": outlier_z})
    return kept.reset_index(drop=True), report.reset_index(drop=True)
