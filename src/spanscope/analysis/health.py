"""``health(trace)``: the quick check before a diagnosis (state, size, what failed)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from spanscope.entities import SpanStatusCode, Trace

__all__ = ["TraceHealth", "health"]


@dataclass(frozen=True)
class TraceHealth:
    """State, span count, the names of error spans and of assessments that errored.

    ``error_spans`` keeps one entry per failed span, in start order, so three failed
    ``plan`` attempts show as three names.
    """

    trace_id: str
    state: str
    span_count: int
    duration_ms: int | None
    error_spans: list[str] = field(default_factory=list)
    assessment_errors: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """OK state, no span failed, no scorer crashed."""
        return self.state == "OK" and not self.error_spans and not self.assessment_errors

    def to_dict(self) -> dict[str, Any]:
        return {"trace_id": self.trace_id, "state": self.state, "span_count": self.span_count,
                "duration_ms": self.duration_ms, "error_spans": list(self.error_spans),
                "assessment_errors": list(self.assessment_errors), "ok": self.ok}


def health(trace: Trace) -> TraceHealth:
    spans = sorted(trace.data.spans, key=lambda s: (s.start_time_ns, s.span_id))
    return TraceHealth(
        trace_id=trace.info.trace_id,
        state=str(trace.info.state),
        span_count=len(spans),
        duration_ms=trace.info.execution_duration,
        error_spans=[s.name for s in spans if s.status.status_code == SpanStatusCode.ERROR],
        assessment_errors=[a.name for a in trace.search_assessments(type="feedback")
                           if a.error is not None],
    )
