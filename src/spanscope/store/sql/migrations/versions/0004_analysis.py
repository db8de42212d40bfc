"""Analysis: per-model token usage of each trace, and an index to profile spans from.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-24

``trace_model_usage`` holds a trace's tokens per model (what estimated cost is priced
on), written with the trace, with the trace's experiment and request time copied in so
usage over experiments and a time window reads it alone; traces logged before this
revision have no rows, so their cost is unknown. ``ix_spans_name_type_duration`` replaces
``ix_spans_name`` (its prefix): a profile of every span streams per name and type in
duration order and reads percentiles by index walks, without touching span rows.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "trace_model_usage",
        sa.Column("trace_id", sa.String(64), nullable=False),
        sa.Column("model", sa.String(256), nullable=False),
        sa.Column("experiment_id", sa.Integer(), nullable=False),
        sa.Column("request_time", sa.BigInteger(), nullable=False),
        sa.Column("calls", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("input_tokens", sa.BigInteger(), nullable=False, server_default="0"),
        sa.Column("output_tokens", sa.BigInteger(), nullable=False, server_default="0"),
        sa.Column("total_tokens", sa.BigInteger(), nullable=False, server_default="0"),
        sa.PrimaryKeyConstraint("trace_id", "model", name="pk_trace_model_usage"),
        sa.ForeignKeyConstraint(["trace_id"], ["traces.trace_id"], ondelete="CASCADE",
                                name="fk_trace_model_usage_trace_id_traces"),
    )
    op.create_index("ix_trace_model_usage_experiment_time", "trace_model_usage",
                    ["experiment_id", "request_time"])
    op.create_index("ix_spans_name_type_duration", "spans",
                    ["name", "span_type", "duration_ns", "status"])
    op.drop_index("ix_spans_name", table_name="spans")


def downgrade() -> None:
    op.create_index("ix_spans_name", "spans", ["name"])
    op.drop_index("ix_spans_name_type_duration", table_name="spans")
    op.drop_table("trace_model_usage")
