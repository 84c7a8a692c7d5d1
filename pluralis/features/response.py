"""Response features: PRISM's (App. T.8, spec §6.7) and the style features of the persona simulation.

One function, :func:`response_features`, computes every feature from the response text; the
phrase lists are those of :mod:`pluralis.features.phrases` (one list per concept). Score analyses
(:mod:`pluralis.ranking.explain`), the preference-model simulation (:mod:`pluralis.simulate`) and the
reward-model featurisers (:mod:`pluralis.learn.featurizers`) all use it.

PRISM's features (:data:`PRISM_FEATURES`, Tab. 27's order):

==========================  ===========================================================================
``text_length``             characters
``if_line_breaks``          contains ``\\n``
``if_question_marks``       the *last* character is ``?``
``if_enumeration``          a numbered (``\\n 1. ``) or bulleted (``\\n - ``) list after a newline
``if_deanthro``             de-anthropomorphic phrases ("As an AI", "I don't have personal", ...)
``if_refusal``              refusal phrases ("I'm sorry, but", "I cannot provide", ...)
``if_self_identification``  provider / model names ("OpenAI", "claude", "llama", ...)
==========================  ===========================================================================

Style features (:data:`STYLE_FEATURES`, what simulated participants react to):

==========================  ===========================================================================
``length``                  characters / 100
``refusal``                 the same as ``if_refusal``
``hedging``                 hedge phrases ("it depends", "some people", "might", ...) counted and scaled
                            to [0, 1]: ``min(count, 4) / 4``
``enumeration``             the same as ``if_enumeration``
``stance``                  lexicon score in [-1, 1]: ``(p - c) / max(p + c, 1)`` with ``p`` progressive
                            and ``c`` conservative cue words; 0 when neither occurs (positive =
                            progressive)
==========================  ===========================================================================

and ``log_length`` = ``log1p(characters / 100)``, the saturating length of the simulation and the
reward models. These are deliberately simple, transparent proxies (documented, testable), not
classifiers.

Phrases match as case-insensitive substrings, as PRISM's notebook 09 (so "metaphor" fires on
"meta", "napalm" on "palm"; ``word_boundaries=True`` is the stricter variant for the
de-anthropomorphism, refusal and self-identification lists, spec §9 #18). Pluralis's refusal list
and list regex extend PRISM's (:mod:`pluralis.features.phrases`); ``as_coded=True`` uses PRISM's
exactly, to reproduce Tab. 27.

Example
-------
>>> f = response_features(["I'm sorry, but I cannot provide that.", "It depends.\\n1. Equality\\n2. Rights"],
...                       features=STYLE_FEATURES)
>>> f.round(2).to_dict("records")[1]
{'length': 0.33, 'refusal': 0.0, 'hedging': 0.25, 'enumeration': 1.0, 'stance': 1.0}
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd

from pluralis.errors import ConfigError
from pluralis.features.phrases import (
    CONSERVATIVE_CUES,
    DEANTHRO_PHRASES,
    ENUMERATION_PATTERN,
    HEDGE_PHRASES,
    PRISM_ENUMERATION_PATTERN,
    PRISM_REFUSAL_PHRASES,
    PROGRESSIVE_CUES,
    REFUSAL_PHRASES,
    SELF_ID_PHRASES,
    phrase_pattern,
)

#: PRISM's response features (App. T.8), in Tab. 27's order.
PRISM_FEATURES: tuple[str, ...] = (
    "text_length",
    "if_line_breaks",
    "if_question_marks",
    "if_enumeration",
    "if_deanthro",
    "if_refusal",
    "if_self_identification",
)
#: The style features the persona simulation reacts to, in the order of :func:`style_array`.
STYLE_FEATURES: tuple[str, ...] = ("length", "refusal", "hedging", "enumeration", "stance")
#: Every feature :func:`response_features` computes.
ALL_FEATURES: tuple[str, ...] = PRISM_FEATURES + ("length", "log_length", "refusal", "hedging", "enumeration", "stance")
#: The length features (one concept in three units).
LENGTH_FEATURES: tuple[str, ...] = ("text_length", "length", "log_length")


@functools.lru_cache(maxsize=4)
def _patterns(word_boundaries: bool, as_coded: bool) -> dict[str, re.Pattern]:
    """Compiled patterns, matched against lower-cased text (``enumeration`` against the text itself)."""
    wb = bool(word_boundaries)
    return {
        "deanthro": phrase_pattern(DEANTHRO_PHRASES, word_boundaries=wb, lower=True),
        "refusal": phrase_pattern(
            PRISM_REFUSAL_PHRASES if as_coded else REFUSAL_PHRASES, word_boundaries=wb, lower=True
        ),
        "self_id": phrase_pattern(SELF_ID_PHRASES, word_boundaries=wb, lower=True),
        "hedge": phrase_pattern(HEDGE_PHRASES, lower=True),
        "progressive": phrase_pattern(PROGRESSIVE_CUES, lower=True),
        "conservative": phrase_pattern(CONSERVATIVE_CUES, lower=True),
        "enumeration": re.compile(PRISM_ENUMERATION_PATTERN if as_coded else ENUMERATION_PATTERN),
    }


def _clean(texts: Iterable) -> list[str]:
    """Texts as strings; missing values (None, NaN) become ``""``."""
    return [
        t if isinstance(t, str) else "" if t is None or t is pd.NA or (isinstance(t, float) and t != t) else str(t)
        for t in texts
    ]


#: From this many texts on, features are measured with pandas' vectorised string methods (pyarrow);
#: fewer are measured text by text (the simulation rates a handful at a time).
VECTOR_MIN_TEXTS = 64


class _TextByText:
    """Measurements of a few texts, one Python call per text."""

    def __init__(self, texts: list[str]):
        self.texts = texts
        self.n = len(texts)
        self._low: list[str] | None = None

    @property
    def low(self) -> list[str]:
        if self._low is None:
            self._low = [t.lower() for t in self.texts]
        return self._low

    def chars(self) -> np.ndarray:
        return np.fromiter(map(len, self.texts), dtype=float, count=self.n)

    def newline(self) -> np.ndarray:
        return np.fromiter(("\n" in t for t in self.texts), dtype=float, count=self.n)

    def ends_with_question(self) -> np.ndarray:
        return np.fromiter((t[-1:] == "?" for t in self.texts), dtype=float, count=self.n)

    def has(self, pattern: re.Pattern, *, lower: bool = True) -> np.ndarray:
        src = self.low if lower else self.texts
        return np.fromiter((pattern.search(t) is not None for t in src), dtype=float, count=self.n)

    def count(self, pattern: re.Pattern) -> np.ndarray:
        return np.fromiter((len(pattern.findall(t)) for t in self.low), dtype=float, count=self.n)


class _Vectorised(_TextByText):
    """Measurements of many texts with pandas' string methods (pyarrow-backed strings)."""

    def __init__(self, texts: list[str]):
        super().__init__(texts)
        self.s = pd.Series(texts, dtype="string[pyarrow]")
        self._vlow: pd.Series | None = None

    @property
    def vlow(self) -> pd.Series:
        if self._vlow is None:
            self._vlow = self.s.str.lower()
        return self._vlow

    def chars(self) -> np.ndarray:
        return self.s.str.len().to_numpy(dtype=float)

    def newline(self) -> np.ndarray:
        return self.s.str.contains("\n", regex=False).to_numpy(dtype=float)

    def ends_with_question(self) -> np.ndarray:
        return self.s.str.endswith("?").to_numpy(dtype=float)

    def has(self, pattern: re.Pattern, *, lower: bool = True) -> np.ndarray:
        return (self.vlow if lower else self.s).str.contains(pattern, regex=True).to_numpy(dtype=float)

    def count(self, pattern: re.Pattern) -> np.ndarray:
        return self.vlow.str.count(pattern.pattern).to_numpy(dtype=float)  # compiled without flags


