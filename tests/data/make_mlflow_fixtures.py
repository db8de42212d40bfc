"""Generate MLflow trace JSON fixtures with the real ``mlflow`` package.

Run with the peer venv python (created by ``python bench/_peer.py``, which prints its path)::

    "$(python bench/_peer.py)" tests/data/make_mlflow_fixtures.py tests/data/mlflow [NAME,...]

Each fixture is ``mlflow.get_trace(id).to_json(pretty=True)`` after flushing async logging, so
the files are exactly what MLflow writes. Tracking goes to ``$MLFLOW_TRACKING_URI`` if set, else
to a sqlite file in a temporary directory.
"""

from __future__ import annotations

import contextlib
import os
import pathlib
import sys
import tempfile
from collections.abc import Iterator

import mlflow
from mlflow.entities import AssessmentError, AssessmentSource, SpanEvent


def _save(trace_id: str, out_dir: pathlib.Path, name: str) -> None:
    """Flush, fetch the stored trace and write it as ``<name>.json``."""
    mlflow.flush_trace_async_logging()
    trace = mlflow.get_trace(trace_id)
    (out_dir / f"{name}.json").write_text(trace.to_json(pretty=True) + "\n")
    print(f"wrote {name}.json ({trace_id}, {len(trace.data.spans)} spans)")


# --- simple ------------------------------------------------------------------


@mlflow.trace(span_type="CHAT_MODEL")
def llm(messages: list[dict]) -> dict:
    """OpenAI-shaped chat completion with token usage."""
    span = mlflow.get_current_active_span()
    span.set_attribute(
        "mlflow.chat.tokenUsage", {"input_tokens": 12, "output_tokens": 5, "total_tokens": 17}
    )
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "model": "gpt-4o-mini",
        "choices": [
            {
                "index": 0,
                "finish_reason": "stop",
                "message": {"role": "assistant", "content": "Paris"},
            }
        ],
        "usage": {"prompt_tokens": 12, "completion_tokens": 5, "total_tokens": 17},
    }


@mlflow.trace(name="agent", span_type="AGENT")
def simple_agent(question: str) -> str:
    """Root agent span."""
    mlflow.update_current_trace(
        tags={"env": "prod"},
        client_request_id="req-42",
        session_id="s-1",
        user="u-1",
        metadata={"app_version": "1.2.0"},
    )
    out = llm(
        messages=[{"role": "system", "content": "Be brief."}, {"role": "user", "content": question}]
    )
    return out["choices"][0]["message"]["content"]


# --- error -------------------------------------------------------------------


@mlflow.trace(name="search_tool", span_type="TOOL")
def failing_tool(query: str) -> str:
    """Innermost tool that raises."""
    raise ValueError("tool exploded")


@mlflow.trace(name="plan", span_type="CHAIN")
def plan(question: str) -> str:
    """Middle span; lets the tool error propagate."""
    return failing_tool(query=question)


@mlflow.trace(name="agent", span_type="AGENT")
def error_agent(question: str) -> str:
    """Root span; the error propagates through it."""
    return plan(question)


# --- retriever -----------------------------------------------------------------


@mlflow.trace(name="retrieve", span_type="RETRIEVER")
def retrieve(query: str) -> list[dict]:
    """Return documents in MLflow's retriever shape."""
    return [
        {
            "page_content": "Paris is the capital of France.",
            "metadata": {"doc_uri": "kb/france.md", "chunk_id": "1"},
            "id": "doc-1",
        },
        {
            "page_content": "France is in Europe.",
            "metadata": {"doc_uri": "kb/europe.md", "chunk_id": "7"},
            "id": "doc-2",
        },
    ]


@mlflow.trace(name="rerank", span_type="PARSER")
def rerank(docs: list[dict]) -> list[str]:
    """Span with custom attributes of several types and an explicit event."""
    span = mlflow.get_current_active_span()
    span.set_attributes(
        {
            "custom.int": 3,
            "custom.float": 0.25,
            "custom.bool": True,
            "custom.list": [1, "two", 3.0],
            "custom.dict": {"model": "rerank-v2", "top_k": 2},
            "custom.str": "hello",
        }
    )
    event_attrs = {"key": "q:capital", "attempt": 1, "ratio": 0.5, "hit": False}
    span.add_event(SpanEvent(name="cache_miss", attributes=event_attrs))
    return [d["id"] for d in docs]


@mlflow.trace(name="stream_answer", span_type="LLM")
def stream_answer(ids: list[str]) -> Iterator[str]:
    """Traced generator: MLflow records chunks and the joined output."""
    yield from ["Par", "is"]


@mlflow.trace(name="rag", span_type="CHAIN")
def rag(query: str) -> str:
    """Root span for the retriever fixture."""
    return "".join(stream_answer(rerank(retrieve(query))))


# --- retrieval in other shapes (the wrong-answer example of docs/analysis.md) ---------------

SHIPPING = "Shipping takes 3-5 business days from the day your order leaves our warehouse."


