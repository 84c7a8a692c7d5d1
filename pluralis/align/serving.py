"""Serving aligned models: every aligned folder is servable by ``pluralis llm serve --model NAME=FOLDER``.

The folder's ``pluralis_backend.json`` names :func:`aligned_backend` (the hook of
:func:`pluralis.llm.backend.folder_backend`), which returns

* for DPO and GRPO: a :class:`~pluralis.llm.transformers_backend.TransformersBackend` on the merged model;
* for best-of-n: a :class:`BestOfNBackend` — it samples ``n`` responses from the base model (in one
  batched ``generate`` call) and returns the one the group reward model scores highest.

Served this way an aligned model can be put in front of people in a collection study (its
endpoint in the study's ``[[models]]``), closing the loop: feedback → aligned model → new feedback.

Example
-------
>>> import tempfile
>>> from pluralis.align.base import AlignedModel
>>> m = AlignedModel.create(tempfile.mkdtemp(), aligner="best_of_n", base_model="/b", options={"n": 3})
>>> type(aligned_backend(m.spec(), {})).__name__
'BestOfNBackend'
"""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from pluralis.align.base import AlignedModel
from pluralis.errors import ConfigError
from pluralis.llm.errors import BackendError, BackendTimeout
from pluralis.llm.types import ChatResult, DecodingParams, ModelSpec, TokenUsage, validate_messages, with_system_prompt

REWARD_FILE = "reward_model.json"


def aligned_backend(spec: ModelSpec, info: dict | None = None) -> Any:
    """The backend that serves the aligned model in folder ``spec.path`` (see the module docstring).

    Parameters
    ----------
    spec : ModelSpec
        The model's spec; ``spec.path`` is the aligned model's folder.
    info : dict, optional
        The folder's backend file contents (passed by :func:`pluralis.llm.backend.folder_backend`; unused).

    Returns
    -------
    Any
        A :class:`BestOfNBackend` or a transformers backend on the merged model.

    Example
    -------
    >>> aligned_backend(ModelSpec(name="x", backend="transformers", path="/no/such"), {})
    Traceback (most recent call last):
    ...
    pluralis.errors.ConfigError: /no/such: not an aligned model (no pluralis_aligned.json; train one with `pluralis align train`)
    """
    from pluralis.llm.transformers_backend import TransformersBackend

    model = AlignedModel.load(Path(spec.path or ""))
    if model.aligner == "best_of_n":
        return BestOfNBackend(spec, model)
    if not model.manifest.get("model_dir"):
        raise ConfigError(f"{model.path}: no merged model to serve (train with merge=True)")
    return TransformersBackend(spec.model_copy(update={"path": str(model.model_path), "gguf_file": None}))


