"""IngestQueue: group commits, 2xx means committed, bounded pending traces, drain on close."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence

import pytest
from tests.factories import make_trace

from spanscope.entities import Trace
from spanscope.exceptions import InvalidInputError
from spanscope.server.ingest import IngestQueue, Saturated
from spanscope.store.sql import SqlStore


class _GatedStore:
    """A real store whose ``log_traces`` waits on a gate, to hold a commit in flight."""

    def __init__(self, store: SqlStore) -> None:
        self.store = store
        self.gate = threading.Event()
        self.calls: list[int] = []

    def log_traces(self, traces: Sequence[Trace]) -> None:
        self.gate.wait(10)
        self.calls.append(len(traces))
        self.store.log_traces(traces)

    def __getattr__(self, name: str) -> object:
        return getattr(self.store, name)


def test_concurrent_writers_share_commits_and_each_returns_committed(store: SqlStore) -> None:
    async def main() -> None:
        queue = IngestQueue(store)
        await queue.start()
        traces = [make_trace(3) for _ in range(40)]

        async def one(trace: Trace) -> None:
            await queue.write([trace])
            store.get_trace(trace.info.trace_id)  # committed once write returns

        await asyncio.gather(*(one(t) for t in traces))
        stats = queue.stats()
        await queue.close()
        assert stats["accepted"] == stats["persisted"] == 40
        assert stats["queue_depth"] == 0
        assert stats["batches"] < 40  # grouped
        assert stats["persisted_spans"] == 120

    asyncio.run(main())


def test_full_queue_raises_saturated_and_close_drains(sqlite_uri: str) -> None:
    store = SqlStore(sqlite_uri)
    gated = _GatedStore(store)

    async def main() -> None:
        queue = IngestQueue(gated, max_pending_traces=10)  # type: ignore[arg-type]
        await queue.start()
        tasks = [asyncio.create_task(queue.write([make_trace(2) for _ in range(8)]))]
        await asyncio.sleep(0.05)
        with pytest.raises(Saturated) as caught:
            await queue.write([make_trace(2) for _ in range(3)])
        assert caught.value.retry_after >= 1
        tasks.append(asyncio.create_task(queue.write([make_trace(2) for _ in range(2)])))
        await asyncio.sleep(0.05)
        assert queue.stats()["queue_depth"] == 10
        gated.gate.set()
        tasks.append(asyncio.create_task(queue.close()))
        await asyncio.gather(*tasks)
        stats = queue.stats()
        assert (stats["accepted"], stats["rejected"], stats["persisted"]) == (10, 3, 10)
        with pytest.raises(Saturated):  # closed: refuses, never queues
            await queue.write([make_trace(1)])

    try:
        asyncio.run(main())
        assert len(store.search_trace_ids()) == 10
    finally:
        store.close()


def test_a_bad_write_fails_alone(store: SqlStore) -> None:
    async def main() -> None:
        queue = IngestQueue(store)
        await queue.start()
        good = [make_trace(2) for _ in range(3)]
        bad = [make_trace(2, experiment_id="999")]
        results = await asyncio.gather(queue.write(good[:2]), queue.write(bad),
                                       queue.write(good[2:]), return_exceptions=True)
        await queue.close()
        assert results[0] is None and results[2] is None
        assert isinstance(results[1], InvalidInputError)
        assert queue.stats()["failed"] == 1

    asyncio.run(main())
    assert len(store.search_trace_ids()) == 3
