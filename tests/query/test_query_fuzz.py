"""Property tests: any input gives a tree or a FilterError; valid filters round-trip and
evaluate without errors; NOT is the complement; AND/OR of trace conditions compose."""

from __future__ import annotations

from filter_strategies import filters, leaf_filters, traces
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from spanscope.entities import Trace
from spanscope.exceptions import FilterError
from spanscope.query import caret_view, matches, parse_filter, parse_order_by, to_text
from spanscope.query.ast import Op, check_invariants, comparisons
from spanscope.query.render import field_text

FUZZ = settings(max_examples=1500, deadline=None,
                suppress_health_check=[HealthCheck.too_slow])

PIECES = ["tags.x", "tag.`a.b`", "tags.", "span.type", "span.duration_ms", "span.attributes.k",
          "attributes.state", "trace.timestamp", "inputs.a.0", "request", "feedback.f",
          "expectation.e", "assessments.a.value", "metadata.m", "=", "!=", "<", ">=", "<>",
          "LIKE", "ilike", "RLIKE", "CONTAINS", "NOT", "IN", "IS", "NULL", "AND", "or", "(",
          ")", ",", "'a'", '"b"', "'%'", "1", "-2.5e3", "1e999", "TRUE", "false",
          "'2023-07-01'", "'2023-13-01'", "'OK'", "'ERROR'", "'('", "'[a-'", "`", "'", '"',
          ";", "--", "/*", "*/", "é", "中", "\x00", "\\", ".", "``", "\n", "'; DROP TABLE x"]
token_soup = st.one_of(st.lists(st.sampled_from(PIECES), max_size=25).map(" ".join),
                       st.lists(st.sampled_from(PIECES), max_size=25).map("".join))


def _parse_or_error(text: str) -> None:
    try:
        node = parse_filter(text)
    except FilterError as err:
        assert err.position is not None and 0 <= err.position <= len(text)
        assert "\n" not in str(err) and str(err).startswith("Invalid filter ")
        assert caret_view(err).count("\n") == 1
        return
    if node is not None:
        check_invariants(node)
        assert parse_filter(to_text(node)) == node


@FUZZ
@given(st.text())
def test_arbitrary_text_parses_or_raises_filter_error(text: str) -> None:
    _parse_or_error(text)


@FUZZ
@given(token_soup)
def test_token_soup_parses_or_raises_filter_error(text: str) -> None:
    _parse_or_error(text)


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 3000), st.sampled_from(["(", "NOT ", "((NOT ", "'", "`", "tags.x = '"]))
def test_deep_and_long_inputs(n: int, piece: str) -> None:
    _parse_or_error(piece * n + "tags.x = 'a'" + ")" * n)


@FUZZ
@given(st.lists(st.one_of(st.text(max_size=30), st.sampled_from(PIECES)), max_size=4))
def test_order_by_parses_or_raises_filter_error(items: list[str]) -> None:
    try:
        parse_order_by(items)
    except FilterError as err:
        assert err.position is None or err.position >= 0


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(filters(), st.lists(traces(), min_size=1, max_size=4))
def test_valid_filters_round_trip_and_evaluate(text: str, sample: list[Trace]) -> None:
    node = parse_filter(text)
    assert node is not None
    check_invariants(node)
    again = parse_filter(to_text(node))
    assert again == node
    negated = parse_filter(f"NOT ({text})")
    for trace in sample:
        result = matches(node, trace)
        assert isinstance(result, bool)
        assert matches(again, trace) is result
        assert matches(negated, trace) is (not result)


def _trace_level(text: str) -> bool:
    node = parse_filter(text)
    return node is not None and not any(c.on_span for c in comparisons(node))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(leaf_filters(), leaf_filters(), traces())
def test_and_or_compose(left: str, right: str, trace: Trace) -> None:
    a, b = matches(parse_filter(left), trace), matches(parse_filter(right), trace)
    assert matches(parse_filter(f"({left}) OR ({right})"), trace) is (a or b)
    if _trace_level(left) or _trace_level(right):  # span conditions share a span under AND
        assert matches(parse_filter(f"({left}) AND ({right})"), trace) is (a and b)
    else:
        both = matches(parse_filter(f"({left}) AND ({right})"), trace)
        assert both <= (a and b)  # one span satisfying both implies each alone


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(leaf_filters(), traces())
def test_comparisons_never_match_a_missing_field(text: str, trace: Trace) -> None:
    # Two-valued leaves: except IS NULL, a comparison implies its field is present
    # (on the same span, for span fields).
    node = parse_filter(text)
    leaf = next(comparisons(node))
    if leaf.op is Op.IS_NULL:
        return
    guarded = parse_filter(f"{text} AND {field_text(leaf.field)} IS NOT NULL")
    assert matches(guarded, trace) is matches(node, trace)
