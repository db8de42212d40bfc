"""Export from and import into a real ``spanscope server`` (``RestStore``): the same
functions, over HTTP, on the SQLite and PostgreSQL backends."""

from __future__ import annotations

import uuid
from pathlib import Path

from remote_server import ServerProcess

from factories import make_trace, sample_assessments
from spanscope.lifecycle.export import count_traces, export_traces
from spanscope.lifecycle.importer import import_files
from spanscope.store.rest import RestStore
from spanscope.store.sql import SqlStore


def test_export_from_a_server_and_import_back(server: ServerProcess, tmp_path: Path) -> None:
    remote = RestStore(server.url)
    name = f"transfer-{uuid.uuid4().hex[:8]}"
    experiment_id = remote.create_experiment(name)
    traces = [make_trace(3, experiment_id=experiment_id, assessments=sample_assessments()),
              make_trace(2, experiment_id=experiment_id, state="ERROR")]
    remote.log_traces(traces)
    try:
        assert count_traces(remote, [experiment_id]) == 2
        report = export_traces(remote, tmp_path / "t.parquet", experiment_ids=[experiment_id],
                               page_size=1)
        assert (report.traces, report.experiments) == (2, {experiment_id: name})
        with SqlStore(f"sqlite:///{tmp_path}/local.db") as local:
            assert import_files(local, [tmp_path / "t.parquet"]).new == 2
            for trace in traces:
                got = local.get_trace(trace.info.trace_id).to_dict()
                want = remote.get_trace(trace.info.trace_id).to_dict()
                got["info"].pop("trace_location")
                want["info"].pop("trace_location")
                assert got == want
        before = [remote.get_trace(t.info.trace_id).to_json() for t in traces]
        again = import_files(remote, [tmp_path / "t.parquet"])
        assert (again.new, again.existing, again.experiments_created) == (0, 2, [])
        assert [remote.get_trace(t.info.trace_id).to_json() for t in traces] == before
    finally:
        remote.close()
