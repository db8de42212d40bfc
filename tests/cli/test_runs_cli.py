"""``spanscope runs list|show`` and ``spanscope datasets …`` on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

import spanscope
from spanscope.cli.main import cli
from spanscope.genai.datasets import create_dataset, get_dataset


def invoke(runner: CliRunner, uri: str, *args: str) -> Result:
    return runner.invoke(cli, ["--tracking-uri", uri, *args])


@pytest.fixture
def uri(store_uri: str) -> str:
    spanscope.set_tracking_uri(store_uri)
    return store_uri


def _runs(tmp_path: Path) -> tuple[str, str]:
    notes = tmp_path / "notes.txt"
    notes.write_text("hi", encoding="utf-8")
    with spanscope.start_run("baseline") as first:
        spanscope.log_params({"model": "small", "temperature": 0.2})
        spanscope.log_metrics({"correctness/mean": 0.75, "latency_ms": 812.0})
        spanscope.log_artifact(notes, "extras")
        spanscope.log_table({"q": ["a"], "ok": [True]}, "eval_results_table.json")
    with pytest.raises(RuntimeError), spanscope.start_run("broken") as second:
        raise RuntimeError("boom")
    return first.info.run_id, second.info.run_id


def test_runs_list_table_and_json(runner: CliRunner, uri: str, tmp_path: Path) -> None:
    first, second = _runs(tmp_path)
    table = invoke(runner, uri, "runs", "list")
    assert table.exit_code == 0, table.output
    assert "baseline" in table.stdout and "broken" in table.stdout
    assert "FAILED" in table.stdout and "correctness/mean=0.75" in table.stdout
    assert table.stdout.index("broken") < table.stdout.index("baseline")  # newest first
    listed = json.loads(invoke(runner, uri, "runs", "list", "-o", "json").stdout)
    assert [r["info"]["run_id"] for r in listed] == [second, first]
    assert listed[1]["data"]["params"] == {"model": "small", "temperature": "0.2"}
    filtered = invoke(runner, uri, "runs", "list", "-o", "json",
                      "--filter", "metrics.latency_ms > 500")
    assert [r["info"]["run_name"] for r in json.loads(filtered.stdout)] == ["baseline"]
    bad = invoke(runner, uri, "runs", "list", "--filter", "metrics.x >")
    assert bad.exit_code == 4 and "Error:" in bad.stderr


def test_runs_show(runner: CliRunner, uri: str, tmp_path: Path) -> None:
    first, _ = _runs(tmp_path)
    shown = invoke(runner, uri, "runs", "show", first)
    assert shown.exit_code == 0, shown.output
    for text in ("baseline", "FINISHED", "temperature", "0.2", "latency_ms", "812",
                 "extras/notes.txt", "eval_results_table.json", "mlflow.runName"):
        assert text in shown.stdout, text
    body = json.loads(invoke(runner, uri, "runs", "show", first, "-o", "json").stdout)
    assert body["info"]["status"] == "FINISHED"
    assert body["data"]["metrics"] == {"correctness/mean": 0.75, "latency_ms": 812.0}
    assert {a["path"] for a in body["artifacts"]} == {
        "eval_results_table.json", "extras", "extras/notes.txt"}
    missing = invoke(runner, uri, "runs", "show", "f" * 32)
    assert missing.exit_code == 1 and "not found" in missing.stderr


def test_datasets_list_show_export_import(runner: CliRunner, uri: str, tmp_path: Path) -> None:
    ds = create_dataset("support", tags={"team": "qa"})
    ds.merge_records([{"inputs": {"q": "reset password"},
                       "expectations": {"expected_response": "use the link"}},
                      {"inputs": {"q": "refund"}}])
    ds.merge_records([{"inputs": {"q": "refund"}, "expectations": {"policy": "30 days"}}])
    listed = invoke(runner, uri, "datasets", "list")
    assert listed.exit_code == 0, listed.output
    assert "support" in listed.stdout and ds.digest[:12] in listed.stdout
    as_json = json.loads(invoke(runner, uri, "datasets", "list", "-o", "json").stdout)
    assert [(d["name"], d["version"], d["record_count"]) for d in as_json] == [
        ("support", 2, 2)]
    shown = invoke(runner, uri, "datasets", "show", "support")
    assert shown.exit_code == 0, shown.output
    assert "reset password" in shown.stdout and "30 days" in shown.stdout
    old = json.loads(invoke(runner, uri, "datasets", "show", "support", "--version", "1",
                            "-o", "json").stdout)
    assert [r["expectations"] for r in old["records"]] == [
        {"expected_response": "use the link"}, None]
    assert [v["version"] for v in old["versions"]] == [0, 1, 2]

    path = tmp_path / "support.parquet"
    exported = invoke(runner, uri, "datasets", "export", "support", str(path))
    assert exported.exit_code == 0, exported.output
    assert "Wrote 2 records" in exported.stdout
    imported = invoke(runner, uri, "datasets", "import", "copy", str(path))
    assert imported.exit_code == 0, imported.output
    assert "version 1 with 2 records (2 inserted, 0 updated)" in imported.stdout
    assert get_dataset("copy").digest == ds.digest
    again = invoke(runner, uri, "datasets", "import", "copy", str(path))
    assert "version 2 with 2 records (0 inserted, 2 updated)" in again.stdout

    unknown = invoke(runner, uri, "datasets", "show", "nope")
    assert unknown.exit_code == 1 and "dataset 'nope' not found" in unknown.stderr
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"expectations": {}}\n', encoding="utf-8")
    refused = invoke(runner, uri, "datasets", "import", "bad", str(bad))
    assert refused.exit_code == 3 and "no 'inputs'" in refused.stderr


def test_datasets_build(runner: CliRunner, uri: str) -> None:
    from factories import make_trace

    traces = [make_trace(question=f"q{i}", state="ERROR" if i < 2 else "OK")
              for i in range(20)]
    spanscope.tracking.get_store().log_traces(traces)
    built = invoke(runner, uri, "datasets", "build", "triage", "-n", "5",
                   "--stratify-by", "state")
    assert built.exit_code == 0, built.output
    assert "state=ERROR: 1 of 2 traces" in built.stdout
    assert "state=OK: 4 of 18 traces" in built.stdout
    assert get_dataset("triage").record_count == 5
