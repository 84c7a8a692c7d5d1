"""Benchmark: preference aggregation (PRC, Bradley-Terry) with bootstrap uncertainty.

Run:  .venv/bin/python benchmarks/bench_ranking.py            (full: PRISM scale + Arena scale)
      .venv/bin/python benchmarks/bench_ranking.py --quick    (fewer baseline rounds, smaller Arena)

Reports, each against a reference implementation run in the same process:

1. PRISM scale — synthetic study of 1,500 participants x 6 openers x 4 of 21 models (54,000 battles):
   * Pairwise Rank Centrality + 1,000 bootstraps (target <= 1 s) vs one call of a literal port of
     PRISM's ``compute_rank_centrality`` (Python loop over comparisons, ``A^1000``);
   * Bradley-Terry MLE + 1,000 bootstraps vs FastChat's ``get_bootstrap_result(compute_mle_elo)``
     (scikit-learn ``LogisticRegression`` on per-battle rows each round; target >= 50x). The
     baseline runs ``--baseline-rounds`` rounds and is extrapolated per round.
2. Arena scale — 2,000,000 battles over 150 models, 200 bootstraps, PRC and BT (target <= 60 s,
   <= 4 GB peak memory), run in a child process so its peak RSS is its own.
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pluralis.ranking.battles import encode_battles, extract_battles
from pluralis.ranking.engine import rank_models
from pluralis.ranking.uncertainty import bootstrap

# --- reference implementations (what PRISM / FastChat ran) -------------------------------------------


def reference_rank_centrality(battles: pd.DataFrame, iterations: int = 1000, alpha: float = 1) -> dict:
    """Literal port of PRISM's ``compute_rank_centrality`` (spec §6.3)."""
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


def fastchat_mle_elo(df: pd.DataFrame, SCALE=400, BASE=10, INIT_RATING=1000) -> pd.Series:
    """FastChat ``compute_mle_elo`` (Jan-Mar 2024): duplicated rows, default L2 LogisticRegression."""
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


def fastchat_bootstrap(battles: pd.DataFrame, rounds: int, seed: int = 0) -> pd.DataFrame:
    """FastChat ``get_bootstrap_result``: resample battles, refit, once per round."""
    rng = np.random.RandomState(seed)
    rows = [fastchat_mle_elo(battles.sample(frac=1.0, replace=True, random_state=rng)) for _ in range(rounds)]
    return pd.DataFrame(rows)


# --- helpers -------------------------------------------------------------------------------------------


def timed(fn, repeat: int = 1):
    best = math.inf
    out = None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return best, out


def prism_battles() -> pd.DataFrame:
    from pluralis.data.synthetic import generate_study

    study = generate_study(n_participants=1500, seed=0, failure_rate=0.0, with_metadata=False)
    return extract_battles(study.frames().utterances)


