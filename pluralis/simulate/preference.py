"""Preference-model simulation: how a persona rates a response (SIMULATION — not human data).

When no LLM is configured for role-play, simulated participants rate responses with this explicit
model, so a study can be simulated offline and every analysis checked against a known truth.

The model
---------
Persona *j* rates response *r* of model *m* in a conversation of type *c*::

    u[j, r] = q[m]                                      # latent model quality (0 for real LLMs unless given)
            + sum_g shift[g, m] * 1[j in g]              # planted group preferences (survey column == value)
            + theta_len[j]  * log(1 + length[r])         # length in hundreds of characters (saturating)
            + theta_ref[j]  * refusal[r]
            + theta_hedge[j]* hedging[r]
            + theta_enum[j] * enumeration[r]
            + lambda[j] * kappa[c] * stance[r]           # agreement with the response's stance
            + eta[j, m]                                  # idiosyncratic taste, N(0, taste_sd^2), fixed per (j, m)
            + eps[j, r]                                  # noise, N(0, noise_sd^2)

    score = clip(round(center[j] + spread[j] * score_scale * u), 1, 100)

The features are the style features of :func:`pluralis.features.response.response_features` of the
real response text (:func:`pluralis.features.response.style_array` for a few at a time).
The persona's weights are linear in its traits (all in SD units; :data:`DEFAULT_WEIGHTS`)::

    theta_f[j] = base_f + sum_t trait_effect[f, t] * trait_t[j] + style_effect[f, style[j]]
               + stated_effect_f * (stated_pref[j] - PRISM mean)
    lambda[j]  = -stance_weight * political[j]          # left personas like progressive stances
    kappa      = {"controversy guided": 1.0, "values guided": 0.6, "unguided": 0.2}

``center`` and ``spread`` are the persona's scale use (:mod:`pluralis.simulate.generator`).
Examples of what follows: concise or older personas prefer shorter answers; conscientious ones
like lists; agreeable/neurotic ones tolerate hedging; everyone dislikes refusals, safety-minded
personas less so; left- and right-leaning personas reward opposite stances on controversial topics.

Ground truth: :class:`SimulationTruth` — the project's one answer-key class,
:class:`pluralis.data.truth.GroundTruth`, built from a :class:`PreferenceModel` — gives each
participant's expected utility per model (everything above except taste and noise, with the
features averaged over the responses each model actually gave), so group rankings have an answer
key (:meth:`~pluralis.data.truth.GroundTruth.true_ranking`).

Example
-------
>>> from pluralis.simulate.generator import generate_personas
>>> panel = generate_personas(50, seed=0)
>>> w = PreferenceModel().person_weights(panel.data)
>>> list(w.columns)
['theta_len', 'theta_ref', 'theta_hedge', 'theta_enum', 'lambda_stance', 'center', 'spread']
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from pluralis.data import vocab
from pluralis.data.truth import GroundTruth
from pluralis.errors import ConfigError
from pluralis.features.response import STYLE_FEATURES, response_features

#: The feature terms of the model, in the order of :meth:`PreferenceModel.utility`'s ``x``.
TERMS: tuple[str, ...] = ("log_length", "refusal", "hedging", "enumeration", "stance")
#: Which persona weight multiplies which feature term.
TERM_WEIGHTS: dict[str, str] = {
    "log_length": "theta_len",
    "refusal": "theta_ref",
    "hedging": "theta_hedge",
    "enumeration": "theta_enum",
    "stance": "lambda_stance",
}

#: Weight terms of the model, in the order of :meth:`PreferenceModel.person_weights`.
WEIGHTS: tuple[str, ...] = ("theta_len", "theta_ref", "theta_hedge", "theta_enum")
#: Context factor of the stance term per conversation type.
KAPPA: dict[str, float] = {"controversy guided": 1.0, "values guided": 0.6, "unguided": 0.2}

#: The default trait -> weight mapping (documented assumption; SD units of traits).
DEFAULT_WEIGHTS: dict[str, dict[str, Any]] = {
    "theta_len": {
        "base": 0.35,
        "traits": {"openness": 0.15, "conscientiousness": 0.10, "age_step": -0.08},
        "styles": {"concise": -0.6, "detailed": 0.35, "casual": -0.15, "direct": -0.25},
        "stated": ("factuality", 0.004),
    },
    "theta_ref": {
        "base": -1.0,
        "traits": {"neuroticism": 0.25, "agreeableness": 0.15, "openness": -0.2},
        "styles": {"direct": -0.2},
        "stated": ("safety", 0.012),
    },
    "theta_hedge": {
        "base": -0.2,
        "traits": {"agreeableness": 0.35, "neuroticism": 0.15, "conscientiousness": -0.25},
        "styles": {"direct": -0.6, "concise": -0.2, "formal": 0.15, "warm": 0.1},
        "stated": ("diversity", 0.012),
    },
    "theta_enum": {
        "base": 0.3,
        "traits": {"conscientiousness": 0.25, "extraversion": -0.10, "age_step": 0.05},
        "styles": {"detailed": 0.3, "casual": -0.3, "formal": 0.2, "concise": 0.1},
        "stated": ("fluency", 0.005),
    },
}
PRISM_STATED_MEANS = {
    "values": 54.3,
    "creativity": 69.6,
    "fluency": 86.7,
    "factuality": 88.7,
    "diversity": 75.7,
    "safety": 80.2,
    "personalisation": 67.9,
    "helpfulness": 89.4,
}


def _feature_terms(feats: np.ndarray) -> np.ndarray:
    """Raw style features (n, 5) -> the model's :data:`TERMS` (n, 5): the length enters as log(1 + length)."""
    out = np.array(feats, dtype=float, copy=True)
    out[:, 0] = np.log1p(out[:, 0])
    return out


