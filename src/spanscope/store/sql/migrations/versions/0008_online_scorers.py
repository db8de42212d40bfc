"""Online scorers: registrations, and one checkpoint row per trace each has claimed.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04

``spanscope.genai.scorers.register`` and ``spanscope scorers register`` write
``online_scorers``; the online worker claims traces by inserting into
``online_scorer_checkpoints``, whose primary key (registration, version, trace) lets
exactly one worker win each trace (``spanscope.store.online_scorers``).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "online_scorers",
        sa.Column("registration_id", sa.String(64), nullable=False),
        sa.Column("experiment_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(250), nullable=False),
        sa.Column("spec", sa.Text(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("sample_rate", sa.Float(), nullable=False),
        sa.Column("filter_string", sa.Text(), nullable=True),
        sa.Column("delay_s", sa.Float(), nullable=False),
        sa.Column("max_judge_calls_per_hour", sa.Integer(), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("scan_from_ms", sa.BigInteger(), nullable=False),
        sa.Column("created_time", sa.BigInteger(), nullable=False),
        sa.Column("last_update_time", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("registration_id", name="pk_online_scorers"),
    )
    op.create_index("ix_online_scorers_experiment_name", "online_scorers",
                    ["experiment_id", "name"], unique=True)
    op.create_table(
        "online_scorer_checkpoints",
        sa.Column("registration_id", sa.String(64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("trace_id", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("worker_id", sa.String(128), nullable=False),
        sa.Column("claimed_time", sa.BigInteger(), nullable=False),
        sa.Column("done_time", sa.BigInteger(), nullable=True),
        sa.Column("judge_calls", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("registration_id", "version", "trace_id",
                                name="pk_online_scorer_checkpoints"),
    )
    op.create_index("ix_online_scorer_checkpoints_claims", "online_scorer_checkpoints",
                    ["registration_id", "status", "claimed_time"])


def downgrade() -> None:
    op.drop_index("ix_online_scorer_checkpoints_claims", "online_scorer_checkpoints")
    op.drop_table("online_scorer_checkpoints")
    op.drop_index("ix_online_scorers_experiment_name", "online_scorers")
    op.drop_table("online_scorers")
