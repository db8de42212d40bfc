"""Traces this process finished but has not written yet: flushed before any read.

Traces reach the store from a background exporter, so a read right after traced code
(``get_trace``, ``search_traces``, an analysis, a tag or an assessment on that trace) would
miss them. Every read path calls ``flush_pending_traces`` first. It never imports the
tracing SDK: when ``spanscope.tracing`` was never loaded no span was made, nothing is
pending, and a read-only process (the CLI, a report) stays as light as it was.
"""

from __future__ import annotations

import sys

__all__ = ["READ_FLUSH_TIMEOUT", "flush_pending_traces"]

READ_FLUSH_TIMEOUT = 30.0  # seconds a read waits for the exporter at most


def flush_pending_traces(timeout: float = READ_FLUSH_TIMEOUT) -> bool:
    """Wait (at most ``timeout`` seconds) until traces finished so far are written.

    True when nothing is pending any more; False when the wait ran out or some traces
    could not be written (the exporter counts them); the read goes ahead either way.
    """
    tracing = sys.modules.get("spanscope.tracing")
    if tracing is None:  # nothing to flush if no span was ever made
        return True
    return bool(tracing.flush(timeout=timeout))
