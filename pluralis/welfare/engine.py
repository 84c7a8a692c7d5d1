"""Welfare of populations under different "seat of power" sampling schemes (PRISM §3.3, App. U).

The experiment, exactly as PRISM's notebooks (spec §7):

1. Individual welfare matrices (participant x model) from the opening turns of balanced
   conversations: ``RATING(j, i)`` = mean opening-turn score j gave i, ``CHOICE(j, i)`` = share of
   j's conversations where i was shown and chosen; NA when j never saw i
   (:func:`welfare_matrices`; optional imputation with ``IterativeImputer``, clipped).
2. A sampling scheme ``(pool, n)`` draws n participants from a pool (with replacement, as
   PRISM's code does); the draw picks the model with the highest mean of its members'
   individual welfare (MAXRATING / MAXCHOICE; models nobody in the draw saw score 1 / 0), ties
   broken uniformly at random.
3. The welfare of a stakeholder population p under the chosen model i is
   ``MEANRATING(p, i)`` (or ``MEANCHOICE``): the mean individual welfare over members who saw i.
4. 1,000 draws per (scheme, population) give a welfare distribution; schemes are compared by
   first-order stochastic dominance (:func:`fosd`, PRISM's sorted-draw comparison).

Populations and schemes are user-defined :class:`Group` filters on the survey frame; the
PRISM set (:data:`PRISM_POPULATIONS`, :data:`PRISM_SCHEMES`) is the default. The fast engine
draws all R samples at once as an (R x n) index matrix and computes every draw's nan-aware
model means with two matrix products (count matrix @ value matrix, count matrix @ seen matrix).
``engine="reference"`` runs the same analysis as a plain pandas loop with Python's ``random``
(the notebook's code path; also used by the benchmark).

Example
-------
>>> from pluralis.data.synthetic import generate_study
>>> f = generate_study(n_participants=300, seed=0).frames()
>>> res = run_welfare(f.utterances, f.survey, country="US", n_draws=200, allow_oversample=True)
>>> sorted(res.summary["scheme"].unique())[:2]
['45+ (100)', 'Male (100)']
>>> res.summary.groupby(["measure", "population"]).size().tolist()
[7, 7, 7, 7, 7, 7, 7, 7]
"""

from __future__ import annotations

import random as _pyrandom
import re
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from pluralis.data import vocab
from pluralis.errors import ConfigError

__all__ = [
    "MEASURES",
    "PRISM_POPULATIONS",
    "PRISM_SCHEMES",
    "Group",
    "Scheme",
    "WelfareMatrices",
    "WelfareResult",
    "country_sample",
    "fosd",
    "fosd_matrix",
    "impute_matrix",
    "population_welfare",
    "reproduce_prism_welfare",
    "run_welfare",
    "welfare_matrices",
]

#: Welfare measures: ``rating`` (MAXRATING/MEANRATING) and ``choice`` (MAXCHOICE/MEANCHOICE).
MEASURES: tuple[str, ...] = ("rating", "choice")
#: Score of a model nobody in a draw has seen (PRISM 11b): 1 for ratings, 0 for choices.
UNSEEN_SCORE = {"rating": 1.0, "choice": 0.0}
#: Clip range of imputed individual welfare.
CLIP = {"rating": (1.0, 100.0), "choice": (0.0, 1.0)}
_ABOVE_45 = tuple(a for a in vocab.AGE_BANDS if a in ("45-54 years old", "55-64 years old", "65+ years old"))

Filter = Mapping[str, Any] | str | Callable[[pd.DataFrame], Any] | None


# --- groups, populations and schemes -------------------------------------------------------------


def _columns_hint(survey: pd.DataFrame) -> str:
    cols = sorted(str(c) for c in survey.columns if not str(c).startswith(("order_", "lm_usecases")))
    return "survey columns include " + ", ".join(cols[:40]) + (", ..." if len(cols) > 40 else "")


def _match(survey: pd.DataFrame, spec: Filter, what: str) -> np.ndarray:
    """Boolean mask of survey rows matching a filter spec."""
    n = len(survey)
    if spec is None:
        return np.ones(n, dtype=bool)
    if callable(spec):
        mask = np.asarray(spec(survey))
        if mask.dtype != bool or mask.shape != (n,):
            raise ConfigError(f"{what}: filter function must return a boolean array of length {n}")
        return mask
    if isinstance(spec, str):
        try:
            mask = survey.eval(spec)
        except pd.errors.UndefinedVariableError as err:
            found = re.search(r"name '([^']+)' is not defined", str(err))
            field = found.group(1) if found else str(err)
            raise ConfigError(
                f"{what}: cannot evaluate filter {spec!r}: unknown field {field!r}; " + _columns_hint(survey)
            ) from None
        except Exception as err:  # SyntaxError, TypeError, ...
            raise ConfigError(f"{what}: cannot evaluate filter {spec!r}: {err}") from None
        mask = np.asarray(mask)
        if mask.dtype != bool or mask.shape != (n,):
            raise ConfigError(f"{what}: filter {spec!r} is not a row-wise condition")
        return mask
    if isinstance(spec, Mapping):
        mask = np.ones(n, dtype=bool)
        for column, value in spec.items():
            if column not in survey.columns:
                raise ConfigError(f"{what}: unknown field {column!r}; " + _columns_hint(survey))
            values = list(value) if isinstance(value, (list, tuple, set, frozenset)) else [value]
            mask &= survey[column].isin(values).to_numpy()
        return mask
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

    def __post_init__(self):
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
REFERENCE_SCHEME = "Rep (100)"


