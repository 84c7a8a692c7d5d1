"""Aligners, one registered class per module (see :mod:`pluralis.align.registry`).

* :mod:`.dpo` — DPO (TRL ``DPOTrainer``) with LoRA; saves the adapter and a merged model.
* :mod:`.best_of_n` — inference-time alignment: a group reward model picks the best of n samples.
* :mod:`.grpo` — GRPO (TRL ``GRPOTrainer``) with the group reward model as the reward.
"""
