"""A survey's own codings -> census categories (``map_categories``), and the errors that name them."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pluralis.census import targets as census
from pluralis.census.representativeness import census_categories, representativeness
from pluralis.census.weights import census_rebalance, census_weights
from pluralis.data import vocab
from pluralis.errors import ConfigError


@pytest.fixture(scope="module")
def us():
    from pluralis.data.synthetic import generate_study

    s = generate_study(n_participants=500, seed=5, with_metadata=False).frames().survey
    return s[s["study_locale"] == "us"].reset_index(drop=True)


def _numeric_ages(survey: pd.DataFrame, seed: int = 0) -> pd.Series:
    """An age in years inside each participant's band (Prefer not to say -> missing)."""
    rng = np.random.default_rng(seed)
    lo = dict(zip(vocab.AGE_BANDS, census.AGE_EDGES))
    hi = dict(zip(vocab.AGE_BANDS, (*census.AGE_EDGES[1:], 90)))
    years = [rng.integers(lo[a], hi[a]) if a in lo else np.nan for a in survey["age"]]
    return pd.Series(years, index=survey.index, dtype=float)


def test_numeric_ages_and_unknown_labels_are_named_in_weights_errors(us):
    """The issue's example: a survey with age as numbers. The error names the variable, how many
    values, the expected categories and where to map them."""
    ages = _numeric_ages(us)
    coded = us.assign(age=ages)
    n = int(ages.notna().sum())
    with pytest.raises(ConfigError) as err:
        census_weights(coded, "US")
    msg = str(err.value)
    assert msg.startswith(f"age: {n} of {len(us)} values not in the census categories ('18-24 years old', ")
    assert "'65+ years old'" in msg and msg.endswith("map them first (see pluralis.census.targets.map_categories)")
    # Unknown labels in one column only: 37 of the sample's values, in the words.
    labels = us.copy()
    labels.loc[labels.index[:37], "gender"] = "male"
    with pytest.raises(ConfigError, match=rf"^gender: 37 of {len(us)} values not in the census categories \('Male', "):
        census_weights(labels, "US")
    with pytest.raises(ConfigError, match="ethnicity_categorised: 1 of"):
        census_weights(us.assign(ethnicity_categorised=["Martian"] + list(us["ethnicity_categorised"][1:])), "US")
    # Known answers outside the census (prefer not to say, non-binary) are not errors: weight 0.
    res = census_weights(us, "US", on_empty="renormalise")
    outside = ~us["gender"].isin(["Male", "Female"]) | ~us["age"].isin(vocab.AGE_BANDS)
    assert (res.weights[outside.to_numpy()] == 0).all()
    # Representativeness and rebalancing read the same categories, with the same error.
    for call in (lambda: representativeness(coded, "US"), lambda: census_rebalance(coded.assign(age=30), "US")):
        with pytest.raises(ConfigError, match="map them first"):
            call()
    assert census_categories(coded, "US", on_unknown="drop")["age"].isna().all()


def test_map_categories_recovers_the_bands(us):
    coded = us.assign(age=_numeric_ages(us, seed=1))
    fixed = census.map_categories(coded)
    known = us["age"].isin(vocab.AGE_BANDS)
    assert (fixed.loc[known, "age"] == us.loc[known, "age"]).all()
    assert fixed.loc[~known, "age"].isna().all()  # missing stays missing
    # The weights from the mapped survey are the weights of the original coding.
    a = census_weights(us.assign(age=us["age"].where(known)), "US", on_empty="renormalise").weights
    b = census_weights(fixed, "US", on_empty="renormalise").weights
    pd.testing.assert_series_equal(a, b)


@pytest.mark.parametrize(
    "raw, band",
    [
        (18, "18-24 years old"),
        (24.0, "18-24 years old"),
        ("25", "25-34 years old"),
        (44, "35-44 years old"),
        (45, "45-54 years old"),
        (64, "55-64 years old"),
        (65, "65+ years old"),
        (101, "65+ years old"),
        ("18-24", "18-24 years old"),
        ("25 to 34", "25-34 years old"),
        ("35\u201344", "35-44 years old"),
        ("55-64 YEARS OLD", "55-64 years old"),
        ("65+", "65+ years old"),
        ("65 and over", "65+ years old"),
        ("prefer not to say", "Prefer not to say"),
    ],
)
def test_age_forms(raw, band):
    assert census.map_categories(pd.DataFrame({"age": [raw]}))["age"].tolist() == [band]


@pytest.mark.parametrize("raw", [17, 12.0, 30.5, "18-30", "old", -1])
def test_ages_outside_the_bands_are_errors(raw):
    with pytest.raises(ConfigError, match=r"^age: 1 of 1 values not in the census categories"):
        census.map_categories(pd.DataFrame({"age": [raw]}))
    kept = census.map_categories(pd.DataFrame({"age": [raw]}), errors="keep")
    assert kept["age"].tolist() == [raw]


def test_labels_case_insensitive_and_aliases():
    s = pd.DataFrame(
        {
            "gender": ["MALE", " female ", "m", "W", "nonbinary", None],
            "ethnicity_categorised": ["WHITE", "latina", "asian", "Middle Eastern", "mixed race", "other"],
            "ethnicity_simplified": ["white", "Hispanic", "black", "ASIAN", "Mixed", "latino"],
        }
    )
    out = census.map_categories(s, aliases={"gender": {"w": "Female"}})
    assert out["gender"].tolist()[:5] == ["Male", "Female", "Male", "Female", "Non-binary / third gender"]
    assert pd.isna(out["gender"].iloc[5])
    assert out["ethnicity_categorised"].tolist() == [
        "White",
        "Hispanic / Latino",
        "Asian",
        "Middle Eastern / Arab",
        "Mixed",
        "Other",
    ]
    assert out["ethnicity_simplified"].tolist() == ["White", "Hispanic", "Black", "Asian", "Mixed", "Hispanic"]
    assert s["gender"].iloc[0] == "MALE"  # the input is not modified
    with pytest.raises(ConfigError, match="cannot map column"):
        census.map_categories(s, columns=["religion"])
    with pytest.raises(ConfigError, match="errors must be"):
        census.map_categories(s, errors="ignore")
