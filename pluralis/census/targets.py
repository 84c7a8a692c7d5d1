"""Census target distributions for the UK and US adult populations, shipped with Pluralis.

The package carries its own copy of the census tables PRISM used for its census-representative
samples (App. L), built by ``scripts/build_census_tables.py`` from the ONS 2021 (England & Wales)
and ACS 2022 (United States) source tables; see ``resources/SOURCES.md``. Nothing here reads
outside the package.

Two constructions of the US table (:data:`CONSTRUCTIONS`; the UK tables are the same in both):

- ``"disjoint"`` (default, ``census_targets.csv``): race x Hispanic origin disjoint, every adult
  counted once: 261.2 M adults, 60.4 % of them non-Hispanic White. White alone not Hispanic
  (B01001H) and Hispanic or Latino of any race (B01001I) are read exactly; the non-Hispanic
  adults of the other race groups are their race-alone tables less their Hispanic members,
  estimated per age x sex cell (``SOURCES.md`` gives the model and every number).
- ``"prism"`` (``census_targets_prism.csv``): PRISM's construction, kept for compatibility (it
  reproduces PRISM's rebalancing quotas and ``included_in_US_REP`` flags): the race-*alone* tables
  plus the Hispanic-or-Latino table (any race). Only the White table excludes Hispanics, so Hispanic
  Black/Asian/Mixed/Other adults are counted twice: 298,477,760 "adults" (about 260 M in truth) and
  52.9 % non-Hispanic White (about 60.4 %). Shares are relative to that total, exactly as in PRISM.

All categories are the strings Pluralis participants use:

- age: :data:`pluralis.data.vocab.AGE_BANDS` (``"18-24 years old"`` ... ``"65+ years old"``),
- gender: ``"Male"`` / ``"Female"`` (the census records sex; non-binary is not in the census),
- ethnicity: ``"census"`` scheme = :data:`pluralis.data.vocab.CENSUS_ETHNICITIES`
  (Asian/Black/Mixed/Other/White, PRISM App. L: in the US, Hispanic, Some Other Race, NHPI and
  AIAN fold into Other); ``"detailed"`` scheme = the same with ``"Hispanic"`` split out of Other
  for the US (strings of :data:`pluralis.data.vocab.ETHNICITY_SIMPLIFIED`); the UK census has no
  Hispanic category, so both schemes coincide there.

Main entry points: :func:`joint_distribution`, :func:`margins`, :func:`cell_percentages` (PRISM's
census cell table), :func:`census_cells` (the cells coded for persona sampling) and
:func:`map_categories` (a survey's own codings -> the census categories).

Example
-------
>>> adult_total("US"), adult_total("US", construction="prism")
(261227723, 298477760)
>>> round(float(margins("US", "detailed")["ethnicity"]["White"]), 3)
0.604
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from io import StringIO
from typing import Any

import numpy as np
import pandas as pd

from pluralis.data import vocab
from pluralis.errors import ConfigError

__all__ = [
    "CONSTRUCTIONS",
    "ACCEPTED_ANSWERS",
    "AGE_EDGES",
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
    "check_construction",
    "ethnicity_categories",
    "joint_distribution",
    "map_categories",
    "margins",
    "normalise_country",
    "unknown_values_error",
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
#: Constructions of the US table: race x Hispanic origin disjoint (default), or PRISM's (double counts).
CONSTRUCTIONS: tuple[str, ...] = ("disjoint", "prism")
_VARIABLES = ("age", "gender", "ethnicity")
_FILES = {"disjoint": "census_targets.csv", "prism": "census_targets_prism.csv"}


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


def check_construction(construction: str) -> str:
    """Return ``construction`` if it is one of :data:`CONSTRUCTIONS`; raise :class:`ConfigError` otherwise.

    Parameters
    ----------
    construction : str
        ``"disjoint"`` (race x Hispanic origin disjoint, the default) or ``"prism"`` (PRISM's table).

    Returns
    -------
    str
        The construction.

    Example
    -------
    >>> check_construction("prism")
    'prism'
    >>> check_construction("acs")
    Traceback (most recent call last):
    ...
    pluralis.errors.ConfigError: unknown census construction 'acs'; expected 'disjoint' (race x Hispanic origin disjoint, the default) or 'prism' (PRISM's table, which counts Hispanic adults of a non-White race twice)
    """
    if construction not in CONSTRUCTIONS:
        raise ConfigError(
            f"unknown census construction {construction!r}; expected 'disjoint' (race x Hispanic origin disjoint, "
            "the default) or 'prism' (PRISM's table, which counts Hispanic adults of a non-White race twice)"
        )
    return construction


@lru_cache(maxsize=2)
def _raw(construction: str) -> pd.DataFrame:
    text = resources.files("pluralis.census").joinpath("resources", _FILES[construction]).read_text("utf-8")
    return pd.read_csv(StringIO(text), dtype={"count": "int64"})


def census_table(country: str | None = None, construction: str = "disjoint") -> pd.DataFrame:
    """The shipped table: adult head counts by country x age band x sex x source census group.

    Columns: ``country, age, gender, census_group, source_table, ethnicity, ethnicity_detailed, count``.

    Parameters
    ----------
    country : str, optional
        ``"US"`` or ``"UK"``; ``None`` gives both countries.
    construction : {"disjoint", "prism"}
        The US table: race x Hispanic origin disjoint (default), or PRISM's construction, which
        counts Hispanic adults of a non-White race twice (the UK tables are the same in both).

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
    >>> sorted(census_table("US", construction="prism")["census_group"])[0]
    'American Indian and Alaska Native alone'
    """
    table = _raw(check_construction(construction))
    if country is not None:
        table = table[table["country"] == normalise_country(country)]
    return table.reset_index(drop=True).copy()


def adult_total(country: str, construction: str = "disjoint") -> int:
    """Total adults (18+) in the census table of ``country``.

    Parameters
    ----------
    country : str
        ``"US"`` or ``"UK"`` (any spelling :func:`normalise_country` accepts).
    construction : {"disjoint", "prism"}
        The US table (see :func:`census_table`); PRISM's gives the total of its Fig. 8 caption.

    Returns
    -------
    int
        The sum of the table's head counts.

    Example
    -------
    >>> adult_total("US"), adult_total("US", "prism"), adult_total("UK")
    (261227723, 298477760, 47204870)
    """
    return int(census_table(country, construction)["count"].sum())


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
    country: str,
    ethnicity: str = "census",
    by: tuple[str, ...] | list[str] = _VARIABLES,
    construction: str = "disjoint",
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
    construction : {"disjoint", "prism"}
        The US table (see :func:`census_table`).

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
    table = census_table(country, construction)
    if ethnicity == "detailed":
        table["ethnicity"] = table["ethnicity_detailed"]
    counts = table.groupby(by, sort=False)["count"].sum()
    index = pd.MultiIndex.from_product([cats[v] for v in by], names=by)
    counts = counts.reindex(index, fill_value=0).astype("int64")
    out = counts.reset_index()
    out["share"] = out["count"] / out["count"].sum()
    return out


def margins(country: str, ethnicity: str = "census", construction: str = "disjoint") -> dict[str, pd.Series]:
    """One-way census margins (shares summing to 1) for ``age``, ``gender`` and ``ethnicity``.

    Parameters
    ----------
    country : str
        ``"US"`` or ``"UK"`` (any spelling :func:`normalise_country` accepts).
    ethnicity : {"census", "detailed"}
        Ethnicity scheme: PRISM's 5 groups, or with US Hispanic split out.
    construction : {"disjoint", "prism"}
        The US table (see :func:`census_table`).

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
        j = joint_distribution(country, ethnicity, by=(var,), construction=construction)
        out[var] = pd.Series(j["share"].to_numpy(), index=pd.Index(j[var], name=var), name="share")
    return out


def cell_percentages(country: str, ethnicity: str = "census", construction: str = "disjoint") -> pd.DataFrame:
    """PRISM's census cell table (App. L notebook): percentages of all adults per cell.

    Parameters
    ----------
    country : str
        ``"US"`` or ``"UK"`` (any spelling :func:`normalise_country` accepts).
    ethnicity : str
        Ethnicity scheme, ``"census"`` (PRISM's 5 groups) or ``"detailed"``.
    construction : {"disjoint", "prism"}
        The US table (see :func:`census_table`); ``"prism"`` gives PRISM's quotas.

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
    j = joint_distribution(country, ethnicity, construction=construction)
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


@lru_cache(maxsize=8)
def census_cells(country: str, construction: str = "disjoint") -> CensusCells:
    """The census cells of ``country`` with a positive count, as integer-coded arrays.

    Personas are drawn from these cells, so age x sex x ethnicity follow the census jointly.

    Parameters
    ----------
    country : str
        ``"US"`` or ``"UK"`` (any spelling :func:`normalise_country` accepts).
    construction : {"disjoint", "prism"}
        The US table (see :func:`census_table`).

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
    t = census_table(country, construction)
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


# --- mapping a survey's own codings onto the census categories ------------------------------------

#: Lower bound of each age band of :data:`pluralis.data.vocab.AGE_BANDS` (numeric ages -> bands).
AGE_EDGES: tuple[int, ...] = (18, 25, 35, 45, 55, 65)
_MAP_HINT = "map them first (see pluralis.census.targets.map_categories)"
_GENDER_ALIASES = {
    "m": "Male",
    "man": "Male",
    "men": "Male",
    "f": "Female",
    "woman": "Female",
    "women": "Female",
    "non-binary": "Non-binary / third gender",
    "nonbinary": "Non-binary / third gender",
    "non binary": "Non-binary / third gender",
    "third gender": "Non-binary / third gender",
}
_ETHNICITY_ALIASES = {
    "black": "Black / African",
    "african": "Black / African",
    "african american": "Black / African",
    "hispanic": "Hispanic / Latino",
    "latino": "Hispanic / Latino",
    "latina": "Hispanic / Latino",
    "latinx": "Hispanic / Latino",
    "hispanic or latino": "Hispanic / Latino",
    "middle eastern": "Middle Eastern / Arab",
    "arab": "Middle Eastern / Arab",
    "indigenous": "Indigenous / First Peoples",
    "first peoples": "Indigenous / First Peoples",
    "native american": "Indigenous / First Peoples",
    "mixed race": "Mixed",
    "multiracial": "Mixed",
}
#: The answers each survey column may hold (census categories plus the answers outside the census,
#: e.g. "Prefer not to say", which get no census cell but are not errors).
ACCEPTED_ANSWERS: dict[str, tuple[str, ...]] = {
    "age": vocab.AGES,
    "gender": vocab.GENDERS,
    "ethnicity_categorised": vocab.ETHNICITY_CATEGORISED,
    "ethnicity_simplified": vocab.ETHNICITY_SIMPLIFIED,
}


def _key(value: Any) -> str:
    """Case- and space-insensitive form of a label (dashes unified)."""
    return re.sub(r"\s+", " ", str(value).strip().lower().replace("\u2013", "-").replace("\u2014", "-"))


def unknown_values_error(column: str, values: pd.Series, accepted: Sequence[str]) -> ConfigError | None:
    """The error for answers of ``column`` that are not accepted categories (``None`` when all are).

    Missing values are not counted (they are unclassified, not wrong).

    Parameters
    ----------
    column : str
        The survey column (named in the message).
    values : pandas.Series
        Its answers.
    accepted : sequence of str
        The categories it may hold.

    Returns
    -------
    ConfigError or None
        Naming the column, how many values are unknown, the expected categories and a few of the
        unknown values, with the hint to :func:`map_categories`.

    Example
    -------
    >>> print(unknown_values_error("age", pd.Series([37, "18-24 years old", 52]), vocab.AGE_BANDS))
    age: 2 of 3 values not in the census categories ('18-24 years old', '25-34 years old', '35-44 years old', '45-54 years old', '55-64 years old', '65+ years old'), e.g. 37, 52; map them first (see pluralis.census.targets.map_categories)
    """
    present = values[values.notna()]
    bad = present[~present.isin(list(accepted))]
    if bad.empty:
        return None
    examples = ", ".join(str(v) for v in pd.unique(bad.astype(object))[:5])
    return ConfigError(
        f"{column}: {len(bad)} of {len(values)} values not in the census categories "
        f"({', '.join(repr(c) for c in accepted)}), e.g. {examples}; {_MAP_HINT}"
    )


def _age_band(value: Any) -> str | None:
    """The age band of a number, a band label in any case, or a short form ("18-24", "65+")."""
    if isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool):
        number: float | None = float(value)
    else:
        key = _key(value)
        for band in vocab.AGES:
            if key == _key(band):
                return band
        found = re.fullmatch(r"(\d+)\s*(?:-|to)\s*(\d+)(?: years?(?: old)?)?", key)
        if found:
            lo, hi = int(found.group(1)), int(found.group(2))
            for band, b_lo, b_hi in zip(vocab.AGE_BANDS, AGE_EDGES, (*AGE_EDGES[1:], 200)):
                if lo == b_lo and hi == b_hi - 1:
                    return band
            return None
        if re.fullmatch(r"65 ?(?:\+|or (?:over|older)|and (?:over|older))(?: years?(?: old)?)?", key):
            return vocab.AGE_BANDS[-1]
        try:
            number = float(key)
        except ValueError:
            return None
    if number is None or not np.isfinite(number) or number < AGE_EDGES[0] or number != np.floor(number):
        return None
    return vocab.AGE_BANDS[int(np.searchsorted(AGE_EDGES, number, side="right")) - 1]


def _label(value: Any, accepted: Sequence[str], aliases: Mapping[str, str]) -> str | None:
    key = _key(value)
    for category in accepted:
        if key == _key(category):
            return category
    return aliases.get(key)


def map_categories(
    survey: pd.DataFrame,
    *,
    columns: Sequence[str] | None = None,
    aliases: Mapping[str, Mapping[Any, str]] | None = None,
    errors: str = "raise",
) -> pd.DataFrame:
    """A copy of ``survey`` with age, gender and ethnicity answers mapped onto the census categories.

    What the census functions (weights, representativeness, rebalancing) need is Pluralis's answer
    vocabulary (:data:`ACCEPTED_ANSWERS`); surveys coded otherwise are mapped here:

    - ``age``: numeric ages (``37``, ``"52"``) -> their band (ages below 18 stay unmapped); band
      labels in any case or short form (``"18-24"``, ``"25 to 34"``, ``"65+"``) -> the band;
    - ``gender``: labels in any case, and ``m``/``f``/``man``/``woman``/``non-binary``;
    - ``ethnicity_categorised`` / ``ethnicity_simplified``: labels in any case, and common
      aliases (``"black"`` -> ``"Black / African"``, ``"latino"`` -> ``"Hispanic / Latino"``, ...).

    ``aliases`` maps raw answers per column first (``{"gender": {"W": "Female"}}``). Missing
    values stay missing.

    Parameters
    ----------
    survey : pandas.DataFrame
        One row per participant.
    columns : sequence of str, optional
        The columns to map (default: those of ``age``, ``gender``, ``ethnicity_categorised``,
        ``ethnicity_simplified`` the survey has).
    aliases : mapping, optional
        Extra ``{column: {raw answer: category}}`` mappings, applied before the built-in ones.
    errors : {"raise", "keep"}
        Answers that still match no category raise :class:`ConfigError` (naming the column, the
        count and the expected categories), or are kept as they are.

    Returns
    -------
    pandas.DataFrame
        The survey with the mapped columns replaced.

    See Also
    --------
    pluralis.census.weights.census_weights : needs the mapped categories.

    Example
    -------
    >>> s = pd.DataFrame({"age": [37, "18-24", "65 or over"], "gender": ["male", "F", "Female"],
    ...                   "ethnicity_categorised": ["white", "Latino", "Black"]})
    >>> m = map_categories(s)
    >>> m["age"].tolist()
    ['35-44 years old', '18-24 years old', '65+ years old']
    >>> m["gender"].tolist(), m["ethnicity_categorised"].tolist()
    (['Male', 'Female', 'Female'], ['White', 'Hispanic / Latino', 'Black / African'])
    >>> map_categories(pd.DataFrame({"age": [12, 30]}))
    Traceback (most recent call last):
    ...
    pluralis.errors.ConfigError: age: 1 of 2 values not in the census categories ('18-24 years old', '25-34 years old', '35-44 years old', '45-54 years old', '55-64 years old', '65+ years old', 'Prefer not to say'), e.g. 12; map them first (see pluralis.census.targets.map_categories)
    """
    if errors not in ("raise", "keep"):
        raise ConfigError(f"errors must be 'raise' or 'keep', got {errors!r}")
    cols = [c for c in ACCEPTED_ANSWERS if c in survey.columns] if columns is None else list(columns)
    unknown = [c for c in cols if c not in ACCEPTED_ANSWERS]
    if unknown:
        raise ConfigError(f"cannot map column(s) {unknown}; map_categories knows {', '.join(ACCEPTED_ANSWERS)}")
    missing = [c for c in cols if c not in survey.columns]
    if missing:
        raise ConfigError(f"survey has no column(s) {missing}")
    extra = dict(aliases or {})
    out = survey.copy()
    for col in cols:
        accepted = ACCEPTED_ANSWERS[col]
        own = {_key(k): v for k, v in extra.get(col, {}).items()}
        builtin = _GENDER_ALIASES if col == "gender" else _ETHNICITY_ALIASES if col.startswith("ethnicity") else {}
        if col == "ethnicity_simplified":
            builtin = {k: vocab.ETHNICITY_SIMPLIFY[v] for k, v in builtin.items()}
        values = survey[col]
        uniques = pd.unique(values[values.notna()].astype(object))
        lookup: dict[Any, Any] = {}
        for raw in uniques:  # one lookup per distinct answer, then one vectorised map
            mapped = own.get(_key(raw))
            if mapped is None:
                mapped = _age_band(raw) if col == "age" else _label(raw, accepted, builtin)
            lookup[raw] = mapped if mapped is not None else raw
        new = values.astype(object).map(lookup).where(values.notna(), values)
        if errors == "raise":
            err = unknown_values_error(col, new, accepted)
            if err is not None:
                raise err
        out[col] = new
    return out
