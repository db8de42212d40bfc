"""``GET /api/export/traces``: every trace a filter selects, streamed as JSONL or MLflow JSON.

The server side of ``spanscope export`` for a remote store: a page of traces (spans,
tags, metadata, assessments) is read and sent at a time
(``spanscope.lifecycle.export.stream_export``), so memory stays flat however many traces
match. A bad filter or an unknown experiment is a 400 or 404 before anything is sent.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import StreamingResponse

from spanscope.lifecycle.export import stream_export
from spanscope.server.routes._common import VIEWER, store_of

__all__ = ["router"]

router = APIRouter(prefix="/api", tags=["export"])

_MEDIA_TYPES = {"jsonl": "application/x-ndjson", "mlflow-json": "application/json"}


@router.get("/export/traces", **VIEWER, response_class=StreamingResponse)
def export_traces(
    request: Request,
    format: Annotated[Literal["jsonl", "mlflow-json"], Query()] = "jsonl",
    filter: Annotated[str | None, Query()] = None,
    experiment_id: Annotated[list[str] | None, Query()] = None,
) -> StreamingResponse:
    """Trace JSON per line (``jsonl``) or ``{"traces": [...]}`` (``mlflow-json``), each
    trace with its ``experiment_name``; every experiment unless ``experiment_id`` is given."""
    chunks = stream_export(store_of(request), format=format,  # type: ignore[arg-type]
                           experiment_ids=experiment_id, filter_string=filter)
    filename = "traces.jsonl" if format == "jsonl" else "traces.json"
    return StreamingResponse(chunks, media_type=_MEDIA_TYPES[format], headers={
        "Content-Disposition": f'attachment; filename="{filename}"'})
