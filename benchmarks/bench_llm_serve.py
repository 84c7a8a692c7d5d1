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

    .venv/bin/python benchmarks/bench_llm_serve.py [--clients 8] [--max-tokens 32] [--model DIR] [--gguf FILE]
"""

from __future__ import annotations

import argparse
import asyncio
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


def run(app, bodies: list[dict], repeat: int) -> tuple[float, list[httpx.Response]]:
    best, out = float("inf"), []
    for _ in range(repeat):
        start = time.perf_counter()
        out = asyncio.run(burst(app, bodies))
        best = min(best, time.perf_counter() - start)
    assert all(r.status_code == 200 for r in out), [r.text for r in out if r.status_code != 200][:1]
    return best, out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--max-tokens", type=int, default=32)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--model", help="a local transformers model folder (default: the tests' tiny model)")
    ap.add_argument("--gguf", help="a GGUF file for the llama.cpp part (skipped without it)")
    args = ap.parse_args()
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
    run(create_app({"m": backend}), bodies[:1], 1)  # warm-up
    calls.clear()
    t_single, _ = run(create_app({"m": backend}), bodies, args.repeat)
    n_single = len(calls) // args.repeat
    calls.clear()
    batching = BatchingBackend(backend, max_batch=max(8, args.clients))
    t_batch, _ = run(create_app({"m": batching}), bodies, args.repeat)
    n_batch = len(calls) // args.repeat
    print(f"{args.clients} concurrent chats x {args.max_tokens} tokens, model {Path(folder).name}")
    print(f"  one at a time: {t_single:7.3f} s  ({n_single} generate calls)")
    print(f"  batched:       {t_batch:7.3f} s  ({n_batch} generate call(s), sizes {batching.batch_sizes[-n_batch:]})")
    print(f"  -> {t_single / t_batch:.1f}x")

    if args.gguf:
        from pluralis.llm.llamacpp_backend import LlamaCppBackend

        names = ("a", "b")
        llama = {n: LlamaCppBackend(spec_for_path(args.gguf, name=n, backend="llama_cpp"), n_threads=1) for n in names}
        for b in llama.values():
            b.load()
        gbodies = [{**b, "model": names[k % 2], "min_tokens": 0} for k, b in enumerate(bodies[:4])]
        app = create_app(llama)
        run(app, gbodies, 1)  # warm-up
        t_conc, _ = run(app, gbodies, args.repeat)
        t_seq = float("inf")
        for _ in range(args.repeat):  # the same chats, one after another (a server answering one at a time)
            start = time.perf_counter()
            for b in gbodies:
                run(app, [b], 1)
            t_seq = min(t_seq, time.perf_counter() - start)
        print(f"llama.cpp, {len(gbodies)} chats over 2 models (1 thread each), {Path(args.gguf).name}")
        print(f"  in turn: {t_seq:7.3f} s   concurrently in one `pluralis llm serve`: {t_conc:7.3f} s")
        print(f"  -> {t_seq / t_conc:.1f}x")


if __name__ == "__main__":
    main()
