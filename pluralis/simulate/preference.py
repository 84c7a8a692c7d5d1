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

The features are :func:`pluralis.features.style.text_features` of the real response text.
The persona's weights are linear in its traits (all in SD units; :data:`DEFAULT_WEIGHTS`)::

    theta_f[j] = base_f + sum_t trait_effect[f, t] * trait_t[j] + style_effect[f, style[j]]
               + stated_effect_f * (stated_pref[j] - PRISM mean)
    lambda[j]  = -stance_weight * political[j]          # left personas like progressive stances
    kappa      = {"controversy guided": 1.0, "values guided": 0.6, "unguided": 0.2}

``center`` and ``spread`` are the persona's scale use (:mod:`pluralis.simulate.generator`).
Examples of what follows: concise or older personas prefer shorter answers; conscientious ones
like lists; agreeable/neurotic ones tolerate hedging; everyone dislikes refusals, safety-minded
personas less so; left- and right-leaning personas reward opposite stances on controversial topics.

Ground truth: :class:`SimulationTruth` gives each participant's expected utility per model
(everything above except taste and noise, with the features averaged over the responses each
model actually gave), so group rankings have an answer key
(:meth:`SimulationTruth.true_ranking`, same API as :class:`pluralis.data.synthetic.GroundTruth`).

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
from pluralis.errors import ConfigError
from pluralis.features.style import FEATURES, features_array  # noqa: F401  (used by the examples)

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
    """Raw features (n, 5) -> the model's terms (n, 5): log(1 + length), refusal, hedging, enumeration, stance."""
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
        """Sum of planted group shifts for one participant (``member``: survey column -> value)."""
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

        Example
        -------
        >>> m = PreferenceModel()
        >>> w = {"theta_len": 0.0, "theta_ref": -1.0, "theta_hedge": 0.0, "theta_enum": 0.0, "lambda_stance": 0.0}
        >>> m.utility(w, features_array(["Sure, here it is.", "I'm sorry, but no."]), ["a", "b"], "unguided").tolist()
        [0.0, -1.0]
        """
        if conversation_type not in self.kappa:
            raise ConfigError(f"unknown conversation type {conversation_type!r}")
        x = _feature_terms(np.asarray(feats, dtype=float).reshape(len(models), len(FEATURES)))
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

        Example
        -------
        >>> PreferenceModel().to_scores(np.array([-10.0, 0.0, 10.0]), 60.0, 1.0).tolist()
        [1, 60, 100]
        """
        return np.clip(np.rint(center + spread * self.score_scale * np.asarray(u, dtype=float)), 1, 100).astype(int)

    def describe(self) -> dict[str, Any]:
        """The model's constants as plain data (stored with simulated studies).

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
class SimulationTruth:
    """The answer key of a simulated study (see the module docstring).

    ``person_weights`` (index ``user_id``), ``model_features`` (index ``(conversation_type, model)``,
    mean feature *terms* of the responses each model gave in the study), ``type_shares`` (share of
    conversations per type), the :class:`PreferenceModel` and each participant's survey values.

    Example
    -------
    >>> from pluralis.simulate.study import simulate_study
    >>> from pluralis.simulate.generator import generate_personas
    >>> res = simulate_study(generate_personas(30, seed=0), seed=0)
    >>> eu = res.truth.expected_utility(res.study.frames().survey)
    >>> eu.shape[0]
    30
    """

    model: PreferenceModel
    person_weights: pd.DataFrame
    model_features: pd.DataFrame
    type_shares: pd.Series
    models: list[str]

    @property
    def model_quality(self) -> pd.Series:
        return pd.Series({m: float(self.model.quality.get(m, 0.0)) for m in self.models}, dtype=float)

    @property
    def group_shifts(self) -> dict[tuple[str, str], pd.Series]:
        return {
            k: pd.Series(v, dtype=float).reindex(self.models).fillna(0.0) for k, v in self.model.group_shifts.items()
        }

    def expected_utility(self, survey: pd.DataFrame, conversation_type: str | None = None) -> pd.DataFrame:
        """Expected utility per participant (rows, by ``user_id``) and model (columns); taste and noise excluded.

        ``conversation_type=None`` averages the types by their share in the study.
        """
        ids = survey["user_id"].astype(str).to_numpy()
        w = self.person_weights.reindex(ids)
        if w.isna().any().any():
            missing = [i for i, bad in zip(ids, w.isna().any(axis=1)) if bad][:5]
            raise ConfigError(f"no simulated weights for participant(s) {missing}")
        types = [conversation_type] if conversation_type is not None else list(self.type_shares.index)
        shares = np.array([1.0]) if conversation_type is not None else self.type_shares.to_numpy(dtype=float)
        total = np.zeros((len(ids), len(self.models)))
        theta = w[list(WEIGHTS)].to_numpy(dtype=float)
        lam = w["lambda_stance"].to_numpy(dtype=float)
        for t, share in zip(types, shares):
            if (t, self.models[0]) not in self.model_features.index:
                feats = self.model_features.groupby(level="model").mean().reindex(self.models)
            else:
                feats = self.model_features.loc[t].reindex(self.models)
            x = feats[list(FEATURES)].fillna(0.0).to_numpy(dtype=float)
            part = theta @ x[:, :4].T + (lam[:, None] * self.model.kappa.get(t, 0.0)) * x[:, 4][None, :]
            total += share * part
        total += self.model_quality.reindex(self.models).to_numpy()[None, :]
        for (col, value), shift in self.group_shifts.items():
            if col in survey.columns:
                member = (survey[col].astype(object) == value).to_numpy()[:, None]
                total += member * shift.reindex(self.models).fillna(0.0).to_numpy()[None, :]
        return pd.DataFrame(total, index=ids, columns=self.models)

    def true_ranking(self, survey: pd.DataFrame, mask=None, conversation_type: str | None = None) -> pd.Series:
        """Models ordered best first by mean expected utility over the (masked) participants.

        Example
        -------
        >>> from pluralis.simulate.study import simulate_study
        >>> from pluralis.simulate.generator import generate_personas
        >>> res = simulate_study(generate_personas(30, seed=0), seed=0)
        >>> len(res.truth.true_ranking(res.study.frames().survey)) == len(res.truth.models)
        True
        """
        sub = survey if mask is None else survey[np.asarray(mask, dtype=bool)]
        if len(sub) == 0:
            raise ConfigError("population is empty")
        return self.expected_utility(sub, conversation_type).mean().sort_values(ascending=False)


def model_feature_table(utterances: pd.DataFrame) -> pd.DataFrame:
    """Mean feature terms (log-length, refusal, hedging, enumeration, stance) per (conversation type, model)
    over the opening-turn responses of a study's utterances frame.

    Example
    -------
    >>> u = pd.DataFrame({"turn": [0, 0], "conversation_type": ["unguided"] * 2, "model_name": ["a", "b"],
    ...                   "model_response": ["Hi.", "I'm sorry, but no."]})
    >>> float(model_feature_table(u).loc[("unguided", "b"), "refusal"])
    1.0
    """
    from pluralis.features.style import text_features

    u = utterances[utterances["turn"] == 0]
    f = text_features(u["model_response"].reset_index(drop=True))
    terms = pd.DataFrame(_feature_terms(f.to_numpy()), columns=list(FEATURES))
    terms["conversation_type"] = u["conversation_type"].to_numpy()
    terms["model"] = u["model_name"].to_numpy()
    return terms.groupby(["conversation_type", "model"]).mean()
