"""``SqlSideStore``: the plumbing of a small store kept beside the traces in their database.

API keys (``keys.py``), retention rules with the deletion log (``retention.py``), online
scorers (``online_scorers.py``) and monitors (``monitors.py``) are kept off the trace store
protocols, each behind a small protocol of its own. Their SQL implementations share this:
their own small engine on the store's URI (migrating the database like ``SqlStore``
does), one short transaction per call, SQLAlchemy errors turned into Spanscope errors.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, TypeVar

from sqlalchemy import exc as sa_exc

from spanscope.exceptions import StoreError
from spanscope.store.sql.engine import WRITE, create_engine, mask_uri
from spanscope.store.sql.errors import translate
from spanscope.store.sql.migrate import ensure_schema

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

__all__ = ["SqlSideStore"]

T = TypeVar("T")


class SqlSideStore:
    """An engine on ``uri`` with the schema brought up to date, and ``_run``."""

    _what = "store"

    def __init__(self, uri: str) -> None:
        self._display_uri = mask_uri(uri)
        self._engine = create_engine(uri)
        self._closed = False
        try:
            with self._translated("open"):
                ensure_schema(self._engine)
        except BaseException:
            self._engine.dispose()
            raise

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._display_uri!r})"

    @contextlib.contextmanager
    def _translated(self, action: str) -> Iterator[None]:
        try:
            yield
        except sa_exc.SQLAlchemyError as exc:
            raise translate(exc, store=self._display_uri, action=action) from exc

    def _run(self, action: str, work: Callable[[Connection], T], *, write: bool = False) -> T:
        """``work(conn)`` in one transaction (a write one when ``write``)."""
        if self._closed:
            raise StoreError(f"{action}: the {self._what} {self._display_uri} is closed")
        with self._translated(action), self._engine.connect() as conn:
            if write:
                conn.execution_options(**{WRITE: True})
            with conn.begin():
                return work(conn)

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._engine.dispose()
