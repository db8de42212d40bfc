"""Monitors as data: a metric over a filter and a rolling window, its thresholds, and what
an evaluation found. No I/O; the rules (``spanscope.monitoring.states``) and the storage
(``spanscope.store.monitors``) are elsewhere.

A metric is named by text, as on the command line: ``trace_count``, ``error_rate``,
``latency_p50|p95|p99``, ``tokens_sum|mean``, ``cost_sum|mean``,
``assessment_mean:NAME``, ``assessment_pass_rate:NAME``, ``span_duration_p50|p95|p99``
and ``span_error_rate`` (the last two over the spans a ``span.type = '…'`` filter names).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any

from spanscope.entities._enum import StrEnum
from spanscope.exceptions import InvalidInputError

__all__ = [
    "METRICS",
    "Metric",
    "Monitor",
    "MonitorEvaluation",
    "MonitorState",
    "MonitorStatus",
    "NoDataPolicy",
    "Thresholds",
    "Webhook",
    "WebhookFormat",
    "duration_text",
    "evaluation_from_dict",
    "monitor_from_dict",
    "next_due",
    "parse_metric",
    "status_from_dict",
]


class MonitorState(StrEnum):
    """Where a monitor stands after an evaluation."""

    OK = "OK"
    WARNING = "WARNING"
    ALERT = "ALERT"
    NO_DATA = "NO_DATA"  # no value, or fewer samples than the monitor's minimum


class NoDataPolicy(StrEnum):
    """What an evaluation without (enough) data means."""

    NO_DATA = "no_data"  # the state becomes NO_DATA (notified when it leaves WARNING/ALERT)
    OK = "ok"  # treated as OK (quiet periods are fine)
    KEEP = "keep"  # the previous state stays
    ALERT = "alert"  # silence is an alert (a pipeline that stopped sending)


class WebhookFormat(StrEnum):
    JSON = "json"  # Spanscope's payload (docs/monitoring.md)
    SLACK = "slack"  # {"text": ...}, for a Slack-compatible incoming webhook


# name -> (needs an argument after ':', needs a span filter)
METRICS: dict[str, tuple[bool, bool]] = {
    "trace_count": (False, False),
    "error_rate": (False, False),
    "latency_p50": (False, False),
    "latency_p95": (False, False),
    "latency_p99": (False, False),
    "latency_mean": (False, False),
    "tokens_sum": (False, False),
    "tokens_mean": (False, False),
    "cost_sum": (False, False),
    "cost_mean": (False, False),
    "assessment_mean": (True, False),
    "assessment_pass_rate": (True, False),
    "span_duration_p50": (False, True),
    "span_duration_p95": (False, True),
    "span_duration_p99": (False, True),
    "span_error_rate": (False, True),
}


@dataclass(frozen=True)
class Metric:
    """A parsed metric name: ``kind`` (a key of ``METRICS``) and its argument, if any."""

    kind: str
    argument: str | None = None

    def __str__(self) -> str:
        return self.kind if self.argument is None else f"{self.kind}:{self.argument}"

    @property
    def on_spans(self) -> bool:
        return METRICS[self.kind][1]

    @property
    def quantile(self) -> float | None:
        """0.5, 0.95 or 0.99 for a ``…_p50|p95|p99`` metric."""
        suffix = self.kind.rsplit("_", 1)[-1]
        return {"p50": 0.5, "p95": 0.95, "p99": 0.99}.get(suffix)


def parse_metric(text: object) -> Metric:
    """The metric ``text`` names; ``InvalidInputError`` listing the known ones otherwise."""
    if not isinstance(text, str) or not text.strip():
        raise InvalidInputError(f"a metric is a name such as error_rate, got {text!r}")
    kind, _, argument = text.strip().partition(":")
    if kind not in METRICS:
        known = ", ".join(f"{k}:NAME" if METRICS[k][0] else k for k in METRICS)
        raise InvalidInputError(f"unknown metric {text!r}; known: {known}")
    if METRICS[kind][0]:
        if not argument.strip():
            raise InvalidInputError(f"metric {kind} needs the assessment's name: {kind}:NAME")
        return Metric(kind, argument.strip())
    if argument:
        raise InvalidInputError(f"metric {kind} takes no argument, got {text!r}")
    return Metric(kind)


def _number(name: str, value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(
            value):
        raise InvalidInputError(f"{name} must be a finite number, got {value!r}")
    return float(value)


@dataclass(frozen=True)
class Thresholds:
    """WARNING and ALERT levels; a value strictly above an ``…_above`` or strictly below a
    ``…_below`` level is in that state (ALERT wins over WARNING)."""

    warn_above: float | None = None
    alert_above: float | None = None
    warn_below: float | None = None
    alert_below: float | None = None

    def __post_init__(self) -> None:
        for name in ("warn_above", "alert_above", "warn_below", "alert_below"):
            object.__setattr__(self, name, _number(name, getattr(self, name)))
        if all(getattr(self, n) is None for n in ("warn_above", "alert_above", "warn_below",
                                                    "alert_below")):
            raise InvalidInputError("a monitor needs at least one threshold: warn_above, "
                                    "alert_above, warn_below or alert_below")
        if self.warn_above is not None and self.alert_above is not None \
                and self.alert_above < self.warn_above:
            raise InvalidInputError(f"alert_above ({self.alert_above:g}) is below warn_above "
                                    f"({self.warn_above:g}): an alert is the worse state")
        if self.warn_below is not None and self.alert_below is not None \
                and self.alert_below > self.warn_below:
            raise InvalidInputError(f"alert_below ({self.alert_below:g}) is above warn_below "
                                    f"({self.warn_below:g}): an alert is the worse state")

    def classify(self, value: float) -> tuple[MonitorState, str | None, float | None]:
        """``(state, "above"|"below", threshold crossed)`` of a value; OK crosses none."""
        for state, above, below in ((MonitorState.ALERT, self.alert_above, self.alert_below),
                                    (MonitorState.WARNING, self.warn_above, self.warn_below)):
            if above is not None and value > above:
                return state, "above", above
            if below is not None and value < below:
                return state, "below", below
        return MonitorState.OK, None, None

    def to_dict(self) -> dict[str, float | None]:
        return {"warn_above": self.warn_above, "alert_above": self.alert_above,
                "warn_below": self.warn_below, "alert_below": self.alert_below}


@dataclass(frozen=True)
class Webhook:
    """Where notifications are POSTed; with a ``secret`` each body is signed (HMAC-SHA256)."""

    url: str
    secret: str | None = None
    format: WebhookFormat = WebhookFormat.JSON

    def __post_init__(self) -> None:
        if not isinstance(self.url, str) or not self.url.lower().startswith(
                ("http://", "https://")):
            raise InvalidInputError(f"a webhook URL starts with http:// or https://, "
                                    f"got {self.url!r}")
        try:
            object.__setattr__(self, "format", WebhookFormat(str(self.format).lower()))
        except ValueError:
            raise InvalidInputError(f"webhook format must be json or slack, "
                                    f"got {self.format!r}") from None

    def to_dict(self, *, reveal_secret: bool = False) -> dict[str, Any]:
        """The webhook as shown: the secret only says whether there is one."""
        secret: Any = self.secret if reveal_secret else self.secret is not None
        return {"url": self.url, "format": self.format.value,
                ("secret" if reveal_secret else "signed"): secret}


@dataclass(frozen=True)
class Monitor:
    """A monitor's definition (what ``monitor create`` stores).

    ``window_ms`` is the rolling window ending at each evaluation, ``cadence_ms`` how often
    it is evaluated (the window is never shorter), ``min_samples`` the fewest samples
    (traces, assessments or spans) a value needs, ``renotify_ms`` how often a WARNING or
    ALERT that lasts is notified again (None: once).
    """

    name: str
    metric: Metric
    window_ms: int
    cadence_ms: int
    thresholds: Thresholds
    filter_string: str | None = None
    experiment_ids: tuple[str, ...] | None = None
    min_samples: int = 1
    renotify_ms: int | None = None
    no_data: NoDataPolicy = NoDataPolicy.NO_DATA
    webhook: Webhook | None = None
    monitor_id: str = ""
    created_ms: int = 0

    def with_id(self, monitor_id: str, created_ms: int) -> Monitor:
        return replace(self, monitor_id=monitor_id, created_ms=created_ms)

    def to_dict(self, *, reveal_secret: bool = False) -> dict[str, Any]:
        return {
            "monitor_id": self.monitor_id, "name": self.name, "metric": str(self.metric),
            "filter": self.filter_string,
            "experiment_ids": None if self.experiment_ids is None else list(
                self.experiment_ids),
            "window_ms": self.window_ms, "cadence_ms": self.cadence_ms,
            **self.thresholds.to_dict(), "min_samples": self.min_samples,
            "renotify_ms": self.renotify_ms, "no_data": self.no_data.value,
            "webhook": None if self.webhook is None else self.webhook.to_dict(
                reveal_secret=reveal_secret),
            "created_ms": self.created_ms,
        }


@dataclass(frozen=True)
class MonitorStatus:
    """A monitor's standing between evaluations (what the state machine reads and writes).

    ``state`` None: never evaluated. ``notified`` is the state last notified while a
    problem is open (WARNING, ALERT or NO_DATA), None once a recovery was sent or before
    anything went wrong: a recovery is sent only to someone who was told of a problem.
    """

    state: MonitorState | None = None
    since_ms: int | None = None  # when the current state began
    last_eval_ms: int | None = None
    last_notified_ms: int | None = None
    notified: MonitorState | None = None
    next_due_ms: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {"state": None if self.state is None else self.state.value,
                "since_ms": self.since_ms, "last_eval_ms": self.last_eval_ms,
                "last_notified_ms": self.last_notified_ms,
                "notified": None if self.notified is None else self.notified.value,
                "next_due_ms": self.next_due_ms}


@dataclass(frozen=True)
class MonitorEvaluation:
    """One evaluation, kept so a monitor's history can be plotted.

    ``event`` is the notification it caused (``triggered``, ``escalated``,
    ``deescalated``, ``renotified``, ``recovered``, ``no_data``) or None.
    """

    monitor_id: str
    time_ms: int
    state: MonitorState
    value: float | None
    samples: int
    window_start_ms: int
    window_end_ms: int
    event: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"monitor_id": self.monitor_id, "time_ms": self.time_ms,
                "state": self.state.value, "value": self.value, "samples": self.samples,
                "window_start_ms": self.window_start_ms, "window_end_ms": self.window_end_ms,
                "event": self.event}


def monitor_from_dict(data: dict[str, Any]) -> Monitor:
    """The ``Monitor`` of ``Monitor.to_dict(reveal_secret=True)`` (how stores keep it)."""
    hook = data.get("webhook")
    experiments = data.get("experiment_ids")
    return Monitor(
        name=data["name"], metric=parse_metric(data["metric"]),
        window_ms=int(data["window_ms"]), cadence_ms=int(data["cadence_ms"]),
        thresholds=Thresholds(data.get("warn_above"), data.get("alert_above"),
                              data.get("warn_below"), data.get("alert_below")),
        filter_string=data.get("filter"),
        experiment_ids=None if experiments is None else tuple(str(e) for e in experiments),
        min_samples=int(data.get("min_samples", 1)), renotify_ms=data.get("renotify_ms"),
        no_data=NoDataPolicy(data.get("no_data", "no_data")),
        webhook=None if hook is None else Webhook(hook["url"], hook.get("secret"),
                                                  WebhookFormat(hook.get("format", "json"))),
        monitor_id=data.get("monitor_id", ""), created_ms=int(data.get("created_ms", 0)))


def next_due(due_ms: int, cadence_ms: int, now_ms: int) -> int:
    """The first time after ``now_ms`` on the cadence that started at ``due_ms`` (missed
    evaluations are skipped, not caught up)."""
    if due_ms > now_ms:
        return due_ms
    return due_ms + ((now_ms - due_ms) // cadence_ms + 1) * cadence_ms


def duration_text(ms: int | None) -> str:
    """``90000`` as ``90s``, ``3600000`` as ``1h``: the largest unit that divides it."""
    if ms is None:
        return ""
    for unit, size in (("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1000)):
        if ms % size == 0:
            return f"{ms // size}{unit}"
    return f"{ms / 1000:g}s"


def _state_or_none(text: str | None) -> MonitorState | None:
    return None if text is None else MonitorState(text)


def status_from_dict(data: dict[str, Any]) -> MonitorStatus:
    """The ``MonitorStatus`` of ``MonitorStatus.to_dict()`` (as the REST API sends it)."""
    return MonitorStatus(state=_state_or_none(data.get("state")), since_ms=data.get("since_ms"),
                         last_eval_ms=data.get("last_eval_ms"),
                         last_notified_ms=data.get("last_notified_ms"),
                         notified=_state_or_none(data.get("notified")),
                         next_due_ms=int(data.get("next_due_ms") or 0))


def evaluation_from_dict(data: dict[str, Any]) -> MonitorEvaluation:
    """The ``MonitorEvaluation`` of ``MonitorEvaluation.to_dict()``."""
    return MonitorEvaluation(monitor_id=data["monitor_id"], time_ms=int(data["time_ms"]),
                             state=MonitorState(data["state"]), value=data.get("value"),
                             samples=int(data["samples"]),
                             window_start_ms=int(data["window_start_ms"]),
                             window_end_ms=int(data["window_end_ms"]), event=data.get("event"))
