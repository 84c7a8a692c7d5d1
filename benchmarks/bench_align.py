"""DPO step time, tokens/s and peak memory: Pluralis's defaults vs TRL's defaults, in one process.

    .venv/bin/python benchmarks/bench_align.py                 # CPU, SmolLM2-135M-Instruct, LoRA r=8, batch 4
    .venv/bin/python benchmarks/bench_align.py --device cuda   # the same on a GPU (bf16 where supported)
    .venv/bin/python benchmarks/bench_align.py --steps 6 --max-length 128 --model /path/to/model

Both runs train the same LoRA (r=8, alpha=16) with DPO on the same pairs (the planted question preference,
prompt + answer ≤ 128 tokens) for ``--steps`` optimizer steps of ``--batch`` pairs; the first step is
warm-up and not timed. "TRL defaults" is ``DPOConfig`` with only the run's size set (output dir, batch,
steps, no saving/reporting) and LoRA on every linear layer — what the issue measured (78 s/step on 2 cores).
"Pluralis defaults" is :class:`pluralis.align.aligners.dpo.DPOAligner`'s configuration for the device
(:mod:`pluralis.align.training`). Tokens per step are the pairs' tokenised prompt+chosen and
prompt+rejected lengths (identical data for both). Peak memory: the largest resident set seen while the
run trained (sampled every 50 ms; CPU) or CUDA's allocator peak. "setup" is the trainer's construction
(tokenising; with Pluralis's defaults also the reference log-probs, computed once when the data are passed
over more than once — here 4 steps × 4 pairs over 8 pairs). CPU seconds are reported too: on a shared
machine they vary less than wall time. Never needed by CI.
"""

from __future__ import annotations

import argparse
import gc
import os
import threading
import time
import warnings

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
warnings.filterwarnings("ignore")


class PeakRSS:
    """Largest resident set size (MiB) of this process while the context is open (a sampling thread)."""

    def __init__(self, interval: float = 0.05):
        import psutil

        self.proc = psutil.Process()
        self.interval = interval
        self.peak = 0.0
        self._stop = threading.Event()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self.proc.memory_info().rss / 2**20)
            self._stop.wait(self.interval)

    def __enter__(self):
        self.peak = self.proc.memory_info().rss / 2**20
        self._t = threading.Thread(target=self._run, daemon=True)
        self._t.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._t.join()


