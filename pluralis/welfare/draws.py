"""Individual welfare and the draws of the welfare experiment (PRISM App. U, notebook 11b; spec §7).

1. Individual welfare matrices (participant x model) from the opening turns of balanced
   conversations: ``RATING(j, i)`` = mean opening-turn score j gave i, ``CHOICE(j, i)`` = share of
   j's conversations where i was shown and chosen; NA when j never saw i
   (:func:`welfare_matrices`; optional imputation with ``IterativeImputer``, clipped).
2. A draw of a scheme picks ``n`` participants from its pool (with replacement, as PRISM's code
   does) and chooses the model with the highest mean of its members' individual welfare
   (MAXRATING / MAXCHOICE), ties broken uniformly at random. A model nobody in the draw saw scores
   the bottom of the rating scale (``unseen="scale_min"``, default) or 0 for choices, so results
   do not depend on the units of the scores: rescaling every score by ``a * x + b`` (``a > 0``)
   leaves every draw's winner unchanged and maps every welfare value to ``a * w + b``. The scale is
   declared (``scale=(lo, hi)``) or inferred from the scores (:func:`infer_scale`); PRISM's
   as-coded constant (1 for ratings, right only on its 1-100 scale) is ``unseen="prism"``.

Two engines make the draws (:func:`draw`): ``"fast"`` draws all R samples of a scheme at once
as an (R x n) index matrix (:func:`draw_indices`) and computes every draw's nan-aware model means
with two matrix products (:func:`fast_winners`); ``"reference"`` is the notebook's plain pandas
loop with Python's ``random`` (:func:`reference_winners`), which reproduces PRISM's notebook draw
by draw when given the notebook's random stream.

Example
-------
>>> import pandas as pd
>>> from pluralis.welfare.schemes import Group, Scheme, resolve
>>> u = pd.DataFrame({"user_id": ["a", "a", "b", "b"], "model_name": ["m1", "m2", "m1", "m2"], "turn": 0,
...                   "included_in_balanced_subset": True, "score": [90, 10, 80, 20],
...                   "if_chosen": [True, False, True, False]})
>>> design = resolve(pd.DataFrame({"user_id": ["a", "b"]}), [Scheme("Rep (2)", Group("Rep"), 2)],
...                  [Group("Rep")], country=None)
>>> d = draw(welfare_matrices(u), design, n_draws=3)
>>> [d.models[i] for i in d.winners[("rating", "Rep", "Rep (2)")]]
['m1', 'm1', 'm1']
"""

from __future__ import annotations

import dataclasses
import random
import warnings
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from pluralis.data.roster import short_name
from pluralis.errors import ConfigError
from pluralis.threads import blas_threads
from pluralis.welfare._validation import OneOf, PositiveInt
from pluralis.welfare.schemes import Design, Pool

__all__ = [
    "CLIP",
    "ENGINES",
    "MEASURES",
    "MEASURE_COLUMNS",
    "MODEL_NAMES",
    "STANDARD_SCALES",
    "UNSEEN_POLICIES",
    "UNSEEN_SCORE",
    "Draws",
    "WelfareMatrices",
    "check_measure",
    "check_scale",
    "check_unseen",
    "draw",
    "draw_indices",
    "fast_winners",
    "impute_matrix",
    "infer_scale",
    "reference_winners",
    "welfare_matrices",
]

#: Welfare measures: ``rating`` (MAXRATING/MEANRATING) and ``choice`` (MAXCHOICE/MEANCHOICE).
MEASURES: tuple[str, ...] = ("rating", "choice")
#: The utterance column each measure is computed from.
MEASURE_COLUMNS: dict[str, str] = {"rating": "score", "choice": "if_chosen"}
#: PRISM's as-coded score of a model nobody in a draw has seen (notebook 11b; ``unseen="prism"``):
#: 1 for ratings (the bottom of PRISM's 1-100 scale, but the *top* of a 0-1 scale), 0 for choices.
UNSEEN_SCORE = {"rating": 1.0, "choice": 0.0}
#: BLAS threads while imputing and drawing (many small matrix products and solves); ``None``
#: keeps the library default (``benchmarks/bench_threads.py`` times both).
BLAS_THREADS: int | None = 1
#: How a model nobody in a draw has seen is scored (see :func:`check_unseen`); a number also works.
UNSEEN_POLICIES: tuple[str, ...] = ("scale_min", "min_observed", "prism")
#: PRISM's scales: ratings 1-100 (its default when a rating scale is neither declared nor
#: inferred), choice shares 0-1. Imputed welfare is clipped to the scale.
CLIP = {"rating": (1.0, 100.0), "choice": (0.0, 1.0)}
#: Rating scales :func:`infer_scale` recognises: the narrowest one holding every observed score.
STANDARD_SCALES: tuple[tuple[float, float], ...] = (
    (0.0, 1.0),
    (-1.0, 1.0),
    (1.0, 5.0),
    (0.0, 5.0),
    (1.0, 7.0),
    (0.0, 10.0),
    (1.0, 10.0),
    (1.0, 100.0),
    (0.0, 100.0),
)
#: Relative tolerance (of the scale's width) within which mean scores tie.
TIE_TOLERANCE = 1e-9
#: Model labels of the matrices: PRISM's short names, the welfare notebook's, or the stored names.
MODEL_NAMES: tuple[str, ...] = ("short", "prism", "raw")
#: Draw engines: vectorised (numpy RNG) or the notebook's loop (Python ``random``).
ENGINES: tuple[str, ...] = ("fast", "reference")

