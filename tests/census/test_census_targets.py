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
    # PRISM Fig. 8 caption: 47,204,870 UK adults; 298,477,760 US adults (PRISM's construction).
    assert census.adult_total("UK") == census.adult_total("UK", "prism") == 47_204_870
    assert census.adult_total("US", construction="prism") == 298_477_760


def test_default_us_table_counts_every_adult_once():
    """Race x Hispanic origin disjoint: about 260 M US adults (Vintage 2022: 333.3 M people, about
    72.5 M of them under 18), 60-62 % non-Hispanic White, 17 % Hispanic (PRISM's table: 298.5 M
    and 52.9 %, because Hispanic adults of a non-White race are counted twice)."""
    total = census.adult_total("US")
    assert 258e6 < total < 263e6
    t = census.census_table("US")
    share = t.groupby("census_group")["count"].sum() / total
    assert 0.60 <= share["White alone, not Hispanic or Latino"] <= 0.62
    assert 0.165 <= share["Hispanic or Latino"] <= 0.18
    detailed = census.margins("US", "detailed")["ethnicity"]
    assert 0.11 < detailed["Black"] < 0.125 and 0.055 < detailed["Asian"] < 0.065
    # PRISM's table: the double count, and its (understated) non-Hispanic White share.
    prism = census.census_table("US", construction="prism")
    white = prism.loc[prism["census_group"] == "White alone, not Hispanic or Latino", "count"].sum()
    assert white / prism["count"].sum() == pytest.approx(0.529, abs=0.001)
    # The two parts read exactly from their ACS tables are the same in both constructions.
    for group in ("White alone, not Hispanic or Latino", "Hispanic or Latino"):
        a = t[t["census_group"] == group].set_index(["age", "gender"])["count"]
        b = prism[prism["census_group"] == group].set_index(["age", "gender"])["count"]
        pd.testing.assert_series_equal(a, b.reindex(a.index))
    # Non-Hispanic members of a race are fewer than its race-alone table, cell by cell.
    for group in ("Black or African American alone", "Asian alone", "Two or More Races", "Some Other Race alone"):
        nh = t[t["census_group"] == group + ", not Hispanic or Latino"].set_index(["age", "gender"])["count"]
        alone = prism[prism["census_group"] == group].set_index(["age", "gender"])["count"].reindex(nh.index)
        assert (nh > 0).all() and (nh < alone).all(), group
    # The UK tables do not depend on the construction.
    pd.testing.assert_frame_equal(census.census_table("UK"), census.census_table("UK", "prism"))


def test_constructions_are_named_options():
    assert census.CONSTRUCTIONS == ("disjoint", "prism")
    with pytest.raises(ConfigError, match="unknown census construction 'acs'"):
        census.joint_distribution("US", construction="acs")
    us = census.joint_distribution("US").set_index(["age", "gender", "ethnicity"])["share"]
    old = census.joint_distribution("US", construction="prism").set_index(["age", "gender", "ethnicity"])["share"]
    assert us.xs("White", level="ethnicity").sum() > old.xs("White", level="ethnicity").sum() + 0.07
    assert census.census_cells("US").count.sum() == census.adult_total("US")
    assert census.census_cells("US", "prism").count.sum() == 298_477_760


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


def test_us_prism_construction_matches_prism_aggregate_table():
    # Values of PRISM's us_census_aggregate.csv (Hispanic split, shares of all adults).
    j = census.joint_distribution("US", ethnicity="detailed", construction="prism").set_index(
        ["age", "gender", "ethnicity"]
    )["share"]
    assert j[("18-24 years old", "Male", "White")] == pytest.approx(0.027587841050535893, abs=1e-15)
    assert j[("65+ years old", "Female", "Hispanic")] == pytest.approx(0.009878467997079582, abs=1e-15)
    assert j.xs("Hispanic", level="ethnicity").xs("Female", level="gender").sum() == pytest.approx(0.0743878270863464)
    assert len(j) == 72
    # PRISM's coarse scheme folds Hispanic into Other.
    coarse = census.joint_distribution("US", construction="prism").set_index(["age", "gender", "ethnicity"])["share"]
    assert coarse[("18-24 years old", "Male", "Other")] == pytest.approx(0.012807205468172905 + 0.0056482533237987315)
    # The disjoint default also folds Hispanic into Other in the coarse scheme.
    d = census.joint_distribution("US", ethnicity="detailed").set_index(["age", "gender", "ethnicity"])["share"]
    c = census.joint_distribution("US").set_index(["age", "gender", "ethnicity"])["share"]
    key = ("18-24 years old", "Male")
    assert c[(*key, "Other")] == pytest.approx(d[(*key, "Other")] + d[(*key, "Hispanic")])


def test_cell_percentages_reproduce_prism_rebalancing_quotas():
    # Spec §3.3 / App. L: cells needing 35.6 / 30.2 (UK) and 23.4 / 5.5 (US) of 300 participants
    # (PRISM's construction of the US table).
    uk = census.cell_percentages("UK")
    us = census.cell_percentages("US", construction="prism")
    assert uk.loc["65+ years old", "White_Female"] * 3 == pytest.approx(35.6, abs=0.05)
    assert uk.loc["65+ years old", "White_Male"] * 3 == pytest.approx(30.2, abs=0.05)
    assert us.loc["65+ years old", "White_Female"] * 3 == pytest.approx(23.4, abs=0.05)
    assert us.loc["18-24 years old", "Other_Male"] * 3 == pytest.approx(5.5, abs=0.05)
    # The corrected table: older White women are a larger share of all adults (26.8 of 300).
    fixed = census.cell_percentages("US")
    assert fixed.loc["65+ years old", "White_Female"] * 3 == pytest.approx(26.75, abs=0.05)
    assert fixed["All"].sum() == pytest.approx(100.0)
    assert uk["All"].sum() == pytest.approx(100.0)
    assert list(uk.index) == list(vocab.AGE_BANDS)


@pytest.mark.parametrize("construction", census.CONSTRUCTIONS)
def test_coded_census_cells_match_the_percentage_table(construction):
    """The persona generator's coded cells and PRISM's percentage table are one census."""
    for country in census.COUNTRIES:
        cells = census.census_cells(country, construction)
        assert cells.count.sum() == census.adult_total(country, construction)
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
        table = census.cell_percentages(country, construction=construction)
        np.testing.assert_allclose(
            wide.reindex(index=table.index, columns=table.columns[:-3], fill_value=0.0), table.iloc[:, :-3]
        )


def test_every_census_group_reads_as_a_persona_ethnicity():
    from pluralis.census import tables

    for country in census.COUNTRIES:
        for construction in census.CONSTRUCTIONS:
            assert set(census.census_cells(country, construction).group) <= set(tables.CENSUS_GROUP_ETHNICITY)
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
    assert "Asian alone, not Hispanic or Latino" in set(t["census_group"])
    assert "Asian alone" in set(census.census_table(construction="prism")["census_group"])
    assert (pkg / "census_targets_prism.csv").exists()


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
