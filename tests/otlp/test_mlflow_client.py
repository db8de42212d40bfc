"""MLflow 3.17.2's own tracing client exporting OTLP/HTTP protobuf to a Spanscope server.

MLflow runs in its peer virtualenv (``python bench/_peer.py`` builds it) with
``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`` pointed at our ``/v1/traces`` and
``OTEL_EXPORTER_OTLP_TRACES_PROTOCOL=http/protobuf`` (MLflow defaults to gRPC). Its spans
arrive carrying MLflow's own ``mlflow.*`` attributes, which must land intact.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from tests.otlp.conftest import real_app, serve

from spanscope.entities import SpanType, TraceState

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]

SCRIPT = textwrap.dedent('''
    import json, mlflow

    @mlflow.trace(span_type="RETRIEVER")
    def retrieve(question):
        return [{"page_content": "Paris is the capital of France.", "metadata": {"src": "kb"},
                 "id": "d1"}]

    @mlflow.trace(span_type="CHAT_MODEL")
    def chat(question, docs):
        return {"model": "gpt-4o-mini", "choices": [{"index": 0, "message": {
                    "role": "assistant", "content": "Paris."}}],
                "usage": {"prompt_tokens": 12, "completion_tokens": 3, "total_tokens": 15}}

    ids = []  # the active span's trace id (no trace buffer in OTLP export mode)

    @mlflow.trace(span_type="AGENT")
    def agent(question):
        ids.append(mlflow.get_current_active_span().trace_id)
        return chat(question, retrieve(question))["choices"][0]["message"]["content"]

    @mlflow.trace(span_type="TOOL")
    def broken(x):
        ids.append(mlflow.get_current_active_span().trace_id)
        raise ValueError("no such city")

    agent("Capital of France?")
    try:
        broken(1)
    except ValueError:
        pass
    mlflow.flush_trace_async_logging()
    print(json.dumps(ids))
''')


def _peer_python() -> str:
    out = subprocess.run([sys.executable, str(ROOT / "bench" / "_peer.py")], check=True,
                         capture_output=True, text=True, timeout=1800).stdout
    python = out.strip().splitlines()[-1]
    probe = [python, "-c", "import opentelemetry.exporter.otlp.proto.http"]
    if subprocess.run(probe, capture_output=True, check=False).returncode != 0:
        subprocess.run([python, "-m", "pip", "install", "--disable-pip-version-check", "-q",
                        "opentelemetry-exporter-otlp-proto-http"], check=True, timeout=600)
    return python


def test_mlflow_client_exports_to_spanscope(sqlite_uri: str, tmp_path: Path) -> None:
    python = _peer_python()
    with serve(real_app(sqlite_uri)) as server:
        experiment_id = server.store.create_experiment("from-mlflow")
        env = {key: value for key, value in os.environ.items()
               if not key.startswith(("MLFLOW_", "OTEL_", "PYTHONPATH"))}
        env.update({
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": server.url + "/v1/traces",
            "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "http/protobuf",
            "OTEL_EXPORTER_OTLP_TRACES_HEADERS": f"x-mlflow-experiment-id={experiment_id}",
            "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path}/mlflow-local.db",
        })
        result = subprocess.run([python, "-c", SCRIPT], env=env, capture_output=True,
                                text=True, timeout=600, cwd=tmp_path, check=False)
        assert result.returncode == 0, result.stderr[-3000:]
        ok_id, error_id = json.loads(result.stdout.strip().splitlines()[-1])
        store = server.store
        trace = store.get_trace(ok_id)
        assert trace.info.experiment_id == experiment_id
        assert trace.info.state == TraceState.OK
        assert trace.info.tags["mlflow.traceName"] == "agent"
        assert {s.name: s.span_type for s in trace.data.spans} == {
            "agent": SpanType.AGENT, "retrieve": SpanType.RETRIEVER,
            "chat": SpanType.CHAT_MODEL}
        root = trace.data.root_span
        assert root is not None and root.inputs == {"question": "Capital of France?"}
        assert root.outputs == "Paris."
        retriever = trace.search_spans(span_type=SpanType.RETRIEVER)[0]
        assert retriever.outputs[0]["page_content"] == "Paris is the capital of France."
        assert trace.info.token_usage == {"input_tokens": 12, "output_tokens": 3,
                                          "total_tokens": 15}
        assert trace.info.request_preview == '{"question": "Capital of France?"}'
        failed = store.get_trace(error_id)
        assert failed.info.state == TraceState.ERROR
        tool = failed.data.spans[0]
        assert tool.span_type == SpanType.TOOL
        assert any(e.name == "exception" for e in tool.events)
