"""Preference data for alignment: chosen/rejected pairs from any study, by group, mixed, split, written for TRL.

The steps (``pluralis align pairs`` runs them in this order; :func:`build_preference_data` all at once):

1. :func:`study_pairs` — judged pairs from a study: PRISM ratings (two responses to the same prompt
   in the same turn, the higher-rated one chosen, the score **margin** kept; pairing and ties as
   :func:`pluralis.learn.pairs.preference_pairs`), or Community-Alignment / Chatbot-Arena
   comparisons (:func:`pluralis.learn.pairs.pairs_from_comparisons`). Each pair is oriented
   (``chosen``/``rejected``) and carries its prompt as a chat: the conversation so far (earlier
   user turns and the response the participant continued with) and the user message.
2. :func:`split_participants` — a participant-disjoint train/eval split (stratified by group), done
   **before** anything that pools annotators, so no evaluation participant's judgement reaches training.
3. :func:`select_group` / :func:`mix_groups` — one group (``gender=Female``), or a mixture with a fixed
   composition at a fixed total size (``gender=Female:0.7, gender=Male:0.3``, 1,000 pairs: exactly 700
   and 300, so "whose" feedback is not confounded with "how much").
4. :func:`resolve_disagreement` — across annotators of the same prompt and response pair:
   ``keep`` (every judgement is a pair, contradictions included), ``majority`` (one pair per
   prompt/response pair in the majority's direction; an even split gives none) or ``drop-contested``
   (every judgement of prompt/response pairs on which all annotators agree; contested ones dropped).
5. :func:`label_pairs` — ``binary`` (every pair weight 1) or ``graded`` (multi-level: weight
   ``1 + #thresholds the score margin exceeds``, by default 20 and 40 rating points → levels 1–3; pairs
   without scores get the majority's net vote count, 1 for a single annotator). Aligners use the weight:
   DPO repeats a level-*k* pair *k* times, reward models take it as a sample weight.
6. :func:`to_trl` / :meth:`PreferenceData.write` — TRL's conversational preference format
   (``prompt``/``chosen``/``rejected`` message lists) as JSONL (``train.jsonl``, ``eval.jsonl``) and as a
   Hugging Face ``datasets`` folder (``hf/``, a ``DatasetDict`` with ``train`` and ``eval``), with
   ``meta.json`` (settings and counts).

A hand-made disagreement example (documented pair counts; the test checks them)::

    prompt/pair   judgements              keep   majority   drop-contested
    K1            A≻B, A≻B, B≻A             3        1             0
    K2            C≻D, D≻C                  2        0             0
    K3            E≻F                       1        1             1
    K4            G≻H, G≻H                  2        1             2
    total                                   8        3             3

Example
-------
>>> from pluralis.data.synthetic import generate_study
>>> data = build_preference_data(generate_study(n_participants=30, seed=0), group="gender=Female",
...                              eval_fraction=0.3, turns="openers")
>>> set(data.train["gender"]), sorted(set(data.eval["gender"]))
({'Female'}, ['Female', 'Male'])
>>> bool(set(data.train["user_id"]) & set(data.eval["user_id"]))
False
>>> sorted(to_trl(data.train)[0])
['chosen', 'prompt', 'rejected']
"""

from __future__ import annotations

import json
import math
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from pluralis.errors import ConfigError, DataValidationError, Problem

Labels = Literal["binary", "graded"]
Disagreement = Literal["keep", "majority", "drop-contested"]
LABELS: tuple[str, ...] = ("binary", "graded")
DISAGREEMENT: tuple[str, ...] = ("keep", "majority", "drop-contested")
#: Score-margin thresholds (rating points) of the graded levels.
DEFAULT_GRADES: tuple[float, ...] = (20.0, 40.0)
TRL_COLUMNS: tuple[str, ...] = ("prompt", "chosen", "rejected")
META_FILE = "meta.json"


# --- 1. pairs from a study ----------------------------------------------------------------------------


def _histories(utterances: pd.DataFrame) -> dict[tuple[str, int], list[dict[str, str]]]:
    """``(conversation_id, turn) -> messages before that turn's user message`` (the continued responses)."""
    need = {"conversation_id", "turn", "user_prompt", "model_response"}
    if not need <= set(utterances.columns) or not len(utterances):
        return {}
    u = utterances[[*need, *(["if_chosen"] if "if_chosen" in utterances.columns else [])]].copy()
    u["turn"] = u["turn"].astype(int)
    if "if_chosen" in u.columns:
        chosen = u[u["if_chosen"].fillna(False).astype(bool)]
    else:
        chosen = u.iloc[0:0]
    chosen = chosen.drop_duplicates(["conversation_id", "turn"]).set_index(["conversation_id", "turn"])
    prompts = u.drop_duplicates(["conversation_id", "turn"]).sort_values(["conversation_id", "turn"])
    out: dict[tuple[str, int], list[dict[str, str]]] = {}
    for cid, conv in prompts.groupby("conversation_id", sort=False):
        history: list[dict[str, str]] = []
        for turn, prompt in zip(conv["turn"].to_numpy(), conv["user_prompt"].to_numpy()):
            out[(str(cid), int(turn))] = list(history)
            reply = chosen["model_response"].get((cid, int(turn)))
            if reply is None or (isinstance(reply, float) and math.isnan(reply)):
                break  # no continued response recorded: later turns lack context
            history += [{"role": "user", "content": str(prompt)}, {"role": "assistant", "content": str(reply)}]
    return out


