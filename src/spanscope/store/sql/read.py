"""The read path: a page of ``traces`` rows becomes ``Trace`` entities in a few IN-queries.

However many traces a page holds, reading it costs one query each for tags, metadata,
assessments and (only when asked for) spans, never one per trace.

These four statements run for every page of every search and every ``get_trace``, so they
are fixed SQL text run with ``exec_driver_sql`` rather than SQLAlchemy expressions:
building, caching and rendering an expanding ``IN`` of 100 ids costs more than the
database's own work for a page (0.96 ms against 0.52 ms for a page's tags on SQLite,
measured on the store of ``bench/search.py``). Span JSON is not decoded here: spans come
back as ``Span.from_stored``, built from their columns, their JSON decoded on first use.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from spanscope.entities import Assessment, Span, Trace, TraceData
from spanscope.store.sql import schema
from spanscope.store.sql.convert import (
    assessment_from_content,
    span_from_content,
    trace_info_from_row,
)
from spanscope.store.sql.ingest import chunks

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection, CursorResult

__all__ = ["load_traces"]

_KEY_VALUES = ('SELECT trace_id, "key", value FROM {table} WHERE trace_id {ids} '
               'ORDER BY trace_id, position, "key"')
_TAGS = _KEY_VALUES.replace("{table}", "trace_tags")
_METADATA = _KEY_VALUES.replace("{table}", "trace_metadata")
_ASSESSMENTS = ("SELECT trace_id, content FROM assessments WHERE trace_id {ids} "
                "ORDER BY trace_id, position, create_time, assessment_id")
_SPANS = ("SELECT trace_id, span_id, parent_span_id, name, start_time_ns, end_time_ns, "
          "content, span_type, status FROM spans WHERE trace_id {ids} "
          "ORDER BY trace_id, position, start_time_ns, span_id")
# Columns the ingest path may cut (convert.span_row): a span whose stored name or parent id
# reaches the limit is rebuilt from its JSON instead.
_NAME_LIMIT, _PARENT_LIMIT = schema.SPAN_NAME_LENGTH, schema.SPAN_ID_LENGTH


def load_traces(conn: Connection, rows: Sequence[Any], *, include_spans: bool) -> list[Trace]:
    """Full ``Trace`` objects for ``traces`` rows, in the rows' order."""
    ids = [row.trace_id for row in rows]
    if not ids:
        return []
    tags = _key_values(conn, _TAGS, ids)
    metadata = _key_values(conn, _METADATA, ids)
    assessments = _assessments(conn, ids)
    spans = _spans(conn, ids) if include_spans else {}
    return [
        Trace(trace_info_from_row(row, tags=tags.get(row.trace_id) or {},
                                  metadata=metadata.get(row.trace_id) or {},
                                  assessments=assessments.get(row.trace_id, [])),
              TraceData(spans.get(row.trace_id, [])))
        for row in rows
    ]


@functools.lru_cache(maxsize=64)
def _statement(template: str, postgresql: bool, count: int) -> str:
    """``template`` with its ``{ids}`` placeholder for ``count`` ids (PostgreSQL: an array)."""
    ids = "= ANY(%s)" if postgresql else f"IN ({', '.join('?' * count)})"
    return template.replace("{ids}", ids)


def _select(conn: Connection, template: str, ids: list[str]) -> Iterator[tuple[Any, ...]]:
    """Rows of ``template`` for the trace ids ``ids`` (in chunks on SQLite), as the
    driver's tuples: these columns need no result processing, and building a ``Row`` for
    each of a page's thousands of rows cost as much as the database's own work."""
    if conn.dialect.name == "postgresql":
        yield from _fetched(conn.exec_driver_sql(_statement(template, True, 0), (ids,)))
        return
    for part in chunks(ids):
        yield from _fetched(conn.exec_driver_sql(_statement(template, False, len(part)),
                                                 tuple(part)))


def _fetched(result: CursorResult[Any]) -> list[tuple[Any, ...]]:
    try:
        return result.cursor.fetchall()  # type: ignore[no-any-return]
    finally:
        result.close()


def _key_values(conn: Connection, template: str, ids: list[str]) -> dict[str, dict[str, str]]:
    out: dict[str, dict[str, str]] = {}
    for trace_id, key, value in _select(conn, template, ids):
        found = out.get(trace_id)
        if found is None:
            out[trace_id] = found = {}
        found[key] = value
    return out


def _assessments(conn: Connection, ids: list[str]) -> dict[str, list[Assessment]]:
    out: dict[str, list[Assessment]] = {}
    for trace_id, content in _select(conn, _ASSESSMENTS, ids):
        out.setdefault(trace_id, []).append(assessment_from_content(content))
    return out


def _spans(conn: Connection, ids: list[str]) -> dict[str, list[Span]]:
    out: dict[str, list[Span]] = {}
    for (trace_id, span_id, parent, name, start, end, content, span_type,
         status) in _select(conn, _SPANS, ids):
        if len(name) >= _NAME_LIMIT or (parent is not None and len(parent) >= _PARENT_LIMIT):
            span = span_from_content(content, trace_id)
        else:
            span = Span.from_stored(trace_id, span_id, parent, name, start, end, content,
                                    span_type=span_type, status_code=status)
        found = out.get(trace_id)
        if found is None:
            out[trace_id] = found = []
        found.append(span)
    return out