@dataclass
class PreferenceModel:
    """The rating model of simulated participants (see the module docstring for the equations).

    ``quality``: latent quality per model name (default 0); ``group_shifts``: planted preferences
    ``{(survey_column, value): {model: shift}}``; the remaining fields are the model's constants.

    Example
    -------
    >>> m = PreferenceModel(quality={"a": 0.5}, group_shifts={("gender", "Female"): {"a": -1.0}})
    >>> m.shift_for({"gender": "Female"}, ["a", "b"]).tolist()
    [-1.0, 0.0]
    """

    quality: Mapping[str, float] = field(default_factory=dict)
    group_shifts: Mapping[tuple[str, str], Mapping[str, float]] = field(default_factory=dict)
    weights: Mapping[str, Mapping[str, Any]] = field(default_factory=lambda: DEFAULT_WEIGHTS)
    stance_weight: float = 0.7
    kappa: Mapping[str, float] = field(default_factory=lambda: dict(KAPPA))
    taste_sd: float = 0.25
    noise_sd: float = 0.45
    score_scale: float = 16.0

    def __post_init__(self) -> None:
        for key in self.group_shifts:
            if not (isinstance(key, tuple) and len(key) == 2):
                raise ConfigError(f"group shift keys must be (survey_column, value) pairs, got {key!r}")
        for name in ("taste_sd", "noise_sd", "score_scale"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name} must be >= 0, got {getattr(self, name)}")

    # -- persona weights ----------------------------------------------------------------------------

    def person_weights(self, data: pd.DataFrame) -> pd.DataFrame:
        """Each persona's weights (rows of a panel's ``data``; index = ``persona_id`` when present).

        Parameters
        ----------
        data
            persona rows (Big Five, ``political``, ``age``, ``communication_style``, stated preferences,
            ``rating_center``, ``rating_spread``).

        Returns
        -------
        pandas.DataFrame
            :data:`WEIGHTS`, ``lambda_stance``, ``center``, ``spread``.

        Example
        -------
        >>> from pluralis.simulate.generator import generate_personas
        >>> w = PreferenceModel().person_weights(generate_personas(200, seed=1).data)
        >>> bool((w["theta_ref"] < 0).mean() > 0.9)
        True
        """
        n = len(data)
        age_step = pd.Categorical(data["age"], categories=vocab.AGE_BANDS).codes.astype(float) - 2.5
        traits = {"age_step": age_step}
        for t in ("openness", "conscientiousness", "extraversion", "agreeableness", "neuroticism", "political"):
            traits[t] = data[t].to_numpy(dtype=float)
        style = data["communication_style"].astype(str).to_numpy()
        out = {}
        for name in WEIGHTS:
            spec = self.weights[name]
            w = np.full(n, float(spec.get("base", 0.0)))
            for t, coef in spec.get("traits", {}).items():
                w += coef * traits[t]
            for s, coef in spec.get("styles", {}).items():
                w += coef * (style == s)
            stated = spec.get("stated")
            if stated:
                attr, coef = stated
                w += coef * (data[f"stated_prefs_{attr}"].to_numpy(dtype=float) - PRISM_STATED_MEANS[attr])
            out[name] = w
        out["lambda_stance"] = -self.stance_weight * traits["political"]
        out["center"] = data["rating_center"].to_numpy(dtype=float)
        out["spread"] = data["rating_spread"].to_numpy(dtype=float)
        index = pd.Index(data["persona_id"].to_numpy(), name="persona_id") if "persona_id" in data else data.index
        return pd.DataFrame(out, index=index)

    # -- utilities and scores -----------------------------------------------------------------------

    def shift_for(self, member: Mapping[str, Any], models: list[str]) -> np.ndarray:
        """Sum of planted group shifts for one participant (``member``: survey column -> value).

        Parameters
        ----------
        member
            the participant's survey values.
        models
            the models, in order.

        Returns
        -------
        numpy.ndarray

        Example
        -------
        >>> m = PreferenceModel(group_shifts={("gender", "Female"): {"a": -1.0}, ("age", "65+ years old"): {"b": 0.5}})
        >>> m.shift_for({"gender": "Female", "age": "65+ years old"}, ["a", "b"]).tolist()
        [-1.0, 0.5]
        """
        out = np.zeros(len(models))
        for (col, value), shifts in self.group_shifts.items():
            if member.get(col) == value:
                out += np.array([float(shifts.get(m, 0.0)) for m in models])
        return out

    def utility(
        self,
        weights: Mapping[str, float] | pd.Series,
        feats: np.ndarray,
        models: list[str],
        conversation_type: str,
        member: Mapping[str, Any] | None = None,
        taste: Mapping[str, float] | None = None,
    ) -> np.ndarray:
        """Deterministic part of the utility (no noise) of responses with raw features ``feats`` (k, 5).

        Parameters
        ----------
        weights
            the participant's weights (:meth:`person_weights` row).
        feats
            raw style features of the responses (:func:`pluralis.features.response.style_array`).
        models
            the model of each response.
        conversation_type
            scales the stance term (``kappa``).
        member
            survey values for the planted group shifts.
        taste
            the participant's idiosyncratic taste per model.

        Returns
        -------
        numpy.ndarray

        Example
        -------
        >>> m = PreferenceModel()
        >>> w = {"theta_len": 0.0, "theta_ref": -1.0, "theta_hedge": 0.0, "theta_enum": 0.0, "lambda_stance": 0.0}
        >>> from pluralis.features.response import style_array
        >>> m.utility(w, style_array(["Sure, here it is.", "I'm sorry, but no."]), ["a", "b"], "unguided").tolist()
        [0.0, -1.0]
        """
        if conversation_type not in self.kappa:
            raise ConfigError(f"unknown conversation type {conversation_type!r}")
        x = _feature_terms(np.asarray(feats, dtype=float).reshape(len(models), len(STYLE_FEATURES)))
        theta = np.array(
            [
                weights["theta_len"],
                weights["theta_ref"],
                weights["theta_hedge"],
                weights["theta_enum"],
                weights["lambda_stance"] * self.kappa[conversation_type],
            ],
            dtype=float,
        )
        u = x @ theta
        u += np.array([float(self.quality.get(m, 0.0)) for m in models])
        if member is not None and self.group_shifts:
            u += self.shift_for(member, models)
        if taste is not None:
            u += np.array([float(taste.get(m, 0.0)) for m in models])
        return u

    def to_scores(self, u: np.ndarray, center: float, spread: float) -> np.ndarray:
        """Utilities (with noise already added) -> integer scores 1-100.

        Parameters
        ----------
        u
            utilities.
        center, spread
            the participant's scale use.

        Returns
        -------
        numpy.ndarray

        Example
        -------
        >>> PreferenceModel().to_scores(np.array([-10.0, 0.0, 10.0]), 60.0, 1.0).tolist()
        [1, 60, 100]
        """
        return np.clip(np.rint(center + spread * self.score_scale * np.asarray(u, dtype=float)), 1, 100).astype(int)

    def describe(self) -> dict[str, Any]:
        """The model's constants as plain data (stored with simulated studies).

        Returns
        -------
        dict

        Example
        -------
        >>> PreferenceModel().describe()["score_scale"]
        16.0
        """
        return {
            "kind": "preference-model simulation",
            "quality": dict(self.quality),
            "group_shifts": [{"column": c, "value": v, "shifts": dict(s)} for (c, v), s in self.group_shifts.items()],
            "weights": {k: dict(v) for k, v in self.weights.items()},
            "stance_weight": self.stance_weight,
            "kappa": dict(self.kappa),
            "taste_sd": self.taste_sd,
            "noise_sd": self.noise_sd,
            "score_scale": self.score_scale,
        }


