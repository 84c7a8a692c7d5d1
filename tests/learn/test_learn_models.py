"""Reward models: known answers (planted rewards, the persona simulation), cross-checks against
scikit-learn, symmetry (hypothesis), the scikit-learn API, and clear errors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GroupKFold, cross_val_score

from pluralis.errors import ConfigError
from pluralis.learn.featurizers import TextFeaturizer
from pluralis.learn.groups import participant_folds
from pluralis.learn.models import (
    PairFeatures,
    PersonalisedRewardModel,
    RewardModel,
    featurize_pairs,
    pairwise_accuracy,
    pairwise_log_loss,
)
from pluralis.simulate.planted import PLANTED_FEATURES, planted_pairs

# the planted features, as TextFeaturizer computes them (log_length, lists, refusals, questions, "As an AI")
PLANTED = TextFeaturizer(features=["text_length", "if_enumeration", "if_refusal", "if_question_marks", "if_deanthro"])


def _split(pf: PairFeatures, seed=0):
    users = pf.frame["user_id"].to_numpy()
    test = participant_folds(users, 2, seed=seed) == 0
    return pf.take(~test), pf.take(test)


# --- cross-checks against scikit-learn ---------------------------------------------------------------


def test_reward_model_equals_sklearn_logistic_regression_without_intercept():
    rng = np.random.default_rng(0)
    pa, pb = rng.normal(size=(2, 3000, 4))
    y = (rng.random(3000) < 1 / (1 + np.exp(-(pa - pb) @ [1.0, -2.0, 0.5, 0.0]))).astype(float)
    for alpha in (0.1, 1.0, 30.0):
        ours = RewardModel(alpha=alpha, standardize=False).fit(PairFeatures.from_arrays(pa, pb, y))
        ref = LogisticRegression(C=1 / alpha, fit_intercept=False, tol=1e-12, max_iter=10_000).fit(pa - pb, y)
        np.testing.assert_allclose(ours.coef_, ref.coef_[0], atol=1e-6)
        assert ours.converged_


def test_standardized_fit_equals_sklearn_on_scaled_design():
    pairs = planted_pairs(n_users=50, pairs_per_user=20, seed=3)
    pf = featurize_pairs(pairs, PLANTED)
    m = RewardModel(alpha=2.0).fit(pf)
    D = pf.diff()
    scale = np.sqrt((D**2).mean(axis=0))
    ref = LogisticRegression(C=0.5, fit_intercept=False, tol=1e-12, max_iter=10_000).fit(D / scale, pf.y)
    np.testing.assert_allclose(m.coef_, ref.coef_[0] / scale, atol=1e-6)


def test_personalised_model_equals_logistic_regression_on_the_outer_product_design():
    rng = np.random.default_rng(1)
    n, d = 3000, 3
    users = rng.integers(0, 100, n)
    z = rng.normal(size=(100, 2))
    pa, pb = rng.normal(size=(2, n, d))
    y = (rng.random(n) < 0.5).astype(float)
    frame = pd.DataFrame({"user_id": users.astype(str), "z0": z[users, 0], "z1": z[users, 1]})
    pf = PairFeatures.from_arrays(pa, pb, y, frame)
    m = PersonalisedRewardModel(covariates=["z0", "z1"], standardize=False, alpha=1.0, alpha_covariates=1.0).fit(pf)
    Z = m.encoder_.transform(frame)
    D = pa - pb
    X = np.hstack([D, (D[:, :, None] * Z[:, None, :]).reshape(n, -1)])  # z ⊗ (φa − φb), built explicitly
    ref = LogisticRegression(C=1.0, fit_intercept=False, tol=1e-12, max_iter=10_000).fit(X, y)
    np.testing.assert_allclose(m.coef_, ref.coef_[0, :d], atol=1e-6)
    np.testing.assert_allclose(m.interaction_coef_.ravel(), ref.coef_[0, d:], atol=1e-6)


def test_ties_count_half_each_way_and_sample_weight_equals_duplication():
    rng = np.random.default_rng(2)
    pa, pb = rng.normal(size=(2, 400, 2))
    y = rng.choice([0.0, 0.5, 1.0], 400)
    # a tie is the same as one win and one loss with weight 1/2 each
    half = RewardModel(standardize=False).fit(PairFeatures.from_arrays(pa, pb, y))
    tie = y == 0.5
    pa2, pb2 = np.vstack([pa, pa[tie]]), np.vstack([pb, pb[tie]])
    y2 = np.r_[np.where(tie, 1.0, y), np.zeros(tie.sum())]
    w2 = np.r_[np.where(tie, 0.5, 1.0), np.full(tie.sum(), 0.5)]
    split = RewardModel(standardize=False).fit(PairFeatures.from_arrays(pa2, pb2, y2), sample_weight=w2)
    np.testing.assert_allclose(half.coef_, split.coef_, atol=1e-7)
    # integer weights = duplicated rows
    w = rng.integers(0, 3, 400).astype(float)
    keep = np.repeat(np.arange(400), w.astype(int))
    a = RewardModel(standardize=False).fit(PairFeatures.from_arrays(pa, pb, y), sample_weight=w)
    b = RewardModel(standardize=False).fit(PairFeatures.from_arrays(pa[keep], pb[keep], y[keep]))
    np.testing.assert_allclose(a.coef_, b.coef_, atol=1e-7)


# --- known answers: planted rewards ------------------------------------------------------------------


def test_recovers_planted_weights_and_approaches_the_bayes_rate():
    w_true = {
        "log_length": 0.5,
        "if_enumeration": 1.2,
        "if_refusal": -2.0,
        "if_question_marks": 0.6,
        "if_deanthro": -0.8,
    }
    pairs = planted_pairs(n_users=400, pairs_per_user=40, groups={"all": w_true}, seed=4)
    train, test = _split(featurize_pairs(pairs, PLANTED))
    m = RewardModel(featurizer=PLANTED).fit(train)
    coef = m.coefficients()
    truth = pd.Series(w_true)[coef.index]
    assert (np.sign(coef) == np.sign(truth)).all()
    cosine = float(coef @ truth / np.linalg.norm(coef) / np.linalg.norm(truth))
    assert cosine > 0.99
    assert np.abs(coef - truth).max() < 0.2
    # held-out participants: as good as the true model, up to sampling noise
    p_true = test.frame["p_true"].to_numpy()
    bayes_acc = pairwise_accuracy(test.y, p_true)
    acc = m.score(test)
    assert acc > 0.5 + 0.15
    assert acc > bayes_acc - 0.015
    assert m.log_loss(test) < pairwise_log_loss(test.y, p_true) + 0.01
    # and the expected Bayes rate E[max(p, 1 - p)] is the accuracy ceiling
    assert acc < np.maximum(p_true, 1 - p_true).mean() + 0.02


def test_reward_is_linear_in_features_and_only_differences_matter():
    pairs = planted_pairs(n_users=80, pairs_per_user=20, seed=5)
    m = RewardModel(featurizer=TextFeaturizer(features="all")).fit(pairs)
    texts = ["Plain answer.", "I'm sorry, but I cannot provide specific advice here. Plain answer."]
    r = m.reward(texts)
    assert r[1] < r[0]  # everyone in the planted groups dislikes refusals
    margin = m.decision_function(pd.DataFrame({"response_a": [texts[0]], "response_b": [texts[1]]}))
    assert margin[0] == pytest.approx(r[0] - r[1])


def test_personalised_model_beats_global_when_covariates_drive_preferences():
    # lists are liked by participants with a high slider value, disliked by those with a low one
    pairs = planted_pairs(
        n_users=300, pairs_per_user=30, groups={"all": {"if_refusal": -1.5}}, gamma={"if_enumeration": 2.0}, seed=6
    )
    train, test = _split(featurize_pairs(pairs, PLANTED))
    glob = RewardModel().fit(train)
    pers = PersonalisedRewardModel(covariates=["stated_prefs_fluency"]).fit(train)
    assert pers.score(test) > glob.score(test) + 0.05  # on participants never seen in training
    assert pers.log_loss(test) < glob.log_loss(test) - 0.03
    A = pers.interactions().set_index(["feature", "covariate"])["coef"]
    assert A[("if_enumeration", "stated_prefs_fluency")] == pytest.approx(2.0, abs=0.5)
    assert abs(A[("if_refusal", "stated_prefs_fluency")]) < 0.3
    # personal weights follow the slider
    w = pers.weights_for(pd.DataFrame({"stated_prefs_fluency": [10.0, 90.0]}))
    enum = list(pers.feature_names_in_).index("if_enumeration")
    assert w[0, enum] < -1.0 < 1.0 < w[1, enum]
    # ... and so does the personal reward of a list
    texts = ["Make a plan.", "Make a plan.\n1. Set a goal.\n2. Review it weekly."]
    low, high = pers.reward(texts, {"stated_prefs_fluency": 10.0}), pers.reward(texts, {"stated_prefs_fluency": 90.0})
    assert low[1] < low[0] and high[1] > high[0]
    per_row = pers.reward(texts, pd.DataFrame({"stated_prefs_fluency": [10.0, 90.0]}))
    np.testing.assert_allclose(per_row, [low[0], high[1]])
    # the shared weights are the average participant's
    np.testing.assert_allclose(pers.coefficients().to_numpy(), pers.weights_for(train.frame).mean(axis=0), atol=0.05)


def test_user_offsets_help_for_participants_seen_in_training_only():
    pairs = planted_pairs(
        n_users=120, pairs_per_user=60, groups={"all": {"if_refusal": -1.0}}, individual_sd=1.5, seed=7
    )
    pf = featurize_pairs(pairs, PLANTED)
    rng = np.random.default_rng(0)
    seen = rng.random(len(pf)) < 0.7  # random pairs: every participant in both halves
    cov = PersonalisedRewardModel(covariates=["stated_prefs_fluency"])
    off = PersonalisedRewardModel(covariates=["stated_prefs_fluency"], user_offsets=True, alpha_users=3.0)
    c, o = cov.fit(pf.take(seen)), off.fit(pf.take(seen))
    assert o.score(pf.take(~seen)) > c.score(pf.take(~seen)) + 0.04
    assert o.user_coef_.shape == (120, 5)
    # new participants get no offset: the two models agree on them up to the refit
    train, test = _split(pf)
    c2, o2 = clone(cov).fit(train), clone(off).fit(train)
    assert abs(o2.score(test) - c2.score(test)) < 0.02


# --- known answers: the persona simulation -------------------------------------------------------


def test_learns_the_simulated_participants_tastes(persona_study, persona_pairs):
    res, _ = persona_study
    m = RewardModel().fit(persona_pairs)
    coef = m.coefficients()
    truth = res.truth.person_weights.mean()
    # the panel's average weights (SD units): longer is better, refusals and hedging worse, lists better
    assert truth["theta_len"] > 0 and coef["log_length"] > 0
    assert truth["theta_ref"] < 0 and coef["refusal"] < 0
    assert truth["theta_hedge"] < 0 and coef["hedging"] < 0
    assert truth["theta_enum"] > 0 and coef["enumeration"] > 0
    assert coef["refusal"] == min(coef)


def test_personalised_on_persona_traits_beats_global_on_new_participants(persona_pairs):
    covs = [
        "persona_communication_style",
        "persona_lean",
        "age",
        "stated_prefs_safety",
        "stated_prefs_factuality",
        "stated_prefs_diversity",
        "stated_prefs_fluency",
    ]
    folds = participant_folds(persona_pairs.frame["user_id"], 3, seed=0)
    g_acc, p_acc = [], []
    for k in range(3):
        train, test = persona_pairs.take(folds != k), persona_pairs.take(folds == k)
        g_acc.append(RewardModel().fit(train).score(test))
        p_acc.append(PersonalisedRewardModel(covariates=covs).fit(train).score(test))
    assert np.mean(p_acc) > np.mean(g_acc) + 0.03


# --- symmetry --------------------------------------------------------------------------------------

_fragments = [
    "a",
    "b",
    " ",
    "?",
    ".",
    "\n1. ",
    "\n- ",
    "As an AI",
    "I'm sorry, but",
    "Sure",
    "Equality matters.",
    "It depends.",
    "é",
    "😀",
]
_texts = st.lists(st.lists(st.sampled_from(_fragments), max_size=8).map("".join), min_size=1, max_size=6)


@pytest.fixture(scope="module")
def fitted():
    pairs = planted_pairs(n_users=60, pairs_per_user=20, gamma={"if_enumeration": 1.0}, seed=8)
    f = TextFeaturizer(features="all")
    return (
        RewardModel(featurizer=f).fit(pairs),
        PersonalisedRewardModel(featurizer=f, covariates=["stated_prefs_fluency"], user_offsets=True).fit(pairs),
    )


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(a=_texts, b=_texts, slider=st.floats(0, 100), user=st.sampled_from(["p0001", "p0002", "new"]))
def test_swapping_a_and_b_gives_one_minus_p(fitted, a, b, slider, user):
    n = min(len(a), len(b))
    pairs = pd.DataFrame({"response_a": a[:n], "response_b": b[:n], "stated_prefs_fluency": slider, "user_id": user})
    swapped = pairs.rename(columns={"response_a": "response_b", "response_b": "response_a"})
    for model in fitted:
        p = model.predict_proba(pairs)
        q = model.predict_proba(swapped)
        np.testing.assert_allclose(p[:, 1], 1 - q[:, 1], atol=1e-12)
        np.testing.assert_allclose(p.sum(axis=1), 1.0)
        same = pd.DataFrame({"response_a": a[:n], "response_b": a[:n], "stated_prefs_fluency": slider, "user_id": user})
        np.testing.assert_allclose(model.predict_proba(same)[:, 1], 0.5)


def test_pair_features_swap_is_the_mirror_image(fitted):
    pf = featurize_pairs(planted_pairs(n_users=10, pairs_per_user=5, seed=9), TextFeaturizer(features="all"))
    m = fitted[0]
    np.testing.assert_allclose(m.decision_function(pf), -m.decision_function(pf.swap()))
    assert m.score(pf) == pytest.approx(m.score(pf.swap()))


# --- scikit-learn API ------------------------------------------------------------------------------


def test_sklearn_api_clone_params_and_grouped_cross_validation():
    pairs = planted_pairs(
        n_users=60, pairs_per_user=15, groups={"all": {"if_refusal": -2.0, "if_enumeration": 1.0}}, seed=10
    )
    m = RewardModel(alpha=3.0, featurizer=TextFeaturizer(features="all"))
    params = m.get_params()
    assert params["alpha"] == 3.0 and params["featurizer__features"] == "all"
    c = clone(m).set_params(alpha=0.5)
    assert c.alpha == 0.5 and m.alpha == 3.0
    scores = cross_val_score(m, pairs, cv=GroupKFold(n_splits=3), groups=pairs["user_id"])
    assert scores.shape == (3,) and (scores > 0.6).all()
    fitted = m.fit(pairs)
    assert fitted is m and list(m.classes_) == [0, 1]
    assert set(np.unique(m.predict(pairs))) <= {0, 1}
    assert m.n_features_in_ == 9 and m.feature_names_in_[0] == "log_length"


def test_clear_errors():
    pairs = planted_pairs(n_users=10, pairs_per_user=5, seed=11)
    with pytest.raises(ConfigError, match="not fitted"):
        RewardModel().predict_proba(pairs)
    with pytest.raises(ConfigError, match="no preference pairs"):
        RewardModel().fit(pairs.iloc[:0])
    with pytest.raises(ConfigError, match=r"y\[0\] = 2.0"):
        RewardModel().fit(pairs.assign(y=2.0))
    with pytest.raises(ConfigError, match="alpha"):
        RewardModel(alpha=-1).fit(pairs)
    with pytest.raises(ConfigError, match="no participant covariates"):
        PersonalisedRewardModel().fit(pairs.drop(columns=["stated_prefs_fluency"]))
    with pytest.raises(ConfigError, match="covariate.*'colour'"):
        PersonalisedRewardModel(covariates=["colour"]).fit(pairs)
    m = RewardModel().fit(pairs)
    with pytest.raises(ConfigError, match="features"):
        m.predict_proba(PairFeatures.from_arrays(np.ones((2, 3)), np.zeros((2, 3))))
    with pytest.raises(ConfigError, match="pairs DataFrame or PairFeatures"):
        m.predict(np.ones((3, 7)))
    with pytest.raises(ConfigError, match="unknown feature set"):
        RewardModel(featurizer=TextFeaturizer(features="fancy")).fit(pairs)
    assert len(PLANTED_FEATURES) == 5
