"""The admin dashboard's figures: the live "whose preferences?" panel, representativeness, quotas, failures.

The repository (:class:`pluralis.web.repository.CollectRepository`) only reads the store; this module composes
what the dashboard shows (its plots are drawn by :mod:`pluralis.web.plots`). The panel ranks the models from the
opening turns of finished conversations with the aggregation engine
(:func:`pluralis.ranking.battles.extract_battles`, then pairwise rank centrality through
:func:`pluralis.ranking.engine.rank_models`), overall and per participant group, with uncertainty:

- **intervals**: a participant bootstrap (:func:`pluralis.ranking.uncertainty.bootstrap`, ``rounds`` resamples
  of people, each bringing all their battles) gives every model's score and rank interval (95 %) and how often
  it ranked first;
- **groups**: each group of a participant field (age, gender, ...) with at least ``min_group_size`` participants
  is ranked with intervals, and contrasted with everyone (:func:`pluralis.ranking.subgroups.subgroup_rankings`:
  the rank shift and whether its interval excludes 0); smaller groups are shown as "too few";
- **representativeness** (studies with census quotas): the participants against the census of the quotas'
  country (:func:`pluralis.census.representativeness.representativeness`), and the ranking raked to the
  census margins (:func:`pluralis.census.weights.census_weights`) beside the raw one.

When PRC cannot rank a set of participants (no battles yet, fewer than ``min_battles``, or the engine refuses
the battles) the panel says so, with the reason, and shows no ranking: there is no silent substitute method.
The ratings' mean scores are on the dashboard anyway, in their own table.

Example
-------
>>> import pandas as pd
>>> ratings = pd.DataFrame({"user_id": ["u1"] * 3, "interaction_id": ["i1"] * 3, "turn": [0] * 3,
...     "model_name": ["x", "y", "z"], "score": [90, 50, 10], "gender": ["Female"] * 3})
>>> panel = whose_preferences(ratings, ["gender"])
>>> panel["method"], [r["model"] for r in panel["overall"]], list(panel["groups"]["gender"])
('prc', ['x', 'y', 'z'], ['Female'])
"""

from __future__ import annotations

import hashlib
import json
import math
import threading
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from pluralis.census.representativeness import representativeness
from pluralis.census.weights import census_weights
from pluralis.errors import PluralisError
from pluralis.ranking.battles import extract_battles
from pluralis.ranking.contrasts import group_contrasts, most_certain_first
from pluralis.ranking.engine import rank_models
from pluralis.ranking.subgroups import subgroup_rankings
from pluralis.ranking.uncertainty import bootstrap
from pluralis.web import plots

if TYPE_CHECKING:
    from pluralis.collect.config import StudyConfig
    from pluralis.collect.quotas import QuotaPlan
    from pluralis.web.repository import CollectRepository

#: The aggregator of the panel.
PANEL_METHOD = "prc"
#: How the dashboard names the methods it may report.
METHOD_LABELS = {"prc": "pairwise rank centrality (PRC)"}
#: Seconds between two recomputations of the "whose preferences?" panel.
WHOSE_PREFERENCES_MIN_INTERVAL = 30.0
#: Level of the bootstrap intervals.
LEVEL = 0.95
#: Most group-vs-group contrasts the panel lists per field (the smallest p-values first).
MAX_CONTRASTS = 40
#: Most relabellings of the permutation omnibus test (the bootstrap rounds, if fewer).
MAX_PERMUTATIONS = 500
#: Seed of the dashboard's bootstraps (the same data gives the same intervals).
SEED = 0
#: Time buckets of the failure-rate chart, seconds (the smallest giving at most ``MAX_BUCKETS`` buckets).
BUCKETS = (60, 300, 900, 3600, 6 * 3600, 86400, 7 * 86400)
#: Most buckets in the failure-rate chart.
MAX_BUCKETS = 48


def _num(x: Any, digits: int = 4) -> float | None:
    """A JSON-safe rounded float (``None`` for NaN/inf)."""
    try:
        v = float(x)
    except (TypeError, ValueError):
        return None
    return round(v, digits) if math.isfinite(v) else None


def _int(x: Any) -> int | None:
    """A JSON-safe int (``None`` for a missing value)."""
    return None if _missing(x) else int(x)


def _missing(x: Any) -> bool:
    return x is None or x is pd.NA or (isinstance(x, float) and math.isnan(x))


