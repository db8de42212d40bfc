"""Traces whose model calls report cache and reasoning tokens, for the cost tests.

``call_trace(request_time, calls)`` builds a root AGENT span with one child per call
``(model, span_type, usage)``; ``usage`` is written as MLflow's ``mlflow.chat.tokenUsage``
(with ``cache_read_input_tokens`` ... when given). ``PRICES`` is a table with a price
change on ``CHANGE`` (2026-03-01, UTC).
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from spanscope.entities import Span, SpanStatus, SpanStatusCode, Trace, TraceData, TraceInfo
from spanscope.entities.token_usage import sum_token_usage

MS = 1_000_000
DAY_MS = 86_400_000
CHANGE = "2026-03-01"
CHANGE_MS = 1_772_323_200_000  # 2026-03-01T00:00:00Z
OLD = {"input": 1.0, "output": 2.0, "cached_input": 0.1, "cache_write": 1.25, "reasoning": 4.0}
NEW = {"input": 0.5, "output": 1.0}
PRICES = {"currency": "USD", "models": {
    "acme-1": [dict(OLD), {"effective_from": CHANGE, **NEW}],
    "acme-embed": {"input": 0.02, "output": 0.0},
}}

Call = tuple[str | None, str, dict[str, int]]


def usage(input_tokens: int, output_tokens: int, **details: int) -> dict[str, int]:
    return {"input_tokens": input_tokens, "output_tokens": output_tokens,
            "total_tokens": input_tokens + output_tokens, **details}


def call_trace(request_time: int, calls: list[Call], *, experiment_id: str = "0",
               user: str | None = None, session: str | None = None,
               tags: dict[str, str] | None = None) -> Trace:
    trace_id = "tr-" + uuid.uuid4().hex
    start = request_time * MS
    root_id = uuid.uuid4().hex[:16]
    spans = [Span.build(trace_id=trace_id, span_id=root_id, parent_id=None, name="agent",
                        start_time_ns=start, end_time_ns=start + 100 * MS, span_type="AGENT",
                        inputs={"q": "?"}, outputs={"a": "!"},
                        status=SpanStatus(SpanStatusCode.OK))]
    for i, (model, span_type, reported) in enumerate(calls):
        attributes: dict[str, Any] = {"mlflow.chat.tokenUsage": reported}
        if model is not None:
            attributes["mlflow.llm.model"] = model
        spans.append(Span.build(trace_id=trace_id, span_id=uuid.uuid4().hex[:16],
                                parent_id=root_id, name=f"call{i}",
                                start_time_ns=start + (i + 1) * MS,
                                end_time_ns=start + (i + 2) * MS, span_type=span_type,
                                attributes=attributes))
    metadata = {"mlflow.trace.tokenUsage": json.dumps(
        sum_token_usage(reported for _, _, reported in calls))}
    if user is not None:
        metadata["mlflow.trace.user"] = user
    if session is not None:
        metadata["mlflow.trace.session"] = session
    info = TraceInfo(trace_id=trace_id, experiment_id=experiment_id, request_time=request_time,
                     execution_duration=100, state="OK", trace_metadata=metadata,
                     tags={"mlflow.traceName": "agent", **(tags or {})})
    return Trace(info, TraceData(spans))


def old_cost(u: dict[str, int]) -> float:
    """The cost of one acme-1 call at the old price, written out by the table's rules."""
    cached, write = u.get("cache_read_input_tokens", 0), u.get("cache_creation_input_tokens", 0)
    reasoning = u.get("reasoning_tokens", 0)
    return ((u["input_tokens"] - cached - write) * OLD["input"] + cached * OLD["cached_input"]
            + write * OLD["cache_write"] + (u["output_tokens"] - reasoning) * OLD["output"]
            + reasoning * OLD["reasoning"]) / 1e6


def new_cost(u: dict[str, int]) -> float:
    """At the new price: no cache or reasoning prices, so those are input and output."""
    return (u["input_tokens"] * NEW["input"] + u["output_tokens"] * NEW["output"]) / 1e6
