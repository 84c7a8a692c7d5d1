"""Style-controlled Bradley-Terry: a planted style effect is absorbed and the true model order recovered."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pluralis.errors import DataValidationError
from pluralis.features.markdown import markdown_style, style_differences
from pluralis.ranking.engine import rank_models
from pluralis.ranking.methods.bt import bt_from_counts
from pluralis.ranking.methods.style_bt import style_bt_fit
from pluralis.ranking.subgroups import subgroup_rankings
from pluralis.ranking.uncertainty import bootstrap

# true strengths (Elo) and typical answer length (words): the weakest models write the longest
TRUE = {"sharp": 1150.0, "solid": 1050.0, "padded": 950.0, "verbose": 850.0}
WORDS = {"sharp": 40, "solid": 60, "padded": 200, "verbose": 300}


def answer(rng: np.random.Generator, model: str) -> str:
    n = max(3, int(WORDS[model] * rng.lognormal(0.0, 0.5)))
    text = " ".join(["word"] * n)
    if model in ("padded", "verbose") and rng.random() < 0.7:
        text = "# Overview\n- point one\n- point two\n**Key:** " + text
    return text


def planted(seed: int = 0, n: int = 3000, style_logit: float = 2.5) -> pd.DataFrame:
    """Raters love long, formatted answers: logit += style_logit * (normalised word difference)."""
    rng = np.random.default_rng(seed)
    names = list(TRUE)
    a = rng.integers(0, 4, n)
    b = (a + rng.integers(1, 4, n)) % 4
    ta = [answer(rng, names[i]) for i in a]
    tb = [answer(rng, names[i]) for i in b]
    raw = style_differences(ta, tb, standardise=False)["tokens"].to_numpy()
    theta = np.array([TRUE[m] for m in names]) * np.log(10) / 400
    p = 1 / (1 + np.exp(-(theta[a] - theta[b] + style_logit * raw)))
    win = rng.random(n) < p
    return pd.DataFrame(
        {
            "model_a": np.array(names)[a],
            "model_b": np.array(names)[b],
            "winner": np.where(win, "model_a", "model_b"),
            "user_id": [f"u{k % 150}" for k in range(n)],
            "group": np.where(np.arange(n) % 150 < 75, "p", "q"),
            "model_response_a": ta,
            "model_response_b": tb,
        }
    )


def test_planted_style_effect_is_absorbed_and_true_order_recovered():
    b = planted()
    plain = rank_models(b, "bt")
    assert plain["model"].iloc[0] in ("padded", "verbose")  # plain BT rewards the style
    styled = rank_models(b, "style_bt").set_index("model")["score"]
    assert list(styled.sort_values(ascending=False).index) == list(TRUE)  # the true order
    # the true Elo gaps come back (within sampling error)
    gaps = styled - styled.mean()
    truth = pd.Series(TRUE) - np.mean(list(TRUE.values()))
    assert np.abs(gaps.loc[list(TRUE)] - truth).max() < 45


def test_style_coefficients_are_reported_and_positive_for_length():
    b = planted(1)
    from pluralis.ranking.battles import encode_battles
    from pluralis.ranking.methods.style_bt import style_covariates

    arr = encode_battles(b)
    fit = style_bt_fit(arr.a, arr.b, arr.outcome, arr.n_models, covariates=style_covariates(b))
    assert fit.converged and fit.style.shape == (4,)
    assert fit.style[0] > 0.3  # tokens: strongly rewarded


def test_without_style_differences_style_bt_equals_bt():
    b = planted(2, n=600)
    from pluralis.ranking.battles import encode_battles
    from pluralis.ranking.encode import count_matrices

    arr = encode_battles(b)
    wins, ties = count_matrices(arr.a, arr.b, arr.outcome, arr.n_models)
    for penalty in ("l2", None):
        ref = bt_from_counts(wins, ties, penalty=penalty)
        ours = style_bt_fit(
            arr.a, arr.b, arr.outcome, arr.n_models, covariates=np.zeros((arr.n_battles, 4)), penalty=penalty
        ).ratings
        assert np.allclose(ours, ref, atol=1e-6)


def test_ties_and_weights_match_bt_likelihood():
    b = planted(3, n=400)
    b.loc[b.index[::5], "winner"] = "tie"
    w = pd.Series(np.linspace(0.5, 2.0, 150), index=[f"u{k}" for k in range(150)])
    plain = rank_models(b, "bt", weights=w).set_index("model")["score"]
    zero = b.assign(model_response_a="same", model_response_b="same")  # no style differences at all
    styled = rank_models(zero, "style_bt", weights=w).set_index("model")["score"]
    assert np.allclose(plain.sort_index(), styled.sort_index(), atol=1e-6)


def test_style_bt_bootstrap_and_per_subgroup():
    b = planted(4, n=1500)
    res = bootstrap(b, "style_bt", rounds=40, seed=0)
    s = res.summary()
    assert s["model"].iloc[0] == "sharp" and (s["score_lo"] <= s["score"]).all()
    sub = subgroup_rankings(b, "group", method="style_bt", rounds=30, min_participants=10)
    t = sub.table[sub.table["by"] == "group"]
    assert set(t["group"]) == {"p", "q"}
    assert (t.groupby("group")["rank"].min() == 1).all()


def test_texts_come_from_extract_battles_and_missing_texts_are_named(small_study):
    from pluralis.ranking.battles import battles_from_comparisons, extract_battles

    frames = small_study.frames()
    battles = extract_battles(frames.utterances, keep=["model_response"])
    assert {"model_response_a", "model_response_b"} <= set(battles.columns)
    assert len(rank_models(battles, "style_bt")) == battles[["model_a", "model_b"]].stack().nunique()
    with pytest.raises(DataValidationError, match="response texts"):
        rank_models(extract_battles(frames.utterances), "style_bt")
    comps = pd.DataFrame(
        {
            "models": [["x", "y"], ["y", "x"]],
            "winner": [0, 1],
            "annotator_id": ["a", "b"],
            "responses": [["# A\n- b", "plain"], ["short", "**long** answer here"]],
        }
    )
    cb = battles_from_comparisons(comps)
    assert cb["model_response_a"].tolist() == ["# A\n- b", "short"]


def test_markdown_counts():
    f = markdown_style(["## Head\n1. a\n2) b\n* c\n**x** and __y__\n```\n# not a header\n```", ""])
    assert f.iloc[0].to_dict() == {"tokens": 11.0, "header_count": 1.0, "list_count": 3.0, "bold_count": 2.0}
    assert f.iloc[1].sum() == 0
