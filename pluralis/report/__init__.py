"""HTML reports with embedded plots (Jinja2 template, matplotlib PNGs in one self-contained file).

* :class:`pluralis.report.html.Report` — build a report section by section and write it.
* :mod:`pluralis.report.plots` — report plots (census fit, score distributions, truth recovery, traits, fidelity).
* :func:`pluralis.report.study.study_report` — the report of a (simulated) study: panel, rankings by group
  with CIs, welfare, representativeness, ground-truth recovery.
"""

from pluralis.report.html import Report, Section

__all__ = ["Report", "Section"]
