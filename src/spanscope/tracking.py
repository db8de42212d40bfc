"""Process-wide tracking settings: which store traces go to and which experiment is active.

Resolution order for the tracking URI: ``set_tracking_uri()``, then the environment
variable ``SPANSCOPE_TRACKING_URI``, then ``sqlite:///spanscope.db`` in the working
directory. ``sqlite:///PATH`` and ``postgresql://…`` name a database, ``http(s)://HOST``
a Spanscope server (``spanscope.store.rest.RestStore``; ``SPANSCOPE_API_KEY`` is its
key). Stores are opened lazily and cached per URI, so importing Spanscope and decorating
functions touches no file, no database and no network.
"""

from __future__ import annotations

import os
import threading
from typing import TYPE_CHECKING

from spanscope.entities.experiment import DEFAULT_EXPERIMENT_ID

if TYPE_CHECKING:
    from spanscope.store.base import Store

__all__ = [
    "DEFAULT_TRACKING_URI",
    "get_experiment_id",
    "get_store",
    "get_tracking_uri",
    "reset",
    "set_experiment",
    "set_tracking_uri",
]

DEFAULT_TRACKING_URI = "sqlite:///spanscope.db"
TRACKING_URI_ENV = "SPANSCOPE_TRACKING_URI"
EXPERIMENT_ENV = "SPANSCOPE_EXPERIMENT_ID"

_lock = threading.RLock()
_tracking_uri: str | None = None
_experiment_id: str | None = None
_stores: dict[str, Store] = {}


def set_tracking_uri(uri: str | os.PathLike[str] | None) -> None:
    """Send traces to ``uri`` from now on (``None`` returns to the default).

    A plain file path means a SQLite file at that path; ``http://host:port`` a server.
    """
    global _tracking_uri, _experiment_id
    with _lock:
        _tracking_uri = None if uri is None else _normalise(str(uri))
        _experiment_id = None  # experiment ids belong to a store


def get_tracking_uri() -> str:
    with _lock:
        if _tracking_uri is not None:
            return _tracking_uri
    return _normalise(os.environ.get(TRACKING_URI_ENV) or DEFAULT_TRACKING_URI)


def _normalise(uri: str) -> str:
    if "://" in uri or uri.startswith("sqlite:"):
        return uri
    return "sqlite:///" + os.path.abspath(uri)


def get_store(uri: str | None = None) -> Store:
    """The store for ``uri`` (default: the tracking URI), opened once and then reused."""
    from spanscope.store import open_store

    uri = uri or get_tracking_uri()
    with _lock:
        store = _stores.get(uri)
        if store is None:
            store = _stores[uri] = open_store(uri)
        return store


def set_experiment(experiment_name: str | None = None, experiment_id: str | None = None) -> str:
    """Make an experiment the active one, creating it by name on first use; returns its id."""
    from spanscope.exceptions import InvalidInputError

    store = get_store()
    if experiment_id is not None:
        experiment_id = store.get_experiment(str(experiment_id)).experiment_id
    elif experiment_name:
        found = store.get_experiment_by_name(experiment_name)
        experiment_id = found.experiment_id if found else store.create_experiment(experiment_name)
    else:
        raise InvalidInputError("set_experiment needs experiment_name or experiment_id")
    global _experiment_id
    with _lock:
        _experiment_id = experiment_id
    return experiment_id


def get_experiment_id() -> str:
    """The active experiment id: ``set_experiment``, else ``SPANSCOPE_EXPERIMENT_ID``, else 0."""
    with _lock:
        if _experiment_id is not None:
            return _experiment_id
    return os.environ.get(EXPERIMENT_ENV) or DEFAULT_EXPERIMENT_ID


def reset() -> None:
    """Forget the tracking URI, active experiment and cached stores (closing them)."""
    global _tracking_uri, _experiment_id
    with _lock:
        stores = list(_stores.values())
        _stores.clear()
        _tracking_uri = None
        _experiment_id = None
    for store in stores:
        store.close()
