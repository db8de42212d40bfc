"""The "done when" of monitoring, end to end: two judges and three monitors on the demo
app's experiment, a real ``spanscope server`` process scoring and evaluating them, the demo
sending traces to it over HTTP, the local OpenAI-compatible judge, and a webhook receiver
on 127.0.0.1 that gets an ALERT when the demo's error rate is raised (``demo --outage``)
and a recovery when it falls back."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest
from click.testing import CliRunner
from tests.monitoring.webhook_receiver import webhook_receiver
from tests.server.conftest import ServerProcess, server_env

from spanscope.cli.main import cli
from spanscope.entities import AssessmentSourceType
from spanscope.store.sql import SqlStore
from spanscope.testing.fake_openai import FakeOpenAI

WINDOW = "10s"


def _demo(url: str, *args: str) -> None:
    subprocess.run([sys.executable, "-m", "spanscope", "--tracking-uri", url, "demo",
                    "--experiment", "support-bot", "--no-progress", *args],
                   env=server_env(), check=True, capture_output=True, timeout=300)


def test_a_webhook_gets_an_alert_and_then_a_recovery(
        sqlite_uri: str, monkeypatch: pytest.MonkeyPatch) -> None:
    with SqlStore(sqlite_uri) as store:
        experiment = store.create_experiment("support-bot")
    runner = CliRunner()
    with FakeOpenAI('{"result": "yes", "rationale": "fine"}') as judge, \
            webhook_receiver() as errors_hook, webhook_receiver() as quiet_hook:
        # the server process inherits the judge's address, as a deployment would set it
        monkeypatch.setenv("OPENAI_BASE_URL", judge.url)
        monkeypatch.setenv("SPANSCOPE_JUDGE_MODEL", "openai:/fake-judge")
        monkeypatch.delenv("OPENAI_API_KEY", raising=False)
        for args in (["Safety", "--sample-rate", "0.5"],
                     ["Guidelines", "--name", "polite", "--guidelines", "Be polite."]):
            registered = runner.invoke(cli, ["--tracking-uri", sqlite_uri, "scorers",
                                             "register", *args, "-x", experiment,
                                             "--delay", "0s"])
            assert registered.exit_code == 0, registered.output
        for args in (
            ["--name", "demo errors", "--metric", "error_rate", "--warn-above", "0.3",
             "--alert-above", "0.5", "--min-samples", "10", "--webhook", errors_hook.url],
            ["--name", "demo latency", "--metric", "latency_p95", "--alert-above", "600000",
             "--webhook", quiet_hook.url],
        ):
            made = runner.invoke(cli, ["--tracking-uri", sqlite_uri, "monitor", "create",
                                       "-x", experiment, "--window", WINDOW, "--cadence",
                                       "1s", *args])
            assert made.exit_code == 0, made.output
        with ServerProcess(sqlite_uri, "--monitor-interval", "0.5") as server:
            # the third monitor is created through the server, as a team would
            made = runner.invoke(cli, [
                "--tracking-uri", server.url, "monitor", "create", "--name", "demo tokens",
                "-x", experiment, "--window", WINDOW, "--cadence", "1s", "--metric",
                "tokens_mean", "--alert-above", "1e9", "--webhook", quiet_hook.url])
            assert made.exit_code == 0, made.output
            listed = runner.invoke(cli, ["--tracking-uri", server.url, "monitor", "list",
                                         "-o", "json"])
            assert [m["name"] for m in json.loads(listed.stdout)] == [
                "demo errors", "demo latency", "demo tokens"]
            _demo(server.url, "--traces", "40", "--outage", "0.9")
            (alert,) = errors_hook.wait_for(1, timeout_s=120)
            assert (alert.body["event"], alert.body["state"]) == ("triggered", "ALERT")
            assert alert.body["monitor"]["name"] == "demo errors"
            assert alert.body["value"] > 0.5 and alert.body["samples"] >= 10
            assert alert.body["link"].startswith(server.url + "/?experiment_id=")
            # healthy traffic until the outage has left the window and the monitor recovers
            deadline = time.monotonic() + 240
            while not any(r.body["event"] == "recovered" for r in errors_hook.received):
                assert time.monotonic() < deadline, errors_hook.events
                _demo(server.url, "--traces", "30", "--seed", str(int(time.monotonic())))
            page = server.client().get(server.url + alert.body["link"][len(server.url):])
            assert page.status_code == 200
            tested = runner.invoke(cli, ["--tracking-uri", server.url, "monitor", "test",
                                         "demo latency"])
            assert tested.exit_code == 0, tested.output
            assert json.loads(tested.stdout)["monitor"]["name"] == "demo latency"
            refused = runner.invoke(cli, ["--tracking-uri", server.url, "monitor", "run",
                                          "--once"])
            assert refused.exit_code == 2 and "the worker runs where the database is" in (
                refused.output)
            # the two judges scored the demo's traces as they arrived, in the same worker
            deadline = time.monotonic() + 120
            while not {"safety", "polite"} <= _judged(sqlite_uri, experiment):
                assert time.monotonic() < deadline, _judged(sqlite_uri, experiment)
                time.sleep(0.5)
            assert judge.request_count > 0
        events = errors_hook.events
        assert events[0] == ("triggered", "ALERT") and events[-1] == ("recovered", "OK")
        assert set(events[1:-1]) <= {("deescalated", "WARNING"), ("escalated", "ALERT"),
                                     ("triggered", "WARNING")}
        assert quiet_hook.received == []
    shown = runner.invoke(cli, ["--tracking-uri", sqlite_uri, "monitor", "show",
                                "demo errors", "-o", "json", "--last", "1000"])
    history = json.loads(shown.stdout)["evaluations"]
    assert {"ALERT", "OK"} <= {e["state"] for e in history}
    assert next(e["event"] for e in history if e["event"]) == "triggered"


def _judged(uri: str, experiment: str) -> set[str]:
    """Names of the LLM-judge assessments on the experiment's traces."""
    with SqlStore(uri) as store:
        traces = store.search_traces([experiment], max_results=500, include_spans=False)
    return {a.name for t in traces for a in t.info.assessments
            if a.source.source_type == AssessmentSourceType.LLM_JUDGE}

