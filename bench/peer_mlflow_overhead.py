"""Per-span overhead of ``@mlflow.trace`` on a 3-level call (runs inside the peer MLflow venv).

Usage: ``python peer_mlflow_overhead.py [--calls N] [--repeats R]``; prints one JSON line.
Tracking goes to ``$MLFLOW_TRACKING_URI``; MLflow's default async trace logging stays on.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time

import mlflow


def inner(x: int) -> int:
    """Untraced leaf."""
    return x + 1


def middle(x: int) -> int:
    """Untraced middle level."""
    return inner(x)


def outer(x: int) -> int:
    """Untraced root."""
    return middle(x)


@mlflow.trace
def t_inner(x: int) -> int:
    """Traced leaf."""
    return x + 1


@mlflow.trace
def t_middle(x: int) -> int:
    """Traced middle level."""
    return t_inner(x)


@mlflow.trace
def t_outer(x: int) -> int:
    """Traced root: one trace of three spans."""
    return t_middle(x)


def _time_calls(fn, calls: int) -> int:
    """Return nanoseconds taken by ``calls`` calls of ``fn``."""
    start = time.perf_counter_ns()
    for i in range(calls):
        fn(i)
    return time.perf_counter_ns() - start


def main() -> None:
    """Run the benchmark and print the JSON result line."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()

    if os.environ.get("MLFLOW_TRACKING_URI"):
        mlflow.set_tracking_uri(os.environ["MLFLOW_TRACKING_URI"])
    mlflow.set_experiment("bench")

    _time_calls(t_outer, 200)  # warm-up
    mlflow.flush_trace_async_logging()

    per_span_us = []
    for _ in range(args.repeats):
        untraced = _time_calls(outer, args.calls)
        traced = _time_calls(t_outer, args.calls)
        mlflow.flush_trace_async_logging()  # outside the timed region
        per_span_us.append((traced - untraced) / (args.calls * 3) / 1000)

    print(
        json.dumps(
            {
                "per_span_us_median": statistics.median(per_span_us),
                "per_span_us_all": per_span_us,
                "mlflow_version": mlflow.__version__,
            }
        )
    )


if __name__ == "__main__":
    main()
