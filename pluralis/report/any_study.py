"""The report of ANY study (``pluralis report STUDY --out DIR``): only the sections its data supports.

A study read through the data-format registry (:func:`pluralis.data.io.registry.load_study`: an
imported PRISM-shaped folder, an Arena battles file, a parquet folder, a collected study store, ...)
gets the same HTML report as the demo, section by section, each only when the data is there:

============================  ==================================================================
section                        needs
============================  ==================================================================
Participants                   a survey
Representativeness             survey participants from a country with census targets (US, UK)
Rankings                       rated responses (battles from the ratings) or pairwise comparisons
Rankings by group              rankings and a survey (groups of at least ``min_participants``)
Group contrasts                as Rankings by group: every two groups of a field compared, with tests
Welfare of populations         rated responses and survey participants from the US or UK
Response features              response texts
============================  ==================================================================

A section that cannot be shown is listed at the top of the report with the reason. Figures are
numbered and also written as PNG and SVG, tables as CSV, next to ``report.html``.

Example
-------
>>> import tempfile, pathlib
>>> from pluralis.data.synthetic import generate_study
>>> from pluralis.data.io.prism import write_prism
>>> folder = pathlib.Path(tempfile.mkdtemp())
>>> _ = write_prism(generate_study(n_participants=40, seed=0), folder / "study")
>>> res = write_any_report(folder / "study", folder / "report", bootstrap=10, draws=10)
>>> "Rankings" in res.sections and res.path.name
'report.html'
"""

from __future__ import annotations

import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from pluralis.census.targets import COUNTRIES
from pluralis.data.io.registry import detect_format, load_study
from pluralis.data.study import Study
from pluralis.errors import ConfigError, PluralisError
from pluralis.report import plots
from pluralis.report.html import Report, Section
from pluralis.report.study import field_label, group_label, welfare_caption, welfare_figure

#: Survey fields the group rankings use, when present (the first ones that exist).
GROUP_FIELDS: tuple[str, ...] = ("study_locale", "age", "gender")


@dataclass
class AnyReportResult:
    """What :func:`write_any_report` wrote: the report's path, the sections shown and those skipped (with why).

    Example
    -------
    >>> AnyReportResult(Path("r.html"), ["Overview"], {"Welfare": "no survey"}).skipped["Welfare"]
    'no survey'
    """

    path: Path
    sections: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def _try(section: Section, what: str, fn, notes: list[str]) -> Any:
    try:
        return fn()
    except ImportError as e:
        section.text(f"{what}: not available ({e.name or e} is not installed).")
    except Exception as e:  # one failing analysis must not lose the report
        notes.append(f"{what} failed: {type(e).__name__}: {e}")
        notes.append(traceback.format_exc(limit=2))
        section.text(f"{what}: could not be computed ({type(e).__name__}: {e}).")
    return None


def study_battles(study: Study, frames=None) -> tuple[pd.DataFrame, str]:
    """The pairwise battles of a study and where they came from (ratings, else comparisons).

    Parameters
    ----------
    study
        any study.
    frames
        ``study.frames()`` when already computed.

    Returns
    -------
    tuple of (pandas.DataFrame, str)
        battles (``model_a, model_b, winner, user_id``, ...) and ``"ratings"``, ``"comparisons"`` or
        ``"none"``.

    Example
    -------
    >>> from pluralis.data.synthetic import generate_study
    >>> b, how = study_battles(generate_study(n_participants=5, seed=0))
    >>> how, len(b) > 0
    ('ratings', True)
    """
    from pluralis.ranking.battles import battles_from_comparisons, extract_battles

    frames = frames if frames is not None else study.frames()
    u = frames.utterances
    if len(u) and u["score"].notna().any():
        b = extract_battles(u)
        if len(b):
            return b, "ratings"
    c = frames.comparisons
    if len(c):
        b = battles_from_comparisons(c)
        if len(b):
            return b, "comparisons"
    return pd.DataFrame(columns=["model_a", "model_b", "winner", "user_id"]), "none"


def _has_texts(frames) -> bool:
    u = frames.utterances
    if len(u) and u["model_response"].fillna("").astype(str).str.strip().ne("").any():
        return True
    c = frames.comparisons
    return bool(len(c) and "responses" in c and c["responses"].map(lambda r: bool(r) and any(r)).any())


def _response_texts(frames) -> pd.DataFrame:
    """``model, text`` of every response (rated responses, else the responses of comparisons)."""
    u = frames.utterances
    if len(u) and u["model_response"].notna().any():
        return pd.DataFrame({"model": u["model_name"].astype(str), "text": u["model_response"]})
    rows = [
        (m, t)
        for models, resp in zip(frames.comparisons["models"], frames.comparisons["responses"])
        if resp
        for m, t in zip(models, resp)
        if t
    ]
    return pd.DataFrame(rows, columns=["model", "text"])


