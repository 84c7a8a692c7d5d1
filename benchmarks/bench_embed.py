"""Benchmark: sentence embeddings of PRISM-sized responses (all-MiniLM-L6-v2), and the cold ``pluralis learn``.

Run:  .venv/bin/python benchmarks/bench_embed.py            (2,000 texts per variant, best of 2; ~1 minute)
      .venv/bin/python benchmarks/bench_embed.py --cold     (+ the whole cold ``learn --features embedding``)

Data: the distinct responses of ``generate_study(1500, with_metadata=False)`` (41,390 texts, as many as
PRISM's; ~57 tokens on average), of which ``--n`` are drawn at random.

Reports, against the reference run in the same process (sentence-transformers ``encode`` in float32, the
model as shipped), interleaved and best of ``--repeat``:

1. texts/s of the default path (:func:`pluralis.features.embeddings.embed_texts`, ``precision="auto"``:
   bf16 on a CPU with native bf16; ``backend="auto"``: OpenVINO where installed; batches of similar token
   counts) and of the reference, the speed-up, and the cosine of the default path's vectors with the
   reference ones (min / mean); the same precision on torch (the default before OpenVINO), which isolates
   the gain of the runtime; and that torch path batched as ``encode`` does by itself (by characters), which
   isolates the gain of grouping by tokens;
2. how many of all the texts exceed 128 and 256 tokens (the model truncates at 256);
3. the projected encoding time of all 41,390 texts, and with ``--cold`` the measured wall time of
   ``pluralis learn STUDY --by gender --features embedding`` with an empty embedding cache.

The machine is shared: the load average is printed before and after.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pluralis.data.synthetic import generate_study
from pluralis.features.embeddings import (
    cpu_bf16_supported,
    embed_texts,
    load_sentence_model,
    resolve_backend,
    resolve_precision,
)
from pluralis.learn.pairs import pairs_from_study

ROOT = Path(__file__).resolve().parents[1]


def study_texts(study) -> list[str]:
    """The distinct response texts ``pluralis learn`` embeds (both sides of every pair)."""
    pairs = pairs_from_study(study.frames(), require_texts=True)
    both = pd.concat([pairs["response_a"], pairs["response_b"]], ignore_index=True).fillna("").astype(str)
    return [str(t) for t in pd.unique(both)]


def reference(texts: list[str], batch_size: int = 64) -> np.ndarray:
    """sentence-transformers as shipped: float32, normalised by ``encode``."""
    model = load_sentence_model(precision="fp32", backend="torch")
    out = model.encode(
        texts, batch_size=batch_size, convert_to_numpy=True, normalize_embeddings=True, show_progress_bar=False
    )
    return np.asarray(out, dtype=np.float32)


def by_characters(texts: list[str], batch_size: int = 64) -> np.ndarray:
    """The default precision on torch, batched as ``encode`` groups texts itself (by character length): the
    default path before it grouped texts by token count."""
    model = load_sentence_model(precision="auto", backend="torch")
    out = model.encode(
        texts, batch_size=batch_size, convert_to_numpy=True, normalize_embeddings=True, show_progress_bar=False
    )
    return np.asarray(out, dtype=np.float32)


def default_path(texts: list[str], batch_size: int = 64) -> np.ndarray:
    """What ``pluralis learn`` and ``pluralis topics`` run (``precision="auto"``, ``backend="auto"``), without
    the cache."""
    return embed_texts(texts, batch_size=batch_size, cache=False)


def on_torch(texts: list[str], batch_size: int = 64) -> np.ndarray:
    """The default precision and batching on torch: the default path before the OpenVINO backend."""
    return embed_texts(texts, batch_size=batch_size, cache=False, backend="torch")


def cold_learn(study, seconds_only: bool = False) -> float:
    """Wall time of ``pluralis learn --features embedding`` on the study written as PRISM files, empty cache."""
    from pluralis.data.io.registry import save_study

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "prism"
        save_study(study, folder, format="prism")
        env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
        cmd = [sys.executable, "-m", "pluralis", "learn", str(folder), "--by", "gender", "--features", "embedding"]
        cmd += ["--out", str(Path(tmp) / "out"), "--cache", str(Path(tmp) / "embeddings.sqlite")]
        t = time.perf_counter()
        r = subprocess.run(cmd, env=env, capture_output=True, text=True)
        dt = time.perf_counter() - t
        if r.returncode:
            raise SystemExit(f"pluralis learn failed:\n{r.stderr[-3000:]}")
        print(r.stderr.strip()[-1500:])
        return dt


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=2000, help="texts per timed variant")
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument(
        "--cold", action="store_true", help="also time the whole cold `pluralis learn --features embedding`"
    )
    args = ap.parse_args()

    import torch

    print(
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, torch {torch.__version__} "
        f"({torch.get_num_threads()} threads); native bf16: {cpu_bf16_supported()}; "
        f"default precision: {resolve_precision('auto')}, default backend: {resolve_backend('auto')}"
    )
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    study = generate_study(1500, with_metadata=False)
    texts = study_texts(study)
    tokens = np.array([len(ids) for ids in load_sentence_model(backend="torch").tokenizer(texts)["input_ids"]])
    print(
        f"{len(texts):,} distinct responses; tokens mean {tokens.mean():.1f}, median {np.median(tokens):.0f}, "
        f"max {tokens.max()}; > 128 tokens: {(tokens > 128).sum()}, > 256 (truncated): {(tokens > 256).sum()}"
    )
    rng = np.random.default_rng(0)
    sample = [texts[i] for i in rng.choice(len(texts), size=min(args.n, len(texts)), replace=False)]
    # warm both paths (model load, bf16 copy, kernels) on a few texts
    default_path(sample[:64], args.batch_size), reference(sample[:64], args.batch_size)
    on_torch(sample[:64], args.batch_size)
    variants = {
        "default (pluralis embed_texts)": default_path,
        "reference (sentence-transformers fp32)": reference,
        "default precision on torch, by characters": by_characters,
        "default precision on torch, by tokens": on_torch,
    }
    times: dict[str, list[float]] = {k: [] for k in variants}
    vectors: dict[str, np.ndarray] = {}
    for _ in range(args.repeat):
        for name, f in variants.items():
            t = time.perf_counter()
            vectors[name] = f(sample, args.batch_size)
            times[name].append(time.perf_counter() - t)
    rate = {k: len(sample) / min(v) for k, v in times.items()}
    ref_name, fast_name = list(variants)[1], list(variants)[0]
    cos = (vectors[fast_name] * vectors[ref_name]).sum(axis=1)
    print(f"\n{len(sample):,} texts, batch {args.batch_size}, best of {args.repeat}:")
    for k in variants:
        print(f"  {k:<40} {rate[k]:7.1f} texts/s")
    print(
        f"  speed-up {rate[fast_name] / rate[ref_name]:.2f}x; cosine with the reference: "
        f"min {cos.min():.5f}, mean {cos.mean():.5f}"
    )
    chars, tokens_torch = list(variants)[2], list(variants)[3]
    print(
        f"  on torch, batches by token count vs by characters (same precision): {rate[tokens_torch] / rate[chars]:.2f}x"
    )
    if resolve_backend("auto") != "torch":
        print(
            f"  default backend ({resolve_backend('auto')}) vs torch, same precision: {rate[fast_name] / rate[tokens_torch]:.2f}x"
        )
    print(
        f"projected encoding of all {len(texts):,} texts: default {len(texts) / rate[fast_name]:.0f} s, "
        f"reference {len(texts) / rate[ref_name]:.0f} s"
    )
    if args.cold:
        dt = cold_learn(study)
        print(f"cold `pluralis learn --features embedding --by gender` (empty cache): {dt:.1f} s")
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
