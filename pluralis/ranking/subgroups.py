"""Rankings per subgroup, and whether each rank shift against the overall ranking is significant.

PRISM Fig. 4B/C: recompute the ranking on one conversation type, or one participant group
("only US participants"), and trace how many places each model climbed (▲) or fell (▽)
relative to its overall rank.

Significance comes from a *joint* bootstrap: each round resamples once (participants with
replacement by default, or battles) and recomputes both the overall and every group's ranking
from that same resample, so the correlation between a group and the whole (which contains it)
is respected. A shift is significant when the percentile interval of
``overall_rank - group_rank`` excludes 0. The overall rank is taken among the models present in
the group, so the two are comparable.

Fields for ``by`` come from the battles (e.g. ``conversation_type``), the survey frame (merged on
``user_id``; e.g. ``location_special_region``, ``age``, ``gender``) or a conversations frame
(merged on ``conversation_id``). Friendly aliases: see :data:`FIELD_ALIASES`.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from pluralis.errors import ConfigError, DataValidationError
from pluralis.ranking.battles import BattleArrays, encode_battles, ratings_from_battles
from pluralis.ranking.encode import mean_by_model
from pluralis.ranking.engine import battle_covariates, ranks_from_scores, scores_for_arrays
from pluralis.ranking.intervals import check_interval
from pluralis.ranking.registry import Aggregator, aggregators, get_aggregator
from pluralis.ranking.resample import (
    checked_participant_weights,
    cluster_weights,
    rating_means_clusters,
    rescale_rounds,
)
from pluralis.ranking.uncertainty import BootstrapResult, Tournament, battle_scores, jackknife_blocks

#: Friendly names accepted by ``by=`` (and the CLI's ``--by``).
FIELD_ALIASES: dict[str, str] = {
    "birth_region": "location_birth_region",
    "birth_subregion": "location_birth_subregion",
    "birth_country": "location_birth_country",
    "reside_region": "location_reside_region",
    "residence_region": "location_reside_region",
    "reside_subregion": "location_reside_subregion",
    "reside_country": "location_reside_country",
    "special_region": "location_special_region",
    "region": "location_special_region",
    "ethnicity": "ethnicity_simplified",
    "religion": "religion_simplified",
    "age_band": "age",
    "age_group": "age",
    "sex": "gender",
    "type": "conversation_type",
    "context": "conversation_type",
    "locale": "study_locale",
    "study": "study_locale",
    "lm_familiarity": "lm_familiarity",
}

OVERALL = "(all)"
#: A numeric grouping field with more distinct values than this is cut into quantile groups.
NUMERIC_GROUPS_MAX = 10
#: How many quantile groups such a field is cut into (quartiles).
QUANTILE_GROUPS = 4


def resolve_field(name: str, *frames: pd.DataFrame | None) -> str:
    """The column a ``by`` name refers to (exact column, alias, or ``location_`` prefixed).

    Parameters
    ----------
    name
        a column name or friendly alias (:data:`FIELD_ALIASES`).
    frames
        the frames whose columns may hold it.

    Returns
    -------
    str
        the column name.

    Example
    -------
    >>> s = pd.DataFrame(columns=["user_id", "location_birth_region"])
    >>> resolve_field("birth_region", s)
    'location_birth_region'
    """
    cols: set[str] = set()
    for f in frames:
        if f is not None:
            cols.update(map(str, f.columns))
    candidates = [name, FIELD_ALIASES.get(name, name), f"location_{name}", f"{name}_simplified"]
    for c in candidates:
        if c in cols:
            return c
    known = sorted(c for c in cols if not c.endswith(("_a", "_b")))
    hint = ", ".join(known[:30])
    raise ConfigError(f"unknown field {name!r} for --by; available: {hint}{' ...' if len(known) > 30 else ''}")


def quantile_groups(values: pd.Series, groups: int = QUANTILE_GROUPS) -> pd.Series:
    """A numeric field as quantile groups, each labelled with the range of the values it holds.

    The cut points are the field's inner quantiles (a value on a cut point belongs to the lower group, as in
    ``pandas.qcut``, and tied cut points count once); missing values stay missing. Unlike ``qcut``, a cut
    point equal to the smallest value keeps that value as its own group instead of merging it upwards.

    Parameters
    ----------
    values
        the field (numeric).
    groups
        how many groups at most.

    Returns
    -------
    pandas.Series
        object labels such as ``"18–29"`` (a group of one value: ``"42"``), aligned with ``values``.

    Example
    -------
    >>> quantile_groups(pd.Series([18, 22, 25, 31, 40, 47, 52, 60, 66, 71, None])).tolist()
    ['18–25', '18–25', '18–25', '31–40', '31–40', '47–52', '47–52', '60–71', '60–71', '60–71', nan]
    """
    x = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float)
    present = ~np.isnan(x)
    if not present.any():
        return pd.Series(np.full(len(x), np.nan, dtype=object), index=values.index)
    edges = np.unique(np.quantile(x[present], np.linspace(0, 1, groups + 1)[1:-1]))
    code = np.searchsorted(edges, x, side="left")
    labels = np.full(len(x), np.nan, dtype=object)
    for g in np.unique(code[present]):
        members = present & (code == g)
        lo, hi = x[members].min(), x[members].max()
        labels[members] = f"{lo:g}" if lo == hi else f"{lo:g}–{hi:g}"
    return pd.Series(labels, index=values.index)


def numeric_as_groups(values: pd.Series, name: str) -> pd.Series:
    """``values`` cut into :func:`quantile_groups` when they are numeric with more than
    :data:`NUMERIC_GROUPS_MAX` distinct values (with a warning naming the groups); else unchanged.

    One group per value would make groups too small to compare (every age in years its own group). Give
    the values one row per unit the quantiles should count (one per participant for a survey field).

    Parameters
    ----------
    values
        a grouping field.
    name
        its name, for the warning.

    Returns
    -------
    pandas.Series

    Example
    -------
    >>> import warnings
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore")
    ...     numeric_as_groups(pd.Series(range(20)), "age").unique().tolist()
    ['0–4', '5–9', '10–14', '15–19']
    >>> numeric_as_groups(pd.Series([1, 2, 2, 3]), "wave").tolist()
    [1, 2, 2, 3]
    """
    if not pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values):
        return values
    distinct = values.nunique()
    if distinct <= NUMERIC_GROUPS_MAX:
        return values
    grouped = quantile_groups(values)
    shown = ", ".join(pd.unique(grouped.dropna()).tolist())
    warnings.warn(
        f"{name}: {distinct} distinct numeric values, grouped by quantile ({shown}); "
        "give a field of groups for other cut points",
        UserWarning,
        stacklevel=3,
    )
    return grouped


def field_by_key(rows: pd.DataFrame, source: pd.DataFrame, key: str, col: str) -> np.ndarray:
    """``source[col]`` for each row of ``rows`` by ``key`` (a participant or conversation field), with a
    many-valued numeric field cut into quantile groups of the keys (:func:`numeric_as_groups`), not of the rows.

    Parameters
    ----------
    rows
        the frame to give the field to (battles, texts, pairs), with ``key``.
    source
        one row per ``key`` (the first is used when repeated), with ``col``.
    key
        the join column, e.g. ``"user_id"``.
    col
        the field.

    Returns
    -------
    numpy.ndarray
        aligned with ``rows``; missing where ``source`` has no such key.

    Example
    -------
    >>> rows = pd.DataFrame({"user_id": ["u", "v", "u"]})
    >>> field_by_key(rows, pd.DataFrame({"user_id": ["u", "v"], "gender": ["F", "M"]}), "user_id", "gender").tolist()
    ['F', 'M', 'F']
    """
    lookup = numeric_as_groups(source.drop_duplicates(key).set_index(key)[col], col)
    return rows[key].map(lookup).to_numpy()


def attach_fields(
    battles: pd.DataFrame,
    fields: Sequence[str | tuple[str, ...]],
    *,
    survey: pd.DataFrame | None = None,
    conversations: pd.DataFrame | None = None,
) -> tuple[pd.DataFrame, list[str]]:
    """Add participant / conversation fields to a battle frame; returns it and the resolved names.

    A tuple of fields is an intersection: one column named ``"a × b"`` with values ``"x / y"``. A numeric
    field with more than :data:`NUMERIC_GROUPS_MAX` distinct values is cut into quartiles of its
    participants (conversations, battles for a battle-level field): :func:`numeric_as_groups`.

    Parameters
    ----------
    battles
        battle frame (with ``user_id`` / ``conversation_id`` to join on).
    fields
        field names or aliases; a tuple is an intersection.
    survey, conversations
        frames to take the fields from.

    Returns
    -------
    tuple
        the battle frame with the fields added, and the resolved column names.

    Example
    -------
    >>> b = pd.DataFrame({"model_a": ["x"], "model_b": ["y"], "winner": ["tie"], "user_id": ["u"]})
    >>> s = pd.DataFrame({"user_id": ["u"], "location_birth_region": ["Europe"], "gender": ["Female"]})
    >>> out, names = attach_fields(b, ["birth_region", ("gender", "birth_region")], survey=s)
    >>> names, out["gender × location_birth_region"].tolist()
    (['location_birth_region', 'gender × location_birth_region'], ['Female / Europe'])
    """
    out = battles
    names = []
    for f in fields:
        if isinstance(f, (tuple, list)):  # an intersection, e.g. ("gender", "age")
            out, parts = attach_fields(out, list(f), survey=survey, conversations=conversations)
            col = " × ".join(parts)
            if col not in out.columns:
                values = out[parts].astype(object)
                joined = values.astype(str).agg(" / ".join, axis=1)
                out = out.assign(**{col: joined.where(values.notna().all(axis=1)).to_numpy()})
            names.append(col)
            continue
        col = resolve_field(f, battles, survey, conversations)
        names.append(col)
        if col in out.columns:  # a battle-level field: quantiles of battles
            out = out.assign(**{col: numeric_as_groups(out[col], col).to_numpy()})
            continue
        # participant and conversation fields: quantiles of participants / conversations
        if survey is not None and col in survey.columns:
            if "user_id" not in out.columns:
                raise ConfigError("battles need a user_id column to attach survey fields")
            out = out.assign(**{col: field_by_key(out, survey, "user_id", col)})
        elif conversations is not None and col in conversations.columns:
            if "conversation_id" not in out.columns:
                raise ConfigError("battles need a conversation_id column to attach conversation fields")
            out = out.assign(**{col: field_by_key(out, conversations, "conversation_id", col)})
    return out, names


@dataclass
class SubgroupResult:
    """Per-group rankings with shifts against the overall ranking.

    ``table`` is tidy: one row per (field, group, model) — see :func:`subgroup_rankings`.
    ``overall`` and ``groups`` hold the bootstrap draws; ``skipped`` the groups left out and why.

    Example
    -------
    >>> b = pd.DataFrame({"model_a": ["x"] * 15 + ["y"] * 5, "model_b": ["y"] * 15 + ["x"] * 5,
    ...     "winner": ["model_a"] * 20, "user_id": [f"u{i}" for i in range(20)], "g": ["p"] * 15 + ["q"] * 5})
    >>> res = subgroup_rankings(b, "g", rounds=20, min_participants=5)
    >>> res.ranks_wide().loc["x"].tolist(), res.shifts()["direction"].tolist()   # x falls in group q
    ([1.0, 1.0, 2.0], ['▽', '▲'])
    """

    table: pd.DataFrame
    overall: BootstrapResult
    groups: dict[tuple[str, Any], BootstrapResult] = field(default_factory=dict)
    skipped: dict[tuple[str, Any], str] = field(default_factory=dict)

    def ranks_wide(self) -> pd.DataFrame:
        """Models (rows, by overall rank) x groups (columns): the rank in each group (see the class example)."""
        t = self.table
        wide = t.pivot_table(index="model", columns=["by", "group"], values="rank", aggfunc="first", sort=False)
        order = t[t["by"] == OVERALL].sort_values("rank")["model"]
        return wide.reindex(order)

    def shifts(self, *, significant_only: bool = False) -> pd.DataFrame:
        """Rows with a non-zero rank shift, largest absolute shifts first (see the class example)."""
        t = self.table[(self.table["by"] != OVERALL) & (self.table["shift"].fillna(0) != 0)]
        if significant_only:
            t = t[t["significant"].fillna(False).astype(bool)]
        return t.reindex(t["shift"].abs().sort_values(ascending=False, kind="stable").index)


Slot = tuple[str, Any, np.ndarray]
SlotScores = tuple[np.ndarray, np.ndarray, np.ndarray]  # present-model mask, estimate, draws


def group_slots(
    frame: pd.DataFrame,
    names: Sequence[str],
    arrays: BattleArrays,
    *,
    min_participants: int = 20,
    min_battles: int = 1,
    exclude: Sequence[Any] = (),
    groups: Sequence[Any] | None = None,
    participant_weights: np.ndarray | None = None,
) -> tuple[list[Slot], dict[tuple[str, Any], str]]:
    """The groups to analyse: ``(field, value, battle mask)`` per kept value, and the skipped ones with why.

    Parameters
    ----------
    frame
        battle frame with the grouping columns attached (:func:`attach_fields`).
    names
        the grouping columns.
    arrays
        the frame's encoded battles (participant codes, for weighted counts).
    min_participants, min_battles
        smaller groups are skipped.
    exclude, groups
        values to drop, or the only values to keep.
    participant_weights
        one weight per participant of ``arrays`` (weighted analyses count participants with a
        positive weight), or None.

    Returns
    -------
    tuple
        the kept slots (ordered by field, then value as text) and ``{(field, value): reason}``.

    Example
    -------
    >>> b = pd.DataFrame({"model_a": ["x"] * 3, "model_b": ["y"] * 3, "winner": ["model_a"] * 3,
    ...                   "user_id": ["u1", "u2", "u3"], "g": ["p", "p", "q"]})
    >>> slots, skipped = group_slots(b, ["g"], encode_battles(b), min_participants=2)
    >>> [(f, v, m.tolist()) for f, v, m in slots], skipped
    ([('g', 'p', [True, True, False])], {('g', 'q'): '1 participants, 1 battles'})
    """
    pw = participant_weights
    slots: list[Slot] = []
    skipped: dict[tuple[str, Any], str] = {}
    excluded = set(exclude)
    for col in names:
        values = frame[col]
        for value in pd.unique(values.dropna()):
            if value in excluded or (groups is not None and value not in groups):
                continue
            mask = (values == value).to_numpy()
            n_b = int(mask.sum())
            n_p = int(frame.loc[mask, "user_id"].nunique()) if "user_id" in frame.columns else 0
            if n_b < max(1, min_battles) or ("user_id" in frame.columns and n_p < min_participants):
                skipped[(col, value)] = f"{n_p} participants, {n_b} battles"
                continue
            if pw is not None and arrays.cluster is not None:
                in_group = arrays.cluster[mask]
                n_w = int(np.unique(in_group[pw[in_group] > 0]).size)
                if n_w == 0 or n_w < min_participants:
                    skipped[(col, value)] = f"{n_p} participants ({n_w} with positive weight), {n_b} battles"
                    continue
            slots.append((col, value, mask))
    slots.sort(key=lambda s: (list(names).index(s[0]), str(s[1])))
    return slots, skipped


@contextmanager
def labelled_warnings(label: str) -> Iterator[None]:
    """Re-issue warnings raised inside (a fit that did not converge, ...) with ``label`` in front.

    Subgroup analyses wrap each group's fits in this, so a "did not converge" warning says which
    group it is about.

    Parameters
    ----------
    label
        e.g. ``"group gender = Female"``.

    Example
    -------
    >>> with warnings.catch_warnings(record=True) as seen:
    ...     warnings.simplefilter("always")
    ...     with labelled_warnings("group gender = Female"):
    ...         warnings.warn("Bradley-Terry fit did not converge", RuntimeWarning)
    >>> str(seen[0].message)
    'group gender = Female: Bradley-Terry fit did not converge'
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield
    for w in caught:
        category = w.category if issubclass(w.category, Warning) else RuntimeWarning
        warnings.warn(f"{label}: {w.message}", category, stacklevel=3)


