"""The server's write path: group commits, bounded memory, counted outcomes.

Every trace write of the server (OTLP receiver, REST ``POST /api/traces/batch``) goes
through one ``IngestQueue``. Writers that arrive while a commit runs are gathered into
the next one, which makes one ``store.log_traces`` call (one transaction) in a dedicated
writer thread; each writer awaits the commit of its own batch, so a 2xx answered after
``await queue.write(...)`` means the data is committed. Group commit keeps that promise
cheap: one transaction per batch, whatever the number of concurrent requests.

Before a commit the ``Redactor`` (``server/redact.py``) removes PII when asked to and
always truncates oversized span values with an explicit marker (``redactor=None`` means
truncation only).

Memory is bounded: when the traces waiting for a commit would exceed
``max_pending_traces``, ``write`` raises ``Saturated`` at once (HTTP 503 + Retry-After)
instead of queueing. If a combined batch fails, each writer's traces are committed on
their own, so one bad request never fails its neighbours.

Traces that arrive in parts (OTLP: spans of one trace over several requests, in any
order) are written with ``partial=True``: the writer thread merges them with each other
and with what is stored before committing (``spanscope.server.assemble``), so the
summary is recomputed from every span known so far, and merging inside the single
writer makes concurrent parts of one trace take turns. Where other processes write the
same store (``shared_store``, by default any store but SQLite: ``--workers N`` or several
servers over one PostgreSQL), each commit of parts re-reads those traces and rewrites a
summary another process made stale meanwhile (``assemble.resettle``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from spanscope.entities import Trace
from spanscope.exceptions import SpanscopeError
from spanscope.server.redact import Redactor

if TYPE_CHECKING:
    from spanscope.lifecycle.capacity import CapacityGuard
    from spanscope.store.base import TraceStore

__all__ = ["IngestQueue", "Saturated"]

logger = logging.getLogger(__name__)

MAX_BATCH_TRACES = 5_000  # traces per commit: bounds one transaction's time and memory


class Saturated(Exception):
    """The writer cannot take more now; retry after ``retry_after`` seconds (HTTP 503)."""

    def __init__(self, retry_after: float, message: str = "") -> None:
        self.retry_after = retry_after
        super().__init__(message or f"the trace writer is saturated; retry in {retry_after:g} s")


@dataclass
class _Write:
    """One caller's traces waiting for a commit, with the future it awaits."""

    traces: list[Trace]
    partial: bool
    future: asyncio.Future[None]
    spans: int = field(default=0)


