"""parse_filter: identifiers and aliases, comparators, values, precedence, the same-span
grouping, validation, and error messages that point at the offending token."""

from __future__ import annotations

import pytest

from spanscope.exceptions import FilterError
from spanscope.query import (
    MAX_DEPTH,
    And,
    AnySpan,
    AssessmentValue,
    Attribute,
    AttributeName,
    CompareAs,
    Comparison,
    Field,
    Metadata,
    Node,
    Not,
    Op,
    Or,
    RootPayload,
    SpanAttribute,
    SpanProperty,
    SpanPropertyName,
    Tag,
    caret_view,
    parse_filter,
    to_text,
)
from spanscope.query.ast import check_invariants

A = AttributeName


def leaf(text: str) -> Comparison:
    """The single comparison of a one-condition filter (unwrapping AnySpan)."""
    node = parse_filter(text)
    assert node is not None
    check_invariants(node)
    if isinstance(node, AnySpan):
        node = node.condition
    assert isinstance(node, Comparison), node
    return node


def error(text: str) -> FilterError:
    with pytest.raises(FilterError) as info:
        parse_filter(text)
    err = info.value
    assert isinstance(err, ValueError)
    assert err.filter_string == text
    assert "\n" not in str(err)
    return err


# --- identifiers ----------------------------------------------------------------------

@pytest.mark.parametrize(("identifier", "field"), [
    ("attributes.status", Attribute(A.STATE)),
    ("attributes.state", Attribute(A.STATE)),
    ("attribute.status", Attribute(A.STATE)),
    ("trace.status", Attribute(A.STATE)),
    ("TRACE.State", Attribute(A.STATE)),
    ("status", Attribute(A.STATE)),  # MLflow's bare attribute names
    ("attributes.trace_id", Attribute(A.TRACE_ID)),
    ("attributes.request_id", Attribute(A.TRACE_ID)),
    ("request_id", Attribute(A.TRACE_ID)),
    ("tags.`mlflow.traceId`", Attribute(A.TRACE_ID)),
    ("tag.mlflow.traceId", Attribute(A.TRACE_ID)),
    ("attributes.name", Attribute(A.NAME)),
    ("attributes.client_request_id", Attribute(A.CLIENT_REQUEST_ID)),
    ("attributes.session_id", Attribute(A.SESSION_ID)),
    ("trace.user_id", Attribute(A.USER_ID)),
    ("tags.env", Tag("env")),
    ("tag.env", Tag("env")),
    ("TAGS.Env", Tag("Env")),  # prefixes in any case, keys exactly
    ("tags.`my key`", Tag("my key")),
    ('tags."a.b"', Tag("a.b")),
    ("tags.mlflow.traceName", Tag("mlflow.traceName")),
    ("tags.`mlflow.traceName`", Tag("mlflow.traceName")),
    ("tags.a.`b.c`", Tag("a.b.c")),
    ("tags.my-key", Tag("my-key")),
    ("tags.`odd``key`", Tag("odd`key")),
    ("metadata.team", Metadata("team")),
    ("request_metadata.team", Metadata("team")),
    ("metadata.`mlflow.trace.user`", Metadata("mlflow.trace.user")),
    ("metadata.`my key`", Metadata("my key")),
    ("inputs.question", RootPayload("inputs", ("question",))),
    ("inputs.messages.0.content", RootPayload("inputs", ("messages", 0, "content"))),
    ("inputs.`0`", RootPayload("inputs", ("0",))),
    ('inputs."a.b".c', RootPayload("inputs", ("a.b", "c"))),
    ("outputs.choices.0.message", RootPayload("outputs", ("choices", 0, "message"))),
    ("request", RootPayload("inputs")),
    ("response", RootPayload("outputs")),
    ("assessments.correctness.value", AssessmentValue("correctness")),
    ("assessment.`my.judge`.value", AssessmentValue("my.judge")),
    ("feedback.correctness", AssessmentValue("correctness", "feedback")),
    ("feedback.`tone of voice`", AssessmentValue("tone of voice", "feedback")),
    ("expectation.expected_response", AssessmentValue("expected_response", "expectation")),
    ("expectations.facts", AssessmentValue("facts", "expectation")),
])
def test_trace_identifiers(identifier: str, field: Field) -> None:
    value = "'OK'" if field == Attribute(A.STATE) else "'x'"
    node = leaf(f"{identifier} = {value}")
    assert node.field == field
    assert node.written == identifier


