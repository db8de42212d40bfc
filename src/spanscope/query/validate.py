"""Type-checking one comparison: may this field take this comparator and these values?

Turns the literal values of a comparison into the typed ``value`` and ``compare_as`` of a
``Comparison`` node, or raises a ``FilterError`` pointing at the value or comparator that
does not fit. The rules by the field's ``ValueType``:

- TEXT (names, ids, span type): ``= != LIKE ILIKE RLIKE CONTAINS IN`` (and NOT forms)
  with strings;
- ENUM (trace state, span status): ``= != IN NOT IN`` with a known value, any case;
- NUMBER (durations in ms): ``= != < <= > >= IN NOT IN`` with numbers or numeric strings;
- TIMESTAMP (request time): as NUMBER, and ISO date/datetime strings become epoch ms;
- CONTENT (``text``, the trace's many texts): ``CONTAINS LIKE ILIKE RLIKE`` with a string
  (no NOT forms: "some text does not match" is rarely meant; ``NOT text CONTAINS`` is);
- DYNAMIC (tags, metadata, assessments, span attributes, inputs/outputs): a number value
  compares numerically, a string as text (a numeric string with ``< <= > >=`` as a
  number), TRUE/FALSE as the text ``true``/``false`` in any case.

``IS NULL`` / ``IS NOT NULL`` apply to every field.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from spanscope.query.ast import (
    LIST_OPS,
    NULL_OPS,
    ORDERING_OPS,
    PATTERN_OPS,
    Attribute,
    AttributeName,
    CompareAs,
    Field,
    Op,
    Scalar,
    SpanProperty,
    Value,
    ValueType,
)
from spanscope.query.errors import filter_error
from spanscope.query.lexer import Token, TokenKind
from spanscope.query.values import looks_numeric, parse_timestamp, regex

__all__ = ["SPAN_STATUSES", "TRACE_STATES", "check_comparison"]

TRACE_STATES = ("OK", "ERROR", "IN_PROGRESS", "STATE_UNSPECIFIED")
SPAN_STATUSES = ("OK", "ERROR", "UNSET")

_ALLOWED_OPS: dict[ValueType, frozenset[Op]] = {
    ValueType.TEXT: frozenset({Op.EQ, Op.NE}) | PATTERN_OPS | LIST_OPS | NULL_OPS,
    ValueType.ENUM: frozenset({Op.EQ, Op.NE}) | LIST_OPS | NULL_OPS,
    ValueType.NUMBER: frozenset({Op.EQ, Op.NE}) | ORDERING_OPS | LIST_OPS | NULL_OPS,
    ValueType.TIMESTAMP: frozenset({Op.EQ, Op.NE}) | ORDERING_OPS | LIST_OPS | NULL_OPS,
    ValueType.DYNAMIC: frozenset(Op),
    ValueType.CONTENT: frozenset({Op.CONTAINS, Op.LIKE, Op.ILIKE, Op.RLIKE}),
}
_EQUALITY_OPS = frozenset({Op.EQ, Op.NE}) | LIST_OPS


def _op_list(ops: frozenset[Op]) -> str:
    names = [str(op) for op in Op if op in ops]
    return ", ".join(names[:-1]) + " or " + names[-1]


def _number(text: str) -> int | float:
    return int(text) if re.fullmatch(r"[+-]?[0-9]+", text) else float(text)


class _Checker:
    def __init__(self, text: str, field: Field, written: str, op: Op, op_token: Token,
                 values: Sequence[Token]) -> None:
        self.text = text
        self.field = field
        self.written = written
        self.op = op
        self.op_token = op_token
        self.values = values

    def fail(self, token: Token, detail: str) -> Exception:
        return filter_error(self.text, token.position, detail, token=token.text)

    def check(self) -> tuple[Value, CompareAs]:
        if self.op in NULL_OPS:
            return None, CompareAs.PRESENCE
        value_type = self.field.value_type
        allowed = _ALLOWED_OPS[value_type]
        if self.op not in allowed:
            hint = ""
            if value_type is ValueType.CONTENT and self.op in PATTERN_OPS:
                positive = str(self.op).removeprefix("NOT ")
                hint = (f" (to keep traces none of whose text matches, write NOT "
                        f"{self.written} {positive} ...)")
            raise self.fail(self.op_token, f"'{self.op}' is not supported on {self.written}; "
                                           f"use {_op_list(allowed)}{hint}")
        if value_type in (ValueType.TEXT, ValueType.CONTENT):
            converted = [self.text_value(token) for token in self.values]
            compare_as = CompareAs.TEXT
        elif value_type is ValueType.ENUM:
            converted = [self.enum_value(token) for token in self.values]
            compare_as = CompareAs.TEXT
        elif value_type in (ValueType.NUMBER, ValueType.TIMESTAMP):
            converted = [self.number_value(token, value_type) for token in self.values]
            compare_as = CompareAs.NUMBER
        else:
            converted, compare_as = self.dynamic_values()
        if self.op in (Op.RLIKE, Op.NOT_RLIKE):
            self.check_regex(self.values[0], str(converted[0]))
        if self.op in LIST_OPS:
            return tuple(converted), compare_as
        return converted[0], compare_as

    def text_value(self, token: Token) -> str:
        if token.kind is TokenKind.STRING:
            return str(token.value)
        if self.op in PATTERN_OPS:
            raise self.fail(token, f"'{self.op}' needs a string pattern, found "
                                   f"{token.describe()}")
        raise self.fail(token, f"{self.written} holds text; write the value in quotes: "
                               f"'{token.text}'")

    def enum_value(self, token: Token) -> str:
        is_state = isinstance(self.field, Attribute)
        valid = TRACE_STATES if is_state else SPAN_STATUSES
        what = "state" if is_state else "span status"
        if token.kind is TokenKind.STRING:
            name = str(token.value).strip().upper()
            if not is_state:
                name = name.removeprefix("STATUS_CODE_")
            if name in valid:
                return name
        raise self.fail(token, f"unknown {what} {token.text} for {self.written}; "
                               f"valid values are {', '.join(valid)}")

    def number_value(self, token: Token, value_type: ValueType) -> int | float:
        if token.kind is TokenKind.NUMBER:
            return token.value  # type: ignore[return-value]
        if token.kind is TokenKind.STRING:
            text = str(token.value).strip()
            if looks_numeric(text):
                return _number(text)
            if value_type is ValueType.TIMESTAMP:
                try:
                    return parse_timestamp(text)
                except (ValueError, OverflowError):
                    pass
                raise self.fail(token, f"{token.text} is not a valid time for "
                                       f"{self.written}; use epoch milliseconds or an ISO "
                                       "date such as '2023-07-01' or '2023-07-01T12:00:00Z'")
        unit = " (milliseconds)" if self.is_duration() else ""
        raise self.fail(token, f"{self.written} compares with numbers{unit}, found "
                               f"{token.describe()}")

    def is_duration(self) -> bool:
        return (isinstance(self.field, SpanProperty)
                or (isinstance(self.field, Attribute)
                    and self.field.name is AttributeName.EXECUTION_DURATION))

    def dynamic_values(self) -> tuple[list[Scalar], CompareAs]:
        first = self.values[0]
        for token in self.values[1:]:
            if token.kind is not first.kind:
                raise self.fail(token, f"the {self.op} list mixes {first.describe()} and "
                                       f"{token.describe()}; use values of one kind")
        if first.kind is TokenKind.STRING:
            if self.op in ORDERING_OPS:
                if not looks_numeric(str(first.value).strip()):
                    raise self.fail(first, f"'{self.op}' compares numbers, found "
                                           f"{first.describe()}")
                return [_number(str(first.value).strip())], CompareAs.NUMBER
            return [str(t.value) for t in self.values], CompareAs.TEXT
        if first.kind is TokenKind.NUMBER:
            if self.op in PATTERN_OPS:
                raise self.fail(first, f"'{self.op}' needs a string pattern, found "
                                       f"{first.describe()}")
            return [t.value for t in self.values], CompareAs.NUMBER  # type: ignore[misc]
        # TRUE / FALSE
        if self.op not in _EQUALITY_OPS:
            raise self.fail(self.op_token, f"'{self.op}' does not apply to TRUE/FALSE; use "
                                           f"{_op_list(_EQUALITY_OPS)}")
        return [t.value == "TRUE" for t in self.values], CompareAs.BOOLEAN

    def check_regex(self, token: Token, pattern: str) -> None:
        try:
            regex(pattern)
        except (re.error, RecursionError, OverflowError, ValueError) as exc:
            raise self.fail(token, f"invalid regular expression for {self.op}: {exc}") from None


def check_comparison(text: str, field: Field, written: str, op: Op, op_token: Token,
                     values: Sequence[Token]) -> tuple[Value, CompareAs]:
    """The typed value and comparison mode, or a ``FilterError`` at the offending token."""
    return _Checker(text, field, written, op, op_token, values).check()
