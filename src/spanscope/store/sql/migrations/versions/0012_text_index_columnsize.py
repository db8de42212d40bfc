"""The SQLite text index without per-row text lengths (FTS5 ``columnsize=0``).

Revision ID: 0012
Revises: 0013
Create Date: 2026-12-04

The FTS5 table of migration 0007 kept, for every indexed text, a row of its length in
tokens, which only ranking functions read (the text search never ranks); writing it was a
third of the FTS5 work at ingest. The table is made again without it, and the stored texts
indexed again in batches, with progress logged (a store whose table already has no
lengths, one migration 0007 made from this version on, is left as it is). PostgreSQL's
``pg_trgm`` index has no such part: nothing changes there.
"""

from __future__ import annotations

import logging
import time

from alembic import op

from spanscope.store.sql import text_index

revision = "0012"
down_revision = "0013"
branch_labels = None
depends_on = None

logger = logging.getLogger("spanscope.store.sql.migrate")


def _rebuild(*, columnsize: bool) -> None:
    conn = op.get_bind()
    if conn.dialect.name != "sqlite":
        return
    started = time.monotonic()

    def progress(done: int, total: int) -> None:
        logger.info("text index: %d of %d texts indexed again (%.0f s)", done, total,
                    time.monotonic() - started)

    text_index.rebuild_sqlite_fts(conn, columnsize=columnsize, progress=progress)


def upgrade() -> None:
    _rebuild(columnsize=False)


def downgrade() -> None:
    _rebuild(columnsize=True)
