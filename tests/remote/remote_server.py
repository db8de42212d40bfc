"""A real ``spanscope server`` in a subprocess, and helpers for child processes.

``ServerProcess`` starts ``python -m spanscope server --backend-store-uri URI --host
127.0.0.1 --port PORT``, waits for ``/health``, and can be SIGKILLed and started again on
the same port and store. ``child_env`` lets a child process import this worktree.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

SRC = str(Path(__file__).resolve().parents[2] / "src")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def child_env(**extra: str) -> dict[str, str]:
    """The environment for a child process that imports this worktree's Spanscope."""
    env = dict(os.environ)
    paths = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p] or [SRC]
    # the tests' own import path, absolute: children may run in another directory
    env["PYTHONPATH"] = os.pathsep.join(os.path.abspath(p) for p in paths)
    env.pop("SPANSCOPE_TRACKING_URI", None)
    for name in ("COLUMNS", "LINES"):  # pytest-xdist's workers set 80 columns; tables honour it
        env.pop(name, None)
    env.update(extra)
    return env


class ServerProcess:
    """``spanscope server`` in a subprocess; ``url`` is where it listens."""

    def __init__(self, store_uri: str, log_dir: Path, *, port: int | None = None,
                 args: tuple[str, ...] = ()) -> None:
        self.store_uri = store_uri
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.args = args
        self.log_path = log_dir / f"server-{self.port}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 60.0) -> ServerProcess:
        log = open(self.log_path, "ab")  # noqa: SIM115 (the child owns it)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "spanscope", "server", "--backend-store-uri",
             self.store_uri, "--host", "127.0.0.1", "--port", str(self.port), *self.args],
            stdout=log, stderr=subprocess.STDOUT, env=child_env(),
            cwd=self.log_path.parent)  # artifacts of a PostgreSQL store land in its cwd
        log.close()
        self.wait_healthy(timeout)
        return self

    def wait_healthy(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise RuntimeError(f"spanscope server exited ({self.proc.returncode}):\n"
                                   f"{self.log()}")
            try:
                if httpx.get(self.url + "/health", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"spanscope server not healthy after {timeout}s:\n{self.log()}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:]

    def kill(self) -> None:
        """SIGKILL: no clean shutdown, whatever was in flight is cut."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(30)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.kill()
