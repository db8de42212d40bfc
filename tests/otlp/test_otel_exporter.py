"""The real OpenTelemetry SDK and its OTLP/HTTP protobuf exporter, sending to our receiver."""

from __future__ import annotations

import httpx
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import Status, StatusCode
from tests.otlp.conftest import RunningServer

from spanscope.entities import SpanType, TraceState


def _provider(server: RunningServer, *, service: str = "checkout",
              headers: dict[str, str] | None = None,
              compression: Compression = Compression.NoCompression) -> TracerProvider:
    exporter = OTLPSpanExporter(endpoint=server.url + "/v1/traces", headers=headers,
                                compression=compression, timeout=10)
    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))  # one request per span
    return provider


def test_sdk_exporter_spans_land_as_one_trace(otlp_server: RunningServer) -> None:
    provider = _provider(otlp_server, compression=Compression.Gzip)
    tracer = provider.get_tracer("app")
    with tracer.start_as_current_span("answer") as root:
        root.set_attribute("input.value", '{"question": "Capital of France?"}')
        root.set_attribute("input.mime_type", "application/json")
        root.set_attribute("session.id", "s-1")
        with tracer.start_as_current_span("chat gpt-4o-mini") as chat:
            chat.set_attribute("gen_ai.operation.name", "chat")
            chat.set_attribute("gen_ai.request.model", "gpt-4o-mini")
            chat.set_attribute("gen_ai.usage.input_tokens", 12)
            chat.set_attribute("gen_ai.usage.output_tokens", 5)
        with tracer.start_as_current_span("lookup") as tool:
            tool.set_status(Status(StatusCode.ERROR, "timeout"))
        root.set_attribute("output.value", "Paris")
        trace_id = "tr-" + format(root.get_span_context().trace_id, "032x")
    provider.shutdown()

    store = otlp_server.store
    trace = store.get_trace(trace_id)
    assert len(trace.data.spans) == 3
    info = trace.info
    assert info.state == TraceState.OK  # the root did not fail
    assert info.tags["mlflow.traceName"] == "answer"
    assert info.token_usage == {"input_tokens": 12, "output_tokens": 5, "total_tokens": 17}
    assert info.session_id == "s-1"
    assert info.request_preview == '{"question": "Capital of France?"}'
    assert info.response_preview == '"Paris"'
    experiment = store.get_experiment(info.experiment_id)
    assert experiment.name == "checkout"
    chat = trace.search_spans(span_type=SpanType.CHAT_MODEL)[0]
    assert chat.get_attribute("mlflow.llm.model") == "gpt-4o-mini"
    assert chat.get_attribute("gen_ai.request.model") == "gpt-4o-mini"  # kept as it was
    root_span = trace.data.root_span
    assert root_span is not None and root_span.inputs == {"question": "Capital of France?"}
    metrics = httpx.get(otlp_server.url + "/metrics").text
    assert "spanscope_ingest_spans_persisted_total 3" in metrics
    assert "spanscope_otlp_spans_received_total 3" in metrics


def test_experiment_header_wins_over_service_name(otlp_server: RunningServer) -> None:
    experiment_id = otlp_server.store.create_experiment("from-header")
    provider = _provider(otlp_server, headers={"x-mlflow-experiment-id": experiment_id})
    with provider.get_tracer("app").start_as_current_span("root") as root:
        trace_id = "tr-" + format(root.get_span_context().trace_id, "032x")
    provider.shutdown()
    assert otlp_server.store.get_trace(trace_id).info.experiment_id == experiment_id
    assert otlp_server.store.get_experiment_by_name("checkout") is None
