"""Trace JSON in the shape Spanscope writes it, loaded without rebuilding every span.

An export file holds each span as ``Span.to_dict`` wrote it. ``load_trace_dict`` checks
each span field by field, rebuilds it with ``Span.from_dict`` (decoding ids, copying the
attributes) and the store encodes ``to_dict()`` again: most of an import's Python time.
``load_canonical`` recognises a span dict that ``Span.from_dict(d).to_dict()`` gives back
unchanged (``to_dict``'s keys in its order, ids of 16 lower-case hex digits, integer times
in range, a status as ``to_dict`` writes it, attributes as JSON strings, events as
written) and builds a ``CanonicalSpan`` on that dict directly; its JSON is the dict
encoded, no ``to_dict`` needed. MLflow's span JSON differs in its ids (base64) and a
``links`` key: its ids are decoded into a copy and ``links`` kept as ``from_dict`` keeps
it, so an MLflow import skips the rebuilding too. The info goes through ``check_trace_dict`` and
``TraceInfo.from_dict`` as always. Anything else (one span in another shape, a span id
twice) returns None and the caller takes ``load_trace_dict``, which accepts or rejects
the trace with its own message: when ``load_canonical`` returns a trace, it equals the one
``load_trace_dict`` returns.
"""

from __future__ import annotations

import re
from typing import Any

from spanscope.entities._codec import decode_id, dumps
from spanscope.entities.span import Span, SpanEvent, SpanStatus, SpanStatusCode
from spanscope.entities.trace import Trace, TraceData
from spanscope.entities.trace_info import TraceInfo
from spanscope.entities.trace_json import MAX_NANOS, check_trace_dict
from spanscope.exceptions import TraceJsonError

__all__ = ["CanonicalSpan", "load_canonical"]

_SPAN_KEYS = ("trace_id", "span_id", "parent_span_id", "name", "start_time_unix_nano",
              "end_time_unix_nano", "events", "status", "attributes")
_EVENT_KEYS = ("name", "time_unix_nano", "attributes")
_STATUS_KEYS = ("code", "message")
_ID = re.compile(r"[0-9a-f]{16}\Z")  # what ``decode_id`` gives back unchanged, as written
_STATUSES = {code.to_json(): SpanStatus(code) for code in SpanStatusCode}