class BestOfNBackend:
    """Best-of-n with a group reward model, as a ChatBackend (``load``, ``chat``, ``aclose``).

    ``n``, ``temperature``, ``top_p`` and ``max_tokens`` come from the aligned model's options; a
    request's own ``temperature``/``top_p``/``max_tokens``/``seed`` override them.

    Example
    -------
    >>> import tempfile
    >>> m = AlignedModel.create(tempfile.mkdtemp(), aligner="best_of_n", base_model="/b", options={"n": 2})
    >>> BestOfNBackend(m.spec(), m).n
    2
    """

    def __init__(self, spec: ModelSpec, aligned: AlignedModel, *, model: Any = None, tokenizer: Any = None):
        self.spec = spec
        self.aligned = aligned
        opts = aligned.manifest.get("options", {})
        self.n = int(opts.get("n", 4))
        self.temperature = float(opts.get("temperature", 0.8))
        self.top_p = float(opts.get("top_p", 0.95))
        self.max_tokens = int(opts.get("max_tokens", 128))
        self.device = opts.get("device", "auto")
        self._model, self._tokenizer = model, tokenizer
        self._reward: Any = None
        self._load_lock = threading.Lock()
        self._gen_lock = threading.Lock()

    @property
    def reward_model(self) -> Any:
        """The group reward model (loaded on first use)."""
        if self._reward is None:
            from pluralis.align.rewards import GroupRewardModel

            self._reward = GroupRewardModel.load(self.aligned.path / REWARD_FILE)
        return self._reward

    def load(self) -> tuple[Any, Any]:
        """Load the base model and the reward model (once; thread-safe)."""
        from pluralis.align.models import load_model, resolve_device

        with self._load_lock:
            if self._model is None:
                self._model, self._tokenizer = load_model(
                    self.aligned.base_model, device=resolve_device(self.device or "auto")
                )
            _ = self.reward_model
        return self._model, self._tokenizer

    def choose(self, candidates: list[str]) -> tuple[int, np.ndarray]:
        """Index of the highest-reward candidate (first on ties) and every candidate's reward.

        Example
        -------
        >>> import pandas as pd, tempfile
        >>> from pluralis.align.rewards import fit_reward_model
        >>> m = AlignedModel.create(tempfile.mkdtemp(), aligner="best_of_n", base_model="/b")
        >>> b = BestOfNBackend(m.spec(), m)
        >>> b._reward = fit_reward_model(pd.DataFrame({"chosen_text": ["Ok. More?"] * 9, "rejected_text": ["Ok."] * 9}))
        >>> b.choose(["Fine.", "Fine. Why?"])[0]
        1
        """
        if not candidates:
            raise BackendError("no candidates to choose from", model=self.spec.name)
        r = self.reward_model.reward(candidates)
        return int(np.argmax(r)), r

    def _params(self, params: DecodingParams | None) -> dict[str, Any]:
        p = params or DecodingParams()
        fields: set[str] = set(getattr(p, "model_fields_set", set()))
        return {
            "temperature": p.temperature if "temperature" in fields and p.temperature is not None else self.temperature,
            "top_p": p.top_p if "top_p" in fields and p.top_p is not None else self.top_p,
            "max_new_tokens": p.max_tokens if "max_tokens" in fields and p.max_tokens else self.max_tokens,
            "seed": p.seed,
        }

    def generate_batch(
        self, chats: list[list[dict]], params: DecodingParams | None = None, *, seed: int | None = 0
    ) -> list[dict[str, Any]]:
        """Best-of-n for many chats at once: ``text``, ``candidates``, ``rewards``, ``chosen`` per chat."""
        from pluralis.align.models import sample_responses

        model, tok = self.load()
        kw = self._params(params)
        s = kw.pop("seed")
        with self._gen_lock:
            samples = sample_responses(model, tok, chats, n=self.n, seed=s if s is not None else seed, **kw)
        out = []
        for cands in samples:
            i, r = self.choose(cands)
            out.append({"text": cands[i], "candidates": cands, "rewards": r.tolist(), "chosen": i})
        return out

    async def chat(
        self, messages: list[dict], *, params: DecodingParams | dict | None = None, timeout: float | None = None
    ) -> ChatResult:
        """Sample ``n`` responses, return the reward model's favourite (a worker thread; ``timeout`` seconds)."""
        msgs = with_system_prompt(validate_messages(messages), self.spec.system_prompt)
        p = self.spec.params.merged(params)
        timeout = float(timeout if timeout is not None else self.spec.timeout)
        if self._model is None:
            await asyncio.to_thread(self.load)
        start = time.perf_counter()
        try:
            async with asyncio.timeout(timeout):
                out = await asyncio.to_thread(self.generate_batch, [msgs], p)
        except TimeoutError:
            raise BackendTimeout(f"no answer within {timeout:g} s", model=self.spec.name) from None
        except (BackendError, ConfigError):
            raise
        except Exception as e:  # torch errors
            raise BackendError(f"generation failed: {type(e).__name__}: {e}", model=self.spec.name) from e
        text = out[0]["text"]
        return ChatResult(
            text=text,
            model=self.spec.name,
            provider=self.spec.provider,
            served_model=f"best-of-{self.n}",
            latency_s=time.perf_counter() - start,
            usage=TokenUsage(completion_tokens=None),
            finish_reason="stop",
            seed=p.seed,
        )

    async def aclose(self) -> None:
        """Nothing to close."""
