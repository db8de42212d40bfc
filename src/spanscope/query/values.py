"""How a filter reads values: text and number of a field value, dates, LIKE patterns.

These functions *define* the comparison semantics; a store's compiler must agree with
them (``docs/filter-language.md`` says how, for SQL):

- ``text_of``: strings as they are; booleans ``'true'``/``'false'``; numbers, objects and
  lists as JSON text (``json.dumps(value, ensure_ascii=False)``, which is exactly the text
  Spanscope stores for them); None stays None (NULL).
- ``number_of``: JSON numbers (not booleans) and strings that match
  ``NUMERIC_TEXT_PATTERN`` (no spaces, no ``nan``/``inf``); anything else has no number.
"""

from __future__ import annotations

import functools
import json
import math
import re
from datetime import datetime, timedelta, timezone
from typing import Any

from spanscope.entities._codec import dumps

__all__ = [
    "NUMERIC_TEXT_PATTERN",
    "fold_case",
    "like_matches",
    "like_parts",
    "looks_numeric",
    "number_of",
    "parse_timestamp",
    "regex",
    "text_of",
]

#: A string field compares as a number when it matches this (POSIX and Python syntax).
NUMERIC_TEXT_PATTERN = r"^[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?$"
_NUMERIC_TEXT = re.compile(NUMERIC_TEXT_PATTERN[1:-1])  # used with fullmatch: "$" allows "\n"

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_DATE = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})")
_DATETIME = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})[Tt ]([0-9]{2}):([0-9]{2})"
    r"(?::([0-9]{2})(?:\.([0-9]{1,9}))?)?\s*([Zz]|[+-][0-9]{2}:?[0-9]{2})?")


def looks_numeric(text: str) -> bool:
    return _NUMERIC_TEXT.fullmatch(text) is not None


def text_of(value: Any) -> str | None:
    """The text a TEXT or BOOLEAN comparison sees for a field value."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return str(value)  # a str enum (TraceState) becomes its plain value
    if isinstance(value, (int, float)):
        return json.dumps(value)
    return dumps(value)


def number_of(value: Any) -> int | float | None:
    """The number a NUMBER comparison sees for a field value, or None (never matches)."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, str) and looks_numeric(value):
        number = float(value)
        return number if math.isfinite(number) else None
    return None


def parse_timestamp(text: str) -> int:
    """An ISO date or datetime to epoch ms; a date is midnight UTC, a naive time is UTC.

    Raises ``ValueError`` (the parser turns it into a ``FilterError``).
    """
    text = text.strip()
    if match := _DATE.fullmatch(text):
        year, month, day = (int(g) for g in match.groups())
        moment = datetime(year, month, day, tzinfo=timezone.utc)
    elif match := _DATETIME.fullmatch(text):
        year, month, day, hour, minute, second, fraction, zone = match.groups()
        tz = timezone.utc
        if zone and zone not in "Zz":
            digits = zone[1:].replace(":", "")
            hours, minutes = int(digits[:2]), int(digits[2:])
            if hours > 23 or minutes > 59:
                raise ValueError(f"bad UTC offset {zone}")
            sign = -1 if zone[0] == "-" else 1
            tz = timezone(sign * timedelta(hours=hours, minutes=minutes))
        moment = datetime(int(year), int(month), int(day), int(hour), int(minute),
                          int(second or 0), int((fraction or "0")[:6].ljust(6, "0")), tz)
    else:
        raise ValueError("not an ISO date")
    return (moment - _EPOCH) // timedelta(milliseconds=1)


def like_parts(pattern: str, *, any_run: str = ".*") -> list[str]:
    """A LIKE pattern as regex pieces, one per character: ``%`` is ``any_run``, ``_`` any
    one character, ``\\`` escapes the next; the rest match themselves."""
    out: list[str] = []
    chars = iter(pattern)
    for ch in chars:
        if ch == "\\":
            out.append(re.escape(next(chars, "\\")))
        elif ch == "%":
            out.append(any_run)
        elif ch == "_":
            out.append(".")
        else:
            out.append(re.escape(ch))
    return out


def fold_case(text: str) -> str:
    """The case ILIKE ignores: ``str.lower``, then final sigma (U+03C2) read as sigma.

    Python lower-cases a word-final capital sigma to final sigma (Unicode's Final_Sigma
    rule), PostgreSQL and SQLite (``lower``, FTS5) character by character to sigma (U+03C3);
    read as one letter, the three sigmas compare equal everywhere. Each SQL store spells
    this in its dialect's ``lower``.
    """
    return text.lower().replace("\u03c2", "\u03c3")


@functools.lru_cache(maxsize=512)
def _like_regex(pattern: str, ignore_case: bool) -> re.Pattern[str]:
    if ignore_case:
        pattern = fold_case(pattern)
    return re.compile("".join(like_parts(pattern)), re.DOTALL)


def like_matches(pattern: str, text: str, *, ignore_case: bool = False) -> bool:
    """SQL LIKE: ``%`` any run, ``_`` one character, ``\\`` escapes; whole-string match.

    With ``ignore_case`` both sides are case-folded first (``fold_case``), which is ILIKE.
    """
    if ignore_case:
        text = fold_case(text)
    return _like_regex(pattern, ignore_case).fullmatch(text) is not None


@functools.lru_cache(maxsize=512)
def regex(pattern: str) -> re.Pattern[str]:
    """The compiled RLIKE pattern (Python ``re``; matched with ``search``)."""
    return re.compile(pattern)
