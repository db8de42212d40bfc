"""``Span.to_json``: the span's JSON text; a stored span not yet decoded gives back the
text it was stored as, and once decoded (its dicts may have changed) encodes again."""

from __future__ import annotations

import json

from spanscope.entities import Span, SpanStatus, SpanStatusCode


def test_to_json_is_to_dict_as_text() -> None:
    span = Span.build(trace_id="tr-" + "a" * 32, span_id="b" * 16, parent_id=None, name="root",
                      start_time_ns=1, end_time_ns=5, span_type="AGENT", inputs={"q": "é"},
                      status=SpanStatus(SpanStatusCode.ERROR, "boom"))
    assert json.loads(span.to_json()) == span.to_dict()


def test_stored_span_copies_its_text_until_decoded() -> None:
    original = Span.build(trace_id="tr-" + "a" * 32, span_id="c" * 16, parent_id="b" * 16,
                          name="llm", start_time_ns=2, end_time_ns=4, outputs=[1, 2])
    content = json.dumps(original.to_dict(), indent=1)  # any spacing: it is copied as is
    stored = Span.from_stored(original.trace_id, original.span_id, original.parent_id,
                              original.name, 2, 4, content)
    assert stored.to_json() == content
    stored.raw_attributes["extra"] = '"added"'  # decodes, and the change must show
    assert json.loads(stored.to_json())["attributes"]["extra"] == '"added"'
