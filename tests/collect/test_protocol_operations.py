"""Issue 16 in the protocol engine: participant-facing messages (11), a stable survey page counter (11),
the slider-touch rule for ratings (8), screened-out participants' code and redirect (6a), attention checks (7)."""

from __future__ import annotations

import asyncio
import random
import re

import pytest

from pluralis.collect.config import StudyConfig
from pluralis.collect.protocol import (
    SCORE_FIELD,
    TOUCHED_FIELD,
    ProtocolError,
    ProtocolSession,
    Step,
    WrongStep,
    combine_records,
    example_survey_answers,
    ratings_from_form,
)
from pluralis.collect.quality import attention_checks, quality_control
from pluralis.collect.questions import fill_survey_answers, get_question_kind
from pluralis.collect.quotas import QuotaPlan, QuotaTracker

#: Developer vocabulary that must never reach a participant.
INTERNALS = re.compile(r"step '|\bstep\b|'[a-z_]+'|\bid\(s\)|revision|backend|state|\{|\}|ProtocolError|None")


def study(names, **over) -> StudyConfig:
    data = StudyConfig().model_dump(mode="json")
    data["models"] = [{"name": n, "endpoint": "http://127.0.0.1:9/v1"} for n in names]
    data["conversations"]["types"] = [
        {"name": "unguided", "label": "Unguided", "instruction": "Anything.", "quota": 1},
        {"name": "values guided", "label": "Values guided", "instruction": "Values.", "quota": 1},
    ]
    data["conversations"]["min_turns"] = 1
    for k, v in over.items():
        data[k] = {**data[k], **v}
    return StudyConfig.model_validate(data)


def run(coro):
    return asyncio.run(coro)


def at_rating(cfg, backends, seed=3) -> ProtocolSession:
    s = ProtocolSession(cfg, models=backends, seed=seed)
    s.consent()
    s.submit_survey(example_survey_answers())
    run(s.opening_turn("unguided", "What should I cook tonight?"))
    assert s.step == Step.RATE
    return s


def test_double_submits_are_wrong_steps_with_a_participant_message(tiny_backends):
    cfg = study(list(tiny_backends))
    s = at_rating(cfg, tiny_backends)
    scores = {r.id: 40 + r.id for r in s.view().responses}
    s.rate(scores)
    with pytest.raises(WrongStep) as e:
        s.rate(scores)  # the same form sent again
    err = e.value
    assert "the participant is at step 'continue', not rate" in str(err)  # developers see the details
    assert err.step == Step.CONTINUE and err.expected == (Step.RATE,)
    assert err.participant_message == (
        "That page had already been sent, so we have taken you to where you are now in the study."
    )
    assert not INTERNALS.search(err.participant_message) and err.errors == {}
    with pytest.raises(WrongStep):
        s.consent()
    fresh = ProtocolSession(cfg, models=tiny_backends, seed=1)
    fresh.consent()
    with pytest.raises(WrongStep, match="survey page 'demographics' is not the current page"):
        fresh.submit_survey_section("demographics", example_survey_answers())


def test_every_participant_facing_message_is_plain_words(tiny_backends):
    cfg = study(list(tiny_backends))
    messages: list[str] = []

    def collect(fn, *args, **kwargs):
        with pytest.raises(ProtocolError) as e:
            fn(*args, **kwargs)
        messages.append(e.value.participant_message)
        messages.extend(e.value.errors.values())
        return e.value

    s = ProtocolSession(cfg, models=tiny_backends, seed=2)
    collect(s.consent, agree=False, age_confirmed=False)
    s.consent()
    collect(s.submit_survey_section, "lm_use", {"lm_familiarity": "Extremely"})
    s.submit_survey(example_survey_answers())
    collect(s.start_conversation, "gossip", "hi")
    collect(s.start_conversation, "unguided", "   ")
    collect(s.start_conversation, "unguided", "x" * 5000)
    run(s.opening_turn("unguided", "Hello"))
    collect(s.rate, {"first": 50})
    collect(s.rate, [1])
    collect(s.rate, {r.id: 500 for r in s.view().responses})
    s.rate({r.id: 60 for r in s.view().responses})
    s.end_conversation()
    collect(s.submit_feedback, {"values": "lots"}, {"nope": 3}, "")
    s.submit_feedback({}, {}, "It was fine, thank you.")
    collect(s.start_conversation, "unguided", "again")  # that type is done
    assert len(messages) > 15
    for m in messages:
        assert m and not INTERNALS.search(m), m
    assert "You have done all Unguided conversations. Please choose another type." in messages


