"""The exporter: a bounded queue of finished traces drained by one background thread.

The application thread only ever enqueues (``enqueue`` takes a lock for a few
instructions and never waits on storage). When the queue is full the new trace is dropped
and counted, unless ``SPANSCOPE_EXPORT_ON_FULL=block``: then the producer waits for room
(batch jobs, backfills, evaluations), at most ``SPANSCOPE_EXPORT_BLOCK_TIMEOUT`` seconds,
after which the trace is dropped and counted. ``flush()`` returns False when any trace
was dropped since the previous flush. One daemon worker converts queued traces to
entities, cuts or cleans fields over their limits (``entities.limits``; counted as
``cleaned_fields``, the trace kept), groups them by tracking URI and writes each group
with ``TraceStore.log_traces`` in batches of up to ``batch_size`` traces (or whatever
arrived within ``linger`` seconds; a ``flush`` makes it write at once). A failing write
is retried with backoff, then dropped, counted and logged once per distinct error: the
application never sees an exception from here. A store that is unavailable
(``StoreUnavailableError``: a tracking server down or saturated) or full
(``StorageFullError``: HTTP 507) is retried until it takes the batch, while the bounded
queue holds what arrives meanwhile.

``writer`` and ``convert`` are seams: the defaults write through
``spanscope.tracking.get_store(uri)`` and convert with ``convert.to_trace``.
"""

from __future__ import annotations

import logging
import os
import random
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any

from opentelemetry import context as otel_context

from spanscope.entities import Trace
from spanscope.entities.limits import CLEANED_FIELDS_TAG, clean_trace
from spanscope.exceptions import InvalidInputError, StorageFullError, StoreUnavailableError
from spanscope.tracing._state import log_once

__all__ = ["BLOCK_TIMEOUT_ENV", "EXIT_FLUSH_TIMEOUT_ENV", "ON_FULL_ENV", "QUEUE_SIZE_ENV",
           "TraceExporter"]

logger = logging.getLogger(__name__)

QUEUE_SIZE_ENV = "SPANSCOPE_EXPORT_QUEUE_SIZE"
EXIT_FLUSH_TIMEOUT_ENV = "SPANSCOPE_EXIT_FLUSH_TIMEOUT"
ON_FULL_ENV = "SPANSCOPE_EXPORT_ON_FULL"  # "drop" (default) or "block"
BLOCK_TIMEOUT_ENV = "SPANSCOPE_EXPORT_BLOCK_TIMEOUT"
DEFAULT_QUEUE_SIZE = 10_000
DEFAULT_EXIT_FLUSH_TIMEOUT = 10.0
DEFAULT_BLOCK_TIMEOUT = 60.0

MAX_UNAVAILABLE_BACKOFF = 5.0  # seconds between attempts while the store is unavailable
# ... and while it is full: space comes back when a retention pass ran, not in seconds
MAX_STORAGE_FULL_BACKOFF = 30.0

Writer = Callable[[str, Sequence[Trace]], None]


def _backoff(delay: float, retry_after: float | None) -> float:
    """``delay`` with full jitter in its upper half, but never before ``retry_after``."""
    jittered = delay * (0.5 + random.random() / 2)
    return max(jittered, retry_after or 0.0)


def _write_to_store(uri: str, traces: Sequence[Trace]) -> None:
    from spanscope.tracking import get_store

    get_store(uri).log_traces(traces)


def _default_convert(item: Any) -> Trace:
    from spanscope.tracing.convert import to_trace

    return to_trace(item)


def _env_number(name: str, default: float, kind: type) -> Any:
    raw = os.environ.get(name)
    if raw is None or not raw.strip():
        return default
    try:
        value = kind(raw)
        if value > 0:
            return value
    except ValueError:
        pass
    logger.warning("%s=%r is not a positive number; using %s", name, raw, default)
    return default


