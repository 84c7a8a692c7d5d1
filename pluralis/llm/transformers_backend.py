"""Local backend: a Hugging Face ``transformers`` causal LM loaded from a folder on disk.

``torch`` and ``transformers`` are imported only when a model is loaded, so the rest of
Pluralis works without them (``pip install torch==2.13.0 transformers``). Nothing is ever
downloaded: ``spec.path`` must be a local folder (``save_pretrained`` layout) or a folder
holding the GGUF file named by ``spec.gguf_file`` (GGUF needs the ``gguf`` and
``accelerate`` packages; the weights are de-quantised to float32, so loading is slow).

Generation runs in a worker thread (``asyncio.to_thread``) so the event loop stays free;
one lock per model serialises generations. On timeout a stop flag ends the generation at
the next token.

Decoding follows OpenAI semantics: ``temperature`` 0 is greedy, ``None`` means 1.0;
``top_k`` ``None`` means no top-k; ``presence_penalty``/``frequency_penalty`` are applied
additively to logits as OpenAI documents; ``min_tokens`` maps to ``min_new_tokens``.
A tokenizer without a chat template gets a ``Human:``/``Assistant:`` transcript, as PRISM
used for models without one.
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
from functools import lru_cache
from pathlib import Path
from typing import Any

from pluralis.errors import ConfigError
from pluralis.llm.errors import BackendError
from pluralis.llm.local import generate_in_thread, local_chat_result
from pluralis.llm.types import (
    ChatResult,
    DecodingParams,
    ModelSpec,
    validate_messages,
    with_system_prompt,
)

TRANSCRIPT_STOP = "\n\nHuman:"


def require_transformers() -> tuple[Any, Any]:
    """Import ``torch`` and ``transformers`` or raise a :class:`BackendError` saying how to install them.

    Returns
    -------
    tuple of (module, module)
        ``torch`` and ``transformers``.

    Raises
    ------
    BackendError
        either is missing.

    Example
    -------
    >>> torch, transformers = require_transformers()  # doctest: +SKIP
    """
    try:
        import torch
        import transformers
    except ImportError as e:
        raise BackendError(
            f"the transformers backend needs torch and transformers ({e}); install them with "
            "`pip install torch==2.13.0 transformers tokenizers`"
        ) from None
    return torch, transformers


def transcript(messages: list[dict[str, str]]) -> str:
    """A plain ``Human:``/``Assistant:`` transcript for tokenizers without a chat template.

    Parameters
    ----------
    messages
        the chat.

    Returns
    -------
    str

    Example
    -------
    >>> transcript([{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}])
    'Be brief.\\n\\nHuman: Hi\\n\\nAssistant:'
    """
    parts = []
    for m in messages:
        if m["role"] == "system":
            parts.append(m["content"])
        else:
            parts.append(("Human: " if m["role"] == "user" else "Assistant: ") + m["content"])
    return "\n\n".join(parts) + "\n\nAssistant:"


def render_chat(tokenizer: Any, messages: list[dict[str, str]]) -> tuple[str, bool]:
    """Render a chat to a prompt string; returns ``(prompt, is_transcript)``.

    Uses the tokenizer's chat template when it has one. A template that rejects the
    system role gets the system prompt folded into the first user message.

    Parameters
    ----------
    tokenizer
        a ``transformers`` tokenizer.
    messages
        the chat.

    Returns
    -------
    tuple of (str, bool)

    Example
    -------
    >>> class NoTemplate: chat_template = None
    >>> render_chat(NoTemplate(), [{"role": "user", "content": "Hi"}])
    ('Human: Hi\\n\\nAssistant:', True)
    """
    if getattr(tokenizer, "chat_template", None):
        try:
            return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True), False
        except Exception:
            if messages and messages[0]["role"] == "system" and len(messages) > 1:
                folded = [
                    {"role": messages[1]["role"], "content": messages[0]["content"] + "\n\n" + messages[1]["content"]},
                    *messages[2:],
                ]
                return tokenizer.apply_chat_template(folded, tokenize=False, add_generation_prompt=True), False
            raise
    return transcript(messages), True


@lru_cache(maxsize=1)
def _hf_helpers() -> tuple[type, type]:
    torch, _ = require_transformers()
    from transformers import LogitsProcessor, StoppingCriteria

    class AdditivePenalties(LogitsProcessor):
        """OpenAI-style presence/frequency penalties over the generated tokens."""

        def __init__(self, prompt_len: int, presence: float, frequency: float):
            self.prompt_len, self.presence, self.frequency = prompt_len, presence, frequency

        def __call__(self, input_ids, scores):
            generated = input_ids[:, self.prompt_len :]
            if generated.shape[1] == 0:
                return scores
            counts = torch.zeros_like(scores).scatter_add_(1, generated, torch.ones_like(generated, dtype=scores.dtype))
            return scores - self.frequency * counts - self.presence * (counts > 0).to(scores.dtype)

    class StopFlag(StoppingCriteria):
        """Stops when ``event`` is set or ``deadline`` (perf_counter) has passed."""

        def __init__(self, event: threading.Event, deadline: float | None):
            self.event, self.deadline, self.fired = event, deadline, False

        def __call__(self, input_ids, scores, **kwargs):
            stop = self.event.is_set() or (self.deadline is not None and time.perf_counter() > self.deadline)
            self.fired = self.fired or stop
            return torch.full((input_ids.shape[0],), stop, dtype=torch.bool, device=input_ids.device)

    return AdditivePenalties, StopFlag


class _AllSet:
    """An event-like view of several events: set once all of them are (a batch whose every caller gave up)."""

    def __init__(self, events: list[threading.Event]):
        self.events = events

    def is_set(self) -> bool:
        return all(e.is_set() for e in self.events)


def _sampling(
    params: DecodingParams, max_new_tokens: int, eos_ids: list[int], pad: int, prompt_len: int
) -> tuple[dict[str, Any], Any]:
    """``generate`` keyword arguments and logits processors for ``params`` (one chat or a batch sharing them);
    ``prompt_len``: where the generated tokens start (the penalties count only those)."""
    from transformers import LogitsProcessorList

    AdditivePenalties, _ = _hf_helpers()
    temperature = 1.0 if params.temperature is None else params.temperature
    gen: dict[str, Any] = {
        "max_new_tokens": max_new_tokens,
        "do_sample": temperature > 0,
        "eos_token_id": eos_ids or None,
        "pad_token_id": pad,
    }
    if temperature > 0:
        gen.update(
            temperature=temperature, top_p=1.0 if params.top_p is None else params.top_p, top_k=params.top_k or 0
        )
    else:
        gen.update(temperature=None, top_p=None, top_k=None)
    if params.min_tokens:
        gen["min_new_tokens"] = params.min_tokens
    processors = LogitsProcessorList()
    if params.presence_penalty or params.frequency_penalty:
        processors.append(
            AdditivePenalties(prompt_len, params.presence_penalty or 0.0, params.frequency_penalty or 0.0)
        )
    return gen, processors


def batch_key(params: DecodingParams) -> tuple | None:
    """The decoding settings chats must share to be answered by one batched ``generate`` call.

    Greedy chats (temperature 0) batch whatever their seed; sampled chats batch when they agree
    on temperature, top-p and top-k and carry no seed (a seeded sample is reproducible only on
    its own: ``None``, never batched). ``max_tokens`` and ``stop`` may differ within a batch.

    Parameters
    ----------
    params
        a chat's decoding parameters.

    Returns
    -------
    tuple or None
        equal keys batch together; ``None`` runs alone.

    Example
    -------
    >>> batch_key(DecodingParams(temperature=0, seed=1)) == batch_key(DecodingParams(temperature=0, max_tokens=9))
    True
    >>> batch_key(DecodingParams(temperature=1.0, seed=3)) is None
    True
    """
    temperature = 1.0 if params.temperature is None else params.temperature
    if temperature > 0 and params.seed is not None:
        return None
    sampling: tuple = ("greedy",) if temperature == 0 else ("sample", temperature, params.top_p, params.top_k)
    return (*sampling, params.min_tokens, params.presence_penalty or 0.0, params.frequency_penalty or 0.0)


def _tie_missing_output_embeddings(model: Any) -> None:
    """Share the input embeddings with an output layer the checkpoint left unloaded, when the config ties them.

    A GGUF file without ``output.weight`` means "tied" (llama.cpp reuses ``token_embd``), and
    transformers' config says so, but its loader does not always re-tie after loading (seen with
    transformers 5.23 in long-running processes): the output layer is left on the meta device.
    """
    config = model.config.get_text_config() if hasattr(model.config, "get_text_config") else model.config
    if not getattr(config, "tie_word_embeddings", False):
        return
    out_emb, in_emb = model.get_output_embeddings(), model.get_input_embeddings()
    out_w, in_w = getattr(out_emb, "weight", None), getattr(in_emb, "weight", None)
    if out_w is not None and in_w is not None and out_w.is_meta and not in_w.is_meta and out_w.shape == in_w.shape:
        out_emb.weight = in_w


def _resolve_dtype(torch: Any, name: str | None, device: str) -> Any:
    if name in (None, "auto"):
        return torch.float32 if device == "cpu" else "auto"
    try:
        return {
            "float32": torch.float32,
            "fp32": torch.float32,
            "float16": torch.float16,
            "fp16": torch.float16,
            "bfloat16": torch.bfloat16,
            "bf16": torch.bfloat16,
        }[name]
    except KeyError:
        raise ConfigError(f"unknown dtype {name!r}; use float32, float16, bfloat16 or auto") from None


class TransformersBackend:
    """A :class:`~pluralis.llm.backend.ChatBackend` running a local ``transformers`` model.

    ``model``/``tokenizer`` may be passed in already loaded; otherwise they are loaded from
    ``spec.path`` on first use (or by :meth:`load`).

    Example
    -------
    >>> spec = ModelSpec(name="tiny", backend="transformers", path="/models/tiny")
    >>> backend = TransformersBackend(spec)
    >>> # result = asyncio.run(backend.chat([{"role": "user", "content": "Hello"}]))
    """

    def __init__(self, spec: ModelSpec, *, model: Any = None, tokenizer: Any = None):
        if model is None and not spec.path:
            raise ConfigError(f"model {spec.name!r}: the transformers backend needs `path` (a local model folder)")
        self.spec = spec
        self._model, self._tokenizer = model, tokenizer
        self._load_lock = threading.Lock()
        self._gen_lock = threading.Lock()
        self.device: str | None = None

    @property
    def loaded(self) -> bool:
        """Whether the weights are in memory.

        Example
        -------
        >>> TransformersBackend(ModelSpec(name="m", backend="transformers", path="/models/m")).loaded
        False
        """
        return self._model is not None and self._tokenizer is not None

    def load(self) -> tuple[Any, Any]:
        """Load (once) and return ``(model, tokenizer)``. Blocking; thread-safe.

        Returns
        -------
        tuple of (model, tokenizer)

        Raises
        ------
        ConfigError
            the folder or GGUF file does not exist.
        BackendError
            the weights cannot be loaded.

        Example
        -------
        >>> # model, tokenizer = TransformersBackend(spec).load()
        """
        with self._load_lock:
            if self.loaded:
                return self._model, self._tokenizer
            spec = self.spec
            path = Path(spec.path or "")
            if not path.is_dir():
                raise ConfigError(
                    f"model {spec.name!r}: {path} is not a folder (give a local model folder; nothing is downloaded)"
                )
            if spec.gguf_file and not (path / spec.gguf_file).is_file():
                raise ConfigError(f"model {spec.name!r}: GGUF file {path / spec.gguf_file} not found")
            torch, _ = require_transformers()
            from transformers import AutoModelForCausalLM, AutoTokenizer

            device = spec.device or ("cuda" if torch.cuda.is_available() else "cpu")
            kwargs: dict[str, Any] = {"local_files_only": True}
            if spec.gguf_file:
                kwargs["gguf_file"] = spec.gguf_file
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            try:
                tokenizer = AutoTokenizer.from_pretrained(str(path), **kwargs)
                # Any: transformers' stubs type .to() on the loaded model wrongly
                model: Any = AutoModelForCausalLM.from_pretrained(
                    str(path), dtype=_resolve_dtype(torch, spec.dtype, device), **kwargs
                )
            except (OSError, ValueError, ImportError) as e:
                raise BackendError(f"cannot load {path}: {e}", model=spec.name) from e
            _tie_missing_output_embeddings(model)
            missing = [name for name, p in model.named_parameters() if p.is_meta]
            if missing:
                raise BackendError(
                    f"cannot load {path}: weights missing from the checkpoint: {missing[:5]}", model=spec.name
                )
            model.to(device)
            model.eval()
            self._model, self._tokenizer, self.device = model, tokenizer, device
            return model, tokenizer

    def _eos_ids(self, model: Any, tokenizer: Any) -> list[int]:
        ids: set[int] = set()
        eos = getattr(model.generation_config, "eos_token_id", None)
        if isinstance(eos, int):
            ids.add(eos)
        elif isinstance(eos, (list, tuple)):
            ids.update(int(i) for i in eos)
        if tokenizer.eos_token_id is not None:
            ids.add(int(tokenizer.eos_token_id))
        return sorted(ids)

    def generate_sync(
        self,
        messages: list[dict[str, str]],
        params: DecodingParams,
        cancel: threading.Event | None = None,
        deadline: float | None = None,
    ) -> dict[str, Any]:
        """Blocking generation; returns ``text``, ``finish_reason``, ``prompt_tokens``, ``completion_tokens``.

        ``messages`` must already carry the system prompt. Used by :meth:`chat` (in a thread)
        and by ``pluralis llm serve``.

        Parameters
        ----------
        messages
            the chat, system prompt included.
        params
            decoding parameters.
        cancel
            set it to stop generating at the next token.
        deadline
            ``time.monotonic()`` value after which generation stops.

        Returns
        -------
        dict

        Example
        -------
        >>> # TransformersBackend(spec).generate_sync([{"role": "user", "content": "Hi"}], DecodingParams())["text"]
        """
        torch, _ = require_transformers()
        from transformers import StoppingCriteriaList

        _, StopFlag = _hf_helpers()
        model, tokenizer = self.load()
        prompt, is_transcript = render_chat(tokenizer, messages)
        enc = tokenizer(prompt, return_tensors="pt", add_special_tokens=is_transcript)
        enc = {k: v.to(self.device or model.device) for k, v in enc.items()}
        prompt_len = int(enc["input_ids"].shape[1])
        stops = list(params.stop or []) + ([TRANSCRIPT_STOP] if is_transcript else [])
        eos_ids = self._eos_ids(model, tokenizer)
        pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else (eos_ids or [0])[0]
        gen, processors = _sampling(params, params.max_tokens or 256, eos_ids, pad, prompt_len)
        stop_flag = StopFlag(cancel or threading.Event(), deadline)
        with self._gen_lock:
            if params.seed is not None:
                torch.manual_seed(params.seed)
            with torch.inference_mode():
                out = model.generate(
                    **enc, **gen, logits_processor=processors, stopping_criteria=StoppingCriteriaList([stop_flag])
                )
        new_ids = out[0, prompt_len:].tolist()
        hit_eos = bool(new_ids) and new_ids[-1] in eos_ids
        if hit_eos:
            new_ids = new_ids[:-1]
        text = tokenizer.decode(new_ids, skip_special_tokens=True)
        finish = "stop" if hit_eos else "length"
        for s in stops:
            cut = text.find(s)
            if cut >= 0:
                text, finish = text[:cut], "stop"
        if is_transcript:
            text = text.strip()
        return {
            "text": text,
            "finish_reason": finish,
            "prompt_tokens": prompt_len,
            "completion_tokens": len(new_ids) + int(hit_eos),
            "cancelled": stop_flag.fired,
        }

    def generate_batch_sync(
        self,
        requests: list[tuple[list[dict[str, str]], DecodingParams]],
        cancels: list[threading.Event] | None = None,
        deadline: float | None = None,
    ) -> list[dict[str, Any]]:
        """Several chats in ONE ``generate`` call (left-padded); one result per chat, as :meth:`generate_sync`.

        The chats must share their sampling settings (:func:`batch_key`); each keeps its own
        ``max_tokens`` (the batch runs to the longest and each answer is cut at its own) and
        ``stop`` strings. Greedy answers equal the one-by-one ones up to padding round-off.

        Parameters
        ----------
        requests
            ``(messages, params)`` per chat, system prompts included.
        cancels
            one event per chat; the batch stops early when all are set.
        deadline
            ``time.monotonic()`` value after which generation stops.

        Returns
        -------
        list of dict
            ``text``, ``finish_reason``, ``prompt_tokens``, ``completion_tokens``, ``cancelled`` per chat.

        Example
        -------
        >>> # backend.generate_batch_sync([(chat_a, DecodingParams(temperature=0)), (chat_b, ...)])
        """
        keys = {batch_key(p) for _, p in requests}
        if len(requests) > 1 and (len(keys) > 1 or None in keys):
            raise ConfigError("a batch must share its sampling settings and have no seeded sampling (see batch_key)")
        if len(requests) == 1:
            cancel = cancels[0] if cancels else None
            return [self.generate_sync(requests[0][0], requests[0][1], cancel, deadline)]
        torch, _ = require_transformers()
        from transformers import StoppingCriteriaList

        _, StopFlag = _hf_helpers()
        model, tokenizer = self.load()
        rendered = [render_chat(tokenizer, messages) for messages, _ in requests]
        ids = [tokenizer(prompt, add_special_tokens=is_transcript)["input_ids"] for prompt, is_transcript in rendered]
        eos_ids = self._eos_ids(model, tokenizer)
        pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else (eos_ids or [0])[0]
        width = max(len(x) for x in ids)
        input_ids = torch.tensor([[pad] * (width - len(x)) + list(x) for x in ids], dtype=torch.long)
        mask = torch.tensor([[0] * (width - len(x)) + [1] * len(x) for x in ids], dtype=torch.long)
        device = self.device or model.device
        params = requests[0][1]
        limits = [p.max_tokens or 256 for _, p in requests]
        gen, processors = _sampling(params, max(limits), eos_ids, pad, width)
        all_cancelled = _AllSet(cancels or [threading.Event() for _ in requests])
        stop_flag = StopFlag(all_cancelled, deadline)
        with self._gen_lock:
            with torch.inference_mode():
                out = model.generate(
                    input_ids=input_ids.to(device),
                    attention_mask=mask.to(device),
                    **gen,
                    logits_processor=processors,
                    stopping_criteria=StoppingCriteriaList([stop_flag]),
                )
        results = []
        for row, ((_, p), (_, is_transcript), limit, prompt) in enumerate(zip(requests, rendered, limits, ids)):
            new_ids = out[row, width:].tolist()[:limit]
            at = next((k for k, t in enumerate(new_ids) if t in eos_ids), None)
            hit_eos = at is not None
            if at is not None:
                new_ids = new_ids[:at]
            text = tokenizer.decode(new_ids, skip_special_tokens=True)
            finish = "stop" if hit_eos else "length"
            for s in list(p.stop or []) + ([TRANSCRIPT_STOP] if is_transcript else []):
                cut = text.find(s)
                if cut >= 0:
                    text, finish = text[:cut], "stop"
            if is_transcript:
                text = text.strip()
            results.append(
                {
                    "text": text,
                    "finish_reason": finish,
                    "prompt_tokens": len(prompt),
                    "completion_tokens": len(new_ids) + int(hit_eos),
                    "cancelled": stop_flag.fired,
                }
            )
        return results

    async def chat(
        self, messages: list[dict], *, params: DecodingParams | dict | None = None, timeout: float | None = None
    ) -> ChatResult:
        """Generate one response in a worker thread (see :class:`~pluralis.llm.backend.ChatBackend`).

        Parameters
        ----------
        messages
            the chat (the spec's system prompt is added unless it starts with one).
        params
            decoding parameters, over the spec's.
        timeout
            seconds allowed (default: the spec's).

        Returns
        -------
        ChatResult

        Raises
        ------
        BackendTimeout
            no answer within ``timeout``.
        BackendError
            the model could not be loaded or run.

        Example
        -------
        >>> # result = await TransformersBackend(spec).chat([{"role": "user", "content": "Hello"}], timeout=30)
        """
        msgs = with_system_prompt(validate_messages(messages), self.spec.system_prompt)
        p = self.spec.params.merged(params)
        timeout = float(timeout if timeout is not None else self.spec.timeout)
        if not self.loaded:
            # loading weights is a one-off cost of the backend, not of this answer: the timeout
            # (PRISM's 30 s per model call) starts when generation can start
            await asyncio.to_thread(self.load)
        out, latency = await generate_in_thread(
            self.spec, lambda cancel, deadline: self.generate_sync(msgs, p, cancel, deadline), timeout
        )
        return local_chat_result(self.spec, out, p, latency)

    async def aclose(self) -> None:
        """Nothing to close (weights stay loaded while the backend is referenced).

        Example
        -------
        >>> import asyncio
        >>> asyncio.run(TransformersBackend(ModelSpec(name="m", backend="transformers", path="/models/m")).aclose())
        """