def _columns(
    texts: list[str], names: Sequence[str], *, word_boundaries: bool = False, as_coded: bool = False
) -> dict[str, np.ndarray]:
    """The features ``names`` of ``texts`` as float arrays (the one place every feature is defined)."""
    pats = _patterns(word_boundaries, as_coded)
    m = _Vectorised(texts) if len(texts) >= VECTOR_MIN_TEXTS else _TextByText(texts)
    found: dict[str, np.ndarray] = {}

    def has(key: str) -> np.ndarray:
        if key not in found:
            found[key] = m.has(pats[key], lower=key != "enumeration")
        return found[key]

    out: dict[str, np.ndarray] = {}
    for name in names:
        if name in LENGTH_FEATURES:
            chars = m.chars()
            out[name] = chars if name == "text_length" else chars / 100.0 if name == "length" else np.log1p(chars / 100)
        elif name == "if_line_breaks":
            out[name] = m.newline()
        elif name == "if_question_marks":
            out[name] = m.ends_with_question()
        elif name in ("if_enumeration", "enumeration"):
            out[name] = has("enumeration")
        elif name == "if_deanthro":
            out[name] = has("deanthro")
        elif name in ("if_refusal", "refusal"):
            out[name] = has("refusal")
        elif name == "if_self_identification":
            out[name] = has("self_id")
        elif name == "hedging":
            out[name] = np.minimum(m.count(pats["hedge"]), 4.0) / 4.0
        elif name == "stance":
            p, c = m.count(pats["progressive"]), m.count(pats["conservative"])
            out[name] = (p - c) / np.maximum(p + c, 1.0)
        else:
            raise ConfigError(f"unknown feature {name!r}; available: {', '.join(ALL_FEATURES)}")
    return out


