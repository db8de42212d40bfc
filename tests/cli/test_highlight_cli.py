"""``spanscope traces search --highlight``: where the words were found, table and JSON."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from spanscope.cli.main import cli
from spanscope.entities import Span, Trace, TraceData, TraceInfo
from spanscope.store.sql import SqlStore


def _store(tmp_path: Path) -> str:
    uri = f"sqlite:///{tmp_path}/text.db"
    traces = []
    for i, question in enumerate(["Where is order A10042? It is late.", "Reset my password"]):
        trace_id = f"tr-{i:032x}"
        root = Span.build(trace_id=trace_id, span_id="1".zfill(16), parent_id=None,
                          name="support_agent", start_time_ns=1, end_time_ns=2,
                          inputs={"question": question}, outputs="done")
        traces.append(Trace(TraceInfo(trace_id=trace_id, request_time=1_700_000_000_000 + i,
                                      state="OK"), TraceData([root])))
    with SqlStore(uri) as store:
        store.log_traces(traces)
    return uri


def test_table_shows_the_snippet_under_the_traces(tmp_path: Path, runner: CliRunner) -> None:
    uri = _store(tmp_path)
    result = runner.invoke(cli, ["--tracking-uri", uri, "traces", "search", "--filter",
                                 "text CONTAINS 'order A10042'", "--highlight"])
    assert result.exit_code == 0, result.output
    assert "1 trace" in result.stdout
    line = next(line for line in result.stdout.splitlines() if "support_agent (inputs)" in line)
    assert line.startswith(f"tr-{0:032x}") and "order A10042? It is late." in line


def test_json_traces_carry_their_highlights(tmp_path: Path, runner: CliRunner) -> None:
    uri = _store(tmp_path)
    result = runner.invoke(cli, ["--tracking-uri", uri, "traces", "search", "--filter",
                                 "text ILIKE '%PASSWORD%'", "--highlight", "-o", "json"])
    assert result.exit_code == 0, result.output
    (trace,) = json.loads(result.stdout)["traces"]
    (mark,) = trace["highlights"]
    assert mark["span_name"] == "support_agent" and mark["kind"] == "inputs"
    assert mark["snippet"][mark["start"]:mark["end"]] == "password"
    plain = runner.invoke(cli, ["--tracking-uri", uri, "traces", "search", "--filter",
                                "text ILIKE '%PASSWORD%'", "-o", "json"])
    assert "highlights" not in json.loads(plain.stdout)["traces"][0]
