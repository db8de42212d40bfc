"""``spanscope scorers …`` and ``spanscope evaluate`` through Click, on real stores."""

from __future__ import annotations

import json
from typing import Any

import pytest
from click.testing import CliRunner
from online_fixtures import T0, finished

from spanscope.cli.main import cli
from spanscope.monitoring.online import OnlineState, run_online_pass
from spanscope.store.online_scorers import open_online_scorer_store
from spanscope.store.sql import SqlStore
from spanscope.testing.fake_openai import FakeOpenAI


def invoke(uri: str, *args: str) -> Any:
    return CliRunner().invoke(cli, ["--tracking-uri", uri, *args])


def test_register_list_update_delete(store_uri: str) -> None:
    SqlStore(store_uri).close()
    done = invoke(store_uri, "scorers", "register", "Safety", "--sample-rate", "0.1",
                  "--filter", "tags.env = 'prod'", "--delay", "2m",
                  "--max-judge-calls-per-hour", "100")
    assert done.exit_code == 0, done.output
    assert "Registered 'safety' (version 1) on experiment 0" in done.output
    done = invoke(store_uri, "scorers", "register", "online_code_scorers:span_count",
                  "--name", "spans", "--delay", "30")
    assert done.exit_code == 0, done.output
    done = invoke(store_uri, "scorers", "register", "Guidelines", "--name", "tone",
                  "--guidelines", "Be polite.", "--guidelines", "No jargon.", "--model",
                  "openai:/gpt-4o-mini")
    assert done.exit_code == 0, done.output
    done = invoke(store_uri, "scorers", "register", "--name", "polite", "--instructions",
                  "Is {{ outputs }} polite?", "--feedback-type", "bool")
    assert done.exit_code == 0, done.output
    listed = json.loads(invoke(store_uri, "scorers", "list", "-o", "json").output)
    assert [(s["name"], s["spec"]["kind"], s["sample_rate"], s["delay_s"])
            for s in listed] == [("polite", "judge", 1.0, 60.0),
                                 ("safety", "builtin", 0.1, 120.0),
                                 ("spans", "code", 1.0, 30.0),
                                 ("tone", "builtin", 1.0, 60.0)]
    assert listed[3]["spec"]["options"] == {"guidelines": ["Be polite.", "No jargon."],
                                            "model": "openai:/gpt-4o-mini"}
    assert listed[1]["filter_string"] == "tags.env = 'prod'"
    assert listed[1]["max_judge_calls_per_hour"] == 100
    table = invoke(store_uri, "scorers", "list")
    assert "safety" in table.output and "Safety" in table.output and "4 online scorers" \
        in table.output
    done = invoke(store_uri, "scorers", "update", "safety", "--sample-rate", "0.5",
                  "--filter", "", "--max-judge-calls-per-hour", "0", "--stop")
    assert done.exit_code == 0, done.output
    safety = json.loads(invoke(store_uri, "scorers", "list", "-o", "json").output)[1]
    assert (safety["sample_rate"], safety["filter_string"], safety["active"],
            safety["max_judge_calls_per_hour"], safety["version"]) == (0.5, None, False,
                                                                      None, 1)
    done = invoke(store_uri, "scorers", "delete", "polite")
    assert done.exit_code == 0 and "Deleted online scorer 'polite'" in done.output
    names = [s["name"] for s in json.loads(invoke(store_uri, "scorers", "list", "-o",
                                                  "json").output)]
    assert names == ["safety", "spans", "tone"]


@pytest.mark.parametrize(("args", "code", "message"), [
    (["register", "Nonsense"], 3, "is not a scorer"),
    (["register", "Safety", "--sample-rate", "0"], 3, "sample_rate must be a number"),
    (["register", "Safety", "--filter", "tags.env = "], 4, ""),
    (["register", "no_such_module:fn"], 3, "cannot import scorer 'no_such_module:fn'"),
    (["register", "Safety", "--experiment-id", "42"], 1, "42"),
    (["register"], 3, "name a SCORER"),
    (["register", "Guidelines"], 3, "Guidelines needs guidelines="),
    (["register", "online_code_scorers:span_count", "--model", "openai:/m"], 3,
     "apply to built-in judges only"),
    (["update", "missing", "--stop"], 1, "no online scorer named 'missing'"),
    (["delete", "missing"], 1, "no online scorer named 'missing'"),
])
def test_bad_input_is_one_line_and_an_exit_code(sqlite_uri: str, args: list[str], code: int,
                                                message: str) -> None:
    SqlStore(sqlite_uri).close()
    done = invoke(sqlite_uri, "scorers", *args)
    assert done.exit_code == code, done.output
    assert done.output.startswith("Error: ") and message in done.output
    assert len(done.output.strip().splitlines()) == 1


