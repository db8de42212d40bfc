"""The monitor state machine: OK / WARNING / ALERT / NO_DATA, and which notification a
change calls for. Pure functions of plain values (no clock, no I/O), so every path is
tested exhaustively.

Events (what a notification says):

- ``triggered``: WARNING or ALERT, when no problem was notified before (or after a
  recovery, or after a notified NO_DATA);
- ``escalated`` / ``deescalated``: WARNING to ALERT and back, while the problem is open;
- ``renotified``: still WARNING or ALERT, ``renotify_ms`` after the last notification;
- ``no_data``: the data ran out while a WARNING or ALERT was open (the problem can no
  longer be checked); NO_DATA from OK is quiet;
- ``recovered``: OK again after any notified problem (only then: a recovery goes to
  someone who was told something was wrong).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from spanscope.entities.monitor import (
    Monitor,
    MonitorState,
    MonitorStatus,
    NoDataPolicy,
    Thresholds,
    next_due,
)

__all__ = ["EVENTS", "Measurement", "Step", "next_due", "step"]

EVENTS = ("triggered", "escalated", "deescalated", "renotified", "no_data", "recovered")
_SEVERITY = {MonitorState.OK: 0, MonitorState.WARNING: 1, MonitorState.ALERT: 2}
_PROBLEMS = (MonitorState.WARNING, MonitorState.ALERT)


@dataclass(frozen=True)
class Measurement:
    """A metric's value over a window (None: nothing to compute it from) and its samples."""

    value: float | None
    samples: int


@dataclass(frozen=True)
class Step:
    """The outcome of one evaluation: the new status, the state, and the event to notify
    (None: nothing to send). ``direction``/``threshold`` name the level crossed."""

    status: MonitorStatus
    state: MonitorState
    event: str | None
    has_data: bool
    direction: str | None = None
    threshold: float | None = None


def _state_of(thresholds: Thresholds, policy: NoDataPolicy, previous: MonitorState | None,
              measurement: Measurement, min_samples: int,
              ) -> tuple[MonitorState, bool, str | None, float | None]:
    value = measurement.value
    if value is not None and measurement.samples >= min_samples:
        state, direction, threshold = thresholds.classify(value)
        return state, True, direction, threshold
    if policy is NoDataPolicy.OK:
        return MonitorState.OK, False, None, None
    if policy is NoDataPolicy.ALERT:
        return MonitorState.ALERT, False, None, None
    if policy is NoDataPolicy.KEEP and previous is not None:
        return previous, False, None, None
    return MonitorState.NO_DATA, False, None, None


def _event(previous: MonitorState | None, state: MonitorState, status: MonitorStatus,
           renotify_ms: int | None, now_ms: int) -> str | None:
    notified = status.notified
    if state == previous:
        if state in _PROBLEMS and renotify_ms and status.last_notified_ms is not None \
                and notified is not None and now_ms - status.last_notified_ms >= renotify_ms:
            return "renotified"
        return None
    if state in _PROBLEMS:
        if notified not in _PROBLEMS:
            return "triggered"
        assert notified is not None
        if _SEVERITY[state] > _SEVERITY[notified]:
            return "escalated"
        if _SEVERITY[state] < _SEVERITY[notified]:
            return "deescalated"
        return None  # e.g. ALERT, then KEEP-ed, then ALERT again: already told
    if state is MonitorState.OK:
        return "recovered" if notified is not None else None
    return "no_data" if notified in _PROBLEMS else None  # NO_DATA


def step(monitor: Monitor, status: MonitorStatus, measurement: Measurement,
         now_ms: int) -> Step:
    """Evaluate ``measurement`` at ``now_ms`` against ``monitor`` from ``status``."""
    previous = status.state
    # A count is a value even at zero: "fewer than 10 traces an hour" must be able to fire.
    min_samples = 0 if monitor.metric.kind == "trace_count" else monitor.min_samples
    state, has_data, direction, threshold = _state_of(
        monitor.thresholds, monitor.no_data, previous, measurement, min_samples)
    event = _event(previous, state, status, monitor.renotify_ms, now_ms)
    new = replace(status, state=state, last_eval_ms=now_ms,
                  since_ms=now_ms if state != previous else status.since_ms)
    if event is not None:
        new = replace(new, last_notified_ms=now_ms,
                      notified=None if event == "recovered" else state)
    return Step(status=new, state=state, event=event, has_data=has_data,
                direction=direction, threshold=threshold)
