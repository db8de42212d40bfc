"""Trace JSON: the MLflow 3 shape, exact round-trips, and MLflow-written traces."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from spanscope.entities import (
    AssessmentError,
    AssessmentSource,
    Expectation,
    Feedback,
    Span,
    SpanEvent,
    SpanStatus,
    SpanStatusCode,
    SpanType,
    Trace,
    TraceData,
    TraceInfo,
    TraceState,
)
from spanscope.entities._codec import decode_id, ms_to_rfc3339, rfc3339_to_ms

MLFLOW_FIXTURES = sorted((Path(__file__).parent.parent / "data" / "mlflow").glob("*.json"))
TID = "tr-" + "0123456789abcdef" * 2


def _trace() -> Trace:
    root = Span.build(trace_id=TID, span_id="a" * 16, parent_id=None, name="agent",
                      start_time_ns=1_700_000_000_000_000_000,
                      end_time_ns=1_700_000_000_250_000_000, span_type=SpanType.AGENT,
                      inputs={"question": "Wie geht's? ✓", "n": [1, 2.5, None]},
                      outputs="fine")
    child = Span.build(trace_id=TID, span_id="b" * 16, parent_id="a" * 16, name="tool",
                       start_time_ns=1_700_000_000_010_000_000,
                       end_time_ns=1_700_000_000_020_000_000, span_type="MY_CUSTOM_TYPE",
                       inputs={"x": 1}, attributes={"nested": {"k": [1, {"z": True}]}},
                       status=SpanStatus(SpanStatusCode.ERROR, "boom"),
                       events=[SpanEvent("exception", 1_700_000_000_015_000_000,
                                         {"exception.type": "ValueError",
                                          "exception.message": "boom"})])
    info = TraceInfo(trace_id=TID, experiment_id="3", request_time=1_700_000_000_000,
                     execution_duration=250, state=TraceState.ERROR,
                     request_preview='{"question": "hi"}', response_preview='"fine"',
                     client_request_id="req-1", trace_metadata={"mlflow.trace.session": "s1"},
                     tags={"env": "prod"},
                     assessments=[
                         Feedback(name="ok", value=False, rationale="wrong",
                                  source=AssessmentSource("LLM_JUDGE", "gpt"), trace_id=TID),
                         Feedback(name="judge", error=AssessmentError("TIMEOUT", "slow"),
                                  trace_id=TID),
                         Expectation(name="facts", value=["a", "b"], trace_id=TID),
                     ])
    return Trace(info, TraceData([root, child]))


def test_own_round_trip_is_exact() -> None:
    trace = _trace()
    text = trace.to_json()
    again = Trace.from_json(text)
    assert again.to_json() == text
    assert Trace.from_json(again.to_json(pretty=True)).to_dict() == trace.to_dict()


def test_shape_matches_mlflow_trace_json() -> None:
    data = json.loads(_trace().to_json())
    info = data["info"]
    assert info["trace_id"] == TID and info["state"] == "ERROR"
    assert info["request_time"] == "2023-11-14T22:13:20.000Z"
    assert info["execution_duration_ms"] == 250 == info["execution_duration"]
    assert info["trace_location"]["mlflow_experiment"]["experiment_id"] == "3"
    assert info["tags"] == {"env": "prod"}
    feedback, error, expectation = info["assessments"]
    assert feedback["assessment_name"] == "ok" and feedback["feedback"] == {"value": False}
    assert feedback["source"] == {"source_type": "LLM_JUDGE", "source_id": "gpt"}
    assert error["feedback"]["error"]["error_code"] == "TIMEOUT"
    assert json.loads(expectation["expectation"]["serialized_value"]["value"]) == ["a", "b"]
    root, child = data["data"]["spans"]
    assert root["parent_span_id"] is None and child["parent_span_id"] == "a" * 16
    assert root["status"]["code"] == "STATUS_CODE_OK"
    assert child["status"] == {"code": "STATUS_CODE_ERROR", "message": "boom"}
    for key in ("mlflow.spanInputs", "mlflow.spanType"):
        assert isinstance(root["attributes"][key], str)
    assert json.loads(root["attributes"]["mlflow.spanType"]) == "AGENT"
    assert json.loads(child["attributes"]["nested"]) == {"k": [1, {"z": True}]}


def test_span_views_decode_attributes() -> None:
    trace = _trace()
    child = trace.search_spans(name="tool")[0]
    assert child.span_type == "MY_CUSTOM_TYPE"
    assert child.attributes["nested"]["k"][1] == {"z": True}
    assert trace.search_spans(span_type=SpanType.AGENT)[0].inputs["n"] == [1, 2.5, None]
    assert trace.search_spans(span_id="b" * 16) == [child]
    assert child.duration_ms == 10.0
    assert trace.info.session_id == "s1"


def test_enums_are_strings() -> None:
    assert SpanType.CHAT_MODEL == "CHAT_MODEL" and SpanType.CHAT_MODEL.name == "CHAT_MODEL"
    assert f"{TraceState.OK}" == "OK" and str(TraceState.ERROR) == "ERROR"


@pytest.mark.parametrize("ms", [0, 1, 999, 1_700_000_000_123, 1_795_304_534_388])
def test_rfc3339_round_trip(ms: int) -> None:
    assert rfc3339_to_ms(ms_to_rfc3339(ms)) == ms


def test_rfc3339_round_trips_every_millisecond_shape() -> None:
    for ms in range(0, 4_102_444_800_000, 999_983_417):  # 1970 to 2100, odd steps
        assert rfc3339_to_ms(ms_to_rfc3339(ms)) == ms


@pytest.mark.parametrize("text", ["2026-13-01T00:00:00.000Z", "2026-11-21T25:00:00.000Z",
                                  "2026-11-21X00:00:00.000Z", "2026-11-21T00:00:00.0a0Z",
                                  "2026-11-21T00:00:00. 12Z"])
def test_rfc3339_rejects_bad_timestamps_of_the_canonical_length(text: str) -> None:
    with pytest.raises(ValueError):
        rfc3339_to_ms(text)


def test_rfc3339_parses_offsets_and_long_fractions() -> None:
    assert rfc3339_to_ms("2026-11-21T23:42:14.388123456Z") == rfc3339_to_ms(
        "2026-11-22T00:42:14.388+01:00")


def test_ids_decode_from_base64_and_hex() -> None:
    assert decode_id("i4iztGTyv34=", 8) == "8b88b3b464f2bf7e"
    assert decode_id("8B88B3B464F2BF7E", 8) == "8b88b3b464f2bf7e"
    assert decode_id(None, 8) is None


@pytest.mark.skipif(not MLFLOW_FIXTURES, reason="no MLflow fixtures generated")
@pytest.mark.parametrize("path", MLFLOW_FIXTURES, ids=lambda p: p.stem)
def test_mlflow_written_trace_loads_and_reserialises_losslessly(path: Path) -> None:
    original = json.loads(path.read_text())
    trace = Trace.from_dict(original)
    assert trace.info.trace_id.startswith("tr-") and len(trace.info.trace_id) == 35
    assert trace.data.root_span is not None
    for span in trace.data.spans:
        assert len(span.span_id) == 16 and span.trace_id == trace.info.trace_id
    again = Trace.from_json(trace.to_json())
    assert again.to_json() == trace.to_json()
    _assert_nothing_lost(original, trace.to_dict())


def _assert_nothing_lost(original: dict, ours: dict) -> None:
    """Every fact MLflow wrote is in our output (ids re-encoded as hex, times equal)."""
    o_info, n_info = original["info"], ours["info"]
    for key, value in o_info.items():
        if key == "request_time":
            assert rfc3339_to_ms(n_info[key]) == rfc3339_to_ms(value)
        elif key == "assessments":
            assert len(n_info[key]) == len(value)
            for a, b in zip(value, n_info[key], strict=True):
                for k in a:
                    if k.endswith("_time"):
                        assert rfc3339_to_ms(a[k]) == rfc3339_to_ms(b[k])
                    else:
                        assert a[k] == b[k], (k, a[k], b[k])
        else:
            assert n_info[key] == value, key
    for o_span, n_span in zip(original["data"]["spans"], ours["data"]["spans"], strict=True):
        for key, value in o_span.items():
            if key in ("trace_id", "span_id", "parent_span_id"):
                n_bytes = 16 if key == "trace_id" else 8
                assert decode_id(value, n_bytes) == n_span[key]
            else:
                assert n_span[key] == value, key
