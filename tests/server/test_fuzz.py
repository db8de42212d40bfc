"""Schemathesis against ``/openapi.json`` of a real server: whatever the request, no 500,
and a request answered with an error changes nothing in the store.

On SQLite and PostgreSQL. Bounded: a few examples per operation
(``SPANSCOPE_FUZZ_EXAMPLES`` raises it), marked ``slow`` since the whole spec takes longer
than 30 s on a loaded 2-core machine.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
import sqlalchemy as sa
from hypothesis import HealthCheck, Phase, settings
from schemathesis.checks import not_a_server_error
from tests.server.conftest import ServerProcess

pytestmark = pytest.mark.slow

EXAMPLES = int(os.environ.get("SPANSCOPE_FUZZ_EXAMPLES", "8"))


class Fuzzed:
    """The server under test and a read-only look at its database."""

    def __init__(self, server: ServerProcess, uri: str) -> None:
        from spanscope.store.sql.engine import parse_uri

        self.server = server
        self.engine = sa.create_engine(parse_uri(uri))

    def fingerprint(self) -> str:
        """A digest of every row of every table: equal digests, unchanged store."""
        from spanscope.store.sql.schema import metadata

        digest = hashlib.sha256()
        with self.engine.connect() as conn:
            for table in metadata.sorted_tables:
                rows = conn.execute(sa.select(table)).all()
                digest.update(table.name.encode())
                digest.update(repr(sorted(map(repr, rows))).encode())
        return digest.hexdigest()


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def fuzzed(request: pytest.FixtureRequest,
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fuzzed]:
    directory: Path = tmp_path_factory.mktemp("fuzz")
    if request.param == "sqlite":
        uri = f"sqlite:///{directory}/fuzz.db"
    else:  # the session's database, emptied as the pg_uri fixture does
        uri = request.getfixturevalue("pg_database_uri")
        engine = sa.create_engine(uri.replace("postgresql://", "postgresql+psycopg://", 1))
        with engine.begin() as conn:
            conn.execute(sa.text("DROP SCHEMA public CASCADE"))
            conn.execute(sa.text("CREATE SCHEMA public"))
        engine.dispose()
    with ServerProcess(uri, "--max-request-mb", "2", cwd=directory) as server:
        target = Fuzzed(server, uri)
        try:
            yield target
        finally:
            target.engine.dispose()
    assert "Traceback" not in server.output, server.output


@pytest.fixture(scope="module")
def api_schema(fuzzed: Fuzzed) -> Any:
    return schemathesis.openapi.from_url(fuzzed.server.url + "/openapi.json")


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(max_examples=EXAMPLES, deadline=None, phases=[Phase.explicit, Phase.generate],
          suppress_health_check=list(HealthCheck))
def test_no_request_makes_a_500_or_a_change_when_refused(case: Any, fuzzed: Fuzzed) -> None:
    before = fuzzed.fingerprint()
    response = case.call(base_url=fuzzed.server.url, timeout=60)
    case.validate_response(response, checks=[not_a_server_error])
    assert "Traceback" not in response.text
    if response.status_code >= 400:
        body = response.json()
        # OTLP answers errors with its own Status message ({code, message}), as the
        # OTLP/HTTP specification says; everything else with Spanscope's error body.
        expected = {"message"} if case.path.startswith("/v1/") else {"error_code", "message"}
        assert set(body) >= expected, body
        assert fuzzed.fingerprint() == before, (case.method, case.path, response.text)
