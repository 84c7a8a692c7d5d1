"""Raking and post-stratification cross-checked against the independent ``ipfn`` package and
against known answers on samples covering every census cell."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from ipfn import ipfn

from pluralis.census import targets as census
from pluralis.census.representativeness import census_categories, effective_sample_size, representativeness
from pluralis.census.weights import census_weights, rake
from pluralis.data import vocab


@st.composite
def raking_problems(draw):
    """A sample with every cell of a 2- or 3-way table occupied, and random positive margins."""
    shape = draw(st.lists(st.integers(2, 4), min_size=2, max_size=3))
    extra = draw(st.lists(st.integers(0, 4), min_size=int(np.prod(shape)), max_size=int(np.prod(shape))))
    margins = [np.array(draw(st.lists(st.floats(0.05, 1.0), min_size=k, max_size=k))) for k in shape]
    return shape, np.array(extra), [m / m.sum() for m in margins]


@settings(max_examples=25, deadline=None)
@given(raking_problems())
def test_rake_matches_ipfn(problem):
    shape, extra, margins = problem
    names = [f"v{k}" for k in range(len(shape))]
    cells = list(itertools.product(*[range(k) for k in shape]))
    rows = [cell for cell, e in zip(cells, extra) for _ in range(1 + e)]
    data = pd.DataFrame(rows, columns=names).astype(str)
    data.insert(0, "user_id", [f"p{i}" for i in range(len(data))])
    res = rake(
        data,
        {v: pd.Series(m, index=[str(i) for i in range(len(m))]) for v, m in zip(names, margins)},
        tol=1e-12,
        max_iter=20000,
    )
    assert res.converged and res.max_margin_error < 1e-10

    seed = np.zeros(shape)
    np.add.at(seed, tuple(np.array(rows).T), 1.0)
    n = len(data)
    fitted = ipfn.ipfn(
        seed.copy(),
        [m * n for m in margins],
        [[k] for k in range(len(shape))],
        convergence_rate=1e-13,
        max_iteration=20000,
    ).iteration()
    ours = np.zeros(shape)
    np.add.at(ours, tuple(np.array(rows).T), res.weights.to_numpy())
    np.testing.assert_allclose(ours / ours.sum(), fitted / fitted.sum(), atol=1e-7)
    for k, m in enumerate(margins):  # ... and the margins to 1e-6 (the bar)
        other = tuple(a for a in range(len(shape)) if a != k)
        np.testing.assert_allclose(ours.sum(axis=other) / ours.sum(), m, atol=1e-9)


def _every_cell_sample(country: str, per_cell: np.ndarray) -> pd.DataFrame:
    """A survey with ``per_cell[k]`` participants in the k-th census cell (age x gender x ethnicity)."""
    j = census.joint_distribution(country)
    to_categorised = {v: k for k, v in vocab.ETHNICITY_TO_CENSUS.items() if k != "Hispanic / Latino"}
    reps = np.repeat(np.arange(len(j)), per_cell)
    s = j.iloc[reps][["age", "gender", "ethnicity"]].reset_index(drop=True)
    s["ethnicity_categorised"] = s.pop("ethnicity").map(to_categorised)
    s.insert(0, "user_id", [f"u{i}" for i in range(len(s))])
    return s


@pytest.mark.parametrize("country", ["UK", "US"])
def test_poststratification_and_raking_hit_census_exactly(country):
    rng = np.random.default_rng(0 if country == "UK" else 1)
    s = _every_cell_sample(country, rng.integers(1, 6, size=60))
    post = census_weights(s, country, method="poststratify")
    assert post.converged and post.max_margin_error < 1e-12
    cats = census_categories(s, country)
    joint = (
        pd.Series(post.weights.to_numpy())
        .groupby([cats["age"].to_numpy(), cats["gender"].to_numpy(), cats["ethnicity"].to_numpy()])
        .sum()
    )
    target = census.joint_distribution(country).set_index(["age", "gender", "ethnicity"])["share"]
    np.testing.assert_allclose((joint / joint.sum()).reindex(target.index).to_numpy(), target.to_numpy(), atol=1e-12)
    # Known answer: a cell's weight is its census share over its sample share (mean-1 normalised).
    first = s.iloc[0]
    n_cell = int(
        (
            (s.age == first.age) & (s.gender == first.gender) & (s.ethnicity_categorised == first.ethnicity_categorised)
        ).sum()
    )
    share = target[(first.age, first.gender, vocab.ETHNICITY_TO_CENSUS[first.ethnicity_categorised])]
    assert post.weights.iloc[0] == pytest.approx(share / (n_cell / len(s)))
    assert post.ess == pytest.approx(effective_sample_size(post.weights.to_numpy()))

    raked = census_weights(s, country)
    assert raked.converged and raked.max_margin_error < 1e-6
    rep = representativeness(s, country, weights=raked.weights)
    assert max(rep.tvd[v] for v in ("age", "gender", "ethnicity")) < 1e-6
    assert representativeness(s, country, weights=post.weights).tvd["joint"] < 1e-12