@pytest.mark.parametrize(("identifier", "field"), [
    ("attributes.timestamp_ms", Attribute(A.REQUEST_TIME)),
    ("attributes.timestamp", Attribute(A.REQUEST_TIME)),
    ("trace.timestamp", Attribute(A.REQUEST_TIME)),
    ("attributes.request_time", Attribute(A.REQUEST_TIME)),
    ("timestamp_ms", Attribute(A.REQUEST_TIME)),
    ("attributes.execution_time_ms", Attribute(A.EXECUTION_DURATION)),
    ("trace.execution_duration", Attribute(A.EXECUTION_DURATION)),
    ("execution_time", Attribute(A.EXECUTION_DURATION)),
    ("span.duration_ms", SpanProperty(SpanPropertyName.DURATION_MS)),
])
def test_numeric_identifiers(identifier: str, field: Field) -> None:
    node = leaf(f"{identifier} > 5")
    assert node.field == field and node.value == 5 and node.compare_as is CompareAs.NUMBER


@pytest.mark.parametrize(("identifier", "field"), [
    ("span.name", SpanProperty(SpanPropertyName.NAME)),
    ("span.type", SpanProperty(SpanPropertyName.TYPE)),
    ("span.span_type", SpanProperty(SpanPropertyName.TYPE)),
    ("span.attributes.model", SpanAttribute("model")),
    ("span.attributes.mlflow.spanType", SpanAttribute("mlflow.spanType")),
    ("span.attributes.`mlflow.spanType`", SpanAttribute("mlflow.spanType")),
    ("span.attributes.`my key`", SpanAttribute("my key")),
])
def test_span_identifiers_are_wrapped_in_any_span(identifier: str, field: Field) -> None:
    node = parse_filter(f"{identifier} = 'x'")
    assert isinstance(node, AnySpan) and isinstance(node.condition, Comparison)
    assert node.condition.field == field


@pytest.mark.parametrize(("text", "fragment", "position"), [
    ("foo.bar = 'x'", "unknown identifier 'foo.bar'; identifiers are attributes.NAME", 0),
    ("foo = 'x'", "unknown identifier 'foo'", 0),
    ("attributes.nope = 'x'", "unknown attribute 'attributes.nope'; attributes are", 11),
    ("attributes.end_time_ms > 5", "unknown attribute", 11),
    ("span.nope = 'x'", "unknown span field 'span.nope'", 5),
    ("span.attributes = 'x'", "'span.attributes' needs a span attribute key: "
                              "span.attributes.KEY", 0),
    ("tags = 'x'", "'tags' needs a key, e.g. tags.KEY", 0),
    ("tags.`` = 'x'", "has an empty tag key", 0),
    ("assessments.x = 1", "should be written assessments.NAME.value", 0),
    ("a.b AND c", "unknown identifier 'a.b'", 0),
])
def test_unknown_identifiers(text: str, fragment: str, position: int) -> None:
    err = error(text)
    assert fragment in str(err)
    assert err.position == position


def test_unknown_prefix_lists_the_valid_ones() -> None:
    message = str(error("colour.red = 'x'"))
    for prefix in ("attributes.", "tags.", "metadata.", "span.", "inputs.", "outputs.",
                   "request", "response", "assessments.", "feedback.", "expectation."):
        assert prefix in message


# --- comparators and values ----------------------------------------------------------

