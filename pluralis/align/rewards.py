"""Group reward models for alignment: a :class:`pluralis.learn.models.RewardModel` fit on a group's pairs,
saved as plain JSON (no pickle), used to pick among samples (best-of-n), as GRPO's reward, and as an
evaluation judge.

The features are :class:`~pluralis.learn.featurizers.TextFeaturizer` (interpretable: PRISM's
features, hedging, stance; ``features="text"``) or sentence embeddings
(:class:`~pluralis.learn.featurizers.EmbeddingFeaturizer`, ``features="embedding"``). Pairs'
``weight`` (graded labels) enter as sample weights.

Example
-------
>>> pairs = pd.DataFrame({"chosen_text": ["Sure. Want more?"] * 20, "rejected_text": ["Sure."] * 20})
>>> rm = fit_reward_model(pairs)
>>> int(rm.reward(["Fine. Anything else?", "Fine."]).argmax())
0
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pluralis.errors import ConfigError

FEATURES: tuple[str, ...] = ("text", "embedding")
FORMAT = "pluralis-reward-model/1"


def _featurizer(features: str, feature_set: str = "all") -> Any:
    from pluralis.learn.featurizers import make_featurizer

    if features not in FEATURES:
        raise ConfigError(f"reward features must be one of {', '.join(FEATURES)}, got {features!r}")
    return make_featurizer(features, **({"features": feature_set} if features == "text" else {}))


def learn_pairs(pairs: pd.DataFrame) -> pd.DataFrame:
    """Chosen/rejected rows → :mod:`pluralis.learn` pairs (``response_a`` chosen, ``y = 1``), half of them swapped
    (alternately) so the design is balanced.

    Parameters
    ----------
    pairs : pandas.DataFrame
        Oriented pairs (``chosen_text``, ``rejected_text``, ``user_id``, ...).

    Returns
    -------
    pandas.DataFrame
        Pairs with ``response_a``, ``response_b`` and ``y`` (1 or 0).

    Example
    -------
    >>> learn_pairs(pd.DataFrame({"chosen_text": ["a", "b"], "rejected_text": ["x", "y"]}))[["response_a", "y"]].values.tolist()
    [['a', 1.0], ['y', 0.0]]
    """
    for col in ("chosen_text", "rejected_text"):
        if col not in pairs.columns:
            raise ConfigError(f"pairs lack column {col!r} (build them with pluralis.align.pairs)")
    swap = np.arange(len(pairs)) % 2 == 1
    c, r = pairs["chosen_text"].astype(str).to_numpy(), pairs["rejected_text"].astype(str).to_numpy()
    out = pd.DataFrame(
        {
            "response_a": np.where(swap, r, c),
            "response_b": np.where(swap, c, r),
            "y": np.where(swap, 0.0, 1.0),
        }
    )
    for col in ("user_id", "weight", "component"):
        if col in pairs.columns:
            out[col] = pairs[col].to_numpy()
    return out


class GroupRewardModel:
    """A fitted Bradley–Terry reward model with its featuriser settings; ``reward(texts)`` scores responses.

    Rewards are identified up to a constant: compare them, do not read them alone.

    Example
    -------
    >>> pairs = pd.DataFrame({"chosen_text": ["Ok. More?"] * 10, "rejected_text": ["Ok."] * 10})
    >>> rm = fit_reward_model(pairs)
    >>> import tempfile
    >>> path = rm.save(tempfile.mkdtemp() + "/rm.json")
    >>> float(GroupRewardModel.load(path).margin(["Ok. More?"], ["Ok."])[0]) > 0
    True
    """

    def __init__(self, model: Any, features: str, feature_set: str = "all", info: dict | None = None):
        self.model = model
        self.features = features
        self.feature_set = feature_set
        self.info = dict(info or {})

    def reward(self, texts) -> np.ndarray:
        """The reward of each response text."""
        return np.asarray(self.model.reward(list(texts)), dtype=float)

    def margin(self, a, b) -> np.ndarray:
        """``r(a) − r(b)`` for aligned lists of texts."""
        return self.reward(a) - self.reward(b)

    def win_probability(self, a, b) -> np.ndarray:
        """Bradley–Terry ``P(a ≻ b) = σ(r(a) − r(b))``."""
        from scipy.special import expit

        return expit(self.margin(a, b))

    def coefficients(self) -> pd.Series:
        """Reward weight per feature (interpretable with text features)."""
        return self.model.coefficients()

    def to_dict(self) -> dict[str, Any]:
        m = self.model
        return {
            "format": FORMAT,
            "features": self.features,
            "feature_set": self.feature_set,
            "alpha": float(m.alpha),
            "coef": [float(x) for x in m.coef_],
            "feature_names": [str(x) for x in m.feature_names_in_],
            "info": self.info,
        }

    def save(self, path: str | Path) -> Path:
        """Write the model as JSON (weights and featuriser settings)."""
        from pluralis.data.jsonio import atomic_write

        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_write(path) as fh:
            fh.write(json.dumps(self.to_dict(), indent=2))
        return path

    @classmethod
    def load(cls, path: str | Path) -> GroupRewardModel:
        """Read a model written by :meth:`save`."""
        from pluralis.learn.models import RewardModel

        path = Path(path)
        try:
            d = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as e:
            raise ConfigError(f"{path}: cannot read a reward model ({e})") from None
        if d.get("format") != FORMAT:
            raise ConfigError(f"{path}: not a Pluralis reward model (format {d.get('format')!r})")
        f = _featurizer(d["features"], d.get("feature_set", "all"))
        names = f.get_feature_names_out()
        if list(map(str, names)) != d["feature_names"]:
            raise ConfigError(f"{path}: the featuriser's features differ from the saved model's")
        m = RewardModel(featurizer=f, alpha=d.get("alpha", 1.0))
        m.coef_ = np.asarray(d["coef"], dtype=float)
        m.n_features_in_ = len(m.coef_)
        m.feature_names_in_ = np.asarray(d["feature_names"], dtype=object)
        m.featurizer_ = f
        m.classes_ = np.array([0, 1])
        return cls(m, d["features"], d.get("feature_set", "all"), d.get("info"))


def fit_reward_model(
    pairs: pd.DataFrame,
    *,
    features: str = "text",
    feature_set: str = "all",
    alpha: float = 1.0,
    sample_weight: np.ndarray | None = None,
) -> GroupRewardModel:
    """Fit a group reward model on chosen/rejected pairs (``weight`` column = sample weights when present).

    Parameters
    ----------
    pairs
        rows with ``chosen_text`` and ``rejected_text`` (:mod:`pluralis.align.pairs`).
    features
        ``"text"`` (interpretable) or ``"embedding"`` (all-MiniLM-L6-v2, the ``[embed]`` extra).
    feature_set
        the :class:`~pluralis.learn.featurizers.TextFeaturizer` set (``"prism"``, ``"style"``, ``"all"``).
    alpha
        L2 penalty.
    sample_weight
        overrides the ``weight`` column.

    Example
    -------
    >>> pairs = pd.DataFrame({"chosen_text": ["Sure, here it is."] * 10, "rejected_text": ["I'm sorry, but no."] * 10})
    >>> bool(fit_reward_model(pairs).coefficients()["if_refusal"] < 0)
    True
    """
    from pluralis.learn.models import RewardModel

    if not len(pairs):
        raise ConfigError("no pairs to fit a reward model on")
    lp = learn_pairs(pairs)
    w = sample_weight
    if w is None and "weight" in lp.columns:
        w = lp["weight"].to_numpy(dtype=float)
    model = RewardModel(featurizer=_featurizer(features, feature_set), alpha=alpha).fit(lp, sample_weight=w)
    info: dict[str, Any] = {"n_pairs": int(len(pairs))}
    if "user_id" in pairs.columns:
        info["n_participants"] = int(pairs["user_id"].nunique())
    if "component" in pairs.columns and pairs["component"].notna().any():
        info["groups"] = sorted(map(str, pairs["component"].dropna().unique()))
    return GroupRewardModel(model, features, feature_set, info)