# --- individual welfare matrices -----------------------------------------------------------------


def _model_label(names: pd.Series, model_names: str | Callable[[str], str]) -> pd.Series:
    if callable(model_names):
        return names.map(model_names)
    if model_names == "raw":
        return names
    if model_names == "prism":
        return names.astype(str).str.split("/").str[-1]
    if model_names == "short":
        from pluralis.data.roster import short_name

        uniq = pd.unique(names)
        lookup = {u: short_name(u) for u in uniq}
        lookup = {u: (s if s != u else str(u).split("/")[-1]) for u, s in lookup.items()}
        return names.map(lookup)
    raise ConfigError(f"model_names must be 'short', 'prism', 'raw' or a function, got {model_names!r}")


@dataclass
class WelfareMatrices:
    """Individual welfare: ``rating`` and ``choice`` DataFrames (participants x models, NaN = never shown).

    Example
    -------
    >>> import pandas as pd
    >>> m = WelfareMatrices(pd.DataFrame({"x": [50.0]}, index=["a"]), pd.DataFrame({"x": [1.0]}, index=["a"]))
    >>> m.models, float(m["choice"].loc["a", "x"])
    (['x'], 1.0)
    """

    rating: pd.DataFrame
    choice: pd.DataFrame
    imputed: bool = False

    def __getitem__(self, measure: str) -> pd.DataFrame:
        if measure not in MEASURES:
            raise ConfigError(f"unknown welfare measure {measure!r}; expected one of {', '.join(MEASURES)}")
        return getattr(self, measure)

    @property
    def models(self) -> list[str]:
        """Model names (columns), in order of first appearance."""
        return list(self.rating.columns)


def welfare_matrices(
    utterances: pd.DataFrame,
    *,
    balanced_only: bool = True,
    turn: int = 0,
    model_names: str | Callable[[str], str] = "short",
    impute: bool = False,
    random_state: int = 1,
) -> WelfareMatrices:
    """RATING and CHOICE matrices (spec §7.2) from utterances.

    Uses opening-turn (``turn == 0``) utterances of balanced-subset conversations
    (``balanced_only``). Models are columns in order of first appearance (which only matters for
    tie-breaks); ``model_names="short"`` uses PRISM's short names (``"gpt-4-turbo"``),
    ``"prism"`` the welfare notebook's ``model_name.split("/")[-1]``, ``"raw"`` the stored names.
    ``impute=True`` fills NAs with :func:`impute_matrix` (App. U.3).

    Example
    -------
    >>> import pandas as pd
    >>> u = pd.DataFrame({"user_id": ["a", "a", "b"], "model_name": ["m1", "m2", "m1"], "turn": 0,
    ...                   "included_in_balanced_subset": True, "score": [80, 40, 60], "if_chosen": [True, False, True]})
    >>> m = welfare_matrices(u)
    >>> m.rating.to_dict()
    {'m1': {'a': 80.0, 'b': 60.0}, 'm2': {'a': 40.0, 'b': nan}}
    """
    need = ["user_id", "model_name", "turn", "score", "if_chosen"] + (
        ["included_in_balanced_subset"] if balanced_only else []
    )
    missing = [c for c in need if c not in utterances.columns]
    if missing:
        raise ConfigError(f"utterances lack column(s) {missing} needed for welfare matrices")
    keep = (utterances["turn"] == turn).to_numpy()
    if balanced_only:
        keep = keep & utterances["included_in_balanced_subset"].fillna(False).astype(bool).to_numpy()
    u = utterances.loc[keep, ["user_id", "model_name", "score", "if_chosen"]]
    if u.empty:
        raise ConfigError(
            f"no utterances at turn {turn}"
            + (" in the balanced subset" if balanced_only else "")
            + " to build welfare matrices"
        )
    model = _model_label(u["model_name"], model_names)
    order = list(pd.unique(model))
    user = u["user_id"].astype(str)
    users = np.sort(pd.unique(user))
    ui = pd.Index(users).get_indexer(user)
    mi = pd.Index(order).get_indexer(model)
    shape = (len(users), len(order))
    cnt = np.zeros(shape)
    np.add.at(cnt, (ui, mi), 1.0)
    out = {}
    for measure, col in (("rating", "score"), ("choice", "if_chosen")):
        tot = np.zeros(shape)
        np.add.at(tot, (ui, mi), u[col].to_numpy(dtype=float))
        with np.errstate(invalid="ignore", divide="ignore"):
            vals = np.where(cnt > 0, tot / np.where(cnt > 0, cnt, 1), np.nan)
        out[measure] = pd.DataFrame(vals, index=pd.Index(users, name="user_id"), columns=pd.Index(order, name="model"))
    mats = WelfareMatrices(out["rating"], out["choice"])
    if impute:
        mats = WelfareMatrices(
            impute_matrix(mats.rating, "rating", random_state=random_state),
            impute_matrix(mats.choice, "choice", random_state=random_state),
            imputed=True,
        )
    return mats


