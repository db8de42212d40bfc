"""The reference evaluator: each semantic rule of the filter language, on real entities."""

from __future__ import annotations

from typing import Any

import pytest

from factories import make_trace, sample_assessments
from spanscope.entities import (
    Assessment,
    AssessmentError,
    Expectation,
    Feedback,
    Span,
    SpanStatus,
    SpanStatusCode,
    Trace,
    TraceData,
    TraceInfo,
)
from spanscope.exceptions import FilterError
from spanscope.query import (
    AssessmentValue,
    Metadata,
    Tag,
    field_value,
    filter_traces,
    matches,
    parse_filter,
    referenced_fields,
)

T0 = 1_688_169_600_000  # 2023-07-01T00:00:00Z
_ids = iter(range(1, 1_000_000))


def span(name: str = "step", *, root: bool = False, span_type: str = "UNKNOWN",
         status: str = "OK", duration_ms: float | None = 1, inputs: Any = None,
         outputs: Any = None, attributes: dict[str, Any] | None = None) -> Span:
    start = T0 * 1_000_000
    end = None if duration_ms is None else start + round(duration_ms * 1_000_000)
    return Span.build(trace_id="tr-x", span_id=f"{next(_ids):016x}",
                      parent_id=None if root else "00000000000000ff", name=name,
                      start_time_ns=start, end_time_ns=end, span_type=span_type,
                      inputs=inputs, outputs=outputs, attributes=attributes,
                      status=SpanStatus(SpanStatusCode(status)))


def trace(*spans: Span, trace_id: str = "tr-x", request_time: int = T0,
          execution_duration: int | None = 10, state: str = "OK",
          tags: dict[str, str] | None = None, metadata: dict[str, str] | None = None,
          assessments: list[Assessment] | None = None,
          client_request_id: str | None = None) -> Trace:
    info = TraceInfo(trace_id=trace_id, request_time=request_time,
                     execution_duration=execution_duration, state=state, tags=tags or {},
                     trace_metadata=metadata or {}, assessments=assessments or [],
                     client_request_id=client_request_id)
    return Trace(info, TraceData(list(spans)))


def hit(text: str, t: Trace) -> bool:
    return matches(parse_filter(text), t)


# --- trace attributes -------------------------------------------------------------------

def test_state() -> None:
    ok, failed, running = trace(state="OK"), trace(state="ERROR"), trace(state="IN_PROGRESS")
    assert [hit("attributes.status = 'OK'", t) for t in (ok, failed, running)] == [
        True, False, False]
    assert [hit("trace.state = 'error'", t) for t in (ok, failed, running)] == [
        False, True, False]
    assert [hit("status IN ('OK', 'IN_PROGRESS')", t) for t in (ok, failed, running)] == [
        True, False, True]
    assert [hit("attributes.state != 'OK'", t) for t in (ok, failed, running)] == [
        False, True, True]
    assert [hit("attributes.state NOT IN ('OK')", t) for t in (ok, failed, running)] == [
        False, True, True]


def test_timestamps_compare_as_epoch_ms_and_iso_dates_are_utc() -> None:
    at_midnight, just_before = trace(request_time=T0), trace(request_time=T0 - 1)
    assert hit("trace.timestamp >= '2023-07-01'", at_midnight)
    assert not hit("trace.timestamp > '2023-07-01'", at_midnight)
    assert not hit("trace.timestamp >= '2023-07-01'", just_before)
    assert hit("attributes.timestamp_ms < '2023-07-01T00:00:00Z'", just_before)
    assert hit("attributes.request_time = '2023-07-01T02:00:00+02:00'", at_midnight)
    assert hit("timestamp_ms = '2023-07-01T00:00:00'", at_midnight)
    assert hit(f"trace.timestamp = {T0}", at_midnight)
    assert hit(f"trace.timestamp IN ({T0 - 1}, '2023-07-01')", at_midnight)
    assert not hit(f"trace.timestamp NOT IN ({T0 - 1}, '2023-07-01')", at_midnight)


