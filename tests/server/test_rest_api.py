"""The REST API end to end, in-process over ASGI, on SQLite and PostgreSQL.

Every route of the brief's table is called with real data and its answer checked against
what the store holds (read back through the store itself, not through the API).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tests.server.conftest import Api


def _ok(response: Any, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()


def test_health_and_openapi(api: Api) -> None:
    assert _ok(api.get("/health")) == {"status": "ok"}
    spec = _ok(api.get("/openapi.json"))
    assert spec["info"]["title"] == "Spanscope"
    assert "/api/traces/search" in spec["paths"]


def test_experiments(api: Api) -> None:
    created = _ok(api.post("/api/experiments", json={"name": "chatbot"}))
    experiment_id = created["experiment_id"]
    assert api.store.get_experiment(experiment_id).name == "chatbot"
    listed = _ok(api.get("/api/experiments"))["experiments"]
    assert [e["name"] for e in listed] == ["Default", "chatbot"]
    assert _ok(api.get(f"/api/experiments/{experiment_id}"))["name"] == "chatbot"
    assert _ok(api.get("/api/experiments-by-name/chatbot"))["experiment_id"] == experiment_id
    missing = _ok(api.get("/api/experiments-by-name/nope"), 404)
    assert missing["error_code"] == "RESOURCE_DOES_NOT_EXIST"
    taken = _ok(api.post("/api/experiments", json={"name": "chatbot"}), 400)
    assert taken["error_code"] == "INVALID_PARAMETER_VALUE"


def test_trace_write_read_search_and_page(api: Api,
                                          make_trace: Callable[..., dict[str, Any]]) -> None:
    traces = [make_trace(request_time=1_700_000_000_000 + i, tags={"n": str(i)})
              for i in range(5)]
    ids = _ok(api.post("/api/traces/batch", json={"traces": traces}))["trace_ids"]
    assert ids == [t["info"]["trace_id"] for t in traces]
    stored = api.store.get_trace(ids[0])
    assert stored.to_dict()["data"] == traces[0]["data"]
    got = _ok(api.get(f"/api/traces/{ids[0]}"))
    assert got == stored.to_dict()

    batch = _ok(api.post("/api/traces/get-batch", json={"trace_ids": [ids[1], "tr-none"]}))
    assert [t["info"]["trace_id"] for t in batch["traces"]] == [ids[1]]
    assert batch["missing"] == ["tr-none"]

    page = _ok(api.post("/api/traces/search", json={
        "experiment_ids": ["0"], "filter_string": "tags.n != '0'", "order_by": ["tags.n ASC"],
        "max_results": 2, "include_spans": False}))
    assert [t["info"]["tags"]["n"] for t in page["traces"]] == ["1", "2"]
    assert all(t["data"]["spans"] == [] for t in page["traces"])
    rest = _ok(api.post("/api/traces/search", json={
        "experiment_ids": ["0"], "filter_string": "tags.n != '0'", "order_by": ["tags.n ASC"],
        "max_results": 2, "page_token": page["next_page_token"]}))
    assert [t["info"]["tags"]["n"] for t in rest["traces"]] == ["3", "4"]
    assert rest["traces"][0]["data"]["spans"]

    by_get = _ok(api.get("/api/traces", params={
        "experiment_id": "0", "filter": "tags.n = '3'", "include_spans": "false"}))
    assert [t["info"]["trace_id"] for t in by_get["traces"]] == [ids[3]]
    assert by_get["next_page_token"] is None
    newest = _ok(api.get("/api/traces", params=[("order_by", "timestamp_ms DESC"),
                                                ("max_results", "1")]))
    assert newest["traces"][0]["info"]["trace_id"] == ids[4]

    found = _ok(api.post("/api/traces/search-ids", json={"filter_string": "tags.n IN ('1', '2')"}))
    assert sorted(found["trace_ids"]) == sorted(ids[1:3])


def test_tags_and_deletion(api: Api, make_trace: Callable[..., dict[str, Any]]) -> None:
    traces = [make_trace(request_time=1_700_000_000_000 + i) for i in range(4)]
    ids = [t["info"]["trace_id"] for t in traces]
    _ok(api.post("/api/traces/batch", json={"traces": traces}))
    assert _ok(api.post(f"/api/traces/{ids[0]}/tags", json={"key": "k", "value": "v"})) == {}
    assert api.store.get_trace(ids[0]).info.tags["k"] == "v"
    assert _ok(api.delete(f"/api/traces/{ids[0]}/tags", params={"key": "k"})) == {}
    assert "k" not in api.store.get_trace(ids[0]).info.tags
    gone = _ok(api.delete(f"/api/traces/{ids[0]}/tags", params={"key": "k"}), 404)
    assert gone["error_code"] == "RESOURCE_DOES_NOT_EXIST"

    dry = _ok(api.post("/api/traces/delete-ids", json={"trace_ids": ids[:2], "dry_run": True}))
    assert dry == {"deleted": 2} and len(api.store.search_trace_ids()) == 4
    assert _ok(api.post("/api/traces/delete-ids", json={"trace_ids": [ids[0]]})) == {
        "deleted": 1}
    by_age = _ok(api.post("/api/traces/delete", json={
        "experiment_id": "0", "max_timestamp_millis": 1_700_000_000_002, "max_traces": 1}))
    assert by_age == {"deleted": 1}
    assert set(api.store.search_trace_ids()) == set(ids[2:])
    by_ids = _ok(api.post("/api/traces/delete", json={"experiment_id": 0, "trace_ids": [ids[3]]}))
    assert by_ids == {"deleted": 1}
    assert api.store.search_trace_ids() == [ids[2]]


def test_assessments(api: Api, make_trace: Callable[..., dict[str, Any]]) -> None:
    trace = make_trace()
    trace_id = trace["info"]["trace_id"]
    _ok(api.post("/api/traces/batch", json={"traces": [trace]}))
    created = _ok(api.post(f"/api/traces/{trace_id}/assessments", json={
        "assessment_name": "correct", "feedback": {"value": True},
        "source": {"source_type": "HUMAN", "source_id": "alice"}, "rationale": "ok"}))
    aid = created["assessment_id"]
    stored = api.store.get_assessment(trace_id, aid)
    assert stored.value is True and stored.rationale == "ok" and stored.create_time_ms > 0
    assert _ok(api.get(f"/api/traces/{trace_id}/assessments/{aid}")) == stored.to_dict()

    edited = _ok(api.patch(f"/api/traces/{trace_id}/assessments/{aid}",
                           json={"rationale": None}))
    assert "rationale" not in edited and api.store.get_assessment(trace_id, aid).rationale is None
    overridden = _ok(api.patch(f"/api/traces/{trace_id}/assessments/{aid}",
                               json={"value": False}))
    assert overridden["assessment_id"] != aid and overridden["overrides"] == aid
    assert api.store.get_assessment(trace_id, aid).valid is False

    expectation = _ok(api.post(f"/api/traces/{trace_id}/assessments", json={
        "assessment_name": "expected", "expectation": {"value": "Paris"}}))
    assert api.store.get_assessment(trace_id, expectation["assessment_id"]).value == "Paris"
    assert _ok(api.delete(
        f"/api/traces/{trace_id}/assessments/{expectation['assessment_id']}")) == {}
    assert _ok(api.get(f"/api/traces/{trace_id}/assessments/{expectation['assessment_id']}"),
               404)["error_code"] == "RESOURCE_DOES_NOT_EXIST"
    other_trace = _ok(api.post(f"/api/traces/{trace_id}/assessments", json={
        "trace_id": "tr-other", "assessment_name": "x", "feedback": {"value": 1}}), 400)
    assert "tr-other" in other_trace["message"]


def test_aggregates_match_the_store(api: Api, make_trace: Callable[..., dict[str, Any]]) -> None:
    from spanscope.store import wire
    from spanscope.store.aggregates import Selection

    traces = [make_trace(state="ERROR" if i % 3 == 0 else "OK") for i in range(6)]
    _ok(api.post("/api/traces/batch", json={"traces": traces}))
    selection = Selection(experiment_ids=("0",))
    for name, options in [("trace_stats", {}), ("model_usage", {}), ("span_stats", {}),
                          ("error_spans", {}), ("latency_histogram", {"edges": [0, 10, 1e9]}),
                          ("trace_sample", {"spans": True}),
                          ("numeric_pairs", {"x": {"kind": "attribute", "key": "latency_ms"},
                                             "y": {"kind": "attribute", "key": "total_tokens"}})]:
        body = {"selection": wire.encode(selection), **options}
        got = _ok(api.post(f"/api/aggregates/{name}", json=body))
        _, decoded = wire.decode_aggregate_call(name, body)
        expected = getattr(api.store, name)(selection, **decoded)
        assert wire.decode_aggregate_result(name, got) == expected, name
    unknown = _ok(api.post("/api/aggregates/nope", json={}), 400)
    assert unknown["error_code"] == "INVALID_PARAMETER_VALUE"


def test_runs_and_artifacts(api: Api) -> None:
    run = _ok(api.post("/api/runs", json={"experiment_id": "0", "run_name": "eval-1",
                                          "tags": {"team": "qa"}}))
    run_id = run["info"]["run_id"]
    assert api.store.get_run(run_id).info.run_name == "eval-1"
    _ok(api.post(f"/api/runs/{run_id}/log-batch", json={
        "metrics": [{"key": "correctness/mean", "value": 0.75, "timestamp": 1, "step": 0},
                    {"key": "correctness/mean", "value": "NaN", "timestamp": 2, "step": 1}],
        "params": {"model": "gpt-4o"}, "tags": {"stage": "ci"}}))
    history = _ok(api.get(f"/api/runs/{run_id}/metrics/correctness/mean"))["metrics"]
    assert [m["value"] for m in history] == [0.75, "NaN"]
    got = _ok(api.get(f"/api/runs/{run_id}"))
    assert got["data"]["params"] == {"model": "gpt-4o"} and got["data"]["tags"]["stage"] == "ci"
    info = _ok(api.patch(f"/api/runs/{run_id}", json={"status": "FINISHED", "end_time": 5}))
    assert info["status"] == "FINISHED" and api.store.get_run(run_id).info.end_time == 5
    found = _ok(api.post("/api/runs/search", json={
        "experiment_ids": ["0"], "filter_string": "params.model = 'gpt-4o'"}))["runs"]
    assert [r["info"]["run_id"] for r in found] == [run_id]

    content = b'{"rows": [1, 2]}\x00binary'
    assert _ok(api.put(f"/api/runs/{run_id}/artifacts/tables/eval.json", content=content)) == {}
    back = api.get(f"/api/runs/{run_id}/artifacts/tables/eval.json")
    assert back.status_code == 200 and back.content == content
    listed = _ok(api.get(f"/api/runs/{run_id}/artifacts"))["files"]
    assert listed == [{"path": "tables", "is_dir": True, "size": None}]
    inner = _ok(api.get(f"/api/runs/{run_id}/artifacts", params={"path": "tables"}))["files"]
    assert inner == [{"path": "tables/eval.json", "is_dir": False, "size": len(content)}]
    assert _ok(api.get(f"/api/runs/{run_id}/artifacts/nope.txt"), 404)
    climb = _ok(api.put(f"/api/runs/{run_id}/artifacts/a/%2E%2E/%2E%2E/x", content=b"x"), 400)
    assert climb["error_code"] == "INVALID_PARAMETER_VALUE"


def test_datasets(api: Api) -> None:
    created = _ok(api.post("/api/datasets", json={"name": "golden", "experiment_ids": ["0"],
                                                  "tags": {"owner": "qa"}}))
    dataset_id = created["dataset_id"]
    assert api.store.get_dataset(dataset_id).name == "golden"
    assert _ok(api.get(f"/api/datasets/{dataset_id}"))["tags"] == {"owner": "qa"}
    assert _ok(api.get("/api/datasets-by-name/golden"))["dataset_id"] == dataset_id
    assert _ok(api.get("/api/datasets-by-name/nope"), 404)
    merged = _ok(api.post(f"/api/datasets/{dataset_id}/records", json={"records": [
        {"inputs": {"q": "capital of France?"}, "expectations": {"answer": "Paris"}},
        {"inputs": {"q": "2+2?"}, "expectations": {"answer": "4"}}]}))
    assert merged["inserted"] == 2 and merged["dataset"]["version"] == 1
    records = _ok(api.get(f"/api/datasets/{dataset_id}/records"))["records"]
    assert [r["inputs"]["q"] for r in records] == ["capital of France?", "2+2?"]
    assert _ok(api.get(f"/api/datasets/{dataset_id}/records", params={"version": 0}))[
        "records"] == []
    versions = _ok(api.get(f"/api/datasets/{dataset_id}/versions"))["versions"]
    assert [v["version"] for v in versions] == [v.version for v in
                                                api.store.list_dataset_versions(dataset_id)]
    tagged = _ok(api.patch(f"/api/datasets/{dataset_id}/tags",
                           json={"tags": {"owner": None, "stage": "v1"}}))
    assert tagged["tags"] == {"stage": "v1"}
    found = _ok(api.post("/api/datasets/search", json={"experiment_ids": ["0"]}))["datasets"]
    assert [d["dataset_id"] for d in found] == [dataset_id]
    assert _ok(api.delete(f"/api/datasets/{dataset_id}")) == {}
    assert api.store.get_dataset_by_name("golden") is None


def test_analysis(api: Api, make_trace: Callable[..., dict[str, Any]]) -> None:
    from spanscope import analysis

    traces = [make_trace(state="ERROR" if i % 2 else "OK", tags={"v": str(i % 2)})
              for i in range(8)]
    _ok(api.post("/api/traces/batch", json={"traces": traces}))
    trace_id = traces[1]["info"]["trace_id"]
    stored = api.store.get_trace(trace_id)
    assert _ok(api.get(f"/api/traces/{trace_id}/health")) == analysis.health(stored).to_dict()
    findings = _ok(api.get(f"/api/traces/{trace_id}/diagnose"))["findings"]
    assert findings == [f.to_dict() for f in analysis.diagnose(stored)] and findings

    summary = _ok(api.post("/api/analysis/summarize", json={"experiment_ids": ["0"]}))
    assert summary["overall"]["traces"] == 8 and summary["overall"]["errors"] == 4
    grouped = _ok(api.post("/api/analysis/summarize", json={
        "experiment_ids": ["0"], "group_by": "tags.v"}))
    assert sorted(row["tags.v"] for row in grouped["rows"]) == ["0", "1"]
    profile = _ok(api.post("/api/analysis/profile", json={"filter_string": "tags.v = '0'"}))
    expected = analysis.profile_traces("tags.v = '0'", store=api.store).to_dict()
    assert profile == _json_roundtrip(expected)
    patterns = _ok(api.post("/api/analysis/error_patterns", json={"experiment_ids": ["0"]}))
    assert patterns == _json_roundtrip(analysis.error_patterns(
        experiment_ids=["0"], store=api.store).to_dict())
    compared = _ok(api.post("/api/analysis/compare", json={
        "filter_a": "tags.v = '0'", "filter_b": "tags.v = '1'", "experiment_ids": ["0"],
        "resamples": 100, "min_spans": 1}))
    assert compared == _json_roundtrip(analysis.compare(
        "tags.v = '0'", "tags.v = '1'", experiment_ids=["0"], resamples=100, min_spans=1,
        store=api.store).to_dict())


def _json_roundtrip(value: Any) -> Any:
    from spanscope.store import wire

    return wire.loads(wire.dumps(wire.encode(value)))
