"""``spanscope traces tag|untag|delete|feedback|expectation`` against real SQLite files."""

from __future__ import annotations

import json
import os
import pty
import select
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from factories import make_trace
from spanscope.cli.curation import parse_duration, parse_value
from spanscope.cli.main import cli
from spanscope.entities import AssessmentSource, Trace
from spanscope.store.sql import SqlStore

DAY_MS = 86_400_000
UNKNOWN = "tr-" + "0" * 32


@pytest.fixture
def uri(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path}/cli.db"


@pytest.fixture
def store(uri: str) -> Iterator[SqlStore]:
    opened = SqlStore(uri)
    yield opened
    opened.close()


def run(runner: CliRunner, uri: str, *args: str) -> Result:
    return runner.invoke(cli, ["--tracking-uri", uri, "traces", *args])


def one_error_line(result: Result, code: int, *needles: str) -> None:
    assert result.exit_code == code, (result.exit_code, result.output)
    lines = result.stderr.splitlines()
    assert lines[-1].startswith("Error: "), result.stderr
    assert "Traceback" not in result.stderr
    for needle in needles:
        assert needle in lines[-1]


def aged(store: SqlStore, *days_ago: float, experiment_id: str = "0") -> list[Trace]:
    now = int(time.time() * 1000)
    traces = [make_trace(2, request_time=now - int(d * DAY_MS), experiment_id=experiment_id)
              for d in days_ago]
    store.log_traces(traces)
    return traces


def ids_in(store: SqlStore, experiment_id: str = "0") -> set[str]:
    return {t.info.trace_id for t in store.search_traces([experiment_id], max_results=1000,
                                                         include_spans=False)}


# --- tag / untag ----------------------------------------------------------------------------
def test_tag_and_untag(runner: CliRunner, uri: str, store: SqlStore) -> None:
    (trace,) = aged(store, 0)
    trace_id = trace.info.trace_id
    result = run(runner, uri, "tag", trace_id, "reviewed", "yes, by Ann")
    assert result.exit_code == 0, result.output
    assert result.stdout == f"Set tag reviewed=yes, by Ann on trace {trace_id}.\n"
    assert store.get_trace(trace_id).info.tags["reviewed"] == "yes, by Ann"
    result = run(runner, uri, "untag", trace_id, "reviewed")
    assert result.stdout == f"Deleted tag reviewed from trace {trace_id}.\n"
    assert "reviewed" not in store.get_trace(trace_id).info.tags
    one_error_line(run(runner, uri, "untag", trace_id, "reviewed"), 1,
                   f"tag 'reviewed' not found on trace '{trace_id}'")
    one_error_line(run(runner, uri, "tag", UNKNOWN, "k", "v"), 1, f"trace '{UNKNOWN}' not found")
    one_error_line(run(runner, uri, "tag", trace_id, "k" * 251, "v"), 3, "the limit is 250")


# --- delete ---------------------------------------------------------------------------------
def test_delete_listed_trace_ids(runner: CliRunner, uri: str, store: SqlStore) -> None:
    traces = aged(store, 1, 2, 3)
    a, b = traces[0].info.trace_id, traces[1].info.trace_id
    result = run(runner, uri, "delete", "--trace-id", a, "--trace-id", b, "--trace-id", UNKNOWN)
    assert result.exit_code == 0, result.output
    assert result.stdout == "Deleted 2 traces.\n"
    assert ids_in(store) == {traces[2].info.trace_id}


def test_dry_run_counts_and_deletes_nothing(runner: CliRunner, uri: str,
                                            store: SqlStore) -> None:
    traces = aged(store, 45, 31, 29, 0)
    before = {t.info.trace_id: store.get_trace(t.info.trace_id).to_json() for t in traces}
    result = run(runner, uri, "delete", "--older-than", "30d", "--dry-run")
    assert result.exit_code == 0, result.output
    assert result.stdout == ("Would delete 2 traces older than 30d from experiment 0 "
                             "(dry run: nothing was deleted).\n")
    result = run(runner, uri, "delete", "--trace-id", traces[0].info.trace_id, "--dry-run")
    assert result.stdout.startswith("Would delete 1 trace of the 1 listed (dry run")
    assert {i: store.get_trace(i).to_json() for i in before} == before


def test_delete_older_than(runner: CliRunner, uri: str, store: SqlStore) -> None:
    traces = aged(store, 45, 31, 29, 0.01)
    result = run(runner, uri, "delete", "--older-than", "30d")
    assert result.exit_code == 0, result.output
    assert result.stdout == "Deleted 2 traces from experiment 0.\n"
    assert ids_in(store) == {t.info.trace_id for t in traces[2:]}
    result = run(runner, uri, "delete", "--older-than", "12h", "--yes")
    assert result.stdout == "Deleted 1 trace from experiment 0.\n"
    assert ids_in(store) == {traces[3].info.trace_id}


