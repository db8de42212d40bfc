"""``order_by`` items (``"timestamp DESC"``, ``"tags.priority"``) and their reference sort.

Sortable: every trace attribute (``attributes.``/``trace.`` prefix optional, aliases as in
filters), ``tags.KEY`` and ``metadata.KEY`` (compared as text). Missing values sort last
in either direction. After the given keys, ties break by request time (newest first),
then trace id, which is also the order when no key is given.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from typing import Any

from spanscope.entities import Trace
from spanscope.exceptions import FilterError
from spanscope.query.ast import Attribute, AttributeName, Metadata, Tag
from spanscope.query.errors import filter_error
from spanscope.query.evaluate import field_value
from spanscope.query.fields import resolve_identifier
from spanscope.query.lexer import Token, TokenKind, tokenize

__all__ = ["DEFAULT_ORDER", "OrderKey", "parse_order_by", "sort_traces", "split_order_item"]

_WHAT = "order_by item"


@dataclasses.dataclass(frozen=True)
class OrderKey:
    """One sort key: an attribute, tag or metadata entry, and its direction."""

    field: Attribute | Tag | Metadata
    ascending: bool = True
    written: str = dataclasses.field(default="", compare=False)


DEFAULT_ORDER = (OrderKey(Attribute(AttributeName.REQUEST_TIME), False, "request_time DESC"),
                 OrderKey(Attribute(AttributeName.TRACE_ID), True, "trace_id ASC"))


def split_order_item(item: str, *, what: str = _WHAT) -> tuple[Token, bool]:
    """The identifier token of ``KEY [ASC|DESC]`` and whether it sorts ascending.

    The one reading of an order-by item, for traces here and for runs and datasets in
    ``entity_filter``; ``FilterError`` (position and token set) when it is not that shape.
    """
    tokens = tokenize(item, what=what)
    ident = tokens[0]
    if ident.kind is not TokenKind.IDENT:
        found = "an empty item" if ident.kind is TokenKind.END else ident.describe()
        raise filter_error(item, ident.position, f"expected a key such as timestamp or "
                           f"tags.KEY, found {found}", token=ident.text or None, what=what)
    ascending = True
    rest = tokens[1:]
    if rest[0].kind is TokenKind.KEYWORD and rest[0].value in ("ASC", "DESC"):
        ascending = rest[0].value == "ASC"
        rest = rest[1:]
    if rest[0].kind is not TokenKind.END:
        raise filter_error(item, rest[0].position, f"expected ASC, DESC or the end of the "
                           f"item, found {rest[0].describe()}", token=rest[0].text, what=what)
    return ident, ascending


def _parse_item(item: str) -> OrderKey:
    ident, ascending = split_order_item(item)
    field = resolve_identifier(item, ident, what=_WHAT)
    if not isinstance(field, (Attribute, Tag, Metadata)):
        raise filter_error(item, ident.position, f"cannot order by {ident.text}; order by a "
                           "trace attribute, tags.KEY or metadata.KEY", token=ident.text,
                           what=_WHAT)
    return OrderKey(field, ascending, item.strip())


def parse_order_by(items: Sequence[str] | str | None) -> list[OrderKey]:
    """Parse ``KEY [ASC|DESC]`` items; a single string is one item. ``FilterError`` if bad."""
    if items is None:
        return []
    if isinstance(items, str):
        items = [items]
    keys: list[OrderKey] = []
    for item in items:
        if not isinstance(item, str):
            raise FilterError(f"order_by items must be strings, got {type(item).__name__}")
        keys.append(_parse_item(item))
    return keys


def _sort_value(trace: Trace, field: Attribute | Tag | Metadata) -> Any:
    value = field_value(field, trace)
    return None if value is None else (value if isinstance(value, int) else str(value))


def sort_traces(traces: Iterable[Trace], keys: Sequence[OrderKey] = ()) -> list[Trace]:
    """The reference order for ``keys`` plus the default tie-breakers; missing values last."""
    ordered = list(traces)
    given = {key.field for key in keys}
    full = [*keys, *(key for key in DEFAULT_ORDER if key.field not in given)]
    for key in reversed(full):  # stable sorts, least significant key first
        values = {id(trace): _sort_value(trace, key.field) for trace in ordered}
        present = [trace for trace in ordered if values[id(trace)] is not None]
        missing = [trace for trace in ordered if values[id(trace)] is None]
        present.sort(key=lambda trace: values[id(trace)], reverse=not key.ascending)
        ordered = present + missing
    return ordered
