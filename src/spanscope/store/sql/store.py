"""``SqlStore``: every store protocol (``store/base.py``) for SQLite files and PostgreSQL.

The public methods and their rules are shared with every store (``TraceMethods``,
``AnalyticsMethods``, ``RunsAndDatasets``); this class implements their storage steps in
SQL. Each public method runs in one transaction on a pooled connection and raises only
``spanscope.exceptions`` errors. Writes on SQLite take the write lock up front
(``BEGIN IMMEDIATE``) and ``log_traces`` retries with backoff when the file stays locked
past the busy timeout (or PostgreSQL reports a deadlock or a racing insert), so several
processes can log into one store and nothing is lost.
"""

from __future__ import annotations

import collections
import contextlib
import functools
import logging
import random
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, TypeVar

import sqlalchemy as sa
from sqlalchemy import exc as sa_exc

from spanscope.entities import Experiment, PagedList, Trace
from spanscope.entities.dataset import (
    Dataset,
    DatasetRecord,
    DatasetVersion,
    MergeResult,
    RecordUpdate,
)
from spanscope.entities.run import Metric, Run, RunInfo
from spanscope.exceptions import StoreError
from spanscope.store import aggregates as agg
from spanscope.store import run_rules
from spanscope.store.analytics_methods import AnalyticsMethods
from spanscope.store.runs_datasets import RunsAndDatasets
from spanscope.store.sql import aggregates as sql_agg
from spanscope.store.sql import datasets as dataset_sql
from spanscope.store.sql import delete, schema
from spanscope.store.sql import runs as run_sql
from spanscope.store.sql.assessments import SqlAssessmentBook
from spanscope.store.sql.convert import experiment_from_row
from spanscope.store.sql.engine import (
    WRITE,
    StatementHook,
    WalSettler,
    bulk_page_cache,
    create_engine,
    is_memory,
    mask_uri,
)
from spanscope.store.sql.errors import is_retryable, translate
from spanscope.store.sql.ingest import write_traces
from spanscope.store.sql.migrate import ensure_schema
from spanscope.store.sql.read import load_traces
from spanscope.store.sql.search import SearchQuery
from spanscope.store.sql.stored_read import read_stored
from spanscope.store.sql.tags import delete_tag, set_tag
from spanscope.store.stored import StoredTrace
from spanscope.store.trace_methods import AssessmentBook, TraceMethods

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

__all__ = ["SqlStore"]

logger = logging.getLogger(__name__)

T = TypeVar("T")

WRITE_ATTEMPTS = 8  # after SQLite's own 30 s busy wait, so rarely more than one is needed
_BACKOFF_S = 0.05
_BACKOFF_CAP_S = 2.0
EXPORT_READERS = 2  # threads that read pages of an export at once (the machines have 2+ cores)


