"""Experiments: create, list, get by id or by name."""

from __future__ import annotations

from fastapi import APIRouter, Request
from pydantic import Field

from spanscope.exceptions import NotFoundError
from spanscope.server.routes._common import EDITOR, VIEWER, Body, WireResponse, reply, store_of

__all__ = ["router"]

router = APIRouter(prefix="/api", tags=["experiments"])


class CreateExperiment(Body):
    name: str = Field(min_length=1, max_length=256)


@router.post("/experiments", **EDITOR)
def create_experiment(body: CreateExperiment, request: Request) -> WireResponse:
    """Create an experiment; 400 if the name is taken."""
    return reply({"experiment_id": store_of(request).create_experiment(body.name)})


@router.get("/experiments", **VIEWER)
def list_experiments(request: Request) -> WireResponse:
    return reply({"experiments": store_of(request).list_experiments()})


@router.get("/experiments/{experiment_id}", **VIEWER)
def get_experiment(experiment_id: str, request: Request) -> WireResponse:
    return reply(store_of(request).get_experiment(experiment_id))


@router.get("/experiments-by-name/{name}", **VIEWER)
def get_experiment_by_name(name: str, request: Request) -> WireResponse:
    found = store_of(request).get_experiment_by_name(name)
    if found is None:
        raise NotFoundError(f"no experiment named {name!r}")
    return reply(found)
