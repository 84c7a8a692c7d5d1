"""The HTML report builder: one self-contained file, escaped text, embedded figures."""

from __future__ import annotations

import pandas as pd
from matplotlib.figure import Figure

from pluralis.report.html import Report


def test_report_is_self_contained_and_escaped(tmp_path):
    r = Report("T <script>", subtitle="sub", banner="SIMULATED")
    s = r.section("A", "intro & more")
    s.text("<b>not bold</b>")
    fig = Figure(figsize=(2, 2))
    fig.add_subplot(1, 1, 1).plot([0, 1], [1, 0])
    s.figure(fig, "a figure")
    s.table(pd.DataFrame({"x": [1.23456, None], "y": ["<i>", "b"]}), caption="tbl", digits=2)
    s.kv({"n": 1234, "f": 0.5})
    s.cards([{"title": "card", "rows": [("label", "text <x>")]}])
    path = r.write(tmp_path / "sub" / "r.html")
    html = path.read_text()
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert "&lt;b&gt;not bold&lt;/b&gt;" in html and "&lt;i&gt;" in html
    assert html.count("data:image/png;base64,") == 1
    assert 'src="http' not in html and "<link" not in html  # nothing fetched from anywhere
    assert "1.23" in html and "1,234" in html and "text &lt;x&gt;" in html
    assert 'href="#s1"' in html


def test_study_report_sections(tmp_path):
    from pluralis.pipelines.demo import DemoConfig, analyse
    from pluralis.report.study import write_study_report
    from pluralis.simulate.generator import generate_personas
    from pluralis.simulate.study import simulate_study

    panel = generate_personas({"US": 20, "UK": 20}, seed=3)
    sim = simulate_study(panel, seed=5, conversations_per_type=1)
    analyses, notes = analyse(sim, DemoConfig(n_us=15, n_uk=15, bootstrap=20, draws=20))
    path = write_study_report(tmp_path / "r.html", panel=panel, sim=sim, analyses=analyses, notes=notes)
    html = path.read_text()
    for title in (
        "The synthetic panel",
        "Models in the loop",
        "Rankings by group",
        "Welfare of populations",
        "Representativeness",
        "Method",
        "SIMULATED STUDY",
        "Key results",
        "Overall ranking",
    ):
        assert title in html, title
    assert html.count("data:image/png;base64,") >= 6
    # the rank table: one row per group, models as columns in overall order, readable labels
    overall = analyses["rankings"].table.query("by == '(all)'").sort_values("rank")["model"].tolist()
    head = html[html.index("<th>grouping</th>") :]
    head = head[: head.index("</tr>")]
    assert [m for m in overall if m in head] == overall
    assert head.index(overall[0]) < head.index(overall[-1])
    # every figure also as PNG + SVG, every table as CSV, numbered as in the report
    n_fig = html.count("<figcaption><b>Figure ")
    assert n_fig >= 6 and len(list(tmp_path.glob("figures/*.png"))) == n_fig
    assert len(list(tmp_path.glob("figures/*.svg"))) == n_fig
    assert len(list(tmp_path.glob("tables/*.csv"))) == html.count("<b>Table ")
    assert "Model ranks by age" not in html or "(n = " in html
    assert "<td>country</td><td>UK</td>" in html


def test_table_html_alignment_and_formatting():
    from pluralis.report.html import table_html

    t = table_html(
        pd.DataFrame({"name": ["a & b", None], "n": [12345, 7], "share": [0.12345, float("nan")], "ok": [True, False]}),
        digits={"share": 2},
    )
    assert '<th class="num">n</th>' in t and "<th>name</th>" in t and "<th>ok</th>" in t
    assert '<td class="num">12,345</td>' in t and '<td class="num">0.12</td>' in t
    assert '<td class="num">–</td>' in t and "<td>a &amp; b</td>" in t and "<td>–</td>" in t  # NaN, None
    assert t.index("<td>yes</td>") < t.index("<td>no</td>")  # booleans in words, in row order


def test_demo_without_analysis_modules_still_reports(tmp_path, monkeypatch):
    """The main job guards its analysis imports: with the ranking, welfare and representativeness modules
    missing it still simulates, stores and writes a report that says what was skipped."""
    import sys

    for name in ("pluralis.ranking.subgroups", "pluralis.welfare.engine", "pluralis.census.representativeness"):
        monkeypatch.setitem(sys.modules, name, None)
    from pluralis.pipelines.demo import DemoConfig, run_demo

    res = run_demo(DemoConfig(out=tmp_path, n_us=8, n_uk=8, bootstrap=10, draws=10, models="simulated", stages=()))
    html = res.report_path.read_text()
    assert "no rankings were computed" in html and "not available" in html
    assert any("rankings: skipped" in n for n in res.notes) and any("welfare: skipped" in n for n in res.notes)
    assert res.store_path.exists()


def test_figures_and_tables_are_numbered_and_written_as_files(tmp_path):
    r = Report("T")
    s = r.section("A")
    for k in range(2):
        fig = Figure(figsize=(2, 2))
        fig.add_subplot(1, 1, 1).plot([0, 1], [k, 1])
        s.figure(fig, f"figure {k}")
    s.table(pd.DataFrame({("a", "b"): [1.5, 2.0], "c": ["x", "y"]}), caption="tbl")
    r.skip("Welfare", "the study has no survey")
    html = r.write(tmp_path / "r.html").read_text()
    assert "Figure 1." in html and "Figure 2." in html and "Table 1." in html
    assert "Sections not in this report" in html and "the study has no survey" in html
    for n in (1, 2):
        assert (tmp_path / f"figures/figure-0{n}.png").read_bytes().startswith(b"\x89PNG")
        assert b"<svg" in (tmp_path / f"figures/figure-0{n}.svg").read_bytes()[:2000]
    t = pd.read_csv(tmp_path / "tables/table-01.csv")
    assert t.columns.tolist() == ["a / b", "c"] and t["a / b"].tolist() == [1.5, 2.0]
