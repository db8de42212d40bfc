"""``spanscope retention add|list|delete|apply``, ``spanscope storage`` and
``spanscope traces delete --user-id/--session-id`` against real SQLite files (and the
retention commands once on PostgreSQL)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from factories import make_trace
from spanscope.cli.main import cli
from spanscope.store.retention import open_retention_store
from spanscope.store.sql import SqlStore

DAY = 86_400_000


@pytest.fixture
def uri(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path}/cli.db"


@pytest.fixture
def store(uri: str) -> Iterator[SqlStore]:
    opened = SqlStore(uri)
    yield opened
    opened.close()


def run(runner: CliRunner, uri: str, *args: str) -> Result:
    return runner.invoke(cli, ["--tracking-uri", uri, *args])


def _old_and_new(store: SqlStore) -> None:
    now = int(time.time() * 1000)
    store.log_traces([make_trace(2, request_time=now - 40 * DAY, state="ERROR"),
                      make_trace(2, request_time=now - 40 * DAY),
                      make_trace(2, request_time=now - DAY),
                      make_trace(2, request_time=now - DAY, tags={"keep": "true"})])


def test_rules_are_added_listed_applied_and_deleted(runner: CliRunner, uri: str,
                                                    store: SqlStore) -> None:
    _old_and_new(store)
    added = run(runner, uri, "retention", "add", "--keep", "30d", "--name", "month")
    assert added.exit_code == 0, added.output
    rule_id = added.stdout.strip()
    assert "keep all traces for 30d" in added.stderr
    pinned = run(runner, uri, "retention", "add", "--filter", "tags.keep = 'true'",
                 "--keep", "forever", "--sample", "100%")
    assert pinned.exit_code == 0, pinned.output

    listed = run(runner, uri, "retention", "list", "-o", "json")
    assert [r["rule_id"] for r in json.loads(listed.stdout)][:1] == [rule_id]
    table = run(runner, uri, "retention", "list")
    assert "month" in table.stdout and "30d" in table.stdout and "forever" in table.stdout

    dry = run(runner, uri, "retention", "apply", "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert "would delete" in dry.stdout and "Would delete 2 trace(s)" in dry.stderr
    assert len(store.search_trace_ids(None)) == 4
    done = run(runner, uri, "retention", "apply", "-o", "json")
    assert json.loads(done.stdout)["deleted"] == 2
    assert len(store.search_trace_ids(None)) == 2
    side = open_retention_store(store)
    try:
        [entry] = side.list_deletions()
    finally:
        side.close()
    assert entry.kind == "retention" and entry.actor.startswith("cli:")

    gone = run(runner, uri, "retention", "delete", rule_id)
    assert gone.exit_code == 0 and "Deleted rule" in gone.stdout
    again = run(runner, uri, "retention", "delete", rule_id)
    assert again.exit_code == 1 and "no retention rule" in again.stderr


@pytest.mark.parametrize(("args", "code", "says"), [
    (["--keep", "soon"], 2, "not a duration"),
    (["--sample", "ten"], 2, "not a fraction"),
    (["--sample", "0"], 3, "sample_fraction"),
    (["--filter", "tags.x = "], 4, ""),
    (["-x", "77", "--keep", "1d"], 1, "experiment '77' not found"),
])
def test_bad_rules_are_one_line_errors(runner: CliRunner, uri: str, store: SqlStore,
                                       args: list[str], code: int, says: str) -> None:
    result = run(runner, uri, "retention", "add", *args)
    assert result.exit_code == code, result.output
    assert says in result.stderr and "Traceback" not in result.output


def test_an_http_tracking_uri_is_pointed_at_the_rest_api(runner: CliRunner) -> None:
    result = run(runner, "http://127.0.0.1:9", "retention", "list")
    assert result.exit_code == 5 and "/api/retention" in result.stderr


def test_privacy_deletion_counts_deletes_and_logs(runner: CliRunner, uri: str,
                                                  store: SqlStore) -> None:
    store.log_traces([make_trace(3, user_id="u-7"), make_trace(3, user_id="u-7"),
                      make_trace(3, user_id="u-8", session_id="s-1")])
    dry = run(runner, uri, "traces", "delete", "--user-id", "u-7", "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert "Would delete, for user 'u-7': 2 trace(s), 6 span(s)" in dry.stdout
    done = run(runner, uri, "traces", "delete", "--user-id", "u-7", "--yes")
    assert done.exit_code == 0, done.output
    assert "Deleted, for user 'u-7': 2 trace(s), 6 span(s)" in done.stdout
    assert "Logged as deletion" in done.stderr
    assert len(store.search_trace_ids(None)) == 1
    session = run(runner, uri, "traces", "delete", "--session-id", "s-1", "--yes",
                  "--dataset-records", "keep")
    assert "1 trace(s)" in session.stdout and "kept, unlinked" in session.stdout
    assert store.search_trace_ids(None) == []

    both = run(runner, uri, "traces", "delete", "--user-id", "a", "--session-id", "b")
    assert both.exit_code == 2 and "not both" in both.stderr
    narrowed = run(runner, uri, "traces", "delete", "--user-id", "a", "--older-than", "1d")
    assert narrowed.exit_code == 2 and "--older-than" in narrowed.stderr


def test_storage_reports_size_and_warns_near_capacity(runner: CliRunner, uri: str,
                                                      store: SqlStore) -> None:
    _old_and_new(store)
    plain = run(runner, uri, "storage")
    assert plain.exit_code == 0 and "used" in plain.stdout and "Warning" not in plain.stderr
    used = json.loads(run(runner, uri, "storage", "-o", "json").stdout)["used_bytes"]
    near = run(runner, uri, "storage", "--capacity", str(int(used / 0.85)))
    assert "85" in near.stdout and "Warning: the store is over 80% of its capacity" in near.stderr
    full = run(runner, uri, "storage", "--capacity", str(used))
    assert "ingest is refused" in full.stdout and "is full" in full.stderr
    assert run(runner, uri, "storage", "--capacity", "lots").exit_code == 3


def test_retention_on_postgresql(runner: CliRunner, pg_uri: str) -> None:
    with SqlStore(pg_uri) as store:
        _old_and_new(store)
    assert run(runner, pg_uri, "retention", "add", "--keep", "30d").exit_code == 0
    done = run(runner, pg_uri, "retention", "apply", "-o", "json")
    assert done.exit_code == 0, done.output
    assert json.loads(done.stdout)["deleted"] == 2
