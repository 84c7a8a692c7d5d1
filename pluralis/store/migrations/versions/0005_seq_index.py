"""An index on ``seq`` in each study table.

The collection platform appends every finished survey or conversation at ``MAX(seq) + 1`` of the six
study tables, inside the writer's lock; without an index each ``MAX`` scans its table (17-19 ms per save
at PRISM's size, 68k utterances), with one it is a B-tree lookup (microseconds).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03
"""

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

TABLES = ("participants", "conversations", "interactions", "utterances", "text_metadata", "comparisons")


def upgrade() -> None:
    for table in TABLES:
        op.create_index(f"ix_{table}_seq", table, ["seq"])


def downgrade() -> None:
    for table in TABLES:
        op.drop_index(f"ix_{table}_seq", table_name=table)
