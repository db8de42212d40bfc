"""Spans from any OpenTelemetry instrumentation land in Spanscope, mapped onto MLflow keys."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

from opentelemetry import trace as otel_trace
from opentelemetry.trace import Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

import spanscope.tracing as tracing
from spanscope.entities import SpanStatusCode, SpanType, TraceState
from spanscope.tracing.provider import SETUP


def test_spanscope_installs_the_global_provider() -> None:
    tracing.enable()
    assert otel_trace.get_tracer_provider() is SETUP.provider


def test_openinference_span_lands_with_kind_inputs_outputs_and_usage(read_trace) -> None:
    tracer = otel_trace.get_tracer("openinference.instrumentation.openai", "1.0")
    with tracer.start_as_current_span("ChatCompletion") as span:
        span.set_attributes({
            "openinference.span.kind": "LLM",
            "input.value": '{"messages": [{"role": "user", "content": "hi"}]}',
            "input.mime_type": "application/json",
            "output.value": "Hello!",
            "output.mime_type": "text/plain",
            "llm.model_name": "gpt-4o-mini",
            "llm.token_count.prompt": 12,
            "llm.token_count.completion": 3,
            "llm.token_count.total": 15,
            "llm.invocation_parameters": '{"temperature": 0}',
            "tag.tags": ("a", "b"),
        })
    trace = read_trace()
    (stored,) = trace.data.spans
    assert stored.name == "ChatCompletion"
    assert stored.span_type == SpanType.LLM
    assert stored.inputs == {"messages": [{"role": "user", "content": "hi"}]}
    assert stored.outputs == "Hello!"
    assert stored.raw_attributes["llm.model_name"] == '"gpt-4o-mini"'  # JSON-encoded
    assert stored.attributes["llm.token_count.prompt"] == 12
    assert stored.attributes["tag.tags"] == ["a", "b"]
    assert stored.attributes["mlflow.chat.tokenUsage"] == {
        "input_tokens": 12, "output_tokens": 3, "total_tokens": 15}
    assert stored.attributes["mlflow.traceRequestId"] == trace.info.trace_id
    assert stored.status.status_code == SpanStatusCode.UNSET  # as the instrumentation left it
    assert trace.info.state == TraceState.OK
    assert trace.info.token_usage == {"input_tokens": 12, "output_tokens": 3,
                                      "total_tokens": 15}
    assert trace.info.tags["mlflow.traceName"] == "ChatCompletion"
    assert json.loads(trace.info.request_preview)["messages"][0]["content"] == "hi"


def test_genai_semconv_spans_are_mapped(read_traces) -> None:
    tracer = otel_trace.get_tracer("opentelemetry.instrumentation.openai_v2")
    kinds = {"chat": SpanType.CHAT_MODEL, "text_completion": SpanType.LLM,
             "embeddings": SpanType.EMBEDDING, "execute_tool": SpanType.TOOL,
             "invoke_agent": SpanType.AGENT, "create_agent": SpanType.AGENT,
             "something_else": SpanType.UNKNOWN}
    for operation in kinds:
        with tracer.start_as_current_span(f"{operation} gpt-4o") as span:
            span.set_attributes({
                "gen_ai.operation.name": operation,
                "gen_ai.input.messages": '[{"role": "user", "parts": []}]',
                "gen_ai.usage.input_tokens": 5,
                "gen_ai.usage.output_tokens": 2,
            })
    found = {t.data.spans[0].attributes["gen_ai.operation.name"]: t for t in read_traces()}
    for operation, span_type in kinds.items():
        trace = found[operation]
        span = trace.data.spans[0]
        assert span.span_type == span_type, operation
        assert span.inputs == [{"role": "user", "parts": []}]
        assert trace.info.token_usage == {"input_tokens": 5, "output_tokens": 2,
                                          "total_tokens": 7}


def test_foreign_and_spanscope_spans_nest_in_one_trace(read_trace) -> None:
    tracer = otel_trace.get_tracer("my.http.client")

    @tracing.trace(span_type=SpanType.TOOL)
    def lookup(key: str) -> str:
        with tracer.start_as_current_span("GET /items") as http:
            http.set_attribute("http.status_code", 200)
            inner = tracing.get_current_active_span()  # a view on the foreign span
            inner.set_attribute("cache", {"hit": False})
            inner.set_outputs({"status": 200})
            with tracing.start_span("parse"):
                pass
        return key.upper()

    @tracing.trace
    def agent():
        return lookup("k")

    agent()
    trace = read_trace()
    spans = {s.name: s for s in trace.data.spans}
    assert [s.name for s in trace.data.spans] == ["agent", "lookup", "GET /items", "parse"]
    assert spans["GET /items"].parent_id == spans["lookup"].span_id
    assert spans["parse"].parent_id == spans["GET /items"].span_id
    http = spans["GET /items"]
    assert http.attributes["http.status_code"] == 200
    assert http.attributes["cache"] == {"hit": False}  # encoded once, not twice
    assert http.outputs == {"status": 200}
    assert "spanscope.jsonKeys" not in http.raw_attributes
    assert http.span_type == SpanType.UNKNOWN


def test_foreign_error_and_exception_event(read_trace) -> None:
    tracer = otel_trace.get_tracer("some.instrumentation")
    try:
        with tracer.start_as_current_span("call") as span:
            raise ValueError("upstream 500")
    except ValueError:
        pass
    span = read_trace().data.spans[0]
    assert span.status.status_code == SpanStatusCode.ERROR
    event = span.events[0]
    assert event.name == "exception"
    assert event.attributes["exception.type"] == "ValueError"
    assert event.attributes["exception.message"] == "upstream 500"
    assert "Traceback" in event.attributes["exception.stacktrace"]


def test_explicit_foreign_status(read_trace) -> None:
    tracer = otel_trace.get_tracer("x")
    with tracer.start_as_current_span("judge") as span:
        span.set_status(Status(StatusCode.ERROR, "rejected"))
    trace = read_trace()
    assert trace.info.state == TraceState.ERROR
    assert trace.data.spans[0].status.description == "rejected"


def test_a_remote_parent_makes_a_local_root_in_the_same_trace(read_trace) -> None:
    remote_trace_id = "4bf92f3577b34da6a3ce929d0e0e4736"
    carrier = {"traceparent": f"00-{remote_trace_id}-00f067aa0ba902b7-01"}
    context = TraceContextTextMapPropagator().extract(carrier)

    @tracing.trace
    def handler():
        return "ok"

    from opentelemetry.context import attach, detach

    token = attach(context)
    try:
        handler()
    finally:
        detach(token)
    trace = read_trace()
    assert trace.info.trace_id == f"tr-{remote_trace_id}"
    assert trace.data.spans[0].parent_id is None


def test_an_application_provider_installed_first_gets_our_processor_added(tmp_path) -> None:
    script = textwrap.dedent(f"""
        from opentelemetry import trace
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor
        from opentelemetry.sdk.trace.export.in_memory_span_exporter import (
            InMemorySpanExporter)
        import spanscope.tracing as tracing
        from spanscope import tracking

        provider = TracerProvider()
        theirs = InMemorySpanExporter()
        provider.add_span_processor(SimpleSpanProcessor(theirs))
        trace.set_tracer_provider(provider)
        tracking.set_tracking_uri("sqlite:///{tmp_path}/app.db")

        @tracing.trace
        def f(x):
            return x

        f(1)
        with trace.get_tracer("app").start_as_current_span("their-span"):
            pass
        assert tracing.flush(30)
        assert trace.get_tracer_provider() is provider
        ours = tracking.get_store().search_traces()
        print(sorted(s.name for s in theirs.get_finished_spans()),
              sorted(t.data.spans[0].name for t in ours),
              ours[0].data.spans[0].inputs if ours[0].data.spans[0].name == "f"
              else ours[1].data.spans[0].inputs)
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            timeout=120, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split("\n")[0] == "['f', 'their-span'] ['f', 'their-span'] {'x': 1}"
