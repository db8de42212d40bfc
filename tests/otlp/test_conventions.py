"""tracing.conventions: each mapped dialect, precedence, and unmapped attributes kept."""

from __future__ import annotations

import json
from typing import Any

import pytest

from spanscope.entities import SpanEvent
from spanscope.tracing.conventions import span_type_of, trace_context, translate


def mapped(attributes: dict[str, Any], events: list[SpanEvent] | None = None,
           raw: dict[str, str] | None = None) -> dict[str, Any]:
    raw = dict(raw or {})
    translate(raw, attributes, events or [])
    return {key: json.loads(value) for key, value in raw.items()}


@pytest.mark.parametrize(("attributes", "expected"), [
    ({"openinference.span.kind": "retriever"}, "RETRIEVER"),
    ({"openinference.span.kind": "LLM", "gen_ai.operation.name": "chat"}, "LLM"),
    ({"gen_ai.operation.name": "chat"}, "CHAT_MODEL"),
    ({"gen_ai.operation.name": "embeddings"}, "EMBEDDING"),
    ({"gen_ai.operation.name": "execute_tool"}, "TOOL"),
    ({"gen_ai.operation.name": "invoke_agent"}, "AGENT"),
    ({"gen_ai.operation.name": "text_completion"}, "LLM"),
    ({"traceloop.span.kind": "workflow"}, "WORKFLOW"),
    ({"traceloop.span.kind": "task"}, "TASK"),
    ({"llm.request.type": "chat"}, "CHAT_MODEL"),
    ({"llm.request.type": "rerank"}, "RERANKER"),
    ({"gen_ai.system": "openai"}, "LLM"),
    ({"http.method": "GET"}, "UNKNOWN"),
])
def test_span_types(attributes: dict[str, Any], expected: str) -> None:
    assert span_type_of(attributes) == expected
    assert mapped(attributes)["mlflow.spanType"] == expected


def test_mlflow_keys_already_present_win() -> None:
    out = mapped({"gen_ai.operation.name": "chat", "input.value": "x",
                  "gen_ai.usage.input_tokens": 3},
                 raw={"mlflow.spanType": '"AGENT"', "mlflow.spanInputs": '{"q": 1}',
                      "mlflow.chat.tokenUsage": '{"input_tokens": 9, "output_tokens": 0, '
                                                '"total_tokens": 9}'})
    assert out["mlflow.spanType"] == "AGENT" and out["mlflow.spanInputs"] == {"q": 1}
    assert out["mlflow.chat.tokenUsage"]["input_tokens"] == 9


def test_openinference_payloads_usage_model_and_documents() -> None:
    out = mapped({"openinference.span.kind": "LLM", "input.value": '{"a": [1]}',
                  "input.mime_type": "application/json", "output.value": "plain text",
                  "llm.token_count.prompt": 7, "llm.token_count.completion": 2,
                  "llm.model_name": "claude-3"})
    assert out["mlflow.spanInputs"] == {"a": [1]}
    assert out["mlflow.spanOutputs"] == "plain text"
    assert out["mlflow.chat.tokenUsage"] == {"input_tokens": 7, "output_tokens": 2,
                                             "total_tokens": 9}
    assert out["mlflow.llm.model"] == "claude-3"
    docs = mapped({"openinference.span.kind": "RETRIEVER", "input.value": "q",
                   "retrieval.documents.1.document.content": "second",
                   "retrieval.documents.0.document.content": "first",
                   "retrieval.documents.0.document.id": "d0",
                   "retrieval.documents.0.document.score": 0.9,
                   "retrieval.documents.0.document.metadata": '{"source": "wiki"}'})
    assert docs["mlflow.spanOutputs"] == [
        {"page_content": "first", "metadata": {"source": "wiki", "score": 0.9}, "id": "d0"},
        {"page_content": "second", "metadata": {}, "id": None}]
    messages = mapped({"llm.input_messages.0.message.role": "user",
                       "llm.input_messages.0.message.content": "hi",
                       "llm.output_messages.0.message.role": "assistant",
                       "llm.output_messages.0.message.content": "yo"})
    assert messages["mlflow.spanInputs"] == {"messages": [{"role": "user", "content": "hi"}]}
    assert messages["mlflow.spanOutputs"]["choices"][0]["message"]["content"] == "yo"


