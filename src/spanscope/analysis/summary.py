"""``summarize``: how many traces, how many failed, how slow, how many tokens, what cost.

Every number is aggregated in the store (``AnalyticsStore.trace_stats`` and
``model_usage``), so summarising a million traces reads summary columns only. Latency
percentiles interpolate linearly between ranks (numpy's default, PostgreSQL's
``percentile_cont``). Cost is estimated per model call from the price table in effect at
the trace's request time (``spanscope.analysis.pricing``); calls without a price are
counted in ``unpriced_calls`` / ``unpriced_tokens`` (models in ``unpriced_models``) and
left out of ``cost_usd``, which is None, not 0, when nothing was priced.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from spanscope.analysis.pricing import (
    CostTotal,
    PriceTable,
    as_table,
    cost_by,
    cost_of,
    usage_for_pricing,
)
from spanscope.analysis.selection import (
    TimeLike,
    make_selection,
    parse_group_by,
    store_for,
)
from spanscope.exceptions import InvalidInputError
from spanscope.store.aggregates import (
    GroupKey,
    ModelUsageRow,
    Selection,
    TraceStats,
    as_dict,
)

if TYPE_CHECKING:
    import pandas as pd

    from spanscope.store.base import AnalyticsStore

__all__ = ["BUCKETS", "METRIC_COLUMNS", "Summary", "summarize", "summary_of"]

BUCKETS = {"minute": 60_000, "hour": 3_600_000, "day": 86_400_000}
METRIC_COLUMNS = ("traces", "errors", "error_rate", "in_progress", "latency_p50_ms",
                  "latency_p95_ms", "latency_p99_ms", "latency_mean_ms", "latency_max_ms",
                  "input_tokens", "output_tokens", "total_tokens", "cost_usd", "calls",
                  "unpriced_calls", "unpriced_tokens")
_TRACE_COLUMNS = METRIC_COLUMNS[:9]  # what a span-type row cannot have (None)
_MAX_FILLED_BUCKETS = 100_000


@dataclass
class Summary:
    """The result of ``summarize``.

    ``table`` has one row per time bucket and/or group (a ``bucket`` column of UTC
    timestamps, a column named after ``group_by``), then ``METRIC_COLUMNS``; without
    either it has one row. ``overall`` holds the same metrics over the whole selection.
    ``cost_usd`` is in ``currency`` (the price table's); ``calls`` counts model calls
    reporting usage, ``unpriced_calls``/``unpriced_tokens`` those left out of the cost.
    Grouped by ``span_type`` the rows hold usage and cost only (a trace holds spans of
    several types, so trace counts and latencies are None there).
    """

    table: pd.DataFrame
    overall: dict[str, Any]
    selection: Selection
    bucket: str | None = None
    group_by: str | None = None
    unpriced_models: list[str] = field(default_factory=list)
    stats: TraceStats | None = None  # the store's whole-selection row (first/last time ...)
    currency: str = "USD"
    cost: CostTotal | None = None  # the whole selection's cost, with what was unpriced

    @property
    def empty(self) -> bool:
        return not self.overall.get("traces")

    def to_dict(self) -> dict[str, Any]:
        from spanscope.analysis._frames import frame_records

        return {"selection": as_dict(self.selection), "bucket": self.bucket,
                "group_by": self.group_by, "overall": self.overall,
                "rows": frame_records(self.table), "unpriced_models": self.unpriced_models,
                "currency": self.currency,
                "cost": None if self.cost is None else self.cost.to_dict()}


def bucket_ms(bucket: str | None) -> int | None:
    if bucket is None:
        return None
    size = BUCKETS.get(str(bucket).lower())
    if size is None:
        raise InvalidInputError(f"bucket must be one of {', '.join(BUCKETS)}, got {bucket!r}")
    return size


def metrics(stats: TraceStats | None, cost: CostTotal | None) -> dict[str, Any]:
    """The ``METRIC_COLUMNS`` of one aggregate row (zeros for no traces)."""
    spent = {"cost_usd": None if cost is None else cost.cost,
             "calls": 0 if cost is None else cost.calls,
             "unpriced_calls": 0 if cost is None else cost.unpriced_calls,
             "unpriced_tokens": 0 if cost is None else cost.unpriced_tokens}
    if stats is None:
        return {"traces": 0, "errors": 0, "error_rate": None, "in_progress": 0,
                "latency_p50_ms": None, "latency_p95_ms": None, "latency_p99_ms": None,
                "latency_mean_ms": None, "latency_max_ms": None, "input_tokens": 0,
                "output_tokens": 0, "total_tokens": 0, **spent}
    q = dict(zip(stats.quantiles, stats.latency_quantiles_ms, strict=True))
    return {
        "traces": stats.traces,
        "errors": stats.errors,
        "error_rate": stats.errors / stats.traces if stats.traces else None,
        "in_progress": stats.in_progress,
        "latency_p50_ms": q.get(0.5),
        "latency_p95_ms": q.get(0.95),
        "latency_p99_ms": q.get(0.99),
        "latency_mean_ms": stats.latency_mean_ms,
        "latency_max_ms": stats.latency_max_ms,
        "input_tokens": stats.input_tokens,
        "output_tokens": stats.output_tokens,
        "total_tokens": stats.total_tokens,
        **spent,
    }


def summarize(
    filter_string: str | None = None,
    experiment_ids: Sequence[str] | str | None = None,
    start: TimeLike | None = None,
    end: TimeLike | None = None,
    group_by: str | None = None,
    bucket: str | None = None,
    *,
    store: AnalyticsStore | None = None,
    prices: PriceTable | dict[str, Any] | str | None = None,
) -> Summary:
    """Trace count, errors, error rate, latency p50/p95/p99 (ms), tokens and estimated
    cost of the traces matching ``filter_string`` (default: every trace of the active
    experiment) between ``start`` and ``end``.

    ``bucket`` (``"hour"``, ``"day"`` or ``"minute"``, UTC-aligned) gives one row per time
    bucket, empty buckets included; ``group_by`` (``"tags.KEY"``, ``"metadata.KEY"``,
    ``"user"``, ``"session"`` or ``"span_type"``) one row per value, traces without the key
    in a ``None`` group. ``prices`` replaces the effective price table (a ``PriceTable``,
    the file format as a dict, or a price file's path merged over the effective table).
    """
    selection = make_selection(filter_string, experiment_ids, start, end)
    return summary_of(store_for(store), selection, bucket=bucket, group_by=group_by,
                      prices=prices)


def summary_of(reader: AnalyticsStore, selection: Selection, *, bucket: str | None = None,
               group_by: str | None = None, overall: Summary | None = None,
               prices: PriceTable | dict[str, Any] | str | None = None) -> Summary:
    """``summarize`` over a ready ``Selection``; ``overall`` reuses another summary's
    whole-selection numbers instead of computing them again."""
    size = bucket_ms(bucket)
    key = parse_group_by(group_by)
    table_of_prices = as_table(prices)
    usage = usage_for_pricing(reader, selection, bucket_ms=size, group_by=key,
                              prices=table_of_prices)
    cost_by_key = cost_by(usage, lambda r: (r.bucket_ms, r.group), table_of_prices)
    by_type = key is not None and key.kind == "span_type"
    rows = [] if by_type else reader.trace_stats(selection, bucket_ms=size, group_by=key)
    if overall is not None:
        stats, totals, whole_cost = overall.stats, overall.overall, overall.cost
    else:
        whole_cost = cost_of(usage, table_of_prices)
        if size is None and key is None:
            stats = rows[0] if rows else None
        else:  # sums add up over buckets and groups; percentiles do not
            whole = reader.trace_stats(selection)
            stats = whole[0] if whole else None
        totals = metrics(stats, whole_cost)
    if by_type:
        table = _usage_table(cost_by_key, usage, size, str(group_by))
    else:
        table = _table(rows, cost_by_key, selection, size, key, group_by)
    unpriced = set(whole_cost.unpriced_models if whole_cost is not None else ())
    for cost in cost_by_key.values():
        unpriced |= set(cost.unpriced_models)
    return Summary(table=table, overall=totals, selection=selection,
                   bucket=None if bucket is None else str(bucket).lower(),
                   group_by=group_by, unpriced_models=sorted(unpriced), stats=stats,
                   currency=table_of_prices.currency, cost=whole_cost)


def _table(rows: Sequence[TraceStats],
           cost_by_key: dict[tuple[int | None, str | None], CostTotal],
           selection: Selection, size: int | None, key: GroupKey | None,
           group_by: str | None) -> pd.DataFrame:
    records = []
    for stats in rows:
        record: dict[str, Any] = {}
        if size is not None:
            record["bucket"] = stats.bucket_ms
        if key is not None:
            record[str(group_by)] = stats.group
        record.update(metrics(stats, cost_by_key.get((stats.bucket_ms, stats.group))))
        records.append(record)
    if size is not None and key is None:
        records = _fill_buckets(records, selection, size)
    return _frame(records, size, None if key is None else str(group_by))


def _usage_table(cost_by_key: dict[tuple[int | None, str | None], CostTotal],
                 usage: Sequence[ModelUsageRow], size: int | None,
                 column: str) -> pd.DataFrame:
    """Rows of usage alone (grouped by span type): tokens, calls and cost per group."""
    tokens: dict[tuple[int | None, str | None], list[int]] = {}
    for row in usage:
        sums = tokens.setdefault((row.bucket_ms, row.group), [0, 0, 0])
        sums[0] += row.input_tokens
        sums[1] += row.output_tokens
        sums[2] += row.total_tokens
    records = []
    for (bucket, group), (tokens_in, tokens_out, tokens_all) in tokens.items():
        record: dict[str, Any] = {} if size is None else {"bucket": bucket}
        record[column] = group
        record.update(metrics(None, cost_by_key.get((bucket, group))))
        record.update(dict.fromkeys(_TRACE_COLUMNS), input_tokens=tokens_in,
                      output_tokens=tokens_out, total_tokens=tokens_all)
        records.append(record)
    return _frame(records, size, column)


def _frame(records: list[dict[str, Any]], size: int | None, column: str | None,
           ) -> pd.DataFrame:
    import pandas as pd

    columns = ([] if size is None else ["bucket"]) + ([] if column is None else [column])
    frame = pd.DataFrame.from_records(records, columns=[*columns, *METRIC_COLUMNS])
    if size is not None:
        frame["bucket"] = pd.to_datetime(frame["bucket"], unit="ms", utc=True)
    if column is not None:  # keep None (not NaN) for traces without the key
        frame[column] = pd.Series([r[column] for r in records], dtype=object)
    return frame


def _fill_buckets(records: list[dict[str, Any]], selection: Selection,
                  size: int) -> list[dict[str, Any]]:
    """Add zero rows for buckets without traces, so time series have no holes."""
    present = {r["bucket"]: r for r in records}
    if not present:
        return records
    first = min(present) if selection.start_ms is None else min(
        min(present), selection.start_ms // size * size)
    last = max(present) if selection.end_ms is None else max(
        max(present), (selection.end_ms - 1) // size * size)
    if (last - first) // size > _MAX_FILLED_BUCKETS:
        return records
    return [present.get(b) or {"bucket": b, **metrics(None, None)}
            for b in range(first, last + size, size)]


def utc(ms: int | None) -> str | None:
    """Epoch ms as an ISO 8601 UTC string."""
    if ms is None:
        return None
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc).isoformat().replace(
        "+00:00", "Z")
