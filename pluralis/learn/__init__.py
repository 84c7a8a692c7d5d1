"""Learn: preference (reward) models from the feedback of different groups, and personalised ones.

The pieces, in the order of a typical analysis:

* :func:`preference_pairs` / :func:`pairs_from_comparisons` / :func:`pairs_from_study` — pairs of
  responses judged by the same person (PRISM ratings, Community-Alignment choices), with the texts
  and the participant's survey fields (:mod:`.pairs`).
* :class:`TextFeaturizer` (PRISM's interpretable features, plus hedging and stance) and
  :class:`EmbeddingFeaturizer` (all-MiniLM-L6-v2 sentence embeddings, offline) — :mod:`.featurizers`.
* :class:`RewardModel` (Bradley–Terry over features) and :class:`PersonalisedRewardModel`
  (weights that depend on the participant's covariates, optional per-user offsets) —
  scikit-learn estimators (:mod:`.models`).
* :func:`cross_group_accuracy`, :func:`composition_curve`, :func:`group_weights` — whose feedback?
  (:mod:`.groups`; plots in :mod:`.plots`); :func:`compare_models` — models on the same held-out folds.
* Personalisation that never hurts: :class:`PersonalisedRewardModel` chooses its covariate penalty by
  nested participant-grouped CV and falls back to the global model; :class:`SelectedRewardModel` picks
  among global / linear / neural (:mod:`.selection`, helpers in :mod:`.cv`); :class:`MixtureRewardModel`
  is a PAL-style mixture of ideal points in torch (:mod:`.neural`).
* :class:`RatingModel` — a pointwise model of a person's score (mixed model, :mod:`.pointwise`), with
  :func:`rating_rows`, :func:`rating_cv` and :func:`cross_group_ratings`.

Simulated pairs with a known, planted reward, for checking the learners, come from
:func:`pluralis.simulate.planted.planted_pairs` (learn itself never imports the simulation).

Example
-------
>>> from pluralis.learn import RewardModel
>>> from pluralis.simulate.planted import planted_pairs
>>> pairs = planted_pairs(n_users=60, pairs_per_user=20, seed=0)
>>> bool(RewardModel().fit(pairs).coefficients()["if_refusal"] < 0)
True
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "preference_pairs": "pluralis.learn.pairs",
    "pairs_from_comparisons": "pluralis.learn.pairs",
    "pairs_from_study": "pluralis.learn.pairs",
    "attach_survey": "pluralis.learn.pairs",
    "TextFeaturizer": "pluralis.learn.featurizers",
    "EmbeddingFeaturizer": "pluralis.learn.featurizers",
    "make_featurizer": "pluralis.learn.featurizers",
    "PairFeatures": "pluralis.learn.models",
    "featurize_pairs": "pluralis.learn.models",
    "RewardModel": "pluralis.learn.models",
    "PersonalisedRewardModel": "pluralis.learn.models",
    "pairwise_accuracy": "pluralis.learn.models",
    "pairwise_log_loss": "pluralis.learn.models",
    "check_tie_share": "pluralis.learn.models",
    "default_tie_threshold": "pluralis.learn.models",
    "MixtureRewardModel": "pluralis.learn.neural",
    "SelectedRewardModel": "pluralis.learn.selection",
    "RatingModel": "pluralis.learn.pointwise",
    "RatingFeatures": "pluralis.learn.pointwise",
    "featurize_ratings": "pluralis.learn.pointwise",
    "rating_rows": "pluralis.learn.pointwise",
    "rating_cv": "pluralis.learn.pointwise",
    "cross_group_ratings": "pluralis.learn.pointwise",
    "compare_models": "pluralis.learn.groups",
    "ModelComparison": "pluralis.learn.groups",
    "cross_group_accuracy": "pluralis.learn.groups",
    "composition_curve": "pluralis.learn.groups",
    "group_weights": "pluralis.learn.groups",
    "participant_folds": "pluralis.learn.groups",
    "CrossGroupResult": "pluralis.learn.groups",
    "CompositionResult": "pluralis.learn.groups",
    "plot_cross_group": "pluralis.learn.plots",
    "plot_composition": "pluralis.learn.plots",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'pluralis.learn' has no attribute {name!r}")
