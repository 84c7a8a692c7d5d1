"""The report of a simulated PRISM-protocol study (the HTML that ``pluralis demo`` writes).

Sections: what was simulated (clearly labelled), the census-grounded panel (fit to the census,
traits, example personas), the models in the loop, rankings by group with bootstrap CIs,
recovery of the simulation's ground truth, welfare of populations, representativeness, and the
method. Every analysis section is optional: it appears when its results are there.
"""

from __future__ import annotations

import traceback
from pathlib import Path
from typing import Any

import pandas as pd

from pluralis.report import plots
from pluralis.report.html import Report

BANNER = ("SIMULATED STUDY — every participant is a synthetic persona (source = \"simulated\"); ratings come from "
          "an explicit preference model or LLM role-play, not from people. Use it to test designs and analyses, "
          "not as evidence about real preferences.")

MODEL_EQUATION = """u[j, r] = q[m] + sum_g shift[g, m]·1[j in g]
        + θ_len[j]·log(1 + length/100) + θ_ref[j]·refusal + θ_hedge[j]·hedging + θ_enum[j]·enumeration
        + λ[j]·κ[type]·stance + η[j, m] + ε[j, r]
score = clip(round(center[j] + spread[j] · 16 · u), 1, 100)
θ[j] = base + trait effects (Big Five, age) + style effects + stated-preference effects;  λ[j] = -0.7 · political lean[j]"""


def _safe(section, what: str, fn, notes: list[str]) -> None:
    try:
        fn()
    except ImportError as e:
        section.text(f"{what}: not available ({e.name or e} is not installed).")
    except Exception as e:  # a broken plot must not lose the rest of the report
        notes.append(f"report: {what} failed: {type(e).__name__}: {e}")
        notes.append(traceback.format_exc(limit=2))
        section.text(f"{what}: could not be drawn ({type(e).__name__}: {e}).")


def _persona_cards(sim, k_per_country: int = 2) -> list[dict]:
    cards = []
    seen: dict[str, int] = {}
    for p in sim.study.survey:
        persona = p.persona or {}
        c = persona.get("country", "?")
        if seen.get(c, 0) >= k_per_country:
            continue
        seen[c] = seen.get(c, 0) + 1
        b5 = persona.get("big_five", {})
        cards.append({"title": f"{p.user_id} ({c}, simulated)", "rows": [
            ("Census cell", f"{p.age}, {p.gender}, {persona.get('census_group', p.ethnicity.categorised)}"),
            ("Also", f"{p.education}; {p.employment_status}; {p.marital_status}; {p.religion.categorised}; "
                     f"{persona.get('region', '')}"),
            ("Traits", ", ".join(f"{k[0].upper()} {v:+.1f}" for k, v in b5.items())
             + f"; values: {', '.join(persona.get('schwartz_values', []))}; lean {persona.get('political_lean', 0):+.1f}; "
               f"style: {persona.get('communication_style', '')}"),
            ("Self-description", p.self_description),
            ("Constitution", p.system_string),
        ]})
    return cards


