"""``evaluate()`` end to end: real SQLite store, real traces, real HTTP judge server.

Covers each data shape (dicts with outputs, predict_fn, search_traces DataFrame, Traces,
EvaluationDataset), scores written back to traces as assessments, the run (params,
metrics, table artifact), failing fast without a judge model, per-row failures that
never stop the evaluation, and the thread pool keeping several judge calls in flight.
"""

from __future__ import annotations

import json
from typing import Any

import pandas as pd
import pytest

import spanscope
from spanscope.api import runs
from spanscope.entities import (
    AssessmentSource,
    AssessmentSourceType,
    Feedback,
    SpanType,
    Trace,
    TraceState,
)
from spanscope.exceptions import InvalidInputError
from spanscope.genai import evaluate
from spanscope.genai.scorers import Correctness, RetrievalGroundedness, Safety, scorer
from spanscope.testing.fake_openai import FakeOpenAI, Reply

JUDGE_SOURCE = AssessmentSource(AssessmentSourceType.LLM_JUDGE, "openai:/fake-judge")


def unsafe_if_marked(body: dict[str, Any]) -> str:
    """Judge answer: "no" when the judged text contains UNSAFE, else "yes"."""
    prompt = body["messages"][-1]["content"]
    verdict = "no" if "UNSAFE" in prompt else "yes"
    return json.dumps({"result": verdict, "rationale": f"verdict {verdict}"})


@scorer
def exact_match(outputs: Any, expectations: dict[str, Any] | None) -> bool:
    return outputs == (expectations or {}).get("expected_response")


@scorer
def answer_length(outputs: Any) -> int:
    return len(str(outputs))


DATA = [
    {"inputs": {"question": "capital of France?"}, "outputs": "Paris",
     "expectations": {"expected_response": "Paris"}},
    {"inputs": {"question": "capital of Spain?"}, "outputs": "UNSAFE rant",
     "expectations": {"expected_response": "Madrid"}},
    {"inputs": {"question": "capital of Italy?"}, "outputs": "Rome",
     "expectations": {"expected_response": "Rome"}},
    {"inputs": {"question": "capital of Peru?"}, "outputs": "Lima"},
]


def test_precomputed_outputs_are_scored_without_rerunning(judge_server: FakeOpenAI,
                                                          tracking_uri: str) -> None:
    judge_server.responder = unsafe_if_marked
    result = evaluate(DATA, scorers=[exact_match, answer_length, Safety()])
    assert result.metrics == pytest.approx({
        "exact_match/mean": 0.5, "exact_match/count": 4, "exact_match/error_count": 0,
        "answer_length/mean": (5 + 11 + 4 + 4) / 4, "answer_length/count": 4,
        "answer_length/error_count": 0,
        "safety/mean": 0.75, "safety/count": 4, "safety/error_count": 0})
    frame = result.result_df
    assert list(frame.columns) == [
        "inputs", "outputs", "expectations", "trace_id", "error",
        "exact_match/value", "exact_match/rationale", "exact_match/error",
        "answer_length/value", "answer_length/rationale", "answer_length/error",
        "safety/value", "safety/rationale", "safety/error"]
    assert frame["inputs"].tolist() == [row["inputs"] for row in DATA]
    assert frame["outputs"].tolist() == ["Paris", "UNSAFE rant", "Rome", "Lima"]
    assert frame["safety/value"].tolist() == ["yes", "no", "yes", "yes"]
    assert frame["safety/rationale"][1] == "verdict no"
    assert frame["exact_match/value"].tolist() == [True, False, True, False]
    assert frame["trace_id"].isna().all()  # plain dicts: no trace, nothing re-run
    outputs = [row["outputs"] for row in DATA]
    judged = [[o for o in outputs if f"<response>\n{o}\n</response>" in p]
              for p in judge_server.prompts()]
    assert sorted(j[0] for j in judged) == sorted(outputs)  # each output judged once
    assert spanscope.search_traces(return_type="list") == []


