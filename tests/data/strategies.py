"""Hypothesis strategies producing raw PRISM release rows (plain JSON dicts, as found on disk)."""

from __future__ import annotations

from hypothesis import strategies as st

from pluralis.data import vocab

text = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=40)
maybe_float = st.one_of(st.none(), st.integers(0, 100), st.floats(0, 100, allow_nan=False).map(lambda x: round(x, 2)))
attr_score = st.one_of(st.none(), st.integers(1, 100), st.integers(1, 100).map(float))


@st.composite
def nested_dict(draw, keys, value):
    """A dict with a random subset of ``keys`` (released files sometimes omit keys)."""
    chosen = draw(st.lists(st.sampled_from(keys), unique=True, max_size=len(keys)))
    return {k: draw(value) for k in chosen}


@st.composite
def participant(draw, user_id: str):
    usecases = draw(
        st.one_of(
            st.none(),
            st.fixed_dictionaries(
                {
                    k: st.one_of(st.booleans(), st.sampled_from([0, 1]), st.none())
                    for k in vocab.LM_USECASES + ("other",)
                }
            ).map(lambda d: {**d, "other_text": None}),
        )
    )
    eth = draw(st.sampled_from(vocab.ETHNICITY_CATEGORISED))
    rel = draw(st.sampled_from(vocab.RELIGION_CATEGORISED))
    row = {
        "user_id": user_id,
        "survey_only": draw(st.booleans()),
        "num_completed_conversations": draw(st.integers(0, 7)),
        "consent": vocab.CONSENT,
        "consent_age": vocab.CONSENT_AGE,
        "lm_familiarity": draw(st.sampled_from(vocab.LM_FAMILIARITY)),
        "lm_indirect_use": draw(st.sampled_from(vocab.LM_USE)),
        "lm_direct_use": draw(st.sampled_from(vocab.LM_USE)),
        "lm_frequency_use": draw(st.one_of(st.none(), st.sampled_from(vocab.LM_FREQUENCY))),
        "lm_usecases": usecases,
        "order_lm_usecases": None if usecases is None else {k: i + 1 for i, k in enumerate(vocab.LM_USECASES)},
        "stated_prefs": {
            **draw(nested_dict(list(vocab.STATED_PREF_ATTRIBUTES) + ["other"], maybe_float)),
            "other_text": draw(st.one_of(st.none(), text)),
        },
        "order_stated_prefs": {k: i + 1 for i, k in enumerate(vocab.STATED_PREF_ATTRIBUTES)},
        "self_description": draw(text),
        "system_string": draw(text),
        "age": draw(st.sampled_from(vocab.AGES)),
        "gender": draw(st.sampled_from(vocab.GENDERS)),
        "employment_status": draw(st.sampled_from(vocab.EMPLOYMENT_STATUSES)),
        "education": draw(st.sampled_from(vocab.EDUCATION_LEVELS)),
        "marital_status": draw(st.sampled_from(vocab.MARITAL_STATUSES)),
        "english_proficiency": draw(st.sampled_from(vocab.ENGLISH_PROFICIENCIES)),
        "religion": {"self_described": draw(text), "categorised": rel, "simplified": vocab.RELIGION_SIMPLIFY[rel]},
        "ethnicity": {"self_described": draw(text), "categorised": eth, "simplified": vocab.ETHNICITY_SIMPLIFY[eth]},
        "location": {
            **draw(
                nested_dict(
                    [
                        "birth_country",
                        "birth_countryISO",
                        "birth_region",
                        "birth_subregion",
                        "reside_country",
                        "reside_countryISO",
                        "reside_region",
                        "reside_subregion",
                    ],
                    st.one_of(st.none(), text),
                )
            ),
            "same_birth_reside_country": draw(st.sampled_from(vocab.SAME_COUNTRY)),
            "special_region": draw(st.sampled_from(vocab.SPECIAL_REGIONS)),
        },
        "study_id": draw(text),
        "study_locale": draw(st.sampled_from(["us", "uk", "asia", "chile"])),
        "generated_datetime": "2023-11-22 15:48:46",
        "timing_duration_s": draw(st.floats(1, 1e6, allow_nan=False).map(lambda x: round(x, 1))),
        "timing_duration_mins": draw(st.one_of(st.none(), st.floats(0, 1e4, allow_nan=False))),
        "included_in_UK_REP": draw(st.booleans()),
        "included_in_US_REP": draw(st.booleans()),
        "included_in_balanced_subset": draw(st.booleans()),
    }
    if draw(st.booleans()):
        row["an_unknown_future_column"] = draw(st.one_of(text, st.integers(), st.none()))
    return row


@st.composite
def conversation(draw, conversation_id: str, user_id: str):
    n_turns = draw(st.integers(1, 4))
    history = []
    for turn in range(n_turns):
        history.append({"turn": turn, "role": "user", "content": draw(text)})
        k = draw(st.integers(1, 4)) if turn == 0 else 2
        chosen = draw(st.integers(0, k - 1))
        for w in range(k):
            history.append(
                {
                    "turn": turn,
                    "role": "model",
                    "content": draw(text),
                    "model_provider": draw(st.sampled_from(["openai", "cohere", "huggingface_api"])),
                    "model_name": draw(st.sampled_from(["gpt-4", "command", "google/flan-t5-xxl", "x/é-model"])),
                    "score": draw(st.integers(1, 100)),
                    "if_chosen": w == chosen,
                    "within_turn_id": w,
                }
            )
    return {
        "conversation_id": conversation_id,
        "user_id": user_id,
        "included_in_balanced_subset": draw(st.booleans()),
        "generated_datetime": "2023-12-01 10:00:00",
        "timing_duration_s": draw(st.floats(0, 1e5, allow_nan=False)),
        "timing_duration_mins": None,
        "conversation_type": draw(st.sampled_from(vocab.CONVERSATION_TYPES)),
        "opening_prompt": history[0]["content"],
        "conversation_turns": n_turns,
        "conversation_history": history,
        "performance_attributes": draw(st.one_of(st.none(), nested_dict(list(vocab.ATTRIBUTES), attr_score))),
        "choice_attributes": draw(st.one_of(st.none(), nested_dict(list(vocab.ATTRIBUTES), attr_score))),
        "open_feedback": draw(st.one_of(st.none(), text)),
    }


@st.composite
def prism_release(draw):
    """Raw rows for survey, conversations and metadata of a small random study."""
    n_users = draw(st.integers(1, 4))
    users = [f"user{i}" for i in range(n_users)]
    survey = [draw(participant(u)) for u in users]
    convs = []
    for i in range(draw(st.integers(0, 6))):
        convs.append(draw(conversation(f"c{i}", draw(st.sampled_from(users)))))
    metadata = [
        {
            "column_id": "self_description",
            "user_id": u,
            "conversation_id": None,
            "interaction_id": None,
            "utterance_id": None,
            "pii_flag": draw(st.booleans()),
            "pii_manual_flag": draw(st.sampled_from([None, 0.0])),
            "language_flag": "en",
            "en_flag": True,
            "moderation_flag": draw(
                st.one_of(
                    st.none(),
                    st.just({"flagged": False, "categories": {"hate": False}, "category_scores": {"hate": 0.01}}),
                )
            ),
        }
        for u in users
    ]
    return survey, convs, metadata
