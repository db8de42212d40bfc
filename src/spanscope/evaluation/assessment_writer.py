"""One thread that writes an evaluation's scores to the store as assessments.

Rows are scored by many threads at once; if each wrote its own assessments they would
queue on the database's write lock (SQLite allows one writer, and its busy waits are
coarse), and that wait would be spent holding a worker that could be calling a judge.
Workers hand their scores to this writer instead and move on. Before each batch the
writer flushes the tracing SDK, so a trace a prediction just produced is stored before
assessments attach to it. A write that fails is logged and skipped: a score that could
not be stored never fails the evaluation (it is still in the result table).
"""

from __future__ import annotations

import dataclasses
import logging
import queue
import threading
import uuid
from collections.abc import Sequence
from typing import TYPE_CHECKING

from spanscope import tracking
from spanscope.entities import Feedback
from spanscope.exceptions import SpanscopeError

if TYPE_CHECKING:
    from spanscope.store.base import AssessmentStore

__all__ = ["AssessmentWriter"]

logger = logging.getLogger(__name__)

_STOP = object()


class AssessmentWriter:
    """``put(trace_id, feedbacks)`` from any thread; ``close()`` waits until all are written."""

    def __init__(self, run_id: str, *, flush_traces: bool) -> None:
        self.run_id = run_id
        self.flush_traces = flush_traces
        self.written = 0
        self.failed = 0
        self._queue: queue.SimpleQueue[object] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="spanscope-eval-writer",
                                        daemon=True)
        self._thread.start()

    def put(self, trace_id: str, feedbacks: Sequence[Feedback]) -> None:
        if feedbacks:
            self._queue.put((trace_id, list(feedbacks)))

    def close(self) -> None:
        self._queue.put(_STOP)
        self._thread.join()

    def _run(self) -> None:
        store = tracking.get_store()
        while True:
            batch = [self._queue.get()]
            while True:  # take whatever else is waiting: one flush for all of it
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            stop = _STOP in batch
            items = [item for item in batch if item is not _STOP]
            if items:
                try:
                    self._write(store, items)  # type: ignore[arg-type]
                except Exception:  # the thread boundary: report, keep serving
                    logger.exception("evaluate(): could not store assessments")
            if stop:
                return

    def _write(self, store: AssessmentStore, items: list[tuple[str, list[Feedback]]]) -> None:
        if self.flush_traces:
            from spanscope.tracing import flush

            flush(timeout=30)
        for trace_id, feedbacks in items:
            for feedback in feedbacks:
                stored = dataclasses.replace(feedback, trace_id=trace_id, run_id=self.run_id,
                                             assessment_id="a-" + uuid.uuid4().hex)
                try:
                    store.create_assessment(stored)
                    self.written += 1
                except SpanscopeError as exc:
                    self.failed += 1
                    logger.warning("evaluate(): could not store %r on trace %s: %s",
                                   feedback.name, trace_id, exc)
