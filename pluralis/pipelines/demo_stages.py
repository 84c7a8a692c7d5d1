"""The later stages of ``pluralis demo``: group contrasts, topics, whose-feedback learning, alignment.

Each stage takes the study (its frames and the survey with persona traits, from
:func:`pluralis.pipelines.demo.analyse`) and returns its result; :func:`pluralis.pipelines.demo.run_demo`
runs them one by one, each with its own progress bar and time, and records a stage that fails (with the
reason) instead of losing the run.

* :func:`contrasts_stage` — group-vs-group contrasts of every model's Bradley–Terry score
  (:func:`pluralis.ranking.contrasts.group_contrasts`), with omnibus tests;
* :func:`topics_stage` — who talks about what (:func:`pluralis.topics.analyse_topics`, sentence embeddings of
  the bundled all-MiniLM-L6-v2, offline);
* :func:`learn_stage` — whose feedback: reward models trained on each group's pairs and scored on every
  group's held-out participants (:func:`pluralis.learn.groups.cross_group_accuracy`);
* :func:`align_stage` — best-of-n with each group's reward model (:mod:`pluralis.align`): among the ``n``
  responses to a prompt, the one the group's reward model scores highest; the gain over a response drawn at
  random is re-measured for every group by judges fitted on held-out participants
  (:func:`pluralis.align.evaluate.judge_with_reward_models`) — whose feedback, whose gain.

Example
-------
>>> from pluralis.simulate.generator import generate_personas
>>> from pluralis.simulate.study import rep_frame, simulate_study
>>> sim = simulate_study(generate_personas({"US": 60}, seed=0), seed=0, conversations_per_type=1)
>>> survey = rep_frame(sim.study)
>>> res = learn_stage(sim.study.frames(), survey, by="persona_lean", n_boot=0, min_participants=5)
>>> sorted(res.table["train_group"].unique())[:2]
['(all)', 'centre']
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from pluralis.errors import ConfigError

Advance = Callable[[int], Any]


def _noop(_n: int = 1) -> None:
    return None


def contrasts_stage(
    battles: pd.DataFrame,
    survey: pd.DataFrame,
    by: Sequence[str],
    *,
    conversations: pd.DataFrame | None = None,
    rounds: int = 200,
    permutations: int = 200,
    min_participants: int = 10,
    seed: int = 0,
    advance: Advance = _noop,
):
    """Group contrasts of Bradley–Terry scores for every grouping field (one family of tests each).

    p-values are normal-approximation ones (``p_method="normal"``: ``2 Φ(-|difference| / se)`` from the
    bootstrap SE), so a small bootstrap still resolves the Holm-corrected tests.

    Parameters
    ----------
    battles
        the battles (:func:`pluralis.ranking.battles.extract_battles`).
    survey
        participants with the grouping fields.
    by
        grouping fields.
    conversations
        conversations (for ``conversation_type``).
    rounds, permutations, min_participants, seed
        bootstrap rounds, permutation-test relabellings, smallest group, seed.
    advance
        called once per field.

    Returns
    -------
    pluralis.ranking.contrasts.ContrastResult
        the contrasts of every field (results of all fields concatenated).

    Example
    -------
    >>> from pluralis.data.synthetic import generate_study
    >>> from pluralis.ranking.battles import extract_battles
    >>> f = generate_study(n_participants=80, seed=0).frames()
    >>> r = contrasts_stage(extract_battles(f.utterances), f.survey, ["gender"], rounds=20, permutations=20)
    >>> list(r.summary()["by"])
    ['gender']
    """
    from pluralis.ranking.contrasts import ContrastResult, group_contrasts

    parts = []
    for f in by:
        if f not in survey.columns and f != "conversation_type":
            advance(1)
            continue
        parts.append(
            group_contrasts(
                battles,
                f,
                survey=survey,
                conversations=conversations,
                method="bt",
                rounds=rounds,
                permutations=permutations,
                min_participants=min_participants,
                exclude=("Prefer not to say",),
                interval="percentile",
                p_method="normal",
                seed=seed,
            )
        )
        advance(1)
    if not parts:
        raise ConfigError(f"no grouping field of {list(by)} is in the survey")
    out = ContrastResult(
        pd.concat([p.contrasts for p in parts], ignore_index=True),
        pd.concat([p.groups for p in parts], ignore_index=True),
        pd.concat([p.omnibus for p in parts], ignore_index=True),
        models=parts[0].models,
    )
    for p in parts:
        out.draws.update(p.draws)
        out.skipped.update(p.skipped)
    return out


def topics_stage(
    frames,
    by: Sequence[str],
    *,
    embedder=None,
    n_boot: int = 200,
    rank_rounds: int = 100,
    min_participants: int = 10,
    seed: int = 0,
    advance: Advance = _noop,
):
    """Case Study I on the opening prompts: topics, over-representation by group, rankings within topics.

    Embeddings come from the bundled all-MiniLM-L6-v2 (``HF_HUB_OFFLINE=1``: nothing is downloaded); each
    distinct prompt is embedded once.

    Parameters
    ----------
    frames
        the study's frames.
    by
        grouping fields (participant fields).
    embedder
        texts -> embeddings (default :class:`pluralis.topics.embed.SentenceEmbedder`).
    n_boot, rank_rounds, min_participants, seed
        over-representation bootstrap, ranking rounds, smallest group, seed.
    advance
        called twice (embedded, analysed).

    Returns
    -------
    pluralis.topics.TopicsResult

    Example
    -------
    >>> from pluralis.data.synthetic import generate_study
    >>> f = generate_study(n_participants=40, seed=0, planted_topics=True).frames()
    >>> emb = lambda ts: np.array([[t.count("a"), t.count("o"), len(t) / 9] for t in ts], dtype=np.float32)
    >>> r = topics_stage(f, ["gender"], embedder=emb, n_boot=10, rank_rounds=10)
    >>> r.field
    'opening_prompt'
    """
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    from pluralis.topics.analysis import analyse_topics
    from pluralis.topics.data import topic_texts

    if embedder is None:
        from pluralis.topics.embed import SentenceEmbedder

        embedder = SentenceEmbedder()
    texts = topic_texts(frames)
    distinct = pd.unique(texts["text"].astype(str))
    vectors = np.asarray(embedder(list(distinct)), dtype=np.float32)
    index = pd.Series(np.arange(len(distinct)), index=distinct)
    embeddings = vectors[index.reindex(texts["text"].astype(str)).to_numpy()]
    advance(1)
    n_distinct = len(distinct)
    counts = texts["text"].astype(str).value_counts()
    if n_distinct <= 40:  # a prompt bank: each prompt may be a topic of its own; cluster the prompts as they are
        params: dict[str, Any] = {"reducer": "none", "min_cluster_size": max(5, int(counts.min()))}
    else:  # prompts written per persona: at most about 25 topics, so the figures stay readable
        params = {"reducer": "none", "min_cluster_size": max(10, len(texts) // 25)}
    by = [b for b in by if b in frames.survey.columns]
    res = analyse_topics(
        frames,
        by=by,
        embeddings=embeddings,
        n_boot=n_boot,
        taus=None,
        rank_rounds=rank_rounds,
        min_participants=min_participants,
        seed=seed,
        **params,
    )
    advance(1)
    return res


def _pairs_with(frames, survey: pd.DataFrame, by: str) -> pd.DataFrame:
    from pluralis.learn.pairs import preference_pairs

    cols = [c for c in dict.fromkeys([by, "study_locale", "gender", "age"]) if c in survey.columns]
    pairs = preference_pairs(frames.utterances, survey, turns="openers", survey_columns=cols)
    if by not in pairs.columns:
        raise ConfigError(f"the pairs lack the grouping field {by!r}")
    return pairs


def learn_stage(
    frames,
    survey: pd.DataFrame,
    *,
    by: str = "persona_lean",
    n_splits: int = 3,
    n_boot: int = 100,
    min_participants: int = 10,
    seed: int = 0,
    advance: Advance = _noop,
):
    """Whose feedback: a reward model trained on each group's pairs, scored on every group's held-out participants.

    Parameters
    ----------
    frames
        the study's frames.
    survey
        participants with ``by``.
    by
        the grouping field.
    n_splits, n_boot, min_participants, seed
        participant folds, bootstrap draws, smallest group, seed.
    advance
        called once at the end.

    Returns
    -------
    pluralis.learn.groups.CrossGroupResult

    Example
    -------
    >>> from pluralis.data.synthetic import generate_study
    >>> f = generate_study(n_participants=60, seed=0).frames()
    >>> learn_stage(f, f.survey, by="gender", n_boot=0, min_participants=5).by
    'gender'
    """
    from pluralis.learn.groups import cross_group_accuracy

    pairs = _pairs_with(frames, survey, by)
    res = cross_group_accuracy(
        pairs, by, n_splits=n_splits, n_boot=n_boot, min_participants=min_participants, seed=seed
    )
    advance(1)
    return res


def _group_preference_data(frames, survey: pd.DataFrame, by: str, *, eval_fraction: float, seed: int):
    """The study's opening-turn preference pairs with ``by`` attached, split participant-disjointly per group."""
    from pluralis.align.pairs import build_preference_data, study_pairs

    pairs = study_pairs(frames, turns="openers", context="turn")
    if by not in pairs.columns:
        pairs = pairs.merge(survey[["user_id", by]], on="user_id", how="left")
    pairs = pairs[pairs[by].notna()].reset_index(drop=True)
    return build_preference_data(None, pairs=pairs, eval_fraction=eval_fraction, seed=seed, strata=by)