def check_features(features: Sequence[str]) -> list[str]:
    """The feature names, de-duplicated in order; unknown names are a :class:`~pluralis.errors.ConfigError`.

    Parameters
    ----------
    features
        names from :data:`ALL_FEATURES`.

    Returns
    -------
    list of str

    Example
    -------
    >>> check_features(["if_refusal", "hedging", "if_refusal"])
    ['if_refusal', 'hedging']
    """
    if isinstance(features, str):
        features = [features]
    names = list(dict.fromkeys(features))
    unknown = [f for f in names if f not in ALL_FEATURES]
    if unknown or not names:
        raise ConfigError(f"unknown feature(s) {unknown or names}; available: {', '.join(ALL_FEATURES)}")
    return names


def response_features(
    responses: pd.Series | Sequence[str] | np.ndarray,
    *,
    features: Sequence[str] = PRISM_FEATURES,
    word_boundaries: bool = False,
    as_coded: bool = False,
) -> pd.DataFrame:
    """The response features of each text (see the module docstring), as floats.

    Parameters
    ----------
    responses
        response texts (missing values count as empty texts); a Series keeps its index.
    features
        names from :data:`ALL_FEATURES` (default: PRISM's, :data:`PRISM_FEATURES`).
    word_boundaries
        match the de-anthropomorphism, refusal and self-identification phrases as whole words.
    as_coded
        PRISM's refusal list and list regex exactly as its notebook 09 codes them.

    Returns
    -------
    pandas.DataFrame
        one row per text, one column per feature (booleans as 0/1; each distinct text is computed once).

    See Also
    --------
    style_array : the style features of a few texts as a plain array (the simulation's fast path).

    Example
    -------
    >>> f = response_features(["As an AI, I think so.\\n1. Yes", "Sure?"])
    >>> f.astype(int).values.tolist()
    [[28, 1, 0, 1, 1, 0, 0], [5, 0, 1, 0, 0, 0, 0]]
    >>> lists = ["Options:\\n1) a\\n2) b"]
    >>> float(response_features(lists, features=["if_enumeration"]).iloc[0, 0])
    1.0
    >>> float(response_features(lists, features=["if_enumeration"], as_coded=True).iloc[0, 0])
    0.0
    """
    names = check_features(features)
    s = responses if isinstance(responses, pd.Series) else pd.Series(list(responses), dtype=object)
    text = pd.Series(s.to_numpy(dtype=object), dtype=object).fillna("").astype(str)
    codes, uniques = pd.factorize(text, use_na_sentinel=False)
    cols = _columns(list(uniques), names, word_boundaries=word_boundaries, as_coded=as_coded)
    return pd.DataFrame({n: cols[n][codes] for n in names}, index=s.index)


def style_array(texts: Sequence[str] | np.ndarray) -> np.ndarray:
    """The :data:`STYLE_FEATURES` of ``texts`` as a plain ``(n, 5)`` float array.

    The same definitions as :func:`response_features`, without the pandas overhead: the path the
    simulation takes for the handful of responses a participant rates at a time.

    Parameters
    ----------
    texts
        response texts.

    Returns
    -------
    numpy.ndarray
        ``(len(texts), 5)``: length / 100, refusal, hedging, enumeration, stance.

    Example
    -------
    >>> style_array(["Sure.", "I'm sorry, but no."]).tolist()
    [[0.05, 0.0, 0.0, 0.0, 0.0], [0.18, 1.0, 0.0, 0.0, 0.0]]
    """
    clean = _clean(texts)
    cols = _columns(clean, STYLE_FEATURES)
    return np.column_stack([cols[n] for n in STYLE_FEATURES]) if clean else np.zeros((0, len(STYLE_FEATURES)))


def style_features(texts: Sequence[str] | pd.Series) -> pd.DataFrame:
    """The :data:`STYLE_FEATURES` of each text as a DataFrame (same index as a Series input).

    Parameters
    ----------
    texts
        response texts (a Series keeps its index).

    Returns
    -------
    pandas.DataFrame
        one row per text, columns :data:`STYLE_FEATURES` (length / 100, refusal, hedging, enumeration, stance).

    Example
    -------
    >>> float(style_features(["Short answer."])["length"].iloc[0])
    0.13
    """
    index = texts.index if isinstance(texts, pd.Series) else pd.RangeIndex(len(texts))
    return pd.DataFrame(style_array(list(texts)), index=index, columns=list(STYLE_FEATURES))
