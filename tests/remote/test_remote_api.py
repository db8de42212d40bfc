"""The whole Python API against a real ``spanscope server`` (SQLite and PostgreSQL behind it).

Each test sets the tracking URI to the server and works in an experiment of its own; the
answers are checked against what the same calls give on a local store where that is the
clearest oracle (aggregates, analysis).
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest

import spanscope
from factories import make_trace
from spanscope import tracking
from spanscope.analysis import (
    compare,
    correlate,
    diagnose,
    error_patterns,
    health,
    profile_traces,
    summarize,
)
from spanscope.entities import AssessmentSource, Feedback, SpanType, TraceState
from spanscope.exceptions import FilterError, InvalidInputError, NotFoundError
from spanscope.genai import datasets, evaluate
from spanscope.genai.scorers import scorer
from spanscope.store.rest import RestStore
from spanscope.store.sql import SqlStore
from spanscope.tracing import get_export_stats


def test_the_tracking_uri_selects_the_server(experiment: str, remote: str) -> None:
    store = tracking.get_store()
    assert isinstance(store, RestStore) and store.uri == remote
    assert store.get_experiment(experiment).experiment_id == experiment
    found = store.get_experiment_by_name(store.get_experiment(experiment).name)
    assert found is not None and found.experiment_id == experiment
    assert store.get_experiment_by_name(f"nope-{uuid.uuid4()}") is None
    assert experiment in {e.experiment_id for e in store.list_experiments()}
    with pytest.raises(NotFoundError):
        store.get_experiment("987654321")


@spanscope.trace(span_type=SpanType.TOOL)
def lookup(city: str) -> dict[str, Any]:
    return {"city": city, "population": len(city) * 1000}


@spanscope.trace(name="agent", span_type=SpanType.AGENT)
def agent(question: str) -> str:
    spanscope.update_current_trace(tags={"app": "remote-test"},
                                   metadata={"mlflow.trace.user": "u1"})
    with spanscope.start_span("think", span_type=SpanType.CHAIN) as span:
        span.set_inputs({"q": question})
        span.set_outputs({"plan": "lookup"})
    if "fail" in question:
        raise ValueError("cannot answer " + question)
    return f"answer: {lookup(question.split()[-1])['population']}"


def test_traced_calls_arrive_whole(experiment: str) -> None:
    for i in range(5):
        agent(f"where is city{i}")
    with pytest.raises(ValueError):
        agent("please fail now")
    assert spanscope.flush(timeout=30)
    traces = spanscope.search_traces(return_type="list", order_by=["timestamp_ms ASC"])
    assert len(traces) == 6
    assert get_export_stats()["dropped"] == 0
    by_question = {t.data.spans[0].inputs["question"]: t for t in traces}
    ok = by_question["where is city0"]
    assert ok.info.experiment_id == experiment and ok.info.state == TraceState.OK
    assert [s.name for s in ok.data.spans] == ["agent", "think", "lookup"]
    assert ok.data.spans[0].outputs == "answer: 5000"
    assert ok.data.spans[2].inputs == {"city": "city0"}
    assert ok.info.tags["app"] == "remote-test" and ok.info.user_id == "u1"
    failed = by_question["please fail now"]
    assert failed.info.state == TraceState.ERROR
    assert diagnose(spanscope.get_trace(failed.info.trace_id))  # the failure is a finding
    assert health(spanscope.get_trace(failed.info.trace_id)).error_spans == ["agent"]
    frame = spanscope.search_traces(filter_string="attributes.status = 'ERROR'")
    assert frame["trace_id"].tolist() == [failed.info.trace_id]


def _log(store: Any, n: int, experiment: str, **kwargs: Any) -> list[str]:
    base = int(time.time() * 1000) - n * 1000
    traces = [make_trace(3, experiment_id=experiment, request_time=base + i * 1000,
                         tags={"i": str(i), "parity": "even" if i % 2 == 0 else "odd"},
                         **kwargs) for i in range(n)]
    store.log_traces(traces)
    return [t.info.trace_id for t in traces]


def test_search_pages_filters_and_orders(experiment: str) -> None:
    store = tracking.get_store()
    ids = _log(store, 25, experiment)
    seen: list[str] = []
    token = None
    while True:
        page = store.search_traces([experiment], max_results=7, page_token=token,
                                   order_by=["timestamp_ms ASC"], include_spans=False)
        seen += [t.info.trace_id for t in page]
        assert all(t.data.spans == [] for t in page)
        token = page.token
        if token is None:
            break
    assert seen == ids
    even = spanscope.search_traces(filter_string="tags.parity = 'even' AND tags.i != '0'",
                                   order_by=["tags.i DESC"], return_type="list")
    assert [t.info.tags["i"] for t in even] == ["8", "6", "4", "24", "22", "20", "2", "18",
                                               "16", "14", "12", "10"]
    assert len(even[0].data.spans) == 3
    assert store.search_trace_ids([experiment], filter_string="tags.i IN ('3', '4')") == [
        ids[4], ids[3]]
    assert sorted(store.search_trace_ids([experiment], max_results=None)) == sorted(ids)
    found, missing = store.get_traces([ids[2], "tr-unknown", ids[0]])
    assert [t.info.trace_id for t in found] == [ids[2], ids[0]] and missing == ["tr-unknown"]
    assert all(len(t.data.spans) == 3 for t in found)


def _count_in_child(store: RestStore, experiment: str, out: Any) -> None:
    out.put(len(store.search_trace_ids([experiment])))


def test_a_forked_child_uses_its_own_connections(experiment: str) -> None:
    import multiprocessing

    store = tracking.get_store()
    _log(store, 3, experiment)
    context = multiprocessing.get_context("fork")
    out = context.Queue()
    child = context.Process(target=_count_in_child, args=(store, experiment, out))
    child.start()
    child.join(60)
    assert child.exitcode == 0 and out.get(timeout=5) == 3
    assert len(store.search_trace_ids([experiment])) == 3  # the parent's pool still works


@pytest.mark.parametrize("bad", ["tags.x = ", "colour = 'red'", "attributes.status ~ 'OK'"])
def test_a_bad_filter_is_the_same_filter_error_as_locally(experiment: str, bad: str,
                                                          tmp_path: Any) -> None:
    with pytest.raises(FilterError) as remote_error:
        spanscope.search_traces(filter_string=bad)
    with SqlStore(f"sqlite:///{tmp_path}/local.db") as local, \
            pytest.raises(FilterError) as local_error:
        local.search_traces(filter_string=bad)
    assert str(remote_error.value) == str(local_error.value)
    assert remote_error.value.position == local_error.value.position
    assert remote_error.value.token == local_error.value.token
    assert remote_error.value.filter_string == bad
    with pytest.raises(FilterError):
        summarize(bad)


def test_bad_arguments_are_invalid_input(experiment: str) -> None:
    store = tracking.get_store()
    with pytest.raises(InvalidInputError):
        store.search_traces([experiment], max_results=0)
    with pytest.raises(FilterError, match="nonsense"):
        store.search_traces([experiment], order_by=["nonsense DESC"])
    with pytest.raises(NotFoundError):
        spanscope.get_trace("tr-" + "0" * 32)


def test_tags_and_deletion(experiment: str) -> None:
    store = tracking.get_store()
    ids = _log(store, 6, experiment)
    spanscope.set_trace_tag(ids[0], "reviewed", "yes")
    spanscope.set_trace_tag(ids[0], "odd key/with spaces", "v")
    info = spanscope.get_trace(ids[0]).info
    assert info.tags["reviewed"] == "yes" and info.tags["odd key/with spaces"] == "v"
    spanscope.delete_trace_tag(ids[0], "odd key/with spaces")
    assert "odd key/with spaces" not in spanscope.get_trace(ids[0]).info.tags
    with pytest.raises(NotFoundError):
        spanscope.delete_trace_tag(ids[0], "never-set")
    with pytest.raises(InvalidInputError):
        spanscope.set_trace_tag(ids[0], "", "v")
    assert spanscope.delete_traces(experiment, trace_ids=ids[:2]) == 2
    assert store.delete_traces(experiment, max_timestamp_millis=int(time.time() * 1000),
                               max_traces=1, dry_run=True) == 1
    assert store.delete_trace_ids([ids[2], "tr-unknown"]) == 1
    left = store.search_trace_ids([experiment])
    assert sorted(left) == sorted(ids[3:])


def test_assessments_log_get_update_delete(experiment: str) -> None:
    (trace_id,) = _log(tracking.get_store(), 1, experiment)
    fb = spanscope.log_feedback(trace_id, "quality", 0.5, rationale="meh",
                                source=AssessmentSource("HUMAN", "ann"), metadata={"k": "v"})
    exp = spanscope.log_expectation(trace_id, "answer", {"facts": ["Paris"]})
    assert spanscope.get_assessment(trace_id, fb.assessment_id) == fb
    assert spanscope.get_assessment(trace_id, exp.assessment_id).value == {"facts": ["Paris"]}
    edited = spanscope.update_assessment(trace_id, fb.assessment_id, rationale=None)
    assert edited.assessment_id == fb.assessment_id and edited.rationale is None
    assert edited.metadata == {"k": "v"} and edited.value == 0.5  # UNSET kept them
    newer = spanscope.update_assessment(trace_id, fb.assessment_id, value=0.9)
    assert newer.assessment_id != fb.assessment_id and newer.overrides == fb.assessment_id
    stored = spanscope.get_trace(trace_id).info.assessments
    assert {a.assessment_id: a.valid for a in stored} == {
        fb.assessment_id: False, newer.assessment_id: True, exp.assessment_id: True}
    spanscope.delete_assessment(trace_id, newer.assessment_id)
    assert spanscope.get_assessment(trace_id, fb.assessment_id).valid  # valid again
    with pytest.raises(NotFoundError):
        spanscope.get_assessment(trace_id, newer.assessment_id)
    with pytest.raises(NotFoundError):
        spanscope.log_feedback("tr-" + "f" * 32, "quality", 1)
    failed = spanscope.log_feedback(trace_id, "judge", error=TimeoutError("judge slow"))
    assert spanscope.get_assessment(trace_id, failed.assessment_id).error.error_code == (
        "TimeoutError")


def test_datasets_and_their_versions(experiment: str) -> None:
    name = f"golden-{uuid.uuid4().hex[:8]}"
    ds = datasets.create_dataset(name, experiment_id=experiment, tags={"team": "qa"})
    ds.merge_records([{"inputs": {"q": "capital of France?"},
                       "expectations": {"expected_response": "Paris"}},
                      {"inputs": {"q": "capital of Peru?"}}])
    ds.merge_records([{"inputs": {"q": "capital of Peru?"},
                       "expectations": {"expected_response": "Lima"}}])
    again = datasets.get_dataset(name=name)
    assert again.dataset_id == ds.dataset_id
    frame = again.to_df()
    assert sorted(frame["inputs"].map(lambda x: x["q"])) == ["capital of France?",
                                                             "capital of Peru?"]
    store = tracking.get_store()
    versions = store.list_dataset_versions(ds.dataset_id)
    assert [v.version for v in versions][-2:] == [1, 2]
    assert len(store.get_dataset_records(ds.dataset_id, version=1)) == 2
    assert [d.dataset_id for d in datasets.search_datasets(experiment_ids=[experiment])] == [
        ds.dataset_id]
    datasets.set_dataset_tags(ds.dataset_id, {"team": None, "stage": "gold"})
    assert store.get_dataset(ds.dataset_id).tags == {"stage": "gold"}
    datasets.delete_dataset(dataset_id=ds.dataset_id)
    with pytest.raises(NotFoundError):
        store.get_dataset(ds.dataset_id)
    assert store.get_dataset_by_name(name) is None


@scorer
def exact_match(outputs: Any, expectations: dict[str, Any] | None) -> bool:
    return outputs == (expectations or {}).get("expected_response")


def test_evaluate_with_a_code_scorer(experiment: str) -> None:
    def app(question: str) -> str:
        return question.split()[-1].rstrip("?")

    rows = [{"inputs": {"question": "capital of Paris?"},
             "expectations": {"expected_response": "Paris"}},
            {"inputs": {"question": "capital of Rome?"},
             "expectations": {"expected_response": "Madrid"}}]
    result = evaluate(rows, predict_fn=app, scorers=[exact_match])
    assert result.metrics["exact_match/mean"] == 0.5
    run = spanscope.get_run(result.run_id)
    assert run.info.experiment_id == experiment
    assert run.info.artifact_uri.startswith(tracking.get_tracking_uri())
    assert run.data.metrics["exact_match/mean"] == 0.5
    for trace_id, expected in zip(result.result_df["trace_id"], [True, False], strict=True):
        trace = spanscope.get_trace(trace_id)
        (score,) = trace.info.assessments
        assert isinstance(score, Feedback) and score.value is expected
        assert score.run_id == result.run_id
    table = spanscope.load_table("eval_results_table.json", run_ids=[result.run_id])
    assert len(table) == 2


def test_run_artifacts_over_http(experiment: str, tmp_path: Any) -> None:
    with spanscope.start_run(run_name="artifacts") as run:
        spanscope.log_param("p", 1)
        spanscope.log_metric("m", 0.25)
        spanscope.log_table({"a": [1, 2]}, "tables/t.json")
        spanscope.log_table({"a": [3], "b": ["x"]}, "tables/t.json")  # appended
        spanscope.log_dict({"k": [1, 2]}, "config.json")
        local = tmp_path / "notes dir"
        (local / "sub").mkdir(parents=True)
        (local / "sub" / "n.txt").write_text("hello")
        spanscope.log_artifact(str(local), "copied")
    run_id = run.info.run_id
    table = spanscope.load_table("tables/t.json", run_ids=[run_id])
    assert table["a"].tolist() == [1, 2, 3]
    assert table["b"].isna().tolist() == [True, True, False] and table["b"][2] == "x"
    from spanscope.runs.artifacts import list_artifacts

    top = {f.path: f.is_dir for f in list_artifacts(run_id)}
    assert top == {"config.json": False, "copied": True, "tables": True}
    (nested,) = list_artifacts(run_id, "copied/notes dir/sub")
    assert nested.path == "copied/notes dir/sub/n.txt" and nested.file_size == 5
    with pytest.raises(InvalidInputError):
        spanscope.log_text("x", "../escape.txt", run_id=run_id)
    stored = spanscope.get_run(run_id)
    assert stored.data.params == {"p": "1"} and stored.info.status == "FINISHED"
    assert [m.value for m in spanscope.get_metric_history(run_id, "m")] == [0.25]
    assert spanscope.search_runs([experiment])["run_id"].tolist() == [run_id]


def test_analysis_matches_a_local_store(experiment: str, tmp_path: Any) -> None:
    local = SqlStore(f"sqlite:///{tmp_path}/local.db")
    local_exp = local.create_experiment("mirror")
    base = int(time.time() * 1000) - 100_000
    made = [make_trace(4, experiment_id=experiment, request_time=base + i * 997,
                       state="ERROR" if i % 4 == 0 else "OK",
                       tags={"variant": "a" if i % 2 else "b"}) for i in range(40)]
    tracking.get_store().log_traces(made)
    for trace in made:
        trace.info.experiment_id = local_exp
    local.log_traces(made)

    def same(remote_value: dict[str, Any], local_value: dict[str, Any]) -> None:
        remote_value.pop("selection", None)
        local_value.pop("selection", None)
        assert remote_value == local_value

    same(summarize(experiment_ids=[experiment], group_by="tag.variant").to_dict(),
         summarize(experiment_ids=[local_exp], group_by="tag.variant", store=local).to_dict())
    same(error_patterns(experiment_ids=[experiment]).to_dict(),
         error_patterns(experiment_ids=[local_exp], store=local).to_dict())
    remote_cmp = compare("tags.variant = 'a'", "tags.variant = 'b'",
                         experiment_ids=[experiment], resamples=200)
    local_cmp = compare("tags.variant = 'a'", "tags.variant = 'b'",
                        experiment_ids=[local_exp], resamples=200, store=local)
    same(remote_cmp.to_dict(), local_cmp.to_dict())
    same(profile_traces(experiment_ids=[experiment]).to_dict(),
         profile_traces(experiment_ids=[local_exp], store=local).to_dict())
    same(correlate("latency_ms", "total_tokens", experiment_ids=[experiment]).to_dict(),
         correlate("latency_ms", "total_tokens", experiment_ids=[local_exp],
                   store=local).to_dict())
    local.close()


def test_batches_over_the_body_limit_go_in_parts(sqlite_uri: str, tmp_path: Any) -> None:
    from remote_server import ServerProcess

    from spanscope.exceptions import RequestTooLargeError
    from spanscope.store import rest

    assert rest._chunks(["a" * 4, "b" * 4, "c" * 9, "d"], 10) == [
        ["a" * 4, "b" * 4], ["c" * 9], ["d"]]
    server = ServerProcess(sqlite_uri, tmp_path, args=("--max-request-mb", "1")).start()
    try:
        store = RestStore(server.url)
        experiment = store.create_experiment("big")
        traces = [make_trace(2, experiment_id=experiment, payload_chars=200_000)
                  for _ in range(12)]  # ~2.4 MB in all: refused whole (413), sent in halves
        store.log_traces(traces)
        assert sorted(store.search_trace_ids([experiment])) == sorted(
            t.info.trace_id for t in traces)
        huge = make_trace(1, experiment_id=experiment, payload_chars=1_500_000)
        with pytest.raises(RequestTooLargeError):
            store.log_traces([huge])
        store.close()
    finally:
        server.stop()
