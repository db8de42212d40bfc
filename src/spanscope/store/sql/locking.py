"""Take a trace's row lock before changing what hangs off it (tags, assessments).

Every mutation of a stored trace starts here: it checks the trace exists (``NotFoundError``
naming it) and, on PostgreSQL, locks the summary row (``SELECT … FOR UPDATE``) so two
writers changing one trace take turns: position counters (``max + 1``), override chains
and "insert if absent" stay consistent. SQLite needs no row lock: write transactions
already start with ``BEGIN IMMEDIATE``, which serialises all writers of the file.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from spanscope.exceptions import NotFoundError
from spanscope.store.sql import schema

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

__all__ = ["lock_trace", "next_position", "require_trace"]


def lock_trace(conn: Connection, trace_id: str) -> Any:
    """The trace's ``(trace_id, name)`` row, locked until the transaction ends."""
    table = schema.traces
    row = conn.execute(sa.select(table.c.trace_id, table.c.name)
                       .where(table.c.trace_id == trace_id).with_for_update()).first()
    if row is None:
        raise NotFoundError(f"trace {trace_id!r} not found")
    return row


def require_trace(conn: Connection, trace_id: str) -> None:
    """``NotFoundError`` unless the trace exists (for reads: no lock)."""
    table = schema.traces
    if conn.execute(sa.select(table.c.trace_id).where(table.c.trace_id == trace_id)).first() \
            is None:
        raise NotFoundError(f"trace {trace_id!r} not found")


def next_position(conn: Connection, table: sa.Table, trace_id: str) -> int:
    """``max(position) + 1`` among the trace's rows in ``table`` (0 for the first)."""
    top = conn.execute(sa.select(sa.func.max(table.c.position))
                       .where(table.c.trace_id == trace_id)).scalar()
    return 0 if top is None else top + 1
