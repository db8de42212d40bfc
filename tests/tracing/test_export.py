"""Export off the hot path: bounded queue, batches, flush, drops, failures, shutdown.

Writers here are real: they write to the test's SQLite store through
``spanscope.tracking``, and a test that needs a slow or failing store wraps that write
(the exporter's ``writer`` seam) with a gate or an error.
"""

from __future__ import annotations

import contextvars
import logging
import os
import threading
import time
from collections.abc import Sequence

import pytest

import spanscope.tracing as tracing
from spanscope import tracking
from spanscope.entities import Trace
from spanscope.exceptions import StoreError
from spanscope.testing import reset_tracing
from spanscope.tracing.convert import to_trace
from spanscope.tracing.exporter import TraceExporter


def store_write(uri: str, traces: Sequence[Trace]) -> None:
    tracking.get_store(uri).log_traces(traces)


class GatedWriter:
    """Writes to the real store, but only once the test opens the gate."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.gate = threading.Event()
        self.batches: list[int] = []

    def __call__(self, uri: str, traces: Sequence[Trace]) -> None:
        self.entered.set()
        assert self.gate.wait(30), "test never opened the gate"
        self.batches.append(len(traces))
        store_write(uri, traces)


@tracing.trace
def traced(i: int) -> int:
    return i


def run_in_thread(fn, timeout: float = 20.0) -> None:
    """Run ``fn`` on a thread and fail if it does not finish: the app must never block."""
    errors: list[BaseException] = []

    def target() -> None:
        try:
            fn()
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    thread = threading.Thread(target=target)
    thread.start()
    thread.join(timeout)
    assert not thread.is_alive(), "the application thread blocked"
    assert not errors, errors


def test_traces_are_written_in_batches(read_traces) -> None:
    sizes: list[int] = []

    def writer(uri: str, traces: Sequence[Trace]) -> None:
        sizes.append(len(traces))
        store_write(uri, traces)

    reset_tracing(TraceExporter(writer=writer, linger=0.5))
    for i in range(1200):
        traced(i)
    assert len(read_traces()) == 1200
    assert sum(sizes) == 1200
    assert max(sizes) <= 500
    assert len(sizes) < 20  # batched, not one write per trace
    stats = tracing.get_export_stats()
    assert stats["exported"] == 1200 and stats["dropped"] == 0 and stats["queue_depth"] == 0


def test_full_queue_drops_new_traces_counts_and_warns_once(
        read_traces, caplog: pytest.LogCaptureFixture) -> None:
    writer = GatedWriter()
    reset_tracing(TraceExporter(capacity=2, writer=writer, linger=0))
    traced(0)
    assert writer.entered.wait(10)  # the worker holds trace 0 and waits at the gate
    with caplog.at_level(logging.WARNING, logger="spanscope"):
        run_in_thread(lambda: [traced(i) for i in range(1, 6)])
    stats = tracing.get_export_stats()
    assert stats["queue_depth"] == 2 and stats["queue_capacity"] == 2
    assert stats["dropped"] == 3
    assert caplog.text.count("export queue is full") == 1
    writer.gate.set()
    assert tracing.flush(timeout=30) is False  # traces were dropped since the last flush
    assert sorted(t.data.spans[0].inputs["i"] for t in read_traces()) == [0, 1, 2]
    assert tracing.get_export_stats()["exported"] == 3


def test_queue_size_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SPANSCOPE_EXPORT_QUEUE_SIZE", "7")
    assert TraceExporter().capacity == 7
    monkeypatch.setenv("SPANSCOPE_EXPORT_QUEUE_SIZE", "lots")
    assert TraceExporter().capacity == 10_000


def test_flush_times_out_while_the_store_is_slow_then_succeeds(read_traces) -> None:
    writer = GatedWriter()
    reset_tracing(TraceExporter(writer=writer))
    run_in_thread(lambda: [traced(i) for i in range(10)])  # never blocked by the store
    started = time.monotonic()
    assert tracing.flush(timeout=0.3) is False
    assert 0.25 <= time.monotonic() - started < 5
    writer.gate.set()
    assert tracing.flush(timeout=30) is True
    assert len(read_traces()) == 10


def test_flush_waits_only_for_traces_queued_before_it(uri) -> None:
    writer = GatedWriter()
    exporter = TraceExporter(writer=writer, linger=0)
    reset_tracing(exporter)
    assert tracing.flush(timeout=0.1) is True  # nothing queued yet
    traced(1)
    results: list[bool] = []
    waiter = threading.Thread(target=lambda: results.append(tracing.flush(timeout=30)))
    waiter.start()
    time.sleep(0.05)
    assert waiter.is_alive()  # waiting for trace 1
    writer.gate.set()
    waiter.join(10)
    assert results == [True]


def test_concurrent_flushes_all_return_true(read_traces) -> None:
    def worker(n: int) -> None:
        for i in range(n):
            traced(i)
        assert tracing.flush(timeout=30)

    threads = [threading.Thread(target=worker, args=(50,)) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert len(read_traces()) == 200


def test_transient_write_errors_are_retried(read_traces) -> None:
    failures = [StoreError("database is locked"), StoreError("database is locked")]

    def flaky(uri: str, traces: Sequence[Trace]) -> None:
        if failures:
            raise failures.pop()
        store_write(uri, traces)

    reset_tracing(TraceExporter(writer=flaky, retry_backoff=0.01))
    traced(1)
    assert len(read_traces()) == 1
    stats = tracing.get_export_stats()
    assert stats["dropped"] == 0 and stats["failed_batches"] == 0 and stats["exported"] == 1


def test_a_store_that_cannot_be_opened_drops_counts_and_logs_once(
        tmp_path, caplog: pytest.LogCaptureFixture) -> None:
    (tmp_path / "file").write_text("not a directory")
    tracking.set_tracking_uri(f"sqlite:///{tmp_path}/file/traces.db")  # cannot exist
    reset_tracing(TraceExporter(retry_backoff=0.01))
    with caplog.at_level(logging.ERROR, logger="spanscope"):
        for i in range(3):
            assert traced(i) == i  # the application is unaffected
            assert tracing.flush(timeout=30) is False  # ... but told the traces were lost
    stats = tracing.get_export_stats()
    assert stats["dropped"] == 3 and stats["failed_batches"] == 3 and stats["exported"] == 0
    assert caplog.text.count("could not write") == 1  # once per distinct error


def test_a_trace_for_a_missing_experiment_does_not_sink_its_batch(
        monkeypatch: pytest.MonkeyPatch, uri) -> None:
    reset_tracing(TraceExporter(linger=1.0))
    monkeypatch.setenv("SPANSCOPE_EXPERIMENT_ID", "999")
    traced(1)  # lands in a batch with the next one, and is rejected by the store
    monkeypatch.delenv("SPANSCOPE_EXPERIMENT_ID")
    traced(2)
    assert tracing.flush(timeout=30) is False
    stored = tracking.get_store().search_traces()
    assert [t.data.spans[0].inputs for t in stored] == [{"i": 2}]
    assert tracing.get_export_stats()["dropped"] == 1


def test_a_conversion_error_never_reaches_the_app(
        read_traces, caplog: pytest.LogCaptureFixture) -> None:
    def convert(item):
        if item.root.name == "poison":
            raise ZeroDivisionError("broken converter")
        return to_trace(item)

    reset_tracing(TraceExporter(convert=convert))

    @tracing.trace
    def poison():
        return "still works"

    with caplog.at_level(logging.ERROR, logger="spanscope"):
        assert poison() == "still works"
        traced(1)
        assert poison() == "still works"
        assert tracing.flush(timeout=30) is False
    assert [t.data.spans[0].name for t in read_traces()] == ["traced"]
    assert tracing.get_export_stats()["dropped"] == 2
    assert caplog.text.count("could not convert") == 1
    assert "ZeroDivisionError" in caplog.text  # logged with its traceback


def test_shutdown_keeps_its_deadline_and_later_traces_are_dropped(uri) -> None:
    writer = GatedWriter()
    exporter = TraceExporter(writer=writer)
    reset_tracing(exporter)
    traced(1)
    started = time.monotonic()
    assert exporter.shutdown(timeout=0.2) is False
    assert time.monotonic() - started < 5
    traced(2)
    assert exporter.stats()["dropped"] == 1
    writer.gate.set()


def test_unfinished_traces_are_capped(monkeypatch: pytest.MonkeyPatch, read_traces,
                                      caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setenv("SPANSCOPE_MAX_BUFFERED_TRACES", "2")
    reset_tracing()
    release = threading.Event()
    children_done = [threading.Event() for _ in range(3)]

    def request(n: int) -> None:
        with tracing.start_span(f"root-{n}"):
            with tracing.start_span("child"):
                pass
            children_done[n].set()
            release.wait(30)

    threads = []
    with caplog.at_level(logging.WARNING, logger="spanscope"):
        for n in range(3):  # one after the other, so root-0 is the oldest
            thread = threading.Thread(target=request, args=(n,))
            thread.start()
            threads.append(thread)
            assert children_done[n].wait(10)
    assert tracing.get_export_stats()["dropped_incomplete_traces"] == 1
    assert "traces are in progress" in caplog.text
    release.set()
    for thread in threads:
        thread.join(10)
    names = sorted(t.data.spans[0].name for t in read_traces())
    assert names == ["root-1", "root-2"]  # root-0 was dropped whole, never half-written
    assert all(len(t.data.spans) == 2 for t in read_traces())


def test_a_span_ending_after_its_root_is_dropped_and_counted(
        read_trace, caplog: pytest.LogCaptureFixture) -> None:
    started, release = threading.Event(), threading.Event()

    def background() -> None:
        with tracing.start_span("straggler"):
            started.set()
            release.wait(10)

    with tracing.start_span("root"):
        ctx = contextvars.copy_context()
        thread = threading.Thread(target=ctx.run, args=(background,))
        thread.start()
        assert started.wait(10)
    with caplog.at_level(logging.WARNING, logger="spanscope"):
        release.set()
        thread.join(10)
    trace = read_trace()
    assert [s.name for s in trace.data.spans] == ["root"]
    assert tracing.get_export_stats()["dropped_late_spans"] == 1
    assert "ended after the root span" in caplog.text


def test_nothing_is_set_up_until_the_first_span(tmp_path) -> None:
    """Reading stats, flushing and decorating load no OTel SDK and start no thread."""
    import subprocess
    import sys
    import textwrap

    script = textwrap.dedent("""
        import sys, threading
        import spanscope.tracing as tracing

        @tracing.trace
        def f(x):
            return x

        stats = tracing.get_export_stats()
        assert tracing.flush() is True
        assert tracing.get_current_active_span() is None
        assert tracing.get_last_active_trace_id() is None
        tracing.update_current_trace(tags={"a": "b"})  # warns, does nothing
        print(stats["queue_capacity"], stats["exported"], threading.active_count(),
              "opentelemetry.sdk.trace" in sys.modules)
        f(1)
        print("opentelemetry.sdk.trace" in sys.modules)
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            timeout=60, cwd=tmp_path,
                            env={**os.environ, "SPANSCOPE_EXPORT_QUEUE_SIZE": "123",
                                 "SPANSCOPE_TRACKING_URI": f"sqlite:///{tmp_path}/x.db"})
    assert result.returncode == 0, result.stderr
    assert result.stdout.split("\n")[:2] == ["123 0 1 False", "True"]
    assert "outside a trace" in result.stderr


