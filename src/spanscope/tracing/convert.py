"""Turn finished OpenTelemetry spans into Spanscope entities (runs on the export thread).

Spans made by Spanscope already carry JSON-encoded attribute values, which are kept as
they are. Spans from other instrumentations carry raw OTel values (str, int, float, bool,
sequences); those are JSON-encoded, and the conventions they speak (OTel GenAI,
OpenInference, OpenLLMetry, MLflow) are mapped onto MLflow's attributes by
``spanscope.tracing.conventions``, the one module that knows them.

``summarize`` computes a trace's summary (state, times, previews, token usage, name)
from its spans; the OTLP receiver uses it too, for traces that arrive in parts.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import StatusCode

from spanscope.entities import (
    Span,
    SpanAttributeKey,
    SpanEvent,
    SpanStatus,
    SpanStatusCode,
    Trace,
    TraceData,
    TraceInfo,
    TraceMetadataKey,
    TraceState,
    TraceTagKey,
    trace_token_usage,
)
from spanscope.entities._codec import dumps
from spanscope.tracing import conventions
from spanscope.tracing.live_span import JSON_KEYS_ATTRIBUTE, SCOPE_NAME
from spanscope.tracing.processor import PendingTrace, TraceContext

__all__ = ["summarize", "to_span", "to_trace"]

PREVIEW_LENGTH = 1000
METADATA_PREVIEW_LENGTH = 250
TRACE_SCHEMA_VERSION = "3"

_STATUS = {StatusCode.UNSET: SpanStatusCode.UNSET, StatusCode.OK: SpanStatusCode.OK,
           StatusCode.ERROR: SpanStatusCode.ERROR}


def to_trace(pending: PendingTrace) -> Trace:
    """The entity ``Trace`` for a trace whose local root just ended."""
    root_otel = pending.root
    trace_id = "tr-" + format(root_otel.context.trace_id, "032x")
    request_id = dumps(trace_id)
    spans = _ordered([to_span(s, trace_id, request_id, is_root=s is root_otel)
                      for s in pending.spans])
    root_id = format(root_otel.context.span_id, "016x")
    root = next(s for s in spans if s.span_id == root_id)
    context = pending.context or TraceContext()
    metadata: dict[str, str] = {}
    for otel in pending.spans:  # session and user named by foreign instrumentations
        scope = otel.instrumentation_scope
        if otel.attributes and (scope is None or scope.name != SCOPE_NAME):
            for key, value in conventions.trace_context(_plain_attributes(otel)).items():
                metadata.setdefault(key, value)
    metadata.update(context.metadata)
    info = summarize(trace_id, pending.experiment_id, spans, root, metadata=metadata,
                     tags=context.tags, request_preview=context.request_preview,
                     response_preview=context.response_preview)
    info.client_request_id = context.client_request_id
    return Trace(info, TraceData(spans))


def summarize(trace_id: str, experiment_id: str, spans: Sequence[Span], root: Span | None, *,
              metadata: Mapping[str, str] | None = None, tags: Mapping[str, str] | None = None,
              request_preview: str | None = None,
              response_preview: str | None = None) -> TraceInfo:
    """A trace's summary from its spans: state, times, previews, token usage, name.

    ``root`` is the trace's root span, or None while it has not arrived (a trace sent in
    parts): the trace is then ``IN_PROGRESS`` from its earliest span, with no duration.
    Given ``metadata`` and ``tags`` win over the computed ones; given previews win over
    the root's inputs and outputs.
    """
    computed: dict[str, str] = {TraceMetadataKey.SCHEMA_VERSION: TRACE_SCHEMA_VERSION}
    inputs = outputs = None
    if root is not None:
        inputs = root.raw_attributes.get(SpanAttributeKey.INPUTS)
        outputs = root.raw_attributes.get(SpanAttributeKey.OUTPUTS)
        if inputs is not None:
            computed[TraceMetadataKey.INPUTS] = _truncate(inputs, METADATA_PREVIEW_LENGTH)
        if outputs is not None:
            computed[TraceMetadataKey.OUTPUTS] = _truncate(outputs, METADATA_PREVIEW_LENGTH)
    usage = trace_token_usage(spans)
    if usage:
        computed[TraceMetadataKey.TOKEN_USAGE] = dumps(usage)
    if metadata:
        computed.update(metadata)
    if root is not None:
        start = root.start_time_ns
        end = root.end_time_ns if root.end_time_ns is not None else start
        duration: int | None = round((end - start) / 1_000_000)  # nearest ms, not floor
        state = (TraceState.ERROR if root.status.status_code == SpanStatusCode.ERROR
                 else TraceState.OK)
    else:
        start = min((span.start_time_ns for span in spans), default=0)
        duration, state = None, TraceState.IN_PROGRESS
    all_tags = {TraceTagKey.TRACE_NAME: root.name} if root is not None else {}
    if tags:
        all_tags.update(tags)
    return TraceInfo(
        trace_id=trace_id,
        experiment_id=experiment_id,
        request_time=start // 1_000_000,
        execution_duration=duration,
        state=state,
        request_preview=request_preview if request_preview is not None
        else _truncate(inputs, PREVIEW_LENGTH),
        response_preview=response_preview if response_preview is not None
        else _truncate(outputs, PREVIEW_LENGTH),
        trace_metadata=computed,
        tags=all_tags,
    )


def to_span(otel: ReadableSpan, trace_id: str, request_id: str | None = None, *,
            is_root: bool = False) -> Span:
    """One OTel span as an entity ``Span`` of the trace ``trace_id``."""
    attributes = _plain_attributes(otel)
    raw: dict[str, str] = {SpanAttributeKey.REQUEST_ID: request_id or dumps(trace_id)}
    scope = otel.instrumentation_scope
    ours = scope is not None and scope.name == SCOPE_NAME
    if ours:
        raw.update(attributes)
        for key, value in attributes.items():
            if value.__class__ is not str:  # set through the OTel API, not a LiveSpan
                raw[key] = dumps(value)
    else:
        already_json = set(attributes.get(JSON_KEYS_ATTRIBUTE) or ())
        for key, value in attributes.items():
            if key == JSON_KEYS_ATTRIBUTE:
                continue
            raw[key] = value if key in already_json and isinstance(value, str) else dumps(value)
    events = [SpanEvent(event.name, event.timestamp,
                        {k: list(v) if isinstance(v, tuple) else v
                         for k, v in (event.attributes or {}).items()})
              for event in otel.events] if otel.events else []
    if not ours:
        conventions.translate(raw, attributes, events)
    parent = otel.parent
    status = otel.status
    code = _STATUS[status.status_code]
    if ours and code is SpanStatusCode.UNSET:
        code = SpanStatusCode.OK  # a Spanscope span that ended without error
    return Span(
        trace_id,
        format(otel.context.span_id, "016x"),
        None if is_root or parent is None or parent.is_remote
        else format(parent.span_id, "016x"),
        otel.name or "",
        otel.start_time or 0,
        otel.end_time,
        SpanStatus(code, status.description or ""),
        raw,
        events,
    )


def _plain_attributes(otel: ReadableSpan) -> Mapping[str, Any]:
    """The span's attributes as a dict, cheaply.

    An ended span's ``BoundedAttributes`` is immutable; reading its backing dict avoids a
    Python-level ``__getitem__`` per key on the export thread (it falls back to the
    public mapping interface if that internal ever changes).
    """
    attributes = getattr(otel, "_attributes", None)  # .attributes wraps it in a proxy
    if attributes is None:
        attributes = otel.attributes
    if not attributes:
        return {}
    backing = getattr(attributes, "_dict", None)
    return backing if isinstance(backing, dict) else dict(attributes)


def _truncate(text: str | None, limit: int) -> str | None:
    if text is None or len(text) <= limit:
        return text
    return text[: limit - 3] + "..."


def _ordered(spans: list[Span]) -> list[Span]:
    """Spans by start time, every parent before its children (depth-first)."""
    by_id = {span.span_id: span for span in spans}
    children: dict[str | None, list[Span]] = {}
    tops: list[Span] = []
    for span in sorted(spans, key=lambda s: s.start_time_ns):
        if span.parent_id is not None and span.parent_id in by_id:
            children.setdefault(span.parent_id, []).append(span)
        else:
            tops.append(span)
    ordered: list[Span] = []
    stack = list(reversed(tops))
    while stack:
        span = stack.pop()
        ordered.append(span)
        stack.extend(reversed(children.get(span.span_id, ())))
    return ordered
