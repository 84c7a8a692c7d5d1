"""Group differences tested directly: contrasts between groups, omnibus tests, multiple-testing control.

:func:`~pluralis.ranking.subgroups.subgroup_rankings` asks whether a model's *rank* in a group
differs from its overall rank — a weak test (ranks are coarse, and a group is part of the whole).
This module asks the direct question: does group ``g`` score model ``m`` differently from group
``h``?

Contrasts
    For every grouping field, every pair of its groups and every model both groups rated, the
    difference ``score_g(m) - score_h(m)`` of the chosen aggregator (BT worths on the Elo scale,
    PRC scores, win rates, mean scores, style-controlled BT, ...). Its interval comes from ONE
    joint participant bootstrap: every round resamples participants once (all groups together)
    and the contrast is the difference of the per-group estimates in that round, so a field
    varying within participants (conversation type) keeps its pairing. ``interval`` picks
    percentile, BC or BCa (jackknife over participants) intervals
    (:mod:`~pluralis.ranking.intervals`); the p-value inverts the same interval (the smallest
    level whose interval excludes 0; at least ``1 / rounds``), or uses the bootstrap SE
    (``p_method="normal"``: ``z = difference / se``).
Multiple testing
    Holm (family-wise error) and Benjamini–Hochberg (false discovery rate) adjusted p-values
    over the family of all models × group pairs of one field (:func:`adjust_pvalues`, via
    :func:`statsmodels.stats.multitest.multipletests`); ``significant`` uses ``correction``.
Omnibus tests (one per field)
    ``bt_lrt``: likelihood-ratio test of Bradley–Terry with pooled worths against group-specific
    worths (chi-square, ``df = Σ_g (M_g - 1) - (M - 1)``, i.e. ``(G - 1)(M - 1)`` when every
    group rated every model). Battles are treated as independent and ties are left out
    (``ties="half"`` counts a tie as half a win each way — a quasi-likelihood). ``permutation``:
    the group labels are permuted over participants (a participant field) or among each
    participant's groups (a field varying within participants, e.g. conversation type) and the
    between-group spread of the chosen aggregator's scores, ``Σ_g n_g Σ_m (s_gm - s̄_m)²`` over
    the models every group rated (``n_g`` participants), is recomputed; ``p = (1 + #{T* >= T}) /
    (1 + permutations)``. The permutation test keeps each participant's battles together, so it
    stays valid when people contribute many correlated battles — the LRT does not.

Example
-------
>>> rng = np.random.default_rng(0)
>>> rows = []
>>> for k in range(80):   # women prefer x over y; men are indifferent
...     g = "Female" if k % 2 else "Male"
...     p_x = 0.85 if g == "Female" else 0.5
...     rows += [("x", "y", "model_a" if rng.random() < p_x else "model_b", f"u{k}", g) for _ in range(6)]
>>> b = pd.DataFrame(rows, columns=["model_a", "model_b", "winner", "user_id", "gender"])
>>> res = group_contrasts(b, "gender", method="win_rate", rounds=200, min_participants=5, permutations=200)
>>> c = res.contrasts.set_index("model")
>>> bool(c.loc["x", "difference"] > 0.2), bool(c.loc["x", "significant"])
(True, True)
>>> res.omnibus[["test", "df"]].values.tolist()
[['bt_lrt', 1], ['permutation', <NA>]]
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy.special import ndtr, ndtri
from scipy.stats import chi2

from pluralis.errors import ConfigError, DataValidationError
from pluralis.ranking.battles import TIE, BattleArrays, encode_battles, ratings_from_battles
from pluralis.ranking.engine import battle_covariates
from pluralis.ranking.intervals import acceleration, bias_correction, bootstrap_interval, check_interval
from pluralis.ranking.methods.bt import bt_from_counts
from pluralis.ranking.registry import Aggregator, aggregators, get_aggregator
from pluralis.ranking.resample import checked_participant_weights, cluster_weights, rescale_rounds
from pluralis.ranking.subgroups import attach_fields, group_label, group_slots, labelled_warnings
from pluralis.ranking.uncertainty import Tournament, battle_scores, jackknife_blocks

__all__ = [
    "CONTRAST_COLUMNS",
    "CORRECTIONS",
    "GROUP_COLUMNS",
    "OMNIBUS_COLUMNS",
    "SUMMARY_COLUMNS",
    "ContrastResult",
    "GroupCells",
    "adjust_pvalues",
    "most_certain_first",
    "bt_lrt",
    "group_contrasts",
    "permutation_test",
]

#: Multiple-testing corrections: our name -> statsmodels' ``multipletests`` method.
CORRECTIONS: dict[str, str] = {"holm": "holm", "bh": "fdr_bh", "none": ""}


# --- multiple testing ---------------------------------------------------------------------------


def adjust_pvalues(p: Any, method: str = "holm") -> np.ndarray:
    """Adjusted p-values of one family of tests (NaN p-values are left out and stay NaN).

    Parameters
    ----------
    p
        raw p-values.
    method
        ``"holm"`` (family-wise error rate), ``"bh"`` (Benjamini–Hochberg false discovery rate)
        or ``"none"``.

    Returns
    -------
    numpy.ndarray
        adjusted p-values (:func:`statsmodels.stats.multitest.multipletests`).

    Example
    -------
    >>> adjust_pvalues([0.01, 0.04, 0.03], "holm").round(3).tolist()
    [0.03, 0.06, 0.06]
    >>> adjust_pvalues([0.01, 0.04, 0.03], "bh").round(3).tolist()
    [0.03, 0.04, 0.04]
    """
    from statsmodels.stats.multitest import multipletests

    key = str(method).lower()
    if key not in CORRECTIONS:
        raise ConfigError(f"correction must be one of {', '.join(CORRECTIONS)}; got {method!r}")
    x = np.asarray(p, dtype=float)
    out = np.full(x.shape, np.nan)
    ok = ~np.isnan(x)
    if key == "none":
        out[ok] = x[ok]
    elif ok.any():
        out[ok] = multipletests(x[ok], method=CORRECTIONS[key])[1]
    return out


def _interval_pvalue(
    samples: np.ndarray, estimate: np.ndarray, method: str, jackknife: np.ndarray | None
) -> np.ndarray:
    """Two-sided p-value of "difference = 0" by inverting the (percentile / BC / BCa) interval.

    With ``F`` the share of draws below 0 (ties half), the interval of level ``1 - p`` has 0 at
    its edge: percentile ``p = 2 min(F, 1 - F)``; BC/BCa map ``F`` back through
    ``Φ(z0 + u / (1 - a u))``. When every draw lies on one side of 0 (or 0 is beyond what the BCa
    map reaches), no interval contains 0 and ``p`` is its floor ``1 / R``.
    """
    x = np.asarray(samples, dtype=float)
    ok = ~np.isnan(x)
    R = ok.sum(axis=0)
    floor = 1.0 / np.maximum(R, 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        raw = (((x < 0) & ok).sum(axis=0) + 0.5 * ((x == 0) & ok).sum(axis=0)) / R
        one_sided = (raw == 0) | (raw == 1)  # every draw on one side: 0 is outside every interval
        F = np.clip(raw, 0.5 * floor, 1 - 0.5 * floor)
        if method == "percentile":
            alpha = F
        else:
            z0 = bias_correction(x, estimate)
            z0 = np.clip(np.nan_to_num(z0, posinf=8.0, neginf=-8.0), -8.0, 8.0)
            a = np.zeros_like(z0)
            if method == "bca" and jackknife is not None:
                a = acceleration(jackknife)
            w = ndtri(F) - z0
            den = 1.0 + a * w
            u = w / np.where(den > 0, den, 1.0)
            # beyond the range the BCa map reaches: no interval level puts 0 inside
            alpha = np.where(den > 0, ndtr(u - z0), np.where(w < 0, 0.0, 1.0))
        p = 2.0 * np.minimum(alpha, 1.0 - alpha)
        p = np.where(one_sided, floor, np.maximum(p, floor))
    return np.where(R > 0, np.clip(p, 0.0, 1.0), np.nan)


# --- cells: the sufficient statistics of (participant, group) ------------------------------------


class GroupCells:
    """Battles (or rated responses) of one grouping split into cells, one per (participant, group).

    Every per-group estimate under any participant resampling or relabelling is a function of
    cell weights ``W`` ``(R, cells)``: a bootstrap round gives each cell its participant's
    multiplicity, group ``g``'s estimate keeps the cells of ``g``; a permutation moves cells
    between groups; a jackknife drops one participant's cells. Pair aggregators keep per-cell
    category counts (a sparse ``cells x categories`` matrix), score means per-cell sums and
    counts per model, battle aggregators (style control) the cell of every battle.

    Parameters
    ----------
    frame
        battle frame with the grouping column.
    column
        the grouping column; rows with a value outside ``values`` are left out.
    values
        the groups, in order.
    method, options
        the aggregator (not order-based) and its options.
    participant_weights
        weights by ``user_id`` (Series), or None.
    missing_weights
        ``"raise"`` or ``"zero"`` for participants without a weight.

    Example
    -------
    >>> b = pd.DataFrame({"model_a": ["x", "x", "y"], "model_b": ["y", "y", "x"], "winner": ["model_a"] * 3,
    ...                   "user_id": ["u1", "u2", "u2"], "g": ["p", "q", "q"]})
    >>> cells = GroupCells(b, "g", ["p", "q"], "win_rate")
    >>> cells.n_cells, cells.cell_group.tolist()
    (2, [0, 1])
    >>> cells.scores(cells.membership()).round(2).tolist()   # p: x won its battle; q: one win each
    [[1.0, 0.0], [0.5, 0.5]]
    """

    def __init__(
        self,
        frame: pd.DataFrame,
        column: str,
        values: Sequence[Any],
        method: str | Aggregator,
        options: dict | None = None,
        *,
        participant_weights: pd.Series | None = None,
        missing_weights: str = "raise",
    ):
        agg = get_aggregator(method)
        if agg.kind == "sequence":
            pair_methods = ", ".join(a.name for a in aggregators("pairs"))
            raise ConfigError(
                f"{agg.label} ({agg.name!r}) depends on battle order: no group contrasts; use {pair_methods}"
            )
        if "user_id" not in frame.columns or frame["user_id"].isna().all():
            raise ConfigError("group contrasts resample participants: the battles need a user_id column")
        self.agg = agg
        self.column = column
        self.options = dict(options or {})
        self.values = list(values)
        lookup = {v: k for k, v in enumerate(self.values)}
        keep = frame[column].map(lookup).notna().to_numpy()
        self.frame = frame.loc[keep].reset_index(drop=True)
        self.arrays = encode_battles(self.frame)
        self.models = self.arrays.models
        self.n_models = self.arrays.n_models
        if self.arrays.n_battles == 0:
            raise DataValidationError("no battles in the groups compared")
        pw = checked_participant_weights(agg, self.arrays, participant_weights, missing_weights)
        self.pw = pw
        G = self.arrays.n_clusters
        self.n_participants = G
        group_of_battle = self.frame[column].map(lookup).to_numpy(dtype=np.int64)
        cl = self.arrays.cluster
        assert cl is not None
        if agg.kind == "ratings":
            r = ratings_from_battles(self.frame, carry=[column])
            col = str(agg.rating_column)
            if col not in r.columns:
                raise ConfigError(f"ratings lack the column {col!r} needed by {agg.name!r}")
            model = pd.Index(self.models).get_indexer(pd.Index(r["model_name"]))
            vals = r[col].to_numpy(dtype=float)
            ok = (model >= 0) & ~np.isnan(vals)
            r, model, vals = r[ok], model[ok], vals[ok]
            unit_cl = pd.Index(list(self.arrays.clusters or ())).get_indexer(pd.Index(r["user_id"]))
            unit_g = r[column].map(lookup).to_numpy(dtype=np.int64)
        else:
            unit_cl, unit_g = cl, group_of_battle
        code = unit_cl * len(self.values) + unit_g
        cells, cell_of = np.unique(code, return_inverse=True)
        cell_of = cell_of.reshape(-1)
        self.cell_of = cell_of
        self.cell_participant = (cells // len(self.values)).astype(np.int64)
        self.cell_group = (cells % len(self.values)).astype(np.int64)
        self.n_cells = len(cells)
        C, n = self.n_cells, self.n_models
        cw = np.ones(C) if pw is None else pw[self.cell_participant]
        self.cell_weight = cw
        if agg.kind == "pairs":
            self.tournament = Tournament(self.arrays)
            K = self.tournament.table.n_categories
            self.cell_counts = sp.csr_matrix((np.ones(len(cell_of)), (cell_of, self.tournament.category)), shape=(C, K))
            present = np.zeros((C, n), dtype=bool)
            present[cell_of, self.arrays.a] = True
            present[cell_of, self.arrays.b] = True
        elif agg.kind == "ratings":
            self.sums = sp.csr_matrix((vals, (cell_of, model)), shape=(C, n))
            self.nums = sp.csr_matrix((np.ones(len(vals)), (cell_of, model)), shape=(C, n))
            present = np.asarray(self.nums.toarray() > 0)
        else:
            self.covariates = battle_covariates(agg, self.frame)
            present = np.zeros((C, n), dtype=bool)
            present[cell_of, self.arrays.a] = True
            present[cell_of, self.arrays.b] = True
        self.cell_present = present

    # weights ------------------------------------------------------------------------------------
    def membership(self, labels: np.ndarray | None = None) -> np.ndarray:
        """``(G_groups, cells)`` 0/1 weights: the cells of each group (``labels`` default the data's).

        Example
        -------
        >>> b = pd.DataFrame({"model_a": ["x", "y"], "model_b": ["y", "x"], "winner": ["model_a"] * 2,
        ...                   "user_id": ["u1", "u2"], "g": ["p", "q"]})
        >>> GroupCells(b, "g", ["p", "q"], "prc").membership().tolist()
        [[1.0, 0.0], [0.0, 1.0]]
        """
        lab = self.cell_group if labels is None else np.asarray(labels)
        return (lab[None, :] == np.arange(len(self.values))[:, None]).astype(float)

    def present(self, group: int, labels: np.ndarray | None = None) -> np.ndarray:
        """Boolean mask of the models rated in ``group``.

        Example
        -------
        >>> b = pd.DataFrame({"model_a": ["x", "x"], "model_b": ["y", "z"], "winner": ["model_a"] * 2,
        ...                   "user_id": ["u1", "u2"], "g": ["p", "q"]})
        >>> GroupCells(b, "g", ["p", "q"], "prc").present(0).tolist()
        [True, True, False]
        """
        lab = self.cell_group if labels is None else np.asarray(labels)
        return self.cell_present[lab == group].any(axis=0)

    # scoring ------------------------------------------------------------------------------------
    def scores(self, W: np.ndarray, present: np.ndarray | None = None) -> np.ndarray:
        """Scores ``(R, n)`` for cell weights ``W`` ``(R, cells)`` (NaN for models not in ``present``).

        Example
        -------
        >>> b = pd.DataFrame({"model_a": ["x", "x"], "model_b": ["y", "y"], "winner": ["model_a", "model_b"],
        ...                   "user_id": ["u1", "u2"], "g": ["p", "p"]})
        >>> cells = GroupCells(b, "g", ["p"], "win_rate")
        >>> cells.scores(np.array([[1.0, 1.0], [2.0, 0.0]])).tolist()
        [[0.5, 0.5], [1.0, 0.0]]
        """
        W = np.atleast_2d(np.asarray(W, dtype=float))
        n = self.n_models
        pres = np.ones(n, dtype=bool) if present is None else np.asarray(present, dtype=bool)
        out = np.full((W.shape[0], n), np.nan)
        if not pres.any():
            return out
        agg = self.agg
        if agg.kind == "pairs":
            raw = np.asarray((self.cell_counts.T @ W.T).T)
            counts = raw
            if self.pw is not None:
                counts = rescale_rounds(np.asarray((self.cell_counts.T @ (W * self.cell_weight).T).T), raw.sum(axis=1))
            out[:, pres] = self.tournament.score_counts(counts, agg, self.options, pres)
        elif agg.kind == "ratings":
            Wc = W * self.cell_weight
            with np.errstate(invalid="ignore", divide="ignore"):
                means = np.asarray((self.sums.T @ Wc.T).T) / np.asarray((self.nums.T @ Wc.T).T)
            out[:, pres] = means[:, pres]
        else:
            bw = W[:, self.cell_of]
            out[:, pres] = battle_scores(self.arrays, self.frame, agg, bw, self.options, self.pw, pres, self.covariates)
        return out

    def group_scores(self, W: np.ndarray, labels: np.ndarray | None = None, label: str = "") -> np.ndarray:
        """Scores of every group ``(G_groups, R, n)`` for cell multiplicities ``W`` ``(R, cells)``.

        Example
        -------
        >>> b = pd.DataFrame({"model_a": ["x", "x"], "model_b": ["y", "y"], "winner": ["model_a", "model_b"],
        ...                   "user_id": ["u1", "u2"], "g": ["p", "q"]})
        >>> GroupCells(b, "g", ["p", "q"], "win_rate").group_scores(np.ones((1, 2)))[:, 0].tolist()
        [[1.0, 0.0], [0.0, 1.0]]
        """
        W = np.atleast_2d(np.asarray(W, dtype=float))
        M = self.membership(labels)
        out = np.empty((len(self.values), W.shape[0], self.n_models))
        for g in range(len(self.values)):
            with labelled_warnings(label or group_label(self.column, self.values[g])):
                out[g] = self.scores(W * M[g], self.present(g, labels))
        return out

    def jackknife(self, seed: int | None = 0) -> np.ndarray:
        """Leave-one-participant-out scores of every group ``(G_groups, J, n)`` (blocks beyond
        :data:`~pluralis.ranking.uncertainty.JACKKNIFE_MAX_UNITS` participants).

        Only a left-out participant's own groups change; the others keep the full estimate.

        Example
        -------
        >>> b = pd.DataFrame({"model_a": ["x"] * 3, "model_b": ["y"] * 3, "winner": ["model_a", "model_a", "model_b"],
        ...                   "user_id": ["u1", "u2", "u3"], "g": ["p"] * 3})
        >>> GroupCells(b, "g", ["p"], "win_rate").jackknife()[0, :, 0].tolist()
        [0.5, 0.5, 1.0]
        """
        block = jackknife_blocks(self.n_participants, seed)
        J = int(block.max()) + 1
        cell_block = block[self.cell_participant]
        M = self.membership()
        out = np.empty((len(self.values), J, self.n_models))
        for g in range(len(self.values)):
            full = self.scores(M[g][None, :], self.present(g))[0]
            out[g] = full
            touched = np.unique(cell_block[self.cell_group == g])
            if len(touched) == 0:
                continue
            W = np.repeat(M[g][None, :], len(touched), axis=0)
            W[cell_block[None, :] == touched[:, None]] = 0.0
            with labelled_warnings(group_label(self.column, self.values[g])):
                out[g, touched] = self.scores(W, self.present(g))
        return out


# --- omnibus tests --------------------------------------------------------------------------------


def _bt_loglik(wins: np.ndarray, ties: np.ndarray, ratings: np.ndarray, ties_mode: str) -> np.ndarray:
    """Bradley–Terry log-likelihood ``Σ y_ij log σ(β_i - β_j)`` of counts ``(..., n, n)``."""
    y = wins + (0.5 * ties if ties_mode == "half" else 0.0)
    beta = (ratings - 1000.0) / 400.0 * np.log(10.0)
    d = beta[..., :, None] - beta[..., None, :]
    return (y * -np.logaddexp(0.0, -d)).sum(axis=(-1, -2))


def bt_lrt(
    arrays: BattleArrays,
    groups: np.ndarray,
    *,
    ties: Literal["exclude", "half"] = "exclude",
) -> dict[str, Any]:
    """Likelihood-ratio test: one set of Bradley–Terry worths for all groups vs one per group.

    Parameters
    ----------
    arrays
        encoded battles.
    groups
        group code of every battle (``-1``: left out).
    ties
        ``"exclude"`` (a binomial likelihood of the decisive battles) or ``"half"`` (a tie is half
        a win each way: a quasi-likelihood).

    Returns
    -------
    dict
        ``statistic`` (``2 (ℓ_groups - ℓ_pooled)``), ``df`` (``Σ_g (M_g - 1) - (M - 1)``, with
        ``M_g`` the models in group ``g``'s battles), ``p_value`` (chi-square), ``loglik_pooled``,
        ``loglik_groups``, ``n_battles`` and ``separated``: True when some maximum-likelihood
        worth is infinite (a model won or lost all its battles in a group, or overall); the
        log-likelihood is then its supremum and the chi-square approximation is rough.

    Example
    -------
    >>> arr = BattleArrays.from_lists(["x", "y"], [0] * 40, [1] * 40, [0] * 18 + [1] * 2 + [0] * 10 + [1] * 10)
    >>> g = np.repeat([0, 1], 20)          # group 0: x wins 18/20; group 1: x wins 10/20
    >>> out = bt_lrt(arr, g)
    >>> round(out["statistic"], 2), out["df"], round(out["p_value"], 4), out["separated"]
    (8.14, 1, 0.0043, False)
    """
    if ties not in ("exclude", "half"):
        raise ConfigError(f"ties must be 'exclude' or 'half', got {ties!r}")
    g = np.asarray(groups, dtype=np.int64)
    keep = g >= 0
    if ties == "exclude":
        keep &= arrays.outcome != TIE
    arr = arrays.take(np.flatnonzero(keep))
    g = g[keep]
    n = arr.n_models
    G = int(g.max()) + 1 if len(g) else 0
    code = g * n * n
    winner = np.where(arr.outcome == 1, arr.b, arr.a)
    loser = np.where(arr.outcome == 1, arr.a, arr.b)
    dec = arr.outcome != TIE
    wins = np.bincount((code + winner * n + loser)[dec], minlength=G * n * n).reshape(G, n, n).astype(float)
    t = np.bincount((code + arr.a * n + arr.b)[~dec], minlength=G * n * n).reshape(G, n, n).astype(float)
    tie = t + np.swapaxes(t, -1, -2)
    played = (wins + np.swapaxes(wins, -1, -2) + tie) > 0
    present = played.any(axis=-1)
    M_g = present.sum(axis=1)
    M = int(played.any(axis=0).any(axis=-1).sum())
    df = int(np.maximum(M_g - 1, 0).sum() - max(M - 1, 0))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        pooled = bt_from_counts(wins.sum(axis=0), tie.sum(axis=0), penalty=None, max_iter=200)
        per = bt_from_counts(wins, tie, penalty=None, max_iter=200)
    separated = any("did not converge" in str(w.message) for w in caught)
    ll0 = float(_bt_loglik(wins.sum(axis=0), tie.sum(axis=0), pooled, ties))
    ll1 = float(_bt_loglik(wins, tie, per, ties).sum())
    stat = max(0.0, 2.0 * (ll1 - ll0))
    p = float(chi2.sf(stat, df)) if df > 0 else np.nan
    return {
        "statistic": stat,
        "df": df,
        "p_value": p,
        "loglik_pooled": ll0,
        "loglik_groups": ll1,
        "n_battles": int(len(g)),
        "separated": separated,
    }


def _spread(scores: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    """``Σ_g n_g Σ_m (s_gm - s̄_m)²`` over the models every group scored; scores ``(G, R, n)``."""
    common = ~np.isnan(scores).any(axis=(0, 1))
    s = scores[:, :, common]
    w = np.asarray(sizes, dtype=float)[:, None, None]
    mean = (w * s).sum(axis=0) / w.sum()
    return (w * (s - mean) ** 2).sum(axis=(0, 2))


def _permuted_labels(cells: GroupCells, n_perm: int, rng: np.random.Generator) -> np.ndarray:
    """``(n_perm, cells)`` permuted group labels: over participants, or within each participant."""
    per_participant = np.bincount(cells.cell_participant, minlength=cells.n_participants)
    if (per_participant <= 1).all():  # a participant field: shuffle the participants' labels
        order = np.argsort(cells.cell_participant)
        base = cells.cell_group[order]
        keys = rng.random((n_perm, len(base)))
        perm = np.argsort(keys, axis=1)
        out = np.empty((n_perm, cells.n_cells), dtype=np.int64)
        out[:, order] = base[perm]
        return out
    # varies within participants: shuffle the labels among each participant's cells
    keys = rng.random((n_perm, cells.n_cells)) + cells.cell_participant[None, :]
    order = np.argsort(keys, axis=1)  # cells of one participant stay within its block, shuffled
    base_order = np.argsort(cells.cell_participant, kind="stable")
    out = np.empty((n_perm, cells.n_cells), dtype=np.int64)
    rows = np.arange(n_perm)[:, None]
    out[rows, base_order[None, :]] = cells.cell_group[order]
    return out


def permutation_test(cells: GroupCells, *, permutations: int = 1000, seed: int | None = 0) -> dict[str, Any]:
    """Permutation test of "no group differences" for any (not order-based) aggregator.

    Parameters
    ----------
    cells
        the grouping's cells (:class:`GroupCells`).
    permutations
        number of relabellings.
    seed
        RNG seed.

    Returns
    -------
    dict
        ``statistic`` (the spread ``Σ_g n_g Σ_m (s_gm - s̄_m)²``), ``p_value``,
        ``permutations``, ``scheme`` (``"participants"`` or ``"within participants"``).

    Example
    -------
    >>> b = pd.DataFrame({"model_a": ["x"] * 40, "model_b": ["y"] * 40, "user_id": [f"u{k}" for k in range(40)],
    ...                   "winner": ["model_a"] * 20 + ["model_b"] * 20, "g": ["p"] * 20 + ["q"] * 20})
    >>> out = permutation_test(GroupCells(b, "g", ["p", "q"], "win_rate"), permutations=200)
    >>> out["p_value"] < 0.01, out["scheme"]
    (True, 'participants')
    """
    G = len(cells.values)
    sizes = np.bincount(cells.cell_group, minlength=G).astype(float)  # kept by every relabelling
    ones = np.ones((1, cells.n_cells))
    observed = float(_spread(cells.group_scores(ones), sizes)[0])
    rng = np.random.default_rng(seed)
    labels = _permuted_labels(cells, permutations, rng)
    within = bool((np.bincount(cells.cell_participant) > 1).any())
    stats = np.empty(permutations)
    # models each group rated under each relabelling; when they are the observed ones (the usual
    # case), all relabellings of a chunk are scored in one batched call per group
    present = np.stack([_present_per_perm(cells, labels, g) for g in range(G)])  # (G, P, n)
    observed_present = np.stack([cells.present(g) for g in range(G)])
    same = (present == observed_present[:, None, :]).all(axis=(0, 2))
    step = 200
    for s in range(0, permutations, step):
        idx = np.arange(s, min(s + step, permutations))
        scores = np.empty((G, len(idx), cells.n_models))
        batch = idx[same[idx]]
        if len(batch):
            for g in range(G):
                W = (labels[batch] == g).astype(float)
                with labelled_warnings(group_label(cells.column, cells.values[g])):
                    scores[g, same[idx]] = cells.scores(W, observed_present[g])
        for k in np.flatnonzero(~same[idx]):  # rare: a relabelling changes which models a group rated
            scores[:, k] = cells.group_scores(ones, labels[idx[k]])[:, 0]
        stats[idx] = _spread(scores, sizes)
    p = (1.0 + float((stats >= observed - 1e-12 * abs(observed)).sum())) / (1.0 + permutations)
    return {
        "statistic": observed,
        "p_value": p,
        "permutations": permutations,
        "scheme": "within participants" if within else "participants",
    }


def _present_per_perm(cells: GroupCells, labels: np.ndarray, group: int) -> np.ndarray:
    """``(P, n)`` models rated by ``group`` under each relabelling ``labels`` ``(P, cells)``."""
    member = sp.csr_matrix((labels == group).astype(float))
    return np.asarray((member @ sp.csr_matrix(cells.cell_present.astype(float))).toarray() > 0)


# --- the analysis -----------------------------------------------------------------------------------


@dataclass
class ContrastResult:
    """Group contrasts, per-group estimates and omnibus tests (see :func:`group_contrasts`).

    ``contrasts``: one row per (field, group pair, model); ``groups``: one row per (field, group,
    model) with the estimate and interval from the same bootstrap; ``omnibus``: one row per
    (field, test); ``draws``: the bootstrap draws ``(R, n_models)`` per (field, group), NaN for
    models the group did not rate.

    Example
    -------
    >>> r = ContrastResult(pd.DataFrame({"by": ["g"], "significant": [True]}), pd.DataFrame(), pd.DataFrame())
    >>> len(r.significant())
    1
    """

    contrasts: pd.DataFrame
    groups: pd.DataFrame
    omnibus: pd.DataFrame
    draws: dict[tuple[str, Any], np.ndarray] = field(default_factory=dict)
    skipped: dict[tuple[str, Any], str] = field(default_factory=dict)
    models: tuple[str, ...] = ()

    def significant(self) -> pd.DataFrame:
        """The contrasts significant after the multiple-testing correction (see the class example)."""
        return self.contrasts[self.contrasts["significant"].fillna(False).astype(bool)]

    def summary(self) -> pd.DataFrame:
        """One row per grouping field: the omnibus p-values, how many contrasts are significant, the largest.

        Columns :data:`SUMMARY_COLUMNS`: ``by, n_groups, n_contrasts, n_significant, lrt_p,
        permutation_p, top_group, top_other, top_model, top_difference, top_lo, top_hi, top_p``
        (the "top" contrast is the one with the smallest p-value; ties by absolute difference).

        Example
        -------
        >>> c = pd.DataFrame({"by": ["g", "g"], "group": ["p", "p"], "other": ["q", "q"], "model": ["x", "y"],
        ...     "difference": [0.3, -0.1], "lo": [0.1, -0.3], "hi": [0.5, 0.1], "p_value": [0.01, 0.4],
        ...     "p_holm": [0.02, 0.4], "significant": [True, False]})
        >>> o = pd.DataFrame({"by": ["g", "g"], "test": ["bt_lrt", "permutation"], "p_value": [0.003, 0.01],
        ...     "n_groups": [2, 2]})
        >>> ContrastResult(c, pd.DataFrame(), o).summary()[["by", "n_significant", "lrt_p", "top_model"]].values.tolist()
        [['g', 1, 0.003, 'x']]
        """
        rows = []
        c, o = self.contrasts, self.omnibus
        fields = list(dict.fromkeys(list(c["by"]) + list(o["by"]))) if len(c) or len(o) else []
        for f in fields:
            sub = c[c["by"] == f]
            tests = o[o["by"] == f].set_index("test") if len(o) else pd.DataFrame()
            row: dict[str, Any] = {
                "by": f,
                "n_groups": int(tests["n_groups"].iloc[0])
                if len(tests)
                else int(pd.concat([sub["group"], sub["other"]]).nunique()),
                "n_contrasts": len(sub),
                "n_significant": int(sub["significant"].fillna(False).astype(bool).sum()),
                "lrt_p": _p_of(tests, "bt_lrt"),
                "permutation_p": _p_of(tests, "permutation"),
            }
            if len(sub):
                top = most_certain_first(sub).iloc[0]
                row.update(
                    {
                        "top_group": top["group"],
                        "top_other": top["other"],
                        "top_model": top["model"],
                        "top_difference": float(top["difference"]),
                        "top_lo": float(top["lo"]),
                        "top_hi": float(top["hi"]),
                        "top_p": float(top["p_value"]),
                    }
                )
            rows.append(row)
        return pd.DataFrame(rows, columns=SUMMARY_COLUMNS)

    def to_dict(self, max_contrasts: int = 50) -> dict[str, Any]:
        """JSON-ready: ``summary`` rows, ``significant`` contrast rows (at most ``max_contrasts``), settings.

        For panels (the admin dashboard) that render records rather than DataFrames; NaN becomes None.

        Example
        -------
        >>> r = ContrastResult(pd.DataFrame(columns=CONTRAST_COLUMNS), pd.DataFrame(), pd.DataFrame(columns=OMNIBUS_COLUMNS))
        >>> r.to_dict()["summary"], r.to_dict()["significant"]
        ([], [])
        """

        def records(frame: pd.DataFrame) -> list[dict]:
            clean = frame.astype(object).where(frame.notna(), None)
            return [
                {k: (v.item() if hasattr(v, "item") else v) for k, v in r.items()} for r in clean.to_dict("records")
            ]

        return {
            "summary": records(self.summary()),
            "significant": records(self.significant().head(max_contrasts)),
            "settings": {k: v for k, v in self.contrasts.attrs.items()},
        }


def most_certain_first(contrasts: pd.DataFrame) -> pd.DataFrame:
    """Contrasts ordered smallest p-value first, ties by the larger absolute difference.

    The order the summary's "top" contrast, the dashboard and :func:`pluralis.ranking.plots.plot_contrasts`
    use.

    Parameters
    ----------
    contrasts
        :attr:`ContrastResult.contrasts` (or a subset).

    Returns
    -------
    pandas.DataFrame
        The same rows, reordered.

    Example
    -------
    >>> c = pd.DataFrame({"model": ["x", "y", "z"], "p_value": [0.5, 0.01, 0.01], "difference": [1.0, 0.1, -0.3]})
    >>> most_certain_first(c)["model"].tolist()
    ['z', 'y', 'x']
    """
    order = np.lexsort(
        (-contrasts["difference"].abs().to_numpy(dtype=float), contrasts["p_value"].to_numpy(dtype=float))
    )
    return contrasts.iloc[order]


def _p_of(tests: pd.DataFrame, name: str) -> float:
    """The p-value of omnibus test ``name`` (NaN when it was not run)."""
    if name not in tests.index:
        return float("nan")
    return float(pd.to_numeric(pd.Series([tests.loc[name, "p_value"]])).iloc[0])


CONTRAST_COLUMNS = [
    "by",
    "group",
    "other",
    "model",
    "score_group",
    "score_other",
    "difference",
    "lo",
    "hi",
    "se",
    "p_value",
    "p_holm",
    "p_bh",
    "significant",
    "n_participants_group",
    "n_participants_other",
]
GROUP_COLUMNS = ["by", "group", "model", "n_participants", "score", "lo", "hi", "se"]
SUMMARY_COLUMNS = [
    "by",
    "n_groups",
    "n_contrasts",
    "n_significant",
    "lrt_p",
    "permutation_p",
    "top_group",
    "top_other",
    "top_model",
    "top_difference",
    "top_lo",
    "top_hi",
    "top_p",
]
OMNIBUS_COLUMNS = ["by", "test", "statistic", "df", "p_value", "n_groups", "n_models", "n_battles", "note"]


def group_contrasts(
    battles: pd.DataFrame,
    by: str | tuple[str, ...] | Sequence[str | tuple[str, ...]],
    *,
    survey: pd.DataFrame | None = None,
    conversations: pd.DataFrame | None = None,
    method: str | Aggregator = "bt",
    rounds: int = 1000,
    level: float = 0.95,
    interval: str = "bca",
    seed: int | None = 0,
    target: Literal["population", "estimator"] = "population",
    min_participants: int = 20,
    exclude: Sequence[Any] = (),
    groups: Sequence[Any] | None = None,
    reference: Any = None,
    correction: str = "holm",
    p_method: Literal["interval", "normal"] = "interval",
    permutations: int = 1000,
    lrt: bool = True,
    lrt_ties: Literal["exclude", "half"] = "exclude",
    weights: pd.Series | None = None,
    missing_weights: str = "raise",
    **options: Any,
) -> ContrastResult:
    """Group-vs-group contrasts of every model's score with joint-bootstrap intervals, and omnibus tests.

    Parameters
    ----------
    battles
        battle frame (:func:`~pluralis.ranking.battles.extract_battles`), with ``user_id``.
    by
        field name(s) as :func:`~pluralis.ranking.subgroups.subgroup_rankings` (a tuple is an
        intersection); each field is one family of tests.
    survey, conversations
        frames to take participant / conversation fields from.
    method, options
        the aggregator (any registered one that is not order-based) and its options. BT worths
        are centred per group (or pinned by ``anchor``), so a BT contrast compares a model's
        rating *relative to that group's average model*; PRC scores likewise sum to 1 per group.
    rounds, level, interval, seed
        the joint participant bootstrap: rounds, interval level, ``"percentile"``, ``"bc"`` or
        ``"bca"`` (jackknife over participants), seed.
    target
        ``"population"`` (default): an aggregator whose prior biases its estimates (PRC's
        ``alpha``; :attr:`~pluralis.ranking.registry.Aggregator.unregularised`) is fitted without
        it for the contrasts. The prior shrinks a small group's scores more than a large
        group's, so with it a contrast between groups of different sizes is biased even when
        they agree (in simulation: the bottom model "differed" in 9 of 10 null studies of 40 vs
        200 participants at α = 1, 1 of 10 without the prior). ``"estimator"`` keeps the
        options as given (for groups too sparse for the prior-free fit).
    min_participants, exclude, groups
        which groups enter (as :func:`~pluralis.ranking.subgroups.subgroup_rankings`).
    reference
        compare every group with this one only (default: all pairs of groups).
    correction
        ``"holm"`` (default), ``"bh"`` or ``"none"``: decides ``significant`` (adjusted p below
        ``1 - level``); both adjusted columns are always reported.
    p_method
        ``"interval"`` (invert the bootstrap interval; resolution ``1 / rounds``) or ``"normal"``
        (``2 Φ(-|difference| / se)``).
    permutations
        relabellings for the permutation omnibus test (0: skip it).
    lrt, lrt_ties
        run the Bradley–Terry likelihood-ratio omnibus test; how it treats ties.
    weights, missing_weights
        participant weights (weighted estimates; resampled participants carry them).

    Returns
    -------
    ContrastResult
        ``contrasts`` (columns :data:`CONTRAST_COLUMNS`: ``difference = score_group -
        score_other``), ``groups`` (:data:`GROUP_COLUMNS`), ``omnibus``
        (:data:`OMNIBUS_COLUMNS`) and the draws.

    See Also
    --------
    pluralis.ranking.subgroups.subgroup_rankings : rank shifts against the overall ranking.
    adjust_pvalues, bt_lrt, permutation_test

    Example
    -------
    >>> b = pd.DataFrame({"model_a": ["x", "y"] * 30, "model_b": ["y", "x"] * 30,
    ...     "winner": ["model_a", "model_b"] * 15 + ["model_a", "model_a"] * 15,
    ...     "user_id": [f"u{k // 2}" for k in range(60)], "g": ["p"] * 30 + ["q"] * 30})
    >>> res = group_contrasts(b, "g", method="win_rate", rounds=100, min_participants=5, permutations=0)
    >>> res.contrasts[["group", "other", "model", "difference"]].round(2).values.tolist()
    [['p', 'q', 'x', 0.5], ['p', 'q', 'y', -0.5]]
    """
    agg = get_aggregator(method)
    interval = check_interval(interval)
    if not 0 < level < 1:
        raise ConfigError(f"level must be in (0, 1), got {level!r}")
    if rounds < 2:
        raise ConfigError("group contrasts need at least 2 bootstrap rounds")
    if p_method not in ("interval", "normal"):
        raise ConfigError(f"p_method must be 'interval' or 'normal', got {p_method!r}")
    key = str(correction).lower()
    if key not in CORRECTIONS:
        raise ConfigError(f"correction must be one of {', '.join(CORRECTIONS)}; got {correction!r}")
    fields: list[str | tuple[str, ...]] = [by] if isinstance(by, (str, tuple)) else list(by)
    if not fields:
        raise ConfigError("give at least one field to compare groups by")
    frame, names = attach_fields(battles, fields, survey=survey, conversations=conversations)
    if "user_id" not in frame.columns or frame["user_id"].isna().all():
        raise ConfigError("group contrasts resample participants: the battles need a user_id column")
    arrays = encode_battles(frame)
    if arrays.n_battles == 0:
        raise DataValidationError("no battles to compare (need at least two rated responses to the same prompt)")
    pw_all = checked_participant_weights(agg, arrays, weights, missing_weights)
    if target not in ("population", "estimator"):
        raise ConfigError(f"target must be 'population' or 'estimator', got {target!r}")
    free = agg.unregularised_options(options) if target == "population" else None
    fit_options = dict(options) if free is None else free
    slots, skipped = group_slots(
        frame,
        names,
        arrays,
        min_participants=min_participants,
        exclude=exclude,
        groups=groups,
        participant_weights=pw_all,
    )
    rng = np.random.default_rng(seed)
    mult_all = cluster_weights(rng, rounds, arrays.n_clusters)  # ONE resample of participants for all
    participants = pd.Index(list(arrays.clusters or ()))
    contrast_frames, group_frames, omnibus_rows = [], [], []
    all_draws: dict[tuple[str, Any], np.ndarray] = {}
    alpha_level = 1.0 - level
    for col in names:
        values = [v for c, v, _ in slots if c == col]
        if len(values) < 2:
            if values:
                skipped.setdefault((col, "(all)"), "fewer than two groups to compare")
            continue
        # before the bootstrap: an unknown reference group is an error at once, not after every draw
        if reference is not None:
            if reference not in values:
                raise ConfigError(f"reference group {reference!r} is not among the groups of {col}: {values}")
            r = values.index(reference)
            pairs = [(g, r) for g in range(len(values)) if g != r]
        else:
            pairs = [(g, h) for g in range(len(values)) for h in range(g + 1, len(values))]
        cells = GroupCells(
            frame, col, values, agg, fit_options, participant_weights=weights, missing_weights=missing_weights
        )
        # the bootstrap multiplicities of these cells' participants, from the shared draw
        part_ix = participants.get_indexer(pd.Index(list(cells.arrays.clusters or ())))
        W = mult_all[:, part_ix][:, cells.cell_participant]
        draws = np.empty((len(values), rounds, cells.n_models))
        for g, value in enumerate(values):
            with labelled_warnings(group_label(col, value)):
                draws[g] = cells.scores(W * cells.membership()[g], cells.present(g))
        est = np.stack([cells.scores(cells.membership()[g][None, :], cells.present(g))[0] for g in range(len(values))])
        jack = cells.jackknife(seed) if interval == "bca" else None
        n_part = np.array([np.unique(cells.cell_participant[cells.cell_group == g]).size for g in range(len(values))])
        for g, value in enumerate(values):
            all_draws[(col, value)] = draws[g]
            lo, hi = bootstrap_interval(
                draws[g], est[g], level=level, method=interval, jackknife=None if jack is None else jack[g]
            )
            with np.errstate(invalid="ignore"):
                se = np.nanstd(draws[g], axis=0, ddof=1)
            pres = ~np.isnan(est[g])
            group_frames.append(
                pd.DataFrame(
                    {
                        "by": col,
                        "group": value,
                        "model": np.asarray(cells.models, dtype=object)[pres],
                        "n_participants": int(n_part[g]),
                        "score": est[g][pres],
                        "lo": lo[pres],
                        "hi": hi[pres],
                        "se": se[pres],
                    }
                )
            )
        rows = []
        for g, h in pairs:
            diff_draws = draws[g] - draws[h]
            diff_est = est[g] - est[h]
            both = ~np.isnan(diff_est)
            if not both.any():
                continue
            jd = None if jack is None else jack[g] - jack[h]
            lo, hi = bootstrap_interval(diff_draws, diff_est, level=level, method=interval, jackknife=jd)
            with np.errstate(invalid="ignore"):
                se = np.nanstd(diff_draws, axis=0, ddof=1)
            if p_method == "interval":
                p = _interval_pvalue(diff_draws, diff_est, interval, jd)
            else:
                with np.errstate(invalid="ignore", divide="ignore"):
                    p = 2.0 * ndtr(-np.abs(diff_est) / se)
            rows.append(
                pd.DataFrame(
                    {
                        "by": col,
                        "group": values[g],
                        "other": values[h],
                        "model": np.asarray(cells.models, dtype=object)[both],
                        "score_group": est[g][both],
                        "score_other": est[h][both],
                        "difference": diff_est[both],
                        "lo": lo[both],
                        "hi": hi[both],
                        "se": se[both],
                        "p_value": p[both],
                        "n_participants_group": int(n_part[g]),
                        "n_participants_other": int(n_part[h]),
                    }
                )
            )
        if rows:
            fam = pd.concat(rows, ignore_index=True)
            fam["p_holm"] = adjust_pvalues(fam["p_value"], "holm")
            fam["p_bh"] = adjust_pvalues(fam["p_value"], "bh")
            chosen = {"holm": "p_holm", "bh": "p_bh", "none": "p_value"}[key]
            fam["significant"] = fam[chosen] < alpha_level
            contrast_frames.append(fam)
        group_code = frame[col].map({v: k for k, v in enumerate(values)}).fillna(-1).to_numpy(dtype=np.int64)
        if lrt:
            out = bt_lrt(arrays, group_code, ties=lrt_ties)
            note = f"Bradley-Terry pooled vs per-group worths, ties {lrt_ties}d; battles treated as independent"
            if out["separated"]:
                note += "; some worth is infinite (a model won or lost all its battles): chi-square is rough"
            omnibus_rows.append(
                {
                    "by": col,
                    "test": "bt_lrt",
                    "statistic": out["statistic"],
                    "df": out["df"],
                    "p_value": out["p_value"],
                    "n_groups": len(values),
                    "n_models": cells.n_models,
                    "n_battles": out["n_battles"],
                    "note": note,
                }
            )
        if permutations > 0:
            out = permutation_test(cells, permutations=permutations, seed=seed)
            omnibus_rows.append(
                {
                    "by": col,
                    "test": "permutation",
                    "statistic": out["statistic"],
                    "df": np.nan,
                    "p_value": out["p_value"],
                    "n_groups": len(values),
                    "n_models": cells.n_models,
                    "n_battles": int(cells.arrays.n_battles),
                    "note": f"{agg.name} scores, labels permuted {out['scheme']} ({permutations} permutations)",
                }
            )
    contrasts = (
        pd.concat(contrast_frames, ignore_index=True)[CONTRAST_COLUMNS]
        if contrast_frames
        else pd.DataFrame(columns=CONTRAST_COLUMNS)
    )
    groups_t = (
        pd.concat(group_frames, ignore_index=True)[GROUP_COLUMNS]
        if group_frames
        else pd.DataFrame(columns=GROUP_COLUMNS)
    )
    omnibus = pd.DataFrame(omnibus_rows, columns=OMNIBUS_COLUMNS)
    omnibus["df"] = omnibus["df"].astype("Int64")
    meta = {
        "method": agg.name,
        "rounds": rounds,
        "level": level,
        "interval": interval,
        "correction": key,
        "p_method": p_method,
        "higher_is_better": agg.higher_is_better,
        "weighted": pw_all is not None,
        "target": target,
        "options": {k: v for k, v in fit_options.items() if k in agg.option_names},
    }
    for t in (contrasts, groups_t, omnibus):
        t.attrs.update(meta)
    return ContrastResult(contrasts, groups_t, omnibus, all_draws, skipped, arrays.models)
