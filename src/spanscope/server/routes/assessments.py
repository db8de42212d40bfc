"""Assessments of a trace: log (feedback or expectation), get, update, delete.

``PATCH`` bodies follow ``wire.decode_changes``: an absent field is left as it is, a
``null`` clears it (the ``UNSET`` / ``None`` distinction of ``update_assessment``).
"""

from __future__ import annotations

import time
from typing import Annotated, Any

from fastapi import APIRouter, Body, Request

from spanscope.entities import Assessment
from spanscope.exceptions import InvalidInputError
from spanscope.server.routes._common import ADMIN, EDITOR, VIEWER, WireResponse, reply, store_of
from spanscope.store import wire

__all__ = ["router"]

router = APIRouter(prefix="/api/traces/{trace_id}/assessments", tags=["assessments"])

_EXAMPLE = {"assessment_name": "correct", "feedback": {"value": True},
            "source": {"source_type": "HUMAN", "source_id": "alice"}, "rationale": "checked"}


@router.post("", **EDITOR)
def create_assessment(trace_id: str, request: Request,
                      body: Annotated[dict[str, Any], Body(examples=[_EXAMPLE])],
                      ) -> WireResponse:
    """Log a feedback (``feedback``) or expectation (``expectation``) on the trace."""
    if body.get("trace_id") not in (None, trace_id):
        raise InvalidInputError(f"the body's trace_id {body['trace_id']!r} is not the "
                                f"trace of the URL ({trace_id!r})")
    body = {**body, "trace_id": trace_id}
    if body.get("create_time") is None:  # a client that leaves it out means "now"
        body["create_time"] = int(time.time() * 1000)
    assessment = wire.decode(Assessment, body, "assessment")
    return reply(store_of(request).create_assessment(assessment))


@router.get("/{assessment_id}", **VIEWER)
def get_assessment(trace_id: str, assessment_id: str, request: Request) -> WireResponse:
    return reply(store_of(request).get_assessment(trace_id, assessment_id))


@router.patch("/{assessment_id}", **EDITOR)
def update_assessment(trace_id: str, assessment_id: str, request: Request,
                      body: Annotated[dict[str, Any],
                                      Body(examples=[{"rationale": "re-checked"}])],
                      ) -> WireResponse:
    """Change name, value, rationale, metadata, error or source; returns the current one."""
    changes = wire.decode_changes(body)
    return reply(store_of(request).update_assessment(trace_id, assessment_id, **changes))


@router.delete("/{assessment_id}", **ADMIN)
def delete_assessment(trace_id: str, assessment_id: str, request: Request) -> WireResponse:
    store_of(request).delete_assessment(trace_id, assessment_id)
    return reply()
