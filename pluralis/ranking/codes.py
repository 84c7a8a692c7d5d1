"""Integer codes of a battle frame's label columns, fast for Arrow-backed strings, cached per column.

:func:`~pluralis.ranking.battles.encode_battles` turns ``model_a``, ``model_b``, ``winner`` and the
participant column into integer codes. pandas' default string dtype is backed by Arrow; going
through an object array (``to_numpy``) builds one Python string per cell and costs most of a
ranking call. :func:`factorize_column` dictionary-encodes Arrow string columns with pyarrow
directly (int32 codes, no copies) and falls back to :func:`pandas.factorize` for every other
dtype. Arrow arrays are immutable, so the codes of a column are cached for as long as its Arrow
data lives (a frame ranked with several methods, bootstrapped and split into subgroups is
encoded once); a pandas write to the column replaces its Arrow data, so a stale entry is never
hit, and :func:`clear_cache` empties the cache.

Example
-------
>>> import pandas as pd
>>> codes, uniques = factorize_column(pd.Series(["x", "y", "x"], dtype="str"))
>>> codes.tolist(), list(uniques)
([0, 1, 0], ['x', 'y'])
"""

from __future__ import annotations

import threading
import weakref
from collections import OrderedDict
from collections.abc import Iterable
from functools import partial
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

__all__ = ["CACHE_MAX_ROWS", "CACHE_SIZE", "clear_cache", "factorize_column"]

#: Columns cached at once (least recently used are dropped first).
CACHE_SIZE = 16
#: Longer columns are not cached (their codes would hold memory for a small gain).
CACHE_MAX_ROWS = 5_000_000

_cache: OrderedDict[int, tuple[weakref.ref, np.ndarray, list]] = OrderedDict()
_lock = threading.RLock()  # re-entrant: a weakref callback may fire while the lock is held


def clear_cache() -> None:
    """Forget every cached column's codes (the benchmarks time cold calls with it).

    Example
    -------
    >>> clear_cache()
    """
    with _lock:
        _cache.clear()


def _gone(key: int, _ref: weakref.ref) -> None:
    """Weakref callback: the column's Arrow data was freed, so its codes go too."""
    with _lock:
        _cache.pop(key, None)


def _arrow_strings(column: pd.Series) -> Any:
    """The column's Arrow data when it is a null-free Arrow string column, else None."""
    array = column.array
    if not isinstance(array, pd.arrays.ArrowExtensionArray):
        return None
    data = array.__arrow_array__()
    if data.null_count or not (pa.types.is_string(data.type) or pa.types.is_large_string(data.type)):
        return None
    return data


def factorize_column(column: pd.Series, *, use_na_sentinel: bool = True) -> tuple[np.ndarray, Iterable[Any]]:
    """Codes and distinct values of a column, in order of first appearance (as :func:`pandas.factorize`).

    Parameters
    ----------
    column
        the column to encode.
    use_na_sentinel
        missing values get code -1 (True) or a code of their own (False), as in
        :func:`pandas.factorize`.

    Returns
    -------
    tuple
        ``(codes, uniques)``: an integer array (int32 for Arrow strings, read-only; intp
        otherwise) and the distinct values (Python objects for Arrow strings).

    Example
    -------
    >>> codes, uniques = factorize_column(pd.Series(["b", None, "b"]))
    >>> codes.tolist(), list(uniques)
    ([0, -1, 0], ['b'])
    """
    data = _arrow_strings(column)
    if data is None or len(data) == 0:
        codes, uniques = pd.factorize(column, use_na_sentinel=use_na_sentinel)
        return codes, uniques
    key = id(data)
    with _lock:
        hit = _cache.get(key)
        if hit is not None and hit[0]() is data:
            _cache.move_to_end(key)
            return hit[1], hit[2]
    encoded = data.dictionary_encode().combine_chunks()
    codes = encoded.indices.to_numpy()
    uniques = encoded.dictionary.to_pylist()
    if len(data) <= CACHE_MAX_ROWS:
        with _lock:
            _cache[key] = (weakref.ref(data, partial(_gone, key)), codes, uniques)
            while len(_cache) > CACHE_SIZE:
                _cache.popitem(last=False)
    return codes, uniques
