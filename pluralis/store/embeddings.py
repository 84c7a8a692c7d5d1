"""A cache of sentence embeddings in the store, keyed by model name and text hash.

Table ``text_embeddings`` (migration 0003): ``model`` (the embedder's name, e.g.
``all-MiniLM-L6-v2``), ``text_hash`` (SHA-256 of the UTF-8 text), ``dim``, ``vector`` (float32
bytes) and ``created_at``. Texts themselves are not stored: the cache holds no participant text.
:class:`EmbeddingCache` has the ``get`` / ``put`` pair :class:`pluralis.topics.embed.CachingEmbedder`
expects, so ``pluralis topics`` embeds each distinct text once per model, however often it runs.

Example
-------
>>> import tempfile, os
>>> import numpy as np
>>> from pluralis.store import Store
>>> with Store.open(os.path.join(tempfile.mkdtemp(), "s.sqlite")) as store:
...     cache = EmbeddingCache(store)
...     _ = cache.put("toy", ["hello", "world"], np.array([[1, 2], [3, 4]], dtype=np.float32))
...     found = cache.get("toy", ["world", "unseen"])
...     cache.count("toy")
2
>>> {t: v.tolist() for t, v in found.items()}
{'world': [3.0, 4.0]}
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Sequence

import numpy as np
from sqlalchemy import Column, Float, Integer, LargeBinary, String, Table, delete, func, insert, select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from pluralis.errors import StoreError
from pluralis.store.schema import metadata

#: One vector per (model, text); the text is identified by its hash only.
text_embeddings = Table(
    "text_embeddings",
    metadata,
    Column("model", String(255), primary_key=True),
    Column("text_hash", String(64), primary_key=True),
    Column("dim", Integer, nullable=False),
    Column("vector", LargeBinary, nullable=False),
    Column("created_at", Float, nullable=False),
)

#: Texts looked up / written per statement.
BATCH = 500


def text_hash(text: str) -> str:
    """SHA-256 hex digest of a text's UTF-8 bytes (the cache key).

    Parameters
    ----------
    text : str
        The text (other values are converted with ``str``).

    Returns
    -------
    str
        64 lowercase hex characters.

    Example
    -------
    >>> text_hash("hello")[:12]
    '2cf24dba5fb0'
    """
    return hashlib.sha256(str(text).encode("utf-8")).hexdigest()


class EmbeddingCache:
    """Read and write cached embeddings in a store (see the module docstring).

    Parameters
    ----------
    store
        a :class:`pluralis.store.Store` (migrated to revision 0003 or later) or an SQLAlchemy engine.

    Example
    -------
    >>> import tempfile, os
    >>> from pluralis.store import Store
    >>> with Store.open(os.path.join(tempfile.mkdtemp(), "s.sqlite")) as store:
    ...     EmbeddingCache(store).count()
    0
    """

    def __init__(self, store) -> None:
        self.engine: Engine = store.engine if hasattr(store, "engine") else store

    def get(self, model: str, texts: Sequence[str]) -> dict[str, np.ndarray]:
        """The cached vectors of those ``texts`` that have one for ``model`` (text -> float32 vector).

        Example
        -------
        >>> import tempfile, os
        >>> from pluralis.store import Store
        >>> with Store.open(os.path.join(tempfile.mkdtemp(), "s.sqlite")) as store:
        ...     EmbeddingCache(store).get("m", ["nothing cached"])
        {}
        """
        by_hash: dict[str, list[str]] = {}
        for t in texts:
            by_hash.setdefault(text_hash(t), []).append(t)
        hashes = list(by_hash)
        out: dict[str, np.ndarray] = {}
        try:
            with self.engine.connect() as conn:
                for start in range(0, len(hashes), BATCH):
                    chunk = hashes[start : start + BATCH]
                    rows = conn.execute(
                        select(text_embeddings.c.text_hash, text_embeddings.c.vector).where(
                            text_embeddings.c.model == model, text_embeddings.c.text_hash.in_(chunk)
                        )
                    )
                    for h, blob in rows:
                        vec = np.frombuffer(blob, dtype=np.float32).copy()
                        for t in by_hash[h]:
                            out[t] = vec
        except SQLAlchemyError as exc:
            raise StoreError(f"cannot read the embedding cache: {exc}") from None
        return out

    def put(self, model: str, texts: Sequence[str], vectors: np.ndarray) -> int:
        """Store one vector per text for ``model`` (texts already cached are left as they are).

        Returns the number of vectors written. One transaction: all or nothing.

        Example
        -------
        >>> import tempfile, os
        >>> from pluralis.store import Store
        >>> with Store.open(os.path.join(tempfile.mkdtemp(), "s.sqlite")) as store:
        ...     c = EmbeddingCache(store)
        ...     c.put("m", ["a", "a", "b"], np.ones((3, 2), dtype=np.float32)), c.put("m", ["b"], np.ones((1, 2)))
        (2, 0)
        """
        vectors = np.asarray(vectors, dtype=np.float32)
        if vectors.ndim != 2 or len(vectors) != len(texts):
            raise StoreError(f"need one vector per text: {len(texts)} texts, vectors of shape {vectors.shape}")
        rows: dict[str, dict] = {}
        now = time.time()
        for t, v in zip(texts, vectors):
            h = text_hash(t)
            if h not in rows:
                rows[h] = {
                    "model": model,
                    "text_hash": h,
                    "dim": int(v.shape[0]),
                    "vector": np.ascontiguousarray(v).tobytes(),
                    "created_at": now,
                }
        written = 0
        try:
            with self.engine.begin() as conn:
                hashes = list(rows)
                for start in range(0, len(hashes), BATCH):
                    chunk = hashes[start : start + BATCH]
                    have = set(
                        conn.execute(
                            select(text_embeddings.c.text_hash).where(
                                text_embeddings.c.model == model, text_embeddings.c.text_hash.in_(chunk)
                            )
                        ).scalars()
                    )
                    new = [rows[h] for h in chunk if h not in have]
                    if new:
                        conn.execute(insert(text_embeddings), new)
                        written += len(new)
        except SQLAlchemyError as exc:
            raise StoreError(f"embedding cache write rolled back, nothing was written: {exc}") from None
        return written

    def count(self, model: str | None = None) -> int:
        """Number of cached vectors (of one model, or all).

        Example
        -------
        >>> import tempfile, os
        >>> from pluralis.store import Store
        >>> with Store.open(os.path.join(tempfile.mkdtemp(), "s.sqlite")) as store:
        ...     EmbeddingCache(store).count("all-MiniLM-L6-v2")
        0
        """
        q = select(func.count()).select_from(text_embeddings)
        if model is not None:
            q = q.where(text_embeddings.c.model == model)
        with self.engine.connect() as conn:
            return int(conn.execute(q).scalar_one())

    def models(self) -> dict[str, int]:
        """Cached vectors per model name.

        Example
        -------
        >>> import tempfile, os
        >>> from pluralis.store import Store
        >>> with Store.open(os.path.join(tempfile.mkdtemp(), "s.sqlite")) as store:
        ...     c = EmbeddingCache(store)
        ...     _ = c.put("m", ["x"], np.zeros((1, 3)))
        ...     c.models()
        {'m': 1}
        """
        q = select(text_embeddings.c.model, func.count()).group_by(text_embeddings.c.model)
        with self.engine.connect() as conn:
            return {m: int(n) for m, n in conn.execute(q)}

    def clear(self, model: str | None = None) -> int:
        """Delete cached vectors (of one model, or all); returns how many.

        Example
        -------
        >>> import tempfile, os
        >>> from pluralis.store import Store
        >>> with Store.open(os.path.join(tempfile.mkdtemp(), "s.sqlite")) as store:
        ...     c = EmbeddingCache(store)
        ...     _ = c.put("m", ["x", "y"], np.zeros((2, 3)))
        ...     c.clear("m"), c.count()
        (2, 0)
        """
        q = delete(text_embeddings)
        if model is not None:
            q = q.where(text_embeddings.c.model == model)
        with self.engine.begin() as conn:
            return int(conn.execute(q).rowcount or 0)
