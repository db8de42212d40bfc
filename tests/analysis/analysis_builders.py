"""Traces with known timings, errors, retries, loops, tokens and retrieval contents.

``TraceBuilder`` adds spans by millisecond offsets (``b.add("plan", 0, 40, ...)``); an
``error="KeyError: order 7 not found"`` records the exception event and the ERROR status
the way the tracing SDK does. The ready-made traces model a support bot's requests:
``healthy_rag_trace`` (nothing wrong) and ``wrong_answer_trace`` (a refund question
answered from the shipping FAQ).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from spanscope.entities import (
    Assessment,
    Span,
    SpanEvent,
    SpanStatus,
    SpanStatusCode,
    Trace,
    TraceData,
    TraceInfo,
)

MS = 1_000_000
T0_MS = 1_760_000_000_000  # request time of every built trace

REFUND_QUESTION = "How do I get a refund for my broken headphones?"
REFUND_DOC = ("Refunds: you can request a refund within 30 days of purchase from Orders > "
              "Request refund. Broken or faulty items get a full refund to your card.")
SHIPPING_DOC = ("Shipping: orders ship within 24 hours; standard delivery takes 3-5 business "
                "days. Track your package from Orders > Track shipment.")
REFUND_ANSWER = ("You can request a full refund for broken headphones within 30 days from "
                 "Orders > Request refund; the money goes back to your card.")
SHIPPING_ANSWER = ("Orders ship within 24 hours and standard delivery takes 3-5 business "
                   "days. You can track your package from Orders > Track shipment.")


def new_id(n: int = 16) -> str:
    return uuid.uuid4().hex[:n]


def completion(text: str | None, *, finish_reason: str = "stop", prompt_tokens: int = 300,
               completion_tokens: int = 60, tool_calls: list[dict[str, Any]] | None = None
               ) -> dict[str, Any]:
    """An OpenAI chat completion (usage included) as a CHAT_MODEL span's outputs."""
    message: dict[str, Any] = {"role": "assistant", "content": text}
    if tool_calls:
        message["tool_calls"] = tool_calls
    return {"id": "chatcmpl-" + new_id(), "object": "chat.completion", "model": "gpt-4o-mini",
            "choices": [{"index": 0, "message": message, "finish_reason": finish_reason}],
            "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                      "total_tokens": prompt_tokens + completion_tokens}}


def documents(*texts: str, scores: list[float] | None = None,
              ids: list[str] | None = None) -> list[dict[str, Any]]:
    """Retriever outputs in the MLflow shape (page_content, metadata with score)."""
    out = []
    for i, text in enumerate(texts):
        metadata: dict[str, Any] = {"doc_uri": f"kb://faq/{i}"}
        if scores is not None:
            metadata["score"] = scores[i]
        out.append({"id": ids[i] if ids else f"doc-{i}", "page_content": text,
                    "metadata": metadata})
    return out


def messages(question: str) -> dict[str, Any]:
    return {"model": "gpt-4o-mini", "messages": [
        {"role": "system", "content": "You are a helpful support assistant."},
        {"role": "user", "content": question}]}


@dataclass
class TraceBuilder:
    """Spans by millisecond offsets from the trace start; the first parentless one is root."""

    trace_id: str = field(default_factory=lambda: "tr-" + uuid.uuid4().hex)
    spans: list[Span] = field(default_factory=list)

    def add(self, name: str, start_ms: float, end_ms: float | None, *,
            parent: str | None = None, span_type: str = "UNKNOWN", inputs: Any = None,
            outputs: Any = None, error: str | None = None,
            attributes: dict[str, Any] | None = None, stacktrace: str | None = None,
            status_only: bool = False) -> str:
        """Add a span and return its id. ``error`` is ``"Type: message"``; with
        ``status_only`` only the status description records it (no exception event)."""
        span_id = new_id()
        start = T0_MS * MS + int(start_ms * MS)
        end = None if end_ms is None else T0_MS * MS + int(end_ms * MS)
        status, events = SpanStatus(SpanStatusCode.OK), []
        if error is not None:
            status = SpanStatus(SpanStatusCode.ERROR, error)
            kind, _, message = error.partition(": ")
            if not status_only:
                events = [SpanEvent("exception", (end or start), {
                    "exception.type": kind, "exception.message": message,
                    "exception.stacktrace": stacktrace or (
                        f'Traceback (most recent call last):\n  File "app.py", line 7, in '
                        f"{name}\n{error}"),
                    "exception.escaped": "False"})]
        self.spans.append(Span.build(
            trace_id=self.trace_id, span_id=span_id, parent_id=parent, name=name,
            start_time_ns=start, end_time_ns=end, span_type=span_type, inputs=inputs,
            outputs=outputs, attributes=attributes, status=status, events=events))
        return span_id

    def trace(self, *, state: str | None = None,
              assessments: list[Assessment] | None = None) -> Trace:
        root = next(s for s in self.spans if s.parent_id is None)
        if state is None:
            state = "ERROR" if root.status.status_code == SpanStatusCode.ERROR else "OK"
        duration = None if root.end_time_ns is None else (
            (root.end_time_ns - root.start_time_ns) // MS)
        for assessment in assessments or ():
            assessment.trace_id = self.trace_id
        info = TraceInfo(trace_id=self.trace_id, request_time=T0_MS,
                         execution_duration=duration, state=state,
                         tags={"mlflow.traceName": root.name},
                         assessments=list(assessments or ()))
        return Trace(info, TraceData(list(self.spans)))


def rag_trace(question: str, retrieved: list[dict[str, Any]], answer: str, *,
              query: str | None = None) -> tuple[TraceBuilder, dict[str, str]]:
    """A support bot's request: agent > plan (LLM), retrieve, answer (LLM); 100 ms.

    Returns the builder (more spans can be added) and the span ids by name.
    """
    b = TraceBuilder()
    root = b.add("support_agent", 0, 100, span_type="AGENT", inputs={"question": question},
                 outputs=answer)
    ids = {"support_agent": root}
    ids["plan"] = b.add("plan", 1, 30, parent=root, span_type="CHAT_MODEL",
                        inputs=messages(question),
                        outputs=completion(None, finish_reason="tool_calls",
                                           prompt_tokens=250, tool_calls=[{
                                               "id": "call_1", "type": "function",
                                               "function": {"name": "search",
                                                            "arguments": "{}"}}]))
    ids["retrieve"] = b.add("retrieve", 31, 45, parent=root, span_type="RETRIEVER",
                            inputs={"query": query or question}, outputs=retrieved)
    ids["answer"] = b.add("answer", 46, 99, parent=root, span_type="CHAT_MODEL",
                          inputs=messages(question),
                          outputs=completion(answer, prompt_tokens=420))
    return b, ids


def healthy_rag_trace() -> Trace:
    """A refund question answered from the refund FAQ, nothing slow or failed."""
    b, _ = rag_trace(REFUND_QUESTION,
                     documents(REFUND_DOC, SHIPPING_DOC, scores=[0.82, 0.31]), REFUND_ANSWER)
    return b.trace()


def wrong_answer_trace() -> tuple[Trace, dict[str, str]]:
    """The classic wrong answer: a refund question, only the shipping FAQ retrieved, an
    answer about shipping."""
    b, ids = rag_trace(REFUND_QUESTION, documents(SHIPPING_DOC, scores=[0.41]),
                       SHIPPING_ANSWER)
    return b.trace(), ids
