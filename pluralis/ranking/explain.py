"""What explains scores? PRISM's OLS of score on response features (App. T.8, Tab. 27).

:func:`explain_scores` fits ``score ~ const + features`` by OLS on the features of
:func:`pluralis.features.response.response_features` (PRISM's by default), with
**participant-clustered** standard errors by default (``cov="nonrobust"`` reproduces Tab. 27's
plain SEs; ``"HC1"`` robust). ``as_coded=True`` uses PRISM's refusal list and list regex exactly as
its notebook codes them, to reproduce Tab. 27.

Example
-------
>>> u = pd.DataFrame({"model_response": ["a?", "bb", "ccc?", "dddd"] * 5, "turn": 0,
...                   "score": [50, 40, 70, 60] * 5, "user_id": list("uvwxy") * 4})
>>> m = explain_scores(u, features=["text_length", "if_question_marks"], cov="nonrobust")
>>> m.n, round(m.r_squared, 6)
(20, 1.0)
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

from pluralis.errors import ConfigError, DataValidationError, Problem
from pluralis.features.response import PRISM_FEATURES, check_features, response_features


@dataclass
class ScoreModel:
    """An OLS fit of score on response features.

    ``coefficients`` has ``term, coef, se, t, p_value, ci_low, ci_high``; ``result`` is the
    statsmodels results object. Features that did not vary were dropped (``coefficients.attrs["dropped"]``).

    Example
    -------
    >>> u = pd.DataFrame({"model_response": ["a?", "bb", "ccc?", "dddd"] * 5, "turn": 0,
    ...                   "score": [50, 40, 70, 60] * 5, "user_id": list("uvwxy") * 4})
    >>> m = explain_scores(u, features=["text_length", "if_question_marks"], cov="nonrobust")
    >>> m.coefficients.set_index("term")["coef"].round(6).tolist()
    [20.0, 10.0, 10.0]
    """

    coefficients: pd.DataFrame
    n: int
    r_squared: float
    f_statistic: float
    cov_type: str
    n_clusters: int | None
    result: object


def explain_scores(
    utterances: pd.DataFrame,
    *,
    turns: Literal["openers", "all"] = "openers",
    features: Sequence[str] = PRISM_FEATURES,
    cov: Literal["cluster", "nonrobust", "HC1"] = "cluster",
    cluster: str = "user_id",
    outcome: str = "score",
    max_length: float | None = None,
    word_boundaries: bool = False,
    as_coded: bool = False,
    level: float = 0.95,
) -> ScoreModel:
    """OLS of ``score`` on response features with participant-clustered standard errors.

    Uses opener responses (turn 0) of all conversations by default, as PRISM's Tab. 27
    (N = 30,049). ``max_length`` drops responses at or above that length (PRISM's intermediate
    models trim at 1346.5 characters). ``cov="nonrobust"`` reproduces the paper's plain SEs.

    Parameters
    ----------
    utterances
        a study's utterances frame (``model_response``, the outcome, ``turn``, the cluster column).
    turns
        ``"openers"`` (turn 0, PRISM's sample) or ``"all"``.
    features
        feature names of :func:`pluralis.features.response.response_features` (PRISM's by default).
    cov
        ``"cluster"`` (by ``cluster``), ``"nonrobust"`` or ``"HC1"``.
    cluster, outcome
        column names.
    max_length
        keep responses shorter than this many characters.
    word_boundaries, as_coded
        passed to :func:`~pluralis.features.response.response_features`.
    level
        confidence level of the intervals.

    Returns
    -------
    ScoreModel

    Example
    -------
    >>> rng = np.random.default_rng(0)
    >>> texts = np.where(rng.random(400) < 0.3, "I'm sorry, but no.", "Here is a long and helpful answer.")
    >>> u = pd.DataFrame({"model_response": texts, "turn": 0, "user_id": rng.integers(0, 40, 400).astype(str)})
    >>> u["score"] = 60 - 20 * (u["model_response"].str.startswith("I'm sorry")) + rng.normal(0, 5, 400)
    >>> m = explain_scores(u, features=["if_refusal"])
    >>> -22 < float(m.coefficients.set_index("term").loc["if_refusal", "coef"]) < -18
    True
    """
    import statsmodels.api as sm

    features = check_features(features)
    need = ["model_response", outcome] + ([cluster] if cov == "cluster" else [])
    missing = [c for c in need if c not in utterances.columns]
    if missing:
        raise DataValidationError([Problem("utterances", None, c, "required column is missing") for c in missing])
    df = utterances
    if turns == "openers":
        if "turn" not in df.columns:
            raise DataValidationError(Problem("utterances", None, "turn", "required for turns='openers'"))
        df = df[df["turn"].to_numpy() == 0]
    elif turns != "all":
        raise ConfigError(f"turns must be 'openers' or 'all', got {turns!r}")
    df = df[df[outcome].notna()]
    X = response_features(df["model_response"], features=features, word_boundaries=word_boundaries, as_coded=as_coded)
    if max_length is not None:
        lengths = df["model_response"].fillna("").astype(str).str.len().to_numpy()
        keep = lengths < max_length
        df, X = df[keep], X[keep]
    if len(df) <= len(features) + 1:
        raise DataValidationError(f"too few responses ({len(df)}) to fit {len(features)} features")
    constant = [c for c in X.columns if X[c].nunique() < 2]
    if constant:
        if len(constant) == len(X.columns):
            raise DataValidationError(f"feature(s) {constant} do not vary in these responses")
        warnings.warn(f"dropping feature(s) that do not vary in these responses: {constant}", stacklevel=2)
        X = X.drop(columns=constant)
    y = df[outcome].to_numpy(dtype=float)
    Xc = sm.add_constant(X.to_numpy(), has_constant="add")
    names = ["const", *X.columns]
    model = sm.OLS(y, Xc)
    n_clusters = None
    if cov == "cluster":
        groups = pd.factorize(df[cluster].to_numpy())[0]
        n_clusters = int(groups.max()) + 1
        res = model.fit(cov_type="cluster", cov_kwds={"groups": groups})
    elif cov == "HC1":
        res = model.fit(cov_type="HC1")
    elif cov == "nonrobust":
        res = model.fit()
    else:
        raise ConfigError(f"cov must be 'cluster', 'HC1' or 'nonrobust', got {cov!r}")
    ci = np.asarray(res.conf_int(alpha=1 - level))
    table = pd.DataFrame(
        {
            "term": names,
            "coef": res.params,
            "se": res.bse,
            "t": res.tvalues,
            "p_value": res.pvalues,
            "ci_low": ci[:, 0],
            "ci_high": ci[:, 1],
        }
    )
    table.attrs.update({"n": int(res.nobs), "r_squared": float(res.rsquared), "cov_type": cov, "dropped": constant})
    return ScoreModel(
        table, int(res.nobs), float(res.rsquared), float(np.asarray(res.fvalue).item()), cov, n_clusters, res
    )
