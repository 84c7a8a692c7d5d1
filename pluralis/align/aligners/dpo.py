"""DPO with LoRA (TRL ``DPOTrainer`` + peft) on a group's chosen/rejected pairs.

The base model is any local causal LM: a Hugging Face folder, a ``.gguf`` file (dequantised once to a
float folder, :func:`pluralis.align.models.resolve_base_model`) or ``"smollm2"``. Training uses the
CPU-practical settings of :mod:`pluralis.align.training` on CPU and GPU settings on CUDA; the
reference model is the base with the adapter disabled. Graded labels: a level-*k* pair is repeated *k*
times. The output folder holds ``adapter/`` (LoRA weights), ``merged/`` (the merged float model,
servable as is) and the manifest (:class:`pluralis.align.base.AlignedModel`) with training metrics
(step times, tokens/s, loss, reward accuracy).

Example
-------
>>> a = DPOAligner(steps=2, batch_size=2)
>>> a.name, a.options()["beta"]
('dpo', 0.1)
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, ClassVar

import pandas as pd

from pluralis.align.base import AlignedModel
from pluralis.align.registry import register_aligner
from pluralis.errors import ConfigError


@register_aligner
@dataclass
class DPOAligner:
    """Direct preference optimisation with a LoRA adapter.

    Parameters
    ----------
    base_model
        ``"smollm2"``, a model folder or a ``.gguf`` file.
    device
        ``"auto"`` (CUDA when available), ``"cpu"`` or ``"cuda"``.
    steps, epochs
        optimizer steps (``None``: ``epochs`` passes over the pairs).
    batch_size, grad_accum
        pairs per device batch and gradient-accumulation steps.
    learning_rate, beta, loss_type
        LoRA learning rate; DPO's β (deviation from the reference); TRL's loss type.
    max_length
        tokens of prompt + completion (``None``: 256 on CPU, 1024 on CUDA).
    lora_r, lora_alpha, lora_dropout
        LoRA rank, scale and dropout.
    lora_layers
        adapt the top *k* decoder layers (``"auto"``: 8 on CPU, all on CUDA; ``None``: all).
    bf16, gradient_checkpointing, precompute_ref
        ``"auto"`` or a boolean (see :mod:`pluralis.align.training`).
    merge
        also save the merged model (``merged/``).
    seed, cache
        random seed; folder for converted GGUF models.

    Example
    -------
    >>> DPOAligner(lora_layers=None).options()["lora_layers"] is None
    True
    """

    name: ClassVar[str] = "dpo"

    base_model: str = "smollm2"
    device: str = "auto"
    steps: int | None = None
    epochs: float = 1.0
    batch_size: int = 4
    grad_accum: int = 1
    learning_rate: float = 1e-4
    beta: float = 0.1
    loss_type: str = "sigmoid"
    max_length: int | None = None
    lora_r: int = 8
    lora_alpha: int = 16
    lora_dropout: float = 0.0
    lora_layers: int | str | None = "auto"
    bf16: bool | str = "auto"
    gradient_checkpointing: bool | str = "auto"
    precompute_ref: bool | str = "auto"
    merge: bool = True
    seed: int = 0
    cache: str | None = None

    def options(self) -> dict[str, Any]:
        """The settings as plain data (stored in the manifest)."""
        return {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(self).items()}

    def dpo_config(self, out: str | Path, device: str, n_rows: int) -> Any:
        """TRL's ``DPOConfig`` with this aligner's settings (see :mod:`pluralis.align.training`).

        Example
        -------
        >>> c = DPOAligner(steps=1, bf16=False).dpo_config("/tmp/dpo-doc", "cpu", 8)
        >>> c.max_length, c.gradient_checkpointing, c.beta
        (256, False, 0.1)
        """
        from trl import DPOConfig

        from pluralis.align.training import CPU_MAX_LENGTH, GPU_MAX_LENGTH, trainer_args

        cpu = device == "cpu"
        passes = self.epochs if not self.steps else self.steps * self.batch_size * self.grad_accum / max(n_rows, 1)
        precompute = passes > 1.0 if self.precompute_ref == "auto" else bool(self.precompute_ref)
        max_length = self.max_length or (CPU_MAX_LENGTH if cpu else GPU_MAX_LENGTH)
        return DPOConfig(
            **trainer_args(
                device=device,
                out=out,
                batch_size=self.batch_size,
                grad_accum=self.grad_accum,
                learning_rate=self.learning_rate,
                steps=self.steps,
                epochs=self.epochs,
                bf16=self.bf16,
                gradient_checkpointing=self.gradient_checkpointing,
                seed=self.seed,
            ),
            beta=float(self.beta),
            loss_type=[self.loss_type],
            max_length=int(max_length),
            precompute_ref_log_probs=precompute,
            remove_unused_columns=True,
        )

    def lora_layer_count(self, device: str) -> int | None:
        """Decoder layers to adapt (``lora_layers="auto"``: 8 on CPU, all on CUDA).

        Example
        -------
        >>> DPOAligner().lora_layer_count("cpu"), DPOAligner().lora_layer_count("cuda")
        (8, None)
        """
        from pluralis.align.training import CPU_LORA_LAYERS

        if self.lora_layers == "auto":
            return CPU_LORA_LAYERS if device == "cpu" else None
        return None if self.lora_layers is None else int(self.lora_layers)

    def fit(self, pairs: pd.DataFrame, out: str | Path, *, data_settings: dict | None = None) -> AlignedModel:
        """Train on ``pairs`` (chosen/rejected rows of :mod:`pluralis.align.pairs`) and write the model to ``out``.

        Example
        -------
        >>> # DPOAligner(steps=4).fit(data.train, "runs/dpo-female")
        """
        try:
            import datasets
            from trl import DPOTrainer
        except ImportError:
            raise ConfigError("DPO needs the [align] extra: pip install 'pluralis[align]'") from None
        from pluralis.align.models import load_model, resolve_base_model, resolve_device
        from pluralis.align.pairs import to_trl
        from pluralis.align.training import (
            lora_config,
            peak_memory_mb,
            quiet_trainer,
            save_adapter_and_merged,
            step_timer,
        )

        if not len(pairs):
            raise ConfigError("no training pairs")
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        device = resolve_device(self.device)
        base = resolve_base_model(self.base_model, cache=self.cache)
        model, tokenizer = load_model(base, device=device, train=True)
        rows = to_trl(pairs, repeat_by_weight=True)
        dataset = datasets.Dataset.from_list(rows)
        args = self.dpo_config(out / "trainer", device, len(rows))
        timer = step_timer()
        start = time.perf_counter()
        trainer = DPOTrainer(
            model=model,
            args=args,
            train_dataset=dataset,
            processing_class=tokenizer,
            peft_config=lora_config(
                model,
                r=self.lora_r,
                alpha=self.lora_alpha,
                dropout=self.lora_dropout,
                layers=self.lora_layer_count(device),
            ),
            callbacks=[timer],
        )
        quiet_trainer(trainer)
        setup_s = time.perf_counter() - start
        result = trainer.train()
        if not trainer.accelerator.is_main_process:  # under `accelerate launch`: rank 0 writes the model
            trainer.accelerator.wait_for_everyone()
            return AlignedModel(out, {})
        adapter, merged = save_adapter_and_merged(trainer.model, tokenizer, out, merge=self.merge)
        metrics = training_metrics(timer, result, setup_s=setup_s, device=device)
        metrics["train_rows"] = len(rows)
        metrics["peak_memory_mb"] = peak_memory_mb(device)
        model_out = AlignedModel.create(
            out,
            aligner=self.name,
            base_model=base,
            options=self.options(),
            model_dir=merged,
            data=data_settings,
            metrics=metrics,
            extra={"adapter_dir": adapter, "base_source": str(self.base_model), "device": device},
        )
        trainer.accelerator.wait_for_everyone()
        return model_out


def training_metrics(timer: Any, result: Any, *, setup_s: float, device: str) -> dict[str, Any]:
    """Step times, tokens/s and the last logged training metrics of a TRL run.

    Parameters
    ----------
    timer : Any
        The run's step timer callback (its ``times``, seconds per step, and ``logs``, the trainer's logs).
    result : Any
        The trainer's ``train()`` output (its ``training_loss``).
    setup_s : float
        Seconds spent loading the model and data before training.
    device : str
        The device trained on (recorded as is).

    Returns
    -------
    dict of str to Any
        ``steps``, ``step_seconds``, ``mean_step_s``, ``train_seconds``, ``setup_seconds``, ``tokens``,
        ``tokens_per_s`` and the last logged metrics.

    Example
    -------
    >>> class T: times, logs = [2.0, 1.0], [{"loss": 0.6, "num_tokens": 300.0}]
    >>> class R: training_loss = 0.6
    >>> m = training_metrics(T(), R(), setup_s=0.5, device="cpu")
    >>> m["steps"], m["tokens_per_s"]
    (2, 100.0)
    """
    times = list(timer.times)
    tokens = None
    last: dict[str, Any] = {}
    for log in timer.logs:
        if "num_tokens" in log:
            tokens = float(log["num_tokens"])
        if "loss" in log:
            last = log
    total = float(sum(times))
    return {
        "steps": len(times),
        "step_seconds": [round(t, 3) for t in times],
        "mean_step_s": total / len(times) if times else None,
        "train_seconds": total,
        "setup_seconds": float(setup_s),
        "tokens": tokens,
        "tokens_per_s": (tokens / total) if (tokens and total) else None,
        "train_loss": float(getattr(result, "training_loss", float("nan"))),
        "last_log": last,
        "device": device,
    }
