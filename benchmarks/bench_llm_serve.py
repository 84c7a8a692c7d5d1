"""Benchmark: concurrent chats against `pluralis llm serve`, batched vs one at a time.

The server app runs in-process (ASGI, no sockets); ``--clients`` chats arrive at once, each a
different prompt, greedy, ``--max-tokens`` tokens. Timed (best of ``--repeat``):

* batched: the default, :class:`~pluralis.llm.server.BatchingBackend` (one padded
  ``generate`` call per batch);
* one at a time: the plain backend (one ``generate`` call per chat, serialised per model) —
  what the server did before batching;
* llama.cpp (``--gguf FILE``): the same chats spread over two llama.cpp models served by ONE
  ``pluralis llm serve`` (concurrent across models) vs those models answering in turn.

The default model is the tests' tiny random-weight Llama, built offline in a temporary folder
(``--model DIR`` takes a real ``transformers`` folder instead). Numbers depend on the model and
the machine: a tiny model on 2 busy cores shows the call overhead that batching removes; a real
model on a GPU shows the throughput gain.

The variants run interleaved (best of ``--repeat``), so the load of a busy shared machine hits
each alike; wall and CPU seconds are printed. ``--torch-threads 1`` pins torch's intra-op threads
(``pluralis llm serve --torch-threads``): on a busy CPU, torch's default of one thread per core
can make a batched ``generate`` slower than the serial calls (see ``benchmarks/README.md``).

    .venv/bin/python benchmarks/bench_llm_serve.py [--clients 8] [--max-tokens 32] [--model DIR] [--gguf FILE]
                                                   [--torch-threads N] [--repeat 3]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "llm"))

from pluralis.llm.server import BatchingBackend, create_app, spec_for_path
from pluralis.llm.transformers_backend import TransformersBackend

PROMPTS = [
    "What is the capital of France?",
    "Trains or planes?",
    "Hello! How can I help you today?",
    "What do you value most?",
    "Tell me about your day.",
    "Is it ethical to eat meat?",
    "Explain gravity simply.",
    "Give me advice on saving money.",
]


async def burst(app, bodies: list[dict]) -> list[httpx.Response]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bench") as client:
        return await asyncio.gather(*(client.post("/v1/chat/completions", json=b, timeout=600) for b in bodies))


async def in_turn(app, bodies: list[dict]) -> list[httpx.Response]:
    """The same chats one after another (what a server answering one request at a time gives)."""
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bench") as client:
        return [await client.post("/v1/chat/completions", json=b, timeout=600) for b in bodies]


def run(app, bodies: list[dict], repeat: int, sequential: bool = False) -> tuple[float, list[httpx.Response]]:
    """Best wall time of ``repeat`` bursts (``sequential``: the chats in turn), and the last responses."""
    best, out = float("inf"), []
    for _ in range(repeat):
        start = time.perf_counter()
        out = asyncio.run(in_turn(app, bodies) if sequential else burst(app, bodies))
        best = min(best, time.perf_counter() - start)
    assert all(r.status_code == 200 for r in out), [r.text for r in out if r.status_code != 200][:1]
    return best, out


def interleaved(runs: dict[str, tuple], repeat: int) -> dict[str, tuple[float, float]]:
    """Best wall and CPU seconds of each ``name: (app, bodies, sequential)``, the runs interleaved
    (a busy shared machine's load then hits every variant alike)."""
    best = {name: (float("inf"), float("inf")) for name in runs}
    for _ in range(repeat):
        for name, (app, bodies, sequential) in runs.items():
            cpu = time.process_time()
            wall, _ = run(app, bodies, 1, sequential)
            best[name] = (min(best[name][0], wall), min(best[name][1], time.process_time() - cpu))
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--max-tokens", type=int, default=32)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--model", help="a local transformers model folder (default: the tests' tiny model)")
    ap.add_argument("--gguf", help="a GGUF file for the llama.cpp part (skipped without it)")
    ap.add_argument(
        "--torch-threads", type=int, default=None, help="torch intra-op threads (default: torch's, one per core)"
    )
    args = ap.parse_args()
    import torch

    if args.torch_threads:
        torch.set_num_threads(args.torch_threads)
    print(f"{os.cpu_count()} CPU cores, load average {os.getloadavg()[0]:.1f}; torch threads {torch.get_num_threads()}")
    folder = args.model
    if folder is None:
        from llm_tiny_model import build_tiny_model

        folder = str(build_tiny_model(Path(tempfile.mkdtemp()) / "tiny"))
    backend = TransformersBackend(spec_for_path(folder, name="m", backend="transformers"))
    backend.load()
    bodies = [
        {
            "model": "m",
            "messages": [{"role": "user", "content": PROMPTS[k % len(PROMPTS)]}],
            "max_tokens": args.max_tokens,
            "min_tokens": args.max_tokens,
            "temperature": 0,
        }
        for k in range(args.clients)
    ]
    calls: list[int] = []
    original = backend._model.generate

    def counting(*a, **kw):
        calls.append(int(kw.get("input_ids", a[0] if a else None).shape[0]))
        return original(*a, **kw)

    backend._model.generate = counting
    batching = BatchingBackend(backend, max_batch=max(8, args.clients))
    apps = {"one at a time": create_app({"m": backend}), "batched": create_app({"m": batching})}
    run(apps["one at a time"], bodies[:1], 1)  # warm-up
    calls.clear()
    best = interleaved({name: (app, bodies, False) for name, app in apps.items()}, args.repeat)
    n_calls = len(calls) // args.repeat
    print(
        f"{args.clients} concurrent chats x {args.max_tokens} tokens, model {Path(folder).name} (best of {args.repeat})"
    )
    for name, (wall, cpu) in best.items():
        print(f"  {name + ':':<15}{wall:8.3f} s wall {cpu:8.3f} s CPU")
    print(f"  ({n_calls} generate calls per repeat in all; batch sizes {batching.batch_sizes[-args.repeat :]})")
    t_single, t_batch = best["one at a time"][0], best["batched"][0]
    print(f"  -> batched {t_single / t_batch:.1f}x faster than one at a time (wall)")

    if args.gguf:
        from pluralis.llm.llamacpp_backend import LlamaCppBackend

        names = ("a", "b")
        llama = {n: LlamaCppBackend(spec_for_path(args.gguf, name=n, backend="llama_cpp"), n_threads=1) for n in names}
        for b in llama.values():
            b.load()
        gbodies = [{**b, "model": names[k % 2], "min_tokens": 0} for k, b in enumerate(bodies[:4])]
        app = create_app(llama)
        run(app, gbodies, 1)  # warm-up
        best = interleaved({"in turn": (app, gbodies, True), "concurrently": (app, gbodies, False)}, args.repeat)
        print(f"llama.cpp, {len(gbodies)} chats over 2 models (1 thread each), {Path(args.gguf).name}")
        for name, (wall, cpu) in best.items():
            print(f"  {name + ':':<15}{wall:8.3f} s wall {cpu:8.3f} s CPU")
        print(f"  -> concurrent {best['in turn'][0] / best['concurrently'][0]:.1f}x faster than in turn (wall)")


if __name__ == "__main__":
    main()
