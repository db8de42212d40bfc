"""The small filter language of ``search_runs`` and ``search_datasets`` (MLflow's subset).

Grammar: ``CLAUSE (AND CLAUSE)*`` where a clause is ``IDENTIFIER OP VALUE`` or
``IDENTIFIER [NOT] IN ('a', 'b')``. Identifiers are ``params.KEY``, ``metrics.KEY``,
``tags.KEY`` (also ``param.``, ``metric.``, ``tag.``) and ``attributes.NAME`` (also
``attribute.``, ``attr.``, ``run.`` or the bare ``NAME``); a key with odd characters is
written in backticks or double quotes (``tags.`mlflow.runName```). Operators:

- numbers (metrics, numeric attributes): ``= != < <= > >=``;
- strings (params, tags, text attributes): ``= != LIKE ILIKE IN NOT IN`` (``%`` and
  ``_`` are the LIKE wildcards; ILIKE ignores case).

A clause on a key the entity does not have is false (as in MLflow: ``params.x != '1'``
does not match a run without ``x``). Each entity kind passes the attribute names it has
(and which of them are numeric), so the same parser serves runs and datasets.
``parse_entity_order_by`` reads ``order_by`` items (``metrics.m DESC``, ``start_time``).
Pure: no I/O.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from spanscope.query.errors import filter_error

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

_TOKEN = re.compile(r"""
    (?P<ws>\s+)
  | (?P<op><=|>=|!=|<>|==|=|<|>)
  | (?P<string>'(?:[^'\\]|\\.|'')*'|"(?:[^"\\]|\\.)*")
  | (?P<number>[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)
  | (?P<punct>[(),])
  | (?P<ident>(?:[A-Za-z_][\w]*|`[^`]*`)(?:\.(?:`[^`]*`|"[^"]*"|[\w:/\-]+(?:\.[\w:/\-]+)*))?)
""", re.VERBOSE)


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


@dataclass(frozen=True)
class _Token:
    kind: str
    text: str
    position: int


def _tokens(text: str, fields: EntityFields) -> list[_Token]:
    found, position = [], 0
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None:
            raise filter_error(text, position, f"unexpected character {text[position]!r}",
                               token=text[position], what=fields.what)
        kind = match.lastgroup or ""
        if kind != "ws":
            found.append(_Token(kind, match.group(), position))
        position = match.end()
    return found


def _unquote(text: str) -> str:
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "`\"'":
        body = text[1:-1]
        if text[0] == "'":
            body = body.replace("''", "'")
        return re.sub(r"\\(.)", r"\1", body) if text[0] != "`" else body
    return text


def _identifier(token: _Token, text: str, fields: EntityFields) -> tuple[str, str, bool]:
    """(kind, key, numeric) of an identifier token; ``FilterError`` if unknown."""
    prefix, dot, rest = token.text.partition(".")
    prefix = _unquote(prefix)
    if dot and prefix.lower() in _PREFIXES:
        kind, key = _PREFIXES[prefix.lower()], _unquote(rest)
    elif not dot:
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


def parse_entity_filter(text: str | None, fields: EntityFields) -> list[Clause]:
    """The AND-ed clauses of ``text`` (empty for None or blank); ``FilterError`` if bad."""
    if text is None or not text.strip():
        return []
    tokens = _tokens(text, fields)
    clauses: list[Clause] = []
    i = 0

    def expect(kinds: set[str], wanted: str) -> _Token:
        nonlocal i
        if i >= len(tokens):
            raise filter_error(text, len(text), f"expected {wanted} at the end",
                               what=fields.what)
        token = tokens[i]
        if token.kind not in kinds:
            raise filter_error(text, token.position, f"expected {wanted}, got {token.text!r}",
                               token=token.text, what=fields.what)
        i += 1
        return token

    while True:
        ident = expect({"ident"}, "an identifier such as params.KEY or metrics.KEY")
        kind, key, numeric = _identifier(ident, text, fields)
        op_token = expect({"op", "ident"}, "a comparison operator")
        op = op_token.text.upper()
        op = {"==": "=", "<>": "!="}.get(op, op)
        if op == "NOT":
            following = expect({"ident"}, "IN after NOT")
            if following.text.upper() != "IN":
                raise filter_error(text, following.position, "expected IN after NOT",
                                   token=following.text, what=fields.what)
            op = "NOT IN"
        allowed = _NUMERIC_OPS if numeric else _STRING_OPS
        if op not in allowed:
            raise filter_error(text, op_token.position,
                               f"{op_token.text!r} cannot compare {kind} {key!r}; use one of "
                               + ", ".join(sorted(allowed)),
                               token=op_token.text, what=fields.what)
        if op in ("IN", "NOT IN"):
            expect({"punct"}, "'(' after IN")
            values: list[str] = []
            while True:
                item = expect({"string", "number"}, "a value in the IN list")
                values.append(_unquote(item.text))
                sep = expect({"punct"}, "',' or ')'")
                if sep.text == ")":
                    break
                if sep.text != ",":
                    raise filter_error(text, sep.position, "expected ',' or ')'",
                                       token=sep.text, what=fields.what)
            value: Any = tuple(values)
        else:
            token = expect({"string", "number"}, "a quoted string or a number")
            if numeric:
                try:
                    value = float(_unquote(token.text))
                except ValueError:
                    raise filter_error(text, token.position,
                                       f"{kind} {key!r} compares numbers; {token.text} is "
                                       "not a number", token=token.text,
                                       what=fields.what) from None
            else:
                value = _unquote(token.text) if token.kind == "string" else token.text
        clauses.append(Clause(kind, key, op, value, numeric))
        if i == len(tokens):
            return clauses
        joiner = expect({"ident"}, "AND")
        if joiner.text.upper() != "AND":
            raise filter_error(text, joiner.position,
                               f"expected AND, got {joiner.text!r} (only AND is supported here)",
                               token=joiner.text, what=fields.what)


def _like(pattern: str, flags: int = 0) -> re.Pattern[str]:
    parts = ["." if ch == "_" else ".*" if ch == "%" else re.escape(ch) for ch in pattern]
    return re.compile("".join(parts), flags | re.DOTALL)


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
        return _like(value).fullmatch(text) is not None
    if op == "ILIKE":
        return _like(value, re.IGNORECASE).fullmatch(text) is not None
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
        words = str(item).strip().rsplit(None, 1)
        ascending = True
        if len(words) == 2 and words[1].upper() in ("ASC", "DESC"):
            ascending = words[1].upper() == "ASC"
            target = words[0]
        else:
            target = str(item).strip()
        match = _TOKEN.fullmatch(target)
        if not target or match is None or match.lastgroup != "ident":
            raise filter_error(str(item), 0, "expected an identifier, optionally followed "
                               "by ASC or DESC", token=str(item),
                               what=fields.what.replace("filter", "order_by"))
        kind, key, numeric = _identifier(_Token("ident", target, 0), str(item), fields)
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
