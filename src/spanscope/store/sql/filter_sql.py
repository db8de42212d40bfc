"""Compile a parsed filter (``spanscope.query`` AST) into a SQLAlchemy condition on ``traces``.

The meaning is the reference evaluator's (``spanscope.query.evaluate``); this module only
says it in SQL, for SQLite and PostgreSQL. User text never becomes SQL text: every value,
key, pattern and JSON path is a bound parameter. How each field is read:

- trace attributes are ``traces`` columns (``name``, ``session_id`` ... are filled on
  ingest exactly as the evaluator derives them);
- ``tags.KEY`` / ``metadata.KEY`` are ``EXISTS`` lookups on ``(trace_id, key)``, which
  are two-valued by nature and use the primary key; a ``ValueLookup`` (an equality or
  ``IN`` that is a top-level conjunct, chosen by the caller: ``value_lookups``) instead
  becomes ``trace_id IN (SELECT trace_id ... WHERE key = ? AND substr(value, 1, 64) ...)``,
  which the database answers from the value index (migration 0005) without reading
  the traces that do not match;
- ``span.*`` conditions (an ``AnySpan`` node) are one ``EXISTS`` over the trace's spans,
  or, as a ``SpanLookup`` (a top-level group with a name or type equality, chosen by the
  caller: ``span_lookups``), ``trace_id IN (SELECT trace_id FROM spans WHERE ...)``, which
  SQLite answers from the spans' name or type index;
- assessment values, root inputs/outputs and span attributes are JSON, read through the
  functions of ``sqlite_functions`` (Python, on SQLite) or migration 0002 (PL/pgSQL, on
  PostgreSQL) that implement ``text_of`` / ``number_of``.

Every leaf is made two-valued (a missing field is FALSE, never NULL), so ``NOT`` is plain
SQL ``NOT``: a nullable column gets ``col IS NOT NULL AND ...`` (still index-friendly), a
computed value ``COALESCE(..., FALSE)``.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Collection, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql as pg
from sqlalchemy.sql import operators
from sqlalchemy.sql.elements import UnaryExpression

from spanscope.entities import TraceTagKey
from spanscope.exceptions import FilterError
from spanscope.query import (
    And,
    AnySpan,
    AssessmentValue,
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
    SpanAttribute,
    SpanProperty,
    SpanPropertyName,
    Tag,
    walk,
)
from spanscope.query.ast import BINARY_OPERATORS
from spanscope.query.errors import filter_error
from spanscope.store.sql import schema

__all__ = ["FilterCompiler", "Lookup", "SpanLookup", "ValueLookup", "glob_pattern",
           "like_pattern", "like_tokens", "no_index", "simplify", "span_lookups", "text_key",
           "value_lookups"]

_NS_PER_MS = 1_000_000
MAX_COMPARISONS = 500  # per filter: each is a subquery to plan; IN (...) takes many values
_INPUTS_KEY = "mlflow.spanInputs"
_OUTPUTS_KEY = "mlflow.spanOutputs"
_NON_NULL_ATTRIBUTES = {AttributeName.TRACE_ID, AttributeName.STATE, AttributeName.REQUEST_TIME}

# --- LIKE patterns ------------------------------------------------------------------------
_ANY, _ONE = object(), object()  # the two wildcards; any other token is one literal char


def like_tokens(pattern: str) -> list[object]:
    """The pattern as ``like_matches`` reads it: ``\\`` escapes, a trailing one is literal."""
    out: list[object] = []
    chars = iter(pattern)
    for ch in chars:
        if ch == "\\":
            out.append(next(chars, "\\"))
        elif ch == "%":
            out.append(_ANY)
        elif ch == "_":
            out.append(_ONE)
        else:
            out.append(ch)
    return out


def like_pattern(tokens: Sequence[object]) -> str:
    """A SQL LIKE pattern (escape character ``\\``) for the tokens."""
    return "".join("%" if t is _ANY else "_" if t is _ONE
                   else "\\" + str(t) if t in ("%", "_", "\\") else str(t) for t in tokens)


def glob_pattern(tokens: Sequence[object]) -> str:
    """A SQLite GLOB pattern (case-sensitive, no escape character) for the tokens."""
    special = {"*": "[*]", "?": "[?]", "[": "[[]"}
    return "".join("*" if t is _ANY else "?" if t is _ONE else special.get(str(t), str(t))
                   for t in tokens)


def text_key(expr: sa.ColumnElement[Any], postgresql: bool) -> sa.ColumnElement[Any]:
    """``expr`` compared in code-point order (Python's), whatever the database collation."""
    return expr.collate("C") if postgresql else expr


def no_index(expr: sa.ColumnElement[Any]) -> sa.ColumnElement[Any]:
    """SQLite's ``+expr``: the same value, but no longer a column, so SQLite neither uses
    an index on it nor substitutes a constant for it elsewhere (SQLite only: PostgreSQL
    has no unary plus on text)."""
    return UnaryExpression(expr, operator=operators.custom_op("+"), type_=expr.type)


def _cut_column_decides(node: Comparison) -> bool:
    """Whether a name column cut to ``SPAN_NAME_LENGTH`` characters answers ``node``
    exactly: ``=``, ``!=``, ``IN`` and ``NOT IN`` with shorter values (a cut name is longer
    than any of them, equal to none), which also keeps the column's indexes usable."""
    values = node.value if isinstance(node.value, tuple) else (node.value,)
    return node.op in (Op.EQ, Op.NE, Op.IN, Op.NOT_IN) and all(
        isinstance(v, str) and len(v) < schema.SPAN_NAME_LENGTH for v in values)


# --- how a field is read --------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class _Column:
    """A value that is one SQL expression: a column, or a column of a correlated row."""

    expr: sa.ColumnElement[Any]
    is_number: bool
    nullable: bool


@dataclasses.dataclass(frozen=True)
class _Json:
    """A JSON value: ``raw`` is JSON text (or plain text, read as a string) and a path."""

    raw: sa.ColumnElement[Any]
    path: tuple[str | int, ...] = ()


_Source = _Column | _Json


# --- value lookups -----------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class ValueLookup:
    """A tag/metadata equality or ``IN`` joined to the filter by a top-level ``AND``: the
    traces it can match are found by looking ``values`` up in the value index.

    Compiled with it, the group of comparisons on ``(kind, key)`` becomes ``trace_id IN
    (SELECT ...)`` (see ``FilterCompiler.compile``); ``candidates`` is the index range, for
    a caller that counts it to decide whether looking up beats scanning in order.
    """

    kind: type[Tag] | type[Metadata]
    key: str
    values: tuple[str, ...]

    @property
    def table(self) -> sa.Table:
        return schema.trace_tags if self.kind is Tag else schema.trace_metadata

    def prefixes(self, postgresql: bool) -> list[str]:
        """The values as the index holds them, once each (see ``value_prefix``)."""
        return sorted({value_prefix(v, postgresql) for v in self.values})

    def candidates(self, postgresql: bool) -> sa.Select[Any]:
        """One row per indexed value with a matching prefix (a superset of the matches)."""
        table = self.table
        return sa.select(sa.literal(1)).where(
            table.c["key"] == self.key,
            schema.value_prefix(table.c.value).in_(self.prefixes(postgresql)))


def value_prefix(text: str, postgresql: bool) -> str:
    """What ``substr(text, 1, 64)`` gives in the database: the first 64 characters, on
    SQLite of the text before its first NUL (its ``substr`` stops there; PostgreSQL text
    cannot hold NUL)."""
    if not postgresql:
        text = text.split("\x00", 1)[0]
    return text[:schema.VALUE_PREFIX_LENGTH]


def _lookup_values(node: Node) -> tuple[str, ...] | None:
    """The values of an equality or ``IN`` on a tag or metadata value, else None."""
    if not (isinstance(node, Comparison) and isinstance(node.field, (Tag, Metadata))
            and node.compare_as is CompareAs.TEXT and node.op in (Op.EQ, Op.IN)):
        return None
    return node.value if isinstance(node.value, tuple) else (node.value,)  # type: ignore[return-value]


def value_lookups(node: Node | None) -> list[ValueLookup]:
    """The lookups ``node`` offers: one per tag/metadata key compared with ``=``/``IN``
    at the top level (the whole filter, or an operand of its top-level ``AND``)."""
    if node is None:
        return []
    node = simplify(node)
    found: dict[tuple[type, str], ValueLookup] = {}
    for child in node.children if isinstance(node, And) else (node,):
        values = _lookup_values(child)
        if values is not None:
            field = child.field  # type: ignore[union-attr]
            found.setdefault((type(field), field.key), ValueLookup(type(field), field.key,
                                                                   values))
    return list(found.values())


@dataclasses.dataclass(frozen=True)
class SpanLookup:
    """A top-level ``span.`` group (``node``) whose same-span condition includes an
    equality or ``IN`` on the span's name or type: the traces it can match are those of
    the spans found through the spans' ``name`` / ``span_type`` indexes.

    Compiled with it, the group becomes ``trace_id IN (SELECT trace_id FROM spans WHERE
    <condition>)`` instead of an ``EXISTS`` probe per trace: the same rows, which a rare
    span name (a tool called once a week) reaches without reading the experiment.
    """

    node: AnySpan
    column: str  # "name" or "span_type"
    values: tuple[str, ...]

    def candidates(self, postgresql: bool) -> sa.Select[Any]:
        """One row per span with one of the values (a superset of the matches)."""
        return sa.select(sa.literal(1)).where(schema.spans.c[self.column].in_(self.values))


_SPAN_LOOKUP_COLUMNS = {SpanPropertyName.NAME: "name", SpanPropertyName.TYPE: "span_type"}


def span_lookups(node: Node | None) -> list[SpanLookup]:
    """The span lookups ``node`` offers: one per ``span.`` group at the top level (the
    whole filter, or an operand of its top-level ``AND``) with a name or type equality
    among the conjuncts of its condition."""
    if node is None:
        return []
    node = simplify(node)
    found: list[SpanLookup] = []
    for child in node.children if isinstance(node, And) else (node,):
        if not isinstance(child, AnySpan):
            continue
        condition = child.condition
        for part in condition.children if isinstance(condition, And) else (condition,):
            if (isinstance(part, Comparison) and isinstance(part.field, SpanProperty)
                    and part.field.name in _SPAN_LOOKUP_COLUMNS
                    and part.compare_as is CompareAs.TEXT and part.op in (Op.EQ, Op.IN)
                    and _cut_column_decides(part)):  # a longer name is no index range
                values = part.value if isinstance(part.value, tuple) else (part.value,)
                found.append(SpanLookup(child, _SPAN_LOOKUP_COLUMNS[part.field.name],
                                        values))  # type: ignore[arg-type]
                break
    return found


Lookup = ValueLookup | SpanLookup


class FilterCompiler:
    """Turns filter trees into conditions for one dialect (``"sqlite"`` or ``"postgresql"``).

    ``compile(node, text)`` returns a boolean over ``schema.traces``; ``text`` is the filter
    string, for error messages. Raises ``FilterError`` for values a database cannot compare
    (text that is not valid Unicode, or the NUL character on PostgreSQL) and for more than
    ``MAX_COMPARISONS`` comparisons. (PostgreSQL's verdict on RLIKE patterns is checked by
    the search before it runs: ``regex_patterns``, ``regex_error``.)
    """

    def __init__(self, dialect: str) -> None:
        self.postgresql = dialect == "postgresql"
        self.traces = schema.traces
        self._text = ""
        self._lookups: set[tuple[type, str]] = set()
        self._span_lookups: set[AnySpan] = set()

    # --- entry points ---------------------------------------------------------------------
    def compile(self, node: Node, text: str = "",
                lookups: Collection[Lookup] = ()) -> sa.ColumnElement[bool]:
        """``lookups`` (of ``value_lookups(node)``): their comparisons become lookups in
        the value index instead of probes per trace; the meaning is the same."""
        self._text = text
        self._lookups = {(lookup.kind, lookup.key) for lookup in lookups
                         if isinstance(lookup, ValueLookup)}
        self._span_lookups = {lookup.node for lookup in lookups
                              if isinstance(lookup, SpanLookup)}
        self._check_values(node)
        count = sum(1 for n in walk(node) if isinstance(n, Comparison))
        if count > MAX_COMPARISONS:
            raise filter_error(text, 0, f"the filter has {count} comparisons; stores take at "
                                        f"most {MAX_COMPARISONS} (use IN (...) for many values)")
        node = simplify(node)
        if self._drives([node]):
            return self._lookup_leaf([node])  # type: ignore[list-item]
        return self._node(node, top=True)

    @staticmethod
    def regex_patterns(node: Node) -> list[Comparison]:
        """The RLIKE comparisons of ``node`` (PostgreSQL checks their patterns first)."""
        return [n for n in walk(node) if isinstance(n, Comparison)
                and n.op in (Op.RLIKE, Op.NOT_RLIKE)]

    # --- tree -------------------------------------------------------------------------------
    def _node(self, node: Node, top: bool = False) -> sa.ColumnElement[bool]:
        """``top``: the node is the whole filter or one of its top-level ``AND`` operands
        (possibly under ``NOT``), where PostgreSQL may plan an ``EXISTS`` as a (anti) join."""
        if isinstance(node, (And, Or)):
            return _chain(type(node), self._chain_parts(node, top and isinstance(node, And)))
        if isinstance(node, Not):
            return sa.not_(self._node(node.child, top and isinstance(node.child,
                                                                     (Comparison, AnySpan))))
        if isinstance(node, AnySpan):
            spans = schema.spans.alias()
            if top and node in self._span_lookups:
                return self.traces.c.trace_id.in_(sa.select(spans.c.trace_id).where(
                    self._span_node(node.condition, spans)))
            return self._exists([spans.c.trace_id == self.traces.c.trace_id,
                                 self._span_node(node.condition, spans)], top)
        if isinstance(node, Comparison):
            return self._trace_leaf(node, top)
        raise TypeError(f"{node!r} is not a filter node")

    def _exists(self, conditions: list[sa.ColumnElement[bool]],
                top: bool) -> sa.ColumnElement[bool]:
        """``EXISTS (SELECT ... WHERE conditions)``, probed row by row unless ``top``.

        Under ``OR`` or ``NOT (...)`` PostgreSQL may turn an ``EXISTS`` into a hashed
        subplan that reads the whole child table first, which a search that stops after
        100 traces never needs; ``OFFSET 0`` keeps it a per-row index probe there.
        """
        query = sa.select(sa.literal(1)).where(*conditions)
        if self.postgresql and not top:
            query = query.offset(0)
        return query.exists()

    def _span_node(self, node: Node, spans: sa.Alias) -> sa.ColumnElement[bool]:
        if isinstance(node, (And, Or)):
            return _chain(type(node), [self._span_node(child, spans) for child in node.children])
        if isinstance(node, Comparison):
            return self._leaf(node, self._span_source(node, spans))
        raise TypeError(f"{node!r} cannot appear inside AnySpan")

    # --- sources ----------------------------------------------------------------------------
    def _trace_leaf(self, node: Comparison, top: bool = False) -> sa.ColumnElement[bool]:
        field = node.field
        traces = self.traces
        if isinstance(field, Attribute):
            column = (self._trace_name(node) if field.name is AttributeName.NAME
                      else traces.c[str(field.name)])
            is_number = field.name in (AttributeName.REQUEST_TIME,
                                       AttributeName.EXECUTION_DURATION)
            return self._leaf(node, _Column(column, is_number,
                                            field.name not in _NON_NULL_ATTRIBUTES))
        if isinstance(field, (Tag, Metadata)):
            return self._key_value_leaf([node], And, top)
        if isinstance(field, AssessmentValue):
            return self._leaf(node, _Json(self._assessment_value(field)))
        if isinstance(field, RootPayload):
            key = _INPUTS_KEY if field.side == "inputs" else _OUTPUTS_KEY
            spans = schema.spans.alias()
            raw = (sa.select(self._span_attribute(spans.c.content, key))
                   .where(spans.c.trace_id == traces.c.trace_id,
                          spans.c.parent_span_id.is_(None))
                   .order_by(spans.c.position).limit(1).scalar_subquery())
            return self._leaf(node, _Json(raw, field.path))
        raise TypeError(f"{field!r} is not a trace field")

    def _span_source(self, node: Comparison, spans: sa.Alias) -> _Source:
        field = node.field
        if isinstance(field, SpanAttribute):
            return _Json(self._span_attribute(spans.c.content, field.key))
        if isinstance(field, SpanProperty):
            if field.name is SpanPropertyName.DURATION_MS:
                return _Column(spans.c.duration_ns, True, True)
            if field.name is SpanPropertyName.NAME:
                return _Column(self._span_name(node, spans), False, False)
            column = {SpanPropertyName.TYPE: spans.c.span_type,
                      SpanPropertyName.STATUS: spans.c.status}[field.name]
            return _Column(column, False, False)
        raise TypeError(f"{field!r} is not a span field")

    def _span_name(self, node: Comparison, spans: sa.Alias) -> sa.ColumnElement[Any]:
        """The span's name: the ``spans.name`` column where it decides (``_cut_column_decides``),
        else the name read whole."""
        if _cut_column_decides(node):
            return spans.c.name
        return self._whole_span_name(spans)

    def _whole_span_name(self, spans: sa.Alias) -> sa.ColumnElement[Any]:
        """A span's whole name: ``spans.name`` unless it was cut, then the name in the
        span's JSON (SQLite: when the JSON is strict, i.e. no NaN in the span, else the
        cut name)."""
        column, content = spans.c.name, spans.c.content
        if self.postgresql:
            whole = sa.func.spanscope_loads(content).op("->>")("name")
        else:
            whole = sa.case((sa.func.json_valid(content) == 1,
                             sa.func.json_extract(content, "$.name")))
        return sa.case((sa.func.length(column) >= schema.SPAN_NAME_LENGTH,
                        sa.func.coalesce(whole, column)), else_=column)

    def _trace_name(self, node: Comparison) -> sa.ColumnElement[Any]:
        """``attributes.name``: the root span's name, else the ``mlflow.traceName`` tag.
        ``traces.name`` holds it cut to ``SPAN_NAME_LENGTH`` characters; where the cut
        could matter, a cut name is read whole from the root span or the tag."""
        column = self.traces.c.name
        if _cut_column_decides(node):
            return column
        spans = schema.spans.alias()
        tags = schema.trace_tags.alias()
        root = (sa.select(self._whole_span_name(spans))
                .where(spans.c.trace_id == self.traces.c.trace_id,
                       spans.c.parent_span_id.is_(None))
                .order_by(spans.c.position).limit(1).scalar_subquery())
        tag = (sa.select(tags.c.value)
               .where(tags.c.trace_id == self.traces.c.trace_id,
                      tags.c["key"] == TraceTagKey.TRACE_NAME).scalar_subquery())
        return sa.case((sa.func.length(column) >= schema.SPAN_NAME_LENGTH,
                        sa.func.coalesce(root, tag, column)), else_=column)

    @staticmethod
    def _merge_key(node: Node, kind: type[And] | type[Or]) -> tuple[Any, ...] | None:
        """Which tag/metadata comparisons of a chain can share one ``EXISTS``.

        A trace has at most one row per key, so ``EXISTS(k1 AND c1) OR EXISTS(k2 AND c2)``
        is ``EXISTS((k1 AND c1) OR (k2 AND c2))`` for any keys, and ``EXISTS(k AND c1) AND
        EXISTS(k AND c2)`` is ``EXISTS(k AND c1 AND c2)`` for one key. ``IS [NOT] NULL``
        stays apart.
        """
        if not (isinstance(node, Comparison) and isinstance(node.field, (Tag, Metadata))
                and node.compare_as is not CompareAs.PRESENCE):
            return None
        table = type(node.field)
        return (table,) if kind is Or else (table, node.field.key)

    def _chain_parts(self, node: And | Or, top: bool) -> list[sa.ColumnElement[bool]]:
        kind = type(node)
        groups: dict[tuple[Any, ...], list[Comparison]] = {}
        for child in node.children:
            key = self._merge_key(child, kind)
            if key is not None:
                groups.setdefault(key, []).append(child)  # type: ignore[arg-type]
        parts: list[sa.ColumnElement[bool]] = []
        for child in node.children:
            key = self._merge_key(child, kind)
            if top and kind is And and key is not None and self._drives(groups[key]):
                if child is groups[key][0]:
                    parts.append(self._lookup_leaf(groups[key]))
            elif key is None or len(groups[key]) == 1:
                parts.append(self._node(child, top))
            elif child is groups[key][0]:  # the merged EXISTS takes the first one's place
                parts.append(self._key_value_leaf(groups[key], kind, top))
        return parts

    def _key_value_leaf(self, nodes: list[Comparison], kind: type[And] | type[Or],
                        top: bool) -> sa.ColumnElement[bool]:
        """``EXISTS`` a tag/metadata row satisfying the comparison(s), joined by ``kind``."""
        first = nodes[0].field
        table = (schema.trace_tags if isinstance(first, Tag) else schema.trace_metadata).alias()
        value = table.c.value
        same_trace = table.c.trace_id == self.traces.c.trace_id
        if len(nodes) == 1 and nodes[0].compare_as is CompareAs.PRESENCE:
            found = self._exists([same_trace, table.c["key"] == first.key,  # type: ignore[union-attr]
                                  value.isnot(None)], top)
            return sa.not_(found) if nodes[0].op is Op.IS_NULL else found
        source = _Column(value, False, True)
        return self._exists([same_trace, _chain(kind, [
            sa.and_(table.c["key"] == n.field.key, self._leaf(n, source))  # type: ignore[union-attr]
            for n in nodes])], top)

    def _drives(self, nodes: Sequence[Node]) -> bool:
        """``nodes`` (the whole filter, or a top-level conjunct's group of comparisons
        on one key) are a chosen lookup's: comparisons of its key, one of them an
        equality or ``IN``."""
        keys = {(type(n.field), n.field.key)  # type: ignore[union-attr]
                if isinstance(n, Comparison) and isinstance(n.field, (Tag, Metadata))
                and n.compare_as is not CompareAs.PRESENCE else None for n in nodes}
        return (len(keys) == 1 and keys <= self._lookups
                and any(_lookup_values(n) is not None for n in nodes))

    def _lookup_leaf(self, nodes: list[Comparison]) -> sa.ColumnElement[bool]:
        """``trace_id IN (SELECT trace_id ... WHERE key = ? AND substr(value, 1, 64) IN
        (prefixes) AND <the comparisons>)``: the same rows as ``_key_value_leaf``'s
        ``EXISTS``, found through the value index.

        The prefix is only the index range; the comparisons check the whole value. On
        PostgreSQL a value shorter than the prefix is its own prefix, so its equality
        needs no second check and the index alone answers it. SQLite's ``substr`` stops
        at a NUL character (``'ab'`` is the prefix of ``'ab\\x00cd'``), so there the
        comparisons always run, on ``+value``: a plain ``value = ?`` would let SQLite
        substitute the constant into ``substr(value, ...)``, which would then no longer
        match the index expression.
        """
        field = nodes[0].field
        table = (schema.trace_tags if isinstance(field, Tag) else schema.trace_metadata).alias()
        driver = next(n for n in nodes if _lookup_values(n) is not None)
        values: tuple[str, ...] = _lookup_values(driver)  # type: ignore[assignment]
        prefixes = sorted({value_prefix(v, self.postgresql) for v in values})
        exact = [n for n in nodes if not (
            n is driver and self.postgresql
            and all(len(v) < schema.VALUE_PREFIX_LENGTH for v in values))]
        value = table.c.value if self.postgresql else no_index(table.c.value)
        source = _Column(value, False, True)
        found = sa.select(table.c.trace_id).where(
            table.c["key"] == field.key,  # type: ignore[union-attr]
            schema.value_prefix(table.c.value).in_(prefixes),
            *(self._leaf(n, source) for n in exact))
        return self.traces.c.trace_id.in_(found)

    def _assessment_value(self, field: AssessmentValue) -> sa.ColumnElement[Any]:
        """The JSON value of the latest valid assessment called ``field.name``."""
        table = schema.assessments.alias()
        conditions = [table.c.trace_id == self.traces.c.trace_id, table.c.name == field.name,
                      table.c.valid == sa.true()]
        if field.kind is not None:
            conditions.append(table.c.kind == field.kind)
        return (sa.select(table.c.value).where(*conditions)
                .order_by(table.c.create_time.desc(),
                          text_key(table.c.assessment_id, self.postgresql).desc())
                .limit(1).scalar_subquery())

    def _span_attribute(self, content: sa.ColumnElement[Any], key: str) -> sa.ColumnElement[Any]:
        """The raw (JSON-encoded) attribute ``key`` of a span's stored JSON."""
        if self.postgresql:
            return sa.func.spanscope_span_attribute(content, key)
        fallback = sa.func.spanscope_span_attribute(content, key)
        if '"' in key:  # json_extract paths cannot quote a double quote
            return fallback
        return sa.case((sa.func.json_valid(content) == 1,
                        sa.func.json_extract(content, f'$.attributes."{key}"')),
                       else_=fallback)

    # --- JSON values --------------------------------------------------------------------------
    def _json_text(self, source: _Json) -> sa.ColumnElement[Any]:
        if self.postgresql:
            return sa.func.spanscope_json_text(self._pg_json(source))
        return sa.func.spanscope_json_text(source.raw, self._path_param(source.path))

    def _json_number(self, source: _Json) -> sa.ColumnElement[Any]:
        if self.postgresql:
            return sa.func.spanscope_json_number(self._pg_json(source))
        return sa.func.spanscope_json_number(source.raw, self._path_param(source.path))

    def _pg_json(self, source: _Json) -> sa.ColumnElement[Any]:
        value = sa.func.spanscope_loads(source.raw)
        if not source.path:
            return value
        steps = [f"#{step}" if isinstance(step, int) else f"k{step}" for step in source.path]
        return sa.func.spanscope_json_path(value, sa.bindparam(None, steps,
                                                                type_=pg.ARRAY(sa.Text)))

    @staticmethod
    def _path_param(path: tuple[str | int, ...]) -> sa.ColumnElement[Any]:
        return sa.literal(json.dumps(list(path)) if path else None, sa.Text)

    def _text_number(self, text: sa.ColumnElement[Any]) -> sa.ColumnElement[Any]:
        return sa.func.spanscope_number(text)

    # --- one comparison -------------------------------------------------------------------------
    def _leaf(self, node: Comparison, source: _Source) -> sa.ColumnElement[bool]:
        """The comparison on ``source``: TRUE or FALSE, never NULL."""
        op = node.op
        plain = isinstance(source, _Column)
        nullable = not plain or source.nullable  # type: ignore[union-attr]
        if node.compare_as is CompareAs.PRESENCE:
            value = source.expr if isinstance(source, _Column) else self._json_text(source)
            return value.is_(None) if op is Op.IS_NULL else value.isnot(None)
        if node.compare_as is CompareAs.NUMBER:
            values = node.value if isinstance(node.value, tuple) else (node.value,)
            if node.field == SpanProperty(SpanPropertyName.DURATION_MS):
                values = tuple(v * _NS_PER_MS for v in values)  # type: ignore[operator]
            if isinstance(source, _Json):
                expr = self._json_number(source)
            elif source.is_number:
                expr = source.expr
            else:
                expr, plain = self._text_number(source.expr), False
            condition = _number_condition(op, expr, values)  # type: ignore[arg-type]
        else:
            expr = source.expr if isinstance(source, _Column) else self._json_text(source)
            if node.compare_as is CompareAs.BOOLEAN:
                expr = sa.func.lower(expr)
                raw = node.value if isinstance(node.value, tuple) else (node.value,)
                values = tuple("true" if v else "false" for v in raw)
            else:
                values = node.value if isinstance(node.value, tuple) else (node.value,)
            condition = self._text_condition(op, expr, values)  # type: ignore[arg-type]
        if not nullable:
            return condition
        if plain:
            return sa.and_(expr.isnot(None), condition)
        return sa.func.coalesce(condition, sa.false())

    def _text_condition(self, op: Op, text: sa.ColumnElement[Any],
                        values: tuple[str, ...]) -> sa.ColumnElement[bool]:
        value = values[0]
        if op is Op.EQ:
            return text == value
        if op is Op.NE:
            return text != value
        if op is Op.IN:
            return text.in_(values)
        if op is Op.NOT_IN:
            return text.not_in(values)
        if op in (Op.LIKE, Op.NOT_LIKE, Op.ILIKE, Op.NOT_ILIKE):
            ignore_case = op in (Op.ILIKE, Op.NOT_ILIKE)
            matched = self._like(text, value, ignore_case)
            return matched if op in (Op.LIKE, Op.ILIKE) else sa.not_(matched)
        if op in (Op.RLIKE, Op.NOT_RLIKE):
            if self.postgresql:
                matched = text.op("~", is_comparison=True)(value)
            else:
                matched = sa.func.spanscope_regexp(value, text) == 1
            return matched if op is Op.RLIKE else sa.not_(matched)
        if op in (Op.CONTAINS, Op.NOT_CONTAINS):
            position = sa.func.strpos(text, value) if self.postgresql else sa.func.instr(text,
                                                                                        value)
            return position > 0 if op is Op.CONTAINS else position == 0
        raise ValueError(f"{op} is not a text comparison")

    def _like(self, text: sa.ColumnElement[Any], pattern: str,
              ignore_case: bool) -> sa.ColumnElement[bool]:
        tokens = like_tokens(pattern.lower() if ignore_case else pattern)
        if self.postgresql:  # backslash is PostgreSQL's default LIKE escape
            subject = sa.func.lower(text) if ignore_case else text
            return subject.op("LIKE", is_comparison=True)(like_pattern(tokens))
        subject = sa.func.spanscope_lower(text) if ignore_case else text
        return subject.op("GLOB", is_comparison=True)(glob_pattern(tokens))

    # --- values the database cannot take ----------------------------------------------------
    def _check_values(self, node: Node) -> None:
        for leaf in walk(node):
            if not isinstance(leaf, Comparison):
                continue
            values = leaf.value if isinstance(leaf.value, tuple) else (leaf.value,)
            texts = [v for v in values if isinstance(v, str)]
            field = leaf.field
            texts += [k for k in (getattr(field, "key", None), getattr(field, "name", None))
                      if isinstance(k, str)]
            if isinstance(field, RootPayload):
                texts += [s for s in field.path if isinstance(s, str)]
            for text in texts:
                self._check_text(leaf, text)

    def _check_text(self, leaf: Comparison, text: str) -> None:
        problem = None
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            problem = "contains text that is not valid Unicode (a lone surrogate)"
        if problem is None and self.postgresql and "\x00" in text:
            problem = "contains the NUL character, which PostgreSQL text cannot hold"
        if problem is not None:
            raise self._error(leaf, f"the comparison on {leaf.written or 'a field'} {problem}")

    def _error(self, leaf: Comparison, detail: str) -> FilterError:
        return filter_error(self._text, leaf.position, detail, token=leaf.written or None)

    def regex_error(self, leaf: Comparison, reason: str) -> FilterError:
        """The ``FilterError`` for an RLIKE pattern the database refused."""
        return self._error(leaf, f"PostgreSQL cannot use the regular expression "
                                 f"{leaf.value!r} of {leaf.written}: {reason}")


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


_CHAIN = 32  # operands per flat chain: SQLite parses a long chain as a tree that deep


def _chain(kind: type[And] | type[Or], parts: list[sa.ColumnElement[bool]],
           ) -> sa.ColumnElement[bool]:
    """``AND``/``OR`` of ``parts``; a long chain becomes a balanced tree of chunks,
    keeping SQLite's expression depth (limit 1000) small."""
    join = sa.and_ if kind is And else sa.or_
    while len(parts) > _CHAIN:
        # COALESCE(chunk, FALSE) is the chunk (its parts are two-valued), as one SQL node:
        # SQLAlchemy would flatten nested chains of one operator back into a long one.
        parts = [sa.func.coalesce(join(*parts[i:i + _CHAIN]), sa.false())
                 for i in range(0, len(parts), _CHAIN)]
    return join(*parts)


def _number_condition(op: Op, number: sa.ColumnElement[Any],
                      raw: tuple[int | float, ...]) -> sa.ColumnElement[bool]:
    # One type for all values: an IN list typed by its first (integer) value would
    # truncate a later 0.5 on PostgreSQL.
    kind = sa.Float() if any(isinstance(v, float) for v in raw) else sa.BigInteger()
    values = tuple(sa.literal(v, kind) for v in raw)
    if op in BINARY_OPERATORS:
        return BINARY_OPERATORS[op](number, values[0])
    if op is Op.IN:
        return number.in_(values)
    if op is Op.NOT_IN:
        return number.not_in(values)
    raise ValueError(f"{op} is not a number comparison")