def arena_battles(n_battles: int, n_models: int, seed: int = 0) -> pd.DataFrame:
    """Chatbot-Arena-like battles: Bradley-Terry outcomes, uneven model popularity, ~30% ties."""
    rng = np.random.default_rng(seed)
    strength = rng.normal(0, 1.0, n_models)
    popularity = 1.0 / np.arange(1, n_models + 1) ** 0.6
    popularity /= popularity.sum()
    a = rng.choice(n_models, n_battles, p=popularity)
    b = rng.choice(n_models, n_battles, p=popularity)
    same = a == b
    while same.any():
        b[same] = rng.choice(n_models, same.sum(), p=popularity)
        same = a == b
    d = strength[a] - strength[b] + rng.logistic(0, 1, n_battles)
    winner = np.where(np.abs(d) < 0.6, "tie", np.where(d > 0, "model_a", "model_b"))
    names = np.array([f"model-{k:03d}" for k in range(n_models)], dtype=object)
    return pd.DataFrame(
        {
            "model_a": names[a],
            "model_b": names[b],
            "winner": winner,
            "user_id": rng.integers(0, n_battles // 10, n_battles),
        }
    )


def peak_rss_gb(who=resource.RUSAGE_SELF) -> float:
    kb = resource.getrusage(who).ru_maxrss
    return kb / 1024**2 if sys.platform != "darwin" else kb / 1024**3


# --- parts ----------------------------------------------------------------------------------------------


def part_prism(baseline_rounds: int, reference_calls: int) -> dict:
    print("== PRISM scale: 1,500 participants x 6 openers x 4 of 21 models ==")
    t_gen = time.perf_counter()
    battles = prism_battles()
    t_gen = time.perf_counter() - t_gen
    print(
        f"synthetic study + battle extraction: {t_gen:.1f} s -> {len(battles):,} battles, "
        f"{battles['user_id'].nunique():,} participants, {pd.unique(battles[['model_a', 'model_b']].values.ravel()).size} models"
    )

    res: dict = {"battles": len(battles)}

    # PRC: reference single call vs ours
    t_ref, ref = timed(lambda: reference_rank_centrality(battles), repeat=reference_calls)
    ours_coded = rank_models(battles, "prc", variant="as_coded").set_index("model")["score"]
    agree = max(abs(ours_coded[k] - v) for k, v in ref.items())
    t_one, _ = timed(lambda: rank_models(battles, "prc"), repeat=5)
    t_boot_p, boot = timed(lambda: bootstrap(battles, "prc", rounds=1000, unit="participants", seed=0), repeat=3)
    t_boot_b, _ = timed(lambda: bootstrap(battles, "prc", rounds=1000, unit="battles", seed=0), repeat=3)
    print(f"PRC reference (PRISM code, 1 call):         {t_ref:8.3f} s   (as_coded variant agrees to {agree:.1e})")
    print(f"PRC ours (1 call, exact stationary solve):  {t_one:8.4f} s   -> {t_ref / t_one:,.0f}x per call")
    print(f"PRC ours + 1,000 bootstraps (participants): {t_boot_p:8.3f} s   [target <= 1 s]")
    print(f"PRC ours + 1,000 bootstraps (battles):      {t_boot_b:8.3f} s")
    print(
        f"  reference for the same work (1,001 calls, extrapolated): {t_ref * 1001 / 60:.1f} min "
        f"-> ratio {t_ref * 1001 / t_boot_p:,.0f}x"
    )
    res.update(
        prc_ref_call_s=t_ref,
        prc_call_s=t_one,
        prc_boot_participants_s=t_boot_p,
        prc_boot_battles_s=t_boot_b,
        prc_ratio=t_ref * 1001 / t_boot_p,
    )

    # BT: FastChat/sklearn per bootstrap round vs ours
    t_base, base = timed(lambda: fastchat_bootstrap(battles, baseline_rounds, seed=0))
    per_round = t_base / baseline_rounds
    t_bt_b, bt = timed(lambda: bootstrap(battles, "bt", rounds=1000, unit="battles", seed=0), repeat=3)
    t_bt_p, _ = timed(lambda: bootstrap(battles, "bt", rounds=1000, unit="participants", seed=0), repeat=3)
    full_ref = fastchat_mle_elo(battles)
    full_ours = rank_models(battles, "bt").set_index("model")["score"]
    diff = (full_ours - full_ref.reindex(full_ours.index)).abs().max()
    ratio = per_round * 1000 / t_bt_b
    print(
        f"BT baseline (sklearn LogisticRegression per round, {baseline_rounds} rounds): {per_round:.3f} s/round "
        f"-> 1,000 rounds ~ {per_round * 1000:.0f} s"
    )
    print(f"BT ours + 1,000 bootstraps (battles):       {t_bt_b:8.3f} s   -> {ratio:,.0f}x faster [target >= 50x]")
    print(f"BT ours + 1,000 bootstraps (participants):  {t_bt_p:8.3f} s")
    print(f"  point estimates agree with sklearn to {diff:.2e} Elo points")
    res.update(
        bt_baseline_round_s=per_round,
        bt_boot_battles_s=t_bt_b,
        bt_boot_participants_s=t_bt_p,
        bt_ratio=ratio,
        bt_agree=diff,
    )
    # the other aggregators, for the record
    for m in ("win_rate", "mean_score", "elo"):
        rounds = 1000 if m != "elo" else 100
        t, _ = timed(lambda m=m, rounds=rounds: bootstrap(battles, m, rounds=rounds, unit="participants", seed=0))
        print(f"{m:>10} + {rounds:,} bootstraps (participants): {t:8.3f} s")
    return res


def part_arena(n_battles: int, n_models: int, rounds: int) -> None:
    print(f"== Arena scale: {n_battles:,} battles, {n_models} models, {rounds} bootstraps ==")
    t0 = time.perf_counter()
    battles = arena_battles(n_battles, n_models)
    print(f"generate battles: {time.perf_counter() - t0:.1f} s (not counted)")
    t_all = time.perf_counter()
    t_enc, arrays = timed(lambda: encode_battles(battles))
    t_prc, prc = timed(lambda: bootstrap(arrays, "prc", rounds=rounds, unit="battles", seed=0))
    t_bt, bt = timed(lambda: bootstrap(arrays, "bt", rounds=rounds, unit="battles", seed=0))
    total = time.perf_counter() - t_all
    print(f"encode (factorise 2 M rows):        {t_enc:7.2f} s")
    print(f"PRC + {rounds} bootstraps:             {t_prc:7.2f} s")
    print(f"BT  + {rounds} bootstraps:             {t_bt:7.2f} s")
    print(f"total (encode + PRC + BT):          {total:7.2f} s   [target <= 60 s]")
    print(f"ARENA_TOTAL_S={total:.3f}")
    top = np.argsort(-bt.estimate)[:3]
    print("  top-3 by BT:", [arrays.models[i] for i in top])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="fewer baseline rounds and a 10x smaller Arena")
    ap.add_argument("--baseline-rounds", type=int, default=None, help="sklearn rounds to time (default 20; 5 quick)")
    ap.add_argument("--reference-calls", type=int, default=2, help="timed calls of the reference PRC (best of)")
    ap.add_argument("--skip-arena", action="store_true")
    ap.add_argument("--part", choices=["arena"], help=argparse.SUPPRESS)
    ap.add_argument("--arena-battles", type=int, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    n_arena = args.arena_battles or (200_000 if args.quick else 2_000_000)
    if args.part == "arena":
        part_arena(n_arena, 150, 200)
        print(f"ARENA_PEAK_RSS_GB={peak_rss_gb():.3f}")
        return
    print(
        f"python {platform.python_version()}, numpy {np.__version__}, pandas {pd.__version__}, "
        f"{os.cpu_count()} CPU cores, {platform.machine()}"
    )
    part_prism(args.baseline_rounds or (5 if args.quick else 20), args.reference_calls)
    if not args.skip_arena:
        cmd = [sys.executable, __file__, "--part", "arena", "--arena-battles", str(n_arena)]
        out = subprocess.run(cmd, capture_output=True, text=True)
        sys.stdout.write(out.stdout)
        if out.returncode != 0:
            sys.stderr.write(out.stderr)
            raise SystemExit(out.returncode)
        rss = [line for line in out.stdout.splitlines() if line.startswith("ARENA_PEAK_RSS_GB=")]
        if rss:
            print(f"Arena peak memory (child process RSS): {float(rss[0].split('=')[1]):.2f} GB   [target <= 4 GB]")


if __name__ == "__main__":
    main()
