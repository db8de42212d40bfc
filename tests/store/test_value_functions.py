"""The filter's value functions exist once in Python (``value_functions``) and once per
database; a table of inputs holds each database's copy to the Python one.

Each case is run through the SQL expression the translation itself emits for the dialect
(``Dialect.json_text`` ...), on a migrated SQLite file (where the registered functions are
the Python ones, so this checks the registration and SQLite's JSON shortcuts) and on the
real PostgreSQL server (the PL/pgSQL functions of migration 0002). JSON inputs are written
the way Spanscope stores them (``json.dumps``), as the functions are only defined on those.
"""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
import sqlalchemy as sa

from spanscope.store.sql import SqlStore
from spanscope.store.sql import value_functions as fn
from spanscope.store.sql.dialects import dialect_for
from spanscope.store.sql.sqlite_functions import FUNCTIONS

_VALUES: list[Any] = [
    "hello", "", "héllo wörld ☃", 'say "hi"', "50% off_sale", "line\nbreak", "  padded  ",
    "3", "-2.5e3", "1e400", "0x10", "nan", "true",
    0, 3, -7, 1.5, -0.25, 1e-7, 123456789.125, 2**53 + 1, -(2**62), 1e300,
    10**30, -(10**30), 10**400, -(10**400),
    True, False, None,
    [], [1, "two", None], {"a": 1}, {"query": "Refund", "n": [1, 2, {"deep": "x"}]},
    {"key with space": "v", "ünï": [True]},
]
_PATHS: list[tuple[str | int, ...]] = [(), ("a",), ("n",), ("n", 2, "deep"), ("n", 5), (0,),
                                       (1,), ("query",), ("ünï", 0), ("key with space",)]
_NOT_JSON = ["plain text", "{not json", "'single'", "1 2", "[1,", ""]
_NUMBER_TEXTS = ["3", "-3", "+3", "3.", ".5", "-.5e-3", "1e5", "1E+05", " 3", "3 ", "3\n",
                 "abc", "1e400", "-1e400", "1e-400", "0x10", "nan", "inf", "Infinity",
                 "1_000", "٣", "", "9" * 30, "00012.50"]
_ATTRIBUTE_KEYS = ["mlflow.spanInputs", "plain", "number", "missing", 'quo"te', "ünï"]
# Stored spans hold every attribute JSON-encoded, as a string (the trace JSON format).
_SPAN_CONTENTS = [
    json.dumps({"name": "s", "attributes": {
        "mlflow.spanInputs": json.dumps({"q": "hi"}), "plain": "text", "number": "3",
        'quo"te': json.dumps("v"), "ünï": json.dumps([1, 2])}}, ensure_ascii=False),
    json.dumps({"name": "s", "attributes": {}}),
    json.dumps({"name": "s"}),
    "not json at all",
]
_LOWER = ["ABC", "Héllo RÉFUND", "ÀÉÎÕÜ", "already lower", "MiXeD 123 _%", ""]
_REGEX = [("^ref", "refund"), ("fund$", "refund"), ("a.c", "abc"), ("a.c", "ac"),
          ("[0-9]+", "no digits"), ("[0-9]+", "v42"), ("(ab|cd)e", "xcde"), ("x*", "")]


def _cases() -> list[tuple[str, tuple[Any, ...]]]:
    cases: list[tuple[str, tuple[Any, ...]]] = []
    for value in _VALUES:
        raw = None if value is None else json.dumps(value, ensure_ascii=False)
        for path in _PATHS:
            cases += [("json_text", (raw, path)), ("json_number", (raw, path))]
    for text in _NOT_JSON:
        cases += [("json_text", (text, ())), ("json_number", (text, ()))]
    cases += [("text_number", (text,)) for text in _NUMBER_TEXTS]
    cases += [("span_attribute", (content, key)) for content in _SPAN_CONTENTS
              for key in _ATTRIBUTE_KEYS]
    cases += [("lower", (text,)) for text in _LOWER]
    cases += [("regexp", case) for case in _REGEX]
    return cases


CASES = _cases()


def _python(name: str, args: tuple[Any, ...]) -> Any:
    if name in ("json_text", "json_number"):
        raw, path = args
        return getattr(fn, name)(raw, json.dumps(list(path)) if path else None)
    if name == "regexp":
        return fn.regexp(*args)
    return getattr(fn, name)(*args)


def _expression(dialect_name: str, name: str, args: tuple[Any, ...]) -> sa.ColumnElement[Any]:
    """The SQL the translation emits for the function, on bound arguments."""
    dialect = dialect_for(dialect_name)

    def text(value: Any) -> sa.ColumnElement[Any]:
        return sa.literal(value, sa.Text)

    if name == "json_text":
        return dialect.json_text(text(args[0]), args[1])
    if name == "json_number":
        return dialect.json_number(text(args[0]), args[1])
    if name == "text_number":
        return dialect.text_number(text(args[0]))
    if name == "span_attribute":
        return dialect.span_attribute(text(args[0]), args[1])
    if name == "lower":
        return dialect.lower(text(args[0]))
    pattern, subject = args
    return sa.case((dialect.regex_match(text(subject), pattern), 1), else_=0)


def _same(name: str, got: Any, want: Any) -> bool:
    if name in ("json_number", "text_number"):
        if got is None or want is None:
            return got is None and want is None
        return float(got) == float(want) or (math.isnan(float(got)) and math.isnan(want))
    return bool(got == want)


def test_sqlite_registers_every_python_value_function() -> None:
    registered = {function for _, function in FUNCTIONS.values()}
    assert registered == {getattr(fn, name) for name in fn.__all__}


def test_the_python_functions_never_raise_and_mean_the_reference() -> None:
    assert fn.json_text('{"a": [1, 2]}', '["a"]') == "[1, 2]"
    assert fn.json_text('"x"', None) == "x" and fn.json_text("not json", None) == "not json"
    assert fn.json_number('{"a": "2.5"}', '["a"]') == 2.5
    assert fn.json_number("1" + "0" * 30, None) == 1e30  # beyond 64 bits: a double
    assert fn.json_number("1" + "0" * 400, None) == math.inf  # beyond a double: inf
    assert fn.text_number("1e400") is None and fn.text_number(" 3") is None
    assert fn.regexp("(", "x") == 0 and fn.lower(None) is None
    for name, args in CASES:
        _python(name, args)  # raises nothing


@pytest.mark.parametrize("dialect_name", ["sqlite", "postgresql"])
def test_each_database_copy_agrees_with_python(dialect_name: str, sqlite_uri: str,
                                               pg_uri: str) -> None:
    uri = sqlite_uri if dialect_name == "sqlite" else pg_uri
    mismatches = []
    with SqlStore(uri) as store, store._engine.connect() as conn:
        for start in range(0, len(CASES), 50):  # one statement per 50 cases
            chunk = CASES[start:start + 50]
            statement = sa.select(*(_expression(dialect_name, name, args).label(f"c{i}")
                                    for i, (name, args) in enumerate(chunk)))
            row = conn.execute(statement).one()
            for (name, args), got in zip(chunk, row, strict=True):
                want = _python(name, args)
                if not _same(name, got, want):
                    mismatches.append((name, args, got, want))
    assert not mismatches, "\n".join(map(repr, mismatches))
