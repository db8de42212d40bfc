"""``spanscope.set_trace_tag``, ``delete_trace_tag`` and ``delete_traces`` on real SQLite."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

import spanscope
from factories import make_trace
from spanscope import tracking
from spanscope.entities import Trace
from spanscope.exceptions import FilterError, InvalidInputError, NotFoundError
from spanscope.testing import reset_tracing

T0 = 1_700_000_000_000


@pytest.fixture(autouse=True)
def uri(tmp_path: object) -> Iterator[str]:
    reset_tracing()
    value = f"sqlite:///{tmp_path}/api.db"
    spanscope.set_tracking_uri(value)
    yield value
    reset_tracing()


def log(n: int, *, experiment_id: str = "0", start: int = 0) -> list[Trace]:
    traces = [make_trace(1, request_time=T0 + (start + i) * 1000, experiment_id=experiment_id)
              for i in range(n)]
    tracking.get_store().log_traces(traces)
    return traces


def remaining(experiment_id: str = "0") -> set[str]:
    return {t.info.trace_id for t in spanscope.search_traces(
        [experiment_id], return_type="list", include_spans=False)}


def test_set_and_delete_a_tag() -> None:
    (trace,) = log(1)
    trace_id = trace.info.trace_id
    spanscope.set_trace_tag(trace_id, "quality", "good")
    assert spanscope.get_trace(trace_id).info.tags["quality"] == "good"
    spanscope.delete_trace_tag(trace_id, "quality")
    assert "quality" not in spanscope.get_trace(trace_id).info.tags
    with pytest.raises(NotFoundError, match=f"tag 'quality' not found on trace '{trace_id}'"):
        spanscope.delete_trace_tag(trace_id, "quality")
    with pytest.raises(NotFoundError, match="trace 'tr-nope' not found"):
        spanscope.set_trace_tag("tr-nope", "k", "v")
    with pytest.raises(InvalidInputError, match="must be a string"):
        spanscope.set_trace_tag(trace_id, "score", 0.5)  # type: ignore[arg-type]


def test_delete_by_time_acts_on_the_active_experiment() -> None:
    other = spanscope.set_experiment("other")
    theirs = log(3, experiment_id=other)
    ours = log(3)
    spanscope.set_experiment(experiment_id="0")
    assert spanscope.delete_traces(max_timestamp_millis=T0 + 10**9, max_traces=2) == 2
    assert remaining() == {ours[2].info.trace_id}
    assert remaining(other) == {t.info.trace_id for t in theirs}
    assert spanscope.delete_traces(other, max_timestamp_millis=T0 + 10**9) == 3


def test_delete_by_ids_without_experiment_deletes_them_anywhere() -> None:
    other = tracking.get_store().create_experiment("other")
    theirs, ours = log(2, experiment_id=other), log(2)
    ids = [theirs[0].info.trace_id, ours[0].info.trace_id, "tr-unknown"]
    assert spanscope.delete_traces(trace_ids=ids, dry_run=True) == 2
    assert spanscope.delete_traces(trace_ids=ids) == 2
    assert remaining(other) == {theirs[1].info.trace_id}
    # with an experiment, only the ids in it go
    ids = [theirs[1].info.trace_id, ours[1].info.trace_id]
    assert spanscope.delete_traces("0", trace_ids=ids) == 1
    assert remaining(other) == {theirs[1].info.trace_id}


@pytest.mark.parametrize(("kwargs", "message"), [
    ({}, "exactly one of trace_ids, max_timestamp_millis or filter_string (got none)"),
    ({"trace_ids": ["a"], "max_timestamp_millis": 1}, "(got trace_ids, max_timestamp_millis)"),
    ({"trace_ids": ["a"], "max_traces": 3}, "max_traces does not apply to trace_ids"),
    ({"experiment_id": "0", "trace_ids": ["a"], "max_traces": 3}, "max_traces applies to"),
])
def test_delete_argument_errors(kwargs: dict[str, object], message: str) -> None:
    log(2)
    with pytest.raises(InvalidInputError) as caught:
        spanscope.delete_traces(**kwargs)  # type: ignore[arg-type]
    assert message in str(caught.value)
    assert len(remaining()) == 2


def test_a_just_finished_trace_can_be_deleted_at_once() -> None:
    @spanscope.trace
    def work() -> int:
        return 1

    work()
    trace_id = spanscope.get_last_active_trace_id()
    assert spanscope.delete_traces(trace_ids=[trace_id]) == 1
    with pytest.raises(NotFoundError):
        spanscope.get_trace(trace_id)


# --- by filter --------------------------------------------------------------------------------
def tagged(envs: str, *, experiment_id: str = "0") -> list[Trace]:
    """One trace per letter, oldest first: d = env dev, p = env prod."""
    traces = [make_trace(1, request_time=T0 + i * 1000, experiment_id=experiment_id,
                         tags={"env": "dev" if c == "d" else "prod"})
              for i, c in enumerate(envs)]
    tracking.get_store().log_traces(traces)
    return traces


def test_delete_by_filter_in_the_experiment() -> None:
    other = tracking.get_store().create_experiment("other")
    mine, theirs = tagged("dpddp"), tagged("dd", experiment_id=other)
    assert spanscope.delete_traces(filter_string="tags.env = 'dev'", dry_run=True) == 3
    assert len(remaining()) == 5
    assert spanscope.delete_traces(filter_string="tags.env = 'dev'") == 3
    assert remaining() == {mine[1].info.trace_id, mine[4].info.trace_id}
    assert remaining(other) == {t.info.trace_id for t in theirs}
    assert spanscope.delete_traces(other, filter_string="tags.env = 'dev' OR "
                                                        "tags.env = 'prod'") == 2
    assert spanscope.delete_traces(filter_string="tags.env = 'nothing'") == 0


def test_delete_by_filter_with_max_traces_takes_the_oldest() -> None:
    traces = tagged("ddddp")
    assert spanscope.delete_traces(filter_string="tags.env = 'dev'", max_traces=3) == 3
    assert remaining() == {traces[3].info.trace_id, traces[4].info.trace_id}
    with pytest.raises(InvalidInputError, match="max_traces must be an integer >= 1"):
        spanscope.delete_traces(filter_string="tags.env = 'dev'", max_traces=0)


def test_a_bad_filter_deletes_nothing() -> None:
    tagged("dd")
    with pytest.raises(FilterError) as caught:
        spanscope.delete_traces(filter_string="tags.env = ")
    assert "position" in str(caught.value)
    with pytest.raises(NotFoundError, match="experiment '42' not found"):
        spanscope.delete_traces("42", filter_string="tags.env = 'dev'")
    assert len(remaining()) == 2
