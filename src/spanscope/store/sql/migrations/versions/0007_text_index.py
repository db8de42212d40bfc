"""The text index: span inputs, outputs and exception messages, indexed by trigrams.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04

``text CONTAINS 'x'`` (and ``request``/``response``/``inputs.PATH`` patterns) then reads
an index instead of parsing every trace's JSON (``spanscope.store.sql.text_index``).
SQLite: an FTS5 table with the trigram tokenizer over ``span_text``, kept in step by
triggers. PostgreSQL: the ``pg_trgm`` extension and a GIN index; where the database user
may not create the extension, the migration logs what an administrator should run, and
text search scans meanwhile. Stored traces are indexed in batches, with progress logged
(about a minute per million traces).
"""

from __future__ import annotations

import logging
import time

import sqlalchemy as sa
from alembic import op

from spanscope.store.sql import text_index

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

logger = logging.getLogger("spanscope.store.sql.migrate")


def upgrade() -> None:
    op.create_table(
        "span_text",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
                  autoincrement=True, nullable=False),
        sa.Column("trace_id", sa.String(64), nullable=False),
        sa.Column("span_id", sa.String(32), nullable=False),
        sa.Column("kind", sa.String(1), nullable=False),
        sa.Column("seq", sa.Integer(), server_default="0", nullable=False),
        sa.Column("unsure", sa.Integer(), server_default="0", nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["trace_id"], ["traces.trace_id"], ondelete="CASCADE",
                                name="fk_span_text_trace_id_traces"),
        sa.PrimaryKeyConstraint("id", name="pk_span_text"),
    )
    op.create_index("ix_span_text_trace", "span_text", ["trace_id", "span_id"])
    op.create_index("ix_span_text_unsure", "span_text", ["unsure", "trace_id"],
                    sqlite_where=sa.text("unsure > 0"), postgresql_where=sa.text("unsure > 0"))
    conn = op.get_bind()
    sqlite = conn.dialect.name == "sqlite"
    if sqlite:  # the triggers index the rows as the backfill writes them
        text_index.create_index(conn)
    started = time.monotonic()

    def progress(done: int, total: int) -> None:
        logger.info("text index: %d of %d traces indexed (%.0f s)", done, total,
                    time.monotonic() - started)

    text_index.backfill(conn, progress=progress)
    if not sqlite:  # one GIN build after the rows is faster than growing it row by row
        text_index.create_index(conn)
        op.execute("ANALYZE span_text")


def downgrade() -> None:
    text_index.drop_index(op.get_bind())
    op.drop_table("span_text")
