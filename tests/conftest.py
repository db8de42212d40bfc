"""Shared fixtures: real SQLite files, a real PostgreSQL database, an open store.

- ``sqlite_uri``: ``sqlite:///<tmp_path>/spanscope.db`` (the file does not exist yet).
- ``pg_uri``: URI of an empty PostgreSQL database for this test. One database
  ``spanscope_test_<random>`` is created per session on the server at
  ``$SPANSCOPE_TEST_POSTGRES_URI`` (default ``postgresql://postgres@127.0.0.1:5432/test``)
  and dropped at the end; its ``public`` schema is dropped and recreated before each test.
  An unreachable server FAILS the test, it never skips.
- ``store_uri``: parametrized over ``sqlite`` and ``postgresql`` (those are the test ids).
- ``store``: an open ``SqlStore`` for ``store_uri``, closed after the test.
- autouse: ``spanscope.tracking.reset()`` after every test.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from spanscope.store.sql import SqlStore

PG_URI_ENV = "SPANSCOPE_TEST_POSTGRES_URI"
DEFAULT_PG_URI = "postgresql://postgres@127.0.0.1:5432/test"


@pytest.fixture(autouse=True)
def _reset_tracking() -> Iterator[None]:
    yield
    import spanscope.tracking

    spanscope.tracking.reset()


@pytest.fixture
def sqlite_uri(tmp_path: os.PathLike[str]) -> str:
    return f"sqlite:///{tmp_path}/spanscope.db"


def _libpq(uri: str) -> str:
    """The URI as libpq (psycopg.connect) accepts it: no SQLAlchemy driver suffix."""
    scheme, rest = uri.split("://", 1)
    return "postgresql://" + rest if scheme.startswith("postgres") else uri


def _with_database(uri: str, database: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(uri).set(database=database).render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def pg_server_uri() -> str:
    """The PostgreSQL server URI (database ``test``), checked to be reachable."""
    import psycopg

    uri = os.environ.get(PG_URI_ENV, DEFAULT_PG_URI)
    problem = None
    try:
        psycopg.connect(_libpq(uri), connect_timeout=5, autocommit=True).close()
    except psycopg.Error as exc:
        problem = str(exc).splitlines()[0]
    if problem is not None:
        pytest.fail(f"PostgreSQL is unreachable at {uri} ({problem}); start it or point "
                    f"{PG_URI_ENV} at a server. PostgreSQL tests never skip.", pytrace=False)
    return uri


@pytest.fixture(scope="session")
def pg_database_uri(pg_server_uri: str) -> Iterator[str]:
    """A database created for this test session, dropped (WITH FORCE) at its end."""
    import psycopg

    name = f"spanscope_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(_libpq(pg_server_uri), autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield _with_database(pg_server_uri, name)
    finally:
        with psycopg.connect(_libpq(pg_server_uri), autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def pg_uri(pg_database_uri: str) -> str:
    """The session database, emptied: every table from earlier tests is gone."""
    import psycopg

    with psycopg.connect(_libpq(pg_database_uri), autocommit=True) as conn:
        conn.execute("SET lock_timeout = '10s'")
        conn.execute("DROP SCHEMA public CASCADE")
        conn.execute("CREATE SCHEMA public")
    return pg_database_uri


@pytest.fixture(params=["sqlite", "postgresql"])
def store_uri(request: pytest.FixtureRequest) -> str:
    return request.getfixturevalue("sqlite_uri" if request.param == "sqlite" else "pg_uri")


@pytest.fixture
def store(store_uri: str) -> Iterator[SqlStore]:
    from spanscope.store.sql import SqlStore

    opened = SqlStore(store_uri)
    try:
        yield opened
    finally:
        opened.close()