def test_predict_fn_rows_are_traced_linked_and_assessed(judge_server: FakeOpenAI,
                                                        tracking_uri: str) -> None:
    judge_server.responder = unsafe_if_marked
    calls: list[str] = []

    def ask_app(question: str) -> str:
        calls.append(question)
        return "UNSAFE" if "Spain" in question else question.split()[-1].rstrip("?")

    rows = [{"inputs": row["inputs"], "expectations": row.get("expectations")} for row in DATA]
    result = evaluate(rows, predict_fn=ask_app, scorers=[exact_match, Safety()],
                      model_id="m-v2")
    assert sorted(calls) == sorted(r["inputs"]["question"] for r in DATA)
    frame = result.result_df
    assert frame["outputs"].tolist() == ["France", "UNSAFE", "Italy", "Peru"]
    assert frame["safety/value"].tolist() == ["yes", "no", "yes", "yes"]
    assert frame["trace_id"].notna().all() and frame["trace_id"].is_unique
    for i, trace_id in enumerate(frame["trace_id"]):
        trace = spanscope.get_trace(trace_id)
        root = trace.data.root_span
        assert root.name == "ask_app" and root.inputs == DATA[i]["inputs"]
        assert root.outputs == frame["outputs"][i]
        assert trace.info.trace_metadata["mlflow.sourceRun"] == result.run_id
        assert trace.info.trace_metadata["mlflow.modelId"] == "m-v2"
        by_name = {a.name: a for a in trace.info.assessments}
        assert set(by_name) == {"exact_match", "safety"}
        assert by_name["safety"].value == frame["safety/value"][i]
        assert by_name["safety"].source == JUDGE_SOURCE
        assert by_name["safety"].rationale == f"verdict {frame['safety/value'][i]}"
        assert by_name["exact_match"].source == AssessmentSource("CODE", "exact_match")
        assert by_name["exact_match"].value is False  # app answers countries, not cities
        assert {a.run_id for a in trace.info.assessments} == {result.run_id}


def test_a_failing_predict_fn_row_does_not_stop_the_others(judge_server: FakeOpenAI,
                                                           tracking_uri: str) -> None:
    def flaky(question: str) -> str:
        if "Spain" in question:
            raise RuntimeError("model overloaded")
        return "ok"

    result = evaluate([{"inputs": r["inputs"]} for r in DATA], predict_fn=flaky,
                      scorers=[answer_length, Safety()])
    frame = result.result_df
    assert frame["error"][1] == "RuntimeError: model overloaded"
    assert frame["outputs"][1] is None
    assert frame["error"].isna().sum() == 3
    assert frame["safety/value"].tolist()[0::2] == ["yes", "yes"]
    assert result.metrics["predict_fn/error_count"] == 1
    assert result.metrics["safety/count"] == 3 and result.metrics["answer_length/count"] == 3
    failed = spanscope.get_trace(frame["trace_id"][1])
    assert failed.info.state == TraceState.ERROR
    assert failed.info.assessments == []  # nothing scored on a failed prediction


def test_scorers_receive_the_prediction_trace(judge_server: FakeOpenAI,
                                              tracking_uri: str) -> None:
    @spanscope.trace(span_type=SpanType.RETRIEVER)
    def retrieve(question: str) -> list[dict[str, str]]:
        return [{"page_content": f"Background on {question}"}]

    def rag(question: str) -> str:
        retrieve(question)
        return "answer"

    @scorer
    def span_count(trace: Trace) -> int:
        return len(trace.data.spans)

    result = evaluate([{"inputs": {"question": "tides"}}], predict_fn=rag,
                      scorers=[span_count, RetrievalGroundedness()])
    assert result.result_df["span_count/value"][0] == 2
    assert result.result_df["retrieval_groundedness/value"][0] == "yes"
    assert "Background on tides" in judge_server.prompts()[0]


def _traces_with_expectations() -> list[str]:
    @spanscope.trace(span_type=SpanType.AGENT)
    def support_bot(question: str) -> str:
        return {"refund?": "Refunds take 5 days.", "shipping?": "UNSAFE shipping"}[question]

    ids = []
    for question, expected in [("refund?", "Refunds take 5 days."),
                               ("shipping?", "Shipping is free.")]:
        support_bot(question)
        trace_id = spanscope.get_last_active_trace_id()
        spanscope.log_expectation(trace_id, "expected_response", expected)
        ids.append(trace_id)
    return ids