class IngestQueue:
    """Group-committing, bounded writer in front of a ``TraceStore``."""

    def __init__(self, store: TraceStore, *, max_pending_traces: int = 20_000,
                 redactor: Redactor | None = None,
                 max_batch_traces: int = MAX_BATCH_TRACES,
                 shared_store: bool | None = None,
                 capacity: CapacityGuard | None = None) -> None:
        if max_pending_traces < 1 or max_batch_traces < 1:
            raise ValueError("max_pending_traces and max_batch_traces must be at least 1")
        self.store = store
        self.max_pending_traces = max_pending_traces
        self.max_batch_traces = max_batch_traces
        self.redactor = redactor if redactor is not None else Redactor()  # truncation only
        if shared_store is None:  # a SQLite file has one server process; a database may not
            shared_store = not str(getattr(store, "uri", "")).startswith("sqlite")
        self.shared_store = shared_store
        self.capacity = capacity  # its check raises StorageFull (507) when the store is full
        self._waiting: list[_Write] = []
        self._pending = 0  # traces accepted and not yet committed or failed
        self._wake: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._closing = False
        self._rate = 0.0  # traces/s of recent commits, for Retry-After
        self._counts = {"accepted": 0, "rejected": 0, "persisted": 0, "failed": 0,
                        "batches": 0, "accepted_spans": 0, "persisted_spans": 0}

    # --- lifecycle ----------------------------------------------------------------------
    async def start(self) -> None:
        """Start the writer task (and its thread) on the running event loop."""
        if self._task is not None:
            return
        self._closing = False
        self._wake = asyncio.Event()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="spanscope-ingest")
        self._task = asyncio.get_running_loop().create_task(self._run(), name="spanscope-ingest")

    async def close(self) -> None:
        """Refuse new writes, commit everything already accepted, stop the writer."""
        self._closing = True
        task = self._task
        if task is None:
            return
        assert self._wake is not None
        self._wake.set()
        await task
        self._task = None
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None

    # --- writing ------------------------------------------------------------------------
    async def write(self, traces: Sequence[Trace], *, partial: bool = False) -> None:
        """Return once ``traces`` are committed; ``Saturated`` if the writer is full.

        ``partial=True`` marks traces that may be parts of a trace (see the module doc).
        Store errors (``InvalidInputError`` for a bad trace, ``StoreError``) are raised
        to this caller only.
        """
        traces = list(traces)
        if not traces:
            return
        if self._task is None or self._closing:
            self._counts["rejected"] += len(traces)
            raise Saturated(1.0, "the trace writer is not running (server starting or stopping)")
        if self.capacity is not None:
            try:
                self.capacity.check()
            except Exception:
                self._counts["rejected"] += len(traces)
                raise
        count = len(traces)
        if self._pending and self._pending + count > self.max_pending_traces:
            self._counts["rejected"] += count
            raise Saturated(self._retry_after(count))
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        spans = sum(len(t.data.spans) for t in traces)
        self._waiting.append(_Write(traces, partial, future, spans))
        self._pending += count
        self._counts["accepted"] += count
        self._counts["accepted_spans"] += spans
        assert self._wake is not None
        self._wake.set()
        await asyncio.shield(future)  # a disconnected client does not cancel the commit

    def stats(self) -> dict[str, int]:
        """Counters: accepted, rejected, persisted, failed (traces), queue_depth, batches."""
        return {**self._counts, "queue_depth": self._pending}

    def _retry_after(self, count: int) -> float:
        backlog = self._pending + count
        seconds = backlog / self._rate if self._rate > 0 else 1.0
        return float(min(max(1, round(seconds)), 60))

    # --- the writer ---------------------------------------------------------------------
    async def _run(self) -> None:
        assert self._wake is not None
        while True:
            if not self._waiting:
                if self._closing:
                    return
                self._wake.clear()
                await self._wake.wait()
                continue
            batch = self._take()
            started = time.perf_counter()
            outcomes = await asyncio.get_running_loop().run_in_executor(
                self._executor, self._commit, batch)
            elapsed = time.perf_counter() - started
            done = sum(len(w.traces) for w, error in zip(batch, outcomes, strict=True)
                       if error is None)
            if done and elapsed > 0:
                rate = done / elapsed
                self._rate = rate if self._rate == 0 else 0.8 * self._rate + 0.2 * rate
            for write, error in zip(batch, outcomes, strict=True):
                self._pending -= len(write.traces)
                if error is None:
                    self._counts["persisted"] += len(write.traces)
                    self._counts["persisted_spans"] += write.spans
                    if not write.future.done():
                        write.future.set_result(None)
                else:
                    self._counts["failed"] += len(write.traces)
                    if not write.future.done():
                        write.future.set_exception(error)

    def _take(self) -> list[_Write]:
        """The waiting writes for one commit: all of them, up to ``max_batch_traces``."""
        taken, size = [], 0
        while self._waiting and (not taken or
                                 size + len(self._waiting[0].traces) <= self.max_batch_traces):
            write = self._waiting.pop(0)
            taken.append(write)
            size += len(write.traces)
        return taken

    def _commit(self, batch: list[_Write]) -> list[BaseException | None]:
        """Writer thread: commit the batch in one transaction, else each write alone."""
        try:
            self._log(batch)
            return [None] * len(batch)
        except Exception as exc:  # the thread boundary; retried one by one
            if len(batch) == 1:
                return [self._reported(exc)]
        outcomes: list[BaseException | None] = []
        for write in batch:
            try:
                self._log([write])
                outcomes.append(None)
            except Exception as exc:  # goes back to this writer's caller
                outcomes.append(self._reported(exc))
        return outcomes

    def _log(self, batch: list[_Write]) -> None:
        """One commit: parts merged with stored traces, then redacted/truncated, then logged.

        With a shared store, summaries another process made stale meanwhile are rewritten
        (``assemble.resettle``) before the writers are answered.
        """
        from spanscope.server.assemble import merge_parts, resettle

        self._counts["batches"] += 1
        traces = [t for w in batch if not w.partial for t in w.traces]
        parts = [t for w in batch if w.partial for t in w.traces]
        seen: dict[str, frozenset[str]] | None = {} if self.shared_store else None
        if parts:
            traces.extend(merge_parts(self.store, parts, seen))
        redactor = self.redactor
        self.store.log_traces([redactor.apply(trace) for trace in traces])
        for _ in range(3):  # converges at once unless processes keep racing on one trace
            if not seen:
                return
            again, seen = resettle(self.store, seen)
            if not again:
                return
            self._counts["batches"] += 1
            self.store.log_traces(again)

    @staticmethod
    def _reported(exc: Exception) -> BaseException:
        if not isinstance(exc, SpanscopeError):
            logger.exception("writing traces failed", exc_info=exc)
        return exc
