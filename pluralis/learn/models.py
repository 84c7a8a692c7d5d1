"""Preference (reward) models on pairs: global Bradley–Terry and personalised.

:class:`RewardModel` — a Bradley–Terry reward model over response features ``φ(x)``::

    r(x) = w · φ(x)            P(a ≻ b) = σ(r(a) − r(b)) = σ(w · (φ(a) − φ(b)))

fit by L2-regularised logistic regression on feature differences, without intercept, so the
model is symmetric by construction: ``P(a ≻ b) = 1 − P(b ≻ a)``. The objective is
``Σ_i s_i ℓ_i + α/2 ‖w‖²`` (``s`` sample weights, ``ℓ`` the cross-entropy with label ``y`` in
{0, ½, 1} — ties count half each way), i.e. scikit-learn's ``LogisticRegression(C=1/α,
fit_intercept=False)`` on the same design. By default (``standardize="auto"``) each feature
difference is divided by its root-mean-square first, so the penalty treats features alike —
except for sentence embeddings, whose dimensions already share one scale; ``coef_`` is always
reported in the original units.

:class:`PersonalisedRewardModel` — each participant *u* with covariates ``z_u`` (stated-preference
sliders standardised, demographics one-hot, all centred) gets their own weights::

    r_u(x) = (w + A z_u + b_u) · φ(x)

``A`` (features × covariates) is learned with penalty ``α_z`` — logistic regression on the outer
product ``z_u ⊗ (φ(a) − φ(b))`` — and the optional per-user offsets ``b_u`` with a stronger penalty
``α_u`` (shrunk towards the covariate prediction; a participant not seen in training gets
``b_u = 0``, so on new participants only ``w + A z_u`` personalises).

Both are fit matrix-free by L-BFGS with analytic gradients (the outer-product design is never
built: ``margin = D w + rowsum((D A) ∘ Z) + rowsum(D ∘ B[u])``), vectorised over pairs.

Inputs: a pairs frame (:mod:`pluralis.learn.pairs`; featurised with the model's ``featurizer``)
or :class:`PairFeatures` (precomputed, e.g. by :func:`featurize_pairs` once for many fits).

Example
-------
>>> rng = np.random.default_rng(0)
>>> pa, pb = rng.normal(size=(2000, 3)), rng.normal(size=(2000, 3))
>>> y = (rng.random(2000) < 1 / (1 + np.exp(-(pa - pb) @ [2.0, -1.0, 0.0]))).astype(float)
>>> m = RewardModel(standardize=False).fit(PairFeatures.from_arrays(pa, pb, y))
>>> np.sign(m.coef_.round(1)).tolist()[:2]
[1.0, -1.0]
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import nullcontext

import numpy as np
import pandas as pd
from scipy import optimize, sparse
from scipy.special import expit
from sklearn.base import BaseEstimator, ClassifierMixin

from pluralis.data import vocab
from pluralis.errors import ConfigError
from pluralis.learn.cv import one_se_choice, participant_folds
from pluralis.threads import blas_threads

#: Covariates of :class:`PersonalisedRewardModel` by default (those present in the pairs frame).
DEFAULT_COVARIATES: tuple[str, ...] = (
    *(f"stated_prefs_{a}" for a in vocab.STATED_PREF_ATTRIBUTES),
    "age",
    "gender",
    "education",
    "employment_status",
    "marital_status",
    "ethnicity_simplified",
    "religion_simplified",
    "location_special_region",
    "english_proficiency",
    "lm_familiarity",
)

#: Designs with at most this many feature columns (``D`` is n × d; covariates only multiply the parameter
#: count, not the width of any BLAS call) are solved with one BLAS thread: the products are skinny and
#: memory-bound, and two OpenBLAS threads on a busy 2-core machine made each L-BFGS step ~50× slower.
SINGLE_THREAD_MAX_COLUMNS = 512

#: Solve in preconditioned coordinates (:meth:`_Objective._transform`): the same optimum (up to the solver
#: tolerance) in several times fewer L-BFGS iterations. ``False`` is the reference: plain L-BFGS on the
#: coefficients, as before.
PRECONDITION = True

#: Up to this many feature columns the preconditioner rotates to the eigenvectors of ``E = Σ D Dᵀ``; wider
#: designs use its diagonal. At 384 (sentence embeddings, correlated dimensions) the rotation still pays:
#: ~4× fewer iterations, half the time of a cross-validated fit.
FULL_FEATURE_PRECONDITIONER_MAX_COLUMNS = 1024

# --- featurised pairs ---------------------------------------------------------------------------


class PairFeatures:
    """Featurised pairs: the features of each distinct response once, and which two each pair compares.

    ``table`` ``(m, d)`` holds response features; pair *i* compares ``table[ia[i]]`` (a) with
    ``table[ib[i]]`` (b); ``y`` the outcome (1 = a preferred, 0 = b, 0.5 tie); ``frame`` the pairs'
    other columns (``user_id``, survey fields, groups), one row per pair. Subsets (:meth:`take`)
    share the table, so cross-validation featurises once.

    Example
    -------
    >>> pf = PairFeatures.from_arrays([[1.0, 0.0]], [[0.0, 1.0]], [1.0], feature_names=["x", "z"])
    >>> pf.diff().tolist(), len(pf), pf.swap().y.tolist()
    ([[1.0, -1.0]], 1, [0.0])
    """

    def __init__(
        self,
        table,
        ia,
        ib,
        y=None,
        frame: pd.DataFrame | None = None,
        feature_names: Sequence[str] | np.ndarray | None = None,
        featurizer=None,
        attrs: dict | None = None,
    ):
        self.table = np.asarray(table)
        if self.table.ndim != 2:
            raise ConfigError(f"response features must be a 2-d array, got shape {self.table.shape}")
        self.ia = np.asarray(ia, dtype=np.int64)
        self.ib = np.asarray(ib, dtype=np.int64)
        if self.ia.shape != self.ib.shape or self.ia.ndim != 1:
            raise ConfigError("ia and ib must be 1-d index arrays of the same length")
        n = len(self.ia)
        self.frame = frame.reset_index(drop=True) if frame is not None else pd.DataFrame(index=range(n))
        if len(self.frame) != n:
            raise ConfigError(f"frame has {len(self.frame)} rows for {n} pairs")
        if y is None and "y" in self.frame.columns:
            y = self.frame["y"].to_numpy(dtype=float)
        self.y = None if y is None else check_labels(y, n)
        self.feature_names = (
            np.asarray(feature_names, dtype=object)
            if feature_names is not None
            else np.array([f"x{i}" for i in range(self.table.shape[1])], dtype=object)
        )
        if len(self.feature_names) != self.table.shape[1]:
            raise ConfigError(f"{len(self.feature_names)} feature names for {self.table.shape[1]} features")
        self.featurizer = featurizer
        #: settings of the pairs frame it came from (tie threshold, score basis, number of ties, ...)
        self.attrs: dict = dict(attrs or {})

    @classmethod
    def from_arrays(
        cls, phi_a, phi_b, y=None, frame: pd.DataFrame | None = None, feature_names: Sequence[str] | None = None
    ) -> PairFeatures:
        """Pairs from per-pair feature rows ``phi_a``, ``phi_b`` (each ``(n, d)``).

        Parameters
        ----------
        phi_a, phi_b
            features of each pair's two responses.
        y
            outcomes (or the ``y`` column of ``frame``).
        frame
            the pairs' other columns.
        feature_names
            names of the ``d`` features.

        Returns
        -------
        PairFeatures

        Example
        -------
        >>> PairFeatures.from_arrays(np.ones((3, 2)), np.zeros((3, 2))).n_features
        2
        """
        a, b = np.atleast_2d(np.asarray(phi_a)), np.atleast_2d(np.asarray(phi_b))
        if a.shape != b.shape:
            raise ConfigError(f"phi_a and phi_b differ in shape: {a.shape} vs {b.shape}")
        n = len(a)
        return cls(np.vstack([a, b]), np.arange(n), np.arange(n, 2 * n), y, frame, feature_names)

    def __len__(self) -> int:
        return len(self.ia)

    @property
    def n_features(self) -> int:
        """Number of features per response.

        Returns
        -------
        int

        Example
        -------
        >>> pf = PairFeatures.from_arrays([[1.0, 0.0], [0.0, 2.0]], [[0.0, 1.0], [1.0, 0.0]], [1.0, 0.0])
        >>> pf.n_features
        2
        """
        return int(self.table.shape[1])

    def diff(self) -> np.ndarray:
        """``φ(a) − φ(b)`` per pair, ``(n, d)``.

        Returns
        -------
        numpy.ndarray

        Example
        -------
        >>> pf = PairFeatures.from_arrays([[1.0, 0.0], [0.0, 2.0]], [[0.0, 1.0], [1.0, 0.0]], [1.0, 0.0])
        >>> pf.diff().tolist()
        [[1.0, -1.0], [-1.0, 2.0]]
        """
        return self.table[self.ia] - self.table[self.ib]

    def take(self, rows) -> PairFeatures:
        """The pairs at ``rows`` (integer positions or a boolean mask), sharing the feature table.

        Parameters
        ----------
        rows
            integer positions or a boolean mask.

        Returns
        -------
        PairFeatures

        Example
        -------
        >>> pf = PairFeatures.from_arrays([[1.0, 0.0], [0.0, 2.0]], [[0.0, 1.0], [1.0, 0.0]], [1.0, 0.0])
        >>> pf.take([1]).y.tolist(), pf.take([True, False]).diff().tolist()
        ([0.0], [[1.0, -1.0]])
        """
        rows = np.asarray(rows)
        if rows.dtype == bool:
            rows = np.flatnonzero(rows)
        return PairFeatures(
            self.table,
            self.ia[rows],
            self.ib[rows],
            None if self.y is None else self.y[rows],
            self.frame.iloc[rows],
            self.feature_names,
            self.featurizer,
            self.attrs,
        )

    def swap(self) -> PairFeatures:
        """The same pairs with *a* and *b* exchanged (and ``y → 1 − y``).

        Returns
        -------
        PairFeatures

        Example
        -------
        >>> pf = PairFeatures.from_arrays([[1.0, 0.0], [0.0, 2.0]], [[0.0, 1.0], [1.0, 0.0]], [1.0, 0.0])
        >>> pf.swap().diff().tolist(), pf.swap().y.tolist()
        ([[-1.0, 1.0], [1.0, -2.0]], [0.0, 1.0])
        """
        frame = self.frame.copy()
        if "y" in frame.columns:
            frame["y"] = 1.0 - frame["y"].to_numpy(dtype=float)
        return PairFeatures(
            self.table,
            self.ib,
            self.ia,
            None if self.y is None else 1.0 - self.y,
            frame,
            self.feature_names,
            self.featurizer,
            self.attrs,
        )


def check_labels(y, n: int | None = None) -> np.ndarray:
    """Validate pair outcomes: numbers in [0, 1] (1 = a preferred, 0 = b, 0.5 tie), no missing values.

    Parameters
    ----------
    y
        the outcomes.
    n
        the expected number (``None``: any).

    Returns
    -------
    numpy.ndarray
        float64 outcomes.

    Example
    -------
    >>> check_labels([True, 0, 0.5]).tolist()
    [1.0, 0.0, 0.5]
    """
    try:
        arr = np.asarray(y, dtype=float).ravel()
    except (TypeError, ValueError):
        raise ConfigError("pair outcomes y must be numbers: 1 (a preferred), 0 (b preferred) or 0.5 (tie)") from None
    if n is not None and len(arr) != n:
        raise ConfigError(f"{len(arr)} outcomes for {n} pairs")
    bad = ~np.isfinite(arr) | (arr < 0) | (arr > 1)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ConfigError(
            f"pair outcome y[{i}] = {float(arr[i])!r}: must be in [0, 1] (1 = a preferred, 0 = b, 0.5 tie)"
        )
    return arr


# --- ties: one threshold default, in the units of the score used ---------------------------------

#: What one unit of each score basis is (the tie threshold is in these units).
SCORE_UNITS: dict[str, str] = {
    "raw": "rating points (PRISM's 1-100 scale)",
    "normalized": "per-participant standard deviations (z-scores)",
    "rank": "within-turn rank positions",
}

#: Share of ties at or above which the learners refuse the pairs (:func:`check_tie_share`).
MAX_TIE_SHARE = 0.95


def default_tie_threshold(score: str = "raw") -> float:
    """The tie threshold used by default for a score basis, in that basis's units.

    One default for the whole package: :data:`pluralis.ranking.battles.DEFAULT_TIE_THRESHOLDS`
    (5 rating points for ``"raw"``, 0.25 SD for ``"normalized"``, 0 for ``"rank"``).

    Parameters
    ----------
    score
        ``"raw"``, ``"normalized"`` or ``"rank"``.

    Returns
    -------
    float

    Example
    -------
    >>> default_tie_threshold("raw"), default_tie_threshold("normalized")
    (5.0, 0.25)
    """
    from pluralis.ranking.battles import DEFAULT_TIE_THRESHOLDS

    if score not in DEFAULT_TIE_THRESHOLDS:
        raise ConfigError(f"score must be one of {sorted(DEFAULT_TIE_THRESHOLDS)}, got {score!r}")
    return float(DEFAULT_TIE_THRESHOLDS[score])


def _tie_counts(pairs: pd.DataFrame | PairFeatures) -> tuple[int, int]:
    """(ties, all pairs) — ties dropped from the frame are counted from ``attrs["n_ties"]``."""
    if isinstance(pairs, PairFeatures):
        y = pairs.y
    else:
        y = pairs["y"].to_numpy(dtype=float) if "y" in pairs.columns else None
    yy = np.zeros(0) if y is None else np.asarray(y, dtype=float)
    n_decisive, in_frame = int(np.sum(yy != 0.5)), int(np.sum(yy == 0.5))
    attrs = pairs.attrs
    n_ties = in_frame
    if "n_ties" in attrs:
        n_ties = int(attrs["n_ties"]) if attrs.get("ties", "drop") == "drop" else max(int(attrs["n_ties"]), in_frame)
    return n_ties, n_ties + n_decisive


def tie_share(pairs: pd.DataFrame | PairFeatures) -> float:
    """Share of pairs that were ties, counting ties already dropped (``attrs["n_ties"]``).

    Parameters
    ----------
    pairs
        a pairs frame (its ``attrs`` as :func:`~pluralis.learn.pairs.preference_pairs` records them)
        or :class:`PairFeatures`.

    Returns
    -------
    float
        ``n_ties / (n_ties + n_decisive)``; 0 when there are no pairs.

    Example
    -------
    >>> p = pd.DataFrame({"y": [1.0, 0.0]})
    >>> p.attrs.update({"n_ties": 6, "ties": "drop"})
    >>> tie_share(p)
    0.75
    """
    n_ties, total = _tie_counts(pairs)
    return n_ties / total if total else 0.0


def check_tie_share(pairs: pd.DataFrame | PairFeatures, max_share: float | None = MAX_TIE_SHARE) -> float:
    """Raise a clear error when the tie threshold made (almost) every pair a tie.

    A threshold is in the units of the score that decided the winner (:data:`SCORE_UNITS`): 5 is a
    sensible threshold on PRISM's 1-100 scale but makes every pair a tie on per-participant z-scores,
    whose default is 0.25 (:func:`default_tie_threshold`). With ``max_share`` (default 0.95) or more of
    the pairs ties, learning would use the few pairs left (or none); this names the threshold, the score
    basis and its default instead.

    Parameters
    ----------
    pairs
        a pairs frame or :class:`PairFeatures` (see :func:`tie_share`).
    max_share
        the share of ties refused; ``None`` switches the check off.

    Returns
    -------
    float
        the tie share (when below ``max_share``).

    Example
    -------
    >>> p = pd.DataFrame({"y": [1.0]})
    >>> p.attrs.update({"n_ties": 99, "ties": "drop", "tie_threshold": 5.0, "score": "normalized"})
    >>> check_tie_share(p)
    Traceback (most recent call last):
    ...
    pluralis.errors.ConfigError: tie_threshold=5 made 99% of 100 pairs ties ...
    """
    n_ties, total = _tie_counts(pairs)
    share = n_ties / total if total else 0.0
    if max_share is None or share < max_share:
        return share
    thr, basis = pairs.attrs.get("tie_threshold"), pairs.attrs.get("score")
    if basis in SCORE_UNITS:
        units = (
            f"score={basis!r}: the threshold is in {SCORE_UNITS[basis]}; "
            f"its default there is {default_tie_threshold(basis):g}"
        )
    else:
        units = "the threshold is in the units of the ratings compared"
    what = f"tie_threshold={float(thr):g} made" if thr is not None else "the tie threshold made"
    raise ConfigError(
        f"{what} {share:.0%} of {total:,} pairs ties ({units}; pluralis.ranking.battles.DEFAULT_TIE_THRESHOLDS). "
        "Give the threshold in the units of the score used (or leave it to the default) so that pairs keep "
        "their winners."
    )


def featurize_pairs(
    pairs: pd.DataFrame, featurizer=None, *, max_tie_share: float | None = MAX_TIE_SHARE
) -> PairFeatures:
    """Featurise a pairs frame once: each distinct response text is computed once.

    ``featurizer``: a :mod:`pluralis.learn.featurizers` transformer (default
    :class:`~pluralis.learn.featurizers.TextFeaturizer`). The pairs' other columns become ``frame``,
    its ``attrs`` (tie threshold, score basis, ties) the result's ``attrs``. Pairs of which
    ``max_tie_share`` or more were ties are refused with a clear error (:func:`check_tie_share`).

    Parameters
    ----------
    pairs
        a pairs frame with ``response_a``, ``response_b`` (and usually ``y``, ``user_id``).
    featurizer
        the transformer (fitted here).

    Returns
    -------
    PairFeatures

    Example
    -------
    >>> p = pd.DataFrame({"response_a": ["Yes.", "No?"], "response_b": ["No?", "Maybe."], "y": [1.0, 0.0]})
    >>> pf = featurize_pairs(p)
    >>> pf.table.shape, pf.ia.tolist(), pf.ib.tolist()
    ((3, 7), [0, 1], [1, 2])
    """
    from pluralis.learn.featurizers import TextFeaturizer

    if isinstance(pairs, PairFeatures):
        check_tie_share(pairs, max_tie_share)
        return pairs
    if not isinstance(pairs, pd.DataFrame):
        raise ConfigError(f"expected a pairs DataFrame or PairFeatures, got {type(pairs).__name__}")
    check_tie_share(pairs, max_tie_share)
    missing = [c for c in ("response_a", "response_b") if c not in pairs.columns]
    if missing:
        raise ConfigError(f"pairs frame lacks column(s) {missing} (see pluralis.learn.pairs.preference_pairs)")
    f = featurizer if featurizer is not None else TextFeaturizer()
    n = len(pairs)
    texts = pd.concat([pairs["response_a"], pairs["response_b"]], ignore_index=True).astype(object)
    texts = texts.where(texts.notna(), "").astype(str)
    codes, uniques = pd.factorize(texts, use_na_sentinel=False)
    f.fit()
    table = f.transform(pd.Series(np.asarray(uniques, dtype=object), dtype=object))
    frame = pairs.drop(columns=["response_a", "response_b"]).reset_index(drop=True)
    return PairFeatures(table, codes[:n], codes[n:], None, frame, f.get_feature_names_out(), f, dict(pairs.attrs))


# --- metrics ------------------------------------------------------------------------------------


def pairwise_accuracy(y, p, sample_weight=None) -> float:
    """Share of decisive pairs (``y != 0.5``) whose winner gets ``p > 0.5``; ``p == 0.5`` counts half.

    Parameters
    ----------
    y
        outcomes (1, 0, or 0.5 for a tie, which is left out).
    p
        predicted ``P(a ≻ b)``.
    sample_weight
        optional weight per pair.

    Returns
    -------
    float

    Example
    -------
    >>> pairwise_accuracy([1, 0, 0.5, 1], [0.9, 0.2, 0.7, 0.5])
    0.8333333333333334
    """
    y, p = np.asarray(y, dtype=float), np.asarray(p, dtype=float)
    w = np.ones_like(y) if sample_weight is None else np.asarray(sample_weight, dtype=float)
    keep = y != 0.5
    if not keep.any():
        raise ConfigError("no decisive pairs to score (all ties)")
    hit = np.where(p == 0.5, 0.5, ((p > 0.5) == (y > 0.5)).astype(float))
    return float(np.sum(w[keep] * hit[keep]) / np.sum(w[keep]))


def pairwise_log_loss(y, p, sample_weight=None, eps: float = 1e-12) -> float:
    """Mean cross-entropy (nats) of decisive pairs.

    Parameters
    ----------
    y
        outcomes (ties left out).
    p
        predicted ``P(a ≻ b)`` (clipped to ``[eps, 1 - eps]``).
    sample_weight
        optional weight per pair.
    eps
        clipping.

    Returns
    -------
    float

    Example
    -------
    >>> round(pairwise_log_loss([1, 0], [0.5, 0.5]), 4)
    0.6931
    """
    y, p = np.asarray(y, dtype=float), np.clip(np.asarray(p, dtype=float), eps, 1 - eps)
    w = np.ones_like(y) if sample_weight is None else np.asarray(sample_weight, dtype=float)
    keep = y != 0.5
    if not keep.any():
        raise ConfigError("no decisive pairs to score (all ties)")
    ll = -(y * np.log(p) + (1 - y) * np.log1p(-p))
    return float(np.sum(w[keep] * ll[keep]) / np.sum(w[keep]))


# --- the solver ---------------------------------------------------------------------------------


def _blas_one_thread(d: int):
    """One BLAS thread for skinny designs (``d`` ≤ :data:`SINGLE_THREAD_MAX_COLUMNS` columns), else nothing.

    :func:`pluralis.threads.blas_threads` reuses one thread-pool controller: ``threadpool_limits`` scans
    the loaded libraries on every call (~5 ms), which added up over hundreds of solves."""
    return blas_threads(1) if d <= SINGLE_THREAD_MAX_COLUMNS else nullcontext()


def _block_design(D: np.ndarray, codes: np.ndarray, n_groups: int) -> tuple[sparse.csr_matrix, sparse.spmatrix]:
    """``M`` (n × groups·d, sparse) with row *i* holding ``D[i]`` in its group's block, and ``Mᵀ``.

    Then ``rowsum(D ∘ W[codes]) = M @ W.ravel()`` and the per-group sums ``Σ_{i∈u} g_i D_i`` are
    ``(Mᵀ @ g).reshape(groups, d)``: one sparse pass each way instead of a gather, a product and a
    scatter of ``n × d`` arrays."""
    n, d = D.shape
    indptr = np.arange(0, n * d + 1, d, dtype=np.int64)
    cols = (np.asarray(codes, dtype=np.int64)[:, None] * d + np.arange(d)).ravel()
    M = sparse.csr_matrix((np.ascontiguousarray(D).ravel(), cols, indptr), shape=(n, n_groups * d))
    MT = M.T.tocsr() if n * d <= _TRANSPOSE_COPY_MAX_NNZ else M.T  # a CSR copy is ~20% faster than the CSC view
    return M, MT


_TRANSPOSE_COPY_MAX_NNZ = 1 << 23


def _same(v):
    return v


def _inverse_sqrt(curvature: np.ndarray) -> np.ndarray:
    """``1/√c``, with ``c`` floored at 1e-10 of its largest value: a direction without curvature or penalty
    (collinear covariates with ``alpha_covariates=0``, a constant feature with ``alpha=0``) keeps a finite,
    invertible scale — any invertible change of variables leaves the optimum where it is."""
    c = np.asarray(curvature, dtype=float)
    top = float(c.max(initial=0.0))
    return 1.0 / np.sqrt(np.maximum(c, 1e-10 * top if top > 0 else 1.0))


def _group_sums(X: np.ndarray, codes: np.ndarray, n_groups: int) -> np.ndarray:
    """Sums of the rows of ``X`` per group code (``n_groups × columns``)."""
    n = len(codes)
    C = sparse.csr_matrix((np.ones(n), (np.asarray(codes), np.arange(n))), shape=(n_groups, n))
    return np.asarray(C @ X)


class _Objective:
    """The penalised pairwise loss of :func:`_solve` on one design, with its index structures built once.

    ``(1/Σs)[Σ s ℓ(y, σ(m)) + α/2‖w‖² + α_z/2‖A‖² + α_u/2‖B‖²]`` with
    ``m = D w + rowsum((D A) ∘ Z) + rowsum(D ∘ B[users])``; :meth:`solve` minimises it for given
    penalties by L-BFGS, so one design serves a whole path of penalties (and warm starts).

    ``zgroups``: a label per row such that rows with one label share their row of ``Z`` (the participant:
    covariates are per person). Then the personal weights ``W = w + A zᵤ`` are formed once per person,
    the margins are one sparse product with the block design ``M`` (:func:`_block_design`) and the
    gradients of ``w`` and ``A`` come from the per-person sums ``G = Mᵀ g`` — the same function and
    gradient with far fewer operations (``n·d + people·d·k`` instead of ``n·d·k``).
    """

    def __init__(self, D, y, s, *, Z=None, users=None, n_users=0, zgroups=None, per_group=False):
        self.n, self.d = D.shape
        self.k = 0 if Z is None else Z.shape[1]
        self.y = np.asarray(y, dtype=np.float64)
        s = np.asarray(s, dtype=np.float64)
        self.s = None if bool(np.all(s == 1.0)) else s  # unit weights: skip the products
        self.S = float(s.sum())
        if self.S <= 0:
            raise ConfigError("sample weights sum to zero: nothing to fit")
        Dd = np.asarray(D, dtype=np.float64)
        self.D = Dd
        self.Z = Z
        self.Zu = self.M = self.MT = None
        if self.k and zgroups is not None:
            labels, zc = np.unique(np.asarray(zgroups), return_inverse=True)
            zc = zc.ravel()
            if per_group:  # Z has one row per group code (zgroups: integer codes into it)
                self.Zu = np.ascontiguousarray(Z[labels], dtype=np.float64)
            else:
                first = np.empty(len(labels), dtype=np.intp)
                first[zc[::-1]] = np.arange(self.n)[::-1]
                self.Zu = np.ascontiguousarray(Z[first], dtype=np.float64)
            self.M, self.MT = _block_design(Dd, zc, len(labels))
            self.zc = zc
        self.nu = int(n_users) if users is not None else 0
        self.Mu = self.MuT = None
        if self.nu:
            self.users = np.asarray(users)
            self.Mu, self.MuT = _block_design(Dd, self.users, self.nu)
        self.sizes = (self.d, self.d * self.k, self.nu * self.d)
        # column-major copy for D @ w and Dᵀ @ g (~4× faster on skinny designs); the block design needs none
        self.DF = np.asfortranarray(Dd) if self.M is None and self.d <= SINGLE_THREAD_MAX_COLUMNS else Dd

    def unpack(self, theta):
        d, k = self.d, self.k
        return theta[:d], theta[d : d + d * k].reshape(d, k), theta[d + d * k :].reshape(self.nu, d)

    def value_and_grad(self, theta, alpha, alpha_z, alpha_u):
        """Objective and gradient at ``theta`` (``w``, ``A``, ``B`` flattened)."""
        w, A, B = self.unpack(theta)
        if self.M is not None:
            W = w[None, :] + self.Zu @ A.T  # personal weights, people × d
            m = self.M @ W.ravel()
        else:
            m = self.DF @ w
            if self.k:
                m += np.einsum("ij,ij->i", self.DF @ A, self.Z)
        if self.nu:
            m += self.Mu @ B.ravel()
        # log(1 + e^m) - y m and σ(m) - y from one exponential (as np.logaddexp(0, m) and expit)
        e = np.exp(-np.abs(m))
        ell = np.maximum(m, 0.0) + np.log1p(e) - self.y * m
        g = np.where(m >= 0, 1.0, e) / (1.0 + e) - self.y
        if self.s is not None:
            loss = float(self.s @ ell)
            g *= self.s
        else:
            loss = float(ell.sum())
        loss += 0.5 * alpha * float(w @ w)
        if self.M is not None:
            G = (self.MT @ g).reshape(-1, self.d)  # per-person sums of g·D
            grads = [G.sum(axis=0) + alpha * w]
        else:
            grads = [self.DF.T @ g + alpha * w]
        if self.k:
            gA = G.T @ self.Zu if self.M is not None else self.DF.T @ (g[:, None] * self.Z)
            grads.append((gA + alpha_z * A).ravel())
            loss += 0.5 * alpha_z * float(np.sum(A * A))
        if self.nu:
            grads.append(self.MuT @ g + alpha_u * B.ravel())
            loss += 0.5 * alpha_u * float(np.sum(B * B))
        return loss / self.S, np.concatenate(grads) / self.S

    def start(self, theta0=None) -> np.ndarray:
        """The starting point: zeros, or the warm start ``theta0 = (w, A, B)`` (``A`` / ``B`` may be None)."""
        d, k, nu = self.d, self.k, self.nu
        start = np.zeros(sum(self.sizes))
        if theta0 is not None:
            w0, A0, B0 = theta0
            start[:d] = w0
            if k and A0 is not None:
                start[d : d + d * k] = np.ravel(A0)
            if nu and B0 is not None and np.size(B0) == nu * d:
                start[d + d * k :] = np.ravel(B0)
        return start

    def solve(self, alpha, alpha_z=1.0, alpha_u=10.0, *, max_iter=1000, tol=1e-8, theta0=None):
        """Minimise for these penalties from ``theta0``; returns ``(w, A, B, result)``.

        L-BFGS runs on preconditioned coordinates ``φ`` (:meth:`_transform`, ``θ = T φ``): the same
        function at the same points, so the same optimum, reached in a fraction of the iterations
        when the penalty is weak and the covariates' curvatures differ by orders of magnitude.
        """
        args = (float(alpha), float(alpha_z), float(alpha_u))
        to_theta, to_phi, from_theta = self._transform(*args) if PRECONDITION else (_same, _same, _same)

        def fun(phi, *a):
            f, g = self.value_and_grad(to_theta(phi), *a)
            return f, to_phi(g)  # the gradient in φ is Tᵀ ∇θ

        # skinny designs are memory-bound: one BLAS thread is as fast and immune to oversubscription
        with _blas_one_thread(self.d):
            res = optimize.minimize(
                fun,
                from_theta(self.start(theta0)),
                args=args,
                jac=True,
                method="L-BFGS-B",
                options={"maxiter": int(max_iter), "gtol": float(tol), "ftol": 1e-13, "maxcor": 20},
            )
        res.x = to_theta(res.x)
        w, A, B = self.unpack(res.x)
        return w, A, B, res

    def _eig(self):
        """Eigen-decompositions of the Kronecker factors of the Hessian at ``σ(m) = ½``: ``E = Σ s D Dᵀ / S``
        (features) and ``K = Σ s z zᵀ / S`` (covariates, per pair), and the diagonal of the offsets'."""
        if getattr(self, "_eig_cache", None) is None:
            DF = self.D if self.s is None else self.D * np.sqrt(self.s)[:, None]
            if self.d <= FULL_FEATURE_PRECONDITIONER_MAX_COLUMNS:
                lam_e, U_e = np.linalg.eigh(DF.T @ DF / self.S)
            else:  # wide designs (embeddings): the diagonal of E, without forming it
                lam_e, U_e = np.einsum("ij,ij->j", DF, DF) / self.S, None
            lam_k = U_k = None
            if self.k:
                if self.M is not None:
                    nz = np.bincount(self.zc, weights=self.s, minlength=len(self.Zu))
                    K = (self.Zu * nz[:, None]).T @ self.Zu / self.S
                else:
                    Zs = self.Z if self.s is None else self.Z * np.sqrt(self.s)[:, None]
                    K = Zs.T @ Zs / self.S
                lam_k, U_k = np.linalg.eigh(K)
            cb = None
            if self.nu:
                D2 = self.D**2 if self.s is None else self.D**2 * self.s[:, None]
                cb = _group_sums(D2, self.users, self.nu).ravel() / self.S
            self._eig_cache = (
                np.clip(lam_e, 0, None),
                U_e,
                lam_k if lam_k is None else np.clip(lam_k, 0, None),
                U_k,
                cb,
            )
        return self._eig_cache

    def _transform(self, alpha, alpha_z, alpha_u):
        """``θ = T φ`` with ``T = blockdiag(1, U_K) ⊗ U_E`` scaled by the inverse square root of the
        Kronecker-factored curvature ``¼ λ_K λ_E`` plus the penalty (``w`` is the covariates' constant
        row, nearly uncoupled from ``A`` because the covariates are centred); offsets scaled by their
        diagonal. Returns the maps ``φ → θ`` (``T``), ``g → Tᵀ g`` and ``θ → φ`` (``T⁻¹``)."""
        lam_e, U_e, lam_k, U_k, cb = self._eig()
        d, k, nu, S = self.d, self.k, self.nu, self.S
        sw = _inverse_sqrt(0.25 * lam_e + alpha / S)  # (d,)
        sa = None if not k else _inverse_sqrt(0.25 * lam_k[:, None] * lam_e[None, :] + alpha_z / S)  # (k, d)
        sb = None if not nu else _inverse_sqrt(0.25 * cb + alpha_u / S)

        def right(X, transpose: bool):  # X @ U_e (or X @ U_eᵀ); identity for wide designs
            return X if U_e is None else X @ (U_e.T if transpose else U_e)

        def to_theta(phi):
            out = np.empty_like(phi)
            out[:d] = right((phi[:d] * sw)[None, :], True)[0]  # U_e (phi_w ∘ sw)
            if k:
                P = phi[d : d + d * k].reshape(k, d) * sa  # rows: covariate eigenvectors, cols: feature ones
                out[d : d + d * k] = right(U_k @ P, True).T.ravel()  # A (d × k) row-major
            if nu:
                out[d + d * k :] = phi[d + d * k :] * sb
            return out

        def to_phi(g):  # Tᵀ g
            out = np.empty_like(g)
            out[:d] = right(g[None, :d], False)[0] * sw
            if k:
                G = g[d : d + d * k].reshape(d, k).T  # k × d
                out[d : d + d * k] = (right(U_k.T @ G, False) * sa).ravel()
            if nu:
                out[d + d * k :] = g[d + d * k :] * sb
            return out

        def from_theta(theta):  # T⁻¹ θ
            out = np.empty_like(theta)
            out[:d] = right(theta[None, :d], False)[0] / sw
            if k:
                G = theta[d : d + d * k].reshape(d, k).T
                out[d : d + d * k] = (right(U_k.T @ G, False) / sa).ravel()
            if nu:
                out[d + d * k :] = theta[d + d * k :] / sb
            return out

        return to_theta, to_phi, from_theta


