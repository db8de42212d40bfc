"""The HTTP codec: every type that crosses the wire comes back equal, through JSON text."""

from __future__ import annotations

import math
from typing import Any

import pytest

from factories import make_trace, sample_assessments
from spanscope.entities import (
    AssessmentError,
    AssessmentSource,
    Expectation,
    Experiment,
    Feedback,
    PagedList,
    Trace,
)
from spanscope.entities.dataset import (
    Dataset,
    DatasetRecord,
    DatasetVersion,
    MergeResult,
    RecordUpdate,
)
from spanscope.entities.run import Metric, Run, RunData, RunInfo
from spanscope.exceptions import (
    FilterError,
    InvalidInputError,
    NotFoundError,
    PermissionDeniedError,
    RequestTooLargeError,
    StoreError,
    StoreUnavailableError,
    UnauthenticatedError,
)
from spanscope.store import aggregates as agg
from spanscope.store import wire
from spanscope.store.artifacts import FileInfo
from spanscope.store.mutations import UNSET


def through_json(tp: Any, value: Any) -> Any:
    """Encode, write as JSON text, parse, decode: what one HTTP hop does."""
    return wire.decode(tp, wire.loads(wire.dumps(wire.encode(value))))


def test_trace_round_trip_keeps_everything() -> None:
    trace = make_trace(5, state="ERROR", tags={"env": "prod"}, metadata={"k": "v"},
                       assessments=sample_assessments(), session_id="s1",
                       client_request_id="req-1")
    back = through_json(Trace, trace)
    assert back.to_dict() == trace.to_dict()
    assert [s.span_id for s in back.data.spans] == [s.span_id for s in trace.data.spans]
    assert back.info.assessments[0].value == trace.info.assessments[0].value


def test_trace_list_and_page() -> None:
    traces = [make_trace(2), make_trace(1)]
    page = PagedList(traces, token="next-123")
    body = wire.loads(wire.dumps(wire.encode_page(page, "traces")))
    assert body["next_page_token"] == "next-123"
    back = wire.decode_page(body, Trace, "traces")
    assert isinstance(back, PagedList) and back.token == "next-123"
    assert [t.to_dict() for t in back] == [t.to_dict() for t in traces]
    last = wire.decode_page(wire.encode_page(PagedList([], None), "traces"), Trace, "traces")
    assert last == [] and last.token is None


@pytest.mark.parametrize("assessment", [
    Feedback(name="quality", value=0.75, rationale="good", metadata={"a": "b"},
             trace_id="tr-1", span_id="abc", source=AssessmentSource("LLM_JUDGE", "gpt")),
    Feedback(name="broken", error=AssessmentError("Timeout", "slow", "stack"), trace_id="tr-1"),
    Expectation(name="answer", value={"facts": ["a", "b"]}, trace_id="tr-1"),
    Expectation(name="answer", value="Paris", trace_id="tr-1", overrides="a-x", valid=False),
], ids=["feedback", "error", "expectation-dict", "expectation-overrides"])
def test_assessment_round_trip(assessment: Any) -> None:
    from spanscope.entities import Assessment

    back = through_json(Assessment, assessment)
    assert type(back) is type(assessment)
    assert back == assessment


def test_experiment_and_runs() -> None:
    exp = Experiment("7", "demo", 1_700_000_000_000, {"team": "x"})
    assert through_json(Experiment, exp) == exp
    assert through_json(list[Experiment], [exp, exp]) == [exp, exp]
    info = RunInfo("r1", "7", run_name="eval", status="FINISHED", start_time=1, end_time=2,
                   artifact_uri="file:///tmp/a", user_id="me")
    run = Run(info, RunData(params={"p": "1"}, metrics={"m": 0.5, "nan": math.nan},
                            tags={"t": "v"}))
    back = through_json(Run, run)
    assert back.info == info
    assert back.data.params == run.data.params and back.data.tags == run.data.tags
    assert back.data.metrics["m"] == 0.5 and math.isnan(back.data.metrics["nan"])
    assert through_json(RunInfo, info) == info
    metrics = [Metric("loss", 0.1, 5, 2), Metric("loss", math.inf, 6, 3)]
    assert through_json(list[Metric], metrics) == metrics