@pytest.mark.parametrize(("text", "op", "value", "compare_as"), [
    ("tags.x = 'a'", Op.EQ, "a", CompareAs.TEXT),
    ("tags.x == 'a'", Op.EQ, "a", CompareAs.TEXT),
    ("tags.x != 'a'", Op.NE, "a", CompareAs.TEXT),
    ("tags.x <> 'a'", Op.NE, "a", CompareAs.TEXT),
    ("tags.x LIKE 'a%'", Op.LIKE, "a%", CompareAs.TEXT),
    ("tags.x not like 'a%'", Op.NOT_LIKE, "a%", CompareAs.TEXT),
    ("tags.x ILIKE 'a%'", Op.ILIKE, "a%", CompareAs.TEXT),
    ("tags.x NOT ILIKE 'a%'", Op.NOT_ILIKE, "a%", CompareAs.TEXT),
    ("tags.x RLIKE '^a.*'", Op.RLIKE, "^a.*", CompareAs.TEXT),
    ("tags.x NOT RLIKE '^a'", Op.NOT_RLIKE, "^a", CompareAs.TEXT),
    ("tags.x CONTAINS 'a'", Op.CONTAINS, "a", CompareAs.TEXT),
    ("tags.x NOT CONTAINS 'a'", Op.NOT_CONTAINS, "a", CompareAs.TEXT),
    ("tags.x IN ('a', \"b\")", Op.IN, ("a", "b"), CompareAs.TEXT),
    ("tags.x NOT IN ('a')", Op.NOT_IN, ("a",), CompareAs.TEXT),
    ("tags.x IN (1, 2.5)", Op.IN, (1, 2.5), CompareAs.NUMBER),
    ("tags.x IS NULL", Op.IS_NULL, None, CompareAs.PRESENCE),
    ("tags.x is not null", Op.IS_NOT_NULL, None, CompareAs.PRESENCE),
    ("tags.x < 0.7", Op.LT, 0.7, CompareAs.NUMBER),
    ("tags.x <= -1", Op.LE, -1, CompareAs.NUMBER),
    ("tags.x > 1e3", Op.GT, 1000.0, CompareAs.NUMBER),
    ("tags.x >= '5'", Op.GE, 5, CompareAs.NUMBER),  # a numeric string with < > is a number
    ("tags.x = 5", Op.EQ, 5, CompareAs.NUMBER),
    ("tags.x = '5'", Op.EQ, "5", CompareAs.TEXT),  # ... but with = it stays text
    ("tags.x = TRUE", Op.EQ, True, CompareAs.BOOLEAN),
    ("tags.x != false", Op.NE, False, CompareAs.BOOLEAN),
    ("feedback.ok IN (true, false)", Op.IN, (True, False), CompareAs.BOOLEAN),
    ("attributes.state IN ('ok', 'Error')", Op.IN, ("OK", "ERROR"), CompareAs.TEXT),
    ("span.status = 'status_code_error'", Op.EQ, "ERROR", CompareAs.TEXT),
    ("span.status = 'unset'", Op.EQ, "UNSET", CompareAs.TEXT),
    ("attributes.execution_time_ms < '100'", Op.LT, 100, CompareAs.NUMBER),
    ("span.duration_ms IN (1, 2)", Op.IN, (1, 2), CompareAs.NUMBER),
])
def test_comparators_and_values(text: str, op: Op, value: object,
                                compare_as: CompareAs) -> None:
    node = leaf(text)
    assert (node.op, node.value, node.compare_as) == (op, value, compare_as)


@pytest.mark.parametrize(("value", "epoch_ms"), [
    ("'2023-07-01'", 1_688_169_600_000),
    ("'2023-07-01T00:00:00Z'", 1_688_169_600_000),
    ("'2023-07-01T00:00:00'", 1_688_169_600_000),  # naive is UTC
    ("'2023-07-01 00:00'", 1_688_169_600_000),
    ("'2023-07-01T02:00:00+02:00'", 1_688_169_600_000),
    ("'2023-06-30T19:00:00-0500'", 1_688_169_600_000),
    ("'2023-07-01T00:00:00.123Z'", 1_688_169_600_123),
    ("'2023-07-01T00:00:00.1239999Z'", 1_688_169_600_123),
    ("1688169600000", 1_688_169_600_000),
    ("'1688169600000'", 1_688_169_600_000),
    ("'1969-12-31'", -86_400_000),
])
def test_timestamps_become_epoch_ms(value: str, epoch_ms: int) -> None:
    node = leaf(f"trace.timestamp >= {value}")
    assert node.value == epoch_ms and node.compare_as is CompareAs.NUMBER


@pytest.mark.parametrize("value", ["'2023-13-01'", "'2023-02-30'", "'yesterday'", "'2023-07'",
                                   "'2023-07-01T24:00'", "'2023-07-01T12:00+25:00'", "TRUE",
                                   "'0000-01-01'"])
def test_bad_timestamps(value: str) -> None:
    err = error(f"trace.timestamp > {value}")
    assert err.position == len("trace.timestamp > ")
    assert ("not a valid time for trace.timestamp" in str(err)
            or "compares with numbers" in str(err))


