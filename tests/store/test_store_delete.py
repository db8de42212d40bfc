"""``delete_traces`` / ``delete_trace_ids``: MLflow's rules, cascades, batches, dry runs."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator
from types import SimpleNamespace

import pytest
import sqlalchemy as sa
from mutation_stores import STORE_KINDS, open_any_store

from factories import make_trace, sample_assessments
from spanscope.entities import Trace
from spanscope.exceptions import InvalidInputError, NotFoundError
from spanscope.store.base import TraceStore
from spanscope.store.mutations import DELETE_BATCH
from spanscope.store.sql import SqlStore, schema
from spanscope.store.sql import delete as sql_delete
from spanscope.store.sql import engine as sql_engine
from spanscope.store.sql.engine import parse_uri, settle_wal

T0 = 1_700_000_000_000  # request times are T0 + i seconds


@pytest.fixture(params=STORE_KINDS)
def any_store(request: pytest.FixtureRequest) -> Iterator[TraceStore]:
    yield from open_any_store(request)


def log(store: TraceStore, n: int, *, experiment_id: str = "0", start: int = 0,
        n_spans: int = 1, **kwargs: object) -> list[Trace]:
    traces = [make_trace(n_spans, request_time=T0 + (start + i) * 1000,
                         experiment_id=experiment_id, **kwargs) for i in range(n)]
    for part in range(0, n, 500):
        store.log_traces(traces[part:part + 500])
    return traces


def stored_ids(store: TraceStore, experiment_id: str | None = None) -> set[str]:
    ids: set[str] = set()
    token = None
    while True:
        page = store.search_traces(None if experiment_id is None else [experiment_id],
                                   max_results=1000, page_token=token, include_spans=False)
        ids.update(t.info.trace_id for t in page)
        token = page.token
        if token is None:
            return ids


def ids(traces: list[Trace]) -> set[str]:
    return {t.info.trace_id for t in traces}


# --- by id --------------------------------------------------------------------------------
def test_delete_by_ids_returns_the_count_and_deletes_only_those(any_store: TraceStore) -> None:
    traces = log(any_store, 6)
    doomed = [traces[1].info.trace_id, traces[4].info.trace_id]
    assert any_store.delete_traces("0", trace_ids=[*doomed, "tr-unknown"]) == 2
    assert stored_ids(any_store) == ids(traces) - set(doomed)
    for trace_id in doomed:
        with pytest.raises(NotFoundError):
            any_store.get_trace(trace_id)
    assert any_store.delete_traces("0", trace_ids=doomed) == 0  # already gone


def test_delete_by_ids_stays_inside_the_experiment(any_store: TraceStore) -> None:
    other = any_store.create_experiment("other")
    here, there = log(any_store, 2), log(any_store, 2, experiment_id=other)
    both = [here[0].info.trace_id, there[0].info.trace_id]
    assert any_store.delete_traces("0", trace_ids=both) == 1
    assert stored_ids(any_store, other) == ids(there)
    # delete_trace_ids ignores experiments
    assert any_store.delete_trace_ids([*both, here[1].info.trace_id]) == 2
    assert stored_ids(any_store) == {there[1].info.trace_id}


def test_trace_ids_may_repeat_or_be_one_string(any_store: TraceStore) -> None:
    traces = log(any_store, 3)
    first = traces[0].info.trace_id
    assert any_store.delete_traces("0", trace_ids=[first, first]) == 1
    assert any_store.delete_traces("0", trace_ids=traces[1].info.trace_id) == 1
    assert any_store.delete_traces("0", trace_ids=[]) == 0
    assert stored_ids(any_store) == {traces[2].info.trace_id}


def test_a_deleted_trace_id_can_be_logged_again(any_store: TraceStore) -> None:
    trace = log(any_store, 1, tags={"old": "1"})[0]
    assert any_store.delete_traces("0", trace_ids=[trace.info.trace_id]) == 1
    fresh = make_trace(2, trace_id=trace.info.trace_id)
    any_store.log_traces([fresh])
    assert any_store.get_trace(fresh.info.trace_id).to_json() == fresh.to_json()


# --- by time --------------------------------------------------------------------------------
def test_delete_up_to_a_time_is_inclusive(any_store: TraceStore) -> None:
    traces = log(any_store, 5)
    cutoff = traces[2].info.request_time
    assert any_store.delete_traces("0", max_timestamp_millis=cutoff) == 3
    assert stored_ids(any_store) == ids(traces[3:])
    assert any_store.delete_traces("0", max_timestamp_millis=T0 - 1) == 0


def test_max_traces_deletes_the_oldest_first(any_store: TraceStore) -> None:
    traces = log(any_store, 6)
    assert any_store.delete_traces("0", max_timestamp_millis=T0 + 10**9, max_traces=2) == 2
    assert stored_ids(any_store) == ids(traces[2:])
    # ties on request_time go by trace id
    same = [make_trace(1, request_time=T0 - 5000, trace_id=f"tr-{c * 32}") for c in "cab"]
    any_store.log_traces(same)
    assert any_store.delete_traces("0", max_timestamp_millis=T0 - 5000, max_traces=2) == 2
    assert stored_ids(any_store) == ids(traces[2:]) | {"tr-" + "c" * 32}


def test_delete_by_time_stays_inside_the_experiment(any_store: TraceStore) -> None:
    other = any_store.create_experiment("other")
    log(any_store, 3)
    kept = log(any_store, 3, experiment_id=other)
    assert any_store.delete_traces("0", max_timestamp_millis=T0 + 10**9) == 3
    assert stored_ids(any_store) == ids(kept)


# --- dry runs -------------------------------------------------------------------------------
def test_dry_run_counts_and_deletes_nothing(any_store: TraceStore) -> None:
    traces = log(any_store, 7, tags={"keep": "me"})
    before = {t.info.trace_id: any_store.get_trace(t.info.trace_id).to_json() for t in traces}
    cases = [
        {"max_timestamp_millis": traces[4].info.request_time},
        {"max_timestamp_millis": traces[4].info.request_time, "max_traces": 3},
        {"max_timestamp_millis": T0 + 10**9, "max_traces": 100},
        {"trace_ids": [traces[0].info.trace_id, traces[6].info.trace_id, "tr-unknown"]},
    ]
    expected = [5, 3, 7, 2]
    for case, count in zip(cases, expected, strict=True):
        assert any_store.delete_traces("0", dry_run=True, **case) == count, case
    assert any_store.delete_trace_ids([traces[0].info.trace_id, "tr-x"], dry_run=True) == 1
    after = {t.info.trace_id: any_store.get_trace(t.info.trace_id).to_json() for t in traces}
    assert after == before
    # and the real call deletes exactly what the dry run counted
    assert any_store.delete_traces("0", **cases[1]) == 3


# --- argument rules -------------------------------------------------------------------------
@pytest.mark.parametrize(("kwargs", "message"), [
    ({}, "needs trace_ids or max_timestamp_millis"),
    ({"trace_ids": ["tr-1"], "max_timestamp_millis": 5}, "not both"),
    ({"trace_ids": ["tr-1"], "max_traces": 5}, "max_traces applies to max_timestamp_millis"),
    ({"max_timestamp_millis": 5, "max_traces": 0}, "max_traces must be >= 1"),
    ({"max_timestamp_millis": 5, "max_traces": True}, "max_traces must be an integer"),
    ({"max_timestamp_millis": "yesterday"}, "max_timestamp_millis must be an integer"),
    ({"trace_ids": [1, 2]}, "trace_ids must hold non-empty strings"),
    ({"trace_ids": 7}, "trace_ids must be a list"),
])
def test_bad_arguments_are_rejected_before_anything_is_deleted(
        any_store: TraceStore, kwargs: dict[str, object], message: str) -> None:
    traces = log(any_store, 2)
    with pytest.raises(InvalidInputError) as caught:
        any_store.delete_traces("0", **kwargs)  # type: ignore[arg-type]
    assert message in str(caught.value)
    assert stored_ids(any_store) == ids(traces)


def test_unknown_experiment_is_not_found(any_store: TraceStore) -> None:
    with pytest.raises(NotFoundError, match="experiment '999' not found"):
        any_store.delete_traces("999", max_timestamp_millis=T0)


# --- batches --------------------------------------------------------------------------------
def test_2500_traces_go_in_one_call(any_store: TraceStore) -> None:
    log(any_store, 2500)
    keep = log(any_store, 3, start=5000)
    assert any_store.delete_traces("0", max_timestamp_millis=T0 + 2499 * 1000) == 2500
    assert stored_ids(any_store) == ids(keep)


def test_max_traces_is_exact_across_batches(any_store: TraceStore) -> None:
    traces = log(any_store, 2500)
    deleted = any_store.delete_traces("0", max_timestamp_millis=T0 + 10**9, max_traces=1500)
    assert deleted == 1500
    assert stored_ids(any_store) == ids(traces[1500:])


def test_2500_ids_go_in_one_call(any_store: TraceStore) -> None:
    traces = log(any_store, 2600)
    doomed = [t.info.trace_id for t in traces[:2500]]
    assert any_store.delete_traces("0", trace_ids=doomed) == 2500
    assert stored_ids(any_store) == ids(traces[2500:])


def test_sql_deletes_in_bounded_transactions(store_uri: str) -> None:
    """Each batch is its own transaction and no DELETE lists more than DELETE_BATCH ids."""
    statements: list[tuple[str, object]] = []
    with SqlStore(store_uri, on_statement=lambda sql, params: statements.append(
            (sql, params))) as store:
        traces = log(store, 2500)
        statements.clear()
        assert store.delete_traces("0", max_timestamp_millis=T0 + 10**9) == 2500
        deletes = [(sql, params) for sql, params in statements
                   if sql.lstrip().upper().startswith("DELETE FROM TRACES")]
        assert len(deletes) == 3
        sizes = [len(params) if isinstance(params, (list, tuple, dict)) else 0
                 for _, params in deletes]
        assert all(size <= DELETE_BATCH + 1 for size in sizes), sizes
        if store_uri.startswith("sqlite"):  # one BEGIN IMMEDIATE ... COMMIT per batch
            begins = [s for s, _ in statements if s.upper().startswith("BEGIN IMMEDIATE")]
            assert len(begins) >= 3
        statements.clear()
        store.log_traces(traces[:2100])
        statements.clear()
        assert store.delete_trace_ids([t.info.trace_id for t in traces[:2100]]) == 2100
        deletes = [s for s, _ in statements if s.lstrip().upper().startswith("DELETE FROM TRACES")]
        assert len(deletes) == 3


# --- cascades (SQL rows) ------------------------------------------------------------------
def _child_rows(uri: str, trace_ids: set[str]) -> dict[str, int]:
    engine = sa.create_engine(parse_uri(uri))
    counts = {}
    try:
        with engine.connect() as conn:
            for table in (schema.traces, schema.spans, schema.trace_tags,
                          schema.trace_metadata, schema.assessments):
                counts[table.name] = conn.execute(
                    sa.select(sa.func.count()).select_from(table)
                    .where(table.c.trace_id.in_(sorted(trace_ids)))).scalar_one()
    finally:
        engine.dispose()
    return counts


def test_deleting_a_trace_removes_its_spans_tags_metadata_and_assessments(
        store: SqlStore, store_uri: str) -> None:
    doomed = [make_trace(5, request_time=T0 + i, tags={"t": "1"}, metadata={"m": "1"},
                         assessments=sample_assessments()) for i in range(3)]
    kept = [make_trace(5, request_time=T0 + 100 + i, tags={"t": "1"},
                       assessments=sample_assessments()) for i in range(2)]
    store.log_traces(doomed + kept)
    before = _child_rows(store_uri, ids(kept))
    assert _child_rows(store_uri, ids(doomed))["spans"] == 15
    assert store.delete_traces("0", max_timestamp_millis=T0 + 99) == 3
    assert _child_rows(store_uri, ids(doomed)) == dict.fromkeys(before, 0)
    assert _child_rows(store_uri, ids(kept)) == before
    for trace in kept:
        assert store.get_trace(trace.info.trace_id).to_json() == trace.to_json()


def _rows_of(conn: sa.Connection, trace_ids: set[str]) -> dict[str, int]:
    """Rows per table that belong to these traces: the traces and every child table."""
    return {table.name: conn.execute(sa.select(sa.func.count()).select_from(table).where(
        table.c.trace_id.in_(sorted(trace_ids)))).scalar_one()
            for table in (schema.traces, *sql_delete.CHILD_TABLES)}


def test_child_tables_are_every_table_that_references_traces() -> None:
    referencing = {table.name for table in schema.metadata.sorted_tables
                   for fk in table.foreign_keys if fk.column.table is schema.traces}
    assert {t.name for t in sql_delete.CHILD_TABLES} == referencing
    assert {"spans", "span_text", "trace_tags", "trace_metadata", "assessments",
            "trace_model_usage"} <= referencing


def test_a_sqlite_batch_deletes_each_child_table_itself_not_through_the_cascade(
        sqlite_uri: str) -> None:
    """With the foreign keys' cascade off, a SQLite deletion batch still leaves no row of
    its traces in any table, and touches no row of a trace outside its experiment."""
    with SqlStore(sqlite_uri) as store:
        other = store.create_experiment("other")
        doomed = [make_trace(4, request_time=T0 + i, tags={"t": "1"}, metadata={"m": "1"},
                             assessments=sample_assessments()) for i in range(3)]
        outside = [make_trace(4, request_time=T0 + i, tags={"t": "1"}, metadata={"m": "1"},
                              assessments=sample_assessments(), experiment_id=other)
                   for i in range(2)]
        store.log_traces(doomed + outside)
    engine = sa.create_engine(parse_uri(sqlite_uri))
    try:
        with engine.connect() as conn:
            before_outside = _rows_of(conn, ids(outside))
            before = _rows_of(conn, ids(doomed))
            assert all(before[name] for name in ("traces", "spans", "span_text", "trace_tags",
                                                 "trace_metadata", "assessments")), before
            # a plain SQLAlchemy engine: SQLite's foreign keys (and cascade) are off
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar_one() == 0
            conn.commit()
            with conn.begin():
                deleted = sql_delete._delete(conn, sorted(ids(doomed) | ids(outside)), 0)
            assert deleted == 3
            assert _rows_of(conn, ids(doomed)) == dict.fromkeys(before, 0)
            assert _rows_of(conn, ids(outside)) == before_outside
    finally:
        engine.dispose()


def _settings(conn: sa.Connection) -> tuple[int, int]:
    return (conn.exec_driver_sql("PRAGMA cache_size").scalar_one(),
            conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar_one())


def test_a_sqlite_batch_hands_its_connection_back_as_it_was(sqlite_uri: str) -> None:
    """A deletion batch runs with a big page cache and no automatic checkpoint; the
    connection goes back to the pool with SQLite's usual cache and checkpoint, and the
    batch's frames are checkpointed all the same (by settle_wal)."""
    statements: list[str] = []
    with SqlStore(sqlite_uri, on_statement=lambda sql, _: statements.append(sql)) as store:
        with store._engine.connect() as conn:
            usual = _settings(conn)
        assert usual == (-2000, sql_engine.WAL_AUTOCHECKPOINT_FRAMES)
        traces = log(store, 20, n_spans=3)
        statements.clear()
        assert store.delete_trace_ids([t.info.trace_id for t in traces]) == 20
        assert "PRAGMA wal_autocheckpoint = 0" in statements
        assert f"PRAGMA cache_size = -{sql_delete.BULK_CACHE_KIB}" in statements
        with store._engine.connect() as conn:  # the pool's one connection, reused
            assert _settings(conn) == usual
    path = sqlite_uri.removeprefix("sqlite:///")
    conn = sqlite3.connect(path, isolation_level=None)
    try:  # nothing of the deletion is left to copy back
        _, log_frames, done = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        assert done == log_frames
    finally:
        conn.close()