def study_pairs(
    study: Any,
    *,
    source: Literal["auto", "ratings", "comparisons"] = "auto",
    tie_threshold: float | None = None,
    turns: Literal["openers", "all"] | int | Sequence[int] = "all",
    context: Literal["conversation", "turn"] = "conversation",
    survey_columns: Sequence[str] | Literal["all"] | None = None,
) -> pd.DataFrame:
    """Oriented preference pairs (``chosen`` over ``rejected``) from a study, with margins and prompts as chats.

    Parameters
    ----------
    study
        a :class:`pluralis.data.Study`, its ``frames()``, or a pairs frame of
        :mod:`pluralis.learn.pairs` (then only oriented).
    source
        ``"ratings"`` (PRISM utterances), ``"comparisons"`` (Community Alignment, Arena) or ``"auto"``
        (ratings when the study has rated response texts).
    tie_threshold
        score difference counted as a tie and dropped (default 5 rating points; 0 for comparisons).
    turns
        ``"all"``, ``"openers"`` or turn numbers (ratings only).
    context
        ``"conversation"``: the prompt chat holds the earlier turns (each user message and the response the
        participant continued with); ``"turn"``: only the user message.
    survey_columns
        participant fields carried onto pairs (:func:`pluralis.learn.pairs.attach_survey`; default its
        :data:`~pluralis.learn.pairs.DEFAULT_SURVEY_COLUMNS`).

    Returns
    -------
    DataFrame
        one row per judgement: ``pair_id, user_id, conversation_id, turn, prompt`` (a list of messages),
        ``prompt_text, chosen_text, rejected_text, score_chosen, score_rejected, margin``, ``source`` and the
        survey fields.

    Example
    -------
    >>> u = pd.DataFrame({"interaction_id": ["i1"] * 3, "conversation_id": "c1", "user_id": "u", "turn": 0,
    ...     "model_name": ["x", "y", "z"], "score": [80, 40, 77], "user_prompt": "Hi",
    ...     "model_response": ["Hello!", "Go away.", "Hi there."], "if_chosen": [True, False, False]})
    >>> from pluralis.data import StudyFrames
    >>> e = pd.DataFrame()
    >>> p = study_pairs(StudyFrames(pd.DataFrame(columns=["user_id"]), e, u, e, e))
    >>> p[["chosen_text", "rejected_text", "margin"]].values.tolist()
    [['Hello!', 'Go away.', 40.0], ['Hi there.', 'Go away.', 37.0]]
    >>> p["prompt"].iloc[0]
    [{'role': 'user', 'content': 'Hi'}]
    """
    from pluralis.learn.pairs import pairs_from_comparisons, preference_pairs

    if source not in ("auto", "ratings", "comparisons"):
        raise ConfigError(f"source must be auto, ratings or comparisons, got {source!r}")
    if context not in ("conversation", "turn"):
        raise ConfigError(f"context must be 'conversation' or 'turn', got {context!r}")
    histories: dict[tuple[str, int], list[dict[str, str]]] = {}
    if isinstance(study, pd.DataFrame):
        raw, kind = study, "pairs"
    else:
        frames = study.frames() if hasattr(study, "frames") else study
        u, c = frames.utterances, frames.comparisons
        survey = frames.survey if len(frames.survey) else None
        has_ratings = len(u) and "model_response" in u.columns and u["model_response"].notna().any()
        has_comparisons = len(c) and "responses" in c.columns and c["responses"].notna().any()
        if source == "auto":
            source = "ratings" if has_ratings else "comparisons"
        if source == "ratings":
            if not has_ratings:
                raise ConfigError("the study has no rated responses with texts (use --source comparisons)")
            raw = preference_pairs(
                u,
                survey,
                tie_threshold=5.0 if tie_threshold is None else tie_threshold,
                turns=turns,
                survey_columns=survey_columns,
            )
            if context == "conversation":
                histories = _histories(u)
        else:
            if not has_comparisons:
                raise ConfigError("the study has no comparisons with response texts (use --source ratings)")
            raw = pairs_from_comparisons(
                c, survey, tie_threshold=0.0 if tie_threshold is None else tie_threshold, survey_columns=survey_columns
            )
        kind = source
    return orient_pairs(raw, histories=histories, source=kind)


def orient_pairs(
    pairs: pd.DataFrame, *, histories: Mapping[tuple[str, int], list[dict]] | None = None, source: str = "pairs"
) -> pd.DataFrame:
    """Turn a :mod:`pluralis.learn.pairs` frame (``response_a/b``, ``y``) into chosen/rejected rows.

    Ties (``y = 0.5``) are dropped; ``margin`` is ``|score_a − score_b|`` (NaN without scores).

    Parameters
    ----------
    pairs : pandas.DataFrame
        Pairs with ``user_id``, ``response_a``, ``response_b`` and ``y`` (optional prompt, scores, models).
    histories : mapping of (str, int) to list of dict, optional
        ``(conversation_id, turn)`` -> the chat messages before that turn, prepended to the prompt.
    source : str
        The ``source`` of rows that have none (default ``"pairs"``).

    Returns
    -------
    pandas.DataFrame
        One row per non-tie pair, with ``prompt`` (chat), ``chosen_text``, ``rejected_text``, ``margin`` and the
        pair's other fields.

    Example
    -------
    >>> p = pd.DataFrame({"user_id": ["u"], "prompt": ["Hi"], "response_a": ["A"], "response_b": ["B"],
    ...                   "y": [0.0], "score_a": [10.0], "score_b": [70.0]})
    >>> orient_pairs(p)[["chosen_text", "rejected_text", "margin"]].values.tolist()
    [['B', 'A', 60.0]]
    """
    for col in ("user_id", "response_a", "response_b", "y"):
        if col not in pairs.columns:
            raise DataValidationError(Problem("pairs", None, col, "required column is missing"))
    p = pairs[pairs["y"].to_numpy(dtype=float) != 0.5].reset_index(drop=True)
    a_wins = p["y"].to_numpy(dtype=float) > 0.5
    ra, rb = p["response_a"].astype(str).to_numpy(), p["response_b"].astype(str).to_numpy()
    sa = p["score_a"].to_numpy(dtype=float) if "score_a" in p.columns else np.full(len(p), np.nan)
    sb = p["score_b"].to_numpy(dtype=float) if "score_b" in p.columns else np.full(len(p), np.nan)
    prompt_text = (
        p["prompt"].astype(object).where(p["prompt"].notna(), "").astype(str)
        if "prompt" in p.columns
        else pd.Series([""] * len(p))
    ).to_numpy()
    conv = p["conversation_id"].astype(str).to_numpy() if "conversation_id" in p.columns else None
    turn = p["turn"].to_numpy() if "turn" in p.columns else None
    hist = histories or {}
    chats = []
    for i, text in enumerate(prompt_text):
        before = hist.get((conv[i], int(turn[i]))) if (hist and conv is not None and turn is not None) else None
        chats.append([*(before or []), {"role": "user", "content": str(text)}])
    skip = {"pair_id", "response_a", "response_b", "y", "score_a", "score_b", "prompt", "model_a", "model_b"}
    skip |= {"utterance_id_a", "utterance_id_b"}
    out = pd.DataFrame(
        {
            "user_id": p["user_id"].astype(str).to_numpy(),
            "prompt": chats,
            "prompt_text": prompt_text,
            "chosen_text": np.where(a_wins, ra, rb),
            "rejected_text": np.where(a_wins, rb, ra),
            "model_chosen": np.where(a_wins, p["model_a"], p["model_b"]) if "model_a" in p.columns else None,
            "model_rejected": np.where(a_wins, p["model_b"], p["model_a"]) if "model_b" in p.columns else None,
            "score_chosen": np.where(a_wins, sa, sb),
            "score_rejected": np.where(a_wins, sb, sa),
        }
    )
    out["margin"] = out["score_chosen"] - out["score_rejected"]
    for c in p.columns:
        if c not in skip and c not in out.columns and c != "user_id":
            out[c] = p[c].to_numpy()
    out["source"] = source if "source" not in p.columns else p["source"].fillna(source).to_numpy()
    out.insert(0, "pair_id", np.arange(len(out)))
    out.attrs.update(pairs.attrs)
    return out


