"""search_traces with filters: every identifier kind and comparator, on every store.

Three hand-built traces, each filter's expected ids written out, and every store (SQLite,
PostgreSQL, the in-memory reference) checked against both the expectation and the
reference evaluator. Then order_by, keyset pages under a filter, errors, and proof that
user text reaches the database only as bound parameters.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import psycopg
import pytest
from sqlalchemy.engine import make_url

from spanscope.entities import (
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
from spanscope.exceptions import FilterError, InvalidInputError
from spanscope.query import filter_traces, sort_traces
from spanscope.query.order_by import parse_order_by
from spanscope.store.base import TraceStore
from spanscope.store.memory import InMemoryStore
from spanscope.store.sql import SqlStore

T0 = 1_688_169_600_000  # 2023-07-01T00:00:00Z
HOUR = 3_600_000
A, B, C = "tr-" + "a" * 32, "tr-" + "b" * 32, "tr-" + "c" * 32
ALL = {A, B, C}


def _span(trace_id: str, n: int, parent: str | None, name: str, kind: str, start_ms: int,
          duration_ms: float | None, *, status: str = "OK", inputs: object = None,
          outputs: object = None, attributes: dict | None = None) -> Span:
    start = start_ms * 1_000_000
    end = None if duration_ms is None else start + round(duration_ms * 1_000_000)
    return Span.build(trace_id=trace_id, span_id=f"{n:016x}", parent_id=parent, name=name,
                      start_time_ns=start, end_time_ns=end, span_type=kind, inputs=inputs,
                      outputs=outputs, attributes=attributes,
                      status=SpanStatus(SpanStatusCode(status)))


def _traces() -> list[Trace]:
    root_a = f"{1:016x}"
    a = Trace(TraceInfo(
        trace_id=A, request_time=T0, execution_duration=500, state="OK",
        client_request_id="req-1",
        tags={"env": "prod", "quality_score": "0.55", "a.b": "x", "flag": "True",
              "note": "50% off_sale", "mlflow.traceName": "agent"},
        trace_metadata={"team": "search", "mlflow.trace.session": "s-1",
                        "mlflow.trace.user": "alice"},
        assessments=[
            Feedback(name="correctness", value=False, create_time_ms=1, assessment_id="a-1"),
            Feedback(name="correctness", value=True, create_time_ms=2, assessment_id="a-2"),
            Feedback(name="correctness", value=False, create_time_ms=3, assessment_id="a-3",
                     valid=False),
            Feedback(name="relevance", value=0.75, create_time_ms=1, assessment_id="a-4"),
            Expectation(name="expected", value="Paris", create_time_ms=1, assessment_id="a-5"),
            Expectation(name="facts", value={"facts": ["Paris is the capital"]},
                        create_time_ms=1, assessment_id="a-6"),
        ]), TraceData([
            _span(A, 1, None, "agent", "AGENT", T0, 900,
                  inputs={"query": "Refund my order", "messages": [
                      {"role": "user", "content": "Héllo RÉFUND"}], "n": 3},
                  outputs="Paris"),
            _span(A, 2, root_a, "retrieve", "RETRIEVER", T0 + 1, 600,
                  attributes={"retries": 3, "model": "gpt-4o", "mlflow.llm.model": "m-1"}),
            _span(A, 3, root_a, "llm", "LLM", T0 + 2, 100, status="ERROR",
                  attributes={"retries": "0"}),
        ]))
    root_b = f"{1:016x}"
    b = Trace(TraceInfo(
        trace_id=B, request_time=T0 + HOUR, execution_duration=1500, state="ERROR",
        client_request_id="req-2",
        tags={"env": "dev", "quality_score": "0.9", "flag": "false", "mlflow.traceName": "plan"},
        trace_metadata={"team": "billing", "mlflow.trace.user": "bob"},
        assessments=[
            Feedback(name="correctness", value=True, create_time_ms=1, assessment_id="b-1"),
            Feedback(name="correctness", value=False, create_time_ms=2, assessment_id="b-2"),
            Feedback(name="relevance", error=AssessmentError("TIMEOUT", "judge timed out"),
                     create_time_ms=1, assessment_id="b-3"),
        ]), TraceData([
            _span(B, 1, None, "planner", "AGENT", T0 + HOUR, 1600,
                  inputs={"query": "shipping times?"}, outputs={"answer": "2 days"}),
            _span(B, 2, root_b, "llm", "LLM", T0 + HOUR + 1, 700),
            _span(B, 3, root_b, "retrieve", "RETRIEVER", T0 + HOUR + 2, 50, status="UNSET"),
        ]))
    c = Trace(TraceInfo(
        trace_id=C, request_time=T0 + 2 * HOUR, execution_duration=None,
        state="IN_PROGRESS",
        tags={"quality_score": "high", "mlflow.traceName": "orphan", "empty": ""},
        assessments=[Expectation(name="relevance", value="0.6", create_time_ms=1,
                                 assessment_id="c-1")]), TraceData([]))
    return [a, b, c]


TRACES = _traces()


def _libpq(uri: str) -> str:
    return "postgresql://" + uri.split("://", 1)[1]


def _with_database(uri: str, database: str) -> str:
    return make_url(uri).set(database=database).render_as_string(hide_password=False)


def _open(kind: str, uri: str | None) -> TraceStore:
    store: TraceStore = InMemoryStore() if kind == "memory" else SqlStore(uri or "")
    store.log_traces(_traces())
    return store


@pytest.fixture(scope="module", params=["sqlite", "postgresql", "memory"])
def loaded(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
           pg_server_uri: str) -> Iterator[TraceStore]:
    """A store of each kind holding the three traces, shared by the read-only tests
    (PostgreSQL: a database of its own, dropped at the end)."""
    kind, uri, database = request.param, None, None
    if kind == "sqlite":
        uri = f"sqlite:///{tmp_path_factory.mktemp('filter')}/filter.db"
    elif kind == "postgresql":
        database = f"spanscope_filter_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(_libpq(pg_server_uri), autocommit=True) as admin:
            admin.execute(f'CREATE DATABASE "{database}"')
        uri = _with_database(pg_server_uri, database)
    store = _open(kind, uri)
    try:
        yield store
    finally:
        store.close()
        if database is not None:
            with psycopg.connect(_libpq(pg_server_uri), autocommit=True) as admin:
                admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", "postgresql", "memory"])
def fresh(request: pytest.FixtureRequest) -> Iterator[TraceStore]:
    """Like ``loaded``, but the test's own store, for tests that write."""
    uri = None if request.param == "memory" else request.getfixturevalue(
        "sqlite_uri" if request.param == "sqlite" else "pg_uri")
    store = _open(request.param, uri)
    try:
        yield store
    finally:
        store.close()


