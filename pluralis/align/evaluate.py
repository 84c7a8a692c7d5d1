"""Whose gain? Win rates of aligned models against the base model, judged group by group.

For every model and every evaluation group, :func:`evaluate_models` measures how often the group prefers
the model's answer to the base model's answer on **held-out prompts** (prompts of evaluation
participants that no training pair used):

(a) ``judge="reward"`` — the group's reward model fit on the **held-out participants'** pairs only
    (participants never seen in training; the eval split of :mod:`pluralis.align.pairs`). A group's
    preference for answer *x* over the base answer *b* is Bradley–Terry ``σ(r_g(x) − r_g(b))``; the
    win rate is its mean over prompts (identical answers count one half).
(b) ``judge="persona"`` — LLM persona judges (PERSONA-style, through the role-play machinery of
    :mod:`pluralis.simulate.roleplay`): each persona of the group sees the prompt and both answers
    (in random order) and says which it prefers; the win rate is the share of its choices.
(c) humans — serve the aligned models (``pluralis llm serve``) in a collection study and analyse the
    ratings like any other study.

The **gain** is the win rate minus one half, in percentage points (the base against itself wins 50 %).
Intervals are percentile intervals of a two-way bootstrap: each draw resamples the judges (participants
— the group's reward model is refit on the resampled participants — or personas) and, independently,
the prompts. Results: :class:`EvalResult` (``table`` with ``win_rate``, ``gain_pp`` and intervals;
:meth:`~EvalResult.matrix` trained-on × evaluated-by; CSV and plots by :meth:`~EvalResult.write`).

Example
-------
>>> from pluralis.align.planted import planted_question_pairs
>>> from pluralis.align.pairs import PreferenceData, split_participants
>>> pairs = planted_question_pairs(40, 6, seed=0)
>>> split = split_participants(pairs, 0.5, strata="group")
>>> data = PreferenceData(pairs[split == "train"], pairs[split == "eval"])
>>> prompts = [[{"role": "user", "content": "Give me one short tip for baking bread."}]]
>>> answers = {"base": ["Use warm water."], "asks": ["Use warm water. Want another tip?"]}
>>> res = judge_with_reward_models(answers, prompts, data, by="group", n_boot=100, trained_on={"asks": "A"})
>>> t = res.table.set_index(["model", "eval_group"])
>>> bool(t.loc[("asks", "A"), "gain_pp"] > 10 and t.loc[("asks", "B"), "gain_pp"] < -10)
True
"""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pluralis.errors import ConfigError

BASE = "base"
JUDGES: tuple[str, ...] = ("reward", "persona")


# --- held-out prompts -------------------------------------------------------------------------------------


def _key(chat: Any) -> str:
    return json.dumps(chat, sort_keys=True) if not isinstance(chat, str) else chat


def heldout_prompts(data: Any, n: int | None = 20, *, seed: int = 0) -> list[list[dict]]:
    """Prompts (chats) of the eval split that no training pair used, at most ``n`` (a seeded draw).

    Parameters
    ----------
    data : PreferenceData
        The preference data (its ``train`` and ``eval`` splits).
    n : int or None
        Most prompts (default 20); ``None`` for all.
    seed : int
        Seed of the draw.

    Returns
    -------
    list of list of dict
        The prompts as chat messages, each once.

    Example
    -------
    >>> from pluralis.align.pairs import PreferenceData
    >>> chat = lambda t: [{"role": "user", "content": t}]
    >>> tr = pd.DataFrame({"prompt": [chat("a")]})
    >>> ev = pd.DataFrame({"prompt": [chat("a"), chat("b"), chat("b"), chat("c")]})
    >>> [p[-1]["content"] for p in heldout_prompts(PreferenceData(tr, ev), None)]
    ['b', 'c']
    """
    train = {_key(p) for p in data.train["prompt"]} if len(data.train) else set()
    seen: set[str] = set()
    out = []
    for p in data.eval["prompt"] if len(data.eval) else []:
        k = _key(p)
        if k in train or k in seen:
            continue
        seen.add(k)
        out.append([dict(m) for m in p])
    if not out:
        raise ConfigError("no held-out prompts: the eval split has no prompt that training did not use")
    if n is not None and len(out) > n:
        idx = sorted(np.random.default_rng(seed).choice(len(out), size=int(n), replace=False))
        out = [out[i] for i in idx]
    return out


