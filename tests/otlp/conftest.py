"""A real OTLP receiver on 127.0.0.1: uvicorn in a thread over a real SQLite/PostgreSQL store.

``otlp_server`` / ``sqlite_server`` run the real server app (``create_app``). ``make_app``
builds a small app with the same wiring (store, ``IngestQueue``, the OTLP and metrics
routers) for the options the server's flags do not reach yet: a redactor, the gRPC
receiver, an ingest queue left stopped.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from typing import Any

import pytest
import uvicorn
from fastapi import FastAPI

from spanscope.server import metrics, otlp
from spanscope.server.ingest import IngestQueue
from spanscope.store.sql import SqlStore


@dataclass
class RunningServer:
    url: str
    app: FastAPI

    @property
    def store(self) -> SqlStore:
        return self.app.state.store

    @property
    def ingest(self) -> IngestQueue:
        return self.app.state.ingest


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def make_app(store_uri: str, **ingest_options: Any) -> FastAPI:
    redactor = ingest_options.pop("redactor", None)
    max_request_bytes = ingest_options.pop("max_request_bytes", None)
    start_ingest = ingest_options.pop("start_ingest", True)
    grpc_port = ingest_options.pop("grpc_port", None)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.store = SqlStore(store_uri)
        app.state.ingest = IngestQueue(app.state.store, redactor=redactor, **ingest_options)
        if max_request_bytes is not None:
            app.state.max_request_bytes = max_request_bytes
        if start_ingest:
            await app.state.ingest.start()
        receiver = None
        if grpc_port is not None:
            from spanscope.server.otlp_grpc import start_grpc_receiver

            receiver = app.state.grpc = await start_grpc_receiver(app, port=grpc_port)
        try:
            yield
        finally:
            if receiver is not None:
                await receiver.stop()
            await app.state.ingest.close()
            app.state.store.close()

    app = FastAPI(lifespan=lifespan)
    app.include_router(otlp.router)
    app.include_router(metrics.router)
    return app


@contextmanager
def serve(app: FastAPI) -> Iterator[RunningServer]:
    """Run ``app`` under uvicorn on a free port until the block ends (then a clean stop)."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                                           lifespan="on"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the test server did not start")
        time.sleep(0.02)
    try:
        yield RunningServer(f"http://127.0.0.1:{port}", app)
    finally:
        server.should_exit = True
        thread.join(20)


def real_app(store_uri: str, **config: Any) -> FastAPI:
    """``spanscope server``'s app over ``store_uri`` (auth off: a loopback test server)."""
    from spanscope.server.app import create_app
    from spanscope.server.config import ServerConfig

    return create_app(ServerConfig(store_uri=store_uri, **config))


@pytest.fixture
def otlp_server(store_uri: str) -> Iterator[RunningServer]:
    with serve(real_app(store_uri)) as running:
        yield running


@pytest.fixture
def sqlite_server(sqlite_uri: str) -> Iterator[RunningServer]:
    with serve(real_app(sqlite_uri)) as running:
        yield running
