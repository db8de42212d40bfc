"""log_traces upserts: a trace arriving in parts, re-logged tags, kept assessments."""

from __future__ import annotations

import copy
import dataclasses

import pytest
import sqlalchemy as sa

from factories import make_trace, sample_assessments
from spanscope.entities import Feedback, Span, Trace, TraceData, TraceInfo
from spanscope.exceptions import InvalidInputError, NotFoundError
from spanscope.store.sql import SqlStore
from spanscope.store.sql.engine import parse_uri


def _part(trace: Trace, spans: list[Span], **info_changes: object) -> Trace:
    info = copy.deepcopy(trace.info)
    for key, value in info_changes.items():
        setattr(info, key, value)
    return Trace(info, TraceData(spans))


def _summary(uri: str, trace_id: str) -> dict[str, object]:
    engine = sa.create_engine(parse_uri(uri))
    with engine.connect() as conn:
        row = conn.execute(sa.text("SELECT * FROM traces WHERE trace_id = :t"),
                           {"t": trace_id}).mappings().one()
    engine.dispose()
    return dict(row)


def test_trace_arriving_in_parts_is_merged(store: SqlStore, store_uri: str) -> None:
    full = make_trace(6, session_id="s-1")
    root, *children = full.data.spans
    first = _part(full, children[:3], state="IN_PROGRESS", execution_duration=None,
                  tags={"a": "1", "stage": "first"}, assessments=[])
    store.log_traces([first])
    assert _summary(store_uri, full.info.trace_id)["span_count"] == 3
    assert _summary(store_uri, full.info.trace_id)["name"] is None  # no root, no name tag

    second = _part(full, [root, *children[3:]], tags={"stage": "second", "z": "9"})
    store.log_traces([second])

    got = store.get_trace(full.info.trace_id)
    assert [s.span_id for s in got.data.spans] == [s.span_id for s in children[:3]] + [
        root.span_id, *(s.span_id for s in children[3:])]
    assert got.info.tags == {"a": "1", "stage": "second", "z": "9"}
    assert list(got.info.tags) == ["a", "stage", "z"]  # stored order, new keys last
    assert got.info.state == "OK"  # the summary is the newest part's
    assert got.info.execution_duration == full.info.execution_duration
    summary = _summary(store_uri, full.info.trace_id)
    assert summary["span_count"] == 6
    assert summary["name"] == "agent"  # the root span's name, now that it has arrived
    assert summary["state"] == "OK"
    assert summary["session_id"] == "s-1"
    assert summary["total_tokens"] == 150


def test_same_span_id_is_replaced_in_place(store: SqlStore) -> None:
    trace = make_trace(3)
    store.log_traces([trace])
    old = trace.data.spans[1]
    new = Span.build(trace_id=old.trace_id, span_id=old.span_id, parent_id=old.parent_id,
                     name="renamed", start_time_ns=old.start_time_ns,
                     end_time_ns=old.end_time_ns, outputs={"v": 2})
    store.log_traces([_part(trace, [new])])
    got = store.get_trace(trace.info.trace_id)
    assert [s.span_id for s in got.data.spans] == [s.span_id for s in trace.data.spans]
    assert got.data.spans[1].name == "renamed"
    assert got.data.spans[1].outputs == {"v": 2}
    assert len(got.data.spans) == 3


def test_metadata_merges_and_new_value_wins(store: SqlStore, store_uri: str) -> None:
    trace = make_trace(2, metadata={"k1": "old", "k2": "keep"}, user_id="u-old")
    store.log_traces([trace])
    update = _part(trace, [], trace_metadata={"k1": "new", "mlflow.trace.user": "u-new"})
    store.log_traces([update])
    got = store.get_trace(trace.info.trace_id)
    assert got.info.trace_metadata["k1"] == "new"
    assert got.info.trace_metadata["k2"] == "keep"
    assert got.info.user_id == "u-new"
    assert _summary(store_uri, trace.info.trace_id)["user_id"] == "u-new"
    assert _summary(store_uri, trace.info.trace_id)["span_count"] == 2


def test_stored_assessments_are_kept_and_only_new_ids_added(store: SqlStore) -> None:
    trace = make_trace(2, assessments=sample_assessments())
    store.log_traces([trace])
    first = trace.info.assessments[0]
    changed = copy.deepcopy(first)
    changed.value = False  # same id: must not overwrite the stored one
    extra = Feedback(name="later", value=3, trace_id=trace.info.trace_id)
    store.log_traces([_part(trace, [], assessments=[changed, extra])])
    got = store.get_trace(trace.info.trace_id)
    assert [a.assessment_id for a in got.info.assessments] == [
        *(a.assessment_id for a in trace.info.assessments), extra.assessment_id]
    assert got.info.assessments[0].value is True
    # Re-logging the original trace unchanged is a no-op for the reader.
    store.log_traces([trace])
    again = store.get_trace(trace.info.trace_id)
    assert len(again.info.assessments) == len(trace.info.assessments) + 1


