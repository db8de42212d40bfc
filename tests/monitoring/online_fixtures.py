"""Constants and helpers of the online evaluation tests (``finished`` logs traces)."""

from __future__ import annotations

from typing import Any

from factories import make_trace

JUDGE_MODEL = "openai:/fake-judge"
T0 = 1_800_000_000_000  # a fixed clock: traces and passes use simulated times


def finished(store: Any, n: int, start_ms: int = T0, *, experiment_id: str = "0",
             **kwargs: Any) -> list[str]:
    traces = [make_trace(2, request_time=start_ms + i, experiment_id=experiment_id,
                         **kwargs) for i in range(n)]
    for begin in range(0, n, 1000):
        store.log_traces(traces[begin:begin + 1000])
    return [t.info.trace_id for t in traces]
