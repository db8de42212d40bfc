"""Data lifecycle over HTTP: retention rules and passes, privacy deletion, storage status.

The same operations as ``spanscope retention``, ``spanscope traces delete --user-id`` and
``spanscope storage``, over ``spanscope.lifecycle``. Changing rules, running a pass and
deleting a user's data need the admin role; reading rules and the storage status, a
viewer. Who asked (the API key's id, when auth is on) goes into the deletion log.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from pydantic import Field
from starlette.concurrency import run_in_threadpool

from spanscope.exceptions import InvalidInputError
from spanscope.server.routes._common import ADMIN, VIEWER, Body, Id, WireResponse, reply, store_of

__all__ = ["router"]

router = APIRouter(prefix="/api", tags=["lifecycle"])


class AddRule(Body):
    experiment_id: Id
    filter_string: str | None = Field(default=None, max_length=10_000)
    keep: str | None = Field(default=None, description="How long: 90m, 12h, 30d, 2w; "
                                                       "none (and no keep_ms): forever.")
    keep_ms: int | None = Field(default=None, gt=0, le=2**62)
    sample_fraction: float = Field(default=1.0, gt=0, le=1)
    name: str | None = Field(default=None, max_length=256)


class ApplyRetention(Body):
    experiment_ids: list[Id] | None = None
    dry_run: bool = False
    now_ms: int | None = Field(default=None, ge=0, le=2**62)


class PrivacyDelete(Body):
    user_id: str | None = Field(default=None, max_length=256)
    session_id: str | None = Field(default=None, max_length=256)
    experiment_ids: list[Id] | None = None
    dataset_records: Literal["remove", "keep"] = "remove"
    dry_run: bool = False


def actor_of(request: Request) -> str:
    """Who asked, for the deletion log: the API key, or the client's address."""
    key = getattr(request.state, "api_key", None)
    if key is not None:
        return f"key:{key.key_id}" + (f" ({key.name})" if key.name else "")
    host = request.client.host if request.client else "unknown"
    return f"anonymous@{host} (auth off)"


def _with_side(request: Request, work: Any) -> Any:
    from spanscope.store.retention import open_retention_store

    side = open_retention_store(store_of(request))
    try:
        return work(side)
    finally:
        side.close()


@router.get("/retention/rules", **VIEWER)
def list_rules(request: Request,
               experiment_id: Annotated[str | None, Query()] = None) -> WireResponse:
    rules = _with_side(request, lambda side: side.list_rules(experiment_id))
    return reply({"rules": [rule.to_dict() for rule in rules]})


@router.post("/retention/rules", **ADMIN)
async def add_rule(body: AddRule, request: Request) -> WireResponse:
    from spanscope.query import parse_duration

    if body.keep is not None and body.keep_ms is not None:
        raise InvalidInputError("give keep or keep_ms, not both")
    keep_ms = body.keep_ms if body.keep is None else parse_duration(body.keep, what="keep")
    rule = await run_in_threadpool(_with_side, request, lambda side: side.add_rule(
        body.experiment_id, filter_string=body.filter_string, keep_ms=keep_ms,
        sample_fraction=body.sample_fraction, name=body.name))
    return reply({"rule": rule.to_dict()})


@router.delete("/retention/rules/{rule_id}", **ADMIN)
def delete_rule(rule_id: str, request: Request) -> WireResponse:
    rule = _with_side(request, lambda side: side.delete_rule(rule_id))
    return reply({"rule": rule.to_dict()})


@router.post("/retention/apply", **ADMIN)
def apply(body: ApplyRetention, request: Request) -> WireResponse:
    """Run a retention pass now (``dry_run``: say what each rule would delete)."""
    from spanscope.lifecycle.retention import apply_retention

    report = _with_side(request, lambda side: apply_retention(
        store_of(request), now_ms=body.now_ms, dry_run=body.dry_run,
        experiment_ids=body.experiment_ids, retention=side, actor=actor_of(request)))
    capacity = request.app.state.capacity
    if capacity is not None and report.deleted and not body.dry_run:
        capacity.refresh()  # ingest may resume at once rather than at the next measurement
    return reply(report.to_dict())


@router.post("/privacy/delete", **ADMIN)
def privacy_delete(body: PrivacyDelete, request: Request) -> WireResponse:
    """Delete every trace of a user or a session; the answer says what was removed."""
    from spanscope.lifecycle.privacy import delete_user_data

    report = _with_side(request, lambda side: delete_user_data(
        store_of(request), user_id=body.user_id, session_id=body.session_id,
        experiment_ids=body.experiment_ids, dataset_records=body.dataset_records,
        dry_run=body.dry_run, actor=actor_of(request), retention=side))
    return reply(report.to_dict())


@router.get("/privacy/deletions", **ADMIN)
def deletions(request: Request, kind: Annotated[str | None, Query()] = None,
              limit: Annotated[int, Query(ge=1, le=10_000)] = 100) -> WireResponse:
    """The deletion log, newest first: who, when, selector (ids hashed), counts."""
    found = _with_side(request, lambda side: side.list_deletions(kind=kind, limit=limit))
    return reply({"deletions": [entry.to_dict() for entry in found]})


@router.get("/storage", **VIEWER)
def storage(request: Request) -> WireResponse:
    """The store's size, and against ``--capacity`` when one is set."""
    capacity = request.app.state.capacity
    if capacity is not None and capacity.status is not None:
        return reply(capacity.status.to_dict())
    size = _with_side(request, lambda side: side.storage_size())
    return reply({"used_bytes": size.used_bytes, "disk_bytes": size.disk_bytes,
                  "capacity_bytes": None, "level": None})
