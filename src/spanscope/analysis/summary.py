"""``summarize``: how many traces, how many failed, how slow, how many tokens, what cost.

Every number is aggregated in the store (``AnalyticsStore.trace_stats`` and
``model_usage``), so summarising a million traces reads summary columns only. Latency
percentiles interpolate linearly between ranks (numpy's default, PostgreSQL's
``percentile_cont``). Cost is estimated per model from the price table
(``spanscope.analysis.pricing``); tokens of models without a price are reported in
``unpriced_models`` and left out of ``cost_usd``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from spanscope.analysis.pricing import ModelPrice, get_model_prices, price_for
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
                  "input_tokens", "output_tokens", "total_tokens", "cost_usd")
_MAX_FILLED_BUCKETS = 100_000


@dataclass
class Summary:
    """The result of ``summarize``.

    ``table`` has one row per time bucket and/or group (a ``bucket`` column of UTC
    timestamps, a column named after ``group_by``), then ``METRIC_COLUMNS``; without
    either it has one row. ``overall`` holds the same metrics over the whole selection.
    """

    table: pd.DataFrame
    overall: dict[str, Any]
    selection: Selection
    bucket: str | None = None
    group_by: str | None = None
    unpriced_models: list[str] = field(default_factory=list)
    stats: TraceStats | None = None  # the store's whole-selection row (first/last time ...)

    @property
    def empty(self) -> bool:
        return not self.overall.get("traces")

    def to_dict(self) -> dict[str, Any]:
        from spanscope.analysis._frames import frame_records

        return {"selection": as_dict(self.selection), "bucket": self.bucket,
                "group_by": self.group_by, "overall": self.overall,
                "rows": frame_records(self.table), "unpriced_models": self.unpriced_models}


def bucket_ms(bucket: str | None) -> int | None:
    if bucket is None:
        return None
    size = BUCKETS.get(str(bucket).lower())
    if size is None:
        raise InvalidInputError(f"bucket must be one of {', '.join(BUCKETS)}, got {bucket!r}")
    return size


def metrics(stats: TraceStats | None, cost: float | None) -> dict[str, Any]:
    """The ``METRIC_COLUMNS`` of one aggregate row (zeros for no traces)."""
    if stats is None:
        return {"traces": 0, "errors": 0, "error_rate": None, "in_progress": 0,
                "latency_p50_ms": None, "latency_p95_ms": None, "latency_p99_ms": None,
                "latency_mean_ms": None, "latency_max_ms": None, "input_tokens": 0,
                "output_tokens": 0, "total_tokens": 0, "cost_usd": cost}
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
        "cost_usd": cost,
    }


def costs(rows: Sequence[ModelUsageRow], prices: dict[str, ModelPrice] | None = None,
          ) -> tuple[dict[tuple[int | None, str | None], float | None], set[str]]:
    """Estimated cost per (bucket, group) and the models that have no price.

    A key with usage but no priced model maps to None (unknown), not to 0.
    """
    table = get_model_prices() if prices is None else prices
    out: dict[tuple[int | None, str | None], float | None] = {}
    unpriced: set[str] = set()
    for row in rows:
        key = (row.bucket_ms, row.group)
        price = price_for(row.model, table)
        if price is None:
            if row.total_tokens or row.input_tokens or row.output_tokens:
                unpriced.add(row.model or "(unnamed model)")
            out.setdefault(key, None)
            continue
        out[key] = (out.get(key) or 0.0) + price.cost(row.input_tokens, row.output_tokens)
    return out, unpriced


def summarize(
    filter_string: str | None = None,
    experiment_ids: Sequence[str] | str | None = None,
    start: TimeLike | None = None,
    end: TimeLike | None = None,
    group_by: str | None = None,
    bucket: str | None = None,
    *,
    store: AnalyticsStore | None = None,
) -> Summary:
    """Trace count, errors, error rate, latency p50/p95/p99 (ms), tokens and estimated
    cost of the traces matching ``filter_string`` (default: every trace of the active
    experiment) between ``start`` and ``end``.

    ``bucket`` (``"hour"``, ``"day"`` or ``"minute"``, UTC-aligned) gives one row per time
    bucket, empty buckets included; ``group_by`` (``"tags.KEY"`` or ``"metadata.KEY"``)
    one row per value, traces without the key in a ``None`` group.
    """
    selection = make_selection(filter_string, experiment_ids, start, end)
    return summary_of(store_for(store), selection, bucket=bucket, group_by=group_by)


def summary_of(reader: AnalyticsStore, selection: Selection, *, bucket: str | None = None,
               group_by: str | None = None, overall: Summary | None = None) -> Summary:
    """``summarize`` over a ready ``Selection``; ``overall`` reuses another summary's
    whole-selection numbers instead of computing them again."""
    size = bucket_ms(bucket)
    key = parse_group_by(group_by)
    split = size is not None or key is not None
    rows = reader.trace_stats(selection, bucket_ms=size, group_by=key)
    usage = reader.model_usage(selection, bucket_ms=size, group_by=key)
    cost_by_key, unpriced = costs(usage)
    if overall is not None:
        stats, totals = overall.stats, overall.overall
        unpriced |= set(overall.unpriced_models)
    elif not split:
        stats = rows[0] if rows else None
        totals = metrics(stats, cost_by_key.get((None, None)))
    else:  # sums add up over buckets and groups (a trace is in one); percentiles do not
        whole = reader.trace_stats(selection)
        stats = whole[0] if whole else None
        known = [c for c in cost_by_key.values() if c is not None]
        totals = metrics(stats, sum(known) if known else None)
    table = _table(rows, cost_by_key, selection, size, key, group_by)
    return Summary(table=table, overall=totals, selection=selection,
                   bucket=None if bucket is None else str(bucket).lower(),
                   group_by=group_by, unpriced_models=sorted(unpriced), stats=stats)


def _table(rows: Sequence[TraceStats], cost_by_key: dict[tuple[int | None, str | None],
                                                          float | None],
           selection: Selection, size: int | None, key: GroupKey | None,
           group_by: str | None) -> pd.DataFrame:
    import pandas as pd

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
    columns = ([] if size is None else ["bucket"]) + ([] if key is None else [str(group_by)])
    frame = pd.DataFrame.from_records(records, columns=[*columns, *METRIC_COLUMNS])
    if size is not None:
        frame["bucket"] = pd.to_datetime(frame["bucket"], unit="ms", utc=True)
    if key is not None:  # keep None (not NaN) for traces without the key
        frame[str(group_by)] = pd.Series([r[str(group_by)] for r in records], dtype=object)
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