def write_study_report(path: str | Path, *, panel, sim, analyses: dict[str, Any], store_path: str | Path | None = None,
                       config=None, notes: list[str] | None = None, timings: dict[str, float] | None = None,
                       title: str = "Pluralis demo: a simulated PRISM-protocol study") -> Path:
    """Write the study report (one self-contained HTML file) and return its path.

    ``panel``: the persona panel; ``sim``: :class:`pluralis.personas.simulate.SimulationResult`;
    ``analyses``: :func:`pluralis.personas.pipeline.analyse` output.

    Example
    -------
    >>> import tempfile, os
    >>> from pluralis.personas.generator import generate_personas
    >>> from pluralis.personas.simulate import simulate_study
    >>> panel = generate_personas(8, seed=0)
    >>> sim = simulate_study(panel, seed=0, conversations_per_type=1)
    >>> p = write_study_report(os.path.join(tempfile.mkdtemp(), "r.html"), panel=panel, sim=sim, analyses={})
    >>> p.exists()
    True
    """
    notes = notes if notes is not None else []
    timings = timings or {}
    study = sim.study
    frames = analyses.get("frames") or study.frames()
    survey = analyses.get("survey")
    if survey is None:
        survey = frames.survey
    counts = study.counts()
    by_country = survey["study_locale"].str.upper().value_counts().to_dict() if "study_locale" in survey else {}
    r = Report(title, subtitle=f"{counts['survey']:,} synthetic participants ({', '.join(f'{k} {v:,}' for k, v in by_country.items())}), "
                               f"{counts['conversations']:,} conversations, {counts['utterances']:,} rated responses",
               banner=BANNER)

    # -- overview --------------------------------------------------------------------------------------
    s = r.section("Overview", "What was simulated, and where it is stored.")
    actor = sim.config.get("actor", "preference-model")
    s.kv({
        "participants": counts["survey"], "conversations": counts["conversations"],
        "rated responses": counts["utterances"], "models in the loop": len(sim.config.get("models", [])),
        "participant actions by": {"preference-model": "preference-model simulation (no LLM)",
                                   "llm-roleplay": "LLM role-play (fallback: preference model)"}.get(actor, actor),
        "fallback actions": sim.stats.get("fallbacks", 0), "seed": sim.config.get("seed"),
        "store": str(store_path) if store_path else "—",
        "time": ", ".join(f"{k} {v:.1f} s" for k, v in timings.items()) or "—",
    })
    if sim.stats.get("roleplay_log"):
        s.kv(sim.stats["roleplay_log"], caption="LLM calls of the role-play (tokens and cost; see roleplay_calls.jsonl)")

    # -- panel -------------------------------------------------------------------------------------------
    s = r.section("The synthetic panel",
                  "Personas are drawn jointly over age band × sex × ethnicity from the census tables shipped with "
                  "Pluralis (ONS 2021 England & Wales; ACS 2022 US), then given conditionally sampled attributes "
                  "(education, employment, marital status, religion, region) and idiosyncratic traits.")
    _safe(s, "census fit", lambda: s.figure(plots.plot_census_fit(survey),
                                             "Panel vs census shares per margin (grey: census, blue: panel)."), notes)
    tvd = panel.census_tvd()
    s.table(pd.DataFrame(tvd).T.rename_axis("country").reset_index().rename(
        columns=lambda c: f"TVD {c}" if c != "country" else c), caption="Total variation distance to the census "
            "(joint = 60 cells of age × sex × ethnicity; margins one-way)", digits=4)
    _safe(s, "traits", lambda: s.figure(plots.plot_traits(panel.data), "Trait profiles of the panel."), notes)
    s.cards(_persona_cards(sim), caption="Example personas with their rendered self-description and constitution "
                                         "(what they want from an AI), as entered in the survey.")

    # -- models ------------------------------------------------------------------------------------------
    s = r.section("Models in the loop", "Each opening prompt goes to 4 models at random (PRISM protocol); later "
                                        "turns get 2 samples of the highest-rated model.")
    styles = sim.config.get("styles")
    if styles:
        s.table(pd.DataFrame(styles)[["name", "description", "mean_sentences", "p_enumeration", "p_hedge",
                                      "p_refusal", "stance", "quality"]],
                caption="Simulated models (canned text in distinct styles; 'quality' is their latent quality q).",
                digits=2)
    else:
        s.text("Models: " + ", ".join(sim.config.get("models", [])))
    _safe(s, "score distributions", lambda: s.figure(plots.plot_score_distributions(frames.utterances),
                                                     "Scores per model, opening turns."), notes)
    if study.conversations:
        c = study.conversations[0]
        lines = []
        for item in c.conversation_history:
            if item.role == "user":
                lines.append(f"[turn {item.turn}] participant: {item.content}")
            else:
                mark = " (chosen)" if item.if_chosen else ""
                lines.append(f"    {item.model_name} → score {item.score}{mark}: {item.content[:220]}")
        lines.append(f"open feedback: {c.open_feedback}")
        s.pre("\n".join(lines), caption=f"An example conversation ({c.conversation_type}).")

    # -- rankings ------------------------------------------------------------------------------------------
    res = analyses.get("rankings")
    s = r.section("Rankings by group", "Models ranked from pairwise battles of opening-turn ratings "
                                       "(ties within 5 points), overall and per group, with percentile intervals from "
                                       "a bootstrap over participants. Filled markers: the rank shift against the "
                                       "overall ranking is significant.")
    if res is None:
        s.text("The ranking engine (pluralis.analysis.subgroups) is not available, so no rankings were computed.")
    else:
        t = res.table
        from pluralis.analysis import plots_ranking

        _safe(s, "overall ranking", lambda: s.figure(plots_ranking.plot_scores(res.overall),
                                                     "Overall scores with bootstrap intervals."), notes)
        for field in dict.fromkeys(t.loc[t["by"] != "(all)", "by"]):
            _safe(s, f"ranks by {field}", lambda f=field: s.figure(
                plots_ranking.plot_subgroup_ranks(res, by=f, title=f"Model ranks by {f}"),
                f"Rank (with interval) of every model per {f}; black = overall."), notes)
        wide = res.ranks_wide()
        wide.columns = [g if b == "(all)" else f"{b}={g}" for b, g in wide.columns]
        s.table(wide.reset_index(), caption="Rank of each model per group.", digits=0)
        shifts = res.shifts(significant_only=True)
        if len(shifts):
            s.table(shifts[["by", "group", "model", "overall_rank", "rank", "shift", "shift_lo", "shift_hi"]],
                    caption="Significant rank shifts against the overall ranking.", digits=1, max_rows=25)
        if res.skipped:
            s.text("Skipped small groups: " + "; ".join(f"{k[0]}={k[1]} ({v})" for k, v in res.skipped.items()))

    rec = analyses.get("recovery")
    if rec is not None and len(rec):
        s = r.section("Recovering the simulated truth",
                      "Because the participants are simulated, the true ranking of every group is known: the "
                      "expected utility of each model under the preference model, averaged over the group. "
                      "Kendall's tau compares it with the estimated ranking.")
        taus = rec.groupby(["by", "group"], sort=False)["kendall_tau"].first().reset_index()
        s.table(taus, caption="Kendall's tau between estimated and true ranking per group.", digits=2)
        _safe(s, "truth recovery", lambda: s.figure(plots.plot_truth_recovery(rec.assign(
            group=rec["by"] + "=" + rec["group"].astype(str))), "Estimated vs true rank (each dot a model in a group)."),
            notes)

    # -- welfare ------------------------------------------------------------------------------------------------
    welfare = analyses.get("welfare")
    s = r.section("Welfare of populations", "PRISM's seat-of-power experiment: a sample of n participants picks "
                                            "the model with the highest mean rating (or choice share); the welfare "
                                            "of each population under that model is recorded over many draws.")
    if not welfare:
        s.text("The welfare analysis (pluralis.analysis.welfare) is not available, so it was not run.")
    else:
        for country, wres in welfare.items():
            _safe(s, f"welfare {country}", lambda w=wres, c=country: s.figure(
                w.plot(), f"{c}: welfare distributions per population and sampling scheme."), notes)
            _safe(s, f"welfare table {country}", lambda w=wres, c=country: s.table(
                w.table("rating").reset_index(), caption=f"{c}: mean MEANRATING welfare (D: FOSD by the "
                                                         f"reference scheme; d: FOSDs it)."), notes)
            best = wres.best[wres.best["measure"] == "choice"]
            for _, row in best.iterrows():
                s.text(f"{country} / {row['population']}: the best model ({row['best_model']}) is chosen "
                       f"{row['best_welfare']:.1%} of the time it is shown, so {row['prefer_other']:.1%} "
                       "prefer another model.")

    # -- representativeness ------------------------------------------------------------------------------------
    reps = analyses.get("representativeness")
    s = r.section("Representativeness", "Sample vs census per margin (percentage points, sample minus census).")
    if not reps:
        s.text("The representativeness analysis is not available.")
    else:
        from pluralis.analysis.plots_welfare import plot_representativeness

        for country, rep in reps.items():
            _safe(s, f"representativeness {country}", lambda rp=rep, c=country: s.figure(
                plot_representativeness(rp, level="margins"), f"{c}: sample minus census, per category."), notes)
            s.table(rep.summary(), caption=f"{country}: total variation distance and largest deviations.", digits=4)

    # -- method ------------------------------------------------------------------------------------------------------
    s = r.section("Method", "How the simulated participants decide (pluralis.personas.preference).")
    s.pre(MODEL_EQUATION, caption="The preference model (q: latent model quality; η: individual taste; ε: noise).")
    s.text("Features are computed on the real response texts: length, refusal phrases, hedging phrases, "
           "numbered/bulleted lists and a stance lexicon (progressive vs conservative cues). Conditional tables "
           "and trait equations are documented, approximate assumptions (pluralis/personas/resources/SOURCES.md).")
    if notes:
        s.pre("\n".join(n for n in notes if n), caption="Notes from this run.")
    return r.write(path)
