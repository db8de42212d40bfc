"""Storage: the store protocols (one per concern) and the stores that implement them."""

from __future__ import annotations

from spanscope.exceptions import InvalidUriError
from spanscope.store.base import (
    AnalyticsStore,
    AssessmentStore,
    DatasetStore,
    ExperimentStore,
    RunStore,
    Store,
    StoreHandle,
    TraceStore,
)

__all__ = [
    "AnalyticsStore",
    "AssessmentStore",
    "DatasetStore",
    "ExperimentStore",
    "RunStore",
    "Store",
    "StoreHandle",
    "TraceStore",
    "open_store",
]


def open_store(uri: str) -> Store:
    """Open the store a tracking URI names (``sqlite:///…``, ``postgresql://…``,
    ``http(s)://server``, ``memory://``)."""
    scheme = uri.split(":", 1)[0].split("+", 1)[0].lower()
    if scheme == "memory":
        from spanscope.store.memory import InMemoryStore

        return InMemoryStore(uri)
    if scheme in ("sqlite", "postgresql", "postgres"):
        from spanscope.store.sql.store import SqlStore

        return SqlStore(uri)
    if scheme in ("http", "https"):
        from spanscope.store.rest import RestStore

        return RestStore(uri)
    raise InvalidUriError(
        f"unsupported tracking URI {uri!r}: use sqlite:///PATH, postgresql://USER@HOST/DB "
        "or http://HOST:PORT (a Spanscope server)")
