"""Self-contained HTML reports: sections of text, tables and embedded PNG figures (Jinja2).

A :class:`Report` is filled section by section and written as ONE file (figures are embedded
as ``data:`` URIs, CSS is inline, no scripts, no network), so it opens anywhere and can be sent
as an attachment. Text is HTML-escaped (autoescape); tables come from DataFrames.

Example
-------
>>> import tempfile, os, pandas as pd
>>> r = Report("Demo", subtitle="a test", banner="SIMULATED DATA")
>>> s = r.section("Numbers", "Some counts.")
>>> s.table(pd.DataFrame({"a": [1, 2]}), caption="a table")
>>> path = r.write(os.path.join(tempfile.mkdtemp(), "report.html"))
>>> "SIMULATED DATA" in open(path).read()
True
"""

from __future__ import annotations

import base64
import datetime as _dt
import html
import io
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pluralis.report.plots import figure_to_data_uri


@dataclass
class Block:
    kind: str  # "text" | "figure" | "table" | "kv" | "pre" | "cards" | "highlights"
    content: Any
    caption: str | None = None
    #: figures: ``{"png": bytes, "svg": bytes}``; tables: the DataFrame (written as CSV).
    data: Any = None
    #: figure or table number (set by :meth:`Report.number`).
    number: int | None = None
    #: file names of the figure / table written next to the report (relative to it).
    files: tuple[str, ...] = ()


@dataclass
class Section:
    """One section of a report; add blocks with :meth:`text`, :meth:`figure`, :meth:`table`, ..."""

    title: str
    intro: str | None = None
    anchor: str = ""
    blocks: list[Block] = field(default_factory=list)

    def text(self, paragraph: str) -> None:
        """Add a paragraph (escaped).

        Parameters
        ----------
        paragraph
            plain text.

        Example
        -------
        >>> s = Report("Demo").section("Results")
        >>> s.text("Scores <rose>."); s.blocks[-1].kind
        'text'
        """
        self.blocks.append(Block("text", paragraph))

    def figure(self, fig, caption: str | None = None, *, dpi: int = 110, alt: str | None = None) -> None:
        """Embed a matplotlib figure (rendered to PNG now, then released); ``alt`` defaults to the caption.

        Parameters
        ----------
        fig
            a matplotlib figure.
        caption
            shown under the figure.
        dpi
            PNG resolution.
        alt
            alternative text.

        Example
        -------
        >>> from matplotlib.figure import Figure
        >>> s = Report("Demo").section("Results")
        >>> fig = Figure(figsize=(1, 1)); _ = fig.add_subplot(1, 1, 1).plot([0, 1])
        >>> s.figure(fig, "A line."); s.blocks[-1].kind
        'figure'
        """
        uri = figure_to_data_uri(fig, dpi=dpi)
        svg = io.BytesIO()
        fig.savefig(svg, format="svg", bbox_inches="tight")
        png = base64.b64decode(uri.split(",", 1)[1])
        try:
            import matplotlib.pyplot as plt

            plt.close(fig)
        except Exception:  # pragma: no cover - Figure objects without pyplot
            pass
        self.blocks.append(
            Block("figure", (uri, alt or caption or self.title), caption, data={"png": png, "svg": svg.getvalue()})
        )

    def table(
        self,
        df: pd.DataFrame,
        caption: str | None = None,
        *,
        digits: int | dict[str, int] = 3,
        index: bool = False,
        max_rows: int = 60,
    ) -> None:
        """Embed a DataFrame as an HTML table: values escaped, floats rounded (``digits``: one number or
        per column), integers with thousands separators, numbers right-aligned, text left-aligned.

        Parameters
        ----------
        df
            the table.
        caption
            shown above the table.
        digits, index, max_rows
            see :func:`table_html`.

        Example
        -------
        >>> s = Report("Demo").section("Results")
        >>> s.table(pd.DataFrame({"model": ["a"], "score": [0.123456]}), "Scores"); s.blocks[-1].kind
        'table'
        """
        self.blocks.append(
            Block(
                "table",
                table_html(df, digits=digits, index=index, max_rows=max_rows),
                (caption or "") + (f" (first {max_rows} of {len(df)} rows)" if len(df) > max_rows else ""),
                data=df,
            )
        )

    def highlights(self, items: list[str], caption: str | None = None) -> None:
        """A call-out box with the key points (a bulleted list of plain sentences).

        Parameters
        ----------
        items
            the sentences.
        caption
            heading of the box.

        Example
        -------
        >>> s = Report("Demo").section("Results")
        >>> s.highlights(["Model a wins."]); s.blocks[-1].content
        ['Model a wins.']
        """
        self.blocks.append(Block("highlights", [str(i) for i in items], caption))

    def kv(self, items: dict[str, Any], caption: str | None = None) -> None:
        """A small key-value list.

        Parameters
        ----------
        items
            labels and values.
        caption
            heading.

        Example
        -------
        >>> s = Report("Demo").section("Results")
        >>> s.kv({"participants": 600}); s.blocks[-1].kind
        'kv'
        """
        self.blocks.append(Block("kv", [(str(k), _fmt(v)) for k, v in items.items()], caption))

    def pre(self, text: str, caption: str | None = None) -> None:
        """Preformatted text (equations, configs).

        Parameters
        ----------
        text
            the text, shown as is (escaped).
        caption
            heading.

        Example
        -------
        >>> s = Report("Demo").section("Results")
        >>> s.pre("u = q + eps"); s.blocks[-1].kind
        'pre'
        """
        self.blocks.append(Block("pre", text, caption))

    def cards(self, cards: list[dict[str, str]], caption: str | None = None) -> None:
        """Cards with a title and labelled paragraphs (e.g. example personas).

        Parameters
        ----------
        cards
            one dict per card: ``title`` and label -> paragraph.
        caption
            heading.

        Example
        -------
        >>> s = Report("Demo").section("Results")
        >>> s.cards([{"title": "Persona 1", "about": "Retired teacher."}]); s.blocks[-1].kind
        'cards'
        """
        self.blocks.append(Block("cards", cards, caption))


