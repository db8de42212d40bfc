"""Every CLI command with ``--tracking-uri http://…``: the real ``spanscope`` command in a
subprocess, against the session's real server."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from remote_server import ServerProcess, child_env

from factories import make_trace
from spanscope.store.rest import RestStore


def cli(server: ServerProcess, *args: str, ok: bool = True,
        stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([sys.executable, "-m", "spanscope", "--tracking-uri", server.url,
                           *args], capture_output=True, text=True, env=child_env(),
                          input=stdin, timeout=180)
    if ok:
        assert done.returncode == 0, f"{args}: {done.stderr[-2000:]}"
    return done


@pytest.fixture
def seeded(server: ServerProcess) -> tuple[str, list[str]]:
    store = RestStore(server.url)
    experiment_id = store.create_experiment(f"cli-{uuid.uuid4().hex[:8]}")
    traces = [make_trace(3, experiment_id=experiment_id, tags={"n": str(i)},
                         state="ERROR" if i == 0 else "OK") for i in range(4)]
    store.log_traces(traces)
    store.close()
    return experiment_id, [t.info.trace_id for t in traces]


def test_trace_commands(server: ServerProcess, seeded: tuple[str, list[str]]) -> None:
    experiment_id, ids = seeded
    listed = json.loads(cli(server, "traces", "list", "-x", experiment_id, "-o", "json").stdout)
    assert sorted(t["trace_id"] for t in listed) == sorted(ids)
    got = json.loads(cli(server, "traces", "get", ids[1]).stdout)
    assert got["info"]["trace_id"] == ids[1] and len(got["data"]["spans"]) == 3
    cli(server, "traces", "tag", ids[1], "reviewed", "yes")
    cli(server, "traces", "feedback", ids[1], "quality", "0.8", "--rationale", "fine")
    cli(server, "traces", "expectation", ids[1], "answer", '"Paris"')
    assessed = RestStore(server.url).get_trace(ids[1]).info.assessments
    assert {(a.name, a.value) for a in assessed} == {("quality", 0.8), ("answer", "Paris")}
    found = cli(server, "traces", "search", "-x", experiment_id, "-f",
                "tags.reviewed = 'yes'", "-o", "json").stdout
    assert [t["info"]["trace_id"] for t in json.loads(found)["traces"]] == [ids[1]]
    cli(server, "traces", "untag", ids[1], "reviewed")
    analysed = json.loads(cli(server, "traces", "analyze", ids[0], "--json").stdout)
    assert analysed["health"]["state"] == "ERROR"
    assert cli(server, "traces", "untag", ids[1], "reviewed", ok=False).returncode != 0
    bad = cli(server, "traces", "search", "-x", experiment_id, "-f", "colour = 'red'",
              ok=False)
    assert bad.returncode != 0 and "colour" in bad.stderr
    cli(server, "traces", "delete", "--trace-id", ids[3], "-y")
    remaining = json.loads(cli(server, "traces", "list", "-x", experiment_id, "-o",
                               "json").stdout)
    assert ids[3] not in {t["trace_id"] for t in remaining}


def test_report_datasets_runs_and_demo(server: ServerProcess, seeded: tuple[str, list[str]],
                                       tmp_path: Path) -> None:
    experiment_id, _ = seeded
    report = cli(server, "report", "-x", experiment_id, "--json").stdout
    assert json.loads(report)["summary"]["traces"] == 4
    name = f"ds-{uuid.uuid4().hex[:6]}"
    cli(server, "datasets", "build", name, "-x", experiment_id)
    assert name in cli(server, "datasets", "list").stdout
    assert name in cli(server, "datasets", "show", name).stdout
    exported = tmp_path / "records.jsonl"
    cli(server, "datasets", "export", name, str(exported))
    copy = f"{name}-copy"
    cli(server, "datasets", "import", copy, str(exported))
    store = RestStore(server.url)
    original, copied = store.get_dataset_by_name(name), store.get_dataset_by_name(copy)
    assert original is not None and copied is not None
    assert copied.record_count == original.record_count == 1  # the 4 traces ask alike
    assert copied.digest == original.digest
    demo_experiment = f"demo-{uuid.uuid4().hex[:6]}"
    cli(server, "demo", "--traces", "20", "--experiment", demo_experiment, "--no-progress")
    demo = store.get_experiment_by_name(demo_experiment)
    assert demo is not None
    assert len(store.search_trace_ids([demo.experiment_id])) == 20
    run = store.create_run(experiment_id, run_name="cli-run")
    store.log_batch(run.info.run_id, params={"model": "m1"})
    listed = json.loads(cli(server, "runs", "list", "-x", experiment_id, "-o", "json").stdout)
    assert [r["info"]["run_id"] for r in listed] == [run.info.run_id]
    assert "m1" in cli(server, "runs", "show", run.info.run_id).stdout
