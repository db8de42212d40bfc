"""Aggregate queries for analysis, in SQL: the heavy lifting stays in the database.

Each function takes an open connection, the parsed ``SearchQuery`` (experiments and the
compiled filter, shared with ``search_traces``, so a filter means the same thing here) and
a ``Selection``, and returns the plain rows of ``spanscope.store.aggregates``. Only
summary columns, span timing columns and a few JSON fields are read; span payloads never
leave the database (the exception event of an error span is the one exception).

A filter with a top-level tag/metadata equality (``tags.app_version = '1.4'``) reads
its traces through the value index (``SearchQuery.plan`` with no limit): a cohort costs
one read per matching trace, not a probe per trace of the experiment.

Percentiles: PostgreSQL's ``percentile_cont``; on SQLite each group's values arrive as
one ``json_group_array`` (built in C) and ``sqlite_aggregates.json_quantiles`` sorts and
interpolates them the same way. Profiling every span of a store whose selection is
"everything" takes a faster route on SQLite: counts and sums stream over the
``(name, span_type, duration_ns, status)`` index in its order and each percentile is one
``ORDER BY duration_ns LIMIT 2 OFFSET k`` walk of that index, so no span row is read.
"""

from __future__ import annotations

import dataclasses
import heapq
import json
import math
import operator
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy import exc as sa_exc

from spanscope.entities.model_usage import USAGE_COUNTS
from spanscope.query.errors import filter_error
from spanscope.store.aggregates import (
    ATTRIBUTE_FIELDS,
    AssessmentStats,
    ErrorSpan,
    FieldCoverage,
    GroupKey,
    ModelUsageRow,
    NumericField,
    NumericPairs,
    Sample,
    Selection,
    SpanStats,
    SpanValue,
    TraceSample,
    TraceStats,
    TraceValues,
    percentile,
    sample_key,
)
from spanscope.store.sql import schema
from spanscope.store.sql.filter_sql import regex_error, regex_patterns
from spanscope.store.sql.ingest import chunks
from spanscope.store.sql.planner import SCAN, Plan
from spanscope.store.sql.search import all_experiments, too_complex
from spanscope.store.sql.value_functions import text_number

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection, Row

    from spanscope.store.sql.dialects import Dialect
    from spanscope.store.sql.search import SearchQuery

__all__ = [
    "assessment_stats",
    "error_spans",
    "latency_histogram",
    "model_usage",
    "numeric_pairs",
    "span_stats",
    "trace_sample",
    "trace_stats",
]

_NS_PER_MS = 1_000_000
_ERROR = "ERROR"
_EXCEPTION_MARK = '"exception"'


