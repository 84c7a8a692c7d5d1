"""Models that went away mid-study: removed or renamed in the study file, or down for good.

A participant's conversation needs models: the opening turn asks several, later turns ask the model the
participant locked in by rating. When the study file no longer has a model (or its server keeps failing), the
participants who need it would otherwise wait forever. This module decides, from a participant's protocol
state and the models the app has now:

- :func:`unavailable_models`: which models the participant needs but cannot have (``removed``: not in the
  study any more; ``failing``: the locked model failed the participant's last ``FAILED_ATTEMPTS`` tries);
- :func:`repair_pending`: a pending model call is given replacements (the opening turn keeps its number of
  models; a locked model is replaced by the participant's next-best rated opening model still available, else
  one drawn from the study's models); every change is returned as a ``model_replaced`` event;
- :func:`finish_early`: a participant whose locked model is gone may finish the conversation now, whatever the
  turn minimum (a ``conversation_ended_early`` event; the record is flagged by :func:`annotate_record`);
- :func:`annotate_record`: the finished conversation's record says when its later turns came from another
  model than the one locked in (``model_replaced``) and when it ended early (``ended_early``);
- :func:`check_sessions`: at start-up, the participants in a conversation with a model that is gone.

Example
-------
>>> from pluralis.collect.config import StudyConfig
>>> from pluralis.collect.protocol import ProtocolSession, example_survey_answers
>>> s = ProtocolSession(StudyConfig(), seed=1)
>>> s.consent(); s.submit_survey(example_survey_answers())
>>> call = s.start_conversation("unguided", "Hello")
>>> gone = call.models[0]
>>> sorted(unavailable_models(s, [m for m in s.config.model_names() if m != gone]).items())
[('local-model-...', 'removed')]
"""

from __future__ import annotations

import random
from collections.abc import Collection, Iterable
from typing import Any

from pluralis.collect.protocol import ConversationState, ProtocolSession, ProtocolState, Step

#: Failed tries in a row after which a participant's locked model counts as down for good.
FAILED_ATTEMPTS = 2

#: Event kind of a replaced model (``detail``: conversation_id, turn, from, to, reason).
REPLACED = "model_replaced"
#: Event kind of a conversation finished before the turn minimum because its model was gone.
ENDED_EARLY = "conversation_ended_early"


def _later_turn_attempts(state: ProtocolState, conv: ConversationState, model: str) -> int:
    """How many tries the locked ``model`` failed at the conversation's next turn (the pending one, if any)."""
    pending = state.step == Step.GENERATING and conv.turns and not conv.turns[-1].generated
    turn = conv.turns[-1].turn if pending else len(conv.turns)
    times = {
        f.at
        for f in state.failures
        if f.conversation_id == conv.conversation_id and f.turn == turn and f.model_name == model
    }
    return len(times)


def locked_model_problem(session: ProtocolSession, available: Collection[str]) -> str | None:
    """Why the participant's locked model cannot continue the conversation, or ``None`` when it can.

    Parameters
    ----------
    session
        The participant's session.
    available
        Names of the models the app can call now.

    Returns
    -------
    str or None
        ``"removed"`` (not in the study any more) or ``"failing"`` (failed the last ``FAILED_ATTEMPTS`` tries
        at this turn); ``None`` without a locked model or when it is fine.

    Example
    -------
    >>> from pluralis.collect.config import StudyConfig
    >>> locked_model_problem(ProtocolSession(StudyConfig(), seed=0), ["a"]) is None
    True
    """
    conv = session.state.current
    if conv is None or conv.locked_model is None:
        return None
    if conv.locked_model not in available:
        return "removed"
    if _later_turn_attempts(session.state, conv, conv.locked_model) >= FAILED_ATTEMPTS:
        return "failing"
    return None


def unavailable_models(session: ProtocolSession, available: Collection[str]) -> dict[str, str]:
    """The models the participant needs now (pending call, locked model) that the app cannot give them.

    Parameters
    ----------
    session
        The participant's session.
    available
        Names of the models the app can call now.

    Returns
    -------
    dict
        ``{model: "removed" | "failing"}``.

    Example
    -------
    >>> from pluralis.collect.config import StudyConfig
    >>> unavailable_models(ProtocolSession(StudyConfig(), seed=0), [])   # at consent: needs no model yet
    {}
    """
    conv = session.state.current
    out: dict[str, str] = {}
    if conv is None:
        return out
    if session.step == Step.GENERATING and conv.turns:
        for m in conv.turns[-1].requested:
            if m not in available:
                out[m] = "removed"
    problem = locked_model_problem(session, available)
    if problem is not None and conv.locked_model is not None:
        out.setdefault(conv.locked_model, problem)
    return out


def _rng(session: ProtocolSession, conv: ConversationState) -> random.Random:
    return random.Random(f"{session.state.seed}:{conv.conversation_id}:{len(conv.turns)}:{len(session.state.failures)}")


