"""OTLP trace requests (protobuf or OTLP/JSON) to Spanscope trace parts.

Shared by the HTTP receiver (``server/otlp.py``) and the gRPC one (``server/otlp_grpc.py``).
``parse_protobuf`` and ``parse_json`` turn a body into an ``ExportTraceServiceRequest`` or
raise ``OtlpDecodeError`` (HTTP 400); ``to_parts`` turns the request into one partial
``Trace`` per OTLP trace id, every span normalised by ``tracing.conventions``, and counts
the spans it rejected with the reason (an OTLP partial success).

OTLP/JSON differs from protobuf's canonical JSON in one way that matters here: trace and
span ids are hex, not base64 (``_hex_ids_to_base64`` fixes that before parsing). Field
names may be lowerCamelCase or snake_case, 64-bit integers strings or numbers, enums
integers or names, and unknown fields are ignored, as the specification requires.
"""

from __future__ import annotations

import base64
import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from google.protobuf import json_format
from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from spanscope.entities import (
    Span,
    SpanAttributeKey,
    SpanEvent,
    SpanStatus,
    SpanStatusCode,
    Trace,
    TraceData,
    TraceInfo,
)
from spanscope.tracing import conventions

__all__ = ["OtlpDecodeError", "Parts", "parse_json", "parse_protobuf", "service_names",
           "to_parts"]

_encode = json.JSONEncoder(ensure_ascii=False).encode
_encode_str = json.encoder.encode_basestring  # the C encoder for str, as _encode uses it
_STATUS = (SpanStatusCode.UNSET, SpanStatusCode.OK, SpanStatusCode.ERROR)
_ZERO_TRACE = bytes(16)
_ZERO_SPAN = bytes(8)
MAX_REASONS = 5  # distinct rejection reasons quoted in the partial-success message


class OtlpDecodeError(ValueError):
    """The body is not an OTLP ExportTraceServiceRequest; the message says why."""


@dataclass
class Parts:
    """What ``to_parts`` made of one request."""

    traces: list[Trace] = field(default_factory=list)
    spans: int = 0
    rejected: int = 0
    reasons: list[str] = field(default_factory=list)

    def reject(self, reason: str) -> None:
        self.rejected += 1
        if len(self.reasons) < MAX_REASONS and reason not in self.reasons:
            self.reasons.append(reason)

    @property
    def error_message(self) -> str:
        return "; ".join(self.reasons)


def parse_protobuf(body: bytes) -> ExportTraceServiceRequest:
    request = ExportTraceServiceRequest()
    try:
        request.ParseFromString(body)
    except (DecodeError, RuntimeError, ValueError) as exc:
        raise OtlpDecodeError(f"the body is not an OTLP ExportTraceServiceRequest "
                              f"in protobuf ({exc})") from None
    return request


def parse_json(body: bytes) -> ExportTraceServiceRequest:
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise OtlpDecodeError(f"the body is not JSON ({exc})") from None
    if not isinstance(data, dict):
        raise OtlpDecodeError("the body must be a JSON object with resourceSpans")
    try:
        _hex_ids_to_base64(data)
        return json_format.ParseDict(data, ExportTraceServiceRequest(),
                                     ignore_unknown_fields=True)
    except (json_format.ParseError, ValueError, TypeError, AttributeError,
            RecursionError) as exc:
        raise OtlpDecodeError(f"the body is not an OTLP/JSON ExportTraceServiceRequest "
                              f"({exc})") from None


_ID_KEYS = {"traceId", "trace_id", "spanId", "span_id", "parentSpanId", "parent_span_id"}


def _hex_ids_to_base64(node: Any, depth: int = 0) -> None:
    """OTLP/JSON writes ids as hex; protobuf's JSON parser wants base64 for bytes."""
    if depth > 64:
        raise ValueError("the JSON nests too deep")
    if isinstance(node, dict):
        for key, value in node.items():
            if key in _ID_KEYS and isinstance(value, str):
                try:
                    node[key] = base64.b64encode(bytes.fromhex(value)).decode()
                except ValueError:
                    raise ValueError(f"{key} {value[:40]!r} is not hex") from None
            elif isinstance(value, (dict, list)):
                _hex_ids_to_base64(value, depth + 1)
    elif isinstance(node, list):
        for item in node:
            if isinstance(item, (dict, list)):
                _hex_ids_to_base64(item, depth + 1)


def service_names(request: ExportTraceServiceRequest) -> set[str | None]:
    """The ``service.name`` of each resource in the request (None where it has none)."""
    return {_service_name(rs.resource.attributes) for rs in request.resource_spans}


def _service_name(attributes: Any) -> str | None:
    for kv in attributes:
        if kv.key == "service.name" and kv.value.WhichOneof("value") == "string_value":
            return kv.value.string_value or None
    return None