def _records_per_participant(frames) -> pd.Series:
    """Rated responses (or else comparisons) per participant, named after what was counted."""
    tables = (("rated responses", frames.utterances, "user_id"), ("comparisons", frames.comparisons, "annotator_id"))
    for name, table, key in tables:
        if len(table) and key in table:
            return table.groupby(key).size().rename(name)
    return pd.Series(dtype=float, name="records")


def write_any_report(
    source: str | Path,
    out: str | Path,
    *,
    format: str | None = None,
    method: str = "bt",
    bootstrap: int = 200,
    draws: int = 300,
    seed: int = 0,
    min_participants: int = 10,
    by: tuple[str, ...] = GROUP_FIELDS,
    study: Study | None = None,
    title: str | None = None,
) -> AnyReportResult:
    """Write the report of any study to ``out/report.html`` (figures, tables as files beside it).

    Parameters
    ----------
    source
        the study (anything :func:`~pluralis.data.io.registry.load_study` reads: a PRISM folder, an
        Arena battles file, a store ``.sqlite``, ...).
    out
        the folder to write into (created).
    format
        the data format (default: detected).
    method
        ranking aggregator (see :mod:`pluralis.ranking.methods`).
    bootstrap
        bootstrap rounds of the rankings.
    draws
        welfare draws.
    seed
        random seed.
    min_participants
        smallest group ranked on its own.
    by
        survey fields to rank by (those present).
    study
        the study itself, when already loaded (``source`` is then only named in the report).
    title
        the report's title (default: from the source).

    Returns
    -------
    AnyReportResult

    Raises
    ------
    ConfigError
        an unknown format or a study with nothing to report.

    Example
    -------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "battles.jsonl"
    >>> rows = ['{"model_a": "a", "model_b": "b", "winner": "model_a", "judge": "u%d"}' % i for i in range(9)]
    >>> _ = p.write_text("\\n".join(rows + ['{"model_a": "b", "model_b": "a", "winner": "tie", "judge": "u1"}']))
    >>> res = write_any_report(p, p.parent / "rep", bootstrap=5)
    >>> sorted(res.skipped)[:3]
    ['Group contrasts', 'Rankings by group', 'Representativeness']
    """
    out = Path(out)
    fmt = format or (detect_format(source) if study is None else "given")
    if study is None:
        study = load_study(source, format=format)
    frames = study.frames()
    counts = study.counts()
    if not any(counts[k] for k in ("survey", "utterances", "comparisons")):
        raise ConfigError(f"{source}: the study has no participants, ratings or comparisons to report on")
    notes: list[str] = []
    r = Report(
        title or f"Study report: {Path(str(source)).name}",
        subtitle=", ".join(f"{v:,} {k}" for k, v in counts.items() if v) + f" (format: {fmt})",
    )
    survey = frames.survey
    has_survey = len(survey) > 0
    battles, battle_source = study_battles(study, frames)

    # -- overview -------------------------------------------------------------------------------------
    s = r.section("Overview", "What the study holds, as read.")
    s.kv({"source": str(source), "format": fmt, **{k: v for k, v in counts.items() if v}, "seed": seed})
    sources = pd.Series([str(p.source) for p in study.survey] or [str(c.source) for c in study.comparisons])
    if len(sources):
        s.text("Record sources: " + ", ".join(f"{k} ({v:,})" for k, v in sources.value_counts().items()) + ".")

    # -- participants -----------------------------------------------------------------------------------
    if has_survey:
        s = r.section("Participants", "Who took part: counts per category of the main survey fields.")
        per_person = _records_per_participant(frames)
        if len(per_person):
            s.text(
                f"{len(survey):,} participants; {per_person.name} per participant: median {per_person.median():g} "
                f"(range {per_person.min():g}–{per_person.max():g})."
            )
        for col in [c for c in ("study_locale", "age", "gender", "ethnicity_simplified") if c in survey]:
            vc = survey[col].fillna("(missing)").astype(str).value_counts().head(15)
            t = pd.DataFrame({field_label(col): [group_label(col, g) for g in vc.index], "participants": vc.values})
            t["%"] = 100 * t["participants"] / len(survey)
            s.table(t, caption=f"Participants by {field_label(col)} (largest 15 categories).", digits=1)
    else:
        r.skip("Participants", "the study has no survey (no participant demographics)")

    # -- representativeness ---------------------------------------------------------------------------------
    locale = survey["study_locale"].astype(str).str.upper() if has_survey and "study_locale" in survey else None
    census_countries = [c for c in COUNTRIES if locale is not None and (locale == c).any()]
    if not has_survey:
        r.skip("Representativeness", "no survey, so no demographics to compare with the census")
    elif not census_countries:
        r.skip("Representativeness", f"no participants from a country with census targets ({', '.join(COUNTRIES)})")
    else:
        s = r.section(
            "Representativeness",
            "Sample vs census shares per category (bars on a 0-based percentage scale; the labels give the "
            "difference, sample minus census, in percentage points).",
        )

        def rep():
            from pluralis.census.representativeness import representativeness

            for c in census_countries:
                rp = representativeness(survey[locale == c], c)
                s.figure(
                    plots.plot_representativeness_shares(rp),
                    f"{c}: share of the sample (blue) and of the census (grey) per age band, sex and ethnicity; "
                    "labels: sample minus census (pp).",
                )
                summ = rp.summary().copy()
                summ["tvd"] = 100 * summ["tvd"]
                s.table(
                    summ.rename(columns={"tvd": "TVD (pp)", "ess": "effective n"}),
                    caption=f"{c}: total variation distance to the census and the most over- and "
                    "under-represented categories (pp = percentage points).",
                    digits={"TVD (pp)": 2, "most_over_pp": 2, "most_under_pp": 2, "effective n": 0},
                )

        _try(s, "representativeness", rep, notes)

    # -- rankings -----------------------------------------------------------------------------------------
    ranked = None
    if battle_source == "none":
        r.skip("Rankings", "no rated responses and no pairwise comparisons")
    else:
        s = r.section(
            "Rankings",
            f"Models ranked from {len(battles):,} pairwise battles "
            + ("derived from the ratings of responses to the same prompt" if battle_source == "ratings" else "")
            + ("(the study's pairwise comparisons)" if battle_source == "comparisons" else "")
            + f"; method {method}, 95% percentile intervals from {bootstrap} bootstrap rounds over "
            + ("participants" if battles["user_id"].notna().any() else "battles")
            + ".",
        )

        def rank():
            from pluralis.ranking.plots import plot_scores
            from pluralis.ranking.uncertainty import bootstrap as run_bootstrap

            unit = "participants" if battles["user_id"].notna().all() else "battles"
            res = run_bootstrap(battles, method=method, rounds=max(bootstrap, 1), seed=seed, unit=unit)
            summ = res.summary()
            s.figure(plot_scores(res), "Overall scores with bootstrap intervals (higher = more preferred).")
            s.table(summ.reset_index() if "model" not in summ.columns else summ, caption="Overall ranking.")
            return res

        ranked = _try(s, "rankings", rank, notes)

    # -- rankings by group ---------------------------------------------------------------------------------
    fields = [b for b in by if has_survey and b in survey.columns]

    def skip_groups(reason: str) -> None:
        for title in ("Rankings by group", "Group contrasts"):
            r.skip(title, reason)

    if ranked is None:
        skip_groups("no overall ranking")
    elif not has_survey:
        skip_groups("no survey, so no groups of participants")
    elif not fields:
        skip_groups(f"the participants carry none of the grouping fields ({', '.join(by)})")
    elif not battles["user_id"].isin(survey["user_id"]).any():
        skip_groups("the battles' participants are not in the survey")
    else:
        s = r.section(
            "Rankings by group",
            f"Rank of each model per group with 95% intervals; groups of fewer than {min_participants} "
            "participants are left out. A filled marker: the group's rank differs significantly from the overall.",
        )

        def groups():
            from pluralis.ranking.subgroups import subgroup_rankings

            res = subgroup_rankings(
                battles,
                fields,
                survey=survey,
                conversations=frames.conversations if len(frames.conversations) else None,
                method=method,
                rounds=bootstrap,
                seed=seed,
                min_participants=min_participants,
                exclude=("Prefer not to say",),
            )
            t = res.table
            for f in dict.fromkeys(t.loc[t["by"] != "(all)", "by"]):
                s.figure(
                    plots.plot_group_ranks(t, by=f, label=field_label(f)),
                    f"Model ranks by {field_label(f)}: one panel per group (n = participants), dot = rank, "
                    "line = 95% interval; grey = overall rank.",
                )
            cols = ["by", "group", "model", "n_participants", "rank", "rank_lo", "rank_hi", "shift", "significant"]
            s.table(
                t[[c for c in cols if c in t.columns]].assign(by=[field_label(b) for b in t["by"]]),
                caption="Rank of every model in every group, with its interval and shift from the overall rank.",
                digits=1,
                max_rows=80,
            )

        _try(s, "rankings by group", groups, notes)

        s = r.section(
            "Group contrasts",
            "Does one group score a model differently from another? Differences of every model's score "
            f"({method}) between every two groups of a field, with 95% intervals from one joint bootstrap of "
            "participants; p-values adjusted by Holm over each field's models × group pairs; per field, a "
            "likelihood-ratio test (do the groups' Bradley–Terry worths differ at all?) and a permutation test.",
        )

        def contrasts():
            from pluralis.ranking.contrasts import CONTRAST_COLUMNS, group_contrasts
            from pluralis.ranking.plots import plot_contrasts

            res = group_contrasts(
                battles,
                fields,
                survey=survey,
                conversations=frames.conversations if len(frames.conversations) else None,
                method=method,
                rounds=max(bootstrap, 2),
                seed=seed,
                min_participants=min_participants,
                exclude=("Prefer not to say",),
                permutations=max(bootstrap, 2),
            )
            summary = res.summary()
            s.table(
                summary.assign(by=[field_label(b) for b in summary["by"]]),
                caption="Per field: groups compared, contrasts significant after Holm, omnibus p-values and the "
                "most certain difference (top_*).",
                digits=3,
            )
            for f in dict.fromkeys(res.contrasts["by"]):
                s.figure(
                    plot_contrasts(res, by=f, method=method, max_rows=25),
                    f"Group against group by {field_label(f)}: difference of each model's score (group − other; "
                    "n = participants) with its 95% interval; filled = significant after Holm's correction.",
                )
            cols = [c for c in CONTRAST_COLUMNS if c not in ("score_group", "score_other", "se")]
            s.table(
                res.contrasts[cols].assign(by=[field_label(b) for b in res.contrasts["by"]]),
                caption="Every contrast (the CSV beside the report has them all).",
                digits=4,
                max_rows=60,
            )

        _try(s, "group contrasts", contrasts, notes)

    # -- welfare ----------------------------------------------------------------------------------------------
    rated = len(frames.utterances) and frames.utterances["score"].notna().any()
    welfare_countries = [c for c in census_countries]
    if not rated:
        r.skip(
            "Welfare of populations",
            "no rated responses (the report's welfare needs each participant's ratings"
            + (
                "; for choice welfare of paired comparisons run: pluralis welfare DATA --by FIELD)"
                if len(frames.comparisons)
                else ")"
            ),
        )
    elif not welfare_countries:
        r.skip(
            "Welfare of populations",
            "no survey participants from the US or UK (populations are defined by census groups)"
            if has_survey
            else "no survey, so no populations",
        )
    else:
        s = r.section(
            "Welfare of populations",
            "PRISM's seat-of-power experiment: samples of participants drawn by a scheme pick the model they rate "
            "highest; the welfare of each population is its mean rating of (or choice rate for) that model.",
        )
        shown = 0
        reasons: list[str] = []
        for c in welfare_countries:
            try:
                from pluralis.welfare.engine import run_welfare

                w = run_welfare(frames.utterances, survey, country=c, n_draws=draws, seed=seed + 1)
            except (ConfigError, PluralisError) as e:
                reasons.append(f"{c}: {str(e).split(';')[0]}")
                s.text(f"{c}: skipped ({reasons[-1]}).")
                continue
            except ImportError as e:
                s.text(f"{c}: not available ({e.name or e} is not installed).")
                continue
            shown += 1
            for m in dict.fromkeys(w.summary["measure"]):
                _try(
                    s,
                    f"welfare {c} {m}",
                    lambda w=w, c=c, m=m: s.figure(
                        welfare_figure(w, m), welfare_caption(c, m, w.config.get("reference")), dpi=130
                    ),
                    notes,
                )
            _try(
                s,
                f"welfare table {c}",
                lambda w=w, c=c: s.table(
                    w.table("rating").reset_index(), caption=f"{c}: mean rating welfare per population and scheme."
                ),
                notes,
            )
        if not shown:
            r.sections.remove(s)
            r.skip("Welfare of populations", "; ".join(reasons) or "no country could be analysed")

    # -- features ---------------------------------------------------------------------------------------------
    if not _has_texts(frames):
        r.skip("Response features", "no response texts")
    else:
        s = r.section(
            "Response features",
            "Mean features of each model's responses (PRISM's: length in characters, refusal, hedging, "
            "lists, ...), computed on the response texts.",
        )

        def feats():
            from pluralis.features.response import response_features

            texts = _response_texts(frames)
            f = response_features(texts["text"])
            t = f.groupby(texts["model"].to_numpy()).mean()
            t.insert(0, "responses", texts.groupby("model").size().reindex(t.index).to_numpy())
            s.table(t.rename_axis("model").reset_index(), caption="Mean response features per model.", digits=2)

        _try(s, "response features", feats, notes)

    if notes:
        r.section("Notes", "Steps that failed.").pre("\n".join(notes))
    path = r.write(out / "report.html")
    return AnyReportResult(path, [sec.title for sec in r.sections], dict(r.skipped), notes)
