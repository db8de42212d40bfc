"""Aggregates over a time window (what monitors read): the SQL stores agree with the
in-memory reference whichever way they read the window (a common tag's window scanned
through the time index, a rare one looked up in the value index), with or without
experiments named; and a common tag's short window is not read through the value index."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterator

import pytest
from tests.analysis.many_traces import HOUR_MS, T0_MS, dataset

from spanscope.store.aggregates import Selection
from spanscope.store.memory import InMemoryStore
from spanscope.store.sql import SqlStore

FILTERS = [None, "tags.app_version = '2.0'", "tags.app_version = '1.0' AND "
           "attributes.state = 'ERROR'", "span.type = 'RETRIEVER' AND tags.app_version = '2.0'"]
WINDOWS = [(T0_MS + HOUR_MS, T0_MS + HOUR_MS + 10 * 60_000), (T0_MS, T0_MS + 6 * HOUR_MS),
           (T0_MS + 2 * HOUR_MS, None)]


@pytest.fixture
def stores(store_uri: str) -> Iterator[tuple[SqlStore, InMemoryStore]]:
    sql, memory = SqlStore(store_uri), InMemoryStore()
    for store in (sql, memory):
        store.create_experiment("other")
    traces, _ = dataset(300, experiments=("0", "1"))
    sql.log_traces(traces)
    memory.log_traces(traces)
    yield sql, memory
    sql.close()


def _rounded(value: object) -> object:
    if isinstance(value, float):
        return round(value, 6) if math.isfinite(value) else value
    if isinstance(value, (list, tuple)):
        return [_rounded(v) for v in value]
    if dataclasses.is_dataclass(value):
        return {k: _rounded(v) for k, v in dataclasses.asdict(value).items()}
    return value


@pytest.mark.parametrize("filter_string", FILTERS)
@pytest.mark.parametrize("window", WINDOWS)
@pytest.mark.parametrize("experiments", [None, ("1",)])
def test_windows_agree_with_the_reference(stores: tuple, filter_string: str | None,
                                          window: tuple, experiments: tuple | None) -> None:
    sql, memory = stores
    selection = Selection(experiments, filter_string, *window)
    for name, call in (("trace_stats", lambda s: s.trace_stats(selection)),
                       ("span_stats", lambda s: s.span_stats(selection)),
                       ("model_usage", lambda s: s.model_usage(selection)),
                       ("assessment_stats", lambda s: s.assessment_stats(selection, "quality"))):
        assert _rounded(call(sql)) == _rounded(call(memory)), name


def test_a_common_tag_in_a_short_window_is_not_read_through_the_value_index(
        sqlite_uri: str) -> None:
    statements: list[str] = []
    traces, _ = dataset(300)
    with SqlStore(sqlite_uri) as store:
        store.log_traces(traces)
    with SqlStore(sqlite_uri, on_statement=lambda sql, _: statements.append(sql)) as store:
        short = Selection(("0",), "tags.app_version = '2.0'", T0_MS, T0_MS + 10 * 60_000)
        store.trace_stats(short)
        window_read = statements[-1]
        store.trace_stats(Selection(("0",), "tags.app_version = '2.0'"))  # every match
        whole_read = statements[-1]
    assert "EXISTS (SELECT" in window_read and "substr(" not in window_read  # probed
    assert "trace_id IN (SELECT" in whole_read and "substr(" in whole_read  # looked up


@pytest.mark.parametrize("filter_string", [None, "tags.app_version = '2.0'"])
def test_span_stats_of_some_types_are_those_rows_of_all(stores: tuple,
                                                        filter_string: str | None) -> None:
    sql, memory = stores
    for selection in (Selection(None, filter_string), Selection(("0",), filter_string,
                                                                *WINDOWS[1])):
        everything = sql.span_stats(selection)
        for types in (["RETRIEVER"], ["RERANKER", "AGENT"], ["NOPE"]):
            want = [r for r in everything if r.span_type in types]
            assert _rounded(sql.span_stats(selection, span_types=types)) == _rounded(want)
            assert _rounded(memory.span_stats(selection, span_types=types)) == _rounded(want)
