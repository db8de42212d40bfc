"""``InMemoryStore``: the ``TraceStore`` protocol over dicts, checked against ``SqlStore``."""

from __future__ import annotations

import dataclasses
import threading

import pytest

import spanscope.tracing as tracing
from factories import make_trace, sample_assessments
from spanscope import tracking
from spanscope.entities import Span
from spanscope.exceptions import InvalidInputError, NotFoundError, StoreError
from spanscope.store import TraceStore, open_store
from spanscope.store.memory import InMemoryStore
from spanscope.store.sql.store import SqlStore


@pytest.fixture
def memory() -> InMemoryStore:
    return InMemoryStore("memory://")


def test_open_store_routes_memory_uris_and_it_is_a_trace_store() -> None:
    store = open_store("memory://")
    assert isinstance(store, InMemoryStore)
    assert isinstance(store, TraceStore)
    assert store.uri == "memory://"


def test_experiments(memory: InMemoryStore) -> None:
    assert [(e.experiment_id, e.name) for e in memory.list_experiments()] == [("0", "Default")]
    first = memory.create_experiment("agent-v1")
    second = memory.create_experiment("agent-v2")
    assert (first, second) == ("1", "2")
    assert memory.get_experiment("2").name == "agent-v2"
    assert memory.get_experiment_by_name("agent-v1").experiment_id == "1"
    assert memory.get_experiment_by_name("nope") is None
    with pytest.raises(InvalidInputError, match="already exists"):
        memory.create_experiment("agent-v1")
    with pytest.raises(InvalidInputError):
        memory.create_experiment("  ")
    with pytest.raises(NotFoundError, match="42"):
        memory.get_experiment("42")


def test_round_trip_is_exact_and_reads_are_copies(memory: InMemoryStore) -> None:
    trace = make_trace(5, assessments=sample_assessments(), session_id="s", user_id="u")
    memory.log_traces([trace])
    loaded = memory.get_trace(trace.info.trace_id)
    assert loaded.to_dict() == trace.to_dict()
    loaded.info.tags["mutated"] = "yes"
    trace.info.tags["also"] = "yes"
    assert "mutated" not in memory.get_trace(trace.info.trace_id).info.tags
    assert "also" not in memory.get_trace(trace.info.trace_id).info.tags
    with pytest.raises(NotFoundError):
        memory.get_trace("tr-" + "0" * 32)


def test_a_batch_is_all_or_nothing(memory: InMemoryStore) -> None:
    good, bad = make_trace(), make_trace(experiment_id="77")
    with pytest.raises(InvalidInputError, match="77"):
        memory.log_traces([good, bad])
    assert list(memory.search_traces()) == []


def _upsert_sequence(store: TraceStore) -> list[dict]:
    first = make_trace(3, request_time=1_000, tags={"a": "1", "b": "1"},
                       metadata={"m": "1"}, assessments=sample_assessments()[:1])
    root, *children = first.data.spans
    changed_child = dataclasses.replace(children[0], name="renamed")
    extra_child = Span.build(trace_id=first.info.trace_id, span_id="00000000000000ff",
                             parent_id=root.span_id, name="late-part",
                             start_time_ns=root.start_time_ns + 1, end_time_ns=None)
    second = dataclasses.replace(first, info=dataclasses.replace(
        first.info, tags={"b": "2", "c": "2"}, trace_metadata={"n": "2"}, assessments=[],
        execution_duration=999))
    second.data = dataclasses.replace(first.data, spans=[changed_child, extra_child])
    store.log_traces([first])
    store.log_traces([second])
    stored = store.get_trace(first.info.trace_id)
    return [stored.info.tags, stored.info.trace_metadata, stored.info.execution_duration,
            [a.name for a in stored.info.assessments], sorted(s.name for s in stored.data.spans)]


def test_upsert_merges_like_the_sql_store(memory: InMemoryStore, sqlite_uri: str) -> None:
    ours = _upsert_sequence(memory)
    with SqlStore(sqlite_uri) as sql:
        theirs = _upsert_sequence(sql)
    assert ours[0] == {"a": "1", "b": "2", "c": "2", "mlflow.traceName": "agent"}
    assert ours[2] == 999
    assert ours[3] == ["correctness"]
    assert len(ours[4]) == 4 and {"agent", "renamed", "late-part"} <= set(ours[4])
    assert ours == theirs


def test_search_is_newest_first_with_keyset_pages_like_the_sql_store(
        memory: InMemoryStore, sqlite_uri: str) -> None:
    traces = [make_trace(1, request_time=1_000 + i // 3) for i in range(25)]  # ties too
    other = memory.create_experiment("other")
    extra = make_trace(1, request_time=5_000, experiment_id=other)

    def pages(store: TraceStore) -> list[list[str]]:
        store.log_traces(traces)
        result, token = [], None
        while True:
            page = store.search_traces(["0"], max_results=7, page_token=token)
            result.append([t.info.trace_id for t in page])
            token = page.token
            if token is None:
                return result

    with SqlStore(sqlite_uri) as sql:
        sql.create_experiment("other")
        sql.log_traces([extra])
        expected = pages(sql)
    memory.log_traces([extra])
    assert pages(memory) == expected
    flat = [trace_id for page in expected for trace_id in page]
    assert len(flat) == 25 and len(set(flat)) == 25
    assert [len(p) for p in expected] == [7, 7, 7, 4]
    assert memory.search_traces(max_results=1)[0].info.trace_id == extra.info.trace_id
    assert memory.search_traces([other])[0].info.trace_id == extra.info.trace_id
    assert memory.search_traces("999") == []
    with pytest.raises(InvalidInputError, match="experiment id 'no-such-experiment'"):
        memory.search_traces("no-such-experiment")  # as SqlStore: ids are integers


def test_search_without_spans_and_bad_arguments(memory: InMemoryStore) -> None:
    memory.log_traces([make_trace(4)])
    (info_only,) = memory.search_traces(include_spans=False)
    assert info_only.data.spans == [] and info_only.info.tags["mlflow.traceName"] == "agent"
    for bad in (0, -1, 1.5, True):
        with pytest.raises(InvalidInputError, match="max_results"):
            memory.search_traces(max_results=bad)
    with pytest.raises(InvalidInputError, match="page_token"):
        memory.search_traces(page_token="not-a-token")


def test_concurrent_writers(memory: InMemoryStore) -> None:
    def write(batch: int) -> None:
        for _ in range(25):
            memory.log_traces([make_trace(2) for _ in range(4)])

    threads = [threading.Thread(target=write, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(memory.search_traces(max_results=10_000)) == 8 * 25 * 4


def test_a_closed_store_refuses_work(memory: InMemoryStore) -> None:
    memory.close()
    with pytest.raises(StoreError, match="closed"):
        memory.search_traces()
    with pytest.raises(StoreError, match="closed"):
        memory.log_traces([make_trace()])


def test_the_tracing_sdk_can_write_to_a_memory_store() -> None:
    tracking.set_tracking_uri("memory://")

    @tracing.trace
    def f(x):
        return x * 2

    f(21)
    assert tracing.flush(30)
    (trace,) = tracking.get_store().search_traces()
    assert trace.data.spans[0].outputs == 42
