"""Peer implementations the benchmarks time Pluralis against, in the same process.

Every peer is written the way its own project does it (or the fastest straightforward way a
user of that library would write it), labelled with where it comes from:

* :func:`prism_rank_centrality` — PRISM's ``compute_rank_centrality`` (literal port; spec §6.3);
* :func:`fastchat_mle_elo_2024` / :func:`fastchat_bootstrap_2024` — FastChat
  ``fastchat/serve/monitor/elo_analysis.py`` as of January-March 2024 (what PRISM used):
  duplicated battle rows, scikit-learn ``LogisticRegression()`` (L2, C = 1), per round
  ``battles.sample(frac=1.0, replace=True)``;
* :func:`fastchat_mle_elo_pivot` / :func:`fastchat_bootstrap_pivot` — FastChat
  ``elo_analysis.py`` ``compute_mle_elo`` from mid-2024: win/tie ``pandas.pivot_table`` per round,
  ``LogisticRegression(fit_intercept=False, penalty=None, tol=1e-6)`` on the pair table with
  sample weights, per round ``battles.sample(frac=1.0, replace=True)``
  (``get_bootstrap_result``), transcribed from memory of that file;
* :func:`fastchat_bootstrap_bt` — FastChat's current Arena bootstrap
  (``fastchat/serve/monitor/rating_systems.py``, ``compute_bootstrap_bt``): unique
  (pair, outcome) rows, one multinomial draw of their weights per round, scipy L-BFGS-B per
  round in a ``multiprocessing.Pool`` of ``os.cpu_count()`` workers, transcribed from memory;
* :func:`choix_bt` / :func:`choix_bootstrap` — ``choix.ilsr_pairwise_dense`` on a comparison
  matrix built from the frame (ties: half a win each way), per round from a battle resample;
* :func:`evalica_bt` / :func:`evalica_bootstrap` — ``evalica.bradley_terry`` (Rust solver); the
  bootstrap loop passes per-round multiplicities as weights on the unique (pair, outcome) rows,
  the fastest loop evalica allows (its own ``evalica.bootstrap`` goes through
  ``scipy.stats.bootstrap`` with BCa and is slower).

``choix`` and ``evalica`` are optional (``pip install pluralis[bench]``); :func:`available`
tells which are installed and the benchmarks skip the others.
"""

from __future__ import annotations

import importlib.util
import math
import os
import warnings
from functools import partial

import numpy as np
import pandas as pd

# --- availability --------------------------------------------------------------------------------


def available(name: str) -> bool:
    """Whether an optional peer library (``choix``, ``evalica``) is installed."""
    return importlib.util.find_spec(name) is not None


# --- PRISM ---------------------------------------------------------------------------------------


def prism_rank_centrality(battles: pd.DataFrame, iterations: int = 1000, alpha: float = 1) -> dict:
    """Literal port of PRISM's ``compute_rank_centrality`` (spec §6.3), bug included: the reference of
    ``variant="as_coded"`` in ``tests/ranking/test_ranking_aggregators.py`` as well as the timed peer."""
    comparisons = []
    ties = battles[battles["winner"] == "tie"]
    for _, r in ties.iterrows():
        comparisons.append((r["model_a"], r["model_b"]))
    for _, r in ties.iterrows():
        comparisons.append((r["model_b"], r["model_a"]))
    for _, r in battles[battles["winner"] == "model_a"].iterrows():
        comparisons.append((r["model_a"], r["model_b"]))
    for _, r in battles[battles["winner"] == "model_b"].iterrows():
        comparisons.append((r["model_b"], r["model_a"]))
    comp = pd.DataFrame(comparisons, columns=["winner", "loser"])
    winners = comp["winner"].value_counts().index.tolist()
    items = winners + sorted(set(comp["loser"]) - set(winners))
    idx = {m: i for i, m in enumerate(items)}
    n = len(items)
    A = alpha * np.ones((n, n))
    np.fill_diagonal(A, 0)
    for w, l in comparisons:
        A[idx[w], idx[l]] += 1
    A_sum = A[np.triu_indices(n, 1)] + A[np.tril_indices(n, -1)] + 1e-6
    A[np.triu_indices(n, 1)] /= A_sum
    A[np.tril_indices(n, -1)] /= A_sum
    A /= n - 1
    np.fill_diagonal(A, 1 - A.sum(axis=0))
    scores = np.linalg.matrix_power(A, iterations) @ np.full(n, 1 / n)
    return dict(zip(items, scores))


