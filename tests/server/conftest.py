"""Fixtures for the server tests: the app in-process over ASGI, and a real server process.

- ``asgi_api(store_uri, auth=False)``: a context manager yielding an ``Api`` over
  ``httpx.ASGITransport`` with the app's lifespan running (store, keys, ingest queue);
- ``api``: that, for the parametrized ``store_uri`` (SQLite and PostgreSQL), auth off;
- ``ServerProcess``: ``spanscope server`` started as a subprocess on a free port of
  127.0.0.1, waited for until ``/health`` answers, stopped (SIGTERM, then SIGKILL) after;
- ``make_trace``: a small valid trace (trace JSON round trip of the factories).
"""

from __future__ import annotations

import contextlib
import functools
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

SRC = str(Path(__file__).resolve().parents[2] / "src")


class Api:
    """Synchronous calls into the app running on a background event loop."""

    def __init__(self, portal: Any, client: httpx.AsyncClient, app: Any) -> None:
        self.portal = portal
        self.client = client
        self.app = app

    def request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        return self.portal.call(functools.partial(self.client.request, method, url, **kwargs))

    def get(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", url, **kwargs)

    def post(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("POST", url, **kwargs)

    def patch(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("PATCH", url, **kwargs)

    def put(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("PUT", url, **kwargs)

    def delete(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("DELETE", url, **kwargs)

    @property
    def store(self) -> Any:
        return self.app.state.store


@contextlib.contextmanager
def asgi_api(store_uri: str, *, auth: bool = False, headers: dict[str, str] | None = None,
             **config: Any) -> Iterator[Api]:
    from anyio.from_thread import start_blocking_portal

    from spanscope.server.app import create_app
    from spanscope.server.config import ServerConfig

    app = create_app(ServerConfig(store_uri=store_uri, auth=auth, **config))
    with start_blocking_portal() as portal:
        lifespan = app.router.lifespan_context(app)
        portal.call(lifespan.__aenter__)
        client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                   base_url="http://testserver", headers=headers)
        try:
            yield Api(portal, client, app)
        finally:
            portal.call(client.aclose)
            portal.call(lifespan.__aexit__, None, None, None)


@pytest.fixture
def api(store_uri: str) -> Iterator[Api]:
    with asgi_api(store_uri) as opened:
        yield opened


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def server_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("SPANSCOPE_TRACKING_URI", "SPANSCOPE_EXPERIMENT_ID",
                        "SPANSCOPE_SERVER_CONFIG", "SPANSCOPE_API_KEY")}
    env["PYTHONPATH"] = SRC + os.pathsep + env.get("PYTHONPATH", "")
    env.update(extra)
    return env


class ServerProcess:
    """``spanscope server`` in a subprocess on a free port; use as a context manager."""

    def __init__(self, store_uri: str, *args: str, cwd: str | os.PathLike[str] | None = None,
                 host: str = "127.0.0.1", startup_timeout: float = 60.0) -> None:
        self.port = free_port()
        self.host = host
        self.url = f"http://127.0.0.1:{self.port}"
        self.command = [sys.executable, "-m", "spanscope", "server", "--backend-store-uri",
                        store_uri, "--host", host, "--port", str(self.port), *args]
        self.cwd = cwd
        self.startup_timeout = startup_timeout
        self.proc: subprocess.Popen[str] | None = None
        self.startup_seconds: float | None = None
        self.output = ""

    def start(self) -> ServerProcess:
        started = time.perf_counter()
        self.proc = subprocess.Popen(self.command, cwd=self.cwd, env=server_env(),
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     text=True)
        deadline = started + self.startup_timeout
        while time.perf_counter() < deadline:
            if self.proc.poll() is not None:
                self.output = self.proc.stdout.read() if self.proc.stdout else ""
                raise AssertionError(f"the server exited with {self.proc.returncode}:\n"
                                     f"{self.output}")
            try:
                if httpx.get(self.url + "/health", timeout=1).status_code == 200:
                    self.startup_seconds = time.perf_counter() - started
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.02)
        self.kill()
        raise AssertionError(f"the server did not answer /health within "
                             f"{self.startup_timeout} s:\n{self.output}")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 60.0) -> int:
        """Send ``sig``, wait for the exit code, keep the output."""
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            out, _ = self.proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            out, _ = self.proc.communicate()
        self.output += out or ""
        return self.proc.returncode

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            out, _ = self.proc.communicate()
            self.output += out or ""

    def client(self, **kwargs: Any) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=60, **kwargs)

    def __enter__(self) -> ServerProcess:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.stop()
        self.kill()


@pytest.fixture
def make_trace() -> Callable[..., dict[str, Any]]:
    """Trace JSON of a small OK trace with a root and a child span."""
    from tests.factories import make_trace as factory

    def build(**kwargs: Any) -> dict[str, Any]:
        return factory(**kwargs).to_dict()  # type: ignore[no-any-return]

    return build


def kill_on_exit(proc: subprocess.Popen[Any]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