def test_datasets() -> None:
    ds = Dataset("d-1", "golden", ["0", "3"], {"owner": "me"}, 2, "abc", 3, 10, 20, "me")
    assert through_json(Dataset, ds) == ds
    record = DatasetRecord("rec-1", {"q": "hi"}, {"answer": "yo"}, {"out": 1}, {"t": "v"},
                           {"source_type": "TRACE", "source_data": {"trace_id": "tr-1"}},
                           "tr-1", 5, 6, 4)
    assert through_json(DatasetRecord, record) == record
    version = DatasetVersion(2, "abc", 3, 10, 1, 2)
    assert through_json(list[DatasetVersion], [version]) == [version]
    merged = MergeResult(ds, 1, 2, 1)
    assert through_json(MergeResult, merged) == merged
    update = RecordUpdate({"q": "hi"}, expectations={"a": 1}, outputs=[1, 2], tags={"k": "v"},
                          source_trace_id="tr-1")
    assert through_json(list[RecordUpdate], [update, RecordUpdate({"q": 2})]) == [
        update, RecordUpdate({"q": 2})]


def test_file_info() -> None:
    files = [FileInfo("a/b.json", False, 12), FileInfo("a/c", True, None)]
    assert wire.encode(files[0]) == {"path": "a/b.json", "is_dir": False, "size": 12}
    assert through_json(list[FileInfo], files) == files


AGGREGATE_VALUES = [
    (agg.Selection, agg.Selection(("0", "1"), "tags.env = 'prod'", 5, 10)),
    (agg.Selection, agg.Selection()),
    (agg.GroupKey, agg.GroupKey("tag", "env")),
    (agg.Sample, agg.Sample(100, 7)),
    (agg.NumericField, agg.NumericField("assessment", "quality")),
    (list[agg.TraceStats], [agg.TraceStats(60_000, "prod", 3, 1, 0, 2, 30.5, 10.0, 20.5,
                                           (0.5, 0.95), (15.0, None), 10, 20, 30, 1, 2)]),
    (list[agg.ModelUsageRow], [agg.ModelUsageRow(None, None, "gpt", 1, 2, 3, 4, 7)]),
    (list[agg.SpanStats], [agg.SpanStats("LLM", None, 4, 1, 4, 12.5, 5.0, (0.5,), (3.0,))]),
    (list[agg.ErrorSpan], [agg.ErrorSpan("tr-1", "s1", "call", "TOOL", 5, "ValueError",
                                         "bad", None)]),
    (agg.TraceSample, agg.TraceSample(10, [agg.TraceValues("tr-1", 5, 1.5, True, 1, 2, 3,
                                                            {"quality": 1.0})],
                                      [agg.SpanValue("tr-1", "LLM", "call", None, False)])),
    (agg.NumericPairs, agg.NumericPairs([1.0, 2.0], [3.0, 4.5], agg.FieldCoverage(3, 2, "x"),
                                        agg.FieldCoverage(2, 2))),
    (list[int], [0, 3, 5]),
]


@pytest.mark.parametrize(("tp", "value"), AGGREGATE_VALUES,
                         ids=[repr(v)[:30] for _, v in AGGREGATE_VALUES])
def test_aggregate_types_round_trip(tp: Any, value: Any) -> None:
    assert through_json(tp, value) == value


def test_aggregate_call_round_trip() -> None:
    selection = agg.Selection(("0",), "attributes.status = 'OK'", None, 99)
    body = wire.encode_aggregate_call("trace_stats", selection, bucket_ms=60_000,
                                      group_by=agg.GroupKey("metadata", "user"),
                                      quantiles=(0.5, 0.99))
    sel, options = wire.decode_aggregate_call("trace_stats", wire.loads(wire.dumps(body)))
    assert sel == selection
    assert options == {"bucket_ms": 60_000, "group_by": agg.GroupKey("metadata", "user"),
                       "quantiles": (0.5, 0.99)}
    body = wire.encode_aggregate_call("numeric_pairs", agg.Selection(),
                                      x=agg.NumericField("attribute", "latency_ms"),
                                      y=agg.NumericField("tag", "score"))
    assert wire.decode_aggregate_call("numeric_pairs", body)[1]["y"] == agg.NumericField(
        "tag", "score")
    rows = [agg.SpanStats("LLM", "x", 1, 0, 1, 2.0, 2.0, (0.5,), (2.0,))]
    assert wire.decode_aggregate_result("span_stats", wire.encode(rows)) == rows


@pytest.mark.parametrize(("name", "body", "needle"), [
    ("trace_stats", {"bucket_ms": "soon"}, "bucket_ms"),
    ("trace_stats", {"colour": 1}, "colour"),
    ("trace_stats", {"group_by": {"kind": "span", "key": "x"}}, "group_by"),
    ("numeric_pairs", {"x": {"kind": "tag"}}, "key"),
    ("span_stats", {"selection": {"experiment_ids": "0"}}, "experiment_ids"),
    ("trace_sample", {"sample": {"size": True}}, "size"),
    ("trace_stats", [1, 2], "object"),
])
def test_bad_aggregate_bodies_are_invalid_input(name: str, body: Any, needle: str) -> None:
    with pytest.raises(InvalidInputError, match=needle):
        wire.decode_aggregate_call(name, body)


