"""Spans: one timed step of a request, with inputs, outputs, status and attributes.

A ``Span`` keeps its attributes exactly as the trace JSON writes them (each value a
JSON-encoded string) and decodes them on access. That makes JSON round-trips exact and
keeps loading a stored trace cheap when only a few attributes are read. A span read back
from a store goes one step further (``Span.from_stored``): its ids, name and times come
from the store's columns and the rest of its JSON is decoded only when first used, so
listing a page of traces with their spans costs no JSON parsing at all.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from spanscope.entities._codec import decode_id, dumps, loads_attribute
from spanscope.entities._enum import StrEnum

__all__ = ["Span", "SpanAttributeKey", "SpanEvent", "SpanStatus", "SpanStatusCode", "SpanType"]


class SpanType(StrEnum):
    """Well-known span types. Any other string is allowed as a span type too."""

    LLM = "LLM"
    CHAT_MODEL = "CHAT_MODEL"
    RETRIEVER = "RETRIEVER"
    TOOL = "TOOL"
    AGENT = "AGENT"
    CHAIN = "CHAIN"
    EMBEDDING = "EMBEDDING"
    RERANKER = "RERANKER"
    PARSER = "PARSER"
    MEMORY = "MEMORY"
    WORKFLOW = "WORKFLOW"
    TASK = "TASK"
    GUARDRAIL = "GUARDRAIL"
    EVALUATOR = "EVALUATOR"
    UNKNOWN = "UNKNOWN"


class SpanStatusCode(StrEnum):
    """OpenTelemetry status codes; the trace JSON writes them as ``STATUS_CODE_<name>``."""

    UNSET = "UNSET"
    OK = "OK"
    ERROR = "ERROR"

    @classmethod
    def parse(cls, value: str | SpanStatusCode) -> SpanStatusCode:
        text = str(value).upper()
        return cls(text.removeprefix("STATUS_CODE_"))

    def to_json(self) -> str:
        return f"STATUS_CODE_{self.value}"


class SpanAttributeKey:
    """Reserved attribute keys, named as MLflow names them."""

    REQUEST_ID = "mlflow.traceRequestId"
    INPUTS = "mlflow.spanInputs"
    OUTPUTS = "mlflow.spanOutputs"
    SPAN_TYPE = "mlflow.spanType"
    FUNCTION_NAME = "mlflow.spanFunctionName"
    CHAT_USAGE = "mlflow.chat.tokenUsage"


@dataclass(frozen=True)
class SpanStatus:
    """A span's outcome: a status code and, for errors, a short description."""

    status_code: SpanStatusCode = SpanStatusCode.UNSET
    description: str = ""

    def to_dict(self) -> dict[str, str]:
        return {"code": self.status_code.to_json(), "message": self.description}

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> SpanStatus:
        data = data or {}
        return cls(SpanStatusCode.parse(data.get("code") or "UNSET"), data.get("message") or "")


@dataclass(frozen=True)
class SpanEvent:
    """Something that happened at one instant inside a span (an exception, a stream chunk)."""

    name: str
    timestamp_ns: int
    attributes: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "time_unix_nano": self.timestamp_ns,
                "attributes": dict(self.attributes)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SpanEvent:
        return cls(data["name"], int(data.get("time_unix_nano") or 0),
                   dict(data.get("attributes") or {}))