#: A draw engine's random stream.
RandomStream = np.random.Generator | random.Random


def check_measure(measure: str) -> str:
    """Return ``measure`` if it is a welfare measure; raise :class:`ConfigError` otherwise.

    Parameters
    ----------
    measure : str
        ``"rating"`` or ``"choice"``.

    Returns
    -------
    str
        The measure.

    Example
    -------
    >>> check_measure("choice")
    'choice'
    """
    if measure not in MEASURES:
        raise ConfigError(f"unknown welfare measure {measure!r}; expected one of {', '.join(MEASURES)}")
    return measure


def check_scale(scale: Any) -> tuple[float, float]:
    """Return a rating scale as ``(lo, hi)`` floats; raise :class:`ConfigError` unless ``lo < hi``, both finite.

    Parameters
    ----------
    scale : pair of float
        The lowest and highest score of the rating scale.

    Returns
    -------
    tuple of (float, float)
        The scale.

    Example
    -------
    >>> check_scale([1, 100])
    (1.0, 100.0)
    >>> check_scale((5, 5))
    Traceback (most recent call last):
    ...
    pluralis.errors.ConfigError: scale must be (lowest, highest) score with lowest < highest, got (5, 5)
    """
    try:
        lo, hi = (float(v) for v in scale)
    except (TypeError, ValueError):
        raise ConfigError(f"scale must be (lowest, highest) score, got {scale!r}") from None
    if not (np.isfinite(lo) and np.isfinite(hi) and lo < hi):
        raise ConfigError(f"scale must be (lowest, highest) score with lowest < highest, got {scale!r}")
    return lo, hi


def check_unseen(unseen: Any) -> str | float:
    """Return a valid ``unseen`` policy: how a model nobody in a draw saw is scored.

    ``"scale_min"`` (default): the bottom of the rating scale (declared, or :func:`infer_scale`);
    ``"min_observed"``: the lowest rating in the data; ``"prism"``: PRISM's as-coded 1 (right only
    on PRISM's 1-100 scale); a number: that rating, in the scores' own units. Choices always score
    0 (a model nobody saw was chosen by nobody), except under ``"min_observed"`` (the lowest share).

    Parameters
    ----------
    unseen : str or float
        The policy.

    Returns
    -------
    str or float
        The policy (a number as ``float``).

    Example
    -------
    >>> check_unseen("scale_min"), check_unseen(0)
    ('scale_min', 0.0)
    >>> check_unseen("lowest")
    Traceback (most recent call last):
    ...
    pluralis.errors.ConfigError: unseen must be 'scale_min', 'min_observed', 'prism' or a number, got 'lowest'
    """
    if isinstance(unseen, str):
        if unseen in UNSEEN_POLICIES:
            return unseen
    elif isinstance(unseen, (int, float, np.integer, np.floating)) and not isinstance(unseen, bool):
        if np.isfinite(unseen):
            return float(unseen)
    raise ConfigError(f"unseen must be 'scale_min', 'min_observed', 'prism' or a number, got {unseen!r}")


def infer_scale(scores: Any) -> tuple[tuple[float, float], str]:
    """The rating scale of observed scores: the narrowest of :data:`STANDARD_SCALES` holding them all.

    When none holds them, the observed range itself (noted as such). Rescaling the scores from
    one standard scale to another (1-100 to 0-1, say) moves the inferred scale with them; for
    other units, declare the scale (``scale=(lo, hi)``) or use ``unseen="min_observed"``.

    Parameters
    ----------
    scores : array-like of float
        Observed scores (NaN ignored).

    Returns
    -------
    tuple
        ``((lo, hi), how)``: the scale and a note of how it was found.

    Example
    -------
    >>> infer_scale([3, 57, 100])
    ((1.0, 100.0), 'inferred: the 1-100 scale holds every observed score (3-100)')
    >>> infer_scale([0.02, 1.0])[0], infer_scale([-0.5, 0.5])[0]
    ((0.0, 1.0), (-1.0, 1.0))
    >>> infer_scale([150, 180])
    ((150.0, 180.0), 'inferred: no standard scale holds the observed scores (150-180); using their range')
    """
    x = np.asarray(scores, dtype=float)
    x = x[~np.isnan(x)]
    if x.size == 0:
        return CLIP["rating"], "PRISM's 1-100 (no score observed)"
    lo, hi = float(x.min()), float(x.max())
    seen = f"{lo:g}-{hi:g}"
    fits = [s for s in STANDARD_SCALES if s[0] <= lo and hi <= s[1]]
    if fits:
        best = min(fits, key=lambda s: s[1] - s[0])
        return best, f"inferred: the {best[0]:g}-{best[1]:g} scale holds every observed score ({seen})"
    if hi == lo:
        return (lo, lo + 1.0), f"inferred: every observed score is {lo:g}; using ({lo:g}, {lo + 1:g})"
    return (lo, hi), f"inferred: no standard scale holds the observed scores ({seen}); using their range"