def _cell(v: Any, digits: int) -> str:
    if v is None or (isinstance(v, float) and np.isnan(v)) or v is pd.NA or v is pd.NaT:
        return "–"
    if isinstance(v, (bool, np.bool_)):
        return "yes" if v else "no"
    if isinstance(v, (int, np.integer)):
        return f"{int(v):,}"
    if isinstance(v, (float, np.floating)):
        return f"{float(v):,.{digits}f}"
    return str(v)


def table_html(df: pd.DataFrame, *, digits: int | dict[str, int] = 3, index: bool = False, max_rows: int = 60) -> str:
    """A DataFrame as an escaped HTML table (class ``tbl``; numeric columns get class ``num``).

    Parameters
    ----------
    df
        the table.
    digits
        decimals of floats: one number, or per column.
    index
        include the index.
    max_rows
        rows shown (the rest is summarised).

    Returns
    -------
    str

    Example
    -------
    >>> table_html(pd.DataFrame({"name": ["<a>"], "n": [1234], "x": [0.5]}), digits={"x": 1})
    '<table class="tbl"><thead><tr><th>name</th><th class="num">n</th><th class="num">x</th></tr></thead><tbody><tr><td>&lt;a&gt;</td><td class="num">1,234</td><td class="num">0.5</td></tr></tbody></table>'
    """
    d = df.reset_index() if index else df
    d = d.head(max_rows)
    cols = [str(c) if not isinstance(c, tuple) else " / ".join(map(str, c)) for c in d.columns]
    numeric = [pd.api.types.is_numeric_dtype(d[c]) and not pd.api.types.is_bool_dtype(d[c]) for c in d.columns]
    places = [digits.get(str(c), 3) if isinstance(digits, dict) else digits for c in d.columns]
    head = "".join(
        f'<th class="num">{html.escape(c)}</th>' if num else f"<th>{html.escape(c)}</th>"
        for c, num in zip(cols, numeric)
    )
    rows = []
    for values in d.itertuples(index=False, name=None):
        cells = "".join(
            f'<td class="num">{html.escape(_cell(v, k))}</td>' if num else f"<td>{html.escape(_cell(v, k))}</td>"
            for v, num, k in zip(values, numeric, places)
        )
        rows.append(f"<tr>{cells}</tr>")
    return f'<table class="tbl"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>'


def _fmt(v: Any) -> str:
    if isinstance(v, (float, np.floating)):
        return f"{v:,.4g}"
    if isinstance(v, (int, np.integer)):
        return f"{v:,}"
    return str(v)


