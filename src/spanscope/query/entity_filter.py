"""The small filter language of ``search_runs`` and ``search_datasets`` (MLflow's subset).

Grammar: ``CLAUSE (AND CLAUSE)*`` where a clause is ``IDENTIFIER OP VALUE`` or
``IDENTIFIER [NOT] IN ('a', 'b')``. Identifiers are ``params.KEY``, ``metrics.KEY``,
``tags.KEY`` (also ``param.``, ``metric.``, ``tag.``) and ``attributes.NAME`` (also
``attribute.``, ``attr.``, ``run.`` or the bare ``NAME``); a key with odd characters is
written in backticks or double quotes (``tags.`mlflow.runName```). Operators:

- numbers (metrics, numeric attributes): ``= != < <= > >=``;
- strings (params, tags, text attributes): ``= != LIKE ILIKE IN NOT IN`` (``%`` and
  ``_`` are the LIKE wildcards, a backslash escapes one; ILIKE ignores case).

The text is read by the trace filters' tokenizer (``spanscope.query.lexer``) and LIKE
matched by ``values.like_matches``, so strings, escapes (``'a\\nb'``, ``'50\\%'``),
quoted names and numbers mean exactly what they mean in a trace filter.

A clause on a key the entity does not have is false (as in MLflow: ``params.x != '1'``
does not match a run without ``x``). Each entity kind passes the attribute names it has
(and which of them are numeric), so the same parser serves runs and datasets.
``parse_entity_order_by`` reads ``order_by`` items (``metrics.m DESC``, ``start_time``).
Pure: no I/O.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from spanscope.exceptions import FilterError
from spanscope.query.errors import filter_error
from spanscope.query.lexer import Token, TokenKind, tokenize
from spanscope.query.order_by import split_order_item
from spanscope.query.values import like_matches

__all__ = ["Clause", "EntityFields", "OrderItem", "filter_entities", "parse_entity_filter",
           "parse_entity_order_by", "sort_entities"]

T = TypeVar("T")

_PREFIXES = {
    "params": "param", "param": "param",
    "metrics": "metric", "metric": "metric",
    "tags": "tag", "tag": "tag",
    "attributes": "attribute", "attribute": "attribute", "attr": "attribute",
    "run": "attribute", "dataset": "attribute",
}
_NUMERIC_OPS = {"=", "!=", "<", "<=", ">", ">="}
_STRING_OPS = {"=", "!=", "LIKE", "ILIKE", "IN", "NOT IN"}
_VALUES = {TokenKind.STRING, TokenKind.NUMBER}

@dataclass(frozen=True)
class EntityFields:
    """What one kind of entity can be filtered and sorted on."""

    kinds: frozenset[str]  # which of param / metric / tag it has
    attributes: frozenset[str]
    numeric_attributes: frozenset[str]
    what: str  # "search_runs filter", for messages


@dataclass(frozen=True)
class Clause:
    kind: str  # param | metric | tag | attribute
    key: str
    op: str
    value: Any  # str, float or tuple of str for IN
    numeric: bool


@dataclass(frozen=True)
class OrderItem:
    kind: str
    key: str
    ascending: bool
    numeric: bool


def _identifier(token: Token, text: str, fields: EntityFields) -> tuple[str, str, bool]:
    """(kind, key, numeric) of an identifier token; ``FilterError`` if unknown."""
    head, *rest = token.segments
    prefix = head.text
    if rest and prefix.lower() in _PREFIXES:
        kind, key = _PREFIXES[prefix.lower()], ".".join(s.text for s in rest)
    elif not rest:
        kind, key = "attribute", prefix
    else:
        raise filter_error(text, token.position,
                           f"unknown identifier {token.text!r}: use "
                           + ", ".join(f"{k}s.KEY" for k in sorted(fields.kinds))
                           + " or attributes.NAME", token=token.text, what=fields.what)
    if kind == "attribute":
        key = {"name": "run_name"}.get(key, key) if "run_name" in fields.attributes else key
        if key not in fields.attributes:
            raise filter_error(text, token.position,
                               f"unknown attribute {key!r}; known: "
                               + ", ".join(sorted(fields.attributes)),
                               token=token.text, what=fields.what)
        return kind, key, key in fields.numeric_attributes
    if kind not in fields.kinds:
        raise filter_error(text, token.position, f"{kind}s cannot be used here",
                           token=token.text, what=fields.what)
    if not key:
        raise filter_error(text, token.position, f"{prefix}. needs a key",
                           token=token.text, what=fields.what)
    return kind, key, kind == "metric"


class _Reader:
    """Reads the AND-ed clauses from the shared tokenizer's tokens."""

    def __init__(self, text: str, fields: EntityFields) -> None:
        self.text = text
        self.fields = fields
        self.tokens = tokenize(text, what=fields.what)
        self.index = 0

    def fail(self, token: Token, detail: str) -> FilterError:
        return filter_error(self.text, token.position, detail, token=token.text or None,
                            what=self.fields.what)

    def expect(self, kinds: set[TokenKind], wanted: str) -> Token:
        token = self.tokens[self.index]
        if token.kind is TokenKind.END:
            raise self.fail(token, f"expected {wanted} at the end")
        if token.kind not in kinds:
            raise self.fail(token, f"expected {wanted}, got {token.text!r}")
        self.index += 1
        return token

    def clauses(self) -> list[Clause]:
        found = [self.clause()]
        while self.tokens[self.index].kind is not TokenKind.END:
            joiner = self.tokens[self.index]
            if joiner.kind is not TokenKind.KEYWORD or joiner.value != "AND":
                raise self.fail(joiner, f"expected AND, got {joiner.text!r} "
                                "(only AND is supported here)")
            self.index += 1
            found.append(self.clause())
        return found

    def clause(self) -> Clause:
        ident = self.expect({TokenKind.IDENT}, "an identifier such as params.KEY or "
                            "metrics.KEY")
        kind, key, numeric = _identifier(ident, self.text, self.fields)
        op_token = self.expect({TokenKind.OPERATOR, TokenKind.KEYWORD},
                               "a comparison operator")
        op = str(op_token.value)
        if op == "NOT":
            following = self.expect({TokenKind.KEYWORD, TokenKind.IDENT}, "IN after NOT")
            if following.value != "IN":
                raise self.fail(following, "expected IN after NOT")
            op = "NOT IN"
        allowed = _NUMERIC_OPS if numeric else _STRING_OPS
        if op not in allowed:
            raise self.fail(op_token, f"{op_token.text!r} cannot compare {kind} {key!r}; use "
                            "one of " + ", ".join(sorted(allowed)))
        value: Any
        if op in ("IN", "NOT IN"):
            self.expect({TokenKind.LPAREN}, "'(' after IN")
            values = [self.text_value(self.expect(_VALUES, "a value in the IN list"))]
            while self.expect({TokenKind.COMMA, TokenKind.RPAREN},
                              "',' or ')'").kind is TokenKind.COMMA:
                values.append(self.text_value(self.expect(_VALUES, "a value in the IN list")))
            value = tuple(values)
        else:
            token = self.expect(_VALUES, "a quoted string or a number")
            value = self.number(token, kind, key) if numeric else self.text_value(token)
        return Clause(kind, key, op, value, numeric)

    @staticmethod
    def text_value(token: Token) -> str:
        """A string's decoded value; a number as written (``params.n = 5`` is ``'5'``)."""
        return str(token.value) if token.kind is TokenKind.STRING else token.text

    def number(self, token: Token, kind: str, key: str) -> float:
        try:
            return float(str(token.value))
        except ValueError:
            raise self.fail(token, f"{kind} {key!r} compares numbers; {token.text} is not a "
                            "number") from None


