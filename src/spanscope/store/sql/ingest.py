"""The write path of ``log_traces``: bulk inserts for new traces, an upsert for known ones.

The common case, a batch of traces never seen before, costs one SELECT of the ids already
stored plus one executemany INSERT per table. Traces already stored (a trace arriving in
parts, e.g. over OTLP) are merged: the summary row is replaced, spans are replaced by
span id and new ones appended, tags and metadata are merged with the new value winning,
and only assessments whose id is new are added. A trace id appearing twice in one batch
is handled as two rounds, the second an upsert on the first, all in one transaction.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

import sqlalchemy as sa

from spanscope.entities import Span, Trace
from spanscope.entities.model_usage import trace_usage_by_model_and_type
from spanscope.exceptions import InvalidInputError
from spanscope.store.sql import schema, text_index
from spanscope.store.sql.bulk import insert_rows
from spanscope.store.sql.convert import (
    PreparedTrace,
    assessment_row,
    prepare,
    span_from_content,
    span_row,
    summary_row,
)

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

__all__ = ["IN_CHUNK", "chunks", "write_traces"]

logger = logging.getLogger(__name__)

IN_CHUNK = 500  # ids per IN (...) list: far below SQLite's and psycopg's parameter limits
T = TypeVar("T")


def chunks(items: Sequence[T], size: int = IN_CHUNK) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def write_traces(conn: Connection, traces: Iterable[Trace], known_experiments: set[int]) -> int:
    """Write ``traces`` on ``conn`` (inside the caller's transaction); returns how many of
    their distinct trace ids were stored before.

    ``known_experiments`` caches experiment ids seen to exist, so a batch only looks up
    experiments it has not met before; it is updated in place.
    """
    prepared = [prepare(trace) for trace in traces]  # cleaned by TraceMethods.log_traces
    if not prepared:
        return 0
    _check_experiments(conn, prepared, known_experiments)
    stored_before = 0
    for round_number, batch in enumerate(_rounds(prepared)):
        # FOR UPDATE (PostgreSQL; SQLite's BEGIN IMMEDIATE already serialises writers) makes
        # concurrent upserts of one trace take turns, so each merges the other's result.
        existing = _existing(conn, schema.traces.c.trace_id, sorted(batch), lock=True)
        new_ids = {a.assessment_id for p in batch.values() for a in p.assessments}
        stored_assessments = _existing(conn, schema.assessments.c.assessment_id, list(new_ids))
        if round_number == 0:  # later rounds hold copies of round 0's traces
            stored_before = len(existing)
        fresh = [p for p in batch.values() if p.trace_id not in existing]
        known = [p for p in batch.values() if p.trace_id in existing]
        if fresh:
            _insert(conn, fresh, stored_assessments)
        if known:
            _upsert(conn, known, stored_assessments)
    return stored_before


def _rounds(prepared: list[PreparedTrace]) -> list[dict[str, PreparedTrace]]:
    """Split the batch so no round holds a trace id twice (the n-th copy goes to round n)."""
    rounds: list[dict[str, PreparedTrace]] = []
    seen: Counter[str] = Counter()
    for p in prepared:
        index = seen[p.trace_id]
        seen[p.trace_id] += 1
        if index == len(rounds):
            rounds.append({})
        rounds[index][p.trace_id] = p
    return rounds


def _existing(conn: Connection, column: sa.Column[Any], ids: list[str], *,
              lock: bool = False) -> set[str]:
    found: set[str] = set()
    for part in chunks(ids):
        query = sa.select(column).where(column.in_(part))
        if lock:
            query = query.order_by(column).with_for_update()
        found.update(conn.execute(query).scalars())
    return found


def _check_experiments(conn: Connection, prepared: list[PreparedTrace],
                       known: set[int]) -> None:
    wanted = {p.experiment_id for p in prepared} - known
    if not wanted:
        return
    column = schema.experiments.c.experiment_id
    found = set(conn.execute(sa.select(column).where(column.in_(sorted(wanted)))).scalars())
    known.update(found)
    missing = wanted - found
    if missing:
        trace_id = next(p.trace_id for p in prepared if p.experiment_id in missing)
        raise InvalidInputError(
            f"experiment '{min(missing)}' does not exist (trace {trace_id!r}); "
            "create it first with create_experiment")


def _insert(conn: Connection, fresh: list[PreparedTrace], stored_assessments: set[str]) -> None:
    trace_rows: list[dict[str, Any]] = []
    tag_rows: list[dict[str, Any]] = []
    metadata_rows: list[dict[str, Any]] = []
    span_rows: list[dict[str, Any]] = []
    assessment_rows: list[dict[str, Any]] = []
    usage_rows: list[dict[str, Any]] = []
    text_rows: list[text_index.Row] = []
    text_limit = text_index.text_index_chars()
    for p in fresh:
        trace_id = p.trace_id
        usage_rows.extend(_usage_rows(p, p.spans))
        text_rows.extend(text_index.rows_for(trace_id, p.spans, text_limit))
        trace_rows.append(summary_row(p, tags=p.tags, metadata=p.metadata, name=p.root_name,
                                      span_count=len(p.spans)))
        tag_rows.extend({"trace_id": trace_id, "key": key, "value": value, "position": i}
                        for i, (key, value) in enumerate(p.tags.items()))
        metadata_rows.extend({"trace_id": trace_id, "key": key, "value": value, "position": i}
                             for i, (key, value) in enumerate(p.metadata.items()))
        span_rows.extend(span_row(trace_id, span, i) for i, span in enumerate(p.spans))
        for i, assessment in enumerate(p.assessments):
            if assessment.assessment_id not in stored_assessments:
                stored_assessments.add(assessment.assessment_id)  # a later copy is not new
                assessment_rows.append(assessment_row(trace_id, assessment, i))
    insert_rows(conn, schema.traces, trace_rows)  # parents before children, for the FKs
    insert_rows(conn, schema.trace_tags, tag_rows)
    insert_rows(conn, schema.trace_metadata, metadata_rows)
    insert_rows(conn, schema.spans, span_rows)
    insert_rows(conn, schema.assessments, assessment_rows)
    insert_rows(conn, schema.trace_model_usage, usage_rows)
    text_index.write_rows(conn, text_rows)


def _usage_rows(p: PreparedTrace, spans: Sequence[Span]) -> list[dict[str, Any]]:
    """``trace_model_usage`` rows: the trace's tokens per model and reporting span type."""
    rows, models = [], set()
    for (model, span_type), usage in sorted(trace_usage_by_model_and_type(spans).items()):
        rows.append({"trace_id": p.trace_id, "model": model,
                     "span_type": str(span_type)[:schema.SPAN_TYPE_LENGTH],
                     "experiment_id": p.experiment_id,
                     "request_time": int(p.info.request_time), **usage,
                     "trace_count": int(model not in models)})
        models.add(model)
    return rows


def _upsert(conn: Connection, known: list[PreparedTrace], stored_assessments: set[str]) -> None:
    ids = [p.trace_id for p in known]
    tags = _stored_key_values(conn, schema.trace_tags, ids)
    metadata = _stored_key_values(conn, schema.trace_metadata, ids)
    spans = _stored_spans(conn, ids)
    next_assessment = _next_positions(conn, schema.assessments, ids)

    summaries: list[dict[str, Any]] = []
    tag_changes = _KeyValueChanges(schema.trace_tags)
    metadata_changes = _KeyValueChanges(schema.trace_metadata)
    replaced_spans: list[dict[str, Any]] = []
    span_rows: list[dict[str, Any]] = []
    assessment_rows: list[dict[str, Any]] = []
    text_rows: list[text_index.Row] = []
    text_limit = text_index.text_index_chars()
    for p in known:
        trace_id = p.trace_id
        merged_tags = tag_changes.merge(trace_id, tags.get(trace_id, {}), p.tags)
        merged_metadata = metadata_changes.merge(trace_id, metadata.get(trace_id, {}),
                                                 p.metadata)
        stored = spans.get(trace_id, _StoredSpans())
        position = stored.next_position
        for span in p.spans:
            if span.span_id in stored.positions:
                replaced_spans.append({"b_trace_id": trace_id, "b_span_id": span.span_id})
                span_rows.append(span_row(trace_id, span, stored.positions[span.span_id]))
            else:
                span_rows.append(span_row(trace_id, span, position))
                position += 1
        text_rows.extend(text_index.rows_for(trace_id, p.spans, text_limit))
        span_count = len(stored.positions.keys() | {s.span_id for s in p.spans})
        name = p.root_name if p.root_name is not None else stored.root_name
        row = summary_row(p, tags=merged_tags, metadata=merged_metadata, name=name,
                          span_count=span_count)
        row["b_trace_id"] = row.pop("trace_id")
        summaries.append(row)
        position = next_assessment.get(trace_id, 0)
        for assessment in p.assessments:
            if assessment.assessment_id not in stored_assessments:
                stored_assessments.add(assessment.assessment_id)
                assessment_rows.append(assessment_row(trace_id, assessment, position))
                position += 1

    traces = schema.traces
    conn.execute(sa.update(traces).where(traces.c.trace_id == sa.bindparam("b_trace_id")),
                 summaries)
    tag_changes.apply(conn)
    metadata_changes.apply(conn)
    if replaced_spans:
        spans_table = schema.spans
        conn.execute(sa.delete(spans_table).where(
            spans_table.c.trace_id == sa.bindparam("b_trace_id"),
            spans_table.c.span_id == sa.bindparam("b_span_id")), replaced_spans)
        texts = schema.span_text
        conn.execute(sa.delete(texts).where(texts.c.trace_id == sa.bindparam("b_trace_id"),
                                            texts.c.span_id == sa.bindparam("b_span_id")),
                     replaced_spans)
    insert_rows(conn, schema.spans, span_rows)
    text_index.write_rows(conn, text_rows)
    insert_rows(conn, schema.assessments, assessment_rows)
    _replace_usage(conn, known)


def _replace_usage(conn: Connection, known: list[PreparedTrace]) -> None:
    """Recompute the per-model usage of upserted traces from all their spans.

    Stored spans are read as id and parent only, plus the full content of those whose
    JSON mentions usage, so a trace arriving in many parts is not re-read whole each time.
    """
    ids = [p.trace_id for p in known]
    spans_table, usage = schema.spans, schema.trace_model_usage
    stored: dict[str, dict[str, Span]] = {}
    mentions_usage = sa.or_(*(spans_table.c.content.contains(text)
                              for text in ("usage", "Usage", "token_count")))
    for part in chunks(ids):
        query = (sa.select(spans_table.c.trace_id, spans_table.c.span_id,
                           spans_table.c.parent_span_id,
                           sa.case((mentions_usage, spans_table.c.content)).label("content"))
                 .where(spans_table.c.trace_id.in_(part)))
        for row in conn.execute(query):
            span = (span_from_content(row.content, row.trace_id) if row.content is not None
                    else Span(row.trace_id, row.span_id, row.parent_span_id, "", 0, None))
            stored.setdefault(row.trace_id, {})[row.span_id] = span
    rows: list[dict[str, Any]] = []
    for p in known:
        rows.extend(_usage_rows(p, list(stored.get(p.trace_id, {}).values())))
    for part in chunks(ids):
        conn.execute(sa.delete(usage).where(usage.c.trace_id.in_(part)))
    insert_rows(conn, usage, rows)


class _StoredSpans:
    """What the upsert needs to know about a trace's stored spans (not their content)."""

    def __init__(self) -> None:
        self.positions: dict[str, int] = {}
        self.root_name: str | None = None

    @property
    def next_position(self) -> int:
        return max(self.positions.values(), default=-1) + 1


def _stored_spans(conn: Connection, ids: list[str]) -> dict[str, _StoredSpans]:
    table = schema.spans
    out: dict[str, _StoredSpans] = {}
    for part in chunks(ids):
        query = sa.select(table.c.trace_id, table.c.span_id, table.c.parent_span_id,
                          table.c.name, table.c.position).where(table.c.trace_id.in_(part))
        for row in conn.execute(query):
            stored = out.setdefault(row.trace_id, _StoredSpans())
            stored.positions[row.span_id] = row.position
            if row.parent_span_id is None and stored.root_name is None:
                stored.root_name = row.name
    return out


def _stored_key_values(conn: Connection, table: sa.Table,
                       ids: list[str]) -> dict[str, dict[str, tuple[str, int]]]:
    """``{trace_id: {key: (value, position)}}`` in logged order."""
    out: dict[str, dict[str, tuple[str, int]]] = {}
    for part in chunks(ids):
        query = (sa.select(table.c.trace_id, table.c["key"], table.c.value, table.c.position)
                 .where(table.c.trace_id.in_(part))
                 .order_by(table.c.trace_id, table.c.position, table.c["key"]))
        for row in conn.execute(query):
            out.setdefault(row.trace_id, {})[row.key] = (row.value, row.position)
    return out


def _next_positions(conn: Connection, table: sa.Table, ids: list[str]) -> dict[str, int]:
    out: dict[str, int] = {}
    for part in chunks(ids):
        query = (sa.select(table.c.trace_id, sa.func.max(table.c.position))
                 .where(table.c.trace_id.in_(part)).group_by(table.c.trace_id))
        out.update({trace_id: (top or 0) + 1 for trace_id, top in conn.execute(query)})
    return out


class _KeyValueChanges:
    """Tag or metadata rows to update (changed value) and insert (new key) for an upsert."""

    def __init__(self, table: sa.Table) -> None:
        self.table = table
        self.updates: list[dict[str, Any]] = []
        self.inserts: list[dict[str, Any]] = []

    def merge(self, trace_id: str, stored: dict[str, tuple[str, int]],
              new: dict[str, str]) -> dict[str, str]:
        """Record the changes and return the merged dict (stored order, new keys last)."""
        merged = {key: value for key, (value, _) in stored.items()}
        position = max((pos for _, pos in stored.values()), default=-1) + 1
        for key, value in new.items():
            if key not in stored:
                self.inserts.append({"trace_id": trace_id, "key": key, "value": value,
                                     "position": position})
                position += 1
            elif stored[key][0] != value:
                self.updates.append({"b_trace_id": trace_id, "b_key": key, "value": value})
            merged[key] = value
        return merged

    def apply(self, conn: Connection) -> None:
        table = self.table
        if self.updates:
            conn.execute(sa.update(table).where(table.c.trace_id == sa.bindparam("b_trace_id"),
                                                table.c["key"] == sa.bindparam("b_key")),
                         self.updates)
        insert_rows(conn, table, self.inserts)
