"""``spanscope.log_feedback`` … ``delete_assessment`` on a real SQLite store, traced for real."""

from __future__ import annotations

import getpass
import json
from collections.abc import Iterator

import pytest

import spanscope
from factories import make_trace
from spanscope import tracking
from spanscope.entities import (
    Assessment,
    AssessmentError,
    AssessmentSource,
    AssessmentSourceType,
    Expectation,
    Feedback,
)
from spanscope.exceptions import InvalidInputError, NotFoundError
from spanscope.testing import reset_tracing


@pytest.fixture(autouse=True)
def uri(tmp_path: object) -> Iterator[str]:
    """A fresh SQLite file as the tracking URI, with tracing state reset around the test."""
    reset_tracing()
    value = f"sqlite:///{tmp_path}/api.db"
    spanscope.set_tracking_uri(value)
    yield value
    reset_tracing()


@pytest.fixture
def trace_id() -> str:
    trace = make_trace(3)
    tracking.get_store().log_traces([trace])
    return trace.info.trace_id


def assessments_json(trace_id: str) -> list[dict[str, object]]:
    return json.loads(spanscope.get_trace(trace_id).to_json())["info"]["assessments"]


def test_log_feedback_defaults_to_a_human_source_and_the_name_feedback(trace_id: str) -> None:
    fb = spanscope.log_feedback(trace_id, value=4)
    assert isinstance(fb, Feedback)
    assert (fb.name, fb.value, fb.trace_id, fb.valid) == ("feedback", 4, trace_id, True)
    assert fb.source == AssessmentSource(AssessmentSourceType.HUMAN, getpass.getuser())
    assert assessments_json(trace_id) == [json.loads(json.dumps(fb.to_dict()))]


def test_log_feedback_keeps_everything_it_was_given(trace_id: str) -> None:
    span_id = spanscope.get_trace(trace_id).data.spans[1].span_id
    judge = AssessmentSource("llm_judge", "openai:/gpt-4o-mini")
    fb = spanscope.log_feedback(trace_id, "relevance", {"score": 0.8, "labels": ["a"]},
                                source=judge, rationale="on topic", metadata={"cost": "0.01"},
                                span_id=span_id)
    (stored,) = spanscope.get_trace(trace_id).info.assessments
    assert stored.to_dict() == fb.to_dict()
    assert (stored.value, stored.rationale, stored.metadata, stored.span_id) == (
        {"score": 0.8, "labels": ["a"]}, "on topic", {"cost": "0.01"}, span_id)
    assert stored.source.source_type == AssessmentSourceType.LLM_JUDGE
    assert spanscope.get_assessment(trace_id, fb.assessment_id).to_dict() == fb.to_dict()


@pytest.mark.parametrize("value", ["text", 3, 2.5, True, False, [1, "a"], {"k": [None]}])
def test_every_value_type_round_trips(trace_id: str, value: object) -> None:
    fb = spanscope.log_feedback(trace_id, "v", value)
    ex = spanscope.log_expectation(trace_id, "e", value)
    got = {a.assessment_id: a.value for a in spanscope.get_trace(trace_id).info.assessments}
    assert got[fb.assessment_id] == value and type(got[fb.assessment_id]) is type(value)
    assert got[ex.assessment_id] == value and type(got[ex.assessment_id]) is type(value)


@pytest.mark.parametrize("value", [{1, 2}, (1, 2), object(), b"bytes", float("inf")])
def test_other_value_types_are_rejected(trace_id: str, value: object) -> None:
    with pytest.raises(InvalidInputError, match="value must be"):
        spanscope.log_feedback(trace_id, "v", value)
    with pytest.raises(InvalidInputError, match="value must be"):
        spanscope.log_expectation(trace_id, "e", value)
    assert spanscope.get_trace(trace_id).info.assessments == []


def test_feedback_needs_a_value_or_an_error(trace_id: str) -> None:
    with pytest.raises(InvalidInputError, match="feedback needs a value or an error"):
        spanscope.log_feedback(trace_id, "empty")


def test_an_exception_becomes_the_error_and_the_trace_state_stays(trace_id: str) -> None:
    try:
        raise TimeoutError("judge timed out after 30 s")
    except TimeoutError as exc:
        fb = spanscope.log_feedback(trace_id, "safety", error=exc)
    assert fb.error is not None
    assert (fb.error.error_code, fb.error.error_message) == (
        "TimeoutError", "judge timed out after 30 s")
    assert "raise TimeoutError" in (fb.error.stack_trace or "")
    trace = spanscope.get_trace(trace_id)
    assert str(trace.info.state) == "OK"
    data = assessments_json(trace_id)[0]
    assert data["feedback"] == {"value": None, "error": fb.error.to_dict()}


def test_an_assessment_error_is_kept_as_given(trace_id: str) -> None:
    error = AssessmentError("RATE_LIMIT", "429 from the judge")
    fb = spanscope.log_feedback(trace_id, "safety", error=error)
    assert spanscope.get_assessment(trace_id, fb.assessment_id).error == error
    with pytest.raises(InvalidInputError, match="error must be an exception"):
        spanscope.log_feedback(trace_id, "safety", error="it broke")  # type: ignore[arg-type]


def test_log_expectation(trace_id: str) -> None:
    ex = spanscope.log_expectation(trace_id, "expected_facts", ["Paris", "capital"])
    assert isinstance(ex, Expectation)
    assert ex.source.source_type == AssessmentSourceType.HUMAN
    data = assessments_json(trace_id)[0]
    assert data["expectation"]["serialized_value"]["value"] == '["Paris", "capital"]'
    with pytest.raises(InvalidInputError, match="an expectation needs a value"):
        spanscope.log_expectation(trace_id, "none", None)


