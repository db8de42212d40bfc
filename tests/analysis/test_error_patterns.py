"""``error_patterns``: origins only, messages normalised and grouped, on both databases."""

from __future__ import annotations

import json

import pytest
from many_traces import HOUR_MS, T0_MS, Failure, dataset, make

from spanscope.analysis import error_patterns, normalise_message
from spanscope.analysis.errors import NO_MESSAGE
from spanscope.store.sql import SqlStore


@pytest.mark.parametrize(("message", "pattern"), [
    ("order ORD-12345 not found", "order ORD-<num> not found"),
    ("order ORD98765 not found", "order <id> not found"),
    ("upstream timed out after 30.5s", "upstream timed out after <num>s"),
    ("KeyError: 'user_42'", "KeyError: '<str>'"),
    ('bad value "abc" for field "x"', 'bad value "<str>" for field "<str>"'),
    ("trace tr-0123456789abcdef0123456789abcdef failed", "trace <trace_id> failed"),
    ("session 123e4567-e89b-12d3-a456-426614174000 expired", "session <uuid> expired"),
    ("pointer 0x7ffee4b2c8a0 invalid", "pointer <hex> invalid"),
    ("digest 9f86d081884c7d65 mismatch", "digest <hex> mismatch"),
    ("GET https://api.example.com/v1/orders/77 returned 503", "GET <url> returned <num>"),
    ("cannot connect to 10.0.0.12:5432", "cannot connect to <ip>"),
    ("lock on /var/lib/app/db.sqlite held", "lock on <path> held"),
    ("at 2026-01-31T12:00:00Z the job failed", "at <time> the job failed"),
    ("mail to bob@example.com bounced", "mail to <email> bounced"),
    ("  spaced   out\n message ", "spaced out message"),
    ("", NO_MESSAGE),
    (None, NO_MESSAGE),
])
def test_normalise_replaces_what_varies(message: str | None, pattern: str) -> None:
    assert normalise_message(message) == pattern


def test_messages_differing_only_in_ids_and_numbers_are_one_pattern() -> None:
    variants = ["order ORD-1 not found", "order ORD-99999 not found", "order ORD-42 not found"]
    assert len({normalise_message(m) for m in variants}) == 1
    assert normalise_message("order not found") != normalise_message(variants[0])


def test_an_exception_through_three_spans_counts_once(store: SqlStore) -> None:
    trace, _ = make(request_time=T0_MS, latency_ms=40,
                    failure=Failure("disk /dev/sda1 full", "OSError", span="write_file",
                                    via="save"))
    store.log_traces([trace])
    assert sum(s.status.status_code == "ERROR" for s in trace.data.spans) == 3
    result = error_patterns(experiment_ids=["0"], store=store)
    (row,) = result.patterns
    assert row["count"] == 1 and row["spans"] == 1
    assert row["span_names"] == ["write_file"]  # the origin, not save or the root
    assert row["exception_types"] == ["OSError"]
    assert row["pattern"] == "disk <path> full"
    assert result.error_traces == 1 and result.origin_spans == 1


def test_patterns_group_and_count_traces(store: SqlStore) -> None:
    traces, facts = dataset(150)
    store.log_traces(traces)
    result = error_patterns(experiment_ids=["0"], store=store)
    failed = [f for f in facts if f.failure]
    assert result.error_traces == len(failed)
    assert sum(r["count"] for r in result.patterns) == len(failed)
    assert [r["count"] for r in result.patterns] == sorted(
        (r["count"] for r in result.patterns), reverse=True)
    by_pattern = {r["pattern"]: r for r in result.patterns}
    assert set(by_pattern) == {"order ORD-<num> not found", "upstream timed out after <num>s",
                               "rate limit reached for user '<str>', retry in <num>ms"}
    orders = by_pattern["order ORD-<num> not found"]
    members = sorted((f for f in failed if f.failure.exception == "OrderNotFoundError"),
                     key=lambda f: (-f.request_time, f.trace_id))
    assert orders["count"] == len(members)
    assert orders["exception_types"] == ["OrderNotFoundError"]
    assert orders["span_names"] == ["http_get"]
    assert orders["example_trace_ids"] == [f.trace_id for f in members[:3]]  # newest first
    assert orders["first_seen"] < orders["last_seen"]
    assert orders["share"] == pytest.approx(len(members) / len(failed))
    assert result.table["count"].tolist() == [r["count"] for r in result.patterns]
    json.dumps(result.to_dict())
    top = error_patterns(experiment_ids=["0"], top=1, store=store)
    assert len(top.table) == 1 and top.error_traces == len(failed)


