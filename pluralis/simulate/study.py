"""Simulated PRISM-protocol studies: personas take the collection platform's protocol.

:func:`simulate_study` runs every persona of a panel through
:class:`pluralis.collect.protocol.ProtocolSession` — the engine behind the web app — with a
simulated participant agent (:mod:`pluralis.simulate.agents`): the preference model by default,
LLM role-play when a :class:`~pluralis.simulate.roleplay.RolePlayConfig` is given. Models in the
loop are simulated models (:mod:`pluralis.simulate.responders`) unless real ones are given
(any ``pluralis.llm`` ModelSpec / ChatBackend).

The result is an ordinary :class:`pluralis.data.Study` (every analysis and the store accept it),
with ``source="simulated"`` on every participant, the persona's traits in ``Participant.persona``
(``persona["simulation"]`` says which actor produced the actions and how many fell back), and a
``simulation`` field on every conversation. Release-time flags are set as PRISM sets them:
``included_in_balanced_subset`` (App. K) and ``included_in_{US,UK}_REP`` — the panel is drawn from
the census, so every balanced participant of a country is in its census-representative sample.

Reproducibility: everything is seeded per persona (session seed, agent, simulated models and a
deterministic clock), so the same panel and seed give the same study on any executor.

Example
-------
>>> from pluralis.simulate.generator import generate_personas
>>> res = simulate_study(generate_personas({"US": 10, "UK": 10}, seed=0), seed=0)
>>> res.study.counts()["conversations"], {p.source for p in res.study.survey}
(120, {'simulated'})
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from pluralis.data import vocab
from pluralis.data.study import Study
from pluralis.errors import ConfigError
from pluralis.simulate import texts
from pluralis.simulate.agents import Agent, PreferenceAgent, run_session
from pluralis.simulate.executors import check_executor, map_chunks
from pluralis.simulate.generator import PersonaPanel
from pluralis.simulate.preference import PreferenceModel, SimulationTruth, model_feature_table
from pluralis.simulate.responders import DEFAULT_STYLES, PROVIDER, ModelStyle, SimulatedBackend, style_quality

#: Epoch seconds of the simulated study's first survey (2024-03-01 00:00 UTC); timestamps are deterministic.
SIM_START = 1709251200.0
#: ``executor="auto"`` simulates in this process below this many participants, on a process pool above.
AUTO_PROCESS_MIN = 2000
MEMBER_COLUMNS = (
    "age",
    "gender",
    "study_locale",
    "location_special_region",
    "ethnicity_simplified",
    "ethnicity_categorised",
    "religion_simplified",
    "education",
    "employment_status",
    "marital_status",
    "english_proficiency",
    "lm_familiarity",
)


@dataclass
class SimulationResult:
    """A simulated study with its answer key.

    ``study``: the records; ``truth``: :class:`~pluralis.simulate.preference.SimulationTruth` (ground
    truth of the preference model; for role-play it describes the fallback model);
    ``stats``: counts (participants, conversations, actions, fallbacks, model-call failures, seconds);
    ``failures``: model calls that failed (from the engine).
    """

    study: Study
    truth: SimulationTruth | None
    stats: dict[str, Any] = field(default_factory=dict)
    failures: list[dict] = field(default_factory=list)
    config: dict[str, Any] = field(default_factory=dict)


class _Clock:
    """Deterministic clock: each call advances a few seconds."""

    def __init__(self, start: float):
        self.t = start

    def __call__(self) -> float:
        self.t += 11.0
        return self.t


def _constant_gate(value: bool) -> Callable[[Any], bool]:
    """A quota gate that always answers ``value`` (admission decided before the session)."""
    return lambda _cell: value


def _seed_for(seed: int, key: str) -> int:
    return int.from_bytes(hashlib.blake2b(f"{seed}:{key}".encode(), digest_size=6).digest(), "big")


def study_configs(
    base=None,
    model_names: Sequence[str] = (),
    countries: Sequence[str] = ("US", "UK"),
    *,
    study_id: str = "pluralis-sim",
    conversations_per_type: int | None = None,
) -> dict[str, Any]:
    """One collection :class:`~pluralis.collect.config.StudyConfig` per country (study id and locale set,
    ``source="simulated"``), with the given models (simulated ones get a placeholder endpoint).

    Parameters
    ----------
    base
        a :class:`~pluralis.collect.config.StudyConfig` to start from (default: PRISM's).
    model_names
        the models of the study.
    countries
        one config per country.
    study_id
        prefix of the study ids.
    conversations_per_type
        overrides the per-type conversation quota.

    Returns
    -------
    dict
        ``{country: StudyConfig}``.

    Example
    -------
    >>> cfgs = study_configs(None, ["sim-a", "sim-b"], ["US"])
    >>> cfgs["US"].study.locale, cfgs["US"].study.source, cfgs["US"].model_names()
    ('us', 'simulated', ['sim-a', 'sim-b'])
    """
    from pluralis.census.tables import COUNTRY_INFO
    from pluralis.collect.config import StudyConfig

    base = base or StudyConfig()
    data = base.model_dump(mode="json")
    if model_names:
        keep = {m["name"]: m for m in data["models"]}
        data["models"] = [
            keep.get(n, {"name": n, "base_url": "http://127.0.0.1:9/v1", "provider": PROVIDER}) for n in model_names
        ]
    if conversations_per_type is not None:
        if conversations_per_type < 0:
            raise ConfigError(f"conversations per type must be >= 0, got {conversations_per_type}")
        for t in data["conversations"]["types"]:
            t["quota"] = int(conversations_per_type)
    out = {}
    for c in countries:
        d = dict(data)
        d["study"] = {
            **data["study"],
            "id": f"{study_id}-{COUNTRY_INFO[c][5]}",
            "locale": COUNTRY_INFO[c][5],
            "source": "simulated",
        }
        if data.get("quotas", {}).get("kind") == "census":
            d["quotas"] = {**data["quotas"], "country": c}  # census cells of the country this study samples
        try:
            out[c] = StudyConfig.model_validate(d)
        except Exception as e:  # pydantic ValidationError -> a clear message
            raise ConfigError(f"invalid study for the simulation: {e}") from None
    return out


async def _run_chunk_async(
    rows,
    weights,
    members,
    configs,
    styles,
    model_specs,
    preference,
    seed,
    start,
    max_concurrency,
    roleplay,
    cost_log,
    on_done=None,
    admitted=None,
    prompt_bank=None,
) -> list[tuple]:
    from pluralis.collect.protocol import ProtocolSession

    sem = asyncio.Semaphore(max(1, max_concurrency))
    # real models: bound the calls in flight across participants (simulated models answer instantly)
    limiter = asyncio.Semaphore(max(1, max_concurrency)) if model_specs is not None else None
    names = list(configs[next(iter(configs))].model_names())

    async def one(k: int, row: dict, w: dict, member: dict, admit: bool | None):
        async with sem:
            pid = str(row["persona_id"])
            pseed = _seed_for(seed, pid)
            if model_specs is None:
                models = {s.name: SimulatedBackend(s, seed=pseed) for s in styles}
            else:
                models = model_specs
            base = PreferenceAgent(
                row, w, model=preference, models=names, member=member, seed=seed, prompt_bank=prompt_bank
            )
            agent: Agent = base
            if roleplay is not None:
                from pluralis.simulate.roleplay import RolePlayAgent

                agent = RolePlayAgent(roleplay, base, cost_log=cost_log)
            persona = texts.persona_summary(row, w)
            session = ProtocolSession(
                configs[str(row["country"])],
                user_id=pid,
                source="simulated",
                persona=persona,
                seed=pseed,
                models=models,
                clock=_Clock(SIM_START + 97.0 * (start + k)),
                limiter=limiter,
                quota_gate=None if admit is None else _constant_gate(admit),
            )
            await run_session(session, agent)
            study = session.records()
            sim = {"actor": getattr(agent, "actor", "preference-model"), **agent.stats}
            for p in study.survey:
                p.persona = {**(p.persona or {}), "simulation": sim}
            for c in study.conversations:
                setattr(c, "simulation", {"actor": sim["actor"], "source": "simulated"})  # noqa: B010 (an extra field)
            failures = [f.model_dump() for f in session.state.failures]
            if on_done is not None:
                on_done(1)
            return study, sim, failures, session.step.value

    admitted = admitted if admitted is not None else [None] * len(rows)
    return await asyncio.gather(
        *(one(k, r, w, m, a) for k, (r, w, m, a) in enumerate(zip(rows, weights, members, admitted)))
    )


def _simulate_chunk(
    rows,
    weights,
    members,
    configs,
    styles,
    model_specs,
    preference,
    seed,
    start,
    max_concurrency,
    roleplay=None,
    cost_log=None,
    admitted=None,
    prompt_bank=None,
    on_done=None,
) -> list[tuple]:
    """Simulate one chunk of participants (module-level: runs in process pools and on Ray).
    ``on_done(1)`` is called per finished participant (in-process runs only)."""
    return asyncio.run(
        _run_chunk_async(
            rows,
            weights,
            members,
            configs,
            styles,
            model_specs,
            preference,
            seed,
            start,
            max_concurrency,
            roleplay,
            cost_log,
            on_done,
            admitted,
            prompt_bank,
        )
    )


def quota_admission(
    rows: Sequence[Mapping[str, Any]], weights: Sequence[Mapping[str, float]], configs: Mapping[str, Any]
) -> tuple[list[bool] | None, list[dict]]:
    """Who the study's sample quotas admit to conversations, decided up front in panel order.

    The collection engine asks a quota gate whether a participant's cell (from their survey answers) has
    room; the web app counts in the database, simulated runs count here — once, in the order of the
    panel, so the outcome is the same on every executor (participants of a chunk run concurrently).
    Returns ``(admitted, fill)``: one flag per row (``None`` when no study has quotas) and one fill row per
    quota cell (country, cell, target, filled, full).

    Parameters
    ----------
    rows
        the panel's rows (dicts).
    weights
        the personas' preference weights (dicts), for their survey answers.
    configs
        ``{country: StudyConfig}`` (:func:`study_configs`).

    Returns
    -------
    tuple of (list of bool or None, list of dict)

    Example
    -------
    >>> from pluralis.collect.config import StudyConfig
    >>> from pluralis.simulate.generator import generate_personas
    >>> from pluralis.simulate.preference import PreferenceModel
    >>> p = generate_personas(6, country="UK", seed=0)
    >>> cfg = StudyConfig.model_validate({"quotas": {"kind": "cells", "cells": [
    ...     {"name": "women", "match": {"gender": "Female"}, "target": 1}]}})
    >>> admitted, fill = quota_admission(p.data.to_dict("records"),
    ...                                  PreferenceModel().person_weights(p.data).to_dict("records"), {"UK": cfg})
    >>> sum(not a for a in admitted) == max(0, int((p.data["gender"] == "Female").sum()) - 1), fill[0]["filled"]
    (True, 1)
    """
    from pluralis.collect.quotas import QuotaPlan, QuotaTracker

    trackers = {c: QuotaTracker(QuotaPlan(cfg.quotas)) for c, cfg in configs.items() if cfg.quotas.kind != "none"}
    if not trackers:
        return None, []
    admitted = []
    for row, w in zip(rows, weights):
        tracker = trackers.get(str(row["country"]))
        if tracker is None:
            admitted.append(True)
            continue
        admitted.append(tracker.gate(tracker.plan.cell_for(texts.survey_answers(row, w))))
    fill = [{"country": c, **f} for c, t in trackers.items() for f in t.plan.fill(t.counts)]
    return admitted, fill


def release_flags(study: Study, *, seed: int = 0) -> None:
    """Set PRISM's release-time flags in place: the balanced subset (App. K; ``m`` = fewest conversations
    of a type, the first ``m`` of each type kept) and ``included_in_{US,UK}_REP`` for balanced
    participants of census-sampled simulated panels.

    Parameters
    ----------
    study
        the simulated study (changed in place).
    seed
        random seed of the balanced subset.

    Example
    -------
    >>> from pluralis.simulate.generator import generate_personas
    >>> s = simulate_study(generate_personas(3, seed=0), seed=0).study
    >>> all(p.included_in_balanced_subset and p.included_in_US_REP for p in s.survey)
    True
    """
    by_user: dict[str, dict[str, list]] = {}
    for c in study.conversations:
        by_user.setdefault(c.user_id, {}).setdefault(c.conversation_type, []).append(c)
    kept_users = set()
    types = {c.conversation_type for c in study.conversations}
    kept_convs = set()
    for user, groups in by_user.items():
        if set(groups) != types or not types:
            continue
        m = min(len(g) for g in groups.values())
        for g in groups.values():
            for c in g[:m]:
                kept_convs.add(c.conversation_id)
        kept_users.add(user)
    for c in study.conversations:
        c.included_in_balanced_subset = c.conversation_id in kept_convs
    for u in study.utterances:
        u.included_in_balanced_subset = u.conversation_id in kept_convs
    for p in study.survey:
        p.included_in_balanced_subset = p.user_id in kept_users
        census_panel = p.source == "simulated" and p.gender in ("Male", "Female")
        p.included_in_US_REP = bool(p.included_in_balanced_subset and census_panel and p.study_locale == "us")
        p.included_in_UK_REP = bool(p.included_in_balanced_subset and census_panel and p.study_locale == "uk")


def simulate_study(
    panel: PersonaPanel,
    *,
    seed: int = 0,
    models: Mapping[str, Any] | Sequence[Any] | None = None,
    styles: Sequence[ModelStyle] = DEFAULT_STYLES,
    study=None,
    preference: PreferenceModel | None = None,
    roleplay=None,
    conversations_per_type: int | None = None,
    executor: str = "auto",
    workers: int | None = None,
    chunk_size: int = 100,
    max_concurrency: int = 32,
    progress: Callable[[int], None] | None = None,
    cost_log=None,
    ray_address: str | None = None,
    ray_init: dict | None = None,
    prompt_bank: texts.PromptBank | None = None,
) -> SimulationResult:
    """Run every persona of ``panel`` through the PRISM protocol (see the module docstring).

    Parameters
    ----------
    models
        ``None``: simulated models of ``styles`` (offline). Otherwise real models: a mapping
        ``{name: ModelSpec | ChatBackend}`` or a list of ModelSpecs (e.g. a local server).
    study
        a collection ``StudyConfig`` to take the protocol settings from (conversation quotas, turns,
        sampling, sample quotas); default PRISM's. ``conversations_per_type`` overrides the per-type
        quota. Sample quotas are applied as the web app applies them (:func:`quota_admission`): with
        ``over_quota = "screen_out"`` a persona in a full cell keeps its survey (``survey_only``) and
        has no conversations; ``stats["screened_out"]`` counts them, ``config["quota_fill"]`` shows
        each cell's fill (``census`` quotas use each country's own census cells).
    preference
        the preference model (default: latent quality of the simulated styles, no planted shifts).
    roleplay
        a :class:`pluralis.simulate.roleplay.RolePlayConfig`: an LLM role-plays the personas
        (runs in this process; LLM calls are concurrent, up to ``roleplay.max_concurrency``).
    executor, workers, chunk_size
        participants are simulated in chunks on ``"auto"``/``"serial"``/``"process"``/``"ray"``.
    progress
        ``progress(k)`` after each chunk of ``k`` participants.
    prompt_bank
        a :class:`pluralis.simulate.texts.PromptBank`: personas ask its opening prompts and follow-ups
        (real models answer each bank prompt once; see ``pluralis demo``). Default: prompts written from
        each persona's traits.

    Returns
    -------
    SimulationResult

    Example
    -------
    >>> from pluralis.simulate.generator import generate_personas
    >>> res = simulate_study(generate_personas(4, country="UK", seed=1), seed=2, conversations_per_type=1)
    >>> res.study.counts()["conversations"], res.stats["participants"]
    (12, 4)
    """
    check_executor(executor)
    if len(panel) == 0:
        raise ConfigError("the persona panel is empty")
    if chunk_size < 1:
        raise ConfigError(f"chunk_size must be >= 1, got {chunk_size}")
    started = time.perf_counter()
    model_specs = None
    if models is None:
        styles = list(styles)
        if len(styles) < 2:
            raise ConfigError("a PRISM-protocol study needs at least two models")
        names = [s.name for s in styles]
        if len(set(names)) != len(names):
            raise ConfigError(f"duplicate simulated model names: {names}")
        preference = preference or PreferenceModel(quality=style_quality(styles))
    else:
        if isinstance(models, Mapping):
            model_specs = dict(models)
        else:
            model_specs = {m.name if hasattr(m, "name") else m.spec.name: m for m in models}
        names = list(model_specs)
        if len(names) < 1:
            raise ConfigError("give at least one model")
        preference = preference or PreferenceModel()
    countries = [str(c) for c in pd.unique(panel.data["country"])]
    configs = study_configs(study, names, countries, conversations_per_type=conversations_per_type)
    if roleplay is not None:
        executor = "serial"
        chunk_size = max(chunk_size, len(panel))
        roleplay = roleplay.resolved()  # response_format="auto": ask the endpoint once, before the run
    weights = preference.person_weights(panel.data)
    survey_like = panel.survey_frame()
    members = texts.records(survey_like[[c for c in MEMBER_COLUMNS if c in survey_like.columns]])
    rows = texts.records(panel.data)
    w_rows = texts.records(weights)
    admitted, quota_fill = quota_admission(rows, w_rows, configs)
    jobs = []
    for start in range(0, len(rows), chunk_size):
        sl = slice(start, start + chunk_size)
        jobs.append(
            (
                rows[sl],
                w_rows[sl],
                members[sl],
                configs,
                list(styles),
                model_specs,
                preference,
                int(seed),
                start,
                max_concurrency,
                roleplay,
                cost_log,
                None if admitted is None else admitted[sl],
                prompt_bank,
            )
        )
    if executor == "auto" and len(rows) < AUTO_PROCESS_MIN:
        executor = "serial"  # a pool costs more than it saves on small panels (the demo's 600 run in-process)
    if executor == "serial" or (executor == "auto" and len(jobs) == 1):
        results = [_simulate_chunk(*job, on_done=progress) for job in jobs]  # per-participant progress
    else:
        sizes = iter([len(j[0]) for j in jobs])
        tick = (lambda _k: progress(next(sizes, 0))) if progress is not None else None
        results = map_chunks(
            _simulate_chunk,
            jobs,
            executor=executor,
            workers=workers,
            progress=tick,
            ray_address=ray_address,
            ray_init=ray_init,
        )
    study_out = Study()
    failures: list[dict] = []
    stats: dict[str, Any] = {
        "participants": 0,
        "completed": 0,
        "screened_out": 0,
        "actions": 0,
        "fallbacks": 0,
        "llm_calls": 0,
        "llm_failures": 0,
    }
    for chunk in results:
        for part, sim, fails, step in chunk:
            study_out.survey.extend(part.survey)
            study_out.conversations.extend(part.conversations)
            study_out.utterances.extend(part.utterances)
            failures.extend(fails)
            stats["participants"] += 1
            stats["completed"] += step == "complete"
            stats["screened_out"] += step == "screened_out"
            for k in ("actions", "fallbacks", "llm_calls", "llm_failures"):
                stats[k] += int(sim.get(k, 0))
    release_flags(study_out, seed=seed)
    study_out.validate()
    stats["conversations"] = len(study_out.conversations)
    stats["utterances"] = len(study_out.utterances)
    stats["model_call_failures"] = len(failures)
    stats["seconds"] = round(time.perf_counter() - started, 3)
    truth = None
    if study_out.utterances:
        frames_u = pd.DataFrame(
            {
                "turn": [u.turn for u in study_out.utterances],
                "conversation_type": [u.conversation_type for u in study_out.utterances],
                "model_name": [u.model_name for u in study_out.utterances],
                "model_response": [u.model_response for u in study_out.utterances],
            }
        )
        feats = model_feature_table(frames_u)
        types = pd.Series([c.conversation_type for c in study_out.conversations]).value_counts(normalize=True)
        types = types.reindex([t for t in vocab.CONVERSATION_TYPES if t in types.index])
        truth = SimulationTruth.from_model(preference, weights.rename_axis("user_id"), feats, types, names)
    study_out.ground_truth = truth
    config = {
        "seed": int(seed),
        "models": names,
        "simulated_models": model_specs is None,
        "actor": "llm-roleplay" if roleplay is not None else "preference-model",
        "roleplay": roleplay.describe() if roleplay is not None else None,
        "quota_fill": quota_fill,
        "preference_model": preference.describe(),
        "panel": panel.config,
        "styles": [s.__dict__ for s in styles] if model_specs is None else None,
        "prompt_bank": prompt_bank.openings if prompt_bank is not None else None,
    }
    return SimulationResult(study_out, truth, stats, failures, config)


def rep_frame(study: Study) -> pd.DataFrame:
    """Survey frame with the persona traits as columns (``persona_*``), for grouping analyses by trait.

    Parameters
    ----------
    study
        a simulated study (participants with ``persona``).

    Returns
    -------
    pandas.DataFrame

    Example
    -------
    >>> from pluralis.simulate.generator import generate_personas
    >>> s = simulate_study(generate_personas(3, seed=0), seed=0, conversations_per_type=1).study
    >>> "persona_communication_style" in rep_frame(s).columns
    True
    """
    survey = study.frames().survey
    traits = []
    for p in study.survey:
        persona = p.persona or {}
        big5 = persona.get("big_five", {})
        iw = persona.get("inglehart_welzel", {})
        traits.append(
            {
                "user_id": p.user_id,
                "persona_region": persona.get("region"),
                "persona_communication_style": persona.get("communication_style"),
                "persona_political_lean": persona.get("political_lean"),
                "persona_top_value": (persona.get("schwartz_values") or [None])[0],
                **{f"persona_{k}": v for k, v in big5.items()},
                **{f"persona_{k}": v for k, v in iw.items()},
            }
        )
    t = pd.DataFrame(traits)
    if len(t) and t["persona_political_lean"].notna().any():
        lean = t["persona_political_lean"].astype(float)
        t["persona_lean"] = np.where(lean > 0.6, "right", np.where(lean < -0.6, "left", "centre"))
    return survey.merge(t, on="user_id", how="left") if len(t) else survey
