"""The SQLite export's walk of a whole experiment in trace id order (``stored_scan.py``).

On a real SQLite file: the walk gives what the page read by id gives (``stored_read.py``),
trace for trace, after the traces changed (tags set and deleted, assessments added, spans
added out of order, entities whose positions tie); another experiment in the same file
never leaks into the export; the five connections read one snapshot even when a write
commits while they open.
"""

from __future__ import annotations

import dataclasses
import sqlite3
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parents[1]))

from factories import make_trace, sample_assessments
from spanscope.entities import Trace, TraceData
from spanscope.lifecycle.export import export_traces, iter_trace_pages
from spanscope.lifecycle.formats import trace_json
from spanscope.store.sql import SqlStore
from spanscope.store.sql import store as sql_store
from spanscope.store.sql.stored_scan import _snapshot, statements
from spanscope.store.stored import StoredTrace


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "scan.db"


@pytest.fixture
def store(db: Path) -> Iterator[SqlStore]:
    opened = SqlStore(f"sqlite:///{db}")
    try:
        yield opened
    finally:
        opened.close()


@pytest.fixture
def scans(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The experiments whose exports took the walk."""
    seen: list[str] = []
    real = sql_store.scan_stored

    def spy(connect: Any, experiment_id: int, **kwargs: Any) -> Iterator[list[StoredTrace]]:
        seen.append(str(experiment_id))
        return real(connect, experiment_id, **kwargs)

    monkeypatch.setattr(sql_store, "scan_stored", spy)
    return seen


def _log(store: SqlStore, experiment_id: str, ids: list[str]) -> list[Trace]:
    traces = [make_trace(4, trace_id=trace_id, experiment_id=experiment_id,
                         request_time=1_000_000 + i, tags={"n": str(i), "a": "é"},
                         metadata={"z": "1", "b\n": "2"},
                         assessments=[dataclasses.replace(a, trace_id=trace_id)
                                      for a in sample_assessments()[: i % 3]])
              for i, trace_id in enumerate(ids)]
    store.log_traces(traces)
    return traces


def _change(store: SqlStore, trace: Trace, i: int) -> None:
    """Tags set and deleted, assessments added, a span replaced and one added first in
    span id order and last in position."""
    trace_id = trace.info.trace_id
    store.set_trace_tag(trace_id, f"later {i}", "x")
    store.set_trace_tag(trace_id, "0 first key", "y")
    store.delete_trace_tag(trace_id, "n")
    for assessment in sample_assessments()[i % 3: i % 3 + 2]:
        store.create_assessment(dataclasses.replace(assessment, trace_id=trace_id))
    spans = list(trace.data.spans)
    spans[1] = dataclasses.replace(spans[1], name="replaced")
    spans.append(dataclasses.replace(spans[-1], span_id="0" * 16, name="added"))
    store.log_traces([Trace(trace.info, TraceData(spans))])


def _exported(store: SqlStore, experiment_id: str, name: str,
              summary: bool = True) -> list[tuple[str, str, tuple[Any, ...]]]:
    out = []
    for page in iter_trace_pages(store, experiment_ids=[experiment_id], page_size=3,
                                 summary=summary):
        for trace in page:
            out.append((trace.trace_id, trace_json(trace, name),
                        (trace.span_count, trace.name, trace.session_id, trace.user_id,
                         trace.token_usage)))
    return out


def _paged(store: SqlStore, experiment_id: str, name: str, monkeypatch: pytest.MonkeyPatch,
           summary: bool = True) -> list[tuple[str, str, tuple[Any, ...]]]:
    """What the page read by id exports (newest first), sorted by trace id."""
    with monkeypatch.context() as patch:
        patch.setattr(sql_store, "SCAN_SHARE", float("inf"))
        return sorted(_exported(store, experiment_id, name, summary))


def test_the_walk_gives_what_the_page_read_gives_on_changed_traces(
        store: SqlStore, db: Path, scans: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    ours = store.create_experiment("ours")
    ids = [f"tr-{i * 7919 % 101:032x}" for i in range(12)]  # logged out of id order
    logged = _log(store, ours, ids)
    for i, trace in enumerate(logged[::2]):
        _change(store, trace, i)
    with sqlite3.connect(db) as conn:  # tied positions: the rest of each order decides
        for table in ("spans", "trace_tags", "trace_metadata", "assessments"):
            conn.execute(f"UPDATE {table} SET position = 0 WHERE trace_id = ?", (ids[2],))
        conn.execute("UPDATE spans SET position = 1, start_time_ns = 5 WHERE trace_id = ?",
                     (ids[3],))

    for summary in (True, False):
        got = _exported(store, ours, "ours", summary)
        assert [row[0] for row in got] == sorted(ids)  # trace id order
        assert got == _paged(store, ours, "ours", monkeypatch, summary)
    assert scans == [ours, ours]


def test_another_experiment_never_leaks_into_the_walk(
        store: SqlStore, scans: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    ours = store.create_experiment("ours")
    theirs = store.create_experiment("theirs")
    # ids interleaved, theirs before, between and after ours
    _log(store, ours, [f"tr-{i:032x}" for i in range(2, 20, 3)])
    _log(store, theirs, [f"tr-{i:032x}" for i in (0, 1, 3, 7, 30)])
    got = _exported(store, ours, "ours")
    assert [row[0] for row in got] == [f"tr-{i:032x}" for i in range(2, 20, 3)]
    assert got == _paged(store, ours, "ours", monkeypatch)
    assert scans == [ours]
    # theirs is the smaller share of the store: its export reads pages by id
    assert len(_exported(store, theirs, "theirs")) == 5 and scans == [ours]


def test_an_export_of_the_whole_store_writes_every_experiment_once(
        store: SqlStore, scans: list[str], tmp_path: Path) -> None:
    ours = store.create_experiment("ours")
    empty = store.create_experiment("empty")
    _log(store, ours, [f"tr-{i:032x}" for i in range(5)])
    report = export_traces(store, tmp_path / "all.jsonl")
    lines = (tmp_path / "all.jsonl").read_text().splitlines()
    assert report.traces == len(lines) == 5 and scans == [ours] and empty not in scans


def test_the_connections_read_one_snapshot_when_a_write_commits_while_they_open(
        store: SqlStore, db: Path) -> None:
    ours = store.create_experiment("ours")
    _log(store, ours, ["tr-a"])
    opened = 0

    def connect() -> sqlite3.Connection:
        nonlocal opened
        opened += 1
        if opened == 4:  # the watch and two of the five are open: another writer commits
            _log(store, ours, ["tr-b"])
        return sqlite3.connect(db, isolation_level=None)

    connections = _snapshot(connect, len(statements(False)))
    try:
        seen = {conn.execute("SELECT count(*) FROM traces").fetchone()[0]
                for conn in connections}
        assert seen == {2} and opened > 6  # the first five were given up
    finally:
        for conn in connections:
            conn.close()
