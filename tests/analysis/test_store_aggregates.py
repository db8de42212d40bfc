"""The store's aggregate queries: SQLite and PostgreSQL agree with the in-memory reference
(plain Python over the filter evaluator) and with numbers computed here from the facts."""

from __future__ import annotations

import dataclasses
import itertools
import json
import math
from collections.abc import Iterator

import numpy as np
import pytest
from many_traces import HOUR_MS, T0_MS, Failure, dataset, make

from spanscope.entities import Span, Trace, TraceData
from spanscope.exceptions import FilterError, InvalidInputError
from spanscope.store.aggregates import (
    GroupKey,
    NumericField,
    Sample,
    Selection,
    TraceStats,
)
from spanscope.store.memory import InMemoryStore
from spanscope.store.sql import SqlStore

FILTERS = [None, "tags.app_version = '2.0'", "attributes.state = 'ERROR'",
           "span.type = 'RERANKER' AND span.duration_ms > 5", "tags.app_version IS NULL",
           "feedback.quality >= 0.5"]


@pytest.fixture
def stores(store_uri: str) -> Iterator[tuple[SqlStore, InMemoryStore, list]]:
    """The same 150 traces in two experiments, in a SQL store and the reference store."""
    sql, memory = SqlStore(store_uri), InMemoryStore()
    for store in (sql, memory):
        assert store.create_experiment("other") == "1"
    traces, facts = dataset(150, experiments=("0", "1"))
    sql.log_traces(traces)
    memory.log_traces(traces)
    yield sql, memory, facts
    sql.close()


def close(a: float | None, b: float | None) -> bool:
    if a is None or b is None:
        return a is b
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-6)


def same_stats(left: list[TraceStats], right: list[TraceStats]) -> None:
    assert len(left) == len(right)
    for a, b in zip(left, right, strict=True):
        da, db = dataclasses.asdict(a), dataclasses.asdict(b)
        qa, qb = da.pop("latency_quantiles_ms"), db.pop("latency_quantiles_ms")
        assert all(close(x, y) for x, y in zip(qa, qb, strict=True)), (qa, qb)
        assert close(da.pop("latency_sum_ms"), db.pop("latency_sum_ms"))
        assert da == db


@pytest.mark.parametrize("filter_string", FILTERS)
@pytest.mark.parametrize("experiments", [("0",), ("0", "1"), None])
def test_trace_stats_match_the_reference(stores: tuple, filter_string: str | None,
                                         experiments: tuple[str, ...] | None) -> None:
    sql, memory, _ = stores
    selection = Selection(experiments, filter_string)
    same_stats(sql.trace_stats(selection), memory.trace_stats(selection))
    for options in ({"bucket_ms": HOUR_MS}, {"group_by": GroupKey("tag", "app_version")},
                    {"bucket_ms": HOUR_MS, "group_by": GroupKey("tag", "app_version")}):
        same_stats(sql.trace_stats(selection, **options),
                   memory.trace_stats(selection, **options))


def test_trace_stats_equal_a_plain_python_computation(stores: tuple) -> None:
    sql, _, facts = stores
    mine = [f for f in facts if f.experiment_id == "0"]
    (row,) = sql.trace_stats(Selection(("0",)))  # the single-experiment index route
    latencies = np.array([f.latency_ms for f in mine], dtype=float)
    assert row.traces == len(mine)
    assert row.errors == sum(f.error for f in mine)
    for q, value in zip(row.quantiles, row.latency_quantiles_ms, strict=True):
        assert value == pytest.approx(np.percentile(latencies, q * 100), abs=1e-9)
    assert row.latency_sum_ms == latencies.sum()
    assert (row.latency_min_ms, row.latency_max_ms) == (latencies.min(), latencies.max())
    assert row.input_tokens == sum(f.input_tokens for f in mine)
    assert row.output_tokens == sum(f.output_tokens for f in mine)
    assert row.total_tokens == row.input_tokens + row.output_tokens
    assert (row.first_ms, row.last_ms) == (min(f.request_time for f in mine),
                                           max(f.request_time for f in mine))
    # the general route (a filter that matches everything) gives the same numbers
    (general,) = sql.trace_stats(Selection(("0",), "attributes.request_time > 0"))
    same_stats([general], [row])


