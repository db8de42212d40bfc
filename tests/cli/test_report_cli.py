"""``spanscope report``: tables, JSON, the HTML file and one-line errors, on both databases."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from spanscope.cli.main import cli
from spanscope.store.sql import SqlStore

sys.path.insert(0, str(Path(__file__).parents[1] / "analysis"))
from many_traces import dataset

A, B = "tags.app_version = '1.0'", "tags.app_version = '2.0'"


@pytest.fixture
def loaded_uri(store_uri: str) -> tuple[str, list]:
    traces, facts = dataset(90)
    with SqlStore(store_uri) as store:
        store.log_traces(traces)
    return store_uri, facts


def run(runner: CliRunner, uri: str, *args: str) -> object:
    return runner.invoke(cli, ["--tracking-uri", uri, "report", *args])


def test_tables_for_people(runner: CliRunner, loaded_uri: tuple) -> None:
    uri, facts = loaded_uri
    result = run(runner, uri, "--group-by", "tags.app_version", "--compare", A, B)
    assert result.exit_code == 0, result.output
    out = result.output
    for heading in ("Summary", "Over time", "By tags.app_version", "Time by span",
                    "Top error patterns", "Slowest traces", "Compare A:", "Verdict:"):
        assert heading in out, heading
    assert f"{len(facts):,}" in out
    slowest = max(facts, key=lambda f: f.latency_ms)
    assert slowest.trace_id in out


def test_json_for_pipes_and_the_html_file(runner: CliRunner, loaded_uri: tuple,
                                          tmp_path: Path) -> None:
    uri, facts = loaded_uri
    html = tmp_path / "out" / "report.html"
    html.parent.mkdir()
    result = run(runner, uri, "--json", "--html", str(html), "--bucket", "day", "--top", "3")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["summary"]["traces"] == len(facts)
    assert data["timeseries"]["bucket"] == "day"
    assert len(data["slowest_traces"]) == 3
    assert len(data["error_patterns"]["patterns"]) <= 3
    assert html.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")


def test_since_and_filter(runner: CliRunner, loaded_uri: tuple) -> None:
    uri, facts = loaded_uri
    result = run(runner, uri, "--json", "-f", B, "--since", "2026-01-01T02:00:00Z",
                 "--until", "2026-01-01T04:00:00Z")
    assert result.exit_code == 0, result.output
    wanted = [f for f in facts if f.app_version == "2.0"
              and 1_767_232_800_000 <= f.request_time < 1_767_240_000_000]
    assert json.loads(result.stdout)["summary"]["traces"] == len(wanted) > 0


@pytest.mark.parametrize(("args", "code", "message"), [
    (("-f", "tags.app_version = 'none'"), 3, "Error: no traces match (filter"),
    (("--since", "1h"), 3, "Error: no traces match"),
    (("--group-by", "colour"), 3, "Error: cannot group by 'colour'"),
    (("--since", "last tuesday"), 3, "Error: start 'last tuesday' is not a time"),
    (("-f", "tags.app_version = "), 4, "Error: "),
    (("--compare", A, "tags.app_version = '9'"), 3, "is empty: no traces match"),
])
def test_bad_input_is_one_line(runner: CliRunner, loaded_uri: tuple, args: tuple,
                               code: int, message: str) -> None:
    uri, _ = loaded_uri
    result = run(runner, uri, *args)
    assert result.exit_code == code, result.output
    assert message in result.stderr
    assert "Traceback" not in result.output
    assert len(result.stderr.strip().splitlines()) == 1


def test_help_has_examples(runner: CliRunner) -> None:
    result = runner.invoke(cli, ["report", "--help"])
    assert result.exit_code == 0
    assert "spanscope report --since 24h" in result.output


def test_cli_md_documents_every_report_option() -> None:
    from spanscope.cli.report import report

    text = (Path(__file__).parents[2] / "docs" / "cli.md").read_text()
    start = text.index("## `spanscope report`")
    section = text[start:text.index("\n## ", start + 1)]
    for param in report.params:
        for option in getattr(param, "opts", []):
            if option.startswith("--"):
                assert f"`{option}" in section or f" {option}" in section, option
