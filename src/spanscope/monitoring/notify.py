"""Notifications: the webhook payload, its signature, the log line, and sending the outbox.

A notification is queued in the monitor store (``Delivery``) with the evaluation that
caused it and sent afterwards by ``deliver_due``: each attempt is one POST bounded by
``WebhookSender.timeout_s``, the attempts of one pass run side by side on a few threads,
and a failed one is not slept on but scheduled again (``BACKOFF_MS``) for a later pass. So
a receiver that is down or slow delays only its own notifications.

The JSON payload (``payload_of``; documented in docs/monitoring.md) names the monitor, the
event, the state, the value, the threshold crossed, the window and a link to the matching
traces. With a secret, the request carries ``X-Spanscope-Signature: sha256=<hex>``, the
HMAC-SHA256 of ``"<X-Spanscope-Timestamp>.<body>"`` under the secret.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from spanscope import __version__
from spanscope.entities.monitor import (
    Monitor,
    MonitorEvaluation,
    WebhookFormat,
    duration_text,
)
from spanscope.exceptions import SpanscopeError
from spanscope.monitoring.states import Step
from spanscope.store.monitors import Delivery, new_delivery_id

if TYPE_CHECKING:
    import httpx

    from spanscope.store.monitors import MonitorStore

__all__ = [
    "BACKOFF_MS",
    "DeliveryReport",
    "WebhookSender",
    "deliver_due",
    "delivery_for",
    "log_line",
    "payload_of",
    "sign",
    "slack_payload",
]

logger = logging.getLogger("spanscope.monitoring")

# Waits before the 2nd, 3rd, ... attempt; after the last one the delivery is ``failed``.
BACKOFF_MS = (5_000, 30_000, 120_000, 600_000, 1_800_000)
SIGNATURE_HEADER = "X-Spanscope-Signature"
TIMESTAMP_HEADER = "X-Spanscope-Timestamp"


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc).isoformat(
        timespec="milliseconds").replace("+00:00", "Z")


def traces_link(base_url: str | None, monitor: Monitor, start_ms: int,
                end_ms: int) -> str | None:
    """The UI's trace list of the window's matching traces (None without a base URL)."""
    if not base_url:
        return None
    window = (f"attributes.timestamp_ms >= {start_ms} AND "
              f"attributes.timestamp_ms < {end_ms}")
    text = f"({monitor.filter_string}) AND {window}" if monitor.filter_string else window
    experiment = (f"experiment_id={quote(monitor.experiment_ids[0])}&"
                  if monitor.experiment_ids else "")
    return f"{base_url.rstrip('/')}/?{experiment}filter={quote(text)}"


def _value_text(value: float | None) -> str:
    return "no data" if value is None else f"{value:.4g}"


def summary_text(monitor: Monitor, evaluation: MonitorEvaluation, step: Step) -> str:
    """One line for people: what happened, the value and the level it crossed."""
    crossed = ("" if step.threshold is None
               else f" ({step.direction} {step.threshold:g})")
    window = duration_text(monitor.window_ms)
    return (f"[{evaluation.state.value}] monitor {monitor.name!r} {step.event}: "
            f"{monitor.metric} = {_value_text(evaluation.value)}{crossed} over the last "
            f"{window}, {evaluation.samples} samples")


def payload_of(monitor: Monitor, evaluation: MonitorEvaluation, step: Step,
               previous_state: str | None, *, base_url: str | None = None) -> dict[str, Any]:
    """The webhook's JSON payload (docs/monitoring.md describes every field)."""
    return {
        "event": step.event,
        "text": summary_text(monitor, evaluation, step),
        "monitor": {"id": monitor.monitor_id, "name": monitor.name,
                    "metric": str(monitor.metric), "filter": monitor.filter_string,
                    "experiment_ids": None if monitor.experiment_ids is None
                    else list(monitor.experiment_ids)},
        "state": evaluation.state.value,
        "previous_state": previous_state,
        "value": evaluation.value,
        "samples": evaluation.samples,
        "threshold": None if step.threshold is None else {
            "level": evaluation.state.value, "direction": step.direction,
            "value": step.threshold},
        "thresholds": monitor.thresholds.to_dict(),
        "window": {"duration_ms": monitor.window_ms,
                   "start_ms": evaluation.window_start_ms, "end_ms": evaluation.window_end_ms,
                   "start": _iso(evaluation.window_start_ms),
                   "end": _iso(evaluation.window_end_ms)},
        "evaluated_at": _iso(evaluation.time_ms),
        "link": traces_link(base_url, monitor, evaluation.window_start_ms,
                            evaluation.window_end_ms),
    }


_COLORS = {"OK": "#2eb67d", "WARNING": "#ecb22e", "ALERT": "#e01e5a", "NO_DATA": "#868686"}


def slack_payload(payload: dict[str, Any]) -> dict[str, Any]:
    """A Slack-compatible incoming-webhook body: ``text`` plus one coloured attachment."""
    text = payload["text"] + (f" <{payload['link']}|matching traces>" if payload.get("link")
                              else "")
    fields = [{"title": "value", "value": _value_text(payload["value"]), "short": True},
              {"title": "samples", "value": str(payload["samples"]), "short": True}]
    if payload.get("threshold"):
        threshold = payload["threshold"]
        fields.append({"title": "threshold",
                       "value": f"{threshold['direction']} {threshold['value']:g}",
                       "short": True})
    return {"text": text, "attachments": [{"color": _COLORS.get(payload["state"], "#868686"),
                                           "fields": fields}]}