@pytest.mark.parametrize(("text", "position", "fragment"), [
    ("attributes.state < 'OK'", 17, "'<' is not supported on attributes.state; use =, !=, IN"),
    ("attributes.state LIKE 'O%'", 17, "'LIKE' is not supported on attributes.state"),
    ("attributes.state = 'DONE'", 19,
     "unknown state 'DONE' for attributes.state; valid values are OK, ERROR, IN_PROGRESS"),
    ("attributes.state IN ('OK', 'nope')", 27, "unknown state 'nope'"),
    ("span.status = 'FAILED'", 14, "valid values are OK, ERROR, UNSET"),
    ("attributes.state = 1", 19, "unknown state 1"),
    ("attributes.name = 5", 18, "attributes.name holds text; write the value in quotes: '5'"),
    ("attributes.name < 'a'", 16, "'<' is not supported on attributes.name"),
    ("span.name LIKE 5", 15, "'LIKE' needs a string pattern, found number 5"),
    ("attributes.execution_time_ms > 'slow'", 31,
     "attributes.execution_time_ms compares with numbers (milliseconds), found string"),
    ("span.duration_ms LIKE '5%'", 17, "'LIKE' is not supported on span.duration_ms"),
    ("tags.x LIKE 5", 12, "'LIKE' needs a string pattern, found number 5"),
    ("tags.x < 'abc'", 9, "'<' compares numbers, found string 'abc'"),
    ("tags.x > TRUE", 7, "'>' does not apply to TRUE/FALSE"),
    ("tags.x CONTAINS TRUE", 7, "'CONTAINS' does not apply to TRUE/FALSE"),
    ("tags.x IN ('a', 1)", 16, "the IN list mixes string 'a' and number 1"),
    ("tags.x RLIKE '(unclosed'", 13, "invalid regular expression for RLIKE"),
    ("tags.x IN ()", 11, "IN needs at least one value"),
    ("tags.x NOT IN ()", 15, "NOT IN needs at least one value"),
    ("tags.x IN 'a'", 10, "expected '(' after IN, found string 'a'"),
    ("tags.x IN ('a' 'b')", 15, "expected ',' or ')' in the list, found string 'b'"),
    ("tags.x IN ('a',)", 15, "expected a value after ',', found ')'"),
    ("tags.x = NULL", 9, "NULL is not a value; test for a missing value with IS NULL"),
    ("tags.x IS 'a'", 10, "expected NULL or NOT NULL after IS"),
    ("tags.x NOT = 'a'", 11, "expected IN, LIKE, ILIKE, RLIKE or CONTAINS after NOT"),
    ("tags.x 'a'", 7, "expected a comparator (=, !=, <, <=, >, >=, LIKE"),
    ("tags.x", 6, "expected a comparator"),
    ("tags.env = ", 11, "expected a value after '=', found end of input"),
    ("tags.x = tags.y", 9, "expected a value after '=', found identifier 'tags.y'"),
])
def test_validation_errors(text: str, position: int, fragment: str) -> None:
    err = error(text)
    assert fragment in str(err), str(err)
    assert err.position == position


def test_error_message_format_quotes_filter_and_position() -> None:
    err = error("tags.env = ")
    assert str(err) == ('Invalid filter "tags.env = " at position 11: expected a value '
                        "after '=', found end of input")
    assert err.token is None
    assert caret_view(err) == "tags.env = \n           ^"
    err = error("attributes.state = 'DONE' AND tags.x = 'y'")
    assert err.token == "'DONE'"
    assert caret_view(err).splitlines()[1] == " " * 19 + "^" * 6


def test_long_filters_are_shown_around_the_error_on_one_line() -> None:
    text = "tags.a = 'x' AND " * 40 + "tags.b = = 'y' AND " + "tags.c = 'z' AND " * 40 + "x = 1"
    err = error(text)
    assert err.position == text.index("= = ") + 2
    message = str(err)
    assert len(message) < 400 and "…tags" in message and "tags.b = = 'y'" in message
    first, second = caret_view(err).splitlines()
    assert first[second.index("^"):].startswith("= 'y'")


