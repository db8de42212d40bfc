"""One trace, ready to show: its header facts, ``diagnose`` findings and span tree.

The HTML report's per-trace sections and ``spanscope traces analyze --html`` draw from
this, so a trace reads the same in both; it is plain data built from the entity (no I/O
but ``trace_views``, which fetches the traces it is given ids of).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from spanscope.analysis.diagnose import diagnose
from spanscope.analysis.findings import Finding
from spanscope.analysis.summary import utc
from spanscope.analysis.tree import TreeLine, tree_lines

if TYPE_CHECKING:
    from spanscope.entities import Trace
    from spanscope.store.base import TraceStore

__all__ = ["TraceView", "trace_view", "trace_views"]


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
        findings=findings, tree=tree_lines(trace, marks=marks))


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
