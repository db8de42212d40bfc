"""The export's sequential read of a whole experiment on SQLite, in trace id order.

``stored_read.py`` reads a page of traces by id: for each trace an index lookup, a small
sort and the row reads in each of four child tables. For a whole experiment those lookups
are the cost, so this path walks each table once in trace id order instead, by the index
that starts with the trace id (``traces`` by its key, restricted to the experiment;
``spans`` (trace_id, span_id); ``trace_tags`` and ``trace_metadata`` (trace_id, key);
``assessments`` by ``ix_assessments_trace``), each table a streaming statement on a
connection and thread of its own (the database's work releases the GIL). SQL aggregates
a trace's rows of a table into one row: the JSON text of each entity joined by ``SEP``
(a control character, which JSON text holds only escaped) and their positions. Python
merges the five streams by trace id and puts each trace's entities in the entity path's
order (``read.py``): the index gives key order, the positions give the entity order.

The five connections must read one snapshot: each begins its read transaction between
two readings of ``PRAGMA data_version`` on a sixth, which differ when anything committed
meanwhile, and then they begin again. The read stays open for the whole export (the WAL
cannot be checkpointed past it meanwhile); what waits between the threads is a few
chunks, so memory stays flat.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

from spanscope.lifecycle.read_ahead import read_ahead
from spanscope.store.sql import schema
from spanscope.store.sql.convert import overflow_values
from spanscope.store.stored import StoredTrace

__all__ = ["SEP", "scan_stored", "statements"]

SEP = "\x1e"  # record separator: raw in no JSON text (a string holds it as \u001e)
_RS = "char(30)"
_CHUNK = 1000  # rows a fetch takes from a cursor
_SNAPSHOT_ATTEMPTS = 20
_NAME_LIMIT = schema.SPAN_NAME_LENGTH  # a stored span name this long may have been cut
_ROOT_NAME = (f"json_quote(CASE WHEN length(name) < {_NAME_LIMIT} THEN name ELSE "
              "COALESCE(json_extract(content, '$.name'), '') END)")
_TRACES = ("SELECT trace_id, CAST(experiment_id AS TEXT), request_time, execution_duration, "
           "state, request_preview, response_preview, client_request_id, extra, overflow "
           "FROM traces INDEXED BY sqlite_autoindex_traces_1 WHERE experiment_id = ? "
           "ORDER BY trace_id")
_PAIRS = (f"SELECT trace_id, group_concat(json_quote(\"key\") || ': ' || json_quote(value), "
          f"{_RS}), group_concat(position){{summary}} FROM {{table}} INDEXED BY "
          "sqlite_autoindex_{table}_1 GROUP BY trace_id ORDER BY trace_id")
_VALUE = ", max(CASE WHEN \"key\" = '{key}' THEN value END)"
_SPANS = (f"SELECT trace_id, group_concat(content, {_RS}), group_concat(position), "
          f"group_concat(start_time_ns){{summary}} FROM spans INDEXED BY "
          "sqlite_autoindex_spans_1 GROUP BY trace_id ORDER BY trace_id")
_SPAN_SUMMARY = (f", count(*), group_concat(parent_span_id IS NULL, ''), "
                 f"group_concat(CASE WHEN parent_span_id IS NULL THEN {_ROOT_NAME} END, "
                 f"{_RS})")
_ASSESSMENTS = (f"SELECT trace_id, group_concat(content, {_RS}), group_concat(position), "
                f"group_concat(COALESCE(create_time, ''), {_RS}), "
                f"group_concat(assessment_id, {_RS}) FROM assessments INDEXED BY "
                "ix_assessments_trace GROUP BY trace_id ORDER BY trace_id")


def statements(summary: bool) -> dict[str, str]:
    """The five streaming statements, by table (``traces`` takes the experiment id)."""
    def pairs(table: str, keys: tuple[str, ...]) -> str:
        extra = "".join(_VALUE.format(key=key) for key in keys) if summary else ""
        return _PAIRS.format(table=table, summary=extra)

    return {
        "traces": _TRACES,
        "tags": pairs("trace_tags", ("mlflow.traceName",)),
        "metadata": pairs("trace_metadata", ("mlflow.trace.session", "mlflow.trace.user",
                                             "mlflow.trace.tokenUsage")),
        "spans": _SPANS.format(summary=_SPAN_SUMMARY if summary else ""),
        "assessments": _ASSESSMENTS,
    }


def scan_stored(connect: Callable[[], Any], experiment_id: int, *, summary: bool,
                page_size: int) -> Iterator[list[StoredTrace]]:
    """The experiment's traces in trace id order, as ``StoredTrace`` pages of
    ``page_size``. ``connect()`` gives a new sqlite3 connection in autocommit mode; the
    connections are closed when the pages end or the consumer stops."""
    texts = statements(summary)
    connections = _snapshot(connect, len(texts))
    try:
        streams = {name: read_ahead(_rows(conn, text, (experiment_id,) if name == "traces"
                                          else ()), name=f"spanscope-export-{name}")
                   for (name, text), conn in zip(texts.items(), connections, strict=True)}
        try:
            yield from _pages(streams, summary, page_size)
        finally:
            for stream in streams.values():
                stream.close()  # type: ignore[attr-defined]
    finally:
        for conn in connections:
            conn.close()


def _snapshot(connect: Callable[[], Any], count: int) -> list[Any]:
    """``count`` connections, each in a read transaction of the same snapshot."""
    watch = connect()
    try:
        for _ in range(_SNAPSHOT_ATTEMPTS):
            before = watch.execute("PRAGMA data_version").fetchone()[0]
            connections = [connect() for _ in range(count)]
            for conn in connections:  # a read transaction takes its snapshot at its first read
                conn.execute("BEGIN")
                conn.execute("SELECT 1 FROM experiments LIMIT 1").fetchall()
            if watch.execute("PRAGMA data_version").fetchone()[0] == before:
                return connections
            for conn in connections:
                conn.close()
        raise RuntimeError("the store kept changing while the export began its read")
    finally:
        watch.close()


def _rows(conn: Any, text: str, parameters: tuple[Any, ...]) -> Iterator[list[tuple[Any, ...]]]:
    cursor = conn.execute(text, parameters)
    try:
        while chunk := cursor.fetchmany(_CHUNK):
            yield chunk
    finally:
        cursor.close()


class _Stream:
    """One table's rows in trace id order: ``take(trace_id)`` is that trace's row or None
    (rows of traces before it, of other experiments or deleted, are passed over)."""

    def __init__(self, chunks: Iterator[list[tuple[Any, ...]]]) -> None:
        self._chunks = chunks
        self._rows: list[tuple[Any, ...]] = []
        self._at = 0
        self._done = False

    def take(self, trace_id: str) -> tuple[Any, ...] | None:
        while True:
            if self._at == len(self._rows):
                if self._done:
                    return None
                self._rows = next(self._chunks, [])
                self._at = 0
                if not self._rows:
                    self._done = True
                    return None
            row = self._rows[self._at]
            key = row[0]
            if key < trace_id:
                self._at += 1
                continue
            if key == trace_id:
                self._at += 1
                return row
            return None


def _pages(streams: dict[str, Iterator[list[tuple[Any, ...]]]], summary: bool,
           page_size: int) -> Iterator[list[StoredTrace]]:
    tags, metadata, spans, assessments = (
        _Stream(streams[name]) for name in ("tags", "metadata", "spans", "assessments"))
    page: list[StoredTrace] = []
    for chunk in streams["traces"]:
        for row in chunk:
            trace_id = row[0]
            page.append(_trace(row, tags.take(trace_id), metadata.take(trace_id),
                               spans.take(trace_id), assessments.take(trace_id), summary))
            if len(page) == page_size:
                yield page
                page = []
    if page:
        yield page


def _trace(row: tuple[Any, ...], tags: tuple[Any, ...] | None,
           metadata: tuple[Any, ...] | None, spans: tuple[Any, ...] | None,
           assessments: tuple[Any, ...] | None, summary: bool) -> StoredTrace:
    trace = StoredTrace(
        *row[:8], json.loads(row[8]) if row[8] else {},
        "{" + _ordered(tags, ", ") + "}", "{" + _ordered(metadata, ", ") + "}",
        "[" + _ordered(assessments, ", ", _assessment_ties) + "]",
        "[" + _ordered(spans, ",", _span_ties) + "]")
    if row[9]:  # values too long for their columns, kept whole
        whole = overflow_values(row[9])
        trace.request_preview = whole.get("request_preview", trace.request_preview)
        trace.response_preview = whole.get("response_preview", trace.response_preview)
        trace.client_request_id = whole.get("client_request_id", trace.client_request_id)
    if summary:
        _summarize(trace, tags, metadata, spans)
    return trace


def _ordered(row: tuple[Any, ...] | None, joiner: str,
             ties: Callable[[tuple[Any, ...], list[int]], list[Any]] | None = None) -> str:
    """A table's entities of one trace in the entity path's order: by position, then by
    the rest of that order where positions tie (``ties``: start time for spans, creation
    time and id for assessments; for tags and metadata the key, the row's own order)."""
    if row is None:
        return ""
    if "," not in row[2]:  # one entity
        return row[1]
    items = row[1].split(SEP)
    positions = list(map(int, row[2].split(",")))
    if len(positions) != len(items):
        raise ValueError(f"trace {row[0]!r}: stored JSON holds a raw separator")
    keys: list[Any] = positions
    if ties is not None and len(set(positions)) < len(positions):
        keys = ties(row, positions)
    order = sorted(range(len(items)), key=keys.__getitem__)  # stable: ties in key order
    return joiner.join([items[i] for i in order])


def _span_ties(row: tuple[Any, ...], positions: list[int]) -> list[Any]:
    return list(zip(positions, (int(t) for t in row[3].split(",")), strict=True))


def _assessment_ties(row: tuple[Any, ...], positions: list[int]) -> list[Any]:
    times = [int(t) if t else -(2 ** 63) for t in row[3].split(SEP)]  # NULL first
    return list(zip(positions, times, row[4].split(SEP), strict=True))


def _summarize(trace: StoredTrace, tags: tuple[Any, ...] | None,
               metadata: tuple[Any, ...] | None, spans: tuple[Any, ...] | None) -> None:
    """The Parquet summary fields, as ``stored_read.py`` computes them."""
    if metadata is not None:
        trace.session_id, trace.user_id, trace.token_usage = metadata[3:6]
    trace.span_count = spans[4] if spans is not None else 0
    name = tags[3] if tags is not None else None
    trace.name = name if name else (_root_name(spans) if spans is not None else None)


def _root_name(spans: tuple[Any, ...]) -> str | None:
    """The name of the first span without a parent, in the trace's span order."""
    flags, names = spans[5], spans[6]
    if not names:
        return None
    roots = [i for i, flag in enumerate(flags) if flag == "1"]
    names_of = names.split(SEP)
    if len(roots) == 1:
        return json.loads(names_of[0])
    positions = [int(p) for p in spans[2].split(",")]
    starts = [int(t) for t in spans[3].split(",")]
    first = min(range(len(roots)), key=lambda r: (positions[roots[r]], starts[roots[r]], r))
    return json.loads(names_of[first])
