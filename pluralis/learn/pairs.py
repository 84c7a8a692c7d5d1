"""Preference pairs from feedback: what a preference (reward) model learns from.

A *pair* is two responses to the same prompt judged by the same person, with the outcome

``y = 1``    response *a* was preferred,
``y = 0``    response *b* was preferred,
``y = 0.5``  a tie (kept only with ``ties="half"``).

From PRISM-style ratings (:func:`preference_pairs`) every two responses rated in the same
interaction form a pair — the pairing and tie rule are those of
:func:`pluralis.ranking.battles.extract_battles` (``|s_a - s_b| <= tie_threshold`` is a tie), but
the pairs carry the response **texts** and, by default, **all turns**: later PRISM turns compare
two samples of the locked model, which say nothing about models but a lot about responses.
From Community-Alignment / Arena comparisons (:func:`pairs_from_comparisons`) the pairs follow
:func:`pluralis.ranking.battles.battles_from_comparisons` (k-wise choices: winner beats every
other candidate).

Each pair carries ``user_id`` and, when a survey frame is given, the participant's survey fields
(demographics, stated-preference sliders; :data:`DEFAULT_SURVEY_COLUMNS`), so models can be trained
per group (:mod:`pluralis.learn.groups`) or personalised on covariates
(:class:`pluralis.learn.models.PersonalisedRewardModel`).

Example
-------
>>> u = pd.DataFrame({"interaction_id": ["i1"] * 3, "user_id": ["u"] * 3, "turn": [0] * 3,
...     "model_name": ["x", "y", "z"], "score": [80, 40, 77], "user_prompt": "Hi",
...     "model_response": ["Hello!", "Go away.", "Hi there."]})
>>> preference_pairs(u)[["response_a", "response_b", "y"]].values.tolist()
[['Hello!', 'Go away.', 1.0], ['Go away.', 'Hi there.', 0.0]]
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from typing import Literal

import numpy as np
import pandas as pd

from pluralis.data import vocab
from pluralis.errors import ConfigError, DataValidationError, Problem
from pluralis.ranking.battles import DEFAULT_TIE_THRESHOLDS, battles_from_comparisons, extract_battles

Ties = Literal["drop", "half"]

#: The columns every pairs frame has (survey fields and extras follow).
PAIR_COLUMNS: tuple[str, ...] = (
    "pair_id",
    "user_id",
    "interaction_id",
    "conversation_id",
    "conversation_type",
    "turn",
    "prompt",
    "response_a",
    "response_b",
    "model_a",
    "model_b",
    "score_a",
    "score_b",
    "y",
)

#: Survey fields carried onto pairs by default (those present in the survey frame).
DEFAULT_SURVEY_COLUMNS: tuple[str, ...] = (
    "age",
    "gender",
    "education",
    "employment_status",
    "marital_status",
    "english_proficiency",
    "ethnicity_simplified",
    "religion_simplified",
    "location_special_region",
    "location_birth_region",
    "location_reside_region",
    "study_locale",
    "lm_familiarity",
    "lm_frequency_use",
    "source",
    *(f"stated_prefs_{a}" for a in vocab.STATED_PREF_ATTRIBUTES),
)


def _check_ties(ties: str) -> None:
    if ties not in ("drop", "half"):
        raise ConfigError(f"ties must be 'drop' or 'half', got {ties!r}")


def _labels(winner: pd.Series) -> np.ndarray:
    w = winner.astype(str).to_numpy()
    return np.where(w == "model_a", 1.0, np.where(w == "model_b", 0.0, 0.5))


def attach_survey(
    pairs: pd.DataFrame, survey: pd.DataFrame | None, columns: Sequence[str] | Literal["all"] | None = None
) -> pd.DataFrame:
    """Add each participant's survey fields to their pairs (matched on ``user_id``).

    ``columns``: ``None`` = :data:`DEFAULT_SURVEY_COLUMNS` present in the survey, ``"all"`` = every
    scalar survey column, or a list (an unknown name is a :class:`~pluralis.errors.ConfigError`).
    Columns the pairs already have are left alone. Participants missing from the survey get NaN.

    Parameters
    ----------
    pairs
        a pairs frame with ``user_id``.
    survey
        the participants' survey frame (``None``: the pairs as they are).
    columns
        which survey fields (see above).

    Returns
    -------
    pandas.DataFrame

    Example
    -------
    >>> p = pd.DataFrame({"user_id": ["u", "v"], "y": [1.0, 0.0]})
    >>> s = pd.DataFrame({"user_id": ["u", "v"], "gender": ["Female", "Male"], "age": ["65+ years old", None]})
    >>> attach_survey(p, s)[["user_id", "age", "gender"]].values.tolist()
    [['u', '65+ years old', 'Female'], ['v', nan, 'Male']]
    """
    if survey is None or (survey.empty and "user_id" not in survey.columns):
        return pairs
    if "user_id" not in survey.columns:
        raise DataValidationError(Problem("survey", None, "user_id", "required column is missing"))
    dup = survey["user_id"].astype(str).duplicated()
    if dup.any():
        first = int(np.flatnonzero(dup.to_numpy())[0])
        raise DataValidationError(
            Problem("survey", first + 1, "user_id", f"duplicate participant {survey['user_id'].iloc[first]!r}")
        )
    if columns is None:
        cols = [c for c in DEFAULT_SURVEY_COLUMNS if c in survey.columns]
    elif isinstance(columns, str) and columns == "all":
        cols = [
            c
            for c in survey.columns
            if c != "user_id" and not survey[c].map(lambda v: isinstance(v, (list, dict, np.ndarray))).any()
        ]
    else:
        cols = list(dict.fromkeys(columns))
        unknown = [c for c in cols if c not in survey.columns]
        if unknown:
            raise ConfigError(
                f"survey field(s) {unknown} not in the survey; available: {', '.join(map(str, survey.columns))}"
            )
    cols = [c for c in cols if c not in pairs.columns and c != "user_id"]
    if not cols:
        return pairs
    s = survey[["user_id", *cols]].copy()
    s["user_id"] = s["user_id"].astype(str)
    aligned = s.set_index("user_id").reindex(pairs["user_id"].astype(str).to_numpy())
    out = pairs.copy()
    for c in cols:
        out[c] = aligned[c].to_numpy()
    return out


def _finish(out: pd.DataFrame, ties: str, threshold: float, extra_attrs: dict) -> pd.DataFrame:
    n_ties = int((out["y"] == 0.5).sum())
    missing_text = out["response_a"].isna() | out["response_b"].isna()
    n_missing = int(missing_text.sum())
    keep = ~missing_text.to_numpy()
    if ties == "drop":
        keep &= out["y"].to_numpy() != 0.5
    out = out[keep].reset_index(drop=True)
    out.insert(0, "pair_id", np.arange(len(out)))
    out.attrs.update(
        {"tie_threshold": threshold, "ties": ties, "n_ties": n_ties, "n_missing_text": n_missing, **extra_attrs}
    )
    return out


def preference_pairs(
    utterances: pd.DataFrame,
    survey: pd.DataFrame | None = None,
    *,
    tie_threshold: float | None = None,
    ties: Ties = "drop",
    turns: Literal["openers", "all"] | int | Sequence[int] = "all",
    score: Literal["raw", "normalized", "rank"] = "raw",
    balanced: bool = False,
    survey_columns: Sequence[str] | Literal["all"] | None = None,
    short_names: bool = True,
    seed: int | None = 42,
) -> pd.DataFrame:
    """Preference pairs from rated responses (a PRISM ``utterances`` frame).

    Every two responses rated in the same interaction form a pair (``itertools.combinations``
    order, as :func:`~pluralis.ranking.battles.extract_battles`, which this uses). The winner has the
    higher score; ``|s_a - s_b| <= tie_threshold`` is a tie, dropped (``ties="drop"``, default) or
    kept as ``y = 0.5`` (``ties="half"``). ``score`` picks the basis (``"normalized"``: per-participant
    z-scores, threshold in SD units); ``tie_threshold=None`` is the ranking's default for that basis
    (:data:`pluralis.ranking.battles.DEFAULT_TIE_THRESHOLDS`: 5 raw points, 0.25 SD, 0 ranks). Two
    samples of the same model (later turns) are kept. Pairs whose response text is missing are
    dropped (``attrs["n_missing_text"]``).

    Returns a frame with :data:`PAIR_COLUMNS` plus the survey fields of :func:`attach_survey`;
    ``attrs`` records the settings and the number of ties found.

    Parameters
    ----------
    utterances
        rated responses (``interaction_id``, ``user_id``, ``turn``, ``model_name``, ``score``,
        ``model_response``).
    survey
        the participants' survey frame, attached to the pairs.
    tie_threshold, ties
        the tie rule (see above).
    turns
        ``"all"``, ``"openers"``, a turn or a list of turns.
    score
        ``"raw"``, ``"normalized"`` or ``"rank"``.
    balanced
        only PRISM's balanced subset.
    survey_columns
        survey fields to attach (:func:`attach_survey`).
    short_names
        map long model names to PRISM's short names.
    seed
        random seed of the pairing (as :func:`~pluralis.ranking.battles.extract_battles`).

    Returns
    -------
    pandas.DataFrame

    Example
    -------
    >>> u = pd.DataFrame({"interaction_id": ["i1"] * 3, "user_id": ["u"] * 3, "turn": [0] * 3,
    ...     "model_name": ["x", "y", "z"], "score": [80, 40, 77], "user_prompt": "Hi",
    ...     "model_response": ["Hello!", "Go away.", "Hi there."]})
    >>> p = preference_pairs(u, ties="half")
    >>> p[["model_a", "model_b", "y"]].values.tolist()
    [['x', 'y', 1.0], ['x', 'z', 0.5], ['y', 'z', 0.0]]
    """
    _check_ties(ties)
    if "model_response" not in utterances.columns:
        raise DataValidationError(
            Problem(
                "utterances", None, "model_response", "required column is missing (the learner needs response texts)"
            )
        )
    keep = ["model_response"] + (["user_prompt"] if "user_prompt" in utterances.columns else [])
    b = extract_battles(
        utterances,
        tie_threshold=tie_threshold,
        turns=turns,
        balanced=balanced,
        score=score,
        drop_self_battles=False,
        short_names=short_names,
        seed=seed,
        keep=keep,
    )
    if "model_response_a" in b.columns:
        ra, rb = b["model_response_a"].to_numpy(), b["model_response_b"].to_numpy()
    else:  # extract_battles collapses a column that is identical on both sides (e.g. no pairs)
        ra = rb = b["model_response"].to_numpy() if "model_response" in b.columns else np.array([], dtype=object)
    out = pd.DataFrame(
        {
            "user_id": b["user_id"].to_numpy(),
            "interaction_id": b["interaction_id"].to_numpy() if "interaction_id" in b else np.nan,
            "conversation_id": b["conversation_id"].to_numpy(),
            "conversation_type": b["conversation_type"].to_numpy(),
            "turn": b["turn"].to_numpy(),
            "prompt": b["user_prompt"].to_numpy()
            if "user_prompt" in b.columns
            else (b["user_prompt_a"].to_numpy() if "user_prompt_a" in b.columns else np.nan),
            "response_a": ra,
            "response_b": rb,
            "model_a": b["model_a"].to_numpy(),
            "model_b": b["model_b"].to_numpy(),
            "score_a": b["score_a"].to_numpy(dtype=float),
            "score_b": b["score_b"].to_numpy(dtype=float),
            "y": _labels(b["winner"]),
        }
    )
    for side in ("a", "b"):
        if f"utterance_id_{side}" in b.columns:
            out[f"utterance_id_{side}"] = b[f"utterance_id_{side}"].to_numpy()
    out = _finish(
        out,
        ties,
        float(b.attrs.get("tie_threshold", DEFAULT_TIE_THRESHOLDS[score] if tie_threshold is None else tie_threshold)),
        {"score": score, "turns": turns, "source": "ratings"},
    )
    return attach_survey(out, survey, survey_columns)


def pairs_from_comparisons(
    comparisons: pd.DataFrame,
    survey: pd.DataFrame | None = None,
    *,
    tie_threshold: float | None = None,
    ties: Ties = "drop",
    survey_columns: Sequence[str] | Literal["all"] | None = None,
    texts: Literal["responses", "models"] = "responses",
) -> pd.DataFrame:
    """Preference pairs from pairwise / k-wise comparisons (Community Alignment, Chatbot Arena).

    Uses :func:`~pluralis.ranking.battles.battles_from_comparisons` for the outcomes (a k-wise choice:
    the chosen response beats every other candidate) and looks the texts up in ``responses``;
    ``annotator_id`` becomes ``user_id``. Comparisons without texts give no pairs, unless
    ``texts="models"``: then the "texts" are the model names (for model-identity features,
    :class:`~pluralis.learn.featurizers.ModelFeaturizer`). ``tie_threshold``
    applies to comparisons that carry ratings (``None``: the default of ``battles_from_comparisons``).

    Parameters
    ----------
    comparisons
        a comparisons frame (``comparison_id``, ``models``, ``responses``, outcome columns).
    survey
        the annotators' survey frame, attached to the pairs.
    tie_threshold, ties
        the tie rule (see above; ties dropped or kept as ``y = 0.5``).
    survey_columns
        survey fields to attach (:func:`attach_survey`).

    Returns
    -------
    pandas.DataFrame
        :data:`PAIR_COLUMNS` plus the survey fields.

    Example
    -------
    >>> c = pd.DataFrame({"comparison_id": ["c1"], "models": [["candidate_a", "candidate_b", "candidate_c"]],
    ...     "responses": [["Short.", "A longer answer.", "Hm?"]], "winner": [1], "tie": [False],
    ...     "annotator_id": ["a7"], "prompt": ["Hi"]})
    >>> pairs_from_comparisons(c)[["response_a", "response_b", "y", "user_id"]].values.tolist()
    [['A longer answer.', 'Short.', 1.0, 'a7'], ['A longer answer.', 'Hm?', 1.0, 'a7']]
    """
    _check_ties(ties)
    for col in ("comparison_id", "models"):
        if col not in comparisons.columns:
            raise DataValidationError(Problem("comparisons", None, col, "required column is missing"))
    if texts not in ("responses", "models"):
        raise ConfigError(f"texts must be 'responses' or 'models', got {texts!r}")
    if texts == "models":
        comparisons = comparisons.assign(responses=comparisons["models"])
    if "responses" not in comparisons.columns:
        raise DataValidationError(
            Problem("comparisons", None, "responses", "required column is missing (the learner needs response texts)")
        )
    if tie_threshold is None:
        tie_threshold = inspect.signature(battles_from_comparisons).parameters["tie_threshold"].default
    b = battles_from_comparisons(comparisons, tie_threshold=float(tie_threshold))
    if "comparison_id" not in b.columns:
        b["comparison_id"] = pd.Series(dtype=object)
    # candidate texts in long form: (comparison_id, position, label, text)
    c = comparisons[["comparison_id", "models", "responses"]].reset_index(drop=True)
    k = c["models"].map(len).to_numpy()
    resp = c["responses"].map(lambda r: list(r) if isinstance(r, (list, tuple, np.ndarray)) else None)
    ok = np.array([r is not None and len(r) == n for r, n in zip(resp, k)], dtype=bool)
    long = pd.DataFrame(
        {
            "comparison_id": np.repeat(c["comparison_id"].to_numpy()[ok], k[ok]),
            "label": [m for ms in c["models"][ok] for m in ms],
            "text": [t for ts in resp[ok] for t in ts],
        }
    )
    key = ["comparison_id", "label"]
    first = long.drop_duplicates(key, keep="first").set_index(key)["text"]
    last = long.drop_duplicates(key, keep="last").set_index(key)["text"]  # a self-pair: the second copy
    ia = pd.MultiIndex.from_arrays([b["comparison_id"].to_numpy(), b["model_a"].to_numpy()])
    ib = pd.MultiIndex.from_arrays([b["comparison_id"].to_numpy(), b["model_b"].to_numpy()])
    ra = first.reindex(ia).to_numpy() if len(first) else np.full(len(b), None, dtype=object)
    same = b["model_a"].to_numpy() == b["model_b"].to_numpy()
    rb = np.where(same, last.reindex(ib).to_numpy(), first.reindex(ib).to_numpy()) if len(first) else ra
    meta = comparisons.drop_duplicates("comparison_id").set_index("comparison_id")
    cid = b["comparison_id"].to_numpy()
    out = pd.DataFrame(
        {
            "user_id": b["user_id"].to_numpy(),
            "interaction_id": cid,
            "conversation_id": b["conversation_id"].to_numpy(),
            "conversation_type": meta["conversation_type"].reindex(cid).to_numpy()
            if "conversation_type" in meta
            else np.nan,
            "turn": b["turn"].to_numpy(),
            "prompt": meta["prompt"].reindex(cid).to_numpy() if "prompt" in meta else np.nan,
            "response_a": ra,
            "response_b": rb,
            "model_a": b["model_a"].to_numpy(),
            "model_b": b["model_b"].to_numpy(),
            "score_a": np.nan,
            "score_b": np.nan,
            "y": _labels(b["winner"]),
            "comparison_id": cid,
        }
    )
    for col in ("source", "language"):
        if col in meta.columns:
            out[col] = meta[col].reindex(cid).to_numpy()
    out = _finish(out, ties, float(tie_threshold), {"source": "comparisons"})
    return attach_survey(out, survey, survey_columns)


def pairs_from_study(study, **kwargs) -> pd.DataFrame:
    """Preference pairs from a :class:`pluralis.data.Study` (or its ``frames()``), with its survey attached.

    Rated responses (PRISM) come first; otherwise comparisons with texts (Community Alignment), or
    any comparisons with ``require_texts=False`` (Arena battles, for model-identity features).
    Keyword arguments go to :func:`preference_pairs` / :func:`pairs_from_comparisons`. A study
    that yields no pairs is a :class:`~pluralis.errors.ConfigError`.

    Parameters
    ----------
    study
        a Study or StudyFrames.
    **kwargs
        options of :func:`preference_pairs` / :func:`pairs_from_comparisons`.

    Returns
    -------
    pandas.DataFrame

    Example
    -------
    >>> from pluralis.data.synthetic import generate_study
    >>> p = pairs_from_study(generate_study(n_participants=4, seed=0))
    >>> {"response_a", "response_b", "y", "gender"} <= set(p.columns), bool(len(p) > 0)
    (True, True)
    """
    frames = study.frames() if hasattr(study, "frames") else study
    u, c = frames.utterances, frames.comparisons
    if len(u) and "model_response" in u.columns and u["model_response"].notna().any():
        kw = {
            k: v
            for k, v in kwargs.items()
            if k in ("tie_threshold", "ties", "turns", "score", "balanced", "survey_columns", "short_names", "seed")
        }
        pairs = preference_pairs(u, frames.survey, **kw)
    elif len(c) and (
        ("responses" in c.columns and c["responses"].notna().any()) or not kwargs.get("require_texts", True)
    ):
        kw = {k: v for k, v in kwargs.items() if k in ("tie_threshold", "ties", "survey_columns")}
        if not kwargs.get("require_texts", True):
            kw["texts"] = "models"
        pairs = pairs_from_comparisons(c, frames.survey if len(frames.survey) else None, **kw)
    else:
        raise ConfigError(
            "no rated responses or comparisons with response texts: nothing to learn from "
            "(comparisons without texts: learn from the models themselves, --features model)"
        )
    if pairs.empty:
        raise ConfigError("no preference pairs (need two or more rated responses per prompt, not all tied)")
    return pairs
