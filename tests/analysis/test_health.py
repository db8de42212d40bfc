"""``health``: the quick check; and one trace analysed after a trip through each store.

The store round trip matters: detectors read exception events, JSON payloads and
assessments as the store gives them back, on SQLite and on PostgreSQL alike.
"""

from __future__ import annotations

import json

from analysis_builders import TraceBuilder, completion, healthy_rag_trace, wrong_answer_trace

from factories import make_trace, sample_assessments
from spanscope.analysis import diagnose, health, profile_trace, render_tree
from spanscope.entities import AssessmentError, AssessmentSource, Feedback, Trace
from spanscope.store.sql import SqlStore


def failing_trace() -> Trace:
    b = TraceBuilder()
    root = b.add("agent", 0, 60, span_type="AGENT", error="KeyError: order A7 not found")
    b.add("plan", 1, 10, parent=root, span_type="CHAT_MODEL", error="RateLimitError: 429")
    b.add("plan", 12, 20, parent=root, span_type="CHAT_MODEL", outputs=completion("ok"))
    b.add("lookup_order", 21, 40, parent=root, span_type="TOOL", inputs={"order_id": "A7"},
          error="KeyError: order A7 not found")
    judge = AssessmentSource("LLM_JUDGE", "gpt-4o")
    return b.trace(assessments=[
        Feedback(name="safety", source=judge, error=AssessmentError("TIMEOUT", "timed out")),
        Feedback(name="correctness", value=False, source=judge, rationale="No answer."),
        Feedback(name="tone", source=judge, error=AssessmentError("PARSE", "bad json"),
                 valid=False),  # overridden: not counted
    ])


def test_health_names_error_spans_in_order_and_crashed_scorers() -> None:
    check = health(failing_trace())
    assert check.state == "ERROR" and check.span_count == 4 and check.duration_ms == 60
    assert check.error_spans == ["agent", "plan", "lookup_order"]
    assert check.assessment_errors == ["safety"]  # a failed value is not an error
    assert check.ok is False
    data = check.to_dict()
    assert json.loads(json.dumps(data)) == data
    assert data["error_spans"] == ["agent", "plan", "lookup_order"] and data["ok"] is False


def test_health_of_a_healthy_trace() -> None:
    trace = healthy_rag_trace()
    check = health(trace)
    assert (check.state, check.span_count, check.error_spans, check.assessment_errors) == (
        "OK", 4, [], [])
    assert check.ok and check.trace_id == trace.info.trace_id


def test_health_of_the_shared_factory_trace() -> None:
    trace = make_trace(4, state="ERROR", assessments=sample_assessments())
    check = health(trace)
    assert check.error_spans == ["agent", "search_web_3"]
    assert check.assessment_errors == ["safety"]


def test_analysis_of_a_stored_trace_matches_the_built_one(store: SqlStore) -> None:
    built = [failing_trace(), healthy_rag_trace(), wrong_answer_trace()[0]]
    store.log_traces(built)
    for original in built:
        stored = store.get_trace(original.info.trace_id)
        assert health(stored) == health(original)
        assert [f.to_dict() for f in diagnose(stored)] == [
            f.to_dict() for f in diagnose(original)]
        assert profile_trace(stored) == profile_trace(original)
        assert render_tree(stored) == render_tree(original)
    stored_failing = store.get_trace(built[0].info.trace_id)
    ranked = [(f.severity, f.kind, f.span_name) for f in diagnose(stored_failing)]
    assert ranked == [("high", "error_origin", "lookup_order"), ("medium", "retry", "plan"),
                      ("medium", "assessment_failed", None), ("low", "gap", "agent"),
                      ("low", "bottleneck", "agent"), ("low", "assessment_error", None)]
