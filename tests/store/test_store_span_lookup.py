"""Span lookups: a top-level ``span.`` group with a name or type equality, found through
the spans' indexes instead of a probe per trace (``planner.SpanLookup``).

Both plans must select exactly what the reference evaluator selects, and SQLite must take
the lookup for a rare span name on a page and keep probing for a common one.
"""

from __future__ import annotations

import random

import sqlalchemy as sa

from factories import new_span_id, new_trace_id
from spanscope.entities import Span, SpanStatus, SpanStatusCode, Trace, TraceData, TraceInfo
from spanscope.query import filter_traces
from spanscope.store.sql import SqlStore, schema
from spanscope.store.sql.planner import SCAN, Plan, SpanLookup, span_lookups
from spanscope.store.sql.search import SearchQuery

NAMES = ["plan", "search_docs", "refund_tool", "n" * 516 + "tail"]  # longer than the column
TYPES = ["TOOL", "RETRIEVER", "CHAT_MODEL"]


def _trace(rng: random.Random, i: int, experiment_id: str) -> Trace:
    trace_id = new_trace_id()
    start = (1_700_000_000_000 + i) * 1_000_000
    root = Span.build(trace_id=trace_id, span_id=new_span_id(), parent_id=None, name="agent",
                      start_time_ns=start, end_time_ns=start + 900_000_000, span_type="AGENT")
    spans = [root]
    for k in range(rng.randrange(0, 4)):
        begin = start + k * 10_000_000
        status = SpanStatus(rng.choice([SpanStatusCode.OK, SpanStatusCode.ERROR]))
        spans.append(Span.build(
            trace_id=trace_id, span_id=new_span_id(), parent_id=root.span_id,
            name=rng.choice(NAMES), span_type=rng.choice(TYPES), start_time_ns=begin,
            end_time_ns=begin + rng.choice([1, 5, 50, 700]) * 1_000_000, status=status))
    info = TraceInfo(trace_id=trace_id, experiment_id=experiment_id,
                     request_time=1_700_000_000_000 + i, execution_duration=900)
    return Trace(info, TraceData(spans))


FILTERS = [
    "span.name = 'refund_tool'",
    "span.name = 'nowhere'",
    "span.name IN ('plan', 'nowhere')",
    f"span.name = '{NAMES[3]}'",
    f"span.name IN ('{NAMES[3]}', 'plan')",
    f"span.name != '{NAMES[3]}'",
    "span.name LIKE '%tail'",  # only the whole name ends so
    "span.name RLIKE '^n+tail$'",
    "span.name CONTAINS 'ntail' AND span.type = 'TOOL'",
    "span.name = 'search_docs' AND span.duration_ms > 10",
    "span.type = 'TOOL' AND span.status = 'ERROR'",
    "(span.name = 'plan' AND span.type = 'RETRIEVER') AND trace.status = 'OK'",
    "span.name = 'plan' AND span.name = 'refund_tool'",  # two groups: each any span
    "(span.name = 'plan' AND span.duration_ms < 10) AND span.type = 'TOOL'",
    "NOT span.name = 'plan'",
    "span.name = 'plan' OR span.type = 'TOOL'",
    "span.name != 'plan'",
]


def _ids_by_plan(store: SqlStore, experiment_id: str, text: str) -> dict[str, set[str]]:
    """The ids the filter selects probing (``scan``) and with each span lookup, forced."""
    dialect = store._engine.dialect.name
    search = SearchQuery(dialect, [int(experiment_id)], text, None)
    lookups = span_lookups(search.node)
    plans = {"scan": SCAN,
             **{f"lookup {i}": Plan((lookup,)) for i, lookup in enumerate(lookups)}}
    out = {}
    with store._engine.connect() as conn:
        for name, chosen in plans.items():
            query = sa.select(schema.traces.c.trace_id).where(*search.conditions(chosen))
            out[name] = {row.trace_id for row in conn.execute(query)}
    return out


def test_span_lookups_select_what_the_reference_selects(stores: dict[str, SqlStore]) -> None:
    rng = random.Random(5)
    (experiment_id,) = {store.create_experiment("spans") for store in stores.values()}
    loaded = [_trace(rng, i, experiment_id) for i in range(120)]
    for store in stores.values():
        store.log_traces(loaded)
    for text in FILTERS:
        expected = {t.info.trace_id for t in filter_traces(text, loaded)}
        for name, store in stores.items():
            for plan, found in _ids_by_plan(store, experiment_id, text).items():
                assert found == expected, (name, plan, text, sorted(found ^ expected))
            page = store.search_traces([experiment_id], filter_string=text, max_results=5,
                                       include_spans=False)
            assert [t.info.trace_id for t in page] == [
                t.info.trace_id for t in sorted(loaded, key=lambda t: -t.info.request_time)
                if t.info.trace_id in expected][:5], (name, text)


def test_only_top_level_groups_with_a_name_or_type_equality_offer_a_lookup() -> None:
    def offered(text: str) -> list[tuple[str, tuple[str, ...]]]:
        search = SearchQuery("sqlite", [0], text, None)
        return [(lookup.column, lookup.values) for lookup in span_lookups(search.node)]

    assert offered("span.name = 'a'") == [("name", ("a",))]
    assert offered("span.type IN ('TOOL', 'LLM') AND trace.status = 'OK'") == [
        ("span_type", ("TOOL", "LLM"))]
    assert offered("span.duration_ms > 5 AND span.name = 'a'") == [("name", ("a",))]
    assert offered("span.name = 'a' OR trace.status = 'OK'") == []
    assert offered("NOT span.name = 'a'") == []
    assert offered("span.name LIKE 'a%'") == []
    assert offered("span.status = 'ERROR'") == []
    assert offered(f"span.name = '{'n' * 600}'") == []  # longer than the indexed column


def test_sqlite_looks_up_a_rare_span_name_and_probes_a_common_one(sqlite_uri: str) -> None:
    rng = random.Random(9)
    with SqlStore(sqlite_uri) as store:
        experiment_id = store.create_experiment("plans")
        store.log_traces([_trace(rng, i, experiment_id) for i in range(300)])
        experiments = [int(experiment_id)]

        def plan(text: str, limit: int | None, order_by: list[str] | None = None) -> list[str]:
            search = SearchQuery("sqlite", experiments, text, order_by)
            with store._engine.connect() as conn:
                return [type(lookup).__name__ for lookup in search.plan(conn, limit).lookups]

        assert plan("span.name = 'nowhere'", 11) == ["SpanLookup"]
        assert plan("span.type = 'TOOL'", 11) == []  # ~150 spans: probing fills the page
        assert plan("span.name = 'nowhere'", None) == []  # every match: probes, as ever
        assert plan("span.name = 'nowhere'", 11, ["tags.team"]) == []
        assert plan("span.name = 'nowhere' AND tags.env = 'x'", 11) in (
            ["ValueLookup"], ["SpanLookup"])  # both rare: the smaller range (a tie here)
        assert store.search_trace_ids([experiment_id], filter_string="span.name = 'nowhere'"
                                      ) == []


def test_postgresql_leaves_span_groups_to_its_planner(pg_uri: str) -> None:
    with SqlStore(pg_uri) as store:
        search = SearchQuery("postgresql", [0], "span.name = 'nowhere'", None)
        with store._engine.connect() as conn:
            assert search.plan(conn, 11) == SCAN
    assert isinstance(span_lookups(search.node)[0], SpanLookup)