def intervals(battles: pd.DataFrame, *, rounds: int, seed: int = SEED, weights: pd.Series | None = None) -> dict:
    """Participant-bootstrap intervals of the PRC scores and ranks of a set of battles, or why there are none.

    Parameters
    ----------
    battles
        Battles with a ``user_id`` column.
    rounds
        Bootstrap resamples (0: none).
    seed
        The resampling seed.
    weights
        Participant weights (by ``user_id``; participants without one count 0), for a raked ranking.

    Returns
    -------
    dict
        ``rows`` (``{model: {score, score_lo, score_hi, rank, rank_lo, rank_hi, p_top}}``), ``rounds``,
        ``level`` and ``reason`` (why there are no intervals, else ``None``).

    Example
    -------
    >>> b = pd.DataFrame({"model_a": ["x", "x", "y", "x"], "model_b": ["y", "z", "z", "y"],
    ...     "winner": ["model_a", "model_a", "model_a", "model_a"], "user_id": ["u1", "u2", "u3", "u4"]})
    >>> out = intervals(b, rounds=50)
    >>> out["reason"], out["rows"]["x"]["rank"], out["rows"]["x"]["rank_lo"]
    (None, 1, 1)
    >>> intervals(b.assign(user_id="u1"), rounds=50)["reason"]
    'intervals need at least 2 participants'
    """
    out: dict[str, Any] = {"rows": {}, "rounds": rounds, "level": LEVEL, "reason": None}
    if rounds <= 0:
        out["reason"] = "no bootstrap requested"
        return out
    if battles["user_id"].nunique() < 2:
        out["reason"] = "intervals need at least 2 participants"
        return out
    try:
        res = bootstrap(
            battles,
            PANEL_METHOD,
            rounds=rounds,
            unit="participants",
            level=LEVEL,
            seed=seed,
            weights=weights,
            missing_weights="zero",
        )
    except PluralisError as e:
        out["reason"] = f"no intervals: {e}"
        return out
    for r in res.summary().itertuples(index=False):
        out["rows"][str(r.model)] = {
            "score": _num(r.score),
            "score_lo": _num(r.score_lo),
            "score_hi": _num(r.score_hi),
            "rank": _int(r.rank),
            "rank_lo": _int(r.rank_lo),
            "rank_hi": _int(r.rank_hi),
            "p_top": _num(r.p_top, 3),
        }
    return out


def _with_intervals(ranking: list[dict[str, Any]], found: dict) -> list[dict[str, Any]]:
    rows = found["rows"]
    keys = ("score_lo", "score_hi", "rank_lo", "rank_hi", "p_top")
    return [{**r, **{k: rows.get(r["model"], {}).get(k) for k in keys}} for r in ranking]


def _components(battles: pd.DataFrame) -> int:
    """Number of separate sets of models the battles connect (1: every model was compared, maybe indirectly)."""
    codes, models = pd.factorize(pd.concat([battles["model_a"], battles["model_b"]], ignore_index=True))
    n = len(models)
    half = len(battles)
    graph = coo_matrix((np.ones(half), (codes[:half], codes[half:])), shape=(n, n))
    return int(connected_components(graph, directed=False)[0])


def rank_battles(battles: pd.DataFrame, *, min_battles: int = 1) -> dict[str, Any]:
    """Rank models from battles with PRC, or say why not.

    Parameters
    ----------
    battles
        Battles as :func:`pluralis.ranking.battles.extract_battles` returns them.
    min_battles
        Fewest battles worth a ranking.

    Returns
    -------
    dict
        ``method`` (``"prc"``, or ``None`` when no ranking was computed), ``ranking`` (``model``, ``score``,
        ``rank``, ``n`` battles; best first; empty without a ranking), ``battles`` (how many),
        ``reason`` (why there is no ranking, else ``None``) and ``note`` (a caveat about a ranking that was
        computed, else ``None``: battles that leave the models in separate sets, whose relative ranks
        only the method's prior decides).

    Example
    -------
    >>> b = pd.DataFrame({"model_a": ["x", "x", "y"], "model_b": ["y", "z", "z"],
    ...                   "winner": ["model_a", "model_a", "model_a"]})
    >>> out = rank_battles(b)
    >>> out["method"], [r["model"] for r in out["ranking"]], out["reason"]
    ('prc', ['x', 'y', 'z'], None)
    >>> rank_battles(b.iloc[:0])["reason"]
    'not enough battles (no two different models were rated in the same opening turn yet)'
    >>> rank_battles(b, min_battles=10)["reason"]
    'not enough battles (3 so far; the ranking needs at least 10)'
    """
    n = len(battles)
    out: dict[str, Any] = {"method": None, "ranking": [], "battles": n, "reason": None, "note": None}
    if n == 0:
        out["reason"] = "not enough battles (no two different models were rated in the same opening turn yet)"
        return out
    if n < min_battles:
        out["reason"] = f"not enough battles ({n} so far; the ranking needs at least {min_battles})"
        return out
    try:
        ranked = rank_models(battles, PANEL_METHOD)
    except PluralisError as e:
        out["reason"] = f"the {PANEL_METHOD.upper()} ranking could not be computed: {e}"
        return out
    out["method"] = PANEL_METHOD
    out["ranking"] = [
        {"model": m, "score": round(float(sc), 4), "rank": int(rk), "n": int(nb)}
        for m, sc, rk, nb in ranked[["model", "score", "rank", "n_battles"]].itertuples(index=False)
    ]
    parts = _components(battles)
    if parts > 1:
        out["note"] = (
            f"the battles leave the models in {parts} separate sets (never compared, even indirectly): "
            "ranks across sets are not comparable"
        )
    return out


