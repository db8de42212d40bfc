"""PII redaction and payload truncation, applied by the server before anything is stored.

``Redactor`` runs in the ingest writer thread over every trace the server writes (OTLP
and REST). It replaces e-mail addresses, phone numbers, payment card numbers (checked
with the Luhn sum, so ordinary long numbers survive) and any custom regular expression
with a marker such as ``[REDACTED:email]``, in span inputs, outputs and every other
attribute, span event attributes, the trace's previews, metadata and tags. Attribute
values are JSON text; the patterns never match a quote or a backslash, so replacing
inside the JSON keeps it valid without decoding it.

Span attribute values longer than ``max_value_chars`` are cut, never silently: the value
becomes a JSON string ending in ``[spanscope: truncated, N characters in total]`` and
the span lists the cut keys in its ``spanscope.truncated`` attribute.

Custom patterns come from a TOML or JSON file with a ``patterns`` table of name to
regular expression::

    [patterns]
    employee_id = 'EMP-\\d{6}'
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from spanscope.entities import Span, SpanEvent, Trace, TraceData
from spanscope.exceptions import InvalidInputError

__all__ = ["DEFAULT_MAX_VALUE_CHARS", "KINDS", "TRUNCATED_KEY", "Redactor"]

DEFAULT_MAX_VALUE_CHARS = 1_000_000
TRUNCATED_KEY = "spanscope.truncated"

_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
_PHONE = re.compile(r"(?<![\w+])(?:\+\d{1,3}[ .-]?(?:\(\d{1,4}\)[ .-]?)?\d{2,4}"
                    r"(?:[ .-]?\d{2,4}){1,3}"
                    r"|\(\d{3}\)[ .-]?\d{3}[ .-]\d{4}|\d{3}[.-]\d{3}[.-]\d{4})(?!\w)")
_CARD = re.compile(r"(?<!\d)(?:\d[ -]?){12,18}\d(?!\d)")

KINDS = ("emails", "phones", "cards")


def _luhn(digits: str) -> bool:
    total = 0
    for i, char in enumerate(reversed(digits)):
        n = ord(char) - 48
        if i % 2:
            n = n * 2 - 9 if n > 4 else n * 2
        total += n
    return total % 10 == 0


def _card(match: re.Match[str]) -> str:
    digits = re.sub(r"[ -]", "", match.group())
    return "[REDACTED:card]" if 13 <= len(digits) <= 19 and _luhn(digits) else match.group()


class Redactor:
    """Redacts PII (``kinds`` and custom ``patterns``) and truncates oversized values."""

    def __init__(self, *, kinds: Iterable[str] = (),
                 patterns: Mapping[str, str | re.Pattern[str]] | None = None,
                 max_value_chars: int | None = DEFAULT_MAX_VALUE_CHARS) -> None:
        self._rules: list[tuple[re.Pattern[str], str | Callable[[re.Match[str]], str]]] = []
        for kind in kinds:
            if kind not in KINDS:
                raise InvalidInputError(f"unknown redaction {kind!r}; choose from "
                                        f"{', '.join(KINDS)} (custom patterns go in a file)")
            if kind == "cards":  # before phones: a card number also looks like digits groups
                self._rules.insert(0, (_CARD, _card))
        if "emails" in kinds:
            self._rules.append((_EMAIL, "[REDACTED:email]"))
        if "phones" in kinds:
            self._rules.append((_PHONE, "[REDACTED:phone]"))
        for name, pattern in (patterns or {}).items():
            try:
                compiled = re.compile(pattern) if isinstance(pattern, str) else pattern
            except re.error as exc:
                raise InvalidInputError(f"redaction pattern {name!r} is not a valid regular "
                                        f"expression: {exc}") from None
            if compiled.search('"') or compiled.search("\\"):
                raise InvalidInputError(f"redaction pattern {name!r} matches a quote or "
                                        "backslash, which would break JSON values")
            self._rules.append((compiled, f"[REDACTED:{name}]"))
        if max_value_chars is not None and max_value_chars < 100:
            raise InvalidInputError("max_value_chars must be at least 100")
        self.max_value_chars = max_value_chars

    @classmethod
    def from_options(cls, redact: str | Iterable[str] | None = None, *,
                     config_path: str | Path | None = None,
                     max_value_chars: int | None = DEFAULT_MAX_VALUE_CHARS) -> Redactor:
        """From the server's flags: ``--redact emails,phones,cards`` and a patterns file."""
        if isinstance(redact, str):
            kinds = [k.strip() for k in redact.split(",") if k.strip()]
        else:
            kinds = list(redact or ())
        patterns = load_patterns(config_path) if config_path is not None else None
        return cls(kinds=kinds, patterns=patterns, max_value_chars=max_value_chars)

    @property
    def redacts(self) -> bool:
        return bool(self._rules)

    def redact_text(self, text: str) -> str:
        for pattern, replacement in self._rules:
            text = pattern.sub(replacement, text)
        return text

    def apply(self, trace: Trace) -> Trace:
        """``trace`` with PII replaced and oversized values cut (the same object if clean)."""
        spans = trace.data.spans
        new_spans = [self._span(span) for span in spans]
        changed_spans = any(new is not old for new, old in zip(new_spans, spans, strict=True))
        info = trace.info
        if self._rules:
            info = dataclasses.replace(
                info,
                request_preview=self._maybe(info.request_preview),
                response_preview=self._maybe(info.response_preview),
                trace_metadata={k: self.redact_text(v) for k, v in info.trace_metadata.items()},
                tags={k: self.redact_text(v) for k, v in info.tags.items()})
        if not changed_spans and info is trace.info:
            return trace
        return Trace(info, TraceData(new_spans) if changed_spans else trace.data)

    def _maybe(self, text: str | None) -> str | None:
        return None if text is None else self.redact_text(text)

    def _span(self, span: Span) -> Span:
        raw = span.raw_attributes
        limit = self.max_value_chars
        oversized = [] if limit is None else [k for k, v in raw.items() if len(v) > limit]
        if not self._rules and not oversized:
            return span
        new_raw = {k: self.redact_text(v) for k, v in raw.items()} if self._rules else dict(raw)
        if oversized:
            assert limit is not None
            for key in oversized:
                new_raw[key] = _truncated(new_raw[key], limit)
            new_raw[TRUNCATED_KEY] = json.dumps(oversized)
        events = span.events
        if self._rules and events:
            events = [SpanEvent(e.name, e.timestamp_ns, _redact_value(e.attributes, self))
                      for e in events]
        return dataclasses.replace(span, raw_attributes=new_raw, events=events)


