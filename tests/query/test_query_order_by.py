"""order_by items: keys, aliases, directions, errors, and the reference sort order."""

from __future__ import annotations

import pytest

from spanscope.entities import Trace, TraceInfo
from spanscope.exceptions import FilterError
from spanscope.query import (
    Attribute,
    AttributeName,
    Metadata,
    OrderKey,
    Tag,
    caret_view,
    parse_order_by,
    sort_traces,
)

A = AttributeName


@pytest.mark.parametrize(("item", "key"), [
    ("timestamp", OrderKey(Attribute(A.REQUEST_TIME), True)),
    ("timestamp_ms DESC", OrderKey(Attribute(A.REQUEST_TIME), False)),
    ("attributes.request_time asc", OrderKey(Attribute(A.REQUEST_TIME), True)),
    ("trace.timestamp Desc", OrderKey(Attribute(A.REQUEST_TIME), False)),
    ("execution_time DESC", OrderKey(Attribute(A.EXECUTION_DURATION), False)),
    ("attributes.execution_time_ms", OrderKey(Attribute(A.EXECUTION_DURATION), True)),
    ("name", OrderKey(Attribute(A.NAME), True)),
    ("status", OrderKey(Attribute(A.STATE), True)),
    ("attributes.state DESC", OrderKey(Attribute(A.STATE), False)),
    ("client_request_id", OrderKey(Attribute(A.CLIENT_REQUEST_ID), True)),
    ("request_id", OrderKey(Attribute(A.TRACE_ID), True)),
    ("attributes.trace_id DESC", OrderKey(Attribute(A.TRACE_ID), False)),
    ("tags.priority DESC", OrderKey(Tag("priority"), False)),
    ("tag.`a.b`", OrderKey(Tag("a.b"), True)),
    ("metadata.`mlflow.trace.user`", OrderKey(Metadata("mlflow.trace.user"), True)),
    ("  request_metadata.team   ASC  ", OrderKey(Metadata("team"), True)),
])
def test_items(item: str, key: OrderKey) -> None:
    (parsed,) = parse_order_by([item])
    assert parsed == key
    assert parsed.written == item.strip()


def test_lists_none_and_a_single_string() -> None:
    assert parse_order_by(None) == [] and parse_order_by([]) == []
    assert parse_order_by("timestamp DESC") == parse_order_by(["timestamp DESC"])
    assert [k.field for k in parse_order_by(["tags.a", "execution_time DESC"])] == [
        Tag("a"), Attribute(A.EXECUTION_DURATION)]


@pytest.mark.parametrize(("item", "position", "fragment"), [
    ("", 0, "expected a key such as timestamp or tags.KEY, found an empty item"),
    ("DESC", 0, "expected a key such as timestamp or tags.KEY, found 'DESC'"),
    ("timestamp DOWN", 10, "expected ASC, DESC or the end of the item, found identifier"),
    ("timestamp DESC ASC", 15, "expected ASC, DESC or the end of the item"),
    ("feedback.correct", 0, "cannot order by feedback.correct"),
    ("span.name", 0, "cannot order by span.name"),
    ("request", 0, "cannot order by request"),
    ("attributes.colour", 11, "unknown attribute 'attributes.colour'"),
    ("timestamp; DROP TABLE traces", 9, "unexpected character ';'"),
])
def test_bad_items(item: str, position: int, fragment: str) -> None:
    with pytest.raises(FilterError) as info:
        parse_order_by([item])
    err = info.value
    assert fragment in str(err) and err.position == position
    assert str(err).startswith(f'Invalid order_by item "{item}" at position {position}: ')
    assert caret_view(err).splitlines()[0] == item


def test_non_string_items() -> None:
    with pytest.raises(FilterError, match="order_by items must be strings, got int"):
        parse_order_by([1])  # type: ignore[list-item]


def _t(trace_id: str, request_time: int, duration: int | None = None,
       tags: dict[str, str] | None = None) -> Trace:
    return Trace(TraceInfo(trace_id=trace_id, request_time=request_time,
                           execution_duration=duration, tags=tags or {}))


def _ids(traces: list[Trace]) -> list[str]:
    return [t.info.trace_id for t in traces]


def test_default_order_is_newest_first_then_trace_id() -> None:
    traces = [_t("tr-b", 1), _t("tr-a", 1), _t("tr-c", 2)]
    assert _ids(sort_traces(traces)) == ["tr-c", "tr-a", "tr-b"]


def test_keys_then_tie_breakers_and_missing_values_last_both_ways() -> None:
    traces = [_t("tr-1", 10, 5), _t("tr-2", 20, None), _t("tr-3", 30, 5), _t("tr-4", 40, 9)]
    asc = sort_traces(traces, parse_order_by(["execution_time ASC"]))
    assert _ids(asc) == ["tr-3", "tr-1", "tr-4", "tr-2"]  # ties: newest first
    desc = sort_traces(traces, parse_order_by(["execution_time DESC"]))
    assert _ids(desc) == ["tr-4", "tr-3", "tr-1", "tr-2"]
    oldest = sort_traces(traces, parse_order_by(["timestamp ASC"]))
    assert _ids(oldest) == ["tr-1", "tr-2", "tr-3", "tr-4"]


def test_tags_sort_as_text_with_missing_last() -> None:
    traces = [_t("tr-1", 1, tags={"p": "10"}), _t("tr-2", 2, tags={"p": "9"}), _t("tr-3", 3),
              _t("tr-4", 4, tags={"p": "b"})]
    assert _ids(sort_traces(traces, parse_order_by(["tags.p"]))) == [
        "tr-1", "tr-2", "tr-4", "tr-3"]
    assert _ids(sort_traces(traces, parse_order_by(["tags.p DESC", "timestamp"]))) == [
        "tr-4", "tr-2", "tr-1", "tr-3"]
