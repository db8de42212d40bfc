"""The exception a span recorded: its ``exception`` event, else its status message.

OpenTelemetry (and so Spanscope and MLflow) records an exception as a span event named
``exception`` with ``exception.type``, ``exception.message`` and ``exception.stacktrace``;
some instrumentations only set the status description (``"KeyError: 'x'"``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from spanscope.entities import Span, SpanStatusCode

__all__ = ["ExceptionInfo", "exception_info"]

_TYPED_MESSAGE = re.compile(r"^([A-Za-z_][\w.]*(?:Error|Exception|Exit|Interrupt|Warning|"
                            r"Timeout|Fault|Failure))(?::\s*(.*))?$", re.DOTALL)


@dataclass(frozen=True)
class ExceptionInfo:
    type: str | None
    message: str | None
    stacktrace: str | None = None

    @property
    def short_type(self) -> str | None:
        """``OrderNotFoundError`` for ``spanscope.demo.tools.OrderNotFoundError``."""
        return None if self.type is None else self.type.rsplit(".", 1)[-1]

    @property
    def label(self) -> str:
        """``Type: message`` (or whichever of the two is known)."""
        parts = [p for p in (self.short_type, self.message) if p]
        return ": ".join(parts) if parts else "an error"

    def brief(self, limit: int = 160) -> str:
        """The label on one line, cut to ``limit``, without a closing period (for prose)."""
        text = " ".join(self.label.split()).rstrip(".")
        return text if len(text) <= limit else text[: limit - 1] + "…"

    def same_as(self, other: ExceptionInfo) -> bool:
        """Whether both record one exception on its way up (same type and message)."""
        if self.short_type and other.short_type and self.short_type != other.short_type:
            return False
        if self.message and other.message:
            return (self.message == other.message or self.message in other.message
                    or other.message in self.message)
        return bool(self.short_type and self.short_type == other.short_type)

    def caused_by(self, other: ExceptionInfo) -> bool:
        """Whether this exception's traceback shows ``other`` as its cause (``raise from``)."""
        if not self.stacktrace or not other.short_type:
            return False
        return other.short_type in self.stacktrace and (
            not other.message or other.message in self.stacktrace)


def exception_info(span: Span) -> ExceptionInfo | None:
    """The span's last recorded exception, None when it recorded none."""
    for event in reversed(span.events):
        if event.name == "exception":
            attrs = event.attributes
            return ExceptionInfo(_text(attrs.get("exception.type")),
                                 _text(attrs.get("exception.message")),
                                 _text(attrs.get("exception.stacktrace")))
    description = span.status.description.strip()
    if span.status.status_code != SpanStatusCode.ERROR or not description:
        return None
    match = _TYPED_MESSAGE.match(description)
    if match:
        return ExceptionInfo(match.group(1), (match.group(2) or "").strip() or None)
    return ExceptionInfo(None, description)


def _text(value: object) -> str | None:
    return None if value is None or value == "" else str(value)