class CanonicalSpan(Span):
    """A ``Span`` loaded from its ``to_dict`` form, which it keeps (sharing the attribute
    dicts, so a change to them shows in both): ``to_json`` encodes that dict."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        if kwargs or len(args) != 5:  # Span's own fields (dataclasses.replace): a plain span
            Span.__init__(self, *args, **kwargs)
            self.__dict__["_data"] = None
            return
        self._load(*args)

    def _load(self, trace_id: str, data: dict[str, Any], status: SpanStatus,
              events: list[SpanEvent], extra: dict[str, Any]) -> None:
        fields = self.__dict__  # the dataclass is frozen: fill the instance dict directly
        fields["trace_id"] = trace_id
        fields["span_id"] = data["span_id"]
        fields["parent_id"] = data["parent_span_id"]
        fields["name"] = data["name"]
        fields["start_time_ns"] = data["start_time_unix_nano"]
        fields["end_time_ns"] = data["end_time_unix_nano"]
        fields["status"] = status
        fields["raw_attributes"] = data["attributes"]
        fields["events"] = events
        fields["extra"] = extra
        fields["_data"] = None if extra else data  # with extra keys, to_dict() decides

    def __repr__(self) -> str:  # it is a Span to its user
        return "Span" + super().__repr__().removeprefix(type(self).__qualname__)

    def to_json(self) -> str:
        data = self.__dict__["_data"]
        if data is None or self.extra:  # keys beside to_dict()'s (or added since)
            return super().to_json()
        return dumps(data)


def load_canonical(data: Any) -> Trace | None:
    """The trace of the decoded trace JSON ``data`` when its spans are in canonical form
    (and the whole is valid trace JSON), else None: then ``load_trace_dict`` decides."""
    if type(data) is not dict:
        return None
    info, body = data.get("info"), data.get("data")
    if type(info) is not dict:
        return None
    if body is None:
        spans: Any = []
    elif type(body) is dict:
        spans = body.get("spans")
        spans = [] if spans is None else spans
    else:
        return None
    if type(spans) is not list:
        return None
    try:
        check_trace_dict({"info": info})
        trace_info = TraceInfo.from_dict(info)
        trace_info.to_dict()  # what load_trace_dict checks: the info writes back
    except (TraceJsonError, RecursionError, ValueError, TypeError, KeyError, AttributeError,
            OverflowError):
        return None
    trace_id = trace_info.trace_id
    loaded = _spans(spans, trace_id, trace_id.removeprefix("tr-"))
    if loaded is None:
        return None
    return Trace(trace_info, TraceData(loaded))


def _spans(items: list[Any], trace_id: str, hex_id: str) -> list[Span] | None:
    out: list[Span] = []
    seen: set[str] = set()
    for item in items:
        span = _span(item, trace_id, hex_id)
        if span is None or span.span_id in seen:  # a repeated id: check_trace folds it
            return None
        seen.add(span.span_id)
        out.append(span)
    return out


def _span(data: Any, trace_id: str, hex_id: str) -> Span | None:
    """The span of ``data`` if ``Span.from_dict(data, trace_id).to_dict()`` is ``data``
    with at most its ids written otherwise: MLflow's base64 ids are decoded (and its
    trace id, which ``from_dict`` replaces by the trace's, rewritten) in a copy."""
    if type(data) is not dict:
        return None
    keys = tuple(data)
    if keys[:9] != _SPAN_KEYS:  # further keys are kept as they are (MLflow's "links")
        return None
    span_id, parent, name = data["span_id"], data["parent_span_id"], data["name"]
    start, end = data["start_time_unix_nano"], data["end_time_unix_nano"]
    if (type(span_id) is not str or type(name) is not str
            or (parent is not None and type(parent) is not str)
            or type(start) is not int or not 0 <= start <= MAX_NANOS
            or (end is not None and (type(end) is not int or not 0 <= end <= MAX_NANOS))):
        return None
    if (data["trace_id"] != hex_id or not _ID.match(span_id)
            or (parent is not None and not _ID.match(parent))):
        if data["trace_id"] is not None and type(data["trace_id"]) is not str:
            return None  # what check_trace_dict refuses
        span_id, parent = decode_id(span_id, 8), decode_id(parent, 8)
        if not span_id:
            return None
        data = {**data, "trace_id": hex_id, "span_id": span_id, "parent_span_id": parent}
    raw_status, attributes, raw_events = data["status"], data["attributes"], data["events"]
    if (type(raw_status) is not dict or tuple(raw_status) != _STATUS_KEYS
            or type(raw_status["message"]) is not str or type(attributes) is not dict
            or type(raw_events) is not list):
        return None
    status = _STATUSES.get(raw_status["code"])
    if status is None:
        return None
    if raw_status["message"]:
        status = SpanStatus(status.status_code, raw_status["message"])
    for value in attributes.values():
        if type(value) is not str:  # from_dict would encode it
            return None
    events = [_event(event) for event in raw_events] if raw_events else []
    if None in events:
        return None
    extra = {key: data[key] for key in keys[9:]} if len(keys) > 9 else {}
    return CanonicalSpan(trace_id, data, status, events, extra)  # type: ignore[arg-type]


def _event(data: Any) -> SpanEvent | None:
    if type(data) is not dict or tuple(data) != _EVENT_KEYS:
        return None
    name, time_ns, attributes = data["name"], data["time_unix_nano"], data["attributes"]
    if (type(name) is not str or type(time_ns) is not int or not 0 <= time_ns <= MAX_NANOS
            or type(attributes) is not dict):
        return None
    return SpanEvent(name, time_ns, attributes)
