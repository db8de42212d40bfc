"""The CLI against the real PostgreSQL server (fails, never skips, when it is down)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable

import pytest
from click.testing import CliRunner

from spanscope.cli.main import cli
from spanscope.entities import Trace


@pytest.mark.postgres
def test_demo_list_and_get_on_postgresql(pg_uri: str, runner: CliRunner,
                                         read_traces: Callable[..., list[Trace]]) -> None:
    demo = runner.invoke(cli, ["--tracking-uri", pg_uri, "demo", "--traces", "10", "--seed",
                               "4", "--no-progress"])
    assert demo.exit_code == 0, demo.output
    assert re.search(r"Traces\s+10\b", demo.stdout)

    listed = runner.invoke(cli, ["--tracking-uri", pg_uri, "traces", "list", "-o", "json"])
    assert listed.exit_code == 0, listed.output
    items = json.loads(listed.stdout)
    stored = read_traces(pg_uri)
    assert [i["trace_id"] for i in items] == [t.info.trace_id for t in stored]
    assert len(items) == 10

    table = runner.invoke(cli, ["--tracking-uri", pg_uri, "traces", "list"])
    assert table.exit_code == 0 and all(t.info.trace_id in table.stdout for t in stored)

    got = runner.invoke(cli, ["--tracking-uri", pg_uri, "traces", "get", items[-1]["trace_id"]])
    assert got.exit_code == 0, got.output
    assert json.loads(got.stdout) == json.loads(json.dumps(stored[-1].to_dict()))