def parse_entity_filter(text: str | None, fields: EntityFields) -> list[Clause]:
    """The AND-ed clauses of ``text`` (empty for None or blank); ``FilterError`` if bad."""
    if text is None or not text.strip():
        return []
    return _Reader(text, fields).clauses()


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, (int, float)):
        return float(value)
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def clause_matches(clause: Clause, actual: Any) -> bool:
    if actual is None:
        return False
    op, value = clause.op, clause.value
    if clause.numeric:
        number = _number(actual)
        if number is None or math.isnan(number):
            return False
        return {"=": number == value, "!=": number != value, "<": number < value,
                "<=": number <= value, ">": number > value, ">=": number >= value}[op]
    text = str(actual)
    if op == "=":
        return text == value
    if op == "!=":
        return text != value
    if op == "LIKE":
        return like_matches(value, text)
    if op == "ILIKE":
        return like_matches(value, text, ignore_case=True)
    if op == "IN":
        return text in value
    return text not in value  # NOT IN


Lookup = Callable[[T, str, str], Any]  # (entity, kind, key) -> value or None


def filter_entities(entities: Iterable[T], clauses: Sequence[Clause],
                    lookup: Lookup[T]) -> list[T]:
    return [e for e in entities
            if all(clause_matches(c, lookup(e, c.kind, c.key)) for c in clauses)]


def parse_entity_order_by(items: Sequence[str] | str | None,
                          fields: EntityFields) -> list[OrderItem]:
    """``["metrics.acc DESC", "start_time"]`` as order items; ``FilterError`` if bad."""
    if items is None:
        return []
    if isinstance(items, str):
        items = [items]
    parsed = []
    for item in items:
        if not isinstance(item, str):
            raise FilterError(f"order_by items must be strings, got {type(item).__name__}")
        ident, ascending = split_order_item(item, what=fields.what.replace("filter",
                                                                           "order_by"))
        kind, key, numeric = _identifier(ident, item, fields)
        parsed.append(OrderItem(kind, key, ascending, numeric))
    return parsed


def sort_entities(entities: Iterable[T], order: Sequence[OrderItem], lookup: Lookup[T],
                  *, default: Callable[[T], Any] | None = None) -> list[T]:
    """Sorted by ``order`` (missing values last), then by ``default`` for equal keys."""
    result = list(entities)
    if default is not None:
        result.sort(key=default)
    for item in reversed(order):
        def key(entity: T, item: OrderItem = item) -> Any:
            value = lookup(entity, item.kind, item.key)
            if item.numeric:
                value = _number(value)
                if value is not None and math.isnan(value):
                    value = None
            elif value is not None:
                value = str(value)
            return value

        present = [e for e in result if key(e) is not None]
        missing = [e for e in result if key(e) is None]
        present.sort(key=key, reverse=not item.ascending)
        result = present + missing
    return result
