"""Real instrumentations of the real ``openai`` client, exported over OTLP to our receiver.

OpenInference (``openinference-instrumentation-openai``) and OpenLLMetry
(``opentelemetry-instrumentation-openai``) each write their own attribute set; both must
land as a CHAT_MODEL/LLM span with inputs, outputs, token usage and the model name.
The OpenAI API itself is faked at the HTTP edge (``spanscope.testing.fake_openai``).
"""

from __future__ import annotations

from collections.abc import Iterator

import openai
import pytest
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from tests.otlp.conftest import RunningServer

from spanscope.testing.fake_openai import FakeOpenAI


@pytest.fixture
def fake_openai() -> Iterator[FakeOpenAI]:
    with FakeOpenAI("Paris.") as server:
        yield server


def _call(fake_openai: FakeOpenAI, server: RunningServer, instrumentor: object,
          service: str) -> str:
    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    provider.add_span_processor(SimpleSpanProcessor(
        OTLPSpanExporter(endpoint=server.url + "/v1/traces", timeout=10)))
    instrumentor.instrument(tracer_provider=provider)  # type: ignore[attr-defined]
    try:
        client = openai.OpenAI(base_url=fake_openai.url, api_key="test-key", max_retries=0)
        with provider.get_tracer("app").start_as_current_span("ask") as root:
            client.chat.completions.create(
                model="gpt-4o-mini",
                messages=[{"role": "user", "content": "Capital of France?"}])
            trace_id = "tr-" + format(root.get_span_context().trace_id, "032x")
    finally:
        instrumentor.uninstrument()  # type: ignore[attr-defined]
        provider.shutdown()
    return trace_id


def test_openinference_openai(fake_openai: FakeOpenAI, otlp_server: RunningServer) -> None:
    from openinference.instrumentation.openai import OpenAIInstrumentor

    trace_id = _call(fake_openai, otlp_server, OpenAIInstrumentor(), "oi-app")
    trace = otlp_server.store.get_trace(trace_id)
    llm = trace.search_spans(span_type="LLM")
    assert len(llm) == 1, [s.span_type for s in trace.data.spans]
    span = llm[0]
    assert "Capital of France?" in str(span.inputs)
    assert "Paris." in str(span.outputs)
    assert span.get_attribute("mlflow.llm.model") == "gpt-4o-mini"
    assert span.get_attribute("openinference.span.kind") == "LLM"  # kept
    assert trace.info.token_usage == {"input_tokens": 10, "output_tokens": 5,
                                      "total_tokens": 15}
    assert trace.info.tags["mlflow.traceName"] == "ask"


def test_openllmetry_openai(fake_openai: FakeOpenAI, otlp_server: RunningServer) -> None:
    from opentelemetry.instrumentation.openai import OpenAIInstrumentor

    trace_id = _call(fake_openai, otlp_server, OpenAIInstrumentor(), "traceloop-app")
    trace = otlp_server.store.get_trace(trace_id)
    chat = [s for s in trace.data.spans if s.name != "ask"]
    assert len(chat) == 1
    span = chat[0]
    assert span.span_type in ("CHAT_MODEL", "LLM"), span.attributes
    assert "Capital of France?" in str(span.inputs), span.attributes
    assert "Paris." in str(span.outputs), span.attributes
    assert span.get_attribute("mlflow.llm.model") == "gpt-4o-mini"
    assert trace.info.token_usage == {"input_tokens": 10, "output_tokens": 5,
                                      "total_tokens": 15}