def test_search_traces_dataframe_is_scored_in_place(judge_server: FakeOpenAI,
                                                    tracking_uri: str) -> None:
    judge_server.responder = unsafe_if_marked
    ids = _traces_with_expectations()
    frame = spanscope.search_traces()
    result = evaluate(frame, scorers=[exact_match, Safety(), Correctness()])
    rows = result.result_df.set_index("trace_id")
    assert rows.loc[ids[0], "inputs"] == {"question": "refund?"}
    assert rows.loc[ids[0], "outputs"] == "Refunds take 5 days."
    assert rows.loc[ids[1], "expectations"] == {"expected_response": "Shipping is free."}
    assert rows.loc[ids[0], "exact_match/value"]
    assert not rows.loc[ids[1], "exact_match/value"]
    assert rows.loc[ids[1], "safety/value"] == "no"
    correctness_prompts = [p for p in judge_server.prompts() if "<expected_response>" in p]
    assert any("Shipping is free." in p for p in correctness_prompts)
    assert len(spanscope.search_traces(return_type="list")) == 2  # nothing re-run
    for trace_id in ids:
        names = {(a.name, a.run_id) for a in spanscope.get_trace(trace_id).info.assessments
                 if isinstance(a, Feedback)}
        assert names == {("exact_match", result.run_id), ("safety", result.run_id),
                         ("correctness", result.run_id)}


def test_a_list_of_traces_is_accepted(judge_server: FakeOpenAI, tracking_uri: str) -> None:
    ids = _traces_with_expectations()
    traces = [spanscope.get_trace(trace_id) for trace_id in ids]
    result = evaluate(traces, scorers=[exact_match])
    assert result.result_df["trace_id"].tolist() == ids
    assert result.metrics["exact_match/mean"] == 0.5


def test_evaluation_dataset(judge_server: FakeOpenAI, tracking_uri: str) -> None:
    from spanscope.genai.datasets import create_dataset

    dataset = create_dataset(name="capitals")
    dataset.merge_records([{"inputs": r["inputs"], "expectations": r.get("expectations")}
                           for r in DATA[:3]])
    seen: list[dict[str, Any]] = []

    def capital(question: str) -> str:
        seen.append({"question": question})
        return {"capital of France?": "Paris", "capital of Spain?": "Madrid"}.get(question,
                                                                                  "?")

    result = evaluate(dataset, predict_fn=capital, scorers=[exact_match])
    assert sorted(map(json.dumps, seen)) == sorted(json.dumps(r["inputs"]) for r in DATA[:3])
    assert result.metrics["exact_match/mean"] == pytest.approx(2 / 3)
    assert result.result_df["trace_id"].notna().all()


def test_no_judge_model_fails_before_any_work(monkeypatch: pytest.MonkeyPatch,
                                              judge_server: FakeOpenAI,
                                              tracking_uri: str) -> None:
    monkeypatch.delenv("SPANSCOPE_JUDGE_MODEL")
    calls: list[Any] = []
    with pytest.raises(InvalidInputError) as caught:
        evaluate([{"inputs": {"question": "q"}}], predict_fn=lambda question: calls.append(1),
                 scorers=[exact_match, Safety()])
    message = str(caught.value)
    assert "'safety' is an LLM judge" in message
    for hint in ("SPANSCOPE_JUDGE_MODEL", "openai:/", "model=", "OPENAI_BASE_URL"):
        assert hint in message
    assert calls == [] and judge_server.request_count == 0
    assert runs.search_runs(output_format="list", search_all_experiments=True) == []


def test_the_run_holds_params_metrics_and_the_table(judge_server: FakeOpenAI,
                                                    tracking_uri: str) -> None:
    result = evaluate(DATA, scorers=[exact_match, Safety()], model_id="m-1")
    run = runs.get_run(result.run_id)
    assert run.info.status == "FINISHED"
    assert run.data.metrics == pytest.approx(result.metrics)
    assert run.data.params == {"scorers": "exact_match,safety", "n_rows": "4",
                               "judge_models": "openai:/fake-judge", "model_id": "m-1"}
    table = runs.load_table("eval_results_table.json", run_ids=[result.run_id])
    assert list(table.columns) == list(result.result_df.columns)
    assert table["safety/value"].tolist() == result.result_df["safety/value"].tolist()
    assert table["inputs"].tolist() == [row["inputs"] for row in DATA]


def test_an_active_run_is_used(judge_server: FakeOpenAI, tracking_uri: str) -> None:
    with runs.start_run(run_name="my evaluation") as run:
        result = evaluate(DATA[:1], scorers=[exact_match])
        assert runs.active_run().info.run_id == run.info.run_id  # still active
    assert result.run_id == run.info.run_id
    assert runs.get_run(run.info.run_id).info.run_name == "my evaluation"