def test_a_pattern_occurring_twice_in_a_trace_counts_the_trace_once(store: SqlStore) -> None:
    trace, _ = make(request_time=T0_MS, latency_ms=60,
                    failure=Failure("order ORD-1 not found", "OrderNotFoundError"))
    # a second, independent failure with the same pattern under the root
    from spanscope.entities import Span, SpanEvent, SpanStatus, SpanStatusCode, Trace, TraceData

    root = trace.data.spans[0]
    extra = Span.build(trace_id=root.trace_id, span_id="e" * 16, parent_id=root.span_id,
                       name="http_get", start_time_ns=root.start_time_ns + 1,
                       end_time_ns=root.start_time_ns + 2, span_type="TOOL",
                       status=SpanStatus(SpanStatusCode.ERROR, "boom"),
                       events=[SpanEvent("exception", root.start_time_ns + 1, {
                           "exception.type": "OrderNotFoundError",
                           "exception.message": "order ORD-2 not found"})])
    store.log_traces([Trace(trace.info, TraceData([*trace.data.spans, extra]))])
    (row,) = error_patterns(experiment_ids=["0"], store=store).patterns
    assert (row["count"], row["spans"]) == (1, 2)


def test_status_message_is_used_without_an_exception_event(store: SqlStore) -> None:
    from factories import make_trace

    store.log_traces([make_trace(1, state="ERROR", request_time=T0_MS)])  # root only
    (row,) = error_patterns(experiment_ids=["0"], store=store).patterns
    assert row["pattern"] == "ConnectionError: upstream timed out"
    assert row["exception_types"] == []


def test_filters_and_windows_narrow_the_failures(store: SqlStore) -> None:
    traces, facts = dataset(150)
    store.log_traces(traces)
    result = error_patterns("tags.app_version = '2.0'", ["0"], T0_MS, T0_MS + 3 * HOUR_MS,
                            store=store)
    wanted = [f for f in facts if f.failure and f.app_version == "2.0"
              and f.request_time < T0_MS + 3 * HOUR_MS]
    assert result.error_traces == len(wanted)
    assert error_patterns("attributes.state = 'OK'", ["0"], store=store).patterns == []


def test_error_spans_run_where_postgresql_would_use_parallel_workers(pg_uri: str) -> None:
    """A million traces make PostgreSQL consider parallel plans for ``error_spans``, which
    cannot run ``spanscope_loads`` (its exception block is a subtransaction; migration 0014
    marks it PARALLEL UNSAFE); forcing parallel plans on a small store reproduces that,
    and the query must still answer."""
    import sqlalchemy as sa
    from tests.factories import make_trace

    with SqlStore(pg_uri) as store:
        store.log_traces([make_trace(4, state="ERROR"), make_trace(3)])
        sa.event.listen(store._engine, "connect", lambda dbapi, _: dbapi.execute(
            "SET force_parallel_mode = on"))
        store._engine.dispose()  # new connections, each forcing parallel plans
        patterns = error_patterns(experiment_ids=["0"], store=store).patterns
    assert [(p["pattern"], p["count"], p["failed"]) for p in patterns] == [
        ("upstream timed out", 1, 1)]


def test_failed_and_recovered_come_with_the_error_spans(store: SqlStore) -> None:
    """The store marks each origin span with its trace's end (``trace_failed``): the
    patterns' failed and recovered counts equal those of a store that does not say (the
    failed traces listed again)."""
    import dataclasses

    from spanscope.analysis.errors import patterns_of
    from spanscope.entities import Span, SpanStatus, SpanStatusCode, Trace, TraceData
    from spanscope.store.aggregates import Selection

    traces = []
    for i in range(6):
        trace, _ = make(request_time=T0_MS + i, latency_ms=60,
                        failure=Failure(f"order ORD-{i} not found") if i % 2 else None)
        if not i % 2:  # an OK trace whose tool call failed and was retried: recovered
            root = trace.data.spans[0]
            extra = Span.build(trace_id=root.trace_id, span_id=f"{i:016x}",
                               parent_id=root.span_id, name="http_get", span_type="TOOL",
                               start_time_ns=root.start_time_ns + 1,
                               end_time_ns=root.start_time_ns + 2,
                               status=SpanStatus(SpanStatusCode.ERROR, "order ORD-9 not found"))
            trace = Trace(trace.info, TraceData([*trace.data.spans, extra]))
        traces.append(trace)
    store.log_traces(traces)
    selection = Selection(("0",))
    spans = store.error_spans(selection)
    assert {(s.trace_id, s.trace_failed) for s in spans} == {
        (t.info.trace_id, bool(i % 2)) for i, t in enumerate(traces)}

    class Silent:
        """The store, its error spans without ``trace_failed``."""

        def error_spans(self, selection: Selection) -> list:
            return [dataclasses.replace(s, trace_failed=None)
                    for s in store.error_spans(selection)]

        def trace_sample(self, selection: Selection, **options: object) -> object:
            return store.trace_sample(selection, **options)

    (row,) = patterns_of(store, selection).patterns
    assert (row["count"], row["failed"], row["recovered"]) == (6, 3, 3)
    assert patterns_of(Silent(), selection).patterns == [row]  # type: ignore[arg-type]