CASES: list[tuple[str, set[str]]] = [
    # attributes
    ("attributes.state = 'OK'", {A}),
    ("trace.status != 'ok'", {B, C}),
    ("status IN ('ERROR', 'IN_PROGRESS')", {B, C}),
    ("attributes.state NOT IN ('ERROR')", {A, C}),
    ("trace.timestamp > '2023-07-01'", {B, C}),
    ("attributes.timestamp_ms >= 1688169600000", ALL),
    ("trace.timestamp < '2023-07-01T01:30:00+00:00'", {A, B}),
    ("trace.timestamp = '2023-07-01T02:00:00Z'", {C}),
    ("attributes.execution_time_ms > 500", {B}),
    ("attributes.execution_time_ms <= 500", {A}),
    ("execution_time != 500", {B}),
    ("attributes.execution_duration IS NULL", {C}),
    ("attributes.execution_time_ms IN (500, 1500.0)", {A, B}),
    ("attributes.execution_time_ms NOT IN (500)", {B}),
    ("attributes.name = 'agent'", {A}),
    ("attributes.name LIKE 'pl%'", {B}),
    ("attributes.name = 'orphan'", {C}),
    ("attributes.client_request_id = 'req-2'", {B}),
    ("attributes.client_request_id IS NULL", {C}),
    ("attributes.trace_id = '" + A + "'", {A}),
    ("tags.`mlflow.traceId` IN ('" + A + "', '" + C + "')", {A, C}),
    ("request_id RLIKE 'b{32}$'", {B}),
    ("attributes.session_id = 's-1'", {A}),
    ("attributes.session_id IS NULL", {B, C}),
    ("attributes.user_id IN ('alice', 'bob')", {A, B}),
    # tags and metadata
    ("tags.env = 'prod'", {A}),
    ("tag.env != 'prod'", {B}),
    ("NOT tags.env = 'prod'", {B, C}),
    ("tags.env IS NULL", {C}),
    ("tags.env IS NOT NULL", {A, B}),
    ("tags.`a.b` = 'x'", {A}),
    ("tags.a.b = 'x'", {A}),
    ('tags."a.b" != \'y\'', {A}),
    ("tag.quality_score < 0.7", {A}),
    ("tag.quality_score >= '0.6'", {B}),
    ("tags.quality_score = 0.9", {B}),
    ("tags.quality_score != 0.55", {B}),
    ("tags.quality_score = 'high'", {C}),
    ("tags.quality_score NOT IN (0.55)", {B}),
    ("tags.flag = TRUE", {A}),
    ("tags.flag = FALSE", {B}),
    ("tags.flag != TRUE", {B}),
    ("tags.flag = 'True'", {A}),
    ("tags.flag = 'true'", set()),
    ("tags.env LIKE 'pr%'", {A}),
    ("tags.env LIKE 'PR%'", set()),
    ("tags.env ILIKE 'PR%'", {A}),
    ("tags.env NOT LIKE 'p%'", {B}),
    ("tags.env NOT ILIKE 'P%'", {B}),
    ("tags.env LIKE '_ev'", {B}),
    ("tags.note LIKE '50\\% off\\_%'", {A}),
    ("tags.note LIKE '50% off_sale'", {A}),
    ("tags.note LIKE '50\\%'", set()),
    ("tags.env RLIKE '^p'", {A}),
    ("tags.env RLIKE '(?i)DEV'", {B}),
    ("tags.env NOT RLIKE 'o'", {B}),
    ("tags.env CONTAINS 'ro'", {A}),
    ("tags.env NOT CONTAINS 'ro'", {B}),
    ("tags.empty = ''", {C}),
    ("tags.empty CONTAINS ''", {C}),
    ("tags.empty IS NOT NULL", {C}),
    ("metadata.team = 'search'", {A}),
    ("request_metadata.team IN ('billing', 'x')", {B}),
    ("metadata.`mlflow.trace.user` = 'alice'", {A}),
    ("metadata.team IS NULL", {C}),
    # spans: any span, and the same-span rule
    ("span.name = 'retrieve'", {A, B}),
    ("span.type = 'LLM'", {A, B}),
    ("span.type IN ('AGENT')", {A, B}),
    ("span.type = 'RETRIEVER' AND span.duration_ms > 500", {A}),
    ("span.type = 'LLM' AND span.duration_ms > 500", {B}),
    ("(span.type = 'LLM' AND tags.env = 'prod') AND span.duration_ms > 500", {A}),
    ("span.status = 'ERROR'", {A}),
    ("span.status = 'STATUS_CODE_UNSET'", {B}),
    ("NOT span.status = 'ERROR'", {B, C}),
    ("span.type = 'LLM' AND NOT span.status = 'ERROR'", {B}),
    ("span.type = 'LLM' AND span.status != 'OK'", {A}),
    ("span.duration_ms = 600", {A}),
    ("span.duration_ms >= 1600", {B}),
    ("span.duration_ms IS NULL", set()),
    ("span.name LIKE 'ret%' OR span.name = 'planner'", {A, B}),
    ("span.attributes.retries = 3", {A}),
    ("span.attributes.retries > 1", {A}),
    ("span.attributes.retries = '0'", {A}),
    ("span.attributes.retries < 1", {A}),
    ("span.attributes.model ILIKE 'GPT%'", {A}),
    ("span.attributes.mlflow.llm.model = 'm-1'", {A}),
    ("span.attributes.`mlflow.spanType` = 'AGENT'", {A, B}),
    ("span.attributes.missing IS NOT NULL", set()),
    # root inputs / outputs
    ("inputs.query CONTAINS 'Refund'", {A}),
    ("inputs.query ILIKE '%refund%'", {A}),
    ("inputs.messages.0.content ILIKE '%réfund%'", {A}),
    ("inputs.messages.0.role = 'user'", {A}),
    ("inputs.messages.1.role IS NULL", ALL),
    ("inputs.`messages`.`0` IS NOT NULL", set()),
    ("inputs.n = 3", {A}),
    ("inputs.n >= '2.5'", {A}),
    ("inputs.query IS NULL", {C}),
    ("inputs.messages CONTAINS '\"role\": \"user\"'", {A}),
    ("request CONTAINS 'shipping'", {B}),
    ("response = 'Paris'", {A}),
    ("response CONTAINS '\"answer\": \"2 days\"'", {B}),
    ("outputs.answer = '2 days'", {B}),
    ("response IS NULL", {C}),
    # assessments: latest valid, by kind
    ("feedback.correctness = TRUE", {A}),
    ("feedback.correctness = false", {B}),
    ("feedback.correctness = 'true'", {A}),
    ("assessments.correctness.value != TRUE", {B}),
    ("feedback.correctness = 1", set()),
    ("feedback.relevance >= 0.75", {A}),
    ("feedback.relevance IS NULL", {B, C}),
    ("assessments.relevance.value < 0.7", {C}),
    ("expectation.relevance = '0.6'", {C}),
    ("expectation.expected = 'Paris'", {A}),
    ("expectation.expected LIKE 'Par%'", {A}),
    ("expectation.facts CONTAINS 'Paris is'", {A}),
    ("expectation.correctness IS NULL", ALL),
    ("NOT feedback.correctness = TRUE", {B, C}),
    # boolean structure
    ("tags.env = 'prod' OR attributes.state = 'IN_PROGRESS'", {A, C}),
    ("tags.env = 'prod' or tags.env = 'dev' and attributes.state = 'OK'", {A}),
    ("(tags.env = 'prod' or tags.env = 'dev') and attributes.state = 'ERROR'", {B}),
    ("NOT (tags.env = 'prod' OR tags.env = 'dev')", {C}),
    ("NOT NOT tags.env = 'dev'", {B}),
    ("NOT tags.missing != 'x'", ALL),
    ("", ALL),
]