# --- generating answers -------------------------------------------------------------------------------------


def parse_model_ref(text: str) -> tuple[str, str]:
    """``NAME=REF`` → ``(NAME, REF)``; a bare REF is named after its last path part.

    Parameters
    ----------
    text : str
        ``NAME=REF`` or ``REF`` (a model folder or hub id).

    Returns
    -------
    tuple of (str, str)
        The name and the reference.

    Example
    -------
    >>> parse_model_ref("dpo-female=runs/dpo-f"), parse_model_ref("runs/bon-male/")
    (('dpo-female', 'runs/dpo-f'), ('bon-male', 'runs/bon-male/'))
    """
    name, sep, ref = str(text).partition("=")
    if sep and name and "/" not in name and ":" not in name:
        return name, ref
    ref = str(text)
    return Path(ref.rstrip("/")).name or ref, ref


class Generator:
    """Answers from local models, each loaded once; several references to one base share its weights.

    A reference is an aligned folder (:mod:`pluralis.align.base`), a model folder, a ``.gguf`` file,
    ``"smollm2"``, or ``URL#model`` for an OpenAI-compatible server (e.g. ``pluralis llm serve``).

    Example
    -------
    >>> Generator(device="cpu").device
    'cpu'
    """

    def __init__(self, *, device: str = "auto", cache: str | None = None):
        self.device = device
        self.cache = cache
        self._models: dict[str, tuple[Any, Any]] = {}

    def _load(self, path: Path) -> tuple[Any, Any]:
        from pluralis.align.models import load_model, resolve_device

        key = str(Path(path).resolve())
        if key not in self._models:
            self._models[key] = load_model(path, device=resolve_device(self.device))
        return self._models[key]

    def answers(
        self,
        ref: str,
        chats: Sequence[Sequence[dict]],
        *,
        max_tokens: int = 64,
        temperature: float = 0.0,
        seed: int = 0,
        timeout: float = 120.0,
    ) -> list[str]:
        """One answer per chat from the model ``ref``."""
        from pluralis.align.base import MANIFEST, AlignedModel
        from pluralis.align.models import resolve_base_model, sample_responses

        if str(ref).startswith(("http://", "https://")):
            return _remote_answers(ref, chats, max_tokens=max_tokens, temperature=temperature, timeout=timeout)
        path = Path(ref)
        if (path / MANIFEST).is_file():
            aligned = AlignedModel.load(path)
            if aligned.aligner == "best_of_n":
                from pluralis.align.serving import BestOfNBackend
                from pluralis.llm.types import DecodingParams

                model, tok = self._load(resolve_base_model(aligned.base_model, cache=self.cache))
                bon = BestOfNBackend(aligned.spec(), aligned, model=model, tokenizer=tok)
                params = DecodingParams(max_tokens=max_tokens)
                return [o["text"] for o in bon.generate_batch([list(c) for c in chats], params, seed=seed)]
            path = aligned.model_path
        model, tok = self._load(resolve_base_model(path, cache=self.cache))
        texts = sample_responses(model, tok, chats, n=1, max_new_tokens=max_tokens, temperature=temperature, seed=seed)
        return [t[0] for t in texts]


def _remote_answers(
    ref: str, chats: Sequence[Sequence[dict]], *, max_tokens: int, temperature: float, timeout: float
) -> list[str]:
    from pluralis.llm.response_sets import call_model
    from pluralis.llm.types import Failure, ModelSpec

    url, _, name = ref.partition("#")
    if not name:
        raise ConfigError(f"{ref}: name the served model after '#', e.g. http://127.0.0.1:8000/v1#dpo-female")
    spec = ModelSpec(name=name, base_url=url, system_prompt=None, max_retries=1)
    params = {"max_tokens": max_tokens, "temperature": temperature, "seed": 0}

    async def run() -> list[str]:
        from pluralis.llm.backend import close_backends

        try:
            outs = await asyncio.gather(*(call_model(spec, list(c), params=params, timeout=timeout) for c in chats))
        finally:
            await close_backends()
        bad = [o for o in outs if isinstance(o, Failure)]
        if bad:
            raise ConfigError(f"{ref}: {len(bad)} of {len(outs)} requests failed: {bad[0].message}")
        return [o.text for o in outs]  # type: ignore[union-attr]

    return asyncio.run(run())


