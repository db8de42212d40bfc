"""``RestMonitorStore``: the monitors of a remote ``spanscope server`` (``/api/monitors``).

What ``spanscope --tracking-uri http://server monitor …`` and the Python API use when the
tracking URI is a server: definitions, status and history go over HTTP (with
``SPANSCOPE_API_KEY``). The worker's own steps (claiming due monitors, recording
evaluations, the outbox) stay on the server, whose worker evaluates the monitors, so they
are refused here with a message saying so.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from spanscope.entities.monitor import (
    Monitor,
    MonitorEvaluation,
    MonitorStatus,
    evaluation_from_dict,
    monitor_from_dict,
    status_from_dict,
)
from spanscope.exceptions import InvalidInputError
from spanscope.store.http import HttpSession, segment
from spanscope.store.monitors import Delivery

__all__ = ["RestMonitorStore"]


def _body(monitor: Monitor) -> dict[str, Any]:
    """``POST /api/monitors``'s body for a defined monitor (durations in ms)."""
    data = monitor.to_dict(reveal_secret=True)
    hook = data.pop("webhook")
    for key in ("monitor_id", "created_ms"):
        data.pop(key)
    data["window"] = data.pop("window_ms")
    data["cadence"] = data.pop("cadence_ms")
    data["renotify"] = data.pop("renotify_ms")
    if hook is not None:
        data.update(webhook=hook["url"], webhook_secret=hook["secret"],
                    webhook_format=hook["format"])
    return data


class RestMonitorStore:
    """``MonitorStore``'s reading and defining half, over a server's REST API."""

    def __init__(self, uri: str, *, api_key: str | None = None) -> None:
        self.uri = uri.rstrip("/")
        self._http = HttpSession(self.uri, api_key=api_key)

    def __repr__(self) -> str:
        return f"RestMonitorStore({self.uri!r})"

    def _path(self, id_or_name: str, rest: str = "") -> str:
        return f"/api/monitors/{segment(id_or_name)}{rest}"

    def create_monitor(self, monitor: Monitor, *, created_ms: int | None = None) -> Monitor:
        answer = self._http.json("POST", "/api/monitors", body=_body(monitor),
                                 idempotent=False)
        return monitor_from_dict(answer["monitor"])

    def get_monitor(self, id_or_name: str) -> Monitor:
        return monitor_from_dict(self._http.json("GET", self._path(id_or_name),
                                                 params={"limit": 0})["monitor"])

    def list_monitors(self) -> list[Monitor]:
        return [monitor_from_dict(m) for m in self._http.json("GET", "/api/monitors")[
            "monitors"]]

    def delete_monitor(self, id_or_name: str) -> Monitor:
        return monitor_from_dict(self._http.json("DELETE", self._path(id_or_name))["monitor"])

    def get_status(self, monitor_id: str) -> MonitorStatus:
        return status_from_dict(self._http.json("GET", self._path(monitor_id),
                                                params={"limit": 0})["status"])

    def list_evaluations(self, monitor_id: str, *, since_ms: int | None = None,
                         limit: int | None = None) -> list[MonitorEvaluation]:
        params = {k: v for k, v in (("since_ms", since_ms), ("limit", limit)) if v is not None}
        answer = self._http.json("GET", self._path(monitor_id, "/evaluations"), params=params)
        return [evaluation_from_dict(e) for e in answer["evaluations"]]

    def list_deliveries(self, monitor_id: str | None = None) -> list[Delivery]:
        ids = [monitor_id] if monitor_id else [m.monitor_id for m in self.list_monitors()]
        out = []
        for one in ids:
            for d in self._http.json("GET", self._path(one))["deliveries"]:
                out.append(Delivery(body="", **d))
        return out

    def dry_run(self, id_or_name: str) -> dict[str, Any]:
        """``POST /api/monitors/{id}/test``: the server evaluates now, keeps nothing."""
        return self._http.json("POST", self._path(id_or_name, "/test"))  # type: ignore[no-any-return]

    def _worker_only(self, action: str) -> InvalidInputError:
        return InvalidInputError(f"{action} is the monitor worker's, which runs on the server "
                                 f"{self.uri}; run 'spanscope monitor run' where the "
                                 "database is, or let the server evaluate the monitors")

    def claim_due(self, now_ms: int) -> list[tuple[Monitor, MonitorStatus]]:
        raise self._worker_only("evaluating monitors")

    def record_evaluation(self, evaluation: MonitorEvaluation, status: MonitorStatus,
                          deliveries: Sequence[Delivery] = ()) -> None:
        raise self._worker_only("recording evaluations")

    def claim_deliveries(self, now_ms: int, *, limit: int = 100) -> list[Delivery]:
        raise self._worker_only("sending notifications")

    def finish_delivery(self, delivery_id: str, *, status: str, attempts: int,
                        next_attempt_ms: int, error: str | None,
                        sent_ms: int | None = None) -> None:
        raise self._worker_only("sending notifications")

    def close(self) -> None:
        self._http.close()
