"""Tables at any width: ids, numbers and times are printed whole at 80, 120 and 200 columns.

Free text (names, request previews, patterns) may be cut or left out; a trace id, a
duration, a token count or a cost never is. Checked through ``COLUMNS`` with output piped
(CliRunner) and in a real pseudo-terminal.
"""

from __future__ import annotations

import json
import os
import pty
import re
import subprocess
import sys

import pytest
from click.testing import CliRunner

from spanscope.cli.fit import Column, fit_table, table_width
from spanscope.cli.main import cli

WIDTHS = (80, 120, 200)
ID = re.compile(r"tr-[0-9a-f]+")


def _run(runner: CliRunner, uri: str, width: int, *args: str) -> str:
    result = runner.invoke(cli, ["--tracking-uri", uri, *args], env={"COLUMNS": str(width)})
    assert result.exit_code == 0, result.output
    return result.stdout


def _listed(runner: CliRunner, uri: str, n: int) -> list[dict]:
    return json.loads(_run(runner, uri, 200, "traces", "list", "-n", str(n), "-o", "json"))


def _assert_fits(text: str, width: int) -> None:
    for line in text.splitlines():
        if "--page-token" not in line:  # the token line is soft-wrapped by the terminal
            assert len(line) <= width, line


@pytest.mark.parametrize("width", WIDTHS)
def test_traces_list_prints_ids_and_numbers_whole(demo_db: tuple[str, str], runner: CliRunner,
                                                  width: int) -> None:
    uri, _ = demo_db
    out = _run(runner, uri, width, "traces", "list", "-n", "15")
    _assert_fits(out, width)
    for info in _listed(runner, uri, 15):
        row = next(line for line in out.splitlines() if info["trace_id"] in line)
        assert f"{info['execution_duration_ms']:,} ms" in row
        tokens = json.loads(info["trace_metadata"]["mlflow.trace.tokenUsage"])["total_tokens"]
        assert re.search(rf"(?<![\d,]){tokens:,}(?![\d,])", row), row
    for found in ID.findall(out):
        assert len(found) == 35, found  # never cut: tr- and 32 hex digits
    assert "…" not in "".join(ID.findall(out))


@pytest.mark.parametrize("width", WIDTHS)
def test_traces_search_keeps_asked_for_columns(demo_db: tuple[str, str], runner: CliRunner,
                                               width: int) -> None:
    uri, _ = demo_db
    out = _run(runner, uri, width, "traces", "search", "-n", "5",
               "--extract-fields", "tags.app_version")
    _assert_fits(out, width)
    assert "tags.app_version" in out and "1.4.0" in out
    assert all(len(found) == 35 for found in ID.findall(out))
    token_line = next(line for line in out.splitlines() if "--page-token" in line)
    token = token_line.split("--page-token ", 1)[1].strip()
    again = _run(runner, uri, 200, "traces", "search", "-n", "5", "--page-token", token,
                 "--extract-fields", "tags.app_version")
    assert "5 traces" in again  # the printed token was whole


@pytest.mark.parametrize("width", WIDTHS)
def test_report_never_cuts_numbers_or_ids(demo_db: tuple[str, str], runner: CliRunner,
                                          width: int) -> None:
    uri, _ = demo_db
    out = _run(runner, uri, width, "report", "--group-by", "tags.app_version")
    _assert_fits(out, width)
    data = json.loads(_run(runner, uri, 200, "report", "--json"))
    summary = data["summary"]
    assert f"{summary['traces']:,}" in out and f"{summary['input_tokens']:,}" in out
    assert f"${summary['cost_usd']:.4f}" in out or f"${summary['cost_usd']:,.2f}" in out
    assert all(len(found) == 35 for found in ID.findall(out))
    for trace in data["slowest_traces"]:
        assert trace["trace_id"] in out
    assert not re.search(r"\d…", out)  # no number cut short


def test_a_pseudo_terminal_gets_the_same_layout(demo_db: tuple[str, str]) -> None:
    uri, _ = demo_db
    env = {k: v for k, v in os.environ.items() if k != "SPANSCOPE_TRACKING_URI"}
    env.update(COLUMNS="80", LINES="50", TERM="xterm")
    parent, child = pty.openpty()
    proc = subprocess.run([sys.executable, "-m", "spanscope", "--tracking-uri", uri, "traces",
                           "list", "-n", "5"], stdin=child, stdout=child, stderr=child,
                          env=env, timeout=60, check=False)
    os.close(child)
    chunks = []
    while True:
        try:
            chunk = os.read(parent, 65536)
        except OSError:
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(parent)
    out = re.sub(r"\x1b\[[0-9;]*m", "", b"".join(chunks).decode())
    assert proc.returncode == 0, out
    assert "Duration" in out and "Tokens" in out
    assert len(ID.findall(out)) >= 5 and all(len(f) == 35 for f in ID.findall(out))


def test_fit_table_gives_way_in_order() -> None:
    ids = ["tr-" + "a" * 32]
    columns = [Column("Time", ["2026-12-04 16:35:06"], short=["12-04 16:35:06"], optional=True),
               Column("Trace ID", ids),
               Column("Name", ["support_agent"], whole=False, min_width=8),
               Column("Tokens", ["1,234"], numeric=True),
               Column("Request", ["a long question " * 5], whole=False, min_width=12)]
    from io import StringIO

    from rich.console import Console

    def render(width: int) -> str:
        console = Console(width=width, file=StringIO(), color_system=None)
        console.print(fit_table(columns, width=width))
        return console.file.getvalue()

    wide, medium, narrow, tiny = render(200), render(90), render(52), render(30)
    assert "2026-12-04 16:35:06" in wide and "support_agent" in wide and "question" in wide
    assert "Name" in medium and "12-04 16:35:06" in render(75)
    assert "Time" not in narrow and ids[0] in narrow and "1,234" in narrow
    assert "1,234" in tiny and tiny.count("a") == 1 + 32  # "Trace" and the id, folded whole
    assert table_width([3, 4]) == 9


def test_runs_and_datasets_lists_keep_ids_whole_at_80_columns(tmp_path, runner: CliRunner) -> None:
    import spanscope
    from spanscope.genai.datasets import create_dataset

    uri = f"sqlite:///{tmp_path}/runs.db"
    spanscope.set_tracking_uri(uri)
    with spanscope.start_run(run_name="a rather long evaluation run name for a narrow terminal"):
        spanscope.log_metric("accuracy", 0.875)
        run_id = spanscope.active_run().info.run_id
    dataset_id = create_dataset("support questions, the full set of them").dataset_id
    for args, whole in ((["runs", "list"], run_id), (["datasets", "list"], dataset_id)):
        out = _run(runner, uri, 80, *args)
        _assert_fits(out, 80)
        assert whole in out, out
