"""Monitors, their evaluation history and their notification outbox: the ``MonitorStore``.

Kept off the trace protocols on purpose (as API keys are, ``store/keys.py``): only the
monitor worker, the ``monitor`` commands and the server need them. They live beside the
traces (``spanscope.store.sql.monitors`` for SQL stores; tables ``monitors``,
``monitor_evaluations``, ``monitor_deliveries``), so every process over one database sees
the same monitors, and ``claim_due`` / ``claim_deliveries`` hand each due evaluation and
each notification to exactly one of several server processes.

A notification is written to the outbox (a ``Delivery``) in the same transaction as the
evaluation that caused it, then sent by the notifier with retries: a receiver that is down
delays nothing but its own deliveries, and none is lost when a process stops.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Protocol, runtime_checkable

from spanscope.entities.monitor import Monitor, MonitorEvaluation, MonitorStatus, next_due
from spanscope.exceptions import InvalidInputError, InvalidUriError, NotFoundError

__all__ = [
    "CLAIM_LEASE_MS",
    "Delivery",
    "InMemoryMonitorStore",
    "MonitorStore",
    "new_delivery_id",
    "new_monitor_id",
    "open_monitor_store",
]

# How long a claimed delivery is left to its claimer before another process may retry it.
CLAIM_LEASE_MS = 60_000
NAME_LENGTH = 256


@dataclass(frozen=True)
class Delivery:
    """One notification to one webhook, as kept in the outbox.

    ``status``: ``pending`` (to be sent at ``next_attempt_ms``), ``sent``, or ``failed``
    (given up after the notifier's last retry).
    """

    delivery_id: str
    monitor_id: str
    url: str
    body: str  # the JSON text POSTed
    event: str
    created_ms: int
    next_attempt_ms: int
    attempts: int = 0
    status: str = "pending"
    last_error: str | None = None
    sent_ms: int | None = None

    def to_dict(self) -> dict[str, object]:
        return {"delivery_id": self.delivery_id, "monitor_id": self.monitor_id,
                "url": self.url, "event": self.event, "created_ms": self.created_ms,
                "next_attempt_ms": self.next_attempt_ms, "attempts": self.attempts,
                "status": self.status, "last_error": self.last_error,
                "sent_ms": self.sent_ms}


def new_monitor_id() -> str:
    return f"mon-{secrets.token_hex(6)}"


def new_delivery_id() -> str:
    return secrets.token_hex(8)


def now_ms() -> int:
    return int(time.time() * 1000)


def check_name(name: object) -> str:
    if not isinstance(name, str) or not name.strip() or len(name) > NAME_LENGTH:
        raise InvalidInputError(f"a monitor name is a non-empty string of at most "
                                f"{NAME_LENGTH} characters, got {name!r}")
    return name.strip()


@runtime_checkable
class MonitorStore(Protocol):
    """Where monitor definitions, states, evaluations and pending notifications are kept."""

    def create_monitor(self, monitor: Monitor, *, created_ms: int | None = None) -> Monitor:
        """Store a new monitor (first due at once) and return it with its id;
        ``InvalidInputError`` if the name is taken."""
        ...

    def get_monitor(self, id_or_name: str) -> Monitor:
        """The monitor with this id or name; ``NotFoundError`` if there is none."""
        ...

    def list_monitors(self) -> list[Monitor]:
        """Every monitor, by name."""
        ...

    def delete_monitor(self, id_or_name: str) -> Monitor:
        """Delete a monitor with its history and outbox; ``NotFoundError`` if unknown."""
        ...

    def get_status(self, monitor_id: str) -> MonitorStatus:
        ...

    def claim_due(self, now_ms: int) -> list[tuple[Monitor, MonitorStatus]]:
        """The monitors due at ``now_ms``, each moved to its next due time as it is taken,
        so that of several processes exactly one evaluates it."""
        ...

    def record_evaluation(self, evaluation: MonitorEvaluation, status: MonitorStatus,
                          deliveries: Sequence[Delivery] = ()) -> None:
        """Keep an evaluation, set the monitor's status (its ``next_due_ms`` is left as
        ``claim_due`` set it) and queue its notifications, in one transaction."""
        ...

    def list_evaluations(self, monitor_id: str, *, since_ms: int | None = None,
                         limit: int | None = None) -> list[MonitorEvaluation]:
        """The monitor's evaluations, oldest first (``limit``: the newest that many)."""
        ...

    def claim_deliveries(self, now_ms: int, *, limit: int = 100) -> list[Delivery]:
        """Pending deliveries due at ``now_ms``, oldest first, each leased for
        ``CLAIM_LEASE_MS`` to this caller."""
        ...

    def finish_delivery(self, delivery_id: str, *, status: str, attempts: int,
                        next_attempt_ms: int, error: str | None,
                        sent_ms: int | None = None) -> None:
        """Record an attempt's outcome: ``sent``, ``failed`` or ``pending`` again."""
        ...

    def list_deliveries(self, monitor_id: str | None = None) -> list[Delivery]:
        """Deliveries (of one monitor), oldest first."""
        ...

    def close(self) -> None:
        ...


