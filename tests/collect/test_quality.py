"""Issue 16 item 7: PRISM's quality control (spec §8.1), with known answers for every signal and rule."""

from __future__ import annotations

import statistics

import pandas as pd
import pytest

from pluralis.collect.config import StudyConfig
from pluralis.collect.quality import (
    PREFER_NOT_TO_SAY_FIELDS,
    QCParams,
    decide_actions,
    quality_control,
    submissions_from_sessions,
    text_lengths,
)
from pluralis.collect.recruitment import entry_params, external_id, os_family, read_prolific_export
from pluralis.data import vocab
from pluralis.data.synthetic import generate_study

PNTS = vocab.PREFER_NOT_TO_SAY


@pytest.fixture()
def planted():
    """A synthetic study of 12 with planted problems (each participant has 6 conversations to start with)."""
    study = generate_study(n_participants=12, seed=3)
    for i, p in enumerate(study.survey):
        p.timing_duration_s = 2000.0 + 10 * i
    by_user = {p.user_id: p for p in study.survey}
    by_user["user5"].timing_duration_s = 10.0  # very fast survey
    p2 = by_user["user2"]
    p2.age, p2.gender = PNTS, PNTS
    for k in vocab.STATED_PREF_ATTRIBUTES:
        setattr(by_user["user3"].stated_prefs, k, 50 if k in ("values", "safety", "fluency") else 77)
    by_user["user4"].system_string = "Be kind. Be brief."
    by_user["user4"].self_description = "I value honesty"
    study.conversations = [
        c
        for c in study.conversations
        if not (c.user_id == "user7" or (c.user_id == "user6" and c.conversation_id not in _first_two(study, "user6")))
    ]
    for c in study.conversations:
        if c.user_id == "user9":
            c.performance_attributes.values = 50
            c.choice_attributes.fluency = 50
            c.choice_attributes.safety = 50
            c.open_feedback = "Too long. Not clear."
    keep = {c.conversation_id for c in study.conversations}
    study.utterances = [u for u in study.utterances if u.conversation_id in keep]
    return study


def _first_two(study, user):
    return [c.conversation_id for c in study.conversations if c.user_id == user][:2]


def expected_pnts(p) -> int:
    values = {
        "age": p.age,
        "gender": p.gender,
        "employment_status": p.employment_status,
        "education": p.education,
        "marital_status": p.marital_status,
        "religion_categorised": p.religion.categorised,
        "ethnicity_categorised": p.ethnicity.categorised,
        "location_birth_country": p.location.birth_country,
        "location_reside_country": p.location.reside_country,
    }
    assert set(values) == set(PREFER_NOT_TO_SAY_FIELDS)
    return sum(v == PNTS for v in values.values())


def test_signals_values_and_actions_have_known_answers(planted):
    qc = quality_control(planted).set_index("user_id")
    assert list(qc.index) == [p.user_id for p in planted.survey] and (qc["status"] == "AWAITING REVIEW").all()
    # very fast survey: below mean - 3 sd of all survey durations (ddof=1)
    durations = [p.timing_duration_s for p in planted.survey]
    threshold = statistics.mean(durations) - 3 * statistics.stdev(durations)
    assert qc.attrs["thresholds"]["very_fast_survey_s"] == pytest.approx(threshold)
    assert qc.index[qc["very_fast_survey"]].tolist() == ["user5"]
    # user5: R = 1 with a full quota -> REJECT, yet kept by inclusion rule 3 (Q >= 6), as PRISM coded it
    assert qc.loc["user5", ["reject", "action", "include_flag"]].tolist() == [1, "REJECT", 1]
    # recorded values
    by_user = {p.user_id: p for p in planted.survey}
    assert qc["prefer_not_to_say"].to_dict() == {u: expected_pnts(p) for u, p in by_user.items()}
    assert qc.loc["user2", "prefer_not_to_say"] >= 2
    assert qc.loc["user3", "stated_prefs_at_default"] == 3
    assert qc.loc["user4", ["survey_text_chars", "survey_text_words", "survey_text_sentences"]].tolist() == [
        (18 + 15) / 2,
        (4 + 3) / 2,
        (3 + 1) / 2,
    ]
    turns = [c.conversation_turns for c in planted.conversations if c.user_id == "user8"]
    assert qc.loc["user8", "mean_turns"] == pytest.approx(statistics.mean(turns))
    assert qc.loc["user8", "sd_turns"] == pytest.approx(statistics.stdev(turns))
    assert qc.loc["user9", "feedback_sliders_at_default"] >= 3
    assert qc.loc["user9", ["open_feedback_chars", "open_feedback_words", "open_feedback_sentences"]].tolist() == [
        20,
        4,
        3,
    ]
    # conversations: user6 has 2 (quota not filled: investigate -> REJECT under rule 3, kept as partial),
    # user7 none (return: RETURN_REQUEST, kept as "completed survey")
    assert qc.loc["user6", ["n_conversations", "quota_not_filled", "return", "action", "include_flag"]].tolist() == [
        2,
        True,
        0,
        "REJECT",
        1,
    ]
    assert qc.loc[
        "user7", ["n_conversations", "not_in_conversations", "return", "action", "include_flag"]
    ].tolist() == [
        0,
        True,
        1,
        "RETURN_REQUEST",
        1,
    ]
    clean = [u for u in qc.index if u not in ("user5", "user6", "user7")]
    assert (qc.loc[clean, "action"] == "APPROVE").all() and (qc.loc[clean, "include_flag"] == 1).all()
    assert qc.loc["user7", "reasons"] == "not_in_conversations (return); quota_not_filled (investigate)"