def _reference_groups(spans: list, failed: set[str]) -> tuple[list[dict], int]:
    """Error patterns the plain way, one span at a time (``group_error_spans`` before it
    bucketed spans by message): what the faster grouping must equal."""
    from spanscope.analysis.errors import EXAMPLES
    from spanscope.analysis.summary import utc

    groups: dict[str, dict] = {}
    for span in spans:
        raw = span.exception_message or span.status_message
        g = groups.setdefault(normalise_message(raw), {"traces": {}, "spans": 0, "types": {},
                                                       "names": {}, "example": None})
        g["traces"][span.trace_id] = span.request_time
        g["spans"] += 1
        if span.exception_type:
            g["types"][span.exception_type] = g["types"].get(span.exception_type, 0) + 1
        g["names"][span.name] = g["names"].get(span.name, 0) + 1
        if g["example"] is None:
            g["example"] = raw
    error_traces = len({s.trace_id for s in spans})

    def by_frequency(counts: dict[str, int]) -> list[str]:
        return [k for k, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))]

    rows = []
    for pattern, g in sorted(groups.items(), key=lambda kv: (
            -len(kv[1]["traces"]), -max(kv[1]["traces"].values()), kv[0])):
        traces = g["traces"]
        newest = sorted(traces.items(), key=lambda kv: (kv[0] not in failed, -kv[1], kv[0]))
        n_failed = sum(t in failed for t in traces)
        rows.append({"pattern": pattern, "count": len(traces), "failed": n_failed,
                     "recovered": len(traces) - n_failed, "spans": g["spans"],
                     "share": len(traces) / error_traces,
                     "exception_types": by_frequency(g["types"]),
                     "span_names": by_frequency(g["names"]),
                     "first_seen": utc(min(traces.values())),
                     "last_seen": utc(max(traces.values())),
                     "example_trace_ids": [t for t, _ in newest[:EXAMPLES]],
                     "example_message": g["example"]})
    return rows, error_traces


@pytest.mark.parametrize("seed", range(5))
def test_grouping_equals_the_span_by_span_reference(seed: int) -> None:
    """Messages merging into one pattern, missing messages (the first of a pattern too),
    exceptions, traces with several origins, ties in time: every figure equals the plain
    per-span grouping's."""
    import random

    from spanscope.analysis.errors import group_error_spans
    from spanscope.store.aggregates import ErrorSpan

    rng = random.Random(seed)
    messages = [None, "", "order ORD-1 not found", "order ORD-22 not found",
                "order ORD-333 not found", "upstream timed out after 30s",
                "upstream timed out after 5s", "KeyError: 'a'", "disk full"]
    spans = []
    for i in range(600):
        trace = f"tr-{rng.randrange(200):032x}"
        exc = rng.choice([None, None, "ValueError", "KeyError"])
        spans.append(ErrorSpan(
            trace_id=trace, span_id=f"{i:016x}", name=rng.choice(["a", "b", "c"]),
            span_type="TOOL", request_time=T0_MS + int(trace[3:], 16) % 17 * HOUR_MS,
            exception_type=exc, exception_message=rng.choice(messages) if exc else None,
            status_message=rng.choice(messages) or None))
    spans.sort(key=lambda s: (s.request_time, s.trace_id, s.span_id))
    failed = {s.trace_id for s in spans if int(s.trace_id[3:], 16) % 3}
    got = group_error_spans(spans, failed)
    assert got == _reference_groups(spans, failed)
    patterns = {r["pattern"]: r for r in got[0]}
    assert patterns["order ORD-<num> not found"]["spans"] > patterns[NO_MESSAGE]["spans"] / 9
