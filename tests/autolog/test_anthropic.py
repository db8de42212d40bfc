"""spanscope.anthropic.autolog(): the real anthropic client against the local fake server."""

from __future__ import annotations

import asyncio
from typing import Any

import anthropic
import pytest
from anthropic import _base_client
from anthropic.resources import messages

import spanscope
import spanscope.anthropic
from spanscope.analysis import diagnose
from spanscope.entities import SpanStatusCode, SpanType, Trace
from spanscope.testing.fake_anthropic import FakeAnthropic, Reply

QUESTION = [{"role": "user", "content": "What is the refund policy?"}]
TOOLS = [{"name": "search_knowledge_base", "description": "Search the help centre",
          "input_schema": {"type": "object", "properties": {"query": {"type": "string"}}}}]
CACHED = {"input_tokens": 20, "output_tokens": 9, "cache_read_input_tokens": 300,
          "cache_creation_input_tokens": 50}


def _autolog_span(trace: Trace, name: str = "Messages") -> Any:
    spans = [s for s in trace.data.spans if s.name == name]
    assert len(spans) == 1, [s.name for s in trace.data.spans]
    return spans[0]


def test_disable_restores_the_very_functions(anthropic_client: anthropic.Anthropic,
                                             read_traces: Any) -> None:
    before = (messages.Messages.__dict__["create"], messages.AsyncMessages.__dict__["create"])
    spanscope.anthropic.autolog()
    assert messages.Messages.__dict__["create"] is not before[0]
    spanscope.anthropic.autolog(disable=True)
    assert (messages.Messages.__dict__["create"],
            messages.AsyncMessages.__dict__["create"]) == before
    assert messages.Messages.__dict__["create"] is before[0]
    assert not spanscope.anthropic.is_autologged()
    anthropic_client.messages.create(model="claude-sonnet-4-5", max_tokens=50,
                                     messages=QUESTION)
    assert all(s.name != "Messages" for t in read_traces() for s in t.data.spans)


def test_message_with_tool_use_and_cache_tokens_inside_a_traced_function(
        anthropic_server: FakeAnthropic, anthropic_client: anthropic.Anthropic,
        read_trace: Any) -> None:
    spanscope.anthropic.autolog()
    anthropic_server.script(Reply(content="Let me search.", usage=CACHED, tool_calls=(
        {"name": "search_knowledge_base", "arguments": {"query": "refund policy"}},)))

    @spanscope.trace(span_type=SpanType.AGENT)
    def agent() -> str:
        reply = anthropic_client.messages.create(
            model="claude-sonnet-4-5", max_tokens=200, system="Be brief.",
            messages=QUESTION, tools=TOOLS)
        return reply.stop_reason or ""

    assert agent() == "tool_use"
    trace = read_trace()
    root = _autolog_span(trace, "agent")
    span = _autolog_span(trace)
    assert span.parent_id == root.span_id
    assert span.span_type == SpanType.CHAT_MODEL
    assert span.inputs == {"model": "claude-sonnet-4-5", "max_tokens": 200,
                           "system": "Be brief.", "messages": QUESTION, "tools": TOOLS}
    assert [b["type"] for b in span.outputs["content"]] == ["text", "tool_use"]
    assert span.outputs["content"][1]["input"] == {"query": "refund policy"}
    assert span.attributes["mlflow.chat.tools"] == TOOLS
    assert span.attributes["mlflow.llm.model"] == "claude-sonnet-4-5"
    assert span.attributes["mlflow.message.format"] == "anthropic"
    assert span.attributes["mlflow.chat.tokenUsage"] == {
        "input_tokens": 370, "output_tokens": 9, "total_tokens": 379,
        "cache_read_input_tokens": 300, "cache_creation_input_tokens": 50}
    assert trace.info.token_usage == {  # MLflow 3.17 sums the cache keys spans report
        "input_tokens": 370, "output_tokens": 9, "total_tokens": 379,
        "cache_read_input_tokens": 300, "cache_creation_input_tokens": 50}
    # the client's own OpenTelemetry span is not opened inside the autologged call
    assert [s.name for s in trace.data.spans] == ["agent", "Messages"]
    assert not [f for f in diagnose(trace) if f.kind == "empty_output"]


def test_without_autolog_the_clients_own_span_is_left_alone(
        anthropic_client: anthropic.Anthropic, read_trace: Any) -> None:
    spanscope.enable()  # the global provider is Spanscope's: the client's span lands
    original = _base_client.__dict__["start_api_call_span"]
    spanscope.anthropic.autolog()
    assert _base_client.__dict__["start_api_call_span"] is not original
    spanscope.anthropic.autolog(disable=True)
    assert _base_client.__dict__["start_api_call_span"] is original
    anthropic_client.messages.create(model="claude-sonnet-4-5", max_tokens=50,
                                     messages=QUESTION)
    [span] = read_trace().data.spans
    assert (span.name, span.span_type) == ("anthropic.messages.create", SpanType.CHAT_MODEL)