def generate_answers(
    models: Mapping[str, str],
    prompts: Sequence[Sequence[dict]],
    *,
    max_tokens: int = 64,
    temperature: float = 0.0,
    seed: int = 0,
    device: str = "auto",
    generator: Generator | None = None,
    progress=None,
) -> dict[str, list[str]]:
    """``{name: [answer per prompt]}`` for every model (``progress(name)`` is called after each model).

    Parameters
    ----------
    models : mapping of str to str
        Model name -> reference (a folder or hub id; see :class:`Generator`).
    prompts : sequence of sequence of dict
        The prompts as chat messages.
    max_tokens : int
        Longest answer in tokens (default 64).
    temperature : float
        Sampling temperature (default 0: greedy).
    seed : int
        Sampling seed.
    device : str
        Device for the default generator (default ``"auto"``).
    generator : Generator, optional
        The generator to use (default: a new :class:`Generator` on ``device``).
    progress : callable, optional
        Called with each model's name when its answers are done.

    Returns
    -------
    dict of str to list of str
        Model name -> one answer per prompt.

    Example
    -------
    >>> generate_answers({"base": "smollm2"}, [[{"role": "user", "content": "Hi"}]], max_tokens=8)  # doctest: +SKIP
    {'base': ['Hello! How can I help you today?']}
    """
    gen = generator or Generator(device=device)
    out = {}
    for name, ref in models.items():
        out[name] = gen.answers(ref, prompts, max_tokens=max_tokens, temperature=temperature, seed=seed)
        if progress is not None:
            progress(name)
    return out


# --- results -----------------------------------------------------------------------------------------------


@dataclass
class EvalResult:
    """Win rates and gains of each model over the base, per evaluation group and judge.

    ``table``: one row per (model, eval_group, judge) with ``trained_on``, ``win_rate``, ``win_low``,
    ``win_high``, ``gain_pp``, ``gain_low``, ``gain_high``, ``n_prompts``, ``n_judges``;
    ``judgements``: one row per (model, eval_group, judge, prompt) with the point-estimate preference;
    ``answers``: the generated answers.

    Example
    -------
    >>> t = pd.DataFrame({"model": ["m"], "trained_on": ["A"], "eval_group": ["A"], "judge": ["reward"],
    ...                   "gain_pp": [5.0]})
    >>> float(EvalResult(t, by="group").matrix().loc["m", "A"])
    5.0
    """

    table: pd.DataFrame
    by: str
    judgements: pd.DataFrame = field(default_factory=pd.DataFrame)
    answers: pd.DataFrame = field(default_factory=pd.DataFrame)
    settings: dict = field(default_factory=dict)

    def matrix(self, judge: str = "reward", value: str = "gain_pp") -> pd.DataFrame:
        """``value`` as a model (trained on) × evaluation group table for one judge."""
        t = self.table[self.table["judge"] == judge]
        if not len(t):
            raise ConfigError(f"no results for judge {judge!r}; judges: {sorted(set(self.table['judge']))}")
        m = t.pivot_table(index="model", columns="eval_group", values=value, aggfunc="first")
        order = list(dict.fromkeys(t["model"]))
        return m.reindex(index=order)

    def plot(self, path=None, *, judge: str = "reward", title: str | None = None):
        """Heatmap of :meth:`matrix` with intervals (:func:`pluralis.align.plots.plot_gain_matrix`)."""
        from pluralis.align.plots import plot_gain_matrix

        return plot_gain_matrix(self, path, judge=judge, title=title)

    def write(self, folder: str | Path, *, plots: bool = True) -> dict[str, Path]:
        """``gains.csv``, ``judgements.csv``, ``answers.csv``, ``matrix_<judge>.csv`` and plots in ``folder``.

        Example
        -------
        >>> import tempfile
        >>> t = pd.DataFrame({"model": ["m"], "trained_on": ["A"], "eval_group": ["A"], "judge": ["reward"],
        ...                   "gain_pp": [5.0], "gain_low": [1.0], "gain_high": [9.0]})
        >>> sorted(EvalResult(t, by="group").write(tempfile.mkdtemp()))
        ['gains', 'matrix_reward', 'plot_reward']
        """
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        files = {"gains": folder / "gains.csv"}
        self.table.to_csv(files["gains"], index=False)
        if len(self.judgements):
            files["judgements"] = folder / "judgements.csv"
            self.judgements.to_csv(files["judgements"], index=False)
        if len(self.answers):
            files["answers"] = folder / "answers.csv"
            self.answers.to_csv(files["answers"], index=False)
        for judge in sorted(set(self.table["judge"])):
            files[f"matrix_{judge}"] = folder / f"matrix_{judge}.csv"
            self.matrix(judge).to_csv(files[f"matrix_{judge}"])
            if plots:
                files[f"plot_{judge}"] = folder / f"gains_{judge}.png"
                self.plot(files[f"plot_{judge}"], judge=judge)
        if self.settings:
            (folder / "eval_settings.json").write_text(json.dumps(self.settings, indent=2, default=str))
        return files


