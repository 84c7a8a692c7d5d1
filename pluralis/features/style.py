"""Response features the preference-model simulation reacts to (vectorised over many texts).

=============  =================================================================================
feature        definition (computed on the response text)
=============  =================================================================================
``length``     characters / 100
``refusal``    1 if a refusal phrase occurs (PRISM's list, spec §6.7, plus a few common variants)
``hedging``    hedge phrases ("it depends", "some people", "on the other hand", "might", ...)
               counted and scaled to [0, 1]: ``min(count, 4) / 4``
``enumeration`` 1 if a numbered or bulleted list follows a newline (PRISM's regex)
``stance``     lexicon score in [-1, 1]: ``(p - c) / max(p + c, 1)`` with ``p`` progressive and ``c``
               conservative cue words (e.g. "equality", "climate" vs "tradition", "faith"); 0 when
               neither occurs. Positive = progressive, negative = conservative.
=============  =================================================================================

These are deliberately simple, transparent proxies (documented, testable), not classifiers.

Example
-------
>>> f = text_features(["I'm sorry, but I cannot provide that.", "It depends.\\n1. Equality\\n2. Rights"])
>>> f.round(2).to_dict("records")[1]
{'length': 0.33, 'refusal': 0.0, 'hedging': 0.25, 'enumeration': 1.0, 'stance': 1.0}
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np
import pandas as pd

FEATURES: tuple[str, ...] = ("length", "refusal", "hedging", "enumeration", "stance")

REFUSAL_PHRASES: tuple[str, ...] = (
    "I'm sorry, but",
    "I'm not able",
    "it is not appropriate",
    "it's not appropriate",
    "it is not ethical",
    "it's not ethical",
    "I cannot answer that question",
    "I'm unable",
    "I am unable to",
    "I can't help you with that",
    "I cannot provide",
    "I can't engage in that conversation",
    "I cannot take sides",
    "I cannot give",
    "I cannot engage",
    "I am not able to answer",
    "I cannot endorse",
    "I cannot produce",
    "I apologize, but",
    "I apologise, but",
    "I can't provide",
    "I won't be able to",
    "I cannot help with",
)
HEDGE_PHRASES: tuple[str, ...] = (
    "it depends",
    "depends on",
    "some people",
    "others",
    "on the other hand",
    "however",
    "might",
    "may ",
    "perhaps",
    "possibly",
    "it's important to",
    "it is important to",
    "it's worth noting",
    "many perspectives",
    "different perspectives",
    "there is no single",
    "there's no single",
    "ultimately",
    "can vary",
    "complex issue",
    "reasonable people",
)
PROGRESSIVE_CUES: tuple[str, ...] = (
    "equality",
    "equity",
    "inclusive",
    "inclusion",
    "diversity",
    "diverse",
    "climate",
    "rights",
    "marginalised",
    "marginalized",
    "systemic",
    "social justice",
    "renewable",
    "regulation",
    "public health",
    "welfare",
    "progressive",
    "bodily autonomy",
    "refugees",
    "lgbtq",
    "discrimination",
    "sustainab",
)
CONSERVATIVE_CUES: tuple[str, ...] = (
    "tradition",
    "faith",
    "family values",
    "freedom",
    "liberty",
    "personal responsibility",
    "law and order",
    "border",
    "free market",
    "lower taxes",
    "religious",
    "sanctity",
    "self-reliance",
    "patriot",
    "heritage",
    "second amendment",
    "security",
    "community values",
    "hard work",
    "moral",
)
ENUMERATION_PATTERN = r"\n\s*\d+[.)]\s+|\n\s*[-*\u2022]\s+"


def _pattern(phrases: Sequence[str]) -> str:
    # matched against lower-cased text (much faster than re.IGNORECASE on long alternations)
    return "|".join(re.escape(p.lower()) for p in phrases)


_REFUSAL = re.compile(_pattern(REFUSAL_PHRASES))
_HEDGE = re.compile(_pattern(HEDGE_PHRASES))
_PROG = re.compile(_pattern(PROGRESSIVE_CUES))
_CONS = re.compile(_pattern(CONSERVATIVE_CUES))
_ENUM = re.compile(ENUMERATION_PATTERN)


def text_features(texts: Sequence[str] | pd.Series) -> pd.DataFrame:
    """The :data:`FEATURES` of each text, as floats (one row per text, same index as a Series input).

    Example
    -------
    >>> float(text_features(["Short answer."])["length"].iloc[0])
    0.13
    """
    s = pd.Series(texts, dtype=object).fillna("").astype(str)
    low = s.str.lower()
    out = pd.DataFrame(index=s.index)
    out["length"] = s.str.len().to_numpy(dtype=float) / 100.0
    out["refusal"] = low.str.contains(_REFUSAL, regex=True).astype(float)
    out["hedging"] = np.minimum(low.str.count(_HEDGE).to_numpy(dtype=float), 4.0) / 4.0
    out["enumeration"] = s.str.contains(_ENUM, regex=True).astype(float)
    p = low.str.count(_PROG).to_numpy(dtype=float)
    c = low.str.count(_CONS).to_numpy(dtype=float)
    out["stance"] = (p - c) / np.maximum(p + c, 1.0)
    return out


def features_array(texts: Sequence[str]) -> np.ndarray:
    """:func:`text_features` as a plain ``(n, 5)`` array (fast path for a handful of texts).

    Example
    -------
    >>> features_array(["1.", "I'm sorry, but no."]).shape
    (2, 5)
    """
    rows = []
    for t in texts:
        t = t or ""
        low = t.lower()
        p = len(_PROG.findall(low))
        c = len(_CONS.findall(low))
        rows.append(
            (
                len(t) / 100.0,
                float(bool(_REFUSAL.search(low))),
                min(len(_HEDGE.findall(low)), 4) / 4.0,
                float(bool(_ENUM.search(t))),
                (p - c) / max(p + c, 1),
            )
        )
    return np.array(rows, dtype=float).reshape(len(rows), len(FEATURES))