@dataclass
class AlignStageResult:
    """What :func:`align_stage` made: the evaluation (gains per group), the answers and the settings.

    Example
    -------
    >>> AlignStageResult(None, pd.DataFrame(), {"n": 8}).settings["n"]
    8
    """

    evaluation: Any
    answers: pd.DataFrame
    settings: dict = field(default_factory=dict)
    reward_weights: pd.DataFrame | None = None


def candidate_pool(utterances: pd.DataFrame, *, n: int = 8, n_prompts: int = 18, seed: int = 0) -> pd.DataFrame:
    """Candidate responses per opening prompt from the study itself: the distinct opening responses to each of the
    ``n_prompts`` most-asked prompts, at most ``n`` per prompt (drawn at random when there are more).

    With the demo's prompt bank these are exactly the bank's responses (configurations × samples).

    Parameters
    ----------
    utterances
        the study's utterances (``turn``, ``user_prompt``, ``model_response``, ``model_name``).
    n
        candidates per prompt at most.
    n_prompts
        prompts at most (the most-asked first).
    seed
        random seed.

    Returns
    -------
    pandas.DataFrame
        ``prompt, candidate, model_name, text``.

    Example
    -------
    >>> u = pd.DataFrame({"turn": 0, "user_prompt": ["Hi"] * 3, "model_response": ["a", "b", "a"],
    ...                   "model_name": ["x", "y", "x"]})
    >>> candidate_pool(u)["text"].tolist()
    ['a', 'b']
    """
    u = utterances[(utterances["turn"] == 0) & utterances["model_response"].notna()]
    u = u[u["model_response"].astype(str).str.strip() != ""]
    top = u["user_prompt"].value_counts().index[:n_prompts]
    rng = np.random.default_rng(seed)
    rows = []
    for p in top:
        cand = u[u["user_prompt"] == p].drop_duplicates("model_response")
        if len(cand) < 2:
            continue
        if len(cand) > n:
            cand = cand.iloc[np.sort(rng.choice(len(cand), n, replace=False))]
        for k, (_, r) in enumerate(cand.iterrows()):
            rows.append({"prompt": p, "candidate": k, "model_name": r["model_name"], "text": str(r["model_response"])})
    return pd.DataFrame(rows, columns=["prompt", "candidate", "model_name", "text"])


