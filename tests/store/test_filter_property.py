"""Property tests: SQLite, PostgreSQL and the reference evaluator agree on random data.

Each Hypothesis example loads a batch of random traces (``tests/query/filter_strategies``)
into a fresh experiment of each store, then checks many random filters (every identifier
kind, comparator, AND/OR/NOT nesting), and random ``order_by`` with small keyset pages,
against ``spanscope.query.filter_traces`` / ``sort_traces``. Then the parser is fuzzed
through the store: arbitrary text gives a result or a ``FilterError``, never anything
else, and leaves every table as it was.
"""

from __future__ import annotations

import dataclasses
import itertools
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).parents[1] / "query"))

from filter_strategies import filters, traces

from factories import make_trace
from spanscope.entities import Trace, TraceData
from spanscope.exceptions import FilterError
from spanscope.query import filter_traces, parse_order_by, sort_traces
from spanscope.store.base import TraceStore
from spanscope.store.memory import InMemoryStore
from spanscope.store.sql import SqlStore

SETTINGS = settings(max_examples=12, deadline=None, suppress_health_check=[
    HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large])
FILTERS_PER_BATCH = 20
_batches = itertools.count()

ORDER_ITEMS = ["timestamp", "timestamp DESC", "execution_time", "execution_time DESC",
               "name", "name DESC", "state", "client_request_id DESC", "tags.env",
               "tags.quality_score DESC", "tags.`a.b`", "metadata.team DESC",
               "trace_id DESC", "attributes.session_id"]


@pytest.fixture
def stores(sqlite_uri: str, pg_uri: str) -> Iterator[dict[str, TraceStore]]:
    opened: dict[str, TraceStore] = {"sqlite": SqlStore(sqlite_uri),
                                     "postgresql": SqlStore(pg_uri),
                                     "memory": InMemoryStore()}
    try:
        yield opened
    finally:
        for store in opened.values():
            store.close()


def _load(stores: dict[str, TraceStore], batch: list[Trace]) -> tuple[str, list[Trace]]:
    """The batch, in a new experiment of each store, with ids unique across batches.

    The strategies reuse three trace ids (which filters compare with): the first batch of
    a store keeps them where it can, later ones get fresh ids.
    """
    number = next(_batches)
    experiment_ids = {store.create_experiment(f"batch-{number}") for store in stores.values()}
    assert len(experiment_ids) == 1
    (experiment_id,) = experiment_ids
    first = experiment_id == "1"
    unique, seen = [], set()
    for i, trace in enumerate(batch):
        trace_id = trace.info.trace_id
        if not first or trace_id in seen:
            trace_id = f"tr-{number:08x}{i:024x}"
        seen.add(trace_id)
        assessments = [dataclasses.replace(a, trace_id=trace_id,
                                           assessment_id=f"{a.assessment_id}-{number}-{i}")
                       for a in trace.info.assessments]
        info = dataclasses.replace(trace.info, trace_id=trace_id, experiment_id=experiment_id,
                                   assessments=assessments)
        unique.append(Trace(info, TraceData([dataclasses.replace(s, trace_id=trace_id)
                                             for s in trace.data.spans])))
    for store in stores.values():
        store.log_traces(unique)
    return experiment_id, unique


@SETTINGS
@given(batch=st.lists(traces(), min_size=5, max_size=30), data=st.data())
def test_random_filters_agree_with_the_reference(stores: dict[str, TraceStore],
                                                 batch: list[Trace],
                                                 data: st.DataObject) -> None:
    experiment_id, loaded = _load(stores, batch)
    for _ in range(FILTERS_PER_BATCH):
        text = data.draw(filters(), label="filter")
        expected = {t.info.trace_id for t in filter_traces(text, loaded)}
        for name, store in stores.items():
            found = set(store.search_trace_ids([experiment_id], filter_string=text))
            assert found == expected, (name, text, sorted(found ^ expected))


@SETTINGS
@given(batch=st.lists(traces(), min_size=3, max_size=25), data=st.data())
def test_random_orders_and_pages_agree_with_the_reference(stores: dict[str, TraceStore],
                                                          batch: list[Trace],
                                                          data: st.DataObject) -> None:
    experiment_id, loaded = _load(stores, batch)
    for _ in range(4):
        order_by = data.draw(st.lists(st.sampled_from(ORDER_ITEMS), max_size=3), label="order")
        text = data.draw(st.one_of(st.none(), filters(max_leaves=3)), label="filter")
        size = data.draw(st.integers(1, 7), label="page size")
        expected = [t.info.trace_id for t in sort_traces(filter_traces(text, loaded),
                                                         parse_order_by(order_by))]
        for name, store in stores.items():
            found = _paged_ids(store, [experiment_id], text, order_by, size)
            assert found == expected, (name, order_by, text, size)