def impute_matrix(matrix: pd.DataFrame, measure: str, *, random_state: int = 1, max_iter: int = 10) -> pd.DataFrame:
    """Impute missing individual welfare as PRISM App. U.3: ``IterativeImputer(random_state=1)``
    (BayesianRidge, 10 rounds, mean start) fit on the whole matrix, clipped to [1, 100] (rating)
    or [0, 1] (choice). Columns with no observed value stay NaN.

    Example
    -------
    >>> import numpy as np, pandas as pd
    >>> m = pd.DataFrame({"x": [1.0, 0.0, np.nan, 1.0], "y": [1.0, 0.0, 1.0, np.nan]})
    >>> int(impute_matrix(m, "choice").isna().sum().sum())
    0
    """
    from sklearn.experimental import enable_iterative_imputer  # noqa: F401
    from sklearn.impute import IterativeImputer

    if measure not in CLIP:
        raise ConfigError(f"unknown welfare measure {measure!r}; expected one of {', '.join(MEASURES)}")
    out = matrix.copy()
    cols = [c for c in matrix.columns if matrix[c].notna().any()]
    if not cols or not matrix[cols].isna().any().any():
        return out
    imp = IterativeImputer(random_state=random_state, max_iter=max_iter)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning on small matrices
        filled = imp.fit_transform(matrix[cols].to_numpy(dtype=float))
    lo, hi = CLIP[measure]
    out[cols] = np.clip(filled, lo, hi)
    return out


# --- the analysis sample -------------------------------------------------------------------------


