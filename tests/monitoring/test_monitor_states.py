"""The monitor state machine, every path: pure functions, no store, no clock."""

from __future__ import annotations

import itertools

import pytest

from spanscope.entities.monitor import (
    MonitorState,
    MonitorStatus,
    NoDataPolicy,
    Thresholds,
    next_due,
)
from spanscope.monitoring.definition import define_monitor
from spanscope.monitoring.states import Measurement, step

OK, WARNING, ALERT, NO_DATA = (MonitorState.OK, MonitorState.WARNING, MonitorState.ALERT,
                               MonitorState.NO_DATA)
# A measurement of each kind, for a monitor warning above 10 and alerting above 20.
READINGS = {OK: Measurement(5.0, 10), WARNING: Measurement(15.0, 10),
            ALERT: Measurement(25.0, 10), NO_DATA: Measurement(None, 0)}
PREVIOUS = [None, OK, WARNING, ALERT, NO_DATA]
NOTIFIED = [None, WARNING, ALERT, NO_DATA]


def _monitor(**options: object):
    return define_monitor("m", "latency_p95", warn_above=10, alert_above=20, window="10m",
                          cadence="1m", **options)  # type: ignore[arg-type]


def _expected(previous: MonitorState | None, notified: MonitorState | None,
              state: MonitorState) -> str | None:
    """The events the module docstring promises, written out independently."""
    if state == previous:
        return None
    if state in (WARNING, ALERT):
        if notified not in (WARNING, ALERT):
            return "triggered"
        if notified == state:
            return None
        return "escalated" if state == ALERT else "deescalated"
    if state == OK:
        return None if notified is None else "recovered"
    return "no_data" if notified in (WARNING, ALERT) else None


@pytest.mark.parametrize(("previous", "notified", "reading"),
                         list(itertools.product(PREVIOUS, NOTIFIED, list(READINGS))))
def test_every_transition_sends_the_promised_event(previous, notified, reading) -> None:
    status = MonitorStatus(state=previous, since_ms=0, last_eval_ms=0, notified=notified,
                           last_notified_ms=None if notified is None else 0)
    out = step(_monitor(), status, READINGS[reading], 60_000)
    assert out.state == reading
    assert out.event == _expected(previous, notified, reading)
    assert out.status.state == reading and out.status.last_eval_ms == 60_000
    assert out.status.since_ms == (0 if previous == reading else 60_000)
    if out.event is None:
        assert (out.status.notified, out.status.last_notified_ms) == (
            notified, status.last_notified_ms)
    else:
        assert out.status.last_notified_ms == 60_000
        assert out.status.notified == (None if out.event == "recovered" else reading)


@pytest.mark.parametrize("state", [WARNING, ALERT])
def test_a_lasting_problem_is_notified_again_after_the_renotify_interval(state) -> None:
    monitor = _monitor(renotify="5m")
    status = MonitorStatus(state=state, since_ms=0, last_eval_ms=0, notified=state,
                           last_notified_ms=0)
    events = []
    for minute in range(1, 12):
        out = step(monitor, status, READINGS[state], minute * 60_000)
        events.append((minute, out.event))
        status = out.status
    assert [m for m, e in events if e == "renotified"] == [5, 10]
    assert {e for _, e in events} == {None, "renotified"}
    # without renotify, never
    quiet = MonitorStatus(state=state, since_ms=0, notified=state, last_notified_ms=0)
    assert step(_monitor(), quiet, READINGS[state], 10**9).event is None


def test_ok_and_no_data_are_never_renotified() -> None:
    monitor = _monitor(renotify="1m")
    for state in (OK, NO_DATA):
        status = MonitorStatus(state=state, since_ms=0, notified=None, last_notified_ms=0)
        assert step(monitor, status, READINGS[state], 10**9).event is None


@pytest.mark.parametrize(("policy", "previous", "want"), [
    (NoDataPolicy.NO_DATA, ALERT, NO_DATA), (NoDataPolicy.OK, ALERT, OK),
    (NoDataPolicy.KEEP, ALERT, ALERT), (NoDataPolicy.KEEP, WARNING, WARNING),
    (NoDataPolicy.KEEP, None, NO_DATA), (NoDataPolicy.ALERT, OK, ALERT),
])
def test_the_no_data_policy_decides_the_state_without_data(policy, previous, want) -> None:
    monitor = _monitor(no_data=policy.value)
    status = MonitorStatus(state=previous)
    out = step(monitor, status, READINGS[NO_DATA], 1)
    assert out.state == want and not out.has_data


def test_too_few_samples_is_no_data_but_a_count_of_zero_is_a_value() -> None:
    monitor = _monitor(min_samples=20)
    assert step(monitor, MonitorStatus(), Measurement(99.0, 19), 1).state == NO_DATA
    assert step(monitor, MonitorStatus(), Measurement(99.0, 20), 1).state == ALERT
    count = define_monitor("c", "trace_count", alert_below=10, min_samples=50, window="1h",
                           cadence="1m")
    out = step(count, MonitorStatus(), Measurement(0.0, 0), 1)
    assert (out.state, out.event, out.direction, out.threshold) == (ALERT, "triggered",
                                                                   "below", 10.0)


def test_thresholds_classify_strictly_and_alert_wins() -> None:
    both = Thresholds(warn_above=10, alert_above=20, warn_below=2, alert_below=1)
    assert both.classify(10) == (OK, None, None)
    assert both.classify(10.5) == (WARNING, "above", 10)
    assert both.classify(20.5) == (ALERT, "above", 20)
    assert both.classify(1.5) == (WARNING, "below", 2)
    assert both.classify(0.5) == (ALERT, "below", 1)
    assert Thresholds(alert_above=5).classify(6) == (ALERT, "above", 5)
    assert Thresholds(warn_below=0.9).classify(0.8) == (WARNING, "below", 0.9)


def test_next_due_skips_missed_evaluations() -> None:
    assert next_due(1000, 60_000, 500) == 1000
    assert next_due(1000, 60_000, 1000) == 61_000
    assert next_due(1000, 60_000, 200_000) == 241_000
