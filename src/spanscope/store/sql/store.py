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

from spanscope.entities import Experiment, PagedList, Trace
from spanscope.exceptions import InvalidInputError, NotFoundError, StoreError
from spanscope.store.sql import schema
from spanscope.store.sql.convert import experiment_from_row, parse_experiment_id
from spanscope.store.sql.engine import WRITE, StatementHook, create_engine, is_memory, mask_uri
from spanscope.store.sql.errors import is_retryable, translate
from spanscope.store.sql.ingest import write_traces
from spanscope.store.sql.migrate import ensure_schema
from spanscope.store.sql.pagination import after, decode_token, encode_token
from spanscope.store.sql.read import load_traces

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

__all__ = ["SqlStore"]

logger = logging.getLogger(__name__)

T = TypeVar("T")

WRITE_ATTEMPTS = 8  # after SQLite's own 30 s busy wait, so rarely more than one is needed
_BACKOFF_S = 0.05
_BACKOFF_CAP_S = 2.0


class SqlStore:
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
        max_results: int = 100,
        page_token: str | None = None,
        include_spans: bool = True,
    ) -> PagedList[Trace]:
        if isinstance(max_results, bool) or not isinstance(max_results, int) or max_results < 1:
            raise InvalidInputError(f"max_results must be an integer >= 1, got {max_results!r}")
        if isinstance(experiment_ids, str):
            experiment_ids = [experiment_ids]
        table = schema.traces
        query = sa.select(table)
        if experiment_ids is not None:
            keys = sorted({parse_experiment_id(e) for e in experiment_ids})
            if not keys:
                return PagedList([], None)
            query = query.where(table.c.experiment_id.in_(keys))
        if page_token:
            query = query.where(after(*decode_token(page_token)))
        query = (query.order_by(table.c.request_time.desc(), table.c.trace_id.desc())
                 .limit(max_results + 1))

        def work(conn: Connection) -> PagedList[Trace]:
            rows = conn.execute(query).all()
            more = len(rows) > max_results
            rows = rows[:max_results]
            token = encode_token(rows[-1].request_time, rows[-1].trace_id) if more else None
            return PagedList(load_traces(conn, rows, include_spans=include_spans), token)

        return self._run("search traces", work)