# --- SQLite's WAL during a bulk deletion (engine.settle_wal) --------------------------------
def _wal_frames(path: str) -> int:
    """Frames now in the WAL (a PASSIVE checkpoint reports them, and restarts nothing)."""
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        return conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()[1]
    finally:
        conn.close()


class _Reader:
    """A reader holding one snapshot in its own thread until ``release``."""

    def __init__(self, path: str) -> None:
        self.reading, self.released = threading.Event(), threading.Event()
        self.thread = threading.Thread(target=self._read, args=(path,))
        self.thread.start()
        assert self.reading.wait(10)

    def _read(self, path: str) -> None:
        conn = sqlite3.connect(path, isolation_level=None)
        conn.execute("BEGIN")
        conn.execute("SELECT count(*) FROM spans").fetchone()
        self.reading.set()
        self.released.wait(60)
        conn.execute("COMMIT")
        conn.close()

    def release(self) -> None:
        self.released.set()
        self.thread.join()


@pytest.mark.parametrize("settle", [True, False], ids=["settled", "unsettled"])
def test_a_sqlite_deletion_under_a_reader_restarts_the_wal(
        sqlite_uri: str, monkeypatch: pytest.MonkeyPatch, settle: bool) -> None:
    monkeypatch.setattr(sql_engine, "WAL_SETTLE_FRAMES", 1 if settle else 2**62)
    path = parse_uri(sqlite_uri).database
    with SqlStore(sqlite_uri) as store:
        traces = log(store, 300, n_spans=3, tags={"t": "1"})
        reader = _Reader(path)
        real_sleep = time.sleep

        def sleep(seconds: float) -> None:  # settle_wal waits: the reader finishes meanwhile
            reader.released.set()
            real_sleep(seconds)

        monkeypatch.setattr(sql_engine, "time", SimpleNamespace(sleep=sleep,
                                                                monotonic=time.monotonic))
        assert store.delete_trace_ids([t.info.trace_id for t in traces[:200]]) == 200
        reader.release()
        store.set_trace_tag(traces[250].info.trace_id, "after", "1")  # a small write
        frames = _wal_frames(path)
    # settled: the WAL restarted once the reader was done, so it holds the small write
    # only; otherwise it still holds every page the deletion changed
    assert (frames < 50) == settle, frames


