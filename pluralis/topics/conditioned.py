"""Beyond PRISM: model rankings within each topic, and topic prevalence reweighted to a census.

:func:`topic_rankings` runs Case Study II (:mod:`pluralis.ranking`) within each topic — which
model wins for which topic — and, with ``by=``, within each topic x group cell (which model wins
for which topic, for which group), each with participant-bootstrap CIs and the significance of
its rank shift against the overall ranking (:func:`pluralis.ranking.subgroups.subgroup_rankings`).
A battle belongs to the topic of its conversation's opening prompt (or of its interaction's prompt,
or its author's text, whichever the topic assignments are keyed by).

:func:`census_prevalence` answers "what would the topic mix be if the sample matched the census?":
participants of one country get census weights (:func:`pluralis.census.weights.census_weights`,
raking by default), each text carries its author's weight, and both the raw and the weighted
prevalence of every topic come with participant-bootstrap CIs (weights held fixed).

Example
-------
>>> a = pd.DataFrame({"user_id": ["a", "b", "c", "d"], "topic": [0, 0, 1, 1]})
>>> w = pd.Series({"a": 3.0, "b": 1.0, "c": 1.0, "d": 1.0})
>>> t = census_prevalence(a, weights=w, n_boot=0)
>>> t["prevalence"].tolist(), t["weighted_prevalence"].round(3).tolist()
([0.5, 0.5], [0.667, 0.333])
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from pluralis.census.weights import census_weights
from pluralis.errors import ConfigError
from pluralis.ranking.battles import battles_from_comparisons, extract_battles
from pluralis.ranking.subgroups import SubgroupResult, subgroup_rankings
from pluralis.topics.overrep import bootstrap_column_sums

#: Column that carries the topic in battle frames.
TOPIC_FIELD = "topic"


def _join_key(assignments: pd.DataFrame, battles: pd.DataFrame) -> str:
    for key in ("comparison_id", "interaction_id", "conversation_id", "user_id"):
        if key in assignments.columns and key in battles.columns and assignments[key].notna().all():
            if assignments[key].is_unique:
                return key
    raise ConfigError(
        "cannot tell which battles a topic belongs to: the assignments need a unique comparison_id, "
        "interaction_id, conversation_id or user_id column"
    )


def attach_topics(battles: pd.DataFrame, assignments: pd.DataFrame, *, include_outliers: bool = False) -> pd.DataFrame:
    """Battles with a ``topic`` column (the topic name where known), joined on the finest shared key.

    Battles whose prompt has no topic (or is an outlier, unless ``include_outliers``) are dropped.

    Parameters
    ----------
    battles : pandas.DataFrame
        Pairwise battles (``model_a``, ``model_b``, ``winner`` and an id column shared with ``assignments``).
    assignments : pandas.DataFrame
        Topic assignments (``topic``, optional ``topic_name``, and a text's id column such as
        ``conversation_id``).
    include_outliers : bool
        Keep battles whose prompt is an outlier (topic ``-1``); default False.

    Returns
    -------
    pandas.DataFrame
        The battles that have a topic, with a ``topic`` column.

    Example
    -------
    >>> b = pd.DataFrame({"model_a": ["x"], "model_b": ["y"], "winner": ["model_a"], "conversation_id": ["c1"]})
    >>> a = pd.DataFrame({"conversation_id": ["c1"], "topic": [3], "topic_name": ["Travel"]})
    >>> attach_topics(b, a)["topic"].tolist()
    ['Travel']
    """
    key = _join_key(assignments, battles)
    a = assignments if include_outliers else assignments[assignments["topic"] >= 0]
    label = a["topic_name"] if "topic_name" in a.columns else a["topic"].astype(str)
    lookup = pd.Series(label.to_numpy(), index=a[key].to_numpy())
    out = battles.assign(**{TOPIC_FIELD: battles[key].map(lookup).to_numpy()})
    return out[out[TOPIC_FIELD].notna()].reset_index(drop=True)


def topic_rankings(
    ratings: pd.DataFrame,
    assignments: pd.DataFrame,
    *,
    by: str | Sequence[str] | None = None,
    survey: pd.DataFrame | None = None,
    method: str = "prc",
    rounds: int = 200,
    level: float = 0.95,
    min_participants: int = 20,
    tie_threshold: float | None = None,
    turns: Any = "openers",
    include_outliers: bool = False,
    seed: int | None = 0,
    **options: Any,
) -> SubgroupResult:
    """Model rankings within every topic (and topic x group), with CIs and rank shifts.

    Parameters
    ----------
    ratings
        rated responses (PRISM utterances) to build battles from
        (:func:`pluralis.ranking.battles.extract_battles`, ``turns``, ``tie_threshold``), or
        comparisons (Chatbot Arena, Community Alignment: a ``models`` column;
        :func:`pluralis.ranking.battles.battles_from_comparisons`).
    assignments
        topic per text, keyed by ``comparison_id`` (comparison prompts), ``conversation_id``
        (opening prompts), ``interaction_id`` or ``user_id`` (see :func:`attach_topics`).
    by
        group field(s) for topic x group rankings (e.g. ``"age"``); ``None``: topics only.
    survey
        participant fields for ``by``.
    method, rounds, level, min_participants, seed, options
        as :func:`pluralis.ranking.subgroups.subgroup_rankings` (PRC by default, as PRISM).

    Returns
    -------
    :class:`~pluralis.ranking.subgroups.SubgroupResult`: rows with ``by == "topic"`` are the
    per-topic rankings, ``by == "topic × <field>"`` the per topic-and-group ones, ``"(all)"`` overall.

    Example
    -------
    >>> from pluralis.data.synthetic import generate_study
    >>> f = generate_study(n_participants=60, seed=0, planted_topics=True, with_metadata=False).frames()
    >>> a = f.conversations[["conversation_id", "user_id"]].assign(topic=0, topic_name="all")
    >>> res = topic_rankings(f.utterances, a, rounds=0, min_participants=5)
    >>> sorted(res.table["by"].unique())
    ['(all)', 'topic']
    """
    if "models" in ratings.columns:
        battles = battles_from_comparisons(ratings, tie_threshold=tie_threshold or 0.0)
    else:
        battles = extract_battles(ratings, tie_threshold=tie_threshold, turns=turns)
    battles = attach_topics(battles, assignments, include_outliers=include_outliers)
    if not len(battles):
        raise ConfigError("no battles fall in any topic")
    fields: list[Any] = [TOPIC_FIELD]
    for f in [by] if isinstance(by, str) else list(by or []):
        fields.append((TOPIC_FIELD, f))
    return subgroup_rankings(
        battles,
        fields,
        survey=survey,
        method=method,
        rounds=rounds,
        level=level,
        min_participants=min_participants,
        seed=seed,
        **options,
    )


def census_prevalence(
    assignments: pd.DataFrame,
    survey: pd.DataFrame | None = None,
    country: str | None = None,
    *,
    weights: pd.Series | None = None,
    participants: Sequence[str] | None = None,
    method: str = "rake",
    on_empty: str = "renormalise",
    include_outliers: bool = True,
    n_boot: int = 500,
    level: float = 0.95,
    seed: int | None = 0,
) -> pd.DataFrame:
    """Raw and census-weighted prevalence of every topic among one country's participants.

    Parameters
    ----------
    assignments
        topic per text with ``user_id``.
    survey, country
        participants and the census (``"US"`` / ``"UK"``) to weight them to; by default the
        participants whose ``study_locale`` is the country (PRISM's US / UK samples).
    weights
        participant weights (Series by ``user_id``) to use instead of computing them.
    participants
        the user ids to include (default: see above, or everyone with a weight).
    method, on_empty
        ``"rake"`` or ``"poststratify"``, and what to do with census categories nobody in the
        sample belongs to: ``"renormalise"`` (drop them, listed in ``attrs["dropped_cells"]``) or
        ``"raise"`` (:func:`pluralis.census.weights.census_weights`).
    include_outliers, n_boot, level, seed
        report the outlier share too; participant bootstrap (weights fixed) for CIs.

    Returns
    -------
    DataFrame ``topic, n_texts, prevalence, ci_low, ci_high, weighted_prevalence, weighted_ci_low,
    weighted_ci_high, difference``; ``attrs`` has the country, ``n_participants`` and the Kish ``ess``.

    Example
    -------
    >>> from pluralis.data.synthetic import generate_study
    >>> f = generate_study(n_participants=300, seed=1, planted_topics=True, with_metadata=False).frames()
    >>> a = f.conversations[["conversation_id", "user_id"]].assign(topic=f.conversations.opening_prompt.str.len() % 3)
    >>> t = census_prevalence(a, f.survey, "US", n_boot=20)
    >>> round(float(t["weighted_prevalence"].sum()), 6), t.attrs["country"]
    (1.0, 'US')
    """
    if "topic" not in assignments.columns or "user_id" not in assignments.columns:
        raise ConfigError("assignments need 'topic' and 'user_id' columns")
    dropped: list = []
    if weights is None:
        if survey is None or country is None:
            raise ConfigError("give survey and country (census weights), or weights")
        sel = survey
        if participants is not None:
            sel = survey[survey["user_id"].isin(set(participants))]
        elif "study_locale" in survey.columns:
            sel = survey[survey["study_locale"].astype(str).str.lower() == country.lower()]
        if not len(sel):
            raise ConfigError(f"no participants from {country!r} to weight (study_locale)")
        wres = census_weights(sel, country, method=method, on_unclassified="drop", on_empty=on_empty)
        weights, dropped = wres.weights, list(wres.dropped_cells)
    w_users = pd.Series(weights, dtype=float)
    keep_users = set(w_users.index[w_users > 0]) if participants is None else set(participants)
    a = assignments[assignments["user_id"].isin(keep_users)]
    if not include_outliers:
        a = a[a["topic"] >= 0]
    if not len(a):
        raise ConfigError("no texts by weighted participants")
    u_codes, users = pd.factorize(a["user_id"])
    topics = np.unique(a["topic"].to_numpy())
    t_codes = np.searchsorted(topics, a["topic"].to_numpy())
    U, T = len(users), len(topics)
    C = sp.csr_matrix((np.ones(len(a)), (u_codes, t_codes)), shape=(U, T))
    n_u = np.asarray(C.sum(axis=1)).ravel()
    w = w_users.reindex(users).fillna(0.0).to_numpy()
    A = sp.hstack([C, sp.csr_matrix(n_u[:, None]), sp.diags(w) @ C, sp.csr_matrix((w * n_u)[:, None])], format="csc")
    point = np.asarray(A.sum(axis=0)).ravel()
    prev = point[:T] / point[T]
    wprev = point[T + 1 : 2 * T + 1] / point[2 * T + 1]
    out = pd.DataFrame(
        {
            "topic": topics,
            "n_texts": point[:T].astype(int),
            "prevalence": prev,
            "weighted_prevalence": wprev,
            "difference": wprev - prev,
        }
    )
    if n_boot > 1:
        draws = bootstrap_column_sums(A, n_boot, np.random.default_rng(seed))
        with np.errstate(divide="ignore", invalid="ignore"):
            pb = draws[:, :T] / draws[:, T : T + 1]
            wb = draws[:, T + 1 : 2 * T + 1] / draws[:, 2 * T + 1 : 2 * T + 2]
        q = (1 - level) / 2
        out["ci_low"], out["ci_high"] = np.nanquantile(pb, q, axis=0), np.nanquantile(pb, 1 - q, axis=0)
        out["weighted_ci_low"] = np.nanquantile(wb, q, axis=0)
        out["weighted_ci_high"] = np.nanquantile(wb, 1 - q, axis=0)
    else:
        for c in ("ci_low", "ci_high", "weighted_ci_low", "weighted_ci_high"):
            out[c] = np.nan
    out = out[
        [
            "topic",
            "n_texts",
            "prevalence",
            "ci_low",
            "ci_high",
            "weighted_prevalence",
            "weighted_ci_low",
            "weighted_ci_high",
            "difference",
        ]
    ]
    wu = w[w > 0]
    out.attrs.update(
        {
            "country": country,
            "n_participants": int((w > 0).sum()),
            "ess": float(wu.sum() ** 2 / (wu**2).sum()) if len(wu) else 0.0,
            "method": method if country else "given",
            "dropped_cells": dropped,
        }
    )
    return out