def whose_preferences(
    ratings: pd.DataFrame,
    group_fields: Sequence[str] = (),
    *,
    min_battles: int = 1,
    min_group_size: int = 1,
    rounds: int = 0,
    seed: int = SEED,
) -> dict[str, Any]:
    """The "whose preferences?" panel: PRC model rankings overall and per participant group, with intervals.

    Parameters
    ----------
    ratings
        Rated opening-turn responses, one row per response: ``user_id``, ``interaction_id``, ``turn``,
        ``model_name``, ``score`` and one column per group field
        (:meth:`pluralis.web.repository.CollectRepository.opening_ratings`).
    group_fields
        Participant columns to break the ranking down by (fields missing from ``ratings`` are skipped).
    min_battles
        Fewest battles worth a ranking (overall and per group).
    min_group_size
        Fewest participants a group needs to be ranked; smaller groups are listed as ``too_few``.
    rounds
        Participant-bootstrap resamples for the intervals and the group contrasts (0: point rankings only).
    seed
        The bootstrap's seed.

    Returns
    -------
    dict
        ``method``, ``reason``, ``note``, ``battles`` and ``overall`` (the ranking, best first: ``model``,
        ``score``, ``rank``, ``n`` and, with ``rounds``, ``score_lo``/``score_hi``, ``rank_lo``/``rank_hi``,
        ``p_top``) as in :func:`rank_battles`; ``intervals`` (``rounds``, ``level``, ``reason``);
        ``groups``: ``{field: {value: {"participants", "too_few", "method", "ranking", "battles", "reason",
        "note"}}}``, largest group first, each ranking row with its intervals and its contrast with everyone
        (``shift`` = overall rank - group rank, ``shift_lo``/``shift_hi``, ``significant``);
        ``contrasts``: ``{field: {"summary", "contrasts", "reason"}}`` with ``rounds``: group-vs-group
        differences of every model's score with joint-bootstrap intervals, Holm-adjusted p-values and the
        omnibus tests (:func:`group_contrasts`), as :func:`contrasts_of` gives them;
        ``min_group_size``; ``computed_at`` (epoch seconds).

    See Also
    --------
    rank_battles : the ranking of one set of battles.
    intervals : the bootstrap intervals.

    Example
    -------
    >>> ratings = pd.DataFrame({"user_id": ["u1"] * 3 + ["u2"], "interaction_id": ["i1"] * 3 + ["i2"],
    ...     "turn": [0] * 4, "model_name": ["x", "y", "z", "x"], "score": [90, 50, 10, 70],
    ...     "age": ["18-24"] * 3 + ["65+"]})
    >>> panel = whose_preferences(ratings, ["age"])
    >>> [r["model"] for r in panel["overall"]], panel["groups"]["age"]["65+"]["reason"]
    (['x', 'y', 'z'], 'not enough battles (no two different models were rated in the same opening turn yet)')
    >>> whose_preferences(ratings, ["age"], min_group_size=2)["groups"]["age"]["18-24"]["reason"]
    'too few participants (1; groups need at least 2)'
    >>> whose_preferences(ratings.iloc[:0])["reason"]
    'no finished conversations yet'
    """
    out: dict[str, Any] = {
        "method": None,
        "reason": None,
        "note": None,
        "battles": 0,
        "overall": [],
        "intervals": {"rounds": rounds, "level": LEVEL, "reason": "no ranking"},
        "groups": {},
        "contrasts": {},
        "min_group_size": min_group_size,
    }
    if ratings.empty:
        out["reason"] = "no finished conversations yet"
        return out
    try:
        battles = extract_battles(ratings, short_names=False)  # once; groups are subsets of participants
    except PluralisError as e:
        out["reason"] = f"the battles could not be extracted from the ratings: {e}"
        return out
    overall = rank_battles(battles, min_battles=min_battles)
    out.update(
        method=overall["method"],
        reason=overall["reason"],
        note=overall["note"],
        battles=overall["battles"],
        overall=overall["ranking"],
    )
    if overall["ranking"]:
        found = intervals(battles, rounds=rounds, seed=seed)
        out["overall"] = _with_intervals(overall["ranking"], found)
        out["intervals"] = {k: found[k] for k in ("rounds", "level", "reason")}
    for field in group_fields:
        if field not in ratings.columns:
            continue
        users_of = ratings.dropna(subset=[field]).groupby(field)["user_id"].unique()
        contrasts = _contrasts(battles, ratings, field, min_group_size, rounds, seed) if overall["ranking"] else {}
        groups: dict[str, Any] = {}
        for value in ratings[field].value_counts().index:  # largest group first
            users = users_of[value]
            entry: dict[str, Any] = {"participants": int(len(users)), "too_few": len(users) < min_group_size}
            if entry["too_few"]:
                entry.update(
                    method=None,
                    ranking=[],
                    battles=int(battles["user_id"].isin(users).sum()),
                    reason=f"too few participants ({len(users)}; groups need at least {min_group_size})",
                    note=None,
                )
            else:
                ranked = rank_battles(battles[battles["user_id"].isin(users)], min_battles=min_battles)
                table = contrasts.get(str(value), {})
                ranking = [{**r, **table.get(r["model"], {})} for r in ranked["ranking"]]
                entry.update(
                    method=ranked["method"],
                    ranking=ranking,
                    battles=ranked["battles"],
                    reason=ranked["reason"],
                    note=ranked["note"],
                )
            groups[str(value)] = entry
        out["groups"][field] = groups
        if overall["ranking"] and rounds > 0:
            out["contrasts"][field] = contrasts_of(battles, ratings, field, min_group_size, rounds, seed)
    out["computed_at"] = time.time()
    return out