def _solve(
    D,
    y,
    s,
    alpha,
    *,
    Z=None,
    alpha_z=1.0,
    users=None,
    n_users=0,
    alpha_u=10.0,
    max_iter=1000,
    tol=1e-8,
    theta0=None,
    zgroups=None,
):
    """Minimise (1/Σs)[Σ s ℓ(y, σ(m)) + α/2‖w‖² + α_z/2‖A‖² + α_u/2‖B‖²] by L-BFGS (see :class:`_Objective`).

    ``m = D w + rowsum((D A) ∘ Z) + rowsum(D ∘ B[users])``. Returns ``(w, A, B, result)``.
    ``theta0``: a warm start ``(w, A, B)`` (``A`` / ``B`` may be ``None`` = zeros).
    ``zgroups``: a label per row such that rows with one label share their row of ``Z`` (the participant).
    """
    obj = _Objective(D, y, s, Z=Z, users=users, n_users=n_users, zgroups=zgroups)
    return obj.solve(alpha, alpha_z, alpha_u, max_iter=max_iter, tol=tol, theta0=theta0)


def _standardizes(option, pf: PairFeatures) -> bool:
    """``standardize="auto"``: per-feature scaling unless the featuriser's features share one scale
    (sentence embeddings: scaling each dimension would blow up nearly empty directions)."""
    if isinstance(option, str):
        if option != "auto":
            raise ConfigError(f"standardize must be True, False or 'auto', got {option!r}")
        return bool(getattr(pf.featurizer, "standardize_features", True))
    return bool(option)