def test_after_a_failed_settle_the_next_waits_for_the_wal_to_double(
        sqlite_uri: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sql_engine, "WAL_SETTLE_FRAMES", 1)
    path = parse_uri(sqlite_uri).database
    with SqlStore(sqlite_uri) as store:
        log(store, 50, n_spans=3)
        reader = _Reader(path)
        log(store, 50, start=50, n_spans=3)
        settler = sql_engine.WalSettler(store._engine)
        frames = settler()
        assert frames and settler.at_frames == 2 * frames  # the reader held the old pages
        assert settler() is None  # not tried again until the WAL has doubled
        reader.release()
        log(store, 10, start=100)
        settler.at_frames = 1  # as if the WAL had doubled (SQLite may restart it alone now)
        assert settler() == 0 and settler.at_frames is None  # a success starts over


def test_settle_wal_waits_for_readers_without_holding_the_write_lock(sqlite_uri: str) -> None:
    path = parse_uri(sqlite_uri).database
    with SqlStore(sqlite_uri) as store:
        log(store, 50, n_spans=3)
        reader = sqlite3.connect(path, isolation_level=None)
        reader.execute("BEGIN")
        assert reader.execute("SELECT count(*) FROM traces").fetchone()[0] == 50
        log(store, 50, start=50, n_spans=3)  # past the reader's snapshot
        # the reader needs the old pages: the WAL cannot restart while it reads
        assert settle_wal(store._engine, max_frames=1, max_wait_s=0.2)  # frames left
        outcome: list[int | None] = []
        waiting = threading.Thread(target=lambda: outcome.append(
            settle_wal(store._engine, max_frames=1, max_wait_s=60)))
        waiting.start()
        try:
            log(store, 10, start=100)  # another writer gets the lock while settle waits
            assert waiting.is_alive() and not outcome
        finally:
            reader.execute("COMMIT")
            reader.close()
            waiting.join()
        assert outcome == [0]  # restarted
        store.set_trace_tag(store.search_trace_ids(["0"])[0], "after", "1")
        assert _wal_frames(path) < 50
