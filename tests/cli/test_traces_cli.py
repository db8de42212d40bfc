"""``spanscope traces get|list`` and the CLI's error handling, through Click's runner."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

import spanscope
from spanscope.cli.main import EXIT_CODES, SpanscopeCliError, cli
from spanscope.entities import Trace, TraceInfo
from spanscope.exceptions import (
    FilterError,
    InvalidInputError,
    InvalidUriError,
    NotFoundError,
    SpanscopeError,
    StoreError,
)

Reader = Callable[..., list[Trace]]
UNKNOWN_ID = "tr-" + "0" * 32


def _assert_one_error_line(result, code: int, *needles: str) -> None:
    assert result.exit_code == code, (result.exit_code, result.output)
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("Error: ")
    assert "Traceback" not in result.stderr
    for needle in needles:
        assert needle in lines[0]


# --- traces get -------------------------------------------------------------------------
def test_get_prints_exactly_the_trace_json(demo_db: tuple[str, str], read_traces: Reader,
                                           runner: CliRunner) -> None:
    uri, _ = demo_db
    trace_id = read_traces(uri, include_spans=False)[0].info.trace_id
    for args in (["--trace-id", trace_id], [trace_id]):
        result = runner.invoke(cli, ["--tracking-uri", uri, "traces", "get", *args])
        assert result.exit_code == 0, result.output
        assert result.stderr == ""
        printed = json.loads(result.stdout)  # nothing but JSON on stdout
        expected = json.loads(json.dumps(spanscope.get_trace(trace_id).to_dict()))
        assert printed == expected
        assert result.stdout.startswith('{\n  "info": {')  # indent 2, like mlflow traces get
        assert Trace.from_dict(printed).to_dict() == spanscope.get_trace(trace_id).to_dict()


def test_get_of_an_error_trace_shows_the_failed_span(demo_db: tuple[str, str],
                                                     read_traces: Reader,
                                                     runner: CliRunner) -> None:
    uri, _ = demo_db
    errors = [t for t in read_traces(uri, include_spans=False) if str(t.info.state) == "ERROR"]
    assert errors, "seed 1 with 40 traces has failed requests"
    result = runner.invoke(cli, ["--tracking-uri", uri, "traces", "get",
                                 errors[0].info.trace_id])
    data = json.loads(result.stdout)
    statuses = [s["status"]["code"] for s in data["data"]["spans"]]
    assert "STATUS_CODE_ERROR" in statuses
    root = next(s for s in data["data"]["spans"] if s["parent_span_id"] is None)
    assert root["status"]["code"] == "STATUS_CODE_ERROR"
    assert data["info"]["state"] == "ERROR"


def test_get_unknown_id_is_one_line_and_exit_1(demo_db: tuple[str, str],
                                               runner: CliRunner) -> None:
    uri, _ = demo_db
    result = runner.invoke(cli, ["--tracking-uri", uri, "traces", "get", "--trace-id",
                                 UNKNOWN_ID])
    _assert_one_error_line(result, 1, UNKNOWN_ID)


def test_get_needs_exactly_one_trace_id(runner: CliRunner) -> None:
    missing = runner.invoke(cli, ["traces", "get"])
    assert missing.exit_code == 2 and "missing trace id" in missing.stderr
    both = runner.invoke(cli, ["traces", "get", "tr-1", "--trace-id", "tr-2"])
    assert both.exit_code == 2 and "once" in both.stderr


# --- traces list ------------------------------------------------------------------------
def test_list_json_is_the_newest_trace_infos(demo_db: tuple[str, str], read_traces: Reader,
                                             runner: CliRunner) -> None:
    uri, _ = demo_db
    result = runner.invoke(cli, ["--tracking-uri", uri, "traces", "list", "--output", "json",
                                 "--max-results", "15"])
    assert result.exit_code == 0, result.output
    items = json.loads(result.stdout)
    assert len(items) == 15
    infos = [TraceInfo.from_dict(item) for item in items]
    times = [info.request_time for info in infos]
    assert times == sorted(times, reverse=True)
    newest = [t.info for t in read_traces(uri, include_spans=False)][:15]
    assert [i.trace_id for i in infos] == [i.trace_id for i in newest]
    assert items == json.loads(json.dumps([i.to_dict() for i in newest]))


def test_list_table_shows_ids_states_and_previews(demo_db: tuple[str, str],
                                                  read_traces: Reader,
                                                  runner: CliRunner) -> None:
    uri, _ = demo_db
    result = runner.invoke(cli, ["--tracking-uri", uri, "traces", "list", "-n", "40"])
    assert result.exit_code == 0, result.output
    out = result.stdout
    infos = [t.info for t in read_traces(uri, include_spans=False)]
    for header in ("Time (local)", "Trace ID", "Name", "State", "Duration", "Tokens",
                   "Request"):
        assert header in out
    positions = [out.index(info.trace_id) for info in infos]  # full ids, newest first
    assert positions == sorted(positions)
    assert "support_agent" in out and "ERROR" in out and "OK" in out
    row = next(line for line in out.splitlines() if infos[0].trace_id in line)
    assert f"{infos[0].execution_duration} ms" in row
    assert re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", row)
    assert "question" in row  # the request preview
    assert "40 traces, newest first" in out


def test_list_pages_with_the_token_from_the_caption(demo_db: tuple[str, str],
                                                    read_traces: Reader,
                                                    runner: CliRunner) -> None:
    uri, _ = demo_db
    first = runner.invoke(cli, ["--tracking-uri", uri, "traces", "list", "-n", "10"])
    token = re.search(r"--page-token (\S+)", first.stdout)
    assert token is not None, first.stdout
    second = runner.invoke(cli, ["--tracking-uri", uri, "traces", "list", "-n", "10", "-o",
                                 "json", "--page-token", token.group(1)])
    assert second.exit_code == 0, second.output
    ids = [t.info.trace_id for t in read_traces(uri, include_spans=False)]
    assert [item["trace_id"] for item in json.loads(second.stdout)] == ids[10:20]


def test_list_of_an_empty_store(tmp_path: Path, runner: CliRunner) -> None:
    uri = f"sqlite:///{tmp_path}/empty.db"
    from spanscope.store.sql import SqlStore

    SqlStore(uri).close()  # an empty store, migrated
    table = runner.invoke(cli, ["--tracking-uri", uri, "traces", "list"])
    assert table.exit_code == 0 and "No traces" in table.stdout and "spanscope demo" in table.stdout
    as_json = runner.invoke(cli, ["--tracking-uri", uri, "traces", "list", "-o", "json"])
    assert as_json.exit_code == 0 and json.loads(as_json.stdout) == []


def test_tracking_uri_comes_from_the_environment(demo_db: tuple[str, str],
                                                 runner: CliRunner) -> None:
    uri, _ = demo_db
    result = runner.invoke(cli, ["traces", "list", "-o", "json", "-n", "3"],
                           env={"SPANSCOPE_TRACKING_URI": uri})
    assert result.exit_code == 0, result.output
    assert len(json.loads(result.stdout)) == 3


def test_default_store_is_spanscope_db_in_the_working_directory(tmp_path: Path,
                                                                runner: CliRunner) -> None:
    result = runner.invoke(cli, ["demo", "--traces", "3", "--no-progress"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "spanscope.db").exists()
    listed = runner.invoke(cli, ["traces", "list", "-o", "json"])
    assert len(json.loads(listed.stdout)) == 3


# --- errors -----------------------------------------------------------------------------
@pytest.mark.parametrize("args", [["traces", "list"], ["traces", "get", UNKNOWN_ID],
                                  ["demo", "--traces", "5"]])
def test_bad_tracking_uri_is_one_clear_line(args: list[str], runner: CliRunner) -> None:
    result = runner.invoke(cli, ["--tracking-uri", "foo://x", *args])
    _assert_one_error_line(result, 5, "foo://x")


def test_unreachable_postgres_is_a_store_error(runner: CliRunner) -> None:
    result = runner.invoke(cli, ["--tracking-uri", "postgresql://nobody@127.0.0.1:1/none",
                                 "traces", "list"])
    _assert_one_error_line(result, 6)


@pytest.mark.parametrize(("error", "code"), [
    (NotFoundError("no trace tr-1"), 1), (InvalidInputError("bad"), 3),
    (FilterError("bad filter", token="x", position=3), 4), (InvalidUriError("uri"), 5),
    (StoreError("db down\nsecond line"), 6), (SpanscopeError(""), 7)])
def test_each_error_type_has_its_exit_code_and_one_line(error: SpanscopeError,
                                                        code: int) -> None:
    shown = SpanscopeCliError(error)
    assert shown.exit_code == code
    assert "\n" not in shown.format_message() and shown.format_message()
    assert len({c for _, c in EXIT_CODES}) == len(EXIT_CODES)


def test_version_and_help(runner: CliRunner) -> None:
    version = runner.invoke(cli, ["--version"])
    assert version.exit_code == 0 and spanscope.__version__ in version.stdout
    helped = runner.invoke(cli, ["--help"])
    assert helped.exit_code == 0
    for word in ("demo", "traces", "--tracking-uri", "SPANSCOPE_TRACKING_URI"):
        assert word in helped.stdout
    for command in (["traces", "get"], ["traces", "list"], ["demo"]):
        text = runner.invoke(cli, [*command, "--help"]).stdout
        assert "Example" in text, command
