"""Monitors over HTTP: the same operations as ``spanscope monitor`` (create, list, show
with history, delete, test), on the server's monitor store (``app.state.monitors``)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from pydantic import Field
from starlette.concurrency import run_in_threadpool

from spanscope.monitoring.definition import define_monitor
from spanscope.monitoring.monitors import dry_run_monitor
from spanscope.server.routes._common import (
    ADMIN,
    EDITOR,
    VIEWER,
    Body,
    Id,
    Int64,
    WireResponse,
    reply,
    store_of,
)
from spanscope.store.monitors import MonitorStore

__all__ = ["router"]

router = APIRouter(prefix="/api/monitors", tags=["monitors"])


class CreateMonitor(Body):
    name: str = Field(max_length=256)
    metric: str
    filter: str | None = None
    experiment_ids: list[Id] | None = None
    window: str | int = "1h"
    cadence: str | int = "5m"
    warn_above: float | None = None
    alert_above: float | None = None
    warn_below: float | None = None
    alert_below: float | None = None
    min_samples: int = Field(default=1, ge=0)
    renotify: str | int | None = None
    no_data: Literal["no_data", "ok", "keep", "alert"] = "no_data"
    webhook: str | None = None
    webhook_secret: str | None = None
    webhook_format: Literal["json", "slack"] = "json"


def _monitors(request: Request) -> MonitorStore:
    return request.app.state.monitors  # type: ignore[no-any-return]


def _public_url(request: Request) -> str:
    config = request.app.state.config
    return config.public_url or str(request.base_url).rstrip("/")


@router.get("", **VIEWER)
def list_monitors(request: Request) -> WireResponse:
    """Every monitor with its current status."""
    store = _monitors(request)
    return reply({"monitors": [{**m.to_dict(), "status": store.get_status(
        m.monitor_id).to_dict()} for m in store.list_monitors()]})


@router.post("", **EDITOR)
async def create_monitor(body: CreateMonitor, request: Request) -> WireResponse:
    """Create a monitor (400 naming what is wrong with a bad definition)."""
    monitor = define_monitor(
        body.name, body.metric, filter_string=body.filter, experiment_ids=body.experiment_ids,
        window=body.window, cadence=body.cadence, warn_above=body.warn_above,
        alert_above=body.alert_above, warn_below=body.warn_below,
        alert_below=body.alert_below, min_samples=body.min_samples, renotify=body.renotify,
        no_data=body.no_data, webhook=body.webhook, webhook_secret=body.webhook_secret,
        webhook_format=body.webhook_format)
    created = await run_in_threadpool(_monitors(request).create_monitor, monitor)
    return reply({"monitor": created.to_dict()})


@router.get("/{monitor_id}", **VIEWER)
def get_monitor(monitor_id: str, request: Request,
                limit: Annotated[int, Query(ge=0, le=10_000)] = 100) -> WireResponse:
    """A monitor (by id or name), its status and its latest ``limit`` evaluations."""
    store = _monitors(request)
    found = store.get_monitor(monitor_id)
    return reply({"monitor": found.to_dict(),
                  "status": store.get_status(found.monitor_id).to_dict(),
                  "evaluations": [e.to_dict() for e in store.list_evaluations(
                      found.monitor_id, limit=limit)],
                  "deliveries": [d.to_dict() for d in store.list_deliveries(
                      found.monitor_id)[-limit:]]})


@router.get("/{monitor_id}/evaluations", **VIEWER)
def list_evaluations(monitor_id: str, request: Request,
                     since_ms: Annotated[Int64 | None, Query()] = None,
                     limit: Annotated[int | None, Query(ge=0)] = None) -> WireResponse:
    """The monitor's evaluation history, oldest first: state, value, samples, time."""
    found = _monitors(request).list_evaluations(monitor_id, since_ms=since_ms, limit=limit)
    return reply({"evaluations": [e.to_dict() for e in found]})


@router.delete("/{monitor_id}", **ADMIN)
def delete_monitor(monitor_id: str, request: Request) -> WireResponse:
    return reply({"monitor": _monitors(request).delete_monitor(monitor_id).to_dict()})


@router.post("/{monitor_id}/test", **VIEWER)
def test_monitor(monitor_id: str, request: Request) -> WireResponse:
    """Evaluate now and return what would be sent; nothing is kept or sent."""
    done = dry_run_monitor(monitor_id, store=store_of(request),  # type: ignore[arg-type]
                           monitor_store=_monitors(request), base_url=_public_url(request))
    return reply({"evaluation": done.evaluation.to_dict(), "event": done.step.event,
                  "direction": done.step.direction, "threshold": done.step.threshold,
                  "has_data": done.step.has_data, "payload": done.payload})
