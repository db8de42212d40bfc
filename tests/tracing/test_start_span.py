"""``start_span``, the ``LiveSpan`` API, trace-level fields and token usage."""

from __future__ import annotations

import json
import logging

import pytest

import spanscope.tracing as tracing
from spanscope.entities import SpanEvent, SpanStatus, SpanStatusCode, SpanType, TraceState


def test_live_span_methods_are_recorded(read_trace) -> None:
    with tracing.start_span("retrieve", span_type=SpanType.RETRIEVER,
                            attributes={"index": "faq", "k": 3}) as span:
        assert len(span.span_id) == 16
        assert span.trace_id.startswith("tr-") and len(span.trace_id) == 35
        assert span.name == "retrieve"
        span.set_inputs({"query": "refund policy"})
        span.set_outputs([{"doc": "refunds.md", "score": 0.92}])
        span.set_attribute("filters", {"lang": ["en", "fr"]})
        span.set_attributes({"top_score": 0.92, "cached": False, "tags": ["a", "b"]})
        span.add_event("cache_miss", {"key": "k1", "detail": {"shard": 2}})
        span.add_event(SpanEvent("rerank", 1_700_000_000_000_000_000, {"n": 3}))
        assert span.inputs == {"query": "refund policy"}
        assert span.get_attribute("filters") == {"lang": ["en", "fr"]}
        assert span.span_type == "RETRIEVER"
        assert span.parent_id is None
    trace = read_trace()
    (stored,) = trace.data.spans
    assert stored.span_id == span.span_id and trace.info.trace_id == span.trace_id
    assert stored.span_type == SpanType.RETRIEVER
    assert stored.inputs == {"query": "refund policy"}
    assert stored.outputs == [{"doc": "refunds.md", "score": 0.92}]
    attributes = stored.attributes
    assert attributes["index"] == "faq" and attributes["k"] == 3
    assert attributes["filters"] == {"lang": ["en", "fr"]}
    assert attributes["tags"] == ["a", "b"] and attributes["cached"] is False
    assert stored.raw_attributes["filters"] == '{"lang": ["en", "fr"]}'  # JSON text, as MLflow
    assert stored.raw_attributes["mlflow.spanType"] == '"RETRIEVER"'
    miss, rerank = stored.events
    assert miss.name == "cache_miss"
    assert miss.attributes == {"key": "k1", "detail": '{"shard": 2}'}
    assert (rerank.name, rerank.timestamp_ns, rerank.attributes) == (
        "rerank", 1_700_000_000_000_000_000, {"n": 3})
    assert stored.status.status_code == SpanStatusCode.OK


def test_span_type_status_and_record_exception(read_traces) -> None:
    with tracing.start_span("judge") as span:
        span.set_span_type(SpanType.EVALUATOR)
        span.set_status("ERROR", "score below threshold")
    with tracing.start_span("manual") as span:
        span.record_exception(ValueError("bad input"))
    with tracing.start_span("explicit") as span:
        span.set_status(SpanStatus(SpanStatusCode.ERROR, "from entity"))
    with tracing.start_span("ok-is-final") as span:
        span.set_status(SpanStatusCode.OK)
        span.set_status("ERROR", "ignored, as in OpenTelemetry")
    by_name = {t.data.spans[0].name: t for t in read_traces()}
    judge = by_name["judge"].data.spans[0]
    assert judge.span_type == SpanType.EVALUATOR
    assert judge.status == SpanStatus(SpanStatusCode.ERROR, "score below threshold")
    assert by_name["judge"].info.state == TraceState.ERROR
    manual = by_name["manual"].data.spans[0]
    assert manual.status.description == "ValueError: bad input"
    assert manual.events[0].attributes["exception.type"] == "ValueError"
    assert by_name["explicit"].data.spans[0].status.description == "from entity"
    assert by_name["ok-is-final"].data.spans[0].status.status_code == SpanStatusCode.OK


def test_exception_in_block_marks_error_and_propagates(read_trace) -> None:
    error = RuntimeError("tool crashed")
    with pytest.raises(RuntimeError) as info, tracing.start_span("tool", span_type="TOOL"):
        raise error
    assert info.value is error
    trace = read_trace()
    assert trace.info.state == TraceState.ERROR
    assert trace.data.spans[0].events[0].attributes["exception.message"] == "tool crashed"


def test_manual_end_inside_the_block(read_trace) -> None:
    with tracing.start_span("early") as span:
        span.end()
        span.end()  # a second end does nothing
        assert span.end_time_ns is not None
    assert read_trace().data.spans[0].name == "early"


