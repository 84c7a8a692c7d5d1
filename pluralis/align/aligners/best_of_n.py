"""Best-of-n with a group reward model: inference-time alignment (no weights change; cheap on CPU).

``fit`` trains the group's reward model (:func:`pluralis.align.rewards.fit_reward_model`: text or
embedding features, graded labels as sample weights) on the pairs and writes it with the manifest;
serving (:class:`pluralis.align.serving.BestOfNBackend`) samples ``n`` responses from the base model
and returns the one the reward model scores highest.

Example
-------
>>> import tempfile
>>> from pluralis.align.planted import planted_question_pairs
>>> p = planted_question_pairs(20, 5, seed=0)
>>> base = tempfile.mkdtemp(); _ = open(base + "/config.json", "w").write("{}")   # any model folder
>>> m = BestOfNAligner(base_model=base, n=4).fit(p[p["group"] == "A"], tempfile.mkdtemp())
>>> m.aligner, (m.path / "reward_model.json").is_file()
('best_of_n', True)
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
class BestOfNAligner:
    """Pick the best of ``n`` samples with the group's reward model.

    Parameters
    ----------
    base_model
        ``"smollm2"``, a model folder or a ``.gguf`` file (resolved when served; recorded now).
    device
        where the served model samples (``"auto"``, ``"cpu"``, ``"cuda"``).
    n
        samples per request.
    temperature, top_p, max_tokens
        sampling settings of the candidates.
    features, feature_set, alpha
        the reward model (``"text"`` or ``"embedding"`` features; text feature set; L2 penalty).
    reward_model
        an existing reward model JSON to use instead of fitting one.
    cache
        folder for converted GGUF models.

    Example
    -------
    >>> BestOfNAligner(n=8).options()["n"]
    8
    """

    name: ClassVar[str] = "best_of_n"

    base_model: str = "smollm2"
    device: str = "auto"
    n: int = 4
    temperature: float = 0.8
    top_p: float = 0.95
    max_tokens: int = 128
    features: str = "text"
    feature_set: str = "all"
    alpha: float = 1.0
    reward_model: str | None = None
    cache: str | None = None

    def options(self) -> dict[str, Any]:
        """The settings as plain data (stored in the manifest)."""
        return asdict(self)

    def fit(self, pairs: pd.DataFrame, out: str | Path, *, data_settings: dict | None = None) -> AlignedModel:
        """Fit (or copy) the group reward model and write the servable folder ``out``."""
        from pluralis.align.models import resolve_base_model
        from pluralis.align.rewards import GroupRewardModel, fit_reward_model
        from pluralis.align.serving import REWARD_FILE

        if self.n < 1:
            raise ConfigError(f"n must be at least 1, got {self.n}")
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        start = time.perf_counter()
        if self.reward_model:
            rm = GroupRewardModel.load(self.reward_model)
        else:
            if not len(pairs):
                raise ConfigError("no training pairs")
            rm = fit_reward_model(pairs, features=self.features, feature_set=self.feature_set, alpha=self.alpha)
        rm.save(out / REWARD_FILE)
        fit_s = time.perf_counter() - start
        # resolved (a GGUF converted) now, so serving never converts on its first request
        base = resolve_base_model(self.base_model, cache=self.cache)
        metrics = {"reward_fit_seconds": fit_s, **rm.info}
        if rm.features == "text":
            metrics["reward_weights"] = {k: float(v) for k, v in rm.coefficients().items()}
        return AlignedModel.create(
            out,
            aligner=self.name,
            base_model=base,
            options=self.options(),
            model_dir=None,
            data=data_settings,
            metrics=metrics,
            extra={"base_source": str(self.base_model), "reward_model": REWARD_FILE},
        )
