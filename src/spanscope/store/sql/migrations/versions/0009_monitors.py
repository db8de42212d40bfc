"""Monitors: definitions with their current state, every evaluation, and the outbox of
webhook notifications.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-04

``spanscope monitor create`` writes ``monitors``; the monitor worker (``spanscope monitor
run``, or inside ``spanscope server``) appends to ``monitor_evaluations`` and sends what
it queued in ``monitor_deliveries`` (``spanscope.store.monitors``).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "monitors",
        sa.Column("monitor_id", sa.String(32), nullable=False),
        sa.Column("name", sa.String(256), nullable=False),
        sa.Column("definition", sa.Text(), nullable=False),
        sa.Column("created_ms", sa.BigInteger(), nullable=False),
        sa.Column("state", sa.String(16), nullable=True),
        sa.Column("since_ms", sa.BigInteger(), nullable=True),
        sa.Column("last_eval_ms", sa.BigInteger(), nullable=True),
        sa.Column("last_notified_ms", sa.BigInteger(), nullable=True),
        sa.Column("notified", sa.String(16), nullable=True),
        sa.Column("next_due_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("monitor_id", name="pk_monitors"),
        sa.UniqueConstraint("name", name="uq_monitors_name"),
    )
    op.create_index("ix_monitors_next_due", "monitors", ["next_due_ms"])
    op.create_table(
        "monitor_evaluations",
        sa.Column("evaluation_id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("monitor_id", sa.String(32), nullable=False),
        sa.Column("time_ms", sa.BigInteger(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("value", sa.Float(), nullable=True),
        sa.Column("samples", sa.Integer(), nullable=False),
        sa.Column("window_start_ms", sa.BigInteger(), nullable=False),
        sa.Column("window_end_ms", sa.BigInteger(), nullable=False),
        sa.Column("event", sa.String(16), nullable=True),
        sa.ForeignKeyConstraint(["monitor_id"], ["monitors.monitor_id"], ondelete="CASCADE",
                                name="fk_monitor_evaluations_monitor_id_monitors"),
        sa.PrimaryKeyConstraint("evaluation_id", name="pk_monitor_evaluations"),
    )
    op.create_index("ix_monitor_evaluations_monitor_time", "monitor_evaluations",
                    ["monitor_id", "time_ms"])
    op.create_table(
        "monitor_deliveries",
        sa.Column("delivery_id", sa.String(32), nullable=False),
        sa.Column("monitor_id", sa.String(32), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("event", sa.String(16), nullable=False),
        sa.Column("created_ms", sa.BigInteger(), nullable=False),
        sa.Column("next_attempt_ms", sa.BigInteger(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("sent_ms", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(["monitor_id"], ["monitors.monitor_id"], ondelete="CASCADE",
                                name="fk_monitor_deliveries_monitor_id_monitors"),
        sa.PrimaryKeyConstraint("delivery_id", name="pk_monitor_deliveries"),
    )
    op.create_index("ix_monitor_deliveries_due", "monitor_deliveries",
                    ["status", "next_attempt_ms"])


def downgrade() -> None:
    op.drop_table("monitor_deliveries")
    op.drop_table("monitor_evaluations")
    op.drop_table("monitors")
