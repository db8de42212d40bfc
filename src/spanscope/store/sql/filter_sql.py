"""Translate a parsed filter (``spanscope.query`` AST) into a SQLAlchemy condition on ``traces``.

``translate(node, plan, dialect)`` is a function of its arguments: the filter, the
``planner.Plan`` (which comparisons are read through an index lookup instead of probed per
trace) and the ``dialects.Dialect`` (how the database spells each step). It chooses
nothing: the planner chose the plan, the dialect holds every difference between databases.

The meaning is the reference evaluator's (``spanscope.query.evaluate``); this module only
says it in SQL. User text never becomes SQL text: every value, key, pattern and JSON path
is a bound parameter. How each field is read:

- trace attributes are ``traces`` columns (``name``, ``session_id`` ... are filled on
  ingest exactly as the evaluator derives them);
- ``tags.KEY`` / ``metadata.KEY`` are ``EXISTS`` lookups on ``(trace_id, key)``, which
  are two-valued by nature and use the primary key; a planned ``ValueLookup`` instead
  becomes ``trace_id IN (SELECT trace_id ... WHERE key = ? AND substr(value, 1, 64) ...)``,
  which the database answers from the value index (migration 0005);
- ``span.*`` conditions (an ``AnySpan`` node) are one ``EXISTS`` over the trace's spans,
  or, as a planned ``SpanLookup``, ``trace_id IN (SELECT trace_id FROM spans WHERE ...)``;
- assessment values, root inputs/outputs and span attributes are JSON, read through the
  value functions (``value_functions``, and each database's copy of them);
- ``text`` is ``EXISTS`` a row of the text index (``span_text``) whose text satisfies the
  comparison (a cut text is read whole from its span); a planned ``TextLookup`` instead
  becomes ``trace_id IN (SELECT trace_id FROM span_text WHERE <found by trigrams> AND
  <the comparison>)``; for ``request``/``inputs.PATH`` ... the lookup only narrows the
  traces, and the comparison runs on the root payload as usual.

Every leaf is made two-valued (a missing field is FALSE, never NULL), so ``NOT`` is plain
SQL ``NOT``: a nullable column gets ``col IS NOT NULL AND ...`` (still index-friendly), a
computed value ``COALESCE(..., FALSE)``.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

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
    TextContent,
    walk,
)
from spanscope.query.ast import BINARY_OPERATORS
from spanscope.query.errors import filter_error
from spanscope.query.values import fold_case
from spanscope.store.sql import schema
from spanscope.store.sql.dialects import Dialect
from spanscope.store.sql.planner import (
    SCAN,
    Plan,
    TextLookup,
    cut_column_decides,
    lookup_values,
    simplify,
)

__all__ = ["MAX_COMPARISONS", "check_filter", "regex_error", "regex_patterns", "translate"]

_NS_PER_MS = 1_000_000
MAX_COMPARISONS = 500  # per filter: each is a subquery to plan; IN (...) takes many values
_INPUTS_KEY = "mlflow.spanInputs"
_OUTPUTS_KEY = "mlflow.spanOutputs"
_NON_NULL_ATTRIBUTES = {AttributeName.TRACE_ID, AttributeName.STATE, AttributeName.REQUEST_TIME}
_CHAIN = 32  # operands per flat chain: SQLite parses a long chain as a tree that deep


# --- entry points -----------------------------------------------------------------------------
def translate(node: Node, dialect: Dialect, plan: Plan = SCAN,
              text: str = "") -> sa.ColumnElement[bool]:
    """A boolean over ``schema.traces`` selecting what ``node`` selects.

    ``plan``: its lookups' comparisons become index lookups instead of probes per trace;
    the meaning is the same. ``text`` is the filter string, for error messages: raises
    ``FilterError`` as ``check_filter`` does.
    """
    check_filter(node, dialect, text)
    node = simplify(node)
    top = _Translator(dialect, plan, top=True)
    if top.drives([node]):
        return top.lookup_leaf([node])  # type: ignore[list-item]
    return top.node(node)


def check_filter(node: Node, dialect: Dialect, text: str = "") -> None:
    """``FilterError`` for values the database cannot compare (text that is not valid
    Unicode, or the NUL character on PostgreSQL) and for more than ``MAX_COMPARISONS``
    comparisons. (An RLIKE pattern the database refuses is found by running it:
    ``regex_patterns``, ``Dialect.regex_problem``, ``regex_error``.)"""
    count = 0
    for leaf in walk(node):
        if not isinstance(leaf, Comparison):
            continue
        count += 1
        values = leaf.value if isinstance(leaf.value, tuple) else (leaf.value,)
        texts = [v for v in values if isinstance(v, str)]
        field = leaf.field
        texts += [k for k in (getattr(field, "key", None), getattr(field, "name", None))
                  if isinstance(k, str)]
        if isinstance(field, RootPayload):
            texts += [s for s in field.path if isinstance(s, str)]
        for value in texts:
            problem = dialect.text_problem(value)
            if problem is not None:
                raise _error(text, leaf, f"the comparison on {leaf.written or 'a field'} "
                                         f"{problem}")
    if count > MAX_COMPARISONS:
        raise filter_error(text, 0, f"the filter has {count} comparisons; stores take at "
                                    f"most {MAX_COMPARISONS} (use IN (...) for many values)")


def regex_patterns(node: Node) -> list[Comparison]:
    """The RLIKE comparisons of ``node`` (a database may refuse their patterns)."""
    return [n for n in walk(node) if isinstance(n, Comparison)
            and n.op in (Op.RLIKE, Op.NOT_RLIKE)]


def regex_error(text: str, leaf: Comparison, reason: str) -> FilterError:
    """The ``FilterError`` for an RLIKE pattern the database refused."""
    return _error(text, leaf, f"PostgreSQL cannot use the regular expression "
                              f"{leaf.value!r} of {leaf.written}: {reason}")


def _error(text: str, leaf: Comparison, detail: str) -> FilterError:
    return filter_error(text, leaf.position, detail, token=leaf.written or None)


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


@dataclasses.dataclass(frozen=True)
class _Translator:
    """The translation's rules; immutable. ``top``: the nodes it translates are the whole
    filter or its top-level ``AND`` operands (possibly under ``NOT``), where a planned
    lookup may drive and an ``EXISTS`` need not stay a per-row probe; ``nested`` is the
    same translator for the nodes below."""

    dialect: Dialect
    plan: Plan
    top: bool

    @functools.cached_property
    def nested(self) -> _Translator:
        return self if not self.top else dataclasses.replace(self, top=False)

    # --- tree -------------------------------------------------------------------------------
    def node(self, node: Node) -> sa.ColumnElement[bool]:
        if isinstance(node, (And, Or)):
            into = self if isinstance(node, And) else self.nested
            return _chain(type(node), into.chain_parts(node))
        if isinstance(node, Not):
            into = self if isinstance(node.child, (Comparison, AnySpan)) else self.nested
            return sa.not_(into.node(node.child))
        if isinstance(node, AnySpan):
            spans = schema.spans.alias()
            if self.top and node in self.plan.span_nodes:
                return schema.traces.c.trace_id.in_(sa.select(spans.c.trace_id).where(
                    self.span_node(node.condition, spans)))
            return self.exists([spans.c.trace_id == schema.traces.c.trace_id,
                                self.span_node(node.condition, spans)])
        if isinstance(node, Comparison):
            lookup = self.plan.text_lookup(node) if self.top else None
            if lookup is not None:
                return self.text_lookup_leaf(lookup)
            return self.trace_leaf(node)
        raise TypeError(f"{node!r} is not a filter node")

    # --- the text index ---------------------------------------------------------------------
    def text_leaf(self, node: Comparison) -> sa.ColumnElement[bool]:
        """``text``: some row of the trace in the text index satisfies ``node``."""
        rows = schema.span_text.alias()
        same_trace = rows.c.trace_id == schema.traces.c.trace_id
        if node.compare_as is CompareAs.PRESENCE:
            found = self.exists([same_trace])
            return sa.not_(found) if node.op is Op.IS_NULL else found
        return self.exists([same_trace, self.text_row_leaf(node, rows)])

    def text_row_leaf(self, node: Comparison, rows: sa.FromClause) -> sa.ColumnElement[bool]:
        """``node`` on one ``span_text`` row's whole text: its body, or, when the body
        was cut (``unsure = 2``), the text read again from the span's JSON."""
        dialect = self.dialect
        spans = schema.spans.alias()
        content = spans.c.content
        source = sa.case(
            (rows.c.kind == "i", dialect.json_text(dialect.span_attribute(content, _INPUTS_KEY),
                                                   ())),
            (rows.c.kind == "o", dialect.json_text(dialect.span_attribute(content, _OUTPUTS_KEY),
                                                   ())),
            else_=dialect.exception_text(content, rows.c.seq))
        whole = (sa.select(source).where(spans.c.trace_id == rows.c.trace_id,
                                         spans.c.span_id == rows.c.span_id).scalar_subquery())
        text = sa.case((rows.c.unsure == 2, whole), else_=rows.c.body)
        return self.leaf(node, _Column(text, False, True))

    def text_lookup_leaf(self, lookup: TextLookup) -> sa.ColumnElement[bool]:
        """``trace_id IN (SELECT ...)`` over the rows the trigram index finds (and the rows
        it cannot vouch for); for a ``text`` comparison the rows are also checked, for a
        root payload the comparison runs on the traces found."""
        node = lookup.node
        selects = []
        for indexed in (True, False):
            rows = schema.span_text.alias()
            where = [self.dialect.text_match(rows, lookup.literal,
                                             ignore_case=lookup.ignore_case)
                     if indexed else rows.c.unsure > 0]
            if lookup.kind is not None:
                where.append(rows.c.kind == lookup.kind)
            else:
                where.append(self.text_row_leaf(node, rows))
            selects.append(sa.select(rows.c.trace_id).where(*where))
        found = schema.traces.c.trace_id.in_(sa.union_all(*selects))
        if lookup.kind is None:
            return found
        return sa.and_(found, self.trace_leaf(node))

    def exists(self, conditions: list[sa.ColumnElement[bool]]) -> sa.ColumnElement[bool]:
        """``EXISTS (SELECT ... WHERE conditions)``, a per-row probe unless at the top."""
        return self.dialect.exists(sa.select(sa.literal(1)).where(*conditions),
                                   probe=not self.top)

    def span_node(self, node: Node, spans: sa.Alias) -> sa.ColumnElement[bool]:
        if isinstance(node, (And, Or)):
            return _chain(type(node), [self.span_node(child, spans) for child in node.children])
        if isinstance(node, Comparison):
            return self.leaf(node, self.span_source(node, spans))
        raise TypeError(f"{node!r} cannot appear inside AnySpan")

    def chain_parts(self, node: And | Or) -> list[sa.ColumnElement[bool]]:
        kind = type(node)
        groups: dict[tuple[Any, ...], list[Comparison]] = {}
        for child in node.children:
            key = _merge_key(child, kind)
            if key is not None:
                groups.setdefault(key, []).append(child)  # type: ignore[arg-type]
        parts: list[sa.ColumnElement[bool]] = []
        for child in node.children:
            key = _merge_key(child, kind)
            if self.top and kind is And and key is not None and self.drives(groups[key]):
                if child is groups[key][0]:
                    parts.append(self.lookup_leaf(groups[key]))
            elif key is None or len(groups[key]) == 1:
                parts.append(self.node(child))
            elif child is groups[key][0]:  # the merged EXISTS takes the first one's place
                parts.append(self.key_value_leaf(groups[key], kind))
        return parts

    # --- tags and metadata --------------------------------------------------------------------
    def key_value_leaf(self, nodes: list[Comparison],
                       kind: type[And] | type[Or]) -> sa.ColumnElement[bool]:
        """``EXISTS`` a tag/metadata row satisfying the comparison(s), joined by ``kind``."""
        first = nodes[0].field
        table = (schema.trace_tags if isinstance(first, Tag) else schema.trace_metadata).alias()
        value = table.c.value
        same_trace = table.c.trace_id == schema.traces.c.trace_id
        if len(nodes) == 1 and nodes[0].compare_as is CompareAs.PRESENCE:
            found = self.exists([same_trace, table.c["key"] == first.key,  # type: ignore[union-attr]
                                 value.isnot(None)])
            return sa.not_(found) if nodes[0].op is Op.IS_NULL else found
        source = _Column(value, False, True)
        return self.exists([same_trace, _chain(kind, [
            sa.and_(table.c["key"] == n.field.key, self.leaf(n, source))  # type: ignore[union-attr]
            for n in nodes])])

    def drives(self, nodes: Sequence[Node]) -> bool:
        """``nodes`` (the whole filter, or a top-level conjunct's group of comparisons
        on one key) are a planned lookup's: comparisons of its key, one of them an
        equality or ``IN``."""
        keys = {(type(n.field), n.field.key)  # type: ignore[union-attr]
                if isinstance(n, Comparison) and isinstance(n.field, (Tag, Metadata))
                and n.compare_as is not CompareAs.PRESENCE else None for n in nodes}
        return (len(keys) == 1 and keys <= self.plan.value_keys  # type: ignore[operator]
                and any(lookup_values(n) is not None for n in nodes))

    def lookup_leaf(self, nodes: list[Comparison]) -> sa.ColumnElement[bool]:
        """``trace_id IN (SELECT trace_id ... WHERE key = ? AND substr(value, 1, 64) IN
        (prefixes) AND <the comparisons>)``: the same rows as ``key_value_leaf``'s
        ``EXISTS``, found through the value index.

        The prefix is only the index range; the comparisons check the whole value, except
        where the dialect's index alone decides an equality on a value shorter than the
        prefix (PostgreSQL: a short value is its own prefix; SQLite's ``substr`` stops at
        a NUL character, so there the comparisons always run).
        """
        dialect = self.dialect
        field = nodes[0].field
        table = (schema.trace_tags if isinstance(field, Tag) else schema.trace_metadata).alias()
        driver = next(n for n in nodes if lookup_values(n) is not None)
        values: tuple[str, ...] = lookup_values(driver)  # type: ignore[assignment]
        prefixes = sorted({dialect.value_prefix(v) for v in values})
        decided = dialect.prefix_decides_short_values and all(
            len(v) < schema.VALUE_PREFIX_LENGTH for v in values)
        exact = [n for n in nodes if not (n is driver and decided)]
        source = _Column(dialect.lookup_value(table.c.value), False, True)
        found = sa.select(table.c.trace_id).where(
            table.c["key"] == field.key,  # type: ignore[union-attr]
            dialect.in_list(schema.value_prefix(table.c.value), prefixes),
            *(self.leaf(n, source) for n in exact))
        return schema.traces.c.trace_id.in_(found)

    # --- sources ----------------------------------------------------------------------------
    def trace_leaf(self, node: Comparison) -> sa.ColumnElement[bool]:
        field = node.field
        traces = schema.traces
        if isinstance(field, Attribute):
            column = (self.trace_name(node) if field.name is AttributeName.NAME
                      else traces.c[str(field.name)])
            is_number = field.name in (AttributeName.REQUEST_TIME,
                                       AttributeName.EXECUTION_DURATION)
            return self.leaf(node, _Column(column, is_number,
                                           field.name not in _NON_NULL_ATTRIBUTES))
        if isinstance(field, (Tag, Metadata)):
            return self.key_value_leaf([node], And)
        if isinstance(field, AssessmentValue):
            return self.leaf(node, _Json(self.assessment_value(field)))
        if isinstance(field, TextContent):
            return self.text_leaf(node)
        if isinstance(field, RootPayload):
            key = _INPUTS_KEY if field.side == "inputs" else _OUTPUTS_KEY
            spans = schema.spans.alias()
            raw = (sa.select(self.dialect.span_attribute(spans.c.content, key))
                   .where(spans.c.trace_id == traces.c.trace_id,
                          spans.c.parent_span_id.is_(None))
                   .order_by(spans.c.position).limit(1).scalar_subquery())
            return self.leaf(node, _Json(raw, field.path))
        raise TypeError(f"{field!r} is not a trace field")

    def span_source(self, node: Comparison, spans: sa.Alias) -> _Source:
        field = node.field
        if isinstance(field, SpanAttribute):
            return _Json(self.dialect.span_attribute(spans.c.content, field.key))
        if isinstance(field, SpanProperty):
            if field.name is SpanPropertyName.DURATION_MS:
                return _Column(spans.c.duration_ns, True, True)
            if field.name is SpanPropertyName.NAME:
                name = spans.c.name if cut_column_decides(node) else self.whole_span_name(spans)
                return _Column(name, False, False)
            column = {SpanPropertyName.TYPE: spans.c.span_type,
                      SpanPropertyName.STATUS: spans.c.status}[field.name]
            return _Column(column, False, False)
        raise TypeError(f"{field!r} is not a span field")

    def whole_span_name(self, spans: sa.Alias) -> sa.ColumnElement[Any]:
        """A span's whole name: ``spans.name`` unless it was cut, then the name in the
        span's JSON (when the dialect can read it, else the cut name)."""
        column = spans.c.name
        whole = self.dialect.span_json_name(spans.c.content)
        return sa.case((sa.func.length(column) >= schema.SPAN_NAME_LENGTH,
                        sa.func.coalesce(whole, column)), else_=column)

    def trace_name(self, node: Comparison) -> sa.ColumnElement[Any]:
        """``attributes.name``: the root span's name, else the ``mlflow.traceName`` tag.
        ``traces.name`` holds it cut to ``SPAN_NAME_LENGTH`` characters; where the cut
        could matter (``cut_column_decides``), a cut name is read whole from the root span
        or the tag."""
        traces = schema.traces
        column = traces.c.name
        if cut_column_decides(node):
            return column
        spans = schema.spans.alias()
        tags = schema.trace_tags.alias()
        root = (sa.select(self.whole_span_name(spans))
                .where(spans.c.trace_id == traces.c.trace_id,
                       spans.c.parent_span_id.is_(None))
                .order_by(spans.c.position).limit(1).scalar_subquery())
        tag = (sa.select(tags.c.value)
               .where(tags.c.trace_id == traces.c.trace_id,
                      tags.c["key"] == TraceTagKey.TRACE_NAME).scalar_subquery())
        return sa.case((sa.func.length(column) >= schema.SPAN_NAME_LENGTH,
                        sa.func.coalesce(root, tag, column)), else_=column)

    def assessment_value(self, field: AssessmentValue) -> sa.ColumnElement[Any]:
        """The JSON value of the latest valid assessment called ``field.name``."""
        table = schema.assessments.alias()
        conditions = [table.c.trace_id == schema.traces.c.trace_id,
                      table.c.name == field.name, table.c.valid == sa.true()]
        if field.kind is not None:
            conditions.append(table.c.kind == field.kind)
        return (sa.select(table.c.value).where(*conditions)
                .order_by(table.c.create_time.desc(),
                          self.dialect.text_key(table.c.assessment_id).desc())
                .limit(1).scalar_subquery())

    # --- one comparison -------------------------------------------------------------------------
    def leaf(self, node: Comparison, source: _Source) -> sa.ColumnElement[bool]:
        """The comparison on ``source``: TRUE or FALSE, never NULL."""
        dialect = self.dialect
        op = node.op
        plain = isinstance(source, _Column)
        nullable = not plain or source.nullable  # type: ignore[union-attr]
        if node.compare_as is CompareAs.PRESENCE:
            value = (source.expr if isinstance(source, _Column)
                     else dialect.json_text(source.raw, source.path))
            return value.is_(None) if op is Op.IS_NULL else value.isnot(None)
        if node.compare_as is CompareAs.NUMBER:
            values = node.value if isinstance(node.value, tuple) else (node.value,)
            if node.field == SpanProperty(SpanPropertyName.DURATION_MS):
                values = tuple(v * _NS_PER_MS for v in values)  # type: ignore[operator]
            if isinstance(source, _Json):
                expr = dialect.json_number(source.raw, source.path)
            elif source.is_number:
                expr = source.expr
            else:
                expr, plain = dialect.text_number(source.expr), False
            condition = self.number_condition(op, expr, values)  # type: ignore[arg-type]
        else:
            expr = (source.expr if isinstance(source, _Column)
                    else dialect.json_text(source.raw, source.path))
            if node.compare_as is CompareAs.BOOLEAN:
                expr = sa.func.lower(expr)
                raw = node.value if isinstance(node.value, tuple) else (node.value,)
                values = tuple("true" if v else "false" for v in raw)
            else:
                values = node.value if isinstance(node.value, tuple) else (node.value,)
            condition = self.text_condition(op, expr, values)  # type: ignore[arg-type]
        if not nullable:
            return condition
        if plain:
            return sa.and_(expr.isnot(None), condition)
        return sa.func.coalesce(condition, sa.false())

    def text_condition(self, op: Op, text: sa.ColumnElement[Any],
                       values: tuple[str, ...]) -> sa.ColumnElement[bool]:
        dialect = self.dialect
        value = values[0]
        if op is Op.EQ:
            return text == value
        if op is Op.NE:
            return text != value
        if op is Op.IN:
            return dialect.in_list(text, values)
        if op is Op.NOT_IN:
            return sa.not_(dialect.in_list(text, values))
        if op in (Op.LIKE, Op.NOT_LIKE, Op.ILIKE, Op.NOT_ILIKE):
            ignore_case = op in (Op.ILIKE, Op.NOT_ILIKE)
            matched = dialect.like(text, fold_case(value) if ignore_case else value,
                                   ignore_case=ignore_case)
            return matched if op in (Op.LIKE, Op.ILIKE) else sa.not_(matched)
        if op in (Op.RLIKE, Op.NOT_RLIKE):
            matched = dialect.regex_match(text, value)
            return matched if op is Op.RLIKE else sa.not_(matched)
        if op in (Op.CONTAINS, Op.NOT_CONTAINS):
            position = dialect.contains(text, value)
            return position > 0 if op is Op.CONTAINS else position == 0
        raise ValueError(f"{op} is not a text comparison")

    def number_condition(self, op: Op, number: sa.ColumnElement[Any],
                         values: tuple[int | float, ...]) -> sa.ColumnElement[bool]:
        if op in BINARY_OPERATORS:
            kind = sa.Float() if isinstance(values[0], float) else sa.BigInteger()
            return BINARY_OPERATORS[op](number, sa.literal(values[0], kind))
        if op is Op.IN:
            return self.dialect.in_list(number, values, number=True)
        if op is Op.NOT_IN:
            return sa.not_(self.dialect.in_list(number, values, number=True))
        raise ValueError(f"{op} is not a number comparison")


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
