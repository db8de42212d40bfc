"""Run and dataset filters read text exactly as trace filters do (one tokenizer).

The same literal, escape or quoted name gives the same value in ``parse_filter`` and in
``parse_entity_filter``; LIKE escapes mean the same; errors point at the same position.
The last tests go through ``search_runs`` and ``search_traces`` on a real store.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import spanscope
from spanscope.entities import Trace, TraceInfo, TraceState
from spanscope.exceptions import FilterError
from spanscope.query import (
    Comparison,
    filter_entities,
    filter_traces,
    parse_entity_filter,
    parse_entity_order_by,
    parse_filter,
)
from spanscope.store.entity_search import DATASET_FIELDS, RUN_FIELDS

LITERALS = [
    r"'50\%'",            # unknown escape: the backslash stays (a LIKE escape)
    r"'a\nb'",            # known escape: a newline
    r"'tab\there'",
    r"'back\\slash'",
    r"'it\'s'",
    "'it''s'",
    '"double"',
    r'"a\"b"',
    r"'\d+'",
    "''",
    "'é 中文'",
]


@pytest.mark.parametrize("literal", LITERALS)
def test_string_values_agree(literal: str) -> None:
    trace_node = parse_filter(f"tags.k = {literal}")
    assert isinstance(trace_node, Comparison)
    (clause,) = parse_entity_filter(f"tags.k = {literal}", RUN_FIELDS)
    assert clause.value == trace_node.value


@pytest.mark.parametrize("written", ["tags.`a.b`", 'tags."a b"', "tags.mlflow.runName",
                                     "tags.`tick``s`", "TAGS.env"])
def test_quoted_names_agree(written: str) -> None:
    trace_node = parse_filter(f"{written} = 'x'")
    assert isinstance(trace_node, Comparison)
    (clause,) = parse_entity_filter(f"{written} = 'x'", RUN_FIELDS)
    assert clause.key == trace_node.field.key  # type: ignore[union-attr]


def _trace(tag: str) -> Trace:
    info = TraceInfo(trace_id=f"tr-{abs(hash(tag))}", experiment_id="0", request_time=1,
                     state=TraceState.OK, tags={"k": tag})
    return Trace(info)


@pytest.mark.parametrize(("pattern", "op"), [
    (r"'50\%'", "LIKE"), (r"'50\_'", "LIKE"), ("'50%'", "LIKE"), ("'5_'", "ILIKE"),
    ("'A%'", "ILIKE"), (r"'a\nb'", "LIKE"), (r"'a\\%'", "LIKE"),
])
def test_like_matches_agree(pattern: str, op: str) -> None:
    values = ["50%", "500", "50_", "5x", "a\nb", "anb", "A", "a\\", "a\\z"]
    text = f"tags.k {op} {pattern}"
    traces = filter_traces(text, [_trace(v) for v in values])
    runs = filter_entities(values, parse_entity_filter(text, RUN_FIELDS),
                           lambda value, kind, key: value)
    assert [t.info.tags["k"] for t in traces] == runs


@pytest.mark.parametrize("text", [
    "tags.k = 'open", "tags.k = `x", "tags.k = 5x", "tags.k = 99999999999999999999",
    "tags.k = 'a' AND #",
])
def test_lexical_errors_agree(text: str) -> None:
    with pytest.raises(FilterError) as trace_error:
        parse_filter(text)
    with pytest.raises(FilterError) as run_error:
        parse_entity_filter(text, RUN_FIELDS)
    assert run_error.value.position == trace_error.value.position
    assert run_error.value.token == trace_error.value.token


def test_run_keys_keep_their_punctuation() -> None:
    clauses = parse_entity_filter("metrics.train/loss < 0.5 AND params.a:b = 'x' AND "
                                  "tags.`f1 score` != '' and params.lr IN ('0.1', 2)",
                                  RUN_FIELDS)
    assert [(c.kind, c.key, c.op, c.value) for c in clauses] == [
        ("metric", "train/loss", "<", 0.5), ("param", "a:b", "=", "x"),
        ("tag", "f1 score", "!=", ""), ("param", "lr", "IN", ("0.1", "2"))]


def test_order_by_reads_quoted_names_and_directions() -> None:
    items = parse_entity_order_by(["metrics.`f1 score` DESC", "name", "tags.`a DESC`"],
                                  DATASET_FIELDS.__class__(
                                      kinds=frozenset({"metric", "tag"}),
                                      attributes=frozenset({"name"}),
                                      numeric_attributes=frozenset(),
                                      what="search filter"))
    assert [(i.kind, i.key, i.ascending) for i in items] == [
        ("metric", "f1 score", False), ("attribute", "name", True), ("tag", "a DESC", True)]
    with pytest.raises(FilterError, match="ASC, DESC"):
        parse_entity_order_by("name DOWN", DATASET_FIELDS)


def test_only_and_and_clear_messages() -> None:
    with pytest.raises(FilterError, match="only AND") as info:
        parse_entity_filter("params.a = '1' OR params.b = '2'", RUN_FIELDS)
    assert info.value.position == 15
    with pytest.raises(FilterError, match="IN after NOT"):
        parse_entity_filter("params.a NOT LIKE 'x'", RUN_FIELDS)
    with pytest.raises(FilterError, match="at the end"):
        parse_entity_filter("params.a =", RUN_FIELDS)
    with pytest.raises(FilterError, match="not a number"):
        parse_entity_filter("metrics.m > 'high'", RUN_FIELDS)


def test_search_runs_and_search_traces_read_escapes_alike(tmp_path: Path) -> None:
    spanscope.set_tracking_uri(f"sqlite:///{tmp_path}/spanscope.db")
    with spanscope.start_run(run_name="multi-line", tags={"note": "a\nb", "pct": "50%"}):
        pass
    with spanscope.start_run(run_name="plain", tags={"note": "anb", "pct": "500"}):
        pass

    @spanscope.trace
    def step(note: str, pct: str) -> None:
        spanscope.update_current_trace(tags={"note": note, "pct": pct})

    step("a\nb", "50%")
    step("anb", "500")
    for text in (r"tags.note = 'a\nb'", r"tags.pct LIKE '50\%'"):
        runs = spanscope.search_runs(filter_string=text, output_format="list")
        traces = spanscope.search_traces(filter_string=text, return_type="list")
        assert [r.data.tags["note"] for r in runs] == ["a\nb"], text
        assert [t.info.tags["note"] for t in traces] == ["a\nb"], text
