"""Context propagation (threads, asyncio), disable/enable and sampling."""

from __future__ import annotations

import asyncio
import contextvars
import logging
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from opentelemetry.context import Context
from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased
from opentelemetry.trace import (
    NonRecordingSpan,
    SpanContext,
    TraceFlags,
    TraceState,
    set_span_in_context,
)

import spanscope.tracing as tracing
from spanscope.testing import reset_tracing
from spanscope.tracing.provider import RatioSampler, sampling_ratio


@tracing.trace
def work(item: int) -> int:
    return item * 10


def test_threads_started_with_copy_context_nest_under_the_caller(read_trace) -> None:
    @tracing.trace
    def fan_out():
        threads = []
        for i in range(4):
            ctx = contextvars.copy_context()
            thread = threading.Thread(target=ctx.run, args=(work, i))
            threads.append(thread)
            thread.start()
        for thread in threads:
            thread.join()
        return "ok"

    fan_out()
    trace = read_trace()
    root = trace.data.spans[0]
    children = trace.data.spans[1:]
    assert root.name == "fan_out"
    assert sorted(s.inputs["item"] for s in children) == [0, 1, 2, 3]
    assert {s.parent_id for s in children} == {root.span_id}


def test_threads_without_context_start_their_own_traces(read_traces) -> None:
    @tracing.trace
    def parent():
        with ThreadPoolExecutor(2) as pool:
            return list(pool.map(work, range(3)))

    assert parent() == [0, 10, 20]
    traces = read_traces()
    assert len(traces) == 4  # the pool's threads do not inherit the context
    assert sorted(len(t.data.spans) for t in traces) == [1, 1, 1, 1]


def test_concurrent_traces_in_threads_do_not_mix(read_traces) -> None:
    @tracing.trace
    def request(n: int) -> int:
        return sum(work(i) for i in range(n))

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(request, range(1, 41)))
    assert results[-1] == sum(i * 10 for i in range(40))
    traces = read_traces()
    assert len(traces) == 40
    for trace in traces:
        root = trace.data.spans[0]
        n = root.inputs["n"]
        assert len(trace.data.spans) == n + 1
        assert all(s.parent_id == root.span_id for s in trace.data.spans[1:])


def test_asyncio_gather_tasks_nest_under_the_awaiting_span(read_trace) -> None:
    @tracing.trace
    async def fetch(doc: int) -> str:
        await asyncio.sleep(0.001 * (3 - doc))  # finish in reverse order
        return f"doc-{doc}"

    @tracing.trace
    async def retrieve() -> list[str]:
        return await asyncio.gather(*(fetch(i) for i in range(3)))

    assert asyncio.run(retrieve()) == ["doc-0", "doc-1", "doc-2"]
    trace = read_trace()
    root, *children = trace.data.spans
    assert root.name == "retrieve"
    assert [c.inputs["doc"] for c in children] == [0, 1, 2]  # start order
    assert {c.parent_id for c in children} == {root.span_id}


def test_independent_asyncio_tasks_are_separate_traces(read_traces) -> None:
    @tracing.trace
    async def handle(i: int) -> int:
        await asyncio.sleep(0)
        return i

    async def main():
        return await asyncio.gather(*(asyncio.create_task(handle(i)) for i in range(5)))

    asyncio.run(main())
    traces = read_traces()
    assert len(traces) == 5
    assert all(len(t.data.spans) == 1 for t in traces)


def test_disable_makes_tracing_a_no_op(read_traces) -> None:
    tracing.disable()
    assert not tracing.is_enabled()
    assert work(2) == 20
    with tracing.start_span("ignored") as span:
        span.set_inputs({"a": 1})
        span.set_attribute("x", 1)
        span.add_event("e")
        span.record_exception(ValueError("x"))
        span.end()
        assert isinstance(span, tracing.NoOpSpan)
        assert span.span_id is None and span.trace_id is None
    assert tracing.get_current_active_span() is None
    assert read_traces() == []
    tracing.enable()
    assert tracing.is_enabled()
    assert work(3) == 30
    assert [t.data.spans[0].inputs for t in read_traces()] == [{"item": 3}]


def test_disabling_mid_trace_drops_that_trace(read_traces) -> None:
    @tracing.trace
    def root():
        tracing.disable()
        return work(1)

    root()
    tracing.enable()
    assert read_traces() == []


def test_sampling_ratio_zero_writes_nothing(monkeypatch: pytest.MonkeyPatch, read_traces) -> None:
    monkeypatch.setenv("SPANSCOPE_TRACE_SAMPLING_RATIO", "0")
    reset_tracing()

    @tracing.trace
    def root():
        with tracing.start_span("child") as span:
            assert isinstance(span, tracing.NoOpSpan)
        tracing.update_current_trace(tags={"x": "1"})  # sampled out: silently nothing
        return work(1)

    for _ in range(20):
        assert root() == 10
    assert read_traces() == []
    assert tracing.get_last_active_trace_id() is None


def test_sampling_ratio_half_keeps_whole_traces(monkeypatch: pytest.MonkeyPatch,
                                                 read_traces) -> None:
    monkeypatch.setenv("SPANSCOPE_TRACE_SAMPLING_RATIO", "0.5")
    reset_tracing()

    @tracing.trace
    def root():
        return work(1) + work(2)

    for _ in range(200):
        root()
    traces = read_traces()
    assert 50 < len(traces) < 150
    assert all(len(t.data.spans) == 3 for t in traces)  # parent-based: never partial


@pytest.mark.parametrize("raw", ["abc", "1.5", "-0.1", "nan"])
def test_bad_sampling_ratio_warns_and_samples_everything(
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, raw: str) -> None:
    monkeypatch.setenv("SPANSCOPE_TRACE_SAMPLING_RATIO", raw)
    with caplog.at_level(logging.WARNING):
        assert sampling_ratio() == 1.0
    assert "SPANSCOPE_TRACE_SAMPLING_RATIO" in caplog.text


def test_ratio_sampler_decides_exactly_like_parent_based_trace_id_ratio() -> None:
    import random

    rng = random.Random(7)
    for ratio in (0.0, 0.25, 0.5, 1.0):
        ours, reference = RatioSampler(ratio), ParentBased(TraceIdRatioBased(ratio))
        assert ours.get_description() == reference.get_description()
        parents: list[Context | None] = [None]
        for remote in (False, True):
            for sampled in (False, True):
                for state in (TraceState(), TraceState([("vendor", "v")])):
                    span_context = SpanContext(
                        rng.getrandbits(128), rng.getrandbits(64), is_remote=remote,
                        trace_flags=TraceFlags(TraceFlags.SAMPLED if sampled else 0),
                        trace_state=state)
                    parents.append(set_span_in_context(NonRecordingSpan(span_context)))
        for parent in parents:
            for _ in range(50):
                trace_id = rng.getrandbits(128)
                for attributes in (None, {"a": "1"}):
                    a = ours.should_sample(parent, trace_id, "s", attributes=attributes)
                    b = reference.should_sample(parent, trace_id, "s", attributes=attributes)
                    assert a.decision == b.decision
                    assert dict(a.attributes) == dict(b.attributes)
                    assert (a.trace_state or TraceState()) == (b.trace_state or TraceState())
