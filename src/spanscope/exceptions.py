"""Spanscope's exceptions, one tree for the whole package.

::

    SpanscopeError
     ├── FilterError (also a ValueError)   a filter string that does not parse or validate
     ├── NotFoundError (also a KeyError)   a trace, experiment or assessment that does not exist
     ├── InvalidInputError (a ValueError)  an argument the caller got wrong
     │    └── TraceJsonError                trace JSON that is malformed; names the field
     ├── InvalidUriError (a ValueError)    a tracking URI no store understands
     ├── StoreError                        the storage backend failed; carries the cause
     │    ├── StoreUnavailableError        a server that is down or saturated (retry later)
     │    └── StorageFullError             a server whose store is full (HTTP 507; retry
     │                                     once retention has freed space)
     ├── UnauthenticatedError              a tracking server wants an API key (HTTP 401)
     └── PermissionDeniedError             the API key's role may not do this (HTTP 403)

``RequestTooLargeError`` (HTTP 413) is an ``InvalidInputError``: send less at once.

Errors from libraries below us (SQLAlchemy, the database drivers) are translated into
these inside the store, so callers never need to import them.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "FilterError",
    "InvalidInputError",
    "InvalidUriError",
    "NotFoundError",
    "PermissionDeniedError",
    "RequestTooLargeError",
    "SpanscopeError",
    "StorageFullError",
    "StoreError",
    "StoreUnavailableError",
    "TraceJsonError",
    "UnauthenticatedError",
]


class SpanscopeError(Exception):
    """Base class of every error Spanscope raises on purpose."""


class InvalidInputError(SpanscopeError, ValueError):
    """An argument the caller passed is not acceptable; the message says which and why."""


class TraceJsonError(InvalidInputError):
    """Trace JSON that is not a trace; ``path`` names the bad field (``info.trace_id``,
    ``data.spans[2].status``, ``$`` for the whole document)."""

    def __init__(self, path: str, message: str) -> None:
        self.path = path
        super().__init__(f"malformed trace JSON at {path}: {message}")


class InvalidUriError(SpanscopeError, ValueError):
    """A tracking URI that no store implementation understands."""


class NotFoundError(SpanscopeError, KeyError):
    """The requested trace, experiment or assessment does not exist."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class StoreError(SpanscopeError):
    """The storage backend failed (database unreachable, locked too long, ...)."""


class StoreUnavailableError(StoreError):
    """The store cannot take the request now but may soon: a tracking server that is
    unreachable, restarting or saturated (HTTP 429/503).

    ``retry_after`` is how many seconds the server asked the client to wait (its
    ``Retry-After``), None when it did not say. The SDK's exporter keeps such traces
    queued and retries them rather than dropping them.
    """

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        self.retry_after = retry_after
        super().__init__(message)


class StorageFullError(StoreError):
    """The tracking server refuses new traces because its store is at or over 95 % of its
    configured capacity (HTTP 507, ``INSUFFICIENT_STORAGE``), until retention or a
    deletion frees space or the capacity is raised.

    The message is the server's own (how full, of what capacity). ``storage`` is the
    server's measurement when it sent one (``used_bytes``, ``capacity_bytes``,
    ``percent``, ``level``, ...), else None. A ``StoreError``, so handlers written for
    that still catch it; the SDK's exporter keeps such traces queued and retries them,
    backing off, as it does for ``StoreUnavailableError``.
    """

    def __init__(self, message: str, *, storage: dict[str, Any] | None = None) -> None:
        self.storage = storage
        super().__init__(message)


class UnauthenticatedError(SpanscopeError):
    """A tracking server refused the request for want of a valid API key
    (set ``SPANSCOPE_API_KEY``)."""


class PermissionDeniedError(SpanscopeError):
    """The API key is valid but its role may not do this (e.g. a viewer writing)."""


class RequestTooLargeError(InvalidInputError):
    """A request body over the server's size limit; send fewer or smaller traces at once."""


class FilterError(SpanscopeError, ValueError):
    """A filter string that does not parse or names something unknown.

    ``position`` is the 0-based character offset of the offending token, ``token`` its text.
    """

    def __init__(self, message: str, *, filter_string: str = "", position: int | None = None,
                 token: str | None = None) -> None:
        self.filter_string = filter_string
        self.position = position
        self.token = token
        super().__init__(message)
