"""A mistyped name in a filter gets the closest right one in its error."""

from __future__ import annotations

import pytest

from spanscope.exceptions import FilterError
from spanscope.query import parse_filter


@pytest.mark.parametrize(("text", "hint"), [
    ("atributes.status = 'OK'", "did you mean 'attributes.status'?"),
    ("atributes.stats = 'OK'", "did you mean 'attributes.status'?"),
    ("attributes.stat = 'OK'", "did you mean 'attributes.state'?"),
    ("trace.timestmp > 5", "did you mean 'trace.timestamp'?"),
    ("span.typ = 'TOOL'", "did you mean 'span.type'?"),
    ("feedbak.correct = true", "did you mean 'feedback.correct'?"),
    ("statu = 'OK'", "did you mean 'status'?"),
    ("tags.env = 'a' ANDD tags.x = 'b'", "did you mean 'AND'?"),
    ("attributes.status = ERROR", "text values are quoted: 'ERROR'"),
    ("tag.env = prod", "text values are quoted: 'prod'"),
])
def test_the_error_suggests_the_right_name(text: str, hint: str) -> None:
    with pytest.raises(FilterError) as caught:
        parse_filter(text)
    assert hint in str(caught.value)


def test_nothing_is_suggested_when_nothing_is_close() -> None:
    with pytest.raises(FilterError) as caught:
        parse_filter("zzzz.qqq = 'x'")
    assert "did you mean" not in str(caught.value)