# --- groups -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class GroupSpec:
    """One group: rows whose ``column`` is one of ``values`` (``gender=Female``, ``gender=Female|Male``).

    Example
    -------
    >>> g = parse_group("gender=Female|Non-binary")
    >>> g.column, g.values, g.label
    ('gender', ('Female', 'Non-binary'), 'gender=Female|Non-binary')
    """

    column: str
    values: tuple[str, ...]

    @property
    def label(self) -> str:
        return f"{self.column}={'|'.join(self.values)}"

    @property
    def slug(self) -> str:
        """A file-name-safe label.

        Example
        -------
        >>> parse_group("age=18-24 years old").slug
        'age-18-24-years-old'
        """
        raw = f"{self.column}-{'-'.join(self.values)}"
        return "".join(ch if ch.isalnum() or ch in "-_." else "-" for ch in raw).strip("-")

    def mask(self, frame: pd.DataFrame) -> np.ndarray:
        if self.column not in frame.columns:
            raise ConfigError(
                f"group {self.label!r}: no column {self.column!r} in the pairs (a participant field must be in the "
                f"study's survey); available: {', '.join(_group_columns(frame))}"
            )
        return frame[self.column].astype(object).isin(self.values).to_numpy()


def _group_columns(frame: pd.DataFrame) -> list[str]:
    skip = {"pair_id", "prompt", "chosen", "rejected", "prompt_text", "chosen_text", "rejected_text", "margin"}
    return [
        str(c) for c in frame.columns if c not in skip and not str(c).startswith(("score_", "model_", "stated_prefs"))
    ]


def parse_group(text: str | GroupSpec) -> GroupSpec:
    """``"column=value"`` or ``"column=v1|v2"`` → :class:`GroupSpec`.

    Parameters
    ----------
    text : str or GroupSpec
        The group (a :class:`GroupSpec` is returned as is).

    Returns
    -------
    GroupSpec
        The column and its accepted values.

    Example
    -------
    >>> parse_group("gender=Male")
    GroupSpec(column='gender', values=('Male',))
    >>> parse_group("gender")
    Traceback (most recent call last):
    ...
    pluralis.errors.ConfigError: group 'gender' must look like column=value (e.g. gender=Female)
    """
    if isinstance(text, GroupSpec):
        return text
    col, sep, values = str(text).partition("=")
    vals = tuple(v.strip() for v in values.split("|") if v.strip())
    if not sep or not col.strip() or not vals:
        raise ConfigError(f"group {text!r} must look like column=value (e.g. gender=Female)")
    return GroupSpec(col.strip(), vals)


def parse_mixture(items: Sequence[str] | Mapping[str, float]) -> dict[GroupSpec, float]:
    """Mixture components ``["gender=Female:0.7", "gender=Male:0.3"]`` (or a dict) → ``{GroupSpec: share}``.

    Shares must be positive and sum to 1 (within 1e-6).

    Parameters
    ----------
    items : sequence of str or mapping of str to float
        ``"group:share"`` items, or group -> share.

    Returns
    -------
    dict of GroupSpec to float
        Each component's share.

    Example
    -------
    >>> {g.label: s for g, s in parse_mixture(["gender=Female:0.7", "gender=Male:0.3"]).items()}
    {'gender=Female': 0.7, 'gender=Male': 0.3}
    """
    pairs: list[tuple[str, float]] = []
    if isinstance(items, Mapping):
        pairs = [(str(k), float(v)) for k, v in items.items()]
    else:
        for item in items:
            spec, sep, share = str(item).rpartition(":")
            if not sep:
                raise ConfigError(f"mixture component {item!r} must look like column=value:share (gender=Female:0.7)")
            try:
                pairs.append((spec, float(share)))
            except ValueError:
                raise ConfigError(f"mixture component {item!r}: share {share!r} is not a number") from None
    out = {parse_group(s): v for s, v in pairs}
    if len(out) < 1 or any(not (v > 0) for v in out.values()):
        raise ConfigError("mixture shares must be positive")
    if abs(sum(out.values()) - 1.0) > 1e-6:
        raise ConfigError(f"mixture shares must sum to 1, got {sum(out.values()):g}")
    return out


