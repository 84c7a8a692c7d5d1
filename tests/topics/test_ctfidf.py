"""Class-based TF-IDF against an independent implementation written from spec §5.1's formulas."""

from __future__ import annotations

import math
import re
from collections import Counter

import numpy as np
import pytest
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

from pluralis.topics.ctfidf import class_documents, class_tfidf, topic_keywords

TEXTS = [
    "What are the best beaches in Portugal for a holiday?",
    "Cheap flights to Portugal and hotels near the beach",
    "Plan a holiday in Peru with cheap flights",
    "How do I bake sourdough bread at home?",
    "A recipe for banana bread, please",
    "Bread recipe without yeast",
    "Who will win the election in the UK?",
    "Explain how the election polls work",
    "Hello",
    "Hi there",
]
LABELS = [0, 0, 0, 1, 1, 1, 2, 2, -1, -1]


def reference_ctfidf(texts, labels, m):
    """tf[c,w] = t[c,w]/sum_w t[c,w]; idf[w] = log(m / sum_c t[c,w]); uni- and bigrams after stop words."""
    docs: dict[int, list[str]] = {}
    for text, label in zip(texts, labels):
        docs.setdefault(label, []).append(text)
    counts: dict[int, Counter] = {}
    for label, parts in docs.items():
        tokens = [w for w in re.findall(r"(?u)\b\w\w+\b", " ".join(parts).lower()) if w not in ENGLISH_STOP_WORDS]
        grams = tokens + [f"{a} {b}" for a, b in zip(tokens, tokens[1:])]
        counts[label] = Counter(grams)
    total_w: Counter = Counter()
    for c in counts.values():
        total_w.update(c)
    scores = {}
    for label, c in counts.items():
        size = sum(c.values())
        scores[label] = {w: (n / size) * math.log(m / total_w[w]) for w, n in c.items()}
    return scores


def test_scores_match_the_formula_term_by_term():
    scores, topics, terms = class_tfidf(TEXTS, LABELS)
    ref = reference_ctfidf(TEXTS, LABELS, m=len(TEXTS))
    assert topics.tolist() == sorted(ref)
    dense = scores.toarray()
    for i, label in enumerate(topics):
        got = {terms[j]: dense[i, j] for j in np.flatnonzero(dense[i])}
        assert set(got) == set(ref[label])
        for w, v in ref[label].items():
            assert got[w] == pytest.approx(v, rel=1e-12)


def test_top_terms_are_the_highest_scores_and_m_is_the_number_of_texts():
    ref = reference_ctfidf(TEXTS, LABELS, m=len(TEXTS))
    kw = topic_keywords(TEXTS, LABELS, top_n=3, with_scores=True)
    for label, pairs in kw.items():
        best = sorted(ref[label].values(), reverse=True)[:3]
        assert [s for _, s in pairs] == pytest.approx(best)
    # m enters only through idf: with m = number of topics the scores differ (PRISM used the number of texts)
    other = topic_keywords(TEXTS, LABELS, top_n=3, with_scores=True, m=4)
    assert other[0][0][1] != kw[0][0][1]


def test_documents_are_joined_with_spaces_so_bigrams_span_texts():
    docs = class_documents(["red apple", "green pear"], [0, 0])
    assert docs[0] == "red apple green pear"
    _, _, terms = class_tfidf(["red apple", "green pear"], [0, 0])
    assert "apple green" in set(terms)  # as PRISM's concatenation does


def test_stop_word_only_topics_have_no_keywords():
    kw = topic_keywords(["the and", "of a", "bread"], [0, 0, 1], top_n=5)
    assert kw[0] == [] and kw[1] == ["bread"]
