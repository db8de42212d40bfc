"""Python functions registered on every SQLite connection, for the filter compiler.

SQLite has no regular expressions, an ASCII-only ``lower()``, and no way to read a JSON
value the way the filter language defines it (``spanscope.query.values``: the text and the
number of a value, JSON re-serialised with Python's separators). Registering these as SQL
functions makes the SQLite store agree with the reference evaluator exactly, because they
*are* the reference's own helpers. PostgreSQL gets SQL/PL/pgSQL equivalents from
migration 0002.

Each function returns NULL for a missing value and never raises: an exception in a
user-defined function would abort the whole query.
"""

from __future__ import annotations

import functools
import json
import re
import sqlite3
from typing import Any

from spanscope.entities._codec import loads_attribute
from spanscope.query.values import number_of, regex, text_of
from spanscope.store.sql.sqlite_aggregates import register_aggregates

__all__ = ["register"]

_INT64 = 2**63


def _to_sqlite_number(number: int | float | None) -> int | float | None:
    """A number SQLite can hold; an integer beyond 64 bits compares like +/- infinity."""
    if isinstance(number, int) and not -_INT64 <= number < _INT64:
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
    value = _loads(raw) if len(raw) < 100_000 else loads_attribute(raw)
    for step in _path(path_json):
        index_ok = isinstance(step, int) and isinstance(value, list) and step < len(value)
        key_ok = isinstance(step, str) and isinstance(value, dict) and step in value
        if not (index_ok or key_ok):
            return None
        value = value[step]
    return value


def json_text(raw: str | None, path_json: str | None) -> str | None:
    """``text_of`` the value at ``path`` inside the JSON text ``raw`` (not JSON: the text)."""
    try:
        return text_of(_value(raw, path_json))
    except (ValueError, TypeError, RecursionError):
        return None


def json_number(raw: str | None, path_json: str | None) -> int | float | None:
    """``number_of`` the value at ``path`` inside the JSON text ``raw``."""
    try:
        return _to_sqlite_number(number_of(_value(raw, path_json)))
    except (ValueError, TypeError, RecursionError, OverflowError):
        return None


def text_number(text: str | None) -> float | None:
    """``number_of`` a plain string (a tag or metadata value)."""
    try:
        return _to_sqlite_number(number_of(text))
    except (ValueError, OverflowError):
        return None


def span_attribute(content: str | None, key: str | None) -> str | None:
    """The raw (JSON-encoded) attribute ``key`` of a stored span's JSON ``content``.

    Used when ``json_extract`` cannot address the key (it contains a double quote) or the
    content is not strict JSON (a NaN in an event attribute).
    """
    if content is None or key is None:
        return None
    try:
        attributes = json.loads(content).get("attributes") or {}
    except (ValueError, AttributeError, RecursionError):
        return None
    raw = attributes.get(key) if isinstance(attributes, dict) else None
    return raw if isinstance(raw, str) or raw is None else json.dumps(raw, ensure_ascii=False)


def lower(text: str | None) -> str | None:
    """Python's ``str.lower`` (Unicode-aware), which ILIKE is defined with."""
    return None if text is None else text.lower()


def regexp(pattern: str | None, text: str | None) -> int | None:
    """``re.search(pattern, text)``, the meaning of RLIKE."""
    if pattern is None or text is None:
        return None
    try:
        return int(regex(pattern).search(text) is not None)
    except (re.error, RecursionError, OverflowError, ValueError):
        return 0


def register(connection: sqlite3.Connection) -> None:
    """Register the functions on a new ``sqlite3`` connection (a ``connect`` event hook)."""
    for name, arity, function in (
        ("spanscope_json_text", 2, json_text),
        ("spanscope_json_number", 2, json_number),
        ("spanscope_number", 1, text_number),
        ("spanscope_span_attribute", 2, span_attribute),
        ("spanscope_lower", 1, lower),
        ("spanscope_regexp", 2, regexp),
    ):
        connection.create_function(name, arity, function, deterministic=True)
    register_aggregates(connection)  # percentiles and sample order, for analysis
