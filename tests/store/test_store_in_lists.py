"""Long ``IN`` lists: a list of more than ``LONG_LIST`` values is bound as one value (a JSON
array read with ``json_each`` on SQLite, an array on PostgreSQL), so 70,000 values work on
both databases and select what the reference evaluator selects, and short lists keep
their plain ``IN (?, ?, ...)``.
"""

from __future__ import annotations

import random

import pytest
import sqlalchemy as sa

from spanscope.entities import Span, Trace, TraceData, TraceInfo
from spanscope.query import filter_traces
from spanscope.store.sql import SqlStore
from spanscope.store.sql.dialects import LONG_LIST, dialect_for
from spanscope.store.sql.planner import SCAN
from spanscope.store.sql.search import SearchQuery

LONG = "L" * 80  # longer than the value index's 64-character prefix


def _value(i: int) -> str:
    return [f"v{i}", f"{LONG}{i}", f"ünï-{i}", f"50%_{i}", f"q'{i}"][i % 5]


def _trace(i: int, experiment_id: str) -> Trace:
    trace_id = f"tr-{i:032x}"
    span = Span.build(trace_id=trace_id, span_id=f"{1:016x}", parent_id=None, name=_value(i),
                      start_time_ns=i * 1000, end_time_ns=i * 1000 + i * 1_000_000,
                      span_type="CHAIN")
    tags = {"a": _value(i), "n": str(i)} if i % 7 else {"n": f"{i}.5"}
    return Trace(TraceInfo(trace_id=trace_id, experiment_id=experiment_id,
                           request_time=1_700_000_000_000 + i, execution_duration=i,
                           tags=tags, trace_metadata={"m": _value(i)}), TraceData([span]))


def _quote(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _filters(length: int, rng: random.Random) -> list[str]:
    """Filters with ``length``-value lists naming about a third of the 60 traces."""
    listed = [_value(i) for i in rng.sample(range(60), 20)]
    texts = listed + [f"absent-{i}" for i in range(length - len(listed))]
    rng.shuffle(texts)
    words = ", ".join(_quote(v) for v in texts)
    numbers = ", ".join(str(n) for n in [*rng.sample(range(60), 15), 3.5, 10.5,
                                         *range(1000, 1000 + length - 17)])
    return [f"tags.a IN ({words})", f"tags.a NOT IN ({words})", f"metadata.m IN ({words})",
            f"span.name IN ({words})", f"tags.a IN ({words}) AND tags.n != '3'",
            f"tags.a NOT IN ({words}) OR metadata.m IN ({words})",
            f"attributes.execution_time IN ({numbers})", f"tags.n IN ({numbers})",
            f"tags.n NOT IN ({numbers})", f"span.duration_ms NOT IN ({numbers})"]


@pytest.mark.parametrize("length", [LONG_LIST, LONG_LIST + 1, 70_000])
def test_long_lists_select_what_the_reference_selects(stores: dict[str, SqlStore],
                                                      length: int) -> None:
    (experiment_id,) = {store.create_experiment("lists") for store in stores.values()}
    traces = [_trace(i, experiment_id) for i in range(60)]
    for store in stores.values():
        store.log_traces(traces)
    filters = _filters(length, random.Random(length))
    if length > 1000:  # parsing 70,000 values takes seconds: one filter of each kind
        filters = [filters[1], filters[3], filters[8]]
    for text in filters:
        expected = {t.info.trace_id for t in filter_traces(text, traces)}
        assert expected and len(expected) < len(traces), text[:60]
        for name, store in stores.items():
            found = set(store.search_trace_ids([experiment_id], filter_string=text,
                                               max_results=1000))
            assert found == expected, (name, length, text[:60], sorted(found ^ expected))
            page = store.search_traces([experiment_id], filter_string=text, max_results=5)
            assert {t.info.trace_id for t in page} <= expected  # the lookup/scan plans


@pytest.mark.parametrize("dialect", ["sqlite", "postgresql"])
def test_a_long_list_is_one_bound_value(dialect: str) -> None:
    values = ", ".join(f"'v{i}'" for i in range(70_000))
    search = SearchQuery(dialect, [1], f"tags.a IN ({values}) AND span.name IN ({values})",
                         None)
    statement = sa.select(sa.literal(1)).where(*search.conditions(SCAN))
    compiled = statement.compile(dialect=sa.create_engine(
        "sqlite://" if dialect == "sqlite" else "postgresql+psycopg://").dialect)
    assert len(compiled.params) < 10


def test_sqlite_keeps_short_lists_and_lists_with_nul_plain() -> None:
    sqlite = dialect_for("sqlite")
    column = sa.column("x", sa.Text)
    short = sqlite.in_list(column, [f"v{i}" for i in range(LONG_LIST)])
    with_nul = sqlite.in_list(column, [f"v{i}\x00" for i in range(LONG_LIST + 1)])
    long = sqlite.in_list(column, [f"v{i}" for i in range(LONG_LIST + 1)])
    assert "json_each" not in str(short) and "json_each" not in str(with_nul)
    assert "json_each" in str(long)
