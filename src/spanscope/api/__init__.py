"""The fluent API re-exported by ``spanscope``: tracing, settings, reading and curating traces."""

from spanscope.api.assessments import (
    delete_assessment,
    get_assessment,
    log_expectation,
    log_feedback,
    update_assessment,
)
from spanscope.api.tags import delete_trace_tag, delete_traces, set_trace_tag
from spanscope.api.traces import get_trace, search_traces
from spanscope.tracing import (
    disable,
    enable,
    flush,
    flush_trace_async_logging,
    get_current_active_span,
    get_last_active_trace_id,
    start_span,
    trace,
    update_current_trace,
)
from spanscope.tracking import get_tracking_uri, set_experiment, set_tracking_uri

__all__ = [
    "delete_assessment",
    "delete_trace_tag",
    "delete_traces",
    "disable",
    "enable",
    "flush",
    "flush_trace_async_logging",
    "get_assessment",
    "get_current_active_span",
    "get_last_active_trace_id",
    "get_trace",
    "get_tracking_uri",
    "log_expectation",
    "log_feedback",
    "search_traces",
    "set_experiment",
    "set_trace_tag",
    "set_tracking_uri",
    "start_span",
    "trace",
    "update_assessment",
    "update_current_trace",
]