def test_start_span_nests_under_decorated_functions_and_vice_versa(read_trace) -> None:
    @tracing.trace
    def tool(x):
        return x * 2

    @tracing.trace
    def agent():
        with tracing.start_span("plan", span_type=SpanType.CHAIN) as plan:
            plan.set_outputs(tool(21))
        return "done"

    agent()
    trace = read_trace()
    spans = {s.name: s for s in trace.data.spans}
    assert spans["plan"].parent_id == spans["agent"].span_id
    assert spans["tool"].parent_id == spans["plan"].span_id
    assert spans["plan"].outputs == 42


def test_get_current_active_span(read_trace) -> None:
    assert tracing.get_current_active_span() is None

    @tracing.trace
    def work():
        span = tracing.get_current_active_span()
        span.set_attribute("found", True)
        return span.span_id

    span_id = work()
    stored = read_trace().data.spans[0]
    assert stored.span_id == span_id
    assert stored.attributes["found"] is True


def test_update_current_trace_sets_trace_level_fields(read_trace) -> None:
    @tracing.trace
    def handle(request):
        tracing.update_current_trace(tags={"environment": "prod", "attempt": 2},
                                     metadata={"app_version": "1.4.0"},
                                     client_request_id="req-42", session_id="s-1",
                                     user_id="u-9")
        inner()
        return "ok"

    @tracing.trace
    def inner():  # any span of the trace can update it
        tracing.update_current_trace(tags={"user_tier": "gold"},
                                     request_preview="custom request",
                                     response_preview="custom response")

    handle({"q": "x" * 5000})
    info = read_trace().info
    assert info.tags["environment"] == "prod"
    assert info.tags["attempt"] == "2"
    assert info.tags["user_tier"] == "gold"
    assert info.tags["mlflow.traceName"] == "handle"
    assert info.trace_metadata["app_version"] == "1.4.0"
    assert info.trace_metadata["mlflow.trace.session"] == "s-1"
    assert info.trace_metadata["mlflow.trace.user"] == "u-9"
    assert (info.session_id, info.user_id) == ("s-1", "u-9")
    assert info.client_request_id == "req-42"
    assert info.request_preview == "custom request"
    assert info.response_preview == "custom response"
    assert len(info.trace_metadata["mlflow.traceInputs"]) == 250


def test_previews_are_truncated(read_trace) -> None:
    @tracing.trace
    def long(text):
        return text

    long("y" * 5000)
    info = read_trace().info
    assert len(info.request_preview) == 1000 and info.request_preview.endswith("...")
    assert info.request_preview.startswith('{"text": "yyy')
    assert len(info.response_preview) == 1000


def test_update_current_trace_outside_a_trace_warns_and_does_nothing(
        caplog: pytest.LogCaptureFixture, read_traces) -> None:
    with caplog.at_level(logging.WARNING, logger="spanscope"):
        tracing.update_current_trace(tags={"x": "1"})
    assert "outside a trace" in caplog.text
    assert read_traces() == []


def test_token_usage_from_all_conventions_is_summed(read_trace) -> None:
    @tracing.trace(span_type=SpanType.AGENT)
    def agent():
        with tracing.start_span("mlflow-style", span_type="CHAT_MODEL") as span:
            span.set_attribute("mlflow.chat.tokenUsage",
                               {"input_tokens": 10, "output_tokens": 5, "total_tokens": 15})
        with tracing.start_span("openai-shaped", span_type="CHAT_MODEL") as span:
            span.set_outputs({"choices": [], "usage": {"prompt_tokens": 7,
                                                       "completion_tokens": 3,
                                                       "total_tokens": 10}})
        with tracing.start_span("genai-semconv", span_type="LLM") as span:
            span.set_attributes({"gen_ai.usage.input_tokens": 100,
                                 "gen_ai.usage.output_tokens": 20})
        with tracing.start_span("openinference", span_type="LLM") as span:
            span.set_attributes({"llm.token_count.prompt": 1, "llm.token_count.completion": 2,
                                 "llm.token_count.total": 3})
        with tracing.start_span("no-usage"):
            pass

    agent()
    trace = read_trace()
    assert trace.info.token_usage == {"input_tokens": 118, "output_tokens": 30,
                                      "total_tokens": 148}
    assert json.loads(trace.info.trace_metadata["mlflow.trace.tokenUsage"]) == \
        trace.info.token_usage


def test_no_token_usage_key_when_no_span_reports_usage(read_trace) -> None:
    with tracing.start_span("plain"):
        pass
    assert "mlflow.trace.tokenUsage" not in read_trace().info.trace_metadata


def test_experiment_is_captured_when_the_trace_ends(read_traces, uri) -> None:
    from spanscope import tracking

    experiment_id = tracking.set_experiment("tracing-tests")
    with tracing.start_span("in-experiment"):
        pass
    (trace,) = read_traces()
    assert trace.info.experiment_id == experiment_id
    assert tracking.get_store().search_traces([experiment_id])[0].info.trace_id == \
        trace.info.trace_id
