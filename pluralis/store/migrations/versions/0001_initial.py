"""Initial schema: participants, conversations, interactions, utterances, text metadata, comparisons.

Revision ID: 0001
Revises:
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "participants",
        sa.Column("user_id", sa.String(64), primary_key=True),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("source", sa.String(16), nullable=False, server_default="human"),
        sa.Column("survey_only", sa.Boolean, nullable=False),
        sa.Column("age", sa.String(32)),
        sa.Column("gender", sa.String(32)),
        sa.Column("ethnicity", sa.String(32)),
        sa.Column("religion", sa.String(32)),
        sa.Column("special_region", sa.String(64)),
        sa.Column("birth_country", sa.String(128)),
        sa.Column("reside_country", sa.String(128)),
        sa.Column("study_id", sa.String(128)),
        sa.Column("study_locale", sa.String(64)),
        sa.Column("included_in_UK_REP", sa.Boolean, nullable=False, server_default="0"),
        sa.Column("included_in_US_REP", sa.Boolean, nullable=False, server_default="0"),
        sa.Column("included_in_balanced_subset", sa.Boolean, nullable=False, server_default="0"),
        sa.Column("record", sa.JSON, nullable=False),
    )
    op.create_table(
        "conversations",
        sa.Column("conversation_id", sa.String(64), primary_key=True),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("user_id", sa.String(64), sa.ForeignKey("participants.user_id"), nullable=False),
        sa.Column("conversation_type", sa.String(32), nullable=False),
        sa.Column("included_in_balanced_subset", sa.Boolean, nullable=False),
        sa.Column("conversation_turns", sa.Integer, nullable=False),
        sa.Column("opening_prompt", sa.Text, nullable=False),
        sa.Column("record", sa.JSON, nullable=False),
        sa.Column("history_override", sa.JSON),
    )
    op.create_index("ix_conversations_user_id", "conversations", ["user_id"])
    op.create_table(
        "interactions",
        sa.Column("interaction_id", sa.String(64), primary_key=True),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("conversation_id", sa.String(64), sa.ForeignKey("conversations.conversation_id"), nullable=False),
        sa.Column("turn", sa.Integer, nullable=False),
        sa.Column("user_prompt", sa.Text, nullable=False),
    )
    op.create_index("ix_interactions_conversation_id", "interactions", ["conversation_id"])
    op.create_table(
        "utterances",
        sa.Column("utterance_id", sa.String(64), primary_key=True),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("interaction_id", sa.String(64), sa.ForeignKey("interactions.interaction_id"), nullable=False),
        sa.Column("conversation_id", sa.String(64), sa.ForeignKey("conversations.conversation_id"), nullable=False),
        sa.Column("user_id", sa.String(64), sa.ForeignKey("participants.user_id"), nullable=False),
        sa.Column("turn", sa.Integer, nullable=False),
        sa.Column("within_turn_id", sa.Integer, nullable=False),
        sa.Column("included_in_balanced_subset", sa.Boolean, nullable=False),
        sa.Column("conversation_type", sa.String(32), nullable=False),
        sa.Column("model_response", sa.Text, nullable=False),
        sa.Column("model_name", sa.String(128), nullable=False),
        sa.Column("model_provider", sa.String(64), nullable=False),
        sa.Column("score", sa.Integer, nullable=False),
        sa.Column("if_chosen", sa.Boolean, nullable=False),
        sa.Column("extra", sa.JSON),
    )
    for col in ("interaction_id", "conversation_id", "user_id", "model_name"):
        op.create_index(f"ix_utterances_{col}", "utterances", [col])
    op.create_index("ix_utterances_turn_model", "utterances", ["turn", "model_name"])
    op.create_table(
        "text_metadata",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("column_id", sa.String(32), nullable=False),
        sa.Column("user_id", sa.String(64), sa.ForeignKey("participants.user_id"), nullable=False),
        sa.Column("conversation_id", sa.String(64)),
        sa.Column("interaction_id", sa.String(64)),
        sa.Column("utterance_id", sa.String(64)),
        sa.Column("pii_flag", sa.Boolean, nullable=False),
        sa.Column("pii_manual_flag", sa.Float),
        sa.Column("language_flag", sa.String(16)),
        sa.Column("en_flag", sa.Boolean, nullable=False),
        sa.Column("moderation_flag", sa.JSON),
        sa.Column("extra", sa.JSON),
    )
    op.create_index("ix_text_metadata_user_id", "text_metadata", ["user_id"])
    op.create_table(
        "comparisons",
        sa.Column("comparison_id", sa.String(128), primary_key=True),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("source", sa.String(64), nullable=False),
        sa.Column("annotator_id", sa.String(128)),
        sa.Column("conversation_id", sa.String(128)),
        sa.Column("record", sa.JSON, nullable=False),
    )
    op.create_index("ix_comparisons_annotator_id", "comparisons", ["annotator_id"])


def downgrade() -> None:
    for table in ("comparisons", "text_metadata", "utterances", "interactions", "conversations", "participants"):
        op.drop_table(table)
