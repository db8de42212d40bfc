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

Several experiments, or all of them (``experiment_keys=None``), have no index in their
common order, so a page of up to ``MERGE_MAX`` experiments is read from each experiment's
own index (``experiment_id = k ... ORDER BY ... LIMIT n``, one arm per experiment of a
``UNION ALL``) and the arms' rows merged: a page costs at most ``n`` rows per experiment
instead of a sort of every matching trace, and page 1,000 costs what page 1 does.

How the matching traces are found (scan in order and probe, or look a value up in an
index) is the planner's choice (``planner.Planner``), re-made for each read because it
depends on how many rows are wanted; how the filter is then said in SQL is
``filter_sql.translate``'s, and what differs between databases is ``dialects``'.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy import exc as sa_exc

from spanscope.query import Attribute, Node, OrderKey, Tag, parse_filter
from spanscope.query.errors import filter_error
from spanscope.store.keyset import Order
from spanscope.store.sql import schema
from spanscope.store.sql.dialects import Dialect, dialect_for
from spanscope.store.sql.filter_sql import (
    check_filter,
    regex_error,
    regex_patterns,
    translate,
)
from spanscope.store.sql.planner import Plan, Planner

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection, Row

__all__ = ["MERGE_MAX", "SearchQuery", "all_experiments", "too_complex"]

MERGE_MAX = 64  # experiments whose pages are read apart and merged; more are sorted
_TOO_COMPLEX = "54001"  # PostgreSQL SQLSTATE statement_too_complex (stack depth)
_SQLITE_TOO_COMPLEX = ("parser stack overflow", "expression tree is too large")


def too_complex(exc: sa_exc.DBAPIError) -> bool:
    """A statement the database refuses for its nesting or size, not for its data."""
    if getattr(exc.orig, "sqlstate", None) == _TOO_COMPLEX:
        return True
    message = str(exc.orig).lower()
    return any(text in message for text in _SQLITE_TOO_COMPLEX)