@pytest.mark.parametrize(
    ("status", "q", "r", "t", "action"),
    [
        ("ACTIVE", 0, 2, 2, "ACTIVE"),
        ("APPROVED", 1, 1, 0, "APPROVED"),
        ("REJECTED", 6, 0, 0, "REJECTED"),
        ("RETURNED", 6, 0, 1, "APPROVE_POST_RETURN"),
        ("RETURNED", 6, 0, 2, "RETURN_LEAVE"),
        ("RETURNED", 5, 0, 0, "RETURN_LEAVE"),
        ("RETURNED", 6, 1, 0, "RETURN_LEAVE"),
        ("TIMED-OUT", 6, 0, 0, "APPROVE_POST_TIMEOUT"),
        ("TIMED-OUT", 6, 0, 1, "REJECT"),
        ("TIMED-OUT", 7, 1, 0, "REJECT"),
        ("AWAITING REVIEW", 6, 0, 0, "APPROVE"),
        ("AWAITING REVIEW", 6, 0, 1, "RETURN_REQUEST"),
        ("AWAITING REVIEW", 2, 0, 3, "RETURN_REQUEST"),  # rule 2 comes before rule 3
        ("AWAITING REVIEW", 5, 0, 0, "REJECT"),
        ("AWAITING REVIEW", 5, 2, 0, "REJECT"),
        ("AWAITING REVIEW", 6, 1, 1, "REJECT"),
    ],
)
def test_action_rules_follow_the_spec(status, q, r, t, action):
    got = decide_actions(pd.Series([status]), pd.Series([q]), pd.Series([r]), pd.Series([t]), 6)
    assert got.tolist() == [action]


