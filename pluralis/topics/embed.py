"""Sentence embeddings for topic analyses: an injected embedder, with an optional cache.

An *embedder* is any callable ``texts -> ndarray (n_texts, dim)`` (float32), optionally with a
``name`` attribute that identifies the model (the key of cached vectors). The default,
:class:`SentenceEmbedder`, runs a sentence-transformers model from a local folder and never
downloads: the bundled all-MiniLM-L6-v2 (the ``[embed]`` extra), any model folder, or a model
name already in the local Hugging Face cache (e.g. ``all-mpnet-base-v2``, as PRISM used).

:class:`CachingEmbedder` wraps an embedder with any object that has ``get(model, texts)`` and
``put(model, texts, vectors)`` (:class:`EmbeddingCacheLike`), e.g. the store's
:class:`pluralis.store.embeddings.EmbeddingCache`, so each distinct text is embedded once per
model across runs. The command line composes the two; this package never touches the store.

Example
-------
>>> import numpy as np
>>> calls = []
>>> def toy(texts):
...     calls.append(list(texts))
...     return np.array([[len(t), 1.0] for t in texts], dtype=np.float32)
>>> cache = DictCache()
>>> e = CachingEmbedder(toy, cache, name="toy")
>>> e(["a", "bb", "a"]).tolist(), e(["bb", "ccc"]).tolist()
([[1.0, 1.0], [2.0, 1.0], [1.0, 1.0]], [[2.0, 1.0], [3.0, 1.0]])
>>> calls   # each distinct text embedded once
[['a', 'bb'], ['ccc']]
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np
import pandas as pd

from pluralis.errors import ConfigError
from pluralis.features import embeddings as sentence_embeddings

#: Name of the default model (the bundled all-MiniLM-L6-v2 of the ``[embed]`` extra).
DEFAULT_MODEL = "all-MiniLM-L6-v2"

Embedder = Callable[[Sequence[str]], np.ndarray]

_MODELS: dict[tuple[str, str], Any] = {}
_LOCK = threading.Lock()


@runtime_checkable
class EmbeddingCacheLike(Protocol):
    """What :class:`CachingEmbedder` needs of a cache (the store's ``EmbeddingCache`` has it)."""

    def get(self, model: str, texts: Sequence[str]) -> dict[str, np.ndarray]: ...

    def put(self, model: str, texts: Sequence[str], vectors: np.ndarray) -> int: ...


def embedder_name(embedder: Any) -> str:
    """The model name an embedder is known by (its ``name`` attribute, else its qualified name).

    Parameters
    ----------
    embedder : Any
        An embedder (object with a ``name`` attribute or any callable).

    Returns
    -------
    str
        The embedder's name.

    Example
    -------
    >>> embedder_name(SentenceEmbedder()), embedder_name(len)
    ('all-MiniLM-L6-v2', 'builtins.len')
    """
    name = getattr(embedder, "name", None)
    if isinstance(name, str) and name:
        return name
    return f"{getattr(embedder, '__module__', '') or ''}.{getattr(embedder, '__qualname__', type(embedder).__name__)}"


class SentenceEmbedder:
    """The default embedder: a local sentence-transformers model (see the module docstring).

    Parameters
    ----------
    model
        ``None`` (the bundled all-MiniLM-L6-v2), a model folder, or a model name in the local
        Hugging Face cache (e.g. ``"all-mpnet-base-v2"``, PRISM's model).
    batch_size, device
        passed to ``SentenceTransformer.encode``.
    normalize
        unit-length vectors. Cosine distances (UMAP's metric, local neighbourhoods) do not
        depend on it; PRISM did not normalise.

    Each distinct text in a call is encoded once.

    Example
    -------
    >>> e = SentenceEmbedder()
    >>> X = e(["How do I bake bread?", "A recipe for sourdough bread", "Who won the election?"])
    >>> X.shape, X.dtype.name, bool(X[0] @ X[1] > X[0] @ X[2])
    ((3, 384), 'float32', True)
    """

    def __init__(self, model: str | Path | None = None, *, batch_size: int = 64, device: str = "cpu", normalize=True):
        self.model = model
        self.batch_size = batch_size
        self.device = device
        self.normalize = normalize

    @property
    def name(self) -> str:
        """Model name used as the cache key (folder name for a folder; ``|raw`` when not normalised).

        Example
        -------
        >>> SentenceEmbedder().name, SentenceEmbedder("all-mpnet-base-v2", normalize=False).name
        ('all-MiniLM-L6-v2', 'all-mpnet-base-v2|raw')
        """
        base = DEFAULT_MODEL if self.model is None else str(self.model)
        if self.model is not None and Path(base).exists():
            base = Path(base).resolve().name
        return base if self.normalize else f"{base}|raw"

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        # the shared encoder path (each distinct text once, batches of similar token counts, float32
        # normalisation); this class keeps no per-process cache of its own: the caches are the callers'
        return sentence_embeddings.embed_texts(
            _as_texts(texts),
            model=self.model,
            batch_size=self.batch_size,
            device=self.device,
            normalize=bool(self.normalize),
            cache=False,
        )

    def __repr__(self) -> str:
        return f"SentenceEmbedder({self.name!r})"


class DictCache:
    """An in-memory :class:`EmbeddingCacheLike` (for tests and one-process reuse).

    Example
    -------
    >>> c = DictCache()
    >>> c.put("m", ["x"], np.ones((1, 2), dtype=np.float32))
    1
    >>> list(c.get("m", ["x", "y"]))
    ['x']
    """

    def __init__(self) -> None:
        self.data: dict[tuple[str, str], np.ndarray] = {}

    def get(self, model: str, texts: Sequence[str]) -> dict[str, np.ndarray]:
        """Cached vectors of those ``texts`` that are cached (see the class example)."""
        return {t: self.data[(model, t)] for t in texts if (model, t) in self.data}

    def put(self, model: str, texts: Sequence[str], vectors: np.ndarray) -> int:
        """Store vectors; returns how many were new (see the class example)."""
        new = 0
        for t, v in zip(texts, np.asarray(vectors, dtype=np.float32)):
            new += (model, t) not in self.data
            self.data[(model, t)] = v
        return new


class CachingEmbedder:
    """An embedder that asks a cache first and embeds (then stores) only the texts it lacks.

    Parameters
    ----------
    embedder
        the embedder to wrap.
    cache
        an :class:`EmbeddingCacheLike` (e.g. ``pluralis.store.embeddings.EmbeddingCache``).
    name
        cache key of the model; default :func:`embedder_name` of ``embedder``.

    ``hits`` and ``misses`` count distinct texts found in / added to the cache.

    Example
    -------
    >>> e = CachingEmbedder(lambda ts: np.ones((len(ts), 3), dtype=np.float32), DictCache(), name="ones")
    >>> _ = e(["a", "b"]); _ = e(["b", "c"])
    >>> e.hits, e.misses
    (1, 3)
    """

    def __init__(self, embedder: Embedder, cache: EmbeddingCacheLike, *, name: str | None = None):
        self.embedder = embedder
        self.cache = cache
        self.name = name or embedder_name(embedder)
        self.hits = 0
        self.misses = 0

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        s = _as_texts(texts)
        codes, uniques = pd.factorize(s, use_na_sentinel=False)
        uniq = [str(t) for t in uniques]
        found = self.cache.get(self.name, uniq) if uniq else {}
        todo = [t for t in uniq if t not in found]
        self.hits += len(uniq) - len(todo)
        self.misses += len(todo)
        if todo:
            new = np.asarray(self.embedder(todo), dtype=np.float32)
            if new.shape[0] != len(todo):
                raise ConfigError(f"embedder {self.name!r} returned {new.shape[0]} vectors for {len(todo)} texts")
            self.cache.put(self.name, todo, new)
            found.update(zip(todo, new))
        if not uniq:
            return np.zeros((0, 0), dtype=np.float32)
        table = np.stack([np.asarray(found[t], dtype=np.float32) for t in uniq])
        return table[codes]


def _as_texts(texts: Sequence[str]) -> pd.Series:
    if isinstance(texts, str):
        raise ConfigError("give a list of texts, not a single string")
    return pd.Series(list(texts), dtype=object).fillna("").astype(str)


def embed_texts(texts: Sequence[str], embedder: Embedder | None = None) -> np.ndarray:
    """Embeddings ``(n_texts, dim)`` float32 of ``texts`` with ``embedder`` (default :class:`SentenceEmbedder`).

    Parameters
    ----------
    texts : sequence of str
        The texts.
    embedder : Embedder, optional
        A callable from a list of texts to an array ``(n_texts, dim)``; ``None`` (default) uses
        :class:`SentenceEmbedder`.

    Returns
    -------
    numpy.ndarray
        float32 array ``(n_texts, dim)``.

    Example
    -------
    >>> embed_texts(["a", "b"], lambda ts: np.zeros((len(ts), 4))).shape
    (2, 4)
    """
    embedder = embedder if embedder is not None else SentenceEmbedder()
    X = np.asarray(embedder(list(_as_texts(texts))), dtype=np.float32)
    if X.ndim != 2 or X.shape[0] != len(texts):
        raise ConfigError(f"the embedder returned shape {X.shape} for {len(texts)} texts; expected (n_texts, dim)")
    return X
