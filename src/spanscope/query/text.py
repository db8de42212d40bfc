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

from spanscope.entities import Span
from spanscope.query.values import text_of

__all__ = ["EXCEPTION_EVENT", "EXCEPTION_MESSAGE", "SpanText", "span_texts"]

EXCEPTION_EVENT = "exception"
EXCEPTION_MESSAGE = "exception.message"


@dataclasses.dataclass(frozen=True)
class SpanText:
    """One text of a span: ``kind`` is inputs, outputs or exception; ``seq`` the event
    index of an exception message (0 otherwise)."""

    kind: str
    seq: int
    text: str


def span_texts(span: Span) -> Iterator[SpanText]:
    """The span's texts, inputs first, then outputs, then exception messages."""
    for kind, value in (("inputs", span.inputs), ("outputs", span.outputs)):
        text = text_of(value)
        if text is not None:
            yield SpanText(kind, 0, text)
    for seq, event in enumerate(span.events):
        if event.name == EXCEPTION_EVENT:
            text = text_of(event.attributes.get(EXCEPTION_MESSAGE))
            if text is not None:
                yield SpanText("exception", seq, text)
