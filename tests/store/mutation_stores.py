"""Open any of the three stores for the tag, deletion and assessment tests.

The rules of those writes are the same on every store, so their tests run on SQLite,
PostgreSQL and the in-memory store alike (test ids ``sqlite``, ``postgresql``,
``memory``). Each test module declares the fixture with ``open_any_store``.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from spanscope.store.base import Store
from spanscope.store.memory import InMemoryStore
from spanscope.store.sql import SqlStore

STORE_KINDS = ["sqlite", "postgresql", "memory"]


def open_any_store(request: pytest.FixtureRequest) -> Iterator[Store]:
    kind = request.param
    opened: Store
    if kind == "memory":
        opened = InMemoryStore()
    else:
        opened = SqlStore(request.getfixturevalue("sqlite_uri" if kind == "sqlite"
                                                  else "pg_uri"))
    try:
        yield opened
    finally:
        opened.close()
