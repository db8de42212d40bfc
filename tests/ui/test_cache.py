"""The UI's cache of just-loaded traces: what a trace page's pieces reuse, and its bounds."""

from __future__ import annotations

import dataclasses

from tests.factories import make_trace

from spanscope.entities import Trace, TraceData
from spanscope.server.ui.cache import TraceCache


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _loader(traces: dict[str, Trace], reads: list[str]):
    def load(trace_id: str) -> Trace:
        reads.append(trace_id)
        return traces[trace_id]
    return load


def test_a_piece_reuses_the_trace_its_page_read_until_it_is_too_old() -> None:
    clock, reads = Clock(), []
    trace = make_trace(5)
    cache = TraceCache(ttl_s=60, clock=clock)
    load = _loader({trace.info.trace_id: trace}, reads)
    cache.put(trace)
    assert cache.get(trace.info.trace_id, load) is trace and reads == []
    clock.now = 61
    assert cache.get(trace.info.trace_id, load) is trace and reads == [trace.info.trace_id]
    assert cache.get(trace.info.trace_id, load) is trace and len(reads) == 1


def test_derived_values_are_computed_once_per_cached_copy() -> None:
    cache, calls = TraceCache(), []
    trace = make_trace(4)

    def rows(t: Trace) -> int:
        calls.append(t)
        return len(t.data.spans)

    assert cache.derived(trace, "rows", rows) == 4 and len(calls) == 1  # not cached: made
    cache.put(trace)
    assert cache.derived(trace, "rows", rows) == 4
    assert cache.derived(trace, "rows", rows) == 4 and len(calls) == 2
    again = Trace(trace.info, TraceData(list(trace.data.spans)))
    cache.put(again)  # a page read it again, unchanged: what was derived stays
    assert cache.derived(again, "rows", rows) == 4 and len(calls) == 2
    fresh = make_trace(4, trace_id=trace.info.trace_id)  # other spans
    cache.put(fresh)  # what was derived from the old copy goes
    assert cache.derived(fresh, "rows", rows) == 4 and len(calls) == 3
    tagged = Trace(dataclasses.replace(fresh.info, tags={**fresh.info.tags, "k": "v"}),
                   fresh.data)
    cache.put(tagged)
    assert cache.derived(tagged, "rows", rows) == 4 and len(calls) == 4


def test_bounded_by_spans_held_oldest_out_first() -> None:
    cache = TraceCache(max_spans=25, max_traces=10)
    small = [make_trace(10) for _ in range(3)]
    for trace in small:
        cache.put(trace)
    assert len(cache) == 2 and cache.spans == 20  # the first went
    reads: list[str] = []
    load = _loader({t.info.trace_id: t for t in small}, reads)
    cache.get(small[0].info.trace_id, load)
    assert reads == [small[0].info.trace_id]
    huge = make_trace(30)
    cache.put(huge)  # bigger than the whole cache: not kept, nothing else lost
    assert len(cache) == 2 and cache.spans == 20
    cache.get(huge.info.trace_id, _loader({huge.info.trace_id: huge}, reads))
    assert reads[-1] == huge.info.trace_id
