"""``read_ahead``: a thread produces the items, in order; errors and early stops cross over."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from spanscope.lifecycle.read_ahead import read_ahead


def test_items_come_in_order_from_another_thread() -> None:
    threads: list[str] = []

    def items() -> Iterator[int]:
        for i in range(50):
            threads.append(threading.current_thread().name)
            yield i

    assert list(read_ahead(items(), depth=3, name="producer")) == list(range(50))
    assert set(threads) == {"producer"}


def test_an_error_of_the_source_is_raised_in_the_consumer_in_its_turn() -> None:
    def items() -> Iterator[int]:
        yield 1
        yield 2
        raise ValueError("broken page")

    got = []
    with pytest.raises(ValueError, match="broken page"):
        for item in read_ahead(items()):
            got.append(item)
    assert got == [1, 2]


def test_a_consumer_that_stops_early_stops_and_closes_the_source() -> None:
    closed = threading.Event()
    produced = []

    def items() -> Iterator[int]:
        try:
            for i in range(10_000):
                produced.append(i)
                yield i
        finally:
            closed.set()

    ahead = read_ahead(items(), depth=2)
    assert next(ahead) == 0
    ahead.close()  # what an error of the writer does to the export's read
    assert closed.is_set()  # close joined the producer, which closed the source
    assert len(produced) < 10  # it stopped a few items ahead, not at the end
    assert not [t for t in threading.enumerate() if t.name == "spanscope-read-ahead"]


def test_nothing_starts_before_the_first_item_is_asked_for() -> None:
    started = threading.Event()

    def items() -> Iterator[int]:
        started.set()
        yield 1

    ahead = read_ahead(items())
    assert not started.is_set()
    assert list(ahead) == [1]
