"""A real ``spanscope server`` subprocess on 127.0.0.1, for remote-tracking tests.

- ``ServerProcess`` (``remote_server.py``): the server subprocess.
- ``backend_uri`` (session, params ``sqlite``/``postgresql``): a store of its own for the
  session's servers (a SQLite file; a PostgreSQL database created and dropped here, apart
  from the database ``pg_uri`` empties before every test).
- ``server`` (session, per backend): one running server; tests isolate themselves by
  working in an experiment of their own (``experiment``).
- ``remote``: the tracking URI set to that server, with tracing state reset around the test.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from remote_server import ServerProcess

from spanscope import tracking
from spanscope.testing import reset_tracing


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def backend_uri(request: pytest.FixtureRequest,
                tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp('remote')}/server.db"
        return
    import psycopg
    from sqlalchemy.engine import make_url

    def libpq(uri: str) -> str:
        return "postgresql://" + uri.split("://", 1)[1]

    def with_database(uri: str, database: str) -> str:
        return make_url(uri).set(database=database).render_as_string(hide_password=False)

    server_uri = request.getfixturevalue("pg_server_uri")
    name = f"spanscope_remote_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(libpq(server_uri), autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield with_database(server_uri, name)
    finally:
        with psycopg.connect(libpq(server_uri), autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def server(backend_uri: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    process = ServerProcess(backend_uri, tmp_path_factory.mktemp("server-logs")).start()
    try:
        yield process
    finally:
        process.stop()


@pytest.fixture
def remote(server: ServerProcess) -> Iterator[str]:
    """The tracking URI set to the session's server (tracing state fresh around the test)."""
    reset_tracing()
    tracking.set_tracking_uri(server.url)
    yield server.url
    reset_tracing()


@pytest.fixture
def experiment(remote: str) -> str:
    """A new experiment of this test's own, made the active one."""
    return tracking.set_experiment(f"remote-test-{uuid.uuid4().hex[:10]}")
