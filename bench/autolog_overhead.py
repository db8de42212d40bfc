"""Per-call overhead of ``spanscope.openai.autolog()``, and of MLflow's on the same calls.

Both time ``client.chat.completions.create`` of the real ``openai`` client against one
local zero-latency OpenAI-compatible server (``spanscope.testing.fake_openai``, run in its
own process so it does not share this one's interpreter lock). Each call is timed;
untraced and traced calls alternate in blocks (autolog switched off and on between them)
and traces are flushed outside the timed calls. Overhead per call = median traced call -
median untraced call, per repeat; the figure is the median over repeats. MLflow 3.17.2
runs the same loop in its own virtualenv
(``bench/_peer.py``; the script installs the same ``openai`` version there if missing)
against the same server, in this one run.

    python bench/autolog_overhead.py [--calls 300] [--repeats 5] [--block 25] [--no-peer]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import openai

import spanscope
import spanscope.openai

MESSAGES = [{"role": "system", "content": "You are a helpful support assistant."},
            {"role": "user", "content": "What is your refund policy?"}]


def _time_calls(client: openai.OpenAI, calls: int) -> list[int]:
    """Nanoseconds taken by each of ``calls`` chat completions."""
    times = []
    for _ in range(calls):
        start = time.perf_counter_ns()
        client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
        times.append(time.perf_counter_ns() - start)
    return times


def measure(base_url: str, calls: int, repeats: int, block: int
            ) -> tuple[list[float], list[float]]:
    """(µs of overhead per call, µs per untraced call), one figure per repeat.

    A repeat makes ``calls`` untraced and ``calls`` traced calls in alternating blocks of
    ``block``, timing each call; its overhead is the median traced call minus the median
    untraced one, so a stall of the shared machine during one call moves neither.
    """
    spanscope.set_tracking_uri(f"sqlite:///{tempfile.mkdtemp()}/autolog.db")
    client = openai.OpenAI(base_url=base_url, api_key="bench", max_retries=0)
    spanscope.openai.autolog()
    _time_calls(client, 50)  # warm-up: connection, provider, store, migrations
    spanscope.flush()
    overhead, untraced_us = [], []
    for _ in range(repeats):
        plain: list[int] = []
        traced: list[int] = []
        for _ in range(max(1, calls // block)):
            spanscope.openai.autolog(disable=True)
            plain += _time_calls(client, block)
            spanscope.openai.autolog()
            traced += _time_calls(client, block)
            spanscope.flush()  # outside the timed calls
        overhead.append((statistics.median(traced) - statistics.median(plain)) / 1000)
        untraced_us.append(statistics.median(plain) / 1000)
    spanscope.openai.autolog(disable=True)
    return overhead, untraced_us


def _ensure_peer_openai(python: Path) -> None:
    """The peer venv needs the same openai client this process uses."""
    check = subprocess.run([str(python), "-c", "import openai; print(openai.__version__)"],
                           capture_output=True, text=True, check=False)
    if check.stdout.strip() != openai.__version__:
        subprocess.run([str(python), "-m", "pip", "install", "--disable-pip-version-check",
                        "-q", f"openai=={openai.__version__}"], check=True)


def _start_server() -> tuple[subprocess.Popen[str], str]:
    server = subprocess.Popen([sys.executable, "-m", "spanscope.testing.fake_openai",
                               "--answer", "Refunds are accepted within 30 days."],
                              stdout=subprocess.PIPE, text=True)
    assert server.stdout is not None
    return server, server.stdout.readline().strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--block", type=int, default=25, help="calls per alternating block")
    parser.add_argument("--no-peer", action="store_true", help="skip the MLflow comparison")
    args = parser.parse_args()

    server, base_url = _start_server()
    try:
        ours, plain = measure(base_url, args.calls, args.repeats, args.block)
        ours_median = statistics.median(ours)
        print(f"untraced call: {statistics.median(plain):.1f} µs (median)")
        print(f"spanscope: {ours_median:.1f} µs per call (median of {args.repeats}; "
              f"all: {', '.join(f'{x:.1f}' for x in ours)})")
        result = {"spanscope_per_call_us": ours_median,
                  "untraced_call_us": statistics.median(plain)}
        if not args.no_peer:
            from _peer import mlflow_python, run_in_peer

            python = mlflow_python()
            if python is None:
                print("mlflow: not installed (see message above); comparison skipped")
            else:
                _ensure_peer_openai(python)
                peer = run_in_peer(Path(__file__).parent / "peer_mlflow_autolog.py",
                                   "--base-url", base_url, "--calls", str(args.calls),
                                   "--repeats", str(args.repeats), "--block", str(args.block))
                theirs = peer["per_call_us_median"]
                print(f"mlflow {peer.get('mlflow_version')}: {theirs:.1f} µs per call "
                      f"(median; all: {', '.join(f'{x:.1f}' for x in peer['per_call_us'])})")
                print(f"ratio: spanscope overhead is {ours_median / theirs:.3f} of MLflow's "
                      f"({theirs / ours_median:.1f}x lower)")
                result.update(mlflow_per_call_us=theirs, ratio=ours_median / theirs)
        print(json.dumps(result))
    finally:
        server.terminate()
        server.wait(timeout=10)


if __name__ == "__main__":
    main()