class _Query:
    """The selection as SQL conditions on ``traces``, and how to run a statement on it."""

    def __init__(self, search: SearchQuery, selection: Selection, conn: Connection) -> None:
        self.search = search
        self.dialect = search.dialect
        self.dialect.prepare_aggregate(conn)
        traces = schema.traces
        window: list[sa.ColumnElement[bool]] = []
        if selection.start_ms is not None:
            window.append(traces.c.request_time >= int(selection.start_ms))
        if selection.end_ms is not None:
            window.append(traces.c.request_time < int(selection.end_ms))
        # A time window is read through the (experiment, request_time) index, so it names
        # the experiments even when the selection means all of them.
        experiments = [] if not window or search.experiment_keys is not None else [
            traces.c.experiment_id.in_(all_experiments(conn))]
        self.where: list[sa.ColumnElement[bool]] = [
            *search.conditions(_plan(conn, search, [*experiments, *window])),
            *experiments, *window]

    def run(self, conn: Connection, statement: sa.Executable) -> list[Row[Any]]:
        self._check_patterns(conn)
        try:
            return list(conn.execute(statement).all())
        except sa_exc.DBAPIError as exc:
            if not too_complex(exc):
                raise
            raise filter_error(self.search.filter_string, 0, "the filter nests too deeply or "
                               "is too long for this database") from None

    def _check_patterns(self, conn: Connection) -> None:
        """An RLIKE pattern the database's regex engine rejects is a ``FilterError``
        (raised before the aggregate runs, not as a driver error in the middle of it)."""
        node = self.search.node
        if node is None:
            return
        for leaf in regex_patterns(node):
            reason = self.dialect.regex_problem(conn, str(leaf.value))
            if reason is not None:
                raise regex_error(self.search.filter_string, leaf, reason)

    # --- expressions ------------------------------------------------------------------
    def quantiles(self, column: sa.ColumnElement[Any],
                  quantiles: Sequence[float]) -> sa.ColumnElement[Any]:
        if not quantiles:
            return sa.null()
        return self.dialect.quantiles(column, quantiles)

    def quantile_values(self, raw: Any, quantiles: Sequence[float]) -> tuple[float | None, ...]:
        return () if not quantiles else self.dialect.quantile_values(raw, quantiles)

    def bucket(self, bucket_ms: int | None) -> sa.ColumnElement[Any]:
        if bucket_ms is None:
            return sa.null()
        size = int(bucket_ms)
        return (schema.traces.c.request_time // size) * size

    def sample_key(self, sample: Sample) -> sa.ColumnElement[Any]:
        return self.dialect.sample_key(schema.traces.c.trace_id, int(sample.seed))


def _plan(conn: Connection, search: SearchQuery,
          window: list[sa.ColumnElement[bool]]) -> Plan:
    """How to read every match: a tag/metadata equality is looked up in the value index
    rather than probed on each trace, unless a time window holds fewer traces than the
    value has (a monitor's last hour of a common tag): then the window is scanned through
    the (experiment, request_time) index and each of its traces probed."""
    plan = search.plan(conn, None)
    if not plan.lookups or not window or search.dialect.plans_lookups:
        return plan
    traces = schema.traces
    where = list(window)
    if search.experiment_keys is not None:
        where.append(traces.c.experiment_id.in_(search.experiment_keys))
    in_window = int(conn.execute(sa.select(sa.func.count()).select_from(traces)
                                 .where(*where)).scalar_one())
    matches = search.planner.count(conn, plan.lookups[0], in_window + 1)
    return SCAN if matches > in_window else plan


def _group_join(from_: sa.FromClause, group_by: GroupKey | None,
                trace_id: sa.ColumnElement[Any] | None = None,
                ) -> tuple[sa.FromClause, sa.ColumnElement[Any]]:
    """``from_`` outer-joined to the group key's table, and the group value column."""
    if group_by is None:
        return from_, sa.null()
    key = schema.traces.c.trace_id if trace_id is None else trace_id
    if group_by.kind == "trace":
        return from_, key
    table = (schema.trace_tags if group_by.kind == "tag" else schema.trace_metadata).alias("g")
    joined = from_.outerjoin(table, sa.and_(table.c.trace_id == key,
                                            table.c["key"] == group_by.key))
    return joined, table.c.value


def _ms(ns: Any) -> float | None:
    return None if ns is None else float(ns) / _NS_PER_MS


def _count_if(condition: sa.ColumnElement[bool]) -> sa.ColumnElement[Any]:
    return sa.func.coalesce(sa.func.sum(sa.case((condition, 1), else_=0)), 0)


def _sum0(column: sa.ColumnElement[Any]) -> sa.ColumnElement[Any]:
    return sa.func.coalesce(sa.func.sum(column), 0)


# --- traces -----------------------------------------------------------------------------------
def _trace_totals(traces: sa.Table) -> list[sa.ColumnElement[Any]]:
    """The summed and extreme columns of ``TraceStats``, as labelled SQL aggregates."""
    duration = traces.c.execution_duration
    return [
        sa.func.count().label("n"),
        _count_if(traces.c.state == _ERROR).label("errors"),
        _count_if(traces.c.state == "IN_PROGRESS").label("in_progress"),
        sa.func.count(duration).label("latency_n"),
        _sum0(duration).label("latency_sum"),
        sa.func.min(duration).label("latency_min"),
        sa.func.max(duration).label("latency_max"),
        _sum0(traces.c.input_tokens).label("input_tokens"),
        _sum0(traces.c.output_tokens).label("output_tokens"),
        _sum0(traces.c.total_tokens).label("total_tokens"),
        sa.func.min(traces.c.request_time).label("first_ms"),
        sa.func.max(traces.c.request_time).label("last_ms"),
    ]


def _trace_stats(row: Any, quantiles: Sequence[float],
                 latency_quantiles: tuple[float | None, ...], *,
                 bucket: Any = None, group: str | None = None) -> TraceStats:
    """One ``TraceStats`` from a row of ``_trace_totals`` and its latency quantiles."""
    return TraceStats(
        bucket_ms=None if bucket is None else int(bucket), group=group,
        traces=int(row.n), errors=int(row.errors), in_progress=int(row.in_progress),
        latency_n=int(row.latency_n), latency_sum_ms=float(row.latency_sum),
        latency_min_ms=None if row.latency_min is None else float(row.latency_min),
        latency_max_ms=None if row.latency_max is None else float(row.latency_max),
        quantiles=tuple(quantiles), latency_quantiles_ms=latency_quantiles,
        input_tokens=int(row.input_tokens), output_tokens=int(row.output_tokens),
        total_tokens=int(row.total_tokens), first_ms=row.first_ms, last_ms=row.last_ms)


def trace_stats(conn: Connection, search: SearchQuery, selection: Selection, *,
                bucket_ms: int | None, group_by: GroupKey | None,
                quantiles: Sequence[float]) -> list[TraceStats]:
    query = _Query(search, selection, conn)
    if bucket_ms is None and group_by is None and search.node is None and \
            selection.start_ms is None and selection.end_ms is None and \
            query.dialect.walks_trace_index(conn):
        experiments = _experiments_with_traces(conn, selection)
        if len(experiments) <= 1:
            return [] if not experiments else _trace_stats_by_index(conn, experiments[0],
                                                                    quantiles)
    if query.dialect.walks_indexes and bucket_ms is None and group_by is not None and \
            group_by.kind in ("tag", "metadata"):
        by_value = _trace_stats_by_value(conn, query, group_by, quantiles)
        if by_value is not None:
            return by_value
    traces = schema.traces
    duration = traces.c.execution_duration
    from_, group = _group_join(traces, group_by)
    bucket = query.bucket(bucket_ms)
    statement = (sa.select(
        bucket.label("bucket"), group.label("grp"), *_trace_totals(traces),
        query.quantiles(duration, quantiles).label("q"),
    ).select_from(from_).where(*query.where))
    keys = [k for k, used in ((bucket, bucket_ms is not None), (group, group_by is not None))
            if used]
    if keys:
        statement = statement.group_by(*keys)
    return [_trace_stats(row, quantiles, query.quantile_values(row.q, quantiles),
                         bucket=row.bucket, group=row.grp)
            for row in query.run(conn, statement)
            if row.n]  # an aggregate without GROUP BY over no rows gives n = 0


def _trace_stats_by_value(conn: Connection, query: _Query, group_by: GroupKey,
                          quantiles: Sequence[float]) -> list[TraceStats] | None:
    """Per value of a tag or metadata key (SQLite), read from the value index
    ``(key, substr(value, 1, 64), trace_id)``: each value's traces looked up by primary
    key, their rows read in table order. The usual plan probes the key's table for every
    selected trace (seconds at a million).

    One group is not joined but taken as the rest: the selection's totals and latencies
    (one pass over its traces, no lookup) less the joined groups' (``_rest``). It is the
    traces without a value when there may be any, else the value with the most traces,
    so a key whose one value covers most traces costs a join of the others only.

    The indexed prefix is the value when it is shorter than 64 characters; None (the
    usual query) when a prefix is 64 long, or when the key has more rows than the
    selection has traces (a small selection probes its own traces). One difference: a
    value holding a NUL character groups by its text before the NUL (SQLite's ``substr``
    stops there; PostgreSQL text cannot hold one)."""
    traces = schema.traces
    table = (schema.trace_tags if group_by.kind == "tag" else schema.trace_metadata).alias("g")
    prefix = schema.value_prefix(table.c.value)
    keyed = [table.c["key"] == group_by.key, prefix.isnot(None)]
    selected = int(query.run(conn, sa.select(sa.func.count()).select_from(traces)
                             .where(*query.where))[0][0])
    if not selected:
        return []
    counts = {p: int(n) for p, n in conn.execute(
        sa.select(prefix, sa.func.count()).where(*keyed).group_by(prefix))}
    if sum(counts.values()) > selected:
        return None
    if any(len(p) >= schema.VALUE_PREFIX_LENGTH for p in counts):
        return None
    rest: str | None = None
    if counts and _all_valued(conn, query, table, keyed, selected, sum(counts.values())):
        rest = max(counts, key=lambda p: (counts[p], p))
    duration = traces.c.execution_duration
    out = []
    if any(p != rest for p in counts):
        # Each joined trace's row number first (the value index, then the trace-id index:
        # no row read), sorted, so the rows are then read in table order, each page once,
        # not one random page read per trace (half the time of the join at a million).
        # The value index leads: the key table's trace id is an expression (``|| ''``),
        # so SQLite cannot probe that table per trace (it would rather scan the traces in
        # row order and probe each one's value, to save the sort).
        x = traces.alias("x")
        rowid = sa.literal_column("x.rowid")
        ordered = (sa.select(rowid.label("rid"), prefix.label("grp"))
                   .select_from(table.join(x, x.c.trace_id == table.c.trace_id.concat("")))
                   .where(*keyed, *([] if rest is None else [prefix != rest]))
                   .order_by(rowid).subquery("s"))
        statement = (sa.select(ordered.c.grp, *_trace_totals(traces),
                               query.quantiles(duration, quantiles).label("q"))
                     .select_from(ordered.join(traces, sa.literal_column("traces.rowid")
                                               == ordered.c.rid))
                     .where(*query.where).group_by(ordered.c.grp))
        out = list(query.run(conn, statement))
    whole = query.run(conn, sa.select(*_trace_totals(traces),
                                      query.quantiles(duration, quantiles).label("q"))
                      .where(*query.where))[0]
    from spanscope.store.sql.sqlite_aggregates import sorted_numbers

    latencies = [sorted_numbers(row.q) for row in out]  # read once: groups' and rest's
    stats = [_trace_stats(row, quantiles, tuple(percentile(a, float(q)) for q in quantiles),
                          group=row.grp) for row, a in zip(out, latencies, strict=True)]
    others = _rest(conn, query, table, keyed, prefix, rest, whole, out, latencies, quantiles)
    return stats if others is None else [*stats, others]


def _all_valued(conn: Connection, query: _Query, table: sa.Table,
                keyed: list[sa.ColumnElement[bool]], selected: int, valued: int) -> bool:
    """Whether every selected trace has a value of the key, known without a pass over the
    selection: the key's rows less those of the unselected traces (each probed, when they
    are fewer than the selected ones) are as many as the selection. Never with a filter
    (its negation is not plain SQL over NULLs)."""
    if query.search.node is not None or valued < selected:
        return False
    traces = schema.traces
    unselected = int(conn.execute(sa.select(sa.func.count()).select_from(traces)
                                  ).scalar_one()) - selected
    if unselected > selected:
        return False
    outside = 0
    if unselected:
        has_value = sa.exists().where(table.c.trace_id == traces.c.trace_id, *keyed)
        outside = int(conn.execute(sa.select(sa.func.count()).select_from(traces).where(
            sa.not_(sa.and_(sa.true(), *query.where)), has_value)).scalar_one())
    return valued - outside == selected


def _rest(conn: Connection, query: _Query, table: sa.Table,
          keyed: list[sa.ColumnElement[bool]], prefix: sa.ColumnElement[Any],
          rest: str | None, whole: Any, groups: list[Any], latencies: list[Any],
          quantiles: Sequence[float]) -> TraceStats | None:
    """The group ``rest`` (None: the traces without a value) as the selection's ``whole``
    row less the ``groups`` rows: sums subtracted, latencies the whole's JSON array less
    the groups' ``latencies`` (sorted arrays); None when no trace is left. Its first and
    last request times are the selection's unless a joined group shares them; then they
    are read by a walk of the (experiment, request_time) index, probing each trace's
    value."""
    from spanscope.store.sql.sqlite_aggregates import difference, sorted_numbers

    traces = schema.traces
    count = int(whole.n) - sum(int(g.n) for g in groups)
    if count <= 0:
        return None
    durations = difference(sorted_numbers(whole.q), latencies)

    def less(name: str) -> Any:
        return getattr(whole, name) - sum(getattr(g, name) for g in groups)

    first, last = whole.first_ms, whole.last_ms
    if any(g.first_ms == first for g in groups) or any(g.last_ms == last for g in groups):
        member = sa.exists().where(table.c.trace_id == traces.c.trace_id, *keyed)
        if rest is not None:
            member = sa.exists().where(table.c.trace_id == traces.c.trace_id, *keyed,
                                       prefix == rest)
        else:
            member = ~member
        times = [sa.select(traces.c.request_time).where(*query.where, member)
                 .order_by(order).limit(1).scalar_subquery()
                 for order in (traces.c.request_time, traces.c.request_time.desc())]
        first, last = conn.execute(sa.select(*times)).one()
    n = len(durations)
    return TraceStats(
        bucket_ms=None, group=rest, traces=count, errors=int(less("errors")),
        in_progress=int(less("in_progress")), latency_n=int(less("latency_n")),
        latency_sum_ms=float(less("latency_sum")),
        latency_min_ms=float(durations[0]) if n else None,
        latency_max_ms=float(durations[-1]) if n else None,
        quantiles=tuple(quantiles),
        latency_quantiles_ms=tuple(percentile(durations, float(q)) for q in quantiles),
        input_tokens=int(less("input_tokens")), output_tokens=int(less("output_tokens")),
        total_tokens=int(less("total_tokens")), first_ms=first, last_ms=last)


def _experiments_with_traces(conn: Connection, selection: Selection) -> list[int]:
    """The selected experiments that hold at least one trace (one index probe each)."""
    experiments, traces = schema.experiments, schema.traces
    keys = selection_keys(selection)
    out = []
    for (experiment_id,) in conn.execute(sa.select(experiments.c.experiment_id)):
        if keys is not None and experiment_id not in keys:
            continue
        probe = sa.select(traces.c.trace_id).where(
            traces.c.experiment_id == experiment_id).limit(1)
        if conn.execute(probe).first() is not None:
            out.append(experiment_id)
    return out


def _trace_stats_by_index(conn: Connection, experiment_id: int,
                          quantiles: Sequence[float]) -> list[TraceStats]:
    """All traces of one experiment: sums in one pass (on SQLite in C only; PostgreSQL
    may run it in parallel workers, which no ordered-set aggregate allows), percentiles by
    walks of the ``(experiment_id, execution_duration)`` index; no value reaches Python."""
    traces = schema.traces
    where = [traces.c.experiment_id == experiment_id]
    row = conn.execute(sa.select(*_trace_totals(traces)).where(*where)).one()
    if not row.n:
        return []
    pick = _offset_picker(conn, traces.c.execution_duration, where)
    return [_trace_stats(row, quantiles,
                         tuple(pick(int(row.latency_n), q) for q in quantiles))]


def model_usage(conn: Connection, search: SearchQuery, selection: Selection, *,
                bucket_ms: int | None, group_by: GroupKey | None,
                periods: Sequence[int] = ()) -> list[ModelUsageRow]:
    """Tokens per model. Without a filter the usage table is read alone (it carries the
    trace's experiment and request time); a filter joins it to ``traces``. ``periods``
    split rows by the latest boundary at or before the request time (a ``CASE``)."""
    query = _Query(search, selection, conn)
    traces, usage = schema.traces, schema.trace_model_usage
    by_type = group_by is not None and group_by.kind == "span_type"
    if search.node is None:
        where: list[sa.ColumnElement[bool]] = []
        keys = selection_keys(selection)
        if keys is None and (selection.start_ms is not None or selection.end_ms is not None):
            keys = set(all_experiments(conn))  # the (experiment, request_time) index
        if keys is not None:
            where.append(usage.c.experiment_id.in_(sorted(keys)))
        if selection.start_ms is not None:
            where.append(usage.c.request_time >= int(selection.start_ms))
        if selection.end_ms is not None:
            where.append(usage.c.request_time < int(selection.end_ms))
        from_, group = _group_join(usage, None if by_type else group_by, usage.c.trace_id)
        time_column = usage.c.request_time
    else:
        where = query.where
        from_, group = _group_join(traces.join(usage, usage.c.trace_id == traces.c.trace_id),
                                   None if by_type else group_by)
        time_column = traces.c.request_time
    if by_type:
        group = usage.c.span_type
    bucket = sa.null() if bucket_ms is None else (time_column // int(bucket_ms)) * int(
        bucket_ms)
    period: sa.ColumnElement[Any] = sa.null()
    if periods:
        period = sa.case(*((time_column >= int(b), sa.literal(int(b), sa.BigInteger))
                           for b in sorted(periods, reverse=True)), else_=sa.null())
    grouping = [usage.c.model]
    if bucket_ms is not None:
        grouping.append(bucket)
    if group_by is not None:
        grouping.append(group)
    if periods:
        grouping.append(period)
    statement = (sa.select(
        bucket.label("bucket"), group.label("grp"), period.label("period"), usage.c.model,
        (sa.func.count() if by_type else _sum0(usage.c.trace_count)).label("n"),
        _sum0(usage.c.calls).label("calls"),
        *(_sum0(usage.c[name]).label(name) for name in USAGE_COUNTS),
        sa.func.min(time_column).label("first_ms"), sa.func.max(time_column).label("last_ms"),
    ).select_from(from_).where(*where).group_by(*grouping))
    return [ModelUsageRow(bucket_ms=None if row.bucket is None else int(row.bucket),
                          group=row.grp, model=row.model, traces=int(row.n),
                          calls=int(row.calls),
                          **{name: int(row._mapping[name]) for name in USAGE_COUNTS},
                          period_ms=None if row.period is None else int(row.period),
                          first_ms=int(row.first_ms), last_ms=int(row.last_ms))
            for row in query.run(conn, statement)]


def latency_histogram(conn: Connection, search: SearchQuery, selection: Selection,
                      edges: Sequence[float]) -> list[int]:
    counts = [0] * max(0, len(edges) - 1)
    if not counts:
        return counts
    query = _Query(search, selection, conn)
    duration = schema.traces.c.execution_duration
    whens = [(duration < float(edge), i) for i, edge in enumerate(edges[1:-1])]
    bin_ = sa.case(*whens, else_=len(counts) - 1) if whens else sa.literal(0)
    inner = (sa.select(bin_.label("bin")).select_from(schema.traces)
             .where(*query.where, duration >= float(edges[0]), duration <= float(edges[-1]))
             .subquery())
    statement = sa.select(inner.c.bin, sa.func.count()).group_by(inner.c.bin)
    for index, count in query.run(conn, statement):
        counts[int(index)] = int(count)
    return counts


def trace_sample(conn: Connection, search: SearchQuery, selection: Selection, *,
                 sample: Sample | None, spans: bool, assessments: bool) -> TraceSample:
    """One pass over the selection gives the sample and the selection's size (a window
    count, computed before ``LIMIT``); assessments and spans are then read by trace id.
    On SQLite a sample is chosen in Python (``_sqlite_sample``)."""
    query = _Query(search, selection, conn)
    traces = schema.traces
    columns = [traces.c.trace_id, traces.c.request_time, traces.c.execution_duration,
               traces.c.state, traces.c.input_tokens, traces.c.output_tokens,
               traces.c.total_tokens]
    if sample is not None and query.dialect.python_functions:
        total, chosen = _sqlite_sample(conn, query, sample)
        rows: list[Any] = []
        for part in chunks(chosen):
            rows.extend(conn.execute(sa.select(*columns).where(traces.c.trace_id.in_(part))))
    else:
        statement = sa.select(*columns, sa.func.count().over().label("total")).where(
            *query.where)
        if sample is not None:
            statement = statement.order_by(query.sample_key(sample), traces.c.trace_id
                                           ).limit(int(sample.size))
        rows = query.run(conn, statement)
        total = int(rows[0].total) if rows else 0
    values = {row.trace_id: TraceValues(
        trace_id=row.trace_id, request_time=int(row.request_time),
        latency_ms=None if row.execution_duration is None else float(row.execution_duration),
        error=row.state == _ERROR, input_tokens=row.input_tokens,
        output_tokens=row.output_tokens, total_tokens=row.total_tokens)
        for row in rows}
    ids = sorted(values)
    if assessments:
        _add_feedback(conn, values, ids)
    span_rows: list[SpanValue] = []
    if spans:
        table = schema.spans
        found = []
        for part in chunks(ids):
            found.extend(conn.execute(
                sa.select(table.c.trace_id, table.c.span_id, table.c.span_type, table.c.name,
                          table.c.duration_ns, table.c.status)
                .where(table.c.trace_id.in_(part))))
        found.sort(key=lambda r: (r.trace_id, r.span_id))
        span_rows = [SpanValue(trace_id=r.trace_id, span_type=r.span_type, name=r.name,
                               duration_ms=_ms(r.duration_ns), error=r.status == _ERROR)
                     for r in found]
    return TraceSample(total=total,
                       traces=sorted(values.values(), key=lambda v: (v.request_time,
                                                                     v.trace_id)),
                       spans=span_rows)


def _sqlite_sample(conn: Connection, query: _Query, sample: Sample) -> tuple[int, list[str]]:
    """The selection's size and the ids ``sample`` picks from it (SQLite).

    The selection's ids arrive as one JSON array built in C, and the md5 order is taken
    in Python. Ordering by ``spanscope_sample_key`` in the query would call Python once
    per trace from inside SQLite, taking the GIL each time, so the two cohorts that
    ``compare`` reads in parallel would run one after the other; this way the reads
    overlap and only the hashing (~0.2 s per 250,000 ids) takes turns.
    """
    statement = sa.select(sa.func.json_group_array(schema.traces.c.trace_id)).where(
        *query.where)
    ids: list[str] = json.loads(query.run(conn, statement)[0][0])
    seed = int(sample.seed)
    chosen = heapq.nsmallest(int(sample.size), ids,
                             key=lambda trace_id: (sample_key(trace_id, seed), trace_id))
    return len(ids), chosen


def _add_feedback(conn: Connection, values: dict[str, TraceValues], ids: list[str]) -> None:
    """Each trace's numeric feedback: the latest valid feedback per name, if a number."""
    table = schema.assessments
    latest: dict[tuple[str, str], tuple[int, str, float | None]] = {}
    for part in chunks(ids):
        statement = (sa.select(table.c.trace_id, table.c.name, table.c.numeric_value,
                               table.c.create_time, table.c.assessment_id)
                     .where(table.c.trace_id.in_(part), table.c.valid == sa.true(),
                            table.c.kind == "feedback"))
        for row in conn.execute(statement):
            key = (row.trace_id, row.name)
            rank = (row.create_time or 0, row.assessment_id)
            if key not in latest or rank > latest[key][:2]:
                latest[key] = (rank[0], rank[1], row.numeric_value)
    for (trace_id, name), (_, _, number) in latest.items():
        if number is not None and math.isfinite(number):
            values[trace_id].assessments[name] = float(number)


# --- spans --------------------------------------------------------------------------------------
def _everything(conn: Connection, search: SearchQuery, selection: Selection) -> bool:
    """True when the selection is every trace in the store (no filter, no time window)."""
    if search.node is not None or selection.start_ms is not None \
            or selection.end_ms is not None:
        return False
    keys = selection_keys(selection)
    if keys is None:
        return True
    experiments, traces = schema.experiments, schema.traces
    for (experiment_id,) in conn.execute(sa.select(experiments.c.experiment_id)):
        if experiment_id in keys:
            continue
        has_traces = sa.select(traces.c.trace_id).where(
            traces.c.experiment_id == experiment_id).limit(1)
        if conn.execute(has_traces).first() is not None:
            return False
    return True


def selection_keys(selection: Selection) -> set[int] | None:
    if selection.experiment_ids is None:
        return None
    from spanscope.store.sql.convert import parse_experiment_id

    return {parse_experiment_id(e) for e in selection.experiment_ids}


def _span_stats(span_type: str, name: str | None, count: Any, errors: Any,
                duration_n: Any, total_ns: Any, max_ns: Any, quantiles: Sequence[float],
                quantiles_ms: tuple[float | None, ...]) -> SpanStats:
    """One ``SpanStats`` from the database's counts and nanosecond sums."""
    return SpanStats(span_type=span_type, name=name, count=int(count), errors=int(errors),
                     duration_n=int(duration_n), total_ms=float(total_ns) / _NS_PER_MS,
                     max_ms=_ms(max_ns), quantiles=tuple(quantiles),
                     duration_quantiles_ms=quantiles_ms)


def _span_totals(spans: sa.Table) -> list[sa.ColumnElement[Any]]:
    """The counts and sums of ``SpanStats``, as labelled SQL aggregates."""
    return [sa.func.count().label("n"),
            _count_if(spans.c.status == _ERROR).label("errors"),
            sa.func.count(spans.c.duration_ns).label("duration_n"),
            _sum0(spans.c.duration_ns).label("total"),
            sa.func.max(spans.c.duration_ns).label("max")]


def span_stats(conn: Connection, search: SearchQuery, selection: Selection, *,
               quantiles: Sequence[float],
               span_types: Sequence[str] | None = None) -> list[SpanStats]:
    """Per span type (``name=None``) and per type and name: counts, errors, durations
    (of the spans of ``span_types`` only, when given)."""
    query = _Query(search, selection, conn)
    everything = _everything(conn, search, selection)
    if everything and query.dialect.walks_indexes:
        return [row for row in _span_stats_by_index(conn, quantiles)
                if span_types is None or row.span_type in span_types]
    spans, traces = schema.spans, schema.traces
    from_ = spans if everything else spans.join(traces, traces.c.trace_id == spans.c.trace_id)
    where = [] if everything else list(query.where)
    if span_types is not None:
        where.append(spans.c.span_type.in_(list(span_types)))
    if not quantiles:  # sums add up: the types' rows from their names', one scan
        # grouped in the order of the (name, span_type, duration_ns, status) index, which
        # holds every column read: PostgreSQL streams the groups from an index-only scan
        # (when the visibility map is set, by VACUUM) instead of hashing each span
        statement = (sa.select(spans.c.span_type, spans.c.name, *_span_totals(spans))
                     .select_from(from_).where(*where)
                     .group_by(spans.c.name, spans.c.span_type))
        rows = query.run(conn, statement)
        return [*_type_totals(rows),
                *(_span_stats(row.span_type, row.name, row.n, row.errors, row.duration_n,
                              row.total, row.max, (), ()) for row in rows)]
    out: list[SpanStats] = []
    for by_name in (False, True):
        keys = [spans.c.span_type, spans.c.name] if by_name else [spans.c.span_type]
        statement = (sa.select(
            *keys, *_span_totals(spans),
            query.quantiles(spans.c.duration_ns, quantiles).label("q"),
        ).select_from(from_).where(*where).group_by(*keys))
        out.extend(_span_stats(
            row.span_type, row.name if by_name else None, row.n, row.errors, row.duration_n,
            row.total, row.max, quantiles,
            tuple(None if v is None else v / _NS_PER_MS
                  for v in query.quantile_values(row.q, quantiles)))
            for row in query.run(conn, statement))
    return out


def _type_totals(rows: Sequence[Any]) -> list[SpanStats]:
    """Each span type's ``SpanStats`` (``name=None``, no quantiles) from the rows of
    ``_span_totals`` per type and name: counts and nanoseconds added as integers."""
    totals: dict[str, list[Any]] = {}
    for row in rows:
        total = totals.setdefault(row.span_type, [0, 0, 0, 0, None])
        total[0] += int(row.n)
        total[1] += int(row.errors)
        total[2] += int(row.duration_n)
        total[3] += int(row.total)
        if row.max is not None:
            total[4] = row.max if total[4] is None else max(total[4], row.max)
    return [_span_stats(span_type, None, *total, (), ())
            for span_type, total in totals.items()]


def _span_stats_by_index(conn: Connection, quantiles: Sequence[float]) -> list[SpanStats]:
    """Every span of the store, profiled from indexes alone (SQLite)."""
    spans = schema.spans
    statement = (sa.select(spans.c.name, spans.c.span_type, *_span_totals(spans))
                 .group_by(spans.c.name, spans.c.span_type))
    out: list[SpanStats] = []
    by_type: dict[str, list[Any]] = {}
    for row in conn.execute(statement):
        pick = _offset_picker(conn, spans.c.duration_ns,
                              [spans.c.name == row.name, spans.c.span_type == row.span_type],
                              _NS_PER_MS)
        out.append(_span_stats(row.span_type, row.name, row.n, row.errors, row.duration_n,
                               row.total, row.max, quantiles,
                               tuple(pick(int(row.duration_n), q) for q in quantiles)))
        total = by_type.setdefault(row.span_type, [0, 0, 0, 0, None])
        total[0] += row.n
        total[1] += row.errors
        total[2] += row.duration_n
        total[3] += row.total
        if row.max is not None:
            total[4] = row.max if total[4] is None else max(total[4], row.max)
    for span_type, (n, errors, duration_n, total_ns, max_ns) in by_type.items():
        pick = _offset_picker(conn, spans.c.duration_ns, [spans.c.span_type == span_type],
                              _NS_PER_MS)
        out.append(_span_stats(span_type, None, n, errors, duration_n, total_ns, max_ns,
                               quantiles, tuple(pick(int(duration_n), q) for q in quantiles)))
    return out


def _offset_picker(conn: Connection, column: sa.ColumnElement[Any],
                   where: list[sa.ColumnElement[bool]], scale: float = 1.0,
                   ) -> Callable[[int, float], float | None]:
    """``pick(n, q)``: the ``q`` quantile of the ``n`` non-null ``column`` values matching
    ``where``, read as the two ranks around it by an index walk (``LIMIT 2 OFFSET k``),
    divided by ``scale``."""

    def pick(n: int, q: float) -> float | None:
        if n == 0:
            return None
        h = (n - 1) * q
        low = math.floor(h)
        statement = (sa.select(column).where(*where, column.isnot(None))
                     .order_by(column).limit(2).offset(low))
        values = [float(v) for (v,) in conn.execute(statement)]
        if not values:
            return None
        return percentile_pair(values, h - low) / scale

    return pick


def percentile_pair(values: list[float], fraction: float) -> float:
    """Interpolate between the rank below (``values[0]``) and the one above."""
    if len(values) == 1 or fraction == 0:
        return values[0]
    return values[0] + fraction * (values[1] - values[0])


def error_spans(conn: Connection, search: SearchQuery, selection: Selection) -> list[ErrorSpan]:
    """ERROR spans none of whose children is an ERROR span: where failures started."""
    query = _Query(search, selection, conn)
    fewer_error_spans = _fewer_error_spans(conn, query, search)
    if query.dialect.strict_json_first:
        try:
            with conn.begin_nested():
                rows = query.run(conn, _error_statement(query, fewer_error_spans, True))
        except sa_exc.DataError:  # a span's JSON the database's parser rejects
            rows = query.run(conn, _error_statement(query, fewer_error_spans, False))
    else:
        rows = query.run(conn, _error_statement(query, fewer_error_spans, False))
    out = []
    for trace_id, span_id, name, span_type, status, content, request_time, state in rows:
        exc_type = exc_message = None
        if content is not None:
            status, exc_type, exc_message = _error_details(content, status)
        out.append(ErrorSpan(trace_id, span_id, name, span_type, int(request_time),
                             exc_type, exc_message, status or None, state == _ERROR))
    out.sort(key=_SPAN_ORDER)
    return out


_SPAN_ORDER = operator.attrgetter("request_time", "trace_id", "span_id")


def _error_statement(query: _Query, fewer_error_spans: bool, strict: bool) -> sa.Select[Any]:
    """The origins of failures among the selected traces' spans (``error_spans``), with
    their status message, content when it may hold an exception, and trace's time and
    state; ``strict``: status messages read by the database's own JSON parser."""
    spans, traces = schema.spans, schema.traces
    child = schema.spans.alias("child")
    status_message, exception = query.dialect.error_details(spans.c.content, _EXCEPTION_MARK,
                                                            strict=strict)
    no_error_child = ~sa.exists().where(child.c.trace_id == spans.c.trace_id,
                                        child.c.parent_span_id == spans.c.span_id,
                                        child.c.status == _ERROR)
    columns = [spans.c.trace_id, spans.c.span_id, spans.c.name, spans.c.span_type,
               status_message.label("status_message"), exception.label("content")]
    of_span = traces.c.trace_id == spans.c.trace_id
    if fewer_error_spans:  # each failed span probes its trace
        request_time = sa.select(traces.c.request_time).where(of_span).scalar_subquery()
        state = sa.select(traces.c.state).where(of_span).scalar_subquery()
        return (sa.select(*columns, request_time.label("request_time"), state.label("state"))
                .where(spans.c.status == _ERROR, sa.exists().where(of_span, *query.where),
                       no_error_child))
    # each selected trace probes its failed spans
    return (sa.select(*columns, traces.c.request_time, traces.c.state)
            .join_from(spans, traces, of_span)
            .where(*query.where, spans.c.status == _ERROR, no_error_child))


def _fewer_error_spans(conn: Connection, query: _Query, search: SearchQuery) -> bool:
    """SQLite, no filter: the store holds fewer failed spans than the selection traces
    (both counted on an index), so reading from the failed spans is the shorter way.
    SQLite's statistics cannot tell (they hold the average rows per status, a third);
    with a filter the selection is taken to be small, and PostgreSQL plans by itself."""
    if not query.dialect.walks_indexes or search.node is not None:
        return False
    spans, traces = schema.spans, schema.traces
    failed = conn.execute(sa.select(sa.func.count()).select_from(spans)
                          .where(spans.c.status == _ERROR)).scalar_one()
    selected = conn.execute(sa.select(sa.func.count()).select_from(traces)
                            .where(*query.where)).scalar_one()
    return int(failed) < int(selected)


def _error_details(content: str, status: str | None,
                   ) -> tuple[str | None, str | None, str | None]:
    """(status message, exception type, exception message) from a span's stored JSON."""
    from spanscope.store.aggregates import exception_of

    try:
        data = json.loads(content)
    except (ValueError, RecursionError):
        return status, None, None
    if not isinstance(data, dict):
        return status, None, None
    message = (data.get("status") or {}).get("message") if isinstance(
        data.get("status"), dict) else None
    exc_type, exc_message = exception_of(data.get("events") or [])
    return (message if isinstance(message, str) else status), exc_type, exc_message


# --- correlate -------------------------------------------------------------------------------
def _field_exprs(field: NumericField, dialect: Dialect,
                 ) -> tuple[sa.ColumnElement[Any], sa.ColumnElement[Any]]:
    """(raw value or NULL when missing, its number or NULL) for one trace.

    On SQLite a tag's number is NULL here and ``numeric_pairs`` reads it from the raw
    text in Python, with the function ``spanscope_number`` would call: in SQL it would
    repeat the correlated lookup of the value and call Python once per trace anyway.
    """
    traces = schema.traces
    if field.kind == "attribute":
        column = {"latency_ms": traces.c.execution_duration,
                  "input_tokens": traces.c.input_tokens,
                  "output_tokens": traces.c.output_tokens,
                  "total_tokens": traces.c.total_tokens, "span_count": traces.c.span_count,
                  "request_time": traces.c.request_time}[field.key]
        assert field.key in ATTRIBUTE_FIELDS
        return sa.cast(column, sa.Text), column
    if field.kind in ("tag", "metadata"):
        table = (schema.trace_tags if field.kind == "tag" else schema.trace_metadata).alias()
        raw = (sa.select(table.c.value).where(table.c.trace_id == traces.c.trace_id,
                                               table.c["key"] == field.key)
               .scalar_subquery())
        return raw, sa.null() if dialect.python_functions else dialect.text_number(raw)

    def latest(column: str) -> sa.ColumnElement[Any]:
        """``column`` of the latest valid assessment of that name (the filter's choice)."""
        table = schema.assessments.alias()
        return (sa.select(table.c[column])
                .where(table.c.trace_id == traces.c.trace_id, table.c.name == field.key,
                       table.c.valid == sa.true())
                .order_by(table.c.create_time.desc(),
                          dialect.text_key(table.c.assessment_id).desc())
                .limit(1).scalar_subquery())

    return latest("value"), latest("numeric_value")


def _python_number(field: NumericField, dialect: Dialect) -> bool:
    """The field's number is read from its text in Python (see ``_field_exprs``)."""
    return dialect.python_functions and field.kind in ("tag", "metadata")


def numeric_pairs(conn: Connection, search: SearchQuery, selection: Selection,
                  x: NumericField, y: NumericField) -> NumericPairs:
    query = _Query(search, selection, conn)
    traces = schema.traces
    x_raw, x_num = _field_exprs(x, query.dialect)
    y_raw, y_num = _field_exprs(y, query.dialect)
    statement = (sa.select(x_raw.label("x_raw"), x_num.label("x_num"), y_raw.label("y_raw"),
                           y_num.label("y_num"))
                 .where(*query.where).order_by(traces.c.request_time, traces.c.trace_id))
    xs: list[float] = []
    ys: list[float] = []
    x_seen = _Seen(_python_number(x, query.dialect))
    y_seen = _Seen(_python_number(y, query.dialect))
    # One pass: the fields' reads are correlated lookups, so read them once.
    for x_text, a, y_text, b in query.run(conn, statement):
        a, b = x_seen.number(x_text, a), y_seen.number(y_text, b)
        if a is not None and b is not None:
            a, b = float(a), float(b)
            if math.isfinite(a) and math.isfinite(b):
                xs.append(a)
                ys.append(b)
    return NumericPairs(xs, ys, x_seen.coverage(), y_seen.coverage())


@dataclasses.dataclass
class _Seen:
    """What one field of ``numeric_pairs`` looked like over the traces read: how many had
    it, how many as a number, and the first (smallest) value that is not one."""

    from_text: bool  # the number is read from the text here (``_python_number``)
    present: int = 0
    numeric: int = 0
    not_number: str | None = None

    def number(self, text: Any, number: Any) -> Any:
        """The field's number for one trace (None: missing or not a number), counted."""
        if text is None:
            return number
        if self.from_text:
            number = text_number(text)
        self.present += 1
        if number is not None:
            self.numeric += 1
        elif self.not_number is None or str(text) < self.not_number:
            self.not_number = str(text)
        return number

    def coverage(self) -> FieldCoverage:
        return FieldCoverage(self.present, self.numeric, self.not_number)


# --- assessments ---------------------------------------------------------------------------
def assessment_stats(conn: Connection, search: SearchQuery, selection: Selection,
                     name: str) -> AssessmentStats:
    """The latest valid feedback called ``name`` of each selected trace, counted in SQL:
    a window function ranks each trace's feedbacks (as the filter's ``feedback.NAME``
    does), and only the counts leave the database."""
    query = _Query(search, selection, conn)
    table, traces = schema.assessments, schema.traces
    rank = sa.func.row_number().over(
        partition_by=table.c.trace_id,
        order_by=(sa.func.coalesce(table.c.create_time, 0).desc(),
                  query.dialect.text_key(table.c.assessment_id).desc()))
    latest = (sa.select(table.c.value, table.c.numeric_value, table.c.error,
                        rank.label("rank"))
              .join_from(table, traces, traces.c.trace_id == table.c.trace_id)
              .where(*query.where, table.c.name == name, table.c.valid == sa.true(),
                     table.c.kind == "feedback")
              .subquery())
    text = sa.func.lower(latest.c.value)
    number = sa.case((latest.c.numeric_value.isnot(None), latest.c.numeric_value),
                     (text == '"yes"', 1.0), (text == '"no"', 0.0), else_=None)
    statement = (sa.select(sa.func.count().label("n"),
                           _count_if(latest.c.error.isnot(None)).label("errors"),
                           sa.func.count(number).label("numeric_n"),
                           _sum0(number).label("numeric_sum"),
                           _count_if(text.in_(["true", '"yes"'])).label("passed"))
                 .where(latest.c.rank == 1))
    row = query.run(conn, statement)[0]
    return AssessmentStats(name, int(row.n), int(row.errors), int(row.numeric_n),
                           float(row.numeric_sum), int(row.passed))