def _summary(draws: np.ndarray, point: float, level: float) -> tuple[float, float]:
    d = draws[np.isfinite(draws)]
    if not len(d):
        return float("nan"), float("nan")
    a = (1 - level) / 2
    lo, hi = np.quantile(d, [a, 1 - a])
    return float(lo), float(hi)


def _row(model, trained_on, group, judge, win, draws, level, n_prompts, n_judges) -> dict[str, Any]:
    lo, hi = _summary(draws, win, level)
    return {
        "model": model,
        "trained_on": trained_on,
        "eval_group": group,
        "judge": judge,
        "win_rate": win,
        "win_low": lo,
        "win_high": hi,
        "gain_pp": 100 * (win - 0.5),
        "gain_low": 100 * (lo - 0.5),
        "gain_high": 100 * (hi - 0.5),
        "n_prompts": n_prompts,
        "n_judges": n_judges,
    }


def _eval_groups(frame: pd.DataFrame, by: str, groups: Sequence[str] | None) -> list[str]:
    if by not in frame.columns:
        raise ConfigError(
            f"eval pairs have no column {by!r} to group by; columns: {', '.join(map(str, frame.columns))}"
        )
    present = [str(g) for g in pd.unique(frame[by].dropna().astype(str))]
    if groups is None:
        return sorted(present)
    missing = [g for g in groups if str(g) not in present]
    if missing:
        raise ConfigError(f"no held-out participants in group(s) {missing} of {by!r}; present: {sorted(present)}")
    return [str(g) for g in groups]


