"""A logged trace reads back exactly (to_json equality), and its summary columns are right."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import pytest
import sqlalchemy as sa

from factories import make_trace, new_span_id, sample_assessments
from spanscope.entities import (
    Feedback,
    Span,
    SpanEvent,
    SpanStatus,
    SpanStatusCode,
    Trace,
    TraceData,
    TraceInfo,
)
from spanscope.exceptions import NotFoundError
from spanscope.store.sql import SqlStore
from spanscope.store.sql.engine import parse_uri


def raw_engine(uri: str) -> sa.Engine:
    """A plain engine on the store's database, to look at rows the way SQL sees them."""
    return sa.create_engine(parse_uri(uri))


def test_get_trace_round_trips_exactly(store: SqlStore) -> None:
    traces = [
        make_trace(1),
        make_trace(3, tags={"env": "prod", "b": "2", "a": "1"}),
        make_trace(9, state="ERROR", session_id="sess-1", user_id="u-7",
                   client_request_id="req-42", assessments=sample_assessments()),
        make_trace(5, assessments=sample_assessments(), metadata={"app.version": "1.2.3"}),
    ]
    store.log_traces(traces)
    for trace in traces:
        assert store.get_trace(trace.info.trace_id).to_json() == trace.to_json()


def test_unicode_round_trips(store: SqlStore) -> None:
    text = "Ünïcødé ✓ 東京 🚀 שלום \u200b \"quotes\" \\ back\\slash\n\ttab \x01 ctrl"
    trace = make_trace(4, question=text, tags={"ключ": text}, metadata={"メタ": text},
                       name="агент 🤖", assessments=[Feedback(name="ton 😀", value=text)])
    store.log_traces([trace])
    assert store.get_trace(trace.info.trace_id).to_json() == trace.to_json()


def test_big_payloads_round_trip(store: SqlStore) -> None:
    trace = make_trace(50, payload_chars=2_000_000, client_request_id="c" * 300)
    trace.info.request_preview = "p" * 5000  # longer than the 1000-char column
    trace.info.response_preview = "r" * 1001
    store.log_traces([trace])
    got = store.get_trace(trace.info.trace_id)
    assert got.to_json() == trace.to_json()
    assert len(got.data.spans[0].inputs["context"]) == 2_000_000
    page = store.search_traces(include_spans=False)
    assert page[0].info.request_preview == "p" * 5000


def test_mlflow_style_extras_round_trip(store: SqlStore) -> None:
    """Keys the entities do not model (info extra, span extra, assessment extra) survive."""
    trace_id = "tr-" + "ab" * 16
    root = Span.from_dict({
        "trace_id": "q6urq6urq6urq6urq6urqw==", "span_id": "AAAAAAAAAAE=",
        "parent_span_id": None, "name": "root", "start_time_unix_nano": 10,
        "end_time_unix_nano": None, "status": {"code": "STATUS_CODE_UNSET", "message": ""},
        "attributes": {"mlflow.spanType": '"CHAIN"', "custom.number": 3},
        "events": [{"name": "chunk", "time_unix_nano": 11, "attributes": {"i": 0}}],
        "links": [{"trace_id": "x", "span_id": "y"}],
    }, trace_id)
    feedback = Feedback.from_dict({"assessment_name": "f", "feedback": {"value": [1, "a"]},
                                   "source": {"source_type": "code", "source_id": "s"},
                                   "create_time": "2026-01-01T00:00:00.5Z",
                                   "future_field": {"x": 1}})
    info = TraceInfo(trace_id=trace_id, request_time=123, state="IN_PROGRESS",
                     extra={"trace_location": {"type": "INFERENCE_TABLE"}, "new_key": [1, 2]},
                     assessments=[feedback])
    trace = Trace(info, TraceData([root]))
    store.log_traces([trace])
    assert store.get_trace(trace_id).to_json() == trace.to_json()


def test_span_order_is_the_logged_order(store: SqlStore) -> None:
    """Spans come back in the logged list's order, not sorted by time or id."""
    trace = make_trace(6)
    trace.data.spans.reverse()
    store.log_traces([trace])
    got = store.get_trace(trace.info.trace_id)
    assert [s.span_id for s in got.data.spans] == [s.span_id for s in trace.data.spans]