def replacement_for(session: ProtocolSession, available: Iterable[str], exclude: Collection[str] = ()) -> str | None:
    """The model to continue a conversation with when its locked model is gone.

    The participant's own next-best rated opening response whose model is still available (their ratings say
    which of the models they saw they prefer); else one drawn from the available models (seeded by the
    participant and conversation, so a retry draws the same).

    Parameters
    ----------
    session
        The participant's session (a conversation in progress).
    available
        Names of the models the app can call now.
    exclude
        Models not to choose (the one being replaced).

    Returns
    -------
    str or None
        ``None`` when no model is left.

    Example
    -------
    >>> from pluralis.collect.config import StudyConfig
    >>> from pluralis.collect.protocol import example_survey_answers
    >>> s = ProtocolSession(StudyConfig(), seed=0)
    >>> replacement_for(s, ["x"]) is None   # no conversation in progress
    True
    """
    conv = session.state.current
    if conv is None:
        return None
    pool = [m for m in available if m not in exclude]
    if not pool:
        return None
    opening = conv.turns[0] if conv.turns else None
    if opening is not None and opening.rated:
        ranked = sorted((r for r in opening.responses if r.score is not None), key=lambda r: -int(r.score or 0))
        for r in ranked:
            if r.model_name in pool:
                return r.model_name
    return _rng(session, conv).choice(sorted(pool))


def repair_pending(
    session: ProtocolSession, available: Collection[str], *, allow_failing: bool = True
) -> list[tuple[str, dict | None]]:
    """Give a pending model call (step ``generating``) models the app has, in place; returns the events.

    Opening turn (``set``): each requested model that is gone is replaced by an available model not already
    asked (fewer models when too few are left). Later turns (and NC calls): a locked model that is ``removed``
    (or, with ``allow_failing``, ``failing``) is replaced by :func:`replacement_for`, which becomes the
    conversation's locked model. Nothing changes when every model is there.

    Parameters
    ----------
    session
        The participant's session.
    available
        Names of the models the app can call now.
    allow_failing
        Also replace a locked model that failed the last ``FAILED_ATTEMPTS`` tries.

    Returns
    -------
    list of (str, dict)
        ``("model_replaced", {conversation_id, turn, from, to, reason})`` per change; the caller saves the
        session with them.

    Example
    -------
    >>> from pluralis.collect.config import StudyConfig
    >>> from pluralis.collect.protocol import example_survey_answers
    >>> s = ProtocolSession(StudyConfig(), seed=1)
    >>> s.consent(); s.submit_survey(example_survey_answers())
    >>> call = s.start_conversation("unguided", "Hello")
    >>> names = s.config.model_names()
    >>> [e[1]["reason"] for e in repair_pending(s, names[1:] + ["new-model"])]
    ['removed']
    >>> sorted(s.pending_call().models) == sorted(names[1:] + ["new-model"])
    True
    """
    if session.step != Step.GENERATING:
        return []
    conv = session.state.current
    assert conv is not None, "a generating step has a conversation"
    turn = conv.turns[-1]
    events: list[tuple[str, dict | None]] = []

    def record(old: str, new: str | None, reason: str) -> None:
        events.append(
            (
                REPLACED,
                {"conversation_id": conv.conversation_id, "turn": turn.turn, "from": old, "to": new, "reason": reason},
            )
        )

    call = session.pending_call()
    if call.kind == "set":
        rng = _rng(session, conv)
        kept = [m for m in turn.requested if m in available]
        spare = sorted(m for m in available if m not in kept)
        rng.shuffle(spare)
        new_requested: list[str] = []
        for m in turn.requested:
            if m in available:
                new_requested.append(m)
                continue
            new = spare.pop() if spare else None
            record(m, new, "removed")
            if new is not None:
                new_requested.append(new)
        if events:
            turn.requested = new_requested
            session.state.revision += 1
        return events
    # one model asked: the locked model (later turns) or the NC model
    old = turn.requested[0]
    reason: str | None = None
    if old not in available:
        reason = "removed"
    elif allow_failing and turn.turn > 0 and _later_turn_attempts(session.state, conv, old) >= FAILED_ATTEMPTS:
        reason = "failing"
    if reason is None:
        return events
    new = replacement_for(session, available, exclude={old})
    record(old, new, reason)
    if new is None:
        return events
    turn.requested = [new] * len(turn.requested)
    if turn.turn > 0 or conv.locked_model == old:
        conv.locked_model = new
        conv.locked_provider = next(
            (r.model_provider for t in conv.turns for r in t.responses if r.model_name == new), conv.locked_provider
        )
    if conv.nc_model == old:
        conv.nc_model = new
    session.state.revision += 1
    return events


