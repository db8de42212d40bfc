"""``GET /health``: 200 once the store is open and migrated (a load balancer's readiness
check); the one route that never needs a key."""

from __future__ import annotations

from fastapi import APIRouter, Request

from spanscope.server.errors import error_response
from spanscope.server.routes._common import WireResponse, reply

__all__ = ["router"]

router = APIRouter(tags=["health"])


@router.get("/health")
def health(request: Request) -> WireResponse:
    if getattr(request.app.state, "store", None) is None:
        return error_response(503, "TEMPORARILY_UNAVAILABLE",  # type: ignore[return-value]
                              "the store is not open yet", headers={"Retry-After": "1"})
    return reply({"status": "ok"})
