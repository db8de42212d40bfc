"""A short-lived, bounded cache of the traces the UI has just loaded.

A trace page is one request for the page and then several for its pieces: the rest of
the span tree as the reader scrolls (a chunk at a time), the findings of ``diagnose``, a
span's inputs and outputs. Each needs the whole trace, and reading a 10,000-span trace
from the store costs far more than drawing a chunk of it, so the page puts what it read
here and its pieces take it from here: a chunk then costs only its own rows.

The page itself always reads the store afresh (a reload shows new spans, tags and
assessments), so a cached trace is at most ``ttl_s`` older than the page showing it; what
was derived from a copy (findings take a 10,000-span trace half a second) is kept for the
fresh one when the trace is finished and unchanged.
Bounded by the number of spans held (big traces evict the oldest entries) and by age.
Derived values a trace's pieces share (its full list of tree rows, its findings) are
kept with the entry and go with it.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from spanscope.entities import Trace

__all__ = ["TraceCache"]

T = TypeVar("T")


@dataclass
class _Entry:
    trace: Trace
    loaded_at: float
    spans: int
    derived: dict[str, Any] = field(default_factory=dict)


class TraceCache:
    """Traces by id, at most ``max_spans`` spans in all and none older than ``ttl_s``.

    Thread-safe: the page handlers run in a thread pool. Loading happens outside the
    lock, so two requests for the same uncached trace may both read it (the later one's
    copy stays); nothing waits on another request's read.
    """

    def __init__(self, *, max_spans: int = 60_000, max_traces: int = 64, ttl_s: float = 120.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.max_spans, self.max_traces, self.ttl_s = max_spans, max_traces, ttl_s
        self._clock = clock
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        self._spans = 0
        self._lock = threading.Lock()

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    @property
    def spans(self) -> int:
        """Spans held now."""
        return self._spans

    def put(self, trace: Trace) -> Trace:
        """Keep ``trace``, replacing an older copy; what was derived from that copy stays
        when the trace is finished and nothing it is drawn from changed (``_same``)."""
        entry = _Entry(trace, self._clock(), len(trace.data.spans))
        with self._lock:
            old = self._entries.get(trace.info.trace_id)
            if old is not None and _same(old.trace, trace):
                entry.derived = old.derived
            self._drop(trace.info.trace_id)
            if entry.spans <= self.max_spans:
                self._entries[trace.info.trace_id] = entry
                self._spans += entry.spans
            self._evict()
        return trace

    def get(self, trace_id: str, load: Callable[[str], Trace]) -> Trace:
        """The cached trace, or ``load(trace_id)`` kept for the next piece."""
        entry = self._entry(trace_id)
        return entry.trace if entry is not None else self.put(load(trace_id))

    def derived(self, trace: Trace, name: str, make: Callable[[Trace], T]) -> T:
        """``make(trace)``, computed once per cached copy of ``trace`` (uncached traces:
        every time)."""
        entry = self._entry(trace.info.trace_id)
        if entry is None or entry.trace is not trace:
            return make(trace)
        if name not in entry.derived:
            entry.derived[name] = make(trace)  # a race computes it twice, harmlessly
        return entry.derived[name]

    def _entry(self, trace_id: str) -> _Entry | None:
        with self._lock:
            entry = self._entries.get(trace_id)
            if entry is None:
                return None
            if self._clock() - entry.loaded_at > self.ttl_s:
                self._drop(trace_id)
                return None
            self._entries.move_to_end(trace_id)
            return entry

    def _drop(self, trace_id: str) -> None:
        old = self._entries.pop(trace_id, None)
        if old is not None:
            self._spans -= old.spans

    def _evict(self) -> None:
        now = self._clock()
        for trace_id in [k for k, e in self._entries.items() if now - e.loaded_at > self.ttl_s]:
            self._drop(trace_id)
        while self._entries and (self._spans > self.max_spans
                                 or len(self._entries) > self.max_traces):
            self._drop(next(iter(self._entries)))


def _same(old: Trace, new: Trace) -> bool:
    """Whether tree rows and findings made from ``old`` hold for ``new``: a finished trace
    whose spans, state, duration, tags and assessments are as they were (a reload of an
    unchanged trace does not diagnose it again)."""
    a, b = old.info, new.info
    return (str(b.state) != "IN_PROGRESS" and a.state == b.state
            and a.execution_duration == b.execution_duration and a.tags == b.tags
            and [(x.assessment_id, x.valid) for x in a.assessments]
            == [(x.assessment_id, x.valid) for x in b.assessments]
            and [s.span_id for s in old.data.spans] == [s.span_id for s in new.data.spans])