def _by_group(
    battles: pd.DataFrame, ratings: pd.DataFrame, field: str, min_group_size: int, rounds: int, seed: int
) -> dict[str, Any]:
    """The panel's arguments to a per-group analysis of ``field`` (one row per participant, PRC, its bootstrap)."""
    return {
        "battles": battles.drop(columns=[field], errors="ignore"),
        "by": field,
        "survey": ratings[["user_id", field]].dropna().drop_duplicates("user_id"),
        "method": PANEL_METHOD,
        "rounds": rounds,
        "level": LEVEL,
        "seed": seed,
        "min_participants": max(min_group_size, 2),
    }


def _contrasts(
    battles: pd.DataFrame, ratings: pd.DataFrame, field: str, min_group_size: int, rounds: int, seed: int
) -> dict[str, dict[str, dict[str, Any]]]:
    """Per group and model: score/rank intervals and the rank shift against everyone (joint bootstrap)."""
    if rounds <= 0:
        return {}
    args = _by_group(battles, ratings, field, min_group_size, rounds, seed)
    if args["survey"]["user_id"].nunique() < 2:
        return {}
    try:
        res = subgroup_rankings(**args)
    except PluralisError:
        return {}
    table = res.table[res.table["by"] != "(all)"]
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for r in table.itertuples(index=False):
        sig = r.significant
        out.setdefault(str(r.group), {})[str(r.model)] = {
            "score_lo": _num(r.score_lo),
            "score_hi": _num(r.score_hi),
            "rank_lo": _int(r.rank_lo),
            "rank_hi": _int(r.rank_hi),
            "shift": _int(r.shift),
            "shift_lo": _num(r.shift_lo, 1),
            "shift_hi": _num(r.shift_hi, 1),
            "significant": None if _missing(sig) else bool(sig),
        }
    return out


