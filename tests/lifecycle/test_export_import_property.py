"""Property test: random traces go SQLite -> file -> PostgreSQL -> file -> SQLite unchanged.

Each Hypothesis example logs a batch of random traces (``tests/query/filter_strategies``:
spans with random payloads, attributes and statuses, tags, metadata, feedback with values
and errors, expectations, valid and overridden) into a new experiment of a SQLite store,
exports it in a drawn format, imports that into PostgreSQL (twice: the second import must
change nothing), exports from PostgreSQL in another drawn format and imports into a second
SQLite store. Every trace reads back equal at each step (``to_dict``, with only the
experiment id set aside: each store numbers its experiments itself, the name is kept).
"""

from __future__ import annotations

import dataclasses
import itertools
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).parents[1] / "query"))

from filter_strategies import traces

from spanscope.entities import Trace, TraceData
from spanscope.lifecycle.export import export_traces
from spanscope.lifecycle.importer import import_files
from spanscope.store.sql import SqlStore

SETTINGS = settings(max_examples=15, deadline=None, suppress_health_check=[
    HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large])
FILES = ["t.parquet", "t.jsonl", "t.json", "t.jsonl.gz"]
_examples = itertools.count()


@pytest.fixture
def stores(sqlite_uri: str, pg_uri: str, tmp_path: Path) -> Iterator[dict[str, SqlStore]]:
    opened = {"first": SqlStore(sqlite_uri), "postgresql": SqlStore(pg_uri),
              "last": SqlStore(f"sqlite:///{tmp_path}/last.db")}
    try:
        yield opened
    finally:
        for store in opened.values():
            store.close()


def unique(batch: list[Trace], number: int, experiment_id: str) -> list[Trace]:
    """The batch with trace and assessment ids of its own (the strategies reuse a few)."""
    out = []
    for i, trace in enumerate(batch):
        trace_id = f"tr-{number:08x}{i:024x}"
        assessments = [dataclasses.replace(a, trace_id=trace_id,
                                           assessment_id=f"{a.assessment_id}-{number}-{i}")
                       for a in trace.info.assessments]
        info = dataclasses.replace(trace.info, trace_id=trace_id, experiment_id=experiment_id,
                                   assessments=assessments)
        out.append(Trace(info, TraceData([dataclasses.replace(s, trace_id=trace_id)
                                          for s in trace.data.spans])))
    return out


def comparable(trace: Trace) -> dict[str, Any]:
    data = trace.to_dict()
    data["info"].pop("trace_location")
    return data


def read_back(store: SqlStore, ids: list[str]) -> dict[str, dict[str, Any]]:
    return {trace_id: comparable(store.get_trace(trace_id)) for trace_id in ids}


def move(source: SqlStore, target: SqlStore, name: str, path: Path) -> str:
    """Export the example's experiment from ``source``, import it into ``target``."""
    experiment = source.get_experiment_by_name(name)
    assert experiment is not None
    report = export_traces(source, path, experiment_ids=[experiment.experiment_id])
    imported = import_files(target, [path])
    assert imported.traces == report.traces
    found = target.get_experiment_by_name(name)
    assert found is not None
    return found.experiment_id


@SETTINGS
@given(batch=st.lists(traces(), min_size=1, max_size=12), there=st.sampled_from(FILES),
       back=st.sampled_from(FILES))
def test_round_trips_keep_every_trace(stores: dict[str, SqlStore], tmp_path: Path,
                                      batch: list[Trace], there: str, back: str) -> None:
    number = next(_examples)
    name = f"example {number} é"
    first, postgresql, last = stores["first"], stores["postgresql"], stores["last"]
    logged = unique(batch, number, first.create_experiment(name))
    first.log_traces(logged)
    ids = [t.info.trace_id for t in logged]
    original = read_back(first, ids)

    folder = tmp_path / str(number)
    folder.mkdir()
    pg_experiment = move(first, postgresql, name, folder / there)
    assert read_back(postgresql, ids) == original
    again = import_files(postgresql, [folder / there])
    assert (again.new, again.existing) == (0, len(ids))
    assert read_back(postgresql, ids) == original
    assert sorted(postgresql.search_trace_ids([pg_experiment])) == sorted(ids)

    move(postgresql, last, name, folder / ("back-" + back))
    assert read_back(last, ids) == original