def all_experiments(conn: Connection, limit: int | None = None) -> list[int]:
    """Every experiment's key (the first ``limit`` of them)."""
    query = sa.select(schema.experiments.c.experiment_id).order_by(
        schema.experiments.c.experiment_id).limit(limit)
    return [row[0] for row in conn.execute(query)]


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

    def __init__(self, dialect: str | Dialect, experiment_keys: Sequence[int] | None,
                 filter_string: str | None, order_by: Sequence[str] | str | None) -> None:
        self.dialect = dialect_for(dialect) if isinstance(dialect, str) else dialect
        self.filter_string = filter_string or ""
        self.node: Node | None = parse_filter(filter_string)
        self.order = Order.parse(order_by)
        self.experiment_keys = None if experiment_keys is None else sorted(set(experiment_keys))
        self.planner = Planner(self.dialect, self.node, self.experiment_keys, self.order)
        if self.node is not None:  # what translating would refuse, refused now
            check_filter(self.node, self.dialect, self.filter_string)
        self.keys = [self._sort_key(key, i) for i, key in enumerate(self.order.keys)]
        self.segmented = self.keys[0].nullable

    def conditions(self, plan: Plan, *, experiments: bool = True,
                   ) -> list[sa.ColumnElement[bool]]:
        """Experiments (unless ``experiments`` is false: each merged arm names its own)
        and filter as conditions on ``traces``, read as ``plan`` says."""
        where: list[sa.ColumnElement[bool]] = []
        if self.experiment_keys is not None and experiments:
            column = schema.traces.c.experiment_id
            if plan.lookups:
                column = self.dialect.looked_up_experiment(column)
            where.append(column.in_(self.experiment_keys))
        if self.node is not None:
            where.append(translate(self.node, self.dialect, plan, self.filter_string))
        return where

    def plan(self, conn: Connection, limit: int | None) -> Plan:
        """The plan for ``limit`` rows in this search's order (None: every match)."""
        return self.planner.plan(conn, limit)

    def merged_experiments(self, conn: Connection, limit: int | None) -> list[int] | None:
        """The experiments read apart and merged for a page of ``limit`` rows (None: one
        query over all of them): several (or all) experiments, at most ``MERGE_MAX``, in an
        order an index of one experiment gives."""
        if limit is None or not self.planner.indexed_order:
            return None
        keys = self.experiment_keys
        if keys is None:
            keys = all_experiments(conn, MERGE_MAX + 1)
        elif len(keys) < 2:
            return None
        return keys if 1 <= len(keys) <= MERGE_MAX else None

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
            expr = self.dialect.text_key(expr)
        return _SortKey(expr, key.ascending, Order.nullable(key), numeric, f"_sort_{index}")

    # --- page tokens ----------------------------------------------------------------------
    def encode(self, row: Row[Any]) -> str:
        return self.order.encode([row._mapping[key.label] for key in self.keys])

    def decode(self, token: str) -> list[Any]:
        return self.order.decode(token)

    # --- running it ---------------------------------------------------------------------------
    def prepare(self, conn: Connection) -> None:
        """Before a read: the dialect's session settings, and an RLIKE pattern the
        database's regex engine rejects becomes a ``FilterError`` before anything runs."""
        self.dialect.prepare(conn)
        if self.node is None:
            return
        for leaf in regex_patterns(self.node):
            reason = self.dialect.regex_problem(conn, str(leaf.value))
            if reason is not None:
                raise regex_error(self.filter_string, leaf, reason)

    def rows(self, conn: Connection, limit: int | None, after: list[Any] | None,
             *, columns: Sequence[sa.ColumnElement[Any]] | None = None,
             driver_rows: bool = False) -> list[Row[Any]]:
        """Up to ``limit`` rows (None: all) following the sort-key values ``after``.

        ``driver_rows``: the driver's tuples instead of ``Row`` objects (``columns`` then
        the sort keys, by position), for a caller that reads thousands of rows of columns
        that need no result processing.
        """
        self.prepare(conn)
        merged = self.merged_experiments(conn, limit)
        plan = self.planner.plan(conn, limit, merged=merged is not None)
        if plan.lookups:  # the lookup reads only the matches: one query sorts them
            merged = None
        if merged is not None:
            base = self.conditions(plan, experiments=False)
        else:
            base = self.conditions(plan)
        fetch = functools.partial(self._fetch, conn, base, columns=columns, merged=merged,
                                  driver_rows=driver_rows)
        if not self.segmented:
            where = [] if after is None else [self._after(self.keys, after, leading=True)]
            return fetch(where, self.keys, limit)
        first, rest = self.keys[0], self.keys[1:]
        rows: list[Row[Any]] = []
        rest_after = after[1:] if after is not None and after[0] is None else None
        if after is None or after[0] is not None:
            where = [first.expr.isnot(None)]
            if after is not None:
                where.append(self._after(self.keys, after, leading=True))
            rows = fetch(where, self.keys, limit, plain_first=True)
            if limit is not None and len(rows) >= limit:
                return rows
        where = [first.expr.is_(None)]
        if rest_after is not None:
            where.append(self._after(rest, rest_after))
        more_limit = None if limit is None else limit - len(rows)
        return rows + fetch(where, rest, more_limit)

    def _fetch(self, conn: Connection, base: list[sa.ColumnElement[bool]],
               where: list[sa.ColumnElement[bool]],
               order: list[_SortKey], limit: int | None, *,
               columns: Sequence[sa.ColumnElement[Any]] | None,
               merged: list[int] | None, driver_rows: bool,
               plain_first: bool = False) -> list[Row[Any]]:
        selected = [schema.traces] if columns is None else list(columns)
        nulls = [not (plain_first and i == 0) for i in range(len(order))]
        query = sa.select(*selected, *(key.expr.label(key.label) for key in self.keys))
        query = query.where(*base, *where).order_by(
            *(key.order(nulls=n) for key, n in zip(order, nulls, strict=True)))
        if limit is not None:
            query = query.limit(limit)
        if merged is not None:  # one arm per experiment, each read from its own index
            experiment = schema.traces.c.experiment_id
            arms = sa.union_all(*(sa.select(query.where(experiment == key).subquery())
                                  for key in merged)).subquery()
            query = sa.select(arms).order_by(*(
                _SortKey(arms.c[key.label] if key.numeric
                         else self.dialect.text_key(arms.c[key.label]), key.ascending,
                         key.nullable, key.numeric, key.label).order(nulls=n)
                for key, n in zip(order, nulls, strict=True))).limit(limit)
        try:
            result = conn.execute(query)
            if driver_rows:
                try:
                    return result.cursor.fetchall()  # type: ignore[no-any-return]
                finally:
                    result.close()
            return list(result.all())
        except sa_exc.DBAPIError as exc:
            if not too_complex(exc):
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
