"""The texts of a trace that ``text`` (``span.content``) searches, defined once.

A span has up to three kinds of text: its inputs (``"inputs"``), its outputs
(``"outputs"``), each read as ``values.text_of`` reads them (so the root's are what
``request`` and ``response`` compare), and the message of each of its ``exception``
events (``"exception"``, numbered by the event's index in ``Span.events``). The reference
evaluator, the SQL store's text index and the highlights all read the texts here.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any

from spanscope.entities import Span, SpanAttributeKey
from spanscope.entities._codec import encode_json, is_canonical, loads_attribute
from spanscope.query.values import text_of

__all__ = ["EXCEPTION_EVENT", "EXCEPTION_MESSAGE", "SpanText", "attribute_text", "span_texts",
           "text_tuples"]

EXCEPTION_EVENT = "exception"
EXCEPTION_MESSAGE = "exception.message"


@dataclasses.dataclass(frozen=True)
class SpanText:
    """One text of a span: ``kind`` is inputs, outputs or exception; ``seq`` the event
    index of an exception message (0 otherwise)."""

    kind: str
    seq: int
    text: str


_PAYLOADS = (("inputs", SpanAttributeKey.INPUTS), ("outputs", SpanAttributeKey.OUTPUTS))


def span_texts(span: Span) -> Iterator[SpanText]:
    """The span's texts, inputs first, then outputs, then exception messages."""
    for kind, seq, text in text_tuples(span):
        yield SpanText(kind, seq, text)


def text_tuples(span: Span) -> Iterator[tuple[str, int, str]]:
    """``span_texts`` as ``(kind, seq, text)`` tuples: what ingest indexes, one call per
    span, so it reads the raw attribute JSON without building objects it drops again."""
    raw = span.raw_attributes
    for kind, key in _PAYLOADS:
        value = raw.get(key)
        if value is not None:
            text = attribute_text(value)
            if text is not None:
                yield kind, 0, text
    for seq, event in enumerate(span.events):
        if event.name == EXCEPTION_EVENT:
            text = text_of(event.attributes.get(EXCEPTION_MESSAGE))
            if text is not None:
                yield "exception", seq, text


def attribute_text(raw: Any) -> str | None:
    """``text_of`` the JSON-encoded attribute value ``raw`` (``Span.get_attribute``).

    A JSON string without escapes (``"Sure."``: what most string payloads are) is its own
    text between the quotes, so it needs no decoding: no quote or backslash inside, and
    only printable characters (no control character, which JSON forbids unescaped, and no
    lone surrogate), is exactly the text ``json.loads`` would return. A container's JSON
    that the SDK wrote and registered (``remember_canonical``) is its own text too.
    """
    if type(raw) is str and len(raw) >= 2 and raw[0] == '"' and raw[-1] == '"':
        inner = raw[1:-1]
        if '"' not in inner and "\\" not in inner and inner.isprintable():
            return inner
    elif type(raw) is str and is_canonical(raw):  # the SDK's JSON of a plain container
        return raw
    value = loads_attribute(raw)
    if type(value) is dict or type(value) is list:  # decoded JSON: the encoder cannot fail
        return encode_json(value)
    return text_of(value)
