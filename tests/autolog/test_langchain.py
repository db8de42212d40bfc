"""spanscope.langchain.autolog(): langchain-core's fake chat models, an in-memory
retriever, tools, threads, asyncio and a small LangGraph graph."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from langchain_core.documents import Document
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.retrievers import BaseRetriever
from langchain_core.runnables import RunnableLambda, RunnablePassthrough
from langchain_core.tools import tool

import spanscope
import spanscope.langchain
from spanscope.analysis import diagnose
from spanscope.entities import SpanStatusCode, SpanType, Trace

SHIPPING = "Shipping takes 3-5 business days from the day your order leaves our warehouse."
QUESTION = "What is your refund policy?"


@pytest.fixture(autouse=True)
def _langchain_off() -> Any:
    yield
    spanscope.langchain.autolog(disable=True)


class KnowledgeBase(BaseRetriever):
    """An in-memory retriever that returns every document (the shipping FAQ)."""

    docs: list[Document]

    def _get_relevant_documents(self, query: str, *, run_manager: Any = None
                                ) -> list[Document]:
        return list(self.docs)


def _model(*replies: str, tokens: int = 40) -> GenericFakeChatModel:
    return GenericFakeChatModel(messages=iter([AIMessage(
        content=reply, usage_metadata={"input_tokens": tokens, "output_tokens": 8,
                                       "total_tokens": tokens + 8,
                                       "input_token_details": {"cache_read": 16}})
        for reply in replies]))


def _rag_chain(model: GenericFakeChatModel) -> Any:
    kb = KnowledgeBase(docs=[Document(page_content=SHIPPING, id="faq-shipping",
                                      metadata={"source": "faq/shipping.md"})])
    prompt = ChatPromptTemplate.from_messages([("system", "Answer from: {context}"),
                                               ("user", "{question}")])
    return {"context": kb, "question": RunnablePassthrough()} | prompt | model \
        | StrOutputParser()


def _by_name(trace: Trace) -> dict[str, Any]:
    spans: dict[str, Any] = {}
    for span in trace.data.spans:
        assert span.name not in spans, f"two spans named {span.name}"
        spans[span.name] = span
    return spans


def test_a_rag_chain_becomes_a_typed_tree_with_documents_messages_and_usage(
        read_trace: Any) -> None:
    spanscope.langchain.autolog()
    assert spanscope.langchain.is_autologged()
    assert _rag_chain(_model("Shipping takes 3-5 days.")).invoke(QUESTION) == \
        "Shipping takes 3-5 days."
    trace = read_trace()
    spans = _by_name(trace)
    root = spans["RunnableSequence"]
    assert root.parent_id is None and root.span_type == SpanType.CHAIN
    assert root.inputs == QUESTION and root.outputs == "Shipping takes 3-5 days."
    retriever = spans["KnowledgeBase"]
    assert retriever.span_type == SpanType.RETRIEVER
    assert retriever.parent_id == spans["RunnableParallel<context,question>"].span_id
    assert retriever.inputs == {"query": QUESTION}
    assert retriever.outputs == [{"page_content": SHIPPING, "id": "faq-shipping",
                                  "metadata": {"source": "faq/shipping.md"}}]
    model = spans["GenericFakeChatModel"]
    assert (model.span_type, model.parent_id) == (SpanType.CHAT_MODEL, root.span_id)
    assert [m["role"] for m in model.inputs["messages"]] == ["system", "user"]
    assert model.inputs["messages"][1]["content"] == QUESTION
    assert model.outputs["choices"][0]["message"] == {"role": "assistant",
                                                      "content": "Shipping takes 3-5 days."}
    assert model.attributes["mlflow.chat.tokenUsage"] == {
        "input_tokens": 40, "output_tokens": 8, "total_tokens": 48,
        "cache_read_input_tokens": 16}
    assert trace.info.token_usage == {"input_tokens": 40, "output_tokens": 8,
                                      "total_tokens": 48, "cache_read_input_tokens": 16}
    prompt = spans["ChatPromptTemplate"]
    assert prompt.outputs["messages"][1] == {"role": "user", "content": QUESTION}
    # diagnose reads the retriever's LangChain documents, once
    top = diagnose(trace)[0]
    assert (top.kind, top.span_name) == ("retrieval_mismatch", "KnowledgeBase")
    assert sum(f.kind == "retrieval_mismatch" for f in diagnose(trace)) == 1


def test_async_chain_nests_under_a_traced_function(read_trace: Any) -> None:
    spanscope.langchain.autolog()

    @spanscope.trace(span_type=SpanType.AGENT)
    async def support_agent(question: str) -> str:
        return await _rag_chain(_model("Shipping takes 3-5 days.")).ainvoke(question)

    assert asyncio.run(support_agent(QUESTION)) == "Shipping takes 3-5 days."
    spans = _by_name(read_trace())
    assert spans["RunnableSequence"].parent_id == spans["support_agent"].span_id
    assert spans["KnowledgeBase"].parent_id == \
        spans["RunnableParallel<context,question>"].span_id


def test_batch_across_threads_keeps_every_parent(read_trace: Any) -> None:
    spanscope.langchain.autolog()
    chain = _rag_chain(_model("one", "two", "three", "four"))

    @spanscope.trace
    def batch() -> list[str]:
        return chain.batch([f"question {i}" for i in range(4)],
                           config={"max_concurrency": 4})

    assert sorted(batch()) == ["four", "one", "three", "two"]
    trace = read_trace()
    by_id = {s.span_id: s for s in trace.data.spans}
    root = next(s for s in trace.data.spans if s.name == "batch")
    sequences = [s for s in trace.data.spans if s.name == "RunnableSequence"]
    assert len(sequences) == 4 and all(s.parent_id == root.span_id for s in sequences)
    for retriever in (s for s in trace.data.spans if s.span_type == SpanType.RETRIEVER):
        parallel = by_id[retriever.parent_id]
        sequence = by_id[parallel.parent_id]
        assert sequence.inputs == retriever.inputs["query"]  # its own request's query


def test_tools_streaming_and_errors(read_traces: Any) -> None:
    spanscope.langchain.autolog()

    @tool
    def search_knowledge_base(query: str) -> list[Document]:
        """Search the help centre."""
        return [Document(page_content=SHIPPING, metadata={"score": 0.82})]

    docs = search_knowledge_base.invoke({"query": "refund policy"})
    assert docs[0].page_content == SHIPPING
    chunks = list(_model("Refunds take five business days.").stream("hi"))
    assert "".join(c.content for c in chunks) == "Refunds take five business days."

    def explode(_: Any) -> str:
        raise KeyError("order 7 not found")

    with pytest.raises(KeyError):
        (RunnablePassthrough() | RunnableLambda(explode)).invoke("x")

    tool_trace, stream_trace, error_trace = read_traces()
    [tool_span] = tool_trace.data.spans
    assert (tool_span.name, tool_span.span_type) == ("search_knowledge_base", SpanType.TOOL)
    assert tool_span.inputs == {"query": "refund policy"}
    assert tool_span.outputs == [{"page_content": SHIPPING, "metadata": {"score": 0.82}}]
    top = diagnose(tool_trace)[0]  # a TOOL returning documents is a retrieval too
    assert (top.kind, top.span_name) == ("retrieval_mismatch", "search_knowledge_base")

    [model] = stream_trace.data.spans
    assert model.outputs["choices"][0]["message"]["content"] == \
        "Refunds take five business days."
    assert any(e.name == "first_token" for e in model.events)

    failed = [s for s in error_trace.data.spans if s.status.status_code == SpanStatusCode.ERROR]
    assert {s.name for s in failed} == {"RunnableSequence", "explode"}
    assert error_trace.info.state == "ERROR"
    explode_span = next(s for s in failed if s.name == "explode")
    assert explode_span.events[-1].attributes["exception.type"] == "KeyError"


def test_langgraph_node_names_are_kept(read_trace: Any) -> None:
    langgraph = pytest.importorskip("langgraph.graph")
    from typing_extensions import TypedDict

    spanscope.langchain.autolog()
    kb = KnowledgeBase(docs=[Document(page_content=SHIPPING)])
    model = _model("Shipping takes 3-5 days.")

    class State(TypedDict, total=False):
        question: str
        context: list[str]
        answer: str

    def retrieve(state: State) -> State:
        return {"context": [d.page_content for d in kb.invoke(state["question"])]}

    def generate(state: State) -> State:
        return {"answer": model.invoke(state["question"]).content}

    graph = langgraph.StateGraph(State)
    graph.add_node("retrieve", retrieve)
    graph.add_node("generate", generate)
    graph.add_edge(langgraph.START, "retrieve")
    graph.add_edge("retrieve", "generate")
    graph.add_edge("generate", langgraph.END)
    result = graph.compile().invoke({"question": QUESTION})
    assert result["answer"] == "Shipping takes 3-5 days."

    trace = read_trace()
    by_id = {s.span_id: s for s in trace.data.spans}
    root = next(s for s in trace.data.spans if s.parent_id is None)
    assert root.name == "LangGraph" and root.outputs["answer"] == result["answer"]
    nodes = {s.name: s for s in trace.data.spans if "langgraph.node" in s.attributes}
    assert {"retrieve", "generate"} <= set(nodes)
    assert nodes["retrieve"].attributes["langgraph.node"] == "retrieve"
    retriever = next(s for s in trace.data.spans if s.span_type == SpanType.RETRIEVER)
    assert by_id[retriever.parent_id].name == "retrieve"
    chat = next(s for s in trace.data.spans if s.span_type == SpanType.CHAT_MODEL)
    assert by_id[chat.parent_id].name == "generate"
    assert not any(s.name.startswith("ChannelWrite") for s in trace.data.spans)  # hidden


def test_disable_unhooks_the_handler(read_traces: Any) -> None:
    from langchain_core.tracers.context import _configure_hooks

    before = list(_configure_hooks)
    spanscope.langchain.autolog()
    spanscope.langchain.autolog()  # twice hooks once
    assert len(_configure_hooks) == len(before) + 1
    spanscope.langchain.autolog(disable=True)
    assert _configure_hooks == before and not spanscope.langchain.is_autologged()
    _rag_chain(_model("no trace")).invoke(QUESTION)
    assert read_traces() == []
