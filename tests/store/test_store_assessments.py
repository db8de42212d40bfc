"""Assessments in every store: create, read, update with history, delete, JSON round trip."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from mutation_stores import STORE_KINDS, open_any_store

from factories import make_trace, sample_assessments
from spanscope.entities import (
    Assessment,
    AssessmentError,
    AssessmentSource,
    AssessmentSourceType,
    Expectation,
    Feedback,
    Trace,
)
from spanscope.exceptions import InvalidInputError, NotFoundError
from spanscope.store.base import TraceStore
from spanscope.store.mutations import ASSESSMENT_ID_LENGTH, SPAN_ID_LENGTH, TAG_KEY_LENGTH
from spanscope.store.sql import SqlStore, schema
from spanscope.store.sql.engine import parse_uri

UNKNOWN = "tr-" + "f" * 32
OLD = 1_600_000_000_000  # a creation time long past, so "moved forward" is visible
JUDGE = AssessmentSource(AssessmentSourceType.LLM_JUDGE, "gpt-4o")
ALICE = AssessmentSource(AssessmentSourceType.HUMAN, "alice")


@pytest.fixture(params=STORE_KINDS)
def any_store(request: pytest.FixtureRequest) -> Iterator[TraceStore]:
    yield from open_any_store(request)


@pytest.fixture
def trace(any_store: TraceStore) -> Trace:
    stored = make_trace(3)
    any_store.log_traces([stored, make_trace(2)])
    return stored


def feedback(trace: Trace, value: object = True, **kwargs: object) -> Feedback:
    kwargs.setdefault("source", JUDGE)
    kwargs.setdefault("create_time_ms", OLD)
    return Feedback(name=str(kwargs.pop("name", "correctness")), value=value,
                    trace_id=trace.info.trace_id, **kwargs)  # type: ignore[arg-type]


def assessments_json(store: TraceStore, trace_id: str) -> list[dict[str, object]]:
    return json.loads(store.get_trace(trace_id).to_json())["info"]["assessments"]


def by_id(store: TraceStore, trace_id: str) -> dict[str, Assessment]:
    return {a.assessment_id: a for a in store.get_trace(trace_id).info.assessments}


# --- create and read ------------------------------------------------------------------------
def test_created_assessments_round_trip_through_the_trace_json(any_store: TraceStore,
                                                               trace: Trace) -> None:
    trace_id = trace.info.trace_id
    created = []
    for assessment in sample_assessments(span_id=trace.data.spans[1].span_id):
        assessment.trace_id = trace_id
        created.append(any_store.create_assessment(assessment))
    assert assessments_json(any_store, trace_id) == [
        json.loads(json.dumps(a.to_dict())) for a in created]
    for a in created:
        assert any_store.get_assessment(trace_id, a.assessment_id).to_dict() == a.to_dict()
    shapes = {a["assessment_name"]: a for a in assessments_json(any_store, trace_id)}
    assert shapes["correctness"]["feedback"] == {"value": True}
    assert shapes["safety"]["feedback"]["error"]["error_code"] == "TIMEOUT"
    assert shapes["expected_response"]["expectation"] == {"value": "Paris"}
    assert shapes["expected_facts"]["expectation"]["serialized_value"]["value"] == json.dumps(
        {"facts": ["Paris is the capital"]})
    assert shapes["relevance"]["span_id"] == trace.data.spans[1].span_id


def test_new_assessments_go_after_the_logged_ones(any_store: TraceStore) -> None:
    logged = make_trace(2, assessments=sample_assessments()[:2])
    any_store.log_traces([logged])
    added = any_store.create_assessment(feedback(logged, name="later"))
    names = [a.name for a in any_store.get_trace(logged.info.trace_id).info.assessments]
    assert names == ["correctness", "relevance", "later"]
    assert any_store.get_assessment(logged.info.trace_id, added.assessment_id).name == "later"


def test_assessments_show_in_search_results(any_store: TraceStore, trace: Trace) -> None:
    a = any_store.create_assessment(feedback(trace, 0.25, name="quality"))
    found = {t.info.trace_id: t for t in any_store.search_traces(include_spans=False)}
    assert [x.assessment_id for x in found[trace.info.trace_id].info.assessments] == [
        a.assessment_id]


def test_error_feedback_never_changes_the_trace_state(any_store: TraceStore) -> None:
    ok, failed = make_trace(2), make_trace(3, state="ERROR")
    any_store.log_traces([ok, failed])
    for t in (ok, failed):
        any_store.create_assessment(Feedback(
            name="safety", trace_id=t.info.trace_id,
            error=AssessmentError("JUDGE_DOWN", "the judge is down")))
    assert str(any_store.get_trace(ok.info.trace_id).info.state) == "OK"
    assert str(any_store.get_trace(failed.info.trace_id).info.state) == "ERROR"
    listed = {t.info.trace_id: str(t.info.state)
              for t in any_store.search_traces(include_spans=False)}
    assert listed == {ok.info.trace_id: "OK", failed.info.trace_id: "ERROR"}


def test_an_assessment_survives_a_later_upsert_of_its_trace(any_store: TraceStore,
                                                             trace: Trace) -> None:
    a = any_store.create_assessment(feedback(trace))
    any_store.log_traces([trace])
    assert [x.assessment_id for x in any_store.get_trace(trace.info.trace_id).info.assessments
            ] == [a.assessment_id]


def test_create_on_an_unknown_trace_is_not_found(any_store: TraceStore, trace: Trace) -> None:
    with pytest.raises(NotFoundError) as caught:
        any_store.create_assessment(Feedback(name="x", value=1, trace_id=UNKNOWN))
    assert str(caught.value) == f"trace {UNKNOWN!r} not found"


@pytest.mark.parametrize(("make", "message"), [
    (lambda tid: Feedback(name="x", trace_id=tid), "feedback needs a value or an error"),
    (lambda tid: Expectation(name="x", trace_id=tid), "an expectation needs a value"),
    (lambda tid: Feedback(name="x", value={1, 2}, trace_id=tid), "got set"),
    (lambda tid: Feedback(name="x", value=object(), trace_id=tid), "got object"),
    (lambda tid: Feedback(name="x", value=float("nan"), trace_id=tid), "finite number"),
    (lambda tid: Feedback(name="x", value={"k": {1, 2}}, trace_id=tid), "plain JSON"),
    (lambda tid: Feedback(name="", value=1, trace_id=tid), "assessment name"),
    (lambda tid: Feedback(name="n" * (TAG_KEY_LENGTH + 1), value=1, trace_id=tid),
     "the limit is 250"),
    (lambda tid: Feedback(name="x", value=1, trace_id=tid, span_id="s" * 33),
     f"the limit is {SPAN_ID_LENGTH}"),
    (lambda tid: Feedback(name="x", value=1, trace_id=tid, assessment_id="a" * 65),
     f"the limit is {ASSESSMENT_ID_LENGTH}"),
    (lambda tid: Feedback(name="x", value=1, trace_id=tid, metadata={1: "a"}),
     "metadata must be a dict with string keys"),
    (lambda tid: Feedback(name="x", value=1, trace_id=tid, rationale=5),
     "rationale must be a string"),
    (lambda tid: Feedback(name="x", value=1), "names no trace"),
    (lambda tid: "not an assessment", "expected a Feedback or an Expectation"),
])
def test_bad_assessments_are_rejected(any_store: TraceStore, trace: Trace, make: object,
                                      message: str) -> None:
    with pytest.raises(InvalidInputError) as caught:
        any_store.create_assessment(make(trace.info.trace_id))  # type: ignore[operator]
    assert message in str(caught.value)
    assert any_store.get_trace(trace.info.trace_id).info.assessments == []


def test_an_assessment_id_is_used_once(any_store: TraceStore, trace: Trace) -> None:
    a = any_store.create_assessment(feedback(trace))
    with pytest.raises(InvalidInputError, match="already used"):
        any_store.create_assessment(feedback(trace, assessment_id=a.assessment_id))


@pytest.mark.parametrize("call", ["get", "update", "delete"])
def test_unknown_ids_name_what_is_missing(any_store: TraceStore, trace: Trace,
                                          call: str) -> None:
    other = make_trace(1)
    any_store.log_traces([other])
    elsewhere = any_store.create_assessment(feedback(other))
    trace_id = trace.info.trace_id

    def run(tid: str, aid: str) -> object:
        if call == "get":
            return any_store.get_assessment(tid, aid)
        if call == "update":
            return any_store.update_assessment(tid, aid, rationale="r")
        return any_store.delete_assessment(tid, aid)

    with pytest.raises(NotFoundError) as caught:
        run(UNKNOWN, elsewhere.assessment_id)
    assert str(caught.value) == f"trace {UNKNOWN!r} not found"
    with pytest.raises(NotFoundError) as caught:
        run(trace_id, "a-missing")
    assert str(caught.value) == f"assessment 'a-missing' not found on trace {trace_id!r}"
    with pytest.raises(NotFoundError):  # exists, but on another trace
        run(trace_id, elsewhere.assessment_id)
    assert any_store.get_assessment(other.info.trace_id, elsewhere.assessment_id).valid


# --- updates: history and in-place edits ------------------------------------------------
def test_a_new_value_overrides_and_keeps_the_old_one_as_history(any_store: TraceStore,
                                                                trace: Trace) -> None:
    trace_id = trace.info.trace_id
    old = any_store.create_assessment(feedback(trace, True, rationale="looks right",
                                               metadata={"k": "v"}))
    new = any_store.update_assessment(trace_id, old.assessment_id, value=False, source=ALICE)
    assert new.assessment_id != old.assessment_id
    assert (new.overrides, new.valid, new.value, new.source) == (
        old.assessment_id, True, False, ALICE)
    assert (new.name, new.rationale, new.metadata) == ("correctness", "looks right", {"k": "v"})
    assert new.create_time_ms > OLD
    stored = by_id(any_store, trace_id)
    assert list(stored) == [old.assessment_id, new.assessment_id]  # history, in order
    assert stored[old.assessment_id].valid is False
    assert stored[old.assessment_id].value is True
    assert stored[old.assessment_id].last_update_time_ms > OLD
    assert stored[new.assessment_id].to_dict() == new.to_dict()
    assert any_store.get_assessment(trace_id, old.assessment_id).valid is False


def test_source_defaults_to_the_old_one_on_override(any_store: TraceStore,
                                                    trace: Trace) -> None:
    old = any_store.create_assessment(feedback(trace, 1))
    new = any_store.update_assessment(trace.info.trace_id, old.assessment_id, value=2)
    assert new.source == JUDGE


def test_rationale_metadata_and_name_change_in_place(any_store: TraceStore,
                                                     trace: Trace) -> None:
    trace_id = trace.info.trace_id
    a = any_store.create_assessment(feedback(trace, rationale="r1", metadata={"k": "v"}))
    edited = any_store.update_assessment(trace_id, a.assessment_id, rationale="r2",
                                         metadata={"k2": 2}, source=ALICE)
    assert edited.assessment_id == a.assessment_id
    assert (edited.rationale, edited.metadata, edited.valid) == ("r2", {"k2": 2}, True)
    assert edited.source == JUDGE  # no new outcome: the source stays the judge's
    assert edited.create_time_ms == OLD
    assert edited.last_update_time_ms > OLD
    renamed = any_store.update_assessment(trace_id, a.assessment_id, name="accuracy",
                                          value=True)  # the same value: still in place
    assert renamed.assessment_id == a.assessment_id
    assert renamed.name == "accuracy"
    assert [x.to_dict() for x in any_store.get_trace(trace_id).info.assessments] == [
        renamed.to_dict()]


def test_unset_leaves_a_field_and_none_clears_it(any_store: TraceStore, trace: Trace) -> None:
    trace_id = trace.info.trace_id
    a = any_store.create_assessment(feedback(trace, rationale="why", metadata={"k": "v"}))
    kept = any_store.update_assessment(trace_id, a.assessment_id, name="correctness")
    assert (kept.rationale, kept.metadata) == ("why", {"k": "v"})
    cleared = any_store.update_assessment(trace_id, a.assessment_id, rationale=None,
                                          metadata=None)
    assert (cleared.rationale, cleared.metadata) == (None, None)
    data = assessments_json(any_store, trace_id)[0]
    assert "rationale" not in data and "metadata" not in data


def test_the_outcome_is_replaced_as_a_whole(any_store: TraceStore, trace: Trace) -> None:
    trace_id = trace.info.trace_id
    failed = any_store.create_assessment(Feedback(
        name="safety", trace_id=trace_id, error=AssessmentError("TIMEOUT", "slow")))
    fixed = any_store.update_assessment(trace_id, failed.assessment_id, value="safe")
    assert (fixed.value, fixed.error, fixed.overrides) == ("safe", None, failed.assessment_id)
    broken = any_store.update_assessment(trace_id, fixed.assessment_id,
                                         error=ValueError("judge crashed"))
    assert broken.value is None
    assert broken.error is not None and broken.error.error_code == "ValueError"
    assert "judge crashed" in (broken.error.stack_trace or "")
    chain = [a.assessment_id for a in any_store.get_trace(trace_id).info.assessments]
    assert chain == [failed.assessment_id, fixed.assessment_id, broken.assessment_id]
    assert [a.valid for a in any_store.get_trace(trace_id).info.assessments] == [
        False, False, True]


def test_expectations_are_overridden_too_and_have_no_error(any_store: TraceStore,
                                                           trace: Trace) -> None:
    trace_id = trace.info.trace_id
    e = any_store.create_assessment(Expectation(name="expected", value={"a": [1, 2]},
                                                trace_id=trace_id))
    same = any_store.update_assessment(trace_id, e.assessment_id, value={"a": [1, 2]})
    assert same.assessment_id == e.assessment_id
    new = any_store.update_assessment(trace_id, e.assessment_id, value=["b"])
    assert isinstance(new, Expectation) and new.value == ["b"]
    with pytest.raises(InvalidInputError, match="only feedback has an error"):
        any_store.update_assessment(trace_id, new.assessment_id, error=AssessmentError("X"))
    with pytest.raises(InvalidInputError, match="an expectation needs a value"):
        any_store.update_assessment(trace_id, new.assessment_id, value=None)


@pytest.mark.parametrize(("changes", "message"), [
    ({}, "changes nothing"),
    ({"value": None}, "feedback needs a value or an error"),
    ({"value": {1}}, "got set"),
    ({"name": ""}, "name must be a non-empty string"),
    ({"name": None}, "name must be a non-empty string"),
    ({"rationale": 3}, "rationale must be a string"),
    ({"metadata": ["x"]}, "metadata must be a dict"),
    ({"error": "boom"}, "error must be an exception or an AssessmentError"),
    ({"source": "HUMAN"}, "source must be an AssessmentSource"),
])
def test_bad_updates_change_nothing(any_store: TraceStore, trace: Trace,
                                    changes: dict[str, object], message: str) -> None:
    a = any_store.create_assessment(feedback(trace))
    before = assessments_json(any_store, trace.info.trace_id)
    with pytest.raises(InvalidInputError) as caught:
        any_store.update_assessment(trace.info.trace_id, a.assessment_id, **changes)
    assert message in str(caught.value)
    assert assessments_json(any_store, trace.info.trace_id) == before


def test_history_cannot_be_updated(any_store: TraceStore, trace: Trace) -> None:
    old = any_store.create_assessment(feedback(trace, 1))
    any_store.update_assessment(trace.info.trace_id, old.assessment_id, value=2)
    with pytest.raises(InvalidInputError, match="update the assessment that overrides it"):
        any_store.update_assessment(trace.info.trace_id, old.assessment_id, rationale="x")


def test_create_with_overrides_invalidates_the_overridden(any_store: TraceStore,
                                                          trace: Trace) -> None:
    trace_id = trace.info.trace_id
    old = any_store.create_assessment(feedback(trace, 1))
    new = any_store.create_assessment(feedback(trace, 2, overrides=old.assessment_id))
    assert any_store.get_assessment(trace_id, old.assessment_id).valid is False
    assert any_store.get_assessment(trace_id, new.assessment_id).overrides == old.assessment_id
    with pytest.raises(InvalidInputError, match="already overridden"):
        any_store.create_assessment(feedback(trace, 3, overrides=old.assessment_id))
    with pytest.raises(NotFoundError, match="assessment 'a-nope' not found"):
        any_store.create_assessment(feedback(trace, 3, overrides="a-nope"))


# --- delete -------------------------------------------------------------------------------
def test_deleting_the_current_one_restores_the_one_it_overrode(any_store: TraceStore,
                                                               trace: Trace) -> None:
    trace_id = trace.info.trace_id
    a = any_store.create_assessment(feedback(trace, 1))
    b = any_store.update_assessment(trace_id, a.assessment_id, value=2)
    c = any_store.update_assessment(trace_id, b.assessment_id, value=3)
    any_store.delete_assessment(trace_id, c.assessment_id)
    stored = by_id(any_store, trace_id)
    assert list(stored) == [a.assessment_id, b.assessment_id]
    assert (stored[a.assessment_id].valid, stored[b.assessment_id].valid) == (False, True)
    assert stored[b.assessment_id].value == 2
    any_store.delete_assessment(trace_id, b.assessment_id)
    assert [(x.assessment_id, x.valid) for x in any_store.get_trace(trace_id).info.assessments
            ] == [(a.assessment_id, True)]
    any_store.delete_assessment(trace_id, a.assessment_id)
    assert any_store.get_trace(trace_id).info.assessments == []
    with pytest.raises(NotFoundError):
        any_store.delete_assessment(trace_id, a.assessment_id)


def test_deleting_history_relinks_the_chain(any_store: TraceStore, trace: Trace) -> None:
    trace_id = trace.info.trace_id
    a = any_store.create_assessment(feedback(trace, 1))
    b = any_store.update_assessment(trace_id, a.assessment_id, value=2)
    c = any_store.update_assessment(trace_id, b.assessment_id, value=3)
    any_store.delete_assessment(trace_id, b.assessment_id)  # from the middle
    stored = by_id(any_store, trace_id)
    assert stored[c.assessment_id].overrides == a.assessment_id
    assert (stored[a.assessment_id].valid, stored[c.assessment_id].valid) == (False, True)
    any_store.delete_assessment(trace_id, c.assessment_id)
    assert any_store.get_assessment(trace_id, a.assessment_id).valid is True


def test_deleting_one_assessment_leaves_the_others(any_store: TraceStore) -> None:
    logged = make_trace(2, assessments=sample_assessments())
    any_store.log_traces([logged])
    doomed = logged.info.assessments[2]
    any_store.delete_assessment(logged.info.trace_id, doomed.assessment_id)
    assert assessments_json(any_store, logged.info.trace_id) == [
        json.loads(json.dumps(a.to_dict())) for a in logged.info.assessments if a is not doomed]


def test_concurrent_overrides_build_one_chain(any_store: TraceStore, trace: Trace) -> None:
    """Writers racing to override the current assessment take turns; none forks history."""
    trace_id = trace.info.trace_id
    any_store.create_assessment(feedback(trace, 0))
    errors: list[BaseException] = []

    def bump(i: int) -> None:
        for _ in range(5):
            current = next(a for a in any_store.get_trace(trace_id).info.assessments if a.valid)
            try:
                any_store.update_assessment(trace_id, current.assessment_id, value=i)
            except InvalidInputError as exc:  # overridden meanwhile by another writer: fine
                assert "overrides it" in str(exc)
            except BaseException as exc:
                errors.append(exc)

    threads = [threading.Thread(target=bump, args=(i + 1,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    chain = any_store.get_trace(trace_id).info.assessments
    assert sum(a.valid for a in chain) == 1
    targets = [a.overrides for a in chain if a.overrides is not None]
    assert len(targets) == len(set(targets)) == len(chain) - 1  # a line, not a tree


# --- SQL only: the columns filters read ----------------------------------------------------
def _rows(uri: str, trace_id: str) -> dict[str, tuple[object, ...]]:
    engine = sa.create_engine(parse_uri(uri))
    table = schema.assessments
    try:
        with engine.connect() as conn:
            rows = conn.execute(sa.select(table.c.assessment_id, table.c.name,
                                          table.c.numeric_value, table.c.valid,
                                          table.c.overrides, table.c.rationale)
                                .where(table.c.trace_id == trace_id))
            return {r.assessment_id: tuple(r)[1:] for r in rows}
    finally:
        engine.dispose()


def test_sql_columns_follow_every_change(store: SqlStore, store_uri: str) -> None:
    trace = make_trace(2)
    store.log_traces([trace])
    trace_id = trace.info.trace_id
    flag = store.create_assessment(feedback(trace, True, name="ok"))
    score = store.create_assessment(feedback(trace, 0.5, name="score"))
    text = store.create_assessment(feedback(trace, "fine", name="tone"))
    assert _rows(store_uri, trace_id) == {
        flag.assessment_id: ("ok", 1.0, True, None, None),
        score.assessment_id: ("score", 0.5, True, None, None),
        text.assessment_id: ("tone", None, True, None, None)}
    lower = store.update_assessment(trace_id, score.assessment_id, value=0.25)
    store.update_assessment(trace_id, flag.assessment_id, rationale="checked", name="okay")
    store.update_assessment(trace_id, text.assessment_id, value=False)
    rows = _rows(store_uri, trace_id)
    assert rows[score.assessment_id] == ("score", 0.5, False, None, None)
    assert rows[lower.assessment_id] == ("score", 0.25, True, score.assessment_id, None)
    assert rows[flag.assessment_id] == ("okay", 1.0, True, None, "checked")
    assert [r[1:3] for r in rows.values() if r[0] == "tone"] == [(None, False), (0.0, True)]
    store.delete_assessment(trace_id, lower.assessment_id)
    assert _rows(store_uri, trace_id)[score.assessment_id] == ("score", 0.5, True, None, None)


def test_filters_see_the_current_assessment_after_every_change(any_store: TraceStore,
                                                               trace: Trace) -> None:
    """The filter language reads the latest valid assessment: updates and deletes show."""
    trace_id = trace.info.trace_id

    def matching(text: str) -> list[str]:
        return any_store.search_trace_ids(["0"], filter_string=text)

    first = any_store.create_assessment(feedback(trace, True))
    score = any_store.create_assessment(feedback(trace, 0.4, name="score"))
    assert matching("feedback.correctness = true") == [trace_id]
    corrected = any_store.update_assessment(trace_id, first.assessment_id, value=False)
    assert matching("feedback.correctness = true") == []
    assert matching("feedback.correctness = false") == [trace_id]
    any_store.update_assessment(trace_id, score.assessment_id, value=0.9)
    assert matching("assessments.score.value > 0.5") == [trace_id]
    assert matching("assessments.score.value < 0.5") == []
    any_store.delete_assessment(trace_id, corrected.assessment_id)
    assert matching("feedback.correctness = true") == [trace_id]
