"""GRPO (TRL ``GRPOTrainer``) with LoRA and the group's reward model as the reward.

The prompts of the group's pairs are the training prompts; for each, the policy samples
``num_generations`` completions, the group reward model (:mod:`pluralis.align.rewards`, fit on the
same pairs unless ``reward_model`` names a saved one) scores them, and GRPO raises the likelihood
of completions scored above their group's mean. ``beta=0`` (TRL's default) needs no reference model.

Real runs belong on a GPU; on a CPU a few steps with short completions (``max_completion_length``
32 by default there) show the loop works. Settings shared with DPO: :mod:`pluralis.align.training`.

Example
-------
>>> a = GRPOAligner(steps=2, num_generations=2)
>>> a.name, a.options()["num_generations"]
('grpo', 2)
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


def reward_function(reward_model: Any):
    """A TRL reward function (``prompts, completions, **kw -> list[float]``) scoring completions with ``reward_model``.

    Conversational completions (message lists) are scored on their last message's text.

    Parameters
    ----------
    reward_model : Any
        A fitted reward model with ``reward(texts)`` (one reward per completion text).

    Returns
    -------
    callable
        The reward function, named for TRL's logs.

    Example
    -------
    >>> import pandas as pd
    >>> from pluralis.align.rewards import fit_reward_model
    >>> rm = fit_reward_model(pd.DataFrame({"chosen_text": ["Ok. More?"] * 9, "rejected_text": ["Ok."] * 9}))
    >>> f = reward_function(rm)
    >>> r = f(prompts=[None, None], completions=[[{"role": "assistant", "content": "Hi?"}], "Hi."])
    >>> r[0] > r[1], f.__name__
    (True, 'group_reward')
    """

    def group_reward(prompts=None, completions=None, **kwargs) -> list[float]:
        texts = []
        for c in completions or []:
            if isinstance(c, list):
                c = c[-1].get("content", "") if c else ""
            texts.append(str(c))
        return [float(x) for x in reward_model.reward(texts)]

    return group_reward


@register_aligner
@dataclass
class GRPOAligner:
    """Group relative policy optimisation with a LoRA adapter and the group reward model.

    Parameters
    ----------
    base_model, device, lora_r, lora_alpha, lora_layers, bf16, gradient_checkpointing, seed, cache
        as :class:`~pluralis.align.aligners.dpo.DPOAligner`.
    steps, epochs
        optimizer steps (``None``: ``epochs`` passes over the prompts).
    batch_size
        completions per device batch (a multiple of ``num_generations``).
    num_generations
        completions sampled per prompt (the group GRPO normalises rewards in).
    max_completion_length
        new tokens per completion (``None``: 32 on CPU, 256 on CUDA).
    temperature, learning_rate, beta
        sampling temperature; LoRA learning rate; KL weight (0: no reference model).
    features, feature_set, alpha, reward_model
        the reward model (as :class:`~pluralis.align.aligners.best_of_n.BestOfNAligner`).
    merge
        also save the merged model.

    Example
    -------
    >>> GRPOAligner(batch_size=3, num_generations=2).check()
    Traceback (most recent call last):
    ...
    pluralis.errors.ConfigError: batch_size (3) must be a multiple of num_generations (2)
    """

    name: ClassVar[str] = "grpo"

    base_model: str = "smollm2"
    device: str = "auto"
    steps: int | None = None
    epochs: float = 1.0
    batch_size: int = 4
    num_generations: int = 4
    max_completion_length: int | None = None
    temperature: float = 0.8
    learning_rate: float = 1e-4
    beta: float = 0.0
    lora_r: int = 8
    lora_alpha: int = 16
    lora_layers: int | str | None = "auto"
    bf16: bool | str = "auto"
    gradient_checkpointing: bool | str = "auto"
    features: str = "text"
    feature_set: str = "all"
    alpha: float = 1.0
    reward_model: str | None = None
    merge: bool = True
    seed: int = 0
    cache: str | None = None

    def options(self) -> dict[str, Any]:
        """The settings as plain data (stored in the manifest)."""
        return asdict(self)

    def check(self) -> None:
        """Validate the batch geometry (TRL needs whole groups of completions per batch)."""
        if self.num_generations < 2:
            raise ConfigError(
                f"num_generations must be at least 2 (GRPO compares completions), got {self.num_generations}"
            )
        if self.batch_size % self.num_generations:
            raise ConfigError(
                f"batch_size ({self.batch_size}) must be a multiple of num_generations ({self.num_generations})"
            )

    def grpo_config(self, out: str | Path, device: str) -> Any:
        """TRL's ``GRPOConfig`` with this aligner's settings.

        Example
        -------
        >>> c = GRPOAligner(steps=1, batch_size=2, num_generations=2, bf16=False).grpo_config("/tmp/g-doc", "cpu")
        >>> c.max_completion_length, c.num_generations, c.beta
        (32, 2, 0.0)
        """
        from trl import GRPOConfig

        from pluralis.align.training import trainer_args

        self.check()
        length = self.max_completion_length or (32 if device == "cpu" else 256)
        return GRPOConfig(
            **trainer_args(
                device=device,
                out=out,
                batch_size=self.batch_size,
                grad_accum=1,
                learning_rate=self.learning_rate,
                steps=self.steps,
                epochs=self.epochs,
                bf16=self.bf16,
                gradient_checkpointing=self.gradient_checkpointing,
                seed=self.seed,
            ),
            num_generations=int(self.num_generations),
            max_completion_length=int(length),
            temperature=float(self.temperature),
            beta=float(self.beta),
            log_completions=False,
        )

    def fit(self, pairs: pd.DataFrame, out: str | Path, *, data_settings: dict | None = None) -> AlignedModel:
        """Fit the reward model, run GRPO on the pairs' prompts, write the servable folder ``out``."""
        try:
            import datasets
            from trl import GRPOTrainer
        except ImportError:
            raise ConfigError("GRPO needs the [align] extra: pip install 'pluralis[align]'") from None
        from pluralis.align.aligners.dpo import training_metrics
        from pluralis.align.models import load_model, resolve_base_model, resolve_device
        from pluralis.align.rewards import GroupRewardModel, fit_reward_model
        from pluralis.align.serving import REWARD_FILE
        from pluralis.align.training import (
            CPU_LORA_LAYERS,
            lora_config,
            peak_memory_mb,
            quiet_trainer,
            save_adapter_and_merged,
            step_timer,
        )

        self.check()
        if not len(pairs):
            raise ConfigError("no training pairs")
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        rm = (
            GroupRewardModel.load(self.reward_model)
            if self.reward_model
            else fit_reward_model(pairs, features=self.features, feature_set=self.feature_set, alpha=self.alpha)
        )
        rm.save(out / REWARD_FILE)
        device = resolve_device(self.device)
        base = resolve_base_model(self.base_model, cache=self.cache)
        model, tokenizer = load_model(base, device=device, train=True)
        seen: set[str] = set()
        prompts = []
        for chat in pairs["prompt"]:
            key = repr(chat)
            if key not in seen:
                seen.add(key)
                prompts.append({"prompt": [dict(m) for m in chat]})
        dataset = datasets.Dataset.from_list(prompts)
        layers = (CPU_LORA_LAYERS if device == "cpu" else None) if self.lora_layers == "auto" else self.lora_layers
        timer = step_timer()
        start = time.perf_counter()
        trainer = GRPOTrainer(
            model=model,
            reward_funcs=reward_function(rm),
            args=self.grpo_config(out / "trainer", device),
            train_dataset=dataset,
            processing_class=tokenizer,
            peft_config=lora_config(
                model, r=self.lora_r, alpha=self.lora_alpha, layers=None if layers is None else int(layers)
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
        rewards = [log["reward"] for log in timer.logs if "reward" in log]
        metrics.update(
            {"train_prompts": len(prompts), "mean_reward_by_step": rewards, "peak_memory_mb": peak_memory_mb(device)}
        )
        model_out = AlignedModel.create(
            out,
            aligner=self.name,
            base_model=base,
            options=self.options(),
            model_dir=merged,
            data=data_settings,
            metrics=metrics,
            extra={"adapter_dir": adapter, "base_source": str(self.base_model), "reward_model": REWARD_FILE},
        )
        trainer.accelerator.wait_for_everyone()
        return model_out
