"""How a filtered search reads its traces: scan in order and probe, or look values up.

Two ways to find the traces a filter selects. *Scan* the experiment in result order and
probe each trace's tags, spans ... until the page is full; or *look up*: a top-level
tag/metadata equality or ``IN`` (a ``ValueLookup``) is read from the value index (migration
0005), a top-level ``span.`` group with a name or type equality (a ``SpanLookup``) from
the spans' indexes, and only the traces they name are read. Scanning costs about
``page / fraction matching`` probes and looking up about one read per match, so a common
value scans and a rare one looks up.

``Planner.plan`` picks, and returns a ``Plan`` (the lookups to use; none: scan) that the
translation (``filter_sql.translate``) then spells out. PostgreSQL makes the choice itself
from its index statistics (``Dialect.plans_lookups``), so it is given every value
lookup. SQLite keeps no value statistics: the planner counts a lookup's index range up to
``lookup_cap(page, traces)`` entries first (~1 ms) and looks up only below it; a query
that needs every match (no limit, a sort of everything, aggregates) always looks up.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from spanscope.query import (
    And,
    AnySpan,
    Attribute,
    AttributeName,
    CompareAs,
    Comparison,
    Metadata,
    Node,
    Not,
    Op,
    Or,
    RootPayload,
    SpanProperty,
    SpanPropertyName,
    Tag,
    TextContent,
)
from spanscope.store.sql import schema
from spanscope.store.sql.text_index import MIN_PATTERN

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

    from spanscope.store.keyset import Order
    from spanscope.store.sql.dialects import Dialect

__all__ = ["SCAN", "TEXT_WEIGHT", "Lookup", "Plan", "Planner", "SpanLookup", "TextLookup",
           "ValueLookup", "cut_column_decides", "index_literal", "lookup_cap", "lookup_values",
           "simplify", "span_lookups", "text_lookups", "value_lookups"]

# Orders an index of ``traces`` gives for one experiment, so a scan can stop at the page.
_INDEXED_ORDERS = {AttributeName.REQUEST_TIME, AttributeName.EXECUTION_DURATION}
# Bounds of the index entries counted before a value is "common" (see lookup_cap).
_CAP_MIN, _CAP_MAX = 100, 20_000
_SPAN_LOOKUP_COLUMNS = {SpanPropertyName.NAME: "name", SpanPropertyName.TYPE: "span_type"}
# Texts a text lookup counts per trace it finds. At 1M traces the phrase 'help with login'
# (40,000 texts in 20,000 traces, two per trace) took 170-210 ms of CPU looked up and 45 ms
# scanned (5,000 traces probed) on SQLite, 1.0-1.5 s and 0.2 s on PostgreSQL: a lookup pays
# for every text and every trace it finds, so the cap is in traces, two texts each.
TEXT_WEIGHT = 2


def lookup_cap(limit: int, traces: int) -> int:
    """How many traces with the value make it common enough to scan for a page of
    ``limit`` rows in a store of about ``traces`` traces: looking up costs one read per
    match, a scan ``limit * traces / matches`` probes, so they break even near
    ``sqrt(limit * traces)`` (~10,000 for a page of 100 in a million traces, ~1,000 in
    10,000); counting 10,000 index entries takes ~1 ms."""
    return max(_CAP_MIN, min(_CAP_MAX, math.isqrt(limit * max(traces, 0))))


def simplify(node: Node) -> Node:
    """The same filter with less nesting: ``NOT NOT x`` is ``x`` (leaves are two-valued)
    and a chain inside a chain of the same operator joins it. SQLite's parser has a small
    stack, so every level of parentheses saved matters."""
    if isinstance(node, Not):
        child = simplify(node.child)
        return child.child if isinstance(child, Not) else Not(child)
    if isinstance(node, (And, Or)):
        children: list[Node] = []
        for child in (simplify(c) for c in node.children):
            children.extend(child.children if type(child) is type(node) else [child])  # type: ignore[union-attr]
        return type(node)(tuple(children))
    if isinstance(node, AnySpan):
        return AnySpan(simplify(node.condition))
    return node


def cut_column_decides(node: Comparison) -> bool:
    """Whether a name column cut to ``SPAN_NAME_LENGTH`` characters answers ``node``
    exactly: ``=``, ``!=``, ``IN`` and ``NOT IN`` with shorter values (a cut name is longer
    than any of them, equal to none), which also keeps the column's indexes usable."""
    values = node.value if isinstance(node.value, tuple) else (node.value,)
    return node.op in (Op.EQ, Op.NE, Op.IN, Op.NOT_IN) and all(
        isinstance(v, str) and len(v) < schema.SPAN_NAME_LENGTH for v in values)