def test_delete_max_traces_and_experiment(runner: CliRunner, uri: str, store: SqlStore) -> None:
    other = store.create_experiment("other")
    mine = aged(store, 10, 9, 8)
    theirs = aged(store, 10, 9, 8, experiment_id=other)
    result = run(runner, uri, "delete", "--older-than", "1d", "-x", other, "--max-traces", "2")
    assert result.exit_code == 0, result.output
    assert result.stdout == f"Deleted 2 traces from experiment {other}.\n"
    assert ids_in(store, other) == {theirs[2].info.trace_id}  # the oldest went first
    assert ids_in(store) == {t.info.trace_id for t in mine}
    one_error_line(run(runner, uri, "delete", "--older-than", "1d", "-x", "77"), 1,
                   "experiment '77' not found")


@pytest.mark.parametrize(("args", "message"), [
    ([], "exactly one of --trace-id, --older-than or --filter (got none)"),
    (["--trace-id", "tr-1", "--older-than", "3d"], "(got --trace-id, --older-than)"),
    (["--trace-id", "tr-1", "--max-traces", "3"], "--max-traces does not apply to --trace-id"),
    (["--older-than", "30 days"], "is not a duration"),
    (["--older-than", "-3d"], "is not a duration"),
    (["--older-than", "3d", "--max-traces", "0"], "--max-traces"),
])
def test_delete_usage_errors_exit_2_and_delete_nothing(runner: CliRunner, uri: str,
                                                       store: SqlStore, args: list[str],
                                                       message: str) -> None:
    aged(store, 100)
    result = run(runner, uri, "delete", *args)
    assert result.exit_code == 2, result.output
    assert message in result.stderr
    assert len(ids_in(store)) == 1


def test_delete_by_filter(runner: CliRunner, uri: str, store: SqlStore) -> None:
    now = int(time.time() * 1000)
    traces = [make_trace(1, request_time=now - i, tags={"env": env})
              for i, env in enumerate(["dev", "prod", "dev", "dev"])]
    store.log_traces(traces)
    result = run(runner, uri, "delete", "--filter", "tags.env = 'dev'", "--dry-run")
    assert result.stdout == ("Would delete 3 traces matching the filter from experiment 0 "
                             "(dry run: nothing was deleted).\n")
    result = run(runner, uri, "delete", "--filter", "tags.env = 'dev'", "--max-traces", "2")
    assert result.exit_code == 0, result.output
    assert result.stdout == "Deleted 2 traces from experiment 0.\n"
    assert ids_in(store) == {traces[0].info.trace_id, traces[1].info.trace_id}  # oldest went
    one_error_line(run(runner, uri, "delete", "--filter", "tags.env = "), 4,
                   'Invalid filter "tags.env = " at position 11')
    assert len(ids_in(store)) == 2


@pytest.mark.parametrize(("text", "ms"), [("90m", 90 * 60_000), ("12h", 12 * 3_600_000),
                                          ("30d", 30 * DAY_MS), ("2w", 14 * DAY_MS),
                                          ("45s", 45_000), (" 7 d ", 7 * DAY_MS)])
def test_durations(text: str, ms: int) -> None:
    assert parse_duration(text) == ms


# --- confirmation on a terminal -------------------------------------------------------------
def _script() -> str:
    return str(Path(sys.executable).with_name("spanscope"))


def _on_terminal(args: list[str], answer: str, env: dict[str, str], cwd: Path) -> tuple[int,
                                                                                     str]:
    """Run the console script with a pseudo-terminal as stdin/stdout; answer its prompt."""
    master, slave = pty.openpty()
    proc = subprocess.Popen([_script(), *args], stdin=slave, stdout=slave, stderr=slave,
                            env=env, cwd=cwd, close_fds=True)
    os.close(slave)
    output = b""

    def read(until: bytes | None) -> None:
        nonlocal output
        deadline = time.monotonic() + 60
        while until is None or until not in output:
            ready, _, _ = select.select([master], [], [], max(0.0, deadline - time.monotonic()))
            if not ready:
                raise AssertionError(f"no {until!r} in {output!r}")
            try:
                chunk = os.read(master, 4096)
            except OSError:  # EIO: the child closed the terminal
                return
            if not chunk:
                return
            output += chunk

    try:
        read(b"[y/N]")
        os.write(master, answer.encode() + b"\n")
        read(None)
        return proc.wait(timeout=60), output.decode()
    finally:
        os.close(master)
        if proc.poll() is None:
            proc.kill()


@pytest.mark.parametrize(("answer", "deleted"), [("n", False), ("y", True)])
def test_a_terminal_is_asked_to_confirm(uri: str, store: SqlStore, tmp_path: Path,
                                        cli_env: dict[str, str], answer: str,
                                        deleted: bool) -> None:
    traces = aged(store, 40, 1)
    code, output = _on_terminal(["--tracking-uri", uri, "traces", "delete", "--older-than",
                                 "30d"], answer, cli_env, tmp_path)
    assert "Delete 1 trace older than 30d from experiment 0? [y/N]" in output
    if deleted:
        assert code == 0, output
        assert "Deleted 1 trace from experiment 0." in output
        assert ids_in(store) == {traces[1].info.trace_id}
    else:
        assert code == 1, output
        assert "Aborted" in output
        assert len(ids_in(store)) == 2


