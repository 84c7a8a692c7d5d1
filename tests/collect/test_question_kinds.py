"""Survey question kinds (pluralis.collect.questions): a new kind is one file — this test file registers
"likert5" and a study asks it through the web app, the protocol engine and simulated participants — and
every built-in kind answers a custom required question in simulation."""

from __future__ import annotations

import random
import re
from pathlib import Path

import pytest

from pluralis.collect.config import Question, StudyConfig, load_study_config, study_to_toml
from pluralis.collect.protocol import ProtocolError, ProtocolSession, example_survey_answers
from pluralis.collect.questions import (
    BUILTIN_QUESTIONS,
    QuestionKind,
    answers_from_form,
    fill_survey_answers,
    get_question_kind,
    is_empty,
    question_kinds,
    register_question_kind,
)
from pluralis.errors import ConfigError
from pluralis.simulate.generator import generate_personas
from pluralis.simulate.study import simulate_study
from pluralis.store import Store
from pluralis.web.app import create_app
from tests.collect_helpers import SECTION_RE, HttpParticipant, ThreadServer, participant_run, survey_form

ADMIN = "admin-token-for-tests-123"
NOWHERE = [{"name": n, "endpoint": "http://127.0.0.1:9/v1", "max_retries": 0} for n in ("m-a", "m-b")]


# --- the whole of a new question kind: ~30 lines, in this one file ---------------------------------------


class Likert5(QuestionKind):
    """A five-point agreement scale; the answer is 1-5."""

    name = "likert5"
    macro = "radio_question"  # the generic radio macro renders choices()

    def choices(self, question):
        lo, hi = question.anchors
        labels = [f"1 ({lo})", "2", "3", "4", f"5 ({hi})"]
        return [(str(i), label) for i, label in enumerate(labels, start=1)]

    def clean(self, question, value, survey):
        if is_empty(value):
            return None, ("choose an answer" if question.required else None)
        if str(value).strip() not in {"1", "2", "3", "4", "5"}:
            return None, f"{value!r} is not a point of the scale (1-5)"
        return int(value), None

    def simulate_answer(self, question, rng, survey=None):
        return rng.randint(1, 5)


register_question_kind(Likert5())


# --- helpers ------------------------------------------------------------------------------------------------


def with_questions(questions: list[dict], *, section: str = "lm_use", models: list[dict] | None = None) -> StudyConfig:
    """The PRISM study with ``questions`` added to the page ``section`` (one unguided conversation)."""
    data = StudyConfig().model_dump(mode="json")
    data["models"] = models or NOWHERE
    data["conversations"]["types"] = [dict(data["conversations"]["types"][0], quota=1)]
    page = next(s for s in data["survey"]["sections"] if s["id"] == section)
    page["questions"].extend(questions)
    return StudyConfig.model_validate(data)


MOOD = {"id": "mood", "text": "I enjoy trying new technology.", "kind": "likert5", "anchors": ["Disagree", "Agree"]}

CUSTOM_OF_EACH_KIND = [
    {"id": "x_single", "text": "Pick one", "kind": "single", "options": ["Red", "Green", "Prefer not to say"]},
    {"id": "x_multi", "text": "Pick some", "kind": "multi", "items": {"a": "A", "b": "B", "c": "C"}, "other": True},
    {"id": "x_category", "text": "Your group", "kind": "category", "options": ["North", "South"]},
    {"id": "x_country", "text": "A country you visited", "kind": "country"},
    {"id": "x_text", "text": "Tell us more", "kind": "text", "min_chars": 80, "max_chars": 120},
    {"id": "x_vas", "text": "Rate", "kind": "vas", "items": {"p": "P", "q": "Q"}, "other": True, "scale_min": 1},
]


# --- (1) a toy kind, end to end ---------------------------------------------------------------------------


