"""The span processor: collect finished OTel spans per trace, hand whole traces on.

It runs on the application's thread for every span, so it must never block and never
raise. ``on_end`` only appends the span to its trace's buffer; when a local root span
(no parent, or a remote parent) ends, the buffered spans plus the little context that
must be captured right then (trace-level fields from ``update_current_trace``, the active
experiment, the tracking URI) go to the exporter's queue. Conversion to entities happens
on the exporter's thread.

Traces whose root never ends cannot grow memory forever: at most ``max_traces`` traces
are buffered, and starting one more drops (and counts) the oldest.
"""

from __future__ import annotations

import logging
import os
import threading
from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor

from spanscope import tracking
from spanscope.tracing._state import STATE, log_once

if TYPE_CHECKING:
    from opentelemetry.context import Context
    from opentelemetry.sdk.trace import Span as OTelSpan

    from spanscope.tracing.exporter import TraceExporter

__all__ = ["PendingTrace", "SpanscopeSpanProcessor", "TraceContext"]

logger = logging.getLogger(__name__)

MAX_BUFFERED_TRACES_ENV = "SPANSCOPE_MAX_BUFFERED_TRACES"
DEFAULT_MAX_BUFFERED_TRACES = 10_000
_RECENT_ROOTS = 4096  # finished trace ids remembered to recognise spans ending late


@dataclass
class TraceContext:
    """Trace-level fields set with ``update_current_trace`` while the trace runs."""

    tags: dict[str, str] = field(default_factory=dict)
    metadata: dict[str, str] = field(default_factory=dict)
    client_request_id: str | None = None
    request_preview: str | None = None
    response_preview: str | None = None


class _TraceBuffer:
    __slots__ = ("context", "spans")

    def __init__(self) -> None:
        self.spans: list[ReadableSpan] = []
        self.context: TraceContext | None = None


@dataclass
class PendingTrace:
    """A finished trace as captured at root end; converted to a ``Trace`` off-thread."""

    root: ReadableSpan
    spans: list[ReadableSpan]  # the root included
    context: TraceContext | None
    experiment_id: str
    tracking_uri: str


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if not raw:
        return default
    try:
        value = int(raw)
        if value > 0:
            return value
    except ValueError:
        pass
    logger.warning("%s=%r is not a positive integer; using %d", name, raw, default)
    return default


class SpanscopeSpanProcessor(SpanProcessor):
    """Buffers spans per trace and enqueues each trace when its local root ends."""

    def __init__(self, exporter: TraceExporter, max_traces: int | None = None) -> None:
        self.exporter = exporter
        self._max_traces_arg = max_traces
        self.clear()

    # --- the OTel SpanProcessor interface (application thread) -----------------------
    def on_start(self, span: OTelSpan, parent_context: Context | None = None) -> None:
        pass

    def on_end(self, span: ReadableSpan) -> None:
        try:
            context = span.context
            if not context.trace_flags & 1:  # not sampled (a foreign RECORD_ONLY sampler)
                return
            parent = span.parent
            if parent is None or parent.is_remote:
                self._finish(context.trace_id, span)
                return
            buffer = self._traces.get(context.trace_id)
            if buffer is None:
                buffer = self._new_buffer(context.trace_id)
                if buffer is None:
                    return
            buffer.spans.append(span)
        except Exception:  # the one broad catch: never hurt the traced application
            log_once(logger, "processor.on_end", "Spanscope could not record a span")

    def shutdown(self) -> None:
        try:
            self.exporter.shutdown(self.exporter.exit_timeout)
        except Exception:
            log_once(logger, "processor.shutdown", "Spanscope could not shut down its exporter")

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        try:
            return self.exporter.flush(timeout_millis / 1000)
        except Exception:
            log_once(logger, "processor.flush", "Spanscope could not flush its exporter")
            return False

    # --- trace-level context -----------------------------------------------------------
    def context_for(self, trace_id: int) -> TraceContext | None:
        """The mutable trace-level fields of a running trace (None if it already ended)."""
        buffer = self._traces.get(trace_id)
        if buffer is None:
            buffer = self._new_buffer(trace_id)
            if buffer is None:
                return None
        if buffer.context is None:
            buffer.context = TraceContext()
        return buffer.context

    # --- internals ---------------------------------------------------------------------
    def _new_buffer(self, trace_id: int) -> _TraceBuffer | None:
        with self._lock:
            buffer = self._traces.get(trace_id)
            if buffer is not None:
                return buffer
            if trace_id in self._recent_set:  # its root already ended: too late to export
                self.dropped_late_spans += 1
                log_once(logger, "processor.late", "A span ended after the root span of its "
                         "trace; it is not recorded (end child spans before their root)",
                         exc_info=False, level=logging.WARNING)
                return None
            while len(self._traces) >= self.max_traces:
                oldest = next(iter(self._traces))
                del self._traces[oldest]
                self._remember_finished(oldest)  # its root and later spans are dropped too
                self.dropped_incomplete += 1
                log_once(logger, "processor.evict", "More than %d traces are in progress; "
                         "dropping the oldest unfinished ones (see get_export_stats())",
                         self.max_traces, exc_info=False, level=logging.WARNING)
            buffer = self._traces[trace_id] = _TraceBuffer()
            return buffer

    def _remember_finished(self, trace_id: int) -> None:
        """Called with the lock held: later spans of this trace are late."""
        if len(self._recent) == self._recent.maxlen:
            self._recent_set.discard(self._recent[0])
        self._recent.append(trace_id)
        self._recent_set.add(trace_id)

    def _finish(self, trace_id: int, root: ReadableSpan) -> None:
        buffer = self._traces.pop(trace_id, None)
        if root.parent is None:  # (a trace continued from elsewhere may have more local roots)
            with self._lock:
                if buffer is None and trace_id in self._recent_set:
                    return  # evicted while in progress: already counted as dropped
                self._remember_finished(trace_id)
        if not STATE.enabled:
            return
        if buffer is None:
            spans, context = [root], None
        else:
            spans, context = buffer.spans, buffer.context
            spans.append(root)
        STATE.last_trace_id = trace_id  # formatted when asked for
        self.exporter.enqueue(PendingTrace(root, spans, context, tracking.get_experiment_id(),
                                           tracking.get_tracking_uri()))

    def clear(self) -> None:
        """Forget buffered spans and counters (tests, and a child process after fork).

        Also re-reads ``SPANSCOPE_MAX_BUFFERED_TRACES`` unless a limit was passed in.
        """
        self.max_traces = self._max_traces_arg or _env_int(MAX_BUFFERED_TRACES_ENV,
                                                           DEFAULT_MAX_BUFFERED_TRACES)
        self._lock = threading.Lock()
        self._traces = {}
        self._recent = deque(maxlen=_RECENT_ROOTS)
        self._recent_set = set()
        self.dropped_incomplete = 0
        self.dropped_late_spans = 0