def lookup_values(node: Node) -> tuple[str, ...] | None:
    """The values of an equality or ``IN`` on a tag or metadata value, else None."""
    if not (isinstance(node, Comparison) and isinstance(node.field, (Tag, Metadata))
            and node.compare_as is CompareAs.TEXT and node.op in (Op.EQ, Op.IN)):
        return None
    return node.value if isinstance(node.value, tuple) else (node.value,)  # type: ignore[return-value]


def _conjuncts(node: Node) -> tuple[Node, ...]:
    return node.children if isinstance(node, And) else (node,)


# --- lookups -------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class ValueLookup:
    """A tag/metadata equality or ``IN`` joined to the filter by a top-level ``AND``: the
    traces it can match are found by looking ``values`` up in the value index.

    Translated with it, the group of comparisons on ``(kind, key)`` becomes ``trace_id IN
    (SELECT ...)``; ``candidates`` is the index range, which the planner counts.
    """

    kind: type[Tag] | type[Metadata]
    key: str
    values: tuple[str, ...]

    @property
    def table(self) -> sa.Table:
        return schema.trace_tags if self.kind is Tag else schema.trace_metadata

    def prefixes(self, dialect: Dialect) -> list[str]:
        """The values as the index holds them, once each (``Dialect.value_prefix``)."""
        return sorted({dialect.value_prefix(v) for v in self.values})

    def candidates(self, dialect: Dialect) -> sa.Select[Any]:
        """One row per indexed value with a matching prefix (a superset of the matches)."""
        table = self.table
        return sa.select(sa.literal(1)).where(
            table.c["key"] == self.key,
            dialect.in_list(schema.value_prefix(table.c.value), self.prefixes(dialect)))


@dataclasses.dataclass(frozen=True)
class SpanLookup:
    """A top-level ``span.`` group (``node``) whose same-span condition includes an
    equality or ``IN`` on the span's name or type: the traces it can match are those of
    the spans found through the spans' ``name`` / ``span_type`` indexes.

    Translated with it, the group becomes ``trace_id IN (SELECT trace_id FROM spans WHERE
    <condition>)`` instead of an ``EXISTS`` probe per trace: the same rows, which a rare
    span name (a tool called once a week) reaches without reading the experiment.
    """

    node: AnySpan
    column: str  # "name" or "span_type"
    values: tuple[str, ...]

    def candidates(self, dialect: Dialect) -> sa.Select[Any]:
        """One row per span with one of the values (a superset of the matches)."""
        return sa.select(sa.literal(1)).where(
            dialect.in_list(schema.spans.c[self.column], self.values))


@dataclasses.dataclass(frozen=True)
class TextLookup:
    """A top-level ``CONTAINS``/``LIKE``/``ILIKE`` on ``text``, ``request``, ``response``
    or ``inputs``/``outputs.PATH`` whose pattern holds ``literal`` (three characters or
    more): the traces it can match are those with a text holding ``literal`` in the text
    index (``text_index``), plus those with texts the index cannot vouch for.

    Translated with it, the comparison becomes ``trace_id IN (SELECT ... FROM span_text
    ...)`` (and, for a root payload, the comparison itself on those traces).
    """

    node: Comparison
    literal: str
    ignore_case: bool

    @property
    def kind(self) -> str | None:
        """The ``span_text.kind`` the comparison reads (None: every kind)."""
        field = self.node.field
        if isinstance(field, RootPayload):
            return "i" if field.side == "inputs" else "o"
        return None

    def candidates(self, dialect: Dialect) -> sa.Select[Any]:
        """One row per indexed text holding the literal in any case (a superset of the
        matches; the texts of every kind, which bounds this lookup's from above)."""
        return dialect.text_candidates(self.literal)


