"""``search_traces`` for the SQL store: filter, ``order_by`` and keyset pages in one query.

The order is ``spanscope.query.sort_traces``'s: the ``order_by`` keys, then request time
(newest first) and trace id (ascending) as tie-breakers, missing values last in either
direction. Text sorts in code-point order (``COLLATE "C"`` on PostgreSQL), like Python.

Page tokens are keysets for every order (format and reference paging in
``spanscope.store.keyset``): the next page is "rows after the last row's sort values", so
pages stay correct while traces arrive and a deep page costs no more than the first.

When the first key can be missing (``execution_time``, ``name``, a tag ...), the page is
read in two segments, traces that have the value (an index range in the key's own order)
then traces that do not, because "missing last" is not an order either database's index
can scan in both directions.

Two plans (``plan``): *scan* the experiment in result order and probe each trace's
tags, spans ... until the page is full, or, when the filter has a top-level tag/metadata
equality (``filter_sql.value_lookups``), *look* its value up in the value index and read
only the traces it names. Scanning costs about ``page / fraction matching`` probes and
looking up about one read per match, so a common value scans and a rare one looks up.
PostgreSQL's planner makes that choice itself from the index's statistics. SQLite keeps
no value statistics, so for SQLite ``plan`` counts the index range up to
``lookup_cap(page, traces)`` entries first (~1 ms) and looks up only below it; queries that need
every match (no limit, a sort of everything, aggregates) always look up.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy import exc as sa_exc

from spanscope.query import Attribute, AttributeName, Node, OrderKey, Tag, parse_filter
from spanscope.query.errors import filter_error
from spanscope.store.keyset import Order
from spanscope.store.sql import schema
from spanscope.store.sql.filter_sql import (
    FilterCompiler,
    Lookup,
    no_index,
    span_lookups,
    text_key,
    value_lookups,
)

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection, Row

__all__ = ["SearchQuery", "lookup_cap"]

_INVALID_REGEX = "2201B"  # PostgreSQL SQLSTATE invalid_regular_expression
_TOO_COMPLEX = "54001"  # PostgreSQL SQLSTATE statement_too_complex (stack depth)
_SQLITE_TOO_COMPLEX = ("parser stack overflow", "expression tree is too large")
# Orders an index of ``traces`` gives for one experiment, so a scan can stop at the page.
_INDEXED_ORDERS = {AttributeName.REQUEST_TIME, AttributeName.EXECUTION_DURATION}
# Bounds of the index entries counted before a value is "common" (see lookup_cap).
_CAP_MIN, _CAP_MAX = 100, 20_000


def lookup_cap(limit: int, traces: int) -> int:
    """How many traces with the value make it common enough to scan for a page of
    ``limit`` rows in a store of about ``traces`` traces: looking up costs one read per
    match, a scan ``limit * traces / matches`` probes, so they break even near
    ``sqrt(limit * traces)`` (~10,000 for a page of 100 in a million traces, ~1,000 in
    10,000); counting 10,000 index entries takes ~1 ms."""
    return max(_CAP_MIN, min(_CAP_MAX, math.isqrt(limit * max(traces, 0))))


def _too_complex(exc: sa_exc.DBAPIError) -> bool:
    """A statement the database refuses for its nesting or size, not for its data."""
    if getattr(exc.orig, "sqlstate", None) == _TOO_COMPLEX:
        return True
    message = str(exc.orig).lower()
    return any(text in message for text in _SQLITE_TOO_COMPLEX)


@dataclasses.dataclass(frozen=True)
class _SortKey:
    expr: sa.ColumnElement[Any]
    ascending: bool
    nullable: bool
    numeric: bool
    label: str

    def order(self, *, nulls: bool = True) -> sa.ColumnElement[Any]:
        ordered = self.expr.asc() if self.ascending else self.expr.desc()
        return ordered.nulls_last() if nulls and self.nullable else ordered


class SearchQuery:
    """One search: experiments, parsed filter and order, for one dialect.

    ``FilterError`` (from parsing) and ``InvalidInputError`` (a bad page token) are raised
    by the constructor and ``decode``, before any SQL runs.
    """

    def __init__(self, dialect: str, experiment_keys: Sequence[int] | None,
                 filter_string: str | None, order_by: Sequence[str] | str | None) -> None:
        self.postgresql = dialect == "postgresql"
        self.filter_string = filter_string or ""
        self.node: Node | None = parse_filter(filter_string)
        self.order = Order.parse(order_by)
        self.compiler = FilterCompiler(dialect)
        self.experiment_keys = None if experiment_keys is None else sorted(set(experiment_keys))
        self.lookups = value_lookups(self.node)
        # PostgreSQL plans a top-level EXISTS on spans as a semi-join from its statistics
        self.span_lookups = [] if self.postgresql else span_lookups(self.node)
        self.where = self.conditions()  # the scan plan's; compiling raises FilterErrors now
        self.keys = [self._sort_key(key, i) for i, key in enumerate(self.order.keys)]
        self.segmented = self.keys[0].nullable

    def conditions(self, lookups: Sequence[Lookup] = ()) -> list[sa.ColumnElement[bool]]:
        """Experiments and filter as conditions on ``traces``, ``lookups`` compiled as
        lookups in the value index.

        With a lookup, SQLite reads the experiment id as ``+experiment_id``: it would
        otherwise prefer to scan the experiment's index and test each trace against the
        looked-up list, reading the whole experiment again.
        """
        where: list[sa.ColumnElement[bool]] = []
        if self.experiment_keys is not None:
            column = schema.traces.c.experiment_id
            if lookups and not self.postgresql:
                column = no_index(column)
            where.append(column.in_(self.experiment_keys))
        if self.node is not None:
            where.append(self.compiler.compile(self.node, self.filter_string, lookups))
        return where

    def plan(self, conn: Connection, limit: int | None) -> tuple[Lookup, ...]:
        """The lookups the query should be compiled with (none: scan and probe).

        PostgreSQL gets every value lookup: its planner knows how common the prefix is
        from the index's statistics and chooses between scanning and looking up by itself.
        SQLite keeps no such statistics, so this decides for it: ``limit`` is the rows
        wanted in this search's order (None: every match). A scan stops after ``limit``
        matches only in an order an index gives for one experiment; then a value or span
        lookup is taken when its index range is below ``lookup_cap``. Otherwise every
        match is read anyway and the smallest value lookup wins (span lookups are used
        only for pages: a common span type is cheaper probed than collected).
        """
        if self.postgresql:
            return tuple(self.lookups)
        first = self.order.keys[0].field
        stops = (limit is not None and self.experiment_keys is not None
                 and len(self.experiment_keys) == 1 and isinstance(first, Attribute)
                 and first.name in _INDEXED_ORDERS)
        candidates: list[Lookup] = list(self.lookups)
        cap = None  # every match is read: no cap, the smallest range drives
        if stops and limit is not None:
            candidates += self.span_lookups
            if not candidates:
                return ()
            cap = lookup_cap(limit, self.traces_estimate(conn))
        elif len(candidates) <= 1:
            return tuple(candidates)
        best: tuple[int, Lookup] | None = None
        for lookup in candidates:
            bound = cap if best is None else best[0] if cap is None else min(cap, best[0])
            found = self.count(conn, lookup, bound)
            if (bound is None or found < bound) and (best is None or found < best[0]):
                best = (found, lookup)
        return () if best is None else (best[1],)

    @staticmethod
    def traces_estimate(conn: Connection) -> int:
        """About how many traces the store holds: SQLite's largest rowid, read from the
        end of the table's b-tree (a count would read the whole table)."""
        rowid = sa.literal_column("rowid")
        return int(conn.execute(sa.select(sa.func.max(rowid)).select_from(schema.traces)
                                ).scalar() or 0)

    def count(self, conn: Connection, lookup: Lookup, cap: int | None) -> int:
        """Index entries of the lookup's values (prefixes), counting up to ``cap``."""
        candidates = lookup.candidates(self.postgresql)
        if cap is not None:
            candidates = candidates.limit(cap)
        return int(conn.execute(sa.select(sa.func.count()).select_from(
            candidates.subquery())).scalar_one())

    def _sort_key(self, key: OrderKey, index: int) -> _SortKey:
        field = key.field
        traces = schema.traces
        if isinstance(field, Attribute):
            expr: sa.ColumnElement[Any] = traces.c[str(field.name)]
        else:
            table = (schema.trace_tags if isinstance(field, Tag) else schema.trace_metadata
                     ).alias()
            expr = (sa.select(table.c.value)
                    .where(table.c.trace_id == traces.c.trace_id,
                           table.c["key"] == field.key)  # type: ignore[union-attr]
                    .scalar_subquery())
        numeric = Order.numeric(key)
        if not numeric:
            expr = text_key(expr, self.postgresql)
        return _SortKey(expr, key.ascending, Order.nullable(key), numeric, f"_sort_{index}")

    # --- page tokens ----------------------------------------------------------------------
    def encode(self, row: Row[Any]) -> str:
        return self.order.encode([row._mapping[key.label] for key in self.keys])

    def decode(self, token: str) -> list[Any]:
        return self.order.decode(token)

    # --- running it ---------------------------------------------------------------------------
    def prepare(self, conn: Connection) -> None:
        """PostgreSQL only: no parallel workers for this transaction's searches (starting
        them costs more than a page of 100 traces takes), and an RLIKE pattern its regex
        engine rejects becomes a ``FilterError`` before the search runs."""
        if not self.postgresql:
            return
        conn.exec_driver_sql("SET LOCAL max_parallel_workers_per_gather = 0")
        if self.node is None:
            return
        for leaf in self.compiler.regex_patterns(self.node):
            try:
                conn.execute(sa.select(sa.literal("").op("~", is_comparison=True)(leaf.value)))
            except sa_exc.DBAPIError as exc:
                if getattr(exc.orig, "sqlstate", None) != _INVALID_REGEX:
                    raise
                reason = str(exc.orig).splitlines()[0].strip()
                raise self.compiler.regex_error(leaf, reason) from None

    def rows(self, conn: Connection, limit: int | None, after: list[Any] | None,
             *, columns: Sequence[sa.ColumnElement[Any]] | None = None) -> list[Row[Any]]:
        """Up to ``limit`` rows (None: all) following the sort-key values ``after``."""
        self.prepare(conn)
        lookups = self.plan(conn, limit)
        base = self.conditions(lookups) if lookups else self.where
        if not self.segmented:
            where = [] if after is None else [self._after(self.keys, after, leading=True)]
            return self._fetch(conn, base, where, self.keys, limit, columns)
        first, rest = self.keys[0], self.keys[1:]
        rows: list[Row[Any]] = []
        rest_after = after[1:] if after is not None and after[0] is None else None
        if after is None or after[0] is not None:
            where = [first.expr.isnot(None)]
            if after is not None:
                where.append(self._after(self.keys, after, leading=True))
            rows = self._fetch(conn, base, where, self.keys, limit, columns, plain_first=True)
            if limit is not None and len(rows) >= limit:
                return rows
        where = [first.expr.is_(None)]
        if rest_after is not None:
            where.append(self._after(rest, rest_after))
        more_limit = None if limit is None else limit - len(rows)
        return rows + self._fetch(conn, base, where, rest, more_limit, columns)

    def _fetch(self, conn: Connection, base: list[sa.ColumnElement[bool]],
               where: list[sa.ColumnElement[bool]],
               order: list[_SortKey], limit: int | None,
               columns: Sequence[sa.ColumnElement[Any]] | None, *,
               plain_first: bool = False) -> list[Row[Any]]:
        selected = [schema.traces] if columns is None else list(columns)
        query = sa.select(*selected, *(key.expr.label(key.label) for key in self.keys))
        query = query.where(*base, *where).order_by(
            *(key.order(nulls=not (plain_first and i == 0)) for i, key in enumerate(order)))
        if limit is not None:
            query = query.limit(limit)
        try:
            return list(conn.execute(query).all())
        except sa_exc.DBAPIError as exc:
            if not _too_complex(exc):
                raise
            raise filter_error(self.filter_string, 0, "the filter nests too deeply or is too "
                               "long for this database; use fewer parentheses and NOTs, or "
                               "IN (...) instead of long OR chains") from None

    @staticmethod
    def _after(keys: list[_SortKey], values: list[Any], *,
               leading: bool = False) -> sa.ColumnElement[bool]:
        """Rows sorting strictly after ``values`` (missing values last)."""
        terms: list[sa.ColumnElement[bool]] = []
        equal: list[sa.ColumnElement[bool]] = []
        for key, value in zip(keys, values, strict=True):
            if value is not None:
                beyond = key.expr > value if key.ascending else key.expr < value
                if key.nullable:
                    beyond = sa.or_(beyond, key.expr.is_(None))
                terms.append(sa.and_(*equal, beyond))
                equal.append(key.expr == value)
            else:
                equal.append(key.expr.is_(None))
        condition = sa.or_(*terms) if terms else sa.false()
        first, first_value = keys[0], values[0]
        if leading and first_value is not None:  # an index range for the first key
            bound = first.expr >= first_value if first.ascending else first.expr <= first_value
            condition = sa.and_(bound, condition)
        return condition