def test_hourly_buckets_and_groups_partition_the_traces(stores: tuple) -> None:
    sql, _, facts = stores
    rows = sql.trace_stats(Selection(None), bucket_ms=HOUR_MS,
                           group_by=GroupKey("tag", "app_version"))
    assert sum(r.traces for r in rows) == len(facts)
    for row in rows:
        members = [f for f in facts if (f.request_time // HOUR_MS) * HOUR_MS == row.bucket_ms
                   and f.app_version == row.group]
        latencies = np.array([f.latency_ms for f in members], dtype=float)
        assert row.traces == len(members)
        assert row.latency(0.95) == pytest.approx(np.percentile(latencies, 95), abs=1e-9)
    assert [(r.bucket_ms, r.group) for r in rows] == sorted(
        [(r.bucket_ms, r.group) for r in rows], key=lambda k: (k[0], k[1] is None, k[1] or ""))


@pytest.mark.parametrize("filter_string", FILTERS)
def test_span_stats_match_the_reference_and_the_facts(stores: tuple,
                                                      filter_string: str | None) -> None:
    sql, memory, facts = stores
    selection = Selection(None, filter_string)
    got, want = sql.span_stats(selection), memory.span_stats(selection)
    assert [(r.span_type, r.name, r.count, r.errors, r.duration_n) for r in got] == [
        (r.span_type, r.name, r.count, r.errors, r.duration_n) for r in want]
    for a, b in zip(got, want, strict=True):
        assert close(a.total_ms, b.total_ms) and close(a.max_ms, b.max_ms)
        assert all(close(x, y) for x, y in zip(a.duration_quantiles_ms,
                                               b.duration_quantiles_ms, strict=True))
    if filter_string is None:  # every span of the store: the index-only route on SQLite
        retrieve = [ms for f in facts for t, n, ms, _ in f.spans if n == "retrieve"]
        (row,) = [r for r in got if r.name == "retrieve"]
        assert row.count == len(retrieve)
        assert row.duration_quantiles_ms[0] == pytest.approx(np.percentile(retrieve, 50))
        assert row.duration_quantiles_ms[1] == pytest.approx(np.percentile(retrieve, 95))
        (tools,) = [r for r in got if r.span_type == "TOOL" and r.name is None]
        assert tools.errors == 2 * sum(f.error for f in facts)


def test_every_span_route_equals_the_filtered_route(store: SqlStore) -> None:
    """The whole-store route (index walks on SQLite) and the join route agree."""
    traces, _ = dataset(80)
    store.log_traces(traces)
    fast = store.span_stats(Selection(("0",)))
    joined = store.span_stats(Selection(("0",), "attributes.request_time > 0"))
    assert [(r.span_type, r.name, r.count, r.errors, r.duration_n) for r in fast] == [
        (r.span_type, r.name, r.count, r.errors, r.duration_n) for r in joined]
    for a, b in zip(fast, joined, strict=True):
        assert close(a.total_ms, b.total_ms) and close(a.max_ms, b.max_ms)
        assert all(close(x, y) for x, y in zip(a.duration_quantiles_ms,
                                               b.duration_quantiles_ms, strict=True))


@pytest.mark.parametrize("filter_string", [None, "tags.app_version = '1.0'"])
def test_error_spans_are_the_origins(stores: tuple, filter_string: str | None) -> None:
    sql, memory, facts = stores
    selection = Selection(None, filter_string)
    got = sql.error_spans(selection)
    assert got == memory.error_spans(selection)
    failed = [f for f in facts if f.failure and (
        filter_string is None or f.app_version == "1.0")]
    assert len(got) == len(failed)  # one origin per failed trace, not three error spans
    by_trace = {e.trace_id: e for e in got}
    for fact in failed:
        origin = by_trace[fact.trace_id]
        assert origin.name == fact.failure.span
        assert origin.exception_type == fact.failure.exception
        assert origin.exception_message == fact.failure.message
        assert origin.request_time == fact.request_time


def test_model_usage_per_model_matches_the_reference(stores: tuple) -> None:
    sql, memory, facts = stores
    for options in ({}, {"bucket_ms": HOUR_MS}, {"group_by": GroupKey("tag", "app_version")}):
        for selection in (Selection(None), Selection(("1",)),
                          Selection(None, "tags.app_version = '2.0'"),
                          Selection(None, None, T0_MS + HOUR_MS, T0_MS + 3 * HOUR_MS)):
            assert sql.model_usage(selection, **options) == memory.model_usage(
                selection, **options)
    rows = {r.model: r for r in sql.model_usage(Selection(None))}
    for model in ("gpt-4o", "gpt-4o-mini", "my-local-model", None):
        mine = [f for f in facts if f.model == model]
        row = rows[model or ""]
        assert (row.traces, row.calls) == (len(mine), len(mine))
        assert row.input_tokens == sum(f.input_tokens for f in mine)
        assert row.output_tokens == sum(f.output_tokens for f in mine)


def test_model_usage_is_recomputed_when_a_trace_arrives_in_parts(store: SqlStore) -> None:
    trace, _ = make(request_time=T0_MS, latency_ms=50, model="gpt-4o", input_tokens=10,
                    output_tokens=2)
    root = trace.data.spans[0]
    chat = next(s for s in trace.data.spans if s.name == "chat")
    # part 1: only the chat span; part 2: a wrapper around it that repeats its usage
    store.log_traces([Trace(trace.info, TraceData([chat]))])
    wrapper = Span.build(trace_id=chat.trace_id, span_id="f" * 16, parent_id=root.span_id,
                         name="client", start_time_ns=chat.start_time_ns,
                         end_time_ns=chat.end_time_ns, span_type="LLM",
                         attributes={"mlflow.chat.tokenUsage": {"input_tokens": 10,
                                                                "output_tokens": 2}})
    chat_under_wrapper = dataclasses.replace(chat, parent_id="f" * 16)
    store.log_traces([Trace(trace.info, TraceData([root, wrapper, chat_under_wrapper]))])
    (row,) = store.model_usage(Selection(None))
    assert (row.model, row.calls, row.input_tokens, row.output_tokens) == ("gpt-4o", 1, 10, 2)
    store.delete_trace_ids([trace.info.trace_id])
    assert store.model_usage(Selection(None)) == []


@pytest.mark.parametrize("filter_string", [None, "tags.app_version = '2.0'"])
def test_samples_are_the_same_traces_in_every_store(stores: tuple,
                                                    filter_string: str | None) -> None:
    sql, memory, facts = stores
    selection = Selection(None, filter_string)
    for sample in (Sample(25, 0), Sample(25, 3), Sample(10_000, 0), None):
        got = sql.trace_sample(selection, sample, spans=True)
        want = memory.trace_sample(selection, sample, spans=True)
        assert got == want
        matching = [f for f in facts if filter_string is None or f.app_version == "2.0"]
        assert got.total == len(matching)
        assert len(got.traces) == min(len(matching), sample.size if sample else 10**9)
    assert [t.trace_id for t in sql.trace_sample(selection, Sample(25, 0)).traces] != [
        t.trace_id for t in sql.trace_sample(selection, Sample(25, 1)).traces]
    values = {t.trace_id: t for t in sql.trace_sample(selection).traces}
    for fact in facts:
        if fact.trace_id in values:
            row = values[fact.trace_id]
            assert (row.latency_ms, row.error) == (fact.latency_ms, fact.error)
            assert row.assessments.get("quality") == fact.feedback


def test_latency_histogram_counts_every_finished_trace(stores: tuple) -> None:
    sql, memory, facts = stores
    edges = [0.0, 50.0, 100.0, 200.0, 1000.0]
    got = sql.latency_histogram(Selection(None), edges)
    assert got == memory.latency_histogram(Selection(None), edges)
    assert got == [sum(lo <= f.latency_ms < hi or (hi == 1000.0 and f.latency_ms == hi)
                       for f in facts) for lo, hi in itertools.pairwise(edges)]
    with pytest.raises(InvalidInputError, match="strictly increasing"):
        sql.latency_histogram(Selection(None), [1.0, 1.0])


def test_numeric_pairs_read_numbers_and_count_what_is_not(stores: tuple) -> None:
    sql, memory, facts = stores
    x, y = NumericField("tag", "quality_score"), NumericField("attribute", "latency_ms")
    got = sql.numeric_pairs(Selection(None), x, y)
    assert got == memory.numeric_pairs(Selection(None), x, y)
    numeric = sorted((f.request_time, f.trace_id, f.quality, f.latency_ms) for f in facts
                     if f.quality is not None)
    assert got.x == [q for _, _, q, _ in numeric]
    assert got.y == [float(ms) for _, _, _, ms in numeric]
    assert got.x_coverage.example == "n/a"
    assert got.x_coverage.present > got.x_coverage.numeric == len(numeric)
    feedback = sql.numeric_pairs(Selection(None), NumericField("assessment", "quality"), y)
    assert feedback == memory.numeric_pairs(Selection(None),
                                            NumericField("assessment", "quality"), y)
    assert len(feedback.x) == sum(f.feedback is not None for f in facts)


def test_bad_input_is_a_clear_error(store: SqlStore) -> None:
    with pytest.raises(FilterError):
        store.trace_stats(Selection(None, "tags.x = "))
    with pytest.raises(InvalidInputError, match="bucket_ms"):
        store.trace_stats(Selection(None), bucket_ms=0)
    with pytest.raises(InvalidInputError, match="experiment id"):
        store.span_stats(Selection(("not-a-number",)))
    with pytest.raises(InvalidInputError, match="unknown numeric attribute"):
        store.numeric_pairs(Selection(None), NumericField("attribute", "colour"),
                            NumericField("attribute", "latency_ms"))
    assert store.trace_stats(Selection(())) == []


def test_aggregates_never_read_span_payloads(sqlite_uri: str) -> None:
    """Summary, usage, histogram and span statistics read summary and timing columns;
    only error_spans reads span JSON (for the exception event), of error spans only."""
    statements: list[str] = []
    store = SqlStore(sqlite_uri, on_statement=lambda sql, params: statements.append(sql))
    traces, _ = dataset(30)
    store.log_traces(traces)
    statements.clear()
    selection = Selection(("0",), "tags.app_version = '2.0'")
    store.trace_stats(selection, bucket_ms=HOUR_MS)
    store.model_usage(selection)
    store.latency_histogram(selection, [0.0, 10.0, 1000.0])
    store.span_stats(Selection(("0",)))
    store.span_stats(selection)
    store.trace_sample(selection, Sample(10), spans=True)
    assert statements and not [s for s in statements if "content" in s]
    store.close()


def test_results_are_json_serialisable(stores: tuple) -> None:
    from spanscope.store.aggregates import as_dict

    sql, _, _ = stores
    rows = sql.trace_stats(Selection(None), bucket_ms=HOUR_MS)
    json.dumps([as_dict(r) for r in rows])
    json.dumps([as_dict(r) for r in sql.span_stats(Selection(None))])


@pytest.mark.parametrize("size", [7, 60_000])  # plain sort, and numpy's for big groups
def test_sqlite_quantiles_read_the_numbers_of_a_json_array(size: int) -> None:
    """SQLite's percentiles (``json_group_array`` read in Python) leave out nulls and text,
    as ``percentile_cont`` leaves out NULLs, and interpolate like numpy."""
    from spanscope.store.sql.sqlite_aggregates import json_quantiles

    numbers = [(i * 7919) % 1013 for i in range(size)]
    raw = json.dumps([None, *numbers[:3], "n/a", *numbers[3:], None])
    expected = np.percentile(np.array(numbers, dtype=float), [50, 95, 99])
    assert json_quantiles(raw, (0.5, 0.95, 0.99)) == tuple(float(v) for v in expected)
    assert json_quantiles("[null]", (0.5,)) == (None,)
    assert json_quantiles(None, (0.5, 0.9)) == (None, None)


def test_groups_by_a_tag_read_from_the_value_index_equal_the_reference(
        store_uri: str) -> None:
    """Grouping by a tag (SQLite: read from the value index, each value's traces joined by
    key; the usual probe per trace when the key has more rows than the selection or a
    value fills the indexed 64 characters) gives the reference's groups, "none" too."""
    sql, memory = SqlStore(store_uri), InMemoryStore()
    envs = ["prod", "prod", "dev", "", None]
    builds = ["x" * 70 + "a", "x" * 70 + "b", "short"]  # two long values, one prefix
    traces = []
    for i in range(60):
        env = envs[i % len(envs)]
        tags = {"team": "a", "build": builds[i % len(builds)]}
        trace, _ = make(request_time=T0_MS + i * 60_000, latency_ms=10 + 7 * i,
                        failure=None if i % 4 else Failure("boom"),
                        tags=tags | ({} if env is None else {"env": env}))
        traces.append(trace)
    try:
        for store in (sql, memory):
            store.log_traces(traces)
        cases = [Selection(None), Selection(("0",)),
                 Selection(("0",), None, T0_MS, T0_MS + 30 * 60_000),
                 Selection(("0",), "tags.env = 'prod'"),
                 Selection(("0",), "attributes.state = 'ERROR'")]
        for selection in cases:
            for key in ("env", "team", "build", "absent"):
                same_stats(sql.trace_stats(selection, group_by=GroupKey("tag", key)),
                           memory.trace_stats(selection, group_by=GroupKey("tag", key)))
        rows = sql.trace_stats(Selection(("0",)), group_by=GroupKey("tag", "env"))
        assert {r.group: r.traces for r in rows} == {"prod": 24, "dev": 12, "": 12,
                                                     None: 12}
        rows = sql.trace_stats(Selection(("0",)), group_by=GroupKey("tag", "build"))
        assert sorted(r.traces for r in rows) == [20, 20, 20]
    finally:
        sql.close()


def test_the_largest_value_is_the_rest_of_the_selection(store_uri: str,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """When every selected trace has a value, the value with the most traces is not joined
    but computed as the selection less the other values (SQLite): the same figures as the
    reference, with durations shared between groups, a trace without a duration, and a
    joined group holding the selection's first and last traces (the rest's own times are
    then read). A key as many rows as the selection has traces, one of them on a trace of
    another experiment, leaves a selected trace without a value: the rest is then the
    traces without one."""
    from spanscope.store.sql import aggregates as sql_aggregates

    sql, memory = SqlStore(store_uri), InMemoryStore()
    rests: list[str | None] = []  # the rest group of each call
    real_rest = sql_aggregates._rest
    monkeypatch.setattr(sql_aggregates, "_rest", lambda *args: rests.append(args[5])
                        or real_rest(*args))
    traces = []
    for i in range(40):
        tags = {"env": "dev" if i in (0, 39) or i % 5 == 0 else "prod"}
        if i != 3:
            tags["team"] = "a" if i % 3 else "b"
        trace, _ = make(request_time=T0_MS + i * 60_000, latency_ms=10 + 3 * (i % 7),
                        failure=None if i % 6 else Failure("boom"), tags=tags,
                        input_tokens=100 + i)
        if i == 7:
            trace.info.execution_duration = None
            trace.info.state = "IN_PROGRESS"
        traces.append(trace)
    for i in range(4):  # another experiment's traces, one with a team
        trace, _ = make(request_time=T0_MS + i, latency_ms=5, experiment_id="1",
                        tags={"team": "a"} if i == 1 else {})
        traces.append(trace)
    try:
        for store in (sql, memory):
            assert store.create_experiment("other") == "1"
            store.log_traces(traces)
        cases = [Selection(("0",)), Selection(("0",), None, T0_MS, T0_MS + 20 * 60_000),
                 Selection(None), Selection(("0",), "attributes.state = 'ERROR'")]
        for selection in cases:
            for key in ("env", "team", "absent"):
                same_stats(sql.trace_stats(selection, group_by=GroupKey("tag", key)),
                           memory.trace_stats(selection, group_by=GroupKey("tag", key)))
        if store_uri.startswith("sqlite"):
            assert rests[:3] == ["prod", None, None]  # experiment 0 by env, team, absent
            assert rests.count("prod") == 1
        rows = sql.trace_stats(Selection(("0",)), group_by=GroupKey("tag", "env"))
        prod = next(r for r in rows if r.group == "prod")
        assert (prod.traces, prod.latency_n, prod.in_progress) == (31, 30, 1)
        assert (prod.first_ms, prod.last_ms) == (T0_MS + 60_000, T0_MS + 38 * 60_000)
    finally:
        sql.close()


def test_sqlite_difference_removes_each_number_once() -> None:
    """The rest group's latencies: the whole's numbers less the parts', a multiset
    difference (a number in both keeps the whole's surplus), sorted; nulls left out."""
    from spanscope.store.sql.sqlite_aggregates import difference, sorted_numbers

    def less(whole: list, *parts: list) -> list[float]:
        return difference(sorted_numbers(json.dumps(whole)),
                          [sorted_numbers(json.dumps(p)) for p in parts]).tolist()

    whole = [5, 3, None, 3, 9, 3, 1.5]
    assert less(whole, [3, None], [9, 3]) == [1.5, 3.0, 5.0]
    assert less(whole) == [1.5, 3.0, 3.0, 3.0, 5.0, 9.0]
    assert less([], []) == []
    assert less([2, 2], [2, 2]) == []
    assert sorted_numbers(None).tolist() == [] and sorted_numbers('[1, "x", 0]').tolist() == [
        0.0, 1.0]