def test_unknown_trace_is_not_found(store: SqlStore) -> None:
    store.log_traces([make_trace()])
    with pytest.raises(NotFoundError, match="trace 'tr-nope' not found"):
        store.get_trace("tr-nope")


def test_summary_columns(store: SqlStore, store_uri: str) -> None:
    trace = make_trace(5, state="ERROR", name="answer_question", session_id="s-1",
                       user_id="u-1", client_request_id="cr-1",
                       assessments=sample_assessments())
    store.log_traces([trace])
    engine = raw_engine(store_uri)
    with engine.connect() as conn:
        row = conn.execute(sa.text("SELECT * FROM traces")).mappings().one()
        spans = conn.execute(sa.text(
            "SELECT span_id, parent_span_id, name, span_type, status, start_time_ns, "
            "end_time_ns, duration_ns, position FROM spans ORDER BY position")).mappings().all()
        assessments = conn.execute(sa.text(
            "SELECT name, kind, numeric_value, valid, error, source_type FROM assessments "
            "ORDER BY position")).mappings().all()
    engine.dispose()
    info = trace.info
    assert row["name"] == "answer_question"
    assert (row["session_id"], row["user_id"], row["client_request_id"]) == ("s-1", "u-1", "cr-1")
    assert (row["input_tokens"], row["output_tokens"], row["total_tokens"]) == (120, 30, 150)
    assert row["span_count"] == 5
    assert row["state"] == "ERROR"
    assert row["experiment_id"] == 0
    assert (row["request_time"], row["execution_duration"]) == (info.request_time,
                                                               info.execution_duration)
    assert row["request_preview"] == info.request_preview
    for span, stored in zip(trace.data.spans, spans, strict=True):
        assert stored["span_id"] == span.span_id
        assert stored["parent_span_id"] == span.parent_id
        assert stored["span_type"] == span.span_type
        assert stored["status"] == span.status.status_code.value
        assert stored["duration_ns"] == span.end_time_ns - span.start_time_ns
    assert [s["status"] for s in spans].count("ERROR") == 2
    by_name = {a["name"]: a for a in assessments}
    assert by_name["correctness"]["numeric_value"] == 1.0
    assert by_name["relevance"]["numeric_value"] == 0.75
    assert by_name["tone"]["numeric_value"] is None
    assert json.loads(by_name["safety"]["error"])["error_code"] == "TIMEOUT"
    assert by_name["expected_facts"]["kind"] == "expectation"
    assert by_name["correctness"]["source_type"] == "LLM_JUDGE"
    assert all(a["valid"] == 1 for a in assessments)  # SQLite stores booleans as 1/0


def test_trace_name_falls_back_to_tag(store: SqlStore, store_uri: str) -> None:
    """Without a root span (only children arrived yet) the name comes from the tag."""
    trace = make_trace(3, name="from_tag")
    trace.data.spans.pop(0)
    store.log_traces([trace])
    engine = raw_engine(store_uri)
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT name FROM traces")).scalar() == "from_tag"
    engine.dispose()


def test_deleting_a_trace_row_cascades(store: SqlStore, store_uri: str) -> None:
    doomed, kept = make_trace(4, assessments=sample_assessments()), make_trace(2)
    store.log_traces([doomed, kept])
    engine = raw_engine(store_uri)
    if engine.dialect.name == "sqlite":
        sa.event.listen(engine, "connect",
                        lambda conn, _: conn.execute("PRAGMA foreign_keys = ON"))
    children = ("trace_tags", "trace_metadata", "spans", "assessments")
    with engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM traces WHERE trace_id = :t"),
                     {"t": doomed.info.trace_id})
    with engine.connect() as conn:
        for table in children:
            ids = set(conn.execute(sa.text(f"SELECT DISTINCT trace_id FROM {table}")).scalars())
            assert ids <= {kept.info.trace_id}, table
        assert conn.execute(sa.text("SELECT count(*) FROM spans")).scalar() == 2
    engine.dispose()
    with pytest.raises(NotFoundError):
        store.get_trace(doomed.info.trace_id)
    assert store.get_trace(kept.info.trace_id).to_json() == kept.to_json()