def test_control_characters_do_not_break_the_one_line_message() -> None:
    err = error("tags.x = 'a'\nAND\ttags.y ~ 'b'")
    assert "\n" not in str(err) and err.position == 24
    first, second = caret_view(err).splitlines()
    assert first[second.index("^")] == "~"


@pytest.mark.parametrize("text", [None, "", "   ", "\n\t "])
def test_blank_filter_is_none(text: str | None) -> None:
    assert parse_filter(text) is None


def test_non_string_filter_is_a_filter_error() -> None:
    with pytest.raises(FilterError, match="must be a string, got int"):
        parse_filter(42)  # type: ignore[arg-type]


# --- structure: precedence, parentheses, NOT -----------------------------------------

def _tags(node: Node) -> object:
    """A compact picture of a tree of tag comparisons: ('and', 'a', ('or', 'b', 'c'))."""
    if isinstance(node, Comparison):
        assert isinstance(node.field, Tag)
        return node.field.key
    if isinstance(node, Not):
        return ("not", _tags(node.child))
    assert isinstance(node, (And, Or))
    return (type(node).__name__.lower(), *(_tags(c) for c in node.children))


@pytest.mark.parametrize(("text", "shape"), [
    ("tags.a = '1' OR tags.b = '1' AND tags.c = '1'", ("or", "a", ("and", "b", "c"))),
    ("tags.a = '1' AND tags.b = '1' OR tags.c = '1'", ("or", ("and", "a", "b"), "c")),
    ("(tags.a = '1' OR tags.b = '1') AND tags.c = '1'", ("and", ("or", "a", "b"), "c")),
    ("tags.a = '1' and tags.b = '1' and tags.c = '1'", ("and", "a", "b", "c")),
    ("tags.a = '1' OR tags.b = '1' OR tags.c = '1'", ("or", "a", "b", "c")),
    ("NOT tags.a = '1' AND tags.b = '1'", ("and", ("not", "a"), "b")),
    ("NOT (tags.a = '1' AND tags.b = '1')", ("not", ("and", "a", "b"))),
    ("NOT NOT tags.a = '1'", ("not", ("not", "a"))),
    ("tags.a = '1' AND NOT tags.b = '1' OR tags.c = '1'",
     ("or", ("and", "a", ("not", "b")), "c")),
    ("((tags.a = '1'))", "a"),
    ("(tags.a = '1' AND tags.b = '1') AND tags.c = '1'", ("and", ("and", "a", "b"), "c")),
])
def test_precedence(text: str, shape: object) -> None:
    node = parse_filter(text)
    assert node is not None
    assert _tags(node) == shape


@pytest.mark.parametrize(("text", "position", "fragment"), [
    ("(tags.a = '1'", 0, "'(' is never closed"),
    ("tags.a = '1')", 12, "unbalanced ')'"),
    ("tags.a = '1' tags.b = '1'", 13, "expected AND, OR or the end of the filter"),
    ("tags.a = '1' AND", 16, "expected a condition such as tags.env = 'prod'"),
    ("AND tags.a = '1'", 0, "expected a condition"),
    ("()", 1, "expected a condition"),
    ("NOT", 3, "expected a condition"),
    ("(tags.a = '1' tags.b = '1')", 14, "expected ')' or AND/OR"),
    ("'prod' = tags.env", 0, "expected a condition such as tags.env = 'prod'"),
])
def test_structural_errors(text: str, position: int, fragment: str) -> None:
    err = error(text)
    assert fragment in str(err) and err.position == position


def test_nesting_depth_is_limited_with_a_clear_error() -> None:
    ok = "(" * MAX_DEPTH + "tags.a = '1'" + ")" * MAX_DEPTH
    assert parse_filter(ok) == parse_filter("tags.a = '1'")
    err = error("(" * (MAX_DEPTH + 1) + "tags.a = '1'" + ")" * (MAX_DEPTH + 1))
    assert f"more than {MAX_DEPTH} levels deep" in str(err) and err.position == MAX_DEPTH
    err = error("NOT " * (MAX_DEPTH + 1) + "tags.a = '1'")
    assert "levels deep" in str(err)
    assert "levels deep" in str(error("(" * 100_000))


def test_long_flat_chains_parse() -> None:
    node = parse_filter(" OR ".join(f"tags.k{i} = 'v'" for i in range(5000)))
    assert isinstance(node, Or) and len(node.children) == 5000