def test_unknown_aggregate_is_not_found() -> None:
    with pytest.raises(NotFoundError, match="unknown aggregate"):
        wire.decode_aggregate_call("drop_table", {})


def test_assessment_changes_unset_vs_none() -> None:
    body = wire.encode_changes(name=UNSET, value=3, rationale=None, metadata=UNSET,
                               error=ValueError("boom"), source=AssessmentSource("CODE", "s"))
    body = wire.loads(wire.dumps(body))
    assert set(body) == {"value", "rationale", "error", "source"}
    assert body["rationale"] is None
    changes = wire.decode_changes(body)
    assert changes["value"] == 3 and changes["rationale"] is None
    assert changes["error"].error_code == "ValueError"
    assert changes["source"] == AssessmentSource("CODE", "s")
    assert "name" not in changes and "metadata" not in changes  # stays UNSET
    assert wire.decode_changes({"error": None, "value": None}) == {"error": None,
                                                                   "value": None}
    with pytest.raises(InvalidInputError, match="colour"):
        wire.decode_changes({"colour": "red"})


@pytest.mark.parametrize("tp,data", [
    (Trace, {"data": {}}),
    (Trace, [1]),
    (Experiment, {"name": "x"}),
    (list[Trace], {"info": {}}),
    (Metric, {"key": "m", "value": "high", "timestamp": 1}),
    (RecordUpdate, {"inputs": "not a dict"}),
    (agg.Selection, {"start_ms": 1.5}),
    (Run, {"info": {"run_id": "r"}}),
])
def test_malformed_data_is_invalid_input(tp: Any, data: Any) -> None:
    with pytest.raises(InvalidInputError):
        wire.decode(tp, data)


def test_dumps_never_writes_invalid_json() -> None:
    text = wire.dumps({"a": math.nan, "b": [math.inf, 1.0]})
    assert wire.loads(text) == {"a": None, "b": [None, 1.0]}
    with pytest.raises(InvalidInputError, match="not valid JSON"):
        wire.loads(b"{nope")


ERRORS = [
    (FilterError("unknown identifier 'tags'", filter_string="tags = 1", position=0,
                 token="tags"), 400, "BAD_FILTER"),
    (InvalidInputError("max_results must be positive"), 400, "INVALID_PARAMETER_VALUE"),
    (NotFoundError("trace 'tr-x' not found"), 404, "RESOURCE_DOES_NOT_EXIST"),
    (UnauthenticatedError("an API key is required"), 401, "UNAUTHENTICATED"),
    (PermissionDeniedError("viewers cannot write"), 403, "PERMISSION_DENIED"),
    (RequestTooLargeError("body over 32 MB"), 413, "REQUEST_TOO_LARGE"),
    (StoreUnavailableError("writer saturated", retry_after=2.5), 503,
     "TEMPORARILY_UNAVAILABLE"),
    (StoreError("database is gone"), 500, "INTERNAL_ERROR"),
]


@pytest.mark.parametrize(("exc", "status", "code"), ERRORS, ids=[c for _, _, c in ERRORS])
def test_errors_round_trip(exc: Exception, status: int, code: str) -> None:
    got_status, body, headers = wire.error_response(exc)
    assert (got_status, body["error_code"], body["message"]) == (status, code, str(exc))
    back = wire.error_from_response(got_status, wire.loads(wire.dumps(body)), headers)
    assert type(back) is type(exc) and str(back) == str(exc)
    if isinstance(exc, FilterError):
        assert (back.filter_string, back.position, back.token) == ("tags = 1", 0, "tags")
    if isinstance(exc, StoreUnavailableError):
        assert headers["Retry-After"] == "3"
        assert back.retry_after == 3.0  # the header (whole seconds) wins


def test_unexpected_exception_hides_its_message() -> None:
    status, body, _ = wire.error_response(RuntimeError("password=hunter2"))
    assert status == 500 and "hunter2" not in body["message"]


def test_errors_without_a_spanscope_body_map_by_status() -> None:
    limited = wire.error_from_response(429, "Too Many Requests", {"Retry-After": "7"})
    assert isinstance(limited, StoreUnavailableError) and limited.retry_after == 7.0
    assert isinstance(wire.error_from_response(502, None), StoreUnavailableError)
    assert isinstance(wire.error_from_response(404, {"detail": "Not Found"}), NotFoundError)
    assert isinstance(wire.error_from_response(422, {"detail": []}), InvalidInputError)
    assert type(wire.error_from_response(500, {})) is StoreError
    dated = wire.error_from_response(503, {}, {"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"})
    assert isinstance(dated, StoreUnavailableError) and dated.retry_after == 0.0
