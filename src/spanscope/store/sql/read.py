"""The read path: a page of ``traces`` rows becomes ``Trace`` entities in a few IN-queries.

However many traces a page holds, reading it costs one query each for tags, metadata,
assessments and (only when asked for) spans, never one per trace.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from spanscope.entities import Assessment, Span, Trace, TraceData
from spanscope.store.sql import schema
from spanscope.store.sql.convert import (
    assessment_from_content,
    span_from_content,
    trace_info_from_row,
)
from spanscope.store.sql.ingest import chunks

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

__all__ = ["load_traces"]


def load_traces(conn: Connection, rows: Sequence[Any], *, include_spans: bool) -> list[Trace]:
    """Full ``Trace`` objects for ``traces`` rows, in the rows' order."""
    ids = [row.trace_id for row in rows]
    if not ids:
        return []
    tags = _key_values(conn, schema.trace_tags, ids)
    metadata = _key_values(conn, schema.trace_metadata, ids)
    assessments = _assessments(conn, ids)
    spans = _spans(conn, ids) if include_spans else {}
    return [
        Trace(trace_info_from_row(row, tags=tags.get(row.trace_id, {}),
                                  metadata=metadata.get(row.trace_id, {}),
                                  assessments=assessments.get(row.trace_id, [])),
              TraceData(spans.get(row.trace_id, [])))
        for row in rows
    ]


def _key_values(conn: Connection, table: sa.Table, ids: list[str]) -> dict[str, dict[str, str]]:
    out: dict[str, dict[str, str]] = {}
    for part in chunks(ids):
        query = (sa.select(table.c.trace_id, table.c["key"], table.c.value)
                 .where(table.c.trace_id.in_(part))
                 .order_by(table.c.trace_id, table.c.position, table.c["key"]))
        for trace_id, key, value in conn.execute(query):
            out.setdefault(trace_id, {})[key] = value
    return out


def _assessments(conn: Connection, ids: list[str]) -> dict[str, list[Assessment]]:
    table = schema.assessments
    out: dict[str, list[Assessment]] = {}
    for part in chunks(ids):
        query = (sa.select(table.c.trace_id, table.c.content)
                 .where(table.c.trace_id.in_(part))
                 .order_by(table.c.trace_id, table.c.position, table.c.create_time,
                           table.c.assessment_id))
        for trace_id, content in conn.execute(query):
            out.setdefault(trace_id, []).append(assessment_from_content(content))
    return out


def _spans(conn: Connection, ids: list[str]) -> dict[str, list[Span]]:
    table = schema.spans
    out: dict[str, list[Span]] = {}
    for part in chunks(ids):
        query = (sa.select(table.c.trace_id, table.c.content)
                 .where(table.c.trace_id.in_(part))
                 .order_by(table.c.trace_id, table.c.position, table.c.start_time_ns,
                           table.c.span_id))
        for trace_id, content in conn.execute(query):
            out.setdefault(trace_id, []).append(span_from_content(content, trace_id))
    return out