def _rms_scale(D, s) -> np.ndarray:
    scale = np.sqrt((s[:, None] * np.asarray(D, dtype=float) ** 2).sum(axis=0) / s.sum())
    return np.where(scale > 0, scale, 1.0)


# --- estimators ---------------------------------------------------------------------------------


class _PairwiseModel(ClassifierMixin, BaseEstimator):
    """Shared plumbing: inputs, probabilities, scores."""

    #: the attribute whose presence means "fitted"
    _fitted_attribute = "coef_"

    def _features(self, X, *, fitting: bool) -> PairFeatures:
        if isinstance(X, PairFeatures):
            pf = X
            if fitting:
                check_tie_share(pf)
        elif isinstance(X, pd.DataFrame):
            featurizer = self.featurizer if fitting else getattr(self, "featurizer_", self.featurizer)
            pf = featurize_pairs(X, featurizer)
        else:
            raise ConfigError(f"expected a pairs DataFrame or PairFeatures, got {type(X).__name__}")
        if not fitting:
            if not hasattr(self, self._fitted_attribute):
                raise ConfigError(f"this {type(self).__name__} is not fitted yet: call fit() first")
            if pf.n_features != self.n_features_in_:
                raise ConfigError(f"pairs have {pf.n_features} features; the model was fit on {self.n_features_in_}")
        if len(pf) == 0:
            raise ConfigError("no preference pairs")
        return pf

    def _targets(self, pf: PairFeatures, y) -> np.ndarray:
        if y is not None:
            return check_labels(y, len(pf))
        if pf.y is None:
            raise ConfigError("no outcomes: give y or a pairs frame with a 'y' column")
        return pf.y

    def _finish_fit(self, pf: PairFeatures, res) -> None:
        self.classes_ = np.array([0, 1])
        self.n_features_in_ = pf.n_features
        self.feature_names_in_ = np.asarray(pf.feature_names, dtype=object)
        self.featurizer_ = pf.featurizer if pf.featurizer is not None else self.featurizer
        self.n_iter_ = int(res.nit)
        self.converged_ = bool(res.success)
        self.objective_ = float(res.fun)

    def predict_proba(self, X) -> np.ndarray:
        """``[[P(b ≻ a), P(a ≻ b)], ...]`` for each pair (columns follow ``classes_ = [0, 1]``).

        Parameters
        ----------
        X
            a pairs frame or :class:`PairFeatures`.

        Returns
        -------
        numpy.ndarray
            ``(n, 2)``.

        Example
        -------
        >>> pairs = pd.DataFrame({"response_a": ["Sure, here you go.", "I'm sorry, but no."] * 50,
        ...                       "response_b": ["I'm sorry, but no.", "Sure, here you go."] * 50,
        ...                       "y": [1.0, 0.0] * 50})
        >>> m = RewardModel().fit(pairs)
        >>> m.predict_proba(pairs.iloc[:2]).round(2).tolist()
        [[0.03, 0.97], [0.97, 0.03]]
        """
        p = expit(self.decision_function(X))
        return np.column_stack([1.0 - p, p])

    def predict(self, X) -> np.ndarray:
        """1 where *a* is predicted to be preferred, else 0.

        Parameters
        ----------
        X
            a pairs frame or :class:`PairFeatures`.

        Returns
        -------
        numpy.ndarray

        Example
        -------
        >>> pairs = pd.DataFrame({"response_a": ["Sure, here you go.", "I'm sorry, but no."] * 50,
        ...                       "response_b": ["I'm sorry, but no.", "Sure, here you go."] * 50,
        ...                       "y": [1.0, 0.0] * 50})
        >>> m = RewardModel().fit(pairs)
        >>> m.predict(pairs.iloc[:2]).tolist()
        [1, 0]
        """
        return (self.decision_function(X) > 0).astype(int)

    def score(self, X, y=None, sample_weight=None) -> float:
        """Pairwise accuracy on decisive pairs (see :func:`pairwise_accuracy`).

        Parameters
        ----------
        X
            a pairs frame or :class:`PairFeatures`.
        y
            outcomes (default: the pairs' ``y``).
        sample_weight
            optional weight per pair.

        Returns
        -------
        float

        Example
        -------
        >>> pairs = pd.DataFrame({"response_a": ["Sure, here you go.", "I'm sorry, but no."] * 50,
        ...                       "response_b": ["I'm sorry, but no.", "Sure, here you go."] * 50,
        ...                       "y": [1.0, 0.0] * 50})
        >>> m = RewardModel().fit(pairs)
        >>> m.score(pairs)
        1.0
        """
        pf = self._features(X, fitting=False)
        return pairwise_accuracy(self._targets(pf, y), self.predict_proba(pf)[:, 1], sample_weight)

    def log_loss(self, X, y=None, sample_weight=None) -> float:
        """Cross-entropy on decisive pairs (see :func:`pairwise_log_loss`).

        Parameters
        ----------
        X
            a pairs frame or :class:`PairFeatures`.
        y
            outcomes (default: the pairs' ``y``).
        sample_weight
            optional weight per pair.

        Returns
        -------
        float

        Example
        -------
        >>> pairs = pd.DataFrame({"response_a": ["Sure, here you go.", "I'm sorry, but no."] * 50,
        ...                       "response_b": ["I'm sorry, but no.", "Sure, here you go."] * 50,
        ...                       "y": [1.0, 0.0] * 50})
        >>> m = RewardModel().fit(pairs)
        >>> bool(m.log_loss(pairs) < 0.05)
        True
        """
        pf = self._features(X, fitting=False)
        return pairwise_log_loss(self._targets(pf, y), self.predict_proba(pf)[:, 1], sample_weight)

    def _phi(self, texts) -> np.ndarray:
        if isinstance(texts, np.ndarray) and texts.ndim == 2 and texts.dtype != object:
            phi = texts.astype(float)
        else:
            f = getattr(self, "featurizer_", None)
            if f is None:
                from pluralis.learn.featurizers import TextFeaturizer

                f = TextFeaturizer()
            phi = f.fit().transform(texts)
        if phi.shape[1] != self.n_features_in_:
            raise ConfigError(f"responses have {phi.shape[1]} features; the model was fit on {self.n_features_in_}")
        return phi


