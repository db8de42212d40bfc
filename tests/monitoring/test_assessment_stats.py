"""``assessment_stats``: the latest valid feedback of a name, counted in the store, the
same on SQLite, PostgreSQL and the in-memory reference."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from factories import make_trace
from spanscope.entities import AssessmentError, AssessmentSource, Feedback
from spanscope.exceptions import FilterError, InvalidInputError
from spanscope.store.aggregates import AssessmentStats, Selection
from spanscope.store.memory import InMemoryStore
from spanscope.store.sql import SqlStore

T0 = 1_700_000_000_000
JUDGE = AssessmentSource("LLM_JUDGE", "judge")


def _feedback(value: object, *, at: int, name: str = "safe",
              error: AssessmentError | None = None) -> Feedback:
    return Feedback(name=name, value=value, source=JUDGE, error=error, create_time_ms=at,
                    last_update_time_ms=at)


def _traces() -> list:
    """Eight traces: values of every kind, one overridden by a later feedback."""
    values = [True, False, "yes", "No", 0.5, "maybe", None, True]
    traces = []
    for i, value in enumerate(values):
        feedbacks = [_feedback(value, at=T0 + i,
                               error=AssessmentError("TIMEOUT", "judge timed out")
                               if value is None else None)]
        if i == 7:  # a later feedback on the same trace is the one that counts
            feedbacks.append(_feedback(False, at=T0 + 100))
        feedbacks.append(_feedback(1, at=T0 + i, name="other"))
        traces.append(make_trace(request_time=T0 + i * 1000, assessments=feedbacks,
                                 tags={"half": "a" if i < 4 else "b"}))
    traces.append(make_trace(request_time=T0 + 9000))  # no feedback at all
    return traces


@pytest.fixture
def stores(store_uri: str) -> Iterator[tuple[SqlStore, InMemoryStore]]:
    sql, memory = SqlStore(store_uri), InMemoryStore()
    traces = _traces()
    sql.log_traces(traces)
    memory.log_traces(traces)
    yield sql, memory
    sql.close()


def test_counts_follow_the_latest_valid_feedback(stores: tuple) -> None:
    sql, memory = stores
    want = AssessmentStats("safe", count=8, errors=1, numeric_n=6, numeric_sum=2.5,
                           passed=2)  # true, "yes"; the last trace's true was superseded
    for store in (sql, memory):
        got = store.assessment_stats(Selection(), "safe")
        assert got == want
        assert got.mean == pytest.approx(2.5 / 6)
        assert got.pass_rate == pytest.approx(2 / 7)


@pytest.mark.parametrize("selection", [
    Selection(filter_string="tags.half = 'a'"), Selection(start_ms=T0 + 4000),
    Selection(("0",), "feedback.safe = true"), Selection(end_ms=T0), Selection(("1",)),
])
def test_selections_agree_with_the_reference(stores: tuple, selection: Selection) -> None:
    sql, memory = stores
    assert sql.assessment_stats(selection, "safe") == memory.assessment_stats(selection, "safe")


def test_an_unknown_name_counts_nothing(stores: tuple) -> None:
    sql, _ = stores
    got = sql.assessment_stats(Selection(), "nobody")
    assert (got.count, got.mean, got.pass_rate) == (0, None, None)


def test_bad_input_is_a_clear_error(stores: tuple) -> None:
    sql, _ = stores
    with pytest.raises(FilterError):
        sql.assessment_stats(Selection(filter_string="tags.x = "), "safe")
    with pytest.raises(InvalidInputError, match="assessment name"):
        sql.assessment_stats(Selection(), "")
