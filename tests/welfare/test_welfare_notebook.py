"""Cross-checks of the welfare engines against an independent transcription of PRISM's notebook
11b (``gen_model_distribution`` / ``gen_welfare_df_full`` and the ``random.seed(1)`` main loop),
and of the vectorised winner computation against a per-draw ``np.nanmean`` loop."""

from __future__ import annotations

import random

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pluralis.welfare.draws import UNSEEN_SCORE, fast_winners
from pluralis.welfare.engine import reproduce_prism_welfare

ABOVE_45 = ["45-54 years old", "55-64 years old", "65+ years old"]
POPULATION_NAMES = {"": "Rep", "nonmale": "Non-male", "nonwhite": "Non-white", "below_45": "<45"}
SCHEME_NAMES = {
    "rep_10": "Rep (10)",
    "rep_20": "Rep (20)",
    "rep_50": "Rep (50)",
    "rep_100": "Rep (100)",
    "male_100": "Male (100)",
    "white_100": "White (100)",
    "above_45_100": "45+ (100)",
}


def notebook_11b(utterances: pd.DataFrame, survey: pd.DataFrame, n_draws: int) -> dict:
    """PRISM notebook 11b, transcribed: returns {(measure, country, population, scheme): [welfare per draw]}."""
    utterances = utterances.copy()
    utterances["short_model_name"] = utterances["model_name"].apply(lambda x: x.split("/")[-1])
    merged = utterances.merge(survey, on="user_id", how="left")
    merged = merged[(merged["turn"] == 0) & (merged["included_in_balanced_subset_x"] == True)]  # noqa: E712
    models = merged["short_model_name"].unique().tolist()
    tables = {
        measure: pd.pivot_table(merged, values=col, index="user_id", columns="short_model_name", aggfunc="mean")
        for measure, col in (("rating", "score"), ("choice", "if_chosen"))
    }
    sampling = {}
    for c in ("us", "uk"):
        rep = survey[f"included_in_{c.upper()}_REP"] == True  # noqa: E712
        above = survey["age"].isin(ABOVE_45)
        sampling[c] = survey[rep]["user_id"].tolist()
        sampling[c + "_male"] = survey[rep & (survey["gender"] == "Male")]["user_id"].tolist()
        sampling[c + "_nonmale"] = survey[rep & (survey["gender"] != "Male")]["user_id"].tolist()
        sampling[c + "_white"] = survey[rep & (survey["ethnicity_simplified"] == "White")]["user_id"].tolist()
        sampling[c + "_nonwhite"] = survey[rep & (survey["ethnicity_simplified"] != "White")]["user_id"].tolist()
        sampling[c + "_above_45"] = survey[rep & above]["user_id"].tolist()
        sampling[c + "_below_45"] = survey[rep & (above == False)]["user_id"].tolist()  # noqa: E712

    def gen_model_distribution(sample_size, pool, table, unseen):
        dist = []
        for _ in range(n_draws):
            scores = [-1] * len(models)
            rater_sample = random.choices(pool, k=sample_size)
            filtered = table.reindex(rater_sample)
            for i in range(len(models)):
                sample_scores = filtered[models[i]]
                scores[i] = unseen if np.isnan(sample_scores).all() else np.nanmean(sample_scores)
            max_indices = [k for k, v in enumerate(scores) if v >= max(scores)]
            dist.append(models[random.choice(max_indices)])
        return dist

    out = {}
    random.seed(1)
    for measure, unseen in (("rating", 1), ("choice", 0)):
        table = tables[measure]
        for c in ("us", "uk"):
            for s in ("", "nonmale", "nonwhite", "below_45"):
                pop_table = table.reindex(sampling[c if s == "" else f"{c}_{s}"])
                for n in (10, 20, 50, 100):
                    chosen = gen_model_distribution(n, sampling[c], table, unseen)
                    out[(measure, c, s, f"rep_{n}")] = ([pop_table[m].mean() for m in chosen], chosen)
                for g in ("male", "white", "above_45"):
                    chosen = gen_model_distribution(100, sampling[f"{c}_{g}"], table, unseen)
                    out[(measure, c, s, f"{g}_100")] = ([pop_table[m].mean() for m in chosen], chosen)
    return out


@pytest.fixture(scope="module")
def frames():
    from pluralis.data.synthetic import generate_study

    return generate_study(n_participants=260, seed=3, with_metadata=False).frames()


def test_reference_engine_reproduces_notebook_draw_by_draw(frames):
    """Same pools, same models, same ``random`` stream (rating US, UK; then choice US, UK) and the
    same winners and welfare values as the notebook, draw by draw."""
    n_draws = 6
    expected = notebook_11b(frames.utterances, frames.survey, n_draws)
    got = reproduce_prism_welfare(frames.utterances, frames.survey, n_draws=n_draws, engine="reference")
    for (measure, c, s, scheme), (welfare, chosen) in expected.items():
        d = got[c.upper()].draws
        sel = d[
            (d["measure"] == measure) & (d["population"] == POPULATION_NAMES[s]) & (d["scheme"] == SCHEME_NAMES[scheme])
        ]
        sel = sel.sort_values("draw")
        assert sel["model"].astype(str).tolist() == chosen, (measure, c, s, scheme)
        np.testing.assert_allclose(sel["welfare"].to_numpy(), welfare, rtol=1e-12, err_msg=str((measure, c, s, scheme)))
    # The summary reports the notebook's mean welfare per (scheme, population).
    s = got["US"].summary.set_index(["measure", "population", "scheme"])
    assert s.loc[("rating", "Rep", "Rep (10)"), "mean"] == pytest.approx(
        np.mean(expected[("rating", "us", "", "rep_10")][0])
    )


@st.composite
def draw_problems(draw):
    pool = draw(st.integers(1, 12))
    n_models = draw(st.integers(1, 6))
    measure = draw(st.sampled_from(["rating", "choice"]))
    level = st.sampled_from([0.0, 1 / 3, 0.5, 2 / 3, 1.0]) if measure == "choice" else st.integers(1, 100).map(float)
    values = np.array(
        draw(st.lists(st.lists(level, min_size=n_models, max_size=n_models), min_size=pool, max_size=pool))
    )
    seen = np.array(
        draw(st.lists(st.lists(st.booleans(), min_size=n_models, max_size=n_models), min_size=pool, max_size=pool))
    )
    n = draw(st.integers(1, 15))
    n_draws = draw(st.integers(1, 8))
    idx = np.array(
        draw(st.lists(st.lists(st.integers(0, pool - 1), min_size=n, max_size=n), min_size=n_draws, max_size=n_draws))
    )
    return measure, np.where(seen, values, np.nan), idx


@settings(max_examples=150, deadline=None)
@given(draw_problems(), st.integers(0, 2**32 - 1))
def test_fast_winner_is_an_argmax_of_the_notebook_scores(problem, seed):
    """Per draw, the vectorised winner is one of the models the notebook's loop would tie for."""
    measure, W, idx = problem
    seen = ~np.isnan(W)
    win = fast_winners(
        np.where(seen, W, 0.0), seen.astype(float), idx, UNSEEN_SCORE[measure], np.random.default_rng(seed)
    )
    for r, rows in enumerate(idx):
        F = W[rows]
        scores = [UNSEEN_SCORE[measure] if np.isnan(F[:, i]).all() else np.nanmean(F[:, i]) for i in range(W.shape[1])]
        best = max(scores)
        assert scores[win[r]] >= best - 1e-9 * max(1.0, abs(best)), (scores, win[r])