Lookup = ValueLookup | SpanLookup | TextLookup


def index_literal(node: Comparison) -> tuple[str, bool] | None:
    """``(literal, ignore_case)``: text every match of ``node`` must hold, which the
    trigram index can look up, or None.

    ``CONTAINS`` holds its value, ``LIKE`` its longest run of plain characters, ``ILIKE``
    the same lower-cased, when it is ASCII (how a database folds other characters may
    differ from Python); the longest run, that is, without ``%``, ``_`` and ``\\`` even
    where they are plain text, so each database's ``LIKE`` takes the literal unescaped.
    Inside a root payload path the value is JSON text, so a literal with a character JSON
    escapes (quote, backslash, control characters) cannot be used.
    """
    from spanscope.store.sql.dialects import like_tokens

    field = node.field
    if not (isinstance(field, (TextContent, RootPayload)) and node.compare_as is CompareAs.TEXT
            and node.op in (Op.CONTAINS, Op.LIKE, Op.ILIKE)):
        return None
    value = str(node.value)
    ignore_case = node.op is Op.ILIKE
    tokens: list[object] = (list(value) if node.op is Op.CONTAINS
                            else like_tokens(value.lower() if ignore_case else value))
    runs, run = [], ""
    for token in tokens:  # a LIKE wildcard (or a %, _ or \ in the text) ends a run
        if isinstance(token, str) and token not in "%_\\":
            run += token
        else:
            runs.append(run)
            run = ""
    literal = max([*runs, run], key=len)
    if len(literal) < MIN_PATTERN or "\x00" in literal or (
            ignore_case and not literal.isascii()):
        return None
    if isinstance(field, RootPayload) and field.path and any(
            ch in '"\\' or ch < " " for ch in literal):
        return None
    return literal, ignore_case


def text_lookups(node: Node | None) -> list[TextLookup]:
    """The text lookups ``node`` offers: one per comparison at the top level (the whole
    filter, or an operand of its top-level ``AND``) with an ``index_literal``."""
    if node is None:
        return []
    found: list[TextLookup] = []
    for child in _conjuncts(simplify(node)):
        if isinstance(child, Comparison):
            literal = index_literal(child)
            if literal is not None:
                found.append(TextLookup(child, *literal))
    return found


def value_lookups(node: Node | None) -> list[ValueLookup]:
    """The lookups ``node`` offers: one per tag/metadata key compared with ``=``/``IN``
    at the top level (the whole filter, or an operand of its top-level ``AND``)."""
    if node is None:
        return []
    found: dict[tuple[type, str], ValueLookup] = {}
    for child in _conjuncts(simplify(node)):
        values = lookup_values(child)
        if values is not None:
            field = child.field  # type: ignore[union-attr]
            found.setdefault((type(field), field.key), ValueLookup(type(field), field.key,
                                                                   values))
    return list(found.values())


def span_lookups(node: Node | None) -> list[SpanLookup]:
    """The span lookups ``node`` offers: one per ``span.`` group at the top level (the
    whole filter, or an operand of its top-level ``AND``) with a name or type equality
    among the conjuncts of its condition."""
    if node is None:
        return []
    found: list[SpanLookup] = []
    for child in _conjuncts(simplify(node)):
        if not isinstance(child, AnySpan):
            continue
        for part in _conjuncts(child.condition):
            if (isinstance(part, Comparison) and isinstance(part.field, SpanProperty)
                    and part.field.name in _SPAN_LOOKUP_COLUMNS
                    and part.compare_as is CompareAs.TEXT and part.op in (Op.EQ, Op.IN)
                    and cut_column_decides(part)):  # a longer name is no index range
                values = part.value if isinstance(part.value, tuple) else (part.value,)
                found.append(SpanLookup(child, _SPAN_LOOKUP_COLUMNS[part.field.name],
                                        values))  # type: ignore[arg-type]
                break
    return found


