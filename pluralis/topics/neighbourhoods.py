"""Local neighbourhoods of texts and the intersectional-entropy test (spec §5.4-5.5, PRISM App. S).

Two algorithms, labelled so that nobody mistakes one for the other (spec §9 row 4):

``method="as_coded"`` — what PRISM's code ran (meedan ``temporal_cluster``)
    texts in alphabetical order; each text links to its single *nearest earlier* text when that
    cosine distance is ``<= tau`` and takes its neighbourhood; clusters are never merged, so the
    result depends on the order. Use it to reproduce PRISM's counts.
``method="single_link"`` — what the paper describes (App. S.1, Algorithm 1)
    single-link clustering: every pair closer than ``tau`` (strictly) is merged, i.e. connected
    components of the ``d < tau`` graph; independent of order.

Neighbourhoods of one text (singletons) and "ego" neighbourhoods (one author) are dropped. Table
23's row "% total prompts appearing in neighbourhoods" (1.92 / 3.41 / 5.23) is in fact the number
of kept neighbourhoods per 100 texts (spec §9 row 5): :func:`neighbourhood_summary` reports that
figure as ``neighbourhoods_per_100_texts`` and the real share of texts in kept neighbourhoods as
``pct_texts_in_neighbourhoods``.

The entropy test (:func:`entropy_test`) follows the code too (spec §9 row 6): per attribute
``H(d) = -sum p log2 p``; the expected entropy at size ``k`` is the mean over ``m = 100`` draws of
``k`` texts with replacement from all texts; ``H_adj = H / H_exp - 1`` summed over the five
demographic attributes; a neighbourhood is above / within / below ``0 ± 2.56 sigma_k / sqrt(k)``,
``sigma_k`` the standard deviation of the draws' *raw* summed entropy. ``band="simulated"`` uses
instead the 0.5 % and 99.5 % quantiles of the draws' adjusted intersectional entropy — a 99 %
range of the statistic itself, as the paper's wording ("99% CI") suggests.

Neighbours: ``neighbors="exact"`` computes all cosine similarities in blocks (fine for PRISM's
8,011 texts); ``"approximate"`` searches each text's nearest neighbours with pynndescent (the
nearest earlier text, or the ``d < tau`` edges, are then looked for among those ``n_neighbors``).

Example
-------
>>> E = np.array([[1.0, 0.0], [0.99, 0.05], [0.0, 1.0], [0.05, 0.99], [0.7, 0.7]])
>>> local_neighbourhoods(E, taus=[0.01], method="single_link")["tau=0.01"].tolist()
[0, 0, 1, 1, 2]
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components

from pluralis.errors import ConfigError

#: PRISM's thresholds (0.125 is Hale's recommendation and the paper's main one).
PRISM_TAUS: tuple[float, ...] = (0.05, 0.125, 0.2)
#: PRISM's entropy attributes (spec §5.5).
PRISM_ENTROPY_ATTRIBUTES: tuple[str, ...] = (
    "gender",
    "age",
    "ethnicity_simplified",
    "religion_simplified",
    "location_special_region",
)
METHODS = ("as_coded", "single_link")


def _unit(E: np.ndarray) -> np.ndarray:
    E = np.asarray(E, dtype=np.float32)
    norms = np.linalg.norm(E, axis=1, keepdims=True)
    return E / np.where(norms > 0, norms, 1.0)


def _approx_knn(Xn: np.ndarray, k: int, seed: int | None) -> tuple[np.ndarray, np.ndarray]:
    try:
        from pynndescent import NNDescent
    except ImportError:
        raise ConfigError("approximate neighbours need pynndescent (pip install 'pluralis[topics]')") from None
    index = NNDescent(Xn, n_neighbors=min(k + 1, len(Xn)), metric="cosine", random_state=seed)
    idx, dist = index.neighbor_graph
    return idx, dist


def nearest_earlier(
    embeddings: np.ndarray,
    *,
    neighbors: str = "exact",
    n_neighbors: int = 30,
    block: int = 2048,
    seed: int | None = 42,
) -> tuple[np.ndarray, np.ndarray]:
    """For each row ``a``, the nearest row ``b < a`` by cosine distance and that distance.

    Row 0 gets ``-1`` and ``inf``. Ties go to the earliest row (``argmin``, as PRISM's code).
    ``neighbors="approximate"`` looks among each row's ``n_neighbors`` approximate neighbours only
    (``-1``/``inf`` when none of them is earlier).

    Parameters
    ----------
    embeddings : numpy.ndarray
        Text embeddings ``(n, dim)``, in the texts' order.
    neighbors : {"exact", "approximate"}
        Exact search (default) or approximate nearest neighbours (needs pynndescent).
    n_neighbors : int
        Neighbours searched per row in approximate mode (default 30).
    block : int
        Rows compared at once in exact mode (default 2048).
    seed : int or None
        Random seed of the approximate search (default 42).

    Returns
    -------
    tuple of (numpy.ndarray, numpy.ndarray)
        ``best`` (int64 row index, ``-1`` for none) and ``dist`` (float, ``inf`` for none), both ``(n,)``.

    Example
    -------
    >>> b, d = nearest_earlier(np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 0.1]]))
    >>> b.tolist(), np.round(d, 3).tolist()
    ([-1, 0, 0], [inf, 1.0, 0.005])
    """
    Xn = _unit(embeddings)
    n = len(Xn)
    best = np.full(n, -1, dtype=np.int64)
    dist = np.full(n, np.inf)
    if n < 2:
        return best, dist
    if neighbors == "approximate":
        idx, d = _approx_knn(Xn, n_neighbors, seed)
        d = np.where(idx < np.arange(n)[:, None], d, np.inf)
        d = np.where(idx >= 0, d, np.inf)
        # among equal distances prefer the earliest row, as the exact argmin does
        order = np.lexsort((idx, d), axis=1) if d.size else d
        j = order[:, 0]
        rows = np.arange(n)
        dist = d[rows, j].astype(np.float64)
        best = np.where(np.isfinite(dist), idx[rows, j], -1)
        return best, dist
    if neighbors != "exact":
        raise ConfigError(f"neighbors must be 'exact' or 'approximate', got {neighbors!r}")
    for start in range(1, n, block):  # blocks of rows against every earlier row
        stop = min(n, start + block)
        S = Xn[start:stop] @ Xn[:stop].T
        later = np.arange(stop)[None, :] >= np.arange(start, stop)[:, None]
        S[later] = -np.inf
        j = np.argmax(S, axis=1)
        best[start:stop] = j
        dist[start:stop] = 1.0 - S[np.arange(stop - start), j].astype(np.float64)
    return best, np.clip(dist, 0.0, None)


def chain_labels(best: np.ndarray, dist: np.ndarray, tau: float) -> np.ndarray:
    """PRISM's chaining: row ``a`` joins the neighbourhood of ``best[a]`` when ``dist[a] <= tau``.

    Labels are numbered by first appearance. Vectorised by pointer jumping (each row's earliest
    linked ancestor), equal to the sequential loop because ``best[a] < a``.

    Parameters
    ----------
    best : numpy.ndarray
        Each row's nearest earlier row (``-1`` for none), from :func:`nearest_earlier`.
    dist : numpy.ndarray
        The distance to that row.
    tau : float
        Distance threshold (inclusive).

    Returns
    -------
    numpy.ndarray
        int64 neighbourhood label of each row.

    Example
    -------
    >>> chain_labels(np.array([-1, 0, 1, 0]), np.array([np.inf, 0.1, 0.1, 0.5]), 0.2).tolist()
    [0, 0, 0, 1]
    """
    n = len(best)
    parent = np.where((dist <= tau) & (best >= 0), best, np.arange(n))
    while True:
        nxt = parent[parent]
        if np.array_equal(nxt, parent):
            break
        parent = nxt
    _, labels = np.unique(parent, return_inverse=True)  # roots ascend with first appearance
    return labels.astype(np.int64)


def close_pairs(
    embeddings: np.ndarray,
    tau: float,
    *,
    neighbors: str = "exact",
    n_neighbors: int = 30,
    block: int = 2048,
    seed: int | None = 42,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """All pairs ``i < j`` with cosine distance ``< tau``: (i, j, distance).

    Parameters
    ----------
    embeddings : numpy.ndarray
        Text embeddings ``(n, dim)``.
    tau : float
        Distance threshold (exclusive).
    neighbors : {"exact", "approximate"}
        Exact search (default) or approximate nearest neighbours (needs pynndescent).
    n_neighbors : int
        Neighbours searched per row in approximate mode (default 30).
    block : int
        Rows compared at once in exact mode (default 2048).
    seed : int or None
        Random seed of the approximate search (default 42).

    Returns
    -------
    tuple of (numpy.ndarray, numpy.ndarray, numpy.ndarray)
        Row indexes ``i``, ``j`` and their cosine distances.

    Example
    -------
    >>> i, j, d = close_pairs(np.array([[1.0, 0.0], [1.0, 0.01], [0.0, 1.0]]), 0.01)
    >>> i.tolist(), j.tolist()
    ([0], [1])
    """
    Xn = _unit(embeddings)
    n = len(Xn)
    if neighbors == "approximate":
        idx, d = _approx_knn(Xn, n_neighbors, seed)
        rows = np.repeat(np.arange(n), idx.shape[1])
        cols, dd = idx.ravel(), d.ravel().astype(np.float64)
        keep = (cols >= 0) & (cols != rows) & (dd < tau)
        i, j = np.minimum(rows[keep], cols[keep]), np.maximum(rows[keep], cols[keep])
        pairs = pd.DataFrame({"i": i, "j": j, "d": dd[keep]}).drop_duplicates(["i", "j"])
        return pairs["i"].to_numpy(), pairs["j"].to_numpy(), pairs["d"].to_numpy()
    if neighbors != "exact":
        raise ConfigError(f"neighbors must be 'exact' or 'approximate', got {neighbors!r}")
    out_i, out_j, out_d = [], [], []
    for start in range(0, n, block):
        stop = min(n, start + block)
        S = Xn[start:stop] @ Xn[start:].T  # only pairs with j >= start
        r, c = np.nonzero(S > 1.0 - tau)
        gi, gj = r + start, c + start
        keep = gj > gi
        d = 1.0 - S[r[keep], c[keep]].astype(np.float64)
        ok = d < tau
        out_i.append(gi[keep][ok])
        out_j.append(gj[keep][ok])
        out_d.append(d[ok])
    cat = lambda xs, dt: np.concatenate(xs).astype(dt) if xs else np.zeros(0, dtype=dt)
    return cat(out_i, np.int64), cat(out_j, np.int64), cat(out_d, np.float64)


def single_link_labels(n: int, i: np.ndarray, j: np.ndarray, d: np.ndarray, tau: float) -> np.ndarray:
    """Connected components of the graph of pairs closer than ``tau``, numbered by first appearance.

    Parameters
    ----------
    n : int
        Number of rows (texts).
    i, j : numpy.ndarray
        Row indexes of the pairs.
    d : numpy.ndarray
        Distance of each pair.
    tau : float
        Pairs with ``d < tau`` are linked.

    Returns
    -------
    numpy.ndarray
        int64 component label of each row.

    Example
    -------
    >>> single_link_labels(4, np.array([0, 2]), np.array([3, 3]), np.array([0.01, 0.3]), 0.1).tolist()
    [0, 1, 2, 0]
    """
    keep = d < tau
    graph = sp.coo_matrix((np.ones(int(keep.sum())), (i[keep], j[keep])), shape=(n, n))
    _, comp = connected_components(graph, directed=False)
    first = pd.Series(np.arange(n)).groupby(comp).min()
    rank = first.rank(method="first").astype(np.int64) - 1
    return rank.loc[comp].to_numpy()


def local_neighbourhoods(
    embeddings: np.ndarray,
    texts: Sequence[str] | None = None,
    *,
    taus: Sequence[float] = PRISM_TAUS,
    method: str = "as_coded",
    neighbors: str = "exact",
    n_neighbors: int = 30,
    seed: int | None = 42,
) -> pd.DataFrame:
    """Neighbourhood of every text at each threshold: columns ``tau=<value>``, rows in input order.

    Parameters
    ----------
    embeddings
        one vector per text (cosine geometry; normalisation does not matter).
    texts
        with ``method="as_coded"``, texts are processed in ascending order of these strings
        (PRISM sorted by the prompt); without them, in the given order.
    taus, method, neighbors, n_neighbors, seed
        thresholds, ``"as_coded"`` or ``"single_link"`` (module docstring), exact or approximate
        neighbour search.

    Labels number neighbourhoods by first appearance in the processing order (as-coded) or in
    the input order (single-link).

    Example
    -------
    >>> E = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 0.02]])
    >>> local_neighbourhoods(E, ["b", "c", "a"], taus=[0.01, 0.5]).values.tolist()
    [[0, 0], [1, 1], [0, 0]]
    """
    if method not in METHODS:
        raise ConfigError(f"method must be one of {METHODS}, got {method!r}")
    taus = [float(t) for t in taus]
    if not taus or min(taus) < 0:
        raise ConfigError(f"give non-negative thresholds, got {taus}")
    E = np.asarray(embeddings)
    n = len(E)
    out = pd.DataFrame(index=pd.RangeIndex(n))
    if method == "as_coded":
        if texts is not None:
            if len(texts) != n:
                raise ConfigError(f"{n} embeddings but {len(texts)} texts")
            order = np.asarray(pd.Series(list(texts), dtype=object).astype(str).argsort(kind="stable"))
        else:
            order = np.arange(n)
        best, dist = nearest_earlier(E[order], neighbors=neighbors, n_neighbors=n_neighbors, seed=seed)
        for tau in taus:
            labels = np.empty(n, dtype=np.int64)
            labels[order] = chain_labels(best, dist, tau)
            out[f"tau={tau:g}"] = labels
    else:
        i, j, d = close_pairs(E, max(taus), neighbors=neighbors, n_neighbors=n_neighbors, seed=seed)
        for tau in taus:
            out[f"tau={tau:g}"] = single_link_labels(n, i, j, d, tau)
    out.attrs.update({"method": method, "neighbors": neighbors, "taus": taus})
    return out


def neighbourhood_table(labels: np.ndarray, users: Sequence) -> pd.DataFrame:
    """One row per neighbourhood: ``neighbourhood, k, n_users, singleton, ego, kept``.

    Parameters
    ----------
    labels : numpy.ndarray
        Neighbourhood label of each text.
    users : sequence
        Author of each text.

    Returns
    -------
    pandas.DataFrame
        Size ``k``, distinct authors ``n_users``, and whether the neighbourhood is a singleton, an ego
        neighbourhood (one author) or kept (several texts and authors).

    Example
    -------
    >>> neighbourhood_table(np.array([0, 0, 1, 2, 2]), ["u", "u", "v", "v", "w"]).values.tolist()
    [[0, 2, 1, False, True, False], [1, 1, 1, True, False, False], [2, 2, 2, False, False, True]]
    """
    df = pd.DataFrame({"neighbourhood": np.asarray(labels), "user": list(users)})
    g = df.groupby("neighbourhood")
    t = pd.DataFrame({"k": g.size(), "n_users": g["user"].nunique()}).reset_index()
    t["singleton"] = t["k"] == 1
    t["ego"] = (t["k"] > 1) & (t["n_users"] == 1)
    t["kept"] = (t["k"] > 1) & (t["n_users"] > 1)
    return t


def neighbourhood_summary(neighbourhoods: pd.DataFrame, users: Sequence) -> pd.DataFrame:
    """PRISM's Table 23 counts for each threshold, with §9 row 5's figure labelled for what it is.

    Columns: ``method, tau, n_texts, n_neighbourhoods, singletons, ego, kept, texts_in_kept,
    pct_texts_in_neighbourhoods`` (the real share) ``, neighbourhoods_per_100_texts`` (PRISM's
    "% total prompts appearing in neighbourhoods") ``, min_k, max_k, mean_k, sd_k`` (over kept ones).

    Parameters
    ----------
    neighbourhoods : pandas.DataFrame
        One column of labels per threshold, named ``"tau=<value>"`` (``attrs["method"]`` names the method).
    users : sequence
        Author of each text (row).

    Returns
    -------
    pandas.DataFrame
        One row per threshold, with the columns above.

    Example
    -------
    >>> nb = pd.DataFrame({"tau=0.1": [0, 0, 0, 1, 2, 2]})
    >>> s = neighbourhood_summary(nb, ["a", "b", "c", "d", "e", "e"])
    >>> s[["kept", "ego", "texts_in_kept", "pct_texts_in_neighbourhoods"]].to_dict("records")
    [{'kept': 1, 'ego': 1, 'texts_in_kept': 3, 'pct_texts_in_neighbourhoods': 50.0}]
    >>> print(f'{s["neighbourhoods_per_100_texts"][0]:.2f}')   # PRISM's "% total prompts in neighbourhoods"
    16.67
    """
    rows = []
    users = list(users)
    n = len(users)
    for col in neighbourhoods.columns:
        t = neighbourhood_table(neighbourhoods[col].to_numpy(), users)
        kept = t[t["kept"]]
        rows.append(
            {
                "method": neighbourhoods.attrs.get("method", ""),
                "tau": float(str(col).split("=")[-1]),
                "n_texts": n,
                "n_neighbourhoods": len(t),
                "singletons": int(t["singleton"].sum()),
                "ego": int(t["ego"].sum()),
                "kept": len(kept),
                "texts_in_kept": int(kept["k"].sum()),
                "pct_texts_in_neighbourhoods": 100.0 * kept["k"].sum() / n if n else np.nan,
                "neighbourhoods_per_100_texts": 100.0 * len(kept) / n if n else np.nan,
                "min_k": int(kept["k"].min()) if len(kept) else np.nan,
                "max_k": int(kept["k"].max()) if len(kept) else np.nan,
                "mean_k": float(kept["k"].mean()) if len(kept) else np.nan,
                "sd_k": float(kept["k"].std()) if len(kept) > 1 else np.nan,
            }
        )
    return pd.DataFrame(rows)


def _entropy_of_codes(codes: np.ndarray, n_cats: int) -> np.ndarray:
    """Shannon entropy (bits) of each row of ``codes`` (rows x k), categories 0..n_cats-1."""
    r, k = codes.shape
    counts = np.zeros((r, n_cats))
    np.add.at(counts, (np.repeat(np.arange(r), k), codes.ravel()), 1.0)
    p = counts / k
    with np.errstate(divide="ignore", invalid="ignore"):
        h = -np.where(p > 0, p * np.log2(p), 0.0).sum(axis=1)
    return h


def entropy_test(
    frame: pd.DataFrame,
    labels: np.ndarray,
    *,
    attributes: Sequence[str] = PRISM_ENTROPY_ATTRIBUTES,
    diagnostics: Sequence[str] = (),
    user: str = "user_id",
    m: int = 100,
    z: float = 2.56,
    band: str = "as_coded",
    seed: int | None = 42,
) -> pd.DataFrame:
    """Intersectional-entropy test of every kept neighbourhood (module docstring; spec §5.5).

    Parameters
    ----------
    frame
        one row per text (same order as ``labels``) with the ``attributes`` and ``user`` columns;
        the population for the expected entropy is all of its rows (texts, with multiplicity).
    labels
        neighbourhood of every text (a column of :func:`local_neighbourhoods`).
    attributes
        demographic attributes summed into the intersectional entropy (missing values are a category).
    diagnostics
        further columns whose adjusted entropy is reported but not summed (PRISM: topic, user_id).
    m, z, band, seed
        draws per size, band multiplier (PRISM 2.56; the plots used 2.576), ``"as_coded"`` or
        ``"simulated"``, seed.

    Returns
    -------
    One row per kept neighbourhood: ``neighbourhood, k, n_users``, ``H_<attr>``, ``H_adj_<attr>``
    (and for diagnostics), ``intersectional``, ``band_low, band_high, position`` (above / within /
    below) and, per attribute, ``single_<attr>`` (all authors in one group).

    Example
    -------
    >>> f = pd.DataFrame({"user_id": list("abcdefgh"), "g": list("MMFFMMFF")})
    >>> t = entropy_test(f, np.array([0, 0, 1, 1, 2, 3, 2, 3]), attributes=["g"], m=50)
    >>> t[["neighbourhood", "H_g", "single_g"]].values.tolist()
    [[0, 0.0, True], [1, 0.0, True], [2, 1.0, False], [3, 1.0, False]]
    """
    if band not in ("as_coded", "simulated"):
        raise ConfigError(f"band must be 'as_coded' or 'simulated', got {band!r}")
    labels = np.asarray(labels)
    if len(labels) != len(frame):
        raise ConfigError(f"{len(frame)} rows but {len(labels)} labels")
    cols = list(attributes) + [c for c in diagnostics if c not in attributes]
    missing = [c for c in [*cols, user] if c not in frame.columns]
    if missing:
        raise ConfigError(f"entropy test needs column(s) {missing}")
    table = neighbourhood_table(labels, frame[user].tolist())
    kept = table[table["kept"]].reset_index(drop=True)
    out = kept[["neighbourhood", "k", "n_users"]].copy()
    if not len(kept):
        return out
    codes = {}
    n_cats = {}
    for c in cols:
        cc, uniq = pd.factorize(frame[c].astype(object).where(frame[c].notna(), "__missing__"))
        codes[c], n_cats[c] = cc, len(uniq)
    in_kept = np.isin(labels, kept["neighbourhood"].to_numpy())
    sub_labels = labels[in_kept]
    for c in cols:
        df = pd.DataFrame({"nb": sub_labels, "v": codes[c][in_kept]})
        cnt = df.groupby(["nb", "v"]).size()
        k = cnt.groupby(level=0).transform("sum")
        p = cnt / k
        h = -(p * np.log2(p)).groupby(level=0).sum()
        out[f"H_{c}"] = h.reindex(out["neighbourhood"]).to_numpy() + 0.0
        out[f"single_{c}"] = cnt.groupby(level=0).size().reindex(out["neighbourhood"]).to_numpy() == 1
    # expected entropy by simulation, for every size present
    rng = np.random.default_rng(seed)
    n = len(frame)
    sizes = np.sort(out["k"].unique())
    h_exp: dict[str, dict[int, float]] = {c: {} for c in cols}
    sigma: dict[int, float] = {}
    lo_q: dict[int, float] = {}
    hi_q: dict[int, float] = {}
    for k in sizes:  # one draw set per neighbourhood size (at most the largest k)
        draw = rng.integers(0, n, size=(m, int(k)))
        raw_total = np.zeros(m)
        per = {}
        for c in cols:
            hc = _entropy_of_codes(codes[c][draw], n_cats[c])
            per[c] = hc
            h_exp[c][k] = hc.mean()
            if c in attributes:
                raw_total += hc
        sigma[k] = raw_total.std(ddof=1) if m > 1 else np.nan
        with np.errstate(divide="ignore", invalid="ignore"):
            adj = sum(np.where(h_exp[c][k] > 0, per[c] / h_exp[c][k] - 1.0, 0.0) for c in attributes)
        lo_q[k], hi_q[k] = np.quantile(adj, [0.005, 0.995]) if m > 1 else (np.nan, np.nan)
    total = np.zeros(len(out))
    for c in cols:
        exp = out["k"].map(h_exp[c]).to_numpy(dtype=float)
        with np.errstate(divide="ignore", invalid="ignore"):
            adj = np.where(exp > 0, out[f"H_{c}"].to_numpy() / exp - 1.0, 0.0)
        out[f"H_adj_{c}"] = adj
        if c in attributes:
            total += adj
    out["intersectional"] = total
    if band == "as_coded":
        half = z * out["k"].map(sigma).to_numpy(dtype=float) / np.sqrt(out["k"].to_numpy(dtype=float))
        out["band_low"], out["band_high"] = -half, half
    else:
        out["band_low"] = out["k"].map(lo_q).to_numpy(dtype=float)
        out["band_high"] = out["k"].map(hi_q).to_numpy(dtype=float)
    out["position"] = np.where(total > out["band_high"], "above", np.where(total < out["band_low"], "below", "within"))
    out.attrs.update({"attributes": list(attributes), "m": m, "z": z, "band": band})
    return out


def entropy_summary(tests: pd.DataFrame) -> dict[str, float]:
    """Table 23's entropy rows and App. S.2's homogeneity shares from :func:`entropy_test`.

    Returns mean and sd of each adjusted entropy, the intersectional mean and sd, the percentage
    of neighbourhoods within or above / above / below the band, and (prompt-weighted, i.e. by
    neighbourhood size) the percentage of texts in neighbourhoods homogeneous on each attribute,
    on all attributes, and heterogeneous on all.

    Parameters
    ----------
    tests : pandas.DataFrame
        :func:`entropy_test`'s output (one row per neighbourhood).

    Returns
    -------
    dict of str to float
        Summary name -> value (``n_neighbourhoods`` always present).

    Example
    -------
    >>> f = pd.DataFrame({"user_id": list("abcdefgh"), "g": list("MMFFMMFF")})
    >>> s = entropy_summary(entropy_test(f, np.array([0, 0, 1, 1, 2, 3, 2, 3]), attributes=["g"], m=50))
    >>> s["pct_texts_single_g"], s["n_neighbourhoods"]
    (50.0, 4)
    """
    out: dict[str, float] = {"n_neighbourhoods": len(tests)}
    if not len(tests):
        return out
    attrs = tests.attrs.get("attributes", [])
    for c in [c[len("H_adj_") :] for c in tests.columns if c.startswith("H_adj_")]:
        out[f"mean_{c}"] = float(tests[f"H_adj_{c}"].mean())
        out[f"sd_{c}"] = float(tests[f"H_adj_{c}"].std())
    out["mean_intersectional"] = float(tests["intersectional"].mean())
    out["sd_intersectional"] = float(tests["intersectional"].std())
    pos = tests["position"].value_counts(normalize=True) * 100
    out["pct_within_or_above"] = float(pos.get("within", 0.0) + pos.get("above", 0.0))
    out["pct_above"] = float(pos.get("above", 0.0))
    out["pct_below"] = float(pos.get("below", 0.0))
    weights = tests["k"].to_numpy(dtype=float)
    total = weights.sum()
    if attrs:
        singles = np.column_stack([tests[f"single_{c}"].to_numpy(dtype=bool) for c in attrs])
        for i, c in enumerate(attrs):
            out[f"pct_texts_single_{c}"] = float(100 * weights[singles[:, i]].sum() / total)
        out["pct_texts_homogeneous_all"] = float(100 * weights[singles.all(axis=1)].sum() / total)
        out["pct_texts_heterogeneous_all"] = float(100 * weights[~singles.any(axis=1)].sum() / total)
    return out
