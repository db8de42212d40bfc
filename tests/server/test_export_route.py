"""``GET /api/export/traces``: the export streamed over HTTP, on SQLite and PostgreSQL, and
read back by ``spanscope import``."""

from __future__ import annotations

import json
from pathlib import Path

from tests.server.conftest import Api

from factories import make_trace, sample_assessments
from spanscope.lifecycle.importer import import_files
from spanscope.store.sql import SqlStore


def test_export_streams_jsonl_and_mlflow_json(api: Api, tmp_path: Path) -> None:
    store = api.store
    bot = store.create_experiment("bot")
    traces = [make_trace(3, experiment_id=bot, assessments=sample_assessments()),
              make_trace(2, experiment_id=bot, state="ERROR"), make_trace(1)]
    store.log_traces(traces)

    response = api.get("/api/export/traces")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/x-ndjson")
    lines = [json.loads(line) for line in response.text.splitlines()]
    assert sorted(line["info"]["trace_id"] for line in lines) == sorted(
        t.info.trace_id for t in traces)
    (tmp_path / "http.jsonl").write_text(response.text)
    with SqlStore(f"sqlite:///{tmp_path}/copy.db") as copy:
        report = import_files(copy, [tmp_path / "http.jsonl"])
        assert (report.new, report.experiments_created) == (3, ["bot"])
        first = traces[0].info.trace_id
        assert copy.get_trace(first).info.assessments == store.get_trace(first).info.assessments

    errors = api.get("/api/export/traces", params={
        "format": "mlflow-json", "filter": "attributes.state = 'ERROR'", "experiment_id": bot})
    document = errors.json()
    assert [t["info"]["trace_id"] for t in document["traces"]] == [traces[1].info.trace_id]
    assert document["traces"][0]["experiment_name"] == "bot"


def test_bad_requests_fail_before_streaming(api: Api) -> None:
    bad_filter = api.get("/api/export/traces", params={"filter": "attributes.nope = 1"})
    assert bad_filter.status_code == 400
    assert "nope" in bad_filter.text
    assert api.get("/api/export/traces", params={"experiment_id": "404"}).status_code == 404
    assert api.get("/api/export/traces", params={"format": "parquet"}).status_code == 400
