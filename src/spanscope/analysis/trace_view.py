"""One trace, ready to show: its header facts, ``diagnose`` findings and span tree.

The HTML report's per-trace sections and ``spanscope traces analyze --html`` draw from
this, with the macros of ``templates/_trace_parts.html.j2`` that the web UI and the
notebook draw with too, so a trace reads the same everywhere; it is plain data built
from the entity (no I/O but ``trace_views``, which fetches the traces it is given ids of).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from spanscope.analysis.diagnose import diagnose
from spanscope.analysis.findings import Finding
from spanscope.analysis.structure import TraceIndex
from spanscope.analysis.summary import utc
from spanscope.analysis.tree import TreeLine, error_label, tree_lines

if TYPE_CHECKING:
    from spanscope.entities import Trace
    from spanscope.store.base import TraceStore

__all__ = ["TraceView", "WaterfallRow", "trace_view", "trace_views", "waterfall_rows"]


@dataclass(frozen=True)
class TraceView:
    trace_id: str
    name: str
    state: str
    duration_ms: int | None
    span_count: int
    request_time: str | None  # ISO UTC
    request_preview: str | None
    response_preview: str | None
    findings: list[Finding]
    tree: list[TreeLine]
    rows: list[WaterfallRow] = field(default_factory=list)  # the tree as the UI draws it

    @property
    def culprits(self) -> set[str]:
        """Span ids that a finding names."""
        return {f.span_id for f in self.findings if f.span_id}


def trace_view(trace: Trace, findings: Sequence[Finding] | None = None,
               **thresholds: Any) -> TraceView:
    """The view of ``trace`` with ``findings`` (default: ``diagnose(trace, **thresholds)``,
    e.g. ``token_baseline=``)."""
    findings = list(diagnose(trace, **thresholds) if findings is None else findings)
    marks: dict[str, list[str]] = {}
    for finding in findings:
        if finding.span_id and finding.kind not in marks.get(finding.span_id, []):
            marks.setdefault(finding.span_id, []).append(finding.kind)
    info = trace.info
    return TraceView(
        trace_id=info.trace_id, name=info.tags.get("mlflow.traceName") or "-",
        state=str(info.state), duration_ms=info.execution_duration,
        span_count=len(trace.data.spans), request_time=utc(info.request_time),
        request_preview=info.request_preview, response_preview=info.response_preview,
        findings=findings, tree=tree_lines(trace, marks=marks),
        rows=waterfall_rows(trace, findings))


def trace_views(reader: TraceStore, trace_ids: Sequence[str]) -> list[TraceView]:
    """Views of these traces, in the order given, each id once; unknown ids are skipped."""
    from spanscope.exceptions import NotFoundError

    views = []
    for trace_id in dict.fromkeys(trace_ids):
        try:
            views.append(trace_view(reader.get_trace(trace_id)))
        except NotFoundError:  # deleted since the report's queries ran
            continue
    return views


@dataclass(frozen=True)
class WaterfallRow:
    """One span as a row of the span tree with its timeline bar.

    ``path`` is the chain of span ids from the root (``/``-joined), so a subtree can be
    folded by prefix; ``start_pct``/``width_pct`` place the bar on the trace's extent.
    """

    span_id: str
    path: str
    depth: int
    name: str
    span_type: str
    duration_ms: float | None
    offset_ms: float
    start_pct: float
    width_pct: float
    error: str | None
    children: int
    marks: tuple[str, ...] = ()


def waterfall_rows(trace: Trace, findings: Sequence[Finding] = (), *,
                   limit: int | None = None) -> list[WaterfallRow]:
    """The span tree in display order (children by start time), with timeline bars;
    ``limit``: only the first rows (a page that shows the top of a big tree)."""
    index = TraceIndex(trace)
    extent = index.extent_ns or (0, 0)
    origin, total = extent[0], max(extent[1] - extent[0], 1)
    marks: dict[str, list[str]] = {}
    for finding in findings:
        if finding.span_id and finding.kind not in marks.get(finding.span_id, []):
            marks.setdefault(finding.span_id, []).append(finding.kind)
    rows: list[WaterfallRow] = []
    stack = [(root, root.span_id, 0) for root in reversed(index.roots)]
    seen: set[str] = set()
    while stack and (limit is None or len(rows) < limit):  # explicit: deep agent traces
        # must not hit the recursion limit
        span, path, depth = stack.pop()
        if span.span_id in seen:  # a cycle in bad data
            continue
        seen.add(span.span_id)
        children = index.children_of(span)
        end = span.end_time_ns if span.end_time_ns is not None else extent[1]
        start = span.start_time_ns - origin
        rows.append(WaterfallRow(
            span_id=span.span_id, path=path, depth=depth, name=span.name,
            span_type=str(span.span_type), offset_ms=start / 1e6,
            duration_ms=None if span.end_time_ns is None else (end - span.start_time_ns) / 1e6,
            start_pct=round(100 * start / total, 3),
            width_pct=round(max(100 * (end - span.start_time_ns) / total, 0.2), 3),
            error=error_label(span), children=len(children),
            marks=tuple(marks.get(span.span_id, ()))))
        for child in reversed(children):
            stack.append((child, f"{path}/{child.span_id}", depth + 1))
    return rows
