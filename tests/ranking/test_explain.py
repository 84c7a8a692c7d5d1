"""The OLS of score on response features (PRISM App. T.8, Tab. 27)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

from pluralis.errors import ConfigError, DataValidationError
from pluralis.features.response import response_features
from pluralis.ranking.explain import explain_scores


@pytest.fixture(scope="module")
def utterances():
    from pluralis.data.synthetic import generate_study

    return generate_study(n_participants=200, seed=4, with_metadata=False).frames().utterances


def test_explain_scores_recovers_signs_and_uses_clustered_ses(utterances):
    with pytest.warns(UserWarning, match="do not vary"):
        clustered = explain_scores(utterances)
    c = clustered.coefficients.set_index("term")
    assert clustered.n == int((utterances["turn"] == 0).sum())
    assert c.loc["if_refusal", "coef"] < -5 and c.loc["if_refusal", "p_value"] < 0.01
    assert c.loc["if_line_breaks", "coef"] < 0 < c.loc["if_enumeration", "coef"]
    assert clustered.n_clusters == utterances["user_id"].nunique()
    with pytest.warns(UserWarning):
        plain = explain_scores(utterances, cov="nonrobust")
    p = plain.coefficients.set_index("term")
    assert np.allclose(p["coef"], c["coef"])
    assert not np.allclose(p["se"], c["se"])
    # the non-robust fit is exactly statsmodels' OLS on the same design
    openers = utterances[utterances["turn"] == 0]
    X = response_features(openers["model_response"]).drop(columns=["if_self_identification"])
    ref = sm.OLS(openers["score"].to_numpy(float), sm.add_constant(X.to_numpy())).fit()
    assert np.allclose(p["se"].to_numpy(), ref.bse) and plain.r_squared == pytest.approx(ref.rsquared)
    assert set(c.columns) >= {"coef", "se", "t", "p_value", "ci_low", "ci_high"}


def test_explain_scores_options_and_errors(utterances):
    m = explain_scores(utterances, features=["text_length", "if_refusal"], max_length=200, cov="HC1", turns="all")
    assert m.n == int((utterances["model_response"].str.len() < 200).sum())
    with pytest.raises(DataValidationError, match="model_response"):
        explain_scores(pd.DataFrame({"score": [1]}))
    with pytest.raises(ConfigError, match="cov"):
        explain_scores(utterances, features=["text_length"], cov="robust")


def test_clustered_ses_match_the_cr1_sandwich_written_from_the_formula(utterances):
    """V = G/(G-1) * (N-1)/(N-K) * (X'X)^-1 [sum_g X_g' u_g u_g' X_g] (X'X)^-1 (Stata's CR1, statsmodels' default)."""
    names = ["text_length", "if_line_breaks", "if_enumeration", "if_refusal"]
    m = explain_scores(utterances, features=names)
    openers = utterances[utterances["turn"] == 0]
    X = np.column_stack(
        [np.ones(len(openers)), response_features(openers["model_response"], features=names).to_numpy()]
    )
    y = openers["score"].to_numpy(float)
    beta = np.linalg.lstsq(X, y, rcond=None)[0]
    u = y - X @ beta
    bread = np.linalg.inv(X.T @ X)
    meat = np.zeros((X.shape[1], X.shape[1]))
    for _, rows in openers.groupby("user_id").indices.items():
        s = X[rows].T @ u[rows]
        meat += np.outer(s, s)
    n, k, g = len(y), X.shape[1], openers["user_id"].nunique()
    se = np.sqrt(np.diag(g / (g - 1) * (n - 1) / (n - k) * bread @ meat @ bread))
    c = m.coefficients.set_index("term").loc[["const", *names]]
    assert np.allclose(c["coef"], beta, rtol=1e-10)
    assert np.allclose(c["se"], se, rtol=1e-8)
    assert m.n_clusters == g


def test_as_coded_uses_prism_lists(utterances):
    u = utterances[utterances["turn"] == 0].copy()
    u["model_response"] = np.where(np.arange(len(u)) % 5 == 0, "I won't be able to help. ", "") + u["model_response"]
    union = explain_scores(u, features=["if_refusal"], cov="nonrobust")
    coded = explain_scores(u, features=["if_refusal"], cov="nonrobust", as_coded=True)
    assert union.coefficients.iloc[1]["coef"] != coded.coefficients.iloc[1]["coef"]
    with pytest.raises(ConfigError, match="unknown feature"):
        explain_scores(u, features=["emoji"])
