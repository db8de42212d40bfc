"""Traces: write a batch, read one or many, search (POST for programs, GET for browsers),
tags, and deletion.

Writes go through the ingest queue (``app.state.ingest``), so a 2xx on
``POST /api/traces/batch`` means the traces are committed, and a saturated writer
answers 503 with ``Retry-After`` instead of queueing without bound.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from pydantic import Field
from starlette.concurrency import run_in_threadpool

from spanscope.entities import Trace
from spanscope.exceptions import NotFoundError
from spanscope.server.routes._common import (
    ADMIN,
    EDITOR,
    INT64_MAX,
    VIEWER,
    Body,
    Id,
    Int64,
    WireResponse,
    reply,
    store_of,
)
from spanscope.store import wire

__all__ = ["router"]

router = APIRouter(prefix="/api", tags=["traces"])

MAX_BATCH_GET = 1000  # trace ids per get-batch request


class TraceBatch(Body):
    traces: list[dict] = Field(description="Traces as the trace JSON (Trace.to_dict()).")


class TraceIds(Body):
    trace_ids: list[str] = Field(max_length=MAX_BATCH_GET)


class SearchTraces(Body):
    experiment_ids: list[Id] | None = None
    filter_string: str | None = None
    order_by: list[str] | None = None
    max_results: int = Field(default=100, ge=1, le=INT64_MAX)
    page_token: str | None = None
    include_spans: bool = True
    highlight: bool = Field(default=False, description="Where the filter's text "
                            "comparisons matched, per trace id, in `highlights`.")


class SearchTraceIds(Body):
    experiment_ids: list[Id] | None = None
    filter_string: str | None = None
    max_results: int | None = Field(default=None, ge=1, le=INT64_MAX)


class SetTag(Body):
    key: str
    value: str


class DeleteTraces(Body):
    experiment_id: Id
    max_timestamp_millis: Int64 | None = None
    max_traces: int | None = Field(default=None, ge=1, le=INT64_MAX)
    trace_ids: list[str] | None = None
    dry_run: bool = False


class DeleteTraceIds(Body):
    trace_ids: list[str]
    dry_run: bool = False


@router.post("/traces/batch", **EDITOR)
async def log_traces(body: TraceBatch, request: Request) -> WireResponse:
    """Store traces (upserted by id); 200 once they are committed."""
    traces = await run_in_threadpool(wire.decode, list[Trace], body.traces, "traces")
    await request.app.state.ingest.write(traces)
    return reply({"trace_ids": [trace.info.trace_id for trace in traces]})


@router.get("/traces/{trace_id}", **VIEWER)
def get_trace(trace_id: str, request: Request) -> WireResponse:
    return reply(store_of(request).get_trace(trace_id))


@router.post("/traces/get-batch", **VIEWER)
def get_traces(body: TraceIds, request: Request) -> WireResponse:
    """The traces with these ids, in the order asked; unknown ids are listed as missing."""
    store = store_of(request)
    found, missing = [], []
    for trace_id in body.trace_ids:
        try:
            found.append(store.get_trace(trace_id))
        except NotFoundError:
            missing.append(trace_id)
    return reply({"traces": found, "missing": missing})


def _search(request: Request, query: SearchTraces) -> WireResponse:
    page = store_of(request).search_traces(
        query.experiment_ids, filter_string=query.filter_string, order_by=query.order_by,
        max_results=query.max_results, page_token=query.page_token,
        include_spans=query.include_spans, highlight=query.highlight)
    return WireResponse(wire.encode_page(page, "traces"))


@router.post("/traces/search", **VIEWER)
def search_traces(body: SearchTraces, request: Request) -> WireResponse:
    """One page of traces matching the filter; pass ``next_page_token`` back for more."""
    return _search(request, body)


@router.get("/traces", **VIEWER)
def list_traces(
    request: Request,
    experiment_id: Annotated[list[str] | None, Query()] = None,
    filter: Annotated[str | None, Query()] = None,
    order_by: Annotated[list[str] | None, Query()] = None,
    max_results: Annotated[int, Query(ge=1, le=INT64_MAX)] = 100,
    page_token: Annotated[str | None, Query()] = None,
    include_spans: Annotated[bool, Query()] = True,
    highlight: Annotated[bool, Query()] = False,
) -> WireResponse:
    """``POST /api/traces/search`` as a GET, for browsers and curl."""
    return _search(request, SearchTraces(
        experiment_ids=experiment_id, filter_string=filter, order_by=order_by,
        max_results=max_results, page_token=page_token, include_spans=include_spans,
        highlight=highlight))


@router.post("/traces/search-ids", **VIEWER)
def search_trace_ids(body: SearchTraceIds, request: Request) -> WireResponse:
    ids = store_of(request).search_trace_ids(
        body.experiment_ids, filter_string=body.filter_string, max_results=body.max_results)
    return reply({"trace_ids": ids})


@router.post("/traces/{trace_id}/tags", **EDITOR)
def set_trace_tag(trace_id: str, body: SetTag, request: Request) -> WireResponse:
    store_of(request).set_trace_tag(trace_id, body.key, body.value)
    return reply()


@router.delete("/traces/{trace_id}/tags", **EDITOR)
def delete_trace_tag(trace_id: str, key: Annotated[str, Query()],
                     request: Request) -> WireResponse:
    store_of(request).delete_trace_tag(trace_id, key)
    return reply()


@router.post("/traces/delete", **ADMIN)
def delete_traces(body: DeleteTraces, request: Request) -> WireResponse:
    """MLflow's rules: ``trace_ids``, or ``max_timestamp_millis`` (with ``max_traces``)."""
    deleted = store_of(request).delete_traces(
        body.experiment_id, max_timestamp_millis=body.max_timestamp_millis,
        max_traces=body.max_traces, trace_ids=body.trace_ids, dry_run=body.dry_run)
    return reply({"deleted": deleted})


@router.post("/traces/delete-ids", **ADMIN)
def delete_trace_ids(body: DeleteTraceIds, request: Request) -> WireResponse:
    deleted = store_of(request).delete_trace_ids(body.trace_ids, dry_run=body.dry_run)
    return reply({"deleted": deleted})
