"""One pooled HTTP connection to a tracking server, shared by ``RestStore`` and remote
run artifacts.

Translation happens here, at the boundary: httpx's transport errors become
``StoreUnavailableError`` (a server that is down or restarting), error responses become
the exception their ``error_code`` names (``spanscope.store.wire``), so nothing above
sees httpx. ``SPANSCOPE_API_KEY`` is sent as ``Authorization: Bearer …``.

Idempotent requests (reads, and writes the server applies as upserts) are retried once on
a connection that broke before an answer came, which is what a pooled keep-alive
connection to a restarted server does on first use; other requests are never resent,
since the server may have applied them.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

import httpx

from spanscope.exceptions import (
    InvalidInputError,
    InvalidUriError,
    StoreError,
    StoreUnavailableError,
)
from spanscope.store import wire

__all__ = ["API_KEY_ENV", "TIMEOUT_ENV", "HttpSession", "segment"]

API_KEY_ENV = "SPANSCOPE_API_KEY"
TIMEOUT_ENV = "SPANSCOPE_HTTP_TIMEOUT"
DEFAULT_TIMEOUT = 60.0  # seconds to read an answer (a big search or batch write)
CONNECT_TIMEOUT = 5.0
_JSON = {"Content-Type": "application/json"}


def segment(value: str) -> str:
    """``value`` quoted as one URL path segment (ids may hold ``/`` or spaces)."""
    return quote(str(value), safe="")


def _timeout() -> float:
    raw = os.environ.get(TIMEOUT_ENV, "")
    try:
        value = float(raw)
    except ValueError:
        return DEFAULT_TIMEOUT
    return value if value > 0 else DEFAULT_TIMEOUT


class HttpSession:
    """A base URL, its credentials and a connection pool (re-created after a fork)."""

    def __init__(self, base_url: str, *, api_key: str | None = None,
                 timeout: float | None = None) -> None:
        base = base_url.rstrip("/")
        scheme = base.split("://", 1)[0].lower()
        if scheme not in ("http", "https") or "://" not in base or not base.split("://")[1]:
            raise InvalidUriError(f"not an http(s) tracking URI: {base_url!r}")
        self.base_url = base
        key = api_key if api_key is not None else os.environ.get(API_KEY_ENV)
        self._headers = {"Accept": "application/json", "User-Agent": "spanscope"}
        if key:
            self._headers["Authorization"] = f"Bearer {key}"
        self._timeout = httpx.Timeout(timeout or _timeout(), connect=CONNECT_TIMEOUT)
        self._lock = threading.Lock()
        self._client: httpx.Client | None = None
        self._pid = 0
        self._closed = False

    def client(self) -> httpx.Client:
        with self._lock:
            if self._closed:
                raise StoreError(f"the store {self.base_url} is closed")
            if self._client is None or self._pid != os.getpid():
                # a forked child must not share the parent's sockets
                self._client = httpx.Client(
                    base_url=self.base_url, headers=self._headers, timeout=self._timeout,
                    limits=httpx.Limits(max_connections=32, max_keepalive_connections=16))
                self._pid = os.getpid()
            return self._client

    def close(self) -> None:
        with self._lock:
            self._closed = True
            client, self._client = self._client, None
        if client is not None and self._pid == os.getpid():
            client.close()

    # --- requests -----------------------------------------------------------------------
    def request(self, method: str, path: str, *, body: Any = None,
                params: Mapping[str, Any] | None = None, content: bytes | None = None,
                idempotent: bool | None = None,
                headers: Mapping[str, str] | None = None) -> httpx.Response:
        """Send a request and return its 2xx response; raise the error it stands for.

        ``body`` is already wire-encoded JSON data; ``content`` raw bytes.
        """
        send_headers = dict(headers or {})
        if body is not None:
            content = wire.dumps(body).encode("utf-8")
            send_headers.update(_JSON)
        if idempotent is None:
            idempotent = method in ("GET", "HEAD", "PUT", "DELETE")
        for attempt in (1, 2):
            try:
                response = self.client().request(method, path, content=content, params=params,
                                                 headers=send_headers)
            except httpx.TransportError as exc:
                # a connection refused or not yet made never reached the server
                unsent = isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout,
                                          httpx.PoolTimeout))
                if attempt == 1 and (idempotent or unsent):
                    continue
                raise self._unavailable(exc) from None
            if response.is_success:
                return response
            raise self._error(response)
        raise AssertionError("unreachable")  # pragma: no cover

    def json(self, method: str, path: str, **kwargs: Any) -> Any:
        """``request`` and the response's JSON data."""
        response = self.request(method, path, **kwargs)
        if not response.content:
            return None
        try:
            return wire.loads(response.content)
        except InvalidInputError:  # the server's fault (or a proxy's), not the caller's
            raise StoreError(f"{self.base_url}{path} answered {response.status_code} with a "
                             f"body that is not JSON: {response.content[:80]!r}") from None

    def _unavailable(self, exc: httpx.TransportError) -> StoreUnavailableError:
        return StoreUnavailableError(
            f"the tracking server {self.base_url} is unreachable "
            f"({type(exc).__name__}: {exc or 'no detail'})")

    def _error(self, response: httpx.Response) -> Exception:
        body: Any = None
        try:
            body = response.json()
        except ValueError:
            body = None
        return wire.error_from_response(response.status_code, body, response.headers)
