"""Issue 11.1: no SDK call raises into the app, whatever the value; the trace is kept.

A value whose ``__repr__`` (or ``__str__``, ``__iter__``...) raises is stored as an
explicit ``<unserialisable TYPE: ERROR>`` marker, counted as ``unserialisable_values`` in
``get_export_stats()`` and logged once per type. Run on SQLite and PostgreSQL.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable

import pytest

import spanscope
import spanscope.tracing as tracing
from spanscope.entities import Trace


class BadRepr:
    def __repr__(self) -> str:
        raise RuntimeError("repr is broken")

    __str__ = __repr__


class BadIter(list):
    def __iter__(self):  # type: ignore[override]
        raise RuntimeError("iter is broken")

    def __repr__(self) -> str:
        raise RuntimeError("repr is broken too")


class BadEq:
    def __eq__(self, other: object) -> bool:
        raise RuntimeError("eq is broken")

    __hash__ = object.__hash__

    def __repr__(self) -> str:
        raise RuntimeError("repr is broken")


MARKER = "<unserialisable BadRepr: RuntimeError: repr is broken>"


def test_live_span_writers_never_raise_and_keep_the_trace(
        read_traces: Callable[[], list[Trace]], caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="spanscope"), \
            spanscope.start_span("work") as span:
            span.set_inputs(BadRepr())
            span.set_outputs({"answer": BadRepr(), "fine": 1})
            span.set_attribute("bad", BadRepr())
            span.set_attribute(BadRepr(), "bad key")
            span.set_attributes({"list": BadIter([1])})
            span.add_event("step", {"value": BadRepr()})
            span.add_event(BadRepr(), "not a dict")
            span.set_span_type(BadRepr())
            span.set_status("WHATEVER")
            span.record_exception(BadRepr())  # type: ignore[arg-type]
    (trace,) = read_traces()
    root = trace.data.spans[0]
    assert root.inputs == MARKER
    assert root.outputs == {"answer": MARKER, "fine": 1}
    assert root.attributes["bad"] == MARKER
    assert "<unserialisable BadRepr: RuntimeError: repr is broken>" in root.attributes
    assert root.attributes["list"].startswith("<unserialisable BadIter")
    assert json.loads(root.events[0].attributes["value"]) == MARKER  # events keep JSON text
    assert root.span_type == "<unserialisable BadRepr: RuntimeError: repr is broken>"
    stats = tracing.get_export_stats()
    assert stats["unserialisable_values"] >= 6 and stats["dropped"] == 0
    # one line per type of bad value, and one for the unknown status
    assert caplog.text.count("stored a BadRepr value as a marker") == 1
    assert caplog.text.count("stored parts of a dict value as markers") == 1
    assert caplog.text.count("not a status") == 1


def test_set_status_with_an_unknown_value_is_ignored(read_traces) -> None:
    with spanscope.start_span("work") as span:
        span.set_status("ERROR", "first")
        span.set_status("WHATEVER")
        span.set_status(42)  # type: ignore[arg-type]
    (trace,) = read_traces()
    assert trace.data.spans[0].status.status_code == "ERROR"
    assert str(trace.info.state) == "ERROR"


def test_trace_decorator_records_a_hostile_value_instead_of_dropping_the_span(
        read_traces) -> None:
    @spanscope.trace(attributes={"config": BadRepr()}, span_type=BadRepr())  # type: ignore
    def handler(request: object, flag: object) -> object:
        return BadEq()

    result = handler(BadRepr(), BadEq())
    assert isinstance(result, BadEq)
    (trace,) = read_traces()
    root = trace.data.spans[0]
    assert root.name == "handler"
    assert root.attributes["config"] == MARKER
    assert root.inputs == {"request": MARKER,
                           "flag": "<unserialisable BadEq: RuntimeError: repr is broken>"}
    assert root.outputs == "<unserialisable BadEq: RuntimeError: repr is broken>"


def test_start_span_attributes_with_hostile_values_keep_the_span(read_traces) -> None:
    with spanscope.start_span("outer", attributes={"x": BadRepr(), BadRepr(): 2}) as span:
        assert span.trace_id is not None  # a LiveSpan, not the no-op span
        with spanscope.start_span(BadRepr(), span_type=BadEq()):  # type: ignore[arg-type]
            pass
    (trace,) = read_traces()
    assert len(trace.data.spans) == 2
    assert trace.data.spans[0].attributes["x"] == MARKER


def test_invalid_unicode_is_stored_as_valid_text(read_traces) -> None:
    @spanscope.trace
    def echo(text: str) -> str:
        spanscope.update_current_trace(tags={"t\ud800": "v\udfff"})
        return text

    assert echo("lone \ud800 surrogate") == "lone \ud800 surrogate"
    (trace,) = read_traces()
    assert trace.data.spans[0].inputs == {"text": "lone \ud800 surrogate"}  # escaped JSON
    assert trace.info.tags["t\ufffd"] == "v\ufffd"