@pytest.mark.parametrize("direct_use", ["Yes", "No"])
def test_survey_page_counter_never_changes_its_total(tiny_backends, direct_use):
    cfg = study(list(tiny_backends))
    s = ProtocolSession(cfg, models=tiny_backends, seed=4)
    s.consent()
    answers = example_survey_answers() | {"lm_direct_use": direct_use, "lm_indirect_use": direct_use}
    shown = []
    while s.step == Step.SURVEY:
        v = s.view()
        shown.append((v.section, v.section_index + 1, v.sections_total))
        s.submit_survey_section(v.section, answers)
    totals = {t for _sec, _i, t in shown}
    numbers = [i for _sec, i, _t in shown]
    assert totals == {4}  # "page 1 of 4" stays "of 4" whatever the answers
    assert numbers == sorted(numbers) and len(set(numbers)) == len(numbers) and numbers[0] == 1 and numbers[-1] == 4
    if direct_use == "Yes":
        assert [x[0] for x in shown] == ["lm_use", "lm_usage", "preferences", "demographics"]
        assert numbers == [1, 2, 3, 4]
    else:  # the usage page is skipped: page 1 of 4, then page 3 of 4
        assert numbers == [1, 3, 4]


def test_a_rating_needs_every_slider_touched(tiny_backends):
    cfg = study(list(tiny_backends))
    assert cfg.conversations.require_slider_touch  # on by default
    s = at_rating(cfg, tiny_backends)
    view = s.view()
    ids = [r.id for r in view.responses]
    form = {SCORE_FIELD.format(id=i): "50" for i in ids}
    form[TOUCHED_FIELD.format(id=ids[0])] = "1"  # only the first slider was moved
    scores, touched = ratings_from_form(view, form)
    assert scores == {i: "50" for i in ids} and touched == {ids[0]}
    before = s.to_json()
    with pytest.raises(ProtocolError) as e:
        s.rate(scores, touched=touched)
    assert set(e.value.errors) == {f"score_{i}" for i in ids[1:]}
    assert set(e.value.errors.values()) == {cfg.conversations.untouched_text}
    assert e.value.participant_message == "Please move every slider to give your rating."
    assert s.to_json() == before and s.step == Step.RATE  # nothing stored: no untouched 50 in the data
    for i in ids:
        form[TOUCHED_FIELD.format(id=i)] = "1"
    scores, touched = ratings_from_form(view, form)
    s.rate(scores, touched=touched)
    assert s.step == Step.CONTINUE and all(r.score == 50 for r in s.state.current.turns[0].responses)
    # the option off: an untouched slider's value counts (PRISM's interface)
    off = study(list(tiny_backends), conversations={"require_slider_touch": False})
    s2 = at_rating(off, tiny_backends)
    s2.rate({r.id: 50 for r in s2.view().responses}, touched=set())
    assert s2.step == Step.CONTINUE
    # callers that do not track touches (scripts, simulated participants) are not checked
    s3 = at_rating(cfg, tiny_backends)
    s3.rate({r.id: 50 for r in s3.view().responses})
    assert s3.step == Step.CONTINUE


