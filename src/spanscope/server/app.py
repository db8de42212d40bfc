"""``create_app``: the FastAPI application of ``spanscope server``.

Usable in-process (tests drive it over ``httpx.ASGITransport`` inside
``app.router.lifespan_context(app)``) and by uvicorn as a factory
(``uvicorn.run("spanscope.server.app:create_app", factory=True, workers=N)``), in which
case each worker process reads its ``ServerConfig`` from the environment.

The lifespan opens what the app serves and closes it in reverse: the store
(``app.state.store``), the API keys beside it (``app.state.keys``), the ingest queue
(``app.state.ingest``), whose ``close`` commits every write already accepted, so a server
stopped with SIGTERM finishes its in-flight writes before it exits, and the monitors
(``app.state.monitors``) with the worker that evaluates them (off with ``--no-monitor``).
"""

from __future__ import annotations

import contextlib
import importlib
import logging
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI
from starlette.concurrency import run_in_threadpool

from spanscope import __version__
from spanscope.server.config import ServerConfig
from spanscope.server.errors import install_error_handlers
from spanscope.server.limits import BodyLimit

if TYPE_CHECKING:
    from spanscope.store.base import TraceStore
    from spanscope.store.keys import KeyStore

__all__ = ["create_app"]

logger = logging.getLogger(__name__)

_DESCRIPTION = """\
Spanscope's REST API: traces, tags, assessments, experiments, runs, datasets and
analysis over the server's store. Errors are `{"error_code": ..., "message": ...}`.
With auth on, send `Authorization: Bearer <key>` (`spanscope keys create`).
"""


def create_app(config: ServerConfig | None = None, *, store: TraceStore | None = None,
               keys: KeyStore | None = None) -> FastAPI:
    """The server app for ``config`` (default: ``ServerConfig.from_env()``).

    ``store`` / ``keys`` given are used as they are and left open at shutdown (their
    owner closes them); otherwise the lifespan opens them on ``config.store_uri``.
    """
    config = config or ServerConfig.from_env()
    from spanscope.server.redact import Redactor

    # Built now, so a bad pattern or option fails here rather than in a worker's startup.
    redactor = Redactor.from_options(config.redact, config_path=config.redact_patterns,
                                     max_value_chars=config.max_value_chars)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        from spanscope.server.ingest import IngestQueue
        from spanscope.store import open_store
        from spanscope.store.keys import open_key_store
        from spanscope.store.monitors import open_monitor_store

        with contextlib.ExitStack() as owned:
            served = store
            if served is None:
                served = await run_in_threadpool(open_store, config.store_uri)
                owned.callback(served.close)
            key_store = keys
            if key_store is None:
                key_store = await run_in_threadpool(open_key_store, config.store_uri)
                owned.callback(key_store.close)
            owned.callback(scorer_routes.close_online_scorers, app)
            from spanscope.server.capacity import start_capacity

            watch = await start_capacity(config, served)  # None without --capacity
            app.state.capacity = None if watch is None else watch.guard
            ingest = IngestQueue(served, max_pending_traces=config.max_pending_traces,
                                 redactor=redactor, capacity=app.state.capacity)
            await ingest.start()
            app.state.keys = key_store
            app.state.ingest = ingest
            grpc = None
            if config.otlp_grpc_port is not None:
                from spanscope.server.otlp_grpc import start_grpc_receiver

                grpc = app.state.grpc = await start_grpc_receiver(
                    app, host=config.host, port=config.otlp_grpc_port)
            app.state.monitors = monitors = await run_in_threadpool(
                open_monitor_store, config.store_uri)
            owned.callback(monitors.close)
            worker = _start_monitor_worker(config, served, monitors, app.state.capacity)
            app.state.store = served  # last: /health answers 200 from here on
            try:
                yield
            finally:
                app.state.store = None
                if worker is not None:
                    await run_in_threadpool(worker.stop)
                if grpc is not None:
                    await grpc.stop()
                await ingest.close()
                if watch is not None:
                    await watch.stop()

    app = FastAPI(title="Spanscope", version=__version__, description=_DESCRIPTION,
                  lifespan=lifespan)
    app.state.config = config
    app.state.store = None
    app.state.capacity = None
    install_error_handlers(app)
    app.add_middleware(BodyLimit, max_bytes=config.max_request_bytes)

    from spanscope.server.routes import ROUTERS
    from spanscope.server.routes import scorers as scorer_routes

    for router in ROUTERS:
        app.include_router(router)
    app.include_router(scorer_routes.router)
    from spanscope.server.routes import retention as lifecycle_routes

    app.include_router(lifecycle_routes.router)  # retention, privacy deletion, storage
    _include_receivers(app)
    from spanscope.server.ui import install_ui

    install_ui(app)
    return app


def _start_monitor_worker(config: ServerConfig, store: Any, monitors: Any,
                          capacity: Any) -> Any:
    """The monitor worker thread (``spanscope.monitoring.worker``), unless ``--no-monitor``.

    Each server process runs one; the monitor store hands each due evaluation and each
    notification to one of them, so several workers over PostgreSQL notify once.
    """
    if not config.monitor:
        return None
    from spanscope.lifecycle.retention import retention_pass
    from spanscope.monitoring.worker import MonitorWorker, OnlinePass, monitor_pass

    def measure_again(_: object) -> None:  # retention freed space: ingest may resume
        if capacity is not None:
            capacity.refresh()

    passes = [monitor_pass(store, monitors, base_url=config.public_url), OnlinePass(store),
              retention_pass(store, after=measure_again)]
    return MonitorWorker(passes, interval_s=config.monitor_interval_s).start()


def _include_receivers(app: FastAPI) -> None:
    """The OTLP receiver (``/v1/traces``, editor) and ``/metrics`` (viewer), from
    ``spanscope.server.otlp`` and ``spanscope.server.metrics``; imported here, and skipped
    with a warning on a build where those modules are absent."""
    from spanscope.server.auth import requires
    from spanscope.store.keys import Role

    for module, role in (("spanscope.server.otlp", Role.EDITOR),
                         ("spanscope.server.metrics", Role.VIEWER)):
        try:
            receiver = importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name != module:
                raise
            logger.warning("%s is not available on this build: its routes are off", module)
            continue
        app.include_router(receiver.router, dependencies=[requires(role)])
