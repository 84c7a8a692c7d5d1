"""Case Study I: who talks about what — topics by group, on any prompt set (spec §5).

The pipeline of PRISM's first case study, on any text field of any study (PRISM, Arena and
Community-Alignment prompts, self-descriptions, feedback):

* :class:`TopicModel` — embeddings -> UMAP (20-d) -> HDBSCAN -> class-based TF-IDF keywords ->
  typical texts -> names (:mod:`pluralis.topics.model`, :mod:`~pluralis.topics.ctfidf`,
  :mod:`~pluralis.topics.naming`); sentence embeddings come from an injected embedder
  (:mod:`pluralis.topics.embed`), topic names from an injected namer;
* :func:`over_representation` — PRISM's factor per group x topic, participant-bootstrap CIs;
* :func:`topic_regressions` — linear probability models per topic, participant-clustered SEs (PRISM's
  HC1 as an option), multiple-testing control;
* :func:`local_neighbourhoods`, :func:`entropy_test` — App. S, as coded and as described;
* :func:`topic_rankings`, :func:`census_prevalence` — model rankings within topics, census-weighted
  prevalence;
* :func:`analyse_topics` — everything at once, with tables, figures and a report section.

This package is an analysis: it reads data frames and never touches the store or an LLM itself
(the ``pluralis topics`` command composes those: the embedding cache and an LLM namer).

Example
-------
>>> import numpy as np
>>> E = np.vstack([np.zeros((15, 2)), np.full((15, 2), 3.0)]) + np.random.default_rng(0).normal(0, .1, (30, 2))
>>> TopicModel(reducer="none", min_cluster_size=5).fit(["cat food"] * 15 + ["vote now"] * 15, embeddings=E).n_topics_
2
"""

from pluralis.topics.analysis import TopicsResult, analyse_topics
from pluralis.topics.conditioned import census_prevalence, topic_rankings
from pluralis.topics.ctfidf import class_tfidf, topic_keywords
from pluralis.topics.data import topic_texts
from pluralis.topics.embed import CachingEmbedder, SentenceEmbedder
from pluralis.topics.model import TopicModel, fit_topics
from pluralis.topics.naming import chat_namer, keyword_name, naming_prompt
from pluralis.topics.neighbourhoods import entropy_test, local_neighbourhoods, neighbourhood_summary
from pluralis.topics.overrep import over_representation
from pluralis.topics.regression import PRISM_TERMS, topic_regressions

__all__ = [
    "PRISM_TERMS",
    "CachingEmbedder",
    "SentenceEmbedder",
    "TopicModel",
    "TopicsResult",
    "analyse_topics",
    "census_prevalence",
    "chat_namer",
    "class_tfidf",
    "entropy_test",
    "fit_topics",
    "keyword_name",
    "local_neighbourhoods",
    "naming_prompt",
    "neighbourhood_summary",
    "over_representation",
    "topic_keywords",
    "topic_regressions",
    "topic_rankings",
    "topic_texts",
]
