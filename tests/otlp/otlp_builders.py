"""OTLP ``ExportTraceServiceRequest`` messages built by hand, for the receiver tests."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span as PbSpan
from opentelemetry.proto.trace.v1.trace_pb2 import Status

NS = 1_000_000_000


def new_trace_id() -> bytes:
    return os.urandom(16)


def new_span_id() -> bytes:
    return os.urandom(8)


def any_value(value: Any) -> AnyValue:
    if isinstance(value, bool):
        return AnyValue(bool_value=value)
    if isinstance(value, int):
        return AnyValue(int_value=value)
    if isinstance(value, float):
        return AnyValue(double_value=value)
    if isinstance(value, (list, tuple)):
        out = AnyValue()
        out.array_value.values.extend(any_value(v) for v in value)
        return out
    return AnyValue(string_value=str(value))


def key_values(attributes: dict[str, Any]) -> list[KeyValue]:
    return [KeyValue(key=k, value=any_value(v)) for k, v in attributes.items()]


@dataclass
class S:
    """One span to put in a request."""

    trace_id: bytes
    span_id: bytes
    parent_id: bytes = b""
    name: str = "span"
    start: int = 1_700_000_000 * NS
    end: int = 1_700_000_001 * NS
    attributes: dict[str, Any] = field(default_factory=dict)
    error: bool = False

    def pb(self) -> PbSpan:
        span = PbSpan(trace_id=self.trace_id, span_id=self.span_id,
                      parent_span_id=self.parent_id, name=self.name,
                      start_time_unix_nano=self.start, end_time_unix_nano=self.end,
                      kind=PbSpan.SPAN_KIND_INTERNAL)
        span.attributes.extend(key_values(self.attributes))
        if self.error:
            span.status.CopyFrom(Status(code=Status.STATUS_CODE_ERROR, message="boom"))
        return span


def request(spans: list[S], *, service: str | None = "svc") -> ExportTraceServiceRequest:
    message = ExportTraceServiceRequest()
    resource_spans = message.resource_spans.add()
    if service is not None:
        resource_spans.resource.attributes.extend(key_values({"service.name": service}))
    scope_spans = resource_spans.scope_spans.add()
    scope_spans.scope.name = "tests"
    scope_spans.spans.extend(s.pb() for s in spans)
    return message


def tr(trace_id: bytes) -> str:
    return "tr-" + trace_id.hex()
