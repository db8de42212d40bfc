"""``SqlRetentionStore``: the ``RetentionStore`` of a SQLite or PostgreSQL store.

Tables ``retention_rules`` and ``deletion_log`` (migration 0010), and the lineage column
``dataset_records.source_trace_id`` (indexed). Like ``SqlKeyStore`` it opens its own
small engine on the store's URI (``SqlSideStore``), so ``SqlStore`` stays free of
lifecycle work. Work over
many trace ids is chunked (``_CHUNK`` per statement, one short transaction per chunk), so
a big deletion never holds the write lock for long.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import time
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from spanscope.entities.dataset import digest_of
from spanscope.exceptions import StoreError
from spanscope.store import trace_rules
from spanscope.store.retention import (
    DeletionRecord,
    RetentionRule,
    StorageSize,
    TraceContents,
    check_kind,
    check_rule,
    dumps,
    new_id,
    now_ms,
    rule_not_found,
)
from spanscope.store.sql import schema
from spanscope.store.sql.engine import is_memory
from spanscope.store.sql.side import SqlSideStore

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection, Row

__all__ = ["SqlRetentionStore"]
logger = logging.getLogger(__name__)
_CHUNK = 500


def _rule_of(row: Row) -> RetentionRule:
    return RetentionRule(rule_id=row.rule_id, experiment_id=str(row.experiment_id),
                         filter_string=row.filter_string, keep_ms=row.keep_ms,
                         sample_fraction=float(row.sample_fraction), name=row.name,
                         created_time=row.created_time)


def _chunks(ids: Sequence[str]) -> Iterator[list[str]]:
    unique = sorted(set(ids))
    for start in range(0, len(unique), _CHUNK):
        yield unique[start:start + _CHUNK]


class SqlRetentionStore(SqlSideStore):
    """Rules, deletion log and dataset lineage in the database at ``uri``."""

    _freespace: bool | None = None  # pg_freespacemap usable (None: not asked yet)
    _free_cache: tuple[Any, float, int] | None = None  # (last VACUUM, when read, bytes)

    # --- rules ---------------------------------------------------------------------------
    def add_rule(self, experiment_id: str, *, filter_string: str | None = None,
                 keep_ms: int | None = None, sample_fraction: float = 1.0,
                 name: str | None = None) -> RetentionRule:
        experiment_id = trace_rules.check_experiment_id(str(experiment_id))
        filter_string, name = check_rule(experiment_id, filter_string=filter_string,
                                         keep_ms=keep_ms, sample_fraction=sample_fraction,
                                         name=name)
        rule = RetentionRule(new_id(), experiment_id, filter_string, keep_ms,
                             float(sample_fraction), name, now_ms())
        experiments = schema.experiments

        def work(conn: Connection) -> None:
            key = int(experiment_id)
            if conn.execute(sa.select(experiments.c.experiment_id)
                            .where(experiments.c.experiment_id == key)).first() is None:
                raise trace_rules.experiment_not_found(experiment_id)
            conn.execute(schema.retention_rules.insert().values(
                rule_id=rule.rule_id, experiment_id=key, name=rule.name,
                filter_string=rule.filter_string, keep_ms=rule.keep_ms,
                sample_fraction=rule.sample_fraction, created_time=rule.created_time))

        self._run("add retention rule", work, write=True)
        return rule

    def list_rules(self, experiment_id: str | None = None) -> list[RetentionRule]:
        table = schema.retention_rules
        query = sa.select(table).order_by(table.c.created_time, table.c.rule_id)
        if experiment_id is not None:
            key = int(trace_rules.check_experiment_id(str(experiment_id)))
            query = query.where(table.c.experiment_id == key)
        return self._run("list retention rules",
                         lambda conn: [_rule_of(row) for row in conn.execute(query)])

    def delete_rule(self, rule_id: str) -> RetentionRule:
        table = schema.retention_rules

        def work(conn: Connection) -> RetentionRule:
            row = conn.execute(sa.select(table).where(table.c.rule_id == rule_id)).first()
            if row is None:
                raise rule_not_found(rule_id)
            conn.execute(sa.delete(table).where(table.c.rule_id == rule_id))
            return _rule_of(row)

        return self._run("delete retention rule", work, write=True)

    # --- deletion log --------------------------------------------------------------------
    def log_deletion(self, kind: str, *, actor: str | None, selector: Mapping[str, Any],
                     counts: Mapping[str, int]) -> DeletionRecord:
        record = DeletionRecord(new_id(), check_kind(kind), now_ms(),
                                None if actor is None else str(actor)[:256],
                                json.loads(dumps(dict(selector))), dict(counts))
        self._run("log deletion", lambda conn: conn.execute(schema.deletion_log.insert().values(
            deletion_id=record.deletion_id, kind=record.kind, time=record.time,
            actor=record.actor, selector=dumps(record.selector), counts=dumps(record.counts))),
            write=True)
        return record

    def list_deletions(self, *, kind: str | None = None, limit: int = 100) -> list[DeletionRecord]:
        table = schema.deletion_log
        query = sa.select(table).order_by(table.c.time.desc(), table.c.deletion_id).limit(limit)
        if kind is not None:
            query = query.where(table.c.kind == check_kind(kind))
        return self._run("list deletions", lambda conn: [
            DeletionRecord(row.deletion_id, row.kind, row.time, row.actor,
                           json.loads(row.selector), json.loads(row.counts))
            for row in conn.execute(query)])

    # --- what traces hold ----------------------------------------------------------------
    def trace_contents(self, trace_ids: Sequence[str]) -> TraceContents:
        contents = TraceContents()
        counted = ((schema.traces, "traces"), (schema.spans, "spans"),
                   (schema.assessments, "assessments"), (schema.trace_tags, "tags"),
                   (schema.trace_metadata, "metadata"))

        def work(conn: Connection) -> None:
            for chunk in _chunks(trace_ids):
                for table, name in counted:
                    found = conn.execute(sa.select(sa.func.count()).select_from(table)
                                         .where(table.c.trace_id.in_(chunk))).scalar_one()
                    setattr(contents, name, getattr(contents, name) + found)

        self._run("count trace contents", work)
        return contents

    # --- dataset lineage -----------------------------------------------------------------
    def _sourced(self, conn: Connection, chunk: list[str]) -> set[tuple[str, str]]:
        table = schema.dataset_records
        return {(row.dataset_id, row.record_id) for row in conn.execute(
            sa.select(table.c.dataset_id, table.c.record_id)
            .where(table.c.source_trace_id.in_(chunk)))}

    def count_dataset_records(self, trace_ids: Sequence[str]) -> int:
        def work(conn: Connection) -> int:
            found: set[tuple[str, str]] = set()
            for chunk in _chunks(trace_ids):
                found |= self._sourced(conn, chunk)
            return len(found)

        return self._run("count dataset records from traces", work)

    def unlink_dataset_records(self, trace_ids: Sequence[str]) -> int:
        table = schema.dataset_records
        unlinked = 0
        for chunk in _chunks(trace_ids):
            # most deleted traces are no dataset's source: look first, so a retention
            # pass takes SQLite's write lock only for the deletion itself
            if not self._run("find dataset records from traces",
                             lambda conn, chunk=chunk: self._sourced(conn, chunk)):
                continue

            def work(conn: Connection, chunk: list[str] = chunk) -> int:
                found = self._sourced(conn, chunk)
                if found:
                    conn.execute(sa.update(table).where(table.c.source_trace_id.in_(chunk))
                                 .values(source_trace_id=None, source=None))
                return len(found)

            unlinked += self._run("unlink dataset records from traces", work, write=True)
        return unlinked

    def delete_dataset_records(self, trace_ids: Sequence[str]) -> int:
        removed = 0
        for chunk in _chunks(trace_ids):
            removed += self._run("delete dataset records from traces",
                                 lambda conn, chunk=chunk: _purge_records(conn, chunk),
                                 write=True)
        return removed

    # --- size ----------------------------------------------------------------------------
    def storage_size(self) -> StorageSize:
        url = self._engine.url
        if url.get_backend_name() != "sqlite":
            size = int(self._run("measure the store", lambda conn: conn.execute(
                sa.text("SELECT pg_database_size(current_database())")).scalar_one()))
            return StorageSize(size - self._pg_free_bytes(), size)

        def work(conn: Connection) -> tuple[int, int, int]:
            return (conn.exec_driver_sql("PRAGMA page_count").scalar_one(),
                    conn.exec_driver_sql("PRAGMA freelist_count").scalar_one(),
                    conn.exec_driver_sql("PRAGMA page_size").scalar_one())

        pages, free, page_size = self._run("measure the store", work)
        disk = pages * page_size  # the file, as SQLite sees it
        if not is_memory(url) and url.database:
            for suffix in ("-wal", "-shm"):
                with contextlib.suppress(OSError):
                    disk += os.path.getsize(f"{url.database}{suffix}")
        return StorageSize((pages - free) * page_size, disk)

    def _pg_free_bytes(self) -> int:
        """Bytes PostgreSQL's free space maps hold for reuse in this database's tables,
        indexes and TOAST (what VACUUM found free after deletions); 0 without the
        ``pg_freespacemap`` extension, which the first call creates if it may.

        Reading every map takes seconds at 10 GB, so the figure is kept and read again
        only when a VACUUM (ours or autovacuum's) finished since, or after
        ``FREE_SPACE_MAX_AGE_S`` (new rows use up free space without a VACUUM)."""
        if self._freespace is None:
            self._freespace = self._pg_freespacemap()
        if not self._freespace:
            return 0

        def work(conn: Connection) -> int:
            vacuumed = conn.execute(sa.text(_PG_LAST_VACUUM)).scalar_one()
            cached = self._free_cache
            if cached is not None and cached[0] == vacuumed \
                    and time.monotonic() - cached[1] < FREE_SPACE_MAX_AGE_S:
                return cached[2]
            free = int(conn.execute(sa.text(_PG_FREE_SPACE)).scalar_one())
            self._free_cache = (vacuumed, time.monotonic(), free)
            return free

        return self._run("measure the free space", work)

    def _pg_freespacemap(self) -> bool:
        def work(conn: Connection) -> bool:
            conn.exec_driver_sql("CREATE EXTENSION IF NOT EXISTS pg_freespacemap")
            return True

        try:
            found = self._run("find pg_freespacemap", lambda conn: conn.exec_driver_sql(
                "SELECT 1 FROM pg_extension WHERE extname = 'pg_freespacemap'").first())
            return found is not None or self._run("create pg_freespacemap", work, write=True)
        except StoreError as exc:
            logger.warning("storage: %s; the used size is pg_database_size, which falls only "
                           "after VACUUM FULL (install the extension: CREATE EXTENSION "
                           "pg_freespacemap, as a superuser)", exc)
            return False

    def reclaim_space(self) -> None:
        """After a large deletion: VACUUM (plain, never blocking readers or writers) the
        tables that hold trace rows, so their space is reusable and counted free at once
        rather than when autovacuum gets to them (by default after 20% of a table is
        dead). A no-op on SQLite, whose freed pages are reused at once."""
        if self._engine.url.get_backend_name() == "sqlite":
            return
        tables = ", ".join(sorted(t.name for t in schema.metadata.sorted_tables
                                  if "trace_id" in t.c))
        with self._translated("vacuum after deletion"), self._engine.connect() as conn:
            conn.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql(
                f"VACUUM {tables}")


FREE_SPACE_MAX_AGE_S = 300.0

# When a VACUUM (or autovacuum) last finished on any table here: the free space maps change.
_PG_LAST_VACUUM = """
SELECT max(greatest(last_vacuum, last_autovacuum)) FROM pg_stat_all_tables
"""
# Free space recorded in the free space maps of every table, index, TOAST table and
# materialised view in the database (one pass over each map: ~1 byte per 8 KiB page).
_PG_FREE_SPACE = """
SELECT coalesce(sum(f.avail), 0)
FROM pg_class c CROSS JOIN LATERAL pg_freespace(c.oid::regclass) f
WHERE c.relkind IN ('r', 'i', 't', 'm') AND c.relpersistence = 'p'
  AND c.relnamespace NOT IN ('pg_catalog'::regnamespace, 'information_schema'::regnamespace)
"""


def _purge_records(conn: Connection, chunk: list[str]) -> int:
    """Delete every row (all versions) of the records sourced from ``chunk``, then
    recompute the counts and digests of each version of the datasets touched."""
    table = schema.dataset_records
    doomed: dict[str, set[str]] = {}
    for row in conn.execute(sa.select(table.c.dataset_id, table.c.record_id)
                            .where(table.c.source_trace_id.in_(chunk))):
        doomed.setdefault(row.dataset_id, set()).add(row.record_id)
    for dataset_id, record_ids in sorted(doomed.items()):
        conn.execute(sa.select(schema.datasets.c.dataset_id).where(
            schema.datasets.c.dataset_id == dataset_id).with_for_update())
        conn.execute(sa.delete(table).where(table.c.dataset_id == dataset_id,
                                            table.c.record_id.in_(sorted(record_ids))))
        _recount(conn, dataset_id)
    return sum(len(ids) for ids in doomed.values())


def _recount(conn: Connection, dataset_id: str) -> None:
    table = schema.dataset_records
    versions = schema.dataset_versions
    rows = conn.execute(sa.select(table.c.valid_from, table.c.valid_to, table.c.content_hash)
                        .where(table.c.dataset_id == dataset_id)).all()
    current = None
    for (version,) in conn.execute(sa.select(versions.c.version)
                                   .where(versions.c.dataset_id == dataset_id)):
        hashes = [r.content_hash for r in rows
                  if r.valid_from <= version and (r.valid_to is None or r.valid_to > version)]
        digest = digest_of(hashes)
        conn.execute(sa.update(versions).where(versions.c.dataset_id == dataset_id,
                                               versions.c.version == version)
                     .values(digest=digest, record_count=len(hashes)))
        current = (version, digest, len(hashes)) if current is None or version > current[0] \
            else current
    if current is not None:
        conn.execute(sa.update(schema.datasets).where(schema.datasets.c.dataset_id == dataset_id)
                     .values(digest=current[1], record_count=current[2]))
