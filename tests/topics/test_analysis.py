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


def test_a_numeric_author_field_groups_texts_by_quartiles_of_participants():
    # QA: a numeric --by field gave one group per value; quartiles are of participants, not of their texts
    from pluralis.topics.data import attach_groups

    rng = np.random.default_rng(2)
    users = [f"u{i}" for i in range(40)]
    survey = pd.DataFrame({"user_id": users, "age_years": np.arange(18, 58)})
    # the oldest participants write most of the texts: quartiles of texts would differ
    writers = np.repeat(users, np.r_[np.ones(30, int), np.full(10, 20)])
    texts = pd.DataFrame({"text_id": [f"t{i}" for i in range(len(writers))], "text": "x", "user_id": writers})
    with pytest.warns(UserWarning, match="age_years: 40 distinct numeric values, grouped by quantile"):
        out, names = attach_groups(texts, ["age_years"], survey)
    per_user = out.drop_duplicates("user_id")[names[0]].value_counts()
    assert names == ["age_years"] and sorted(per_user.index) == ["18–27", "28–37", "38–47", "48–57"]
    assert per_user.eq(10).all()
    # few distinct values stay as they are
    survey["wave"] = rng.integers(1, 3, len(users))
    assert set(attach_groups(texts, ["wave"], survey)[0]["wave"]) <= {1, 2}
