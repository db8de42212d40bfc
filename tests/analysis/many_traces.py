"""Many traces with known timings, errors, tokens and models, for the aggregate tests.

``make(...)`` builds one agent trace: a root AGENT span of ``latency_ms`` with children
laid out one after the other (``children=[("retrieve", "RETRIEVER", 30), ...]``), a
CHAT_MODEL span reporting token usage for ``model``, and optionally a failure that starts
in a grandchild and propagates up through its parent and the root (three ERROR spans, one
exception event at the origin), the way the tracing SDK records it. ``dataset(n, seed)``
is a deterministic mix of such traces over two app versions, two experiments and a few
hours, with the plain-Python facts the tests compare against.
"""

from __future__ import annotations

import json
import random
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from spanscope.entities import (
    AssessmentSource,
    AssessmentSourceType,
    Feedback,
    Span,
    SpanEvent,
    SpanStatus,
    SpanStatusCode,
    Trace,
    TraceData,
    TraceInfo,
)

MS = 1_000_000
HOUR_MS = 3_600_000
T0_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z
MESSAGES = ["order ORD-{n} not found", "upstream timed out after {n}s",
            "rate limit reached for user 'u-{n}', retry in {n}ms"]
EXCEPTIONS = ["OrderNotFoundError", "TimeoutError", "RateLimitError"]


def _id(n: int = 16) -> str:
    return uuid.uuid4().hex[:n]


@dataclass
class Failure:
    """An exception raised in ``span`` (under ``via``) that propagates to the root."""

    message: str
    exception: str = "RuntimeError"
    span: str = "http_get"
    via: str = "call_api"


@dataclass
class Facts:
    """What a test needs to know about a built trace without reading it back."""

    trace_id: str
    experiment_id: str
    request_time: int
    latency_ms: int
    error: bool
    app_version: str | None
    input_tokens: int
    output_tokens: int
    model: str | None
    spans: list[tuple[str, str, float, bool]] = field(default_factory=list)  # type,name,ms,err
    failure: Failure | None = None
    quality: float | None = None
    feedback: float | None = None


