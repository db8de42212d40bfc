"""The filter AST: what a filter means, with every alias resolved and every value typed.

A store compiles this tree into its own query language; ``spanscope.query.evaluate`` is
the reference meaning. Everything is a frozen dataclass, so trees compare by value and
work with ``match`` statements::

    Node       = And | Or | Not | AnySpan | Comparison
    And(children)   Or(children)      two or more children, evaluated left to right
    Not(child)                        plain boolean negation (leaves are two-valued)
    AnySpan(condition)                true when at least one span of the trace satisfies
                                      ``condition``: an And/Or tree of span Comparisons
    Comparison(field, op, value, compare_as)

    Field      = Attribute | Tag | Metadata | AssessmentValue | RootPayload   (trace level)
               | TextContent                                                (trace level)
               | SpanProperty | SpanAttribute                                (span level)

Invariants the parser guarantees (``check_invariants`` asserts them in tests):

- a Comparison on a span field appears only inside an ``AnySpan``, and an ``AnySpan``
  contains only ``And``, ``Or`` and span Comparisons (no ``Not``, no nested ``AnySpan``);
- ``value`` already has the type ``compare_as`` names (see ``Comparison``); state values
  are canonical upper-case names; timestamps are epoch milliseconds;
- every leaf is two-valued: a comparison with a missing field is False, except
  ``IS NULL``. A compiler must keep that under ``Not`` (e.g. ``COALESCE(cond, FALSE)`` or
  ``EXISTS``), because SQL's ``NOT NULL`` is NULL.
"""

from __future__ import annotations

import dataclasses
import operator
from collections.abc import Callable, Iterator
from typing import Any, Literal

from spanscope.entities._enum import StrEnum

__all__ = [
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
    "RootPayload",
    "Scalar",
    "SpanAttribute",
    "SpanField",
    "SpanProperty",
    "SpanPropertyName",
    "Tag",
    "TextContent",
    "TraceField",
    "Value",
    "ValueType",
    "check_invariants",
    "comparisons",
    "walk",
]


class Op(StrEnum):
    """Comparison operators; the value is the operator as written in a filter."""

    EQ = "="
    NE = "!="
    LT = "<"
    LE = "<="
    GT = ">"
    GE = ">="
    LIKE = "LIKE"
    NOT_LIKE = "NOT LIKE"
    ILIKE = "ILIKE"
    NOT_ILIKE = "NOT ILIKE"
    RLIKE = "RLIKE"
    NOT_RLIKE = "NOT RLIKE"
    CONTAINS = "CONTAINS"
    NOT_CONTAINS = "NOT CONTAINS"
    IN = "IN"
    NOT_IN = "NOT IN"
    IS_NULL = "IS NULL"
    IS_NOT_NULL = "IS NOT NULL"


ORDERING_OPS = frozenset({Op.LT, Op.LE, Op.GT, Op.GE})
PATTERN_OPS = frozenset({Op.LIKE, Op.NOT_LIKE, Op.ILIKE, Op.NOT_ILIKE, Op.RLIKE, Op.NOT_RLIKE,
                         Op.CONTAINS, Op.NOT_CONTAINS})
LIST_OPS = frozenset({Op.IN, Op.NOT_IN})
NULL_OPS = frozenset({Op.IS_NULL, Op.IS_NOT_NULL})

# The Python operator of each binary comparison. It works on plain values (the reference
# evaluator) and on SQLAlchemy expressions (the SQL compiler) alike, so both read it here.
BINARY_OPERATORS: dict[Op, Callable[[Any, Any], Any]] = {
    Op.EQ: operator.eq, Op.NE: operator.ne, Op.LT: operator.lt, Op.LE: operator.le,
    Op.GT: operator.gt, Op.GE: operator.ge,
}


class CompareAs(StrEnum):
    """How a comparison reads the field, decided at parse time from the field and value.

    - ``TEXT``: the field's text (see ``spanscope.query.values.text_of``) against ``str``
      value(s);
    - ``NUMBER``: the field's number (``number_of``: JSON numbers and numeric-looking
      strings) against ``int``/``float`` value(s); a field with no number does not match;
    - ``BOOLEAN``: the field's text, lower-cased, against ``'true'``/``'false'`` (``=``,
      ``!=``, ``IN``, ``NOT IN`` only);
    - ``PRESENCE``: ``IS NULL`` / ``IS NOT NULL``; ``value`` is None.
    """

    TEXT = "text"
    NUMBER = "number"
    BOOLEAN = "boolean"
    PRESENCE = "presence"


