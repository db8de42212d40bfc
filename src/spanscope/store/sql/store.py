"""``SqlStore``: the ``TraceStore`` for SQLite files and PostgreSQL databases.

Each public method runs in one transaction on a pooled connection and raises only
``spanscope.exceptions`` errors. Writes on SQLite take the write lock up front
(``BEGIN IMMEDIATE``) and ``log_traces`` retries with backoff when the file stays locked
past the busy timeout (or PostgreSQL reports a deadlock or a racing insert), so several
processes can log into one store and nothing is lost.
"""

from __future__ import annotations

import contextlib
import logging
import random
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

import sqlalchemy as sa
from sqlalchemy import exc as sa_exc

from spanscope.entities import (
    Assessment,
    AssessmentError,
    AssessmentSource,
    Experiment,
    PagedList,
    Trace,
)
from spanscope.entities.dataset import (
    Dataset,
    DatasetRecord,
    DatasetVersion,
    MergeResult,
    RecordUpdate,
)
from spanscope.entities.run import Metric, Run, RunInfo
from spanscope.exceptions import InvalidInputError, NotFoundError, StoreError
from spanscope.store import aggregates as agg
from spanscope.store import mutations as rules
from spanscope.store import run_rules
from spanscope.store.mutations import UNSET, Unset
from spanscope.store.runs_datasets import RunsAndDatasets
from spanscope.store.sql import aggregates as sql_agg
from spanscope.store.sql import assessments, delete, schema
from spanscope.store.sql import datasets as dataset_sql
from spanscope.store.sql import runs as run_sql
from spanscope.store.sql.convert import experiment_from_row, parse_experiment_id
from spanscope.store.sql.engine import WRITE, StatementHook, create_engine, is_memory, mask_uri
from spanscope.store.sql.errors import is_retryable, translate
from spanscope.store.sql.ingest import write_traces
from spanscope.store.sql.migrate import ensure_schema
from spanscope.store.sql.read import load_traces
from spanscope.store.sql.search import SearchQuery
from spanscope.store.sql.tags import delete_tag, set_tag

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

__all__ = ["SqlStore"]

logger = logging.getLogger(__name__)

T = TypeVar("T")

WRITE_ATTEMPTS = 8  # after SQLite's own 30 s busy wait, so rarely more than one is needed
_BACKOFF_S = 0.05
_BACKOFF_CAP_S = 2.0