def test_text_search_finds_sdk_payloads_as_the_reference_does(uri: str, read_traces) -> None:
    """Inputs and outputs the SDK registered as their own text (``encode_payload``) are
    indexed as such; ones it did not (keys JSON writes alike) are decoded first: either
    way the stored index answers as the reference evaluator does."""
    from spanscope.entities import SpanAttributeKey
    from spanscope.entities._codec import is_canonical
    from spanscope.query import filter_traces

    @tracing.trace
    def call(arg: object) -> object:
        return arg

    call({"q": "plain needle", "n": [1, 2.5, None, True]})
    call({1: "alpha needle", "1": "beta"})
    call(("tuple needle", {"k": "caf\u00e9"}))
    traces = read_traces()
    registered = [is_canonical(t.data.spans[0].raw_attributes[SpanAttributeKey.INPUTS])
                  for t in traces]
    assert registered == [True, False, True]
    store = tracking.get_store(uri)
    for text in ["text CONTAINS 'needle'", "text CONTAINS 'alpha'", "text CONTAINS 'beta'",
                 "inputs.arg CONTAINS 'alpha'", "request CONTAINS '\"1\": \"beta\"'",
                 "text CONTAINS '{\"arg\": {\"q\": \"plain'", "text ILIKE '%CAFÉ%'",
                 "response CONTAINS '[\"tuple'"]:
        expected = {t.info.trace_id for t in filter_traces(text, traces)}
        found = {t.info.trace_id for t in store.search_traces(filter_string=text)}
        assert found == expected, text
    assert len({t.info.trace_id
                for t in filter_traces("text CONTAINS 'needle'", traces)}) == 2
