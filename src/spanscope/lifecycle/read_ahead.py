"""An iterator run by a thread of its own, a few items ahead of its consumer.

An export reads pages from the store and writes them to a file. Both halves spend most of
their time where the GIL is released (the database's own work: sqlite3 and psycopg let go
of it while a statement runs; pyarrow's Parquet encoding and compression), so reading the
next page while the last one is written uses a second core. ``depth`` bounds what waits
between them, so memory stays that of a few pages. An import reads its next batch of
traces the same way while the store writes the last one.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from typing import Generic, TypeVar

__all__ = ["read_ahead"]

T = TypeVar("T")
_POLL_S = 0.1  # how often a blocked producer looks whether its consumer has gone


class _End(Generic[T]):
    """What the producer sends last: nothing more, or the error that ended it."""

    def __init__(self, error: BaseException | None) -> None:
        self.error = error


def read_ahead(items: Iterator[T], *, depth: int = 2,
               name: str = "spanscope-read-ahead") -> Iterator[T]:
    """The items of ``items`` in order, produced by a thread up to ``depth`` ahead.

    The thread starts with the first ``next``. An error of ``items`` is raised here, in
    the consumer, when its turn comes. A consumer that stops early (an error of its own,
    ``close``) stops the producer: ``items`` is then closed in the producer's thread,
    where it ran.
    """
    handoff: queue.Queue[T | _End[T]] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def send(value: T | _End[T]) -> bool:
        while not stop.is_set():
            try:
                handoff.put(value, timeout=_POLL_S)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in items:
                if not send(item):
                    return
            send(_End(None))
        except BaseException as exc:  # handed to the consumer, which raises it
            send(_End(exc))
        finally:
            close = getattr(items, "close", None)
            if close is not None:
                close()

    thread = threading.Thread(target=produce, name=name, daemon=True)
    thread.start()
    try:
        while True:
            value = handoff.get()
            if isinstance(value, _End):
                if value.error is not None:
                    raise value.error
                return
            yield value
    finally:
        stop.set()
        thread.join()