def select_group(pairs: pd.DataFrame, group: str | GroupSpec | None) -> pd.DataFrame:
    """The pairs of one group's participants (``None``: all pairs), with a ``component`` column = its label.

    Parameters
    ----------
    pairs : pandas.DataFrame
        Oriented pairs with the group's column.
    group : str or GroupSpec or None
        The group (``"column=value"``); ``None`` for all pairs.

    Returns
    -------
    pandas.DataFrame
        The group's pairs.

    Example
    -------
    >>> p = pd.DataFrame({"user_id": ["a", "b"], "gender": ["Female", "Male"]})
    >>> select_group(p, "gender=Female")[["user_id", "component"]].values.tolist()
    [['a', 'gender=Female']]
    """
    if group is None:
        return pairs.assign(component="(all)")
    g = parse_group(group)
    out = pairs[g.mask(pairs)].reset_index(drop=True)
    return out.assign(component=g.label)


def largest_remainder(total: int, shares: Sequence[float]) -> np.ndarray:
    """Integer counts summing exactly to ``total`` closest to ``total * shares`` (Hamilton's method).

    Parameters
    ----------
    total : int
        The sum of the counts.
    shares : sequence of float
        Shares summing to 1.

    Returns
    -------
    numpy.ndarray
        Integer counts, one per share.

    Example
    -------
    >>> largest_remainder(10, [0.7, 0.3]).tolist(), largest_remainder(10, [1/3, 1/3, 1/3]).tolist()
    ([7, 3], [4, 3, 3])
    """
    s = np.asarray(shares, dtype=float)
    exact = total * s / s.sum()
    base = np.floor(exact).astype(int)
    left = int(total - base.sum())
    order = np.argsort(-(exact - base), kind="stable")
    base[order[:left]] += 1
    return base


def mix_groups(
    pairs: pd.DataFrame,
    mixture: Mapping[GroupSpec, float] | Sequence[str] | Mapping[str, float],
    total: int | None = None,
    *,
    seed: int = 0,
) -> pd.DataFrame:
    """A fixed-composition mixture: exactly ``round(share × total)`` pairs of each group (largest remainder).

    ``total=None``: the largest size every group can fill at its share. Pairs are drawn without
    replacement; a group with too few pairs is a :class:`~pluralis.errors.ConfigError`. A pair
    matching two components is counted in the first. The ``component`` column names each pair's group.

    Parameters
    ----------
    pairs : pandas.DataFrame
        Oriented pairs with the groups' columns.
    mixture : mapping of GroupSpec to float, sequence of str or mapping of str to float
        The components and their shares (see :func:`parse_mixture`).
    total : int, optional
        Pairs in the mixture.
    seed : int
        Seed of the draw.

    Returns
    -------
    pandas.DataFrame
        The drawn pairs, with a ``component`` column.

    Example
    -------
    >>> p = pd.DataFrame({"user_id": list("abcdefghij") * 3, "gender": ["Female"] * 15 + ["Male"] * 15})
    >>> m = mix_groups(p, ["gender=Female:0.7", "gender=Male:0.3"], 20)
    >>> m["component"].value_counts().to_dict()
    {'gender=Female': 14, 'gender=Male': 6}
    """
    spec: dict[GroupSpec, float]
    if isinstance(mixture, Mapping) and all(isinstance(k, GroupSpec) for k in mixture):
        spec = {k: float(v) for k, v in mixture.items()}  # type: ignore[misc]
    else:
        spec = parse_mixture(mixture)  # type: ignore[arg-type]
    taken = np.zeros(len(pairs), dtype=bool)
    pools = []
    for g in spec:
        m = g.mask(pairs) & ~taken
        taken |= m
        pools.append(np.flatnonzero(m))
    shares = np.array(list(spec.values()))
    if total is None:
        total = int(min(math.floor(len(pool) / s + 1e-9) for pool, s in zip(pools, shares)))
    if total < 1:
        raise ConfigError("the mixture has no pairs (total size 0)")
    counts = largest_remainder(int(total), shares.tolist())
    rng = np.random.default_rng(seed)
    parts = []
    for g, pool, k in zip(spec, pools, counts):
        if k > len(pool):
            raise ConfigError(
                f"mixture needs {k} pairs of {g.label!r} ({spec[g]:.0%} of {total}) but it has {len(pool)}; "
                "lower the total size"
            )
        pick = np.sort(rng.choice(pool, size=int(k), replace=False))
        parts.append(pairs.iloc[pick].assign(component=g.label))
    out = pd.concat(parts, ignore_index=True)
    out.attrs["mixture"] = {g.label: float(s) for g, s in spec.items()}
    out.attrs["total"] = int(total)
    return out


# --- splits -----------------------------------------------------------------------------------------------


def split_participants(
    pairs: pd.DataFrame, eval_fraction: float = 0.2, *, strata: str | None = None, seed: int = 0
) -> pd.Series:
    """``"train"``/``"eval"`` per pair, participant-disjoint: ``eval_fraction`` of each stratum's participants
    (rounded, at least one when the stratum has two or more) are held out.

    ``strata``: a column constant per participant (e.g. the group field) so each group is split alike.

    Parameters
    ----------
    pairs : pandas.DataFrame
        Pairs with ``user_id``.
    eval_fraction : float
        Share of participants held out (default 0.2).
    strata : str, optional
        The stratifying column; ``None`` (default) splits all participants together.
    seed : int
        Seed of the split.

    Returns
    -------
    pandas.Series
        The split of each pair, on ``pairs``'s index.

    Example
    -------
    >>> p = pd.DataFrame({"user_id": ["a", "a", "b", "c", "d", "e"], "g": ["x", "x", "x", "y", "y", "y"]})
    >>> s = split_participants(p, 0.5, strata="g", seed=1)
    >>> int(s.groupby(p["user_id"]).nunique().max()), sorted(s.unique())
    (1, ['eval', 'train'])
    """
    if not 0 <= eval_fraction < 1:
        raise ConfigError(f"eval fraction must be in [0, 1), got {eval_fraction}")
    users = pairs["user_id"].astype(str)
    labels = pairs[strata].astype(str) if strata is not None else pd.Series("(all)", index=pairs.index)
    per_user = pd.DataFrame({"user_id": users, "stratum": labels}).drop_duplicates("user_id")
    rng = np.random.default_rng(seed)
    held: set[str] = set()
    for _, grp in per_user.groupby("stratum", sort=True):
        ids = np.sort(grp["user_id"].to_numpy())
        k = int(round(eval_fraction * len(ids)))
        if eval_fraction > 0 and len(ids) >= 2:
            k = min(max(k, 1), len(ids) - 1)
        held.update(rng.permutation(ids)[:k].tolist())
    return pd.Series(np.where(users.isin(held), "eval", "train"), index=pairs.index, name="split")