@dataclass(frozen=True, eq=False)
class Span:
    """One finished (or, in a live trace, still open) span of a trace.

    ``trace_id`` is the Spanscope trace id (``tr-`` + 32 hex digits); ``span_id`` and
    ``parent_id`` are 16 hex digits; ``raw_attributes`` holds JSON-encoded values.
    """

    trace_id: str
    span_id: str
    parent_id: str | None
    name: str
    start_time_ns: int
    end_time_ns: int | None
    status: SpanStatus = field(default_factory=SpanStatus)
    raw_attributes: dict[str, str] = field(default_factory=dict)
    events: list[SpanEvent] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)  # JSON keys we do not model (links)

    # --- convenient views -------------------------------------------------------------
    @cached_property
    def attributes(self) -> dict[str, Any]:
        """Decoded attribute values (dicts, lists, numbers, strings)."""
        return {k: loads_attribute(v) for k, v in self.raw_attributes.items()}

    def get_attribute(self, key: str) -> Any:
        raw = self.raw_attributes.get(key)
        return None if raw is None else loads_attribute(raw)

    @property
    def span_type(self) -> str:
        value = self.get_attribute(SpanAttributeKey.SPAN_TYPE)
        if value is None:
            return SpanType.UNKNOWN
        try:
            return SpanType(value)
        except ValueError:
            return str(value)

    @property
    def inputs(self) -> Any:
        return self.get_attribute(SpanAttributeKey.INPUTS)

    @property
    def outputs(self) -> Any:
        return self.get_attribute(SpanAttributeKey.OUTPUTS)

    @property
    def status_code(self) -> SpanStatusCode:
        """``status.status_code``; a stored span answers from its column, undecoded."""
        return self.status.status_code

    @property
    def duration_ns(self) -> int | None:
        return None if self.end_time_ns is None else self.end_time_ns - self.start_time_ns

    @property
    def duration_ms(self) -> float | None:
        duration = self.duration_ns
        return None if duration is None else duration / 1e6

    @property
    def request_id(self) -> str:
        """MLflow 2 name of ``trace_id``."""
        return self.trace_id

    # --- trace JSON -------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "trace_id": self.trace_id.removeprefix("tr-"),
            "span_id": self.span_id,
            "parent_span_id": self.parent_id,
            "name": self.name,
            "start_time_unix_nano": self.start_time_ns,
            "end_time_unix_nano": self.end_time_ns,
            "events": [event.to_dict() for event in self.events],
            "status": self.status.to_dict(),
            "attributes": dict(self.raw_attributes),
        }
        data.update(self.extra)
        return data

    def to_json(self) -> str:
        """``to_dict()`` as JSON text. A span read from a store and not yet decoded gives
        back its stored text as is, so exports copy span payloads without parsing them."""
        return dumps(self.to_dict())

    @classmethod
    def from_dict(cls, data: dict[str, Any], trace_id: str | None = None) -> Span:
        """Read a span dict written by Spanscope or MLflow 3 (hex or base64 ids)."""
        known = {"trace_id", "span_id", "parent_span_id", "name", "start_time_unix_nano",
                 "end_time_unix_nano", "events", "status", "attributes"}
        raw_attributes = {k: v if isinstance(v, str) else dumps(v)
                          for k, v in (data.get("attributes") or {}).items()}
        if trace_id is None:
            request_id = loads_attribute(raw_attributes.get(SpanAttributeKey.REQUEST_ID))
            otel_trace_id = decode_id(data.get("trace_id"), 16)
            trace_id = request_id if isinstance(request_id, str) else f"tr-{otel_trace_id}"
        end = data.get("end_time_unix_nano")
        return cls(
            trace_id=trace_id,
            span_id=decode_id(data.get("span_id"), 8) or "",
            parent_id=decode_id(data.get("parent_span_id"), 8),
            name=data.get("name") or "",
            start_time_ns=int(data.get("start_time_unix_nano") or 0),
            end_time_ns=None if end is None else int(end),
            status=SpanStatus.from_dict(data.get("status")),
            raw_attributes=raw_attributes,
            events=[SpanEvent.from_dict(e) for e in data.get("events") or []],
            extra={k: v for k, v in data.items() if k not in known},
        )

    @staticmethod
    def from_stored(trace_id: str, span_id: str, parent_id: str | None, name: str,
                    start_time_ns: int, end_time_ns: int | None, content: str, *,
                    span_type: str | None = None, status_code: str | None = None) -> Span:
        """A span rebuilt from a store: the given fields are the stored columns, ``content``
        the JSON text of ``to_dict()``, decoded on first access to status, attributes,
        events or unknown keys. The columns must equal what ``content`` holds; with
        ``span_type`` and ``status_code`` columns given, ``span_type`` and ``status_code``
        need no decode either (what a span tree of 10,000 spans reads)."""
        return _StoredSpan(trace_id, span_id, parent_id, name, start_time_ns, end_time_ns,
                           content, span_type, status_code)

    @classmethod
    def build(cls, *, trace_id: str, span_id: str, parent_id: str | None, name: str,
              start_time_ns: int, end_time_ns: int | None, span_type: str = SpanType.UNKNOWN,
              inputs: Any = None, outputs: Any = None, attributes: dict[str, Any] | None = None,
              status: SpanStatus | None = None, events: list[SpanEvent] | None = None) -> Span:
        """Make a span from plain Python values (tests, importers, the demo's bulk path)."""
        raw = {SpanAttributeKey.REQUEST_ID: dumps(trace_id),
               SpanAttributeKey.SPAN_TYPE: dumps(str(span_type))}
        if inputs is not None:
            raw[SpanAttributeKey.INPUTS] = dumps(inputs)
        if outputs is not None:
            raw[SpanAttributeKey.OUTPUTS] = dumps(outputs)
        for key, value in (attributes or {}).items():
            raw[key] = dumps(value)
        return cls(trace_id, span_id, parent_id, name, start_time_ns, end_time_ns,
                   status or SpanStatus(SpanStatusCode.OK), raw, list(events or []))


