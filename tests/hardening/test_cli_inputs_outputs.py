"""Issue 11.6 and 11.7: dataset imports of bad files, and search output page by page.

Imports run the real ``spanscope`` console script in a child process, on SQLite and
PostgreSQL: random bytes named ``.parquet`` and deeply nested JSONL each print one
``Error:`` line, exit with the documented code 3 (bad input) and create nothing.
Search output (``-o json|jsonl|csv``) is fetched page by page; peak memory is measured by
``bench/streaming_output.py``, not here.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

import spanscope
from factories import make_trace
from spanscope import tracking
from spanscope.cli import search as search_cli
from spanscope.cli.main import cli

BAD_FILES = {
    "random.parquet": os.urandom(4096),
    "nested.jsonl": ('{"inputs": ' + "[" * 100_000 + "]" * 100_000 + "}\n").encode(),
    "deep.jsonl": ('{"inputs": {"q": ' + "[" * 500 + "]" * 500 + "}}\n").encode(),
    "binary.jsonl": bytes(range(256)),
    "nested.csv": ('inputs\n"' + "[" * 5000 + "]" * 5000 + '"\n').encode(),
}


@pytest.mark.parametrize("name", sorted(BAD_FILES))
def test_import_of_a_bad_file_is_one_error_line_and_creates_nothing(
        store_uri: str, tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.write_bytes(BAD_FILES[name])
    env = {**os.environ, "SPANSCOPE_TRACKING_URI": store_uri}
    env.pop("SPANSCOPE_EXPERIMENT_ID", None)
    done = subprocess.run([sys.executable, "-m", "spanscope", "datasets", "import", "golden",
                           str(path)], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 3, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), done.stderr
    assert "Traceback" not in done.stderr
    from spanscope.genai.datasets import search_datasets

    tracking.set_tracking_uri(store_uri)
    assert list(search_datasets()) == []


@pytest.fixture
def forty_traces(sqlite_uri: str) -> str:
    store = tracking.get_store(sqlite_uri)
    store.log_traces([make_trace(2, request_time=1_700_000_000_000 + i) for i in range(40)])
    return sqlite_uri


def _search(uri: str, *args: str) -> tuple[str, str]:
    result = CliRunner().invoke(cli, ["--tracking-uri", uri, "traces", "search", *args])
    assert result.exit_code == 0, result.output
    return result.stdout, result.stderr


@pytest.mark.parametrize("output", ["json", "jsonl", "csv"])
def test_search_output_is_fetched_page_by_page_and_unchanged(
        forty_traces: str, monkeypatch: pytest.MonkeyPatch, output: str) -> None:
    whole, whole_err = _search(forty_traces, "-n", "30", "-o", output)
    calls: list[int] = []
    real = spanscope.search_traces

    def recording(**kwargs: Any) -> Any:
        calls.append(kwargs["max_results"])
        return real(**kwargs)

    monkeypatch.setattr(spanscope, "search_traces", recording)
    monkeypatch.setattr(search_cli._Pages, "PAGE_SIZE", 7)
    paged, paged_err = _search(forty_traces, "-n", "30", "-o", output)
    assert calls == [7, 7, 7, 7, 2]
    assert paged == whole and paged_err == whole_err
    if output == "json":
        token = json.loads(paged)["next_page_token"]
    else:
        token = paged_err.strip().rsplit(" ", 1)[-1]
    rest, _ = _search(forty_traces, "-n", "30", "-o", "jsonl", "--page-token", token)
    assert len(rest.splitlines()) == 10  # the page token continues after the 30th trace


def test_empty_search_output_keeps_its_shape(sqlite_uri: str) -> None:
    tracking.get_store(sqlite_uri)
    assert json.loads(_search(sqlite_uri, "-o", "json")[0]) == {"traces": [],
                                                                "next_page_token": None}
    assert _search(sqlite_uri, "-o", "csv")[0].startswith("trace_id,request_time")
    assert _search(sqlite_uri, "-o", "jsonl")[0] == ""
