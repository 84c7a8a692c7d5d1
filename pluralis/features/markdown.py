"""Markdown style elements of responses, as Chatbot Arena's style control counts them.

=================  ==============================================================================
element            definition (on the response text, code blocks ```...``` removed first)
=================  ==============================================================================
``tokens``         whitespace-separated words (a tokenizer-free stand-in for Arena's token count)
``header_count``   markdown headers: lines starting with 1-6 ``#`` and a space
``list_count``     list items: lines starting with ``1.`` / ``2)`` ... or ``-`` / ``*`` / ``+``
``bold_count``     bold spans: ``**text**`` or ``__text__`` (within one line)
=================  ==============================================================================

:func:`style_differences` turns the elements of two responses into Arena's covariates of a
pairwise comparison: the normalised difference ``(x_a - x_b) / (x_a + x_b + 1)`` of each
element, then standardised over the battles (mean 0, SD 1; a constant column stays 0).
Style-controlled Bradley–Terry (:mod:`pluralis.ranking.methods.style_bt`) puts these next to
the model indicators, so a model's rating is its strength at equal style.

Example
-------
>>> markdown_style(["# Title\\n- a\\n- b\\n**bold** text", "plain answer"]).to_dict("records")
[{'tokens': 8.0, 'header_count': 1.0, 'list_count': 2.0, 'bold_count': 1.0}, {'tokens': 2.0, 'header_count': 0.0, 'list_count': 0.0, 'bold_count': 0.0}]
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np
import pandas as pd

__all__ = ["STYLE_ELEMENTS", "markdown_style", "style_differences"]

#: The style elements, in the order of :func:`markdown_style`'s columns.
STYLE_ELEMENTS: tuple[str, ...] = ("tokens", "header_count", "list_count", "bold_count")

_CODE = re.compile(r"```.*?```", re.DOTALL)
_HEADER = re.compile(r"^#{1,6}\s", re.MULTILINE)
_LIST = re.compile(r"^\s*(?:\d+[.)]|[-*+])\s", re.MULTILINE)
_BOLD = re.compile(r"\*\*[^*\n]+\*\*|__[^_\n]+__")
_WORD = re.compile(r"\S+")


def markdown_style(texts: Sequence[str | None] | pd.Series) -> pd.DataFrame:
    """Count the :data:`STYLE_ELEMENTS` of each text (missing texts count as empty).

    Parameters
    ----------
    texts
        response texts.

    Returns
    -------
    pandas.DataFrame
        one row per text (same index as a Series input), float columns :data:`STYLE_ELEMENTS`.

    Example
    -------
    >>> markdown_style(["1. one\\n2. two", None])["list_count"].tolist()
    [2.0, 0.0]
    """
    s = pd.Series(texts, dtype=object)
    clean = s.where(s.notna(), "").astype(str).str.replace(_CODE, "", regex=True)
    out = pd.DataFrame(index=s.index)
    out["tokens"] = clean.str.count(_WORD.pattern, flags=_WORD.flags).to_numpy(dtype=float)
    out["header_count"] = clean.str.count(_HEADER.pattern, flags=_HEADER.flags).to_numpy(dtype=float)
    out["list_count"] = clean.str.count(_LIST.pattern, flags=_LIST.flags).to_numpy(dtype=float)
    out["bold_count"] = clean.str.count(_BOLD.pattern, flags=_BOLD.flags).to_numpy(dtype=float)
    return out


def style_differences(
    texts_a: Sequence[str | None] | pd.Series,
    texts_b: Sequence[str | None] | pd.Series,
    *,
    standardise: bool = True,
) -> pd.DataFrame:
    """Arena's style covariates of pairwise comparisons: normalised, standardised differences.

    Parameters
    ----------
    texts_a, texts_b
        the two responses of each comparison.
    standardise
        centre and scale each column to SD 1 over the comparisons (Arena does; a constant
        column becomes 0).

    Returns
    -------
    pandas.DataFrame
        one row per comparison, columns :data:`STYLE_ELEMENTS`; positive when ``a`` has more.

    Example
    -------
    >>> d = style_differences(["a b c", "x"], ["a", "x y z"], standardise=False)
    >>> d["tokens"].round(3).tolist()
    [0.4, -0.4]
    """
    fa = markdown_style(list(texts_a)).to_numpy()
    fb = markdown_style(list(texts_b)).to_numpy()
    if fa.shape != fb.shape:
        raise ValueError(f"got {len(fa)} responses a but {len(fb)} responses b")
    diff = (fa - fb) / (fa + fb + 1.0)
    if standardise and len(diff):
        mean = diff.mean(axis=0)
        sd = diff.std(axis=0)
        diff = np.where(sd > 0, (diff - mean) / np.where(sd > 0, sd, 1.0), 0.0)
    return pd.DataFrame(diff, columns=list(STYLE_ELEMENTS))
