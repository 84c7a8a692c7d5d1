"""Simulated participants taking the PRISM protocol through the collection engine.

A participant *agent* decides; the collection platform's engine
(:class:`pluralis.collect.protocol.ProtocolSession`) enforces the protocol, calls the models and
writes the records — the same code path as human participants in the web app. :func:`run_session`
drives one session:

consent -> survey (:meth:`Agent.survey_answers` for PRISM's questions, the question kinds for any other
question: :func:`survey_answers_for`) -> for each conversation: choose a type and
write an opening prompt (:meth:`Agent.choose_and_open`) -> rate the opening responses 1-100
(:meth:`Agent.rate`) -> follow-ups (:meth:`Agent.next_message`) and their ratings -> attribute
ratings and open feedback (:meth:`Agent.feedback`) -> ... until the type quotas are done.

Two agents ship:

* :class:`PreferenceAgent` — the documented preference model (:mod:`pluralis.simulate.preference`);
  deterministic given its seed. SIMULATION: it reads the model behind each response from the
  engine's state only to add that model's latent quality and planted group shifts (terms that
  stand for everything its text features miss); ratings are otherwise blind, like PRISM's.
* :class:`pluralis.simulate.roleplay.RolePlayAgent` — an LLM role-plays the persona, falling
  back to a :class:`PreferenceAgent` (flagged) when it does not produce a valid action.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping
from typing import Any, Protocol

import numpy as np

from pluralis.collect.questions import fill_survey_answers
from pluralis.data import vocab
from pluralis.features.response import style_array
from pluralis.simulate import texts
from pluralis.simulate.preference import PreferenceModel


class Agent(Protocol):
    """What :func:`run_session` needs from a simulated participant."""

    stats: dict[str, int]

    def survey_answers(self) -> dict[str, Any]: ...

    async def choose_and_open(self, view) -> tuple[str, str]: ...

    async def rate(self, view, hidden: list) -> list[int]: ...

    async def next_message(self, view) -> str | None: ...

    async def feedback(self, view) -> tuple[dict, dict, str]: ...


class PreferenceAgent:
    """A persona that acts by the preference model (see the module docstring).

    ``row``: the persona's row of a panel (dict); ``weights``: its
    :meth:`PreferenceModel.person_weights` row; ``member``: its survey values for planted group
    shifts (e.g. ``{"study_locale": "uk", "age": "65+ years old"}``); ``prompt_bank``: a
    :class:`pluralis.simulate.texts.PromptBank` its opening prompts and follow-ups come from (real models
    answer a bank once per prompt; default: prompts written from the persona's traits).

    Example
    -------
    >>> import asyncio
    >>> from pluralis.simulate.generator import generate_personas
    >>> p = generate_personas(1, seed=0)
    >>> row = p.data.iloc[0].to_dict()
    >>> w = PreferenceModel().person_weights(p.data).iloc[0].to_dict()
    >>> a = PreferenceAgent(row, w, models=["m1", "m2"], seed=1)
    >>> a.survey_answers()["gender"] == row["gender"]
    True
    """

    actor = "preference-model"

    def __init__(
        self,
        row: Mapping[str, Any],
        weights: Mapping[str, float],
        *,
        model: PreferenceModel | None = None,
        models: list[str] | None = None,
        member: Mapping[str, Any] | None = None,
        seed: int = 0,
        prompt_bank: texts.PromptBank | None = None,
    ):
        self.row = dict(row)
        self.prompt_bank = prompt_bank
        self.weights = dict(weights)
        self.model = model or PreferenceModel()
        self.member = dict(member or {})
        self.rng = random.Random(f"agent:{seed}:{self.row.get('persona_id')}")
        self.np_rng = np.random.default_rng(self._stable_seed(seed))
        models = list(models or [])
        taste = self.np_rng.normal(0.0, self.model.taste_sd, len(models)) if models else np.zeros(0)
        self.taste = {m: float(t) for m, t in zip(models, taste)}
        self.stats: dict[str, int] = {"actions": 0, "fallbacks": 0}
        self._conv: dict[str, Any] = {}
        self._types_done: list[str] = []

    def _stable_seed(self, seed: int) -> int:
        import hashlib

        digest = hashlib.blake2b(f"{seed}:{self.row.get('persona_id')}".encode(), digest_size=8).digest()
        return int.from_bytes(digest, "big")

    # -- survey ------------------------------------------------------------------------------------

    def survey_answers(self) -> dict[str, Any]:
        """The persona's answers to PRISM's built-in survey questions (:func:`pluralis.simulate.texts.survey_answers`);
        :func:`survey_answers_for` adds answers to a study's other questions.

        Example
        -------
        >>> from pluralis.simulate.generator import generate_personas
        >>> p = generate_personas(1, country="UK", seed=0)
        >>> a = PreferenceAgent(p.data.iloc[0].to_dict(), PreferenceModel().person_weights(p.data).iloc[0].to_dict())
        >>> a.survey_answers()["reside_country"]
        'United Kingdom'
        """
        self.stats["actions"] += 1
        return texts.survey_answers(self.row, self.weights)

    # -- conversations -----------------------------------------------------------------------------

    def choose_type(self, view) -> str:
        available = [t for t in view.types if t.available]
        if not available:
            raise RuntimeError("no conversation type is available")
        # PRISM participants chose freely within the quotas; we pick at random, weighted by what is left
        weights = [t.remaining for t in available]
        return self.rng.choices([t.name for t in available], weights=weights)[0]

    async def choose_and_open(self, view) -> tuple[str, str]:
        self.stats["actions"] += 1
        ctype = self.choose_type(view)
        if self.prompt_bank is not None:
            prompt = self.prompt_bank.opening(self.row, ctype, self.rng)
        else:
            prompt = texts.opening_prompt(self.row, ctype, self.rng)
        e = float(self.row.get("extraversion", 0.0))
        extra = self.np_rng.poisson(1.4 * math.exp(0.2 * e))
        lo, hi = getattr(view, "min_turns", 2), getattr(view, "max_turns", 10)
        self._conv = {
            "type": ctype,
            "target_turns": int(min(hi, max(lo, 2 + extra))),
            "turns": 0,
            "opening": None,
            "prompt": prompt,
        }
        return ctype, prompt

    def scores_for(self, response_texts: list[str], model_names: list[str], conversation_type: str) -> list[int]:
        """Scores (1-100) for responses, by the preference model with noise.

        Parameters
        ----------
        response_texts
            the responses rated together.
        model_names
            the model behind each (for its latent quality, group shifts and the persona's taste).
        conversation_type
            scales the stance term.

        Returns
        -------
        list of int

        Example
        -------
        >>> w = {"theta_len": 0.3, "theta_ref": -1.0, "theta_hedge": 0.0, "theta_enum": 0.3, "lambda_stance": 0.0,
        ...      "center": 60.0, "spread": 1.0}
        >>> a = PreferenceAgent({"persona_id": "x"}, w, models=["a", "b"], seed=0)
        >>> s = a.scores_for(["I'm sorry, but I cannot help.", "Sure! Here is how.\\n1. Plan\\n2. Act"], ["a", "b"], "unguided")
        >>> s[0] < s[1]
        True
        """
        feats = style_array(response_texts)
        u = self.model.utility(self.weights, feats, model_names, conversation_type, self.member, self.taste)
        u = u + self.np_rng.normal(0.0, self.model.noise_sd, len(u))
        scores = self.model.to_scores(u, self.weights["center"], self.weights["spread"])
        if self._conv.get("opening") is None and len(response_texts) > 1:
            order = np.argsort(-scores, kind="stable")
            self._conv["opening"] = (feats[order[0]], feats[order[-1]], int(scores.max()))
        return [int(s) for s in scores]

    async def rate(self, view, hidden: list) -> list[int]:
        self.stats["actions"] += 1
        return self.scores_for(
            [r.text for r in view.responses],
            [h.model_name for h in hidden],
            self._conv.get("type") or view.conversation_type or "unguided",
        )

    async def next_message(self, view) -> str | None:
        self._conv["turns"] = view.turns_done
        if view.turns_done >= self._conv.get("target_turns", 2) and view.can_finish:
            return None
        if not view.can_follow_up:
            return None
        self.stats["actions"] += 1
        if self.prompt_bank is not None:
            return self.prompt_bank.follow_up(self.row, self._conv.get("prompt"), self.rng)
        return texts.follow_up(self.row, self.rng)

    def attributes(self) -> tuple[dict, dict]:
        """Performance and choice attribute ratings (1-100, ``None`` = N/A) for the chosen response."""
        best, _worst, top = self._conv.get("opening") or (np.zeros(5), None, 70)
        w = self.weights
        shift = {
            "values": 8.0 * best[4] * w["lambda_stance"],
            "creativity": -10.0 + 2.0 * min(best[0], 6.0),
            "fluency": 6.0,
            "factuality": -15.0 * best[1] + 3.0,
            "diversity": 18.0 * best[2] - 8.0,
            "safety": 12.0 + 5.0 * best[1],
            "helpfulness": -25.0 * best[1] + 2.0,
        }
        perf, choice = {}, {}
        na = self.np_rng.random(2 * len(vocab.ATTRIBUTES)) < 0.04
        noise = self.np_rng.normal(0.0, 10.0, 2 * len(vocab.ATTRIBUTES))
        for k, a in enumerate(vocab.ATTRIBUTES):
            perf[a] = None if na[k] else int(np.clip(round(top + shift[a] + noise[k]), 1, 100))
            stated = float(self.row.get(f"stated_prefs_{a}", 70.0))
            j = k + len(vocab.ATTRIBUTES)
            choice[a] = None if na[j] else int(np.clip(round(stated - 8.0 + noise[j] * 1.2), 1, 100))
        return perf, choice

    async def feedback(self, view) -> tuple[dict, dict, str]:
        self.stats["actions"] += 1
        perf, choice = self.attributes()
        best, worst, _ = self._conv.get("opening") or (np.zeros(5), None, 70)
        text = texts.open_feedback(self.row, self.weights, best, worst, self.rng)
        return perf, choice, text


def survey_answers_for(session, agent: Agent) -> dict[str, Any]:
    """The agent's answers to the survey of ``session``'s study (a ``ProtocolSession``).

    The agent answers PRISM's built-in questions from its persona (:meth:`Agent.survey_answers`); every
    other question of the study (a custom question, of any registered kind) gets a plausible answer from
    its kind (:func:`pluralis.collect.questions.fill_survey_answers`), drawn from the session's seed, so
    the same participant answers the same way again.

    Parameters
    ----------
    session : ProtocolSession
        The participant's session (its study's survey and seed).
    agent : Agent
        The simulated participant.

    Returns
    -------
    dict of str to Any
        Question id -> answer, for every question of the study's survey.

    Example
    -------
    >>> from pluralis.collect.config import StudyConfig
    >>> from pluralis.collect.protocol import ProtocolSession
    >>> from pluralis.simulate.generator import generate_personas
    >>> data = StudyConfig().model_dump(mode="json")
    >>> data["survey"]["sections"][0]["questions"].append(
    ...     {"id": "pets", "text": "Which pets do you have?", "kind": "multi", "items": {"cat": "Cat", "dog": "Dog"}})
    >>> p = generate_personas(1, seed=0)
    >>> row = p.data.iloc[0].to_dict()
    >>> agent = PreferenceAgent(row, PreferenceModel().person_weights(p.data).iloc[0].to_dict(), seed=0)
    >>> answers = survey_answers_for(ProtocolSession(StudyConfig.model_validate(data), seed=5), agent)
    >>> answers["age"] == row["age"], set(answers["pets"]["selected"]) <= {"cat", "dog"}
    (True, True)
    """
    rng = random.Random(f"survey:{session.state.seed}:{session.state.user_id}")
    return fill_survey_answers(session.config.survey, agent.survey_answers(), rng)


async def run_session(session, agent: Agent, *, max_failed_turns: int = 3) -> Any:
    """Take ``agent`` through the whole protocol of ``session`` (a ``ProtocolSession``).

    A turn where no model answered is retried (same message) up to ``max_failed_turns`` times;
    after that the conversation is finished early if it may be, else the participant stops
    (their completed conversations are kept, like a human who gives up).

    Parameters
    ----------
    session : ProtocolSession
        A fresh session of the study.
    agent : Agent
        The simulated participant.
    max_failed_turns : int
        Retries of a turn with no model answer before giving up (default 3).

    Returns
    -------
    ProtocolSession
        The same session, finished or stopped.

    Example
    -------
    >>> import asyncio
    >>> from pluralis.collect.config import StudyConfig
    >>> from pluralis.collect.protocol import ProtocolSession
    >>> from pluralis.simulate.generator import generate_personas
    >>> from pluralis.simulate.responders import simulated_backends
    >>> backends = simulated_backends(seed=0)
    >>> cfg = StudyConfig().with_models([{"name": n, "endpoint": "http://127.0.0.1:9/v1"} for n in backends])
    >>> p = generate_personas(1, seed=0)
    >>> agent = PreferenceAgent(p.data.iloc[0].to_dict(), PreferenceModel().person_weights(p.data).iloc[0].to_dict(),
    ...                         models=list(backends), seed=0)
    >>> s = asyncio.run(run_session(ProtocolSession(cfg, models=backends, seed=0, source="simulated"), agent))
    >>> s.step.value, len(s.conversations())
    ('complete', 6)
    """
    from pluralis.collect.protocol import Step

    if session.step == Step.CONSENT:
        session.consent()
    if session.step == Step.SURVEY:
        session.submit_survey(survey_answers_for(session, agent))
    while session.step == Step.START:
        view = session.view()
        ctype, prompt = await agent.choose_and_open(view)
        responses = []
        for _ in range(max_failed_turns):
            responses = await session.opening_turn(ctype, prompt)
            if responses:
                break
        if not responses:
            return session
        await _rate(session, agent)
        while True:
            view = session.view()
            message = await agent.next_message(view)
            if message is None:
                if view.can_finish:
                    break
                message = texts.follow_up({}, random.Random(view.turns_done))
            got = []
            for _ in range(max_failed_turns):
                got = await session.follow_up(message)
                if got:
                    break
            if not got:
                if session.view().can_finish:
                    break
                return session
            await _rate(session, agent)
        perf, choice, text = await agent.feedback(session.view())
        session.finish(perf, choice, text)
    return session


async def _rate(session, agent: Agent) -> None:
    view = session.view()
    turn = session.state.current.turns[-1]
    by_id = {r.id: r for r in turn.responses}
    hidden = [by_id[i] for i in turn.display_order]
    scores = await agent.rate(view, hidden)
    session.rate(list(scores))
