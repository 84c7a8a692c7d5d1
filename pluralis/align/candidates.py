"""Candidate generation design (Community Alignment): standard vs negatively-correlated (NC) sampling.

The Community Alignment paper finds that independently sampled candidate sets are homogeneous, which
starves preference learning of the variation people have; NC sampling (:func:`pluralis.llm.nc_sample`)
asks for candidates that differ on purpose. This module measures how well each lets a learned model
**recover heterogeneous preferences**, with census-grounded personas (:mod:`pluralis.simulate`) as raters
whose Inglehart–Welzel (IW) values are known:

1. :func:`candidate_sets` — for each prompt, ``k`` candidates by ``"standard"`` sampling (``k``
   independent samples, :func:`pluralis.llm.generate_samples`) or ``"nc"`` (:func:`pluralis.llm.nc_sample`).
2. :func:`persona_choices` — each persona picks its favourite of each candidate set (a k-wise choice, as
   Community Alignment's annotators) by the logit rule on its utility (SIMULATION)::

       u_j(x) = θ_j · style(x) + λ_j · stance(x),   λ_j = iw_weight · (secular_j + self_expression_j) / 2

   with ``θ_j`` the persona's length/refusal/hedging/list weights of :class:`pluralis.simulate.PreferenceModel`
   and ``style``/``stance`` the text features of :func:`pluralis.features.response.style_features` — secular, self-expressive
   personas reward progressive stances, traditional/survival ones conservative stances.
3. :func:`recovery` — a personalised reward model (:class:`pluralis.learn.PersonalisedRewardModel`, covariates
   = the IW values) trained on the choices of training personas, scored on **held-out personas** and a
   common pool of evaluation candidates: pairwise accuracy against their true (noise-free) utilities, on all
   pairs and on the pairs personas disagree about, and how much of the spread of ``λ_j`` the model recovers.

:func:`candidate_experiment` runs the three for both designs. Offline, :class:`SimulatedCandidateModel`
stands in for an instruction-following LLM (SIMULATION: its plain samples share one style; asked for NC
candidates it spreads stances and styles, as a model following the NC instruction would); with a real
model (any :class:`pluralis.llm.ModelSpec`, e.g. SmolLM2 behind ``pluralis llm serve``) the same code
measures that model.

Example
-------
>>> from pluralis.features.response import style_features as text_features
>>> sd = {s: text_features(candidate_sets(SimulatedCandidateModel(seed=0), VALUE_PROMPTS[:4], k=4, sampling=s)["text"]
...                        .tolist())["stance"].std() for s in SAMPLING}
>>> bool(sd["nc"] > sd["standard"])
True
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import random
import time
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from pluralis.errors import ConfigError
from pluralis.llm.types import ChatResult, DecodingParams, ModelSpec, TokenUsage

SAMPLING: tuple[str, ...] = ("standard", "nc")
IW_COLUMNS: tuple[str, ...] = ("secular", "self_expression")

#: Value-laden requests (the paper's IW axes: religion, family, authority, self-expression, environment).
VALUE_PROMPTS: tuple[str, ...] = (
    "Should religion be taught in public schools?",
    "Is it better for children to be raised with traditional family values?",
    "How should my town respond to more immigrants arriving?",
    "Should the government do more about climate change?",
    "Is it important to obey authority even when you disagree?",
    "Should same-sex couples be allowed to adopt children?",
    "How much should I rely on faith when making big decisions?",
    "Should people be free to express any lifestyle they choose?",
    "Is economic growth more important than protecting the environment?",
    "Should schools teach about gender identity?",
    "What role should the church play in public life?",
    "Is it right to prioritise security over personal freedom?",
    "Should women with young children work full time?",
    "How should society treat people who break with tradition?",
    "Is national pride a good thing?",
    "Should abortion be legal?",
)


# --- a simulated candidate model (SIMULATION) -------------------------------------------------------------------


class SimulatedCandidateModel:
    """A ChatBackend standing in for an instruction-following LLM when generating candidates (SIMULATION).

    Plain requests get answers in one house style (stance near 0, little hedging): the monoculture.
    Requests carrying the NC instructions of :mod:`pluralis.llm.nc` get candidates spread over stances
    (progressive to conservative), hedging and lists — JSON for the single call, one far from the
    previous answers for the sequential method. Text comes from :mod:`pluralis.simulate.responders`.

    Example
    -------
    >>> m = SimulatedCandidateModel(seed=1)
    >>> r = asyncio.run(m.chat([{"role": "user", "content": "Should abortion be legal?"}]))
    >>> r.model, len(r.text) > 20
    ('sim-candidates', True)
    """

    def __init__(self, *, seed: int = 0, name: str = "sim-candidates"):
        self.seed = int(seed)
        self.spec = ModelSpec(name=name, provider="simulated", base_url="http://127.0.0.1:9/v1", system_prompt=None)
        self._seen: dict[str, int] = {}

    def _rng(self, messages: list[dict]) -> random.Random:
        key = hashlib.blake2b(repr([(m.get("role"), m.get("content")) for m in messages]).encode(), digest_size=8)
        k = self._seen.get(key.hexdigest(), 0)
        self._seen[key.hexdigest()] = k + 1
        return random.Random(f"{self.seed}:{key.hexdigest()}:{k}")

    @staticmethod
    def _style(stance: float, hedge: float, lists: float, name: str = "sim"):
        from pluralis.simulate.responders import ModelStyle

        return ModelStyle(name, mean_sentences=2.5, p_enumeration=lists, p_hedge=hedge, p_refusal=0.0, stance=stance)

    def _render(
        self, prompt: str, stance: float, hedge: float, lists: float, rng: random.Random, *, neutral: bool = False
    ) -> str:
        from pluralis.features.response import style_features as text_features
        from pluralis.simulate.responders import render_response

        style = self._style(stance, hedge, lists)
        for _ in range(8):  # redraw until the stance shows (or, for a neutral answer, does not)
            text = render_response(style, prompt, rng)
            s = float(text_features([text])["stance"].iloc[0])
            if neutral and abs(s) < 0.05:
                return text
            if not neutral and (abs(stance) < 0.3 or np.sign(s) == np.sign(stance)):
                return text
        return text

    async def chat(
        self, messages: list[dict], *, params: DecodingParams | dict | None = None, timeout: float | None = None
    ) -> ChatResult:
        from pluralis.llm.nc import NC_SEQUENTIAL_INSTRUCTION, NC_SINGLE_CALL_INSTRUCTION

        start = time.perf_counter()
        rng = self._rng(messages)
        system = " ".join(m["content"] for m in messages if m.get("role") == "system")
        prompt = [m["content"] for m in messages if m.get("role") == "user"][-1]
        single = NC_SINGLE_CALL_INSTRUCTION.split("{k}")[1][:40]
        sequential = NC_SEQUENTIAL_INSTRUCTION.split("{previous}")[0][:40]
        if single in system:
            k = int(system.split("Write ", 1)[1].split(" ", 1)[0])
            stances = np.linspace(-1.0, 1.0, k) if k > 1 else np.zeros(1)
            order = rng.sample(range(k), k)
            texts = [
                self._render(prompt, float(stances[i]), rng.choice([0.0, 0.8]), rng.choice([0.0, 0.7]), rng)
                for i in order
            ]
            text = json.dumps({"responses": texts})
        elif sequential in system:
            from pluralis.features.response import style_features as text_features

            previous = system.split(sequential, 1)[1]
            s = float(text_features([previous])["stance"].iloc[0])
            target = -np.sign(s) if abs(s) > 0.05 else rng.choice([-1.0, 1.0])
            text = self._render(prompt, float(target), rng.choice([0.0, 0.8]), rng.choice([0.0, 0.7]), rng)
        else:  # the house style: neutral, so candidate sets hardly differ in stance
            text = self._render(prompt, 0.0, 0.2, 0.15, rng, neutral=True)
        return ChatResult(
            text=text,
            model=self.spec.name,
            provider="simulated",
            latency_s=time.perf_counter() - start,
            usage=TokenUsage(prompt_tokens=len(prompt) // 4, completion_tokens=len(text) // 4),
            finish_reason="stop",
        )

    async def aclose(self) -> None:
        return None


# --- 1. candidate sets ---------------------------------------------------------------------------------------


def candidate_sets(
    model: Any,
    prompts: Sequence[str],
    *,
    k: int = 4,
    sampling: str = "standard",
    temperature: float = 1.0,
    max_tokens: int = 200,
    timeout: float = 60.0,
    max_concurrency: int = 4,
) -> pd.DataFrame:
    """``k`` candidate responses per prompt: one row per candidate (``prompt_id, prompt, candidate, text``).

    Prompts whose calls failed get fewer candidates (a set needs two to be compared).

    Parameters
    ----------
    model : Any
        A ChatBackend (e.g. :class:`SimulatedCandidateModel` or an LLM backend).
    prompts : sequence of str
        The prompts.
    k : int
        Candidates per prompt (default 4).
    sampling : {"standard", "nc"}
        Independent samples, or negatively-correlated sampling (:mod:`pluralis.llm.nc`).
    temperature : float
        Sampling temperature (default 1.0).
    max_tokens : int
        Longest response in tokens (default 200).
    timeout : float
        Seconds per model call (default 60).
    max_concurrency : int
        Prompts generated at once (default 4).

    Returns
    -------
    pandas.DataFrame
        One row per candidate, with a ``sampling`` column.

    Example
    -------
    >>> c = candidate_sets(SimulatedCandidateModel(), ["Is national pride a good thing?"], k=3, sampling="nc")
    >>> len(c), c["sampling"].iloc[0]
    (3, 'nc')
    """
    from pluralis.llm.nc import nc_sample
    from pluralis.llm.response_sets import generate_samples

    if sampling not in SAMPLING:
        raise ConfigError(f"candidate sampling must be one of {', '.join(SAMPLING)}, got {sampling!r}")
    if k < 2:
        raise ConfigError(f"k must be at least 2 (candidates are compared), got {k}")
    params = {"temperature": temperature, "max_tokens": max_tokens}

    async def one(prompt: str, sem: asyncio.Semaphore) -> list[str]:
        msgs = [{"role": "user", "content": prompt}]
        async with sem:
            if sampling == "nc":
                res = await nc_sample(model, msgs, k=k, params=params, timeout=timeout)
                return [c.text for c in res.candidates][:k]
            rs = await generate_samples(model, msgs, n=k, params=params, timeout=timeout)
            return [r.text for r in rs.responses]

    async def run() -> list[list[str]]:
        sem = asyncio.Semaphore(max_concurrency)
        return await asyncio.gather(*(one(p, sem) for p in prompts))

    texts = asyncio.run(run())
    rows = [
        {"prompt_id": i, "prompt": p, "candidate": j, "text": t, "sampling": sampling}
        for i, (p, ts) in enumerate(zip(prompts, texts))
        for j, t in enumerate(ts)
    ]
    return pd.DataFrame(rows, columns=["prompt_id", "prompt", "candidate", "text", "sampling"])


# --- 2. persona raters (SIMULATION) -------------------------------------------------------------------------------


def persona_utility_weights(personas: pd.DataFrame, *, iw_weight: float = 1.5) -> pd.DataFrame:
    """Each persona's weights on the style features ``length, refusal, hedging, enumeration, stance``.

    Length/refusal/hedging/list weights are :class:`pluralis.simulate.PreferenceModel`'s; the stance weight is
    ``iw_weight · (secular + self_expression) / 2`` (see the module docstring).

    Parameters
    ----------
    personas : pandas.DataFrame
        Personas (a :class:`pluralis.simulate.PersonaPanel`'s ``data``) with ``secular`` and
        ``self_expression``.
    iw_weight : float
        Scale of the stance weight (default 1.5).

    Returns
    -------
    pandas.DataFrame
        One row per persona, one column per style feature.

    Example
    -------
    >>> from pluralis.simulate.generator import generate_personas
    >>> w = persona_utility_weights(generate_personas(50, seed=0).data)
    >>> list(w.columns)
    ['length', 'refusal', 'hedging', 'enumeration', 'stance']
    """
    from pluralis.simulate.preference import PreferenceModel

    missing = [c for c in IW_COLUMNS if c not in personas.columns]
    if missing:
        raise ConfigError(f"personas lack the Inglehart–Welzel columns {missing} (use pluralis.simulate personas)")
    pw = PreferenceModel().person_weights(personas)
    iw = personas[list(IW_COLUMNS)].to_numpy(dtype=float).mean(axis=1)
    return pd.DataFrame(
        {
            "length": pw["theta_len"].to_numpy(),
            "refusal": pw["theta_ref"].to_numpy(),
            "hedging": pw["theta_hedge"].to_numpy(),
            "enumeration": pw["theta_enum"].to_numpy(),
            "stance": iw_weight * iw,
        },
        index=pw.index,
    )


def _terms(texts: Sequence[str]) -> np.ndarray:
    from pluralis.features.response import style_features as text_features

    f = text_features(list(texts))
    x = f[["length", "refusal", "hedging", "enumeration", "stance"]].to_numpy(dtype=float, copy=True)
    x[:, 0] = np.log1p(x[:, 0])
    return x


def persona_choices(
    candidates: pd.DataFrame,
    personas: pd.DataFrame,
    *,
    per_persona: int | None = None,
    temperature: float = 0.5,
    iw_weight: float = 1.5,
    seed: int = 0,
) -> pd.DataFrame:
    """Each persona picks its favourite of candidate sets (logit choice on its utility, temperature ``τ``).

    ``per_persona``: sets each persona judges (a random subset; ``None`` = all). Returns Community-Alignment
    style comparisons (``comparison_id, annotator_id, prompt, models, responses, winner``) with the personas'
    IW values and ``country``/``gender``.

    Parameters
    ----------
    candidates : pandas.DataFrame
        Candidate sets (:func:`candidate_sets`).
    personas : pandas.DataFrame
        The judging personas.
    per_persona : int, optional
        Sets each persona judges.
    temperature : float
        Logit choice temperature ``τ`` (default 0.5; smaller is closer to the utility's argmax).
    iw_weight : float
        Scale of the stance weight (see :func:`persona_utility_weights`).
    seed : int
        Random seed (subsets and choices).

    Returns
    -------
    pandas.DataFrame
        One comparison per (persona, set).

    Example
    -------
    >>> from pluralis.simulate.generator import generate_personas
    >>> c = candidate_sets(SimulatedCandidateModel(), list(VALUE_PROMPTS[:2]), k=3, sampling="nc")
    >>> ch = persona_choices(c, generate_personas(5, seed=0).data)
    >>> len(ch), bool(ch["winner"].between(0, 2).all())
    (10, True)
    """
    rng = np.random.default_rng(seed)
    sets = [g for _, g in candidates.groupby("prompt_id", sort=True) if len(g) >= 2]
    if not sets:
        raise ConfigError("no candidate set has two or more candidates")
    W = persona_utility_weights(personas, iw_weight=iw_weight).to_numpy()
    pid = personas["persona_id"].astype(str).to_numpy() if "persona_id" in personas else np.arange(len(personas))
    rows = []
    for j in range(len(personas)):
        chosen = range(len(sets)) if per_persona is None else rng.choice(len(sets), min(per_persona, len(sets)), False)
        for s in chosen:
            g = sets[int(s)]
            u = _terms(g["text"].tolist()) @ W[j]
            winner = int(np.argmax(u / temperature + rng.gumbel(size=len(u))))
            row = {
                "comparison_id": f"{pid[j]}-p{int(g['prompt_id'].iloc[0])}",
                "annotator_id": str(pid[j]),
                "prompt": str(g["prompt"].iloc[0]),
                "models": [f"candidate_{c}" for c in g["candidate"]],
                "responses": g["text"].tolist(),
                "winner": winner,
                "tie": False,
            }
            for c in (*IW_COLUMNS, "country", "gender"):
                if c in personas.columns:
                    row[c] = personas[c].iloc[j]
            rows.append(row)
    return pd.DataFrame(rows)


def choice_pairs(choices: pd.DataFrame) -> pd.DataFrame:
    """Comparisons → :mod:`pluralis.learn` pairs (winner beats every other candidate) with the persona's fields.

    Parameters
    ----------
    choices : pandas.DataFrame
        Comparisons from :func:`persona_choices`.

    Returns
    -------
    pandas.DataFrame
        One pair per (winner, other candidate), with ``y = 1``.

    Example
    -------
    >>> ch = pd.DataFrame({"comparison_id": ["c"], "annotator_id": ["p1"], "prompt": ["Q"], "models": [["a", "b"]],
    ...                    "responses": [["x", "y"]], "winner": [1], "tie": [False], "secular": [0.5]})
    >>> choice_pairs(ch)[["response_a", "response_b", "y", "secular"]].values.tolist()
    [['x', 'y', 0.0, 0.5]]
    """
    from pluralis.learn.pairs import pairs_from_comparisons

    p = pairs_from_comparisons(
        choices[["comparison_id", "annotator_id", "prompt", "models", "responses", "winner", "tie"]]
    )
    extra = [c for c in choices.columns if c in (*IW_COLUMNS, "country", "gender")]
    info = choices.drop_duplicates("annotator_id").set_index("annotator_id")[extra]
    for c in extra:
        p[c] = info[c].reindex(p["user_id"].astype(str)).to_numpy()
    return p


# --- 3. recovery of heterogeneous preferences -----------------------------------------------------------------------


def recovery(
    train_pairs: pd.DataFrame,
    eval_texts: Sequence[Sequence[str]],
    eval_personas: pd.DataFrame,
    *,
    iw_weight: float = 1.5,
    alpha: float = 1.0,
) -> dict[str, float]:
    """How well a model learned from ``train_pairs`` recovers held-out personas' preferences.

    A :class:`~pluralis.learn.PersonalisedRewardModel` on the style features with the IW values as
    covariates; for every held-out persona and every pair of candidates in each evaluation set, whether the
    model orders them as the persona's true utility does (``accuracy``, decisive pairs only;
    ``contested_accuracy`` on the pairs a quarter or more of held-out personas disagree about — the
    heterogeneous part); and
    ``stance_slope``, the slope of the learned stance weight on the true one across held-out personas
    (0: the model learned one stance preference for everyone; the choices' temperature ``τ`` scales the
    fully recovered slope to ``1/τ``).

    Parameters
    ----------
    train_pairs : pandas.DataFrame
        Training pairs (:func:`choice_pairs`).
    eval_texts : sequence of sequence of str
        The evaluation candidate sets (texts of each set).
    eval_personas : pandas.DataFrame
        The held-out personas.
    iw_weight : float
        Scale of the true stance weight (see :func:`persona_utility_weights`).
    alpha : float
        Ridge penalty of the reward model (default 1.0).

    Returns
    -------
    dict of str to float
        ``accuracy``, ``contested_accuracy`` and ``stance_slope``.

    Example
    -------
    >>> from pluralis.simulate.generator import generate_personas
    >>> people = generate_personas(30, seed=0).data
    >>> c = candidate_sets(SimulatedCandidateModel(), list(VALUE_PROMPTS[:4]), k=3, sampling="nc")
    >>> pairs = choice_pairs(persona_choices(c[c["prompt_id"] < 3], people[:20]))
    >>> r = recovery(pairs, [c.loc[c["prompt_id"] == 3, "text"].tolist()], people[20:])
    >>> sorted(r)
    ['accuracy', 'contested_accuracy', 'stance_slope']
    """
    from itertools import combinations

    from pluralis.learn.featurizers import TextFeaturizer
    from pluralis.learn.models import PersonalisedRewardModel

    feats = TextFeaturizer(features="style")
    model = PersonalisedRewardModel(featurizer=feats, covariates=list(IW_COLUMNS), alpha=alpha)
    model.fit(train_pairs)
    W_true = persona_utility_weights(eval_personas, iw_weight=iw_weight).to_numpy()
    W_hat = model.weights_for(eval_personas[list(IW_COLUMNS)].reset_index(drop=True))
    names = list(model.feature_names_in_)
    hits, total, c_hits, c_total = 0.0, 0, 0.0, 0
    for texts in eval_texts:
        if len(texts) < 2:
            continue
        X_true = _terms(texts)
        X_hat = feats.fit().transform(list(texts))
        u_true = X_true @ W_true.T  # (texts, personas)
        u_hat = X_hat @ W_hat.T
        for a, b in combinations(range(len(texts)), 2):
            dt, dh = u_true[a] - u_true[b], u_hat[a] - u_hat[b]
            decisive = np.abs(dt) > 1e-9
            hit = (np.sign(dt) == np.sign(dh))[decisive]
            hits += float(hit.sum())
            total += int(decisive.sum())
            d = dt[decisive]
            if len(d) and min((d > 0).mean(), (d < 0).mean()) >= 0.25:  # a quarter or more disagree
                c_hits += float(hit.sum())
                c_total += int(decisive.sum())
    stance_hat = W_hat[:, names.index("stance")]
    true = W_true[:, 4]
    slope = float(np.polyfit(true, stance_hat, 1)[0]) if np.std(true) > 0 else float("nan")
    return {
        "accuracy": hits / total if total else float("nan"),
        "contested_accuracy": c_hits / c_total if c_total else float("nan"),
        "stance_slope": slope,
    }


def candidate_experiment(
    model: Any,
    personas: Any,
    *,
    prompts: Sequence[str] = VALUE_PROMPTS,
    k: int = 4,
    n_prompts: int | None = None,
    eval_fraction: float = 0.3,
    temperature: float = 0.5,
    iw_weight: float = 1.5,
    seed: int = 0,
) -> pd.DataFrame:
    """Standard vs NC candidates: diversity of the sets and recovery of held-out personas' preferences.

    Prompts and personas are split into train/eval (``eval_fraction``); both designs are evaluated on the
    same pool (the eval prompts' candidates of both designs), so they differ only in the training data.
    Returns one row per design: ``stance_sd`` (mean within-set SD of stance), ``n_pairs`` and the metrics
    of :func:`recovery`.

    Parameters
    ----------
    model : Any
        A ChatBackend generating the candidates.
    personas : Any
        The personas (a :class:`pluralis.simulate.PersonaPanel` or its ``data``).
    prompts : sequence of str
        The prompts (default: value-laden questions).
    k : int
        Candidates per set (default 4).
    n_prompts : int, optional
        Use only the first ``n_prompts`` prompts; ``None`` (default) uses all.
    eval_fraction : float
        Share of prompts and personas held out for evaluation (default 0.3).
    temperature : float
        The personas' choice temperature ``τ`` (default 0.5).
    iw_weight : float
        Scale of the stance weight (default 1.5).
    seed : int
        Random seed (splits, choices).

    Returns
    -------
    pandas.DataFrame
        One row per design (``standard``, ``nc``).

    Example
    -------
    >>> # candidate_experiment(ModelSpec(name="smollm2", base_url="http://127.0.0.1:8080/v1"), generate_personas(200))
    """
    from pluralis.features.response import style_features as text_features

    data = personas.data if hasattr(personas, "data") else personas
    rng = np.random.default_rng(seed)
    prompts = list(prompts)[: n_prompts or len(prompts)]
    order = rng.permutation(len(prompts))
    n_eval_p = max(1, int(round(eval_fraction * len(prompts))))
    eval_p = sorted(order[:n_eval_p])
    train_p = sorted(order[n_eval_p:])
    people = rng.permutation(len(data))
    n_eval_u = max(2, int(round(eval_fraction * len(data))))
    eval_u, train_u = data.iloc[people[:n_eval_u]], data.iloc[people[n_eval_u:]]
    cands = {s: candidate_sets(model, prompts, k=k, sampling=s) for s in SAMPLING}
    pool = []
    for s in SAMPLING:
        c = cands[s]
        for i in eval_p:
            pool.append(c.loc[c["prompt_id"] == i, "text"].tolist())
    rows = []
    for s in SAMPLING:
        c = cands[s]
        stance = text_features(c["text"].tolist())["stance"].to_numpy()
        sd = pd.Series(stance).groupby(c["prompt_id"].to_numpy()).std(ddof=0).mean()
        train_c = c[c["prompt_id"].isin(train_p)]
        ch = persona_choices(train_c, train_u, temperature=temperature, iw_weight=iw_weight, seed=seed)
        pairs = choice_pairs(ch)
        rec = recovery(pairs, pool, eval_u, iw_weight=iw_weight)
        rows.append({"sampling": s, "stance_sd": float(sd), "n_pairs": len(pairs), **rec})
    return pd.DataFrame(rows)