# --- individual welfare matrices -----------------------------------------------------------------


def _model_label(names: pd.Series, model_names: str | Callable[[str], str]) -> pd.Series:
    if callable(model_names):
        return names.map(model_names)
    if model_names not in MODEL_NAMES:
        raise ConfigError(f"model_names must be 'short', 'prism', 'raw' or a function, got {model_names!r}")
    if model_names == "prism":
        return names.astype(str).str.split("/").str[-1]
    if model_names == "short":
        lookup = {u: short_name(u) for u in pd.unique(names)}
        return names.map({u: (s if s != u else str(u).split("/")[-1]) for u, s in lookup.items()})
    return names


@dataclass
class WelfareMatrices:
    """Individual welfare: ``rating`` and ``choice`` DataFrames (participants x models, NaN = never shown).

    A measure that was not built is ``None`` (asking for it is an error naming the column it needs).
    ``scale`` is the rating scale ``(lo, hi)`` (``None``: PRISM's 1-100) and ``scale_source`` says
    whether it was declared or how it was inferred.

    Example
    -------
    >>> import pandas as pd
    >>> m = WelfareMatrices(pd.DataFrame({"x": [50.0]}, index=["a"]), pd.DataFrame({"x": [1.0]}, index=["a"]))
    >>> m.models, float(m["choice"].loc["a", "x"]), m.rating_scale
    (['x'], 1.0, (1.0, 100.0))
    >>> WelfareMatrices(rating=m.rating)["choice"]
    Traceback (most recent call last):
    ...
    pluralis.errors.ConfigError: no choice welfare: the matrices were built for rating only (the choice measure needs the utterances' if_chosen column)
    """

    rating: pd.DataFrame | None = None
    choice: pd.DataFrame | None = None
    imputed: bool = False
    scale: tuple[float, float] | None = None
    scale_source: str = ""

    def __post_init__(self) -> None:
        if self.rating is None and self.choice is None:
            raise ConfigError("welfare matrices need a rating or a choice matrix")
        if self.scale is not None:
            self.scale = check_scale(self.scale)

    def __getitem__(self, measure: str) -> pd.DataFrame:
        out = self.rating if check_measure(measure) == "rating" else self.choice
        if out is None:
            raise ConfigError(
                f"no {measure} welfare: the matrices were built for {' and '.join(self.measures)} only (the "
                f"{measure} measure needs the utterances' {MEASURE_COLUMNS[measure]} column)"
            )
        return out

    @property
    def measures(self) -> tuple[str, ...]:
        """The measures these matrices hold."""
        return tuple(m for m in MEASURES if getattr(self, m) is not None)

    @property
    def models(self) -> list[str]:
        """Model names (columns), in order of first appearance."""
        return list(self[self.measures[0]].columns)

    @property
    def rating_scale(self) -> tuple[float, float]:
        """The rating scale ``(lo, hi)``: declared or inferred, else PRISM's 1-100."""
        return self.scale if self.scale is not None else CLIP["rating"]

    def scale_of(self, measure: str) -> tuple[float, float]:
        """The scale of a measure: the rating scale, or 0-1 for choice shares.

        Parameters
        ----------
        measure : {"rating", "choice"}
            The measure.

        Returns
        -------
        tuple of (float, float)
            ``(lo, hi)``.

        Example
        -------
        >>> m = WelfareMatrices(pd.DataFrame({"x": [0.5]}), scale=(0, 1))
        >>> m.scale_of("rating"), m.scale_of("choice")
        ((0.0, 1.0), (0.0, 1.0))
        """
        return self.rating_scale if check_measure(measure) == "rating" else CLIP["choice"]

    def unseen_score(self, measure: str, unseen: str | float = "scale_min") -> float:
        """The score of a model nobody in a draw saw, under an ``unseen`` policy (:func:`check_unseen`).

        Parameters
        ----------
        measure : {"rating", "choice"}
            The measure.
        unseen : str or float
            ``"scale_min"``, ``"min_observed"``, ``"prism"`` or a rating.

        Returns
        -------
        float
            The score, in the measure's units.

        Example
        -------
        >>> m = WelfareMatrices(pd.DataFrame({"x": [40.0, 70.0]}), scale=(0, 100))
        >>> m.unseen_score("rating"), m.unseen_score("rating", "min_observed"), m.unseen_score("rating", "prism")
        (0.0, 40.0, 1.0)
        """
        policy = check_unseen(unseen)
        if policy == "min_observed":
            values = self[measure].to_numpy(dtype=float)
            return float(np.nanmin(values)) if np.isfinite(values).any() else self.scale_of(measure)[0]
        if policy == "prism":
            return UNSEEN_SCORE[check_measure(measure)]
        if measure == "choice" or policy == "scale_min":
            return self.scale_of(measure)[0]
        return float(policy)

    def with_scale(self, scale: tuple[float, float] | None, source: str = "declared") -> WelfareMatrices:
        """The same matrices with a declared rating scale (checked against the observed ratings).

        Parameters
        ----------
        scale : pair of float or None
            ``(lo, hi)``; ``None`` returns self.
        source : str
            How the scale was found (kept in :attr:`scale_source`).

        Returns
        -------
        WelfareMatrices
            With ``scale`` set.

        Example
        -------
        >>> m = WelfareMatrices(pd.DataFrame({"x": [0.5, 0.9]}))
        >>> m.with_scale((0, 1)).scale_source
        'declared'
        >>> m.with_scale((1, 100))
        Traceback (most recent call last):
        ...
        pluralis.errors.ConfigError: scale=(1.0, 100.0) but 2 rating(s) fall outside it (lowest 0.5, highest 0.9); declare the scale the scores were given on
        """
        if scale is None:
            return self
        lo, hi = check_scale(scale)
        if self.rating is not None:
            r = self.rating.to_numpy(dtype=float)
            r = r[~np.isnan(r)]
            outside = int(((r < lo) | (r > hi)).sum())
            if outside:
                raise ConfigError(
                    f"scale=({lo}, {hi}) but {outside} rating(s) fall outside it (lowest {r.min():g}, highest "
                    f"{r.max():g}); declare the scale the scores were given on"
                )
        return dataclasses.replace(self, scale=(lo, hi), scale_source=source)

    def impute(self, random_state: int = 1, normalise: bool = True) -> WelfareMatrices:
        """Both matrices with missing welfare imputed (:func:`impute_matrix`); self if already imputed.

        Parameters
        ----------
        random_state : int
            Seed of the imputer.
        normalise : bool
            Impute on the scores mapped onto [0, 1] by their scale (unit-free, default), or on the
            raw scores (PRISM's notebook 11c; differs by under 0.001 points on PRISM-like data).

        Returns
        -------
        WelfareMatrices
            With ``imputed=True``.

        Example
        -------
        >>> import numpy as np, pandas as pd
        >>> W = pd.DataFrame({"x": [1.0, 0.0, np.nan, 1.0], "y": [1.0, 0.0, 1.0, np.nan]})
        >>> m = WelfareMatrices(W * 99 + 1, W).impute()
        >>> m.imputed, int(m.choice.isna().sum().sum())
        (True, 0)
        """
        if self.imputed:
            return self
        filled = {
            m: impute_matrix(self[m], m, random_state=random_state, scale=self.scale_of(m), normalise=normalise)
            for m in self.measures
        }
        return dataclasses.replace(self, imputed=True, rating=filled.get("rating"), choice=filled.get("choice"))


