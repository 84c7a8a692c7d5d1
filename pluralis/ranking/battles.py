"""Pairwise *battles* from per-response ratings (PRISM Case Study II, spec §2.6 and §6.1).

Every pair of responses rated in the same interaction (by default: the same opening prompt)
becomes one battle. With scores ``s_a`` and ``s_b`` and a tie threshold ``t``::

    |s_a - s_b| <= t   -> "tie"
    s_a > s_b          -> "model_a"
    otherwise          -> "model_b"

Pairs are enumerated in ``itertools.combinations`` order over the rows of each interaction
(the released row order, which is PRISM's wide-format suffix order a, b, c, d).

Two forms are produced:

* a tidy :class:`pandas.DataFrame` (one row per battle; see :func:`extract_battles`), and
* :class:`BattleArrays`, an integer-coded form (``a``, ``b``, ``outcome``, ``cluster``) that the
  aggregators in :mod:`pluralis.ranking.engine` consume (see :func:`encode_battles`).

Score bases (``score=``):

``"raw"``
    the recorded 1-100 score (default tie threshold 5, the paper's recommendation is 5-10);
``"normalized"``
    ``(score - mean_u) / std_u`` per participant (ddof=1; std 0 -> 0; a single score -> NaN),
    computed over the turns selected (openers, or all turns) — spec §2.6. The tie threshold is on
    the z-scale (default 0.25, about 5 points for a typical participant);
``"rank"``
    within-turn rank, 1 = best, ties broken at random by U(-1e-4, 1e-4) noise (seeded); lower
    is better. The default threshold is 0, so every battle has a winner.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Literal

import numpy as np
import pandas as pd

from pluralis.data.model import SCORE_TIE_THRESHOLD
from pluralis.errors import ConfigError, DataValidationError, Problem
from pluralis.ranking.codes import factorize_column, factorize_columns

ScoreBasis = Literal["raw", "normalized", "rank"]

#: Default tie threshold per score basis (in that basis's units; raw scores: the data model's).
DEFAULT_TIE_THRESHOLDS: dict[str, float] = {"raw": SCORE_TIE_THRESHOLD, "normalized": 0.25, "rank": 0.0}

#: Outcome codes of :class:`BattleArrays`.
A_WINS, B_WINS, TIE = 0, 1, 2
WINNER_CODES: dict[str, int] = {"model_a": A_WINS, "model_b": B_WINS, "tie": TIE, "tie (bothbad)": TIE}
WINNER_LABELS: tuple[str, str, str] = ("model_a", "model_b", "tie")

#: Columns every battle frame carries (others are optional extras).
BATTLE_COLUMNS: tuple[str, ...] = (
    "model_a",
    "model_b",
    "score_a",
    "score_b",
    "winner",
    "user_id",
    "conversation_id",
    "conversation_type",
    "turn",
)


def _require(df: pd.DataFrame, columns: Iterable[str], what: str) -> None:
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise DataValidationError([Problem(what, None, c, "required column is missing") for c in missing])


def _check_score_basis(score: str) -> None:
    if score not in DEFAULT_TIE_THRESHOLDS:
        raise ConfigError(f"score must be one of {sorted(DEFAULT_TIE_THRESHOLDS)}, got {score!r}")


# --- derived per-utterance scores (spec §2.6) ---------------------------------------------------


def normalized_scores(scores: np.ndarray | pd.Series, users: np.ndarray | pd.Series) -> np.ndarray:
    """Per-participant z-scores: ``(score - mean_u) / std_u`` with ddof=1.

    ``std_u == 0`` gives 0; a participant with a single score gives NaN (as pandas does).

    Parameters
    ----------
    scores
        one score per rated response.
    users
        the participant of each response.

    Returns
    -------
    numpy.ndarray
        the z-scores, aligned with ``scores``.

    Example
    -------
    >>> normalized_scores([10, 20, 30, 50, 50], ["u", "u", "u", "v", "v"]).round(3).tolist()
    [-1.0, 0.0, 1.0, 0.0, 0.0]
    """
    s = np.asarray(scores, dtype=float)
    codes, _ = pd.factorize(np.asarray(users), use_na_sentinel=False)
    n = np.bincount(codes, minlength=codes.max() + 1 if len(codes) else 0).astype(float)
    total = np.bincount(codes, weights=s, minlength=len(n))
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = total / n
        dev = s - mean[codes]
        var = np.bincount(codes, weights=dev * dev, minlength=len(n)) / (n - 1)
        std = np.sqrt(var)[codes]
        z = dev / std
    z = np.where(std == 0, 0.0, z)
    return z


def within_turn_ranks(
    scores: np.ndarray | pd.Series, interactions: np.ndarray | pd.Series, *, seed: int | None = 42
) -> np.ndarray:
    """Rank of each response within its interaction, 1 = highest score.

    Ties are broken at random by adding U(-1e-4, 1e-4) noise, as PRISM does (spec §2.6);
    ``seed`` makes this reproducible.

    Parameters
    ----------
    scores
        one score per rated response.
    interactions
        the interaction (prompt) of each response.
    seed
        seed of the tie-breaking noise.

    Returns
    -------
    numpy.ndarray
        ranks (1 = best) aligned with ``scores``.

    Example
    -------
    >>> within_turn_ranks([50, 90, 70, 10, 20], ["i1", "i1", "i1", "i2", "i2"]).tolist()
    [3.0, 1.0, 2.0, 2.0, 1.0]
    """
    s = np.asarray(scores, dtype=float)
    rng = np.random.default_rng(seed)
    noisy = s + rng.uniform(-1e-4, 1e-4, size=len(s))
    codes, _ = pd.factorize(np.asarray(interactions), use_na_sentinel=False)
    order = np.lexsort((-noisy, codes))
    sorted_codes = codes[order]
    starts = np.r_[0, np.flatnonzero(np.diff(sorted_codes)) + 1] if len(s) else np.array([], int)
    sizes = np.diff(np.r_[starts, len(s)])
    pos = np.arange(len(s)) - np.repeat(starts, sizes)
    ranks = np.empty(len(s))
    ranks[order] = pos + 1
    return ranks


def balanced_subset(conversations: pd.DataFrame, *, seed: int = 0) -> pd.Series:
    """Recompute PRISM's balanced-subset flag (App. K, spec §3.2) for a conversations frame.

    Participants with at least one conversation of every type keep ``m`` = their minimum count
    per type, chosen at random (seeded) within each type. Returns a boolean Series aligned with
    ``conversations``. Released data carry the flag already (``included_in_balanced_subset``);
    this is for data that do not.

    Parameters
    ----------
    conversations
        conversations with ``user_id`` and ``conversation_type``.
    seed
        seed of the random choice within each type.

    Returns
    -------
    pandas.Series
        ``included_in_balanced_subset`` per conversation.

    Example
    -------
    >>> conv = pd.DataFrame({"user_id": ["u"] * 4 + ["v"],
    ...     "conversation_type": ["unguided", "unguided", "values guided", "controversy guided", "unguided"]})
    >>> keep = balanced_subset(conv)
    >>> int(keep[:4].sum()), bool(keep[4])   # u keeps one of each type; v lacks two types
    (3, False)
    """
    _require(conversations, ["user_id", "conversation_type"], "conversations")
    df = conversations[["user_id", "conversation_type"]].reset_index(drop=True)
    types = pd.unique(df["conversation_type"])
    counts = pd.crosstab(df["user_id"], df["conversation_type"]).reindex(columns=types, fill_value=0)
    m = counts.min(axis=1)
    rng = np.random.default_rng(seed)
    key = rng.random(len(df))
    order = np.lexsort((key, df["conversation_type"].astype(str).to_numpy(), df["user_id"].astype(str).to_numpy()))
    sorted_df = df.iloc[order]
    pos = sorted_df.groupby(["user_id", "conversation_type"], sort=False).cumcount().to_numpy()
    keep_sorted = pos < m.reindex(sorted_df["user_id"]).to_numpy()
    keep = np.empty(len(df), dtype=bool)
    keep[order] = keep_sorted
    return pd.Series(keep, index=conversations.index, name="included_in_balanced_subset")


# --- ratings ------------------------------------------------------------------------------------


def prepare_ratings(
    utterances: pd.DataFrame,
    *,
    turns: Literal["openers", "all"] | int | Sequence[int] = "openers",
    balanced: bool = False,
    short_names: bool = True,
    seed: int | None = 42,
) -> pd.DataFrame:
    """Filter rated responses and add ``normalized_score`` and ``within_turn_rank``.

    Input columns (PRISM ``utterances.jsonl``): ``model_name``, ``score``, ``user_id`` and
    ``interaction_id`` (or ``conversation_id`` + ``turn``); optional ``turn``,
    ``conversation_type``, ``included_in_balanced_subset``, ``utterance_id``. ``turns`` selects
    openers (turn 0, the paper's unit), all turns, or given turn numbers. ``balanced`` keeps only
    the balanced subset (App. K) — from the flag if present, else recomputed. Normalised scores
    are per participant over the selected turns (before the balanced filter), as in PRISM's code.
    ``short_names`` maps long model names (``models/chat-bison-001``) to PRISM short names.

    Parameters
    ----------
    utterances
        PRISM utterance rows.
    turns
        ``"openers"``, ``"all"``, or turn number(s).
    balanced
        keep only the balanced subset.
    short_names
        map long model names to PRISM's short names.
    seed
        seed of the within-turn rank tie-break.

    Returns
    -------
    pandas.DataFrame
        the selected rated responses with ``normalized_score`` and ``within_turn_rank``.

    Example
    -------
    >>> u = pd.DataFrame({"interaction_id": ["i1", "i1", "i2", "i2"], "user_id": ["u"] * 4,
    ...     "turn": [0, 0, 1, 1], "model_name": ["x", "y", "x", "x"], "score": [80, 40, 60, 70]})
    >>> prepare_ratings(u)[["model_name", "score", "within_turn_rank"]].values.tolist()
    [['x', 80, 1.0], ['y', 40, 2.0]]
    """
    _require(utterances, ["model_name", "score", "user_id"], "utterances")
    df = utterances.copy()
    if "interaction_id" not in df.columns:
        _require(df, ["conversation_id", "turn"], "utterances")
        df["interaction_id"] = df["conversation_id"].astype(str) + "#" + df["turn"].astype(str)
    if "turn" in df.columns:
        if isinstance(turns, str):
            if turns == "openers":
                df = df[df["turn"].to_numpy() == 0]
            elif turns != "all":
                raise ConfigError(f"turns must be 'openers', 'all' or turn numbers, got {turns!r}")
        else:
            wanted = [int(t) for t in np.atleast_1d(np.asarray(turns))]
            df = df[df["turn"].isin(wanted)]
    elif turns not in ("openers", "all"):
        raise ConfigError("turn numbers were requested but the data have no 'turn' column")
    df = df[df["score"].notna() & df["model_name"].notna()]
    if short_names:
        try:
            from pluralis.data.roster import short_name

            names = pd.unique(df["model_name"])
            mapping = {n: short_name(n) for n in names}
            df["model_name"] = df["model_name"].map(mapping)
        except ImportError:  # pragma: no cover - roster always ships with the package
            pass
    df["normalized_score"] = normalized_scores(df["score"].to_numpy(dtype=float), df["user_id"].to_numpy())
    df["within_turn_rank"] = within_turn_ranks(
        df["score"].to_numpy(dtype=float), df["interaction_id"].to_numpy(), seed=seed
    )
    if balanced:
        if "included_in_balanced_subset" in df.columns:
            flag = df["included_in_balanced_subset"].fillna(False).astype(bool).to_numpy()
        else:
            _require(df, ["conversation_id", "conversation_type"], "utterances")
            conv = df.drop_duplicates("conversation_id")[["conversation_id", "user_id", "conversation_type"]]
            kept = conv.loc[balanced_subset(conv).to_numpy(), "conversation_id"]
            flag = df["conversation_id"].isin(set(kept)).to_numpy()
        df = df[flag]
    return df.reset_index(drop=True)


# --- battles ------------------------------------------------------------------------------------


def _pair_positions(group_codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Row positions (i, j) of every within-group pair, in combinations order per group.

    Groups come out in code order and rows within a group keep their relative order.
    """
    m = len(group_codes)
    if m == 0:
        return np.array([], dtype=np.int64), np.array([], dtype=np.int64)
    order = np.argsort(group_codes, kind="stable")
    gs = group_codes[order]
    starts = np.r_[0, np.flatnonzero(np.diff(gs)) + 1]
    sizes = np.diff(np.r_[starts, m])
    max_size = int(sizes.max())
    firsts, seconds, grp, combo = [], [], [], []
    c = 0
    for i in range(max_size):  # at most 4 responses per opener: 6 combinations
        for j in range(i + 1, max_size):
            g = np.flatnonzero(sizes > j)
            firsts.append(order[starts[g] + i])
            seconds.append(order[starts[g] + j])
            grp.append(g)
            combo.append(np.full(len(g), c))
            c += 1
    if not firsts:
        return np.array([], dtype=np.int64), np.array([], dtype=np.int64)
    f, s, g, k = (np.concatenate(x) for x in (firsts, seconds, grp, combo))
    o = np.lexsort((k, g))
    return f[o], s[o]


def _outcomes(merit_a: np.ndarray, merit_b: np.ndarray, threshold: float) -> np.ndarray:
    d = merit_a - merit_b
    out = np.where(d > 0, A_WINS, B_WINS).astype(np.int8)
    out[np.abs(d) <= threshold] = TIE
    return out


def extract_battles(
    utterances: pd.DataFrame,
    *,
    tie_threshold: float | None = None,
    turns: Literal["openers", "all"] | int | Sequence[int] = "openers",
    balanced: bool = False,
    score: ScoreBasis = "raw",
    drop_self_battles: bool = True,
    short_names: bool = True,
    seed: int | None = 42,
    keep: Sequence[str] = (),
) -> pd.DataFrame:
    """Turn rated responses into battles: every pair within an interaction is one battle.

    Parameters
    ----------
    utterances
        PRISM utterance rows (see :func:`prepare_ratings` for the columns used).
    tie_threshold
        ``|s_a - s_b| <= tie_threshold`` is a tie (inclusive). Default: 5 raw points, 0.25 for
        ``score="normalized"``, 0 for ``score="rank"`` (:data:`DEFAULT_TIE_THRESHOLDS`).
    turns, balanced, short_names, seed
        as in :func:`prepare_ratings`.
    score
        ``"raw"``, ``"normalized"`` or ``"rank"`` — which score decides the winner.
    drop_self_battles
        later turns compare two samples of the *same* model; such battles carry no ranking
        information and are dropped by default.
    keep
        extra utterance columns to carry over (suffixed ``_a``/``_b`` when they differ per row).

    Returns
    -------
    DataFrame with ``model_a, model_b, score_a, score_b, winner, user_id, conversation_id,
    conversation_type, turn, interaction_id`` plus ``raw_score_*``, ``normalized_score_*``,
    ``within_turn_rank_*`` and ``utterance_id_*`` (when present). ``score_*`` is the basis
    that decided the winner. ``attrs`` records the settings.

    Example
    -------
    >>> u = pd.DataFrame({"interaction_id": ["i1"] * 3, "user_id": ["u"] * 3, "turn": [0] * 3,
    ...     "model_name": ["x", "y", "z"], "score": [80, 40, 77]})
    >>> extract_battles(u)[["model_a", "model_b", "winner"]].values.tolist()
    [['x', 'y', 'model_a'], ['x', 'z', 'tie'], ['y', 'z', 'model_b']]
    """
    _check_score_basis(score)
    threshold = DEFAULT_TIE_THRESHOLDS[score] if tie_threshold is None else float(tie_threshold)
    if not np.isfinite(threshold) or threshold < 0:
        raise ConfigError(f"tie_threshold must be a non-negative number, got {tie_threshold!r}")
    r = prepare_ratings(utterances, turns=turns, balanced=balanced, short_names=short_names, seed=seed)
    codes, _ = pd.factorize(r["interaction_id"].to_numpy(), use_na_sentinel=False)
    ia, ib = _pair_positions(codes)
    models = r["model_name"].to_numpy()
    if drop_self_battles and len(ia):
        diff = models[ia] != models[ib]
        ia, ib = ia[diff], ib[diff]
    raw = r["score"].to_numpy(dtype=float)
    norm = r["normalized_score"].to_numpy()
    rank = r["within_turn_rank"].to_numpy()
    basis = {"raw": raw, "normalized": norm, "rank": rank}[score]
    merit = -basis if score == "rank" else basis
    outcome = _outcomes(merit[ia], merit[ib], threshold)
    if score == "normalized":
        # a participant with a single rating has no z-score; their battles are ties by convention
        outcome[np.isnan(merit[ia]) | np.isnan(merit[ib])] = TIE
    out = pd.DataFrame(
        {
            "model_a": models[ia],
            "model_b": models[ib],
            "score_a": basis[ia],
            "score_b": basis[ib],
            "winner": np.asarray(WINNER_LABELS, dtype=object)[outcome],
        }
    )
    for col in ("user_id", "conversation_id", "conversation_type", "turn", "interaction_id"):
        if col in r.columns:
            out[col] = r[col].to_numpy()[ia]
        elif col in BATTLE_COLUMNS:
            out[col] = np.nan
    for name, values in (("raw_score", raw), ("normalized_score", norm), ("within_turn_rank", rank)):
        out[f"{name}_a"] = values[ia]
        out[f"{name}_b"] = values[ib]
    if "utterance_id" in r.columns:
        out["utterance_id_a"] = r["utterance_id"].to_numpy()[ia]
        out["utterance_id_b"] = r["utterance_id"].to_numpy()[ib]
    for col in keep:
        if col not in r.columns:
            raise ConfigError(f"cannot keep column {col!r}: not in the utterances")
        va, vb = r[col].to_numpy()[ia], r[col].to_numpy()[ib]
        if col in out.columns:
            continue
        same = pd.Series(va).equals(pd.Series(vb))
        if same:
            out[col] = va
        else:
            out[f"{col}_a"], out[f"{col}_b"] = va, vb
    out.attrs.update({"tie_threshold": threshold, "score": score, "turns": turns, "balanced": balanced})
    return out


def rescore_battles(battles: pd.DataFrame, tie_threshold: float, *, score: ScoreBasis | None = None) -> pd.DataFrame:
    """Recompute ``winner`` for a different tie threshold (or basis) without re-pairing.

    Needs the ``raw_score_*`` / ``normalized_score_*`` / ``within_turn_rank_*`` columns that
    :func:`extract_battles` writes (or ``score_a``/``score_b`` for the raw basis).

    Parameters
    ----------
    battles
        battle frame from :func:`extract_battles`.
    tie_threshold
        ``|s_a - s_b| <= tie_threshold`` is a tie.
    score
        basis (``"raw"``, ``"normalized"``, ``"rank"``); default the frame's.

    Returns
    -------
    pandas.DataFrame
        a copy with ``winner`` recomputed.

    Example
    -------
    >>> b = pd.DataFrame({"model_a": ["x"], "model_b": ["y"], "score_a": [60], "score_b": [52], "winner": ["model_a"]})
    >>> rescore_battles(b, 10)["winner"].tolist()
    ['tie']
    """
    basis = score or battles.attrs.get("score", "raw")
    _check_score_basis(basis)
    col = {"raw": "raw_score", "normalized": "normalized_score", "rank": "within_turn_rank"}[basis]
    if f"{col}_a" in battles.columns:
        sa, sb = battles[f"{col}_a"].to_numpy(float), battles[f"{col}_b"].to_numpy(float)
    elif basis == "raw" or basis == battles.attrs.get("score", "raw"):
        _require(battles, ["score_a", "score_b"], "battles")
        sa, sb = battles["score_a"].to_numpy(float), battles["score_b"].to_numpy(float)
    else:
        raise DataValidationError(Problem("battles", None, f"{col}_a", "required column is missing"))
    if basis == "rank":
        sa, sb = -sa, -sb
    outcome = _outcomes(sa, sb, float(tie_threshold))
    out = battles.copy()
    out["winner"] = np.asarray(WINNER_LABELS, dtype=object)[outcome]
    if basis == battles.attrs.get("score", "raw") or f"{col}_a" in battles.columns:
        out["score_a"], out["score_b"] = (-sa, -sb) if basis == "rank" else (sa, sb)
    out.attrs = {**battles.attrs, "tie_threshold": float(tie_threshold), "score": basis}
    return out


# --- integer-coded form -------------------------------------------------------------------------


def pair_outcome_counts(a, b, outcome, n_models: int, weights=None) -> np.ndarray:
    """Battles per (model a, model b, outcome): an ``(n, n, 3)`` array from one ``bincount``.

    The one home of the cell index ``(a * n + b) * 3 + outcome``. ``a``, ``b`` and ``outcome`` may be
    broadcast against each other (a count per combination of code-table entries, weighted by how often
    each combination occurs, as :meth:`BattleArrays.pair_counts` does).

    Parameters
    ----------
    a, b
        model codes ``0 .. n_models - 1``.
    outcome
        ``A_WINS``, ``B_WINS`` or ``TIE`` codes.
    n_models
        number of models.
    weights
        optional weight per (broadcast) entry; the counts are then float sums.

    Returns
    -------
    numpy.ndarray
        ``counts[a, b, outcome]``: int64 without weights, float with.

    Example
    -------
    >>> pair_outcome_counts([0, 0, 1], [1, 1, 0], [0, 2, 0], 2)[0, 1].tolist()
    [1, 0, 1]
    """
    n = int(n_models)
    wide = np.int64 if n * n * 3 >= 2**31 else None  # the cell index must not overflow narrow codes
    a, b, outcome = (np.asarray(x, dtype=wide) if wide else np.asarray(x) for x in (a, b, outcome))
    cell = ((a * n + b) * 3 + outcome).ravel()
    w = None if weights is None else np.ravel(weights)
    return np.bincount(cell, weights=w, minlength=n * n * 3).reshape(n, n, 3)


class BattleArrays:
    """Integer-coded battles: what the array-level aggregators consume.

    ``a``/``b`` index ``models``; ``outcome`` is :data:`A_WINS` (0), :data:`B_WINS` (1) or
    :data:`TIE` (2); ``cluster`` indexes ``clusters`` (participants, for the cluster bootstrap)
    or is ``None``. Immutable.

    :func:`encode_battles` builds it from each column's factorisation codes and their small
    code -> model tables (:meth:`from_codes`): the per-battle rows are gathered on first use of
    ``a``, ``b`` or ``outcome``, and :meth:`pair_counts` (all that a one-off pair ranking needs)
    is one ``bincount`` over the codes, so ranking a frame once never builds the rows at all.

    Example
    -------
    >>> arr = BattleArrays.from_lists(["x", "y"], [0], [1], [0])
    >>> arr.n_models, arr.n_battles
    (2, 1)
    """

    models: tuple[str, ...]
    cluster: np.ndarray | None
    clusters: tuple | None
    extra: dict
    _rows: tuple[np.ndarray, np.ndarray, np.ndarray] | None
    _coded: tuple[tuple[np.ndarray, np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray, np.ndarray]] | None
    _m: int
    _counts: np.ndarray | None

    def __init__(
        self,
        models: Sequence[str],
        a: np.ndarray,
        b: np.ndarray,
        outcome: np.ndarray,
        cluster: np.ndarray | None = None,
        clusters: tuple | None = None,
        extra: dict | None = None,
    ) -> None:
        n = len(models)
        m = len(a)
        if len(b) != m or len(outcome) != m:
            raise DataValidationError("battle arrays a, b and outcome must have the same length")
        if m and (min(a.min(), b.min()) < 0 or max(a.max(), b.max()) >= n):
            raise DataValidationError(f"model index out of range 0..{n - 1}")
        if m and (outcome.min() < 0 or outcome.max() > 2):
            raise DataValidationError("outcome codes must be 0 (a wins), 1 (b wins) or 2 (tie)")
        if cluster is not None and len(cluster) != m:
            raise DataValidationError("cluster must have one entry per battle")
        self._init(tuple(models), (a, b, outcome), None, m, cluster, clusters, extra)

    def _init(self, models, rows, coded, m, cluster, clusters, extra) -> None:
        set_ = object.__setattr__
        set_(self, "models", models)
        set_(self, "_rows", rows)
        set_(self, "_coded", coded)
        set_(self, "_m", m)
        set_(self, "_counts", None)
        set_(self, "cluster", cluster)
        set_(self, "clusters", clusters)
        set_(self, "extra", {} if extra is None else extra)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"BattleArrays is immutable (cannot set {name!r})")

    def __repr__(self) -> str:
        return f"BattleArrays({self.n_models} models, {self.n_battles} battles, {self.n_clusters} clusters)"

    @classmethod
    def from_codes(
        cls,
        models: Sequence[str],
        codes: tuple[np.ndarray, np.ndarray, np.ndarray],
        tables: tuple[np.ndarray, np.ndarray, np.ndarray],
        cluster: np.ndarray | None = None,
        clusters: tuple | None = None,
    ) -> BattleArrays:
        """Battles given as factorisation codes of ``model_a``, ``model_b`` and ``winner`` plus code tables.

        Row ``i`` is ``a = tables[0][codes[0][i]]``, ``b = tables[1][codes[1][i]]``, ``outcome =
        tables[2][codes[2][i]]``. The caller vouches that every code is in range and every table entry is a
        valid model / outcome code (:func:`encode_battles` checks the tables, which are a few entries
        long, instead of every row).

        Parameters
        ----------
        models
            the model names.
        codes
            three equally long non-negative integer arrays.
        tables
            the code -> model index (int64) and code -> outcome (int8) tables.
        cluster, clusters
            as in the constructor.

        Returns
        -------
        BattleArrays

        Example
        -------
        >>> arr = BattleArrays.from_codes(["x", "y"], (np.array([1, 0]), np.array([0, 1]), np.array([0, 0])),
        ...                               (np.array([0, 1]), np.array([1, 0]), np.array([2], dtype=np.int8)))
        >>> arr.a.tolist(), arr.b.tolist(), arr.outcome.tolist()
        ([1, 0], [1, 0], [2, 2])
        """
        m = len(codes[0])
        if len(codes[1]) != m or len(codes[2]) != m or (cluster is not None and len(cluster) != m):
            raise DataValidationError("battle codes must have one entry per battle")
        arrays = cls.__new__(cls)
        arrays._init(tuple(models), None, (codes, tables), m, cluster, clusters, None)
        return arrays

    def _materialise(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        # the codes are read before the rows: a thread that gathers sets the rows before it drops the codes,
        # so one of the two is always seen (two threads may both gather: the same arrays either way)
        coded, rows = self._coded, self._rows
        if rows is None:
            assert coded is not None
            (ca, cb, cw), (ta, tb, tw) = coded
            rows = (ta[ca], tb[cb], tw[cw])
            object.__setattr__(self, "_rows", rows)
            object.__setattr__(self, "_coded", None)  # the rows say it all: free the codes (20 M battles: 240 MB)
        return rows

    @property
    def a(self) -> np.ndarray:
        """Model index of side a, per battle."""
        return self._materialise()[0]

    @property
    def b(self) -> np.ndarray:
        """Model index of side b, per battle."""
        return self._materialise()[1]

    @property
    def outcome(self) -> np.ndarray:
        """Outcome code per battle (0 a wins, 1 b wins, 2 tie)."""
        return self._materialise()[2]

    def pair_counts(self) -> np.ndarray:
        """Battles per (model a, model b, outcome): an ``(n, n, 3)`` integer array, computed once.

        From the codes when the battles came from :meth:`from_codes` and their rows were never
        needed: one ``bincount`` over ``(code a, code b, code winner)`` and a fold of its few
        cells through the code tables.

        Returns
        -------
        numpy.ndarray
            read-only ``counts[a, b, outcome]``.

        Example
        -------
        >>> BattleArrays.from_lists(["x", "y"], [0, 0, 1], [1, 1, 0], [0, 2, 0]).pair_counts()[0, 1].tolist()
        [1, 0, 1]
        """
        counts = self._counts
        if counts is None:
            n = self.n_models
            coded, rows = self._coded, self._rows  # in this order: see _materialise
            if rows is None:
                assert coded is not None
                (ca, cb, cw), (ta, tb, tw) = coded
                na, nb, nw = len(ta), len(tb), len(tw)
                dtype = np.int32 if na * nb * nw < 2**31 else np.int64
                index = (ca.astype(dtype, copy=False) * nb + cb) * nw + cw
                by_code = np.bincount(index, minlength=na * nb * nw)
                table = (ta[:, None, None], tb[None, :, None], tw[None, None, :])
                counts = pair_outcome_counts(*table, n, weights=by_code).astype(np.int64)
            else:
                counts = pair_outcome_counts(*rows, n)
            counts.flags.writeable = False
            object.__setattr__(self, "_counts", counts)
        return counts

    @classmethod
    def from_lists(cls, models: Sequence[str], a, b, outcome, cluster=None, clusters=None) -> BattleArrays:
        """Build from plain sequences (ints), checking ranges.

        Example
        -------
        >>> arr = BattleArrays.from_lists(["x", "y", "z"], [0, 1], [2, 2], [TIE, A_WINS], cluster=[0, 3])
        >>> arr.n_battles, arr.n_clusters
        (2, 4)
        """
        cl = None if cluster is None else np.asarray(cluster, dtype=np.int64)
        if cl is not None and clusters is None:
            clusters = tuple(range(int(cl.max()) + 1 if len(cl) else 0))
        return cls(
            tuple(models),
            np.asarray(a, dtype=np.int64),
            np.asarray(b, dtype=np.int64),
            np.asarray(outcome, dtype=np.int8),
            cl,
            None if clusters is None else tuple(clusters),
        )

    @property
    def n_models(self) -> int:
        return len(self.models)

    @property
    def n_battles(self) -> int:
        return self._m

    @property
    def n_clusters(self) -> int:
        return 0 if self.clusters is None else len(self.clusters)

    def battles_per_model(self) -> np.ndarray:
        """Battles each model took part in (from :meth:`pair_counts`).

        Example
        -------
        >>> BattleArrays.from_lists(["x", "y", "z"], [0, 0], [1, 2], [0, 2]).battles_per_model().tolist()
        [2, 1, 1]
        """
        per_pair = self.pair_counts().sum(axis=2)
        return per_pair.sum(axis=1) + per_pair.sum(axis=0)

    def take(self, index: np.ndarray) -> BattleArrays:
        """A subset (or reordering) of the battles, same model coding.

        Example
        -------
        >>> arr = BattleArrays.from_lists(["x", "y"], [0, 1], [1, 0], [0, 2])
        >>> arr.take(np.array([1])).outcome.tolist()
        [2]
        """
        return BattleArrays(
            self.models,
            self.a[index],
            self.b[index],
            self.outcome[index],
            None if self.cluster is None else self.cluster[index],
            self.clusters,
        )

    def present_models(self) -> np.ndarray:
        """Boolean mask of models that appear in at least one battle.

        Example
        -------
        >>> BattleArrays.from_lists(["x", "y", "z"], [0], [2], [1]).present_models().tolist()
        [True, False, True]
        """
        return self.battles_per_model() > 0


def encode_battles(
    battles: pd.DataFrame,
    *,
    models: Sequence[str] | None = None,
    cluster: str | None = "user_id",
) -> BattleArrays:
    """Integer-code a battle frame (``model_a``, ``model_b``, ``winner``[, cluster column]).

    ``models`` fixes the model order (default: sorted names of the models present); ``winner``
    may be ``model_a``, ``model_b``, ``tie`` or ``tie (bothbad)`` (Chatbot Arena). ``cluster``
    names the resampling unit for the cluster bootstrap (``None`` for none).

    Parameters
    ----------
    battles
        battle frame.
    models
        model order (default: sorted names of the models present).
    cluster
        the resampling unit's column (``None`` for none).

    Returns
    -------
    BattleArrays
        the integer-coded battles.

    See Also
    --------
    BattleArrays.from_lists : build from plain integer sequences.

    Example
    -------
    >>> b = pd.DataFrame({"model_a": ["x", "y"], "model_b": ["y", "z"], "winner": ["model_a", "tie"],
    ...                   "user_id": ["u1", "u2"]})
    >>> arr = encode_battles(b)
    >>> arr.models, arr.a.tolist(), arr.b.tolist(), arr.outcome.tolist(), arr.cluster.tolist()
    (('x', 'y', 'z'), [0, 1], [1, 2], [0, 2], [0, 1])
    """
    _require(battles, ["model_a", "model_b", "winner"], "battles")
    # factorise each column as stored (Arrow strings by pyarrow, cached; never via an object
    # array), then map the few distinct names onto the model order
    with_cluster = cluster is not None and cluster in battles.columns
    if cluster is not None and not with_cluster and cluster != "user_id":
        raise ConfigError(f"cluster column {cluster!r} is not in the battles")
    names = ["model_a", "model_b", "winner"] + ([str(cluster)] if with_cluster else [])
    encoded = factorize_columns([battles[name] for name in names])
    (ca, ua), (cb, ub), (wcodes, wuniq) = encoded[:3]
    # missing names have code -1: one pass per column says whether there are any; rows only for an error message
    missing_names = ca.min(initial=0) < 0 or cb.min(initial=0) < 0
    if models is None:
        if missing_names:
            missing = np.flatnonzero(ca < 0) if (ca < 0).any() else np.flatnonzero(cb < 0)
            raise DataValidationError(Problem("battles", int(missing[0]) + 1, "model_a/model_b", "missing model name"))
        models = sorted(str(x) for x in dict.fromkeys([*ua, *ub]))
    models = tuple(models)
    position = {name: k for k, name in enumerate(models)}
    if len(position) != len(models):
        raise ConfigError("models must be unique")
    # checks on the code tables (a few entries) instead of every row
    ta = np.array([position.get(name, -1) for name in ua], dtype=np.int64)
    tb = np.array([position.get(name, -1) for name in ub], dtype=np.int64)
    if (ta < 0).any() or (tb < 0).any() or missing_names:
        a, b = np.append(ta, -1)[ca], np.append(tb, -1)[cb]  # missing names (code -1) hit the trailing -1
        ma, mb = battles["model_a"].to_numpy(), battles["model_b"].to_numpy()
        bad = sorted({str(x) for x in np.concatenate([ma[a < 0], mb[b < 0]])})
        raise DataValidationError(
            Problem("battles", None, "model_a/model_b", f"model(s) not in the model list: {', '.join(bad[:5])}")
        )
    tw = np.array([WINNER_CODES.get(str(x), -1) for x in wuniq], dtype=np.int8)
    if (tw < 0).any() or wcodes.min(initial=0) < 0:
        outcome = np.append(tw, np.int8(-1))[wcodes]  # NaN winners (code -1) hit the trailing -1
        w = battles["winner"].to_numpy()
        bad_rows = np.flatnonzero(outcome < 0)
        raise DataValidationError(
            [
                Problem("battles", int(i) + 1, "winner", f"must be model_a, model_b or tie, got {w[i]!r}")
                for i in bad_rows[:20]
            ]
        )
    cl = clusters = None
    if with_cluster:
        cl, uniq = encoded[3]
        if (cl < 0).any():  # a missing participant is a unit of its own, not dropped
            cl, uniq = factorize_column(battles[cluster], use_na_sentinel=False)
        clusters = tuple(uniq) if isinstance(uniq, list) else tuple(np.asarray(uniq))
    return BattleArrays.from_codes(
        models,
        (ca, cb, wcodes),
        (ta, tb, tw),
        None if cl is None else cl.astype(np.int64, copy=False),
        clusters,
    )


def ratings_from_battles(battles: pd.DataFrame, *, carry: Sequence[str] = ()) -> pd.DataFrame:
    """The distinct rated responses behind a battle frame (one row per response).

    Score-based aggregators (mean score, mean normalised score, mean within-turn rank) use these,
    so every aggregator sees exactly the responses that took part in the battles. Responses are
    identified by ``utterance_id_*`` when present, else by (interaction, model, raw score).
    ``carry`` names battle-level columns (e.g. a participant field) to copy onto the responses.

    Parameters
    ----------
    battles
        battle frame (with the scores behind each battle).
    carry
        battle-level columns to copy onto the responses.

    Returns
    -------
    pandas.DataFrame
        one row per rated response: ``model_name``, ``score``, ``normalized_score`` and
        ``within_turn_rank`` (when the battles carry them), ids (``user_id``,
        ``interaction_id``, ...) and the ``carry`` columns.

    Example
    -------
    >>> b = pd.DataFrame({"model_a": ["x", "x"], "model_b": ["y", "z"], "score_a": [80, 80], "score_b": [40, 60],
    ...     "winner": ["model_a", "model_a"], "user_id": ["u", "u"], "interaction_id": ["i", "i"]})
    >>> ratings_from_battles(b)[["model_name", "score"]].values.tolist()
    [['x', 80.0], ['y', 40.0], ['z', 60.0]]
    """
    _require(battles, ["model_a", "model_b"], "battles")
    parts = []
    for side in ("a", "b"):
        d = pd.DataFrame({"model_name": battles[f"model_{side}"].to_numpy()})
        raw = f"raw_score_{side}" if f"raw_score_{side}" in battles.columns else f"score_{side}"
        d["score"] = battles[raw].to_numpy(dtype=float)
        for name in ("normalized_score", "within_turn_rank", "utterance_id"):
            if f"{name}_{side}" in battles.columns:
                d[name] = battles[f"{name}_{side}"].to_numpy()
        for col in ("user_id", "interaction_id", "conversation_id", "conversation_type", *carry):
            if col in battles.columns and col not in d.columns:
                d[col] = battles[col].to_numpy()
        d["_order"] = np.arange(len(d)) * 2 + (side == "b")
        parts.append(d)
    r = pd.concat(parts, ignore_index=True).sort_values("_order", kind="stable")
    if "utterance_id" in r.columns:
        r = r.drop_duplicates("utterance_id")
    else:
        key = [c for c in ("interaction_id", "user_id") if c in r.columns] + ["model_name", "score"]
        r = r.drop_duplicates(key)
    return r.drop(columns="_order").reset_index(drop=True)


#: Comparison columns consumed in making battles (not carried through to the battle frame).
_COMPARISON_JUDGEMENT = frozenset(
    {"models", "winner", "tie", "both_bad", "ranking", "ratings", "responses", "prompt", "annotator_id"}
    | {"_row", "_ia", "_ib"}
)


def decided_by_ratings(comparisons: pd.DataFrame) -> np.ndarray:
    """Which comparisons take their outcome from their ratings (a tie threshold then applies to them).

    The one home of the rule :func:`battles_from_comparisons` follows: a two-way comparison with a
    recorded winner or tie keeps it; one without a judgement, and every k-wise comparison, is decided by its
    ratings when it has all of them.

    Parameters
    ----------
    comparisons
        comparisons with ``models`` and any of ``winner`` / ``tie`` / ``ratings``.

    Returns
    -------
    numpy.ndarray
        bool, one per comparison.

    See Also
    --------
    battles_from_comparisons : turns the comparisons into battles by this rule.

    Example
    -------
    >>> c = pd.DataFrame({"models": [["x", "y"], ["x", "y"], ["x", "y", "z"]], "winner": [0, None, None],
    ...                   "ratings": [[80.0, 78.0], [80.0, 78.0], [1.0, None, 3.0]]})
    >>> decided_by_ratings(c).tolist()
    [False, True, False]
    """
    n = len(comparisons)
    if "ratings" not in comparisons.columns:
        return np.zeros(n, dtype=bool)
    rated = np.fromiter(
        (
            isinstance(r, (list, tuple, np.ndarray)) and len(r) > 0 and all(x is not None for x in r)
            for r in comparisons["ratings"]
        ),
        dtype=bool,
        count=n,
    )
    judged = np.zeros(n, dtype=bool)
    if "winner" in comparisons.columns:
        judged |= comparisons["winner"].notna().to_numpy()
    if "tie" in comparisons.columns:
        judged |= comparisons["tie"].fillna(False).astype(bool).to_numpy()
    pairwise = comparisons["models"].map(len).to_numpy() == 2
    return rated & ~(judged & pairwise)


def battles_from_comparisons(
    comparisons: pd.DataFrame,
    *,
    tie_threshold: float = 0.0,
) -> pd.DataFrame:
    """Battles from generic pairwise / k-wise judgements (``study.frames().comparisons``).

    Two-way comparisons (Chatbot Arena) map directly: ``winner`` 0/1 or ``tie``; ``both_bad``
    ties count as ties. k-wise comparisons expand to all pairs, using ``ratings`` when present
    (with ``tie_threshold``), else ``ranking`` (earlier = better), else ``winner`` (the winner beats
    every other candidate). ``annotator_id`` becomes ``user_id``; every other column of
    ``comparisons`` (``source``, ``language``, extra covariates such as participant fields) is
    carried through to each of its battles, so ``--by`` can use it.

    Parameters
    ----------
    comparisons
        comparisons with ``models`` and ``winner`` / ``tie`` / ``ranking`` / ``ratings``.
    tie_threshold
        for rated k-wise comparisons: ``|r_a - r_b| <= tie_threshold`` is a tie.

    Returns
    -------
    pandas.DataFrame
        battle frame: ``model_a, model_b, winner, user_id`` (and ``conversation_id``, ``turn``;
        ``model_response_a`` / ``model_response_b`` when the comparisons carry ``responses``,
        for style control).

    Example
    -------
    >>> c = pd.DataFrame({"models": [["x", "y"], ["y", "z"]], "winner": [0, None], "tie": [False, True],
    ...                   "annotator_id": ["u1", "u2"]})
    >>> battles_from_comparisons(c)[["model_a", "model_b", "winner", "user_id"]].values.tolist()
    [['x', 'y', 'model_a', 'u1'], ['y', 'z', 'tie', 'u2']]
    """
    _require(comparisons, ["models"], "comparisons")
    df = comparisons.reset_index(drop=True)
    k = df["models"].map(len).to_numpy()
    has = {
        c: c in df.columns
        for c in ("winner", "tie", "ratings", "ranking", "annotator_id", "conversation_id", "turn", "responses")
    }
    by_ratings = decided_by_ratings(df)
    two = np.flatnonzero(k == 2)
    parts = []
    if len(two):
        sub = df.iloc[two]
        models = np.array(sub["models"].tolist(), dtype=object)
        # copies: both are filled in below, and pandas' copy-on-write hands out read-only views
        tie = sub["tie"].fillna(False).astype(bool).to_numpy(copy=True) if has["tie"] else np.zeros(len(sub), bool)
        win = (
            pd.to_numeric(sub["winner"], errors="coerce").to_numpy(dtype=float, copy=True)
            if has["winner"]
            else np.full(len(sub), np.nan)
        )
        if has["ratings"]:
            rat = sub["ratings"].to_numpy()
            # np.isnan(win): a winner pandas cannot read as 0 / 1 decides nothing, as below
            fill = by_ratings[two] & np.isnan(win) & ~tie
            for i in np.flatnonzero(fill):  # only comparisons carrying ratings but no winner
                ra, rb = float(rat[i][0]), float(rat[i][1])
                if abs(ra - rb) <= tie_threshold:
                    tie[i] = True
                else:
                    win[i] = 0 if ra > rb else 1
        outcome = np.where(tie, TIE, np.where(win == 0, A_WINS, np.where(win == 1, B_WINS, -1)))
        keep = outcome >= 0
        parts.append(
            pd.DataFrame(
                {
                    "model_a": models[keep, 0],
                    "model_b": models[keep, 1],
                    "winner": np.asarray(WINNER_LABELS, dtype=object)[outcome[keep]],
                    "_row": two[keep],
                    "_ia": 0,
                    "_ib": 1,
                }
            )
        )
    many = np.flatnonzero(k > 2)
    rows = []
    for i in many:  # k-wise judgements are rare and small
        r = df.iloc[i]
        names = list(r["models"])
        merit = None
        if by_ratings[i]:
            merit = np.asarray(r["ratings"], dtype=float)
            thr = tie_threshold
        elif has["ranking"] and isinstance(r["ranking"], (list, np.ndarray)) and len(r["ranking"]):
            merit = np.full(len(names), -np.inf)
            for pos, idx in enumerate(r["ranking"]):
                merit[int(idx)] = -pos
            thr = 0.0
        elif has["winner"] and pd.notna(r["winner"]):
            w = int(r["winner"])
            for j in range(len(names)):
                if j != w:
                    rows.append((names[w], names[j], "model_a", i, w, j))
            continue
        if merit is None:
            continue
        for a_ in range(len(names)):
            for b_ in range(a_ + 1, len(names)):
                d = merit[a_] - merit[b_]
                lab = (
                    "tie"
                    if (np.isfinite(d) and abs(d) <= thr) or (not np.isfinite(d) and merit[a_] == merit[b_])
                    else ("model_a" if d > 0 else "model_b")
                )
                rows.append((names[a_], names[b_], lab, i, a_, b_))
    if rows:
        parts.append(pd.DataFrame(rows, columns=["model_a", "model_b", "winner", "_row", "_ia", "_ib"]))
    if not parts:
        return pd.DataFrame(columns=["model_a", "model_b", "winner", "user_id", "conversation_id", "turn"])
    out = pd.concat(parts, ignore_index=True).sort_values("_row", kind="stable")
    src = df.iloc[out["_row"].to_numpy()]
    out["user_id"] = src["annotator_id"].to_numpy() if has["annotator_id"] else np.nan
    out["conversation_id"] = src["conversation_id"].to_numpy() if has["conversation_id"] else np.nan
    out["turn"] = src["turn"].to_numpy() if has["turn"] else np.nan
    if "comparison_id" in df.columns:
        out["comparison_id"] = src["comparison_id"].to_numpy()
    if has["responses"]:
        texts = src["responses"].to_numpy()

        def pick(k: np.ndarray) -> list:
            return [
                t[int(j)] if isinstance(t, (list, tuple, np.ndarray)) and int(j) < len(t) else None
                for t, j in zip(texts, k)
            ]

        out["model_response_a"] = pick(out["_ia"].to_numpy())
        out["model_response_b"] = pick(out["_ib"].to_numpy())
    if (
        has["ratings"] and src["ratings"].notna().any()
    ):  # rated comparisons (a ratings table): the scores, for mean_score and friends
        rat = src["ratings"].to_numpy()
        for side, idx in (("score_a", out["_ia"].to_numpy()), ("score_b", out["_ib"].to_numpy())):
            out[side] = [
                float(r[int(j)]) if isinstance(r, (list, np.ndarray)) and r[int(j)] is not None else np.nan
                for r, j in zip(rat, idx, strict=True)
            ]
        if "interaction_id" not in df.columns and "comparison_id" in df.columns:
            out["interaction_id"] = out["comparison_id"]
    for col in df.columns:  # covariates (language, category, participant fields) ride along
        if col not in _COMPARISON_JUDGEMENT and col not in out.columns:
            out[col] = src[col].to_numpy()
    return out.drop(columns=["_row", "_ia", "_ib"]).reset_index(drop=True)
