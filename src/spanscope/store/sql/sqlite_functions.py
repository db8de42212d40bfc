"""Python functions registered on every SQLite connection, for the filter translation.

SQLite has no regular expressions, an ASCII-only ``lower()``, and no way to read a JSON
value the way the filter language defines it. Registering the pure functions of
``value_functions`` (the one Python definition; PostgreSQL's copies are migration 0002's)
makes the SQLite store agree with the reference evaluator exactly.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import Any

from spanscope.store.sql import value_functions as fn
from spanscope.store.sql.sqlite_aggregates import register_aggregates

__all__ = ["FUNCTIONS", "register"]

#: SQL name -> (arity, Python function) of every filter function SQLite gets.
FUNCTIONS: dict[str, tuple[int, Callable[..., Any]]] = {
    "spanscope_json_text": (2, fn.json_text),
    "spanscope_json_number": (2, fn.json_number),
    "spanscope_number": (1, fn.text_number),
    "spanscope_span_attribute": (2, fn.span_attribute),
    "spanscope_lower": (1, fn.lower),
    "spanscope_regexp": (2, fn.regexp),
}


def register(connection: sqlite3.Connection) -> None:
    """Register the functions on a new ``sqlite3`` connection (a ``connect`` event hook)."""
    for name, (arity, function) in FUNCTIONS.items():
        connection.create_function(name, arity, function, deterministic=True)
    register_aggregates(connection)  # the sample order, for analysis