# --- FastChat, January-March 2024 (elo_analysis.py; what PRISM ran) ----------------------------------


def fastchat_mle_elo_2024(
    df: pd.DataFrame, SCALE: float = 400, BASE: float = 10, INIT_RATING: float = 1000
) -> pd.Series:
    """FastChat ``compute_mle_elo`` (Jan-Mar 2024): duplicated rows, default L2 ``LogisticRegression``."""
    from sklearn.linear_model import LogisticRegression

    models = pd.concat([df["model_a"], df["model_b"]]).unique()
    models = pd.Series(np.arange(len(models)), index=models)
    df = pd.concat([df, df], ignore_index=True)
    p = len(models.index)
    n = df.shape[0]
    X = np.zeros([n, p])
    X[np.arange(n), models[df["model_a"]].to_numpy()] = +math.log(BASE)
    X[np.arange(n), models[df["model_b"]].to_numpy()] = -math.log(BASE)
    Y = np.zeros(n)
    Y[(df["winner"] == "model_a").to_numpy()] = 1.0
    tie_idx = ((df["winner"] == "tie") | (df["winner"] == "tie (bothbad)")).to_numpy().copy()
    tie_idx[len(tie_idx) // 2 :] = False
    Y[tie_idx] = 1.0
    lr = LogisticRegression(fit_intercept=False)
    lr.fit(X, Y)
    return pd.Series(SCALE * lr.coef_[0] + INIT_RATING, index=models.index)


def fastchat_bootstrap_2024(battles: pd.DataFrame, rounds: int, seed: int = 0) -> pd.DataFrame:
    """FastChat ``get_bootstrap_result`` (Jan-Mar 2024): resample battles, refit, once per round."""
    rng = np.random.RandomState(seed)
    rows = [fastchat_mle_elo_2024(battles.sample(frac=1.0, replace=True, random_state=rng)) for _ in range(rounds)]
    return pd.DataFrame(rows)


# --- FastChat, mid-2024 (elo_analysis.py compute_mle_elo with pivot tables) -----------------------


def _logistic_no_penalty(tol: float):
    """``LogisticRegression(fit_intercept=False, penalty=None, tol=tol)`` across scikit-learn versions."""
    from sklearn.linear_model import LogisticRegression

    with warnings.catch_warnings():
        warnings.simplefilter("error", FutureWarning)
        try:
            return LogisticRegression(fit_intercept=False, penalty=None, tol=tol)
        except (FutureWarning, TypeError):  # scikit-learn >= 1.8 deprecates ``penalty``: C=inf is no penalty
            return LogisticRegression(fit_intercept=False, C=np.inf, tol=tol)


def fastchat_mle_elo_pivot(
    df: pd.DataFrame, SCALE: float = 400, BASE: float = 10, INIT_RATING: float = 1000
) -> pd.Series:
    """FastChat ``compute_mle_elo`` (mid-2024): pivot tables of wins and ties, weighted pair rows."""
    ptbl_a_win = pd.pivot_table(
        df[df["winner"] == "model_a"], index="model_a", columns="model_b", aggfunc="size", fill_value=0
    )
    if sum(df["winner"].isin(["tie", "tie (bothbad)"])) == 0:
        ptbl_tie = pd.DataFrame(0, index=ptbl_a_win.index, columns=ptbl_a_win.columns)
    else:
        ptbl_tie = pd.pivot_table(
            df[df["winner"].isin(["tie", "tie (bothbad)"])],
            index="model_a",
            columns="model_b",
            aggfunc="size",
            fill_value=0,
        )
        ptbl_tie = ptbl_tie + ptbl_tie.T
    ptbl_b_win = pd.pivot_table(
        df[df["winner"] == "model_b"], index="model_a", columns="model_b", aggfunc="size", fill_value=0
    )
    ptbl_win = ptbl_a_win * 2 + ptbl_b_win.T * 2 + ptbl_tie
    models = pd.Series(np.arange(len(ptbl_win.index)), index=ptbl_win.index)
    p = len(models)
    X = np.zeros([p * (p - 1) * 2, p])
    Y = np.zeros(p * (p - 1) * 2)
    cur_row = 0
    sample_weights = []
    for m_a in ptbl_win.index:
        for m_b in ptbl_win.columns:
            if m_a == m_b:
                continue
            if math.isnan(ptbl_win.loc[m_a, m_b]) or math.isnan(ptbl_win.loc[m_b, m_a]):
                continue
            X[cur_row, models[m_a]] = +math.log(BASE)
            X[cur_row, models[m_b]] = -math.log(BASE)
            Y[cur_row] = 1.0
            sample_weights.append(ptbl_win.loc[m_a, m_b])
            X[cur_row + 1, models[m_a]] = math.log(BASE)
            X[cur_row + 1, models[m_b]] = -math.log(BASE)
            Y[cur_row + 1] = 0.0
            sample_weights.append(ptbl_win.loc[m_b, m_a])
            cur_row += 2
    X = X[:cur_row]
    Y = Y[:cur_row]
    lr = _logistic_no_penalty(1e-6)
    lr.fit(X, Y, sample_weight=sample_weights)
    elo_scores = SCALE * lr.coef_[0] + INIT_RATING
    return pd.Series(elo_scores, index=models.index).sort_values(ascending=False)


def fastchat_bootstrap_pivot(battles: pd.DataFrame, rounds: int, seed: int = 0) -> pd.DataFrame:
    """FastChat ``get_bootstrap_result(battles, compute_mle_elo, num_round)`` (mid-2024)."""
    rng = np.random.RandomState(seed)
    rows = [fastchat_mle_elo_pivot(battles.sample(frac=1.0, replace=True, random_state=rng)) for _ in range(rounds)]
    df = pd.DataFrame(rows)
    return df[df.median().sort_values(ascending=False).index]


# --- FastChat, current (rating_systems.py compute_bootstrap_bt) -----------------------------------


def _preprocess_for_bt(df: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, list, np.ndarray]:
    """FastChat ``preprocess_for_bt``: unique (model a, model b, outcome) rows and their counts."""
    n_rows = len(df)
    model_indices, models = pd.factorize(pd.concat([df["model_a"], df["model_b"]]))
    matchups = np.column_stack([model_indices[:n_rows], model_indices[n_rows:]])
    schedule = np.full((n_rows, 3), fill_value=1, dtype=np.int32)
    schedule[:, [0, 1]] = matchups
    schedule[(df["winner"] == "model_a").to_numpy(), 2] = 2
    schedule[(df["winner"] == "model_b").to_numpy(), 2] = 0
    matchups_outcomes, weights = np.unique(schedule, return_counts=True, axis=0)
    matchups = matchups_outcomes[:, [0, 1]]
    outcomes = matchups_outcomes[:, 2].astype(np.float64) / 2.0
    return matchups, outcomes, list(models), weights.astype(np.float64)


def _bt_loss_and_grad(
    ratings: np.ndarray, matchups: np.ndarray, outcomes: np.ndarray, weights: np.ndarray, alpha: float = 1.0
) -> tuple[float, np.ndarray]:
    """FastChat ``bt_loss_and_grad``."""
    from scipy.special import expit

    matchup_ratings = ratings[matchups]
    logits = alpha * (matchup_ratings[:, 0] - matchup_ratings[:, 1])
    probs = expit(logits)
    loss = -((np.log(probs) * outcomes + np.log(1.0 - probs) * (1.0 - outcomes)) * weights).sum()
    matchups_grads = -alpha * (outcomes - probs) * weights
    model_grad = np.zeros_like(ratings)
    np.add.at(model_grad, matchups[:, [0, 1]], matchups_grads[:, None] * np.array([1.0, -1.0], dtype=np.float64))
    return loss, model_grad


def _fit_bt(
    matchups: np.ndarray, outcomes: np.ndarray, weights: np.ndarray, n_models: int, alpha: float, tol: float = 1e-6
) -> np.ndarray:
    """FastChat ``fit_bt``: scipy L-BFGS-B on the unique rows."""
    from scipy.optimize import minimize

    result = minimize(
        fun=_bt_loss_and_grad,
        x0=np.zeros(n_models, dtype=np.float64),
        args=(matchups, outcomes, weights, alpha),
        jac=True,
        method="L-BFGS-B",
        options={"disp": False, "maxiter": 100, "gtol": tol},
    )
    return result["x"]


def _one_blas_thread() -> None:
    from threadpoolctl import threadpool_limits

    threadpool_limits(1, user_api="blas")


def _fit_bt_weights(
    weights: np.ndarray, matchups: np.ndarray, outcomes: np.ndarray, n_models: int, alpha: float, tol: float
) -> np.ndarray:
    return _fit_bt(matchups, outcomes, weights, n_models, alpha, tol)


def fastchat_bt(df: pd.DataFrame, base: float = 10.0, scale: float = 400.0, init_rating: float = 1000.0) -> pd.Series:
    """FastChat ``compute_bt`` (current): one Bradley-Terry fit from a battle frame."""
    matchups, outcomes, models, weights = _preprocess_for_bt(df)
    ratings = _fit_bt(matchups, outcomes, weights, len(models), math.log(base), 1e-6)
    return pd.Series(ratings * scale + init_rating, index=models).sort_values(ascending=False)


def fastchat_bootstrap_bt(
    battles: pd.DataFrame,
    num_round: int,
    base: float = 10.0,
    scale: float = 400.0,
    init_rating: float = 1000.0,
    tol: float = 1e-6,
    num_cpu: int | None = None,
    one_blas_thread: bool = False,
) -> pd.DataFrame:
    """FastChat ``compute_bootstrap_bt`` (current): multinomial weights per round, a process pool of L-BFGS fits.

    The pool is started with ``spawn`` (FastChat's default ``fork`` can hang a process whose
    OpenBLAS threads already ran, as the benchmark's has); ``one_blas_thread`` pins each worker
    to one BLAS thread (not what FastChat does; its workers oversubscribe small machines).
    """
    import multiprocessing as mp

    matchups, outcomes, models, weights = _preprocess_for_bt(battles)
    rng = np.random.default_rng(seed=0)
    idxs = rng.multinomial(n=len(battles), pvals=weights / weights.sum(), size=(num_round))
    boot_weights = idxs.astype(np.float64) / len(battles)
    bt_fn = partial(
        _fit_bt_weights, matchups=matchups, outcomes=outcomes, n_models=len(models), alpha=np.log(base), tol=tol
    )
    init = _one_blas_thread if one_blas_thread else None
    with mp.get_context("spawn").Pool(num_cpu if num_cpu else os.cpu_count(), initializer=init) as pool:
        results = list(pool.imap_unordered(bt_fn, boot_weights))
    ratings = np.array(results)
    df = pd.DataFrame(ratings * scale + init_rating, columns=models)
    return df[df.median().sort_values(ascending=False).index]


# --- choix ------------------------------------------------------------------------------------------


def _choix_matrix(a: np.ndarray, b: np.ndarray, wa: np.ndarray, wb: np.ndarray, n: int) -> np.ndarray:
    """Comparison matrix ``comp[i, j]`` = wins of i over j; a tie counts half a win each way."""
    tie = ~(wa | wb)
    won = np.bincount(a[wa] * n + b[wa], minlength=n * n) + np.bincount(b[wb] * n + a[wb], minlength=n * n)
    t = np.bincount(a[tie] * n + b[tie], minlength=n * n).reshape(n, n)
    return won.reshape(n, n) + 0.5 * (t + t.T)


def choix_bt(df: pd.DataFrame, alpha: float = 0.0) -> pd.Series:
    """``choix.ilsr_pairwise_dense`` from a battle frame (``pd.factorize`` codes, ``bincount`` matrix)."""
    import choix

    codes, models = pd.factorize(pd.concat([df["model_a"], df["model_b"]], ignore_index=True))
    m, n = len(df), len(models)
    wa = (df["winner"] == "model_a").to_numpy()
    wb = (df["winner"] == "model_b").to_numpy()
    comp = _choix_matrix(codes[:m], codes[m:], wa, wb, n)
    return pd.Series(choix.ilsr_pairwise_dense(comp, alpha=alpha), index=list(models))


def choix_bootstrap(df: pd.DataFrame, rounds: int, seed: int = 0, alpha: float = 0.0) -> np.ndarray:
    """Battle bootstrap with choix: encode once, then per round resample battles and solve (dense ILSR)."""
    import choix

    codes, models = pd.factorize(pd.concat([df["model_a"], df["model_b"]], ignore_index=True))
    m, n = len(df), len(models)
    a, b = codes[:m], codes[m:]
    wa = (df["winner"] == "model_a").to_numpy()
    wb = (df["winner"] == "model_b").to_numpy()
    rng = np.random.default_rng(seed)
    out = np.empty((rounds, n))
    for r in range(rounds):
        i = rng.integers(0, m, m)
        out[r] = choix.ilsr_pairwise_dense(_choix_matrix(a[i], b[i], wa[i], wb[i], n), alpha=alpha)
    return out


# --- evalica ---------------------------------------------------------------------------------------


def _evalica_winners(winner: pd.Series) -> list:
    import evalica

    code = {"model_a": evalica.Winner.X, "model_b": evalica.Winner.Y}
    return [code.get(w, evalica.Winner.Draw) for w in winner]


def evalica_bt(df: pd.DataFrame) -> pd.Series:
    """``evalica.bradley_terry`` (Rust solver) from a battle frame."""
    import evalica

    return evalica.bradley_terry(df["model_a"], df["model_b"], _evalica_winners(df["winner"])).scores


def evalica_bootstrap(df: pd.DataFrame, rounds: int, seed: int = 0) -> np.ndarray:
    """Battle bootstrap with evalica's Rust BT: unique (a, b, outcome) rows, multinomial multiplicities as weights."""
    import evalica

    codes, models = pd.factorize(pd.concat([df["model_a"], df["model_b"]], ignore_index=True))
    m = len(df)
    w = np.select([(df["winner"] == "model_a").to_numpy(), (df["winner"] == "model_b").to_numpy()], [0, 1], 2)
    rows, counts = np.unique(np.column_stack([codes[:m], codes[m:], w]), axis=0, return_counts=True)
    index = pd.Index(models)
    xs, ys = index[rows[:, 0]], index[rows[:, 1]]
    winners = [(evalica.Winner.X, evalica.Winner.Y, evalica.Winner.Draw)[k] for k in rows[:, 2]]
    rng = np.random.default_rng(seed)
    draws = rng.multinomial(m, counts / counts.sum(), size=rounds).astype(float)
    out = np.empty((rounds, len(index)))
    for r in range(rounds):
        res = evalica.bradley_terry(xs, ys, winners, index=index, weights=draws[r])
        out[r] = res.scores.reindex(index).to_numpy()
    return out
