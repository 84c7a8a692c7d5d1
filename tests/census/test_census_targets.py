"""Census targets shipped in pluralis/census/resources (built from PRISM's census tables, App. L)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pluralis.census import targets as census
from pluralis.data import vocab
from pluralis.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]
SOURCE = Path("/work/shared/data/prism-census")


def test_adult_totals_match_paper():
    # PRISM Fig. 8 caption: 47,204,870 UK adults; 298,477,760 US adults.
    assert census.adult_total("UK") == 47_204_870
    assert census.adult_total("US") == 298_477_760


@pytest.mark.parametrize("country", ["US", "UK"])
def test_joint_distribution_uses_participant_vocabulary(country):
    j = census.joint_distribution(country)
    assert list(j.columns) == ["age", "gender", "ethnicity", "count", "share"]
    assert len(j) == 6 * 2 * 5
    assert set(j["age"]) == set(vocab.AGE_BANDS)
    assert set(j["gender"]) == {"Male", "Female"} and set(j["gender"]) <= set(vocab.GENDERS)
    assert set(j["ethnicity"]) == set(vocab.CENSUS_ETHNICITIES)
    assert j["share"].sum() == pytest.approx(1.0, abs=1e-12)
    assert (j["count"] > 0).all()
    assert not j.duplicated(["age", "gender", "ethnicity"]).any()


def test_margins_agree_with_joint():
    for country in census.COUNTRIES:
        j = census.joint_distribution(country)
        for var, margin in census.margins(country).items():
            from_joint = j.groupby(var)["share"].sum().reindex(margin.index)
            np.testing.assert_allclose(margin.to_numpy(), from_joint.to_numpy(), atol=1e-12)
            assert margin.sum() == pytest.approx(1.0)


def test_us_matches_prism_aggregate_table():
    # Values of PRISM's us_census_aggregate.csv (Hispanic split, shares of all adults).
    j = census.joint_distribution("US", ethnicity="detailed").set_index(["age", "gender", "ethnicity"])["share"]
    assert j[("18-24 years old", "Male", "White")] == pytest.approx(0.027587841050535893, abs=1e-15)
    assert j[("65+ years old", "Female", "Hispanic")] == pytest.approx(0.009878467997079582, abs=1e-15)
    assert j.xs("Hispanic", level="ethnicity").xs("Female", level="gender").sum() == pytest.approx(0.0743878270863464)
    assert len(j) == 72
    # PRISM's coarse scheme folds Hispanic into Other.
    coarse = census.joint_distribution("US").set_index(["age", "gender", "ethnicity"])["share"]
    assert coarse[("18-24 years old", "Male", "Other")] == pytest.approx(0.012807205468172905 + 0.0056482533237987315)


def test_cell_percentages_reproduce_prism_rebalancing_quotas():
    # Spec §3.3 / App. L: cells needing 35.6 / 30.2 (UK) and 23.4 / 5.5 (US) of 300 participants.
    uk = census.cell_percentages("UK")
    us = census.cell_percentages("US")
    assert uk.loc["65+ years old", "White_Female"] * 3 == pytest.approx(35.6, abs=0.05)
    assert uk.loc["65+ years old", "White_Male"] * 3 == pytest.approx(30.2, abs=0.05)
    assert us.loc["65+ years old", "White_Female"] * 3 == pytest.approx(23.4, abs=0.05)
    assert us.loc["18-24 years old", "Other_Male"] * 3 == pytest.approx(5.5, abs=0.05)
    assert uk["All"].sum() == pytest.approx(100.0)
    assert list(uk.index) == list(vocab.AGE_BANDS)


def test_coded_census_cells_match_the_percentage_table():
    """The persona generator's coded cells and PRISM's percentage table are one census."""
    for country in census.COUNTRIES:
        cells = census.census_cells(country)
        assert cells.count.sum() == census.adult_total(country)
        coded = pd.DataFrame(
            {
                "age": np.asarray(vocab.AGE_BANDS)[cells.age],
                "cell": np.asarray(vocab.CENSUS_ETHNICITIES)[cells.ethnicity]
                + "_"
                + np.asarray(census.GENDERS)[cells.sex],
                "pct": 100 * cells.share,
            }
        )
        wide = coded.pivot_table(index="age", columns="cell", values="pct", aggfunc="sum", fill_value=0.0)
        table = census.cell_percentages(country)
        np.testing.assert_allclose(
            wide.reindex(index=table.index, columns=table.columns[:-3], fill_value=0.0), table.iloc[:, :-3]
        )


def test_every_census_group_reads_as_a_persona_ethnicity():
    from pluralis.census import tables

    for country in census.COUNTRIES:
        assert set(census.census_cells(country).group) <= set(tables.CENSUS_GROUP_ETHNICITY)
    # tables.py defines only the persona-specific tables; census concepts come from targets.py.
    assert tables.census_cells is census.census_cells and tables.normalise_country is census.normalise_country


def test_detailed_scheme_only_differs_for_us():
    assert census.ethnicity_categories("UK", "detailed") == vocab.CENSUS_ETHNICITIES
    assert "Hispanic" in census.ethnicity_categories("US", "detailed")
    assert set(census.ethnicity_categories("US", "detailed")) <= set(vocab.ETHNICITY_SIMPLIFIED)


def test_personas_can_sample_from_joint():
    j = census.joint_distribution("UK")
    draw = j.sample(2000, weights="share", replace=True, random_state=0)
    assert draw["ethnicity"].value_counts(normalize=True)["White"] == pytest.approx(
        census.margins("UK")["ethnicity"]["White"], abs=0.04
    )


def test_bad_inputs():
    with pytest.raises(ConfigError, match="unknown country 'France': the package has census targets"):
        census.joint_distribution("France")
    with pytest.raises(ConfigError, match="unknown ethnicity scheme"):
        census.margins("US", ethnicity="fine")
    with pytest.raises(ConfigError, match="unknown census variable"):
        census.joint_distribution("US", by=("religion",))
    assert census.normalise_country("united states") == "US"


def test_package_carries_its_own_copy():
    pkg = ROOT / "pluralis" / "census" / "resources"
    assert (pkg / "census_targets.csv").exists() and (pkg / "SOURCES.md").exists()
    assert "/work/shared" not in (ROOT / "pluralis" / "census" / "targets.py").read_text()
    t = census.census_table()
    assert set(t["country"]) == {"UK", "US"}
    # Stable columns and source-group labels (the personas module samples over them).
    assert list(t.columns) == [
        "country",
        "age",
        "gender",
        "census_group",
        "source_table",
        "ethnicity",
        "ethnicity_detailed",
        "count",
    ]
    assert t.groupby("country")["census_group"].nunique().to_dict() == {"UK": 19, "US": 8}
    assert "Hispanic or Latino" in set(t["census_group"]) and "White: Roma" in set(t["census_group"])


@pytest.mark.skipif(not SOURCE.exists(), reason="PRISM census source tables not available")
def test_build_script_is_up_to_date():
    pytest.importorskip("openpyxl")
    proc = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "build_census_tables.py"), "--check", "--source", str(SOURCE)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr


def test_subset_joint_by_two_variables():
    j = census.joint_distribution("US", by=["age", "gender"])
    assert len(j) == 12 and j["share"].sum() == pytest.approx(1.0)
    assert isinstance(j, pd.DataFrame)