def test_genai_old_prompt_completion_attributes() -> None:
    out = mapped({"gen_ai.system": "openai", "gen_ai.request.model": "gpt-4",
                  "gen_ai.response.model": "gpt-4-0613",
                  "gen_ai.prompt.0.role": "system", "gen_ai.prompt.0.content": "be brief",
                  "gen_ai.prompt.1.role": "user", "gen_ai.prompt.1.content": "hi",
                  "gen_ai.completion.0.role": "assistant", "gen_ai.completion.0.content": "hey",
                  "gen_ai.completion.0.finish_reason": "stop",
                  "gen_ai.usage.prompt_tokens": 5, "gen_ai.usage.completion_tokens": 1,
                  "llm.usage.total_tokens": 6})
    assert out["mlflow.spanInputs"] == {"messages": [
        {"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"}]}
    assert out["mlflow.spanOutputs"] == {"choices": [
        {"index": 0, "message": {"role": "assistant", "content": "hey"},
         "finish_reason": "stop"}]}
    assert out["mlflow.chat.tokenUsage"] == {"input_tokens": 5, "output_tokens": 1,
                                             "total_tokens": 6}
    assert out["mlflow.llm.model"] == "gpt-4-0613"  # the response's model wins


def test_genai_new_messages_attributes_and_events() -> None:
    messages = '[{"role": "user", "parts": [{"type": "text", "content": "hi"}]}]'
    out = mapped({"gen_ai.operation.name": "chat", "gen_ai.input.messages": messages,
                  "gen_ai.output.messages": '[{"role": "assistant", "parts": []}]',
                  "gen_ai.usage.input_tokens": "4", "gen_ai.usage.output_tokens": 2})
    assert out["mlflow.spanInputs"] == json.loads(messages)
    assert out["mlflow.spanOutputs"] == [{"role": "assistant", "parts": []}]
    assert out["mlflow.chat.tokenUsage"]["total_tokens"] == 6
    events = [SpanEvent("gen_ai.system.message", 1, {"content": "be brief"}),
              SpanEvent("gen_ai.user.message", 2, {"content": "hi"}),
              SpanEvent("gen_ai.choice", 3, {"index": 0, "finish_reason": "stop",
                                              "message": '{"content": "hey"}'})]
    out = mapped({"gen_ai.operation.name": "chat"}, events)
    assert out["mlflow.spanInputs"] == {"messages": [
        {"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"}]}
    assert out["mlflow.spanOutputs"] == {"choices": [
        {"index": 0, "finish_reason": "stop", "message": {"content": "hey"}}]}
    details = [SpanEvent("gen_ai.client.inference.operation.details", 1,
                         {"gen_ai.input.messages": messages})]
    assert mapped({"gen_ai.operation.name": "chat"}, details)["mlflow.spanInputs"] == \
        json.loads(messages)


def test_traceloop_entities_and_tool_calls() -> None:
    out = mapped({"traceloop.span.kind": "task", "traceloop.entity.input":
                  '{"args": [1], "kwargs": {}}', "traceloop.entity.output": '"done"'})
    assert out["mlflow.spanInputs"] == {"args": [1], "kwargs": {}}
    assert out["mlflow.spanOutputs"] == "done"
    tool = mapped({"gen_ai.operation.name": "execute_tool",
                   "gen_ai.tool.call.arguments": '{"city": "Paris"}',
                   "gen_ai.tool.call.result": "sunny"})
    assert tool["mlflow.spanInputs"] == {"city": "Paris"}
    assert tool["mlflow.spanOutputs"] == "sunny"
    assert mapped({"llm.usage.total_tokens": 11})["mlflow.chat.tokenUsage"] == {
        "input_tokens": 0, "output_tokens": 0, "total_tokens": 11}


def test_session_and_user() -> None:
    assert trace_context({"session.id": "s", "user.id": "u"}) == {
        "mlflow.trace.session": "s", "mlflow.trace.user": "u"}
    assert trace_context({"gen_ai.conversation.id": "c", "enduser.id": "e"}) == {
        "mlflow.trace.session": "c", "mlflow.trace.user": "e"}
    assert trace_context({"traceloop.association.properties.session_id": "t"}) == {
        "mlflow.trace.session": "t"}
    assert trace_context({"http.method": "GET"}) == {}


def test_unmapped_attributes_are_left_alone() -> None:
    raw = {"http.method": '"GET"', "custom": "[1, 2]"}
    translate(raw, {"http.method": "GET", "custom": [1, 2]})
    assert raw == {"http.method": '"GET"', "custom": "[1, 2]", "mlflow.spanType": '"UNKNOWN"'}
