"""PRISM's topic pipeline as a scikit-learn estimator: embeddings -> UMAP -> HDBSCAN -> keywords -> names.

:class:`TopicModel` follows spec §5.1 (PRISM App. R.1, ``clustering.py``):

1. sentence embeddings of every text (an injected embedder, :mod:`pluralis.topics.embed`);
2. UMAP to 20 dimensions (``n_neighbors=15, min_dist=0, metric="cosine", random_state=42``);
3. HDBSCAN (``min_cluster_size`` ≈ 1 % of the texts — PRISM: 80 of 8,011 — ``min_samples`` =
   ``min_cluster_size``, ``"eom"``; scikit-learn's ``HDBSCAN``); label ``-1`` = outlier;
4. centroids = mean 20-D vector per topic; each text's Euclidean distance to its centroid; the 5
   closest ("typical") and 5 furthest texts per topic;
5. class-based TF-IDF keywords (:mod:`pluralis.topics.ctfidf`);
6. a name per topic from an injected ``namer(top_texts, top_words) -> str`` (an LLM with PRISM's
   prompt, :mod:`pluralis.topics.naming`), else from the keywords.

Neighbours: UMAP's graph needs each text's 15 nearest neighbours. ``neighbors="exact"`` computes
them by blocked cosine similarities (``"auto"``: up to 12,000 texts, so PRISM-sized runs skip
NN-descent's compilation and are exact); ``"approximate"`` uses UMAP's NN-descent (pynndescent).
For Arena-sized sets (a million prompts) ``max_fit_texts`` fits UMAP and HDBSCAN on a random
sample and places every other text by its 10 nearest fitted texts in the embedding space (cosine;
exact for small sets, pynndescent otherwise): it takes their majority topic (outliers included as
a class) and the mean of their reduced vectors (``placement="neighbours"``, the default), or UMAP's
own ``transform`` and then the majority topic of its 10 nearest fitted neighbours in the reduced
space (``placement="umap"``, slower).

Example
-------
>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> centers = rng.normal(size=(3, 16))
>>> X = np.repeat(centers, 40, axis=0) + rng.normal(scale=0.05, size=(120, 16))
>>> texts = ["cheap flight to Peru"] * 40 + ["bread recipe to bake"] * 40 + ["vote in the election"] * 40
>>> tm = TopicModel(reducer="none", min_cluster_size=20).fit(texts, embeddings=X)
>>> tm.n_topics_, sorted(tm.topics_["size"].tolist())
(3, [40, 40, 40])
>>> tm.topics_.set_index("topic").loc[tm.labels_[0], "keywords"][:2]
['cheap', 'cheap flight']
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClusterMixin

from pluralis.errors import ConfigError
from pluralis.topics.ctfidf import topic_keywords
from pluralis.topics.embed import Embedder, embed_texts
from pluralis.topics.naming import OUTLIER_NAME, Namer, keyword_name, unique_names

#: Up to this many texts, ``neighbors="auto"`` computes exact cosine neighbours.
EXACT_NEIGHBOURS_MAX = 12_000


@contextmanager
def _quiet_umap():
    """Silence UMAP's notices about our own choices (a seed forces one thread; precomputed neighbours)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*n_jobs value.*overridden.*", category=UserWarning)
        warnings.filterwarnings("ignore", message=".*precomputed_knn.*", category=UserWarning)
        yield


def _nearest_fitted(fit: np.ndarray, rest: np.ndarray, k: int, *, metric: str, seed: int | None) -> np.ndarray:
    """Indices (into ``fit``) of each ``rest`` row's ``k`` nearest rows: exact when small, else pynndescent."""
    if len(fit) * len(rest) <= 400_000_000:
        from sklearn.neighbors import NearestNeighbors

        nn = NearestNeighbors(n_neighbors=k, metric=metric, algorithm="brute").fit(fit)
        return nn.kneighbors(rest, return_distance=False)
    try:
        from pynndescent import NNDescent
    except ImportError:
        raise ConfigError(
            "placing texts outside the sample needs pynndescent: pip install 'pluralis[topics]'"
        ) from None
    index = NNDescent(fit, n_neighbors=max(k, 15), metric=metric, random_state=seed)
    index.prepare()
    idx, _ = index.query(rest, k=k)
    return idx