class InMemoryMonitorStore:
    """Monitors of a ``memory://`` store (and of unit tests): this process only."""

    def __init__(self) -> None:
        self._monitors: dict[str, Monitor] = {}
        self._status: dict[str, MonitorStatus] = {}
        self._evaluations: dict[str, list[MonitorEvaluation]] = {}
        self._deliveries: dict[str, Delivery] = {}
        self._lock = threading.Lock()

    def _find(self, id_or_name: str) -> Monitor:
        found = self._monitors.get(id_or_name) or next(
            (m for m in self._monitors.values() if m.name == id_or_name), None)
        if found is None:
            raise NotFoundError(f"no monitor with id or name {id_or_name!r}")
        return found

    def create_monitor(self, monitor: Monitor, *, created_ms: int | None = None) -> Monitor:
        name = check_name(monitor.name)
        with self._lock:
            if any(m.name == name for m in self._monitors.values()):
                raise InvalidInputError(f"a monitor named {name!r} already exists")
            stored = replace(monitor, name=name).with_id(
                new_monitor_id(), now_ms() if created_ms is None else created_ms)
            self._monitors[stored.monitor_id] = stored
            self._status[stored.monitor_id] = MonitorStatus(next_due_ms=stored.created_ms)
            self._evaluations[stored.monitor_id] = []
        return stored

    def get_monitor(self, id_or_name: str) -> Monitor:
        with self._lock:
            return self._find(id_or_name)

    def list_monitors(self) -> list[Monitor]:
        with self._lock:
            return sorted(self._monitors.values(), key=lambda m: m.name)

    def delete_monitor(self, id_or_name: str) -> Monitor:
        with self._lock:
            found = self._find(id_or_name)
            del self._monitors[found.monitor_id]
            del self._status[found.monitor_id]
            del self._evaluations[found.monitor_id]
            for key in [k for k, d in self._deliveries.items()
                        if d.monitor_id == found.monitor_id]:
                del self._deliveries[key]
            return found

    def get_status(self, monitor_id: str) -> MonitorStatus:
        with self._lock:
            self._find(monitor_id)
            return self._status[monitor_id]

    def claim_due(self, now_ms: int) -> list[tuple[Monitor, MonitorStatus]]:
        out = []
        with self._lock:
            for monitor in sorted(self._monitors.values(), key=lambda m: m.name):
                status = self._status[monitor.monitor_id]
                if status.next_due_ms <= now_ms:
                    self._status[monitor.monitor_id] = replace(status, next_due_ms=next_due(
                        status.next_due_ms, monitor.cadence_ms, now_ms))
                    out.append((monitor, status))
        return out

    def record_evaluation(self, evaluation: MonitorEvaluation, status: MonitorStatus,
                          deliveries: Sequence[Delivery] = ()) -> None:
        with self._lock:
            self._find(evaluation.monitor_id)
            due = self._status[evaluation.monitor_id].next_due_ms
            self._status[evaluation.monitor_id] = replace(status, next_due_ms=due)
            self._evaluations[evaluation.monitor_id].append(evaluation)
            for delivery in deliveries:
                self._deliveries[delivery.delivery_id] = delivery

    def list_evaluations(self, monitor_id: str, *, since_ms: int | None = None,
                         limit: int | None = None) -> list[MonitorEvaluation]:
        with self._lock:
            self._find(monitor_id)
            found = [e for e in self._evaluations[monitor_id]
                     if since_ms is None or e.time_ms >= since_ms]
        found.sort(key=lambda e: e.time_ms)
        return found if limit is None else found[-limit:] if limit > 0 else []

    def claim_deliveries(self, now_ms: int, *, limit: int = 100) -> list[Delivery]:
        with self._lock:
            due = sorted((d for d in self._deliveries.values()
                          if d.status == "pending" and d.next_attempt_ms <= now_ms),
                         key=lambda d: (d.created_ms, d.delivery_id))[:limit]
            for delivery in due:
                self._deliveries[delivery.delivery_id] = replace(
                    delivery, next_attempt_ms=now_ms + CLAIM_LEASE_MS)
            return due

    def finish_delivery(self, delivery_id: str, *, status: str, attempts: int,
                        next_attempt_ms: int, error: str | None,
                        sent_ms: int | None = None) -> None:
        with self._lock:
            found = self._deliveries.get(delivery_id)
            if found is None:
                return  # its monitor was deleted meanwhile
            self._deliveries[delivery_id] = replace(
                found, status=status, attempts=attempts, next_attempt_ms=next_attempt_ms,
                last_error=error, sent_ms=sent_ms)

    def list_deliveries(self, monitor_id: str | None = None) -> list[Delivery]:
        with self._lock:
            found = [d for d in self._deliveries.values()
                     if monitor_id is None or d.monitor_id == monitor_id]
        return sorted(found, key=lambda d: (d.created_ms, d.delivery_id))

    def close(self) -> None:
        pass


def open_monitor_store(uri: str) -> MonitorStore:
    """The monitor store of the tracking store at ``uri``: the same database, or the
    server's ``/api/monitors`` for an http(s) URI."""
    scheme = uri.split(":", 1)[0].split("+", 1)[0].lower()
    if scheme == "memory":
        return InMemoryMonitorStore()
    if scheme in ("sqlite", "postgresql", "postgres"):
        from spanscope.store.sql.monitors import SqlMonitorStore

        return SqlMonitorStore(uri)
    if scheme in ("http", "https"):
        from spanscope.store.rest_monitors import RestMonitorStore

        return RestMonitorStore(uri)
    raise InvalidUriError(f"no monitor store for {uri!r}: use sqlite:///, postgresql:// or "
                          "the http(s):// address of a server")