class SqlStore(RunsAndDatasets):
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

    # --- experiments ------------------------------------------------------------------
    def create_experiment(self, name: str) -> str:
        if not isinstance(name, str) or not name.strip():
            raise InvalidInputError(f"experiment name must be a non-empty string, got {name!r}")
        if len(name) > schema.EXPERIMENT_NAME_LENGTH:
            raise InvalidInputError(f"experiment name is {len(name)} characters; "
                                    f"the limit is {schema.EXPERIMENT_NAME_LENGTH}")
        table = schema.experiments

        def work(conn: Connection) -> str:
            if self._experiment_by_name(conn, name) is not None:
                raise InvalidInputError(f"experiment {name!r} already exists")
            result = conn.execute(table.insert().values(
                name=name, creation_time=int(time.time() * 1000)))
            experiment_id = int(result.inserted_primary_key[0])
            self._known_experiments.add(experiment_id)
            return str(experiment_id)

        return self._run(f"create experiment {name!r}", work, write=True, retry=True)

    def get_experiment(self, experiment_id: str) -> Experiment:
        try:
            key = parse_experiment_id(experiment_id)
        except InvalidInputError:
            raise NotFoundError(f"experiment {experiment_id!r} not found") from None
        table = schema.experiments

        def work(conn: Connection) -> Experiment:
            row = conn.execute(sa.select(table).where(table.c.experiment_id == key)).first()
            if row is None:
                raise NotFoundError(f"experiment '{experiment_id}' not found")
            return experiment_from_row(row)

        return self._run(f"get experiment {experiment_id!r}", work)

    def get_experiment_by_name(self, name: str) -> Experiment | None:
        return self._run(f"get experiment {name!r}",
                         lambda conn: self._experiment_by_name(conn, name))

    @staticmethod
    def _experiment_by_name(conn: Connection, name: str) -> Experiment | None:
        table = schema.experiments
        row = conn.execute(sa.select(table).where(table.c.name == name)).first()
        return None if row is None else experiment_from_row(row)

    def list_experiments(self) -> list[Experiment]:
        table = schema.experiments

        def work(conn: Connection) -> list[Experiment]:
            rows = conn.execute(sa.select(table).order_by(table.c.experiment_id))
            return [experiment_from_row(row) for row in rows]

        return self._run("list experiments", work)

    # --- traces -----------------------------------------------------------------------
    def log_traces(self, traces: Sequence[Trace]) -> None:
        batch = list(traces)
        if not batch:
            return
        self._run(f"log {len(batch)} trace(s)",
                  lambda conn: write_traces(conn, batch, self._known_experiments),
                  write=True, retry=True)

    def get_trace(self, trace_id: str) -> Trace:
        table = schema.traces

        def work(conn: Connection) -> Trace:
            row = conn.execute(sa.select(table).where(table.c.trace_id == trace_id)).first()
            if row is None:
                raise NotFoundError(f"trace {trace_id!r} not found")
            return load_traces(conn, [row], include_spans=True)[0]

        if not isinstance(trace_id, str):
            raise NotFoundError(f"trace {trace_id!r} not found")
        return self._run(f"get trace {trace_id!r}", work)

    def search_traces(
        self,
        experiment_ids: Sequence[str] | None = None,
        *,
        filter_string: str | None = None,
        order_by: Sequence[str] | None = None,
        max_results: int = 100,
        page_token: str | None = None,
        include_spans: bool = True,
    ) -> PagedList[Trace]:
        if isinstance(max_results, bool) or not isinstance(max_results, int) or max_results < 1:
            raise InvalidInputError(f"max_results must be an integer >= 1, got {max_results!r}")
        search = self._search_query(experiment_ids, filter_string, order_by)
        if search is None:
            return PagedList([], None)
        after = search.decode(page_token) if page_token else None

        def work(conn: Connection) -> PagedList[Trace]:
            rows = search.rows(conn, max_results + 1, after)
            more = len(rows) > max_results
            rows = rows[:max_results]
            token = search.encode(rows[-1]) if more else None
            return PagedList(load_traces(conn, rows, include_spans=include_spans), token)

        return self._run("search traces", work)

    def search_trace_ids(
        self,
        experiment_ids: Sequence[str] | None = None,
        *,
        filter_string: str | None = None,
        max_results: int | None = None,
    ) -> list[str]:
        if max_results is not None and (isinstance(max_results, bool)
                                        or not isinstance(max_results, int) or max_results < 1):
            raise InvalidInputError(f"max_results must be an integer >= 1 or None, "
                                    f"got {max_results!r}")
        search = self._search_query(experiment_ids, filter_string, None)
        if search is None:
            return []
        column = schema.traces.c.trace_id
        return self._run("search trace ids", lambda conn: [
            row.trace_id for row in search.rows(conn, max_results, None, columns=[column])])

    def _search_query(self, experiment_ids: Sequence[str] | None, filter_string: str | None,
                      order_by: Sequence[str] | None) -> SearchQuery | None:
        """The parsed search (``FilterError`` if bad); None when no experiment can match."""
        if isinstance(experiment_ids, str):
            experiment_ids = [experiment_ids]
        keys = None
        if experiment_ids is not None:
            keys = sorted({parse_experiment_id(e) for e in experiment_ids})
            if not keys:
                return None
        if filter_string is not None and not isinstance(filter_string, str):
            raise InvalidInputError(f"filter_string must be a string, got "
                                    f"{type(filter_string).__name__}")
        return SearchQuery(self._engine.dialect.name, keys, filter_string, order_by)

    # --- tags, deletion, assessments (SQL in tags.py, delete.py, assessments.py) --------
    def set_trace_tag(self, trace_id: str, key: str, value: str) -> None:
        trace_id = rules.check_trace_id(trace_id)
        rules.check_tag_value(rules.check_tag_key(key, trace_id), value, trace_id)
        self._run(f"set tag {key!r} on trace {trace_id!r}",
                  lambda conn: set_tag(conn, trace_id, key, value), write=True, retry=True)

    def delete_trace_tag(self, trace_id: str, key: str) -> None:
        trace_id = rules.check_trace_id(trace_id)
        rules.check_tag_key(key, trace_id)
        self._run(f"delete tag {key!r} of trace {trace_id!r}",
                  lambda conn: delete_tag(conn, trace_id, key), write=True, retry=True)

    def delete_traces(
        self,
        experiment_id: str,
        *,
        max_timestamp_millis: int | None = None,
        max_traces: int | None = None,
        trace_ids: Sequence[str] | None = None,
        dry_run: bool = False,
    ) -> int:
        request = rules.check_delete(experiment_id, max_timestamp_millis, max_traces, trace_ids)
        key = parse_experiment_id(self.get_experiment(request.experiment_id).experiment_id)
        max_ts, limit = request.max_timestamp_millis, request.max_traces
        if max_ts is None:
            return self._delete_ids(request.trace_ids or [], key, dry_run=dry_run)
        if dry_run:
            return self._run("count traces to delete",
                             lambda conn: delete.count_older(conn, key, max_ts, limit))
        return delete.delete_older(self._batch_runner(), key, max_ts, limit)

    def delete_trace_ids(self, trace_ids: Sequence[str], *, dry_run: bool = False) -> int:
        return self._delete_ids(rules.check_trace_ids(trace_ids), None, dry_run=dry_run)

    def _delete_ids(self, ids: list[str], experiment_key: int | None, *, dry_run: bool) -> int:
        if dry_run:
            return self._run("count traces to delete",
                             lambda conn: delete.count_ids(conn, ids, experiment_key))
        return delete.delete_ids(self._batch_runner(), ids, experiment_key)

    def _batch_runner(self) -> Callable[[str, Callable[[Connection], int]], int]:
        """Each deletion batch is its own retried write transaction."""
        return lambda action, work: self._run(action, work, write=True, retry=True)

    def create_assessment(self, assessment: Assessment) -> Assessment:
        rules.check_assessment(assessment)
        return self._run(f"create assessment {assessment.name!r} on trace "
                         f"{assessment.trace_id!r}",
                         lambda conn: assessments.create(conn, assessment),
                         write=True, retry=True)

    def get_assessment(self, trace_id: str, assessment_id: str) -> Assessment:
        trace_id, assessment_id = rules.check_assessment_ref(trace_id, assessment_id)
        return self._run(f"get assessment {assessment_id!r}",
                         lambda conn: assessments.get(conn, trace_id, assessment_id))

    def update_assessment(
        self,
        trace_id: str,
        assessment_id: str,
        *,
        name: str | Unset = UNSET,
        value: Any = UNSET,
        rationale: str | Unset | None = UNSET,
        metadata: dict[str, Any] | Unset | None = UNSET,
        error: AssessmentError | BaseException | Unset | None = UNSET,
        source: AssessmentSource | Unset = UNSET,
    ) -> Assessment:
        trace_id, assessment_id = rules.check_assessment_ref(trace_id, assessment_id)
        changes = rules.AssessmentChanges(name=name, value=value, rationale=rationale,
                                          metadata=metadata, error=error, source=source)
        return self._run(f"update assessment {assessment_id!r}",
                         lambda conn: assessments.update(conn, trace_id, assessment_id,
                                                         changes),
                         write=True, retry=True)

    def delete_assessment(self, trace_id: str, assessment_id: str) -> None:
        trace_id, assessment_id = rules.check_assessment_ref(trace_id, assessment_id)
        self._run(f"delete assessment {assessment_id!r}",
                  lambda conn: assessments.delete(conn, trace_id, assessment_id),
                  write=True, retry=True)

    # --- runs and datasets (rules in store/runs_datasets.py, SQL in runs.py, datasets.py)
    def _create_run(self, info: RunInfo, tags: dict[str, str]) -> Run:
        return self._run(f"create run in experiment {info.experiment_id!r}",
                         lambda conn: run_sql.create_run(conn, info, tags),
                         write=True, retry=True)

    def get_run(self, run_id: str) -> Run:
        run_id = run_rules.check_run_id(run_id)
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

    def get_metric_history(self, run_id: str, key: str) -> list[Metric]:
        run_id = run_rules.check_run_id(run_id)
        return self._run(f"get metric history {key!r} of run {run_id!r}",
                         lambda conn: run_sql.metric_history(conn, run_id, key))

    def _runs_of(self, experiment_ids: list[str] | None) -> list[Run]:
        keys = None if experiment_ids is None else sorted(
            {parse_experiment_id(e) for e in experiment_ids})
        return self._run("search runs", lambda conn: run_sql.search_runs(conn, keys))

    def _create_dataset(self, dataset: Dataset) -> Dataset:
        return self._run(f"create dataset {dataset.name!r}",
                         lambda conn: dataset_sql.create_dataset(conn, dataset),
                         write=True, retry=True)

    def get_dataset(self, dataset_id: str) -> Dataset:
        return self._run(f"get dataset {dataset_id!r}",
                         lambda conn: dataset_sql.get_dataset(conn, str(dataset_id)))

    def get_dataset_by_name(self, name: str) -> Dataset | None:
        return self._run(f"get dataset {name!r}",
                         lambda conn: dataset_sql.get_dataset_by_name(conn, str(name)))

    def delete_dataset(self, dataset_id: str) -> None:
        self._run(f"delete dataset {dataset_id!r}",
                  lambda conn: dataset_sql.delete_dataset(conn, str(dataset_id)),
                  write=True, retry=True)

    def _datasets_of(self, experiment_ids: list[str] | None) -> list[Dataset]:
        keys = None if experiment_ids is None else sorted(
            {parse_experiment_id(e) for e in experiment_ids})
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

    def get_dataset_records(self, dataset_id: str, *,
                            version: int | None = None) -> list[DatasetRecord]:
        return self._run(f"read records of dataset {dataset_id!r}",
                         lambda conn: dataset_sql.read_records(conn, str(dataset_id), version))

    def list_dataset_versions(self, dataset_id: str) -> list[DatasetVersion]:
        return self._run(f"list versions of dataset {dataset_id!r}",
                         lambda conn: dataset_sql.list_versions(conn, str(dataset_id)))

    # --- aggregates for analysis (SQL in aggregates.py) ---------------------------------
    def _aggregate(self, action: str, selection: agg.Selection,
                   work: Callable[[Connection, SearchQuery], T], empty: T) -> T:
        """Run ``work(conn, search)`` over the selection; ``empty`` when it has no experiment."""
        agg.check_selection(selection)
        search = self._search_query(selection.experiment_ids, selection.filter_string, None)
        if search is None:
            return empty
        return self._run(action, lambda conn: work(conn, search))

    def trace_stats(self, selection: agg.Selection, *, bucket_ms: int | None = None,
                    group_by: agg.GroupKey | None = None,
                    quantiles: Sequence[float] = agg.TRACE_QUANTILES) -> list[agg.TraceStats]:
        agg.check_options(bucket_ms=bucket_ms, group_by=group_by, quantiles=quantiles)
        return agg.sort_trace_stats(self._aggregate(
            "trace statistics", selection, lambda conn, search: sql_agg.trace_stats(
                conn, search, selection, bucket_ms=bucket_ms, group_by=group_by,
                quantiles=tuple(quantiles)), []))

    def model_usage(self, selection: agg.Selection, *, bucket_ms: int | None = None,
                    group_by: agg.GroupKey | None = None) -> list[agg.ModelUsageRow]:
        agg.check_options(bucket_ms=bucket_ms, group_by=group_by)
        return agg.sort_model_usage(self._aggregate(
            "model usage", selection, lambda conn, search: sql_agg.model_usage(
                conn, search, selection, bucket_ms=bucket_ms, group_by=group_by), []))

    def latency_histogram(self, selection: agg.Selection, edges: Sequence[float]) -> list[int]:
        bounds = agg.check_edges(edges)
        return self._aggregate(
            "latency histogram", selection, lambda conn, search: sql_agg.latency_histogram(
                conn, search, selection, bounds), [0] * max(0, len(bounds) - 1))

    def span_stats(self, selection: agg.Selection, *,
                   quantiles: Sequence[float] = agg.SPAN_QUANTILES) -> list[agg.SpanStats]:
        agg.check_options(quantiles=quantiles)
        return agg.sort_span_stats(self._aggregate(
            "span statistics", selection, lambda conn, search: sql_agg.span_stats(
                conn, search, selection, quantiles=tuple(quantiles)), []))

    def error_spans(self, selection: agg.Selection) -> list[agg.ErrorSpan]:
        return self._aggregate("error spans", selection, lambda conn, search:
                               sql_agg.error_spans(conn, search, selection), [])

    def trace_sample(self, selection: agg.Selection, sample: agg.Sample | None = None, *,
                     spans: bool = False, assessments: bool = True) -> agg.TraceSample:
        agg.check_options(sample=sample)
        return self._aggregate("sample traces", selection, lambda conn, search:
                               sql_agg.trace_sample(conn, search, selection, sample=sample,
                                                    spans=spans, assessments=assessments),
                               agg.TraceSample(0, []))

    def numeric_pairs(self, selection: agg.Selection, x: agg.NumericField,
                      y: agg.NumericField) -> agg.NumericPairs:
        agg.check_field(x)
        agg.check_field(y)
        none = agg.FieldCoverage(0, 0)
        return self._aggregate("numeric pairs", selection, lambda conn, search:
                               sql_agg.numeric_pairs(conn, search, selection, x, y),
                               agg.NumericPairs([], [], none, none))
