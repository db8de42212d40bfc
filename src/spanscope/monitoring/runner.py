"""One pass of the monitor worker: evaluate every due monitor, keep each evaluation, queue
and send the notifications.

``run_monitor_pass`` takes the time as an argument (``now_ms``) and keeps no state of its
own between calls, so a test drives it with a simulated clock and ``spanscope monitor run
--once`` is one call of it. A monitor that fails to evaluate (its store is down, say) is
logged and retried at its next due time; it never stops the others.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from spanscope.entities.monitor import Monitor, MonitorEvaluation, MonitorStatus
from spanscope.exceptions import SpanscopeError
from spanscope.monitoring.metrics import MetricReader, selection_of
from spanscope.monitoring.notify import (
    DeliveryReport,
    WebhookSender,
    deliver_due,
    delivery_for,
    log_line,
    payload_of,
)
from spanscope.monitoring.states import Step, step

if TYPE_CHECKING:
    from spanscope.store.base import AnalyticsStore
    from spanscope.store.monitors import MonitorStore

__all__ = ["Evaluated", "MonitorPassReport", "evaluate", "run_monitor_pass"]

logger = logging.getLogger("spanscope.monitoring")


@dataclass(frozen=True)
class Evaluated:
    """A monitor evaluated at one moment: the record kept, the state machine's step, and
    the payload a notification carries (None when the step calls for none)."""

    monitor: Monitor
    evaluation: MonitorEvaluation
    step: Step
    payload: dict[str, Any] | None


@dataclass
class MonitorPassReport:
    """What one pass did: evaluations (with their events), failures, deliveries."""

    now_ms: int
    evaluated: list[Evaluated] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)  # monitor name -> error
    deliveries: DeliveryReport = field(default_factory=DeliveryReport)
    queries: int = 0

    @property
    def events(self) -> list[tuple[str, str]]:
        """``(monitor name, event)`` of each notification, in evaluation order."""
        return [(e.monitor.name, str(e.step.event)) for e in self.evaluated
                if e.step.event is not None]


def evaluate(reader: MetricReader, monitor: Monitor, status: MonitorStatus, now_ms: int, *,
             base_url: str | None = None) -> Evaluated:
    """Measure ``monitor`` at ``now_ms`` and step its state machine (no writes)."""
    measurement = reader.measure(monitor, now_ms)
    outcome = step(monitor, status, measurement, now_ms)
    selection = selection_of(monitor, now_ms)
    assert selection.start_ms is not None and selection.end_ms is not None
    evaluation = MonitorEvaluation(
        monitor_id=monitor.monitor_id, time_ms=now_ms, state=outcome.state,
        value=measurement.value, samples=measurement.samples,
        window_start_ms=selection.start_ms, window_end_ms=selection.end_ms,
        event=outcome.event)
    payload = None
    if outcome.event is not None:
        previous = None if status.state is None else status.state.value
        payload = payload_of(monitor, evaluation, outcome, previous, base_url=base_url)
    return Evaluated(monitor, evaluation, outcome, payload)


def run_monitor_pass(store: AnalyticsStore, monitor_store: MonitorStore, *,
                     now_ms: int | None = None, base_url: str | None = None,
                     sender: WebhookSender | None = None) -> MonitorPassReport:
    """Evaluate the monitors due at ``now_ms`` (default: now), then send what is due."""
    now = int(time.time() * 1000) if now_ms is None else int(now_ms)
    report = MonitorPassReport(now)
    reader = MetricReader(store)
    for monitor, status in monitor_store.claim_due(now):
        try:
            done = evaluate(reader, monitor, status, now, base_url=base_url)
            queued = []
            if done.payload is not None:
                log_line(done.payload)
                delivery = delivery_for(monitor, done.payload, now)
                if delivery is not None:
                    queued.append(delivery)
            monitor_store.record_evaluation(done.evaluation, done.step.status, queued)
        except SpanscopeError as exc:
            logger.error("monitor %r could not be evaluated: %s", monitor.name, exc)
            report.failed[monitor.name] = str(exc)
            continue
        report.evaluated.append(done)
    report.queries = reader.queries
    report.deliveries = deliver_due(monitor_store, now, sender or WebhookSender())
    return report