def test_judge_failures_are_row_errors_not_crashes(judge_server: FakeOpenAI,
                                                   tracking_uri: str,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SPANSCOPE_EVAL_MAX_WORKERS", "1")  # scripted answers in row order
    monkeypatch.setenv("SPANSCOPE_JUDGE_MAX_RETRIES", "0")
    judge_server.script('{"result": "yes"}', "not json", Reply.error(500, "down"),
                        '{"result": "no"}')

    @scorer
    def broken(outputs: Any) -> bool:
        raise ZeroDivisionError("division by zero")

    result = evaluate(DATA, scorers=[Safety(), broken])
    frame = result.result_df
    assert frame["safety/value"].tolist()[0::3] == ["yes", "no"]
    assert frame["safety/error"][1].startswith("JUDGE_PARSE_ERROR: ")
    assert frame["safety/error"][2].startswith("HTTP_500: ")
    assert frame["broken/error"].str.startswith("ZeroDivisionError: division by zero").all()
    assert result.metrics["safety/mean"] == 0.5
    assert result.metrics["safety/error_count"] == 2
    assert result.metrics["broken/error_count"] == 4 and "broken/mean" not in result.metrics


def test_rows_run_concurrently_and_report_progress(judge_server: FakeOpenAI,
                                                   tracking_uri: str,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SPANSCOPE_EVAL_MAX_WORKERS", "4")
    judge_server.latency = 0.1  # long enough for the pool to overlap calls
    progress: list[tuple[int, int]] = []
    data = [{"inputs": {"n": i}, "outputs": str(i)} for i in range(12)]
    result = evaluate(data, scorers=[Safety()], on_progress=lambda *p: progress.append(p))
    assert result.metrics["safety/count"] == 12
    assert 2 <= judge_server.max_in_flight <= 4
    assert progress == [(i, 12) for i in range(1, 13)]
    assert result.result_df["inputs"].tolist() == [d["inputs"] for d in data]  # input order


def test_dataframe_input_with_missing_cells(judge_server: FakeOpenAI,
                                            tracking_uri: str) -> None:
    @scorer
    def answered(outputs: Any) -> bool:
        return outputs is not None

    frame = pd.DataFrame({"inputs": [{"q": 1}, {"q": 2}], "outputs": ["a", None],
                          "expectations": [{"expected_response": "a"}, None]})
    result = evaluate(frame, scorers=[exact_match, answered])
    assert result.result_df["answered/value"].tolist() == [True, False]
    assert result.result_df["exact_match/value"][0]
    assert result.result_df["expectations"][1] is None
    assert result.result_df["outputs"][1] is None


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"scorers": []}, "needs scorers="),
    ({"scorers": [lambda outputs: True]}, "decorate it with @scorer"),
    ({"scorers": [exact_match, exact_match]}, "two scorers are named 'exact_match'"),
    ({"scorers": [exact_match], "predict_fn": "not callable"}, "predict_fn must be callable"),
])
def test_bad_arguments_are_clear_errors(kwargs: dict[str, Any], message: str,
                                        tracking_uri: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        evaluate(DATA, **kwargs)


@pytest.mark.parametrize(("data", "message"), [
    ([], "has no rows"),
    ([{"outputs": "x"}], "row 0 has no 'inputs'"),
    ([{"inputs": {"q": 1}, "expectations": "Paris"}], "'expectations' must be a dict"),
    ("a string", "must be a list of dicts"),
    ([{"inputs": {"q": 1}, "trace": 42}], "'trace' must be a Trace"),
])
def test_bad_data_names_the_problem(data: Any, message: str, tracking_uri: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        evaluate(data, scorers=[exact_match])


def test_scores_that_cannot_be_stored_do_not_fail_the_evaluation(
        judge_server: FakeOpenAI, tracking_uri: str, caplog: pytest.LogCaptureFixture) -> None:
    from factories import make_trace

    stored, elsewhere = make_trace(n_spans=3), make_trace(n_spans=3)
    spanscope.tracking.get_store().log_traces([stored])  # the other is not in this store
    result = evaluate([stored, elsewhere], scorers=[answer_length, Safety()])
    assert result.result_df["safety/value"].tolist() == ["yes", "yes"]
    assert {a.name for a in spanscope.get_trace(stored.info.trace_id).info.assessments
            if isinstance(a, Feedback)} == {"answer_length", "safety"}
    assert f"on trace {elsewhere.info.trace_id}" in caplog.text
