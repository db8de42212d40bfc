"""Per-span overhead of ``@spanscope.trace`` on a 3-level call, and MLflow's on the same.

Overhead per span = (time of N traced calls - time of N untraced calls) / (3 N), the
median over repeats. Export runs in the background as in production; each traced batch is
flushed outside the timed region. MLflow runs the same workload in its own virtualenv
(created on first use by ``bench/_peer.py``) and the ratio comes from this one run.

    python bench/overhead.py [--calls 2000] [--repeats 7] [--no-peer]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import spanscope


def _untraced() -> object:
    def inner(x: int) -> int:
        return x + 1

    def middle(x: int) -> int:
        return inner(x)

    def outer(x: int) -> int:
        return middle(x)

    return outer


def _traced() -> object:
    @spanscope.trace
    def inner(x: int) -> int:
        return x + 1

    @spanscope.trace
    def middle(x: int) -> int:
        return inner(x)

    @spanscope.trace
    def outer(x: int) -> int:
        return middle(x)

    return outer


def _time_calls(func, calls: int) -> int:
    start = time.perf_counter_ns()
    for i in range(calls):
        func(i)
    return time.perf_counter_ns() - start


def measure(calls: int, repeats: int) -> list[float]:
    """µs of overhead per span, one figure per repeat."""
    spanscope.set_tracking_uri(f"sqlite:///{tempfile.mkdtemp()}/overhead.db")
    plain, traced = _untraced(), _traced()
    for i in range(200):  # warm-up: provider, store, migrations, caches
        traced(i)
    spanscope.flush()
    figures = []
    for _ in range(repeats):
        base = _time_calls(plain, calls)
        with_tracing = _time_calls(traced, calls)
        spanscope.flush()
        figures.append((with_tracing - base) / (calls * 3) / 1000)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--no-peer", action="store_true", help="skip the MLflow comparison")
    args = parser.parse_args()

    ours = measure(args.calls, args.repeats)
    ours_median = statistics.median(ours)
    print(f"spanscope: {ours_median:.1f} µs per span (median of {args.repeats}; "
          f"all: {', '.join(f'{x:.1f}' for x in ours)})")
    result = {"spanscope_per_span_us": ours_median}
    if not args.no_peer:
        from _peer import mlflow_python, run_in_peer

        if mlflow_python() is None:
            print("mlflow: not installed (see message above); comparison skipped")
        else:
            peer = run_in_peer(Path(__file__).parent / "peer_mlflow_overhead.py",
                               "--calls", str(args.calls), "--repeats", str(args.repeats))
            theirs = peer["per_span_us_median"]
            print(f"mlflow {peer.get('mlflow_version')}: {theirs:.1f} µs per span (median)")
            print(f"ratio: spanscope overhead is {ours_median / theirs:.3f} of MLflow's "
                  f"({theirs / ours_median:.1f}x lower)")
            result.update(mlflow_per_span_us=theirs, ratio=ours_median / theirs)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
