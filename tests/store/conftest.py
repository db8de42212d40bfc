"""Fixtures shared by the store tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from spanscope.store.sql import SqlStore


@pytest.fixture
def stores(sqlite_uri: str, pg_uri: str) -> Iterator[dict[str, SqlStore]]:
    """A fresh SQLite store and a fresh PostgreSQL store, by dialect name, for tests that
    require both to answer alike (the property tests override it to add the in-memory
    reference store)."""
    opened = {"sqlite": SqlStore(sqlite_uri), "postgresql": SqlStore(pg_uri)}
    try:
        yield opened
    finally:
        for store in opened.values():
            store.close()
