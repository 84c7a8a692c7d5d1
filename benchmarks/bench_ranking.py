"""Benchmark: preference aggregation (PRC, Bradley-Terry) against every peer, in one process.

Run:  .venv/bin/python benchmarks/bench_ranking.py            (PRISM scale + Arena 2 M x 150 x 200)
      .venv/bin/python benchmarks/bench_ranking.py --quick    (fewer peer rounds, 200k-battle Arena)
      .venv/bin/python benchmarks/bench_ranking.py --scale    (also 20 M battles x 300 models x 200 bootstraps)

Default thread settings (nothing pinned from outside). Bootstraps are timed with percentile
intervals (what every peer computes); the default BCa intervals add one jackknife (timed once). Peers (``benchmarks/peers.py``; ``choix``
and ``evalica`` are optional, ``pip install pluralis[bench]``, skipped when missing):

1. PRISM scale — 1,500 participants x 6 openers x 4 of 21 models = 54,000 battles:
   * one call from the battle DataFrame (Arrow strings, as pandas reads them): Pluralis BT and
     PRC, cold (code cache cleared) and warm (the same frame again), vs ``choix``'s
     ``ilsr_pairwise_dense``, ``evalica.bradley_terry`` and FastChat's current ``compute_bt``;
   * BT + 1,000 battle bootstraps vs a choix loop, evalica's fastest loop, FastChat's current
     ``compute_bootstrap_bt`` (process pool) and FastChat's 2024 ``get_bootstrap_result``
     (scikit-learn per round, extrapolated from ``--baseline-rounds`` rounds);
   * PRC + 1,000 participant bootstraps vs PRISM's ``compute_rank_centrality`` (extrapolated).
2. Arena scale — battles over models, 200 battle bootstraps of PRC and BT, in a child process so
   that its peak RSS is its own (targets: 20 M x 300 x 200 <= 60 s and <= 4 GB).
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
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import peers

from pluralis import threads
from pluralis.ranking.battles import encode_battles, extract_battles
from pluralis.ranking.codes import clear_cache
from pluralis.ranking.engine import rank_models
from pluralis.ranking.uncertainty import bootstrap

# --- helpers -------------------------------------------------------------------------------------------


def timed(fn, repeat: int = 1):
    """Best wall time of ``repeat`` calls, and the last result."""
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
    """Chatbot-Arena-like battles (Bradley-Terry outcomes, Zipf-like popularity, ~30% ties).

    Columns are pandas' default Arrow-backed strings (built from dictionary codes, so that a
    20 M-row frame costs ~1 GB, not the 5 GB of Python string objects).
    """
    import pyarrow as pa

    rng = np.random.default_rng(seed)
    strength = rng.normal(0, 1.0, n_models)
    popularity = 1.0 / np.arange(1, n_models + 1) ** 0.6
    popularity /= popularity.sum()
    a = rng.choice(n_models, n_battles, p=popularity).astype(np.int32)
    b = rng.choice(n_models, n_battles, p=popularity).astype(np.int32)
    same = a == b
    while same.any():
        b[same] = rng.choice(n_models, same.sum(), p=popularity)
        same = a == b
    d = strength[a] - strength[b] + rng.logistic(0, 1, n_battles)
    outcome = np.where(np.abs(d) < 0.6, 2, np.where(d > 0, 0, 1)).astype(np.int32)
    del d
    dtype = pd.StringDtype("pyarrow", na_value=np.nan)  # pandas' default "str"

    def strings(codes: np.ndarray, labels: list[str]) -> pd.Series:
        arrow = pa.DictionaryArray.from_arrays(pa.array(codes), pa.array(labels)).cast(pa.large_string())
        return pd.Series(pd.arrays.ArrowStringArray(arrow, dtype=dtype))

    return pd.DataFrame(
        {
            "model_a": strings(a, [f"model-{k:03d}" for k in range(n_models)]),
            "model_b": strings(b, [f"model-{k:03d}" for k in range(n_models)]),
            "winner": strings(outcome, ["model_a", "model_b", "tie"]),
            "user_id": rng.integers(0, max(1, n_battles // 10), n_battles),
        }
    )


def peak_rss_gb(who=resource.RUSAGE_SELF) -> float:
    kb = resource.getrusage(who).ru_maxrss
    return kb / 1024**2 if sys.platform != "darwin" else kb / 1024**3


def line(label: str, seconds: float, note: str = "") -> None:
    print(f"{label:<60} {seconds:9.4f} s  {note}")


# --- parts ----------------------------------------------------------------------------------------------


def part_per_call(battles: pd.DataFrame, repeat: int) -> None:
    print(f"-- one call from the battle DataFrame (best of {repeat}) --")

    def cold(method: str):
        clear_cache()
        return rank_models(battles, method)

    t_bt_cold, _ = timed(lambda: cold("bt"), repeat)
    t_bt_warm, _ = timed(lambda: rank_models(battles, "bt"), repeat)
    t_prc_cold, _ = timed(lambda: cold("prc"), repeat)
    t_prc_warm, _ = timed(lambda: rank_models(battles, "prc"), repeat)
    t_enc, _ = timed(lambda: (clear_cache(), encode_battles(battles, cluster=None)), repeat)
    line("pluralis BT, cold (column codes not cached)", t_bt_cold, f"(of which encoding {t_enc:.4f} s)")
    line("pluralis BT, warm (same frame again: cached codes)", t_bt_warm)
    line("pluralis PRC, cold / warm", t_prc_cold, f"/ {t_prc_warm:.4f} s")
    peer_calls = []
    if peers.available("choix"):
        peer_calls.append(("choix ilsr_pairwise_dense (from the frame)", lambda: peers.choix_bt(battles)))
    else:
        print("choix not installed: skipped (pip install pluralis[bench])")
    if peers.available("evalica"):
        peer_calls.append(("evalica bradley_terry (Rust)", lambda: peers.evalica_bt(battles)))
    else:
        print("evalica not installed: skipped (pip install pluralis[bench])")
    peer_calls.append(("FastChat compute_bt (current, scipy L-BFGS)", lambda: peers.fastchat_bt(battles)))
    for label, fn in peer_calls:
        t, _ = timed(fn, repeat)
        line(label, t, f"-> pluralis BT {t / t_bt_cold:5.1f}x faster cold, {t / t_bt_warm:5.1f}x warm")


def part_bootstraps(battles: pd.DataFrame, baseline_rounds: int, peer_rounds: int, reference_calls: int) -> None:
    print("-- BT + 1,000 battle bootstraps --")
    t_ours, ours = timed(
        lambda: bootstrap(battles, "bt", rounds=1000, unit="battles", seed=0, interval="percentile"), 3
    )
    t_ours_p, _ = timed(
        lambda: bootstrap(battles, "bt", rounds=1000, unit="participants", seed=0, interval="percentile"), 3
    )
    t_bca, _ = timed(lambda: bootstrap(battles, "bt", rounds=1000, unit="participants", seed=0))
    threads.WORKER_THREADS = 1  # the same on one core: what the parallel chunks add
    try:
        t_one, _ = timed(
            lambda: bootstrap(battles, "bt", rounds=1000, unit="battles", seed=0, interval="percentile"), 3
        )
    finally:
        threads.WORKER_THREADS = None
    line("pluralis BT + 1,000 bootstraps (battles)", t_ours, f"({threads.worker_threads()} worker threads)")
    line("  same on one worker thread", t_one)
    line("pluralis BT + 1,000 bootstraps (participants)", t_ours_p)
    line("  same with the default BCa intervals (+ participant jackknife)", t_bca)
    scale = 1000 / peer_rounds
    rows: list[tuple[str, float]] = []
    if peers.available("choix"):
        t, _ = timed(lambda: peers.choix_bootstrap(battles, peer_rounds))
        rows.append((f"choix dense ILSR loop ({peer_rounds} rounds, x{scale:g})", t * scale))
    if peers.available("evalica"):
        t, _ = timed(lambda: peers.evalica_bootstrap(battles, peer_rounds))
        rows.append((f"evalica BT loop, multinomial weights ({peer_rounds} rounds, x{scale:g})", t * scale))
    t, _ = timed(lambda: peers.fastchat_bootstrap_bt(battles, peer_rounds))
    rows.append((f"FastChat compute_bootstrap_bt (current; process pool; {peer_rounds} rounds, x{scale:g})", t * scale))
    t, _ = timed(lambda: peers.fastchat_bootstrap_bt(battles, peer_rounds, one_blas_thread=True))
    rows.append(("  same, pool workers pinned to one BLAS thread (not FastChat's)", t * scale))
    t, _ = timed(lambda: peers.fastchat_bootstrap_2024(battles, baseline_rounds))
    rows.append(
        (
            f"FastChat 2024 get_bootstrap_result (sklearn; {baseline_rounds} rounds, extrapolated)",
            t / baseline_rounds * 1000,
        )
    )
    for label, seconds in rows:
        line(
            label,
            seconds,
            f"-> pluralis {seconds / t_ours:7.1f}x faster [target >= 10x]; one thread {seconds / t_one:.1f}x",
        )
    full_ref = peers.fastchat_mle_elo_2024(battles)
    full_ours = rank_models(battles, "bt").set_index("model")["score"]
    diff = (full_ours - full_ref.reindex(full_ours.index)).abs().max()
    print(f"  BT point estimate vs scikit-learn (L2, C = 1): max difference {diff:.2e} Elo points")
    cur = peers.fastchat_bt(battles)
    plain = rank_models(battles, "bt", penalty=None).set_index("model")["score"]
    gap = ((cur - cur.mean()) - (plain - plain.mean()).reindex(cur.index)).abs().max()
    print(f"  BT (penalty=None) vs FastChat compute_bt, centred: max difference {gap:.2e} Elo points")

    print("-- PRC + 1,000 participant bootstraps --")
    t_ref, ref = timed(lambda: peers.prism_rank_centrality(battles), reference_calls)
    coded = rank_models(battles, "prc", variant="as_coded").set_index("model")["score"]
    agree = max(abs(coded[k] - v) for k, v in ref.items())
    t_prc, _ = timed(
        lambda: bootstrap(battles, "prc", rounds=1000, unit="participants", seed=0, interval="percentile"), 3
    )
    t_prc_b, _ = timed(lambda: bootstrap(battles, "prc", rounds=1000, unit="battles", seed=0, interval="percentile"), 3)
    line("PRISM compute_rank_centrality, one call", t_ref, f"(as_coded agrees to {agree:.1e})")
    line("pluralis PRC + 1,000 bootstraps (participants)", t_prc, f"-> {t_ref * 1001 / t_prc:,.0f}x the PRISM code")
    line("pluralis PRC + 1,000 bootstraps (battles)", t_prc_b)
    for m, rounds in (("win_rate", 1000), ("mean_score", 1000), ("elo", 100)):
        t, _ = timed(
            lambda m=m, rounds=rounds: bootstrap(
                battles, m, rounds=rounds, unit="participants", seed=0, interval="percentile"
            )
        )
        line(f"pluralis {m} + {rounds:,} bootstraps (participants)", t)


def part_arena(n_battles: int, n_models: int, rounds: int) -> None:
    print(f"== Arena scale: {n_battles:,} battles, {n_models} models, {rounds} bootstraps (child process) ==")
    t0 = time.perf_counter()
    battles = arena_battles(n_battles, n_models)
    print(f"generate battles: {time.perf_counter() - t0:.1f} s (not counted); frame RSS so far {peak_rss_gb():.2f} GB")
    wall, cpu = time.perf_counter(), time.process_time()
    t_enc, arrays = timed(lambda: encode_battles(battles))
    t_prc, _ = timed(lambda: bootstrap(arrays, "prc", rounds=rounds, unit="battles", seed=0, interval="percentile"))
    t_bt, bt = timed(lambda: bootstrap(arrays, "bt", rounds=rounds, unit="battles", seed=0, interval="percentile"))
    total, total_cpu = time.perf_counter() - wall, time.process_time() - cpu
    t_bca, _ = timed(lambda: bootstrap(arrays, "bt", rounds=rounds, unit="battles", seed=0))
    line("encode (Arrow strings -> codes)", t_enc)
    line(f"PRC + {rounds} bootstraps", t_prc)
    line(f"BT + {rounds} bootstraps", t_bt)
    line("total (encode + PRC + BT)", total, f"(CPU {total_cpu:.1f} s) [target <= 60 s]")
    line(f"  BT + {rounds} bootstraps, default BCa (+ blocked battle jackknife)", t_bca, "(not in the total)")
    print(f"ARENA_TOTAL_S={total:.3f}")
    top = np.argsort(-bt.estimate)[:3]
    print("  top-3 by BT:", [arrays.models[i] for i in top])


def run_arena_child(n_battles: int, n_models: int, rounds: int) -> None:
    cmd = [sys.executable, __file__, "--part", "arena", "--arena-battles", str(n_battles)]
    cmd += ["--arena-models", str(n_models), "--arena-rounds", str(rounds)]
    out = subprocess.run(cmd, capture_output=True, text=True)
    sys.stdout.write(out.stdout)
    if out.returncode != 0:
        sys.stderr.write(out.stderr)
        raise SystemExit(out.returncode)
    rss = [x for x in out.stdout.splitlines() if x.startswith("ARENA_PEAK_RSS_GB=")]
    if rss:
        print(
            f"Arena peak memory (child process RSS, frame included): {float(rss[0].split('=')[1]):.2f} GB [target <= 4 GB]"
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="fewer peer rounds and a 200k-battle Arena")
    ap.add_argument("--scale", action="store_true", help="also the 20 M x 300 x 200 Arena case")
    ap.add_argument(
        "--baseline-rounds", type=int, default=None, help="FastChat 2024 rounds timed (default 20; 5 quick)"
    )
    ap.add_argument(
        "--peer-rounds", type=int, default=None, help="choix/evalica rounds timed (default 1000; 200 quick)"
    )
    ap.add_argument("--reference-calls", type=int, default=2, help="timed calls of PRISM's PRC (best of)")
    ap.add_argument("--skip-arena", action="store_true")
    ap.add_argument("--part", choices=["arena"], help=argparse.SUPPRESS)
    ap.add_argument("--arena-battles", type=int, default=None, help=argparse.SUPPRESS)
    ap.add_argument("--arena-models", type=int, default=150, help=argparse.SUPPRESS)
    ap.add_argument("--arena-rounds", type=int, default=200, help=argparse.SUPPRESS)
    args = ap.parse_args()
    n_arena = args.arena_battles or (200_000 if args.quick else 2_000_000)
    if args.part == "arena":
        part_arena(n_arena, args.arena_models, args.arena_rounds)
        print(f"ARENA_PEAK_RSS_GB={peak_rss_gb():.3f}")
        return
    warnings.simplefilter("ignore", FutureWarning)
    print(
        f"python {platform.python_version()}, numpy {np.__version__}, pandas {pd.__version__}, "
        f"{os.cpu_count()} CPU cores, {platform.machine()}; load average {os.getloadavg()[0]:.1f}"
    )
    t_gen = time.perf_counter()
    battles = prism_battles()
    print(
        f"== PRISM scale: {len(battles):,} battles, {battles['user_id'].nunique():,} participants, "
        f"{pd.unique(battles[['model_a', 'model_b']].values.ravel()).size} models "
        f"(study + extraction {time.perf_counter() - t_gen:.1f} s, not counted) =="
    )
    part_per_call(battles, 50)  # a call takes milliseconds: best of 50 even when quick
    part_bootstraps(
        battles,
        args.baseline_rounds or (5 if args.quick else 20),
        args.peer_rounds or (200 if args.quick else 1000),
        args.reference_calls,
    )
    if not args.skip_arena:
        run_arena_child(n_arena, 150, 200)
        if args.scale:
            run_arena_child(20_000_000, 300, 200)


if __name__ == "__main__":
    main()