# --- ground truth ------------------------------------------------------------------------------------


@dataclass
class SimulationTruth(GroundTruth):
    """The answer key of a simulated study: a :class:`~pluralis.data.truth.GroundTruth` built from a
    :class:`PreferenceModel` (:meth:`from_model`), which it keeps as ``preference``.

    ``person_weights`` (index ``user_id``) are the personas' :meth:`PreferenceModel.person_weights`,
    ``model_features`` (index ``(conversation_type, model)``) the mean feature :data:`TERMS` of the
    responses each model gave in the study (:func:`model_feature_table`), ``type_shares`` the share
    of conversations per type; the stance term is scaled by ``kappa`` of the conversation type.

    Example
    -------
    >>> from pluralis.simulate.study import simulate_study
    >>> from pluralis.simulate.generator import generate_personas
    >>> res = simulate_study(generate_personas(30, seed=0), seed=0)
    >>> eu = res.truth.expected_utility(res.study.frames().survey)
    >>> eu.shape[0], len(res.truth.true_ranking(res.study.frames().survey)) == len(res.truth.models)
    (30, True)
    """

    preference: PreferenceModel | None = None

    @classmethod
    def from_model(
        cls,
        model: PreferenceModel,
        person_weights: pd.DataFrame,
        model_features: pd.DataFrame,
        type_shares: pd.Series,
        models: list[str],
    ) -> SimulationTruth:
        """The truth of a study simulated with ``model``.

        Parameters
        ----------
        model
            the preference model the personas rated with.
        person_weights
            :meth:`PreferenceModel.person_weights` of the participants, index ``user_id``.
        model_features
            :func:`model_feature_table` of the study's responses.
        type_shares
            share of conversations per type.
        models
            the models, in order.

        Returns
        -------
        SimulationTruth

        Example
        -------
        >>> feats = model_feature_table(pd.DataFrame({"turn": [0, 0], "conversation_type": "unguided",
        ...     "model_name": ["a", "b"], "model_response": ["Sure.", "I'm sorry, but no."]}))
        >>> w = pd.DataFrame({"theta_len": 0.0, "theta_ref": -1.0, "theta_hedge": 0.0, "theta_enum": 0.0,
        ...                   "lambda_stance": 0.0}, index=pd.Index(["u"], name="user_id"))
        >>> t = SimulationTruth.from_model(PreferenceModel(quality={"a": 0.5}), w, feats,
        ...                                pd.Series({"unguided": 1.0}), ["a", "b"])
        >>> t.true_ranking(pd.DataFrame({"user_id": ["u"]})).to_dict()
        {'a': 0.5, 'b': -1.0}
        """
        return cls(
            model_quality=pd.Series({m: float(model.quality.get(m, 0.0)) for m in models}, index=models, dtype=float),
            group_shifts={k: pd.Series(dict(v), dtype=float) for k, v in model.group_shifts.items()},
            type_shares=type_shares,
            person_weights=person_weights,
            model_features=model_features,
            feature_weights=TERM_WEIGHTS,
            feature_scale={t: {"stance": float(k)} for t, k in model.kappa.items()},
            params=model.describe(),
            preference=model,
        )


def model_feature_table(utterances: pd.DataFrame) -> pd.DataFrame:
    """Mean feature :data:`TERMS` (log-length, refusal, hedging, enumeration, stance) per
    (conversation type, model) over the opening-turn responses of a study's utterances frame.

    Parameters
    ----------
    utterances
        rated responses (``turn``, ``conversation_type``, ``model_name``, ``model_response``).

    Returns
    -------
    pandas.DataFrame
        index ``(conversation_type, model)``, one column per term.

    Example
    -------
    >>> u = pd.DataFrame({"turn": [0, 0], "conversation_type": ["unguided"] * 2, "model_name": ["a", "b"],
    ...                   "model_response": ["Hi.", "I'm sorry, but no."]})
    >>> float(model_feature_table(u).loc[("unguided", "b"), "refusal"])
    1.0
    """
    u = utterances[utterances["turn"] == 0]
    terms = response_features(u["model_response"].reset_index(drop=True), features=TERMS)
    terms["conversation_type"] = u["conversation_type"].to_numpy()
    terms["model"] = u["model_name"].to_numpy()
    return terms.groupby(["conversation_type", "model"]).mean()
