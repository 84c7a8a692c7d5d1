"""Class-based TF-IDF keywords of topics, exactly as PRISM computes them (spec §5.1).

All texts of a topic are joined with a space into one document (outliers, label -1, are a
topic of their own); ``CountVectorizer(ngram_range=(1, 2), stop_words="english")`` counts
n-grams ``t[c, w]`` in these documents; then::

    tf[c, w]  = t[c, w] / sum_w t[c, w]
    idf[w]    = log(m / sum_c t[c, w])          # m = number of texts (not of topics)
    score     = tf * idf

and the top 10 n-grams of each topic are its keywords. Joining with a space means a bigram can
span the end of one text and the start of the next, as in PRISM's code. Ties are broken by
vocabulary order (alphabetical), a stable choice PRISM's unstable ``argsort`` did not make.

Example
-------
>>> texts = ["cheap flights to Peru", "flights and hotels", "bake bread", "bread recipe"]
>>> kw = topic_keywords(texts, [0, 0, 1, 1], top_n=2)
>>> kw[0], kw[1]
(['cheap', 'cheap flights'], ['bake', 'bake bread'])
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import scipy.sparse as sp
from sklearn.feature_extraction.text import CountVectorizer

from pluralis.errors import ConfigError


def class_documents(texts: Sequence[str], labels: Sequence[int] | np.ndarray) -> pd.Series:
    """One document per topic: its texts joined with a space, indexed by sorted topic label.

    Parameters
    ----------
    texts : sequence of str
        The texts (missing values count as empty).
    labels : sequence of int or numpy.ndarray
        One topic label per text (``-1`` for outliers).

    Returns
    -------
    pandas.Series
        Topic label -> the joined text.

    Example
    -------
    >>> class_documents(["a b", "c", "d"], [1, -1, 1]).to_dict()
    {-1: 'c', 1: 'a b d'}
    """
    labels = np.asarray(labels)
    if len(labels) != len(texts):
        raise ConfigError(f"{len(texts)} texts but {len(labels)} labels")
    s = pd.Series(list(texts), dtype=object).fillna("").astype(str)
    return s.groupby(labels, sort=True).agg(" ".join)


def class_tfidf(
    texts: Sequence[str],
    labels: Sequence[int] | np.ndarray,
    *,
    m: int | None = None,
    ngram_range: tuple[int, int] = (1, 2),
    stop_words: str | list[str] | None = "english",
) -> tuple[sp.csr_matrix, np.ndarray, np.ndarray]:
    """c-TF-IDF scores ``(n_topics, n_terms)`` with the topic labels (rows) and terms (columns).

    Parameters
    ----------
    texts, labels
        one topic label per text (``-1`` for outliers, a topic like any other here).
    m
        the ``m`` of ``idf = log(m / sum_c t[c, w])``: the number of texts by default (PRISM).
    ngram_range, stop_words
        passed to scikit-learn's ``CountVectorizer`` (PRISM: ``(1, 2)``, ``"english"``).

    Returns
    -------
    (scores, topic labels, terms): a sparse matrix (zeros where a term is absent from a topic).

    Example
    -------
    >>> scores, topics, terms = class_tfidf(["red apple", "green apple", "blue sky"], [0, 0, 1], ngram_range=(1, 1))
    >>> topics.tolist(), terms.tolist()
    ([0, 1], ['apple', 'blue', 'green', 'red', 'sky'])
    >>> round(float(scores[0, 0]), 4)    # tf = 2/4, idf = log(3/2)
    0.2027
    """
    docs = class_documents(texts, labels)
    if m is None:
        m = len(texts)
    vectorizer = CountVectorizer(ngram_range=ngram_range, stop_words=stop_words)
    try:
        t = vectorizer.fit_transform(docs.to_numpy()).astype(np.float64).tocsr()
    except ValueError:  # empty vocabulary: only stop words
        return sp.csr_matrix((len(docs), 0)), docs.index.to_numpy(), np.array([], dtype=object)
    w = np.asarray(t.sum(axis=1)).ravel()
    tf = sp.diags(np.divide(1.0, w, out=np.zeros_like(w), where=w > 0)) @ t
    idf = np.log(m / np.asarray(t.sum(axis=0)).ravel())
    scores = (tf @ sp.diags(idf)).tocsr()
    return scores, docs.index.to_numpy(), vectorizer.get_feature_names_out()


def top_terms(scores: sp.csr_matrix, terms: np.ndarray, top_n: int = 10) -> list[list[tuple[str, float]]]:
    """The ``top_n`` (term, score) pairs of each row, best first (ties: vocabulary order).

    Only terms that occur in a topic (non-zero score) are listed.

    Parameters
    ----------
    scores : scipy.sparse.csr_matrix
        Scores ``(n_topics, n_terms)``, as from :func:`class_tfidf`.
    terms : numpy.ndarray
        The term of each column.
    top_n : int
        Most terms per row (default 10).

    Returns
    -------
    list of list of (str, float)
        Per row, the (term, score) pairs.

    Example
    -------
    >>> s = sp.csr_matrix(np.array([[0.1, 0.3, 0.3], [0.0, 0.0, 0.2]]))
    >>> top_terms(s, np.array(["a", "b", "c"]), 2)
    [[('b', 0.3), ('c', 0.3)], [('c', 0.2)]]
    """
    scores = sp.csr_matrix(scores)
    out = []
    for i in range(scores.shape[0]):  # one row per topic (tens), not per text
        lo, hi = scores.indptr[i], scores.indptr[i + 1]
        idx, data = scores.indices[lo:hi], scores.data[lo:hi]
        keep = data != 0
        idx, data = idx[keep], data[keep]
        order = np.lexsort((idx, -data))[:top_n]
        out.append([(str(terms[idx[j]]), float(data[j])) for j in order])
    return out


def topic_keywords(
    texts: Sequence[str],
    labels: Sequence[int] | np.ndarray,
    *,
    top_n: int = 10,
    m: int | None = None,
    ngram_range: tuple[int, int] = (1, 2),
    stop_words: str | list[str] | None = "english",
    with_scores: bool = False,
) -> dict[int, list]:
    """Top c-TF-IDF n-grams of every topic (including ``-1``): ``{label: [term, ...]}``.

    ``with_scores=True`` gives ``(term, score)`` pairs instead.

    Parameters
    ----------
    texts : sequence of str
        The texts.
    labels : sequence of int or numpy.ndarray
        One topic label per text (``-1`` for outliers).
    top_n : int
        Keywords per topic (default 10).
    m : int, optional
        The ``m`` of the idf (the number of texts by default, as PRISM); see :func:`class_tfidf`.
    ngram_range : tuple of (int, int)
        Smallest and largest n-gram size (PRISM: ``(1, 2)``).
    stop_words : str or list of str or None
        Stop words passed to scikit-learn's ``CountVectorizer`` (PRISM: ``"english"``).
    with_scores : bool
        Give ``(term, score)`` pairs instead of terms (default False).

    Returns
    -------
    dict of int to list
        Topic label -> its keywords (or pairs), best first.

    Example
    -------
    >>> topic_keywords(["vote in the election", "election polls", "my cat", "cat food"], [5, 5, -1, -1], top_n=1)
    {-1: ['cat'], 5: ['election']}
    """
    scores, topics, terms = class_tfidf(texts, labels, m=m, ngram_range=ngram_range, stop_words=stop_words)
    tops = top_terms(scores, terms, top_n)
    return {int(label): (pairs if with_scores else [term for term, _ in pairs]) for label, pairs in zip(topics, tops)}