def _majority(labels: np.ndarray) -> np.ndarray:
    """Most frequent label in each row (ties: the smallest label; -1 counts as a label)."""
    shifted = labels + 1
    counts = np.zeros((len(labels), int(shifted.max(initial=0)) + 1), dtype=np.int32)
    np.add.at(counts, (np.repeat(np.arange(len(labels)), labels.shape[1]), shifted.ravel()), 1)
    return counts.argmax(axis=1) - 1


def knn_cosine(X: np.ndarray, k: int, *, block: int = 2048) -> tuple[np.ndarray, np.ndarray]:
    """Exact ``k`` nearest neighbours by cosine distance, each row's own index first.

    Returns ``(indices, distances)``, both ``(n, k)``, nearest first (``1 - cos``, clipped at 0).

    Parameters
    ----------
    X : numpy.ndarray
        Vectors ``(n, dim)`` (zero rows allowed).
    k : int
        Neighbours per row, itself included (``1 <= k <= n``).
    block : int
        Rows compared at once (memory ``O(block * n)``; default 2048).

    Returns
    -------
    tuple of (numpy.ndarray, numpy.ndarray)
        ``indices`` (int64) and ``distances`` (float32), both ``(n, k)``.

    Example
    -------
    >>> X = np.array([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0]])
    >>> idx, d = knn_cosine(X, 2)
    >>> idx.tolist(), [round(float(x), 3) for x in d[:, 1]]
    ([[0, 1], [1, 0], [2, 1]], [0.006, 0.006, 0.89])
    """
    X = np.asarray(X, dtype=np.float32)
    n = X.shape[0]
    if not 1 <= k <= n:
        raise ConfigError(f"need 1 <= k <= number of texts ({n}), got k={k}")
    norms = np.linalg.norm(X, axis=1, keepdims=True)
    Xn = X / np.where(norms > 0, norms, 1.0)
    indices = np.empty((n, k), dtype=np.int64)
    dists = np.empty((n, k), dtype=np.float32)
    for start in range(0, n, block):  # blocks of rows: memory O(block * n)
        stop = min(n, start + block)
        S = Xn[start:stop] @ Xn.T
        rows = np.arange(stop - start)
        S[rows, rows + start] = np.inf  # self first, even among exact duplicates
        part = np.argpartition(-S, k - 1, axis=1)[:, :k] if k < n else np.tile(np.arange(n), (stop - start, 1))
        sims = np.take_along_axis(S, part, axis=1)
        order = np.argsort(-sims, axis=1, kind="stable")
        indices[start:stop] = np.take_along_axis(part, order, axis=1)
        top = np.take_along_axis(sims, order, axis=1)
        top[:, 0] = 1.0
        dists[start:stop] = np.clip(1.0 - top, 0.0, None)
    return indices, dists


