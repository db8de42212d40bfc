"""``build_report``: everything the ``spanscope report`` command shows, as data.

A report is a handful of store aggregates over one selection: the overall summary and a
time series (``summarize``), an optional breakdown by a tag or metadata key, a latency
histogram, time by span type and name (``profile_traces``), the top error patterns
(``error_patterns``), the slowest traces (``search_traces`` ordered by execution time,
without spans) and, when asked, a cohort comparison (``compare``). Rendering is elsewhere:
``report_html`` for the self-contained HTML file, the CLI for the terminal.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from spanscope.analysis.cohorts import CohortComparison, compare
from spanscope.analysis.documents import preview_text
from spanscope.analysis.errors import ErrorPatterns, patterns_of
from spanscope.analysis.pricing import PRICES_ENV
from spanscope.analysis.selection import (
    TimeLike,
    describe,
    make_selection,
    no_traces,
    parse_group_by,
    store_for,
)
from spanscope.analysis.span_profile import TracesProfile, profile_of
from spanscope.analysis.summary import Summary, bucket_ms, summary_of, utc
from spanscope.analysis.trace_view import TraceView, trace_views
from spanscope.store.aggregates import Selection, as_dict
from spanscope.store.base import AnalyticsStore, TraceStore

__all__ = ["LatencyHistogram", "Report", "ReportStore", "SlowTrace", "build_report",
           "histogram_edges"]


class ReportStore(AnalyticsStore, TraceStore, Protocol):
    """What a report reads: the aggregates, and the slowest traces' summaries."""


HISTOGRAM_BINS = 24


@dataclass
class LatencyHistogram:
    """Trace counts per latency bin: ``counts[i]`` traces in ``[edges[i], edges[i+1])``."""

    edges: list[float]
    counts: list[int]
    log_scale: bool

    def to_dict(self) -> dict[str, Any]:
        return {"edges": self.edges, "counts": self.counts, "log_scale": self.log_scale}


@dataclass
class SlowTrace:
    trace_id: str
    request_time: str | None
    latency_ms: float | None
    state: str
    name: str | None
    request_preview: str | None

    def to_dict(self) -> dict[str, Any]:
        return as_dict(self)


@dataclass
class Report:
    """The data of one report (see the module docstring); ``to_dict`` is its JSON."""

    title: str
    generated_at: str
    selection: Selection
    summary: Summary
    timeseries: Summary
    histogram: LatencyHistogram
    profile: TracesProfile
    errors: ErrorPatterns
    slowest: list[SlowTrace]
    groups: Summary | None = None
    comparison: CohortComparison | None = None
    notes: list[str] = field(default_factory=list)
    traces: list[TraceView] = field(default_factory=list)  # with ``trace_details=True``

    def __repr__(self) -> str:  # the DataFrames inside would fill a screen
        overall = self.summary.overall
        return (f"<Report {self.title!r}: {overall.get('traces', 0):,} traces, "
                f"{overall.get('errors', 0):,} failed, {len(self.errors.patterns)} error "
                f"patterns, {describe(self.selection)}>")

    def to_dict(self) -> dict[str, Any]:
        return {
            "title": self.title, "generated_at": self.generated_at,
            "selection": as_dict(self.selection),
            "summary": self.summary.overall,
            "unpriced_models": self.summary.unpriced_models,
            "currency": self.summary.currency,  # of every cost_usd figure
            "cost": None if self.summary.cost is None else self.summary.cost.to_dict(),
            "timeseries": self.timeseries.to_dict(),
            "groups": None if self.groups is None else self.groups.to_dict(),
            "latency_histogram": self.histogram.to_dict(),
            "profile": self.profile.to_dict(),
            "error_patterns": self.errors.to_dict(),
            "slowest_traces": [t.to_dict() for t in self.slowest],
            "comparison": None if self.comparison is None else self.comparison.to_dict(),
            "notes": self.notes,
        }


def histogram_edges(low: float | None, high: float | None,
                    bins: int = HISTOGRAM_BINS) -> tuple[list[float], bool]:
    """Bin edges over ``[low, high]``: logarithmic when the range spans over 20x."""
    if low is None or high is None:
        return [], False
    if high <= low:
        return [low, low + 1.0], False
    if low > 0 and high / low > 20:
        ratio = (high / low) ** (1.0 / bins)
        edges = [low * ratio ** i for i in range(bins)] + [high]
        return edges, True
    step = (high - low) / bins
    return [low + step * i for i in range(bins)] + [high], False


def auto_bucket(first_ms: int | None, last_ms: int | None) -> str:
    """``minute`` for up to 3 hours of traces, ``hour`` up to 3 days, else ``day``."""
    if first_ms is None or last_ms is None:
        return "hour"
    span = last_ms - first_ms
    if span <= 3 * 3_600_000:
        return "minute"
    if span <= 3 * 86_400_000:
        return "hour"
    return "day"