def welfare_matrices(
    utterances: pd.DataFrame,
    *,
    measures: Sequence[str] = MEASURES,
    balanced_only: bool = True,
    turn: int = 0,
    model_names: str | Callable[[str], str] = "short",
    impute: bool = False,
    random_state: int = 1,
    scale: tuple[float, float] | None = None,
) -> WelfareMatrices:
    """RATING and CHOICE matrices (spec §7.2) from utterances.

    Only the columns the requested measures use are needed: ``score`` for ``rating``,
    ``if_chosen`` for ``choice``.

    Parameters
    ----------
    utterances : pandas.DataFrame
        Utterances with ``user_id, model_name, turn`` and the measures' columns (and
        ``included_in_balanced_subset`` when ``balanced_only``).
    measures : sequence of {"rating", "choice"}
        The matrices to build.
    balanced_only : bool
        Use only conversations in PRISM's balanced subset (PRISM's welfare analysis does).
    turn : int
        The turn whose utterances count (PRISM: the opening turn, 0).
    model_names : {"short", "prism", "raw"} or callable
        Model labels: PRISM's short names (``"gpt-4-turbo"``), the welfare notebook's
        ``model_name.split("/")[-1]``, the stored names, or a function of the stored name.
    impute : bool
        Fill missing welfare with :func:`impute_matrix` (App. U.3).
    random_state : int
        Seed of the imputer.
    scale : pair of float, optional
        The rating scale ``(lo, hi)`` the scores were given on; default: inferred from the
        scores used (:func:`infer_scale`).

    Returns
    -------
    WelfareMatrices
        Participants (sorted ids) x models (in order of first appearance, which only matters for
        tie-breaks), with the rating scale and how it was found.

    See Also
    --------
    draw : the draws scored on these matrices.

    Example
    -------
    >>> import pandas as pd
    >>> u = pd.DataFrame({"user_id": ["a", "a", "b"], "model_name": ["m1", "m2", "m1"], "turn": 0,
    ...                   "included_in_balanced_subset": True, "score": [80, 40, 60], "if_chosen": [True, False, True]})
    >>> m = welfare_matrices(u)
    >>> m.rating.to_dict()
    {'m1': {'a': 80.0, 'b': 60.0}, 'm2': {'a': 40.0, 'b': nan}}
    >>> m.rating_scale, m.scale_source
    ((1.0, 100.0), 'inferred: the 1-100 scale holds every observed score (40-80)')
    >>> welfare_matrices(u.drop(columns="if_chosen"), measures=["rating"]).measures
    ('rating',)
    """
    measures = tuple(dict.fromkeys(check_measure(m) for m in ((measures,) if isinstance(measures, str) else measures)))
    if not measures:
        raise ConfigError("welfare matrices need at least one measure")
    values = [MEASURE_COLUMNS[m] for m in measures]
    need = ["user_id", "model_name", "turn", *values] + (["included_in_balanced_subset"] if balanced_only else [])
    missing = [c for c in need if c not in utterances.columns]
    if missing:
        why = ", ".join(f"{c} ({m})" for m, c in MEASURE_COLUMNS.items() if c in missing and m in measures)
        raise ConfigError(
            f"utterances lack column(s) {missing} needed for welfare matrices"
            + (f"; measure columns: {why}" if why else "")
            + (
                "; pass balanced_only=False to use every conversation"
                if "included_in_balanced_subset" in missing
                else ""
            )
        )
    keep = (utterances["turn"] == turn).to_numpy()
    if balanced_only:
        keep = keep & utterances["included_in_balanced_subset"].fillna(False).astype(bool).to_numpy()
    u = utterances.loc[keep, ["user_id", "model_name", *values]]
    if u.empty:
        where = " in the balanced subset" if balanced_only else ""
        raise ConfigError(f"no utterances at turn {turn}{where} to build welfare matrices")
    model = _model_label(u["model_name"], model_names)
    order = pd.Index(list(pd.unique(model)), name="model")
    user = u["user_id"].astype(str)
    users = pd.Index(np.sort(np.asarray(pd.unique(user))), name="user_id")
    ui = users.get_indexer(user)
    mi = order.get_indexer(model)
    shape = (len(users), len(order))
    out: dict[str, pd.DataFrame] = {}
    for measure in measures:
        x = u[MEASURE_COLUMNS[measure]].to_numpy(dtype=float)
        ok = ~np.isnan(x)  # a missing score or choice does not count as seen
        cnt = np.zeros(shape)
        np.add.at(cnt, (ui[ok], mi[ok]), 1.0)
        tot = np.zeros(shape)
        np.add.at(tot, (ui[ok], mi[ok]), x[ok])
        with np.errstate(invalid="ignore", divide="ignore"):
            vals = np.where(cnt > 0, tot / np.where(cnt > 0, cnt, 1), np.nan)
        out[measure] = pd.DataFrame(vals, index=users, columns=order)
    mats = WelfareMatrices(out.get("rating"), out.get("choice"))
    if "rating" in out:
        observed = u[MEASURE_COLUMNS["rating"]].to_numpy(dtype=float)
        mats = mats.with_scale(scale) if scale is not None else mats.with_scale(*infer_scale(observed))
    return mats.impute(random_state) if impute else mats


