"""``spanscope server``: serve a store over HTTP (web UI, REST API, OTLP receiver, /health);
``spanscope ui``: the same on 127.0.0.1 for the tracking store, with a browser opened.

Thin: check the flags, open the store once (which migrates it, so a bad URI is one
``Error:`` line rather than a worker's traceback), then run uvicorn on
``spanscope.server.app.create_app``. SIGTERM and SIGINT stop it cleanly: uvicorn stops
accepting, lets in-flight requests finish, and the app's lifespan commits every write
already accepted before the process exits 0.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import signal
import socket
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from spanscope.server.config import ServerConfig

__all__ = ["server", "ui"]

GRACEFUL_SHUTDOWN_S = 30  # longest a stop waits for in-flight requests
EXIT_NOT_SERVED = 7  # "any other Spanscope error" (cli/main.py): e.g. the port is taken


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
@click.option("--redact", metavar="KINDS",
              help="Replace PII before it is stored: a comma list of emails, phones, cards.")
@click.option("--redact-patterns", type=click.Path(exists=True, dir_okay=False),
              metavar="FILE", help="Also redact these regular expressions (a TOML or JSON "
                                   "file with a [patterns] table of name = regex).")
@click.option("--max-value-chars", type=click.IntRange(min=100), default=1_000_000,
              show_default=True, help="Span values longer than this are cut, with a marker.")
@click.option("--otlp-grpc-port", type=click.IntRange(0, 65535), metavar="PORT",
              help="Also receive OTLP over gRPC on this port (e.g. 4317; the grpc extra). "
                   "[default: off]")
@click.option("--capacity", envvar="SPANSCOPE_CAPACITY", show_envvar=True, metavar="SIZE",
              help="The store's capacity (e.g. 10GB): a warning at 80%, new traces refused "
                   "with 507 at 95% until retention frees space. [default: none]")
@click.option("--log-level", type=click.Choice(["critical", "error", "warning", "info",
                                                 "debug"]),
              default="warning", show_default=True, help="uvicorn's log level (info: "
                                                         "one line per request).")
@click.option("--no-monitor", is_flag=True,
              help="Do not evaluate monitors in this server (run 'spanscope monitor run' "
                   "elsewhere instead).")
@click.option("--monitor-interval", type=click.FloatRange(min=0.1), default=5.0,
              show_default=True, metavar="SECONDS", help="Seconds between monitor passes.")
@click.option("--public-url", envvar="SPANSCOPE_PUBLIC_URL", metavar="URL",
              help="This server's address as people reach it, for the links in "
                   "notifications. [default: http://HOST:PORT]")
def server(backend_store_uri: str | None, host: str, port: int, workers: int,
           auth: bool | None, max_request_mb: float, redact: str | None,
           redact_patterns: str | None, max_value_chars: int, otlp_grpc_port: int | None,
           log_level: str, no_monitor: bool, monitor_interval: float,
           public_url: str | None, capacity: str | None = None) -> None:
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
    if otlp_grpc_port is not None and importlib.util.find_spec("grpc") is None:
        raise click.UsageError("--otlp-grpc-port needs gRPC: pip install 'spanscope[grpc]'")
    if auth is None:
        auth = not is_loopback(host)
    kinds = tuple(k.strip() for k in (redact or "").split(",") if k.strip())
    config = ServerConfig(store_uri=uri, host=host, auth=auth, max_request_mb=max_request_mb,
                          redact=kinds, redact_patterns=redact_patterns,
                          max_value_chars=max_value_chars, otlp_grpc_port=otlp_grpc_port,
                          monitor=not no_monitor, monitor_interval_s=monitor_interval,
                          public_url=public_url, capacity_bytes=_capacity(capacity))
    from spanscope.server.redact import Redactor

    Redactor.from_options(kinds, config_path=redact_patterns)  # a bad option: one Error line
    store = _open(config)
    if workers == 1:
        try:
            _serve_one(config, store, host, port, log_level)
        finally:
            store.close()
    else:
        store.close()
        _serve_many(config, host, port, workers, log_level)
    click.echo("Spanscope server stopped.", err=True)


def _capacity(text: str | None) -> int | None:
    if text is None:
        return None
    from spanscope.lifecycle.capacity import parse_size

    return parse_size(text)


def _warn_capacity(config: ServerConfig, store: Any) -> None:
    """Say at startup when the store is already near or over its capacity."""
    if config.capacity_bytes is None:
        return
    from spanscope.lifecycle.capacity import status_of
    from spanscope.store.retention import open_retention_store

    side = open_retention_store(store)
    try:
        status = status_of(side.storage_size(), config.capacity_bytes)
    finally:
        side.close()
    if status.level != "ok":
        click.echo(f"Warning: {status.message()}. Add retention rules (spanscope retention "
                   "add) or raise --capacity.", err=True)


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
                           f"one with: spanscope --tracking-uri '{config.store_uri}' keys "
                           "create --role admin", err=True)
        finally:
            keys.close()
    _warn_capacity(config, store)
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


def _serve_one(config: ServerConfig, store: Any, host: str, port: int, log_level: str,
               on_started: Callable[[int], None] | None = None) -> None:
    """Serve in this process on a socket bound here, so a port in use is one ``Error:``
    line and the announcement names the real port (``--port 0`` picks a free one).
    ``on_started(port)`` runs once the server accepts connections (``spanscope ui``)."""
    import asyncio

    import uvicorn

    from spanscope.server.app import create_app

    sock = _bind(host, port)
    if config.public_url is None:  # links in notifications name the port really bound
        shown = f"[{host}]" if ":" in host else host
        config = dataclasses.replace(config,
                                     public_url=f"http://{shown}:{sock.getsockname()[1]}")
    app = create_app(config, store=store)
    server = uvicorn.Server(uvicorn.Config(app, **_uvicorn_options(host, port, log_level)))
    bound = sock.getsockname()[1]
    _announce(config, host, bound, 1)
    if on_started is not None:
        _when_started(server, lambda: on_started(bound))
    # Until uvicorn takes the signals over (and after it gives them back, when it raises
    # the one that stopped it again), a signal asks it to stop rather than killing us.
    previous = {sig: signal.signal(sig, server.handle_exit)
                for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        asyncio.run(server.serve(sockets=[sock]))
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        sock.close()


def _bind(host: str, port: int) -> socket.socket:
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0]
        sock = socket.socket(family, kind, proto)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
    except OSError as exc:
        click.echo(f"Error: cannot listen on {host}:{port}: {exc.strerror or exc}", err=True)
        raise click.exceptions.Exit(EXIT_NOT_SERVED) from None
    sock.set_inheritable(True)
    return sock


def _when_started(uvicorn_server: Any, action: Callable[[], None]) -> None:
    """Run ``action`` in a thread once uvicorn accepts connections."""
    import threading
    import time

    def wait() -> None:
        for _ in range(600):
            if uvicorn_server.started:
                action()
                return
            if uvicorn_server.should_exit:
                return
            time.sleep(0.05)

    threading.Thread(target=wait, name="spanscope-ui-open", daemon=True).start()


@click.command()
@click.option("--port", type=click.IntRange(0, 65535), default=5000, show_default=True)
@click.option("--browser/--no-browser", default=True, show_default=True,
              help="Open the UI in the web browser once the server is up.")
def ui(port: int, browser: bool) -> None:
    """Open the web UI on the tracking store: a local server on 127.0.0.1 and a browser.

    \b
    Examples:
      spanscope demo && spanscope ui     # the demo's traces in the browser
      spanscope --tracking-uri sqlite:///other.db ui --port 5050 --no-browser
    """
    from spanscope.cli.stores import require_store
    from spanscope.server.config import ServerConfig
    from spanscope.tracking import get_tracking_uri

    require_store()  # opening the UI never creates a store
    config = ServerConfig(store_uri=get_tracking_uri(), host="127.0.0.1", auth=False)
    store = _open(config)
    def open_browser(bound: int) -> None:
        import webbrowser

        address = f"http://127.0.0.1:{bound}/"
        opened = False
        if browser:
            try:
                opened = webbrowser.open(address)
            except webbrowser.Error:
                opened = False
        click.echo(f"The Spanscope UI is at {address}"
                   + ("" if opened else " (open it in your browser)"), err=True)

    try:
        _serve_one(config, store, "127.0.0.1", port, "warning", on_started=open_browser)
    finally:
        store.close()
    click.echo("Spanscope UI stopped.", err=True)


def _serve_many(config: ServerConfig, host: str, port: int, workers: int,
                log_level: str) -> None:
    """uvicorn's supervisor over ``workers`` processes sharing one socket bound here."""
    import os

    import uvicorn
    from uvicorn.supervisors import Multiprocess

    from spanscope.server.config import CONFIG_ENV

    sock = _bind(host, port)
    if config.public_url is None:
        shown = f"[{host}]" if ":" in host else host
        config = dataclasses.replace(config,
                                     public_url=f"http://{shown}:{sock.getsockname()[1]}")
    os.environ[CONFIG_ENV] = config.to_env()  # what each worker's create_app() reads
    uvicorn_config = uvicorn.Config("spanscope.server.app:create_app", factory=True,
                                    workers=workers, **_uvicorn_options(host, port, log_level))
    _announce(config, host, sock.getsockname()[1], workers)
    try:
        with _signals_stop_cleanly():
            Multiprocess(uvicorn_config, sockets=[sock]).run()
    finally:
        sock.close()


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
