"""Read back what a demo run stored and sum it up (count, errors, latency, tokens).

The summary is computed from the store, not from the runner's own bookkeeping, so it
reports what actually arrived: a dropped or unexported trace shows up as a shortfall.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import spanscope
from spanscope.entities import TraceInfo, TraceState

__all__ = ["DemoSummary", "GroupStats", "find_run_traces", "percentile", "summarize"]


@dataclass(frozen=True)
class GroupStats:
    """Count, error rate and latency of one group of traces (e.g. one app version)."""

    traces: int
    errors: int
    p50_ms: float | None
    p95_ms: float | None

    @property
    def error_rate(self) -> float:
        return self.errors / self.traces if self.traces else 0.0


@dataclass(frozen=True)
class DemoSummary:
    overall: GroupStats
    total_tokens: int
    mean_tokens: float | None
    by_version: dict[str, GroupStats] = field(default_factory=dict)
    error_trace_ids: tuple[str, ...] = ()  # newest first


def percentile(values: Sequence[float], q: float) -> float | None:
    """The ``q``-th percentile (0-100) with linear interpolation; None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100.0
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def _group(infos: Sequence[TraceInfo]) -> GroupStats:
    durations = [i.execution_duration for i in infos if i.execution_duration is not None]
    return GroupStats(traces=len(infos),
                      errors=sum(1 for i in infos if i.state == TraceState.ERROR),
                      p50_ms=percentile(durations, 50), p95_ms=percentile(durations, 95))


def summarize(infos: Sequence[TraceInfo], *, group_tag: str = "app_version") -> DemoSummary:
    """Aggregate stored trace infos; ``group_tag`` picks the breakdown."""
    tokens = [usage.get("total_tokens", 0) for usage in (i.token_usage for i in infos) if usage]
    groups: dict[str, list[TraceInfo]] = {}
    for info in infos:
        groups.setdefault(info.tags.get(group_tag, "(none)"), []).append(info)
    return DemoSummary(
        overall=_group(infos),
        total_tokens=sum(tokens),
        mean_tokens=sum(tokens) / len(tokens) if tokens else None,
        by_version={key: _group(group) for key, group in sorted(groups.items())},
        error_trace_ids=tuple(i.trace_id for i in infos if i.state == TraceState.ERROR),
    )


def find_run_traces(tag: str, value: str, expected: int, *,
                    experiment_ids: Sequence[str] | None = None, since_ms: int | None = None,
                    page_size: int = 500) -> list[TraceInfo]:
    """Infos of the traces tagged ``tag=value``, newest first, read without their spans.

    Pages through the newest traces and stops once ``expected`` are found or the pages
    reach traces older than ``since_ms``, so a store holding many earlier runs is not read
    in full.
    """
    found: list[TraceInfo] = []
    token: str | None = None
    while True:
        page = spanscope.search_traces(
            experiment_ids=list(experiment_ids) if experiment_ids else None,
            max_results=page_size, page_token=token, return_type="list",
            include_spans=False)
        found += [t.info for t in page if t.info.tags.get(tag) == value]
        token = getattr(page, "token", None)
        older = since_ms is not None and page and page[-1].info.request_time < since_ms
        if len(found) >= expected or not token or not page or older:
            return found