def test_relogging_identical_trace_changes_nothing(store: SqlStore) -> None:
    trace = make_trace(4, assessments=sample_assessments())
    store.log_traces([trace])
    store.log_traces([trace])
    assert store.get_trace(trace.info.trace_id).to_json() == trace.to_json()


def test_same_trace_twice_in_one_batch(store: SqlStore) -> None:
    full = make_trace(5)
    root, *children = full.data.spans
    store.log_traces([_part(full, children), make_trace(2), _part(full, [root])])
    got = store.get_trace(full.info.trace_id)
    assert {s.span_id for s in got.data.spans} == {s.span_id for s in full.data.spans}
    assert len(store.search_traces()) == 2


def test_batch_is_all_or_nothing(store: SqlStore) -> None:
    good = make_trace(2)
    bad = make_trace(2)  # (a tag key over the limit is cut, not refused: entities.limits)
    bad.data.spans[0] = dataclasses.replace(bad.data.spans[0], span_id="s" * 40)
    with pytest.raises(InvalidInputError, match=r"span id .* the limit is 32"):
        store.log_traces([good, bad])
    with pytest.raises(NotFoundError):
        store.get_trace(good.info.trace_id)


def test_unknown_experiment_is_rejected(store: SqlStore) -> None:
    trace = make_trace(experiment_id="41")
    with pytest.raises(InvalidInputError, match="experiment '41' does not exist"):
        store.log_traces([trace])
    with pytest.raises(InvalidInputError, match="experiment id 'abc'"):
        store.log_traces([make_trace(experiment_id="abc")])
    experiment_id = store.create_experiment("mine")
    store.log_traces([make_trace(experiment_id=experiment_id)])
    assert len(store.search_traces([experiment_id])) == 1


@pytest.mark.parametrize(("change", "message"), [
    ({"trace_id": ""}, "trace id must be a non-empty string"),
    ({"trace_id": "tr-" + "x" * 70}, "trace id .* the limit is 64"),
])  # (a metadata key over the limit is cut, not refused: tests/hardening)
def test_invalid_traces_are_rejected_with_clear_errors(
        store: SqlStore, change: dict[str, object], message: str) -> None:
    trace = make_trace(2)
    for key, value in change.items():
        setattr(trace.info, key, value)
    with pytest.raises(InvalidInputError, match=message):
        store.log_traces([trace])


def test_assessment_id_on_another_trace_is_not_inserted_twice(store: SqlStore) -> None:
    feedback = Feedback(name="f", value=1)
    one = make_trace(2, assessments=[feedback])
    store.log_traces([one])
    two = make_trace(2)
    two.info.assessments = [feedback]
    store.log_traces([two])
    assert store.get_trace(two.info.trace_id).info.assessments == []
    assert len(store.get_trace(one.info.trace_id).info.assessments) == 1


def test_not_a_trace_is_rejected(store: SqlStore) -> None:
    with pytest.raises(InvalidInputError, match="expects Trace objects"):
        store.log_traces([TraceInfo("tr-1")])  # type: ignore[list-item]


def test_lone_surrogate_in_a_tag_is_replaced_and_the_trace_kept(store: SqlStore) -> None:
    trace = make_trace(2, tags={"bad": "\ud800"})
    store.log_traces([trace])
    tags = store.get_trace(trace.info.trace_id).info.tags
    assert tags["bad"] == "\ufffd" and "invalid Unicode" in tags["spanscope.cleanedFields"]


def test_name_survives_when_later_parts_lack_the_root(store: SqlStore, store_uri: str) -> None:
    full = make_trace(4, name="root_name")
    root, *children = full.data.spans
    store.log_traces([_part(full, [root], tags={})])
    store.log_traces([_part(full, children, tags={})])
    summary = _summary(store_uri, full.info.trace_id)
    assert (summary["name"], summary["span_count"]) == ("root_name", 4)


def test_assessment_id_shared_by_two_new_traces_in_a_batch(store: SqlStore) -> None:
    """The first copy is inserted; the second is not new any more, so it is skipped."""
    feedback = Feedback(name="f", value=1)
    one, two = make_trace(2), make_trace(2)
    one.info.assessments = [feedback]
    two.info.assessments = [feedback]
    store.log_traces([one, two])
    assert len(store.get_trace(one.info.trace_id).info.assessments) == 1
    assert store.get_trace(two.info.trace_id).info.assessments == []


def test_nul_character_in_a_tag(store: SqlStore) -> None:
    """PostgreSQL text cannot hold NUL: on both stores it becomes U+FFFD, the trace kept;
    in payloads (span JSON) it is escaped and kept as it is."""
    trace = make_trace(2, tags={"k": "a\x00b"}, question="in \x00 payloads it is escaped")
    store.log_traces([trace])
    got = store.get_trace(trace.info.trace_id)
    assert got.info.tags["k"] == "a\ufffdb"
    assert [s.to_dict() for s in got.data.spans] == [s.to_dict() for s in trace.data.spans]
