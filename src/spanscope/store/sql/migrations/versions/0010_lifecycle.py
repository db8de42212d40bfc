"""Data lifecycle: retention rules per experiment, and the log of deletions.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-04

``spanscope retention`` and the server's worker read ``retention_rules``; privacy and
retention deletions write one ``deletion_log`` row each (``spanscope.store.retention``).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "retention_rules",
        sa.Column("rule_id", sa.String(32), nullable=False),
        sa.Column("experiment_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(256), nullable=True),
        sa.Column("filter_string", sa.Text(), nullable=True),
        sa.Column("keep_ms", sa.BigInteger(), nullable=True),
        sa.Column("sample_fraction", sa.Float(), server_default="1", nullable=False),
        sa.Column("created_time", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["experiment_id"], ["experiments.experiment_id"],
                                name="fk_retention_rules_experiment_id_experiments",
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("rule_id", name="pk_retention_rules"),
    )
    op.create_index("ix_retention_rules_experiment", "retention_rules", ["experiment_id"])
    op.create_table(
        "deletion_log",
        sa.Column("deletion_id", sa.String(32), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("time", sa.BigInteger(), nullable=False),
        sa.Column("actor", sa.String(256), nullable=True),
        sa.Column("selector", sa.Text(), nullable=False),
        sa.Column("counts", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("deletion_id", name="pk_deletion_log"),
    )
    op.create_index("ix_deletion_log_time", "deletion_log", ["time"])


def downgrade() -> None:
    op.drop_index("ix_deletion_log_time", table_name="deletion_log")
    op.drop_table("deletion_log")
    op.drop_index("ix_retention_rules_experiment", table_name="retention_rules")
    op.drop_table("retention_rules")
