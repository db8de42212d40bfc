"""Realistic test traces built from entities, for any test that needs stored data.

``make_trace()`` returns an agent trace: a root AGENT span and children of several types
(CHAT_MODEL with token usage, RETRIEVER with documents, TOOL, PARSER nested under the chat
span, ...), each with inputs and outputs, the trace metadata MLflow writes (token usage,
previews, schema version, session and user) and the ``mlflow.traceName`` tag. With
``state="ERROR"`` the last child fails with an exception event and the root is ERROR too.
"""

from __future__ import annotations

import dataclasses
import json
import time
import uuid
from collections.abc import Sequence
from typing import Any

from spanscope.entities import (
    Assessment,
    AssessmentError,
    AssessmentSource,
    AssessmentSourceType,
    Expectation,
    Feedback,
    Span,
    SpanEvent,
    SpanStatus,
    SpanStatusCode,
    SpanType,
    Trace,
    TraceData,
    TraceInfo,
)

__all__ = ["make_trace", "new_span_id", "new_trace_id", "sample_assessments"]

# Child span types in the order they are added; CHAT_MODEL first so n_spans=2 has one.
CHILD_TYPES = (SpanType.CHAT_MODEL, SpanType.RETRIEVER, SpanType.TOOL, SpanType.PARSER,
               SpanType.EMBEDDING, SpanType.RERANKER, SpanType.CHAIN, SpanType.GUARDRAIL)
CHAT_USAGE = {"input_tokens": 120, "output_tokens": 30, "total_tokens": 150}


def new_trace_id() -> str:
    return "tr-" + uuid.uuid4().hex


def new_span_id() -> str:
    return uuid.uuid4().hex[:16]


def _child(kind: str, i: int, question: str) -> dict[str, Any]:
    """Name, inputs, outputs and extra attributes of the i-th child span of type ``kind``."""
    if kind == SpanType.CHAT_MODEL:
        return {"name": f"ChatOpenAI_{i}", "inputs": {"messages": [
                    {"role": "system", "content": "You answer briefly."},
                    {"role": "user", "content": question}]},
                "outputs": {"choices": [{"message": {"role": "assistant",
                                                     "content": "Paris."}}],
                            "model": "gpt-4o-mini"},
                "attributes": {"mlflow.chat.tokenUsage": CHAT_USAGE,
                               "mlflow.llm.model": "gpt-4o-mini"}}
    if kind == SpanType.RETRIEVER:
        return {"name": f"retrieve_{i}", "inputs": {"query": question},
                "outputs": [{"page_content": f"Document {d} about France.", "id": f"doc-{d}",
                             "metadata": {"doc_uri": f"https://example.com/doc/{d}"}}
                            for d in range(3)]}
    if kind == SpanType.TOOL:
        return {"name": f"search_web_{i}", "inputs": {"q": question, "top_k": 3},
                "outputs": {"results": ["Paris is the capital of France."]}}
    if kind == SpanType.PARSER:
        return {"name": f"parse_answer_{i}", "inputs": {"text": "Paris."},
                "outputs": {"answer": "Paris"}}
    if kind == SpanType.EMBEDDING:
        return {"name": f"embed_{i}", "inputs": {"input": [question]},
                "outputs": {"dimensions": 3, "data": [[0.1, -0.2, 0.3]]}}
    return {"name": f"{str(kind).lower()}_{i}", "inputs": {"step": i},
            "outputs": {"ok": True}}


