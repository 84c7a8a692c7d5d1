"""Conditional tables of the persona generator, shipped as package data.

Personas are drawn from the census cells of :mod:`pluralis.census.targets`
(:func:`~pluralis.census.targets.census_cells`: one cell per age band x sex x source census group,
ONS 2021 for England & Wales and ACS 2022 for the US), so age x sex x ethnicity follow the census
*jointly*. This module adds what the census tables do not carry:

* **Conditional tables** (``resources/conditionals.csv``): ``P(value | country, age, sex, ethnicity)``
  for education, employment, marital status, religion, region, English proficiency and LLM
  familiarity. Each row is ``field, country, age, gender, ethnicity, value, share``; ``*`` means
  "any" (the field does not depend on that variable). They are **approximations** transcribed and
  rounded from published summaries, not copies of source tables; ``resources/SOURCES.md`` names
  the source of each and every assumption.
* How census groups and countries read in a persona (:data:`CENSUS_GROUP_ETHNICITY`,
  :data:`COUNTRY_INFO`).

Everything is returned as dense numpy arrays so sampling is vectorised (see
:func:`conditional_sampler`). The census cells, countries and category orders are those of
:mod:`pluralis.census.targets`, imported here for the generator's convenience.

Example
-------
>>> cells = census_cells("UK")
>>> s = conditional_sampler("education", "UK")
>>> codes = s.sample({"age": cells.age[:3]}, np.array([0.0, 0.5, 0.999]))
>>> len(codes), all(0 <= c < len(FIELD_CATEGORIES["education"]) for c in codes)
(3, True)
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from io import StringIO

import numpy as np
import pandas as pd

from pluralis.census.targets import COUNTRIES, DETAILED_ETHNICITIES, ISO3, CensusCells, census_cells, normalise_country
from pluralis.census.targets import GENDERS as SEXES
from pluralis.data import vocab
from pluralis.errors import ConfigError

__all__ = [
    "CENSUS_GROUP_ETHNICITY",
    "CONDITIONAL_FIELDS",
    "COUNTRIES",
    "COUNTRY_INFO",
    "DETAILED_ETHNICITIES",
    "FIELD_CATEGORIES",
    "SEXES",
    "CensusCells",
    "ConditionalSampler",
    "allocate",
    "allocate_joint",
    "census_cells",
    "conditional_sampler",
    "conditional_table",
    "normalise_country",
]

#: Source census group -> (PRISM ``ethnicity.categorised``, self-described phrasings).
CENSUS_GROUP_ETHNICITY: dict[str, tuple[str, tuple[str, ...]]] = {
    # United States, disjoint construction (default): race alone, not Hispanic; Hispanic of any race
    "White alone, not Hispanic or Latino": ("White", ("white", "caucasian", "white american")),
    "Black or African American alone, not Hispanic or Latino": ("Black / African", ("black", "african american")),
    "Asian alone, not Hispanic or Latino": (
        "Asian",
        ("asian", "asian american", "chinese american", "indian american", "filipino"),
    ),
    "Two or More Races, not Hispanic or Latino": ("Mixed", ("mixed", "mixed race", "biracial")),
    "Some Other Race alone, not Hispanic or Latino": ("Other", ("other",)),
    "Native Hawaiian and Other Pacific Islander alone, not Hispanic or Latino": (
        "Other",
        ("pacific islander", "native hawaiian"),
    ),
    "American Indian and Alaska Native alone, not Hispanic or Latino": (
        "Indigenous / First Peoples",
        ("native american", "alaska native"),
    ),
    # United States, PRISM's construction: race-alone tables (Hispanic members included) + Hispanic
    "Black or African American alone": ("Black / African", ("black", "african american")),
    "Asian alone": ("Asian", ("asian", "asian american", "chinese american", "indian american", "filipino")),
    "Two or More Races": ("Mixed", ("mixed", "mixed race", "biracial")),
    "Hispanic or Latino": ("Hispanic / Latino", ("hispanic", "latino", "latina", "mexican american")),
    "Some Other Race alone": ("Other", ("other",)),
    "Native Hawaiian and Other Pacific Islander alone": ("Other", ("pacific islander", "native hawaiian")),
    "American Indian and Alaska Native alone": ("Indigenous / First Peoples", ("native american", "alaska native")),
    # England and Wales (ONS 2021)
    "White: English/Welsh/Scottish/Northern Irish/British": ("White", ("white british", "white", "english", "welsh")),
    "White: Irish": ("White", ("white irish", "irish")),
    "White: Gypsy or Irish Traveller": ("White", ("irish traveller", "gypsy")),
    "White: Roma": ("White", ("roma",)),
    "White: Other White": ("White", ("white european", "white other", "polish")),
    "Asian/Asian British: Bangladeshi": ("Asian", ("bangladeshi", "british bangladeshi")),
    "Asian/Asian British: Chinese": ("Asian", ("chinese", "british chinese")),
    "Asian/Asian British: Indian": ("Asian", ("indian", "british indian")),
    "Asian/Asian British: Other Asian": ("Asian", ("asian", "british asian")),
    "Asian/Asian British: Pakistani": ("Asian", ("pakistani", "british pakistani")),
    "Black/African/Caribbean/Black British: African": ("Black / African", ("black african", "black british")),
    "Black/African/Caribbean/Black British: Caribbean": ("Black / African", ("black caribbean", "black british")),
    "Black/African/Caribbean/Black British: Other Black": ("Black / African", ("black british", "black")),
    "Mixed or Multiple ethnic groups: Other Mixed": ("Mixed", ("mixed", "mixed race")),
    "Mixed or Multiple ethnic groups: White and Asian": ("Mixed", ("mixed white and asian", "mixed")),
    "Mixed or Multiple ethnic groups: White and Black African": ("Mixed", ("mixed white and black african",)),
    "Mixed or Multiple ethnic groups: White and Black Caribbean": ("Mixed", ("mixed white and black caribbean",)),
    "Other ethnic group: Any other ethnic group": ("Other", ("other",)),
    "Other ethnic group: Arab": ("Middle Eastern / Arab", ("arab", "middle eastern")),
}

#: Per country: (name, ISO3, UN region, UN subregion, PRISM special_region, study_locale).
COUNTRY_INFO: dict[str, tuple[str, str, str, str, str, str]] = {
    "US": ("United States", ISO3["US"], "Americas", "Northern America", "US", "us"),
    "UK": ("United Kingdom", ISO3["UK"], "Europe", "Northern Europe", "UK", "uk"),
}

#: Fields sampled from ``conditionals.csv``, in sampling order.
CONDITIONAL_FIELDS: tuple[str, ...] = (
    "education",
    "employment_status",
    "marital_status",
    "religion",
    "region",
    "english_proficiency",
    "lm_familiarity",
)
#: Category order of each conditional field (codes index into these).
FIELD_CATEGORIES: dict[str, tuple[str, ...]] = {
    "education": tuple(e for e in vocab.EDUCATION_LEVELS if e != vocab.PREFER_NOT_TO_SAY),
    "employment_status": tuple(e for e in vocab.EMPLOYMENT_STATUSES if e != vocab.PREFER_NOT_TO_SAY),
    "marital_status": tuple(e for e in vocab.MARITAL_STATUSES if e != vocab.PREFER_NOT_TO_SAY),
    "religion": tuple(r for r in vocab.RELIGION_CATEGORISED if r != vocab.PREFER_NOT_TO_SAY),
    "region": (
        "Northeast",
        "Midwest",
        "South",
        "West",
        "North East",
        "North West",
        "Yorkshire and The Humber",
        "East Midlands",
        "West Midlands",
        "East of England",
        "London",
        "South East",
        "South West",
        "Wales",
    ),
    "english_proficiency": vocab.ENGLISH_PROFICIENCIES,
    "lm_familiarity": vocab.LM_FAMILIARITY,
}


@lru_cache(maxsize=1)
def conditional_table() -> pd.DataFrame:
    """The shipped conditional tables (``resources/conditionals.csv``), shares summing to 1 per condition.

    Returns
    -------
    pandas.DataFrame
        Columns ``field, country, age, gender, ethnicity, value, share`` (``*`` = any); cached.

    See Also
    --------
    conditional_sampler : one field's table as a vectorised sampler.

    Example
    -------
    >>> t = conditional_table()
    >>> sorted(t["field"].unique())[:3]
    ['education', 'employment_status', 'english_proficiency']
    """
    text = resources.files("pluralis.census").joinpath("resources", "conditionals.csv").read_text("utf-8")
    t = pd.read_csv(StringIO(text), dtype=str, keep_default_na=False)
    t["share"] = t["share"].astype(float)
    return t


@dataclass(frozen=True)
class ConditionalSampler:
    """``P(value | condition)`` as a dense cumulative matrix for inverse-CDF sampling.

    ``depends`` lists the variables the field depends on (subset of ``age``, ``sex``,
    ``ethnicity_detailed``, the code arrays of :class:`CensusCells`); the condition index of a
    row is the mixed-radix code of those variables. Built by :func:`conditional_sampler`.

    Example
    -------
    >>> s = ConditionalSampler("x", "UK", ("age",), (2,), np.array([[0.5, 1.0], [0.0, 1.0]]))
    >>> s.sample({"age": np.array([0, 0, 1])}, np.array([0.2, 0.7, 0.2])).tolist()
    [0, 1, 1]
    """

    field: str
    country: str
    depends: tuple[str, ...]
    radix: tuple[int, ...]
    cumulative: np.ndarray  # (n_conditions, n_categories)

    def condition_index(self, codes: dict[str, np.ndarray], n: int) -> np.ndarray:
        """Row index into :attr:`cumulative` of each of ``n`` rows.

        Parameters
        ----------
        codes : dict of str to numpy.ndarray
            Integer codes per variable in :attr:`depends` (length ``n`` each).
        n : int
            Number of rows.

        Returns
        -------
        numpy.ndarray
            The mixed-radix condition code of each row.

        Example
        -------
        >>> s = ConditionalSampler("x", "UK", ("age", "sex"), (6, 2), np.ones((12, 1)))
        >>> s.condition_index({"age": np.array([0, 5]), "sex": np.array([1, 0])}, 2).tolist()
        [1, 10]
        """
        idx = np.zeros(n, dtype=np.int64)
        for var, r in zip(self.depends, self.radix):
            idx = idx * r + codes[var]
        return idx

    def sample(self, codes: dict[str, np.ndarray], u: np.ndarray) -> np.ndarray:
        """Category codes for rows with condition codes ``codes`` and uniforms ``u`` (inverse CDF).

        Parameters
        ----------
        codes : dict of str to numpy.ndarray
            Integer codes per variable in :attr:`depends`, one per row.
        u : numpy.ndarray
            One uniform draw in [0, 1) per row.

        Returns
        -------
        numpy.ndarray
            ``int8`` codes into the field's categories (:data:`FIELD_CATEGORIES`).

        Example
        -------
        >>> s = conditional_sampler("education", "UK")
        >>> s.sample({"age": np.array([0, 5])}, np.array([0.0, 0.0])).tolist()
        [0, 0]
        """
        cond = self.condition_index(codes, len(u))
        cum = self.cumulative[cond]
        out = (u[:, None] >= cum[:, :-1]).sum(axis=1)
        return out.astype(np.int8)


_VAR_LEVELS = {"age": vocab.AGE_BANDS, "gender": SEXES, "ethnicity": DETAILED_ETHNICITIES}
_VAR_CODE = {"age": "age", "gender": "sex", "ethnicity": "ethnicity_detailed"}


@lru_cache(maxsize=64)
def conditional_sampler(field: str, country: str) -> ConditionalSampler:
    """The sampler of one conditional field for one country.

    Parameters
    ----------
    field : str
        One of :data:`CONDITIONAL_FIELDS`.
    country : str
        ``"US"`` or ``"UK"`` (any spelling :func:`normalise_country` accepts).

    Returns
    -------
    ConditionalSampler
        The field's conditional distribution over the variables it depends on; conditions the
        table leaves out get the table's average. Cached.

    Example
    -------
    >>> s = conditional_sampler("education", "UK")
    >>> s.depends, s.cumulative.shape
    (('age',), (6, 8))
    """
    country = normalise_country(country)
    cats = FIELD_CATEGORIES[field]
    t = conditional_table()
    t = t[(t["field"] == field) & (t["country"].isin([country, "*"]))]
    if (t["country"] == country).any():
        t = t[t["country"] == country]
    if t.empty:  # pragma: no cover - every shipped field covers both countries
        raise ConfigError(f"no conditional table for {field!r} in {country}")
    bad = sorted(set(t["value"]) - set(cats))
    if bad:  # pragma: no cover
        raise ConfigError(f"conditionals.csv: {field}: unknown value(s) {bad}")
    depends = tuple(v for v in ("age", "gender", "ethnicity") if (t[v] != "*").any())
    levels = [_VAR_LEVELS[v] for v in depends]
    radix = tuple(len(lv) for lv in levels)
    n_cond = int(np.prod(radix)) if radix else 1
    probs = np.zeros((n_cond, len(cats)))
    filled = np.zeros(n_cond, dtype=bool)
    cat_index = {c: i for i, c in enumerate(cats)}
    for keys, g in t.groupby(list(depends) if depends else (lambda _: 0)):
        keys = keys if isinstance(keys, tuple) else (keys,)
        idx = 0
        if depends:
            for var, key, lv, r in zip(depends, keys, levels, radix):
                if key not in lv:  # pragma: no cover
                    raise ConfigError(f"conditionals.csv: {field}: unknown {var} {key!r}")
                idx = idx * r + lv.index(key)
        for v, s in zip(g["value"], g["share"]):
            probs[idx, cat_index[v]] += s
        filled[idx] = True
    if depends and not filled.all():
        # conditions the table leaves out (e.g. UK has no "Hispanic"): use the table's average
        probs[~filled] = probs[filled].mean(axis=0)
    probs /= probs.sum(axis=1, keepdims=True)
    cum = np.cumsum(probs, axis=1)
    cum[:, -1] = 1.0 + 1e-12
    return ConditionalSampler(field, country, tuple(_VAR_CODE[v] for v in depends), radix, cum)


def allocate(n: int, share: np.ndarray) -> np.ndarray:
    """Integer counts summing to ``n`` proportional to ``share`` (largest-remainder / Hamilton quota).

    Parameters
    ----------
    n : int
        Total to allocate.
    share : numpy.ndarray
        Non-negative shares (normalised here).

    Returns
    -------
    numpy.ndarray
        Integer counts, one per share, summing to ``n``.

    See Also
    --------
    allocate_joint : the same for a joint table whose margins must round too.

    Example
    -------
    >>> allocate(10, np.array([0.55, 0.3, 0.15])).tolist()
    [6, 3, 1]
    """
    raw = n * share / share.sum()
    base = np.floor(raw).astype(np.int64)
    rest = int(n - base.sum())
    if rest:
        order = np.argsort(-(raw - base), kind="stable")
        base[order[:rest]] += 1
    return base


def allocate_joint(n: int, share: np.ndarray, margins: list[np.ndarray]) -> np.ndarray:
    """Integer cell counts summing to ``n`` that round the joint table *and* its one-way margins.

    ``margins`` gives, per variable, each cell's category code. Every one-way margin ends within
    one person of its own largest-remainder quota (when the greedy search can reach it, which it
    does for census tables), and every cell within about one person of ``n * share``. Plain
    largest remainder on the joint cells alone lets margin errors add up across cells.

    Parameters
    ----------
    n : int
        Total to allocate.
    share : numpy.ndarray
        Non-negative cell shares (normalised here).
    margins : list of numpy.ndarray
        Per variable, the category code of each cell.

    Returns
    -------
    numpy.ndarray
        Integer cell counts summing to ``n``.

    Example
    -------
    >>> share = np.array([0.2, 0.3, 0.1, 0.4])
    >>> rows, cols = np.array([0, 0, 1, 1]), np.array([0, 1, 0, 1])
    >>> allocate_joint(7, share, [rows, cols]).tolist()
    [2, 2, 0, 3]
    """
    share = share / share.sum()
    raw = n * share
    counts = np.floor(raw).astype(np.int64)
    remainder = raw - counts
    targets = []
    for codes in margins:
        k = int(codes.max()) + 1
        targets.append(allocate(n, np.bincount(codes, weights=share, minlength=k)))
    current = [
        np.bincount(codes, weights=counts, minlength=len(t)).astype(np.int64) for codes, t in zip(margins, targets)
    ]
    rest = int(n - counts.sum())
    while rest > 0:
        deficit = np.zeros(len(share), dtype=np.int64)
        for codes, t, c in zip(margins, targets, current):
            deficit += (c < t)[codes]
        score = deficit * 10.0 + remainder  # prefer cells whose margins all still need people
        score[share <= 0] = -np.inf
        j = int(np.argmax(score))
        counts[j] += 1
        remainder[j] -= 1.0
        for codes, c in zip(margins, current):
            c[codes[j]] += 1
        rest -= 1
    return counts