def test_execution_time_and_null_durations() -> None:
    fast, slow, running = (trace(execution_duration=5), trace(execution_duration=1500),
                           trace(execution_duration=None, state="IN_PROGRESS"))
    assert [hit("attributes.execution_time_ms > 1000", t) for t in (fast, slow, running)] == [
        False, True, False]
    assert [hit("execution_time != 5", t) for t in (fast, slow, running)] == [
        False, True, False]  # a missing duration compares false, even with !=
    assert [hit("NOT execution_time = 5", t) for t in (fast, slow, running)] == [
        False, True, True]  # NOT is plain negation
    assert [hit("trace.execution_duration IS NULL", t) for t in (fast, slow, running)] == [
        False, False, True]
    assert hit("attributes.execution_time_ms <= '5'", fast)


def test_name_is_the_root_span_name_or_the_trace_name_tag() -> None:
    with_root = trace(span("agent", root=True), span("llm"))
    no_spans = trace(tags={"mlflow.traceName": "from-tag"})
    assert hit("attributes.name = 'agent'", with_root)
    assert not hit("attributes.name = 'llm'", with_root)
    assert hit("attributes.name LIKE 'from%'", no_spans)
    assert hit("attributes.name IS NULL", trace())


def test_ids_session_and_user() -> None:
    t = trace(trace_id="tr-abc", client_request_id="req-42",
              metadata={"mlflow.trace.session": "s-1", "mlflow.trace.user": "alice"})
    for text in ("attributes.trace_id = 'tr-abc'", "request_id = 'tr-abc'",
                 "tags.`mlflow.traceId` = 'tr-abc'", "attributes.client_request_id = 'req-42'",
                 "attributes.session_id = 's-1'", "attributes.user_id = 'alice'",
                 "metadata.`mlflow.trace.user` = 'alice'"):
        assert hit(text, t), text
    assert hit("attributes.client_request_id IS NULL", trace())
    assert not hit("attributes.client_request_id != 'x'", trace())
    assert hit("attributes.session_id IS NULL", trace())


# --- tags and metadata --------------------------------------------------------------------

def test_tags_text_and_missing_keys() -> None:
    prod, dev, untagged = (trace(tags={"env": "prod"}), trace(tags={"env": "dev"}), trace())
    everything = (prod, dev, untagged)
    assert [hit("tags.env = 'prod'", t) for t in everything] == [True, False, False]
    assert [hit("tag.env != 'prod'", t) for t in everything] == [False, True, False]
    assert [hit("NOT tags.env = 'prod'", t) for t in everything] == [False, True, True]
    assert [hit("tags.env NOT IN ('prod')", t) for t in everything] == [False, True, False]
    assert [hit("tags.env NOT LIKE 'p%'", t) for t in everything] == [False, True, False]
    assert [hit("tags.env IS NULL", t) for t in everything] == [False, False, True]
    assert [hit("tags.env IS NOT NULL", t) for t in everything] == [True, True, False]
    assert [hit("tags.env IN ('dev', 'qa')", t) for t in everything] == [False, True, False]


def test_tags_compared_to_numbers_compare_numerically() -> None:
    scores = {v: trace(tags={"quality_score": v}) for v in
              ("0.55", "0.7", "10", "1e-1", "-3", "high", "", " 0.1", "nan", "0x10")}
    below = {v for v, t in scores.items() if hit("tag.quality_score < 0.7", t)}
    assert below == {"0.55", "1e-1", "-3"}  # non-numeric values simply do not match
    assert {v for v, t in scores.items() if hit("tags.quality_score = 10", t)} == {"10"}
    assert {v for v, t in scores.items() if hit("tags.quality_score != 10", t)} == {
        "0.55", "0.7", "1e-1", "-3"}
    assert {v for v, t in scores.items() if hit("tags.quality_score >= '0.7'", t)} == {
        "0.7", "10"}
    assert {v for v, t in scores.items() if hit("tags.quality_score IN (0.7, 10)", t)} == {
        "0.7", "10"}
    assert {v for v, t in scores.items() if hit("tags.quality_score NOT IN (0.7, 10)", t)} == {
        "0.55", "1e-1", "-3"}
    assert not hit("tags.quality_score NOT IN (1)", trace())
    # text comparison stays text: '10' is not '10.0'
    assert not hit("tags.quality_score = '10.0'", scores["10"])
    assert hit("tags.quality_score = 10.0", scores["10"])


