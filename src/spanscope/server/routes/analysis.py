"""Analysis: ``health`` and ``diagnose`` of one trace; ``summarize``, ``profile``,
``error_patterns`` and ``compare`` over a filter, computed in the server's store.

Each handler calls the capability function of ``spanscope.analysis`` with
``store=`` the server's store and answers its ``to_dict()``. Times (``start``, ``end``)
take what the Python functions take: epoch milliseconds, ISO dates, or ``"24h"``-style
durations back from now.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from pydantic import Field

from spanscope import analysis
from spanscope.server.routes._common import (
    INT64_MAX,
    VIEWER,
    Body,
    Id,
    Int64,
    WireResponse,
    reply,
    store_of,
)

__all__ = ["router"]

router = APIRouter(prefix="/api", tags=["analysis"])

Time = int | float | str


class Over(Body):
    """Which traces: experiments (default: the server's default experiment), a filter and
    a ``request_time`` window."""

    experiment_ids: list[Id] | None = None
    filter_string: str | None = None
    start: Time | None = None
    end: Time | None = None


class Summarize(Over):
    group_by: str | None = Field(default=None, description="tags.KEY, metadata.KEY, user, "
                                 "session or span_type")
    bucket: str | None = Field(default=None, description="minute, hour or day")


class ErrorPatterns(Over):
    top: int | None = Field(default=None, ge=1, le=INT64_MAX)


class Compare(Body):
    filter_a: str | None = None
    filter_b: str | None = None
    experiment_ids: list[Id] | None = None
    start: Time | None = None
    end: Time | None = None
    labels: tuple[str, str] | None = None
    sample_size: int = Field(default=5_000, ge=1, le=100_000)
    resamples: int = Field(default=1000, ge=1, le=10_000)
    confidence: float = Field(default=0.95, gt=0, lt=1)
    seed: Int64 = 0
    min_spans: int = Field(default=20, ge=1, le=INT64_MAX)


@router.get("/traces/{trace_id}/health", **VIEWER)
def trace_health(trace_id: str, request: Request) -> WireResponse:
    return reply(analysis.health(store_of(request).get_trace(trace_id)).to_dict())


@router.get("/traces/{trace_id}/diagnose", **VIEWER)
def trace_diagnose(trace_id: str, request: Request) -> WireResponse:
    findings = analysis.diagnose(store_of(request).get_trace(trace_id))
    return reply({"findings": [finding.to_dict() for finding in findings]})


@router.post("/analysis/summarize", **VIEWER)
def summarize(body: Summarize, request: Request) -> WireResponse:
    return reply(analysis.summarize(
        body.filter_string, body.experiment_ids, body.start, body.end, body.group_by,
        body.bucket, store=store_of(request)).to_dict())


@router.post("/analysis/profile", **VIEWER)
def profile(body: Over, request: Request) -> WireResponse:
    return reply(analysis.profile_traces(
        body.filter_string, body.experiment_ids, body.start, body.end,
        store=store_of(request)).to_dict())


@router.post("/analysis/error_patterns", **VIEWER)
def error_patterns(body: ErrorPatterns, request: Request) -> WireResponse:
    return reply(analysis.error_patterns(
        body.filter_string, body.experiment_ids, body.start, body.end, top=body.top,
        store=store_of(request)).to_dict())


@router.post("/analysis/compare", **VIEWER)
def compare(body: Compare, request: Request) -> WireResponse:
    return reply(analysis.compare(
        body.filter_a, body.filter_b, experiment_ids=body.experiment_ids, start=body.start,
        end=body.end, labels=body.labels, sample_size=body.sample_size,
        resamples=body.resamples, confidence=body.confidence, seed=body.seed,
        min_spans=body.min_spans, store=store_of(request)).to_dict())
