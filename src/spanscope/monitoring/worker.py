"""The monitoring worker: a thread that runs a list of passes every few seconds.

Each pass is a callable of the current time in epoch milliseconds: the monitor pass
(``monitor_pass``), the online scorers' pass (``OnlinePass``) and the retention pass
(``spanscope.lifecycle.retention.retention_pass``) are entries of one list, so another
kind of scheduled work is one more entry. A pass that
raises is logged with its traceback (the one broad catch, at the thread boundary) and the
next tick runs it again. ``spanscope server`` starts one worker unless ``--no-monitor``;
``spanscope monitor run`` runs one in the foreground.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from spanscope.monitoring.notify import WebhookSender
    from spanscope.store.base import AnalyticsStore, TraceStore
    from spanscope.store.monitors import MonitorStore

__all__ = ["DEFAULT_INTERVAL_S", "MonitorWorker", "OnlinePass", "Pass", "monitor_pass",
           "run_passes"]

logger = logging.getLogger("spanscope.monitoring")

DEFAULT_INTERVAL_S = 5.0
Pass = Callable[[int], object]
Clock = Callable[[], float]  # seconds since the epoch, like time.time


def monitor_pass(store: AnalyticsStore, monitor_store: MonitorStore, *,
                 base_url: str | None = None, sender: WebhookSender | None = None) -> Pass:
    """The monitors' pass over these stores, as a worker entry."""
    from spanscope.monitoring.runner import run_monitor_pass

    def run(now_ms: int) -> object:
        return run_monitor_pass(store, monitor_store, now_ms=now_ms, base_url=base_url,
                                sender=sender)

    return run


class OnlinePass:
    """The online scorers' pass (``spanscope.monitoring.online``) as a worker entry.

    It keeps the pass's state between ticks (judge backoff, built scorers, the scorer
    store it opened) and lets go of it in ``close``, which the worker calls on ``stop``.
    PostgreSQL takes concurrent writes, so there it stores assessments from four threads.
    """

    def __init__(self, store: TraceStore) -> None:
        from spanscope.monitoring.online import OnlineState

        self.store = store
        self.state = OnlineState()
        self.writers = 4 if store.uri.lower().startswith("postgres") else 1

    def __call__(self, now_ms: int) -> object:
        from spanscope.monitoring.online import run_online_pass

        return run_online_pass(self.store, now_ms=now_ms, state=self.state,
                               writers=self.writers)

    def close(self) -> None:
        self.state.close()


def run_passes(passes: Sequence[Pass], now_ms: int) -> list[object]:
    """Run each pass at ``now_ms``; one that raises is logged and the others still run."""
    results: list[object] = []
    for work in passes:
        try:
            results.append(work(now_ms))
        except Exception:  # the worker boundary: log it, and keep monitoring
            logger.exception("a monitoring pass failed; it runs again at the next tick")
            results.append(None)
    return results


class MonitorWorker:
    """Runs ``passes`` every ``interval_s`` seconds on a daemon thread until ``stop``."""

    def __init__(self, passes: Sequence[Pass], *, interval_s: float = DEFAULT_INTERVAL_S,
                 clock: Clock = time.time, name: str = "spanscope-monitor") -> None:
        if not interval_s > 0:
            raise ValueError(f"interval_s must be positive, got {interval_s!r}")
        self.passes = list(passes)
        self.interval_s = interval_s
        self.clock = clock
        self.ticks = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)

    def start(self) -> MonitorWorker:
        self._thread.start()
        return self

    def _loop(self) -> None:
        while not self._stop.is_set():
            started = time.monotonic()
            run_passes(self.passes, int(self.clock() * 1000))
            self.ticks += 1
            self._stop.wait(max(0.0, self.interval_s - (time.monotonic() - started)))

    def stop(self, timeout: float | None = 30.0) -> bool:
        """Ask the thread to stop after its current pass; True when it has stopped."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)
        stopped = not self._thread.is_alive()
        if stopped:
            for work in self.passes:
                close = getattr(work, "close", None)
                if close is not None:
                    close()
        return stopped