def test_tags_compared_to_booleans_ignore_case() -> None:
    values = {v: trace(tags={"flag": v}) for v in ("true", "True", "TRUE", "false", "yes")}
    assert {v for v, t in values.items() if hit("tags.flag = TRUE", t)} == {
        "true", "True", "TRUE"}
    assert {v for v, t in values.items() if hit("tags.flag != true", t)} == {"false", "yes"}
    assert {v for v, t in values.items() if hit("tags.flag = 'true'", t)} == {"true"}


def test_metadata_and_quoted_keys() -> None:
    t = trace(tags={"a.b": "dotted", "my key": "spaced"},
              metadata={"team": "search", "mlflow.trace.session": "s-9"})
    for text in ("tags.`a.b` = 'dotted'", 'tags."a.b" = \'dotted\'', "tags.a.b = 'dotted'",
                 "tags.`my key` = 'spaced'", "metadata.team = 'search'",
                 "request_metadata.team = 'search'", "metadata.`mlflow.trace.session` = 's-9'",
                 "metadata.mlflow.trace.session = 's-9'"):
        assert hit(text, t), text


# --- spans ---------------------------------------------------------------------------------

def test_span_conditions_are_existential() -> None:
    t = trace(span("agent", root=True, span_type="AGENT"), span("llm", span_type="LLM"),
              span("tool", span_type="TOOL", status="ERROR"))
    assert hit("span.type = 'LLM'", t)
    assert hit("span.name = 'tool'", t)
    assert not hit("span.type = 'RETRIEVER'", t)
    assert hit("span.status = 'ERROR'", t)
    assert hit("span.type IN ('RETRIEVER', 'TOOL')", t)
    assert not hit("span.type = 'LLM'", trace())  # no spans: nothing matches


def test_and_inside_one_chain_means_the_same_span() -> None:
    # A fast LLM span and a slow TOOL span: no slow LLM span.
    t = trace(span("llm", span_type="LLM", duration_ms=10),
              span("tool", span_type="TOOL", duration_ms=900))
    assert not hit("span.type = 'LLM' AND span.duration_ms > 500", t)
    assert not hit("(span.type = 'LLM' AND span.duration_ms > 500)", t)
    assert hit("span.type = 'TOOL' AND span.duration_ms > 500", t)
    assert not hit("span.type = 'LLM' AND tags.x IS NULL AND span.duration_ms > 500", t)
    # an OR inside the span condition is evaluated per span too
    assert hit("(span.type = 'LLM' OR span.name = 'nothing') AND span.duration_ms < 100", t)
    assert not hit("(span.type = 'TOOL' OR span.name = 'nothing') AND span.duration_ms < 100",
                   t)
    # separated by a group holding a trace condition: any spans
    assert hit("(span.type = 'LLM' AND tags.x IS NULL) AND span.duration_ms > 500", t)
    assert hit("span.type = 'LLM' AND (tags.x = 'y' OR span.duration_ms > 500)", t)


def test_not_on_span_conditions_means_no_span() -> None:
    clean = trace(span("a", status="OK"), span("b", status="UNSET"))
    failing = trace(span("a", status="OK"), span("b", status="ERROR"))
    assert hit("NOT span.status = 'ERROR'", clean)
    assert not hit("NOT span.status = 'ERROR'", failing)
    # != stays inside one span: some span is not an error
    assert hit("span.status != 'ERROR'", failing)
    assert not hit("span.status != 'OK'", trace(span("a", status="OK")))
    assert hit("NOT span.status = 'ERROR'", trace())  # no spans, so no failing span


