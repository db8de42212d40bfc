"""Retrieval, questions and answers in every shape (``analysis.documents``), end to end.

The documented wrong-answer example (a TOOL ``search_knowledge_base`` span asked for
"refund policy" returning the shipping FAQ as ``[{"doc": ..., "score": 0.82}]``, then an
answer about shipping) is diagnosed built with ``@spanscope.trace`` and read from trace
JSON that MLflow 3.17.2 wrote; every other document shape gives the same top finding,
and shapes that are not documents give none.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from analysis_builders import SHIPPING_DOC, TraceBuilder, completion, messages

import spanscope
import spanscope.tracing as tracing
from spanscope import tracking
from spanscope.analysis import diagnose
from spanscope.analysis.documents import (
    Document,
    preview_text,
    retrievals,
    span_documents,
    trace_answer,
    trace_question,
)
from spanscope.entities import Trace
from spanscope.evaluation.dataset_records import record_updates
from spanscope.evaluation.scorers.builtin import retrieved_documents
from spanscope.testing import reset_tracing

MLFLOW_DIR = Path(__file__).parent.parent / "data" / "mlflow"
SHIPPING = "Shipping takes 3-5 business days from the day your order leaves our warehouse."
QUESTION = "What is your refund policy?"
LANGCHAIN_DOC = {"lc": 1, "type": "constructor",
                 "id": ["langchain", "schema", "document", "Document"],
                 "kwargs": {"page_content": SHIPPING, "type": "Document",
                            "metadata": {"source": "faq/shipping.md", "score": 0.82}}}


def _assert_top_finding_is_the_wrong_retrieval(trace: Trace, span_name: str) -> None:
    findings = diagnose(trace)
    top = findings[0]
    assert (top.kind, top.span_name) == ("retrieval_mismatch", span_name), \
        [(f.kind, f.span_name) for f in findings]
    assert f"The documents retrieved by {span_name} do not match the query " \
           "'refund policy'" in top.message
    assert top.evidence["query"] == "refund policy"
    assert top.evidence["query_terms_in_documents"] == 0


# --- the example -----------------------------------------------------------------
@pytest.fixture
def sqlite_tracking(tmp_path: Path) -> Any:
    reset_tracing()
    uri = f"sqlite:///{tmp_path}/traces.db"
    tracking.set_tracking_uri(uri)
    yield uri
    reset_tracing()


def test_the_wrong_answer_example_built_with_trace(sqlite_tracking: str) -> None:
    @spanscope.trace(span_type="TOOL")
    def search_knowledge_base(query: str) -> list[dict[str, Any]]:
        return [{"doc": SHIPPING, "score": 0.82}]

    @spanscope.trace(span_type="CHAT_MODEL")
    def generate_answer(messages: list[dict[str, str]]) -> dict[str, Any]:
        return completion("Shipping takes 3-5 business days.")

    @spanscope.trace(span_type="AGENT")
    def customer_support_agent(question: str) -> str:
        docs = search_knowledge_base(query="refund policy")
        time.sleep(0.03)  # the agent's own time: a latency bottleneck on the root span
        reply = generate_answer(messages=[
            {"role": "system", "content": "Answer from: " + docs[0]["doc"]},
            {"role": "user", "content": question}])
        return reply["choices"][0]["message"]["content"]

    customer_support_agent(QUESTION)
    assert tracing.flush(timeout=30)
    trace = tracking.get_store(sqlite_tracking).search_traces(max_results=10)[0]
    _assert_top_finding_is_the_wrong_retrieval(trace, "search_knowledge_base")
    assert any(f.kind == "bottleneck" for f in diagnose(trace))  # there, but ranked below
    assert trace_question(trace) == QUESTION
    assert trace_answer(trace) == "Shipping takes 3-5 business days."


@pytest.mark.parametrize(("fixture", "span_name"), [
    ("tool_retrieval", "search_knowledge_base"),  # TOOL span, [{"doc", "score"}]
    ("openinference_retrieval", "vector_search"),  # retrieval.documents.N.document.*
])
def test_the_wrong_answer_example_from_mlflow_written_json(fixture: str,
                                                           span_name: str) -> None:
    trace = Trace.from_json((MLFLOW_DIR / f"{fixture}.json").read_text())
    _assert_top_finding_is_the_wrong_retrieval(trace, span_name)
    [found] = retrievals(trace.data.spans)
    assert found.span.name == span_name
    assert found.documents[0].text == SHIPPING and found.documents[0].score == 0.82


def test_mlflows_own_retriever_fixture_reads_and_stays_quiet() -> None:
    trace = Trace.from_json((MLFLOW_DIR / "retriever.json").read_text())
    [found] = retrievals(trace.data.spans)
    assert found.query == "capital of France"
    assert [d.id for d in found.documents] == ["doc-1", "doc-2"]
    assert found.documents[0].metadata == {"doc_uri": "kb/france.md", "chunk_id": "1"}
    assert not [f for f in diagnose(trace) if f.kind.endswith("retrieval")
                or f.kind == "retrieval_mismatch"]


# --- every shape -------------------------------------------------------------------------
SHAPES: dict[str, tuple[str, Any, Any, dict[str, Any] | None]] = {
    # name: (span type, inputs, outputs, attributes)
    "tool doc/score": ("TOOL", {"query": "refund policy"},
                       [{"doc": SHIPPING, "score": 0.82}], None),
    "retriever page_content (MLflow Document)": (
        "RETRIEVER", {"query": "refund policy"},
        [{"page_content": SHIPPING, "metadata": {"doc_uri": "faq/shipping.md"},
          "id": "d1"}], None),
    "tool content with metadata": ("TOOL", {"question": "refund policy"},
                                   [{"content": SHIPPING, "metadata": {"score": 0.8}}], None),
    "tool text under documents": ("TOOL", {"input": "refund policy"},
                                  {"documents": [{"text": SHIPPING, "id": "faq-7"}]}, None),
    "langchain serialised Document": ("RETRIEVER", "refund policy", [LANGCHAIN_DOC], None),
    "langchain Document dict on a tool": ("TOOL", {"search_term": "refund policy"},
                                          [LANGCHAIN_DOC["kwargs"]], None),
    "single string argument": ("TOOL", {"topic": "refund policy", "k": 3},
                               [{"doc": SHIPPING}], None),
    "retriever plain strings": ("RETRIEVER", {"query": "refund policy"}, [SHIPPING], None),
    "openinference attributes": ("RETRIEVER", None, None, {
        "input.value": "refund policy",
        "retrieval.documents.0.document.content": SHIPPING,
        "retrieval.documents.0.document.id": "faq-shipping",
        "retrieval.documents.0.document.score": 0.82,
        "retrieval.documents.0.document.metadata": '{"source": "faq"}'}),
}


def _support_trace(span_type: str, inputs: Any, outputs: Any,
                   attributes: dict[str, Any] | None, name: str = "lookup") -> Trace:
    b = TraceBuilder()
    root = b.add("support_agent", 0, 100, span_type="AGENT", inputs={"question": QUESTION},
                 outputs="Shipping takes 3-5 business days.")
    b.add(name, 5, 20, parent=root, span_type=span_type, inputs=inputs, outputs=outputs,
          attributes=attributes)
    b.add("answer", 25, 95, parent=root, span_type="CHAT_MODEL", inputs=messages(QUESTION),
          outputs=completion("Shipping takes 3-5 business days."))
    return b.trace()


@pytest.mark.parametrize("shape", list(SHAPES))
def test_every_document_shape_gives_the_retrieval_finding(shape: str) -> None:
    trace = _support_trace(*SHAPES[shape])
    [found] = retrievals(trace.data.spans)
    assert found.query == "refund policy"
    assert [d.text for d in found.documents] == [SHIPPING]
    _assert_top_finding_is_the_wrong_retrieval(trace, "lookup")
    # the Retrieval* judges read the same documents
    assert retrieved_documents(trace) == [(found.span.span_id, [SHIPPING])]


def test_document_fields_are_read_from_each_shape() -> None:
    def read(shape: str) -> Document:
        [doc] = span_documents(_support_trace(*SHAPES[shape]).data.spans[1]) or []
        return doc

    assert read("tool doc/score").score == 0.82
    assert read("retriever page_content (MLflow Document)").id == "d1"
    assert read("tool content with metadata").score == 0.8
    assert read("langchain serialised Document").id == "faq/shipping.md"
    assert read("langchain serialised Document").score == 0.82
    oi = read("openinference attributes")
    assert (oi.id, oi.score, oi.metadata) == ("faq-shipping", 0.82, {"source": "faq"})


@pytest.mark.parametrize(("span_type", "outputs"), [
    ("TOOL", [{"role": "assistant", "content": "a chat message, not a document"}]),
    ("TOOL", [{"type": "text", "text": "an MCP tool result content part"}]),
    ("TOOL", [{"order_id": "A-17", "status": "shipped"}]),
    ("TOOL", []),
    ("TOOL", "refund policy text"),
    ("CHAT_MODEL", [{"content": SHIPPING}]),
    ("CHAIN", {"answer": SHIPPING}),
])
def test_outputs_that_are_not_documents_are_no_retrieval(span_type: str, outputs: Any) -> None:
    trace = _support_trace(span_type, {"query": "refund policy"}, outputs, None)
    assert retrievals(trace.data.spans) == []
    assert not [f for f in diagnose(trace) if "retrieval" in f.kind]


def test_documents_that_match_their_query_are_quiet() -> None:
    refund = "Refund policy: refunds are accepted within 30 days of delivery."
    trace = _support_trace("TOOL", {"query": "refund policy"},
                           [{"doc": refund, "score": 0.9}], None)
    assert retrievals(trace.data.spans)[0].documents[0].text == refund
    assert not [f for f in diagnose(trace) if "retrieval" in f.kind]


def test_an_empty_documents_list_on_a_tool_is_an_empty_retrieval() -> None:
    trace = _support_trace("TOOL", {"query": "refund policy"}, {"documents": []}, None)
    findings = [f for f in diagnose(trace) if f.kind == "empty_retrieval"]
    assert [f.span_name for f in findings] == ["lookup"]
    assert "for 'refund policy'" in findings[0].message


def test_a_failed_retrieval_span_is_left_to_the_error_detectors() -> None:
    b = TraceBuilder()
    root = b.add("agent", 0, 50, span_type="AGENT", inputs={"question": QUESTION})
    b.add("lookup", 1, 10, parent=root, span_type="TOOL", inputs={"query": "refund policy"},
          outputs=[{"doc": SHIPPING}], error="TimeoutError: index down")
    assert not [f for f in diagnose(b.trace()) if "retrieval" in f.kind]


# --- questions and answers ---------------------------------------------------------------
OPENAI_CHAT = {"model": "gpt-4o-mini", "messages": [
    {"role": "system", "content": "Be brief."}, {"role": "user", "content": QUESTION}]}
ANTHROPIC_IN = {"model": "claude-sonnet-4-5", "max_tokens": 100, "system": "Be brief.",
                "messages": [{"role": "user", "content": [{"type": "text",
                                                           "text": QUESTION}]}]}
ANTHROPIC_OUT = {"type": "message", "role": "assistant", "stop_reason": "end_turn",
                 "content": [{"type": "text", "text": "Within 30 days."},
                             {"type": "tool_use", "id": "t1", "name": "f", "input": {}}]}
RESPONSES_IN = {"model": "gpt-4o-mini", "input": [{"role": "user", "content": QUESTION}]}
RESPONSES_OUT = {"object": "response", "status": "completed", "output": [
    {"type": "message", "role": "assistant",
     "content": [{"type": "output_text", "text": "Within 30 days."}]}]}


@pytest.mark.parametrize(("inputs", "outputs"), [
    (QUESTION, "Within 30 days."),
    ({"question": QUESTION}, {"answer": "Within 30 days."}),
    (OPENAI_CHAT, completion("Within 30 days.")),
    (ANTHROPIC_IN, ANTHROPIC_OUT),
    (RESPONSES_IN, RESPONSES_OUT),
    ({"model": "gpt-4o-mini", "input": QUESTION}, {**RESPONSES_OUT,
                                                   "output_text": "Within 30 days."}),
], ids=["strings", "dicts", "openai-chat", "anthropic", "responses-list", "responses-text"])
def test_question_and_answer_of_a_trace_in_each_shape(inputs: Any, outputs: Any) -> None:
    b = TraceBuilder()
    b.add("Completions", 0, 10, span_type="CHAT_MODEL", inputs=inputs, outputs=outputs)
    trace = b.trace()
    assert trace_question(trace) == QUESTION
    assert trace_answer(trace) == "Within 30 days."


def test_question_and_answer_fall_back_to_the_model_calls() -> None:
    b = TraceBuilder()
    root = b.add("POST /chat", 0, 100, span_type="UNKNOWN")  # e.g. an OTel server span
    b.add("llm", 5, 90, parent=root, span_type="CHAT_MODEL", inputs=OPENAI_CHAT,
          outputs=completion("Within 30 days."))
    trace = b.trace()
    assert trace_question(trace) == QUESTION
    assert trace_answer(trace) == "Within 30 days."


def test_previews_and_dataset_records_use_the_same_reading() -> None:
    assert preview_text('{"model": "gpt-4o-mini", "messages": [{"role": "user", '
                        '"content": "What is your refund policy?"}]}') == QUESTION
    assert preview_text('{"model": "gpt-4o-mini", "messages": [{"role": "us') == \
        '{"model": "gpt-4o-mini", "messages": [{"role": "us'  # cut JSON stays as is
    assert preview_text("plain text") == "plain text"
    b = TraceBuilder()
    b.add("vector_search", 0, 10, span_type="RETRIEVER",
          attributes={"input.value": "refund policy"})
    [record] = record_updates([b.trace()])
    assert record.inputs == {"question": "refund policy"}


def test_shipping_doc_constant_is_not_a_refund_doc() -> None:
    # guards the fixtures' premise: the shipping FAQ shares no term with "refund policy"
    assert "refund" not in SHIPPING.lower() and "refund" not in SHIPPING_DOC.lower()
