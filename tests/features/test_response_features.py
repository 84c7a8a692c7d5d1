"""Response features: PRISM's (App. T.8) and the simulation's style features, one phrase list per concept."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pluralis.errors import ConfigError
from pluralis.features import phrases
from pluralis.features.response import (
    ALL_FEATURES,
    PRISM_FEATURES,
    STYLE_FEATURES,
    VECTOR_MIN_TEXTS,
    response_features,
    style_array,
)


def feats(text, **kw):
    return response_features([text], **kw).iloc[0]


def test_feature_definitions_follow_the_notebook():
    assert feats("EMPTY STRING")["text_length"] == 12
    assert feats("Is it?")["if_question_marks"] == 1
    assert feats("Is it? Yes.")["if_question_marks"] == 0  # last character only
    assert feats("")["if_question_marks"] == 0
    assert feats("Steps:\n1. Plan")["if_enumeration"] == 1
    assert feats("Steps:\n  - Plan")["if_enumeration"] == 1
    assert feats("1. Plan")["if_enumeration"] == 0  # a newline must precede the marker
    assert feats("Steps:\n1.Plan")["if_enumeration"] == 0  # whitespace must follow
    assert feats("a\nb")["if_line_breaks"] == 1
    assert feats("as an ai, I think")["if_deanthro"] == 1  # case-insensitive
    assert feats("I don’t have personal views")["if_deanthro"] == 0  # curly apostrophe: no match (as PRISM)
    assert feats("I apologise, but no")["if_refusal"] == 1
    assert feats("A metaphor for napalm")["if_self_identification"] == 1  # substrings: "meta", "palm"
    assert feats("A metaphor for napalm", word_boundaries=True)["if_self_identification"] == 0
    assert feats("Trained by OpenAI", word_boundaries=True)["if_self_identification"] == 1


def test_feature_selection_and_errors():
    out = response_features(["x"], features=["text_length"])
    assert list(out.columns) == ["text_length"]
    with pytest.raises(ConfigError, match="unknown feature"):
        response_features(["x"], features=["emoji"])
    assert list(response_features(["x"]).columns) == list(PRISM_FEATURES)


def test_one_refusal_list_serves_prism_and_the_simulation():
    """The refusal feature of PRISM's set and of the style set are the same list (the union of the
    lists Pluralis had); ``as_coded`` is PRISM's list exactly."""
    texts = [
        "I'm sorry, but I can't.",  # both old lists
        "It is not accurate to say so.",  # only PRISM's
        "I won't be able to do that.",  # only the simulation's
        "I am unable to help.",  # only the simulation's
        "Sure, here you go.",
    ]
    f = response_features(texts, features=["if_refusal", "refusal"])
    assert f["if_refusal"].tolist() == [1, 1, 1, 1, 0]
    assert (f["if_refusal"] == f["refusal"]).all()
    assert style_array(texts)[:, 1].tolist() == [1, 1, 1, 1, 0]
    coded = response_features(texts, features=["if_refusal"], as_coded=True)["if_refusal"]
    assert coded.tolist() == [1, 1, 0, 0, 0]
    assert set(phrases.PRISM_REFUSAL_PHRASES) <= set(phrases.REFUSAL_PHRASES)
    assert len(set(phrases.REFUSAL_PHRASES)) == len(phrases.REFUSAL_PHRASES)


def test_one_list_regex_prism_markers_and_more():
    texts = ["Steps:\n1. Plan", "Steps:\n1) Plan", "Steps:\n\u2022 Plan", "Steps:\n* Plan", "1) Plan"]
    f = response_features(texts, features=["if_enumeration", "enumeration"])
    assert f["if_enumeration"].tolist() == [1, 1, 1, 1, 0]
    assert (f["if_enumeration"] == f["enumeration"]).all()
    coded = response_features(texts, features=["if_enumeration"], as_coded=True)["if_enumeration"]
    assert coded.tolist() == [1, 0, 0, 1, 0]


def test_style_features_known_answers():
    f = response_features(
        [
            "It depends. Some people might say so; however, perhaps not.",
            "Equality and rights, and climate action.",
            "Tradition and faith matter, and so do rights.",
            "",
        ],
        features=STYLE_FEATURES,
    )
    assert f["hedging"].tolist() == [1.0, 0.0, 0.0, 0.0]  # 5 hedges, capped at 4 -> 1
    assert f["stance"].tolist() == pytest.approx([0.0, 1.0, -1 / 3, 0.0])
    assert f["length"].iloc[3] == 0.0


def test_lengths_in_three_units():
    f = response_features(["x" * 250], features=["text_length", "length", "log_length"]).iloc[0]
    assert f["text_length"] == 250 and f["length"] == 2.5 and f["log_length"] == pytest.approx(np.log(3.5))


def test_few_and_many_texts_give_the_same_features():
    """Few texts are measured text by text, many with pandas' vectorised string methods: same numbers."""
    rng = np.random.default_rng(0)
    bank = [
        "I'm sorry, but no.",
        "It depends; others might disagree.",
        "\n1. Equality\n2) Rights",
        "Faith and freedom, tradition.",
        "As an AI, maybe?",
        "Trained by OpenAI. ",
        "Caf\u00e9 na\u00efve \u2014 r\u00e9sum\u00e9 \u2022 ",
        "",
    ]
    texts = ["".join(rng.choice(bank, 3)) + str(i) for i in range(300)] + [None, float("nan")]
    assert len(texts) >= 4 * VECTOR_MIN_TEXTS
    for wb in (False, True):
        many = response_features(texts, features=ALL_FEATURES, word_boundaries=wb).to_numpy()
        few = np.vstack(
            [
                response_features(texts[i : i + 7], features=ALL_FEATURES, word_boundaries=wb).to_numpy()
                for i in range(0, len(texts), 7)
            ]
        )
        np.testing.assert_array_equal(few, many)
    style = response_features(texts, features=STYLE_FEATURES).to_numpy()
    np.testing.assert_array_equal(np.vstack([style_array(texts[i : i + 5]) for i in range(0, len(texts), 5)]), style)
    np.testing.assert_array_equal(style_array(texts), style)
    assert style_array([]).shape == (0, 5)


def test_missing_texts_are_empty_and_duplicates_are_consistent():
    s = pd.Series(["Why?", None, "Why?", np.nan], index=[10, 11, 12, 13])
    f = response_features(s, features=ALL_FEATURES)
    assert list(f.index) == [10, 11, 12, 13]
    assert (f.loc[11] == 0).all() and (f.loc[13] == 0).all()
    assert f.loc[10].equals(f.loc[12])
