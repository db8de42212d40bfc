"""A parsed filter back to canonical filter text (canonical names, quoted keys).

``parse_filter(to_text(parse_filter(s))) == parse_filter(s)`` for every valid ``s``, so
the CLI can show how a filter was understood and tests can round-trip.
"""

from __future__ import annotations

from spanscope.query.ast import (
    And,
    AnySpan,
    AssessmentValue,
    Attribute,
    Comparison,
    Field,
    Metadata,
    Node,
    Not,
    Or,
    RootPayload,
    Scalar,
    SpanAttribute,
    SpanProperty,
    SpanPropertyName,
    Tag,
    TextContent,
)

__all__ = ["field_text", "to_text"]

_STRING_ESCAPES = {"\\": "\\\\", "'": "''", "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _plain(segment: str) -> bool:
    return (bool(segment) and (segment[0].isalnum() or segment[0] == "_")
            and all(ch.isalnum() or ch in "_-" for ch in segment))


def _segment(key: str, *, allow_digits: bool = True) -> str:
    """A key as one identifier segment: bare when it can be, else in backticks."""
    if _plain(key) and (allow_digits or not key.isdigit()) and key.isascii():
        return key
    return "`" + key.replace("`", "``") + "`"


def field_text(field: Field) -> str:
    """The canonical identifier for ``field``."""
    if isinstance(field, Attribute):
        return f"attributes.{field.name}"
    if isinstance(field, Tag):
        return f"tags.{_segment(field.key)}"
    if isinstance(field, Metadata):
        return f"metadata.{_segment(field.key)}"
    if isinstance(field, AssessmentValue):
        name = _segment(field.name)
        return f"assessments.{name}.value" if field.kind is None else f"{field.kind}.{name}"
    if isinstance(field, RootPayload):
        if not field.path:
            return "request" if field.side == "inputs" else "response"
        steps = (str(s) if isinstance(s, int) else _segment(s, allow_digits=False)
                 for s in field.path)
        return field.side + "." + ".".join(steps)
    if isinstance(field, TextContent):
        return "text"
    if isinstance(field, SpanProperty):
        return "span.type" if field.name is SpanPropertyName.TYPE else f"span.{field.name}"
    if isinstance(field, SpanAttribute):
        return f"span.attributes.{_segment(field.key)}"
    raise TypeError(f"{field!r} is not a filter field")


def _scalar(value: Scalar) -> str:
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, (int, float)):
        return repr(value)
    return "'" + "".join(_STRING_ESCAPES.get(ch, ch) for ch in value) + "'"


def _comparison(node: Comparison) -> str:
    text = f"{field_text(node.field)} {node.op}"
    if isinstance(node.value, tuple):
        return f"{text} ({', '.join(_scalar(v) for v in node.value)})"
    return text if node.value is None else f"{text} {_scalar(node.value)}"


_PRECEDENCE = {Or: 1, And: 2, Not: 3, Comparison: 4}


def _render(node: Node) -> tuple[str, type]:
    """The text of ``node`` and the node type that decides whether it needs parentheses."""
    if isinstance(node, AnySpan):
        return _render(node.condition)
    if isinstance(node, Comparison):
        return _comparison(node), Comparison
    if isinstance(node, Not):
        text, kind = _render(node.child)
        return "NOT " + (text if kind in (Not, Comparison) else f"({text})"), Not
    if isinstance(node, (And, Or)):
        own = type(node)
        parts = []
        for child in node.children:
            text, kind = _render(child)
            # A nested chain of the same operator keeps its parentheses: they delimit the
            # chain, and so which span conditions share a span.
            needs = _PRECEDENCE[kind] <= _PRECEDENCE[own]
            parts.append(f"({text})" if needs else text)
        return f" {own.__name__.upper()} ".join(parts), own
    raise TypeError(f"{node!r} is not a filter node")


def to_text(node: Node | None) -> str:
    """Canonical filter text for ``node`` ("" for None, which matches everything)."""
    return "" if node is None else _render(node)[0]
