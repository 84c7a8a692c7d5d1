"""Representativeness diagnostics: how far is a sample from its census population? (PRISM §2.3, App. L)

Participants are mapped onto the census categories (age band x gender x ethnicity, the buckets of
PRISM App. L), then observed shares are compared with the census shares per cell and per margin:
differences in percentage points (PRISM Fig. 8: PRISM *minus* census), total variation distance,
and Kish's effective sample size when weights are given.

Example
-------
>>> import pandas as pd
>>> survey = pd.DataFrame({
...     "user_id": ["a", "b", "c", "d"],
...     "age": ["18-24 years old", "25-34 years old", "65+ years old", "Prefer not to say"],
...     "gender": ["Male", "Female", "Female", "Male"],
...     "ethnicity_categorised": ["White", "Asian", "Hispanic / Latino", "White"],
... })
>>> rep = representativeness(survey, "US")
>>> rep.n, rep.n_unclassified
(3, 1)
>>> 0 < rep.tvd["joint"] <= 1
True
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from pluralis.census import targets as census
from pluralis.data import vocab
from pluralis.errors import ConfigError

__all__ = [
    "CENSUS_VARIABLES",
    "RepresentativenessReport",
    "census_categories",
    "effective_sample_size",
    "representativeness",
    "total_variation_distance",
]

#: The census variables, in PRISM's order of cells (age x ethnicity x gender).
CENSUS_VARIABLES: tuple[str, ...] = ("age", "gender", "ethnicity")

_SIMPLIFIED_TO_CENSUS = {
    "White": "White",
    "Black": "Black",
    "Hispanic": "Other",
    "Asian": "Asian",
    "Mixed": "Mixed",
    "Other": "Other",
}


def _user_index(survey: pd.DataFrame) -> pd.Index:
    if "user_id" in survey.columns:
        return pd.Index(survey["user_id"].astype(str), name="user_id")
    return pd.Index(survey.index.astype(str), name="user_id")


def census_categories(
    survey: pd.DataFrame, country: str = "US", ethnicity: str = "census", on_unknown: str = "raise"
) -> pd.DataFrame:
    """Map survey rows onto census categories; answers outside the census become NaN.

    Returns a DataFrame indexed by ``user_id`` (same row order as ``survey``) with columns
    ``age`` (:data:`~pluralis.data.vocab.AGE_BANDS`), ``gender`` (``Male``/``Female``) and
    ``ethnicity`` (:data:`~pluralis.data.vocab.CENSUS_ETHNICITIES`, or with ``ethnicity="detailed"``
    in the US, the same with ``Hispanic`` apart). Ethnicity comes from ``ethnicity_categorised``
    (PRISM App. L remap: Hispanic, Middle Eastern and Indigenous -> Other) or, when absent,
    ``ethnicity_simplified``. "Prefer not to say" and non-binary gender map to NaN (not in the census).

    Answers that are not Pluralis answer categories at all (numeric ages, ``"male"``, unknown
    labels) are errors naming the column, the count and the expected categories
    (``on_unknown="raise"``): map them first with :func:`pluralis.census.targets.map_categories`.

    Parameters
    ----------
    survey : pandas.DataFrame
        One row per participant with ``age``, ``gender`` and ``ethnicity_categorised`` (or
        ``ethnicity_simplified``).
    country : str
        ``"US"`` or ``"UK"``.
    ethnicity : {"census", "detailed"}
        Ethnicity scheme.
    on_unknown : {"raise", "drop"}
        Answers outside the answer vocabulary raise :class:`~pluralis.errors.ConfigError`, or
        become NaN like "Prefer not to say".

    Returns
    -------
    pandas.DataFrame
        ``age, gender, ethnicity`` by ``user_id``; NaN where an answer is not a census category.

    Example
    -------
    >>> import pandas as pd
    >>> s = pd.DataFrame({"user_id": ["a"], "age": ["65+ years old"], "gender": ["Female"],
    ...                   "ethnicity_categorised": ["Middle Eastern / Arab"]})
    >>> census_categories(s).loc["a"].tolist()
    ['65+ years old', 'Female', 'Other']
    >>> census_categories(s.assign(age=70))
    Traceback (most recent call last):
    ...
    pluralis.errors.ConfigError: age: 1 of 1 values not in the census categories ('18-24 years old', '25-34 years old', '35-44 years old', '45-54 years old', '55-64 years old', '65+ years old', 'Prefer not to say'), e.g. 70; map them first (see pluralis.census.targets.map_categories)
    """
    country = census.normalise_country(country)
    if on_unknown not in ("raise", "drop"):
        raise ConfigError(f"on_unknown must be 'raise' or 'drop', got {on_unknown!r}")
    eth_levels = census.ethnicity_categories(country, ethnicity)
    missing = [c for c in ("age", "gender") if c not in survey.columns]
    if "ethnicity_categorised" not in survey.columns and "ethnicity_simplified" not in survey.columns:
        missing.append("ethnicity_categorised (or ethnicity_simplified)")
    if missing:
        raise ConfigError(f"survey frame lacks column(s) needed for census categories: {', '.join(missing)}")
    if on_unknown == "raise":
        eth_col = "ethnicity_categorised" if "ethnicity_categorised" in survey.columns else "ethnicity_simplified"
        for col in ("age", "gender", eth_col):
            err = census.unknown_values_error(col, survey[col], census.ACCEPTED_ANSWERS[col])
            if err is not None:
                raise err
    age = survey["age"].where(survey["age"].isin(vocab.AGE_BANDS))
    gender = survey["gender"].where(survey["gender"].isin(census.GENDERS))
    detailed = "Hispanic" in eth_levels
    if "ethnicity_categorised" in survey.columns:
        mapping = vocab.ETHNICITY_SIMPLIFY if detailed else vocab.ETHNICITY_TO_CENSUS
        eth = survey["ethnicity_categorised"].map(mapping)
    else:
        simplified = survey["ethnicity_simplified"]
        eth = simplified if detailed else simplified.map(_SIMPLIFIED_TO_CENSUS)
    eth = eth.where(eth.isin(eth_levels))
    out = pd.DataFrame(
        {
            "age": age.to_numpy(dtype=object),
            "gender": gender.to_numpy(dtype=object),
            "ethnicity": eth.to_numpy(dtype=object),
        },
        index=_user_index(survey),
    )
    return out


def total_variation_distance(p: pd.Series, q: pd.Series) -> float:
    """Total variation distance ``0.5 * sum |p - q|`` between two distributions (aligned on index;
    each is normalised to sum 1 first, missing categories count as 0).

    Parameters
    ----------
    p, q : pandas.Series
        Non-negative masses by category.

    Returns
    -------
    float
        The distance, in [0, 1].

    Example
    -------
    >>> import pandas as pd
    >>> total_variation_distance(pd.Series({"a": 0.5, "b": 0.5}), pd.Series({"a": 1.0}))
    0.5
    """
    p = pd.Series(p, dtype=float)
    q = pd.Series(q, dtype=float)
    idx = p.index.union(q.index, sort=False)
    pv = p.reindex(idx, fill_value=0.0).to_numpy()
    qv = q.reindex(idx, fill_value=0.0).to_numpy()
    if pv.sum() <= 0 or qv.sum() <= 0:
        raise ConfigError("total variation distance needs two non-empty distributions")
    return float(0.5 * np.abs(pv / pv.sum() - qv / qv.sum()).sum())


def effective_sample_size(weights) -> float:
    """Kish's effective sample size ``(sum w)^2 / sum w^2`` (zero weights drop out).

    Parameters
    ----------
    weights : array-like of float
        Finite, non-negative weights.

    Returns
    -------
    float
        The effective sample size (0 when every weight is 0).

    Example
    -------
    >>> effective_sample_size([1, 1, 1, 1]), effective_sample_size([1, 0, 0, 3])
    (4.0, 1.6)
    """
    w = np.asarray(weights, dtype=float)
    if np.any(w < 0) or not np.all(np.isfinite(w)):
        raise ConfigError("weights must be finite and non-negative")
    s2 = float(np.sum(w * w))
    return float(np.sum(w) ** 2 / s2) if s2 > 0 else 0.0


def _align_weights(weights, index: pd.Index, name: str = "weights") -> np.ndarray:
    """Weights as an array aligned with ``index`` (user ids): ones for ``None``, a Series by
    user id (every participant needed), or an array already in row order."""
    if weights is None:
        return np.ones(len(index))
    if isinstance(weights, pd.Series):
        w = weights.copy()
        w.index = w.index.astype(str)
        missing = index.difference(w.index)
        if len(missing):
            raise ConfigError(f"{name} lack {len(missing)} participant(s), e.g. {list(missing[:3])}")
        return w.reindex(index).to_numpy(dtype=float)
    arr = np.asarray(weights, dtype=float)
    if arr.shape != (len(index),):
        raise ConfigError(f"{name} have shape {arr.shape}; expected ({len(index)},) aligned with the survey rows")
    return arr


@dataclass
class RepresentativenessReport:
    """Observed vs census shares per cell and margin for one country.

    ``table`` is tidy: one row per (level, category) where level is ``joint`` (age x gender x
    ethnicity cell) or a margin name; columns ``level, age, gender, ethnicity, category,
    n_observed, observed_share, expected_share, difference_pp`` (PRISM *minus* census, percentage
    points, as PRISM Fig. 8). ``tvd`` holds the total variation distance per level.

    Example
    -------
    >>> import pandas as pd
    >>> s = pd.DataFrame({"user_id": ["a", "b"], "age": ["18-24 years old"] * 2,
    ...                   "gender": ["Male", "Female"], "ethnicity_categorised": ["White"] * 2})
    >>> r = representativeness(s, "UK")
    >>> r.country, r.n, r.weighted
    ('UK', 2, False)
    """

    country: str
    table: pd.DataFrame
    tvd: dict[str, float]
    n: int
    n_unclassified: int
    ess: float
    weighted: bool
    ethnicity: str = "census"
    construction: str = "disjoint"
    notes: list[str] = field(default_factory=list)

    def summary(self) -> pd.DataFrame:
        """One row per level: TVD, worst over/under-represented category, n and ESS.

        Returns
        -------
        pandas.DataFrame
            ``level, tvd, most_over, most_over_pp, most_under, most_under_pp, n, ess``.

        Example
        -------
        >>> import pandas as pd
        >>> s = pd.DataFrame({"user_id": ["a", "b"], "age": ["18-24 years old"] * 2,
        ...                   "gender": ["Male", "Female"], "ethnicity_categorised": ["White"] * 2})
        >>> list(representativeness(s, "UK").summary()["level"])
        ['joint', 'age', 'gender', 'ethnicity']
        """
        rows = []
        for level, tvd in self.tvd.items():
            t = self.table[self.table["level"] == level]
            hi = t.iloc[int(t["difference_pp"].argmax())]
            lo = t.iloc[int(t["difference_pp"].argmin())]
            rows.append(
                {
                    "level": level,
                    "tvd": tvd,
                    "most_over": hi["category"],
                    "most_over_pp": hi["difference_pp"],
                    "most_under": lo["category"],
                    "most_under_pp": lo["difference_pp"],
                    "n": self.n,
                    "ess": self.ess,
                }
            )
        return pd.DataFrame(rows)


def representativeness(
    survey: pd.DataFrame,
    country: str,
    *,
    weights=None,
    ethnicity: str = "census",
    variables: tuple[str, ...] | list[str] = CENSUS_VARIABLES,
    construction: str = "disjoint",
) -> RepresentativenessReport:
    """Compare a sample's (optionally weighted) composition with the census of ``country``.

    ``survey`` has one row per participant (``user_id``, ``age``, ``gender``,
    ``ethnicity_categorised``). Participants whose answers are not census categories
    (prefer not to say, non-binary) are left out and counted in ``n_unclassified``.
    ``weights`` (a Series by ``user_id`` or an array aligned with ``survey``) gives weighted
    shares and Kish's effective sample size. ``variables`` chooses the joint cells (default all three).

    Parameters
    ----------
    survey : pandas.DataFrame
        One row per participant.
    country : str
        ``"US"`` or ``"UK"``.
    weights : pandas.Series or array-like, optional
        Participant weights (by ``user_id``, or aligned with ``survey``).
    ethnicity : {"census", "detailed"}
        Ethnicity scheme.
    variables : sequence of str
        The census variables of the joint cells.
    construction : {"disjoint", "prism"}
        The US census table (:func:`pluralis.census.targets.census_table`): race x Hispanic
        origin disjoint (default), or PRISM's, which counts Hispanic adults of a non-White race twice.

    Returns
    -------
    RepresentativenessReport
        Observed vs census shares per cell and margin, TVD per level, n and ESS.

    See Also
    --------
    pluralis.census.weights.census_weights : weights that close the gaps.
    pluralis.welfare.plots.plot_representativeness : the report as Fig. 8.

    Example
    -------
    >>> from pluralis.data.synthetic import generate_study
    >>> s = generate_study(n_participants=60, seed=0).frames().survey
    >>> rep = representativeness(s[s.study_locale == "us"], "US")
    >>> sorted(rep.tvd) == ["age", "ethnicity", "gender", "joint"]
    True
    """
    country = census.normalise_country(country)
    variables = list(variables)
    bad = [v for v in variables if v not in CENSUS_VARIABLES]
    if bad or not variables:
        raise ConfigError(
            f"unknown census variable(s) {bad or variables}; expected a subset of {list(CENSUS_VARIABLES)}"
        )
    cats = census_categories(survey, country, ethnicity)
    w_all = _align_weights(weights, cats.index)
    ok = cats[variables].notna().all(axis=1).to_numpy()
    if not ok.any():
        raise ConfigError("no participant maps onto the census categories (age band, Male/Female, ethnicity)")
    cats_ok = cats[ok]
    w = w_all[ok]
    if w.sum() <= 0:
        raise ConfigError("weights of the classified participants sum to zero")
    frames = []
    tvd: dict[str, float] = {}
    for level, by in [("joint", variables)] + [(v, [v]) for v in variables]:
        expected = census.joint_distribution(country, ethnicity, by=by, construction=construction).set_index(by)[
            "share"
        ]
        keys = pd.MultiIndex.from_frame(cats_ok[by]) if len(by) > 1 else pd.Index(cats_ok[by[0]])
        n_obs = pd.Series(1.0, index=keys).groupby(level=list(range(len(by)))).sum()
        w_obs = pd.Series(w, index=keys).groupby(level=list(range(len(by)))).sum()
        n_obs = n_obs.reindex(expected.index, fill_value=0)
        observed = w_obs.reindex(expected.index, fill_value=0.0) / w.sum()
        t = expected.rename("expected_share").to_frame()
        t.insert(0, "observed_share", observed.to_numpy())
        t.insert(0, "n_observed", n_obs.to_numpy().astype(int))
        t["difference_pp"] = 100 * (t["observed_share"] - t["expected_share"])
        t = t.reset_index()
        for v in CENSUS_VARIABLES:
            if v not in t.columns:
                t[v] = None
        t["category"] = t[by].astype(str).agg(" | ".join, axis=1) if len(by) > 1 else t[by[0]].astype(str)
        t.insert(0, "level", level)
        tvd[level] = total_variation_distance(t["observed_share"], t["expected_share"])
        frames.append(
            t[
                [
                    "level",
                    *CENSUS_VARIABLES,
                    "category",
                    "n_observed",
                    "observed_share",
                    "expected_share",
                    "difference_pp",
                ]
            ]
        )
    table = pd.concat(frames, ignore_index=True)
    notes = []
    empty = table[(table["level"] == "joint") & (table["n_observed"] == 0) & (table["expected_share"] > 0)]
    if len(empty):
        notes.append(f"{len(empty)} census cell(s) have no participants")
    return RepresentativenessReport(
        country=country,
        table=table,
        tvd=tvd,
        n=int(ok.sum()),
        n_unclassified=int((~ok).sum()),
        ess=effective_sample_size(w),
        weighted=weights is not None,
        ethnicity=ethnicity,
        construction=construction,
        notes=notes,
    )
