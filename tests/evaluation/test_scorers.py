"""Code scorers: the ``@scorer`` decorator, what a scorer may return, and its failures."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from spanscope.entities import AssessmentSource, AssessmentSourceType, Feedback
from spanscope.evaluation.metrics import compute_metrics, numeric_value
from spanscope.exceptions import InvalidInputError
from spanscope.genai.scorers import Scorer, scorer

ROW: dict[str, Any] = {"inputs": {"question": "capital of France?"}, "outputs": "Paris",
                       "expectations": {"expected_response": "Paris"}, "trace": None}


def test_bare_decorator_names_the_scorer_after_the_function() -> None:
    @scorer
    def exact_match(outputs: str, expectations: dict[str, Any]) -> bool:
        return outputs == expectations["expected_response"]

    assert isinstance(exact_match, Scorer)
    assert exact_match.name == "exact_match"
    assert exact_match.fields == {"outputs", "expectations"}
    [feedback] = exact_match.run(**ROW)
    assert (feedback.name, feedback.value, feedback.error) == ("exact_match", True, None)
    assert feedback.source == AssessmentSource(AssessmentSourceType.CODE, "exact_match")
    # called directly, a scorer returns what the function returns
    assert exact_match(outputs="Lyon", expectations={"expected_response": "Paris"}) is False


def test_decorator_with_a_name_and_any_subset_of_fields() -> None:
    @scorer(name="answer_length")
    def length(outputs: str) -> int:
        return len(outputs)

    @scorer
    def sees_everything(**kwargs: Any) -> str:
        return ",".join(sorted(k for k, v in kwargs.items() if v is not None))

    @scorer
    def no_fields() -> float:
        return 0.5

    assert length.name == "answer_length" and length.fields == {"outputs"}
    assert length.run(**ROW)[0].value == 5
    assert sees_everything.run(**ROW)[0].value == "expectations,inputs,outputs"
    assert no_fields.run(**ROW)[0].value == 0.5


def test_a_parameter_that_is_not_a_row_field_is_refused() -> None:
    with pytest.raises(InvalidInputError, match="has parameter 'answer'; a scorer takes any "
                                                "of inputs, outputs, expectations, trace"):
        @scorer
        def bad(answer: str) -> bool:
            return True

    @scorer
    def with_default(outputs: str, threshold: int = 3) -> bool:  # defaults are fine
        return len(outputs) > threshold

    assert with_default.run(**ROW)[0].value is True


def test_feedback_keeps_its_rationale_and_takes_the_scorer_name() -> None:
    @scorer
    def politeness(outputs: str) -> Feedback:
        return Feedback(value="no", rationale="no greeting")

    @scorer
    def named(outputs: str) -> Feedback:
        return Feedback(name="custom_name", value=1,
                        source=AssessmentSource("HUMAN", "reviewer"))

    [polite] = politeness.run(**ROW)
    assert (polite.name, polite.value, polite.rationale) == ("politeness", "no", "no greeting")
    assert polite.source.source_id == "politeness"
    [custom] = named.run(**ROW)
    assert custom.name == "custom_name"
    assert custom.source == AssessmentSource("HUMAN", "reviewer")


def test_a_list_of_feedbacks_is_one_metric_each() -> None:
    @scorer
    def checks(outputs: str) -> list[Feedback]:
        return [Feedback(name="short", value=len(outputs) < 10),
                Feedback(name="capitalised", value=outputs[0].isupper()),
                Feedback(value="extra")]

    feedbacks = checks.run(**ROW)
    assert [(f.name, f.value) for f in feedbacks] == [("short", True), ("capitalised", True),
                                                     ("checks_2", "extra")]

    @scorer
    def clash(outputs: str) -> list[Feedback]:
        return [Feedback(name="x", value=1), Feedback(name="x", value=2)]

    [error] = clash.run(**ROW)
    assert error.error.error_code == "InvalidInputError"
    assert "repeated names" in error.error.error_message


def test_exceptions_and_bad_values_become_assessment_errors() -> None:
    @scorer
    def crashes(outputs: str) -> bool:
        raise KeyError("expected_response")

    @scorer
    def returns_none(outputs: str) -> None:
        return None

    @scorer
    def returns_nan(outputs: str) -> float:
        return float("nan")

    [crash] = crashes.run(**ROW)
    assert crash.value is None
    assert crash.error.error_code == "KeyError"
    assert "expected_response" in crash.error.error_message
    assert "raise KeyError" in crash.error.stack_trace
    assert returns_none.run(**ROW)[0].error.error_message.startswith(
        "scorer 'returns_none' returned None")
    assert "not a finite number" in returns_nan.run(**ROW)[0].error.error_message


def test_numpy_scalars_are_plain_values() -> None:
    @scorer
    def similarity(outputs: str) -> Any:
        return np.float32(0.75)

    value = similarity.run(**ROW)[0].value
    assert value == 0.75 and type(value) is float


def test_aggregations_are_checked_and_used() -> None:
    with pytest.raises(InvalidInputError, match="unknown aggregation"):
        scorer(lambda outputs: 1, name="x", aggregations=["mean", "p99"])

    @scorer(aggregations=["mean", "min", "max", "median", "p90", "variance"])
    def score(outputs: Any) -> float:
        return float(outputs)

    rows = [score.run(outputs=v) for v in (1, 2, 3, 4, 10)]
    metrics = compute_metrics(rows, {"score": score.aggregations})
    assert metrics == pytest.approx({"score/mean": 4.0, "score/min": 1.0, "score/max": 10.0,
                                     "score/median": 3.0, "score/p90": 7.6,
                                     "score/variance": 10.0, "score/count": 5.0,
                                     "score/error_count": 0.0})


def test_metric_values_count_yes_and_bools_as_one() -> None:
    assert [numeric_value(v) for v in ("yes", "No", True, False, 3, 2.5, "maybe", [1])] == \
        [1.0, 0.0, 1.0, 0.0, 3.0, 2.5, None, None]
    rows = [[Feedback(name="safety", value="yes")], [Feedback(name="safety", value="no")],
            [Feedback(name="safety", value="yes")],
            [Feedback(name="safety", error=ValueError("judge down"))],
            [Feedback(name="tone", value="friendly")]]
    metrics = compute_metrics(rows, {})
    assert metrics["safety/mean"] == pytest.approx(2 / 3)
    assert (metrics["safety/count"], metrics["safety/error_count"]) == (3.0, 1.0)
    assert "tone/mean" not in metrics and metrics["tone/count"] == 1.0