def impute_matrix(
    matrix: pd.DataFrame,
    measure: str,
    *,
    random_state: int = 1,
    max_iter: int = 10,
    scale: tuple[float, float] | None = None,
    normalise: bool = True,
) -> pd.DataFrame:
    """Impute missing individual welfare as PRISM App. U.3.

    ``IterativeImputer(random_state=1)`` (BayesianRidge, 10 rounds, mean start) is fit on the
    whole matrix and its output clipped to the measure's scale (PRISM: [1, 100] for ratings,
    [0, 1] for choices). With ``normalise`` the imputer works on the scores mapped onto [0, 1]
    by the scale, so the imputed welfare does not depend on the units of the scores (BayesianRidge's
    priors are not quite scale-free); ``normalise=False`` is PRISM's notebook on the raw scores.

    Parameters
    ----------
    matrix : pandas.DataFrame
        Participants x models, NaN where a participant never saw a model.
    measure : {"rating", "choice"}
        Which scale applies by default.
    random_state : int
        Seed of the imputer.
    max_iter : int
        Imputation rounds.
    scale : pair of float, optional
        The scale ``(lo, hi)`` (default :data:`CLIP` of the measure).
    normalise : bool
        Impute on the scores mapped onto [0, 1] (default), or on the raw scores.

    Returns
    -------
    pandas.DataFrame
        The matrix with NaNs filled; columns with no observed value stay NaN.

    Example
    -------
    >>> import numpy as np, pandas as pd
    >>> m = pd.DataFrame({"x": [1.0, 0.0, np.nan, 1.0], "y": [1.0, 0.0, 1.0, np.nan]})
    >>> int(impute_matrix(m, "choice").isna().sum().sum())
    0
    >>> a = impute_matrix(m * 99 + 1, "rating")
    >>> b = impute_matrix(m * 2 - 1, "rating", scale=(-1, 1))
    >>> bool(np.allclose((a - 1) / 99, (b + 1) / 2))
    True
    """
    from sklearn.experimental import enable_iterative_imputer  # noqa: F401
    from sklearn.impute import IterativeImputer

    lo, hi = check_scale(scale) if scale is not None else CLIP[check_measure(measure)]
    out = matrix.copy()
    cols = [c for c in matrix.columns if matrix[c].notna().any()]
    if not cols or not matrix[cols].isna().any().any():
        return out
    imp = IterativeImputer(random_state=random_state, max_iter=max_iter)
    shift, width = (lo, hi - lo) if normalise else (0.0, 1.0)
    unit = (matrix[cols].to_numpy(dtype=float) - shift) / width
    # many small BayesianRidge solves: one BLAS thread is 20-40x faster than the default two
    with warnings.catch_warnings(), _blas_limit(BLAS_THREADS):
        warnings.simplefilter("ignore")  # ConvergenceWarning on small matrices
        filled = imp.fit_transform(unit)
    out[cols] = np.clip(shift + width * filled, lo, hi)
    return out