class SqlStore(TraceMethods, AnalyticsMethods, RunsAndDatasets):
    """Traces and experiments in SQLite or PostgreSQL, through SQLAlchemy Core.

    ``uri`` is ``sqlite:///relative.db``, ``sqlite:////abs/path.db``,
    ``sqlite:///:memory:`` or ``postgresql://user@host:port/db`` (psycopg 3). Opening
    migrates the database to the current schema if needed. ``on_statement(sql, params)``
    is called before every statement, so tests and tools can see what SQL runs.
    """

    def __init__(self, uri: str, *, on_statement: StatementHook | None = None) -> None:
        self.uri = uri
        self._display_uri = mask_uri(uri)
        self._closed = False
        self._known_experiments: set[int] = set()
        self._engine = create_engine(uri, on_statement=on_statement)
        # kept across deletions: a retention pass deletes through many delete_trace_ids
        self._wal_settler = WalSettler(self._engine)
        # The in-memory database is one connection, which threads must take turns on.
        memory = is_memory(self._engine.url)
        self._lock: contextlib.AbstractContextManager[Any] = (
            threading.RLock() if memory else contextlib.nullcontext())
        try:
            with self._translated("open"):
                ensure_schema(self._engine)
        except BaseException:
            self._engine.dispose()
            raise

    def __repr__(self) -> str:
        return f"SqlStore({self._display_uri!r})"

    def __enter__(self) -> SqlStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # --- plumbing ---------------------------------------------------------------------
    @contextlib.contextmanager
    def _translated(self, action: str) -> Iterator[None]:
        try:
            yield
        except (sa_exc.SQLAlchemyError, UnicodeError) as exc:
            raise translate(exc, store=self._display_uri, action=action) from exc

    def _run(self, action: str, work: Callable[[Connection], T], *, write: bool = False,
             retry: bool = False) -> T:
        """Run ``work(conn)`` in one transaction; errors come out as Spanscope errors."""
        if self._closed:
            raise StoreError(f"{action}: the store {self._display_uri} is closed")
        attempt = 1
        while True:
            try:
                with self._lock, self._engine.connect() as conn:
                    if write:
                        conn.execution_options(**{WRITE: True})
                    with conn.begin():
                        return work(conn)
            except (sa_exc.SQLAlchemyError, UnicodeError) as exc:
                if not (retry and attempt < WRITE_ATTEMPTS and is_retryable(exc)):
                    raise translate(exc, store=self._display_uri, action=action) from exc
                delay = min(_BACKOFF_CAP_S, _BACKOFF_S * 2 ** (attempt - 1))
                logger.info("%s on %s: %s; retry %d in %.2fs", action, self._display_uri,
                            exc.__class__.__name__, attempt, delay)
                time.sleep(delay * (0.5 + random.random()))
                attempt += 1

    def close(self) -> None:
        """Dispose of the engine's connections; later calls raise ``StoreError``."""
        if not self._closed:
            self._closed = True
            self._engine.dispose()

    # --- experiments (rules in store/trace_methods.py and trace_rules.py) --------------
    def _insert_experiment(self, name: str, now: int) -> str | None:
        table = schema.experiments

        def work(conn: Connection) -> str | None:
            if self._select_experiment_named(conn, name) is not None:
                return None
            result = conn.execute(table.insert().values(name=name, creation_time=now))
            experiment_id = int(result.inserted_primary_key[0])
            self._known_experiments.add(experiment_id)
            return str(experiment_id)

        return self._run(f"create experiment {name!r}", work, write=True, retry=True)

    def _experiment(self, experiment_id: str) -> Experiment | None:
        table = schema.experiments
        key = int(experiment_id)

        def work(conn: Connection) -> Experiment | None:
            row = conn.execute(sa.select(table).where(table.c.experiment_id == key)).first()
            return None if row is None else experiment_from_row(row)

        return self._run(f"get experiment {experiment_id!r}", work)

    def _experiment_named(self, name: str) -> Experiment | None:
        return self._run(f"get experiment {name!r}",
                         lambda conn: self._select_experiment_named(conn, name))

    @staticmethod
    def _select_experiment_named(conn: Connection, name: str) -> Experiment | None:
        table = schema.experiments
        row = conn.execute(sa.select(table).where(table.c.name == name)).first()
        return None if row is None else experiment_from_row(row)

    def _all_experiments(self) -> list[Experiment]:
        table = schema.experiments

        def work(conn: Connection) -> list[Experiment]:
            rows = conn.execute(sa.select(table).order_by(table.c.experiment_id))
            return [experiment_from_row(row) for row in rows]

        return self._run("list experiments", work)

    # --- traces (SQL in ingest.py, search.py, read.py) ------------------------------------
    def _write_traces(self, traces: list[Trace]) -> None:
        self._write_counted(traces)

    def _write_counted(self, traces: list[Trace], cache_mib: int | None = None) -> int:
        def work(conn: Connection) -> int:
            if cache_mib is not None:
                bulk_page_cache(conn, int(cache_mib) * 1024)
            return write_traces(conn, traces, self._known_experiments)

        return self._run(f"log {len(traces)} trace(s)", work, write=True, retry=True)

    def log_traces_counted(self, traces: Sequence[Trace], *,
                           cache_mib: int | None = None) -> int:
        """``log_traces``, returning how many of the traces' distinct ids the store held
        before (what an import reports), found in the same transaction. ``cache_mib``
        sets SQLite's page cache of the writing connection for the batch (default 2 MiB;
        ``engine.bulk_page_cache``): a batch of thousands of traces touches a page of
        every index per trace, and a cache that holds them writes each once per batch."""
        batch = [self._within_limits(trace) for trace in traces]
        return self._write_counted(batch, cache_mib) if batch else 0

    def _trace(self, trace_id: str) -> Trace | None:
        table = schema.traces

        def work(conn: Connection) -> Trace | None:
            row = conn.execute(sa.select(table).where(table.c.trace_id == trace_id)).first()
            return None if row is None else load_traces(conn, [row], include_spans=True)[0]

        return self._run(f"get trace {trace_id!r}", work)

    def _search(self, experiment_ids: list[str] | None, filter_string: str | None,
                order_by: Sequence[str] | None, max_results: int, page_token: str | None,
                include_spans: bool) -> PagedList[Trace]:
        search = self._search_query(experiment_ids, filter_string, order_by)
        after = search.decode(page_token) if page_token else None

        def work(conn: Connection) -> PagedList[Trace]:
            rows = search.rows(conn, max_results + 1, after)
            more = len(rows) > max_results
            rows = rows[:max_results]
            token = search.encode(rows[-1]) if more else None
            return PagedList(load_traces(conn, rows, include_spans=include_spans), token)

        return self._run("search traces", work)

    def _stored_pages(self, experiment_id: str, filter_string: str | None,
                      page_size: int, summary: bool) -> Iterator[list[StoredTrace]]:
        search = self._search_query([experiment_id], filter_string, None)  # parsed now
        return self._stored_page_run(search, page_size, summary)

    def _stored_page_run(self, search: SearchQuery, page_size: int,
                         summary: bool) -> Iterator[list[StoredTrace]]:
        """The pages' trace ids, in order (keyset paging: one cheap query a page), and
        each page read whole by one of ``EXPORT_READERS`` threads (``stored_read.py``),
        a few pages ahead. The database does most of the work, with the GIL released, so
        the threads use every core. Each query is a transaction of its own: no read stays
        open for a whole export."""
        with ThreadPoolExecutor(EXPORT_READERS, thread_name_prefix="spanscope-export") as pool:
            pending: collections.deque[Future[list[StoredTrace]]] = collections.deque()
            try:
                for ids in self._id_pages(search, page_size):
                    pending.append(pool.submit(self._run, "export traces", functools.partial(
                        read_stored, trace_ids=ids, summary=summary)))
                    if len(pending) > EXPORT_READERS:
                        yield from _nonempty(pending.popleft().result())
                while pending:
                    yield from _nonempty(pending.popleft().result())
            finally:
                for future in pending:
                    future.cancel()

    def _id_pages(self, search: SearchQuery, page_size: int) -> Iterator[list[str]]:
        """The trace ids of each page of ``search``, by keyset."""
        column = [schema.traces.c.trace_id]

        def page(conn: Connection, after: list[Any] | None) -> list[tuple[Any, ...]]:
            return search.rows(conn, page_size + 1, after, columns=column, driver_rows=True)

        after: list[Any] | None = None
        while True:
            rows = self._run("export traces", functools.partial(page, after=after))
            if rows[:page_size]:
                yield [row[0] for row in rows[:page_size]]
            if len(rows) <= page_size:
                return
            after = list(rows[page_size - 1][1:])  # the sort keys follow the id

    def _search_ids(self, experiment_ids: list[str] | None, filter_string: str | None,
                    max_results: int | None) -> list[str]:
        search = self._search_query(experiment_ids, filter_string, None)
        column = schema.traces.c.trace_id
        return self._run("search trace ids", lambda conn: [
            row.trace_id for row in search.rows(conn, max_results, None, columns=[column])])

    def _search_query(self, experiment_ids: Sequence[str] | None, filter_string: str | None,
                      order_by: Sequence[str] | None) -> SearchQuery:
        """The parsed search over checked arguments (``FilterError`` if the filter is bad)."""
        keys = None if experiment_ids is None else [int(e) for e in experiment_ids]
        return SearchQuery(self._engine.dialect.name, keys, filter_string, order_by)

    # --- tags, deletion, assessments (SQL in tags.py, delete.py, assessments.py) --------
    def _set_tag(self, trace_id: str, key: str, value: str) -> None:
        self._run(f"set tag {key!r} on trace {trace_id!r}",
                  lambda conn: set_tag(conn, trace_id, key, value), write=True, retry=True)

    def _delete_tag(self, trace_id: str, key: str) -> bool:
        return self._run(f"delete tag {key!r} of trace {trace_id!r}",
                         lambda conn: delete_tag(conn, trace_id, key), write=True, retry=True)

    def _delete_ids(self, trace_ids: list[str], experiment_id: str | None,
                    dry_run: bool) -> int:
        key = None if experiment_id is None else int(experiment_id)
        if dry_run:
            return self._run("count traces to delete",
                             lambda conn: delete.count_ids(conn, trace_ids, key))
        return delete.delete_ids(self._batch_runner(), trace_ids, key)

    def _delete_older(self, experiment_id: str, max_timestamp_millis: int,
                      max_traces: int | None, dry_run: bool) -> int:
        key = int(experiment_id)
        if dry_run:
            return self._run("count traces to delete", lambda conn: delete.count_older(
                conn, key, max_timestamp_millis, max_traces))
        return delete.delete_older(self._batch_runner(), key, max_timestamp_millis,
                                   max_traces)

    def _batch_runner(self) -> Callable[[str, Callable[[Connection], int]], int]:
        """Each deletion batch is its own retried write transaction; on SQLite the WAL is
        then kept from growing without end under concurrent readers (``WalSettler``)."""
        def run(action: str, work: Callable[[Connection], int]) -> int:
            done = self._run(action, work, write=True, retry=True)
            with self._lock, self._translated(f"{action}: checkpoint"):
                self._wal_settler()
            return done

        return run

    def _assessments(self, trace_id: str, action: str, work: Callable[[AssessmentBook], T],
                     *, write: bool) -> T:
        return self._run(action, lambda conn: work(SqlAssessmentBook(conn, trace_id,
                                                                     write=write)),
                         write=write, retry=write)

    # --- runs and datasets (rules in store/runs_datasets.py, SQL in runs.py, datasets.py)
    def _create_run(self, info: RunInfo, tags: dict[str, str]) -> Run:
        return self._run(f"create run in experiment {info.experiment_id!r}",
                         lambda conn: run_sql.create_run(conn, info, tags),
                         write=True, retry=True)

    def _get_run(self, run_id: str) -> Run:
        return self._run(f"get run {run_id!r}", lambda conn: run_sql.get_run(conn, run_id))

    def _update_run(self, run_id: str, status: str | None, end_time: int | None,
                    run_name: str | None) -> RunInfo:
        return self._run(f"update run {run_id!r}",
                         lambda conn: run_sql.update_run(conn, run_id, status=status,
                                                         end_time=end_time, run_name=run_name),
                         write=True, retry=True)

    def _log_batch(self, run_id: str, batch: run_rules.Batch) -> None:
        self._run(f"log to run {run_id!r}", lambda conn: run_sql.log_batch(conn, run_id, batch),
                  write=True, retry=True)

    def _metric_history(self, run_id: str, key: str) -> list[Metric]:
        return self._run(f"get metric history {key!r} of run {run_id!r}",
                         lambda conn: run_sql.metric_history(conn, run_id, key))

    def _runs_of(self, experiment_ids: list[str] | None) -> list[Run]:
        keys = None if experiment_ids is None else [int(e) for e in experiment_ids]
        return self._run("search runs", lambda conn: run_sql.search_runs(conn, keys))

    def _create_dataset(self, dataset: Dataset) -> Dataset | None:
        return self._run(f"create dataset {dataset.name!r}",
                         lambda conn: dataset_sql.create_dataset(conn, dataset),
                         write=True, retry=True)

    def _get_dataset(self, dataset_id: str) -> Dataset:
        return self._run(f"get dataset {dataset_id!r}",
                         lambda conn: dataset_sql.get_dataset(conn, dataset_id))

    def _dataset_named(self, name: str) -> Dataset | None:
        return self._run(f"get dataset {name!r}",
                         lambda conn: dataset_sql.get_dataset_by_name(conn, name))

    def _delete_dataset(self, dataset_id: str) -> None:
        self._run(f"delete dataset {dataset_id!r}",
                  lambda conn: dataset_sql.delete_dataset(conn, dataset_id),
                  write=True, retry=True)

    def _datasets_of(self, experiment_ids: list[str] | None) -> list[Dataset]:
        keys = None if experiment_ids is None else [int(e) for e in experiment_ids]
        return self._run("search datasets", lambda conn: dataset_sql.search_datasets(conn, keys))

    def _set_dataset_tags(self, dataset_id: str, tags: dict[str, str | None],
                          now: int) -> Dataset:
        return self._run(f"set tags of dataset {dataset_id!r}",
                         lambda conn: dataset_sql.set_tags(conn, dataset_id, tags, now),
                         write=True, retry=True)

    def _merge_records(self, dataset_id: str, updates: dict[str, RecordUpdate],
                       now: int) -> MergeResult:
        return self._run(f"merge {len(updates)} record(s) into dataset {dataset_id!r}",
                         lambda conn: dataset_sql.merge_records(conn, dataset_id, updates, now),
                         write=True, retry=True)

    def _records(self, dataset_id: str, version: int | None) -> list[DatasetRecord]:
        return self._run(f"read records of dataset {dataset_id!r}",
                         lambda conn: dataset_sql.read_records(conn, dataset_id, version))

    def _versions(self, dataset_id: str) -> list[DatasetVersion]:
        return self._run(f"list versions of dataset {dataset_id!r}",
                         lambda conn: dataset_sql.list_versions(conn, dataset_id))


    # --- aggregates for analysis (SQL in aggregates.py) ---------------------------------
    def _aggregate(self, action: str, selection: agg.Selection,
                   work: Callable[[Connection, SearchQuery], T]) -> T:
        """Run ``work(conn, search)`` over a checked, non-empty selection."""
        experiment_ids = None if selection.experiment_ids is None else list(
            selection.experiment_ids)
        search = self._search_query(experiment_ids, selection.filter_string, None)
        return self._run(action, lambda conn: work(conn, search))

    def _trace_stats(self, selection: agg.Selection, bucket_ms: int | None,
                     group_by: agg.GroupKey | None,
                     quantiles: tuple[float, ...]) -> list[agg.TraceStats]:
        return self._aggregate("trace statistics", selection, lambda conn, search:
                               sql_agg.trace_stats(conn, search, selection, bucket_ms=bucket_ms,
                                                   group_by=group_by, quantiles=quantiles))

    def _model_usage(self, selection: agg.Selection, bucket_ms: int | None,
                     group_by: agg.GroupKey | None,
                     periods: tuple[int, ...]) -> list[agg.ModelUsageRow]:
        return self._aggregate("model usage", selection, lambda conn, search:
                               sql_agg.model_usage(conn, search, selection,
                                                   bucket_ms=bucket_ms, group_by=group_by,
                                                   periods=periods))

    def _latency_histogram(self, selection: agg.Selection, edges: list[float]) -> list[int]:
        return self._aggregate("latency histogram", selection, lambda conn, search:
                               sql_agg.latency_histogram(conn, search, selection, edges))

    def _span_stats(self, selection: agg.Selection, quantiles: tuple[float, ...],
                    span_types: tuple[str, ...] | None = None) -> list[agg.SpanStats]:
        return self._aggregate("span statistics", selection, lambda conn, search:
                               sql_agg.span_stats(conn, search, selection, quantiles=quantiles,
                                                  span_types=span_types))

    def _error_spans(self, selection: agg.Selection) -> list[agg.ErrorSpan]:
        return self._aggregate("error spans", selection, lambda conn, search:
                               sql_agg.error_spans(conn, search, selection))

    def _trace_sample(self, selection: agg.Selection, sample: agg.Sample | None,
                      spans: bool, assessments: bool) -> agg.TraceSample:
        return self._aggregate("sample traces", selection, lambda conn, search:
                               sql_agg.trace_sample(conn, search, selection, sample=sample,
                                                    spans=spans, assessments=assessments))

    def _numeric_pairs(self, selection: agg.Selection, x: agg.NumericField,
                       y: agg.NumericField) -> agg.NumericPairs:
        return self._aggregate("numeric pairs", selection, lambda conn, search:
                               sql_agg.numeric_pairs(conn, search, selection, x, y))

    def _assessment_stats(self, selection: agg.Selection, name: str) -> agg.AssessmentStats:
        return self._aggregate("assessment statistics", selection, lambda conn, search:
                               sql_agg.assessment_stats(conn, search, selection, name))


def _nonempty(page: list[StoredTrace]) -> Iterator[list[StoredTrace]]:
    if page:  # empty when every trace of the page was deleted since its ids were read
        yield page
