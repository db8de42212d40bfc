"""Issue 11.2: one bad field never costs the whole trace; limits are the same everywhere.

Through the SDK (``update_current_trace``) and straight into the store (``log_traces``,
the path OTLP, the REST API and imports take), on SQLite and PostgreSQL: a tag key over
250 characters, a NUL (PostgreSQL text cannot hold one) in a tag, a metadata value or
the client request id, and a 100,000-character tag value are cut or cleaned, marked in
the tag ``spanscope.cleanedFields`` and counted in ``get_export_stats()``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import pytest

import spanscope
import spanscope.tracing as tracing
from factories import make_trace
from spanscope import tracking
from spanscope.entities import Trace, limits
from spanscope.exceptions import InvalidInputError

LONG_KEY = "k" * 300


def test_sdk_keeps_the_trace_and_every_valid_part(
        read_traces: Callable[[], list[Trace]], caplog: pytest.LogCaptureFixture) -> None:
    @spanscope.trace
    def handler() -> str:
        spanscope.update_current_trace(
            tags={LONG_KEY: "long key", "nul": "a\x00b", "big": "x" * 100_000, "ok": "fine"},
            metadata={"note": "m\x00", "plain": "kept"}, client_request_id="req\x00-1")
        return "done"

    with caplog.at_level(logging.WARNING, logger="spanscope"):
        assert handler() == "done"
        (trace,) = read_traces()
    info = trace.info
    assert info.tags["ok"] == "fine" and info.trace_metadata["plain"] == "kept"
    cut_key = next(k for k in info.tags if k.startswith("kkk"))
    assert len(cut_key) <= limits.TAG_KEY_LENGTH and cut_key.endswith("chars]")
    assert info.tags["nul"] == "a\ufffdb"
    assert len(info.tags["big"]) <= limits.TAG_VALUE_LENGTH
    assert info.tags["big"].endswith(limits.cut_marker(100_000 - info.tags["big"].index(".")))
    assert info.trace_metadata["note"] == "m\ufffd"
    assert info.client_request_id == "req\ufffd-1"
    assert info.tags[limits.CLEANED_FIELDS_TAG].count(";") == 4  # five fields listed
    stats = tracing.get_export_stats()
    assert stats["cleaned_fields"] == 5 and stats["dropped"] == 0
    assert caplog.text.count("cut or cleaned") == 1
    assert "Traceback" not in caplog.text


def test_update_current_trace_applies_its_valid_arguments(read_traces) -> None:
    @spanscope.trace
    def handler() -> None:
        spanscope.update_current_trace(tags="notadict", user_id="u",  # type: ignore[arg-type]
                                       metadata=["not", "a", "dict"], session_id="s")

    handler()
    (trace,) = read_traces()
    assert trace.info.user_id == "u" and trace.info.session_id == "s"


def test_store_keeps_a_trace_with_bad_fields(store_uri: str) -> None:
    store = tracking.get_store(store_uri)
    trace = make_trace(3, tags={LONG_KEY: "v", "t": "a\x00"})
    trace.info.trace_metadata["m"] = "x\x00y"
    trace.info.client_request_id = "c\x00"
    store.log_traces([trace])
    got = store.get_trace(trace.info.trace_id)
    assert len(got.data.spans) == 3
    assert got.info.tags["t"] == "a\ufffd" and got.info.trace_metadata["m"] == "x\ufffdy"
    assert got.info.client_request_id == "c\ufffd"
    assert any(key.startswith("kkk") and len(key) <= limits.TAG_KEY_LENGTH
               for key in got.info.tags)
    assert "tag key" in got.info.tags[limits.CLEANED_FIELDS_TAG]


def test_one_tag_value_limit_on_every_path(traced_uri: str, read_traces) -> None:
    """8,000 characters: set_trace_tag refuses more (an explicit call gets an error), the
    live paths cut to it (the app's trace must not be lost)."""
    from spanscope.store import mutations

    assert mutations.TAG_VALUE_LENGTH == limits.TAG_VALUE_LENGTH
    assert mutations.TAG_KEY_LENGTH == limits.TAG_KEY_LENGTH

    @spanscope.trace
    def handler() -> None:
        spanscope.update_current_trace(tags={"v": "y" * 100_000})

    handler()
    (trace,) = read_traces()
    assert limits.TAG_VALUE_LENGTH - 10 < len(trace.info.tags["v"]) <= limits.TAG_VALUE_LENGTH
    store = tracking.get_store(traced_uri)
    with pytest.raises(InvalidInputError, match="8000"):
        store.set_trace_tag(trace.info.trace_id, "w", "z" * (limits.TAG_VALUE_LENGTH + 1))
    store.set_trace_tag(trace.info.trace_id, "w", "z" * limits.TAG_VALUE_LENGTH)


def test_clean_trace_leaves_a_good_trace_untouched() -> None:
    trace = make_trace(3, tags={"env": "prod"})
    cleaned, fixes = limits.clean_trace(trace)
    assert cleaned is trace and fixes == []