def align_stage(
    frames,
    survey: pd.DataFrame,
    *,
    by: str = "persona_lean",
    n: int = 8,
    n_prompts: int = 18,
    eval_fraction: float = 0.3,
    n_boot: int = 100,
    min_participants: int = 5,
    seed: int = 0,
    advance: Advance = _noop,
) -> AlignStageResult:
    """Best-of-n with each group's reward model, re-measured for every group (whose feedback, whose gain).

    1. Pairs of the opening turns, split into training and held-out participants (stratified by ``by``).
    2. For each group (and everyone), the best-of-n aligner's reward model
       (:func:`pluralis.align.rewards.fit_reward_model`, interpretable text features) is fitted on the group's
       training pairs.
    3. For each prompt, the candidates are the study's ``n`` responses to it (:func:`candidate_pool`); each
       aligned "model" answers with the candidate its reward model scores highest; the base answers with a
       candidate drawn at random (best-of-1).
    4. Judges: one reward model per group fitted on its **held-out** participants; the gain of each aligned
       model over the base for each group, with a two-way bootstrap (participants × prompts).

    Parameters
    ----------
    frames
        the study's frames.
    survey
        participants with ``by``.
    by
        the grouping field.
    n, n_prompts
        candidates per prompt, prompts.
    eval_fraction
        share of participants held out as judges.
    n_boot, min_participants, seed
        bootstrap draws, smallest judging group, seed.
    advance
        called once per group fitted and once for the evaluation.

    Returns
    -------
    AlignStageResult

    Example
    -------
    >>> from pluralis.simulate.generator import generate_personas
    >>> from pluralis.simulate.study import rep_frame, simulate_study
    >>> sim = simulate_study(generate_personas({"US": 60}, seed=0), seed=0, conversations_per_type=1)
    >>> r = align_stage(sim.study.frames(), rep_frame(sim.study), n_boot=0, n_prompts=10)
    >>> "best-of-" in r.evaluation.table["model"].iloc[0]
    True
    """
    from pluralis.align.evaluate import judge_with_reward_models
    from pluralis.align.rewards import fit_reward_model

    data = _group_preference_data(frames, survey, by, eval_fraction=eval_fraction, seed=seed)
    pool = candidate_pool(frames.utterances, n=n, n_prompts=n_prompts, seed=seed)
    if pool.empty:
        raise ConfigError("no opening prompt has two or more distinct responses to choose among")
    prompts = list(dict.fromkeys(pool["prompt"]))
    rng = np.random.default_rng(seed + 17)
    base = []
    for p in prompts:
        cand = pool[pool["prompt"] == p]["text"].tolist()
        base.append(cand[int(rng.integers(len(cand)))])
    counts = data.train[by].astype(str).value_counts()
    groups = [
        g
        for g in sorted(counts.index)
        if data.train.loc[data.train[by].astype(str) == g, "user_id"].nunique() >= min_participants
    ]
    answers: dict[str, list[str]] = {"base": base}
    trained_on: dict[str, str] = {}
    weights = {}
    n_max = int(pool.groupby("prompt").size().max())
    for g in [*groups, "(all)"]:
        train = data.train if g == "(all)" else data.train[data.train[by].astype(str) == g]
        rm = fit_reward_model(train)
        weights[g] = rm.coefficients()
        picks = []
        for p in prompts:
            cand = pool[pool["prompt"] == p]["text"].tolist()
            picks.append(cand[int(np.argmax(rm.reward(cand)))])
        name = f"best-of-{n_max} ({g})" if g != "(all)" else f"best-of-{n_max} (everyone)"
        answers[name] = picks
        trained_on[name] = g if g != "(all)" else "everyone"
        advance(1)
    chats = [[{"role": "user", "content": p}] for p in prompts]
    ev = judge_with_reward_models(
        answers,
        chats,
        data,
        by=by,
        trained_on=trained_on,
        n_boot=n_boot,
        min_participants=min_participants,
        seed=seed,
    )
    advance(1)
    settings = {
        "by": by,
        "n": n_max,
        "prompts": len(prompts),
        **data.counts(),
        "groups": groups,
        "base": "a candidate drawn at random per prompt (best-of-1)",
    }
    answers_frame = pd.DataFrame(
        [{"model": m, "prompt": prompts[i], "answer": a} for m, a_list in answers.items() for i, a in enumerate(a_list)]
    )
    return AlignStageResult(ev, answers_frame, settings, pd.DataFrame(weights))