def test_a_registered_scorer_twice_is_refused(sqlite_uri: str) -> None:
    SqlStore(sqlite_uri).close()
    assert invoke(sqlite_uri, "scorers", "register", "Safety").exit_code == 0
    done = invoke(sqlite_uri, "scorers", "register", "Safety")
    assert done.exit_code == 3 and "already has an online scorer named 'safety'" in done.output


def test_a_server_uri_is_refused_with_a_pointer_to_the_api() -> None:
    done = invoke("http://127.0.0.1:1", "scorers", "register", "Safety")
    assert done.exit_code == 5 and "/api/scorers" in done.output


def test_registered_from_the_cli_then_scored_by_the_worker(sqlite_uri: str) -> None:
    store = SqlStore(sqlite_uri)
    ids = finished(store, 5)
    assert invoke(sqlite_uri, "scorers", "register", "online_code_scorers:span_count",
                  "--backfill").exit_code == 0
    scorers = open_online_scorer_store(sqlite_uri)
    try:
        report = run_online_pass(store, scorers=scorers, now_ms=T0 + 1000 + 60_000,
                                 state=OnlineState())
    finally:
        scorers.close()
        store.close()
    assert report.scored == 5
    listed = json.loads(invoke(sqlite_uri, "scorers", "list", "-o", "json").output)
    assert listed[0]["traces"]["scored"] == len(ids)


@pytest.fixture
def judge_env(judge: FakeOpenAI) -> FakeOpenAI:
    return judge


def test_evaluate_stored_traces_from_the_command_line(store_uri: str,
                                                      judge_env: FakeOpenAI) -> None:
    store = SqlStore(store_uri)
    prod = finished(store, 4, tags={"env": "prod"})
    finished(store, 3, T0 + 100, tags={"env": "dev"})
    store.close()
    assert invoke(store_uri, "scorers", "register", "online_code_scorers:span_count",
                  "--name", "my_registered").exit_code == 0
    done = invoke(store_uri, "evaluate", "--filter", "tags.env = 'prod'", "--scorers",
                  "Safety,my_registered,online_code_scorers:broken", "--output", "json")
    assert done.exit_code == 0, done.output
    result = json.loads(done.stdout)
    assert sorted(row["trace_id"] for row in result["traces"]) == sorted(prod)
    for row in result["traces"]:
        assert row["safety"]["value"] == "yes" and row["my_registered"]["value"] == 2
        assert "always fails" in row["broken"]["error"]
    assert result["metrics"]["safety/mean"] == 1.0
    assert result["metrics"]["my_registered/mean"] == 2.0
    assert judge_env.request_count == 4
    with SqlStore(store_uri) as reopened:  # the scores are stored on the traces
        names = {a.name for a in reopened.get_trace(prod[0]).info.assessments}
    assert names == {"safety", "my_registered", "broken"}
    table = invoke(store_uri, "evaluate", "--filter", "tags.env = 'dev'", "--scorers",
                   "Safety")
    assert table.exit_code == 0, table.output
    assert "safety/mean" in table.output and "3 traces" in table.output


@pytest.mark.parametrize(("args", "code", "message"), [
    (["--scorers", "Nope"], 3, "unknown scorer 'Nope'"),
    (["--scorers", "Safety", "--filter", "tags.env = 'none'"], 1, "no traces to evaluate"),
    (["--scorers", "Safety", "--filter", "tags.env ="], 4, ""),
])
def test_evaluate_bad_input(sqlite_uri: str, judge_env: FakeOpenAI, args: list[str],
                            code: int, message: str) -> None:
    store = SqlStore(sqlite_uri)
    finished(store, 2)
    store.close()
    done = invoke(sqlite_uri, "evaluate", *args)
    assert done.exit_code == code, done.output
    assert done.output.startswith("Error: ") and message in done.output
