"""The Python API of monitors: create, list, show, delete, dry-run and run them on the
tracking store (or on the stores given), the same operations as ``spanscope monitor`` and
``/api/monitors``.

Example::

    from spanscope.monitoring.monitors import create_monitor, run_monitors

    create_monitor("error rate", "error_rate", window="1h", cadence="5m",
                   warn_above=0.05, alert_above=0.2, min_samples=20,
                   webhook="https://hooks.example.com/spanscope")
    run_monitors()  # one pass: evaluate what is due, notify, keep the history
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from spanscope.entities.monitor import (
    Monitor,
    MonitorEvaluation,
    MonitorStatus,
    evaluation_from_dict,
)
from spanscope.monitoring.definition import define_monitor
from spanscope.monitoring.metrics import MetricReader
from spanscope.monitoring.runner import Evaluated, MonitorPassReport, evaluate, run_monitor_pass
from spanscope.monitoring.states import Step

if TYPE_CHECKING:
    from spanscope.monitoring.notify import WebhookSender
    from spanscope.store.base import AnalyticsStore
    from spanscope.store.monitors import MonitorStore

__all__ = [
    "create_monitor",
    "delete_monitor",
    "dry_run_monitor",
    "get_monitor",
    "get_monitor_status",
    "list_monitors",
    "monitor_history",
    "run_monitors",
]

_memory_lock = threading.Lock()
_memory_stores: dict[str, MonitorStore] = {}  # memory:// monitors live as long as the process


@contextlib.contextmanager
def _monitors(given: MonitorStore | None) -> Iterator[MonitorStore]:
    """The monitor store given, else the tracking store's (closed after use)."""
    if given is not None:
        yield given
        return
    from spanscope.store.monitors import open_monitor_store
    from spanscope.tracking import get_tracking_uri

    uri = get_tracking_uri()
    if uri.startswith("memory:"):
        with _memory_lock:
            store = _memory_stores.setdefault(uri, open_monitor_store(uri))
        yield store
        return
    store = open_monitor_store(uri)
    try:
        yield store
    finally:
        store.close()


def _analytics(given: AnalyticsStore | None) -> AnalyticsStore:
    from spanscope.analysis.selection import store_for

    return store_for(given)


def create_monitor(name: str, metric: str, *, monitor_store: MonitorStore | None = None,
                   **options: Any) -> Monitor:
    """Define and store a monitor; ``options`` are ``define_monitor``'s (``filter_string``,
    ``experiment_ids``, ``window``, ``cadence``, ``warn_above``, ``alert_above``,
    ``warn_below``, ``alert_below``, ``min_samples``, ``renotify``, ``no_data``,
    ``webhook``, ``webhook_secret``, ``webhook_format``)."""
    monitor = define_monitor(name, metric, **options)
    with _monitors(monitor_store) as store:
        return store.create_monitor(monitor)


def list_monitors(*, monitor_store: MonitorStore | None = None) -> list[Monitor]:
    with _monitors(monitor_store) as store:
        return store.list_monitors()


def get_monitor(id_or_name: str, *, monitor_store: MonitorStore | None = None) -> Monitor:
    with _monitors(monitor_store) as store:
        return store.get_monitor(id_or_name)


def get_monitor_status(id_or_name: str, *,
                       monitor_store: MonitorStore | None = None) -> MonitorStatus:
    with _monitors(monitor_store) as store:
        return store.get_status(store.get_monitor(id_or_name).monitor_id)


def delete_monitor(id_or_name: str, *, monitor_store: MonitorStore | None = None) -> Monitor:
    """Delete a monitor with its history and pending notifications; returns it."""
    with _monitors(monitor_store) as store:
        return store.delete_monitor(id_or_name)


def monitor_history(id_or_name: str, *, since_ms: int | None = None,
                    limit: int | None = None,
                    monitor_store: MonitorStore | None = None) -> list[MonitorEvaluation]:
    """Every evaluation kept (state, value, samples, time), oldest first: a monitor's
    history to plot (``limit``: the newest that many)."""
    with _monitors(monitor_store) as store:
        return store.list_evaluations(store.get_monitor(id_or_name).monitor_id,
                                      since_ms=since_ms, limit=limit)


def dry_run_monitor(id_or_name: str, *, now_ms: int | None = None,
                    base_url: str | None = None, store: AnalyticsStore | None = None,
                    monitor_store: MonitorStore | None = None) -> Evaluated:
    """Evaluate a monitor now from its current status, keeping and sending nothing: its
    value, state, and the event and payload the worker would send (``payload`` is None
    when the state calls for no notification)."""
    now = int(time.time() * 1000) if now_ms is None else int(now_ms)
    with _monitors(monitor_store) as monitors:
        monitor = monitors.get_monitor(id_or_name)
        status = monitors.get_status(monitor.monitor_id)
        remote = getattr(monitors, "dry_run", None)
        if remote is not None and store is None:  # a server: it evaluates, on its store
            return _evaluated(monitor, status, remote(monitor.monitor_id))
    return evaluate(MetricReader(_analytics(store)), monitor, status, now, base_url=base_url)


def _evaluated(monitor: Monitor, status: MonitorStatus, answer: dict[str, Any]) -> Evaluated:
    """``Evaluated`` from a server's ``POST /api/monitors/{id}/test`` answer."""
    evaluation = evaluation_from_dict(answer["evaluation"])
    step = Step(status=status, state=evaluation.state, event=answer.get("event"),
                has_data=bool(answer.get("has_data")), direction=answer.get("direction"),
                threshold=answer.get("threshold"))
    return Evaluated(monitor, evaluation, step, answer.get("payload"))


def run_monitors(*, now_ms: int | None = None, base_url: str | None = None,
                 store: AnalyticsStore | None = None,
                 monitor_store: MonitorStore | None = None,
                 sender: WebhookSender | None = None) -> MonitorPassReport:
    """One pass of the worker over the tracking store: evaluate what is due, keep each
    evaluation, notify, and retry notifications whose time has come."""
    with _monitors(monitor_store) as monitors:
        return run_monitor_pass(_analytics(store), monitors, now_ms=now_ms,
                                base_url=base_url, sender=sender)

