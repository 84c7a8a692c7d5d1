"""Replay: personas re-rate human participants' own responses (same prompts, responses and groups).

:func:`replay_ratings` gives each human participant a census persona from the same country and
demographic cell, who rates the very responses the human rated, by the preference model
(:mod:`pluralis.simulate.preference`). Comparing the two, group by group, is
:func:`pluralis.pipelines.fidelity.fidelity` (it needs the rankings, so it lives in pipelines).

Example
-------
>>> from pluralis.data.synthetic import generate_study
>>> h = generate_study(40, seed=3)
>>> sim = replay_ratings(h, seed=0)
>>> sorted(sim.survey["source"].unique())
['simulated']
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from pluralis.data import load_study
from pluralis.data.study import StudyFrames
from pluralis.errors import ConfigError
from pluralis.simulate.agents import PreferenceAgent
from pluralis.simulate.generator import PersonaPanel, generate_personas
from pluralis.simulate.preference import PreferenceModel


def study_frames(data) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(utterances, survey) of a Study, StudyFrames, store/folder path or URL, or a pair of DataFrames.

    Parameters
    ----------
    data
        a :class:`pluralis.data.Study`, its ``frames()``, anything :func:`pluralis.data.load_study`
        reads, or ``(utterances, survey)``.

    Returns
    -------
    tuple of pandas.DataFrame

    Example
    -------
    >>> from pluralis.data.synthetic import generate_study
    >>> u, s = study_frames(generate_study(5, seed=0))
    >>> len(s), "score" in u.columns
    (5, True)
    """
    if isinstance(data, tuple) and len(data) == 2:
        return data
    if isinstance(data, (str,)) or hasattr(data, "__fspath__"):
        data = load_study(str(data))
    if hasattr(data, "frames") and callable(data.frames):
        data = data.frames()
    if hasattr(data, "utterances") and hasattr(data, "survey"):
        return data.utterances, data.survey
    raise ConfigError("give a Study, StudyFrames, a store/folder path or (utterances, survey) DataFrames")


def replay_ratings(
    human,
    panel: PersonaPanel | None = None,
    *,
    seed: int = 0,
    preference: PreferenceModel | None = None,
    match: Sequence[str] = ("age", "gender"),
    turns: str = "openers",
) -> StudyFrames:
    """Personas re-rate the human participants' own responses (same prompts, same responses, same groups).

    Each human participant gets a persona from ``panel`` (generated to match when ``None``) in the
    same country (``study_locale`` us/uk; others use the panel's first country) and the same
    ``match`` cell (relaxed field by field when the panel has nobody there); the persona rates the
    same responses with the preference model. Returns a ``StudyFrames`` with simulated
    ``utterances`` (same ids, new scores and ``if_chosen``) and the human ``survey`` rows relabelled
    with the personas' ids and ``source="simulated"``; pass it to
    :func:`pluralis.pipelines.fidelity.fidelity` with the human study.

    Parameters
    ----------
    human
        the human study (anything :func:`study_frames` reads).
    panel
        personas to draw from (default: a census panel generated to match, seeded).
    seed
        random seed (persona draw, agents' taste and noise).
    preference
        the rating model (default :class:`PreferenceModel`).
    match
        survey fields a persona must share with its human.
    turns
        ``"openers"`` (turn 0) or ``"all"``.

    Returns
    -------
    pluralis.data.StudyFrames

    Example
    -------
    >>> from pluralis.data.synthetic import generate_study
    >>> h = generate_study(40, seed=3)
    >>> sim = replay_ratings(h, seed=0)
    >>> len(sim.utterances) == int((h.frames().utterances["turn"] == 0).sum())
    True
    """
    hu, hs = study_frames(human)
    if turns == "openers":
        hu = hu[hu["turn"] == 0]
    if len(hu) == 0:
        raise ConfigError("the human study has no rated responses to replay")
    preference = preference or PreferenceModel()
    locale = hs.get("study_locale", pd.Series(["us"] * len(hs))).astype(str).str.lower()
    country = np.where(locale == "uk", "UK", "US")
    if panel is None:
        counts = pd.Series(country).value_counts()
        panel = generate_personas({str(c): int(max(200, 2 * k)) for c, k in counts.items()}, seed=seed)
    pdata = panel.data
    rng = np.random.default_rng(seed)
    chosen = []
    for i, row in enumerate(hs.itertuples(index=False)):
        pool = pdata[pdata["country"].astype(str) == country[i]]
        if pool.empty:
            pool = pdata
        for k in range(len(match), -1, -1):
            sub = pool
            for f in list(match)[:k]:
                if f in hs.columns:
                    sub = sub[sub[f].astype(str) == str(getattr(row, f))]
            if len(sub):
                break
        chosen.append(int(sub.index[rng.integers(len(sub))]))
    personas = pdata.loc[chosen].reset_index(drop=True)
    weights = [{str(c): v for c, v in w.items()} for w in preference.person_weights(personas).to_dict("records")]
    rows = [{str(c): v for c, v in p.items()} for p in personas.to_dict("records")]
    by_user: dict[str, int] = {str(uid): k for k, uid in enumerate(hs["user_id"].astype(str))}
    out = hu.copy()
    scores = np.zeros(len(out), dtype=int)
    agents: dict[int, PreferenceAgent] = {}
    for key, idx in out.groupby([out["user_id"].astype(str), "interaction_id"], sort=False).groups.items():
        j = by_user.get(str(key[0]))  # type: ignore[index]
        if j is None:
            continue
        part = out.loc[idx]
        agent = agents.get(j)
        if agent is None:
            agent = agents[j] = PreferenceAgent(
                rows[j], weights[j], model=preference, models=sorted(hu["model_name"].astype(str).unique()), seed=seed
            )
        s = agent.scores_for(
            part["model_response"].astype(str).tolist(),
            part["model_name"].astype(str).tolist(),
            str(part["conversation_type"].iloc[0]),
        )
        scores[out.index.get_indexer(idx)] = s
    out["score"] = scores
    best = out.groupby("interaction_id")["score"].transform("max")
    out["if_chosen"] = (out["score"] == best) & ~out.duplicated(["interaction_id", "score"])
    ids = {uid: f"sim-{personas['persona_id'].iloc[k]}-{uid}" for uid, k in by_user.items()}
    out["user_id"] = out["user_id"].astype(str).map(ids)
    survey = hs.copy()
    survey["user_id"] = survey["user_id"].astype(str).map(ids)
    survey["source"] = "simulated"
    survey["persona_id"] = personas["persona_id"].to_numpy()
    return StudyFrames(
        survey=survey, conversations=pd.DataFrame(), utterances=out, metadata=pd.DataFrame(), comparisons=pd.DataFrame()
    )
