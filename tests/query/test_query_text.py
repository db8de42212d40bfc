"""The texts ``text CONTAINS`` searches (``query.text``): the fast reading ingest uses must
give exactly what decoding the attribute and ``text_of`` give."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from spanscope.entities import Span, SpanEvent
from spanscope.entities._codec import dumps, loads_attribute
from spanscope.query.text import SpanText, attribute_text, span_texts, text_tuples
from spanscope.query.values import text_of

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
