"""Topic-prevalence regressions (spec §5.3, PRISM App. R.1-R.2): one linear probability model per topic.

For every topic ``t`` and every text ``i`` (outliers included, with ``y = 0`` for every topic)::

    1[topic_i == t] = alpha + gender' b1 + age' b2 + region' b3 + ethnicity' b4 + religion' b5
                      + conversation_type' b6 + e

by OLS, each factor as dummies against a base level (PRISM: Male, 18-24 years old, US, White,
No Affiliation, unguided — :data:`PRISM_TERMS`; "Prefer not to say" levels stay as dummies).

Standard errors (``se=``):

``"cluster"`` (default)
    clustered by participant, as the paper says: ``V = c (X'X)^-1 (sum_g s_g s_g') (X'X)^-1`` with
    ``s_g = X_g' e_g`` and ``c = G/(G-1) (N-1)/(N-K)``; t tests on ``G - 1`` degrees of freedom
    (statsmodels' ``cov_type="cluster"``, ``use_t=True``; R's ``vcovCL(type="HC1")``).
``"HC1"``
    PRISM's published numbers: its ``vcovHC(..., cluster=~user_id)`` silently ignores the cluster
    (spec §9 row 3), giving heteroskedasticity-robust HC1, ``V = N/(N-K) (X'X)^-1 X' diag(e^2) X (X'X)^-1``,
    t tests on ``N - K`` degrees of freedom (R's ``coeftest``).
``"nonrobust"``
    classical OLS standard errors.

Every topic shares one design matrix, so all topics are fitted at once (one QR); the sandwich of
each topic is a few BLAS products. p-values are adjusted across topics x coefficients (Holm by
default; PRISM used an unadjusted 99 % level: ``correction="none", alpha=0.01``). Coefficients of
levels with fewer than ``min_participants`` participants, and of "Prefer not to say", stay in the
model as controls but are not tested (PRISM's Fig. 23 shows groups of at least 20).

Example
-------
>>> rng = np.random.default_rng(0)
>>> n = 600
>>> a = pd.DataFrame({"user_id": np.arange(n) // 3, "g": np.repeat(rng.choice(["a", "b"], n // 3), 3)})
>>> a["topic"] = np.where(rng.random(n) < np.where(a["g"] == "b", 0.6, 0.3), 0, -1)
>>> res = topic_regressions(a, terms={"g": "a"})
>>> row = res.table.query("topic == 0 and level == 'b'").iloc[0]
>>> round(float(row["estimate"]), 1), bool(row["significant"])
(0.3, True)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy import stats

from pluralis.data.vocab import PREFER_NOT_TO_SAY
from pluralis.errors import ConfigError
from pluralis.topics.data import attach_groups
from pluralis.topics.overrep import adjust_pvalues

#: PRISM's regressors and their base levels (spec §5.3).
PRISM_TERMS: dict[str, str | None] = {
    "gender": "Male",
    "age": "18-24 years old",
    "location_special_region": "US",
    "ethnicity_simplified": "White",
    "religion_simplified": "No Affiliation",
    "conversation_type": "unguided",
}
SE_TYPES = ("cluster", "HC1", "nonrobust")


@dataclass
class RegressionResult:
    """Coefficients of every topic's LPM (``table``) and per-topic fit statistics (``fits``).

    ``table``: ``topic, term, level, coefficient, estimate, std_error, t, df, p_value, ci_low,
    ci_high, n_participants, tested, p_adjusted, significant``; ``fits``: ``topic, n, k, n_clusters,
    r2, prevalence``; ``design`` the column names of the design matrix.

    Example
    -------
    >>> a = pd.DataFrame({"user_id": range(40), "topic": [0, -1] * 20, "g": ["x"] * 20 + ["y"] * 20})
    >>> topic_regressions(a, terms={"g": "x"}, min_participants=1).fits[["topic", "n", "k"]].values.tolist()
    [[0, 40, 2]]
    """

    table: pd.DataFrame
    fits: pd.DataFrame
    design: list[str]

    def significant(self) -> pd.DataFrame:
        """The tested coefficients found significant, largest effects first.

        Example
        -------
        >>> a = pd.DataFrame({"user_id": range(40), "topic": [0] * 18 + [-1] * 22, "g": ["x"] * 20 + ["y"] * 20})
        >>> topic_regressions(a, terms={"g": "x"}, min_participants=1).significant()["level"].tolist()
        ['y']
        """
        t = self.table[self.table["significant"].fillna(False).astype(bool)]
        return t.reindex(t["estimate"].abs().sort_values(ascending=False).index)


def design_matrix(
    frame: pd.DataFrame, terms: Mapping[str, str | None]
) -> tuple[np.ndarray, list[tuple[str, str | None]], np.ndarray]:
    """Intercept + treatment dummies for each term; returns (X, [(term, level)], rows used).

    A base of ``None`` is the first level in sorted order (R's default). Rows with a missing value
    in any term are dropped (R's ``na.omit``).

    Parameters
    ----------
    frame : pandas.DataFrame
        The data, one row per observation.
    terms : mapping of str to str or None
        Column -> its base (reference) level; ``None`` for the first sorted level.

    Returns
    -------
    tuple of (numpy.ndarray, list of tuple, numpy.ndarray)
        The design matrix ``X``, its columns as (term, level), and the positions of the rows used.

    Example
    -------
    >>> X, cols, used = design_matrix(pd.DataFrame({"g": ["b", "a", None, "c"]}), {"g": None})
    >>> X.tolist(), cols, used.tolist()
    ([[1.0, 1.0, 0.0], [1.0, 0.0, 0.0], [1.0, 0.0, 1.0]], [('(Intercept)', None), ('g', 'b'), ('g', 'c')], [0, 1, 3])
    """
    ok = np.ones(len(frame), dtype=bool)
    for term in terms:
        if term not in frame.columns:
            raise ConfigError(f"regressor {term!r} is not a column of the data")
        ok &= frame[term].notna().to_numpy()
    used = np.flatnonzero(ok)
    sub = frame.iloc[used]
    blocks = [np.ones((len(sub), 1))]
    cols: list[tuple[str, str | None]] = [("(Intercept)", None)]
    for term, base in terms.items():
        values = sub[term].astype(str)
        levels = sorted(values.unique())
        if base is None:
            base = levels[0] if levels else None
        elif base not in levels:
            raise ConfigError(f"base level {base!r} of {term!r} is not in the data; levels: {levels}")
        others = [lv for lv in levels if lv != base]
        if others:
            blocks.append((values.to_numpy()[:, None] == np.asarray(others, dtype=object)[None, :]).astype(np.float64))
            cols += [(term, lv) for lv in others]
    return np.hstack(blocks), cols, used


def ols_sandwich(
    X: np.ndarray, Y: np.ndarray, *, se: str = "cluster", groups: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """OLS of every column of ``Y`` on ``X`` with one covariance type: (B, SE, R², df).

    ``B`` and ``SE`` are ``(k, n_outcomes)``; ``df`` is the t tests' degrees of freedom.

    Parameters
    ----------
    X : numpy.ndarray
        Design matrix ``(n, k)`` of full column rank.
    Y : numpy.ndarray
        Outcomes ``(n, n_outcomes)``.
    se : {"cluster", "HC1", "nonrobust"}
        Covariance type (default ``"cluster"``).
    groups : numpy.ndarray, optional
        Cluster of each row (needed when ``se="cluster"``).

    Returns
    -------
    tuple of (numpy.ndarray, numpy.ndarray, numpy.ndarray, float)
        Coefficients ``B``, standard errors ``SE``, R² per outcome, and the degrees of freedom.

    Example
    -------
    >>> X = np.column_stack([np.ones(6), [0, 0, 0, 1, 1, 1]])
    >>> B, S, r2, df = ols_sandwich(X, np.array([[1, 2, 3, 5, 6, 7]], dtype=float).T, se="nonrobust")
    >>> B.ravel().round(6).tolist(), round(float(S[1, 0]), 4), df
    ([2.0, 4.0], 0.8165, 4.0)
    """
    if se not in SE_TYPES:
        raise ConfigError(f"se must be one of {SE_TYPES}, got {se!r}")
    n, k = X.shape
    Q, R = np.linalg.qr(X)
    diag = np.abs(np.diag(R))
    if n <= k or diag.min() <= 1e-10 * max(1.0, diag.max()):
        raise ConfigError(
            "the regression design is rank-deficient (collinear dummies, or more columns than texts); "
            "drop a regressor or merge small groups"
        )
    B = np.linalg.solve(R, Q.T @ Y)
    E = Y - X @ B
    Rinv = np.linalg.inv(R)
    bread = Rinv @ Rinv.T  # (X'X)^-1
    ss_res = (E**2).sum(axis=0)
    ss_tot = ((Y - Y.mean(axis=0)) ** 2).sum(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        r2 = np.where(ss_tot > 0, 1 - ss_res / ss_tot, np.nan)
    SE = np.empty_like(B)
    if se == "nonrobust":
        sigma2 = ss_res / (n - k)
        SE[:] = np.sqrt(np.outer(np.diag(bread), sigma2))
        return B, SE, r2, float(n - k)
    if se == "HC1":
        for j in range(Y.shape[1]):  # one sandwich per topic (tens), each a BLAS product
            Xe = X * E[:, j : j + 1]
            V = (n / (n - k)) * bread @ (Xe.T @ Xe) @ bread
            SE[:, j] = np.sqrt(np.clip(np.diag(V), 0, None))
        return B, SE, r2, float(n - k)
    if groups is None:
        raise ConfigError("clustered standard errors need the cluster of every row (groups=)")
    g_codes, g_uniques = pd.factorize(pd.Series(groups).astype(object), sort=False)
    G = len(g_uniques)
    if G < 2:
        raise ConfigError("clustered standard errors need at least 2 clusters")
    S_ind = sp.csr_matrix((np.ones(n), (g_codes, np.arange(n))), shape=(G, n))
    c = G / (G - 1) * (n - 1) / (n - k)
    for j in range(Y.shape[1]):
        S = S_ind @ (X * E[:, j : j + 1])  # per-cluster score sums, G x k
        V = c * bread @ (S.T @ S) @ bread
        SE[:, j] = np.sqrt(np.clip(np.diag(V), 0, None))
    return B, SE, r2, float(G - 1)


def topic_regressions(
    assignments: pd.DataFrame,
    *,
    survey: pd.DataFrame | None = None,
    terms: Mapping[str, str | None] | Sequence[str] = PRISM_TERMS,
    topics: Sequence[int] | None = None,
    se: str = "cluster",
    cluster: str = "user_id",
    alpha: float = 0.01,
    correction: str = "holm",
    level: float = 0.95,
    min_participants: int = 20,
    untested_levels: Sequence[str] = (PREFER_NOT_TO_SAY,),
) -> RegressionResult:
    """Fit PRISM's topic-prevalence LPMs (see the module docstring).

    Parameters
    ----------
    assignments
        one row per text: ``topic`` (``-1`` outliers), ``user_id`` and the regressors (or take them
        from ``survey`` by ``user_id``).
    terms
        ``{field: base level}`` (``None``: first level alphabetically) or a list of fields; aliases
        such as ``region`` or ``ethnicity`` are resolved. Fields absent from the data are an error.
    topics
        topics to model (default: every topic except the outliers).
    se, cluster
        ``"cluster"`` (by the ``cluster`` column), ``"HC1"`` (PRISM as coded) or ``"nonrobust"``.
    alpha, correction
        significance level after adjusting across topics x tested coefficients.
    level
        confidence level of ``ci_low``/``ci_high``.
    min_participants, untested_levels
        coefficients kept as controls but not tested (small groups, "Prefer not to say").

    Returns
    -------
    :class:`RegressionResult`

    Example
    -------
    >>> a = pd.DataFrame({"user_id": range(60), "topic": [0, 1, -1] * 20, "g": list("xyz") * 20})
    >>> r = topic_regressions(a, terms={"g": "x"}, min_participants=5, se="HC1")
    >>> sorted(r.table["coefficient"].unique())
    ['gy', 'gz']
    """
    if "topic" not in assignments.columns:
        raise ConfigError("assignments need a 'topic' column")
    if not 0 < level < 1:
        raise ConfigError(f"level must be in (0, 1), got {level}")
    spec: dict[str, str | None] = dict(terms) if isinstance(terms, Mapping) else dict.fromkeys(terms)
    frame, names = attach_groups(assignments, list(spec), survey)
    spec = dict(zip(names, spec.values()))
    X, cols, used = design_matrix(frame, spec)
    sub = frame.iloc[used]
    labels = np.asarray(sub["topic"], dtype=np.int64)
    model_topics = [int(t) for t in (topics if topics is not None else np.unique(labels)) if int(t) >= 0]
    if not model_topics:
        raise ConfigError("no topics to model (every text is an outlier)")
    Y = (labels[:, None] == np.asarray(model_topics)[None, :]).astype(np.float64)
    groups = sub[cluster].to_numpy() if se == "cluster" else None
    if se == "cluster" and cluster not in sub.columns:
        raise ConfigError(f"clustered standard errors need a {cluster!r} column")
    B, SE, r2, df = ols_sandwich(X, Y, se=se, groups=groups)
    users = sub[cluster] if cluster in sub.columns else pd.Series(np.arange(len(sub)))
    level_sizes = {}
    for term, lv in cols[1:]:
        level_sizes[(term, lv)] = int(users[(sub[term].astype(str) == lv).to_numpy()].nunique())
    tq = stats.t.ppf(1 - (1 - level) / 2, df)
    rows = []
    for j, t in enumerate(model_topics):
        for i, (term, lv) in enumerate(cols):
            if term == "(Intercept)":
                continue
            est, s = float(B[i, j]), float(SE[i, j])
            tstat = est / s if s > 0 else np.nan
            n_lv = level_sizes[(term, lv)]
            rows.append(
                {
                    "topic": t,
                    "term": term,
                    "level": lv,
                    "coefficient": f"{term}{lv}",
                    "estimate": est,
                    "std_error": s,
                    "t": tstat,
                    "df": df,
                    "p_value": float(2 * stats.t.sf(abs(tstat), df)) if np.isfinite(tstat) else np.nan,
                    "ci_low": est - tq * s,
                    "ci_high": est + tq * s,
                    "n_participants": n_lv,
                    "tested": bool(n_lv >= min_participants and lv not in set(untested_levels)),
                }
            )
    table = pd.DataFrame(rows)
    p = table["p_value"].where(table["tested"]).to_numpy(dtype=float)
    table["p_adjusted"] = adjust_pvalues(p, correction)
    table["significant"] = (table["p_adjusted"] < alpha).astype("boolean")
    table.loc[~table["tested"], "significant"] = pd.NA
    G = int(pd.Series(groups).nunique()) if groups is not None else np.nan
    fits = pd.DataFrame(
        {
            "topic": model_topics,
            "n": len(sub),
            "k": X.shape[1],
            "n_clusters": G,
            "r2": r2,
            "prevalence": Y.mean(axis=0),
        }
    )
    attrs = {
        "se": se,
        "correction": correction,
        "alpha": alpha,
        "level": level,
        "n_dropped": len(frame) - len(sub),
        "terms": spec,
    }
    table.attrs.update(attrs)
    fits.attrs.update(attrs)
    return RegressionResult(table, fits, [c if lv is None else f"{c}{lv}" for c, lv in cols])
