"""Cost accounting: cache and reasoning tokens per model, and the span type that spent them.

Revision ID: 0013
Revises: 0010
Create Date: 2026-12-04

``trace_model_usage`` gains ``cache_read_input_tokens``, ``cache_creation_input_tokens``
(parts of ``input_tokens``) and ``reasoning_tokens`` (part of ``output_tokens``), which
providers price apart, and ``span_type`` joins its primary key so cost can be grouped by
the type of the span that reported the usage (``trace_count`` is 1 on a trace and model's
first row, so summing it counts traces per model). Rows written before this revision keep
their totals, with 0 cache and reasoning tokens (priced as plain input and output, as
before) and span type ``""``; logging a trace again recomputes its rows.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0010"
branch_labels = None
depends_on = None

_COUNTS = ("cache_read_input_tokens", "cache_creation_input_tokens", "reasoning_tokens")


def upgrade() -> None:
    with op.batch_alter_table("trace_model_usage", recreate="auto") as batch:
        batch.add_column(sa.Column("span_type", sa.String(64), nullable=False,
                                   server_default=""))
        for name in _COUNTS:
            batch.add_column(sa.Column(name, sa.BigInteger(), nullable=False,
                                       server_default="0"))
        batch.add_column(sa.Column("trace_count", sa.Integer(), nullable=False,
                                   server_default="1"))
        batch.drop_constraint("pk_trace_model_usage", type_="primary")
        batch.create_primary_key("pk_trace_model_usage", ["trace_id", "model", "span_type"])


def downgrade() -> None:
    # Rows of one trace and model that differ only by span type fold back into one.
    conn = op.get_bind()
    usage = sa.table("trace_model_usage", *(sa.column(c) for c in (
        "trace_id", "model", "span_type", "experiment_id", "request_time", "calls",
        "input_tokens", "output_tokens", "total_tokens")))
    folded = conn.execute(sa.select(
        usage.c.trace_id, usage.c.model, sa.func.min(usage.c.experiment_id),
        sa.func.min(usage.c.request_time), sa.func.sum(usage.c.calls),
        sa.func.sum(usage.c.input_tokens), sa.func.sum(usage.c.output_tokens),
        sa.func.sum(usage.c.total_tokens)).group_by(usage.c.trace_id, usage.c.model)).all()
    conn.execute(sa.delete(usage))
    with op.batch_alter_table("trace_model_usage", recreate="auto") as batch:
        batch.drop_constraint("pk_trace_model_usage", type_="primary")
        batch.drop_column("span_type")
        batch.drop_column("trace_count")
        for name in _COUNTS:
            batch.drop_column(name)
        batch.create_primary_key("pk_trace_model_usage", ["trace_id", "model"])
    keys = ("trace_id", "model", "experiment_id", "request_time", "calls", "input_tokens",
            "output_tokens", "total_tokens")
    if folded:
        conn.execute(sa.table("trace_model_usage", *(sa.column(k) for k in keys)).insert(),
                     [dict(zip(keys, row, strict=True)) for row in folded])
