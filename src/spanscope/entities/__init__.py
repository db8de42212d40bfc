"""Spanscope's entities: plain data, no I/O. Every other layer speaks these."""

from spanscope.entities.assessment import (
    Assessment,
    AssessmentError,
    AssessmentSource,
    AssessmentSourceType,
    Expectation,
    Feedback,
)
from spanscope.entities.experiment import Experiment
from spanscope.entities.highlight import Highlight
from spanscope.entities.paged_list import PagedList
from spanscope.entities.span import (
    Span,
    SpanAttributeKey,
    SpanEvent,
    SpanStatus,
    SpanStatusCode,
    SpanType,
)
from spanscope.entities.token_usage import span_token_usage, sum_token_usage, trace_token_usage
from spanscope.entities.trace import Trace, TraceData
from spanscope.entities.trace_info import TraceInfo, TraceMetadataKey, TraceState, TraceTagKey

__all__ = [
    "Assessment",
    "AssessmentError",
    "AssessmentSource",
    "AssessmentSourceType",
    "Expectation",
    "Experiment",
    "Feedback",
    "Highlight",
    "PagedList",
    "Span",
    "SpanAttributeKey",
    "SpanEvent",
    "SpanStatus",
    "SpanStatusCode",
    "SpanType",
    "Trace",
    "TraceData",
    "TraceInfo",
    "TraceMetadataKey",
    "TraceState",
    "TraceTagKey",
    "span_token_usage",
    "sum_token_usage",
    "trace_token_usage",
]

# The classes ``import spanscope`` exposes name themselves ``spanscope.Trace`` in reprs,
# ``help()`` and docs rather than their private module path, as httpx does for its own.
# Pickle follows ``__module__`` and still finds them: ``spanscope`` resolves each name.
for _exported in (Assessment, AssessmentError, AssessmentSource, AssessmentSourceType,
                  Expectation, Feedback, Span, SpanEvent, SpanStatus, SpanStatusCode, SpanType,
                  Trace, TraceData, TraceInfo, TraceState):
    _exported.__module__ = "spanscope"
del _exported
