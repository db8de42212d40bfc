"""SQLAlchemy engines for the URIs Spanscope accepts, tuned for many concurrent writers.

SQLite runs in WAL mode with ``synchronous=NORMAL``, foreign keys on (for cascades) and a
busy timeout. Python's ``sqlite3`` would otherwise open transactions lazily on the first
write, so two writers could both read and then deadlock upgrading their locks; instead
SQLAlchemy emits ``BEGIN IMMEDIATE`` for write transactions (connections marked with the
``WRITE`` execution option) and a plain ``BEGIN`` for reads, the pysqlite recipe from the
SQLAlchemy docs. PostgreSQL always goes through psycopg 3, whatever the URI says.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.pool import StaticPool

from spanscope.exceptions import InvalidUriError, StoreError
from spanscope.store.sql.sqlite_functions import register as register_functions

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

__all__ = ["WRITE", "StatementHook", "WalSettler", "bulk_page_cache", "create_engine",
           "defer_checkpoint", "is_memory", "mask_uri", "parse_uri", "settle_wal"]

StatementHook = Callable[[str, Any], None]

WRITE = "spanscope_write"  # execution option: this connection's transactions will write
SQLITE_BUSY_TIMEOUT_MS = 30_000
# WAL frames (pages) past which a bulk deletion waits for the WAL to be copied back and
# restarted (``settle_wal``): ~64 MB at SQLite's 4 KiB pages. Also the size the WAL file is
# cut back to when it restarts (``journal_size_limit``).
WAL_SETTLE_FRAMES = 16_384
WAL_SIZE_LIMIT_BYTES = 64 * 1024 * 1024
WAL_AUTOCHECKPOINT_FRAMES = 1000  # SQLite's default, restored after ``defer_checkpoint``
_DEFERRED = "spanscope_checkpoint_deferred"  # connection-record flag of defer_checkpoint
SQLITE_CACHE_SIZE = -2000  # SQLite's default page cache (2,000 KiB), restored after a bulk one
_BULK_CACHE = "spanscope_bulk_cache"  # connection-record flag of bulk_page_cache
PG_CONNECT_TIMEOUT_S = 10

_SUPPORTED = "use sqlite:///PATH, sqlite:///:memory: or postgresql://USER@HOST:PORT/DB"


def mask_uri(uri: str) -> str:
    """The URI with any password replaced by ``***``, for messages and logs."""
    return re.sub(r"(://[^/:@]*:)[^/@]*@", r"\1***@", uri)


def parse_uri(uri: str) -> URL:
    """Turn a Spanscope store URI into the SQLAlchemy URL to connect with.

    ``postgresql://`` and ``postgres://`` select psycopg 3; a relative SQLite path is made
    absolute now, so pooled connections opened later never depend on the working directory.
    """
    try:
        url = make_url(uri)
    except (ArgumentError, ValueError) as exc:
        raise InvalidUriError(f"cannot parse store URI {mask_uri(uri)!r}: {_SUPPORTED}") from exc
    backend, _, driver = url.drivername.partition("+")
    if backend == "sqlite":
        if driver not in ("", "pysqlite"):
            raise InvalidUriError(f"unsupported SQLite driver {driver!r} in {mask_uri(uri)!r}: "
                                  "Spanscope uses Python's built-in sqlite3")
        url = url.set(drivername="sqlite")
        if not is_memory(url):
            url = url.set(database=os.path.abspath(os.path.expanduser(url.database or "")))
        return url
    if backend in ("postgresql", "postgres"):
        if driver not in ("", "psycopg"):
            raise InvalidUriError(f"unsupported PostgreSQL driver {driver!r} in "
                                  f"{mask_uri(uri)!r}: use postgresql:// (psycopg 3)")
        if not url.database:
            raise InvalidUriError(f"store URI {mask_uri(uri)!r} names no database: {_SUPPORTED}")
        return url.set(drivername="postgresql+psycopg")
    raise InvalidUriError(f"unsupported store URI {mask_uri(uri)!r}: {_SUPPORTED}")


def is_memory(url: URL) -> bool:
    return url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:")


def create_engine(uri: str, *, on_statement: StatementHook | None = None) -> Engine:
    """An engine for ``uri``; ``on_statement(sql, parameters)`` sees every statement run."""
    url = parse_uri(uri)
    if url.get_backend_name() == "sqlite":
        engine = _sqlite_engine(url)
    else:
        engine = _postgresql_engine(url, uri)
    if on_statement is not None:
        @event.listens_for(engine, "before_cursor_execute")
        def _observe(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any,
                     executemany: bool) -> None:
            on_statement(statement, parameters)
    return engine


def _sqlite_engine(url: URL) -> Engine:
    memory = is_memory(url)
    # "named" parameters (:name) so bulk.insert_rows can pass row dicts straight to sqlite3.
    if memory:
        # One connection for the one in-memory database; SqlStore serialises its use.
        engine = sa.create_engine(url, poolclass=StaticPool, paramstyle="named",
                                  connect_args={"check_same_thread": False})
    else:
        engine = sa.create_engine(url, paramstyle="named",
                                  connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000})

    @event.listens_for(engine, "connect")
    def _configure(dbapi_connection: Any, connection_record: Any) -> None:
        dbapi_connection.isolation_level = None  # we emit BEGIN ourselves (see "begin")
        register_functions(dbapi_connection)  # what the filter compiler calls (REGEXP, ...)
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
            cursor.execute("PRAGMA foreign_keys = ON")
            if not memory:
                _enable_wal(cursor)
                cursor.execute("PRAGMA synchronous = NORMAL")
                # a WAL that a burst of writes grew is cut back when it restarts
                cursor.execute(f"PRAGMA journal_size_limit = {WAL_SIZE_LIMIT_BYTES}")
        finally:
            cursor.close()

    @event.listens_for(engine, "checkin")
    def _checkin(dbapi_connection: Any, connection_record: Any) -> None:
        if connection_record.info.pop(_DEFERRED, False):  # see defer_checkpoint
            dbapi_connection.execute(f"PRAGMA wal_autocheckpoint = {WAL_AUTOCHECKPOINT_FRAMES}")
        if connection_record.info.pop(_BULK_CACHE, False):  # see bulk_page_cache
            dbapi_connection.execute(f"PRAGMA cache_size = {SQLITE_CACHE_SIZE}")

    @event.listens_for(engine, "begin")
    def _begin(conn: sa.Connection) -> None:
        immediate = conn.get_execution_options().get(WRITE)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


def _enable_wal(cursor: Any) -> None:
    """Switch the file to WAL once; a brand-new file may be busy while another opener does."""
    import sqlite3

    for attempt in range(100):
        try:
            mode = cursor.execute("PRAGMA journal_mode").fetchone()[0]
            if str(mode).lower() != "wal":
                cursor.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or attempt == 99:
                raise
            time.sleep(0.05)


def defer_checkpoint(conn: sa.Connection) -> None:
    """Let this SQLite transaction commit without SQLite's automatic checkpoint, for a bulk
    write whose caller runs ``settle_wal`` right after it.

    The automatic checkpoint runs in the committing connection whenever the WAL holds over
    1,000 frames, which under readers that never pause is after every commit: a deletion
    batch then paid for two checkpoints, each with its two fsyncs (the automatic one,
    stopped short by the readers, and ``settle_wal``'s PASSIVE one that finishes the copy),
    about a third of the batch's time on a 1M store. The connection gets SQLite's default
    back when it returns to the pool (the engine's ``checkin`` hook), so no other work
    ever runs without it. A no-op on PostgreSQL.
    """
    if conn.dialect.name != "sqlite":
        return
    conn.exec_driver_sql("PRAGMA wal_autocheckpoint = 0")
    conn.connection.info[_DEFERRED] = True


def bulk_page_cache(conn: sa.Connection, kib: int) -> None:
    """Give this SQLite connection a page cache of ``kib`` KiB for a bulk write (a deletion
    batch, an import batch): a batch touches a page of every index per trace, and a cache
    that holds them writes each page once instead of spilling half-done pages to the WAL
    and reading them back. The connection gets SQLite's default back when it returns to
    the pool (the engine's ``checkin`` hook, as for ``defer_checkpoint``), so the cache of
    every other connection stays small. A no-op on PostgreSQL.
    """
    if conn.dialect.name != "sqlite":
        return
    conn.exec_driver_sql(f"PRAGMA cache_size = -{int(kib)}")
    conn.connection.info[_BULK_CACHE] = True


def settle_wal(engine: Engine, *, max_frames: int | None = None,
               max_wait_s: float = 1.0) -> int | None:
    """Between the batches of a bulk write to a SQLite file: keep its WAL from growing.

    SQLite's automatic checkpoint is PASSIVE: it copies back only the WAL frames no reader
    still needs, and the WAL restarts from its beginning only when it is wholly copied back
    and no reader is in it. Under a steady stream of searches that never happens, so a
    deletion of 100k traces (~60 changed pages each) would grow the WAL by gigabytes, and
    every page a reader looks up is first searched in the WAL's index, slower as it grows.
    Once the WAL holds more than ``max_frames`` (default ``WAL_SETTLE_FRAMES``, read at
    each call so ``bench/retention.py`` can turn it off to compare) this copies it back
    (PASSIVE, never blocking anyone) and then asks for a restart without waiting
    (RESTART with no busy timeout, retried for up to ``max_wait_s`` while readers finish
    their snapshots), so the next write starts the WAL afresh. The pauses are also when
    other writers get the write lock. Returns None when the WAL was below ``max_frames``
    (or this is not a SQLite file), 0 when it was restarted, else the frames it holds
    (readers never paused long enough: ``WalSettler`` then waits for it to double).
    """
    if engine.url.get_backend_name() != "sqlite" or is_memory(engine.url):
        return None
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        try:
            def checkpoint(mode: str) -> tuple[int, int, int]:
                busy, log, done = cursor.execute(f"PRAGMA wal_checkpoint({mode})").fetchone()
                return int(busy), int(log), int(done)

            _, log, done = checkpoint("PASSIVE")
            if log < (WAL_SETTLE_FRAMES if max_frames is None else max_frames):
                return None
            deadline = time.monotonic() + max_wait_s
            delay = 0.005
            while done < log and time.monotonic() < deadline:
                time.sleep(delay)
                delay = min(delay * 2, 0.05)
                _, log, done = checkpoint("PASSIVE")
            cursor.execute("PRAGMA busy_timeout = 0")  # ask, never wait holding a lock
            try:
                while True:
                    busy, log, _ = checkpoint("RESTART")
                    if not busy:
                        return 0
                    if time.monotonic() >= deadline:
                        return max(log, 1)
                    time.sleep(delay)
                    delay = min(delay * 2, 0.05)
            finally:
                cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        finally:
            cursor.close()
    finally:
        raw.close()


class WalSettler:
    """``settle_wal`` between the batches of one bulk write, backing off when it fails.

    When searches overlap without pause (long ones, on a big store), the WAL cannot
    restart however long a batch waits; waiting after every batch would then only slow
    the deletion down. So after a failed try the next one waits until the WAL has doubled
    (a few tries while it grows by gigabytes), and a success starts over.
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.at_frames: int | None = None  # None: WAL_SETTLE_FRAMES

    def __call__(self) -> int | None:
        outcome = settle_wal(self.engine, max_frames=self.at_frames)
        if outcome == 0:
            self.at_frames = None
        elif outcome is not None:
            self.at_frames = 2 * outcome
        return outcome


def _postgresql_engine(url: URL, uri: str) -> Engine:
    try:
        import psycopg  # noqa: F401  (fail here with a clear message, not deep in SQLAlchemy)
    except ImportError as exc:
        raise StoreError(f"cannot open {mask_uri(uri)}: PostgreSQL needs psycopg 3; "
                         "install it with: pip install 'spanscope[postgres]'") from exc
    connect_args: dict[str, Any] = {"application_name": "spanscope"}
    if "connect_timeout" not in url.query:
        connect_args["connect_timeout"] = PG_CONNECT_TIMEOUT_S
    return sa.create_engine(url, pool_pre_ping=True, connect_args=connect_args)
