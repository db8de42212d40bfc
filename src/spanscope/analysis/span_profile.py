"""``profile_traces``: where time goes across many traces, per span type and span name.

Aggregated in the store (``AnalyticsStore.span_stats``): count, errors, total, mean, p50, p95
and max duration of the spans, and each group's share of the traces' time (its total
over the sum of the traces' durations; nested spans overlap, so shares add up to more
than 1, as in ``profile_trace``). Unfinished spans count but have no duration.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from spanscope.analysis.selection import TimeLike, make_selection, store_for
from spanscope.store.aggregates import (
    SPAN_QUANTILES,
    Selection,
    SpanStats,
    TraceStats,
    as_dict,
)

if TYPE_CHECKING:
    import pandas as pd

    from spanscope.store.base import AnalyticsStore

__all__ = ["PROFILE_COLUMNS", "TracesProfile", "profile_of", "profile_traces"]

PROFILE_COLUMNS = ("count", "spans_per_trace", "errors", "error_rate", "total_ms", "mean_ms",
                   "p50_ms", "p95_ms", "max_ms", "share")


@dataclass
class TracesProfile:
    """Span timing across the selected traces; both tables sorted by total time."""

    selection: Selection
    traces: int
    trace_time_ms: float  # the sum of the traces' durations, what ``share`` divides by
    by_type: pd.DataFrame  # span_type + PROFILE_COLUMNS
    by_name: pd.DataFrame  # span_type, span_name + PROFILE_COLUMNS

    def to_pandas(self, by: str = "type") -> pd.DataFrame:
        if by not in ("type", "name"):
            raise ValueError(f"by must be 'type' or 'name', not {by!r}")
        return self.by_type if by == "type" else self.by_name

    def to_dict(self) -> dict[str, Any]:
        from spanscope.analysis._frames import frame_records

        return {"selection": as_dict(self.selection), "traces": self.traces,
                "trace_time_ms": self.trace_time_ms,
                "by_type": frame_records(self.by_type), "by_name": frame_records(self.by_name)}


def _row(stats: SpanStats, traces: int, trace_time_ms: float) -> dict[str, Any]:
    q = dict(zip(stats.quantiles, stats.duration_quantiles_ms, strict=True))
    return {
        "count": stats.count,
        "spans_per_trace": stats.count / traces if traces else None,
        "errors": stats.errors,
        "error_rate": stats.errors / stats.count if stats.count else None,
        "total_ms": stats.total_ms,
        "mean_ms": stats.mean_ms,
        "p50_ms": q.get(0.5),
        "p95_ms": q.get(0.95),
        "max_ms": stats.max_ms,
        "share": stats.total_ms / trace_time_ms if trace_time_ms else None,
    }


def profile_traces(
    filter_string: str | None = None,
    experiment_ids: Sequence[str] | str | None = None,
    start: TimeLike | None = None,
    end: TimeLike | None = None,
    *,
    store: AnalyticsStore | None = None,
) -> TracesProfile:
    """Per span type and per span name timing over the traces matching ``filter_string``
    (default: every trace of the active experiment) between ``start`` and ``end``."""
    selection = make_selection(filter_string, experiment_ids, start, end)
    return profile_of(store_for(store), selection)


def profile_of(reader: AnalyticsStore, selection: Selection,
               overall: TraceStats | None = None) -> TracesProfile:
    """``profile_traces`` over a ready ``Selection``; ``overall`` is its ``trace_stats``
    row when the caller has it already."""
    import pandas as pd

    if overall is None:
        rows = reader.trace_stats(selection, quantiles=())
        overall = rows[0] if rows else None
    traces = overall.traces if overall else 0
    trace_time_ms = overall.latency_sum_ms if overall else 0.0
    stats = reader.span_stats(selection, quantiles=SPAN_QUANTILES) if traces else []
    by_type = [{"span_type": s.span_type, **_row(s, traces, trace_time_ms)}
               for s in stats if s.name is None]
    by_name = [{"span_type": s.span_type, "span_name": s.name,
                **_row(s, traces, trace_time_ms)} for s in stats if s.name is not None]
    type_frame = pd.DataFrame.from_records(by_type, columns=["span_type", *PROFILE_COLUMNS])
    name_frame = pd.DataFrame.from_records(by_name, columns=["span_type", "span_name",
                                                             *PROFILE_COLUMNS])
    type_frame = type_frame.sort_values(["total_ms", "span_type"], ascending=[False, True],
                                        ignore_index=True)
    name_frame = name_frame.sort_values(["total_ms", "span_type", "span_name"],
                                        ascending=[False, True, True], ignore_index=True)
    return TracesProfile(selection=selection, traces=traces, trace_time_ms=trace_time_ms,
                         by_type=type_frame, by_name=name_frame)
