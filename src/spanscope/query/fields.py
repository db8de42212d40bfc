"""Identifier resolution: ``tag.env``, ``trace.timestamp`` ... to canonical field nodes.

Prefixes and attribute names match in any letter case; keys (tag keys, metadata keys,
span attribute keys, JSON path segments, assessment names) are taken exactly. A key may
be split by dots or quoted: ``tags.mlflow.traceName`` and ``tags.`mlflow.traceName` `` are
the same tag.
"""

from __future__ import annotations

import re

from spanscope.query.ast import (
    AssessmentValue,
    Attribute,
    AttributeName,
    Field,
    Metadata,
    RootPayload,
    SpanAttribute,
    SpanProperty,
    SpanPropertyName,
    Tag,
    TextContent,
)
from spanscope.query.errors import did_you_mean, filter_error
from spanscope.query.lexer import Segment, Token

__all__ = ["ATTRIBUTE_ALIASES", "IDENTIFIER_HELP", "resolve_identifier"]

ATTRIBUTE_ALIASES: dict[str, AttributeName] = {
    "trace_id": AttributeName.TRACE_ID,
    "request_id": AttributeName.TRACE_ID,
    "state": AttributeName.STATE,
    "status": AttributeName.STATE,
    "timestamp_ms": AttributeName.REQUEST_TIME,
    "timestamp": AttributeName.REQUEST_TIME,
    "request_time": AttributeName.REQUEST_TIME,
    "execution_time_ms": AttributeName.EXECUTION_DURATION,
    "execution_time": AttributeName.EXECUTION_DURATION,
    "execution_duration": AttributeName.EXECUTION_DURATION,
    "execution_duration_ms": AttributeName.EXECUTION_DURATION,
    "name": AttributeName.NAME,
    "client_request_id": AttributeName.CLIENT_REQUEST_ID,
    "session_id": AttributeName.SESSION_ID,
    "user_id": AttributeName.USER_ID,
}

SPAN_PROPERTY_ALIASES: dict[str, SpanPropertyName] = {
    "name": SpanPropertyName.NAME,
    "type": SpanPropertyName.TYPE,
    "span_type": SpanPropertyName.TYPE,
    "status": SpanPropertyName.STATUS,
    "duration_ms": SpanPropertyName.DURATION_MS,
}

TRACE_ID_TAG = "mlflow.traceId"  # MLflow's spelling of "the trace id" as a tag

IDENTIFIER_HELP = (
    "identifiers are attributes.NAME (also attribute., trace.), tags.KEY, metadata.KEY, "
    "span.name|type|status|duration_ms|attributes.KEY, inputs.PATH, outputs.PATH, request, "
    "response, text (also span.content), assessments.NAME.value, feedback.NAME, "
    "expectation.NAME"
)

_ATTRIBUTE_PREFIXES = {"attributes", "attribute", "trace"}
_TAG_PREFIXES = {"tags", "tag"}
_METADATA_PREFIXES = {"metadata", "request_metadata"}
_ASSESSMENT_PREFIXES = {"assessments", "assessment"}
_EXPECTATION_PREFIXES = {"expectation", "expectations"}
_INDEX = re.compile(r"[0-9]+")
_PREFIXES = (*_ATTRIBUTE_PREFIXES, *_TAG_PREFIXES, *_METADATA_PREFIXES, *_ASSESSMENT_PREFIXES,
             *_EXPECTATION_PREFIXES, "span", "inputs", "outputs", "feedback")


def _attribute_names() -> str:
    return ", ".join(sorted(ATTRIBUTE_ALIASES))


