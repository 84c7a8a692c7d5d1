"""The answer key of a simulated study: each participant's expected utility of each model.

Synthetic studies (:func:`pluralis.data.synthetic.generate_study`) and persona simulations
(:func:`pluralis.simulate.study.simulate_study`) are generated from explicit preference models, so
every analysis can be checked against the truth. Both describe it with :class:`GroundTruth`:

    E[u_j(m)] = q[m]                                       # model quality, shared by everyone
              + sum_g shift[g, m] * 1[j in g]               # planted group preferences
              + sum_c share[c] * ( type_shift[c, m]         # context: conversation type c
                                 + sum_f w[j, f] * scale[c, f] * x[c, m, f] )   # response features

``w[j, f]`` is participant *j*'s weight on feature *f* (``person_weights``), ``x[c, m, f]`` the mean
feature of model *m*'s responses in conversations of type *c* (``model_features``) and ``scale`` a
per-type factor of a feature (``feature_scale``; e.g. how much a response's stance matters on
controversial prompts). With one ``conversation_type`` given, that type alone counts (share 1).
Without, the types are averaged by ``type_shares``; when those are not given the type shifts are
left out and the features averaged over the types. Idiosyncratic taste and noise average out and
are left out.

Example
-------
>>> survey = pd.DataFrame({"user_id": ["u1", "u2"], "gender": ["Female", "Male"]})
>>> t = GroundTruth(pd.Series({"a": 0.2, "b": 0.0}), {("gender", "Female"): pd.Series({"b": 0.5})})
>>> t.expected_utility(survey).round(2).values.tolist()
[[0.2, 0.5], [0.2, 0.0]]
>>> t.true_ranking(survey, survey["gender"] == "Female").index.tolist()
['b', 'a']
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from pluralis.errors import ConfigError


@dataclass
class GroundTruth:
    """A study's latent-preference model, as an answer key (see the module docstring).

    Parameters
    ----------
    model_quality
        latent quality per model (index: the models, in their order).
    group_shifts
        planted preferences ``{(survey_column, value): shift per model}``.
    type_shifts
        shift per model in each conversation type.
    type_shares
        share of conversations per type (weights of the types when none is given).
    person_weights
        weights of each participant (index ``user_id``) on the response features.
    model_features
        mean response features per ``(conversation_type, model)`` (MultiIndex).
    feature_weights
        which column of ``person_weights`` weights each column of ``model_features`` (default: the
        same name); columns of ``person_weights`` not named here are ignored.
    feature_scale
        ``{conversation_type: {feature: factor}}`` (default factor 1).
    params
        the generator's other settings (noise, scale use, ...), for the record.

    Example
    -------
    >>> feats = pd.DataFrame({"refusal": [0.5, 0.0]},
    ...                      index=pd.MultiIndex.from_tuples([("unguided", "a"), ("unguided", "b")],
    ...                                                      names=["conversation_type", "model"]))
    >>> t = GroundTruth(pd.Series({"a": 0.0, "b": 0.0}), person_weights=pd.DataFrame({"refusal": [-2.0]}, index=["u"]),
    ...                 model_features=feats, type_shares=pd.Series({"unguided": 1.0}))
    >>> t.expected_utility(pd.DataFrame({"user_id": ["u"]})).values.tolist()
    [[-1.0, 0.0]]
    """

    model_quality: pd.Series
    group_shifts: Mapping[tuple[str, Any], pd.Series] = field(default_factory=dict)
    type_shifts: Mapping[str, pd.Series] = field(default_factory=dict)
    type_shares: pd.Series | None = None
    person_weights: pd.DataFrame | None = None
    model_features: pd.DataFrame | None = None
    feature_weights: Mapping[str, str] | None = None
    feature_scale: Mapping[str, Mapping[str, float]] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)
    #: planted topics (``generate_study(planted_topics=...)``): base shares, group shifts and each
    #: conversation's true topic (Series by conversation_id); empty when no topics were planted.
    topic_shares: pd.Series = field(default_factory=lambda: pd.Series(dtype=float))
    topic_shifts: dict[tuple[str, str], pd.Series] = field(default_factory=dict)
    conversation_topics: pd.Series = field(default_factory=lambda: pd.Series(dtype=object))

    def __post_init__(self) -> None:
        models = self.model_quality.index
        self.model_quality = self.model_quality.astype(float)
        for key in self.group_shifts:
            if not (isinstance(key, tuple) and len(key) == 2):
                raise ConfigError(f"group shift keys must be (survey_column, value) pairs, got {key!r}")
        self.group_shifts = {
            k: pd.Series(v, dtype=float).reindex(models).fillna(0.0) for k, v in self.group_shifts.items()
        }
        self.type_shifts = {
            t: pd.Series(v, dtype=float).reindex(models).fillna(0.0) for t, v in self.type_shifts.items()
        }
        if (self.person_weights is None) != (self.model_features is None):
            raise ConfigError("person_weights and model_features go together")

    @property
    def models(self) -> list[str]:
        """The models, in the order of ``model_quality``.

        Returns
        -------
        list of str

        Example
        -------
        >>> GroundTruth(pd.Series({"x": 1.0, "y": 0.0})).models
        ['x', 'y']
        """
        return list(self.model_quality.index)

    @property
    def conversation_types(self) -> list[str]:
        """The conversation types the truth knows (type shares, type shifts, feature table and scales).

        Returns
        -------
        list of str

        Example
        -------
        >>> GroundTruth(pd.Series({"x": 1.0}), type_shifts={"unguided": pd.Series({"x": 0.1})}).conversation_types
        ['unguided']
        """
        found: list[str] = []
        if self.type_shares is not None:
            found += [str(t) for t in self.type_shares.index]
        found += list(self.type_shifts)
        if self.model_features is not None:
            found += [str(t) for t in self.model_features.index.get_level_values(0)]
        found += list(self.feature_scale)
        return list(dict.fromkeys(found))

    def _features_of(self, conversation_type: str | None) -> pd.DataFrame:
        """Mean features per model (rows: :attr:`models`) in one conversation type, or over all."""
        assert self.model_features is not None
        mf = self.model_features
        overall = mf.groupby(level=-1).mean().reindex(self.models)
        if conversation_type is None or conversation_type not in mf.index.get_level_values(0):
            return overall.fillna(0.0)
        # a model that never answered in this type: its features over all types
        in_type = pd.DataFrame(mf.xs(conversation_type, level=0)).reindex(self.models)
        return in_type.fillna(overall).fillna(0.0)

    def _feature_term(self, weights: pd.DataFrame, conversation_type: str | None) -> np.ndarray:
        """``sum_f w[j, f] * scale[c, f] * x[c, m, f]`` as an (n participants, n models) array."""
        x = self._features_of(conversation_type)
        names = list(x.columns)
        mapping = dict(self.feature_weights or {})
        w = weights[[mapping.get(f, f) for f in names]].to_numpy(dtype=float)
        scale = self.feature_scale.get(conversation_type, {}) if conversation_type is not None else {}
        s = np.array([float(scale.get(f, 1.0)) for f in names])
        return w @ (x.to_numpy(dtype=float) * s[None, :]).T

    def topic_probabilities(self, survey: pd.DataFrame) -> pd.DataFrame:
        """Each participant's (rows, by ``user_id``) probability of opening on each planted topic.

        Base shares plus the shifts of every group the participant is in, clipped at 0 and renormalised.

        Parameters
        ----------
        survey
            Participants (``user_id`` and the columns the shifts name).

        Returns
        -------
        pandas.DataFrame
            One row per participant, one column per topic; rows sum to 1.

        Example
        -------
        >>> from pluralis.data.synthetic import generate_study
        >>> s = generate_study(n_participants=30, seed=0, planted_topics=True)
        >>> p = s.ground_truth.topic_probabilities(s.frames().survey)
        >>> p.shape, bool(np.allclose(p.sum(axis=1), 1.0))
        ((30, 6), True)
        """
        base = np.tile(self.topic_shares.to_numpy(dtype=float), (len(survey), 1))
        for (column, value), shift in self.topic_shifts.items():
            if column in survey.columns:
                member = (survey[column] == value).to_numpy()[:, None]
                base = base + member * shift.reindex(self.topic_shares.index).fillna(0).to_numpy()[None, :]
        base = np.clip(base, 0.0, None)
        base = base / base.sum(axis=1, keepdims=True)
        return pd.DataFrame(base, index=survey["user_id"].to_numpy(), columns=self.topic_shares.index)

    def expected_utility(self, survey: pd.DataFrame, conversation_type: str | None = None) -> pd.DataFrame:
        """Expected utility of each model (columns) for each participant (rows, by ``user_id``).

        Parameters
        ----------
        survey
            participants' survey rows (``user_id`` and the columns the group shifts name).
        conversation_type
            one conversation type; ``None`` averages the types (see the module docstring).

        Returns
        -------
        pandas.DataFrame
            index ``user_id``, one column per model.

        Example
        -------
        >>> t = GroundTruth(pd.Series({"a": 1.0, "b": 0.0}), type_shifts={"unguided": pd.Series({"b": 2.0})})
        >>> s = pd.DataFrame({"user_id": ["u"]})
        >>> t.expected_utility(s).values.tolist(), t.expected_utility(s, "unguided").values.tolist()
        ([[1.0, 0.0]], [[1.0, 2.0]])
        """
        ids = survey["user_id"].to_numpy()
        models = self.models
        known = self.conversation_types
        if conversation_type is not None and known and conversation_type not in known:
            raise ConfigError(f"unknown conversation type {conversation_type!r}; known: {', '.join(known)}")
        total = np.tile(self.model_quality.to_numpy(dtype=float), (len(survey), 1))
        for (column, value), shift in self.group_shifts.items():
            if column in survey.columns:
                member = (survey[column].astype(object) == value).to_numpy()[:, None]
                total = total + member * shift.to_numpy()[None, :]
        if conversation_type is not None:
            types: list[str | None] = [conversation_type]
            shares = np.array([1.0])
        elif self.type_shares is not None and len(self.type_shares):
            types = list(self.type_shares.index)
            shares = self.type_shares.to_numpy(dtype=float)
        else:
            types, shares = [None], np.array([1.0])
        weights = None
        if self.person_weights is not None:
            weights = self.person_weights.reindex(pd.Index(ids).astype(str))
            bad = weights.isna().any(axis=1).to_numpy()
            if bad.any():
                raise ConfigError(f"no simulated weights for participant(s) {list(ids[bad][:5])}")
        for t, share in zip(types, shares):
            if t is not None and t in self.type_shifts:
                total = total + share * self.type_shifts[t].to_numpy()[None, :]
            if weights is not None:
                total = total + share * self._feature_term(weights, t)
        return pd.DataFrame(total, index=ids, columns=models)

    def true_ranking(
        self,
        survey: pd.DataFrame,
        mask: pd.Series | np.ndarray | None = None,
        conversation_type: str | None = None,
    ) -> pd.Series:
        """Models ordered best first by mean expected utility over the (masked) participants.

        Parameters
        ----------
        survey
            participants' survey rows.
        mask
            boolean selection of ``survey`` rows (a population); ``None`` = everyone.
        conversation_type
            as in :meth:`expected_utility`.

        Returns
        -------
        pandas.Series
            mean expected utility per model, best first.

        Example
        -------
        >>> t = GroundTruth(pd.Series({"a": 0.2, "b": 0.0}), {("gender", "Female"): pd.Series({"b": 0.5})})
        >>> s = pd.DataFrame({"user_id": ["u1", "u2"], "gender": ["Female", "Male"]})
        >>> t.true_ranking(s).round(2).to_dict()
        {'b': 0.25, 'a': 0.2}
        """
        sub = survey if mask is None else survey[np.asarray(mask, dtype=bool)]
        if len(sub) == 0:
            raise ConfigError("population is empty")
        return self.expected_utility(sub, conversation_type).mean().sort_values(ascending=False)