def group_label(field: str, value: Any) -> str:
    """How a group is named in messages.

    Parameters
    ----------
    field : str
        The grouping field.
    value : Any
        The group's value of the field.

    Returns
    -------
    str
        ``"group <field> = <value>"``.

    Example
    -------
    >>> group_label("gender", "Female")
    'group gender = Female'
    """
    return f"group {field} = {value}"


def _direction(shift: float) -> str:
    if not np.isfinite(shift) or shift == 0:
        return "="
    return "▲" if shift > 0 else "▽"


def subgroup_rankings(
    battles: pd.DataFrame,
    by: str | tuple[str, ...] | Sequence[str | tuple[str, ...]],
    *,
    survey: pd.DataFrame | None = None,
    conversations: pd.DataFrame | None = None,
    method: str | Aggregator = "prc",
    rounds: int = 1000,
    unit: str = "participants",
    level: float = 0.95,
    seed: int | None = 0,
    min_participants: int = 20,
    min_battles: int = 1,
    exclude: Sequence[Any] = (),
    groups: Sequence[Any] | None = None,
    weights: pd.Series | None = None,
    missing_weights: str = "raise",
    interval: str = "percentile",
    target: str = "population",
    **options: Any,
) -> SubgroupResult:
    """Ranking for every value of one or more fields, with bootstrap CIs and significant shifts.

    Parameters
    ----------
    battles
        battle frame from :func:`~pluralis.ranking.battles.extract_battles`.
    by
        field name(s); each is handled separately (``["conversation_type", "birth_region"]``); a
        tuple of fields is one intersectional grouping (``[("gender", "age")]``).
    survey, conversations
        frames to take participant / conversation fields from.
    method, options
        aggregator and its options (see :mod:`pluralis.ranking.methods`). Order-based
        aggregators (online Elo) have no joint bootstrap: use a pair method such as ``"bt"``.
    rounds, unit, level, seed
        joint bootstrap settings (``rounds=0`` for point estimates only).
    min_participants, min_battles
        groups smaller than this are skipped (PRISM's score analyses drop groups < 20 people).
    exclude, groups
        values to drop (e.g. ``["Prefer not to say"]``) or the only values to keep.
    weights, missing_weights
        participant weights (Series by ``user_id``) for weighted rankings, overall and per group
        (see :func:`~pluralis.ranking.engine.rank_models`; each group's weights are rescaled to
        its number of battles); resampled participants or battles carry their weights.
        ``min_participants`` then counts participants with a positive weight; the table's
        ``n_battles`` / ``n_participants`` stay unweighted counts.
    interval
        score intervals: ``"percentile"`` (default), ``"bc"`` or ``"bca"`` (acceleration from a
        jackknife over participants, for pair methods with ``unit="participants"``; otherwise
        ``"bca"`` is ``"bc"``). Rank and shift intervals stay percentile ranges.
    target
        ``"population"`` (default): the score intervals of an aggregator whose prior biases its
        estimates (PRC's ``alpha``) come from the same resamples refitted without it, as
        :func:`~pluralis.ranking.uncertainty.bootstrap` does; ranks and shifts keep the prior.
        ``"estimator"``: intervals of the estimator's own draws.
    Returns
    -------
    :class:`SubgroupResult` whose ``table`` has columns ``by, group, model, n_battles,
    n_participants, score, score_lo, score_hi, rank, rank_lo, rank_hi, overall_rank, shift,
    shift_lo, shift_hi, significant, direction`` (``shift`` > 0: climbed; rows with
    ``by == "(all)"`` are the overall ranking).

    Example
    -------
    >>> b = pd.DataFrame({"model_a": ["x", "x", "y", "x"] * 6, "model_b": ["y", "z", "z", "z"] * 6,
    ...     "winner": ["model_a", "model_a", "model_b", "model_b"] * 6,
    ...     "user_id": [f"u{i}" for i in range(24)], "conversation_type": ["unguided", "values guided"] * 12})
    >>> res = subgroup_rankings(b, "conversation_type", rounds=50, min_participants=5)
    >>> sorted(res.table["group"].unique())
    ['(all)', 'unguided', 'values guided']
    """
    agg = get_aggregator(method)
    if agg.kind == "sequence" and rounds > 0:
        pair_methods = ", ".join(a.name for a in aggregators("pairs"))
        raise ConfigError(
            f"{agg.label} ({agg.name!r}) depends on battle order and has no joint bootstrap; "
            f"use a pair method ({pair_methods}) or rounds=0"
        )
    if unit not in ("battles", "participants"):
        raise ConfigError(f"unit must be 'battles' or 'participants', got {unit!r}")
    fields: list[str | tuple[str, ...]] = [by] if isinstance(by, (str, tuple)) else list(by)
    if not fields:
        raise ConfigError("give at least one field to group by")
    frame, names = attach_fields(battles, fields, survey=survey, conversations=conversations)
    arrays = encode_battles(frame)
    if arrays.n_battles == 0:
        raise DataValidationError("no battles to rank (need at least two rated responses to the same prompt)")
    if unit == "participants" and arrays.cluster is None:
        raise ConfigError("unit='participants' needs a user_id column in the battles")
    pw = checked_participant_weights(agg, arrays, weights, missing_weights)
    interval = check_interval(interval)
    if target not in ("population", "estimator"):
        raise ConfigError(f"target must be 'population' or 'estimator', got {target!r}")
    rng = np.random.default_rng(seed)
    state = rng.bit_generator.state

    slots, skipped = group_slots(
        frame,
        names,
        arrays,
        min_participants=min_participants,
        min_battles=min_battles,
        exclude=exclude,
        groups=groups,
        participant_weights=pw,
    )

    if agg.kind == "ratings":
        per_slot, overall_draws, overall_est = _ratings_joint(frame, arrays, agg, slots, rounds, unit, rng, pw)
    elif agg.kind == "sequence":
        per_slot, overall_draws, overall_est = _sequence_points(arrays, agg, slots, options)
    elif agg.kind == "battles":
        per_slot, overall_draws, overall_est = _battles_joint(frame, arrays, agg, slots, rounds, unit, rng, options, pw)
    else:
        per_slot, overall_draws, overall_est = _pairs_joint(arrays, agg, slots, rounds, unit, rng, options, pw)

    # what the score intervals come from: the prior-free refit of the same resamples, and a jackknife
    n_slots = len(slots)
    iv_slots: list[tuple[np.ndarray | None, np.ndarray | None]] = [(None, None)] * n_slots
    iv_overall: tuple[np.ndarray | None, np.ndarray | None] = (None, None)
    free = agg.unregularised_options(options) if target == "population" and agg.kind == "pairs" else None
    iv_options = options if free is None else free
    if rounds > 0 and free is not None:
        rng.bit_generator.state = state  # the very same resamples
        free_slots, free_draws, free_est = _pairs_joint(arrays, agg, slots, rounds, unit, rng, free, pw)
        iv_overall = (free_draws, free_est)
        iv_slots = [(d, e) for _, e, d in free_slots]
    jack_overall: np.ndarray | None = None
    jack_slots: list[np.ndarray | None] = [None] * n_slots
    if rounds > 0 and interval == "bca" and agg.kind == "pairs" and unit == "participants":
        jack_overall, jack_slots = _pairs_jackknife(arrays, agg, slots, per_slot, iv_options, pw, seed)

    weighted = pw is not None
    overall = BootstrapResult(
        arrays.models,
        agg.name,
        unit,
        overall_est,
        overall_draws,
        agg.higher_is_better,
        level,
        dict(options),
        weighted,
        interval=interval,
        jackknife=jack_overall,
        interval_samples=iv_overall[0],
        interval_estimate=iv_overall[1],
    )
    rows = [_overall_rows(overall, arrays, frame, rounds)]
    results: dict[tuple[str, Any], BootstrapResult] = {}
    hib = agg.higher_is_better
    q = (1.0 - level) / 2.0
    for h, ((col, value, mask), (present, est, draws)) in enumerate(zip(slots, per_slot)):
        ix = np.flatnonzero(present)
        models = tuple(arrays.models[i] for i in ix)
        res = BootstrapResult(
            models,
            agg.name,
            unit,
            est,
            draws,
            hib,
            level,
            dict(options),
            weighted,
            interval=interval,
            jackknife=jack_slots[h],
            interval_samples=iv_slots[h][0],
            interval_estimate=iv_slots[h][1],
        )
        results[(col, value)] = res
        g_rank = ranks_from_scores(est, higher_is_better=hib)
        o_rank = ranks_from_scores(overall_est[ix], higher_is_better=hib)
        shift = o_rank - g_rank
        row = pd.DataFrame(
            {
                "by": col,
                "group": value,
                "model": list(models),
                "score": est,
                "rank": g_rank,
                "overall_rank": o_rank,
                "shift": shift,
            }
        )
        sub = frame.loc[mask]
        nb = pd.concat([sub["model_a"], sub["model_b"]]).value_counts()
        row["n_battles"] = row["model"].map(nb).fillna(0).astype(int).to_numpy()
        if "user_id" in sub.columns:
            long = pd.concat(
                [
                    sub[["model_a", "user_id"]].set_axis(["m", "u"], axis=1),
                    sub[["model_b", "user_id"]].set_axis(["m", "u"], axis=1),
                ]
            )
            npart = long.drop_duplicates().groupby("m").size()
            row["n_participants"] = row["model"].map(npart).fillna(0).astype(int).to_numpy()
        if rounds > 0:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                g_ranks = ranks_from_scores(draws, higher_is_better=hib)
                o_ranks = ranks_from_scores(overall_draws[:, ix], higher_is_better=hib)
                d = o_ranks - g_ranks
                row["score_lo"], row["score_hi"] = res.score_interval()
                row["rank_lo"] = np.floor(np.nanquantile(g_ranks, q, axis=0))
                row["rank_hi"] = np.ceil(np.nanquantile(g_ranks, 1 - q, axis=0))
                row["shift_lo"] = np.nanquantile(d, q, axis=0)
                row["shift_hi"] = np.nanquantile(d, 1 - q, axis=0)
            row["significant"] = (row["shift_lo"] > 0) | (row["shift_hi"] < 0)
        rows.append(row)
    table = pd.concat(rows, ignore_index=True)
    for c in ("score_lo", "score_hi", "rank_lo", "rank_hi", "shift_lo", "shift_hi"):
        if c not in table.columns:
            table[c] = np.nan
    if "significant" not in table.columns:
        table["significant"] = pd.NA
    table["significant"] = table["significant"].astype("boolean")
    if "n_participants" not in table.columns:
        table["n_participants"] = pd.NA
    table["direction"] = [_direction(s) for s in table["shift"].to_numpy(dtype=float)]
    cols = [
        "by",
        "group",
        "model",
        "n_battles",
        "n_participants",
        "score",
        "score_lo",
        "score_hi",
        "rank",
        "rank_lo",
        "rank_hi",
        "overall_rank",
        "shift",
        "shift_lo",
        "shift_hi",
        "significant",
        "direction",
    ]
    table = table[cols]
    table.attrs.update(
        {
            "method": agg.name,
            "unit": unit,
            "rounds": rounds,
            "level": level,
            "higher_is_better": hib,
            "weighted": weighted,
            "interval": interval,
            "target": target,
        }
    )
    return SubgroupResult(table, overall, results, skipped)