def contrasts_of(
    battles: pd.DataFrame, ratings: pd.DataFrame, field: str, min_group_size: int, rounds: int, seed: int = SEED
) -> dict[str, Any]:
    """Group-vs-group contrasts of one field for the panel: every pair of groups, every model.

    The differences of the panel's PRC scores between two groups, with intervals from one joint participant
    bootstrap, p-values adjusted by Holm over the field's models × group pairs, and the field's omnibus tests
    (Bradley–Terry likelihood ratio, permutation of the group labels); see :func:`group_contrasts`.

    Parameters
    ----------
    battles
        The panel's battles (with ``user_id``).
    ratings
        The rated openers, with the ``field`` column.
    field
        The participant field.
    min_group_size
        Fewest participants a group needs to be compared.
    rounds
        Bootstrap rounds.
    seed
        The bootstrap's seed.

    Returns
    -------
    dict
        ``summary`` (one row: omnibus p-values, ``n_significant`` of ``n_contrasts``, the top contrast),
        ``contrasts`` (at most :data:`MAX_CONTRASTS` rows, smallest p first: ``group``, ``other``, ``model``,
        ``difference``, ``lo``, ``hi``, ``p_value``, ``p_holm``, ``significant``, participants of each group),
        ``rounds``, ``level``, ``correction`` and ``reason`` (why there are none, else ``None``).

    Example
    -------
    >>> rows = [("x", "y", "model_a" if k % 2 or j % 5 else "model_b", f"u{k}", "F" if k % 2 else "M")
    ...         for k in range(40) for j in range(5)]
    >>> b = pd.DataFrame(rows, columns=["model_a", "model_b", "winner", "user_id", "gender"])
    >>> r = pd.DataFrame({"user_id": b["user_id"], "gender": b["gender"]})
    >>> c = contrasts_of(b, r, "gender", 5, rounds=50)
    >>> c["reason"], c["summary"]["n_contrasts"], sorted({row["model"] for row in c["contrasts"]})
    (None, 2, ['x', 'y'])
    """
    out: dict[str, Any] = {
        "summary": None,
        "contrasts": [],
        "rounds": rounds,
        "level": LEVEL,
        "correction": "holm",
        "reason": None,
    }
    args = _by_group(battles, ratings, field, min_group_size, rounds, seed)
    sizes = args["survey"][field].value_counts()
    if int((sizes >= args["min_participants"]).sum()) < 2:
        out["reason"] = f"fewer than two groups with at least {args['min_participants']} participants"
        return out
    try:
        res = group_contrasts(**args, permutations=min(rounds, MAX_PERMUTATIONS))
    except PluralisError as e:
        out["reason"] = f"the groups could not be contrasted: {e}"
        return out
    found = res.to_dict(max_contrasts=0)
    out["summary"] = found["summary"][0] if found["summary"] else None
    for r in most_certain_first(res.contrasts).head(MAX_CONTRASTS).to_dict("records"):
        out["contrasts"].append(
            {
                "group": str(r["group"]),
                "other": str(r["other"]),
                "model": str(r["model"]),
                "difference": _num(r["difference"]),
                "lo": _num(r["lo"]),
                "hi": _num(r["hi"]),
                "p_value": _num(r["p_value"]),
                "p_holm": _num(r["p_holm"]),
                "significant": None if _missing(r["significant"]) else bool(r["significant"]),
                "n_group": _int(r["n_participants_group"]),
                "n_other": _int(r["n_participants_other"]),
            }
        )
    if not out["contrasts"]:
        out["reason"] = "no model was rated by two groups"
    return out


def representation(
    survey: pd.DataFrame, battles: pd.DataFrame | None, country: str, *, rounds: int, seed: int = SEED
) -> dict[str, Any]:
    """The participants against the census of ``country``, and the ranking raked to its margins beside the raw one.

    Parameters
    ----------
    survey
        One row per participant: ``user_id``, ``age``, ``gender``, ``ethnicity_simplified``.
    battles
        The opening-turn battles (``None`` or empty: no rankings).
    country
        The census (``"US"``, ``"UK"``), the study's ``[quotas] country``.
    rounds
        Bootstrap resamples of the two rankings.
    seed
        The bootstrap's seed.

    Returns
    -------
    dict
        ``country``, ``participants``, ``classified``, ``tvd`` (per level), ``margins`` (rows: ``variable``,
        ``category``, ``n``, ``observed``, ``census``, ``difference_pp``), ``weights`` (``method``,
        ``ess``, ``max_weight``, ``converged``), ``raw`` and ``raked`` (``{model: {score, score_lo, score_hi,
        rank, rank_lo, rank_hi, p_top}}``) and ``reason`` (why something is missing, else ``None``).

    Example
    -------
    >>> from pluralis.data.synthetic import generate_study
    >>> s = generate_study(n_participants=80, seed=1).frames().survey
    >>> rep = representation(s[["user_id", "age", "gender", "ethnicity_simplified"]], None, "US", rounds=0)
    >>> rep["country"], rep["classified"] <= rep["participants"], sorted(rep["tvd"])
    ('US', True, ['age', 'ethnicity', 'gender', 'joint'])
    """
    out: dict[str, Any] = {
        "country": country,
        "participants": int(len(survey)),
        "classified": 0,
        "tvd": {},
        "margins": [],
        "weights": None,
        "raw": {},
        "raked": {},
        "reason": None,
    }
    if survey.empty:
        out["reason"] = "no participant has finished the survey yet"
        return out
    try:
        rep = representativeness(survey, country)
    except PluralisError as e:
        out["reason"] = str(e)
        return out
    out["classified"] = int(rep.n)
    out["tvd"] = {k: _num(v) for k, v in rep.tvd.items()}
    margins = rep.table[rep.table["level"] != "joint"]
    out["margins"] = [
        {
            "variable": str(r.level),
            "category": str(r.category),
            "n": _int(r.n_observed),
            "observed": _num(r.observed_share),
            "census": _num(r.expected_share),
            "difference_pp": _num(r.difference_pp, 2),
        }
        for r in margins.itertuples(index=False)
    ]
    try:
        w = census_weights(survey, country, on_empty="renormalise", on_unclassified="drop")
    except PluralisError as e:
        out["reason"] = f"no census weights: {e}"
        return out
    weights = w.weights
    positive = weights[weights > 0]
    out["weights"] = {
        "method": "rake",
        "converged": bool(w.converged),
        "ess": _num((positive.sum() ** 2) / (positive**2).sum(), 1) if len(positive) else 0.0,
        "max_weight": _num(positive.max(), 2) if len(positive) else None,
    }
    if battles is None or battles.empty:
        out["reason"] = "no ranking yet"
        return out
    raw = intervals(battles, rounds=rounds, seed=seed)
    raked = intervals(battles, rounds=rounds, seed=seed, weights=weights)
    out["raw"], out["raked"] = raw["rows"], raked["rows"]
    out["reason"] = raw["reason"] or raked["reason"]
    return out


