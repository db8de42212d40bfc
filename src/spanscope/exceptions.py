"""Spanscope's exceptions, one tree for the whole package.

::

    SpanscopeError
     ├── FilterError (also a ValueError)   a filter string that does not parse or validate
     ├── NotFoundError (also a KeyError)   a trace, experiment or assessment that does not exist
     ├── InvalidInputError (a ValueError)  an argument the caller got wrong
     │    └── TraceJsonError                trace JSON that is malformed; names the field
     ├── InvalidUriError (a ValueError)    a tracking URI no store understands
     └── StoreError                        the storage backend failed; carries the cause

Errors from libraries below us (SQLAlchemy, the database drivers) are translated into
these inside the store, so callers never need to import them.
"""

from __future__ import annotations

__all__ = [
    "FilterError",
    "InvalidInputError",
    "InvalidUriError",
    "NotFoundError",
    "SpanscopeError",
    "StoreError",
    "TraceJsonError",
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