# --- disagreement and labels --------------------------------------------------------------------------------


def _pair_keys(pairs: pd.DataFrame) -> pd.Series:
    a, b = pairs["chosen_text"].astype(str), pairs["rejected_text"].astype(str)
    lo, hi = np.minimum(a, b), np.maximum(a, b)
    prompt = pairs["prompt"].map(lambda m: json.dumps(m, sort_keys=True) if not isinstance(m, str) else m)
    return pd.Series(pd.factorize(prompt + "\x00" + lo + "\x00" + hi)[0], index=pairs.index)


def resolve_disagreement(pairs: pd.DataFrame, how: Disagreement = "keep") -> pd.DataFrame:
    """Pool the judgements of the same prompt and response pair (see the module docstring).

    Adds ``n_annotators`` (judgements of that prompt/pair), ``votes`` (judgements agreeing with the row) and
    ``agreement`` (their share). ``majority`` keeps the first row of the majority direction (its
    ``user_id``); an even split gives no pair.

    Parameters
    ----------
    pairs : pandas.DataFrame
        Oriented pairs.
    how : {"keep", "majority", "drop-contested"}
        The disagreement rule (default ``"keep"``).

    Returns
    -------
    pandas.DataFrame
        The pairs kept, with the agreement columns.

    Example
    -------
    >>> rows = [("K1", "A", "B"), ("K1", "A", "B"), ("K1", "B", "A"), ("K2", "C", "D"), ("K2", "D", "C"),
    ...         ("K3", "E", "F"), ("K4", "G", "H"), ("K4", "G", "H")]
    >>> p = pd.DataFrame(rows, columns=["prompt", "chosen_text", "rejected_text"]).assign(
    ...     user_id=[f"u{i}" for i in range(8)])
    >>> [len(resolve_disagreement(p, h)) for h in ("keep", "majority", "drop-contested")]
    [8, 3, 3]
    """
    if how not in DISAGREEMENT:
        raise ConfigError(f"disagreement must be one of {', '.join(DISAGREEMENT)}, got {how!r}")
    if not len(pairs):
        return pairs.assign(n_annotators=pd.Series(dtype=int), votes=pd.Series(dtype=int), agreement=[])
    key = _pair_keys(pairs)
    direction = pd.Series(
        pd.factorize(pairs["chosen_text"].astype(str) + "\x00" + pairs["rejected_text"].astype(str))[0],
        index=pairs.index,
    )
    n = key.map(key.value_counts())
    votes = pd.Series(list(zip(key, direction)), index=pairs.index).map(
        pd.Series(list(zip(key, direction))).value_counts()
    )
    out = pairs.assign(n_annotators=n.to_numpy(), votes=votes.to_numpy(), agreement=(votes / n).to_numpy())
    if how == "keep":
        return out.reset_index(drop=True)
    if how == "drop-contested":
        return out[out["votes"] == out["n_annotators"]].reset_index(drop=True)
    majority = out["votes"] * 2 > out["n_annotators"]
    first = ~pd.Series(list(zip(key, direction)), index=pairs.index).duplicated()
    return out[majority & first].reset_index(drop=True)


def label_pairs(pairs: pd.DataFrame, labels: Labels = "binary", *, grades: Sequence[float] = DEFAULT_GRADES):
    """Set ``weight`` (see the module docstring): 1 for ``binary``; the graded level for ``graded``.

    Parameters
    ----------
    pairs : pandas.DataFrame
        Oriented pairs (with ``margin``, and ``votes`` when disagreement was resolved).
    labels : {"binary", "graded"}
        The labelling (default ``"binary"``).
    grades : sequence of float
        Margin thresholds (rating points) of the graded levels (default ``(20, 40)``).

    Returns
    -------
    pandas.DataFrame
        The pairs with an integer ``weight`` column.

    Example
    -------
    >>> p = pd.DataFrame({"margin": [10.0, 25.0, 60.0, np.nan], "votes": [1, 1, 1, 3], "n_annotators": [1, 1, 1, 4]})
    >>> label_pairs(p, "graded")["weight"].tolist()
    [1.0, 2.0, 3.0, 2.0]
    """
    if labels not in LABELS:
        raise ConfigError(f"labels must be one of {', '.join(LABELS)}, got {labels!r}")
    if labels == "binary":
        return pairs.assign(weight=1.0)
    margin = pairs["margin"].to_numpy(dtype=float) if "margin" in pairs.columns else np.full(len(pairs), np.nan)
    level = 1.0 + (np.abs(margin)[:, None] > np.asarray(grades, dtype=float)[None, :]).sum(axis=1)
    if "votes" in pairs.columns and "n_annotators" in pairs.columns:
        v, n = pairs["votes"].to_numpy(dtype=float), pairs["n_annotators"].to_numpy(dtype=float)
        net = np.maximum(2 * v - n, 1.0)
    else:
        net = np.ones(len(pairs))
    return pairs.assign(weight=np.where(np.isfinite(margin), level, net).astype(float))


# --- the whole recipe ---------------------------------------------------------------------------------------