class ValueType(StrEnum):
    """What a field holds, which decides the comparators and values it accepts."""

    TEXT = "text"            # a plain string column: = != LIKE ILIKE RLIKE CONTAINS IN
    ENUM = "enum"            # a string from a fixed set: = != IN NOT IN
    NUMBER = "number"        # a number (ms): = != < <= > >= IN NOT IN
    TIMESTAMP = "timestamp"  # epoch ms; ISO dates accepted and converted at parse time
    DYNAMIC = "dynamic"      # a string or JSON value: text, number or boolean comparisons
    CONTENT = "content"      # many texts, any of which may match: CONTAINS LIKE ILIKE RLIKE


# --- fields -------------------------------------------------------------------------


class AttributeName(StrEnum):
    """Trace attributes; values are the ``traces`` column names of the SQL store."""

    TRACE_ID = "trace_id"
    STATE = "state"
    REQUEST_TIME = "request_time"              # epoch ms
    EXECUTION_DURATION = "execution_duration"  # ms, None while in progress
    NAME = "name"                              # root span name
    CLIENT_REQUEST_ID = "client_request_id"
    SESSION_ID = "session_id"                  # metadata mlflow.trace.session
    USER_ID = "user_id"                        # metadata mlflow.trace.user


_ATTRIBUTE_TYPES = {
    AttributeName.TRACE_ID: ValueType.TEXT,
    AttributeName.STATE: ValueType.ENUM,
    AttributeName.REQUEST_TIME: ValueType.TIMESTAMP,
    AttributeName.EXECUTION_DURATION: ValueType.NUMBER,
    AttributeName.NAME: ValueType.TEXT,
    AttributeName.CLIENT_REQUEST_ID: ValueType.TEXT,
    AttributeName.SESSION_ID: ValueType.TEXT,
    AttributeName.USER_ID: ValueType.TEXT,
}


class SpanPropertyName(StrEnum):
    """Span properties; ``span_type`` and ``status`` match the ``spans`` columns."""

    NAME = "name"
    TYPE = "span_type"
    STATUS = "status"            # OK | ERROR | UNSET
    DURATION_MS = "duration_ms"  # compares end - start in ns against value * 1_000_000


_SPAN_PROPERTY_TYPES = {
    SpanPropertyName.NAME: ValueType.TEXT,
    SpanPropertyName.TYPE: ValueType.TEXT,
    SpanPropertyName.STATUS: ValueType.ENUM,
    SpanPropertyName.DURATION_MS: ValueType.NUMBER,
}


@dataclasses.dataclass(frozen=True)
class Attribute:
    """A trace attribute (``attributes.state``, ``trace.timestamp``, ...)."""

    name: AttributeName

    @property
    def value_type(self) -> ValueType:
        return _ATTRIBUTE_TYPES[self.name]


@dataclasses.dataclass(frozen=True)
class Tag:
    """A trace tag (``tags.KEY``); the value is a string."""

    key: str
    value_type = ValueType.DYNAMIC


@dataclasses.dataclass(frozen=True)
class Metadata:
    """A trace metadata entry (``metadata.KEY``); the value is a string."""

    key: str
    value_type = ValueType.DYNAMIC


@dataclasses.dataclass(frozen=True)
class AssessmentValue:
    """The value of the latest valid assessment called ``name``.

    ``kind`` restricts it to feedback or expectations (``feedback.NAME``,
    ``expectation.NAME``); None (``assessments.NAME.value``) takes either. "Latest" is the
    greatest ``(create_time_ms, assessment_id)``. Its value is JSON (a feedback that only
    carries an error has value None, i.e. NULL).
    """

    name: str
    kind: Literal["feedback", "expectation"] | None = None
    value_type = ValueType.DYNAMIC


