"""The tracing functions users call besides ``@trace`` (MLflow's names and semantics).

None of them raises because of a Spanscope problem: failures are logged once and the
call degrades to doing nothing (``start_span`` then yields a ``NoOpSpan``).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from types import TracebackType
from typing import Any

from opentelemetry import trace as otel_trace
from opentelemetry.context import attach, detach
from opentelemetry.trace import set_span_in_context

from spanscope.entities import SpanAttributeKey, SpanType, TraceMetadataKey
from spanscope.tracing._state import STATE, forget_logged, get_tracer, log_once
from spanscope.tracing.live_span import (
    NO_OP_SPAN,
    LiveSpan,
    NoOpSpan,
    attribute_items,
    encode,
    record_exception,
    safe_key,
)

__all__ = [
    "disable",
    "enable",
    "flush",
    "flush_trace_async_logging",
    "get_current_active_span",
    "get_export_stats",
    "get_last_active_trace_id",
    "is_enabled",
    "reset_for_tests",
    "start_span",
    "update_current_trace",
]

logger = logging.getLogger(__name__)


class _SpanContextManager:
    """What ``start_span`` returns: enter opens and activates the span, exit ends it."""

    __slots__ = ("_attributes", "_name", "_span", "_span_type", "_token")

    def __init__(self, name: str, span_type: str, attributes: dict[str, Any] | None) -> None:
        self._name = name
        self._span_type = span_type
        self._attributes = attributes
        self._span: Any = None
        self._token: Any = None

    def __enter__(self) -> LiveSpan | NoOpSpan:
        if not STATE.enabled:
            return NO_OP_SPAN
        try:
            span = get_tracer().start_span(safe_key(self._name))
            self._token = attach(set_span_in_context(span))
            self._span = span
            if not span.is_recording():  # sampled out
                return NO_OP_SPAN
            values = {SpanAttributeKey.SPAN_TYPE: encode(safe_key(self._span_type))}
            for key, value in attribute_items(self._attributes):
                values[safe_key(key)] = encode(value)
            span.set_attributes(values)
            return LiveSpan(span)
        except Exception:
            log_once(logger, "start_span.enter", "Spanscope could not start a span")
            return NO_OP_SPAN

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        span, token = self._span, self._token
        self._span = self._token = None
        if span is None:
            return
        try:
            detach(token)
            if span.is_recording():
                if exc is not None:
                    record_exception(span, exc)
                span.end()
        except Exception:
            log_once(logger, "start_span.exit", "Spanscope could not end a span")
        # returning None: the user's exception, if any, propagates unchanged


def start_span(name: str = "span", span_type: str = SpanType.UNKNOWN,
               attributes: dict[str, Any] | None = None) -> _SpanContextManager:
    """Open a span for a ``with`` block; the block's span is the current one inside it.

    ``with start_span("retrieve", span_type=SpanType.RETRIEVER) as span:`` gives a
    ``LiveSpan`` (a ``NoOpSpan`` when tracing is disabled or the trace is sampled out).
    An exception leaving the block marks the span ERROR and propagates unchanged.
    """
    return _SpanContextManager(name, span_type, attributes)


def get_current_active_span() -> LiveSpan | None:
    """The span currently running in this context (thread or asyncio task), if any."""
    span = otel_trace.get_current_span()
    if not span.is_recording() or not hasattr(span, "instrumentation_scope"):
        return None
    return LiveSpan(span)  # type: ignore[arg-type]


def get_last_active_trace_id() -> str | None:
    """Id of the last trace whose root span ended in this process."""
    trace_id = STATE.last_trace_id
    return None if trace_id is None else "tr-" + format(trace_id, "032x")


def update_current_trace(tags: dict[str, Any] | None = None,
                         metadata: dict[str, Any] | None = None,
                         client_request_id: str | None = None,
                         request_preview: str | None = None,
                         response_preview: str | None = None,
                         session_id: str | None = None,
                         user_id: str | None = None) -> None:
    """Set trace-level fields of the running trace (written when its root span ends).

    ``session_id`` and ``user_id`` are kept as the metadata ``mlflow.trace.session`` and
    ``mlflow.trace.user``. Outside a trace this logs a warning and does nothing.
    """
    span = otel_trace.get_current_span()
    span_context = span.get_span_context()
    if not span_context.is_valid:
        logger.warning("update_current_trace() was called outside a trace; nothing to update")
        return
    if not span.is_recording() or not STATE.enabled:
        return  # sampled out or disabled: nothing is recorded for this trace
    try:
        from spanscope.tracing.provider import SETUP

        processor = SETUP.processor
        context = processor.context_for(span_context.trace_id) if processor else None
    except Exception:
        log_once(logger, "update_current_trace", "Spanscope could not update the trace")
        return
    if context is None:
        logger.warning("update_current_trace(): the current trace is not recorded by "
                       "Spanscope; nothing to update")
        return
    # Each argument on its own: one bad argument is reported and the others still apply.
    # Limits (key and value lengths, NUL) are applied when the trace is exported, where
    # they are counted (get_export_stats()["cleaned_fields"]) and marked on the trace.
    _apply(context.tags, "tags", tags)
    _apply(context.metadata, "metadata", metadata)
    for key, value in ((TraceMetadataKey.SESSION, session_id),
                       (TraceMetadataKey.USER, user_id)):
        if value is not None:
            context.metadata[key] = _text(value)
    if client_request_id is not None:
        context.client_request_id = _text(client_request_id)
    if request_preview is not None:
        context.request_preview = _text(request_preview)
    if response_preview is not None:
        context.response_preview = _text(response_preview)


def _apply(target: dict[str, str], name: str, values: Any) -> None:
    """Merge a ``tags=`` or ``metadata=`` argument; anything but a dict is reported."""
    if values is None:
        return
    if not isinstance(values, Mapping):
        log_once(logger, f"update_current_trace.{name}", "update_current_trace(%s=...) "
                 "expects a dict, got %s; that argument is ignored", name,
                 type(values).__name__, exc_info=False, level=logging.WARNING)
        return
    for key, value in attribute_items(values):
        target[safe_key(key)] = _text(value)


def _text(value: Any) -> str:
    """A trace field's text: strings as they are (made valid Unicode), others as JSON."""
    return safe_key(value) if isinstance(value, str) else encode(value)