# --- the fast engine -----------------------------------------------------------------------------


def draw_indices(
    rng: np.random.Generator, pool_size: int, n: int, n_draws: int, replace: bool = True, p: np.ndarray | None = None
) -> np.ndarray:
    """Positions into a pool for ``n_draws`` draws of ``n`` participants, all at once.

    Parameters
    ----------
    rng : numpy.random.Generator
        The random stream.
    pool_size : int
        Number of participants in the pool.
    n : int
        Participants per draw.
    n_draws : int
        Number of draws.
    replace : bool
        Draw with replacement; without, ``p`` uses Efraimidis-Spirakis weighted sampling.
    p : numpy.ndarray or None
        Draw probabilities of the pool's members (``None``: uniform).

    Returns
    -------
    numpy.ndarray
        Integer array of shape ``(n_draws, n)``.

    Example
    -------
    >>> idx = draw_indices(np.random.default_rng(0), 5, 5, 2, replace=False)
    >>> idx.shape, sorted(idx[0].tolist())
    ((2, 5), [0, 1, 2, 3, 4])
    """
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


def fast_winners(
    values: np.ndarray,
    seen: np.ndarray,
    idx: np.ndarray,
    unseen_score: float,
    rng: np.random.Generator,
    tol: float = 1e-9,
    atol: float | None = None,
) -> np.ndarray:
    """The model each draw chooses: argmax of the nan-aware means of its rows, ties broken uniformly.

    Parameters
    ----------
    values : numpy.ndarray
        Pool members x models, individual welfare with 0 where unseen.
    seen : numpy.ndarray
        Pool members x models, 1.0 where the member saw the model, else 0.0.
    idx : numpy.ndarray
        ``(n_draws, n)`` positions into the pool (:func:`draw_indices`).
    unseen_score : float
        Score of a model nobody in the draw saw (:meth:`WelfareMatrices.unseen_score`).
    rng : numpy.random.Generator
        The random stream for tie-breaks.
    tol : float
        Relative tolerance within which scores tie (of ``max(1, |best|)``), when ``atol`` is not given.
    atol : float, optional
        Absolute tolerance within which scores tie; :func:`draw` passes a fixed fraction of the
        scale's width, so ties do not depend on the units of the scores.

    Returns
    -------
    numpy.ndarray
        The winning model's column per draw.

    Example
    -------
    >>> values = np.array([[90.0, 10.0], [20.0, 0.0]])
    >>> seen = np.array([[1.0, 1.0], [1.0, 0.0]])
    >>> fast_winners(values, seen, np.array([[0, 1], [1, 1]]), 1.0, np.random.default_rng(0)).tolist()
    [0, 0]
    """
    n_draws = idx.shape[0]
    pool = values.shape[0]
    flat = (np.arange(n_draws)[:, None] * pool + idx).ravel()
    counts = np.bincount(flat, minlength=n_draws * pool).reshape(n_draws, pool).astype(float)
    sums = counts @ values
    nseen = counts @ seen
    with np.errstate(invalid="ignore", divide="ignore"):
        score = np.where(nseen > 0, sums / np.where(nseen > 0, nseen, 1), unseen_score)
    best = score.max(axis=1, keepdims=True)
    ties = score >= best - (atol if atol is not None else tol * np.maximum(1.0, np.abs(best)))
    u = rng.random(score.shape)
    return np.where(ties, u, -1.0).argmax(axis=1)


