"""Spanscope's tracing SDK, built on the OpenTelemetry SDK.

``@trace`` and ``start_span`` record spans through an OpenTelemetry tracer; a span
processor collects each trace's spans and, when the root span ends, queues the trace for
a background thread that writes batches to the store the tracking URI names. The
application never blocks on storage and never sees an exception from the SDK.
Everything heavy (the OTel SDK, the exporter thread, the store) is set up on first use.
"""

from __future__ import annotations

from spanscope.tracing.decorator import trace
from spanscope.tracing.fluent import (
    disable,
    enable,
    flush,
    flush_trace_async_logging,
    get_current_active_span,
    get_export_stats,
    get_last_active_trace_id,
    is_enabled,
    start_span,
    update_current_trace,
)
from spanscope.tracing.live_span import LiveSpan, NoOpSpan

__all__ = [
    "LiveSpan",
    "NoOpSpan",
    "disable",
    "enable",
    "flush",
    "flush_trace_async_logging",
    "get_current_active_span",
    "get_export_stats",
    "get_last_active_trace_id",
    "is_enabled",
    "start_span",
    "trace",
    "update_current_trace",
]
