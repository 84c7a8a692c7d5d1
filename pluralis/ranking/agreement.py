"""Inter-rater agreement within and between groups: Krippendorff's α with participant-bootstrap CIs.

Disagreement is itself the pluralism signal: do people of one group agree with each other about
which model is better, and do they agree with people of another group?

Krippendorff's α
    ``α = 1 - D_o / D_e``: observed disagreement between values *pairable within units* (two
    raters rating the same item) over the disagreement expected between any two values
    (Krippendorff 2011, "Computing Krippendorff's alpha-reliability"). Metrics: ``"nominal"``
    (``δ = [c ≠ k]``: pairwise choices), ``"ordinal"`` (``δ = (Σ_{g=c..k} n_g - (n_c + n_k)/2)²``:
    ratings as ranks) and ``"interval"`` (``δ = (c - k)²``: ratings as numbers). With one value
    per rater and unit this is exactly the textbook α (checked against the ``krippendorff``
    package). A rater with several values in a unit (several battles on the same model pair)
    counts once, with the share of each value (a "soft" value), and is never paired with
    themselves.
Within and between groups
    ``within``: α computed on one group's raters only. ``between`` (groups ``g`` and ``h``):
    the observed disagreement averages over pairs of one rater from ``g`` and one from ``h``
    only; the expected disagreement pools both groups' values. A between-α below the
    within-αs means the groups disagree with each other more than among themselves —
    systematic group differences (cf. cross-replication reliability, Wong et al. 2021, which
    however uses each group's own marginals). Groups are rater attributes (participant fields).
Uncertainty
    every round of the participant bootstrap resamples raters (all groups together); a rater
    drawn twice counts twice but is never paired with their own copy. Percentile intervals by
    default (``interval="bc"`` / ``"bca"``, jackknife over raters, on request).

Data come as one row per judgement (``unit``, ``rater``, ``value``); :func:`choice_agreement`
builds them from battles (unit: the model pair, value: which side won), :func:`rating_agreement`
from rated responses (unit: the model by default, value: the normalised score).

Example
-------
>>> d = pd.DataFrame({"item": [1, 1, 2, 2, 3, 3], "rater": ["a", "b"] * 3, "v": [1, 1, 2, 2, 3, 1]})
>>> round(krippendorff_alpha(d, unit="item", rater="rater", value="v", level="interval"), 4)
0.0
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
import scipy.sparse as sp

from pluralis.errors import ConfigError, DataValidationError, Problem
from pluralis.ranking.battles import ratings_from_battles
from pluralis.ranking.intervals import bootstrap_interval, check_interval
from pluralis.ranking.resample import cluster_weights
from pluralis.ranking.subgroups import attach_fields
from pluralis.ranking.uncertainty import jackknife_blocks

__all__ = [
    "LEVELS",
    "AgreementData",
    "AgreementResult",
    "agreement",
    "choice_agreement",
    "choice_judgements",
    "krippendorff_alpha",
    "rating_agreement",
]

Level = Literal["nominal", "ordinal", "interval"]
LEVELS: tuple[str, ...] = ("nominal", "ordinal", "interval")

#: Elements of a (rounds x observations) weight block (bounds memory).
_BLOCK = 4_000_000


def _check_level(level: str) -> str:
    if level not in LEVELS:
        raise ConfigError(f"level must be one of {', '.join(LEVELS)}; got {level!r}")
    return level


class AgreementData:
    """Judgements compiled for fast α under rater re-weighting: one soft value per (unit, rater).

    Parameters
    ----------
    data
        one row per judgement.
    unit
        column(s) naming the item judged (rows with the same unit are pairable).
    rater
        the rater column (the bootstrap's resampling unit).
    value
        the judged value (numbers for interval/ordinal, any labels for nominal).
    level
        ``"nominal"``, ``"ordinal"`` or ``"interval"``.

    Example
    -------
    >>> d = pd.DataFrame({"u": [1, 1, 1], "r": ["a", "a", "b"], "v": ["x", "y", "x"]})
    >>> ad = AgreementData(d, unit="u", rater="r", value="v", level="nominal")
    >>> ad.n_obs, ad.P.toarray().tolist()   # rater a: half x, half y
    (2, [[0.5, 0.5], [1.0, 0.0]])
    """

    def __init__(self, data: pd.DataFrame, *, unit: str | Sequence[str], rater: str, value: str, level: str):
        self.level = _check_level(level)
        units = [unit] if isinstance(unit, str) else list(unit)
        missing = [c for c in [*units, rater, value] if c not in data.columns]
        if missing:
            raise DataValidationError([Problem("judgements", None, c, "required column is missing") for c in missing])
        d = data[[*units, rater, value]].dropna()
        if self.level != "nominal":
            vals = pd.to_numeric(d[value], errors="coerce")
            bad = vals.isna()
            if bad.any():
                row = int(np.flatnonzero(bad.to_numpy())[0])
                raise DataValidationError(
                    Problem(
                        "judgements",
                        row + 1,
                        value,
                        f"{self.level} agreement needs numbers, got {d[value].iloc[row]!r}",
                    )
                )
            d = d.assign(**{value: vals.to_numpy(dtype=float)})
        ucode = pd.MultiIndex.from_frame(d[units]).factorize()[0] if len(units) > 1 else pd.factorize(d[units[0]])[0]
        rcode, raters = pd.factorize(d[rater])
        self.categories: list[Any]
        if self.level == "nominal":
            vcode, labels = pd.factorize(d[value], sort=True)
            self.values = np.arange(len(labels), dtype=float)
            self.categories = list(labels)
        else:
            numbers = d[value].to_numpy(dtype=float)
            grid = np.unique(numbers)
            vcode = np.searchsorted(grid, numbers)
            self.values = grid.astype(float)
            self.categories = grid.tolist()
        self.raters = pd.Index(raters)
        self.n_raters = len(raters)
        U = int(ucode.max()) + 1 if len(ucode) else 0
        V = len(self.values)
        # one observation per (unit, rater): the share of each value
        ocode, ofirst = np.unique(ucode.astype(np.int64) * max(self.n_raters, 1) + rcode, return_inverse=True)
        ofirst = ofirst.reshape(-1)
        O = len(ocode)
        per = np.bincount(ofirst, minlength=O).astype(float)
        self.P = sp.csr_matrix((1.0 / per[ofirst], (ofirst, vcode)), shape=(O, V))
        self.P.sum_duplicates()
        self.obs_unit = (ocode // max(self.n_raters, 1)).astype(np.int64)
        self.obs_rater = (ocode % max(self.n_raters, 1)).astype(np.int64)
        self.n_obs, self.n_units, self.n_values = O, U, V
        self.inc = sp.csr_matrix((np.ones(O), (self.obs_unit, np.arange(O))), shape=(U, O))
        if self.level == "nominal":
            Pc = self.P.tocoo()
            self.PUV = sp.csr_matrix((Pc.data, (Pc.row, self.obs_unit[Pc.row] * V + Pc.col)), shape=(O, U * V))
            self.pp = np.asarray(self.P.multiply(self.P).sum(axis=1)).ravel()

    # --- α for rater weights -------------------------------------------------------------------
    def _per_unit(self, w: np.ndarray) -> np.ndarray:
        """``(R, U)`` sums over each unit's observations of ``w`` ``(R, O)``."""
        return np.asarray((self.inc @ w.T).T)

    def _x(self, n: np.ndarray) -> np.ndarray:
        """The value transform per round ``(R, V)``: values (interval) or mid-ranks (ordinal)."""
        if self.level == "ordinal":
            return np.cumsum(n, axis=1) - n / 2.0
        return np.broadcast_to(self.values, n.shape)

    def _expected(self, n: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Total pairable values and the expected disagreement per round from value counts ``n``."""
        ntot = n.sum(axis=1)
        if self.level == "nominal":
            num = ntot**2 - (n**2).sum(axis=1)
        else:
            x = self._x(n)
            num = 2.0 * (ntot * (n * x * x).sum(axis=1) - (n * x).sum(axis=1) ** 2)
        with np.errstate(invalid="ignore", divide="ignore"):
            return ntot, num / (ntot * (ntot - 1.0))

    def _moments(self, n: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``y = E x``, ``z = E x²`` of every observation's soft value per round, ``(R, O)``."""
        x = self._x(n)
        if self.level == "interval":
            y = self.P @ self.values
            z = self.P @ (self.values**2)
            return np.broadcast_to(y, (n.shape[0], self.n_obs)), np.broadcast_to(z, (n.shape[0], self.n_obs))
        return np.asarray((self.P @ x.T).T), np.asarray((self.P @ (x * x).T).T)

    def alpha(self, rater_weights: np.ndarray) -> np.ndarray:
        """Krippendorff's α for rater weights ``(R, raters)`` (0 leaves a rater out): ``(R,)``.

        Example
        -------
        >>> d = pd.DataFrame({"u": [1, 1, 2, 2], "r": ["a", "b", "a", "b"], "v": [1.0, 1.0, 0.0, 0.0]})
        >>> AgreementData(d, unit="u", rater="r", value="v", level="interval").alpha(np.ones((1, 2))).tolist()
        [1.0]
        """
        W = np.atleast_2d(np.asarray(rater_weights, dtype=float))
        out = np.empty(W.shape[0])
        step = max(1, _BLOCK // max(1, self.n_obs, self.n_units * self.n_values))
        for s in range(0, W.shape[0], step):
            out[s : s + step] = self._alpha(W[s : s + step][:, self.obs_rater])
        return out

    def _alpha(self, wo: np.ndarray) -> np.ndarray:
        m = self._per_unit(wo)
        q = self._per_unit(wo * wo)
        pairs = m * m - q
        c = np.divide(m, pairs, out=np.zeros_like(m), where=pairs > 1e-12)
        kappa = c[:, self.obs_unit] * (m[:, self.obs_unit] * wo - wo * wo)
        n = np.asarray((self.P.T @ kappa.T).T)
        ntot, De = self._expected(n)
        if self.level == "nominal":
            A = np.asarray((self.PUV.T @ wo.T).T).reshape(wo.shape[0], self.n_units, self.n_values)
            num = pairs - ((A * A).sum(axis=2) - self._per_unit(wo * wo * self.pp))
        else:
            y, z = self._moments(n)
            Sz, Tz = self._per_unit(wo * z), self._per_unit(wo * wo * z)
            Sy, Tyy = self._per_unit(wo * y), self._per_unit(wo * wo * y * y)
            num = 2.0 * (m * Sz - Tz) - 2.0 * (Sy * Sy - Tyy)
        with np.errstate(invalid="ignore", divide="ignore"):
            Do = (c * num).sum(axis=1) / ntot
            return 1.0 - Do / De

    def alpha_between(self, weights_g: np.ndarray, weights_h: np.ndarray) -> np.ndarray:
        """α between two rater sets (weights ``(R, raters)`` each, disjoint): cross pairs only, pooled values.

        Example
        -------
        >>> d = pd.DataFrame({"u": [1, 1, 2, 2], "r": ["a", "b", "a", "b"], "v": ["x", "y", "y", "x"]})
        >>> ad = AgreementData(d, unit="u", rater="r", value="v", level="nominal")
        >>> ad.alpha_between(np.array([[1.0, 0.0]]), np.array([[0.0, 1.0]])).tolist()   # a and b always differ
        [-0.5]
        """
        Wg = np.atleast_2d(np.asarray(weights_g, dtype=float))
        Wh = np.atleast_2d(np.asarray(weights_h, dtype=float))
        out = np.empty(Wg.shape[0])
        step = max(1, _BLOCK // max(1, self.n_obs, self.n_units * self.n_values))
        for s in range(0, Wg.shape[0], step):
            out[s : s + step] = self._between(Wg[s : s + step][:, self.obs_rater], Wh[s : s + step][:, self.obs_rater])
        return out

    def _between(self, wg: np.ndarray, wh: np.ndarray) -> np.ndarray:
        Mg, Mh = self._per_unit(wg), self._per_unit(wh)
        cross = Mg * Mh
        has = cross > 1e-12
        mu = np.where(has, Mg + Mh, 0.0)
        n = np.asarray((self.P.T @ ((wg + wh) * has[:, self.obs_unit]).T).T)
        ntot, De = self._expected(n)
        if self.level == "nominal":
            R = wg.shape[0]
            Ag = np.asarray((self.PUV.T @ wg.T).T).reshape(R, self.n_units, self.n_values)
            Ah = np.asarray((self.PUV.T @ wh.T).T).reshape(R, self.n_units, self.n_values)
            dis = cross - (Ag * Ah).sum(axis=2)
        else:
            y, z = self._moments(n)
            dis = (
                Mh * self._per_unit(wg * z)
                + Mg * self._per_unit(wh * z)
                - 2.0 * self._per_unit(wg * y) * self._per_unit(wh * y)
            )
        with np.errstate(invalid="ignore", divide="ignore"):
            mean_dis = np.divide(dis, cross, out=np.zeros_like(dis), where=has)
            Do = (mu * mean_dis).sum(axis=1) / ntot
            return 1.0 - Do / De

    def pairable_units(self, rater_mask: np.ndarray | None = None) -> int:
        """Units with values from at least two of the (masked) raters.

        Example
        -------
        >>> d = pd.DataFrame({"u": [1, 1, 2], "r": ["a", "b", "a"], "v": [1.0, 2.0, 3.0]})
        >>> AgreementData(d, unit="u", rater="r", value="v", level="interval").pairable_units()
        1
        """
        keep = np.ones(self.n_obs, dtype=bool) if rater_mask is None else np.asarray(rater_mask)[self.obs_rater]
        return int((np.bincount(self.obs_unit[keep], minlength=self.n_units) >= 2).sum())


def krippendorff_alpha(
    data: pd.DataFrame,
    *,
    unit: str | Sequence[str],
    rater: str,
    value: str,
    level: str = "interval",
) -> float:
    """Krippendorff's α of judgements in long form (one row per rater, unit and value).

    Parameters
    ----------
    data
        one row per judgement.
    unit, rater, value
        the item column(s), the rater column and the value column.
    level
        ``"nominal"``, ``"ordinal"`` or ``"interval"``.

    Returns
    -------
    float
        α (1 = perfect agreement, 0 = as by chance; NaN without pairable values).

    Example
    -------
    >>> d = pd.DataFrame({"item": [1, 1, 2, 2], "coder": ["a", "b", "a", "b"], "v": ["yes", "yes", "no", "yes"]})
    >>> round(krippendorff_alpha(d, unit="item", rater="coder", value="v", level="nominal"), 4)
    0.0
    """
    ad = AgreementData(data, unit=unit, rater=rater, value=value, level=level)
    return float(ad.alpha(np.ones((1, ad.n_raters)))[0])


# --- the analysis -----------------------------------------------------------------------------------


@dataclass
class AgreementResult:
    """α overall, within each group and between groups, with bootstrap intervals.

    ``table``: one row per coefficient — ``by`` (field, or ``"(all)"``), ``kind``
    (``"all"``, ``"within"``, ``"between"``), ``group``, ``other`` (between only), ``alpha``,
    ``lo``, ``hi``, ``se``, ``n_raters``, ``n_units`` (pairable units). ``draws``: the bootstrap
    draws per row key ``(by, kind, group, other)``.

    Example
    -------
    >>> t = pd.DataFrame({"by": ["g"], "kind": ["within"], "group": ["p"], "other": [None], "alpha": [0.5]})
    >>> AgreementResult(t).within()["alpha"].tolist()
    [0.5]
    """

    table: pd.DataFrame
    draws: dict[tuple, np.ndarray] = field(default_factory=dict)
    skipped: dict[tuple[str, Any], str] = field(default_factory=dict)

    def within(self) -> pd.DataFrame:
        """The within-group rows (see the class example)."""
        return self.table[self.table["kind"] == "within"]

    def between(self) -> pd.DataFrame:
        """The between-group rows.

        Example
        -------
        >>> t = pd.DataFrame({"kind": ["within", "between"], "alpha": [0.5, 0.1]})
        >>> AgreementResult(t).between()["alpha"].tolist()
        [0.1]
        """
        return self.table[self.table["kind"] == "between"]


AGREEMENT_COLUMNS = ["by", "kind", "group", "other", "alpha", "lo", "hi", "se", "n_raters", "n_units"]


def agreement(
    data: pd.DataFrame,
    *,
    unit: str | Sequence[str],
    value: str,
    rater: str = "user_id",
    level: str = "interval",
    by: str | Sequence[str] | None = None,
    survey: pd.DataFrame | None = None,
    rounds: int = 1000,
    ci: float = 0.95,
    interval: str = "percentile",
    seed: int | None = 0,
    min_raters: int = 5,
    exclude: Sequence[Any] = (),
    groups: Sequence[Any] | None = None,
    between: bool = True,
) -> AgreementResult:
    """Krippendorff's α overall, within and between groups of raters, with participant-bootstrap CIs.

    Parameters
    ----------
    data
        one row per judgement (``unit``, ``rater``, ``value``, and the ``by`` fields or a
        ``user_id`` to attach them from ``survey``).
    unit, value, rater, level
        see :func:`krippendorff_alpha`.
    by
        rater attribute(s) to group by (survey fields such as ``gender``; aliases as
        :func:`~pluralis.ranking.subgroups.resolve_field`). A field that varies within a rater
        is refused.
    survey
        participant frame to take ``by`` fields from (joined on ``user_id``).
    rounds, ci, interval, seed
        bootstrap rounds over raters (0: no intervals), interval level, ``"percentile"``,
        ``"bc"`` or ``"bca"`` (jackknife over raters), seed.
    min_raters
        groups with fewer raters are skipped.
    exclude, groups
        group values to drop, or the only ones to keep.
    between
        also compute α between every pair of groups.

    Returns
    -------
    AgreementResult
        the table (:data:`AGREEMENT_COLUMNS`) and the draws.

    See Also
    --------
    choice_agreement, rating_agreement

    Example
    -------
    >>> rng = np.random.default_rng(0)
    >>> truth = rng.normal(size=30)
    >>> rows = [(i, f"r{k}", truth[i] + rng.normal(0, 0.3 if k < 10 else 2.0), "calm" if k < 10 else "noisy")
    ...         for i in range(30) for k in range(20)]
    >>> d = pd.DataFrame(rows, columns=["item", "user_id", "v", "temper"])
    >>> res = agreement(d, unit="item", value="v", by="temper", rounds=100)
    >>> w = res.within().set_index("group")["alpha"]
    >>> bool(w["calm"] > 0.8 > w["noisy"])
    True
    """
    interval = check_interval(interval)
    if rater not in data.columns:
        raise DataValidationError(Problem("judgements", None, rater, "required column is missing"))
    fields = [] if by is None else ([by] if isinstance(by, str) else list(by))
    frame, names = attach_fields(data, fields, survey=survey) if fields else (data, [])
    ad = AgreementData(frame, unit=unit, rater=rater, value=value, level=level)
    R = ad.n_raters
    rng = np.random.default_rng(seed)
    if rounds > 0 and R < 2:
        raise ConfigError("a bootstrap over raters needs at least 2 raters")
    mult = cluster_weights(rng, rounds, R) if rounds > 0 else np.empty((0, R))
    jack_w = None
    if interval == "bca" and rounds > 0:
        block = jackknife_blocks(R, seed)
        jack_w = np.ones((int(block.max()) + 1, R))
        jack_w[block, np.arange(R)] = 0.0

    rows: list[dict] = []
    draws: dict[tuple, np.ndarray] = {}
    skipped: dict[tuple[str, Any], str] = {}

    def add(key: tuple, estimate: float, samples: np.ndarray, jack: np.ndarray | None, n_raters: int, n_units: int):
        by_, kind, group, other = key
        lo = hi = se = np.nan
        if len(samples):
            lo_a, hi_a = bootstrap_interval(
                samples[:, None],
                np.array([estimate]),
                level=ci,
                method=interval,
                jackknife=None if jack is None else jack[:, None],
            )
            lo, hi = float(lo_a[0]), float(hi_a[0])
            se = float(np.nanstd(samples, ddof=1)) if len(samples) > 1 else np.nan
        draws[key] = samples
        rows.append(
            {
                "by": by_,
                "kind": kind,
                "group": group,
                "other": other,
                "alpha": estimate,
                "lo": lo,
                "hi": hi,
                "se": se,
                "n_raters": n_raters,
                "n_units": n_units,
            }
        )

    ones = np.ones((1, R))
    add(
        ("(all)", "all", "(all)", None),
        float(ad.alpha(ones)[0]),
        ad.alpha(mult) if rounds > 0 else np.empty(0),
        None if jack_w is None else ad.alpha(jack_w),
        R,
        ad.pairable_units(),
    )
    excluded = set(exclude)
    for col in names:
        per_rater = frame[[rater, col]].dropna().drop_duplicates()
        if per_rater[rater].duplicated().any():
            who = per_rater.loc[per_rater[rater].duplicated(), rater].iloc[0]
            raise ConfigError(
                f"agreement groups must be rater attributes: {col!r} takes several values for rater {who!r} "
                "(group by a participant field)"
            )
        label = per_rater.set_index(rater)[col].reindex(ad.raters)
        values = [v for v in pd.unique(label.dropna()) if v not in excluded and (groups is None or v in groups)]
        masks = {}
        for v in sorted(values, key=str):
            mask = (label == v).to_numpy()
            if mask.sum() < min_raters:
                skipped[(col, v)] = f"{int(mask.sum())} raters"
                continue
            masks[v] = mask.astype(float)
            add(
                (col, "within", v, None),
                float(ad.alpha(masks[v][None, :])[0]),
                ad.alpha(mult * masks[v]) if rounds > 0 else np.empty(0),
                None if jack_w is None else ad.alpha(jack_w * masks[v]),
                int(mask.sum()),
                ad.pairable_units(mask),
            )
        if not between:
            continue
        keys = list(masks)
        for i in range(len(keys)):
            for j in range(i + 1, len(keys)):
                g, h = masks[keys[i]], masks[keys[j]]
                add(
                    (col, "between", keys[i], keys[j]),
                    float(ad.alpha_between(g[None, :], h[None, :])[0]),
                    ad.alpha_between(mult * g, mult * h) if rounds > 0 else np.empty(0),
                    None if jack_w is None else ad.alpha_between(jack_w * g, jack_w * h),
                    int(g.sum() + h.sum()),
                    ad.pairable_units((g + h) > 0),
                )
    table = pd.DataFrame(rows, columns=AGREEMENT_COLUMNS)
    table.attrs.update({"level": level, "rounds": rounds, "ci": ci, "interval": interval, "unit": unit})
    return AgreementResult(table, draws, skipped)


# --- judgements from battles and ratings ---------------------------------------------------------------


def choice_judgements(battles: pd.DataFrame, *, item: str | Sequence[str] | None = None) -> pd.DataFrame:
    """Pairwise choices as judgements: unit = the model pair (plus ``item``), value = which side won.

    The pair is put in alphabetical order (``first`` < ``second``) and the value is
    ``"first"``, ``"second"`` or ``"tie"``, so raters who prefer the same model agree whatever
    side it was shown on.

    Parameters
    ----------
    battles
        battle frame with ``model_a``, ``model_b``, ``winner`` and ``user_id``.
    item
        extra column(s) identifying the judged item (e.g. a prompt id shared by several raters);
        default: the model pair alone.

    Returns
    -------
    pandas.DataFrame
        the battles with ``pair`` and ``choice`` added.

    Example
    -------
    >>> b = pd.DataFrame({"model_a": ["y", "x"], "model_b": ["x", "y"], "winner": ["model_a", "model_b"],
    ...                   "user_id": ["u1", "u2"]})
    >>> choice_judgements(b)[["pair", "choice"]].values.tolist()   # both prefer y
    [['x | y', 'second'], ['x | y', 'second']]
    """
    for c in ("model_a", "model_b", "winner"):
        if c not in battles.columns:
            raise DataValidationError(Problem("battles", None, c, "required column is missing"))
    a = battles["model_a"].astype(str).to_numpy()
    b = battles["model_b"].astype(str).to_numpy()
    swap = a > b
    first = np.where(swap, b, a)
    second = np.where(swap, a, b)
    w = battles["winner"].astype(str).to_numpy()
    tie = np.char.startswith(w.astype(str), "tie")
    a_won = w == "model_a"
    first_won = np.where(swap, ~a_won, a_won)
    choice = np.where(tie, "tie", np.where(first_won, "first", "second"))
    out = battles.assign(pair=np.char.add(np.char.add(first.astype(str), " | "), second.astype(str)), choice=choice)
    if item is not None:
        cols = [item] if isinstance(item, str) else list(item)
        missing = [c for c in cols if c not in battles.columns]
        if missing:
            raise DataValidationError([Problem("battles", None, c, "required column is missing") for c in missing])
    return out


def choice_agreement(
    battles: pd.DataFrame, *, item: str | Sequence[str] | None = None, **kwargs: Any
) -> AgreementResult:
    """Nominal α of pairwise choices (see :func:`choice_judgements`), overall / within / between groups.

    Parameters
    ----------
    battles
        battle frame (with ``user_id``).
    item
        column(s) identifying the judged item besides the model pair.
    kwargs
        :func:`agreement`'s options (``by``, ``survey``, ``rounds``, ...).

    Returns
    -------
    AgreementResult

    Example
    -------
    >>> rows = [(x, y, "model_a" if k < 8 else "model_b", f"u{k}", "p" if k < 8 else "q")
    ...         for k in range(16) for x, y in (("x", "y"), ("z", "x"))]   # p: x > y, z > x; q: the reverse
    >>> b = pd.DataFrame(rows, columns=["model_a", "model_b", "winner", "user_id", "g"])
    >>> t = choice_agreement(b, by="g", rounds=0, min_raters=2).table.set_index(["kind", "group"])["alpha"]
    >>> float(t[("within", "p")]), float(t[("between", "p")]) < 0
    (1.0, True)
    """
    j = choice_judgements(battles, item=item)
    unit: list[str] = ["pair", *([] if item is None else ([item] if isinstance(item, str) else list(item)))]
    return agreement(j, unit=unit, value="choice", level="nominal", **kwargs)


def rating_agreement(
    battles: pd.DataFrame,
    *,
    unit: str | Sequence[str] = "model_name",
    value: str = "normalized_score",
    level: str = "interval",
    by: str | Sequence[str] | None = None,
    survey: pd.DataFrame | None = None,
    **kwargs: Any,
) -> AgreementResult:
    """α of ratings (the rated responses behind the battles), overall / within / between groups.

    PRISM participants rate their own prompts' responses, so by default the unit is the *model*
    and the value the participant's normalised score of its responses: "do raters agree how good
    each model is?" (a rater's several scores of one model form one soft value). Data where
    several raters rated the same response can pass that id as ``unit``.

    Parameters
    ----------
    battles
        battle frame (:func:`~pluralis.ranking.battles.ratings_from_battles` recovers the ratings)
        or a ratings frame with ``model_name``, the value column and ``user_id``.
    unit, value, level
        the item column(s), the rated value (``score``, ``normalized_score``, ...) and the metric.
    by, survey
        rater groups (see :func:`agreement`).
    kwargs
        :func:`agreement`'s other options.

    Returns
    -------
    AgreementResult

    Example
    -------
    >>> b = pd.DataFrame({"model_a": ["x", "x"], "model_b": ["y", "y"], "winner": ["model_a"] * 2,
    ...     "score_a": [80.0, 70.0], "score_b": [20.0, 30.0], "user_id": ["u1", "u2"], "interaction_id": ["i1", "i2"]})
    >>> res = rating_agreement(b, value="score", rounds=0)
    >>> round(float(res.table["alpha"].iloc[0]), 3)
    0.942
    """
    if "model_a" in battles.columns:
        extra = [] if by is None else ([by] if isinstance(by, str) else list(by))
        frame = battles
        if extra:
            frame, extra = attach_fields(battles, extra, survey=survey)
        ratings = ratings_from_battles(frame, carry=[c for c in extra if c in frame.columns])
        survey_for = None
    else:
        ratings, survey_for = battles, survey
    if value not in ratings.columns:
        raise DataValidationError(Problem("ratings", None, value, "required column is missing"))
    return agreement(ratings, unit=unit, value=value, level=level, by=by, survey=survey_for, **kwargs)
