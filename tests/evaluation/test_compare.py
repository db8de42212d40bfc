"""``compare_evaluations``: metric deltas and rows matched by inputs, from results or runs."""

from __future__ import annotations

from typing import Any

import pytest

from spanscope.exceptions import InvalidInputError, NotFoundError
from spanscope.genai import compare_evaluations, evaluate
from spanscope.genai.scorers import scorer


@scorer
def exact_match(outputs: Any, expectations: dict[str, Any]) -> bool:
    return outputs == expectations["expected_response"]


@scorer
def verdict(outputs: Any) -> str:
    return "no" if "wrong" in str(outputs) else "yes"


def _data(answers: dict[str, str], *, reorder_keys: bool = False) -> list[dict[str, Any]]:
    rows = []
    for city, answer in answers.items():
        inputs = {"country": city, "lang": "en"}
        if reorder_keys:  # same inputs, other key order: must still match
            inputs = {"lang": "en", "country": city}
        rows.append({"inputs": inputs, "outputs": answer,
                     "expectations": {"expected_response": f"capital of {city}"}})
    return rows


@pytest.fixture
def two_runs(tracking_uri: str) -> tuple[Any, Any]:
    before = evaluate(_data({"France": "capital of France", "Spain": "capital of Spain",
                             "Chile": "capital of Chile"}), scorers=[exact_match, verdict])
    after = evaluate(_data({"Spain": "wrong answer", "France": "capital of France",
                            "Peru": "capital of Peru"}, reorder_keys=True),
                     scorers=[exact_match, verdict])
    return before, after


def _check(comparison: Any, before: Any, after: Any) -> None:
    assert (comparison.run_a, comparison.run_b) == (before.run_id, after.run_id)
    metrics = comparison.metrics.set_index("metric")
    assert metrics.loc["exact_match/mean", "a"] == 1.0
    assert metrics.loc["exact_match/mean", "b"] == pytest.approx(2 / 3)
    assert metrics.loc["exact_match/mean", "delta"] == pytest.approx(-1 / 3)
    assert metrics.loc["verdict/count", "delta"] == 0

    rows = {row["inputs"]["country"]: row for row in comparison.rows.to_dict("records")}
    assert set(rows) == {"France", "Spain", "Chile", "Peru"}
    assert rows["France"]["in_a"] and rows["France"]["in_b"]
    assert not rows["France"]["changed"] and rows["France"]["exact_match/delta"] == 0
    spain = rows["Spain"]
    assert (spain["exact_match/a"], spain["exact_match/b"]) == (True, False)
    assert spain["exact_match/delta"] == -1 and spain["verdict/delta"] == -1
    assert (spain["verdict/a"], spain["verdict/b"]) == ("yes", "no")
    assert (spain["outputs/a"], spain["outputs/b"]) == ("capital of Spain", "wrong answer")
    assert spain["changed"]
    assert rows["Chile"]["in_a"] and not rows["Chile"]["in_b"] and rows["Chile"]["changed"]
    assert rows["Peru"]["in_b"] and not rows["Peru"]["in_a"]
    assert sorted(r["inputs"]["country"] for r in comparison.changed_rows.to_dict("records")) \
        == ["Chile", "Peru", "Spain"]


def test_compare_results(two_runs: tuple[Any, Any]) -> None:
    before, after = two_runs
    _check(compare_evaluations(before, after), before, after)


def test_compare_run_ids_reads_the_logged_runs(two_runs: tuple[Any, Any]) -> None:
    before, after = two_runs
    comparison = compare_evaluations(before.run_id, after.run_id)
    _check(comparison, before, after)
    assert "changed_rows=3" in repr(comparison)


def test_compare_needs_evaluation_runs(tracking_uri: str) -> None:
    from spanscope.api import runs

    with runs.start_run() as plain:
        runs.log_metric("x", 1.0)
    with pytest.raises(NotFoundError, match="is it an evaluation run"):
        compare_evaluations(plain.info.run_id, plain.info.run_id)
    with pytest.raises(InvalidInputError, match="EvaluationResults or run ids"):
        compare_evaluations(42, "x")  # type: ignore[arg-type]