def pairs_frame(n: int):
    from pluralis.align.planted import planted_question_pairs

    p = planted_question_pairs(max(2, n // 2), 2, noise=0.0, seed=0)
    return p[p["group"] == "A"].head(n).reset_index(drop=True)


def tokens_per_pair(tokenizer, rows, max_length: int) -> float:
    total = 0
    for r in rows:
        for side in ("chosen", "rejected"):
            text = tokenizer.apply_chat_template(r["prompt"] + r[side], tokenize=False)
            total += min(len(tokenizer(text, add_special_tokens=False)["input_ids"]), max_length)
    return total / len(rows)


def run(label: str, base, rows, args, *, ours: bool) -> dict:
    import datasets
    import torch
    from peft import LoraConfig
    from trl import DPOConfig, DPOTrainer

    from pluralis.align.aligners.dpo import DPOAligner
    from pluralis.align.models import load_model
    from pluralis.align.training import lora_config, quiet_trainer, step_timer

    model, tok = load_model(base, device=args.device, train=True)
    ds = datasets.Dataset.from_list(rows)
    out = f"/tmp/pluralis-bench-align/{label}"
    if ours:
        aligner = DPOAligner(
            device=args.device, steps=args.steps, batch_size=args.batch, max_length=args.max_length, seed=0
        )
        cfg = aligner.dpo_config(out, args.device, len(rows))
        peft = lora_config(model, r=8, alpha=16, layers=aligner.lora_layer_count(args.device))
    else:
        cfg = DPOConfig(
            output_dir=out,
            per_device_train_batch_size=args.batch,
            max_steps=args.steps,
            report_to=[],
            save_strategy="no",
            use_cpu=args.device == "cpu",
            seed=0,
        )
        peft = LoraConfig(r=8, lora_alpha=16, target_modules="all-linear", task_type="CAUSAL_LM")
    timer = step_timer()
    cpu_times: list[float] = []

    from transformers import TrainerCallback

    class CPUClock(TrainerCallback):
        def on_step_begin(self, *a, **k):
            self.t = time.process_time()

        def on_step_end(self, *a, **k):
            cpu_times.append(time.process_time() - self.t)

    start, cpu0 = time.perf_counter(), time.process_time()
    trainer = DPOTrainer(
        model=model, args=cfg, train_dataset=ds, processing_class=tok, peft_config=peft, callbacks=[timer, CPUClock()]
    )
    init_s, init_cpu = time.perf_counter() - start, time.process_time() - cpu0  # tokenising (+ reference log-probs)
    quiet_trainer(trainer)
    if args.device != "cpu":
        torch.cuda.reset_peak_memory_stats()
    with PeakRSS() as mem:
        trainer.train()
    peak = mem.peak if args.device == "cpu" else torch.cuda.max_memory_allocated() / 2**20
    steps = timer.times[1:] or timer.times
    cpu = cpu_times[1:] or cpu_times
    tok_step = tokens_per_pair(tok, rows, cfg.max_length or 10**9) * args.batch
    res = {
        "label": label,
        "bf16": cfg.bf16,
        "grad_ckpt": cfg.gradient_checkpointing,
        "max_length": cfg.max_length,
        "lora_layers": "all" if peft.layers_to_transform is None else len(peft.layers_to_transform),
        "s_per_step": sum(steps) / len(steps),
        "cpu_s_per_step": sum(cpu) / len(cpu),
        "tokens_per_s": tok_step * len(steps) / sum(steps),
        "peak_mib": peak,
        "init_s": init_s,
        "init_cpu_s": init_cpu,
        "all_steps": [round(t, 2) for t in timer.times],
    }
    del trainer, model
    gc.collect()
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--model", default="smollm2")
    ap.add_argument("--steps", type=int, default=4)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--max-length", type=int, default=128)
    ap.add_argument("--order", default="trl,ours", help="run order, e.g. ours,trl")
    args = ap.parse_args()
    import torch
    import transformers

    from pluralis.align.models import resolve_base_model

    transformers.logging.set_verbosity_error()
    base = resolve_base_model(args.model)
    from pluralis.align.pairs import to_trl

    rows = to_trl(pairs_frame(args.batch * args.steps))
    print(
        f"DPO, LoRA r=8, {args.steps} steps x {args.batch} pairs (first step untimed), device {args.device}, "
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, model {base.name}"
    )
    results = {}
    for which in args.order.split(","):
        label = "TRL defaults" if which == "trl" else "Pluralis defaults"
        results[which] = run(label, base, rows, args, ours=which == "ours")
        r = results[which]
        print(
            f"{label:18s} bf16={r['bf16']!s:5s} grad_ckpt={r['grad_ckpt']!s:5s} max_len={r['max_length']:<5} "
            f"lora_layers={r['lora_layers']!s:4s} {r['s_per_step']:7.2f} s/step  {r['cpu_s_per_step']:7.2f} cpu-s/step  "
            f"{r['tokens_per_s']:8.1f} tokens/s  peak {r['peak_mib']:7.0f} MiB  setup {r['init_s']:.1f} s "
            f"({r['init_cpu_s']:.1f} cpu-s)  steps {r['all_steps']}",
            flush=True,
        )
    if {"trl", "ours"} <= set(results):
        t, o = results["trl"], results["ours"]
        print(
            f"speed-up (wall) {t['s_per_step'] / o['s_per_step']:.2f}x, (cpu) {t['cpu_s_per_step'] / o['cpu_s_per_step']:.2f}x; "
            f"peak memory {o['peak_mib'] / t['peak_mib']:.2f}x of TRL defaults"
        )


if __name__ == "__main__":
    main()
