"""API keys over HTTP, for admins: list, create (the token is in this response only),
revoke. The same operations as ``spanscope keys``."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from pydantic import Field
from starlette.concurrency import run_in_threadpool

from spanscope.server.routes._common import ADMIN, Body, WireResponse, reply
from spanscope.store.keys import KeyStore, Role

__all__ = ["router"]

router = APIRouter(prefix="/api/keys", tags=["keys"])


class CreateKey(Body):
    role: Role
    name: str | None = Field(default=None, max_length=256)


def _keys(request: Request) -> KeyStore:
    return request.app.state.keys  # type: ignore[no-any-return]


@router.get("", **ADMIN)
def list_keys(request: Request,
              include_revoked: Annotated[bool, Query()] = False) -> WireResponse:
    found = _keys(request).list_keys(include_revoked=include_revoked)
    return reply({"keys": [key.to_dict() for key in found]})


@router.post("", **ADMIN)
async def create_key(body: CreateKey, request: Request) -> WireResponse:
    created = await run_in_threadpool(_keys(request).create_key, body.role, name=body.name)
    return reply({"key": created.key.to_dict(), "token": created.token})


@router.delete("/{key_id}", **ADMIN)
def revoke_key(key_id: str, request: Request) -> WireResponse:
    return reply({"key": _keys(request).revoke_key(key_id).to_dict()})