def judge_with_reward_models(
    answers: Mapping[str, Sequence[str]],
    prompts: Sequence[Sequence[dict]],
    data: Any,
    *,
    by: str,
    groups: Sequence[str] | None = None,
    base: str = BASE,
    trained_on: Mapping[str, str] | None = None,
    features: str = "text",
    feature_set: str = "all",
    alpha: float = 1.0,
    min_participants: int = 2,
    n_boot: int = 200,
    level: float = 0.95,
    seed: int = 0,
) -> EvalResult:
    """Judge (a) of the module docstring: each group's reward model from its held-out participants' pairs.

    Parameters
    ----------
    answers
        ``{model: [answer per prompt]}``, including ``base``.
    prompts
        the held-out prompts (only their count matters here; kept for the record).
    data
        :class:`~pluralis.align.pairs.PreferenceData`; its **eval** split trains the judges.
    by
        the eval pairs' column naming each participant's group (``gender``, ``group``, ...).
    groups
        evaluation groups (default: every value present).
    trained_on
        ``{model: label}`` for the table (default: ``"?"``; the base is ``"(base)"``).
    features, feature_set, alpha
        the judges' reward model.
    min_participants
        groups with fewer held-out participants are left out (a judge of one person says little).
    n_boot, level, seed
        two-way bootstrap draws (participants × prompts), interval level, seed.

    Returns
    -------
    EvalResult

    Example
    -------
    >>> from pluralis.align.planted import planted_question_pairs
    >>> from pluralis.align.pairs import PreferenceData
    >>> ev = planted_question_pairs(12, 4, seed=1)
    >>> res = judge_with_reward_models({"base": ["Ok. Have a great day."], "m": ["Ok. Need more advice?"]},
    ...                                [[{"role": "user", "content": "Hi"}]], PreferenceData(ev[:0], ev), by="group",
    ...                                n_boot=0)
    >>> (res.table.set_index("eval_group")["gain_pp"] > 0).to_dict()
    {'A': True, 'B': False}
    """
    from scipy.special import expit

    from pluralis.align.rewards import _featurizer, learn_pairs
    from pluralis.learn.models import RewardModel, featurize_pairs

    if base not in answers:
        raise ConfigError(f"answers lack the base model {base!r}")
    n_p = len(answers[base])
    for m, a in answers.items():
        if len(a) != n_p:
            raise ConfigError(f"model {m!r} has {len(a)} answers for {n_p} prompts")
    ev = data.eval
    chosen = _eval_groups(ev, by, groups)
    featurizer = _featurizer(features, feature_set)
    lp = learn_pairs(ev)
    lp[by] = ev[by].to_numpy()
    if "user_id" not in lp.columns:
        lp["user_id"] = ev["user_id"].to_numpy() if "user_id" in ev.columns else np.arange(len(ev)).astype(str)
    pf = featurize_pairs(lp, featurizer)
    names = list(answers)
    texts = [str(t) for m in names for t in answers[m]]
    phi = pf.featurizer.fit().transform(texts) if pf.featurizer is not None else featurizer.fit().transform(texts)
    phi = phi.reshape(len(names), n_p, -1)
    rng = np.random.default_rng(seed)
    rows, judg = [], []
    labels = {**{m: "?" for m in names}, **dict(trained_on or {}), base: "(base)"}
    for g in chosen:
        mask = (lp[by].astype(str) == g).to_numpy()
        users = lp.loc[mask, "user_id"].astype(str).to_numpy()
        codes, uniq = pd.factorize(users)
        if len(uniq) < min_participants:
            continue
        sub = pf.take(np.flatnonzero(mask))
        w0 = sub.frame["weight"].to_numpy(dtype=float) if "weight" in sub.frame.columns else np.ones(len(sub))
        coef0 = RewardModel(alpha=alpha).fit(sub, sample_weight=w0).coef_
        Wu = rng.multinomial(len(uniq), np.full(len(uniq), 1 / len(uniq)), size=n_boot) if n_boot else np.zeros((0, 0))
        Wp = rng.multinomial(n_p, np.full(n_p, 1 / n_p), size=n_boot).astype(float) if n_boot else np.zeros((0, n_p))
        coefs = np.zeros((len(Wu), len(coef0)))
        for b, wu in enumerate(Wu):  # refit on the resampled participants
            coefs[b] = RewardModel(alpha=alpha).fit(sub, sample_weight=w0 * wu[codes]).coef_
        r_base = phi[names.index(base)]
        for m in names:
            if m == base:
                continue
            d = phi[names.index(m)] - r_base  # (prompts, features)
            p = expit(d @ coef0)
            win = float(p.mean())
            draws = (expit(d @ coefs.T).T * Wp).sum(axis=1) / Wp.sum(axis=1) if n_boot else np.zeros(0)
            rows.append(_row(m, labels[m], g, "reward", win, draws, level, n_p, len(uniq)))
            judg += [
                {"model": m, "eval_group": g, "judge": "reward", "prompt_id": i, "p_win": float(pi)}
                for i, pi in enumerate(p)
            ]
    table = pd.DataFrame(rows)
    if not len(table):
        raise ConfigError(f"no evaluation group of {by!r} has {min_participants}+ held-out participants")
    ans = pd.DataFrame(
        [
            {"model": m, "prompt_id": i, "prompt": prompts[i][-1]["content"] if i < len(prompts) else None, "answer": a}
            for m in names
            for i, a in enumerate(answers[m])
        ]
    )
    settings = {"by": by, "judge_features": features, "n_boot": n_boot, "level": level, "seed": seed}
    return EvalResult(table, by, pd.DataFrame(judg), ans, settings)


# --- persona judges ------------------------------------------------------------------------------------------

PERSONA_JUDGE_INSTRUCTION = (
    "Someone asked an AI assistant: {prompt!r}\n\nResponse A:\n{a}\n\nResponse B:\n{b}\n\n"
    'Which response do you, as yourself, prefer? Reply as a JSON object with "preferred": "A" or "B".'
)


