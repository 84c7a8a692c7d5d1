"""Census target distributions for the UK and US adult populations, shipped with Pluralis.

The package carries its own copy of the census tables PRISM used for its census-representative
samples (App. L): ``census_targets.csv``, built by ``scripts/build_census_tables.py`` from the
ONS 2021 (England & Wales) and ACS 2022 (United States) source tables; see ``SOURCES.md``.
Nothing here reads outside the package.

All categories are the strings Pluralis participants use:

- age: :data:`pluralis.data.vocab.AGE_BANDS` (``"18-24 years old"`` ... ``"65+ years old"``),
- gender: ``"Male"`` / ``"Female"`` (the census records sex; non-binary is not in the census),
- ethnicity: ``"census"`` scheme = :data:`pluralis.data.vocab.CENSUS_ETHNICITIES`
  (Asian/Black/Mixed/Other/White, PRISM App. L: in the US, Hispanic, Some Other Race, NHPI and
  AIAN fold into Other); ``"detailed"`` scheme = the same with ``"Hispanic"`` split out of Other
  for the US (strings of :data:`pluralis.data.vocab.ETHNICITY_SIMPLIFIED`); the UK census has no
  Hispanic category, so both schemes coincide there.

Main entry points: :func:`joint_distribution`, :func:`margins`, :func:`cell_percentages` (PRISM's
census cell table) and :func:`census_cells` (the cells coded for persona sampling).

Caveat (kept for fidelity with PRISM): the US race tables are race-*alone* tables plus the
Hispanic-or-Latino table (any race). Only the White table excludes Hispanics, so Hispanic
Black/Asian/Mixed/Other people are counted twice and the US "adult total" (298,477,760) exceeds
the real adult population (~260 M). Shares are relative to that total, exactly as in PRISM.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from io import StringIO

import numpy as np
import pandas as pd

from pluralis.data import vocab
from pluralis.errors import ConfigError

__all__ = [
    "COUNTRIES",
    "DETAILED_ETHNICITIES",
    "ETHNICITY_SCHEMES",
    "GENDERS",
    "ISO3",
    "CensusCells",
    "adult_total",
    "categories",
    "cell_percentages",
    "census_cells",
    "census_table",
    "ethnicity_categories",
    "joint_distribution",
    "margins",
    "normalise_country",
]

#: Countries with census targets (in this order, the country codes of generated personas).
COUNTRIES: tuple[str, ...] = ("US", "UK")
#: ISO 3166 alpha-3 code of each country (PRISM's ``location_reside_countryISO``).
ISO3: dict[str, str] = {"US": "USA", "UK": "GBR"}
#: Census sexes, in the participant vocabulary.
GENDERS: tuple[str, ...] = tuple(g for g in vocab.GENDERS if g in ("Male", "Female"))
#: Ethnicity schemes: ``census`` (PRISM's 5 groups) and ``detailed`` (US Hispanic split out).
ETHNICITY_SCHEMES: tuple[str, ...] = ("census", "detailed")
#: The ``detailed`` scheme's categories (the census scheme with US Hispanic split out).
DETAILED_ETHNICITIES: tuple[str, ...] = ("Asian", "Black", "Hispanic", "Mixed", "Other", "White")

_ALIASES = {
    "uk": "UK",
    "gb": "UK",
    "gbr": "UK",
    "united kingdom": "UK",
    "england and wales": "UK",
    "us": "US",
    "usa": "US",
    "united states": "US",
    "united states of america": "US",
}
_VARIABLES = ("age", "gender", "ethnicity")
_FILE = "census_targets.csv"


def normalise_country(country: str) -> str:
    """Map a country name or code to ``"UK"`` or ``"US"``; raise :class:`ConfigError` otherwise.

    Parameters
    ----------
    country : str
        A name or code: ``"us"``, ``"USA"``, ``"United States"``, ``"gb"``, ``"England and Wales"``, ...

    Returns
    -------
    str
        ``"US"`` or ``"UK"``.

    Example
    -------
    >>> normalise_country("us"), normalise_country("United Kingdom")
    ('US', 'UK')
    """
    key = str(country).strip().lower()
    if key not in _ALIASES:
        raise ConfigError(
            f"unknown country {country!r}: the package has census targets (for weights, samples and "
            f"personas) for {' and '.join(COUNTRIES)} only"
        )
    return _ALIASES[key]


@lru_cache(maxsize=1)
def _raw() -> pd.DataFrame:
    text = resources.files("pluralis.census").joinpath("resources", _FILE).read_text("utf-8")
    return pd.read_csv(StringIO(text), dtype={"count": "int64"})


def census_table(country: str | None = None) -> pd.DataFrame:
    """The shipped table: adult head counts by country x age band x sex x source census group.

    Columns: ``country, age, gender, census_group, source_table, ethnicity, ethnicity_detailed, count``.

    Parameters
    ----------
    country : str, optional
        ``"US"`` or ``"UK"``; ``None`` gives both countries.

    Returns
    -------
    pandas.DataFrame
        A copy of the table (the cached original is never handed out).

    See Also
    --------
    joint_distribution : the counts aggregated over chosen variables, with shares.

    Example
    -------
    >>> t = census_table("UK")
    >>> int(t["count"].sum())
    47204870
    """
    table = _raw()
    if country is not None:
        table = table[table["country"] == normalise_country(country)]
    return table.reset_index(drop=True).copy()


def adult_total(country: str) -> int:
    """Total adults (18+) in the census table of ``country`` (App. L, Fig. 8 caption).

    Parameters
    ----------
    country : str
        ``"US"`` or ``"UK"`` (any spelling :func:`normalise_country` accepts).

    Returns
    -------
    int
        The sum of the table's head counts.

    Example
    -------
    >>> adult_total("US")
    298477760
    """
    return int(census_table(country)["count"].sum())


def ethnicity_categories(country: str, ethnicity: str = "census") -> tuple[str, ...]:
    """Ethnicity categories of a scheme for a country, in canonical order.

    Parameters
    ----------
    country : str
        ``"US"`` or ``"UK"`` (any spelling :func:`normalise_country` accepts).
    ethnicity : {"census", "detailed"}
        Ethnicity scheme: PRISM's 5 groups, or with US Hispanic split out.

    Returns
    -------
    tuple of str
        The categories.

    Example
    -------
    >>> ethnicity_categories("US", "detailed")
    ('Asian', 'Black', 'Hispanic', 'Mixed', 'Other', 'White')
    >>> ethnicity_categories("UK", "detailed")
    ('Asian', 'Black', 'Mixed', 'Other', 'White')
    """
    country = normalise_country(country)
    if ethnicity not in ETHNICITY_SCHEMES:
        raise ConfigError(f"unknown ethnicity scheme {ethnicity!r}; expected one of {', '.join(ETHNICITY_SCHEMES)}")
    if ethnicity == "detailed" and country == "US":
        return DETAILED_ETHNICITIES
    return tuple(vocab.CENSUS_ETHNICITIES)


def categories(country: str, ethnicity: str = "census") -> dict[str, tuple[str, ...]]:
    """Category levels per variable (``age``, ``gender``, ``ethnicity``) in canonical order.

    Parameters
    ----------
    country : str
        ``"US"`` or ``"UK"`` (any spelling :func:`normalise_country` accepts).
    ethnicity : {"census", "detailed"}
        Ethnicity scheme: PRISM's 5 groups, or with US Hispanic split out.

    Returns
    -------
    dict of str to tuple of str
        ``{"age": ..., "gender": ..., "ethnicity": ...}``.

    Example
    -------
    >>> categories("UK")["gender"]
    ('Male', 'Female')
    """
    return {"age": tuple(vocab.AGE_BANDS), "gender": GENDERS, "ethnicity": ethnicity_categories(country, ethnicity)}


def joint_distribution(
    country: str, ethnicity: str = "census", by: tuple[str, ...] | list[str] = _VARIABLES
) -> pd.DataFrame:
    """Census joint distribution of adults over ``by`` (default age band x gender x ethnicity).

    Returns a DataFrame with one row per cell (every combination, in canonical order), columns
    ``[*by, "count", "share"]``; ``share`` sums to 1. Use ``ethnicity="detailed"`` for the US
    Hispanic split. A personas module can sample synthetic participants from it directly:
    ``df.sample(n, weights="share", replace=True)``.

    Parameters
    ----------
    country : str
        ``"US"`` or ``"UK"`` (any spelling :func:`normalise_country` accepts).
    ethnicity : {"census", "detailed"}
        Ethnicity scheme: PRISM's 5 groups, or with US Hispanic split out.
    by : sequence of str
        A non-empty subset of ``age``, ``gender``, ``ethnicity``.

    Returns
    -------
    pandas.DataFrame
        One row per cell: ``[*by, "count", "share"]``.

    See Also
    --------
    margins : the one-way margins.
    cell_percentages : PRISM's wide cell table.

    Example
    -------
    >>> j = joint_distribution("US")
    >>> list(j.columns), len(j)
    (['age', 'gender', 'ethnicity', 'count', 'share'], 60)
    >>> round(float(j["share"].sum()), 12)
    1.0
    """
    country = normalise_country(country)
    by = list(by)
    unknown = [v for v in by if v not in _VARIABLES]
    if unknown or not by:
        raise ConfigError(f"unknown census variable(s) {unknown or by}; expected a subset of {list(_VARIABLES)}")
    cats = categories(country, ethnicity)
    table = census_table(country)
    if ethnicity == "detailed":
        table["ethnicity"] = table["ethnicity_detailed"]
    counts = table.groupby(by, sort=False)["count"].sum()
    index = pd.MultiIndex.from_product([cats[v] for v in by], names=by)
    counts = counts.reindex(index, fill_value=0).astype("int64")
    out = counts.reset_index()
    out["share"] = out["count"] / out["count"].sum()
    return out


def margins(country: str, ethnicity: str = "census") -> dict[str, pd.Series]:
    """One-way census margins (shares summing to 1) for ``age``, ``gender`` and ``ethnicity``.

    Parameters
    ----------
    country : str
        ``"US"`` or ``"UK"`` (any spelling :func:`normalise_country` accepts).
    ethnicity : {"census", "detailed"}
        Ethnicity scheme: PRISM's 5 groups, or with US Hispanic split out.

    Returns
    -------
    dict of str to pandas.Series
        Shares indexed by category, per variable.

    See Also
    --------
    joint_distribution : the joint cells.

    Example
    -------
    >>> m = margins("UK")
    >>> sorted(m), round(float(m["gender"].sum()), 12)
    (['age', 'ethnicity', 'gender'], 1.0)
    >>> m["age"].index[0]
    '18-24 years old'
    """
    out = {}
    for var in _VARIABLES:
        j = joint_distribution(country, ethnicity, by=(var,))
        out[var] = pd.Series(j["share"].to_numpy(), index=pd.Index(j[var], name=var), name="share")
    return out


def cell_percentages(country: str, ethnicity: str = "census") -> pd.DataFrame:
    """PRISM's census cell table (App. L notebook): percentages of all adults per cell.

    Parameters
    ----------
    country : str
        ``"US"`` or ``"UK"`` (any spelling :func:`normalise_country` accepts).
    ethnicity : str
        Ethnicity scheme, ``"census"`` (PRISM's 5 groups) or ``"detailed"``.

    Returns
    -------
    pandas.DataFrame
        Index = age band; columns ``"{ethnicity}_{gender}"`` (e.g. ``"Asian_Female"``) plus
        ``All``, ``All_Male`` and ``All_Female``; values in percent, summing to 100 over the cells.

    See Also
    --------
    census_cells : the same census, cell by cell, coded for persona sampling.
    pluralis.census.weights.census_rebalance : PRISM's rebalancing quotas from this table.

    Example
    -------
    >>> c = cell_percentages("UK")
    >>> c.shape, round(float(c["All"].sum()), 9)
    ((6, 13), 100.0)
    """
    j = joint_distribution(country, ethnicity)
    j["cell"] = j["ethnicity"] + "_" + j["gender"]
    cats = categories(country, ethnicity)
    cols = [f"{e}_{g}" for g in ("Female", "Male") for e in cats["ethnicity"]]
    wide = j.pivot(index="age", columns="cell", values="share").reindex(index=list(cats["age"]), columns=cols) * 100
    wide["All"] = wide[cols].sum(axis=1)
    wide["All_Male"] = wide[[c for c in cols if c.endswith("_Male")]].sum(axis=1)
    wide["All_Female"] = wide[[c for c in cols if c.endswith("_Female")]].sum(axis=1)
    wide.columns.name = None
    return wide


@dataclass(frozen=True)
class CensusCells:
    """The census cells of one country: one entry per (age band, sex, source census group).

    ``age``, ``sex``, ``ethnicity`` (5-group census scheme) and ``ethnicity_detailed`` (US
    Hispanic split out) are integer codes into :data:`pluralis.data.vocab.AGE_BANDS`,
    :data:`GENDERS`, :data:`pluralis.data.vocab.CENSUS_ETHNICITIES` and
    :data:`DETAILED_ETHNICITIES`; ``group`` names the source census group, ``count`` its adults
    and ``share`` (summing to 1) its share of all adults. Built by :func:`census_cells`.

    Example
    -------
    >>> c = census_cells("UK")
    >>> GENDERS[c.sex[0]], vocab.AGE_BANDS[c.age[0]], int(c.count.sum()) == adult_total("UK")
    ('Female', '18-24 years old', True)
    """

    country: str
    age: np.ndarray
    sex: np.ndarray
    ethnicity: np.ndarray
    ethnicity_detailed: np.ndarray
    group: np.ndarray
    count: np.ndarray
    share: np.ndarray


@lru_cache(maxsize=4)
def census_cells(country: str) -> CensusCells:
    """The census cells of ``country`` with a positive count, as integer-coded arrays.

    Personas are drawn from these cells, so age x sex x ethnicity follow the census jointly.

    Parameters
    ----------
    country : str
        ``"US"`` or ``"UK"`` (any spelling :func:`normalise_country` accepts).

    Returns
    -------
    CensusCells
        One entry per (age band, sex, source census group); cached, do not modify the arrays.

    See Also
    --------
    cell_percentages : PRISM's age x ethnicity x gender percentage table.
    joint_distribution : the census over any subset of age, gender and ethnicity.

    Example
    -------
    >>> c = census_cells("US")
    >>> len(c.share), round(float(c.share.sum()), 12)
    (96, 1.0)
    """
    country = normalise_country(country)
    t = census_table(country)
    t = t[t["count"] > 0].reset_index(drop=True)
    age = pd.Categorical(t["age"], categories=vocab.AGE_BANDS).codes
    sex = pd.Categorical(t["gender"], categories=GENDERS).codes
    eth = pd.Categorical(t["ethnicity"], categories=vocab.CENSUS_ETHNICITIES).codes
    det = pd.Categorical(t["ethnicity_detailed"], categories=DETAILED_ETHNICITIES).codes
    if min(age.min(), sex.min(), eth.min(), det.min()) < 0:  # pragma: no cover - guards a rebuilt table
        raise ConfigError(f"census table of {country} has categories outside the participant vocabularies")
    count = t["count"].to_numpy(dtype=np.int64)
    return CensusCells(
        country=country,
        age=age.astype(np.int8),
        sex=sex.astype(np.int8),
        ethnicity=eth.astype(np.int8),
        ethnicity_detailed=det.astype(np.int8),
        group=t["census_group"].to_numpy(dtype=object),
        count=count,
        share=count / count.sum(),
    )