def test_span_duration_is_exact_in_nanoseconds() -> None:
    t = trace(span(duration_ms=500))
    assert hit("span.duration_ms = 500", t)
    assert not hit("span.duration_ms > 500", t)
    assert hit("span.duration_ms >= 500", t)
    assert hit("span.duration_ms > 499.999999", t)
    assert not hit("span.duration_ms > 500.000001", t)
    open_span = trace(span(duration_ms=None))
    assert not hit("span.duration_ms >= 0", open_span)
    assert hit("span.duration_ms IS NULL", open_span)


def test_span_attributes() -> None:
    t = trace(span(attributes={"mlflow.llm.model": "gpt-4o", "retries": 3, "cached": True,
                               "usage": {"total_tokens": 17}}))
    assert hit("span.attributes.`mlflow.llm.model` = 'gpt-4o'", t)
    assert hit("span.attributes.mlflow.llm.model LIKE 'gpt-%'", t)
    assert hit("span.attributes.retries > 2", t)
    assert hit("span.attributes.retries = '3'", t)  # a JSON number's text is its JSON
    assert hit("span.attributes.cached = true", t)
    assert hit("span.attributes.cached = 'true'", t)
    assert hit("span.attributes.usage CONTAINS '\"total_tokens\": 17'", t)
    assert hit("span.attributes.nope IS NULL", t)
    assert not hit("span.attributes.nope != 'x'", t)
    assert hit("span.attributes.`mlflow.spanType` = 'UNKNOWN'", t)
    # same span: the model and the retries belong to one span
    two = trace(span(attributes={"mlflow.llm.model": "gpt-4o"}),
                span(attributes={"retries": 3}))
    assert not hit("span.attributes.mlflow.llm.model = 'gpt-4o' AND span.attributes.retries = 3",
                   two)


def test_realistic_trace_from_the_factory() -> None:
    t = make_trace(6, tags={"env": "prod"})
    assert hit("span.type = 'CHAT_MODEL' AND span.attributes.mlflow.llm.model = 'gpt-4o-mini'", t)
    assert hit("span.type = 'RETRIEVER' AND span.name LIKE 'retrieve%'", t)
    assert not hit("span.type = 'RETRIEVER' AND span.name LIKE 'Chat%'", t)
    assert hit("inputs.question CONTAINS 'France'", t)
    assert hit("outputs.answer = 'The capital of France is Paris.'", t)
    assert hit("request ILIKE '%capital of france%'", t)
    assert hit("attributes.name = 'agent' AND tags.env = 'prod'", t)
    failed = make_trace(4, state="ERROR")
    assert hit("span.status = 'ERROR' AND span.type = 'TOOL'", failed)
    assert hit("response IS NULL", failed)


# --- root inputs and outputs ------------------------------------------------------------------

def test_inputs_paths_index_lists_with_bare_numbers() -> None:
    t = trace(span("root", root=True, inputs={
        "messages": [{"role": "user", "content": "Capital of France?"}],
        "0": "key zero", "a.b": {"c": 1}, "n": 7, "nothing": None}))
    assert hit("inputs.messages.0.content = 'Capital of France?'", t)
    assert hit("inputs.messages.0.role IN ('user')", t)
    assert hit("inputs.messages.1.content IS NULL", t)       # out of range
    assert hit("inputs.`0` = 'key zero'", t)                  # quoted: an object key
    assert hit("inputs.0 IS NULL", t)                         # bare: a list index only
    assert not hit("inputs.messages.`0`.content IS NOT NULL", t)  # a key on a list: NULL
    assert hit("inputs.`a.b`.c = 1", t)
    assert hit("inputs.n >= 7", t)
    assert hit("inputs.nothing IS NULL", t)                   # JSON null is NULL
    assert hit("inputs.messages CONTAINS '\"role\": \"user\"'", t)  # lists compare as JSON
    assert hit("inputs.missing IS NULL", t)
    assert not hit("inputs.missing != 'x'", t)