class Report:
    """A self-contained HTML report (see the module docstring)."""

    def __init__(self, title: str, *, subtitle: str | None = None, banner: str | None = None):
        self.title = title
        self.subtitle = subtitle
        self.banner = banner
        self.sections: list[Section] = []
        #: sections left out, with the reason (shown at the top of the report).
        self.skipped: list[tuple[str, str]] = []
        self.created = _dt.datetime.now().strftime("%Y-%m-%d %H:%M")

    def skip(self, title: str, reason: str) -> None:
        """Record that a section is left out and why (listed at the top of the report).

        Parameters
        ----------
        title
            the section that is missing.
        reason
            why, in a sentence (e.g. "the study has no survey").

        Example
        -------
        >>> r = Report("Demo"); r.skip("Welfare", "no survey")
        >>> "Welfare" in r.render() and "no survey" in r.render()
        True
        """
        self.skipped.append((str(title), str(reason)))

    def number(self) -> None:
        """Number figures and tables in reading order and name their files (``figures/figure-01.png``,
        ``figures/figure-01.svg``, ``tables/table-01.csv``); :meth:`render` calls it.

        Example
        -------
        >>> r = Report("Demo"); s = r.section("A")
        >>> s.table(pd.DataFrame({"a": [1]}), "one"); s.table(pd.DataFrame({"a": [2]}), "two")
        >>> r.number(); [b.number for b in s.blocks], s.blocks[1].files
        ([1, 2], ('tables/table-02.csv',))
        """
        n_fig = n_tab = 0
        for sec in self.sections:
            for b in sec.blocks:
                if b.kind == "figure":
                    n_fig += 1
                    b.number = n_fig
                    b.files = (f"figures/figure-{n_fig:02d}.png", f"figures/figure-{n_fig:02d}.svg")
                elif b.kind == "table":
                    n_tab += 1
                    b.number = n_tab
                    b.files = (f"tables/table-{n_tab:02d}.csv",)

    def section(self, title: str, intro: str | None = None) -> Section:
        """Start a new section (numbered anchors ``s1``, ``s2``, ...).

        Parameters
        ----------
        title
            section heading.
        intro
            a paragraph under the heading.

        Returns
        -------
        Section

        Example
        -------
        >>> r = Report("Demo")
        >>> r.section("Results").anchor, r.section("Method").anchor
        ('s1', 's2')
        """
        s = Section(title, intro, anchor=f"s{len(self.sections) + 1}")
        self.sections.append(s)
        return s

    def render(self) -> str:
        """The report as an HTML string.

        Returns
        -------
        str

        Example
        -------
        >>> r = Report("Demo"); r.section("Results").text("Hello.")
        >>> html = r.render()
        >>> html.startswith("<!DOCTYPE html>") and "Hello." in html
        True
        """
        from jinja2 import Environment, PackageLoader, select_autoescape

        env = Environment(
            loader=PackageLoader("pluralis.report", "templates"), autoescape=select_autoescape(["html", "j2"])
        )
        from markupsafe import Markup

        env.filters["safe_table"] = lambda s: Markup(s)
        tpl = env.get_template("report.html.j2")
        self.number()
        return tpl.render(report=self, version=_version())

    def write(self, path: str | os.PathLike, *, assets: bool = True) -> Path:
        """Write the report atomically; returns the absolute path.

        With ``assets`` every figure is also written as PNG and SVG under ``figures/`` and every table
        as CSV under ``tables/`` next to the report (numbered as in the report: Figure 3 is
        ``figures/figure-03.png`` and ``.svg``), for papers and further analysis.

        Parameters
        ----------
        path
            the ``.html`` file to write.
        assets
            also write the figure and table files.

        Returns
        -------
        pathlib.Path

        Example
        -------
        >>> import tempfile, os
        >>> r = Report("Demo"); r.section("Results").text("Hello.")
        >>> p = r.write(os.path.join(tempfile.mkdtemp(), "report.html"))
        >>> p.is_absolute(), "Hello." in p.read_text()
        (True, True)
        """
        path = Path(path).resolve()
        path.parent.mkdir(parents=True, exist_ok=True)
        text = self.render()
        if assets:
            self._write_assets(path.parent)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(path)
        return path

    def _write_assets(self, folder: Path) -> None:
        for sec in self.sections:
            for b in sec.blocks:
                if not b.files or b.data is None:
                    continue
                for name in b.files:
                    target = folder / name
                    target.parent.mkdir(parents=True, exist_ok=True)
                    tmp = target.with_name(target.name + ".tmp")
                    if b.kind == "figure":
                        tmp.write_bytes(b.data[target.suffix.lstrip(".")])
                    else:
                        _csv_frame(b.data).to_csv(tmp, index=False)
                    tmp.replace(target)


def _csv_frame(df: pd.DataFrame) -> pd.DataFrame:
    """A table as written to CSV: flat string column names (tuples joined with ' / ')."""
    d = df.copy()
    d.columns = [" / ".join(map(str, c)) if isinstance(c, tuple) else str(c) for c in d.columns]
    return d


def _version() -> str:
    try:
        import pluralis

        return getattr(pluralis, "__version__", "")
    except Exception:  # pragma: no cover
        return ""


def escape(text: str) -> str:
    """HTML-escape a string (for callers building their own snippets).

    Parameters
    ----------
    text
        any text.

    Returns
    -------
    str

    Example
    -------
    >>> escape("<b>")
    '&lt;b&gt;'
    """
    return html.escape(text)