@pytest.mark.parametrize(("filter_string", "expected"), CASES, ids=[c[0] for c in CASES])
def test_filter(loaded: TraceStore, filter_string: str, expected: set[str]) -> None:
    assert {t.info.trace_id for t in filter_traces(filter_string, TRACES)} == expected
    page = loaded.search_traces(filter_string=filter_string, include_spans=False)
    assert {t.info.trace_id for t in page} == expected
    assert set(loaded.search_trace_ids(filter_string=filter_string)) == expected


def test_matches_come_newest_first_with_full_traces(loaded: TraceStore) -> None:
    page = loaded.search_traces(filter_string="span.type = 'LLM'")
    assert [t.info.trace_id for t in page] == [B, A]
    assert [t.to_json() for t in page] == [t.to_json() for t in (TRACES[1], TRACES[0])]


ORDERS: list[tuple[list[str], list[str]]] = [
    (["timestamp ASC"], [A, B, C]),
    (["execution_time DESC"], [B, A, C]),
    (["execution_time"], [A, B, C]),
    (["tags.env"], [B, A, C]),
    (["tags.env DESC"], [A, B, C]),
    (["tags.quality_score DESC", "name"], [C, B, A]),
    (["metadata.team DESC"], [A, B, C]),
    (["attributes.name"], [A, C, B]),
    (["state", "timestamp"], [B, C, A]),
    (["client_request_id DESC"], [B, A, C]),
]


