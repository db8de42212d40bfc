"""Where the time went: the ``bottleneck`` (with the critical path) and ``gap`` findings.

Self time (a span's time not covered by its children) is what a span spends itself, so
the span with the most self time is where speeding up pays most. The critical path
follows, from the root, the child that finished last: the chain of spans the request
waited on. A gap is time a parent spends outside all its children: untraced work,
waiting (a retry's backoff), or a missing span.
"""

from __future__ import annotations

from collections.abc import Iterator

from spanscope.analysis.detectors.context import DiagnosisContext, fmt_ms, ns_to_ms
from spanscope.analysis.findings import Finding
from spanscope.analysis.structure import uncovered
from spanscope.entities import Span

__all__ = ["critical_path", "detect_bottleneck", "detect_gaps"]


def critical_path(ctx: DiagnosisContext) -> list[Span]:
    """Root to leaf, each step the child that ended last (ties: the longer one)."""
    index = ctx.index
    node = index.root
    path: list[Span] = []
    while node is not None and node.end_time_ns is not None:
        path.append(node)
        finished = [c for c in index.children_of(node) if c.end_time_ns is not None]
        if not finished:
            break
        node = max(finished, key=lambda c: (c.end_time_ns or 0, -c.start_time_ns))
    return path


def detect_bottleneck(ctx: DiagnosisContext) -> Iterator[Finding]:
    index = ctx.index
    total_ns = index.duration_ns
    finished = [s for s in index.spans if s.end_time_ns is not None]
    if total_ns <= 0 or len(finished) < 2:
        return  # one span (or none) has nothing to compare with
    span = max(finished, key=lambda s: (index.self_time_ns(s), -s.start_time_ns))
    self_ns = index.self_time_ns(span)
    share = self_ns / total_ns
    path = critical_path(ctx)
    # Model calls are expected to dominate a GenAI trace; anything else this big is news.
    big = share >= ctx.thresholds.bottleneck_medium_share
    severity = "medium" if big and not ctx.is_llm(span) else "low"
    yield Finding(
        kind="bottleneck", severity=severity, span_id=span.span_id, span_name=span.name,
        message=(f"{span.name} ({span.span_type}) spends the most time of its own: "
                 f"{fmt_ms(ns_to_ms(self_ns))} of the trace's {fmt_ms(ns_to_ms(total_ns))} "
                 f"({share:.0%}). Critical path: {' > '.join(s.name for s in path)}."),
        evidence={"self_ms": ns_to_ms(self_ns),
                  "duration_ms": ns_to_ms(span.duration_ns or 0),
                  "trace_ms": ns_to_ms(total_ns), "share": round(share, 4),
                  "span_type": str(span.span_type),
                  "critical_path": [{"span_id": s.span_id, "name": s.name,
                                     "span_type": str(s.span_type),
                                     "duration_ms": ns_to_ms(s.duration_ns or 0)}
                                    for s in path]},
        start_time_ns=span.start_time_ns)


def _neighbours(children: list[Span], start: int, end: int) -> tuple[str | None, str | None]:
    """Names of the child that ended last before a gap and the one that started after it."""
    before = [c for c in children if c.end_time_ns is not None and c.end_time_ns <= start]
    after = [c for c in children if c.start_time_ns >= end]
    return (max(before, key=lambda c: c.end_time_ns or 0).name if before else None,
            min(after, key=lambda c: c.start_time_ns).name if after else None)


def _where(before: str | None, after: str | None) -> str:
    if before and after:
        return f"between {before} and {after}"
    if after:
        return f"before {after}"
    if before:
        return f"after {before}"
    return "outside its children"


def detect_gaps(ctx: DiagnosisContext) -> Iterator[Finding]:
    index, limits = ctx.index, ctx.thresholds
    for span in index.spans:
        outer = index.interval(span)
        children = index.children_of(span)
        if outer is None or not children or ctx.is_llm(span):
            continue  # a model call's own time is the model working, not a gap
        gaps = uncovered(outer, index.child_intervals(span))
        gap_ns = sum(e - s for s, e in gaps)
        span_ns = outer[1] - outer[0]
        if span_ns <= 0:
            continue
        share = gap_ns / span_ns
        if ns_to_ms(gap_ns) <= max(limits.gap_min_ms, limits.gap_min_share * ns_to_ms(span_ns)):
            continue
        largest = sorted(gaps, key=lambda g: g[0] - g[1])[:3]
        stretches = []
        for start, end in largest:
            before, after = _neighbours(children, start, end)
            stretches.append({"start_offset_ms": ctx.offset_ms(start),
                              "duration_ms": ns_to_ms(end - start),
                              "after": before, "before": after})
        first = stretches[0]
        yield Finding(
            kind="gap",
            severity="medium" if share >= limits.gap_medium_share else "low",
            span_id=span.span_id, span_name=span.name,
            message=(f"{span.name} spends {fmt_ms(ns_to_ms(gap_ns))} ({share:.0%} of its "
                     f"{fmt_ms(ns_to_ms(span_ns))}) outside its children; the longest "
                     f"stretch, {fmt_ms(first['duration_ms'])}, is "
                     f"{_where(first['after'], first['before'])}."),
            evidence={"gap_ms": ns_to_ms(gap_ns), "span_ms": ns_to_ms(span_ns),
                      "share": round(share, 4), "stretches": stretches},
            start_time_ns=span.start_time_ns)