def test_source_must_be_an_assessment_source(trace_id: str) -> None:
    with pytest.raises(InvalidInputError, match="source must be an AssessmentSource"):
        spanscope.log_feedback(trace_id, "x", 1, source="HUMAN")  # type: ignore[arg-type]


def test_unknown_trace_is_not_found() -> None:
    missing = "tr-" + "0" * 32
    for call in (lambda: spanscope.log_feedback(missing, "x", 1),
                 lambda: spanscope.log_expectation(missing, "x", 1),
                 lambda: spanscope.get_assessment(missing, "a-1"),
                 lambda: spanscope.delete_assessment(missing, "a-1")):
        with pytest.raises(NotFoundError, match=f"trace '{missing}' not found"):
            call()


# --- update and delete --------------------------------------------------------------------
def test_update_with_a_new_value_overrides_with_me_as_source(trace_id: str) -> None:
    judge = AssessmentSource("LLM_JUDGE", "gpt-4o")
    old = spanscope.log_feedback(trace_id, "correctness", True, source=judge, rationale="r")
    new = spanscope.update_assessment(trace_id, old.assessment_id, value=False)
    assert (new.overrides, new.value, new.rationale) == (old.assessment_id, False, "r")
    assert new.source == AssessmentSource.current_user()
    history = spanscope.get_trace(trace_id).info.assessments
    assert [(a.assessment_id, a.valid) for a in history] == [
        (old.assessment_id, False), (new.assessment_id, True)]


def test_update_with_an_assessment_object_as_mlflow_does(trace_id: str) -> None:
    old = spanscope.log_feedback(trace_id, "correctness", True, rationale="first look",
                                 metadata={"k": "v"})
    new = spanscope.update_assessment(
        trace_id, old.assessment_id,
        Feedback(value=False, rationale="checked the policy", source=AssessmentSource(
            "HUMAN", "bob")))
    assert new.name == "correctness"  # the object's default name "feedback" is not used
    assert (new.value, new.rationale, new.metadata) == (False, "checked the policy",
                                                        {"k": "v"})
    assert new.source == AssessmentSource("HUMAN", "bob")
    assert spanscope.get_assessment(trace_id, old.assessment_id).valid is False
    # the same value with a new rationale edits in place
    edited = spanscope.update_assessment(trace_id, new.assessment_id,
                                         Feedback(value=False, rationale="final"))
    assert edited.assessment_id == new.assessment_id and edited.rationale == "final"


def test_update_rejects_a_mismatched_object_or_mixed_arguments(trace_id: str) -> None:
    fb = spanscope.log_feedback(trace_id, "correctness", True)
    with pytest.raises(InvalidInputError, match="cannot be updated with a Expectation"):
        spanscope.update_assessment(trace_id, fb.assessment_id,
                                    Expectation(name="x", value=1))
    with pytest.raises(InvalidInputError, match="not both"):
        spanscope.update_assessment(trace_id, fb.assessment_id, Feedback(value=1),
                                    rationale="x")
    with pytest.raises(InvalidInputError, match="changes nothing"):
        spanscope.update_assessment(trace_id, fb.assessment_id)


def test_update_rationale_only_keeps_the_id_and_none_clears(trace_id: str) -> None:
    fb = spanscope.log_feedback(trace_id, "tone", "friendly", rationale="polite")
    edited = spanscope.update_assessment(trace_id, fb.assessment_id, rationale=None)
    assert edited.assessment_id == fb.assessment_id
    assert edited.rationale is None and edited.value == "friendly"
    assert len(spanscope.get_trace(trace_id).info.assessments) == 1


def test_update_to_an_error_records_a_scorer_failure(trace_id: str) -> None:
    fb = spanscope.log_feedback(trace_id, "safety", "safe")
    failed = spanscope.update_assessment(trace_id, fb.assessment_id,
                                         error=RuntimeError("judge crashed"))
    assert failed.value is None and failed.error is not None
    assert failed.error.error_code == "RuntimeError"
    assert str(spanscope.get_trace(trace_id).info.state) == "OK"


def test_delete_restores_the_overridden_assessment(trace_id: str) -> None:
    old = spanscope.log_feedback(trace_id, "correctness", True)
    new = spanscope.update_assessment(trace_id, old.assessment_id, value=False)
    spanscope.delete_assessment(trace_id, new.assessment_id)
    (only,) = spanscope.get_trace(trace_id).info.assessments
    assert (only.assessment_id, only.valid, only.value) == (old.assessment_id, True, True)
    with pytest.raises(NotFoundError, match=f"assessment '{new.assessment_id}' not found"):
        spanscope.get_assessment(trace_id, new.assessment_id)


def test_a_trace_that_just_finished_can_be_assessed_at_once() -> None:
    """The SDK's pending traces are flushed first, so no sleep or flush() is needed."""
    @spanscope.trace(name="answer")
    def answer(question: str) -> str:
        return "Paris"

    assert answer("Capital of France?") == "Paris"
    trace_id = spanscope.get_last_active_trace_id()
    assert trace_id is not None
    fb = spanscope.log_feedback(trace_id, "correctness", True)
    spanscope.set_trace_tag(trace_id, "reviewed", "yes")
    trace = spanscope.get_trace(trace_id)
    assert [a.assessment_id for a in trace.info.assessments] == [fb.assessment_id]
    assert trace.info.tags["reviewed"] == "yes"


def test_assessment_names_are_exported() -> None:
    assert spanscope.Assessment is Assessment
    assert spanscope.AssessmentError is AssessmentError
    assert spanscope.AssessmentSourceType is AssessmentSourceType