def _window_filter(filter_string: str | None, selection: Selection) -> str | None:
    """The selection's time window folded into a filter string, for ``search_traces``."""
    parts = [f"({filter_string})"] if filter_string else []
    if selection.start_ms is not None:
        parts.append(f"trace.timestamp >= {selection.start_ms}")
    if selection.end_ms is not None:
        parts.append(f"trace.timestamp < {selection.end_ms}")
    return " AND ".join(parts) or None


def slowest_traces(reader: TraceStore, selection: Selection, limit: int) -> list[SlowTrace]:
    page = reader.search_traces(list(selection.experiment_ids or ()) or None,
                                filter_string=_window_filter(selection.filter_string,
                                                             selection),
                                order_by=["execution_time DESC"], max_results=limit,
                                include_spans=False)
    out = []
    for trace in page:
        info = trace.info
        out.append(SlowTrace(
            trace_id=info.trace_id, request_time=utc(info.request_time),
            latency_ms=None if info.execution_duration is None
            else float(info.execution_duration),
            state=str(info.state), name=info.tags.get("mlflow.traceName"),
            request_preview=(preview_text(info.request_preview) or "")[:200] or None))
    return out


def build_report(
    filter_string: str | None = None,
    experiment_ids: Sequence[str] | str | None = None,
    start: TimeLike | None = None,
    end: TimeLike | None = None,
    *,
    group_by: str | None = None,
    compare_filters: tuple[str, str] | None = None,
    bucket: str | None = None,
    top_errors: int = 10,
    slowest: int = 10,
    title: str | None = None,
    trace_details: bool = False,
    store: ReportStore | None = None,
) -> Report:
    """Build the report of the traces matching ``filter_string`` (default: every trace
    of the active experiment) between ``start`` and ``end``.

    ``bucket`` defaults to minutes, hours or days by the time the traces span;
    ``compare_filters=(A, B)`` adds ``compare(A, B)`` within the same selection.
    ``trace_details=True`` adds a ``TraceView`` (findings and span tree) of each slowest
    trace and each error pattern's example, so an HTML report can link its ids to them.
    ``InvalidInputError`` when no trace matches.
    """
    reader = store_for(store)
    selection = make_selection(filter_string, experiment_ids, start, end)
    parse_group_by(group_by)  # bad options fail before any query runs
    bucket_ms(bucket)
    summary = summary_of(reader, selection)
    stats = summary.stats
    if stats is None or summary.empty:
        raise no_traces(selection)
    chosen = bucket or auto_bucket(selection.start_ms or stats.first_ms,
                                   selection.end_ms or stats.last_ms)
    timeseries = summary_of(reader, selection, bucket=chosen, overall=summary)
    groups = None
    if group_by:
        groups = summary_of(reader, selection, group_by=group_by, overall=summary)
    edges, log_scale = histogram_edges(stats.latency_min_ms, stats.latency_max_ms)
    counts = reader.latency_histogram(selection, edges) if edges else []
    profile = profile_of(reader, selection, stats)
    errors = patterns_of(reader, selection, top=top_errors)
    comparison = None
    if compare_filters is not None:
        filter_a, filter_b = compare_filters
        comparison = compare(_and(filter_string, filter_a), _and(filter_string, filter_b),
                             labels=(filter_a, filter_b),
                             experiment_ids=selection.experiment_ids,
                             start=selection.start_ms, end=selection.end_ms, store=reader)
    notes = []
    notes.extend(cost_notes(summary))
    slow = slowest_traces(reader, selection, slowest) if slowest else []
    views = []
    if trace_details:
        examples = [row["example_trace_ids"][0] for row in errors.patterns]
        views = trace_views(reader, [t.trace_id for t in slow] + examples)
    return Report(
        title=title or "Spanscope report", generated_at=utc(int(time.time() * 1000)) or "",
        selection=selection, summary=summary, timeseries=timeseries,
        histogram=LatencyHistogram(edges=[_round(e) for e in edges], counts=counts,
                                   log_scale=log_scale),
        profile=profile, errors=errors, slowest=slow,
        groups=groups, comparison=comparison, notes=notes, traces=views)


def cost_notes(summary: Summary) -> list[str]:
    """What the cost leaves out: "unpriced: N calls / M tokens" and which models."""
    cost = summary.cost
    if cost is None or not cost.unpriced_calls:
        return []
    models = ", ".join(cost.unpriced_models)
    unknown = " (nothing was priced, so the cost is unknown)" if cost.cost is None else ""
    return [f"unpriced: {cost.unpriced_calls:,} calls / {cost.unpriced_tokens:,} tokens of "
            f"{models} are not in the cost{unknown}; add prices with {PRICES_ENV}=prices.json "
            "or set_model_prices (docs/lifecycle.md, Cost accounting)"]


def _and(base: str | None, extra: str | None) -> str | None:
    if base and extra:
        return f"({base}) AND ({extra})"
    return base or extra


def _round(value: float) -> float:
    if value == 0 or not math.isfinite(value):
        return value
    digits = max(0, 3 - math.floor(math.log10(abs(value))))
    return round(value, digits)
