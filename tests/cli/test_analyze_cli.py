"""``spanscope traces analyze``: tables for people, JSON for programs, one line on bad input."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

import spanscope
from spanscope.analysis import diagnose, health, profile_trace
from spanscope.analysis.pricing import trace_cost
from spanscope.cli.main import cli
from spanscope.entities import Trace
from spanscope.store.sql import SqlStore

sys.path.insert(0, str(Path(__file__).parents[1] / "analysis"))
from analysis_builders import TraceBuilder, completion, wrong_answer_trace

Reader = Callable[..., list[Trace]]
UNKNOWN_ID = "tr-" + "0" * 32


def _error_trace_id(uri: str, read_traces: Reader) -> str:
    failed = [t for t in read_traces(uri, include_spans=False) if str(t.info.state) == "ERROR"]
    assert failed, "seed 1 with 40 traces has failed requests"
    return failed[0].info.trace_id


def test_tables_show_health_findings_profile_and_tree(demo_db: tuple[str, str],
                                                      read_traces: Reader,
                                                      runner: CliRunner) -> None:
    uri, _ = demo_db
    trace_id = _error_trace_id(uri, read_traces)
    origin = diagnose(spanscope.get_trace(trace_id))[0]
    result = runner.invoke(cli, ["--tracking-uri", uri, "traces", "analyze", trace_id])
    assert result.exit_code == 0, result.output
    assert result.stderr == ""
    out = result.stdout
    first = out.splitlines()[0]
    assert trace_id in first and "ERROR" in first and "support_agent" in first
    assert "Error spans:" in out
    for heading in ("Findings, most severe first", "Time by span type", "Time by span name",
                    "Span tree"):
        assert heading in out
    findings_part = out.split("Findings, most severe first")[1].split("Time by span type")[0]
    first_row = next(line for line in findings_part.splitlines() if line.strip()[:2] == "1 ")
    assert "high" in first_row and "error_origin" in first_row
    assert origin.span_name in first_row
    assert "support_agent [AGENT]" in out.split("Span tree")[1]
    assert "<- error_origin" in out


def test_json_is_what_the_python_api_says(demo_db: tuple[str, str], read_traces: Reader,
                                          runner: CliRunner) -> None:
    uri, _ = demo_db
    trace_id = _error_trace_id(uri, read_traces)
    result = runner.invoke(cli, ["--tracking-uri", uri, "traces", "analyze", "--trace-id",
                                 trace_id, "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)  # nothing but JSON on stdout
    trace = spanscope.get_trace(trace_id)
    assert set(report) == {"trace_id", "health", "cost", "findings", "profile", "tree"}
    assert report["cost"] == trace_cost(trace).to_dict()
    assert report["trace_id"] == trace_id
    assert report["health"] == health(trace).to_dict()
    assert report["findings"] == [f.to_dict() for f in diagnose(trace)]
    assert report["profile"] == profile_trace(trace).to_dict()
    assert report["findings"][0]["kind"] == "error_origin"
    assert report["tree"].splitlines()[0].startswith("support_agent [AGENT]")


def test_the_classic_wrong_answer_names_the_retrieval_span_first(tmp_path: Path,
                                                                 runner: CliRunner) -> None:
    uri = f"sqlite:///{tmp_path}/wrong.db"
    trace, ids = wrong_answer_trace()
    store = SqlStore(uri)
    try:
        store.log_traces([trace])
    finally:
        store.close()
    args = ["--tracking-uri", uri, "traces", "analyze", trace.info.trace_id]
    report = json.loads(runner.invoke(cli, [*args, "--json"]).stdout)
    top = report["findings"][0]
    assert (top["kind"], top["span_id"], top["span_name"]) == (
        "retrieval_mismatch", ids["retrieve"], "retrieve")
    assert "do not match the query" in top["message"]
    table = runner.invoke(cli, args).stdout
    assert "retrieve [RETRIEVER]" in table and "<- retrieval_mismatch" in table


def test_a_trace_with_nothing_to_say(tmp_path: Path, runner: CliRunner) -> None:
    b = TraceBuilder()
    b.add("answer", 0, 40, span_type="CHAT_MODEL", outputs=completion("Hello!"))
    trace = b.trace()
    uri = f"sqlite:///{tmp_path}/one.db"
    store = SqlStore(uri)
    try:
        store.log_traces([trace])
    finally:
        store.close()
    result = runner.invoke(cli, ["--tracking-uri", uri, "traces", "analyze",
                                 trace.info.trace_id])
    assert result.exit_code == 0, result.output
    assert "No findings: nothing in this trace looks wrong." in result.stdout
    assert "answer [CHAT_MODEL]  40.0 ms @ +0.0 ms" in result.stdout


def test_options_reach_the_diagnosis(demo_db: tuple[str, str], read_traces: Reader,
                                     runner: CliRunner) -> None:
    uri, _ = demo_db
    ok = next(t for t in read_traces(uri) if str(t.info.state) == "OK")
    args = ["--tracking-uri", uri, "traces", "analyze", ok.info.trace_id]
    report = json.loads(runner.invoke(cli, [*args, "--json", "--token-baseline", "1"]).stdout)
    spikes = [f for f in report["findings"] if f["kind"] == "token_spike"]
    assert spikes and all(f["evidence"]["baseline"] == 1 for f in spikes)
    report = json.loads(runner.invoke(cli, [*args, "--json", "--min-retrieval-score",
                                            "2"]).stdout)
    assert any(f["kind"] == "low_retrieval_score" for f in report["findings"])
    tree = runner.invoke(cli, [*args, "--ascii"]).stdout.split("Span tree")[1]
    assert tree.isascii() and "`-- " in tree


def test_unknown_id_is_one_line_and_exit_1(demo_db: tuple[str, str],
                                           runner: CliRunner) -> None:
    uri, _ = demo_db
    for extra in ([], ["--json"]):
        result = runner.invoke(cli, ["--tracking-uri", uri, "traces", "analyze", UNKNOWN_ID,
                                     *extra])
        assert result.exit_code == 1, result.output
        assert result.stdout == ""
        assert result.stderr == f"Error: trace '{UNKNOWN_ID}' not found\n"


@pytest.mark.parametrize(("args", "needle"), [
    ([], "missing trace id"),
    (["tr-1", "--trace-id", "tr-2"], "once"),
    (["tr-1", "--token-baseline", "0"], "--token-baseline"),
])
def test_usage_errors_exit_2(args: list[str], needle: str, runner: CliRunner) -> None:
    result = runner.invoke(cli, ["traces", "analyze", *args])
    assert result.exit_code == 2 and needle in result.stderr
    assert "Traceback" not in result.stderr


def test_help_has_examples(runner: CliRunner) -> None:
    result = runner.invoke(cli, ["traces", "analyze", "--help"])
    assert result.exit_code == 0
    assert "spanscope traces analyze" in result.stdout and "--json" in result.stdout
    assert "analyze" in runner.invoke(cli, ["traces", "--help"]).stdout


def test_analyze_writes_a_self_contained_trace_page(demo_db: tuple[str, str],
                                                    runner: CliRunner, tmp_path: Path) -> None:
    uri, _ = demo_db
    listed = runner.invoke(cli, ["--tracking-uri", uri, "traces", "search", "-f",
                                 "attributes.status = 'ERROR'", "-n", "1", "-o", "jsonl"])
    trace_id = json.loads(listed.stdout.splitlines()[0])["info"]["trace_id"]
    page = tmp_path / "trace.html"
    result = runner.invoke(cli, ["--tracking-uri", uri, "traces", "analyze", trace_id,
                                 "--html", str(page)])
    assert result.exit_code == 0, result.output
    html = page.read_text(encoding="utf-8")
    assert html.startswith("<!DOCTYPE html>") and f'id="trace-{trace_id}"' in html
    assert "error_origin" in html and 'class="row culprit' in html
    assert "<script" not in html and "http" not in html.split("<body>", 1)[1]
