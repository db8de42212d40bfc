"""A trace: ``info`` (``TraceInfo``) plus ``data`` (``TraceData``, the spans)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from spanscope.entities._codec import dumps
from spanscope.entities.assessment import Assessment
from spanscope.entities.span import Span, SpanAttributeKey
from spanscope.entities.trace_info import TraceInfo

__all__ = ["Trace", "TraceData"]


@dataclass
class TraceData:
    """The spans of a trace, parents before children as they were started."""

    spans: list[Span] = field(default_factory=list)

    @property
    def root_span(self) -> Span | None:
        for span in self.spans:
            if span.parent_id is None:
                return span
        return None

    @property
    def request(self) -> str | None:
        """The root span's inputs as the JSON string stored in the trace."""
        root = self.root_span
        return None if root is None else root.raw_attributes.get(SpanAttributeKey.INPUTS)

    @property
    def response(self) -> str | None:
        root = self.root_span
        return None if root is None else root.raw_attributes.get(SpanAttributeKey.OUTPUTS)

    def to_dict(self) -> dict[str, Any]:
        return {"spans": [span.to_dict() for span in self.spans]}

    @classmethod
    def from_dict(cls, data: dict[str, Any], trace_id: str | None = None) -> TraceData:
        return cls([Span.from_dict(s, trace_id) for s in data.get("spans") or []])


@dataclass
class Trace:
    """One request through a GenAI app, as a tree of spans with trace-level facts."""

    info: TraceInfo
    data: TraceData = field(default_factory=TraceData)

    def search_spans(self, span_type: str | None = None, name: str | re.Pattern[str] | None = None,
                     span_id: str | None = None) -> list[Span]:
        """Spans matching every given criterion; ``name`` may be a compiled regex."""
        def matches(span: Span) -> bool:
            if span_type is not None and span.span_type != str(span_type):
                return False
            if span_id is not None and span.span_id != span_id:
                return False
            if isinstance(name, re.Pattern):
                return bool(name.fullmatch(span.name))
            return name is None or span.name == name
        return [span for span in self.data.spans if matches(span)]

    def search_assessments(self, name: str | None = None, *, span_id: str | None = None,
                           all: bool = False, type: str | None = None) -> list[Assessment]:
        """Assessments on this trace; by default only valid ones (not overridden)."""
        return [a for a in self.info.assessments
                if (all or a.valid) and (name is None or a.name == name)
                and (span_id is None or a.span_id == span_id)
                and (type is None or a.kind == type)]

    def to_dict(self) -> dict[str, Any]:
        return {"info": self.info.to_dict(), "data": self.data.to_dict()}

    def _repr_html_(self) -> str | None:
        """The span tree and timeline in Jupyter, self-contained (``entities.display``)."""
        from spanscope.entities.display import html_of

        return html_of(self)

    def to_json(self, pretty: bool = False) -> str:
        return dumps(self.to_dict()) if not pretty else json.dumps(
            self.to_dict(), ensure_ascii=False, indent=2)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Trace:
        info = TraceInfo.from_dict(data.get("info") or {})
        return cls(info, TraceData.from_dict(data.get("data") or {}, info.trace_id or None))

    @classmethod
    def from_json(cls, text: str | bytes) -> Trace:
        """Read trace JSON text, checked: any malformed input raises ``TraceJsonError``
        (a ``ValueError``) naming the path of the bad field."""
        from spanscope.entities.trace_json import load_trace

        return load_trace(text)

    def __repr__(self) -> str:
        return (f"Trace(trace_id={self.info.trace_id!r}, state={str(self.info.state)!r}, "
                f"spans={len(self.data.spans)})")