class RewardModel(_PairwiseModel):
    """Bradley–Terry reward model ``r(x) = w · φ(x)`` (see the module docstring).

    Parameters
    ----------
    featurizer
        turns response texts into ``φ(x)`` (default :class:`~pluralis.learn.featurizers.TextFeaturizer`);
        ignored when fitting :class:`PairFeatures`.
    alpha
        L2 penalty (``C = 1/alpha`` in scikit-learn terms), on standardised features when ``standardize``.
    standardize
        divide each feature difference by its root-mean-square before fitting; ``"auto"`` (default) does so
        unless the featuriser's features share one scale (sentence embeddings).
    max_iter, tol
        L-BFGS iterations and gradient tolerance.

    Attributes
    ----------
    coef_ : reward weight per feature, original units; ``feature_names_in_``; ``n_iter_``, ``converged_``.

    Example
    -------
    >>> pairs = pd.DataFrame({"response_a": ["Sure, here you go.", "I'm sorry, but no."] * 50,
    ...                       "response_b": ["I'm sorry, but no.", "Sure, here you go."] * 50,
    ...                       "y": [1.0, 0.0] * 50})
    >>> m = RewardModel().fit(pairs)
    >>> bool(m.coefficients()["if_refusal"] < 0), m.score(pairs)
    (True, 1.0)
    >>> m.predict_proba(pairs.iloc[:1]).round(3).tolist()
    [[0.034, 0.966]]
    """

    def __init__(
        self,
        featurizer=None,
        alpha: float = 1.0,
        standardize: bool | str = "auto",
        max_iter: int = 1000,
        tol: float = 1e-8,
    ):
        self.featurizer = featurizer
        self.alpha = alpha
        self.standardize = standardize
        self.max_iter = max_iter
        self.tol = tol

    def fit(self, X, y=None, sample_weight=None) -> RewardModel:
        """Fit on pairs (a pairs frame or :class:`PairFeatures`); ``y`` defaults to the pairs' ``y``.

        Parameters
        ----------
        X
            a pairs frame (``response_a``, ``response_b``, ``y``) or :class:`PairFeatures`.
        y
            outcomes (default: the pairs' ``y``).
        sample_weight
            optional weight per pair (e.g. bootstrap multiplicities).

        Returns
        -------
        RewardModel

        Example
        -------
        >>> pairs = pd.DataFrame({"response_a": ["Sure, here you go.", "I'm sorry, but no."] * 50,
        ...                       "response_b": ["I'm sorry, but no.", "Sure, here you go."] * 50,
        ...                       "y": [1.0, 0.0] * 50})
        >>> m = RewardModel().fit(pairs)
        >>> m.converged_
        True
        """
        if not (np.isfinite(self.alpha) and self.alpha >= 0):
            raise ConfigError(f"alpha must be a non-negative number, got {self.alpha!r}")
        pf = self._features(X, fitting=True)
        y = self._targets(pf, y)
        s = np.ones(len(pf)) if sample_weight is None else np.asarray(sample_weight, dtype=float)
        if len(s) != len(pf) or (s < 0).any() or not np.isfinite(s).all():
            raise ConfigError("sample_weight must be one non-negative number per pair")
        D = pf.diff().astype(np.float64)
        scale = _rms_scale(D, s) if _standardizes(self.standardize, pf) else np.ones(D.shape[1])
        w, _, _, res = _solve(D / scale, y, s, float(self.alpha), max_iter=self.max_iter, tol=self.tol)
        self.scale_ = scale
        self.coef_ = w / scale
        self._finish_fit(pf, res)
        return self

    def decision_function(self, X) -> np.ndarray:
        """Reward margin ``r(a) − r(b)`` of each pair (the logit of ``P(a ≻ b)``).

        Parameters
        ----------
        X
            a pairs frame or :class:`PairFeatures`.

        Returns
        -------
        numpy.ndarray

        Example
        -------
        >>> pairs = pd.DataFrame({"response_a": ["Sure, here you go.", "I'm sorry, but no."] * 50,
        ...                       "response_b": ["I'm sorry, but no.", "Sure, here you go."] * 50,
        ...                       "y": [1.0, 0.0] * 50})
        >>> m = RewardModel().fit(pairs)
        >>> bool(m.decision_function(pairs.iloc[:1])[0] > 0)
        True
        """
        pf = self._features(X, fitting=False)
        return pf.diff() @ self.coef_

    def reward(self, texts) -> np.ndarray:
        """The reward ``r(x)`` of each response (texts, or an ``(n, d)`` feature array).

        Rewards are identified up to a constant: only differences matter.

        Parameters
        ----------
        texts
            response texts, or their features ``(n, d)``.

        Returns
        -------
        numpy.ndarray

        Example
        -------
        >>> pairs = pd.DataFrame({"response_a": ["Sure, here you go.", "I'm sorry, but no."] * 50,
        ...                       "response_b": ["I'm sorry, but no.", "Sure, here you go."] * 50,
        ...                       "y": [1.0, 0.0] * 50})
        >>> m = RewardModel().fit(pairs)
        >>> r = m.reward(["Happy to help.", "I'm sorry, but I cannot help."])
        >>> bool(r[0] > r[1])
        True
        """
        return self._phi(texts) @ self.coef_

    def coefficients(self) -> pd.Series:
        """``coef_`` as a Series indexed by feature name.

        Returns
        -------
        pandas.Series

        Example
        -------
        >>> pairs = pd.DataFrame({"response_a": ["Sure, here you go.", "I'm sorry, but no."] * 50,
        ...                       "response_b": ["I'm sorry, but no.", "Sure, here you go."] * 50,
        ...                       "y": [1.0, 0.0] * 50})
        >>> m = RewardModel().fit(pairs)
        >>> bool(m.coefficients()["if_refusal"] < 0)
        True
        """
        return pd.Series(self.coef_, index=list(self.feature_names_in_), name="coef")