def dpo_stage(
    frames,
    survey: pd.DataFrame,
    out,
    *,
    by: str = "persona_lean",
    steps: int = 10,
    n_prompts: int = 6,
    max_tokens: int = 48,
    eval_fraction: float = 0.3,
    n_boot: int = 100,
    min_participants: int = 5,
    seed: int = 0,
    advance: Advance = _noop,
) -> AlignStageResult:
    """DPO (LoRA on SmolLM2, :mod:`pluralis.align.aligners.dpo`) on each group's pairs, re-measured for every group.

    Slow on CPU (torch and a GGUF-to-transformers conversion on first use): ``pluralis demo --align dpo``.
    Each group's pairs train one adapter for ``steps`` steps; every adapter and the base answer ``n_prompts``
    of the study's opening prompts (greedy); judges fitted on each group's held-out participants give the gain
    over the base (:func:`pluralis.align.evaluate.evaluate_models`).

    Parameters
    ----------
    frames
        the study's frames.
    survey
        participants with ``by``.
    out
        folder for the adapters.
    by
        the grouping field.
    steps, n_prompts, max_tokens
        DPO steps per group, evaluation prompts, answer length.
    eval_fraction, n_boot, min_participants, seed
        held-out share, bootstrap draws, smallest group, seed.
    advance
        called once per group trained and once for the evaluation.

    Returns
    -------
    AlignStageResult

    Example
    -------
    >>> callable(dpo_stage)   # trains models: run by ``pluralis demo --align dpo``
    True
    """
    from pathlib import Path

    from pluralis.align.evaluate import evaluate_models
    from pluralis.align.registry import get_aligner

    data = _group_preference_data(frames, survey, by, eval_fraction=eval_fraction, seed=seed)
    users = data.train.groupby(data.train[by].astype(str))["user_id"].nunique()
    groups = [str(g) for g in users.index if users[g] >= min_participants]
    if not groups:
        raise ConfigError(f"no group of {by!r} has {min_participants}+ training participants")
    models: dict[str, str] = {}
    for g in groups:
        aligner = get_aligner("dpo", base_model="smollm2", device="cpu", steps=steps, seed=seed)
        fitted = aligner.fit(data.train[data.train[by].astype(str) == g], Path(out) / f"dpo-{g}")
        models[f"dpo ({g})"] = str(fitted.path)
        advance(1)
    u = frames.utterances
    prompts = list(u.loc[u["turn"] == 0, "user_prompt"].value_counts().index[:n_prompts])
    ev = evaluate_models(
        models,
        data,
        base="smollm2",
        by=by,
        prompts=[[{"role": "user", "content": p}] for p in prompts],
        max_tokens=max_tokens,
        device="cpu",
        n_boot=n_boot,
        seed=seed,
    )
    advance(1)
    settings = {"by": by, "aligner": "dpo", "steps": steps, "prompts": len(prompts), **data.counts(), "groups": groups}
    return AlignStageResult(ev, ev.answers, settings)
