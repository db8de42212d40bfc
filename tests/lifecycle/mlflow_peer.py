"""MLflow stores written by the real ``mlflow==3.17.2`` (the peer venv), for the import tests.

The store is made at test time by ``tests/data/make_mlflow_store.py`` run with the peer
python (``bench/_peer.py`` creates the venv on first use, about a minute on a clean
machine), rather than committed: a committed SQLite file would pin one schema revision
and hide what the generator does, while generating keeps sqlite, PostgreSQL and server
stores identical and checks them against the MLflow that wrote them.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[2]
GENERATOR = ROOT / "tests" / "data" / "make_mlflow_store.py"


def peer_python() -> str:
    """The peer venv's python (created on first use)."""
    sys.path.insert(0, str(ROOT / "bench"))
    try:
        from _peer import mlflow_python
    finally:
        sys.path.pop(0)
    python = mlflow_python()
    assert python is not None, "the peer mlflow venv could not be created (see stderr)"
    return str(python)


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items()
            if not k.startswith(("MLFLOW_", "OTEL_", "PYTHONPATH"))}


def make_store(uri: str, workdir: Path, *args: str) -> dict[str, Any]:
    """Run the generator into ``uri``; return what MLflow read back (``--expected``) or,
    with ``--bulk``, its summary."""
    expected = workdir / "expected.json"
    extra = list(args) or ["--expected", str(expected)]
    if not uri.startswith("sqlite:"):
        extra += ["--artifacts", str(workdir / "artifacts")]
    result = subprocess.run([peer_python(), str(GENERATOR), uri, *extra], env=_env(),
                            cwd=workdir, capture_output=True, text=True, timeout=1200,
                            check=False)
    assert result.returncode == 0, result.stderr[-4000:]
    if args:
        return json.loads(result.stdout.strip().splitlines()[-1])
    return json.loads(expected.read_text())


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def mlflow_server(backend_uri: str, workdir: Path) -> Iterator[str]:
    """``mlflow server`` over ``backend_uri`` on a free 127.0.0.1 port; yields its URL."""
    port = free_port()
    log = open(workdir / "mlflow-server.log", "w")  # noqa: SIM115 (closed below)
    proc = subprocess.Popen(
        [peer_python(), "-m", "mlflow", "server", "--backend-store-uri", backend_uri,
         "--host", "127.0.0.1", "--port", str(port), "--workers", "1"],
        env=_env(), cwd=workdir, stdout=log, stderr=subprocess.STDOUT,
        start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while True:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(url + "/health", timeout=2).status_code == 200:
                    break
            assert proc.poll() is None, (workdir / "mlflow-server.log").read_text()[-3000:]
            assert time.monotonic() < deadline, "mlflow server did not start in 180 s"
            time.sleep(0.5)
        yield url
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
        log.close()
