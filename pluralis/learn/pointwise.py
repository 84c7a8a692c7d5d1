"""Pointwise rating models: predict the score a person gives a response, not only which of two wins.

Ratings data (PRISM's 1-100 scores) say more than pair order: how much a response is liked, and how
generous a rater is. :class:`RatingModel` is a linear mixed model for a rating ``s_ui`` of response
*i* by participant *u*::

    s_ui = μ + w · φ(x_i) + c · z_u + (A z_u) · φ(x_i) + b_u + ε_ui       b_u ~ N(0, τ²),  ε ~ N(0, σ²)

with response features ``φ`` (standardised), participant covariates ``z_u`` (as
:class:`~pluralis.learn.models.CovariateEncoder`: sliders standardised, demographics one-hot, centred),
optional feature × covariate interactions ``A``, and a participant random intercept ``b_u`` (a rater's
generosity). ``w``, ``c`` and ``A`` are ridge-penalised (``alpha``, ``alpha_interactions``; the
intercept is not). The random intercepts are fit by backfitting to the BLUP with method-of-moments
variance components (one-way random-effects ANOVA on the residuals), which converges to the
penalised solution with variance ratio ``σ²/τ²``: for a participant seen in training ``b_u`` is their
shrunken mean residual; a new participant gets ``b_u = 0`` (the population), so held-out-participant
predictions use only the features and covariates.

Inputs: a ratings frame (:func:`rating_rows`: one row per rated response, ``response`` text and
``score``), :class:`RatingFeatures`, or *pairs* (:class:`~pluralis.learn.models.PairFeatures` or a pairs
frame with ``score_a`` / ``score_b``, unstacked into the distinct ratings), so the model also plugs into
:func:`~pluralis.learn.groups.cross_group_accuracy`: on pairs, :meth:`RatingModel.predict_proba` is the
Thurstone probability ``Φ((ŝ_a − ŝ_b) / (σ√2))``. Scores are in the units of the score used
(``score="raw"`` rating points, ``"normalized"`` per-participant SDs).

Evaluation on **held-out participants**: :func:`rating_cv` (one model, participant-grouped folds,
RMSE and correlations per group with participant-bootstrap intervals) and :func:`cross_group_ratings`
(a model per training group, evaluated on every group: whose ratings predict whose).

Example
-------
>>> rng = np.random.default_rng(0)
>>> n_users, per = 120, 12
>>> user = np.repeat(np.arange(n_users), per)
>>> group = np.where(np.arange(n_users) % 2 == 0, "A", "B")[user]
>>> X = rng.integers(0, 2, (len(user), 2)).astype(float)
>>> score = np.where(group == "A", 70.0, 50.0) + X @ [8.0, -5.0] + rng.normal(0, 6, n_users)[user] + rng.normal(0, 4, len(user))
>>> frame = pd.DataFrame({"user_id": user.astype(str), "group": group})
>>> rf = RatingFeatures.from_arrays(X, score, frame, feature_names=["list", "refusal"])
>>> m = RatingModel(covariates=["group"]).fit(rf)
>>> m.coefficients().round(0).tolist(), round(m.sigma_), round(m.tau_)
([8.0, -5.0], 4, 6)
>>> new = RatingFeatures.from_arrays([[0.0, 0.0]] * 2, None, pd.DataFrame({"group": ["A", "B"]}))
>>> m.predict(new).round(-1).tolist()                      # planted group means 70 and 50 (SE about 1)
[70.0, 50.0]
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd
from scipy import linalg
from scipy.special import ndtr
from sklearn.base import BaseEstimator, RegressorMixin, clone

from pluralis.errors import ConfigError, DataValidationError, Problem
from pluralis.learn.cv import participant_folds
from pluralis.learn.groups import POOLED, _boot_weights, _interval, _select_groups, _subsample_users
from pluralis.learn.models import (
    DEFAULT_COVARIATES,
    CovariateEncoder,
    PairFeatures,
    _standardizes,
    _user_rows,
    featurize_pairs,
)
from pluralis.learn.pairs import attach_survey

#: Metrics of the held-out rating evaluations.
RATING_METRICS: tuple[str, ...] = ("rmse", "corr", "corr_within")


# --- ratings --------------------------------------------------------------------------------------


def rating_rows(
    utterances: pd.DataFrame,
    survey: pd.DataFrame | None = None,
    *,
    turns: Literal["openers", "all"] | int | Sequence[int] = "all",
    score: Literal["raw", "normalized"] = "raw",
    survey_columns: Sequence[str] | Literal["all"] | None = None,
    short_names: bool = True,
) -> pd.DataFrame:
    """One row per rated response (a PRISM ``utterances`` frame), with the participant's survey fields.

    Uses :func:`pluralis.ranking.battles.prepare_ratings` for the turn selection and the per-participant
    z-scores, so ``score="normalized"`` is the same basis the battles use. Rows without a response text
    or a score are dropped (``attrs["n_dropped"]``).

    Parameters
    ----------
    utterances
        rated responses: ``user_id``, ``model_name``, ``score``, ``model_response`` and
        ``interaction_id`` (or ``conversation_id`` + ``turn``).
    survey
        participant fields to attach (:func:`~pluralis.learn.pairs.attach_survey`).
    turns
        ``"all"`` (default), ``"openers"`` or turn numbers.
    score
        ``"raw"`` (rating points) or ``"normalized"`` (per-participant z-scores).
    survey_columns, short_names
        as :func:`~pluralis.learn.pairs.preference_pairs`.

    Returns
    -------
    pandas.DataFrame
        ``user_id, interaction_id, conversation_id, turn, model_name, prompt, response, score`` and the
        survey fields; ``attrs["score"]`` the basis.

    Example
    -------
    >>> u = pd.DataFrame({"interaction_id": ["i1"] * 3, "user_id": ["u"] * 3, "turn": [0] * 3,
    ...     "model_name": ["x", "y", "z"], "score": [80, 40, 77], "user_prompt": "Hi",
    ...     "model_response": ["Hello!", "Go away.", None]})
    >>> rating_rows(u)[["response", "score"]].values.tolist()
    [['Hello!', 80.0], ['Go away.', 40.0]]
    """
    from pluralis.ranking.battles import prepare_ratings

    if score not in ("raw", "normalized"):
        raise ConfigError(f"score must be 'raw' or 'normalized', got {score!r}")
    if "model_response" not in utterances.columns:
        raise DataValidationError(
            Problem("utterances", None, "model_response", "required column is missing (the model needs texts)")
        )
    r = prepare_ratings(utterances, turns=turns, short_names=short_names)
    value = r["score"].to_numpy(dtype=float) if score == "raw" else r["normalized_score"].to_numpy(dtype=float)
    out = pd.DataFrame(
        {
            "user_id": r["user_id"].to_numpy(),
            "interaction_id": r["interaction_id"].to_numpy(),
            "conversation_id": r["conversation_id"].to_numpy() if "conversation_id" in r.columns else np.nan,
            "turn": r["turn"].to_numpy() if "turn" in r.columns else 0,
            "model_name": r["model_name"].to_numpy(),
            "prompt": r["user_prompt"].to_numpy() if "user_prompt" in r.columns else np.nan,
            "response": r["model_response"].to_numpy(),
            "score": value,
        }
    )
    keep = out["response"].notna().to_numpy() & np.isfinite(value)
    n_dropped = int((~keep).sum())
    out = out[keep].reset_index(drop=True)
    out.attrs.update({"score": score, "turns": turns, "n_dropped": n_dropped, "source": "ratings"})
    return attach_survey(out, survey, survey_columns)


class RatingFeatures:
    """Featurised ratings: each distinct response's features once, and which one each rating is of.

    ``table`` ``(m, d)`` holds response features; rating *i* is of ``table[idx[i]]``; ``y`` the scores;
    ``frame`` the other columns (``user_id``, covariates, groups), one row per rating.

    Example
    -------
    >>> rf = RatingFeatures.from_arrays([[1.0, 0.0], [0.0, 1.0]], [70.0, 40.0], feature_names=["a", "b"])
    >>> len(rf), rf.X().tolist(), rf.take([1]).y.tolist()
    (2, [[1.0, 0.0], [0.0, 1.0]], [40.0])
    """

    def __init__(
        self,
        table,
        idx,
        y=None,
        frame: pd.DataFrame | None = None,
        feature_names=None,
        featurizer=None,
        attrs: dict | None = None,
    ) -> None:
        self.table = np.asarray(table, dtype=float)
        if self.table.ndim != 2:
            raise ConfigError(f"response features must be a 2-d array, got shape {self.table.shape}")
        self.idx = np.asarray(idx, dtype=np.int64)
        n = len(self.idx)
        self.frame = frame.reset_index(drop=True) if frame is not None else pd.DataFrame(index=range(n))
        if len(self.frame) != n:
            raise ConfigError(f"frame has {len(self.frame)} rows for {n} ratings")
        if y is None and "score" in self.frame.columns:
            y = self.frame["score"].to_numpy(dtype=float)
        if y is not None:
            y = np.asarray(y, dtype=float).ravel()
            if len(y) != n:
                raise ConfigError(f"{len(y)} scores for {n} ratings")
            bad = ~np.isfinite(y)
            if bad.any():
                i = int(np.flatnonzero(bad)[0])
                raise ConfigError(f"score[{i}] = {y[i]!r}: scores must be finite numbers")
        self.y = y
        self.feature_names = (
            np.asarray(feature_names, dtype=object)
            if feature_names is not None
            else np.array([f"x{i}" for i in range(self.table.shape[1])], dtype=object)
        )
        if len(self.feature_names) != self.table.shape[1]:
            raise ConfigError(f"{len(self.feature_names)} feature names for {self.table.shape[1]} features")
        self.featurizer = featurizer
        self.attrs: dict = dict(attrs or {})

    @classmethod
    def from_arrays(cls, X, y=None, frame: pd.DataFrame | None = None, feature_names=None) -> RatingFeatures:
        """Ratings from a per-rating feature matrix ``X`` ``(n, d)``.

        Example
        -------
        >>> RatingFeatures.from_arrays(np.ones((3, 2)), [1.0, 2.0, 3.0]).n_features
        2
        """
        X = np.atleast_2d(np.asarray(X, dtype=float))
        return cls(X, np.arange(len(X)), y, frame, feature_names)

    @classmethod
    def from_pairs(cls, pairs: PairFeatures) -> RatingFeatures:
        """The distinct ratings behind rated pairs (``score_a`` / ``score_b`` in ``pairs.frame``).

        A response rated once appears in several pairs; it becomes one rating per
        (participant, interaction, response).

        Example
        -------
        >>> pf = PairFeatures([[1.0], [0.0], [0.5]], [0, 0, 1], [1, 2, 2], [1, 1, 0],
        ...     pd.DataFrame({"user_id": "u", "score_a": [80, 80, 40], "score_b": [40, 77, 77]}))
        >>> RatingFeatures.from_pairs(pf).y.tolist()
        [80.0, 40.0, 77.0]
        """
        f = pairs.frame
        missing = [c for c in ("score_a", "score_b") if c not in f.columns]
        if missing:
            raise ConfigError(
                f"pairs lack {missing}: a rating model needs the scores (pairs from rated responses, "
                "pluralis.learn.pairs.preference_pairs)"
            )
        n = len(pairs)
        side = pd.concat([f, f], ignore_index=True)
        side["score"] = np.r_[f["score_a"].to_numpy(dtype=float), f["score_b"].to_numpy(dtype=float)]
        side["_idx"] = np.r_[pairs.ia, pairs.ib]
        side = side.drop(columns=[c for c in ("score_a", "score_b", "y", "model_a", "model_b") if c in side.columns])
        if n:
            model = np.r_[f["model_a"].to_numpy(), f["model_b"].to_numpy()] if "model_a" in f.columns else None
            if model is not None:
                side["model_name"] = model
        key = [c for c in ("user_id", "interaction_id") if c in side.columns] + ["_idx"]
        side = side[np.isfinite(side["score"].to_numpy(dtype=float))]
        side = side.drop_duplicates(key, keep="first").reset_index(drop=True)
        idx = side.pop("_idx").to_numpy()
        return cls(pairs.table, idx, None, side, pairs.feature_names, pairs.featurizer, pairs.attrs)

    def __len__(self) -> int:
        return len(self.idx)

    @property
    def n_features(self) -> int:
        return int(self.table.shape[1])

    def X(self) -> np.ndarray:
        """Features of each rated response, ``(n, d)``."""
        return self.table[self.idx]

    def take(self, rows) -> RatingFeatures:
        """The ratings at ``rows`` (integer positions or a boolean mask), sharing the feature table."""
        rows = np.asarray(rows)
        if rows.dtype == bool:
            rows = np.flatnonzero(rows)
        return RatingFeatures(
            self.table,
            self.idx[rows],
            None if self.y is None else self.y[rows],
            self.frame.iloc[rows],
            self.feature_names,
            self.featurizer,
            self.attrs,
        )


def featurize_ratings(ratings, featurizer=None) -> RatingFeatures:
    """Featurise ratings once (each distinct response text once): a ratings frame (``response``, ``score``),
    pairs (frame or :class:`~pluralis.learn.models.PairFeatures`, unstacked), or :class:`RatingFeatures`.

    Parameters
    ----------
    ratings : pandas.DataFrame or PairFeatures or RatingFeatures
        A ratings frame (``response``, ``score`` and any participant columns), a pairs frame
        (``response_a``, ``response_b``), featurised pairs, or already featurised ratings (returned as is).
    featurizer : callable, optional
        Text featuriser; ``None`` (default) uses the interpretable text features
        (:class:`~pluralis.learn.featurizers.TextFeaturizer`).

    Returns
    -------
    RatingFeatures
        The feature table of distinct responses, each rating's row in it (``idx``) and the scores (``y``).

    Example
    -------
    >>> r = pd.DataFrame({"user_id": ["u", "u", "v"], "response": ["Yes.", "No?", "Yes."], "score": [70, 20, 60]})
    >>> rf = featurize_ratings(r)
    >>> rf.table.shape[0], rf.idx.tolist(), rf.y.tolist()
    (2, [0, 1, 0], [70.0, 20.0, 60.0])
    """
    from pluralis.learn.featurizers import TextFeaturizer

    if isinstance(ratings, RatingFeatures):
        return ratings
    if isinstance(ratings, PairFeatures):
        return RatingFeatures.from_pairs(ratings)
    if not isinstance(ratings, pd.DataFrame):
        raise ConfigError(f"expected a ratings DataFrame, pairs or RatingFeatures, got {type(ratings).__name__}")
    if "response_a" in ratings.columns and "response_b" in ratings.columns:
        return RatingFeatures.from_pairs(featurize_pairs(ratings, featurizer, max_tie_share=None))
    text = "response" if "response" in ratings.columns else "model_response"
    if text not in ratings.columns:
        raise ConfigError("ratings frame lacks a 'response' column (see pluralis.learn.pointwise.rating_rows)")
    f = featurizer if featurizer is not None else TextFeaturizer()
    texts = ratings[text].astype(object)
    codes, uniques = pd.factorize(texts.where(texts.notna(), "").astype(str), use_na_sentinel=False)
    f.fit()
    table = f.transform(pd.Series(np.asarray(uniques, dtype=object), dtype=object))
    frame = ratings.drop(columns=[text]).reset_index(drop=True)
    return RatingFeatures(table, codes, None, frame, f.get_feature_names_out(), f, dict(ratings.attrs))


# --- the model ------------------------------------------------------------------------------------


def _moments(r: np.ndarray, codes: np.ndarray, n_users: int) -> tuple[float, float, np.ndarray, np.ndarray]:
    """One-way random-effects ANOVA on residuals: (σ², τ², per-user mean residual, per-user count)."""
    n_u = np.bincount(codes, minlength=n_users).astype(float)
    mean_u = np.bincount(codes, weights=r, minlength=n_users) / np.maximum(n_u, 1)
    N, U = float(n_u.sum()), int((n_u > 0).sum())
    within = float(np.sum((r - mean_u[codes]) ** 2))
    sigma2 = within / max(N - U, 1.0)
    if U < 2:
        return sigma2, 0.0, mean_u, n_u
    grand = float(r.mean())
    msb = float(np.sum(n_u * (mean_u - grand) ** 2)) / (U - 1)
    n0 = (N - float(np.sum(n_u**2)) / N) / (U - 1)
    tau2 = max(0.0, (msb - sigma2) / n0) if n0 > 0 else 0.0
    return sigma2, tau2, mean_u, n_u


class RatingModel(RegressorMixin, BaseEstimator):
    """Linear mixed model of a person's rating of a response (see the module docstring).

    Parameters
    ----------
    featurizer
        response featuriser for text inputs (default :class:`~pluralis.learn.featurizers.TextFeaturizer`).
    covariates
        participant columns (default: :data:`~pluralis.learn.models.DEFAULT_COVARIATES` present, possibly
        none); ``[]`` for none.
    interactions
        also learn feature × covariate interactions ``A`` (personalised weights).
    alpha, alpha_interactions
        ridge penalties of ``w`` and ``c`` (standardised units), and of ``A``.
    random_effects
        fit a random intercept per participant (needs ``user_id``).
    standardize
        as :class:`~pluralis.learn.models.RewardModel`.
    max_iter, tol
        backfitting iterations and tolerance (on the fixed effects).

    Attributes
    ----------
    intercept_ : μ (the average participant's score of an average response); ``coef_`` ``w`` per feature
        and ``covariate_coef_`` ``c`` per encoded covariate (original units); ``interaction_coef_`` (``A``,
        features × covariates, or None); ``sigma_`` residual SD; ``tau_`` participant SD; ``user_effects_``
        (Series of ``b_u``); ``n_iter_``; ``converged_``.

    Example
    -------
    >>> rf = RatingFeatures.from_arrays([[0.0], [1.0], [0.0], [1.0]], [40.0, 60.0, 50.0, 70.0],
    ...                                 pd.DataFrame({"user_id": ["u", "u", "v", "v"]}))
    >>> m = RatingModel(alpha=0.0).fit(rf)
    >>> round(float(m.coef_[0]), 6), round(float(m.intercept_), 6)
    (20.0, 45.0)
    """

    def __init__(
        self,
        featurizer=None,
        covariates: Sequence[str] | None = None,
        interactions: bool = False,
        alpha: float = 1.0,
        alpha_interactions: float = 10.0,
        random_effects: bool = True,
        standardize: bool | str = "auto",
        max_iter: int = 100,
        tol: float = 1e-8,
    ):
        self.featurizer = featurizer
        self.covariates = covariates
        self.interactions = interactions
        self.alpha = alpha
        self.alpha_interactions = alpha_interactions
        self.random_effects = random_effects
        self.standardize = standardize
        self.max_iter = max_iter
        self.tol = tol

    # --- inputs ---

    def _ratings(self, X, *, fitting: bool) -> RatingFeatures:
        featurizer = self.featurizer if fitting else getattr(self, "featurizer_", self.featurizer)
        rf = featurize_ratings(X, featurizer)
        if not fitting:
            if not hasattr(self, "coef_"):
                raise ConfigError("this RatingModel is not fitted yet: call fit() first")
            if rf.n_features != self.n_features_in_:
                raise ConfigError(f"ratings have {rf.n_features} features; the model was fit on {self.n_features_in_}")
        if len(rf) == 0:
            raise ConfigError("no ratings")
        return rf

    def _covariate_columns(self, frame: pd.DataFrame) -> list[str]:
        if self.covariates is None:
            return [c for c in DEFAULT_COVARIATES if c in frame.columns]
        return [self.covariates] if isinstance(self.covariates, str) else list(self.covariates)

    def _design(self, X: np.ndarray, frame: pd.DataFrame) -> np.ndarray:
        """``[φ_s, z, φ_s ⊗ z]``: standardised features, encoded covariates, their products."""
        F = X / self.scale_
        parts = [F]
        if self.encoder_ is not None:
            codes, firsts = _user_rows(frame)
            Z = self.encoder_.transform(firsts)[codes]
            parts.append(Z)
            if self.interactions:
                parts.append((F[:, :, None] * Z[:, None, :]).reshape(len(F), -1))
        return np.hstack(parts)

    # --- fitting ---

    def fit(self, X, y=None, sample_weight=None) -> RatingModel:
        """Fit on ratings (or pairs with scores); ``y`` overrides the scores."""
        for name in ("alpha", "alpha_interactions"):
            v = getattr(self, name)
            if not (np.isfinite(v) and v >= 0):
                raise ConfigError(f"{name} must be a non-negative number, got {v!r}")
        rf = self._ratings(X, fitting=True)
        if y is not None:
            rf = RatingFeatures(rf.table, rf.idx, y, rf.frame, rf.feature_names, rf.featurizer, rf.attrs)
        if rf.y is None:
            raise ConfigError("no scores: give y or ratings with a 'score' column")
        s = np.ones(len(rf)) if sample_weight is None else np.asarray(sample_weight, dtype=float)
        if len(s) != len(rf) or (s < 0).any() or not np.isfinite(s).all() or s.sum() <= 0:
            raise ConfigError("sample_weight must be one non-negative number per rating, not all zero")
        Xr = rf.X()
        if _standardizes(self.standardize, rf):  # type: ignore[arg-type]
            sd = np.sqrt(np.cov(Xr, rowvar=False, aweights=s).reshape(Xr.shape[1], -1).diagonal())
            self.scale_ = np.where(sd > 0, sd, 1.0)
        else:
            self.scale_ = np.ones(Xr.shape[1])
        cols = self._covariate_columns(rf.frame)
        codes, firsts = _user_rows(rf.frame)
        self.encoder_ = CovariateEncoder(cols).fit(firsts) if cols else None
        M = self._design(Xr, rf.frame)
        center = (s @ M) / s.sum()
        M = M - center[None, :]
        d = Xr.shape[1]
        k = 0 if self.encoder_ is None else len(self.encoder_.get_feature_names_out())
        pen = np.r_[np.full(d + k, float(self.alpha)), np.full(M.shape[1] - d - k, float(self.alpha_interactions))]
        G = M.T @ (s[:, None] * M) + np.diag(pen)
        chol = linalg.cho_factor(G + 1e-10 * np.eye(len(G)))
        y_ = rf.y
        use_re = bool(self.random_effects) and "user_id" in rf.frame.columns
        n_users = int(codes.max()) + 1
        b = np.zeros(n_users)
        beta = np.zeros(M.shape[1])
        converged = not use_re
        sigma2, tau2 = np.nan, 0.0
        it = 0
        for it in range(1, (int(self.max_iter) if use_re else 1) + 1):
            target = y_ - b[codes] if use_re else y_
            mu = float(s @ target / s.sum())
            new = linalg.cho_solve(chol, M.T @ (s * (target - mu)))
            step = float(np.max(np.abs(new - beta))) if len(new) else 0.0
            beta = new
            r = y_ - mu - M @ beta
            if not use_re:
                break
            sigma2, tau2, mean_u, n_u = _moments(r, codes, n_users)
            shrink = n_u * tau2 / (n_u * tau2 + sigma2) if sigma2 > 0 else (n_u > 0).astype(float)
            b = shrink * mean_u
            if step < self.tol * max(1.0, float(np.max(np.abs(beta), initial=0.0))) and it > 1:
                converged = True
                break
        resid = y_ - mu - M @ beta - (b[codes] if use_re else 0.0)
        if not use_re:
            sigma2 = float(s @ resid**2 / s.sum())
        self.intercept_ = mu - float(center @ beta)
        self.beta_ = beta
        self.coef_ = beta[:d] / self.scale_
        self.covariate_coef_ = beta[d : d + k].copy()
        self.covariate_names_ = self.encoder_.get_feature_names_out() if self.encoder_ is not None else np.array([])
        self.interaction_coef_ = beta[d + k :].reshape(d, k) / self.scale_[:, None] if M.shape[1] > d + k else None
        self.sigma_ = float(np.sqrt(sigma2))
        self.tau_ = float(np.sqrt(tau2))
        ids = firsts["user_id"].astype(str).to_numpy() if "user_id" in rf.frame.columns else np.array([], dtype=object)
        self.user_effects_ = pd.Series(b if use_re else np.zeros(len(ids)), index=pd.Index(ids, name="user_id"))
        self.n_iter_ = it
        self.converged_ = bool(converged)
        self.n_features_in_ = rf.n_features
        self.feature_names_in_ = np.asarray(rf.feature_names, dtype=object)
        self.featurizer_ = rf.featurizer if rf.featurizer is not None else self.featurizer
        return self

    # --- predictions ---

    def _predict_rows(self, X: np.ndarray, frame: pd.DataFrame, *, with_users: bool = True) -> np.ndarray:
        pred = self.intercept_ + self._design(X, frame) @ self.beta_
        if with_users and len(self.user_effects_) and "user_id" in frame.columns:
            pred = pred + self.user_effects_.reindex(frame["user_id"].astype(str).to_numpy()).fillna(0.0).to_numpy()
        return pred

    def predict(self, X) -> np.ndarray:
        """Predicted score of each rating row (with the participant's effect when seen in training)."""
        rf = self._ratings(X, fitting=False)
        return self._predict_rows(rf.X(), rf.frame)

    def score(self, X, y=None, sample_weight=None) -> float:
        """R² of the predicted scores (scikit-learn's regressor score); ``y`` defaults to the ratings' scores."""
        from sklearn.metrics import r2_score

        rf = self._ratings(X, fitting=False)
        target = rf.y if y is None else np.asarray(y, dtype=float)
        if target is None:
            raise ConfigError("no scores: give y or ratings with a 'score' column")
        return float(r2_score(target, self._predict_rows(rf.X(), rf.frame), sample_weight=sample_weight))

    def decision_function(self, X) -> np.ndarray:
        """Predicted score difference ``ŝ_a − ŝ_b`` of each pair (the rater's own effect cancels)."""
        pf = X if isinstance(X, PairFeatures) else featurize_pairs(X, getattr(self, "featurizer_", self.featurizer))
        if not hasattr(self, "coef_"):
            raise ConfigError("this RatingModel is not fitted yet: call fit() first")
        if pf.n_features != self.n_features_in_:
            raise ConfigError(f"pairs have {pf.n_features} features; the model was fit on {self.n_features_in_}")
        ra = self._predict_rows(pf.table[pf.ia], pf.frame, with_users=False)
        rb = self._predict_rows(pf.table[pf.ib], pf.frame, with_users=False)
        return ra - rb

    def predict_proba(self, X) -> np.ndarray:
        """``[[P(b ≻ a), P(a ≻ b)], ...]`` for pairs: Thurstone ``Φ((ŝ_a − ŝ_b) / (σ√2))``."""
        sd = self.sigma_ * np.sqrt(2.0) if self.sigma_ > 0 else 1.0
        p = ndtr(self.decision_function(X) / sd)
        return np.column_stack([1.0 - p, p])

    def coefficients(self) -> pd.Series:
        """``coef_`` (score points per unit of each feature) as a Series indexed by feature name."""
        return pd.Series(self.coef_, index=list(self.feature_names_in_), name="coef")

    def covariate_effects(self) -> pd.Series:
        """``covariate_coef_``: the score shift per unit of each encoded covariate (one SD of a numeric one;
        for a level, belonging to it rather than not)."""
        return pd.Series(self.covariate_coef_, index=list(self.covariate_names_), name="coef")


# --- held-out-participant evaluation ----------------------------------------------------------------


def _rating_stats(pred: np.ndarray, y: np.ndarray, codes: np.ndarray, n_units: int) -> np.ndarray:
    """Per-participant sums ``(n_units, 10)``: n, squared error, Σx, Σy, Σx², Σy², Σxy and the
    within-participant Σdx·dy, Σdx², Σdy² (x predicted, y actual) — all additive over participants."""
    n = np.bincount(codes, minlength=n_units).astype(float)

    def total(v):
        return np.bincount(codes, weights=v, minlength=n_units)

    sx, sy = total(pred), total(y)
    dx, dy = pred - (sx / n)[codes], y - (sy / n)[codes]
    return np.column_stack(
        [
            n,
            total((pred - y) ** 2),
            sx,
            sy,
            total(pred**2),
            total(y**2),
            total(pred * y),
            total(dx * dy),
            total(dx**2),
            total(dy**2),
        ]
    )


def _metrics_from(stats: np.ndarray) -> dict[str, np.ndarray]:
    """RMSE, Pearson correlation and pooled within-participant correlation from (weighted) sums."""
    n, sse, sx, sy, sxx, syy, sxy, wxy, wxx, wyy = (stats[..., j] for j in range(10))
    with np.errstate(invalid="ignore", divide="ignore"):
        rmse = np.sqrt(sse / n)
        corr = (sxy - sx * sy / n) / np.sqrt((sxx - sx**2 / n) * (syy - sy**2 / n))
        corr_within = wxy / np.sqrt(wxx * wyy)
    return {"rmse": rmse, "corr": corr, "corr_within": corr_within}


def _score_rating_cells(
    P, y, labels, users, trains, evals, n_boot: int, level: float, rng, train_key: str = "train_group"
) -> pd.DataFrame:
    rows = []
    for h in evals:
        idx = np.flatnonzero(labels == h)
        codes, uniq = pd.factorize(users[idx])
        W = _boot_weights(len(uniq), n_boot, rng)
        for t, g in enumerate(trains):
            row: dict = {train_key: g, "eval_group": h, "n_eval_ratings": len(idx), "n_eval_participants": len(uniq)}
            if not len(idx):
                rows.append(row | {m: np.nan for m in RATING_METRICS})
                continue
            stats = _rating_stats(P[t, idx], y[idx], codes, len(uniq))
            point = _metrics_from(stats.sum(axis=0))
            draws = _metrics_from(W @ stats) if len(W) else None
            for m in RATING_METRICS:
                row[m] = float(point[m])
                lo, hi = _interval(draws[m], level) if draws is not None else (np.nan, np.nan)
                row[f"{m}_low"], row[f"{m}_high"] = lo, hi
            rows.append(row)
    return pd.DataFrame(rows)


@dataclass
class RatingEvaluation:
    """Held-out-participant rating errors (:func:`rating_cv`, :func:`cross_group_ratings`).

    ``table``: one row per (train_group, eval_group) with ``rmse``, ``corr`` (Pearson, predicted vs
    actual), ``corr_within`` (pooled within-participant correlation: does the model order a person's
    responses, whatever their generosity), each with ``_low`` / ``_high`` participant-bootstrap
    intervals, and ``n_eval_ratings``, ``n_eval_participants``; ``predictions``: each rating's held-out
    prediction per training group.

    Example
    -------
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(400, 2))
    >>> f = pd.DataFrame({"user_id": np.repeat(np.arange(40), 10).astype(str)})
    >>> ev = rating_cv(RatingFeatures.from_arrays(X, X @ [3.0, -1.0] + rng.normal(0, 1, 400), f), n_splits=4, n_boot=0)
    >>> ev.matrix("rmse").round(0).values.tolist()
    [[1.0]]
    """

    table: pd.DataFrame
    by: str | None
    groups: list[str]
    predictions: pd.DataFrame = field(repr=False, default_factory=pd.DataFrame)
    settings: dict = field(default_factory=dict)

    def matrix(self, metric: str = "rmse") -> pd.DataFrame:
        """``metric`` as a train × eval DataFrame."""
        if metric not in RATING_METRICS:
            raise ConfigError(f"metric must be one of {RATING_METRICS}, got {metric!r}")
        m = self.table.pivot(index="train_group", columns="eval_group", values=metric)
        rows = [g for g in [*self.groups, POOLED] if g in m.index]
        return m.reindex(index=rows, columns=[g for g in [*self.groups, POOLED] if g in m.columns])


def _prepare_eval(ratings, featurizer, model, by, groups, min_participants):
    template = model if model is not None else RatingModel()
    if featurizer is None:
        featurizer = getattr(template, "featurizer", None)
    rf = featurize_ratings(ratings, featurizer)
    if rf.y is None or len(rf) == 0:
        raise ConfigError("no ratings with scores to evaluate")
    if "user_id" not in rf.frame.columns:
        raise ConfigError("ratings need a user_id column (participant-disjoint evaluation)")
    users = rf.frame["user_id"].astype(str).to_numpy()
    if by is None:
        return template, rf, users, np.full(len(rf), POOLED, dtype=object), [POOLED]
    if by not in rf.frame.columns:
        raise ConfigError(
            f"unknown field {by!r}: not a column of the ratings; available: {', '.join(rf.frame.columns)}"
        )
    v = rf.frame[by].astype(object)
    labels = np.where(v.notna().to_numpy(), v.astype(str).to_numpy(), None)
    chosen, _ = _select_groups(labels, users, groups, min_participants, by)
    sel = np.flatnonzero(pd.Series(labels).isin(chosen).to_numpy())
    return template, rf.take(sel), users[sel], labels[sel], chosen


def rating_cv(
    ratings,
    model=None,
    *,
    by: str | None = None,
    featurizer=None,
    groups: Sequence[str] | None = None,
    min_participants: int = 10,
    n_splits: int = 5,
    n_boot: int = 200,
    level: float = 0.95,
    seed: int = 0,
) -> RatingEvaluation:
    """Held-out-participant RMSE and correlations of one rating model, overall and per group of ``by``.

    Participants are split into folds (all their ratings together); each fold is predicted by the model
    fit on the others, so every prediction is for a person the model never saw (their random effect is 0).

    Parameters
    ----------
    ratings
        a ratings frame (:func:`rating_rows`), pairs with scores, or :class:`RatingFeatures`.
    model
        an unfitted estimator (cloned per fold); default :class:`RatingModel`.
    by
        report the errors per group of this column too (``None``: overall only).
    featurizer, groups, min_participants
        as :func:`~pluralis.learn.groups.cross_group_accuracy`.
    n_splits, n_boot, level, seed
        folds, participant-bootstrap draws, interval level, seed.

    Returns
    -------
    RatingEvaluation
        with one training row ``"(all)"``.

    Example
    -------
    >>> rng = np.random.default_rng(1)
    >>> f = pd.DataFrame({"user_id": np.repeat(np.arange(60), 8).astype(str), "g": np.repeat(["a", "b"], 240)})
    >>> X = rng.normal(size=(480, 1))
    >>> ev = rating_cv(RatingFeatures.from_arrays(X, 50 + 10 * X[:, 0] + rng.normal(0, 2, 480), f), by="g",
    ...                n_splits=3, n_boot=20)
    >>> ev.table["eval_group"].tolist(), bool((ev.table["corr"] > 0.9).all())
    (['a', 'b', '(all)'], True)
    """
    if not 0 < level < 1:
        raise ConfigError(f"level must be between 0 and 1, got {level}")
    template, rf, users, labels, chosen = _prepare_eval(ratings, featurizer, model, by, groups, min_participants)
    folds = participant_folds(users, n_splits, seed=seed)
    P = np.full((1, len(rf)), np.nan)
    for k in range(n_splits):
        fitted = clone(template).fit(rf.take(folds != k))
        P[0, folds == k] = fitted.predict(rf.take(folds == k))
    rng = np.random.default_rng(seed)
    evals = chosen if by is None else [*chosen, POOLED]
    tables = [_score_rating_cells(P, rf.y, labels, users, [POOLED], chosen, n_boot, level, rng)]
    if by is not None:
        pooled = np.full(len(rf), POOLED, dtype=object)
        tables.append(_score_rating_cells(P, rf.y, pooled, users, [POOLED], [POOLED], n_boot, level, rng))
    table = pd.concat(tables, ignore_index=True)
    preds = pd.DataFrame({"user_id": users, "group": labels, "score": rf.y, POOLED: P[0], "fold": folds})
    settings = {"n_splits": n_splits, "n_boot": n_boot, "level": level, "seed": seed, "model": repr(template)}
    return RatingEvaluation(table, by, [g for g in evals if g != POOLED], preds, settings)


def cross_group_ratings(
    ratings,
    by: str,
    *,
    model=None,
    featurizer=None,
    groups: Sequence[str] | None = None,
    min_participants: int = 10,
    n_splits: int = 5,
    equalize: bool = True,
    include_pooled: bool = True,
    n_boot: int = 200,
    level: float = 0.95,
    seed: int = 0,
) -> RatingEvaluation:
    """Train a rating model on each group's ratings; evaluate RMSE / correlations on every group's
    held-out participants (the pointwise analogue of :func:`~pluralis.learn.groups.cross_group_accuracy`,
    same folds, subsampling and bootstrap).

    Parameters
    ----------
    ratings : pandas.DataFrame or PairFeatures or RatingFeatures
        Ratings with ``user_id``, ``score`` and the ``by`` column (see :func:`featurize_ratings`).
    by : str
        The grouping column (a participant field such as ``gender``).
    model : estimator, optional
        An unfitted rating model (cloned per fit); default :class:`RatingModel`.
    featurizer : callable, optional
        Featuriser for a ratings frame (default: the model's, else interpretable text features).
    groups : sequence of str, optional
        The groups to compare (default: every value with at least ``min_participants`` participants).
    min_participants : int
        Fewest participants a group needs (default 10; at least ``n_splits``).
    n_splits : int
        Participant-disjoint folds (default 5).
    equalize : bool
        Subsample every training set to the smallest group's number of participants (default True).
    include_pooled : bool
        Also train on all selected groups together (default True).
    n_boot : int
        Participant-bootstrap draws for the intervals (default 200; 0 for none).
    level : float
        Interval level, between 0 and 1 (default 0.95).
    seed : int
        Random seed (folds, subsampling, bootstrap).

    Returns
    -------
    RatingEvaluation
        Metrics per (training group, evaluation group).

    Example
    -------
    >>> rng = np.random.default_rng(2)
    >>> n = 80
    >>> g = np.repeat(np.where(np.arange(n) % 2 == 0, "A", "B"), 10)
    >>> X = rng.integers(0, 2, (n * 10, 1)).astype(float)
    >>> s = 50 + np.where(g == "A", 10.0, -10.0) * X[:, 0] + rng.normal(0, 2, n * 10)   # A likes it, B does not
    >>> f = pd.DataFrame({"user_id": np.repeat(np.arange(n), 10).astype(str), "g": g})
    >>> ev = cross_group_ratings(RatingFeatures.from_arrays(X, s, f), "g", n_splits=4, n_boot=0)
    >>> r = ev.matrix("rmse")
    >>> bool(r.loc["A", "A"] < r.loc["B", "A"] and r.loc["B", "B"] < r.loc["A", "B"])
    True
    """
    if not 0 < level < 1:
        raise ConfigError(f"level must be between 0 and 1, got {level}")
    if min_participants < n_splits:
        raise ConfigError(f"min_participants ({min_participants}) must be at least the number of folds ({n_splits})")
    template, rf, users, labels, chosen = _prepare_eval(ratings, featurizer, model, by, groups, min_participants)
    if len(chosen) < 2:
        raise ConfigError(f"{by}: comparing groups needs at least two groups with {min_participants}+ participants")
    folds = participant_folds(users, n_splits, strata=labels, seed=seed)
    trains = [*chosen, *([POOLED] if include_pooled else [])]
    rng = np.random.default_rng(seed)
    P = np.full((len(trains), len(rf)), np.nan)
    n_train = np.zeros((len(trains), n_splits))
    ucodes = pd.factorize(users)[0]  # integer participant codes for the subsampling
    for k in range(n_splits):
        ev = np.flatnonzero(folds == k)
        pools = {g: np.flatnonzero((labels == g) & (folds != k)) for g in chosen}
        pools[POOLED] = np.flatnonzero(folds != k)
        m = min(len(pd.unique(ucodes[pools[g]])) for g in chosen)
        rf_ev = rf.take(ev)
        for t, g in enumerate(trains):
            rows = _subsample_users(pools[g], ucodes, m, rng) if equalize else pools[g]
            n_train[t, k] = len(pd.unique(ucodes[rows]))
            P[t, ev] = clone(template).fit(rf.take(rows)).predict(rf_ev)
    table = _score_rating_cells(P, rf.y, labels, users, trains, chosen, n_boot, level, rng)
    table.insert(2, "n_train_participants", np.repeat(n_train.mean(axis=1), len(chosen)))
    preds = pd.DataFrame({"user_id": users, "group": labels, "score": rf.y, "fold": folds})
    for t, g in enumerate(trains):
        preds[g] = P[t]
    settings = {"n_splits": n_splits, "equalize": equalize, "n_boot": n_boot, "level": level, "seed": seed}
    return RatingEvaluation(table, by, chosen, preds, settings)