class CovariateEncoder(BaseEstimator):
    """Participant covariates -> a centred numeric matrix. Fit on one row per participant.

    Numeric columns are mean-imputed and standardised; the others one-hot encoded (a missing value is
    its own level ``missing``) and centred on the training shares, so an all-zero row is the average
    participant — and a level never seen in training maps to that average. With centred covariates,
    a personalised model's shared weights ``w`` are the average participant's.

    Example
    -------
    >>> df = pd.DataFrame({"stated_prefs_safety": [10.0, 90.0, None], "gender": ["Male", "Female", None]})
    >>> enc = CovariateEncoder(["stated_prefs_safety", "gender"]).fit(df)
    >>> enc.get_feature_names_out().tolist()
    ['stated_prefs_safety', 'gender=Female', 'gender=Male', 'gender=missing']
    >>> enc.transform(df).round(3).tolist()[0]
    [-1.225, -0.333, 0.667, -0.333]
    >>> enc.transform(pd.DataFrame({"stated_prefs_safety": [50.0], "gender": ["Martian"]})).tolist()
    [[0.0, 0.0, 0.0, 0.0]]
    """

    def __init__(self, columns: Sequence[str]):
        self.columns = columns

    def fit(self, frame: pd.DataFrame, y=None) -> CovariateEncoder:
        """Learn the imputation, scaling and levels from one row per participant.

        Parameters
        ----------
        frame
            the covariate columns.
        y
            ignored (scikit-learn API).

        Returns
        -------
        CovariateEncoder

        Example
        -------
        >>> df = pd.DataFrame({"stated_prefs_safety": [10.0, 90.0, None], "gender": ["Male", "Female", None]})
        >>> enc = CovariateEncoder(["stated_prefs_safety", "gender"]).fit(df)
        >>> enc.transform(df).shape[1] == len(enc.get_feature_names_out())
        True
        """
        from sklearn.compose import ColumnTransformer
        from sklearn.impute import SimpleImputer
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import OneHotEncoder, StandardScaler

        cols = list(self.columns)
        missing = [c for c in cols if c not in frame.columns]
        if missing:
            raise ConfigError(
                f"covariate(s) {missing} not in the pairs; available: {', '.join(map(str, frame.columns))}"
            )
        self.numeric_ = [
            c
            for c in cols
            if pd.api.types.is_numeric_dtype(frame[c])
            and not pd.api.types.is_bool_dtype(frame[c])
            and frame[c].notna().any()
        ]
        self.categorical_ = [
            c
            for c in cols
            if c not in self.numeric_ and not (pd.api.types.is_numeric_dtype(frame[c]) and frame[c].isna().all())
        ]
        parts = []
        if self.numeric_:
            parts.append(("num", make_pipeline(SimpleImputer(strategy="mean"), StandardScaler()), self.numeric_))
        if self.categorical_:
            parts.append(("cat", OneHotEncoder(handle_unknown="ignore", sparse_output=False), self.categorical_))
        if not parts:
            raise ConfigError(f"covariates {cols} have no values")
        self.transformer_ = ColumnTransformer(parts, sparse_threshold=0.0, verbose_feature_names_out=False)
        raw = np.asarray(self.transformer_.fit_transform(self._prepare(frame)), dtype=float)
        blocks, start = [], len(self.numeric_)
        if self.categorical_:
            for cats in self.transformer_.named_transformers_["cat"].categories_:
                blocks.append(slice(start, start + len(cats)))
                start += len(cats)
        self.blocks_ = blocks
        self.center_ = raw.mean(axis=0)
        return self

    def _prepare(self, frame: pd.DataFrame) -> pd.DataFrame:
        out = {}
        for c in self.numeric_:
            out[c] = pd.to_numeric(frame[c], errors="coerce").astype(float).to_numpy()
        for c in self.categorical_:
            v = frame[c].to_numpy(dtype=object)
            v = np.where(pd.isna(v), "missing", v).astype(object)
            if pd.api.types.infer_dtype(v, skipna=False) != "string":  # numbers, booleans...: as their text
                v = pd.Series(v, dtype=object).astype(str).astype(object).to_numpy()
            out[c] = v
        return pd.DataFrame(out, index=frame.index, columns=[*self.numeric_, *self.categorical_])

    def _encode(self, prepared: pd.DataFrame) -> np.ndarray:
        """``transformer_.transform`` written out in numpy (the same numbers: mean imputation, ``(x − mean) /
        scale``, one indicator per known level, unknown levels all zero) without scikit-learn's per-call
        validation, which dominated the many small transforms of a cross-validation."""
        parts = []
        if self.numeric_:
            imputer, scaler = (
                self.transformer_.named_transformers_["num"].steps[0][1],
                self.transformer_.named_transformers_["num"].steps[1][1],
            )
            X = prepared[self.numeric_].to_numpy(dtype=np.float64)
            X = np.where(np.isnan(X), imputer.statistics_[None, :], X)
            parts.append((X - scaler.mean_) / scaler.scale_)
        if self.categorical_:
            categories = self.transformer_.named_transformers_["cat"].categories_
            for c, cats in zip(self.categorical_, categories, strict=True):
                v = prepared[c].to_numpy(dtype=object)
                parts.append((v[:, None] == np.asarray(cats, dtype=object)[None, :]).astype(np.float64))
        return np.hstack(parts) if parts else np.zeros((len(prepared), 0))

    def transform(self, frame: pd.DataFrame) -> np.ndarray:
        """The centred, encoded covariates of each row.

        Parameters
        ----------
        frame
            the covariate columns.

        Returns
        -------
        numpy.ndarray
            ``(n_rows, n_encoded)``.

        Example
        -------
        >>> df = pd.DataFrame({"stated_prefs_safety": [10.0, 90.0, None], "gender": ["Male", "Female", None]})
        >>> enc = CovariateEncoder(["stated_prefs_safety", "gender"]).fit(df)
        >>> enc.transform(df).shape
        (3, 4)
        """
        missing = [c for c in [*self.numeric_, *self.categorical_] if c not in frame.columns]
        if missing:
            raise ConfigError(f"covariate(s) {missing} missing from the pairs")
        raw = self._encode(self._prepare(frame))
        out = raw - self.center_[None, :]
        for b in self.blocks_:
            unseen = raw[:, b].sum(axis=1) == 0
            out[unseen, b] = 0.0
        return out

    def get_feature_names_out(self) -> np.ndarray:
        """Names of the encoded columns (``column`` or ``column=level``).

        Returns
        -------
        numpy.ndarray of str

        Example
        -------
        >>> df = pd.DataFrame({"stated_prefs_safety": [10.0, 90.0, None], "gender": ["Male", "Female", None]})
        >>> enc = CovariateEncoder(["stated_prefs_safety", "gender"]).fit(df)
        >>> enc.get_feature_names_out()[0]
        'stated_prefs_safety'
        """
        names = []
        for name in self.transformer_.get_feature_names_out():
            for c in self.categorical_:
                if name.startswith(f"{c}_") and name not in self.numeric_:
                    name = f"{c}={name[len(c) + 1 :]}"
                    break
            names.append(name)
        return np.array(names, dtype=object)


