"""Over-representation of groups in topics (spec §5.2, PRISM §3.1 / App. R.1), with bootstrap CIs.

For group ``g`` and topic ``t``::

    OR[g, t] = (N[g, t] / N[t]) / b[g]

``N[g, t]``: texts in topic t written by members of g; ``N[t]``: texts in topic t; ``b[g]``: the
base rate of g "in our overall sample". PRISM's example ({Female 48 %, Male 50 %, Non-binary 2 %})
is a share of *participants*: ``base="participants"`` (default), among the authors of the analysed
texts (PRISM's implementation notebook is lost, spec §5.2). ``base="prompts"`` uses g's share
of all texts instead, which is the exact null expectation when participants write different numbers
of texts; fields that vary within a participant (``conversation_type``) always use it. OR > 1: the
group "pulls more than its weight".

Uncertainty: a bootstrap over participants (each draw resamples participants with replacement and
carries all their texts), percentile CIs. A test of OR = 1 uses the excess count
``D = N[g, t] - b[g] N[t]`` (``OR - 1 = D / (b[g] N[t])``) and its bootstrap standard error,
``z = D / sd(D*)``, so a group absent from a topic still has a finite, honest test; p-values are
adjusted across all reported groups x topics (Holm by default). Groups with fewer than
``min_participants`` members are left out (PRISM's Fig. 23 shows groups of at least 20), as are
"Prefer not to say" groups by default (they still count in every denominator).

Example
-------
>>> a = pd.DataFrame({"user_id": [f"u{i}" for i in range(8)] * 2, "topic": [0, 0, 0, 1, 1, 1, 1, 1] * 2,
...                   "gender": ["F", "F", "F", "M", "M", "M", "M", "F"] * 2})
>>> t = over_representation(a, "gender", min_participants=1, n_boot=50)
>>> t.set_index(["group", "topic"])["factor"].round(2).to_dict()
{('F', 0): 2.0, ('F', 1): 0.4, ('M', 0): 0.0, ('M', 1): 1.6}
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy import stats
from statsmodels.stats.multitest import multipletests

from pluralis.data.vocab import PREFER_NOT_TO_SAY
from pluralis.errors import ConfigError
from pluralis.topics.data import attach_groups

#: Multiple-testing corrections (``statsmodels.stats.multitest.multipletests`` methods, or none).
CORRECTIONS: dict[str, str | None] = {
    "holm": "holm",
    "bh": "fdr_bh",
    "fdr_bh": "fdr_bh",
    "bonferroni": "bonferroni",
    "by": "fdr_by",
    "none": None,
}


def adjust_pvalues(p: np.ndarray, correction: str = "holm") -> np.ndarray:
    """Adjusted p-values (NaN stays NaN and is not counted in the family).

    ``correction``: ``"holm"``, ``"bh"`` (Benjamini-Hochberg FDR), ``"bonferroni"``, ``"by"`` or ``"none"``.

    Parameters
    ----------
    p : numpy.ndarray
        Raw p-values (NaN allowed).
    correction : str
        The correction (default ``"holm"``).

    Returns
    -------
    numpy.ndarray
        Adjusted p-values, same shape as ``p``.

    Example
    -------
    >>> adjust_pvalues(np.array([0.01, 0.04, np.nan, 0.03]), "holm").round(2).tolist()
    [0.03, 0.06, nan, 0.06]
    """
    if correction not in CORRECTIONS:
        raise ConfigError(f"unknown correction {correction!r}; choose one of {sorted(CORRECTIONS)}")
    p = np.asarray(p, dtype=float)
    out = np.full(p.shape, np.nan)
    ok = np.isfinite(p)
    method = CORRECTIONS[correction]
    if not ok.any():
        return out
    out[ok] = p[ok] if method is None else multipletests(p[ok], method=method)[1]
    return out


def _units(values: pd.Series) -> tuple[np.ndarray, pd.Index]:
    codes, uniques = pd.factorize(values.astype(object).where(values.notna(), "__nan__"), sort=False)
    return codes, pd.Index(uniques)


#: Above this many units the bootstrap draws Poisson(1) weights (the "Poisson bootstrap") instead of
#: multinomial counts: the same first two moments, at a fraction of the cost for Arena-sized data.
POISSON_BOOTSTRAP_UNITS = 50_000


def bootstrap_column_sums(A: sp.spmatrix, n_boot: int, rng: np.random.Generator, chunk: int = 64) -> np.ndarray:
    """Column sums of ``A`` (units x K) under ``n_boot`` bootstrap resamples of its rows: (n_boot, K).

    Each draw resamples the units (rows) with replacement (multinomial counts; Poisson(1) weights
    above :data:`POISSON_BOOTSTRAP_UNITS` units), ``chunk`` draws at a time.

    Parameters
    ----------
    A : scipy.sparse.spmatrix
        Units x K matrix (e.g. a user's texts per topic).
    n_boot : int
        Number of bootstrap draws.
    rng : numpy.random.Generator
        Random generator.
    chunk : int
        Draws computed at a time (default 64).

    Returns
    -------
    numpy.ndarray
        Column sums of each draw, ``(n_boot, K)``.

    Example
    -------
    >>> A = sp.csr_matrix(np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]))
    >>> S = bootstrap_column_sums(A, 200, np.random.default_rng(0))
    >>> S.shape, S.sum(axis=1).mean().round(0)     # every draw has 3 rows, 4 ones on average
    ((200, 2), np.float64(4.0))
    """
    U, K = A.shape
    out = np.empty((max(n_boot, 0), K))
    At = sp.csr_matrix(A.T)
    for start in range(0, max(n_boot, 0), chunk):
        b = min(chunk, n_boot - start)
        if U > POISSON_BOOTSTRAP_UNITS:
            W = rng.poisson(1.0, size=(b, U)).astype(np.float64)
        else:
            W = rng.multinomial(U, np.full(U, 1.0 / U), size=b).astype(np.float64)
        out[start : start + b] = (At @ W.T).T
    return out


def over_representation(
    assignments: pd.DataFrame,
    by: str | Sequence[str],
    *,
    survey: pd.DataFrame | None = None,
    base: str = "participants",
    topics: Sequence[int] | None = None,
    include_outliers: bool = False,
    min_participants: int = 20,
    exclude: Sequence[str] = (PREFER_NOT_TO_SAY,),
    n_boot: int = 1000,
    level: float = 0.95,
    alpha: float = 0.01,
    correction: str = "holm",
    seed: int | None = 0,
    unit: str = "user_id",
) -> pd.DataFrame:
    """Over-representation factor of every group in every topic, with bootstrap CIs and tests.

    Parameters
    ----------
    assignments
        one row per text with ``topic`` (``-1`` = outlier), ``unit`` (``user_id``) and the group
        fields (or take them from ``survey``).
    by
        group field(s), e.g. ``["gender", "age", "region", "conversation_type"]`` (aliases allowed).
    base
        ``"participants"`` (PRISM's example) or ``"prompts"`` (see the module docstring).
    topics, include_outliers
        topics to report (default: every topic; the outliers too with ``include_outliers``).
    min_participants, exclude
        groups to leave out of the table (they stay in every denominator).
    n_boot, level, seed
        participant bootstrap draws, CI level, seed (``n_boot=0``: no CIs or tests).
    alpha, correction
        significance after adjusting the p-values of all rows (see :func:`adjust_pvalues`).
    unit
        the column identifying participants (the bootstrap's unit).

    Returns
    -------
    DataFrame with ``field, group, topic, n_participants, n_group_topic, n_topic, base_rate,
    share, factor, ci_low, ci_high, excess, se_excess, p_value, p_adjusted, significant, base``;
    ``attrs["skipped"]`` lists the groups left out and why.

    Example
    -------
    >>> a = pd.DataFrame({"user_id": list("abcdef"), "topic": [0, 0, 1, 1, 1, 1], "age": list("oooyyy")})
    >>> over_representation(a, "age", min_participants=1, n_boot=0)[["group", "topic", "factor"]].values.tolist()
    [['o', 0, 2.0], ['o', 1, 0.5], ['y', 0, 0.0], ['y', 1, 1.5]]
    """
    if base not in ("participants", "prompts"):
        raise ConfigError(f"base must be 'participants' or 'prompts', got {base!r}")
    if not 0 < level < 1:
        raise ConfigError(f"level must be in (0, 1), got {level}")
    for col in ("topic", unit):
        if col not in assignments.columns:
            raise ConfigError(f"assignments need a {col!r} column")
    fields = [by] if isinstance(by, str) else list(by)
    frame, names = attach_groups(assignments, fields, survey)
    topic_values = np.asarray(frame["topic"], dtype=np.int64)
    all_topics = np.unique(topic_values)
    shown = [int(t) for t in (topics if topics is not None else all_topics) if include_outliers or int(t) >= 0]
    t_codes = np.searchsorted(all_topics, topic_values)
    shown_pos = np.searchsorted(all_topics, shown)
    u_codes, units = _units(frame[unit])
    U, T, n = len(units), len(all_topics), len(frame)
    ones = np.ones(n)
    C_all = sp.csr_matrix((ones, (u_codes, t_codes)), shape=(U, T))
    n_texts_u = np.asarray(C_all.sum(axis=1)).ravel()
    # every quantity the bootstrap needs is a column of one sparse (units x K) matrix A, so a draw
    # (weights over units) gives all of them in one product: [C_all | n_texts | per group: C_g, m_g]
    blocks: list[sp.spmatrix] = [C_all, sp.csr_matrix(n_texts_u[:, None])]
    specs: list[tuple[str, object, int, str, int]] = []  # field, group, n_participants, base used, column offset
    offset = T + 1
    skipped: dict[tuple[str, str], str] = {}
    excluded = set(exclude)
    for col in names:
        values = frame[col]
        varies = bool(len(values)) and bool(values.groupby(u_codes).nunique(dropna=True).max() > 1)
        use = "prompts" if (base == "prompts" or varies) else "participants"
        g_codes, groups = pd.factorize(values, sort=True)
        for gi, g in enumerate(groups):
            member = g_codes == gi
            members = np.unique(u_codes[member])
            if g in excluded:
                continue
            if len(members) < min_participants:
                skipped[(col, str(g))] = f"{len(members)} participants (< {min_participants})"
                continue
            Cg = sp.csr_matrix((ones[member], (u_codes[member], t_codes[member])), shape=(U, T))
            if use == "participants":
                m = np.zeros(U)
                m[members] = 1.0
            else:
                m = np.asarray(Cg.sum(axis=1)).ravel()
            blocks += [Cg, sp.csr_matrix(m[:, None])]
            specs.append((col, g, len(members), use, offset))
            offset += T + 1
    A = sp.hstack(blocks, format="csc")
    point = np.asarray(A.sum(axis=0)).ravel()
    draws = bootstrap_column_sums(A, n_boot, np.random.default_rng(seed))
    Nt, Nt_b = point[:T], draws[:, :T]
    n_all, n_all_b = float(n_texts_u.sum()), draws[:, T]
    q = (1 - level) / 2
    rows: list[dict] = []
    for col, g, n_part, use, off in specs:
        Ngt, Ngt_b = point[off : off + T], draws[:, off : off + T]
        m_sum, m_b = point[off + T], draws[:, off + T]
        b = m_sum / (U if use == "participants" else n_all)
        with np.errstate(divide="ignore", invalid="ignore"):
            b_b = m_b / (U if use == "participants" else n_all_b)
            share = Ngt / Nt
            factor = share / b
            f_b = (Ngt_b / Nt_b) / b_b[:, None]
            excess = Ngt - b * Nt
            ex_b = Ngt_b - b_b[:, None] * Nt_b
        for ti, t in zip(shown_pos, shown):  # one row per (group, topic)
            row = {
                "field": col,
                "group": g,
                "topic": t,
                "n_participants": n_part,
                "n_group_topic": int(Ngt[ti]),
                "n_topic": int(Nt[ti]),
                "base_rate": float(b),
                "share": float(share[ti]),
                "factor": float(factor[ti]),
                "excess": float(excess[ti]),
                "base": use,
            }
            if n_boot > 1:
                fb = f_b[:, ti]
                fb = fb[np.isfinite(fb)]
                eb = ex_b[:, ti]
                se = float(np.std(eb[np.isfinite(eb)], ddof=1))
                row["ci_low"] = float(np.quantile(fb, q)) if len(fb) else np.nan
                row["ci_high"] = float(np.quantile(fb, 1 - q)) if len(fb) else np.nan
                row["se_excess"] = se
                row["p_value"] = float(2 * stats.norm.sf(abs(excess[ti]) / se)) if se > 0 else np.nan
            rows.append(row)
    cols = [
        "field",
        "group",
        "topic",
        "n_participants",
        "n_group_topic",
        "n_topic",
        "base_rate",
        "share",
        "factor",
        "ci_low",
        "ci_high",
        "excess",
        "se_excess",
        "p_value",
        "p_adjusted",
        "significant",
        "base",
    ]
    table = pd.DataFrame(rows)
    for c in cols:
        if c not in table.columns:
            table[c] = np.nan
    table["p_adjusted"] = adjust_pvalues(table["p_value"].to_numpy(dtype=float), correction)
    table["significant"] = (table["p_adjusted"] < alpha).astype("boolean")
    table.loc[table["p_adjusted"].isna(), "significant"] = pd.NA
    table = table[cols]
    table.attrs.update(
        {
            "skipped": skipped,
            "n_boot": n_boot,
            "level": level,
            "alpha": alpha,
            "correction": correction,
            "base": base,
            "n_participants": U,
            "n_texts": n,
        }
    )
    return table
