"""The export's read: each trace of a page as one row, its children's JSON assembled in SQL.

A trace has ~16 child rows (tags, metadata, spans, assessments). Reading them into Python
and joining them there cost more than everything else an export does, so each is a
correlated subquery of the page's query (``traces`` by the page's trace ids, which
``SqlStore`` reads by keyset first) that gives the text the file holds: tags and
metadata as the JSON object ``dumps`` writes (``'{"k": "v", ...}'``: keys and values
quoted by the database, whose quoting is Python's, checked on every code point in
``tests/lifecycle/test_stored_traces.py``), assessments and spans as the JSON lists of
their stored JSON text, each in the order the entity path reads them (``read.py``). Python
then copies one row per trace. The Parquet summary (span count, name, session, user, token
usage) is five more lookups, made only when asked (``summary``).

On SQLite the ordered subquery feeds ``group_concat`` in its order (3.40 has no ``ORDER
BY`` inside an aggregate; a subquery with ``ORDER BY`` under an aggregate is never
flattened); PostgreSQL's ``string_agg`` takes the order itself.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from spanscope.store.sql import schema
from spanscope.store.sql.convert import overflow_values
from spanscope.store.sql.ingest import chunks
from spanscope.store.stored import StoredTrace

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

__all__ = ["read_stored", "stored_columns"]

_INFO = ("request_time", "execution_duration", "state", "request_preview",
         "response_preview", "client_request_id", "extra")  # after trace and experiment id
_SPAN_ORDER = "position, start_time_ns, span_id"
_NAME_LIMIT = schema.SPAN_NAME_LENGTH  # a stored span name this long may have been cut

_SQLITE = {
    "tags_json": "(SELECT COALESCE('{{' || group_concat(json_quote(\"key\") || ': ' || "
                 "json_quote(value), ', ') || '}}', '{{}}') FROM (SELECT \"key\", value "
                 "FROM {table} WHERE trace_id = traces.trace_id ORDER BY position, \"key\"))",
    "assessments_json": "(SELECT '[' || COALESCE(group_concat(content, ', '), '') || ']' "
                        "FROM (SELECT content FROM assessments WHERE trace_id = "
                        "traces.trace_id ORDER BY position, create_time, assessment_id))",
    "spans_json": "(SELECT '[' || COALESCE(group_concat(content, ','), '') || ']' FROM "
                  f"(SELECT content FROM spans WHERE trace_id = traces.trace_id ORDER BY "
                  f"{_SPAN_ORDER}))",
    "span_name": f"CASE WHEN length(name) < {_NAME_LIMIT} THEN name ELSE "
                 "COALESCE(json_extract(content, '$.name'), '') END",
}
_POSTGRESQL = {
    "tags_json": "(SELECT COALESCE('{{' || string_agg(to_json(\"key\")::text || ': ' || "
                 "COALESCE(to_json(value)::text, 'null'), ', ' ORDER BY position, \"key\") "
                 "|| '}}', '{{}}') FROM {table} WHERE trace_id = traces.trace_id)",
    "assessments_json": "(SELECT '[' || COALESCE(string_agg(content, ', ' ORDER BY "
                        "position, create_time, assessment_id), '') || ']' FROM assessments "
                        "WHERE trace_id = traces.trace_id)",
    "spans_json": "(SELECT '[' || COALESCE(string_agg(content, ',' ORDER BY "
                  f"{_SPAN_ORDER}), '') || ']' FROM spans WHERE trace_id = traces.trace_id)",
    "span_name": f"CASE WHEN char_length(name) < {_NAME_LIMIT} THEN name ELSE "
                 "COALESCE(content::json ->> 'name', '') END",
}
_VALUE = "(SELECT value FROM {table} WHERE trace_id = traces.trace_id AND \"key\" = '{key}')"


@functools.lru_cache(maxsize=8)
def stored_columns(dialect: str, summary: bool) -> list[sa.ColumnElement[Any]]:
    """The page query's columns: the ``StoredTrace`` fields in their order (the JSON of
    tags, metadata, assessments and spans; with ``summary`` the Parquet summary), then
    ``traces.overflow``."""
    sql = _POSTGRESQL if dialect == "postgresql" else _SQLITE
    traces = schema.traces.c
    columns: list[sa.ColumnElement[Any]] = [
        traces.trace_id, sa.cast(traces.experiment_id, sa.String).label("experiment_key"),
        *(traces[name] for name in _INFO)]
    texts = {"tags_json": sql["tags_json"].format(table="trace_tags"),
             "metadata_json": sql["tags_json"].format(table="trace_metadata"),
             "assessments_json": sql["assessments_json"], "spans_json": sql["spans_json"]}
    if summary:
        root = (f"(SELECT {sql['span_name']} FROM spans WHERE trace_id = traces.trace_id "
                f"AND parent_span_id IS NULL ORDER BY {_SPAN_ORDER} LIMIT 1)")
        tag = _VALUE.format(table="trace_tags", key="mlflow.traceName")
        texts |= {
            "span_count": "(SELECT count(*) FROM spans WHERE trace_id = traces.trace_id)",
            # COALESCE evaluates its arguments in turn: no root lookup with a name tag
            "name": f"COALESCE(NULLIF({tag}, ''), {root})",
            "session_id": _VALUE.format(table="trace_metadata", key="mlflow.trace.session"),
            "user_id": _VALUE.format(table="trace_metadata", key="mlflow.trace.user"),
            "token_usage": _VALUE.format(table="trace_metadata",
                                         key="mlflow.trace.tokenUsage"),
        }
    return [*columns, *(sa.literal_column(text).label(label) for label, text in texts.items()),
            traces.overflow]


def read_stored(conn: Connection, trace_ids: Sequence[str], summary: bool) -> list[StoredTrace]:
    """The ``StoredTrace`` of each of ``trace_ids`` that exists, in their order (fixed
    SQL text and the driver's tuples: an expanding ``IN`` built by SQLAlchemy for each
    page would cost more than the database's work, see ``read.py``)."""
    on_postgresql = conn.dialect.name == "postgresql"
    rows: list[tuple[Any, ...]] = []
    for part in [trace_ids] if on_postgresql else chunks(trace_ids):
        result = conn.exec_driver_sql(_statement(on_postgresql, summary, len(part)),
                                      (list(part),) if on_postgresql else tuple(part))
        try:
            rows += result.cursor.fetchall()
        finally:
            result.close()
    by_id = {row[0]: row for row in rows}
    return stored_traces([by_id[i] for i in trace_ids if i in by_id], summary)


@functools.lru_cache(maxsize=64)
def _statement(on_postgresql: bool, summary: bool, count: int) -> str:
    dialect = "postgresql" if on_postgresql else "sqlite"
    select = sa.select(*stored_columns(dialect, summary)).select_from(schema.traces)
    ids = "= ANY(%s)" if on_postgresql else f"IN ({', '.join('?' * count)})"
    text = str(select.compile(dialect=_DIALECTS[dialect]()))
    return f"{text} WHERE traces.trace_id {ids}"


_DIALECTS = {"postgresql": postgresql.dialect, "sqlite": sqlite.dialect}


def stored_traces(rows: Sequence[tuple[Any, ...]], summary: bool) -> list[StoredTrace]:
    """``StoredTrace`` records of the driver's rows of ``stored_columns``, in their order."""
    fields = len(_INFO) + 6 + (5 if summary else 0)  # the overflow column follows
    out = []
    for row in rows:
        trace = StoredTrace(*row[:fields])
        extra = trace.extra
        trace.extra = json.loads(extra) if extra else {}  # the column held its JSON text
        if row[fields]:  # values too long for their columns, kept whole
            whole = overflow_values(row[fields])
            trace.request_preview = whole.get("request_preview", trace.request_preview)
            trace.response_preview = whole.get("response_preview", trace.response_preview)
            trace.client_request_id = whole.get("client_request_id", trace.client_request_id)
        out.append(trace)
    return out