def make(*, request_time: int, latency_ms: int, experiment_id: str = "0",
         children: Sequence[tuple[str, str, int]] = (("retrieve", "RETRIEVER", 20),),
         input_tokens: int = 100, output_tokens: int = 20, model: str | None = "gpt-4o-mini",
         failure: Failure | None = None, tags: dict[str, str] | None = None,
         feedback: float | bool | None = None, trace_id: str | None = None,
         ) -> tuple[Trace, Facts]:
    trace_id = trace_id or "tr-" + uuid.uuid4().hex
    start = request_time * MS
    root_id = _id()
    spans: list[Span] = []
    facts = Facts(trace_id, experiment_id, request_time, latency_ms, failure is not None,
                  (tags or {}).get("app_version"), input_tokens, output_tokens, model,
                  failure=failure)
    offset = 1
    for name, span_type, ms in children:
        spans.append(Span.build(trace_id=trace_id, span_id=_id(), parent_id=root_id, name=name,
                                start_time_ns=start + offset * MS,
                                end_time_ns=start + (offset + ms) * MS, span_type=span_type,
                                inputs={"q": name}, outputs={"ok": True}))
        facts.spans.append((span_type, name, float(ms), False))
        offset += ms
    chat_ms = 5
    attributes: dict[str, Any] = {"mlflow.chat.tokenUsage": {
        "input_tokens": input_tokens, "output_tokens": output_tokens,
        "total_tokens": input_tokens + output_tokens}}
    if model is not None:
        attributes["mlflow.llm.model"] = model
    spans.append(Span.build(trace_id=trace_id, span_id=_id(), parent_id=root_id, name="chat",
                            start_time_ns=start + offset * MS,
                            end_time_ns=start + (offset + chat_ms) * MS,
                            span_type="CHAT_MODEL", inputs={"messages": []},
                            outputs={"content": "hi"}, attributes=attributes))
    facts.spans.append(("CHAT_MODEL", "chat", float(chat_ms), False))
    offset += chat_ms
    error_status = None
    if failure is not None:
        error_status = SpanStatus(SpanStatusCode.ERROR, f"{failure.exception}: {failure.message}")
        via_id, origin_id = _id(), _id()
        at = start + offset * MS
        spans.append(Span.build(trace_id=trace_id, span_id=via_id, parent_id=root_id,
                                name=failure.via, start_time_ns=at, end_time_ns=at + 4 * MS,
                                span_type="TOOL", status=error_status))
        spans.append(Span.build(
            trace_id=trace_id, span_id=origin_id, parent_id=via_id, name=failure.span,
            start_time_ns=at + MS, end_time_ns=at + 3 * MS, span_type="TOOL",
            status=error_status, events=[SpanEvent("exception", at + 2 * MS, {
                "exception.type": failure.exception, "exception.message": failure.message,
                "exception.stacktrace": "Traceback ...", "exception.escaped": "False"})]))
        facts.spans += [("TOOL", failure.via, 4.0, True), ("TOOL", failure.span, 2.0, True)]
    root = Span.build(trace_id=trace_id, span_id=root_id, parent_id=None, name="agent",
                      start_time_ns=start, end_time_ns=start + latency_ms * MS,
                      span_type="AGENT", inputs={"question": "q"},
                      outputs=None if failure else {"answer": "a"},
                      status=error_status or SpanStatus(SpanStatusCode.OK))
    facts.spans.insert(0, ("AGENT", "agent", float(latency_ms), failure is not None))
    usage = {"input_tokens": input_tokens, "output_tokens": output_tokens,
             "total_tokens": input_tokens + output_tokens}
    assessments = []
    if feedback is not None:
        assessments.append(Feedback(name="quality", value=feedback, create_time_ms=request_time,
                                    source=AssessmentSource(AssessmentSourceType.LLM_JUDGE,
                                                            "judge")))
        facts.feedback = float(feedback)
    info = TraceInfo(trace_id=trace_id, experiment_id=experiment_id, request_time=request_time,
                     execution_duration=latency_ms, state="ERROR" if failure else "OK",
                     trace_metadata={"mlflow.trace.tokenUsage": json.dumps(usage)},
                     tags={"mlflow.traceName": "agent", **(tags or {})},
                     assessments=assessments)
    score = (tags or {}).get("quality_score")
    if score is not None and score.replace(".", "", 1).isdigit():
        facts.quality = float(score)
    return Trace(info, TraceData([root, *spans])), facts


def dataset(n: int = 120, *, seed: int = 7, experiments: Sequence[str] = ("0",),
            start_ms: int = T0_MS) -> tuple[list[Trace], list[Facts]]:
    """``n`` varied traces over 6 hours: app versions 1.0/2.0 (some untagged), ~15%
    failures with messages that differ only in ids and numbers, three models (one with
    no price, one unnamed), quality scores and feedback on some."""
    rng = random.Random(seed)
    traces, facts = [], []
    for i in range(n):
        version = rng.choice(["1.0", "2.0", "2.0", None])
        tags = {} if version is None else {"app_version": version}
        if rng.random() < 0.7:
            tags["quality_score"] = f"{rng.random():.3f}"
        if i % 17 == 0:
            tags["quality_score"] = "n/a"  # not a number: correlate skips it
        failure = None
        if rng.random() < 0.15:
            k = rng.randrange(len(MESSAGES))
            failure = Failure(MESSAGES[k].format(n=rng.randrange(10, 99999)), EXCEPTIONS[k],
                              span=["http_get", "db_query"][k % 2])
        children = [("retrieve", "RETRIEVER", rng.randrange(5, 60))]
        if rng.random() < 0.5:
            children.append(("rerank", "RERANKER", rng.randrange(1, 15)))
        child_ms = sum(ms for _, _, ms in children) + 5 + (8 if failure else 0)
        trace, fact = make(
            request_time=start_ms + rng.randrange(6 * HOUR_MS),
            latency_ms=child_ms + rng.randrange(2, 400),
            experiment_id=experiments[i % len(experiments)], children=children,
            input_tokens=rng.randrange(50, 900), output_tokens=rng.randrange(5, 300),
            model=rng.choice(["gpt-4o", "gpt-4o-mini", "my-local-model", None]),
            failure=failure, tags=tags,
            feedback=rng.choice([None, True, False, rng.random()]))
        traces.append(trace)
        facts.append(fact)
    return traces, facts
