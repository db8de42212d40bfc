"""The shape of a trace: parents and children, time intervals, self time, depth.

Computed once per analysis (``TraceIndex``) so every detector walks the same tree. A span
whose parent is missing from the trace (lost, or an OTel span from another service) is
treated as a root, so nothing is dropped from the analysis.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cached_property

from spanscope.entities import Span, SpanStatusCode, Trace

__all__ = ["TraceIndex", "merge_intervals", "uncovered"]

Interval = tuple[int, int]


def merge_intervals(intervals: Iterable[Interval]) -> list[Interval]:
    """Sorted, non-overlapping union of ``[start, end)`` intervals (empty ones dropped)."""
    merged: list[list[int]] = []
    for start, end in sorted(i for i in intervals if i[1] > i[0]):
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return [(start, end) for start, end in merged]


def uncovered(outer: Interval, inner: Iterable[Interval]) -> list[Interval]:
    """The parts of ``outer`` that no interval of ``inner`` covers."""
    start, end = outer
    clipped = [(max(s, start), min(e, end)) for s, e in inner]
    gaps, cursor = [], start
    for s, e in merge_intervals(clipped):
        if s > cursor:
            gaps.append((cursor, s))
        cursor = max(cursor, e)
    if cursor < end:
        gaps.append((cursor, end))
    return gaps


@dataclass
class TraceIndex:
    """Lookups over one trace's spans, in start-time order."""

    trace: Trace
    spans: list[Span] = field(init=False)
    by_id: dict[str, Span] = field(init=False)
    children: dict[str, list[Span]] = field(init=False)
    roots: list[Span] = field(init=False)

    def __post_init__(self) -> None:
        self.spans = sorted(self.trace.data.spans, key=lambda s: (s.start_time_ns, s.span_id))
        self.by_id = {span.span_id: span for span in self.spans}
        self.children = {}
        self.roots = []
        for span in self.spans:
            if span.parent_id is not None and span.parent_id in self.by_id:
                self.children.setdefault(span.parent_id, []).append(span)
            else:
                self.roots.append(span)

    @property
    def root(self) -> Span | None:
        """The trace's root span (the one without a parent, else the earliest orphan)."""
        for span in self.roots:
            if span.parent_id is None:
                return span
        return self.roots[0] if self.roots else None

    def children_of(self, span: Span) -> list[Span]:
        return self.children.get(span.span_id, [])

    def parent_of(self, span: Span) -> Span | None:
        return None if span.parent_id is None else self.by_id.get(span.parent_id)

    def ancestors(self, span: Span) -> list[Span]:
        """Parent, grandparent, ... up to the root (cycles in bad data are cut)."""
        found, seen = [], {span.span_id}
        parent = self.parent_of(span)
        while parent is not None and parent.span_id not in seen:
            found.append(parent)
            seen.add(parent.span_id)
            parent = self.parent_of(parent)
        return found

    def depth(self, span: Span) -> int:
        return len(self.ancestors(span))

    def is_error(self, span: Span) -> bool:
        return span.status.status_code == SpanStatusCode.ERROR

    @staticmethod
    def interval(span: Span) -> Interval | None:
        """``[start, end)`` in ns, None while the span is unfinished."""
        if span.end_time_ns is None:
            return None
        return span.start_time_ns, max(span.start_time_ns, span.end_time_ns)

    def child_intervals(self, span: Span) -> list[Interval]:
        return [i for c in self.children_of(span) if (i := self.interval(c)) is not None]

    def self_time_ns(self, span: Span) -> int:
        """Time in the span not covered by any of its children."""
        outer = self.interval(span)
        if outer is None:
            return 0
        return sum(e - s for s, e in uncovered(outer, self.child_intervals(span)))

    @cached_property
    def extent_ns(self) -> Interval | None:
        """The trace's time span: the root's interval, else first start to last end."""
        root = self.root
        if root is not None and (interval := self.interval(root)) is not None:
            return interval
        finished = [i for s in self.spans if (i := self.interval(s)) is not None]
        if not finished:
            return None
        return min(s for s, _ in finished), max(e for _, e in finished)

    @cached_property
    def duration_ns(self) -> int:
        extent = self.extent_ns
        return 0 if extent is None else extent[1] - extent[0]
