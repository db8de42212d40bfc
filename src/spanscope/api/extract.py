"""Extra result columns of ``search_traces``: ``extract_fields`` and the filter's own fields.

``extract_fields`` items, each becoming a column named exactly as written:

- ``SPAN_NAME.inputs[.PATH]``, ``SPAN_NAME.outputs[.PATH]``: the span's decoded inputs or
  outputs, or a value inside them (a bare number indexes a list, a backticked name is a key);
- ``SPAN_NAME.attributes[.KEY[.PATH]]``: its decoded attributes; dotted keys such as
  ``mlflow.chat.tokenUsage`` are found whole (the longest key that exists), then the rest
  of the path reads inside the value;
- ``SPAN_NAME.start_time`` / ``.end_time`` (epoch ms, integers) and ``.duration_ms``;
- ``tags.KEY`` / ``tag.KEY`` and ``metadata.KEY`` / ``request_metadata.KEY``.

The value comes from the first span, in start order, with that name on which the path
resolves (holds a value that is not null); the span name ``span`` means any span. A name
with dots or spaces goes in backticks (```my.tool`.outputs``); a backticked ```span```
is a span really called "span". Values are deserialised (dicts, lists, numbers); None
where nothing resolves. A malformed item is an ``InvalidInputError``.

Every tag, metadata and assessment field the filter compares also becomes a column, named
as written in the filter and numeric when it compares as a number
(``spanscope.query.referenced_fields``), so the fields one filtered on sit next to the
results.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

from spanscope.entities import Span, Trace
from spanscope.entities._codec import loads_attribute
from spanscope.exceptions import FilterError, InvalidInputError
from spanscope.query import Segment, parse_filter, parse_identifier, referenced_fields

__all__ = ["ExtractField", "ResultColumn", "parse_extract_fields", "result_columns"]

_SPAN_PARTS = ("inputs", "outputs", "attributes", "start_time", "end_time", "duration_ms")
_TIME_PARTS = ("start_time", "end_time", "duration_ms")
_FORM = ("write SPAN_NAME.inputs|outputs|attributes[.PATH], SPAN_NAME.start_time|end_time|"
         "duration_ms, tags.KEY or metadata.KEY")
_MISSING = object()


@dataclasses.dataclass(frozen=True)
class ExtractField:
    """One parsed ``extract_fields`` item; ``value_of(trace)`` is its column value."""

    written: str
    kind: str  # "tag" | "metadata" | one of _SPAN_PARTS
    span_name: str | None = None  # None: any span
    path: tuple[str | int, ...] = ()

    @property
    def needs_spans(self) -> bool:
        return self.kind not in ("tag", "metadata")

    def value_of(self, trace: Trace) -> Any:
        if self.kind == "tag":
            return trace.info.tags.get(str(self.path[0]))
        if self.kind == "metadata":
            return trace.info.trace_metadata.get(str(self.path[0]))
        spans = sorted(trace.data.spans, key=lambda s: s.start_time_ns)  # stable
        for span in spans:
            if self.span_name is not None and span.name != self.span_name:
                continue
            value = self._from_span(span)
            if value is not _MISSING and value is not None:
                return value
        return None

    def _from_span(self, span: Span) -> Any:
        if self.kind == "start_time":
            return span.start_time_ns // 1_000_000
        if self.kind == "end_time":
            return None if span.end_time_ns is None else span.end_time_ns // 1_000_000
        if self.kind == "duration_ms":
            return span.duration_ms
        if self.kind == "inputs":
            return _walk(span.inputs, self.path)
        if self.kind == "outputs":
            return _walk(span.outputs, self.path)
        if not self.path:
            return span.attributes
        for cut in range(len(self.path), 0, -1):  # the longest key that exists wins
            key = ".".join(str(step) for step in self.path[:cut])
            if key in span.raw_attributes:
                return _walk(loads_attribute(span.raw_attributes[key]), self.path[cut:])
        return _MISSING


def _walk(value: Any, path: tuple[str | int, ...]) -> Any:
    for step in path:
        if isinstance(step, int) and isinstance(value, list) and step < len(value):
            value = value[step]
        elif isinstance(value, dict) and str(step) in value:
            value = value[str(step)]
        else:
            return _MISSING
    return value


def _steps(segments: Sequence[Segment]) -> tuple[str | int, ...]:
    return tuple(int(s.text) if not s.quoted and s.text.isdigit() and s.text.isascii()
                 else s.text for s in segments)


def _parse_one(item: Any) -> ExtractField:
    if not isinstance(item, str):
        raise InvalidInputError(f"invalid extract field {item!r}: items must be strings")
    try:
        segments = parse_identifier(item, what="extract field")
    except FilterError as exc:
        raise InvalidInputError(f"invalid extract field {item!r}: {_FORM} ({exc})") from None
    written = item.strip()
    head, *rest = segments
    if any(not s.text for s in segments):
        raise InvalidInputError(f"invalid extract field {item!r}: a name is empty")
    prefix = head.text.lower() if not head.quoted else None
    if prefix in ("tags", "tag", "metadata", "request_metadata"):
        if not rest:
            raise InvalidInputError(f"invalid extract field {item!r}: write {head.text}.KEY")
        kind = "tag" if prefix in ("tags", "tag") else "metadata"
        return ExtractField(written, kind, path=(".".join(s.text for s in rest),))
    part = rest[0].text.lower() if rest and not rest[0].quoted else ""
    if part not in _SPAN_PARTS:
        raise InvalidInputError(f"invalid extract field {item!r}: {_FORM}")
    if part in _TIME_PARTS and len(rest) > 1:
        raise InvalidInputError(f"invalid extract field {item!r}: {part} takes no path")
    span_name = None if prefix == "span" else head.text
    return ExtractField(written, part, span_name, _steps(rest[1:]))


def parse_extract_fields(fields: Sequence[str] | str | None) -> list[ExtractField]:
    """Parse ``extract_fields``; a single string is a comma-free list of one item."""
    if fields is None:
        return []
    if isinstance(fields, str):
        fields = [fields]
    return [_parse_one(item) for item in fields]


@dataclasses.dataclass(frozen=True)
class ResultColumn:
    """An extra result column: its name, how to read it from a trace, numeric or not."""

    name: str
    value_of: Callable[[Trace], Any]
    numeric: bool = False
    needs_spans: bool = False


def result_columns(filter_string: str | None,
                   extract_fields: Sequence[str] | str | None) -> list[ResultColumn]:
    """The extract-field columns, then the filter's tag/metadata/assessment fields.

    ``InvalidInputError`` for a bad extract field, ``FilterError`` for a bad filter.
    """
    columns = [ResultColumn(f.written, f.value_of, needs_spans=f.needs_spans)
               for f in parse_extract_fields(extract_fields)]
    names = {column.name for column in columns}
    for field in referenced_fields(parse_filter(filter_string)):
        if field.written not in names:
            names.add(field.written)
            columns.append(ResultColumn(field.written, field.value_of, field.numeric))
    return columns