def _overall_rows(overall: BootstrapResult, arrays, frame: pd.DataFrame, rounds: int) -> pd.DataFrame:
    if rounds > 0:
        s = overall.summary()
    else:
        s = pd.DataFrame(
            {"model": list(overall.models), "score": overall.estimate, "rank": overall.estimate_ranks()}
        ).sort_values("rank")
    nb = pd.concat([frame["model_a"], frame["model_b"]]).value_counts()
    out = pd.DataFrame(
        {
            "by": OVERALL,
            "group": OVERALL,
            "model": s["model"].to_numpy(),
            "score": s["score"].to_numpy(),
            "rank": s["rank"].to_numpy(),
        }
    )
    for c in ("score_lo", "score_hi", "rank_lo", "rank_hi"):
        if c in s.columns:
            out[c] = s[c].to_numpy()
    out["n_battles"] = out["model"].map(nb).fillna(0).astype(int).to_numpy()
    if "user_id" in frame.columns:
        long = pd.concat(
            [
                frame[["model_a", "user_id"]].set_axis(["m", "u"], axis=1),
                frame[["model_b", "user_id"]].set_axis(["m", "u"], axis=1),
            ]
        )
        out["n_participants"] = (
            out["model"].map(long.drop_duplicates().groupby("m").size()).fillna(0).astype(int).to_numpy()
        )
    out["overall_rank"] = out["rank"]
    out["shift"] = 0.0
    return out