# --- the reference engine ------------------------------------------------------------------------


def _weighted_sample(rng: random.Random, items: list[str], weights: list[float], n: int) -> list[str]:
    keys = [rng.random() ** (1.0 / w) if w > 0 else -1.0 for w in weights]
    order = sorted(range(len(items)), key=lambda i: -keys[i])
    return [items[i] for i in order[:n]]


def reference_winners(
    matrix: pd.DataFrame,
    pool_ids: Sequence[str],
    n: int,
    n_draws: int,
    unseen_score: float,
    rng: random.Random,
    replace: bool = True,
    p: np.ndarray | None = None,
) -> np.ndarray:
    """The notebook's loop (11b ``gen_model_distribution``): one pandas reindex and mean per draw.

    Each draw is ``rng.choices(pool_ids, k=n)`` (``rng.sample`` without replacement), the
    column means of those rows with unseen models scored ``unseen_score``, and
    ``rng.choice`` among the models with the highest mean: the calls PRISM's notebook makes on
    its ``random.seed(1)`` stream, in the same order.

    Parameters
    ----------
    matrix : pandas.DataFrame
        Participants x models, individual welfare (NaN = unseen).
    pool_ids : sequence of str
        The pool's participant ids (ids not in ``matrix`` count as having seen nothing).
    n : int
        Participants per draw.
    n_draws : int
        Number of draws.
    unseen_score : float
        Score of a model nobody in the draw saw (PRISM: :data:`UNSEEN_SCORE`).
    rng : random.Random
        The random stream, passed explicitly: to reproduce PRISM's notebook draw by draw, pass
        one ``random.Random(1)`` through all of its runs in the notebook's order (rating US, UK;
        then choice US, UK), as :func:`pluralis.welfare.engine.reproduce_prism_welfare` does.
    replace : bool
        Draw with replacement (PRISM's code).
    p : numpy.ndarray or None
        Draw probabilities of the pool's members (``None``: uniform).

    Returns
    -------
    numpy.ndarray
        The winning model's column per draw.

    See Also
    --------
    fast_winners : the vectorised engine (same distribution, numpy's random stream).

    Example
    -------
    >>> import random
    >>> W = pd.DataFrame({"m1": [90.0, 20.0], "m2": [10.0, np.nan]}, index=["a", "b"])
    >>> reference_winners(W, ["a", "b"], 2, 3, 1.0, random.Random(1)).tolist()
    [0, 0, 0]
    """
    columns = list(matrix.columns)
    pos = {m: k for k, m in enumerate(columns)}
    ids = list(pool_ids)
    out = np.empty(n_draws, dtype=int)
    weights = None if p is None else [float(x) for x in p]
    for r in range(n_draws):
        if replace:
            s = rng.choices(ids, weights=weights, k=n)
        else:
            s = rng.sample(ids, n) if weights is None else _weighted_sample(rng, ids, weights, n)
        score = matrix.reindex(s).mean().fillna(unseen_score)
        winners = list(score[score >= score.max()].index)
        out[r] = pos[rng.choice(winners)]
    return out


# --- drawing a design ----------------------------------------------------------------------------


def _blas_limit(n: int | None) -> AbstractContextManager[None]:
    """At most ``n`` BLAS threads (:func:`pluralis.threads.blas_threads`); ``None`` leaves the setting alone."""
    return blas_threads(n) if n is not None else nullcontext()


@dataclass(frozen=True)
class Draws:
    """The draws of a design: for each (measure, population, scheme), the chosen model per draw.

    ``winners`` maps ``(measure, population, scheme)`` to an integer array of length ``n_draws``
    indexing ``models``; keys are in drawing order (measures, then populations, then schemes).

    Example
    -------
    >>> d = Draws(("rating",), ["m1", "m2"], 2, {("rating", "Rep", "Rep (2)"): np.array([1, 0])}, "fast")
    >>> [d.models[i] for i in d.winners[("rating", "Rep", "Rep (2)")]]
    ['m2', 'm1']
    """

    measures: tuple[str, ...]
    models: list[str]
    n_draws: int
    winners: dict[tuple[str, str, str], np.ndarray]
    engine: str = "fast"


def _stream(engine: str, seed: int | None, rng: RandomStream | None) -> RandomStream:
    if engine == "fast":
        if rng is None:
            return np.random.default_rng(seed)
        if not isinstance(rng, np.random.Generator):
            raise ConfigError(f"the fast engine draws from a numpy Generator, got {type(rng).__name__}")
        return rng
    if rng is None:
        return random.Random(seed)
    if not isinstance(rng, random.Random):
        raise ConfigError(f"the reference engine draws from a random.Random, got {type(rng).__name__}")
    return rng


