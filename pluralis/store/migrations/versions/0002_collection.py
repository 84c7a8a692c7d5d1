"""Collection platform: participant sessions, ratings, model responses, failures, events.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "collect_sessions",
        sa.Column("user_id", sa.String(64), primary_key=True),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("study_id", sa.String(128), nullable=False),
        sa.Column("source", sa.String(16), nullable=False, server_default="human"),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("quota_cell", sa.String(128)),
        sa.Column("external_id_hash", sa.String(64)),
        sa.Column("revision", sa.Integer, nullable=False),
        sa.Column("conversations_done", sa.Integer, nullable=False, server_default="0"),
        sa.Column("state", sa.JSON, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
        sa.Column("completed_at", sa.Float),
        sa.UniqueConstraint("token_hash", name="uq_collect_sessions_token_hash"),
    )
    for col in ("study_id", "status", "quota_cell", "external_id_hash"):
        op.create_index(f"ix_collect_sessions_{col}", "collect_sessions", [col])
    op.create_table(
        "collect_ratings",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("user_id", sa.String(64), sa.ForeignKey("collect_sessions.user_id"), nullable=False),
        sa.Column("conversation_id", sa.String(64), nullable=False),
        sa.Column("turn", sa.Integer, nullable=False),
        sa.Column("within_turn_id", sa.Integer, nullable=False),
        sa.Column("model_name", sa.String(128), nullable=False),
        sa.Column("score", sa.Integer, nullable=False),
        sa.Column("if_chosen", sa.Boolean, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.UniqueConstraint("conversation_id", "turn", "within_turn_id", name="uq_collect_ratings_response"),
    )
    op.create_index("ix_collect_ratings_user_id", "collect_ratings", ["user_id"])
    op.create_index("ix_collect_ratings_model_name", "collect_ratings", ["model_name"])
    op.create_index("ix_collect_ratings_conversation", "collect_ratings", ["conversation_id", "turn"])
    op.create_table(
        "collect_responses",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("user_id", sa.String(64), sa.ForeignKey("collect_sessions.user_id"), nullable=False),
        sa.Column("conversation_id", sa.String(64), nullable=False),
        sa.Column("turn", sa.Integer, nullable=False),
        sa.Column("within_turn_id", sa.Integer, nullable=False),
        sa.Column("model_name", sa.String(128), nullable=False),
        sa.Column("model_provider", sa.String(64), nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("latency_s", sa.Float),
        sa.Column("method", sa.String(32)),
        sa.Column("usage", sa.JSON),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.UniqueConstraint("conversation_id", "turn", "within_turn_id", name="uq_collect_responses_response"),
    )
    op.create_index("ix_collect_responses_user_id", "collect_responses", ["user_id"])
    op.create_table(
        "collect_failures",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("user_id", sa.String(64), sa.ForeignKey("collect_sessions.user_id"), nullable=False),
        sa.Column("conversation_id", sa.String(64), nullable=False),
        sa.Column("turn", sa.Integer, nullable=False),
        sa.Column("model_name", sa.String(128), nullable=False),
        sa.Column("model_provider", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("message", sa.Text, nullable=False),
        sa.Column("status_code", sa.Integer),
        sa.Column("latency_s", sa.Float, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
    )
    op.create_index("ix_collect_failures_user_id", "collect_failures", ["user_id"])
    op.create_index("ix_collect_failures_model_name", "collect_failures", ["model_name"])
    op.create_table(
        "collect_events",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("user_id", sa.String(64)),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("detail", sa.JSON),
        sa.Column("created_at", sa.Float, nullable=False),
    )
    op.create_index("ix_collect_events_user_id", "collect_events", ["user_id"])
    op.create_index("ix_collect_events_kind", "collect_events", ["kind"])


def downgrade() -> None:
    for table in ("collect_events", "collect_failures", "collect_responses", "collect_ratings", "collect_sessions"):
        op.drop_table(table)