@pytest.mark.parametrize(("order_by", "expected"), ORDERS, ids=[",".join(o) for o, _ in ORDERS])
def test_order_by(loaded: TraceStore, order_by: list[str], expected: list[str]) -> None:
    assert [t.info.trace_id for t in sort_traces(TRACES, parse_order_by(order_by))] == expected
    for size in (1, 2, 3):
        found, token = [], None
        while True:
            page = loaded.search_traces(order_by=order_by, max_results=size,
                                        page_token=token, include_spans=False)
            found += [t.info.trace_id for t in page]
            token = page.token
            if token is None:
                break
        assert found == expected, size


def test_pages_under_a_filter_and_order(fresh: TraceStore) -> None:
    loaded = fresh
    extra = [Trace(TraceInfo(trace_id=f"tr-{i:032x}", request_time=T0 + (i % 3),
                             execution_duration=None if i % 4 == 0 else i % 5, state="OK",
                             tags={"env": "prod", **({"rank": str(i % 3)} if i % 2 else {})}),
                   TraceData([])) for i in range(30)]
    loaded.log_traces(extra)
    everything = TRACES + extra
    for order_by in ([], ["execution_time"], ["execution_time DESC"], ["tags.rank DESC"],
                     ["tags.rank", "timestamp"]):
        expected = [t.info.trace_id for t in sort_traces(
            filter_traces("tags.env = 'prod'", everything), parse_order_by(order_by))]
        found, token = [], None
        while True:
            page = loaded.search_traces(filter_string="tags.env = 'prod'", order_by=order_by,
                                        max_results=4, page_token=token, include_spans=False)
            found += [t.info.trace_id for t in page]
            token = page.token
            if token is None:
                break
        assert found == expected, order_by
    assert loaded.search_trace_ids(filter_string="tags.env = 'prod'", max_results=5) == \
        [t.info.trace_id for t in sort_traces(filter_traces("tags.env = 'prod'", everything))][:5]


