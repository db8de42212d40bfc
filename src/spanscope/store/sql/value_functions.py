"""The filter's value functions, once, in Python: how SQL reads a value the filter's way.

The filter language defines how a field value reads as text and as a number
(``spanscope.query.values``: ``text_of``, ``number_of``). A database cannot call those, so
each SQL dialect has its own copy of the few functions the translation
(``filter_sql``) calls: SQLite registers *these* (``sqlite_functions``), PostgreSQL has
PL/pgSQL equivalents (migration 0002). These pure functions are the one definition the
database copies are held to (``tests/store/test_value_functions.py`` runs a table of
inputs through all three).

Each function returns None (NULL) for a missing value and never raises: an exception in
a user-defined SQLite function would abort the whole query.
"""

from __future__ import annotations

import functools
import json
import re
from typing import Any

from spanscope.entities._codec import loads_attribute
from spanscope.query.values import fold_case, number_of, regex, text_of

__all__ = ["json_number", "json_text", "lower", "regexp", "span_attribute", "text_number"]

_INT64 = 2**63
_CACHED_BELOW = 100_000  # characters: longer JSON texts are decoded without the cache


def _to_sql_number(number: int | float | None) -> int | float | None:
    """A number a 64-bit database value can hold: an integer beyond 64 bits becomes the
    nearest double (what PostgreSQL's copy reads), or +/- infinity beyond a double's range
    (where Python compares the exact integer above every finite number)."""
    if isinstance(number, int) and not -_INT64 <= number < _INT64:
        try:
            return float(number)
        except OverflowError:
            return float("inf") if number > 0 else float("-inf")
    return number


@functools.lru_cache(maxsize=256)
def _path(path_json: str | None) -> tuple[str | int, ...]:
    return tuple(json.loads(path_json)) if path_json else ()


@functools.lru_cache(maxsize=64)
def _loads(raw: str) -> Any:
    """``loads_attribute`` with a small cache: one row's text and number read one value."""
    return loads_attribute(raw)


def _value(raw: str | None, path_json: str | None) -> Any:
    if raw is None:
        return None
    value = _loads(raw) if len(raw) < _CACHED_BELOW else loads_attribute(raw)
    for step in _path(path_json):
        index_ok = isinstance(step, int) and isinstance(value, list) and step < len(value)
        key_ok = isinstance(step, str) and isinstance(value, dict) and step in value
        if not (index_ok or key_ok):
            return None
        value = value[step]
    return value


def json_text(raw: str | None, path_json: str | None) -> str | None:
    """``text_of`` the value at the path (a JSON list of keys and indexes, or None)
    inside the JSON text ``raw`` (text that is not JSON reads as that string)."""
    try:
        return text_of(_value(raw, path_json))
    except (ValueError, TypeError, RecursionError):
        return None


def json_number(raw: str | None, path_json: str | None) -> int | float | None:
    """``number_of`` the value at the path inside the JSON text ``raw``."""
    try:
        return _to_sql_number(number_of(_value(raw, path_json)))
    except (ValueError, TypeError, RecursionError, OverflowError):
        return None


def text_number(text: str | None) -> int | float | None:
    """``number_of`` a plain string (a tag or metadata value)."""
    try:
        return _to_sql_number(number_of(text))
    except (ValueError, OverflowError):
        return None


def span_attribute(content: str | None, key: str | None) -> str | None:
    """The raw (JSON-encoded) attribute ``key`` of a stored span's JSON ``content``."""
    if content is None or key is None:
        return None
    try:
        attributes = json.loads(content).get("attributes") or {}
    except (ValueError, AttributeError, RecursionError):
        return None
    raw = attributes.get(key) if isinstance(attributes, dict) else None
    return raw if isinstance(raw, str) or raw is None else json.dumps(raw, ensure_ascii=False)


def lower(text: str | None) -> str | None:
    """``values.fold_case`` (Unicode-aware), which ILIKE is defined with."""
    return None if text is None else fold_case(text)


def regexp(pattern: str | None, text: str | None) -> int | None:
    """``re.search(pattern, text)``, the meaning of RLIKE: 1 or 0."""
    if pattern is None or text is None:
        return None
    try:
        return int(regex(pattern).search(text) is not None)
    except (re.error, RecursionError, OverflowError, ValueError):
        return 0