def _truncated(value: str, limit: int) -> str:
    marker = f" ... [spanscope: truncated, {len(value)} characters in total]"
    return json.dumps(value[:max(0, limit - len(marker) - 16)] + marker, ensure_ascii=False)


def _redact_value(value: Any, redactor: Redactor) -> Any:
    if isinstance(value, str):
        return redactor.redact_text(value)
    if isinstance(value, dict):
        return {k: _redact_value(v, redactor) for k, v in value.items()}
    if isinstance(value, list):
        return [_redact_value(v, redactor) for v in value]
    return value


def load_patterns(path: str | Path) -> dict[str, str]:
    """``{name: regex}`` from the ``patterns`` table of a TOML or JSON file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
        if path.suffix == ".json":
            data = json.loads(text)
        else:
            import tomllib  # Python 3.11+; on 3.10 use a .json file

            data = tomllib.loads(text)
    except (OSError, ValueError, ImportError) as exc:  # TOMLDecodeError is a ValueError
        raise InvalidInputError(f"cannot read redaction patterns from {path}: {exc}") from None
    patterns = data.get("patterns") if isinstance(data, dict) else None
    if not isinstance(patterns, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in patterns.items()):
        raise InvalidInputError(f"{path} needs a 'patterns' table of name = regular expression")
    return patterns