def country_sample(survey: pd.DataFrame, country: str | None, sample: str = "auto") -> tuple[np.ndarray, str]:
    """Mask of the survey rows forming the analysis sample of ``country``, and how it was found.

    ``sample``: ``"rep"`` uses PRISM's ``included_in_{US,UK}_REP`` flags; ``"rebalance"`` runs
    PRISM's census rebalancing (:func:`pluralis.census.weights.census_rebalance`) on the
    study's country pool; ``"locale"`` takes every participant recruited by (``study_locale``) or
    residing in (``location_reside_countryISO``) the country; ``"auto"`` uses the REP flags when
    the frame has any, else rebalancing. ``country=None`` takes the whole survey.

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
    from pluralis.census.targets import normalise_country

    c = normalise_country(country)
    flag = f"included_in_{c}_REP"
    if sample not in ("auto", "rep", "rebalance", "locale"):
        raise ConfigError(f"sample must be 'auto', 'rep', 'rebalance' or 'locale', got {sample!r}")
    has_flag = flag in survey.columns and bool(survey[flag].fillna(False).astype(bool).any())
    if sample == "rep" or (sample == "auto" and has_flag):
        if not has_flag:
            raise ConfigError(f"survey has no participant flagged {flag}; use sample='rebalance' or 'locale'")
        return survey[flag].fillna(False).astype(bool).to_numpy(), flag
    if sample == "locale":
        if "study_locale" in survey.columns:
            return (survey["study_locale"].astype(str).str.lower() == c.lower()).to_numpy(), "study_locale"
        if "location_reside_countryISO" in survey.columns:
            iso = {"US": "USA", "UK": "GBR"}[c]
            return (survey["location_reside_countryISO"] == iso).to_numpy(), "location_reside_countryISO"
        raise ConfigError("survey has neither study_locale nor location_reside_countryISO")
    from pluralis.census.weights import census_rebalance

    kept = census_rebalance(survey, c)
    ids = survey["user_id"].astype(str) if "user_id" in survey.columns else survey.index.astype(str)
    return np.asarray(pd.Index(ids).isin(kept.user_ids)), "census rebalancing (App. L)"


# --- FOSD ----------------------------------------------------------------------------------------


def fosd(a, b) -> bool:
    """True if the distribution of draws ``a`` first-order stochastically dominates ``b``
    (weakly: F_a(t) <= F_b(t) for all t). For equal sizes this is PRISM's sorted-draw test
    ``all(sorted(a) >= sorted(b))``; otherwise the empirical CDFs are compared on the pooled
    support. NaN draws make the test fail (the definition needs finite means).

    Example
    -------
    >>> fosd([3, 2, 5], [1, 2, 3]), fosd([1, 2, 3], [3, 2, 5]), fosd([1, 2], [1, 2])
    (True, False, True)
    """
    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    if a.size == 0 or b.size == 0:
        raise ConfigError("fosd needs two non-empty samples")
    if np.isnan(a).any() or np.isnan(b).any():
        return False
    a = np.sort(a)
    b = np.sort(b)
    if a.size == b.size:
        return bool(np.all(a >= b))
    grid = np.union1d(a, b)
    fa = np.searchsorted(a, grid, side="right") / a.size
    fb = np.searchsorted(b, grid, side="right") / b.size
    return bool(np.all(fa <= fb + 1e-12))


def fosd_matrix(samples: Mapping[str, Sequence[float]]) -> pd.DataFrame:
    """Pairwise FOSD: cell (row a, column b) is True when a FOSDs b.

    Example
    -------
    >>> bool(fosd_matrix({"big": [2, 3], "small": [1, 3]}).loc["big", "small"])
    True
    """
    names = list(samples)
    srt = {k: np.sort(np.asarray(v, dtype=float)) for k, v in samples.items()}
    out = pd.DataFrame(False, index=pd.Index(names, name="dominates"), columns=pd.Index(names, name="dominated"))
    for a in names:
        for b in names:
            out.loc[a, b] = fosd(srt[a], srt[b])
    return out


# --- population welfare --------------------------------------------------------------------------


def population_welfare(matrix: pd.DataFrame, members, weights: pd.Series | None = None) -> pd.Series:
    """MEANRATING / MEANCHOICE of a population for every model (PRISM ``W.reindex(pop).mean()``):
    the (optionally weighted) mean individual welfare over members who saw the model; NaN if none did.

    Example
    -------
    >>> import numpy as np, pandas as pd
    >>> W = pd.DataFrame({"m1": [80.0, np.nan], "m2": [40.0, 60.0]}, index=["a", "b"])
    >>> population_welfare(W, ["a", "b", "zz"]).tolist()
    [80.0, 50.0]
    """
    sub = matrix.reindex(pd.Index(members).astype(str))
    vals = sub.to_numpy(dtype=float)
    seen = ~np.isnan(vals)
    w = (
        np.ones(len(sub))
        if weights is None
        else pd.Series(weights, dtype=float).reindex(sub.index).fillna(0).to_numpy()
    )
    num = (np.where(seen, vals, 0.0) * w[:, None]).sum(0)
    den = (seen * w[:, None]).sum(0)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.where(den > 0, num / np.where(den > 0, den, 1), np.nan)
    return pd.Series(out, index=matrix.columns, name="welfare")


# --- engines -------------------------------------------------------------------------------------


def _draw_indices(rng: np.random.Generator, pool_size: int, n: int, n_draws: int, replace: bool, p: np.ndarray | None):
    """(R x n) positions into the pool."""
    if replace:
        if p is None:
            return rng.integers(0, pool_size, size=(n_draws, n))
        return rng.choice(pool_size, size=(n_draws, n), replace=True, p=p)
    if p is None:
        keys = rng.random((n_draws, pool_size))
    else:  # Efraimidis-Spirakis weighted sampling without replacement
        with np.errstate(divide="ignore"):
            keys = np.log(rng.random((n_draws, pool_size))) / np.where(p > 0, p, np.nan)
        keys = np.nan_to_num(keys, nan=-np.inf)
    if n == pool_size:
        return np.argsort(-keys, axis=1)
    return np.argpartition(-keys, n - 1, axis=1)[:, :n]


def _fast_winners(values, seen, idx, unseen_score, rng, tol=1e-9):
    """Winner per draw: argmax of nan-aware column means of the drawn rows, uniform tie-break."""
    n_draws, _ = idx.shape
    pool = values.shape[0]
    flat = (np.arange(n_draws)[:, None] * pool + idx).ravel()
    counts = np.bincount(flat, minlength=n_draws * pool).reshape(n_draws, pool).astype(float)
    sums = counts @ values
    nseen = counts @ seen
    with np.errstate(invalid="ignore", divide="ignore"):
        score = np.where(nseen > 0, sums / np.where(nseen > 0, nseen, 1), unseen_score)
    best = score.max(axis=1, keepdims=True)
    ties = score >= best - tol * np.maximum(1.0, np.abs(best))
    u = rng.random(score.shape)
    return np.where(ties, u, -1.0).argmax(axis=1)


def _reference_winners(
    matrix: pd.DataFrame,
    pool_ids: list[str],
    n: int,
    n_draws: int,
    unseen_score: float,
    pyrng: _pyrandom.Random,
    replace: bool,
    p: np.ndarray | None,
) -> np.ndarray:
    """The notebook's loop (11b ``gen_model_distribution``): one pandas reindex + mean per draw."""
    columns = list(matrix.columns)
    pos = {m: k for k, m in enumerate(columns)}
    out = np.empty(n_draws, dtype=int)
    weights = None if p is None else list(p)
    for r in range(n_draws):
        if replace:
            s = pyrng.choices(pool_ids, weights=weights, k=n)
        else:
            s = pyrng.sample(pool_ids, n) if weights is None else _weighted_sample(pyrng, pool_ids, weights, n)
        frame = matrix.reindex(s)
        score = frame.mean().fillna(unseen_score)
        winners = list(score[score >= score.max()].index)
        out[r] = pos[pyrng.choice(winners)]
    return out


def _weighted_sample(pyrng, items, weights, n):
    keys = [pyrng.random() ** (1.0 / w) if w > 0 else -1.0 for w in weights]
    order = sorted(range(len(items)), key=lambda i: -keys[i])
    return [items[i] for i in order[:n]]


class _blas_threads:
    """Limit BLAS threads (small matrix products are slower multi-threaded); no-op without threadpoolctl."""

    def __init__(self, n: int | None):
        self.n = n
        self.ctx = None

    def __enter__(self):
        if self.n is not None:
            try:
                from threadpoolctl import threadpool_limits

                self.ctx = threadpool_limits(self.n, user_api="blas")
            except Exception:  # pragma: no cover - threadpoolctl missing or unsupported
                self.ctx = None
        return self

    def __exit__(self, *exc):
        if self.ctx is not None:
            self.ctx.restore_original_limits()
        return False


# --- results -------------------------------------------------------------------------------------


