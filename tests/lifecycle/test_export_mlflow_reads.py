"""The real MLflow (3.17.2, in its peer virtualenv) reads Spanscope's mlflow-json export.

MLflow's ``Trace.from_dict`` loads every element of the ``traces`` list: ids, spans,
span types and inputs, tags, metadata and assessments come out as Spanscope wrote them.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from factories import make_trace, sample_assessments
from spanscope.lifecycle.export import export_traces
from spanscope.store.sql import SqlStore

ROOT = Path(__file__).parents[2]
READER = r"""
import json, sys
from mlflow.entities import Trace
document = json.load(open(sys.argv[1]))
out = []
for item in document["traces"]:
    trace = Trace.from_dict(item)
    out.append({"trace_id": trace.info.trace_id, "state": str(trace.info.state),
                "tags": trace.info.tags, "metadata": trace.info.trace_metadata,
                "assessments": sorted(a.name for a in trace.info.assessments),
                "spans": [[s.name, s.span_type, s.inputs] for s in trace.data.spans],
                "duration": trace.info.execution_duration})
print(json.dumps(out))
"""


def _peer_python() -> str:
    out = subprocess.run([sys.executable, str(ROOT / "bench" / "_peer.py")], check=True,
                         capture_output=True, text=True, timeout=1800).stdout
    return out.strip().splitlines()[-1]


def test_mlflow_reads_the_export(tmp_path: Path) -> None:
    with SqlStore(f"sqlite:///{tmp_path}/s.db") as store:
        traces = [make_trace(4, tags={"env": "prod"}, assessments=sample_assessments()),
                  make_trace(2, state="ERROR")]
        store.log_traces(traces)
        export_traces(store, tmp_path / "traces.json")
    (tmp_path / "read.py").write_text(READER)
    result = subprocess.run([_peer_python(), str(tmp_path / "read.py"),
                             str(tmp_path / "traces.json")], capture_output=True, text=True,
                            timeout=300, check=False)
    assert result.returncode == 0, result.stderr[-2000:]
    read = {item["trace_id"]: item for item in json.loads(result.stdout.splitlines()[-1])}
    assert set(read) == {t.info.trace_id for t in traces}
    for trace in traces:
        got = read[trace.info.trace_id]
        assert got["state"].endswith(str(trace.info.state))
        assert got["tags"] == trace.info.tags
        assert got["metadata"] == trace.info.trace_metadata
        assert got["duration"] == trace.info.execution_duration
        assert got["assessments"] == sorted(a.name for a in trace.info.assessments)
        assert got["spans"] == [[s.name, str(s.span_type), s.inputs] for s in trace.data.spans]