def parse_preference(text: str) -> str | None:
    """``"A"``/``"B"`` from a judge's reply (a JSON object with ``preferred``, else a lone letter), or None.

    Parameters
    ----------
    text : str
        The judge's reply.

    Returns
    -------
    str or None
        ``"A"``, ``"B"``, or ``None`` when the reply names neither.

    Example
    -------
    >>> parse_preference('{"preferred": "b"}'), parse_preference("I prefer A."), parse_preference("both")
    ('B', 'A', None)
    """
    import re

    from pluralis.simulate.roleplay import ActionError, parse_json_object

    try:
        obj = parse_json_object(text)
        v = str(obj.get("preferred", obj.get("choice", ""))).strip().upper()
        if v in ("A", "B"):
            return v
    except ActionError:
        pass
    found = set(re.findall(r"\b([AB])\b", text or ""))
    return found.pop() if len(found) == 1 else None


def judge_with_personas(
    answers: Mapping[str, Sequence[str]],
    prompts: Sequence[Sequence[dict]],
    personas: pd.DataFrame,
    config: Any,
    *,
    by: str,
    groups: Sequence[str] | None = None,
    base: str = BASE,
    trained_on: Mapping[str, str] | None = None,
    n_boot: int = 200,
    level: float = 0.95,
    seed: int = 0,
) -> EvalResult:
    """Judge (b): persona LLM judges (``config``: a :class:`pluralis.simulate.RolePlayConfig`).

    ``personas``: rows of a :class:`pluralis.simulate.PersonaPanel`'s ``data`` (the ``by`` column gives
    each persona's group). Each persona judges every (model, prompt) against the base once, answers in
    random order; unparseable replies (after the config's retries) are left out (``n_invalid``).

    Parameters
    ----------
    answers : mapping of str to sequence of str
        Model name -> answer per prompt, including ``base``.
    prompts : sequence of sequence of dict
        The held-out prompts as chat messages.
    personas : pandas.DataFrame
        The judging personas.
    config : RolePlayConfig
        The persona LLM's settings.
    by : str
        The personas' column giving each one's group.
    groups : sequence of str, optional
        Evaluation groups (default: every value present).
    base : str
        Name of the base model in ``answers`` (default ``"base"``).
    trained_on : mapping of str to str, optional
        Model -> what it was trained on, for the table.
    n_boot : int
        Bootstrap draws (default 200).
    level : float
        Interval level (default 0.95).
    seed : int
        Random seed (answer order, bootstrap).

    Returns
    -------
    EvalResult
        Win rates over the base by (model, group).

    Example
    -------
    >>> from pluralis.simulate.generator import generate_personas
    >>> from pluralis.simulate.roleplay import RolePlayConfig
    >>> class Judge:   # a stand-in LLM that always prefers the answer with a question mark
    ...     spec = None
    ...     async def chat(self, messages, **kw):
    ...         from pluralis.llm.types import ChatResult
    ...         t = messages[-1]["content"]
    ...         a = t.split("Response A:")[1].split("Response B:")[0]
    ...         return ChatResult(text='{"preferred": "%s"}' % ("A" if "?" in a else "B"), model="j", latency_s=0)
    ...     async def aclose(self): pass
    >>> people = generate_personas(4, seed=0).data
    >>> res = judge_with_personas({"base": ["Sure."], "asks": ["Sure. More?"]}, [[{"role": "user", "content": "Hi"}]],
    ...                           people, RolePlayConfig(Judge(), max_retries=0), by="country", n_boot=20)
    >>> res.table["win_rate"].tolist()
    [1.0]
    """
    from pluralis.llm.response_sets import call_model
    from pluralis.llm.types import Failure
    from pluralis.simulate.preference import PreferenceModel
    from pluralis.simulate.roleplay import persona_card

    if base not in answers:
        raise ConfigError(f"answers lack the base model {base!r}")
    chosen = _eval_groups(personas, by, groups)
    people = personas[personas[by].astype(str).isin(chosen)].reset_index(drop=True)
    weights = PreferenceModel().person_weights(people)
    names = [m for m in answers if m != base]
    rnd = random.Random(seed)
    jobs = []
    for j in range(len(people)):
        card = persona_card(people.iloc[j].to_dict(), weights.iloc[j].to_dict())
        for m in names:
            for i, prompt in enumerate(prompts):
                flip = rnd.random() < 0.5
                x, b = str(answers[m][i]), str(answers[base][i])
                a_text, b_text = (b, x) if flip else (x, b)
                ask = PERSONA_JUDGE_INSTRUCTION.format(prompt=prompt[-1]["content"], a=a_text, b=b_text)
                jobs.append((j, m, i, flip, [{"role": "system", "content": card}, {"role": "user", "content": ask}]))

    async def one(messages):
        params = {"temperature": config.temperature, "max_tokens": 60}
        for _ in range(config.max_retries + 1):
            async with config.semaphore():
                out = await call_model(config.target(), messages, params=params, timeout=config.timeout)
            if isinstance(out, Failure):
                continue
            got = parse_preference(out.text)
            if got is not None:
                return got
        return None

    async def run():
        try:
            return await asyncio.gather(*(one(msgs) for *_, msgs in jobs))
        finally:
            from pluralis.llm.backend import close_backends

            await close_backends()

    choices = asyncio.run(run())
    rec = []
    for (j, m, i, flip, _), c in zip(jobs, choices):
        win = None if c is None else float((c == "A") != flip)
        rec.append({"persona": j, "model": m, "prompt_id": i, "win": win})
    judged = pd.DataFrame(rec, columns=["persona", "model", "prompt_id", "win"])
    judged["eval_group"] = people[by].astype(str).to_numpy()[judged["persona"].to_numpy()] if len(judged) else []
    rng = np.random.default_rng(seed)
    labels = {**{m: "?" for m in names}, **dict(trained_on or {})}
    rows, judg = [], []
    n_p = len(prompts)
    for g in chosen:
        for m in names:
            t = judged[(judged["eval_group"] == g) & (judged["model"] == m)]
            valid = t.dropna(subset=["win"])
            if not len(valid):
                continue
            pers = np.sort(valid["persona"].unique())
            W = np.zeros((len(pers), n_p))
            S = np.zeros((len(pers), n_p))
            pi = np.searchsorted(pers, valid["persona"].to_numpy())
            np.add.at(W, (pi, valid["prompt_id"].to_numpy()), 1.0)
            np.add.at(S, (pi, valid["prompt_id"].to_numpy()), valid["win"].to_numpy(dtype=float))
            win = float(S.sum() / W.sum())
            if n_boot:
                wu = rng.multinomial(len(pers), np.full(len(pers), 1 / len(pers)), size=n_boot).astype(float)
                wp = rng.multinomial(n_p, np.full(n_p, 1 / n_p), size=n_boot).astype(float)
                num = np.einsum("bu,up,bp->b", wu, S, wp)
                den = np.einsum("bu,up,bp->b", wu, W, wp)
                with np.errstate(invalid="ignore", divide="ignore"):
                    draws = num / den
            else:
                draws = np.zeros(0)
            row = _row(m, labels[m], g, "persona", win, draws, level, n_p, len(pers))
            row["n_invalid"] = int(t["win"].isna().sum())
            rows.append(row)
            per_prompt = valid.groupby("prompt_id")["win"].mean()
            judg += [
                {"model": m, "eval_group": g, "judge": "persona", "prompt_id": int(str(k)), "p_win": float(v)}
                for k, v in per_prompt.items()
            ]
    if not rows:
        raise ConfigError("no valid persona judgements (the judge LLM never answered A or B)")
    settings = {"by": by, "judge_model": config.model_name, "n_boot": n_boot, "level": level, "seed": seed}
    return EvalResult(pd.DataFrame(rows), by, pd.DataFrame(judg), pd.DataFrame(), settings)


