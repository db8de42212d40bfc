"""What differs between the SQL databases, one small object per dialect.

The filter translation (``filter_sql``), the planner (``planner``), the search and the
aggregates say *what* to compute once; how a database spells it (its regular expressions,
its JSON functions, which index tricks it needs, how it takes a list of 70,000 values) is
asked of a ``Dialect``. A new database adds one ``Dialect`` subclass here (and its copies
of the value functions, ``value_functions``), not branches in every module.

``dialect_for(name)`` gives the object for a SQLAlchemy dialect name.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy import exc as sa_exc
from sqlalchemy.dialects import postgresql as pg
from sqlalchemy.sql import operators
from sqlalchemy.sql.elements import UnaryExpression

from spanscope.store.sql import schema
from spanscope.store.sql.text_index import SQLITE_FTS

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

__all__ = ["LONG_LIST", "Dialect", "PostgreSQL", "SQLite", "dialect_for", "glob_pattern",
           "like_pattern", "like_tokens", "no_index"]

#: A list of more values than this (``IN (...)``, index prefixes) is bound as ONE value (a
#: JSON array on SQLite, an array on PostgreSQL): any length is then one parameter, and
#: SQLite builds the list's lookup table once instead of once per probed trace.
LONG_LIST = 32
_INT64 = 2**63
_INVALID_REGEX = "2201B"  # PostgreSQL SQLSTATE invalid_regular_expression


_ANY, _ONE = object(), object()  # the two LIKE wildcards; any other token is one literal char


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


_MAX_TRIGRAMS = 4  # more terms narrow little and cost a doclist each


def _trigram_query(literal: str) -> str:
    """An FTS5 query for rows holding trigrams of ``literal`` (its every trigram, or
    ``_MAX_TRIGRAMS`` spread over it), each a quoted one-token term, joined by AND."""
    trigrams = list(dict.fromkeys(literal[i:i + 3].lower() for i in range(len(literal) - 2)))
    if len(trigrams) > _MAX_TRIGRAMS:
        step = (len(trigrams) - 1) / (_MAX_TRIGRAMS - 1)
        trigrams = [trigrams[round(i * step)] for i in range(_MAX_TRIGRAMS)]
    return " AND ".join('"' + t.replace('"', '""') + '"' for t in trigrams)


def no_index(expr: sa.ColumnElement[Any]) -> sa.ColumnElement[Any]:
    """SQLite's ``+expr``: the same value, but no longer a column, so SQLite neither uses
    an index on it nor substitutes a constant for it elsewhere (SQLite only: PostgreSQL
    has no unary plus on text)."""
    return UnaryExpression(expr, operator=operators.custom_op("+"), type_=expr.type)


def _path_json(path: tuple[str | int, ...]) -> sa.ColumnElement[Any]:
    return sa.literal(json.dumps(list(path)) if path else None, sa.Text)


def _number_type(values: Sequence[Any]) -> sa.types.TypeEngine[Any]:
    # One type for all values: an IN list typed by its first (integer) value would
    # truncate a later 0.5 on PostgreSQL.
    return sa.Float() if any(isinstance(v, float) for v in values) else sa.BigInteger()


def _bindable_numbers(values: Sequence[Any]) -> bool:
    """Numbers one array parameter can carry exactly (finite, integers within 64 bits)."""
    return all(math.isfinite(v) if isinstance(v, float) else -_INT64 <= v < _INT64
               for v in values)


class Dialect:
    """The translation's and the search's questions to a database; subclasses answer."""

    name: str
    #: The database chooses between scanning and a value-index lookup itself (from its
    #: statistics); otherwise ``planner`` counts the index range first.
    plans_lookups: bool = False
    #: Top-level ``span.`` groups may be read through the spans' name/type indexes.
    span_lookups: bool = False
    #: The index alone decides an equality on a value shorter than the indexed prefix.
    prefix_decides_short_values: bool = False
    #: Aggregates over whole experiments are cheaper as walks of indexes (sums in one
    #: pass, each percentile an ``ORDER BY ... LIMIT 2 OFFSET k``) than asked in one query.
    walks_indexes: bool = False
    #: The value functions are Python callbacks (each call takes the GIL): work that would
    #: call one per row (a sample's hash order, a tag's number) is done in Python instead.
    python_functions: bool = False
    #: ``error_details(strict=True)`` (the database's own JSON parser, which fails the
    #: query on JSON it rejects) is faster than the lenient way: try it first.
    strict_json_first: bool = False

    # --- values and lists --------------------------------------------------------------
    def text_key(self, expr: sa.ColumnElement[Any]) -> sa.ColumnElement[Any]:
        """``expr`` compared in code-point order (Python's), whatever the collation."""
        return expr

    def text_problem(self, text: str) -> str | None:
        """Why the database cannot compare ``text`` (None: it can)."""
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            return "contains text that is not valid Unicode (a lone surrogate)"
        return None

    def value_prefix(self, text: str) -> str:
        """What ``substr(text, 1, 64)`` (the value index's expression) gives."""
        return text[:schema.VALUE_PREFIX_LENGTH]

    def in_list(self, expr: sa.ColumnElement[Any], values: Sequence[Any], *,
                number: bool = False) -> sa.ColumnElement[bool]:
        """``expr IN (values)``; a list longer than ``LONG_LIST`` as one bound value."""
        if number:
            kind = _number_type(values)
            if len(values) > LONG_LIST and _bindable_numbers(values):
                items = [float(v) for v in values] if isinstance(kind, sa.Float) else values
                return self.long_list(expr, items, kind)
            return expr.in_(tuple(sa.literal(v, kind) for v in values))
        if len(values) > LONG_LIST and self.takes_long_text_list(values):
            return self.long_list(expr, values, sa.Text())
        return expr.in_(values)

    def takes_long_text_list(self, values: Sequence[str]) -> bool:
        return True

    def long_list(self, expr: sa.ColumnElement[Any], values: Sequence[Any],
                  kind: sa.types.TypeEngine[Any]) -> sa.ColumnElement[bool]:
        raise NotImplementedError

    # --- reading fields -----------------------------------------------------------------
    def exists(self, query: sa.Select[Any], *, probe: bool) -> sa.ColumnElement[bool]:
        """``EXISTS (query)``; ``probe``: it sits under ``OR``/``NOT`` and must stay a
        per-row index probe (not a plan that reads the whole child table first)."""
        return query.exists()

    def span_attribute(self, content: sa.ColumnElement[Any], key: str) -> sa.ColumnElement[Any]:
        """The raw (JSON-encoded) attribute ``key`` of a span's stored JSON."""
        raise NotImplementedError

    def span_json_name(self, content: sa.ColumnElement[Any]) -> sa.ColumnElement[Any]:
        """The ``name`` in a span's stored JSON (NULL if it cannot be read)."""
        raise NotImplementedError

    def json_text(self, raw: sa.ColumnElement[Any],
                  path: tuple[str | int, ...]) -> sa.ColumnElement[Any]:
        """``value_functions.json_text`` in SQL."""
        raise NotImplementedError

    def json_number(self, raw: sa.ColumnElement[Any],
                    path: tuple[str | int, ...]) -> sa.ColumnElement[Any]:
        """``value_functions.json_number`` in SQL."""
        raise NotImplementedError

    def text_number(self, text: sa.ColumnElement[Any]) -> sa.ColumnElement[Any]:
        """``value_functions.text_number`` in SQL."""
        return sa.func.spanscope_number(text)

    def lower(self, text: sa.ColumnElement[Any]) -> sa.ColumnElement[Any]:
        """``value_functions.lower`` (Unicode-aware) in SQL."""
        return sa.func.lower(text)

    # --- comparisons --------------------------------------------------------------------
    def regex_match(self, text: sa.ColumnElement[Any], pattern: str) -> sa.ColumnElement[bool]:
        raise NotImplementedError

    def contains(self, text: sa.ColumnElement[Any], value: str) -> sa.ColumnElement[Any]:
        """The 1-based position of ``value`` in ``text`` (0: absent)."""
        raise NotImplementedError

    def like(self, text: sa.ColumnElement[Any], pattern: str, *,
             ignore_case: bool) -> sa.ColumnElement[bool]:
        """``text`` matches the LIKE ``pattern`` (already lower-cased for ILIKE)."""
        raise NotImplementedError

    def regex_problem(self, conn: Connection, pattern: str) -> str | None:
        """Why the database's regex engine refuses ``pattern`` (None: it does not)."""
        return None

    # --- the text index (text_index.py) ------------------------------------------------
    def text_match(self, rows: sa.FromClause, literal: str, *,
                   ignore_case: bool) -> sa.ColumnElement[bool]:
        """``span_text`` rows whose body holds ``literal`` (any case when ``ignore_case``;
        at least ``MIN_PATTERN`` characters), found through the trigram index. A superset
        is fine: the filter checks each text exactly."""
        raise NotImplementedError

    def text_estimate(self, conn: Connection, literal: str) -> int | None:
        """About how many indexed texts hold ``literal``, from statistics (None: the
        planner counts them, ``text_candidates``)."""
        return None

    def text_candidates(self, literal: str) -> sa.Select[Any]:
        """One row per indexed text holding ``literal``, as ``text_match`` finds them (for
        the planner to count)."""
        rows = schema.span_text
        return sa.select(sa.literal(1)).select_from(rows).where(
            self.text_match(rows, literal, ignore_case=True))

    def exception_text(self, content: sa.ColumnElement[Any],
                       seq: sa.ColumnElement[Any]) -> sa.ColumnElement[Any]:
        """``text_of`` the message of the span's event number ``seq`` (stored JSON)."""
        raise NotImplementedError

    # --- running a search -----------------------------------------------------------------
    def looked_up_experiment(self, column: sa.ColumnElement[Any]) -> sa.ColumnElement[Any]:
        """The experiment column of a query driven by a value lookup."""
        return column

    def lookup_value(self, column: sa.ColumnElement[Any]) -> sa.ColumnElement[Any]:
        """The value column as a lookup's comparisons read it."""
        return column

    def prepare(self, conn: Connection) -> None:
        """Session settings a search wants, run before it."""

    def prepare_aggregate(self, conn: Connection) -> None:
        """Session settings an aggregate over many rows wants, run before it."""

    def walks_trace_index(self, conn: Connection) -> bool:
        """Whether percentiles of a whole experiment are cheaper as ``LIMIT 2 OFFSET k``
        walks of ``ix_traces_experiment_duration`` than as one sort of the durations."""
        return self.walks_indexes

    def traces_estimate(self, conn: Connection) -> int:
        """About how many traces the store holds, cheaply (for a planner that counts)."""
        raise NotImplementedError(f"{self.name} plans its lookups itself")

    # --- aggregates ---------------------------------------------------------------------
    def quantiles(self, column: sa.ColumnElement[Any],
                  quantiles: Sequence[float]) -> sa.ColumnElement[Any]:
        """An aggregate of ``column`` that ``quantile_values`` reads as the quantiles."""
        raise NotImplementedError

    def quantile_values(self, raw: Any, quantiles: Sequence[float]) -> tuple[float | None, ...]:
        """The ``quantiles`` of a group from the value of its ``quantiles`` aggregate (a
        list of them, or None for a group without values)."""
        if raw is None:
            return (None,) * len(quantiles)
        return tuple(None if v is None else float(v) for v in raw)

    def sample_key(self, trace_id: sa.ColumnElement[Any], seed: int) -> sa.ColumnElement[Any]:
        raise NotImplementedError

    def error_details(self, content: sa.ColumnElement[Any], exception_mark: str, *,
                      strict: bool = False,
                      ) -> tuple[sa.ColumnElement[Any], sa.ColumnElement[Any]]:
        """(the span's status message, its content when it may hold an exception event);
        ``strict``: a query reading JSON the database rejects fails (``DataError``)."""
        raise NotImplementedError


class SQLite(Dialect):
    """SQLite: Python functions (``sqlite_functions``), GLOB, JSON1, no value statistics."""

    name = "sqlite"
    span_lookups = True
    walks_indexes = True
    python_functions = True

    def value_prefix(self, text: str) -> str:
        # SQLite's substr stops at a NUL character (PostgreSQL text cannot hold one)
        return super().value_prefix(text.split("\x00", 1)[0])

    def takes_long_text_list(self, values: Sequence[str]) -> bool:
        # json_each gives text with a NUL as SQLite's C strings read it: keep such lists
        return not any("\x00" in v for v in values)

    def long_list(self, expr: sa.ColumnElement[Any], values: Sequence[Any],
                  kind: sa.types.TypeEngine[Any]) -> sa.ColumnElement[bool]:
        items = sa.func.json_each(sa.bindparam(None, json.dumps(list(values),
                                                                ensure_ascii=False),
                                               type_=sa.Text)).table_valued("value")
        return expr.in_(sa.select(items.c.value))

    def span_attribute(self, content: sa.ColumnElement[Any], key: str) -> sa.ColumnElement[Any]:
        fallback = sa.func.spanscope_span_attribute(content, key)
        if '"' in key:  # json_extract paths cannot quote a double quote
            return fallback
        return sa.case((sa.func.json_valid(content) == 1,
                        sa.func.json_extract(content, f'$.attributes."{key}"')),
                       else_=fallback)

    def span_json_name(self, content: sa.ColumnElement[Any]) -> sa.ColumnElement[Any]:
        return sa.case((sa.func.json_valid(content) == 1,
                        sa.func.json_extract(content, "$.name")))

    def json_text(self, raw: sa.ColumnElement[Any],
                  path: tuple[str | int, ...]) -> sa.ColumnElement[Any]:
        return sa.func.spanscope_json_text(raw, _path_json(path))

    def json_number(self, raw: sa.ColumnElement[Any],
                    path: tuple[str | int, ...]) -> sa.ColumnElement[Any]:
        return sa.func.spanscope_json_number(raw, _path_json(path))

    def lower(self, text: sa.ColumnElement[Any]) -> sa.ColumnElement[Any]:
        return sa.func.spanscope_lower(text)  # SQLite's own lower() is ASCII-only

    def regex_match(self, text: sa.ColumnElement[Any], pattern: str) -> sa.ColumnElement[bool]:
        return sa.func.spanscope_regexp(pattern, text) == 1

    def contains(self, text: sa.ColumnElement[Any], value: str) -> sa.ColumnElement[Any]:
        return sa.func.instr(text, value)

    def like(self, text: sa.ColumnElement[Any], pattern: str, *,
             ignore_case: bool) -> sa.ColumnElement[bool]:
        subject = self.lower(text) if ignore_case else text
        return subject.op("GLOB", is_comparison=True)(glob_pattern(like_tokens(pattern)))

    def text_match(self, rows: sa.FromClause, literal: str, *,
                   ignore_case: bool) -> sa.ColumnElement[bool]:
        return rows.c.id.in_(self.text_candidates(literal))

    def text_candidates(self, literal: str) -> sa.Select[Any]:
        """Ids of ``span_text`` rows holding every trigram of ``literal``, in any case (a
        superset of the rows holding it): the FTS5 table keeps no positions
        (``detail=none``), so the query is an ``AND`` of one-trigram terms, answered from
        the index alone, without reading a row."""
        fts = sa.table(SQLITE_FTS, sa.column("rowid"))
        match = sa.literal_column(SQLITE_FTS).op("MATCH", is_comparison=True)(
            sa.bindparam(None, _trigram_query(literal), type_=sa.Text))
        return sa.select(fts.c.rowid).where(match)

    def exception_text(self, content: sa.ColumnElement[Any],
                       seq: sa.ColumnElement[Any]) -> sa.ColumnElement[Any]:
        path = (sa.literal('["events",', sa.Text) + sa.cast(seq, sa.Text)
                + sa.literal(',"attributes","exception.message"]', sa.Text))
        return sa.func.spanscope_json_text(content, path)

    def looked_up_experiment(self, column: sa.ColumnElement[Any]) -> sa.ColumnElement[Any]:
        # else SQLite prefers to scan the experiment's index and test each trace against
        # the looked-up list, reading the whole experiment again
        return no_index(column)

    def lookup_value(self, column: sa.ColumnElement[Any]) -> sa.ColumnElement[Any]:
        # a plain ``value = ?`` would let SQLite substitute the constant into
        # ``substr(value, ...)``, which would then no longer match the index expression
        return no_index(column)

    def traces_estimate(self, conn: Connection) -> int:
        # the largest rowid, read from the end of the table's b-tree (a count would read
        # the whole table)
        rowid = sa.literal_column("rowid")
        return int(conn.execute(sa.select(sa.func.max(rowid)).select_from(schema.traces)
                                ).scalar() or 0)

    def quantiles(self, column: sa.ColumnElement[Any],
                  quantiles: Sequence[float]) -> sa.ColumnElement[Any]:
        # The group's values as one JSON array, built in C: a Python aggregate would be
        # called once per row (twice the time of the whole GROUP BY).
        return sa.func.json_group_array(column)

    def quantile_values(self, raw: Any, quantiles: Sequence[float]) -> tuple[float | None, ...]:
        from spanscope.store.sql.sqlite_aggregates import json_quantiles

        return json_quantiles(raw, quantiles)

    def sample_key(self, trace_id: sa.ColumnElement[Any], seed: int) -> sa.ColumnElement[Any]:
        return sa.func.spanscope_sample_key(trace_id, int(seed))

    def error_details(self, content: sa.ColumnElement[Any], exception_mark: str, *,
                      strict: bool = False,
                      ) -> tuple[sa.ColumnElement[Any], sa.ColumnElement[Any]]:
        valid = sa.func.json_valid(content) == 1
        status = sa.case((valid, sa.func.json_extract(content, "$.status.message")))
        exception = sa.case((sa.or_(sa.func.instr(content, exception_mark) > 0,
                                    sa.not_(valid)), content))
        return status, exception


_ALL_VISIBLE = 0.95  # the share of all-visible pages that makes index walks pay


class PostgreSQL(Dialect):
    """PostgreSQL: PL/pgSQL functions (migration 0002), POSIX regexes, its own planner."""

    name = "postgresql"
    plans_lookups = True
    prefix_decides_short_values = True
    strict_json_first = True

    def text_key(self, expr: sa.ColumnElement[Any]) -> sa.ColumnElement[Any]:
        return expr.collate("C")

    def text_problem(self, text: str) -> str | None:
        if "\x00" in text:
            return "contains the NUL character, which PostgreSQL text cannot hold"
        return super().text_problem(text)

    def long_list(self, expr: sa.ColumnElement[Any], values: Sequence[Any],
                  kind: sa.types.TypeEngine[Any]) -> sa.ColumnElement[bool]:
        return expr == sa.any_(sa.bindparam(None, list(values), type_=pg.ARRAY(kind)))

    def exists(self, query: sa.Select[Any], *, probe: bool) -> sa.ColumnElement[bool]:
        # Under OR or NOT PostgreSQL may turn an EXISTS into a hashed subplan that reads
        # the whole child table first, which a search that stops after 100 traces never
        # needs; OFFSET 0 keeps it a per-row index probe.
        return (query.offset(0) if probe else query).exists()

    def span_attribute(self, content: sa.ColumnElement[Any], key: str) -> sa.ColumnElement[Any]:
        return sa.func.spanscope_span_attribute(content, key)

    def span_json_name(self, content: sa.ColumnElement[Any]) -> sa.ColumnElement[Any]:
        return sa.func.spanscope_loads(content).op("->>")("name")

    def _json(self, raw: sa.ColumnElement[Any],
              path: tuple[str | int, ...]) -> sa.ColumnElement[Any]:
        value = sa.func.spanscope_loads(raw)
        if not path:
            return value
        steps = [f"#{step}" if isinstance(step, int) else f"k{step}" for step in path]
        return sa.func.spanscope_json_path(value, sa.bindparam(None, steps,
                                                                type_=pg.ARRAY(sa.Text)))

    def json_text(self, raw: sa.ColumnElement[Any],
                  path: tuple[str | int, ...]) -> sa.ColumnElement[Any]:
        return sa.func.spanscope_json_text(self._json(raw, path))

    def json_number(self, raw: sa.ColumnElement[Any],
                    path: tuple[str | int, ...]) -> sa.ColumnElement[Any]:
        return sa.func.spanscope_json_number(self._json(raw, path))

    def regex_match(self, text: sa.ColumnElement[Any], pattern: str) -> sa.ColumnElement[bool]:
        return text.op("~", is_comparison=True)(pattern)

    def contains(self, text: sa.ColumnElement[Any], value: str) -> sa.ColumnElement[Any]:
        return sa.func.strpos(text, value)

    def like(self, text: sa.ColumnElement[Any], pattern: str, *,
             ignore_case: bool) -> sa.ColumnElement[bool]:
        # backslash is PostgreSQL's default LIKE escape
        subject = self.lower(text) if ignore_case else text
        return subject.op("LIKE", is_comparison=True)(like_pattern(like_tokens(pattern)))

    def regex_problem(self, conn: Connection, pattern: str) -> str | None:
        try:
            with conn.begin_nested():
                conn.execute(sa.select(sa.literal("").op("~", is_comparison=True)(pattern)))
        except sa_exc.DBAPIError as exc:
            if getattr(exc.orig, "sqlstate", None) != _INVALID_REGEX:
                raise
            return str(exc.orig).splitlines()[0].strip()
        return None

    def text_match(self, rows: sa.FromClause, literal: str, *,
                   ignore_case: bool) -> sa.ColumnElement[bool]:
        # pg_trgm's GIN index answers LIKE and ILIKE with a leading %
        pattern = "%" + like_pattern(list(literal)) + "%"
        body = rows.c.body
        return body.ilike(pattern) if ignore_case else body.like(pattern)

    def exception_text(self, content: sa.ColumnElement[Any],
                       seq: sa.ColumnElement[Any]) -> sa.ColumnElement[Any]:
        steps = pg.array([sa.literal("kevents", sa.Text),
                          sa.literal("#", sa.Text) + sa.cast(seq, sa.Text),
                          sa.literal("kattributes", sa.Text),
                          sa.literal("kexception.message", sa.Text)])
        return sa.func.spanscope_json_text(sa.func.spanscope_json_path(
            sa.func.spanscope_loads(content), steps))

    def lower(self, text: sa.ColumnElement[Any]) -> sa.ColumnElement[Any]:
        # Python lower-cases U+0130 to two characters (i + U+0307), PostgreSQL to one; a
        # final sigma is read as sigma (values.fold_case), which an ICU collation's lower()
        # may write as ς
        folded = sa.func.lower(sa.func.replace(text, "\u0130", "i\u0307"))
        return sa.func.replace(folded, "\u03c2", "\u03c3")

    def text_estimate(self, conn: Connection, literal: str) -> int | None:
        # Counting would build the GIN index's whole bitmap for a common trigram (hundreds
        # of ms at 1M traces); the planner's estimate applies the pattern to the sampled
        # bodies of the column's statistics, in well under a millisecond.
        pattern = "%" + like_pattern(list(literal)) + "%"
        plan = conn.execute(sa.text("EXPLAIN (FORMAT JSON) SELECT 1 FROM span_text "
                                    "WHERE body ILIKE :pattern"), {"pattern": pattern}).scalar()
        plan = json.loads(plan) if isinstance(plan, str) else plan
        return int(plan[0]["Plan"]["Plan Rows"])

    def traces_estimate(self, conn: Connection) -> int:
        # the planner's own row estimate of the table (kept by ANALYZE and autovacuum)
        return max(0, int(conn.exec_driver_sql(
            "SELECT reltuples FROM pg_class WHERE oid = 'traces'::regclass").scalar() or 0))

    def prepare(self, conn: Connection) -> None:
        # starting parallel workers costs more than a page of 100 traces takes; and a plan
        # whose cost estimate is high (a text lookup's: up to a million) would be compiled
        # by the JIT, which took 1.6 s of a 3 s search, for a query that runs once
        conn.exec_driver_sql("SET LOCAL max_parallel_workers_per_gather = 0")
        conn.exec_driver_sql("SET LOCAL jit = off")

    def prepare_aggregate(self, conn: Connection) -> None:
        # The JIT compiles a plan whose cost estimate is high, as every scan of a million
        # traces' spans is: with inlining and optimisation about a second of CPU in each
        # process (the leader and every parallel worker), for a query that runs once and
        # whose rows take a few hundred ms to aggregate. Parallel workers stay on.
        conn.exec_driver_sql("SET LOCAL jit = off")

    def walks_trace_index(self, conn: Connection) -> bool:
        # An index-only walk skips a million entries in ~30 ms; where the visibility map
        # is not set (no VACUUM since the rows came) each entry is a heap fetch, seconds.
        # ``percentile_cont`` sorts the values instead (~0.2 s at a million) and, being an
        # ordered-set aggregate, keeps the whole query from parallel workers.
        pages, visible = conn.exec_driver_sql(
            "SELECT relpages, relallvisible FROM pg_class "
            "WHERE oid = 'traces'::regclass").one()
        return int(pages or 0) > 0 and int(visible or 0) >= _ALL_VISIBLE * int(pages)

    def quantiles(self, column: sa.ColumnElement[Any],
                  quantiles: Sequence[float]) -> sa.ColumnElement[Any]:
        return sa.func.percentile_cont(pg.array([float(q) for q in quantiles])
                                       ).within_group(column)

    def sample_key(self, trace_id: sa.ColumnElement[Any], seed: int) -> sa.ColumnElement[Any]:
        return self.text_key(sa.func.md5(sa.literal(f"{int(seed)}:") + trace_id))

    def error_details(self, content: sa.ColumnElement[Any], exception_mark: str, *,
                      strict: bool = False,
                      ) -> tuple[sa.ColumnElement[Any], sa.ColumnElement[Any]]:
        # ``spanscope_loads`` reads JSON PostgreSQL rejects (NaN) as a string, through an
        # exception block: a subtransaction per span, and no parallel workers for the
        # query (migration 0014). A plain cast does neither; it fails on such JSON.
        parsed = sa.cast(content, pg.JSON) if strict else sa.func.spanscope_loads(content)
        status = sa.func.json_extract_path_text(parsed, "status", "message")
        exception = sa.case((sa.func.strpos(content, exception_mark) > 0, content))
        return status, exception


_DIALECTS: dict[str, Dialect] = {d.name: d for d in (SQLite(), PostgreSQL())}


def dialect_for(name: str) -> Dialect:
    """The ``Dialect`` for a SQLAlchemy dialect name (``"sqlite"``, ``"postgresql"``)."""
    try:
        return _DIALECTS[name]
    except KeyError:
        raise ValueError(f"no SQL dialect {name!r}; known: {sorted(_DIALECTS)}") from None
