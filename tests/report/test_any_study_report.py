"""``pluralis report`` on any study: sections by data, figures as PNG + SVG, tables as CSV."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from typer.testing import CliRunner

from pluralis.data.io.prism import write_prism
from pluralis.data.synthetic import generate_study
from pluralis.report.any_study import write_any_report


def _files_ok(out, html):
    n_fig = html.count("<figcaption><b>Figure ")
    n_tab = html.count("<b>Table ")
    assert n_fig >= 1 and n_tab >= 1
    for k in range(1, n_fig + 1):
        assert (out / f"figures/figure-{k:02d}.png").read_bytes().startswith(b"\x89PNG")
        assert b"<svg" in (out / f"figures/figure-{k:02d}.svg").read_bytes()[:3000]
    for k in range(1, n_tab + 1):
        t = pd.read_csv(out / f"tables/table-{k:02d}.csv")
        assert len(t) >= 1 and len(t.columns) >= 2
    assert not (out / f"figures/figure-{n_fig + 1:02d}.png").exists()


@pytest.fixture(scope="module")
def prism_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("prism") / "study"
    study = generate_study(n_participants=120, seed=1)
    for p in study.survey[:90]:  # enough US participants for welfare's samples of 100 is not possible; US+UK shares
        p.study_locale = "us" if int(p.user_id.lstrip("user")) % 2 else "uk"
    write_prism(study, folder)
    return folder


def test_report_on_prism_shaped_study(prism_folder, tmp_path):
    out = tmp_path / "rep"
    res = write_any_report(prism_folder, out, bootstrap=20, draws=20)
    html = res.path.read_text()
    for title in (
        "Participants",
        "Representativeness",
        "Rankings",
        "Rankings by group",
        "Group contrasts",
        "Response features",
    ):
        assert title in res.sections, title
        assert f"<h2>{title}</h2>" in html
    assert "Model ranks by country" in html or "Model ranks by age" in html or "Rank of every model" in html
    # welfare: shown or listed as skipped with a reason, never silently missing
    assert ("Welfare of populations" in res.sections) != ("Welfare of populations" in res.skipped)
    _files_ok(out, html)


def test_report_on_arena_battles_with_participants(tmp_path):
    rng = pd.Series(range(400))
    models = ["alpha", "beta", "gamma"]
    rows = []
    for i in rng:  # alpha beats everyone most of the time
        a, b = models[i % 3], models[(i + 1) % 3]
        winner = "model_a" if (a == "alpha" or (b != "alpha" and i % 4)) else "model_b"
        rows.append({"model_a": a, "model_b": b, "winner": winner if i % 7 else "tie", "judge": f"user{i % 40}"})
    path = tmp_path / "battles.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows))
    out = tmp_path / "rep"
    res = write_any_report(path, out, bootstrap=20)
    html = res.path.read_text()
    # the judges are participants (without demographics): counted, but nothing to compare with a census
    assert res.sections[:3] == ["Overview", "Participants", "Rankings"]
    assert "40 participants; comparisons per participant: median 10" in html
    for title in ("Representativeness", "Rankings by group", "Group contrasts", "Welfare of populations"):
        assert title in res.skipped and title not in res.sections
    assert "Response features" in res.skipped  # no texts in these battles
    assert "Sections not in this report" in html and "none of the grouping fields" in html
    assert "pluralis welfare DATA --by FIELD" in res.skipped["Welfare of populations"]  # the CLI's choice welfare
    # the ranking comes from the battles: alpha first
    tables = sorted(out.glob("tables/*.csv"))
    overall = next(pd.read_csv(t) for t in tables if "model" in pd.read_csv(t).columns)
    best = overall.sort_values("rank").iloc[0]["model"]
    assert best == "alpha"
    _files_ok(out, html)


def test_cli_report(prism_folder, tmp_path):
    from pluralis.cli import app

    out = tmp_path / "cli"
    r = CliRunner().invoke(app, ["report", str(prism_folder), "--out", str(out), "--bootstrap", "5", "--draws", "5"])
    assert r.exit_code == 0, r.output
    assert (out / "report.html").exists() and "report:" in r.output


def test_representativeness_plot_starts_at_zero(prism_folder):
    from pluralis.census.representativeness import representativeness
    from pluralis.data.io.prism import load_prism
    from pluralis.report.plots import plot_representativeness_shares

    survey = load_prism(prism_folder).frames().survey
    rep = representativeness(survey[survey["study_locale"] == "us"], "US")
    fig = plot_representativeness_shares(rep)
    for ax in fig.axes:
        lo, hi = ax.get_ylim()
        assert lo == 0.0 and hi >= 10.0
    # every panel shares one scale, so a small gap cannot be blown up in one of them
    assert len({ax.get_ylim() for ax in fig.axes}) == 1


def test_report_on_collected_study_store(tmp_path):
    from pluralis.store import Store

    study = generate_study(n_participants=40, seed=2)
    db = tmp_path / "study.sqlite"
    with Store.open(db) as store:
        store.import_study(study)
    res = write_any_report(db, tmp_path / "rep", bootstrap=10, draws=10)
    assert {"Participants", "Rankings", "Response features"} <= set(res.sections)
    assert "format: store" in res.path.read_text()


def test_group_rank_small_multiples_name_n_per_group():
    from pluralis.report.plots import plot_group_ranks

    t = pd.DataFrame(
        {
            "by": ["(all)"] * 3 + ["age"] * 6,
            "group": ["(all)"] * 3 + ["18-24 years old"] * 3 + ["65+ years old"] * 3,
            "model": ["a", "b", "c"] * 3,
            "rank": [1, 2, 3, 1, 3, 2, 3, 2, 1],
            "rank_lo": [1, 1, 2, 1, 2, 1, 2, 1, 1],
            "rank_hi": [2, 3, 3, 2, 3, 3, 3, 3, 2],
            "n_participants": [50] * 3 + [30] * 3 + [20] * 3,
            "significant": [False] * 8 + [True],
        }
    )
    fig = plot_group_ranks(t, "age")
    assert [ax.get_title() for ax in fig.axes] == ["18-24 (n = 30)", "65+ (n = 20)"]
    # models in overall order, best at the top, in every panel
    assert [tl.get_text() for tl in fig.axes[0].get_yticklabels()] == ["a", "b", "c"]
    assert fig.axes[0].yaxis_inverted()


def test_group_contrasts_section_finds_a_planted_group_difference(tmp_path):
    from pluralis.data.io.prism import write_prism

    folder = tmp_path / "planted"
    study = generate_study(
        n_participants=120,
        seed=11,
        models=["alpha", "beta", "gamma", "delta"],
        quality={"alpha": 1.0, "beta": 0.5, "gamma": 0.0, "delta": -0.5},
        group_shifts={("gender", "Female"): {"delta": 3.0}},
        with_metadata=False,
    )
    write_prism(study, folder)
    res = write_any_report(folder, tmp_path / "rep", method="bt", bootstrap=100, draws=10, by=("gender", "age"))
    assert "Group contrasts" in res.sections
    html = res.path.read_text()
    assert "Group against group by gender" in html
    tables = [pd.read_csv(t) for t in sorted((tmp_path / "rep").glob("tables/*.csv"))]
    every = next(t for t in tables if {"other", "p_holm"} <= set(t.columns))
    found = every[(every["significant"]) & (every["by"] == "gender")]
    assert set(found["model"]) >= {"delta"}
    delta = found[found["model"] == "delta"].iloc[0]
    assert (delta["difference"] > 0) == (delta["group"] == "Female")  # women rate delta higher
    assert not every[(every["by"] == "age")]["significant"].any()  # no planted age difference
