"""Shared plumbing of the trained aligners (DPO, GRPO): practical TRL settings, LoRA, timing, saving.

CPU-practical defaults (measured with ``benchmarks/bench_align.py``; TRL's defaults target GPUs):

=============================  =========================  ==================================================
setting                        TRL default                Pluralis default on CPU (``device="cpu"``)
=============================  =========================  ==================================================
``gradient_checkpointing``     True (recompute forward)   False: a 135M–1B model's activations fit in RAM;
                                                          recomputing them costs a forward per step
LoRA layers                    all (``all-linear``)       the top ``lora_layers`` decoder layers (8): the
                                                          backward pass stops at the lowest adapted layer
``bf16``                       True                       True only where the CPU has native bf16 (AVX-512
                                                          BF16 / AMX), else float32 (emulated bf16 is slow)
``max_length``                 1024                       256 tokens (prompt + completion)
``precompute_ref_log_probs``   False                      True when training passes over the data more than
                                                          once (the base model scores each pair once)
``logging_steps``              10                         1 (metrics are cheap; progress is visible)
``dataloader_num_workers``     0                          0; ``dataloader_pin_memory`` off on CPU
=============================  =========================  ==================================================

On CUDA: bf16 when the GPU supports it, all layers adapted, gradient checkpointing off (on with
``gradient_checkpointing=True`` for large models), ``max_length`` 1024. Several GPUs: run the same
command under ``accelerate launch`` (TRL and the Trainer pick up the distributed state); nothing here
distributes work by itself.

The reference model is never a copy: with LoRA the reference is the base model with the adapter
disabled (TRL's default for PEFT models).

Example
-------
>>> cpu_bf16_supported() in (True, False)
True
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from pluralis.errors import ConfigError
from pluralis.features.embeddings import cpu_bf16_supported

#: Decoder layers adapted by LoRA on CPU (the top ones); ``None`` = all.
CPU_LORA_LAYERS = 8
CPU_MAX_LENGTH = 256
GPU_MAX_LENGTH = 1024


def use_bf16(bf16: bool | str, device: str) -> bool:
    """Resolve ``bf16="auto"``: on CPU when natively supported, on CUDA when the GPU supports it.

    Parameters
    ----------
    bf16 : bool or str
        True, False or ``"auto"``.
    device : str
        ``"cpu"`` or ``"cuda"``.

    Returns
    -------
    bool
        Whether to train in bfloat16.

    Example
    -------
    >>> use_bf16(False, "cuda"), use_bf16(True, "cpu")
    (False, True)
    """
    if isinstance(bf16, bool):
        return bf16
    if bf16 != "auto":
        raise ConfigError(f"bf16 must be true, false or 'auto', got {bf16!r}")
    if device == "cpu":
        return cpu_bf16_supported()
    import torch

    return bool(torch.cuda.is_available() and torch.cuda.is_bf16_supported())


def decoder_layer_count(model: Any) -> int:
    """Number of decoder layers (``config.num_hidden_layers``).

    Parameters
    ----------
    model : Any
        A Hugging Face model.

    Returns
    -------
    int
        The number of decoder layers.

    Example
    -------
    >>> class C: num_hidden_layers = 30
    >>> class M: config = C()
    >>> decoder_layer_count(M())
    30
    """
    config = model.config.get_text_config() if hasattr(model.config, "get_text_config") else model.config
    n = getattr(config, "num_hidden_layers", None)
    if not n:
        raise ConfigError(f"cannot tell how many layers {type(model).__name__} has")
    return int(n)


def linear_targets(model: Any) -> list[str]:
    """Names (last component) of the linear layers inside the decoder layers: LoRA's target modules.

    Parameters
    ----------
    model : Any
        A Hugging Face model.

    Returns
    -------
    list of str
        Distinct module names.

    Example
    -------
    >>> import torch
    >>> class Block(torch.nn.Module):
    ...     def __init__(self):
    ...         super().__init__(); self.q_proj = torch.nn.Linear(2, 2); self.up_proj = torch.nn.Linear(2, 2)
    >>> class M(torch.nn.Module):
    ...     def __init__(self):
    ...         super().__init__(); self.layers = torch.nn.ModuleList([Block()]); self.lm_head = torch.nn.Linear(2, 3)
    >>> linear_targets(M())
    ['q_proj', 'up_proj']
    """
    import torch

    names = {
        name.rsplit(".", 1)[-1]
        for name, mod in model.named_modules()
        if isinstance(mod, torch.nn.Linear) and ".layers." in f".{name}"
    }
    if not names:
        raise ConfigError(f"{type(model).__name__}: no linear layers inside decoder layers to adapt")
    return sorted(names)


def lora_config(model: Any, *, r: int = 8, alpha: int = 16, dropout: float = 0.0, layers: int | None = None):
    """A peft ``LoraConfig`` adapting every linear layer of the top ``layers`` decoder layers (``None``: all).

    Parameters
    ----------
    model : Any
        The model to adapt.
    r : int
        LoRA rank (default 8).
    alpha : int
        LoRA scaling alpha (default 16).
    dropout : float
        LoRA dropout (default 0).
    layers : int, optional
        Number of top decoder layers adapted; ``None`` (default) adapts all.

    Returns
    -------
    peft.LoraConfig
        The configuration.

    Example
    -------
    >>> import torch
    >>> class Cfg: num_hidden_layers = 4
    >>> class M(torch.nn.Module):
    ...     config = Cfg()
    ...     def __init__(self):
    ...         super().__init__()
    ...         self.layers = torch.nn.ModuleList([torch.nn.ModuleDict({"q_proj": torch.nn.Linear(2, 2)})
    ...                                            for _ in range(4)])
    >>> c = lora_config(M(), layers=2)
    >>> sorted(c.target_modules), c.layers_to_transform
    (['q_proj'], [2, 3])
    """
    try:
        from peft import LoraConfig
    except ImportError:
        raise ConfigError("LoRA needs peft: pip install 'pluralis[align]'") from None
    if r < 1:
        raise ConfigError(f"lora_r must be at least 1, got {r}")
    n = decoder_layer_count(model)
    keep = None
    if layers is not None:
        if layers < 1:
            raise ConfigError(f"lora_layers must be at least 1 (or None for all), got {layers}")
        keep = list(range(max(0, n - int(layers)), n)) if layers < n else None
    return LoraConfig(
        r=int(r),
        lora_alpha=int(alpha),
        lora_dropout=float(dropout),
        target_modules=linear_targets(model),
        layers_to_transform=keep,
        layers_pattern="layers" if keep is not None else None,
        task_type="CAUSAL_LM",
        bias="none",
    )


def trainer_args(
    *,
    device: str,
    out: str | Path,
    batch_size: int,
    grad_accum: int,
    learning_rate: float,
    steps: int | None,
    epochs: float,
    bf16: bool | str,
    gradient_checkpointing: bool | str,
    seed: int,
    logging_steps: int = 1,
) -> dict[str, Any]:
    """Keyword arguments common to TRL's ``DPOConfig`` and ``GRPOConfig`` (the table of the module docstring).

    Parameters
    ----------
    device : str
        ``"cpu"`` or ``"cuda"``.
    out : str or pathlib.Path
        The trainer's output folder.
    batch_size : int
        Per-device batch size.
    grad_accum : int
        Gradient accumulation steps.
    learning_rate : float
        Learning rate (constant schedule).
    steps : int or None
        Training steps; ``None`` or 0 trains for ``epochs``.
    epochs : float
        Epochs when ``steps`` is not set.
    bf16 : bool or str
        Train in bfloat16: True, False or ``"auto"`` (see :func:`use_bf16`).
    gradient_checkpointing : bool or str
        Gradient checkpointing; ``"auto"`` is off.
    seed : int
        Training and data seed.
    logging_steps : int
        Steps between logs (default 1).

    Returns
    -------
    dict of str to Any
        The keyword arguments.

    Example
    -------
    >>> a = trainer_args(device="cpu", out="/tmp/x", batch_size=2, grad_accum=1, learning_rate=1e-4, steps=3,
    ...                  epochs=1.0, bf16=False, gradient_checkpointing="auto", seed=0)
    >>> a["max_steps"], a["gradient_checkpointing"], a["use_cpu"], a["report_to"]
    (3, False, True, [])
    """
    cpu = device == "cpu"
    gc = False if gradient_checkpointing == "auto" else bool(gradient_checkpointing)
    bf = use_bf16(bf16, "cpu" if cpu else "cuda")
    return {
        "output_dir": str(out),
        "per_device_train_batch_size": int(batch_size),
        "gradient_accumulation_steps": int(grad_accum),
        "learning_rate": float(learning_rate),
        "max_steps": int(steps) if steps else -1,
        "num_train_epochs": float(epochs),
        "bf16": bf,
        "fp16": False,
        "gradient_checkpointing": gc,
        "use_cpu": cpu,
        "dataloader_num_workers": 0,
        "dataloader_pin_memory": not cpu,
        "logging_steps": int(logging_steps),
        "save_strategy": "no",
        "report_to": [],
        "seed": int(seed),
        "data_seed": int(seed),
        "disable_tqdm": True,
        "lr_scheduler_type": "constant",
        "warmup_steps": 0,
    }


def step_timer():
    """A transformers ``TrainerCallback`` recording wall time per optimizer step (``.times``) and the logs.

    Example
    -------
    >>> cb = step_timer()
    >>> cb.times, cb.logs
    ([], [])
    """
    from transformers import TrainerCallback

    class StepTimer(TrainerCallback):
        def __init__(self) -> None:
            self.times: list[float] = []
            self.logs: list[dict] = []
            self._t = 0.0

        def on_step_begin(self, args, state, control, **kwargs):
            self._t = time.perf_counter()

        def on_step_end(self, args, state, control, **kwargs):
            self.times.append(time.perf_counter() - self._t)

        def on_log(self, args, state, control, logs=None, **kwargs):
            if logs:
                self.logs.append({k: (float(v) if isinstance(v, (int, float)) else v) for k, v in logs.items()})

    return StepTimer()


def quiet_trainer(trainer: Any) -> Any:
    """Drop the Trainer's console printer (it prints every log dict; :func:`step_timer` keeps them).

    Parameters
    ----------
    trainer : transformers.Trainer
        The trainer.

    Returns
    -------
    transformers.Trainer
        The same trainer, without printer and progress callbacks.

    Example
    -------
    >>> class T:
    ...     removed = []
    ...     def remove_callback(self, cb): self.removed.append(cb.__name__)
    >>> quiet_trainer(T()).removed
    ['PrinterCallback', 'ProgressCallback']
    """
    from transformers.trainer_callback import PrinterCallback, ProgressCallback

    for cb in (PrinterCallback, ProgressCallback):
        trainer.remove_callback(cb)
    return trainer


def save_adapter_and_merged(model: Any, tokenizer: Any, out: Path, *, merge: bool = True) -> tuple[str, str | None]:
    """Save the LoRA adapter to ``out/adapter`` and (``merge``) the merged float model to ``out/merged``.

    Returns the two folder names (relative to ``out``; the second is None without merging).

    Parameters
    ----------
    model : Any
        The trained peft model.
    tokenizer : Any
        Its tokenizer (saved with each model).
    out : pathlib.Path
        The output folder.
    merge : bool
        Also save the merged model (default True).

    Returns
    -------
    tuple of (str, str or None)
        ``"adapter"`` and ``"merged"`` (None without merging).

    Example
    -------
    >>> # save_adapter_and_merged(trainer.model, tokenizer, Path("runs/dpo"))
    """
    adapter = out / "adapter"
    model.save_pretrained(str(adapter))
    tokenizer.save_pretrained(str(adapter))
    if not merge:
        return "adapter", None
    merged = model.merge_and_unload()
    merged = merged.to(dtype=next(p for p in merged.parameters()).dtype)
    merged.save_pretrained(str(out / "merged"))
    tokenizer.save_pretrained(str(out / "merged"))
    return "adapter", "merged"


def peak_memory_mb(device: str = "cpu") -> float:
    """Peak memory of this process in MiB: resident set (CPU, ``ru_maxrss``) or CUDA's allocator peak.

    Parameters
    ----------
    device : str
        ``"cpu"`` (default) or ``"cuda"``.

    Returns
    -------
    float
        Peak memory in MiB.

    Example
    -------
    >>> peak_memory_mb() > 0
    True
    """
    if device != "cpu":
        import torch

        return float(torch.cuda.max_memory_allocated() / 2**20)
    import resource
    import sys

    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return float(rss / 2**20 if sys.platform == "darwin" else rss / 1024)