@dataclass
class WelfareResult:
    """Outcome of :func:`run_welfare`.

    - ``draws``: one row per draw: ``measure, population, scheme, draw, model, welfare``.
    - ``summary``: per (measure, population, scheme): ``n, pool_size, mean, sd, p05, p25, median,
      p75, p95, min, max, top_model, top_model_share, fosd_by_reference`` (the reference scheme
      FOSDs this one: red in Fig. 5), ``fosds_reference`` (this one FOSDs the reference),
      ``prefer_other`` (choice only: 1 - mean welfare, the share who would pick another model).
    - ``model_welfare``: the population welfare vector w(p) per model with its rank.
    - ``best``: per (measure, population): the model with the highest welfare, its welfare and,
      for MEANCHOICE, ``prefer_other = 1 - best`` (PRISM: 0.46 is the best US MEANCHOICE, so a
      majority prefers another model whichever is chosen).
    - ``fosd``: all ordered scheme pairs with ``dominates`` (weak FOSD).

    Example
    -------
    >>> from pluralis.data.synthetic import generate_study
    >>> f = generate_study(n_participants=200, seed=0).frames()
    >>> r = run_welfare(f.utterances, f.survey, n_draws=20, measures=["rating"], allow_oversample=True)
    >>> len(r.draws) == 7 * 4 * 20, list(r.best.columns)[:3]
    (True, ['measure', 'population', 'best_model'])
    """

    draws: pd.DataFrame
    summary: pd.DataFrame
    model_welfare: pd.DataFrame
    best: pd.DataFrame
    fosd: pd.DataFrame
    config: dict = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def table(self, measure: str = "rating", marks: bool = True, digits: int | None = None) -> pd.DataFrame:
        """PRISM-style table (spec §7.8): populations x schemes of mean welfare, with ``D`` when the
        reference scheme FOSDs the scheme and ``d`` when the scheme FOSDs the reference, plus the
        best achievable welfare (``max``).

        Example
        -------
        >>> from pluralis.data.synthetic import generate_study
        >>> f = generate_study(n_participants=200, seed=0).frames()
        >>> t = run_welfare(f.utterances, f.survey, n_draws=50, measures=["choice"], allow_oversample=True).table("choice")
        >>> list(t.columns)[-1]
        'max'
        """
        if measure not in set(self.summary["measure"]):
            raise ConfigError(f"no results for measure {measure!r}")
        s = self.summary[self.summary["measure"] == measure]
        digits = digits if digits is not None else (2 if measure == "rating" else 3)
        pops = list(dict.fromkeys(s["population"]))
        schemes = list(dict.fromkeys(s["scheme"]))
        best = self.best[self.best["measure"] == measure].set_index("population")["best_welfare"]
        rows = {}
        for pop in pops:
            row = {}
            for sch in schemes:
                r = s[(s["population"] == pop) & (s["scheme"] == sch)].iloc[0]
                if marks:
                    mark = " D" if r["fosd_by_reference"] else (" d" if r["fosds_reference"] else "")
                    row[sch] = f"{r['mean']:.{digits}f}{mark}"
                else:
                    row[sch] = r["mean"]
            row["max"] = f"{best[pop]:.{digits if measure == 'rating' else digits + 1}f}" if marks else best[pop]
            rows[pop] = row
        out = pd.DataFrame.from_dict(rows, orient="index")
        out.index.name = "population"
        return out

    def plot(self, path=None, **kwargs):
        """Violin plots like PRISM Fig. 5 (see :func:`pluralis.welfare.plots.plot_welfare`).

        Example
        -------
        >>> from pluralis.data.synthetic import generate_study
        >>> f = generate_study(n_participants=150, seed=0).frames()
        >>> len(run_welfare(f.utterances, f.survey, n_draws=20, measures=["choice"], allow_oversample=True).plot().axes)
        4
        """
        from pluralis.welfare.plots import plot_welfare

        return plot_welfare(self, path=path, **kwargs)


def _draws_frame(parts, n_draws, models, measures, populations, schemes) -> pd.DataFrame:
    """One tidy frame of all draws (categorical labels), built in one go."""
    k = len(parts)

    def cat(values, categories):
        return pd.Categorical.from_codes(np.repeat([categories.index(v) for v in values], n_draws), categories)

    return pd.DataFrame(
        {
            "measure": cat([p[0] for p in parts], list(measures)),
            "population": cat([p[1] for p in parts], list(populations)),
            "scheme": cat([p[2] for p in parts], list(schemes)),
            "draw": np.tile(np.arange(n_draws), k),
            "model": pd.Categorical.from_codes(np.concatenate([p[3] for p in parts]), list(models)),
            "welfare": np.concatenate([p[4] for p in parts]),
        }
    )


# --- the analysis --------------------------------------------------------------------------------


def _unpack(data, survey):
    if survey is None:
        if hasattr(data, "frames") and callable(data.frames):
            data = data.frames()
        if hasattr(data, "utterances") and hasattr(data, "survey"):
            return data.utterances, data.survey
        raise ConfigError("pass utterances and survey DataFrames (or a Study / StudyFrames)")
    return data, survey


