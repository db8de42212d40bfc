"""Turn finished OpenTelemetry spans into Spanscope entities (runs on the export thread).

Spans made by Spanscope already carry JSON-encoded attribute values, which are kept as
they are. Spans from other instrumentations carry raw OTel values (str, int, float, bool,
sequences); those are JSON-encoded, and the GenAI conventions they speak are mapped onto
MLflow's attributes: span type from OpenInference ``openinference.span.kind`` or GenAI
semconv ``gen_ai.operation.name``, inputs and outputs from ``input.value`` /
``output.value`` (or ``gen_ai.input.messages`` / ``gen_ai.output.messages``), token usage
from ``gen_ai.usage.*`` / ``llm.token_count.*``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import StatusCode

from spanscope.entities import (
    Span,
    SpanAttributeKey,
    SpanEvent,
    SpanStatus,
    SpanStatusCode,
    SpanType,
    Trace,
    TraceData,
    TraceInfo,
    TraceMetadataKey,
    TraceState,
    TraceTagKey,
    trace_token_usage,
)
from spanscope.entities._codec import dumps
from spanscope.entities.token_usage import usage_from_attributes
from spanscope.tracing.live_span import JSON_KEYS_ATTRIBUTE, SCOPE_NAME
from spanscope.tracing.processor import PendingTrace, TraceContext

__all__ = ["to_span", "to_trace"]

PREVIEW_LENGTH = 1000
METADATA_PREVIEW_LENGTH = 250
TRACE_SCHEMA_VERSION = "3"

_OPENINFERENCE_KINDS = {"LLM", "CHAIN", "TOOL", "RETRIEVER", "EMBEDDING", "AGENT", "RERANKER",
                        "GUARDRAIL", "EVALUATOR"}
_GENAI_OPERATIONS = {"chat": SpanType.CHAT_MODEL, "text_completion": SpanType.LLM,
                     "generate_content": SpanType.CHAT_MODEL, "embeddings": SpanType.EMBEDDING,
                     "execute_tool": SpanType.TOOL, "invoke_agent": SpanType.AGENT,
                     "create_agent": SpanType.AGENT}
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

    inputs = root.raw_attributes.get(SpanAttributeKey.INPUTS)
    outputs = root.raw_attributes.get(SpanAttributeKey.OUTPUTS)
    metadata: dict[str, str] = {TraceMetadataKey.SCHEMA_VERSION: TRACE_SCHEMA_VERSION}
    if inputs is not None:
        metadata[TraceMetadataKey.INPUTS] = _truncate(inputs, METADATA_PREVIEW_LENGTH)
    if outputs is not None:
        metadata[TraceMetadataKey.OUTPUTS] = _truncate(outputs, METADATA_PREVIEW_LENGTH)
    usage = trace_token_usage(spans)
    if usage:
        metadata[TraceMetadataKey.TOKEN_USAGE] = dumps(usage)
    metadata.update(context.metadata)

    start = root.start_time_ns
    end = root.end_time_ns if root.end_time_ns is not None else start
    info = TraceInfo(
        trace_id=trace_id,
        experiment_id=pending.experiment_id,
        request_time=start // 1_000_000,
        execution_duration=round((end - start) / 1_000_000),  # nearest ms, not floor
        state=TraceState.ERROR if root.status.status_code == SpanStatusCode.ERROR
        else TraceState.OK,
        request_preview=context.request_preview if context.request_preview is not None
        else _truncate(inputs, PREVIEW_LENGTH),
        response_preview=context.response_preview if context.response_preview is not None
        else _truncate(outputs, PREVIEW_LENGTH),
        client_request_id=context.client_request_id,
        trace_metadata=metadata,
        tags={TraceTagKey.TRACE_NAME: root.name, **context.tags},
    )
    return Trace(info, TraceData(spans))


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
        _translate_conventions(raw, attributes)
    parent = otel.parent
    status = otel.status
    code = _STATUS[status.status_code]
    if ours and code is SpanStatusCode.UNSET:
        code = SpanStatusCode.OK  # a Spanscope span that ended without error
    events = otel.events
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
        [SpanEvent(event.name, event.timestamp,
                   {k: list(v) if isinstance(v, tuple) else v
                    for k, v in (event.attributes or {}).items()})
         for event in events] if events else [],
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


def _translate_conventions(raw: dict[str, str], attributes: Mapping[str, Any]) -> None:
    """Fill MLflow's keys from OpenInference / GenAI semconv attributes when missing."""
    if SpanAttributeKey.SPAN_TYPE not in raw:
        raw[SpanAttributeKey.SPAN_TYPE] = dumps(str(_foreign_span_type(attributes)))
    if SpanAttributeKey.INPUTS not in raw:
        value = _json_payload(attributes, "input.value", "input.mime_type",
                              "gen_ai.input.messages")
        if value is not None:
            raw[SpanAttributeKey.INPUTS] = value
    if SpanAttributeKey.OUTPUTS not in raw:
        value = _json_payload(attributes, "output.value", "output.mime_type",
                              "gen_ai.output.messages")
        if value is not None:
            raw[SpanAttributeKey.OUTPUTS] = value
    if SpanAttributeKey.CHAT_USAGE not in raw:
        usage = usage_from_attributes(attributes)
        if usage:
            raw[SpanAttributeKey.CHAT_USAGE] = dumps(usage)


def _foreign_span_type(attributes: Mapping[str, Any]) -> str:
    kind = attributes.get("openinference.span.kind")
    if isinstance(kind, str) and kind.upper() in _OPENINFERENCE_KINDS:
        return kind.upper()
    operation = attributes.get("gen_ai.operation.name")
    if isinstance(operation, str) and operation in _GENAI_OPERATIONS:
        return _GENAI_OPERATIONS[operation]
    return SpanType.UNKNOWN


def _json_payload(attributes: Mapping[str, Any], value_key: str, mime_key: str,
                  messages_key: str) -> str | None:
    """A payload as JSON text: JSON strings kept (when they parse), plain text encoded."""
    value = attributes.get(value_key)
    if value is not None:
        if isinstance(value, str) and attributes.get(mime_key) == "application/json":
            return value if _is_json(value) else dumps(value)
        return dumps(value)
    messages = attributes.get(messages_key)
    if messages is None:
        return None
    return messages if isinstance(messages, str) and _is_json(messages) else dumps(messages)


def _is_json(text: str) -> bool:
    try:
        json.loads(text)
    except ValueError:
        return False
    return True


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