def test_a_token_only_works_with_its_order(loaded: TraceStore) -> None:
    page = loaded.search_traces(order_by=["tags.env"], max_results=1)
    assert page.token
    with pytest.raises(InvalidInputError, match="same order_by"):
        loaded.search_traces(order_by=["name"], max_results=1, page_token=page.token)
    with pytest.raises(InvalidInputError, match="invalid page_token"):
        loaded.search_traces(max_results=1, page_token=page.token)
    default = loaded.search_traces(max_results=1)
    with pytest.raises(InvalidInputError, match="invalid page_token"):
        loaded.search_traces(order_by=["tags.env"], page_token=default.token)


@pytest.mark.parametrize("bad", ["tags.env = ", "colour = 'red'", "attributes.state = 'DONE'",
                                 "tags.x RLIKE '('"])
def test_bad_filters_raise_filter_error(loaded: TraceStore, bad: str) -> None:
    with pytest.raises(FilterError, match="Invalid filter"):
        loaded.search_traces(filter_string=bad)
    with pytest.raises(FilterError):
        loaded.search_trace_ids(filter_string=bad)


def test_bad_order_by_raises_filter_error(loaded: TraceStore) -> None:
    with pytest.raises(FilterError, match=r"cannot order by span\.name"):
        loaded.search_traces(order_by=["span.name"])


def test_experiment_scoping_applies_with_a_filter(fresh: TraceStore) -> None:
    loaded = fresh
    other = loaded.create_experiment("other")
    loaded.log_traces([Trace(TraceInfo(trace_id="tr-" + "d" * 32, experiment_id=other,
                                       request_time=T0, state="OK", tags={"env": "prod"}),
                             TraceData([]))])
    assert set(loaded.search_trace_ids(["0"], filter_string="tags.env = 'prod'")) == {A}
    assert set(loaded.search_trace_ids([other], filter_string="tags.env = 'prod'")) == {
        "tr-" + "d" * 32}
    assert len(loaded.search_trace_ids(filter_string="tags.env = 'prod'")) == 2
    assert loaded.search_trace_ids([], filter_string="tags.env = 'prod'") == []