def _pairs_joint(
    arrays: BattleArrays,
    agg: Aggregator,
    slots: list[Slot],
    rounds: int,
    unit: str,
    rng: np.random.Generator,
    options: dict,
    pw: np.ndarray | None = None,
) -> tuple[list[SlotScores], np.ndarray, np.ndarray]:
    """Joint bootstrap of a pair aggregator: overall and every group from the same resamples."""
    t = Tournament(arrays, weights=None if pw is None or arrays.cluster is None else pw[arrays.cluster])
    K = t.table.n_categories
    n = arrays.n_models
    w = np.empty((0, arrays.n_clusters))
    overall_counts = np.empty((0, K))
    slot_counts: list[np.ndarray] = []
    if rounds > 0 and unit == "participants":
        w = cluster_weights(rng, rounds, arrays.n_clusters)
        overall_counts = t.cluster_counts(w)
    elif rounds > 0:
        # Exact battle bootstrap, jointly for all groups: battles with the same category, the
        # same group memberships (and the same weight) are exchangeable, so one multinomial over
        # those cells per round.
        member = np.stack([mask for _, _, mask in slots], axis=1) if slots else np.zeros((arrays.n_battles, 0), bool)
        pattern = np.zeros(arrays.n_battles, dtype=np.int64)
        if slots:
            pattern = np.unique(member, axis=0, return_inverse=True)[1].reshape(-1).astype(np.int64)
        cell_code = t.category * (int(pattern.max()) + 1 if len(pattern) else 1) + pattern
        if t.weights is not None:
            wid = pd.factorize(t.weights)[0]
            cell_code = cell_code * (int(wid.max()) + 1 if len(wid) else 1) + wid
        cell_ids, cell_of = np.unique(cell_code, return_inverse=True)
        cell_of = cell_of.reshape(-1)
        cell_n = np.bincount(cell_of).astype(float)
        rep = np.zeros(len(cell_ids), dtype=np.int64)
        rep[cell_of] = np.arange(arrays.n_battles)
        cell_cat = t.category[rep]
        cell_member = member[rep]
        cell_w = np.ones(len(cell_ids)) if t.weights is None else t.weights[rep]
        C = len(cell_ids)
        m = arrays.n_battles
        draws = rng.multinomial(m, cell_n / cell_n.sum(), size=rounds).astype(float)

        def cell_counts(member_h: np.ndarray | None) -> np.ndarray:
            inside = np.ones(C) if member_h is None else member_h.astype(float)
            oh = sp.csr_matrix((inside * cell_w, (np.arange(C), cell_cat)), shape=(C, K))
            counts = np.asarray((oh.T @ draws.T).T)
            if t.weights is None:
                return counts
            return rescale_rounds(counts, draws @ inside)

        overall_counts = cell_counts(None)
        for h in range(len(slots)):
            slot_counts.append(cell_counts(cell_member[:, h]))
    overall_draws = t.score_counts(overall_counts, agg, options) if rounds > 0 else np.empty((0, n))
    overall_est = t.score_counts(t.full_counts(), agg, options)[0]
    out = []
    for h, (col, value, mask) in enumerate(slots):
        present = np.zeros(n, dtype=bool)
        present[arrays.a[mask]] = True
        present[arrays.b[mask]] = True
        with labelled_warnings(group_label(col, value)):
            est = t.score_counts(t.full_counts(mask), agg, options, present)[0]
            if rounds > 0:
                counts = t.cluster_counts(w, mask) if unit == "participants" else slot_counts[h]
                draws_g = t.score_counts(counts, agg, options, present)
            else:
                draws_g = np.empty((0, int(present.sum())))
        out.append((present, est, draws_g))
    return out, overall_draws, overall_est