# --- the whole evaluation ---------------------------------------------------------------------------------------


def trained_on_label(ref: str) -> str:
    """What an aligned model was trained on, from its manifest (group, mixture), else ``"?"``.

    Parameters
    ----------
    ref : str
        The aligned model's folder.

    Returns
    -------
    str
        The group or mixture it was trained on, or ``"?"``.

    Example
    -------
    >>> trained_on_label("/no/such/model")
    '?'
    """
    from pluralis.align.base import MANIFEST

    f = Path(ref) / MANIFEST
    if not f.is_file():
        return "?"
    data = json.loads(f.read_text()).get("data") or {}
    if data.get("mixture"):
        return " + ".join(f"{k} {v:.0%}" for k, v in data["mixture"].items())
    return str(data.get("group") or "(all)")


def evaluate_models(
    models: Mapping[str, str],
    data: Any,
    *,
    base: str = "smollm2",
    by: str,
    groups: Sequence[str] | None = None,
    prompts: Sequence[Sequence[dict]] | None = None,
    n_prompts: int | None = 20,
    judges: Sequence[str] = ("reward",),
    personas: pd.DataFrame | None = None,
    persona_config: Any = None,
    max_tokens: int = 64,
    temperature: float = 0.0,
    device: str = "auto",
    n_boot: int = 200,
    level: float = 0.95,
    seed: int = 0,
    features: str = "text",
    progress=None,
) -> EvalResult:
    """Generate answers of every model and the base on held-out prompts, then judge them (module docstring).

    ``models``: ``{name: reference}`` (see :class:`Generator`); ``base``: the base model's reference.
    ``judges``: any of ``"reward"`` and ``"persona"`` (the latter needs ``personas`` and ``persona_config``).

    Parameters
    ----------
    models : mapping of str to str
        Model name -> reference of each aligned model.
    data : PreferenceData
        The preference data (held-out prompts and the reward judges' eval split).
    base : str
        The base model's reference (default ``"smollm2"``).
    by : str
        The column naming each participant's or persona's group.
    groups : sequence of str, optional
        Evaluation groups (default: every value present).
    prompts : sequence of sequence of dict, optional
        The prompts (default :func:`heldout_prompts`).
    n_prompts : int or None
        Most held-out prompts drawn when ``prompts`` is not given (default 20).
    judges : sequence of str
        ``"reward"`` and/or ``"persona"`` (default ``("reward",)``).
    personas : pandas.DataFrame, optional
        Personas for the persona judge.
    persona_config : RolePlayConfig, optional
        The persona LLM's settings for the persona judge.
    max_tokens : int
        Longest answer in tokens (default 64).
    temperature : float
        Sampling temperature (default 0: greedy).
    device : str
        Generation device (default ``"auto"``).
    n_boot : int
        Bootstrap draws (default 200).
    level : float
        Interval level (default 0.95).
    seed : int
        Random seed.
    features : str
        The reward judges' features (default ``"text"``).
    progress : callable, optional
        Called with each model's name when its answers are done.

    Returns
    -------
    EvalResult
        Per-judge win rates over the base by (model, group).

    Example
    -------
    >>> # evaluate_models({"dpo-A": "runs/dpo-A"}, PreferenceData.read("pairs/A"), by="gender")
    """
    unknown = [j for j in judges if j not in JUDGES]
    if unknown or not judges:
        raise ConfigError(f"judges must be among {', '.join(JUDGES)}, got {list(judges)}")
    if BASE in models:
        raise ConfigError(f"{BASE!r} names the base model; give the others different names")
    if prompts is None:
        prompts = heldout_prompts(data, n_prompts, seed=seed)
    refs = {BASE: base, **models}
    answers = generate_answers(
        refs, prompts, max_tokens=max_tokens, temperature=temperature, seed=seed, device=device, progress=progress
    )
    labels = {m: trained_on_label(r) for m, r in models.items()}
    parts = []
    if "reward" in judges:
        parts.append(
            judge_with_reward_models(
                answers, prompts, data, by=by, groups=groups, trained_on=labels, features=features,
                n_boot=n_boot, level=level, seed=seed,
            )
        )  # fmt: skip
    if "persona" in judges:
        if personas is None or persona_config is None:
            raise ConfigError("persona judges need personas and a judge model (--judge-model)")
        parts.append(
            judge_with_personas(
                answers, prompts, personas, persona_config, by=by, groups=groups, trained_on=labels,
                n_boot=n_boot, level=level, seed=seed,
            )
        )  # fmt: skip
    table = pd.concat([p.table for p in parts], ignore_index=True)
    judg = pd.concat([p.judgements for p in parts if len(p.judgements)], ignore_index=True)
    settings = {
        "models": dict(refs),
        "by": by,
        "judges": list(judges),
        "n_prompts": len(prompts),
        "max_tokens": max_tokens,
        "temperature": temperature,
        "n_boot": n_boot,
        "level": level,
        "seed": seed,
    }
    return EvalResult(
        table, by, judg, parts[0].answers if "reward" in judges else _answers_frame(answers, prompts), settings
    )


def _answers_frame(answers: Mapping[str, Sequence[str]], prompts: Sequence[Sequence[dict]]) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {"model": m, "prompt_id": i, "prompt": prompts[i][-1]["content"], "answer": a}
            for m, texts in answers.items()
            for i, a in enumerate(texts)
        ]
    )
