"""Two traces side by side: their span trees aligned, and what differs.

Spans are matched by their place in the tree, written as a path of names with an
occurrence number (``support_agent/plan#2`` is the second ``plan`` under the root), so two
runs of the same app line up even though every span id differs. For each place:
whether it exists in A, B or both, its durations, states, and whether its inputs and
outputs are equal. Pure logic over two ``Trace`` entities.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from spanscope.analysis.structure import TraceIndex
from spanscope.entities import Span, SpanStatusCode, Trace

__all__ = ["AlignedSpan", "TraceDiff", "diff_traces"]


@dataclass(frozen=True)
class AlignedSpan:
    """One place in the tree: the span at it in A and in B (either may be missing)."""

    path: str
    depth: int
    name: str
    span_type: str
    a: Span | None
    b: Span | None

    @property
    def where(self) -> str:
        return "both" if self.a and self.b else "only A" if self.a else "only B"

    def duration_ms(self, side: str) -> float | None:
        span = self.a if side == "a" else self.b
        if span is None or span.end_time_ns is None:
            return None
        return (span.end_time_ns - span.start_time_ns) / 1e6

    @property
    def delta_ms(self) -> float | None:
        a, b = self.duration_ms("a"), self.duration_ms("b")
        return None if a is None or b is None else b - a

    def failed(self, side: str) -> bool | None:
        span = self.a if side == "a" else self.b
        return None if span is None else span.status.status_code == SpanStatusCode.ERROR

    @property
    def same_inputs(self) -> bool | None:
        return _same(self.a, self.b, "inputs")

    @property
    def same_outputs(self) -> bool | None:
        return _same(self.a, self.b, "outputs")


@dataclass(frozen=True)
class TraceDiff:
    a: Trace
    b: Trace
    spans: list[AlignedSpan]

    @property
    def structure_differs(self) -> bool:
        return any(s.where != "both" for s in self.spans)


def _same(a: Span | None, b: Span | None, side: str) -> bool | None:
    if a is None or b is None:
        return None
    return _canonical(getattr(a, side)) == _canonical(getattr(b, side))


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


def _places(trace: Trace) -> list[tuple[str, int, Span]]:
    """Every span with its place (path of names with occurrence numbers), in tree order."""
    index = TraceIndex(trace)
    out: list[tuple[str, int, Span]] = []
    stack: list[tuple[Span, str, int]] = []
    seen_roots: dict[str, int] = {}
    for root in index.roots:
        n = seen_roots[root.name] = seen_roots.get(root.name, 0) + 1
        stack.append((root, root.name if n == 1 else f"{root.name}#{n}", 0))
    stack.reverse()
    visited: set[str] = set()
    while stack:  # explicit stack: deep traces must not hit the recursion limit
        span, path, depth = stack.pop()
        if span.span_id in visited:
            continue
        visited.add(span.span_id)
        out.append((path, depth, span))
        counts: dict[str, int] = {}
        children = []
        for child in index.children_of(span):
            n = counts[child.name] = counts.get(child.name, 0) + 1
            children.append((child, f"{path}/{child.name}" + (f"#{n}" if n > 1 else ""),
                             depth + 1))
        stack.extend(reversed(children))
    return out


def diff_traces(a: Trace, b: Trace) -> TraceDiff:
    """A's places in A's order, with B's places that A lacks after their nearest sibling."""
    places_a, places_b = _places(a), _places(b)
    in_b = {path: (depth, span) for path, depth, span in places_b}
    in_a = {path for path, _, _ in places_a}
    aligned = [AlignedSpan(path, depth, span.name, str(span.span_type), span,
                           in_b.get(path, (0, None))[1]) for path, depth, span in places_a]
    for i, (path, depth, span) in enumerate(places_b):
        if path in in_a:
            continue
        # after the row of the B span that precedes it (already placed), else at the end
        before = next((places_b[j][0] for j in range(i - 1, -1, -1)), None)
        at = next((k + 1 for k, row in enumerate(aligned) if row.path == before), len(aligned))
        aligned.insert(at, AlignedSpan(path, depth, span.name, str(span.span_type), None, span))
    return TraceDiff(a, b, aligned)
