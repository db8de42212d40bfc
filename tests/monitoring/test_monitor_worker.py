"""The worker loop: every pass runs each tick with the clock's time, a pass that raises is
logged and does not stop the others or the loop, and stop() ends the thread."""

from __future__ import annotations

import logging
import threading

import pytest

from spanscope.monitoring.worker import MonitorWorker, run_passes


def test_a_failing_pass_is_logged_and_the_others_still_run(
        caplog: pytest.LogCaptureFixture) -> None:
    seen: list[tuple[str, int]] = []

    def broken(now_ms: int) -> object:
        raise RuntimeError("the judge is down")

    with caplog.at_level(logging.ERROR, logger="spanscope.monitoring"):
        results = run_passes([lambda now: seen.append(("a", now)), broken,
                              lambda now: seen.append(("b", now)) or "done"], 42)
    assert seen == [("a", 42), ("b", 42)]
    assert results == [None, None, "done"]
    assert "a monitoring pass failed" in caplog.text and "the judge is down" in caplog.text


def test_the_worker_ticks_with_its_clock_until_stopped() -> None:
    times: list[int] = []
    enough = threading.Event()
    clock = iter(range(1000, 10**6, 1000))

    def record(now_ms: int) -> None:
        times.append(now_ms)
        if len(times) == 3:
            enough.set()

    def explode(now_ms: int) -> None:
        raise ValueError("every tick")

    worker = MonitorWorker([explode, record], interval_s=0.01,
                           clock=lambda: next(clock) / 1000).start()
    try:
        assert enough.wait(60), "the worker did not tick three times"
    finally:
        assert worker.stop(timeout=60)
    assert times[:3] == [1000, 2000, 3000]
    assert worker.ticks >= 3
    with pytest.raises(ValueError, match="positive"):
        MonitorWorker([], interval_s=0)
