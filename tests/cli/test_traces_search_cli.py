"""``spanscope traces search``: filters, order, pages and the four outputs, through Click."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from factories import make_trace
from spanscope.cli.main import cli
from spanscope.cli.search import split_items
from spanscope.entities import Feedback, Trace
from spanscope.query import filter_traces, parse_order_by, sort_traces
from spanscope.store.sql import SqlStore

T0 = 1_700_000_000_000


@pytest.fixture
def traces_db(tmp_path: Path) -> tuple[str, list[Trace]]:
    traces = [make_trace(3, request_time=T0 + i * 1000, state="ERROR" if i % 4 == 0 else "OK",
                         tags={"env": ["prod", "dev"][i % 2], "score": f"0.{i}"},
                         assessments=[Feedback(name="correct", value=i % 3 == 0)],
                         question=f"question number {i}")
              for i in range(9)]
    uri = f"sqlite:///{tmp_path}/search.db"
    with SqlStore(uri) as store:
        store.log_traces(traces)
    return uri, traces


def _run(runner: CliRunner, uri: str, *args: str):
    return runner.invoke(cli, ["--tracking-uri", uri, "traces", "search", *args])


def _ids(traces: list[Trace], text: str | None, order_by: list[str] | None = None) -> list[str]:
    return [t.info.trace_id for t in sort_traces(filter_traces(text, traces),
                                                 parse_order_by(order_by))]


def test_json_output_is_mlflow_shaped(traces_db: tuple[str, list[Trace]],
                                      runner: CliRunner) -> None:
    uri, traces = traces_db
    result = _run(runner, uri, "--filter", "tags.env = 'prod'", "-o", "json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert set(data) == {"traces", "next_page_token"} and data["next_page_token"] is None
    assert [t["info"]["trace_id"] for t in data["traces"]] == _ids(traces, "tags.env = 'prod'")
    assert all(len(t["data"]["spans"]) == 3 for t in data["traces"])  # whole traces
    assert Trace.from_dict(data["traces"][0]).info.tags["env"] == "prod"
    assert "fields" not in data["traces"][0]


def test_jsonl_pages_with_order_by(traces_db: tuple[str, list[Trace]],
                                   runner: CliRunner) -> None:
    uri, traces = traces_db
    expected = _ids(traces, None, ["tags.score DESC"])
    found, token = [], None
    while True:
        args = ["--order-by", "tags.score DESC", "-n", "4", "-o", "jsonl"]
        result = _run(runner, uri, *args, *(["--page-token", token] if token else []))
        assert result.exit_code == 0, result.output
        found += [json.loads(line)["info"]["trace_id"] for line in result.stdout.splitlines()]
        token = None
        if result.stderr:
            assert result.stderr.startswith("More traces match; continue with --page-token ")
            token = result.stderr.split()[-1]
        if token is None:
            break
    assert found == expected


def test_order_by_is_repeatable_or_comma_separated(traces_db: tuple[str, list[Trace]],
                                                   runner: CliRunner) -> None:
    uri, traces = traces_db
    expected = _ids(traces, None, ["state", "timestamp ASC"])
    for args in (["--order-by", "state", "--order-by", "timestamp ASC"],
                 ["--order-by", "state, timestamp ASC"]):
        result = _run(runner, uri, *args, "-o", "jsonl")
        assert result.exit_code == 0, result.output
        assert [json.loads(x)["info"]["trace_id"] for x in result.stdout.splitlines()] == expected


def test_csv_has_summary_extract_and_filter_columns(traces_db: tuple[str, list[Trace]],
                                                    runner: CliRunner) -> None:
    uri, traces = traces_db
    text = "tag.score < 0.5 AND feedback.correct = TRUE"
    result = _run(runner, uri, "-f", text, "--extract-fields",
                  "agent.inputs.question,ChatOpenAI_1.attributes.mlflow.llm.model", "-o", "csv")
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert [r["trace_id"] for r in rows] == _ids(traces, text)
    assert list(rows[0]) == ["trace_id", "request_time", "state", "execution_duration", "name",
                             "request_preview", "response_preview", "agent.inputs.question",
                             "ChatOpenAI_1.attributes.mlflow.llm.model", "tag.score",
                             "feedback.correct"]
    by_id = {t.info.trace_id: t for t in traces}
    for row in rows:
        trace = by_id[row["trace_id"]]
        assert row["request_time"] == str(trace.info.request_time)
        assert row["agent.inputs.question"] == trace.data.spans[0].inputs["question"]
        assert row["ChatOpenAI_1.attributes.mlflow.llm.model"] == "gpt-4o-mini"
        assert float(row["tag.score"]) < 0.5 and row["feedback.correct"] == "true"


def test_table_shows_matches_and_extra_columns(traces_db: tuple[str, list[Trace]],
                                               runner: CliRunner) -> None:
    uri, traces = traces_db
    result = _run(runner, uri, "-f", "attributes.state = 'ERROR'", "--order-by",
                  "execution_time DESC", "--extract-fields", "tags.env", "-n", "2")
    assert result.exit_code == 0, result.output
    expected = _ids(traces, "attributes.state = 'ERROR'", ["execution_time DESC"])
    for trace_id in expected[:2]:
        assert trace_id in result.stdout
    assert expected[2] not in result.stdout
    assert "tags.env" in result.stdout and "ERROR" in result.stdout
    assert "2 traces, execution_time DESC" in result.stdout
    assert "continue with --page-token" in result.stdout
    empty = _run(runner, uri, "-f", "tags.env = 'nowhere'")
    assert empty.exit_code == 0 and "No traces match." in empty.stdout


def test_extract_fields_in_json_output(traces_db: tuple[str, list[Trace]],
                                       runner: CliRunner) -> None:
    uri, _ = traces_db
    result = _run(runner, uri, "-f", "tags.env = 'dev'", "--extract-fields",
                  "retrieve_2.inputs.query", "-o", "json", "--no-include-spans")
    assert result.exit_code == 2
    assert "read spans" in result.stderr
    result = _run(runner, uri, "-f", "tags.env = 'dev'", "--extract-fields", "tags.score",
                  "-o", "json", "-n", "1")
    data = json.loads(result.stdout)
    (first,) = data["traces"]
    assert first["fields"] == {"tags.score": first["info"]["tags"]["score"],
                               "tags.env": "dev"}
    assert data["next_page_token"]


@pytest.mark.parametrize(("args", "needle"), [
    (["-f", "tags.env = "], 'Invalid filter "tags.env = " at position 11'),
    (["-f", "colour = 'red'"], "unknown identifier 'colour'"),
    (["--order-by", "span.name"], "cannot order by span.name"),
    (["--extract-fields", "agent.bogus"], "invalid extract field 'agent.bogus'"),
    (["--page-token", "garbage!"], "invalid page_token"),
])
def test_errors_are_one_line(traces_db: tuple[str, list[Trace]], runner: CliRunner,
                             args: list[str], needle: str) -> None:
    uri, _ = traces_db
    result = _run(runner, uri, *args)
    assert result.exit_code in (3, 4), result.output
    assert result.exit_code == (4 if args[0] in ("-f", "--order-by") else 3)
    assert result.stdout == ""
    (line,) = result.stderr.splitlines()
    assert line.startswith("Error: ") and needle in line


def test_split_items_respects_quotes_and_backticks() -> None:
    assert split_items(["a, b", "tags.`x,y` DESC,c", " ", "metadata.\"p,q\""]) == [
        "a", "b", "tags.`x,y` DESC", "c", 'metadata."p,q"']


def test_help_lists_the_options(runner: CliRunner) -> None:
    result = runner.invoke(cli, ["traces", "search", "--help"])
    assert result.exit_code == 0
    for option in ("--filter", "--order-by", "--max-results", "--extract-fields",
                   "--experiment-id", "--page-token", "--output"):
        assert option in result.stdout
