"""Every read flushes the traces this process finished but has not written yet.

The exporter writes on a background thread; a read right after traced code must still see
the trace. To make "not written yet" certain rather than likely, another connection holds
SQLite's write lock while the trace ends, and lets go a moment later: a read that did not
wait for the exporter would find nothing.
"""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import spanscope
from spanscope import tracking
from spanscope.analysis import summarize
from spanscope.genai.datasets import build_dataset_from_traces
from spanscope.testing import reset_tracing


@pytest.fixture(autouse=True)
def _fresh_tracing() -> Iterator[None]:
    reset_tracing()
    yield
    reset_tracing()


def _traced_while_locked(db: Path) -> str:
    """Trace one call while the database is write-locked; the lock goes 0.3 s later."""
    spanscope.search_traces()  # the schema exists before the lock is taken
    lock = sqlite3.connect(db, check_same_thread=False)
    lock.execute("BEGIN IMMEDIATE")

    @spanscope.trace
    def answer(question: str) -> str:
        return question.upper()

    answer("refund?")
    trace_id = spanscope.get_last_active_trace_id()
    assert trace_id is not None
    assert tracking.get_store().search_trace_ids([tracking.get_experiment_id()]) == []

    def release() -> None:
        lock.rollback()
        lock.close()

    threading.Timer(0.3, release).start()
    return trace_id


def _get_trace(trace_id: str) -> Any:
    return spanscope.get_trace(trace_id).info.trace_id


def _search(trace_id: str) -> Any:
    return [t.info.trace_id for t in spanscope.search_traces(return_type="list")]


def _tag(trace_id: str) -> Any:
    spanscope.set_trace_tag(trace_id, "seen", "yes")
    return spanscope.get_trace(trace_id).info.tags["seen"]


def _summary(trace_id: str) -> Any:
    return summarize().overall["traces"]


def _dataset(trace_id: str) -> Any:
    return len(build_dataset_from_traces("from-traces", stratify_by=()).to_df())


READS: dict[str, tuple[Callable[[str], Any], Callable[[str], Any]]] = {
    "get_trace": (_get_trace, lambda trace_id: trace_id),
    "search_traces": (_search, lambda trace_id: [trace_id]),
    "set_trace_tag": (_tag, lambda trace_id: "yes"),
    "summarize": (_summary, lambda trace_id: 1),
    "build_dataset_from_traces": (_dataset, lambda trace_id: 1),
}


@pytest.mark.parametrize("read", sorted(READS))
def test_a_read_right_after_tracing_sees_the_trace(read: str, tmp_path: Path) -> None:
    db = tmp_path / "spanscope.db"
    spanscope.set_tracking_uri(f"sqlite:///{db}")
    trace_id = _traced_while_locked(db)
    call, expected = READS[read]
    assert call(trace_id) == expected(trace_id)


def test_the_helper_never_loads_the_tracing_sdk() -> None:
    code = (
        "import sys\n"
        "from spanscope.pending import flush_pending_traces\n"
        "print(flush_pending_traces(), 'spanscope.tracing' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == "True False"


def test_one_helper_holds_the_check() -> None:
    """No read path looks at ``sys.modules`` itself: they all call the one helper."""
    src = Path(spanscope.__file__).parent
    holders = sorted(str(path.relative_to(src)) for path in src.rglob("*.py")
                     if 'sys.modules.get("spanscope.tracing")' in path.read_text())
    assert holders == ["pending.py"]
