"""The store's relational schema (SQLAlchemy Core). Alembic migrations create and evolve it.

Design: every table keeps the columns people query (demographics, model, score, ...) as real
columns, and ``record`` JSON holds the exact released record where a table's records have
nested or open-ended parts (participants, conversations, comparisons), so exports are lossless.
``seq`` keeps the original file order (indexed: the collection platform appends at ``MAX(seq) + 1``,
which without an index scans the whole table inside the writer's lock). The collection platform's tables
(:mod:`pluralis.store.schema_collect`) join :data:`metadata` when :mod:`pluralis.store` is imported,
which happens before any of its modules is.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
metadata = MetaData(naming_convention=NAMING)

participants = Table(
    "participants",
    metadata,
    Column("user_id", String(64), primary_key=True),
    Column("seq", Integer, nullable=False, index=True),
    Column("source", String(16), nullable=False, server_default="human"),
    Column("survey_only", Boolean, nullable=False),
    Column("age", String(32)),
    Column("gender", String(32)),
    Column("ethnicity", String(32)),
    Column("religion", String(32)),
    Column("special_region", String(64)),
    Column("birth_country", String(128)),
    Column("reside_country", String(128)),
    Column("study_id", String(128)),
    Column("study_locale", String(64)),
    Column("included_in_UK_REP", Boolean, nullable=False, server_default="0"),
    Column("included_in_US_REP", Boolean, nullable=False, server_default="0"),
    Column("included_in_balanced_subset", Boolean, nullable=False, server_default="0"),
    Column("record", JSON, nullable=False),
)

conversations = Table(
    "conversations",
    metadata,
    Column("conversation_id", String(64), primary_key=True),
    Column("seq", Integer, nullable=False, index=True),
    Column("user_id", String(64), ForeignKey("participants.user_id"), nullable=False, index=True),
    Column("conversation_type", String(32), nullable=False),
    Column("included_in_balanced_subset", Boolean, nullable=False),
    Column("conversation_turns", Integer, nullable=False),
    Column("opening_prompt", Text, nullable=False),
    Column("record", JSON, nullable=False),
    # Only set when the released history cannot be rebuilt exactly from interactions + utterances.
    Column("history_override", JSON),
)

interactions = Table(
    "interactions",
    metadata,
    Column("interaction_id", String(64), primary_key=True),
    Column("seq", Integer, nullable=False, index=True),
    Column("conversation_id", String(64), ForeignKey("conversations.conversation_id"), nullable=False, index=True),
    Column("turn", Integer, nullable=False),
    Column("user_prompt", Text, nullable=False),
)

utterances = Table(
    "utterances",
    metadata,
    Column("utterance_id", String(64), primary_key=True),
    Column("seq", Integer, nullable=False, index=True),
    Column("interaction_id", String(64), ForeignKey("interactions.interaction_id"), nullable=False, index=True),
    Column("conversation_id", String(64), ForeignKey("conversations.conversation_id"), nullable=False, index=True),
    Column("user_id", String(64), ForeignKey("participants.user_id"), nullable=False, index=True),
    Column("turn", Integer, nullable=False),
    Column("within_turn_id", Integer, nullable=False),
    Column("included_in_balanced_subset", Boolean, nullable=False),
    Column("conversation_type", String(32), nullable=False),
    Column("model_response", Text, nullable=False),
    Column("model_name", String(128), nullable=False, index=True),
    Column("model_provider", String(64), nullable=False),
    Column("score", Integer, nullable=False),
    Column("if_chosen", Boolean, nullable=False),
    Column("extra", JSON),
)

text_metadata = Table(
    "text_metadata",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("seq", Integer, nullable=False, index=True),
    Column("column_id", String(32), nullable=False),
    Column("user_id", String(64), ForeignKey("participants.user_id"), nullable=False, index=True),
    Column("conversation_id", String(64)),
    Column("interaction_id", String(64)),
    Column("utterance_id", String(64)),
    Column("pii_flag", Boolean, nullable=False),
    Column("pii_manual_flag", Float),
    Column("language_flag", String(16)),
    Column("en_flag", Boolean, nullable=False),
    Column("moderation_flag", JSON),
    Column("extra", JSON),
)

comparisons = Table(
    "comparisons",
    metadata,
    Column("comparison_id", String(128), primary_key=True),
    Column("seq", Integer, nullable=False, index=True),
    Column("source", String(64), nullable=False),
    Column("annotator_id", String(128), index=True),
    Column("conversation_id", String(128)),
    Column("record", JSON, nullable=False),
)

Index("ix_utterances_turn_model", utterances.c.turn, utterances.c.model_name)
