"""Keyset page tokens for ``search_traces``, shared by every store, and reference paging.

The order of a search is ``spanscope.query.sort_traces``'s: the ``order_by`` keys, then
the default keys not already given (request time newest first, trace id ascending);
missing values sort last in either direction. A page token holds the sort-key values of
the last trace on the page, as URL-safe base64 JSON, and the next page is the traces
sorting strictly after them: pages stay correct while traces arrive.

Token forms: ``[request_time, trace_id]`` for the default order (the form stores have
always issued), ``{"o": fingerprint, "k": [values...]}`` with ``order_by``. The
fingerprint ties a token to its ``order_by``, so replaying it under another order is an
``InvalidInputError`` instead of a silently wrong page.

``page`` is the reference implementation over ``Trace`` entities (``InMemoryStore`` uses
it); ``SqlStore`` builds the same keyset in SQL (``store/sql/search.py``).
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import hashlib
import json
from collections.abc import Iterable, Sequence
from typing import Any

from spanscope.entities import PagedList, Trace
from spanscope.exceptions import InvalidInputError
from spanscope.query import (
    DEFAULT_ORDER,
    Attribute,
    AttributeName,
    OrderKey,
    field_value,
    matches,
    parse_filter,
    parse_order_by,
    sort_traces,
)

__all__ = ["Order", "page"]

_NON_NULL = {AttributeName.TRACE_ID, AttributeName.STATE, AttributeName.REQUEST_TIME}
_NUMERIC = {AttributeName.REQUEST_TIME, AttributeName.EXECUTION_DURATION}


@dataclasses.dataclass(frozen=True)
class Order:
    """The full order of a search: the given keys plus the default tie-breakers."""

    given: tuple[OrderKey, ...]
    keys: tuple[OrderKey, ...]

    @classmethod
    def parse(cls, order_by: Sequence[str] | str | None) -> Order:
        """``FilterError`` for a bad item."""
        given = tuple(parse_order_by(order_by))
        fields = {key.field for key in given}
        return cls(given, (*given, *(k for k in DEFAULT_ORDER if k.field not in fields)))

    @staticmethod
    def nullable(key: OrderKey) -> bool:
        return not (isinstance(key.field, Attribute) and key.field.name in _NON_NULL)

    @staticmethod
    def numeric(key: OrderKey) -> bool:
        return isinstance(key.field, Attribute) and key.field.name in _NUMERIC

    @property
    def fingerprint(self) -> str:
        text = repr([(key.field, key.ascending) for key in self.given])
        return hashlib.sha256(text.encode()).hexdigest()[:12]

    # --- tokens -----------------------------------------------------------------------------
    def encode(self, values: Sequence[Any]) -> str:
        data: Any = list(values) if not self.given else {"o": self.fingerprint,
                                                         "k": list(values)}
        raw = json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    def decode(self, token: str) -> list[Any]:
        """The sort-key values a token carries; ``InvalidInputError`` for anything else."""
        bad = InvalidInputError(
            f"invalid page_token {str(token)[:60]!r}: pass the .token of a previous "
            "search_traces result unchanged" + (", with the same order_by" if self.given
                                                 else ""))
        try:
            data = json.loads(base64.urlsafe_b64decode(str(token) + "=" * (-len(token) % 4)))
        except (binascii.Error, ValueError, TypeError, UnicodeDecodeError):
            raise bad from None
        if self.given:
            if not isinstance(data, dict) or data.get("o") != self.fingerprint:
                raise bad
            data = data.get("k")
        if not isinstance(data, list) or len(data) != len(self.keys):
            raise bad
        for key, value in zip(self.keys, data, strict=True):
            if value is None:
                if not self.nullable(key):
                    raise bad
            elif self.numeric(key):
                if isinstance(value, bool) or not isinstance(value, (int, float)):
                    raise bad
            elif not isinstance(value, str):
                raise bad
        return data

    # --- the reference order over entities --------------------------------------------------
    def values(self, trace: Trace) -> list[Any]:
        out = []
        for key in self.keys:
            value = field_value(key.field, trace)
            out.append(None if value is None else value if isinstance(value, int)
                       else str(value))
        return out

    def after(self, values: Sequence[Any], last: Sequence[Any]) -> bool:
        """Whether a trace with sort values ``values`` sorts strictly after ``last``."""
        for key, mine, theirs in zip(self.keys, values, last, strict=True):
            if mine == theirs:
                continue
            if mine is None or theirs is None:
                return mine is None  # missing values sort last
            return mine > theirs if key.ascending else mine < theirs
        return False


def page(traces: Iterable[Trace], *, filter_string: str | None,
         order_by: Sequence[str] | str | None, max_results: int | None,
         page_token: str | None) -> PagedList[Trace]:
    """One page of ``traces`` matching the filter, in the reference order."""
    node = parse_filter(filter_string)
    order = Order.parse(order_by)
    last = order.decode(page_token) if page_token else None
    ordered = sort_traces((t for t in traces if matches(node, t)), order.given)
    if last is not None:
        ordered = [t for t in ordered if order.after(order.values(t), last)]
    if max_results is None or len(ordered) <= max_results:
        return PagedList(ordered, None)
    chosen = ordered[:max_results]
    return PagedList(chosen, order.encode(order.values(chosen[-1])))
