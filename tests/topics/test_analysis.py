"""Texts of any field, the end-to-end analysis, its report section, and the default embedder's errors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pluralis.data import Study
from pluralis.data.model import Comparison
from pluralis.errors import ConfigError
from pluralis.topics import analyse_topics, topic_texts
from pluralis.topics.analysis import default_terms
from pluralis.topics.embed import SentenceEmbedder


def toy_embedder(texts):
    """Three features that separate the planted topics' vocabularies well enough for reducer='none'."""
    return np.array(
        [
            [("trip" in t) + ("holiday" in t) + ("travel" in t), ("job" in t) + ("salary" in t), len(t) / 50]
            for t in texts
        ],
        dtype=np.float32,
    )


@pytest.mark.parametrize(
    ("field", "n_rows", "id_col"),
    [
        ("opening_prompt", 6 * 12, "conversation_id"),
        ("open_feedback", 6 * 12, "conversation_id"),
        ("self_description", 12, None),
        ("user_prompt", None, "interaction_id"),
    ],
)
def test_texts_of_any_field(field, n_rows, id_col):
    from pluralis.data.synthetic import generate_study

    frames = generate_study(n_participants=12, seed=1, planted_topics=True, with_metadata=False).frames()
    t = topic_texts(frames, field)
    if n_rows is not None:
        assert len(t) == n_rows
    else:
        assert len(t) == frames.utterances["interaction_id"].nunique()
    assert t["user_id"].notna().all() and t.attrs["field"] == field
    if id_col:
        assert id_col in t.columns and t[id_col].is_unique
    with pytest.raises(ConfigError, match="unknown text field"):
        topic_texts(frames, "shoe_size")


def test_comparison_prompts_are_texts_with_their_annotators():
    comps = [
        Comparison(comparison_id="c1", source="arena", models=["a", "b"], prompt="Hi", winner=0, annotator_id="x"),
        Comparison(comparison_id="c2", source="arena", models=["a", "b"], prompt=" ", winner=1, annotator_id="y"),
        Comparison(comparison_id="c3", source="arena", models=["a", "b"], prompt="Yo", winner=1, language="en"),
    ]
    t = topic_texts(Study(comparisons=comps).frames())
    assert t["text_id"].tolist() == ["c1", "c3"]  # blank prompts are dropped
    assert t["user_id"].tolist()[0] == "x" and t["comparison_id"].tolist() == ["c1", "c3"]


def test_analysis_end_to_end_with_an_injected_embedder(planted, tmp_path):
    _, frames, _, _ = planted
    res = analyse_topics(
        frames,
        by=["age", "gender"],
        embedder=toy_embedder,
        reducer="none",
        min_cluster_size=100,
        n_boot=100,
        taus=(0.001,),
        rank_rounds=0,
        census="UK",
    )
    assert set(res.tables()) >= {
        "assignments",
        "topics",
        "keywords",
        "over_representation",
        "regressions",
        "regression_fits",
        "neighbourhoods",
        "neighbourhood_summary",
        "entropy",
        "entropy_summary",
        "topic_rankings",
        "census_prevalence",
    }
    assert set(res.neighbourhood_summary["method"]) == {"as_coded", "single_link"}
    assert res.census.attrs["country"] == "UK"
    files = res.write(tmp_path, formats=("parquet",))
    assert {p.name for p in files} >= {"topics.parquet", "topic_map.png", "over_representation.png", "report.md"}
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".topics-")]  # no scratch folder left
    md = (tmp_path / "report.md").read_text()
    for heading in ("### Over-representation", "### Topic-prevalence regressions", "### Local neighbourhoods"):
        assert heading in md
    back = pd.read_parquet(tmp_path / "topics.parquet")
    assert back["keywords"].str.contains(" | ").any()  # lists flattened for CSV / parquet


def test_default_terms_take_prisms_bases_where_present():
    f = pd.DataFrame(
        {
            "gender": ["Male", "Female"],
            "age": ["25-34 years old", "35-44 years old"],
            "conversation_type": ["unguided", "unguided"],
            "language": ["en", "fr"],
        }
    )
    assert default_terms(f, ["language"]) == {"gender": "Male", "age": None, "language": None}


def test_default_embedder_never_downloads():
    with pytest.raises(ConfigError, match="never downloads"):
        SentenceEmbedder("no-such-org/no-such-model-xyz")(["hello"])
    with pytest.raises(ConfigError, match="single string"):
        SentenceEmbedder()("hello")
