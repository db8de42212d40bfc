"""The reference evaluator: what a filter means, in plain Python over ``Trace`` entities.

Every store must return exactly the traces ``filter_traces`` returns; the store tests
compare them on random traces and filters. It favours being obviously right over speed.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from functools import cached_property
from typing import Any

from spanscope.entities import Assessment, Span, Trace, TraceMetadataKey, TraceTagKey
from spanscope.query.ast import (
    BINARY_OPERATORS,
    And,
    AnySpan,
    AssessmentValue,
    Attribute,
    AttributeName,
    CompareAs,
    Comparison,
    Field,
    Metadata,
    Node,
    Not,
    Op,
    Or,
    RootPayload,
    SpanAttribute,
    SpanProperty,
    SpanPropertyName,
    Tag,
    TextContent,
    comparisons,
)
from spanscope.query.parser import parse_filter
from spanscope.query.text import span_texts
from spanscope.query.values import like_matches, number_of, regex, text_of

__all__ = ["ReferencedField", "compares", "field_value", "filter_traces", "matches",
           "referenced_fields"]

_NS_PER_MS = 1_000_000


class _TraceView:
    """One trace with the derived facts a filter reads, computed once."""

    def __init__(self, trace: Trace) -> None:
        self.trace = trace
        self.info = trace.info

    @cached_property
    def root(self) -> Span | None:
        return self.trace.data.root_span

    def latest_assessment(self, name: str, kind: str | None) -> Assessment | None:
        candidates = [a for a in self.info.assessments
                      if a.valid and a.name == name and (kind is None or a.kind == kind)]
        return max(candidates, key=lambda a: (a.create_time_ms, a.assessment_id),
                   default=None)


def _attribute(view: _TraceView, name: AttributeName) -> Any:
    info = view.info
    if name is AttributeName.TRACE_ID:
        return info.trace_id
    if name is AttributeName.STATE:
        return str(info.state)
    if name is AttributeName.REQUEST_TIME:
        return info.request_time
    if name is AttributeName.EXECUTION_DURATION:
        return info.execution_duration
    if name is AttributeName.NAME:  # the root span's name, else the trace-name tag
        return view.root.name if view.root is not None else info.tags.get(
            TraceTagKey.TRACE_NAME)
    if name is AttributeName.CLIENT_REQUEST_ID:
        return info.client_request_id
    if name is AttributeName.SESSION_ID:
        return info.trace_metadata.get(TraceMetadataKey.SESSION)
    return info.trace_metadata.get(TraceMetadataKey.USER)


def _json_path(value: Any, path: tuple[str | int, ...]) -> Any:
    for step in path:
        index_ok = isinstance(step, int) and isinstance(value, list) and step < len(value)
        key_ok = isinstance(step, str) and isinstance(value, dict) and step in value
        if not (index_ok or key_ok):
            return None
        value = value[step]
    return value


def _trace_value(view: _TraceView, field: Field) -> Any:
    if isinstance(field, Attribute):
        return _attribute(view, field.name)
    if isinstance(field, Tag):
        return view.info.tags.get(field.key)
    if isinstance(field, Metadata):
        return view.info.trace_metadata.get(field.key)
    if isinstance(field, AssessmentValue):
        latest = view.latest_assessment(field.name, field.kind)
        return None if latest is None else latest.value
    if isinstance(field, RootPayload):
        if view.root is None:
            return None
        payload = view.root.inputs if field.side == "inputs" else view.root.outputs
        return _json_path(payload, field.path)
    raise TypeError(f"{field!r} is not a trace field")


def _span_value(span: Span, field: Field) -> Any:
    if isinstance(field, SpanAttribute):
        return span.get_attribute(field.key)
    if isinstance(field, SpanProperty):
        if field.name is SpanPropertyName.NAME:
            return span.name
        if field.name is SpanPropertyName.TYPE:
            return str(span.span_type)
        if field.name is SpanPropertyName.STATUS:
            return str(span.status.status_code)
        return span.duration_ns  # compared against the value in ns, see _compare
    raise TypeError(f"{field!r} is not a span field")


def field_value(field: Field, trace: Trace) -> Any:
    """The raw value a trace-level field has on ``trace`` (None when missing)."""
    return _trace_value(_TraceView(trace), field)


def compares(node: Comparison, raw: Any) -> bool:
    """Whether the raw value ``raw`` satisfies the comparison ``node`` (its field aside)."""
    return _compare(node, raw)


def _compare(node: Comparison, raw: Any) -> bool:
    op = node.op
    if op is Op.IS_NULL:
        return raw is None
    if op is Op.IS_NOT_NULL:
        return raw is not None
    values = node.value if isinstance(node.value, tuple) else (node.value,)
    if node.compare_as is CompareAs.NUMBER:
        number = number_of(raw)
        if number is None:
            return False
        if node.field == SpanProperty(SpanPropertyName.DURATION_MS):
            values = tuple(v * _NS_PER_MS for v in values)  # type: ignore[operator]
        return _compare_number(op, number, values)  # type: ignore[arg-type]
    text = text_of(raw)
    if text is None:
        return False
    if node.compare_as is CompareAs.BOOLEAN:
        text = text.lower()
        values = tuple(text_of(v) for v in values)  # type: ignore[misc]
    return _compare_text(op, text, values)  # type: ignore[arg-type]


def _compare_number(op: Op, number: float, values: tuple[float, ...]) -> bool:
    if op in BINARY_OPERATORS:
        return BINARY_OPERATORS[op](number, values[0])
    if op is Op.IN:
        return any(number == v for v in values)
    if op is Op.NOT_IN:
        return all(number != v for v in values)
    raise ValueError(f"{op} is not a number comparison")


def _compare_text(op: Op, text: str, values: tuple[str, ...]) -> bool:
    value = values[0]
    if op is Op.EQ:
        return text == value
    if op is Op.NE:
        return text != value
    if op is Op.IN:
        return text in values
    if op is Op.NOT_IN:
        return text not in values
    if op in (Op.LIKE, Op.NOT_LIKE):
        return like_matches(value, text) == (op is Op.LIKE)
    if op in (Op.ILIKE, Op.NOT_ILIKE):
        return like_matches(value, text, ignore_case=True) == (op is Op.ILIKE)
    if op in (Op.RLIKE, Op.NOT_RLIKE):
        return (regex(value).search(text) is not None) == (op is Op.RLIKE)
    if op in (Op.CONTAINS, Op.NOT_CONTAINS):
        return (value in text) == (op is Op.CONTAINS)
    raise ValueError(f"{op} is not a text comparison")


def _matches_span(node: Node, span: Span) -> bool:
    if isinstance(node, Comparison):
        return _compare(node, _span_value(span, node.field))
    if isinstance(node, And):
        return all(_matches_span(child, span) for child in node.children)
    if isinstance(node, Or):
        return any(_matches_span(child, span) for child in node.children)
    raise TypeError(f"{node!r} cannot appear inside AnySpan")


def _matches_text(node: Comparison, view: _TraceView) -> bool:
    """``text``: any text of any span matches (``IS NULL``: the trace has no text)."""
    texts = (t.text for span in view.trace.data.spans for t in span_texts(span))
    if node.op is Op.IS_NULL:
        return next(texts, None) is None
    if node.op is Op.IS_NOT_NULL:
        return next(texts, None) is not None
    return any(_compare(node, text) for text in texts)


def _matches(node: Node, view: _TraceView) -> bool:
    if isinstance(node, Comparison):
        if isinstance(node.field, TextContent):
            return _matches_text(node, view)
        return _compare(node, _trace_value(view, node.field))
    if isinstance(node, And):
        return all(_matches(child, view) for child in node.children)
    if isinstance(node, Or):
        return any(_matches(child, view) for child in node.children)
    if isinstance(node, Not):
        return not _matches(node.child, view)
    if isinstance(node, AnySpan):
        return any(_matches_span(node.condition, span) for span in view.trace.data.spans)
    raise TypeError(f"{node!r} is not a filter node")


def matches(node: Node | None, trace: Trace) -> bool:
    """Whether ``trace`` satisfies the parsed filter ``node`` (None matches everything)."""
    return True if node is None else _matches(node, _TraceView(trace))


def filter_traces(text: str | None, traces: Iterable[Trace]) -> list[Trace]:
    """The traces that match the filter string, in their order; ``FilterError`` if bad."""
    node = parse_filter(text)
    return [trace for trace in traces if matches(node, trace)]


@dataclasses.dataclass(frozen=True)
class ReferencedField:
    """A tag, metadata or assessment field a filter compares, for a result column.

    ``written`` is the identifier as in the filter (the column name); ``numeric`` is True
    when some comparison on it compares numbers, so the column should hold numbers.
    """

    written: str
    field: Tag | Metadata | AssessmentValue
    numeric: bool

    def value_of(self, trace: Trace) -> Any:
        """The column value for ``trace``: a number (or None) if numeric, else the raw value."""
        raw = field_value(self.field, trace)
        return number_of(raw) if self.numeric else raw


def referenced_fields(node: Node | None) -> list[ReferencedField]:
    """Tag, metadata and assessment fields compared in ``node``, first appearance first."""
    found: dict[str, ReferencedField] = {}
    for leaf in comparisons(node) if node is not None else ():
        if not isinstance(leaf.field, (Tag, Metadata, AssessmentValue)):
            continue
        numeric = leaf.compare_as is CompareAs.NUMBER
        known = found.get(leaf.written)
        found[leaf.written] = ReferencedField(leaf.written, leaf.field,
                                              numeric or (known is not None and known.numeric))
    return list(found.values())
