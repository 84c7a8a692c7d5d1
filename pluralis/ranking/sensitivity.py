"""How much does the leaderboard depend on analysis choices? (PRISM App. T.3–T.6)

* :func:`compare_aggregators` — every registered aggregator on the same battles (order-based ones,
  online Elo, on the data order and on shuffles), with pairwise Kendall τ and p-values (Fig. 31).
* :func:`tie_threshold_sensitivity` — PRC (or any pair method) for tie thresholds 0–20 (Fig. 32).
* :func:`alpha_sensitivity` — PRC for regularisation α from 0 to 100, all priors solved in one
  batched call (Fig. 33b).
* :func:`kendall_table` — τ and p between any set of score columns.

Kendall τ is scipy's τ-b on the scores (scores of lower-is-better methods are negated first).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import kendalltau

from pluralis.errors import ConfigError, PluralisError
from pluralis.ranking.battles import encode_battles, ratings_from_battles, rescore_battles
from pluralis.ranking.encode import matrices_of_arrays
from pluralis.ranking.engine import battle_covariates, ranks_from_scores, scores_for_arrays
from pluralis.ranking.registry import Aggregator, aggregators, get_aggregator

DEFAULT_ALPHAS: tuple[float, ...] = (0.0, 0.1, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0)


@dataclass
class Sensitivity:
    """Scores and ranks of models (rows) under several settings (columns), plus Kendall τ.

    ``kendall`` is long: ``a, b, tau, p_value, n_models``; for sweeps it compares every setting
    with the reference setting (``b`` = reference).

    Example
    -------
    >>> b = pd.DataFrame({"model_a": ["x", "y"], "model_b": ["y", "z"], "winner": ["model_a", "model_a"]})
    >>> alpha_sensitivity(b, [1, 10]).ranks.index.tolist()
    ['x', 'y', 'z']
    """

    scores: pd.DataFrame
    ranks: pd.DataFrame
    kendall: pd.DataFrame
    reference: Any = None


def kendall_table(
    scores: pd.DataFrame,
    *,
    higher_is_better: Mapping[str, bool] | None = None,
    against: Any = None,
) -> pd.DataFrame:
    """Kendall τ-b (and two-sided p) between score columns, over models scored by both.

    ``against`` compares every column with that one only; otherwise all pairs.

    Parameters
    ----------
    scores
        models (rows) x settings (columns).
    higher_is_better
        per column; lower-is-better columns are negated first.
    against
        compare every column with this one only.

    Returns
    -------
    pandas.DataFrame
        ``a, b, tau, p_value, n_models``.

    Example
    -------
    >>> s = pd.DataFrame({"a": [3, 2, 1], "b": [30, 10, 20]}, index=["x", "y", "z"])
    >>> kendall_table(s)[["a", "b", "tau"]].round(3).values.tolist()
    [['a', 'b', 0.333]]
    """
    hib = dict(higher_is_better or {})
    cols = list(scores.columns)
    pairs = (
        [(c, against) for c in cols if c != against]
        if against is not None
        else [(cols[i], cols[j]) for i in range(len(cols)) for j in range(i + 1, len(cols))]
    )
    rows = []
    for a, b in pairs:
        x = scores[a].to_numpy(dtype=float) * (1 if hib.get(a, True) else -1)
        y = scores[b].to_numpy(dtype=float) * (1 if hib.get(b, True) else -1)
        ok = ~(np.isnan(x) | np.isnan(y))
        if ok.sum() >= 2:
            res = kendalltau(x[ok], y[ok])
            tau, p = float(res.statistic), float(res.pvalue)
        else:
            tau, p = np.nan, np.nan
        rows.append({"a": a, "b": b, "tau": tau, "p_value": p, "n_models": int(ok.sum())})
    return pd.DataFrame(rows, columns=["a", "b", "tau", "p_value", "n_models"])


def compare_aggregators(
    battles: pd.DataFrame,
    methods: Sequence[str] | None = None,
    *,
    elo_shuffles: int = 2,
    seed: int = 0,
    options: Mapping[str, Mapping[str, Any]] | None = None,
) -> Sensitivity:
    """All aggregators on the same battles (PRISM Fig. 31).

    Parameters
    ----------
    battles
        battle frame (with scores, for the score means).
    methods
        aggregator names; default every registered aggregator
        (:func:`~pluralis.ranking.registry.aggregators`). By default, score means whose column
        the battles lack, and covariate methods (style control) whose inputs (response texts)
        they lack, are left out.
    elo_shuffles, seed
        order-based aggregators (online Elo) also run on this many random shuffles
        (``elo_shuffle1``, ...), showing their order dependence.
    options
        maps a method name to its options (e.g. ``{"prc": {"alpha": 5}}``).

    Returns
    -------
    Sensitivity
        scores and ranks (rows ordered by the first method's ranking) and Kendall τ of every pair.

    Example
    -------
    >>> b = pd.DataFrame({"model_a": ["x", "x", "y"] * 3, "model_b": ["y", "z", "z"] * 3,
    ...     "winner": ["model_a"] * 9, "score_a": [80] * 9, "score_b": [20] * 9,
    ...     "user_id": ["u"] * 9, "interaction_id": [f"i{k}" for k in range(9)]})
    >>> res = compare_aggregators(b, ["prc", "bt", "win_rate"])
    >>> res.ranks.loc["x"].tolist(), res.kendall["tau"].round(2).tolist()
    ([1.0, 1.0, 1.0], [1.0, 1.0, 1.0])
    """
    options = {get_aggregator(k).name: dict(v) for k, v in (options or {}).items()}
    chosen = [get_aggregator(m) for m in methods] if methods is not None else list(aggregators())
    arrays = encode_battles(battles, cluster=None)
    ratings = None
    scores: dict[str, np.ndarray] = {}
    hib: dict[str, bool] = {}
    rng = np.random.default_rng(seed)
    for agg in chosen:
        opts = options.get(agg.name, {})
        if agg.kind == "ratings":
            if ratings is None:
                ratings = ratings_from_battles(battles)
            if agg.rating_column not in ratings.columns:
                continue
        covariates = None
        if agg.kind == "battles":
            try:
                covariates = battle_covariates(agg, battles)
            except PluralisError:
                if methods is not None:
                    raise
                continue
        scores[agg.name] = scores_for_arrays(arrays, agg, ratings=ratings, covariates=covariates, **opts)
        hib[agg.name] = agg.higher_is_better
        if agg.kind == "sequence":
            for k in range(elo_shuffles):
                name = f"{agg.name}_shuffle{k + 1}"
                scores[name] = scores_for_arrays(arrays, agg, seed=int(rng.integers(2**31)), **opts)
                hib[name] = agg.higher_is_better
    table = pd.DataFrame(scores, index=pd.Index(arrays.models, name="model"))
    ranks = pd.DataFrame(
        {c: ranks_from_scores(table[c].to_numpy(), higher_is_better=hib[c]) for c in table.columns}, index=table.index
    )
    if len(ranks.columns):
        ranks = ranks.sort_values(ranks.columns[0])
        table = table.loc[ranks.index]
    return Sensitivity(table, ranks, kendall_table(table, higher_is_better=hib))


def tie_threshold_sensitivity(
    battles: pd.DataFrame,
    thresholds: Sequence[float] = tuple(range(21)),
    method: str | Aggregator = "prc",
    *,
    reference: float = 5,
    **options: Any,
) -> Sensitivity:
    """A pair-based aggregator over a range of tie thresholds (PRISM Fig. 32).

    Battles are re-scored from their stored scores (``raw_score_*`` or ``score_*``), not
    re-extracted. ``kendall`` compares each threshold with ``reference``.

    Parameters
    ----------
    battles
        battle frame with the scores behind each battle.
    thresholds
        tie thresholds to try (``|score_a - score_b| <= t`` is a tie).
    method, options
        a pair aggregator (:func:`~pluralis.ranking.registry.aggregators` of kind ``"pairs"``)
        and its options.
    reference
        the threshold the others are compared with.

    Returns
    -------
    Sensitivity
        scores and ranks per threshold, Kendall τ against the reference.

    Example
    -------
    >>> b = pd.DataFrame({"model_a": ["x", "x", "y"], "model_b": ["y", "z", "z"], "score_a": [80, 60, 50],
    ...     "score_b": [20, 57, 45], "winner": ["model_a"] * 3})
    >>> res = tie_threshold_sensitivity(b, [0, 5], reference=0)
    >>> res.ranks.columns.tolist()
    [0, 5]
    """
    agg = get_aggregator(method)
    if agg.kind != "pairs":
        pair_methods = ", ".join(a.name for a in aggregators("pairs"))
        raise ConfigError(f"tie-threshold sensitivity needs a pair-based method ({pair_methods})")
    arrays = encode_battles(battles, cluster=None)
    values = list(thresholds)
    if reference not in values:
        values.append(reference)
    cols = {}
    for t in values:
        re = rescore_battles(battles, t)
        arr = encode_battles(re, models=arrays.models, cluster=None)
        cols[t] = scores_for_arrays(arr, agg, **options)
    table = pd.DataFrame(cols, index=pd.Index(arrays.models, name="model"))
    return _finish(table, agg.higher_is_better, reference, list(thresholds))


def alpha_sensitivity(
    battles: pd.DataFrame,
    alphas: Sequence[float] = DEFAULT_ALPHAS,
    *,
    reference: float = 1.0,
    variant: str = "paper",
) -> Sensitivity:
    """Pairwise Rank Centrality over regularisation priors α (PRISM Fig. 33b), in one batched solve.

    Parameters
    ----------
    battles
        battle frame.
    alphas
        priors to try (prior wins per ordered pair).
    reference
        the α the others are compared with.
    variant
        PRC's ``"paper"`` (all priors solved in one batched call) or ``"as_coded"`` variant.

    Returns
    -------
    Sensitivity
        scores and ranks per α, Kendall τ against the reference.

    Example
    -------
    >>> b = pd.DataFrame({"model_a": ["x", "x", "y"], "model_b": ["y", "z", "z"], "winner": ["model_a"] * 3})
    >>> res = alpha_sensitivity(b, [0.5, 1, 100])
    >>> res.ranks.loc["x"].tolist()
    [1.0, 1.0, 1.0]
    """
    arrays = encode_battles(battles, cluster=None)
    values = list(alphas)
    if reference not in values:
        values.append(reference)
    if any(a < 0 for a in values):
        raise ConfigError("alpha must be >= 0")
    prc = get_aggregator("prc")  # this analysis is about PRC's prior
    wins, ties = matrices_of_arrays(arrays)
    if variant == "paper":
        scores = prc.scores_from_counts(wins, ties, alpha=np.asarray(values, dtype=float))
    else:
        scores = np.stack([scores_for_arrays(arrays, prc, alpha=a, variant=variant) for a in values])
    table = pd.DataFrame(scores.T, index=pd.Index(arrays.models, name="model"), columns=values)
    return _finish(table, True, reference, list(alphas))


def _finish(table: pd.DataFrame, hib: bool, reference: Any, shown: list) -> Sensitivity:
    ranks = pd.DataFrame(
        {c: ranks_from_scores(table[c].to_numpy(), higher_is_better=hib) for c in table.columns}, index=table.index
    )
    kt = kendall_table(table, higher_is_better=dict.fromkeys(table.columns, hib), against=reference)
    order = ranks[reference].sort_values(kind="stable").index
    keep = [c for c in table.columns if c in shown]
    return Sensitivity(
        table.loc[order, keep], ranks.loc[order, keep], kt[kt["a"].isin(shown)].reset_index(drop=True), reference
    )