def _user_rows(frame: pd.DataFrame) -> tuple[np.ndarray, pd.DataFrame]:
    """(code per row, one frame row per participant) — covariates are per participant."""
    if "user_id" not in frame.columns:
        return np.arange(len(frame)), frame
    codes, _ = pd.factorize(frame["user_id"].astype(str), use_na_sentinel=False)
    _, first = np.unique(codes, return_index=True)  # first row of each participant, in code order
    return codes, frame.iloc[first]


#: Candidate covariate penalties ``alpha_covariates`` tried by the inner cross-validation (``"cv"``).
DEFAULT_ALPHA_COVARIATES_GRID: tuple[float, ...] = (1.0, 3.0, 10.0, 30.0, 100.0, 300.0, 1e3, 1e4, 1e5)

#: Value of ``alpha_covariates_`` when the global model (no covariate interactions) was chosen.
GLOBAL = float("inf")


class PersonalisedRewardModel(_PairwiseModel):
    """Reward ``r_u(x) = (w + A z_u + b_u) · φ(x)`` personalised on participant covariates (module docstring).

    By default the covariate penalty is **chosen by participant-grouped cross-validation inside**
    :meth:`fit` — on the training pairs only, so an outer evaluation stays nested — among
    :data:`DEFAULT_ALPHA_COVARIATES_GRID` *and the global model* (``A = 0``). The one-standard-error
    rule prefers the simpler model unless personalising improves the held-out log-loss by more than its
    paired (participant-clustered) standard error, so personalisation is used only when it helps people
    not seen in training; otherwise the fitted model *is* the global one (``chosen_ == "global"``,
    ``interaction_coef_`` zero).

    Parameters
    ----------
    featurizer
        as :class:`RewardModel`.
    covariates
        pairs-frame columns describing the participant (default: :data:`DEFAULT_COVARIATES` present —
        stated-preference sliders and demographics). Numeric ones are standardised, others one-hot.
    alpha, alpha_users
        L2 penalties of the shared weights ``w`` and of the per-user offsets ``b_u``.
    alpha_covariates
        L2 penalty of ``A``: ``"cv"`` (default) chooses it by inner cross-validation among
        :data:`DEFAULT_ALPHA_COVARIATES_GRID`; a list chooses among those values; a number fits that
        penalty without any selection (and without the fallback).
    fallback
        with a chosen penalty: the global model is a candidate too, and the simplest one.
    cv
        participant-grouped folds of the inner cross-validation (fewer when there are fewer participants).
    selection
        ``"1se"`` (default): the simplest candidate within one paired standard error of the best;
        ``"best"``: the lowest cross-validated loss.
    cv_metric
        ``"log_loss"`` (default) or ``"accuracy"`` — what the inner cross-validation compares.
    random_state
        seed of the inner folds.
    user_offsets
        learn ``b_u`` per participant (needs ``user_id``); helps only for participants seen in training.
    standardize, max_iter, tol
        as :class:`RewardModel`.

    Attributes
    ----------
    coef_ : shared ``w``; ``interaction_coef_`` (``A``, features × encoded covariates), ``user_coef_``
        (DataFrame of ``b_u``, or None), ``covariate_names_``, all in original feature units.
    chosen_ : ``"personalised"`` or ``"global"``; ``alpha_covariates_`` the penalty used
        (:data:`GLOBAL`, infinite, for the global model).
    cv_results_ : one row per candidate (simplest first): ``candidate``, ``alpha_covariates``,
        ``log_loss``, ``accuracy`` (held-out participants of the inner folds), ``diff_vs_best``,
        ``diff_se`` (of the selection metric), ``chosen``; None when a number was given.

    See Also
    --------
    pluralis.learn.neural.MixtureRewardModel : mixture-of-ideal-points personalisation (nonlinear).
    pluralis.learn.groups.compare_models : held-out comparison of fitted candidates.

    Example
    -------
    >>> rng = np.random.default_rng(1)
    >>> n = 4000
    >>> users = rng.integers(0, 200, n)
    >>> likes_lists = np.where(users % 2 == 0, "yes", "no")       # a covariate that flips the preference
    >>> pa, pb = rng.integers(0, 2, (2, n, 1)).astype(float)
    >>> wu = np.where(likes_lists == "yes", 2.0, -2.0)
    >>> y = (rng.random(n) < 1 / (1 + np.exp(-wu * (pa - pb)[:, 0]))).astype(float)
    >>> frame = pd.DataFrame({"user_id": users.astype(str), "likes_lists": likes_lists})
    >>> pf = PairFeatures.from_arrays(pa, pb, y, frame, feature_names=["list"])
    >>> m = PersonalisedRewardModel(covariates=["likes_lists"]).fit(pf)
    >>> m.chosen_, m.weights_for(pd.DataFrame({"likes_lists": ["yes", "no"]})).round(0).ravel().tolist()
    ('personalised', [2.0, -2.0])
    >>> round(m.score(pf), 2) > round(RewardModel().fit(pf).score(pf), 2)
    True

    A covariate unrelated to the preference: the inner cross-validation falls back to the global model.

    >>> noise = pd.DataFrame({"user_id": users.astype(str), "colour": np.where(users % 3 == 0, "red", "blue")})
    >>> y0 = (rng.random(n) < 1 / (1 + np.exp(-2.0 * (pa - pb)[:, 0]))).astype(float)
    >>> g = PersonalisedRewardModel(covariates=["colour"]).fit(PairFeatures.from_arrays(pa, pb, y0, noise))
    >>> g.chosen_, float(np.abs(g.interaction_coef_).max())
    ('global', 0.0)
    """

    def __init__(
        self,
        featurizer=None,
        covariates: Sequence[str] | None = None,
        alpha: float = 1.0,
        alpha_covariates: float | Sequence[float] | str = "cv",
        user_offsets: bool = False,
        alpha_users: float = 10.0,
        standardize: bool | str = "auto",
        max_iter: int = 1000,
        tol: float = 1e-8,
        fallback: bool = True,
        cv: int = 5,
        selection: str = "1se",
        cv_metric: str = "log_loss",
        random_state: int = 0,
    ):
        self.featurizer = featurizer
        self.covariates = covariates
        self.alpha = alpha
        self.alpha_covariates = alpha_covariates
        self.user_offsets = user_offsets
        self.alpha_users = alpha_users
        self.standardize = standardize
        self.max_iter = max_iter
        self.tol = tol
        self.fallback = fallback
        self.cv = cv
        self.selection = selection
        self.cv_metric = cv_metric
        self.random_state = random_state

    def _covariate_columns(self, frame: pd.DataFrame) -> list[str]:
        if self.covariates is None:
            cols = [c for c in DEFAULT_COVARIATES if c in frame.columns]
            if not cols:
                raise ConfigError(
                    "no participant covariates in the pairs (attach the survey: "
                    "preference_pairs(utterances, survey)) — or name them with covariates=[...]"
                )
            return cols
        cols = [self.covariates] if isinstance(self.covariates, str) else list(self.covariates)
        if not cols:
            raise ConfigError("covariates is empty: use RewardModel for a model without covariates")
        return cols

    def _Z(self, frame: pd.DataFrame) -> np.ndarray:
        codes, firsts = _user_rows(frame)
        return self.encoder_.transform(firsts)[codes]

    def _grid(self) -> list[float] | None:
        """Candidate penalties (None: a fixed number, no selection)."""
        a = self.alpha_covariates
        if isinstance(a, str):
            if a != "cv":
                raise ConfigError(f"alpha_covariates must be a number, a list of numbers or 'cv', got {a!r}")
            return list(DEFAULT_ALPHA_COVARIATES_GRID)
        if np.ndim(a) == 0:
            v = float(a)  # type: ignore[arg-type]
            if not (np.isfinite(v) and v >= 0):
                raise ConfigError(f"alpha_covariates must be a non-negative number, got {a!r}")
            return None
        grid = [float(v) for v in np.ravel(np.asarray(a, dtype=float))]
        if not grid or any(not (np.isfinite(v) and v >= 0) for v in grid):
            raise ConfigError(f"alpha_covariates must be non-negative numbers, got {a!r}")
        return grid

    def _objectives(self, D, y, s, Zp, codes, user_offsets: bool) -> dict:
        """The global and the personalised objective on these rows, each built on first use (index
        structures built once, reused for every candidate penalty); ``Zp`` has one row of covariates per
        participant code."""
        users, nu = None, 0
        if user_offsets:
            users, _ = pd.factorize(codes)
            nu = int(users.max()) + 1
        return {
            "global": lambda: _Objective(D, y, s, users=users, n_users=nu),
            "personalised": lambda: _Objective(D, y, s, Z=Zp, users=users, n_users=nu, zgroups=codes, per_group=True),
            "k": Zp.shape[1],
        }

    def _solve_one(self, objectives: dict, alpha_z, theta0=None):
        def get(name):
            if not isinstance(objectives[name], _Objective):
                objectives[name] = objectives[name]()
            return objectives[name]

        opts = {"max_iter": self.max_iter, "tol": self.tol}
        if np.isinf(alpha_z):
            t0 = None if theta0 is None else (theta0[0], None, theta0[2])
            glob = get("global")
            w, _, B, res = glob.solve(float(self.alpha), alpha_u=float(self.alpha_users), theta0=t0, **opts)
            return w, np.zeros((glob.d, objectives["k"])), B, res
        pers = get("personalised")
        return pers.solve(float(self.alpha), float(alpha_z), float(self.alpha_users), theta0=theta0, **opts)

    def _select(self, D, y, s, Zp, codes, grid: list[float]) -> tuple[float, pd.DataFrame]:
        """Inner participant-grouped CV over ``[global?] + grid`` (strongest penalty first); ``Zp``: the
        covariates of each participant code."""
        if self.selection not in ("1se", "best"):
            raise ConfigError(f"selection must be '1se' or 'best', got {self.selection!r}")
        if self.cv_metric not in ("log_loss", "accuracy"):
            raise ConfigError(f"cv_metric must be 'log_loss' or 'accuracy', got {self.cv_metric!r}")
        n_people = int(codes.max()) + 1
        if n_people < 2:
            raise ConfigError(
                "choosing alpha_covariates by cross-validation needs 2+ participants; give it a number instead"
            )
        n_splits = min(int(self.cv), n_people)
        folds = participant_folds(codes, n_splits, seed=int(self.random_state))
        cands = ([GLOBAL] if self.fallback else []) + sorted(set(grid), reverse=True)
        margins = self._cv_margins(D, y, s, Zp, codes, folds, n_splits, cands)
        return self._choose(y, s, codes, cands, margins, n_splits)

    def _cv_margins(self, D, y, s, Zp, codes, folds, n_splits, cands) -> np.ndarray:
        """Held-out margins of every candidate in every inner fold (warm-started along the path; the
        objectives of a fold are built once for all candidates)."""
        margins = np.zeros((len(cands), len(y)))
        for k in range(n_splits):
            tr, te = folds != k, folds == k
            objectives = self._objectives(D[tr], y[tr], s[tr], Zp, codes[tr], self.user_offsets)
            D_te, c_te = D[te], codes[te]
            theta = None
            for c, a in enumerate(cands):
                w, A, B, _ = self._solve_one(objectives, a, theta)
                theta = (w, A, B)
                margins[c, te] = np.einsum("ij,ij->i", D_te, (w[None, :] + Zp @ A.T)[c_te])  # w + A z per person
        return margins

    def _choose(self, y, s, codes, cands, margins, n_splits) -> tuple[float, pd.DataFrame]:
        """The 1-SE (or best) candidate from the cross-validated margins, and the table of candidates."""
        decisive = (y != 0.5).astype(float) * s
        p = expit(margins)
        pc = np.clip(p, 1e-12, 1 - 1e-12)
        log_loss = -(y * np.log(pc) + (1 - y) * np.log1p(-pc))
        error = 1.0 - np.where(p == 0.5, 0.5, ((p > 0.5) == (y > 0.5)).astype(float))
        losses = log_loss if self.cv_metric == "log_loss" else error
        if decisive.sum() <= 0:
            raise ConfigError("no decisive pairs to cross-validate on (all ties)")
        chosen, stats = one_se_choice(losses, codes, weights=decisive, se_rule=1.0 if self.selection == "1se" else 0.0)
        W = decisive.sum()
        table = pd.DataFrame(
            {
                "candidate": ["global" if np.isinf(a) else "personalised" for a in cands],
                "alpha_covariates": cands,
                "log_loss": log_loss @ decisive / W,
                "accuracy": 1.0 - error @ decisive / W,
                "diff_vs_best": stats["diff_vs_best"].to_numpy(),
                "diff_se": stats["diff_se"].to_numpy(),
                "chosen": np.arange(len(cands)) == chosen,
            }
        )
        table.attrs.update({"metric": self.cv_metric, "selection": self.selection, "n_splits": n_splits})
        return cands[chosen], table

    def fit(self, X, y=None, sample_weight=None) -> PersonalisedRewardModel:
        """Fit on pairs carrying the covariate columns (and ``user_id`` for ``user_offsets``).

        With ``alpha_covariates="cv"`` (or a list) the penalty is chosen first by participant-grouped
        cross-validation on these pairs (see the class docstring); then the chosen model is refit on all.

        Parameters
        ----------
        X
            a pairs frame or :class:`PairFeatures` with the covariate columns.
        y
            outcomes (default: the pairs' ``y``).
        sample_weight
            optional weight per pair.

        Returns
        -------
        PersonalisedRewardModel

        Example
        -------
        >>> rng = np.random.default_rng(1)
        >>> users = rng.integers(0, 100, 2000)
        >>> likes = np.where(users % 2 == 0, "yes", "no")
        >>> pa, pb = rng.integers(0, 2, (2, 2000, 1)).astype(float)
        >>> y = (rng.random(2000) < 1 / (1 + np.exp(-np.where(likes == "yes", 2.0, -2.0) * (pa - pb)[:, 0]))).astype(float)
        >>> pf = PairFeatures.from_arrays(pa, pb, y, pd.DataFrame({"user_id": users.astype(str), "likes": likes}),
        ...                               feature_names=["list"])
        >>> m = PersonalisedRewardModel(covariates=["likes"]).fit(pf)
        >>> m.interaction_coef_.shape
        (1, 2)
        """
        for name in ("alpha", "alpha_users"):
            v = getattr(self, name)
            if not (np.isfinite(v) and v >= 0):
                raise ConfigError(f"{name} must be a non-negative number, got {v!r}")
        grid = self._grid()
        pf = self._features(X, fitting=True)
        y = self._targets(pf, y)
        s = np.ones(len(pf)) if sample_weight is None else np.asarray(sample_weight, dtype=float)
        if len(s) != len(pf) or (s < 0).any() or not np.isfinite(s).all():
            raise ConfigError("sample_weight must be one non-negative number per pair")
        cols = self._covariate_columns(pf.frame)
        codes, firsts = _user_rows(pf.frame)
        self.encoder_ = CovariateEncoder(cols).fit(firsts)
        Zp = self.encoder_.transform(firsts)  # one row per participant code
        D = pf.diff().astype(np.float64)
        scale = _rms_scale(D, s) if _standardizes(self.standardize, pf) else np.ones(D.shape[1])
        if self.user_offsets and "user_id" not in pf.frame.columns:
            raise ConfigError("user_offsets=True needs a user_id column in the pairs")
        Ds = D / scale
        with _blas_one_thread(Ds.shape[1]):
            if grid is None:
                alpha_z = float(self.alpha_covariates)  # type: ignore[arg-type]
                self.cv_results_ = None
            else:
                alpha_z, self.cv_results_ = self._select(Ds, y, s, Zp, codes, grid)
            w, A, B, res = self._solve_one(self._objectives(Ds, y, s, Zp, codes, self.user_offsets), alpha_z)
        self.alpha_covariates_ = alpha_z
        self.chosen_ = "global" if np.isinf(alpha_z) else "personalised"
        self.scale_ = scale
        self.coef_ = w / scale
        self.interaction_coef_ = A / scale[:, None]
        self.covariate_names_ = self.encoder_.get_feature_names_out()
        self.user_coef_ = None
        if self.user_offsets:
            ids = firsts["user_id"].astype(str).to_numpy()
            self.user_coef_ = pd.DataFrame(
                B / scale[None, :], index=pd.Index(ids, name="user_id"), columns=list(pf.feature_names)
            )
        self._finish_fit(pf, res)
        return self

    def weights_for(self, covariates: pd.DataFrame | dict, user_id=None) -> np.ndarray:
        """Each row's personal weight vector ``w + A z (+ b_u)``, ``(n_rows, n_features)``, original units.

        ``covariates``: a frame (or one dict) with the covariate columns; ``user_id`` (a column of
        ``covariates`` by default) adds the offsets of participants seen in training.

        Parameters
        ----------
        covariates
            covariate values, one row per person (or one dict).
        user_id
            participant ids (default: the ``user_id`` column of ``covariates``, if any).

        Returns
        -------
        numpy.ndarray

        Example
        -------
        >>> rng = np.random.default_rng(1)
        >>> users = rng.integers(0, 100, 2000)
        >>> likes = np.where(users % 2 == 0, "yes", "no")
        >>> pa, pb = rng.integers(0, 2, (2, 2000, 1)).astype(float)
        >>> y = (rng.random(2000) < 1 / (1 + np.exp(-np.where(likes == "yes", 2.0, -2.0) * (pa - pb)[:, 0]))).astype(float)
        >>> pf = PairFeatures.from_arrays(pa, pb, y, pd.DataFrame({"user_id": users.astype(str), "likes": likes}),
        ...                               feature_names=["list"])
        >>> m = PersonalisedRewardModel(covariates=["likes"]).fit(pf)
        >>> m.weights_for({"likes": "yes"}).round(0).tolist()
        [[2.0]]
        """
        if not hasattr(self, "coef_"):
            raise ConfigError("this PersonalisedRewardModel is not fitted yet: call fit() first")
        frame = pd.DataFrame([covariates]) if isinstance(covariates, dict) else covariates.reset_index(drop=True)
        W = self.coef_[None, :] + self.encoder_.transform(frame) @ self.interaction_coef_.T
        if self.user_coef_ is not None:
            ids = user_id if user_id is not None else (frame["user_id"] if "user_id" in frame.columns else None)
            if ids is not None:
                ids = pd.Series(np.broadcast_to(np.asarray(ids, dtype=object), (len(frame),))).astype(str)
                W = W + self.user_coef_.reindex(ids.to_numpy()).fillna(0.0).to_numpy()
        return W

    def decision_function(self, X) -> np.ndarray:
        """Personal reward margin ``r_u(a) − r_u(b)`` of each pair.

        Parameters
        ----------
        X
            a pairs frame or :class:`PairFeatures` with the covariate columns.

        Returns
        -------
        numpy.ndarray

        Example
        -------
        >>> rng = np.random.default_rng(1)
        >>> users = rng.integers(0, 100, 2000)
        >>> likes = np.where(users % 2 == 0, "yes", "no")
        >>> pa, pb = rng.integers(0, 2, (2, 2000, 1)).astype(float)
        >>> y = (rng.random(2000) < 1 / (1 + np.exp(-np.where(likes == "yes", 2.0, -2.0) * (pa - pb)[:, 0]))).astype(float)
        >>> pf = PairFeatures.from_arrays(pa, pb, y, pd.DataFrame({"user_id": users.astype(str), "likes": likes}),
        ...                               feature_names=["list"])
        >>> m = PersonalisedRewardModel(covariates=["likes"]).fit(pf)
        >>> m.decision_function(pf).shape
        (2000,)
        """
        pf = self._features(X, fitting=False)
        D = pf.diff()
        m = D @ self.coef_ + np.einsum("ij,ij->i", D @ self.interaction_coef_, self._Z(pf.frame))
        if self.user_coef_ is not None and "user_id" in pf.frame.columns:
            pos = self.user_coef_.index.get_indexer(pd.Index(pf.frame["user_id"].astype(str)))
            B = np.vstack([self.user_coef_.to_numpy(), np.zeros((1, D.shape[1]))])
            m += np.einsum("ij,ij->i", D, B[pos])  # unseen participants (pos = -1) hit the zero row
        return m

    def reward(self, texts, covariates: pd.DataFrame | dict, user_id=None) -> np.ndarray:
        """Personal reward ``r_u(x)`` of each response for the participant(s) described by ``covariates``
        (one row per text, or a single row / dict for all).

        Parameters
        ----------
        texts
            response texts, or their features ``(n, d)``.
        covariates
            covariate values (one row per text, or one row / dict for all).
        user_id
            participant ids for the per-user offsets.

        Returns
        -------
        numpy.ndarray

        Example
        -------
        >>> rng = np.random.default_rng(1)
        >>> users = rng.integers(0, 100, 2000)
        >>> likes = np.where(users % 2 == 0, "yes", "no")
        >>> pa, pb = rng.integers(0, 2, (2, 2000, 1)).astype(float)
        >>> y = (rng.random(2000) < 1 / (1 + np.exp(-np.where(likes == "yes", 2.0, -2.0) * (pa - pb)[:, 0]))).astype(float)
        >>> pf = PairFeatures.from_arrays(pa, pb, y, pd.DataFrame({"user_id": users.astype(str), "likes": likes}),
        ...                               feature_names=["list"])
        >>> m = PersonalisedRewardModel(covariates=["likes"]).fit(pf)
        >>> m.reward(np.array([[1.0], [0.0]]), {"likes": "no"}).round(0).tolist()
        [-2.0, 0.0]
        """
        phi = self._phi(texts)
        W = self.weights_for(covariates, user_id)
        if len(W) == 1:
            return phi @ W[0]
        if len(W) != len(phi):
            raise ConfigError(f"{len(W)} covariate rows for {len(phi)} responses")
        return np.einsum("ij,ij->i", phi, W)

    def coefficients(self) -> pd.Series:
        """Shared weights ``w`` — the average participant's (covariates are centred) — indexed by feature.

        Returns
        -------
        pandas.Series

        Example
        -------
        >>> rng = np.random.default_rng(1)
        >>> users = rng.integers(0, 100, 2000)
        >>> likes = np.where(users % 2 == 0, "yes", "no")
        >>> pa, pb = rng.integers(0, 2, (2, 2000, 1)).astype(float)
        >>> y = (rng.random(2000) < 1 / (1 + np.exp(-np.where(likes == "yes", 2.0, -2.0) * (pa - pb)[:, 0]))).astype(float)
        >>> pf = PairFeatures.from_arrays(pa, pb, y, pd.DataFrame({"user_id": users.astype(str), "likes": likes}),
        ...                               feature_names=["list"])
        >>> m = PersonalisedRewardModel(covariates=["likes"]).fit(pf)
        >>> m.coefficients().index.tolist()
        ['list']
        """
        return pd.Series(self.coef_, index=list(self.feature_names_in_), name="coef")

    def interactions(self) -> pd.DataFrame:
        """``A`` in tidy form: ``feature, covariate, coef`` (change in the feature's weight per unit of
        the encoded covariate: one SD of a numeric one; for a level, belonging to it rather than not).

        Returns
        -------
        pandas.DataFrame

        Example
        -------
        >>> rng = np.random.default_rng(1)
        >>> users = rng.integers(0, 100, 2000)
        >>> likes = np.where(users % 2 == 0, "yes", "no")
        >>> pa, pb = rng.integers(0, 2, (2, 2000, 1)).astype(float)
        >>> y = (rng.random(2000) < 1 / (1 + np.exp(-np.where(likes == "yes", 2.0, -2.0) * (pa - pb)[:, 0]))).astype(float)
        >>> pf = PairFeatures.from_arrays(pa, pb, y, pd.DataFrame({"user_id": users.astype(str), "likes": likes}),
        ...                               feature_names=["list"])
        >>> m = PersonalisedRewardModel(covariates=["likes"]).fit(pf)
        >>> m.interactions().columns.tolist()
        ['feature', 'covariate', 'coef']
        """
        A = self.interaction_coef_
        return pd.DataFrame(
            {
                "feature": np.repeat(self.feature_names_in_, A.shape[1]),
                "covariate": np.tile(self.covariate_names_, A.shape[0]),
                "coef": A.ravel(),
            }
        )