class _Resolver:
    def __init__(self, text: str, token: Token, what: str) -> None:
        self.text = text
        self.token = token
        self.what = what
        self.written = token.text

    def fail(self, detail: str, position: int | None = None) -> Exception:
        return filter_error(self.text, self.token.position if position is None else position,
                            detail, token=self.written, what=self.what)

    def key(self, segments: tuple[Segment, ...], what: str) -> str:
        """The rest of the identifier as one key: segments joined by dots."""
        if not segments:
            raise self.fail(f"'{self.written}' needs a {what}: {self.written}.KEY")
        key = ".".join(s.text for s in segments)
        if not all(s.text for s in segments):
            raise self.fail(f"'{self.written}' has an empty {what}")
        return key

    def resolve(self) -> Field:
        segments = self.token.segments
        head = segments[0].text.lower()
        rest = segments[1:]
        if not rest:
            return self.bare(head)
        if head in _ATTRIBUTE_PREFIXES:
            return self.attribute(rest)
        if head in _TAG_PREFIXES:
            key = self.key(rest, "tag key")
            return Attribute(AttributeName.TRACE_ID) if key == TRACE_ID_TAG else Tag(key)
        if head in _METADATA_PREFIXES:
            return Metadata(self.key(rest, "metadata key"))
        if head == "span":
            return self.span(rest)
        if head in ("inputs", "outputs"):
            side = "inputs" if head == "inputs" else "outputs"
            self.key(rest, "JSON key")  # validates: no empty segment
            path = tuple(int(s.text) if not s.quoted and _INDEX.fullmatch(s.text) else s.text
                         for s in rest)
            return RootPayload(side, path)
        if head in _ASSESSMENT_PREFIXES:
            if len(rest) < 2 or rest[-1].quoted or rest[-1].text.lower() != "value":
                raise self.fail(f"'{self.written}' should be written assessments.NAME.value")
            return AssessmentValue(self.key(rest[:-1], "assessment name"))
        if head == "feedback":
            return AssessmentValue(self.key(rest, "assessment name"), "feedback")
        if head in _EXPECTATION_PREFIXES:
            return AssessmentValue(self.key(rest, "assessment name"), "expectation")
        raise self.fail(f"unknown identifier '{self.written}'; {self.suggest(head, rest)}"
                        f"{IDENTIFIER_HELP}")

    def suggest(self, head: str, rest: tuple[Segment, ...]) -> str:
        """``did you mean 'attributes.status'? `` for a mistyped prefix (and attribute)."""
        hint = did_you_mean(head, _PREFIXES)
        if not hint:
            return ""
        prefix = hint.split("'")[1]
        tail = ".".join(s.text for s in rest)
        if prefix in _ATTRIBUTE_PREFIXES and tail.lower() not in ATTRIBUTE_ALIASES:
            tail = (did_you_mean(tail.lower(), ATTRIBUTE_ALIASES).split("'")[1:2] or [tail])[0]
        return f"did you mean '{prefix}.{tail}'? "

    def bare(self, head: str) -> Field:
        """A one-segment identifier: ``request``, ``response`` or an attribute (MLflow)."""
        if head == "request":
            return RootPayload("inputs")
        if head == "response":
            return RootPayload("outputs")
        if head == "text":
            return TextContent()
        if head in ATTRIBUTE_ALIASES:
            return Attribute(ATTRIBUTE_ALIASES[head])
        if head in _TAG_PREFIXES | _METADATA_PREFIXES | _ASSESSMENT_PREFIXES | {
                "span", "inputs", "outputs", "feedback", *_EXPECTATION_PREFIXES}:
            raise self.fail(f"'{self.written}' needs a key, e.g. {head}.KEY")
        hint = did_you_mean(head, (*ATTRIBUTE_ALIASES, "request", "response", "text"))
        raise self.fail(f"unknown identifier '{self.written}'; {hint + ' ' if hint else ''}"
                        f"{IDENTIFIER_HELP}")

    def attribute(self, rest: tuple[Segment, ...]) -> Field:
        name = ".".join(s.text for s in rest).lower()
        if name == "text" and len(rest) == 1:  # trace.text: the trace's whole text
            return TextContent()
        if len(rest) != 1 or name not in ATTRIBUTE_ALIASES:
            hint = did_you_mean(name, ATTRIBUTE_ALIASES).replace(
                "'", f"'{self.token.segments[0].text}.", 1)
            raise self.fail(f"unknown attribute '{self.written}'; {hint + ' ' if hint else ''}"
                            f"attributes are {_attribute_names()}", rest[0].position)
        return Attribute(ATTRIBUTE_ALIASES[name])

    def span(self, rest: tuple[Segment, ...]) -> Field:
        name = rest[0].text.lower()
        if name == "attributes" and not rest[0].quoted:
            return SpanAttribute(self.key(rest[1:], "span attribute key"))
        if len(rest) == 1 and name in SPAN_PROPERTY_ALIASES:
            return SpanProperty(SPAN_PROPERTY_ALIASES[name])
        if len(rest) == 1 and name == "content":  # MLflow's UI search box: all spans' text
            return TextContent()
        hint = did_you_mean(name, (*SPAN_PROPERTY_ALIASES, "attributes", "content"))
        hint = hint.replace("'", "'span.", 1) + " " if hint else ""
        raise self.fail(f"unknown span field '{self.written}'; {hint}span fields are span.name, "
                        "span.type, span.status, span.duration_ms, span.attributes.KEY, "
                        "span.content",
                        rest[0].position)


def resolve_identifier(text: str, token: Token, *, what: str = "filter") -> Field:
    """The field an identifier token names; ``FilterError`` naming it if there is none."""
    return _Resolver(text, token, what).resolve()