def to_parts(request: ExportTraceServiceRequest,
             experiment_of: Callable[[str | None], str]) -> Parts:
    """One partial trace per OTLP trace id; invalid spans counted with their reason.

    ``experiment_of(service_name)`` names the experiment of each resource's spans.
    """
    parts = Parts()
    builders: dict[bytes, _TraceParts] = {}
    for resource_spans in request.resource_spans:
        experiment_id = experiment_of(_service_name(resource_spans.resource.attributes))
        for scope_spans in resource_spans.scope_spans:
            for pb in scope_spans.spans:
                parts.spans += 1
                reason = _invalid(pb)
                if reason is not None:
                    parts.reject(reason)
                    continue
                raw_id = pb.trace_id
                builder = builders.get(raw_id)
                if builder is None:
                    builder = builders[raw_id] = _TraceParts("tr-" + raw_id.hex(),
                                                             experiment_id)
                try:
                    builder.add(pb)
                except (ValueError, TypeError, RecursionError) as exc:
                    parts.reject(f"span {pb.span_id.hex()}: {exc}")
    parts.traces = [builder.trace() for builder in builders.values() if builder.spans]
    return parts


def _invalid(pb: Any) -> str | None:
    """Why an OTLP span cannot be stored, or None."""
    trace_id, span_id, parent = pb.trace_id, pb.span_id, pb.parent_span_id
    if len(trace_id) != 16 or trace_id == _ZERO_TRACE:
        return f"span {span_id.hex() or '(no id)'}: trace_id must be 16 bytes, not all zero"
    if len(span_id) != 8 or span_id == _ZERO_SPAN:
        return f"span in trace {trace_id.hex()}: span_id must be 8 bytes, not all zero"
    if parent and len(parent) != 8:
        return f"span {span_id.hex()}: parent_span_id must be empty or 8 bytes"
    if pb.end_time_unix_nano and pb.end_time_unix_nano < pb.start_time_unix_nano:
        return f"span {span_id.hex()}: end_time_unix_nano is before start_time_unix_nano"
    if pb.start_time_unix_nano > 2**63 - 1 or pb.end_time_unix_nano > 2**63 - 1:
        return f"span {span_id.hex()}: a time is beyond the 64-bit signed range"
    return None


class _TraceParts:
    """The spans of one trace id in one request, and the trace metadata they imply."""

    __slots__ = ("experiment_id", "metadata", "request_id", "spans", "trace_id")

    def __init__(self, trace_id: str, experiment_id: str) -> None:
        self.trace_id = trace_id
        self.request_id = _encode(trace_id)
        self.experiment_id = experiment_id
        self.spans: list[Span] = []
        self.metadata: dict[str, str] = {}

    def add(self, pb: Any) -> None:
        attributes = _attributes(pb.attributes)
        raw: dict[str, str] = {}
        for key, value in attributes.items():
            kind = type(value)
            if kind is str:
                if key[:7] == "mlflow." and conventions.is_json(value):
                    raw[key] = value  # MLflow's exporter sends JSON-encoded values: keep them
                else:
                    raw[key] = _encode_str(value)
            elif kind is int:
                raw[key] = str(value)
            elif kind is bool:
                raw[key] = "true" if value else "false"
            else:
                raw[key] = _encode(value)
        raw[SpanAttributeKey.REQUEST_ID] = self.request_id
        events = [SpanEvent(event.name, event.time_unix_nano, _attributes(event.attributes))
                  for event in pb.events] if pb.events else []
        conventions.translate(raw, attributes, events)
        context = conventions.trace_context(attributes)
        for key, value in context.items():
            self.metadata.setdefault(key, value)
        status = pb.status
        extra: dict[str, Any] = {}
        if pb.links:
            extra["links"] = [{"trace_id": link.trace_id.hex(), "span_id": link.span_id.hex(),
                               "trace_state": link.trace_state,
                               "attributes": {k: _encode(v) for k, v in
                                              _attributes(link.attributes).items()}}
                              for link in pb.links]
        parent = pb.parent_span_id
        self.spans.append(Span(
            self.trace_id, pb.span_id.hex(), parent.hex() if parent else None, pb.name,
            pb.start_time_unix_nano, pb.end_time_unix_nano or None,
            SpanStatus(_STATUS[status.code] if 0 <= status.code < 3 else SpanStatusCode.UNSET,
                       status.message),
            raw, events, extra))

    def trace(self) -> Trace:
        info = TraceInfo(self.trace_id, experiment_id=self.experiment_id,
                         trace_metadata=self.metadata)
        return Trace(info, TraceData(self.spans))


def _attributes(key_values: Any) -> dict[str, Any]:
    return {kv.key: _value(kv.value) for kv in key_values}


def _value(value: Any, depth: int = 0) -> Any:
    """An OTLP ``AnyValue`` as a plain JSON value."""
    kind = value.WhichOneof("value")
    if kind == "string_value":
        return value.string_value
    if kind == "int_value" or kind == "bool_value":
        return getattr(value, kind)
    if kind == "double_value":
        number = value.double_value
        return number if math.isfinite(number) else str(number)
    if depth > 32:
        raise ValueError("an attribute value nests deeper than 32 levels")
    if kind == "array_value":
        return [_value(item, depth + 1) for item in value.array_value.values]
    if kind == "kvlist_value":
        return {kv.key: _value(kv.value, depth + 1) for kv in value.kvlist_value.values}
    if kind == "bytes_value":
        return base64.b64encode(value.bytes_value).decode()
    return None
