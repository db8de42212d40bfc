"""``GET /metrics``: the server's write-path counters in the Prometheus text format.

Exposes the ``IngestQueue`` counters (``app.state.ingest``: accepted, rejected, persisted,
failed, commits, queue depth) and the OTLP receivers' span counts, so a scrape shows
whether the server keeps up (queue depth near the limit, rejections climbing) and what it
refused. Counters only ever grow within a process; the queue depth is a gauge.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import PlainTextResponse

__all__ = ["render", "router"]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

router = APIRouter(tags=["metrics"])

# (metric name, type, help, where the value comes from)
_INGEST = (
    ("spanscope_ingest_traces_accepted_total", "counter",
     "Traces accepted into the write queue.", "accepted"),
    ("spanscope_ingest_traces_rejected_total", "counter",
     "Traces refused because the writer was saturated or stopping (HTTP 503).", "rejected"),
    ("spanscope_ingest_traces_persisted_total", "counter",
     "Traces committed to the store.", "persisted"),
    ("spanscope_ingest_traces_failed_total", "counter",
     "Accepted traces the store refused (bad input or a store failure).", "failed"),
    ("spanscope_ingest_spans_accepted_total", "counter",
     "Spans accepted into the write queue.", "accepted_spans"),
    ("spanscope_ingest_spans_persisted_total", "counter",
     "Spans committed to the store.", "persisted_spans"),
    ("spanscope_ingest_commits_total", "counter",
     "Store transactions (group commits) run by the writer.", "batches"),
    ("spanscope_ingest_queue_depth", "gauge",
     "Traces accepted and not yet committed.", "queue_depth"),
    ("spanscope_ingest_queue_capacity", "gauge",
     "Pending traces beyond which writes are refused with 503.", "capacity"),
)
_OTLP = (
    ("spanscope_otlp_requests_total", "counter", "OTLP export requests received.", "requests"),
    ("spanscope_otlp_requests_failed_total", "counter",
     "OTLP export requests answered with an error status.", "requests_failed"),
    ("spanscope_otlp_spans_received_total", "counter",
     "Spans in OTLP export requests that decoded.", "spans_received"),
    ("spanscope_otlp_spans_rejected_total", "counter",
     "Spans rejected as invalid (reported as an OTLP partial success).", "spans_rejected"),
)


def render(state: Any) -> str:
    """The metrics text for an app's ``state``."""
    lines: list[str] = []
    ingest = getattr(state, "ingest", None)
    if ingest is not None:
        values = {**ingest.stats(), "capacity": ingest.max_pending_traces}
        for name, kind, help_text, key in _INGEST:
            _metric(lines, name, kind, help_text, values.get(key, 0))
    otlp_stats = getattr(state, "otlp_stats", None)
    for name, kind, help_text, key in _OTLP:
        _metric(lines, name, kind, help_text,
                getattr(otlp_stats, key, 0) if otlp_stats is not None else 0)
    capacity = getattr(state, "capacity", None)
    status = None if capacity is None else capacity.status
    if status is not None:
        _storage(lines, status)
    return "\n".join(lines) + "\n"


def _storage(lines: list[str], status: Any) -> None:
    """The ``--capacity`` gauges (``spanscope.lifecycle.capacity``)."""
    for name, help_text, value in (
            ("spanscope_storage_used_bytes", "Bytes the store's data occupies.",
             status.used_bytes),
            ("spanscope_storage_disk_bytes", "Bytes the store's files take on disk.",
             status.disk_bytes),
            ("spanscope_storage_capacity_bytes", "The configured capacity (--capacity).",
             status.capacity_bytes),
            ("spanscope_storage_level",
             "0 ok, 1 warning (80% of capacity), 2 full (95%: ingest refused with 507).",
             ("ok", "warning", "full").index(status.level))):
        _metric(lines, name, "gauge", help_text, value)
    lines.append("# HELP spanscope_storage_used_ratio Used bytes over the capacity.")
    lines.append("# TYPE spanscope_storage_used_ratio gauge")
    lines.append(f"spanscope_storage_used_ratio {status.fraction:.6f}")


def _metric(lines: list[str], name: str, kind: str, help_text: str, value: int) -> None:
    lines.append(f"# HELP {name} {help_text}")
    lines.append(f"# TYPE {name} {kind}")
    lines.append(f"{name} {int(value)}")


@router.get("/metrics", response_class=PlainTextResponse,
            summary="Write-path counters in the Prometheus text format")
async def metrics(request: Request) -> PlainTextResponse:
    """Ingest queue and OTLP receiver counters (Prometheus text exposition format 0.0.4)."""
    return PlainTextResponse(render(request.app.state), media_type=CONTENT_TYPE)