@SETTINGS
@given(batch=st.lists(traces(), min_size=3, max_size=25), data=st.data())
def test_pages_across_experiments_agree_with_the_reference(stores: dict[str, TraceStore],
                                                           batch: list[Trace],
                                                           data: st.DataObject) -> None:
    """Several experiments, or all (None): each experiment's page is read from its own
    index and the pages merged (``SearchQuery.merged_experiments``), or sorted together."""
    experiment_id, loaded = _load(stores, batch[::2])
    other, more = _load(stores, batch[1::2])  # a second experiment, ids of its own
    everything = stores["memory"].search_traces(None, max_results=100_000)
    for _ in range(3):
        order_by = data.draw(st.lists(st.sampled_from(ORDER_ITEMS), max_size=2), label="order")
        text = data.draw(st.one_of(st.none(), filters(max_leaves=3)), label="filter")
        size = data.draw(st.integers(1, 7), label="page size")
        for experiment_ids, pool in ((None, everything), ([experiment_id, other],
                                                          loaded + more)):
            expected = [t.info.trace_id for t in sort_traces(filter_traces(text, pool),
                                                             parse_order_by(order_by))]
            for name, store in stores.items():
                found = _paged_ids(store, experiment_ids, text, order_by, size)
                assert found == expected, (name, experiment_ids, order_by, text, size)


def _paged_ids(store: TraceStore, experiment_ids: list[str] | None, text: str | None,
               order_by: list[str], size: int) -> list[str]:
    """Every matching trace id, read in pages of ``size`` through the page tokens."""
    found, token = [], None
    while True:
        page = store.search_traces(experiment_ids, filter_string=text, order_by=order_by,
                                   max_results=size, page_token=token, include_spans=False)
        assert len(page) <= size
        found += [t.info.trace_id for t in page]
        token = page.token
        if token is None:
            return found


HOSTILE = ["'; DROP TABLE traces; --", "tags.env = ''; DROP TABLE traces; --'",
           "tags.env = 'x' -- comment", "tags.env = 'x' /* c */", "/* */ tags.env = 'a'",
           "tags.env = 'a'; DELETE FROM spans", "tags.`x; DROP TABLE spans` = 'y'",
           "tags.env = \"a\\\"; --\"", "span.attributes.`a'--` LIKE '%'",
           "inputs.`'); DROP TABLE traces;--` = 1", "tags.ü = 'é' OR tags.\"日本\" = '語'",
           "tags.env = '\x00'", "tags.env = '\ud800'", "tags.`\ud800` = 'x'",
           "feedback.`\x00` = 1", "tags.env RLIKE '(?P<n>a)'",
           "tags.env = '" + "a" * 100_000 + "'", "(" * 150 + "tags.a = 'b'" + ")" * 150,
           "tags.x = 1e999", "tags.x = 99999999999999999999999", "inputs.99999999999999 = 1",
           "NOT " * 99 + "tags.a = 'b'", "tags.a IN (" + ", ".join(["'x'"] * 3000) + ")"]
_fragments = st.sampled_from([
    "tags.env", "span.name", "inputs.q", "feedback.x", "trace.timestamp", "=", "!=", "<",
    "LIKE", "RLIKE", "IN", "NOT", "AND", "OR", "(", ")", "'a'", "'", '"', "`", ";", "--",
    "/*", "*/", "1", "1e5", "TRUE", "NULL", "IS", ",", "\\", "%", "DROP TABLE traces",
    "é", "日本", "\x00", " "])
fuzz_text = st.one_of(st.text(max_size=80),
                      st.lists(_fragments, max_size=12).map(" ".join),
                      st.sampled_from(HOSTILE))


def _counts(store: SqlStore) -> dict[str, int]:
    with store._engine.connect() as conn:  # a direct look, outside the code under test
        return {table: conn.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one()
                for table in ("traces", "spans", "trace_tags", "trace_metadata",
                              "assessments", "experiments")}


@settings(max_examples=150, deadline=None, suppress_health_check=[
    HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(text=fuzz_text)
def test_any_text_gives_a_result_or_a_filter_error(stores: dict[str, TraceStore],
                                                   text: str) -> None:
    sql_stores = [s for s in stores.values() if isinstance(s, SqlStore)]
    if not _counts(sql_stores[0])["traces"]:
        for store in stores.values():
            store.log_traces([_probe()])
    before = [_counts(store) for store in sql_stores]
    for store in stores.values():
        try:
            store.search_traces(filter_string=text, max_results=5)
            store.search_trace_ids(filter_string=text)
        except FilterError as exc:
            assert str(exc).startswith("Invalid filter")
            assert "\n" not in str(exc)
    assert [_counts(store) for store in sql_stores] == before


def test_hostile_filters_leave_the_stores_intact(stores: dict[str, TraceStore]) -> None:
    for store in stores.values():
        store.log_traces([_probe()])
    sql_stores = [s for s in stores.values() if isinstance(s, SqlStore)]
    before = [_counts(store) for store in sql_stores]
    outcomes = {}
    for text in HOSTILE:
        for name, store in stores.items():
            try:
                outcomes[name, text] = len(store.search_trace_ids(filter_string=text))
            except FilterError:
                outcomes[name, text] = "error"
    assert [_counts(store) for store in sql_stores] == before
    for store in stores.values():
        assert len(store.search_traces()) == 1
    # The SQL stores give the reference's answer, but for the documented limits: text
    # that is not valid Unicode, NUL on PostgreSQL, regexes PostgreSQL's engine rejects.
    for text in HOSTILE:
        if "\ud800" in text:
            assert outcomes["sqlite", text] == outcomes["postgresql", text] == "error"
            continue
        assert outcomes["sqlite", text] == outcomes["memory", text], text
        if "\x00" not in text and "RLIKE" not in text:
            assert outcomes["postgresql", text] == outcomes["memory", text], text


def _probe() -> Trace:
    return make_trace(3, tags={"env": "a"})
