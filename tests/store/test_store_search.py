"""search_traces: newest first, keyset pages, experiment scoping, and the SQL it runs."""

from __future__ import annotations

import re

import pytest

from factories import make_trace, sample_assessments
from spanscope.exceptions import InvalidInputError
from spanscope.store.sql import SqlStore
from spanscope.store.sql.pagination import encode_token


def _all_pages(store: SqlStore, page_size: int, **kwargs: object) -> list[list[str]]:
    pages, token = [], None
    while True:
        page = store.search_traces(max_results=page_size, page_token=token, **kwargs)
        pages.append([t.info.trace_id for t in page])
        token = page.token
        if token is None:
            return pages


def test_pages_cover_everything_newest_first_with_ties(store: SqlStore) -> None:
    # 23 traces over 8 distinct request times: ties must be broken by trace id (ascending,
    # like MLflow and spanscope.query.sort_traces), not lost.
    traces = [make_trace(1, request_time=1_000 + (i % 8)) for i in range(23)]
    store.log_traces(traces)
    expected = [t.info.trace_id for t in sorted(
        traces, key=lambda t: (-t.info.request_time, t.info.trace_id))]
    for page_size in (1, 4, 5, 23, 100):
        pages = _all_pages(store, page_size, include_spans=False)
        assert [tid for page in pages for tid in page] == expected
        assert all(len(page) == page_size for page in pages[:-1])
        assert 1 <= len(pages[-1]) <= page_size


def test_last_page_has_no_token_and_empty_store_is_empty(store: SqlStore) -> None:
    assert store.search_traces() == [] and store.search_traces().token is None
    store.log_traces([make_trace(1), make_trace(1)])
    page = store.search_traces(max_results=2)
    assert len(page) == 2 and page.token is None  # exactly full: no empty extra page


def test_pages_are_stable_while_new_traces_arrive(store: SqlStore) -> None:
    store.log_traces([make_trace(1, request_time=100 + i) for i in range(6)])
    first = store.search_traces(max_results=3)
    store.log_traces([make_trace(1, request_time=10_000)])  # newer than everything
    second = store.search_traces(max_results=3, page_token=first.token)
    assert [t.info.request_time for t in first + second] == [105, 104, 103, 102, 101, 100]


def test_experiment_scoping(store: SqlStore) -> None:
    other = store.create_experiment("other")
    mine = [make_trace(1, request_time=5), make_trace(1, request_time=6)]
    theirs = [make_trace(1, request_time=7, experiment_id=other)]
    store.log_traces(mine + theirs)
    assert {t.info.trace_id for t in store.search_traces(["0"])} == {
        t.info.trace_id for t in mine}
    assert [t.info.trace_id for t in store.search_traces([other])] == [theirs[0].info.trace_id]
    assert len(store.search_traces()) == 3
    assert len(store.search_traces(["0", other])) == 3
    assert store.search_traces(["999"]) == []
    assert store.search_traces([]) == []
    assert store.search_traces([other])[0].info.experiment_id == other


def test_search_returns_full_traces(store: SqlStore) -> None:
    traces = [make_trace(4, assessments=sample_assessments(), request_time=i) for i in range(3)]
    store.log_traces(traces)
    found = store.search_traces()
    assert [t.to_json() for t in found] == [t.to_json() for t in reversed(traces)]


def test_include_spans_false_never_reads_spans(store_uri: str) -> None:
    statements: list[str] = []
    store = SqlStore(store_uri, on_statement=lambda sql, params: statements.append(sql))
    try:
        traces = [make_trace(5, assessments=sample_assessments(), request_time=i)
                  for i in range(30)]
        store.log_traces(traces)
        statements.clear()
        page = store.search_traces(max_results=10, include_spans=False)
        assert len(page) == 10
        assert all(t.data.spans == [] for t in page)
        assert page[0].info.assessments and page[0].info.tags  # info is complete
        assert statements, "the hook saw no statements"
        assert not [s for s in statements if re.search(r"\bspans\b", s)]
        queries = [s for s in statements if s.lstrip().upper().startswith("SELECT")]
        # the experiments (all of them: each one's page is read apart and merged), one
        # page query + tags + metadata + assessments, whatever the page size
        assert len(queries) == 5

        statements.clear()
        store.search_traces(max_results=25, include_spans=True)
        assert len([s for s in statements if re.search(r"\bFROM spans\b", s)]) == 1
    finally:
        store.close()


@pytest.mark.parametrize("token", ["garbage!", "e30", encode_token(1, "x")[:-3] + "@@@", "W10",
                                   "WyJhIiwgMV0"])
def test_malformed_token_is_invalid_input(store: SqlStore, token: str) -> None:
    with pytest.raises(InvalidInputError, match="invalid page_token"):
        store.search_traces(page_token=token)


@pytest.mark.parametrize("max_results", [0, -1, 1.5, True, "10"])
def test_bad_max_results(store: SqlStore, max_results: object) -> None:
    with pytest.raises(InvalidInputError, match="max_results"):
        store.search_traces(max_results=max_results)  # type: ignore[arg-type]


def test_bad_experiment_id_in_search(store: SqlStore) -> None:
    with pytest.raises(InvalidInputError, match="experiment id 'x'"):
        store.search_traces(["x"])


def test_all_experiments_are_merged_from_each_experiments_index(store_uri: str) -> None:
    """experiment_ids=None (or several ids): each experiment's page comes from its own
    (experiment, request_time) index and the pages are merged, so no page sorts the whole
    table; the pages are those of one sort of everything."""
    statements: list[str] = []
    store = SqlStore(store_uri, on_statement=lambda sql, params: statements.append(sql))
    try:
        other = store.create_experiment("other")
        traces = [make_trace(1, request_time=1_000 + i % 5,
                             experiment_id=other if i % 3 else "0") for i in range(17)]
        store.log_traces(traces)
        expected = [t.info.trace_id for t in sorted(
            traces, key=lambda t: (-t.info.request_time, t.info.trace_id))]
        for experiment_ids in (None, ["0", other]):
            statements.clear()
            pages = _all_pages(store, 4, experiment_ids=experiment_ids, include_spans=False)
            assert [tid for page in pages for tid in page] == expected
            page_queries = [s for s in statements if "FROM traces" in s and "LIMIT" in s]
            assert page_queries and all("UNION ALL" in s for s in page_queries)
    finally:
        store.close()