def run_welfare(
    data,
    survey: pd.DataFrame | None = None,
    *,
    country: str | None = "US",
    sample: str = "auto",
    schemes: Sequence[Scheme] | None = None,
    populations: Sequence[Group] | None = None,
    measures: Sequence[str] = MEASURES,
    n_draws: int = 1000,
    seed: int | None = 1,
    replace: bool = True,
    allow_oversample: bool = False,
    impute: bool = False,
    weights: pd.Series | str | None = None,
    reference: str | None = REFERENCE_SCHEME,
    engine: str = "fast",
    common_draws: bool = False,
    matrices: WelfareMatrices | None = None,
    model_names: str | Callable[[str], str] = "short",
    _pyrng: _pyrandom.Random | None = None,
) -> WelfareResult:
    """Run PRISM's welfare experiment (App. U) on a study.

    ``data``: the utterances DataFrame (with ``survey`` the survey DataFrame), or a Study /
    StudyFrames. ``country`` picks the analysis sample (see :func:`country_sample`; ``None`` =
    everyone), within which every scheme's pool and every population is taken.

    - ``schemes`` / ``populations``: :class:`Scheme` / :class:`Group` lists (default PRISM's 7 and 4).
    - ``measures``: ``"rating"`` and/or ``"choice"``; ``n_draws`` per (scheme, population); ``seed``.
    - ``replace``: draw with replacement (PRISM's code, default).
    - ``allow_oversample``: a scheme larger than its pool (n above the pool's size) is an error
      unless this is set; then, with replacement, it is drawn anyway (as PRISM's code would) and noted.
    - ``impute``: impute missing individual welfare first (App. U.3).
    - ``weights``: participant weights (Series by ``user_id``, e.g. from
      :func:`pluralis.census.weights.census_weights`) or ``"census"`` to rake the sample to its
      census margins: draws pick participants with probability proportional to weight, and
      population welfare is the weighted mean.
    - ``reference``: the scheme the FOSD flags compare against (PRISM: ``"Rep (100)"``).
    - ``engine``: ``"fast"`` (vectorised, numpy RNG) or ``"reference"`` (plain pandas loop with
      Python's ``random.Random(seed)``, the notebook's algorithm and RNG calls).
    - ``common_draws``: reuse the same seat-of-power draws for every population (paired
      comparison). PRISM regenerates them per population (default ``False``).

    Example
    -------
    >>> from pluralis.data.synthetic import generate_study
    >>> study = generate_study(n_participants=250, seed=4)
    >>> res = run_welfare(study, country="UK", n_draws=100, measures=["rating"], allow_oversample=True)
    >>> set(res.draws["population"]) == {"Rep", "Non-male", "Non-white", "<45"}
    True
    """
    utterances, survey = _unpack(data, survey)
    schemes = list(PRISM_SCHEMES if schemes is None else schemes)
    populations = list(PRISM_POPULATIONS if populations is None else populations)
    measures = list(measures)
    if not schemes or not populations or not measures:
        raise ConfigError("need at least one scheme, one population and one measure")
    for m in measures:
        if m not in MEASURES:
            raise ConfigError(f"unknown welfare measure {m!r}; expected one of {', '.join(MEASURES)}")
    for kind, items in (("scheme", schemes), ("population", populations)):
        names = [x.name for x in items]
        if len(set(names)) != len(names):
            raise ConfigError(f"{kind} names must be unique, got {names}")
    if engine not in ("fast", "reference"):
        raise ConfigError(f"engine must be 'fast' or 'reference', got {engine!r}")
    if not isinstance(n_draws, (int, np.integer)) or n_draws < 1:
        raise ConfigError(f"n_draws must be a positive integer, got {n_draws!r}")
    if reference is not None and reference not in [s.name for s in schemes]:
        if reference != REFERENCE_SCHEME:
            raise ConfigError(f"reference scheme {reference!r} is not one of the schemes {[s.name for s in schemes]}")
        reference = None  # custom schemes without PRISM's default reference: no FOSD flags
    if "user_id" not in survey.columns:
        raise ConfigError("survey frame has no user_id column")

    base_mask, how = country_sample(survey, country, sample)
    base = survey[base_mask]
    if base.empty:
        raise ConfigError(f"the {country or 'study'} sample ({how}) has no participants")
    base_ids = base["user_id"].astype(str).to_numpy()
    notes: list[str] = [f"analysis sample: {len(base)} participants ({how})"]

    w_series: pd.Series | None = None
    if isinstance(weights, str):
        if weights != "census":
            raise ConfigError(f"weights must be a Series by user_id or 'census', got {weights!r}")
        if country is None:
            raise ConfigError("weights='census' needs a country")
        from pluralis.census.weights import census_weights

        wres = census_weights(base, country, on_empty="renormalise")
        w_series = wres.weights
        notes.append(
            f"census raking weights: ESS {wres.ess:.1f} of {int((w_series > 0).sum())}"
            + (
                f"; {len(wres.excluded)} participant(s) outside the census categories (non-binary, prefer "
                f"not to say) get weight 0"
                if len(wres.excluded)
                else ""
            )
        )
    elif weights is not None:
        w_series = pd.Series(weights, dtype=float)
        w_series.index = w_series.index.astype(str)
        lacking = pd.Index(base_ids).difference(w_series.index)
        if len(lacking):
            raise ConfigError(f"weights lack {len(lacking)} participant(s) of the sample, e.g. {list(lacking[:3])}")
        if (w_series < 0).any() or not np.isfinite(w_series).all():
            raise ConfigError("weights must be finite and non-negative")

    if matrices is None:
        mats = welfare_matrices(utterances, impute=impute, model_names=model_names)
    elif impute and not matrices.imputed:
        mats = WelfareMatrices(impute_matrix(matrices.rating, "rating"), impute_matrix(matrices.choice, "choice"), True)
    else:
        mats = matrices
    models = mats.models

    # Resolve pools and populations (errors before any work).
    pools = {}
    for sch in schemes:
        m = sch.pool.mask(base)
        ids = base_ids[m]
        if len(ids) == 0:
            raise ConfigError(
                f"scheme {sch.name!r}: pool {sch.pool.name!r} has no members in the {country or 'study'} sample"
            )
        if sch.n > len(ids):
            if not replace:
                raise ConfigError(
                    f"scheme {sch.name!r} draws n={sch.n} without replacement but pool {sch.pool.name!r} has only "
                    f"{len(ids)} members; lower n or use replace=True"
                )
            if not allow_oversample:
                raise ConfigError(
                    f"scheme {sch.name!r} draws n={sch.n} but pool {sch.pool.name!r} has only {len(ids)} members in "
                    f"the {country or 'study'} sample; lower n, or allow drawing with replacement beyond the pool "
                    "(allow_oversample=True, CLI --allow-oversample)"
                )
            notes.append(f"scheme {sch.name!r}: n={sch.n} exceeds its pool ({len(ids)}); drawn with replacement")
        p = None
        if w_series is not None:
            pw = w_series.reindex(ids).to_numpy(dtype=float)
            if pw.sum() <= 0:
                raise ConfigError(f"scheme {sch.name!r}: all members of pool {sch.pool.name!r} have weight 0")
            if not replace and (pw > 0).sum() < sch.n:
                raise ConfigError(f"scheme {sch.name!r}: fewer than n={sch.n} pool members have positive weight")
            p = pw / pw.sum()
        pools[sch.name] = (ids, p)
    pops = {}
    for pop in populations:
        ids = base_ids[pop.mask(base)]
        if len(ids) == 0:
            raise ConfigError(f"population {pop.name!r} has no members in the {country or 'study'} sample")
        pops[pop.name] = ids

    rng = np.random.default_rng(seed)
    pyrng = _pyrng if _pyrng is not None else _pyrandom.Random(seed)
    draw_frames, summary_rows, mw_rows, best_rows, fosd_rows = [], [], [], [], []
    with _blas_threads(1 if engine == "fast" else None):
        for measure in measures:
            W = mats[measure]
            Wv = W.to_numpy(dtype=float)
            seen_all = ~np.isnan(Wv)
            vals_all = np.where(seen_all, Wv, 0.0)
            row_of = pd.Index(W.index.astype(str))
            pool_arrays = {}
            for name, (ids, _p) in pools.items():
                rows = row_of.get_indexer(ids)
                vals = np.vstack([vals_all, np.zeros((1, len(models)))])[rows]  # -1 -> the all-NaN row
                seen = np.vstack([seen_all, np.zeros((1, len(models)), dtype=bool)])[rows].astype(float)
                pool_arrays[name] = (vals, seen)
            shared: dict[str, np.ndarray] = {}
            for pop in populations:
                members = pops[pop.name]
                wp = population_welfare(W, members, None if w_series is None else w_series)
                if wp.isna().all():
                    raise ConfigError(f"population {pop.name!r} has no {measure} data (no member rated any model)")
                ranks = wp.rank(ascending=False, method="min")
                n_raters = W.reindex(pd.Index(members)).notna().sum()
                mw_rows.append(
                    pd.DataFrame(
                        {
                            "measure": measure,
                            "population": pop.name,
                            "model": models,
                            "welfare": wp.to_numpy(),
                            "rank": ranks.to_numpy(),
                            "n_members": len(members),
                            "n_raters": n_raters.to_numpy(),
                        }
                    )
                )
                best_model = wp.idxmax()
                best_rows.append(
                    {
                        "measure": measure,
                        "population": pop.name,
                        "best_model": best_model,
                        "best_welfare": float(wp.max()),
                        "prefer_other": (1 - float(wp.max())) if measure == "choice" else np.nan,
                    }
                )
                wvec = wp.to_numpy()
                per_scheme: dict[str, np.ndarray] = {}
                winners_by_scheme: dict[str, np.ndarray] = {}
                for sch in schemes:
                    ids, p = pools[sch.name]
                    if common_draws and sch.name in shared:
                        win = shared[sch.name]
                    elif engine == "fast":
                        vals, seen = pool_arrays[sch.name]
                        idx = _draw_indices(rng, len(ids), sch.n, n_draws, replace, p)
                        win = _fast_winners(vals, seen, idx, UNSEEN_SCORE[measure], rng)
                    else:
                        win = _reference_winners(W, list(ids), sch.n, n_draws, UNSEEN_SCORE[measure], pyrng, replace, p)
                    if common_draws:
                        shared[sch.name] = win
                    winners_by_scheme[sch.name] = win
                    per_scheme[sch.name] = wvec[win]
                ref = per_scheme.get(reference) if reference else None
                for sch in schemes:
                    d = per_scheme[sch.name]
                    win = winners_by_scheme[sch.name]
                    top = np.bincount(win, minlength=len(models))
                    fin = d[np.isfinite(d)]
                    q = np.percentile(fin, [5, 25, 50, 75, 95]) if fin.size else [np.nan] * 5
                    mean = float(fin.mean()) if fin.size else np.nan
                    summary_rows.append(
                        {
                            "measure": measure,
                            "population": pop.name,
                            "scheme": sch.name,
                            "n": sch.n,
                            "pool_size": len(pools[sch.name][0]),
                            "draws": n_draws,
                            "mean": mean,
                            "sd": float(fin.std(ddof=1)) if fin.size > 1 else np.nan,
                            "p05": q[0],
                            "p25": q[1],
                            "median": q[2],
                            "p75": q[3],
                            "p95": q[4],
                            "min": float(fin.min()) if fin.size else np.nan,
                            "max": float(fin.max()) if fin.size else np.nan,
                            "top_model": models[int(top.argmax())],
                            "top_model_share": float(top.max() / n_draws),
                            "fosd_by_reference": bool(ref is not None and sch.name != reference and fosd(ref, d)),
                            "fosds_reference": bool(ref is not None and sch.name != reference and fosd(d, ref)),
                            "prefer_other": (1 - mean) if measure == "choice" else np.nan,
                            "n_nan": int(np.isnan(d).sum()),
                        }
                    )
                    draw_frames.append((measure, pop.name, sch.name, win, d))
                sorted_d = {k: np.sort(v) for k, v in per_scheme.items()}
                for a in per_scheme:
                    for b in per_scheme:
                        if a != b:
                            fosd_rows.append(
                                {
                                    "measure": measure,
                                    "population": pop.name,
                                    "scheme": a,
                                    "other": b,
                                    "dominates": fosd(sorted_d[a], sorted_d[b]),
                                }
                            )
    summary = pd.DataFrame(summary_rows)
    if summary["n_nan"].sum():
        notes.append(
            f"{int(summary['n_nan'].sum())} draws chose a model no member of the population rated (welfare NaN)"
        )
    draws = _draws_frame(
        draw_frames, n_draws, models, measures, [p.name for p in populations], [s.name for s in schemes]
    )
    config = {
        "country": country,
        "sample": how,
        "n_sample": int(len(base)),
        "n_draws": int(n_draws),
        "seed": seed,
        "replace": replace,
        "impute": bool(impute or mats.imputed),
        "weighted": w_series is not None,
        "reference": reference,
        "engine": engine,
        "common_draws": common_draws,
        "schemes": [(s.name, s.pool.name, s.n) for s in schemes],
        "populations": [p.name for p in populations],
        "models": models,
    }
    return WelfareResult(
        draws=draws,
        summary=summary,
        model_welfare=pd.concat(mw_rows, ignore_index=True),
        best=pd.DataFrame(best_rows),
        fosd=pd.DataFrame(fosd_rows),
        config=config,
        notes=notes,
    )