def test_a_kind_registered_in_one_file_is_rendered_validated_stored_and_simulated(tmp_path):
    cfg = with_questions([MOOD])
    assert cfg.survey.question("mood").question_kind is get_question_kind("likert5")
    store = Store.open(tmp_path / "s.sqlite")
    with ThreadServer(create_app(cfg, store, admin_token=ADMIN)) as server:

        async def script(p: HttpParticipant):
            await p.join()
            await p.post("/study/consent", {"consent": "yes", "consent_age": "yes"})
            await p.get()
            assert SECTION_RE.search(p.html).group(1) == "lm_use"
            # the page shows the question with the kind's five choices
            assert "I enjoy trying new technology." in p.html
            radios = re.findall(r'<input type="radio" name="mood" value="(\d)"', p.html)
            assert radios == ["1", "2", "3", "4", "5"]
            assert "1 (Disagree)" in p.html and "5 (Agree)" in p.html
            # the kind validates the submitted value: the page comes back with its message
            bad = [(k, v) for k, v in survey_form(cfg, "lm_use", p.answers) if k != "mood"] + [("mood", "7")]
            r = await p.post("/study/survey", bad, expect=422)
            assert 'id="err-mood"' in r.text and "is not a point of the scale (1-5)" in r.text
            p.html = r.text
            while (m := SECTION_RE.search(p.html)) is not None:
                await p.post("/study/survey", survey_form(cfg, m.group(1), p.answers))
                await p.get()

        participant_run(server.url, cfg, script, answers=example_survey_answers() | {"mood": "4"})
    stored = store.export_study().survey
    assert len(stored) == 1 and stored[0].custom_survey == {"mood": 4}
    store.close()

    # simulated participants answer it too (the kind's simulate_answer), and the same way again
    panel = generate_personas(3, country="UK", seed=4)
    res = simulate_study(panel, seed=1, study=cfg, executor="serial")
    again = simulate_study(panel, seed=1, study=cfg, executor="serial")
    moods = [p.custom_survey["mood"] for p in res.study.survey]
    assert res.stats["completed"] == 3 and all(m in range(1, 6) for m in moods)
    assert moods == [p.custom_survey["mood"] for p in again.study.survey]
    # built-in questions keep their persona-grounded answers
    assert [p.age for p in res.study.survey] == [str(a) for a in panel.data["age"]]


def test_the_engine_validates_a_registered_kind(tmp_path):
    cfg = with_questions([MOOD | {"required": False}])
    s = ProtocolSession(cfg, seed=1)
    s.consent()
    with pytest.raises(ProtocolError) as e:
        s.submit_survey(example_survey_answers() | {"mood": "often"})
    assert e.value.errors == {"mood": "'often' is not a point of the scale (1-5)"}
    s.submit_survey(example_survey_answers())  # optional: may be skipped
    assert s.participant().custom_survey == {"mood": None}
    # a study file with the kind reads back equal; an unknown kind names the file, line and field
    path = tmp_path / "study.toml"
    path.write_text(study_to_toml(cfg))
    assert load_study_config(path) == cfg
    path.write_text(study_to_toml(cfg).replace('kind = "likert5"', 'kind = "likert7"'))
    line = next(i for i, t in enumerate(path.read_text().splitlines(), 1) if t == 'kind = "likert7"')
    with pytest.raises(
        ConfigError, match=rf":{line}: survey\.sections\.0\.questions\.3\.kind: .*unknown question kind"
    ):
        load_study_config(path)


# --- (2) a custom required question of every built-in kind completes in simulation --------------------------


def test_custom_required_questions_of_every_kind_are_answered_by_simulated_participants():
    cfg = with_questions(CUSTOM_OF_EACH_KIND, section="demographics")
    assert {q["kind"] for q in CUSTOM_OF_EACH_KIND} == {"single", "multi", "category", "country", "text", "vas"}
    assert all(cfg.survey.question(q["id"]).required for q in CUSTOM_OF_EACH_KIND)
    res = simulate_study(generate_personas(4, country="US", seed=2), seed=3, study=cfg, executor="serial")
    assert res.stats["completed"] == 4 and res.stats["conversations"] == 4
    for p in res.study.survey:
        got = p.custom_survey
        assert got["x_single"] in ("Red", "Green")
        assert got["x_multi"]["selected"] and set(got["x_multi"]["selected"]) <= {"a", "b", "c"}
        assert got["x_category"]["category"] in ("North", "South")
        assert cfg.survey.country(got["x_country"]) is not None
        assert 80 <= len(got["x_text"]) <= 120
        assert set(got["x_vas"]) == {"p", "q", "other", "other_text"} and 1 <= got["x_vas"]["p"] <= 100


def test_simulated_answers_of_every_kind_pass_its_own_validation():
    cfg = with_questions([*CUSTOM_OF_EACH_KIND, MOOD], section="demographics")
    questions = [cfg.survey.question(q["id"]) for q in [*CUSTOM_OF_EACH_KIND, MOOD]]
    for seed in range(25):
        rng = random.Random(seed)
        for q in questions:
            answer = q.question_kind.simulate_answer(q, rng, cfg.survey)
            value, error = q.question_kind.clean(q, answer, cfg.survey)
            assert error is None and value is not None, (q.id, answer, error)
    # answers already given are kept; only missing ones are simulated
    given = example_survey_answers()
    filled = fill_survey_answers(cfg.survey, given, random.Random(0))
    assert {k: filled[k] for k in given} == given and set(filled) - set(given) == {q.id for q in questions}


