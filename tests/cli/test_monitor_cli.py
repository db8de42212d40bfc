"""``spanscope monitor``: create, list, show, test, run --once, delete on a real SQLite
file; bad definitions are one ``Error:`` line and the exit code of their kind."""

from __future__ import annotations

import json
import time

from click.testing import CliRunner
from tests.factories import make_trace
from tests.monitoring.webhook_receiver import webhook_receiver

from spanscope.cli.main import cli
from spanscope.store.sql import SqlStore


def _invoke(runner: CliRunner, uri: str, *args: str):
    return runner.invoke(cli, ["--tracking-uri", uri, "monitor", *args])


def test_create_list_show_test_run_delete(runner: CliRunner, sqlite_uri: str) -> None:
    now = int(time.time() * 1000)
    with SqlStore(sqlite_uri) as store:
        store.log_traces([make_trace(request_time=now - 60_000 + i, state=s)
                          for i, s in enumerate(["OK"] * 6 + ["ERROR"] * 4)])
    with webhook_receiver() as hook:
        made = _invoke(runner, sqlite_uri, "create", "--name", "errors", "--metric",
                       "error_rate", "--window", "1h", "--cadence", "1m", "--warn-above",
                       "0.1", "--alert-above", "0.3", "--min-samples", "5", "--webhook",
                       hook.url, "--webhook-secret", "s3cret")
        assert made.exit_code == 0, made.output
        assert "Created monitor 'errors'" in made.output
        assert "warn > 0.1, alert > 0.3" in made.output
        made = _invoke(runner, sqlite_uri, "create", "--name", "slow", "--metric",
                       "latency_p95", "--alert-above", "100000", "-o", "json")
        assert json.loads(made.output)["metric"] == "latency_p95"

        listed = json.loads(_invoke(runner, sqlite_uri, "list", "-o", "json").output)
        assert [(m["name"], m["status"]["state"]) for m in listed] == [("errors", None),
                                                                       ("slow", None)]
        assert listed[0]["webhook"]["signed"] is True and "secret" not in listed[0]["webhook"]

        tested = _invoke(runner, sqlite_uri, "test", "errors")
        assert tested.exit_code == 0, tested.output
        payload = json.loads(tested.stdout)
        assert (payload["event"], payload["state"], payload["value"]) == (
            "triggered", "ALERT", 0.4)
        assert "Would send 'triggered' to http://127.0.0.1" in tested.stderr
        assert hook.received == []  # a test sends nothing

        ran = _invoke(runner, sqlite_uri, "run", "--once")
        assert ran.exit_code == 0, ran.output
        assert "errors: ALERT error_rate=0.4 samples=10 notified=triggered" in ran.stdout
        assert "slow: OK" in ran.stdout
        assert "2 evaluated, 1 notification(s) sent" in ran.stderr
        assert hook.events == [("triggered", "ALERT")]
        assert hook.received[0].headers["X-Spanscope-Signature"].startswith("sha256=")

        again = _invoke(runner, sqlite_uri, "run", "--once")  # not due again for a minute
        assert "0 evaluated" in again.stderr and len(hook.received) == 1

    shown = json.loads(_invoke(runner, sqlite_uri, "show", "errors", "-o", "json").output)
    assert shown["status"]["state"] == "ALERT"
    assert [(e["state"], e["samples"], e["event"]) for e in shown["evaluations"]] == [
        ("ALERT", 10, "triggered")]
    table = _invoke(runner, sqlite_uri, "show", "errors")
    assert "state       ALERT since" in table.output and "triggered" in table.output

    deleted = _invoke(runner, sqlite_uri, "delete", "errors")
    assert deleted.exit_code == 0 and "Deleted monitor 'errors'" in deleted.output
    missing = _invoke(runner, sqlite_uri, "show", "errors")
    assert missing.exit_code == 1 and "no monitor with id or name 'errors'" in missing.output


def test_bad_definitions_are_one_error_line(runner: CliRunner, sqlite_uri: str) -> None:
    base = ["create", "--name", "m", "--alert-above", "1"]
    cases = [
        (["--metric", "error_ratio"], 3, "unknown metric 'error_ratio'; known: trace_count"),
        (["--metric", "error_rate", "--filter", "tags.env ="], 4, "Invalid filter"),
        (["--metric", "error_rate", "--window", "1m", "--cadence", "5m"], 3,
         "shorter than the cadence"),
        (["--metric", "span_duration_p95"], 3, "span.type = 'RETRIEVER'"),
        (["--metric", "error_rate", "--window", "a while"], 3, "is not a duration"),
    ]
    for extra, code, message in cases:
        result = _invoke(runner, sqlite_uri, *base, *extra)
        assert result.exit_code == code, (extra, result.output)
        lines = result.output.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("Error: ") and message in lines[0]
    assert json.loads(_invoke(runner, sqlite_uri, "list", "-o", "json").output) == []
