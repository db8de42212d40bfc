"""Runs (enough for evaluation results): create, read, update, log, search, artifacts.

Artifacts live on the server's filesystem, in the artifact root beside its store
(``spanscope.store.artifacts``); a remote client reads and writes them through
``/api/runs/{id}/artifacts``.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from pydantic import Field
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from spanscope.entities.run import Metric
from spanscope.exceptions import InvalidInputError, NotFoundError
from spanscope.server.routes._common import (
    EDITOR,
    VIEWER,
    Body,
    Id,
    WireResponse,
    reply,
    store_of,
)
from spanscope.store import artifacts, wire

__all__ = ["router"]

router = APIRouter(prefix="/api/runs", tags=["runs"])


class CreateRun(Body):
    experiment_id: Id
    run_name: str | None = None
    start_time: int | None = None
    tags: dict[str, Any] | None = None
    user_id: str | None = None


class UpdateRun(Body):
    status: str | None = None
    end_time: int | None = None
    run_name: str | None = None


class LogBatch(Body):
    metrics: list[dict[str, Any]] = Field(
        default_factory=list, description="[{key, value, timestamp, step}]")
    params: dict[str, Any] | None = None
    tags: dict[str, Any] | None = None


class SearchRuns(Body):
    experiment_ids: list[Id] | None = None
    filter_string: str | None = None
    order_by: list[str] | None = None
    max_results: int | None = Field(default=1000, ge=1)


@router.post("", **EDITOR)
def create_run(body: CreateRun, request: Request) -> WireResponse:
    return reply(store_of(request).create_run(
        body.experiment_id, run_name=body.run_name, start_time=body.start_time,
        tags=body.tags, user_id=body.user_id))


@router.post("/search", **VIEWER)
def search_runs(body: SearchRuns, request: Request) -> WireResponse:
    return reply({"runs": store_of(request).search_runs(
        body.experiment_ids, filter_string=body.filter_string, order_by=body.order_by,
        max_results=body.max_results)})


@router.get("/{run_id}", **VIEWER)
def get_run(run_id: str, request: Request) -> WireResponse:
    return reply(store_of(request).get_run(run_id))


@router.patch("/{run_id}", **EDITOR)
def update_run(run_id: str, body: UpdateRun, request: Request) -> WireResponse:
    return reply(store_of(request).update_run_info(
        run_id, status=body.status, end_time=body.end_time, run_name=body.run_name))


@router.post("/{run_id}/log-batch", **EDITOR)
def log_batch(run_id: str, body: LogBatch, request: Request) -> WireResponse:
    metrics = wire.decode(list[Metric], body.metrics, "metrics")
    store_of(request).log_batch(run_id, metrics=metrics, params=body.params, tags=body.tags)
    return reply()


@router.get("/{run_id}/metrics/{key:path}", **VIEWER)
def get_metric_history(run_id: str, key: str, request: Request) -> WireResponse:
    return reply({"metrics": store_of(request).get_metric_history(run_id, key)})


@router.get("/{run_id}/artifacts", **VIEWER)
def list_artifacts(run_id: str, request: Request,
                   path: Annotated[str | None, Query()] = None) -> WireResponse:
    """Files and directories directly under ``path`` (default: the top)."""
    run = store_of(request).get_run(run_id)
    return reply({"files": artifacts.list_artifacts(_artifact_uri(run.info), path)})


@router.get("/{run_id}/artifacts/{path:path}", **VIEWER,
            responses={200: {"content": {"application/octet-stream": {}}}})
def get_artifact(run_id: str, path: str, request: Request) -> Response:
    """The bytes of one artifact file; 404 if there is none."""
    run = store_of(request).get_run(run_id)
    target = artifacts.resolve_artifact(_artifact_uri(run.info), path)
    if not target.is_file():
        raise NotFoundError(f"no artifact file {path!r} in run {run_id}")
    return Response(target.read_bytes(), media_type="application/octet-stream")


_RAW_BODY = {"requestBody": {"required": True, "content": {"application/octet-stream": {
    "schema": {"type": "string", "format": "binary"}}}}}


@router.put("/{run_id}/artifacts/{path:path}", **{
    **EDITOR, "openapi_extra": {**EDITOR["openapi_extra"], **_RAW_BODY}})
async def put_artifact(run_id: str, path: str, request: Request) -> WireResponse:
    """Write the request body as one artifact file (replacing it whole)."""
    data = await request.body()
    store = store_of(request)
    run = await run_in_threadpool(store.get_run, run_id)
    await run_in_threadpool(artifacts.write_artifact, _artifact_uri(run.info), path, data)
    return reply()


def _artifact_uri(info: Any) -> str:
    if not info.artifact_uri:
        raise InvalidInputError(f"run {info.run_id} has no artifact location")
    return str(info.artifact_uri)