class TopicModel(ClusterMixin, BaseEstimator):
    """Topics of short texts (see the module docstring); ``fit(texts).labels_``.

    Parameters
    ----------
    embedder
        callable ``texts -> (n, dim)`` array; ``None``: the bundled all-MiniLM-L6-v2
        (:class:`~pluralis.topics.embed.SentenceEmbedder`). Ignored when ``fit`` gets ``embeddings``.
    n_neighbors, n_components, min_dist, metric
        UMAP settings (PRISM: 15, 20, 0.0, ``"cosine"``).
    reducer
        ``"umap"`` (PRISM) or ``"none"`` (cluster the embeddings themselves; for tests and
        precomputed low-dimensional inputs).
    min_cluster_size, min_cluster_share
        HDBSCAN's minimum cluster size; default ``round(min_cluster_share * n_texts)`` (PRISM: 1 %),
        at least 2.
    min_samples, cluster_selection_method
        HDBSCAN settings (``None`` = ``min_cluster_size``, as PRISM's default; ``"eom"``).
    neighbors
        ``"auto"``, ``"exact"`` or ``"approximate"`` (see the module docstring).
    max_fit_texts
        fit on at most this many texts (a random sample) and place the rest; ``None``: fit on all.
    placement
        how texts outside the ``max_fit_texts`` sample are placed: ``"neighbours"`` or ``"umap"``.
    deduplicate
        cluster each distinct text once, every copy taking its topic (``min_cluster_size`` then
        counts distinct texts, and typical texts are distinct). PRISM clustered every copy
        (``False``): many copies of one text are a dense clump that HDBSCAN tends to make a
        topic, or its own fragment of one.
    n_keywords, n_typical, ngram_range, stop_words
        keywords per topic (10), closest/furthest texts per topic (5), c-TF-IDF vectoriser settings.
    namer
        ``namer(top_texts, top_words) -> str``; ``None``: names from the keywords.
    random_state, n_jobs
        UMAP's seed (PRISM: 42; ``None`` lets UMAP run in parallel) and threads.

    Attributes
    ----------
    labels_ : ndarray of int, topic per text (``-1``: outlier)
    embedding_ : ndarray (n_texts, n_components), the reduced vectors
    centroids_ : DataFrame, topic x component means
    distances_ : ndarray, distance of each text to its topic's centroid (NaN for outliers)
    keywords_, typical_texts_, furthest_texts_, names_ : dicts by topic label
    topics_ : DataFrame, one row per topic (outliers last): ``topic, name, size, share, keywords,
        keyword_scores, typical_texts, furthest_texts``
    n_topics_, outlier_share_, min_cluster_size_, fit_index_, timings_ (seconds per step)
    """

    def __init__(
        self,
        embedder: Embedder | None = None,
        *,
        n_neighbors: int = 15,
        n_components: int = 20,
        min_dist: float = 0.0,
        metric: str = "cosine",
        reducer: str = "umap",
        min_cluster_size: int | None = None,
        min_cluster_share: float = 0.01,
        min_samples: int | None = None,
        cluster_selection_method: str = "eom",
        neighbors: str = "auto",
        max_fit_texts: int | None = None,
        deduplicate: bool = False,
        placement: str = "neighbours",
        n_keywords: int = 10,
        n_typical: int = 5,
        ngram_range: tuple[int, int] = (1, 2),
        stop_words: str | list[str] | None = "english",
        namer: Namer | None = None,
        random_state: int | None = 42,
        n_jobs: int | None = None,
    ):
        self.embedder = embedder
        self.n_neighbors = n_neighbors
        self.n_components = n_components
        self.min_dist = min_dist
        self.metric = metric
        self.reducer = reducer
        self.min_cluster_size = min_cluster_size
        self.min_cluster_share = min_cluster_share
        self.min_samples = min_samples
        self.cluster_selection_method = cluster_selection_method
        self.neighbors = neighbors
        self.max_fit_texts = max_fit_texts
        self.deduplicate = deduplicate
        self.placement = placement
        self.n_keywords = n_keywords
        self.n_typical = n_typical
        self.ngram_range = ngram_range
        self.stop_words = stop_words
        self.namer = namer
        self.random_state = random_state
        self.n_jobs = n_jobs

    # -- fitting --------------------------------------------------------------------------------

    def _check(self, n: int) -> None:
        if self.reducer not in ("umap", "none"):
            raise ConfigError(f"reducer must be 'umap' or 'none', got {self.reducer!r}")
        if self.placement not in ("neighbours", "umap"):
            raise ConfigError(f"placement must be 'neighbours' or 'umap', got {self.placement!r}")
        if self.neighbors not in ("auto", "exact", "approximate"):
            raise ConfigError(f"neighbors must be 'auto', 'exact' or 'approximate', got {self.neighbors!r}")
        if self.cluster_selection_method not in ("eom", "leaf"):
            raise ConfigError(
                f"cluster_selection_method must be 'eom' or 'leaf', got {self.cluster_selection_method!r}"
            )
        if self.reducer == "umap" and n < self.n_neighbors + 2:
            raise ConfigError(f"{n} texts are too few for UMAP with n_neighbors={self.n_neighbors}")
        if n < 2:
            raise ConfigError("need at least 2 texts to find topics")

    def fit(self, X: Sequence[str], y: Any = None, *, embeddings: np.ndarray | None = None) -> TopicModel:
        """Find the topics of the texts ``X`` (optionally with their precomputed ``embeddings``).

        Example
        -------
        >>> rng = np.random.default_rng(1)
        >>> E = np.vstack([rng.normal(0, 0.1, (30, 5)), rng.normal(3, 0.1, (30, 5))])
        >>> TopicModel(reducer="none", min_cluster_size=10).fit(["a x"] * 30 + ["b y"] * 30, embeddings=E).n_topics_
        2
        """
        texts = pd.Series(list(X), dtype=object).fillna("").astype(str)
        self._check(len(texts))
        if embeddings is None:
            embeddings = embed_texts(list(texts), self.embedder)
        E_all = np.asarray(embeddings, dtype=np.float32)
        if E_all.ndim != 2 or E_all.shape[0] != len(texts):
            raise ConfigError(f"embeddings have shape {E_all.shape}; expected ({len(texts)}, dim)")
        if self.deduplicate:
            codes, uniques = pd.factorize(texts, use_na_sentinel=False)
            first = pd.Series(np.arange(len(texts))).groupby(codes).first().to_numpy()
            E = E_all[first]
        else:
            codes, first, E = np.arange(len(texts)), np.arange(len(texts)), E_all
        n = len(E)
        self._check(n)
        rng = np.random.default_rng(self.random_state)
        if self.max_fit_texts is not None and n > int(self.max_fit_texts):
            fit_index = np.sort(rng.choice(n, size=int(self.max_fit_texts), replace=False))
        else:
            fit_index = np.arange(n)
        sampled = len(fit_index) < n
        n_fit = len(fit_index)
        self.min_cluster_size_ = int(
            self.min_cluster_size
            if self.min_cluster_size is not None
            else max(2, int(round(self.min_cluster_share * n_fit)))
        )
        self._embeddings = E
        self._codes = codes
        self._knn = None
        self.timings_: dict[str, float] = {}
        clock = time.perf_counter()

        def lap(name: str) -> None:
            nonlocal clock
            now = time.perf_counter()
            self.timings_[name] = now - clock
            clock = now

        if self.reducer == "umap":
            reduced = np.empty((n, int(self.n_components)), dtype=np.float32)
            exact = self.neighbors == "exact" or (self.neighbors == "auto" and n_fit <= EXACT_NEIGHBOURS_MAX)
            if sampled and self.placement == "umap":
                exact = False  # transform() of the unsampled texts needs UMAP's own search index
            if exact:
                self._knn = knn_cosine(E[fit_index], int(self.n_neighbors))
                lap("neighbours")
            self._reducer_ = self._umap(int(self.n_components))
            with _quiet_umap():
                reduced[fit_index] = self._reducer_.fit_transform(E[fit_index])
                if sampled and self.placement == "umap":
                    rest = np.setdiff1d(np.arange(n), fit_index)
                    reduced[rest] = self._reducer_.transform(E[rest])
            lap("umap")
        else:
            reduced = E.copy()
        from sklearn.cluster import HDBSCAN

        hdb = HDBSCAN(
            min_cluster_size=self.min_cluster_size_,
            min_samples=self.min_samples,
            metric="euclidean",
            cluster_selection_method=self.cluster_selection_method,
            copy=True,
        )
        labels = np.full(n, -1, dtype=np.int64)
        labels[fit_index] = hdb.fit_predict(reduced[fit_index])
        lap("hdbscan")
        if sampled:
            rest = np.setdiff1d(np.arange(n), fit_index)
            k = min(10, n_fit)
            if self.placement == "umap" or self.reducer == "none":
                nb = _nearest_fitted(reduced[fit_index], reduced[rest], k, metric="euclidean", seed=self.random_state)
            else:
                nb = _nearest_fitted(E[fit_index], E[rest], k, metric="cosine", seed=self.random_state)
                fitted = reduced[fit_index]
                for start in range(0, len(rest), 100_000):  # blocks: the (rows x k x dims) gather stays small
                    block = slice(start, start + 100_000)
                    reduced[rest[block]] = fitted[nb[block]].mean(axis=1)
            labels[rest] = _majority(labels[fit_index][nb])
            lap("placement")
        self.labels_ = labels[codes]
        self.embedding_ = reduced[codes]
        self.fit_index_ = fit_index
        self.texts_ = texts
        self._describe(texts, self.embedding_, self.labels_)
        lap("keywords, typical texts, names")
        return self

    #: Optimisation epochs of the 2-D map's UMAP (``None``: UMAP's default, 500 below 10,000 texts, as
    #: PRISM's map). The map is for looking at; 200 epochs draw the same picture in 40 % of the time.
    map_epochs: int | None = 200

    def _umap(self, n_components: int, n_epochs: int | None = None):
        try:
            from umap import UMAP
        except ImportError:
            raise ConfigError("topic clustering needs umap-learn: pip install 'pluralis[topics]'") from None
        kwargs: dict[str, Any] = {}
        if self._knn is not None:
            kwargs["precomputed_knn"] = (self._knn[0], self._knn[1], None)
        return UMAP(
            n_components=n_components,
            n_neighbors=int(self.n_neighbors),
            min_dist=float(self.min_dist),
            metric=self.metric,
            random_state=self.random_state,
            n_jobs=self.n_jobs if self.n_jobs is not None else (1 if self.random_state is not None else -1),
            n_epochs=n_epochs,
            **kwargs,
        )

    def _describe(self, texts: pd.Series, reduced: np.ndarray, labels: np.ndarray) -> None:
        n = len(texts)
        topic_ids = np.unique(labels[labels >= 0])
        frame = pd.DataFrame(reduced).assign(_t=labels)
        centroids = frame[frame["_t"] >= 0].groupby("_t").mean()
        centroids.index.name = "topic"
        self.centroids_ = centroids
        dist = np.full(n, np.nan)
        ok = labels >= 0
        if ok.any():
            C = centroids.loc[labels[ok]].to_numpy()
            dist[ok] = np.linalg.norm(reduced[ok] - C, axis=1)
        self.distances_ = dist
        # closest / furthest texts: a stable sort by (topic, distance) keeps the first text among ties
        order = np.lexsort((np.arange(n), dist, labels))
        typical: dict[int, list[str]] = {}
        furthest: dict[int, list[str]] = {}
        sorted_labels = labels[order]
        starts = np.searchsorted(sorted_labels, topic_ids, side="left")
        ends = np.searchsorted(sorted_labels, topic_ids, side="right")
        tv = texts.to_numpy()
        k = int(self.n_typical)
        for t, a, b in zip(topic_ids, starts, ends):  # one iteration per topic
            rows = order[a:b]
            if self.deduplicate:
                rows = rows[~pd.Series(tv[rows]).duplicated().to_numpy()]
            typical[int(t)] = [str(x) for x in tv[rows[:k]]]
            furthest[int(t)] = [str(x) for x in tv[rows[::-1][:k]]]
        kw = topic_keywords(
            texts.tolist(),
            labels,
            top_n=int(self.n_keywords),
            m=n,
            ngram_range=tuple(self.ngram_range),  # type: ignore[arg-type]
            stop_words=self.stop_words,
            with_scores=True,
        )
        self.keywords_ = {t: [w for w, _ in pairs] for t, pairs in kw.items()}
        self.typical_texts_ = typical
        self.furthest_texts_ = furthest
        names: dict[int, str] = {}
        for t in topic_ids:
            t = int(t)
            words = self.keywords_.get(t, [])
            if self.namer is not None:
                names[t] = str(self.namer(typical[t], words)).strip() or keyword_name(words)
            else:
                names[t] = keyword_name(words)
        names = unique_names(names)
        if (labels == -1).any():
            names[-1] = OUTLIER_NAME
        self.names_ = names
        sizes = pd.Series(labels).value_counts()
        records: list[dict[str, Any]] = []
        for t in [*map(int, topic_ids), *([-1] if (labels == -1).any() else [])]:
            records.append(
                {
                    "topic": t,
                    "name": names[t],
                    "size": int(sizes.get(t, 0)),
                    "share": float(sizes.get(t, 0)) / n,
                    "keywords": self.keywords_.get(t, []),
                    "keyword_scores": [s for _, s in kw.get(t, [])],
                    "typical_texts": typical.get(t, []),
                    "furthest_texts": furthest.get(t, []),
                }
            )
        topics = pd.DataFrame(records)
        if len(topics):
            main = topics[topics["topic"] >= 0].sort_values(["size", "topic"], ascending=[False, True])
            topics = pd.concat([main, topics[topics["topic"] < 0]], ignore_index=True)
        self.topics_ = topics
        self.n_topics_ = len(topic_ids)
        self.outlier_share_ = float((labels == -1).mean()) if n else 0.0

    # -- results --------------------------------------------------------------------------------

    def rename(self, namer: Namer) -> TopicModel:
        """Name (or rename) the fitted topics with ``namer(top_texts, top_words)``; returns ``self``.

        Example
        -------
        >>> E = np.vstack([np.zeros((10, 2)), np.ones((10, 2)) * 5]) + np.random.default_rng(0).normal(0, .1, (20, 2))
        >>> tm = TopicModel(reducer="none", min_cluster_size=5).fit(["a"] * 10 + ["b"] * 10, embeddings=E)
        >>> sorted(tm.rename(lambda texts, words: f"about {texts[0]}").names_.values())
        ['about a', 'about b']
        """
        self._fitted()
        names = {}
        for t in self.typical_texts_:
            names[t] = str(namer(self.typical_texts_[t], self.keywords_.get(t, []))).strip() or keyword_name(
                self.keywords_.get(t, [])
            )
        names = unique_names(names)
        if -1 in self.names_:
            names[-1] = OUTLIER_NAME
        self.names_ = names
        self.topics_["name"] = self.topics_["topic"].map(names)
        return self

    def _fitted(self) -> None:
        if not hasattr(self, "labels_"):
            raise ConfigError("this TopicModel is not fitted yet; call fit(texts) first")

    def coordinates_2d(self) -> np.ndarray:
        """2-D UMAP coordinates of the texts (same settings, 2 components) for maps; cached.

        With ``max_fit_texts`` only the fitted sample gets coordinates (NaN elsewhere); with
        ``reducer="none"`` the first two reduced dimensions are used.

        Example
        -------
        >>> E = np.random.default_rng(0).normal(size=(30, 4))
        >>> TopicModel(reducer="none", min_cluster_size=5).fit(["t"] * 30, embeddings=E).coordinates_2d().shape
        (30, 2)
        """
        self._fitted()
        cached: np.ndarray | None = getattr(self, "_coords", None)
        if cached is not None:
            return cached
        coords = np.full((len(self.labels_), 2), np.nan, dtype=np.float32)
        if self.reducer == "none":
            red = self.embedding_
            coords[:, : min(2, red.shape[1])] = red[:, :2]
        else:
            unique_coords = np.full((len(self._embeddings), 2), np.nan, dtype=np.float32)
            with _quiet_umap():
                reducer = self._umap(2, n_epochs=self.map_epochs)
                unique_coords[self.fit_index_] = reducer.fit_transform(self._embeddings[self.fit_index_])
            coords = unique_coords[self._codes]
        self._coords = coords
        return coords

    def assignments(self, **columns: Sequence[Any]) -> pd.DataFrame:
        """One row per text: ``text, topic, topic_name, distance`` plus any given columns.

        Example
        -------
        >>> E = np.random.default_rng(0).normal(size=(12, 3))
        >>> tm = TopicModel(reducer="none", min_cluster_size=3).fit(["x"] * 12, embeddings=E)
        >>> list(tm.assignments(user_id=range(12)).columns)
        ['user_id', 'text', 'topic', 'topic_name', 'distance']
        """
        self._fitted()
        out = pd.DataFrame({k: list(v) for k, v in columns.items()})
        out["text"] = self.texts_.to_numpy()
        out["topic"] = self.labels_
        out["topic_name"] = pd.Series(self.labels_).map(self.names_).to_numpy()
        out["distance"] = self.distances_
        return out


