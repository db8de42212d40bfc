"""spanscope.openai.autolog(): the real openai client against the local fake server."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import openai
import pytest
from openai.resources import embeddings, responses
from openai.resources.chat import completions

import spanscope
import spanscope.openai
from spanscope.analysis import summarize
from spanscope.entities import SpanStatusCode, SpanType, Trace
from spanscope.testing.fake_openai import FakeOpenAI, Reply

QUESTION = [{"role": "user", "content": "What is the refund policy?"}]
TOOLS = [{"type": "function", "function": {
    "name": "search_knowledge_base", "description": "Search the help centre",
    "parameters": {"type": "object", "properties": {"query": {"type": "string"}}}}}]
CHAT_USAGE = {"prompt_tokens": 120, "completion_tokens": 30, "total_tokens": 150,
              "prompt_tokens_details": {"cached_tokens": 100},
              "completion_tokens_details": {"reasoning_tokens": 12}}


def _only(trace: Trace, name: str) -> Any:
    spans = [s for s in trace.data.spans if s.name == name]
    assert len(spans) == 1, [s.name for s in trace.data.spans]
    return spans[0]


def test_nothing_is_patched_until_autolog_and_disable_restores_the_very_functions(
        openai_client: openai.OpenAI, read_traces: Any) -> None:
    methods = [(completions.Completions, "create"), (completions.AsyncCompletions, "create"),
               (completions.Completions, "parse"), (completions.AsyncCompletions, "parse"),
               (responses.Responses, "create"), (responses.AsyncResponses, "create"),
               (responses.Responses, "parse"), (responses.AsyncResponses, "parse"),
               (embeddings.Embeddings, "create"), (embeddings.AsyncEmbeddings, "create")]
    before = [owner.__dict__[name] for owner, name in methods]
    openai_client.chat.completions.create(model="gpt-4o-mini", messages=QUESTION)
    assert read_traces() == []  # autolog off: no span at all

    spanscope.openai.autolog()
    spanscope.openai.autolog()  # twice patches once
    assert spanscope.openai.is_autologged()
    patched = [owner.__dict__[name] for owner, name in methods]
    assert all(p is not b for p, b in zip(patched, before, strict=True))
    assert all(p.__spanscope_original__ is b for p, b in zip(patched, before, strict=True))

    spanscope.openai.autolog(disable=True)
    assert [owner.__dict__[name] for owner, name in methods] == before
    assert all(owner.__dict__[name] is b for (owner, name), b in zip(methods, before,
                                                                     strict=True))
    assert not spanscope.openai.is_autologged()
    openai_client.chat.completions.create(model="gpt-4o-mini", messages=QUESTION)
    assert read_traces() == []


def test_log_traces_false_patches_nothing() -> None:
    original = completions.Completions.__dict__["create"]
    spanscope.openai.autolog(log_traces=False)
    assert completions.Completions.__dict__["create"] is original


def test_chat_call_inside_a_traced_function_is_a_typed_child_span(
        openai_server: FakeOpenAI, openai_client: openai.OpenAI, read_trace: Any) -> None:
    spanscope.openai.autolog()
    openai_server.script(Reply(content="Refunds within 30 days.", usage=CHAT_USAGE))

    @spanscope.trace(span_type=SpanType.AGENT)
    def support_agent(question: str) -> str:
        reply = openai_client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": question}],
            tools=TOOLS, temperature=0.2, extra_headers={"Authorization": "Bearer secret"})
        return reply.choices[0].message.content or ""

    assert support_agent("What is the refund policy?") == "Refunds within 30 days."
    trace = read_trace()
    root = _only(trace, "support_agent")
    span = _only(trace, "Completions")
    assert span.parent_id == root.span_id
    assert span.span_type == SpanType.CHAT_MODEL
    assert span.status.status_code == SpanStatusCode.OK
    assert span.inputs == {"model": "gpt-4o-mini", "temperature": 0.2, "tools": TOOLS,
                           "messages": [{"role": "user",
                                         "content": "What is the refund policy?"}]}
    assert "secret" not in json.dumps(span.raw_attributes)  # headers are never recorded
    assert span.outputs["object"] == "chat.completion"
    assert span.outputs["choices"][0]["message"]["content"] == "Refunds within 30 days."
    assert span.attributes["mlflow.chat.tools"] == TOOLS
    assert span.attributes["mlflow.llm.model"] == "gpt-4o-mini"
    assert span.attributes["mlflow.message.format"] == "openai"
    assert span.attributes["mlflow.chat.tokenUsage"] == {
        "input_tokens": 120, "output_tokens": 30, "total_tokens": 150,
        "cache_read_input_tokens": 100, "reasoning_tokens": 12}
    assert trace.info.token_usage == {"input_tokens": 120, "output_tokens": 30,
                                      "total_tokens": 150, "cache_read_input_tokens": 100,
                                      "reasoning_tokens": 12}


def test_a_call_alone_is_a_trace_with_its_summary_and_cost(
        openai_client: openai.OpenAI, read_trace: Any, uri: str) -> None:
    spanscope.openai.autolog()
    openai_client.chat.completions.create(model="gpt-4o-mini", messages=QUESTION)
    trace = read_trace()
    assert [s.name for s in trace.data.spans] == ["Completions"]
    assert trace.data.spans[0].parent_id is None
    assert trace.info.tags["mlflow.traceName"] == "Completions"
    assert "refund policy" in (trace.info.request_preview or "")
    assert "30 days" in (trace.info.response_preview or "")
    overall = summarize(store=spanscope.tracking.get_store(uri)).overall
    assert overall["total_tokens"] == 15 and overall["traces"] == 1
    assert overall["cost_usd"] == pytest.approx((10 * 0.15 + 5 * 0.6) / 1e6)


def test_streamed_chat_is_aggregated_with_usage_and_time_to_first_token(
        openai_server: FakeOpenAI, openai_client: openai.OpenAI, read_trace: Any) -> None:
    spanscope.openai.autolog()
    openai_server.script(Reply(content="Refunds are accepted within 30 days of delivery.",
                               usage=CHAT_USAGE, chunk_delay=0.01))
    stream = openai_client.chat.completions.create(
        model="gpt-4o-mini", messages=QUESTION, stream=True,
        stream_options={"include_usage": True})
    assert isinstance(stream, openai.Stream)  # the app keeps the client's own type
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "Refunds are accepted within 30 days of delivery."
    assert chunks[-1].usage is not None and chunks[-1].choices == []

    span = read_trace().data.spans[0]
    message = span.outputs["choices"][0]["message"]
    assert message == {"role": "assistant", "content": text}
    assert span.outputs["choices"][0]["finish_reason"] == "stop"
    assert span.attributes["mlflow.chat.tokenUsage"]["input_tokens"] == 120
    assert span.attributes["mlflow.chat.tokenUsage"]["cache_read_input_tokens"] == 100
    [event] = [e for e in span.events if e.name == "first_token"]
    ttft = event.attributes["time_to_first_token_ms"]
    assert 0 < ttft < (span.end_time_ns - span.start_time_ns) / 1e6
    assert span.start_time_ns < event.timestamp_ns < span.end_time_ns


def test_streamed_tool_calls_are_joined_and_kept_in_the_output(
        openai_server: FakeOpenAI, openai_client: openai.OpenAI, read_trace: Any) -> None:
    spanscope.openai.autolog()
    openai_server.script(Reply(tool_calls=(
        {"name": "search_knowledge_base", "arguments": {"query": "refund policy"}},
        {"name": "get_order", "arguments": {"order_id": "A-17"}})))
    with openai_client.chat.completions.create(model="gpt-4o-mini", messages=QUESTION,
                                               tools=TOOLS, stream=True) as stream:
        for _ in stream:
            pass
    span = read_trace().data.spans[0]
    choice = span.outputs["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    calls = choice["message"]["tool_calls"]
    assert [c["function"]["name"] for c in calls] == ["search_knowledge_base", "get_order"]
    assert json.loads(calls[0]["function"]["arguments"]) == {"query": "refund policy"}
    assert calls[1]["id"] == "call_fake_1"
    assert "mlflow.chat.tokenUsage" not in span.attributes  # no usage chunk was asked for


def test_a_stream_left_early_still_ends_its_span(
        openai_client: openai.OpenAI, read_trace: Any) -> None:
    spanscope.openai.autolog()
    stream = openai_client.chat.completions.create(model="gpt-4o-mini", messages=QUESTION,
                                                   stream=True)
    for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            break
    stream.close()
    del stream, chunk
    span = read_trace().data.spans[0]
    assert span.attributes["spanscope.stream.incomplete"] is True
    assert span.outputs["choices"][0]["message"]["content"] == "Refunds are accepted "


def test_a_stream_closed_unread_still_ends_its_span(
        openai_client: openai.OpenAI, read_trace: Any) -> None:
    spanscope.openai.autolog()
    with openai_client.chat.completions.create(model="gpt-4o-mini", messages=QUESTION,
                                               stream=True):
        pass
    span = read_trace().data.spans[0]
    assert span.attributes["spanscope.stream.incomplete"] is True
    assert span.end_time_ns is not None


def test_async_chat_plain_and_streamed(async_openai_client: openai.AsyncOpenAI,
                                       read_trace: Any) -> None:
    spanscope.openai.autolog()

    @spanscope.trace
    async def app() -> str:
        first = await async_openai_client.chat.completions.create(
            model="gpt-4o-mini", messages=QUESTION)
        stream = await async_openai_client.chat.completions.create(
            model="gpt-4o-mini", messages=QUESTION, stream=True,
            stream_options={"include_usage": True})
        assert isinstance(stream, openai.AsyncStream)
        parts = [c.choices[0].delta.content or "" async for c in stream if c.choices]
        return (first.choices[0].message.content or "") + "|" + "".join(parts)

    assert asyncio.run(app()).count("30 days") == 2
    trace = read_trace()
    root = _only(trace, "app")
    calls = [s for s in trace.data.spans if s.name == "AsyncCompletions"]
    assert len(calls) == 2 and all(s.parent_id == root.span_id for s in calls)
    assert all(s.span_type == SpanType.CHAT_MODEL for s in calls)
    streamed = max(calls, key=lambda s: s.start_time_ns)
    assert streamed.outputs["choices"][0]["message"]["content"].endswith("delivery.")
    assert any(e.name == "first_token" for e in streamed.events)
    assert trace.info.token_usage == {"input_tokens": 20, "output_tokens": 10,
                                      "total_tokens": 30}


def test_responses_api_sync_async_and_streamed(
        openai_server: FakeOpenAI, openai_client: openai.OpenAI,
        async_openai_client: openai.AsyncOpenAI, read_traces: Any) -> None:
    spanscope.openai.autolog()
    usage = {"input_tokens": 40, "output_tokens": 20, "total_tokens": 60,
             "input_tokens_details": {"cached_tokens": 32},
             "output_tokens_details": {"reasoning_tokens": 8}}
    openai_server.script(Reply(content="Within 30 days.", usage=usage))
    plain = openai_client.responses.create(model="gpt-4o-mini", input="Refund policy?",
                                           tools=[{"type": "function", "name": "f",
                                                   "parameters": {}}])
    assert plain.output_text == "Within 30 days."

    async def run_async() -> str:
        return (await async_openai_client.responses.create(model="gpt-4o-mini",
                                                           input="again?")).output_text
    assert "30 days" in asyncio.run(run_async())
    events = list(openai_client.responses.create(model="gpt-4o-mini", input="stream it",
                                                 stream=True))
    assert events[-1].type == "response.completed"

    first, second, third = (t.data.spans[0] for t in read_traces())
    assert (first.name, second.name, third.name) == ("Responses", "AsyncResponses",
                                                     "Responses")
    assert all(s.span_type == SpanType.CHAT_MODEL for s in (first, second, third))
    assert first.outputs["output"][0]["content"][0]["text"] == "Within 30 days."
    assert first.attributes["mlflow.chat.tools"][0]["name"] == "f"
    assert first.attributes["mlflow.chat.tokenUsage"] == {
        "input_tokens": 40, "output_tokens": 20, "total_tokens": 60,
        "cache_read_input_tokens": 32, "reasoning_tokens": 8}
    assert third.inputs["stream"] is True
    assert third.outputs["status"] == "completed"
    assert third.outputs["output"][0]["content"][0]["text"].startswith("Refunds are")
    assert third.attributes["mlflow.chat.tokenUsage"]["total_tokens"] == 15
    assert any(e.name == "first_token" for e in third.events)


def test_async_streamed_responses(async_openai_client: openai.AsyncOpenAI,
                                  read_trace: Any) -> None:
    spanscope.openai.autolog()

    async def run() -> list[str]:
        stream = await async_openai_client.responses.create(
            model="gpt-4o-mini", input="Refund policy?", stream=True)
        assert isinstance(stream, openai.AsyncStream)
        return [event.type async for event in stream]

    assert asyncio.run(run())[-1] == "response.completed"
    span = read_trace().data.spans[0]
    assert (span.name, span.span_type) == ("AsyncResponses", SpanType.CHAT_MODEL)
    assert span.outputs["output"][0]["content"][0]["text"].endswith("delivery.")
    assert span.attributes["mlflow.chat.tokenUsage"]["total_tokens"] == 15
    assert any(e.name == "first_token" for e in span.events)


def test_the_stream_and_parse_helpers_are_traced(openai_client: openai.OpenAI,
                                                 read_traces: Any) -> None:
    spanscope.openai.autolog()
    with openai_client.chat.completions.stream(model="gpt-4o-mini",
                                               messages=QUESTION) as stream:
        for _ in stream:
            pass
        final = stream.get_final_completion().choices[0].message.content
    with openai_client.responses.stream(model="gpt-4o-mini", input="Refunds?") as events:
        for _ in events:
            pass
        answer = events.get_final_response().output_text
    parsed = openai_client.chat.completions.parse(model="gpt-4o-mini", messages=QUESTION)
    assert final == answer == parsed.choices[0].message.content
    chat, resp, parse = (t.data.spans[0] for t in read_traces())
    assert chat.name == "Completions" and chat.outputs["choices"][0]["message"]["content"] \
        == final
    assert resp.name == "Responses" and resp.outputs["status"] == "completed"
    assert parse.name == "Completions" and parse.outputs["choices"][0]["message"][
        "content"] == final
    assert parse.attributes["mlflow.chat.tokenUsage"]["total_tokens"] == 15


def test_responses_tool_calls_are_kept(openai_server: FakeOpenAI,
                                       openai_client: openai.OpenAI, read_trace: Any) -> None:
    spanscope.openai.autolog()
    openai_server.script(Reply(tool_calls=({"name": "lookup", "arguments": {"id": 7}},)))
    openai_client.responses.create(model="gpt-4o-mini", input="look up 7")
    [item] = read_trace().data.spans[0].outputs["output"]
    assert item["type"] == "function_call" and item["name"] == "lookup"
    assert json.loads(item["arguments"]) == {"id": 7}


def test_embeddings_are_embedding_spans_with_usage(openai_client: openai.OpenAI,
                                                   read_trace: Any) -> None:
    spanscope.openai.autolog()
    result = openai_client.embeddings.create(model="text-embedding-3-small",
                                             input=["refund policy", "shipping time"])
    assert len(result.data) == 2
    span = read_trace().data.spans[0]
    assert (span.name, span.span_type) == ("Embeddings", SpanType.EMBEDDING)
    assert span.inputs == {"model": "text-embedding-3-small",
                           "input": ["refund policy", "shipping time"]}
    assert len(span.outputs["data"]) == 2
    assert span.attributes["mlflow.chat.tokenUsage"] == {
        "input_tokens": 4, "output_tokens": 0, "total_tokens": 4}


@pytest.mark.parametrize(("status", "error_type"), [(429, openai.RateLimitError),
                                                    (500, openai.InternalServerError)])
def test_http_errors_mark_the_span_and_reach_the_app_unchanged(
        openai_server: FakeOpenAI, openai_client: openai.OpenAI, read_trace: Any,
        status: int, error_type: type[Exception]) -> None:
    spanscope.openai.autolog()
    openai_server.script(Reply.error(status, "scripted failure"))
    with pytest.raises(error_type) as caught:
        openai_client.chat.completions.create(model="gpt-4o-mini", messages=QUESTION)
    assert caught.value.status_code == status  # type: ignore[attr-defined]
    span = read_trace().data.spans[0]
    assert span.status.status_code == SpanStatusCode.ERROR
    assert error_type.__name__ in span.status.description
    [event] = [e for e in span.events if e.name == "exception"]
    assert event.attributes["exception.type"] == error_type.__name__
    assert "scripted failure" in event.attributes["exception.message"]


def test_timeouts_mark_the_span_and_reach_the_app(
        openai_server: FakeOpenAI, openai_client: openai.OpenAI, read_trace: Any) -> None:
    spanscope.openai.autolog()
    openai_server.script(Reply(content="too late", delay=2))
    with pytest.raises(openai.APITimeoutError):
        openai_client.with_options(timeout=0.2).chat.completions.create(
            model="gpt-4o-mini", messages=QUESTION)
    span = read_trace().data.spans[0]
    assert span.status.status_code == SpanStatusCode.ERROR
    assert span.events[-1].attributes["exception.type"] == "APITimeoutError"


def test_a_stream_that_times_out_midway_is_an_error_span(
        openai_server: FakeOpenAI, openai_client: openai.OpenAI, read_trace: Any) -> None:
    spanscope.openai.autolog()
    openai_server.script(Reply(content="one two three four five six seven", chunk_delay=1))
    stream = openai_client.with_options(timeout=0.3).chat.completions.create(
        model="gpt-4o-mini", messages=QUESTION, stream=True)
    with pytest.raises(openai.APITimeoutError):
        for _ in stream:
            pass
    span = read_trace().data.spans[0]
    assert span.status.status_code == SpanStatusCode.ERROR
    assert span.outputs["choices"][0]["message"]["role"] == "assistant"


def test_spanscope_failures_never_reach_the_app(
        openai_client: openai.OpenAI, read_traces: Any, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    spanscope.openai.autolog()
    import spanscope.tracing.autolog as autolog_module

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("spanscope is broken")

    monkeypatch.setattr(autolog_module, "get_tracer", broken)
    reply = openai_client.chat.completions.create(model="gpt-4o-mini", messages=QUESTION)
    assert reply.choices[0].message.content.startswith("Refunds")
    assert "could not start a span" in caplog.text
    monkeypatch.undo()

    monkeypatch.setattr(autolog_module.StreamAccumulator, "add", broken, raising=False)
    monkeypatch.setattr("spanscope.openai._record.ChatStream.add", broken)
    chunks = list(openai_client.chat.completions.create(model="gpt-4o-mini",
                                                        messages=QUESTION, stream=True))
    assert "".join(c.choices[0].delta.content or "" for c in chunks).endswith("delivery.")
    assert len(read_traces()) == 1  # the stream's span still ended


def test_tracing_disabled_calls_straight_through(openai_client: openai.OpenAI,
                                                 read_traces: Any) -> None:
    spanscope.openai.autolog()
    spanscope.disable()
    try:
        openai_client.chat.completions.create(model="gpt-4o-mini", messages=QUESTION)
    finally:
        spanscope.enable()
    assert read_traces() == []
