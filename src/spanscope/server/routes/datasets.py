"""Evaluation datasets and their records: create, read, search, tag, merge, versions."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from pydantic import Field

from spanscope.entities.dataset import RecordUpdate
from spanscope.exceptions import NotFoundError
from spanscope.server.routes._common import (
    ADMIN,
    EDITOR,
    VIEWER,
    Body,
    Id,
    WireResponse,
    reply,
    store_of,
)
from spanscope.store import wire

__all__ = ["router"]

router = APIRouter(prefix="/api", tags=["datasets"])


class CreateDataset(Body):
    name: str
    experiment_ids: list[Id] | None = None
    tags: dict[str, Any] | None = None
    created_by: str | None = None


class SearchDatasets(Body):
    experiment_ids: list[Id] | None = None
    filter_string: str | None = None
    order_by: list[str] | None = None
    max_results: int | None = Field(default=None, ge=1)


class DatasetTags(Body):
    tags: dict[str, Any] = Field(description="A null value deletes the tag.")


class MergeRecords(Body):
    records: list[dict[str, Any]] = Field(
        description="[{inputs, expectations, outputs, tags, source, source_trace_id}]")


@router.post("/datasets", **EDITOR)
def create_dataset(body: CreateDataset, request: Request) -> WireResponse:
    return reply(store_of(request).create_dataset(
        body.name, experiment_ids=body.experiment_ids, tags=body.tags,
        created_by=body.created_by))


@router.post("/datasets/search", **VIEWER)
def search_datasets(body: SearchDatasets, request: Request) -> WireResponse:
    return reply({"datasets": store_of(request).search_datasets(
        body.experiment_ids, filter_string=body.filter_string, order_by=body.order_by,
        max_results=body.max_results)})


@router.get("/datasets/{dataset_id}", **VIEWER)
def get_dataset(dataset_id: str, request: Request) -> WireResponse:
    return reply(store_of(request).get_dataset(dataset_id))


@router.delete("/datasets/{dataset_id}", **ADMIN)
def delete_dataset(dataset_id: str, request: Request) -> WireResponse:
    store_of(request).delete_dataset(dataset_id)
    return reply()


@router.get("/datasets-by-name/{name}", **VIEWER)
def get_dataset_by_name(name: str, request: Request) -> WireResponse:
    found = store_of(request).get_dataset_by_name(name)
    if found is None:
        raise NotFoundError(f"no dataset named {name!r}")
    return reply(found)


@router.patch("/datasets/{dataset_id}/tags", **EDITOR)
def set_dataset_tags(dataset_id: str, body: DatasetTags, request: Request) -> WireResponse:
    return reply(store_of(request).set_dataset_tags(dataset_id, body.tags))


@router.post("/datasets/{dataset_id}/records", **EDITOR)
def merge_records(dataset_id: str, body: MergeRecords, request: Request) -> WireResponse:
    """Upsert records by inputs as one new version; returns the merge counts."""
    records = wire.decode(list[RecordUpdate], body.records, "records")
    return reply(store_of(request).merge_dataset_records(dataset_id, records))


@router.get("/datasets/{dataset_id}/records", **VIEWER)
def get_records(dataset_id: str, request: Request,
                version: Annotated[int | None, Query(ge=0)] = None) -> WireResponse:
    return reply({"records": store_of(request).get_dataset_records(dataset_id,
                                                                   version=version)})


@router.get("/datasets/{dataset_id}/versions", **VIEWER)
def list_versions(dataset_id: str, request: Request) -> WireResponse:
    return reply({"versions": store_of(request).list_dataset_versions(dataset_id)})