@dataclasses.dataclass(frozen=True)
class RootPayload:
    """The root span's decoded inputs or outputs, or a value inside them.

    ``path`` steps into the JSON: a ``str`` is an object key, an ``int`` a list index. The
    empty path is the whole payload (``request`` / ``response``). A path that does not
    resolve, or resolves to JSON null, is NULL. The root span is the first span (in the
    trace's span order) without a parent.
    """

    side: Literal["inputs", "outputs"]
    path: tuple[str | int, ...] = ()
    value_type = ValueType.DYNAMIC


@dataclasses.dataclass(frozen=True)
class TextContent:
    """The text of the whole trace (``text``, ``span.content``): a comparison matches when
    any one of its texts matches. The texts are, for every span, its inputs and outputs
    (as ``text_of`` reads them, so the root's are ``request`` and ``response``) and the
    message of each of its exception events (``spanscope.query.text.span_texts``)."""

    value_type = ValueType.CONTENT


@dataclasses.dataclass(frozen=True)
class SpanProperty:
    """A span's name, type, status or duration (``span.name`` ...)."""

    name: SpanPropertyName

    @property
    def value_type(self) -> ValueType:
        return _SPAN_PROPERTY_TYPES[self.name]


@dataclasses.dataclass(frozen=True)
class SpanAttribute:
    """A decoded span attribute (``span.attributes.KEY``); the key is taken whole."""

    key: str
    value_type = ValueType.DYNAMIC


TraceField = Attribute | Tag | Metadata | AssessmentValue | RootPayload | TextContent
SpanField = SpanProperty | SpanAttribute
Field = TraceField | SpanField

# --- nodes --------------------------------------------------------------------------

Scalar = str | int | float | bool
Value = Scalar | tuple[Scalar, ...] | None


@dataclasses.dataclass(frozen=True)
class Comparison:
    """One leaf: ``field op value``.

    ``value`` by ``compare_as``: TEXT -> ``str``; NUMBER -> ``int``/``float`` (finite);
    BOOLEAN -> ``bool``; PRESENCE -> None. For ``IN`` / ``NOT IN`` it is a non-empty
    tuple of those. ``written`` (the identifier as the user wrote it) and ``position``
    (its offset in the filter) are for messages and result columns; they do not take part
    in equality.
    """

    field: Field
    op: Op
    value: Value
    compare_as: CompareAs
    written: str = dataclasses.field(default="", compare=False)
    position: int = dataclasses.field(default=0, compare=False)

    @property
    def on_span(self) -> bool:
        return isinstance(self.field, (SpanProperty, SpanAttribute))


@dataclasses.dataclass(frozen=True)
class And:
    children: tuple[Node, ...]


@dataclasses.dataclass(frozen=True)
class Or:
    children: tuple[Node, ...]


@dataclasses.dataclass(frozen=True)
class Not:
    child: Node


@dataclasses.dataclass(frozen=True)
class AnySpan:
    """True when some span of the trace satisfies ``condition`` (all of it, on one span)."""

    condition: Node


Node = Comparison | And | Or | Not | AnySpan


def walk(node: Node) -> Iterator[Node]:
    """Every node of the tree, parents before children, left to right."""
    stack: list[Node] = [node]
    while stack:
        current = stack.pop()
        yield current
        if isinstance(current, (And, Or)):
            stack.extend(reversed(current.children))
        elif isinstance(current, Not):
            stack.append(current.child)
        elif isinstance(current, AnySpan):
            stack.append(current.condition)


def comparisons(node: Node) -> Iterator[Comparison]:
    """The leaves, left to right."""
    return (n for n in walk(node) if isinstance(n, Comparison))


def check_invariants(node: Node, *, in_span: bool = False) -> None:
    """Raise ``AssertionError`` if ``node`` breaks the invariants in the module docstring."""
    if isinstance(node, Comparison):
        assert node.on_span == in_span, f"{node} is misplaced (inside AnySpan: {in_span})"
    elif isinstance(node, (And, Or)):
        assert len(node.children) >= 2, f"{type(node).__name__} with < 2 children"
        for child in node.children:
            check_invariants(child, in_span=in_span)
    elif isinstance(node, Not):
        assert not in_span, "Not inside AnySpan"
        check_invariants(node.child)
    elif isinstance(node, AnySpan):
        assert not in_span, "AnySpan inside AnySpan"
        check_invariants(node.condition, in_span=True)
    else:  # pragma: no cover - a foreign object in the tree
        raise AssertionError(f"not a filter node: {node!r}")