def test_screened_out_participants_get_a_code_and_redirect_to_be_paid(tiny_backends):
    quotas = {
        "kind": "cells",
        "over_quota": "screen_out",
        "cells": [{"name": "women 25-34", "match": {"gender": "Female", "age": "25-34 years old"}, "target": 1}],
    }
    completion = {
        "code": "DONE1234",
        "redirect_url": "https://app.prolific.com/submissions/complete?cc={code}",
        "screened_out_code": "SCREEN99",
        "screened_out_redirect_url": "https://app.prolific.com/submissions/complete?cc={code}&screened=1",
    }
    cfg = study(list(tiny_backends), quotas=quotas, completion=completion)
    tracker = QuotaTracker(QuotaPlan(cfg.quotas))
    first, second = (ProtocolSession(cfg, models=tiny_backends, seed=i, quota_gate=tracker.gate) for i in range(2))
    for s in (first, second):
        s.consent()
        s.submit_survey(example_survey_answers())
    assert first.step == Step.START and first.view().redirect_url is None
    assert second.step == Step.SCREENED_OUT
    v = second.view()
    assert second.state.completion_code == v.completion_code == "SCREEN99"
    assert v.redirect_url == "https://app.prolific.com/submissions/complete?cc=SCREEN99&screened=1"
    # the state carries it: a resumed session shows the same
    again = ProtocolSession.from_json(cfg, second.to_json())
    assert again.view().redirect_url == v.redirect_url
    # completing participants get the completion code in their redirect
    for ctype in ("unguided", "values guided"):
        run(first.opening_turn(ctype, "Tell me something."))
        first.rate({r.id: 30 + r.id for r in first.view().responses})
        first.finish({}, {}, "Good enough for me, thanks.")
    assert first.step == Step.COMPLETE
    assert first.view().redirect_url == "https://app.prolific.com/submissions/complete?cc=DONE1234"
    # without a screen-out code each screened-out participant gets a fresh one
    plain = study(list(tiny_backends), quotas=quotas)
    t2 = QuotaTracker(QuotaPlan(plain.quotas))
    a, b = (ProtocolSession(plain, seed=i, quota_gate=t2.gate) for i in range(2))
    for s in (a, b):
        s.consent()
        s.submit_survey(example_survey_answers())
    assert b.step == Step.SCREENED_OUT and re.fullmatch(r"[0-9A-F]{8}", b.state.completion_code or "")
    assert b.view().redirect_url is None


ATTENTION = {
    "id": "attention_colour",
    "kind": "attention",
    "text": "To show that you read the questions, choose 'Blue'.",
    "options": ["Red", "Blue", "Green"],
    "expected": "Blue",
    "simulated_pass_rate": 0.7,
}


def attention_study(**question):
    data = StudyConfig().model_dump(mode="json")
    data["models"] = [{"name": "m", "endpoint": "http://127.0.0.1:9/v1"}]
    data["survey"]["sections"][2]["questions"].append({**ATTENTION, **question})  # the preferences page
    return StudyConfig.model_validate(data)


def test_attention_checks_are_a_question_kind_and_a_quality_signal():
    cfg = attention_study()
    q = cfg.survey.question("attention_colour")
    assert q.question_kind.name == "attention" and q.question_kind.macro == "radio_question"
    assert attention_checks(cfg) == {"attention_colour": "Blue"}
    with pytest.raises(ValueError, match="needs expected = one of its options"):
        attention_study(expected="Purple")
    # simulated participants pass with the configured probability
    rng = random.Random(0)
    kind = get_question_kind("attention")
    passed = sum(kind.passed(q, kind.simulate_answer(q, rng)) for _ in range(4000))
    assert abs(passed / 4000 - 0.7) < 0.03
    # participants answer it like any question; failing it is never shown to them, only to quality control
    sessions = []
    for i, answer in enumerate(["Blue", "Red", "Blue", "Green"]):
        s = ProtocolSession(cfg, seed=i)
        s.consent()
        s.submit_survey(example_survey_answers() | {"attention_colour": answer})
        assert s.step == Step.START
        sessions.append(s)
    with pytest.raises(ProtocolError) as e:
        s = ProtocolSession(cfg, seed=9)
        s.consent()
        s.submit_survey(example_survey_answers() | {"attention_colour": "Purple"})
    assert e.value.errors == {"attention_colour": "'Purple' is not one of the options"}
    records = combine_records(sessions)
    assert [p.model_extra["custom_survey"]["attention_colour"] for p in records.survey] == [
        "Blue",
        "Red",
        "Blue",
        "Green",
    ]
    qc = quality_control(records, config=cfg).set_index("user_id")
    failed = [s.user_id for s in sessions[1::2]]
    assert qc["attention_failed"].to_dict() == {s.user_id: s.user_id in failed for s in sessions}
    assert (qc.loc[failed, "reject"] >= 1).all() and (qc.loc[failed, "action"] == "REJECT").all()
    assert "attention_failed (reject)" in qc.loc[failed[0], "reasons"]
    # a persona-driven simulated participant answers the check by its kind
    answers = fill_survey_answers(cfg.survey, {}, random.Random(5))
    assert answers["attention_colour"] in ATTENTION["options"]
