"""Benchmark: BLAS threads for many small dense solves, pinned to one vs the library default.

Run under DEFAULT settings (no OMP_NUM_THREADS / OPENBLAS_NUM_THREADS): the point is what a user
gets out of the box. Each case runs both ways in this process, interleaved, best of ``--repeat``:

* unpinned: ``pluralis.threads.BLAS_THREADS = None`` and
  ``pluralis.welfare.draws.BLAS_THREADS = None`` (numpy's default BLAS threads, what the code did
  before pinning);
* pinned: the defaults (one BLAS thread around the many-small-solves sections).

Cases: 20 single ``numpy.linalg.solve`` calls of 150 x 150 (the issue's micro case) and one
batched solve of 200 x 150 x 150; the Arena case (2,000,000 battles, 150 models, 200 battle
bootstraps, PRC and Bradley-Terry; ``--quick``: 200,000 battles); PRISM-sized welfare
imputation (``IterativeImputer`` on both 1,500 x 21 matrices; ``--quick``: 500 participants).

    .venv/bin/python benchmarks/bench_threads.py [--quick] [--repeat 2]
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from collections.abc import Callable
from contextlib import nullcontext
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import pluralis.threads as shared_threads
import pluralis.welfare.draws as welfare_draws


def blas_info() -> str:
    from threadpoolctl import threadpool_info

    libs = [f"{i['internal_api']} {i['version']} ({i['num_threads']} threads)" for i in threadpool_info()]
    return ", ".join(libs) or "no BLAS found by threadpoolctl"


def set_pinned(pinned: bool) -> None:
    shared_threads.BLAS_THREADS = 1 if pinned else None
    welfare_draws.BLAS_THREADS = 1 if pinned else None


def compare(label: str, fn: Callable[[], object], repeat: int, micro_pin: bool = False) -> tuple[float, float]:
    """Best wall time unpinned and pinned, interleaved; ``micro_pin`` wraps ``fn`` itself in one thread."""
    best = {False: float("inf"), True: float("inf")}
    for _ in range(repeat):
        for pinned in (False, True):
            set_pinned(pinned)
            ctx = shared_threads.blas_threads(1) if (micro_pin and pinned) else nullcontext()
            with ctx:
                start = time.perf_counter()
                fn()
                best[pinned] = min(best[pinned], time.perf_counter() - start)
    set_pinned(True)
    unpinned, pinned = best[False], best[True]
    print(f"{label:<58} default {unpinned:8.3f} s   pinned {pinned:8.3f} s   -> {unpinned / pinned:5.1f}x")
    return unpinned, pinned


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="200k-battle Arena, 500-participant welfare")
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--arena-battles", type=int, default=None, help="default 2,000,000 (200,000 quick)")
    ap.add_argument("--rounds", type=int, default=200, help="bootstrap rounds of the Arena case")
    args = ap.parse_args()
    env = {k: os.environ[k] for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS") if k in os.environ}
    print(
        f"python {platform.python_version()}, numpy {np.__version__}, {os.cpu_count()} CPU cores; BLAS: {blas_info()}; "
        f"thread env vars: {env or 'none (defaults)'}"
    )
    rng = np.random.default_rng(0)
    A = rng.random((200, 150, 150)) + 150 * np.eye(150)
    b = rng.random((200, 150, 1))
    compare(
        "20 solves of 150x150, one call each",
        lambda: [np.linalg.solve(A[k], b[k]) for k in range(20)],
        args.repeat,
        True,
    )
    compare("one batched solve of 200 x 150x150", lambda: np.linalg.solve(A, b), args.repeat, True)

    from bench_ranking import arena_battles

    from pluralis.ranking.battles import encode_battles
    from pluralis.ranking.uncertainty import bootstrap

    n_arena = args.arena_battles or (200_000 if args.quick else 2_000_000)
    rounds = args.rounds
    arrays = encode_battles(arena_battles(n_arena, 150))
    prc = compare(
        f"Arena {n_arena:,} battles x 150 models: PRC + {rounds} bootstraps",
        lambda: bootstrap(arrays, "prc", rounds=rounds, unit="battles", seed=0, interval="percentile"),
        args.repeat,
    )
    bt = compare(
        f"Arena {n_arena:,} battles x 150 models: BT + {rounds} bootstraps",
        lambda: bootstrap(arrays, "bt", rounds=rounds, unit="battles", seed=0, interval="percentile"),
        args.repeat,
    )
    print(
        f"{'Arena PRC + BT (the issue: 4.7 s pinned vs 26-85 s default)':<58} default {prc[0] + bt[0]:8.3f} s   "
        f"pinned {prc[1] + bt[1]:8.3f} s   -> {(prc[0] + bt[0]) / (prc[1] + bt[1]):5.1f}x"
    )

    from pluralis.data.synthetic import generate_study
    from pluralis.welfare.draws import welfare_matrices

    n_people = 500 if args.quick else 1500
    frames = generate_study(n_people, seed=0, with_metadata=False).frames()
    matrices = welfare_matrices(frames.utterances)
    compare(
        f"welfare imputation, {n_people:,} participants x {len(matrices.models)} models (both matrices)",
        lambda: welfare_matrices(frames.utterances).impute(),
        max(1, args.repeat - 1),
    )


if __name__ == "__main__":
    main()
