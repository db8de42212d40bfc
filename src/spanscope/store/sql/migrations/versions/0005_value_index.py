"""Tag and metadata values indexed: ``(key, substr(value, 1, 64), trace_id)``.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-22

A filter ``tags.KEY = 'v'`` (or ``IN (...)``) can then find its traces by looking the
value up, instead of probing every trace of the experiment: what a rare value needs
(``docs/search-performance.md``). The index holds a 64-character prefix of the value, not
the value, because values are Text of any length and a PostgreSQL btree row is limited to
~2.7 kB; queries repeat the same expression and check the exact value. It replaces
``(key, trace_id)``, which no query needed (the primary key ``(trace_id, key)`` serves
every per-trace probe), so ingest maintains as many indexes as before.

On PostgreSQL the tables are analyzed afterwards: the planner chooses between scanning
and looking a value up from the statistics of the indexed expression, which exist only
once ``ANALYZE`` has run after the index was created (about a second per million
traces).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_TABLES = ("trace_tags", "trace_metadata")


def upgrade() -> None:
    for table in _TABLES:
        op.create_index(f"ix_{table}_value", table,
                        ["key", sa.text("substr(value, 1, 64)"), "trace_id"])
        op.drop_index(f"ix_{table}_key", table_name=table)
        if op.get_bind().dialect.name == "postgresql":
            op.execute(f"ANALYZE {table}")


def downgrade() -> None:
    for table in _TABLES:
        op.create_index(f"ix_{table}_key", table, ["key", "trace_id"])
        op.drop_index(f"ix_{table}_value", table_name=table)