def test_platform_submissions_timing_codes_duplicates_mobile_and_bonus():
    study = generate_study(n_participants=30, seed=4)
    users = [p.user_id for p in study.survey]
    subs = pd.DataFrame(
        {
            "submission": [f"pid{i}" for i in range(30)] + ["ghost", "pid3"],
            "user_id": users + [None, "user3"],
            "status": ["AWAITING REVIEW"] * 30 + ["RETURNED", "AWAITING REVIEW"],
            "completion_code": ["CVQAGUHV"] * 29 + ["WRONG", None, "CVQAGUHV"],
            "time_taken_s": [3600.0 + i for i in range(30)] + [None, 3700.0],
            "started_at": ["2023-11-28 18:00"] * 30 + [None, "2023-11-29 09:00"],
            "operating_system": ["Windows"] * 28 + ["iPhone", "Android 13", "Windows", "Windows"],
            "sample": ["us_rep_sample"] * 32,
        }
    )
    subs.loc[10, "time_taken_s"] = 5.0  # very fast on the platform
    for p in study.survey:
        p.timing_duration_s = 1800.0
    qc = quality_control(study, subs, params=QCParams.prism())
    first = qc.drop_duplicates("submission").set_index("submission")
    assert first.loc["pid10", "very_fast_platform"] and first.loc["pid10", "action"] == "REJECT"
    assert first.loc["pid29", "no_completion_code"] and first.loc["pid29", "investigate"] >= 1
    assert first.loc["pid28", "mobile_os"] and first.loc["pid29", "mobile_os"]  # iPhone, Android
    assert first.loc["pid28", "action"] == "RETURN_REQUEST"
    assert first.loc["ghost", ["not_in_survey", "return", "action", "include_flag"]].tolist() == [
        True,
        2,
        "RETURN_LEAVE",
        0,
    ]
    # pid3 submitted twice: the later submission is the duplicate, excluded
    dup = qc[qc["submission"] == "pid3"]
    assert dup["action"].tolist() == ["APPROVE", "APPROVE_DUPLICATE"] and dup["include_flag"].tolist() == [1, 0]
    # PRISM's DDoS bonus: APPROVE rows of the REP samples that started in a window
    approved = qc[qc["action"] == "APPROVE"]
    assert approved["bonus"].all() and not qc.loc[qc["action"] != "APPROVE", "bonus"].any()
    times = [3600.0 + i for i in range(30)] + [3700.0]
    times[10] = 5.0
    expected = statistics.mean(times) - 3 * statistics.stdev(times)
    assert qc.attrs["thresholds"]["very_fast_platform_s"] == pytest.approx(expected)
    assert qc["very_fast_platform"].sum() == 1


def test_submissions_from_the_live_study_and_the_prolific_export(tmp_path):
    sessions = [
        {
            "user_id": "u1",
            "created_at": 100.0,
            "completed_at": 3700.0,
            "completion_code": "C1",
            "params": {"PROLIFIC_PID": "p1"},
            "client_os": "Macintosh",
        },
        {
            "user_id": "u2",
            "created_at": 200.0,
            "completed_at": None,
            "completion_code": None,
            "params": {},
            "client_os": None,
        },
    ]
    ours = submissions_from_sessions(sessions)
    cols = ["submission", "user_id", "time_taken_s", "operating_system"]
    assert ours.loc[0, cols].tolist() == ["p1", "u1", 3600.0, "Macintosh"]
    assert ours.loc[1, ["submission", "user_id"]].tolist() == ["u2", "u2"] and ours.loc[1, cols[2:]].isna().all()
    export = tmp_path / "prolific.csv"
    export.write_text(
        "Submission id,Participant id,Status,Started at,Completed at,Time taken,Completion code\n"
        "s1,p1,APPROVED,2024-03-01 10:00:00.1,2024-03-01 11:00:00,3600,C1\n"
        "s2,p9,returned,2024-03-01 10:05:00,,,\n"
    )
    theirs = read_prolific_export(export)
    assert theirs["status"].tolist() == ["APPROVED", "RETURNED"]
    joined = submissions_from_sessions(sessions, theirs)
    assert joined[["submission", "user_id", "status", "operating_system"]].values.tolist() == [
        ["p1", "u1", "APPROVED", "Macintosh"],
        ["p9", None, "RETURNED", None],
    ]


def test_recruitment_parameters_and_operating_systems():
    cfg = StudyConfig()
    query = {"PROLIFIC_PID": "5f1d\x00 ", "STUDY_ID": "s" * 500, "SESSION_ID": "", "other": "x"}
    params = entry_params(cfg, query)
    assert params == {"PROLIFIC_PID": "5f1d", "STUDY_ID": "s" * 128}
    assert external_id(cfg, params) == "5f1d"
    agents = {
        "Mozilla/5.0 (iPad; CPU OS 16_6 like Mac OS X)": "iPad",
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15": "Macintosh",
        "Mozilla/5.0 (X11; Linux x86_64) Chrome/120.0": "Linux",
        "Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) Chrome/120.0": "Chrome OS",
        "": None,
    }
    assert {ua: os_family(ua) for ua in agents} == agents


def test_text_lengths_split_like_prism():
    got = text_lengths(pd.Series(["a b  c", "One. Two. Three", "", None]))
    assert got.to_dict("list") == {"chars": [6, 15, 0, 0], "words": [4, 3, 1, 0], "sentences": [1, 3, 1, 0]}
