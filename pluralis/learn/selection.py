"""Personalisation that never hurts: pick among preference models by nested participant-grouped CV.

:class:`SelectedRewardModel` holds candidate models ordered **simplest first** — by default the global
:class:`~pluralis.learn.models.RewardModel` and the linear
:class:`~pluralis.learn.models.PersonalisedRewardModel`; add the neural
:class:`~pluralis.learn.neural.MixtureRewardModel` or a pointwise
:class:`~pluralis.learn.pointwise.RatingModel` — and, inside :meth:`~SelectedRewardModel.fit`, scores
each on participants held out of the *training* pairs (participant-grouped folds), then refits the
choice on all of them. The one-standard-error rule (:func:`pluralis.learn.cv.one_se_choice`) keeps the
simpler model unless a more complex one is better on held-out participants by more than its paired
standard error — so on data without real group differences the global model is kept, and
personalisation is used where it helps people not seen in training. Because the selection sees only
the training pairs, an outer evaluation (:func:`pluralis.learn.groups.compare_models`,
:func:`~pluralis.learn.groups.cross_group_accuracy`) stays nested.

Example
-------
>>> from pluralis.learn.models import PairFeatures
>>> rng = np.random.default_rng(0)
>>> users = np.repeat(np.arange(100), 20)
>>> frame = pd.DataFrame({"user_id": users.astype(str), "colour": np.where(users % 2, "red", "blue")})
>>> pa, pb = rng.normal(size=(2, 2000, 2))
>>> y = (rng.random(2000) < 1 / (1 + np.exp(-(pa - pb) @ [1.5, -1.0]))).astype(float)
>>> m = SelectedRewardModel(covariates=["colour"], cv=3).fit(PairFeatures.from_arrays(pa, pb, y, frame))
>>> m.chosen_                                          # colour says nothing about taste
'global'
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from sklearn.base import clone

from pluralis.errors import ConfigError
from pluralis.learn.cv import one_se_choice, participant_folds
from pluralis.learn.models import PairFeatures, PersonalisedRewardModel, RewardModel, _PairwiseModel, _user_rows


def default_candidates(covariates: Sequence[str] | None = None) -> dict[str, object]:
    """The default candidates, simplest first: the global model and the linear personalised one.

    Parameters
    ----------
    covariates
        covariate columns of the personalised model (``None``: its defaults).

    Returns
    -------
    dict
        name -> unfitted estimator.

    Example
    -------
    >>> list(default_candidates())
    ['global', 'personalised']
    """
    return {"global": RewardModel(), "personalised": PersonalisedRewardModel(covariates=covariates)}


class SelectedRewardModel(_PairwiseModel):
    """The candidate preference model that does best on held-out participants (module docstring).

    Parameters
    ----------
    candidates
        name -> unfitted estimator, simplest first (default :func:`default_candidates`).
    covariates
        covariate columns of the default personalised candidate (ignored with ``candidates``).
    featurizer
        featuriser for a pairs frame (default: interpretable text features).
    cv
        participant-grouped folds of the selection.
    selection
        ``"1se"`` (default; the simplest within one paired SE of the best) or ``"best"``.
    cv_metric
        ``"log_loss"`` (default) or ``"accuracy"``.
    random_state
        seed of the folds.

    Attributes
    ----------
    chosen_ : the chosen candidate's name; ``best_estimator_`` it, refit on all pairs; ``cv_results_``
        one row per candidate with held-out ``log_loss``, ``accuracy``, ``diff_vs_best``, ``diff_se``,
        ``chosen``.

    Example
    -------
    >>> from pluralis.learn.models import PairFeatures
    >>> rng = np.random.default_rng(1)
    >>> users = np.repeat(np.arange(100), 20)
    >>> frame = pd.DataFrame({"user_id": users.astype(str), "likes": np.where(users % 2, "yes", "no")})
    >>> pa, pb = rng.normal(size=(2, 2000, 1))
    >>> w = np.where(frame["likes"] == "yes", 2.0, -2.0)
    >>> y = (rng.random(2000) < 1 / (1 + np.exp(-w * (pa - pb)[:, 0]))).astype(float)
    >>> m = SelectedRewardModel(covariates=["likes"], cv=3).fit(PairFeatures.from_arrays(pa, pb, y, frame))
    >>> m.chosen_, m.cv_results_["chosen"].tolist()
    ('personalised', [False, True])
    """

    _fitted_attribute = "best_estimator_"

    def __init__(
        self,
        candidates: Mapping[str, object] | None = None,
        covariates: Sequence[str] | None = None,
        featurizer=None,
        cv: int = 5,
        selection: str = "1se",
        cv_metric: str = "log_loss",
        random_state: int = 0,
    ):
        self.candidates = candidates
        self.covariates = covariates
        self.featurizer = featurizer
        self.cv = cv
        self.selection = selection
        self.cv_metric = cv_metric
        self.random_state = random_state

    def fit(self, X, y=None, sample_weight=None) -> SelectedRewardModel:
        """Score every candidate on held-out participants of these pairs; refit the choice on all."""
        if self.selection not in ("1se", "best"):
            raise ConfigError(f"selection must be '1se' or 'best', got {self.selection!r}")
        if self.cv_metric not in ("log_loss", "accuracy"):
            raise ConfigError(f"cv_metric must be 'log_loss' or 'accuracy', got {self.cv_metric!r}")
        cands = dict(self.candidates) if self.candidates is not None else default_candidates(self.covariates)
        if not cands:
            raise ConfigError("no candidate models")
        pf = self._features(X, fitting=True)
        y = self._targets(pf, y)
        pf = PairFeatures(pf.table, pf.ia, pf.ib, y, pf.frame, pf.feature_names, pf.featurizer, pf.attrs)
        s = np.ones(len(pf)) if sample_weight is None else np.asarray(sample_weight, dtype=float)
        if len(s) != len(pf) or (s < 0).any() or not np.isfinite(s).all():
            raise ConfigError("sample_weight must be one non-negative number per pair")
        codes, _ = _user_rows(pf.frame)
        n_people = int(codes.max()) + 1
        names = [str(k) for k in cands]
        if len(names) == 1:
            chosen = 0
            table = pd.DataFrame({"candidate": names, "chosen": [True]})
        else:
            if n_people < 2:
                raise ConfigError("selecting a model by cross-validation needs 2+ participants")
            n_splits = min(int(self.cv), n_people)
            folds = participant_folds(codes, n_splits, seed=int(self.random_state))
            probs = np.full((len(names), len(pf)), 0.5)
            for k in range(n_splits):
                tr, te = folds != k, folds == k
                for c, est in enumerate(cands.values()):
                    fitted = clone(est).fit(pf.take(tr), sample_weight=s[tr])
                    probs[c, te] = fitted.predict_proba(pf.take(te))[:, 1]
            decisive = (y != 0.5).astype(float) * s
            if decisive.sum() <= 0:
                raise ConfigError("no decisive pairs to select on (all ties)")
            pc = np.clip(probs, 1e-12, 1 - 1e-12)
            log_loss = -(y * np.log(pc) + (1 - y) * np.log1p(-pc))
            error = 1.0 - np.where(probs == 0.5, 0.5, ((probs > 0.5) == (y > 0.5)).astype(float))
            losses = log_loss if self.cv_metric == "log_loss" else error
            chosen, stats = one_se_choice(
                losses, codes, weights=decisive, se_rule=1.0 if self.selection == "1se" else 0.0
            )
            W = decisive.sum()
            table = pd.DataFrame(
                {
                    "candidate": names,
                    "log_loss": log_loss @ decisive / W,
                    "accuracy": 1.0 - error @ decisive / W,
                    "diff_vs_best": stats["diff_vs_best"].to_numpy(),
                    "diff_se": stats["diff_se"].to_numpy(),
                    "chosen": np.arange(len(names)) == chosen,
                }
            )
            table.attrs.update({"metric": self.cv_metric, "selection": self.selection, "n_splits": n_splits})
        self.chosen_ = names[chosen]
        self.cv_results_ = table
        self.best_estimator_ = clone(list(cands.values())[chosen]).fit(pf, sample_weight=s)
        self.classes_ = np.array([0, 1])
        self.n_features_in_ = pf.n_features
        self.feature_names_in_ = np.asarray(pf.feature_names, dtype=object)
        self.featurizer_ = pf.featurizer if pf.featurizer is not None else self.featurizer
        return self

    def decision_function(self, X) -> np.ndarray:
        """The chosen model's margin for each pair (its own scale: a logit, or a score difference)."""
        pf = self._features(X, fitting=False)
        return self.best_estimator_.decision_function(pf)

    def predict_proba(self, X) -> np.ndarray:
        """The chosen model's ``[[P(b ≻ a), P(a ≻ b)], ...]``."""
        pf = self._features(X, fitting=False)
        return self.best_estimator_.predict_proba(pf)
