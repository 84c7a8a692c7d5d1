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

import datetime as _dt
import html
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


@dataclass
class Section:
    """One section of a report; add blocks with :meth:`text`, :meth:`figure`, :meth:`table`, ..."""

    title: str
    intro: str | None = None
    anchor: str = ""
    blocks: list[Block] = field(default_factory=list)

    def text(self, paragraph: str) -> None:
        self.blocks.append(Block("text", paragraph))

    def figure(self, fig, caption: str | None = None, *, dpi: int = 110, alt: str | None = None) -> None:
        """Embed a matplotlib figure (rendered to PNG now, then released); ``alt`` defaults to the caption."""
        uri = figure_to_data_uri(fig, dpi=dpi)
        try:
            import matplotlib.pyplot as plt

            plt.close(fig)
        except Exception:  # pragma: no cover - Figure objects without pyplot
            pass
        self.blocks.append(Block("figure", (uri, alt or caption or self.title), caption))

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
        per column), integers with thousands separators, numbers right-aligned, text left-aligned."""
        self.blocks.append(
            Block(
                "table",
                table_html(df, digits=digits, index=index, max_rows=max_rows),
                (caption or "") + (f" (first {max_rows} of {len(df)} rows)" if len(df) > max_rows else ""),
            )
        )

    def highlights(self, items: list[str], caption: str | None = None) -> None:
        """A call-out box with the key points (a bulleted list of plain sentences)."""
        self.blocks.append(Block("highlights", [str(i) for i in items], caption))

    def kv(self, items: dict[str, Any], caption: str | None = None) -> None:
        """A small key-value list."""
        self.blocks.append(Block("kv", [(str(k), _fmt(v)) for k, v in items.items()], caption))

    def pre(self, text: str, caption: str | None = None) -> None:
        """Preformatted text (equations, configs)."""
        self.blocks.append(Block("pre", text, caption))

    def cards(self, cards: list[dict[str, str]], caption: str | None = None) -> None:
        """Cards with a title and labelled paragraphs (e.g. example personas)."""
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
        self.created = _dt.datetime.now().strftime("%Y-%m-%d %H:%M")

    def section(self, title: str, intro: str | None = None) -> Section:
        s = Section(title, intro, anchor=f"s{len(self.sections) + 1}")
        self.sections.append(s)
        return s

    def render(self) -> str:
        """The report as an HTML string."""
        from jinja2 import Environment, PackageLoader, select_autoescape

        env = Environment(
            loader=PackageLoader("pluralis.report", "templates"), autoescape=select_autoescape(["html", "j2"])
        )
        from markupsafe import Markup

        env.filters["safe_table"] = lambda s: Markup(s)
        tpl = env.get_template("report.html.j2")
        return tpl.render(report=self, version=_version())

    def write(self, path: str | os.PathLike) -> Path:
        """Write the report atomically; returns the absolute path."""
        path = Path(path).resolve()
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(self.render(), encoding="utf-8")
        tmp.replace(path)
        return path


def _version() -> str:
    try:
        import pluralis

        return getattr(pluralis, "__version__", "")
    except Exception:  # pragma: no cover
        return ""


def escape(text: str) -> str:
    """HTML-escape a string (for callers building their own snippets).

    Example
    -------
    >>> escape("<b>")
    '&lt;b&gt;'
    """
    return html.escape(text)
