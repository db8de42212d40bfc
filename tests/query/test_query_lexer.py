"""The tokenizer: strings and escapes, numbers, quoted identifier segments, positions."""

from __future__ import annotations

import pytest

from spanscope.exceptions import FilterError
from spanscope.query.lexer import Segment, TokenKind, tokenize


def _values(text: str) -> list[object]:
    return [t.value for t in tokenize(text)[:-1]]


@pytest.mark.parametrize(("literal", "value"), [
    ("'plain'", "plain"),
    ('"double"', "double"),
    ("'it''s'", "it's"),
    ('"say ""hi"""', 'say "hi"'),
    (r"'it\'s'", "it's"),
    (r'"a\"b"', 'a"b'),
    (r"'back\\slash'", "back\\slash"),
    (r"'line\nbreak\ttab'", "line\nbreak\ttab"),
    (r"'\d+\.\d'", r"\d+\.\d"),     # unknown escapes keep the backslash: regexes survive
    (r"'50\%'", r"50\%"),           # ... and so do LIKE escapes
    ("'é ünïcode 中文'", "é ünïcode 中文"),
    ("''", ""),
    ("'; DROP TABLE traces; --'", "; DROP TABLE traces; --"),
])
def test_string_literals(literal: str, value: str) -> None:
    (token, end) = tokenize(literal)
    assert token.kind is TokenKind.STRING and token.value == value
    assert token.text == literal and end.kind is TokenKind.END


@pytest.mark.parametrize(("literal", "value"), [
    ("0", 0), ("42", 42), ("-7", -7), ("+3", 3), ("0.5", 0.5), (".5", 0.5), ("-2.5", -2.5),
    ("1e3", 1000.0), ("1.5E-2", 0.015), ("-1e+2", -100.0), ("5.", 5.0),
])
def test_numbers(literal: str, value: float) -> None:
    (token, _) = tokenize(literal)
    assert token.kind is TokenKind.NUMBER and token.value == value
    assert type(token.value) is type(value)


@pytest.mark.parametrize(("text", "position", "fragment"), [
    ("12abc", 0, "malformed number"),
    ("1.2.3", 0, "malformed number"),
    ("99999999999999999999", 0, "out of range"),
    ("1e999", 0, "out of range"),
    ("'open", 0, "unterminated string"),
    ("x = 'a\\'", 4, "unterminated string"),
    ("tags.`open", 5, "unterminated quoted name"),
    ("tags.", 5, "expected a name after 'tags.'"),
    ("a ; b", 2, "unexpected character ';'"),
    ("a /* b", 2, "unexpected character '/'"),
    ("!", 0, "unexpected character '!'"),
])
def test_lexical_errors_point_at_the_token(text: str, position: int, fragment: str) -> None:
    with pytest.raises(FilterError) as info:
        tokenize(text)
    assert info.value.position == position
    assert fragment in str(info.value)


def test_identifier_segments_keep_quotes_and_positions() -> None:
    (token, _) = tokenize('tags.`mlflow.traceId`')
    assert token.kind is TokenKind.IDENT
    assert token.segments == (Segment("tags", False, 0), Segment("mlflow.traceId", True, 5))
    (token, _) = tokenize('tags."a.b"')
    assert token.segments[1] == Segment("a.b", True, 5)
    (token, _) = tokenize("metadata.`odd``key`")
    assert token.segments[1].text == "odd`key"
    (token, _) = tokenize("inputs.messages.0.content")
    assert [s.text for s in token.segments] == ["inputs", "messages", "0", "content"]
    (token, _) = tokenize("tags.my-key")
    assert token.segments[1].text == "my-key"


def test_keywords_any_case_but_not_inside_dotted_names() -> None:
    kinds = [(t.kind, t.value) for t in tokenize("and Or nOt tags.and IS null")[:-1]]
    assert kinds == [(TokenKind.KEYWORD, "AND"), (TokenKind.KEYWORD, "OR"),
                     (TokenKind.KEYWORD, "NOT"), (TokenKind.IDENT, "tags.and"),
                     (TokenKind.KEYWORD, "IS"), (TokenKind.KEYWORD, "NULL")]


def test_operators_and_positions() -> None:
    tokens = tokenize("a=1 AND b<>2 AND c==3 AND d<=4 AND e>=5 AND f!=6")
    ops = [(t.value, t.position) for t in tokens if t.kind is TokenKind.OPERATOR]
    assert ops == [("=", 1), ("!=", 9), ("=", 18), ("<=", 27), (">=", 36), ("!=", 45)]
    assert tokens[-1].kind is TokenKind.END and tokens[-1].position == 48


def test_no_spaces_needed() -> None:
    assert _values("tags.env='prod'AND(x.y>-1)") == [
        "tags.env", "=", "prod", "AND", None, "x.y", ">", -1, None]
