"""OTLP over gRPC: the real OpenTelemetry gRPC exporter against our second port."""

from __future__ import annotations

import grpc
import pytest
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2_grpc
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from tests.otlp.conftest import make_app, serve
from tests.otlp.otlp_builders import S, new_span_id, new_trace_id, request, tr

from spanscope.entities import TraceState


def test_grpc_exporter_lands_traces(store_uri: str) -> None:
    with serve(make_app(store_uri, grpc_port=0)) as server:
        port = server.app.state.grpc.port
        exporter = OTLPSpanExporter(endpoint=f"127.0.0.1:{port}", insecure=True,
                                    compression=grpc.Compression.Gzip)
        provider = TracerProvider(resource=Resource.create({"service.name": "grpc-app"}))
        provider.add_span_processor(BatchSpanProcessor(exporter))
        tracer = provider.get_tracer("app")
        ids = []
        for i in range(20):
            with tracer.start_as_current_span(f"root-{i}") as root:
                with tracer.start_as_current_span("chat") as chat:
                    chat.set_attribute("gen_ai.operation.name", "chat")
                    chat.set_attribute("gen_ai.usage.input_tokens", i)
                ids.append("tr-" + format(root.get_span_context().trace_id, "032x"))
        assert provider.force_flush(30_000)
        provider.shutdown()
        store = server.store
        for i, trace_id in enumerate(ids):
            trace = store.get_trace(trace_id)
            assert len(trace.data.spans) == 2 and trace.info.state == TraceState.OK
            assert trace.info.tags["mlflow.traceName"] == f"root-{i}"
            assert store.get_experiment(trace.info.experiment_id).name == "grpc-app"


def test_grpc_partial_success_and_bad_experiment(sqlite_uri: str) -> None:
    with serve(make_app(sqlite_uri, grpc_port=0)) as server:
        port = server.app.state.grpc.port
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = trace_service_pb2_grpc.TraceServiceStub(channel)
            trace_id = new_trace_id()
            message = request([S(trace_id, new_span_id(), name="root"),
                               S(b"\x00" * 16, new_span_id())])
            response = stub.Export(message, timeout=10)
            assert response.partial_success.rejected_spans == 1
            assert server.store.get_trace(tr(trace_id)).info.state == TraceState.OK
            with pytest.raises(grpc.RpcError) as caught:
                stub.Export(message, metadata=[("x-spanscope-experiment-id", "777")],
                            timeout=10)
            assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
            assert "777" in caught.value.details()
