"""The texts ``text CONTAINS`` searches (``query.text``): the fast reading ingest uses must
give exactly what decoding the attribute and ``text_of`` give."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from spanscope.entities import Span, SpanEvent, _codec
from spanscope.entities._codec import dumps, encode_json, is_canonical, loads_attribute
from spanscope.query.text import SpanText, attribute_text, span_texts, text_tuples
from spanscope.query.values import text_of
from spanscope.tracing.live_span import encode, encode_payload

_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=8)
# raw attribute text as it may arrive: our JSON, anyone's JSON, or no JSON at all
_RAW = (_JSON.map(dumps) | _JSON.map(lambda v: json.dumps(v, separators=(",", ":")))
        | st.text().map(json.dumps) | st.text().map(lambda t: f'"{t}"') | st.text())


@settings(max_examples=1500, deadline=None)
@given(_RAW)
def test_attribute_text_is_text_of_the_decoded_value(raw: str) -> None:
    assert attribute_text(raw) == text_of(loads_attribute(raw))


def test_attribute_text_of_strings_with_escapes_and_odd_characters() -> None:
    for text in ["Sure.", "", "a\"b", "back\\slash", "tab\there", "zero\u200bwidth", "caf\u00e9",
                 "\ud800", "\x7f", "\u2028"]:
        assert attribute_text(json.dumps(text)) == text
        assert attribute_text(dumps(text)) == text
    assert attribute_text('"a\x01b"') == '"a\x01b"'  # not JSON: read as the raw text
    assert attribute_text("null") is None
    assert attribute_text("true") == "true"
    assert attribute_text("1.50") == "1.5"


def test_span_texts_in_order_with_exception_messages() -> None:
    span = Span.build(trace_id="tr-1", span_id="a" * 16, parent_id=None, name="root",
                      start_time_ns=0, end_time_ns=1, inputs={"q": "refund?"}, outputs="Sure.",
                      events=[SpanEvent("note", 1), SpanEvent("exception", 2,
                                                              {"exception.message": "boom"})])
    assert list(span_texts(span)) == [SpanText("inputs", 0, '{"q": "refund?"}'),
                                      SpanText("outputs", 0, "Sure."),
                                      SpanText("exception", 1, "boom")]
    assert list(text_tuples(span)) == [(t.kind, t.seq, t.text) for t in span_texts(span)]


class _Key(str):
    """A str subclass: encoded as its text, but not a plain value."""


# what traced code may pass as inputs/outputs: plain JSON, keys JSON writes alike (1 and
# "1"), tuples, subclasses, lone surrogates, non-JSON parts
_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text()
    | st.text().map(_Key) | st.just(object()),
    lambda inner: (st.lists(inner, max_size=3) | st.lists(inner, max_size=3).map(tuple)
                   | st.dictionaries(st.text(max_size=2) | st.integers(0, 2).map(str), inner,
                                     max_size=3)
                   | st.dictionaries(st.integers(0, 2) | st.booleans() | st.none()
                                     | st.sampled_from(["0", "1", "true", "null"]), inner,
                                     max_size=3)),
    max_leaves=8)


@settings(max_examples=1500, deadline=None)
@given(_VALUES)
def test_registered_payload_json_is_its_own_text(value: object) -> None:
    raw = encode_payload(value)
    assert attribute_text(raw) == text_of(loads_attribute(raw))
    if is_canonical(raw):
        assert encode_json(json.loads(raw)) == raw


def test_only_plain_containers_are_registered() -> None:
    assert is_canonical(encode_payload({"q": ["refund?", 1, 2.5, True, None, {"a": "b"}]}))
    assert is_canonical(encode_payload(("a", "b")))
    assert is_canonical(encode_payload({_Key("k"): [_Key("v"), True]}))  # as plain str
    for value in [{1: "a", "1": "b"}, {1.5: 1, "1.5": 2}, {-1e20: 1}, {True: 1, "true": 2},
                  {None: 1}, {float("nan"): 1}, {float("-inf"): 1}, [{"x": {False: 0}}],
                  {"k": "\ud800"}, {"k": object()}, [{(1, 2): "tuple key"}]]:
        raw = encode_payload(value)
        assert not is_canonical(raw), value
        assert attribute_text(raw) == text_of(loads_attribute(raw))
    assert attribute_text(encode_payload({1: "a", "1": "b"})) == '{"1": "b"}'
    assert not is_canonical(encode({"via": "encode"}))  # attributes other than payloads


def test_registry_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_codec, "_CANONICAL_CHARS", 20)
    monkeypatch.setattr(_codec, "_canonical", {})
    first = encode_payload({"first": 1})
    assert is_canonical(first)
    second = encode_payload({"second": 2})  # past 20 characters: the first is forgotten
    assert is_canonical(second) and not is_canonical(first)
    assert attribute_text(first) == '{"first": 1}'
