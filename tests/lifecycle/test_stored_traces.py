"""The export's stored-trace read writes what the entity path writes, byte for byte.

``stored_trace_pages`` (SQL: one row per trace, its JSON assembled by the database) must give
the same JSON text and Parquet rows as reading each trace with ``get_trace`` and encoding
its entities (``dumps(info.to_dict())``, ``span.to_json()``, the Parquet columns computed
from ``TraceInfo``), on random traces: spans with exception events, statuses and no end
(in progress), feedback with errors, expectations, overridden assessments, previews too
long for their columns, unmodelled ``info`` keys (one that repeats a key ``to_dict``
writes), long span names, token usage. SQLite, PostgreSQL and the in-memory store.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).parents[1] / "query"))
sys.path.insert(0, str(Path(__file__).parents[1]))

from filter_strategies import traces
from test_export_import_property import unique

from spanscope.entities import Trace, TraceData
from spanscope.entities._codec import dumps
from spanscope.entities.trace_info import TraceMetadataKey, TraceTagKey
from spanscope.lifecycle.export import iter_trace_pages
from spanscope.lifecycle.formats import trace_json
from spanscope.lifecycle.parquet_io import COLUMNS, columns_of
from spanscope.store.memory import InMemoryStore
from spanscope.store.sql import SqlStore
from spanscope.store.stored import StoredTrace

SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=[
    HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large])
_examples = itertools.count()
LONG = "x" * 1200  # longer than the preview and client request id columns


@pytest.fixture(params=["sqlite", "postgresql", "memory"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    if request.param == "memory":
        opened: Any = InMemoryStore()
    elif request.param == "sqlite":
        opened = SqlStore(f"sqlite:///{tmp_path}/stored.db")
    else:
        opened = SqlStore(request.getfixturevalue("pg_uri"))
    try:
        yield opened
    finally:
        opened.close()


@st.composite
def varied_traces(draw: st.DrawFn) -> Trace:
    """``filter_strategies.traces`` plus what it leaves out: previews, extra keys, long
    names, token usage."""
    trace = draw(traces())
    info = trace.info
    info.request_preview = draw(st.sampled_from([None, "", '{"q": "é"}', LONG]))
    info.response_preview = draw(st.sampled_from([None, "ok", LONG]))
    if draw(st.booleans()):
        info.client_request_id = LONG
    info.extra = draw(st.sampled_from([
        {}, {"client": {"sdk": "x", "n": [1, 2.5, None]}},
        {"trace_location": {"type": "UC_SCHEMA", "uc_schema": {"name": "s"}}, "z": 1}]))
    if draw(st.booleans()):
        info.trace_metadata[TraceMetadataKey.TOKEN_USAGE] = draw(st.sampled_from([
            '{"input_tokens": 3, "output_tokens": 4, "total_tokens": 7}', "not json",
            '{"total_tokens": "7"}', "[1]"]))
    spans = trace.data.spans
    if spans and draw(st.booleans()):
        spans[0] = dataclasses.replace(spans[0], name="n" * 600)
    return trace


def entity_json(trace: Trace, name: str) -> str:
    """What the export wrote before it read stored traces: the entities encoded."""
    spans = ",".join(span.to_json() for span in trace.data.spans)
    return (f'{{"info":{dumps(trace.info.to_dict())},"data":{{"spans":[{spans}]}},'
            f'"experiment_name":{dumps(name)}}}')


def entity_row(trace: Trace, name: str) -> tuple[Any, ...]:
    """The Parquet row the export wrote from entities (its columns' definitions)."""
    info = trace.info
    usage = info.token_usage or {}
    total = usage.get("total_tokens")
    root = trace.data.root_span
    return (info.trace_id, info.experiment_id, name, info.request_time, str(info.state),
            info.execution_duration,
            info.tags.get(TraceTagKey.TRACE_NAME) or (root.name if root else None),
            info.client_request_id, info.trace_metadata.get(TraceMetadataKey.SESSION),
            info.trace_metadata.get(TraceMetadataKey.USER), info.request_preview,
            info.response_preview, total if isinstance(total, int) else None,
            len(trace.data.spans), dumps(info.tags), dumps(info.trace_metadata),
            dumps([a.to_dict() for a in info.assessments]),
            "[" + ",".join(span.to_json() for span in trace.data.spans) + "]",
            dumps(info.extra) if info.extra else None)


def parquet_row(trace: StoredTrace, name: str) -> tuple[Any, ...]:
    """The Parquet row the export writes for a stored trace."""
    columns = columns_of([(trace, name)])
    return tuple(columns[column][0] for column in COLUMNS)


@SETTINGS
@given(batch=st.lists(varied_traces(), min_size=1, max_size=8),
       page_size=st.integers(1, 5))
def test_stored_pages_write_what_the_entities_write(store: Any, batch: list[Trace],
                                                    page_size: int) -> None:
    number = next(_examples)
    name = f"stored {number}"
    experiment_id = store.create_experiment(name)
    store.log_traces(unique(batch, number, experiment_id))

    pages = list(iter_trace_pages(store, experiment_ids=[experiment_id], page_size=page_size))
    assert all(1 <= len(page) <= page_size for page in pages)
    stored = [trace for page in pages for trace in page]
    # The entity path's selection and order: search_traces, newest first.
    expected = list(store.search_traces([experiment_id], max_results=1000))
    assert [t.trace_id for t in stored] == [t.info.trace_id for t in expected]
    for got, want in zip(stored, expected, strict=True):
        entity = store.get_trace(want.info.trace_id)
        assert trace_json(got, name) == entity_json(entity, name)
        assert parquet_row(got, name) == entity_row(entity, name)
        assert json.loads(trace_json(got, name))["info"] == json.loads(entity.to_json())["info"]
    # Without the summary (the JSON formats' read) the JSON is the same.
    bare = [trace for page in iter_trace_pages(store, experiment_ids=[experiment_id],
                                               page_size=page_size, summary=False)
            for trace in page]
    assert [trace_json(t, name) for t in bare] == [trace_json(t, name) for t in stored]


@SETTINGS
@given(batch=st.lists(varied_traces(), min_size=1, max_size=5))
def test_traces_changed_after_logging_write_what_the_entities_write(store: Any,
                                                                     batch: list[Trace]) -> None:
    """Tags set and deleted later, assessments added later, a trace logged again with a
    span replaced and one added (the rows of a trace then lie apart and out of their
    order in storage; the database must still assemble them in the entity order)."""
    from factories import sample_assessments

    number = next(_examples)
    name = f"changed {number}"
    experiment_id = store.create_experiment(name)
    logged = unique(batch, number, experiment_id)
    store.log_traces(logged)
    for i, trace in enumerate(logged):
        trace_id = trace.info.trace_id
        store.set_trace_tag(trace_id, f"later {i}", "é\n\"")
        store.set_trace_tag(trace_id, TraceTagKey.TRACE_NAME, "" if i % 2 else "renamed")
        for key in list(trace.info.tags)[:1]:
            store.delete_trace_tag(trace_id, key)
        for assessment in sample_assessments()[i % 3:i % 3 + 2]:
            store.create_assessment(dataclasses.replace(assessment, trace_id=trace_id))
        spans = list(trace.data.spans)
        if spans:
            spans[0] = dataclasses.replace(spans[0], name="replaced")
        # last in position, first in span id (the strategies number spans from 1)
        spans.append(dataclasses.replace(spans[-1] if spans else _a_span(trace_id),
                                         span_id="0" * 16, parent_id=None, name="added"))
        info = dataclasses.replace(trace.info, trace_metadata={
            **trace.info.trace_metadata, "added later": str(i)}, assessments=[])
        store.log_traces([Trace(info, TraceData(spans))])

    stored = [trace for page in iter_trace_pages(store, experiment_ids=[experiment_id],
                                                 page_size=2) for trace in page]
    assert len(stored) == len(logged)
    for got in stored:
        entity = store.get_trace(got.trace_id)
        assert trace_json(got, name) == entity_json(entity, name)
        assert parquet_row(got, name) == entity_row(entity, name)


def _a_span(trace_id: str) -> Any:
    from spanscope.entities import Span

    return Span(trace_id=trace_id, span_id="1" * 16, parent_id=None, name="root",
                start_time_ns=1, end_time_ns=2)


def test_a_bad_filter_fails_before_the_first_page(store: Any) -> None:
    from spanscope.exceptions import FilterError

    experiment_id = store.create_experiment("bad filter")
    with pytest.raises(FilterError):
        store.stored_trace_pages(experiment_id, filter_string="attributes.nope = 1")


def test_a_filter_selects_the_same_traces_as_search(store: Any) -> None:
    experiment_id = store.create_experiment("filtered")
    store.log_traces(unique(_examples_of_states(), 999_999, experiment_id))
    condition = "attributes.state = 'ERROR'"
    got = [t.trace_id for page in store.stored_trace_pages(
        experiment_id, filter_string=condition, page_size=2) for t in page]
    want = store.search_trace_ids([experiment_id], filter_string=condition)
    assert got == want and len(got) == 3


def _examples_of_states() -> list[Trace]:
    from spanscope.entities import TraceInfo

    return [Trace(TraceInfo(trace_id=f"tr-{i:032x}", request_time=1_000 + i,
                            state="ERROR" if i % 2 else "OK"), TraceData([]))
            for i in range(7)]


def test_stored_trace_of_an_entity_is_its_stored_form() -> None:
    """The generic path (``StoredTrace.of``) for a trace with no spans and no duration."""
    from spanscope.entities import TraceInfo

    trace = Trace(TraceInfo(trace_id="tr-1", state="IN_PROGRESS"), TraceData([]))
    stored = StoredTrace.of(trace)
    assert stored.info_json() == dumps(trace.info.to_dict())
    assert (stored.name, stored.total_tokens, stored.span_count) == (None, None, 0)


def test_the_database_quotes_tags_and_metadata_as_python_does(store: Any) -> None:
    """Tags and metadata JSON is quoted by the database (``store/sql/stored_read.py``):
    every code point but NUL (which PostgreSQL text cannot hold), in values and in keys,
    comes out as ``dumps`` writes it."""
    from spanscope.entities import TraceInfo

    text = "".join(chr(c) for c in range(1, 0x110000) if not 0xD800 <= c <= 0xDFFF)
    values = [text[i:i + 8000] for i in range(0, len(text), 8000)]
    tags = {f"t{i:03d}": value for i, value in enumerate(values)}
    tags |= {'q"\\\n\x01\u2028é': "x", "\x1f\x7f": ""}
    metadata = {f"m{i:03d}": value for i, value in enumerate(values[::-1])}
    experiment_id = store.create_experiment("quoting")
    info = TraceInfo(trace_id="tr-quoting", experiment_id=experiment_id, request_time=1,
                     trace_metadata=metadata, tags=tags)
    store.log_traces([Trace(info, TraceData([]))])
    for summary in (True, False):
        [[got]] = list(store.stored_trace_pages(experiment_id, summary=summary))
        assert got.tags_json == dumps(store.get_trace("tr-quoting").info.tags)
        assert got.metadata_json == dumps(metadata)