def test_request_and_response_are_the_whole_payloads() -> None:
    t = trace(span("root", root=True, inputs={"question": "Capital of France?"},
                   outputs="Paris"), span("child", inputs={"secret": "child"}))
    assert hit("request CONTAINS 'France'", t)
    assert hit("request = '{\"question\": \"Capital of France?\"}'", t)
    assert hit("response = 'Paris'", t)  # a string payload is compared as the string
    assert not hit("request CONTAINS 'secret'", t)  # only the root span counts
    assert hit("outputs.x IS NULL", t)   # a path into a string is NULL
    assert hit("request IS NULL AND response IS NULL", trace())


def test_root_is_the_first_span_without_parent() -> None:
    t = trace(span("child", inputs={"q": "child"}), span("root", root=True, inputs={"q": "r"}),
              span("second-root", root=True, inputs={"q": "second"}))
    assert hit("inputs.q = 'r'", t) and hit("attributes.name = 'root'", t)


# --- assessments --------------------------------------------------------------------------------

def test_latest_valid_assessment_wins() -> None:
    t = trace(assessments=[
        Feedback(name="score", value=0.2, create_time_ms=1, assessment_id="a-1"),
        Feedback(name="score", value=0.9, create_time_ms=3, assessment_id="a-2", valid=False),
        Feedback(name="score", value=0.4, create_time_ms=2, assessment_id="a-0"),
        Feedback(name="score", value=0.6, create_time_ms=2, assessment_id="a-3"),
        Feedback(name="score", value=0.5, create_time_ms=2, assessment_id="a-2b"),
    ])
    assert hit("feedback.score = 0.6", t)  # a-2 is invalid; a-3 beats a-0 on the id
    assert not hit("feedback.score > 0.7", t)
    assert hit("assessments.score.value = 0.6", t)


def test_assessment_value_kinds() -> None:
    t = trace(assessments=[
        Feedback(name="correct", value=True, create_time_ms=1),
        Feedback(name="tone", value="friendly", create_time_ms=1),
        Feedback(name="relevance", value=0.75, create_time_ms=1),
        Feedback(name="numeric_text", value="0.55", create_time_ms=1),
        Feedback(name="safety", error=AssessmentError("TIMEOUT", "judge timed out"),
                 create_time_ms=1),
        Expectation(name="expected_response", value="Paris", create_time_ms=1),
        Expectation(name="expected_facts", value={"facts": ["Paris is the capital"]},
                    create_time_ms=1),
    ])
    for text in ("feedback.correct = true", "feedback.correct = 'true'",
                 "feedback.correct != false", "feedback.tone = 'friendly'",
                 "feedback.tone LIKE 'friend%'", "feedback.relevance > 0.5",
                 "feedback.relevance = '0.75'", "assessments.relevance.value <= 0.75",
                 "feedback.numeric_text < 0.6", "feedback.safety IS NULL",
                 "feedback.never_logged IS NULL", "expectation.expected_response = 'Paris'",
                 "expectation.expected_facts CONTAINS 'Paris is the capital'",
                 "assessments.expected_response.value = 'Paris'"):
        assert hit(text, t), text
    for text in ("feedback.correct = 'True'", "feedback.correct = 1",
                 "feedback.tone > 0", "feedback.safety IS NOT NULL",
                 "feedback.expected_response = 'Paris'",   # an expectation, not feedback
                 "expectation.tone = 'friendly'", "feedback.never_logged != 'x'"):
        assert not hit(text, t), text


def test_factory_assessments() -> None:
    t = make_trace(2, assessments=sample_assessments())
    assert hit("feedback.correctness = true AND feedback.relevance >= 0.75", t)
    assert hit("expectation.expected_response = 'Paris' AND feedback.safety IS NULL", t)


