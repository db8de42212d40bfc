"""Fixtures for the hardening tests: clean tracing state and a real store to trace into.

- autouse ``_fresh_tracing``: tracing state reset before and after each test.
- ``traced_uri``: the ``store_uri`` (SQLite file or PostgreSQL database) set as the
  tracking URI; ``sqlite_traced_uri`` the same on SQLite only.
- ``read_traces()``: flush (asserting nothing was dropped), then every stored trace.
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
def traced_uri(store_uri: str) -> str:
    tracking.set_tracking_uri(store_uri)
    return store_uri


@pytest.fixture
def sqlite_traced_uri(sqlite_uri: str) -> str:
    tracking.set_tracking_uri(sqlite_uri)
    return sqlite_uri


def _reader(uri: str) -> Callable[[], list[Trace]]:
    def read() -> list[Trace]:
        assert tracing.flush(timeout=60), tracing.get_export_stats()
        found = tracking.get_store(uri).search_traces(max_results=10_000)
        return sorted(found, key=lambda t: (t.info.request_time, t.data.spans[0].start_time_ns))

    return read


@pytest.fixture
def read_traces(traced_uri: str) -> Callable[[], list[Trace]]:
    return _reader(traced_uri)


@pytest.fixture
def read_sqlite_traces(sqlite_traced_uri: str) -> Callable[[], list[Trace]]:
    return _reader(sqlite_traced_uri)
