"""Study operations: recruitment URL parameters per participant (payment matching) and an audit log.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "collect_entry_params",
        sa.Column("user_id", sa.String(64), sa.ForeignKey("collect_sessions.user_id"), primary_key=True),
        sa.Column("study_id", sa.String(128), nullable=False),
        sa.Column("params", sa.JSON, nullable=False),
        sa.Column("client_os", sa.String(32)),
        sa.Column("created_at", sa.Float, nullable=False),
    )
    op.create_index("ix_collect_entry_params_study_id", "collect_entry_params", ["study_id"])
    op.create_table(
        "collect_audit",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("study_id", sa.String(128)),
        sa.Column("detail", sa.JSON),
        sa.Column("created_at", sa.Float, nullable=False),
    )
    op.create_index("ix_collect_audit_action", "collect_audit", ["action"])


def downgrade() -> None:
    op.drop_table("collect_audit")
    op.drop_table("collect_entry_params")
