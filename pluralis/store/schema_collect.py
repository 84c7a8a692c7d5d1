"""Tables of the collection platform (``pluralis serve``), on the store's ``metadata``.

Participants' PRISM records go to the store's own tables (``participants``, ``conversations``,
``interactions``, ``utterances``) when they are final; these tables hold what a live study needs
besides: each participant's progress (the protocol state, so a closed tab resumes where it was),
every rating the moment it is given, every model response generated, every failed model call,
and an audit log of events.
"""

from __future__ import annotations

from sqlalchemy import JSON, Boolean, Column, Float, ForeignKey, Index, Integer, String, Table, Text, UniqueConstraint

from pluralis.store.schema import metadata

#: One row per participant of a live study: an unguessable token (stored hashed) and the protocol state.
collect_sessions = Table(
    "collect_sessions",
    metadata,
    Column("user_id", String(64), primary_key=True),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("study_id", String(128), nullable=False, index=True),
    Column("source", String(16), nullable=False, server_default="human"),
    Column("status", String(32), nullable=False, index=True),
    Column("quota_cell", String(128), index=True),
    Column("external_id_hash", String(64), index=True),
    Column("revision", Integer, nullable=False),
    Column("conversations_done", Integer, nullable=False, server_default="0"),
    Column("state", JSON, nullable=False),
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
    Column("completed_at", Float),
)

#: Every rating, committed before the next page is served; unique per rated response.
collect_ratings = Table(
    "collect_ratings",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("user_id", String(64), ForeignKey("collect_sessions.user_id"), nullable=False, index=True),
    Column("conversation_id", String(64), nullable=False),
    Column("turn", Integer, nullable=False),
    Column("within_turn_id", Integer, nullable=False),
    Column("model_name", String(128), nullable=False, index=True),
    Column("score", Integer, nullable=False),
    Column("if_chosen", Boolean, nullable=False),
    Column("created_at", Float, nullable=False),
    UniqueConstraint("conversation_id", "turn", "within_turn_id", name="uq_collect_ratings_response"),
)

#: Every model response generated (also those of conversations never finished).
collect_responses = Table(
    "collect_responses",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("user_id", String(64), ForeignKey("collect_sessions.user_id"), nullable=False, index=True),
    Column("conversation_id", String(64), nullable=False),
    Column("turn", Integer, nullable=False),
    Column("within_turn_id", Integer, nullable=False),
    Column("model_name", String(128), nullable=False),
    Column("model_provider", String(64), nullable=False),
    Column("text", Text, nullable=False),
    Column("latency_s", Float),
    Column("method", String(32)),
    Column("usage", JSON),
    Column("created_at", Float, nullable=False),
    UniqueConstraint("conversation_id", "turn", "within_turn_id", name="uq_collect_responses_response"),
)

#: Model calls that failed or timed out and were dropped from a response set.
collect_failures = Table(
    "collect_failures",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("user_id", String(64), ForeignKey("collect_sessions.user_id"), nullable=False, index=True),
    Column("conversation_id", String(64), nullable=False),
    Column("turn", Integer, nullable=False),
    Column("model_name", String(128), nullable=False, index=True),
    Column("model_provider", String(64), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("message", Text, nullable=False),
    Column("status_code", Integer),
    Column("latency_s", Float, nullable=False),
    Column("created_at", Float, nullable=False),
)

#: Audit log: consent, survey pages, conversations started/finished, completion, resumes, ...
collect_events = Table(
    "collect_events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("user_id", String(64), index=True),
    Column("kind", String(32), nullable=False, index=True),
    Column("detail", JSON),
    Column("created_at", Float, nullable=False),
)

Index("ix_collect_ratings_conversation", collect_ratings.c.conversation_id, collect_ratings.c.turn)

#: The recruitment platform's URL parameters of each participant (``[recruitment] url_params``, e.g. Prolific's
#: PROLIFIC_PID, STUDY_ID, SESSION_ID), captured when they join, and the coarse operating system of their
#: browser (for quality control). Kept apart from every PRISM table and never exported with them: only
#: payment matching reads it (``pluralis participants payments``); on PostgreSQL, grant it to the study team only.
collect_entry_params = Table(
    "collect_entry_params",
    metadata,
    Column("user_id", String(64), ForeignKey("collect_sessions.user_id"), primary_key=True),
    Column("study_id", String(128), nullable=False, index=True),
    Column("params", JSON, nullable=False),
    Column("client_os", String(32)),
    Column("created_at", Float, nullable=False),
)

#: Operations on the study's data (participants deleted on withdrawal, ...): what and when, never who.
collect_audit = Table(
    "collect_audit",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("action", String(64), nullable=False, index=True),
    Column("study_id", String(128)),
    Column("detail", JSON),
    Column("created_at", Float, nullable=False),
)