def fit_topics(
    texts: Sequence[str],
    *,
    embeddings: np.ndarray | None = None,
    embedder: Embedder | None = None,
    namer: Callable[[list[str], list[str]], str] | None = None,
    **params: Any,
) -> TopicModel:
    """Fit a :class:`TopicModel` in one call (``params`` are its settings).

    Parameters
    ----------
    texts : sequence of str
        The texts.
    embeddings : numpy.ndarray, optional
        Precomputed embeddings ``(n_texts, dim)``; ``None`` (default) embeds with ``embedder``.
    embedder : Embedder, optional
        Embeds the texts when ``embeddings`` is not given (default :class:`SentenceEmbedder`).
    namer : callable, optional
        Names a topic from its keywords and example texts; ``None`` for keyword names.
    **params
        :class:`TopicModel` settings (``reducer``, ``min_cluster_size``, ...).

    Returns
    -------
    TopicModel
        The fitted model.

    Example
    -------
    >>> E = np.vstack([np.zeros((10, 2)), np.full((10, 2), 4.0)]) + np.random.default_rng(2).normal(0, .1, (20, 2))
    >>> fit_topics(["hi"] * 20, embeddings=E, reducer="none", min_cluster_size=5).n_topics_
    2
    """
    return TopicModel(embedder, namer=namer, **params).fit(texts, embeddings=embeddings)
