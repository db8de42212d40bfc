"""The filter language: text to a validated AST, and what that AST means.

``parse_filter`` turns a filter string into a tree of ``spanscope.query.ast`` nodes (or
raises ``FilterError``); ``matches`` / ``filter_traces`` evaluate it over ``Trace``
entities and are the reference every store's compiler is tested against;
``parse_order_by`` reads ``order_by`` items. This package knows no tables and no SQL.
The language is documented in ``docs/filter-language.md``.
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
    ValueType,
    comparisons,
    walk,
)
from spanscope.query.errors import caret_view
from spanscope.query.evaluate import (
    ReferencedField,
    field_value,
    filter_traces,
    matches,
    referenced_fields,
)
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
    "CompareAs",
    "Comparison",
    "Field",
    "Metadata",
    "Node",
    "Not",
    "Op",
    "Or",
    "OrderKey",
    "ReferencedField",
    "RootPayload",
    "SpanAttribute",
    "SpanProperty",
    "SpanPropertyName",
    "Tag",
    "ValueType",
    "caret_view",
    "comparisons",
    "field_value",
    "filter_traces",
    "matches",
    "parse_filter",
    "parse_order_by",
    "referenced_fields",
    "sort_traces",
    "to_text",
    "walk",
]