def reproduce_prism_welfare(
    utterances: pd.DataFrame,
    survey: pd.DataFrame,
    *,
    impute: bool = False,
    n_draws: int = 1000,
    seed: int = 1,
    engine: str = "reference",
) -> dict[str, WelfareResult]:
    """PRISM's full welfare run (notebook 11b/11c): US and UK, rating then choice, with one
    ``random.seed(1)`` stream shared in the notebook's order (rating: US then UK; choice: US then
    UK). With ``engine="reference"`` on the released PRISM data this follows the notebook's RNG calls.
    Returns ``{"US": result, "UK": result}`` (each with both measures).

    Example
    -------
    >>> from pluralis.data.synthetic import generate_study
    >>> f = generate_study(n_participants=200, seed=0).frames()
    >>> out = reproduce_prism_welfare(f.utterances, f.survey, n_draws=5)
    >>> sorted(out)
    ['UK', 'US']
    """
    mats = welfare_matrices(utterances, impute=impute, model_names="prism")
    pyrng = _pyrandom.Random(seed)
    parts: dict[str, list[WelfareResult]] = {"US": [], "UK": []}
    for measure in MEASURES:
        for country in ("US", "UK"):
            parts[country].append(
                run_welfare(
                    utterances,
                    survey,
                    country=country,
                    sample="rep",
                    measures=[measure],
                    n_draws=n_draws,
                    seed=seed,
                    matrices=mats,
                    engine=engine,
                    _pyrng=pyrng,
                    allow_oversample=True,
                )  # PRISM's code draws with replacement whatever the pool size
            )
    out = {}
    for country, (r, c) in parts.items():
        draws = pd.concat(
            [
                r.draws.astype(dict.fromkeys(("measure", "population", "scheme", "model"), object)),
                c.draws.astype(dict.fromkeys(("measure", "population", "scheme", "model"), object)),
            ],
            ignore_index=True,
        )
        out[country] = WelfareResult(
            draws=draws,
            summary=pd.concat([r.summary, c.summary], ignore_index=True),
            model_welfare=pd.concat([r.model_welfare, c.model_welfare], ignore_index=True),
            best=pd.concat([r.best, c.best], ignore_index=True),
            fosd=pd.concat([r.fosd, c.fosd], ignore_index=True),
            config={**r.config, "measures": list(MEASURES)},
            notes=r.notes + [n for n in c.notes if n not in r.notes],
        )
    return out
