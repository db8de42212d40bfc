"""Fixtures for the tracing SDK: a real SQLite store per test and clean tracing state.

- autouse ``_fresh_tracing``: tracing state reset before and after each test (flushes the
  exporter, forgets buffered spans and counters, re-reads the environment).
- ``uri``: ``sqlite:///<tmp_path>/traces.db`` set as the tracking URI.
- ``read_traces()``: flush, then every stored trace (full spans), oldest first;
  ``read_trace()``: the only one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

import spanscope.tracing as tracing
from spanscope import tracking
from spanscope.entities import Trace
from spanscope.testing import reset_tracing


@pytest.fixture(autouse=True)
def _fresh_tracing() -> Iterator[None]:
    reset_tracing()
    yield
    reset_tracing()


@pytest.fixture
def uri(tmp_path: object) -> str:
    value = f"sqlite:///{tmp_path}/traces.db"
    tracking.set_tracking_uri(value)
    return value


@pytest.fixture
def read_traces(uri: str) -> Callable[[], list[Trace]]:
    def read() -> list[Trace]:
        assert tracing.flush(timeout=30), tracing.get_export_stats()
        found = tracking.get_store(uri).search_traces(max_results=10_000)
        return sorted(found, key=lambda t: (t.info.request_time, t.data.spans[0].start_time_ns))

    return read


@pytest.fixture
def read_trace(read_traces: Callable[[], list[Trace]]) -> Callable[[], Trace]:
    """Flush and return the only stored trace (failing if there is not exactly one)."""
    def read() -> Trace:
        traces = read_traces()
        assert len(traces) == 1, [t.info.tags.get("mlflow.traceName") for t in traces]
        return traces[0]

    return read