def finish_early(session: ProtocolSession) -> list[tuple[str, dict | None]]:
    """End the conversation now although it has fewer turns than the minimum (its locked model is gone).

    The protocol's own ``end_conversation`` runs with the turn minimum waived for this call; the feedback page
    follows as usual.

    Parameters
    ----------
    session
        The participant's session (step ``continue``).

    Returns
    -------
    list of (str, dict)
        ``("conversation_ended_early", {conversation_id, turns})``.

    Example
    -------
    >>> from pluralis.collect.config import StudyConfig
    >>> from pluralis.collect.protocol import CallResult, GeneratedResponse, example_survey_answers
    >>> s = ProtocolSession(StudyConfig(), seed=1)
    >>> s.consent(); s.submit_survey(example_survey_answers())
    >>> call = s.start_conversation("unguided", "Hello")
    >>> _ = s.apply_result(CallResult(conversation_id=call.conversation_id, turn=0, responses=[
    ...     GeneratedResponse(model_name=m, model_provider="local", text="Hi", latency_s=0.1) for m in call.models]))
    >>> s.rate([60, 50, 40, 30])
    >>> finish_early(s)[0][0], s.step.value
    ('conversation_ended_early', 'feedback')
    """
    conv = session.state.current
    assert conv is not None, "finishing needs a conversation"
    waived = session.config.model_copy(
        update={"conversations": session.config.conversations.model_copy(update={"min_turns": 1})}
    )
    ProtocolSession(waived, state=session.state, clock=session.clock).end_conversation()
    return [(ENDED_EARLY, {"conversation_id": conv.conversation_id, "turns": len(conv.turns)})]


def annotate_record(record: dict[str, Any], *, ended_early: bool = False) -> dict[str, Any]:
    """Flag a finished conversation's record whose model went away, in place (others are left as PRISM's).

    ``model_replaced``: ``{"from": the model locked in at the opening turn, "to": the model of the later turns,
    "turn": the first turn it answered}``, when a later turn came from another model; ``ended_early``: ``True``
    when the conversation was finished before the turn minimum because its model was gone. Neither key is
    added to a conversation where nothing happened.

    Parameters
    ----------
    record
        The conversation's record (as stored in the protocol state's ``completed``).
    ended_early
        Whether the conversation was finished early.

    Returns
    -------
    dict
        ``record``.

    Example
    -------
    >>> history = [{"turn": 0, "role": "model", "model_name": "a", "if_chosen": True},
    ...            {"turn": 0, "role": "model", "model_name": "b", "if_chosen": False},
    ...            {"turn": 1, "role": "model", "model_name": "b", "if_chosen": True}]
    >>> annotate_record({"conversation_history": history})["model_replaced"]
    {'from': 'a', 'to': 'b', 'turn': 1}
    >>> sorted(annotate_record({"conversation_history": history[:2]}))
    ['conversation_history']
    """
    history = record.get("conversation_history") or []
    locked = next(
        (h["model_name"] for h in history if h.get("role") == "model" and h["turn"] == 0 and h["if_chosen"]), None
    )
    for h in history:
        if h.get("role") == "model" and h["turn"] > 0 and locked is not None and h["model_name"] != locked:
            record["model_replaced"] = {"from": locked, "to": h["model_name"], "turn": h["turn"]}
            break
    if ended_early:
        record["ended_early"] = True
    return record


def check_sessions(states: Iterable[dict[str, Any]], available: Collection[str]) -> dict[str, Any]:
    """Participants in a conversation whose models are gone (at start-up, after the study file changed).

    Parameters
    ----------
    states
        Stored protocol states (JSON dicts) of participants in a conversation.
    available
        Names of the study's models now.

    Returns
    -------
    dict
        ``checked`` (participants looked at), ``affected`` (how many need a model that is gone) and ``models``
        (``{model: participants}``).

    Example
    -------
    >>> state = {"current": {"locked_model": "old", "turns": [{"requested": ["old", "b"]}]}}
    >>> check_sessions([state], ["b"])
    {'checked': 1, 'affected': 1, 'models': {'old': 1}}
    """
    checked = affected = 0
    models: dict[str, int] = {}
    for st in states:
        checked += 1
        conv = st.get("current") or {}
        needed = set()
        if conv.get("locked_model"):
            needed.add(conv["locked_model"])
        if conv.get("nc_model"):
            needed.add(conv["nc_model"])
        turns = conv.get("turns") or []
        if turns:
            needed.update(turns[-1].get("requested") or [])
        gone = sorted(m for m in needed if m not in available)
        if gone:
            affected += 1
            for m in gone:
                models[m] = models.get(m, 0) + 1
    return {"checked": checked, "affected": affected, "models": models}


__all__ = [
    "ENDED_EARLY",
    "FAILED_ATTEMPTS",
    "REPLACED",
    "annotate_record",
    "check_sessions",
    "finish_early",
    "locked_model_problem",
    "repair_pending",
    "replacement_for",
    "unavailable_models",
]
