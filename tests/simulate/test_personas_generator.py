"""Persona generator: census margins, reproducibility, executors, exports, bad configs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pluralis.census import tables
from pluralis.census import targets as census
from pluralis.data import vocab
from pluralis.errors import ConfigError
from pluralis.simulate.generator import PersonaPanel, generate_personas


@pytest.mark.parametrize("country", ["US", "UK"])
def test_census_margins_match(country):
    panel = generate_personas(20_000, country=country, seed=1)
    tvd = panel.census_tvd()[country]
    for level in ("age", "gender", "ethnicity"):
        assert tvd[level] < 0.005, (level, tvd)  # within 0.5 pp TVD
    assert tvd["joint"] < 0.005  # 60 cells, rounded: about one person per cell at most
    # the joint distribution itself, cell by cell
    target = census.joint_distribution(country).set_index(["age", "gender", "ethnicity"])["share"]
    obs = panel.data.groupby(["age", "gender", "ethnicity"], observed=False).size() / len(panel)
    obs.index = pd.MultiIndex.from_tuples([tuple(map(str, k)) for k in obs.index], names=target.index.names)
    assert np.abs(obs.reindex(target.index).fillna(0).to_numpy() - target.to_numpy()).max() < 2 / 20_000  # ~1 person


def test_random_sampling_also_matches_at_scale():
    panel = generate_personas(200_000, country="UK", seed=2, sampling="random")
    tvd = panel.census_tvd()["UK"]
    assert max(tvd["age"], tvd["gender"], tvd["ethnicity"]) < 0.005


def test_small_panel_margins_are_rounded():
    panel = generate_personas({"US": 300, "UK": 300}, seed=0)
    for country, tvd in panel.census_tvd().items():
        assert max(tvd["age"], tvd["gender"], tvd["ethnicity"]) < 0.012, (country, tvd)


def test_same_seed_same_panel_and_other_seed_differs():
    a = generate_personas({"US": 500, "UK": 300}, seed=11)
    b = generate_personas({"US": 500, "UK": 300}, seed=11)
    c = generate_personas({"US": 500, "UK": 300}, seed=12)
    pd.testing.assert_frame_equal(a.data, b.data)
    assert not a.data.drop(columns="persona_id").equals(c.data.drop(columns="persona_id"))


def test_executors_give_identical_panels():
    serial = generate_personas(3000, country=["US", "UK"], seed=4, chunk_size=700, executor="serial")
    pool = generate_personas(3000, country=["US", "UK"], seed=4, chunk_size=700, executor="process", workers=2)
    pd.testing.assert_frame_equal(serial.data, pool.data)


def test_columns_and_categories(panel):
    d = panel.data
    assert d["persona_id"].is_unique
    assert set(d["age"].astype(str)) <= set(vocab.AGE_BANDS)
    assert set(d["gender"].astype(str)) <= {"Male", "Female"}
    assert set(d["ethnicity_categorised"].astype(str)) <= set(vocab.ETHNICITY_CATEGORISED)
    mapped = d["ethnicity_categorised"].astype(str).map(vocab.ETHNICITY_TO_CENSUS)
    assert (mapped == d["ethnicity"].astype(str)).all()  # the census group fixes both
    for f in tables.CONDITIONAL_FIELDS:
        assert d[f].notna().all(), f
    us_regions = set(d.loc[d["country"] == "US", "region"].astype(str))
    assert us_regions <= {"Northeast", "Midwest", "South", "West"}
    for a in vocab.STATED_PREF_ATTRIBUTES:
        assert d[f"stated_prefs_{a}"].between(0, 100).all()
    assert d["rating_spread"].gt(0).all()


def test_traits_follow_documented_effects():
    d = generate_personas(40_000, country="US", seed=9).data
    corr = d[["openness", "conscientiousness", "extraversion", "agreeableness", "neuroticism"]].corr().to_numpy()
    assert corr[1, 4] < -0.3 and corr[0, 2] > 0.3  # C-N negative, O-E positive (van der Linden et al.)
    women, men = d[d["gender"] == "Female"], d[d["gender"] == "Male"]
    assert women["neuroticism"].mean() - men["neuroticism"].mean() > 0.25
    religious = d["religion"].astype(str) == "Christian"
    assert d.loc[religious, "secular"].mean() < d.loc[~religious, "secular"].mean()
    young = d["age"] == "18-24 years old"
    old = d["age"] == "65+ years old"
    assert (d.loc[young, "employment_status"] == "Student").mean() > 0.2
    assert (d.loc[old, "employment_status"] == "Retired").mean() > 0.6


def test_conditional_tables_are_distributions():
    t = tables.conditional_table()
    keys = ["field", "country", "age", "gender", "ethnicity"]
    sums = t.groupby(keys)["share"].sum()
    assert np.allclose(sums.to_numpy(), 1.0, atol=1e-3)
    for f in tables.CONDITIONAL_FIELDS:
        for c in tables.COUNTRIES:
            s = tables.conditional_sampler(f, c)
            assert np.all(np.diff(s.cumulative, axis=1) >= -1e-12)


def test_export_as_prism_survey_records(panel):
    from pluralis.data import Study

    people = panel.to_participants(slice(0, 20))
    assert len(people) == 20
    p = people[0]
    assert p.source == "simulated" and p.persona["generator"].startswith("pluralis.simulate")
    assert p.persona["country"] in ("US", "UK") and set(p.persona["big_five"]) == {
        "openness",
        "conscientiousness",
        "extraversion",
        "agreeableness",
        "neuroticism",
    }
    assert len(p.self_description) > 40 and len(p.system_string) > 20
    survey = Study(survey=people).frames().survey
    assert (survey["source"] == "simulated").all()
    assert set(survey["location_special_region"]) <= {"US", "UK"}
    # every analysis accepts them: representativeness against the census
    from pluralis.census.representativeness import representativeness

    rep = representativeness(survey[survey["study_locale"] == "us"], "US")
    assert rep.n_unclassified == 0


def test_survey_frame_at_scale_feeds_representativeness():
    pytest.importorskip("pluralis.census.representativeness")
    from pluralis.census.representativeness import representativeness

    panel = generate_personas(50_000, country="UK", seed=0)
    rep = representativeness(panel.survey_frame(), "UK")
    assert rep.tvd["joint"] < 0.005 and rep.n == 50_000


def test_parquet_roundtrip(tmp_path, panel):
    path = panel.to_parquet(tmp_path / "p.parquet")
    back = PersonaPanel.read_parquet(path)
    pd.testing.assert_frame_equal(back.data, panel.data)
    assert back.config["seed"] == 3


def test_texts_render_from_traits(panel):
    t = panel.texts(slice(0, 5))
    assert t["self_description"].str.len().gt(60).all()
    assert t["constitution"].str.contains("honest", case=False).all()


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"n": 10, "country": "FR"}, "unknown country 'FR'"),
        ({"n": {"Narnia": 5}}, "unknown country 'Narnia'"),
        ({"n": 0}, "0 personas"),
        ({"n": {"US": -3}}, "must be >= 0"),
        ({"n": 10, "quotas": {"gender": {"Female": 0.7, "Male": 0.5}}}, "impossible quota for gender"),
        ({"n": 10, "quotas": {"age": {"17 years old": 1.0}}}, "unknown category"),
        ({"n": 10, "quotas": {"religion": {"Christian": 1.0}}}, "quota on unknown variable"),
        ({"n": 10, "sampling": "snowball"}, "sampling must be"),
        ({"n": 10, "executor": "spark"}, "unknown executor"),
    ],
)
def test_bad_configs_fail_clearly(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        generate_personas(**kwargs)


def test_quotas_rake_the_census():
    panel = generate_personas(4000, country="US", seed=0, quotas={"gender": {"Female": 0.8, "Male": 0.2}})
    share = (panel.data["gender"] == "Female").mean()
    assert abs(share - 0.8) < 0.002
    # other margins stay census-like within sex
    assert panel.census_tvd()["US"]["ethnicity"] < 0.02