# --- comparators -----------------------------------------------------------------------------

@pytest.mark.parametrize(("condition", "value", "expected"), [
    ("LIKE 'pro%'", "production", True),
    ("LIKE 'pro%'", "Production", False),
    ("LIKE 'p_od'", "prod", True),
    ("LIKE 'p_od'", "prood", False),
    ("LIKE '%'", "", True),
    ("LIKE '50\\%'", "50%", True),
    ("LIKE '50\\%'", "500", False),
    ("LIKE 'a\\_b'", "a_b", True),
    ("LIKE 'a\\_b'", "axb", False),
    ("LIKE 'line%'", "line\nbreak", True),
    ("LIKE 'a.c'", "abc", False),  # regex characters are literal
    ("ILIKE 'PRO%'", "production", True),
    ("ILIKE 'é%'", "École", True),
    ("NOT ILIKE 'PRO%'", "production", False),
    ("RLIKE 'rod'", "production", True),  # search, not a whole match
    ("RLIKE '^rod'", "production", False),
    ("RLIKE '\\d{3}'", "id-123", True),
    ("NOT RLIKE '\\d'", "abc", True),
    ("CONTAINS 'duct'", "production", True),
    ("CONTAINS 'DUCT'", "production", False),
    ("NOT CONTAINS 'duct'", "production", False),
    ("= 'it''s'", "it's", True),
])
def test_text_comparators(condition: str, value: str, expected: bool) -> None:
    assert hit(f"tags.x {condition}", trace(tags={"x": value})) is expected
    assert hit(f"tags.x {condition}", trace()) is False  # missing: false, even for NOT LIKE


# --- boolean structure -------------------------------------------------------------------------

def test_and_or_not_precedence_in_results() -> None:
    t = trace(tags={"a": "1"})  # a true, b and c false
    assert hit("tags.a = '1' OR tags.b = '1' AND tags.c = '1'", t)
    assert not hit("(tags.a = '1' OR tags.b = '1') AND tags.c = '1'", t)
    assert not hit("NOT tags.a = '1' OR tags.b = '1'", t)
    assert hit("NOT (tags.b = '1' OR tags.c = '1')", t)


def test_filter_traces_keeps_order_and_blank_means_all() -> None:
    ts = [trace(trace_id=f"tr-{i}", tags={"n": str(i)}) for i in range(5)]
    assert [t.info.trace_id for t in filter_traces("tags.n > 1", ts)] == ["tr-2", "tr-3",
                                                                          "tr-4"]
    assert filter_traces(None, ts) == ts and filter_traces("  ", ts) == ts
    assert matches(None, ts[0])
    with pytest.raises(FilterError):
        filter_traces("tags.n >", ts)


# --- referenced fields -------------------------------------------------------------------------

def test_referenced_fields_named_as_written_and_typed() -> None:
    node = parse_filter("tag.quality_score < 0.7 AND (metadata.team = 'a' OR "
                        "feedback.correct = true) AND tags.env IS NOT NULL AND "
                        "tag.quality_score != 'x' AND attributes.state = 'OK' AND "
                        "span.name = 'a' AND assessments.relevance.value >= 0.5")
    refs = referenced_fields(node)
    assert [(r.written, r.field, r.numeric) for r in refs] == [
        ("tag.quality_score", Tag("quality_score"), True),
        ("metadata.team", Metadata("team"), False),
        ("feedback.correct", AssessmentValue("correct", "feedback"), False),
        ("tags.env", Tag("env"), False),
        ("assessments.relevance.value", AssessmentValue("relevance"), True),
    ]
    t = trace(tags={"quality_score": "0.55", "env": "prod"}, metadata={"team": "a"},
              assessments=[Feedback(name="correct", value=True, create_time_ms=1)])
    assert [r.value_of(t) for r in refs] == [0.55, "a", True, "prod", None]
    assert referenced_fields(None) == []
    assert field_value(Tag("env"), t) == "prod"
