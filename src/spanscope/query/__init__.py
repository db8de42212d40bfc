"""The filter language and every small grammar around it: text in, checked values out.

The one public surface for text that names traces and fields, so no other layer tokenizes:

- ``parse_filter``: a trace filter string to a tree of ``spanscope.query.ast`` nodes;
- ``parse_entity_filter`` / ``parse_entity_order_by``: the AND-only run and dataset filters;
- ``parse_field`` / ``parse_identifier``: one identifier (``tags.KEY``) as the trace field it
  names, or as its dotted segments;
- ``parse_order_by``: ``order_by`` items (``timestamp DESC``);
- ``parse_duration``: ``90m``, ``1.5h``, ``30d`` as milliseconds.

All of them read text with one tokenizer (``lexer``), so strings, escapes and quoted names
mean the same everywhere; bad text raises ``FilterError`` (durations ``InvalidInputError``)
naming what was wrong. ``matches`` / ``filter_traces`` evaluate a filter over ``Trace``
entities and are the reference every store's compiler is tested against. This package
knows no tables and no SQL. The language is documented in ``docs/filter-language.md``.
"""

from __future__ import annotations

from spanscope.query.ast import (
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
    ValueType,
    comparisons,
    walk,
)
from spanscope.query.durations import parse_duration
from spanscope.query.entity_filter import (
    Clause,
    EntityFields,
    OrderItem,
    filter_entities,
    parse_entity_filter,
    parse_entity_order_by,
    sort_entities,
)
from spanscope.query.errors import caret_view, did_you_mean
from spanscope.query.evaluate import (
    ReferencedField,
    field_value,
    filter_traces,
    matches,
    referenced_fields,
)
from spanscope.query.lexer import Segment
from spanscope.query.names import parse_field, parse_identifier
from spanscope.query.order_by import DEFAULT_ORDER, OrderKey, parse_order_by, sort_traces
from spanscope.query.parser import MAX_DEPTH, parse_filter
from spanscope.query.render import to_text
from spanscope.query.values import NUMERIC_TEXT_PATTERN

__all__ = [
    "DEFAULT_ORDER",
    "MAX_DEPTH",
    "NUMERIC_TEXT_PATTERN",
    "And",
    "AnySpan",
    "AssessmentValue",
    "Attribute",
    "AttributeName",
    "Clause",
    "CompareAs",
    "Comparison",
    "EntityFields",
    "Field",
    "Metadata",
    "Node",
    "Not",
    "Op",
    "Or",
    "OrderItem",
    "OrderKey",
    "ReferencedField",
    "RootPayload",
    "Segment",
    "SpanAttribute",
    "SpanProperty",
    "SpanPropertyName",
    "Tag",
    "TextContent",
    "ValueType",
    "caret_view",
    "comparisons",
    "did_you_mean",
    "field_value",
    "filter_entities",
    "filter_traces",
    "matches",
    "parse_duration",
    "parse_entity_filter",
    "parse_entity_order_by",
    "parse_field",
    "parse_filter",
    "parse_identifier",
    "parse_order_by",
    "referenced_fields",
    "sort_entities",
    "sort_traces",
    "to_text",
    "walk",
]
