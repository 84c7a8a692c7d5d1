"""Census-grounded synthetic participants (after PERSONA, Castricato et al. 2024) — clearly labelled as simulated.

The pieces, in the order the main job (``pluralis demo``) uses them:

* :func:`generate_personas` -> :class:`PersonaPanel` — personas whose age band x sex x ethnicity follow the
  census jointly (US, UK), with conditionally sampled education, employment, marital status, religion and
  region, and idiosyncratic traits (Big Five, Inglehart–Welzel values, Schwartz values, interests, style);
  vectorised (a million in seconds), seeded, on a process pool or Ray (:mod:`.generator`, :mod:`.tables`,
  sources and assumptions in ``resources/SOURCES.md``). ``panel.to_participants()`` exports PRISM survey
  records with ``source="simulated"``.
* :func:`simulate_study` — every persona takes the PRISM protocol through the collection engine
  (:class:`pluralis.collect.protocol.ProtocolSession`): by the documented preference model
  (:class:`PreferenceModel`, ground truth :class:`SimulationTruth`) or by LLM role-play
  (:class:`RolePlayConfig`, :class:`CostLog`), with simulated (:mod:`.responders`) or real models.
* :func:`replay_ratings` — personas re-rate a human study's own responses (:mod:`.replay`); how close
  that comes to the humans per group is :func:`pluralis.pipelines.fidelity.fidelity`.
* :func:`planted_pairs` — preference pairs with a known, planted reward for checking the learners
  (:mod:`.planted`).

The main job (panel -> study -> SQLite -> rankings, welfare -> HTML report) composes these with the
analyses: :func:`pluralis.pipelines.demo.run_demo`. The simulation never imports an analysis.

Example
-------
>>> from pluralis.simulate import generate_personas, simulate_study
>>> res = simulate_study(generate_personas({"US": 5, "UK": 5}, seed=0), seed=0, conversations_per_type=1)
>>> res.study.counts()["conversations"]
30
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "generate_personas": "pluralis.simulate.generator",
    "PersonaPanel": "pluralis.simulate.generator",
    "simulate_study": "pluralis.simulate.study",
    "SimulationResult": "pluralis.simulate.study",
    "PreferenceModel": "pluralis.simulate.preference",
    "SimulationTruth": "pluralis.simulate.preference",
    "PreferenceAgent": "pluralis.simulate.agents",
    "run_session": "pluralis.simulate.agents",
    "RolePlayConfig": "pluralis.simulate.roleplay",
    "RolePlayAgent": "pluralis.simulate.roleplay",
    "CostLog": "pluralis.simulate.roleplay",
    "replay_ratings": "pluralis.simulate.replay",
    "planted_pairs": "pluralis.simulate.planted",
    "ModelStyle": "pluralis.simulate.responders",
    "SimulatedBackend": "pluralis.simulate.responders",
    "DEFAULT_STYLES": "pluralis.simulate.responders",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'pluralis.simulate' has no attribute {name!r}")