def _battles_joint(
    frame: pd.DataFrame,
    arrays: BattleArrays,
    agg: Aggregator,
    slots: list[Slot],
    rounds: int,
    unit: str,
    rng: np.random.Generator,
    options: dict,
    pw: np.ndarray | None = None,
) -> tuple[list[SlotScores], np.ndarray, np.ndarray]:
    """Joint bootstrap of a ``battles`` aggregator (style control): the same battle multiplicities per round."""
    n, m = arrays.n_models, arrays.n_battles
    X = battle_covariates(agg, frame)
    presents = []
    for _, _, mask in slots:
        present = np.zeros(n, dtype=bool)
        present[arrays.a[mask]] = True
        present[arrays.b[mask]] = True
        presents.append(present)
    overall_est = battle_scores(arrays, frame, agg, None, options, pw, covariates=X)[0]
    ests = []
    for (col, value, mask), present in zip(slots, presents):
        with labelled_warnings(group_label(col, value)):
            ests.append(battle_scores(arrays, frame, agg, mask[None, :] * 1.0, options, pw, present, X)[0])
    overall_draws = np.empty((rounds, n))
    draws = [np.empty((rounds, int(p.sum()))) for p in presents]
    mult = cluster_weights(rng, rounds, arrays.n_clusters) if rounds > 0 and unit == "participants" else None
    step = max(1, 4_000_000 // max(1, m))
    for s in range(0, rounds, step):
        r = min(step, rounds - s)
        if mult is not None:
            W = mult[s : s + r][:, arrays.cluster]
        else:
            W = rng.multinomial(m, np.full(m, 1.0 / m), size=r).astype(float)
        overall_draws[s : s + r] = battle_scores(arrays, frame, agg, W, options, pw, covariates=X)
        for h, ((col, value, mask), present) in enumerate(zip(slots, presents)):
            with labelled_warnings(group_label(col, value)):
                draws[h][s : s + r] = battle_scores(arrays, frame, agg, W * mask, options, pw, present, X)
    return list(zip(presents, ests, draws)), overall_draws, overall_est


def _pairs_jackknife(
    arrays: BattleArrays,
    agg: Aggregator,
    slots: list[Slot],
    per_slot: list[SlotScores],
    options: dict,
    pw: np.ndarray | None,
    seed: int | None,
) -> tuple[np.ndarray, list[np.ndarray | None]]:
    """Leave-one-participant-out scores, overall and per group (blocks beyond the jackknife cap)."""
    t = Tournament(arrays, weights=None if pw is None or arrays.cluster is None else pw[arrays.cluster])
    block = jackknife_blocks(arrays.n_clusters, seed)
    mult = np.ones((int(block.max()) + 1, arrays.n_clusters))
    mult[block, np.arange(arrays.n_clusters)] = 0.0
    overall = t.score_counts(t.cluster_counts(mult), agg, options)
    out: list[np.ndarray | None] = []
    for (col, value, mask), (present, _, _) in zip(slots, per_slot):
        with labelled_warnings(group_label(col, value)):
            out.append(t.score_counts(t.cluster_counts(mult, mask), agg, options, present))
    return overall, out


def _sequence_points(
    arrays: BattleArrays, agg: Aggregator, slots: list[Slot], options: dict
) -> tuple[list[SlotScores], np.ndarray, np.ndarray]:
    """Online Elo point estimates (battles in data order) overall and per group; no bootstrap."""
    n = arrays.n_models
    overall_est = scores_for_arrays(arrays, agg, **options)
    out = []
    for _, _, mask in slots:
        present = np.zeros(n, dtype=bool)
        present[arrays.a[mask]] = True
        present[arrays.b[mask]] = True
        est = scores_for_arrays(arrays.take(np.flatnonzero(mask)), agg, **options)[present]
        out.append((present, est, np.empty((0, int(present.sum())))))
    return out, np.empty((0, n)), overall_est


def _ratings_joint(
    frame: pd.DataFrame,
    arrays: BattleArrays,
    agg: Aggregator,
    slots: list[Slot],
    rounds: int,
    unit: str,
    rng: np.random.Generator,
    pw: np.ndarray | None = None,
) -> tuple[list[SlotScores], np.ndarray, np.ndarray]:
    """Joint bootstrap of a score mean: overall and every group from the same resampled weights."""
    n = arrays.n_models
    extra = sorted({col for col, _, _ in slots})
    r = ratings_from_battles(frame, carry=extra)
    col = str(agg.rating_column)
    model = pd.Index(arrays.models).get_indexer(pd.Index(r["model_name"]))
    vals = r[col].to_numpy(dtype=float)
    ok = (model >= 0) & ~np.isnan(vals)
    r, model, vals = r[ok], model[ok], vals[ok]
    G = arrays.n_clusters
    cl = pd.Index(arrays.clusters).get_indexer(pd.Index(r["user_id"])) if arrays.clusters is not None and G else None
    m = len(vals)
    rw = None
    if pw is not None:
        if cl is None or (cl < 0).any():
            raise ConfigError("weighted score means need the rated responses' 'user_id' (the weighted participants)")
        rw = pw[cl]
    if rounds > 0:
        if unit == "participants":
            W = cluster_weights(rng, rounds, G)
            if pw is not None:
                W = W * pw
        else:
            W = rng.multinomial(m, np.full(m, 1.0 / m), size=rounds).astype(float)
            if rw is not None:
                W = W * rw

    def means(mask: np.ndarray):
        est = mean_by_model(model[mask], vals[mask], n, weights=None if rw is None else rw[mask])
        if rounds == 0:
            return est, np.empty((0, n))
        if unit == "participants":
            if cl is None:
                raise ConfigError("a participant bootstrap of score means needs 'user_id' in the battles")
            return est, rating_means_clusters(model[mask], vals[mask], cl[mask], n, W, G)
        rows = np.flatnonzero(mask)
        return est, rating_means_clusters(model[mask], vals[mask], rows, n, W, m)

    overall_est, overall_draws = means(np.ones(m, dtype=bool))
    out = []
    for col_name, value, _ in slots:
        mask = (r[col_name] == value).to_numpy()
        est, draws = means(mask)
        present = np.zeros(n, dtype=bool)
        present[model[mask]] = True
        out.append((present, est[present], draws[:, present]))
    return out, overall_draws, overall_est