def choose_bucket(span_s: float) -> int:
    """The time bucket of the failure-rate chart: the smallest of :data:`BUCKETS` giving at most 48 buckets.

    Parameters
    ----------
    span_s
        Seconds between the first and the last model call.

    Returns
    -------
    int
        Seconds per bucket.

    Example
    -------
    >>> choose_bucket(600), choose_bucket(5 * 3600), choose_bucket(10 * 86400)
    (60, 900, 21600)
    """
    for b in BUCKETS:
        if span_s / b <= MAX_BUCKETS:
            return b
    return BUCKETS[-1]


def failure_rates(counts: pd.DataFrame, bucket_s: int) -> dict[str, Any]:
    """Failure rate per model per time bucket: failed calls / (failed calls + responses).

    Parameters
    ----------
    counts
        ``model``, ``bucket`` (bucket index: epoch seconds // ``bucket_s``), ``responses``, ``failures``.
    bucket_s
        Seconds per bucket.

    Returns
    -------
    dict
        ``bucket_s`` and ``series``: ``{model: [{"t": bucket start (epoch s), "calls", "failures", "rate"}]}``
        (buckets without calls are left out); ``totals``: ``{model: {"calls", "failures", "rate"}}``.

    Example
    -------
    >>> c = pd.DataFrame({"model": ["a", "a", "b"], "bucket": [10, 11, 10], "responses": [3, 0, 4],
    ...                   "failures": [1, 2, 0]})
    >>> out = failure_rates(c, 60)
    >>> out["series"]["a"], out["totals"]["a"]
    ([{'t': 600, 'calls': 4, 'failures': 1, 'rate': 0.25}, {'t': 660, 'calls': 2, 'failures': 2, 'rate': 1.0}], {'calls': 6, 'failures': 3, 'rate': 0.5})
    """
    out: dict[str, Any] = {"bucket_s": int(bucket_s), "series": {}, "totals": {}}
    if counts.empty:
        return out
    c = counts.groupby(["model", "bucket"], as_index=False)[["responses", "failures"]].sum()
    c["calls"] = c["responses"] + c["failures"]
    c = c[c["calls"] > 0].sort_values(["model", "bucket"])
    for model, g in c.groupby("model", sort=True):
        out["series"][str(model)] = [
            {"t": int(b) * int(bucket_s), "calls": int(n), "failures": int(f), "rate": round(f / n, 4)}
            for b, n, f in zip(g["bucket"], g["calls"], g["failures"])
        ]
        calls, fails = int(g["calls"].sum()), int(g["failures"].sum())
        out["totals"][str(model)] = {"calls": calls, "failures": fails, "rate": round(fails / calls, 4)}
    return out