def test_yes_skips_the_question_on_a_terminal(uri: str, store: SqlStore, tmp_path: Path,
                                              cli_env: dict[str, str]) -> None:
    aged(store, 40)
    master, slave = pty.openpty()
    try:
        done = subprocess.run([_script(), "--tracking-uri", uri, "traces", "delete",
                               "--older-than", "30d", "-y"], stdin=slave,
                              capture_output=False, stdout=subprocess.PIPE, env=cli_env,
                              cwd=tmp_path, timeout=60, text=True)
    finally:
        os.close(slave)
        os.close(master)
    assert done.returncode == 0
    assert done.stdout == "Deleted 1 trace from experiment 0.\n"


# --- feedback / expectation -------------------------------------------------------------------
@pytest.mark.parametrize(("text", "value"), [
    ("true", True), ("false", False), ("0.5", 0.5), ("3", 3), ("hello", "hello"),
    ('"quoted"', "quoted"), ('{"a": [1, 2]}', {"a": [1, 2]}), ("[1, 2]", [1, 2]),
    ("yes it is", "yes it is"),
])
def test_values_are_json_when_they_parse(text: str, value: object) -> None:
    assert parse_value(text) == value and type(parse_value(text)) is type(value)


def test_feedback_defaults_to_me_and_is_stored(runner: CliRunner, uri: str,
                                               store: SqlStore) -> None:
    (trace,) = aged(store, 0)
    trace_id = trace.info.trace_id
    result = run(runner, uri, "feedback", trace_id, "correctness", "false", "--rationale",
                 "wrong refund window")
    assert result.exit_code == 0, result.output
    (fb,) = store.get_trace(trace_id).info.assessments
    assert (fb.name, fb.value, fb.rationale) == ("correctness", False, "wrong refund window")
    assert fb.source == AssessmentSource.current_user()
    assert result.stdout == (f"Logged feedback correctness = false on trace {trace_id} "
                             f"(assessment {fb.assessment_id}).\n")


def test_feedback_with_a_judge_source_metadata_span_and_json_output(
        runner: CliRunner, uri: str, store: SqlStore) -> None:
    (trace,) = aged(store, 0)
    trace_id, span_id = trace.info.trace_id, trace.data.spans[1].span_id
    result = run(runner, uri, "feedback", trace_id, "relevance", '{"score": 4}',
                 "--source-type", "llm_judge", "--source-id", "openai:/gpt-4o",
                 "--metadata", '{"cost": "0.002"}', "--span-id", span_id, "-o", "json")
    assert result.exit_code == 0, result.output
    (fb,) = store.get_trace(trace_id).info.assessments
    assert json.loads(result.stdout) == json.loads(json.dumps(fb.to_dict()))
    assert fb.source == AssessmentSource("LLM_JUDGE", "openai:/gpt-4o")
    assert (fb.value, fb.metadata, fb.span_id) == ({"score": 4}, {"cost": "0.002"}, span_id)
    code_source = run(runner, uri, "feedback", trace_id, "lint", "ok", "--source-type", "CODE")
    assert code_source.exit_code == 0
    assert store.get_trace(trace_id).info.assessments[1].source == AssessmentSource(
        "CODE", "default")


def test_feedback_errors(runner: CliRunner, uri: str, store: SqlStore) -> None:
    (trace,) = aged(store, 0)
    trace_id = trace.info.trace_id
    one_error_line(run(runner, uri, "feedback", UNKNOWN, "x", "1"), 1,
                   f"trace '{UNKNOWN}' not found")
    one_error_line(run(runner, uri, "feedback", trace_id, "x", "null"), 3,
                   "feedback needs a value or an error")
    bad = run(runner, uri, "feedback", trace_id, "x", "1", "--metadata", "[1]")
    assert bad.exit_code == 2 and "is not a JSON object" in bad.stderr
    bad = run(runner, uri, "feedback", trace_id, "x", "1", "--source-type", "ROBOT")
    assert bad.exit_code == 2
    assert store.get_trace(trace_id).info.assessments == []


def test_expectation(runner: CliRunner, uri: str, store: SqlStore) -> None:
    (trace,) = aged(store, 0)
    trace_id = trace.info.trace_id
    result = run(runner, uri, "expectation", trace_id, "expected_facts",
                 '["5 days", "original card"]')
    assert result.exit_code == 0, result.output
    (ex,) = store.get_trace(trace_id).info.assessments
    assert (ex.kind, ex.name, ex.value) == ("expectation", "expected_facts",
                                             ["5 days", "original card"])
    assert result.stdout == (f'Logged expectation expected_facts = ["5 days", "original card"]'
                             f" on trace {trace_id} (assessment {ex.assessment_id}).\n")
    result = run(runner, uri, "get", trace_id)
    (listed,) = json.loads(result.stdout)["info"]["assessments"]
    assert listed["expectation"]["serialized_value"]["value"] == '["5 days", "original card"]'


def test_new_commands_have_help_with_examples(runner: CliRunner) -> None:
    for name in ("tag", "untag", "delete", "feedback", "expectation"):
        result = runner.invoke(cli, ["traces", name, "--help"])
        assert result.exit_code == 0
        assert "Example" in result.stdout, name
