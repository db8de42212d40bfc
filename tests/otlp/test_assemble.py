"""Trace parts from several server processes: the last writer leaves the summary whole."""

from __future__ import annotations

import asyncio
import random

from tests.factories import new_span_id, new_trace_id

from spanscope.entities import (
    Span,
    SpanStatus,
    SpanStatusCode,
    Trace,
    TraceData,
    TraceInfo,
    TraceState,
)
from spanscope.server.assemble import merge_parts, resettle
from spanscope.server.ingest import IngestQueue
from spanscope.store.sql import SqlStore

NS = 1_000_000_000


def part(trace_id: str, span_id: str, parent: str | None, name: str, start: int,
         end: int, usage: int = 0) -> Trace:
    raw = {"mlflow.spanType": '"LLM"'}
    if usage:
        raw["gen_ai.usage.input_tokens"] = str(usage)
        raw["mlflow.chat.tokenUsage"] = (f'{{"input_tokens": {usage}, "output_tokens": 0, '
                                         f'"total_tokens": {usage}}}')
    span = Span(trace_id, span_id, parent, name, start, end, SpanStatus(SpanStatusCode.OK),
                raw)
    return Trace(TraceInfo(trace_id), TraceData([span]))


def test_a_stale_summary_from_a_race_is_resettled(store: SqlStore) -> None:
    trace_id, root_id = new_trace_id(), new_span_id()
    root = part(trace_id, root_id, None, "root", NS, 10 * NS)
    child = part(trace_id, new_span_id(), root_id, "child", 2 * NS, 3 * NS, usage=7)
    seen_a: dict[str, frozenset[str]] = {}
    seen_b: dict[str, frozenset[str]] = {}
    merged_a = merge_parts(store, [root], seen_a)  # both processes read before either
    merged_b = merge_parts(store, [child], seen_b)  # commits
    store.log_traces(merged_a)
    store.log_traces(merged_b)  # the child-only summary lands last: stale
    assert store.get_trace(trace_id).info.state == TraceState.IN_PROGRESS
    again, seen = resettle(store, seen_b)
    assert len(again) == 1 and not again[0].data.spans
    store.log_traces(again)
    info = store.get_trace(trace_id).info
    assert info.state == TraceState.OK and info.execution_duration == 9_000
    assert info.token_usage == {"input_tokens": 7, "output_tokens": 0, "total_tokens": 7}
    assert resettle(store, seen) == ([], {})  # stable now


def test_two_queues_on_one_store_agree(store_uri: str) -> None:
    stores = [SqlStore(store_uri), SqlStore(store_uri)]
    trace_id, root_id = new_trace_id(), new_span_id()
    parts = [part(trace_id, root_id, None, "root", NS, 50 * NS)] + [
        part(trace_id, new_span_id(), root_id, f"c{i}", (i + 2) * NS, (i + 3) * NS, usage=1)
        for i in range(30)]
    random.Random(3).shuffle(parts)

    async def main() -> None:
        queues = [IngestQueue(s, shared_store=True) for s in stores]
        for queue in queues:
            await queue.start()
        await asyncio.gather(*(queues[i % 2].write([p], partial=True)
                               for i, p in enumerate(parts)))
        for queue in queues:
            await queue.close()

    try:
        asyncio.run(main())
        trace = stores[0].get_trace(trace_id)
        assert len(trace.data.spans) == 31
        assert trace.info.state == TraceState.OK
        assert trace.info.token_usage == {"input_tokens": 30, "output_tokens": 0,
                                          "total_tokens": 30}
    finally:
        for s in stores:
            s.close()