def _env_on_full() -> str:
    raw = (os.environ.get(ON_FULL_ENV) or "drop").strip().lower()
    if raw in ("drop", "block"):
        return raw
    logger.warning("%s=%r is not 'drop' or 'block'; using 'drop'", ON_FULL_ENV, raw)
    return "drop"


class TraceExporter:
    """Bounded queue + one writer thread; see the module docstring for the contract."""

    def __init__(self, *, capacity: int | None = None, writer: Writer | None = None,
                 convert: Callable[[Any], Trace] | None = None, batch_size: int = 500,
                 linger: float = 0.05, max_retries: int = 3, retry_backoff: float = 0.1,
                 exit_timeout: float | None = None, on_full: str | None = None,
                 block_timeout: float | None = None) -> None:
        self.capacity = capacity or _env_number(QUEUE_SIZE_ENV, DEFAULT_QUEUE_SIZE, int)
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        self.batch_size = min(batch_size, self.capacity)
        self.linger = linger
        self.max_retries = max_retries
        self.retry_backoff = retry_backoff
        self.exit_timeout = exit_timeout if exit_timeout is not None else _env_number(
            EXIT_FLUSH_TIMEOUT_ENV, DEFAULT_EXIT_FLUSH_TIMEOUT, float)
        self.on_full = on_full or _env_on_full()
        if self.on_full not in ("drop", "block"):
            raise ValueError("on_full must be 'drop' or 'block'")
        self.block_timeout = block_timeout if block_timeout is not None else _env_number(
            BLOCK_TIMEOUT_ENV, DEFAULT_BLOCK_TIMEOUT, float)
        self._writer = writer or _write_to_store
        self._convert = convert or _default_convert
        self._init_state()

    def _init_state(self) -> None:
        self._cond = threading.Condition(threading.Lock())
        self._queue: deque[Any] = deque()
        self._thread: threading.Thread | None = None
        self._idle = False  # the worker waits for a first item and needs a notify
        self._flushers = 0  # flush() calls waiting: the worker must not linger
        self._shutdown = False
        self._enqueued = 0  # traces accepted into the queue, ever
        self._handled = 0  # traces taken out and written, or given up on
        self.exported = 0
        self.dropped = 0
        self.failed = 0  # traces lost to conversion or write errors (part of dropped)
        self.failed_batches = 0
        self.cleaned_fields = 0  # fields cut or cleaned to fit the limits (traces kept)
        self.blocked = 0  # enqueues that had to wait for room (block mode)
        self._dropped_at_flush = 0  # ``dropped`` when the last flush returned
        self._warned_full = False

    # --- application side ---------------------------------------------------------------
    def enqueue(self, item: Any) -> bool:
        """Queue a finished trace; False (and counted) when it was dropped.

        Never blocks in the default ``drop`` mode; in ``block`` mode waits for room up to
        ``block_timeout`` seconds (never on the worker thread itself, which makes room).
        """
        with self._cond:
            if self._shutdown:
                self.dropped += 1
                logger.debug("Spanscope exporter is shut down; trace dropped")
                return False
            if len(self._queue) >= self.capacity and not self._wait_for_room():
                self.dropped += 1
                self._warn_full()
                return False
            self._queue.append(item)
            self._enqueued += 1
            if self._thread is None:
                self._start_worker()
            elif self._idle or len(self._queue) >= self.batch_size:
                self._cond.notify_all()  # (flushers share the condition)
            return True

    def _wait_for_room(self) -> bool:
        """Block mode, lock held: wait until the queue has room; False on timeout."""
        if (self.on_full != "block" or self._thread is None
                or threading.current_thread() is self._thread):
            return False
        self.blocked += 1
        deadline = time.monotonic() + self.block_timeout
        self._cond.notify_all()  # the worker must not linger while a producer waits
        while len(self._queue) >= self.capacity:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or self._shutdown or not self._thread.is_alive():
                return False
            self._cond.wait(remaining)
        return True

    def _warn_full(self) -> None:
        if self._warned_full:
            return
        self._warned_full = True
        if self.on_full == "block":
            logger.warning("Spanscope's export queue stayed full (%d traces) for %s=%ss; the "
                           "trace is dropped and counted (get_export_stats())", self.capacity,
                           BLOCK_TIMEOUT_ENV, self.block_timeout)
        else:
            logger.warning("Spanscope's export queue is full (%d traces); new traces are "
                           "dropped and counted (get_export_stats()). Set %s=block to make "
                           "producers wait for room (batch jobs, backfills), or raise %s",
                           self.capacity, ON_FULL_ENV, QUEUE_SIZE_ENV)

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until every trace queued before this call is written (or given up on).

        True when all of them were written and no trace was dropped since the previous
        flush (queue full, conversion or write errors); False otherwise or on timeout.
        ``timeout=None`` waits as long as it takes.
        """
        if threading.current_thread() is self._thread:
            return False  # the worker itself (e.g. a traced store) cannot wait for itself
        deadline = None if timeout is None else time.monotonic() + max(timeout, 0.0)
        with self._cond:
            target = self._enqueued
            self._flushers += 1
            try:
                self._cond.notify_all()
                while self._handled < target:
                    if self._thread is None or not self._thread.is_alive():
                        return False
                    remaining = None if deadline is None else deadline - time.monotonic()
                    if remaining is not None and remaining <= 0:
                        return False
                    self._cond.wait(remaining)
                clean = self.dropped == self._dropped_at_flush
                self._dropped_at_flush = self.dropped
                return clean
            finally:
                self._flushers -= 1

    def shutdown(self, timeout: float | None = None) -> bool:
        """Flush within ``timeout``, then stop the worker; later traces are dropped."""
        flushed = self.flush(timeout)
        with self._cond:
            self._shutdown = True
            self._cond.notify_all()
        return flushed

    def stats(self) -> dict[str, int]:
        with self._cond:
            return {"queue_depth": len(self._queue), "queue_capacity": self.capacity,
                    "dropped": self.dropped, "exported": self.exported,
                    "failed_batches": self.failed_batches,
                    "in_flight": self._enqueued - self._handled - len(self._queue),
                    "cleaned_fields": self.cleaned_fields, "blocked": self.blocked}

    def reinit_after_fork(self) -> None:
        """In a child process: the parent's queue and thread are the parent's business."""
        self._init_state()

    # --- worker side ------------------------------------------------------------------
    def _start_worker(self) -> None:
        thread = threading.Thread(target=self._run, name="spanscope-exporter", daemon=True)
        try:
            thread.start()
        except RuntimeError:  # interpreter shutting down: nothing can be written any more
            self._queue.clear()
            self._enqueued -= 1
            self.dropped += 1
            return
        self._thread = thread

    def _run(self) -> None:
        # Whatever the store does (HTTP, SQL drivers) must not be traced by instrumentation.
        otel_context.attach(otel_context.set_value(
            otel_context._SUPPRESS_INSTRUMENTATION_KEY, True))
        while True:
            batch = self._next_batch()
            if batch is None:
                return
            try:
                self._export(batch)
            except Exception:  # worker boundary: keep the thread alive whatever happens
                with self._cond:
                    self.failed += len(batch)
                    self.dropped += len(batch)
                log_once(logger, "exporter.export", "Spanscope failed to export traces")
            finally:
                with self._cond:
                    self._handled += len(batch)
                    self._cond.notify_all()

    def _next_batch(self) -> list[Any] | None:
        with self._cond:
            while not self._queue:
                if self._shutdown:
                    self._thread = None
                    return None
                self._idle = True
                self._cond.wait()
                self._idle = False
            deadline = time.monotonic() + self.linger
            while (len(self._queue) < self.batch_size and not self._flushers
                   and not self._shutdown):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._cond.wait(remaining)
            count = min(self.batch_size, len(self._queue))
            batch = [self._queue.popleft() for _ in range(count)]
            if self.blocked:
                self._cond.notify_all()  # room for producers waiting in block mode
            return batch

    def _export(self, batch: list[Any]) -> None:
        groups: dict[str, list[Trace]] = {}
        lost = 0
        cleaned = 0
        for item in batch:
            try:
                trace = self._convert(item)
            except Exception:
                lost += 1
                log_once(logger, "exporter.convert", "Spanscope could not convert a trace; "
                         "it is dropped")
                continue
            trace, fixes = clean_trace(trace)
            if fixes:
                cleaned += len(fixes)
                log_once(logger, "exporter.cleaned", "Spanscope cut or cleaned %d field(s) of "
                         "trace %s to fit the limits (%s); the trace is kept, the fields are "
                         "listed in its tag %s and counted as cleaned_fields in "
                         "get_export_stats()", len(fixes), trace.info.trace_id,
                         "; ".join(fixes)[:300], CLEANED_FIELDS_TAG, exc_info=False,
                         level=logging.WARNING)
            groups.setdefault(getattr(item, "tracking_uri", ""), []).append(trace)
        if lost or cleaned:
            with self._cond:
                self.failed += lost
                self.dropped += lost
                self.cleaned_fields += cleaned
        for uri, traces in groups.items():
            self._write(uri, traces)

    def _write(self, uri: str, traces: list[Trace]) -> None:
        """Write one group; retry what may pass later, isolate what never will.

        A store that is unavailable (a tracking server down, restarting or saturated:
        ``StoreUnavailableError``) or full (``StorageFullError``, backing off up to
        ``MAX_STORAGE_FULL_BACKOFF``) is waited for as long as it takes, with exponential
        backoff, jitter and its ``retry_after``: the batch stays in flight and new traces
        wait in the bounded queue, dropped (and counted) only when it is full. Only
        ``shutdown`` ends the wait. Other failures are retried ``max_retries`` times.
        """
        delay = self.retry_backoff
        attempt = 0
        unavailable_delay = self.retry_backoff
        while True:
            try:
                self._writer(uri, traces)
            except InvalidInputError as exc:  # e.g. an experiment that does not exist
                if len(traces) > 1:  # a batch is all or nothing: keep the good traces
                    for trace in traces:
                        self._write(uri, [trace])
                    return
                self._give_up(uri, traces, exc, attempt + 1)
                return
            except (StoreUnavailableError, StorageFullError) as exc:
                attempt += 1
                if self._shutdown:
                    self._give_up(uri, traces, exc, attempt)
                    return
                full = isinstance(exc, StorageFullError)
                wait = _backoff(unavailable_delay, getattr(exc, "retry_after", None))
                unavailable_delay = min(unavailable_delay * 2, MAX_STORAGE_FULL_BACKOFF if full
                                        else MAX_UNAVAILABLE_BACKOFF)
                log_once(logger, f"exporter.{'full' if full else 'unavailable'}:{uri}",
                         "Spanscope's tracking store %s is %s (%s); traces wait in the export "
                         "queue and are retried", uri, "full" if full else "unavailable", exc)
                self._sleep(wait)
                continue
            except Exception as exc:
                attempt += 1
                if attempt <= self.max_retries:
                    logger.debug("writing %d traces to %s failed (%s); retrying in %.2fs",
                                 len(traces), uri, exc, delay)
                    time.sleep(delay)
                    delay *= 2
                    continue
                self._give_up(uri, traces, exc, attempt)
                return
            with self._cond:
                self.exported += len(traces)
            return

    def _sleep(self, seconds: float) -> None:
        """Sleep, waking early when the exporter shuts down."""
        deadline = time.monotonic() + seconds
        while not self._shutdown:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            time.sleep(min(remaining, 0.1))

    def _give_up(self, uri: str, traces: list[Trace], exc: Exception, attempts: int) -> None:
        with self._cond:
            self.failed_batches += 1
            self.failed += len(traces)
            self.dropped += len(traces)
        log_once(logger, f"exporter.write:{type(exc).__name__}:{exc}",
                 "Spanscope could not write %d trace(s) to %s (%d attempt(s)); they are "
                 "dropped", len(traces), uri, attempts)