def _pool_winners(
    matrices: WelfareMatrices, measure: str, n_draws: int, replace: bool, stream: RandomStream, unseen_policy: Any
) -> Callable[[Pool], np.ndarray]:
    """The draw of one pool under one measure, for the engine ``stream`` belongs to."""
    matrix = matrices[measure]
    unseen = matrices.unseen_score(measure, unseen_policy)
    lo, hi = matrices.scale_of(measure)
    atol = TIE_TOLERANCE * (hi - lo)
    if isinstance(stream, random.Random):
        pyrng = stream

        def reference(pool: Pool) -> np.ndarray:
            return reference_winners(matrix, list(pool.ids), pool.scheme.n, n_draws, unseen, pyrng, replace, pool.p)

        return reference
    rng = stream
    wv = matrix.to_numpy(dtype=float)
    blank = np.zeros((1, wv.shape[1]))  # participants with no row: seen nothing
    seen_all = np.vstack([~np.isnan(wv), blank.astype(bool)])
    values_all = np.vstack([np.where(~np.isnan(wv), wv, 0.0), blank])
    row_of = pd.Index(matrix.index.astype(str))

    def fast(pool: Pool) -> np.ndarray:
        rows = row_of.get_indexer(pool.ids)
        idx = draw_indices(rng, pool.size, pool.scheme.n, n_draws, replace, pool.p)
        return fast_winners(values_all[rows], seen_all[rows].astype(float), idx, unseen, rng, atol=atol)

    return fast


def draw(
    matrices: WelfareMatrices,
    design: Design,
    *,
    measures: Sequence[str] = MEASURES,
    n_draws: int = 1000,
    replace: bool = True,
    engine: str = "fast",
    common_draws: bool = False,
    seed: int | None = 1,
    rng: RandomStream | None = None,
    unseen: str | float = "scale_min",
) -> Draws:
    """Draw every scheme of a design ``n_draws`` times, for every measure and population.

    As PRISM's code, the seat-of-power draws are made afresh for every population (the
    populations only decide whose welfare the winners are scored by); ``common_draws`` reuses
    one set of draws per scheme for all populations (a paired comparison).

    Parameters
    ----------
    matrices : WelfareMatrices
        Individual welfare (:func:`welfare_matrices`).
    design : Design
        Pools and populations (:func:`pluralis.welfare.schemes.resolve`).
    measures : sequence of {"rating", "choice"}
        The welfare measures, drawn in this order.
    n_draws : int
        Draws per (measure, population, scheme).
    replace : bool
        Draw with replacement (PRISM's code).
    engine : {"fast", "reference"}
        Vectorised draws on a numpy stream, or the notebook's loop on a Python ``random`` stream.
    common_draws : bool
        Reuse each scheme's draws across populations.
    seed : int or None
        Seed of a fresh stream when ``rng`` is not given.
    rng : numpy.random.Generator or random.Random, optional
        The random stream to draw from, continuing its state: a numpy Generator for the fast
        engine, a ``random.Random`` for the reference engine. PRISM's notebook shares one
        ``random.seed(1)`` stream across its four runs; passing one ``random.Random(1)`` to the
        runs in its order reproduces it draw by draw.
    unseen : {"scale_min", "min_observed", "prism"} or float
        How a model nobody in a draw saw is scored (:func:`check_unseen`): by default the bottom
        of the rating scale (0 for choices), so the draws do not depend on the units of the scores.

    Returns
    -------
    Draws
        The chosen model per draw for every (measure, population, scheme).

    See Also
    --------
    pluralis.welfare.summaries.summarise : welfare tables from the draws.

    Example
    -------
    >>> from pluralis.data.synthetic import generate_study
    >>> from pluralis.welfare.schemes import resolve
    >>> f = generate_study(n_participants=200, seed=0).frames()
    >>> d = draw(welfare_matrices(f.utterances), resolve(f.survey, allow_oversample=True), n_draws=10)
    >>> len(d.winners), d.winners[("rating", "Rep", "Rep (10)")].shape
    (56, (10,))
    """
    OneOf(*ENGINES)("engine", engine)
    PositiveInt()("n_draws", n_draws)
    measures = tuple(check_measure(m) for m in measures)
    unseen = check_unseen(unseen)
    stream = _stream(engine, seed, rng)
    winners: dict[tuple[str, str, str], np.ndarray] = {}
    with _blas_limit(BLAS_THREADS if engine == "fast" else None):
        for measure in measures:
            winners_of = _pool_winners(matrices, measure, n_draws, replace, stream, unseen)
            shared: dict[str, np.ndarray] = {}
            for population in design.populations:
                for pool in design.pools:
                    name = pool.scheme.name
                    if not common_draws or name not in shared:
                        shared[name] = winners_of(pool)
                    winners[(measure, population, name)] = shared[name]
    return Draws(measures, matrices.models, n_draws, winners, engine)