# --- the registry, the template dispatch, the one table -----------------------------------------------------


def test_registry_loads_every_builtin_kind_and_refuses_clashes():
    kinds = question_kinds()
    assert {"single", "multi", "category", "country", "text", "vas", "likert5"} <= set(kinds)
    for name in ("single", "multi", "category", "country", "text", "vas"):  # one module per built-in kind
        assert type(kinds[name]).__module__ == f"pluralis.collect.questions.{name}"
    register_question_kind(Likert5())  # the same kind again: fine (a module imported twice)

    class Other(Likert5):
        pass

    with pytest.raises(ConfigError, match="'likert5' is already registered"):
        register_question_kind(Other())
    with pytest.raises(
        ConfigError,
        match="unknown question kind 'nope'; expected one of attention, category, country, likert5, multi, single, text, vas",
    ):
        get_question_kind("nope")
    with pytest.raises(ValueError, match="unknown question kind 'nope'"):
        Question(id="q", text="?", kind="nope")
    with pytest.raises(ValueError, match="question 'q': kind 'multi' needs items"):
        Question(id="q", text="?", kind="multi")


def test_every_kind_names_a_macro_the_survey_template_has():
    from jinja2 import Environment, FileSystemLoader

    import pluralis.web

    templates = Path(pluralis.web.__file__).parent / "templates"
    macros = Environment(loader=FileSystemLoader(templates)).get_template("macros.html").module
    for name, kind in question_kinds().items():
        assert callable(getattr(macros, kind.macro, None)), (name, kind.macro)
    survey = (templates / "survey.html").read_text()
    assert "q.kind" not in survey and "question_kind.macro" in survey  # dispatch only, no per-kind branches


def test_form_fields_become_answers_through_the_kinds():
    cfg = with_questions([MOOD], section="preferences")
    section = next(s for s in cfg.survey.sections if s.id == "preferences")
    form = {"mood": "5", "stated_prefs__values": "61", "stated_prefs__other_text": "Humour", "stated_prefs__other": "9"}
    got = answers_from_form(section, form, lambda k: [])
    assert got["mood"] == "5" and got["system_string"] is None
    assert got["stated_prefs"]["values"] == "61" and got["stated_prefs"]["other"] == "9"
    assert got["stated_prefs"]["other_text"] == "Humour" and got["stated_prefs"]["safety"] is None


def test_prism_survey_has_one_home():
    shipped = load_study_config()
    assert StudyConfig().survey == shipped.survey  # the default survey IS the shipped study file's
    asked = [q.id for s in shipped.survey.sections for q in s.questions]
    assert asked == list(BUILTIN_QUESTIONS)
    for qid, rule in BUILTIN_QUESTIONS.items():
        assert shipped.survey.question(qid).kind in rule.kinds
    # the survey texts are written once: in the TOML, not in the Python sources
    root = Path(__file__).resolve().parents[2] / "pluralis" / "collect"
    texts = ["How old are you?", "Please briefly describe your values, core beliefs", "Homework Assistance: Getting"]
    for path in root.rglob("*.py"):
        source = path.read_text()
        assert not [t for t in texts if t in source], path
    toml = (root / "defaults" / "prism_study.toml").read_text()
    assert all(t in toml for t in texts)


def test_builtin_rules_come_from_the_one_table():
    data = StudyConfig().model_dump(mode="json")
    sections = data["survey"]["sections"]
    must = [qid for qid, r in BUILTIN_QUESTIONS.items() if r.must_answer]
    assert must == [
        "lm_familiarity",
        "lm_indirect_use",
        "lm_direct_use",
        "stated_prefs",
        "system_string",
        "self_description",
        "english_proficiency",
    ]
    q = next(q for s in sections for q in s["questions"] if q["id"] == "english_proficiency")
    q["required"] = False
    with pytest.raises(ValueError, match="'english_proficiency' must be required"):
        StudyConfig.model_validate(data)
    q["required"] = True
    sections[3]["questions"] = [q for q in sections[3]["questions"] if q["id"] not in ("age", "birth_country")]
    with pytest.raises(ValueError, match="the survey must ask age "):
        StudyConfig.model_validate(data)