@mlflow.trace(name="search_knowledge_base", span_type="TOOL")
def search_knowledge_base(query: str) -> list[dict]:
    """A hand-written search tool: a TOOL span returning ``[{"doc", "score"}]``."""
    return [{"doc": SHIPPING, "score": 0.82}]


@mlflow.trace(name="generate_answer", span_type="CHAT_MODEL")
def generate_answer(messages: list[dict]) -> dict:
    """The model call that answers from the (wrong) documents."""
    return {
        "id": "chatcmpl-2",
        "object": "chat.completion",
        "model": "gpt-4o-mini",
        "choices": [
            {
                "index": 0,
                "finish_reason": "stop",
                "message": {"role": "assistant", "content": "Shipping takes 3-5 business days."},
            }
        ],
        "usage": {"prompt_tokens": 64, "completion_tokens": 9, "total_tokens": 73},
    }


@mlflow.trace(name="customer_support_agent", span_type="AGENT")
def customer_support_agent(question: str) -> str:
    """Root: searches for "refund policy", gets the shipping FAQ, answers about shipping."""
    docs = search_knowledge_base(query="refund policy")
    context = "\n".join(d["doc"] for d in docs)
    out = generate_answer(
        messages=[
            {"role": "system", "content": f"Answer from: {context}"},
            {"role": "user", "content": question},
        ]
    )
    return out["choices"][0]["message"]["content"]


def openinference_retrieval(question: str) -> None:
    """A RETRIEVER span in OpenInference's convention: ``input.value`` and
    ``retrieval.documents.N.document.*`` attributes, no MLflow inputs or outputs."""
    with mlflow.start_span(name="support_bot", span_type="CHAIN") as root:
        root.set_inputs({"question": question})
        with mlflow.start_span(name="vector_search", span_type="RETRIEVER") as span:
            span.set_attributes(
                {
                    "openinference.span.kind": "RETRIEVER",
                    "input.value": "refund policy",
                    "retrieval.documents.0.document.id": "faq-shipping",
                    "retrieval.documents.0.document.content": SHIPPING,
                    "retrieval.documents.0.document.score": 0.82,
                }
            )
        root.set_outputs("Shipping takes 3-5 business days.")


def main(out_dir: pathlib.Path, only: set[str] | None = None) -> None:
    """Produce the fixtures (``only`` those named) into ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    mlflow.set_experiment("fixtures")
    if only is None or "tool_retrieval" in only:
        customer_support_agent(question="What is your refund policy?")
        _save(mlflow.get_last_active_trace_id(), out_dir, "tool_retrieval")
    if only is None or "openinference_retrieval" in only:
        openinference_retrieval(question="What is your refund policy?")
        _save(mlflow.get_last_active_trace_id(), out_dir, "openinference_retrieval")
    if only is not None:
        return

    simple_agent(question="Capital of France?")
    _save(mlflow.get_last_active_trace_id(), out_dir, "simple")

    with contextlib.suppress(ValueError):  # the error is the point of this fixture
        error_agent(question="What breaks?")
    _save(mlflow.get_last_active_trace_id(), out_dir, "error")

    simple_agent(question="Capital of France?")
    trace_id = mlflow.get_last_active_trace_id()
    mlflow.flush_trace_async_logging()
    judge = AssessmentSource(source_type="LLM_JUDGE", source_id="openai:/gpt-4o-mini")
    mlflow.log_feedback(
        trace_id=trace_id,
        name="correctness",
        value=True,
        rationale="The answer matches the expected capital.",
        source=judge,
    )
    mlflow.log_feedback(trace_id=trace_id, name="relevance", value=0.85, source=judge)
    mlflow.log_feedback(
        trace_id=trace_id,
        name="safety",
        source=judge,
        error=AssessmentError(error_code="RATE_LIMIT_EXCEEDED", error_message="judge rate limited"),
    )
    try:  # an exception as the error: MLflow records its type and stack trace
        raise TimeoutError("judge timed out")
    except TimeoutError as exc:
        mlflow.log_feedback(trace_id=trace_id, name="groundedness", source=judge, error=exc)
    human = AssessmentSource(source_type="HUMAN", source_id="alice@example.com")
    mlflow.log_expectation(trace_id=trace_id, name="expected_response", value="Paris", source=human)
    mlflow.log_expectation(
        trace_id=trace_id,
        name="expected_facts",
        source=human,
        value={"capital": "Paris", "country": "France"},
    )
    _save(trace_id, out_dir, "assessments")

    rag(query="capital of France")
    _save(mlflow.get_last_active_trace_id(), out_dir, "retriever")


if __name__ == "__main__":
    default = pathlib.Path(__file__).parent / "mlflow"
    target = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else default).resolve()
    names = set(sys.argv[2].split(",")) if len(sys.argv) > 2 else None  # e.g. tool_retrieval
    with tempfile.TemporaryDirectory(prefix="spanscope-fixtures-") as tmp:
        os.chdir(tmp)
        mlflow.set_tracking_uri(os.environ.get("MLFLOW_TRACKING_URI", f"sqlite:///{tmp}/mlflow.db"))
        main(target, names)
