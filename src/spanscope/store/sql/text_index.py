"""The text index: what ``text CONTAINS 'x'`` (and ``request``/``inputs.PATH`` patterns)
read instead of parsing every trace's JSON.

Rows of ``schema.span_text`` hold the texts of each span (``spanscope.query.text``), cut
to ``text_index_chars()`` characters (``SPANSCOPE_TEXT_INDEX_CHARS``, default 2000) with
the cut marked (``unsure = 2``). Each database indexes ``body`` by trigrams: SQLite an
FTS5 table with the ``trigram`` tokenizer, PostgreSQL a GIN index with ``pg_trgm``'s
``gin_trgm_ops``. Ingest writes the rows (``rows_for``, ``write_rows``), an upsert
replaces a replaced span's rows, deletion cascades from ``traces`` (on SQLite a trigger
takes the rows out of the FTS5 table). The index only
finds candidates; the filter checks each candidate text exactly, so results equal the
reference evaluator's (``docs/search-performance.md``).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from spanscope.entities import Span
from spanscope.query.text import SpanText, text_tuples
from spanscope.store.sql import schema

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

__all__ = ["DEFAULT_TEXT_INDEX_CHARS", "KIND_CODES", "MIN_PATTERN", "PG_INDEX", "ROW_COLUMNS",
           "SQLITE_FTS", "Row", "backfill", "create_index", "drop_index", "rebuild_sqlite_fts",
           "rows_for", "rows_of", "text_index_chars", "write_rows"]

logger = logging.getLogger(__name__)

DEFAULT_TEXT_INDEX_CHARS = 2000
ENV_VAR = "SPANSCOPE_TEXT_INDEX_CHARS"
MIN_PATTERN = 3  # a trigram index finds substrings of three characters or more
KIND_CODES = {"inputs": "i", "outputs": "o", "exception": "e"}
SQLITE_FTS = "span_text_fts"
PG_INDEX = "ix_span_text_body"
# Characters whose lower case (Python's) holds an ASCII letter although they are not ASCII:
# a database may fold them otherwise, so a row holding one is always an ILIKE candidate.
_UNSURE_CASE = frozenset("\u0130\u212a")

# ``detail=none``: the index keeps which rows hold each trigram, not where; ingest writes
# five times faster than with positions, and a LIKE on the table still finds its rows
# through the index (phrase queries, which need positions, are not used). ``columnsize=0``:
# no row of text lengths per indexed row (which only ranking reads): a third less FTS5
# work at ingest (migration 0012 rebuilt older stores' tables without them). Rows are
# written by ``write_rows`` (a trigger per row costs three times as much); deletions,
# including the cascade from ``traces``, by the trigger.
def _sqlite_ddl(*, columnsize: bool = False) -> tuple[str, ...]:
    options = "" if columnsize else ", columnsize=0"
    return (
        f"CREATE VIRTUAL TABLE {SQLITE_FTS} USING fts5(body, content='span_text', "
        f"content_rowid='id', tokenize='trigram', detail=none{options})",
        # up to 8 segments per level before a merge (default 4): less merging per commit
        f"INSERT INTO {SQLITE_FTS}({SQLITE_FTS}, rank) VALUES ('automerge', 8)",
        f"CREATE TRIGGER span_text_fts_delete AFTER DELETE ON span_text BEGIN "
        f"INSERT INTO {SQLITE_FTS}({SQLITE_FTS}, rowid, body) "
        "VALUES ('delete', old.id, old.body); END",
    )


_PG_EXTENSION_HELP = (
    "the text index needs PostgreSQL's pg_trgm extension, which this database user may not "
    "create; text search works without it but scans. Ask an administrator to run, in this "
    "database: CREATE EXTENSION pg_trgm; CREATE INDEX ix_span_text_body ON span_text USING "
    "gin (body gin_trgm_ops);")


def text_index_chars() -> int:
    """Characters of each text the index holds (``SPANSCOPE_TEXT_INDEX_CHARS``)."""
    raw = os.environ.get(ENV_VAR)
    if raw is None or not raw.strip():
        return DEFAULT_TEXT_INDEX_CHARS
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value < MIN_PATTERN:
        logger.warning("%s=%r is not a number of characters >= %d; using %d", ENV_VAR, raw,
                       MIN_PATTERN, DEFAULT_TEXT_INDEX_CHARS)
        return DEFAULT_TEXT_INDEX_CHARS
    return value


ROW_COLUMNS = ("trace_id", "span_id", "kind", "seq", "unsure", "body")
Row = tuple[str, str, str, int, int, str]  # a ``span_text`` row, ``ROW_COLUMNS`` in order


def rows_for(trace_id: str, spans: Iterable[Span], limit: int) -> list[Row]:
    """The ``span_text`` rows of these spans of one trace."""
    return [_row(trace_id, span.span_id, kind, seq, text, limit)
            for span in spans for kind, seq, text in text_tuples(span)]


def rows_of(trace_id: str, span_id: str, texts: Iterable[SpanText],
            limit: int) -> Iterator[dict[str, Any]]:
    """The ``span_text`` rows of one span's texts, as dicts (bulk loaders build them from
    values)."""
    for text in texts:
        row = _row(trace_id, span_id, text.kind, text.seq, text.text, limit)
        yield dict(zip(ROW_COLUMNS, row, strict=True))


def _row(trace_id: str, span_id: str, kind: str, seq: int, body: str, limit: int) -> Row:
    """One ``span_text`` row (the ingest hot path: one call per text)."""
    unsure = 0
    if "\x00" in body:  # PostgreSQL text cannot hold NUL
        body, unsure = body.replace("\x00", "\ufffd"), 2
    if not body.isascii():
        if not _encodable(body):  # a lone surrogate, from JSON
            body, unsure = body.encode("utf-8", "replace").decode("utf-8"), 2
        elif unsure == 0 and not _UNSURE_CASE.isdisjoint(body):
            unsure = 1
    if len(body) > limit:
        body, unsure = body[:limit], 2
    return trace_id, span_id, KIND_CODES[kind], seq, unsure, body


def _encodable(body: str) -> bool:
    """Whether the databases can store ``body``: lone surrogates (which span JSON may carry
    as ``\\ud800`` escapes) cannot be encoded as UTF-8."""
    try:
        body.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


_INSERT = f"INSERT INTO span_text ({', '.join(ROW_COLUMNS)}) VALUES ({', '.join(['?'] * 6)})"
_FTS_INSERT = (f"INSERT INTO {SQLITE_FTS}(rowid, body) "
               "SELECT id, body FROM span_text WHERE id > ?")
_PG_INSERT = f"INSERT INTO span_text ({', '.join(ROW_COLUMNS)}) VALUES ({', '.join(['%s'] * 6)})"


def write_rows(conn: Connection, rows: Sequence[Row] | Sequence[dict[str, Any]]) -> None:
    """Insert ``span_text`` rows (from ``rows_for``, or ``rows_of``'s dicts) and index
    them, as plain tuples, the cheapest parameters for the drivers. On SQLite the new rows
    get ids above every stored one (``INTEGER PRIMARY KEY``; the writer holds the
    database's only write lock), so one ``INSERT ... SELECT`` of the ids above the old
    top indexes them all, without binding each text again."""
    if not rows:
        return
    values: Sequence[Row] = ([tuple(row[c] for c in ROW_COLUMNS)  # type: ignore[misc]
                              for row in rows] if isinstance(rows[0], dict) else rows)
    if conn.dialect.name == "sqlite":
        top = conn.exec_driver_sql("SELECT max(id) FROM span_text").scalar() or 0
        conn.exec_driver_sql(_INSERT, values)
        conn.exec_driver_sql(_FTS_INSERT, (top,))
        return
    conn.exec_driver_sql(_PG_INSERT, list(values))


def create_index(conn: Connection) -> None:
    """The trigram index over ``span_text.body`` (the table exists). On PostgreSQL without
    the right to create ``pg_trgm``, a warning says what to ask for."""
    if conn.dialect.name == "sqlite":
        for statement in _sqlite_ddl():
            conn.exec_driver_sql(statement)
        return
    try:
        with conn.begin_nested():
            conn.exec_driver_sql("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    except sa.exc.DBAPIError as exc:
        logger.warning("%s (%s)", _PG_EXTENSION_HELP, str(exc.orig).splitlines()[0])
        return
    conn.exec_driver_sql(f"CREATE INDEX {PG_INDEX} ON span_text USING gin "
                         "(body gin_trgm_ops)")


def drop_index(conn: Connection) -> None:
    if conn.dialect.name == "sqlite":
        conn.exec_driver_sql("DROP TRIGGER IF EXISTS span_text_fts_delete")
        conn.exec_driver_sql(f"DROP TABLE IF EXISTS {SQLITE_FTS}")
    else:
        conn.exec_driver_sql(f"DROP INDEX IF EXISTS {PG_INDEX}")


def rebuild_sqlite_fts(conn: Connection, *, columnsize: bool = False, batch: int = 100_000,
                       progress: Callable[[int, int], None] | None = None) -> bool:
    """Make the SQLite FTS5 table again, with (``columnsize=True``: as migration 0007 made
    it) or without its per-row text lengths, indexing the ``span_text`` rows ``batch`` at
    a time; ``progress(done, total)`` after each. False (nothing done) when the table
    already is so."""
    made = conn.exec_driver_sql("SELECT sql FROM sqlite_master WHERE name = ?",
                                (SQLITE_FTS,)).scalar()
    if made is None or ("columnsize=0" not in made) is columnsize:
        return False
    drop_index(conn)
    for statement in _sqlite_ddl(columnsize=columnsize):
        conn.exec_driver_sql(statement)
    total = conn.exec_driver_sql("SELECT count(*) FROM span_text").scalar() or 0
    done, after = 0, 0
    while True:
        upto = conn.exec_driver_sql(
            "SELECT max(id) FROM (SELECT id FROM span_text WHERE id > ? ORDER BY id LIMIT ?)",
            (after, batch)).scalar()
        if upto is None:
            break
        done += conn.exec_driver_sql(
            f"INSERT INTO {SQLITE_FTS}(rowid, body) SELECT id, body FROM span_text "
            "WHERE id > ? AND id <= ?", (after, upto)).rowcount
        after = upto
        if progress is not None:
            progress(done, total)
    return True


def backfill(conn: Connection, *, batch: int = 2000,
             progress: Callable[[int, int], None] | None = None) -> int:
    """Index the texts of every stored trace, ``batch`` traces at a time (a migration's
    work); ``progress(done, total)`` after each batch. Returns the traces indexed."""
    from spanscope.store.sql.convert import span_from_content

    traces, spans = schema.traces, schema.spans
    total = conn.execute(sa.select(sa.func.count()).select_from(traces)).scalar_one()
    limit = text_index_chars()
    done, after = 0, ""
    while True:
        ids: Sequence[str] = conn.execute(
            sa.select(traces.c.trace_id).where(traces.c.trace_id > after)
            .order_by(traces.c.trace_id).limit(batch)).scalars().all()
        if not ids:
            break
        rows: list[Row] = []
        query = (sa.select(spans.c.trace_id, spans.c.content)
                 .where(spans.c.trace_id.in_(ids)).order_by(spans.c.trace_id,
                                                            spans.c.position))
        for row in conn.execute(query):
            rows.extend(rows_for(row.trace_id, [span_from_content(row.content, row.trace_id)],
                                 limit))
        if rows:
            write_rows(conn, rows)
        done += len(ids)
        after = ids[-1]
        if progress is not None:
            progress(done, total)
    return done