_SPAN_TYPE_COLUMN = 128  # the stores' span_type column width: a value this long may be cut


class _StoredSpan(Span):
    """A ``Span`` whose JSON text is decoded on first use of a field the columns lack."""

    def __init__(self, trace_id: str, span_id: str, parent_id: str | None, name: str,
                 start_time_ns: int, end_time_ns: int | None, content: str,
                 span_type: str | None = None, status_code: str | None = None) -> None:
        fields = self.__dict__  # the dataclass is frozen: fill the instance dict directly
        fields["trace_id"] = trace_id
        fields["span_id"] = span_id
        fields["parent_id"] = parent_id
        fields["name"] = name
        fields["start_time_ns"] = start_time_ns
        fields["end_time_ns"] = end_time_ns
        fields["_content"] = content
        fields["_span_type"] = span_type
        fields["_status_code"] = status_code

    @property
    def span_type(self) -> str:
        stored = self.__dict__["_span_type"]
        if stored is None or len(stored) >= _SPAN_TYPE_COLUMN:  # absent, or maybe cut
            return super().span_type
        try:
            return SpanType(stored)
        except ValueError:
            return stored

    @property
    def status_code(self) -> SpanStatusCode:
        stored = self.__dict__["_status_code"]
        return self.status.status_code if stored is None else SpanStatusCode.parse(stored)

    def __repr__(self) -> str:  # it is a Span to its user
        return "Span" + super().__repr__().removeprefix(type(self).__qualname__)

    def to_json(self) -> str:
        if "_decoded" in self.__dict__:  # decoded: its dicts may have been changed since
            return super().to_json()
        return str(self.__dict__["_content"])

    @cached_property
    def _decoded(self) -> Span:
        return Span.from_dict(json.loads(self.__dict__["_content"]), self.trace_id)

    @property
    def status(self) -> SpanStatus:  # type: ignore[override]
        return self._decoded.status

    @property
    def raw_attributes(self) -> dict[str, str]:  # type: ignore[override]
        return self._decoded.raw_attributes

    @property
    def events(self) -> list[SpanEvent]:  # type: ignore[override]
        return self._decoded.events

    @property
    def extra(self) -> dict[str, Any]:  # type: ignore[override]
        return self._decoded.extra
