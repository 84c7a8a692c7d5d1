"""Topic-prevalence LPMs: sandwich SEs against the textbook formula and statsmodels; planted coefficients flagged exactly."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from scipy import stats

from pluralis.data.synthetic import DEFAULT_TOPIC_SHIFTS
from pluralis.errors import ConfigError
from pluralis.topics import PRISM_TERMS, topic_regressions
from pluralis.topics.regression import design_matrix, ols_sandwich


def textbook_cluster_se(X, y, groups):
    """V = G/(G-1) (N-1)/(N-K) (X'X)^-1 [sum_g (X_g' e_g)(X_g' e_g)'] (X'X)^-1, one cluster at a time."""
    n, k = X.shape
    XtX_inv = np.linalg.inv(X.T @ X)
    beta = XtX_inv @ X.T @ y
    e = y - X @ beta
    meat = np.zeros((k, k))
    clusters = np.unique(groups)
    for g in clusters:
        rows = groups == g
        s = X[rows].T @ e[rows]
        meat += np.outer(s, s)
    G = len(clusters)
    V = G / (G - 1) * (n - 1) / (n - k) * XtX_inv @ meat @ XtX_inv
    return beta, np.sqrt(np.diag(V))


def textbook_hc1_se(X, y):
    n, k = X.shape
    XtX_inv = np.linalg.inv(X.T @ X)
    beta = XtX_inv @ X.T @ y
    e = y - X @ beta
    meat = sum(np.outer(X[i], X[i]) * e[i] ** 2 for i in range(n))
    return np.sqrt(np.diag(n / (n - k) * XtX_inv @ meat @ XtX_inv))


@pytest.fixture(scope="module")
def lpm_data():
    rng = np.random.default_rng(7)
    users = np.repeat(np.arange(120), rng.integers(1, 9, 120))
    n = len(users)
    g = rng.choice(["a", "b", "c"], 120)[users]
    x = rng.choice(["p", "q"], n)
    X = np.column_stack([np.ones(n), g == "b", g == "c", x == "q"]).astype(float)
    u = rng.normal(size=120)[users]  # a participant effect: clustering matters
    Y = np.column_stack([(rng.random(n) < 0.2 + 0.1 * (g == "b") + 0.05 * u).astype(float) for _ in range(3)])
    return X, Y, users


def test_clustered_ses_match_the_textbook_sandwich_and_statsmodels(lpm_data):
    X, Y, users = lpm_data
    B, SE, r2, df = ols_sandwich(X, Y, se="cluster", groups=users)
    assert df == len(np.unique(users)) - 1
    for j in range(Y.shape[1]):
        beta, se = textbook_cluster_se(X, Y[:, j], users)
        np.testing.assert_allclose(B[:, j], beta, rtol=1e-10)
        np.testing.assert_allclose(SE[:, j], se, rtol=1e-10)
        fit = sm.OLS(Y[:, j], X).fit(cov_type="cluster", cov_kwds={"groups": users}, use_t=True)
        np.testing.assert_allclose(SE[:, j], fit.bse, rtol=1e-10)
        np.testing.assert_allclose(r2[j], fit.rsquared, rtol=1e-10)
        p = 2 * stats.t.sf(np.abs(B[:, j] / SE[:, j]), df)
        np.testing.assert_allclose(p, fit.pvalues, rtol=1e-8)


def test_hc1_and_classical_ses_match_statsmodels(lpm_data):
    X, Y, _ = lpm_data
    _, SE, _, df = ols_sandwich(X, Y, se="HC1")
    assert df == X.shape[0] - X.shape[1]
    _, SE0, _, _ = ols_sandwich(X, Y, se="nonrobust")
    for j in range(Y.shape[1]):
        np.testing.assert_allclose(SE[:, j], textbook_hc1_se(X, Y[:, j]), rtol=1e-10)
        np.testing.assert_allclose(SE[:, j], sm.OLS(Y[:, j], X).fit(cov_type="HC1").bse, rtol=1e-10)
        np.testing.assert_allclose(SE0[:, j], sm.OLS(Y[:, j], X).fit().bse, rtol=1e-10)


def test_design_matrix_follows_the_base_levels():
    f = pd.DataFrame({"gender": ["Male", "Female", "Non-binary", None], "t": ["u", "v", "u", "v"]})
    X, cols, used = design_matrix(f, {"gender": "Male", "t": None})
    assert cols == [("(Intercept)", None), ("gender", "Female"), ("gender", "Non-binary"), ("t", "v")]
    assert used.tolist() == [0, 1, 2]
    assert X.tolist() == [[1, 0, 0, 0], [1, 1, 0, 1], [1, 0, 1, 0]]
    with pytest.raises(ConfigError, match="base level 'Other'"):
        design_matrix(f, {"gender": "Other"})
    with pytest.raises(ConfigError, match="rank-deficient"):
        ols_sandwich(np.ones((5, 2)), np.ones((5, 1)), se="nonrobust")


def test_exactly_the_planted_coefficients_are_significant(planted, planted_fit):
    """PRISM's specification (gender, age, region, ethnicity, religion, conversation type) on the pipeline's topics."""
    _, _, survey, _ = planted
    _, assign, mapping = planted_fit
    res = topic_regressions(assign, survey=survey, terms=PRISM_TERMS, se="cluster", alpha=0.01, correction="holm")
    t = res.table.assign(true_topic=res.table["topic"].map(mapping))
    expected = {
        (term, level, topic): shift
        for (term, level), shifts in DEFAULT_TOPIC_SHIFTS.items()
        for topic, shift in shifts.items()
    }
    sig = t[t["significant"].fillna(False).astype(bool)]
    assert {(r.term, r.level, r.true_topic) for r in sig.itertuples()} == set(expected)
    for r in sig.itertuples():
        true = expected[(r.term, r.level, r.true_topic)]
        assert r.ci_low <= true <= r.ci_high
    assert set(t["term"]) == set(PRISM_TERMS)  # every PRISM regressor is in the model
    assert t["tested"].sum() >= 60 and (~t["tested"]).any()  # small groups stay as untested controls
    untested = t[~t["tested"]]
    assert ((untested["n_participants"] < 20) | (untested["level"] == "Prefer not to say")).all()
    assert len(res.fits) == 6 and (res.fits["r2"] > 0).all()


def test_hc1_option_reproduces_prisms_published_covariance(planted, planted_fit):
    _, _, survey, _ = planted
    _, assign, _ = planted_fit
    a = topic_regressions(assign, survey=survey, terms={"gender": "Male", "age": None}, se="cluster")
    b = topic_regressions(assign, survey=survey, terms={"gender": "Male", "age": None}, se="HC1")
    np.testing.assert_allclose(a.table["estimate"], b.table["estimate"])
    assert not np.allclose(a.table["std_error"], b.table["std_error"])
    assert a.table.attrs["se"] == "cluster" and b.table.attrs["se"] == "HC1"


def test_aliases_and_errors(planted, planted_fit):
    _, _, survey, _ = planted
    _, assign, _ = planted_fit
    r = topic_regressions(assign, survey=survey, terms={"region": "US"})
    assert set(r.table["term"]) == {"location_special_region"}
    with pytest.raises(ConfigError):
        topic_regressions(assign.drop(columns="topic"), survey=survey)
    with pytest.raises(ConfigError, match="outlier"):
        topic_regressions(assign.assign(topic=-1), survey=survey, terms=["gender"])