def make_trace(
    n_spans: int = 3,
    *,
    trace_id: str | None = None,
    request_time: int | None = None,
    state: str = "OK",
    tags: dict[str, str] | None = None,
    metadata: dict[str, str] | None = None,
    assessments: Sequence[Assessment] | None = None,
    experiment_id: str = "0",
    name: str = "agent",
    session_id: str | None = None,
    user_id: str | None = None,
    client_request_id: str | None = None,
    question: str = "What is the capital of France?",
    payload_chars: int = 0,
) -> Trace:
    """A finished agent trace with ``n_spans`` spans (>= 1; the first is the root).

    ``request_time`` is epoch ms (default now); span times fit inside the root span.
    ``payload_chars`` adds a string that long to the root inputs (big payloads).
    ``assessments`` are attached with their ``trace_id`` set to this trace's id.
    """
    if n_spans < 1:
        raise ValueError("a trace needs at least its root span")
    trace_id = trace_id or new_trace_id()
    request_time = int(time.time() * 1000) if request_time is None else request_time
    start = request_time * 1_000_000
    step = 7_000_000  # 7 ms per child
    end = start + step * n_spans + 3_000_000
    failed = state == "ERROR"

    root_id = new_span_id()
    root_inputs: dict[str, Any] = {"question": question}
    if payload_chars:
        root_inputs["context"] = ("lorem ipsum dolor sit amet " * (payload_chars // 27 + 1)
                                  )[:payload_chars]
    root_outputs = None if failed else {"answer": "The capital of France is Paris."}
    spans: list[Span] = []
    chat_span_id: str | None = None
    n_chats = 0
    for i in range(1, n_spans):
        kind = CHILD_TYPES[(i - 1) % len(CHILD_TYPES)]
        spec = _child(kind, i, question)
        span_id = new_span_id()
        parent = chat_span_id if kind == SpanType.PARSER and chat_span_id else root_id
        child_start = start + 1_000_000 + step * (i - 1)
        status, events = SpanStatus(SpanStatusCode.OK), []
        outputs = spec["outputs"]
        if failed and i == n_spans - 1:
            status = SpanStatus(SpanStatusCode.ERROR, "ConnectionError: upstream timed out")
            events = [SpanEvent("exception", child_start + 5_000_000, {
                "exception.type": "ConnectionError",
                "exception.message": "upstream timed out",
                "exception.stacktrace": 'Traceback (most recent call last):\n  File "app.py",'
                                        ' line 42, in call\nConnectionError: upstream timed out',
                "exception.escaped": "False"})]
            outputs = None
        spans.append(Span.build(
            trace_id=trace_id, span_id=span_id, parent_id=parent, name=spec["name"],
            start_time_ns=child_start, end_time_ns=child_start + step - 1_000_000,
            span_type=kind, inputs=spec["inputs"], outputs=outputs,
            attributes=spec.get("attributes"), status=status, events=events))
        if kind == SpanType.CHAT_MODEL:
            chat_span_id = span_id
            n_chats += 1
    root_status = (SpanStatus(SpanStatusCode.ERROR, "ConnectionError: upstream timed out")
                   if failed else SpanStatus(SpanStatusCode.OK))
    root = Span.build(trace_id=trace_id, span_id=root_id, parent_id=None, name=name,
                      start_time_ns=start, end_time_ns=end, span_type=SpanType.AGENT,
                      inputs=root_inputs, outputs=root_outputs, status=root_status)

    request_preview = json.dumps(root_inputs, ensure_ascii=False)[:1000]
    response_preview = None if root_outputs is None else json.dumps(root_outputs)[:1000]
    trace_metadata = {"mlflow.trace_schema.version": "3",
                      "mlflow.traceInputs": request_preview[:250],
                      "mlflow.traceOutputs": (response_preview or "")[:250]}
    if n_chats:
        trace_metadata["mlflow.trace.tokenUsage"] = json.dumps(
            {key: value * n_chats for key, value in CHAT_USAGE.items()})
    if session_id is not None:
        trace_metadata["mlflow.trace.session"] = session_id
    if user_id is not None:
        trace_metadata["mlflow.trace.user"] = user_id
    trace_metadata.update(metadata or {})
    info = TraceInfo(
        trace_id=trace_id,
        experiment_id=experiment_id,
        request_time=request_time,
        execution_duration=(end - start) // 1_000_000,
        state=state,
        request_preview=request_preview,
        response_preview=response_preview,
        client_request_id=client_request_id,
        trace_metadata=trace_metadata,
        tags={"mlflow.traceName": name, **(tags or {})},
        assessments=[dataclasses.replace(a, trace_id=trace_id) for a in assessments or ()],
    )
    return Trace(info, TraceData([root, *spans]))


def sample_assessments(span_id: str | None = None) -> list[Assessment]:
    """One of each shape: bool, numeric and text feedback, a failed judge, expectations."""
    judge = AssessmentSource(AssessmentSourceType.LLM_JUDGE, "openai:/gpt-4.1-mini")
    human = AssessmentSource(AssessmentSourceType.HUMAN, "alice@example.com")
    return [
        Feedback(name="correctness", value=True, source=judge, rationale="Matches Paris.",
                 create_time_ms=1_700_000_000_000, metadata={"judge_cost": "0.0001"}),
        Feedback(name="relevance", value=0.75, source=judge, span_id=span_id,
                 create_time_ms=1_700_000_000_100),
        Feedback(name="tone", value="friendly", source=human, create_time_ms=1_700_000_000_200),
        Feedback(name="safety", error=AssessmentError("TIMEOUT", "judge timed out", "stack"),
                 source=judge, create_time_ms=1_700_000_000_300),
        Expectation(name="expected_response", value="Paris", source=human,
                    create_time_ms=1_700_000_000_400),
        Expectation(name="expected_facts", value={"facts": ["Paris is the capital"]},
                    source=human, create_time_ms=1_700_000_000_500),
    ]
