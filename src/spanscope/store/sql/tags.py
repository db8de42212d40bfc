"""``set_trace_tag`` / ``delete_trace_tag`` in SQL.

A new key is stored at ``position = max + 1``, so it reads back after the tags the trace
already had (the trace JSON keeps tag order); a known key keeps its place. The trace-name
tag (``mlflow.traceName``) also feeds ``traces.name`` when the trace has no root span,
exactly as ingest does, so ``attributes.name`` filters agree with the tag.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import sqlalchemy as sa

from spanscope.entities import TraceTagKey
from spanscope.store.sql import schema
from spanscope.store.sql.locking import lock_trace, next_position

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

__all__ = ["delete_tag", "set_tag"]


def set_tag(conn: Connection, trace_id: str, key: str, value: str) -> None:
    """Insert or replace one tag (arguments already validated)."""
    lock_trace(conn, trace_id)
    table = schema.trace_tags
    where = sa.and_(table.c.trace_id == trace_id, table.c["key"] == key)
    stored = conn.execute(sa.select(table.c.value).where(where)).first()
    if stored is None:
        conn.execute(table.insert().values(trace_id=trace_id, key=key, value=value,
                                           position=next_position(conn, table, trace_id)))
    elif stored.value != value:
        conn.execute(sa.update(table).where(where).values(value=value))
    if key == TraceTagKey.TRACE_NAME:
        _sync_name(conn, trace_id, value)


def delete_tag(conn: Connection, trace_id: str, key: str) -> bool:
    """Remove one tag; False if the trace has no such tag, ``NotFoundError`` if no trace."""
    lock_trace(conn, trace_id)
    table = schema.trace_tags
    result = conn.execute(sa.delete(table).where(table.c.trace_id == trace_id,
                                                 table.c["key"] == key))
    if result.rowcount == 0:
        return False
    if key == TraceTagKey.TRACE_NAME:
        _sync_name(conn, trace_id, None)
    return True


def _sync_name(conn: Connection, trace_id: str, name: str | None) -> None:
    """The trace name follows the tag only when no root span names the trace."""
    traces, spans = schema.traces, schema.spans
    has_root = (sa.select(spans.c.span_id)
                .where(spans.c.trace_id == trace_id, spans.c.parent_span_id.is_(None))
                .exists())
    conn.execute(sa.update(traces).where(traces.c.trace_id == trace_id, ~has_root)
                 .values(name=None if name is None else name[:schema.SPAN_NAME_LENGTH]))
