"""``spanscope server``: serve a store over HTTP (REST API, OTLP receiver, /health).

Thin: check the flags, open the store once (which migrates it, so a bad URI is one
``Error:`` line rather than a worker's traceback), then run uvicorn on
``spanscope.server.app.create_app``. SIGTERM and SIGINT stop it cleanly: uvicorn stops
accepting, lets in-flight requests finish, and the app's lifespan commits every write
already accepted before the process exits 0.
"""

from __future__ import annotations

import signal
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from spanscope.server.config import ServerConfig

__all__ = ["server"]

GRACEFUL_SHUTDOWN_S = 30  # longest a stop waits for in-flight requests


@click.command()
@click.option("--backend-store-uri", metavar="URI",
              help="The store to serve: sqlite:///PATH or postgresql://USER@HOST/DB. "
                   "[default: the tracking URI, sqlite:///spanscope.db]")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on; 0.0.0.0 for every interface (turns auth on).")
@click.option("--port", type=click.IntRange(0, 65535), default=5000, show_default=True)
@click.option("--workers", type=click.IntRange(min=1), default=1, show_default=True,
              help="Server processes (more than one needs a PostgreSQL store).")
@click.option("--auth/--no-auth", default=None,
              help="Require an API key on every route but /health. [default: on unless "
                   "the host is a loopback address]")
@click.option("--max-request-mb", type=click.FloatRange(min=0, min_open=True), default=32.0,
              show_default=True, help="Larger request bodies are refused with 413.")
@click.option("--log-level", type=click.Choice(["critical", "error", "warning", "info",
                                                 "debug"]),
              default="warning", show_default=True, help="uvicorn's log level (info: "
                                                         "one line per request).")
def server(backend_store_uri: str | None, host: str, port: int, workers: int,
           auth: bool | None, max_request_mb: float, log_level: str) -> None:
    """Serve traces over HTTP: the REST API under /api/, OTLP at /v1/traces, /health.

    \b
    Examples:
      spanscope server                                  # ./spanscope.db on 127.0.0.1:5000
      spanscope server --host 0.0.0.0 --backend-store-uri postgresql://u@db/spanscope \\
                       --workers 4                      # a team server (keys required)
      spanscope keys create --role editor               # a key for clients

    Clients set SPANSCOPE_TRACKING_URI=http://HOST:PORT (and SPANSCOPE_API_KEY).
    """
    from spanscope.server.config import ServerConfig, is_loopback
    from spanscope.tracking import get_tracking_uri

    uri = backend_store_uri or get_tracking_uri()
    _check_backend(uri, workers)
    if auth is None:
        auth = not is_loopback(host)
    config = ServerConfig(store_uri=uri, auth=auth, max_request_mb=max_request_mb)
    store = _open(config)
    if workers > 1:
        store.close()
    _announce(config, host, port, workers)
    if workers == 1:
        try:
            _serve_one(config, store, host, port, log_level)
        finally:
            store.close()
    else:
        _serve_many(config, host, port, workers, log_level)
    click.echo("Spanscope server stopped.", err=True)


def _check_backend(uri: str, workers: int) -> None:
    scheme = uri.split(":", 1)[0].split("+", 1)[0].lower()
    if scheme in ("http", "https"):
        raise click.UsageError(
            f"the server needs a database to serve, not another server ({uri}): pass "
            "--backend-store-uri sqlite:///PATH or postgresql://…")
    if workers > 1 and scheme not in ("postgresql", "postgres"):
        raise click.UsageError(
            f"--workers {workers} needs a PostgreSQL store: SQLite lets one process write at "
            "a time (more workers would only queue on its file lock) and a memory store "
            "lives in one process. Serve SQLite with one worker, or use "
            "--backend-store-uri postgresql://…")


def _open(config: ServerConfig) -> Any:
    """The store, opened (and migrated) once here, and a warning if no key can pass."""
    from spanscope.store import open_store
    from spanscope.store.keys import open_key_store

    store = open_store(config.store_uri)
    if config.auth:
        keys = open_key_store(config.store_uri)
        try:
            if not keys.list_keys():
                click.echo("Warning: auth is on and this store has no API keys yet; create "
                           "one with: spanscope keys create --role admin "
                           f"--tracking-uri '{config.store_uri}'", err=True)
        finally:
            keys.close()
    return store


def _announce(config: ServerConfig, host: str, port: int, workers: int) -> None:
    from spanscope.store.sql.engine import mask_uri

    shown = f"[{host}]" if ":" in host else host
    click.echo(f"Spanscope server listening on http://{shown}:{port} "
               f"(store {mask_uri(config.store_uri)}; auth {'on' if config.auth else 'off'}; "
               f"{workers} worker{'s' if workers > 1 else ''}). Stop with Ctrl-C.", err=True)


def _uvicorn_options(host: str, port: int, log_level: str) -> dict[str, Any]:
    return {"host": host, "port": port, "log_level": log_level, "access_log": False,
            "timeout_graceful_shutdown": GRACEFUL_SHUTDOWN_S, "lifespan": "on",
            "server_header": False}


def _serve_one(config: ServerConfig, store: Any, host: str, port: int, log_level: str) -> None:
    import uvicorn

    from spanscope.server.app import create_app

    app = create_app(config, store=store)
    uvicorn_server = uvicorn.Server(uvicorn.Config(app, **_uvicorn_options(host, port,
                                                                           log_level)))
    with _signals_stop_cleanly():
        uvicorn_server.run()
    if not uvicorn_server.started:
        raise click.ClickException(f"could not serve on {host}:{port} (see the log above)")


def _serve_many(config: ServerConfig, host: str, port: int, workers: int,
                log_level: str) -> None:
    import os

    import uvicorn

    from spanscope.server.config import CONFIG_ENV

    os.environ[CONFIG_ENV] = config.to_env()  # what each worker's create_app() reads
    with _signals_stop_cleanly():
        uvicorn.run("spanscope.server.app:create_app", factory=True, workers=workers,
                    **_uvicorn_options(host, port, log_level))


class _signals_stop_cleanly:
    """While serving, SIGTERM/SIGINT are uvicorn's (a graceful stop); afterwards uvicorn
    raises the signal again, which must then end this command normally (exit 0), not
    kill it."""

    def __enter__(self) -> None:
        self._previous = {sig: signal.signal(sig, self._ignore)
                          for sig in (signal.SIGTERM, signal.SIGINT)}

    def __exit__(self, *exc_info: object) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)

    @staticmethod
    def _ignore(signum: int, frame: object) -> None:
        pass