@dataclass
class PreferenceData:
    """Train and eval pairs (participant-disjoint) of one group or mixture, with the settings that made them.

    Example
    -------
    >>> from pluralis.data.synthetic import generate_study
    >>> d = build_preference_data(generate_study(n_participants=20, seed=1), turns="openers")
    >>> d.counts()["train_pairs"] > d.counts()["eval_pairs"] > 0
    True
    """

    train: pd.DataFrame
    eval: pd.DataFrame
    settings: dict = field(default_factory=dict)

    def counts(self) -> dict[str, int]:
        """Pairs and participants per split."""
        return {
            "train_pairs": len(self.train),
            "train_participants": int(self.train["user_id"].nunique()) if len(self.train) else 0,
            "eval_pairs": len(self.eval),
            "eval_participants": int(self.eval["user_id"].nunique()) if len(self.eval) else 0,
        }

    def composition(self) -> pd.DataFrame:
        """Pairs per split and component (group of the group filter or mixture), with shares.

        Example
        -------
        >>> d = PreferenceData(pd.DataFrame({"user_id": ["a"], "component": ["g"]}), pd.DataFrame({"user_id": []}))
        >>> d.composition().to_dict("records")
        [{'split': 'train', 'component': 'g', 'pairs': 1, 'share': 1.0}]
        """
        rows = []
        for name, frame in (("train", self.train), ("eval", self.eval)):
            if not len(frame) or "component" not in frame.columns:
                continue
            vc = frame["component"].astype(str).value_counts(sort=False)
            for g, k in vc.items():
                rows.append({"split": name, "component": g, "pairs": int(k), "share": float(k / len(frame))})
        return pd.DataFrame(rows, columns=["split", "component", "pairs", "share"])

    def write(self, folder: str | Path, *, hf: bool = True) -> dict[str, Path]:
        """Write ``train.jsonl``, ``eval.jsonl``, ``meta.json`` and (``hf=True``) the ``datasets`` folder ``hf/``.

        JSONL rows hold TRL's ``prompt``/``chosen``/``rejected`` messages plus the pair's other columns.
        Files are written to a temporary name and renamed, so a failure leaves no half-written file.

        Example
        -------
        >>> import tempfile
        >>> from pluralis.data.synthetic import generate_study
        >>> d = build_preference_data(generate_study(n_participants=20, seed=1), turns="openers")
        >>> files = d.write(tempfile.mkdtemp(), hf=False)
        >>> sorted(files)
        ['eval', 'meta', 'train']
        >>> len(PreferenceData.read(files["train"].parent).train) == len(d.train)
        True
        """
        from pluralis.data.jsonio import atomic_write

        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        files: dict[str, Path] = {}
        for name, frame in (("train", self.train), ("eval", self.eval)):
            path = folder / f"{name}.jsonl"
            with atomic_write(path) as fh:
                for rec in _records(with_trl(frame)):
                    fh.write(json.dumps(rec, ensure_ascii=False, default=_json_default) + "\n")
            files[name] = path
        meta = {**self.settings, "counts": self.counts(), "composition": self.composition().to_dict("records")}
        with atomic_write(folder / META_FILE) as fh:
            fh.write(json.dumps(meta, indent=2, default=_json_default))
        files["meta"] = folder / META_FILE
        if hf:
            files["hf"] = write_hf_dataset(self, folder / "hf")
        return files

    @classmethod
    def read(cls, folder: str | Path) -> PreferenceData:
        """Read a folder written by :meth:`write` (JSONL files; ``meta.json`` becomes ``settings``)."""
        folder = Path(folder)
        if folder.is_file():
            return cls(read_pairs_jsonl(folder), pd.DataFrame(columns=["user_id"]), {})
        if not (folder / "train.jsonl").is_file():
            raise ConfigError(f"{folder}: no train.jsonl (write preference data with `pluralis align pairs`)")
        ev = folder / "eval.jsonl"
        settings = json.loads((folder / META_FILE).read_text()) if (folder / META_FILE).is_file() else {}
        return cls(
            read_pairs_jsonl(folder / "train.jsonl"),
            read_pairs_jsonl(ev) if ev.is_file() else pd.DataFrame(columns=["user_id"]),
            settings,
        )


def _json_default(v: Any) -> Any:
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, np.ndarray):
        return v.tolist()
    return str(v)


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    recs: list[dict[str, Any]] = [{str(k): v for k, v in r.items()} for r in frame.to_dict("records")]
    for r in recs:
        for k, v in list(r.items()):
            if isinstance(v, float) and math.isnan(v):
                r[k] = None
    return recs


def with_trl(pairs: pd.DataFrame) -> pd.DataFrame:
    """The pairs with TRL's ``chosen``/``rejected`` assistant-message lists added (first columns).

    Parameters
    ----------
    pairs : pandas.DataFrame
        Oriented pairs (``chosen_text``, ``rejected_text``).

    Returns
    -------
    pandas.DataFrame
        The pairs with ``chosen`` and ``rejected`` columns first.

    Example
    -------
    >>> p = pd.DataFrame({"prompt": [[{"role": "user", "content": "Hi"}]], "chosen_text": ["Hello"],
    ...                   "rejected_text": ["Bye"]})
    >>> with_trl(p)["chosen"].iloc[0]
    [{'role': 'assistant', 'content': 'Hello'}]
    """
    out = pairs.copy()
    out["chosen"] = pd.Series(
        [[{"role": "assistant", "content": str(t)}] for t in pairs["chosen_text"]], index=out.index
    )
    out["rejected"] = pd.Series(
        [[{"role": "assistant", "content": str(t)}] for t in pairs["rejected_text"]], index=out.index
    )
    return out[[*TRL_COLUMNS, *[c for c in out.columns if c not in TRL_COLUMNS]]]


