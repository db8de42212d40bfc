"""The fluent API re-exported by ``spanscope``: tracing, settings and reading traces."""

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
    "disable",
    "enable",
    "flush",
    "flush_trace_async_logging",
    "get_current_active_span",
    "get_last_active_trace_id",
    "get_trace",
    "get_tracking_uri",
    "search_traces",
    "set_experiment",
    "set_tracking_uri",
    "start_span",
    "trace",
    "update_current_trace",
]
