"""Who sits in the seat of power, and for whom: groups, sampling schemes, populations (PRISM App. U).

A :class:`Group` is a named filter on the survey frame; a :class:`Scheme` ``(pool, n)`` draws
``n`` participants from a pool group; populations are the groups whose welfare is measured.
PRISM's set (:data:`PRISM_SCHEMES`, :data:`PRISM_POPULATIONS`) is the default of the analysis.

:func:`resolve` turns schemes and populations into participant ids within a country's analysis
sample (:func:`country_sample`), with optional participant weights, and checks everything a
draw needs before any draw is made: the first step of :func:`pluralis.welfare.engine.run_welfare`.

Example
-------
>>> import pandas as pd
>>> survey = pd.DataFrame({"user_id": ["a", "b", "c"], "gender": ["Male", "Female", "Female"]})
>>> design = resolve(survey, [Scheme("Women (2)", Group("Women", {"gender": "Female"}), 2)],
...                  [Group("Everyone")], country=None)
>>> design.pools[0].ids.tolist(), design.populations["Everyone"].tolist()
(['b', 'c'], ['a', 'b', 'c'])
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from pluralis.census.targets import ISO3, normalise_country
from pluralis.census.weights import census_rebalance, census_weights
from pluralis.data import vocab
from pluralis.errors import ConfigError
from pluralis.welfare._validation import OneOf

__all__ = [
    "PRISM_POPULATIONS",
    "PRISM_SCHEMES",
    "REFERENCE_SCHEME",
    "PRISM_DESIGN_FIELDS",
    "SAMPLES",
    "Design",
    "Filter",
    "Group",
    "Pool",
    "Scheme",
    "country_sample",
    "design_from_fields",
    "resolve",
]

#: How the analysis sample of a country is found (see :func:`country_sample`).
SAMPLES: tuple[str, ...] = ("auto", "rep", "rebalance", "locale")
_ABOVE_45 = tuple(a for a in vocab.AGE_BANDS if a in ("45-54 years old", "55-64 years old", "65+ years old"))

#: A group filter: ``{column: value or values}``, a pandas query string, a function
#: ``survey -> bool array``, or ``None`` (everyone).
Filter = Mapping[str, Any] | str | Callable[[pd.DataFrame], Any] | None


# --- groups and schemes --------------------------------------------------------------------------


def _columns_hint(survey: pd.DataFrame) -> str:
    cols = sorted(str(c) for c in survey.columns if not str(c).startswith(("order_", "lm_usecases")))
    return "survey columns include " + ", ".join(cols[:40]) + (", ..." if len(cols) > 40 else "")


def _row_mask(mask: Any, n: int) -> np.ndarray | None:
    """``mask`` as a boolean array of length ``n``, or None when it is not one."""
    out = np.asarray(mask)
    return out if out.dtype == bool and out.shape == (n,) else None


def _query_mask(survey: pd.DataFrame, spec: str, what: str) -> np.ndarray:
    try:
        mask = survey.eval(spec)
    except pd.errors.UndefinedVariableError as err:
        found = re.search(r"name '([^']+)' is not defined", str(err))
        name = found.group(1) if found else str(err)
        raise ConfigError(
            f"{what}: cannot evaluate filter {spec!r}: unknown field {name!r}; " + _columns_hint(survey)
        ) from None
    except Exception as err:  # SyntaxError, TypeError, ...
        raise ConfigError(f"{what}: cannot evaluate filter {spec!r}: {err}") from None
    out = _row_mask(mask, len(survey))
    if out is None:
        raise ConfigError(f"{what}: filter {spec!r} is not a row-wise condition")
    return out


def _membership_mask(survey: pd.DataFrame, spec: Mapping[str, Any], what: str) -> np.ndarray:
    mask = np.ones(len(survey), dtype=bool)
    for column, value in spec.items():
        if column not in survey.columns:
            raise ConfigError(f"{what}: unknown field {column!r}; " + _columns_hint(survey))
        values = list(value) if isinstance(value, (list, tuple, set, frozenset)) else [value]
        mask &= survey[column].isin(values).to_numpy()
    return mask


def _match(survey: pd.DataFrame, spec: Filter, what: str) -> np.ndarray:
    """Boolean mask of survey rows matching a filter spec."""
    if spec is None:
        return np.ones(len(survey), dtype=bool)
    if isinstance(spec, str):
        return _query_mask(survey, spec, what)
    if isinstance(spec, Mapping):
        return _membership_mask(survey, spec, what)
    if callable(spec):
        out = _row_mask(spec(survey), len(survey))
        if out is None:
            raise ConfigError(f"{what}: filter function must return a boolean array of length {len(survey)}")
        return out
    raise ConfigError(f"{what}: filter must be a mapping, a query string or a function, got {type(spec).__name__}")


@dataclass(frozen=True)
class Group:
    """A named sub-population of the survey: rows matching ``where`` and not matching ``exclude``.

    Each filter is a mapping ``{column: value or list of values}`` (membership), a pandas
    query string (``"age == '18-24 years old'"``) or a function ``survey -> bool array``;
    ``None`` matches everyone. Groups are always taken within the analysis sample (e.g. US-REP).

    Example
    -------
    >>> import pandas as pd
    >>> s = pd.DataFrame({"gender": ["Male", "Female", "Prefer not to say"]})
    >>> Group("Non-male", exclude={"gender": "Male"}).mask(s).tolist()
    [False, True, True]
    """

    name: str
    where: Filter = None
    exclude: Filter = None

    def mask(self, survey: pd.DataFrame) -> np.ndarray:
        """Boolean mask of the survey rows in this group.

        Parameters
        ----------
        survey : pandas.DataFrame
            The survey frame (or the analysis sample).

        Returns
        -------
        numpy.ndarray
            One boolean per row.

        Example
        -------
        >>> import pandas as pd
        >>> Group("Young", "age == '18-24 years old'").mask(pd.DataFrame({"age": ["18-24 years old", "65+ years old"]})).tolist()
        [True, False]
        """
        m = _match(survey, self.where, f"group {self.name!r}")
        if self.exclude is not None:
            m = m & ~_match(survey, self.exclude, f"group {self.name!r}")
        return m


@dataclass(frozen=True)
class Scheme:
    """A sampling scheme S = (pool, n): draws of ``n`` participants from the ``pool`` group.

    Example
    -------
    >>> Scheme("Male (100)", Group("Male", {"gender": "Male"}), 100).n
    100
    """

    name: str
    pool: Group
    n: int

    def __post_init__(self) -> None:
        if not isinstance(self.n, (int, np.integer)) or self.n < 1:
            raise ConfigError(f"scheme {self.name!r}: sample size must be a positive integer, got {self.n!r}")


REP = Group("Rep")
#: PRISM's stakeholder populations (App. U): everyone, non-male, non-white, below 45.
PRISM_POPULATIONS: tuple[Group, ...] = (
    REP,
    Group("Non-male", exclude={"gender": "Male"}),
    Group("Non-white", exclude={"ethnicity_simplified": "White"}),
    Group("<45", exclude={"age": _ABOVE_45}),
)
#: PRISM's seat-of-power schemes: Rep n in {10, 20, 50, 100}; male, white, 45+ with n = 100.
PRISM_SCHEMES: tuple[Scheme, ...] = tuple(Scheme(f"Rep ({n})", REP, n) for n in (10, 20, 50, 100)) + (
    Scheme("Male (100)", Group("Male", {"gender": "Male"}), 100),
    Scheme("White (100)", Group("White", {"ethnicity_simplified": "White"}), 100),
    Scheme("45+ (100)", Group("45+", {"age": _ABOVE_45}), 100),
)
#: The scheme PRISM's FOSD flags compare against.
REFERENCE_SCHEME = "Rep (100)"
#: The survey columns PRISM's populations and schemes read.
PRISM_DESIGN_FIELDS: tuple[str, ...] = ("gender", "ethnicity_simplified", "age")


def design_from_fields(
    survey: pd.DataFrame,
    fields: Sequence[str],
    *,
    sizes: Sequence[int] = (10, 20, 50, 100),
    min_group: int = 1,
) -> tuple[list[Scheme], list[Group], str]:
    """PRISM's design built from any survey's own fields: populations, seat-of-power schemes, reference.

    PRISM measures everyone and three groups (non-male, non-white, under 45), and compares
    representative draws of 10-100 people with seats held by one group only (male, white, 45+;
    App. U). On data with other fields the same questions are: populations = everyone and each
    category of each field; schemes = representative draws of each size up to the sample size,
    and, per field, the seats held by its largest category alone (``n`` = the largest
    representative size, at most that category's size); the reference is the largest
    representative scheme.

    Parameters
    ----------
    survey
        The analysis sample, one row per participant.
    fields
        The survey columns to build groups from (e.g. ``["gender", "age_band"]``).
    sizes
        Representative sample sizes (those above the sample size are left out; at least one is kept,
        capped at the sample size).
    min_group
        Fewest participants a category needs to be a population.

    Returns
    -------
    tuple of (list of Scheme, list of Group, str)
        schemes, populations and the reference scheme's name.

    Raises
    ------
    ConfigError
        a field the survey lacks (naming the survey's columns), or an empty sample.

    Example
    -------
    >>> s = pd.DataFrame({"user_id": list("abcdef"), "gender": ["F", "F", "F", "M", "M", None]})
    >>> schemes, pops, ref = design_from_fields(s, ["gender"], sizes=(2, 5, 100))
    >>> [x.name for x in schemes], [p.name for p in pops], ref
    (['Rep (2)', 'Rep (5)', 'gender = F (3)'], ['Rep', 'gender = F', 'gender = M'], 'Rep (5)')
    """
    missing = [f for f in fields if f not in survey.columns]
    if missing:
        raise ConfigError(f"no field(s) {', '.join(missing)} in the survey; {_columns_hint(survey)}")
    if not fields:
        raise ConfigError("give at least one field to build populations and schemes from")
    n = len(survey)
    if n == 0:
        raise ConfigError("the analysis sample is empty")
    reps = sorted({int(k) for k in sizes if 0 < int(k) <= n}) or [n]
    schemes = [Scheme(f"Rep ({k})", REP, k) for k in reps]
    populations = [REP]
    for f in fields:
        counts = survey[f].dropna().value_counts()  # the raw values: the groups filter on them
        counts = counts[counts >= min_group]
        for cat in sorted(counts.index, key=str):
            populations.append(Group(f"{f} = {cat}", {f: cat}))
        if len(counts) > 1:  # one category alone holds the seats
            top = counts.index[0]
            k = min(reps[-1], int(counts.iloc[0]))
            schemes.append(Scheme(f"{f} = {top} ({k})", Group(f"{f} = {top}", {f: top}), k))
    return schemes, populations, f"Rep ({reps[-1]})"


# --- the analysis sample -------------------------------------------------------------------------


def country_sample(survey: pd.DataFrame, country: str | None, sample: str = "auto") -> tuple[np.ndarray, str]:
    """Mask of the survey rows forming the analysis sample of ``country``, and how it was found.

    Parameters
    ----------
    survey : pandas.DataFrame
        The survey frame (one row per participant).
    country : str or None
        ``"US"`` or ``"UK"``; ``None`` takes the whole survey.
    sample : {"auto", "rep", "rebalance", "locale"}
        ``"rep"`` uses PRISM's ``included_in_{US,UK}_REP`` flags; ``"rebalance"`` runs PRISM's
        census rebalancing (:func:`pluralis.census.weights.census_rebalance`) on the study's
        country pool; ``"locale"`` takes every participant recruited by (``study_locale``) or
        residing in (``location_reside_countryISO``) the country; ``"auto"`` uses the REP flags
        when the frame has any, else rebalancing.

    Returns
    -------
    tuple of (numpy.ndarray, str)
        Boolean mask over the survey rows, and a description of how the sample was found.

    See Also
    --------
    resolve : schemes' pools and populations within this sample.

    Example
    -------
    >>> import pandas as pd
    >>> s = pd.DataFrame({"user_id": ["a", "b"], "included_in_US_REP": [True, False]})
    >>> mask, how = country_sample(s, "US")
    >>> mask.tolist(), how
    ([True, False], 'included_in_US_REP')
    """
    if country is None:
        return np.ones(len(survey), dtype=bool), "all participants"
    c = normalise_country(country)
    OneOf(*SAMPLES)("sample", sample)
    flag = f"included_in_{c}_REP"
    has_flag = flag in survey.columns and bool(survey[flag].fillna(False).astype(bool).any())
    if sample == "rep" or (sample == "auto" and has_flag):
        if not has_flag:
            raise ConfigError(f"survey has no participant flagged {flag}; use sample='rebalance' or 'locale'")
        return survey[flag].fillna(False).astype(bool).to_numpy(), flag
    if sample == "locale":
        if "study_locale" in survey.columns:
            return (survey["study_locale"].astype(str).str.lower() == c.lower()).to_numpy(), "study_locale"
        if "location_reside_countryISO" in survey.columns:
            return (survey["location_reside_countryISO"] == ISO3[c]).to_numpy(), "location_reside_countryISO"
        raise ConfigError("survey has neither study_locale nor location_reside_countryISO")
    kept = census_rebalance(survey, c)
    ids = survey["user_id"].astype(str) if "user_id" in survey.columns else survey.index.astype(str)
    return np.asarray(pd.Index(ids).isin(kept.user_ids)), "census rebalancing (App. L)"


# --- resolving a design --------------------------------------------------------------------------


@dataclass(frozen=True)
class Pool:
    """A scheme resolved within the analysis sample: its members' ids and draw probabilities.

    ``p`` is ``None`` for uniform draws, else one probability per member (participant weights).

    Example
    -------
    >>> import numpy as np
    >>> Pool(Scheme("Rep (2)", Group("Rep"), 2), np.array(["a", "b"]), None).size
    2
    """

    scheme: Scheme
    ids: np.ndarray
    p: np.ndarray | None = None

    @property
    def size(self) -> int:
        """Number of participants in the pool."""
        return len(self.ids)


@dataclass(frozen=True)
class Design:
    """What :func:`resolve` found: the analysis sample, every scheme's pool and every population.

    ``populations`` maps each population's name to its members' ids (in the order given);
    ``weights`` are the participant weights (by ``user_id``) or ``None``; ``notes`` say how the
    sample was found and what was adjusted.

    Example
    -------
    >>> import pandas as pd
    >>> d = resolve(pd.DataFrame({"user_id": ["a", "b"]}), [Scheme("Rep (1)", Group("Rep"), 1)],
    ...             [Group("Rep")], country=None)
    >>> d.n_sample, d.how, [p.scheme.name for p in d.pools]
    (2, 'all participants', ['Rep (1)'])
    """

    country: str | None
    how: str
    n_sample: int
    pools: tuple[Pool, ...]
    populations: dict[str, np.ndarray]
    weights: pd.Series | None = None
    notes: tuple[str, ...] = ()


def _where(country: str | None) -> str:
    return f"the {country or 'study'} sample"


def _participant_weights(
    base: pd.DataFrame, weights: pd.Series | str | None, country: str | None
) -> tuple[pd.Series | None, list[str]]:
    """Participant weights of the analysis sample (``"census"``: raked to its census margins)."""
    if weights is None:
        return None, []
    if isinstance(weights, str):
        if weights != "census":
            raise ConfigError(f"weights must be a Series by user_id or 'census', got {weights!r}")
        if country is None:
            raise ConfigError("weights='census' needs a country")
        res = census_weights(base, country, on_empty="renormalise")
        w = res.weights
        note = f"census raking weights: ESS {res.ess:.1f} of {int((w > 0).sum())}"
        if len(res.excluded):
            note += (
                f"; {len(res.excluded)} participant(s) outside the census categories (non-binary, prefer "
                "not to say) get weight 0"
            )
        return w, [note]
    w = pd.Series(weights, dtype=float)
    w.index = w.index.astype(str)
    lacking = pd.Index(base["user_id"].astype(str)).difference(w.index)
    if len(lacking):
        raise ConfigError(f"weights lack {len(lacking)} participant(s) of the sample, e.g. {list(lacking[:3])}")
    if (w < 0).any() or not np.isfinite(w).all():
        raise ConfigError("weights must be finite and non-negative")
    return w, []


def _pool(
    scheme: Scheme,
    ids: np.ndarray,
    weights: pd.Series | None,
    *,
    replace: bool,
    allow_oversample: bool,
    where: str,
) -> tuple[Pool, list[str]]:
    """One scheme's pool, checked against its sample size and weights."""
    name, pool = scheme.name, scheme.pool.name
    if len(ids) == 0:
        raise ConfigError(f"scheme {name!r}: pool {pool!r} has no members in {where}")
    notes = []
    if scheme.n > len(ids):
        if not replace:
            raise ConfigError(
                f"scheme {name!r} draws n={scheme.n} without replacement but pool {pool!r} has only "
                f"{len(ids)} members; lower n or use replace=True"
            )
        if not allow_oversample:
            raise ConfigError(
                f"scheme {name!r} draws n={scheme.n} but pool {pool!r} has only {len(ids)} members in "
                f"{where}; lower n, or allow drawing with replacement beyond the pool "
                "(allow_oversample=True, CLI --allow-oversample)"
            )
        notes.append(f"scheme {name!r}: n={scheme.n} exceeds its pool ({len(ids)}); drawn with replacement")
    if weights is None:
        return Pool(scheme, ids), notes
    pw = weights.reindex(ids).to_numpy(dtype=float)
    if pw.sum() <= 0:
        raise ConfigError(f"scheme {name!r}: all members of pool {pool!r} have weight 0")
    if not replace and (pw > 0).sum() < scheme.n:
        raise ConfigError(f"scheme {name!r}: fewer than n={scheme.n} pool members have positive weight")
    return Pool(scheme, ids, pw / pw.sum()), notes


def resolve(
    survey: pd.DataFrame,
    schemes: Sequence[Scheme] = PRISM_SCHEMES,
    populations: Sequence[Group] = PRISM_POPULATIONS,
    *,
    country: str | None = "US",
    sample: str = "auto",
    weights: pd.Series | str | None = None,
    replace: bool = True,
    allow_oversample: bool = False,
) -> Design:
    """Resolve schemes and populations to participants of a country's analysis sample.

    Everything a draw needs is checked here, before any draw is made: every pool and population
    has members, a scheme larger than its pool is drawn only with replacement and when
    ``allow_oversample`` says so, weights cover the sample and give every pool positive weight.

    Parameters
    ----------
    survey : pandas.DataFrame
        The survey frame, with a ``user_id`` column.
    schemes : sequence of Scheme
        The seat-of-power sampling schemes (default PRISM's seven).
    populations : sequence of Group
        The stakeholder populations whose welfare is measured (default PRISM's four).
    country : str or None
        The analysis sample's country (see :func:`country_sample`; ``None`` = everyone).
    sample : {"auto", "rep", "rebalance", "locale"}
        How the country's sample is found (see :func:`country_sample`).
    weights : pandas.Series, "census" or None
        Participant weights by ``user_id``, or ``"census"`` to rake the sample to its census
        margins (:func:`pluralis.census.weights.census_weights`); draws then pick participants
        with probability proportional to weight.
    replace : bool
        Whether draws are made with replacement (PRISM's code).
    allow_oversample : bool
        Allow a scheme larger than its pool (drawn with replacement, and noted).

    Returns
    -------
    Design
        The sample, the pools (in scheme order) and the populations' members.

    See Also
    --------
    pluralis.welfare.draws.draw : the draws made from a design.
    pluralis.welfare.engine.run_welfare : resolve, draw and summarise in one call.

    Example
    -------
    >>> from pluralis.data.synthetic import generate_study
    >>> survey = generate_study(n_participants=300, seed=0).frames().survey
    >>> d = resolve(survey, country="US", allow_oversample=True)
    >>> d.how, len(d.pools), list(d.populations)
    ('included_in_US_REP', 7, ['Rep', 'Non-male', 'Non-white', '<45'])
    """
    if "user_id" not in survey.columns:
        raise ConfigError("survey frame has no user_id column")
    mask, how = country_sample(survey, country, sample)
    base = survey[mask]
    if base.empty:
        raise ConfigError(f"the {country or 'study'} sample ({how}) has no participants")
    base_ids = base["user_id"].astype(str).to_numpy()
    w, notes = _participant_weights(base, weights, country)
    notes.insert(0, f"analysis sample: {len(base)} participants ({how})")
    pools = []
    for scheme in schemes:
        pool, pool_notes = _pool(
            scheme,
            base_ids[scheme.pool.mask(base)],
            w,
            replace=replace,
            allow_oversample=allow_oversample,
            where=_where(country),
        )
        pools.append(pool)
        notes += pool_notes
    members = {}
    for pop in populations:
        ids = base_ids[pop.mask(base)]
        if len(ids) == 0:
            raise ConfigError(f"population {pop.name!r} has no members in {_where(country)}")
        members[pop.name] = ids
    return Design(country, how, len(base), tuple(pools), members, w, tuple(notes))