# --- the same-span grouping ----------------------------------------------------------

def _span_shape(node: Node) -> object:
    """('any', ...) for AnySpan, span fields by name, tags as 't:KEY'."""
    if isinstance(node, AnySpan):
        return ("any", _span_shape(node.condition))
    if isinstance(node, Comparison):
        if isinstance(node.field, Tag):
            return f"t:{node.field.key}"
        assert isinstance(node.field, SpanProperty)
        return f"{node.field.name}={node.value}"
    if isinstance(node, Not):
        return ("not", _span_shape(node.child))
    assert isinstance(node, (And, Or))
    return (type(node).__name__.lower(), *(_span_shape(c) for c in node.children))


@pytest.mark.parametrize(("text", "shape"), [
    ("span.name = 'a'", ("any", "name=a")),
    ("span.name = 'a' AND span.span_type = 'LLM'", ("any", ("and", "name=a", "span_type=LLM"))),
    ("span.name = 'a' OR span.name = 'b'", ("any", ("or", "name=a", "name=b"))),
    # span conditions of one AND chain share a span, wherever they stand in it
    ("span.name = 'a' AND tags.x = '1' AND span.type = 'LLM'",
     ("and", ("any", ("and", "name=a", "span_type=LLM")), "t:x")),
    ("tags.x = '1' AND span.name = 'a'", ("and", "t:x", ("any", "name=a"))),
    # a parenthesised span-only group joins the chain's span condition
    ("(span.type = 'LLM' OR span.type = 'TOOL') AND span.name = 'a'",
     ("any", ("and", ("or", "span_type=LLM", "span_type=TOOL"), "name=a"))),
    ("(span.name = 'a' AND span.name = 'b') AND span.name = 'c'",
     ("any", ("and", "name=a", "name=b", "name=c"))),
    ("span.name = 'a' OR tags.x = '1' OR span.name = 'b'",
     ("or", ("any", ("or", "name=a", "name=b")), "t:x")),
    # NOT is trace-level: no span matches
    ("NOT span.status = 'ERROR'", ("not", ("any", "status=ERROR"))),
    ("NOT (span.type = 'LLM' AND span.status = 'ERROR')",
     ("not", ("any", ("and", "span_type=LLM", "status=ERROR")))),
    ("span.type = 'LLM' AND NOT span.status = 'ERROR'",
     ("and", ("any", "span_type=LLM"), ("not", ("any", "status=ERROR")))),
    # a group mixing span and trace conditions keeps its span conditions to itself
    ("(span.name = 'a' AND tags.x = '1') AND span.name = 'b'",
     ("and", ("and", ("any", "name=a"), "t:x"), ("any", "name=b"))),
    ("span.name = 'a' AND (tags.x = '1' OR span.name = 'b')",
     ("and", ("any", "name=a"), ("or", "t:x", ("any", "name=b")))),
])
def test_same_span_grouping(text: str, shape: object) -> None:
    node = parse_filter(text)
    assert node is not None
    check_invariants(node)
    assert _span_shape(node) == shape


# --- canonical text --------------------------------------------------------------------

@pytest.mark.parametrize(("text", "canonical"), [
    ("status = 'ok'", "attributes.state = 'OK'"),
    ("tag.`a.b` = \"it's\"", "tags.`a.b` = 'it''s'"),
    ("trace.timestamp > '2023-07-01'", "attributes.request_time > 1688169600000"),
    ("tags.x = 'line\\nbreak' AND tags.y LIKE '50\\%'",
     "tags.x = 'line\\nbreak' AND tags.y LIKE '50\\\\%'"),
    ("inputs.`0`.a = 1", "inputs.`0`.a = 1"),
    ("feedback.ok = true", "feedback.ok = TRUE"),
    ("span.type = 'LLM' AND tags.x = '1' AND span.name = 'a'",
     "(span.type = 'LLM' AND span.name = 'a') AND tags.x = '1'"),
    ("NOT (tags.a = '1' OR tags.b IS NULL)", "NOT (tags.a = '1' OR tags.b IS NULL)"),
])
def test_to_text_is_canonical_and_round_trips(text: str, canonical: str) -> None:
    node = parse_filter(text)
    assert to_text(node) == canonical
    assert parse_filter(canonical) == node
    assert to_text(None) == ""