def to_trl(pairs: pd.DataFrame, *, repeat_by_weight: bool = False) -> list[dict[str, Any]]:
    """TRL conversational preference rows ``{"prompt", "chosen", "rejected"}`` (message lists).

    ``repeat_by_weight``: a pair of graded level *k* appears *k* times (how DPO uses graded labels).

    Parameters
    ----------
    pairs : pandas.DataFrame
        Oriented, labelled pairs.
    repeat_by_weight : bool
        Repeat each pair by its ``weight`` (default False).

    Returns
    -------
    list of dict of str to Any
        One row per pair (or repetition).

    Example
    -------
    >>> p = pd.DataFrame({"prompt": [[{"role": "user", "content": "Hi"}]], "chosen_text": ["Hello"],
    ...                   "rejected_text": ["Bye"], "weight": [2.0]})
    >>> len(to_trl(p)), len(to_trl(p, repeat_by_weight=True))
    (1, 2)
    """
    t = with_trl(pairs)
    rows: list[dict[str, Any]] = [{str(k): v for k, v in r.items()} for r in t[list(TRL_COLUMNS)].to_dict("records")]
    if repeat_by_weight and "weight" in t.columns:
        reps = np.maximum(np.rint(t["weight"].to_numpy(dtype=float)), 1).astype(int)
        rows = [r for r, k in zip(rows, reps) for _ in range(k)]
    return rows


def read_pairs_jsonl(path: str | Path) -> pd.DataFrame:
    """Read a pairs JSONL file (written by :meth:`PreferenceData.write`, or any TRL conversational file).

    Parameters
    ----------
    path : str or pathlib.Path
        The JSONL file.

    Returns
    -------
    pandas.DataFrame
        One row per line, with ``prompt`` (chat messages), ``chosen_text``, ``rejected_text`` and
        ``prompt_text``.

    Example
    -------
    >>> import tempfile, pathlib
    >>> f = pathlib.Path(tempfile.mkdtemp()) / "p.jsonl"
    >>> _ = f.write_text(json.dumps({"prompt": [{"role": "user", "content": "Hi"}],
    ...     "chosen": [{"role": "assistant", "content": "Hello"}], "rejected": [{"role": "assistant", "content": "No"}]}))
    >>> read_pairs_jsonl(f)[["chosen_text", "rejected_text", "user_id"]].values.tolist()
    [['Hello', 'No', 'p0']]
    """
    from pluralis.data.jsonio import iter_jsonl

    rows, problems = [], []
    for line, obj in iter_jsonl(path):
        if not isinstance(obj, dict):
            problems.append(Problem(str(path), line, None, "expected a JSON object"))
            continue
        for col in TRL_COLUMNS:
            if col not in obj:
                problems.append(Problem(str(path), line, col, "required field is missing"))
        prompt = obj.get("prompt")
        if isinstance(prompt, str):
            prompt = [{"role": "user", "content": prompt}]
        obj["prompt"] = prompt
        for side in ("chosen", "rejected"):
            v = obj.get(side)
            if isinstance(v, list):
                obj.setdefault(f"{side}_text", v[-1].get("content") if v and isinstance(v[-1], dict) else None)
            elif isinstance(v, str):
                obj.setdefault(f"{side}_text", v)
            obj.pop(side, None)
        if isinstance(prompt, list) and prompt:
            obj.setdefault("prompt_text", prompt[-1].get("content", ""))
        rows.append(obj)
    if problems:
        raise DataValidationError(problems)
    frame = pd.DataFrame(rows)
    if "user_id" not in frame.columns:
        frame["user_id"] = [f"p{i}" for i in range(len(frame))]
    return frame


def write_hf_dataset(data: PreferenceData, folder: str | Path) -> Path:
    """Save train/eval as a Hugging Face ``DatasetDict`` (``datasets.load_from_disk`` reads it back).

    Parameters
    ----------
    data : PreferenceData
        The preference data.
    folder : str or pathlib.Path
        The folder to save in.

    Returns
    -------
    pathlib.Path
        The folder written.

    Example
    -------
    >>> import tempfile
    >>> p = pd.DataFrame({"user_id": ["u"], "prompt": [[{"role": "user", "content": "Hi"}]],
    ...                   "chosen_text": ["Hello"], "rejected_text": ["Bye"]})
    >>> path = write_hf_dataset(PreferenceData(p, p), tempfile.mkdtemp() + "/hf")
    >>> import datasets
    >>> datasets.load_from_disk(str(path))["train"][0]["chosen"]
    [{'role': 'assistant', 'content': 'Hello'}]
    """
    try:
        import datasets
    except ImportError:
        raise ConfigError("writing a datasets folder needs the [align] extra: pip install 'pluralis[align]'") from None
    folder = Path(folder)
    parts = {}
    for name, frame in (("train", data.train), ("eval", data.eval)):
        if not len(frame):
            continue
        t = with_trl(frame)
        keep = [*TRL_COLUMNS, *[c for c in ("user_id", "component", "weight", "margin") if c in t.columns]]
        t = t[keep].copy()
        for c in ("user_id", "component"):
            if c in t.columns:
                t[c] = t[c].astype(str)
        parts[name] = datasets.Dataset.from_pandas(t, preserve_index=False)
    dd = datasets.DatasetDict(parts)
    tmp = folder.with_name(folder.name + ".tmp")
    if tmp.exists():
        shutil.rmtree(tmp)
    bars = datasets.is_progress_bar_enabled()
    datasets.disable_progress_bars()
    try:
        dd.save_to_disk(str(tmp))
    finally:
        if bars:
            datasets.enable_progress_bars()
    if folder.exists():
        shutil.rmtree(folder)
    tmp.rename(folder)
    return folder


