"""Issue 11.3: bursts beyond the writer's speed.

The default stays non-blocking (live apps): a full queue drops and counts, with one
warning naming ``SPANSCOPE_EXPORT_ON_FULL``, and the next ``flush()`` returns False.
``SPANSCOPE_EXPORT_ON_FULL=block`` (batch jobs) makes the producer wait for room, so a
burst of many times the queue's size loses nothing; after ``SPANSCOPE_EXPORT_BLOCK_TIMEOUT``
seconds without room the trace is dropped and counted. Writers are the real SQLite store
behind the exporter's ``writer`` seam, slowed or gated.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence

import pytest

import spanscope
import spanscope.tracing as tracing
from spanscope import tracking
from spanscope.entities import Trace
from spanscope.testing import reset_tracing
from spanscope.tracing.exporter import TraceExporter


class SlowWriter:
    """Writes to the real store after a pause per batch, or waits for its gate."""

    def __init__(self, pause: float = 0.0, gated: bool = False) -> None:
        self.pause = pause
        self.gate = threading.Event()
        if not gated:
            self.gate.set()

    def __call__(self, uri: str, traces: Sequence[Trace]) -> None:
        self.gate.wait(30)
        time.sleep(self.pause)
        tracking.get_store(uri).log_traces(traces)


@spanscope.trace
def work(i: int) -> int:
    return i


def test_block_mode_keeps_every_trace_of_a_burst(read_sqlite_traces) -> None:
    reset_tracing(TraceExporter(capacity=5, batch_size=5, writer=SlowWriter(0.01),
                                          on_full="block", block_timeout=30))
    for i in range(200):  # 40 times the queue
        work(i)
    traces = read_sqlite_traces()  # asserts flush() is True: nothing dropped
    assert sorted(t.data.spans[0].inputs["i"] for t in traces) == list(range(200))
    stats = tracing.get_export_stats()
    assert stats["dropped"] == 0 and stats["exported"] == 200 and stats["blocked"] > 0


def test_block_mode_gives_up_after_its_timeout_and_counts(
        sqlite_traced_uri: str, caplog: pytest.LogCaptureFixture) -> None:
    writer = SlowWriter(gated=True)
    reset_tracing(TraceExporter(capacity=2, batch_size=1, writer=writer, linger=0,
                                          on_full="block", block_timeout=0.2))
    with caplog.at_level(logging.WARNING, logger="spanscope"):
        started = time.monotonic()
        for i in range(6):
            work(i)
        waited = time.monotonic() - started
    stats = tracing.get_export_stats()
    assert stats["dropped"] >= 1 and waited >= 0.2
    assert "SPANSCOPE_EXPORT_BLOCK_TIMEOUT" in caplog.text
    writer.gate.set()
    assert tracing.flush(timeout=30) is False  # some were dropped since the last flush
    assert tracing.flush(timeout=30) is True  # and none since


def test_drop_mode_counts_warns_with_the_setting_and_flush_says_so(
        sqlite_traced_uri: str, caplog: pytest.LogCaptureFixture) -> None:
    writer = SlowWriter(gated=True)
    reset_tracing(TraceExporter(capacity=3, writer=writer, linger=0))
    with caplog.at_level(logging.WARNING, logger="spanscope"):
        for i in range(50):
            work(i)
    stats = tracing.get_export_stats()
    assert stats["dropped"] >= 40 and stats["blocked"] == 0
    assert caplog.text.count("SPANSCOPE_EXPORT_ON_FULL=block") == 1
    writer.gate.set()
    assert tracing.flush(timeout=30) is False
    work(99)
    assert tracing.flush(timeout=30) is True


def test_the_setting_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch,
                                                caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setenv("SPANSCOPE_EXPORT_ON_FULL", "block")
    monkeypatch.setenv("SPANSCOPE_EXPORT_BLOCK_TIMEOUT", "2.5")
    exporter = TraceExporter()
    assert (exporter.on_full, exporter.block_timeout) == ("block", 2.5)
    monkeypatch.setenv("SPANSCOPE_EXPORT_ON_FULL", "sometimes")
    with caplog.at_level(logging.WARNING, logger="spanscope"):
        assert TraceExporter().on_full == "drop"
    assert "SPANSCOPE_EXPORT_ON_FULL" in caplog.text