def test_postgresql_rejects_a_python_only_regex_as_a_filter_error(pg_uri: str) -> None:
    with SqlStore(pg_uri) as store:
        store.log_traces(_traces())
        with pytest.raises(FilterError, match=r"PostgreSQL cannot use the regular expression"):
            store.search_traces(filter_string="tags.env RLIKE '(?P<x>p)'")
        assert len(store.search_traces()) == 3  # the store still works


def test_nul_in_a_value_is_a_filter_error_on_postgresql(pg_uri: str) -> None:
    with SqlStore(pg_uri) as store, pytest.raises(FilterError, match="NUL"):
        store.search_traces(filter_string="tags.env = 'a\x00b'")


def test_user_text_reaches_the_database_only_as_parameters(store_uri: str) -> None:
    statements: list[str] = []
    store = SqlStore(store_uri, on_statement=lambda sql, params: statements.append(sql))
    try:
        store.log_traces(_traces())
        statements.clear()
        for text in ("tags.env = 'x''; DROP TABLE traces; --'",
                     "tags.`a'b` LIKE 'zz%' OR inputs.`q\"x`.`0` CONTAINS 'qq'",
                     "span.attributes.`k\"\\` = 'ww' AND feedback.`n'` RLIKE 'vv'"):
            assert store.search_trace_ids(filter_string=text) == []
        sql = "\n".join(statements)
        for fragment in ("DROP", "zz", "qq", "ww", "vv", "a'b", "q\"x"):
            assert fragment not in sql, fragment
        assert len(store.search_traces()) == 3
    finally:
        store.close()


LONG_ROOT = "r" * 600 + "end"  # longer than the name columns (cut at 512)
LONG_NAME_FILTERS = [
    f"attributes.name = '{LONG_ROOT}'",
    f"attributes.name = '{LONG_ROOT[:512]}'",  # the cut name is not the name
    f"attributes.name IN ('{LONG_ROOT}', 'x')",
    f"attributes.name != '{LONG_ROOT}'",
    "attributes.name LIKE '%end'",
    "attributes.name CONTAINS 'rend'",
    f"span.name = '{LONG_ROOT}'",
    "span.name LIKE '%end' AND span.type = 'AGENT'",
    f"tags.`mlflow.traceName` = '{'t' * 700}'",
    "attributes.name LIKE 't%'",  # a long name from the tag of a trace without spans
]


@pytest.mark.parametrize("filter_string", LONG_NAME_FILTERS,
                         ids=[f[:40] for f in LONG_NAME_FILTERS])
def test_names_longer_than_their_columns_compare_whole(fresh: TraceStore,
                                                       filter_string: str) -> None:
    long_root = Trace(TraceInfo(trace_id="tr-" + "d" * 32, request_time=T0),
                      TraceData([Span.build(trace_id="tr-" + "d" * 32, span_id="d" * 16,
                                            parent_id=None, name=LONG_ROOT, start_time_ns=0,
                                            end_time_ns=1, span_type="AGENT")]))
    tagged = Trace(TraceInfo(trace_id="tr-" + "e" * 32, request_time=T0 + 1,
                             tags={"mlflow.traceName": "t" * 700}), TraceData([]))
    short = Trace(TraceInfo(trace_id="tr-" + "f" * 32, request_time=T0 + 2),
                  TraceData([Span.build(trace_id="tr-" + "f" * 32, span_id="f" * 16,
                                        parent_id=None, name="rend", start_time_ns=0,
                                        end_time_ns=1, span_type="AGENT")]))
    traces = [long_root, tagged, short]
    fresh.log_traces(traces)
    expected = {t.info.trace_id for t in filter_traces(filter_string, traces)}
    mine = {t.info.trace_id for t in traces}  # the store also holds the module's A, B, C
    assert set(fresh.search_trace_ids(["0"], filter_string=filter_string)) & mine == expected
