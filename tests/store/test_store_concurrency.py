"""Several processes logging into one store at once: nothing lost, nothing duplicated."""

from __future__ import annotations

import multiprocessing
import queue

import pytest
import sqlalchemy as sa

from factories import make_trace
from spanscope.entities import Trace, TraceData
from spanscope.store.sql import SqlStore
from spanscope.store.sql.engine import parse_uri

PROCESSES = 4
BATCHES = 50
BATCH_SIZE = 10


def _collect(results: multiprocessing.Queue, n: int) -> list[tuple[str, object]]:
    try:
        return [results.get(timeout=300) for _ in range(n)]
    except queue.Empty:
        pytest.fail("a logging process did not report back within 300 s")


def _log_batches(uri: str, worker: int, start: multiprocessing.synchronize.Barrier,
                 results: multiprocessing.Queue) -> None:
    try:
        store = SqlStore(uri)
        start.wait(60)
        ids = []
        for batch in range(BATCHES):
            traces = [make_trace(3, request_time=1_000_000 + batch * 100 + i,
                                 tags={"worker": str(worker)}) for i in range(BATCH_SIZE)]
            store.log_traces(traces)
            ids.extend(t.info.trace_id for t in traces)
        store.close()
        results.put(("ok", ids))
    except BaseException as exc:
        results.put(("error", repr(exc)))


@pytest.mark.slow
def test_processes_logging_concurrently_lose_nothing(store_uri: str) -> None:
    SqlStore(store_uri).close()  # created up front: this test is about logging, not migrating
    ctx = multiprocessing.get_context("spawn")
    start, results = ctx.Barrier(PROCESSES), ctx.Queue()
    workers = [ctx.Process(target=_log_batches, args=(store_uri, w, start, results))
               for w in range(PROCESSES)]
    for worker in workers:
        worker.start()
    outcomes = _collect(results, PROCESSES)
    for worker in workers:
        worker.join(30)
    assert [kind for kind, _ in outcomes] == ["ok"] * PROCESSES, outcomes
    logged = [trace_id for _, ids in outcomes for trace_id in ids]  # type: ignore[union-attr]

    with SqlStore(store_uri) as store:
        stored, token = [], None
        while True:
            page = store.search_traces(max_results=500, page_token=token, include_spans=False)
            stored.extend(t.info.trace_id for t in page)
            token = page.token
            if token is None:
                break
        assert len(stored) == PROCESSES * BATCHES * BATCH_SIZE == 2000
        assert sorted(stored) == sorted(logged)
        assert len(set(stored)) == 2000
        sample = store.get_trace(logged[-1])
        assert len(sample.data.spans) == 3


def _log_parts(uri: str, worker: int, traces: list[str], start: multiprocessing.synchronize.
               Barrier, results: multiprocessing.Queue) -> None:
    """Log this worker's share of every trace's spans, one trace per batch."""
    try:
        store = SqlStore(uri)
        start.wait(60)
        for text in traces:
            full = Trace.from_json(text)
            mine = full.data.spans[worker::PROCESSES]
            full.info.tags = {f"worker{worker}": "yes"}
            store.log_traces([Trace(full.info, TraceData(mine))])
        store.close()
        results.put(("ok", None))
    except BaseException as exc:
        results.put(("error", repr(exc)))


@pytest.mark.slow
def test_processes_upserting_the_same_traces_merge_all_parts(store_uri: str) -> None:
    SqlStore(store_uri).close()
    traces = [make_trace(8) for _ in range(25)]
    texts = [t.to_json() for t in traces]
    ctx = multiprocessing.get_context("spawn")
    start, results = ctx.Barrier(PROCESSES), ctx.Queue()
    workers = [ctx.Process(target=_log_parts, args=(store_uri, w, texts, start, results))
               for w in range(PROCESSES)]
    for worker in workers:
        worker.start()
    outcomes = _collect(results, PROCESSES)
    for worker in workers:
        worker.join(30)
    assert [kind for kind, _ in outcomes] == ["ok"] * PROCESSES, outcomes
    with SqlStore(store_uri) as store:
        for trace in traces:
            got = store.get_trace(trace.info.trace_id)
            assert {s.span_id for s in got.data.spans} == {s.span_id for s in trace.data.spans}
            assert set(got.info.tags) == {f"worker{w}" for w in range(PROCESSES)}
    engine = sa.create_engine(parse_uri(store_uri))
    with engine.connect() as conn:  # the summary saw every part too
        counts = conn.execute(sa.text("SELECT DISTINCT span_count FROM traces")).scalars()
        assert list(counts) == [8]
    engine.dispose()