# --- the plan ----------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class Plan:
    """The lookups a filter is translated with (none: scan the experiment and probe)."""

    lookups: tuple[Lookup, ...] = ()

    @property
    def value_keys(self) -> frozenset[tuple[type, str]]:
        """``(Tag or Metadata, key)`` of the value lookups."""
        return frozenset((lk.kind, lk.key) for lk in self.lookups
                         if isinstance(lk, ValueLookup))

    def text_lookup(self, node: Comparison) -> TextLookup | None:
        """The text lookup that reads ``node`` (None: it is read per trace)."""
        return next((lk for lk in self.lookups
                     if isinstance(lk, TextLookup) and lk.node is node), None)

    @property
    def span_nodes(self) -> frozenset[AnySpan]:
        """The top-level ``span.`` groups read through a span lookup."""
        return frozenset(lk.node for lk in self.lookups if isinstance(lk, SpanLookup))


SCAN = Plan()


class Planner:
    """Chooses the ``Plan`` of one search (experiments, filter and order) per read."""

    def __init__(self, dialect: Dialect, node: Node | None,
                 experiment_keys: Sequence[int] | None, order: Order) -> None:
        self.dialect = dialect
        self.value_lookups = value_lookups(node)
        self.text_lookups = text_lookups(node)
        self.span_lookups = span_lookups(node) if dialect.span_lookups else []
        first = order.keys[0].field
        # an index of one experiment's traces gives this order
        self.indexed_order = isinstance(first, Attribute) and first.name in _INDEXED_ORDERS
        # a scan in this order stops after the page: an index gives it for one experiment
        self.scan_stops = (experiment_keys is not None and len(experiment_keys) == 1
                           and self.indexed_order)

    def plan(self, conn: Connection, limit: int | None, *, merged: bool = False) -> Plan:
        """The plan for reading ``limit`` rows in the search's order (None: every match);
        ``merged``: each experiment is read apart, in its index's order, and the pages
        merged (``SearchQuery``), so a scan stops after the page in each.

        A database that plans lookups itself gets every value lookup, and the text lookup
        chosen as below (its statistics cannot tell how many texts hold a word). Otherwise:
        when a scan would stop after ``limit`` matches, a value, text or span lookup is
        taken when its index range is below ``lookup_cap``; when every match is read
        anyway the smallest value or text lookup wins (span lookups serve only pages: a
        common span type is cheaper probed than collected).
        """
        stops = self.scan_stops or (merged and self.indexed_order)
        if self.dialect.plans_lookups:
            chosen = self.choose(conn, limit, list(self.text_lookups), [], stops)
            return Plan((*self.value_lookups, *chosen.lookups))
        return self.choose(conn, limit, [*self.value_lookups, *self.text_lookups],
                           list(self.span_lookups), stops)

    def choose(self, conn: Connection, limit: int | None, candidates: list[Lookup],
               page_only: list[Lookup], scan_stops: bool) -> Plan:
        """The best of ``candidates`` (and of ``page_only`` when reading a page), or SCAN."""
        cap = None  # every match is read: no cap, the smallest range drives
        if scan_stops and limit is not None:
            candidates += page_only
            if not candidates:
                return SCAN
            cap = lookup_cap(limit, self.dialect.traces_estimate(conn))
        elif len(candidates) <= 1:
            return Plan(tuple(candidates))
        best: tuple[int, Lookup] | None = None
        for lookup in candidates:
            bound = cap if best is None else best[0] if cap is None else min(cap, best[0])
            # a text lookup counts texts, several per trace (TEXT_WEIGHT)
            weight = TEXT_WEIGHT if isinstance(lookup, TextLookup) else 1
            found = self.count(conn, lookup, None if bound is None else bound * weight)
            found = -(-found // weight)
            if (bound is None or found < bound) and (best is None or found < best[0]):
                best = (found, lookup)
        return SCAN if best is None else Plan((best[1],))

    def count(self, conn: Connection, lookup: Lookup, cap: int | None) -> int:
        """Index entries of the lookup's values (prefixes), counting up to ``cap``; a
        text lookup's may be the database's estimate (``Dialect.text_estimate``)."""
        if isinstance(lookup, TextLookup):
            estimate = self.dialect.text_estimate(conn, lookup.literal)
            if estimate is not None:
                return estimate if cap is None else min(estimate, cap)
        candidates = lookup.candidates(self.dialect)
        if cap is not None:
            candidates = candidates.limit(cap)
        return int(conn.execute(sa.select(sa.func.count()).select_from(
            candidates.subquery())).scalar_one())