def flush(timeout: float | None = None) -> bool:
    """Wait until every trace finished so far is written to its store.

    True when all were written; False when ``timeout`` (seconds) ran out first, or when
    any trace was dropped since the previous flush (queue full, or it could not be
    written; counted in ``get_export_stats()``).
    """
    if STATE.tracer is None:
        return True  # nothing was ever traced
    try:
        from spanscope.tracing.provider import SETUP

        exporter = SETUP.exporter
        return True if exporter is None else exporter.flush(timeout)
    except Exception:
        log_once(logger, "flush", "Spanscope could not flush traces")
        return False


def flush_trace_async_logging(timeout: float | None = None) -> bool:
    """MLflow's name for ``flush``."""
    return flush(timeout)


def disable() -> None:
    """Turn tracing off: ``@trace`` and ``start_span`` become no-ops (near-zero cost)."""
    STATE.enabled = False


def enable() -> None:
    """Turn tracing on, and install the OpenTelemetry provider now.

    Installing it early matters when spans come only from other OpenTelemetry
    instrumentation (OpenInference, OpenLLMetry): they land in Spanscope once the global
    provider is Spanscope's.
    """
    STATE.enabled = True
    try:
        get_tracer()
    except Exception:
        log_once(logger, "enable", "Spanscope could not set up tracing")


def is_enabled() -> bool:
    return STATE.enabled


def get_export_stats() -> dict[str, int]:
    """Public numbers for monitoring the SDK's export pipeline.

    ``queue_depth``/``queue_capacity`` (traces waiting), ``exported``, ``dropped`` (queue
    full or lost to errors), ``failed_batches``, ``in_flight`` (being written now),
    ``dropped_incomplete_traces`` (evicted before their root ended) and
    ``dropped_late_spans`` (ended after their root), ``cleaned_fields`` (tag, metadata
    and other trace fields cut or cleaned to fit the limits; their traces are kept),
    ``unserialisable_values`` (values stored as an ``<unserialisable ...>`` marker) and
    ``blocked`` (producers that waited for room with ``SPANSCOPE_EXPORT_ON_FULL=block``).
    """
    stats = {"queue_depth": 0, "queue_capacity": 0, "dropped": 0, "exported": 0,
             "failed_batches": 0, "in_flight": 0, "dropped_incomplete_traces": 0,
             "dropped_late_spans": 0, "cleaned_fields": 0, "blocked": 0,
             "unserialisable_values": STATE.unserialisable_values}
    if STATE.tracer is None:
        from spanscope.tracing.exporter import DEFAULT_QUEUE_SIZE, QUEUE_SIZE_ENV

        raw = os.environ.get(QUEUE_SIZE_ENV, "")
        stats["queue_capacity"] = int(raw) if raw.isdigit() and int(raw) > 0 \
            else DEFAULT_QUEUE_SIZE
        return stats
    from spanscope.tracing.provider import SETUP

    if SETUP.exporter is not None:
        stats.update(SETUP.exporter.stats())
    if SETUP.processor is not None:
        stats["dropped_incomplete_traces"] = SETUP.processor.dropped_incomplete
        stats["dropped_late_spans"] = SETUP.processor.dropped_late_spans
    return stats


def reset_for_tests(exporter: Any = None) -> None:
    """Tests: flush, then forget buffered spans and counters and re-read the environment.

    ``exporter`` swaps in a ``TraceExporter`` built by the test (tiny queue, slow writer).
    """
    flush(timeout=10.0)
    STATE.enabled = True
    STATE.last_trace_id = None
    STATE.unserialisable_values = 0
    forget_logged()
    from spanscope.tracing.provider import reset

    reset(exporter)
