"""The faster routes of the overview's aggregates give the figures of the plain ones:
span types summed from their names, PostgreSQL's percentiles by index walks once the
visibility map is set, and error spans read by PostgreSQL's own JSON parser, falling back
to the lenient function when a span's JSON is one it rejects."""

from __future__ import annotations

import dataclasses

import pytest
import sqlalchemy as sa
from many_traces import dataset

from spanscope.store.aggregates import Selection
from spanscope.store.sql import SqlStore
from spanscope.store.sql.dialects import dialect_for
from spanscope.store.sql.engine import parse_uri

EVERYTHING = "attributes.request_time > 0"  # a filter matching every trace: the join route


def _rows(stats: list) -> list[tuple]:
    return [(r.span_type, r.name, r.count, r.errors, r.duration_n, r.total_ms, r.max_ms)
            for r in stats]


@pytest.mark.parametrize("filter_string", [None, EVERYTHING, "tags.app_version = '2.0'"])
def test_span_types_without_quantiles_are_their_names_summed(store: SqlStore,
                                                             filter_string: str | None,
                                                             ) -> None:
    traces, _ = dataset(120)
    store.log_traces(traces)
    selection = Selection(("0",), filter_string)
    quick = store.span_stats(selection, quantiles=())
    full = store.span_stats(selection)  # each level its own query, with percentiles
    assert _rows(quick) == _rows(full)
    assert {r.name for r in quick} > {None} and all(r.duration_quantiles_ms == () for r in quick)
    by_type = {r.span_type: r for r in quick if r.name is None}
    for span_type, row in by_type.items():
        names = [r for r in quick if r.span_type == span_type and r.name is not None]
        assert row.count == sum(r.count for r in names) and len(names) >= 1


def _vacuum(uri: str, table: str) -> None:
    engine = sa.create_engine(parse_uri(uri), isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.exec_driver_sql(f"VACUUM ANALYZE {table}")
    engine.dispose()


def _walks(uri: str) -> bool:
    engine = sa.create_engine(parse_uri(uri))
    with engine.connect() as conn:
        walks = dialect_for("postgresql").walks_trace_index(conn)
    engine.dispose()
    return walks


def test_postgresql_percentiles_by_index_walks_equal_percentile_cont(pg_uri: str) -> None:
    with SqlStore(pg_uri) as store:
        store.create_experiment("other")
        traces, _ = dataset(150, experiments=("0", "1"))
        store.log_traces(traces)
        assert not _walks(pg_uri)  # no VACUUM yet: no visibility map, one sort instead
        before = store.trace_stats(Selection(("0",)))
        _vacuum(pg_uri, "traces")
        assert _walks(pg_uri)
        walked = store.trace_stats(Selection(("0",)))
        general = store.trace_stats(Selection(("0",), EVERYTHING))
    assert walked == before == general
    assert walked[0].latency_quantiles_ms[0] is not None


def test_postgresql_error_spans_fall_back_on_json_it_rejects(pg_uri: str) -> None:
    with SqlStore(pg_uri) as store:
        traces, facts = dataset(60)
        store.log_traces(traces)
        selection = Selection(("0",))
        strict = store.error_spans(selection)
        assert strict and all(e.status_message for e in strict)
        engine = sa.create_engine(parse_uri(pg_uri))
        with engine.begin() as conn:  # NaN: Python's json reads it, PostgreSQL's does not
            changed = conn.execute(sa.text(
                "UPDATE spans SET content = '{\"odd\": NaN, ' || substr(content, 2) "
                "WHERE trace_id = :t AND span_id = :s"),
                {"t": strict[0].trace_id, "s": strict[0].span_id}).rowcount
        engine.dispose()
        assert changed == 1
        lenient = store.error_spans(selection)
    assert [dataclasses.asdict(e) for e in lenient] == [dataclasses.asdict(e) for e in strict]
    assert len(strict) == sum(1 for f in facts if f.failure)
