"""Pointwise rating model: planted group means, weights and variance components recovered; a cross-check
against statsmodels' MixedLM; held-out-participant RMSE / correlations; pairs in, pairs out."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pluralis.errors import ConfigError, DataValidationError
from pluralis.learn.featurizers import TextFeaturizer
from pluralis.learn.groups import cross_group_accuracy
from pluralis.learn.models import RewardModel, featurize_pairs
from pluralis.learn.pairs import preference_pairs
from pluralis.learn.pointwise import (
    RatingFeatures,
    RatingModel,
    cross_group_ratings,
    featurize_ratings,
    rating_cv,
    rating_rows,
)

FEATS = TextFeaturizer(features=["if_refusal", "if_enumeration"])
MEANS = {"A": 70.0, "B": 50.0}
W = {"if_refusal": -12.0, "if_enumeration": 8.0}
TAU, SIGMA = 6.0, 5.0


def _utterances(n_users=160, interactions=4, *, seed=0, list_weight=None):
    """PRISM-like rated responses: 4 responses per interaction; score = group mean + planted weights
    + participant effect (SD TAU) + noise (SD SIGMA). ``list_weight``: per-group weight of lists."""
    rng = np.random.default_rng(seed)
    n = n_users * interactions * 4
    user = np.repeat(np.arange(n_users), interactions * 4)
    group = np.where(np.arange(n_users) % 2 == 0, "A", "B")
    inter = np.repeat(np.arange(n_users * interactions), 4)
    refusal = rng.random(n) < 0.3
    listed = rng.random(n) < 0.4
    text = pd.Series([f"Answer {i} to topic {k}." for i, k in enumerate(inter)], dtype=object)
    text = text.where(~refusal, "I'm sorry, but I cannot help. " + text)
    text = text.where(~listed, text + "\n1. First.\n2. Second.")
    lw = np.array([list_weight[g] for g in group])[user] if list_weight else W["if_enumeration"]
    score = (
        np.array([MEANS[g] for g in group])[user]
        + W["if_refusal"] * refusal
        + lw * listed
        + rng.normal(0, TAU, n_users)[user]
        + rng.normal(0, SIGMA, n)
    )
    utter = pd.DataFrame(
        {
            "user_id": np.char.add("p", user.astype(str)),
            "interaction_id": np.char.add("i", inter.astype(str)),
            "conversation_id": np.char.add("c", inter.astype(str)),
            "turn": 0,
            "model_name": np.tile(["m1", "m2", "m3", "m4"], n // 4),
            "user_prompt": "Help me.",
            "model_response": text.to_numpy(),
            "score": score,
        }
    )
    survey = pd.DataFrame({"user_id": np.char.add("p", np.arange(n_users).astype(str)), "group": group})
    return utter, survey


@pytest.fixture(scope="module")
def ratings():
    u, s = _utterances()
    return featurize_ratings(rating_rows(u, s, survey_columns=["group"]), FEATS)


def test_recovers_planted_group_means_weights_and_variance_components(ratings):
    m = RatingModel(covariates=["group"], alpha=0.0).fit(ratings)
    coef = m.coefficients()
    assert coef["if_refusal"] == pytest.approx(W["if_refusal"], abs=1.0)
    assert coef["if_enumeration"] == pytest.approx(W["if_enumeration"], abs=1.0)
    assert m.sigma_ == pytest.approx(SIGMA, rel=0.08)
    assert m.tau_ == pytest.approx(TAU, rel=0.25)
    assert m.converged_
    # the planted per-group means: a plain response (no refusal, no list) for a new participant of each group
    plain = RatingFeatures.from_arrays([[0.0, 0.0]] * 2, None, pd.DataFrame({"group": ["A", "B"]}))
    np.testing.assert_allclose(m.predict(plain), [MEANS["A"], MEANS["B"]], atol=2.5)
    eff = m.covariate_effects()
    assert eff["group=A"] - eff["group=B"] == pytest.approx(MEANS["A"] - MEANS["B"], abs=3.0)
    # participants seen in training get their own (shrunken) effect, whose spread is about TAU
    assert m.user_effects_.std() == pytest.approx(TAU, rel=0.3)
    # ... and held-out participants' predictions average to their group's planted mean
    ev = rating_cv(ratings, RatingModel(covariates=["group"]), by="group", n_splits=4, n_boot=0)
    p = ev.predictions
    plain_rows = (ratings.X() == 0).all(axis=1)
    for g, mu in MEANS.items():
        assert p.loc[plain_rows & (p["group"] == g).to_numpy(), "(all)"].mean() == pytest.approx(mu, abs=2.5)


def test_matches_statsmodels_mixedlm():
    import statsmodels.formula.api as smf

    u, s = _utterances(n_users=60, interactions=3, seed=1)
    rf = featurize_ratings(rating_rows(u, s, survey_columns=["group"]), FEATS)
    ours = RatingModel(covariates=["group"], alpha=0.0).fit(rf)
    df = pd.DataFrame(rf.X(), columns=list(rf.feature_names)).assign(
        score=rf.y, user_id=rf.frame["user_id"].to_numpy(), group=rf.frame["group"].to_numpy()
    )
    ref = smf.mixedlm("score ~ if_refusal + if_enumeration + group", df, groups=df["user_id"]).fit(reml=True)
    assert ours.coef_[0] == pytest.approx(ref.params["if_refusal"], abs=0.15)
    assert ours.coef_[1] == pytest.approx(ref.params["if_enumeration"], abs=0.15)
    eff = ours.covariate_effects()
    assert eff["group=B"] - eff["group=A"] == pytest.approx(ref.params["group[T.B]"], abs=0.3)
    assert ours.sigma_ == pytest.approx(np.sqrt(ref.scale), rel=0.03)
    assert ours.tau_ == pytest.approx(np.sqrt(float(ref.cov_re.iloc[0, 0])), rel=0.15)


def test_held_out_rmse_and_correlations(ratings):
    ev = rating_cv(ratings, RatingModel(covariates=["group"]), n_splits=4, n_boot=100)
    row = ev.table.iloc[0]
    # a new participant's own effect is unknown: the error is about sqrt(SIGMA^2 + TAU^2)
    assert row["rmse"] == pytest.approx(np.hypot(SIGMA, TAU), rel=0.1)
    assert row["rmse_low"] < row["rmse"] < row["rmse_high"]
    # within a person, the model orders responses well (their generosity cancels)
    assert row["corr_within"] > 0.75
    assert row["corr"] > 0.6
    assert row["n_eval_participants"] == 160 and row["n_eval_ratings"] == len(ratings)
    # without the group covariate the group means are lost: larger error on new participants
    plain = rating_cv(ratings, RatingModel(covariates=[]), n_splits=4, n_boot=0).table.iloc[0]
    assert plain["rmse"] > row["rmse"] + 1.0


def test_cross_group_ratings_whose_ratings_predict_whose():
    u, s = _utterances(n_users=120, seed=2, list_weight={"A": 15.0, "B": -15.0})
    rf = featurize_ratings(rating_rows(u, s, survey_columns=["group"]), FEATS)
    ev = cross_group_ratings(rf, "group", model=RatingModel(covariates=[]), n_splits=3, n_boot=50)
    r = ev.matrix("corr_within")
    assert list(r.index) == ["A", "B", "(all)"]
    assert r.loc["A", "A"] > r.loc["B", "A"] + 0.3 and r.loc["B", "B"] > r.loc["A", "B"] + 0.3
    with_groups = cross_group_ratings(
        rf, "group", model=RatingModel(covariates=["group"], interactions=True), n_splits=3, n_boot=0
    )
    pooled = with_groups.matrix("corr_within").loc["(all)"]
    assert (pooled > ev.matrix("corr_within").loc["(all)"] + 0.2).all()  # interactions personalise the weights


def test_pairs_in_and_pairwise_probabilities_out():
    u, s = _utterances(n_users=80, seed=3)
    pairs = preference_pairs(u, s, tie_threshold=0.0, survey_columns=["group"])
    pf = featurize_pairs(pairs, FEATS)
    rf = RatingFeatures.from_pairs(pf)
    assert len(rf) == len(u)  # each rated response once, though it sits in three pairs
    direct = featurize_ratings(rating_rows(u, s, survey_columns=["group"]), FEATS)
    a = RatingModel(covariates=["group"]).fit(rf)
    b = RatingModel(covariates=["group"]).fit(direct)
    np.testing.assert_allclose(a.coef_, b.coef_, atol=1e-8)
    # the rating model as a preference model: Thurstone probabilities, symmetric
    p = a.predict_proba(pf)[:, 1]
    np.testing.assert_allclose(p, 1 - a.predict_proba(pf.swap())[:, 1], atol=1e-12)
    assert a.score(direct) > 0.5  # R^2 on ratings (scikit-learn's regressor score)
    res = cross_group_accuracy(pf, "group", model=RatingModel(covariates=[]), n_splits=3, n_boot=0, min_participants=5)
    ref = cross_group_accuracy(pf, "group", model=RewardModel(), n_splits=3, n_boot=0, min_participants=5)
    diff = (res.matrix("accuracy") - ref.matrix("accuracy")).abs()
    assert float(diff.max().max()) < 0.03  # same information about pair order
    assert float(res.matrix("accuracy").min().min()) > 0.7


def test_normalized_scores_are_in_sd_units():
    u, s = _utterances(n_users=40, seed=4)
    r = rating_rows(u, s, score="normalized", survey_columns=["group"])
    assert r.attrs["score"] == "normalized"
    by = r.groupby("user_id")["score"]
    np.testing.assert_allclose(by.mean(), 0.0, atol=1e-9)
    np.testing.assert_allclose(by.std(), 1.0, atol=1e-9)
    m = RatingModel(covariates=[]).fit(featurize_ratings(r, FEATS))
    assert m.tau_ < 0.15 and m.sigma_ < 1.0  # z-scores remove each rater's generosity


def test_clear_errors():
    u, s = _utterances(n_users=10, seed=5)
    with pytest.raises(ConfigError, match="not fitted"):
        RatingModel().predict(rating_rows(u))
    with pytest.raises(DataValidationError, match="model_response"):
        rating_rows(u.drop(columns=["model_response"]))
    with pytest.raises(ConfigError, match="score must be"):
        rating_rows(u, score="rank")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="alpha"):
        RatingModel(alpha=-1.0).fit(rating_rows(u))
    with pytest.raises(ConfigError, match=r"score\[0\]"):
        RatingFeatures.from_arrays([[1.0]], [np.nan])
    with pytest.raises(ConfigError, match="score_a"):
        RatingFeatures.from_pairs(featurize_pairs(pd.DataFrame({"response_a": ["a"], "response_b": ["b"], "y": [1]})))
