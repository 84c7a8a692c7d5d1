"""Census targets for any population (issue "Any data in", items 3-4): a user's table of shares, read with
file:line errors, answers mapped onto its categories, weights that hit its margins, and the CLI analyses
(`welfare`, `weights`, `represent`, `learn`) on a ratings table that is not PRISM-shaped."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from pluralis.census.custom import TargetTable, load_target_table
from pluralis.census.weights import rake
from pluralis.cli import app as cli
from pluralis.errors import ConfigError

MARGINAL = "variable,category,share\ngender,Female,52\ngender,Male,48\nage,18-34,30\nage,35-64,50\nage,65+,20\n"


def test_marginal_and_joint_tables_normalise_counts_and_percentages(tmp_path):
    p = tmp_path / "m.csv"
    p.write_text(MARGINAL)
    t = load_target_table(p)
    assert t.variables == ("gender", "age") and t.joint is None
    assert t.margins["gender"].to_dict() == pytest.approx({"Female": 0.52, "Male": 0.48})
    assert t.margins["age"].sum() == pytest.approx(1.0)
    j = tmp_path / "j.tsv"
    j.write_text("gender\tregion\tcount\nFemale\tNorth\t300\nMale\tNorth\t200\nFemale\tSouth\t250\nMale\tSouth\t250\n")
    t = load_target_table(j)
    assert t.variables == ("gender", "region")
    assert t.margins["gender"].to_dict() == pytest.approx({"Female": 0.55, "Male": 0.45})
    assert t.joint["share"].sum() == pytest.approx(1.0) and len(t.joint) == 4
    pq = tmp_path / "m.parquet"
    pd.read_csv(p).to_parquet(pq)
    assert load_target_table(pq).margins["age"].to_dict() == pytest.approx({"18-34": 0.3, "35-64": 0.5, "65+": 0.2})


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("variable,category,weight_of\ngender,F,1\n", "no share column: expected one of share, proportion"),
        ("variable,category,share\ngender,F,1\ngender,M,lots\n", ":3: share: 'lots' is not a number"),
        ("variable,category,share\ngender,F,1\ngender,M,-2\n", ":3: share: '-2' is negative"),
        ("variable,category,share\ngender,F,1\ngender,,2\n", ":3: category: empty value"),
        ("variable,category,share\ngender,F,1\ngender,F,2\n", ":3: variable='gender', category='F' appears twice"),
        ("variable,category,share\ngender,F,0\ngender,M,0\n", "gender: the shares sum to 0"),
        ("variable,category,share\n", "has no rows"),
    ],
)
def test_bad_tables_name_file_line_and_field(tmp_path, text, message):
    p = tmp_path / "t.csv"
    p.write_text(text)
    with pytest.raises(ConfigError) as e:
        load_target_table(p)
    assert str(p) in str(e.value) and message in str(e.value)


def test_answers_map_case_insensitively_and_numbers_into_bands():
    t = TargetTable(
        "t.csv",
        {
            "age": pd.Series({"18-34": 0.3, "35 to 64": 0.5, "65 or over": 0.2}),
            "gender": pd.Series({"Female": 0.5, "Male": 0.5}),
        },
    )
    survey = pd.DataFrame(
        {
            "age": [18, "34", 34.5, 64, 65, "35 TO 64", None],
            "gender": ["female", " MALE ", "Female", "male", "Male", "Female", "Male"],
        }
    )
    m = t.map_survey(survey)
    assert m["age"].tolist()[:6] == ["18-34", "18-34", "18-34", "35 to 64", "65 or over", "35 to 64"]
    assert pd.isna(m["age"].iloc[6]) and m["gender"].tolist()[:2] == ["Female", "Male"]
    with pytest.raises(ConfigError, match=r"t.csv: age: 2 of 2 answers match no category .*'18-34'.*e.g. 12, 'old'"):
        t.map_survey(pd.DataFrame({"age": [12, "old"], "gender": ["Male", "Male"]}))
    with pytest.raises(ConfigError, match="no column\\(s\\) gender of the target table; it has: age"):
        t.map_survey(pd.DataFrame({"age": [30]}))
    dropped = t.map_survey(pd.DataFrame({"age": [12, 40], "gender": ["x", "Male"]}), on_unknown="drop")
    assert dropped["age"].isna().tolist() == [True, False] and dropped["gender"].isna().tolist() == [True, False]


def test_weights_hit_the_margins_and_equal_the_shipped_raking(tmp_path):
    rng = np.random.default_rng(3)
    n = 400
    survey = pd.DataFrame(
        {
            "user_id": [f"u{i}" for i in range(n)],
            "gender": rng.choice(["female", "MALE"], n, p=[0.7, 0.3]),
            "age": rng.integers(18, 90, n),
        }
    )
    p = tmp_path / "m.csv"
    p.write_text(MARGINAL)
    t = load_target_table(p)
    res = t.weights(survey)
    w = res.weights.reindex(survey["user_id"]).to_numpy()
    mapped = t.map_survey(survey)
    for var in t.variables:
        shares = pd.Series(w).groupby(mapped[var].to_numpy()).sum() / w.sum()
        assert shares.to_dict() == pytest.approx(t.margins[var].to_dict(), abs=1e-8)
    # the same as raking the mapped survey with the shipped function directly
    direct = rake(mapped, t.margins).weights.reindex(survey["user_id"]).to_numpy()
    np.testing.assert_allclose(w, direct)
    # the comparison: before weighting the sample is 70 % women; after it, the table's 52 %
    before = t.compare(survey).set_index(["variable", "category"])
    after = t.compare(survey, weights=w).set_index(["variable", "category"])
    assert before.loc[("gender", "Female"), "observed_share"] == pytest.approx((mapped["gender"] == "Female").mean())
    assert after.loc[("gender", "Female"), "observed_share"] == pytest.approx(0.52)
    assert after["tvd"].max() < 1e-8 < before.loc[("gender", "Female"), "tvd"]


def test_post_stratification_to_a_joint_table_hits_every_cell(tmp_path):
    j = tmp_path / "j.csv"
    j.write_text("gender,region,share\nFemale,North,0.4\nMale,North,0.1\nFemale,South,0.2\nMale,South,0.3\n")
    t = load_target_table(j)
    survey = pd.DataFrame(
        {
            "user_id": [f"u{i}" for i in range(8)],
            "gender": ["Female", "Male"] * 4,
            "region": ["North"] * 4 + ["South"] * 4,
        }
    )
    w = t.weights(survey, method="poststratify").weights.reindex(survey["user_id"])
    cells = w.groupby([survey["gender"].to_numpy(), survey["region"].to_numpy()]).sum() / w.sum()
    assert cells[("Female", "North")] == pytest.approx(0.4) and cells[("Male", "South")] == pytest.approx(0.3)
    with pytest.raises(ConfigError, match="needs a joint table"):
        TargetTable("m", {"g": pd.Series({"a": 1.0})}).weights(
            pd.DataFrame({"user_id": ["u"], "g": ["a"]}), method="poststratify"
        )


@settings(max_examples=30, deadline=None)
@given(
    shares=st.lists(st.floats(0.05, 10), min_size=2, max_size=5),
    counts=st.lists(st.integers(1, 20), min_size=5, max_size=5),
)
def test_raking_to_one_variable_gives_exactly_its_shares(shares, counts):
    cats = [f"c{k}" for k in range(len(shares))]
    t = TargetTable("t", {"g": pd.Series(shares, index=cats) / sum(shares)})
    values = [c for c, n in zip(cats, counts) for _ in range(n)]
    survey = pd.DataFrame({"user_id": [f"u{i}" for i in range(len(values))], "g": values})
    w = t.weights(survey).weights.reindex(survey["user_id"]).to_numpy()
    got = pd.Series(w).groupby(np.array(values)).sum() / w.sum()
    assert got.to_dict() == pytest.approx(t.margins["g"].to_dict(), abs=1e-9)


# --- the CLI on a ratings table that is not PRISM-shaped ---------------------------------------------------

TEXTS = {
    "t0": "No.",
    "t1": "Sure. Here is a short answer for you.",
    "t2": "1. First, breathe.\n2. Then, plan the day.\n3. Finally, rest.",
    "t3": "Why do you ask? Is it for school?",
    "t4": "I am an AI language model and cannot have opinions.",
    "t5": "Here is a long, careful answer that weighs both sides and explains each step in turn, with examples.",
}


@pytest.fixture(scope="module")
def ratings_store(tmp_path_factory):
    """Texts × raters × 1-5 scores with inline gender and numeric age; women love the enumerated text (t2)."""
    folder = tmp_path_factory.mktemp("ratings")
    rng = np.random.default_rng(0)
    base = {"t0": 1, "t1": 3, "t2": 2, "t3": 2, "t4": 1, "t5": 4}
    rows = []
    for u in range(120):
        gender = "Female" if u % 2 else "Male"
        age = int(rng.integers(18, 80))
        for item, b in base.items():
            score = 5 if (gender == "Female" and item == "t2") else b
            score = int(np.clip(score + rng.integers(-1, 2), 1, 5))
            rows.append({"rater": f"r{u}", "text": TEXTS[item], "score": score, "gender": gender, "age": age})
    src = folder / "ratings.csv"
    pd.DataFrame(rows).to_csv(src, index=False)
    (folder / "targets.csv").write_text(MARGINAL)
    store = folder / "s.sqlite"
    r = CliRunner().invoke(
        cli,
        [
            "import",
            str(src),
            "--format",
            "ratings",
            "--column",
            "participant=rater",
            "--column",
            "item=text",
            "--score-range",
            "1,5",
            "--store",
            str(store),
        ],
    )
    assert r.exit_code == 0, r.output
    return folder, store


def test_welfare_with_a_census_table_on_a_ratings_table(ratings_store):
    folder, store = ratings_store
    out = folder / "welfare"
    r = CliRunner().invoke(
        cli,
        ["welfare", str(store), "--census", str(folder / "targets.csv"), "--draws", "200", "--out", str(out)],
    )
    assert r.exit_code == 0, r.output
    assert "populations and schemes from the survey's gender, age" in r.output
    assert "raked to" in r.output and "no choices recorded: the rating measure only" in r.output
    summary = pd.read_csv(out / "welfare_summary.csv")
    assert {"gender = Female", "gender = Male", "age = 18-34", "age = 65+", "Rep"} <= set(summary["population"])
    # women's welfare is highest when only women hold the seats, and lower when men hold them all
    women = summary[summary["population"] == "gender = Female"].set_index("scheme")["mean"]
    seats = [s for s in women.index if s.startswith("gender = ")]
    assert len(seats) == 1
    rep = women[[s for s in women.index if s.startswith("Rep")]]
    held_by = seats[0].split(" (")[0].removeprefix("gender = ")
    assert (women[seats[0]] > rep.max()) == (held_by == "Female")
    best = pd.read_csv(out / "model_welfare.csv")
    assert not best.empty


def test_weights_and_represent_with_a_census_table(ratings_store, tmp_path):
    folder, store = ratings_store
    target = folder / "targets.csv"
    out = tmp_path / "w.csv"
    r = CliRunner().invoke(cli, ["weights", str(store), "--census", str(target), "--out", str(out)])
    assert r.exit_code == 0, r.output
    w = pd.read_csv(out)
    assert len(w) == 120 and (w["weight"] > 0).all()
    rep = tmp_path / "rep.csv"
    r = CliRunner().invoke(
        cli, ["represent", str(store), "--census", str(target), "--weights", "census", "--out", str(rep)]
    )
    assert r.exit_code == 0, r.output
    table = pd.read_csv(rep)
    assert table["difference_pp"].abs().max() < 1e-6  # raked: the sample now has the table's shares
    assert set(table["variable"]) == {"gender", "age"}


def test_errors_before_loading_and_naming_the_fields(ratings_store, tmp_path):
    folder, store = ratings_store
    runner = CliRunner()
    # a bad country is refused before any data is read (the data path does not even exist)
    r = runner.invoke(cli, ["welfare", str(tmp_path / "missing.sqlite"), "--country", "Atlantis"])
    assert r.exit_code != 0 and "--country: unknown country 'Atlantis'" in r.output
    # no PRISM fields and no --by: the error lists what the survey has and the fix
    r = runner.invoke(cli, ["welfare", str(store), "--draws", "10"])
    assert r.exit_code != 0
    assert "need the survey fields gender, ethnicity_simplified, age; this survey has: gender, age" in r.output
    assert "--by FIELD" in r.output
    # --by builds the design from the data
    r = runner.invoke(cli, ["welfare", str(store), "--by", "gender", "--draws", "20"])
    assert r.exit_code == 0, r.output
    assert "gender = Male (60)" in r.output and "Female" in r.output
    # a bad target table: file, line and field; nothing is read before it
    bad = tmp_path / "bad.csv"
    bad.write_text("variable,category,share\ngender,Female,half\n")
    r = runner.invoke(cli, ["welfare", str(store), "--census", str(bad)])
    assert r.exit_code != 0 and f"{bad}:2: share: 'half' is not a number" in r.output


def test_learn_on_a_ratings_table_recovers_the_groups_taste(ratings_store, tmp_path):
    folder, store = ratings_store
    out = tmp_path / "learn"
    r = CliRunner().invoke(cli, ["learn", str(store), "--by", "gender", "--out", str(out)])
    assert r.exit_code == 0, r.output
    weights = pd.read_csv(out / "reward_weights.csv").set_index(["feature", "group"])["coef"]
    assert weights[("if_enumeration", "Female")] > weights[("if_enumeration", "Male")] + 1.0  # women's enumerated text
    assert weights[("if_enumeration", "Female")] > 0