def test_streamed_message_is_rebuilt_with_usage_and_first_token(
        anthropic_server: FakeAnthropic, anthropic_client: anthropic.Anthropic,
        read_trace: Any) -> None:
    spanscope.anthropic.autolog()
    anthropic_server.script(Reply(content="Refunds are accepted within 30 days.",
                                  usage=CACHED, chunk_delay=0.01, tool_calls=(
                                      {"name": "search_knowledge_base",
                                       "arguments": {"query": "refunds"}},)))
    stream = anthropic_client.messages.create(model="claude-sonnet-4-5", max_tokens=200,
                                              messages=QUESTION, stream=True)
    assert isinstance(stream, anthropic.Stream)
    kinds = [event.type for event in stream]
    assert kinds[0] == "message_start" and kinds[-1] == "message_stop"
    span = _autolog_span(read_trace())
    assert span.outputs["content"] == [
        {"type": "text", "text": "Refunds are accepted within 30 days."},
        {"type": "tool_use", "id": "toolu_fake_0", "name": "search_knowledge_base",
         "input": {"query": "refunds"}}]
    assert span.outputs["stop_reason"] == "tool_use"
    assert span.attributes["mlflow.chat.tokenUsage"]["input_tokens"] == 370
    assert span.attributes["mlflow.chat.tokenUsage"]["output_tokens"] == 9
    assert any(e.name == "first_token" for e in span.events)


def test_async_plain_and_streamed(async_anthropic_client: anthropic.AsyncAnthropic,
                                  read_trace: Any) -> None:
    spanscope.anthropic.autolog()

    @spanscope.trace
    async def app() -> str:
        first = await async_anthropic_client.messages.create(
            model="claude-sonnet-4-5", max_tokens=50, messages=QUESTION)
        stream = await async_anthropic_client.messages.create(
            model="claude-sonnet-4-5", max_tokens=50, messages=QUESTION, stream=True)
        text = [e.delta.text async for e in stream
                if e.type == "content_block_delta" and e.delta.type == "text_delta"]
        return first.content[0].text + "|" + "".join(text)

    assert asyncio.run(app()).count("30 days") == 2
    trace = read_trace()
    calls = [s for s in trace.data.spans if s.name == "AsyncMessages"]
    assert len(calls) == 2
    assert all(s.parent_id == _autolog_span(trace, "app").span_id for s in calls)
    assert all(s.outputs["content"][0]["text"].endswith("delivery.") for s in calls)
    assert trace.info.token_usage == {"input_tokens": 24, "output_tokens": 12,
                                      "total_tokens": 36, "cache_read_input_tokens": 0,
                                      "cache_creation_input_tokens": 0}


@pytest.mark.parametrize(("status", "error_type"), [(429, anthropic.RateLimitError),
                                                    (500, anthropic.InternalServerError),
                                                    (529, anthropic.OverloadedError)])
def test_errors_mark_the_span_and_reach_the_app_unchanged(
        anthropic_server: FakeAnthropic, anthropic_client: anthropic.Anthropic,
        read_trace: Any, status: int, error_type: type[Exception]) -> None:
    spanscope.anthropic.autolog()
    anthropic_server.script(Reply.error(status, "scripted failure"))
    with pytest.raises(error_type) as caught:
        anthropic_client.messages.create(model="claude-sonnet-4-5", max_tokens=50,
                                         messages=QUESTION)
    assert caught.value.status_code == status  # type: ignore[attr-defined]
    span = _autolog_span(read_trace())
    assert span.status.status_code == SpanStatusCode.ERROR
    [event] = [e for e in span.events if e.name == "exception"]
    assert event.attributes["exception.type"] == error_type.__name__


def test_timeout_is_an_error_span(anthropic_server: FakeAnthropic,
                                  anthropic_client: anthropic.Anthropic,
                                  read_trace: Any) -> None:
    spanscope.anthropic.autolog()
    anthropic_server.script(Reply(content="late", delay=2))
    with pytest.raises(anthropic.APITimeoutError):
        anthropic_client.with_options(timeout=0.2).messages.create(
            model="claude-sonnet-4-5", max_tokens=50, messages=QUESTION)
    span = _autolog_span(read_trace())
    assert span.status.status_code == SpanStatusCode.ERROR


def test_the_stream_helper_is_traced_sync_and_async(
        anthropic_server: FakeAnthropic, anthropic_client: anthropic.Anthropic,
        async_anthropic_client: anthropic.AsyncAnthropic, read_traces: Any) -> None:
    spanscope.anthropic.autolog()
    anthropic_server.script(Reply(content="Refunds take five days.", usage=CACHED))
    with anthropic_client.messages.stream(model="claude-sonnet-4-5", max_tokens=100,
                                          messages=QUESTION) as stream:
        assert "".join(stream.text_stream) == "Refunds take five days."
        final = stream.get_final_message()
    assert final.stop_reason == "end_turn"

    async def run() -> str:
        async with async_anthropic_client.messages.stream(
                model="claude-sonnet-4-5", max_tokens=100, messages=QUESTION) as stream:
            return "".join([text async for text in stream.text_stream])

    assert asyncio.run(run()).endswith("delivery.")
    sync_trace, async_trace = read_traces()
    [span] = sync_trace.data.spans
    assert (span.name, span.span_type) == ("Messages", SpanType.CHAT_MODEL)
    assert span.inputs == {"model": "claude-sonnet-4-5", "max_tokens": 100,
                           "messages": QUESTION}
    assert span.outputs["content"] == [{"type": "text", "text": "Refunds take five days."}]
    assert span.attributes["mlflow.chat.tokenUsage"]["input_tokens"] == 370
    assert any(e.name == "first_token" for e in span.events)
    [async_span] = async_trace.data.spans
    assert async_span.name == "AsyncMessages"
    assert async_span.outputs["content"][0]["text"].endswith("delivery.")
    spanscope.anthropic.autolog(disable=True)
    assert not hasattr(messages.Messages.__dict__["stream"], "__spanscope_original__")