def build_preference_data(
    study: Any,
    *,
    group: str | GroupSpec | None = None,
    mixture: Sequence[str] | Mapping[str, float] | None = None,
    total: int | None = None,
    labels: Labels = "binary",
    disagreement: Disagreement = "keep",
    eval_fraction: float = 0.2,
    source: Literal["auto", "ratings", "comparisons"] = "auto",
    tie_threshold: float | None = None,
    turns: Literal["openers", "all"] | int | Sequence[int] = "all",
    context: Literal["conversation", "turn"] = "conversation",
    grades: Sequence[float] = DEFAULT_GRADES,
    seed: int = 0,
    pairs: pd.DataFrame | None = None,
    strata: str | None = "auto",
) -> PreferenceData:
    """Steps 1–5 of the module docstring: pairs → split → group or mixture → disagreement → labels.

    The split is stratified by the group field and done first; the group/mixture and disagreement rules
    shape the **training** pairs (a mixture's ``total`` is the training size). The eval split keeps every
    judgement of every held-out participant, whatever their group (``component`` names the group filter or
    mixture component they belong to, else None), so one eval split serves the evaluation of every group. ``pairs``: precomputed
    :func:`study_pairs` output (then ``study`` may be None).

    Parameters
    ----------
    study : Study, StudyFrames or pandas.DataFrame or None
        The study (or its pairs; see :func:`study_pairs`); may be None when ``pairs`` is given.
    group : str or GroupSpec, optional
        Train on this group's participants only (``"column=value"``).
    mixture : sequence of str or mapping of str to float, optional
        Train on a fixed-composition mixture of groups instead (see :func:`mix_groups`).
    total : int, optional
        The mixture's training size (default: the largest every group can fill).
    labels : {"binary", "graded"}
        Pair weights (see :func:`label_pairs`; default ``"binary"``).
    disagreement : {"keep", "majority", "drop-contested"}
        The disagreement rule for training pairs (default ``"keep"``).
    eval_fraction : float
        Share of participants held out for evaluation (default 0.2).
    source : {"auto", "ratings", "comparisons"}
        Which judgements make the pairs (see :func:`study_pairs`).
    tie_threshold : float, optional
        Score difference counted as a tie (see :func:`study_pairs`).
    turns : {"openers", "all"} or int or sequence of int
        Turns used (ratings only; default ``"all"``).
    context : {"conversation", "turn"}
        Whether prompts hold the earlier turns (default ``"conversation"``).
    grades : sequence of float
        Margin thresholds of the graded labels (default ``(20, 40)``).
    seed : int
        Random seed (split, mixture draw).
    pairs : pandas.DataFrame, optional
        Precomputed :func:`study_pairs` output.
    strata : str or None
        The split's stratifying column; ``"auto"`` (default) uses the group field when the group or
        mixture has one column, ``None`` does not stratify.

    Returns
    -------
    PreferenceData
        The train and eval splits.

    Example
    -------
    >>> from pluralis.data.synthetic import generate_study
    >>> s = generate_study(n_participants=40, seed=2)
    >>> d = build_preference_data(s, mixture=["gender=Female:0.7", "gender=Male:0.3"], total=50, turns="openers")
    >>> d.train["component"].value_counts().to_dict()
    {'gender=Female': 35, 'gender=Male': 15}
    """
    if group is not None and mixture is not None:
        raise ConfigError("give a group or a mixture, not both")
    specs: list[GroupSpec] = []
    if group is not None:
        specs = [parse_group(group)]
    mix = parse_mixture(mixture) if mixture is not None else None
    if mix is not None:
        specs = list(mix)
    if pairs is None:
        cols = None
        if specs:
            from pluralis.learn.pairs import DEFAULT_SURVEY_COLUMNS

            cols = list(dict.fromkeys([*DEFAULT_SURVEY_COLUMNS, *(g.column for g in specs)]))
        frames = study.frames() if hasattr(study, "frames") else study
        survey = getattr(frames, "survey", None)
        if cols is not None and survey is not None and len(survey):
            missing = [c for c in cols if c not in survey.columns]
            cols = [c for c in cols if c in survey.columns]
            for g in specs:
                if g.column in missing:
                    from pluralis.ranking.subgroups import resolve_field

                    real = resolve_field(g.column, survey)
                    raise ConfigError(f"group {g.label!r}: use the survey field {real!r} (e.g. {real}={g.values[0]})")
        pairs = study_pairs(
            frames, source=source, tie_threshold=tie_threshold, turns=turns, context=context, survey_columns=cols
        )
    if not len(pairs):
        raise ConfigError("no preference pairs in this study (need two or more rated responses per prompt)")
    if strata == "auto":
        strata = specs[0].column if specs and len({g.column for g in specs}) == 1 else None
    split = split_participants(pairs, eval_fraction, strata=strata, seed=seed)
    out = {}
    for name in ("train", "eval"):
        part = pairs[split.to_numpy() == name].reset_index(drop=True)
        if name == "train":
            if mix is not None:
                part = mix_groups(part, mix, total, seed=seed)
            else:
                part = select_group(part, specs[0] if specs else None)
            part = resolve_disagreement(part, disagreement)
        else:  # every held-out participant, of every group: the evaluation judges them all
            label = np.full(len(part), None, dtype=object)
            for g in specs:
                m = g.mask(part) & (label == None)  # noqa: E711  (object array)
                label[m] = g.label
            part = resolve_disagreement(part.assign(component=label if specs else "(all)"), "keep")
        part = label_pairs(part, labels, grades=grades)
        part["split"] = name
        out[name] = part
    if not len(out["train"]):
        raise ConfigError("no training pairs left after the group filter and disagreement rule")
    settings = {
        "group": specs[0].label if (specs and mix is None) else None,
        "mixture": {g.label: s for g, s in mix.items()} if mix else None,
        "total": int(len(out["train"])) if mix else None,
        "labels": labels,
        "disagreement": disagreement,
        "eval_fraction": eval_fraction,
        "source": str(pairs["source"].iloc[0]) if "source" in pairs.columns and len(pairs) else source,
        "tie_threshold": tie_threshold,
        "turns": turns if isinstance(turns, (str, int)) else list(turns),
        "context": context,
        "grades": list(grades),
        "seed": seed,
    }
    return PreferenceData(out["train"], out["eval"], settings)
