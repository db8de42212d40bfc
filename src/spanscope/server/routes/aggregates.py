"""``POST /api/aggregates/{name}``: the store's analytics, computed in the database.

Body and result are ``spanscope.store.wire``'s aggregate call: ``{"selection": {...},
...options}`` in, the wire-encoded rows out. This is what ``RestStore`` calls so that the
analysis functions of a remote client still aggregate on the server.
"""

from __future__ import annotations

import enum
from typing import Annotated, Any

from fastapi import APIRouter, Body, Request

from spanscope.server.routes._common import VIEWER, WireResponse, reply, store_of
from spanscope.store import wire

__all__ = ["router"]

router = APIRouter(prefix="/api", tags=["aggregates"])

AggregateName = enum.Enum(  # type: ignore[misc]
    "AggregateName", {name: name for name in sorted(wire.AGGREGATES)}, type=str)


@router.post("/aggregates/{name}", **VIEWER)
def aggregate(name: AggregateName, request: Request,
              body: Annotated[dict[str, Any], Body(examples=[{"selection": {}}])],
              ) -> WireResponse:
    """One of trace_stats, model_usage, latency_histogram, span_stats, error_spans,
    trace_sample, numeric_pairs over ``selection``."""
    selection, options = wire.decode_aggregate_call(name.value, body)
    return reply(getattr(store_of(request), name.value)(selection, **options))
