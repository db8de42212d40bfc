"""Real processes: SIGKILL mid-export, concurrent writers, exit-time drain, fork."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from spanscope.store.sql.store import SqlStore

TRACER = textwrap.dedent("""
    import os, sys
    import spanscope.tracing as tracing
    from spanscope import tracking
    from spanscope.testing import reset_tracing

    tracking.set_tracking_uri(sys.argv[1])

    @tracing.trace
    def leaf(i, payload):
        return {"i": i, "echo": payload}

    @tracing.trace(span_type="AGENT")
    def request(i):
        return [leaf(i, "x" * 200) for _ in range(3)]
""")


def _run(script: str, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    result = subprocess.run([sys.executable, "-c", TRACER + textwrap.dedent(script), *args],
                            capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, result.stderr
    return result


def _stored(uri: str) -> list:
    with SqlStore(uri) as store:
        traces = list(store.search_traces(max_results=100_000))
    return traces


def test_sigkill_mid_export_leaves_a_readable_store_with_every_flushed_trace(
        tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path}/killed.db"
    script = TRACER + textwrap.dedent("""
        n = 0
        while True:
            request(n)
            n += 1
            if n % 20 == 0:
                print(n if tracing.flush(30) else -n, flush=True)
    """)
    child = subprocess.Popen([sys.executable, "-c", script, uri], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    flushed = 0
    deadline = time.monotonic() + 120
    try:
        assert child.stdout is not None
        while flushed < 300 and time.monotonic() < deadline:
            line = child.stdout.readline()
            if not line:
                break
            value = int(line)
            assert value > 0, "a flush in the child failed"
            flushed = value
        time.sleep(0.02)  # the child is tracing and exporting the next batch
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait(30)
    assert child.returncode == -signal.SIGKILL
    assert flushed >= 300, child.stderr.read() if child.stderr else ""

    with sqlite3.connect(tmp_path / "killed.db") as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    traces = _stored(uri)
    assert len(traces) >= flushed
    inputs = {t.data.spans[0].inputs["i"] for t in traces}
    assert set(range(flushed)) <= inputs
    assert all(len(t.data.spans) == 4 for t in traces)  # whole traces or nothing


def test_four_processes_logging_into_one_sqlite_file_lose_nothing(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path}/shared.db"
    SqlStore(uri).close()  # create the schema once, as an application's first run would
    script = TRACER + textwrap.dedent("""
        for i in range(100):
            request(i)
        assert tracing.flush(60), tracing.get_export_stats()
        print(tracing.get_export_stats()["exported"])
    """)
    children = [subprocess.Popen([sys.executable, "-c", script, uri], stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, text=True) for _ in range(4)]
    outputs = [child.communicate(timeout=180) for child in children]
    for child, (out, err) in zip(children, outputs, strict=True):
        assert child.returncode == 0, err
        assert out.strip() == "100"
    traces = _stored(uri)
    assert len(traces) == 400
    assert len({t.info.trace_id for t in traces}) == 400


def test_traces_queued_at_exit_are_written(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path}/exit.db"
    _run("""
        for i in range(50):
            request(i)
        # no flush: the atexit hook drains the queue
    """, uri)
    assert len(_stored(uri)) == 50


def test_exit_flush_is_bounded_by_its_timeout(tmp_path: Path) -> None:
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-c", TRACER + textwrap.dedent("""
            import threading
            from spanscope.tracing.exporter import TraceExporter
            gate = threading.Event()
            reset_tracing(TraceExporter(writer=lambda uri, traces: gate.wait()))
            request(1)
        """), f"sqlite:///{tmp_path}/slow.db"],
        capture_output=True, text=True, timeout=60,
        env={**os.environ, "SPANSCOPE_EXIT_FLUSH_TIMEOUT": "0.5"})
    assert result.returncode == 0, result.stderr
    assert time.monotonic() - started < 30


def test_a_forked_child_traces_with_fresh_export_state(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path}/fork.db"
    result = _run("""
        import warnings
        warnings.simplefilter("ignore", DeprecationWarning)  # fork with threads (3.12+)
        for i in range(5):
            request(i)  # queued in the parent, possibly not yet written
        pid = os.fork()
        if pid == 0:
            for i in range(100, 103):
                request(i)
            ok = tracing.flush(30)
            stats = tracing.get_export_stats()
            os.write(1, f"child {ok} {stats['exported']}\\n".encode())
            os._exit(0)
        os.waitpid(pid, 0)
        for i in range(5, 7):
            request(i)
        print("parent", tracing.flush(30), tracing.get_export_stats()["exported"])
    """, uri)
    assert "child True 3" in result.stdout, result.stdout
    assert "parent True 7" in result.stdout, result.stdout
    inputs = sorted(t.data.spans[0].inputs["i"] for t in _stored(uri))
    assert inputs == [0, 1, 2, 3, 4, 5, 6, 100, 101, 102]