def test_span_status_and_events_survive(store: SqlStore) -> None:
    trace_id = "tr-" + "cd" * 16
    span = Span.build(trace_id=trace_id, span_id=new_span_id(), parent_id=None, name="r",
                      start_time_ns=1, end_time_ns=None,
                      status=SpanStatus(SpanStatusCode.UNSET),
                      events=[SpanEvent("exception", 2, {"exception.message": "boom"})])
    trace = Trace(TraceInfo(trace_id, request_time=1, execution_duration=None),
                  TraceData([span]))
    store.log_traces([trace])
    got = store.get_trace(trace_id).data.spans[0]
    assert got.end_time_ns is None and got.duration_ns is None
    assert got.status.status_code is SpanStatusCode.UNSET
    assert got.events[0].attributes == {"exception.message": "boom"}


MLFLOW_FIXTURES = sorted((Path(__file__).parent.parent / "data" / "mlflow").glob("*.json"))


def test_mlflow_fixtures_are_present() -> None:
    assert len(MLFLOW_FIXTURES) >= 4, "tests/data/mlflow/*.json are missing"


@pytest.mark.parametrize("path", MLFLOW_FIXTURES, ids=[p.stem for p in MLFLOW_FIXTURES])
def test_traces_written_by_mlflow_round_trip(store: SqlStore, path: Path) -> None:
    trace = Trace.from_json(path.read_text())
    trace.info.experiment_id = "0"  # MLflow's experiment ids are not ours
    store.log_traces([trace])
    assert store.get_trace(trace.info.trace_id).to_json() == trace.to_json()


def test_read_spans_decode_their_json_only_when_used(store: SqlStore) -> None:
    trace = make_trace(3)
    store.log_traces([trace])
    got = store.get_trace(trace.info.trace_id)
    span = got.data.spans[1]
    logged = trace.data.spans[1]
    # ids, name and times come from the stored columns: no JSON decoded yet
    assert (span.span_id, span.parent_id, span.name, span.start_time_ns, span.end_time_ns) == (
        logged.span_id, logged.parent_id, logged.name, logged.start_time_ns, logged.end_time_ns)
    assert "_decoded" not in vars(span)
    # so do the span type and status code, which a span tree reads for every span
    assert (span.span_type, span.status_code) == (logged.span_type, logged.status_code)
    assert "_decoded" not in vars(span)
    assert span.inputs == logged.inputs and span.status == logged.status
    assert "_decoded" in vars(span)
    assert isinstance(span, Span) and repr(span).startswith("Span(")
    assert pickle.loads(pickle.dumps(span)).to_dict() == logged.to_dict()


def test_a_span_type_as_long_as_its_column_is_read_from_the_json(store: SqlStore) -> None:
    trace = make_trace(2, state="ERROR")
    long_type = "T" * 200  # the span_type column keeps 128 characters
    spans = [Span.build(trace_id=s.trace_id, span_id=s.span_id, parent_id=s.parent_id,
                        name=s.name, start_time_ns=s.start_time_ns,
                        end_time_ns=s.end_time_ns, span_type=long_type, status=s.status)
             for s in trace.data.spans]
    trace = Trace(trace.info, TraceData(spans))
    store.log_traces([trace])
    got = store.get_trace(trace.info.trace_id).data.spans
    assert [s.span_type for s in got] == [long_type, long_type]
    assert [s.status_code for s in got] == [s.status.status_code for s in spans]


def test_spans_with_names_and_parents_longer_than_their_columns_read_back_whole(
        store: SqlStore) -> None:
    trace = make_trace(2)
    root, child = trace.data.spans
    long_parent = Span(child.trace_id, "c" * 16, "p" * 40, "n" * 600, child.start_time_ns,
                       child.end_time_ns, child.status, dict(child.raw_attributes))
    exact = Span(child.trace_id, "d" * 16, root.span_id, "m" * 512, child.start_time_ns,
                 child.end_time_ns, child.status, dict(child.raw_attributes))
    trace = Trace(trace.info, TraceData([root, child, long_parent, exact]))
    store.log_traces([trace])
    got = store.get_trace(trace.info.trace_id)
    assert [s.name for s in got.data.spans][2:] == ["n" * 600, "m" * 512]
    assert got.data.spans[2].parent_id == "p" * 40
    assert got.to_json() == trace.to_json()
