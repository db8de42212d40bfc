"""``SPANSCOPE_API_KEY`` against a server started with ``--auth``: keys made by the real
``spanscope keys create``, roles enforced, refusals raised as their own exceptions."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from remote_server import ServerProcess, child_env

import spanscope
from factories import make_trace
from spanscope import tracking
from spanscope.exceptions import PermissionDeniedError, UnauthenticatedError
from spanscope.store.rest import RestStore
from spanscope.testing import reset_tracing


def create_key(store_uri: str, role: str) -> str:
    done = subprocess.run([sys.executable, "-m", "spanscope", "--tracking-uri", store_uri,
                           "keys", "create", "--role", role], capture_output=True, text=True,
                          env=child_env(), timeout=60, check=True)
    return done.stdout.splitlines()[0].strip()


@pytest.fixture
def auth_server(sqlite_uri: str, tmp_path: Path) -> Iterator[ServerProcess]:
    server = ServerProcess(sqlite_uri, tmp_path, args=("--auth",)).start()
    yield server
    server.stop()


def test_keys_and_roles(auth_server: ServerProcess, sqlite_uri: str,
                        monkeypatch: pytest.MonkeyPatch) -> None:
    editor = create_key(sqlite_uri, "editor")
    viewer = create_key(sqlite_uri, "viewer")
    monkeypatch.delenv("SPANSCOPE_API_KEY", raising=False)
    with pytest.raises(UnauthenticatedError):
        RestStore(auth_server.url).list_experiments()
    with pytest.raises(UnauthenticatedError):
        RestStore(auth_server.url, api_key="sk-not-a-key").list_experiments()

    monkeypatch.setenv("SPANSCOPE_API_KEY", editor)
    reset_tracing()
    tracking.set_tracking_uri(auth_server.url)

    @spanscope.trace
    def hello(name: str) -> str:
        return f"hello {name}"

    hello("team")
    assert spanscope.flush(timeout=30)
    (trace,) = spanscope.search_traces(return_type="list")
    assert trace.data.spans[0].outputs == "hello team"

    viewing = RestStore(auth_server.url, api_key=viewer)
    assert [t.info.trace_id for t in viewing.search_traces()] == [trace.info.trace_id]
    with pytest.raises(PermissionDeniedError):
        viewing.log_traces([make_trace()])
    with pytest.raises(PermissionDeniedError):
        viewing.set_trace_tag(trace.info.trace_id, "k", "v")
    reset_tracing()