def delivery_for(monitor: Monitor, payload: dict[str, Any], now_ms: int) -> Delivery | None:
    """The outbox entry for ``payload`` (None when the monitor has no webhook)."""
    if monitor.webhook is None:
        return None
    body = slack_payload(payload) if monitor.webhook.format is WebhookFormat.SLACK else payload
    return Delivery(delivery_id=new_delivery_id(), monitor_id=monitor.monitor_id,
                    url=monitor.webhook.url, body=json.dumps(body, sort_keys=True),
                    event=str(payload["event"]), created_ms=now_ms, next_attempt_ms=now_ms)


def log_line(payload: dict[str, Any]) -> None:
    """The log-line notification (always sent, webhook or not)."""
    level = logging.INFO if payload["state"] == "OK" else logging.WARNING
    link = f" {payload['link']}" if payload.get("link") else ""
    logger.log(level, "%s%s", payload["text"], link)


def sign(secret: str, timestamp: str, body: str) -> str:
    """``sha256=<hex>``: HMAC-SHA256 of ``"<timestamp>.<body>"`` under ``secret``."""
    digest = hmac.new(secret.encode(), f"{timestamp}.{body}".encode(), hashlib.sha256)
    return f"sha256={digest.hexdigest()}"


class WebhookSender:
    """POSTs one delivery; an attempt never takes longer than ``timeout_s``."""

    def __init__(self, *, timeout_s: float = 5.0,
                 transport: httpx.BaseTransport | None = None) -> None:
        self.timeout_s = timeout_s
        self._transport = transport

    def send(self, delivery: Delivery, secret: str | None, *,
             wall_clock_s: float | None = None) -> tuple[bool, bool, str | None]:
        """``(delivered, worth retrying, error)`` of one attempt."""
        import httpx

        timestamp = str(int(time.time() if wall_clock_s is None else wall_clock_s))
        headers = {"Content-Type": "application/json", "User-Agent": f"spanscope/{__version__}",
                   "X-Spanscope-Event": delivery.event,
                   "X-Spanscope-Delivery": delivery.delivery_id, TIMESTAMP_HEADER: timestamp}
        if secret:
            headers[SIGNATURE_HEADER] = sign(secret, timestamp, delivery.body)
        try:
            with httpx.Client(timeout=self.timeout_s, transport=self._transport,
                              follow_redirects=False) as client:
                response = client.post(delivery.url, content=delivery.body.encode(),
                                       headers=headers)
        except httpx.HTTPError as exc:
            return False, True, f"{type(exc).__name__}: {exc}"[:500]
        if 200 <= response.status_code < 300:
            return True, False, None
        retry = response.status_code in (408, 429) or response.status_code >= 500
        return False, retry, f"HTTP {response.status_code}: {response.text[:200]}"


@dataclass
class DeliveryReport:
    """What one ``deliver_due`` did."""

    sent: list[str] = field(default_factory=list)
    retrying: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)


def deliver_due(monitor_store: MonitorStore, now_ms: int, sender: WebhookSender, *,
                max_workers: int = 4, limit: int = 100) -> DeliveryReport:
    """Send every delivery due at ``now_ms``: one attempt each, side by side; a failure is
    scheduled again after ``BACKOFF_MS`` or, after the last, marked ``failed``."""
    due = monitor_store.claim_deliveries(now_ms, limit=limit)
    report = DeliveryReport()
    if not due:
        return report
    secrets = {}
    for monitor_id in {d.monitor_id for d in due}:
        try:
            hook = monitor_store.get_monitor(monitor_id).webhook
        except SpanscopeError:
            hook = None  # deleted meanwhile: its deliveries go with it
        secrets[monitor_id] = None if hook is None else hook.secret
    with ThreadPoolExecutor(max_workers=max(1, min(max_workers, len(due))),
                            thread_name_prefix="spanscope-webhook") as pool:
        outcomes = list(pool.map(lambda d: sender.send(d, secrets.get(d.monitor_id)), due))
    for delivery, (ok, retry, error) in zip(due, outcomes, strict=True):
        attempts = delivery.attempts + 1
        if ok:
            status, next_ms = "sent", now_ms
            report.sent.append(delivery.delivery_id)
        elif retry and attempts <= len(BACKOFF_MS):
            status, next_ms = "pending", now_ms + BACKOFF_MS[attempts - 1]
            report.retrying.append(delivery.delivery_id)
            logger.warning("webhook %s for monitor %s failed (attempt %d, retrying in %ds): %s",
                           delivery.url, delivery.monitor_id, attempts,
                           BACKOFF_MS[attempts - 1] // 1000, error)
        else:
            status, next_ms = "failed", now_ms
            report.failed.append(delivery.delivery_id)
            logger.error("webhook %s for monitor %s failed for good after %d attempt(s): %s",
                         delivery.url, delivery.monitor_id, attempts, error)
        monitor_store.finish_delivery(delivery.delivery_id, status=status, attempts=attempts,
                                      next_attempt_ms=next_ms, error=error,
                                      sent_ms=now_ms if ok else None)
    return report