class Dashboard:
    """The admin dashboard's data for one study, with the costly panel recomputed at most every so often.

    The "whose preferences?" panel (rankings with bootstrap intervals, group contrasts and, with census quotas,
    the raked ranking) is recomputed only when conversations were finished since the last one and at most every
    ``min_interval`` seconds (the dashboard refreshes itself). Plots (:mod:`pluralis.web.plots`) are drawn from
    the same data and kept until it changes.

    Parameters
    ----------
    config
        The study.
    repo
        The study's repository (reads only).
    quota_plan
        The study's quota plan (for the quota fill).
    min_interval
        Seconds between two recomputations of the panel.
    clock
        Monotonic clock (for tests).

    Example
    -------
    >>> import os, tempfile
    >>> from pluralis.collect.config import StudyConfig
    >>> from pluralis.collect.quotas import QuotaPlan
    >>> from pluralis.store import Store
    >>> from pluralis.web.repository import CollectRepository
    >>> config = StudyConfig()
    >>> store = Store.open(os.path.join(tempfile.mkdtemp(), "s.sqlite"))
    >>> board = Dashboard(config, CollectRepository(store, config), QuotaPlan(config.quotas))
    >>> data = board.summary()
    >>> data["participants"], data["whose_preferences"]["reason"]
    (0, 'no finished conversations yet')
    """

    def __init__(
        self,
        config: StudyConfig,
        repo: CollectRepository,
        quota_plan: QuotaPlan,
        *,
        min_interval: float = WHOSE_PREFERENCES_MIN_INTERVAL,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.config = config
        self.repo = repo
        self.quota_plan = quota_plan
        self.min_interval = min_interval
        self.clock = clock
        self._lock = threading.Lock()
        self._key: int | None = None
        self._at = float("-inf")
        self._panel: dict[str, Any] | None = None
        self._representation: dict[str, Any] | None = None
        self._plots: dict[str, tuple[str, str]] = {}
        self._summary: tuple[float, dict[str, Any]] | None = None

    @property
    def census_country(self) -> str | None:
        """The country of the study's census quotas (``None`` without census quotas).

        Example
        -------
        >>> import os, tempfile
        >>> from pluralis.collect.config import StudyConfig
        >>> from pluralis.collect.quotas import QuotaPlan
        >>> from pluralis.store import Store
        >>> from pluralis.web.repository import CollectRepository
        >>> config = StudyConfig()
        >>> repo = CollectRepository(Store.open(os.path.join(tempfile.mkdtemp(), "s.sqlite")), config)
        >>> Dashboard(config, repo, QuotaPlan(config.quotas)).census_country is None
        True
        """
        quotas = self.config.quotas
        return quotas.country if quotas.kind == "census" else None

    def whose_preferences(self, finished: int) -> dict[str, Any]:
        """The panel, from the cache unless ``finished`` conversations changed and ``min_interval`` passed.

        Parameters
        ----------
        finished
            Finished conversations in the store now (the cache key).

        Returns
        -------
        dict
            As :func:`whose_preferences`.

        Example
        -------
        >>> import os, tempfile
        >>> from pluralis.collect.config import StudyConfig
        >>> from pluralis.collect.quotas import QuotaPlan
        >>> from pluralis.store import Store
        >>> from pluralis.web.repository import CollectRepository
        >>> config = StudyConfig()
        >>> repo = CollectRepository(Store.open(os.path.join(tempfile.mkdtemp(), "s.sqlite")), config)
        >>> board = Dashboard(config, repo, QuotaPlan(config.quotas))
        >>> board.whose_preferences(0) is board.whose_preferences(0)
        True
        """
        with self._lock:
            now = self.clock()
            fresh = self._key == finished or now - self._at < self.min_interval
            if self._panel is None or not fresh:
                admin = self.config.admin
                fields = list(admin.group_fields)
                ratings = self.repo.opening_ratings(fields)
                self._panel = whose_preferences(
                    ratings, fields, min_group_size=admin.min_group_size, rounds=admin.bootstrap_rounds
                )
                country = self.census_country
                if country is not None:
                    battles = None
                    if self._panel["overall"]:
                        battles = extract_battles(ratings, short_names=False)
                    self._representation = representation(
                        self.repo.survey_frame(), battles, country, rounds=admin.bootstrap_rounds
                    )
                self._key, self._at = finished, now
            return self._panel

    def representation(self, finished: int) -> dict[str, Any] | None:
        """The representativeness panel (:func:`representation`), cached with the rankings; ``None`` without
        census quotas.

        Parameters
        ----------
        finished
            Finished conversations in the store now (the cache key).

        Returns
        -------
        dict or None

        Example
        -------
        >>> import os, tempfile
        >>> from pluralis.collect.config import StudyConfig
        >>> from pluralis.collect.quotas import QuotaPlan
        >>> from pluralis.store import Store
        >>> from pluralis.web.repository import CollectRepository
        >>> config = StudyConfig.model_validate({"quotas": {"kind": "census", "country": "UK"}})
        >>> repo = CollectRepository(Store.open(os.path.join(tempfile.mkdtemp(), "s.sqlite")), config)
        >>> Dashboard(config, repo, QuotaPlan(config.quotas)).representation(0)["reason"]
        'no participant has finished the survey yet'
        """
        self.whose_preferences(finished)
        return self._representation

    def failure_rates(self) -> dict[str, Any]:
        """Model failure rates over time (:func:`failure_rates`), in buckets fitted to the study's span.

        Returns
        -------
        dict

        Example
        -------
        >>> import os, tempfile
        >>> from pluralis.collect.config import StudyConfig
        >>> from pluralis.collect.quotas import QuotaPlan
        >>> from pluralis.store import Store
        >>> from pluralis.web.repository import CollectRepository
        >>> config = StudyConfig()
        >>> repo = CollectRepository(Store.open(os.path.join(tempfile.mkdtemp(), "s.sqlite")), config)
        >>> Dashboard(config, repo, QuotaPlan(config.quotas)).failure_rates()
        {'bucket_s': 60, 'series': {}, 'totals': {}}
        """
        first, last = self.repo.model_call_span()
        bucket = choose_bucket((last - first) if first is not None and last is not None else 0.0)
        return failure_rates(self.repo.model_call_counts(bucket), bucket)

    def summary(self, max_age: float = 0.0) -> dict[str, Any]:
        """Everything the dashboard shows (also served as JSON by ``GET /admin/api/summary``).

        Blocking (database reads, and the panel when it is due): run it in a worker thread.

        Parameters
        ----------
        max_age
            Reuse the last summary when it is at most this many seconds old (the plots of one page).

        Returns
        -------
        dict
            ``study``, ``participants``, ``status`` (participants per step), ``quota`` (fill per cell),
            ``ratings`` (per model), ``failures`` (per model and kind), ``failure_rates`` (over time),
            ``counts`` (table rows), ``whose_preferences`` (:func:`whose_preferences`) and
            ``representativeness`` (:func:`representation`; ``None`` without census quotas).

        Example
        -------
        >>> import os, tempfile
        >>> from pluralis.collect.config import StudyConfig
        >>> from pluralis.collect.quotas import QuotaPlan
        >>> from pluralis.store import Store
        >>> from pluralis.web.repository import CollectRepository
        >>> config = StudyConfig()
        >>> repo = CollectRepository(Store.open(os.path.join(tempfile.mkdtemp(), "s.sqlite")), config)
        >>> sorted(Dashboard(config, repo, QuotaPlan(config.quotas)).summary())[:4]
        ['counts', 'failure_rates', 'failures', 'participants']
        """
        if max_age > 0 and self._summary is not None and self.clock() - self._summary[0] <= max_age:
            return self._summary[1]
        repo = self.repo
        statuses = repo.status_counts()
        counts = repo.counts()
        finished = counts.get("conversations", 0)
        data = {
            "study": self.config.study.id,
            "participants": sum(statuses.values()),
            "status": statuses,
            "quota": self.quota_plan.fill(repo.cell_counts()) if self.quota_plan.active else [],
            "ratings": repo.rating_summary(),
            "failures": repo.failure_summary(),
            "failure_rates": self.failure_rates(),
            "counts": counts,
            "whose_preferences": self.whose_preferences(finished),
            "representativeness": self.representation(finished),
        }
        self._summary = (self.clock(), data)
        return data

    def plot(self, name: str, data: dict[str, Any]) -> str | None:
        """An SVG plot of the dashboard (``ranking``, ``groups-FIELD``, ``raked``, ``representativeness``,
        ``quota``, ``failures``), drawn from ``data`` (:meth:`summary`) and kept until the data change.

        Parameters
        ----------
        name
            The plot.
        data
            The dashboard's data.

        Returns
        -------
        str or None
            The SVG document; ``None`` for an unknown plot or one without data.

        Example
        -------
        >>> import os, tempfile
        >>> from pluralis.collect.config import StudyConfig
        >>> from pluralis.collect.quotas import QuotaPlan
        >>> from pluralis.store import Store
        >>> from pluralis.web.repository import CollectRepository
        >>> config = StudyConfig.model_validate({"quotas": {"kind": "cells", "cells": [
        ...     {"name": "women", "match": {"gender": "Female"}, "target": 2}]}})
        >>> repo = CollectRepository(Store.open(os.path.join(tempfile.mkdtemp(), "s.sqlite")), config)
        >>> board = Dashboard(config, repo, QuotaPlan(config.quotas))
        >>> data = board.summary()
        >>> board.plot("quota", data).startswith("<?xml"), board.plot("ranking", data), board.plot("nope", data)
        (True, None, None)
        """
        part = plots.data_for(name, data)
        if part is None:
            return None
        key = hashlib.sha256(json.dumps(part, sort_keys=True, default=str).encode()).hexdigest()
        with self._lock:
            cached = self._plots.get(name)
            if cached is not None and cached[0] == key:
                return cached[1]
        svg = plots.draw(name, part)
        with self._lock:
            self._plots[name] = (key, svg)
        return svg


__all__ = [
    "BUCKETS",
    "LEVEL",
    "MAX_BUCKETS",
    "METHOD_LABELS",
    "PANEL_METHOD",
    "SEED",
    "WHOSE_PREFERENCES_MIN_INTERVAL",
    "Dashboard",
    "choose_bucket",
    "failure_rates",
    "intervals",
    "rank_battles",
    "representation",
    "whose_preferences",
]
