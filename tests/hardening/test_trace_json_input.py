"""Issue 11.5: ``Trace.from_json`` on malformed input raises one exception type.

Every malformed document raises ``TraceJsonError`` (a ``ValueError`` and an
``InvalidInputError``) whose ``path`` names the bad field; nothing else escapes, and a
document that loads also writes back out. The fuzz test mutates valid trace JSON.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from factories import make_trace, sample_assessments
from spanscope.entities import Trace
from spanscope.exceptions import InvalidInputError, TraceJsonError


def valid() -> dict[str, Any]:
    trace = make_trace(3, tags={"env": "prod"}, assessments=sample_assessments())
    return trace.to_dict()


def with_change(path: str, value: Any) -> str:
    data = valid()
    *parents, last = path.split(".")
    node: Any = data
    for key in parents:
        node = node[int(key)] if isinstance(node, list) else node[key]
    if value is _DELETE:
        del node[last]
    else:
        node[int(last) if isinstance(node, list) else last] = value
    return json.dumps(data)


_DELETE = object()

CASES = [
    ("[1, 2]", "$"),
    ("null", "$"),
    ("3", "$"),
    ('"text"', "$"),
    ("{", "$"),
    ("[" * 100_000 + "]" * 100_000, "$"),
    (with_change("data.spans", "abc"), "data.spans"),
    (with_change("data.spans.0.status", "OK"), "data.spans[0].status"),
    (with_change("info.tags", [1, 2]), "info.tags[0]"),
    (with_change("info", _DELETE), "info"),
    (with_change("info.trace_id", _DELETE), "info.trace_id"),
    (with_change("info.state", "BOGUS"), "info.state"),
    (with_change("info.request_time", 10 ** 400), "info.request_time"),
    (with_change("info.request_time", "yesterday"), "info.request_time"),
    (with_change("data.spans.1.start_time_unix_nano", -5), "data.spans[1].start_time_unix_nano"),
    (with_change("data.spans.1.span_id", 7), "data.spans[1].span_id"),
    (with_change("data.spans.0.events", {"name": "x"}), "data.spans[0].events"),
    (with_change("info.assessments.0", "feedback"), "info.assessments[0]"),
    (with_change("info.trace_metadata", {"k": {"nested": 1}}), "info.trace_metadata.k"),
]


@pytest.mark.parametrize(("text", "path"), CASES, ids=[p for _, p in CASES])
def test_malformed_trace_json_raises_one_error_naming_the_field(text: str, path: str) -> None:
    with pytest.raises(TraceJsonError) as caught:
        Trace.from_json(text)
    assert caught.value.path == path
    assert path in str(caught.value)
    assert isinstance(caught.value, ValueError) and isinstance(caught.value, InvalidInputError)


def test_valid_trace_json_still_loads_unchanged() -> None:
    text = json.dumps(valid())
    assert Trace.from_json(text).to_json() == Trace.from_dict(json.loads(text)).to_json()


# --- fuzz -----------------------------------------------------------------------------
json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.integers(-10**30, 10**30),
              st.floats(), st.text(max_size=12),
              st.sampled_from(["OK", "STATUS_CODE_OK", "2026-01-01T00:00:00Z", "1.5s", ""])),
    lambda inner: st.one_of(st.lists(inner, max_size=3),
                            st.dictionaries(st.text(max_size=8), inner, max_size=3)),
    max_leaves=8)


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(node, dict):
        for key, value in node.items():
            out.extend(_paths(value, (*prefix, key)))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            out.extend(_paths(value, (*prefix, i)))
    return out


def _mutate(data: dict[str, Any], path: tuple[Any, ...], action: str, value: Any) -> Any:
    if not path:
        return value
    node: Any = data
    for key in path[:-1]:
        node = node[key]
    last = path[-1]
    if action == "delete":
        del node[last]
    elif action == "wrap":
        node[last] = [node[last]]
    else:
        node[last] = value
    return data


BASE = valid()
ALL_PATHS = _paths(BASE)


@settings(max_examples=600, deadline=None)
@given(path=st.sampled_from(ALL_PATHS), action=st.sampled_from(["replace", "delete", "wrap"]),
       value=json_values, mutations=st.integers(1, 3), data=st.data())
def test_fuzzed_trace_json_loads_or_raises_trace_json_error_only(
        path: tuple[Any, ...], action: str, value: Any, mutations: int,
        data: st.DataObject) -> None:
    document: Any = copy.deepcopy(BASE)
    for n in range(mutations):
        document = _mutate(document, path, action, value)
        if n + 1 < mutations:
            paths = _paths(document) if isinstance(document, (dict, list)) else [()]
            path = data.draw(st.sampled_from(paths))
            action = data.draw(st.sampled_from(["replace", "delete", "wrap"]))
            value = data.draw(json_values)
        if not path or (action == "replace" and not isinstance(document, (dict, list))):
            break
    try:
        text = json.dumps(document)
    except ValueError:
        return  # (an int past Python's digit limit cannot even be written)
    try:
        trace = Trace.from_json(text)
    except TraceJsonError:
        return
    trace.to_json()  # what loads also writes back
